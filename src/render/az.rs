//! The Azure CLI's output conventions (knack's `output.py`), for `-o table`
//! and `-o tsv`: a list is a row per item, anything else one row.
//!
//! - table: a header row of the columns' names, a row of dashes under it,
//!   then the rows, left aligned, two spaces between columns, each column at
//!   least two wider than its name (tabulate's "simple" format); an object's
//!   scalar values are its columns (null, nested lists and objects, and the
//!   keys `id`, `type` and `etag` are left out, the first letter of each key
//!   is capitalised), a list of scalars is `Column1`, `Column2`, …, a scalar
//!   `Result`; booleans read `True`/`False`.
//! - tsv: values only, tab-separated, one line per item, no header; in a row,
//!   null reads `None`, a boolean `True`/`False`, a nested list its length
//!   and a nested object nothing; a boolean alone `true`/`false`.
//!
//! az keeps the keys of an object in the order its query built them; the
//! columns' order comes in as `order` (names first in that order, the other
//! keys after them by name). Every value and name is printed through
//! `crate::text::sanitize`: a tab or a line break from Azure shows as `\t`
//! or `\n` and never splits a cell or a row.

use serde_json::{Map, Value};

/// Keys az's automatic table leaves out: long resource ids, types, etags.
const SKIP_KEYS: [&str; 3] = ["id", "type", "etag"];

/// The columns' separator, and how much wider than its name a column is.
const GAP: &str = "  ";
const MIN_PADDING: usize = 2;

/// The result has rows but nothing to show in a column (only nested values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoColumns;

/// `result` as az's table. Nothing at all for an empty list or null.
pub fn table(result: &Value, order: &[String]) -> Result<String, NoColumns> {
    let rows: Vec<Vec<(String, String)>> = items(result).map(|i| row(i, order)).collect();
    if rows.is_empty() {
        return Ok(String::new());
    }
    // The columns in the order they first appear (tabulate's headers="keys").
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in rows.iter().flatten() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(NoColumns);
    }
    let cell = |row: &[(String, String)], name: &str| -> String {
        row.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let grid: Vec<Vec<String>> = rows
        .iter()
        .map(|r| names.iter().map(|n| cell(r, n)).collect())
        .collect();
    let headers: Vec<String> = names.iter().map(|n| crate::text::sanitize(n)).collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(c, h)| {
            grid.iter()
                .map(|r| width(&r[c]))
                .fold(width(h) + MIN_PADDING, usize::max)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(width(c)))))
            .collect();
        out.push_str(padded.join(GAP).trim_end());
        out.push('\n');
    };
    line(headers);
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in grid {
        line(r);
    }
    Ok(out)
}

/// `result` as az's tsv. Nothing at all for an empty list or null.
pub fn tsv(result: &Value, order: &[String]) -> String {
    let mut out = String::new();
    for item in items(result) {
        let values: Vec<String> = match item {
            Value::Object(o) => ordered(o, order)
                .into_iter()
                .map(|(_, v)| tsv_value(v))
                .collect(),
            Value::Array(a) => a.iter().map(tsv_value).collect(),
            Value::Bool(b) => vec![b.to_string()],
            v => vec![tsv_value(v)],
        };
        out.push_str(&values.join("\t"));
        out.push('\n');
    }
    out
}

/// The items a result lists: a list's, or the result alone; none for null
/// (az prints nothing when a query selects nothing).
fn items(result: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match result {
        Value::Null => Box::new(std::iter::empty()),
        Value::Array(a) => Box::new(a.iter()),
        v => Box::new(std::iter::once(v)),
    }
}

/// One item's cells as az's automatic table makes them, sanitized.
fn row(item: &Value, order: &[String]) -> Vec<(String, String)> {
    match item {
        Value::Object(o) => ordered(o, order)
            .into_iter()
            .filter(|(k, _)| !SKIP_KEYS.contains(k))
            .filter_map(|(k, v)| scalar(v).map(|v| (capitalize(k), v)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("Column{}", i + 1), scalar(v).unwrap_or_default()))
            .collect(),
        v => vec![("Result".to_string(), scalar(v).unwrap_or_default())],
    }
}

/// A value as a table cell; `None` for what az leaves out of a row (null,
/// a nested list or object).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::Bool(b) => Some(python_bool(*b).to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(crate::text::sanitize(s)),
    }
}

/// A value in a tsv row, sanitized.
fn tsv_value(v: &Value) -> String {
    match v {
        Value::Null => "None".to_string(),
        Value::Bool(b) => python_bool(*b).to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => crate::text::sanitize(s),
        Value::Array(a) => a.len().to_string(),
        Value::Object(_) => String::new(),
    }
}

