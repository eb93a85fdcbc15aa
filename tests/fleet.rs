//! Fleet mode: what is in scope (subscriptions by id or name, a resource
//! group, tags, ids from a file) and where it came from, said first; few reads
//! per machine; a fleet that reads short; one confirmation; a saved fleet plan.

use serde_json::Value;

use crate::azure::Azure;
use crate::harness::Output;

/// The `fleet` scenario's subscriptions: the caller is Owner of the first,
/// Reader of the second.
const OWNED: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
const READ_ONLY: &str = "4a3e6d2f-9b5c-4d7e-8f1a-2b3c4d5e6f7a";

fn names(out: &Output) -> Vec<String> {
    out.machine_statuses().into_iter().map(|(n, _)| n).collect()
}

/// arcfix against the simulator on a terminal (script(1)), `keys` typed in;
/// `None` (and a line saying so) when script(1) is not installed.
fn on_terminal(az: &Azure, args: &[&str], keys: &str) -> Option<Output> {
    az.on_terminal(args, None, keys)
}

/// The `fleet` scenario with every `"from"` name (quoted) replaced by `"to"`.
fn renamed(pairs: &[(&str, &str)]) -> Azure {
    Azure::edited("fleet", |v| {
        let mut text = v.to_string();
        for (from, to) in pairs {
            text = text.replace(&format!("\"{from}\""), &format!("\"{to}\""));
        }
        *v = serde_json::from_str(&text).unwrap();
    })
}

/// A JSON plan's step ids, each asserted to be its own.
fn unique_step_ids(plan: &Output) -> Vec<String> {
    let ids: Vec<String> = plan
        .steps()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    ids
}

fn graph_queries(az: &Azure) -> Vec<Value> {
    az.sim()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("Microsoft.ResourceGraph"))
        .map(|r| r.body.clone().unwrap_or(Value::Null))
        .collect()
}

#[test]
fn a_fleet_says_its_scope_first_and_reads_each_machine_little() {
    let az = Azure::builtin("fleet");
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(
        out.stderr.lines().next(),
        Some("6 Arc machines in 2 subscriptions (Resource Graph)"),
        "{out:?}"
    );
    // Short: a summary by problem, a line per machine with problems, the healthy count.
    assert!(out.stdout.starts_with("Fleet 6 machines: "), "{out:?}");
    assert!(out.stdout.contains("Machines with problems"), "{out:?}");
    assert!(
        out.stdout
            .contains("  web-02 (arc-web): ssh-port-not-enabled"),
        "{out:?}"
    );
    assert!(out.stdout.contains("agent-disconnected"), "{out:?}");
    assert!(out.stdout.contains("healthy machine"), "{out:?}");

    // Three Resource Graph pages of two, each after the first with the token.
    let queries = graph_queries(&az);
    assert_eq!(queries.len(), 3, "{queries:#?}");
    assert!(queries[0]["options"].get("$skipToken").is_none());
    for q in &queries[1..] {
        assert!(q["options"]["$skipToken"].is_string(), "{q}");
        assert_eq!(q["query"], queries[0]["query"], "the same query resent");
    }
    let requests = az.sim().requests();
    let gets: Vec<&arcfix::sim::LoggedRequest> =
        requests.iter().filter(|r| r.method == "GET").collect();
    // Listed machines are not read again; the provider once per subscription.
    assert!(
        !gets
            .iter()
            .any(|r| r.path.to_ascii_lowercase().ends_with("/machines/web-01")),
        "a listed machine read again"
    );
    let providers = gets
        .iter()
        .filter(|r| r.path.ends_with("/providers/Microsoft.HybridConnectivity"))
        .count();
    assert_eq!(providers, 2, "once per subscription");
    // At most three reads a machine, plus a constant per subscription.
    let reads = requests.iter().filter(|r| !r.is_write()).count();
    assert!(reads <= 3 * 6 + 2 * 4, "{reads} reads for 6 machines");
}

