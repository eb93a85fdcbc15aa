//! The server side of a machine reached through Arc Run Command (`--remote`).
//! `--remote` is the user's opt-in to the read-only `probe` script: check,
//! plan and apply run it once per machine (its answer is cached in the
//! `Context` and reused by every server-side check and step of the run; a
//! fix script drops it) and report what it saw. Fix scripts run only in an
//! approved apply.

use crate::azure::rbac::{self, Permission};
use crate::checks::{Context, Report, Side, StepSpec, finding, server};
use crate::plan::{
    Action, FixKind, Goal, NotChecked, Part, Remote, ServerFact, ServerFix, StepKind, Target,
};
use crate::probe::server::ServerFacts;
use crate::problem;
use crate::remote::{self, Script};
use crate::target::MachineId;

const RUN_COMMAND_WRITE: &str = "Microsoft.HybridCompute/machines/runCommands/write";

/// What Azure told about the machine, for its remote server check.
pub struct Machine<'a> {
    pub id: &'a MachineId,
    pub remote: Remote,
    /// The agent's status in Azure (`Connected`, `Disconnected`, `Expired`).
    pub status: &'a str,
    /// The caller's permissions on the machine, when they could be read.
    pub perms: Option<&'a [Permission]>,
    /// Whether the agent must be restarted after the provider registration.
    pub restart_agent: bool,
    /// The agent's configuration as Azure shows it (its extension rules
    /// decide whether the OpenSSH server may come by extension).
    pub agent: Option<&'a crate::azure::models::AgentConfiguration>,
}

impl Machine<'_> {
    /// The agent was seen in monitor mode, which refuses Run Command.
    fn monitor(&self) -> bool {
        self.agent
            .is_some_and(crate::azure::models::AgentConfiguration::monitor_mode)
    }
}

/// Whether the probe can run there: the agent connected, and the right to
/// run commands not known to be missing (ARM's answer decides otherwise).
pub fn can_probe(m: &Machine<'_>) -> bool {
    m.status.eq_ignore_ascii_case("Connected")
        && !m.monitor()
        && m.perms.is_none_or(|p| rbac::allows(p, RUN_COMMAND_WRITE))
}

/// Probes the server through Run Command, when that is possible, and turns
/// what the probe saw into findings and steps. When it is not possible the
/// server side is not checked, saying why.
/// `probed`: the probe's answer when it already ran (to learn sshd's port).
pub async fn check(
    ctx: &Context,
    m: &Machine<'_>,
    port: u16,
    probed: Option<crate::error::Result<ServerFacts>>,
) -> Report {
    let mut r = Report::default();
    let id = m.id;
    let target = id.to_string();
    if !m.status.eq_ignore_ascii_case("Connected") {
        // Not an error: the azure side reports the disconnected agent.
        r.unread.push(NotChecked {
            side: Part::Server,
            reason: format!(
                "{}: the agent is {}, so the probe cannot run there through Run Command",
                id.name, m.status
            ),
            error: false,
        });
        return r;
    }
    if m.monitor() {
        // The azure side reports the mode and its manual step.
        r.unread.push(NotChecked {
            side: Part::Server,
            reason: format!(
                "{}: the agent is in monitor mode, which refuses Run Command, so the probe cannot run there: run arcfix check on the server itself",
                id.name
            ),
            error: false,
        });
        return r;
    }
    if m.perms.is_some_and(|p| !rbac::allows(p, RUN_COMMAND_WRITE)) {
        not_allowed(&mut r, m);
        return r;
    }
    // With unknown permissions the probe is tried: ARM's answer decides.
    r.note(format!(
        "{}: the server side was read by the read-only '{}' script, which arcfix runs there through a Run Command resource it creates (arcfix-{}-…) and deletes right afterwards; fix scripts run there only in an approved apply",
        id.name,
        remote::PROBE.verb,
        remote::PROBE.verb
    ));
    let facts = match probed {
        Some(facts) => facts,
        None => crate::checks::remote_facts(ctx, &m.remote, port).await,
    };
    match facts {
        Ok(facts) => {
            r.observe(format!("{target} server {facts:?}"));
            r.merge(assess(m, &facts, port));
        }
        Err(e) => r.unread(
            Side::Server,
            format!("{}: {}", id.name, crate::text::one_line(&e.to_string())),
        ),
    }
    r
}

