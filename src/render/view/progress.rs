//! What the layers below say while they work (`progress::Progress`), as the
//! run's output shows it: progress lines on stderr for people, nothing but
//! spinners and the scope line beside a JSON document. The one place
//! spinners and bars are made.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{HumanDuration, ProgressState};

use super::stream::BARS;
use super::{Json, Text};
use crate::plan::Step;
use crate::progress::{Meter, Pace, PaceSource, Progress, Tally, Waiting};

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
    // On one line of the terminal, or its redrawing would scroll.
    let room = stderr_width().saturating_sub(16).max(10);
    let what = crate::text::one_line(what);
    pb.set_message(console::truncate_str(&what, room, "…").into_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    Waiting(Some(pb))
}

/// The columns of the terminal on stderr, where spinners and bars are drawn.
fn stderr_width() -> usize {
    usize::from(console::Term::stderr().size().1)
}

/// Machines done of `total`, as a bar on a terminal (not for one machine).
/// Its ETA follows the pace the core tells it (`Tally::follow`), and it says
/// when ARM sets that pace.
fn bar(spin: bool, total: usize) -> Tally {
    if !spin || total < 2 || !std::io::stderr().is_terminal() {
        return Tally(None);
    }
    let cols = stderr_width();
    // The words take 40 to 70 columns: the bar fits beside them.
    let width = cols.saturating_sub(70).clamp(10, 30);
    let room = cols.saturating_sub(width + 1);
    let pace = Arc::new(OnceLock::<PaceSource>::new());
    let started = Arc::new(AtomicU64::new(0));
    let (told, begun) = (pace.clone(), started.clone());
    let said = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let pace = told.get().and_then(|source| source());
        let seen = Seen {
            done: state.pos(),
            total: state.len().unwrap_or(0),
            started: begun.load(Ordering::Relaxed),
            elapsed: state.elapsed(),
            eta: state.eta(),
        };
        let _ = w.write_str(&words(&seen, pace, room));
    };
    // In the run's bars: progress lines are printed above it.
    let pb = BARS.add(indicatif::ProgressBar::new(total as u64));
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!("{{bar:{width}}} {{words}}"))
            .map(|style| style.with_key("words", said))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    Tally(Some(Meter {
        bar: pb,
        pace,
        started,
    }))
}

/// What a bar knows of its machines: done, of all, begun, the time since it
/// began, and indicatif's ETA (from the machines done so far).
struct Seen {
    done: u64,
    total: u64,
    started: u64,
    elapsed: Duration,
    eta: Duration,
}

/// The words beside the bar: machines done, the time elapsed, the ETA (at the
/// learned pace when that is what the wait is made of), and, when ARM sets
/// the pace, the rate it allows; the longest form that fits in `room` columns.
fn words(seen: &Seen, pace: Option<Pace>, room: usize) -> String {
    // The learned pace makes the ETA only while it is what the wait is made
    // of (a lane held back); else one lane's rate would be set against the
    // whole fleet's reads.
    let eta = pace
        .filter(|p| p.held_back > 0)
        .and_then(|p| p.eta(seen.total, seen.done, seen.started))
        .unwrap_or(seen.eta);
    // "ARM allows" only for a rate learned from ARM; before that, the pace
    // is ARM's documented one, and said so.
    let note = match pace {
        Some(p) if p.held_back > 0 => {
            let whose = if p.learned {
                "ARM allows"
            } else {
                "paced at ARM's documented"
            };
            let rate = p.reads_per_second;
            match p.subscriptions {
                n if n > 1 => format!(", {whose} {rate:.0} reads/s in {n} subscriptions"),
                _ => format!(", {whose} {rate:.0} reads/s"),
            }
        }
        _ => String::new(),
    };
    let (done, total) = (seen.done, seen.total);
    let (elapsed, eta) = (HumanDuration(seen.elapsed), HumanDuration(eta));
    let long = format!("{done}/{total} machines  {elapsed:#} elapsed, ETA {eta:#}{note}");
    if console::measure_text_width(&long) <= room {
        return long;
    }
    let short = format!("{done}/{total} machines, ETA {eta:#}{note}");
    console::truncate_str(&short, room, "…").into_owned()
}

