//! The server-side problems, on the Arc-enabled server itself: sshd not
//! installed, not running or not answering on the port, and the Connected
//! Machine agent not allowing incoming connections on it.

use crate::checks::{Report, StepSpec, finding};
use crate::os::{Host, Os, PackageManager};
use crate::plan::{Action, FixKind, Goal, ServerFact, ServerFix, StepKind, Target};
use crate::probe::server::ServerFacts;
use crate::problem;

/// The program and arguments of a server fix here, and how a person types it.
fn exec(host: &Host, program: &str, args: &[&str]) -> (Action, String) {
    let typed = host.as_admin(&format!("{program} {}", args.join(" ")));
    let action = Action::Exec {
        program: program.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
    };
    (
        if host.privileged {
            action
        } else {
            Action::Manual
        },
        typed,
    )
}

fn powershell(host: &Host, command: &str) -> (Action, String) {
    let (action, _) = exec(
        host,
        "powershell",
        &["-NoProfile", "-NonInteractive", "-Command", command],
    );
    (action, command.to_string())
}

/// What the agent's `incomingconnections.enabled` false shows.
pub const INCOMING_DISABLED: &str =
    "the Arc agent refuses incoming connections (incomingconnections.enabled is false)";

/// Why nothing answers SSH on the port, when nothing does: the evidence of
/// `sshd-not-running`, here or through the remote probe.
pub fn sshd_problem(f: &ServerFacts, port: u16) -> Option<String> {
    if f.banner_ok() {
        return None;
    }
    let why = if !f.sshd_installed {
        "the OpenSSH server is not installed".to_string()
    } else if !f.sshd_active {
        format!("the {} service is not active", f.sshd_unit)
    } else {
        format!("the {} service is active but does not answer", f.sshd_unit)
    };
    Some(format!(
        "nothing answers SSH on 127.0.0.1:{port} ({why}{})",
        f.banner
            .as_ref()
            .map(|b| format!("; it sent '{b}'"))
            .unwrap_or_default()
    ))
}

/// Why the agent's ports are not known to allow `port`, when they are not.
pub fn port_problem(f: &ServerFacts, port: u16) -> Option<String> {
    if f.port_allowed(port) {
        None
    } else if f.incoming_ports_unreadable {
        Some(format!(
            "azcmagent config get incomingconnections.ports failed or printed something other than ports: port {port} is not known to be allowed"
        ))
    } else {
        Some(format!(
            "the Arc agent allows incoming connections on ports {:?} only, not {port}",
            f.incoming_ports
        ))
    }
}

/// What the server side decides from: this machine and what its probe saw.
pub struct Here<'a> {
    pub host: &'a Host,
    pub facts: &'a ServerFacts,
}

impl Here<'_> {
    fn admin(&self) -> &'static str {
        if self.host.os == Os::Windows {
            "administrator"
        } else {
            "root"
        }
    }
    fn fix(&self) -> FixKind {
        if self.host.privileged {
            FixKind::Auto
        } else {
            FixKind::Manual
        }
    }
}

/// One known problem of the server: its catalogue id and the function that
/// looks for it (several look at different causes of `sshd-not-running`).
pub type Check = fn(&Here, u16, &mut Report);

/// Every server-side check, in the order findings and steps are reported.
pub const CHECKS: &[(&str, Check)] = &[
    (problem::SSHD_NOT_RUNNING, sshd_not_answering),
    (problem::AGENT_DISCONNECTED, agent_disconnected),
    (problem::SSHD_NOT_RUNNING, agent_incoming_disabled),
    (problem::SSHD_NOT_RUNNING, agent_port_not_allowed),
];

pub fn assess(host: &Host, f: &ServerFacts, port: u16) -> Report {
    let mut r = Report::default();
    r.observe(format!("server {f:?}"));
    let here = Here { host, facts: f };
    for (_, check) in CHECKS {
        check(&here, port, &mut r);
    }
    r
}

