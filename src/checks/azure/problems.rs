//! The known problems of one Arc machine as Azure shows it, one function
//! each, listed in [`CHECKS`]. Each decides from [`Facts`] (what was read,
//! already digested) and [`Wanted`] alone: no reads, no process, so each is
//! tested from hand-made facts right below it.

use serde_json::{Value, json};

use super::met::{ExtensionRules, Refusal};
use super::{
    ENDPOINT, ENTRA_EXTENSION_PUBLISHER, ENTRA_EXTENSION_TYPE, Observed, PortFrom, PortTag,
    SERVICE_CONFIG, SSH_PORT_TAG, Wanted, is_unregistered, older_than,
};
use crate::azure::auth::Claims;
use crate::azure::models::ConfigurationExtension;
use crate::azure::models::{Extension, ServiceConfiguration};
use crate::azure::rbac::{self, Permission};
use crate::azure::{HYBRID_CONNECTIVITY, api};
use crate::checks::seen::{Seen, Why};
use crate::checks::{Report, Side, StepSpec, finding};
use crate::error::arm::ArmError;
use crate::plan::{Action, FixKind, Goal, Part, ServerFix, StepKind, Target};
use crate::probe::server::{PortRange, parse_port_list};
use crate::problem;
use crate::shell::quote as q;
use crate::target::{Login, MachineId};

const ENDPOINT_WRITE: &str = "Microsoft.HybridConnectivity/endpoints/write";
const SERVICE_CONFIG_WRITE: &str =
    "Microsoft.HybridConnectivity/endpoints/serviceConfigurations/write";
const LIST_CREDENTIALS: &str = "Microsoft.HybridConnectivity/endpoints/listCredentials/action";
const MACHINE_READ: &str = "Microsoft.HybridCompute/machines/read";
const LOGIN: &str = "Microsoft.HybridCompute/machines/login/action";
const LOGIN_ADMIN: &str = "Microsoft.HybridCompute/machines/loginAsAdmin/action";
const ROLE_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
const EXTENSION_WRITE: &str = "Microsoft.HybridCompute/machines/extensions/write";
const RUN_COMMAND_WRITE: &str = "Microsoft.HybridCompute/machines/runCommands/write";

/// One known problem: its catalogue id and the function that looks for it.
pub type Check = fn(&Facts, &Wanted, &mut Report);

/// Every Azure-side problem, in the order findings and steps are reported.
pub const CHECKS: &[(&str, Check)] = &[
    (problem::AGENT_DISCONNECTED, agent_disconnected),
    (problem::AGENT_MONITOR_MODE, agent_monitor_mode),
    (problem::SSHD_NOT_RUNNING, agent_port_not_allowed),
    (problem::EXTENSIONS_DISABLED, extensions_disabled),
    (problem::ENTRA_EXTENSION_BLOCKED, entra_extension_blocked),
    (problem::RP_NOT_REGISTERED, rp_not_registered),
    (problem::SSH_PORT_NOT_ENABLED, ssh_port_not_enabled),
    (
        problem::ENDPOINT_PERMISSION_MISSING,
        endpoint_permission_missing,
    ),
    (problem::SSH_PORT_TAG_MISMATCH, ssh_port_tag),
    (problem::SERVICE_CONFIG_OUTDATED, service_config_outdated),
    (problem::LOGIN_ROLE_MISSING, login_role_missing),
    (
        problem::ENTRA_UNSUPPORTED_ON_WINDOWS,
        entra_unsupported_on_windows,
    ),
    (problem::ENTRA_EXTENSION_MISSING, entra_extension_missing),
];

/// What the SSH service configuration means for the wanted port.
#[derive(Debug, Clone, PartialEq)]
enum SshConfig {
    /// Enabled on the wanted port, or unknown for a reason already reported
    /// as not checked: nothing to claim.
    Fine,
    /// Unreadable until the provider is registered: what is needed is
    /// decided by the steps' re-checks after the registration.
    AfterRegistration,
    /// Enabled on another port, and the user did not ask for one (`--port`):
    /// no port is changed that was not chosen.
    OtherPort(u64),
    /// Missing or broken, as seen; the evidence.
    Broken(String),
}

/// What was read about one machine, digested once for every check.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub id: &'a MachineId,
    pub caller: &'a Claims,
    /// The ARM base the commands for people use (the one arcfix talks to), without a trailing `/`.
    pub base: &'a str,
    pub windows: bool,
    /// The agent's status in Azure: without one, nothing is judged of the agent.
    pub status: Seen<String>,
    pub last_status_change: Option<String>,
    pub agent_version: Option<String>,
    /// The agent's `config.mode` as Azure shows it (`full` or `monitor`).
    pub config_mode: Seen<String>,
    /// The agent's `incomingconnections.ports` as Azure shows them
    /// (`agentConfiguration.incomingConnectionsPorts`): empty allows every
    /// port; an entry that is not a port or a range makes the list unknown.
    pub agent_ports: Seen<Vec<PortRange>>,
    /// The machine's `SSHPort` tag, which `az ssh arc` uses without `--port`.
    pub port_tag: PortTag,
    /// The agent's extension manager and its allow and block lists, as Azure shows them.
    pub extension_rules: ExtensionRules,
    pub location: String,
    /// The caller's permissions on the machine; `None` when unreadable (then
    /// every write is manual: none is attempted on a guess).
    pub perms: Seen<&'a [Permission]>,
    /// HybridConnectivity's registration state in the subscription.
    pub provider: Seen<String>,
    /// Whether the caller may register it (read only when it is not registered).
    pub may_register: Seen<bool>,
    /// The default endpoint, as its read left it.
    pub endpoint: Seen<()>,
    /// The SSH service configuration, as its read left it.
    pub config: Seen<ServiceConfiguration>,
    /// The Entra login extension (read for Entra logins on Linux only): an
    /// unread list is no ground to claim it missing.
    pub entra_extension: Seen<Extension>,
}

impl<'a> Facts<'a> {
    /// Digests what was read, recording observations and what could not be read.
    pub fn of(
        id: &'a MachineId,
        o: &'a Observed,
        wanted: &Wanted,
        caller: &'a Claims,
        base: &'a str,
        r: &mut Report,
    ) -> Facts<'a> {
        let target = id.to_string();
        let m = &o.machine.properties;
        if !id.kind.has_agent_settings() {
            not_applicable(id, r);
        }
        let status = match m.status.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Seen::There(s.to_string()),
            // Said once by not_applicable: no status is no failed read here.
            None if !id.kind.has_agent_settings() => {
                Seen::Unknown(Why::Unread(format!("{} shows no agent status", id.kind)))
            }
            None => unread(
                r,
                format!(
                    "Azure's answer for {} has no agent status: whether its agent is connected was not judged",
                    id.name
                ),
            ),
        };
        let windows = o.machine.is_windows();
        let os = if windows { "windows" } else { "linux" };
        r.observe(format!(
            "{target} status={} os={os}",
            status.there().map_or("Unknown", String::as_str)
        ));
        let perms = match &o.permissions {
            Ok(p) => {
                let p = p.as_slice();
                let json = serde_json::to_string(p).unwrap_or_default();
                r.observe(format!("{target} permissions={json}"));
                Seen::There(p)
            }
            Err(e) => unread(
                r,
                format!("could not read your permissions on {}: {e}", id.name),
            ),
        };
        let provider = provider(id, o, r);
        // Known not to be registered (a failed read claims nothing).
        let registered = provider.there().is_none_or(|s| super::met::registered(s));
        let endpoint = seen(
            &format!("the default endpoint of {}", id.name),
            o.endpoint.as_ref().map(|e| e.as_ref().map(|_| ())),
            registered,
            r,
        );
        let config = seen(
            &format!("the SSH service configuration of {}", id.name),
            o.service_config.as_ref().map(|c| c.as_ref().cloned()),
            registered,
            r,
        );
        r.observe(format!("{target} endpoint={}", endpoint.word()));
        let (port, state) = match &config {
            Seen::There(c) => (c.properties.port, c.properties.provisioning_state.clone()),
            _ => (None, None),
        };
        r.observe(format!(
            "{target} ssh-config={} {port:?} {state:?}",
            config.word()
        ));
        let entra_extension = if wanted.login == Login::Entra && !windows {
            entra_extension(id, o, r)
        } else {
            Seen::Unknown(Why::NotAsked)
        };
        let agent = m.agent_configuration.as_ref();
        let extension_rules = ExtensionRules::of(agent);
        r.observe(format!(
            "{target} extensions-enabled={} allow-list={} block-list={} guest-configuration={:?} proxy={}",
            extension_rules.enabled.word(),
            list_words(&extension_rules.allow),
            list_words(&extension_rules.block),
            agent.and_then(|c| c.guest_configuration_enabled.as_deref()),
            agent.and_then(|c| c.proxy_url.as_deref()).is_some_and(|p| !p.is_empty()),
        ));
        Facts {
            id,
            caller,
            base: base.trim_end_matches('/'),
            windows,
            status,
            last_status_change: m.last_status_change.clone(),
            config_mode: config_mode(o),
            agent_ports: agent_ports(o),
            port_tag: PortTag::of(id.kind, &o.machine.tags),
            extension_rules,
            agent_version: m.agent_version.clone(),
            location: o.machine.location.clone().unwrap_or_default(),
            perms,
            provider,
            may_register: match o.may_register {
                Some(may) => Seen::There(may),
                None if registered => Seen::Unknown(Why::NotAsked),
                None => Seen::Unknown(Why::Unread(
                    "your rights to register providers in the subscription could not be read"
                        .into(),
                )),
            },
            endpoint,
            config,
            entra_extension,
        }
    }

    fn target(&self) -> Target {
        Target::Machine(self.id.clone())
    }

    /// The machine's ARM id, as commands and requests name it.
    fn path(&self) -> String {
        self.id.to_string()
    }

    fn connected(&self) -> bool {
        self.status
            .there()
            .is_some_and(|s| s.eq_ignore_ascii_case("Connected"))
    }

    /// The agent was seen in monitor mode: remote connectivity is off, and
    /// Run Command and extensions beyond Microsoft's allow list are refused.
    fn monitor_mode(&self) -> bool {
        self.config_mode
            .there()
            .is_some_and(|m| m.eq_ignore_ascii_case("monitor"))
    }

    /// Entra login on Linux waits for the login extension (missing, or not
    /// provisioned): the agent's extension rules then decide whether it can come.
    fn entra_extension_wanted(&self, w: &Wanted) -> bool {
        w.login == Login::Entra
            && !self.windows
            && match &self.entra_extension {
                Seen::There(e) => !super::met::extension_succeeded(e),
                Seen::Absent => true,
                Seen::Unknown(_) => false,
            }
    }

    /// Why the agent refuses the Entra login extension, as far as was seen.
    /// In monitor mode Microsoft's own allow list applies and the lists
    /// cannot be changed: that finding of its own says what to do.
    fn entra_refusals(&self) -> Vec<Refusal> {
        if self.monitor_mode() {
            return vec![];
        }
        self.extension_rules
            .refusals(ENTRA_EXTENSION_PUBLISHER, ENTRA_EXTENSION_TYPE)
    }

    /// Whether the caller may do `action` here, as far as is known.
    fn may(&self, action: &str) -> bool {
        self.perms.there().is_some_and(|p| rbac::allows(p, action))
    }

    /// The provider was seen not registered (an unread state claims nothing).
    fn unregistered(&self) -> bool {
        self.provider
            .there()
            .is_some_and(|s| !super::met::registered(s))
    }

    /// The steps that must come first: the provider registration, when planned.
    fn after_register(&self) -> Vec<StepKind> {
        if self.unregistered() {
            vec![StepKind::RegisterProvider]
        } else {
            vec![]
        }
    }

    fn admin_on_server(&self) -> &'static str {
        if self.windows {
            "administrator on the server"
        } else {
            "root on the server"
        }
    }

    /// What the endpoint and its SSH service configuration mean for `port`,
    /// from what was seen only.
    fn ssh_config(&self, w: &Wanted) -> SshConfig {
        let (name, port) = (&self.id.name, w.port);
        match (&self.endpoint, &self.config) {
            (Seen::Unknown(Why::UntilRegistered), _) => SshConfig::AfterRegistration,
            (Seen::Unknown(_), _) => SshConfig::Fine,
            (Seen::Absent, _) => {
                SshConfig::Broken(format!("{name} has no default connectivity endpoint"))
            }
            (Seen::There(()), Seen::Unknown(why)) => match why {
                Why::UntilRegistered => SshConfig::AfterRegistration,
                _ => SshConfig::Fine,
            },
            (Seen::There(()), Seen::Absent) => SshConfig::Broken(format!(
                "the default endpoint of {name} has no SSH service configuration"
            )),
            (Seen::There(()), Seen::There(c)) => {
                // The goal of enable-ssh-port, as its re-check reads it.
                let met = super::met::ssh_config(c, port, !w.port_given());
                match c.properties.port {
                    Some(p) if p == port as u64 && met => SshConfig::Fine,
                    Some(p) if met => SshConfig::OtherPort(p),
                    Some(p) if p != port as u64 => SshConfig::Broken(format!(
                        "SSH is enabled on port {p} of {name}, not on {port}"
                    )),
                    None => SshConfig::Broken(format!(
                        "the SSH service configuration of {name} names no port"
                    )),
                    Some(_) => SshConfig::Broken(format!(
                        "the SSH service configuration of {name} is {}",
                        c.properties
                            .provisioning_state
                            .as_deref()
                            .unwrap_or_default()
                    )),
                }
            }
        }
    }

    /// The endpoint (when missing) and the SSH configuration rights, as known.
    fn endpoint_rights(&self) -> (bool, bool) {
        (
            !self.endpoint.is_absent() && !self.endpoint.is_pending() || self.may(ENDPOINT_WRITE),
            self.may(SERVICE_CONFIG_WRITE),
        )
    }
}

