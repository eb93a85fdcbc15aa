//! `check`: what was found.

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::plan::Plan;
use crate::view::CheckView;

impl Views {
    /// `check`'s view.
    pub fn check(&self) -> &dyn CheckView {
        self.pick(|t| t, |j| j)
    }
}

impl CheckView for Text {
    fn findings(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.findings(plan))
    }
}

impl CheckView for Json {
    fn findings(&self, plan: &Plan) -> Result<()> {
        self.emit_plan("check", plan, Rows::Findings)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, json, one_step, text};
    use super::*;

    #[test]
    fn check_tells_people_what_was_found_on_which_machine() {
        let (view, printed, said) = text();
        CheckView::findings(&view, &one_step("planned")).unwrap();
        assert_eq!(
            printed.text(),
            "Findings (1)\n  \
             /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01\n    \
             ✗ provider-not-registered [auto] Microsoft.HybridConnectivity is not registered\n        \
             registrationState: NotRegistered\n"
        );
        assert_eq!(said.text(), "");
    }

    #[test]
    fn check_with_nothing_found_says_what_was_checked() {
        let (view, printed, _) = text();
        CheckView::findings(&view, &healthy()).unwrap();
        assert_eq!(printed.text(), "✓ no problems found in client\n");
    }

    #[test]
    fn check_gives_programs_one_document_of_schema_1() {
        let (view, printed, said) = json();
        CheckView::findings(&view, &one_step("planned")).unwrap();
        let doc = printed.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["findings"][0]["id"], "provider-not-registered");
        assert_eq!(doc["steps"][0]["status"], "planned");
        assert!(printed.text().ends_with("}\n"));
        assert_eq!(said.text(), "");
    }
}