/// Nothing answers SSH on the port: install the server when it is missing, then start it.
fn sshd_not_answering(h: &Here, port: u16, r: &mut Report) {
    let (host, f) = (h.host, h.facts);
    let Some(evidence) = sshd_problem(f, port) else {
        return;
    };
    let auto = host.privileged;
    let mut deps = Vec::new();
    r.finding(finding(
        problem::SSHD_NOT_RUNNING,
        &Target::Local,
        evidence,
        h.fix(),
    ));
    if !f.sshd_installed {
        let (action, command) = match host.os {
            Os::Windows => powershell(
                host,
                "Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0",
            ),
            // The package manager the probe saw (no second look at this machine).
            _ => match f
                .package_manager
                .as_deref()
                .and_then(PackageManager::from_program)
            {
                Some(pm) => {
                    let args = pm.install_args(pm.ssh_server_package());
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    exec(host, pm.program(), &refs)
                }
                None => (
                    Action::Manual,
                    "install the openssh-server package".to_string(),
                ),
            },
        };
        r.step(StepSpec {
            kind: StepKind::Server(ServerFix::InstallOpensshServer),
            fixes: vec![problem::SSHD_NOT_RUNNING.into()],
            target: Target::Local,
            description: "Install the OpenSSH server".into(),
            command,
            automatic: auto,
            undo: Some(undo(
                ServerFix::InstallOpensshServer,
                f,
                host.os == Os::Windows,
            )),
            needs: vec![h.admin().into()],
            precondition: "the OpenSSH server is not installed".into(),
            verification: "sshd is installed".into(),
            after: vec![],
            goal: Goal::Server {
                machine: None,
                fact: ServerFact::SshdInstalled,
                port,
            },
            action,
        });
        deps.push(StepKind::Server(ServerFix::InstallOpensshServer));
    }
    let (action, command) = match host.os {
        Os::Windows => powershell(
            host,
            "Set-Service -Name sshd -StartupType Automatic; Start-Service sshd",
        ),
        _ => exec(
            host,
            "systemctl",
            &["enable", "--now", &format!("{}.service", f.sshd_unit)],
        ),
    };
    r.step(StepSpec {
        kind: StepKind::Server(ServerFix::StartSshd),
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target: Target::Local,
        description: format!(
            "Enable and start the {} service so it answers on port {port}",
            f.sshd_unit
        ),
        command,
        automatic: auto,
        undo: Some(undo(ServerFix::StartSshd, f, host.os == Os::Windows)),
        needs: vec![h.admin().into()],
        precondition: format!("nothing answers SSH on 127.0.0.1:{port}"),
        verification: format!("127.0.0.1:{port} sends an SSH-2.0 banner"),
        after: deps,
        goal: Goal::Server {
            machine: None,
            fact: ServerFact::SshAnswers,
            port,
        },
        action,
    });
}

/// `azcmagent show` reports the agent other than Connected.
fn agent_disconnected(h: &Here, _port: u16, r: &mut Report) {
    let (host, f) = (h.host, h.facts);
    let Some(status) = f.agent_status.as_ref().filter(|_| f.agent_installed) else {
        return;
    };
    if status.eq_ignore_ascii_case("Connected") {
        return;
    }
    r.finding(finding(
        problem::AGENT_DISCONNECTED,
        &Target::Local,
        format!("azcmagent show reports the agent {status}"),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::RestartAgentHere,
        fixes: vec![problem::AGENT_DISCONNECTED.into()],
        target: Target::Local,
        description: "Restart the Connected Machine agent; if it stays disconnected, reconnect it (azcmagent connect)".into(),
        command: if host.os == Os::Windows { "Restart-Service himds".into() } else { host.as_admin("systemctl restart himdsd") },
        ..StepSpec::manual()
    });
}

/// The agent refuses incoming connections altogether.
fn agent_incoming_disabled(h: &Here, port: u16, r: &mut Report) {
    let (host, f) = (h.host, h.facts);
    if !f.agent_installed || f.incoming_enabled != Some(false) {
        return;
    }
    let (action, command) = exec(
        host,
        "azcmagent",
        &["config", "set", "incomingconnections.enabled", "true"],
    );
    r.finding(finding(
        problem::SSHD_NOT_RUNNING,
        &Target::Local,
        INCOMING_DISABLED,
        h.fix(),
    ));
    r.step(StepSpec {
        kind: StepKind::Server(ServerFix::AgentAllowIncoming),
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target: Target::Local,
        description: "Let the Arc agent accept incoming connections".into(),
        command,
        automatic: host.privileged,
        undo: Some(undo(
            ServerFix::AgentAllowIncoming,
            f,
            host.os == Os::Windows,
        )),
        needs: vec![h.admin().into()],
        precondition: "incomingconnections.enabled is false".into(),
        verification: "azcmagent config get incomingconnections.enabled is true".into(),
        after: vec![],
        goal: Goal::Server {
            machine: None,
            fact: ServerFact::AgentIncomingEnabled,
            port,
        },
        action,
    });
}