/// A fleet of many pages is checked while it is listed: its scope is said
/// from Resource Graph's count on the first page, and every machine is
/// reported once, in the order Resource Graph listed them, however the
/// subscriptions' lanes finished.
#[test]
fn a_fleet_of_many_pages_is_said_at_once_and_reported_in_listed_order() {
    let mut scenario = arcfix::sim::Scenario::generated(300, 3);
    scenario.graph_page_size = Some(40);
    let az = Azure::with(scenario);
    az.sim().set_knobs(arcfix::sim::Knobs {
        bucket: Some(arcfix::sim::BucketSpec::unlimited()),
        ..arcfix::sim::Knobs::default()
    });
    let subscriptions: Vec<String> = az
        .sim()
        .scenario()
        .subscriptions
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let mut args = vec!["check", "--checks", "azure", "-o", "json"];
    for s in &subscriptions {
        args.extend(["--subscription", s.as_str()]);
    }
    let out = az.run(&args);
    assert_eq!(out.status, 2, "{out:?}");
    let scope = "300 Arc machines in 3 subscriptions (Resource Graph)";
    assert_eq!(out.stderr.lines().next(), Some(scope), "{out:?}");
    let doc = out.json();
    assert_eq!(doc["scope"], scope);
    let reported: Vec<&str> = doc["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(reported, az.sim().scenario().machine_ids());
    // Eight pages of at most 40, each asked for once.
    assert_eq!(graph_queries(&az).len(), 8);
}

#[test]
fn json_has_every_machine_in_scope_and_the_scope() {
    let az = Azure::builtin("fleet");
    let out = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    let doc = out.json();
    assert_eq!(
        doc["scope"],
        "6 Arc machines in 2 subscriptions (Resource Graph)"
    );
    // Said at once on stderr too, before any machine is read.
    assert_eq!(
        out.stderr.lines().next(),
        Some("6 Arc machines in 2 subscriptions (Resource Graph)"),
        "{out:?}"
    );
    assert_eq!(
        out.machine_statuses(),
        [
            ("db-01", "problems"),
            ("db-win-01", "problems"),
            ("edge-01", "problems"),
            ("web-01", "healthy"),
            ("web-02", "problems"),
            ("web-03", "problems"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The Reader's machine: steps planned, none automatic.
    let edge: Vec<Value> = out
        .steps()
        .into_iter()
        .filter(|s| s["target"].as_str().unwrap().ends_with("/edge-01"))
        .collect();
    assert!(!edge.is_empty());
    assert!(edge.iter().all(|s| s["automatic"] == false), "{edge:#?}");
    // The progress bar never reaches a document.
    assert!(!out.stderr.contains("machines  "), "{out:?}");
}

#[test]
fn resource_graph_refused_the_arm_list_pages_and_finds_the_same() {
    let az = Azure::edited("fleet", |v| v["graph_refused"] = true.into());
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.json()["scope"]
            .as_str()
            .unwrap()
            .starts_with("5 Arc machines in 1 subscription (ARM list); Resource Graph was not used: 403 AuthorizationFailed"),
        "{out:?}"
    );
    assert_eq!(
        names(&out),
        ["db-01", "db-win-01", "web-01", "web-02", "web-03"]
    );
    // Five machines, two to a page: three pages, the later ones by nextLink.
    let lists: Vec<String> = az
        .sim()
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path
                    .ends_with("/providers/Microsoft.HybridCompute/machines")
        })
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(
        lists[1].contains("skiptoken") && lists[2].contains("skiptoken"),
        "{lists:?}"
    );
}

#[test]
fn tags_select_machines_names_without_case_values_exactly() {
    let az = Azure::builtin("fleet");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "check",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "-o",
            "json",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        az.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let prod = run(&["--tag", "env=prod"]);
    assert_eq!(names(&prod), ["db-01", "web-01", "web-02"], "{prod:?}");
    assert!(
        prod.json()["scope"]
            .as_str()
            .unwrap()
            .contains("with tag env=prod")
    );
    let both = run(&["--tag", "env=prod", "--tag", "team=web"]);
    assert_eq!(names(&both), ["web-01"], "{both:?}");
    let none = run(&["--tag", "env=Prod"]);
    assert_eq!(none.status, 1, "{none:?}");
    assert!(
        none.stderr
            .contains("no Arc machines found: 0 Arc machines in 1 subscription with tag env=Prod"),
        "{none:?}"
    );
    let bad = run(&["--tag", "env"]);
    assert_eq!(bad.status, 64, "{bad:?}");
    assert!(
        bad.stderr
            .contains("invalid --tag 'env': expected KEY=VALUE"),
        "{bad:?}"
    );
}

#[test]
fn a_machine_gone_mid_run_and_a_missing_id_are_reported_and_the_others_go_on() {
    let ghost = format!(
        "/subscriptions/{OWNED}/resourceGroups/arc-web/providers/Microsoft.HybridCompute/machines/web-99"
    );
    let az = Azure::edited("fleet", |v| v["graph_ghosts"] = serde_json::json!([ghost]));
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
    ]);
    // Exit 1 after the full report.
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("Fleet 7 machines: 1 healthy, 5 with problems, 1 could not be checked"),
        "{out:?}"
    );
    assert!(out.stdout.contains("Could not be checked"), "{out:?}");
    assert!(
        out.stdout
            .contains("web-99 (arc-web): Arc machine not found"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("web-02 (arc-web): ssh-port-not-enabled"),
        "{out:?}"
    );

    // Named one by one, one of them missing.
    let missing = format!(
        "/subscriptions/{OWNED}/resourceGroups/arc-db/providers/Microsoft.HybridCompute/machines/db-77"
    );
    let mut ids = az.sim().scenario().machine_ids();
    ids.push(missing.clone());
    az.sandbox.write("ids.txt", &ids.join("\n"));
    let json = az.run(&[
        "check",
        "--checks",
        "azure",
        "--ids-from",
        "ids.txt",
        "-o",
        "json",
    ]);
    assert_eq!(json.status, 1, "{json:?}");
    let gone: Vec<(String, String)> = json
        .machine_statuses()
        .into_iter()
        .filter(|(_, s)| s == "error")
        .collect();
    assert_eq!(gone, [("db-77".to_string(), "error".to_string())]);
    assert_eq!(json.machine_statuses().len(), 7);

    // Machines named and a fleet selector: one or the other, never widened silently.
    let both = az.run(&["apply", "--yes", "--subscription", OWNED, "--id", &missing]);
    assert_eq!(both.status, 64, "{both:?}");
    assert!(both.stderr.contains("use one or the other"), "{both:?}");
    assert!(az.writes().is_empty());
}

