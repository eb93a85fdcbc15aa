//! The server side checked and fixed remotely through the simulated Arc Run
//! Command: check, plan and dry run send only the read-only probe (once per
//! machine, deleted afterwards) and report what it saw; the fix scripts sent
//! are exactly those the plan showed; failures and time-outs are reported.

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

/// The `# arcfix: <verb>` of each Run Command script sent, in order.
fn verbs(az: &Azure) -> Vec<String> {
    run_command_puts(az)
        .iter()
        .map(|b| {
            let script = b["properties"]["source"]["script"].as_str().unwrap();
            script
                .lines()
                .find_map(|l| l.strip_prefix("# arcfix: "))
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Every write is a run command of the probe script, deleted afterwards:
/// `machines` PUTs (one per machine) and as many DELETEs of the same resources.
fn only_probes(az: &Azure, machines: usize, what: &str) {
    let writes: Vec<(String, String)> = az
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .map(|r| (r.method.clone(), r.path.to_ascii_lowercase()))
        .collect();
    let puts: Vec<&String> = writes
        .iter()
        .filter(|(m, _)| m == "PUT")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(puts.len(), machines, "{what}: {writes:#?}");
    assert_eq!(verbs(az), vec!["probe".to_string(); machines], "{what}");
    for put in &puts {
        assert!(put.contains("/runcommands/arcfix-probe-"), "{what}: {put}");
        assert!(
            writes.iter().any(|(m, p)| m == "DELETE" && p == *put),
            "{what}: {put} was not deleted: {writes:#?}"
        );
    }
    assert_eq!(
        writes.len(),
        2 * machines,
        "{what}: a write other than the probe's: {writes:#?}"
    );
    let mut machines_probed: Vec<String> = puts
        .iter()
        .map(|p| p.split("/runcommands/").next().unwrap().to_string())
        .collect();
    machines_probed.sort();
    machines_probed.dedup();
    assert_eq!(
        machines_probed.len(),
        machines,
        "{what}: one probe per machine"
    );
}

fn not_checked(out: &crate::harness::Output, side: &str) -> Vec<serde_json::Value> {
    out.json()["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["side"] == side)
        .cloned()
        .collect()
}

fn checked(out: &crate::harness::Output) -> Vec<String> {
    out.json()["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
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
    only_probes(&az, 1, "plan");
    let shown: Vec<String> = plan
        .steps()
        .iter()
        .filter_map(|s| s["action"]["script"].as_str().map(String::from))
        .collect();
    // sshd is installed: only what the probe found wrong is planned.
    assert_eq!(shown.len(), 3, "{plan:?}");

    az.sim().clear_log();
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
    for script in &shown {
        assert!(
            sent.contains(script),
            "a planned fix was not sent:\n{script}"
        );
    }
    // The detection's probe answers every precondition; each fix is verified
    // by a fresh probe.
    assert_eq!(
        verbs(&az),
        [
            "probe",
            "start-sshd",
            "probe",
            "agent-enable",
            "probe",
            "agent-port",
            "probe"
        ]
    );
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

    // A second run probes once and finds nothing to do on the server.
    az.sim().clear_log();
    let again = az.run(&[&["apply", "--yes", "-o", "json"][..], &args].concat());
    assert_eq!(again.status, 0, "{again:?}");
    assert!(again.steps().is_empty(), "{again:?}");
    assert!(checked(&again).contains(&"server".to_string()), "{again:?}");
    only_probes(&az, 1, "second apply");
}

#[test]
fn check_plan_and_dry_run_only_probe_the_server() {
    let az = broken_server();
    let id = az.machine(0);
    for args in [
        vec!["check", "--remote", "--id", &id],
        vec!["plan", "--remote", "--id", &id],
        vec!["apply", "--dry-run", "--remote", "--id", &id],
        // Refused: standard input is not a terminal and --yes is not given.
        vec!["apply", "--remote", "--id", &id],
    ] {
        az.sim().clear_log();
        let out = az.run(&args);
        only_probes(&az, 1, &format!("{args:?}: {out:?}"));
    }
}

#[test]
fn check_remote_reports_what_the_probe_saw() {
    let az = Azure::edited("healthy", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"] =
            serde_json::json!({"sshd_running": false});
    });
    let id = az.machine(0);
    let out = az.run(&["check", "--remote", "--id", &id, "-o", "json"]);
    assert_eq!(out.status, 2, "{out:?}");
    let json = out.json();
    let findings: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["target"].as_str().unwrap().eq_ignore_ascii_case(&id))
        .collect();
    assert_eq!(findings.len(), 1, "{out:?}");
    assert_eq!(findings[0]["id"], "sshd-not-running");
    assert_eq!(
        findings[0]["evidence"],
        "probe on web-01 through Run Command: nothing answers SSH on 127.0.0.1:22 (the ssh service is not active)"
    );
    assert!(checked(&out).contains(&"server".to_string()), "{out:?}");
    assert!(not_checked(&out, "server").is_empty(), "{out:?}");
    only_probes(&az, 1, "check --remote");

    // The text says where the answer came from, and what it left behind.
    az.sim().clear_log();
    let text = az.run(&["check", "--remote", "--id", &id]);
    assert_eq!(text.status, 2, "{text:?}");
    assert!(
        text.stdout.contains("sshd-not-running")
            && text.stdout.contains("probe on web-01 through Run Command")
            && text.stdout.contains(
                "runs there through a Run Command resource it creates (arcfix-probe-…) and deletes right afterwards"
            ),
        "{text:?}"
    );
}

#[test]
fn plan_remote_of_a_healthy_server_has_no_server_steps() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--remote", "--id", &id, "-o", "json"]);
    let server_steps: Vec<String> = plan
        .steps()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .filter(|s| s.starts_with("remote-") || s.starts_with("restart-hybrid-agent"))
        .collect();
    assert!(server_steps.is_empty(), "{plan:?}");
    assert!(checked(&plan).contains(&"server".to_string()), "{plan:?}");
    assert!(not_checked(&plan, "server").is_empty(), "{plan:?}");
    only_probes(&az, 1, "plan --remote");
}

#[test]
fn without_remote_no_run_command_is_sent_and_the_server_is_not_checked() {
    let az = broken_server();
    let id = az.machine(0);
    for cmd in ["check", "plan"] {
        az.sim().clear_log();
        let out = az.run(&[cmd, "--id", &id, "-o", "json"]);
        assert!(run_command_puts(&az).is_empty(), "{cmd}: {out:?}");
        assert!(az.writes().is_empty(), "{cmd}: {:?}", az.writes());
        assert!(!checked(&out).contains(&"server".to_string()), "{out:?}");
        let server = not_checked(&out, "server");
        assert_eq!(server.len(), 1, "{out:?}");
        assert_eq!(
            server[0]["reason"], "run arcfix on the server, or use --remote",
            "{out:?}"
        );
    }
}

#[test]
fn a_fleet_is_probed_once_per_connected_machine() {
    let az = Azure::builtin("fleet");
    let sub = az.machine(0).split('/').nth(2).unwrap().to_string();
    let out = az.run(&[
        "check",
        "--remote",
        "--subscription",
        &sub,
        "--resource-group",
        "arc-web",
        "-o",
        "json",
    ]);
    // web-01 and web-02 are connected; web-03 is disconnected.
    only_probes(&az, 2, &format!("{out:?}"));
    let server = not_checked(&out, "server");
    assert_eq!(server.len(), 1, "{out:?}");
    let reason = server[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("web-03: the agent is Disconnected"),
        "{reason}"
    );
    assert_eq!(server[0].get("error"), None, "not an error: {out:?}");
    assert!(!checked(&out).contains(&"server".to_string()), "{out:?}");
    // One note for the machines probed, not one each.
    let probed: Vec<String> = notes(&out.json())
        .into_iter()
        .filter(|n| n.contains("the server side was read by the read-only 'probe' script"))
        .collect();
    assert_eq!(probed.len(), 1, "{probed:?}");
    assert!(probed[0].starts_with("web-01, web-02: "), "{probed:?}");
}

#[test]
fn a_failing_probe_leaves_the_server_not_checked_as_an_error() {
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["sshd_installed"] =
            false.into();
        v["run_command_fail"] = true.into();
    });
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.steps().is_empty(),
        "nothing is planned on a guess: {out:?}"
    );
    let server = not_checked(&out, "server");
    assert_eq!(server.len(), 1, "{out:?}");
    assert_eq!(server[0]["error"], true);
    assert!(
        server[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("web-01: the probe script failed on web-01"),
        "{server:?}"
    );
    assert_eq!(verbs(&az), ["probe"]);
}

