//! The simulator's own Azure Policy evaluator, written apart from the
//! product so that it can judge what the product installs: each assignment's
//! policies resolved (assignment parameters → set parameters → definition
//! defaults), each rule's `if` evaluated against each machine in scope, and
//! for `DeployIfNotExists` / `AuditIfNotExists` the related resource looked
//! up under the machine (in its `existenceCondition`, the `field` key reads
//! the related resource and `field()` the machine, as
//! learn.microsoft.com/azure/governance/policy/concepts/effect-deploy-if-not-exists
//! says). Compliance is computed from the world when asked, for the scopes
//! each assignment has been evaluated at.
//!
//! What it understands: `allOf`/`anyOf`/`not`; `field`, `value` and `count`
//! conditions; the operators `equals`, `notEquals`, `like` (one `*` at
//! most), `notLike`, `in`, `notIn`, `contains`, `notContains`,
//! `containsKey`, `notContainsKey`, `exists`, `less`, `lessOrEquals`,
//! `greater`, `greaterOrEquals`; the fields `type`, `name`, `fullName`,
//! `location`, `id`, `kind`, `tags`, and the aliases of `ALIASES`; template
//! functions `parameters`, `field`, `concat`, `string`, `toLower`,
//! `toUpper` (and, in deployment templates, `resourceId` and
//! `extensionResourceId`). A definition is checked with the same parser
//! when it is written (`check_definition`): what the simulator cannot read
//! is refused there, and what still fails to evaluate (a parameter's value)
//! is an error, never "compliant" nor "no state". A resource whose `if` is
//! false is compliant
//! (learn.microsoft.com/azure/governance/policy/concepts/compliance-states),
//! unless the policy does not apply to it at all (`applicable`; for
//! `DeployIfNotExists` / `AuditIfNotExists` the whole `if` decides it, as
//! .../concepts/policy-applicability says).

use serde_json::{Map, Value};

use crate::sim::authz::covers;
use crate::sim::policy::{Kind, Stored};
use crate::sim::world::{MachineAt, World};

/// A resource's compliance with one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compliance {
    Compliant,
    NonCompliant,
}

impl Compliance {
    pub fn as_str(self) -> &'static str {
        match self {
            Compliance::Compliant => "Compliant",
            Compliance::NonCompliant => "NonCompliant",
        }
    }
}

/// The effects the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    DeployIfNotExists,
    AuditIfNotExists,
    Audit,
    Deny,
    Modify,
    Disabled,
}

impl Effect {
    fn parse(s: &str) -> Option<Effect> {
        [
            Effect::DeployIfNotExists,
            Effect::AuditIfNotExists,
            Effect::Audit,
            Effect::Deny,
            Effect::Modify,
            Effect::Disabled,
        ]
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::DeployIfNotExists => "DeployIfNotExists",
            Effect::AuditIfNotExists => "AuditIfNotExists",
            Effect::Audit => "Audit",
            Effect::Deny => "Deny",
            Effect::Modify => "Modify",
            Effect::Disabled => "Disabled",
        }
    }

    /// Whether a remediation can deploy it.
    pub fn remediable(self) -> bool {
        matches!(self, Effect::DeployIfNotExists | Effect::Modify)
    }
}

/// One policy of an assignment, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub assignment_id: String,
    pub assignment_name: String,
    pub assignment_scope: String,
    pub not_scopes: Vec<String>,
    /// The assignment's `parameters` as written.
    pub assignment_parameters: Value,
    /// The identity's principal id, when the assignment has one.
    pub principal: Option<String>,
    pub set_id: Option<String>,
    pub reference_id: Option<String>,
    pub definition_id: String,
    pub definition_name: String,
    pub rule: Value,
    /// The definition's parameter values.
    pub params: Map<String, Value>,
    /// None: an effect the simulator does not know, or one that could not be resolved.
    pub effect: Option<Effect>,
    /// The scopes the assignment has been evaluated at (states exist only there).
    pub evaluated: Vec<crate::sim::policy::Evaluated>,
}

impl Policy {
    /// Whether the assignment applies to the resource `id`.
    pub fn covers(&self, id: &str) -> bool {
        covers(&self.assignment_scope, id) && !self.not_scopes.iter().any(|n| covers(n, id))
    }

    pub fn env<'a>(&'a self, resource: &'a Value) -> Env<'a> {
        Env {
            resource: Some(resource),
            ..Env::params_only(&self.params)
        }
    }
}

/// One compliance record: a policy of an assignment and a machine.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub policy: Policy,
    pub machine: MachineAt,
    pub resource_id: String,
    pub compliance: Compliance,
}

/// What expressions and conditions read: parameter values, the resource
/// (for `field`), and the array element a `count` is at.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub params: &'a Map<String, Value>,
    pub resource: Option<&'a Value>,
    /// The counted alias (lower case, ending in `[*]`) and the element.
    counted: Option<(&'a str, &'a Value)>,
    /// In an `existenceCondition`: the resource the `if` matched, which
    /// `field()` reads (the condition's `field` key reads `resource`).
    outer: Option<&'a Value>,
    /// In a deployment template: its subscription and resource group (for
    /// `resourceId`); `field()` is a policy function, not a template's.
    template: Option<(&'a str, &'a str)>,
}

impl<'a> Env<'a> {
    pub fn params_only(params: &'a Map<String, Value>) -> Env<'a> {
        Env {
            params,
            resource: None,
            counted: None,
            outer: None,
            template: None,
        }
    }

    /// A rule read on `resource`.
    #[cfg(test)]
    pub fn on(params: &'a Map<String, Value>, resource: &'a Value) -> Env<'a> {
        Env {
            resource: Some(resource),
            ..Env::params_only(params)
        }
    }

