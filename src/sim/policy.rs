//! Azure Policy's resources in the simulated ARM (`Microsoft.Authorization`
//! 2023-04-01): policy definitions and policy set definitions at
//! subscription scope, and assignments (with a system-assigned identity) at
//! a subscription or a resource group; created or replaced by PUT, read by
//! GET, removed by DELETE, in the shapes of the official examples. Stored as
//! the JSON received: nothing here knows arcfix's definitions. What Azure
//! refuses when a resource is written is refused here with Azure's code:
//! a rule the evaluator's parser cannot read, an alias not known to exist,
//! parameters not declared, not given or not allowed, and a
//! DeployIfNotExists or Modify assignment without an identity.

use serde_json::{Map, Value, json};

use crate::sim::arm::{Ctx, canonical_scope, find_rg, method_not_allowed};
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::route::Route;
use crate::sim::world::{World, new_guid};

/// The three kinds of policy resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Definition,
    SetDefinition,
    Assignment,
}

impl Kind {
    /// The resource type's last segment, as ids spell it.
    fn segment(self) -> &'static str {
        match self {
            Kind::Definition => "policyDefinitions",
            Kind::SetDefinition => "policySetDefinitions",
            Kind::Assignment => "policyAssignments",
        }
    }

    fn not_found_code(self) -> &'static str {
        match self {
            Kind::Definition => "PolicyDefinitionNotFound",
            Kind::SetDefinition => "PolicySetDefinitionNotFound",
            Kind::Assignment => "PolicyAssignmentNotFound",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Definition => "policy definition",
            Kind::SetDefinition => "policy set definition",
            Kind::Assignment => "policy assignment",
        }
    }
}

/// One stored policy resource: where, its name as first written, and the
/// whole resource as ARM answers it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub kind: Kind,
    /// `/subscriptions/{id}` or `/subscriptions/{id}/resourceGroups/{rg}`, as the world spells it.
    pub scope: String,
    pub name: String,
    pub resource: Value,
    /// For an assignment: where Azure Policy has evaluated it. Its own
    /// scope at once, unless the scenario's `policy_evaluation_pending`
    /// holds it back until a trigger or a re-evaluating remediation.
    pub evaluated: Vec<Evaluated>,
}

/// One evaluation of an assignment: at a scope, of all its policies
/// (`reference` None: a scan) or of one (a remediation re-evaluating the
/// policy it remediates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evaluated {
    pub scope: String,
    pub reference: Option<String>,
}

impl Evaluated {
    /// Whether the policy of reference `reference` has a state for `resource`.
    pub fn covers(&self, resource: &str, reference: Option<&str>) -> bool {
        crate::sim::authz::covers(&self.scope, resource)
            && match (&self.reference, reference) {
                (None, _) => true,
                (Some(r), Some(p)) => r.eq_ignore_ascii_case(p),
                (Some(_), None) => false,
            }
    }
}

/// Every policy resource of the world, in the order they were first written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub items: Vec<Stored>,
}

impl Store {
    fn index(&self, kind: Kind, scope: &str, name: &str) -> Option<usize> {
        self.items.iter().position(|s| {
            s.kind == kind
                && s.scope.eq_ignore_ascii_case(scope)
                && s.name.eq_ignore_ascii_case(name)
        })
    }

    /// The stored resource whose id is `id` (ARM compares ids ignoring case).
    pub fn by_id(&self, id: &str) -> Option<&Stored> {
        self.items.iter().find(|s| {
            s.resource["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(id))
        })
    }

    /// What tests and `state_json` see: each resource whole.
    #[cfg(any(test, feature = "test-api"))]
    pub fn to_json(&self) -> Value {
        let of = |kind: Kind| -> Vec<Value> {
            self.items
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.resource.clone())
                .collect()
        };
        json!({
            "policyDefinitions": of(Kind::Definition),
            "policySetDefinitions": of(Kind::SetDefinition),
            "policyAssignments": of(Kind::Assignment),
        })
    }
}