/// An Arc virtual machine (VMware vSphere, SCVMM, Azure Stack HCI) carries
/// none of the Connected Machine agent's settings that a HybridCompute
/// machine shows: said once as not checked (not a failed read), never
/// guessed, and never a ✓ for the Azure side.
fn not_applicable(id: &MachineId, r: &mut Report) {
    r.unread.push(crate::plan::NotChecked {
        side: Part::Azure,
        reason: format!(
            "{} is {} ({}): this type does not show the Connected Machine agent's settings, so its monitor mode, allowed incoming ports and extensions (the Entra login extension), and its agent's status unless the VM shows its guest agent's, were not checked",
            id.name,
            id.kind.what(),
            id.kind
        ),
        error: false,
    });
}

/// A fact that could not be read: said in the report's "not checked", and
/// unknown with that reason.
fn unread<T>(r: &mut Report, why: String) -> Seen<T> {
    r.unread(Side::Azure, why.clone());
    Seen::Unknown(Why::Unread(why))
}

/// A HybridConnectivity resource as its GET left it. A read that failed is
/// unknown, never absent: with the provider not registered yet,
/// HybridConnectivity answers 409 whether or not the resource exists (it may
/// have been made before an unregistration).
fn seen<T>(
    what: &str,
    read: std::result::Result<Option<T>, &ArmError>,
    registered: bool,
    r: &mut Report,
) -> Seen<T> {
    match read {
        Ok(Some(t)) => Seen::There(t),
        Ok(None) => Seen::Absent,
        Err(e) if !registered && is_unregistered(e) => Seen::Unknown(Why::UntilRegistered),
        Err(e) => unread(r, format!("could not read {what}: {e}")),
    }
}

/// HybridConnectivity's registration state in the machine's subscription.
fn provider(id: &MachineId, o: &Observed, r: &mut Report) -> Seen<String> {
    match &o.provider {
        Ok(p) => {
            let state = p
                .registration_state
                .clone()
                .unwrap_or_else(|| "Unknown".into());
            r.observe(format!("{} provider={state}", id.subscription_id()));
            Seen::There(state)
        }
        Err(e) => unread(
            r,
            format!("could not read the {HYBRID_CONNECTIVITY} provider: {e}"),
        ),
    }
}

/// The agent's `config.mode`, as the machine's answer shows it.
/// The agent's allowed incoming ports as Azure shows them. A machine read
/// without `agentConfiguration` (or its ports) tells nothing; an entry that
/// is neither a port nor a range makes the whole list unknown.
fn agent_ports(o: &Observed) -> Seen<Vec<PortRange>> {
    let config = o.machine.properties.agent_configuration.as_ref();
    let Some(entries) = config.and_then(|c| c.incoming_connections_ports.as_ref()) else {
        return Seen::Unknown(Why::Unread(
            "Azure's answer has no agentConfiguration.incomingConnectionsPorts".into(),
        ));
    };
    let mut ports = Vec::new();
    for entry in entries {
        match parse_port_list(entry) {
            Some(p) if !p.is_empty() => ports.extend(p),
            _ => {
                return Seen::Unknown(Why::Unread(
                    "agentConfiguration.incomingConnectionsPorts holds an entry that is not a port"
                        .into(),
                ));
            }
        }
    }
    Seen::There(ports)
}

fn config_mode(o: &Observed) -> Seen<String> {
    let mode = o.machine.properties.agent_configuration.as_ref();
    match mode.and_then(|c| c.config_mode.as_deref()) {
        Some(mode) if !mode.trim().is_empty() => Seen::There(mode.to_string()),
        _ => Seen::Unknown(Why::Unread(
            "Azure's answer has no agentConfiguration.configMode".into(),
        )),
    }
}

/// The Entra login extension among the machine's, recording what was seen.
fn entra_extension(id: &MachineId, o: &Observed, r: &mut Report) -> Seen<Extension> {
    let target = id.to_string();
    let found = match &o.extensions {
        Some(Ok(list)) => list
            .iter()
            .find(|e| {
                e.properties
                    .kind
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ENTRA_EXTENSION_TYPE))
            })
            .cloned()
            .map_or(Seen::Absent, Seen::There),
        Some(Err(e)) => unread(
            r,
            format!("could not list the extensions of {}: {e}", id.name),
        ),
        None => Seen::Unknown(Why::NotAsked),
    };
    let state = found
        .there()
        .and_then(|e| e.properties.provisioning_state.clone());
    r.observe(format!("{target} entra-extension={state:?}"));
    found
}

fn auto_if(automatic: bool) -> FixKind {
    if automatic {
        FixKind::Auto
    } else {
        FixKind::Manual
    }
}

