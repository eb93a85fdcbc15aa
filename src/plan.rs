//! Findings, steps and plans: the data that flows from the checks to `apply`,
//! and the saved-plan file with its fingerprint (Terraform's stale-plan rule).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::target::Target;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixKind {
    Auto,
    Manual,
}

/// One problem seen, with what showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub target: Target,
    pub title: String,
    pub evidence: String,
    pub fix: FixKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Planned,
    Applied,
    AlreadySatisfied,
    Failed,
    Manual,
    Skipped,
    /// A saved-plan step the fresh detection no longer plans: not re-checked
    /// and never acted on (the detection just made saw no need for it).
    NotNeeded,
}

/// A step's goal: the state its precondition re-check and its verification
/// look at. `true` from `satisfied` means the step has nothing (more) to do.
/// (Saved plans and the JSON output call it `check`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Goal {
    /// Nothing a program can observe (manual steps).
    None,
    /// ssh and ssh-keygen are found (in `folder` when given, else as the clients look).
    ClientBinaries { folder: Option<PathBuf> },
    /// An Az.Ssh.ArcProxy 1.x is installed in the module folders.
    ArcProxyInstalled,
    /// The proxy file is executable by this user.
    ProxyExecutable { path: PathBuf },
    /// Every proxy file of the installed Az.Ssh.ArcProxy 1.x versions is executable.
    ModuleProxiesExecutable,
    /// The resource provider is registered in the subscription.
    ProviderRegistered {
        subscription: String,
        namespace: String,
    },
    /// The machine's default connectivity endpoint exists.
    EndpointExists { machine: String },
    /// The SSH service configuration exists with this port. `any_port`: no
    /// port was chosen (`--port`), so one on another port is left as it is.
    ServiceConfigPort {
        machine: String,
        port: u16,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        any_port: bool,
    },
    /// A role assignment of this role for this principal exists at this scope.
    RoleAssigned {
        scope: String,
        role: String,
        principal: String,
    },
    /// The machine extension exists and provisioned successfully.
    ExtensionSucceeded { machine: String, name: String },
    /// A fact of the Arc-enabled server: this machine (`machine` None) or a
    /// remote one observed through Run Command.
    Server {
        machine: Option<Remote>,
        fact: ServerFact,
        port: u16,
    },
    /// A restart: never satisfied beforehand, verified by the command's success.
    Restarted,
    /// The Azure CLI's ssh extension is 2.0.4 or later, or not installed
    /// (read from its folder).
    AzSshExtensionCurrent,
    /// An Azure Policy resource of arcfix's (definition, set, assignment)
    /// exists and carries every value of `wanted` (ARM adds its own).
    PolicyResource {
        path: String,
        api_version: String,
        wanted: serde_json::Value,
        /// An assignment: nothing that narrows it either (excluded scopes,
        /// overrides, resource selectors), which arcfix never sets.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unnarrowed: bool,
    },
    /// The system-assigned identity of the policy assignment `assignment`
    /// holds `role` (a role definition's GUID) at `scope` or above.
    PolicyIdentityRole {
        assignment: String,
        #[serde(with = "role_guid")]
        role: crate::vocab::RemediationRole,
        scope: String,
    },
    /// For the definition `reference` of the assignment: a remediation task
    /// is under way, or every resource was evaluated compliant (after a
    /// remediation, or with none non-compliant among those evaluated).
    PolicyRemediated {
        scope: String,
        assignment: String,
        reference: crate::vocab::PolicyRule,
        /// The task this run starts: once it exists, under way or done, the
        /// goal holds (read by its name, not found in a list that may lag).
        name: String,
        /// This run changes the definitions, the set or the assignment:
        /// compliance and tasks from before say nothing about the new
        /// version, and only this run's task meets the goal.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fresh: bool,
        /// When the definitions, the set or the assignment last changed
        /// (RFC 3339, from ARM's systemData): a task that ended before does
        /// not count.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changed: Option<String>,
    },
}

/// A remediation role as its role definition's GUID in a plan's JSON.
mod role_guid {
    use crate::vocab::RemediationRole;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &RemediationRole, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.guid())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RemediationRole, D::Error> {
        let guid = String::deserialize(d)?;
        RemediationRole::of_guid(&guid).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{}' is not a role arcfix gives a policy identity",
                crate::text::sanitize(&guid)
            ))
        })
    }
}

