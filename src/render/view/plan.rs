//! `plan`: what was found and the steps that would fix it.

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::plan::Plan;
use crate::view::PlanView;

impl Views {
    /// `plan`'s view.
    pub fn plan(&self) -> &dyn PlanView {
        self.pick(|t| t, |j| j)
    }
}

impl PlanView for Text {
    fn plan(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.plan(plan))
    }
    fn saved(&self, plan: &Plan, file: &std::path::Path) -> Result<()> {
        let [saved, apply, command] = crate::view::saved_plan_lines(plan, file);
        // The command is kept whole, as every command shown is.
        let said = self.human.fit(&format!("{saved}\n{apply}\n"));
        self.out.print(&format!("\n{said}  $ {command}\n"))
    }
}

impl PlanView for Json {
    fn plan(&self, plan: &Plan) -> Result<()> {
        self.emit_plan("plan", plan, Rows::Steps)
    }
    /// Beside the document: on stderr, unless `-q`.
    fn saved(&self, plan: &Plan, file: &std::path::Path) -> Result<()> {
        if !self.quiet {
            let [saved, apply, command] = crate::view::saved_plan_lines(plan, file);
            self.err.line("", &saved);
            self.err.line("", &format!("{apply} {command}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, json, one_step, text};
    use super::*;

    #[test]
    fn plan_shows_the_findings_then_the_numbered_steps() {
        let (view, printed, _) = text();
        PlanView::plan(&view, &one_step("planned")).unwrap();
        let text = printed.text();
        let steps = text.split_once("\nPlan").unwrap().1;
        assert!(text.starts_with("Findings (1)\n"), "{text}");
        assert_eq!(
            steps,
            " (1 step: 1 automatic, 0 manual)\n  \
             /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01\n    \
             1. [auto] register-hybridconnectivity — Register Microsoft.HybridConnectivity\n       \
             $ az provider register -n Microsoft.HybridConnectivity\n"
        );
    }

    #[test]
    fn plan_gives_programs_the_same_document() {
        let (view, printed, _) = json();
        PlanView::plan(&view, &healthy()).unwrap();
        let doc = printed.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["checked"], serde_json::json!(["client"]));
        assert_eq!(doc["steps"], serde_json::json!([]));
    }
}
