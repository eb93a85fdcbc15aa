//! `arcfix policy status`: what Azure Policy last found for arcfix's
//! assignment (PolicyInsights' summary, then the resources that are not
//! compliant) and where its remediation tasks are. Every id read is parsed
//! before it is shown or handed on (`--query 'non_compliant[].id'` feeds
//! `arcfix apply --ids-from -`): what is not an Arc machine's id is counted
//! apart and never printed raw.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::install::{
    POLICY_API, PolicyScope, Remediation, RemediationState, Subject, Summary, non_compliant_states,
    remediations, summarize,
};
use crate::azure::client::Arm;
use crate::error::arm::ArmError;
use crate::error::{Error, ExitCode, Result};
use crate::target::MachineId;

/// What `policy status` found.
#[derive(Debug, Clone)]
pub struct Status {
    pub scope: PolicyScope,
    /// `None`: arcfix's policy is not assigned at the scope.
    pub assignment: Option<Assignment>,
    pub summary: Summary,
    /// The definitions of the assigned set (their reference ids), each of
    /// which should have been evaluated; `None` when the set could not be
    /// read (then compliance cannot be called whole).
    pub expected: Option<Vec<String>>,
    /// The machines not compliant, each with the definitions they fail.
    pub non_compliant: Vec<NonCompliant>,
    /// Non-compliant resources whose id is not an Arc machine's.
    pub other_resources: usize,
    pub remediations: Vec<Remediation>,
    /// What could not be read beside the compliance (the set).
    pub notes: Vec<String>,
}

/// arcfix's assignment, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub id: String,
    /// `Default`, `DoNotEnforce`, or `None` when ARM said something else.
    pub enforcement: Option<super::install::Enforcement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonCompliant {
    pub id: MachineId,
    /// The definition reference ids it fails, sorted.
    pub definitions: Vec<String>,
}

/// Whether anything was evaluated, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    NotAssigned,
    /// Nothing evaluated yet for some definition (or no machine in scope):
    /// compliance unknown.
    NotEvaluated,
    NonCompliant,
    Compliant,
}

impl Status {
    pub fn verdict(&self) -> Verdict {
        if self.assignment.is_none() {
            Verdict::NotAssigned
        } else if self.summary.non_compliant > 0 || !self.non_compliant.is_empty() {
            Verdict::NonCompliant
        } else if self.expected.is_none()
            || !self.unevaluated().is_empty()
            || self.summary.by_reference.values().all(|c| c.evaluated == 0)
        {
            Verdict::NotEvaluated
        } else {
            Verdict::Compliant
        }
    }

    /// The set's definitions nothing has been evaluated for yet: compliance
    /// with them is unknown, never counted as compliant.
    pub fn unevaluated(&self) -> Vec<&str> {
        self.stateless()
            .into_iter()
            .filter(|r| !self.inapplicable(r))
            .collect()
    }

    /// The set's definitions with no state at all.
    fn stateless(&self) -> Vec<&str> {
        self.expected
            .iter()
            .flatten()
            .filter(|r| {
                self.summary
                    .by_reference
                    .get(&r.to_ascii_lowercase())
                    .is_none_or(|c| c.evaluated == 0)
            })
            .map(String::as_str)
            .collect()
    }

