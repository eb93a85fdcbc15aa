//! az's output conventions on the real binary, through pipes: `-o table` and
//! `-o tsv` (findings, a fleet's machines, steps, rules, matches) and
//! `--query` with a JMESPath expression over the JSON document.

use crate::azure::Azure;
use crate::harness::{Output, Sandbox};
use crate::hostile::hostile;

/// The `fleet` scenario's subscriptions (tests/fleet.rs).
const OWNED: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
const READ_ONLY: &str = "4a3e6d2f-9b5c-4d7e-8f1a-2b3c4d5e6f7a";

/// arcfix without Azure, in a sandbox.
fn arcfix(args: &[&str]) -> Output {
    Sandbox::new().cmd().args(args).run()
}

/// The lines of a tsv, each split at its tabs.
fn tsv(text: &str) -> Vec<Vec<&str>> {
    text.lines().map(|l| l.split('\t').collect()).collect()
}

#[test]
fn check_of_one_machine_as_a_table_and_as_tsv() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let args = ["check", "--checks", "azure", "--id", &id];
    let json = az.run(&[&args[..], &["-o", "json"]].concat());
    let table = az.run(&[&args[..], &["-o", "table"]].concat());
    // The same verdict, whatever the format.
    assert_eq!(table.status, json.status, "{table:?}");
    assert_eq!(table.status, 2, "{table:?}");
    let findings = json.json()["findings"].as_array().unwrap().clone();
    assert!(!findings.is_empty(), "{json:?}");
    let mut expected = String::new();
    let width = |key: &str, name: &str| {
        findings
            .iter()
            .map(|f| f[key].as_str().unwrap().chars().count())
            .max()
            .unwrap()
            .max(name.len() + 2)
    };
    let (w_id, w_title) = (width("id", "Problem"), width("title", "Title"));
    expected.push_str(&format!("Target    {:<w_id$}  Fix     Title\n", "Problem"));
    expected.push_str(&format!(
        "--------  {}  ------  {}\n",
        "-".repeat(w_id),
        "-".repeat(w_title)
    ));
    for f in &findings {
        expected.push_str(&format!(
            "web-01    {:<w_id$}  {:<6}  {}\n",
            f["id"].as_str().unwrap(),
            f["fix"].as_str().unwrap(),
            f["title"].as_str().unwrap()
        ));
    }
    assert_eq!(table.stdout, expected, "{table:?}");
    assert!(
        table.stdout.contains("web-01    login-role-missing"),
        "{table:?}"
    );

    let out = az.run(&[&args[..], &["-o", "tsv"]].concat());
    assert_eq!(out.status, 2, "{out:?}");
    let rows = tsv(&out.stdout);
    assert_eq!(rows.len(), findings.len(), "{out:?}");
    for (row, f) in rows.iter().zip(&findings) {
        assert_eq!(
            row,
            &[
                "web-01",
                f["id"].as_str().unwrap(),
                f["fix"].as_str().unwrap(),
                f["title"].as_str().unwrap()
            ],
            "{out:?}"
        );
    }
}

#[test]
fn a_fleet_is_a_row_per_machine() {
    let az = Azure::builtin("fleet");
    let args = [
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
    ];
    let out = az.run(&[&args[..], &["-o", "tsv"]].concat());
    assert_eq!(out.status, 2, "{out:?}");
    // The scope line on stderr, as beside a JSON document; stdout the rows.
    assert_eq!(
        out.stderr, "6 Arc machines in 2 subscriptions (Resource Graph)\n",
        "{out:?}"
    );
    let json = az.run(&[&args[..], &["-o", "json"]].concat()).json();
    let machines = json["machines"].as_array().unwrap();
    let rows = tsv(&out.stdout);
    assert_eq!(rows.len(), 6, "{out:?}");
    for (row, m) in rows.iter().zip(machines) {
        let id = m["id"].as_str().unwrap();
        let parts: Vec<&str> = id.split('/').collect();
        let findings: Vec<&str> = m["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(
            row,
            &[
                parts[8],
                parts[4],
                parts[2],
                m["status"].as_str().unwrap(),
                &findings.join(", ")
            ],
            "{out:?}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r[0] == "web-02" && r[1] == "arc-web" && r[4] == "ssh-port-not-enabled"),
        "{out:?}"
    );

    let out = az.run(&[&args[..], &["-o", "table"]].concat());
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "Name       ResourceGroup    Subscription                          Status    Problems\n\
             ---------  ---------------  ------------------------------------  --------  ----------------------------------------\n\
             web-01     arc-web          {OWNED}  healthy\n\
             web-02     arc-web          {OWNED}  problems  ssh-port-not-enabled\n\
             web-03     arc-web          {OWNED}  problems  agent-disconnected, ssh-port-not-enabled\n\
             db-01      arc-db           {OWNED}  problems  ssh-port-not-enabled\n\
             db-win-01  arc-db           {OWNED}  problems  ssh-port-not-enabled\n\
             edge-01    Arc-Edge         {READ_ONLY}  problems  rp-not-registered, login-role-missing\n"
        ),
        "{out:?}"
    );
}

