//! Microsoft.HybridConnectivity on a machine: the `default` endpoint, its
//! service configurations, and the credential actions `az ssh arc` calls.
//! None of these is long-running; endpoint PUT answers 200 only. Credential
//! actions need their own RBAC action, answer 404 for a missing endpoint and
//! never create one; what they hand out is recorded (`Sim::issued`).

use serde_json::{Value, json};

use crate::sim::IssuedCredential;
use crate::sim::arm::{Ctx, find_parent_machine, machine_id, method_not_allowed, paged};
use crate::sim::reply::{ArmError, ArmResult, Reply, parent_not_found, resource_not_found};
use crate::sim::route::{EndpointAction, MachineRef, Route};
use crate::sim::world::{Endpoint, MachineAt, ServiceConfig, SystemData, World, new_guid};

const NS: &str = "Microsoft.HybridConnectivity";

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    match route {
        Route::Endpoints { m } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            ctx.require(
                world,
                "Microsoft.HybridConnectivity/endpoints/read",
                &machine_id(world, m),
            )?;
            let at = find_parent_machine(world, m)?;
            let items = world
                .machine(at)
                .endpoints
                .iter()
                .map(|e| world.endpoint_json(at, e))
                .collect();
            paged(ctx, items, world.page_size)
        }
        Route::Endpoint { m, name } => endpoint(world, ctx, m, name),
        Route::EndpointAction {
            m,
            endpoint,
            action,
        } => endpoint_action(world, ctx, m, endpoint, *action),
        Route::ServiceConfigs { m, endpoint } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = endpoint_scope(world, m, endpoint);
            ctx.require(
                world,
                "Microsoft.HybridConnectivity/endpoints/serviceConfigurations/read",
                &scope,
            )?;
            let (at, ei) = find_parent_endpoint(world, m, endpoint)?;
            let e = &world.machine(at).endpoints[ei];
            let items = e
                .configs
                .iter()
                .map(|c| world.service_config_json(at, e, c))
                .collect();
            paged(ctx, items, world.page_size)
        }
        Route::ServiceConfig { m, endpoint, name } => service_config(world, ctx, m, endpoint, name),
        _ => unreachable!("routed by the front door"),
    }
}

fn endpoint_scope(world: &World, m: &MachineRef, name: &str) -> String {
    let at = world.machine_at(&m.sub, &m.rg, m.kind, &m.name);
    let name = at
        .and_then(|at| {
            find_endpoint(world, at, name).map(|i| world.machine(at).endpoints[i].name.clone())
        })
        .unwrap_or_else(|| name.to_string());
    format!("{}/providers/{NS}/endpoints/{name}", machine_id(world, m))
}

fn find_endpoint(world: &World, at: MachineAt, name: &str) -> Option<usize> {
    world
        .machine(at)
        .endpoints
        .iter()
        .position(|e| e.name.eq_ignore_ascii_case(name))
}

fn endpoint_not_found(world: &World, m: &MachineRef, at: MachineAt, name: &str) -> ArmError {
    let machine = world.machine(at);
    resource_not_found(
        &format!(
            "{}/{}/providers/{NS}/endpoints/{name}",
            machine.kind.full(),
            machine.name
        ),
        &m.rg,
    )
}

/// The endpoint as the parent of a service configuration.
fn find_parent_endpoint(
    world: &World,
    m: &MachineRef,
    name: &str,
) -> Result<(MachineAt, usize), ArmError> {
    let at = find_parent_machine(world, m)?;
    let ei = find_endpoint(world, at, name).ok_or_else(|| parent_not_found(name))?;
    Ok((at, ei))
}

