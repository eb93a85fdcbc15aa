//! Output: one colour decision, text, JSON, az's table and tsv renderers
//! and the HTML report
//! (text from outside is escaped through `crate::text` before it reaches a
//! terminal), and each command's view (`view::Views` chooses between them
//! once).

pub mod az;
pub mod fit;
pub mod html;
pub mod text;
pub mod view;

/// The JSON document of `check`, `plan` and `apply` (contract, schema 1),
/// borrowed from the plan: a fleet's is written out without a copy of it in
/// memory.
#[derive(serde::Serialize)]
pub struct Document<'a> {
    arcfix_version: &'a str,
    checked: &'a [crate::plan::Part],
    connections: &'a [crate::plan::Connection],
    created: &'a str,
    /// `apply`: whether it was a dry run (nothing changed); absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    findings: &'a [crate::plan::Finding],
    fingerprint: &'a str,
    /// `apply`: the journal this run wrote its changes to, when it wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<&'a std::path::Path>,
    machines: &'a [crate::plan::MachineVerdict],
    not_checked: &'a [crate::plan::NotChecked],
    notes: &'a [String],
    options: &'a Option<crate::plan::Options>,
    schema_version: u32,
    scope: &'a Option<String>,
    steps: &'a [crate::plan::Step],
    target: &'a str,
}

impl<'a> Document<'a> {
    pub fn of(plan: &'a crate::plan::Plan) -> Document<'a> {
        Document {
            arcfix_version: &plan.arcfix_version,
            checked: &plan.checked,
            connections: &plan.connections,
            created: &plan.created,
            dry_run: None,
            findings: &plan.findings,
            fingerprint: &plan.fingerprint,
            journal: None,
            machines: &plan.machines,
            not_checked: &plan.not_checked,
            notes: &plan.notes,
            options: &plan.options,
            schema_version: plan.schema_version,
            scope: &plan.scope,
            steps: &plan.steps,
            target: &plan.target,
        }
    }
}

/// The same document as a value (the demo puts three in one).
pub fn plan_json(plan: &crate::plan::Plan) -> serde_json::Value {
    serde_json::to_value(Document::of(plan)).unwrap_or_default()
}
