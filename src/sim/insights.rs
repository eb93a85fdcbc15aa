//! Microsoft.PolicyInsights in the simulated ARM: the latest policy states
//! (`queryResults` and `summarize`, 2019-10-01) computed from the world by
//! the simulator's own evaluator (`sim::evaluator`), and remediations
//! (2021-10-01) that deploy a `DeployIfNotExists` definition's template into
//! the world as the assignment's identity.
//!
//! A remediation's lifecycle is counted in reads, never in time: the PUT
//! answers `Accepted`; the first read (GET, or a list that holds it) moves it
//! to `Evaluating` and fixes the machines it will deploy to; the second read
//! runs every deployment and answers `Succeeded` or `Failed`. A deployment's
//! template is deployed in `dependsOn` order; what the simulator does not
//! deploy (variables, outputs, functions, condition, copy, nested
//! resources), a `dependsOn` naming no resource of the template and a
//! parameter of the wrong type or not declared are `InvalidTemplate`.
//!
//! States exist for the scopes an assignment has been evaluated at: its own
//! at once, or (scenario `policy_evaluation_pending`) only after
//! `policyStates/latest/triggerEvaluation` (202, then its `Location`
//! answers 200 when the scan is done: every policy of the assignments there)
//! or a remediation that re-evaluates compliance (the policy it remediates,
//! at its scope). A policy that cannot be evaluated makes the query answer 500.

use serde_json::{Map, Value, json};

use crate::sim::arm::{Caller, Ctx, Incoming, canonical_scope, find_rg, method_not_allowed};
use crate::sim::authz::{covers, permissions_at};
use crate::sim::evaluator::{self, Compliance, Effect, Env, Policy, State};
use crate::sim::policy::{Evaluated, Kind};
use crate::sim::rbac;
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::route::Route;
use crate::sim::world::{MachineAt, World, new_guid, now};

pub(crate) const NS: &str = "Microsoft.PolicyInsights";
pub(crate) const STATES_VERSIONS: &[&str] = &["2019-10-01"];
pub(crate) const REMEDIATION_VERSIONS: &[&str] = &["2021-10-01"];

const QUERY_READ: &str = "Microsoft.PolicyInsights/policyStates/queryResults/read";
const SUMMARIZE_READ: &str = "Microsoft.PolicyInsights/policyStates/summarize/read";
const REMEDIATION: &str = "Microsoft.PolicyInsights/remediations";
/// The operation a triggerEvaluation needs (unverified: the name follows
/// the pattern of the provider's other operations; Owner and Contributor
/// have it through `*`, Reader does not).
const TRIGGER: &str = "Microsoft.PolicyInsights/policyStates/triggerEvaluation/action";

/// Remediations' bounds, as Azure Policy's remediation page states them.
const RESOURCE_COUNT: (i64, i64, i64) = (1, 50_000, 500);
const PARALLEL: (i64, i64) = (1, 30);

pub(crate) fn handle(world: &mut World, route: &Route, ctx: &Ctx) -> ArmResult {
    match route {
        Route::PolicyStates {
            scope,
            resource,
            summarize,
        } => {
            if ctx.method() != "POST" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = known_scope(world, scope)?;
            let latest = resource.eq_ignore_ascii_case("latest");
            if !(latest || (!summarize && resource.eq_ignore_ascii_case("default"))) {
                return Err(ArmError::bad_request(
                    "InvalidPolicyStatesResource",
                    format!(
                        "The policy states resource '{resource}' is not valid here; use 'latest'."
                    ),
                ));
            }
            if *summarize {
                ctx.require(world, SUMMARIZE_READ, &scope)?;
                summarize_states(world, ctx, &scope)
            } else {
                ctx.require(world, QUERY_READ, &scope)?;
                query_results(world, ctx, &scope)
            }
        }
        Route::Remediations { scope } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = known_scope(world, scope)?;
            ctx.require(world, &format!("{REMEDIATION}/read"), &scope)?;
            list_remediations(world, ctx, &scope)
        }
        Route::Remediation { scope, name } => {
            let scope = known_scope(world, scope)?;
            remediation(world, ctx, &scope, name)
        }
        Route::RemediationDeployments { scope, name } => {
            if ctx.method() != "POST" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = known_scope(world, scope)?;
            ctx.require(
                world,
                &format!("{REMEDIATION}/listDeployments/read"),
                &scope,
            )?;
            let i = find(world, &scope, name).ok_or_else(|| remediation_not_found(name))?;
            advance(world, i);
            let limit = top(ctx)?.unwrap_or(usize::MAX);
            let items: Vec<Value> = world.remediations[i]
                .deployments
                .iter()
                .take(limit)
                .map(Deployment::to_json)
                .collect();
            Ok(Reply::ok(json!({ "value": items })))
        }
        Route::PolicyEvaluationTrigger { scope } => {
            if ctx.method() != "POST" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = known_scope(world, scope)?;
            ctx.require(world, TRIGGER, &scope)?;
            // 202 with a Location to poll (policyStates.json 2019-10-01:
            // x-ms-long-running-operation, final-state-via location). The
            // Location's path (asyncOperationResults) is what Azure answers
            // in the wild; the spec does not name it.
            let id = new_guid();
            world.policy_scans.push((id.clone(), scope.clone()));
            Ok(Reply::empty(202).header(
                "Location",
                ctx.url(
                    &format!("{scope}/providers/{NS}/asyncOperationResults/{id}"),
                    STATES_VERSIONS[0],
                ),
            ))
        }
        Route::PolicyEvaluationResult { scope, id } => {
            if ctx.method() != "GET" {
                return Err(method_not_allowed(ctx.method()));
            }
            let scope = known_scope(world, scope)?;
            ctx.require(world, TRIGGER, &scope)?;
            let i = world
                .policy_scans
                .iter()
                .position(|(i, s)| i.eq_ignore_ascii_case(id) && s.eq_ignore_ascii_case(&scope))
                .ok_or_else(|| {
                    ArmError::new(
                        404,
                        "AsyncOperationNotFound",
                        format!("The operation '{id}' could not be found."),
                    )
                })?;
            // The scan is done on its first poll: every assignment that
            // covers or lies within the scope is evaluated there.
            let scope = world.policy_scans[i].1.clone();
            let scan = Evaluated {
                scope: scope.clone(),
                reference: None,
            };
            for s in &mut world.policy.items {
                if s.kind == Kind::Assignment
                    && (covers(&s.scope, &scope) || covers(&scope, &s.scope))
                    && !s.evaluated.contains(&scan)
                {
                    s.evaluated.push(scan.clone());
                }
            }
            Ok(Reply::empty(200))
        }
        _ => unreachable!("routed by the front door"),
    }
}

