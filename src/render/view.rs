//! The two views: text for people, one JSON document for programs. The one
//! place spinners are made.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::plan_json;
use super::text::{self, Paint};
use crate::error::{Error, Result};
use crate::explain::Match;
use crate::plan::{Plan, Step};
use crate::view::{Ending, Progress, ScenarioInfo, Serving, Tally, View, Waiting};

/// Prints to stdout; a closed pipe (`arcfix rules | head`) is not an error.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("cannot write to standard output", e)),
    }
}

fn out_json(v: &Value) -> Result<()> {
    out(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ))
}

/// Human progress lines go to stderr, so stdout stays one document.
fn progress_line(line: &str) {
    BARS.suspend(|| {
        let _ = writeln!(std::io::stderr(), "→ {}", crate::text::sanitize(line));
    });
}

/// The last line of a run that was stopped, on stderr.
fn stopped_line(line: &str) {
    BARS.suspend(|| {
        let _ = writeln!(std::io::stderr(), "arcfix: {}", crate::text::sanitize(line));
    });
}

/// Every spinner of the run: progress lines are printed above them, never
/// through them.
static BARS: std::sync::LazyLock<indicatif::MultiProgress> = std::sync::LazyLock::new(|| {
    indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
});

/// A spinner on stderr, only when someone can see it (`spin`: not `-q`, and
/// not `-v`, whose log lines say what is going on).
fn spinner(spin: bool, what: &str) -> Waiting {
    if !spin || !std::io::stderr().is_terminal() {
        return Waiting(None);
    }
    let pb = BARS.add(indicatif::ProgressBar::new_spinner());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(crate::text::one_line(what));
    pb.enable_steady_tick(Duration::from_millis(120));
    Waiting(Some(pb))
}

/// Text for people: plans and summaries on stdout, progress on stderr.
pub struct Human {
    pub paint: Paint,
    /// `-q`: no progress lines, no spinners.
    pub quiet: bool,
    /// `-v`: a fleet's every finding and step, not its summary.
    pub verbose: bool,
    /// The demo: every line folded to fit this many columns.
    pub width: Option<usize>,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
}

impl Human {
    fn fleet(&self, plan: &Plan) -> bool {
        !self.verbose && text::is_fleet(plan)
    }
    fn out(&self, s: &str) -> Result<()> {
        match self.width {
            Some(w) => out(&text::fit(s, w)),
            None => out(s),
        }
    }
}

impl Progress for Human {
    fn progress(&self, line: &str) {
        if !self.quiet {
            progress_line(line);
        }
    }
    fn waiting(&self, what: &str) -> Waiting {
        spinner(self.spin, what)
    }
}

impl View for Human {
    fn findings(&self, plan: &Plan) -> Result<()> {
        if self.fleet(plan) {
            return self.out(&text::fleet_findings(plan, &self.paint));
        }
        self.out(&text::findings(plan, &self.paint))
    }
    fn plan(&self, plan: &Plan) -> Result<()> {
        if self.fleet(plan) {
            return self.out(&text::fleet_plan(plan, &self.paint));
        }
        self.out(&text::plan(plan, &self.paint))
    }
    fn before_apply(&self, plan: &Plan) -> Result<()> {
        self.plan(plan)
    }
    fn nothing_to_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn step_started(&self, step: &Step) {
        self.progress(&format!("{}: {}", step.id, step.description));
    }
    fn step_done(&self, _: &Step) {}
    fn summary(&self, plan: &Plan, ending: Ending) -> Result<()> {
        if self.fleet(plan) {
            self.out(&text::fleet_summary(plan, &self.paint))?;
        } else {
            self.out(&text::summary(plan, &self.paint))?;
        }
        if ending.connect {
            self.out(&text::connections(plan, &self.paint))?;
        }
        if ending.interrupted {
            self.out("Stopped by Ctrl-C: the steps marked skipped were not attempted.\n")?;
        }
        Ok(())
    }
    fn explained(&self, matches: &[Match]) -> Result<()> {
        if matches.is_empty() {
            self.out(
                "No known problem matches this text. Run `arcfix check` to look at this machine and Azure directly.\n",
            )
        } else {
            self.out(&crate::explain::render_text(matches, self.paint.color))
        }
    }
    fn rules(&self) -> Result<()> {
        self.out(&crate::explain::render_rules(self.paint.color))
    }
    fn say(&self, text: &str) -> Result<()> {
        self.out(text)
    }
    fn heading(&self, text: &str) -> Result<()> {
        self.out(&format!("{}\n", self.paint.bold(text)))
    }
    fn demo(&self, _: &Plan, _: &Plan, _: &Plan, _: usize) -> Result<()> {
        Ok(())
    }
    fn scope(&self, line: &str) {
        if !self.quiet {
            BARS.suspend(|| {
                let _ = writeln!(std::io::stderr(), "{}", crate::text::sanitize(line));
            });
        }
    }
    fn machines(&self, total: usize) -> Tally {
        if !self.spin || total < 2 || !std::io::stderr().is_terminal() {
            return Tally(None);
        }
        // In the run's bars: progress lines are printed above it.
        let pb = BARS.add(indicatif::ProgressBar::new(total as u64));
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} machines  {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Tally(Some(pb))
    }
    fn plan_steps(&self, plan: &Plan) -> Result<()> {
        self.out(&text::plan_only(plan, &self.paint))
    }
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        out(&text::scenarios(list, text::DEMO_WIDTH))
    }
    fn serving(&self, serving: &Serving) -> Result<()> {
        out(&text::serving(serving, &self.paint, text::DEMO_WIDTH))
    }
    fn stopped(&self, line: &str) {
        if !self.quiet {
            stopped_line(line);
        }
    }
}

