//! Run commands and extensions: long-running operations acted out on the
//! simulated server.

use serde_json::{Value, json};

use crate::sim::tests::{COMPUTE, MACHINE, T};
use crate::sim::{SCRIPT_MARKER, Scenario};

fn run(script: &str) -> Value {
    json!({"location": "eastus", "properties": {"source": {"script": script}, "asyncExecution": false}})
}

/// Follows an `Azure-AsyncOperation` URL until it leaves `InProgress`; returns the statuses seen.
async fn poll(t: &T, url: &str) -> Vec<String> {
    let path = url
        .trim_start_matches(t.sim.base_url().trim_end_matches('/'))
        .to_string();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = t.get(&path).await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        let status = r.body["status"].as_str().unwrap().to_string();
        seen.push(status.clone());
        if status != "InProgress" {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn run_command_lifecycle_probe() {
    let mut s = Scenario::builtin("windows").unwrap();
    s.run_command_polls = Some(2);
    s.subscriptions[0].resource_groups[0].machines[0].incoming_connections_ports =
        vec!["22".into()];
    let t = T::start(s).await;
    let machine = MACHINE.replace("web-01", "win-01");
    let url = format!("{machine}/runCommands/arcfix-probe?{COMPUTE}");
    let r = t
        .put(
            &url,
            run(&format!("Write-Output probing\n{SCRIPT_MARKER} probe\n")),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert_eq!(r.header("Retry-After"), Some("1"));
    let op = r.header("Azure-AsyncOperation").unwrap().to_string();
    assert!(
        op.starts_with(&t.sim.base_url()) && op.contains("api-version=2025-01-13"),
        "{op}"
    );
    let location = r.header("Location").unwrap().to_string();

    let location_path = location
        .trim_start_matches(t.sim.base_url().trim_end_matches('/'))
        .to_string();
    assert_eq!(
        t.get(&location_path).await.status,
        202,
        "Location answers 202 while running"
    );
    assert_eq!(poll(&t, &op).await, ["InProgress", "Succeeded"]);
    assert_eq!(t.get(&location_path).await.status, 200);

    let r = t.get(&url).await;
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    let view = &r.body["properties"]["instanceView"];
    assert_eq!(view["executionState"], "Succeeded");
    assert_eq!(view["exitCode"], 0);
    assert!(view["startTime"].is_string() && view["endTime"].is_string());
    let probe: Value = serde_json::from_str(view["output"].as_str().unwrap()).unwrap();
    assert_eq!(probe["os"], "windows");
    assert_eq!(probe["sshd_installed"], false);
    assert_eq!(probe["agent_ports"], json!(["22"]));

    assert_eq!(t.delete(&url).await.status, 202);
    assert_eq!(t.delete(&url).await.status, 204);
    assert_eq!(t.get(&url).await.status, 404);
}

#[tokio::test]
async fn run_commands_change_the_server_model() {
    let mut s = Scenario::builtin("windows").unwrap();
    s.run_command_polls = Some(0);
    let t = T::start(s).await;
    let machine = MACHINE.replace("web-01", "win-01");
    let url = format!("{machine}/runCommands/fix?{COMPUTE}");
    let script = format!(
        "{SCRIPT_MARKER} install-sshd\n{SCRIPT_MARKER} start-sshd\n{SCRIPT_MARKER} agent-ports 22,2222\n\
         {SCRIPT_MARKER} agent-enable\n{SCRIPT_MARKER} restart-himds\n"
    );
    t.put(&url, run(&script)).await;
    let r = t.get(&url).await;
    assert_eq!(
        r.body["properties"]["instanceView"]["executionState"], "Succeeded",
        "{:#}",
        r.body
    );
    let state = t.sim.state_json();
    let server = &state["subscriptions"][0]["resourceGroups"][0]["machines"][0]["server"];
    assert_eq!(server["sshd_installed"], true);
    assert_eq!(server["sshd_running"], true);
    assert_eq!(server["himds_restarts"], 1);
    // ARM shows the agent's ports on the machine.
    let m = t.get(&format!("{machine}?{COMPUTE}")).await;
    assert_eq!(
        m.body["properties"]["agentConfiguration"]["incomingConnectionsPorts"],
        json!(["22", "2222"])
    );
}

/// arcfix's own scripts start with `# arcfix: <verb>`; their probe prints `key=value` lines.
#[tokio::test]
async fn arcfix_scripts_run_in_their_own_dialect() {
    let mut s = Scenario::builtin("wrong-port").unwrap();
    s.run_command_polls = Some(0);
    s.subscriptions[0].resource_groups[0].machines[0].incoming_connections_ports =
        vec!["22".into()];
    let t = T::start(s).await;
    let url = format!("{MACHINE}/runCommands/arcfix-probe-1?{COMPUTE}");
    t.put(
        &url,
        run("#!/bin/bash\n# arcfix: probe\n# Read-only\nPORT=2222\necho \"os=linux\"\n"),
    )
    .await;
    let output = t.get(&url).await.body["properties"]["instanceView"]["output"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        output.starts_with(
            "os=linux\nsshd_unit=ssh\nsshd_installed=true\nsshd_active=true\nbanner=\n"
        ),
        "{output}"
    );
    assert!(
        output.contains("agent_status=Connected\nincoming_enabled=true\nincoming_ports=22"),
        "{output}"
    );
    t.put(&url, run("#!/bin/bash\n# arcfix: probe\nPORT=22\n"))
        .await;
    let output = t.get(&url).await.body["properties"]["instanceView"]["output"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        output.contains("banner=SSH-2.0-OpenSSH"),
        "sshd listens on 22: {output}"
    );
    let add = format!("{MACHINE}/runCommands/arcfix-agent-port-1?{COMPUTE}");
    t.put(
        &add,
        run("#!/bin/bash\n# arcfix: agent-port 2222\nset -e\nPORT=2222\n"),
    )
    .await;
    assert_eq!(
        t.get(&add).await.body["properties"]["instanceView"]["exitCode"],
        0
    );
    let m = t.get(&format!("{MACHINE}?{COMPUTE}")).await;
    assert_eq!(
        m.body["properties"]["agentConfiguration"]["incomingConnectionsPorts"],
        json!(["22", "2222"])
    );
}

#[tokio::test]
async fn failing_and_unknown_scripts_fail() {
    let mut s = Scenario::builtin("healthy").unwrap();
    s.run_command_polls = Some(0);
    let t = T::start(s.clone()).await;
    let url = format!("{MACHINE}/runCommands/x?{COMPUTE}");
    let r = t
        .put(&url, run(&format!("{SCRIPT_MARKER} frobnicate")))
        .await;
    let op = r.header("Azure-AsyncOperation").unwrap().to_string();
    assert_eq!(
        poll(&t, &op).await,
        ["Succeeded"],
        "provisioning succeeds; the script fails"
    );
    let view = t.get(&url).await.body["properties"]["instanceView"].clone();
    assert_eq!(
        (view["executionState"].as_str(), view["exitCode"].as_i64()),
        (Some("Failed"), Some(1))
    );
    assert!(
        view["error"]
            .as_str()
            .unwrap()
            .contains("unknown verb 'frobnicate'")
    );

    s.run_command_fail = true;
    let t = T::start(s).await;
    t.put(&url, run(&format!("{SCRIPT_MARKER} restart-himds")))
        .await;
    let view = t.get(&url).await.body["properties"]["instanceView"].clone();
    assert_eq!(
        (view["executionState"].as_str(), view["exitCode"].as_i64()),
        (Some("Failed"), Some(1))
    );
    assert_eq!(
        t.sim.state_json()["subscriptions"][0]["resourceGroups"][0]["machines"][0]["server"]["himds_restarts"],
        0
    );
}

#[tokio::test]
async fn run_commands_can_hang_and_need_location() {
    let mut s = Scenario::builtin("healthy").unwrap();
    s.run_command_polls = None;
    let t = T::start(s).await;
    let url = format!("{MACHINE}/runCommands/x?{COMPUTE}");
    let r = t
        .put(
            &url,
            json!({"properties": {"source": {"script": "# arcfix-sim: probe"}}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "LocationRequired"));
    let r = t.put(&url, run("# arcfix-sim: probe")).await;
    let op = r.header("Azure-AsyncOperation").unwrap().to_string();
    assert!(poll(&t, &op).await.iter().all(|s| s == "InProgress"));
    assert_eq!(
        t.get(&url).await.body["properties"]["instanceView"]["executionState"],
        "Running"
    );
}

#[tokio::test]
async fn run_commands_on_a_disconnected_machine_fail() {
    let mut s = Scenario::builtin("disconnected").unwrap();
    s.run_command_polls = Some(0);
    let t = T::start(s).await;
    let r = t
        .put(
            &format!("{MACHINE}/runCommands/x?{COMPUTE}"),
            run("# arcfix-sim: probe"),
        )
        .await;
    let op = r.header("Azure-AsyncOperation").unwrap().to_string();
    assert_eq!(poll(&t, &op).await, ["Failed"]);
}

#[tokio::test]
async fn extensions_provision_after_polls() {
    let mut s = Scenario::builtin("demo").unwrap();
    s.extension_polls = Some(2);
    let t = T::start(s).await;
    let url = format!("{MACHINE}/extensions/AADSSHLoginForLinux?{COMPUTE}");
    let body = json!({"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux", "typeHandlerVersion": "1.0"}});
    let r = t.put(&url, json!({"properties": body["properties"]})).await;
    assert_eq!((r.status, r.code()), (400, "LocationRequired"));
    let r = t.put(&url, body.clone()).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    let states: Vec<Value> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(t.get(&url).await.body["properties"]["provisioningState"].clone());
        }
        v
    };
    assert_eq!(states, ["Creating", "Creating", "Succeeded"]);
    let r = t.put(&url, body).await;
    assert_eq!(r.status, 200);

    // A Linux extension on Windows fails to provision.
    let mut s = Scenario::builtin("windows").unwrap();
    s.extension_polls = Some(0);
    let t = T::start(s).await;
    let url = format!(
        "{}/extensions/AADSSHLoginForLinux?{COMPUTE}",
        MACHINE.replace("web-01", "win-01")
    );
    let r = t
        .put(&url, json!({"location": "westeurope", "properties": {"publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux"}}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        t.get(&url).await.body["properties"]["provisioningState"],
        "Failed"
    );
}

#[tokio::test]
async fn bare_errors_for_hybridcompute_when_asked() {
    let mut s = Scenario::builtin("healthy").unwrap();
    s.bare_hybridcompute_errors = true;
    let t = T::start(s).await;
    let r = t
        .get(&format!("{}?{COMPUTE}", MACHINE.replace("web-01", "ghost")))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "ResourceNotFound");
    assert!(r.body.get("error").is_none());
}

#[tokio::test]
async fn the_agent_refuses_what_its_extension_rules_exclude_and_windows_openssh_starts_sshd() {
    let entra = json!({"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux"}});
    let url = format!("{MACHINE}/extensions/AADSSHLoginForLinux?{COMPUTE}");
    type Edit = fn(&mut crate::sim::scenario::ServerSpec);
    let cases: [(Edit, &str); 3] = [
        (
            |s| s.extensions_enabled = false,
            "extensions.enabled is false",
        ),
        (
            |s| {
                s.extensions_allowlist =
                    vec!["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent".into()]
            },
            "is not in the agent's extensions.allowlist",
        ),
        (
            // In both lists: blocked.
            |s| {
                s.extensions_allowlist =
                    vec!["Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux".into()];
                s.extensions_blocklist =
                    vec!["microsoft.azure.activedirectory/aadsshloginforlinux".into()];
            },
            "is in the agent's extensions.blocklist",
        ),
    ];
    for (edit, message) in cases {
        let mut s = Scenario::builtin("demo").unwrap();
        s.extension_polls = Some(0);
        edit(&mut s.subscriptions[0].resource_groups[0].machines[0].server);
        let t = T::start(s).await;
        // ARM shows the rules on the machine, as the agent reports them.
        let m = t.get(&format!("{MACHINE}?{COMPUTE}")).await.body;
        let agent = &m["properties"]["agentConfiguration"];
        assert!(
            agent["extensionsAllowList"].is_array() && agent["extensionsEnabled"].is_string(),
            "{agent}"
        );
        // ARM accepts the write; the agent refuses it and reports the failure.
        assert_eq!(t.put(&url, entra.clone()).await.status, 201);
        let e = t.get(&url).await.body;
        assert_eq!(e["properties"]["provisioningState"], "Failed", "{e:#}");
        assert!(e.to_string().contains(message), "{e:#}");
    }
    let mut s = Scenario::builtin("demo").unwrap();
    s.subscriptions[0].resource_groups[0].machines[0]
        .server
        .extensions_blocklist = vec!["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent".into()];
    let t = T::start(s).await;
    let m = t.get(&format!("{MACHINE}?{COMPUTE}")).await.body;
    assert_eq!(
        m["properties"]["agentConfiguration"]["extensionsBlockList"],
        json!([{"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent"}])
    );

    // WindowsOpenSSH on the Windows server: sshd installed and running once provisioned.
    let mut s = Scenario::builtin("windows").unwrap();
    s.extension_polls = Some(1);
    let t = T::start(s).await;
    let url = format!(
        "{}/extensions/WindowsOpenSSH?{COMPUTE}",
        MACHINE.replace("web-01", "win-01")
    );
    let server = |t: &T| t.sim.state_json().to_string();
    assert!(server(&t).contains(r#""sshd_installed":false"#));
    let body = json!({"location": "westeurope", "properties": {
        "publisher": "Microsoft.Azure.OpenSSH", "type": "WindowsOpenSSH", "typeHandlerVersion": "3.0.1.0"}});
    assert_eq!(t.put(&url, body).await.status, 201);
    assert!(server(&t).contains(r#""sshd_installed":false"#));
    assert_eq!(
        t.get(&url).await.body["properties"]["provisioningState"],
        "Creating"
    );
    assert_eq!(
        t.get(&url).await.body["properties"]["provisioningState"],
        "Succeeded"
    );
    let state = server(&t);
    assert!(
        state.contains(r#""sshd_installed":true"#) && state.contains(r#""sshd_running":true"#),
        "{state}"
    );
}