/// An Arc machine reached through Run Command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    pub id: String,
    pub location: String,
    pub windows: bool,
}

/// What `Goal::Server` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerFact {
    SshdInstalled,
    SshAnswers,
    AgentIncomingEnabled,
    AgentPortAllowed,
}

/// What a step does. Data only: `apply` performs it behind one gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A person must do it: `Step::command` says how.
    Manual,
    /// Add the execute bits where read is allowed, without following links.
    AddExecuteBits { path: PathBuf },
    /// Add the execute bits to this user's proxy files of the installed
    /// Az.Ssh.ArcProxy 1.x versions (found when the step runs).
    AddExecuteBitsToModuleProxies,
    /// Run this script on the machine through Arc Run Command.
    RunCommand {
        machine: Remote,
        verb: String,
        script: String,
    },
    /// Run a program with these arguments (never through a shell).
    Exec { program: String, args: Vec<String> },
    /// Add `port` to this server's agent `incomingconnections.ports`: the list
    /// is read again right before the write and once more afterwards, when
    /// every port allowed before must still be.
    AddAgentPort { port: u16 },
    /// Give the system-assigned identity of the policy assignment `assignment`
    /// the role `role` at `scope`: its principal id is read from the
    /// assignment, and must be a GUID, right before the write.
    GrantPolicyIdentity {
        assignment: String,
        #[serde(with = "role_guid")]
        role: crate::vocab::RemediationRole,
        scope: String,
    },
    /// Start the remediation task `name` at `scope` for the definition
    /// `reference` of the assignment, its resources found by re-evaluating
    /// compliance, at most `resource_count`, `parallel_deployments` at a time.
    StartRemediation {
        scope: String,
        name: String,
        assignment: String,
        reference: crate::vocab::PolicyRule,
        resource_count: u32,
        parallel_deployments: u32,
    },
    /// One ARM write. Error codes in `satisfied_by` mean the state is already there.
    Arm {
        method: String,
        path: String,
        api_version: String,
        body: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        satisfied_by: Vec<String>,
    },
}

/// Where on the SSH path a connection probe broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Credentials,
    Proxy,
    Relay,
    Server,
    Auth,
}

/// The stage's name, as the JSON document writes it.
pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Credentials => "credentials",
        Stage::Proxy => "proxy",
        Stage::Relay => "relay",
        Stage::Server => "server",
        Stage::Auth => "auth",
    }
}

/// What a step does: with its target, it is the step's identity. The step's
/// id (`enable-ssh-port-web-01`) is derived from both, for people and saved
/// plans, and never read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StepKind {
    // This machine's SSH client.
    FixSshClientFolder,
    UseSshClientFolder,
    InstallOpensshClient,
    InstallPwsh,
    InstallArcSshClient,
    InstallArcproxy,
    UpdateArcproxy,
    ChmodInstalledProxy,
    /// One proxy file, named by its path.
    Proxy {
        fix: ProxyFix,
        path: String,
    },
    UpdateAzSshExtension,
    // This machine as an Arc-enabled server.
    Server(ServerFix),
    RestartAgentHere,
    // Azure: a subscription's or a machine's.
    RegisterProvider,
    ReconnectAgent,
    /// The agent back to full mode, on the server (it was in monitor mode).
    AgentFullMode,
    /// The agent's extension manager enabled, on the server.
    EnableExtensions,
    /// The Entra login extension admitted by the agent's allow and block lists, on the server.
    AllowEntraExtension,
    RestartAgent,
    CreateEndpoint,
    EnableSshPort,
    ChooseSshPort,
    /// The machine's `SSHPort` tag and SSH through Arc brought to agree.
    FixPortTag,
    GrantEndpointRights,
    UpgradeAgent,
    RecreateSshConfig,
    AssignLoginRole,
    UseLocalLogin,
    InstallEntraExtension,
    /// Microsoft's WindowsOpenSSH extension, which installs and starts the OpenSSH server.
    InstallOpensshExtension,
    // An Arc machine's server, through Run Command.
    Remote(ServerFix),
    CheckServer,
    /// The manual step a failed connection probe points to (the problem's id).
    Connection(String),
    // `policy apply`: arcfix's Azure Policy initiative in a subscription.
    /// One of arcfix's policy definitions, created or brought up to date.
    PolicyDefinition(crate::vocab::PolicyRule),
    /// The policy set that groups them.
    PolicySet,
    /// The set's assignment at the scope, with a system-assigned identity.
    PolicyAssignment,
    /// A role the remediations need, given to the assignment's identity.
    PolicyIdentityRole(crate::vocab::RemediationRole),
    /// A remediation task for one DeployIfNotExists definition.
    PolicyRemediation(crate::vocab::PolicyRule),
    /// A step read from a saved plan: only ever compared, by its recorded
    /// id, with the steps a fresh detection plans.
    Saved,
}

