//! The front door of the fake ARM: authentication, api-version and provider
//! registration checks, RBAC, then the operation itself.

use serde_json::Value;

use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::route::{ArcType, MachineRef, Route};
use crate::sim::scenario::UnregisteredError;
use crate::sim::token::claims;
use crate::sim::world::{HYBRID_COMPUTE, HYBRID_CONNECTIVITY, MachineAt, World};
use crate::sim::{authz, compute, connectivity, entra, graph, insights, policy, rbac, resources};

/// A request as the simulator sees it, already read off the wire.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: String,
    /// As sent, without the query.
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    pub raw_body: Vec<u8>,
    /// `http://127.0.0.1:PORT`, for URLs the simulator hands out.
    pub base: String,
}

/// Who calls, from the bearer token's claims.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub oid: String,
    /// What ARM names the client by in `AuthorizationFailed`.
    pub display: String,
    pub principal_type: String,
}

/// One request on its way through an operation.
pub(crate) struct Ctx<'a> {
    pub inc: &'a Incoming,
    pub caller: Caller,
    pub query: Vec<(String, String)>,
    pub api_version: String,
}

impl Ctx<'_> {
    pub fn method(&self) -> &str {
        &self.inc.method
    }

    /// A query parameter, name compared ignoring case (`$filter`, `$skipToken`).
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> Option<&Value> {
        self.inc.body.as_ref()
    }

    /// Refuses with ARM's `AuthorizationFailed` unless the caller's
    /// permissions at `scope` (its own roles and its groups') allow `action`.
    pub fn require(&self, world: &World, action: &str, scope: &str) -> Result<(), ArmError> {
        let perms = authz::permissions_at(world, &self.caller.oid, scope);
        if rbac::allows(&perms, action) {
            return Ok(());
        }
        Err(ArmError::new(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{}' with object id '{}' does not have authorization to perform action '{action}' \
                 over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh \
                 your credentials.",
                self.caller.display, self.caller.oid
            ),
        ))
    }

    /// An absolute URL on this simulator for `path` with `api-version`.
    pub fn url(&self, path: &str, api_version: &str) -> String {
        format!("{}{path}?api-version={api_version}", self.inc.base)
    }
}

pub(crate) fn method_not_allowed(method: &str) -> ArmError {
    ArmError::new(
        405,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}'."),
    )
}

/// Answers one request; never fails (errors become ARM error replies).
pub(crate) fn handle(world: &mut World, inc: &Incoming) -> Reply {
    let route = crate::sim::route::parse(&inc.path);
    let result = match &route {
        Route::Token { tenant } => entra::token(world, tenant, inc),
        _ => front_door(world, &route, inc),
    };
    result.unwrap_or_else(ArmError::into_reply)
}

/// Answers a request made inside the simulator on behalf of `caller` (a
/// policy assignment's identity deploying a remediation): everything the
/// front door does but reading a token.
pub(crate) fn handle_as(world: &mut World, inc: &Incoming, caller: Caller) -> Reply {
    let route = crate::sim::route::parse(&inc.path);
    serve(world, &route, inc, caller).unwrap_or_else(ArmError::into_reply)
}

fn front_door(world: &mut World, route: &Route, inc: &Incoming) -> ArmResult {
    let caller = authenticate(world, inc)?;
    serve(world, route, inc, caller)
}