/// The agent is not Connected: nothing on the machine can be reached.
fn agent_disconnected(f: &Facts, _: &Wanted, r: &mut Report) {
    let Seen::There(status) = &f.status else {
        return;
    };
    if f.connected() {
        return;
    }
    let target = f.target();
    r.finding(finding(
        problem::AGENT_DISCONNECTED,
        &target,
        format!(
            "the Arc agent of {} is {} (last change {})",
            f.id.name,
            status,
            f.last_status_change.as_deref().unwrap_or("unknown")
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::ReconnectAgent,
        fixes: vec![problem::AGENT_DISCONNECTED.into()],
        target,
        description: format!("On {}, check the Connected Machine agent and restart it; if it stays disconnected, reconnect it with azcmagent connect", f.id.name),
        command: if f.windows { "azcmagent show; Restart-Service himds".into() } else { "sudo azcmagent show && sudo systemctl restart himdsd".into() },
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// The agent is in monitor mode: SSH through Arc cannot reach the server.
/// Only the server's administrator may switch it back, on the server.
fn agent_monitor_mode(f: &Facts, _: &Wanted, r: &mut Report) {
    if !f.monitor_mode() {
        return;
    }
    let target = f.target();
    r.finding(finding(
        problem::AGENT_MONITOR_MODE,
        &target,
        format!(
            "the Arc agent of {} is in monitor mode (agentConfiguration.configMode in Azure): it turns remote connectivity off, so no SSH connection through Arc reaches the server",
            f.id.name
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::AgentFullMode,
        fixes: vec![problem::AGENT_MONITOR_MODE.into()],
        target,
        description: format!(
            "If {} may be reached remotely, switch its agent back to full mode on the server (this re-enables remote connectivity, extensions beyond the monitoring allow list, and the machine configuration agent)",
            f.id.name
        ),
        command: if f.windows {
            "azcmagent config set config.mode full".into()
        } else {
            "sudo azcmagent config set config.mode full".into()
        },
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// The agent's allowed incoming ports, as Azure shows them, leave the SSH
/// port out: the agent refuses the relay's connection to sshd. Only the
/// server's administrator may change them (or arcfix through Run Command,
/// with `--remote`, whose probe reads them on the server itself).
fn agent_port_not_allowed(f: &Facts, w: &Wanted, r: &mut Report) {
    let Seen::There(ports) = &f.agent_ports else {
        return;
    };
    if ports.is_empty() || ports.iter().any(|p| p.contains(w.port.into())) {
        return;
    }
    let target = f.target();
    let name = &f.id.name;
    let listed: Vec<String> = ports.iter().map(ToString::to_string).collect();
    r.finding(finding(
        problem::SSHD_NOT_RUNNING,
        &target,
        format!(
            "the Arc agent of {name} allows incoming connections on port{} {} only, not {} (agentConfiguration.incomingConnectionsPorts in Azure): it refuses the connection to sshd",
            if listed.len() == 1 { "" } else { "s" },
            listed.join(", "),
            w.port
        ),
        FixKind::Manual,
    ));
    let by_run_command = if f.may(RUN_COMMAND_WRITE) && !f.monitor_mode() {
        "; or let arcfix do it through Run Command: arcfix apply --remote"
    } else {
        ""
    };
    let mut all = listed.clone();
    all.push(w.port.to_string());
    r.step(StepSpec {
        kind: StepKind::Remote(ServerFix::AgentAllowPort),
        fixes: vec![problem::SSHD_NOT_RUNNING.into()],
        target,
        description: format!(
            "On {name}, add port {} to the Arc agent's incoming ports, keeping {}{by_run_command}",
            w.port,
            listed.join(", ")
        ),
        command: format!(
            "{}azcmagent config set incomingconnections.ports {}",
            if f.windows { "" } else { "sudo " },
            all.join(",")
        ),
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// Why a fact is unknown, when it is.
fn why_unknown<T>(s: &Seen<T>) -> Option<&str> {
    match s {
        Seen::Unknown(Why::Unread(why)) => Some(why),
        _ => None,
    }
}

/// How a list entered the observations: its entries, or why it is unknown.
fn list_words(l: &Seen<Vec<ConfigurationExtension>>) -> String {
    match l {
        Seen::There(e) => format!("[{}]", e.iter().map(spelled).collect::<Vec<_>>().join(",")),
        other => other.word().into(),
    }
}

/// A list entry as `azcmagent` spells it (`publisher/type`), made safe to show.
fn spelled(e: &ConfigurationExtension) -> String {
    crate::text::sanitize(&format!(
        "{}/{}",
        e.publisher.as_deref().unwrap_or_default().trim(),
        e.kind.as_deref().unwrap_or_default().trim()
    ))
}

/// The Entra login extension as `azcmagent` lists name it.
fn entra_entry() -> String {
    format!("{ENTRA_EXTENSION_PUBLISHER}/{ENTRA_EXTENSION_TYPE}")
}

/// The agent's extension manager is off, and Entra login waits for its
/// login extension: only the server's administrator may turn it on.
fn extensions_disabled(f: &Facts, w: &Wanted, r: &mut Report) {
    if !f.entra_extension_wanted(w) || !f.entra_refusals().contains(&Refusal::Disabled) {
        return;
    }
    let target = f.target();
    r.finding(finding(
        problem::EXTENSIONS_DISABLED,
        &target,
        format!(
            "the Arc agent of {} has its extension manager disabled (agentConfiguration.extensionsEnabled false in Azure): it installs no extension, so the {ENTRA_EXTENSION_TYPE} extension that Entra login needs cannot come",
            f.id.name
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::EnableExtensions,
        fixes: vec![problem::EXTENSIONS_DISABLED.into()],
        target,
        description: format!(
            "If {} may run extensions, enable the agent's extension manager on the server (this re-enables every extension no allow or block list excludes, Run Command included); or connect as a local user (--login local)",
            f.id.name
        ),
        command: "sudo azcmagent config set extensions.enabled true".into(),
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// The machine's `SSHPort` tag, which `az ssh arc` uses without `--port`, is
/// not a port, or names another port than SSH through Arc is enabled on.
/// Which of the two is right is the server's (where sshd listens): both ways
/// out are said, and nothing is changed.
fn ssh_port_tag(f: &Facts, w: &Wanted, r: &mut Report) {
    let (id, target) = (f.id, f.target());
    let enabled = match &f.config {
        Seen::There(c) => c
            .properties
            .port
            .filter(|p| (1..65535).contains(p))
            .map(|p| p as u16),
        _ => None,
    };
    let (evidence, description, tag_value) = match (&f.port_tag, w.from) {
        (PortTag::Absent, _) | (_, PortFrom::Flag) => return,
        (PortTag::Invalid(value), _) => {
            let keep = enabled.unwrap_or(w.port);
            (
                format!(
                    "the {SSH_PORT_TAG} tag of {} is '{value}', which is not a port: az ssh arc without --port stops (\"Port '{value}' from resource tag '{SSH_PORT_TAG}' was used for this command…\"); arcfix checks port {}",
                    id.name, w.port
                ),
                format!(
                    "Correct {}'s {SSH_PORT_TAG} tag: set it to {keep}, the port SSH through Arc {} (below), remove it, or always connect with az ssh arc --port",
                    id.name,
                    if enabled.is_some() {
                        "is enabled on"
                    } else {
                        "will be enabled on"
                    }
                ),
                keep,
            )
        }
        (PortTag::Port(tagged), _) => {
            // A port Azure holds that no server can listen on is no way out.
            let (SshConfig::OtherPort(_), Some(seen)) = (f.ssh_config(w), enabled) else {
                return;
            };
            (
                format!(
                    "the {SSH_PORT_TAG} tag of {} says {tagged}, so az ssh arc connects to port {tagged} without --port; SSH through Arc is enabled on port {seen}",
                    id.name
                ),
                format!(
                    "Make the tag and SSH through Arc agree on {}: if sshd listens on {seen}, set the tag to {seen} (below); if it listens on {tagged}, move SSH through Arc there instead: arcfix apply --port {tagged}",
                    id.name
                ),
                seen,
            )
        }
    };
    r.finding(finding(
        problem::SSH_PORT_TAG_MISMATCH,
        &target,
        evidence,
        FixKind::Manual,
    ));
    r.step(port_tag_step(id, description, tag_value));
}

/// The manual step that sets the machine's `SSHPort` tag to `port` (a
/// validated port: nothing Azure sent goes into the command).
pub fn port_tag_step(id: &MachineId, description: String, port: u16) -> StepSpec {
    StepSpec {
        kind: StepKind::FixPortTag,
        fixes: vec![problem::SSH_PORT_TAG_MISMATCH.into()],
        target: Target::Machine(id.clone()),
        description,
        command: format!(
            "az tag update --resource-id {} --operation merge --tags {SSH_PORT_TAG}={port}",
            q(&id.to_string())
        ),
        needs: vec!["Microsoft.Resources/tags/write".into()],
        ..StepSpec::manual()
    }
}

/// The agent's allow list leaves the Entra login extension out, or its
/// block list names it: the agent would refuse the install, so only the
/// server's administrator may admit it, on the server.
fn entra_extension_blocked(f: &Facts, w: &Wanted, r: &mut Report) {
    if !f.entra_extension_wanted(w) {
        return;
    }
    let refusals = f.entra_refusals();
    let (not_allowed, blocked) = (
        refusals.contains(&Refusal::NotAllowListed),
        refusals.contains(&Refusal::BlockListed),
    );
    let (name, entry) = (&f.id.name, entra_entry());
    let mut evidence = Vec::new();
    let mut commands = Vec::new();
    if let (true, Seen::There(allow)) = (not_allowed, &f.extension_rules.allow) {
        const SHOWN: usize = 8;
        let mut listed: Vec<String> = allow.iter().take(SHOWN).map(spelled).collect();
        if allow.len() > SHOWN {
            listed.push(format!("and {} more", allow.len() - SHOWN));
        }
        evidence.push(format!(
            "the Arc agent of {name} allows only the extensions of its allow list (agentConfiguration.extensionsAllowList in Azure: {}), and {entry} is not among them",
            listed.join(", ")
        ));
        commands.push(format!(
            "sudo azcmagent config set extensions.allowlist {} --add",
            q(&entry)
        ));
    }
    if let (true, Seen::There(block)) = (blocked, &f.extension_rules.block) {
        evidence.push(if not_allowed {
            "and its block list names it too (agentConfiguration.extensionsBlockList in Azure)"
                .to_string()
        } else {
            format!(
                "the Arc agent of {name} blocks {entry} (its block list, agentConfiguration.extensionsBlockList in Azure)"
            )
        });
        // `--remove` takes the entry as it was set: Azure's spelling, when it
        // is a plain name; else the extension's own.
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        let as_set = block
            .iter()
            .find(|e| {
                e.publisher
                    .as_deref()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case(ENTRA_EXTENSION_PUBLISHER))
                    && e.kind
                        .as_deref()
                        .is_some_and(|k| k.trim().eq_ignore_ascii_case(ENTRA_EXTENSION_TYPE))
            })
            .map(|e| {
                (
                    e.publisher.as_deref().unwrap_or_default().trim(),
                    e.kind.as_deref().unwrap_or_default().trim(),
                )
            })
            .filter(|(p, k)| plain(p) && plain(k))
            .map_or_else(|| entry.clone(), |(p, k)| format!("{p}/{k}"));
        commands.push(format!(
            "sudo azcmagent config set extensions.blocklist {} --remove",
            q(&as_set)
        ));
    }
    if evidence.is_empty() {
        return;
    }
    let target = f.target();
    r.finding(finding(
        problem::ENTRA_EXTENSION_BLOCKED,
        &target,
        format!(
            "{}: the agent refuses to install the extension Entra login needs",
            evidence.join("; ")
        ),
        FixKind::Manual,
    ));
    let what = match (not_allowed, blocked) {
        (true, true) => "add it to the agent's allow list and remove it from its block list",
        (true, false) => "add it to the agent's allow list, keeping the other entries",
        _ => "remove it from the agent's block list, keeping the other entries",
    };
    r.step(StepSpec {
        kind: StepKind::AllowEntraExtension,
        fixes: vec![problem::ENTRA_EXTENSION_BLOCKED.into()],
        target,
        description: format!(
            "If {name} may have the Entra SSH login extension ({entry}), {what}, on the server; or connect as a local user (--login local)"
        ),
        command: commands.join(" && "),
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// HybridConnectivity is not registered in the subscription: register it,
/// then restart the agent so it picks the registration up.
fn rp_not_registered(f: &Facts, _: &Wanted, r: &mut Report) {
    let Seen::There(state) = &f.provider else {
        return;
    };
    if super::met::registered(state) {
        return;
    }
    let id = f.id;
    let sub = id.subscription_id();
    let on_subscription = Target::Subscription(id.subscription_of());
    let allowed = f.may_register == Seen::There(true);
    r.finding(finding(
        problem::RP_NOT_REGISTERED,
        &on_subscription,
        format!(
            "{HYBRID_CONNECTIVITY} is {} in subscription {}",
            state, id.subscription
        ),
        auto_if(allowed),
    ));
    r.step(StepSpec {
        kind: StepKind::RegisterProvider,
        fixes: vec![problem::RP_NOT_REGISTERED.into()],
        target: on_subscription,
        description: format!("Register the {HYBRID_CONNECTIVITY} resource provider in the subscription and wait until it is Registered"),
        command: format!("az provider register -n {HYBRID_CONNECTIVITY} --subscription {} --wait", id.subscription),
        automatic: allowed,
        undo: Some(format!("az provider unregister --namespace {HYBRID_CONNECTIVITY} --subscription {} (only if nothing else in the subscription uses it)", id.subscription)),
        needs: vec![if allowed { "Microsoft.HybridConnectivity/register/action" } else { "role: Owner or Contributor on the subscription" }.into()],
        precondition: "the provider is not Registered".into(),
        verification: "registrationState is Registered (polled, at most 5 minutes)".into(),
        after: vec![],
        goal: Goal::ProviderRegistered { subscription: id.subscription.clone(), namespace: HYBRID_CONNECTIVITY.into() },
        action: if allowed {
            Action::Arm { method: "POST".into(), path: format!("{sub}/providers/{HYBRID_CONNECTIVITY}/register"), api_version: api::RESOURCES.into(), body: None, satisfied_by: vec![] }
        } else {
            Action::Manual
        },
    });
    r.step(StepSpec {
        kind: StepKind::RestartAgent,
        fixes: vec![problem::RP_NOT_REGISTERED.into()],
        target: f.target(),
        description: format!(
            "Restart the hybrid agent on {} so it picks up the registration (run on the server)",
            id.name
        ),
        command: if f.windows {
            "Restart-Service himds".into()
        } else {
            "sudo systemctl restart himdsd".into()
        },
        needs: vec!["connected agent".into(), f.admin_on_server().into()],
        after: f.after_register(),
        ..StepSpec::manual()
    });
}

/// No default endpoint, or no SSH service configuration on the wanted port.
/// With the rights, arcfix creates what is missing (the endpoint only when
/// it does not exist: re-creating one disrupts the agent's relay). A port the
/// user did not choose is never changed; what could not be read before the
/// provider's registration is decided by the steps' re-checks.
fn ssh_port_not_enabled(f: &Facts, w: &Wanted, r: &mut Report) {
    let (id, target) = (f.id, f.target());
    let evidence = match f.ssh_config(w) {
        SshConfig::Fine => return,
        // The machine's SSHPort tag names another port: ssh_port_tag says so.
        SshConfig::OtherPort(_) if w.from == PortFrom::Tag => return,
        SshConfig::OtherPort(p) => return other_port(f, w, p, r),
        SshConfig::AfterRegistration => {
            r.unread.push(crate::plan::NotChecked {
                side: Part::Azure,
                reason: format!(
                    "{}: its default endpoint and SSH service configuration cannot be read until {HYBRID_CONNECTIVITY} is registered; apply reads them again after the registration, and a second check shows them",
                    id.name
                ),
                error: false,
            });
            None
        }
        SshConfig::Broken(evidence) => Some(evidence),
    };
    let (can_endpoint, can_config) = f.endpoint_rights();
    let automatic = can_endpoint && can_config;
    if let Some(evidence) = &evidence {
        r.finding(finding(
            problem::SSH_PORT_NOT_ENABLED,
            &target,
            evidence.clone(),
            auto_if(automatic),
        ));
    }
    if !automatic {
        // endpoint_permission_missing says what to do instead.
        return;
    }
    ssh_port_steps(f, w, evidence.is_none(), r);
}

/// The steps of `ssh-port-not-enabled`: the endpoint when it is not seen
/// there, then the SSH service configuration with the wanted port (each
/// decided again by its re-check). `unknown`: neither could be read before
/// the provider's registration.
fn ssh_port_steps(f: &Facts, w: &Wanted, unknown: bool, r: &mut Report) {
    let (id, target, path) = (f.id, f.target(), f.path());
    let base = f.base;
    let once = if unknown {
        format!(" once {HYBRID_CONNECTIVITY} is registered")
    } else {
        String::new()
    };
    let mut deps = f.after_register();
    if !matches!(f.endpoint, Seen::There(())) {
        r.step(create_endpoint_step(f, unknown, &once, deps.clone()));
        deps.push(StepKind::CreateEndpoint);
    }
    let old = match &f.config {
        Seen::There(c) => c.properties.port,
        _ => None,
    };
    // Undoing puts back what was there: the previous port, or nothing.
    let undo = match old {
        Some(old) => az_rest(
            "put",
            base,
            &id.child(SERVICE_CONFIG),
            Some(&config_body(old as u16)),
        ),
        None => az_rest("delete", base, &id.child(SERVICE_CONFIG), None),
    };
    r.step(StepSpec {
        kind: StepKind::EnableSshPort,
        fixes: vec![problem::SSH_PORT_NOT_ENABLED.into()],
        target: target.clone(),
        description: match old {
            // A service configuration holds one port: this replaces it (the user chose it).
            Some(old) if old != w.port as u64 => format!(
                "Change the port of {}'s SSH service configuration from {old} to {} (it holds one port: {old} stops working through Arc)",
                id.name, w.port
            ),
            _ if unknown && !w.port_given() => format!(
                "Allow SSH on port {} of {}{once} unless an SSH service configuration exists already (read right before; no port you did not choose is changed)",
                w.port, id.name
            ),
            _ if unknown => format!(
                "Allow SSH on port {} of {}{once} unless it is allowed already (read right before)",
                w.port, id.name
            ),
            _ => format!(
                "Allow SSH on port {} of {} (the endpoint's SSH service configuration)",
                w.port, id.name
            ),
        },
        command: az_rest(
            "put",
            base,
            &id.child(SERVICE_CONFIG),
            Some(&config_body(w.port)),
        ),
        automatic: true,
        undo: Some(undo),
        needs: vec![SERVICE_CONFIG_WRITE.into()],
        precondition: if w.port_given() {
            format!(
                "the SSH service configuration is missing or not on port {}",
                w.port
            )
        } else {
            format!(
                "no SSH service configuration, or one on port {} that did not provision",
                w.port
            )
        },
        verification: format!("GET of the service configuration shows port {}", w.port),
        after: deps,
        goal: Goal::ServiceConfigPort {
            machine: path,
            port: w.port,
            any_port: !w.port_given(),
        },
        action: Action::Arm {
            method: "PUT".into(),
            path: id.child(SERVICE_CONFIG),
            api_version: api::HYBRID_CONNECTIVITY.into(),
            body: Some(config_body(w.port)),
            satisfied_by: vec![],
        },
    });
}

/// The endpoint's creation: only when it does not exist (re-creating one
/// disrupts the agent's relay), decided by a GET right before.
fn create_endpoint_step(f: &Facts, unknown: bool, once: &str, deps: Vec<StepKind>) -> StepSpec {
    let (id, base) = (f.id, f.base);
    StepSpec {
        kind: StepKind::CreateEndpoint,
        fixes: vec![problem::SSH_PORT_NOT_ENABLED.into()],
        target: f.target(),
        description: if unknown {
            format!(
                "Create the default connectivity endpoint of {} if it is missing{once} (it could not be read before; a GET right before decides, and an existing one is left alone: re-creating one disrupts the agent's relay)",
                id.name
            )
        } else {
            format!(
                "Create the default connectivity endpoint of {} (only because it does not exist: re-creating one disrupts the agent's relay)",
                id.name
            )
        },
        command: az_rest("put", base, &id.child(ENDPOINT), Some(&endpoint_body())),
        automatic: true,
        // Only made when it did not exist: undoing it deletes it.
        undo: Some(az_rest("delete", base, &id.child(ENDPOINT), None)),
        needs: vec![ENDPOINT_WRITE.into()],
        precondition: "the endpoint does not exist (GET answers 404), read right before".into(),
        verification: "GET of the endpoint answers 200".into(),
        after: deps,
        goal: Goal::EndpointExists { machine: f.path() },
        action: Action::Arm {
            method: "PUT".into(),
            path: id.child(ENDPOINT),
            api_version: api::HYBRID_CONNECTIVITY.into(),
            body: Some(endpoint_body()),
            satisfied_by: vec![],
        },
    }
}

/// SSH is enabled through Arc on another port than 22 and no `--port` was
/// given: arcfix says what it saw and the choices, and changes nothing.
fn other_port(f: &Facts, w: &Wanted, seen: u64, r: &mut Report) {
    let (id, target, path) = (f.id, f.target(), f.path());
    r.finding(finding(
        problem::SSH_PORT_NOT_ENABLED,
        &target,
        format!(
            "SSH is enabled through Arc on port {seen} of {}, not on {} (the port az ssh arc uses without --port or an SSHPort tag); arcfix changes no port you did not choose",
            id.name, w.port
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::ChooseSshPort,
        fixes: vec![problem::SSH_PORT_NOT_ENABLED.into()],
        target: target.clone(),
        description: format!(
            "Choose the port of {name}: if sshd listens on {seen}, keep it (connect with az ssh arc --port {seen}, or tag the machine SSHPort={seen} as below so az ssh arc uses it, and run arcfix with --port {seen}); to move SSH through Arc to {port} instead, run arcfix apply --port {port}",
            name = id.name,
            port = w.port
        ),
        command: format!(
            "az tag update --resource-id {} --operation merge --tags SSHPort={seen}",
            q(&path)
        ),
        ..StepSpec::manual()
    });
}

/// SSH must be enabled but the caller may not write the endpoint or its
/// configuration: an administrator grants Contributor, or sets it up.
fn endpoint_permission_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    if !matches!(f.ssh_config(w), SshConfig::Broken(_)) {
        return;
    }
    let (can_endpoint, can_config) = f.endpoint_rights();
    if can_endpoint && can_config {
        return;
    }
    let (id, target, path, base) = (f.id, f.target(), f.path(), f.base);
    let missing: Vec<&str> = [
        (!can_endpoint).then_some(ENDPOINT_WRITE),
        (!can_config).then_some(SERVICE_CONFIG_WRITE),
    ]
    .into_iter()
    .flatten()
    .collect();
    r.finding(finding(
        problem::ENDPOINT_PERMISSION_MISSING,
        &target,
        format!(
            "{} may not {} on {} (needs Owner or Contributor)",
            f.caller.display_name(),
            missing.join(" or "),
            id.name
        ),
        FixKind::Manual,
    ));
    // What the administrator would run instead: only what is missing,
    // the endpoint before its service configuration.
    let mut setup = Vec::new();
    if f.endpoint.is_absent() {
        setup.push(az_rest(
            "put",
            base,
            &id.child(ENDPOINT),
            Some(&endpoint_body()),
        ));
    }
    setup.push(az_rest(
        "put",
        base,
        &id.child(SERVICE_CONFIG),
        Some(&config_body(w.port)),
    ));
    r.step(StepSpec {
        kind: StepKind::GrantEndpointRights,
        fixes: vec![problem::ENDPOINT_PERMISSION_MISSING.into(), problem::SSH_PORT_NOT_ENABLED.into()],
        target: target.clone(),
        description: format!(
            "An administrator must give you Contributor on {} (the command below), or set SSH up once for you{}: {}",
            id.name,
            if f.endpoint.is_absent() { " (the endpoint, then its SSH service configuration)" } else { "" },
            setup.join(" && ")
        ),
        command: format!("az role assignment create {} --role Contributor --scope {}", assignee_args(f.caller), q(&path)),
        needs: vec!["role: Owner or User Access Administrator (for the administrator)".into()],
        after: f.after_register(),
        ..StepSpec::manual()
    });
}

/// A service configuration set up for an agent too old for the current flow
/// ("Connection closed by UNKNOWN port 65535").
fn service_config_outdated(f: &Facts, w: &Wanted, r: &mut Report) {
    let (Seen::There(_), Some(version)) = (&f.config, f.agent_version.as_deref()) else {
        return;
    };
    if !older_than(version, (1, 31)) {
        return;
    }
    let (id, target, base) = (f.id, f.target(), f.base);
    r.finding(finding(
        problem::SERVICE_CONFIG_OUTDATED,
        &target,
        format!("the agent of {} is {version}, older than 1.31: its SSH service configuration may close connections (Connection closed by UNKNOWN port 65535)", id.name),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::UpgradeAgent,
        fixes: vec![problem::SERVICE_CONFIG_OUTDATED.into()],
        target: target.clone(),
        description: format!("Upgrade the Connected Machine agent on {} (1.31 or newer)", id.name),
        command: if f.windows {
            "Invoke-WebRequest -Uri https://aka.ms/AzureConnectedMachineAgent -OutFile AzureConnectedMachineAgent.msi; Start-Process msiexec.exe -Wait -ArgumentList '/i AzureConnectedMachineAgent.msi /qn /l*v azcmagent-upgrade.log'".into()
        } else {
            "if command -v apt-get >/dev/null; then sudo apt-get update && sudo apt-get install --only-upgrade -y azcmagent; elif command -v dnf >/dev/null; then sudo dnf upgrade -y azcmagent; else sudo zypper --non-interactive update azcmagent; fi".into()
        },
        ..StepSpec::manual()
    });
    r.step(StepSpec {
        kind: StepKind::RecreateSshConfig,
        fixes: vec![problem::SERVICE_CONFIG_OUTDATED.into()],
        target,
        description: "Then delete the SSH service configuration and create it again".into(),
        command: format!(
            "{} && {}",
            az_rest("delete", base, &id.child(SERVICE_CONFIG), None),
            az_rest(
                "put",
                base,
                &id.child(SERVICE_CONFIG),
                Some(&config_body(w.port))
            )
        ),
        after: vec![StepKind::UpgradeAgent],
        ..StepSpec::manual()
    });
}

/// The caller lacks a right `az ssh arc` needs for this login: the login role
/// is assigned (automatically with --grant-roles and the right to do so).
fn login_role_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    let Seen::There(p) = f.perms else { return };
    // An Arc virtual machine is read through its own provider, which the
    // login roles do not cover, and az ssh arc goes on without that read
    // (the ssh extension ignores its failure): listCredentials is what it needs.
    let needed: &[&str] = if f.id.kind.has_agent_settings() {
        &[MACHINE_READ, LIST_CREDENTIALS]
    } else {
        &[LIST_CREDENTIALS]
    };
    let mut lacking: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|a| !rbac::allows(p, a))
        .collect();
    // Entra login does not exist on Windows (entra_unsupported_on_windows
    // says so): the role of the login that works there, local, is the one.
    let login = if f.windows { Login::Local } else { w.login };
    let role = match login {
        Login::Local => &rbac::VM_LOCAL_USER_LOGIN,
        Login::Entra => {
            if !rbac::allows_data(p, LOGIN) && !rbac::allows_data(p, LOGIN_ADMIN) {
                lacking.push(LOGIN);
            }
            &rbac::VM_USER_LOGIN
        }
    };
    if lacking.is_empty() {
        return;
    }
    let (id, target, path, caller) = (f.id, f.target(), f.path(), f.caller);
    let automatic = w.grant_roles && f.may(ROLE_WRITE) && caller.oid.is_some();
    r.finding(finding(
        problem::LOGIN_ROLE_MISSING,
        &target,
        format!(
            "{} lacks {} on {}",
            caller.display_name(),
            lacking.join(", "),
            id.name
        ),
        auto_if(automatic),
    ));
    let role_id = format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions/{}",
        id.subscription_id(),
        role.guid
    );
    let principal = caller.oid.clone().unwrap_or_default();
    let name = crate::plan::stable_guid(&[&path, role.guid, &principal]);
    let why_manual = if automatic {
        String::new()
    } else if !w.grant_roles {
        " (arcfix assigns it with --grant-roles when you may write role assignments)".into()
    } else {
        " (you may not write role assignments: an Owner or User Access Administrator must run this)"
            .into()
    };
    r.step(StepSpec {
        kind: StepKind::AssignLoginRole,
        fixes: vec![problem::LOGIN_ROLE_MISSING.into()],
        target: target.clone(),
        description: format!("Assign yourself the {} role on {}{why_manual}; sign in again afterwards (az login) so the token carries it", role.name, id.name),
        command: format!("az role assignment create {} --role {} --scope {}", assignee_args(caller), q(role.name), q(&path)),
        automatic,
        undo: Some(format!("az role assignment delete --ids {}", q(&format!("{path}/providers/Microsoft.Authorization/roleAssignments/{name}")))),
        needs: vec![ROLE_WRITE.into()],
        precondition: format!("no {} assignment for you on the machine", role.name),
        verification: "the role assignment is listed on the machine".into(),
        after: vec![],
        goal: Goal::RoleAssigned { scope: path.clone(), role: role.guid.into(), principal: principal.clone() },
        action: if automatic {
            Action::Arm {
                method: "PUT".into(),
                path: format!("{path}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                api_version: api::AUTHORIZATION.into(),
                body: Some(json!({"properties": {"roleDefinitionId": role_id, "principalId": principal, "principalType": caller.principal_type()}})),
                satisfied_by: vec!["RoleAssignmentExists".into()],
            }
        } else {
            Action::Manual
        },
    });
}

/// Entra login asked for on a Windows machine, where it does not exist.
fn entra_unsupported_on_windows(f: &Facts, w: &Wanted, r: &mut Report) {
    if w.login != Login::Entra || !f.windows {
        return;
    }
    let id = f.id;
    r.finding(finding(
        problem::ENTRA_UNSUPPORTED_ON_WINDOWS,
        &f.target(),
        format!(
            "{} runs Windows: SSH login with Microsoft Entra ID is not supported there",
            id.name
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::UseLocalLogin,
        fixes: vec![problem::ENTRA_UNSUPPORTED_ON_WINDOWS.into()],
        target: f.target(),
        description: "Connect with a local user account instead (arcfix --login local; az ssh arc --local-user <user>)".into(),
        command: format!(
            "az ssh arc --resource-group {} --name {}{} --local-user <user>",
            q(&id.resource_group),
            q(&id.name),
            if id.kind.has_agent_settings() {
                String::new()
            } else {
                format!(" --resource-type {}", id.kind)
            }
        ),
        ..StepSpec::manual()
    });
}

/// Entra login on Linux without a Succeeded AADSSHLoginForLinux extension.
fn entra_extension_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    if w.login != Login::Entra || f.windows {
        return;
    }
    let found = match &f.entra_extension {
        Seen::There(e) => Some(e),
        Seen::Absent => None,
        Seen::Unknown(_) => return,
    };
    if found.is_some_and(super::met::extension_succeeded) {
        return;
    }
    let state = found.and_then(|e| e.properties.provisioning_state.clone());
    let (id, target, path) = (f.id, f.target(), f.path());
    let name = found
        .and_then(|e| e.name.as_ref())
        .map_or_else(|| ENTRA_EXTENSION_TYPE.into(), |n| n.to_string());
    // The agent installs extensions: with it disconnected, in monitor mode
    // (Microsoft's allow list), or with its own rules refusing this one, the
    // PUT would only fail.
    let refused = f.entra_refusals();
    let allowed =
        f.may(EXTENSION_WRITE) && f.connected() && !f.monitor_mode() && refused.is_empty();
    if refused.is_empty() && !f.monitor_mode() {
        let rules = &f.extension_rules;
        let unknown = [
            why_unknown(&rules.enabled),
            why_unknown(&rules.allow),
            why_unknown(&rules.block),
        ];
        if let Some(why) = unknown.into_iter().flatten().next() {
            r.unread(
                Side::Azure,
                format!(
                    "whether the Arc agent of {} admits the {ENTRA_EXTENSION_TYPE} extension was not judged: {why}",
                    f.id.name
                ),
            );
        }
    }
    let location = &f.location;
    r.finding(finding(
        problem::ENTRA_EXTENSION_MISSING,
        &target,
        match &state {
            None => format!("{} has no {ENTRA_EXTENSION_TYPE} extension", id.name),
            Some(s) => format!("the {ENTRA_EXTENSION_TYPE} extension of {} is {s}", id.name),
        },
        auto_if(allowed),
    ));
    r.step(StepSpec {
        kind: StepKind::InstallEntraExtension,
        fixes: vec![problem::ENTRA_EXTENSION_MISSING.into()],
        target: target.clone(),
        description: format!("Install the Microsoft Entra SSH login extension ({ENTRA_EXTENSION_TYPE}) on {} and wait until it is provisioned", id.name),
        command: format!(
            "az connectedmachine extension create --machine-name {} --resource-group {} --publisher {ENTRA_EXTENSION_PUBLISHER} --name {} --type {ENTRA_EXTENSION_TYPE} --location {}",
            q(&id.name), q(&id.resource_group), q(&name), q(location)
        ),
        automatic: allowed,
        undo: Some(format!(
            "az connectedmachine extension delete --machine-name {} --resource-group {} --name {}{}",
            q(&id.name), q(&id.resource_group), q(&name),
            if found.is_some() { " (it was there before, not provisioned)" } else { "" }
        )),
        needs: vec![EXTENSION_WRITE.into(), "connected agent".into()],
        precondition: "the extension is missing or not Succeeded".into(),
        verification: "provisioningState is Succeeded (polled, at most 10 minutes)".into(),
        after: vec![],
        goal: Goal::ExtensionSucceeded { machine: path, name: name.clone() },
        action: if allowed {
            Action::Arm {
                method: "PUT".into(),
                path: id.child(&format!("/extensions/{name}")),
                api_version: api::HYBRID_COMPUTE.into(),
                body: Some(json!({"location": location, "properties": {"publisher": ENTRA_EXTENSION_PUBLISHER, "type": ENTRA_EXTENSION_TYPE, "autoUpgradeMinorVersion": true}})),
                satisfied_by: vec![],
            }
        } else {
            Action::Manual
        },
    });
}

/// The body of the default endpoint's PUT.
fn endpoint_body() -> Value {
    json!({"properties": {"type": "default"}})
}

/// The body of the SSH service configuration's PUT.
fn config_body(port: u16) -> Value {
    json!({"properties": {"serviceName": "SSH", "port": port}})
}

/// `az rest` as a person types it: the URI and the JSON body quoted for the
/// shell (the URI's `?` is a glob character in the shell, an error in zsh).
fn az_rest(method: &str, base: &str, path: &str, body: Option<&Value>) -> String {
    let mut c = format!(
        "az rest --method {method} --uri {}",
        q(&format!(
            "{base}{path}?api-version={}",
            api::HYBRID_CONNECTIVITY
        ))
    );
    if let Some(b) = body {
        c.push_str(&format!(" --body {}", q(&b.to_string())));
    }
    c
}

/// Who `az role assignment create` assigns: the object id with its principal
/// type when the token has one (no directory lookup, which an administrator
/// may lack and which fails for a new principal), else the sign-in name.
fn assignee_args(caller: &Claims) -> String {
    match &caller.oid {
        Some(oid) => format!(
            "--assignee-object-id {} --assignee-principal-type {}",
            q(oid),
            q(caller.principal_type())
        ),
        None => format!("--assignee {}", q(&caller.display_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-1111-2222-3333-444444444444";

    fn machine() -> MachineId {
        MachineId::new(SUB, "rg", "web-01").unwrap()
    }

    fn caller() -> Claims {
        Claims {
            oid: Some("0000aaaa-0000-0000-0000-000000000001".into()),
            upn: Some("ada@contoso.com".into()),
            ..Default::default()
        }
    }

    fn allow(actions: &[&str], data: &[&str]) -> Vec<Permission> {
        vec![Permission {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            data_actions: data.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }]
    }

    /// A healthy Linux machine seen by an Owner: no check finds anything.
    fn healthy<'a>(id: &'a MachineId, caller: &'a Claims, perms: &'a [Permission]) -> Facts<'a> {
        Facts {
            id,
            caller,
            base: "https://management.azure.com",
            windows: false,
            status: Seen::There("Connected".into()),
            last_status_change: None,
            agent_version: Some("1.45.0".into()),
            config_mode: Seen::There("full".into()),
            agent_ports: Seen::There(vec![]),
            port_tag: PortTag::Absent,
            extension_rules: rules(true, &[], &[]),
            location: "westeurope".into(),
            perms: Seen::There(perms),
            provider: Seen::There("Registered".into()),
            may_register: Seen::Unknown(Why::NotAsked),
            endpoint: Seen::There(()),
            config: Seen::There(config(Some(22), Some("Succeeded"))),
            entra_extension: Seen::There(extension("Succeeded")),
        }
    }

    /// The agent's extension rules, entries spelled `publisher/type`.
    fn rules(enabled: bool, allow: &[&str], block: &[&str]) -> ExtensionRules {
        let list = |l: &[&str]| {
            Seen::There(
                l.iter()
                    .map(|e| {
                        let (p, t) = e.split_once('/').unwrap();
                        ConfigurationExtension {
                            publisher: Some(p.into()),
                            kind: Some(t.into()),
                        }
                    })
                    .collect(),
            )
        };
        ExtensionRules {
            enabled: Seen::There(enabled),
            allow: list(allow),
            block: list(block),
        }
    }

    fn config(port: Option<u64>, state: Option<&str>) -> ServiceConfiguration {
        let mut c = ServiceConfiguration::default();
        c.properties.port = port;
        c.properties.provisioning_state = state.map(String::from);
        c
    }

    fn extension(state: &str) -> Extension {
        let mut e = Extension {
            name: Some(crate::target::ArmName::parse("AADSSHLoginForLinux").unwrap()),
            ..Default::default()
        };
        e.properties.kind = Some(ENTRA_EXTENSION_TYPE.into());
        e.properties.provisioning_state = Some(state.into());
        e
    }

    fn wanted(login: Login, grant_roles: bool) -> Wanted {
        // As with --port 22: the older cases chose their port.
        Wanted {
            port: 22,
            from: PortFrom::Flag,
            login,
            grant_roles,
        }
    }

    #[test]
    fn an_arc_vm_needs_list_credentials_not_a_read_of_its_own_provider() {
        use crate::target::ArcKind;
        let caller = caller();
        let vm = MachineId::of_kind(ArcKind::VmwareVm, SUB, "rg", "vm-01").unwrap();
        // Virtual Machine Local User Login at the VM: no VMware read, and none needed.
        let role = allow(
            &["Microsoft.HybridCompute/machines/*/read", LIST_CREDENTIALS],
            &[],
        );
        let f = healthy(&vm, &caller, &role);
        let r = run(login_role_missing, &f, &wanted(Login::Local, false));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        // Without listCredentials: the role is assigned at the VM's own id.
        let none = allow(&["Microsoft.HybridCompute/machines/*/read"], &[]);
        let f = healthy(&vm, &caller, &none);
        let r = run(login_role_missing, &f, &wanted(Login::Local, false));
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].evidence.contains(LIST_CREDENTIALS));
        assert!(
            !r.findings[0].evidence.contains("read"),
            "{}",
            r.findings[0].evidence
        );
        assert!(r.steps[0].command.ends_with(&format!(
            "--scope /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ConnectedVMwarevSphere/virtualMachines/vm-01"
        )));
        // A HybridCompute machine still needs its read.
        let m = machine();
        let only_credentials = allow(&[LIST_CREDENTIALS], &[]);
        let f = healthy(&m, &caller, &only_credentials);
        let r = run(login_role_missing, &f, &wanted(Login::Local, false));
        assert!(r.findings[0].evidence.contains(MACHINE_READ));
    }

    fn run(check: Check, f: &Facts, w: &Wanted) -> Report {
        let mut r = Report::default();
        check(f, w, &mut r);
        r
    }

    fn ids(r: &Report) -> (Vec<&str>, Vec<&str>) {
        (
            r.findings.iter().map(|f| f.id.as_str()).collect(),
            r.steps.iter().map(|s| s.id.as_str()).collect(),
        )
    }

    fn owner() -> Vec<Permission> {
        allow(&["*"], &["*"])
    }

    #[test]
    fn a_healthy_machine_has_no_problem() {
        let (id, c, p) = (machine(), caller(), owner());
        for login in [Login::Local, Login::Entra] {
            for (name, check) in CHECKS {
                let r = run(*check, &healthy(&id, &c, &p), &wanted(login, false));
                assert!(r.findings.is_empty() && r.steps.is_empty(), "{name}: {r:?}");
            }
        }
    }

    #[test]
    fn each_check_emits_only_its_own_problem_which_the_catalogue_knows() {
        // Every way each check can fire, from hand-made facts.
        let (id, c, owner, none) = (machine(), caller(), owner(), allow(&[], &[]));
        let mut cases: Vec<(Facts, Wanted)> = Vec::new();
        for perms in [&owner, &none] {
            let h = healthy(&id, &c, perms);
            let broken = Facts {
                status: Seen::There("Disconnected".into()),
                config_mode: Seen::There("monitor".into()),
                agent_version: Some("1.30.0".into()),
                provider: Seen::There("NotRegistered".into()),
                endpoint: Seen::Absent,
                config: Seen::Absent,
                entra_extension: Seen::Absent,
                agent_ports: Seen::There(vec![2222.into()]),
                port_tag: PortTag::Invalid("abc".into()),
                ..h.clone()
            };
            cases.push((
                broken.clone(),
                Wanted {
                    from: PortFrom::Default,
                    ..wanted(Login::Local, false)
                },
            ));
            let windows = Facts {
                windows: true,
                ..broken.clone()
            };
            let old = Facts {
                agent_version: Some("1.2".into()),
                ..h.clone()
            };
            let locked = Facts {
                entra_extension: Seen::Absent,
                extension_rules: rules(
                    false,
                    &["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
                    &["Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux"],
                ),
                ..h.clone()
            };
            for f in [h, broken, windows, old, locked] {
                for login in [Login::Local, Login::Entra] {
                    for grant in [false, true] {
                        cases.push((f.clone(), wanted(login, grant)));
                    }
                }
            }
        }
        let mut fired = std::collections::BTreeSet::new();
        for (name, check) in CHECKS {
            assert!(crate::catalogue::get(name).is_some(), "{name}");
            for (f, w) in &cases {
                let r = run(*check, f, w);
                for finding in &r.findings {
                    assert_eq!(&finding.id, name);
                    fired.insert(*name);
                }
                for s in &r.steps {
                    assert!(s.fixes.iter().any(|x| x == name), "{name}: {}", s.id);
                }
            }
        }
        let all: std::collections::BTreeSet<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
        assert_eq!(fired, all, "every check fires for some facts");
    }

    #[test]
    fn agent_disconnected_per_os() {
        let (id, c, p) = (machine(), caller(), owner());
        let cases = [
            (false, "Connected", None),
            (
                false,
                "Expired",
                Some("sudo azcmagent show && sudo systemctl restart himdsd"),
            ),
            (
                true,
                "Disconnected",
                Some("azcmagent show; Restart-Service himds"),
            ),
        ];
        for (windows, status, command) in cases {
            let f = Facts {
                windows,
                status: Seen::There(status.into()),
                ..healthy(&id, &c, &p)
            };
            let r = run(agent_disconnected, &f, &wanted(Login::Local, false));
            assert_eq!(
                r.steps.first().map(|s| s.command.as_str()),
                command,
                "{status}"
            );
            if command.is_some() {
                assert!(r.findings[0].evidence.contains(status));
            }
        }
    }

    #[test]
    fn registration_is_automatic_only_when_allowed_and_the_restart_follows_it() {
        let (id, c, p) = (machine(), caller(), owner());
        for (may, automatic) in [(Some(true), true), (Some(false), false), (None, false)] {
            let f = Facts {
                provider: Seen::There("NotRegistered".into()),
                may_register: may
                    .map_or(Seen::Unknown(Why::Unread("unreadable".into())), Seen::There),
                ..healthy(&id, &c, &p)
            };
            let r = run(rp_not_registered, &f, &wanted(Login::Local, false));
            assert_eq!(
                ids(&r),
                (
                    vec!["rp-not-registered"],
                    vec!["register-hybridconnectivity", "restart-hybrid-agent-web-01"]
                )
            );
            assert_eq!(r.steps[0].automatic, automatic, "{may:?}");
            assert_eq!(
                r.findings[0].target.to_string(),
                format!("/subscriptions/{SUB}")
            );
            assert_eq!(r.steps[1].depends_on, ["register-hybridconnectivity"]);
        }
    }

    #[test]
    fn the_ssh_port_is_enabled_by_arcfix_or_by_an_administrator() {
        let (id, c) = (machine(), caller());
        let (owner, reader) = (owner(), allow(&["*/read"], &[]));
        let endpoint_writer = allow(&["*/read", ENDPOINT_WRITE], &[]);
        type Case<'a> = (
            &'a [Permission],
            bool,
            Option<ServiceConfiguration>,
            bool,
            &'a [&'a str],
            &'a str,
        );
        let cases: &[Case] = &[
            // perms, endpoint, config, unregistered, steps, evidence
            (
                &owner,
                true,
                Some(config(Some(22), Some("Succeeded"))),
                false,
                &[],
                "",
            ),
            (
                &owner,
                false,
                None,
                false,
                &["create-default-endpoint-web-01", "enable-ssh-port-web-01"],
                "has no default connectivity endpoint",
            ),
            (
                &owner,
                true,
                None,
                false,
                &["enable-ssh-port-web-01"],
                "has no SSH service configuration",
            ),
            (
                &owner,
                true,
                Some(config(Some(2222), None)),
                false,
                &["enable-ssh-port-web-01"],
                "enabled on port 2222 of web-01, not on 22",
            ),
            (
                &owner,
                true,
                Some(config(Some(22), Some("Failed"))),
                false,
                &["enable-ssh-port-web-01"],
                "is Failed",
            ),
            (
                &owner,
                false,
                None,
                true,
                &["create-default-endpoint-web-01", "enable-ssh-port-web-01"],
                "no default",
            ),
            (&reader, false, None, false, &[], "no default"),
            (&endpoint_writer, true, None, false, &[], "no SSH service"),
        ];
        for (perms, endpoint_exists, config, unregistered, steps, evidence) in cases {
            let f = Facts {
                endpoint: if *endpoint_exists {
                    Seen::There(())
                } else {
                    Seen::Absent
                },
                config: config.clone().map_or(Seen::Absent, Seen::There),
                provider: Seen::There(
                    if *unregistered {
                        "NotRegistered"
                    } else {
                        "Registered"
                    }
                    .into(),
                ),
                ..healthy(&id, &c, perms)
            };
            let w = wanted(Login::Local, false);
            let r = run(ssh_port_not_enabled, &f, &w);
            assert_eq!(ids(&r).1, *steps, "{evidence}");
            if evidence.is_empty() {
                assert!(r.findings.is_empty());
                continue;
            }
            assert!(
                r.findings[0].evidence.contains(evidence),
                "{:?}",
                r.findings
            );
            assert_eq!(r.findings[0].fix == FixKind::Auto, !steps.is_empty());
            if *unregistered {
                assert_eq!(r.steps[0].depends_on, ["register-hybridconnectivity"]);
            }
            // The administrator's way exactly when arcfix may not.
            let admin = run(endpoint_permission_missing, &f, &w);
            assert_eq!(admin.steps.is_empty(), !steps.is_empty(), "{evidence}");
            if let Some(s) = admin.steps.first() {
                assert_eq!(s.id, "grant-endpoint-rights-web-01");
                assert_eq!(
                    s.description.contains("/endpoints/default?"),
                    !endpoint_exists
                );
                assert!(
                    s.command.contains("--assignee-object-id 0000aaaa-"),
                    "{}",
                    s.command
                );
            }
        }
    }

    #[test]
    fn an_agent_in_monitor_mode_is_a_manual_step_on_the_server_and_no_extension_is_written() {
        let (id, c, p) = (machine(), caller(), owner());
        let f = Facts {
            config_mode: Seen::There("Monitor".into()),
            entra_extension: Seen::Absent,
            ..healthy(&id, &c, &p)
        };
        let r = run(agent_monitor_mode, &f, &wanted(Login::Entra, false));
        assert_eq!(ids(&r).0, ["agent-monitor-mode"]);
        assert!(!r.steps[0].automatic);
        assert_eq!(
            r.steps[0].command,
            "sudo azcmagent config set config.mode full"
        );
        assert!(r.findings[0].evidence.contains("monitor mode"), "{r:?}");
        // The Entra extension is still missing, but its PUT would be refused.
        let r = run(entra_extension_missing, &f, &wanted(Login::Entra, false));
        assert_eq!(ids(&r).0, ["entra-extension-missing"]);
        assert!(r.steps.iter().all(|s| !s.automatic), "{r:?}");
        // Full mode, or a mode Azure did not show: nothing claimed.
        for mode in [
            Seen::There("full".to_string()),
            Seen::Unknown(Why::Unread("no configMode".into())),
        ] {
            let f = Facts {
                config_mode: mode,
                ..healthy(&id, &c, &p)
            };
            assert!(
                run(agent_monitor_mode, &f, &wanted(Login::Local, false))
                    .findings
                    .is_empty()
            );
        }
    }

    /// Every fact unread, for a reason each: no check claims anything.
    #[test]
    fn an_agent_that_refuses_the_entra_extension_is_named_with_its_list_and_nothing_is_written() {
        let (id, c, p) = (machine(), caller(), owner());
        let entra = "Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux";
        let monitor = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent";
        let cases: [(ExtensionRules, &[&str], &str); 4] = [
            (
                rules(false, &[], &[]),
                &["extensions-disabled"],
                "sudo azcmagent config set extensions.enabled true",
            ),
            (
                rules(true, &[monitor], &[]),
                &["entra-extension-blocked"],
                "sudo azcmagent config set extensions.allowlist Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux --add",
            ),
            (
                rules(
                    true,
                    &[],
                    &["microsoft.azure.activedirectory/aadsshloginforlinux"],
                ),
                &["entra-extension-blocked"],
                "sudo azcmagent config set extensions.blocklist microsoft.azure.activedirectory/aadsshloginforlinux --remove",
            ),
            (
                rules(true, &[monitor], &[entra]),
                &["entra-extension-blocked"],
                "sudo azcmagent config set extensions.allowlist Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux --add && sudo azcmagent config set extensions.blocklist Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux --remove",
            ),
        ];
        for (rules, problems, command) in cases {
            let f = Facts {
                entra_extension: Seen::Absent,
                extension_rules: rules,
                ..healthy(&id, &c, &p)
            };
            let w = wanted(Login::Entra, false);
            let mut r = Report::default();
            for (_, check) in CHECKS {
                check(&f, &w, &mut r);
            }
            let found: Vec<&str> = r.findings.iter().map(|x| x.id.as_str()).collect();
            let mut expected = problems.to_vec();
            expected.push("entra-extension-missing");
            assert_eq!(found, expected, "{r:?}");
            assert_eq!(r.steps[0].command, command);
            assert!(!r.steps[0].automatic);
            // The install stays in the plan, for a person, after the agent admits it.
            let install = r
                .steps
                .iter()
                .find(|s| s.id == "install-entra-extension-web-01")
                .unwrap();
            assert!(
                !install.automatic && install.action == Action::Manual,
                "{install:?}"
            );
            assert_eq!(r.findings[1].fix, FixKind::Manual);
        }
        // The finding names the list and its entries.
        let f = Facts {
            entra_extension: Seen::There(extension("Failed")),
            extension_rules: rules(true, &[monitor], &[]),
            ..healthy(&id, &c, &p)
        };
        let r = run(entra_extension_blocked, &f, &wanted(Login::Entra, false));
        assert!(
            r.findings[0].evidence.contains("allow list (agentConfiguration.extensionsAllowList in Azure: Microsoft.Azure.Monitor/AzureMonitorLinuxAgent)"),
            "{r:?}"
        );
        // Local login, a provisioned extension, Windows, or monitor mode (its
        // own finding): nothing claimed of the lists.
        let quiet = [
            (
                Facts {
                    extension_rules: rules(false, &[monitor], &[entra]),
                    ..healthy(&id, &c, &p)
                },
                Login::Entra,
            ),
            (
                Facts {
                    entra_extension: Seen::Absent,
                    extension_rules: rules(false, &[monitor], &[entra]),
                    ..healthy(&id, &c, &p)
                },
                Login::Local,
            ),
            (
                Facts {
                    windows: true,
                    entra_extension: Seen::Absent,
                    extension_rules: rules(false, &[monitor], &[entra]),
                    ..healthy(&id, &c, &p)
                },
                Login::Entra,
            ),
            (
                Facts {
                    config_mode: Seen::There("monitor".into()),
                    entra_extension: Seen::Absent,
                    extension_rules: rules(false, &[monitor], &[entra]),
                    ..healthy(&id, &c, &p)
                },
                Login::Entra,
            ),
        ];
        for (f, login) in quiet {
            for check in [extensions_disabled, entra_extension_blocked] {
                let r = run(check, &f, &wanted(login, false));
                assert!(r.findings.is_empty() && r.steps.is_empty(), "{r:?}");
            }
        }
        // Rules that could not be read: the install stays automatic (as
        // before), and what was not judged is said.
        let f = Facts {
            entra_extension: Seen::Absent,
            extension_rules: ExtensionRules::of(None),
            ..healthy(&id, &c, &p)
        };
        let r = run(entra_extension_missing, &f, &wanted(Login::Entra, false));
        assert!(r.steps[0].automatic, "{r:?}");
        assert!(
            r.unread.iter().any(|u| u
                .reason
                .contains("admits the AADSSHLoginForLinux extension was not judged")),
            "{r:?}"
        );
    }

    #[test]
    fn no_check_claims_a_problem_from_facts_that_could_not_be_read() {
        let (id, c, owner) = (machine(), caller(), owner());
        let unread = || Why::Unread("503 ServiceUnavailable".into());
        let f = Facts {
            status: Seen::Unknown(unread()),
            perms: Seen::Unknown(unread()),
            provider: Seen::Unknown(unread()),
            may_register: Seen::Unknown(unread()),
            endpoint: Seen::Unknown(unread()),
            config: Seen::Unknown(unread()),
            entra_extension: Seen::Unknown(unread()),
            config_mode: Seen::Unknown(unread()),
            agent_ports: Seen::Unknown(unread()),
            extension_rules: ExtensionRules {
                enabled: Seen::Unknown(unread()),
                allow: Seen::Unknown(unread()),
                block: Seen::Unknown(unread()),
            },
            agent_version: None,
            ..healthy(&id, &c, &owner)
        };
        for login in [Login::Local, Login::Entra] {
            for from in [PortFrom::Default, PortFrom::Tag, PortFrom::Flag] {
                let w = Wanted {
                    from,
                    ..wanted(login, true)
                };
                for (problem, check) in CHECKS {
                    let r = run(*check, &f, &w);
                    assert!(
                        r.findings.is_empty() && r.steps.is_empty(),
                        "{problem} claimed from unread facts: {r:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_could_not_be_read_before_the_registration_is_never_claimed_missing() {
        let (id, c, owner) = (machine(), caller(), owner());
        let f = Facts {
            provider: Seen::There("NotRegistered".into()),
            endpoint: Seen::Unknown(Why::UntilRegistered),
            config: Seen::Unknown(Why::UntilRegistered),
            ..healthy(&id, &c, &owner)
        };
        for port_given in [false, true] {
            let w = Wanted {
                from: if port_given {
                    PortFrom::Flag
                } else {
                    PortFrom::Default
                },
                ..wanted(Login::Local, false)
            };
            let r = run(ssh_port_not_enabled, &f, &w);
            // No finding rests on the 409: what is unknown is said as not checked.
            assert!(r.findings.is_empty(), "{:?}", r.findings);
            assert_eq!(r.unread.len(), 1, "{:?}", r.unread);
            assert!(!r.unread[0].error);
            assert!(r.unread[0].reason.contains("cannot be read until"));
            // The steps are conditional, after the registration, and decided by their re-check.
            assert_eq!(
                ids(&r).1,
                ["create-default-endpoint-web-01", "enable-ssh-port-web-01"]
            );
            assert!(r.steps[0].description.contains("if it is missing once"));
            assert_eq!(r.steps[0].depends_on, ["register-hybridconnectivity"]);
            assert_eq!(
                r.steps[1].goal,
                Goal::ServiceConfigPort {
                    machine: id.to_string(),
                    port: 22,
                    any_port: !port_given
                }
            );
            assert!(run(endpoint_permission_missing, &f, &w).findings.is_empty());
        }
        // A read that failed for another reason: nothing claimed, nothing planned.
        let f = Facts {
            endpoint: Seen::Unknown(Why::Unread("500".into())),
            config: Seen::Unknown(Why::Unread("500".into())),
            ..healthy(&id, &c, &owner)
        };
        let r = run(ssh_port_not_enabled, &f, &wanted(Login::Local, false));
        assert!(r.findings.is_empty() && r.steps.is_empty(), "{r:?}");
    }

    #[test]
    fn a_port_seen_in_azure_is_changed_only_when_one_was_chosen() {
        let (id, c, owner) = (machine(), caller(), owner());
        let f = Facts {
            config: Seen::There(config(Some(2222), Some("Succeeded"))),
            ..healthy(&id, &c, &owner)
        };
        let unchosen = Wanted {
            from: PortFrom::Default,
            ..wanted(Login::Local, false)
        };
        let r = run(ssh_port_not_enabled, &f, &unchosen);
        assert_eq!(
            ids(&r),
            (vec!["ssh-port-not-enabled"], vec!["choose-ssh-port-web-01"])
        );
        assert_eq!(r.findings[0].fix, FixKind::Manual);
        assert!(
            r.findings[0]
                .evidence
                .contains("port 2222 of web-01, not on 22")
        );
        assert!(!r.steps[0].automatic);
        for choice in ["--port 2222", "--port 22", "SSHPort=2222"] {
            assert!(
                format!("{} {}", r.steps[0].description, r.steps[0].command).contains(choice),
                "{choice}: {:?}",
                r.steps[0]
            );
        }
        assert!(
            run(endpoint_permission_missing, &f, &unchosen)
                .steps
                .is_empty()
        );
        // --port 22: the change, and its undo puts 2222 back.
        let r = run(ssh_port_not_enabled, &f, &wanted(Login::Local, false));
        let step = &r.steps[0];
        assert!(step.automatic && step.description.contains("from 2222 to 22"));
        let undo = step.undo.as_deref().unwrap_or_default();
        assert!(
            undo.contains("--method put") && undo.contains(r#""port":2222"#),
            "{undo}"
        );
        // Created from nothing: its undo deletes it.
        let f = Facts {
            config: Seen::Absent,
            ..healthy(&id, &c, &owner)
        };
        let r = run(ssh_port_not_enabled, &f, &unchosen);
        assert!(r.steps[0].automatic);
        assert!(
            r.steps[0]
                .undo
                .as_deref()
                .unwrap_or_default()
                .contains("--method delete")
        );
    }

    #[test]
    fn windows_gets_the_local_login_role_even_when_entra_was_asked_for() {
        let (id, c) = (machine(), caller());
        let can_assign = allow(&["*/read", ROLE_WRITE], &[]);
        let f = Facts {
            windows: true,
            ..healthy(&id, &c, &can_assign)
        };
        let r = run(login_role_missing, &f, &wanted(Login::Entra, true));
        assert_eq!(r.steps.len(), 1, "{r:?}");
        let Action::Arm {
            body: Some(body), ..
        } = &r.steps[0].action
        else {
            panic!("{:?}", r.steps[0]);
        };
        let role = body["properties"]["roleDefinitionId"].as_str().unwrap();
        assert!(role.ends_with(rbac::VM_LOCAL_USER_LOGIN.guid), "{role}");
        assert!(
            r.steps[0]
                .description
                .contains(rbac::VM_LOCAL_USER_LOGIN.name)
        );
    }

    #[test]
    fn an_old_agent_with_a_service_configuration_is_flagged() {
        let (id, c, p) = (machine(), caller(), owner());
        for (version, config, flagged) in [
            (Some("1.30.02430.1234"), true, true),
            (Some("1.31.0"), true, false),
            (Some("1.30.0"), false, false),
            (None, true, false),
        ] {
            let f = Facts {
                agent_version: version.map(String::from),
                config: if config {
                    Seen::There(self::config(Some(22), None))
                } else {
                    Seen::Absent
                },
                ..healthy(&id, &c, &p)
            };
            let r = run(service_config_outdated, &f, &wanted(Login::Local, false));
            assert_eq!(!r.findings.is_empty(), flagged, "{version:?} {config}");
            if flagged {
                assert_eq!(r.steps[1].depends_on, ["upgrade-agent-web-01"]);
            }
        }
    }

    #[test]
    fn login_roles_follow_the_login_and_grant_roles() {
        let (id, c) = (machine(), caller());
        let reader = allow(&["*/read"], &[]);
        let can_assign = allow(&["*/read", ROLE_WRITE], &[]);
        let local_user = allow(&["*/read", LIST_CREDENTIALS], &[]);
        // perms, login, --grant-roles, (what is lacking, automatic)
        type Case<'a> = (&'a [Permission], Login, bool, Option<(&'a str, bool)>);
        let cases: &[Case] = &[
            (&local_user, Login::Local, false, None),
            (
                &local_user,
                Login::Entra,
                false,
                Some(("login/action", false)),
            ),
            (
                &reader,
                Login::Local,
                false,
                Some(("listCredentials", false)),
            ),
            (
                &can_assign,
                Login::Local,
                false,
                Some(("listCredentials", false)),
            ),
            (
                &can_assign,
                Login::Local,
                true,
                Some(("listCredentials", true)),
            ),
            (
                &reader,
                Login::Local,
                true,
                Some(("listCredentials", false)),
            ),
        ];
        for (perms, login, grant, want) in cases {
            let f = healthy(&id, &c, perms);
            let r = run(login_role_missing, &f, &wanted(*login, *grant));
            match want {
                None => assert!(r.findings.is_empty(), "{r:?}"),
                Some((lacks, automatic)) => {
                    assert!(r.findings[0].evidence.contains(lacks), "{:?}", r.findings);
                    assert_eq!(r.steps[0].automatic, *automatic);
                    let role = if *login == Login::Entra {
                        "Virtual Machine User Login"
                    } else {
                        "Virtual Machine Local User Login"
                    };
                    assert!(r.steps[0].command.contains(role), "{}", r.steps[0].command);
                }
            }
        }
        // Unreadable permissions: nothing is claimed.
        let f = Facts {
            perms: Seen::Unknown(Why::Unread("403".into())),
            ..healthy(&id, &c, &reader)
        };
        assert!(
            run(login_role_missing, &f, &wanted(Login::Local, true))
                .findings
                .is_empty()
        );
    }

    #[test]
    fn entra_login_needs_linux_and_a_succeeded_extension() {
        let (id, c, p) = (machine(), caller(), owner());
        let cases = [
            (false, Some("Succeeded"), "Connected", None),
            (
                false,
                Some("Failed"),
                "Connected",
                Some(("entra-extension-missing", true)),
            ),
            (
                false,
                None,
                "Connected",
                Some(("entra-extension-missing", true)),
            ),
            (
                false,
                None,
                "Disconnected",
                Some(("entra-extension-missing", false)),
            ),
            (
                true,
                None,
                "Connected",
                Some(("entra-unsupported-on-windows", false)),
            ),
        ];
        for (windows, state, status, want) in cases {
            let f = Facts {
                windows,
                status: Seen::There(status.into()),
                entra_extension: state.map_or(Seen::Absent, |s| Seen::There(extension(s))),
                ..healthy(&id, &c, &p)
            };
            let mut r = run(
                entra_unsupported_on_windows,
                &f,
                &wanted(Login::Entra, false),
            );
            entra_extension_missing(&f, &wanted(Login::Entra, false), &mut r);
            match want {
                None => assert!(r.findings.is_empty(), "{r:?}"),
                Some((problem, automatic)) => {
                    assert_eq!(ids(&r).0, [problem]);
                    assert_eq!(r.steps[0].automatic, automatic, "{status}");
                }
            }
            // Local logins never need the extension.
            let mut r = run(
                entra_unsupported_on_windows,
                &f,
                &wanted(Login::Local, false),
            );
            entra_extension_missing(&f, &wanted(Login::Local, false), &mut r);
            assert!(r.findings.is_empty());
        }
    }

    #[test]
    fn the_agents_ports_in_azure_without_the_ssh_port_are_a_manual_step_keeping_the_others() {
        let (id, c, owner) = (machine(), caller(), owner());
        let ports = |list: &[&str]| {
            let mut o = Observed {
                machine: Default::default(),
                provider: Ok(Default::default()),
                permissions: Ok(vec![]),
                endpoint: Ok(None),
                service_config: Ok(None),
                extensions: None,
                may_register: None,
            };
            o.machine.properties.agent_configuration =
                Some(crate::azure::models::AgentConfiguration {
                    incoming_connections_ports: Some(list.iter().map(|s| s.to_string()).collect()),
                    ..Default::default()
                });
            agent_ports(&o)
        };
        // Empty allows every port; a range holds the port; an odd entry claims nothing.
        for allowed in [&[][..], &["22"], &["8000-8100", "20-30"]] {
            let f = Facts {
                agent_ports: ports(allowed),
                ..healthy(&id, &c, &owner)
            };
            assert!(
                run(agent_port_not_allowed, &f, &wanted(Login::Local, false))
                    .findings
                    .is_empty(),
                "{allowed:?}"
            );
        }
        let f = Facts {
            agent_ports: ports(&["22", "rm -rf"]),
            ..healthy(&id, &c, &owner)
        };
        assert!(matches!(f.agent_ports, Seen::Unknown(_)));
        assert!(
            run(agent_port_not_allowed, &f, &wanted(Login::Local, false))
                .findings
                .is_empty()
        );
        // 6516 and a range, not 22: the command keeps both, quoted nowhere because all are numbers.
        let f = Facts {
            agent_ports: ports(&["6516", "8000-8100"]),
            ..healthy(&id, &c, &owner)
        };
        let r = run(agent_port_not_allowed, &f, &wanted(Login::Local, false));
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0]
                .evidence
                .contains("ports 6516, 8000-8100 only, not 22"),
            "{}",
            r.findings[0].evidence
        );
        assert_eq!(
            r.steps[0].command,
            "sudo azcmagent config set incomingconnections.ports 6516,8000-8100,22"
        );
        assert!(!r.steps[0].automatic);
        assert!(r.steps[0].description.contains("arcfix apply --remote"));
        let windows = Facts {
            windows: true,
            agent_ports: ports(&["6516"]),
            ..healthy(&id, &c, &owner)
        };
        let r = run(
            agent_port_not_allowed,
            &windows,
            &wanted(Login::Local, false),
        );
        assert_eq!(
            r.steps[0].command,
            "azcmagent config set incomingconnections.ports 6516,22"
        );
    }

    #[test]
    fn an_ssh_port_tag_is_taken_as_az_ssh_arc_takes_it() {
        use crate::target::ArcKind;
        let tags = |v: &str| {
            [(SSH_PORT_TAG.to_string(), v.to_string())]
                .into_iter()
                .collect()
        };
        assert_eq!(
            PortTag::of(ArcKind::Machine, &Default::default()),
            PortTag::Absent
        );
        // az ssh arc reads no tag of SCVMM or Azure Local VMs; VMware's it does.
        assert_eq!(
            PortTag::of(ArcKind::ScvmmVm, &tags("2222")),
            PortTag::Absent
        );
        assert_eq!(PortTag::of(ArcKind::HciVm, &tags("2222")), PortTag::Absent);
        assert_eq!(
            PortTag::of(ArcKind::VmwareVm, &tags("2222")),
            PortTag::Port(2222)
        );
        assert_eq!(
            PortTag::of(ArcKind::Machine, &tags("2222")),
            PortTag::Port(2222)
        );
        assert_eq!(
            PortTag::of(ArcKind::Machine, &tags("022")),
            PortTag::Port(22)
        );
        assert_eq!(
            PortTag::of(ArcKind::Machine, &tags("65534")),
            PortTag::Port(65534)
        );
        // Another key's case is another tag to az (a Python dict lookup).
        let other: std::collections::BTreeMap<String, String> =
            [("sshport".to_string(), "2222".to_string())]
                .into_iter()
                .collect();
        assert_eq!(PortTag::of(ArcKind::Machine, &other), PortTag::Absent);
        for bad in ["", "abc", "65535", "70000", "0", "-22", " 22", "22 ", "²"] {
            assert!(
                matches!(
                    PortTag::of(ArcKind::Machine, &tags(bad)),
                    PortTag::Invalid(_)
                ),
                "{bad:?}"
            );
        }
        // What Azure sent is made safe before a terminal sees it.
        let PortTag::Invalid(shown) = PortTag::of(ArcKind::Machine, &tags("\u{1b}[2Jx")) else {
            panic!()
        };
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
    }

    #[test]
    fn an_ssh_port_tag_that_is_no_port_or_another_port_is_a_manual_step_with_both_ways_out() {
        let (id, c, owner) = (machine(), caller(), owner());
        let by_tag = |port| Wanted {
            port,
            from: PortFrom::Tag,
            ..wanted(Login::Local, false)
        };
        // The tag agrees with the service configuration: nothing.
        let f = Facts {
            port_tag: PortTag::Port(22),
            ..healthy(&id, &c, &owner)
        };
        assert!(run(ssh_port_tag, &f, &by_tag(22)).findings.is_empty());
        // The tag says 2222, SSH through Arc is on 22: one finding, from this check only.
        let f = Facts {
            port_tag: PortTag::Port(2222),
            ..healthy(&id, &c, &owner)
        };
        let r = run(ssh_port_tag, &f, &by_tag(2222));
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert!(
            r.findings[0].evidence.contains("says 2222")
                && r.findings[0].evidence.contains("enabled on port 22")
        );
        assert!(r.steps[0].description.contains("arcfix apply --port 2222"));
        assert!(
            r.steps[0]
                .command
                .ends_with("--operation merge --tags SSHPort=22"),
            "{}",
            r.steps[0].command
        );
        assert!(!r.steps[0].automatic);
        let r = run(ssh_port_not_enabled, &f, &by_tag(2222));
        assert!(
            r.findings.is_empty() && r.steps.is_empty(),
            "said once: {r:?}"
        );
        // No service configuration: the tag's port is the one to enable (automatic, by the port check).
        let f = Facts {
            port_tag: PortTag::Port(2222),
            config: Seen::Absent,
            ..healthy(&id, &c, &owner)
        };
        assert!(run(ssh_port_tag, &f, &by_tag(2222)).findings.is_empty());
        let r = run(ssh_port_not_enabled, &f, &by_tag(2222));
        assert!(
            r.steps.iter().any(|s| s.goal
                == Goal::ServiceConfigPort {
                    machine: id.to_string(),
                    port: 2222,
                    any_port: true
                }),
            "{r:?}"
        );
        // Not a port: az ssh arc stops; the tag can be set to the port that works.
        let f = Facts {
            port_tag: PortTag::Invalid("ssh".into()),
            ..healthy(&id, &c, &owner)
        };
        let default = Wanted {
            from: PortFrom::Default,
            ..wanted(Login::Local, false)
        };
        let r = run(ssh_port_tag, &f, &default);
        assert!(
            r.findings[0]
                .evidence
                .contains("is 'ssh', which is not a port"),
            "{r:?}"
        );
        assert!(r.steps[0].command.ends_with("SSHPort=22"));
        // --port wins over the tag, as in az ssh arc: no finding.
        assert!(
            run(ssh_port_tag, &f, &wanted(Login::Local, false))
                .findings
                .is_empty()
        );
    }
}
