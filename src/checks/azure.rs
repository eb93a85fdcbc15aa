//! The Azure-side problems of one Arc machine: agent status, the
//! HybridConnectivity provider, the default endpoint and its SSH service
//! configuration, the caller's permissions, login roles and the Entra
//! extension. Independent reads run concurrently.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::azure::client::Arm;
use crate::azure::error::ArmError;
use crate::azure::models::{Extension, Machine, Page, Provider, ServiceConfiguration};
use crate::azure::rbac::{self, Permission};
use crate::azure::{HYBRID_CONNECTIVITY, api};
use crate::checks::Side;
use crate::checks::{Report, StepSpec, finding};
use crate::error::{Error, Result};
use crate::plan::{Action, Check, FixKind};
use crate::target::{Login, MachineId};

pub const ENDPOINT: &str = "/providers/Microsoft.HybridConnectivity/endpoints/default";
pub const SERVICE_CONFIG: &str =
    "/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH";
pub const ENTRA_EXTENSION_TYPE: &str = "AADSSHLoginForLinux";
pub const ENTRA_EXTENSION_PUBLISHER: &str = "Microsoft.Azure.ActiveDirectory";

const ENDPOINT_WRITE: &str = "Microsoft.HybridConnectivity/endpoints/write";
const SERVICE_CONFIG_WRITE: &str =
    "Microsoft.HybridConnectivity/endpoints/serviceConfigurations/write";
const LIST_CREDENTIALS: &str = "Microsoft.HybridConnectivity/endpoints/listCredentials/action";
const MACHINE_READ: &str = "Microsoft.HybridCompute/machines/read";
const LOGIN: &str = "Microsoft.HybridCompute/machines/login/action";
const LOGIN_ADMIN: &str = "Microsoft.HybridCompute/machines/loginAsAdmin/action";
const ROLE_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
const REGISTER: &str = "Microsoft.HybridConnectivity/register/action";
const EXTENSION_WRITE: &str = "Microsoft.HybridCompute/machines/extensions/write";

/// What the user asked for, per machine.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub port: u16,
    pub login: Login,
    pub grant_roles: bool,
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