/// What a step does to one proxy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyFix {
    CheckLink,
    Chmod,
    Grant,
    Unblock,
}

/// A fix of the SSH server, on this machine or through Run Command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerFix {
    InstallOpensshServer,
    StartSshd,
    AgentAllowIncoming,
    AgentAllowPort,
}

impl ServerFix {
    pub fn name(self) -> &'static str {
        match self {
            ServerFix::InstallOpensshServer => "install-openssh-server",
            ServerFix::StartSshd => "start-sshd",
            ServerFix::AgentAllowIncoming => "agent-allow-incoming",
            ServerFix::AgentAllowPort => "agent-allow-port",
        }
    }
}

impl StepKind {
    /// The kind's name: the step's id without the machine's name.
    pub fn name(&self) -> String {
        let fixed = match self {
            StepKind::FixSshClientFolder => "fix-ssh-client-folder",
            StepKind::UseSshClientFolder => "use-ssh-client-folder",
            StepKind::InstallOpensshClient => "install-openssh-client",
            StepKind::InstallPwsh => "install-pwsh",
            StepKind::InstallArcSshClient => "install-arc-ssh-client",
            StepKind::InstallArcproxy => "install-arcproxy",
            StepKind::UpdateArcproxy => "update-arcproxy",
            StepKind::ChmodInstalledProxy => "chmod-installed-proxy",
            StepKind::UpdateAzSshExtension => "update-az-ssh-extension",
            StepKind::Server(fix) => fix.name(),
            StepKind::RestartAgentHere => "restart-agent-here",
            StepKind::RegisterProvider => "register-hybridconnectivity",
            StepKind::ReconnectAgent => "reconnect-agent",
            StepKind::AgentFullMode => "agent-full-mode",
            StepKind::EnableExtensions => "enable-extensions",
            StepKind::AllowEntraExtension => "allow-entra-extension",
            StepKind::RestartAgent => "restart-hybrid-agent",
            StepKind::CreateEndpoint => "create-default-endpoint",
            StepKind::EnableSshPort => "enable-ssh-port",
            StepKind::ChooseSshPort => "choose-ssh-port",
            StepKind::FixPortTag => "fix-ssh-port-tag",
            StepKind::GrantEndpointRights => "grant-endpoint-rights",
            StepKind::UpgradeAgent => "upgrade-agent",
            StepKind::RecreateSshConfig => "recreate-ssh-config",
            StepKind::AssignLoginRole => "assign-login-role",
            StepKind::UseLocalLogin => "use-local-login",
            StepKind::InstallEntraExtension => "install-entra-extension",
            StepKind::InstallOpensshExtension => "install-openssh-extension",
            StepKind::CheckServer => "check-server",
            StepKind::Saved => "saved",
            StepKind::Proxy { fix, path } => {
                let base = match fix {
                    ProxyFix::CheckLink => "check-proxy-link",
                    ProxyFix::Chmod => "chmod-proxy",
                    ProxyFix::Grant => "grant-proxy",
                    ProxyFix::Unblock => "unblock-proxy",
                };
                // Several proxy files: eight characters of the path's digest tell them apart.
                return format!("{base}-{}", &fingerprint(std::slice::from_ref(path))[..8]);
            }
            StepKind::Remote(fix) => return format!("remote-{}", fix.name()),
            StepKind::PolicySet => "policy-set",
            StepKind::PolicyAssignment => "policy-assignment",
            StepKind::PolicyDefinition(rule) => {
                return format!("policy-definition-{}", rule.name());
            }
            StepKind::PolicyIdentityRole(role) => return format!("policy-role-{}", role.slug()),
            StepKind::PolicyRemediation(rule) => return format!("remediate-{}", rule.name()),
            StepKind::Connection(problem) => return format!("connection-{problem}"),
        };
        fixed.to_string()
    }