/// Without the right to run commands there: a finding, a manual step, and
/// the server side not checked. (What Azure itself shows of the agent's
/// ports is an Azure-side check.)
fn not_allowed(r: &mut Report, m: &Machine<'_>) {
    let id = m.id;
    let target = Target::Machine(id.clone());
    r.finding(finding(
        problem::RUN_COMMAND_PERMISSION_MISSING,
        &target,
        format!(
            "you may not {RUN_COMMAND_WRITE} on {}: the server side cannot be checked or fixed remotely",
            id.name
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::CheckServer,
        fixes: vec![problem::RUN_COMMAND_PERMISSION_MISSING.into()],
        target: target.clone(),
        description: format!(
            "Check sshd and the Arc agent on {} yourself, or get the right to run commands there (Azure Connected Machine Resource Administrator) and use --remote again",
            id.name
        ),
        command: format!(
            "on {}: {}; azcmagent config list",
            id.name,
            if m.remote.windows {
                "Get-Service sshd"
            } else {
                "systemctl status ssh sshd"
            }
        ),
        needs: vec![if m.remote.windows {
            "administrator on the server"
        } else {
            "a shell on the server"
        }
        .into()],
        ..StepSpec::manual()
    });
    r.unread.push(NotChecked {
        side: Part::Server,
        reason: format!(
            "{}: you may not run commands there (runCommands/write), so the probe cannot run: run arcfix check on the server itself",
            id.name
        ),
        error: false,
    });
}

/// Findings and steps from what the probe saw: a step only for what is wrong.
/// The probe ran through Run Command, so the fixes can too.
fn assess(m: &Machine<'_>, f: &ServerFacts, port: u16) -> Report {
    let mut r = Report::default();
    let target = Target::Machine(m.id.clone());
    let (evidence, mut repairs) = repairs(f, port);
    let by_extension = openssh_by_extension(m, f, &mut repairs);
    for evidence in evidence {
        r.finding(finding(
            problem::SSHD_NOT_RUNNING,
            &target,
            format!("probe on {} through Run Command: {evidence}", m.id.name),
            FixKind::Auto,
        ));
    }
    if let Some(step) = by_extension {
        r.step(step);
    }
    for repair in repairs {
        r.step(repair_step(m, f, port, repair));
    }
    if m.restart_agent {
        r.step(restart_agent_step(m, port));
    }
    r
}

/// One fix the server needs, by a script run through Run Command.
struct Repair {
    fix: ServerFix,
    script: &'static Script,
    /// The probe's fact the fix makes true.
    fact: ServerFact,
    description: &'static str,
    /// The steps this one comes after.
    after: Vec<StepKind>,
}

/// What the probe saw wrong on the server: the evidence of each finding, and
/// the fixes in the order they run.
fn repairs(f: &ServerFacts, port: u16) -> (Vec<String>, Vec<Repair>) {
    let mut evidence = Vec::new();
    let mut wrong = Vec::new();
    if let Some(why) = server::sshd_problem(f, port) {
        evidence.push(why);
        let mut after = vec![];
        if !f.sshd_installed {
            wrong.push(Repair {
                fix: ServerFix::InstallOpensshServer,
                script: &remote::INSTALL_SSHD,
                fact: ServerFact::SshdInstalled,
                description: "Install the OpenSSH server",
                after: vec![],
            });
            after.push(StepKind::Remote(ServerFix::InstallOpensshServer));
        }
        wrong.push(Repair {
            fix: ServerFix::StartSshd,
            script: &remote::START_SSHD,
            fact: ServerFact::SshAnswers,
            description: "Enable and start the SSH service",
            after,
        });
    }
    if f.incoming_enabled == Some(false) {
        evidence.push(server::INCOMING_DISABLED.to_string());
        wrong.push(Repair {
            fix: ServerFix::AgentAllowIncoming,
            script: &remote::AGENT_ENABLE,
            fact: ServerFact::AgentIncomingEnabled,
            description: "Let the Arc agent accept incoming connections",
            after: vec![],
        });
    }
    if let Some(why) = server::port_problem(f, port) {
        evidence.push(why);
        wrong.push(Repair {
            fix: ServerFix::AgentAllowPort,
            script: &remote::AGENT_PORT,
            fact: ServerFact::AgentPortAllowed,
            description: "Add the port to the Arc agent's incoming ports, keeping the others (read again right before the change)",
            after: vec![],
        });
    }
    (evidence, wrong)
}

/// The automatic step that runs one repair's script through Run Command.
fn repair_step(m: &Machine<'_>, f: &ServerFacts, port: u16, repair: Repair) -> StepSpec {
    let Repair {
        fix,
        script,
        fact,
        description,
        after,
    } = repair;
    let (id, remote) = (m.id, &m.remote);
    StepSpec {
        kind: StepKind::Remote(fix),
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target: Target::Machine(id.clone()),
        description: format!(
            "{description} (port {port}), on {} through Run Command",
            id.name
        ),
        command: run_command_line(id, remote, script),
        automatic: true,
        undo: Some(format!(
            "on {}: {}",
            id.name,
            server::undo(fix, f, remote.windows)
        )),
        needs: vec![RUN_COMMAND_WRITE.into(), "connected agent".into()],
        precondition: format!("the probe script reports {}", fact_failing(fact, port)),
        verification: format!(
            "the probe script no longer reports {}",
            fact_failing(fact, port)
        ),
        after,
        goal: Goal::Server {
            machine: Some(remote.clone()),
            fact,
            port,
        },
        action: Action::RunCommand {
            machine: remote.clone(),
            verb: script.verb.into(),
            script: script.render(remote.windows, port),
        },
    }
}

/// Microsoft's extension that installs and starts the OpenSSH server on
/// Windows (its Arc article: `az connectedmachine extension create --name
/// WindowsOpenSSH --type WindowsOpenSSH --publisher Microsoft.Azure.OpenSSH
/// --type-handler-version 3.0.1.0`).
pub const OPENSSH_PUBLISHER: &str = "Microsoft.Azure.OpenSSH";
pub const OPENSSH_TYPE: &str = "WindowsOpenSSH";
const OPENSSH_VERSION: &str = "3.0.1.0";
const EXTENSION_WRITE: &str = "Microsoft.HybridCompute/machines/extensions/write";

/// A Windows server without OpenSSH gets it from Microsoft's WindowsOpenSSH
/// extension, when Azure shows an agent that installs it (extension manager
/// on, its allow and block lists seen and admitting it, not in monitor mode)
/// and the caller may write extensions: the install script's repair is
/// replaced by this step, which the start comes after. Otherwise (a list
/// unread, refusing it, or no right) the Run Command script stays.
fn openssh_by_extension(
    m: &Machine<'_>,
    f: &ServerFacts,
    repairs: &mut Vec<Repair>,
) -> Option<StepSpec> {
    let install = StepKind::Remote(ServerFix::InstallOpensshServer);
    let admits = crate::checks::azure::met::ExtensionRules::of(m.agent)
        .installs(OPENSSH_PUBLISHER, OPENSSH_TYPE);
    let may = m.perms.is_some_and(|p| rbac::allows(p, EXTENSION_WRITE));
    if !m.remote.windows || f.sshd_installed || m.monitor() || !admits || !may {
        return None;
    }
    repairs.retain(|r| r.fix != ServerFix::InstallOpensshServer);
    for r in repairs.iter_mut() {
        for a in r.after.iter_mut().filter(|a| **a == install) {
            *a = StepKind::InstallOpensshExtension;
        }
    }
    let (id, q) = (m.id, crate::shell::quote);
    let name = OPENSSH_TYPE;
    Some(StepSpec {
        kind: StepKind::InstallOpensshExtension,
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target: Target::Machine(id.clone()),
        description: format!(
            "Install the OpenSSH server on {} with Microsoft's {OPENSSH_TYPE} extension (the agent's extension rules admit it) and wait until it is provisioned",
            id.name
        ),
        command: format!(
            "az connectedmachine extension create --machine-name {} --resource-group {} --name {name} --publisher {OPENSSH_PUBLISHER} --type {OPENSSH_TYPE} --type-handler-version {OPENSSH_VERSION} --location {}",
            q(&id.name),
            q(&id.resource_group),
            q(&m.remote.location)
        ),
        automatic: true,
        undo: Some(format!(
            "az connectedmachine extension delete --machine-name {} --resource-group {} --name {name}; then on {}: {}",
            q(&id.name),
            q(&id.resource_group),
            id.name,
            server::undo(ServerFix::InstallOpensshServer, f, true)
        )),
        needs: vec![EXTENSION_WRITE.into(), "connected agent".into()],
        precondition: format!("the {name} extension is missing or not Succeeded"),
        verification: "provisioningState is Succeeded (polled, at most 10 minutes)".into(),
        after: vec![],
        goal: Goal::ExtensionSucceeded {
            machine: id.to_string(),
            name: name.into(),
        },
        action: Action::Arm {
            method: "PUT".into(),
            path: id.child(&format!("/extensions/{name}")),
            api_version: crate::azure::api::HYBRID_COMPUTE.into(),
            body: Some(serde_json::json!({
                "location": m.remote.location,
                "properties": {
                    "publisher": OPENSSH_PUBLISHER,
                    "type": OPENSSH_TYPE,
                    "typeHandlerVersion": OPENSSH_VERSION,
                },
            })),
            satisfied_by: vec![],
        },
    })
}

/// The step that restarts the hybrid agent after the provider registration.
fn restart_agent_step(m: &Machine<'_>, port: u16) -> StepSpec {
    let (id, remote) = (m.id, &m.remote);
    StepSpec {
        kind: StepKind::RestartAgent,
        fixes: vec![problem::RP_NOT_REGISTERED.into()],
        target: Target::Machine(id.clone()),
        description: format!("Restart the hybrid agent on {} through Run Command so it picks up the registration", id.name),
        command: if remote.windows { "Restart-Service himds".into() } else { "sudo systemctl restart himdsd".into() },
        automatic: true,
        undo: Some(server::NO_UNDO_FOR_A_RESTART.into()),
        needs: vec![RUN_COMMAND_WRITE.into(), "connected agent".into()],
        precondition: "the provider registration step succeeded".into(),
        verification: "a probe afterwards reports a new start time of the agent (else the step is unconfirmed)".into(),
        after: vec![StepKind::RegisterProvider],
        goal: Goal::Restarted,
        action: Action::RunCommand { machine: remote.clone(), verb: remote::RESTART_HIMDS.verb.into(), script: remote::RESTART_HIMDS.render(remote.windows, port) },
    }
}

/// How a person runs the same script with the Azure CLI.
fn run_command_line(id: &MachineId, remote: &Remote, script: &Script) -> String {
    format!(
        "az connectedmachine run-command create --machine-name {} --resource-group {} --name arcfix-{} --location {} --script @{}",
        crate::shell::quote(&id.name),
        crate::shell::quote(&id.resource_group),
        script.verb,
        crate::shell::quote(&remote.location),
        if remote.windows {
            format!("{}.ps1", script.verb)
        } else {
            format!("{}.sh", script.verb)
        }
    )
}

fn fact_failing(fact: ServerFact, port: u16) -> String {
    match fact {
        ServerFact::SshdInstalled => "no OpenSSH server".into(),
        ServerFact::SshAnswers => format!("no SSH banner on 127.0.0.1:{port}"),
        ServerFact::AgentIncomingEnabled => "incomingconnections.enabled false".into(),
        ServerFact::AgentPortAllowed => format!("incomingconnections.ports without {port}"),
    }
}
