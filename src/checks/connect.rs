//! `--connect`: relay credentials from `listCredentials` (the shortest
//! validity, only with the right to call it), then the real ssh through the
//! proxy on this machine. Never creates the endpoint or service configuration.

use std::time::{Duration, Instant};

use crate::azure::client::Arm;
use crate::azure::{HYBRID_CONNECTIVITY, api};
use crate::error::Error;
use crate::os::Host;
use crate::plan::Connection;
use crate::probe::binaries;
use crate::probe::connect::{self, ProxyChoice, Relay, Stage};
use crate::problem;
use crate::target::MachineId;

pub const LIST_CREDENTIALS: &str = "Microsoft.HybridConnectivity/endpoints/listCredentials/action";

/// What the probe of one machine came to.
#[derive(Debug)]
pub enum Probe {
    Tried(Connection),
    /// It could not be tried; `error` when a read failed rather than a
    /// prerequisite being absent.
    NotPossible {
        reason: String,
        error: bool,
    },
}

/// What the probe needs to know.
pub struct ProbeArgs<'a> {
    pub host: &'a Host,
    pub ssh_client_folder: Option<&'a std::path::Path>,
    pub port: u16,
    /// Whether the caller may call listCredentials (`None`: unknown).
    pub may_list_credentials: Option<bool>,
    /// The SSH service configuration was read in this run and is on the port.
    pub config_verified: bool,
    /// How long to keep retrying "404 Endpoint does not exist" (a new service
    /// configuration takes up to about two minutes to reach the relay).
    pub settle: Duration,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// The probe's time limit: `ARCFIX_CONNECT_TIMEOUT` seconds, 20 by default.
