//! Text from outside made safe to print: a leaf module every other may use.

/// Replaces control characters (escape sequences included) so text from Azure,
/// file names or user input cannot move the cursor or recolour the terminal.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Folds text to one line (errors are printed on one line).
pub fn one_line(s: &str) -> String {
    sanitize(&s.split_whitespace().collect::<Vec<_>>().join(" "))
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
    fn escapes_control_characters() {
        assert_eq!(super::sanitize("a\x1b[31mb"), "a\u{fffd}[31mb");
        assert_eq!(super::one_line("a\r\n  b"), "a b");
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
