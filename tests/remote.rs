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