fn endpoint(world: &mut World, ctx: &Ctx, m: &MachineRef, name: &str) -> ArmResult {
    let scope = endpoint_scope(world, m, name);
    match ctx.method() {
        "GET" => {
            ctx.require(world, "Microsoft.HybridConnectivity/endpoints/read", &scope)?;
            let at = find_parent_machine(world, m)?;
            let ei = find_endpoint(world, at, name)
                .ok_or_else(|| endpoint_not_found(world, m, at, name))?;
            Ok(Reply::ok(
                world.endpoint_json(at, &world.machine(at).endpoints[ei]),
            ))
        }
        method @ ("PUT" | "PATCH") => {
            ctx.require(
                world,
                "Microsoft.HybridConnectivity/endpoints/write",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let existing = find_endpoint(world, at, name);
            if method == "PATCH" && existing.is_none() {
                return Err(endpoint_not_found(world, m, at, name));
            }
            let props = ctx
                .body()
                .and_then(|b| b.get("properties"))
                .cloned()
                .unwrap_or(Value::Null);
            let kind = match props.get("type").and_then(Value::as_str) {
                Some(k) if k.eq_ignore_ascii_case("default") => "default",
                Some(k) if k.eq_ignore_ascii_case("custom") => "custom",
                Some(k) => {
                    return Err(ArmError::bad_request(
                        "BadRequest",
                        format!("properties.type '{k}' is not one of 'default', 'custom'."),
                    ));
                }
                None => {
                    return Err(ArmError::bad_request(
                        "BadRequest",
                        "properties.type is required.",
                    ));
                }
            };
            let resource_id = props
                .get("resourceId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let (who, who_type) = (
                ctx.caller.display.clone(),
                ctx.caller.principal_type.clone(),
            );
            let machine = world.machine_mut(at);
            let ei = match existing {
                Some(i) => {
                    let e = &mut machine.endpoints[i];
                    e.kind = kind.into();
                    e.resource_id = resource_id;
                    e.system.touch(&who, &who_type);
                    i
                }
                None => {
                    machine.endpoints.push(Endpoint {
                        name: name.to_string(),
                        kind: kind.into(),
                        resource_id,
                        configs: Vec::new(),
                        system: SystemData::by(&who, &who_type),
                    });
                    machine.endpoints.len() - 1
                }
            };
            Ok(Reply::ok(
                world.endpoint_json(at, &world.machine(at).endpoints[ei]),
            ))
        }
        "DELETE" => {
            ctx.require(
                world,
                "Microsoft.HybridConnectivity/endpoints/delete",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            match find_endpoint(world, at, name) {
                Some(i) => {
                    world.machine_mut(at).endpoints.remove(i);
                    Ok(Reply::empty(200))
                }
                None => Ok(Reply::empty(204)),
            }
        }
        other => Err(method_not_allowed(other)),
    }
}

fn endpoint_action(
    world: &mut World,
    ctx: &Ctx,
    m: &MachineRef,
    name: &str,
    action: EndpointAction,
) -> ArmResult {
    if ctx.method() != "POST" {
        return Err(method_not_allowed(ctx.method()));
    }
    let scope = endpoint_scope(world, m, name);
    ctx.require(
        world,
        &format!("{NS}/endpoints/{}/action", action.name()),
        &scope,
    )?;
    let at = find_parent_machine(world, m)?;
    let ei =
        find_endpoint(world, at, name).ok_or_else(|| endpoint_not_found(world, m, at, name))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = ctx.body().cloned().unwrap_or(Value::Null);
    if action == EndpointAction::ManagedProxyDetails {
        if body.get("service").and_then(Value::as_str).is_none() {
            return Err(ArmError::bad_request(
                "BadRequest",
                "The 'service' property is required.",
            ));
        }
        return Ok(Reply::ok(json!({
            "proxy": format!("sim-{}.proxy.arcfix.invalid", &new_guid()[..8]),
            "expiresOn": now + 3600,
        })));
    }
    let expires_in = match ctx.q("expiresin") {
        None => 10800,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (600..=10800).contains(&n) => n,
            _ => {
                return Err(ArmError::bad_request(
                    "BadRequest",
                    format!(
                        "The value '{v}' of 'expiresin' is not valid: it must be between 600 and 10800."
                    ),
                ));
            }
        },
    };
    let machine = world.machine(at);
    let endpoint = &machine.endpoints[ei];
    let service = body.get("serviceName").and_then(Value::as_str);
    if let Some(service) = service
        && !endpoint
            .configs
            .iter()
            .any(|c| c.service_name.eq_ignore_ascii_case(service))
    {
        return Err(ArmError::new(
            412,
            "PreconditionFailed",
            format!(
                "The service configuration '{service}' was not found on endpoint '{}'. Create it before requesting \
                 credentials for it.",
                endpoint.name
            ),
        ));
    }
    // The shape of the official example: a Service Bus relay namespace, a
    // hybrid connection named after the machine, and a SAS access key.
    let namespace = format!("azgnrelay-{}-l1", machine.location.to_ascii_lowercase());
    let suffix = "servicebus.windows.net";
    let connection = format!(
        "microsoft.hybridcompute/machines/{}/{}",
        machine.vm_id.replace('-', ""),
        now
    );
    let resource = format!("http://{namespace}.{suffix}/{connection}/");
    let encoded: String = url::form_urlencoded::byte_serialize(resource.as_bytes()).collect();
    let mut relay = json!({
        "namespaceName": namespace,
        "namespaceNameSuffix": suffix,
        "hybridConnectionName": connection,
        "accessKey": format!(
            "SharedAccessSignature sr={encoded}&sig=SIM-SECRET-{}",
            new_guid().replace('-', "")
        ),
        "expiresOn": now + expires_in,
    });
    if service.is_some() {
        relay["serviceConfigurationToken"] = json!(format!(
            "SIM-SECRET-serviceConfigurationToken-{}",
            new_guid()
        ));
    }
    let issued = IssuedCredential {
        endpoint: world.endpoint_id(at, endpoint),
        action: action.name().to_string(),
        service_name: service.map(str::to_string),
        caller: ctx.caller.oid.clone(),
        relay: relay.clone(),
    };
    let mut out = json!({ "relay": relay });
    if action == EndpointAction::IngressGatewayCredentials {
        out["ingress"] = json!({
            "hostname": format!("{}.ingress.arcfix.invalid", machine.name.to_ascii_lowercase()),
            "aadProfile": {"serverId": "6256c85f-0aad-4d50-b960-e6e9b21efe35", "tenantId": world.tenant},
        });
    }
    world.issued.push(issued);
    Ok(Reply::ok(out))
}

fn service_config(
    world: &mut World,
    ctx: &Ctx,
    m: &MachineRef,
    endpoint: &str,
    name: &str,
) -> ArmResult {
    let scope = format!(
        "{}/serviceConfigurations/{name}",
        endpoint_scope(world, m, endpoint)
    );
    let action = |verb: &str| format!("{NS}/endpoints/serviceConfigurations/{verb}");
    let find = |world: &World, at: MachineAt, ei: usize| {
        world.machine(at).endpoints[ei]
            .configs
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    };
    let not_found = |world: &World, at: MachineAt, ei: usize| {
        let machine = world.machine(at);
        resource_not_found(
            &format!(
                "Microsoft.HybridCompute/machines/{}/providers/{NS}/endpoints/{}/serviceConfigurations/{name}",
                machine.name, machine.endpoints[ei].name
            ),
            &m.rg,
        )
    };
    match ctx.method() {
        "GET" => {
            ctx.require(world, &action("read"), &scope)?;
            let (at, ei) = find_parent_endpoint(world, m, endpoint)?;
            let ci = find(world, at, ei).ok_or_else(|| not_found(world, at, ei))?;
            let e = &world.machine(at).endpoints[ei];
            Ok(Reply::ok(world.service_config_json(at, e, &e.configs[ci])))
        }
        method @ ("PUT" | "PATCH") => {
            ctx.require(world, &action("write"), &scope)?;
            let (at, ei) = find_parent_endpoint(world, m, endpoint)?;
            let existing = find(world, at, ei);
            if method == "PATCH" && existing.is_none() {
                return Err(not_found(world, at, ei));
            }
            let props = ctx
                .body()
                .and_then(|b| b.get("properties"))
                .cloned()
                .unwrap_or(Value::Null);
            let port = match props.get("port") {
                None if method == "PATCH" => None,
                None => {
                    return Err(ArmError::bad_request(
                        "BadRequest",
                        "properties.port is required.",
                    ));
                }
                Some(v) => Some(port_of(v)?),
            };
            let service_name = match props.get("serviceName").and_then(Value::as_str) {
                Some(s) if s.eq_ignore_ascii_case("SSH") => Some("SSH"),
                Some(s) if s.eq_ignore_ascii_case("WAC") => Some("WAC"),
                Some(s) => {
                    return Err(ArmError::bad_request(
                        "BadRequest",
                        format!("properties.serviceName '{s}' is not one of 'SSH', 'WAC'."),
                    ));
                }
                None if method == "PATCH" => None,
                None => {
                    return Err(ArmError::bad_request(
                        "BadRequest",
                        "properties.serviceName is required.",
                    ));
                }
            };
            let (who, who_type) = (
                ctx.caller.display.clone(),
                ctx.caller.principal_type.clone(),
            );
            let configs = &mut world.machine_mut(at).endpoints[ei].configs;
            let (status, ci) = match existing {
                Some(i) => {
                    let c = &mut configs[i];
                    if let Some(p) = port {
                        c.port = p;
                    }
                    if let Some(s) = service_name {
                        c.service_name = s.into();
                    }
                    c.system.touch(&who, &who_type);
                    (200, i)
                }
                None => {
                    configs.push(ServiceConfig {
                        name: name.to_string(),
                        service_name: service_name.unwrap_or("SSH").into(),
                        port: port.unwrap_or(22),
                        system: SystemData::by(&who, &who_type),
                    });
                    (201, configs.len() - 1)
                }
            };
            let e = &world.machine(at).endpoints[ei];
            Ok(Reply::with(
                status,
                world.service_config_json(at, e, &e.configs[ci]),
            ))
        }
        "DELETE" => {
            ctx.require(world, &action("delete"), &scope)?;
            let (at, ei) = find_parent_endpoint(world, m, endpoint)?;
            match find(world, at, ei) {
                Some(i) => {
                    world.machine_mut(at).endpoints[ei].configs.remove(i);
                    Ok(Reply::empty(200))
                }
                None => Ok(Reply::empty(204)),
            }
        }
        other => Err(method_not_allowed(other)),
    }
}

/// A port as an integer, or a string of digits (which the real service tolerates).
fn port_of(v: &Value) -> Result<u64, ArmError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.filter(|n| (1..=65535).contains(n)).ok_or_else(|| {
        ArmError::bad_request(
            "BadRequest",
            format!("properties.port {v} is not a port number."),
        )
    })
}
