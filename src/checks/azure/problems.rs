//! The known problems of one Arc machine as Azure shows it, one function
//! each, listed in [`CHECKS`]. Each decides from [`Facts`] (what was read,
//! already digested) and [`Wanted`] alone: no reads, no process, so each is
//! tested from hand-made facts right below it.

use serde_json::{Value, json};

use super::{
    ENDPOINT, ENTRA_EXTENSION_PUBLISHER, ENTRA_EXTENSION_TYPE, Observed, SERVICE_CONFIG, Wanted,
    is_unregistered, older_than,
};
use crate::azure::auth::Claims;
use crate::azure::models::{Extension, ServiceConfiguration};
use crate::azure::rbac::{self, Permission};
use crate::azure::{HYBRID_CONNECTIVITY, api};
use crate::checks::{Report, Side, StepSpec, finding, step_id};
use crate::plan::{Action, FixKind, Goal};
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

/// One known problem: its catalogue id and the function that looks for it.
pub type Check = fn(&Facts, &Wanted, &mut Report);

/// Every Azure-side problem, in the order findings and steps are reported.
pub const CHECKS: &[(&str, Check)] = &[
    ("agent-disconnected", agent_disconnected),
    ("rp-not-registered", rp_not_registered),
    ("ssh-port-not-enabled", ssh_port_not_enabled),
    ("endpoint-permission-missing", endpoint_permission_missing),
    ("service-config-outdated", service_config_outdated),
    ("login-role-missing", login_role_missing),
    ("entra-unsupported-on-windows", entra_unsupported_on_windows),
    ("entra-extension-missing", entra_extension_missing),
];