#[test]
fn a_subscription_is_named_by_id_or_name_and_bad_values_are_usage_errors() {
    let az = Azure::builtin("fleet");
    let by_name = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        "contoso arc (SIMULATED)",
        "-g",
        "arc-web",
        "-n",
        "web-02",
        "-o",
        "json",
    ]);
    assert_eq!(by_name.status, 2, "{by_name:?}");
    assert_eq!(names(&by_name), ["web-02"]);
    let fleet_by_name = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        "Fabrikam Arc (simulated)",
    ]);
    assert!(
        fleet_by_name
            .stderr
            .starts_with("1 Arc machine in 1 subscription (Resource Graph)"),
        "{fleet_by_name:?}"
    );

    // Not a usage error: the name is well formed, Azure has none of it.
    let unknown = az.run(&["check", "--checks", "azure", "--subscription", "Northwind"]);
    assert_eq!(unknown.status, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no subscription named 'Northwind' among the 2 you can see (Contoso Arc (simulated), Fabrikam Arc (simulated))"),
        "{unknown:?}"
    );
    for (args, text) in [
        (
            vec![
                "check",
                "--id",
                "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
            ],
            "invalid",
        ),
        (vec!["check", "--id", "nonsense"], "invalid machine id"),
        (
            vec!["check", "--subscription", "", "--checks", "azure"],
            "invalid subscription",
        ),
        (
            vec!["check", "--subscription", OWNED, "-g", "bad/rg"],
            "invalid resource group",
        ),
        (
            vec![
                "check",
                "--subscription",
                OWNED,
                "-g",
                "rg",
                "-n",
                "bad name",
            ],
            "invalid machine name",
        ),
        (
            vec![
                "check",
                "--subscription",
                OWNED,
                "--subscription",
                READ_ONLY,
                "-g",
                "rg",
            ],
            "one --subscription",
        ),
    ] {
        let out = az.run(&args);
        assert_eq!(out.status, 64, "{args:?}: {out:?}");
        assert!(out.stderr.contains(text), "{args:?}: {out:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out:?}");
    }
}

