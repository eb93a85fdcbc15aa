//! Microsoft.Resources: subscriptions, resource groups and resource provider
//! registration (`Registering` for a configurable number of polls).

use serde_json::{Value, json};

use crate::sim::arm::{Ctx, find_rg, method_not_allowed, paged, rg_id, sub_id};
use crate::sim::authz::covers;
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::route::Route;
use crate::sim::world::{HYBRID_COMPUTE, HYBRID_CONNECTIVITY, World};

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    match (route, ctx.method()) {
        (Route::Subscriptions, "GET") => {
            let items = (0..world.subs.len())
                .filter(|&si| sees_subscription(world, ctx, si))
                .map(|si| subscription_json(world, si))
                .collect();
            paged(ctx, items, world.page_size)
        }
        (Route::Subscription { sub }, "GET") => {
            let si = visible_sub(world, ctx, sub, "Microsoft.Resources/subscriptions/read")?;
            Ok(Reply::ok(subscription_json(world, si)))
        }
        (Route::Providers { sub }, "GET") => {
            let si = visible_sub(
                world,
                ctx,
                sub,
                "Microsoft.Resources/subscriptions/providers/read",
            )?;
            let names: Vec<String> = world.subs[si]
                .providers
                .iter()
                .map(|p| p.namespace.clone())
                .collect();
            for ns in &names {
                world.tick_provider(si, ns);
            }
            let items = names
                .iter()
                .map(|ns| provider_json(world, si, ns))
                .collect();
            paged(ctx, items, world.page_size)
        }
        (
            Route::Provider {
                sub,
                ns,
                action: None,
            },
            "GET",
        ) => {
            let si = visible_sub(
                world,
                ctx,
                sub,
                "Microsoft.Resources/subscriptions/providers/read",
            )?;
            known_namespace(world, si, ns)?;
            world.tick_provider(si, ns);
            Ok(Reply::ok(provider_json(world, si, ns)))
        }
        (
            Route::Provider {
                sub,
                ns,
                action: Some(action),
            },
            "POST",
        ) => {
            let si = world.sub_index(sub).expect("checked by the front door");
            let canonical = known_namespace(world, si, ns)?;
            ctx.require(
                world,
                &format!("{canonical}/{action}/action"),
                &sub_id(world, sub),
            )?;
            let polls = world.subs[si].register_polls;
            let p = world.subs[si]
                .providers
                .iter_mut()
                .find(|p| p.namespace.eq_ignore_ascii_case(ns))
                .expect("known namespace");
            if action == "register" {
                if p.state != "Registered" && p.state != "Registering" {
                    p.state = if polls == Some(0) {
                        "Registered"
                    } else {
                        "Registering"
                    }
                    .into();
                    p.polls_left = polls;
                }
            } else {
                p.state = "NotRegistered".into();
                p.polls_left = Some(0);
                let mut body = provider_json(world, si, ns);
                body["registrationState"] = json!("Unregistering");
                return Ok(Reply::ok(body));
            }
            Ok(Reply::ok(provider_json(world, si, ns)))
        }
        (Route::ResourceGroups { sub }, "GET") => {
            let scope = sub_id(world, sub);
            ctx.require(
                world,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &scope,
            )?;
            let si = world.sub_index(sub).expect("checked by the front door");
            let items = world.subs[si]
                .rgs
                .iter()
                .map(|rg| rg_json(world, si, &rg.name))
                .collect();
            paged(ctx, items, world.page_size)
        }
        (Route::ResourceGroup { sub, rg }, "GET") => {
            ctx.require(
                world,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &rg_id(world, sub, rg),
            )?;
            let (si, ri) = find_rg(world, sub, rg)?;
            Ok(Reply::ok(rg_json(world, si, &world.subs[si].rgs[ri].name)))
        }
        (_, method) => Err(method_not_allowed(method)),
    }
}

/// ARM lets anyone with a role anywhere in a subscription see it and its providers.
fn sees_subscription(world: &World, ctx: &Ctx, si: usize) -> bool {
    let scope = format!("/subscriptions/{}", world.subs[si].id);
    world.assignments.iter().any(|a| {
        a.principal.eq_ignore_ascii_case(&ctx.caller.oid)
            && (covers(&a.scope, &scope) || covers(&scope, &a.scope))
    })
}

fn visible_sub(world: &World, ctx: &Ctx, sub: &str, action: &str) -> Result<usize, ArmError> {
    let si = world.sub_index(sub).expect("checked by the front door");
    if sees_subscription(world, ctx, si) {
        Ok(si)
    } else {
        // Nothing is granted anywhere in it: ARM's usual refusal.
        ctx.require(world, action, &sub_id(world, sub)).map(|_| si)
    }
}

fn known_namespace(world: &World, si: usize, ns: &str) -> Result<String, ArmError> {
    world
        .provider(si, ns)
        .map(|p| p.namespace.clone())
        .ok_or_else(|| {
            ArmError::new(
                404,
                "InvalidResourceNamespace",
                format!("The resource namespace '{ns}' is invalid."),
            )
        })
}

fn subscription_json(world: &World, si: usize) -> Value {
    let s = &world.subs[si];
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": world.tenant,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        }
    })
}

fn rg_json(world: &World, si: usize, name: &str) -> Value {
    let s = &world.subs[si];
    let rg = s.rgs.iter().find(|r| r.name == name).expect("exists");
    json!({
        "id": format!("/subscriptions/{}/resourceGroups/{}", s.id, rg.name),
        "name": rg.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": rg.location,
        "properties": {"provisioningState": "Succeeded"},
    })
}

fn resource_type(name: &str, versions: &[&str], capabilities: &str) -> Value {
    json!({
        "resourceType": name,
        "locations": ["East US", "East US 2", "West US 2", "West Europe", "North Europe", "Southeast Asia"],
        "apiVersions": versions,
        "locationMappings": [],
        "capabilities": capabilities,
    })
}

fn provider_json(world: &World, si: usize, ns: &str) -> Value {
    let p = world.provider(si, ns).expect("known namespace");
    let types = if p.namespace.eq_ignore_ascii_case(HYBRID_CONNECTIVITY) {
        let v = [
            "2024-12-01",
            "2023-03-15",
            "2022-05-01-preview",
            "2021-10-06-preview",
        ];
        vec![
            resource_type("endpoints", &v, "SupportsExtension"),
            resource_type("endpoints/serviceConfigurations", &v, "SupportsExtension"),
            resource_type("operations", &v, "None"),
            resource_type("locations", &v, "None"),
        ]
    } else if p.namespace.eq_ignore_ascii_case(HYBRID_COMPUTE) {
        let v = ["2025-01-13", "2024-07-10", "2022-12-27", "2022-11-10"];
        vec![
            resource_type("machines", &v, "SupportsTags, SupportsLocation"),
            resource_type("machines/extensions", &v, "SupportsTags, SupportsLocation"),
            resource_type(
                "machines/runCommands",
                &["2025-01-13"],
                "SupportsTags, SupportsLocation",
            ),
            resource_type("locations", &v, "None"),
            resource_type("locations/operationStatus", &v, "None"),
            resource_type("operations", &v, "None"),
        ]
    } else {
        vec![]
    };
    json!({
        "id": format!("/subscriptions/{}/providers/{}", world.subs[si].id, p.namespace),
        "namespace": p.namespace,
        "registrationState": p.state,
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": types,
    })
}
