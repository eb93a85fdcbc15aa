//! Microsoft.Authorization: the permissions a caller has at a scope (computed
//! from role assignments, direct or through groups, with the simulator's own
//! RBAC in `sim::rbac`), role assignments, and the built-in role definitions.

use serde_json::{Value, json};

use crate::sim::arm::{Ctx, canonical_scope, method_not_allowed, paged};
use crate::sim::rbac::{self, Permission, RoleDefinition, is_guid};
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::route::Route;
use crate::sim::world::{Assignment, World, now};

const ASSIGNMENTS_READ: &str = "Microsoft.Authorization/roleAssignments/read";

/// Whether an assignment at `outer` applies at `inner` (at or below it).
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    if outer == "/" {
        return true;
    }
    let o = outer.trim_end_matches('/').to_ascii_lowercase();
    let i = inner.trim_end_matches('/').to_ascii_lowercase();
    i == o || i.starts_with(&format!("{o}/"))
}

/// The permission blocks of every role the principal holds at or above
/// `scope`, directly or through the groups it is a member of (each role once).
pub(crate) fn permissions_at(world: &World, oid: &str, scope: &str) -> Vec<Permission> {
    let holders = world.identities(oid);
    let mut roles: Vec<&'static RoleDefinition> = Vec::new();
    for a in world.assignments.iter().filter(|a| {
        holders.iter().any(|h| a.principal.eq_ignore_ascii_case(h)) && covers(&a.scope, scope)
    }) {
        if let Some(r) = rbac::role(&a.role_guid)
            && !roles.iter().any(|x| x.name == r.name)
        {
            roles.push(r);
        }
    }
    roles
        .iter()
        .flat_map(|r| r.permissions.iter().cloned())
        .collect()
}

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    match route {
        Route::Permissions { scope } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            permissions(world, ctx, scope)
        }
        Route::RoleAssignments { scope } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            list_assignments(world, ctx, &canonical_scope(world, scope))
        }
        Route::RoleAssignment { scope, name } => {
            assignment(world, ctx, &canonical_scope(world, scope), name)
        }
        Route::RoleDefinitions { scope } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            let wanted = match ctx.q("$filter") {
                None => None,
                Some(f) => Some(quoted_after(f, "rolename eq").ok_or_else(|| {
                    ArmError::bad_request(
                        "BadRequest",
                        format!("The filter '{f}' is not supported."),
                    )
                })?),
            };
            let scope = canonical_scope(world, scope);
            let items = rbac::roles()
                .iter()
                .filter(|r| {
                    wanted
                        .as_deref()
                        .is_none_or(|w| r.role_name.eq_ignore_ascii_case(w))
                })
                .map(|r| role_definition_json(&scope, r))
                .collect();
            paged(ctx, items, world.page_size)
        }
        Route::RoleDefinition { scope, id } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            let role = is_guid(id)
                .then(|| rbac::role(id))
                .flatten()
                .ok_or_else(|| {
                    ArmError::new(
                        404,
                        "RoleDefinitionDoesNotExist",
                        format!("The role definition '{id}' could not be found."),
                    )
                })?;
            Ok(Reply::ok(role_definition_json(
                &canonical_scope(world, scope),
                role,
            )))
        }
        _ => unreachable!("routed by the front door"),
    }
}

/// The permissions API: published for resource-group and resource scope, and
/// also served by ARM at subscription scope (not in the spec, used by the
/// portal: Azure/azure-rest-api-specs issue #19473). Not at the root.
fn permissions(world: &World, ctx: &Ctx, scope: &str) -> ArmResult {
    let segs = crate::sim::route::segments(scope);
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let in_sub = segs.len() >= 2 && lower[0] == "subscriptions";
    let at_sub = in_sub && segs.len() == 2;
    let at_rg_or_below = in_sub && segs.len() >= 4 && lower[2] == "resourcegroups";
    let resource_shaped = segs.len() == 4
        || (segs.len() >= 8 && lower[4] == "providers" && segs.len().is_multiple_of(2));
    let served = at_sub || (at_rg_or_below && resource_shaped);
    if !served {
        return Err(ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type 'permissions' could not be found in the namespace 'Microsoft.Authorization' for \
                 api version '{}' at scope '{scope}'.",
                ctx.api_version
            ),
        ));
    }
    if at_sub {
        world.sub_index(&segs[1]).ok_or_else(|| {
            ArmError::new(
                404,
                "SubscriptionNotFound",
                format!("The subscription '{}' could not be found.", segs[1]),
            )
        })?;
    } else {
        crate::sim::arm::find_rg(world, &segs[1], &segs[3])?;
    }
    let canonical = canonical_scope(world, scope);
    let items = permissions_at(world, &ctx.caller.oid, &canonical)
        .into_iter()
        .map(|p| serde_json::to_value(p).expect("permissions serialise"))
        .collect();
    paged(ctx, items, world.page_size)
}

