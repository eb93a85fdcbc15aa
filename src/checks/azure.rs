//! The Azure-side problems of one Arc machine: agent status, the
//! HybridConnectivity provider, the default endpoint and its SSH service
//! configuration, the caller's permissions, login roles and the Entra
//! extension. Independent reads run concurrently.

use std::sync::Arc;

use serde_json::Value;

use crate::azure::api;
use crate::azure::client::Arm;
use crate::azure::models::{Extension, Machine, Page, Provider, ServiceConfiguration};
use crate::azure::rbac::{self, Permission};
use crate::checks::Report;
use crate::error::arm::ArmError;
use crate::error::{Error, Result};
use crate::plan::{Goal, ServerFact};
use crate::target::{Login, MachineId};

pub(crate) mod met;
mod problems;
pub use problems::{CHECKS, Facts, port_tag_step};

pub const ENDPOINT: &str = "/providers/Microsoft.HybridConnectivity/endpoints/default";
pub const SERVICE_CONFIG: &str =
    "/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH";
pub const ENTRA_EXTENSION_TYPE: &str = "AADSSHLoginForLinux";
pub const ENTRA_EXTENSION_PUBLISHER: &str = "Microsoft.Azure.ActiveDirectory";

const REGISTER: &str = "Microsoft.HybridConnectivity/register/action";

/// What the user asked for, per machine.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub port: u16,
    /// Where `port` comes from.
    pub from: PortFrom,
    pub login: Login,
    pub grant_roles: bool,
}

impl Wanted {
    /// The port was chosen (`--port`, or the server's sshd): a port seen in
    /// Azure may be changed to it. Otherwise (22 by default, or the machine's
    /// `SSHPort` tag) a port seen in Azure is not changed.
    pub fn port_given(&self) -> bool {
        matches!(self.from, PortFrom::Flag | PortFrom::Sshd)
    }
}

/// Where the port SSH through Arc is judged for comes from, in the order
/// `az ssh arc` and arcfix take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortFrom {
    /// `--port`: it wins over the tag, as with `az ssh arc`.
    Flag,
    /// The machine's `SSHPort` tag, which `az ssh arc` uses without `--port`.
    Tag,
    /// The port the server's sshd is configured for, seen by the `--remote`
    /// probe (no `--port`, no tag).
    Sshd,
    /// Nothing chose one: 22, as `az ssh arc` uses.
    Default,
}

/// The tag `az ssh arc` reads the port from when `--port` is not given
/// (azure-cli-extensions `azext_ssh/resource_tag_utils.py`): this exact key.
pub const SSH_PORT_TAG: &str = "SSHPort";

/// A machine's `SSHPort` tag as `az ssh arc` would take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortTag {
    /// No such tag (or the resource type's tags are not read by `az ssh arc`).
    Absent,
    Port(u16),
    /// A value `az ssh arc` refuses, or one no SSH server can listen on (0):
    /// the value, made safe for a terminal and shortened.
    Invalid(String),
}