    /// Whether a definition without states is explained by its rule
    /// applying to no machine here: a DeployIfNotExists rule whose `if`
    /// names more than the type (the Entra extension's: Linux only) gives
    /// no state to the machines it does not match (Azure Policy's
    /// applicability), while other definitions of the assignment were
    /// evaluated (so the assignment was).
    pub fn inapplicable(&self, reference: &str) -> bool {
        let narrow = super::Rule::for_login(crate::target::Login::Entra)
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(reference))
            .is_some_and(|r| r.may_apply_to_none());
        narrow && self.summary.by_reference.values().any(|c| c.evaluated > 0)
    }

    /// The set's definitions with no state that apply to no machine here.
    pub fn not_applicable(&self) -> Vec<&str> {
        self.stateless()
            .into_iter()
            .filter(|r| self.inapplicable(r))
            .collect()
    }

    /// Non-compliant resources PolicyInsights' summary counts but its list
    /// of states did not return (read while an evaluation went on).
    pub fn unlisted(&self) -> u64 {
        // Both count resources (a machine failing two definitions is one).
        let listed = (self.non_compliant.len() + self.other_resources) as u64;
        self.summary.non_compliant.saturating_sub(listed)
    }

    /// 0 compliant; 2 some machine not compliant, or the policy not
    /// assigned; 1 compliance unknown (nothing evaluated).
    pub fn exit_code(&self) -> ExitCode {
        match self.verdict() {
            Verdict::Compliant => ExitCode::Ok,
            Verdict::NonCompliant | Verdict::NotAssigned => ExitCode::Found,
            Verdict::NotEvaluated => ExitCode::Error,
        }
    }

    /// The remediation tasks under way.
    pub fn under_way(&self) -> usize {
        self.remediations
            .iter()
            .filter(|r| r.state() == RemediationState::UnderWay)
            .count()
    }
}

/// Reads the status of arcfix's assignment at `scope`.
pub async fn read(arm: &Arm, scope: &PolicyScope) -> Result<Status> {
    let assignment_id = scope.assignment_id();
    let assignment = match arm.get_opt(&assignment_id, POLICY_API).await {
        Ok(Some(v)) => {
            let read: super::install::AssignmentRead = serde_json::from_value(v)
                .map_err(|e| ArmError::invalid_answer(200, "GET", &assignment_id, None, e))?;
            let enforcement = read.properties.enforcement();
            Some(Assignment {
                id: assignment_id.clone(),
                enforcement,
            })
        }
        Ok(None) => None,
        Err(e) => {
            return Err(Error::Other(format!(
                "cannot read arcfix's policy assignment at {}: {}",
                scope.path(),
                crate::text::one_line(&e.to_string())
            )));
        }
    };
    let mut status = Status {
        scope: scope.clone(),
        assignment,
        summary: Summary::default(),
        expected: Some(vec![]),
        non_compliant: vec![],
        other_resources: 0,
        remediations: vec![],
        notes: vec![],
    };
    if status.assignment.is_none() {
        return Ok(status);
    }
    let path = scope.path();
    let (summary, states, list, expected) = tokio::join!(
        summarize(arm, &path, &assignment_id),
        non_compliant(arm, &path, &assignment_id),
        remediations(arm, &path, &assignment_id),
        references(arm, scope),
    );
    status.summary = summary?;
    match expected {
        Ok(e) => status.expected = Some(e),
        Err(e) => {
            status.expected = None;
            status.notes.push(format!(
                "arcfix's set could not be read ({}): definitions Azure has not evaluated cannot be named, so compliance is not called whole",
                crate::text::one_line(&e.to_string())
            ));
        }
    }
    let (machines, others) = states?;
    status.non_compliant = machines;
    status.other_resources = others;
    let mut list = list?;
    list.sort_by(|a, b| {
        b.properties
            .created_on
            .cmp(&a.properties.created_on)
            .then(a.name.cmp(&b.name))
    });
    status.remediations = list;
    Ok(status)
}

