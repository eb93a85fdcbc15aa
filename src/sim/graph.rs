//! Azure Resource Graph over the simulated machines. Not KQL: the few query
//! forms a client sends (`where` on columns, `project`, `extend`, `order by`,
//! `limit`) are pattern-matched; anything else is refused with 400 so a client
//! learns at once that the simulator cannot answer it.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::sim::arm::{Ctx, method_not_allowed};
use crate::sim::reply::{ArmError, ArmResult, Reply};
use crate::sim::token::{base64url_decode, base64url_encode};
use crate::sim::world::World;

enum Stage {
    Where(Vec<Condition>),
    Project(Vec<(String, String)>),
    Extend(Vec<(String, String)>),
    Limit(usize),
    Order { expr: String, descending: bool },
}

struct Condition {
    expr: String,
    op: String,
    values: Vec<String>,
}

fn bad_query(detail: impl Into<String>) -> ArmError {
    ArmError::bad_request("BadRequest", "Please provide below info when asking for support: timestamp, correlation id.")
        .detail(json!({
            "code": "InvalidQuery",
            "message": "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying."
        }))
        .detail(json!({"code": "ParserFailure", "message": detail.into()}))
}

pub(crate) fn query(world: &mut World, ctx: &Ctx) -> ArmResult {
    if ctx.method() != "POST" {
        return Err(method_not_allowed(ctx.method()));
    }
    if world.graph_refused {
        return Err(ArmError::new(
            403,
            "AuthorizationFailed",
            "The client does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read' over scope '/providers/Microsoft.ResourceGraph' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        ));
    }
    let body = ctx.body().cloned().unwrap_or(Value::Null);
    let text = body.get("query").and_then(Value::as_str).ok_or_else(|| {
        ArmError::bad_request("BadRequest", "The request body must have a 'query' string.")
    })?;
    let stages = parse(text)?;
    let lazy = lazy_from(&stages);
    let options = body.get("options").cloned().unwrap_or(Value::Null);
    let top = match options.get("$top") {
        None | Some(Value::Null) => 100,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ArmError::bad_request("BadRequest", "options.$top must be between 1 and 1000.")
            })? as usize,
    };
    let skip = options.get("$skip").and_then(Value::as_u64).unwrap_or(0) as usize;
    let start = match options.get("$skipToken").and_then(Value::as_str) {
        Some(t) => decode_token(t)
            .ok_or_else(|| ArmError::bad_request("BadRequest", "The $skipToken is not valid."))?,
        None => skip,
    };
    let wanted_subs: Option<Vec<String>> =
        body.get("subscriptions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect()
            });

    // A continuation reads the snapshot its first page was cut from (as
    // Resource Graph pages one result set), not the world evaluated again.
    let key = format!("{}|{text}|{wanted_subs:?}", ctx.caller.oid);
    let continued = options.get("$skipToken").is_some();
    let snapshot = world
        .graph_snapshot
        .as_ref()
        .filter(|(k, _, _)| continued && *k == key)
        .map(|(_, rows, has_id)| (rows.clone(), *has_id));
    let (rows, has_id) = match snapshot {
        Some(s) => s,
        None => {
            let mut rows: Vec<Map<String, Value>> = Vec::new();
            // Whether the caller may read, asked once per resource group
            // when no role is assigned below one (a fleet of 100,000 is
            // answered in a moment, as Resource Graph answers it).
            let mut group_reads: std::collections::HashMap<(usize, usize), Option<bool>> =
                Default::default();
            for at in world.all_machines() {
                // The query asks for HybridCompute machines only.
                if world.machine(at).kind != crate::sim::route::ArcType::Machine {
                    continue;
                }
                let id = world.machine_id(at);
                let sub = &world.subs[at.0];
                if wanted_subs
                    .as_ref()
                    .is_some_and(|w| !w.contains(&sub.id.to_ascii_lowercase()))
                {
                    continue;
                }
                // Resource Graph shows only what the caller may read.
                let may_read = |scope: &str| {
                    ctx.require(world, "Microsoft.HybridCompute/machines/read", scope)
                        .is_ok()
                };
                // `None`: a role is assigned below the group, each machine is asked.
                let of_group = *group_reads.entry((at.0, at.1)).or_insert_with(|| {
                    let group = format!(
                        "/subscriptions/{}/resourceGroups/{}",
                        sub.id, sub.rgs[at.1].name
                    );
                    let below = world.assignments.iter().any(|a| {
                        a.scope.len() > group.len() && crate::sim::authz::covers(&group, &a.scope)
                    });
                    (!below).then(|| may_read(&group))
                });
                let readable = of_group.unwrap_or_else(|| may_read(&id));
                if !readable {
                    continue;
                }
                let m = if lazy < stages.len() {
                    Value::Null
                } else {
                    world.machine_json(at, false)
                };
                let mut row = Map::new();
                row.insert("id".into(), json!(id));
                row.insert("name".into(), json!(world.machine(at).name));
                row.insert("type".into(), json!("microsoft.hybridcompute/machines"));
                row.insert("tenantId".into(), json!(world.tenant));
                row.insert("kind".into(), json!(""));
                row.insert("location".into(), json!(world.machine(at).location));
                row.insert(
                    "resourceGroup".into(),
                    json!(sub.rgs[at.1].name.to_ascii_lowercase()),
                );
                row.insert("subscriptionId".into(), json!(sub.id));
                row.insert("managedBy".into(), json!(""));
                row.insert("sku".into(), Value::Null);
                row.insert("plan".into(), Value::Null);
                row.insert("properties".into(), m["properties"].clone());
                row.insert("tags".into(), json!(world.machine(at).tags));
                row.insert("identity".into(), m["identity"].clone());
                if lazy < stages.len() {
                    // Made when its page is sent.
                    row.insert(AT.into(), json!([at.0, at.1, at.2]));
                }
                row.insert("zones".into(), Value::Null);
                row.insert("extendedLocation".into(), Value::Null);
                rows.push(row);
            }
            // Rows of machines ARM deleted a moment ago, still in Resource Graph's index.
            for id in &world.graph_ghosts {
                let parts: Vec<&str> = id.split('/').collect();
                let (Some(sub), Some(rg), Some(name)) = (parts.get(2), parts.get(4), parts.get(8))
                else {
                    continue;
                };
                if wanted_subs
                    .as_ref()
                    .is_some_and(|w| !w.contains(&sub.to_ascii_lowercase()))
                {
                    continue;
                }
                let row = json!({
                    "id": id, "name": name, "type": "microsoft.hybridcompute/machines",
                    "tenantId": world.tenant, "kind": "", "location": "eastus",
                    "resourceGroup": rg.to_ascii_lowercase(), "subscriptionId": sub,
                    "managedBy": "", "sku": null, "plan": null,
                    "properties": {"status": "Connected", "osType": "linux", "agentVersion": "1.50.02880.1760",
                                   "agentConfiguration": {"incomingConnectionsPorts": ["22"]}},
                    "tags": {}, "identity": null, "zones": null, "extendedLocation": null,
                });
                if let Value::Object(row) = row {
                    rows.push(row);
                }
            }
            for stage in &stages[..lazy] {
                rows = match stage {
                    Stage::Where(conds) => rows
                        .into_iter()
                        .filter(|r| conds.iter().all(|c| holds(c, r)))
                        .collect(),
                    Stage::Project(_) | Stage::Extend(_) => each_row(stage, rows),
                    Stage::Limit(n) => rows.into_iter().take(*n).collect(),
                    Stage::Order { expr, descending } => {
                        let mut rows = rows;
                        rows.sort_by_key(|r| text_of(&eval(expr, r)).to_ascii_lowercase());
                        if *descending {
                            rows.reverse();
                        }
                        rows
                    }
                };
            }
            let has_id = has_id(&stages);
            let rows = std::sync::Arc::new(rows);
            world.graph_snapshot = Some((key, rows.clone(), has_id));
            (rows, has_id)
        }
    };
    let total = rows.len();
    let top = world.graph_page_size.map_or(top, |n| top.min(n.max(1)));
    let end = start.saturating_add(top).min(total);
    let mut page: Vec<Map<String, Value>> = rows.get(start..end).unwrap_or_default().to_vec();
    if lazy < stages.len() {
        for row in &mut page {
            made_whole(world, row);
        }
        for stage in &stages[lazy..] {
            page = each_row(stage, page);
        }
    }
    let page: Vec<Value> = page.into_iter().map(Value::Object).collect();
    let more = end < total;
    let format = options
        .get("resultFormat")
        .and_then(Value::as_str)
        .unwrap_or("objectArray");
    let data = if format.eq_ignore_ascii_case("table") {
        as_table(&page)
    } else {
        Value::Array(page.clone())
    };
    let mut out = json!({
        "totalRecords": total + world.graph_overcount,
        "count": page.len(),
        // Without `id` in the projection Resource Graph cannot page: it truncates.
        "resultTruncated": if more && !has_id { "true" } else { "false" },
        "data": data,
        "facets": [],
    });
    if more && has_id {
        out["$skipToken"] = json!(encode_token(end));
    }
    let remaining = world.graph_quota_take();
    Ok(Reply::ok(out)
        .header("x-ms-user-quota-remaining", remaining.to_string())
        .header("x-ms-user-quota-resets-after", "00:00:05"))
}