fn serve(world: &mut World, route: &Route, inc: &Incoming, caller: Caller) -> ArmResult {
    let query = parse_query(&inc.query);
    let api_version = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ArmError::bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        })?;
    if *route == Route::Unknown {
        return Err(ArmError::new(
            404,
            "NotFound",
            format!("arcfix-sim does not serve {} {}", inc.method, inc.path),
        ));
    }
    let ctx = Ctx {
        inc,
        caller,
        query,
        api_version,
    };
    if let Some(sub) = route_subscription(route)
        && world.sub_index(sub).is_none()
    {
        return Err(ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ));
    }
    check_provider(world, route, &ctx)?;
    match route {
        Route::Graph => graph::query(world, &ctx),
        Route::Subscriptions
        | Route::Subscription { .. }
        | Route::Providers { .. }
        | Route::Provider { .. }
        | Route::ResourceGroups { .. }
        | Route::ResourceGroup { .. } => resources::handle(world, route, &ctx),
        Route::MachinesInSub { .. }
        | Route::MachinesInRg { .. }
        | Route::Machine { .. }
        | Route::Extensions { .. }
        | Route::Extension { .. }
        | Route::RunCommands { .. }
        | Route::RunCommand { .. }
        | Route::Operation { .. } => compute::handle(world, route, &ctx),
        Route::Endpoints { .. }
        | Route::Endpoint { .. }
        | Route::EndpointAction { .. }
        | Route::ServiceConfigs { .. }
        | Route::ServiceConfig { .. } => connectivity::handle(world, route, &ctx),
        Route::Permissions { .. }
        | Route::RoleAssignments { .. }
        | Route::RoleAssignment { .. }
        | Route::RoleDefinitions { .. }
        | Route::RoleDefinition { .. } => authz::handle(world, route, &ctx),
        Route::PolicyDefinition { .. }
        | Route::PolicySetDefinition { .. }
        | Route::PolicyAssignment { .. } => policy::handle(world, route, &ctx),
        Route::PolicyStates { .. }
        | Route::Remediations { .. }
        | Route::Remediation { .. }
        | Route::RemediationDeployments { .. }
        | Route::PolicyEvaluationTrigger { .. }
        | Route::PolicyEvaluationResult { .. } => insights::handle(world, route, &ctx),
        Route::Token { .. } | Route::Unknown => unreachable!("handled before"),
    }
}

fn authenticate(world: &World, inc: &Incoming) -> Result<Caller, ArmError> {
    let www = |error: &str| {
        format!(
            "Bearer authorization_uri=\"https://login.windows.net/{}\", error=\"invalid_token\", error_description=\"{error}\"",
            world.tenant
        )
    };
    let Some(header) = inc.authorization.as_deref() else {
        return Err(ArmError::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .header(
            "WWW-Authenticate",
            www("The authentication failed because of missing 'Authorization' header."),
        ));
    };
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(c) = token.and_then(claims) else {
        return Err(ArmError::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
        .header(
            "WWW-Authenticate",
            www("The access token is not a valid bearer token."),
        ));
    };
    let text = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some(exp) = c.get("exp").and_then(Value::as_i64)
        && exp < now
    {
        let at = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|d| {
                    d.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        return Err(ArmError::new(
            401,
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                at(exp),
                at(now)
            ),
        )
        .header("WWW-Authenticate", www("The access token has expired.")));
    }
    let tid = text("tid");
    if !tid.eq_ignore_ascii_case(&world.tenant) {
        return Err(ArmError::new(
            401,
            "InvalidAuthenticationTokenTenant",
            format!(
                "The access token is from the wrong issuer 'https://sts.windows.net/{tid}/'. It must match the tenant \
                 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) \
                 'https://login.windows.net/{}' to get the token.",
                world.tenant, world.tenant
            ),
        )
        .header("WWW-Authenticate", www("The access token is from the wrong issuer.")));
    }
    let oid = text("oid");
    let Some(principal) = world.principal(&oid) else {
        return Err(ArmError::new(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )
        .header("WWW-Authenticate", www("The access token is invalid.")));
    };
    // ARM names a user by UPN and an application by its app id.
    let display = [
        text("upn"),
        text("appid"),
        principal.upn.clone(),
        principal.oid.clone(),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or_default();
    Ok(Caller {
        oid: principal.oid.clone(),
        display,
        principal_type: principal.principal_type.clone(),
    })
}

pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn route_subscription(route: &Route) -> Option<&str> {
    match route {
        Route::Subscription { sub }
        | Route::Providers { sub }
        | Route::Provider { sub, .. }
        | Route::ResourceGroups { sub }
        | Route::ResourceGroup { sub, .. }
        | Route::MachinesInSub { sub }
        | Route::MachinesInRg { sub, .. }
        | Route::Operation { sub, .. } => Some(sub),
        Route::Machine { m }
        | Route::Extensions { m }
        | Route::Extension { m, .. }
        | Route::RunCommands { m }
        | Route::RunCommand { m, .. }
        | Route::Endpoints { m }
        | Route::Endpoint { m, .. }
        | Route::EndpointAction { m, .. }
        | Route::ServiceConfigs { m, .. }
        | Route::ServiceConfig { m, .. } => Some(&m.sub),
        _ => None,
    }
}

// ---- api-versions ----

const HYBRID_CONNECTIVITY_VERSIONS: &[&str] = &["2023-03-15", "2024-12-01"];
const HYBRID_COMPUTE_VERSIONS: &[&str] = &["2022-11-10", "2022-12-27", "2024-07-10", "2025-01-13"];
const RUN_COMMAND_VERSIONS: &[&str] = &["2025-01-13"];
const RESOURCES_VERSIONS: &[&str] = &[
    "2021-04-01",
    "2022-01-01",
    "2022-09-01",
    "2022-12-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
];
const AUTHORIZATION_VERSIONS: &[&str] = &["2022-04-01"];
const RESOURCE_GRAPH_VERSIONS: &[&str] = &["2021-03-01", "2022-10-01", "2024-04-01"];
const LOCATIONS: &str = "eastus, eastus2, westus2, westus3, centralus, southcentralus, northeurope, westeurope, \
     uksouth, francecentral, swedencentral, southeastasia, japaneast, australiaeast, canadacentral";

/// The api-versions that serve an Arc VM type's `virtualMachines` (the
/// previews and stable versions of its spec that have that type).
fn arc_vm_versions(kind: ArcType) -> &'static [&'static str] {
    match kind {
        ArcType::Machine => HYBRID_COMPUTE_VERSIONS,
        ArcType::Vmware => &[
            "2020-10-01-preview",
            "2022-01-10-preview",
            "2022-07-15-preview",
            "2023-03-01-preview",
            "2023-10-01",
        ],
        ArcType::Scvmm => &[
            "2020-06-05-preview",
            "2022-05-21-preview",
            "2023-04-01-preview",
        ],
        ArcType::Hci => &[
            "2021-07-01-preview",
            "2021-09-01-preview",
            "2022-12-15-preview",
        ],
    }
}