#[test]
fn plan_and_a_dry_run_list_their_steps() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let target = ["--checks", "azure", "--id", &id];
    let json = az.run(&[&["plan"][..], &target, &["-o", "json"]].concat());
    let steps = json.json()["steps"].as_array().unwrap().clone();
    assert!(!steps.is_empty(), "{json:?}");
    let expected: String = steps
        .iter()
        .map(|s| {
            format!(
                "web-01\t{}\t{}\tplanned\t{}\n",
                s["id"].as_str().unwrap(),
                if s["automatic"] == true {
                    "auto"
                } else {
                    "manual"
                },
                s["description"].as_str().unwrap()
            )
        })
        .collect();
    for command in [&["plan"][..], &["apply", "--dry-run"]] {
        let out = az.run(&[command, &target, &["-o", "tsv"]].concat());
        assert_eq!(out.status, json.status, "{command:?}: {out:?}");
        assert_eq!(out.stdout, expected, "{command:?}: {out:?}");
    }
    let out = az.run(&[&["plan"][..], &target, &["-o", "table"]].concat());
    let header = out.stdout.lines().next().unwrap();
    assert!(header.starts_with("Target    Step  "), "{out:?}");
    assert!(
        header.contains("  Fix     Status    Description"),
        "{out:?}"
    );
    assert_eq!(out.stdout.lines().count(), steps.len() + 2, "{out:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn apply_with_a_table_or_tsv_needs_yes() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    for (output, option) in [
        (&["-o", "table"][..], "-o table"),
        (&["-o", "tsv"], "-o tsv"),
        (&["--query", "steps"], "--query"),
    ] {
        let out = az.run(&[&["apply", "--checks", "azure", "--id", &id][..], output].concat());
        assert_eq!(out.status, 64, "{output:?}: {out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "arcfix: error: apply {option} needs --yes: nothing can be asked while the output is a document for programs (add --yes, or use --dry-run to see the plan)\n"
            ),
            "{out:?}"
        );
        assert_eq!(out.stdout, "", "{out:?}");
    }
    assert!(az.sim().requests().is_empty(), "nothing was read");
}

#[test]
fn apply_yes_lists_how_each_step_ended() {
    let az = Azure::builtin("group-contributor");
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--yes", "--checks", "azure", "--id", &id, "-o", "tsv",
    ]);
    // A manual step remains: exit 3, as with text.
    assert_eq!(out.status, 3, "{out:?}");
    let rows: Vec<(&str, &str, &str, &str)> = tsv(&out.stdout)
        .iter()
        .map(|r| (r[0], r[1], r[2], r[3]))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
                "register-hybridconnectivity",
                "auto",
                "applied"
            ),
            ("web-01", "restart-hybrid-agent-web-01", "manual", "manual"),
            (
                "web-01",
                "create-default-endpoint-web-01",
                "auto",
                "already-satisfied"
            ),
            (
                "web-01",
                "enable-ssh-port-web-01",
                "auto",
                "already-satisfied"
            ),
        ],
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(!az.writes().is_empty(), "it applied");
}