/// A subscription or a resource group that exists, as the world spells it.
fn known_scope(world: &World, scope: &str) -> Result<String, ArmError> {
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
        Route::ResourceGroup { sub, rg } => {
            find_rg(world, &sub, &rg)?;
        }
        _ => {
            return Err(ArmError::bad_request(
                "InvalidScope",
                format!(
                    "arcfix-sim serves Microsoft.PolicyInsights at subscriptions and resource groups, not at '{scope}'."
                ),
            ));
        }
    }
    Ok(canonical_scope(world, scope))
}

// ---- $filter ----

/// A field of a policy state a filter may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    PolicyAssignmentId,
    PolicyAssignmentName,
    PolicyDefinitionId,
    PolicyDefinitionReferenceId,
    PolicySetDefinitionId,
    PolicyDefinitionAction,
    ComplianceState,
    IsCompliant,
    ResourceType,
    ResourceId,
    ResourceGroup,
    ProvisioningState,
}

impl Column {
    const ALL: [(Column, &'static str); 12] = [
        (Column::PolicyAssignmentId, "policyAssignmentId"),
        (Column::PolicyAssignmentName, "policyAssignmentName"),
        (Column::PolicyDefinitionId, "policyDefinitionId"),
        (
            Column::PolicyDefinitionReferenceId,
            "policyDefinitionReferenceId",
        ),
        (Column::PolicySetDefinitionId, "policySetDefinitionId"),
        (Column::PolicyDefinitionAction, "policyDefinitionAction"),
        (Column::ComplianceState, "complianceState"),
        (Column::IsCompliant, "isCompliant"),
        (Column::ResourceType, "resourceType"),
        (Column::ResourceId, "resourceId"),
        (Column::ResourceGroup, "resourceGroup"),
        (Column::ProvisioningState, "provisioningState"),
    ];
}

/// `column eq 'value'` clauses joined by `and`: all must hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Filter(pub Vec<(Column, String)>);

impl Filter {
    /// Whether the row whose column values `get` gives passes (values compared ignoring case).
    fn passes(&self, get: impl Fn(Column) -> String) -> bool {
        self.0.iter().all(|(c, v)| get(*c).eq_ignore_ascii_case(v))
    }
}

fn bad_filter(text: &str, why: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidFilterExpression",
        format!("The $filter '{text}' is not supported by arcfix-sim: {why}."),
    )
}

/// Parses a `$filter`, taking only the columns in `allowed`.
pub(crate) fn parse_filter(text: &str, allowed: &[Column]) -> Result<Filter, ArmError> {
    let mut clauses = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad_filter(text, "a clause is 'field eq value'"))?;
        let column = Column::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(c, _)| *c)
            .filter(|c| allowed.contains(c))
            .ok_or_else(|| {
                bad_filter(text, &format!("the field '{name}' cannot be filtered on"))
            })?;
        let after = after.trim_start();
        let after = after
            .get(..3)
            .filter(|op| op.eq_ignore_ascii_case("eq "))
            .map(|_| after[3..].trim_start())
            .ok_or_else(|| bad_filter(text, "only 'eq' is supported"))?;
        let (value, tail) = if let Some(quoted) = after.strip_prefix('\'') {
            // A quote inside the value is doubled.
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                        value.push('\'');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or_else(|| bad_filter(text, "a quote is not closed"))?;
            (value, &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let word = &after[..end];
            if !(word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false")) {
                return Err(bad_filter(text, "values are quoted strings, true or false"));
            }
            (word.to_ascii_lowercase(), &after[end..])
        };
        clauses.push((column, value));
        let tail = tail.trim_start();
        rest = match tail.get(..4) {
            _ if tail.is_empty() => "",
            Some(and) if and.eq_ignore_ascii_case("and ") => tail[4..].trim_start(),
            _ => return Err(bad_filter(text, "clauses are joined by 'and'")),
        };
    }
    Ok(Filter(clauses))
}

// ---- policy states ----

const STATE_COLUMNS: &[Column] = &[
    Column::PolicyAssignmentId,
    Column::PolicyAssignmentName,
    Column::PolicyDefinitionId,
    Column::PolicyDefinitionReferenceId,
    Column::PolicySetDefinitionId,
    Column::PolicyDefinitionAction,
    Column::ComplianceState,
    Column::IsCompliant,
    Column::ResourceType,
    Column::ResourceId,
    Column::ResourceGroup,
];

fn column_of(world: &World, s: &State, c: Column) -> String {
    let p = &s.policy;
    match c {
        Column::PolicyAssignmentId => p.assignment_id.clone(),
        Column::PolicyAssignmentName => p.assignment_name.clone(),
        Column::PolicyDefinitionId => p.definition_id.clone(),
        Column::PolicyDefinitionReferenceId => p.reference_id.clone().unwrap_or_default(),
        Column::PolicySetDefinitionId => p.set_id.clone().unwrap_or_default(),
        Column::PolicyDefinitionAction => effect_name(p).to_ascii_lowercase(),
        Column::ComplianceState => s.compliance.as_str().to_string(),
        Column::IsCompliant => (s.compliance == Compliance::Compliant).to_string(),
        Column::ResourceType => world.machine(s.machine).kind.full(),
        Column::ResourceId => s.resource_id.clone(),
        Column::ResourceGroup => world.subs[s.machine.0].rgs[s.machine.1].name.clone(),
        Column::ProvisioningState => String::new(),
    }
}

fn effect_name(p: &Policy) -> &'static str {
    p.effect.map_or("", Effect::as_str)
}