/// What was read about one machine, digested once for every check.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub id: &'a MachineId,
    pub caller: &'a Claims,
    /// The ARM base the commands for people use (the one arcfix talks to), without a trailing `/`.
    pub base: &'a str,
    pub windows: bool,
    /// The agent's status in Azure (`Unknown` when ARM does not say).
    pub status: String,
    pub last_status_change: Option<String>,
    pub agent_version: Option<String>,
    pub location: String,
    /// The caller's permissions on the machine; `None` when unreadable (then
    /// every write is manual: none is attempted on a guess).
    pub perms: Option<&'a [Permission]>,
    /// HybridConnectivity is Registered (or its state could not be read).
    pub registered: bool,
    pub provider_state: String,
    pub may_register: Option<bool>,
    /// The default endpoint exists (or could not be read).
    pub endpoint_exists: bool,
    /// The SSH service configuration; a default one when it could not be read.
    pub config: Option<ServiceConfiguration>,
    pub config_unreadable: bool,
    /// The Entra login extension, when it is installed (Entra logins only).
    pub entra_extension: Option<Extension>,
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
        let status = m.status.clone().unwrap_or_else(|| "Unknown".into());
        let windows = o.machine.is_windows();
        let os = if windows { "windows" } else { "linux" };
        r.observe(format!("{target} status={status} os={os}"));
        let perms = o.permissions.as_ref().ok().map(|p| p.as_slice());
        if let Err(e) = &o.permissions {
            r.unread(
                Side::Azure,
                format!("could not read your permissions on {}: {e}", id.name),
            );
        }
        if let Some(p) = perms {
            r.observe(format!(
                "{target} permissions={}",
                serde_json::to_string(p).unwrap_or_default()
            ));
        }
        let (registered, provider_state) = match &o.provider {
            Ok(p) => {
                let state = p
                    .registration_state
                    .clone()
                    .unwrap_or_else(|| "Unknown".into());
                r.observe(format!("{} provider={state}", id.subscription_id()));
                (
                    state.eq_ignore_ascii_case("Registered"),
                    p.registration_state.clone().unwrap_or_default(),
                )
            }
            Err(e) => {
                r.unread(
                    Side::Azure,
                    format!("could not read the {HYBRID_CONNECTIVITY} provider: {e}"),
                );
                (true, String::new())
            }
        };
        let endpoint_exists = match &o.endpoint {
            Ok(e) => e.is_some(),
            // Unregistered provider: nothing can exist yet; re-checked before acting.
            Err(e) if !registered && is_unregistered(e) => false,
            Err(e) => {
                r.unread(
                    Side::Azure,
                    format!("could not read the default endpoint of {}: {e}", id.name),
                );
                true
            }
        };
        let config = match &o.service_config {
            Ok(c) => c.clone(),
            Err(e) if !registered && is_unregistered(e) => None,
            Err(e) => {
                r.unread(
                    Side::Azure,
                    format!(
                        "could not read the SSH service configuration of {}: {e}",
                        id.name
                    ),
                );
                Some(ServiceConfiguration::default())
            }
        };
        r.observe(format!("{target} endpoint={endpoint_exists}"));
        let port = config.as_ref().and_then(|c| c.properties.port);
        let state = config
            .as_ref()
            .and_then(|c| c.properties.provisioning_state.clone());
        r.observe(format!("{target} ssh-config={port:?} {state:?}"));
        let entra_extension = if wanted.login == Login::Entra && !windows {
            entra_extension(id, o, r)
        } else {
            None
        };
        Facts {
            id,
            caller,
            base: base.trim_end_matches('/'),
            windows,
            status,
            last_status_change: m.last_status_change.clone(),
            agent_version: m.agent_version.clone(),
            location: o.machine.location.clone().unwrap_or_default(),
            perms,
            registered,
            provider_state,
            may_register: o.may_register,
            endpoint_exists,
            config,
            config_unreadable: o.service_config.is_err(),
            entra_extension,
        }
    }

    fn target(&self) -> String {
        self.id.to_string()
    }

    fn connected(&self) -> bool {
        self.status.eq_ignore_ascii_case("Connected")
    }

    /// Whether the caller may do `action` here, as far as is known.
    fn may(&self, action: &str) -> bool {
        self.perms.is_some_and(|p| rbac::allows(p, action))
    }

    /// The steps that must come first: the provider registration, when planned.
    fn after_register(&self) -> Vec<String> {
        if self.registered {
            vec![]
        } else {
            vec![step_id::REGISTER_PROVIDER.into()]
        }
    }

    fn admin_on_server(&self) -> &'static str {
        if self.windows {
            "administrator on the server"
        } else {
            "root on the server"
        }
    }

    /// Why SSH is not enabled on the wanted port, when it is not.
    fn ssh_config_problem(&self, port: u16) -> Option<String> {
        let name = &self.id.name;
        let config_port = self.config.as_ref().and_then(|c| c.properties.port);
        let state = self
            .config
            .as_ref()
            .and_then(|c| c.properties.provisioning_state.clone());
        let config_ok = self.config.is_some()
            && (config_port == Some(port as u64) || self.config_unreadable)
            && state
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"));
        if self.endpoint_exists && config_ok {
            None
        } else if !self.endpoint_exists {
            Some(format!("{name} has no default connectivity endpoint"))
        } else if self.config.is_none() {
            Some(format!(
                "the default endpoint of {name} has no SSH service configuration"
            ))
        } else if config_port != Some(port as u64) {
            Some(format!(
                "SSH is enabled on port {} of {name}, not on {port}",
                config_port.map(|p| p.to_string()).unwrap_or("?".into()),
            ))
        } else {
            Some(format!(
                "the SSH service configuration of {name} is {}",
                state.unwrap_or_default()
            ))
        }
    }

    /// The endpoint (when missing) and the SSH configuration rights, as known.
    fn endpoint_rights(&self) -> (bool, bool) {
        (
            self.endpoint_exists || self.may(ENDPOINT_WRITE),
            self.may(SERVICE_CONFIG_WRITE),
        )
    }
}

/// The Entra login extension among the machine's, recording what was seen.
fn entra_extension(id: &MachineId, o: &Observed, r: &mut Report) -> Option<Extension> {
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
            .cloned(),
        Some(Err(e)) => {
            r.unread(
                Side::Azure,
                format!("could not list the extensions of {}: {e}", id.name),
            );
            None
        }
        None => None,
    };
    let state = found
        .as_ref()
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
    if f.connected() {
        return;
    }
    let target = f.target();
    r.finding(finding(
        "agent-disconnected",
        &target,
        format!(
            "the Arc agent of {} is {} (last change {})",
            f.id.name,
            f.status,
            f.last_status_change.as_deref().unwrap_or("unknown")
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        id: step_id::RECONNECT_AGENT.into(),
        fixes: vec!["agent-disconnected".into()],
        target,
        description: format!("On {}, check the Connected Machine agent and restart it; if it stays disconnected, reconnect it with azcmagent connect", f.id.name),
        command: if f.windows { "azcmagent show; Restart-Service himds".into() } else { "sudo azcmagent show && sudo systemctl restart himdsd".into() },
        needs: vec![f.admin_on_server().into()],
        ..StepSpec::manual()
    });
}