#[test]
fn a_failing_fix_script_fails_its_step_and_skips_what_needs_it() {
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["sshd_installed"] =
            false.into();
    });
    // The install script's run command ends Failed; the probe's succeed.
    let endpoint = crate::hostile::hostile(&az, |a| {
        // The operation links name the simulator's own address: arcfix polls
        // the run command itself instead.
        if a.method == "PUT" && a.path.contains("/runCommands/") {
            a.headers.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("azure-asyncoperation")
                    && !k.eq_ignore_ascii_case("location")
            });
        }
        let install = a.method == "GET" && a.path.contains("/runCommands/arcfix-install-sshd-");
        if let Some(view) = a
            .body
            .as_mut()
            .and_then(|b| b.pointer_mut("/properties/instanceView"))
            .filter(|_| install)
        {
            view["executionState"] = "Failed".into();
            view["exitCode"] = 100.into();
            view["error"] = "E: Unable to locate package openssh-server".into();
        }
    });
    let id = az.machine(0);
    let out = az.run_at(
        &endpoint,
        &[
            "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
        ],
    );
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    assert_eq!(steps[0]["id"], "remote-install-openssh-server-web-01");
    assert_eq!(steps[0]["status"], "failed", "{steps:#?}");
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap()
            .contains("Unable to locate package"),
        "{steps:#?}"
    );
    assert_eq!(steps[1]["id"], "remote-start-sshd-web-01");
    assert_eq!(steps[1]["status"], "skipped", "{steps:#?}");
    assert!(
        !verbs(&az).contains(&"start-sshd".to_string()),
        "{:?}",
        verbs(&az)
    );
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
    // The probe of the detection is given up on: the server is not checked.
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.steps().is_empty(), "{out:?}");
    let server = not_checked(&out, "server");
    assert_eq!(server[0]["error"], true, "{out:?}");
    assert!(
        server[0]["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish within 2 s"),
        "{server:?}"
    );
    assert_eq!(verbs(&az), ["probe"], "and it is still deleted");
    assert!(
        az.sim()
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.contains("/runCommands/arcfix-probe-")),
        "the run command is deleted"
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
    // What to look at on the server itself, since Run Command is not allowed.
    let by_hand = step(&out.steps(), "check-server-web-01").clone();
    assert!(
        by_hand["command"]
            .as_str()
            .unwrap()
            .starts_with("on web-01: systemctl status ssh sshd"),
        "{by_hand}"
    );
    let server = not_checked(&out, "server");
    assert_eq!(server.len(), 1, "{out:?}");
    assert!(
        server[0]["reason"]
            .as_str()
            .unwrap()
            .contains("you may not run commands there"),
        "{server:?}"
    );
    assert!(run_command_puts(&az).is_empty());
    assert!(az.writes().is_empty(), "{:?}", az.writes());

    let az = Azure::builtin("disconnected");
    let out = az.run(&["check", "--remote", "--id", &az.machine(0), "-o", "json"]);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.finding_ids()
            .contains(&"agent-disconnected".to_string()),
        "{out:?}"
    );
    let server = not_checked(&out, "server");
    assert_eq!(server.len(), 1, "{out:?}");
    assert_eq!(
        server[0]["reason"],
        "web-01: the agent is Disconnected, so the probe cannot run there through Run Command"
    );
    assert_eq!(server[0].get("error"), None, "not an error: {out:?}");
    assert!(!checked(&out).contains(&"server".to_string()), "{out:?}");
    assert!(run_command_puts(&az).is_empty());
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

