//! What the layers below the views may say while they work: a line about
//! what is going on, a spinner while something slow is awaited, a fleet's
//! scope and progress bar, the step apply is starting. The ARM client, Run
//! Command, detection and apply take this, never a command's view, so they
//! never reach up to the views (Terraform's hooks: the core calls them, the
//! view chosen for the run implements them).

use crate::plan::Step;

/// Says what is going on, where that can be seen.
pub trait Progress: Send + Sync {
    /// A line about what is going on (stderr, never in the document).
    fn progress(&self, line: &str);
    /// Something slow is awaited: a spinner while the guard lives, where one
    /// can be seen.
    fn waiting(&self, what: &str) -> Waiting;
    /// Fleet mode: how many machines are in scope and where they came from,
    /// said before any of them is read.
    fn scope(&self, _line: &str) {}
    /// Machines being diagnosed or fixed: a progress bar (done / total, ETA)
    /// where one can be seen, while the tally lives.
    fn machines(&self, _total: usize) -> Tally {
        Tally(None)
    }
    /// `apply` is about to perform this step.
    fn step_started(&self, _step: &Step) {}
}

/// A spinner shown while it lives (or nothing).
pub struct Waiting(pub(crate) Option<indicatif::ProgressBar>);

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
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

/// Says nothing: work done outside a command (benches, tests).
#[allow(dead_code)] // only tests use it while `progress` is crate-private
pub struct Quiet;

impl Progress for Quiet {
    fn progress(&self, _: &str) {}
    fn waiting(&self, _: &str) -> Waiting {
        Waiting(None)
    }
}
