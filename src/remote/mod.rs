//! The server side fixed from anywhere, through Arc Run Command: small reviewed
//! scripts (bash on Linux, PowerShell on Windows) per check and per fix, whose
//! text the plan shows; each run is PUT, followed to its end through
//! `Azure-AsyncOperation`, read from `instanceView`, then deleted.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::azure::api;
use crate::azure::client::Arm;
use crate::error::{Error, Result};

/// A script verb and its text for each OS.
pub struct Script {
    pub verb: &'static str,
    pub linux: &'static str,
    pub windows: &'static str,
}

/// A script of `scripts/linux/<verb>.sh` and `scripts/windows/<verb>.ps1`:
/// the file names are the verb, so the two can never drift apart.
macro_rules! script {
    ($verb:literal) => {
        Script {
            verb: $verb,
            linux: include_str!(concat!("scripts/linux/", $verb, ".sh")),
            windows: include_str!(concat!("scripts/windows/", $verb, ".ps1")),
        }
    };
}

pub const PROBE: Script = script!("probe");
pub const INSTALL_SSHD: Script = script!("install-sshd");
pub const START_SSHD: Script = script!("start-sshd");
pub const AGENT_ENABLE: Script = script!("agent-enable");
pub const AGENT_PORT: Script = script!("agent-port");
pub const RESTART_HIMDS: Script = script!("restart-himds");

#[cfg(test)]
const ALL: [&Script; 6] = [
    &PROBE,
    &INSTALL_SSHD,
    &START_SSHD,
    &AGENT_ENABLE,
    &AGENT_PORT,
    &RESTART_HIMDS,
];

impl Script {
    /// The script text for this OS with its parameters filled in.
    pub fn render(&self, windows: bool, port: u16) -> String {
        let text = if windows { self.windows } else { self.linux };
        text.replace("{{PORT}}", &port.to_string())
    }
}

/// How long one run command may take: 10 minutes, or
/// `ARCFIX_RUN_COMMAND_TIMEOUT` seconds.
pub fn time_limit() -> Duration {
    std::env::var("ARCFIX_RUN_COMMAND_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(600))
}

/// What a run command reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub state: String,
    pub exit_code: Option<i64>,
    pub output: String,
    pub error: String,
}

impl RunResult {
    pub fn succeeded(&self) -> bool {
        self.state.eq_ignore_ascii_case("Succeeded") && self.exit_code.unwrap_or(0) == 0
    }
}