/// The agent's allowed incoming ports are read from Azure
/// (`agentConfiguration.incomingConnectionsPorts`): no `--remote` and no
/// right to run commands are needed to see that they leave the SSH port out.
#[test]
fn the_agents_ports_are_read_from_azure_without_remote() {
    let az = Azure::edited("reader", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["incoming_connections_ports"] =
            serde_json::json!(["2222", "8000-8100"]);
    });
    let id = az.machine(0);
    for args in [
        vec!["check", "--checks", "azure", "--id", &id, "-o", "json"],
        vec!["check", "--remote", "--id", &id, "-o", "json"],
    ] {
        let out = az.run(&args);
        assert_eq!(out.status, 2, "{out:?}");
        let f = out.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "sshd-not-running")
            .cloned()
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(
            f["evidence"],
            "the Arc agent of web-01 allows incoming connections on ports 2222, 8000-8100 only, not 22 (agentConfiguration.incomingConnectionsPorts in Azure): it refuses the connection to sshd"
        );
        let step = out
            .steps()
            .iter()
            .find(|s| s["id"] == "remote-agent-allow-port-web-01")
            .cloned()
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(step["automatic"], false);
        assert_eq!(
            step["command"],
            "sudo azcmagent config set incomingconnections.ports 2222,8000-8100,22"
        );
    }
    assert!(run_command_puts(&az).is_empty());
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