    /// Whether the id of a machine's step of this kind ends with the
    /// machine's name (all but the reconnection, which a person does once).
    fn names_machine(&self) -> bool {
        !matches!(self, StepKind::ReconnectAgent | StepKind::RegisterProvider)
    }

    /// The step's id: the kind's name, then, on a machine, `qualifier`
    /// (the machine's name, or more where names repeat in a fleet).
    pub fn id(&self, target: &Target, qualifier: Option<&str>) -> String {
        match (target, qualifier) {
            (Target::Machine(m), _) if self.names_machine() => {
                let q = qualifier
                    .map(str::to_string)
                    .unwrap_or_else(|| m.name.to_ascii_lowercase());
                format!("{}-{q}", self.name())
            }
            _ => self.name(),
        }
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for StepKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A sides of the SSH path as the verdicts name them: a `--checks` side, or
/// the connection probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Client,
    Azure,
    Server,
    Connection,
    /// arcfix's Azure Policy initiative in a subscription (`policy apply`).
    Policy,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Client => "client",
            Part::Azure => "azure",
            Part::Server => "server",
            Part::Connection => "connection",
            Part::Policy => "arcfix's Azure Policy initiative",
        }
    }
}

impl From<crate::target::Side> for Part {
    fn from(s: crate::target::Side) -> Part {
        match s {
            crate::target::Side::Client => Part::Client,
            crate::target::Side::Azure => Part::Azure,
            crate::target::Side::Server => Part::Server,
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One targeted machine's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Problems,
    Error,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Derived from `kind` and `target` (see `StepKind::id`).
    pub id: String,
    /// What the step does; a step read from a saved plan is `Saved`.
    #[serde(skip_deserializing, default = "saved_kind")]
    pub kind: StepKind,
    pub fixes: Vec<String>,
    pub target: Target,
    pub description: String,
    /// What a person would type to do the step by hand.
    pub command: String,
    pub automatic: bool,
    /// What it needs: `root`, `administrator`, a role, `pwsh`, `connected agent`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The precondition re-checked right before acting, in words.
    pub precondition: String,
    /// How the result is verified, in words.
    pub verification: String,
    /// The ids of `after`'s steps, derived with the step's own id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The kinds of step this one waits for: the one on the same target, or
    /// on the subscription the machine is in.
    #[serde(skip)]
    pub after: Vec<StepKind>,
    #[serde(rename = "check")]
    pub goal: Goal,
    pub action: Action,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How to undo the step, when its check knew what was there before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
}

fn saved_kind() -> StepKind {
    StepKind::Saved
}

impl Step {
    /// Names the step and its dependencies: `qualifier` is what follows the
    /// kind in the id of a machine's step (its name, or more in a fleet
    /// where names repeat).
    pub fn name(&mut self, qualifier: Option<&str>) {
        self.id = self.kind.id(&self.target, qualifier);
        let target = self.target.clone();
        self.depends_on = self
            .after
            .iter()
            .map(|k| k.id(&target, qualifier))
            .collect();
    }

    /// Whether this step is the `kind` this one waits for: the same kind,
    /// on its target or on the subscription it is in.
    pub fn is_prerequisite_of(&self, kind: &StepKind, target: &Target) -> bool {
        &self.kind == kind && self.target.covers(target)
    }

    /// The part of a step that must match between a saved plan and a fresh one.
    pub fn same_work(&self, other: &Step) -> bool {
        self.id == other.id
            && self.target == other.target
            && self.automatic == other.automatic
            && self.goal == other.goal
            && self.action == other.action
    }
}

/// An ordered plan, the unit that is printed, saved and applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub schema_version: u32,
    pub arcfix_version: String,
    /// What was checked: `local` and/or machine ids, comma-separated.
    pub target: String,
    pub created: String,
    /// Digest of what the probes observed.
    pub fingerprint: String,
    pub findings: Vec<Finding>,
    pub steps: Vec<Step>,
    /// Things worth saying that are not findings (skipped checks, hints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The sides whose every fact was read in this run (`client`, `azure`,
    /// `server`, `connection`): a "no problems" verdict is only about these.
    #[serde(default)]
    pub checked: Vec<Part>,
    /// What was not looked at, and why; `error` when a read failed.
    #[serde(default)]
    pub not_checked: Vec<NotChecked>,
    /// One verdict per targeted Arc machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<MachineVerdict>,
    /// The connection probes of this run (`--connect`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Fleet mode: how many machines were in scope and where they came from
    /// ("1,284 Arc machines in 3 subscriptions (Resource Graph)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The target options the plan was made with: `apply --plan` must be given
    /// the same. A plan saved before they were recorded has none, and is
    /// refused (its options are unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Options>,
}

/// The target options a plan is made with, as saved plans record them
/// (defined once, with their flags, in `target::Options`).
pub use crate::target::Options;

impl Options {
    /// The options a plan made for this request records.
    pub fn of(t: &crate::target::Request) -> Options {
        t.options.clone()
    }
}

/// One machine's connection verdict (`--connect`), as the JSON `connections`
/// list carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub target: Target,
    /// The server's SSH banner was seen: the path works end to end.
    pub ok: bool,
    pub banner: Option<String>,
    pub stage: Stage,
    pub evidence: String,
    /// The known problem the failure points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The port tried (`--port`, the machine's `SSHPort` tag, sshd's, or 22):
    /// the final probe of `apply --connect` tries the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A side that was not looked at, or not completely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotChecked {
    pub side: Part,
    pub reason: String,
    /// A read failed (the run exits 1), rather than the side not being chosen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
}