/// The api-version these resources are served with here.
pub(crate) const VERSIONS: &[&str] = &["2023-04-01"];

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    let (kind, scope, name) = match route {
        Route::PolicyDefinition { scope, name } => (Kind::Definition, scope, name),
        Route::PolicySetDefinition { scope, name } => (Kind::SetDefinition, scope, name),
        Route::PolicyAssignment { scope, name } => (Kind::Assignment, scope, name),
        _ => unreachable!("routed by the front door"),
    };
    let scope = known_scope(world, kind, scope)?;
    let action = |verb: &str| format!("Microsoft.Authorization/{}/{verb}", kind.segment());
    match ctx.method() {
        "GET" => {
            ctx.require(world, &action("read"), &scope)?;
            let i = world
                .policy
                .index(kind, &scope, name)
                .ok_or_else(|| not_found(kind, name))?;
            Ok(Reply::ok(world.policy.items[i].resource.clone()))
        }
        "PUT" => {
            ctx.require(world, &action("write"), &scope)?;
            put(world, ctx, kind, &scope, name)
        }
        "DELETE" => {
            ctx.require(world, &action("delete"), &scope)?;
            match world.policy.index(kind, &scope, name) {
                None => Ok(Reply::empty(204)),
                Some(i) => {
                    let gone = world.policy.items.remove(i);
                    Ok(match kind {
                        // Its 200 carries the deleted assignment; the
                        // definitions' 200 has no body.
                        Kind::Assignment => Reply::ok(gone.resource),
                        _ => Reply::empty(200),
                    })
                }
            }
        }
        other => Err(method_not_allowed(other)),
    }
}

/// The scope as the world spells it: a subscription for definitions and
/// sets (management groups are not simulated), a subscription or a resource
/// group of it for assignments.
fn known_scope(world: &World, kind: Kind, scope: &str) -> Result<String, ArmError> {
    let invalid = || {
        ArmError::bad_request(
            "InvalidScope",
            format!(
                "arcfix-sim keeps {}s at {}, not at '{scope}'.",
                kind.what(),
                match kind {
                    Kind::Assignment => "subscriptions and resource groups",
                    _ => "subscriptions",
                }
            ),
        )
    };
    match crate::sim::route::parse(scope) {
        Route::Subscription { sub } => {
            if world.sub_index(&sub).is_none() {
                return Err(ArmError::new(
                    404,
                    "SubscriptionNotFound",
                    format!("The subscription '{sub}' could not be found."),
                ));
            }
        }
        Route::ResourceGroup { sub, rg } if kind == Kind::Assignment => {
            find_rg(world, &sub, &rg)?;
        }
        _ => return Err(invalid()),
    }
    Ok(canonical_scope(world, scope))
}

fn not_found(kind: Kind, name: &str) -> ArmError {
    ArmError::new(
        404,
        kind.not_found_code(),
        format!("The {} '{name}' could not be found.", kind.what()),
    )
}

fn invalid_request(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidRequestContent", message)
}

