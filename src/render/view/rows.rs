//! What `-o table` and `-o tsv` list for each command, as az's table
//! transformers do: rows made from the very JSON document `-o json` prints
//! (one source of truth), each row an object whose keys are its columns.

use serde_json::{Map, Value};

use crate::target::Target;

/// Which list of its document a command shows, one row per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// check: the findings (target, problem, fix, title).
    Findings,
    /// check of a fleet: the machines (name, resource group, subscription,
    /// verdict, problems).
    Machines,
    /// plan, apply: the steps (target, step, fix, status, description).
    Steps,
    /// rules: the known problems.
    Rules,
    /// explain: the matches, most specific first.
    Matches,
    /// demo: the steps its apply took, with how each ended.
    Demo,
    /// demo --list: the built-in scenarios.
    Scenarios,
    /// demo --serve: the environment that points arcfix at the simulator.
    Environment,
    /// policy show: the definitions (name, default effect, remediation roles).
    Policies,
    /// policy status: the machines not compliant (name, resource group, definitions, id).
    PolicyStatus,
}

/// A command's rows, and the order of their columns.
pub struct Listing {
    /// A list of objects whose keys are the columns' names.
    pub rows: Value,
    pub columns: Vec<String>,
}

impl Rows {
    /// The rows of `doc`, the command's JSON document.
    pub fn of(self, doc: &Value) -> Listing {
        match self {
            Rows::Findings => findings(doc),
            Rows::Machines => machines(doc),
            Rows::Steps => steps(doc),
            Rows::Rules => table(
                list(doc, "rules"),
                &["Problem", "Side", "Fix", "Title"],
                |r| {
                    vec![
                        text(r, "id"),
                        text(r, "side"),
                        fix(r["automatic"].as_bool()),
                        text(r, "title"),
                    ]
                },
            ),
            Rows::Matches => table(list(doc, "matches"), &["Problem", "Title"], |m| {
                vec![text(m, "id"), text(m, "title")]
            }),
            Rows::Demo => steps(&doc["applied"]),
            Rows::Scenarios => table(
                list(doc, "scenarios"),
                &["Name", "Machines", "Description"],
                |s| {
                    vec![
                        text(s, "name"),
                        list(s, "machines").len().to_string(),
                        text(s, "description"),
                    ]
                },
            ),
            Rows::PolicyStatus => table(
                list(doc, "non_compliant"),
                &["Name", "ResourceGroup", "Definitions", "Id"],
                |r| {
                    let d: Vec<String> = list(r, "definitions")
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect();
                    vec![
                        text(r, "name"),
                        text(r, "resource_group"),
                        d.join(", "),
                        text(r, "id"),
                    ]
                },
            ),
            Rows::Policies => table(
                list(doc, "rules"),
                &["Definition", "Effect", "Roles"],
                |r| {
                    let roles: Vec<String> =
                        list(r, "roles").iter().map(|x| text(x, "name")).collect();
                    vec![
                        text(r, "definition"),
                        list(r, "effects")
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        roles.join(", "),
                    ]
                },
            ),
            Rows::Environment => {
                let vars: Vec<Value> = doc["environment"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                    .collect();
                table(&vars, &["Variable", "Value"], |v| {
                    vec![text(v, "name"), text(v, "value")]
                })
            }
        }
    }
}

/// The failed reads of a check, plan or apply document that its rows do not
/// show (a machine's own error is in its row): said on stderr beside a
/// table, since they make the run exit 1.
pub fn unread(doc: &Value) -> Vec<String> {
    let machine_errors: Vec<&str> = list(doc, "machines")
        .iter()
        .filter_map(|m| m["error"].as_str())
        .flat_map(|e| e.split("; "))
        .collect();
    // As a machine's error, or as it, after the machine's name.
    let shown = |reason: &str| {
        machine_errors
            .iter()
            .any(|e| reason == *e || reason.ends_with(&format!(": {e}")))
    };
    list(doc, "not_checked")
        .iter()
        .filter(|n| n["error"].as_bool() == Some(true))
        .filter(|n| !shown(n["reason"].as_str().unwrap_or_default()))
        .map(|n| format!("{} not checked: {}", text(n, "side"), text(n, "reason")))
        .collect()
}

/// check: one row per finding.
fn findings(doc: &Value) -> Listing {
    table(
        list(doc, "findings"),
        &["Target", "Problem", "Fix", "Title"],
        |f| {
            vec![
                name(f["target"].as_str().unwrap_or_default()),
                text(f, "id"),
                text(f, "fix"),
                text(f, "title"),
            ]
        },
    )
}

/// A fleet's check: one row per machine, after one for this machine when
/// something was found on it; an `Error` column when a machine could not be
/// read.
fn machines(doc: &Value) -> Listing {
    let mut columns = vec![
        "Name",
        "ResourceGroup",
        "Subscription",
        "Status",
        "Problems",
    ];
    let machines = list(doc, "machines");
    if machines.iter().any(|m| m["error"].is_string()) {
        columns.push("Error");
    }
    let local: Vec<&str> = list(doc, "findings")
        .iter()
        .filter(|f| f["target"] == "local")
        .filter_map(|f| f["id"].as_str())
        .collect();
    let mut rows = Vec::new();
    if !local.is_empty() {
        rows.push(vec![
            "local".to_string(),
            String::new(),
            String::new(),
            "problems".to_string(),
            local.join(", "),
            String::new(),
        ]);
    }
    for m in machines {
        let id = m["id"].as_str().unwrap_or_default();
        let (name, group, subscription) = match Target::parse(id) {
            Ok(Target::Machine(m)) => (m.name, m.resource_group, m.subscription),
            _ => (id.to_string(), String::new(), String::new()),
        };
        let problems: Vec<&str> = list(m, "findings")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        rows.push(vec![
            name,
            group,
            subscription,
            text(m, "status"),
            problems.join(", "),
            text(m, "error"),
        ]);
    }
    listing(&columns, rows)
}

/// plan and apply: one row per step.
fn steps(doc: &Value) -> Listing {
    table(
        list(doc, "steps"),
        &["Target", "Step", "Fix", "Status", "Description"],
        |s| {
            vec![
                name(s["target"].as_str().unwrap_or_default()),
                text(s, "id"),
                fix(s["automatic"].as_bool()),
                text(s, "status"),
                text(s, "description"),
            ]
        },
    )
}

/// A row per item of `items`, its cells made by `cells` in the columns' order.
fn table(items: &[Value], columns: &[&str], cells: impl Fn(&Value) -> Vec<String>) -> Listing {
    listing(columns, items.iter().map(cells).collect())
}

/// Rows of cells as objects keyed by `columns` (extra cells are dropped).
fn listing(columns: &[&str], rows: Vec<Vec<String>>) -> Listing {
    let rows = rows
        .into_iter()
        .map(|cells| {
            let row: Map<String, Value> = columns
                .iter()
                .zip(cells)
                .map(|(c, v)| (c.to_string(), Value::String(v)))
                .collect();
            Value::Object(row)
        })
        .collect();
    Listing {
        rows: Value::Array(rows),
        columns: columns.iter().map(|c| c.to_string()).collect(),
    }
}

/// The list under `key`, or none.
fn list<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The text under `key`, or nothing.
fn text(item: &Value, key: &str) -> String {
    item[key].as_str().unwrap_or_default().to_string()
}

/// How a step or a problem is fixed: by arcfix, or by a person.
fn fix(automatic: Option<bool>) -> String {
    match automatic {
        Some(true) => "auto",
        Some(false) => "manual",
        None => "",
    }
    .to_string()
}

/// A target as a column shows it: a machine by its name, anything else
/// (`local`, a subscription) as the document writes it.
fn name(target: &str) -> String {
    match Target::parse(target) {
        Ok(Target::Machine(m)) => m.name,
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const WEB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-web/providers/Microsoft.HybridCompute/machines/web-01";
    const DB: &str = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-db/providers/Microsoft.HybridCompute/machines/db-01";

    fn table(rows: Rows, doc: &Value) -> String {
        let l = rows.of(doc);
        crate::render::az::table(&l.rows, &l.columns).unwrap()
    }

    #[test]
    fn findings_name_their_machine_and_how_they_are_fixed() {
        let doc = json!({"findings": [
            {"id": "login-role-missing", "target": WEB, "title": "No login role", "fix": "manual"},
            {"id": "proxy-not-executable", "target": "local", "title": "Proxy not executable", "fix": "auto"},
        ]});
        assert_eq!(
            table(Rows::Findings, &doc),
            "Target    Problem               Fix     Title\n\
             --------  --------------------  ------  --------------------\n\
             web-01    login-role-missing    manual  No login role\n\
             local     proxy-not-executable  auto    Proxy not executable\n"
        );
    }

    #[test]
    fn a_fleet_is_a_row_per_machine_with_its_verdict() {
        let doc = json!({
            "findings": [{"id": "proxy-not-executable", "target": "local"}],
            "machines": [
                {"id": WEB, "status": "problems", "findings": ["rp-not-registered", "login-role-missing"]},
                {"id": DB, "status": "error", "findings": [], "error": "403 AuthorizationFailed"},
            ],
        });
        let l = Rows::Machines.of(&doc);
        assert_eq!(
            crate::render::az::tsv(&l.rows, &l.columns),
            "local\t\t\tproblems\tproxy-not-executable\t\n\
             web-01\trg-web\t00000000-0000-0000-0000-000000000001\tproblems\trp-not-registered, login-role-missing\t\n\
             db-01\trg-db\t00000000-0000-0000-0000-000000000002\terror\t\t403 AuthorizationFailed\n"
        );
        let healthy = json!({"machines": [{"id": WEB, "status": "healthy", "findings": []}]});
        assert_eq!(
            Rows::Machines.of(&healthy).columns,
            [
                "Name",
                "ResourceGroup",
                "Subscription",
                "Status",
                "Problems"
            ]
        );
    }

    #[test]
    fn steps_say_whether_arcfix_or_a_person_does_them() {
        let doc = json!({"steps": [
            {"id": "register", "target": "/subscriptions/00000000-0000-0000-0000-000000000001",
             "automatic": true, "status": "applied", "description": "Register the provider"},
            {"id": "grant", "target": WEB, "automatic": false, "status": "manual",
             "description": "Grant the login role"},
        ]});
        let l = Rows::Steps.of(&doc);
        assert_eq!(
            crate::render::az::tsv(&l.rows, &l.columns),
            "/subscriptions/00000000-0000-0000-0000-000000000001\tregister\tauto\tapplied\tRegister the provider\n\
             web-01\tgrant\tmanual\tmanual\tGrant the login role\n"
        );
        assert_eq!(
            Rows::Demo.of(&json!({"applied": doc})).rows,
            l.rows,
            "the demo lists the steps its apply took"
        );
    }

    #[test]
    fn no_rows_for_an_empty_document() {
        for rows in [
            Rows::Findings,
            Rows::Machines,
            Rows::Steps,
            Rows::Rules,
            Rows::Matches,
        ] {
            let l = rows.of(&json!({}));
            assert_eq!(l.rows, json!([]), "{rows:?}");
            assert_eq!(crate::render::az::table(&l.rows, &l.columns).unwrap(), "");
        }
    }

    #[test]
    fn rules_and_matches_from_their_documents() {
        let rules = Rows::Rules.of(&crate::explain::rules_json());
        let first = &rules.rows[0];
        assert_eq!(first["Problem"], "client-binaries-missing");
        assert_eq!(first["Side"], "client");
        assert!(
            first["Fix"] == "auto" || first["Fix"] == "manual",
            "{first}"
        );
        let explanation = crate::explain::explanation("Code: NoRegisteredProviderFound");
        let l = Rows::Matches.of(&crate::explain::render_json(&explanation));
        assert_eq!(l.rows[0]["Problem"], "rp-not-registered");
        assert_eq!(l.columns, ["Problem", "Title"]);
    }

    /// The views take the plan's JSON document and print its rows, and
    /// nothing else on stdout.
    #[test]
    fn check_plan_and_apply_print_their_rows() {
        use super::super::Format;
        use super::super::fixtures::{document, one_step};
        use crate::view::{ApplyView, CheckView, Ending, PlanView};
        let (view, printed, said) = document(Format::Table, None);
        CheckView::findings(&view, &one_step("planned")).unwrap();
        assert_eq!(
            printed.text(),
            "Target    Problem                  Fix    Title\n\
             --------  -----------------------  -----  ----------------------------------------------\n\
             web-01    provider-not-registered  auto   Microsoft.HybridConnectivity is not registered\n"
        );
        assert_eq!(said.text(), "");
        let (view, printed, _) = document(Format::Tsv, None);
        PlanView::plan(&view, &one_step("planned")).unwrap();
        assert_eq!(
            printed.text(),
            "web-01\tregister-hybridconnectivity\tauto\tplanned\tRegister Microsoft.HybridConnectivity\n"
        );
        let (view, printed, _) = document(Format::Tsv, None);
        view.before_apply(&one_step("planned")).unwrap();
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        assert_eq!(
            printed.text(),
            "web-01\tregister-hybridconnectivity\tauto\tapplied\tRegister Microsoft.HybridConnectivity\n",
            "once, after the run"
        );
        let (view, printed, _) = document(Format::Tsv, Some("steps[].status"));
        view.summary(&one_step("applied"), Ending::default())
            .unwrap();
        assert_eq!(printed.text(), "applied\n");
    }

    #[test]
    fn failed_reads_not_shown_in_a_machine_row_are_said() {
        let doc = json!({
            "machines": [{"id": DB, "status": "error", "findings": [], "error": "403 denied"}],
            "not_checked": [
                {"side": "azure", "reason": "db-01: 403 denied", "error": true},
                {"side": "azure", "reason": "subscription 2 could not be listed", "error": true},
                {"side": "server", "reason": "not asked for (--remote)"},
            ],
        });
        assert_eq!(
            unread(&doc),
            ["azure not checked: subscription 2 could not be listed"]
        );
    }
}