/// The states of the machines in `scope` that pass the request's `$filter`.
fn filtered_states(world: &World, ctx: &Ctx, scope: &str) -> Result<Vec<State>, ArmError> {
    let filter = match ctx.q("$filter") {
        Some(f) => parse_filter(f, STATE_COLUMNS)?,
        None => Filter(vec![]),
    };
    Ok(evaluated(world)?
        .into_iter()
        .filter(|s| covers(scope, &s.resource_id))
        .filter(|s| filter.passes(|c| column_of(world, s, c)))
        .collect())
}

/// Every state of the world, or 500 when a policy cannot be evaluated: a
/// rule the simulator cannot read is never answered as compliant, nor as
/// "no state". (Azure's answer to such a rule is not known here; the
/// simulator's code `PolicyEvaluationFailed` is its own.)
fn evaluated(world: &World) -> Result<Vec<State>, ArmError> {
    evaluator::states(world)
        .map_err(|e| ArmError::new(500, "PolicyEvaluationFailed", e.to_string()))
}

fn top(ctx: &Ctx) -> Result<Option<usize>, ArmError> {
    ctx.q("$top")
        .map(|t| {
            t.trim().parse::<usize>().map_err(|_| {
                ArmError::bad_request(
                    "InvalidQueryParameterValue",
                    format!("The value '{t}' of '$top' is not a non-negative integer."),
                )
            })
        })
        .transpose()
}

fn metadata(ctx: &Ctx, scope: &str, what: &str) -> String {
    format!(
        "{}{scope}/providers/{NS}/policyStates/$metadata#{what}",
        ctx.inc.base
    )
}

/// One record of `queryResults`, in the official example's shape.
fn state_json(world: &World, ctx: &Ctx, scope: &str, s: &State) -> Value {
    let p = &s.policy;
    let m = world.machine(s.machine);
    let sub = &world.subs[s.machine.0];
    let name_of = |id: &Option<String>| {
        id.as_deref()
            .and_then(|i| i.rsplit('/').next())
            .map(String::from)
    };
    json!({
        "@odata.id": null,
        "@odata.context": metadata(ctx, scope, "latest/$entity"),
        "timestamp": now(),
        "resourceId": s.resource_id,
        "policyAssignmentId": p.assignment_id,
        "policyDefinitionId": p.definition_id,
        "effectiveParameters": "",
        "isCompliant": s.compliance == Compliance::Compliant,
        "subscriptionId": sub.id,
        "resourceType": m.kind.full(),
        "resourceLocation": m.location,
        "resourceGroup": sub.rgs[s.machine.1].name,
        "resourceTags": serde_json::to_string(&m.tags).unwrap_or_default(),
        "policyAssignmentName": p.assignment_name,
        "policyAssignmentOwner": "tbd",
        "policyAssignmentParameters": p.assignment_parameters.to_string(),
        "policyAssignmentScope": p.assignment_scope,
        "policyDefinitionName": p.definition_name,
        "policyDefinitionAction": effect_name(p).to_ascii_lowercase(),
        "policyDefinitionCategory": "tbd",
        "policySetDefinitionId": p.set_id.clone().unwrap_or_default(),
        "policySetDefinitionName": name_of(&p.set_id).unwrap_or_default(),
        "policySetDefinitionOwner": null,
        "policySetDefinitionCategory": null,
        "policySetDefinitionParameters": null,
        "managementGroupIds": "",
        "policyDefinitionReferenceId": p.reference_id.clone().unwrap_or_default(),
        "complianceState": s.compliance.as_str(),
        "policyDefinitionGroupNames": [],
    })
}

fn query_results(world: &World, ctx: &Ctx, scope: &str) -> ArmResult {
    let mut states = filtered_states(world, ctx, scope)?;
    if let Some(t) = top(ctx)? {
        states.truncate(t);
    }
    let start = match ctx.q("$skiptoken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{t}' is not valid."),
            )
        })?,
    };
    let end = start
        .saturating_add(world.page_size.max(1))
        .min(states.len());
    let page: Vec<Value> = states
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|s| state_json(world, ctx, scope, s))
        .collect();
    let mut body = json!({
        "@odata.context": metadata(ctx, scope, "latest"),
        "@odata.count": page.len(),
        "value": page,
    });
    if end < states.len() {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &ctx.query {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &end.to_string());
        body["@odata.nextLink"] = json!(format!("{}{}?{}", ctx.inc.base, ctx.inc.path, q.finish()));
    }
    Ok(Reply::ok(body))
}

/// `resourceDetails`, `policyDetails` and the non-compliant counts of a set of states.
fn summary(ctx: &Ctx, scope: &str, states: &[&State], filter: &str, policies: bool) -> Value {
    let count = |items: Vec<(String, bool)>| {
        // One verdict per key: non-compliant if any of its states is.
        let mut seen: Vec<(String, bool)> = Vec::new();
        for (k, bad) in items {
            match seen.iter_mut().find(|(s, _)| s.eq_ignore_ascii_case(&k)) {
                Some(e) => e.1 |= bad,
                None => seen.push((k, bad)),
            }
        }
        let bad = seen.iter().filter(|(_, b)| *b).count();
        (seen.len() - bad, bad)
    };
    let details = |(good, bad): (usize, usize)| {
        let mut out = Vec::new();
        if good > 0 {
            out.push(json!({"complianceState": "compliant", "count": good}));
        }
        if bad > 0 {
            out.push(json!({"complianceState": "noncompliant", "count": bad}));
        }
        out
    };
    let bad = |s: &State| s.compliance == Compliance::NonCompliant;
    let resources = count(
        states
            .iter()
            .map(|s| (s.resource_id.clone(), bad(s)))
            .collect(),
    );
    let pols = count(
        states
            .iter()
            .map(|s| {
                let p = &s.policy;
                (
                    format!(
                        "{}|{}",
                        p.assignment_id,
                        p.reference_id.clone().unwrap_or_default()
                    ),
                    bad(s),
                )
            })
            .collect(),
    );
    let mut uri = url::form_urlencoded::Serializer::new(String::new());
    uri.append_pair("api-version", STATES_VERSIONS[0]);
    uri.append_pair("$filter", filter);
    let mut results = json!({
        "queryResultsUri": format!(
            "{}{scope}/providers/{NS}/policyStates/latest/queryResults?{}",
            ctx.inc.base,
            uri.finish()
        ),
        "nonCompliantResources": resources.1,
        "resourceDetails": details(resources),
        "policyDetails": details(pols),
        "policyGroupDetails": [],
    });
    if policies {
        results["nonCompliantPolicies"] = json!(pols.1);
    }
    results
}

