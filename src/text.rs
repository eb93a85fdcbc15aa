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

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_control_characters() {
        assert_eq!(super::sanitize("a\x1b[31mb"), "a\u{fffd}[31mb");
        assert_eq!(super::one_line("a\r\n  b"), "a b");
    }
}
