//! `check` and `plan`: the findings, and the steps that would fix them.

use super::{Human, Stream, document};
use crate::error::Result;
use crate::plan::Plan;
use crate::view::{CheckView, PlanView};

pub struct CheckHuman {
    pub human: Human,
    pub out: Stream,
}

impl CheckView for CheckHuman {
    fn findings(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.findings(plan))
    }
}

pub struct CheckJson {
    pub out: Stream,
}

impl CheckView for CheckJson {
    fn findings(&self, plan: &Plan) -> Result<()> {
        document(&self.out, plan)
    }
}

pub struct PlanHuman {
    pub human: Human,
    pub out: Stream,
}

impl PlanView for PlanHuman {
    fn plan(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.plan(plan))
    }
}

pub struct PlanJson {
    pub out: Stream,
}

impl PlanView for PlanJson {
    fn plan(&self, plan: &Plan) -> Result<()> {
        document(&self.out, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, human, one_step};
    use super::*;

    #[test]
    fn check_tells_people_what_was_found_on_which_machine() {
        let (out, written) = Stream::memory();
        let view = CheckHuman {
            human: human(),
            out,
        };
        view.findings(&one_step("planned")).unwrap();
        assert_eq!(
            written.text(),
            "Findings (1)\n  \
             /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01\n    \
             ✗ provider-not-registered [auto] Microsoft.HybridConnectivity is not registered\n        \
             registrationState: NotRegistered\n"
        );
    }

    #[test]
    fn check_with_nothing_found_says_what_was_checked() {
        let (out, written) = Stream::memory();
        CheckHuman {
            human: human(),
            out,
        }
        .findings(&healthy())
        .unwrap();
        assert_eq!(written.text(), "✓ no problems found in client\n");
    }

    #[test]
    fn check_gives_programs_one_document_of_schema_1() {
        let (out, written) = Stream::memory();
        CheckJson { out }.findings(&one_step("planned")).unwrap();
        let doc = written.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["findings"][0]["id"], "provider-not-registered");
        assert_eq!(doc["steps"][0]["status"], "planned");
        assert!(written.text().ends_with("}\n"));
    }

    #[test]
    fn plan_shows_the_findings_then_the_numbered_steps() {
        let (out, written) = Stream::memory();
        PlanHuman {
            human: human(),
            out,
        }
        .plan(&one_step("planned"))
        .unwrap();
        let text = written.text();
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
        let (out, written) = Stream::memory();
        PlanJson { out }.plan(&healthy()).unwrap();
        let doc = written.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["checked"], serde_json::json!(["client"]));
        assert_eq!(doc["steps"], serde_json::json!([]));
    }
}