/// Namespace, resource type (for messages) and served api-versions of a route.
fn provider_of(route: &Route) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    Some(match route {
        Route::Graph => (
            "Microsoft.ResourceGraph",
            "resources",
            RESOURCE_GRAPH_VERSIONS,
        ),
        Route::Subscriptions
        | Route::Subscription { .. }
        | Route::Providers { .. }
        | Route::Provider { .. }
        | Route::ResourceGroups { .. }
        | Route::ResourceGroup { .. } => ("Microsoft.Resources", "", RESOURCES_VERSIONS),
        Route::Machine { m } if m.kind != ArcType::Machine => (
            m.kind.namespace(),
            "virtualMachines",
            arc_vm_versions(m.kind),
        ),
        Route::MachinesInSub { .. } | Route::MachinesInRg { .. } | Route::Machine { .. } => {
            (HYBRID_COMPUTE, "machines", HYBRID_COMPUTE_VERSIONS)
        }
        Route::Extensions { .. } | Route::Extension { .. } => (
            HYBRID_COMPUTE,
            "machines/extensions",
            HYBRID_COMPUTE_VERSIONS,
        ),
        Route::RunCommands { .. } | Route::RunCommand { .. } => {
            (HYBRID_COMPUTE, "machines/runCommands", RUN_COMMAND_VERSIONS)
        }
        Route::Operation { .. } => (
            HYBRID_COMPUTE,
            "locations/operationStatus",
            HYBRID_COMPUTE_VERSIONS,
        ),
        Route::Endpoints { .. } | Route::Endpoint { .. } | Route::EndpointAction { .. } => (
            HYBRID_CONNECTIVITY,
            "endpoints",
            HYBRID_CONNECTIVITY_VERSIONS,
        ),
        Route::ServiceConfigs { .. } | Route::ServiceConfig { .. } => (
            HYBRID_CONNECTIVITY,
            "endpoints/serviceConfigurations",
            HYBRID_CONNECTIVITY_VERSIONS,
        ),
        Route::Permissions { .. }
        | Route::RoleAssignments { .. }
        | Route::RoleAssignment { .. }
        | Route::RoleDefinitions { .. }
        | Route::RoleDefinition { .. } => ("Microsoft.Authorization", "", AUTHORIZATION_VERSIONS),
        Route::PolicyDefinition { .. }
        | Route::PolicySetDefinition { .. }
        | Route::PolicyAssignment { .. } => ("Microsoft.Authorization", "", policy::VERSIONS),
        Route::PolicyStates { .. }
        | Route::PolicyEvaluationTrigger { .. }
        | Route::PolicyEvaluationResult { .. } => {
            (insights::NS, "policyStates", insights::STATES_VERSIONS)
        }
        Route::Remediations { .. }
        | Route::Remediation { .. }
        | Route::RemediationDeployments { .. } => {
            (insights::NS, "remediations", insights::REMEDIATION_VERSIONS)
        }
        Route::Token { .. } | Route::Unknown => return None,
    })
}