    /// A deployment template's parameters, deployed into `rg` of `sub`.
    pub fn template(params: &'a Map<String, Value>, sub: &'a str, rg: &'a str) -> Env<'a> {
        Env {
            template: Some((sub, rg)),
            ..Env::params_only(params)
        }
    }
}

/// Every policy of every assignment, in the order the assignments were written.
pub(crate) fn policies(world: &World) -> Vec<Policy> {
    world
        .policy
        .items
        .iter()
        .filter(|s| s.kind == Kind::Assignment)
        .flat_map(|a| resolve(world, a))
        .collect()
}

fn values_of(parameters: &Value) -> Map<String, Value> {
    parameters
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.get("value").map(|v| (k.clone(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// Declared parameters with their given values, else their defaults.
fn with_defaults(declared: &Value, given: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(d) = declared.as_object() {
        for (name, spec) in d {
            let given = given
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone());
            if let Some(v) = given.or_else(|| spec.get("defaultValue").cloned()) {
                out.insert(name.clone(), v);
            }
        }
    }
    out
}

/// The assignment's policies: one for a definition, one per reference for a set.
pub(crate) fn resolve(world: &World, assignment: &Stored) -> Vec<Policy> {
    let a = &assignment.resource;
    let p = &a["properties"];
    let target = p["policyDefinitionId"].as_str().unwrap_or_default();
    let Some(target) = world.policy.by_id(target) else {
        return vec![];
    };
    let given = values_of(&p["parameters"]);
    let base = |definition: &Stored, params: Map<String, Value>, set: Option<(&str, &str)>| {
        let rule = definition.resource["properties"]["policyRule"].clone();
        let effect = rule["then"]["effect"]
            .as_str()
            .and_then(|e| evaluate(e, Env::params_only(&params)).ok())
            .and_then(|v| v.as_str().and_then(Effect::parse));
        Policy {
            assignment_id: a["id"].as_str().unwrap_or_default().to_string(),
            assignment_name: assignment.name.clone(),
            assignment_scope: assignment.scope.clone(),
            not_scopes: p["notScopes"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            assignment_parameters: p.get("parameters").cloned().unwrap_or(Value::Null),
            principal: a["identity"]["principalId"].as_str().map(String::from),
            set_id: set.map(|(id, _)| id.to_string()),
            reference_id: set.map(|(_, r)| r.to_string()),
            definition_id: definition.resource["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            definition_name: definition.name.clone(),
            rule,
            params,
            effect,
            evaluated: assignment.evaluated.clone(),
        }
    };
    match target.kind {
        Kind::Definition => {
            let params = with_defaults(&target.resource["properties"]["parameters"], &given);
            vec![base(target, params, None)]
        }
        Kind::SetDefinition => {
            let set = &target.resource["properties"];
            let set_params = with_defaults(&set["parameters"], &given);
            let set_id = target.resource["id"].as_str().unwrap_or_default();
            set["policyDefinitions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let definition = world.policy.by_id(r["policyDefinitionId"].as_str()?)?;
                    let passed: Map<String, Value> = values_of(&r["parameters"])
                        .into_iter()
                        .filter_map(|(k, v)| {
                            let v = match v.as_str() {
                                Some(s) => evaluate(s, Env::params_only(&set_params)).ok()?,
                                None => v,
                            };
                            Some((k, v))
                        })
                        .collect();
                    let params =
                        with_defaults(&definition.resource["properties"]["parameters"], &passed);
                    let reference = r["policyDefinitionReferenceId"]
                        .as_str()
                        .unwrap_or_default();
                    Some(base(definition, params, Some((set_id, reference))))
                })
                .collect()
        }
        Kind::Assignment => vec![],
    }
}

/// A policy that could not be evaluated on a resource: Azure would not
/// call that resource compliant, so the simulator says so instead of
/// answering a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EvalError {
    pub assignment_id: String,
    pub definition_id: String,
    pub resource_id: String,
    pub why: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arcfix-sim could not evaluate the policy definition '{}' of the assignment '{}' on '{}': {}",
            self.definition_id, self.assignment_id, self.resource_id, self.why
        )
    }
}

/// Every compliance record of the world, now: only for the scopes each
/// assignment has been evaluated at; an error when any policy cannot be
/// evaluated on a machine it covers.
pub(crate) fn states(world: &World) -> Result<Vec<State>, EvalError> {
    let machines: Vec<(MachineAt, String, Value)> = world
        .all_machines()
        .into_iter()
        .map(|at| (at, world.machine_id(at), world.machine_json(at, false)))
        .collect();
    let mut out = Vec::new();
    for policy in policies(world) {
        for (at, id, json) in &machines {
            let evaluated = policy
                .evaluated
                .iter()
                .any(|e| e.covers(id, policy.reference_id.as_deref()));
            if !policy.covers(id) || !evaluated {
                continue;
            }
            let verdict = evaluate_on(world, &policy, *at, json).map_err(|why| EvalError {
                assignment_id: policy.assignment_id.clone(),
                definition_id: policy.definition_id.clone(),
                resource_id: id.clone(),
                why,
            })?;
            if let Some(compliance) = verdict {
                out.push(State {
                    policy: policy.clone(),
                    machine: *at,
                    resource_id: id.clone(),
                    compliance,
                });
            }
        }
    }
    Ok(out)
}

/// A policy's verdict on a machine (its resource JSON given); None when
/// the policy gives no state (Disabled, or not applicable); an error when
/// the rule cannot be evaluated (never read as compliant).
pub(crate) fn evaluate_on(
    world: &World,
    policy: &Policy,
    at: MachineAt,
    resource: &Value,
) -> Result<Option<Compliance>, String> {
    let effect = policy.effect.ok_or_else(|| {
        format!(
            "its effect {} does not resolve to one the simulator knows",
            policy.rule["then"]["effect"]
        )
    })?;
    if effect == Effect::Disabled {
        return Ok(None);
    }
    let env = policy.env(resource);
    let if_not_exists = matches!(effect, Effect::DeployIfNotExists | Effect::AuditIfNotExists);
    if !applicable(&policy.rule["if"], env)? {
        return Ok(None);
    }
    // For the IfNotExists effects the whole `if` decides applicability:
    // false gives no state
    // (learn.microsoft.com/azure/governance/policy/concepts/policy-applicability);
    // for the others it is compliance.
    if !condition(&policy.rule["if"], env)? {
        return Ok((!if_not_exists).then_some(Compliance::Compliant));
    }
    let details = &policy.rule["then"]["details"];
    Ok(Some(match effect {
        Effect::DeployIfNotExists | Effect::AuditIfNotExists => {
            if related_exists(world, at, details, env)? {
                Compliance::Compliant
            } else {
                Compliance::NonCompliant
            }
        }
        _ => Compliance::NonCompliant,
    }))
}

/// Whether the policy applies to the resource at all: its `if` read with
/// only the conditions on `type`, `name` and `kind` (the others taken as
/// met), as Azure Policy's applicability rules for Resource Manager modes
/// say. A resource it does not apply to has no state.
fn applicable(c: &Value, env: Env) -> Result<bool, String> {
    let Some(o) = c.as_object() else {
        return Ok(true);
    };
    if let Some(all) = o.get("allOf").and_then(Value::as_array) {
        for c in all {
            if !applicable(c, env)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = o.get("anyOf").and_then(Value::as_array) {
        for c in any {
            if applicable(c, env)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    match o.get("field").and_then(Value::as_str) {
        Some(f)
            if ["type", "name", "kind"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(f)) =>
        {
            condition(c, env)
        }
        _ => Ok(true),
    }
}

/// Whether a resource of `details.type` (named `details.name` when given)
/// under the machine meets `details.existenceCondition`. A name that does
/// not evaluate to a string is an error, never "any name".
fn related_exists(world: &World, at: MachineAt, details: &Value, env: Env) -> Result<bool, String> {
    let ty = details["type"]
        .as_str()
        .ok_or("details.type is missing")?
        .to_ascii_lowercase();
    let name = match details.get("name") {
        None => None,
        Some(Value::String(n)) => match evaluate(n, env)? {
            Value::String(v) => Some(v.to_ascii_lowercase()),
            other => return Err(format!("details.name evaluates to {other}, not a name")),
        },
        Some(other) => return Err(format!("details.name is {other}, not a string")),
    };
    let m = world.machine(at);
    let mut candidates: Vec<(String, Value)> = Vec::new();
    match ty.as_str() {
        "microsoft.hybridconnectivity/endpoints" => {
            for e in &m.endpoints {
                candidates.push((e.name.clone(), world.endpoint_json(at, e)));
            }
        }
        "microsoft.hybridconnectivity/endpoints/serviceconfigurations" => {
            for e in &m.endpoints {
                for c in &e.configs {
                    candidates.push((
                        format!("{}/{}", e.name, c.name),
                        world.service_config_json(at, e, c),
                    ));
                }
            }
        }
        "microsoft.hybridcompute/machines/extensions" => {
            for x in &m.extensions {
                candidates.push((x.name.clone(), world.extension_json(at, x)));
            }
        }
        _ => {}
    }
    let machine_name = m.name.to_ascii_lowercase();
    for (n, json) in &candidates {
        let n = n.to_ascii_lowercase();
        let named = name
            .as_ref()
            .is_none_or(|want| *want == n || *want == format!("{machine_name}/{n}"));
        if !named {
            continue;
        }
        let Some(c) = details.get("existenceCondition") else {
            return Ok(true);
        };
        let inner = Env {
            resource: Some(json),
            outer: env.resource,
            counted: None,
            ..env
        };
        if condition(c, inner)? {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---- conditions ----

const OPERATORS: &[&str] = &[
    "equals",
    "notEquals",
    "like",
    "notLike",
    "in",
    "notIn",
    "contains",
    "notContains",
    "containsKey",
    "notContainsKey",
    "exists",
    "less",
    "lessOrEquals",
    "greater",
    "greaterOrEquals",
];

/// Evaluates a policy condition; an error for what the simulator cannot read.
pub(crate) fn condition(c: &Value, env: Env) -> Result<bool, String> {
    let o = c.as_object().ok_or("a condition must be an object")?;
    if let Some(all) = o.get("allOf") {
        for c in all.as_array().ok_or("allOf takes an array")? {
            if !condition(c, env)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = o.get("anyOf") {
        for c in any.as_array().ok_or("anyOf takes an array")? {
            if condition(c, env)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(not) = o.get("not") {
        return Ok(!condition(not, env)?);
    }
    if let Some(count) = o.get("count") {
        let n = count_of(count, env)?;
        return operate(o, Some(&Value::from(n)), env);
    }
    if let Some(field) = o.get("field") {
        let field = field.as_str().ok_or("field takes a string")?;
        let field = match evaluate(field, env)? {
            Value::String(s) => s,
            other => return Err(format!("field names a string, not {other}")),
        };
        return match field_value(&field, env) {
            Found::One(v) => operate(o, v.as_ref(), env),
            // `[*]` outside a count: every element must pass.
            Found::Many(values) => {
                for v in &values {
                    if !operate(o, Some(v), env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        };
    }
    if let Some(value) = o.get("value") {
        let v = expand(value, env)?;
        return operate(o, Some(&v), env);
    }
    Err(format!("the simulator does not know the condition {c}"))
}

fn count_of(count: &Value, env: Env) -> Result<usize, String> {
    let alias = count["field"]
        .as_str()
        .ok_or("the simulator counts fields only")?;
    let lower = alias.to_ascii_lowercase();
    if !lower.ends_with("[*]") {
        return Err(format!("a counted field ends in [*]: {alias}"));
    }
    let Found::Many(items) = field_value(alias, env) else {
        return Err(format!("{alias} is not an array alias"));
    };
    let Some(wheres) = count.get("where") else {
        return Ok(items.len());
    };
    let mut n = 0;
    for item in &items {
        let inner = Env {
            counted: Some((lower.as_str(), item)),
            ..env
        };
        if condition(wheres, inner)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Applies the condition's operator to the value found (`None`: absent).
fn operate(o: &Map<String, Value>, actual: Option<&Value>, env: Env) -> Result<bool, String> {
    let (op, expected) = OPERATORS
        .iter()
        .find_map(|op| o.get(*op).map(|v| (*op, v)))
        .ok_or_else(|| {
            format!(
                "no operator the simulator knows in {}",
                Value::Object(o.clone())
            )
        })?;
    let expected = expand(expected, env)?;
    let actual = actual.filter(|v| !v.is_null());
    let list = || expected.as_array().cloned().unwrap_or_default();
    Ok(match op {
        "equals" => actual.is_some_and(|a| same(a, &expected)),
        "notEquals" => !actual.is_some_and(|a| same(a, &expected)),
        "like" => match actual {
            Some(a) => like(a, &expected)?,
            None => false,
        },
        "notLike" => match actual {
            Some(a) => !like(a, &expected)?,
            None => true,
        },
        "in" => actual.is_some_and(|a| list().iter().any(|e| same(a, e))),
        "notIn" => !actual.is_some_and(|a| list().iter().any(|e| same(a, e))),
        "contains" => actual.is_some_and(|a| contains(a, &expected)),
        "notContains" => !actual.is_some_and(|a| contains(a, &expected)),
        "containsKey" => actual.is_some_and(|a| has_key(a, &expected)),
        "notContainsKey" => !actual.is_some_and(|a| has_key(a, &expected)),
        "exists" => {
            let want = match &expected {
                Value::Bool(b) => *b,
                Value::String(s) => s.eq_ignore_ascii_case("true"),
                _ => return Err("exists takes true or false".into()),
            };
            actual.is_some() == want
        }
        _ => {
            let Some(ord) = actual.and_then(|a| order(a, &expected)) else {
                return Ok(false);
            };
            match op {
                "less" => ord.is_lt(),
                "lessOrEquals" => ord.is_le(),
                "greater" => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Equality as Azure Policy compares: strings ignoring case, numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `like`: the pattern's one `*` stands for any text, the rest compares
/// ignoring case. Policy's docs allow one wildcard at most
/// (learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule#conditions);
/// more is an error. Linear in the lengths.
fn like(a: &Value, pattern: &Value) -> Result<bool, String> {
    let (Some(a), Some(p)) = (text(a), text(pattern)) else {
        return Ok(false);
    };
    like_text(&a, &p)
}

pub(crate) fn like_text(a: &str, p: &str) -> Result<bool, String> {
    let a = a.to_lowercase();
    let p = p.to_lowercase();
    match p.split('*').collect::<Vec<_>>().as_slice() {
        [exact] => Ok(a == *exact),
        [head, tail] => {
            Ok(a.len() >= head.len() + tail.len() && a.starts_with(head) && a.ends_with(tail))
        }
        _ => Err(format!("the like pattern '{p}' has more than one '*'")),
    }
}

fn contains(a: &Value, e: &Value) -> bool {
    match a {
        Value::String(s) => {
            text(e).is_some_and(|e| s.to_ascii_lowercase().contains(&e.to_ascii_lowercase()))
        }
        Value::Array(items) => items.iter().any(|i| same(i, e)),
        _ => false,
    }
}

fn has_key(a: &Value, key: &Value) -> bool {
    let Some(key) = text(key) else { return false };
    a.as_object()
        .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case(&key)))
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            Some(x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()))
        }
        _ => None,
    }
}

// ---- fields ----

/// What a field names: one value (None when absent), or the elements of a `[*]` alias.
#[derive(Debug, PartialEq)]
pub(crate) enum Found {
    One(Option<Value>),
    Many(Vec<Value>),
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The value of a field of the environment's resource (or of the element a
/// `count` is at, for a field below the counted alias).
pub(crate) fn field_value(alias: &str, env: Env) -> Found {
    let lower = alias.to_ascii_lowercase();
    if let Some((counted, element)) = env.counted
        && let Some(rest) = lower.strip_prefix(counted)
    {
        let rest = &alias[alias.len() - rest.len()..];
        return match rest.strip_prefix('.') {
            None if rest.is_empty() => Found::One(Some(element.clone())),
            None => Found::One(None),
            Some(path) => walk(element, path),
        };
    }
    let Some(r) = env.resource else {
        return Found::One(None);
    };
    match lower.as_str() {
        "type" | "name" | "location" | "id" | "kind" | "tags" => {
            return Found::One(get_ci(r, &lower).cloned());
        }
        "fullname" => return Found::One(full_name(r).map(Value::String)),
        _ => {}
    }
    if let Some(tag) = lower
        .strip_prefix("tags['")
        .and_then(|t| t.strip_suffix("']"))
        .or_else(|| lower.strip_prefix("tags."))
    {
        return Found::One(get_ci(&r["tags"], tag).cloned());
    }
    // `{resource type}/{path of properties}`.
    let ty = r["type"].as_str().unwrap_or_default().to_ascii_lowercase();
    match lower.strip_prefix(&format!("{ty}/")) {
        Some(rest) if !rest.contains('/') => {
            walk(&r["properties"], &alias[alias.len() - rest.len()..])
        }
        _ if alias.contains("[*]") => Found::Many(vec![]),
        _ => Found::One(None),
    }
}

/// A resource's full name (`machine/extension` for a child), read from its
/// id: the names after the provider's namespace.
fn full_name(r: &Value) -> Option<String> {
    let id = r["id"].as_str()?;
    let lower = id.to_ascii_lowercase();
    let at = lower.rfind("/providers/")? + "/providers/".len();
    let names: Vec<&str> = id[at..].split('/').skip(1).skip(1).step_by(2).collect();
    (!names.is_empty()).then(|| names.join("/"))
}

/// Follows a dotted path (`a.b[*].c`) from `v`.
fn walk(v: &Value, path: &str) -> Found {
    let mut current = vec![v.clone()];
    let mut many = false;
    for seg in path.split('.') {
        let (name, star) = match seg.strip_suffix("[*]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        let mut next = Vec::new();
        for c in &current {
            let Some(x) = get_ci(c, name) else { continue };
            if star {
                if let Some(items) = x.as_array() {
                    next.extend(items.iter().cloned());
                }
            } else {
                next.push(x.clone());
            }
        }
        many |= star;
        current = next;
    }
    if many {
        Found::Many(current)
    } else {
        Found::One(current.into_iter().next())
    }
}

// ---- template expressions ----

/// A JSON value with every string expression in it evaluated.
pub(crate) fn expand(v: &Value, env: Env) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => evaluate(s, env)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| expand(i, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), expand(v, env)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A string as ARM reads it: `[expression]` evaluated, `[[` escaping a
/// literal bracket, anything else itself.
pub(crate) fn evaluate(s: &str, env: Env) -> Result<Value, String> {
    match parse(s)? {
        None if s.starts_with("[[") => Ok(Value::String(s[1..].to_string())),
        None => Ok(Value::String(s.to_string())),
        Some(e) => e.eval(env),
    }
}

/// How deep calls may nest in one expression (ARM's own limit is not
/// published; the simulator refuses deeper ones instead of overflowing its stack).
pub(crate) const MAX_DEPTH: usize = 64;

/// A parsed template expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(Value),
    /// A function (lower case) and its arguments.
    Call(String, Vec<Expr>),
}

/// The expression a string holds (`None`: a literal, including `[[...`).
pub(crate) fn parse(s: &str) -> Result<Option<Expr>, String> {
    if s.starts_with("[[") {
        return Ok(None);
    }
    let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return Ok(None);
    };
    let mut p = Parser {
        s: inner.as_bytes(),
        i: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text in the expression {s}"));
    }
    Ok(Some(e))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.ws();
        match self.s.get(self.i) {
            None => Err("an expression ends too early".into()),
            Some(b'\'') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err("a string is not closed".into()),
                        Some(b'\'') if self.s.get(self.i + 1) == Some(&b'\'') => {
                            out.push(b'\'');
                            self.i += 2;
                        }
                        Some(b'\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(c) => {
                            out.push(*c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Expr::Lit(Value::String(
                    String::from_utf8_lossy(&out).into_owned(),
                )))
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = self.i;
                self.i += 1;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let n: i64 = std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or("a number is not valid")?;
                Ok(Expr::Lit(Value::from(n)))
            }
            Some(_) => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    self.i += 1;
                }
                let name = String::from_utf8_lossy(&self.s[start..self.i]).to_ascii_lowercase();
                self.ws();
                if name.is_empty() || self.s.get(self.i) != Some(&b'(') {
                    return Err(format!("'{name}' is not a function call"));
                }
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!(
                        "the expression nests calls deeper than {MAX_DEPTH}"
                    ));
                }
                let mut args = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b')') {
                        self.i += 1;
                        break;
                    }
                    args.push(self.expr()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b')') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(format!("{name}( is not closed")),
                    }
                }
                self.depth -= 1;
                Ok(Expr::Call(name, args))
            }
        }
    }
}

/// The functions the simulator evaluates in a policy rule.
pub(crate) const POLICY_FUNCTIONS: &[&str] = &[
    "parameters",
    "field",
    "concat",
    "string",
    "tolower",
    "toupper",
];

impl Expr {
    /// Every call in it, depth first, with its arguments.
    pub fn calls<'e>(&'e self, out: &mut Vec<(&'e str, &'e [Expr])>) {
        if let Expr::Call(name, args) = self {
            out.push((name, args));
            for a in args {
                a.calls(out);
            }
        }
    }

    pub fn eval(&self, env: Env) -> Result<Value, String> {
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Call(name, args) => {
                let args = args
                    .iter()
                    .map(|a| a.eval(env))
                    .collect::<Result<Vec<_>, _>>()?;
                call(env, name, args)
            }
        }
    }
}

fn call(env: Env, name: &str, args: Vec<Value>) -> Result<Value, String> {
    let one = || -> Result<&Value, String> {
        match args.as_slice() {
            [a] => Ok(a),
            _ => Err(format!("{name}() takes one argument")),
        }
    };
    let texts = || -> Result<Vec<String>, String> {
        args.iter()
            .map(|a| text(a).ok_or_else(|| format!("{name}() takes strings")))
            .collect()
    };
    match name {
        "parameters" => {
            let key = one()?.as_str().ok_or("parameters() takes a name")?;
            env.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("the parameter '{key}' has no value"))
        }
        "field" if env.template.is_none() => {
            let alias = one()?.as_str().ok_or("field() takes an alias")?;
            // In an existenceCondition, field() reads the resource the
            // `if` matched (learn.microsoft.com/azure/governance/policy/concepts/effect-deploy-if-not-exists).
            let env = match env.outer {
                Some(outer) => Env {
                    resource: Some(outer),
                    outer: None,
                    counted: None,
                    ..env
                },
                None => env,
            };
            Ok(match field_value(alias, env) {
                Found::One(v) => v.unwrap_or(Value::Null),
                Found::Many(v) => Value::Array(v),
            })
        }
        "string" => {
            let v = one()?;
            Ok(Value::String(text(v).unwrap_or_else(|| v.to_string())))
        }
        "tolower" => Ok(Value::String(
            text(one()?).unwrap_or_default().to_lowercase(),
        )),
        "toupper" => Ok(Value::String(
            text(one()?).unwrap_or_default().to_uppercase(),
        )),
        "concat" => {
            if args.iter().all(Value::is_array) {
                return Ok(Value::Array(
                    args.iter()
                        .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                        .collect(),
                ));
            }
            Ok(Value::String(texts()?.concat()))
        }
        // ARM's resourceId([subscriptionId], [resourceGroupName], type, name1, ...)
        // (learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource#resourceid):
        // the type has one segment after the namespace per name.
        "resourceid" if env.template.is_some() => {
            let (sub, rg) = env.template.unwrap_or_default();
            let a = texts()?;
            let at = a
                .iter()
                .position(|t| t.contains('/') && !t.starts_with('/'))
                .ok_or("resourceId() needs a resource type")?;
            let (sub, rg) = match &a[..at] {
                [] => (sub.to_string(), rg.to_string()),
                [rg] => (sub.to_string(), rg.clone()),
                [sub, rg] => (sub.clone(), rg.clone()),
                _ => {
                    return Err(
                        "resourceId() takes at most a subscription and a group before the type"
                            .into(),
                    );
                }
            };
            Ok(Value::String(format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/{}",
                typed_names(&a[at], &a[at + 1..])?
            )))
        }
        // extensionResourceId(resourceId, type, name1, ...).
        "extensionresourceid" if env.template.is_some() => {
            let a = texts()?;
            let [parent, ty, names @ ..] = a.as_slice() else {
                return Err("extensionResourceId() takes a resource id, a type and names".into());
            };
            Ok(Value::String(format!(
                "{parent}/providers/{}",
                typed_names(ty, names)?
            )))
        }
        other => Err(format!("the simulator does not evaluate {other}() here")),
    }
}

/// `Ns/t1/t2` with names `[n1, n2]`: `Ns/t1/n1/t2/n2`.
fn typed_names(ty: &str, names: &[String]) -> Result<String, String> {
    let mut parts = ty.split('/');
    let ns = parts.next().unwrap_or_default();
    let types: Vec<&str> = parts.collect();
    if types.is_empty() || types.len() != names.len() {
        return Err(format!(
            "the type '{ty}' needs {} names, not {}",
            types.len(),
            names.len()
        ));
    }
    let mut out = ns.to_string();
    for (t, n) in types.iter().zip(names) {
        out.push_str(&format!("/{t}/{n}"));
    }
    Ok(out)
}

// ---- checks at PUT ----

/// Why a definition is refused when written, with Azure's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// `InvalidPolicyAlias` (verified: Azure/azure-policy#363).
    Alias(String),
    /// `InvalidPolicyParameters` (verified for "a function or parameter
    /// could not be validated": Azure/azure-monitor-baseline-alerts#918).
    Parameters(String),
    /// `InvalidPolicyRule` (unverified: the code the simulator gives a rule
    /// it cannot read; Azure's own code for each case is not known here).
    Rule(String),
}

impl Invalid {
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Alias(_) => "InvalidPolicyAlias",
            Invalid::Parameters(_) => "InvalidPolicyParameters",
            Invalid::Rule(_) => "InvalidPolicyRule",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Invalid::Alias(m) | Invalid::Parameters(m) | Invalid::Rule(m) => m,
        }
    }
}

/// The aliases the simulator knows exist (besides `type`, `name`,
/// `location`, `id`, `kind`, `fullName`, `tags` and `tags[...]`): the
/// published alias list of Microsoft.HybridCompute, as
/// maciejporebski/azure-policy-aliases records it
/// (aliases/Microsoft.HybridCompute/machines.md at 400f60ef5c7d1bfb74c3981d9e59a5b11e0e7ba9,
/// machines-extensions.md at 3fa1e515b164b7b7e4ef912fbf864a93e51538e9), the
/// part a machine's ARM shape here has. Microsoft.HybridConnectivity has
/// no aliases in that list, so none is known.
pub(crate) const ALIASES: &[&str] = &[
    "Microsoft.HybridCompute/machines/osName",
    "Microsoft.HybridCompute/machines/osType",
    "Microsoft.HybridCompute/machines/osSku",
    "Microsoft.HybridCompute/machines/osVersion",
    "Microsoft.HybridCompute/machines/status",
    "Microsoft.HybridCompute/machines/provisioningState",
    "Microsoft.HybridCompute/machines/agentVersion",
    "Microsoft.HybridCompute/machines/displayName",
    "Microsoft.HybridCompute/machines/vmId",
    "Microsoft.HybridCompute/machines/agentConfiguration",
    "Microsoft.HybridCompute/machines/agentConfiguration.proxyUrl",
    "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts",
    "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*]",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].publisher",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].type",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*]",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*].publisher",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*].type",
    "Microsoft.HybridCompute/machines/agentConfiguration.proxyBypass",
    "Microsoft.HybridCompute/machines/agentConfiguration.proxyBypass[*]",
    "Microsoft.HybridCompute/machines/agentConfiguration.extensionsEnabled",
    "Microsoft.HybridCompute/machines/agentConfiguration.guestConfigurationEnabled",
    "Microsoft.HybridCompute/machines/agentConfiguration.configMode",
    "Microsoft.HybridCompute/machines/extensions/forceUpdateTag",
    "Microsoft.HybridCompute/machines/extensions/publisher",
    "Microsoft.HybridCompute/machines/extensions/type",
    "Microsoft.HybridCompute/machines/extensions/typeHandlerVersion",
    "Microsoft.HybridCompute/machines/extensions/autoUpgradeMinorVersion",
    "Microsoft.HybridCompute/machines/extensions/settings",
    "Microsoft.HybridCompute/machines/extensions/provisioningState",
    "Microsoft.HybridCompute/machines/extensions/enableAutomaticUpgrade",
];