/// The column that holds, until its page is sent, where a row's machine is.
const AT: &str = "__arcfix_sim_at";

/// Where the stages that only map rows one by one (`project`, `extend`) at
/// the end of the query begin, when no stage before them reads a machine's
/// `properties` or `identity`: those are then made for the rows of the page
/// sent only (a fleet of 100,000 machines is counted and its first page
/// answered in a moment, as Resource Graph answers it). Else the end.
fn lazy_from(stages: &[Stage]) -> usize {
    let mut k = stages.len();
    while k > 0 && matches!(stages[k - 1], Stage::Project(_) | Stage::Extend(_)) {
        k -= 1;
    }
    let heavy = |e: &str| {
        let e = e.to_ascii_lowercase();
        e.contains("properties") || e.contains("identity")
    };
    let reads_heavy = stages[..k].iter().any(|s| match s {
        Stage::Where(conds) => conds.iter().any(|c| heavy(&c.expr)),
        Stage::Order { expr, .. } => heavy(expr),
        Stage::Project(items) | Stage::Extend(items) => items.iter().any(|(_, e)| heavy(e)),
        Stage::Limit(_) => false,
    });
    if reads_heavy { stages.len() } else { k }
}

/// Whether the rows keep their `id` (the last `project` names it, or none
/// projects): without it Resource Graph cannot page.
fn has_id(stages: &[Stage]) -> bool {
    stages
        .iter()
        .rev()
        .find_map(|s| match s {
            Stage::Project(items) => Some(items.iter().any(|(name, _)| name == "id")),
            _ => None,
        })
        .unwrap_or(true)
}

