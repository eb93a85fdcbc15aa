//! `demo`: for people, its story folded to the width; for programs, one
//! document with its three plans. `--list` and `--serve` as text or JSON.

use serde_json::json;

use super::rows::Rows;
use super::{Format, Json, Text, Views};
use crate::error::Result;
use crate::plan::Plan;
use crate::render::plan_json;
use crate::render::text;
use crate::view::{DemoRun, DemoView, Ending, ScenarioInfo, Serving};

impl Views {
    /// `demo`'s view.
    pub fn demo(&self) -> &dyn DemoView {
        self.pick(|t| t, |j| j)
    }
}

impl Text {
    /// Every line of the story folded to the width.
    fn story(&self, s: &str) -> Result<()> {
        self.out.print(&self.human.fit(s))
    }
}

impl DemoView for Text {
    fn heading(&self, text: &str) -> Result<()> {
        self.story(&format!("{}\n", self.human.paint.bold(text)))
    }
    fn say(&self, text: &str) -> Result<()> {
        self.story(text)
    }
    fn paragraph(&self, said: &str) -> Result<()> {
        self.out.print(&text::wrap(said, "  ", self.human.width))
    }
    fn findings(&self, plan: &Plan) -> Result<()> {
        self.story(&self.human.findings(plan))
    }
    fn plan_steps(&self, plan: &Plan) -> Result<()> {
        self.story(&text::plan_only(plan, &self.human.paint))
    }
    fn summary(&self, plan: &Plan) -> Result<()> {
        self.story(&self.human.summary(plan, Ending::default()))
    }
    /// The story was the whole of it.
    fn document(&self, _: &DemoRun) -> Result<()> {
        Ok(())
    }
    fn policy_status(&self, status: &crate::policy::status::Status) -> Result<()> {
        self.story(&super::policy::status_text(status, &self.human.paint))
    }
    fn policy_document(&self, _: &Plan, _: &crate::policy::status::Status, _: usize) -> Result<()> {
        Ok(())
    }
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        let said = text::scenarios(list, self.human.width);
        self.out.print(&self.human.fit(&said))
    }
    fn serving(&self, serving: &Serving) -> Result<()> {
        let said = text::serving(serving, &self.human.paint, self.human.width);
        self.out.print(&self.human.fit(&said))
    }
    fn stopped(&self, line: &str) {
        if !self.human.quiet {
            self.err.line("arcfix: ", line);
        }
    }
}

impl Json {
    /// `-o html`: the report of the demo's apply.
    fn html(&self, applied: &Plan) -> Result<()> {
        let doc = crate::render::Document {
            dry_run: Some(false),
            ..crate::render::Document::of(applied)
        };
        self.out
            .write_with(|w| crate::render::html::write(w, "demo", &doc))
    }
}