/// The verdict on one targeted machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineVerdict {
    pub id: crate::target::MachineId,
    pub status: Verdict,
    pub findings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Plan {
    pub fn new(
        target: String,
        findings: Vec<Finding>,
        steps: Vec<Step>,
        observations: &Observations,
        notes: Vec<String>,
    ) -> Plan {
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Plan {
            schema_version: SCHEMA_VERSION,
            arcfix_version: env!("CARGO_PKG_VERSION").to_string(),
            target,
            created,
            fingerprint: observations.fingerprint(),
            findings,
            steps,
            notes,
            checked: vec![],
            not_checked: vec![],
            machines: vec![],
            connections: vec![],
            scope: None,
            options: None,
        }
    }

    /// Whether some fact could not be read: no verdict may claim that side.
    pub fn incomplete(&self) -> bool {
        self.not_checked.iter().any(|n| n.error)
            || self.machines.iter().any(|m| m.status == Verdict::Error)
    }

    pub fn automatic_steps(&self) -> usize {
        self.steps.iter().filter(|s| s.automatic).count()
    }

    /// Saves the plan as JSON, readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_string_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        write_private(path, json.as_bytes())
            .map_err(|e| Error::io(format!("cannot write plan {}", path.display()), e))
    }

    /// Reads a saved plan; every defect is a one-line error.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read plan {}", path.display()), e))?;
        let value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::input(format!("plan {} is not valid JSON: {e}", path.display())))?;
        let schema = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                Error::input(format!(
                    "plan {} has no schema_version: not an arcfix plan",
                    path.display()
                ))
            })?;
        if schema > SCHEMA_VERSION as u64 {
            return Err(Error::input(format!(
                "plan {} was made with plan schema {schema}, newer than this arcfix understands ({SCHEMA_VERSION}); upgrade arcfix or make a new plan",
                path.display()
            )));
        }
        if schema < 1 {
            return Err(Error::input(format!(
                "plan {} has unknown schema {schema}",
                path.display()
            )));
        }
        serde_json::from_value(value).map_err(|e| {
            Error::input(format!(
                "plan {} is not a valid arcfix plan: {e}",
                path.display()
            ))
        })
    }
}