/// `project` or `extend` on each row.
fn each_row(stage: &Stage, rows: Vec<Map<String, Value>>) -> Vec<Map<String, Value>> {
    match stage {
        Stage::Project(items) => rows
            .iter()
            .map(|r| items.iter().map(|(n, e)| (n.clone(), eval(e, r))).collect())
            .collect(),
        Stage::Extend(items) => rows
            .into_iter()
            .map(|mut r| {
                for (n, e) in items {
                    let v = eval(e, &r);
                    r.insert(n.clone(), v);
                }
                r
            })
            .collect(),
        _ => rows,
    }
}

/// A row listed without its machine's `properties` and `identity`, given
/// them now; a machine gone since the listing began keeps none.
fn made_whole(world: &World, row: &mut Map<String, Value>) {
    let Some(Value::Array(at)) = row.remove(AT) else {
        return;
    };
    let n = |i: usize| at.get(i).and_then(Value::as_u64).map(|n| n as usize);
    let (Some(s), Some(g), Some(m)) = (n(0), n(1), n(2)) else {
        return;
    };
    let there = world
        .subs
        .get(s)
        .and_then(|sub| sub.rgs.get(g))
        .is_some_and(|rg| m < rg.machines.len());
    let at = crate::sim::world::MachineAt(s, g, m);
    let same = there
        && row
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| id.eq_ignore_ascii_case(&world.machine_id(at)));
    if !same {
        return;
    }
    let mut m = world.machine_json(at, false);
    row.insert("properties".into(), m["properties"].take());
    row.insert("identity".into(), m["identity"].take());
}

