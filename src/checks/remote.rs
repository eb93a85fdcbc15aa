//! The server side of a machine reached through Arc Run Command. Nothing runs
//! on the server during check or plan: each step's precondition is the probe
//! script, run when applying (its result is reused until a fix runs there).

use crate::azure::rbac::{self, Permission};
use crate::checks::{Report, StepSpec, finding};
use crate::plan::{Action, Check, FixKind, Remote, ServerFact};
use crate::remote::{self, Script};
use crate::target::MachineId;

const RUN_COMMAND_WRITE: &str = "Microsoft.HybridCompute/machines/runCommands/write";

pub fn plan(
    id: &MachineId,
    remote: &Remote,
    connected: bool,
    perms: Option<&[Permission]>,
    port: u16,
    restart_agent: bool,
    agent_ports: Option<&[String]>,
) -> Report {
    let mut r = Report::default();
    let target = id.to_string();
    let name = id.name.to_ascii_lowercase();
    let allowed = perms.is_some_and(|p| rbac::allows(p, RUN_COMMAND_WRITE));
    if !connected {
        r.note(format!("{}: the server side cannot be reached through Run Command while the agent is disconnected", id.name));
        return r;
    }
    if !allowed {
        r.finding(finding(
            "run-command-permission-missing",
            &target,
            format!("you may not {RUN_COMMAND_WRITE} on {}: the server side cannot be checked or fixed remotely", id.name),
            FixKind::Manual,
        ));
    }
    r.note(format!(
        "{}: the server side is probed through Run Command only when applying (script '{}'); check and plan run nothing there",
        id.name,
        remote::PROBE.verb
    ));
    let steps: [(&str, &Script, ServerFact, &str, Vec<String>); 4] = [
        (
            "install-openssh-server",
            &remote::INSTALL_SSHD,
            ServerFact::SshdInstalled,
            "Install the OpenSSH server, if the probe finds it missing",
            vec![],
        ),
        (
            "start-sshd",
            &remote::START_SSHD,
            ServerFact::SshAnswers,
            "Enable and start the SSH service, if nothing answers SSH on the port",
            vec![format!("remote-install-openssh-server-{name}")],
        ),
        (
            "agent-allow-incoming",
            &remote::AGENT_ENABLE,
            ServerFact::AgentIncomingEnabled,
            "Let the Arc agent accept incoming connections, if it refuses them",
            vec![],
        ),
        (
            "agent-allow-port",
            &remote::AGENT_PORT,
            ServerFact::AgentPortAllowed,
            "Add the port to the Arc agent's incoming ports (keeping the others), if they are restricted without it",
            vec![],
        ),
    ];
    // ARM shows the agent's incomingconnections.ports (agentConfiguration): that
    // part needs no probe. Unrestricted or including the port: nothing to do.
    let ports: Option<Vec<u16>> = agent_ports.map(|p| {
        p.iter()
            .filter_map(|s| s.trim().parse::<u16>().ok())
            .collect()
    });
    if let Some(ports) = &ports
        && !ports.is_empty()
        && !ports.contains(&port)
    {
        r.finding(finding(
            "sshd-not-running",
            &target,
            format!("the Arc agent of {} allows incoming connections on ports {ports:?} only, not {port} (agentConfiguration in Azure)", id.name),
            if allowed { FixKind::Auto } else { FixKind::Manual },
        ));
    }
    let port_known_fine = ports
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.contains(&port));
    for (step, script, fact, description, depends_on) in steps {
        if fact == ServerFact::AgentPortAllowed && port_known_fine {
            continue;
        }
        let text = script.render(remote.windows, port);
        r.step(StepSpec {
            id: format!("remote-{step}-{name}"),
            fixes: vec!["sshd-not-running".into()],
            target: target.clone(),
            description: format!("{description} (port {port}), on {} through Run Command", id.name),
            command: if allowed {
                format!(
                    "az connectedmachine run-command create --machine-name {} --resource-group {} --name arcfix-{} --location {} --script @{}",
                    id.name,
                    id.resource_group,
                    script.verb,
                    remote.location,
                    if remote.windows { format!("{}.ps1", script.verb) } else { format!("{}.sh", script.verb) }
                )
            } else {
                // Without Run Command rights, what to type on the server itself.
                format!("on {}: {}", id.name, by_hand(fact, remote.windows, port))
            },
            automatic: allowed,
            needs: vec![RUN_COMMAND_WRITE.into(), "connected agent".into()],
            precondition: format!("the probe script reports {}", fact_failing(fact, port)),
            verification: format!("the probe script no longer reports {}", fact_failing(fact, port)),
            depends_on,
            check: Check::Server { machine: Some(remote.clone()), fact, port },
            action: if allowed { Action::RunCommand { machine: remote.clone(), verb: script.verb.into(), script: text } } else { Action::Manual },
        });
    }
    if restart_agent && allowed {
        r.step(StepSpec {
            id: format!("restart-hybrid-agent-{name}"),
            fixes: vec!["rp-not-registered".into()],
            target: target.clone(),
            description: format!("Restart the hybrid agent on {} through Run Command so it picks up the registration", id.name),
            command: if remote.windows { "Restart-Service himds".into() } else { "sudo systemctl restart himdsd".into() },
            automatic: true,
            needs: vec![RUN_COMMAND_WRITE.into(), "connected agent".into()],
            precondition: "the provider registration step succeeded".into(),
            verification: "a probe afterwards reports a new start time of the agent (else the step is unconfirmed)".into(),
            depends_on: vec!["register-hybridconnectivity".into()],
            check: Check::Restarted,
            action: Action::RunCommand { machine: remote.clone(), verb: remote::RESTART_HIMDS.verb.into(), script: remote::RESTART_HIMDS.render(remote.windows, port) },
        });
    }
    r
}

/// The command a person runs on the server for each fix.
fn by_hand(fact: ServerFact, windows: bool, port: u16) -> String {
    match (fact, windows) {
        (ServerFact::SshdInstalled, false) => {
            "sudo apt-get install -y openssh-server  (dnf/zypper: openssh-server)".into()
        }
        (ServerFact::SshdInstalled, true) => {
            "Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0".into()
        }
        (ServerFact::SshAnswers, false) => {
            "sudo systemctl enable --now ssh  (sshd outside Debian/Ubuntu)".into()
        }
        (ServerFact::SshAnswers, true) => {
            "Set-Service -Name sshd -StartupType Automatic; Start-Service sshd".into()
        }
        (ServerFact::AgentIncomingEnabled, false) => {
            "sudo azcmagent config set incomingconnections.enabled true".into()
        }
        (ServerFact::AgentIncomingEnabled, true) => {
            "azcmagent config set incomingconnections.enabled true".into()
        }
        (ServerFact::AgentPortAllowed, w) => format!(
            "{}azcmagent config set incomingconnections.ports <ports already set>,{port}",
            if w { "" } else { "sudo " }
        ),
    }
}

fn fact_failing(fact: ServerFact, port: u16) -> String {
    match fact {
        ServerFact::SshdInstalled => "no OpenSSH server".into(),
        ServerFact::SshAnswers => format!("no SSH banner on 127.0.0.1:{port}"),
        ServerFact::AgentIncomingEnabled => "incomingconnections.enabled false".into(),
        ServerFact::AgentPortAllowed => format!("incomingconnections.ports without {port}"),
    }
}
