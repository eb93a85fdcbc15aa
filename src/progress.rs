//! What the layers below the views may say while they work: a line about
//! what is going on, and a spinner while something slow is awaited. The ARM
//! client and the Run Command runner take this, not a whole view, so they
//! never reach up to the views (every `View` is one).

/// Says what is going on, where that can be seen.
pub trait Progress: Send + Sync {
    /// A line about what is going on (stderr, never in the document).
    fn progress(&self, line: &str);
    /// Something slow is awaited: a spinner while the guard lives, where one
    /// can be seen.
    fn waiting(&self, what: &str) -> Waiting;
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

/// Says nothing: work done outside a command (benches, tests).
#[allow(dead_code)] // only tests use it while `progress` is crate-private
pub struct Quiet;

impl Progress for Quiet {
    fn progress(&self, _: &str) {}
    fn waiting(&self, _: &str) -> Waiting {
        Waiting(None)
    }
}