fn encode_token(offset: usize) -> String {
    base64url_encode(
        json!({"arcfix-sim": "resourcegraph", "offset": offset})
            .to_string()
            .as_bytes(),
    )
}

fn decode_token(token: &str) -> Option<usize> {
    let v: Value = serde_json::from_slice(&base64url_decode(token)?).ok()?;
    v.get("offset")?.as_u64().map(|n| n as usize)
}

fn as_table(rows: &[Value]) -> Value {
    let columns: Vec<String> = rows
        .first()
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let kind = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        _ => "object",
    };
    let first = rows.first().cloned().unwrap_or(Value::Null);
    json!({
        "columns": columns.iter().map(|c| json!({"name": c, "type": kind(&first[c])})).collect::<Vec<_>>(),
        "rows": rows.iter().map(|r| columns.iter().map(|c| r[c].clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}

/// Splits on `sep` outside quotes and parentheses.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut depth, mut quote) = (0i32, None::<char>);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn parse(text: &str) -> Result<Vec<Stage>, ArmError> {
    let parts = split_top(text, '|');
    let table = parts[0].trim();
    if !table.eq_ignore_ascii_case("resources") {
        return Err(bad_query(format!(
            "arcfix-sim serves the 'resources' table only (query starts with '{table}')"
        )));
    }
    static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)^\s*(where|project|extend|limit|take|order\s+by|sort\s+by)\b\s*(.*?)\s*$")
            .unwrap()
    });
    parts[1..]
        .iter()
        .map(|part| {
            let caps = KEYWORD
                .captures(part)
                .ok_or_else(|| bad_query(format!("arcfix-sim cannot run '{}'", part.trim())))?;
            let rest = caps[2].to_string();
            Ok(
                match caps[1]
                    .to_ascii_lowercase()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                {
                    "where" => Stage::Where(conditions(&rest)?),
                    "project" => Stage::Project(columns(&rest)?),
                    "extend" => Stage::Extend(columns(&rest)?),
                    "limit" | "take" => Stage::Limit(
                        rest.trim()
                            .parse()
                            .map_err(|_| bad_query(format!("'{rest}' is not a row count")))?,
                    ),
                    _ => {
                        let mut words = rest.split_whitespace();
                        let expr = words
                            .next()
                            .ok_or_else(|| bad_query("order by needs a column"))?
                            .to_string();
                        // KQL sorts descending unless told otherwise.
                        let descending =
                            !words.next().is_some_and(|w| w.eq_ignore_ascii_case("asc"));
                        Stage::Order { expr, descending }
                    }
                },
            )
        })
        .collect()
}

fn columns(text: &str) -> Result<Vec<(String, String)>, ArmError> {
    split_top(text, ',')
        .iter()
        .map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return Err(bad_query("empty column in project"));
            }
            Ok(match item.split_once('=') {
                Some((name, expr)) => (name.trim().to_string(), expr.trim().to_string()),
                None => {
                    let inner = unwrap_calls(item);
                    let name = inner.rsplit('.').next().unwrap_or(inner).to_string();
                    (name, item.to_string())
                }
            })
        })
        .collect()
}