/// Api-versions of ARM itself (Microsoft.Resources): any date from 2021-04-01 on.
fn resources_version_ok(v: &str) -> bool {
    let date = time::macros::format_description!("[year]-[month]-[day]");
    RESOURCES_VERSIONS.contains(&v)
        || time::Date::parse(v, &date).is_ok_and(|d| {
            d >= time::macros::date!(2021 - 04 - 01) && d <= time::OffsetDateTime::now_utc().date()
        })
}

/// Registration of the route's provider in the subscription, then its api-version.
fn check_provider(world: &World, route: &Route, ctx: &Ctx) -> Result<(), ArmError> {
    let Some((ns, rtype, versions)) = provider_of(route) else {
        return Ok(());
    };
    let v = ctx.api_version.as_str();
    if matches!(ns, "Microsoft.Resources" | "Microsoft.Authorization") {
        let ok = if ns == "Microsoft.Resources" {
            resources_version_ok(v)
        } else {
            versions.contains(&v)
        };
        if ok {
            return Ok(());
        }
        let mut newest_first: Vec<&str> = versions.to_vec();
        newest_first.reverse();
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                newest_first.join(",")
            ),
        ));
    }
    let location = route_location(world, route);
    let no_provider = |supported: &[&str]| {
        ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version '{v}' for type \
                 '{rtype}'. The supported api-versions are '{}'. The supported locations are '{LOCATIONS}'.",
                supported.join(", ")
            ),
        )
    };
    let registration_matters = !matches!(route, Route::Operation { .. } | Route::Graph);
    if registration_matters
        && let Some(si) = route_subscription(route).and_then(|s| world.sub_index(s))
        && !world.is_registered(si, ns)
    {
        return Err(match world.subs[si].unregistered_error {
            UnregisteredError::NoRegisteredProviderFound => no_provider(versions),
            UnregisteredError::MissingSubscriptionRegistration => {
                let message = format!(
                    "The subscription is not registered to use namespace '{ns}'. See https://aka.ms/rps-not-found \
                     for how to register subscriptions."
                );
                ArmError::new(409, "MissingSubscriptionRegistration", message.clone()).detail(
                    serde_json::json!({
                        "code": "MissingSubscriptionRegistration",
                        "target": ns,
                        "message": message,
                    }),
                )
            }
        });
    }
    if !versions.contains(&v) {
        return Err(no_provider(versions));
    }
    Ok(())
}

fn route_location(world: &World, route: &Route) -> String {
    let m = match route {
        Route::Machine { m }
        | Route::Extensions { m }
        | Route::Extension { m, .. }
        | Route::RunCommands { m }
        | Route::RunCommand { m, .. }
        | Route::Endpoints { m }
        | Route::Endpoint { m, .. }
        | Route::EndpointAction { m, .. }
        | Route::ServiceConfigs { m, .. }
        | Route::ServiceConfig { m, .. } => m,
        Route::Operation { location, .. } => return location.clone(),
        Route::MachinesInRg { sub, rg } => {
            return world
                .rg_index(sub, rg)
                .map(|(s, r)| world.subs[s].rgs[r].location.clone())
                .unwrap_or_else(|| "global".into());
        }
        _ => return "global".into(),
    };
    match world.machine_at(&m.sub, &m.rg, m.kind, &m.name) {
        Some(at) => world.machine(at).location.clone(),
        None => world.rg_index(&m.sub, &m.rg).map_or_else(
            || "global".into(),
            |(s, r)| world.subs[s].rgs[r].location.clone(),
        ),
    }
}