/// Create or replace: the body checked as far as ARM checks it before
/// storing, the answer the stored resource (201 on create; a set's update 200).
fn put(world: &mut World, ctx: &Ctx, kind: Kind, scope: &str, name: &str) -> ArmResult {
    let body = ctx.body().and_then(Value::as_object).ok_or_else(|| {
        invalid_request("The request content was invalid and could not be deserialized.")
    })?;
    let properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| invalid_request("The request content must have 'properties'."))?;
    let id = format!(
        "{scope}/providers/Microsoft.Authorization/{}/{name}",
        kind.segment()
    );
    let existing = world.policy.index(kind, scope, name);
    let mut resource = Map::new();
    let properties = match kind {
        Kind::Definition => definition_properties(properties)?,
        Kind::SetDefinition => set_properties(world, properties)?,
        Kind::Assignment => {
            let (properties, identity, location) =
                assignment_parts(world, body, properties, scope, name)?;
            if let Some(identity) = identity {
                // A replaced assignment keeps its identity.
                let kept = existing
                    .map(|i| &world.policy.items[i].resource["identity"])
                    .filter(|v| v["principalId"].is_string());
                let identity = match kept {
                    Some(kept) => kept.clone(),
                    None => {
                        // A new managed identity: a service principal of the
                        // directory, which roles can then be assigned to.
                        let oid = new_guid();
                        world.principals.push(crate::sim::scenario::Principal {
                            oid: oid.clone(),
                            upn: String::new(),
                            principal_type: "ServicePrincipal".into(),
                            client_id: Some(new_guid()),
                            client_secret: None,
                            member_of: vec![],
                        });
                        json!({"type": identity, "principalId": oid, "tenantId": world.tenant})
                    }
                };
                resource.insert("identity".into(), identity);
            }
            if let Some(location) = location {
                resource.insert("location".into(), json!(location));
            }
            properties
        }
    };
    resource.insert("properties".into(), Value::Object(properties));
    resource.insert("id".into(), json!(id));
    resource.insert(
        "type".into(),
        json!(format!("Microsoft.Authorization/{}", kind.segment())),
    );
    resource.insert("name".into(), json!(name));
    let resource = Value::Object(resource);
    let status = match (kind, existing) {
        (Kind::SetDefinition, Some(_)) => 200,
        _ => 201,
    };
    match existing {
        Some(i) => world.policy.items[i].resource = resource.clone(),
        None => world.policy.items.push(Stored {
            kind,
            scope: scope.to_string(),
            name: name.to_string(),
            resource: resource.clone(),
            evaluated: if kind == Kind::Assignment && !world.policy_evaluation_pending {
                vec![Evaluated {
                    scope: scope.to_string(),
                    reference: None,
                }]
            } else {
                vec![]
            },
        }),
    }
    Ok(Reply::with(status, resource))
}

/// A definition's properties: a `policyRule` with `if` and `then` is
/// required; `policyType` is `Custom` unless the caller said so.
fn definition_properties(mut p: Map<String, Value>) -> Result<Map<String, Value>, ArmError> {
    let rule = p.get("policyRule").and_then(Value::as_object);
    if !rule.is_some_and(|r| {
        r.get("if").is_some_and(Value::is_object) && r.get("then").is_some_and(Value::is_object)
    }) {
        return Err(ArmError::bad_request(
            "InvalidPolicyRule",
            "The policy definition has no valid 'policyRule': it needs an 'if' and a 'then'.",
        ));
    }
    crate::sim::evaluator::check_definition(&Value::Object(p.clone()))
        .map_err(|e| ArmError::bad_request(e.code(), e.message()))?;
    defaults_allowed(&p)?;
    custom(&mut p)?;
    Ok(p)
}

/// Each declared parameter's default among its allowed values, as Azure
/// requires (PolicyParameterAllowedAndDefaultValuesMismatch, verified:
/// Azure/azure-monitor-baseline-alerts#917).
fn defaults_allowed(p: &Map<String, Value>) -> Result<(), ArmError> {
    for (k, spec) in p
        .get("parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let (Some(list), Some(default)) =
            (spec["allowedValues"].as_array(), spec.get("defaultValue"))
            && !list.contains(default)
        {
            return Err(ArmError::bad_request(
                "PolicyParameterAllowedAndDefaultValuesMismatch",
                format!(
                    "The policy defines parameter '{k}' with a default value {default} and allowed values {}. The \
                     'allowedValues' property must include the value of the 'defaultValue' property if both are present.",
                    Value::Array(list.clone())
                ),
            ));
        }
    }
    Ok(())
}

