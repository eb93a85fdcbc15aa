//! Scenarios: the simulated Azure described as data (one JSON file each under
//! `src/sim/scenarios/`), parsed and checked before a simulator starts.
//!
//! A small one (every key but `name`, `tenant`, `caller`, `principals` and
//! `subscriptions` has a default; see the built-ins for all of them):
//!
//! ```json
//! {"name": "mine", "tenant": "5c1e3f2d-4b8a-4d6c-8e9f-6f5e4d3c2b1a", "caller": "0a1b…",
//!  "principals": [{"oid": "0a1b…", "upn": "alex@contoso.example"}],
//!  "subscriptions": [{"id": "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
//!    "providers": {"Microsoft.HybridConnectivity": "NotRegistered"}, "register_polls": 2,
//!    "resource_groups": [{"name": "arc-demo", "location": "eastus", "machines": [
//!      {"name": "web-01", "endpoint": {"ssh_port": 22}, "server": {"sshd_running": false}}]}]}],
//!  "role_assignments": [{"scope": "/subscriptions/3f2d…/resourceGroups/arc-demo",
//!    "role": "Owner", "principal": "0a1b…"}]}
//! ```
//!
//! Rights can be held through groups: a principal of type `Group` is given
//! members in `"groups": {"<group oid>": ["<member oid>", …]}` (or a member
//! lists it in its `member_of`); groups may be members of groups. Assignments
//! to a group apply to its members, transitively.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::sim::Knobs;
use crate::sim::rbac::{self, is_guid};
use crate::sim::route::ArcType;

