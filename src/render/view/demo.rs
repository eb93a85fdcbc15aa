//! `demo`: for people, its story folded to 80 columns; for programs, one
//! document with its three plans. `--list` and `--serve` as text or JSON.

use serde_json::json;

use super::{Human, Stream, json};
use crate::error::Result;
use crate::plan::Plan;
use crate::render::plan_json;
use crate::render::text::{self, DEMO_WIDTH};
use crate::view::{DemoRun, DemoView, Ending, ScenarioInfo, Serving};

pub struct DemoHuman {
    pub human: Human,
    pub out: Stream,
    pub err: Stream,
}

impl DemoHuman {
    /// Every line of the story folded to fit the demo's width.
    fn story(&self, s: &str) -> Result<()> {
        self.out.print(&text::fit(s, DEMO_WIDTH))
    }
}

impl DemoView for DemoHuman {
    fn heading(&self, text: &str) -> Result<()> {
        self.story(&format!("{}\n", self.human.paint.bold(text)))
    }
    fn say(&self, text: &str) -> Result<()> {
        self.story(text)
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
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        self.out.print(&text::scenarios(list, DEMO_WIDTH))
    }
    fn serving(&self, serving: &Serving) -> Result<()> {
        self.out
            .print(&text::serving(serving, &self.human.paint, DEMO_WIDTH))
    }
    fn stopped(&self, line: &str) {
        if !self.human.quiet {
            self.err.line("arcfix: ", line);
        }
    }
}

pub struct DemoJson {
    /// `-q`: no last line on stderr.
    pub quiet: bool,
    pub out: Stream,
    pub err: Stream,
}

/// Stdout holds the one document: the story is not told.
impl DemoView for DemoJson {
    fn heading(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn say(&self, _: &str) -> Result<()> {
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
    fn document(&self, run: &DemoRun) -> Result<()> {
        json(
            &self.out,
            &json!({
                "schema_version": 1,
                "simulated": true,
                "before": plan_json(run.before),
                "applied": plan_json(run.applied),
                "after": plan_json(run.after),
                "requests": run.requests,
            }),
        )
    }
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        let list: Vec<_> = list
            .iter()
            .map(|s| json!({"name": s.name, "description": s.description, "machines": s.machines}))
            .collect();
        json(&self.out, &json!({"schema_version": 1, "scenarios": list}))
    }
    fn serving(&self, s: &Serving) -> Result<()> {
        json(
            &self.out,
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
    use super::super::fixtures::{WEB, healthy, human, one_step};
    use super::*;

    fn people() -> (DemoHuman, super::super::stream::Written) {
        let (out, written) = Stream::memory();
        let view = DemoHuman {
            human: human(),
            out,
            err: Stream::memory().0,
        };
        (view, written)
    }

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

    #[test]
    fn the_story_is_folded_to_80_columns_but_commands_stay_whole() {
        let (view, written) = people();
        let long = format!("{} end\n", "word ".repeat(30));
        view.say(&long).unwrap();
        view.say(&format!("  $ {}\n", "x".repeat(90))).unwrap();
        let text = written.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[..2].iter().all(|l| l.chars().count() <= 80), "{text}");
        assert!(lines[1].starts_with("    word"), "{text}");
        assert_eq!(lines[2], format!("  $ {}", "x".repeat(90)));
    }

    #[test]
    fn people_see_each_stage_of_the_story() {
        let (view, written) = people();
        view.heading("== 1. arcfix check (simulated)").unwrap();
        view.findings(&healthy()).unwrap();
        view.plan_steps(&healthy()).unwrap();
        view.summary(&one_step("applied")).unwrap();
        let before = healthy();
        view.document(&DemoRun {
            before: &before,
            applied: &before,
            after: &before,
            requests: 3,
        })
        .unwrap();
        let text = written.text();
        assert!(
            text.starts_with(
                "== 1. arcfix check (simulated)\n✓ no problems found in client\n✓ nothing to fix\n\nSummary\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("1 applied, 0 already satisfied, 0 failed, 0 manual, 0 skipped\n"),
            "{text}"
        );
    }

    #[test]
    fn programs_get_one_document_with_the_three_plans() {
        let (out, written) = Stream::memory();
        let view = DemoJson {
            quiet: false,
            out,
            err: Stream::memory().0,
        };
        let (before, applied, after) = (one_step("planned"), one_step("applied"), healthy());
        view.heading("== 1. arcfix check (simulated)").unwrap();
        view.say("story").unwrap();
        view.findings(&before).unwrap();
        view.plan_steps(&before).unwrap();
        view.summary(&applied).unwrap();
        view.document(&DemoRun {
            before: &before,
            applied: &applied,
            after: &after,
            requests: 42,
        })
        .unwrap();
        let doc = written.json();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["simulated"], true);
        assert_eq!(doc["requests"], 42);
        assert_eq!(doc["before"]["steps"][0]["status"], "planned");
        assert_eq!(doc["applied"]["steps"][0]["status"], "applied");
        assert_eq!(doc["after"]["checked"], json!(["client"]));
    }

    #[test]
    fn serve_tells_people_what_to_export_and_programs_the_environment() {
        let (view, written) = people();
        view.serving(&serving()).unwrap();
        let text = written.text();
        assert!(
            text.starts_with(
                "arcfix demo --serve — SIMULATED Azure, scenario 'everything-broken'\n"
            ),
            "{text}"
        );
        assert!(text.contains("\n  export ARCFIX_ARM_ENDPOINT=http://127.0.0.1:4000/\n  export ARCFIX_AUTH=static\n  export ARCFIX_TOKEN=tok\n"), "{text}");
        assert!(
            text.contains(&format!("  arcfix check --remote --id {WEB}\n")),
            "{text}"
        );
        let (out, written) = Stream::memory();
        DemoJson {
            quiet: false,
            out,
            err: Stream::memory().0,
        }
        .serving(&serving())
        .unwrap();
        assert_eq!(
            written.json()["environment"],
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
        let (view, written) = people();
        view.scenarios(&list).unwrap();
        assert_eq!(
            written.text(),
            "Built-in scenarios for `arcfix demo --scenario NAME` (and --serve):\n  healthy  Nothing is wrong.\n"
        );
        let (out, written) = Stream::memory();
        DemoJson {
            quiet: false,
            out,
            err: Stream::memory().0,
        }
        .scenarios(&list)
        .unwrap();
        assert_eq!(
            written.json(),
            json!({"schema_version": 1, "scenarios": [
                {"name": "healthy", "description": "Nothing is wrong. Really.", "machines": [WEB]}
            ]})
        );
    }

    #[test]
    fn a_stop_is_said_on_stderr_unless_quiet() {
        for quiet in [false, true] {
            let (err, said) = Stream::memory();
            let view = DemoJson {
                quiet,
                out: Stream::memory().0,
                err,
            };
            view.stopped("interrupted (Ctrl-C): the demo stopped");
            let expected = if quiet {
                ""
            } else {
                "arcfix: interrupted (Ctrl-C): the demo stopped\n"
            };
            assert_eq!(said.text(), expected);
        }
    }
}