/// The value of `key eq '…'` (or `key eq …`) in a filter, `key` matched ignoring case.
fn quoted_after(filter: &str, key: &str) -> Option<String> {
    let lower = filter.to_ascii_lowercase();
    let at = lower.find(key)? + key.len();
    let rest = filter[at..].trim_start();
    let value = match rest.chars().next()? {
        q @ ('\'' | '"') => rest[1..].split(q).next()?,
        _ => rest.split_whitespace().next()?,
    };
    Some(value.trim_end_matches(')').to_string())
}

/// Whose assignments a list asks for.
#[derive(Debug, PartialEq, Eq)]
enum Whose {
    /// `principalId eq '…'`: made to that principal itself only.
    Direct(String),
    /// `assignedTo('…')`: made to it or to any group it is in, transitively.
    AssignedTo(String),
}

struct Filter {
    at_scope: bool,
    principal: Option<Whose>,
}

fn parse_filter(filter: Option<&str>) -> Result<Filter, ArmError> {
    let mut f = Filter {
        at_scope: false,
        principal: None,
    };
    let Some(text) = filter else {
        return Ok(f);
    };
    let unsupported = || {
        ArmError::bad_request(
            "UnsupportedQuery",
            format!(
                "The filter '{text}' is not supported. Supported filters are either 'atScope()' or \
                 'principalId eq '{{value}}' ' or 'assignedTo('{{value}}')'."
            ),
        )
    };
    let lower = text.to_ascii_lowercase();
    for term in lower.split(" and ").map(str::trim) {
        if term == "atscope()" {
            f.at_scope = true;
        } else if term.starts_with("principalid eq") || term.starts_with("assignedto(") {
            let direct = term.starts_with("principalid");
            let key = if direct {
                "principalid eq"
            } else {
                "assignedto("
            };
            let start = lower.find(term).unwrap_or(0);
            let original = &text[start..start + term.len()];
            let id = quoted_after(original, key).ok_or_else(unsupported)?;
            f.principal = Some(if direct {
                Whose::Direct(id)
            } else {
                Whose::AssignedTo(id)
            });
        } else {
            return Err(unsupported());
        }
    }
    Ok(f)
}

fn list_assignments(world: &World, ctx: &Ctx, scope: &str) -> ArmResult {
    ctx.require(world, ASSIGNMENTS_READ, scope)?;
    let filter = parse_filter(ctx.q("$filter"))?;
    let holders: Option<Vec<String>> = filter.principal.as_ref().map(|w| match w {
        Whose::Direct(id) => vec![id.clone()],
        Whose::AssignedTo(id) => world.identities(id),
    });
    let items = world
        .assignments
        .iter()
        .filter(|a| covers(&a.scope, scope) || (!filter.at_scope && covers(scope, &a.scope)))
        .filter(|a| {
            holders
                .as_ref()
                .is_none_or(|h| h.iter().any(|p| a.principal.eq_ignore_ascii_case(p)))
        })
        .map(|a| world.assignment_json(a))
        .collect();
    paged(ctx, items, world.page_size)
}

fn not_found(name: &str) -> ArmError {
    ArmError::new(
        404,
        "RoleAssignmentNotFound",
        format!("The role assignment '{name}' is not found."),
    )
}

fn assignment(world: &mut World, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    let find = |world: &World| {
        world
            .assignments
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name) && a.scope.eq_ignore_ascii_case(scope))
    };
    match ctx.method() {
        "GET" => {
            ctx.require(world, ASSIGNMENTS_READ, scope)?;
            let i = find(world).ok_or_else(|| not_found(name))?;
            Ok(Reply::ok(world.assignment_json(&world.assignments[i])))
        }
        "DELETE" => {
            ctx.require(
                world,
                "Microsoft.Authorization/roleAssignments/delete",
                scope,
            )?;
            match find(world) {
                Some(i) => {
                    let a = world.assignments.remove(i);
                    Ok(Reply::ok(world.assignment_json(&a)))
                }
                None => Ok(Reply::empty(204)),
            }
        }
        "PUT" => {
            ctx.require(
                world,
                "Microsoft.Authorization/roleAssignments/write",
                scope,
            )?;
            create_assignment(world, ctx, scope, name, find(world))
        }
        other => Err(method_not_allowed(other)),
    }
}

