//! `--query`: a JMESPath expression applied to the command's JSON document,
//! as in az; its result printed as JSON, or as az prints a query result
//! with `-o table` and `-o tsv`.

use jmespath::ast::Ast;
use serde_json::Value;

use super::Format;
use crate::config::Query;
use crate::error::{Error, Result};

/// What `query` makes of `doc`, printed as `format` says; nothing when it
/// selects nothing (null), as az prints nothing then.
pub fn printed(query: &Query, doc: &Value, format: Format) -> Result<String> {
    let expression = query.expression();
    let result = expression.search(doc).map_err(|e| {
        Error::Usage(format!(
            "--query '{}' cannot be applied to the document: {}",
            expression.as_str(),
            e.reason
        ))
    })?;
    let result = serde_json::to_value(&*result)
        .map_err(|e| Error::Internal(format!("the query's result is not JSON: {e}")))?;
    if result.is_null() {
        return Ok(String::new());
    }
    let order = columns(expression.as_ast());
    Ok(match format {
        Format::Json => super::pretty(&result),
        Format::Table => crate::render::az::table(&result, &order).map_err(|_| {
            Error::Usage(format!(
                "-o table cannot show the result of --query '{}': it has no value to put in a column, only nested lists or objects (pick values, e.g. --query 'machines[].{{name: id, status: status}}', or use -o json)",
                expression.as_str()
            ))
        })?,
        Format::Tsv => crate::render::az::tsv(&result, &order),
        // `config` refuses `--query` beside `-o html` (said there, once).
        Format::Html => {
            return Err(Error::Internal(
                "--query reached the view beside -o html".into(),
            ));
        }
    })
}

/// The keys of the object the expression builds for each item of its
/// result (`[].{Name: name, Status: status}`), in the order written: az
/// keeps that order in its columns, while the result's objects come back
/// with their keys sorted.
fn columns(ast: &Ast) -> Vec<String> {
    match ast {
        Ast::MultiHash { elements, .. } => elements.iter().map(|kv| kv.key.clone()).collect(),
        Ast::Projection { rhs, .. } | Ast::Subexpr { rhs, .. } => columns(rhs),
        Ast::Condition { then, .. } => columns(then),
        Ast::Flatten { node, .. } => columns(node),
        Ast::Or { lhs, rhs, .. } | Ast::And { lhs, rhs, .. } => {
            let left = columns(lhs);
            if left.is_empty() { columns(rhs) } else { left }
        }
        // sort_by(list, &key), reverse(list), …: the list's objects.
        Ast::Function { args, .. } => args.first().map(columns).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query(text: &str) -> Query {
        Query::compile(text).unwrap()
    }

    fn doc() -> Value {
        json!({
            "findings": [
                {"id": "rp-not-registered", "fix": "auto", "target": "/subscriptions/1"},
                {"id": "login-role-missing", "fix": "manual", "target": "local"},
            ],
            "machines": [],
        })
    }

    #[test]
    fn the_columns_keep_the_order_the_query_wrote() {
        let q = query("findings[].{Target: target, Problem: id, Fix: fix}");
        assert_eq!(
            printed(&q, &doc(), Format::Table).unwrap(),
            "Target            Problem             Fix\n\
             ----------------  ------------------  ------\n\
             /subscriptions/1  rp-not-registered   auto\n\
             local             login-role-missing  manual\n"
        );
        assert_eq!(
            printed(&q, &doc(), Format::Tsv).unwrap(),
            "/subscriptions/1\trp-not-registered\tauto\nlocal\tlogin-role-missing\tmanual\n"
        );
        let sorted = query("sort_by(findings[].{Z: id, A: fix}, &Z)");
        assert_eq!(
            printed(&sorted, &doc(), Format::Tsv).unwrap(),
            "login-role-missing\tmanual\nrp-not-registered\tauto\n"
        );
    }

    #[test]
    fn a_result_is_json_unless_a_table_or_tsv_is_asked_for() {
        let q = query("findings[].id");
        assert_eq!(
            printed(&q, &doc(), Format::Json).unwrap(),
            "[\n  \"rp-not-registered\",\n  \"login-role-missing\"\n]\n"
        );
        assert_eq!(
            printed(&q, &doc(), Format::Tsv).unwrap(),
            "rp-not-registered\nlogin-role-missing\n"
        );
        assert_eq!(
            printed(&query("length(findings)"), &doc(), Format::Tsv).unwrap(),
            "2\n"
        );
    }

    #[test]
    fn nothing_selected_prints_nothing() {
        for format in [Format::Json, Format::Table, Format::Tsv] {
            assert_eq!(printed(&query("nothing"), &doc(), format).unwrap(), "");
        }
        assert_eq!(
            printed(&query("machines"), &doc(), Format::Json).unwrap(),
            "[]\n"
        );
    }

    #[test]
    fn a_query_that_fails_on_the_document_is_a_usage_error() {
        let e = printed(&query("length(nothing)"), &doc(), Format::Json).unwrap_err();
        assert_eq!(e.exit_code().code(), 64);
        assert!(e.to_string().contains("length(nothing)"), "{e}");
        let e = printed(&query("{a: findings}"), &doc(), Format::Table).unwrap_err();
        assert_eq!(e.exit_code().code(), 64);
        assert!(e.to_string().contains("no value to put in a column"), "{e}");
    }
}