/// Runs `script` on the machine and returns what it reported. Bounded by `limit`.
pub async fn run(
    view: &dyn crate::progress::Progress,
    arm: &Arm,
    machine: &str,
    location: &str,
    verb: &str,
    script: &str,
    limit: Duration,
) -> Result<RunResult> {
    let name = format!(
        "arcfix-{verb}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let path = format!("{machine}/runCommands/{name}");
    let body = json!({
        "location": location,
        "properties": {
            "source": {"script": script},
            "asyncExecution": false,
            "timeoutInSeconds": limit.as_secs(),
        }
    });
    let waiting = view.waiting(&format!(
        "running '{verb}' on {} through Run Command",
        machine.rsplit('/').next().unwrap_or(machine)
    ));
    // The read-only probe stops on Ctrl-C (a fix script runs to its end: a
    // half-made change helps nobody); its resource is deleted either way.
    let result = if verb == PROBE.verb {
        tokio::select! {
            r = follow(arm, &path, &body, limit) => r,
            _ = crate::interrupt::raised() => Err(Error::Other(format!(
                "interrupted (Ctrl-C) while the '{verb}' script ran"
            ))),
        }
    } else {
        follow(arm, &path, &body, limit).await
    };
    drop(waiting);
    // The run command resource is removed whatever happened; a failed delete is only logged.
    if let Err(e) = arm.send("DELETE", &path, api::HYBRID_COMPUTE, None).await {
        tracing::warn!("could not delete run command {name}: {e}");
    }
    result
}

async fn follow(
    arm: &Arm,
    path: &str,
    body: &serde_json::Value,
    limit: Duration,
) -> Result<RunResult> {
    let started = Instant::now();
    let created = arm
        .send("PUT", path, api::HYBRID_COMPUTE, Some(body))
        .await?;
    if let Some(op) = created.header("azure-asyncoperation").map(String::from) {
        let mut wait = Duration::from_millis(500);
        loop {
            let status = arm.get(&op, "").await?;
            let state = status.body["status"]
                .as_str()
                .unwrap_or("InProgress")
                .to_string();
            if ["Succeeded", "Failed", "Canceled"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&state))
            {
                break;
            }
            if started.elapsed() + wait > limit {
                return Err(Error::TimedOut {
                    what: "the run command".into(),
                    limit,
                });
            }
            let hint = crate::azure::client::retry_after(&status.headers).unwrap_or(wait);
            tokio::time::sleep(hint.min(Duration::from_secs(10))).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }
    // Without an operation to follow (a 200, or only `Location`), the run
    // command itself is polled until its execution ends.
    let mut wait = Duration::from_millis(500);
    let got = loop {
        let got = arm.get(path, api::HYBRID_COMPUTE).await?;
        let state = got.body["properties"]["instanceView"]["executionState"]
            .as_str()
            .unwrap_or("Unknown");
        let provisioning = got.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("");
        let provisioning_done = ["Succeeded", "Failed", "Canceled"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(provisioning));
        let running = ["Pending", "Running"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(state))
            || (state.eq_ignore_ascii_case("Unknown") && !provisioning_done);
        if !running {
            break got;
        }
        if started.elapsed() + wait > limit {
            return Err(Error::TimedOut {
                what: "the run command".into(),
                limit,
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    };
    let view = &got.body["properties"]["instanceView"];
    Ok(RunResult {
        state: view["executionState"]
            .as_str()
            .unwrap_or("Unknown")
            .to_string(),
        exit_code: view["exitCode"].as_i64(),
        output: view["output"].as_str().unwrap_or_default().to_string(),
        error: view["error"].as_str().unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_names_its_verb_and_fills_the_port() {
        for s in ALL {
            for windows in [false, true] {
                let text = s.render(windows, 2222);
                assert!(
                    text.contains(&format!("# arcfix: {}", s.verb)),
                    "{} {windows}",
                    s.verb
                );
                assert!(
                    !text.contains("{{"),
                    "{} {windows}: unfilled parameter",
                    s.verb
                );
            }
        }
        assert!(PROBE.render(false, 2222).contains("PORT=2222"));
        assert!(
            AGENT_PORT
                .render(true, 2222)
                .contains("# arcfix: agent-port 2222")
        );
    }
}

#[cfg(test)]
mod sim_tests {
    use super::*;
    use crate::azure::auth::{StaticToken, Tokens};
    use crate::azure::client::{Arm, RetryPolicy};
    use crate::sim::{Scenario, Sim};

    #[tokio::test]
    async fn the_probe_runs_through_the_simulated_run_command() {
        let sim = Sim::start(Scenario::builtin("healthy").unwrap())
            .await
            .unwrap();
        let arm = Arm::new(
            url::Url::parse(&sim.base_url()).unwrap(),
            Tokens::new(Box::new(StaticToken(sim.caller_token())), "s"),
            RetryPolicy::default(),
        )
        .unwrap();
        let id = sim.scenario().machine_ids()[0].clone();
        let r = run(
            &crate::progress::Quiet,
            &arm,
            &id,
            "westeurope",
            "probe",
            &PROBE.render(false, 22),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        eprintln!("{r:?}");
        let f = crate::probe::server::ServerFacts::parse(&r.output);
        assert!(r.succeeded(), "{r:?}");
        assert!(f.sshd_installed && f.banner_ok(), "{f:?}");
        let log = sim.requests();
        assert!(
            log.iter().any(|q| q.method == "DELETE"),
            "the run command is deleted"
        );
        sim.shutdown().await;
    }
}