/// The parameters a definition or set declares.
fn declared(resource: &Value) -> Map<String, Value> {
    resource["properties"]["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn find_ci<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Values passed to `declared`: each passed one declared, each declared
/// one without a default passed. The codes are unverified guesses at
/// Azure's (`UndefinedPolicyParameter`, `MissingPolicyParameter`).
fn passed_fits(
    declared: &Map<String, Value>,
    passed: &Map<String, Value>,
    whose: &str,
) -> Result<(), ArmError> {
    if let Some(k) = passed.keys().find(|k| find_ci(declared, k).is_none()) {
        return Err(ArmError::bad_request(
            "UndefinedPolicyParameter",
            format!("The parameter '{k}' is not defined in {whose}."),
        ));
    }
    if let Some((k, _)) = declared
        .iter()
        .find(|(k, spec)| spec.get("defaultValue").is_none() && find_ci(passed, k).is_none())
    {
        return Err(ArmError::bad_request(
            "MissingPolicyParameter",
            format!("The parameter '{k}' of {whose} has no default and is not given a value."),
        ));
    }
    Ok(())
}

/// A value against its declaration's `allowedValues` (compared exactly:
/// Azure refused 'deny' where 'Deny' was allowed, terraform-azurerm-caf-enterprise-scale#1313).
fn allowed(spec: &Value, name: &str, value: &Value, definition: &str) -> Result<(), ArmError> {
    let Some(list) = spec["allowedValues"].as_array() else {
        return Ok(());
    };
    if list.contains(value) {
        return Ok(());
    }
    let shown: Vec<String> = list
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
        .collect();
    let value = value
        .as_str()
        .map_or_else(|| value.to_string(), String::from);
    Err(ArmError::bad_request(
        "PolicyParameterValueNotAllowed",
        format!(
            "The value '{value}' is not allowed for policy parameter '{name}' in policy definition '{definition}'. \
             The allowed values are '{}'.",
            shown.join(", ")
        ),
    ))
}

/// `policyType`: only `Custom` may be written.
fn custom(p: &mut Map<String, Value>) -> Result<(), ArmError> {
    match p.get("policyType").and_then(Value::as_str) {
        None => {
            p.insert("policyType".into(), json!("Custom"));
            Ok(())
        }
        Some(t) if t.eq_ignore_ascii_case("Custom") => Ok(()),
        Some(t) => Err(ArmError::bad_request(
            "InvalidPolicyType",
            format!("The policy type '{t}' cannot be written; only 'Custom'."),
        )),
    }
}

/// A set's properties: at least one reference, each to a definition that
/// exists, each reference id once.
fn set_properties(
    world: &World,
    mut p: Map<String, Value>,
) -> Result<Map<String, Value>, ArmError> {
    let refs = p
        .get("policyDefinitions")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidPolicySetDefinition",
                "The policy set definition must reference at least one policy definition.",
            )
        })?;
    let mut seen: Vec<String> = Vec::new();
    for r in refs {
        let id = r["policyDefinitionId"].as_str().unwrap_or_default();
        if !world
            .policy
            .by_id(id)
            .is_some_and(|s| s.kind == Kind::Definition)
        {
            return Err(ArmError::new(
                404,
                "PolicyDefinitionNotFound",
                format!("The policy definition '{id}' could not be found."),
            ));
        }
        // What the reference passes: parameters the definition declares
        // (all it needs), from expressions on the set's own parameters.
        let definition = world
            .policy
            .by_id(id)
            .map(|s| &s.resource)
            .cloned()
            .unwrap_or_default();
        let passed: Map<String, Value> = r["parameters"].as_object().cloned().unwrap_or_default();
        passed_fits(
            &declared(&definition),
            &passed,
            &format!("the policy definition '{id}'"),
        )?;
        let set_params: Vec<String> = p
            .get("parameters")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for v in passed.values() {
            crate::sim::evaluator::check_value(&v["value"], &set_params)
                .map_err(|e| ArmError::bad_request(e.code(), e.message()))?;
        }
        if let Some(reference) = r["policyDefinitionReferenceId"].as_str() {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(reference)) {
                return Err(ArmError::bad_request(
                    "InvalidPolicySetDefinition",
                    format!("The policy definition reference id '{reference}' is used twice."),
                ));
            }
            seen.push(reference.to_string());
        }
    }
    defaults_allowed(&p)?;
    custom(&mut p)?;
    Ok(p)
}