/// The reference ids of arcfix's set in the subscription (ARM names only).
async fn references(arm: &Arm, scope: &PolicyScope) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct SetRead {
        #[serde(default)]
        properties: SetProps,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct SetProps {
        #[serde(default)]
        policy_definitions: Vec<ReferenceRead>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ReferenceRead {
        #[serde(default)]
        policy_definition_reference_id: Option<String>,
    }
    let path = scope.set_path();
    let Some(v) = arm.get_opt(&path, POLICY_API).await? else {
        return Err(Error::Other(format!(
            "arcfix's policy is assigned at {} but its set {path} is gone: run arcfix policy apply {} again",
            scope.path(),
            scope.args()
        )));
    };
    let set: SetRead = serde_json::from_value(v)
        .map_err(|e| ArmError::invalid_answer(200, "GET", &path, None, e))?;
    Ok(set
        .properties
        .policy_definitions
        .into_iter()
        .filter_map(|r| r.policy_definition_reference_id)
        .filter(|r| crate::target::ArmName::parse(r).is_ok())
        .collect())
}

/// The resources PolicyInsights says are not compliant with the
/// assignment, a machine each with its definitions; and how many ids were
/// not an Arc machine's.
async fn non_compliant(
    arm: &Arm,
    scope: &str,
    assignment: &str,
) -> Result<(Vec<NonCompliant>, usize)> {
    let mut by_machine: std::collections::BTreeMap<String, (MachineId, Vec<String>)> =
        Default::default();
    let mut others = std::collections::BTreeSet::new();
    for s in non_compliant_states(arm, scope, assignment).await? {
        match s.subject {
            Subject::Machine(m) => {
                let entry = by_machine.entry(m.key()).or_insert_with(|| (m, Vec::new()));
                if let Some(r) = s.reference
                    && !entry.1.contains(&r)
                {
                    entry.1.push(r);
                }
            }
            Subject::Other(id) => {
                others.insert(id);
            }
        }
    }
    let machines = by_machine
        .into_values()
        .map(|(id, mut definitions)| {
            definitions.sort();
            NonCompliant { id, definitions }
        })
        .collect();
    Ok((machines, others.len()))
}

/// The JSON document of `policy status`.
#[derive(Debug, Serialize)]
pub struct Document {
    pub schema_version: u32,
    pub scope: String,
    pub assignment: Option<AssignmentDoc>,
    /// `compliant`, `non-compliant`, `not-evaluated`, `not-assigned`.
    pub verdict: &'static str,
    pub compliance: Vec<ComplianceDoc>,
    pub non_compliant: Vec<MachineDoc>,
    pub other_non_compliant_resources: usize,
    /// The set's definitions nothing was evaluated for (compliance unknown).
    pub not_evaluated: Vec<String>,
    /// The set's definitions with no state that apply to no machine here.
    pub not_applicable: Vec<String>,
    pub notes: Vec<String>,
    pub remediations: Vec<RemediationDoc>,
}

#[derive(Debug, Serialize)]
pub struct AssignmentDoc {
    pub id: String,
    pub enforcement_mode: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct ComplianceDoc {
    pub definition: String,
    pub non_compliant: u64,
    pub evaluated: u64,
}

#[derive(Debug, Serialize)]
pub struct MachineDoc {
    pub id: String,
    pub name: String,
    pub resource_group: String,
    pub definitions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RemediationDoc {
    pub name: String,
    pub definition: Option<String>,
    pub state: Option<String>,
    pub deployments: Option<u64>,
    pub succeeded: Option<u64>,
    pub failed: Option<u64>,
    pub created: Option<String>,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotAssigned => "not-assigned",
            Verdict::NotEvaluated => "not-evaluated",
            Verdict::NonCompliant => "non-compliant",
            Verdict::Compliant => "compliant",
        }
    }
}

/// A text of Azure's, made safe to print (and short).
fn said(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|t| crate::text::sanitize(&t.chars().take(200).collect::<String>()))
}