#[test]
fn azure_subscription_id_alone_never_starts_a_fleet_run() {
    let az = Azure::builtin("fleet");
    let run = |args: &[&str]| {
        az.sandbox
            .cmd()
            .args(args)
            .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .env("AZURE_SUBSCRIPTION_ID", OWNED)
            .run()
    };
    let bare = run(&["check", "--checks", "client", "-o", "json"]);
    assert_ne!(bare.status, 64, "{bare:?}");
    assert!(
        bare.json()["machines"]
            .as_array()
            .is_none_or(|m| m.is_empty())
    );
    assert!(az.sim().requests().is_empty(), "a bare check read Azure");
    // It completes -g: the resource group's machines.
    let group = run(&["check", "--checks", "azure", "-g", "arc-db", "-o", "json"]);
    assert_eq!(names(&group), ["db-01", "db-win-01"], "{group:?}");
    assert!(
        group.json()["scope"]
            .as_str()
            .unwrap()
            .starts_with("2 Arc machines in resource group arc-db"),
        "{group:?}"
    );
}

#[test]
fn ids_come_from_a_file_or_standard_input() {
    let az = Azure::builtin("fleet");
    let ids = az.sim().scenario().machine_ids();
    az.sandbox.write(
        "ids.txt",
        &format!("# web servers\n{}\n\n  {}  \n{}\n", ids[0], ids[1], ids[0]),
    );
    let file = az.run(&[
        "check",
        "--checks",
        "azure",
        "--ids-from",
        "ids.txt",
        "-o",
        "json",
    ]);
    assert_eq!(names(&file), ["web-01", "web-02"], "{file:?}");
    // As Windows PowerShell 5.1's `>` writes it: UTF-16 with a byte-order mark.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in format!("{}\r\n{}\r\n", ids[0], ids[1]).encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(az.sandbox.path("ids16.txt"), utf16).unwrap();
    let wide = az.run(&[
        "check",
        "--checks",
        "azure",
        "--ids-from",
        "ids16.txt",
        "-o",
        "json",
    ]);
    assert_eq!(names(&wide), ["web-01", "web-02"], "{wide:?}");
    // Many: said first, and read short.
    az.sandbox.write("all.txt", &ids.join("\n"));
    let all = az.run(&["check", "--checks", "azure", "--ids-from", "all.txt"]);
    assert_eq!(
        all.stderr.lines().next(),
        Some("6 Arc machines named (--id, --ids-from)"),
        "{all:?}"
    );
    assert!(all.stdout.starts_with("Fleet 6 machines: "), "{all:?}");
    let stdin = az
        .sandbox
        .cmd()
        .args(&[
            "check",
            "--checks",
            "azure",
            "--ids-from",
            "-",
            "-o",
            "json",
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .stdin(format!("{}\n{}\n", ids[2], ids[3]).as_bytes())
        .run();
    assert_eq!(names(&stdin).len(), 2, "{stdin:?}");

    az.sandbox
        .write("bad.txt", &format!("{}\n/subscriptions/x\n", ids[0]));
    let bad = az.run(&["check", "--checks", "azure", "--ids-from", "bad.txt"]);
    assert_eq!(bad.status, 64, "{bad:?}");
    assert!(
        bad.stderr.contains("bad.txt line 2: invalid machine id"),
        "{bad:?}"
    );
    let empty = az
        .sandbox
        .cmd()
        .args(&["check", "--ids-from", "-"])
        .stdin(b"# nothing\n")
        .run();
    assert_eq!(empty.status, 64, "{empty:?}");
    assert!(
        empty.stderr.contains("standard input has no machine ids"),
        "{empty:?}"
    );
}

#[test]
fn a_fleet_is_applied_after_one_confirmation() {
    let az = Azure::builtin("fleet");
    let Some(out) = on_terminal(
        &az,
        // --port 22: a port seen in Azure is changed only when one is chosen.
        &[
            "apply",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "--port",
            "22",
        ],
        "y\n",
    ) else {
        return;
    };
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(text.matches("[y/N]").count(), 1, "one question: {out:?}");
    assert!(
        text.contains("Apply the 6 automatic steps above on 4 machines?"),
        "{out:?}"
    );
    // A summary by kind of step; the manual step keeps the exit at 3.
    assert!(
        text.contains("create-default-endpoint: 2 applied"),
        "{out:?}"
    );
    assert!(text.contains("reconnect-agent: 1 manual"), "{out:?}");
    assert_eq!(out.status, 3, "{out:?}");
    assert!(!az.writes().is_empty());
}

#[test]
fn a_saved_fleet_plan_applies_what_is_still_needed() {
    let az = Azure::builtin("fleet");
    let plan = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--out",
        "fleet.json",
    ]);
    assert_eq!(plan.status, 2, "{plan:?}");
    // Meanwhile web-02 is fixed on its own.
    let web02 = az.machine(1);
    assert!(web02.ends_with("/web-02"));
    let one = az.run(&["apply", "--checks", "azure", "--id", &web02, "--yes"]);
    assert_eq!(one.status, 0, "{one:?}");
    az.sim().clear_log();
    // The fleet's selectors beside the file: refused, as Terraform refuses
    // variables beside a plan file; the file alone names the machines.
    let beside = az.run(&["apply", "--subscription", OWNED, "fleet.json"]);
    assert_eq!(beside.status, 1, "{beside:?}");
    assert!(
        beside.stderr.contains("apply takes them from it"),
        "{beside:?}"
    );
    let out = az.run(&["apply", "fleet.json", "-o", "json"]);
    let steps = out.steps();
    let status_of = |machine: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s["target"].as_str().unwrap().ends_with(machine))
            .map(|s| s["status"].as_str().unwrap().to_string())
            .collect()
    };
    // web-02's steps: re-checked and not done again; the rest applied.
    assert!(!status_of("/web-02").is_empty());
    assert!(
        status_of("/web-02")
            .iter()
            .all(|s| s == "not-needed" || s == "already-satisfied"),
        "{steps:#?}"
    );
    assert!(
        status_of("/db-win-01").iter().any(|s| s == "applied"),
        "{steps:#?}"
    );
    assert!(
        !az.writes().iter().any(|w| w.contains("/web-02/")),
        "web-02 written again: {:?}",
        az.writes()
    );
}

