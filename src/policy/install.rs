//! `arcfix policy apply`: arcfix's initiative installed in a subscription
//! and assigned at a scope, as steps of the one apply engine. What is
//! there is read first (the definitions, the set, the assignment, the
//! roles of its identity, the remediations and compliance), and a step is
//! planned only for what differs; each step's goal is re-read right before
//! it acts and after. Nothing read from Azure is written back or shown
//! before it is parsed: a principal id must be a GUID, an assignment's
//! location a region name.

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{DefinitionScope, Effect, Role};
use super::{Choice, Initiative, Rule, SET_NAME, initiative};
use crate::azure::client::Arm;
use crate::azure::rbac::{self, Permission};
use crate::checks::StepSpec;
use crate::checks::azure::list_all;
use crate::error::arm::ArmError;
use crate::error::{Error, Result};
use crate::plan::{
    Action, Finding, FixKind, Goal, NotChecked, Observations, Part, Plan, Step, StepKind, Target,
};
use crate::shell::quote;
use crate::target::{ArmName, SubscriptionId};

/// Azure Policy's definitions, sets and assignments.
pub const POLICY_API: &str = "2023-04-01";
/// PolicyInsights' remediations.
pub const REMEDIATIONS_API: &str = "2021-10-01";
/// PolicyInsights' policy states (summarize, queryResults).
pub const STATES_API: &str = "2019-10-01";
/// Role assignments.
const AUTHORIZATION_API: &str = crate::azure::api::AUTHORIZATION;
/// arcfix's assignment, one per scope.
pub const ASSIGNMENT_NAME: &str = "arcfix-ssh";

/// The most machines one remediation task takes on (Microsoft Learn's
/// remediation page: default 500, at most 50,000), and how many of its
/// deployments run at once (default 10, at most 30); the 2021-10-01 spec
/// states no bounds.
pub const REMEDIATION_RESOURCES: u32 = 10_000;
pub const REMEDIATION_PARALLEL: u32 = 10;

/// The roles that may do everything `policy apply` does.
pub const ROLES_NEEDED: &str =
    "Owner, or Resource Policy Contributor and User Access Administrator";

/// Where arcfix's assignment lives: a subscription, or a resource group of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope {
    pub subscription: SubscriptionId,
    /// A resource group name, checked as `target::validate_resource_group` does.
    pub group: Option<String>,
}

impl PolicyScope {
    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }

    /// The scope's resource id.
    pub fn path(&self) -> String {
        match &self.group {
            Some(g) => format!("{}/resourceGroups/{g}", self.subscription_path()),
            None => self.subscription_path(),
        }
    }

    /// arcfix's assignment's id at this scope.
    pub fn assignment_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/policyAssignments/{ASSIGNMENT_NAME}",
            self.path()
        )
    }

    fn definition_path(&self, rule: Rule) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/policyDefinitions/{}",
            self.subscription_path(),
            rule.name()
        )
    }

    pub fn set_path(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/policySetDefinitions/{SET_NAME}",
            self.subscription_path()
        )
    }

    /// `--subscription S [-g RG]`, as a command line repeats it.
    pub fn args(&self) -> String {
        match &self.group {
            Some(g) => format!(
                "--subscription {} -g {}",
                self.subscription,
                quote(g.as_str())
            ),
            None => format!("--subscription {}", self.subscription),
        }
    }

    fn target(&self) -> Target {
        Target::Subscription(self.subscription.clone())
    }
}

/// The assignment's `enforcementMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Enforcement {
    /// The effects are enforced, and arcfix starts remediation tasks.
    #[default]
    #[value(name = "Default")]
    Default,
    /// Evaluated and reported only: Azure deploys nothing on its own, and
    /// arcfix gives the identity no role and starts no remediation task
    /// (Azure would still allow one)
    #[value(name = "DoNotEnforce")]
    DoNotEnforce,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Default => "Default",
            Enforcement::DoNotEnforce => "DoNotEnforce",
        }
    }
}

/// What `policy apply` is asked to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub choice: Choice,
    pub scope: PolicyScope,
    pub enforcement: Enforcement,
    /// `--location`: where the assignment's identity lives.
    pub location: Option<Location>,
}

/// An Azure region's name as ARM spells it (`westeurope`): lower-case
/// letters and digits. `West Europe` is taken as `westeurope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location(String);

