//! What blocks SSH that Azure shows and no tool names: the machine's
//! `SSHPort` tag (which `az ssh arc` uses without `--port`) and an agent in
//! monitor mode reached with `--remote`.

use crate::azure::Azure;
use serde_json::{Value, json};

/// The healthy machine (SSH through Arc on 22) with its `SSHPort` tag set to `value`.
fn tagged(scenario: &str, value: &str) -> Azure {
    let value = value.to_string();
    Azure::edited(scenario, move |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["tags"] =
            json!({ "SSHPort": value, "env": "prod" });
    })
}

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {list:#}"))
}

#[test]
fn an_ssh_port_tag_that_disagrees_with_azure_is_named_with_both_ways_out_and_nothing_is_changed() {
    let az = tagged("healthy", "2222");
    let id = az.machine(0);
    let out = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert_eq!(out.status, 2, "{out:?}");
    // Said once, by the tag's finding (not also as a port to change).
    assert_eq!(out.finding_ids(), ["ssh-port-tag-mismatch"], "{out:?}");
    let doc = out.json();
    let f = find(&doc["findings"], "ssh-port-tag-mismatch");
    assert_eq!(
        f["evidence"],
        "the SSHPort tag of web-01 says 2222, so az ssh arc connects to port 2222 without --port; SSH through Arc is enabled on port 22"
    );
    assert_eq!(f["fix"], "manual");
    let step = find(&doc["steps"], "fix-ssh-port-tag-web-01");
    assert_eq!(step["automatic"], false);
    assert_eq!(
        step["command"],
        format!("az tag update --resource-id {id} --operation merge --tags SSHPort=22")
    );
    assert!(
        step["description"]
            .as_str()
            .unwrap()
            .contains("arcfix apply --port 2222"),
        "{step}"
    );
    assert!(
        doc["notes"].to_string().contains(
            "web-01: its SSHPort tag says 2222: az ssh arc connects to that port without --port"
        ),
        "{doc:#}"
    );
    let apply = az.run(&["apply", "--yes", "--checks", "azure", "--id", &id]);
    assert_eq!(apply.status, 3, "{apply:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());

    // --port wins over the tag, as in az ssh arc: a note, no finding.
    let out = az.run(&[
        "check", "--checks", "azure", "--id", &id, "--port", "22", "-o", "json",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.json()["notes"]
            .to_string()
            .contains("its SSHPort tag says 2222, which az ssh arc uses without --port; arcfix checks --port 22 as you asked"),
        "{out:?}"
    );
}

#[test]
fn without_port_the_tag_is_the_port_ssh_is_enabled_on() {
    // The demo's web-01 has no endpoint: the tag's port is the one enabled.
    let az = tagged("demo", "2222");
    let id = az.machine(0);
    let out = az.run(&["apply", "--yes", "--checks", "azure", "--id", &id]);
    // 3: the agent's restart after the provider's registration is manual.
    assert_eq!(out.status, 3, "{out:?}");
    let puts: Vec<Value> = az
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/serviceConfigurations/SSH"))
        .filter_map(|r| r.body)
        .collect();
    assert_eq!(puts.len(), 1, "{:?}", az.writes());
    assert_eq!(puts[0]["properties"]["port"], 2222, "{:?}", puts[0]);
    // The second run finds the tag and Azure in agreement.
    let again = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        !again
            .finding_ids()
            .iter()
            .any(|f| f == "ssh-port-tag-mismatch" || f == "ssh-port-not-enabled"),
        "{again:?}"
    );
}

#[test]
fn an_ssh_port_tag_that_is_not_a_port_is_named_safely_and_22_is_checked() {
    for (value, shown) in [
        ("ssh", "'ssh'"),
        ("65535", "'65535'"),
        ("22\u{1b}[31m\u{202e}", "'22"),
    ] {
        let az = tagged("healthy", value);
        let id = az.machine(0);
        let out = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
        assert_eq!(out.status, 2, "{value:?}: {out:?}");
        assert_eq!(out.finding_ids(), ["ssh-port-tag-mismatch"], "{out:?}");
        let doc = out.json();
        let evidence = find(&doc["findings"], "ssh-port-tag-mismatch")["evidence"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(evidence.contains(shown), "{evidence}");
        assert!(evidence.contains("which is not a port"), "{evidence}");
        assert!(evidence.ends_with("arcfix checks port 22"), "{evidence}");
        assert!(
            !evidence.contains('\u{1b}') && !evidence.contains('\u{202e}'),
            "{evidence:?}"
        );
        let step = find(&doc["steps"], "fix-ssh-port-tag-web-01");
        assert!(
            step["command"]
                .as_str()
                .unwrap()
                .ends_with("--tags SSHPort=22"),
            "{step}"
        );
        // In the text a terminal shows, nothing Azure sent can move the cursor.
        let text = az.run(&["check", "--checks", "azure", "--id", &id]);
        assert!(!text.stdout.contains('\u{1b}'), "{:?}", text.stdout);
    }
}

#[test]
fn a_fleet_sees_each_machines_tag_through_resource_graph() {
    let az = tagged("healthy", "2222");
    let sub = az.machine(0).split('/').nth(2).unwrap().to_string();
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        &sub,
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(
        out.json()["machines"][0]["findings"],
        json!(["ssh-port-tag-mismatch"]),
        "{out:?}"
    );
}

/// Monitor mode refuses Run Command: `--remote` sends none, and says the
/// server was not checked and why.
#[test]
fn remote_sends_no_run_command_to_an_agent_in_monitor_mode() {
    let az = Azure::edited("healthy", |v| {
        let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        m["server"] = json!({"config_mode": "monitor", "sshd_running": false});
    });
    let id = az.machine(0);
    for verb in ["check", "plan"] {
        let out = az.run(&[verb, "--remote", "--id", &id, "-o", "json"]);
        assert_eq!(out.status, 2, "{out:?}");
        let doc = out.json();
        assert!(
            doc["not_checked"].to_string().contains(
                "web-01: the agent is in monitor mode, which refuses Run Command, so the probe cannot run there"
            ),
            "{doc:#}"
        );
        assert!(
            !doc["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"].as_str().unwrap().starts_with("remote-")),
            "{doc:#}"
        );
    }
    let out = az.run(&["apply", "--yes", "--remote", "--id", &id]);
    assert_eq!(out.status, 3, "{out:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

/// The tag and Azure agree on 2222, but sshd listens on 22 (the `--remote`
/// probe reads `sshd -T`): the tag is named, the server is judged where sshd
/// listens, and no step starts sshd on the tag's port.
#[test]
fn with_remote_a_tag_naming_a_port_sshd_does_not_listen_on_is_named() {
    let az = Azure::edited("healthy", |v| {
        let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        m["tags"] = json!({ "SSHPort": "2222" });
        m["endpoint"] = json!({ "ssh_port": 2222 });
    });
    let id = az.machine(0);
    let out = az.run(&["plan", "--remote", "--id", &id, "-o", "json"]);
    assert_eq!(out.status, 2, "{out:?}");
    let doc = out.json();
    let f = find(&doc["findings"], "ssh-port-tag-mismatch");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .ends_with("sshd there is configured for port 22 (sshd -T, through Run Command)"),
        "{f}"
    );
    let step = find(&doc["steps"], "fix-ssh-port-tag-web-01");
    assert!(
        step["command"]
            .as_str()
            .unwrap()
            .ends_with("--tags SSHPort=22"),
        "{step}"
    );
    assert!(
        !doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"].as_str().unwrap().starts_with("remote-start-sshd")),
        "{doc:#}"
    );
}