/// A whole simulated environment: tenant, principals, subscriptions with their
/// resource groups and machines, role assignments, and how slow or faulty
/// things are. Keys are snake_case; the ARM spellings of machine fields
/// (`osType`, `incomingConnectionsPorts`, …) are accepted too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The `--port` `arcfix demo` runs this scenario with (22, as the demo
    /// chose before tags); null: none, so each machine's `SSHPort` tag or
    /// sshd decides, as without `--port`.
    #[serde(default = "demo_port")]
    pub demo_port: Option<u16>,
    /// The Entra tenant (GUID); tokens must carry it as `tid`.
    pub tenant: String,
    /// Object id of the principal the demo and tests act as.
    pub caller: String,
    pub principals: Vec<Principal>,
    /// Group object id → the object ids of its members (users, service
    /// principals or groups).
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentSpec>,
    /// Polls (operation status or GET) a run command stays `InProgress`; null: never finishes.
    #[serde(default = "one")]
    pub run_command_polls: Option<u32>,
    /// Every run command ends `Failed` with exit code 1 and changes nothing.
    #[serde(default)]
    pub run_command_fail: bool,
    /// GETs a newly put extension stays `Creating`; null: never finishes.
    #[serde(default = "one")]
    pub extension_polls: Option<u32>,
    /// HybridCompute errors use the unwrapped `{"code","message"}` shape seen in the wild.
    #[serde(default)]
    pub bare_hybridcompute_errors: bool,
    /// Items per page of list answers (then `nextLink`).
    #[serde(default = "page_size")]
    pub page_size: usize,
    /// Rows per Resource Graph page, at most (`$top` otherwise; then `$skipToken`).
    #[serde(default)]
    pub graph_page_size: Option<usize>,
    /// Machine ids Resource Graph still lists though ARM no longer has them
    /// (its index lags ARM: a machine deleted a moment ago).
    #[serde(default)]
    pub graph_ghosts: Vec<String>,
    /// Resource Graph's `totalRecords` counts this many rows more than its
    /// pages hold (a count that ran ahead of its results).
    #[serde(default)]
    pub graph_overcount: usize,
    /// Resource Graph answers 403 (a tenant that blocks it): clients must list with ARM.
    #[serde(default)]
    pub graph_refused: bool,
    /// A new policy assignment has no compliance states until an evaluation
    /// is triggered (`policyStates/latest/triggerEvaluation`: all its
    /// policies) or a remediation re-evaluates compliance (the policy it
    /// remediates), as in Azure, where the first evaluation comes some time
    /// after the assignment. False: states at once.
    #[serde(default)]
    pub policy_evaluation_pending: bool,
    #[serde(default)]
    pub knobs: Knobs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    pub oid: String,
    #[serde(default)]
    pub upn: String,
    /// `User`, `Group` or `ServicePrincipal`.
    #[serde(default = "user", alias = "principalType", alias = "type")]
    pub principal_type: String,
    /// For service principals: the application id and secret the token endpoint accepts.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Object ids of the groups this principal is a direct member of (the
    /// same as listing it under the scenario's `groups`).
    #[serde(default, alias = "memberOf")]
    pub member_of: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub id: String,
    #[serde(default = "subscription_name")]
    pub display_name: String,
    /// Namespace → `Registered` | `NotRegistered` | `Registering` | `Unregistered`.
    /// Microsoft.HybridCompute and Microsoft.HybridConnectivity default to `Registered`.
    #[serde(default)]
    pub providers: BTreeMap<String, String>,
    /// Provider GETs after `register` that still say `Registering`; 0: registered
    /// at once; null: never.
    #[serde(default = "one")]
    pub register_polls: Option<u32>,
    /// How calls to an unregistered provider fail.
    #[serde(default)]
    pub unregistered_error: UnregisteredError,
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnregisteredError {
    /// 409 with `details[].target` = the namespace.
    #[default]
    MissingSubscriptionRegistration,
    /// 400, as the SSH troubleshooting article shows.
    NoRegisteredProviderFound,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroup {
    pub name: String,
    #[serde(default = "eastus")]
    pub location: String,
    #[serde(default)]
    pub machines: Vec<Machine>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub name: String,
    /// Its resource type, as `az ssh arc --resource-type` names it:
    /// `Microsoft.HybridCompute/machines` (the default),
    /// `Microsoft.ConnectedVMwarevSphere/virtualMachines`,
    /// `Microsoft.ScVmm/virtualMachines` or `Microsoft.AzureStackHCI/virtualMachines`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Defaults to the resource group's location.
    #[serde(default)]
    pub location: Option<String>,
    /// `Connected`, `Disconnected`, `Error` (or `Expired`).
    #[serde(default = "connected")]
    pub status: String,
    /// `linux` or `windows`.
    #[serde(default = "linux", alias = "osType")]
    pub os_type: String,
    #[serde(default, alias = "osName")]
    pub os_name: Option<String>,
    #[serde(default, alias = "osVersion")]
    pub os_version: Option<String>,
    #[serde(default, alias = "osSku")]
    pub os_sku: Option<String>,
    #[serde(default = "agent_version", alias = "agentVersion")]
    pub agent_version: String,
    #[serde(default = "last_status_change", alias = "lastStatusChange")]
    pub last_status_change: String,
    /// `azcmagent config incomingconnections.ports`, as ARM shows it (the
    /// agent's default, empty, allows every port).
    #[serde(default, alias = "incomingConnectionsPorts")]
    pub incoming_connections_ports: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The HybridConnectivity `default` endpoint; absent or null: none.
    #[serde(default)]
    pub endpoint: Option<EndpointSpec>,
    #[serde(default)]
    pub extensions: Vec<ExtensionSpec>,
    /// What is true on the server itself (seen only through run commands).
    #[serde(default)]
    pub server: ServerSpec,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Port of the `SSH` service configuration; absent or null: no SSH configuration.
    #[serde(default)]
    pub ssh_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionSpec {
    pub name: String,
    pub publisher: String,
    #[serde(rename = "type")]
    pub extension_type: String,
    #[serde(default = "handler_version", alias = "typeHandlerVersion")]
    pub type_handler_version: String,
    /// `Succeeded`, `Creating`, `Failed`, …
    #[serde(default = "succeeded", alias = "provisioningState")]
    pub provisioning_state: String,
    /// For `Creating`: GETs until `Succeeded`; null: never.
    #[serde(default = "one")]
    pub polls: Option<u32>,
}

/// The server's own state, changed only by run commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    #[serde(default = "yes")]
    pub sshd_installed: bool,
    #[serde(default = "yes")]
    pub sshd_running: bool,
    #[serde(default = "port_22")]
    pub ssh_port: u16,
    #[serde(default = "yes")]
    pub agent_incoming_enabled: bool,
    /// Same as the machine's `incoming_connections_ports` (one of the two is enough).
    #[serde(default)]
    pub agent_ports: Option<Vec<String>>,
    #[serde(default)]
    pub himds_restarts: u32,
    /// `azcmagent config get incomingconnections.ports` fails on the server.
    #[serde(default)]
    pub agent_ports_unreadable: bool,
    /// A scheduled agent restart never happens (the handler killed it).
    #[serde(default)]
    pub himds_restart_lost: bool,
    /// `azcmagent config get config.mode`: `full` or `monitor` (no remote
    /// connectivity, a Microsoft allow list of extensions).
    #[serde(default = "full")]
    pub config_mode: String,
    /// `azcmagent config get extensions.enabled`: the extension manager runs.
    #[serde(default = "yes")]
    pub extensions_enabled: bool,
    /// `extensions.allowlist`, entries `publisher/type` as `azcmagent` takes
    /// them: when not empty, only these install.
    #[serde(default)]
    pub extensions_allowlist: Vec<String>,
    /// `extensions.blocklist`: these never install.
    #[serde(default)]
    pub extensions_blocklist: Vec<String>,
}

fn full() -> String {
    "full".into()
}

impl Default for ServerSpec {
    fn default() -> Self {
        ServerSpec {
            sshd_installed: true,
            sshd_running: true,
            ssh_port: 22,
            agent_incoming_enabled: true,
            agent_ports: None,
            himds_restarts: 0,
            agent_ports_unreadable: false,
            himds_restart_lost: false,
            config_mode: full(),
            extensions_enabled: true,
            extensions_allowlist: Vec::new(),
            extensions_blocklist: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentSpec {
    /// `/`, a subscription, resource group or resource id, in canonical casing.
    pub scope: String,
    /// Built-in role name or GUID (the roles under `tests/data/roles`).
    pub role: String,
    /// Object id of one of the principals.
    pub principal: String,
    /// Assignment name (a GUID); made up when absent.
    #[serde(default)]
    pub name: Option<String>,
}

fn page_size() -> usize {
    100
}
fn one() -> Option<u32> {
    Some(1)
}
fn user() -> String {
    "User".into()
}
fn subscription_name() -> String {
    "Simulated subscription".into()
}
fn eastus() -> String {
    "eastus".into()
}
fn connected() -> String {
    "Connected".into()
}
fn linux() -> String {
    "linux".into()
}
fn agent_version() -> String {
    "1.47.02904.1890".into()
}
fn last_status_change() -> String {
    "2025-06-02T08:15:42.1234567Z".into()
}
fn handler_version() -> String {
    "1.0".into()
}
fn succeeded() -> String {
    "Succeeded".into()
}
fn yes() -> bool {
    true
}
fn demo_port() -> Option<u16> {
    Some(22)
}
fn port_22() -> u16 {
    22
}

const BUILTINS: &[(&str, &str)] = &[
    ("demo", include_str!("scenarios/demo.json")),
    ("healthy", include_str!("scenarios/healthy.json")),
    ("reader", include_str!("scenarios/reader.json")),
    ("wrong-port", include_str!("scenarios/wrong-port.json")),
    ("disconnected", include_str!("scenarios/disconnected.json")),
    ("windows", include_str!("scenarios/windows.json")),
    ("fleet", include_str!("scenarios/fleet.json")),
    (
        "group-contributor",
        include_str!("scenarios/group-contributor.json"),
    ),
    ("blockers", include_str!("scenarios/blockers.json")),
    ("policy", include_str!("scenarios/policy.json")),
];

const BUILTIN_NAMES: &[&str] = &[
    "demo",
    "healthy",
    "reader",
    "wrong-port",
    "disconnected",
    "windows",
    "fleet",
    "group-contributor",
    "blockers",
    "policy",
];

pub(crate) const PROVIDER_STATES: &[&str] =
    &["Registered", "NotRegistered", "Registering", "Unregistered"];
const MACHINE_STATES: &[&str] = &["Connected", "Disconnected", "Error", "Expired"];
const EXTENSION_STATES: &[&str] = &["Succeeded", "Creating", "Updating", "Failed", "Deleting"];

impl Machine {
    /// Its resource type (an Arc-enabled server by default); `None` for a
    /// type the simulator does not know, which validation refuses.
    pub(crate) fn kind(&self) -> Option<ArcType> {
        match &self.resource_type {
            None => Some(ArcType::Machine),
            Some(t) => ArcType::parse(t),
        }
    }
}

#[cfg(any(test, feature = "test-api"))]
impl Machine {
    /// A connected Linux machine with every default, no endpoint.
    pub fn named(name: &str) -> Machine {
        Machine {
            name: name.to_string(),
            resource_type: None,
            location: None,
            status: connected(),
            os_type: linux(),
            os_name: None,
            os_version: None,
            os_sku: None,
            agent_version: agent_version(),
            last_status_change: last_status_change(),
            incoming_connections_ports: Vec::new(),
            tags: BTreeMap::new(),
            endpoint: None,
            extensions: Vec::new(),
            server: ServerSpec::default(),
        }
    }
}

/// Machines per resource group in [`Scenario::generated`].
#[cfg(any(test, feature = "test-api"))]
pub const GENERATED_PER_GROUP: usize = 50;

impl Scenario {
    /// A fleet made in code for benchmarks and tests: `machines` machines
    /// (`arc-00000`, `arc-00001`, …) dealt round-robin over `subscriptions`
    /// subscriptions, 50 to a resource group (`fleet-<s>-<g>`), in three
    /// locations. The caller is Owner of every subscription and every provider
    /// is registered. Most machines are healthy (an SSH service configuration on
    /// port 22); by `i % 25`: 21 has no endpoint, 22 an endpoint without SSH
    /// configuration, 23 SSH on port 2222 (all `ssh-port-not-enabled` for port
    /// 22), 24 is disconnected (`agent-disconnected`), 10 is a healthy Windows
    /// machine; and every machine with `i % 47 == 5` has an agent older than
    /// 1.31 (`service-config-outdated`). About 18% have a problem.
    /// Machine `i` is tagged `env=prod` (even `i`) or `env=test`, and
    /// `team=t<i % 7>`.
    #[cfg(any(test, feature = "test-api"))]
    pub fn generated(machines: usize, subscriptions: usize) -> Scenario {
        let subscriptions = subscriptions.max(1);
        const LOCATIONS: [&str; 3] = ["eastus", "westeurope", "westus2"];
        let caller = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let mut subs: Vec<Subscription> = (0..subscriptions)
            .map(|n| Subscription {
                id: format!("00000000-0000-4000-8000-{:012x}", n + 1),
                display_name: format!("Generated fleet {n}"),
                providers: BTreeMap::new(),
                register_polls: one(),
                unregistered_error: UnregisteredError::default(),
                resource_groups: Vec::new(),
            })
            .collect();
        for i in 0..machines {
            let (n, k) = (i % subscriptions, i / subscriptions);
            let sub = &mut subs[n];
            if k.is_multiple_of(GENERATED_PER_GROUP) {
                let g = sub.resource_groups.len();
                sub.resource_groups.push(ResourceGroup {
                    name: format!("fleet-{n}-{g:03}"),
                    location: LOCATIONS[(n + g) % LOCATIONS.len()].to_string(),
                    machines: Vec::with_capacity(GENERATED_PER_GROUP),
                });
            }
            let mut m = Machine::named(&format!("arc-{i:05}"));
            m.endpoint = Some(EndpointSpec { ssh_port: Some(22) });
            match i % 25 {
                21 => m.endpoint = None,
                22 => m.endpoint = Some(EndpointSpec { ssh_port: None }),
                23 => {
                    m.endpoint = Some(EndpointSpec {
                        ssh_port: Some(2222),
                    })
                }
                24 => {
                    m.status = "Disconnected".into();
                    m.last_status_change = "2025-04-01T12:00:00Z".into();
                }
                10 => m.os_type = "windows".into(),
                _ => {}
            }
            if i % 47 == 5 {
                m.agent_version = "1.30.02386.1234".into();
            }
            let env = if i % 2 == 0 { "prod" } else { "test" };
            m.tags.insert("env".into(), env.into());
            m.tags.insert("team".into(), format!("t{}", i % 7));
            let rg = sub.resource_groups.last_mut().expect("pushed above");
            rg.machines.push(m);
        }
        let role_assignments = subs
            .iter()
            .enumerate()
            .map(|(n, s)| RoleAssignmentSpec {
                scope: format!("/subscriptions/{}", s.id),
                role: "Owner".into(),
                principal: caller.into(),
                name: Some(format!("00000000-0000-4000-9000-{:012x}", n + 1)),
            })
            .collect();
        Scenario {
            name: format!("generated-{machines}"),
            demo_port: Some(22),
            description: format!(
                "{machines} generated machines in {subscriptions} subscription(s), mostly healthy"
            ),
            tenant: "5c1e3f2d-4b8a-4d6c-8e9f-6f5e4d3c2b1a".into(),
            caller: caller.into(),
            principals: vec![Principal {
                oid: caller.into(),
                upn: "alex@contoso.example".into(),
                principal_type: user(),
                client_id: None,
                client_secret: None,
                member_of: Vec::new(),
            }],
            groups: BTreeMap::new(),
            subscriptions: subs,
            role_assignments,
            run_command_polls: one(),
            run_command_fail: false,
            extension_polls: one(),
            bare_hybridcompute_errors: false,
            page_size: page_size(),
            // Resource Graph pages of 1,000, as ARM serves them.
            graph_page_size: None,
            graph_ghosts: vec![],
            graph_overcount: 0,
            graph_refused: false,
            policy_evaluation_pending: false,
            knobs: Knobs::default(),
        }
    }

    /// A scenario shipped inside the binary, by name (see [`Scenario::builtin_names`]).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        // The built-ins are checked by the tests; a broken one is a bug, not input.
        Some(Scenario::from_json(text).unwrap_or_else(|e| panic!("built-in scenario {name}: {e}")))
    }

    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// Parses and validates a scenario; the error names the first problem found.
    pub fn from_json(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|e| format!("invalid scenario: {e}"))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The principal the demo acts as.
    pub fn caller_principal(&self) -> &Principal {
        self.principal(&self.caller)
            .expect("validated: the caller is a principal")
    }

    /// A bearer token for the scenario's caller.
    pub fn caller_token(&self) -> String {
        let p = self.caller_principal();
        crate::sim::fake_token(&p.oid, &p.upn, &self.tenant)
    }

    pub fn principal(&self, oid: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .find(|p| p.oid.eq_ignore_ascii_case(oid))
    }

    /// Every (group, direct member) pair, from `groups` and from `member_of`.
    pub fn memberships(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let listed = self
            .groups
            .iter()
            .flat_map(|(g, members)| members.iter().map(move |m| (g.clone(), m.clone())));
        let declared = self
            .principals
            .iter()
            .flat_map(|p| p.member_of.iter().map(move |g| (g.clone(), p.oid.clone())));
        for (g, m) in listed.chain(declared) {
            if !pairs
                .iter()
                .any(|(a, b)| a.eq_ignore_ascii_case(&g) && b.eq_ignore_ascii_case(&m))
            {
                pairs.push((g, m));
            }
        }
        pairs
    }

    /// Every machine's resource id, in scenario order.
    pub fn machine_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for s in &self.subscriptions {
            for rg in &s.resource_groups {
                for m in &rg.machines {
                    ids.push(format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/{}/{}",
                        s.id,
                        rg.name,
                        m.kind().unwrap_or_default().full(),
                        m.name
                    ));
                }
            }
        }
        ids
    }

    fn validate(&self) -> Result<(), String> {
        if self.page_size == 0 {
            return Err("page_size must be at least 1".into());
        }
        if !is_guid(&self.tenant) {
            return Err(format!("tenant '{}' is not a GUID", self.tenant));
        }
        let mut oids = HashSet::new();
        for p in &self.principals {
            if p.oid.trim().is_empty() {
                return Err("a principal has an empty oid".into());
            }
            if !oids.insert(p.oid.to_ascii_lowercase()) {
                return Err(format!("principal '{}' is listed twice", p.oid));
            }
            if !["User", "Group", "ServicePrincipal"].contains(&p.principal_type.as_str()) {
                return Err(format!(
                    "principal '{}': type '{}' is not User, Group or ServicePrincipal",
                    p.oid, p.principal_type
                ));
            }
        }
        for (group, member) in self.memberships() {
            match self.principal(&group) {
                Some(p) if p.principal_type == "Group" => {}
                Some(p) => {
                    return Err(format!(
                        "'{}' has members but is a {}, not a Group",
                        p.oid, p.principal_type
                    ));
                }
                None => return Err(format!("group '{group}' is not one of the principals")),
            }
            if self.principal(&member).is_none() {
                return Err(format!(
                    "member '{member}' of group '{group}' is not one of the principals"
                ));
            }
            if group.eq_ignore_ascii_case(&member) {
                return Err(format!("group '{group}' is listed as its own member"));
            }
        }
        if self.principal(&self.caller).is_none() {
            return Err(format!(
                "caller '{}' is not one of the principals",
                self.caller
            ));
        }
        let mut subs = HashSet::new();
        for s in &self.subscriptions {
            if !is_guid(&s.id) {
                return Err(format!("subscription '{}' is not a GUID", s.id));
            }
            if !subs.insert(s.id.to_ascii_lowercase()) {
                return Err(format!("subscription '{}' is listed twice", s.id));
            }
            for (ns, state) in &s.providers {
                if !PROVIDER_STATES.contains(&state.as_str()) {
                    return Err(format!(
                        "subscription {}: provider {ns} state '{state}' is not one of {PROVIDER_STATES:?}",
                        s.id
                    ));
                }
            }
            let mut rgs = HashSet::new();
            for rg in &s.resource_groups {
                validate_resource_group(&rg.name)?;
                if !rgs.insert(rg.name.to_ascii_lowercase()) {
                    return Err(format!("resource group '{}' is listed twice", rg.name));
                }
                let mut names = HashSet::new();
                for m in &rg.machines {
                    validate_machine(m)?;
                    if !names.insert((m.kind(), m.name.to_ascii_lowercase())) {
                        return Err(format!(
                            "machine '{}' is listed twice in '{}'",
                            m.name, rg.name
                        ));
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        for a in &self.role_assignments {
            let role = rbac::role(&a.role)
                .ok_or_else(|| format!("role assignment: unknown role '{}'", a.role))?;
            if self.principal(&a.principal).is_none() {
                return Err(format!(
                    "role assignment: principal '{}' is not one of the principals",
                    a.principal
                ));
            }
            if a.scope != "/" && !a.scope.to_ascii_lowercase().starts_with("/subscriptions/") {
                return Err(format!(
                    "role assignment: scope '{}' is not '/' or a subscription-based id",
                    a.scope
                ));
            }
            if a.scope.len() > 1 && a.scope.ends_with('/') {
                return Err(format!(
                    "role assignment: scope '{}' ends with '/'",
                    a.scope
                ));
            }
            if let Some(n) = &a.name
                && !is_guid(n)
            {
                return Err(format!("role assignment: name '{n}' is not a GUID"));
            }
            let key = (
                a.scope.to_ascii_lowercase(),
                role.name.as_str(),
                a.principal.to_ascii_lowercase(),
            );
            if !seen.insert(key) {
                return Err(format!(
                    "role assignment of '{}' to '{}' at '{}' is listed twice",
                    role.role_name, a.principal, a.scope
                ));
            }
        }
        Ok(())
    }
}

/// ARM's resource-group name rule: 1-90 letters, digits, `_`, `-`, `.`, `(`,
/// `)`, not ending in `.`.
fn validate_resource_group(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_alphanumeric() || "_-.()".contains(c);
    let length = name.chars().count();
    if (1..=90).contains(&length) && name.chars().all(allowed) && !name.ends_with('.') {
        Ok(())
    } else {
        Err(format!(
            "resource group name '{name}' is not 1-90 letters, digits, '_', '-', '.', '(' or ')' \
             (and must not end with '.')"
        ))
    }
}

/// The HybridCompute machine name pattern `^[a-zA-Z0-9-_\.]{1,54}$`.
fn validate_machine_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if (1..=54).contains(&name.len()) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "machine name '{name}' is not 1-54 letters, digits, '-', '_' or '.'"
        ))
    }
}

fn validate_machine(m: &Machine) -> Result<(), String> {
    validate_machine_name(&m.name)?;
    match m.kind() {
        None => {
            return Err(format!(
                "machine {}: type '{}' is not one of {}",
                m.name,
                m.resource_type.as_deref().unwrap_or_default(),
                ArcType::ALL.map(ArcType::full).join(", ")
            ));
        }
        Some(ArcType::Machine) => {}
        // Agent extensions are listed on an Arc-enabled server only.
        Some(_) if !m.extensions.is_empty() => {
            return Err(format!(
                "machine {}: extensions are modelled for Microsoft.HybridCompute/machines only",
                m.name
            ));
        }
        Some(_) => {}
    }
    if !MACHINE_STATES.contains(&m.status.as_str()) {
        return Err(format!(
            "machine {}: status '{}' is not one of {MACHINE_STATES:?}",
            m.name, m.status
        ));
    }
    if !["linux", "windows"].contains(&m.os_type.as_str()) {
        return Err(format!(
            "machine {}: os_type '{}' is not linux or windows",
            m.name, m.os_type
        ));
    }
    if time::OffsetDateTime::parse(
        &m.last_status_change,
        &time::format_description::well_known::Rfc3339,
    )
    .is_err()
    {
        return Err(format!(
            "machine {}: last_status_change '{}' is not an RFC 3339 time",
            m.name, m.last_status_change
        ));
    }
    // A port, or a range `low-high` (the agent takes both).
    let one = |p: &str| p.parse::<u16>().map_or(true, |n| n == 0);
    let bad_port = |p: &String| match p.split_once('-') {
        Some((low, high)) => {
            one(low) || one(high) || low.parse::<u16>().ok() > high.parse::<u16>().ok()
        }
        None => one(p),
    };
    if let Some(p) = m.incoming_connections_ports.iter().find(|p| bad_port(p)) {
        return Err(format!(
            "machine {}: incoming port '{p}' is not a port number",
            m.name
        ));
    }
    if let Some(ports) = &m.server.agent_ports {
        if let Some(p) = ports.iter().find(|p| bad_port(p)) {
            return Err(format!(
                "machine {}: agent port '{p}' is not a port number",
                m.name
            ));
        }
        if *ports != m.incoming_connections_ports && !m.incoming_connections_ports.is_empty() {
            return Err(format!(
                "machine {}: server.agent_ports and incoming_connections_ports disagree (they are the same setting)",
                m.name
            ));
        }
    }
    if m.endpoint.as_ref().and_then(|e| e.ssh_port) == Some(0) {
        return Err(format!(
            "machine {}: endpoint ssh_port 0 is not a port",
            m.name
        ));
    }
    let mut names = HashSet::new();
    for e in &m.extensions {
        if !EXTENSION_STATES.contains(&e.provisioning_state.as_str()) {
            return Err(format!(
                "machine {}: extension {} state '{}' is not one of {EXTENSION_STATES:?}",
                m.name, e.name, e.provisioning_state
            ));
        }
        if !names.insert(e.name.to_ascii_lowercase()) {
            return Err(format!(
                "machine {}: extension '{}' is listed twice",
                m.name, e.name
            ));
        }
    }
    Ok(())
}