impl Document {
    pub fn of(s: &Status) -> Document {
        Document {
            schema_version: 1,
            scope: s.scope.path(),
            assignment: s.assignment.as_ref().map(|a| AssignmentDoc {
                id: a.id.clone(),
                enforcement_mode: a.enforcement.map(|e| e.as_str()),
            }),
            verdict: s.verdict().as_str(),
            compliance: s
                .summary
                .by_reference
                .iter()
                .map(|(r, c)| ComplianceDoc {
                    definition: r.clone(),
                    non_compliant: c.non_compliant,
                    evaluated: c.evaluated,
                })
                .collect(),
            non_compliant: s
                .non_compliant
                .iter()
                .map(|m| MachineDoc {
                    id: m.id.to_string(),
                    name: m.id.name.clone(),
                    resource_group: m.id.resource_group.clone(),
                    definitions: m.definitions.clone(),
                })
                .collect(),
            other_non_compliant_resources: s.other_resources,
            not_evaluated: s.unevaluated().into_iter().map(String::from).collect(),
            not_applicable: s.not_applicable().into_iter().map(String::from).collect(),
            notes: s.notes.clone(),
            remediations: s
                .remediations
                .iter()
                .map(|r| {
                    let d = r.properties.deployment_status.clone().unwrap_or_default();
                    RemediationDoc {
                        name: crate::text::sanitize(&r.name),
                        definition: said(&r.properties.policy_definition_reference_id),
                        state: said(&r.properties.provisioning_state),
                        deployments: d.total_deployments,
                        succeeded: d.successful_deployments,
                        failed: d.failed_deployments,
                        created: said(&r.properties.created_on),
                    }
                })
                .collect(),
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::install::Counts;

    fn status() -> Status {
        Status {
            scope: PolicyScope {
                subscription: crate::target::SubscriptionId::parse(
                    "00000000-0000-0000-0000-000000000001",
                )
                .unwrap(),
                group: None,
            },
            assignment: Some(Assignment {
                id: "/a".into(),
                enforcement: Some(crate::policy::install::Enforcement::Default),
            }),
            summary: Summary::default(),
            expected: Some(vec![
                "arcfix-ssh-endpoint".into(),
                "arcfix-agent-ssh-port".into(),
            ]),
            non_compliant: vec![],
            other_resources: 0,
            remediations: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn the_linux_only_rule_without_a_state_applies_to_no_machine_once_others_were_evaluated() {
        let mut s = status();
        s.expected = Some(vec![
            "arcfix-ssh-endpoint".into(),
            "arcfix-entra-ssh-login-extension".into(),
            "arcfix-agent-entra-extension".into(),
        ]);
        // Nothing evaluated: every one unknown.
        assert_eq!(s.unevaluated().len(), 3);
        assert!(s.not_applicable().is_empty());
        s.summary.by_reference.insert(
            "arcfix-ssh-endpoint".into(),
            Counts {
                non_compliant: 0,
                evaluated: 2,
            },
        );
        // The assignment was evaluated: the Linux-only DeployIfNotExists rule
        // applies to no machine; an Audit rule without a state is unknown.
        assert_eq!(s.not_applicable(), ["arcfix-entra-ssh-login-extension"]);
        assert_eq!(s.unevaluated(), ["arcfix-agent-entra-extension"]);
        assert_eq!(s.verdict(), Verdict::NotEvaluated);
        s.summary.by_reference.insert(
            "arcfix-agent-entra-extension".into(),
            Counts {
                non_compliant: 0,
                evaluated: 2,
            },
        );
        assert_eq!(s.verdict(), Verdict::Compliant);
    }

    #[test]
    fn nothing_evaluated_is_never_called_compliant() {
        let mut s = status();
        assert_eq!(s.verdict(), Verdict::NotEvaluated);
        assert_eq!(s.exit_code(), ExitCode::Error);
        s.summary.by_reference.insert(
            "arcfix-ssh-endpoint".into(),
            Counts {
                non_compliant: 0,
                evaluated: 3,
            },
        );
        // One definition of the set evaluated, the other not: unknown.
        assert_eq!(s.verdict(), Verdict::NotEvaluated);
        assert_eq!(s.unevaluated(), ["arcfix-agent-ssh-port"]);
        s.summary.by_reference.insert(
            "arcfix-agent-ssh-port".into(),
            Counts {
                non_compliant: 0,
                evaluated: 3,
            },
        );
        assert_eq!(s.verdict(), Verdict::Compliant);
        assert_eq!(s.exit_code(), ExitCode::Ok);
        // The set unread: its definitions cannot be named, nothing is whole.
        let unread = Status {
            expected: None,
            ..s.clone()
        };
        assert_eq!(unread.verdict(), Verdict::NotEvaluated);
        // The summary counts one the list did not return: still non-compliant.
        s.summary.non_compliant = 1;
        assert_eq!(s.exit_code(), ExitCode::Found);
        assert_eq!(s.unlisted(), 1);
        s.assignment = None;
        assert_eq!(s.verdict(), Verdict::NotAssigned);
        assert_eq!(s.exit_code(), ExitCode::Found);
    }
}
