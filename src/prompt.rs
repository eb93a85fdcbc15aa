//! The one question apply asks: a whole line read from the terminal, as
//! Terraform and `az` ask. Only `y` or `yes` (any case, spaces around
//! ignored) approves; anything else, an empty line or the end of input
//! declines. The line is read whole, so nothing typed after the first key
//! reaches the shell once arcfix exits, and keys typed ahead while arcfix
//! was still checking are discarded before the question, so a stray `y`
//! cannot approve a plan no one has read.

use std::io::Write;

/// Whether `line` (as typed, with its line break) approves.
pub fn approves(line: &str) -> bool {
    let answer = line.trim();
    answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

/// The question's last words, saying how to answer.
pub const HOW_TO_ANSWER: &str = "[y/N] (type yes, then Enter)";

/// Asks `question` on the terminal and reads one line: `true` only for a
/// yes. A terminal that cannot be read from declines.
pub fn ask(question: &str) -> bool {
    let mut term = Terminal::open();
    discard_typeahead(&term);
    let _ = write!(term.output, "{question} {HOW_TO_ANSWER} ");
    let _ = term.output.flush();
    let mut line = String::new();
    match term.input.read_line(&mut line) {
        // End of input (Ctrl-D) reads nothing: a no, on a line of its own.
        Ok(0) => {
            let _ = writeln!(term.output);
            false
        }
        Ok(_) => approves(&line),
        Err(_) => false,
    }
}

/// Where the question is asked: the terminal itself, so that it works when
/// stdout and stderr go to a pipe (`arcfix apply 2>&1 | tee log`).
struct Terminal {
    input: Box<dyn std::io::BufRead>,
    output: Box<dyn Write>,
    #[cfg(unix)]
    fd: Option<std::os::fd::RawFd>,
}

impl Terminal {
    fn open() -> Terminal {
        #[cfg(unix)]
        if let (Ok(r), Ok(w)) = (
            std::fs::File::open("/dev/tty"),
            std::fs::OpenOptions::new().write(true).open("/dev/tty"),
        ) {
            use std::os::fd::AsRawFd;
            let fd = Some(r.as_raw_fd());
            return Terminal {
                input: Box::new(std::io::BufReader::new(r)),
                output: Box::new(w),
                fd,
            };
        }
        Terminal {
            input: Box::new(std::io::stdin().lock()),
            output: Box::new(std::io::stderr()),
            #[cfg(unix)]
            fd: std::io::IsTerminal::is_terminal(&std::io::stdin()).then_some(0),
        }
    }
}

/// Drops what was typed before the question was shown.
#[cfg(unix)]
fn discard_typeahead(term: &Terminal) {
    if let Some(fd) = term.fd {
        // SAFETY: tcflush on a descriptor this process holds open; it only
        // discards the terminal's pending input.
        unsafe {
            libc::tcflush(fd, libc::TCIFLUSH);
        }
    }
}

/// Windows: the console's pending input is left as it is.
#[cfg(not(unix))]
fn discard_typeahead(_term: &Terminal) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_approves() {
        for yes in ["y\n", "Y\n", "yes\n", "YES\r\n", " Yes \n", "yes"] {
            assert!(approves(yes), "{yes:?}");
        }
        for no in [
            "",
            "\n",
            "n\n",
            "no\n",
            "yess\n",
            "y es\n",
            "ye\n",
            "yes please\n",
            "ja\n",
            "1\n",
            "\u{4}",
        ] {
            assert!(!approves(no), "{no:?}");
        }
    }
}
