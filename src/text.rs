//! Text from outside made safe to print: a leaf module every other may use.

use std::fmt::Write as _;

/// The one way text from outside reaches a terminal (Azure's names, codes,
/// messages and statuses, saved plans, pasted logs, file names): every
/// control character (line breaks and escape sequences included) and every
/// invisible format character (the bidirectional overrides such as U+202E,
/// zero-width characters, line and paragraph separators) is shown as an
/// escape (`\n`, `\u{1b}`, `\u{202e}`), so such text cannot start a line of
/// its own, move the cursor, recolour the terminal or reorder what is shown.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// `c` as `sanitize` shows it.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// A control character (Unicode Cc), an invisible format character (Cf), or
/// a line or paragraph separator (Zl, Zp): never printed as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F)
}

/// Folds text to one line (errors are printed on one line).
pub fn one_line(s: &str) -> String {
    sanitize(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A writer for log lines (`-v`): each line written (one `write` per event,
/// ending in a line break) goes out with every line break but its last, and
/// every format character, escaped as `sanitize` does, so a string from
/// outside cannot forge a log line or a line of the report. Escape
/// characters pass when `ansi` is on: the log's own colours; the log
/// formatter escapes those of the values it prints.
pub struct LogLine<W> {
    inner: W,
    ansi: bool,
}

impl<W: std::io::Write> LogLine<W> {
    pub fn new(inner: W, ansi: bool) -> LogLine<W> {
        LogLine { inner, ansi }
    }
}

impl<W: std::io::Write> std::io::Write for LogLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (&*text, ""),
        };
        let mut out = String::with_capacity(buf.len() + 8);
        for c in body.chars() {
            if c == '\u{1b}' && self.ansi {
                out.push(c);
            } else {
                push_escaped(&mut out, c);
            }
        }
        out.push_str(end);
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A wait for people: "400 ms", "4 s", "1.5 s"; whole seconds from 10 s up.
pub fn seconds(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s >= 10.0 || (s - s.round()).abs() < 0.05 {
        format!("{} s", s.round() as u64)
    } else {
        format!("{:.1} s", s)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_control_and_format_characters() {
        use super::{one_line, sanitize};
        assert_eq!(sanitize("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(one_line("a\r\n  b"), "a b");
        // A line break cannot start a line of its own.
        assert_eq!(
            sanitize("Connected\n✓ no problems found"),
            "Connected\\n✓ no problems found"
        );
        assert_eq!(sanitize("a\r\tb"), "a\\r\\tb");
        // Bidirectional overrides, zero-width and separators are shown, not obeyed.
        assert_eq!(sanitize("x\u{202e}dnuof"), "x\\u{202e}dnuof");
        assert_eq!(
            sanitize("a\u{2066}b\u{200b}c\u{2028}d\u{feff}"),
            "a\\u{2066}b\\u{200b}c\\u{2028}d\\u{feff}"
        );
        assert_eq!(one_line("ok\u{202e} x"), "ok\\u{202e} x");
        // C1 controls (0x9b is a one-byte CSI).
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        // Ordinary text, accents and symbols pass unchanged.
        assert_eq!(sanitize("web-01 (rg-é) ✓ → …"), "web-01 (rg-é) ✓ → …");
    }

    #[test]
    fn log_lines_keep_their_own_end_and_colours_only() {
        use std::io::Write;
        let mut buf = Vec::new();
        let mut w = super::LogLine::new(&mut buf, true);
        w.write_all(b"\x1b[2mINFO\x1b[0m GET 500 bad\n 2026 INFO forged\xe2\x80\xae\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "\x1b[2mINFO\x1b[0m GET 500 bad\\n 2026 INFO forged\\u{202e}\n"
        );
        let mut buf = Vec::new();
        super::LogLine::new(&mut buf, false)
            .write_all(b"a\x1bb\n")
            .unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "a\\u{1b}b\n");
    }

    #[test]
    fn waits_in_seconds() {
        use std::time::Duration;
        assert_eq!(super::seconds(Duration::from_secs(4)), "4 s");
        assert_eq!(super::seconds(Duration::from_millis(400)), "400 ms");
        assert_eq!(super::seconds(Duration::ZERO), "0 ms");
        assert_eq!(super::seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(super::seconds(Duration::from_millis(12_300)), "12 s");
    }
}