/// HybridConnectivity is not registered in the subscription: register it,
/// then restart the agent so it picks the registration up.
fn rp_not_registered(f: &Facts, _: &Wanted, r: &mut Report) {
    if f.registered {
        return;
    }
    let id = f.id;
    let sub = id.subscription_id();
    let allowed = f.may_register == Some(true);
    r.finding(finding(
        "rp-not-registered",
        &sub,
        format!(
            "{HYBRID_CONNECTIVITY} is {} in subscription {}",
            f.provider_state, id.subscription
        ),
        auto_if(allowed),
    ));
    r.step(StepSpec {
        id: step_id::REGISTER_PROVIDER.into(),
        fixes: vec!["rp-not-registered".into()],
        target: sub.clone(),
        description: format!("Register the {HYBRID_CONNECTIVITY} resource provider in the subscription and wait until it is Registered"),
        command: format!("az provider register -n {HYBRID_CONNECTIVITY} --subscription {} --wait", id.subscription),
        automatic: allowed,
        needs: vec![if allowed { "Microsoft.HybridConnectivity/register/action" } else { "role: Owner or Contributor on the subscription" }.into()],
        precondition: "the provider is not Registered".into(),
        verification: "registrationState is Registered (polled, at most 5 minutes)".into(),
        depends_on: vec![],
        goal: Goal::ProviderRegistered { subscription: id.subscription.clone(), namespace: HYBRID_CONNECTIVITY.into() },
        action: if allowed {
            Action::Arm { method: "POST".into(), path: format!("{sub}/providers/{HYBRID_CONNECTIVITY}/register"), api_version: api::RESOURCES.into(), body: None, satisfied_by: vec![] }
        } else {
            Action::Manual
        },
    });
    r.step(StepSpec {
        id: step_id::restart_agent(id),
        fixes: vec!["rp-not-registered".into()],
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
        depends_on: f.after_register(),
        ..StepSpec::manual()
    });
}

