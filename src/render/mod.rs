//! Output: one colour decision, text and JSON renderers (text from outside
//! is escaped through `crate::text` before it reaches a terminal).

pub mod text;
pub mod view;

/// The view of a run: the one decision between text and JSON output.
pub fn view(config: &crate::config::Config, demo: bool) -> std::sync::Arc<dyn crate::view::View> {
    let quiet = config.verbosity < 0;
    match config.output {
        crate::cli::Output::Json => std::sync::Arc::new(view::Json { quiet, demo }),
        crate::cli::Output::Text => std::sync::Arc::new(view::Human {
            paint: text::Paint {
                color: config.color,
            },
            quiet,
        }),
    }
}

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