pub fn time_limit() -> Duration {
    std::env::var("ARCFIX_CONNECT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| (1..=600).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(20))
}

/// Tries the SSH path to one machine.
pub async fn probe(arm: &Arm, id: &MachineId, a: &ProbeArgs<'_>) -> Probe {
    match tried(arm, id, a).await {
        Probe::Tried(c) => Probe::Tried(Connection {
            port: Some(a.port),
            ..c
        }),
        other => other,
    }
}

/// The probe, its connection not yet labelled with the port it tried.
async fn tried(arm: &Arm, id: &MachineId, a: &ProbeArgs<'_>) -> Probe {
    // The user asked for the probe: one that could not run is not a verdict
    // (the run exits 1 after the report), whatever the reason.
    let not_possible = failed_to_run;
    match a.may_list_credentials {
        Some(true) => {}
        Some(false) => {
            return not_possible(format!(
                "you may not get relay credentials for {} ({LIST_CREDENTIALS}; see login-role-missing)",
                id.name
            ));
        }
        None => {
            return not_possible(format!(
                "your permissions on {} could not be read, so relay credentials were not asked for",
                id.name
            ));
        }
    }
    let lookup = binaries::lookup(a.host, a.ssh_client_folder);
    let Some(ssh) = lookup
        .found
        .iter()
        .find(|(n, _)| n == "ssh")
        .and_then(|(_, p)| p.clone())
    else {
        return not_possible("ssh is not installed here (see client-binaries-missing)".into());
    };
    let proxy = match connect::find_proxy(a.host) {
        ProxyChoice::Ready(p) => p,
        ProxyChoice::NotExecutable(p) => {
            return failed(
                id,
                Stage::Proxy,
                format!("the proxy {} is not executable by you", p.display()),
                problem::PROXY_NOT_EXECUTABLE,
            );
        }
        ProxyChoice::Missing => {
            return not_possible(
                "no Arc SSH proxy on this machine, and arcfix never downloads one: run `az ssh arc` once, or `Install-Module Az.Ssh.ArcProxy -Scope CurrentUser`".into(),
            );
        }
    };
    let command = match connect::proxy_command(&proxy, a.port) {
        Ok(c) => c,
        Err(why) => return not_possible(why),
    };
    let started = Instant::now();
    let mut wait = Duration::from_secs(5).mul_f64(crate::azure::client::retry_scale());
    loop {
        let outcome = attempt(arm, id, &ssh, &command, a).await;
        let propagating = matches!(&outcome, Probe::Tried(c)
            if !c.ok && c.evidence.contains("404 Endpoint does not exist"));
        if !propagating || started.elapsed() + wait > a.settle {
            return outcome;
        }
        (a.progress)(&format!(
            "{}: the SSH service configuration has not reached the relay yet; trying again in {} s",
            id.name,
            wait.as_secs_f64().round()
        ));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::interrupt::raised() => return outcome,
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// One try of the SSH path: relay credentials, then ssh through the proxy,
/// its output classified.
async fn attempt(
    arm: &Arm,
    id: &MachineId,
    ssh: &std::path::Path,
    proxy_command: &str,
    a: &ProbeArgs<'_>,
) -> Probe {
    let relay = match relay_credentials(arm, id).await {
        Ok(r) => r,
        Err(probe) => return probe,
    };
    let ran = match ssh_through_proxy(id, ssh, proxy_command, a, &relay).await {
        Ok(r) => r,
        Err(probe) => return probe,
    };
    let mut probe = classified(id, &ran, &relay, a.config_verified);
    if let Probe::Tried(c) = &mut probe
        && before_the_relay_answered(c)
    {
        check_relay_path(arm, id, &relay, a, c).await;
    }
    probe
}

/// A failure before any answer from the relay or the server: the proxy's
/// words point to the network (relay-blocked), or to nothing known, and
/// carry no answer of Azure Relay's (its errors have a `TrackingId`).
fn before_the_relay_answered(c: &Connection) -> bool {
    !c.ok
        && c.banner.is_none()
        && matches!(c.stage, Stage::Relay | Stage::Proxy)
        && matches!(
            c.problem.as_deref(),
            Some(problem::RELAY_BLOCKED | problem::SSH_CONNECTION_FAILED)
        )
        && !c.evidence.contains("TrackingId")
}

/// Checks the relay path step by step (`probe::relay_path`) and puts what it
/// found in the connection's verdict: a failed step is `relay-blocked` with
/// the step and host; every step passing is said too. Relay credentials from
/// an ARM endpoint on loopback (the simulator) name no real relay: no name
/// of theirs is looked up, except in test builds that point them at a local
/// relay (`ARCFIX_TEST_RELAY_ADDR`).
async fn check_relay_path(
    arm: &Arm,
    id: &MachineId,
    relay: &Relay,
    a: &ProbeArgs<'_>,
    c: &mut Connection,
) {
    use crate::probe::relay_path;
    let settings = relay_path::Settings::new(step_limit());
    if settings.resolve == relay_path::Resolve::System
        && crate::azure::client::is_loopback(arm.base())
    {
        tracing::debug!(
            "relay path not checked: the relay credentials came from a local ARM endpoint"
        );
        return;
    }
    let target = match relay_path::relay_host(
        relay.field("namespaceName").unwrap_or_default(),
        relay.field("namespaceNameSuffix").unwrap_or_default(),
        relay.field("hybridConnectionName").unwrap_or_default(),
    ) {
        Ok(t) => t,
        Err(why) => {
            c.evidence = format!("{}; the relay path was not checked: {why}", c.evidence);
            return;
        }
    };
    (a.progress)(&format!(
        "{}: checking the path to the relay {} step by step",
        id.name, target.host
    ));
    let host = a.host;
    let route = match relay_path::route(&target.host, &|n| host.var(n).map(String::from)) {
        Ok(r) => r,
        Err(relay_path::NoRoute::Malformed(why)) => {
            c.problem = Some(problem::RELAY_BLOCKED.into());
            c.stage = Stage::Relay;
            c.evidence = format!("proxy: {why}; the Arc proxy said: {}", c.evidence);
            return;
        }
        Err(relay_path::NoRoute::Unsupported(why)) => {
            c.evidence = format!("{}; the relay path was not checked: {why}", c.evidence);
            return;
        }
    };
    let report = relay_path::diagnose(&target, &route, &settings).await;
    tracing::debug!("relay path check took {} ms", report.elapsed.as_millis());
    let said = connect::redact(&report.evidence, &relay.secrets());
    match report.failed {
        Some(_) => {
            c.problem = Some(problem::RELAY_BLOCKED.into());
            c.stage = Stage::Relay;
            c.evidence = format!("{said}; the Arc proxy said: {}", c.evidence);
        }
        None => {
            // The network is not what stopped it: what did is not known.
            if c.problem.as_deref() == Some(problem::RELAY_BLOCKED) {
                c.problem = Some(problem::SSH_CONNECTION_FAILED.into());
            }
            c.evidence = format!("{}; {said}", c.evidence);
        }
    }
}

/// Each step of the relay path check: a quarter of the probe's time limit,
/// between 1 and 5 seconds.
pub fn step_limit() -> Duration {
    (time_limit() / 4).clamp(Duration::from_secs(1), crate::probe::relay_path::STEP_LIMIT)
}

/// A probe that could not run because of an error.
fn failed_to_run(reason: String) -> Probe {
    Probe::NotPossible {
        reason,
        error: true,
    }
}

/// A probe that failed at `stage` with `problem`.
fn failed(id: &MachineId, stage: Stage, evidence: String, problem: &str) -> Probe {
    Probe::Tried(Connection {
        target: crate::plan::Target::Machine(id.clone()),
        ok: false,
        banner: None,
        stage,
        evidence,
        problem: Some(problem.into()),
        port: None,
    })
}

/// Asks `listCredentials` for the relay credentials of the machine's default
/// endpoint; a refusal becomes the probe's verdict.
async fn relay_credentials(arm: &Arm, id: &MachineId) -> Result<Relay, Probe> {
    // The shortest validity the API allows; nothing is created on the way.
    let path = id.child(&format!(
        "/providers/{HYBRID_CONNECTIVITY}/endpoints/default/listCredentials?expiresin=600"
    ));
    let body = serde_json::json!({"serviceName": "SSH"});
    match arm
        .send("POST", &path, api::HYBRID_CONNECTIVITY, Some(&body))
        .await
    {
        Ok(answer) => Relay::from_answer(&answer.body).map_err(|e| failed_to_run(e.to_string())),
        // 412: the endpoint has no SSH service configuration (az ssh arc would
        // create one here; arcfix only reports it).
        Err(e) if e.status == 412 => Err(failed(
            id,
            Stage::Credentials,
            format!("{} has no SSH service configuration: {e}", id.name),
            problem::SSH_PORT_NOT_ENABLED,
        )),
        Err(e) if e.status == 404 => Err(failed(
            id,
            Stage::Credentials,
            format!("{} has no default connectivity endpoint: {e}", id.name),
            problem::SSH_PORT_NOT_ENABLED,
        )),
        Err(e) if e.status == 403 => Err(failed(
            id,
            Stage::Credentials,
            e.to_string(),
            problem::LOGIN_ROLE_MISSING,
        )),
        Err(e) if crate::checks::azure::is_unregistered(&e) => Err(failed(
            id,
            Stage::Credentials,
            e.to_string(),
            problem::RP_NOT_REGISTERED,
        )),
        Err(e) => Err(failed_to_run(format!(
            "could not get relay credentials: {e}"
        ))),
    }
}

/// A private temporary folder for one probe's known-hosts file.
fn private_folder() -> Result<tempfile::TempDir, Probe> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("arcfix-probe-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir().map_err(|e| {
        failed_to_run(Error::io("cannot make a private temporary folder", e).to_string())
    })
}

/// Runs ssh through the proxy with the relay credentials, within the time limit.
async fn ssh_through_proxy(
    id: &MachineId,
    ssh: &std::path::Path,
    proxy_command: &str,
    a: &ProbeArgs<'_>,
    relay: &Relay,
) -> Result<connect::Ran, Probe> {
    // The known-hosts file of one probe: this user's alone, and removed on
    // every way out, Ctrl-C included.
    let folder = private_folder()?;
    let args = connect::ssh_args(
        &folder.path().join("known_hosts"),
        proxy_command,
        time_limit(),
        &id.name.to_ascii_lowercase(),
    );
    let limit = time_limit() + Duration::from_secs(5);
    let held = crate::interrupt::Hold::folder(folder.path().to_path_buf());
    let ran = connect::run_ssh(a.host, ssh, &args, &relay.encoded(), limit).await;
    drop(held);
    drop(folder);
    ran.map_err(|e| failed_to_run(e.to_string()))
}

/// What ssh's output says about the path, with the relay's secrets redacted.
fn classified(id: &MachineId, ran: &connect::Ran, relay: &Relay, config_verified: bool) -> Probe {
    let secrets = relay.secrets();
    let ruled_out: &[&str] = if config_verified {
        &[problem::SSH_PORT_NOT_ENABLED]
    } else {
        &[]
    };
    let mut outcome = connect::classify(
        &connect::redact(&ran.output, &secrets),
        ran.timed_out,
        ruled_out,
    );
    outcome.evidence = crate::text::one_line(&connect::redact(&outcome.evidence, &secrets));
    Probe::Tried(Connection {
        target: crate::plan::Target::Machine(id.clone()),
        ok: outcome.ok,
        banner: outcome.banner,
        stage: outcome.stage,
        evidence: outcome.evidence,
        problem: outcome.problem,
        port: None,
    })
}

/// A manual step for a problem only the probe saw: what the catalogue says to do.
pub fn manual_step(id: &MachineId, problem: &str, port: u16) -> crate::checks::StepSpec {
    let entry = crate::catalogue::get(problem);
    let (command, description) = match problem {
        problem::SSHD_NOT_RUNNING => (
            if port == 22 {
                format!("arcfix apply --checks server --remote --id \"{id}\"")
            } else {
                format!("arcfix apply --checks server --remote --port {port} --id \"{id}\"")
            },
            format!(
                "Start sshd on {} and let the Arc agent accept the port (on the server as root, or from here with --remote)",
                id.name
            ),
        ),
        _ => (
            entry
                .and_then(|p| p.commands.first().cloned())
                .unwrap_or_else(|| format!("arcfix explain {problem}")),
            entry
                .map(|p| format!("{} ({})", p.title, id.name))
                .unwrap_or_else(|| {
                    format!(
                        "Read the probe's evidence and run `arcfix explain` on the full ssh output for {}",
                        id.name
                    )
                }),
        ),
    };
    crate::checks::StepSpec {
        kind: crate::plan::StepKind::Connection(problem.to_string()),
        fixes: vec![problem.to_string()],
        target: crate::plan::Target::Machine(id.clone()),
        description,
        command,
        ..crate::checks::StepSpec::manual()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(problem: &str, stage: Stage, evidence: &str) -> Connection {
        Connection {
            target: crate::plan::Target::Machine(
                MachineId::parse(
                    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01",
                )
                .unwrap(),
            ),
            ok: false,
            banner: None,
            stage,
            evidence: evidence.into(),
            problem: Some(problem.into()),
            port: None,
        }
    }

    #[test]
    fn the_path_is_checked_only_before_any_answer_of_the_relay() {
        let blocked =
            "sshproxy: error connecting to the address: dial tcp 20.42.1.7:443: i/o timeout";
        assert!(before_the_relay_answered(&tried(
            problem::RELAY_BLOCKED,
            Stage::Relay,
            blocked
        )));
        assert!(before_the_relay_answered(&tried(
            problem::SSH_CONNECTION_FAILED,
            Stage::Proxy,
            "no answer within the time limit; ssh ended without a message"
        )));
        // The relay answered (its TrackingId), or the failure is known and further on.
        assert!(!before_the_relay_answered(&tried(
            problem::SSH_CONNECTION_FAILED,
            Stage::Relay,
            "sshproxy: 401 Unauthorized TrackingId:abc_G1. websocket: bad handshake"
        )));
        for (p, stage) in [
            (problem::AGENT_DISCONNECTED, Stage::Relay),
            (problem::SSHD_NOT_RUNNING, Stage::Server),
            (problem::SSH_PORT_NOT_ENABLED, Stage::Credentials),
            (problem::PROXY_NOT_EXECUTABLE, Stage::Proxy),
        ] {
            assert!(!before_the_relay_answered(&tried(p, stage, blocked)), "{p}");
        }
        let mut banner = tried(problem::SSH_CONNECTION_FAILED, Stage::Server, blocked);
        banner.banner = Some("SSH-2.0-OpenSSH_9.2".into());
        assert!(!before_the_relay_answered(&banner));
    }
}