/// Operators Azure Policy has that the simulator does not evaluate: refused
/// with a message that says so (Azure would accept them).
const UNSIMULATED_OPERATORS: &[&str] = &[
    "match",
    "matchInsensitively",
    "notMatch",
    "notMatchInsensitively",
];

pub(crate) fn known_alias(a: &str) -> bool {
    let l = a.to_ascii_lowercase();
    ["type", "name", "location", "id", "kind", "fullname", "tags"].contains(&l.as_str())
        || l.starts_with("tags[") && l.ends_with(']')
        || l.starts_with("tags.")
        || ALIASES.iter().any(|k| k.eq_ignore_ascii_case(a))
}

/// A definition's `parameters` and `policyRule` checked as Azure checks
/// them when the definition is written.
pub(crate) fn check_definition(p: &Value) -> Result<(), Invalid> {
    let declared: Vec<String> = p["parameters"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let rule = &p["policyRule"];
    check_condition(&rule["if"], &declared)?;
    let then = &rule["then"];
    match &then["effect"] {
        Value::String(e) if e.starts_with('[') && !e.starts_with("[[") => check_text(e, &declared)?,
        Value::String(e) if Effect::parse(e).is_some() => {}
        other => {
            return Err(Invalid::Rule(format!(
                "The effect {other} is not one the simulator knows."
            )));
        }
    }
    let details = &then["details"];
    if let Some(name) = details.get("name") {
        let name = name
            .as_str()
            .ok_or_else(|| Invalid::Rule("details.name must be a string.".into()))?;
        check_text(name, &declared)?;
    }
    if let Some(c) = details.get("existenceCondition") {
        check_condition(c, &declared)?;
    }
    // The deployment's parameter values are policy expressions (the
    // template itself is ARM's, evaluated when it is deployed).
    for (_, v) in details["deployment"]["properties"]["parameters"]
        .as_object()
        .into_iter()
        .flatten()
    {
        check_value(&v["value"], &declared)?;
    }
    Ok(())
}

/// Every string of a JSON value checked as an expression.
pub(crate) fn check_value(v: &Value, declared: &[String]) -> Result<(), Invalid> {
    match v {
        Value::String(s) => check_text(s, declared),
        Value::Array(items) => items.iter().try_for_each(|i| check_value(i, declared)),
        Value::Object(o) => o.values().try_for_each(|i| check_value(i, declared)),
        _ => Ok(()),
    }
}

/// A string: when it is an expression, its syntax, its functions, the
/// parameters it reads (declared) and the aliases `field()` names (known).
pub(crate) fn check_text(s: &str, declared: &[String]) -> Result<(), Invalid> {
    let Some(e) = parse(s)
        .map_err(|why| Invalid::Rule(format!("The expression '{s}' is not valid: {why}.")))?
    else {
        return Ok(());
    };
    let mut calls = Vec::new();
    e.calls(&mut calls);
    for (name, args) in calls {
        if !POLICY_FUNCTIONS.contains(&name) {
            return Err(Invalid::Rule(format!(
                "The function '{name}' in '{s}' is not one the simulator evaluates in a policy rule."
            )));
        }
        match (name, args) {
            ("parameters", [Expr::Lit(Value::String(p))])
                if !declared.iter().any(|d| d.eq_ignore_ascii_case(p)) =>
            {
                return Err(Invalid::Parameters(format!(
                    "A function or parameter in the policy could not be validated: the parameter '{p}' is not defined in the policy definition."
                )));
            }
            ("field", [Expr::Lit(Value::String(a))]) if !known_alias(a) => {
                return Err(unknown_alias(a));
            }
            _ => {}
        }
    }
    Ok(())
}

fn unknown_alias(a: &str) -> Invalid {
    Invalid::Alias(format!(
        "The policy definition rule is invalid. The 'field' property '{a}' of the policy rule doesn't exist as an alias."
    ))
}

fn check_condition(c: &Value, declared: &[String]) -> Result<(), Invalid> {
    let rule = |m: String| Invalid::Rule(m);
    let o = c
        .as_object()
        .ok_or_else(|| rule(format!("The condition {c} must be an object.")))?;
    for logical in ["allOf", "anyOf"] {
        if let Some(v) = o.get(logical) {
            let items = v
                .as_array()
                .ok_or_else(|| rule(format!("{logical} takes an array.")))?;
            return items.iter().try_for_each(|c| check_condition(c, declared));
        }
    }
    if let Some(not) = o.get("not") {
        return check_condition(not, declared);
    }
    let mut subject = None;
    if let Some(count) = o.get("count") {
        let alias = count["field"]
            .as_str()
            .ok_or_else(|| rule("The simulator counts fields only.".into()))?;
        if !known_alias(alias) {
            return Err(unknown_alias(alias));
        }
        if let Some(w) = count.get("where") {
            check_condition(w, declared)?;
        }
        subject = Some("count");
    } else if let Some(field) = o.get("field") {
        let f = field
            .as_str()
            .ok_or_else(|| rule("field takes a string.".into()))?;
        if parse(f)
            .map_err(|why| rule(format!("The field '{f}' is not valid: {why}.")))?
            .is_some()
        {
            check_text(f, declared)?;
        } else if !known_alias(f) {
            return Err(unknown_alias(f));
        }
        subject = Some("field");
    } else if let Some(v) = o.get("value") {
        check_value(v, declared)?;
        subject = Some("value");
    }
    let subject =
        subject.ok_or_else(|| rule(format!("The condition {c} has no field, value or count.")))?;
    let ops: Vec<&String> = o.keys().filter(|k| *k != subject).collect();
    let [op] = ops.as_slice() else {
        return Err(rule(format!(
            "The condition {c} must have exactly one operator."
        )));
    };
    if UNSIMULATED_OPERATORS
        .iter()
        .any(|u| u.eq_ignore_ascii_case(op))
    {
        return Err(rule(format!(
            "arcfix-sim does not evaluate the operator '{op}' (Azure does)."
        )));
    }
    if !OPERATORS.contains(&op.as_str()) {
        return Err(rule(format!("The operator '{op}' is not valid.")));
    }
    let expected = &o[op.as_str()];
    if let ("like" | "notLike", Value::String(p)) = (op.as_str(), expected)
        && parse(p).ok().flatten().is_none()
        && p.matches('*').count() > 1
    {
        return Err(rule(format!(
            "The {op} pattern '{p}' has more than one wildcard '*'."
        )));
    }
    check_value(expected, declared)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{Env, Found, MAX_DEPTH, applicable, condition, evaluate, field_value, like_text};

    #[test]
    fn like_has_one_wildcard_that_may_match_slashes_and_nothing() {
        for (text, pattern) in [
            ("web-01", "web-*"),
            ("WEB-01", "web-*"),
            ("web-01", "*-01"),
            ("web-01", "w*1"),
            ("web-01", "web-01"),
            ("web", "web*"),
            ("ab", "a*b"),
            // A `*` crosses `/` (the RBAC matcher's rule for actions does not apply).
            (
                "Microsoft.HybridCompute/machines/extensions",
                "Microsoft.HybridCompute/*",
            ),
            ("a/b/c", "a/*/c"),
            ("a/b/x/c", "a/*/c"),
        ] {
            assert!(like_text(text, pattern).unwrap(), "{text} like {pattern}");
        }
        for (text, pattern) in [
            ("we", "web*"),
            ("a", "a*a"),
            ("db-01", "web-*"),
            ("web-01x", "web-01"),
        ] {
            assert!(!like_text(text, pattern).unwrap(), "{text} like {pattern}");
        }
        assert!(like_text("abc", "a*b*c").is_err());
        // Hostile input is linear, not exponential: answered at once.
        let long = "a".repeat(100_000);
        assert!(!like_text(&long, &format!("{}*b", "a".repeat(50_000))).unwrap());
        assert!(like_text(&long, "*a").unwrap());
    }

    #[test]
    fn deeply_nested_expressions_are_refused_not_a_stack_overflow() {
        let p = Map::new();
        let nest = |n: usize| format!("[{}'x'{}]", "concat(".repeat(n), ")".repeat(n));
        assert_eq!(
            evaluate(&nest(MAX_DEPTH), Env::params_only(&p)).unwrap(),
            json!("x")
        );
        for n in [MAX_DEPTH + 1, 1_000_000] {
            let e = evaluate(&nest(n), Env::params_only(&p)).unwrap_err();
            assert!(e.contains("deeper than 64"), "{e}");
        }
    }

    #[test]
    fn full_name_is_the_names_after_the_namespace() {
        let p = Map::new();
        let ext = json!({"id": "/subscriptions/S/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01/extensions/AADSSHLoginForLinux", "name": "AADSSHLoginForLinux"});
        assert_eq!(
            evaluate("[field('fullName')]", Env::on(&p, &ext)).unwrap(),
            json!("web-01/AADSSHLoginForLinux")
        );
        let endpoint = json!({"id": "/subscriptions/S/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01/providers/Microsoft.HybridConnectivity/endpoints/default"});
        assert_eq!(
            evaluate("[field('fullName')]", Env::on(&p, &endpoint)).unwrap(),
            json!("default")
        );
    }

    fn machine() -> Value {
        json!({
            "type": "Microsoft.HybridCompute/machines",
            "name": "web-01",
            "location": "eastus",
            "tags": {"env": "prod"},
            "properties": {
                "osName": "linux",
                "osType": "linux",
                "agentConfiguration": {
                    "incomingConnectionsPorts": ["443", "22"],
                    "extensionsEnabled": "true",
                    "extensionsAllowList": [{"publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux"}],
                    "extensionsBlockList": []
                }
            }
        })
    }

    fn check(c: Value, params: &Map<String, Value>) -> bool {
        let m = machine();
        condition(&c, Env::on(params, &m)).unwrap()
    }

    #[test]
    fn each_operator_compares_as_azure_policy_does() {
        let p = Map::new();
        let f = |op: &str, field: &str, v: Value| json!({"field": field, op: v});
        let yes = [
            f("equals", "type", json!("microsoft.hybridcompute/MACHINES")),
            f("notEquals", "name", json!("web-02")),
            f("in", "location", json!(["westus", "EastUS"])),
            f("notIn", "location", json!(["westus"])),
            f("like", "name", json!("web-*")),
            f("notLike", "name", json!("db-*")),
            f("contains", "name", json!("B-0")),
            f("notContains", "name", json!("db")),
            f("containsKey", "tags", json!("ENV")),
            f("notContainsKey", "tags", json!("owner")),
            f("exists", "tags.env", json!(true)),
            f("exists", "tags['owner']", json!("false")),
            f(
                "equals",
                "Microsoft.HybridCompute/machines/osName",
                json!("Linux"),
            ),
            f(
                "equals",
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsEnabled",
                json!("true"),
            ),
            // `[*]` outside a count: every element must pass.
            f(
                "like",
                "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]",
                json!("*"),
            ),
            json!({"value": "[concat('a', 'b')]", "equals": "AB"}),
            json!({"not": {"field": "name", "equals": "db-01"}}),
            json!({"anyOf": [{"field": "name", "equals": "x"}, {"field": "name", "equals": "web-01"}]}),
            json!({"count": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]"}, "greater": 1}),
            json!({"count": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]",
                    "where": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]", "equals": "22"}},
                   "equals": 1}),
            json!({"value": 3, "lessOrEquals": 3}),
            json!({"value": 2, "less": 3}),
            json!({"value": 4, "greaterOrEquals": 3}),
        ];
        for c in yes {
            assert!(check(c.clone(), &p), "{c}");
        }
        let no = [
            f("equals", "name", json!("web-02")),
            f("in", "location", json!(["westus"])),
            f("like", "name", json!("db-*")),
            f("exists", "tags.owner", json!(true)),
            f(
                "equals",
                "Microsoft.HybridCompute/machines/nothing",
                json!("x"),
            ),
            // An alias of another type is absent here.
            f(
                "equals",
                "Microsoft.HybridCompute/machines/extensions/type",
                json!("x"),
            ),
            f(
                "equals",
                "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]",
                json!("22"),
            ),
            json!({"allOf": [{"field": "name", "equals": "web-01"}, {"field": "name", "equals": "x"}]}),
            json!({"value": 2, "greater": 3}),
        ];
        for c in no {
            assert!(!check(c.clone(), &p), "{c}");
        }
        assert!(
            condition(
                &json!({"field": "name", "matches": "x"}),
                Env::params_only(&p)
            )
            .is_err()
        );
    }

    #[test]
    fn a_policy_applies_by_type_name_and_kind_only() {
        let p = Map::new();
        let rule = json!({"allOf": [
            {"field": "type", "equals": "Microsoft.HybridCompute/machines"},
            {"field": "Microsoft.HybridCompute/machines/osName", "equals": "windows"}
        ]});
        let m = machine();
        let env = |r| Env::on(&p, r);
        // A Linux machine: the policy applies, and its rule is false (compliant).
        assert!(applicable(&rule, env(&m)).unwrap());
        assert!(!condition(&rule, env(&m)).unwrap());
        // A VMware VM: the policy does not apply (no state at all).
        let mut vm = machine();
        vm["type"] = json!("Microsoft.ConnectedVMwarevSphere/virtualMachines");
        assert!(!applicable(&rule, env(&vm)).unwrap());
    }

    #[test]
    fn expressions_read_parameters_fields_and_literals() {
        let mut p = Map::new();
        p.insert("port".into(), json!(22));
        p.insert("machineName".into(), json!("web-01"));
        let m = machine();
        let env = Env::on(&p, &m);
        assert_eq!(evaluate("[parameters('port')]", env).unwrap(), json!(22));
        assert_eq!(
            evaluate("[string(parameters('port'))]", env).unwrap(),
            json!("22")
        );
        assert_eq!(evaluate("[field('name')]", env).unwrap(), json!("web-01"));
        assert_eq!(
            evaluate("[field('location')]", env).unwrap(),
            json!("eastus")
        );
        assert_eq!(
            evaluate(
                "[concat('Microsoft.HybridCompute/machines/', parameters('machineName'))]",
                env
            )
            .unwrap(),
            json!("Microsoft.HybridCompute/machines/web-01")
        );
        assert_eq!(
            evaluate(
                "[concat(parameters('machineName'), '/AADSSHLoginForLinux')]",
                env
            )
            .unwrap(),
            json!("web-01/AADSSHLoginForLinux")
        );
        assert_eq!(evaluate("plain", env).unwrap(), json!("plain"));
        assert_eq!(evaluate("[[literal]", env).unwrap(), json!("[literal]"));
        assert_eq!(evaluate("['it''s']", env).unwrap(), json!("it's"));
        assert!(evaluate("[parameters('nope')]", env).is_err());
        assert!(evaluate("[resourceGroup()]", env).is_err());
        assert_eq!(
            field_value(
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].type",
                env
            ),
            Found::Many(vec![json!("AADSSHLoginForLinux")])
        );
    }

    /// arcfix's own rules (tests/data/policy/arcfix-initiative.json), each
    /// `if` on a machine that it must and must not match.
    #[test]
    fn arcfix_audit_rules_match_the_machines_they_name() {
        let doc: Value = serde_json::from_str(include_str!(
            "../../tests/data/policy/arcfix-initiative.json"
        ))
        .unwrap();
        let rule = |name: &str| {
            doc["definitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["name"] == name)
                .unwrap()["properties"]["policyRule"]["if"]
                .clone()
        };
        let mut p = Map::new();
        p.insert("port".into(), json!(22));
        let on = |m: &Value, c: &Value| condition(c, Env::on(&p, m)).unwrap();
        let ports = rule("arcfix-agent-ssh-port");
        let entra = rule("arcfix-agent-entra-extension");
        let ok = machine();
        assert!(!on(&ok, &ports));
        assert!(!on(&ok, &entra));
        let mut no_22 = machine();
        no_22["properties"]["agentConfiguration"]["incomingConnectionsPorts"] = json!(["443"]);
        assert!(on(&no_22, &ports));
        let mut any_port = machine();
        any_port["properties"]["agentConfiguration"]["incomingConnectionsPorts"] = json!([]);
        assert!(!on(&any_port, &ports));
        let mut disabled = machine();
        disabled["properties"]["agentConfiguration"]["extensionsEnabled"] = json!("false");
        assert!(on(&disabled, &entra));
        let mut other_allowed = machine();
        other_allowed["properties"]["agentConfiguration"]["extensionsAllowList"] =
            json!([{"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent"}]);
        assert!(on(&other_allowed, &entra));
        let mut blocked = machine();
        blocked["properties"]["agentConfiguration"]["extensionsBlockList"] = json!([{"publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux"}]);
        assert!(on(&blocked, &entra));
        let mut windows = disabled.clone();
        windows["properties"]["osName"] = json!("windows");
        assert!(!on(&windows, &entra));
        for name in ["arcfix-ssh-endpoint", "arcfix-ssh-service-configuration"] {
            assert!(on(&windows, &rule(name)), "{name}");
        }
        assert!(on(&ok, &rule("arcfix-entra-ssh-login-extension")));
        assert!(!on(&windows, &rule("arcfix-entra-ssh-login-extension")));
    }
}