fn conditions(text: &str) -> Result<Vec<Condition>, ArmError> {
    static AND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\s+and\s+").unwrap());
    static OR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\s+or\s+").unwrap());
    static COND: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)^\s*(.+?)\s*(=~|==|!=|!~|\s!?contains(?:_cs)?\s|\sstartswith\s|\s!?has\s|\s!?in~?\s)\s*(.+?)\s*$")
            .unwrap()
    });
    static LITERAL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"'([^']*)'|"([^"]*)""#).unwrap());
    if OR.is_match(text) {
        return Err(bad_query("arcfix-sim cannot run 'or' in where"));
    }
    AND.split(text)
        .map(|cond| {
            let caps = COND
                .captures(cond)
                .ok_or_else(|| bad_query(format!("arcfix-sim cannot run 'where {cond}'")))?;
            let values: Vec<String> = LITERAL
                .captures_iter(&caps[3])
                .map(|c| {
                    c.get(1)
                        .or_else(|| c.get(2))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default()
                })
                .collect();
            if values.is_empty() {
                return Err(bad_query(format!(
                    "arcfix-sim compares with quoted strings only: '{cond}'"
                )));
            }
            Ok(Condition {
                expr: caps[1].to_string(),
                op: caps[2].trim().to_ascii_lowercase(),
                values,
            })
        })
        .collect()
}

fn unwrap_calls(expr: &str) -> &str {
    let mut e = expr.trim();
    while let Some(open) = e.find('(')
        && e.ends_with(')')
    {
        e = e[open + 1..e.len() - 1].trim();
    }
    e
}

fn eval(expr: &str, row: &Map<String, Value>) -> Value {
    let e = expr.trim();
    let lower = e.to_ascii_lowercase();
    for (f, apply) in [
        (
            "tostring(",
            (|v: Value| json!(text_of(&v))) as fn(Value) -> Value,
        ),
        ("tolower(", |v| json!(text_of(&v).to_lowercase())),
        ("toupper(", |v| json!(text_of(&v).to_uppercase())),
    ] {
        if lower.starts_with(f) && e.ends_with(')') {
            return apply(eval(&e[f.len()..e.len() - 1], row));
        }
    }
    if let Some(s) = e.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return json!(s);
    }
    // Walked by reference: only the value found is copied (a fleet's rows
    // are many, and each is large).
    let mut keys = e.split('.');
    let Some(first) = keys.next() else {
        return Value::Null;
    };
    let mut cur: Option<&Value> = lookup(row, first);
    for key in keys {
        cur = match cur {
            Some(Value::Object(o)) => lookup(o, key),
            _ => None,
        };
    }
    cur.cloned().unwrap_or(Value::Null)
}

/// A column of a row, by its name or, failing that, without case.
fn lookup<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn holds(c: &Condition, row: &Map<String, Value>) -> bool {
    let v = text_of(&eval(&c.expr, row));
    let (vl, first) = (v.to_lowercase(), c.values[0].as_str());
    match c.op.as_str() {
        "==" => v == first,
        "!=" => v != first,
        "=~" => vl == first.to_lowercase(),
        "!~" => vl != first.to_lowercase(),
        "contains" | "has" => vl.contains(&first.to_lowercase()),
        "!contains" | "!has" => !vl.contains(&first.to_lowercase()),
        "contains_cs" => v.contains(first),
        "!contains_cs" => !v.contains(first),
        "startswith" => vl.starts_with(&first.to_lowercase()),
        "in" => c.values.contains(&v),
        "in~" => c.values.iter().any(|x| x.to_lowercase() == vl),
        "!in" => !c.values.contains(&v),
        "!in~" => !c.values.iter().any(|x| x.to_lowercase() == vl),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Stage, parse, split_top};

    #[test]
    fn queries_the_client_sends_parse() {
        let q = "resources | where type =~ 'microsoft.hybridcompute/machines' and resourceGroup in~ ('a', \"b\") \
                 | project id, name, status=tostring(properties.status), tolower(location) | order by name asc | limit 5";
        let stages = parse(q).ok().unwrap();
        assert_eq!(stages.len(), 4);
        match &stages[0] {
            Stage::Where(c) => {
                assert_eq!(c.len(), 2);
                assert_eq!(c[1].op, "in~");
                assert_eq!(c[1].values, ["a", "b"]);
            }
            _ => panic!("where first"),
        }
        match &stages[1] {
            Stage::Project(items) => {
                assert_eq!(
                    items[2],
                    (
                        "status".to_string(),
                        "tostring(properties.status)".to_string()
                    )
                );
                assert_eq!(items[3].0, "location");
            }
            _ => panic!("project second"),
        }
        assert!(parse("authorizationresources | limit 1").is_err());
        assert!(parse("resources | summarize count()").is_err());
        assert!(parse("resources | where name == 'a' or name == 'b'").is_err());
        assert_eq!(
            split_top("a, f(b, c), 'd,e'", ','),
            ["a", " f(b, c)", " 'd,e'"]
        );
    }
}