/// For people: `→` lines, the scope, spinners and a fleet's bar.
impl Progress for Text {
    fn progress(&self, line: &str) {
        if !self.human.quiet {
            let line = format!("→ {}\n", crate::text::sanitize(line));
            let _ = self.err.print(&self.human.fit(&line));
        }
    }
    fn waiting(&self, what: &str) -> Waiting {
        spinner(self.human.spin, what)
    }
    fn scope(&self, line: &str) {
        if !self.human.quiet {
            let line = format!("{}\n", crate::text::sanitize(line));
            let _ = self.err.print(&self.human.fit(&line));
        }
    }
    fn machines(&self, total: usize) -> Tally {
        bar(self.human.spin, total)
    }
    fn step_started(&self, step: &Step) {
        self.progress(&format!("{}: {}", step.id, step.description));
    }
}

/// Beside a JSON document: stdout stays the one document; stderr has only
/// the scope, said at once to whoever waits.
impl Progress for Json {
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
    use super::super::fixtures::{json, step, text};
    use super::*;

    /// What the layers below say in a run: the scope, a step, a line.
    fn report(progress: &dyn Progress) {
        progress.scope("3 Arc machines in 1 subscription (Resource Graph)");
        progress.step_started(&step());
        progress.progress("reading web-01");
    }

    #[test]
    fn people_see_each_step_and_the_scope_on_stderr() {
        let (view, printed, said) = text();
        report(&view);
        assert_eq!(
            said.text(),
            "3 Arc machines in 1 subscription (Resource Graph)\n\
             → register-hybridconnectivity: Register Microsoft.HybridConnectivity\n\
             → reading web-01\n"
        );
        assert_eq!(printed.text(), "");
    }

    #[test]
    fn quiet_people_see_nothing() {
        let (mut view, _, said) = text();
        view.human.quiet = true;
        report(&view);
        assert_eq!(said.text(), "");
    }

    #[test]
    fn beside_a_document_only_the_scope_is_said() {
        let (view, printed, said) = json();
        report(&view);
        assert!(view.machines(3).0.is_none());
        assert_eq!(
            said.text(),
            "3 Arc machines in 1 subscription (Resource Graph)\n"
        );
        assert_eq!(printed.text(), "");
    }

    #[test]
    fn the_bar_says_the_pace_arm_allows_when_it_sets_it() {
        let seen = Seen {
            done: 120,
            total: 600,
            started: 184,
            elapsed: Duration::from_secs(12),
            eta: Duration::from_secs(3),
        };
        let limited = Pace {
            reads: 304,
            reads_per_second: 24.6,
            tokens: 0.0,
            held_back: 1,
            subscriptions: 1,
            learned: true,
        };
        // 2 reads a machine (152 counted: those in flight half), so 896 left
        // for the other 448, at 24.6 a second: 36 s.
        assert_eq!(
            words(&seen, Some(limited), 100),
            "120/600 machines  12s elapsed, ETA 36s, ARM allows 25 reads/s"
        );
        // Narrow: without the time elapsed; the note stays.
        assert_eq!(
            words(&seen, Some(limited), 49),
            "120/600 machines, ETA 36s, ARM allows 25 reads/s"
        );
        // Not held back: no claim that ARM sets the pace, and indicatif's ETA.
        let free = Pace {
            held_back: 0,
            ..limited
        };
        assert_eq!(
            words(&seen, Some(free), 100),
            "120/600 machines  12s elapsed, ETA 3s"
        );
        // Ten subscriptions held back at 25 a second each: their sum, said
        // as such, and an ETA at that pace (896 reads at 250 a second: 4 s).
        let ten = Pace {
            reads_per_second: 250.0,
            held_back: 10,
            subscriptions: 10,
            ..limited
        };
        assert_eq!(
            words(&seen, Some(ten), 100),
            "120/600 machines  12s elapsed, ETA 4s, ARM allows 250 reads/s in 10 subscriptions"
        );
        // Held back by our own bucket before ARM said anything of its own:
        // the documented rate, not a claim about ARM.
        let documented = Pace {
            learned: false,
            ..limited
        };
        assert_eq!(
            words(&seen, Some(documented), 100),
            "120/600 machines  12s elapsed, ETA 36s, paced at ARM's documented 25 reads/s"
        );
        // No pace told (apply's bar): indicatif's ETA, from the machines done.
        assert_eq!(
            words(&seen, None, 100),
            "120/600 machines  12s elapsed, ETA 3s"
        );
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
