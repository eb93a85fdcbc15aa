//! What the layers below the views may say while they work: a line about
//! what is going on, a spinner while something slow is awaited, a fleet's
//! scope and progress bar, the step apply is starting. The ARM client, Run
//! Command, detection and apply take this, never a command's view, so they
//! never reach up to the views (Terraform's hooks: the core calls them, the
//! view chosen for the run implements them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// How fast ARM lets the run go, as the client's pacer learned it: what a
/// fleet's progress bar makes its ETA and its note of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Reads sent so far, every subscription and the tenant.
    pub reads: u64,
    /// The learned read refill, per second: the sum of the lanes ARM holds
    /// back (subscriptions, or the tenant for Resource Graph) when any is,
    /// else the busiest lane's.
    pub reads_per_second: f64,
    /// Read tokens those lanes hold now (a burst not yet spent).
    pub tokens: f64,
    /// How many lanes' reads wait for ARM's tokens (or a `Retry-After`)
    /// now: when any, ARM sets the pace.
    pub held_back: usize,
    /// How many of them are subscriptions (the others: the tenant's).
    pub subscriptions: usize,
    /// Each of them paces at a rate learned from ARM (its headers or a
    /// 429), not ARM's documented one.
    pub learned: bool,
}

impl Pace {
    /// How long the machines not done yet take at this pace: the reads they
    /// need (as many a machine as so far, one in flight counted half done)
    /// beyond the tokens in hand, at the learned rate. None while nothing is
    /// known, or when the tokens in hand cover them (the pace is then not
    /// what the wait is made of).
    pub fn eta(&self, total: u64, done: u64, started: u64) -> Option<Duration> {
        let in_flight = started.saturating_sub(done) as f64;
        let counted = done as f64 + in_flight / 2.0;
        if counted < 1.0 || self.reads_per_second <= 0.0 {
            return None;
        }
        let per_machine = self.reads as f64 / counted;
        let rest = (total as f64 - counted).max(0.0) * per_machine - self.tokens.max(0.0);
        (rest > 0.0).then(|| Duration::from_secs_f64(rest / self.reads_per_second))
    }
}

/// Where a fleet's progress bar reads the pace from: the run's ARM client.
pub type PaceSource = Box<dyn Fn() -> Option<Pace> + Send + Sync>;

/// Machines done of a total: a progress bar while it lives (or nothing).
pub struct Tally(pub(crate) Option<Meter>);

/// A view's bar, and what it reads the pace and the machines started from.
pub(crate) struct Meter {
    pub(crate) bar: indicatif::ProgressBar,
    pub(crate) pace: Arc<OnceLock<PaceSource>>,
    pub(crate) started: Arc<AtomicU64>,
}

impl Tally {
    /// A machine is begun on.
    pub fn started(&self) {
        if let Some(m) = &self.0 {
            m.started.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A machine is done.
    pub fn done(&self) {
        if let Some(m) = &self.0 {
            m.bar.inc(1);
        }
    }

    /// The bar's ETA follows the pace `source` tells from now on, and says
    /// when ARM sets it (the first source told wins).
    pub fn follow(&self, source: PaceSource) {
        if let Some(m) = &self.0 {
            let _ = m.pace.set(source);
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            m.bar.finish_and_clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(reads: u64, tokens: f64) -> Pace {
        Pace {
            reads,
            reads_per_second: 25.0,
            tokens,
            held_back: 1,
            subscriptions: 1,
            learned: true,
        }
    }

    #[test]
    fn the_eta_is_the_reads_left_at_the_learned_rate() {
        // 400 of 1,000 machines done, 100 more in flight (half done), 2 reads
        // a machine so far: 550 machines' reads left, 1,100, at 25 a second.
        let eta = pace(900, 0.0).eta(1_000, 400, 500);
        assert_eq!(eta, Some(Duration::from_secs(44)));
        // Tokens in hand go first.
        let eta = pace(900, 150.0).eta(1_000, 400, 500);
        assert_eq!(eta, Some(Duration::from_secs(38)));
        // Nothing known yet, or tokens enough for the rest: not the pace's to say.
        assert_eq!(pace(0, 250.0).eta(1_000, 0, 0), None);
        assert_eq!(pace(20, 250.0).eta(10, 5, 10), None);
    }
}