/// The agent's incoming ports are not known to include the SSH port.
fn agent_port_not_allowed(h: &Here, port: u16, r: &mut Report) {
    let (host, f) = (h.host, h.facts);
    if !f.agent_installed || f.port_allowed(port) {
        return;
    }
    // What a person types; the step itself reads the list again right
    // before writing it (Action::AddAgentPort).
    let list = if f.incoming_ports_unreadable {
        format!("<ports already set>,{port}")
    } else {
        let ports = f.incoming_ports.iter().map(|p| p.to_string());
        ports
            .chain([port.to_string()])
            .collect::<Vec<_>>()
            .join(",")
    };
    let (action, command) = exec(
        host,
        "azcmagent",
        &["config", "set", "incomingconnections.ports", &list],
    );
    let action = if action == Action::Manual {
        action
    } else {
        Action::AddAgentPort { port }
    };
    let keeping = if f.incoming_ports_unreadable {
        "the ports already set".to_string()
    } else {
        format!("{:?}", f.incoming_ports)
    };
    let evidence = port_problem(f, port).unwrap_or_default();
    r.finding(finding(
        problem::SSHD_NOT_RUNNING,
        &Target::Local,
        evidence,
        h.fix(),
    ));
    r.step(StepSpec {
        kind: StepKind::Server(ServerFix::AgentAllowPort),
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target: Target::Local,
        description: format!(
            "Add port {port} to the Arc agent's incoming ports, keeping {keeping} (read again right before the change, and checked after it)"
        ),
        command,
        automatic: host.privileged,
        undo: Some(undo(ServerFix::AgentAllowPort, f, host.os == Os::Windows)),
        needs: vec![h.admin().into()],
        precondition: format!("incomingconnections.ports lacks {port}"),
        verification: format!(
            "azcmagent config get incomingconnections.ports includes {port} and every port allowed before"
        ),
        after: vec![],
        goal: Goal::Server {
            machine: None,
            fact: ServerFact::AgentPortAllowed,
            port,
        },
        action,
    });
}

/// A restart changes no setting.
pub const NO_UNDO_FOR_A_RESTART: &str = "none needed: a restart changes no setting";