/// How Python prints a boolean, as az does inside a row.
fn python_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// An object's entries: the names of `order` first, in that order, then the
/// others by name.
fn ordered<'a>(o: &'a Map<String, Value>, order: &[String]) -> Vec<(&'a str, &'a Value)> {
    let mut out: Vec<(&str, &Value)> = order
        .iter()
        .filter_map(|k| o.get_key_value(k.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let mut rest: Vec<(&str, &Value)> = o
        .iter()
        .filter(|(k, _)| !order.contains(k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    out.extend(rest);
    out
}

/// `resourceGroup` → `ResourceGroup`, as az names a column, sanitized.
fn capitalize(key: &str) -> String {
    let mut chars = key.chars();
    let name = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    crate::text::sanitize(&name)
}

/// Columns a cell takes on a terminal (wide characters count twice).
fn width(s: &str) -> usize {
    console::measure_text_width(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_list_of_objects_is_a_table_with_a_dashed_header_and_left_aligned_cells() {
        let result = json!([
            {"name": "web-01", "resourceGroup": "rg-web", "count": 12},
            {"name": "db", "resourceGroup": "rg", "count": 3},
        ]);
        assert_eq!(
            table(&result, &names(&["name", "resourceGroup", "count"])).unwrap(),
            "Name    ResourceGroup    Count\n\
             ------  ---------------  -------\n\
             web-01  rg-web           12\n\
             db      rg               3\n"
        );
    }

    #[test]
    fn without_an_order_the_columns_go_by_name() {
        let result = json!([{"b": "2", "a": "1"}]);
        assert_eq!(table(&result, &[]).unwrap(), "A    B\n---  ---\n1    2\n");
        assert_eq!(tsv(&result, &[]), "1\t2\n");
        assert_eq!(tsv(&result, &names(&["b"])), "2\t1\n");
    }

    #[test]
    fn nothing_is_printed_for_an_empty_list_or_null() {
        for empty in [json!([]), Value::Null] {
            assert_eq!(table(&empty, &[]).unwrap(), "");
            assert_eq!(tsv(&empty, &[]), "");
        }
    }

    #[test]
    fn the_table_leaves_out_null_nested_values_and_ids_as_az_does() {
        let result = json!([
            {"id": "/subscriptions/x", "type": "t", "etag": "e", "name": "a",
             "tags": {"env": "prod"}, "ports": [22], "error": null, "ok": true},
            {"name": "b", "error": "denied", "ok": false},
        ]);
        assert_eq!(
            table(&result, &[]).unwrap(),
            "Name    Ok     Error\n\
             ------  -----  -------\n\
             a       True\n\
             b       False  denied\n"
        );
    }

    #[test]
    fn only_nested_values_leave_nothing_to_tabulate() {
        assert_eq!(table(&json!([{"tags": {}}]), &[]), Err(NoColumns));
        assert_eq!(table(&json!({}), &[]), Err(NoColumns));
    }

    #[test]
    fn scalars_lists_and_one_object_as_a_table() {
        assert_eq!(
            table(&json!(["a", "bb"]), &[]).unwrap(),
            "Result\n--------\na\nbb\n"
        );
        assert_eq!(
            table(&json!([["a", 1], ["b", 2]]), &[]).unwrap(),
            "Column1    Column2\n---------  ---------\na          1\nb          2\n"
        );
        assert_eq!(
            table(&json!({"status": "healthy"}), &[]).unwrap(),
            "Status\n--------\nhealthy\n"
        );
        assert_eq!(table(&json!(42), &[]).unwrap(), "Result\n--------\n42\n");
    }

    #[test]
    fn tsv_prints_values_as_az_does() {
        // Scalars one per line; a boolean alone lower case.
        assert_eq!(tsv(&json!(["web-01", "db-01"]), &[]), "web-01\ndb-01\n");
        assert_eq!(tsv(&json!(true), &[]), "true\n");
        assert_eq!(tsv(&json!(3), &[]), "3\n");
        // In a row: None, True, a list's length, nothing for an object.
        assert_eq!(
            tsv(
                &json!([{"a": null, "b": true, "c": [1, 2, 3], "d": {"x": 1}, "e": 1.5}]),
                &[]
            ),
            "None\tTrue\t3\t\t1.5\n"
        );
        assert_eq!(tsv(&json!([["a", null, false]]), &[]), "a\tNone\tFalse\n");
        assert_eq!(tsv(&json!({"n": "x", "m": "y"}), &[]), "y\tx\n");
    }

    #[test]
    fn a_tab_or_a_line_break_in_a_value_never_splits_a_cell_or_a_row() {
        let result = json!([{"name": "web\t01", "note": "line one\nline two\u{1b}[2J"}]);
        assert_eq!(
            tsv(&result, &names(&["name", "note"])),
            "web\\t01\tline one\\nline two\\u{1b}[2J\n"
        );
        let t = table(&result, &names(&["name", "note"])).unwrap();
        assert_eq!(t.lines().count(), 3, "{t}");
        assert!(
            t.ends_with("web\\t01  line one\\nline two\\u{1b}[2J\n"),
            "{t}"
        );
        let keys = json!([{"a\tb": "x"}]);
        assert_eq!(table(&keys, &[]).unwrap(), "A\\tb\n------\nx\n");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let result = json!([{"n": "漢字"}, {"n": "ab"}]);
        assert_eq!(table(&result, &[]).unwrap(), "N\n----\n漢字\nab\n");
    }
}
