//! Output: one colour decision, text and JSON renderers, and escaping of
//! anything that came from outside before it reaches a terminal.

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

pub mod text;

/// The JSON document of `check`, `plan` and `apply` (contract, schema 1).
pub fn plan_json(plan: &crate::plan::Plan) -> serde_json::Value {
    serde_json::json!({
        "schema_version": plan.schema_version,
        "arcfix_version": plan.arcfix_version,
        "target": plan.target,
        "created": plan.created,
        "fingerprint": plan.fingerprint,
        "findings": plan.findings,
        "steps": plan.steps,
        "notes": plan.notes,
        "checked": plan.checked,
        "not_checked": plan.not_checked,
        "machines": plan.machines,
        "connections": plan.connections,
        "options": plan.options,
    })
}