/// FNV-1a 64 over the sorted observations: stable across runs and platforms.
pub fn fingerprint(observations: &[String]) -> String {
    let mut sorted: Vec<&String> = observations.iter().collect();
    sorted.sort();
    format!("{:016x}", fnv(sorted.into_iter().map(String::as_str)))
}

/// What detection observed, for the plan's fingerprint only, kept small: a
/// fleet's hundreds of thousands. An observation longer than
/// [`Observations::LONG`] is kept as its first 60 characters and the digest
/// of the whole (`<head>#<fingerprint>`), and those heads (a machine's id
/// up to its resource group, the same for all its observations and its
/// neighbours') are kept once. The fingerprint is the one of the strings
/// themselves ([`fingerprint`]).
#[derive(Debug, Default)]
pub struct Observations {
    /// Short observations, whole, each once with how many times it was
    /// made (many machines say the same of their subscription).
    whole: std::collections::HashMap<String, u32>,
    /// How many short observations there are.
    wholes: usize,
    /// The heads of long ones, each once, and where each is.
    heads: Vec<String>,
    head_at: std::collections::HashMap<String, u32>,
    /// Long observations: their head, and the digest of the whole.
    digested: Vec<(u32, u64)>,
}

impl Observations {
    /// Longer than this, an observation is kept as its head and digest.
    pub const LONG: usize = 120;
    const HEAD: usize = 60;

    pub fn push(&mut self, o: String) {
        if o.len() <= Self::LONG {
            *self.whole.entry(o).or_default() += 1;
            self.wholes += 1;
            return;
        }
        let head: String = o.chars().take(Self::HEAD).collect();
        let digest = fnv(std::iter::once(o.as_str()));
        self.push_digested(head, digest);
    }

    fn push_digested(&mut self, head: String, digest: u64) {
        let at = match self.head_at.get(&head) {
            Some(&at) => at,
            None => {
                let at = self.heads.len() as u32;
                self.heads.push(head.clone());
                self.head_at.insert(head, at);
                at
            }
        };
        self.digested.push((at, digest));
    }

    pub fn extend(&mut self, other: Observations) {
        if self.is_empty() {
            // A fleet's are taken whole, not copied.
            *self = other;
            return;
        }
        for (o, n) in other.whole {
            *self.whole.entry(o).or_default() += n;
        }
        self.wholes += other.wholes;
        for (at, digest) in other.digested {
            self.push_digested(other.heads[at as usize].clone(), digest);
        }
    }