/// How to put back what a server fix changes, with what was there before,
/// on this machine or through Run Command.
pub fn undo(fix: ServerFix, f: &ServerFacts, windows: bool) -> String {
    let admin = if windows { "" } else { "sudo " };
    match fix {
        ServerFix::InstallOpensshServer if windows => {
            "Remove-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0 (it was not installed before)".into()
        }
        ServerFix::InstallOpensshServer => {
            "remove the openssh-server package with the system's package manager (it was not installed before)".into()
        }
        ServerFix::StartSshd if windows => "Stop-Service sshd; Set-Service sshd -StartupType Manual".into(),
        ServerFix::StartSshd => {
            let unit = if f.sshd_unit.is_empty() { "ssh" } else { f.sshd_unit.as_str() };
            format!("sudo systemctl disable --now {}", crate::shell::posix(unit))
        }
        ServerFix::AgentAllowIncoming => {
            format!("{admin}azcmagent config set incomingconnections.enabled false")
        }
        ServerFix::AgentAllowPort if f.incoming_ports_unreadable => format!(
            "{admin}azcmagent config set incomingconnections.ports <the list before, which could not be read>"
        ),
        ServerFix::AgentAllowPort if f.incoming_ports.is_empty() => {
            format!("{admin}azcmagent config clear incomingconnections.ports")
        }
        ServerFix::AgentAllowPort => format!(
            "{admin}azcmagent config set incomingconnections.ports {}",
            f.incoming_ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// On the server as root/administrator, the article's "restart the hybrid
/// agent" after registering the provider becomes an automatic step.
pub fn automate_agent_restart(host: &Host, facts: &ServerFacts, r: &mut crate::checks::Report) {
    // Only this machine's own agent, and only as root/administrator.
    let Some(me) = facts.agent_resource_name.as_deref() else {
        return;
    };
    if !host.privileged {
        return;
    }
    for s in r.steps.iter_mut().filter(|s| {
        s.kind == StepKind::RestartAgent
            && s.target
                .machine()
                .is_some_and(|m| m.name.eq_ignore_ascii_case(me))
    }) {
        let (program, args): (&str, Vec<&str>) = match host.os {
            Os::Windows => (
                "powershell",
                vec![
                    "-NoProfile",
                    "-NonInteractive",
                    "-Command",
                    "Restart-Service himds",
                ],
            ),
            _ => ("systemctl", vec!["restart", "himdsd.service"]),
        };
        s.automatic = true;
        s.action = Action::Exec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.goal = Goal::Restarted;
        s.undo = Some(NO_UNDO_FOR_A_RESTART.into());
        s.precondition = "the provider registration step succeeded".into();
        s.verification = "the restart command succeeded".into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each server fix's undo puts back what the probe saw before it.
    #[test]
    fn a_server_fix_is_undone_with_what_was_there_before() {
        let ports = |list: &str| ServerFacts {
            sshd_unit: "sshd".into(),
            incoming_ports: crate::probe::server::parse_port_list(list).unwrap_or_default(),
            ..ServerFacts::default()
        };
        let f = ports("22,8000-8010");
        assert_eq!(
            undo(ServerFix::AgentAllowPort, &f, false),
            "sudo azcmagent config set incomingconnections.ports 22,8000-8010"
        );
        assert_eq!(
            undo(ServerFix::AgentAllowPort, &ports(""), true),
            "azcmagent config clear incomingconnections.ports"
        );
        let unread = ServerFacts {
            incoming_ports_unreadable: true,
            ..f.clone()
        };
        assert!(undo(ServerFix::AgentAllowPort, &unread, false).contains("could not be read"));
        assert_eq!(
            undo(ServerFix::StartSshd, &f, false),
            "sudo systemctl disable --now sshd"
        );
        // A unit name the probe reported is quoted before it reaches a command.
        let odd = ServerFacts {
            sshd_unit: "ssh; rm -rf /".into(),
            ..f
        };
        assert_eq!(
            undo(ServerFix::StartSshd, &odd, false),
            "sudo systemctl disable --now 'ssh; rm -rf /'"
        );
    }
    use crate::os::Arch;
    use std::path::PathBuf;

    fn host(os: Os, privileged: bool, path: &std::path::Path) -> Host {
        Host {
            os,
            arch: Arch::Amd64,
            home: PathBuf::from("/nonexistent"),
            vars: [("PATH".to_string(), path.display().to_string())]
                .into_iter()
                .collect(),
            privileged,
            uid: 0,
        }
    }

    fn missing_sshd(unit: &str) -> ServerFacts {
        ServerFacts {
            sshd_unit: unit.into(),
            package_manager: Some("dnf".into()),
            agent_installed: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_server_is_installed_then_started_per_os() {
        let t = tempfile::tempdir().unwrap();
        let r = assess(&host(Os::Linux, true, t.path()), &missing_sshd("sshd"), 22);
        let ids: Vec<&str> = r.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["install-openssh-server", "start-sshd"]);
        assert_eq!(
            r.steps[0].action,
            Action::Exec {
                program: "dnf".into(),
                args: vec!["install".into(), "-y".into(), "openssh-server".into()]
            }
        );
        assert_eq!(r.steps[1].command, "systemctl enable --now sshd.service");
        assert_eq!(r.steps[1].depends_on, ["install-openssh-server"]);
        let none_seen = ServerFacts {
            package_manager: None,
            ..missing_sshd("sshd")
        };
        let r = assess(&host(Os::Linux, true, t.path()), &none_seen, 22);
        assert_eq!(r.steps[0].action, Action::Manual);
        assert_eq!(r.steps[0].command, "install the openssh-server package");

        let r = assess(&host(Os::Linux, false, t.path()), &missing_sshd("ssh"), 22);
        assert!(
            r.steps
                .iter()
                .all(|s| !s.automatic && s.command.starts_with("sudo ")),
            "{:?}",
            r.steps
        );

        let r = assess(
            &host(Os::Windows, true, t.path()),
            &missing_sshd("sshd"),
            22,
        );
        assert_eq!(
            r.steps[0].command,
            "Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0"
        );
        assert_eq!(
            r.steps[1].command,
            "Set-Service -Name sshd -StartupType Automatic; Start-Service sshd"
        );
        assert!(
            matches!(&r.steps[0].action, Action::Exec { program, .. } if program == "powershell")
        );
    }

    #[test]
    fn a_disconnected_agent_is_reported() {
        let t = tempfile::tempdir().unwrap();
        let f = ServerFacts {
            banner: Some("SSH-2.0-OpenSSH_9.2".into()),
            agent_installed: true,
            agent_status: Some("Disconnected".into()),
            ..Default::default()
        };
        let r = assess(&host(Os::Linux, true, t.path()), &f, 22);
        assert_eq!(
            r.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["agent-disconnected"]
        );
    }

    fn healthy() -> ServerFacts {
        ServerFacts {
            sshd_installed: true,
            sshd_unit: "ssh".into(),
            sshd_active: true,
            banner: Some("SSH-2.0-OpenSSH_9.2".into()),
            agent_installed: true,
            agent_status: Some("Connected".into()),
            incoming_enabled: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn each_agent_setting_is_its_own_check() {
        let t = tempfile::tempdir().unwrap();
        let ports = ServerFacts::parse("incoming_ports=443,8080-8090\n").incoming_ports;
        // facts, port, the check that fires (None: none), its step, automatic as root
        type Case = (ServerFacts, u16, Option<Check>, &'static str);
        let cases: Vec<Case> = vec![
            (healthy(), 22, None, ""),
            (
                ServerFacts {
                    incoming_enabled: Some(false),
                    ..healthy()
                },
                22,
                Some(agent_incoming_disabled),
                "agent-allow-incoming",
            ),
            (
                ServerFacts {
                    incoming_ports: ports.clone(),
                    ..healthy()
                },
                22,
                Some(agent_port_not_allowed),
                "agent-allow-port",
            ),
            (
                ServerFacts {
                    incoming_ports: ports.clone(),
                    ..healthy()
                },
                8085,
                None,
                "",
            ),
            (
                ServerFacts {
                    incoming_ports_unreadable: true,
                    ..healthy()
                },
                22,
                Some(agent_port_not_allowed),
                "agent-allow-port",
            ),
            (
                ServerFacts {
                    agent_installed: false,
                    incoming_enabled: Some(false),
                    ..healthy()
                },
                22,
                None,
                "",
            ),
            (
                ServerFacts {
                    sshd_active: false,
                    banner: None,
                    ..healthy()
                },
                22,
                Some(sshd_not_answering),
                "start-sshd",
            ),
        ];
        for (facts, port, fires, step) in cases {
            for privileged in [false, true] {
                let host = host(Os::Linux, privileged, t.path());
                let here = Here {
                    host: &host,
                    facts: &facts,
                };
                for (name, check) in CHECKS {
                    let mut r = Report::default();
                    check(&here, port, &mut r);
                    let this = fires.is_some_and(|c| c as usize == *check as usize);
                    assert_eq!(!r.findings.is_empty(), this, "{name} {facts:?} {port}");
                    if this {
                        assert_eq!(r.findings[0].id, *name);
                        assert_eq!(r.steps[0].id, step);
                        assert_eq!(r.steps[0].automatic, privileged, "{step}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_server_problem_is_in_the_catalogue_on_the_server_side() {
        for (name, _) in CHECKS {
            let p = crate::catalogue::get(name).unwrap();
            assert!(
                matches!(
                    p.side,
                    crate::catalogue::Area::Server | crate::catalogue::Area::Azure
                ),
                "{name}"
            );
        }
    }
}