#[test]
fn a_fleet_has_a_progress_bar_on_a_terminal_and_none_in_a_pipe() {
    let az = Azure::builtin("fleet");
    // Slow enough for the bar to be drawn.
    az.sim().set_knobs(arcfix::sim::Knobs {
        latency_ms: 150,
        ..Default::default()
    });
    let Some(out) = on_terminal(
        &az,
        &["check", "--checks", "azure", "--subscription", OWNED],
        "",
    ) else {
        return;
    };
    assert!(out.stdout.contains("/5 machines"), "{out:?}");
    assert!(out.stdout.contains("ETA"), "{out:?}");
    let piped = az.run(&["check", "--checks", "azure", "--subscription", OWNED]);
    assert!(!piped.stderr.contains("/5 machines"), "{piped:?}");
    assert!(!piped.stdout.contains("/5 machines"), "{piped:?}");
}

#[test]
fn a_machine_the_caller_may_not_read_is_reported_and_the_others_go_on() {
    // The caller loses its Reader role on the second subscription.
    let az = Azure::edited("fleet", |v| {
        let list = v["role_assignments"].as_array_mut().unwrap();
        list.retain(|a| {
            !(a["scope"].as_str().unwrap().ends_with(READ_ONLY) && a["role"] == "Reader")
        });
    });
    let edge = az
        .sim()
        .scenario()
        .machine_ids()
        .into_iter()
        .find(|id| id.ends_with("/edge-01"))
        .unwrap();
    assert!(az.sim().scenario().machine_ids().contains(&edge));
    az.sandbox
        .write("ids.txt", &az.sim().scenario().machine_ids().join("\n"));
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--ids-from",
        "ids.txt",
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 1, "{out:?}");
    let json = out.json();
    let verdict = json["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"].as_str().unwrap().ends_with("/edge-01"))
        .cloned()
        .unwrap();
    assert_eq!(verdict["status"], "error", "{verdict}");
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("AuthorizationFailed"),
        "{verdict}"
    );
    assert_eq!(json["machines"].as_array().unwrap().len(), 6);
    assert!(
        json["machines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["status"] != "error")
            .count()
            == 5
    );
}

#[test]
fn machines_of_the_same_name_in_two_groups_have_steps_of_their_own() {
    // db-01 of arc-db renamed web-02: two web-02, both without an SSH configuration.
    let az = renamed(&[("db-01", "web-02")]);
    let plan = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--port",
        "22",
        "-o",
        "json",
    ]);
    let ids = unique_step_ids(&plan);
    assert!(
        ids.iter().any(|i| i == "enable-ssh-port-arc-web-web-02"),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|i| i == "enable-ssh-port-arc-db-web-02"),
        "{ids:?}"
    );
    // Both are applied, and the text groups them under one kind.
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--port",
        "22",
        "--yes",
    ]);
    assert!(out.stdout.contains("enable-ssh-port: 4 applied"), "{out:?}");
    let writes = az.writes();
    for rg in ["arc-web", "arc-db"] {
        assert!(
            writes.iter().any(|w| w.contains(&format!(
                "/{rg}/providers/Microsoft.HybridCompute/machines/web-02/"
            )) && w.contains("serviceConfigurations/SSH")),
            "{rg}: {writes:?}"
        );
    }
}