#[test]
fn the_demo_lists_the_steps_it_applied() {
    let out = arcfix(&["demo", "-o", "tsv"]);
    assert_eq!(out.status, 0, "{out:?}");
    let rows = tsv(&out.stdout);
    assert!(rows.iter().all(|r| r.len() == 5), "{out:?}");
    assert!(
        rows.iter()
            .any(|r| r[1] == "register-hybridconnectivity" && r[2] == "auto" && r[3] == "applied"),
        "{out:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "db-01" && r[2] == "manual" && r[3] == "manual"),
        "{out:?}"
    );
    let out = arcfix(&["demo", "--list", "-o", "tsv"]);
    let names: Vec<&str> = tsv(&out.stdout).iter().map(|r| r[0]).collect();
    assert_eq!(&names[..3], ["demo", "healthy", "reader"], "{out:?}");
}

#[test]
fn rules_and_explain_as_tables() {
    let json = arcfix(&["rules", "-o", "json"]).json();
    let ids: Vec<&str> = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let out = arcfix(&["rules", "-o", "tsv"]);
    assert_eq!(out.status, 0, "{out:?}");
    let firsts: Vec<&str> = tsv(&out.stdout).iter().map(|r| r[0]).collect();
    assert_eq!(firsts, ids, "{out:?}");
    assert!(
        out.stdout.contains("rp-not-registered\tazure\tauto\t"),
        "{out:?}"
    );
    let out = arcfix(&["rules", "-o", "table"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), ids.len() + 2, "{out:?}");
    assert!(lines[0].starts_with("Problem  "), "{out:?}");
    assert!(lines[0].contains("  Side    Fix     Title"), "{out:?}");
    assert!(lines[1].starts_with("-------"), "{out:?}");

    let text = "Code: NoRegisteredProviderFound";
    let out = arcfix(&["explain", "-o", "table", text]);
    assert_eq!(out.status, 0, "{out:?}");
    let title = arcfix(&["explain", "-o", "json", text]).json()["matches"][0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        out.stdout.starts_with(&format!(
            "Problem            Title\n-----------------  {}\nrp-not-registered  {title}\n",
            "-".repeat(title.chars().count())
        )),
        "{out:?}"
    );
    // No match: nothing printed, exit 2 as with text.
    let out = arcfix(&["explain", "-o", "tsv", "all is well"]);
    assert_eq!((out.status, out.stdout.as_str()), (2, ""), "{out:?}");
}

#[test]
fn a_query_picks_fields_and_keeps_the_exit_code() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let args = ["check", "--checks", "azure", "--id", &id];
    let doc = az.run(&[&args[..], &["-o", "json"]].concat()).json();
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    // The result as JSON, with -o text (the default) as with -o json.
    for output in [&[][..], &["-o", "json"]] {
        let out = az.run(&[&args[..], &["--query", "findings[].id"], output].concat());
        assert_eq!(out.status, 2, "{out:?}");
        assert_eq!(out.json(), serde_json::json!(ids), "{out:?}");
        assert!(out.stdout.starts_with("[\n  \""), "pretty: {out:?}");
    }
    // tsv: one value a line, as az prints a list of strings.
    let out = az.run(&[&args[..], &["--query", "findings[].id", "-o", "tsv"]].concat());
    assert_eq!(out.stdout, format!("{}\n", ids.join("\n")), "{out:?}");
    let out = az.run(&[&args[..], &["--query", "length(findings)", "-o", "tsv"]].concat());
    assert_eq!(out.stdout, format!("{}\n", ids.len()), "{out:?}");
    // A table keeps the columns in the order the query names them.
    let out = az.run(
        &[
            &args[..],
            &[
                "--query",
                "findings[].{Problem: id, Fix: fix}",
                "-o",
                "table",
            ],
        ]
        .concat(),
    );
    assert!(out.stdout.starts_with("Problem  "), "{out:?}");
    assert_eq!(out.stdout.lines().count(), ids.len() + 2, "{out:?}");
    // Nothing selected: nothing printed.
    let out = az.run(&[&args[..], &["--query", "nothing.here"]].concat());
    assert_eq!((out.status, out.stdout.as_str()), (2, ""), "{out:?}");
}