/// One JSON document on stdout (contract, schema 1); nothing else there.
pub struct Json {
    /// `-q`: no spinners either.
    pub quiet: bool,
    /// The demo: its plans go into its one document, not one each.
    pub demo: bool,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
}

impl Json {
    fn document(&self, plan: &Plan) -> Result<()> {
        if self.demo {
            Ok(())
        } else {
            // Streamed: a fleet's document is never held twice in memory.
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut stdout, &super::Document::of(plan))
                .map_err(std::io::Error::from)
                .and_then(|_| stdout.write_all(b"\n"))
                .and_then(|_| stdout.flush());
            match written {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(Error::io("cannot write to standard output", e)),
            }
        }
    }
}

impl Progress for Json {
    fn progress(&self, _: &str) {}
    fn waiting(&self, what: &str) -> Waiting {
        spinner(self.spin, what)
    }
}

impl View for Json {
    fn findings(&self, plan: &Plan) -> Result<()> {
        self.document(plan)
    }
    /// On stderr: the document stays one, and whoever waits sees the scope at once.
    fn scope(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", crate::text::sanitize(line));
        }
    }
    fn plan(&self, plan: &Plan) -> Result<()> {
        self.document(plan)
    }
    fn before_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn nothing_to_apply(&self, plan: &Plan) -> Result<()> {
        self.document(plan)
    }
    fn step_started(&self, _: &Step) {}
    fn step_done(&self, _: &Step) {}
    fn summary(&self, plan: &Plan, _: Ending) -> Result<()> {
        self.document(plan)
    }
    fn explained(&self, matches: &[Match]) -> Result<()> {
        out_json(&crate::explain::render_json(matches))
    }
    fn rules(&self) -> Result<()> {
        out_json(&crate::explain::rules_json())
    }
    fn say(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn heading(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn demo(&self, before: &Plan, applied: &Plan, after: &Plan, requests: usize) -> Result<()> {
        out_json(&json!({
            "schema_version": 1,
            "simulated": true,
            "before": plan_json(before),
            "applied": plan_json(applied),
            "after": plan_json(after),
            "requests": requests,
        }))
    }
    fn plan_steps(&self, plan: &Plan) -> Result<()> {
        self.document(plan)
    }
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()> {
        out_json(&json!({
            "schema_version": 1,
            "scenarios": list.iter().map(|s| json!({
                "name": s.name,
                "description": s.description,
                "machines": s.machines,
            })).collect::<Vec<_>>(),
        }))
    }
    fn serving(&self, s: &Serving) -> Result<()> {
        out_json(&json!({
            "schema_version": 1,
            "simulated": true,
            "scenario": s.scenario,
            "environment": {
                "ARCFIX_ARM_ENDPOINT": s.endpoint,
                "ARCFIX_AUTH": "static",
                s.token_var: s.token,
            },
            "machines": s.machines,
        }))
    }
    fn stopped(&self, line: &str) {
        if !self.quiet {
            stopped_line(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_spinner_when_quiet_or_unseen() {
        // -q: never; without a terminal on stderr (as under cargo test): never.
        assert!(spinner(false, "waiting").0.is_none());
        if !std::io::stderr().is_terminal() {
            assert!(spinner(true, "waiting").0.is_none());
        }
        let quiet = Human {
            paint: Paint { color: false },
            quiet: true,
            verbose: false,
            width: None,
            spin: false,
        };
        assert!(quiet.waiting("waiting").0.is_none());
        assert!(
            Json {
                quiet: true,
                demo: false,
                spin: false,
            }
            .waiting("w")
            .0
            .is_none()
        );
    }
}