fn summarize_states(world: &World, ctx: &Ctx, scope: &str) -> ArmResult {
    let states = filtered_states(world, ctx, scope)?;
    top(ctx)?;
    let all: Vec<&State> = states.iter().collect();
    let q = |s: &str| s.replace('\'', "''");
    let mut assignments: Vec<String> = Vec::new();
    for s in &states {
        if !assignments
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&s.policy.assignment_id))
        {
            assignments.push(s.policy.assignment_id.clone());
        }
    }
    let per_assignment: Vec<Value> = assignments
        .iter()
        .map(|a| {
            let mine: Vec<&State> = all
                .iter()
                .copied()
                .filter(|s| s.policy.assignment_id.eq_ignore_ascii_case(a))
                .collect();
            let first = &mine[0].policy;
            let a_filter = format!("IsCompliant eq false and PolicyAssignmentId eq '{}'", q(a));
            let mut refs: Vec<&Policy> = Vec::new();
            for s in &mine {
                if !refs.iter().any(|p| p.reference_id == s.policy.reference_id) {
                    refs.push(&s.policy);
                }
            }
            let definitions: Vec<Value> = refs
                .iter()
                .map(|p| {
                    let theirs: Vec<&State> = mine
                        .iter()
                        .copied()
                        .filter(|s| s.policy.reference_id == p.reference_id)
                        .collect();
                    let d_filter = format!(
                        "{a_filter} and PolicyDefinitionId eq '{}'",
                        q(&p.definition_id)
                    );
                    json!({
                        "policyDefinitionId": p.definition_id,
                        "policyDefinitionReferenceId": p.reference_id.clone().unwrap_or_default(),
                        "policyDefinitionGroupNames": [],
                        "effect": effect_name(p).to_ascii_lowercase(),
                        "results": summary(ctx, scope, &theirs, &d_filter, false),
                    })
                })
                .collect();
            json!({
                "policyAssignmentId": first.assignment_id,
                "policySetDefinitionId": first.set_id.clone().unwrap_or_default(),
                "results": summary(ctx, scope, &mine, &a_filter, true),
                "policyDefinitions": definitions,
                "policyGroups": [],
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "@odata.context": metadata(ctx, scope, "summary"),
        "@odata.count": 1,
        "value": [{
            "@odata.id": null,
            "@odata.context": metadata(ctx, scope, "summary/$entity"),
            "results": summary(ctx, scope, &all, "IsCompliant eq false", true),
            "policyAssignments": per_assignment,
        }],
    })))
}

// ---- remediations ----

/// Where a remediation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Accepted,
    Evaluating,
    Succeeded,
    Failed,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Accepted => "Accepted",
            Stage::Evaluating => "Evaluating",
            Stage::Succeeded => "Succeeded",
            Stage::Failed => "Failed",
        }
    }

    fn active(self) -> bool {
        matches!(self, Stage::Accepted | Stage::Evaluating)
    }
}

/// One deployment a remediation made: the machine, and how it ended.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub machine: String,
    pub location: String,
    /// The template deployment's id (in the machine's resource group).
    pub deployment_id: String,
    pub time: String,
    /// None: succeeded; else ARM's error code and message.
    pub error: Option<(String, String)>,
}

