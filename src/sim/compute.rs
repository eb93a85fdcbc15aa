//! Microsoft.HybridCompute: machines, machine extensions, run commands (a
//! long-running operation acted out on the simulated server) and their
//! operation-status URLs.

use serde_json::{Map, Value, json};

use crate::sim::arm::{
    Ctx, find_machine, find_parent_machine, find_rg, machine_id, method_not_allowed, paged,
    paged_with, rg_id, sub_id,
};
use crate::sim::reply::{ArmError, ArmResult, Reply, resource_not_found};
use crate::sim::route::{ArcType, MachineRef, Route};
use crate::sim::world::{
    Extension, MachineAt, OpTarget, Operation, RunCommand, World, new_guid, now,
};

const MACHINES_READ: &str = "Microsoft.HybridCompute/machines/read";
const RUN_COMMAND_API: &str = "2025-01-13";

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    match (route, ctx.method()) {
        (Route::MachinesInSub { sub }, "GET") => {
            ctx.require(world, MACHINES_READ, &sub_id(world, sub))?;
            let si = world.sub_index(sub).expect("checked by the front door");
            let items = world
                .all_machines()
                .into_iter()
                .filter(|at| at.0 == si && world.machine(*at).kind == ArcType::Machine)
                .collect();
            paged_with(ctx, items, world.page_size, |at| {
                world.machine_json(at, false)
            })
        }
        (Route::MachinesInRg { sub, rg }, "GET") => {
            ctx.require(world, MACHINES_READ, &rg_id(world, sub, rg))?;
            let (si, ri) = find_rg(world, sub, rg)?;
            let items = world
                .all_machines()
                .into_iter()
                .filter(|at| {
                    at.0 == si && at.1 == ri && world.machine(*at).kind == ArcType::Machine
                })
                .collect();
            paged_with(ctx, items, world.page_size, |at| {
                world.machine_json(at, false)
            })
        }
        (Route::Machine { m }, "GET") => {
            // Each type is read with its own provider's action.
            let read = match m.kind {
                ArcType::Machine => MACHINES_READ.to_string(),
                kind => format!("{}/read", kind.full()),
            };
            ctx.require(world, &read, &machine_id(world, m))?;
            let at = find_machine(world, m)?;
            Ok(Reply::ok(world.machine_json(at, true)))
        }
        (Route::Extensions { m }, "GET") => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/extensions/read",
                &machine_id(world, m),
            )?;
            let at = find_parent_machine(world, m)?;
            for i in 0..world.machine(at).extensions.len() {
                world.tick_extension(at, i);
            }
            let items = world
                .machine(at)
                .extensions
                .iter()
                .map(|e| world.extension_json(at, e))
                .collect();
            paged(ctx, items, world.page_size)
        }
        (Route::Extension { m, name }, method) => extension(world, ctx, m, name, method),
        (Route::RunCommands { m }, "GET") => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/runCommands/read",
                &machine_id(world, m),
            )?;
            let at = find_parent_machine(world, m)?;
            for i in 0..world.machine(at).run_commands.len() {
                world.tick_run_command(at, i);
            }
            let items = world
                .machine(at)
                .run_commands
                .iter()
                .map(|r| world.run_command_json(at, r))
                .collect();
            paged(ctx, items, world.page_size)
        }
        (Route::RunCommand { m, name }, method) => run_command(world, ctx, m, name, method),
        (Route::Operation { id, result, .. }, "GET") => operation(world, ctx, id, *result),
        (_, method) => Err(method_not_allowed(method)),
    }
}

fn not_found_child(
    world: &World,
    m: &MachineRef,
    at: MachineAt,
    kind: &str,
    name: &str,
) -> ArmError {
    let machine = &world.machine(at).name;
    resource_not_found(
        &format!("Microsoft.HybridCompute/machines/{machine}/{kind}/{name}"),
        &m.rg,
    )
    .bare(world.bare_hybridcompute_errors)
}

fn location_required(world: &World) -> ArmError {
    ArmError::bad_request(
        "LocationRequired",
        "The location property is required for this definition.",
    )
    .bare(world.bare_hybridcompute_errors)
}

fn invalid(world: &World, message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", message).bare(world.bare_hybridcompute_errors)
}