/// No default endpoint, or no SSH service configuration on the wanted port.
/// With the rights, arcfix creates what is missing (the endpoint only when
/// it does not exist: re-creating one disrupts the agent's relay).
fn ssh_port_not_enabled(f: &Facts, w: &Wanted, r: &mut Report) {
    let Some(evidence) = f.ssh_config_problem(w.port) else {
        return;
    };
    let (can_endpoint, can_config) = f.endpoint_rights();
    let automatic = can_endpoint && can_config;
    let (id, target, base) = (f.id, f.target(), f.base);
    r.finding(finding(
        "ssh-port-not-enabled",
        &target,
        evidence,
        auto_if(automatic),
    ));
    if !automatic {
        // endpoint_permission_missing says what to do instead.
        return;
    }
    let mut deps = f.after_register();
    if !f.endpoint_exists {
        let step = step_id::create_endpoint(id);
        r.step(StepSpec {
            id: step.clone(),
            fixes: vec!["ssh-port-not-enabled".into()],
            target: target.clone(),
            description: format!("Create the default connectivity endpoint of {} (only because it does not exist: re-creating one disrupts the agent's relay)", id.name),
            command: az_rest("put", base, &id.child(ENDPOINT), Some(&endpoint_body())),
            automatic: true,
            needs: vec![ENDPOINT_WRITE.into()],
            precondition: "the endpoint still does not exist (GET answers 404)".into(),
            verification: "GET of the endpoint answers 200".into(),
            depends_on: deps.clone(),
            goal: Goal::EndpointExists { machine: target.clone() },
            action: Action::Arm {
                method: "PUT".into(),
                path: id.child(ENDPOINT),
                api_version: api::HYBRID_CONNECTIVITY.into(),
                body: Some(endpoint_body()),
                satisfied_by: vec![],
            },
        });
        deps.push(step);
    }
    r.step(StepSpec {
        id: step_id::enable_ssh_port(id),
        fixes: vec!["ssh-port-not-enabled".into()],
        target: target.clone(),
        description: match f.config.as_ref().and_then(|c| c.properties.port) {
            // A service configuration holds one port: this replaces it.
            Some(old) if old != w.port as u64 => format!(
                "Change the port of {}'s SSH service configuration from {old} to {} (it holds one port: {old} stops working through Arc)",
                id.name, w.port
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
        needs: vec![SERVICE_CONFIG_WRITE.into()],
        precondition: format!(
            "the SSH service configuration is missing or not on port {}",
            w.port
        ),
        verification: format!("GET of the service configuration shows port {}", w.port),
        depends_on: deps,
        goal: Goal::ServiceConfigPort {
            machine: target,
            port: w.port,
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

/// SSH must be enabled but the caller may not write the endpoint or its
/// configuration: an administrator grants Contributor, or sets it up.
fn endpoint_permission_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    if f.ssh_config_problem(w.port).is_none() {
        return;
    }
    let (can_endpoint, can_config) = f.endpoint_rights();
    if can_endpoint && can_config {
        return;
    }
    let (id, target, base) = (f.id, f.target(), f.base);
    let missing: Vec<&str> = [
        (!can_endpoint).then_some(ENDPOINT_WRITE),
        (!can_config).then_some(SERVICE_CONFIG_WRITE),
    ]
    .into_iter()
    .flatten()
    .collect();
    r.finding(finding(
        "endpoint-permission-missing",
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
    if !f.endpoint_exists {
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
        id: step_id::grant_endpoint_rights(id),
        fixes: vec!["endpoint-permission-missing".into(), "ssh-port-not-enabled".into()],
        target: target.clone(),
        description: format!(
            "An administrator must give you Contributor on {} (the command below), or set SSH up once for you{}: {}",
            id.name,
            if f.endpoint_exists { "" } else { " (the endpoint, then its SSH service configuration)" },
            setup.join(" && ")
        ),
        command: format!("az role assignment create {} --role Contributor --scope {}", assignee_args(f.caller), q(&target)),
        needs: vec!["role: Owner or User Access Administrator (for the administrator)".into()],
        depends_on: f.after_register(),
        ..StepSpec::manual()
    });
}

/// A service configuration set up for an agent too old for the current flow
/// ("Connection closed by UNKNOWN port 65535").
fn service_config_outdated(f: &Facts, w: &Wanted, r: &mut Report) {
    let (Some(_), Some(version)) = (&f.config, f.agent_version.as_deref()) else {
        return;
    };
    if !older_than(version, (1, 31)) {
        return;
    }
    let (id, target, base) = (f.id, f.target(), f.base);
    r.finding(finding(
        "service-config-outdated",
        &target,
        format!("the agent of {} is {version}, older than 1.31: its SSH service configuration may close connections (Connection closed by UNKNOWN port 65535)", id.name),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        id: step_id::upgrade_agent(id),
        fixes: vec!["service-config-outdated".into()],
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
        id: step_id::recreate_ssh_config(id),
        fixes: vec!["service-config-outdated".into()],
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
        depends_on: vec![step_id::upgrade_agent(id)],
        ..StepSpec::manual()
    });
}

/// The caller lacks a right `az ssh arc` needs for this login: the login role
/// is assigned (automatically with --grant-roles and the right to do so).
fn login_role_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    let Some(p) = f.perms else { return };
    let mut lacking: Vec<&str> = [MACHINE_READ, LIST_CREDENTIALS]
        .into_iter()
        .filter(|a| !rbac::allows(p, a))
        .collect();
    let role = match w.login {
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
    let (id, target, caller) = (f.id, f.target(), f.caller);
    let automatic = w.grant_roles && f.may(ROLE_WRITE) && caller.oid.is_some();
    r.finding(finding(
        "login-role-missing",
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
    let name = crate::plan::stable_guid(&[&target, role.guid, &principal]);
    let why_manual = if automatic {
        String::new()
    } else if !w.grant_roles {
        " (arcfix assigns it with --grant-roles when you may write role assignments)".into()
    } else {
        " (you may not write role assignments: an Owner or User Access Administrator must run this)"
            .into()
    };
    r.step(StepSpec {
        id: step_id::assign_login_role(id),
        fixes: vec!["login-role-missing".into()],
        target: target.clone(),
        description: format!("Assign yourself the {} role on {}{why_manual}; sign in again afterwards (az login) so the token carries it", role.name, id.name),
        command: format!("az role assignment create {} --role {} --scope {}", assignee_args(caller), q(role.name), q(&target)),
        automatic,
        needs: vec![ROLE_WRITE.into()],
        precondition: format!("no {} assignment for you on the machine", role.name),
        verification: "the role assignment is listed on the machine".into(),
        depends_on: vec![],
        goal: Goal::RoleAssigned { scope: target.clone(), role: role.guid.into(), principal: principal.clone() },
        action: if automatic {
            Action::Arm {
                method: "PUT".into(),
                path: format!("{target}/providers/Microsoft.Authorization/roleAssignments/{name}"),
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
        "entra-unsupported-on-windows",
        &f.target(),
        format!(
            "{} runs Windows: SSH login with Microsoft Entra ID is not supported there",
            id.name
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        id: step_id::use_local_login(id),
        fixes: vec!["entra-unsupported-on-windows".into()],
        target: f.target(),
        description: "Connect with a local user account instead (arcfix --login local; az ssh arc --local-user <user>)".into(),
        command: format!("az ssh arc --resource-group {} --name {} --local-user <user>", q(&id.resource_group), q(&id.name)),
        ..StepSpec::manual()
    });
}

/// Entra login on Linux without a Succeeded AADSSHLoginForLinux extension.
fn entra_extension_missing(f: &Facts, w: &Wanted, r: &mut Report) {
    if w.login != Login::Entra || f.windows {
        return;
    }
    let found = f.entra_extension.as_ref();
    let state = found.and_then(|e| e.properties.provisioning_state.clone());
    if state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
    {
        return;
    }
    let (id, target) = (f.id, f.target());
    let name = found
        .and_then(|e| e.name.as_ref())
        .map_or_else(|| ENTRA_EXTENSION_TYPE.into(), |n| n.to_string());
    // The agent installs extensions: with it disconnected the PUT would only fail.
    let allowed = f.may(EXTENSION_WRITE) && f.connected();
    let location = &f.location;
    r.finding(finding(
        "entra-extension-missing",
        &target,
        match &state {
            None => format!("{} has no {ENTRA_EXTENSION_TYPE} extension", id.name),
            Some(s) => format!("the {ENTRA_EXTENSION_TYPE} extension of {} is {s}", id.name),
        },
        auto_if(allowed),
    ));
    r.step(StepSpec {
        id: step_id::install_entra_extension(id),
        fixes: vec!["entra-extension-missing".into()],
        target: target.clone(),
        description: format!("Install the Microsoft Entra SSH login extension ({ENTRA_EXTENSION_TYPE}) on {} and wait until it is provisioned", id.name),
        command: format!(
            "az connectedmachine extension create --machine-name {} --resource-group {} --publisher {ENTRA_EXTENSION_PUBLISHER} --name {} --type {ENTRA_EXTENSION_TYPE} --location {}",
            q(&id.name), q(&id.resource_group), q(&name), q(location)
        ),
        automatic: allowed,
        needs: vec![EXTENSION_WRITE.into(), "connected agent".into()],
        precondition: "the extension is missing or not Succeeded".into(),
        verification: "provisioningState is Succeeded (polled, at most 10 minutes)".into(),
        depends_on: vec![],
        goal: Goal::ExtensionSucceeded { machine: target, name: name.clone() },
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
            status: "Connected".into(),
            last_status_change: None,
            agent_version: Some("1.45.0".into()),
            location: "westeurope".into(),
            perms: Some(perms),
            registered: true,
            provider_state: "Registered".into(),
            may_register: None,
            endpoint_exists: true,
            config: Some(config(Some(22), Some("Succeeded"))),
            config_unreadable: false,
            entra_extension: Some(extension("Succeeded")),
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
        Wanted {
            port: 22,
            login,
            grant_roles,
        }
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
                status: "Disconnected".into(),
                agent_version: Some("1.30.0".into()),
                registered: false,
                endpoint_exists: false,
                config: None,
                entra_extension: None,
                ..h.clone()
            };
            let windows = Facts {
                windows: true,
                ..broken.clone()
            };
            let old = Facts {
                agent_version: Some("1.2".into()),
                ..h.clone()
            };
            for f in [h, broken, windows, old] {
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
                status: status.into(),
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
                registered: false,
                provider_state: "NotRegistered".into(),
                may_register: may,
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
            assert_eq!(r.findings[0].target, format!("/subscriptions/{SUB}"));
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
                endpoint_exists: *endpoint_exists,
                config: config.clone(),
                registered: !unregistered,
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
                config: config.then(|| self::config(Some(22), None)),
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
            perms: None,
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
                status: status.into(),
                entra_extension: state.map(extension),
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
}