#[test]
fn a_query_names_a_fleets_machines_one_a_line() {
    let az = Azure::builtin("fleet");
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--query",
        "machines[?status=='problems'].id",
        "-o",
        "tsv",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty(), "{out:?}");
    for line in &lines {
        assert!(
            line.starts_with(&format!("/subscriptions/{OWNED}/resourceGroups/")),
            "{out:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.ends_with("/machines/web-02")),
        "{out:?}"
    );
}

#[test]
fn a_bad_query_is_a_usage_error_before_anything_is_read() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    for (query, said) in [
        (
            "findings[",
            "arcfix: error: invalid --query 'findings[': Parse error: Expected number, ':', or '*' -- found Eof (at column 10)\n",
        ),
        (
            "lenght(findings)",
            "arcfix: error: invalid --query 'lenght(findings)': JMESPath has no function lenght()\n",
        ),
    ] {
        let out = az.run(&["check", "--checks", "azure", "--id", &id, "--query", query]);
        assert_eq!(out.status, 64, "{out:?}");
        assert_eq!(out.stderr, said, "{out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
    }
    assert!(az.sim().requests().is_empty(), "nothing was read");
}

#[test]
fn a_tab_or_line_break_from_azure_never_breaks_a_row() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path.to_ascii_lowercase().ends_with("/machines/web-01")
            && let Some(b) = a.body.as_mut()
        {
            b["properties"]["status"] = "Dis\tconnected\nweb-02\tforged".into();
        }
    });
    let run = |extra: &[&str]| {
        az.run_at(
            &endpoint,
            &[&["check", "--checks", "azure", "--id", &id][..], extra].concat(),
        )
    };
    let doc = run(&["-o", "json"]).json();
    let evidence = doc["findings"][0]["evidence"].as_str().unwrap().to_string();
    assert!(evidence.contains("Dis\tconnected\nweb-02"), "{doc}");
    let out = run(&["--query", "findings[].[id, evidence]", "-o", "tsv"]);
    assert_eq!(out.status, 2, "{out:?}");
    let rows = tsv(&out.stdout);
    assert_eq!(rows.len(), 1, "one finding, one line: {out:?}");
    assert_eq!(rows[0].len(), 2, "two columns: {out:?}");
    assert!(
        rows[0][1].contains("Dis\\tconnected\\nweb-02\\tforged"),
        "shown escaped: {out:?}"
    );
}

#[test]
fn an_error_from_azure_with_tabs_and_line_breaks_stays_in_its_cell() {
    let az = Azure::builtin("fleet");
    let endpoint = hostile(&az, |a| {
        if a.method == "GET"
            && a.path.to_ascii_lowercase().contains(
                "/machines/web-02/providers/microsoft.hybridconnectivity/endpoints/default",
            )
        {
            a.status = 403;
            a.body = Some(serde_json::json!({"error": {
                "code": "AuthorizationFailed",
                "message": "denied\tby\npolicy\tweb-03\tforged",
            }}));
        }
    });
    let run = |format: &str| {
        az.run_at(
            &endpoint,
            &[
                "check",
                "--checks",
                "azure",
                "--subscription",
                OWNED,
                "-o",
                format,
            ],
        )
    };
    let out = run("tsv");
    assert_eq!(out.status, 1, "a machine could not be checked: {out:?}");
    let rows = tsv(&out.stdout);
    assert_eq!(rows.len(), 5, "a line per machine: {out:?}");
    assert!(
        rows.iter().all(|r| r.len() == 6),
        "six columns each: {out:?}"
    );
    let web02 = rows.iter().find(|r| r[0] == "web-02").unwrap();
    assert_eq!(web02[3], "error", "{out:?}");
    // Folded to one line where Azure's errors are read; the cell is escaped
    // again on its way out.
    assert!(
        web02[5].contains("(AuthorizationFailed): denied by policy web-03 forged"),
        "{out:?}"
    );
    let out = run("table");
    assert_eq!(out.status, 1, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "a line per machine: {out:?}");
    assert!(lines[0].ends_with("  Error"), "{out:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web-02  ") && l.contains("denied by policy web-03 forged")),
        "{out:?}"
    );
    assert!(!out.stdout.contains('\t'), "{out:?}");
}