impl Location {
    pub fn parse(s: &str) -> Result<Location> {
        let folded: String = s
            .chars()
            .filter(|c| *c != ' ')
            .collect::<String>()
            .to_ascii_lowercase();
        if folded.is_empty()
            || folded.len() > 40
            || !folded
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(Error::input(format!(
                "invalid location '{}': expected an Azure region name such as westeurope",
                crate::text::sanitize(s)
            )));
        }
        Ok(Location(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of arcfix's assignment as ARM takes it: every parameter of the
/// set given (the port chosen, each effect its default), so that an effect
/// someone changed on the assignment is seen and put back.
fn assignment_body(install: &Install, i: &Initiative, location: &Location) -> Value {
    let mut parameters = serde_json::Map::new();
    if let Ok(Value::Object(declared)) = serde_json::to_value(&i.set.properties.parameters) {
        for (name, p) in declared {
            if let Some(default) = p.get("defaultValue") {
                parameters.insert(name, json!({ "value": default }));
            }
        }
    }
    parameters.insert("port".into(), json!({ "value": install.choice.port }));
    json!({
        "location": location.as_str(),
        "identity": { "type": "SystemAssigned" },
        "properties": {
            "displayName": "arcfix: keep SSH through Azure Arc working",
            "description": "Assigned by arcfix policy apply: the default HybridConnectivity endpoint and its SSH service configuration on every Azure Arc-enabled server in this scope.",
            "policyDefinitionId": install.scope.set_path(),
            "parameters": parameters,
            "enforcementMode": install.enforcement.as_str(),
        }
    })
}

/// The roles the assignment's identity needs: those the DeployIfNotExists
/// definitions name, each once.
pub fn roles_needed(i: &Initiative) -> Vec<Role> {
    let mut roles: Vec<Role> = i.rules.iter().flat_map(|r| r.roles()).collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The definitions a remediation task is started for.
pub fn remediated_rules(i: &Initiative) -> Vec<Rule> {
    i.rules
        .iter()
        .copied()
        .filter(|r| r.effects().first() == Some(&Effect::DeployIfNotExists))
        .collect()
}

/// Whether `actual` carries every value of `wanted`: objects key by key
/// (ARM adds keys of its own, such as metadata.createdOn), arrays element by
/// element, numbers by value, strings exactly, but ARM ids and regions
/// without regard to case (ARM keeps them in the case it likes).
pub fn carries(actual: &Value, wanted: &Value) -> bool {
    carries_at(actual, wanted, "")
}

fn carries_at(actual: &Value, wanted: &Value, key: &str) -> bool {
    match (actual, wanted) {
        (Value::Object(a), Value::Object(w)) => w.iter().all(|(k, wv)| {
            a.iter()
                .find(|(ak, _)| ak.eq_ignore_ascii_case(k))
                .is_some_and(|(_, av)| carries_at(av, wv, k))
        }),
        (Value::Array(a), Value::Array(w)) => {
            a.len() == w.len() && a.iter().zip(w).all(|(av, wv)| carries_at(av, wv, key))
        }
        (Value::String(a), Value::String(w)) => {
            let id = w.starts_with("/subscriptions/") || w.starts_with("/providers/");
            if id || key.eq_ignore_ascii_case("location") {
                a.eq_ignore_ascii_case(w)
            } else {
                a == w
            }
        }
        (Value::Number(a), Value::Number(w)) => a.as_f64() == w.as_f64(),
        (a, w) => a == w,
    }
}

/// What an assignment carries that arcfix never sets and that narrows it
/// (excluded scopes, overrides of effects, resource selectors): arcfix's
/// update removes them, and says so.
fn foreign(actual: &Value) -> Vec<&'static str> {
    ["notScopes", "overrides", "resourceSelectors"]
        .into_iter()
        .filter(|k| {
            actual["properties"][*k]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .collect()
}

/// A path of a goal, checked before it becomes a request: one of
/// arcfix's own, under a subscription, of ARM's name characters only.
fn checked_path(path: &str) -> Result<&str> {
    let ok = path.starts_with("/subscriptions/")
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_alphanumeric() || "/-_.()".contains(c))
        && !path.split('/').any(|seg| seg == "." || seg == "..");
    if ok {
        Ok(path)
    } else {
        Err(Error::input(format!(
            "invalid resource path '{}' in a policy step",
            crate::text::sanitize(path)
        )))
    }
}

/// An assignment as far as arcfix reads it (its identity, region and
/// enforcement mode).
#[derive(Debug, Deserialize)]
pub(super) struct AssignmentRead {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    identity: Option<IdentityRead>,
    #[serde(default)]
    pub(super) properties: AssignmentProps,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssignmentProps {
    #[serde(default)]
    enforcement_mode: Option<String>,
}

impl AssignmentProps {
    /// Its enforcement mode (ARM's default when not said), `None` when it
    /// is neither arcfix knows.
    pub(super) fn enforcement(&self) -> Option<Enforcement> {
        match self.enforcement_mode.as_deref() {
            None => Some(Enforcement::Default),
            Some(m) => <Enforcement as clap::ValueEnum>::from_str(m, true).ok(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityRead {
    #[serde(default)]
    principal_id: Option<String>,
}

/// The assignment's system-assigned identity: its principal id, checked to
/// be a GUID (it goes into a filter, a role assignment and the journal).
/// `None` when the assignment has no identity.
fn principal_of(assignment: &Value, path: &str) -> std::result::Result<Option<String>, ArmError> {
    let read: AssignmentRead = serde_json::from_value(assignment.clone())
        .map_err(|e| ArmError::invalid_answer(200, "GET", path, None, e))?;
    match read.identity.and_then(|i| i.principal_id) {
        None => Ok(None),
        Some(p) if crate::target::is_guid(&p) => Ok(Some(p.to_ascii_lowercase())),
        Some(p) => Err(ArmError::invalid_answer(
            200,
            "GET",
            path,
            None,
            format!(
                "identity.principalId '{}' is not a GUID",
                crate::text::sanitize(&p)
            ),
        )),
    }
}

/// A remediation task, as far as arcfix reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Remediation {
    pub name: String,
    pub properties: RemediationProps,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationProps {
    #[serde(default)]
    pub policy_assignment_id: Option<String>,
    #[serde(default)]
    pub policy_definition_reference_id: Option<String>,
    #[serde(default)]
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub deployment_status: Option<DeploymentSummary>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub last_updated_on: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    #[serde(default)]
    pub total_deployments: Option<u64>,
    #[serde(default)]
    pub successful_deployments: Option<u64>,
    #[serde(default)]
    pub failed_deployments: Option<u64>,
}

/// Where a remediation task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemediationState {
    UnderWay,
    Succeeded,
    Failed,
    Canceled,
    Unknown,
}

impl Remediation {
    pub fn state(&self) -> RemediationState {
        match self
            .properties
            .provisioning_state
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "accepted" | "evaluating" | "running" => RemediationState::UnderWay,
            "succeeded" | "complete" => RemediationState::Succeeded,
            "failed" => RemediationState::Failed,
            "canceled" | "cancelling" => RemediationState::Canceled,
            _ => RemediationState::Unknown,
        }
    }

    /// When it ended, if it succeeded with no failed deployment (its last
    /// update; a time that does not parse is not an end).
    fn ended_whole(&self) -> Option<time::OffsetDateTime> {
        let p = &self.properties;
        let whole = self.state() == RemediationState::Succeeded
            && p.deployment_status
                .as_ref()
                .is_some_and(|d| d.failed_deployments == Some(0));
        if !whole {
            return None;
        }
        p.last_updated_on.as_deref().and_then(rfc3339)
    }

    /// How many deployments it made (0 when not said).
    fn deployments(&self) -> u64 {
        self.properties
            .deployment_status
            .as_ref()
            .and_then(|d| d.total_deployments)
            .unwrap_or(0)
    }

    /// Whether it is for this definition of this assignment.
    fn is_for(&self, assignment: &str, reference: &str) -> bool {
        let p = &self.properties;
        p.policy_assignment_id
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(assignment))
            && p.policy_definition_reference_id
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(reference))
    }
}

/// The remediation tasks of the assignment at `scope`.
pub async fn remediations(arm: &Arm, scope: &str, assignment: &str) -> Result<Vec<Remediation>> {
    let path = format!(
        "{scope}/providers/Microsoft.PolicyInsights/remediations?$filter=PolicyAssignmentId eq '{assignment}'"
    );
    let list = list_all::<Remediation>(arm, &path, REMEDIATIONS_API).await?;
    Ok(list
        .into_iter()
        .filter(|r| {
            r.properties
                .policy_assignment_id
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(assignment))
        })
        .collect())
}

/// The compliance summary of one definition of the assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub non_compliant: u64,
    /// Resources evaluated, of any state.
    pub evaluated: u64,
}

/// PolicyInsights' summary of the assignment, by definition reference.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub by_reference: std::collections::BTreeMap<String, Counts>,
    pub non_compliant: u64,
}

#[derive(Debug, Deserialize)]
struct SummarizeRead {
    #[serde(default)]
    value: Vec<SummaryRead>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryRead {
    #[serde(default)]
    results: Option<ResultsRead>,
    #[serde(default)]
    policy_assignments: Vec<AssignmentSummaryRead>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentSummaryRead {
    #[serde(default)]
    policy_assignment_id: Option<String>,
    #[serde(default)]
    policy_definitions: Vec<DefinitionSummaryRead>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionSummaryRead {
    #[serde(default)]
    policy_definition_reference_id: Option<String>,
    #[serde(default)]
    results: Option<ResultsRead>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultsRead {
    #[serde(default)]
    non_compliant_resources: Option<u64>,
    #[serde(default)]
    resource_details: Vec<DetailRead>,
}

#[derive(Debug, Deserialize)]
struct DetailRead {
    #[serde(default)]
    count: Option<u64>,
}

impl ResultsRead {
    fn counts(&self) -> Counts {
        Counts {
            non_compliant: self.non_compliant_resources.unwrap_or(0),
            evaluated: self.resource_details.iter().filter_map(|d| d.count).sum(),
        }
    }
}

/// PolicyInsights' latest summary for the assignment at `scope`.
pub async fn summarize(arm: &Arm, scope: &str, assignment: &str) -> Result<Summary> {
    let path = format!(
        "{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?$filter=policyAssignmentId eq '{assignment}'"
    );
    let answer = arm.send("POST", &path, STATES_API, None).await?;
    let read: SummarizeRead = serde_json::from_value(answer.body)
        .map_err(|e| ArmError::invalid_answer(answer.status, "POST", &path, None, e))?;
    let mut summary = Summary::default();
    for s in read.value {
        if let Some(r) = &s.results {
            summary.non_compliant += r.counts().non_compliant;
        }
        for a in s.policy_assignments.iter().filter(|a| {
            a.policy_assignment_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(assignment))
        }) {
            for d in &a.policy_definitions {
                let (Some(reference), Some(results)) =
                    (&d.policy_definition_reference_id, &d.results)
                else {
                    continue;
                };
                // A reference id is an ARM name, or it is not shown.
                if ArmName::parse(reference).is_err() {
                    continue;
                }
                let c = results.counts();
                let e = summary
                    .by_reference
                    .entry(reference.to_ascii_lowercase())
                    .or_default();
                e.non_compliant += c.non_compliant;
                e.evaluated += c.evaluated;
            }
        }
    }
    Ok(summary)
}

/// What a policy state is about: an Arc machine, or anything else (its id
/// folded to lower case, never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Machine(crate::target::MachineId),
    Other(String),
}

/// One non-compliant state, as far as arcfix reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonCompliantState {
    pub subject: Subject,
    /// The definition's reference id in the set, when it is an ARM name.
    pub reference: Option<String>,
    /// When it was evaluated (`None`: not said, or not a time).
    pub evaluated: Option<time::OffsetDateTime>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateRead {
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    policy_definition_reference_id: Option<String>,
    #[serde(default)]
    compliance_state: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// PolicyInsights' latest non-compliant states of the assignment at
/// `scope`, every page (an endless or repeating list is an error).
pub async fn non_compliant_states(
    arm: &Arm,
    scope: &str,
    assignment: &str,
) -> Result<Vec<NonCompliantState>> {
    let path = format!(
        "{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?$filter=policyAssignmentId eq '{assignment}' and complianceState eq 'NonCompliant'&$top=1000"
    );
    let mut out = Vec::new();
    crate::checks::azure::pages_each("POST", arm, &path, STATES_API, |s: StateRead| {
        let non_compliant = s
            .compliance_state
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("NonCompliant"));
        if let (true, Some(id)) = (non_compliant, s.resource_id) {
            let subject = match crate::target::MachineId::parse(&id) {
                Ok(m) if m.kind == crate::target::ArcKind::Machine => Subject::Machine(m),
                _ => Subject::Other(id.to_ascii_lowercase()),
            };
            out.push(NonCompliantState {
                subject,
                reference: s
                    .policy_definition_reference_id
                    .filter(|r| ArmName::parse(r).is_ok()),
                evaluated: s.timestamp.as_deref().and_then(rfc3339),
            });
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

fn rfc3339(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

/// Whether the remediation of `reference` needs no (new) task: one is
/// under way; or none of its machines is non-compliant and a task
/// succeeded or some were evaluated; or every non-compliant state was
/// evaluated before the last task that succeeded without a failed
/// deployment ended (Azure re-evaluates a machine on its own change or its
/// daily scan, not when a remediation deploys beside it: those states are
/// stale). Compliance never evaluated and no task done is not "compliant".
fn remediated(
    list: &[Remediation],
    summary: &Summary,
    states: &[NonCompliantState],
    assignment: &str,
    reference: &str,
    changed: Option<time::OffsetDateTime>,
) -> bool {
    // A task that ended before the policy last changed was for another version.
    let ours: Vec<&Remediation> = list
        .iter()
        .filter(|r| r.is_for(assignment, reference))
        .filter(|r| {
            r.state() == RemediationState::UnderWay
                || changed.is_none_or(|c| {
                    r.properties
                        .last_updated_on
                        .as_deref()
                        .and_then(rfc3339)
                        .is_some_and(|t| t > c)
                })
        })
        .collect();
    if ours.iter().any(|r| r.state() == RemediationState::UnderWay) {
        return true;
    }
    let counts = summary
        .by_reference
        .get(&reference.to_ascii_lowercase())
        .cloned()
        .unwrap_or_default();
    let succeeded = ours
        .iter()
        .any(|r| r.state() == RemediationState::Succeeded);
    if counts.non_compliant == 0 {
        return succeeded || counts.evaluated > 0;
    }
    let Some((ended, deployed)) = ours
        .iter()
        .filter_map(|r| r.ended_whole().map(|t| (t, r.deployments())))
        .max()
    else {
        return false;
    };
    let mine: Vec<&NonCompliantState> = states
        .iter()
        .filter(|s| {
            s.reference
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(reference))
        })
        .collect();
    // The summary counts some, the states must show them: else unknown.
    // And a task capped below their number handled only some of them.
    !mine.is_empty()
        && mine.len() as u64 <= deployed
        && mine.iter().all(|s| s.evaluated.is_some_and(|t| t <= ended))
}

/// Re-reads one policy goal (the precondition and the verification).
pub async fn satisfied(arm: &Arm, goal: &Goal) -> Result<bool> {
    match goal {
        Goal::PolicyResource {
            path,
            api_version,
            wanted,
            unnarrowed,
        } => {
            let path = checked_path(path)?;
            Ok(match arm.get_opt(path, api_version).await? {
                Some(actual) => {
                    carries(&actual, wanted) && (!unnarrowed || foreign(&actual).is_empty())
                }
                None => false,
            })
        }
        Goal::PolicyIdentityRole {
            assignment,
            role,
            scope,
        } => {
            let (assignment, scope) = (checked_path(assignment)?, checked_path(scope)?);
            let Some(a) = arm.get_opt(assignment, POLICY_API).await? else {
                return Ok(false);
            };
            match principal_of(&a, assignment)? {
                Some(p) => Ok(crate::checks::azure::holds_role(arm, scope, &p, role.guid()).await?),
                None => Ok(false),
            }
        }
        Goal::PolicyRemediated {
            scope,
            assignment,
            reference,
            name,
            fresh,
            changed,
        } => {
            let (scope, assignment) = (checked_path(scope)?, checked_path(assignment)?);
            let reference = reference.name();
            ArmName::parse(name)?;
            // This run's task, by its name.
            let path = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/{name}");
            if let Some(v) = arm.get_opt(&path, REMEDIATIONS_API).await? {
                let task: Remediation = serde_json::from_value(v)
                    .map_err(|e| ArmError::invalid_answer(200, "GET", &path, None, e))?;
                if task.is_for(assignment, reference)
                    && matches!(
                        task.state(),
                        RemediationState::UnderWay | RemediationState::Succeeded
                    )
                {
                    return Ok(true);
                }
            }
            if *fresh {
                return Ok(false);
            }
            let (list, summary, states) = tokio::try_join!(
                remediations(arm, scope, assignment),
                summarize(arm, scope, assignment),
                non_compliant_states(arm, scope, assignment)
            )?;
            let changed = changed.as_deref().and_then(rfc3339);
            Ok(remediated(
                &list, &summary, &states, assignment, reference, changed,
            ))
        }
        other => Err(Error::Internal(format!("{other:?} is not a policy goal"))),
    }
}

/// Gives the assignment's identity `role` at `scope`: the principal id is
/// read from the assignment now and must be a GUID. A new identity can take
/// a while to reach the directory ARM asks (PrincipalNotFound): the write is
/// tried again for up to a minute.
pub async fn grant(arm: &Arm, assignment: &str, role: Role, scope: &str) -> Result<()> {
    let (assignment, scope) = (checked_path(assignment)?, checked_path(scope)?);
    let role = role.guid();
    let a = arm.get(assignment, POLICY_API).await?;
    let principal = principal_of(&a.body, assignment)?.ok_or_else(|| {
        Error::Other(format!(
            "the policy assignment {assignment} has no system-assigned identity: nothing was granted"
        ))
    })?;
    let subscription = scope
        .split('/')
        .nth(2)
        .ok_or_else(|| Error::Internal(format!("no subscription in {scope}")))?;
    let name = crate::plan::stable_guid(&[scope, role, &principal]);
    let path = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let body = json!({
        "properties": {
            "roleDefinitionId": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    });
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_secs(2).mul_f64(crate::azure::client::retry_scale());
    loop {
        match arm.send("PUT", &path, AUTHORIZATION_API, Some(&body)).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code.eq_ignore_ascii_case("RoleAssignmentExists") => return Ok(()),
            Err(e)
                if e.code.eq_ignore_ascii_case("PrincipalNotFound")
                    && started.elapsed() + wait < std::time::Duration::from_secs(60) =>
            {
                tracing::info!(
                    "the new identity {principal} is not in the directory yet; trying again in {wait:?}"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(15));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts a remediation task (`Action::StartRemediation`).
pub async fn start_remediation(arm: &Arm, action: &Action) -> Result<()> {
    let Action::StartRemediation {
        scope,
        name,
        assignment,
        reference,
        resource_count,
        parallel_deployments,
    } = action
    else {
        return Err(Error::Internal("not a remediation".into()));
    };
    let (scope, assignment) = (checked_path(scope)?, checked_path(assignment)?);
    ArmName::parse(name)?;
    let path = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/{name}");
    let body = json!({
        "properties": {
            "policyAssignmentId": assignment,
            "policyDefinitionReferenceId": reference.name(),
            "resourceDiscoveryMode": "ReEvaluateCompliance",
            "resourceCount": resource_count,
            "parallelDeployments": parallel_deployments,
        }
    });
    arm.send("PUT", &path, REMEDIATIONS_API, Some(&body))
        .await
        .map(|_| ())
        .map_err(Into::into)
}

/// What was read before planning.
struct Observed {
    definitions: Vec<(Rule, Option<Value>)>,
    set: Option<Value>,
    assignment: Option<Value>,
    /// The caller's permissions at the subscription and at the scope (the
    /// same read when the scope is the subscription).
    subscription_rights: std::result::Result<Vec<Permission>, ArmError>,
    scope_rights: std::result::Result<Vec<Permission>, ArmError>,
    /// The resource group's location (`-g` without `--location`).
    group_location: Option<std::result::Result<Option<String>, ArmError>>,
}

async fn observe(arm: &Arm, install: &Install, i: &Initiative) -> Result<Observed> {
    let scope = &install.scope;
    let definitions = futures::future::try_join_all(i.rules.iter().map(|r| async move {
        let path = scope.definition_path(*r);
        arm.get_opt(&path, POLICY_API).await.map(|v| (*r, v))
    }));
    let rights = |at: String| async move {
        list_all::<Permission>(
            arm,
            &format!("{at}/providers/Microsoft.Authorization/permissions"),
            AUTHORIZATION_API,
        )
        .await
    };
    let group_location = async {
        match (&scope.group, &install.location) {
            (Some(_), None) => Some(
                arm.get_opt(&scope.path(), crate::azure::api::RESOURCES)
                    .await
                    .map(|g| {
                        g.and_then(|g| g.get("location").and_then(Value::as_str).map(String::from))
                    }),
            ),
            _ => None,
        }
    };
    let (set_path, assignment_path) = (scope.set_path(), scope.assignment_id());
    let (definitions, set, assignment, subscription_rights, scope_rights, group_location) = tokio::join!(
        definitions,
        arm.get_opt(&set_path, POLICY_API),
        arm.get_opt(&assignment_path, POLICY_API),
        rights(scope.subscription_path()),
        async {
            if scope.group.is_some() {
                Some(rights(scope.path()).await)
            } else {
                None
            }
        },
        group_location,
    );
    let subscription_rights: std::result::Result<Vec<Permission>, ArmError> = subscription_rights;
    Ok(Observed {
        definitions: definitions.map_err(|e| unreadable("arcfix's policy definitions", e))?,
        set: set.map_err(|e| unreadable("arcfix's policy set", e))?,
        assignment: assignment.map_err(|e| unreadable("arcfix's policy assignment", e))?,
        scope_rights: scope_rights.unwrap_or_else(|| subscription_rights.clone()),
        subscription_rights,
        group_location,
    })
}

/// A read that must succeed for a plan to be made.
fn unreadable(what: &str, e: ArmError) -> Error {
    Error::Other(format!(
        "cannot read {what}: {}",
        crate::text::one_line(&e.to_string())
    ))
}

/// The location the assignment's identity gets: `--location`, else the
/// existing assignment's, else the resource group's; an error naming
/// `--location` when none is known.
fn location(install: &Install, o: &Observed) -> Result<Location> {
    if let Some(a) = &o.assignment {
        let read: AssignmentRead = serde_json::from_value(a.clone()).map_err(|e| {
            Error::Other(format!(
                "ARM's answer for {} is not a policy assignment: {e}",
                install.scope.assignment_id()
            ))
        })?;
        if let Some(l) = read.location {
            let there = Location::parse(&l).map_err(|_| {
                Error::Other(format!(
                    "the assignment {} has the location '{}', which is not a region name",
                    install.scope.assignment_id(),
                    crate::text::sanitize(&l)
                ))
            })?;
            return match &install.location {
                Some(asked) if *asked != there => Err(Error::input(format!(
                    "the assignment {ASSIGNMENT_NAME} at {} is in {there}, and an assignment's location cannot be changed: drop --location {asked}, or delete the assignment first (az policy assignment delete --name {ASSIGNMENT_NAME} --scope {})",
                    install.scope.path(),
                    install.scope.path()
                ))),
                _ => Ok(there),
            };
        }
    }
    if let Some(l) = &install.location {
        return Ok(l.clone());
    }
    match &o.group_location {
        Some(Ok(Some(l))) => Location::parse(l),
        Some(Ok(None)) => Err(Error::input(format!(
            "the resource group {} was not found in subscription {}",
            install.scope.group.as_deref().unwrap_or(""),
            install.scope.subscription
        ))),
        Some(Err(e)) => Err(unreadable("the resource group's location", e.clone())),
        None => Err(Error::input(
            "give --location: the region of the assignment's managed identity (for example westeurope)",
        )),
    }
}

/// `plan`, with a spinner saying what is read (`policy apply`, the demo).
pub async fn plan_shown(ctx: &crate::checks::Context, install: &Install) -> Result<Plan> {
    let waiting = ctx.progress.waiting(&format!(
        "reading arcfix's policy at {}",
        install.scope.path()
    ));
    let plan = plan(ctx.arm()?, install).await;
    drop(waiting);
    plan
}

/// The plan of `policy apply`: the steps whose state differs from what
/// arcfix installs, automatic when the caller may do every one of them,
/// else all manual (no write is attempted on half the rights).
pub async fn plan(arm: &Arm, install: &Install) -> Result<Plan> {
    let scope = &install.scope;
    let i = initiative(
        install.choice,
        DefinitionScope::Subscription(scope.subscription.to_string()),
    );
    let o = observe(arm, install, &i).await?;
    let location = location(install, &o)?;
    let target = scope.target();
    let mut findings: Vec<Finding> = Vec::new();
    let mut specs: Vec<(StepSpec, &'static str)> = Vec::new();
    let mut notes = Vec::new();
    let mut seen = Observations::default();
    let command = format!(
        "arcfix policy apply {} --port {} --login {} --enforcement {} --location {location}",
        scope.args(),
        install.choice.port,
        install.choice.login.as_str(),
        install.enforcement.as_str()
    );
    // The definitions and the set, at subscription scope; the assignment.
    let definition_kinds: Vec<StepKind> = i
        .rules
        .iter()
        .map(|r| StepKind::PolicyDefinition(*r))
        .collect();
    let assignment = scope.assignment_id();
    let mut resources: Vec<Resource> = i
        .definitions
        .iter()
        .zip(&o.definitions)
        .map(|(d, (rule, actual))| Resource {
            kind: StepKind::PolicyDefinition(*rule),
            what: Wanted::Definition,
            name: rule.name().to_string(),
            shown: format!(
                "the policy definition {} ({}) in subscription {}",
                rule.name(),
                d.properties.display_name,
                scope.subscription
            ),
            path: scope.definition_path(*rule),
            wanted: json!({ "properties": d.properties }),
            actual: actual.as_ref(),
            after: vec![],
            delete: format!(
                "az policy definition delete --name {} --subscription {}",
                rule.name(),
                scope.subscription
            ),
        })
        .collect();
    resources.push(Resource {
        kind: StepKind::PolicySet,
        what: Wanted::Set,
        name: SET_NAME.into(),
        shown: format!(
            "the policy set {SET_NAME} ({} definitions) in subscription {}",
            i.rules.len(),
            scope.subscription
        ),
        path: scope.set_path(),
        wanted: json!({ "properties": i.set.properties }),
        actual: o.set.as_ref(),
        after: definition_kinds,
        delete: format!(
            "az policy set-definition delete --name {SET_NAME} --subscription {}",
            scope.subscription
        ),
    });
    resources.push(Resource {
        kind: StepKind::PolicyAssignment,
        what: Wanted::Assignment,
        name: ASSIGNMENT_NAME.into(),
        shown: format!(
            "the assignment {ASSIGNMENT_NAME} of {SET_NAME} at {} (port {}, enforcement {}, system-assigned identity in {location})",
            scope.path(),
            install.choice.port,
            install.enforcement.as_str()
        ),
        path: assignment.clone(),
        wanted: assignment_body(install, &i, &location),
        actual: o.assignment.as_ref(),
        after: vec![StepKind::PolicySet],
        delete: format!(
            "az policy assignment delete --name {ASSIGNMENT_NAME} --scope {}",
            scope.path()
        ),
    });
    for r in resources {
        seen.push(format!("{}:{}", r.path, observed(r.actual)));
        if let Some((f, step)) = r.step(&target, &command) {
            findings.push(f);
            specs.push(step);
        }
    }
    let principal = match &o.assignment {
        Some(a) => principal_of(a, &assignment)?,
        None => None,
    };
    let mut not_checked: Vec<NotChecked> = Vec::new();
    let mut unread = |what: String, e: &dyn std::fmt::Display| {
        not_checked.push(NotChecked {
            side: Part::Policy,
            reason: format!(
                "{what} could not be read ({}): its step re-checks before it acts",
                crate::text::one_line(&e.to_string())
            ),
            error: true,
        });
    };
    let enforce = install.enforcement == Enforcement::Default;
    // The roles of its identity (only for remediations: none under
    // DoNotEnforce); read only when the identity exists.
    let roles = if enforce { roles_needed(&i) } else { vec![] };
    // The identity's roles, read once for all of them.
    let held_roles = match (&principal, roles.is_empty()) {
        (Some(p), false) => match crate::checks::azure::roles_held(arm, &scope.path(), p).await {
            Ok(h) => Some(h),
            Err(e) => {
                unread("the roles of the assignment's identity".into(), &e);
                None
            }
        },
        _ => Some(vec![]),
    };
    for &role in &roles {
        let held = held_roles
            .as_ref()
            .map(|h| h.iter().any(|g| g.eq_ignore_ascii_case(role.guid())));
        seen.push(format!("role {}:{held:?}", role.guid()));
        if held == Some(true) {
            continue;
        }
        findings.push(finding(
            Problem::IdentityRoleMissing,
            &target,
            match (&principal, held) {
                (Some(p), Some(_)) => format!(
                    "the assignment's identity ({p}) lacks {} at {}",
                    role.name(),
                    scope.path()
                ),
                (Some(p), None) => format!(
                    "whether the assignment's identity ({p}) holds {} at {} could not be read",
                    role.name(),
                    scope.path()
                ),
                (None, _) => format!(
                    "the assignment's identity, made with the assignment, needs {} at {}",
                    role.name(),
                    scope.path()
                ),
            },
        ));
        let users: Vec<&str> = i
            .rules
            .iter()
            .filter(|r| r.roles().contains(&role))
            .map(|r| r.name())
            .collect();
        let assignee = principal
            .clone()
            .unwrap_or_else(|| "<the assignment's principal id>".into());
        specs.push((
            StepSpec {
                kind: StepKind::PolicyIdentityRole(role),
                fixes: vec![Problem::IdentityRoleMissing.id().into()],
                target: target.clone(),
                description: format!(
                    "Give the assignment's system-assigned identity the {} role at {} (the remediations of {} deploy with it)",
                    role.name(),
                    scope.path(),
                    users.join(", ")
                ),
                command: match &principal {
                    Some(p) => format!(
                        "az role assignment create --assignee-object-id {p} --assignee-principal-type ServicePrincipal --role {} --scope {}",
                        role.guid(),
                        scope.path()
                    ),
                    None => command.clone(),
                },
                automatic: true,
                needs: vec!["Microsoft.Authorization/roleAssignments/write".into()],
                precondition: format!("the identity lacks {}", role.name()),
                verification: format!("the identity's {} assignment is listed", role.name()),
                after: vec![StepKind::PolicyAssignment],
                goal: Goal::PolicyIdentityRole {
                    assignment: assignment.clone(),
                    role,
                    scope: scope.path(),
                },
                action: Action::GrantPolicyIdentity {
                    assignment: assignment.clone(),
                    role,
                    scope: scope.path(),
                },
                undo: Some(format!(
                    "az role assignment delete --assignee {assignee} --role {} --scope {}",
                    role.guid(),
                    scope.path()
                )),
            },
            "Microsoft.Authorization/roleAssignments/write",
        ));
    }
    // Remediation tasks for the machines that exist already.
    let role_kinds: Vec<StepKind> = roles
        .iter()
        .map(|r| StepKind::PolicyIdentityRole(*r))
        .collect();
    if !enforce {
        notes.push(format!(
            "--enforcement DoNotEnforce: compliance is evaluated and reported (arcfix policy status {}); arcfix gives the identity no role and starts no remediation task (tasks already under way go on)",
            scope.args()
        ));
    } else {
        // This run changes the policy: what was evaluated and remediated
        // before says nothing about the new version (and is not read).
        let fresh = specs.iter().any(|(s, _)| {
            matches!(
                s.kind,
                StepKind::PolicyDefinition(_) | StepKind::PolicySet | StepKind::PolicyAssignment
            )
        });
        let read = match &o.assignment {
            Some(_) if !fresh => {
                let at = scope.path();
                tokio::try_join!(
                    remediations(arm, &at, &assignment),
                    summarize(arm, &at, &assignment),
                    non_compliant_states(arm, &at, &assignment)
                )
                .map_err(|e| e.to_string())
            }
            _ => Ok((vec![], Summary::default(), vec![])),
        };
        if let Err(e) = &read {
            unread(
                "the assignment's compliance and remediation tasks".into(),
                e,
            );
        }
        let now = time::OffsetDateTime::now_utc();
        let stamp = now
            .format(time::macros::format_description!(
                "[year][month][day][hour][minute][second]"
            ))
            .unwrap_or_default();
        // When it last changed, as ARM recorded it.
        let changed = o
            .definitions
            .iter()
            .filter_map(|(_, d)| d.as_ref())
            .chain(o.set.as_ref())
            .chain(o.assignment.as_ref())
            .filter_map(|v| v["systemData"]["lastModifiedAt"].as_str().and_then(rfc3339))
            .max();
        let changed_text = changed.and_then(|c| {
            c.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        for rule in remediated_rules(&i) {
            let done = if fresh {
                Some(false)
            } else {
                read.as_ref()
                    .ok()
                    .map(|(l, s, st)| remediated(l, s, st, &assignment, rule.name(), changed))
            };
            seen.push(format!("remediation {}:{done:?}", rule.name()));
            if done == Some(true) {
                continue;
            }
            let evidence = match &read {
                _ if fresh => format!(
                    "the policy changes in this run: machines are evaluated and remediated for {} anew",
                    rule.name()
                ),
                Err(_) => format!(
                    "whether {} needs a remediation task could not be read",
                    rule.name()
                ),
                Ok((list, summary, _)) => {
                    let counts = summary
                        .by_reference
                        .get(rule.name())
                        .cloned()
                        .unwrap_or_default();
                    let last = list
                        .iter()
                        .filter(|r| r.is_for(&assignment, rule.name()))
                        .max_by(|a, b| a.properties.created_on.cmp(&b.properties.created_on));
                    let task = match last {
                        Some(r) => format!(
                            "the last task, {}, is {}",
                            crate::text::sanitize(&r.name),
                            crate::text::sanitize(
                                r.properties
                                    .provisioning_state
                                    .as_deref()
                                    .unwrap_or("of unknown state")
                            )
                        ),
                        None => "no remediation task has run".into(),
                    };
                    if counts.non_compliant > 0 {
                        format!(
                            "{} machine{} not compliant with {}; {task}",
                            counts.non_compliant,
                            if counts.non_compliant == 1 {
                                " is"
                            } else {
                                "s are"
                            },
                            rule.name()
                        )
                    } else {
                        format!(
                            "no machine has been evaluated for {} and {task}: machines that exist already are deployed to only by a task",
                            rule.name()
                        )
                    }
                }
            };
            findings.push(finding(Problem::RemediationNeeded, &target, evidence));
            // Its own name: the time and a random part (two runs in one
            // second must not take each other's task for their own).
            let name = format!(
                "{}-{stamp}-{}",
                rule.name(),
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            );
            let at_scope = scope.args();
            specs.push((
                StepSpec {
                    kind: StepKind::PolicyRemediation(rule),
                    fixes: vec![Problem::RemediationNeeded.id().into()],
                    target: target.clone(),
                    description: format!(
                        "Start the remediation task {name} for {} at {}: compliance re-evaluated, then at most {} machines deployed to, {} at a time",
                        rule.name(),
                        scope.path(),
                        crate::checks::fleet::thousands(REMEDIATION_RESOURCES as usize),
                        REMEDIATION_PARALLEL
                    ),
                    command: format!(
                        "az policy remediation create --name {name} --policy-assignment {assignment} --definition-reference-id {} --resource-discovery-mode ReEvaluateCompliance --resource-count {REMEDIATION_RESOURCES} --parallel-deployments {REMEDIATION_PARALLEL} {at_scope}",
                        rule.name(),
                    ),
                    automatic: true,
                    needs: vec!["Microsoft.PolicyInsights/remediations/write".into()],
                    precondition: format!(
                        "no remediation task for {} under way, and machines not all compliant since the last one",
                        rule.name()
                    ),
                    verification: format!(
                        "the task {name} is accepted (its deployments: arcfix policy status {})",
                        scope.args()
                    ),
                    after: role_kinds.clone(),
                    goal: Goal::PolicyRemediated {
                        scope: scope.path(),
                        assignment: assignment.clone(),
                        reference: rule,
                        name: name.clone(),
                        fresh,
                        changed: changed_text.clone(),
                    },
                    action: Action::StartRemediation {
                        scope: scope.path(),
                        name: name.clone(),
                        assignment: assignment.clone(),
                        reference: rule,
                        resource_count: REMEDIATION_RESOURCES,
                        parallel_deployments: REMEDIATION_PARALLEL,
                    },
                    undo: Some(format!(
                        "az policy remediation cancel --name {name} {at_scope} (what it deployed stays)"
                    )),
                },
                "Microsoft.PolicyInsights/remediations/write",
            ));
        }
        if specs
            .iter()
            .any(|(s, _)| matches!(s.kind, StepKind::PolicyIdentityRole(_)))
            && specs
                .iter()
                .any(|(s, _)| matches!(s.kind, StepKind::PolicyRemediation(_)))
        {
            notes.push(format!(
                "the remediation tasks run as the assignment's identity, whose new roles can take a few minutes to apply: a deployment refused meanwhile shows in arcfix policy status {} (run policy apply again to start a new task)",
                scope.args()
            ));
        }
    }
    // The rights: every step's, or none is automatic.
    let mut lacking: Vec<&str> = Vec::new();
    for (spec, action) in &specs {
        let rights = match spec.kind {
            StepKind::PolicyDefinition(_) | StepKind::PolicySet => &o.subscription_rights,
            _ => &o.scope_rights,
        };
        match rights {
            Ok(p) if rbac::allows(p, action) => {}
            Ok(_) => lacking.push(action),
            Err(e) => {
                not_checked.push(NotChecked {
                    side: Part::Policy,
                    reason: format!(
                        "your permissions could not be read ({}): the steps are manual",
                        crate::text::one_line(&e.to_string())
                    ),
                    error: true,
                });
                lacking.push(action);
            }
        }
    }
    lacking.sort();
    lacking.dedup();
    not_checked.dedup();
    let manual = !lacking.is_empty();
    if manual {
        notes.push(format!(
            "your roles do not allow {}: every step is manual and no write is attempted; someone holding {ROLES_NEEDED} at {}{} runs: {command}",
            lacking.join(", "),
            scope.path(),
            if scope.group.is_some() {
                format!(" (and at {} for the definitions)", scope.subscription_path())
            } else {
                String::new()
            }
        ));
    }
    let steps: Vec<Step> = specs
        .into_iter()
        .map(|(mut spec, _)| {
            if manual {
                spec.automatic = false;
                spec.needs = vec![ROLES_NEEDED.into()];
            }
            spec.build()
        })
        .collect();
    if manual {
        for f in &mut findings {
            f.fix = FixKind::Manual;
        }
    }
    let mut plan = Plan::new(scope.path(), findings, steps, &seen, notes);
    plan.checked = if not_checked.is_empty() {
        vec![Part::Policy]
    } else {
        vec![]
    };
    plan.not_checked = not_checked;
    plan.scope = Some(format!(
        "arcfix's Azure Policy initiative {SET_NAME} at {} (port {}, {} login)",
        scope.path(),
        install.choice.port,
        install.choice.login.as_str()
    ));
    Ok(plan)
}

/// Which of arcfix's policy resources a step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Definition,
    Set,
    Assignment,
}

impl Wanted {
    /// The finding when it is missing, or differs.
    fn finding(self, new: bool) -> Problem {
        match (self, new) {
            (Wanted::Definition, true) => Problem::DefinitionMissing,
            (Wanted::Definition, false) => Problem::DefinitionOutdated,
            (Wanted::Set, true) => Problem::SetMissing,
            (Wanted::Set, false) => Problem::SetOutdated,
            (Wanted::Assignment, true) => Problem::AssignmentMissing,
            (Wanted::Assignment, false) => Problem::AssignmentOutdated,
        }
    }

    /// The right its write needs.
    fn right(self) -> &'static str {
        match self {
            Wanted::Definition => "Microsoft.Authorization/policyDefinitions/write",
            Wanted::Set => "Microsoft.Authorization/policySetDefinitions/write",
            Wanted::Assignment => "Microsoft.Authorization/policyAssignments/write",
        }
    }
}

/// One of arcfix's policy resources: what it should be, and what was read.
struct Resource<'a> {
    kind: StepKind,
    what: Wanted,
    name: String,
    /// "the policy set arcfix-ssh (5 definitions) in subscription …".
    shown: String,
    path: String,
    wanted: Value,
    actual: Option<&'a Value>,
    after: Vec<StepKind>,
    /// The command that removes it once created.
    delete: String,
}

impl Resource<'_> {
    /// Its finding and step, unless what was read carries what arcfix writes.
    fn step(self, target: &Target, command: &str) -> Option<(Finding, (StepSpec, &'static str))> {
        let extra = match (self.what, self.actual) {
            (Wanted::Assignment, Some(a)) => foreign(a),
            _ => vec![],
        };
        if extra.is_empty() && self.actual.is_some_and(|a| carries(a, &self.wanted)) {
            return None;
        }
        let new = self.actual.is_none();
        let id = self.what.finding(new);
        let found = finding(
            id,
            target,
            format!(
                "{} {}",
                self.shown,
                if new {
                    "does not exist".to_string()
                } else if extra.is_empty() {
                    "differs from what this arcfix writes".to_string()
                } else {
                    format!(
                        "has {} that arcfix does not set: the update removes {}",
                        extra.join(", "),
                        if extra.len() == 1 { "it" } else { "them" }
                    )
                }
            ),
        );
        let spec = StepSpec {
            kind: self.kind,
            fixes: vec![id.id().into()],
            target: target.clone(),
            description: format!("{} {}", if new { "Create" } else { "Update" }, self.shown),
            command: command.to_string(),
            automatic: true,
            needs: vec![self.what.right().into()],
            precondition: format!("{} is missing or differs", self.name),
            verification: format!("{} reads back as written", self.name),
            after: self.after,
            goal: Goal::PolicyResource {
                path: self.path.clone(),
                api_version: POLICY_API.into(),
                wanted: self.wanted.clone(),
                unnarrowed: self.what == Wanted::Assignment,
            },
            action: Action::Arm {
                method: "PUT".into(),
                path: self.path,
                api_version: POLICY_API.into(),
                body: Some(self.wanted),
                satisfied_by: vec![],
            },
            undo: Some(if new {
                self.delete
            } else {
                format!(
                    "{} was replaced: the version before it is not kept",
                    self.name
                )
            }),
        };
        Some((found, (spec, self.what.right())))
    }
}

/// What was read, for the plan's fingerprint: whether it existed and a
/// digest of it.
fn observed(v: Option<&Value>) -> String {
    match v {
        Some(v) => format!("{:016x}", crate::checks::azure::fingerprint(&v.to_string())),
        None => "absent".into(),
    }
}

/// What `policy apply` finds to do: its findings' ids and titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    DefinitionMissing,
    DefinitionOutdated,
    SetMissing,
    SetOutdated,
    AssignmentMissing,
    AssignmentOutdated,
    IdentityRoleMissing,
    RemediationNeeded,
}

impl Problem {
    fn id(self) -> &'static str {
        match self {
            Problem::DefinitionMissing => "policy-definition-missing",
            Problem::DefinitionOutdated => "policy-definition-outdated",
            Problem::SetMissing => "policy-set-missing",
            Problem::SetOutdated => "policy-set-outdated",
            Problem::AssignmentMissing => "policy-assignment-missing",
            Problem::AssignmentOutdated => "policy-assignment-outdated",
            Problem::IdentityRoleMissing => "policy-identity-role-missing",
            Problem::RemediationNeeded => "policy-remediation-needed",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::DefinitionMissing => "an arcfix policy definition is missing",
            Problem::DefinitionOutdated => "an arcfix policy definition is out of date",
            Problem::SetMissing => "arcfix's policy set is missing",
            Problem::SetOutdated => "arcfix's policy set is out of date",
            Problem::AssignmentMissing => "arcfix's policy is not assigned",
            Problem::AssignmentOutdated => "arcfix's policy assignment is out of date",
            Problem::IdentityRoleMissing => {
                "the assignment's identity lacks a role its remediations need"
            }
            Problem::RemediationNeeded => "machines need a remediation task",
        }
    }
}

fn finding(problem: Problem, target: &Target, evidence: String) -> Finding {
    Finding {
        id: problem.id().into(),
        target: target.clone(),
        title: problem.title().into(),
        evidence,
        fix: FixKind::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_compares_what_arcfix_wrote_and_ignores_what_arm_adds() {
        let wanted = json!({"location": "westeurope", "properties": {"a": "X", "id": "/subscriptions/S/x", "n": 22, "list": [{"k": 1}], "o": {"p": true}}});
        let answered = json!({"id": "/x", "location": "WestEurope", "properties": {"a": "X", "id": "/subscriptions/s/X", "n": 22.0, "list": [{"k": 1, "extra": 2}], "o": {"p": true, "createdOn": "now"}}});
        assert!(carries(&answered, &wanted));
        let mut changed = Vec::new();
        for (path, value) in [
            ("/properties/a", json!("x")),
            ("/properties/n", json!(23)),
            ("/properties/n", json!("22")),
            ("/properties/list", json!([{"k": 1}, {"k": 2}])),
            ("/properties/o", json!({})),
            ("/location", json!("eastus")),
            ("/properties/id", json!("/subscriptions/s/y")),
        ] {
            let mut a = answered.clone();
            *a.pointer_mut(path).unwrap() = value;
            changed.push(a);
        }
        for c in changed {
            assert!(!carries(&c, &wanted), "{c}");
        }
    }

    #[test]
    fn a_plans_json_names_roles_by_guid_and_rules_by_definition() {
        let goal = Goal::PolicyIdentityRole {
            assignment: "/subscriptions/s/a".into(),
            role: Role::ConnectedMachineResourceAdministrator,
            scope: "/subscriptions/s".into(),
        };
        let v = serde_json::to_value(&goal).unwrap();
        assert_eq!(v["role"], "cd570a14-e51a-42ad-bac8-bafd67325302");
        assert_eq!(serde_json::from_value::<Goal>(v.clone()).unwrap(), goal);
        let mut other = v;
        other["role"] = json!("8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
        assert!(serde_json::from_value::<Goal>(other).is_err());
        let goal = Goal::PolicyRemediated {
            scope: "/subscriptions/s".into(),
            assignment: "/subscriptions/s/a".into(),
            reference: Rule::EntraExtension,
            name: "n".into(),
            fresh: false,
            changed: None,
        };
        let v = serde_json::to_value(&goal).unwrap();
        assert_eq!(v["reference"], "arcfix-entra-ssh-login-extension");
        assert_eq!(serde_json::from_value::<Goal>(v).unwrap(), goal);
    }

    #[test]
    fn an_assignments_enforcement_is_read_without_case_and_unknown_ones_are_none() {
        let read = |v: Value| {
            serde_json::from_value::<AssignmentRead>(v)
                .unwrap()
                .properties
                .enforcement()
        };
        assert_eq!(read(json!({})), Some(Enforcement::Default));
        assert_eq!(
            read(json!({"properties": {"enforcementMode": "donotenforce"}})),
            Some(Enforcement::DoNotEnforce)
        );
        assert_eq!(
            read(json!({"properties": {"enforcementMode": "Sometimes"}})),
            None
        );
    }

    #[test]
    fn what_narrows_an_assignment_is_foreign() {
        assert!(foreign(&json!({"properties": {"notScopes": []}})).is_empty());
        assert_eq!(
            foreign(&json!({"properties": {"notScopes": ["/x"], "overrides": [{}]}})),
            ["notScopes", "overrides"]
        );
    }

    #[test]
    fn locations_are_region_names() {
        assert_eq!(
            Location::parse("West Europe").unwrap().as_str(),
            "westeurope"
        );
        assert_eq!(Location::parse("eastus2").unwrap().as_str(), "eastus2");
        for bad in ["", "west-europe", "westeurope;rm", "é", &"a".repeat(41)] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_principal_id_from_azure_must_be_a_guid() {
        let ok = json!({"identity": {"principalId": "1D4F3B8A-0000-4000-8000-00000000000A"}});
        assert_eq!(
            principal_of(&ok, "/a").unwrap().as_deref(),
            Some("1d4f3b8a-0000-4000-8000-00000000000a")
        );
        assert_eq!(principal_of(&json!({}), "/a").unwrap(), None);
        for bad in ["x' or 1 eq 1 or '", "\u{1b}[2J", ""] {
            let v = json!({"identity": {"principalId": bad}});
            assert!(principal_of(&v, "/a").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn goal_paths_are_arcfixs_own() {
        assert!(
            checked_path(
                "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/arcfix-ssh"
            )
            .is_ok()
        );
        for bad in [
            "https://evil/x",
            "/subscriptions/s?$x=1",
            "/subscriptions/s/../x y",
            "/other",
        ] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
    }

    fn remediation(reference: &str, state: &str, failed: u64, updated: &str) -> Remediation {
        Remediation {
            name: "r".into(),
            properties: RemediationProps {
                policy_assignment_id: Some("/A".into()),
                policy_definition_reference_id: Some(reference.into()),
                provisioning_state: Some(state.into()),
                deployment_status: Some(DeploymentSummary {
                    total_deployments: Some(2),
                    successful_deployments: Some(2 - failed),
                    failed_deployments: Some(failed),
                }),
                last_updated_on: Some(updated.into()),
                ..Default::default()
            },
        }
    }

    fn state(reference: &str, evaluated: &str) -> NonCompliantState {
        NonCompliantState {
            subject: Subject::Other("/x".into()),
            reference: Some(reference.into()),
            evaluated: rfc3339(evaluated),
        }
    }

    #[test]
    fn a_remediation_is_needed_unless_one_is_under_way_or_all_are_seen_compliant_since() {
        let (before, ended, after) = (
            "2026-12-07T11:00:00Z",
            "2026-12-07T11:30:00Z",
            "2026-12-07T12:00:00Z",
        );
        let done = |list: &[Remediation], s: &Summary, states: &[NonCompliantState]| {
            remediated(list, s, states, "/a", "ref", None)
        };
        let mut s = Summary::default();
        // Never evaluated, never remediated: needed (unknown is not compliant).
        assert!(!done(&[], &s, &[]));
        // One under way: not another.
        assert!(done(&[remediation("REF", "Evaluating", 0, ended)], &s, &[]));
        // One for another definition does not count.
        assert!(!done(
            &[remediation("other", "Accepted", 0, ended)],
            &s,
            &[]
        ));
        // One succeeded and nothing non-compliant: done.
        assert!(done(&[remediation("ref", "Succeeded", 0, ended)], &s, &[]));
        // Some non-compliant...
        s.by_reference.insert(
            "ref".into(),
            Counts {
                non_compliant: 2,
                evaluated: 5,
            },
        );
        let stale = [state("ref", before), state("ref", before)];
        let fresh = [state("ref", before), state("ref", after)];
        // ...the last task failed: needed.
        assert!(!done(&[remediation("ref", "Failed", 2, ended)], &s, &stale));
        // ...evaluated before the task ended whole: stale, not another.
        assert!(done(
            &[remediation("ref", "Succeeded", 0, ended)],
            &s,
            &stale
        ));
        // ...one evaluated since (a machine that joined): needed.
        assert!(!done(
            &[remediation("ref", "Succeeded", 0, ended)],
            &s,
            &fresh
        ));
        // ...a task with a failed deployment, a time that is not one, a state
        // without a time, or states the summary counts but the list lacks: needed.
        assert!(!done(
            &[remediation("ref", "Succeeded", 1, ended)],
            &s,
            &stale
        ));
        assert!(!done(
            &[remediation("ref", "Succeeded", 0, "soon")],
            &s,
            &stale
        ));
        assert!(!done(
            &[remediation("ref", "Succeeded", 0, ended)],
            &s,
            &[state("ref", "never")]
        ));
        assert!(!done(&[remediation("ref", "Succeeded", 0, ended)], &s, &[]));
        // A task that ended before the policy last changed does not count.
        let later = rfc3339("2026-12-07T11:45:00Z");
        assert!(!remediated(
            &[remediation("ref", "Succeeded", 0, ended)],
            &s,
            &stale,
            "/a",
            "ref",
            later
        ));
        // A task that deployed to fewer machines than are stale handled some only.
        let three = [
            state("ref", before),
            state("ref", before),
            state("ref", before),
        ];
        assert!(!done(
            &[remediation("ref", "Succeeded", 0, ended)],
            &s,
            &three
        ));
        // Evaluated, all compliant: done without a task.
        s.by_reference.insert(
            "ref".into(),
            Counts {
                non_compliant: 0,
                evaluated: 5,
            },
        );
        assert!(done(&[], &s, &[]));
    }
}