impl Deployment {
    /// A `RemediationDeployment` of `listDeployments`.
    fn to_json(&self) -> Value {
        let mut v = json!({
            "remediatedResourceId": self.machine,
            "deploymentId": self.deployment_id,
            "status": if self.error.is_some() { "Failed" } else { "Succeeded" },
            "resourceLocation": self.location,
            "createdOn": self.time,
            "lastUpdatedOn": self.time,
        });
        if let Some((code, message)) = &self.error {
            v["error"] = json!({"code": code, "message": message});
        }
        v
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Remediation {
    pub scope: String,
    pub name: String,
    /// The request's properties, with the defaults filled in.
    pub properties: Map<String, Value>,
    pub policy: Policy,
    pub stage: Stage,
    /// Machines found non-compliant when it was created (ExistingNonCompliant).
    pub known_non_compliant: Vec<String>,
    /// Machines it will deploy to, fixed when it starts evaluating.
    pub targets: Vec<MachineAt>,
    pub deployments: Vec<Deployment>,
    pub created_on: String,
    pub last_updated_on: String,
    pub created_by: (String, String),
    pub correlation_id: String,
    /// Why it failed before deploying anything (an evaluation error).
    pub failure: Option<String>,
    /// The simulator's base URL, for the deployments' requests.
    pub base: String,
}

impl Remediation {
    /// A property of the request (`Null` when absent).
    fn prop(&self, key: &str) -> &Value {
        self.properties.get(key).unwrap_or(&Value::Null)
    }

    fn id(&self) -> String {
        format!("{}/providers/{NS}/remediations/{}", self.scope, self.name)
    }

    fn to_json(&self) -> Value {
        let failed = self
            .deployments
            .iter()
            .filter(|d| d.error.is_some())
            .count();
        let mut p = self.properties.clone();
        p.insert("provisioningState".into(), json!(self.stage.as_str()));
        p.insert("createdOn".into(), json!(self.created_on));
        p.insert("lastUpdatedOn".into(), json!(self.last_updated_on));
        p.insert(
            "deploymentStatus".into(),
            json!({
                "totalDeployments": self.targets.len(),
                "successfulDeployments": self.deployments.len() - failed,
                "failedDeployments": failed,
            }),
        );
        let message: Vec<String> = self
            .failure
            .iter()
            .cloned()
            .chain(self.deployments.iter().filter_map(|d| {
                d.error
                    .as_ref()
                    .map(|(code, msg)| format!("{}: {code}: {msg}", d.machine))
            }))
            .collect();
        p.insert("statusMessage".into(), json!(message.join("\n")));
        p.insert("correlationId".into(), json!(self.correlation_id));
        let (who, who_type) = &self.created_by;
        json!({
            "properties": p,
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.PolicyInsights/remediations",
            "systemData": {
                "createdBy": who,
                "createdByType": who_type,
                "createdAt": self.created_on,
                "lastModifiedBy": who,
                "lastModifiedByType": who_type,
                "lastModifiedAt": self.last_updated_on,
            },
        })
    }
}

fn remediation_not_found(name: &str) -> ArmError {
    ArmError::new(
        404,
        "RemediationNotFound",
        format!("The remediation '{name}' could not be found."),
    )
}

fn find(world: &World, scope: &str, name: &str) -> Option<usize> {
    world
        .remediations
        .iter()
        .position(|r| r.scope.eq_ignore_ascii_case(scope) && r.name.eq_ignore_ascii_case(name))
}

fn remediation(world: &mut World, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    let action = |verb: &str| format!("{REMEDIATION}/{verb}");
    match ctx.method() {
        "GET" => {
            ctx.require(world, &action("read"), scope)?;
            let i = find(world, scope, name).ok_or_else(|| remediation_not_found(name))?;
            advance(world, i);
            Ok(Reply::ok(world.remediations[i].to_json()))
        }
        "PUT" => {
            ctx.require(world, &action("write"), scope)?;
            create(world, ctx, scope, name)
        }
        "DELETE" => {
            ctx.require(world, &action("delete"), scope)?;
            match find(world, scope, name) {
                Some(i) => Ok(Reply::ok(world.remediations.remove(i).to_json())),
                None => Ok(Reply::empty(204)),
            }
        }
        other => Err(method_not_allowed(other)),
    }
}

fn list_remediations(world: &mut World, ctx: &Ctx, scope: &str) -> ArmResult {
    let filter = match ctx.q("$filter") {
        Some(f) => parse_filter(
            f,
            &[
                Column::PolicyAssignmentId,
                Column::PolicyDefinitionReferenceId,
                Column::ProvisioningState,
            ],
        )?,
        None => Filter(vec![]),
    };
    let limit = top(ctx)?.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for i in 0..world.remediations.len() {
        if out.len() >= limit || !covers(scope, &world.remediations[i].scope) {
            continue;
        }
        advance(world, i);
        let r = &world.remediations[i];
        let v = r.to_json();
        let passes = filter.passes(|c| match c {
            Column::PolicyAssignmentId => r.policy.assignment_id.clone(),
            Column::PolicyDefinitionReferenceId => {
                r.policy.reference_id.clone().unwrap_or_default()
            }
            _ => r.stage.as_str().to_string(),
        });
        if passes {
            out.push(v);
        }
    }
    Ok(Reply::ok(json!({ "value": out })))
}

fn invalid(name: &str, why: impl std::fmt::Display) -> ArmError {
    ArmError::bad_request(
        "InvalidCreateRemediationRequest",
        format!("The request to create remediation '{name}' is invalid. {why}"),
    )
}

/// The body checked as ARM checks it, then stored `Accepted`.
fn create(world: &mut World, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    let existing = find(world, scope, name);
    if let Some(i) = existing
        && world.remediations[i].stage.active()
    {
        return Err(ArmError::bad_request(
            "InvalidUpdateRemediationRequest",
            format!(
                "The request to update remediation '{name}' is invalid. A remediation may not be changed or \
                 replaced while it is active."
            ),
        ));
    }
    let props = ctx
        .body()
        .and_then(|b| b.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'properties' is required.",
            )
        })?;
    let assignment_id = props
        .get("policyAssignmentId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(name, "A policy assignment ID must be provided."))?
        .to_string();
    let assignment = world
        .policy
        .by_id(&assignment_id)
        .filter(|s| s.kind == Kind::Assignment)
        .ok_or_else(|| {
            ArmError::new(
                404,
                "PolicyAssignmentNotFound",
                format!("The policy assignment '{assignment_id}' could not be found."),
            )
        })?
        .clone();
    if !covers(&assignment.scope, scope) {
        return Err(invalid(
            name,
            format!(
                "The remediation scope '{scope}' is not within the scope '{}' of the policy assignment '{}'.",
                assignment.scope,
                assignment_id.to_ascii_lowercase()
            ),
        ));
    }
    let policies = evaluator::resolve(world, &assignment);
    let is_set = world
        .policy
        .by_id(
            assignment.resource["properties"]["policyDefinitionId"]
                .as_str()
                .unwrap_or_default(),
        )
        .is_some_and(|s| s.kind == Kind::SetDefinition);
    let reference = props
        .get("policyDefinitionReferenceId")
        .and_then(Value::as_str);
    let policy = match (is_set, reference) {
        (true, None) => {
            return Err(invalid(
                name,
                format!(
                    "The policy assignment '{}' assigns a policy set definition. Remediations must specify a single \
                     policy definition reference ID within the policy set definition.",
                    assignment_id.to_ascii_lowercase()
                ),
            ));
        }
        (true, Some(r)) => policies
            .into_iter()
            .find(|p| p.reference_id.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(r)))
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("The policy definition reference ID '{r}' is not in the assigned policy set definition."),
                )
            })?,
        (false, Some(r)) => {
            return Err(invalid(
                name,
                format!(
                    "The policy assignment assigns a single policy definition; the policy definition reference ID \
                     '{r}' cannot be used."
                ),
            ));
        }
        (false, None) => policies
            .into_iter()
            .next()
            .ok_or_else(|| invalid(name, "The assigned policy definition could not be found."))?,
    };
    match policy.effect {
        Some(e) if e.remediable() => {}
        other => {
            return Err(invalid(
                name,
                format!(
                    "The policy definition '{}' has the effect '{}'. Only policies with a deployIfNotExists or modify \
                     effect can be remediated.",
                    policy.definition_id,
                    other.map_or("unknown", Effect::as_str)
                ),
            ));
        }
    }
    let mut props = props;
    match props.get("resourceDiscoveryMode") {
        None => {
            props.insert(
                "resourceDiscoveryMode".into(),
                json!("ExistingNonCompliant"),
            );
        }
        // ARM compares enum values ignoring case.
        Some(Value::String(m))
            if m.eq_ignore_ascii_case("ExistingNonCompliant")
                || m.eq_ignore_ascii_case("ReEvaluateCompliance") => {}
        Some(other) => {
            return Err(invalid(
                name,
                format!(
                    "The resource discovery mode {other} is not one of ExistingNonCompliant, ReEvaluateCompliance."
                ),
            ));
        }
    }
    let int = |key: &str, (lo, hi): (i64, i64)| -> Result<Option<i64>, ArmError> {
        match props.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| (lo..=hi).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!("The {key} {v} must be an integer from {lo} to {hi}."),
                    )
                }),
        }
    };
    let count =
        int("resourceCount", (RESOURCE_COUNT.0, RESOURCE_COUNT.1))?.unwrap_or(RESOURCE_COUNT.2);
    int("parallelDeployments", PARALLEL)?;
    if let Some(t) = props.get("failureThreshold") {
        let pct = t.get("percentage").and_then(Value::as_f64);
        if !pct.is_some_and(|p| (0.0..=1.0).contains(&p)) {
            return Err(invalid(
                name,
                format!("The failure threshold {t} must have a percentage from 0.0 to 1.0."),
            ));
        }
    }
    props.insert("resourceCount".into(), json!(count));
    props
        .entry("parallelDeployments")
        .or_insert(json!(PARALLEL.1.min(10)));
    let known_non_compliant = evaluated(world)?
        .into_iter()
        .filter(|s| s.compliance == Compliance::NonCompliant && same_policy(&s.policy, &policy))
        .map(|s| s.resource_id)
        .collect();
    let t = now();
    let r = Remediation {
        scope: scope.to_string(),
        name: existing.map_or_else(|| name.to_string(), |i| world.remediations[i].name.clone()),
        properties: props,
        policy,
        stage: Stage::Accepted,
        known_non_compliant,
        targets: vec![],
        deployments: vec![],
        created_on: t.clone(),
        last_updated_on: t,
        created_by: (ctx.caller.oid.clone(), ctx.caller.principal_type.clone()),
        correlation_id: new_guid(),
        failure: None,
        base: ctx.inc.base.clone(),
    };
    let body = r.to_json();
    Ok(match existing {
        Some(i) => {
            world.remediations[i] = r;
            Reply::ok(body)
        }
        None => {
            world.remediations.push(r);
            Reply::with(201, body)
        }
    })
}