// ---- canonical ids and lookups ----

pub(crate) fn sub_id(world: &World, sub: &str) -> String {
    let s = world
        .sub_index(sub)
        .map_or(sub, |i| world.subs[i].id.as_str());
    format!("/subscriptions/{s}")
}

pub(crate) fn rg_id(world: &World, sub: &str, rg: &str) -> String {
    let name = world
        .rg_index(sub, rg)
        .map_or(rg, |(s, r)| world.subs[s].rgs[r].name.as_str());
    format!("{}/resourceGroups/{name}", sub_id(world, sub))
}

/// The machine's id in canonical casing when it exists, else as far as known.
pub(crate) fn machine_id(world: &World, m: &MachineRef) -> String {
    match world.machine_at(&m.sub, &m.rg, m.kind, &m.name) {
        Some(at) => world.machine_id(at),
        None => format!(
            "{}/providers/{}/{}",
            rg_id(world, &m.sub, &m.rg),
            m.kind.full(),
            m.name
        ),
    }
}

/// A scope string in canonical casing where the simulator knows its parts.
pub(crate) fn canonical_scope(world: &World, scope: &str) -> String {
    match crate::sim::route::parse(scope) {
        Route::Subscription { sub } => sub_id(world, &sub),
        Route::ResourceGroup { sub, rg } => rg_id(world, &sub, &rg),
        Route::Machine { m } => machine_id(world, &m),
        _ if scope == "/" => "/".into(),
        _ => scope.trim_end_matches('/').to_string(),
    }
}

fn rg_not_found(rg: &str) -> ArmError {
    ArmError::new(
        404,
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

/// The resource group, or ARM's `ResourceGroupNotFound`.
pub(crate) fn find_rg(world: &World, sub: &str, rg: &str) -> Result<(usize, usize), ArmError> {
    world.rg_index(sub, rg).ok_or_else(|| rg_not_found(rg))
}

/// The machine addressed directly: `ResourceNotFound` when missing.
pub(crate) fn find_machine(world: &World, m: &MachineRef) -> Result<MachineAt, ArmError> {
    find_rg(world, &m.sub, &m.rg)?;
    world
        .machine_at(&m.sub, &m.rg, m.kind, &m.name)
        .ok_or_else(|| {
            crate::sim::reply::resource_not_found(&format!("{}/{}", m.kind.full(), m.name), &m.rg)
                .bare(world.bare_hybridcompute_errors)
        })
}

/// The machine as the parent of what is addressed: `ParentResourceNotFound` when missing.
pub(crate) fn find_parent_machine(world: &World, m: &MachineRef) -> Result<MachineAt, ArmError> {
    find_rg(world, &m.sub, &m.rg)?;
    world
        .machine_at(&m.sub, &m.rg, m.kind, &m.name)
        .ok_or_else(|| crate::sim::reply::parent_not_found(&m.name))
}

/// A paged list answer: `page_size` items from `$skiptoken` on, with an
/// absolute `nextLink` while more remain.
pub(crate) fn paged(ctx: &Ctx, items: Vec<Value>, page_size: usize) -> ArmResult {
    paged_with(ctx, items, page_size, |v| v)
}

/// `paged`, rendering only the page's items (a list of 10,000 machines
/// renders 100 of them per page, not all of them for every page).
pub(crate) fn paged_with<T: Clone>(
    ctx: &Ctx,
    items: Vec<T>,
    page_size: usize,
    render: impl Fn(T) -> Value,
) -> ArmResult {
    let start = match ctx.q("$skiptoken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{t}' is not valid."),
            )
        })?,
    };
    let page_size = page_size.max(1);
    let end = start.saturating_add(page_size).min(items.len());
    let page: Vec<Value> = items
        .get(start..end)
        .map(|page| page.iter().cloned().map(&render).collect())
        .unwrap_or_default();
    let mut body = serde_json::json!({ "value": page });
    if end < items.len() {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &ctx.query {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &end.to_string());
        body["nextLink"] =
            Value::String(format!("{}{}?{}", ctx.inc.base, ctx.inc.path, q.finish()));
    }
    Ok(Reply::ok(body))
}
