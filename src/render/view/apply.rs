//! `apply`: the plan before it is confirmed, then how each step ended. The
//! JSON document is the plan once, with each step's status: after the run,
//! or at once when there is nothing to do or only a dry run.

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::plan::Plan;
use crate::render::Document;
use crate::view::{ApplyView, Ending};

/// Said after a dry run's plan.
fn dry_run_said(plan: &Plan) -> &'static str {
    if plan
        .steps
        .iter()
        .any(|s| s.status != crate::plan::Status::NotNeeded)
    {
        "Dry run: nothing was changed. Without --dry-run, apply makes these changes.\n"
    } else {
        "Dry run: nothing was changed.\n"
    }
}

impl Views {
    /// `apply`'s view.
    pub fn apply(&self) -> &dyn ApplyView {
        self.pick(|t| t, |j| j)
    }
}

impl ApplyView for Text {
    fn dry_run(&self, plan: &Plan) -> Result<()> {
        let said = format!(
            "{}\n{}",
            self.human.plan(plan),
            self.human.fit(dry_run_said(plan))
        );
        self.out.print(&said)
    }
    fn before_apply(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.plan(plan))
    }
    /// The plan above already said "nothing to fix".
    fn nothing_to_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn summary(&self, plan: &Plan, ending: Ending) -> Result<()> {
        self.out.print(&self.human.summary(plan, ending))
    }
}

/// The plan's document, with `"dry_run"` (and `"journal"` when one was
/// written) added: apply's document is the plan's, and says what it did.
impl ApplyView for Json {
    fn dry_run(&self, plan: &Plan) -> Result<()> {
        let doc = Document {
            dry_run: Some(true),
            ..Document::of(plan)
        };
        self.emit_document("apply --dry-run", plan, &doc, Rows::Steps)
    }
    /// The document waits for the steps' statuses.
    fn before_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn nothing_to_apply(&self, plan: &Plan) -> Result<()> {
        let doc = Document {
            dry_run: Some(false),
            ..Document::of(plan)
        };
        self.emit_document("apply", plan, &doc, Rows::Steps)
    }
    fn summary(&self, plan: &Plan, ending: Ending) -> Result<()> {
        let doc = Document {
            dry_run: Some(false),
            journal: ending.journal.as_deref(),
            ..Document::of(plan)
        };
        self.emit_document("apply", plan, &doc, Rows::Steps)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, json, one_step, text};
    use super::*;

    #[test]
    fn people_see_the_plan_then_how_each_step_ended() {
        let (view, printed, _) = text();
        view.before_apply(&one_step("planned")).unwrap();
        let plan_shown = printed.text();
        assert!(plan_shown.contains("\nPlan (1 step: 1 automatic, 0 manual)\n"));
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        assert_eq!(
            &printed.text()[plan_shown.len()..],
            "\nSummary\n  \
             /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01\n    \
             1. [✓ applied] register-hybridconnectivity — Register Microsoft.HybridConnectivity\n  \
             1 applied, 0 already satisfied, 0 failed, 0 manual, 0 skipped\n"
        );
    }

    #[test]
    fn an_interrupted_apply_says_so_last() {
        let (view, printed, _) = text();
        let ending = Ending {
            interrupted: true,
            ..Ending::default()
        };
        view.summary(&one_step("skipped"), ending).unwrap();
        assert!(
            printed.text().ends_with(
                "1 skipped\nStopped by Ctrl-C: the steps marked skipped were not attempted.\n"
            ),
            "{}",
            printed.text()
        );
    }

    #[test]
    fn nothing_to_apply_shows_people_nothing_more() {
        let (view, printed, _) = text();
        view.nothing_to_apply(&healthy()).unwrap();
        assert_eq!(printed.text(), "");
    }

    #[test]
    fn programs_get_one_document_with_the_statuses_after_the_run() {
        let (view, printed, _) = json();
        view.before_apply(&one_step("planned")).unwrap();
        assert_eq!(printed.text(), "", "nothing before the steps ran");
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        let doc = printed.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["steps"][0]["status"], "applied");
    }

    #[test]
    fn a_dry_run_or_nothing_to_do_is_the_document_at_once() {
        let (view, printed, _) = json();
        view.dry_run(&one_step("planned")).unwrap();
        assert_eq!(printed.json()["steps"][0]["status"], "planned");
        let (view, printed, _) = json();
        view.nothing_to_apply(&healthy()).unwrap();
        assert_eq!(printed.json()["steps"], serde_json::json!([]));
    }

    #[test]
    fn a_dry_run_says_nothing_changed_to_people_and_programs() {
        let (view, printed, _) = text();
        view.dry_run(&one_step("planned")).unwrap();
        assert!(
            printed.text().ends_with(
                "\n\nDry run: nothing was changed. Without --dry-run, apply makes these changes.\n"
            ),
            "{}",
            printed.text()
        );
        let (view, printed, _) = text();
        view.dry_run(&healthy()).unwrap();
        assert!(
            printed
                .text()
                .ends_with("\n\nDry run: nothing was changed.\n")
        );
        let (view, printed, _) = json();
        view.dry_run(&one_step("planned")).unwrap();
        assert_eq!(printed.json()["dry_run"], true);
    }

    #[test]
    fn the_journal_written_is_named_after_the_summary() {
        let ending = Ending {
            journal: Some("/state/arcfix/journal.jsonl".into()),
            ..Ending::default()
        };
        let (view, printed, _) = text();
        view.summary(&one_step("applied"), ending.clone()).unwrap();
        assert!(
            printed.text().ends_with(
                "0 skipped\nChanges recorded in the journal /state/arcfix/journal.jsonl\n"
            ),
            "{}",
            printed.text()
        );
        let (view, printed, _) = json();
        view.summary(&one_step("applied"), ending).unwrap();
        let doc = printed.json();
        assert_eq!(doc["journal"], "/state/arcfix/journal.jsonl");
        assert_eq!(doc["dry_run"], false);
        let (view, printed, _) = text();
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        assert!(!printed.text().contains("journal"));
    }
}