/// Reads everything about one machine at once (one round trip of latency).
pub async fn observe(
    arm: &Arc<Arm>,
    id: &MachineId,
    wanted: &Wanted,
    caller: &crate::azure::auth::Claims,
    register_cache: &RegisterCache,
) -> Result<Observed> {
    let machine_path = id.to_string();
    let provider_path = format!("{}/providers/{HYBRID_CONNECTIVITY}", id.subscription_id());
    let permissions_path = id.child("/providers/Microsoft.Authorization/permissions");
    let endpoint_path = id.child(ENDPOINT);
    let config_path = id.child(SERVICE_CONFIG);
    let extensions_path = id.child("/extensions");
    let want_extensions = wanted.login == Login::Entra;
    let (machine, provider, permissions, endpoint, config, extensions) = tokio::join!(
        arm.get(&machine_path, api::HYBRID_COMPUTE),
        arm.get(&provider_path, api::RESOURCES),
        list_all::<Permission>(arm, &permissions_path, api::AUTHORIZATION),
        arm.get_opt(&endpoint_path, api::HYBRID_CONNECTIVITY),
        arm.get_opt(&config_path, api::HYBRID_CONNECTIVITY),
        async {
            if want_extensions {
                Some(list_all::<Extension>(arm, &extensions_path, api::HYBRID_COMPUTE).await)
            } else {
                None
            }
        },
    );
    let machine = match machine {
        Ok(a) => parse::<Machine>(a.body, &machine_path)?,
        Err(e) if e.status == 404 => {
            return Err(Error::input(format!(
                "Arc machine not found: {id} ({}: {})",
                e.code,
                crate::text::one_line(&e.message)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let provider: std::result::Result<Provider, ArmError> = provider
        .and_then(|a| parse(a.body, &provider_path).map_err(|e| bad_json(&provider_path, e)));
    let registered = provider
        .as_ref()
        .map(|p| {
            p.registration_state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Registered"))
        })
        .unwrap_or(true);
    let may_register = if registered {
        None
    } else {
        // Held across the read, so machines of one subscription ask once.
        let mut cache = register_cache.lock().await;
        match cache.get(&id.subscription) {
            Some(known) => *known,
            None => {
                let answer = may_register(arm, &id.subscription, caller.oid.as_deref()).await;
                cache.insert(id.subscription.clone(), answer);
                answer
            }
        }
    };
    Ok(Observed {
        may_register,
        machine,
        provider,
        permissions,
        endpoint,
        service_config: config.and_then(|o| {
            o.map(|v| parse(v, &config_path).map_err(|e| bad_json(&config_path, e)))
                .transpose()
        }),
        extensions,
    })
}

fn bad_json(path: &str, e: Error) -> ArmError {
    ArmError {
        status: 200,
        code: "InvalidResponse".into(),
        message: e.to_string(),
        method: "GET".into(),
        path: path.into(),
        correlation_id: None,
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| Error::input(format!("unexpected answer from ARM for {path}: {e}")))
}

/// GETs a pageable list, following `nextLink`.
pub async fn list_all<T: serde::de::DeserializeOwned>(
    arm: &Arm,
    path: &str,
    api_version: &str,
) -> std::result::Result<Vec<T>, ArmError> {
    let mut out = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(p) = next.take() {
        let a = arm.get(&p, api_version).await?;
        let page: Page<T> =
            serde_json::from_value(a.body).map_err(|e| bad_json(path, Error::input(e)))?;
        out.extend(page.value);
        pages += 1;
        next = page.next_link.filter(|l| !l.is_empty() && pages < 100);
    }
    Ok(out)
}

/// Turns what was read into findings and steps.
pub fn assess(
    id: &MachineId,
    o: &Observed,
    wanted: &Wanted,
    caller: &crate::azure::auth::Claims,
    base: &str,
) -> Report {
    let mut r = Report::default();
    let target = id.to_string();
    // The endpoint the commands for people use: the one arcfix talks to.
    let base = base.trim_end_matches('/');
    let status = o
        .machine
        .properties
        .status
        .clone()
        .unwrap_or_else(|| "Unknown".into());
    let os = if o.machine.is_windows() {
        "windows"
    } else {
        "linux"
    };
    r.observe(format!("{target} status={status} os={os}"));

    // What the caller may do here; when the permissions cannot be read, writes are
    // attempted and ARM's answer decides.
    let perms = o.permissions.as_ref().ok();
    if let Err(e) = &o.permissions {
        r.unread(
            Side::Azure,
            format!("could not read your permissions on {}: {e}", id.name),
        );
    }
    // Unknown permissions make a step manual: a write is never attempted on a guess.
    let may = |action: &str| perms.is_some_and(|p| rbac::allows(p, action));
    if let Some(p) = perms {
        r.observe(format!(
            "{target} permissions={}",
            serde_json::to_string(p).unwrap_or_default()
        ));
    }
    let assignee = assignee_args(caller);

    let connected = status.eq_ignore_ascii_case("Connected");
    if !connected {
        r.finding(finding(
            "agent-disconnected",
            &target,
            format!(
                "the Arc agent of {} is {status} (last change {})",
                id.name,
                o.machine
                    .properties
                    .last_status_change
                    .as_deref()
                    .unwrap_or("unknown")
            ),
            FixKind::Manual,
        ));
        r.step(StepSpec {
            id: "reconnect-agent".into(),
            fixes: vec!["agent-disconnected".into()],
            target: target.clone(),
            description: format!("On {}, check the Connected Machine agent and restart it; if it stays disconnected, reconnect it with azcmagent connect", id.name),
            command: if os == "windows" { "azcmagent show; Restart-Service himds".into() } else { "sudo azcmagent show && sudo systemctl restart himdsd".into() },
            needs: vec![if os == "windows" { "administrator on the server" } else { "root on the server" }.into()],
            ..StepSpec::manual()
        });
    }

    // The provider.
    let mut after_register = Vec::new();
    let registered = match &o.provider {
        Ok(p) => {
            let state = p
                .registration_state
                .clone()
                .unwrap_or_else(|| "Unknown".into());
            r.observe(format!("{} provider={state}", id.subscription_id()));
            state.eq_ignore_ascii_case("Registered")
        }
        Err(e) => {
            r.unread(
                Side::Azure,
                format!("could not read the {HYBRID_CONNECTIVITY} provider: {e}"),
            );
            true
        }
    };
    if !registered {
        let state = o
            .provider
            .as_ref()
            .ok()
            .and_then(|p| p.registration_state.clone())
            .unwrap_or_default();
        let sub = id.subscription_id();
        let allowed = o.may_register == Some(true);
        r.finding(finding(
            "rp-not-registered",
            &sub,
            format!(
                "{HYBRID_CONNECTIVITY} is {state} in subscription {}",
                id.subscription
            ),
            if allowed {
                FixKind::Auto
            } else {
                FixKind::Manual
            },
        ));
        r.step(StepSpec {
            id: "register-hybridconnectivity".into(),
            fixes: vec!["rp-not-registered".into()],
            target: sub.clone(),
            description: format!("Register the {HYBRID_CONNECTIVITY} resource provider in the subscription and wait until it is Registered"),
            command: format!("az provider register -n {HYBRID_CONNECTIVITY} --subscription {} --wait", id.subscription),
            automatic: allowed,
            needs: vec![if allowed { "Microsoft.HybridConnectivity/register/action" } else { "role: Owner or Contributor on the subscription" }.into()],
            precondition: "the provider is not Registered".into(),
            verification: "registrationState is Registered (polled, at most 5 minutes)".into(),
            depends_on: vec![],
            check: Check::ProviderRegistered { subscription: id.subscription.clone(), namespace: HYBRID_CONNECTIVITY.into() },
            action: if allowed {
                Action::Arm { method: "POST".into(), path: format!("{sub}/providers/{HYBRID_CONNECTIVITY}/register"), api_version: api::RESOURCES.into(), body: None, satisfied_by: vec![] }
            } else {
                Action::Manual
            },
        });
        after_register.push("register-hybridconnectivity".to_string());
        r.step(StepSpec {
            id: format!("restart-hybrid-agent-{}", id.name.to_ascii_lowercase()),
            fixes: vec!["rp-not-registered".into()],
            target: target.clone(),
            description: format!("Restart the hybrid agent on {} so it picks up the registration (run on the server)", id.name),
            command: if os == "windows" { "Restart-Service himds".into() } else { "sudo systemctl restart himdsd".into() },
            needs: vec!["connected agent".into(), if os == "windows" { "administrator on the server" } else { "root on the server" }.into()],
            depends_on: after_register.clone(),
            ..StepSpec::manual()
        });
    }

    // The endpoint and its SSH service configuration.
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
    let config_port = config.as_ref().and_then(|c| c.properties.port);
    let config_state = config
        .as_ref()
        .and_then(|c| c.properties.provisioning_state.clone());
    r.observe(format!(
        "{target} ssh-config={config_port:?} {config_state:?}"
    ));
    let config_ok = config.is_some()
        && (config_port == Some(wanted.port as u64) || o.service_config.is_err())
        && config_state
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"));
    if !endpoint_exists || !config_ok {
        let evidence = if !endpoint_exists {
            format!("{} has no default connectivity endpoint", id.name)
        } else if config.is_none() {
            format!(
                "the default endpoint of {} has no SSH service configuration",
                id.name
            )
        } else if config_port != Some(wanted.port as u64) {
            format!(
                "SSH is enabled on port {} of {}, not on {}",
                config_port.map(|p| p.to_string()).unwrap_or("?".into()),
                id.name,
                wanted.port
            )
        } else {
            format!(
                "the SSH service configuration of {} is {}",
                id.name,
                config_state.clone().unwrap_or_default()
            )
        };
        let can_endpoint = endpoint_exists || may(ENDPOINT_WRITE);
        let can_config = may(SERVICE_CONFIG_WRITE);
        let automatic = can_endpoint && can_config;
        r.finding(finding(
            "ssh-port-not-enabled",
            &target,
            evidence,
            if automatic {
                FixKind::Auto
            } else {
                FixKind::Manual
            },
        ));
        if !automatic {
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
                    caller.display_name(),
                    missing.join(" or "),
                    id.name
                ),
                FixKind::Manual,
            ));
            // What the administrator would run instead: only what is missing,
            // the endpoint before its service configuration.
            let mut setup = Vec::new();
            if !endpoint_exists {
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
                Some(&config_body(wanted.port)),
            ));
            r.step(StepSpec {
                id: format!("grant-endpoint-rights-{}", id.name.to_ascii_lowercase()),
                fixes: vec!["endpoint-permission-missing".into(), "ssh-port-not-enabled".into()],
                target: target.clone(),
                description: format!(
                    "An administrator must give you Contributor on {} (the command below), or set SSH up once for you{}: {}",
                    id.name,
                    if endpoint_exists { "" } else { " (the endpoint, then its SSH service configuration)" },
                    setup.join(" && ")
                ),
                command: format!("az role assignment create {assignee} --role \"Contributor\" --scope {target}"),
                needs: vec!["role: Owner or User Access Administrator (for the administrator)".into()],
                depends_on: after_register.clone(),
                ..StepSpec::manual()
            });
        } else {
            let mut deps = after_register.clone();
            if !endpoint_exists {
                let step = format!("create-default-endpoint-{}", id.name.to_ascii_lowercase());
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
                    check: Check::EndpointExists { machine: target.clone() },
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
                id: format!("enable-ssh-port-{}", id.name.to_ascii_lowercase()),
                fixes: vec!["ssh-port-not-enabled".into()],
                target: target.clone(),
                description: format!(
                    "Allow SSH on port {} of {} (the endpoint's SSH service configuration)",
                    wanted.port, id.name
                ),
                command: az_rest(
                    "put",
                    base,
                    &id.child(SERVICE_CONFIG),
                    Some(&config_body(wanted.port)),
                ),
                automatic: true,
                needs: vec![SERVICE_CONFIG_WRITE.into()],
                precondition: format!(
                    "the SSH service configuration is missing or not on port {}",
                    wanted.port
                ),
                verification: format!(
                    "GET of the service configuration shows port {}",
                    wanted.port
                ),
                depends_on: deps,
                check: Check::ServiceConfigPort {
                    machine: target.clone(),
                    port: wanted.port,
                },
                action: Action::Arm {
                    method: "PUT".into(),
                    path: id.child(SERVICE_CONFIG),
                    api_version: api::HYBRID_CONNECTIVITY.into(),
                    body: Some(config_body(wanted.port)),
                    satisfied_by: vec![],
                },
            });
        }
    }

    // A service configuration set up for an agent too old for the current flow
    // ("Connection closed by UNKNOWN port 65535").
    if let (Some(_), Some(version)) = (&config, o.machine.properties.agent_version.as_deref())
        && older_than(version, (1, 31))
    {
        r.finding(finding(
            "service-config-outdated",
            &target,
            format!("the agent of {} is {version}, older than 1.31: its SSH service configuration may close connections (Connection closed by UNKNOWN port 65535)", id.name),
            FixKind::Manual,
        ));
        r.step(StepSpec {
            id: format!("upgrade-agent-{}", id.name.to_ascii_lowercase()),
            fixes: vec!["service-config-outdated".into()],
            target: target.clone(),
            description: format!("Upgrade the Connected Machine agent on {} (1.31 or newer)", id.name),
            command: if os == "windows" {
                "Invoke-WebRequest -Uri https://aka.ms/AzureConnectedMachineAgent -OutFile AzureConnectedMachineAgent.msi; Start-Process msiexec.exe -Wait -ArgumentList '/i AzureConnectedMachineAgent.msi /qn /l*v azcmagent-upgrade.log'".into()
            } else {
                "if command -v apt-get >/dev/null; then sudo apt-get update && sudo apt-get install --only-upgrade -y azcmagent; elif command -v dnf >/dev/null; then sudo dnf upgrade -y azcmagent; else sudo zypper --non-interactive update azcmagent; fi".into()
            },
            ..StepSpec::manual()
        });
        r.step(StepSpec {
            id: format!("recreate-ssh-config-{}", id.name.to_ascii_lowercase()),
            fixes: vec!["service-config-outdated".into()],
            target: target.clone(),
            description: "Then delete the SSH service configuration and create it again".into(),
            command: format!(
                "{} && {}",
                az_rest("delete", base, &id.child(SERVICE_CONFIG), None),
                az_rest(
                    "put",
                    base,
                    &id.child(SERVICE_CONFIG),
                    Some(&config_body(wanted.port))
                )
            ),
            depends_on: vec![format!("upgrade-agent-{}", id.name.to_ascii_lowercase())],
            ..StepSpec::manual()
        });
    }

    // Login rights.
    if let Some(p) = perms {
        let (role, lacking): (&rbac::BuiltInRole, Vec<&str>) = match wanted.login {
            Login::Local => (
                &rbac::VM_LOCAL_USER_LOGIN,
                [MACHINE_READ, LIST_CREDENTIALS]
                    .into_iter()
                    .filter(|a| !rbac::allows(p, a))
                    .collect(),
            ),
            Login::Entra => {
                let mut l: Vec<&str> = [MACHINE_READ, LIST_CREDENTIALS]
                    .into_iter()
                    .filter(|a| !rbac::allows(p, a))
                    .collect();
                if !rbac::allows_data(p, LOGIN) && !rbac::allows_data(p, LOGIN_ADMIN) {
                    l.push(LOGIN);
                }
                (&rbac::VM_USER_LOGIN, l)
            }
        };
        if !lacking.is_empty() {
            let automatic = wanted.grant_roles && may(ROLE_WRITE) && caller.oid.is_some();
            r.finding(finding(
                "login-role-missing",
                &target,
                format!(
                    "{} lacks {} on {}",
                    caller.display_name(),
                    lacking.join(", "),
                    id.name
                ),
                if automatic {
                    FixKind::Auto
                } else {
                    FixKind::Manual
                },
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
            } else if !wanted.grant_roles {
                " (arcfix assigns it with --grant-roles when you may write role assignments)".into()
            } else {
                " (you may not write role assignments: an Owner or User Access Administrator must run this)".into()
            };
            r.step(StepSpec {
                id: format!("assign-login-role-{}", id.name.to_ascii_lowercase()),
                fixes: vec!["login-role-missing".into()],
                target: target.clone(),
                description: format!("Assign yourself the {} role on {}{why_manual}; sign in again afterwards (az login) so the token carries it", role.name, id.name),
                command: format!("az role assignment create {assignee} --role \"{}\" --scope {target}", role.name),
                automatic,
                needs: vec![ROLE_WRITE.into()],
                precondition: format!("no {} assignment for you on the machine", role.name),
                verification: "the role assignment is listed on the machine".into(),
                depends_on: vec![],
                check: Check::RoleAssigned { scope: target.clone(), role: role.guid.into(), principal: principal.clone() },
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
    }

    // The Entra login extension.
    if wanted.login == Login::Entra {
        if o.machine.is_windows() {
            r.finding(finding(
                "entra-unsupported-on-windows",
                &target,
                format!(
                    "{} runs Windows: SSH login with Microsoft Entra ID is not supported there",
                    id.name
                ),
                FixKind::Manual,
            ));
            r.step(StepSpec {
                id: format!("use-local-login-{}", id.name.to_ascii_lowercase()),
                fixes: vec!["entra-unsupported-on-windows".into()],
                target: target.clone(),
                description: "Connect with a local user account instead (arcfix --login local; az ssh arc --local-user <user>)".into(),
                command: format!("az ssh arc --resource-group {} --name {} --local-user <user>", id.resource_group, id.name),
                ..StepSpec::manual()
            });
        } else {
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
            if !state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
            {
                let name = found
                    .as_ref()
                    .and_then(|e| e.name.clone())
                    .unwrap_or_else(|| ENTRA_EXTENSION_TYPE.into());
                // The agent installs extensions: with it disconnected the PUT would only fail.
                let allowed = may(EXTENSION_WRITE) && connected;
                let location = o.machine.location.clone().unwrap_or_default();
                r.finding(finding(
                    "entra-extension-missing",
                    &target,
                    match &state {
                        None => format!("{} has no {ENTRA_EXTENSION_TYPE} extension", id.name),
                        Some(s) => {
                            format!("the {ENTRA_EXTENSION_TYPE} extension of {} is {s}", id.name)
                        }
                    },
                    if allowed {
                        FixKind::Auto
                    } else {
                        FixKind::Manual
                    },
                ));
                r.step(StepSpec {
                    id: format!("install-entra-extension-{}", id.name.to_ascii_lowercase()),
                    fixes: vec!["entra-extension-missing".into()],
                    target: target.clone(),
                    description: format!("Install the Microsoft Entra SSH login extension ({ENTRA_EXTENSION_TYPE}) on {} and wait until it is provisioned", id.name),
                    command: format!(
                        "az connectedmachine extension create --machine-name {} --resource-group {} --publisher {ENTRA_EXTENSION_PUBLISHER} --name {name} --type {ENTRA_EXTENSION_TYPE} --location {location}",
                        id.name, id.resource_group
                    ),
                    automatic: allowed,
                    needs: vec![EXTENSION_WRITE.into(), "connected agent".into()],
                    precondition: "the extension is missing or not Succeeded".into(),
                    verification: "provisioningState is Succeeded (polled, at most 10 minutes)".into(),
                    depends_on: vec![],
                    check: Check::ExtensionSucceeded { machine: target.clone(), name: name.clone() },
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
        }
    }
    r
}

/// The body of the default endpoint's PUT.
fn endpoint_body() -> Value {
    json!({"properties": {"type": "default"}})
}

/// The body of the SSH service configuration's PUT.
fn config_body(port: u16) -> Value {
    json!({"properties": {"serviceName": "SSH", "port": port}})
}

/// `az rest` as a person types it: the URI in double quotes (its `?` is a
/// glob character in the shell, an error in zsh), the JSON body in single ones.
fn az_rest(method: &str, base: &str, path: &str, body: Option<&Value>) -> String {
    let mut c = format!(
        "az rest --method {method} --uri \"{base}{path}?api-version={}\"",
        api::HYBRID_CONNECTIVITY
    );
    if let Some(b) = body {
        c.push_str(&format!(" --body '{b}'"));
    }
    c
}

/// Who `az role assignment create` assigns: the object id with its principal
/// type when the token has one (no directory lookup, which an administrator
/// may lack and which fails for a new principal), else the sign-in name.
fn assignee_args(caller: &crate::azure::auth::Claims) -> String {
    match &caller.oid {
        Some(oid) => format!(
            "--assignee-object-id {oid} --assignee-principal-type {}",
            caller.principal_type()
        ),
        None => format!("--assignee {}", caller.display_name()),
    }
}

pub type RegisterCache = tokio::sync::Mutex<std::collections::HashMap<String, Option<bool>>>;

/// Whether the caller may register providers in the subscription: first the
/// caller's effective permissions there (ARM serves the permissions API at
/// subscription scope, though the published spec lists it only below:
/// azure-rest-api-specs issue #19473; roles held through groups count), else
/// the role assignments `assignedTo()` the caller (transitive group
/// memberships included, as `az role assignment list --include-groups`).
/// `None` when neither can be read: the step is then manual.
pub async fn may_register(arm: &Arm, subscription: &str, oid: Option<&str>) -> Option<bool> {
    let sub = format!("/subscriptions/{subscription}");
    let permissions = format!("{sub}/providers/Microsoft.Authorization/permissions");
    match list_all::<Permission>(arm, &permissions, api::AUTHORIZATION).await {
        Ok(perms) => return Some(rbac::allows(&perms, REGISTER)),
        Err(e) => {
            tracing::info!("subscription permissions unreadable, trying role assignments: {e}")
        }
    }
    let oid = oid?;
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

/// HybridConnectivity answers these while the provider is not registered.
pub fn is_unregistered(e: &ArmError) -> bool {
    matches!(
        e.code.as_str(),
        "MissingSubscriptionRegistration"
            | "NoRegisteredProviderFound"
            | "SubscriptionNotRegistered"
    )
}

/// Lists the machines of a subscription or resource group (fleet mode).
pub async fn list_machines(
    arm: &Arm,
    subscription: &str,
    resource_group: Option<&str>,
) -> Result<Vec<MachineId>> {
    let path = match resource_group {
        Some(rg) => format!(
            "/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines"
        ),
        None => format!("/subscriptions/{subscription}/providers/Microsoft.HybridCompute/machines"),
    };
    let machines = list_all::<Machine>(arm, &path, api::HYBRID_COMPUTE).await?;
    machines
        .iter()
        .filter_map(|m| m.id.as_deref())
        .map(MachineId::parse)
        .collect()
}

/// Re-reads one check's state (the precondition and the verification).
pub async fn satisfied(arm: &Arm, check: &Check) -> Result<bool> {
    Ok(match check {
        Check::ProviderRegistered {
            subscription,
            namespace,
        } => {
            let a = arm
                .get(
                    &format!("/subscriptions/{subscription}/providers/{namespace}"),
                    api::RESOURCES,
                )
                .await?;
            let p: Provider = parse(a.body, namespace)?;
            p.registration_state
                .is_some_and(|s| s.eq_ignore_ascii_case("Registered"))
        }
        Check::EndpointExists { machine } => match arm
            .get_opt(&format!("{machine}{ENDPOINT}"), api::HYBRID_CONNECTIVITY)
            .await
        {
            Ok(v) => v.is_some(),
            Err(e) if is_unregistered(&e) => false,
            Err(e) => return Err(e.into()),
        },
        Check::ServiceConfigPort { machine, port } => {
            match arm
                .get_opt(
                    &format!("{machine}{SERVICE_CONFIG}"),
                    api::HYBRID_CONNECTIVITY,
                )
                .await
            {
                Ok(Some(v)) => {
                    let c: ServiceConfiguration = parse(v, "serviceConfigurations/SSH")?;
                    c.properties.port == Some(*port as u64)
                        && c.properties
                            .provisioning_state
                            .as_deref()
                            .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
                }
                Ok(None) => false,
                Err(e) if is_unregistered(&e) => false,
                Err(e) => return Err(e.into()),
            }
        }
        Check::RoleAssigned {
            scope,
            role,
            principal,
        } => {
            let path = format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{principal}'"
            );
            let list =
                list_all::<crate::azure::models::RoleAssignment>(arm, &path, api::AUTHORIZATION)
                    .await?;
            list.iter().any(|a| {
                a.properties
                    .principal_id
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(principal))
                    && a.properties.role_definition_id.as_deref().is_some_and(|d| {
                        d.to_ascii_lowercase().ends_with(&role.to_ascii_lowercase())
                    })
            })
        }
        Check::ExtensionSucceeded { machine, name } => {
            match arm
                .get_opt(&format!("{machine}/extensions/{name}"), api::HYBRID_COMPUTE)
                .await?
            {
                Some(v) => {
                    let e: Extension = parse(v, name)?;
                    e.properties
                        .provisioning_state
                        .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
                }
                None => false,
            }
        }
        // A silent `false` here once hid a missing remote-probe arm: refuse instead.
        other => {
            return Err(Error::Other(format!(
                "internal: {other:?} is not an Azure check"
            )));
        }
    })
}

/// Whether a check's state settles by itself after the write (provider
/// registration, extension provisioning): verification then polls.
pub fn settles_slowly(check: &Check) -> Option<std::time::Duration> {
    match check {
        Check::ProviderRegistered { .. } => Some(std::time::Duration::from_secs(300)),
        Check::ExtensionSucceeded { .. } => Some(std::time::Duration::from_secs(600)),
        Check::RoleAssigned { .. } => Some(std::time::Duration::from_secs(60)),
        // A service needs a moment to start listening.
        Check::Server {
            fact: crate::plan::ServerFact::SshAnswers,
            ..
        } => Some(std::time::Duration::from_secs(15)),
        _ => None,
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
