//! `apply`: the plan before it is confirmed, then how each step ended. The
//! JSON document is the plan once, with each step's status: after the run,
//! or at once when there is nothing to do or only a dry run.

use super::{Human, Stream, document};
use crate::error::Result;
use crate::plan::Plan;
use crate::view::{ApplyView, Ending};

pub struct ApplyHuman {
    pub human: Human,
    pub out: Stream,
}

impl ApplyView for ApplyHuman {
    fn dry_run(&self, plan: &Plan) -> Result<()> {
        self.out.print(&self.human.plan(plan))
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

pub struct ApplyJson {
    pub out: Stream,
}

impl ApplyView for ApplyJson {
    fn dry_run(&self, plan: &Plan) -> Result<()> {
        document(&self.out, plan)
    }
    /// The document waits for the steps' statuses.
    fn before_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn nothing_to_apply(&self, plan: &Plan) -> Result<()> {
        document(&self.out, plan)
    }
    fn summary(&self, plan: &Plan, _: Ending) -> Result<()> {
        document(&self.out, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{healthy, human, one_step};
    use super::*;

    #[test]
    fn people_see_the_plan_then_how_each_step_ended() {
        let (out, written) = Stream::memory();
        let view = ApplyHuman {
            human: human(),
            out,
        };
        view.before_apply(&one_step("planned")).unwrap();
        assert!(
            written
                .text()
                .contains("\nPlan (1 step: 1 automatic, 0 manual)\n")
        );
        let (out, written) = Stream::memory();
        let view = ApplyHuman {
            human: human(),
            out,
        };
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        assert_eq!(
            written.text(),
            "\nSummary\n  \
             /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01\n    \
             1. [✓ applied] register-hybridconnectivity — Register Microsoft.HybridConnectivity\n  \
             1 applied, 0 already satisfied, 0 failed, 0 manual, 0 skipped\n"
        );
    }

    #[test]
    fn an_interrupted_apply_says_so_last() {
        let (out, written) = Stream::memory();
        let view = ApplyHuman {
            human: human(),
            out,
        };
        let ending = Ending {
            connect: false,
            interrupted: true,
        };
        view.summary(&one_step("skipped"), ending).unwrap();
        assert!(
            written.text().ends_with(
                "1 skipped\nStopped by Ctrl-C: the steps marked skipped were not attempted.\n"
            ),
            "{}",
            written.text()
        );
    }

    #[test]
    fn nothing_to_apply_shows_people_nothing_more() {
        let (out, written) = Stream::memory();
        ApplyHuman {
            human: human(),
            out,
        }
        .nothing_to_apply(&healthy())
        .unwrap();
        assert_eq!(written.text(), "");
    }

    #[test]
    fn programs_get_one_document_with_the_statuses_after_the_run() {
        let (out, written) = Stream::memory();
        let view = ApplyJson { out };
        view.before_apply(&one_step("planned")).unwrap();
        assert_eq!(written.text(), "", "nothing before the steps ran");
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        let doc = written.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["steps"][0]["status"], "applied");
    }

    #[test]
    fn a_dry_run_or_nothing_to_do_is_the_document_at_once() {
        for planned in [true, false] {
            let (out, written) = Stream::memory();
            let view = ApplyJson { out };
            if planned {
                view.dry_run(&one_step("planned")).unwrap();
            } else {
                view.nothing_to_apply(&healthy()).unwrap();
            }
            assert_eq!(written.json()["schema_version"], 1);
        }
    }
}