fn create_assignment(
    world: &mut World,
    ctx: &Ctx,
    scope: &str,
    name: &str,
    existing: Option<usize>,
) -> ArmResult {
    if !is_guid(name) {
        return Err(ArmError::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    check_scope_exists(world, scope)?;
    let props = ctx
        .body()
        .and_then(|b| b.get("properties"))
        .cloned()
        .unwrap_or(Value::Null);
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let invalid = |what: &str| {
        ArmError::bad_request(
            "InvalidRequestContent",
            format!(
                "The request content was invalid and could not be deserialized: 'properties.{what}' is required."
            ),
        )
    };
    let role_def = text("roleDefinitionId").ok_or_else(|| invalid("roleDefinitionId"))?;
    let principal_id = text("principalId").ok_or_else(|| invalid("principalId"))?;
    let guid = role_def.rsplit('/').next().unwrap_or_default();
    let role = is_guid(guid)
        .then(|| rbac::role(guid))
        .flatten()
        .ok_or_else(|| {
            ArmError::bad_request(
                "RoleDefinitionDoesNotExist",
                format!("The specified role definition with ID '{guid}' does not exist."),
            )
        })?;
    let Some(principal) = world.principal(&principal_id).cloned() else {
        return Err(ArmError::bad_request(
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If \
                 you are creating this principal and then immediately assigning a role, this error might be related \
                 to a replication delay. In this case, set the role assignment principalType property to a value, \
                 such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                principal_id.replace('-', ""),
                world.tenant
            ),
        ));
    };
    if let Some(t) = text("principalType")
        && !t.eq_ignore_ascii_case(&principal.principal_type)
    {
        return Err(ArmError::bad_request(
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{}' has type '{}' , which is different from specified PrincipalType '{t}'.",
                principal.oid.replace('-', ""),
                principal.principal_type
            ),
        ));
    }
    if let Some(i) = existing {
        let a = &world.assignments[i];
        if a.role_guid.eq_ignore_ascii_case(&role.name)
            && a.principal.eq_ignore_ascii_case(&principal.oid)
        {
            return Ok(Reply::ok(world.assignment_json(a)));
        }
        return Err(ArmError::bad_request(
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        ));
    }
    let duplicate = world.assignments.iter().any(|a| {
        a.scope.eq_ignore_ascii_case(scope)
            && a.role_guid.eq_ignore_ascii_case(&role.name)
            && a.principal.eq_ignore_ascii_case(&principal.oid)
    });
    if duplicate {
        return Err(ArmError::new(
            409,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ));
    }
    let a = Assignment {
        name: name.to_string(),
        scope: scope.to_string(),
        role_guid: role.name.clone(),
        principal: principal.oid.clone(),
        principal_type: principal.principal_type.clone(),
        created_on: now(),
        created_by: Some(ctx.caller.oid.clone()),
    };
    let body = world.assignment_json(&a);
    world.assignments.push(a);
    Ok(Reply::with(201, body))
}

/// Role assignments can be made at the root and at existing subscriptions,
/// resource groups and machines.
fn check_scope_exists(world: &World, scope: &str) -> Result<(), ArmError> {
    match crate::sim::route::parse(scope) {
        Route::Subscription { sub } if world.sub_index(&sub).is_some() => Ok(()),
        Route::ResourceGroup { sub, rg } => crate::sim::arm::find_rg(world, &sub, &rg).map(|_| ()),
        Route::Machine { m } => crate::sim::arm::find_machine(world, &m).map(|_| ()),
        _ if scope == "/" => Ok(()),
        _ => Err(ArmError::bad_request(
            "InvalidScope",
            format!(
                "arcfix-sim accepts role assignments at '/', subscriptions, resource groups and machines, not at \
                 '{scope}'."
            ),
        )),
    }
}

/// A role definition as the REST API answers it (the docs' flattened form
/// nests under `properties` there, with `type` for `roleType`).
fn role_definition_json(scope: &str, role: &RoleDefinition) -> Value {
    let prefix = if scope == "/" { "" } else { scope };
    json!({
        "properties": {
            "roleName": role.role_name,
            "type": role.role_type,
            "description": role.description,
            "assignableScopes": role.assignable_scopes,
            "permissions": role.permissions,
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-04-01T00:00:00.0000000Z",
            "createdBy": null,
            "updatedBy": null,
        },
        "id": format!("{prefix}/providers/Microsoft.Authorization/roleDefinitions/{}", role.name),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": role.name,
    })
}

#[cfg(test)]
mod tests {
    use super::{Whose, covers, parse_filter, quoted_after};

    #[test]
    fn scopes_cover_their_descendants_only() {
        assert!(covers("/", "/subscriptions/a"));
        assert!(covers(
            "/subscriptions/A/resourceGroups/rg",
            "/subscriptions/a/resourcegroups/RG/providers/x/y/z"
        ));
        assert!(!covers(
            "/subscriptions/a/resourceGroups/rg",
            "/subscriptions/a/resourceGroups/rg2"
        ));
        assert!(!covers(
            "/subscriptions/a/resourceGroups/rg/x",
            "/subscriptions/a/resourceGroups/rg"
        ));
    }

    #[test]
    fn filters_as_azure_cli_writes_them() {
        let f = parse_filter(Some("atScope() and principalId eq 'AbC-1'"))
            .ok()
            .unwrap();
        assert!(f.at_scope);
        assert_eq!(f.principal, Some(Whose::Direct("AbC-1".into())));
        let f = parse_filter(Some("assignedTo('x-2')")).ok().unwrap();
        assert_eq!(f.principal, Some(Whose::AssignedTo("x-2".into())));
        let f = parse_filter(Some("atScope() and assignedTo('x-3')"))
            .ok()
            .unwrap();
        assert!(f.at_scope);
        assert_eq!(f.principal, Some(Whose::AssignedTo("x-3".into())));
        assert!(parse_filter(Some("roleName eq 'x'")).is_err());
        assert_eq!(
            quoted_after("roleName eq 'Owner'", "rolename eq").as_deref(),
            Some("Owner")
        );
    }
}