fn extension(world: &mut World, ctx: &Ctx, m: &MachineRef, name: &str, method: &str) -> ArmResult {
    let scope = format!("{}/extensions/{name}", machine_id(world, m));
    match method {
        "GET" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/extensions/read",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let idx = find_extension(world, at, name)
                .ok_or_else(|| not_found_child(world, m, at, "extensions", name))?;
            world.tick_extension(at, idx);
            Ok(Reply::ok(
                world.extension_json(at, &world.machine(at).extensions[idx]),
            ))
        }
        "PUT" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/extensions/write",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let body = ctx.body().cloned().unwrap_or(Value::Null);
            let location = body
                .get("location")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty());
            let location = location
                .ok_or_else(|| location_required(world))?
                .to_string();
            let props = body.get("properties").cloned().unwrap_or(Value::Null);
            let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
            let publisher = text("publisher")
                .ok_or_else(|| invalid(world, "properties.publisher is required."))?;
            let extension_type =
                text("type").ok_or_else(|| invalid(world, "properties.type is required."))?;
            let machine = world.machine(at);
            let os = machine.os_type.as_str();
            let outcome = if machine.status != "Connected" {
                (
                    "Failed".to_string(),
                    format!(
                        "The machine is {}; the extension could not be delivered.",
                        machine.status
                    ),
                )
            } else if (os == "windows" && extension_type.ends_with("ForLinux"))
                || (os == "linux" && extension_type.ends_with("ForWindows"))
                || (os != "windows" && extension_type.eq_ignore_ascii_case("WindowsOpenSSH"))
            {
                (
                    "Failed".to_string(),
                    format!("Extension {extension_type} is not supported on {os} machines."),
                )
            } else if let Some(why) = machine
                .server
                .refuses_extension(&publisher, &extension_type)
            {
                // The agent refuses it locally and reports the failure to Azure.
                ("Failed".to_string(), why)
            } else {
                ("Succeeded".to_string(), String::new())
            };
            let polls = world.extension_polls;
            let existing = find_extension(world, at, name);
            let ext = Extension {
                name: existing.map_or_else(
                    || name.to_string(),
                    |i| world.machine(at).extensions[i].name.clone(),
                ),
                location,
                publisher,
                extension_type,
                type_handler_version: text("typeHandlerVersion").unwrap_or_else(|| "1.0".into()),
                auto_upgrade_minor_version: props
                    .get("autoUpgradeMinorVersion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                enable_automatic_upgrade: props
                    .get("enableAutomaticUpgrade")
                    .and_then(Value::as_bool),
                settings: props.get("settings").cloned().unwrap_or_else(|| json!({})),
                state: if existing.is_some() {
                    "Updating"
                } else {
                    "Creating"
                }
                .into(),
                polls_left: polls,
                outcome,
                time: now(),
            };
            let machine = world.machine_mut(at);
            let (status, idx) = match existing {
                Some(i) => {
                    machine.extensions[i] = ext;
                    (200, i)
                }
                None => {
                    machine.extensions.push(ext);
                    (201, machine.extensions.len() - 1)
                }
            };
            Ok(Reply::with(
                status,
                world.extension_json(at, &world.machine(at).extensions[idx]),
            ))
        }
        "DELETE" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/extensions/delete",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            match find_extension(world, at, name) {
                Some(i) => {
                    world.machine_mut(at).extensions.remove(i);
                    Ok(Reply::empty(200))
                }
                None => Ok(Reply::empty(204)),
            }
        }
        other => Err(method_not_allowed(other)),
    }
}

fn find_extension(world: &World, at: MachineAt, name: &str) -> Option<usize> {
    world
        .machine(at)
        .extensions
        .iter()
        .position(|e| e.name.eq_ignore_ascii_case(name))
}

fn find_run_command(world: &World, at: MachineAt, name: &str) -> Option<usize> {
    world
        .machine(at)
        .run_commands
        .iter()
        .position(|r| r.name.eq_ignore_ascii_case(name))
}

fn run_command(
    world: &mut World,
    ctx: &Ctx,
    m: &MachineRef,
    name: &str,
    method: &str,
) -> ArmResult {
    let scope = format!("{}/runCommands/{name}", machine_id(world, m));
    match method {
        "GET" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/runCommands/read",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let idx = find_run_command(world, at, name)
                .ok_or_else(|| not_found_child(world, m, at, "runCommands", name))?;
            world.tick_run_command(at, idx);
            Ok(Reply::ok(world.run_command_json(
                at,
                &world.machine(at).run_commands[idx],
            )))
        }
        "PUT" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/runCommands/write",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let body = ctx.body().cloned().unwrap_or(Value::Null);
            let location = body
                .get("location")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty());
            let location = location
                .ok_or_else(|| location_required(world))?
                .to_string();
            let mut properties: Map<String, Value> = match body.get("properties") {
                Some(Value::Object(p)) => p.clone(),
                _ => return Err(invalid(world, "properties is required.")),
            };
            if !properties.get("source").is_some_and(Value::is_object) {
                return Err(invalid(
                    world,
                    "properties.source is required (script, scriptUri or commandId).",
                ));
            }
            // Secrets are never echoed back.
            properties.remove("runAsPassword");
            properties.remove("protectedParameters");
            let existing = find_run_command(world, at, name);
            let op_id = new_guid();
            let sub = world.subs[at.0].id.clone();
            let op_location = world.machine(at).location.clone();
            let rc = RunCommand {
                name: existing.map_or_else(
                    || name.to_string(),
                    |i| world.machine(at).run_commands[i].name.clone(),
                ),
                location,
                tags: body
                    .get("tags")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
                properties,
                provisioning_state: if existing.is_some() {
                    "Updating"
                } else {
                    "Creating"
                }
                .into(),
                execution_state: "Pending".into(),
                polls_left: world.run_command_polls,
                op_id: op_id.clone(),
                start_time: now(),
                end_time: None,
                outcome: None,
            };
            let rc_name = rc.name.clone();
            let machine = world.machine_mut(at);
            let (status, idx) = match existing {
                Some(i) => {
                    machine.run_commands[i] = rc;
                    (200, i)
                }
                None => {
                    machine.run_commands.push(rc);
                    (201, machine.run_commands.len() - 1)
                }
            };
            let rg = world.subs[at.0].rgs[at.1].name.clone();
            let machine_name = world.machine(at).name.clone();
            let op = Operation {
                id: op_id,
                sub,
                location: op_location,
                start_time: now(),
                target: OpTarget::RunCommand {
                    rg,
                    machine: machine_name,
                    name: rc_name,
                },
            };
            let reply = Reply::with(
                status,
                world.run_command_json(at, &world.machine(at).run_commands[idx]),
            );
            let reply = with_lro_headers(world, ctx, reply, &op);
            world.ops.push(op);
            Ok(reply)
        }
        "DELETE" => {
            ctx.require(
                world,
                "Microsoft.HybridCompute/machines/runCommands/delete",
                &scope,
            )?;
            let at = find_parent_machine(world, m)?;
            let Some(i) = find_run_command(world, at, name) else {
                return Ok(Reply::empty(204));
            };
            world.machine_mut(at).run_commands.remove(i);
            let op = Operation {
                id: new_guid(),
                sub: world.subs[at.0].id.clone(),
                location: world.machine(at).location.clone(),
                start_time: now(),
                target: OpTarget::Done { end_time: now() },
            };
            let reply = with_lro_headers(world, ctx, Reply::empty(202), &op);
            world.ops.push(op);
            Ok(reply)
        }
        other => Err(method_not_allowed(other)),
    }
}

