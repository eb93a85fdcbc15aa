//! What the layers below say while they work (`progress::Progress`), as the
//! run's output shows it: progress lines on stderr for people, nothing but
//! spinners and the scope line beside a JSON document. The one place
//! spinners and bars are made.

use std::io::IsTerminal;
use std::time::Duration;

use super::stream::{BARS, Stream};
use crate::plan::Step;
use crate::progress::{Progress, Tally, Waiting};

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

/// Machines done of `total`, as a bar on a terminal (not for one machine).
fn bar(spin: bool, total: usize) -> Tally {
    if !spin || total < 2 || !std::io::stderr().is_terminal() {
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

/// Progress for people: `→` lines, the scope, spinners and a fleet's bar.
pub struct HumanProgress {
    /// `-q`: no lines, no spinners.
    pub quiet: bool,
    /// Spinners and bars on a terminal (not with `-q` or `-v`).
    pub spin: bool,
    pub err: Stream,
}

impl Progress for HumanProgress {
    fn progress(&self, line: &str) {
        if !self.quiet {
            self.err.line("→ ", line);
        }
    }
    fn waiting(&self, what: &str) -> Waiting {
        spinner(self.spin, what)
    }
    fn scope(&self, line: &str) {
        if !self.quiet {
            self.err.line("", line);
        }
    }
    fn machines(&self, total: usize) -> Tally {
        bar(self.spin, total)
    }
    fn step_started(&self, step: &Step) {
        self.progress(&format!("{}: {}", step.id, step.description));
    }
}

/// Progress beside a JSON document: stdout stays the one document; stderr
/// has only the scope, said at once to whoever waits.
pub struct JsonProgress {
    /// `-q`: not the scope either.
    pub quiet: bool,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
    pub err: Stream,
}

impl Progress for JsonProgress {
    fn progress(&self, _: &str) {}
    fn waiting(&self, what: &str) -> Waiting {
        spinner(self.spin, what)
    }
    fn scope(&self, line: &str) {
        if !self.quiet {
            self.err.line("", line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        serde_json::from_value(serde_json::json!({
            "id": "register-hybridconnectivity-web-01",
            "fixes": ["provider-not-registered"],
            "target": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01",
            "description": "Register Microsoft.HybridConnectivity",
            "command": "az provider register -n Microsoft.HybridConnectivity",
            "automatic": true,
            "precondition": "not registered",
            "verification": "registered",
            "check": {"kind": "restarted"},
            "action": {"kind": "manual"},
            "status": "planned",
        }))
        .unwrap()
    }

    #[test]
    fn people_see_each_step_and_the_scope_on_stderr() {
        let (err, written) = Stream::memory();
        let human = HumanProgress {
            quiet: false,
            spin: false,
            err,
        };
        human.scope("3 Arc machines in 1 subscription (Resource Graph)");
        human.step_started(&step());
        human.progress("reading web-01");
        assert_eq!(
            written.text(),
            "3 Arc machines in 1 subscription (Resource Graph)\n\
             → register-hybridconnectivity-web-01: Register Microsoft.HybridConnectivity\n\
             → reading web-01\n"
        );
    }

    #[test]
    fn quiet_people_see_nothing() {
        let (err, written) = Stream::memory();
        let human = HumanProgress {
            quiet: true,
            spin: false,
            err,
        };
        human.scope("3 Arc machines");
        human.step_started(&step());
        human.progress("reading web-01");
        assert!(human.waiting("waiting").0.is_none());
        assert_eq!(written.text(), "");
    }

    #[test]
    fn beside_a_document_only_the_scope_is_said() {
        let (err, written) = Stream::memory();
        let json = JsonProgress {
            quiet: false,
            spin: false,
            err,
        };
        json.scope("3 Arc machines");
        json.step_started(&step());
        json.progress("reading web-01");
        assert!(json.machines(3).0.is_none());
        assert_eq!(written.text(), "3 Arc machines\n");
    }

    #[test]
    fn no_spinner_when_quiet_or_unseen() {
        // -q: never; without a terminal on stderr (as under cargo test): never.
        assert!(spinner(false, "waiting").0.is_none());
        assert!(bar(false, 10).0.is_none());
        if !std::io::stderr().is_terminal() {
            assert!(spinner(true, "waiting").0.is_none());
            assert!(bar(true, 10).0.is_none());
        }
    }
}