    pub fn len(&self) -> usize {
        self.wholes + self.digested.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `fingerprint` of the observations as strings, without making them.
    pub fn fingerprint(&self) -> String {
        // The heads in their order as strings: two long observations compare
        // by head, then by digest (16 hex digits of fixed width sort as numbers).
        let mut by_text: Vec<u32> = (0..self.heads.len() as u32).collect();
        by_text.sort_by(|a, b| self.heads[*a as usize].cmp(&self.heads[*b as usize]));
        let mut rank = vec![0u32; self.heads.len()];
        for (r, at) in by_text.into_iter().enumerate() {
            rank[at as usize] = r as u32;
        }
        #[derive(Clone, Copy)]
        enum One<'a> {
            Whole(&'a str),
            Digested(u32, u64),
        }
        let hex = |d: u64| format!("{d:016x}");
        let text = |o: &One| -> String {
            match o {
                One::Whole(s) => s.to_string(),
                One::Digested(at, d) => format!("{}#{}", self.heads[*at as usize], hex(*d)),
            }
        };
        let mut all: Vec<One> = self
            .whole
            .iter()
            .flat_map(|(s, &n)| std::iter::repeat_n(One::Whole(s), n as usize))
            .chain(self.digested.iter().map(|&(at, d)| One::Digested(at, d)))
            .collect();
        all.sort_by(|a, b| match (a, b) {
            (One::Whole(x), One::Whole(y)) => x.cmp(y),
            (One::Digested(x, dx), One::Digested(y, dy)) => {
                (rank[*x as usize], dx).cmp(&(rank[*y as usize], dy))
            }
            _ => text(a).cmp(&text(b)),
        });
        let mut h = FNV_START;
        for o in &all {
            match o {
                One::Whole(s) => h = fnv_from(h, [s.as_bytes()]),
                One::Digested(at, d) => {
                    let head = self.heads[*at as usize].as_bytes();
                    h = fnv_from(h, [head, b"#", hex(*d).as_bytes()]);
                }
            }
        }
        format!("{h:016x}")
    }
}

impl From<Vec<String>> for Observations {
    fn from(all: Vec<String>) -> Observations {
        let mut o = Observations::default();
        for s in all {
            o.push(s);
        }
        o
    }
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 on from `h` over one string made of `parts`, then its 0 terminator.
fn fnv_from<'a>(mut h: u64, parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    for b in parts.into_iter().flatten().copied().chain([0u8]) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 over strings in this order.
fn fnv<'a>(strings: impl IntoIterator<Item = &'a str>) -> u64 {
    strings
        .into_iter()
        .fold(FNV_START, |h, s| fnv_from(h, [s.as_bytes()]))
}

/// A name derived from its inputs, shaped as a GUID, so that the same role
/// assignment gets the same name in every plan (a re-PUT is then idempotent).
pub fn stable_guid(parts: &[&str]) -> String {
    let a = fingerprint(&[parts.join("\u{1}").to_ascii_lowercase()]);
    let b = fingerprint(&[format!("{}\u{2}", parts.join("\u{1}").to_ascii_lowercase())]);
    let s = format!("{a}{b}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &s[0..8],
        &s[8..12],
        &s[13..16],
        &s[17..20],
        &s[20..32]
    )
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        // A link at the plan's path is refused, not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // An existing file keeps its mode on open: tighten it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    /// The compact observations of a fleet fingerprint as the strings they
    /// stand for: long ones as `<first 60 characters>#<digest>`, sorted
    /// with the short ones.
    #[test]
    fn compact_observations_fingerprint_as_their_strings() {
        let id = |g: &str, m: usize| {
            format!(
                "machine /subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/{g}/providers/Microsoft.HybridCompute/machines/arc-{m:05}"
            )
        };
        let mut raw = vec![
            "client ssh=/usr/bin/ssh".to_string(),
            "machine /subscriptions/0 short".to_string(),
            "zzz".to_string(),
            format!("{}#ffff", "m".repeat(60)),
            format!("é{}", "x".repeat(130)),
        ];
        for m in 0..40 {
            for g in ["fleet-0-001", "fleet-0-000", "a"] {
                raw.push(format!("{} status=Connected os=linux", id(g, m)));
                raw.push(format!("{} endpoint=there", id(g, m)));
            }
        }
        // As `Report::observe` kept them before: each long one as its digest.
        let stored: Vec<String> = raw
            .iter()
            .map(|o| {
                if o.len() > 120 {
                    let head: String = o.chars().take(60).collect();
                    format!("{head}#{}", super::fingerprint(std::slice::from_ref(o)))
                } else {
                    o.clone()
                }
            })
            .collect();
        let mut compact = super::Observations::from(raw[..7].to_vec());
        let mut more = super::Observations::default();
        for o in &raw[7..] {
            more.push(o.clone());
        }
        compact.extend(more);
        assert_eq!(compact.len(), raw.len());
        assert_eq!(compact.fingerprint(), super::fingerprint(&stored));
        assert_ne!(
            compact.fingerprint(),
            super::Observations::from(raw[1..].to_vec()).fingerprint()
        );
    }

    use super::*;

    #[test]
    fn fingerprint_ignores_order_but_not_content() {
        let a = fingerprint(&["x=1".into(), "y=2".into()]);
        assert_eq!(a, fingerprint(&["y=2".into(), "x=1".into()]));
        assert_ne!(a, fingerprint(&["x=1".into(), "y=3".into()]));
        assert_ne!(
            fingerprint(&["ab".into(), "c".into()]),
            fingerprint(&["a".into(), "bc".into()])
        );
    }

    #[test]
    fn stable_guid_is_a_guid_and_stable() {
        let g = stable_guid(&["/subscriptions/x", "role", "principal"]);
        assert!(crate::target::is_guid(&g), "{g}");
        assert_eq!(g, stable_guid(&["/SUBSCRIPTIONS/X", "role", "principal"]));
        assert_ne!(g, stable_guid(&["/subscriptions/y", "role", "principal"]));
    }
}
