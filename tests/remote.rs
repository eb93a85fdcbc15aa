//! The server side fixed remotely through the simulated Arc Run Command: the
//! scripts sent are exactly those the plan showed, nothing runs in check, plan
//! or dry run, and failures and time-outs are reported.

use crate::azure::Azure;

/// web-01 of the demo with sshd stopped, incoming connections off, and the
/// agent's ports restricted to 2222.
fn broken_server() -> Azure {
    Azure::edited("demo", |v| {
        let web = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        web["server"]["sshd_running"] = false.into();
        web["server"]["agent_incoming_enabled"] = false.into();
        web["server"]["agent_ports"] = serde_json::json!(["2222"]);
    })
}

fn run_command_puts(az: &Azure) -> Vec<serde_json::Value> {
    az.sim()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.to_ascii_lowercase().contains("/runcommands/"))
        .map(|r| r.body.unwrap_or_default())
        .collect()
}

#[test]
fn the_server_is_fixed_through_run_command_with_the_scripts_the_plan_showed() {
    let az = broken_server();
    let id = az.machine(0);
    let args = ["--checks", "server", "--remote", "--id", id.as_str()];
    let plan = az.run(&[&["plan", "-o", "json"][..], &args].concat());
    assert_eq!(plan.status, 2, "{plan:?}");
    assert!(
        az.writes().is_empty(),
        "plan ran something: {:?}",
        az.writes()
    );
    let shown: Vec<String> = plan
        .steps()
        .iter()
        .filter_map(|s| s["action"]["script"].as_str().map(String::from))
        .collect();
    assert_eq!(shown.len(), 4, "{plan:?}");

    let apply = az.run(&[&["apply", "--yes", "-o", "json"][..], &args].concat());
    assert_eq!(apply.status, 0, "{apply:?}");
    let statuses: Vec<String> = apply
        .steps()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["id"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "remote-install-openssh-server-web-01 already-satisfied",
            "remote-start-sshd-web-01 applied",
            "remote-agent-allow-incoming-web-01 applied",
            "remote-agent-allow-port-web-01 applied"
        ]
    );
    let sent: Vec<String> = run_command_puts(&az)
        .iter()
        .map(|b| {
            b["properties"]["source"]["script"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for script in &sent {
        assert!(
            script.contains("# arcfix: probe") || shown.contains(script),
            "a script the plan did not show was sent:\n{script}"
        );
    }
    for script in &shown[1..] {
        assert!(
            sent.contains(script),
            "a planned fix was not sent:\n{script}"
        );
    }
    for b in run_command_puts(&az) {
        assert_eq!(b["location"], "eastus");
    }
    let deletes = az
        .sim()
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.to_ascii_lowercase().contains("/runcommands/"))
        .count();
    assert_eq!(
        deletes,
        run_command_puts(&az).len(),
        "every run command is deleted afterwards"
    );
    let state = az.sim().state_json().to_string();
    assert!(
        state.contains("2222") && state.contains("\"22\""),
        "ports kept and added: {state}"
    );

    // A second run finds nothing to do on the server.
    let again = az.run(&[&["apply", "--yes", "-o", "json"][..], &args].concat());
    assert_eq!(again.status, 0, "{again:?}");
    assert!(
        again
            .steps()
            .iter()
            .all(|s| s["status"] == "already-satisfied"),
        "{again:?}"
    );
}

#[test]
fn check_plan_and_dry_run_run_nothing_on_the_server() {
    let az = broken_server();
    let id = az.machine(0);
    for args in [
        vec!["check", "--remote", "--id", &id],
        vec!["plan", "--remote", "--id", &id],
        vec!["apply", "--dry-run", "--remote", "--id", &id],
        vec!["apply", "--remote", "--id", &id],
    ] {
        az.run(&args);
        assert!(run_command_puts(&az).is_empty(), "{args:?} ran a command");
        assert!(az.writes().is_empty(), "{args:?} wrote");
    }
}

#[test]
fn a_failing_script_fails_its_step_and_skips_what_needs_it() {
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["sshd_installed"] =
            false.into();
        v["run_command_fail"] = true.into();
    });
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    assert_eq!(steps[0]["status"], "failed", "{steps:#?}");
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap()
            .contains("probe script failed"),
        "{steps:#?}"
    );
    assert_eq!(steps[1]["status"], "skipped", "{steps:#?}");
}

#[test]
fn a_run_command_that_never_finishes_is_given_up_on() {
    let az = Azure::edited("demo", |v| v["run_command_polls"] = serde_json::Value::Null);
    let id = az.machine(0);
    let out = az
        .sandbox
        .cmd()
        .args(&[
            "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RUN_COMMAND_TIMEOUT", "2")
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let first = &out.json()["steps"][0];
    assert_eq!(first["status"], "failed");
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("did not finish within 2 s"),
        "{first}"
    );
}

#[test]
fn without_run_command_rights_or_a_connected_agent_nothing_is_attempted() {
    let az = Azure::builtin("reader");
    let out = az.run(&[
        "apply",
        "--yes",
        "--checks",
        "server",
        "--remote",
        "--id",
        &az.machine(0),
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    assert!(
        out.finding_ids()
            .contains(&"run-command-permission-missing".to_string()),
        "{out:?}"
    );
    assert!(out.steps().iter().all(|s| s["status"] == "manual"));
    // What to type on the server itself, since Run Command is not allowed.
    let start = out
        .steps()
        .iter()
        .find(|s| s["id"].as_str().unwrap().starts_with("remote-start-sshd"))
        .cloned()
        .unwrap();
    assert!(
        start["command"]
            .as_str()
            .unwrap()
            .contains(": sudo systemctl enable --now ssh"),
        "{start}"
    );
    assert!(run_command_puts(&az).is_empty());

    let az = Azure::builtin("disconnected");
    let out = az.run(&[
        "apply",
        "--yes",
        "--checks",
        "server",
        "--remote",
        "--id",
        &az.machine(0),
        "-o",
        "json",
    ]);
    assert!(
        out.json()["notes"].to_string().contains("disconnected"),
        "{out:?}"
    );
    assert!(run_command_puts(&az).is_empty());
}

#[test]
fn the_agents_ports_are_read_from_azure_without_running_anything() {
    let az = broken_server();
    let id = az.machine(0);
    let out = az.run(&[
        "check", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    let f = &out.json()["findings"][0];
    assert_eq!(f["id"], "sshd-not-running");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains("[2222] only, not 22"),
        "{f}"
    );
    assert!(run_command_puts(&az).is_empty());

    // With the port allowed in Azure's view, no agent-port step is planned.
    let az = Azure::builtin("demo");
    let plan = az.run(&[
        "plan",
        "--checks",
        "server",
        "--remote",
        "--id",
        &az.machine(0),
        "-o",
        "json",
    ]);
    let ids: Vec<String> = plan
        .steps()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !ids.iter().any(|i| i.starts_with("remote-agent-allow-port")),
        "{ids:?}"
    );
}