#[test]
fn the_same_group_and_name_in_two_subscriptions_still_have_steps_of_their_own() {
    let az = renamed(&[("Arc-Edge", "arc-web"), ("edge-01", "web-02")]);
    let plan = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
        "-o",
        "json",
    ]);
    let ids = unique_step_ids(&plan);
    assert!(
        ids.iter()
            .any(|i| i == "enable-ssh-port-3f2d5c1e-arc-web-web-02"),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|i| i.ends_with("-4a3e6d2f-arc-web-web-02")),
        "{ids:?}"
    );
}

#[test]
fn a_subscription_with_no_machine_is_not_checked_when_whether_you_can_see_it_could_not_be_read() {
    // Resource Graph says nothing of a subscription the caller cannot see:
    // when the caller's subscriptions cannot be read either, an empty
    // subscription and an unseen one look the same, and neither is passed.
    let az = Azure::builtin("fleet");
    let endpoint = crate::hostile::hostile(&az, |a| {
        if a.path.trim_end_matches('/') == "/subscriptions" {
            a.status = 500;
            a.headers.push(("Retry-After".into(), "0".into()));
            a.body = Some(
                serde_json::json!({"error": {"code": "InternalServerError", "message": "no"}}),
            );
        }
    });
    let unknown = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e60";
    let out = az.run_at(
        &endpoint,
        &[
            "check",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "--subscription",
            unknown,
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status, 1, "{out:?}");
    let doc = out.json();
    let said = format!(
        "subscription {unknown}: no machine listed, and whether you can see it could not be read ("
    );
    let reasons: Vec<&str> = doc["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["side"] == "azure")
        .filter_map(|n| n["reason"].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with(&said) && r.contains("500")),
        "{reasons:?}"
    );
    // The other subscription's machines are checked all the same.
    assert_eq!(names(&out).len(), 5, "{out:?}");
}

#[test]
fn resource_graph_failing_part_way_leaves_the_rest_to_arm_s_list_each_machine_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let args = [
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        READ_ONLY,
        "-o",
        "json",
    ];
    let whole = Azure::builtin("fleet").run(&args);
    assert_eq!(whole.status, 2, "{whole:?}");
    // Resource Graph answers its first page (two machines in this
    // scenario), then 500 whatever is asked.
    let az = Azure::builtin("fleet");
    let pages = Arc::new(AtomicUsize::new(0));
    let seen = pages.clone();
    // ARM's list pages too: its links are the simulator's, made the proxy's.
    let (sim, proxy) = (
        az.sim().base_url(),
        Arc::new(std::sync::OnceLock::<String>::new()),
    );
    let me = proxy.clone();
    let endpoint = crate::hostile::hostile(&az, move |a| {
        if a.path
            .ends_with("/providers/Microsoft.ResourceGraph/resources")
            && seen.fetch_add(1, Ordering::Relaxed) > 0
        {
            a.status = 500;
            a.headers.push(("Retry-After".into(), "0".into()));
            a.body = Some(
                serde_json::json!({"error": {"code": "InternalServerError", "message": "no"}}),
            );
        }
        if let Some(link) = a.body.as_mut().and_then(|b| b.get_mut("nextLink"))
            && let (Some(l), Some(me)) = (link.as_str().map(str::to_string), me.get())
        {
            *link = l.replacen(&sim, me, 1).into();
        }
    });
    proxy.set(endpoint.clone()).unwrap();
    let out = az.run_at(&endpoint, &args);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        pages.load(Ordering::Relaxed) > 1,
        "Graph was asked once only"
    );
    // The same machines with the same verdicts, each once.
    assert_eq!(out.machine_statuses(), whole.machine_statuses());
    assert_eq!(
        out.json()["scope"],
        "6 Arc machines in 2 subscriptions (Resource Graph, then ARM list); Resource Graph failed after 2 machines (500 InternalServerError), the rest listed by ARM",
        "{out:?}"
    );
    // ARM's list was asked for each subscription (every page of it).
    let mut listed: Vec<String> = az
        .sim()
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET"
                && r.path
                    .ends_with("/providers/Microsoft.HybridCompute/machines")
        })
        .map(|r| r.path.split('/').nth(2).unwrap().to_string())
        .collect();
    listed.dedup();
    assert_eq!(listed, [OWNED, READ_ONLY]);
}