fn with_lro_headers(world: &World, ctx: &Ctx, reply: Reply, op: &Operation) -> Reply {
    let status = world.operation_status_url(op);
    let result = status.replace("/operationStatus/", "/operationResults/");
    reply
        .header("Azure-AsyncOperation", ctx.url(&status, RUN_COMMAND_API))
        .header("Location", ctx.url(&result, RUN_COMMAND_API))
        .header("Retry-After", "1")
}

/// An operation's status (`Azure-AsyncOperation`) or result (`Location`).
fn operation(world: &mut World, ctx: &Ctx, id: &str, result: bool) -> ArmResult {
    let Some(oi) = world.ops.iter().position(|o| o.id.eq_ignore_ascii_case(id)) else {
        return Err(ArmError::new(
            404,
            "OperationNotFound",
            format!("The operation '{id}' was not found."),
        ));
    };
    let op = &world.ops[oi];
    let (op_id, start) = (op.id.clone(), op.start_time.clone());
    let status_url = world.operation_status_url(op);
    let (status, end, error, resource) = match &op.target {
        OpTarget::Done { end_time } => {
            ("Succeeded".to_string(), Some(end_time.clone()), None, None)
        }
        OpTarget::RunCommand { rg, machine, name } => {
            let sub = op.sub.clone();
            let found = world
                .machine_at(&sub, rg, ArcType::Machine, machine)
                .and_then(|at| Some((at, find_run_command(world, at, name)?)));
            match found {
                Some((at, idx)) if world.machine(at).run_commands[idx].op_id == op_id => {
                    world.tick_run_command(at, idx);
                    let rc = &world.machine(at).run_commands[idx];
                    let status = match (rc.end_time.is_some(), rc.provisioning_state.as_str()) {
                        (false, _) => "InProgress",
                        (true, "Failed") => "Failed",
                        (true, _) => "Succeeded",
                    };
                    let error = (status == "Failed").then(|| {
                        let text = rc
                            .outcome
                            .as_ref()
                            .map(|o| o.error.clone())
                            .unwrap_or_default();
                        json!({"code": "RunCommandFailed", "message": text})
                    });
                    (
                        status.to_string(),
                        rc.end_time.clone(),
                        error,
                        Some(world.run_command_json(at, rc)),
                    )
                }
                // Deleted or replaced by a newer PUT before it finished.
                _ => ("Canceled".to_string(), Some(now()), None, None),
            }
        }
    };
    if result {
        return Ok(match (status.as_str(), resource) {
            ("InProgress", _) => {
                let location = ctx.url(
                    &status_url.replace("/operationStatus/", "/operationResults/"),
                    &ctx.api_version,
                );
                Reply::empty(202)
                    .header("Location", location)
                    .header("Retry-After", "1")
            }
            (_, Some(resource)) => Reply::ok(resource),
            (_, None) => Reply::empty(204),
        });
    }
    let mut body = json!({"id": status_url, "name": op_id, "status": status, "startTime": start});
    if let Some(end) = end {
        body["endTime"] = json!(end);
        body["percentComplete"] = json!(100);
    }
    if let Some(error) = error {
        body["error"] = error;
    }
    let reply = Reply::ok(body);
    Ok(if status == "InProgress" {
        reply.header("Retry-After", "1")
    } else {
        reply
    })
}