impl PortTag {
    /// Reads the tag from the machine's tags. `az ssh arc` takes a value of
    /// digits below 65535 (65535 itself is refused: `int(port) < 65535`);
    /// arcfix also refuses 0, which no server listens on. It reads the tags
    /// of Arc-enabled servers and VMware vSphere VMs only (SCVMM and Azure
    /// Local VMs connect on 22 without `--port`, whatever their tags).
    pub fn of(
        kind: crate::target::ArcKind,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> PortTag {
        use crate::target::ArcKind;
        if !matches!(kind, ArcKind::Machine | ArcKind::VmwareVm) {
            return PortTag::Absent;
        }
        let Some(value) = tags.get(SSH_PORT_TAG) else {
            return PortTag::Absent;
        };
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match value.parse::<u32>() {
            Ok(p) if digits && (1..65535).contains(&p) => PortTag::Port(p as u16),
            _ => {
                let shown: String = value.chars().take(40).collect();
                let more = if value.chars().count() > 40 {
                    "…"
                } else {
                    ""
                };
                PortTag::Invalid(format!("{}{more}", crate::text::sanitize(&shown)))
            }
        }
    }
}

/// Everything read about one machine.
pub struct Observed {
    pub machine: Machine,
    pub provider: std::result::Result<Provider, ArmError>,
    pub permissions: std::result::Result<Vec<Permission>, ArmError>,
    pub endpoint: std::result::Result<Option<Value>, ArmError>,
    pub service_config: std::result::Result<Option<ServiceConfiguration>, ArmError>,
    pub extensions: Option<std::result::Result<Vec<Extension>, ArmError>>,
    /// Whether the caller may register providers in the subscription (read
    /// only when the provider needs it; `None` when it could not be told).
    pub may_register: Option<bool>,
}

/// Reads everything about one machine at once (one round trip of latency,
/// two when a fallback read is needed).
/// `listed` is the machine as a fleet listing returned it (not read again);
/// what machines share (the subscription's provider, a resource group's
/// rights) comes from `shared`, read once.
pub async fn observe(
    arm: &Arc<Arm>,
    id: &MachineId,
    listed: Option<Machine>,
    wanted: &Wanted,
    caller: &crate::azure::auth::Claims,
    shared: &crate::checks::fleet::Shared,
) -> Result<Observed> {
    let machine_path = id.to_string();
    let permissions_path = id.child("/providers/Microsoft.Authorization/permissions");
    let endpoint_path = id.child(ENDPOINT);
    let config_path = id.child(SERVICE_CONFIG);
    let extensions_path = id.child("/extensions");
    // Extensions are the Connected Machine agent's: only a HybridCompute machine lists them here.
    let want_extensions = wanted.login == Login::Entra && id.kind.has_agent_settings();
    let was_listed = listed.is_some();
    // Every read that needs no other's answer goes out at once (one round
    // trip of latency): the SSH configuration beside its endpoint, and
    // whether the caller may register providers beside the provider (it is
    // needed only when the provider is not registered, but waiting for that
    // answer would cost a second round trip; a fleet asks once per
    // subscription).
    let (machine, provider, permissions, endpoint, config, extensions, _) = tokio::join!(
        async {
            match listed {
                Some(m) => Ok(m),
                None => read_machine(arm, id, &machine_path).await,
            }
        },
        shared.provider(arm, &id.subscription),
        async {
            match shared.group_permissions(arm, id).await {
                Some(p) => p,
                None => list_all::<Permission>(arm, &permissions_path, api::AUTHORIZATION).await,
            }
        },
        arm.get(&endpoint_path, api::HYBRID_CONNECTIVITY),
        arm.get(&config_path, api::HYBRID_CONNECTIVITY),
        async {
            if want_extensions {
                Some(list_all::<Extension>(arm, &extensions_path, api::HYBRID_COMPUTE).await)
            } else {
                None
            }
        },
        shared.subscription_permissions(arm, &id.subscription),
    );
    let gone = |cause: ArmError| Error::MachineNotFound {
        id: id.to_string(),
        cause,
    };
    let machine = match machine {
        Ok(m) => m,
        Err(e) if e.status == 404 => return Err(gone(e)),
        Err(e) if e.status == 403 && e.code.eq_ignore_ascii_case("AuthorizationFailed") => {
            return Err(Error::MachineDenied {
                id: id.to_string(),
                resource_group: crate::text::sanitize(&id.resource_group),
                name: crate::text::sanitize(&id.name),
                resource_type: id.kind.resource_type(),
                cause: e,
            });
        }
        Err(e) => return Err(e.into()),
    };
    // A listed machine deleted since: the endpoint, its child, answers
    // ParentResourceNotFound (the SSH configuration does too when only the
    // endpoint is missing, so it tells nothing about the machine).
    // ARM may also answer ResourceNotFound naming the machine itself.
    let names_machine = |e: &ArmError| {
        e.message.to_ascii_lowercase().contains(&format!(
            "{}/{}'",
            id.kind.resource_type().to_ascii_lowercase(),
            id.name.to_ascii_lowercase()
        ))
    };
    if was_listed
        && let Err(e) = &endpoint
        && e.status == 404
        && (e.code.eq_ignore_ascii_case("ParentResourceNotFound") || names_machine(e))
    {
        return Err(gone(e.clone()));
    }
    let absent = |r: std::result::Result<crate::azure::client::Answer, ArmError>| match r {
        Ok(a) => Ok(Some(a.body)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    };
    let (endpoint, config) = (absent(endpoint), absent(config));
    let registered = provider
        .as_ref()
        .map(met::provider_registered)
        .unwrap_or(true);
    // Asked only where it matters (a registered provider needs no one to
    // register it), from the subscription's permissions already read; only
    // when those could not be read does it cost another round trip.
    let may_register = if registered {
        None
    } else {
        shared
            .may_register(arm, &id.subscription, caller.oid.as_deref())
            .await
    };
    Ok(Observed {
        may_register,
        machine,
        provider,
        permissions,
        endpoint,
        service_config: config.and_then(|o| o.map(|v| parse(v, &config_path)).transpose()),
        extensions,
    })
}

/// The resource itself, from its own provider: a HybridCompute machine as
/// it is, an Arc virtual machine as the machine the checks read.
async fn read_machine(
    arm: &Arm,
    id: &MachineId,
    path: &str,
) -> std::result::Result<Machine, ArmError> {
    let a = arm.get(path, api::of(id.kind)).await?;
    if id.kind.has_agent_settings() {
        parse::<Machine>(a.body, path)
    } else {
        parse::<crate::azure::models::ArcVm>(a.body, path).map(|vm| vm.into_machine())
    }
}

/// A GET's answer as the resource it should be; anything else is an
/// invalid answer (`ArmError::invalid_answer`), like one that is not JSON.
fn parse<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> std::result::Result<T, ArmError> {
    serde_json::from_value(v).map_err(|e| ArmError::invalid_answer(200, "GET", path, None, e))
}

/// The most pages of one list arcfix follows, and the most items it keeps
/// of it: a list longer than that is an error, never read as complete.
pub const MAX_LIST_PAGES: usize = 1_000;
pub const MAX_LIST_ITEMS: usize = 100_000;

/// GETs a pageable list, following `nextLink`.
pub async fn list_all<T: serde::de::DeserializeOwned>(
    arm: &Arm,
    path: &str,
    api_version: &str,
) -> std::result::Result<Vec<T>, ArmError> {
    let mut out = Vec::new();
    list_each(arm, path, api_version, |item| {
        out.push(item);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// GETs a pageable list, following `nextLink`, handing each item to `each`
/// as its page arrives (nothing else is kept). A link seen before, more
/// than `MAX_LIST_PAGES` pages or `MAX_LIST_ITEMS` items: an error naming
/// the list, never a list cut short and taken for the whole.
pub async fn list_each<T: serde::de::DeserializeOwned>(
    arm: &Arm,
    path: &str,
    api_version: &str,
    each: impl FnMut(T) -> std::result::Result<(), ArmError>,
) -> std::result::Result<(), ArmError> {
    pages_each("GET", arm, path, api_version, each).await
}

/// As `list_each`, for a list asked by `method`: PolicyInsights' policy
/// states are queried by POST, each next page too (`@odata.nextLink`).
pub async fn pages_each<T: serde::de::DeserializeOwned>(
    method: &str,
    arm: &Arm,
    path: &str,
    api_version: &str,
    mut each: impl FnMut(T) -> std::result::Result<(), ArmError>,
) -> std::result::Result<(), ArmError> {
    let mut seen = std::collections::HashSet::new();
    let mut next = Some(path.to_string());
    let (mut pages, mut items) = (0usize, 0usize);
    let endless = |why: String| {
        ArmError::invalid_answer(
            200,
            method,
            path,
            None,
            format!("the list never ends: {why}"),
        )
    };
    while let Some(p) = next.take() {
        let a = arm.send(method, &p, api_version, None).await?;
        let page: Page<T> = parse(a.body, &p)?;
        pages += 1;
        items += page.value.len();
        if items > MAX_LIST_ITEMS {
            return Err(endless(format!(
                "more than {MAX_LIST_ITEMS} items, arcfix's limit for one list"
            )));
        }
        for item in page.value {
            each(item)?;
        }
        let Some(link) = page.next_link.filter(|l| !l.trim().is_empty()) else {
            break;
        };
        // Their hashes are kept, not the links (which Azure may make large).
        if link == p || !seen.insert(fingerprint(&link)) {
            return Err(endless(format!(
                "ARM returned the same nextLink again ({})",
                shown_link(&link)
            )));
        }
        if pages >= MAX_LIST_PAGES {
            return Err(endless(format!(
                "more than {MAX_LIST_PAGES} pages, arcfix's limit for one list"
            )));
        }
        next = Some(link);
    }
    Ok(())
}

/// A link's or token's hash, to tell one seen before.
pub fn fingerprint(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A link or token from Azure as an error shows it: sanitized, and cut to
/// its first 200 characters.
pub fn shown_link(link: &str) -> String {
    let mut shown: String = link.chars().take(200).collect();
    if shown.len() < link.len() {
        shown.push('…');
    }
    crate::text::sanitize(&shown)
}

/// Turns what was read into findings and steps: every check of [`CHECKS`]
/// on the same digested facts.
pub fn assess(
    id: &MachineId,
    o: &Observed,
    wanted: &Wanted,
    caller: &crate::azure::auth::Claims,
    base: &str,
) -> Report {
    let mut r = Report::default();
    let facts = Facts::of(id, o, wanted, caller, base, &mut r);
    for (_, check) in CHECKS {
        check(&facts, wanted, &mut r);
    }
    r
}

/// Whether the caller may register providers in the subscription: first the
/// caller's effective permissions there, `permissions` (ARM serves the permissions API at
/// subscription scope, though the published spec lists it only below:
/// azure-rest-api-specs issue #19473; roles held through groups count), else
/// the role assignments `assignedTo()` the caller (transitive group
/// memberships included, as `az role assignment list --include-groups`).
/// `None` when neither can be read: the step is then manual.
pub async fn may_register(
    arm: &Arm,
    subscription: &str,
    oid: Option<&str>,
    permissions: std::result::Result<Vec<Permission>, ArmError>,
) -> Option<bool> {
    let sub = format!("/subscriptions/{subscription}");
    match permissions {
        Ok(perms) => return Some(rbac::allows(&perms, REGISTER)),
        Err(e) => {
            tracing::info!("subscription permissions unreadable, trying role assignments: {e}")
        }
    }
    // The token's object id goes into a filter: a GUID or nothing.
    let oid = oid.filter(|o| crate::target::is_guid(o))?;
    let path = format!(
        "{sub}/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('{oid}')"
    );
    let assignments =
        list_all::<crate::azure::models::RoleAssignment>(arm, &path, api::AUTHORIZATION)
            .await
            .ok()?;
    let mut perms = Vec::new();
    for a in assignments {
        let scope = a.properties.scope.unwrap_or_default();
        if !(scope == "/" || scope.eq_ignore_ascii_case(&sub)) {
            continue;
        }
        let role_id = a.properties.role_definition_id.unwrap_or_default();
        if !rbac::is_role_definition_id(&role_id) {
            // Not an id ARM gives: neither looked up nor read.
            return None;
        }
        match rbac::role(&role_id) {
            Some(r) => perms.push(r.permission()),
            None => {
                let def = arm.get(&role_id, api::AUTHORIZATION).await.ok()?;
                let list: Vec<Permission> =
                    serde_json::from_value(def.body["properties"]["permissions"].clone()).ok()?;
                perms.extend(list);
            }
        }
    }
    Some(rbac::allows(&perms, REGISTER))
}

/// Whether `principal` (a GUID) holds the role `role` (a role definition's
/// GUID) at `scope` or a scope above it.
pub async fn holds_role(
    arm: &Arm,
    scope: &str,
    principal: &str,
    role: &str,
) -> std::result::Result<bool, ArmError> {
    Ok(roles_held(arm, scope, principal)
        .await?
        .iter()
        .any(|g| g.eq_ignore_ascii_case(role)))
}

/// The role definitions' GUIDs `principal` (a GUID) holds at `scope` or a
/// scope above it, read once. ARM lists the assignments at, above and below
/// the scope asked: one below it grants nothing here.
pub async fn roles_held(
    arm: &Arm,
    scope: &str,
    principal: &str,
) -> std::result::Result<Vec<String>, ArmError> {
    let path = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{principal}'"
    );
    let list =
        list_all::<crate::azure::models::RoleAssignment>(arm, &path, api::AUTHORIZATION).await?;
    let scope_lower = scope.to_ascii_lowercase();
    Ok(list
        .into_iter()
        .filter(|a| {
            let p = &a.properties;
            p.principal_id
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(principal))
                && p.scope.as_deref().is_some_and(|s| {
                    let s = s.trim_end_matches('/').to_ascii_lowercase();
                    s.is_empty() || scope_lower == s || scope_lower.starts_with(&format!("{s}/"))
                })
        })
        .filter_map(|a| {
            a.properties
                .role_definition_id
                .as_deref()
                .and_then(|d| d.rsplit('/').next())
                .map(str::to_ascii_lowercase)
        })
        .collect())
}

/// HybridConnectivity answers these while the provider is not registered.
pub fn is_unregistered(e: &ArmError) -> bool {
    matches!(
        e.code.as_str(),
        "MissingSubscriptionRegistration"
            | "NoRegisteredProviderFound"
            | "SubscriptionNotRegistered"
    )
}

/// A machine id of a goal, checked before it becomes a request path.
fn checked_machine(id: &str) -> Result<MachineId> {
    MachineId::parse(id)
}

/// Re-reads one check's state (the precondition and the verification).
pub async fn satisfied(arm: &Arm, goal: &Goal) -> Result<bool> {
    Ok(match goal {
        Goal::ProviderRegistered {
            subscription,
            namespace,
        } => {
            crate::target::validate_subscription(subscription)?;
            crate::target::ArmName::parse(namespace)?;
            let a = arm
                .get(
                    &format!("/subscriptions/{subscription}/providers/{namespace}"),
                    api::RESOURCES,
                )
                .await?;
            met::provider_registered(&parse(a.body, namespace)?)
        }
        // A read that fails (the provider still not registered) decides
        // nothing: the step stops there rather than write on a guess.
        Goal::EndpointExists { machine } => {
            checked_machine(machine)?;
            arm.get_opt(&format!("{machine}{ENDPOINT}"), api::HYBRID_CONNECTIVITY)
                .await?
                .is_some()
        }
        Goal::ServiceConfigPort {
            machine,
            port,
            any_port,
        } => {
            checked_machine(machine)?;
            match arm
                .get_opt(
                    &format!("{machine}{SERVICE_CONFIG}"),
                    api::HYBRID_CONNECTIVITY,
                )
                .await
            {
                Ok(Some(v)) => {
                    let c: ServiceConfiguration = parse(v, "serviceConfigurations/SSH")?;
                    met::ssh_config(&c, *port, *any_port)
                }
                Ok(None) => false,
                Err(e) => return Err(e.into()),
            }
        }
        Goal::RoleAssigned {
            scope,
            role,
            principal,
        } => {
            checked_machine(scope)?;
            if !crate::target::is_guid(principal) {
                return Err(Error::input(format!(
                    "invalid principal id '{}': expected a GUID",
                    crate::text::sanitize(principal)
                )));
            }
            holds_role(arm, scope, principal, role).await?
        }
        Goal::ExtensionSucceeded { machine, name } => {
            // From a plan, maybe a saved one: the path is made of checked parts only.
            checked_machine(machine)?;
            crate::target::ArmName::parse(name)?;
            match arm
                .get_opt(&format!("{machine}/extensions/{name}"), api::HYBRID_COMPUTE)
                .await?
            {
                Some(v) => met::extension_succeeded(&parse::<Extension>(v, name)?),
                None => false,
            }
        }
        // A silent `false` here once hid a missing remote-probe arm: refuse instead.
        Goal::None
        | Goal::ClientBinaries { .. }
        | Goal::ArcProxyInstalled
        | Goal::ProxyExecutable { .. }
        | Goal::ModuleProxiesExecutable
        | Goal::Server { .. }
        | Goal::AzSshExtensionCurrent
        | Goal::Restarted
        | Goal::PolicyResource { .. }
        | Goal::PolicyIdentityRole { .. }
        | Goal::PolicyRemediated { .. } => {
            return Err(Error::Internal(format!("{goal:?} is not an Azure goal")));
        }
    })
}

/// Whether a check's state settles by itself after the write (provider
/// registration, extension provisioning): verification then polls.
pub fn settles_slowly(goal: &Goal) -> Option<std::time::Duration> {
    match goal {
        Goal::ProviderRegistered { .. } => Some(std::time::Duration::from_secs(300)),
        Goal::ExtensionSucceeded { .. } => Some(std::time::Duration::from_secs(600)),
        Goal::RoleAssigned { .. } | Goal::PolicyIdentityRole { .. } => {
            Some(std::time::Duration::from_secs(60))
        }
        // A service needs a moment to start listening.
        Goal::Server { fact, .. } => match fact {
            ServerFact::SshAnswers => Some(std::time::Duration::from_secs(15)),
            ServerFact::SshdInstalled
            | ServerFact::AgentIncomingEnabled
            | ServerFact::AgentPortAllowed => None,
        },
        Goal::None
        | Goal::ClientBinaries { .. }
        | Goal::ArcProxyInstalled
        | Goal::ProxyExecutable { .. }
        | Goal::ModuleProxiesExecutable
        | Goal::EndpointExists { .. }
        | Goal::ServiceConfigPort { .. }
        | Goal::AzSshExtensionCurrent
        | Goal::Restarted
        | Goal::PolicyResource { .. }
        | Goal::PolicyRemediated { .. } => None,
    }
}

/// Compares the leading numbers of an agent version such as `1.30.02430.1234`.
pub fn older_than(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut it = version.split('.').map(|p| p.parse::<u64>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::older_than;

    #[test]
    fn agent_versions_compare_numerically() {
        assert!(older_than("1.30.02430.1234", (1, 31)));
        assert!(older_than("0.99", (1, 31)));
        assert!(!older_than("1.31.0", (1, 31)));
        assert!(!older_than("1.100.1", (1, 31)));
        assert!(!older_than("2.0", (1, 31)));
        assert!(!older_than("garbage", (1, 31)));
    }
}