#[test]
fn a_subscription_graph_listed_in_part_and_arm_could_not_list_is_said_to_be_listed_in_part() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let az = Azure::builtin("fleet");
    let pages = Arc::new(AtomicUsize::new(0));
    let seen = pages.clone();
    // Graph answers its first page (two machines of OWNED), then 500; ARM's
    // list of OWNED fails too.
    let endpoint = crate::hostile::hostile(&az, move |a| {
        let graph = a
            .path
            .ends_with("/providers/Microsoft.ResourceGraph/resources");
        let owned_list = a.method == "GET"
            && a.path
                == format!("/subscriptions/{OWNED}/providers/Microsoft.HybridCompute/machines");
        if (graph && seen.fetch_add(1, Ordering::Relaxed) > 0) || owned_list {
            a.status = 500;
            a.headers.push(("Retry-After".into(), "0".into()));
            a.body = Some(
                serde_json::json!({"error": {"code": "InternalServerError", "message": "no"}}),
            );
        }
    });
    let out = az.run_at(
        &endpoint,
        &[
            "check",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status, 1, "{out:?}");
    let doc = out.json();
    // The two machines Graph listed were checked...
    assert_eq!(doc["machines"].as_array().unwrap().len(), 2, "{doc:#}");
    // ...the scope line counts them and the subscription...
    assert_eq!(
        doc["scope"],
        "2 Arc machines in 1 subscription (Resource Graph, then ARM list); Resource Graph failed after 2 machines (500 InternalServerError), the rest listed by ARM; 1 subscription listed in part (not checked: the rest of it)",
        "{doc:#}"
    );
    // ...and the subscription is said to be listed in part, not unseen.
    let reasons: Vec<&str> = doc["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with(&format!(
            "subscription {OWNED}: listed in part: Resource Graph listed some of its machines, which were checked"
        ))),
        "{reasons:#?}"
    );
}

#[test]
fn a_subscription_nobody_can_see_is_not_checked_and_said_so() {
    let az = Azure::builtin("fleet");
    let typo = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e60";
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "--subscription",
        typo,
    ]);
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(
        out.stderr.lines().next(),
        Some("5 Arc machines in 1 subscription (Resource Graph)"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!(
            "azure not checked — subscription {typo}: not among the subscriptions you can see"
        )),
        "{out:?}"
    );
    assert!(!out.stdout.contains("✓ no problems"), "{out:?}");

    // By name: the one listing of the caller's subscriptions serves both the
    // name and the check of the subscription found empty.
    az.sim().clear_log();
    let named = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        "Contoso Arc (simulated)",
        "--subscription",
        typo,
    ]);
    assert_eq!(named.status, 1, "{named:?}");
    let listings = az
        .sim()
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/subscriptions")
        .count();
    assert_eq!(listings, 1, "the caller's subscriptions listed once");
}

