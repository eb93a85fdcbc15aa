//! What the layers below say while they work (`progress::Progress`), as the
//! run's output shows it: progress lines on stderr for people, nothing but
//! spinners and the scope line beside a JSON document. The one place
//! spinners and bars are made.

use std::io::IsTerminal;
use std::time::Duration;

use super::stream::BARS;
use super::{Json, Text};
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
fn bar(spin: bool, total: usize) -> Tally {
    if !spin || total < 2 || !std::io::stderr().is_terminal() {
        return Tally(None);
    }
    // In the run's bars: progress lines are printed above it.
    let pb = BARS.add(indicatif::ProgressBar::new(total as u64));
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:{}}} {{pos}}/{{len}} machines  {{elapsed}} elapsed, ETA {{eta}}",
            // The words take about 40 columns: the bar fits beside them.
            stderr_width().saturating_sub(40).clamp(10, 30)
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    Tally(Some(pb))
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
