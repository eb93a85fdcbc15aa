//! Where a view writes: stdout (the report or the one JSON document),
//! stderr (progress, above any spinner), or memory in tests, so that a view
//! is tested by what it writes without running a command.

use std::io::Write;

use crate::error::{Error, Result};

/// Every spinner and bar of the run: lines on stderr are printed above
/// them, never through them.
pub(super) static BARS: std::sync::LazyLock<indicatif::MultiProgress> =
    std::sync::LazyLock::new(|| {
        indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
    });

/// One output of a view.
#[derive(Clone)]
pub enum Stream {
    Stdout,
    Stderr,
    /// What was written, kept (tests).
    #[cfg(test)]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

impl Stream {
    /// Writes `text`; a closed pipe (`arcfix rules | head`) is not an error.
    pub fn print(&self, text: &str) -> Result<()> {
        self.write_with(|w| w.write_all(text.as_bytes()))
    }

    /// Writes what `write` makes, buffered (a fleet's JSON document is
    /// streamed, never held whole in memory); a closed pipe is not an error.
    pub fn write_with(
        &self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let written = match self {
            Stream::Stdout => {
                let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                write(&mut stdout).and_then(|_| stdout.flush())
            }
            Stream::Stderr => BARS.suspend(|| write(&mut std::io::stderr().lock())),
            #[cfg(test)]
            Stream::Memory(kept) => write(&mut *kept.lock().unwrap()),
        };
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Error::io("cannot write to standard output", e)),
        }
    }

    /// A line of progress or news on stderr after `lead`: its text from
    /// outside made safe for a terminal; a failed write is no reason to stop.
    pub fn line(&self, lead: &str, line: &str) {
        let _ = self.print(&format!("{lead}{}\n", crate::text::sanitize(line)));
    }

    /// A stream kept in memory, and what was written to it (tests).
    #[cfg(test)]
    pub fn memory() -> (Stream, Written) {
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        (Stream::Memory(kept.clone()), Written(kept))
    }
}

/// Prints to stdout; a closed pipe is not an error.
pub fn out(text: &str) -> Result<()> {
    Stream::Stdout.print(text)
}

/// What a test's stream was given.
#[cfg(test)]
pub struct Written(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Written {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_made_safe_for_a_terminal() {
        let (err, written) = Stream::memory();
        err.line("→ ", "scope \u{1b}[2Jcleared\nnext");
        assert_eq!(written.text(), "→ scope \\u{1b}[2Jcleared\\nnext\n");
    }
}