#[test]
fn a_subscription_level_step_is_planned_once_for_its_machines() {
    // The provider never registered in the first subscription: five machines
    // there, one registration.
    let az = Azure::edited("fleet", |v| {
        v["subscriptions"][0]["providers"]["Microsoft.HybridConnectivity"] = "NotRegistered".into();
    });
    let plan = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "-o",
        "json",
    ]);
    assert_eq!(plan.status, 2, "{plan:?}");
    let registrations: Vec<String> = plan
        .steps()
        .iter()
        .filter(|s| s["id"] == "register-hybridconnectivity")
        .map(|s| s["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(registrations, [format!("/subscriptions/{OWNED}")]);
    assert_eq!(plan.machine_statuses().len(), 5);
}

/// A fake `az` whose current subscription is `account` (its JSON), or that
/// is signed out when `None`; it hands out the simulator's token.
fn az_with_account(az: &Azure, account: Option<&str>) {
    let token = &az.token;
    let show = match account {
        Some(json) => format!("printf '%s' '{json}'"),
        None => "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1".to_string(),
    };
    az.sandbox.fake(
        "az",
        &format!(
            r#"if [ "$1 $2" = "account show" ]; then {show}; exit 0; fi
exp=$(( $(date +%s) + 3600 ))
printf '{{"accessToken":"{token}","expiresOn":"x","expires_on":%s,"subscription":"s","tenant":"t","tokenType":"Bearer"}}' $exp"#
        ),
    );
}

#[test]
fn without_subscription_the_azure_clis_current_one_is_used_and_named() {
    let az = Azure::builtin("fleet");
    let id = arcfix::target::MachineId::parse(&az.machine(0)).unwrap();
    az_with_account(
        &az,
        Some(&format!(
            r#"{{"environmentName":"AzureCloud","id":"{}","isDefault":true,"name":"Contoso Prod","state":"Enabled","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","user":{{"name":"ana@contoso.com","type":"user"}}}}"#,
            id.subscription
        )),
    );
    let named = format!(
        "subscription Contoso Prod ({}), from az account",
        id.subscription
    );
    // One machine: before, exit 64 "--machine needs --subscription".
    let one = az.run(&[
        "check",
        "--checks",
        "azure",
        "-g",
        &id.resource_group,
        "-n",
        &id.name,
    ]);
    assert!(one.status == 0 || one.status == 2, "{one:?}");
    assert!(one.stderr.contains(&named), "{one:?}");
    assert!(
        az.sandbox.calls().contains("az account show"),
        "{}",
        az.sandbox.calls()
    );
    // A resource group: the scope line names the subscription and its source.
    let group = az.run(&["check", "--checks", "azure", "-g", &id.resource_group]);
    assert!(group.status == 0 || group.status == 2, "{group:?}");
    let scope = group.stderr.lines().next().unwrap_or_default();
    assert!(
        scope.contains("Arc machine") && scope.contains(&named),
        "{group:?}"
    );
    // AZURE_SUBSCRIPTION_ID comes first: az is not asked.
    let before = az.sandbox.calls().matches("az account show").count();
    let env = az
        .sandbox
        .cmd()
        .args(&[
            "check",
            "--checks",
            "azure",
            "-g",
            &id.resource_group,
            "-n",
            &id.name,
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("AZURE_SUBSCRIPTION_ID", &id.subscription)
        .run();
    assert!(env.status == 0 || env.status == 2, "{env:?}");
    assert!(
        env.stderr.contains(&format!(
            "subscription {}, from AZURE_SUBSCRIPTION_ID",
            id.subscription
        )),
        "{env:?}"
    );
    assert_eq!(
        az.sandbox.calls().matches("az account show").count(),
        before
    );
}

#[test]
fn a_signed_out_azure_cli_gives_no_subscription_and_says_how_to_sign_in() {
    let az = Azure::builtin("fleet");
    let id = arcfix::target::MachineId::parse(&az.machine(0)).unwrap();
    az_with_account(&az, None);
    let out = az.run(&["check", "--checks", "azure", "-g", &id.resource_group]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("az login")
            && out
                .stderr
                .contains("Please run 'az login' to setup account."),
        "{out:?}"
    );
    assert!(az.sim().requests().is_empty(), "nothing asked of Azure");
    // With another credential, az is not asked: a usage error naming the ways.
    let other = az.run(&[
        "check",
        "--checks",
        "azure",
        "-g",
        &id.resource_group,
        "--auth",
        "env",
    ]);
    assert_eq!(other.status, 64, "{other:?}");
    assert!(
        other
            .stderr
            .contains("give --subscription, set AZURE_SUBSCRIPTION_ID"),
        "{other:?}"
    );
    assert_eq!(az.sandbox.calls().matches("az account show").count(), 1);
}

#[test]
fn a_subscription_name_two_subscriptions_share_is_a_usage_error_naming_both() {
    // Both subscriptions of the fleet scenario called the same, both enabled.
    let az = Azure::edited("fleet", |v| {
        let name = v["subscriptions"][0]["display_name"].clone();
        v["subscriptions"][1]["display_name"] = name;
    });
    let name = az.sim().scenario().subscriptions[0].display_name.clone();
    let out = az.run(&["check", "--checks", "azure", "--subscription", &name]);
    assert_eq!(out.status, 64, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("'{name}' names 2 subscriptions ("))
            && out.stderr.contains("give the id"),
        "{out:?}"
    );
    assert!(az.writes().is_empty());
}