fn same_policy(a: &Policy, b: &Policy) -> bool {
    a.assignment_id.eq_ignore_ascii_case(&b.assignment_id) && a.reference_id == b.reference_id
}

/// The policy of `reference` (all of them: None) of the assignment
/// `assignment_id` evaluated at `scope` from now on.
fn mark_evaluated(world: &mut World, assignment_id: &str, e: Evaluated) {
    for s in &mut world.policy.items {
        if s.kind == Kind::Assignment
            && s.resource["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(assignment_id))
            && !s.evaluated.contains(&e)
        {
            s.evaluated.push(e.clone());
        }
    }
}

/// One step of the remediation's life per read.
fn advance(world: &mut World, i: usize) {
    match world.remediations[i].stage {
        Stage::Accepted => {
            let r = &world.remediations[i];
            let locations: Option<Vec<String>> =
                r.prop("filters")["locations"].as_array().map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                });
            let limit = r.prop("resourceCount").as_u64().unwrap_or(500) as usize;
            let reevaluate = r
                .prop("resourceDiscoveryMode")
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("ReEvaluateCompliance"));
            let non_compliant: Vec<String> = if reevaluate {
                // Re-evaluating compliance evaluates the remediated policy
                // at the remediation's scope (its states exist from now on;
                // the assignment's other policies wait for a scan).
                let assignment = r.policy.assignment_id.clone();
                let e = Evaluated {
                    scope: r.scope.clone(),
                    reference: r.policy.reference_id.clone(),
                };
                mark_evaluated(world, &assignment, e);
                let r = &world.remediations[i];
                match evaluator::states(world) {
                    Ok(states) => states
                        .into_iter()
                        .filter(|s| {
                            s.compliance == Compliance::NonCompliant
                                && same_policy(&s.policy, &r.policy)
                        })
                        .map(|s| s.resource_id)
                        .collect(),
                    Err(e) => {
                        let r = &mut world.remediations[i];
                        r.failure = Some(e.to_string());
                        r.stage = Stage::Failed;
                        r.last_updated_on = now();
                        return;
                    }
                }
            } else {
                r.known_non_compliant.clone()
            };
            let r = &world.remediations[i];
            let targets: Vec<MachineAt> = world
                .all_machines()
                .into_iter()
                .filter(|at| {
                    let id = world.machine_id(*at);
                    covers(&r.scope, &id)
                        && non_compliant.iter().any(|n| n.eq_ignore_ascii_case(&id))
                        && locations.as_ref().is_none_or(|l| {
                            l.iter()
                                .any(|x| x.eq_ignore_ascii_case(&world.machine(*at).location))
                        })
                })
                .take(limit)
                .collect();
            let r = &mut world.remediations[i];
            r.targets = targets;
            r.stage = Stage::Evaluating;
            r.last_updated_on = now();
        }
        Stage::Evaluating => {
            let targets = world.remediations[i].targets.clone();
            let policy = world.remediations[i].policy.clone();
            let base = world.remediations[i].base.clone();
            let deployments: Vec<Deployment> = targets
                .into_iter()
                .map(|at| {
                    let sub = &world.subs[at.0];
                    let deployment_id = format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Resources/deployments/{}",
                        sub.id,
                        sub.rgs[at.1].name,
                        new_guid()
                    );
                    Deployment {
                        machine: world.machine_id(at),
                        location: world.machine(at).location.clone(),
                        deployment_id,
                        time: now(),
                        error: deploy(world, &policy, at, &base).err(),
                    }
                })
                .collect();
            let failed = deployments.iter().filter(|d| d.error.is_some()).count();
            let r = &mut world.remediations[i];
            let threshold = r.prop("failureThreshold")["percentage"].as_f64();
            let ratio = if deployments.is_empty() {
                0.0
            } else {
                failed as f64 / deployments.len() as f64
            };
            let over = match threshold {
                // Without a threshold any failed deployment fails it.
                None => failed > 0,
                Some(t) => ratio > t,
            };
            r.stage = if over {
                Stage::Failed
            } else {
                Stage::Succeeded
            };
            r.deployments = deployments;
            r.last_updated_on = now();
        }
        Stage::Succeeded | Stage::Failed => {}
    }
}