/// With `--remote` and the right to run commands, the probe reads the ports
/// on the server itself: one automatic step through Run Command, not the
/// manual one from Azure's view as well.
#[test]
fn with_remote_the_probe_reads_the_ports_and_one_step_fixes_them() {
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["incoming_connections_ports"] =
            serde_json::json!(["2222"]);
    });
    let id = az.machine(0);
    let plan = az.run(&["plan", "--remote", "--id", &id, "-o", "json"]);
    let steps = plan.steps();
    let ports: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["id"] == "remote-agent-allow-port-web-01")
        .collect();
    assert_eq!(ports.len(), 1, "{plan:?}");
    assert_eq!(ports[0]["automatic"], true, "{plan:?}");
    let doc = plan.json();
    let findings: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "sshd-not-running")
        .collect();
    assert!(!findings.is_empty(), "{plan:?}");
    assert!(
        findings.iter().all(|f| f["evidence"]
            .as_str()
            .unwrap()
            .starts_with("probe on web-01")),
        "{findings:?}"
    );
}

/// The `agent-port` script of web-01 as arcfix renders it in the plan.
fn agent_port_script(az: &Azure) -> String {
    let id = az.machine(0);
    let plan = az.run(&[
        "plan", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    plan.steps()
        .iter()
        .find(|s| s["action"]["verb"] == "agent-port")
        .and_then(|s| s["action"]["script"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no agent-port step: {plan:?}"))
}

/// Runs `script` with `shell` in the sandbox, its fake programs first on PATH.
fn run_script(s: &crate::harness::Sandbox, shell: &str, script: &str) -> (i32, String) {
    s.write("script", script);
    let out = std::process::Command::new(shell)
        .arg(s.path("script"))
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}", s.path("bin").display(), s.path("sys").display()),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fake azcmagent keeping incomingconnections.ports in a file; `get` runs
/// `on_get` instead when given, `set` runs `on_set` (default: stores `$4`).
fn fake_agent(s: &crate::harness::Sandbox, ports: &str, on_get: &str, on_set: &str) {
    s.write("ports", ports);
    let file = s.path("ports").display().to_string();
    let get = if on_get.is_empty() {
        format!("cat '{file}'")
    } else {
        on_get.to_string()
    };
    let set = if on_set.is_empty() {
        format!("printf '%s' \"$4\" > '{file}'")
    } else {
        on_set.replace("FILE", &file)
    };
    s.fake(
        "azcmagent",
        &format!(
            r#"case "$1 $2 $3" in
  "config get incomingconnections.ports") {get};;
  "config set incomingconnections.ports") {set};;
  *) exit 2;;
esac"#
        ),
    );
}

fn shells() -> Vec<&'static str> {
    ["/bin/sh", "/bin/bash"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

#[test]
fn the_agent_port_script_never_writes_after_a_failed_or_garbled_read() {
    let az = broken_server();
    let script = agent_port_script(&az);
    assert!(script.contains("PORT=22\n"), "{script}");
    for shell in shells() {
        for (what, get) in [
            (
                "config get fails",
                "echo 'Error: failed to read the configuration' >&2; exit 1",
            ),
            ("not a list of ports", "echo 'Error: config not found'"),
            ("a half list", "echo '[3389, 6516'"),
            ("not a port", "echo '[3389, 70000]'"),
        ] {
            let s = crate::harness::Sandbox::new();
            fake_agent(&s, "", get, "");
            let (code, out) = run_script(&s, shell, &script);
            assert_ne!(code, 0, "{shell}, {what}: {out}");
            assert!(out.contains("nothing changed"), "{shell}, {what}: {out}");
            assert!(
                !s.calls().contains("config set"),
                "{shell}, {what}: the ports were written:\n{}",
                s.calls()
            );
        }
    }
}

#[test]
fn the_agent_port_script_keeps_every_port_and_fails_when_one_is_dropped() {
    let az = broken_server();
    let script = agent_port_script(&az);
    for shell in shells() {
        // Kept and added, in the forms azcmagent prints.
        for before in ["[3389 6516]", "3389,6516", "[\"3389\",\"6516\"]"] {
            let s = crate::harness::Sandbox::new();
            fake_agent(&s, before, "", "");
            let (code, out) = run_script(&s, shell, &script);
            assert_eq!(code, 0, "{shell}, {before}: {out}");
            assert_eq!(
                std::fs::read_to_string(s.path("ports")).unwrap(),
                "3389,6516,22",
                "{shell}, {before}"
            );
        }
        // Already allowed by a range, or not restricted at all: nothing written.
        for before in ["[20-25, 3389]", "[]", ""] {
            let s = crate::harness::Sandbox::new();
            fake_agent(&s, before, "", "");
            let (code, out) = run_script(&s, shell, &script);
            assert_eq!(code, 0, "{shell}, {before}: {out}");
            assert!(!s.calls().contains("config set"), "{shell}, {before}");
        }
        // A set that silently keeps only the last port: the script fails.
        let s = crate::harness::Sandbox::new();
        fake_agent(&s, "[3389,6516]", "", r#"printf '%s' "${4##*,}" > 'FILE'"#);
        let (code, out) = run_script(&s, shell, &script);
        assert_ne!(code, 0, "{shell}: {out}");
        assert!(
            out.contains("port 3389 is no longer allowed"),
            "{shell}: {out}"
        );
        // A set that fails: the script fails.
        let s = crate::harness::Sandbox::new();
        fake_agent(&s, "[3389]", "", "exit 5");
        let (code, out) = run_script(&s, shell, &script);
        assert_eq!(code, 5, "{shell}: {out}");
    }
}

#[test]
fn the_agent_restart_is_scheduled_outside_the_run_command() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--remote", "--id", &id, "-o", "json"]);
    let script = plan
        .steps()
        .iter()
        .find(|s| s["action"]["verb"] == "restart-himds")
        .and_then(|s| s["action"]["script"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no restart step: {plan:?}"));
    for shell in shells() {
        let s = crate::harness::Sandbox::new();
        s.fake("systemd-run", "exit 0");
        s.fake("systemctl", "exit 0");
        s.fake("nohup", "exit 0");
        let (code, out) = run_script(&s, shell, &script);
        assert_eq!(code, 0, "{shell}: {out}");
        assert_eq!(
            s.calls(),
            "systemd-run --on-active=5 systemctl restart himdsd.service\n",
            "{shell}: systemd runs the restart, nothing is left behind in the handler"
        );
        let s = crate::harness::Sandbox::new();
        s.fake("systemd-run", "exit 1");
        assert_ne!(run_script(&s, shell, &script).0, 0, "{shell}");
    }
}

/// The remote apply on the demo: the provider registered, then web-01's agent restarted.
fn apply_remote(az: &Azure) -> crate::harness::Output {
    let id = az.machine(0);
    az.sandbox
        .cmd()
        .args(&["apply", "--yes", "--remote", "--id", &id, "-o", "json"])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("ARCFIX_RUN_COMMAND_TIMEOUT", "8")
        .run()
}

fn step<'a>(steps: &'a [serde_json::Value], prefix: &str) -> &'a serde_json::Value {
    steps
        .iter()
        .find(|s| s["id"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no step {prefix}: {steps:#?}"))
}

#[test]
fn the_agent_restart_is_applied_only_once_a_probe_sees_it() {
    let az = Azure::builtin("demo");
    let out = apply_remote(&az);
    let steps = out.steps();
    let restart = step(&steps, "restart-hybrid-agent-web-01");
    assert_eq!(restart["status"], "applied", "{out:?}");
    let verbs: Vec<String> = run_command_puts(&az)
        .iter()
        .map(|b| {
            let script = b["properties"]["source"]["script"].as_str().unwrap();
            script
                .lines()
                .find_map(|l| l.strip_prefix("# arcfix: "))
                .unwrap()
                .to_string()
        })
        .collect();
    let at = verbs.iter().position(|v| v == "restart-himds").unwrap();
    assert!(
        at > 0
            && verbs[at - 1] == "probe"
            && verbs.get(at + 1).map(String::as_str) == Some("probe"),
        "a probe before and after the restart: {verbs:?}"
    );
    assert_eq!(
        az.sim()
            .state_json()
            .to_string()
            .matches("\"himds_restarts\":1")
            .count(),
        1
    );

    // The restart the handler lost: never reported applied.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["himds_restart_lost"] =
            true.into();
    });
    let out = apply_remote(&az);
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    let restart = step(&steps, "restart-hybrid-agent-web-01");
    assert_eq!(restart["status"], "failed", "{out:?}");
    let error = restart["error"].as_str().unwrap();
    assert!(
        error.starts_with("unconfirmed: ") && error.contains("no restart was seen"),
        "{error}"
    );
}

#[test]
fn a_failed_read_of_the_agents_ports_is_never_applied_nor_satisfied() {
    let az = Azure::edited("demo", |v| {
        let web = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        web["server"]["agent_ports"] = serde_json::json!(["2222", "3389"]);
        web["server"]["agent_ports_unreadable"] = true.into();
    });
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    let port = step(&steps, "remote-agent-allow-port-web-01");
    assert_eq!(port["status"], "failed", "{out:?}");
    assert!(
        port["error"]
            .as_str()
            .unwrap()
            .contains("config get incomingconnections.ports failed"),
        "{port}"
    );
    let state = az.sim().state_json();
    assert_eq!(
        state["subscriptions"][0]["resourceGroups"][0]["machines"][0]["server"]["agent_ports"],
        serde_json::json!(["2222", "3389"]),
        "the ports are unchanged"
    );
}

fn notes(v: &serde_json::Value) -> Vec<String> {
    v["notes"]
        .as_array()
        .map(|n| n.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

const RESTART_OWED: &str =
    ": if Microsoft.HybridConnectivity was registered after the agent last started";

/// The machines a note says the agent restart may still be owed on.
fn restart_owed(v: &serde_json::Value) -> Vec<String> {
    notes(v)
        .iter()
        .filter_map(|n| {
            n.split_once(RESTART_OWED)
                .map(|(names, _)| names.to_string())
        })
        .flat_map(|names| names.split(", ").map(String::from).collect::<Vec<String>>())
        .collect()
}

#[test]
fn no_restart_note_where_nothing_points_to_a_registration() {
    // The provider registered long ago by someone else, the machine connected,
    // no journal of arcfix's registration and no failed probe: nothing to say.
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let args = ["check", "--checks", "azure", "--id", id.as_str()];
    let json = az.run(&[&args[..], &["-o", "json"]].concat());
    assert_eq!(json.status, 0, "{json:?}");
    assert!(restart_owed(&json.json()).is_empty(), "{json:?}");
    let text = az.run(&args);
    assert!(!text.stdout.contains(RESTART_OWED), "{text:?}");
    // A journal that is there but cannot be read is not "no registration":
    // the note is said, with why it cannot be settled.
    std::fs::create_dir_all(az.sandbox.path("home/.local/state/arcfix/journal.jsonl")).unwrap();
    let unread = az.run(&args);
    assert!(
        unread.stdout.contains(RESTART_OWED)
            && unread.stdout.contains("arcfix's journal could not be read"),
        "{unread:?}"
    );
}

#[test]
fn the_agent_restart_after_a_registration_stays_visible_until_seen() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let args = ["--checks", "azure", "--id", id.as_str()];
    // Registered by arcfix; the restart is left to a person.
    let apply = az.run(&[&["apply", "--yes", "-o", "json"][..], &args].concat());
    assert_eq!(apply.status, 3, "{apply:?}");
    assert_eq!(
        step(&apply.steps(), "register-hybridconnectivity")["status"],
        "applied"
    );
    assert_eq!(
        step(&apply.steps(), "restart-hybrid-agent-web-01")["status"],
        "manual"
    );
    // The provider is Registered now, but nothing saw the agent restart.
    for extra in [&[][..], &["--remote"][..]] {
        let check = az.run(&[&["check", "-o", "json"][..], &args, extra].concat());
        assert_eq!(
            restart_owed(&check.json()),
            ["web-01"],
            "{extra:?}: {check:?}"
        );
        let text = az.run(&[&["check"][..], &args, extra].concat());
        assert!(
            text.stdout.contains(&format!("note: web-01{RESTART_OWED}")),
            "{text:?}"
        );
    }

    // Restarted through Run Command and seen by a probe in the same run (the
    // demo): its closing check owes nothing on web-01.
    let s = crate::harness::Sandbox::new();
    let demo = s.cmd().args(&["demo", "-o", "json"]).run().json();
    let before = step(
        demo["applied"]["steps"].as_array().unwrap(),
        "restart-hybrid-agent-web-01",
    );
    assert_eq!(before["status"], "applied", "{demo:#}");
    // db-01's provider was Registered before, by someone else: nothing this
    // run saw points to a registration after its agent started, so nothing
    // is claimed (before, every such machine had the note).
    assert!(
        restart_owed(&demo["after"]).is_empty(),
        "{:#?}",
        notes(&demo["after"])
    );
}

/// No --port and --remote: the server's sshd says which port SSH is on (its
/// probe reads `sshd -T`), and Azure is judged and fixed for that port.
#[test]
fn without_port_remote_takes_sshds_own_port() {
    // Azure's SSH configuration says 2222; sshd listens on 22.
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let plan = az.run(&[
        "plan",
        "--remote",
        "--checks",
        "azure,server",
        "--id",
        &id,
        "-o",
        "json",
    ]);
    let v = plan.json();
    let step = plan
        .steps()
        .into_iter()
        .find(|s| s["id"] == "enable-ssh-port-web-01")
        .unwrap_or_else(|| panic!("{plan:?}"));
    assert_eq!(step["automatic"], true, "{step}");
    assert!(
        step["description"]
            .as_str()
            .unwrap()
            .contains("from 2222 to 22"),
        "{step}"
    );
    assert!(
        v["notes"].to_string().contains(
            "web-01: sshd is configured for port 22 (sshd -T, through Run Command); no --port was given"
        ),
        "{}",
        v["notes"]
    );
    // sshd answers on its own port: no sshd finding.
    assert!(
        !plan.finding_ids().contains(&"sshd-not-running".to_string()),
        "{plan:?}"
    );

    // sshd moved to 2222 as well: Azure already agrees, nothing to change.
    let az = Azure::edited("wrong-port", |v| {
        let server = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"];
        server["ssh_port"] = serde_json::json!(2222);
        server["agent_ports"] = serde_json::json!(["2222"]);
    });
    let id = az.machine(0);
    let out = az.run(&[
        "check",
        "--remote",
        "--checks",
        "azure,server",
        "--id",
        &id,
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
}

/// A Windows server without OpenSSH: where Azure shows an agent that
/// installs Microsoft's WindowsOpenSSH extension, apply installs it by an
/// ARM PUT of the extension and no install script runs; where the agent's
/// allow list leaves it out, the Run Command script does it, as before.
/// Both end with sshd answering on the simulated server.
#[test]
fn windows_sshd_comes_by_extension_where_the_agent_allows_it_else_by_the_script() {
    let openssh_puts = |az: &Azure| -> Vec<String> {
        az.sim()
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/extensions/"))
            .map(|r| r.path.clone())
            .collect()
    };
    let sshd_up = |az: &Azure| {
        let state = az.sim().state_json().to_string();
        state.contains(r#""sshd_installed":true"#) && state.contains(r#""sshd_running":true"#)
    };
    // Allowed (no list, extension manager on): the extension.
    let az = Azure::builtin("windows");
    let id = az.machine(0);
    let out = az.run(&[
        "plan", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    let steps = out.steps();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "install-openssh-extension-win-01",
            "remote-start-sshd-win-01"
        ],
        "{out:?}"
    );
    assert_eq!(steps[0]["automatic"], true);
    assert!(
        steps[0]["command"].as_str().unwrap().contains(
            "--publisher Microsoft.Azure.OpenSSH --type WindowsOpenSSH --type-handler-version 3.0.1.0"
        ),
        "{:?}",
        steps[0]
    );
    assert_eq!(
        steps[1]["depends_on"],
        serde_json::json!(["install-openssh-extension-win-01"])
    );
    let out = az.run(&[
        "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    let puts = openssh_puts(&az);
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(
        puts[0].ends_with("/machines/win-01/extensions/WindowsOpenSSH"),
        "{puts:?}"
    );
    assert!(
        !verbs(&az).contains(&"install-sshd".to_string()),
        "{:?}",
        verbs(&az)
    );
    assert!(sshd_up(&az), "{}", az.sim().state_json());

    // The allow list admits Run Command only: the script, no extension write.
    let az = Azure::edited("windows", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["extensions_allowlist"] =
            serde_json::json!(["Microsoft.CPlat.Core/RunCommandHandlerWindows"]);
    });
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--yes", "--checks", "server", "--remote", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    let ids: Vec<String> = out
        .steps()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "remote-install-openssh-server-win-01",
            "remote-start-sshd-win-01"
        ],
        "{out:?}"
    );
    assert!(openssh_puts(&az).is_empty(), "{:?}", openssh_puts(&az));
    assert!(
        verbs(&az).contains(&"install-sshd".to_string()),
        "{:?}",
        verbs(&az)
    );
    assert!(sshd_up(&az), "{}", az.sim().state_json());
}