/// An assignment's properties (with its `scope`), the identity type it
/// asks for, and its location: what it assigns must exist, and a
/// system-assigned identity needs a location.
#[allow(clippy::type_complexity)]
fn assignment_parts(
    world: &World,
    body: &Map<String, Value>,
    mut p: Map<String, Value>,
    scope: &str,
    name: &str,
) -> Result<(Map<String, Value>, Option<String>, Option<String>), ArmError> {
    let id = p
        .get("policyDefinitionId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if world
        .policy
        .by_id(&id)
        .is_none_or(|s| s.kind == Kind::Assignment)
    {
        return Err(ArmError::new(
            404,
            "PolicyDefinitionNotFound",
            format!("The policy definition or set '{id}' could not be found."),
        ));
    }
    let identity = match body.get("identity").map(|i| &i["type"]) {
        None => None,
        // ARM compares enum values ignoring case.
        Some(Value::String(t)) if t.eq_ignore_ascii_case("SystemAssigned") => {
            Some("SystemAssigned".to_string())
        }
        Some(Value::String(t)) if t.eq_ignore_ascii_case("None") => None,
        Some(other) => {
            return Err(invalid_request(format!(
                "arcfix-sim gives assignments a system-assigned identity only, not {other}."
            )));
        }
    };
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(String::from);
    if identity.is_some() && location.is_none() {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "A policy assignment with a managed identity needs a location.",
        ));
    }
    match p.get("enforcementMode").and_then(Value::as_str) {
        None => {
            p.insert("enforcementMode".into(), json!("Default"));
        }
        Some(m) if m.eq_ignore_ascii_case("Default") || m.eq_ignore_ascii_case("DoNotEnforce") => {}
        Some(other) => {
            return Err(invalid_request(format!(
                "The enforcement mode '{other}' is not one of Default, DoNotEnforce."
            )));
        }
    }
    // Its parameters: declared by what it assigns, each required one
    // given, each value allowed; then, resolved, each definition's.
    let target = world
        .policy
        .by_id(&id)
        .map(|s| s.resource.clone())
        .unwrap_or_default();
    let given: Map<String, Value> = p
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    passed_fits(
        &declared(&target),
        &given,
        &format!("the policy definition or set '{id}'"),
    )?;
    for (k, spec) in &declared(&target) {
        if let Some(v) = find_ci(&given, k)
            .map(|v| &v["value"])
            .or_else(|| spec.get("defaultValue"))
        {
            allowed(spec, k, v, &id)?;
        }
    }
    let probe = Stored {
        kind: Kind::Assignment,
        scope: scope.to_string(),
        name: name.to_string(),
        resource: json!({"properties": Value::Object(p.clone())}),
        evaluated: vec![],
    };
    for policy in crate::sim::evaluator::resolve(world, &probe) {
        if let Some(d) = world.policy.by_id(&policy.definition_id) {
            for (k, spec) in &declared(&d.resource) {
                if let Some(v) = find_ci(&policy.params, k) {
                    allowed(spec, k, v, &policy.definition_id)?;
                }
            }
        }
        // Azure's answer, as Azure/azure-cli#13150 quotes it.
        if identity.is_none()
            && let Some(effect) = policy.effect.filter(|e| e.remediable())
        {
            return Err(ArmError::bad_request(
                "ResourceIdentityRequired",
                format!(
                    "The policy assignment '{name}' request is invalid. Policy assignments must include a resource \
                     identity when assigning '{}' policy definitions.",
                    effect.as_str()
                ),
            ));
        }
    }
    p.insert("scope".into(), json!(scope));
    p.entry("notScopes").or_insert_with(|| json!([]));
    Ok((p, identity, location))
}