fn authorization_failed(oid: &str, action: &str, scope: &str) -> (String, String) {
    (
        "AuthorizationFailed".into(),
        format!(
            "The client '{oid}' with object id '{oid}' does not have authorization to perform action '{action}' over \
             scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

/// Deploys the definition's template for one machine as the assignment's
/// identity: every resource written through the simulator's own front door,
/// so that it is created exactly as a PUT of it would create it, with the
/// identity's rights checked.
fn deploy(
    world: &mut World,
    policy: &Policy,
    at: MachineAt,
    base: &str,
) -> Result<(), (String, String)> {
    let failed = |code: &str, message: String| (code.to_string(), message);
    let principal = policy.principal.clone().ok_or_else(|| {
        failed(
            "MissingPolicyAssignmentIdentity",
            format!(
                "The policy assignment '{}' has no managed identity to deploy with.",
                policy.assignment_id
            ),
        )
    })?;
    let rg = {
        let sub = &world.subs[at.0];
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            sub.id, sub.rgs[at.1].name
        )
    };
    let write = "Microsoft.Resources/deployments/write";
    if !rbac::allows(&permissions_at(world, &principal, &rg), write) {
        return Err(authorization_failed(&principal, write, &rg));
    }
    let machine = world.machine_json(at, false);
    let deployment = &policy.rule["then"]["details"]["deployment"]["properties"];
    let env = policy.env(&machine);
    let invalid_template = |e: String| failed("InvalidTemplate", e);
    let given: Map<String, Value> = deployment["parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| Ok((k.clone(), evaluator::expand(&v["value"], env)?)))
        .collect::<Result<_, String>>()
        .map_err(invalid_template)?;
    let template = &deployment["template"];
    let params = template_parameters(template, &given).map_err(invalid_template)?;
    let (sub_id, rg_name) = {
        let sub = &world.subs[at.0];
        (sub.id.clone(), sub.rgs[at.1].name.clone())
    };
    let tenv = Env::template(&params, &sub_id, &rg_name);
    // Each resource expanded, with its id, in the order dependsOn asks.
    let mut planned: Vec<(Value, String, Vec<String>)> = Vec::new();
    for resource in template["resources"].as_array().into_iter().flatten() {
        let o = resource
            .as_object()
            .ok_or_else(|| invalid_template("A template resource must be an object.".into()))?;
        if let Some(k) = o
            .keys()
            .find(|k| !RESOURCE_KEYS.iter().any(|x| x.eq_ignore_ascii_case(k)))
        {
            return Err(invalid_template(format!(
                "arcfix-sim does not deploy the template resource key '{k}' (condition, copy and nested resources are not simulated)."
            )));
        }
        let mut bare = o.clone();
        let depends = bare.remove("dependsOn").unwrap_or(Value::Array(vec![]));
        let r = evaluator::expand(&Value::Object(bare), tenv).map_err(invalid_template)?;
        let depends: Vec<String> = evaluator::expand(&depends, tenv)
            .map_err(invalid_template)?
            .as_array()
            .ok_or_else(|| invalid_template("dependsOn must be an array.".into()))?
            .iter()
            .map(|d| {
                d.as_str().map(String::from).ok_or_else(|| {
                    invalid_template(format!("The dependsOn entry {d} is not a string."))
                })
            })
            .collect::<Result<_, _>>()?;
        let path = resource_path(&r, &rg).map_err(invalid_template)?;
        planned.push((r, path, depends));
    }
    let order = deployment_order(&planned).map_err(invalid_template)?;
    for i in order {
        let (r, path, _) = &planned[i];
        let path = path.clone();
        let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        let mut body = Map::new();
        for key in ["location", "tags", "properties", "kind"] {
            if let Some(v) = r.get(key) {
                body.insert(key.into(), v.clone());
            }
        }
        let body = Value::Object(body);
        let inc = Incoming {
            method: "PUT".into(),
            path: path.clone(),
            query: format!("api-version={}", text("apiVersion")),
            authorization: None,
            raw_body: body.to_string().into_bytes(),
            body: Some(body),
            base: base.to_string(),
        };
        // ARM names an application by its app id.
        let display = world
            .principal(&principal)
            .and_then(|p| p.client_id.clone())
            .unwrap_or_else(|| principal.clone());
        let caller = Caller {
            oid: principal.clone(),
            display,
            principal_type: "ServicePrincipal".into(),
        };
        let reply = crate::sim::arm::handle_as(world, &inc, caller);
        if reply.status >= 300 {
            let e = reply.body.unwrap_or(Value::Null);
            let e = if e.get("error").is_some() {
                &e["error"]
            } else {
                &e
            };
            return Err(failed(
                e["code"].as_str().unwrap_or("DeploymentFailed"),
                e["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
        finish_extension(world, &path)?;
    }
    Ok(())
}

/// The keys of a template resource the simulator deploys.
const RESOURCE_KEYS: &[&str] = &[
    "type",
    "apiVersion",
    "name",
    "location",
    "tags",
    "properties",
    "kind",
    "scope",
    "dependsOn",
];

/// The keys of a template the simulator deploys (no variables, outputs,
/// functions: refused rather than ignored).
const TEMPLATE_KEYS: &[&str] = &[
    "$schema",
    "contentVersion",
    "parameters",
    "resources",
    "metadata",
];

/// The template's parameter values: each declared one given or defaulted,
/// of its declared type; a value for a parameter it does not declare is
/// refused, as ARM refuses it (InvalidTemplate).
fn template_parameters(
    template: &Value,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let t = template
        .as_object()
        .ok_or("The template must be an object.")?;
    if let Some(k) = t
        .keys()
        .find(|k| !TEMPLATE_KEYS.iter().any(|x| x.eq_ignore_ascii_case(k)))
    {
        return Err(format!("arcfix-sim does not deploy templates with '{k}'."));
    }
    let declared = t
        .get("parameters")
        .map(|p| {
            p.as_object()
                .cloned()
                .ok_or("The template's parameters must be an object.")
        })
        .transpose()?
        .unwrap_or_default();
    if let Some(k) = given
        .keys()
        .find(|k| !declared.keys().any(|d| d.eq_ignore_ascii_case(k)))
    {
        return Err(format!(
            "The template parameter '{k}' is not valid: the template does not declare it."
        ));
    }
    let mut params = Map::new();
    for (k, spec) in &declared {
        let v = given
            .iter()
            .find(|(g, _)| g.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
            .or_else(|| spec.get("defaultValue").cloned())
            .ok_or_else(|| format!("The template parameter '{k}' has no value."))?;
        let ty = spec["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let fits = match ty.as_str() {
            "string" | "securestring" => v.is_string(),
            "int" => v.is_i64() || v.is_u64(),
            "bool" => v.is_boolean(),
            "object" | "secureobject" => v.is_object(),
            "array" => v.is_array(),
            _ => {
                return Err(format!(
                    "The template parameter '{k}' has the unknown type '{ty}'."
                ));
            }
        };
        if !fits {
            return Err(format!(
                "The template parameter '{k}' is of type '{ty}'; the value {v} is not."
            ));
        }
        params.insert(k.clone(), v);
    }
    Ok(params)
}

/// Where a resource of the template is written: its id.
fn resource_path(r: &Value, rg: &str) -> Result<String, String> {
    let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let (ty, name) = (text("type"), text("name"));
    let (ns, types) = ty
        .split_once('/')
        .ok_or_else(|| format!("The resource type '{ty}' is not valid."))?;
    let types: Vec<&str> = types.split('/').collect();
    let names: Vec<&str> = name.split('/').collect();
    if types.len() != names.len() {
        return Err(format!(
            "The resource name '{name}' does not match the type '{ty}'."
        ));
    }
    let parent = match r["scope"].as_str() {
        None => rg.to_string(),
        Some(s) if s.starts_with('/') => s.to_string(),
        Some(s) => format!("{rg}/providers/{s}"),
    };
    let mut path = format!("{parent}/providers/{ns}");
    for (t, n) in types.iter().zip(&names) {
        path.push_str(&format!("/{t}/{n}"));
    }
    Ok(path)
}

/// The resources' order: each after what its dependsOn names (a resource
/// id, or the name of a resource of the template); a name no resource of the
/// template has, or a cycle, is InvalidTemplate, as ARM answers.
fn deployment_order(planned: &[(Value, String, Vec<String>)]) -> Result<Vec<usize>, String> {
    let named = |d: &str| -> Result<usize, String> {
        planned
            .iter()
            .position(|(r, path, _)| {
                path.eq_ignore_ascii_case(d)
                    || r["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(d))
                    || r["type"]
                        .as_str()
                        .zip(r["name"].as_str())
                        .is_some_and(|(t, n)| format!("{t}/{n}").eq_ignore_ascii_case(d))
            })
            .ok_or_else(|| {
                format!("The resource '{d}' that dependsOn names is not defined in the template.")
            })
    };
    let deps: Vec<Vec<usize>> = planned
        .iter()
        .map(|(_, _, d)| d.iter().map(|d| named(d)).collect())
        .collect::<Result<_, _>>()?;
    let mut order = Vec::new();
    let mut done = vec![false; planned.len()];
    while order.len() < planned.len() {
        let next = (0..planned.len())
            .find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]))
            .ok_or("Circular dependency detected on the template's resources.")?;
        done[next] = true;
        order.push(next);
    }
    Ok(order)
}

/// A deployment waits for what it wrote to finish provisioning: an
/// extension is polled to its end.
fn finish_extension(world: &mut World, path: &str) -> Result<(), (String, String)> {
    let Route::Extension { m, name } = crate::sim::route::parse(path) else {
        return Ok(());
    };
    let Some(at) = world.machine_at(&m.sub, &m.rg, m.kind, &m.name) else {
        return Ok(());
    };
    let Some(i) = world
        .machine(at)
        .extensions
        .iter()
        .position(|e| e.name.eq_ignore_ascii_case(&name))
    else {
        return Ok(());
    };
    for _ in 0..1000 {
        let e = &world.machine(at).extensions[i];
        if !(e.state == "Creating" || e.state == "Updating") || e.polls_left.is_none() {
            break;
        }
        world.tick_extension(at, i);
    }
    let e = &world.machine(at).extensions[i];
    match e.state.as_str() {
        "Succeeded" => Ok(()),
        "Creating" | "Updating" => Err((
            "DeploymentTimeout".into(),
            format!("The extension '{}' did not finish provisioning.", e.name),
        )),
        state => Err((
            "ResourceDeploymentFailure".into(),
            format!(
                "The resource operation completed with terminal provisioning state '{state}'. {}",
                e.outcome.1
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{Column, Filter, parse_filter};

    const ALL: &[Column] = &[
        Column::PolicyAssignmentId,
        Column::ComplianceState,
        Column::IsCompliant,
        Column::ResourceType,
    ];

    #[test]
    fn filters_are_eq_clauses_joined_by_and() {
        assert_eq!(
            parse_filter(
                "PolicyAssignmentId eq '/subscriptions/S/providers/x/a''b' AND complianceState eq 'NonCompliant'",
                ALL
            )
            .unwrap(),
            Filter(vec![
                (Column::PolicyAssignmentId, "/subscriptions/S/providers/x/a'b".into()),
                (Column::ComplianceState, "NonCompliant".into()),
            ])
        );
        assert_eq!(
            parse_filter("isCompliant eq FALSE", ALL).unwrap(),
            Filter(vec![(Column::IsCompliant, "false".into())])
        );
        assert_eq!(parse_filter("", ALL).unwrap(), Filter(vec![]));
        for bad in [
            "policyAssignmentId ne 'x'",
            "policyAssignmentId eq 'x' or resourceType eq 'y'",
            "policyAssignmentId eq 'x",
            "policyAssignmentId eq x",
            "resourceId eq 'x'",
            "policyAssignmentId",
        ] {
            let e = parse_filter(bad, ALL).unwrap_err().into_reply();
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(
                e.body.unwrap()["error"]["code"],
                "InvalidFilterExpression",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_filter_compares_values_ignoring_case() {
        let f = parse_filter("resourceType eq 'microsoft.hybridcompute/MACHINES'", ALL).unwrap();
        assert!(f.passes(|_| "Microsoft.HybridCompute/machines".into()));
        assert!(!f.passes(|_| "Microsoft.ScVmm/virtualMachines".into()));
    }
}