/// Stdout holds the one document: the story is not told.
impl DemoView for Json {
    fn heading(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn say(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn paragraph(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn findings(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn plan_steps(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn summary(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    /// `-o table`/`tsv`: the steps the apply took, with how each ended;
    /// `-o html`: the apply's report.
    fn document(&self, run: &DemoRun) -> Result<()> {
        if self.format == Format::Html {
            return self.html(run.applied);
        }
        self.emit(
            &json!({
                "schema_version": 1,
                "simulated": true,
                "before": plan_json(run.before),
                "applied": plan_json(run.applied),
                "after": plan_json(run.after),
                "requests": run.requests,
            }),
            Rows::Demo,
        )
    }
    fn policy_status(&self, _: &crate::policy::status::Status) -> Result<()> {
        Ok(())
    }
    /// `-o table`/`tsv`: the steps the apply took; `-o html`: the apply's report.
    fn policy_document(
        &self,
        applied: &Plan,
        status: &crate::policy::status::Status,
        requests: usize,
    ) -> Result<()> {
        if self.format == Format::Html {
            return self.html(applied);
        }
        self.emit(
            &json!({
                "schema_version": 1,
                "simulated": true,
                "applied": plan_json(applied),
                "status": crate::policy::status::Document::of(status).to_value(),
                "requests": requests,
            }),
            Rows::Demo,
        )
    }
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        let list: Vec<_> = list
            .iter()
            .map(|s| json!({"name": s.name, "description": s.description, "machines": s.machines}))
            .collect();
        self.emit(
            &json!({"schema_version": 1, "scenarios": list}),
            Rows::Scenarios,
        )
    }
    fn serving(&self, s: &Serving) -> Result<()> {
        self.emit(
            &json!({
                "schema_version": 1,
                "simulated": true,
                "scenario": s.scenario,
                "environment": {
                    "ARCFIX_ARM_ENDPOINT": s.endpoint,
                    "ARCFIX_AUTH": "static",
                    s.token_var: s.token,
                },
                "machines": s.machines,
            }),
            Rows::Environment,
        )
    }
    fn stopped(&self, line: &str) {
        if !self.quiet {
            self.err.line("arcfix: ", line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{WEB, healthy, json, one_step, text, text_at};
    use super::*;

    fn serving() -> Serving {
        Serving {
            scenario: "everything-broken".into(),
            description: "Every problem at once.".into(),
            endpoint: "http://127.0.0.1:4000/".into(),
            token_var: "ARCFIX_TOKEN",
            token: "tok".into(),
            token_hours: 24,
            caller: "ada@example.com".into(),
            machines: vec![WEB.into()],
            windows: false,
        }
    }

    /// What the demo did, with `plan` for each of its three plans.
    fn run(plan: &Plan) -> DemoRun<'_> {
        DemoRun {
            before: plan,
            applied: plan,
            after: plan,
            requests: 42,
        }
    }

    #[test]
    fn the_story_is_folded_to_80_columns_but_commands_stay_whole() {
        let (view, printed, _) = text_at(80);
        view.say(&format!("{} end\n", "word ".repeat(30))).unwrap();
        view.say(&format!("  $ {}\n", "x".repeat(90))).unwrap();
        let text = printed.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[..2].iter().all(|l| l.chars().count() <= 80), "{text}");
        assert!(lines[1].starts_with("    word"), "{text}");
        assert_eq!(lines[2], format!("  $ {}", "x".repeat(90)));
    }

    #[test]
    fn people_see_each_stage_of_the_story() {
        let (view, printed, _) = text_at(80);
        view.heading("== 1. arcfix check (simulated)").unwrap();
        DemoView::findings(&view, &healthy()).unwrap();
        view.plan_steps(&healthy()).unwrap();
        DemoView::summary(&view, &one_step("applied")).unwrap();
        view.document(&run(&healthy())).unwrap();
        assert_eq!(
            printed.text(),
            format!(
                "== 1. arcfix check (simulated)\n✓ no problems found in client\n✓ nothing to fix\n\n\
                 Summary\n  {WEB}\n    \
                 1. [✓ applied] register-hybridconnectivity — Register\n                   \
                 Microsoft.HybridConnectivity\n  \
                 1 applied, 0 already satisfied, 0 failed, 0 manual, 0 skipped\n"
            )
        );
    }

    #[test]
    fn programs_get_one_document_with_the_three_plans() {
        let (view, printed, _) = json();
        let (before, applied, after) = (one_step("planned"), one_step("applied"), healthy());
        view.heading("== 1. arcfix check (simulated)").unwrap();
        view.say("story").unwrap();
        DemoView::findings(&view, &before).unwrap();
        view.plan_steps(&before).unwrap();
        DemoView::summary(&view, &applied).unwrap();
        view.document(&DemoRun {
            before: &before,
            applied: &applied,
            after: &after,
            requests: 42,
        })
        .unwrap();
        let doc = printed.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["simulated"], true);
        assert_eq!(doc["requests"], 42);
        assert_eq!(doc["before"]["steps"][0]["status"], "planned");
        assert_eq!(doc["applied"]["steps"][0]["status"], "applied");
        assert_eq!(doc["after"]["checked"], json!(["client"]));
    }

    #[test]
    fn serve_tells_people_what_to_export_and_programs_the_environment() {
        let (view, printed, _) = text();
        view.serving(&serving()).unwrap();
        let text = printed.text();
        let title = "arcfix demo --serve — SIMULATED Azure, scenario 'everything-broken'\n";
        assert!(text.starts_with(title), "{text}");
        let exports = "\n  export ARCFIX_ARM_ENDPOINT=http://127.0.0.1:4000/\n  export ARCFIX_AUTH=static\n  export ARCFIX_TOKEN=tok\n";
        assert!(text.contains(exports), "{text}");
        let check = format!("  arcfix check --remote --id {WEB}\n");
        assert!(text.contains(&check), "{text}");
        let (view, printed, _) = super::super::fixtures::json();
        view.serving(&serving()).unwrap();
        assert_eq!(
            printed.json()["environment"],
            json!({
                "ARCFIX_ARM_ENDPOINT": "http://127.0.0.1:4000/",
                "ARCFIX_AUTH": "static",
                "ARCFIX_TOKEN": "tok",
            })
        );
    }

    #[test]
    fn list_names_each_scenario_in_both_views() {
        let list = [ScenarioInfo {
            name: "healthy".into(),
            description: "Nothing is wrong. Really.".into(),
            machines: vec![WEB.into()],
        }];
        let (view, printed, _) = text();
        view.scenarios(&list).unwrap();
        assert_eq!(
            printed.text(),
            "Built-in scenarios for `arcfix demo --scenario NAME` (and --serve):\n  healthy  Nothing is wrong.\n"
        );
        let (view, printed, _) = super::super::fixtures::json();
        view.scenarios(&list).unwrap();
        assert_eq!(
            printed.json(),
            json!({"schema_version": 1, "scenarios": [
                {"name": "healthy", "description": "Nothing is wrong. Really.", "machines": [WEB]}
            ]})
        );
    }

    #[test]
    fn a_stop_is_said_on_stderr_unless_quiet() {
        for quiet in [false, true] {
            let (mut view, printed, said) = super::super::fixtures::json();
            view.quiet = quiet;
            view.stopped("interrupted (Ctrl-C): the demo stopped");
            let expected = if quiet {
                ""
            } else {
                "arcfix: interrupted (Ctrl-C): the demo stopped\n"
            };
            assert_eq!(said.text(), expected);
            assert_eq!(printed.text(), "");
        }
    }
}
