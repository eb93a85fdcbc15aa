//! What a run shows, as one trait (Terraform's `views/apply.go`: one view per
//! output format). Commands, `apply`, the remote runner and the demo say what
//! happened through a `View`; `render/` decides how it looks: text or JSON,
//! quiet or not, spinners only on a terminal.

use crate::error::Result;
use crate::explain::Match;
use crate::plan::{Plan, Step};
pub use crate::progress::{Progress, Waiting};

/// How an apply ended, for its summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ending {
    /// `--connect`: the connection verdicts follow the steps.
    pub connect: bool,
    /// Ctrl-C stopped it.
    pub interrupted: bool,
}

pub trait View: Progress {
    /// `check`: what was found.
    fn findings(&self, plan: &Plan) -> Result<()>;
    /// `plan` and `apply --dry-run`: the plan.
    fn plan(&self, plan: &Plan) -> Result<()>;
    /// `apply`: the plan about to be confirmed and applied.
    fn before_apply(&self, plan: &Plan) -> Result<()>;
    /// `apply` with nothing to do.
    fn nothing_to_apply(&self, plan: &Plan) -> Result<()>;
    fn step_started(&self, step: &Step);
    fn step_done(&self, step: &Step);
    /// `apply`: how each step ended.
    fn summary(&self, plan: &Plan, ending: Ending) -> Result<()>;
    /// `explain`: the known problems the text points to.
    fn explained(&self, matches: &[Match]) -> Result<()>;
    /// `rules`: the catalogue.
    fn rules(&self) -> Result<()>;
    /// Narration for people (the demo's story); no part of a document.
    fn say(&self, text: &str) -> Result<()>;
    /// A heading of that narration, on a line of its own.
    fn heading(&self, text: &str) -> Result<()>;
    /// The demo's one document: before, after applying, and after again.
    fn demo(&self, before: &Plan, applied: &Plan, after: &Plan, requests: usize) -> Result<()>;
    /// Fleet mode: how many machines are in scope and where they came from,
    /// said before any of them is read.
    fn scope(&self, _line: &str) {}
    /// Machines being diagnosed: a progress bar (done / total, ETA) where
    /// one can be seen, while the tally lives.
    fn machines(&self, _total: usize) -> Tally {
        Tally(None)
    }
    /// The demo's plan, right after its findings: the steps without the
    /// findings again.
    fn plan_steps(&self, plan: &Plan) -> Result<()>;
    /// `demo --list`: the built-in scenarios.
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()>;
    /// `demo --serve`: the simulator is up; how to point arcfix at it.
    fn serving(&self, serving: &Serving) -> Result<()>;
    /// A last line on stderr when a run stops (Ctrl-C), unless `-q`.
    fn stopped(&self, line: &str);
}

/// Machines done of a total: a progress bar while it lives (or nothing).
pub struct Tally(pub(crate) Option<indicatif::ProgressBar>);

impl Tally {
    pub fn done(&self) {
        if let Some(pb) = &self.0 {
            pb.inc(1);
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

/// One built-in simulator scenario, for `demo --list`.
#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub machines: Vec<String>,
}

/// What `demo --serve` tells its user: where the simulated Resource Manager
/// is and the environment that points arcfix at it.
#[derive(Debug, Clone)]
pub struct Serving {
    pub scenario: String,
    pub description: String,
    /// The simulator's base URL (`http://127.0.0.1:PORT/`).
    pub endpoint: String,
    /// The variable `--auth static` reads.
    pub token_var: &'static str,
    /// The simulator's own token for its caller: it opens nothing else.
    pub token: String,
    pub token_hours: i64,
    /// The caller's user name in the simulator.
    pub caller: String,
    pub machines: Vec<String>,
    /// Show PowerShell's `$env:` syntax instead of `export`.
    pub windows: bool,
}

/// Shows nothing: detection run outside a command (benches, tests).
pub struct Silent;

impl Progress for Silent {
    fn progress(&self, _: &str) {}
    fn waiting(&self, _: &str) -> Waiting {
        Waiting(None)
    }
}

impl View for Silent {
    fn findings(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn plan(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn before_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn nothing_to_apply(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn step_started(&self, _: &Step) {}
    fn step_done(&self, _: &Step) {}
    fn summary(&self, _: &Plan, _: Ending) -> Result<()> {
        Ok(())
    }
    fn explained(&self, _: &[Match]) -> Result<()> {
        Ok(())
    }
    fn rules(&self) -> Result<()> {
        Ok(())
    }
    fn say(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn heading(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn demo(&self, _: &Plan, _: &Plan, _: &Plan, _: usize) -> Result<()> {
        Ok(())
    }
    fn plan_steps(&self, _: &Plan) -> Result<()> {
        Ok(())
    }
    fn scenarios(&self, _: &[ScenarioInfo]) -> Result<()> {
        Ok(())
    }
    fn serving(&self, _: &Serving) -> Result<()> {
        Ok(())
    }
    fn stopped(&self, _: &str) {}
}
