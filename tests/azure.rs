//! The Azure side against the simulated ARM: each finding, convergence, writes
//! only where needed, permissions, storms, casing, JSON, and no secret leaks.

use arcfix::sim::{Knobs, Scenario, Sim};

use crate::harness::{Output, Sandbox};

/// A running simulator and a sandbox whose fake `az` hands out the caller's token.
pub struct Azure {
    pub rt: tokio::runtime::Runtime,
    pub sim: Option<Sim>,
    pub sandbox: Sandbox,
    pub token: String,
    /// Path prefixes of links a test injected itself (tests/hostile.rs), not
    /// held to the REST specs.
    pub foreign: std::sync::Mutex<Vec<String>>,
}

impl Azure {
    pub fn builtin(name: &str) -> Azure {
        Azure::with(Scenario::builtin(name).unwrap_or_else(|| panic!("no scenario {name}")))
    }

    /// A built-in scenario changed by `edit` (on its JSON form).
    pub fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Azure {
        let text = std::fs::read_to_string(format!(
            "{}/src/sim/scenarios/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(&mut v);
        Azure::with(Scenario::from_json(&v.to_string()).unwrap())
    }

    pub fn with(scenario: Scenario) -> Azure {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt.block_on(Sim::start(scenario)).unwrap();
        let token = sim.caller_token();
        let sandbox = Sandbox::new();
        sandbox.ssh_client("bin");
        sandbox.fake(
            "az",
            &format!(
                r#"exp=$(( $(date +%s) + 3600 ))
printf '{{"accessToken":"{token}","expiresOn":"x","expires_on":%s,"subscription":"s","tenant":"t","tokenType":"Bearer"}}' $exp"#
            ),
        );
        Azure {
            rt,
            sim: Some(sim),
            sandbox,
            token,
            foreign: Default::default(),
        }
    }

    pub fn sim(&self) -> &Sim {
        self.sim.as_ref().unwrap()
    }

    pub fn machine(&self, i: usize) -> String {
        self.sim().scenario().machine_ids()[i].clone()
    }

    /// Runs arcfix against the simulator.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_at(&self.sim().base_url(), args)
    }

    /// Runs arcfix against `endpoint` (a proxy in front of the simulator).
    pub fn run_at(&self, endpoint: &str, args: &[&str]) -> Output {
        self.sandbox
            .cmd()
            .args(args)
            .env("ARCFIX_ARM_ENDPOINT", endpoint)
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .run()
    }

    /// Runs arcfix against the simulator on a terminal (script(1)) `cols`
    /// columns wide (`None`: as script(1) makes it), `keys` typed in. `None`,
    /// and a line saying so, when script(1) or stty(1) is not installed.
    pub fn on_terminal(&self, args: &[&str], cols: Option<u16>, keys: &str) -> Option<Output> {
        let cmd = self
            .sandbox
            .cmd()
            .args(args)
            .env("ARCFIX_ARM_ENDPOINT", &self.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .env("TERM", "xterm");
        let out = match cols {
            Some(cols) => cmd.in_terminal_of_width(cols, keys),
            None => cmd.in_terminal(keys),
        };
        if out.is_none() {
            eprintln!("script(1) or stty(1) is not installed: skipped");
        }
        out
    }

    pub fn writes(&self) -> Vec<String> {
        self.sim()
            .requests()
            .iter()
            .filter(|r| r.is_write())
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect()
    }
}

/// Every request the simulator received is checked against the REST specs
/// (tests/specs.rs); a test whose requests do not conform fails.
impl Drop for Azure {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            let bad = if std::thread::panicking() {
                Vec::new()
            } else {
                let foreign = self.foreign.lock().unwrap_or_else(|e| e.into_inner());
                crate::specs::violations(&sim.all_requests(), &foreign)
            };
            self.rt.block_on(sim.shutdown());
            assert!(
                bad.is_empty(),
                "requests the REST specs refuse (tests/specs.rs):\n{}",
                bad.join("\n")
            );
        }
    }
}

fn ids(out: &Output) -> Vec<String> {
    out.finding_ids()
}

#[test]
fn the_demo_machine_shows_every_fixable_azure_problem() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let out = az.run(&[
        "check", "--checks", "azure", "--id", &id, "--login", "entra", "-o", "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    // The endpoint cannot be read before the registration (409): it is not
    // claimed missing, it is said not to be looked at.
    assert_eq!(
        ids(&out),
        [
            "entra-extension-missing",
            "login-role-missing",
            "rp-not-registered",
        ]
    );
    let unknown = &out.json()["not_checked"];
    assert!(
        unknown.as_array().unwrap().iter().any(|n| n["side"] == "azure"
            && n["reason"]
                .as_str()
                .unwrap()
                .contains("web-01: its default endpoint and SSH service configuration cannot be read until Microsoft.HybridConnectivity is registered")
            && n.get("error").is_none()),
        "{unknown:#}"
    );
    assert!(az.writes().is_empty(), "check wrote: {:?}", az.writes());
    assert!(az.sim().requests().iter().all(|r| r.authorization_present));
}

#[test]
fn apply_converges_and_a_second_plan_has_no_automatic_steps() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let args = [
        "--checks",
        "azure",
        "--id",
        id.as_str(),
        "--login",
        "entra",
        "--grant-roles",
    ];
    let apply = az.run(&[&["apply", "--yes", "-o", "json"][..], &args].concat());
    // The hybrid agent restart after the registration is manual without --remote.
    assert_eq!(apply.status, 3, "{apply:?}");
    let steps = apply.steps();
    let status = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"].as_str().unwrap().starts_with(id))
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    for step in [
        "register-hybridconnectivity",
        "create-default-endpoint",
        "enable-ssh-port",
        "assign-login-role",
        "install-entra-extension",
    ] {
        assert_eq!(
            status(step).as_deref(),
            Some("applied"),
            "{step}: {steps:#?}"
        );
    }
    assert_eq!(status("restart-hybrid-agent").as_deref(), Some("manual"));

    let writes = az.writes();
    let puts_on_endpoint = writes
        .iter()
        .filter(|w| w.starts_with("PUT") && w.contains("/endpoints/default "))
        .count();
    assert_eq!(puts_on_endpoint, 1, "{writes:#?}");

    az.sim().clear_log();
    let plan = az.run(&[&["plan", "-o", "json"][..], &args].concat());
    let auto: Vec<serde_json::Value> = plan
        .steps()
        .iter()
        .filter(|s| s["automatic"] == true)
        .cloned()
        .collect();
    assert!(auto.is_empty(), "{auto:#?}");
    assert!(ids(&plan).is_empty(), "{plan:?}");
    assert!(az.writes().is_empty());
}

/// SSH through Arc set up on 2222 and no --port: what was seen and the
/// choices are said; no port is changed that the user did not choose.
#[test]
fn a_port_seen_in_azure_is_not_changed_without_port() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--yes", "-o", "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
    let f = &out.json()["findings"][0];
    assert_eq!(f["id"], "ssh-port-not-enabled");
    assert_eq!(f["fix"], "manual");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains("SSH is enabled through Arc on port 2222 of web-01, not on 22"),
        "{f}"
    );
    let steps = out.steps();
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(steps[0]["id"], "choose-ssh-port-web-01");
    assert_eq!(steps[0]["status"], "manual");
    let said = format!("{} {}", steps[0]["description"], steps[0]["command"]);
    for choice in [
        "arcfix with --port 2222",
        "arcfix apply --port 22",
        "--tags SSHPort=2222",
    ] {
        assert!(said.contains(choice), "{choice}: {said}");
    }
}

#[test]
fn an_existing_endpoint_is_never_put_again() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let check = az.run(&[
        "check", "--checks", "azure", "--id", &id, "--port", "22", "-o", "json",
    ]);
    assert_eq!(ids(&check), ["ssh-port-not-enabled"], "{check:?}");
    assert!(
        check.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("port 2222"),
        "{check:?}"
    );
    let apply = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--port", "22", "--yes",
    ]);
    assert_eq!(apply.status, 0, "{apply:?}");
    let writes = az.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(
        writes[0].starts_with("PUT") && writes[0].contains("/serviceConfigurations/SSH"),
        "{writes:#?}"
    );
    assert_eq!(
        az.run(&["check", "--checks", "azure", "--id", &id]).status,
        0
    );
}

#[test]
fn without_write_rights_steps_are_manual_and_nothing_is_attempted() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--id",
        &id,
        "--yes",
        "--grant-roles",
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let found = ids(&out);
    assert!(
        found.contains(&"endpoint-permission-missing".to_string()),
        "{found:?}"
    );
    let steps = out.steps();
    assert!(steps.iter().all(|s| s["status"] == "manual"), "{steps:#?}");
    let grant = steps
        .iter()
        .find(|s| {
            s["fixes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "endpoint-permission-missing")
        })
        .unwrap();
    assert!(
        grant["command"]
            .as_str()
            .unwrap()
            .starts_with("az role assignment create --assignee-object-id "),
        "{grant}"
    );
    assert!(
        grant["command"]
            .as_str()
            .unwrap()
            .contains("--role Contributor "),
        "{grant}"
    );
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn nothing_is_written_by_check_plan_dry_run_or_a_refused_apply() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    for (args, code) in [
        (vec!["check", "--checks", "azure", "--id", &id], 2),
        (
            vec!["plan", "--checks", "azure", "--id", &id, "--grant-roles"],
            2,
        ),
        (
            vec!["apply", "--checks", "azure", "--id", &id, "--dry-run"],
            2,
        ),
        (vec!["apply", "--checks", "azure", "--id", &id], 1),
    ] {
        let out = az.run(&args);
        assert_eq!(out.status, code, "{args:?}: {out:?}");
        assert!(az.writes().is_empty(), "{args:?} wrote: {:?}", az.writes());
    }
}

#[test]
fn agent_disconnected_and_windows_entra_are_reported() {
    let az = Azure::builtin("disconnected");
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "-o",
        "json",
    ]);
    assert!(
        ids(&out).contains(&"agent-disconnected".to_string()),
        "{out:?}"
    );
    let az = Azure::builtin("windows");
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "--login",
        "entra",
        "-o",
        "json",
    ]);
    assert!(
        ids(&out).contains(&"entra-unsupported-on-windows".to_string()),
        "{out:?}"
    );
    assert!(
        !ids(&out).contains(&"entra-extension-missing".to_string()),
        "{out:?}"
    );
}

#[test]
fn a_missing_machine_is_a_one_line_error_naming_it() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0).replace("/machines/", "/machines/nope-");
    let out = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("Arc machine not found") && out.stderr.contains("nope-"),
        "{out:?}"
    );
    assert_eq!(out.stderr.lines().count(), 1);
}

#[test]
fn ids_typed_in_other_casing_work() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let shouted = id
        .to_uppercase()
        .replace("/SUBSCRIPTIONS/", "/subscriptions/");
    let out = az.run(&["check", "--checks", "azure", "--id", &shouted, "-o", "json"]);
    assert_eq!(out.status, 0, "{out:?}");
}

#[test]
fn throttling_and_server_errors_end_in_the_same_result() {
    let calm = Azure::builtin("demo");
    let id = calm.machine(0);
    let args = [
        "apply",
        "--checks",
        "azure",
        "--id",
        id.as_str(),
        "--login",
        "entra",
        "--grant-roles",
        "--yes",
        "-o",
        "json",
    ];
    let expected = calm.run(&args);
    let storm = Azure::builtin("demo");
    storm.sim().set_knobs(Knobs {
        throttle_every: 3,
        retry_after: Some("0".into()),
        fail_every: 5,
        ..Default::default()
    });
    let got = storm.run(&args);
    assert_eq!(got.status, expected.status, "{got:?}");
    let summary = |o: &Output| {
        o.steps()
            .iter()
            .map(|s| format!("{} {}", s["id"], s["status"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&got), summary(&expected));
    let statuses: Vec<u16> = storm.sim().requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.iter().any(|s| *s >= 500),
        "the storm happened: {statuses:?}"
    );
}

#[test]
fn retry_after_as_an_http_date_or_missing_is_honoured() {
    for retry_after in [
        None,
        Some(httpdate::fmt_http_date(std::time::SystemTime::now())),
    ] {
        let az = Azure::builtin("healthy");
        az.sim().set_knobs(Knobs {
            throttle_every: 2,
            retry_after: retry_after.clone(),
            ..Default::default()
        });
        let out = az.run(&["check", "--checks", "azure", "--id", &az.machine(0)]);
        assert_eq!(out.status, 0, "{retry_after:?}: {out:?}");
    }
}

#[test]
fn an_endless_storm_gives_up_with_the_arm_error() {
    let az = Azure::builtin("healthy");
    az.sim().set_knobs(Knobs {
        fail_every: 1,
        ..Default::default()
    });
    let out = az.run(&["check", "--checks", "azure", "--id", &az.machine(0)]);
    assert_eq!(out.status, 1, "{out:?}");
    // The last answer ARM gave, with its code and correlation id.
    assert!(
        out.stderr.contains("with 500 (InternalServerError)")
            || out.stderr.contains("with 503 (ServiceUnavailable)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("[correlation id "), "{out:?}");
    // One error line, after the retries it announced.
    let (retries, rest): (Vec<&str>, Vec<&str>) =
        out.stderr.lines().partition(|l| l.starts_with("→ "));
    assert_eq!(rest.len(), 1, "{out:?}");
    assert!(
        retries.iter().all(|l| l.contains("; retrying GET …/")),
        "{out:?}"
    );
    assert!(
        retries.iter().any(|l| l.ends_with("(attempt 6 of 6)")),
        "{out:?}"
    );
    // Bounded: six attempts for each of the six reads that ran at once (the
    // machine, its permissions, endpoint and SSH configuration, the
    // provider, the subscription's permissions), no more; the provider is
    // registered, so no fallback read of the caller's roles follows.
    let requests = az.sim().requests().len();
    assert!((6..=6 * 6).contains(&requests), "{requests} requests");
}

#[test]
fn provider_rights_are_read_once_per_subscription() {
    let az = Azure::edited("demo", |v| {
        let machines = v["subscriptions"][0]["resource_groups"][0]["machines"]
            .as_array_mut()
            .unwrap();
        let mut twin = machines[0].clone();
        twin["name"] = "web-02".into();
        machines.push(twin);
    });
    let sub = az.machine(0).split('/').nth(2).unwrap().to_string();
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        &sub,
        "--resource-group",
        "arc-demo",
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    // The subscription's effective permissions, read once for both machines.
    let sub_permissions =
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/permissions");
    let reads = az
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path.eq_ignore_ascii_case(&sub_permissions))
        .count();
    assert_eq!(reads, 1, "{:#?}", az.sim().requests());
}

#[test]
fn json_output_has_the_contract_shape() {
    let az = Azure::builtin("demo");
    let out = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "-o",
        "json",
    ]);
    let v = out.json();
    assert_eq!(v["schema_version"], 1);
    for f in v["findings"].as_array().unwrap() {
        for key in ["id", "target", "title", "evidence", "fix"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        assert!(f["fix"] == "auto" || f["fix"] == "manual");
        assert!(f["target"].as_str().unwrap().starts_with("/subscriptions/"));
    }
    for s in v["steps"].as_array().unwrap() {
        for key in ["id", "target", "description", "command", "status"] {
            assert!(s[key].is_string(), "{key} in {s}");
        }
        assert!(s["fixes"].is_array() && s["automatic"].is_boolean());
        assert_eq!(s["status"], "planned");
    }
    let register = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "register-hybridconnectivity")
        .unwrap();
    assert!(
        register["command"]
            .as_str()
            .unwrap()
            .starts_with("az provider register -n Microsoft.HybridConnectivity")
    );
}

#[test]
fn no_token_or_relay_key_reaches_output_or_logs() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let out = az.run(&[
        "apply",
        "-vv",
        "--checks",
        "azure",
        "--id",
        &id,
        "--login",
        "entra",
        "--grant-roles",
        "--yes",
    ]);
    let plan = az.run(&[
        "plan",
        "-vv",
        "--checks",
        "azure",
        "--id",
        &id,
        "--out",
        "saved.json",
    ]);
    let saved = std::fs::read_to_string(az.sandbox.path("saved.json")).unwrap();
    let payload = az.token.split('.').nth(1).unwrap().to_string();
    for text in [&out.stdout, &out.stderr, &plan.stdout, &plan.stderr, &saved] {
        assert!(
            !text.contains(&az.token) && !text.contains(&payload),
            "token leaked"
        );
        assert!(!text.contains("SIM-SECRET"), "relay key leaked");
    }
    assert!(
        out.stderr.contains("ARM request"),
        "-vv logs requests: {out:?}"
    );
}

#[test]
fn a_resource_group_is_checked_machine_by_machine() {
    let az = Azure::builtin("fleet");
    let ids_all = az.sim().scenario().machine_ids();
    let sub = ids_all[0].split('/').nth(2).unwrap().to_string();
    let rg = ids_all[0].split('/').nth(4).unwrap().to_string();
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        &sub,
        "--resource-group",
        &rg,
        "-o",
        "json",
    ]);
    assert!(out.status == 0 || out.status == 2, "{out:?}");
    let in_rg = ids_all
        .iter()
        .filter(|i| i.split('/').nth(4) == Some(rg.as_str()))
        .count();
    // Listed by Resource Graph with what the checks read: no machine read again.
    let machines_read = az
        .sim()
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path.to_ascii_lowercase().contains("/machines/")
                && r.path.matches('/').count() == 8
        })
        .count();
    assert_eq!(machines_read, 0, "listed machines read again");
    assert_eq!(out.json()["machines"].as_array().unwrap().len(), in_rg);
}

#[test]
fn one_token_is_fetched_per_run() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--id",
        &id,
        "--login",
        "entra",
        "--grant-roles",
        "--yes",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let fetches = az
        .sandbox
        .calls()
        .lines()
        .filter(|l| l.starts_with("az account get-access-token"))
        .count();
    assert_eq!(fetches, 1, "{}", az.sandbox.calls());
    assert!(az.sim().requests().len() > 10);
}

#[test]
fn auth_env_without_its_variables_is_a_clear_error() {
    let az = Azure::builtin("healthy");
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--auth",
        "env",
        "--id",
        &az.machine(0),
    ]);
    assert_eq!(out.status, 1, "{out:?}");
    // Reported as the reason the Azure side was not checked.
    assert!(
        out.stdout
            .contains("azure not checked — --auth env needs AZURE_TENANT_ID and AZURE_CLIENT_ID"),
        "{out:?}"
    );
    assert!(az.sim().requests().is_empty());
}

#[test]
fn az_not_logged_in_is_an_authentication_error() {
    let az = Azure::builtin("healthy");
    az.sandbox.fake(
        "az",
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1",
    );
    let out = az.run(&["check", "--checks", "azure", "--id", &az.machine(0)]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stdout.contains("run `az login`"), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn registering_needs_rights_at_the_subscription_and_what_waits_for_it_is_not_attempted() {
    // Owner of the resource group only: the permissions on the machine show `*`,
    // but registering a provider is a subscription-scope action.
    let az = Azure::edited("demo", |v| {
        let ras = v["role_assignments"].as_array_mut().unwrap();
        ras.retain(|r| r["scope"].as_str().unwrap().contains("/resourceGroups/"));
    });
    let id = az.machine(0);
    let out = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--yes", "-o", "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    let status = |prefix: &str| {
        steps
            .iter()
            .find(|s| s["id"].as_str().unwrap().starts_with(prefix))
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("register-hybridconnectivity"), "manual");
    assert_eq!(status("create-default-endpoint"), "skipped");
    assert_eq!(status("enable-ssh-port"), "skipped");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn an_ssh_configuration_on_an_old_agent_is_flagged_as_outdated() {
    let az = Azure::edited("wrong-port", |v| {
        let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        m["agent_version"] = "1.28.02260.736".into();
    });
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "--port",
        "2222",
        "-o",
        "json",
    ]);
    assert_eq!(out.finding_ids(), ["service-config-outdated"], "{out:?}");
    let plan = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "--port",
        "2222",
        "-o",
        "json",
    ]);
    let recreate = plan
        .steps()
        .iter()
        .find(|s| s["id"].as_str().unwrap().starts_with("recreate-ssh-config"))
        .cloned()
        .unwrap();
    assert!(
        recreate["command"]
            .as_str()
            .unwrap()
            .contains("--method delete"),
        "{recreate}"
    );
    let explain = az
        .sandbox
        .cmd()
        .args(&[
            "explain",
            "-o",
            "json",
            "Connection closed by UNKNOWN port 65535",
        ])
        .run();
    // The line alone names no cause (issue 19, point 6): explain says what it
    // can mean first, and keeps the stale configuration among the causes.
    let ids: Vec<String> = explain.json()["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids[0], "arc-connection-closed", "{ids:?}");
    assert!(
        ids.iter().any(|i| i == "service-config-outdated"),
        "{ids:?}"
    );
}

#[test]
fn a_declined_prompt_writes_nothing_to_azure() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let Some(out) = az
        .sandbox
        .cmd()
        .args(&["apply", "--checks", "azure", "--id", &id])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .in_terminal("n\r")
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout.contains("Apply cancelled; nothing was changed."),
        "{out:?}"
    );
    assert!(!az.sim().requests().is_empty(), "it did read");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

/// A loopback server answering every request with `status` and `body`.
fn junk_server(status: &'static str, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut stream = stream;
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[test]
fn malformed_answers_from_arm_are_one_line_errors() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    for (status, body, want) in [
        (
            "200 OK",
            "<html>surprise</html>",
            "the response is not JSON",
        ),
        (
            "200 OK",
            r#"{"properties": "not an object"}"#,
            "unexpected answer from ARM",
        ),
        (
            "400 Bad Request",
            r#"{"code":"HCRP400","message":"bare error shape"}"#,
            "(HCRP400): bare error shape",
        ),
        ("404 Not Found", "", "Arc machine not found"),
    ] {
        let url = junk_server(status, body);
        let out = az
            .sandbox
            .cmd()
            .args(&["check", "--checks", "azure", "--id", &id])
            .env("ARCFIX_ARM_ENDPOINT", &url)
            .run();
        assert_eq!(out.status, 1, "{body}: {out:?}");
        assert!(out.stderr.contains(want), "{body}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    }
}

#[test]
fn contributor_through_a_group_registers_the_provider_itself() {
    let az = Azure::builtin("group-contributor");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert_eq!(plan.status, 2, "{plan:?}");
    // web-01 has its endpoint: the 409 before the registration is no ground
    // to claim it missing; its creation is conditional, decided by the re-check.
    assert_eq!(ids(&plan), ["rp-not-registered"], "{plan:?}");
    let create = plan
        .steps()
        .into_iter()
        .find(|s| s["id"] == "create-default-endpoint-web-01")
        .unwrap_or_else(|| panic!("{plan:?}"));
    assert!(
        create["description"]
            .as_str()
            .unwrap()
            .contains("if it is missing once Microsoft.HybridConnectivity is registered"),
        "{create}"
    );
    let text = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert!(
        !text.stdout.contains("has no default connectivity endpoint"),
        "{text:?}"
    );
    let register = plan
        .steps()
        .into_iter()
        .find(|s| s["id"] == "register-hybridconnectivity")
        .unwrap_or_else(|| panic!("{plan:?}"));
    assert_eq!(register["automatic"], true, "{register}");
    // The rights were read from the effective permissions at the subscription.
    let reads: Vec<String> = az
        .sim()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        reads.iter().any(|r| r.ends_with(
            "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/providers/Microsoft.Authorization/permissions"
        )),
        "{reads:#?}"
    );
    assert!(az.writes().is_empty(), "{:?}", az.writes());

    let out = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--yes", "-o", "json",
    ]);
    let status = |id: &str| {
        out.steps()
            .into_iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status("register-hybridconnectivity").as_deref(),
        Some("applied"),
        "{out:?}"
    );
    for decided in ["create-default-endpoint-web-01", "enable-ssh-port-web-01"] {
        assert_eq!(
            status(decided).as_deref(),
            Some("already-satisfied"),
            "{out:?}"
        );
    }
    assert_eq!(
        az.writes(),
        ["POST /subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/providers/Microsoft.HybridConnectivity/register 200".to_string()]
    );
}

#[test]
fn a_group_held_right_is_found_through_assigned_to_when_permissions_cannot_be_read() {
    let az = Azure::builtin("group-contributor");
    let id = az.machine(0);
    // A proxy that refuses the subscription-scope permissions API.
    let endpoint = crate::hostile::hostile(&az, crate::hostile::refuse_subscription_permissions);
    let out = az.run_at(
        &endpoint,
        &["plan", "--checks", "azure", "--id", &id, "-o", "json"],
    );
    let register = out
        .steps()
        .into_iter()
        .find(|s| s["id"] == "register-hybridconnectivity")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(register["automatic"], true, "{register}");
    assert!(
        az.sim()
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/roleAssignments") && r.query.contains("assignedTo")),
        "{:?}",
        az.sim().requests()
    );
}

#[test]
fn a_reader_gets_a_manual_registration_and_no_write_is_attempted() {
    // db-01's subscription, where the caller is Reader, made unregistered too.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][1]["providers"]["Microsoft.HybridConnectivity"] = "NotRegistered".into();
    });
    let id = az.machine(1);
    let out = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--yes", "-o", "json",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    let register = out
        .steps()
        .into_iter()
        .find(|s| s["id"] == "register-hybridconnectivity")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(register["automatic"], false, "{register}");
    assert_eq!(register["status"], "manual", "{register}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn without_a_token_the_client_side_is_still_reported_and_azure_is_not_checked() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    // No az at all.
    std::fs::remove_file(az.sandbox.path("bin/az")).unwrap();
    let out = az.run(&["check", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("azure not checked — the Azure CLI (`az`) is not installed or not on PATH"),
        "{out:?}"
    );
    assert!(out.stdout.contains("client"), "{out:?}");
    assert!(!out.stdout.contains("Azure answered") && !out.stderr.contains("Azure answered"));
    assert!(!out.stdout.contains("aka.ms") && !out.stderr.contains("aka.ms"));
    let v = az.run(&["check", "--id", &id, "-o", "json"]).json();
    assert_eq!(v["checked"], serde_json::json!(["client"]), "{v}");
    // az present but not signed in.
    az.sandbox.fake(
        "az",
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
    );
    let out = az.run(&["check", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("could not get a token from the Azure CLI: run `az login` (or choose --auth env / managed-identity)"),
        "{out:?}"
    );
    // --auth env without its variables: said the same way, client still checked.
    let out = az.run(&["check", "--id", &id, "--auth", "env"]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("azure not checked — --auth env needs AZURE_TENANT_ID"),
        "{out:?}"
    );
    assert!(az.sim().requests().is_empty(), "{:?}", az.sim().requests());
}

/// A port change is undone by putting the previous port back, never by
/// deleting the service configuration.
#[test]
fn the_journal_undoes_a_port_change_with_the_previous_port() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let journal = az.sandbox.path("journal.jsonl");
    let out = az.run(&[
        "apply",
        "--yes",
        "--checks",
        "azure",
        "--id",
        &id,
        "--port",
        "22",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    let text = std::fs::read_to_string(&journal).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let undo = line["undo"].as_str().unwrap();
    assert!(undo.starts_with("az rest --method put --uri "), "{undo}");
    assert!(
        undo.contains(r#"--body '{"properties":{"port":2222,"serviceName":"SSH"}}'"#)
            || undo.contains(r#""port":2222"#),
        "{undo}"
    );
    assert!(!undo.contains("delete"), "{undo}");
}

#[test]
fn apply_keeps_a_journal_of_what_it_changed_with_how_to_undo_it() {
    use std::os::unix::fs::PermissionsExt;
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let state = az.sandbox.path("state");
    let out = az
        .sandbox
        .cmd()
        .args(&[
            "apply",
            "--yes",
            "--checks",
            "azure",
            "--id",
            &id,
            "--login",
            "entra",
            "--grant-roles",
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("XDG_STATE_HOME", state.to_str().unwrap())
        .run();
    assert!(out.status == 0 || out.status == 3, "{out:?}");
    let path = state.join("arcfix/journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!text.contains(&az.token), "a token in the journal");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One line per write the simulator saw (register, endpoint, configuration, role, extension).
    assert_eq!(lines.len(), az.writes().len(), "{text}\n{:?}", az.writes());
    let role = lines
        .iter()
        .find(|l| l["step"].as_str().unwrap().starts_with("assign-login-role"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(role["result"], "applied");
    assert_eq!(role["who"]["name"], "alex@contoso.example");
    assert!(role["who"]["object_id"].is_string());
    assert!(
        role["undo"]
            .as_str()
            .unwrap()
            .starts_with("az role assignment delete --ids /subscriptions/"),
        "{role}"
    );
    for l in &lines {
        for k in ["time", "arcfix_version", "target", "action", "undo"] {
            assert!(l[k].is_string(), "{k}: {l}");
        }
    }

    // --journal FILE; --no-journal; a journal that cannot be written is a warning.
    let run = |extra: &[&str]| {
        let az = Azure::builtin("demo");
        let id = az.machine(0);
        let out = az
            .sandbox
            .cmd()
            .args(&["apply", "--yes", "--checks", "azure", "--id", &id])
            .args(extra)
            .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .env("XDG_STATE_HOME", state.join("other").to_str().unwrap())
            .run();
        assert!(!az.writes().is_empty(), "{out:?}");
        out
    };
    let custom = az.sandbox.path("my.jsonl");
    let out = run(&["--journal", custom.to_str().unwrap()]);
    assert!(custom.exists(), "{out:?}");
    assert!(!state.join("other").exists());
    // A folder at the path is refused up front (tests/interruptions.rs); a
    // path below a file is only found unwritable when written.
    az.sandbox.write("a-file", "");
    let out = run(&[
        "--journal",
        az.sandbox.path("a-file/journal.jsonl").to_str().unwrap(),
    ]);
    assert!(
        out.stderr.contains("could not write the journal"),
        "{out:?}"
    );
    assert!(out.status == 0 || out.status == 3, "{out:?}");
    let out = run(&["--no-journal"]);
    assert!(!state.join("other").exists(), "{out:?}");
}

#[test]
fn small_truths_in_the_plan_text() {
    // A port change is a change of the one configured port, not an addition.
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let out = az.run(&["plan", "--checks", "azure", "--id", &id, "--port", "2222"]);
    assert!(
        out.stdout
            .contains("Change the port of web-01's SSH service configuration from 22 to 2222"),
        "{out:?}"
    );
    // One step is "1 step".
    assert!(
        out.stdout.contains("(1 step: 1 automatic, 0 manual)"),
        "{out:?}"
    );
    // rules and the plan agree that the agent restart can be automatic.
    let rules = az.sandbox.cmd().args(&["rules", "-o", "json"]).run().json();
    let rp = rules["rules"]
        .as_array()
        .or_else(|| rules["problems"].as_array())
        .unwrap_or_else(|| panic!("{rules}"))
        .iter()
        .find(|r| r["id"] == "rp-not-registered")
        .cloned()
        .unwrap();
    assert!(
        rp.to_string().contains("automatic through --remote"),
        "{rp}"
    );
    // explain's advice on the agent's ports keeps the ports already allowed.
    let ex = az
        .sandbox
        .cmd()
        .args(&[
            "explain",
            "-o",
            "json",
            "Connection closed by UNKNOWN port 65535",
        ])
        .run()
        .json();
    let text = ex.to_string();
    assert!(!text.contains("incomingconnections.ports 22\""), "{text}");
}

#[test]
fn ctrl_c_abandons_a_wait_at_once_and_exits_130_after_the_report() {
    // The provider never finishes registering: apply waits after the POST.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["register_polls"] = 100000.into();
    });
    let id = az.machine(0);
    let child = az
        .sandbox
        .cmd()
        .args(&["apply", "--yes", "--checks", "azure", "--id", &id])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .command()
        .spawn()
        .unwrap();
    let registered = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        az.writes().iter().any(|w| w.contains("/register"))
    });
    assert!(registered, "{:?}", az.writes());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = std::time::Instant::now();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed().as_secs() < 10, "the wait was not abandoned");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("Summary"), "{stdout}");
    assert!(
        stdout.contains("interrupted (Ctrl-C) while waiting to verify this step"),
        "{stdout}"
    );
    assert!(stdout.contains("Stopped by Ctrl-C"), "{stdout}");
}

/// Entra login does not exist on Windows: with --login entra --grant-roles,
/// no Entra login role is assigned there (a real RBAC write for a login that
/// cannot work); the local login role, which the caller holds, is enough.
#[test]
fn no_entra_login_role_is_assigned_on_windows() {
    let az = Azure::builtin("windows");
    let id = az.machine(0);
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--id",
        &id,
        "--login",
        "entra",
        "--grant-roles",
        "--yes",
        "-o",
        "json",
    ]);
    let ids = ids(&out);
    assert!(
        ids.contains(&"entra-unsupported-on-windows".to_string()),
        "{out:?}"
    );
    assert!(!ids.contains(&"login-role-missing".to_string()), "{out:?}");
    let assignments: Vec<String> = az
        .writes()
        .into_iter()
        .filter(|w| w.contains("roleAssignments"))
        .collect();
    assert!(assignments.is_empty(), "{assignments:?}");
}

/// A read that fails for any reason but "not there" leaves its fact unknown:
/// no finding rests on it, and the run exits 1 saying what was not read.
#[test]
fn a_fact_that_could_not_be_read_is_never_claimed_missing() {
    // web-01 of the demo, its provider registered: no endpoint, no extension.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["providers"]["Microsoft.HybridConnectivity"] =
            serde_json::json!("Registered");
    });
    let id = az.machine(0);
    let args = [
        "check", "--checks", "azure", "--id", &id, "--login", "entra", "-o", "json",
    ];
    let seen = az.run(&args);
    let ids_seen = ids(&seen);
    for id in ["entra-extension-missing", "ssh-port-not-enabled"] {
        assert!(ids_seen.contains(&id.to_string()), "{seen:?}");
    }
    type Tamper = fn(&mut crate::hostile::Answer);
    let cases: [(&str, Tamper, &str); 4] = [
        (
            "the endpoint answers 400",
            |a| {
                if a.path.ends_with("/endpoints/default") {
                    a.status = 400;
                    a.body =
                        Some(serde_json::json!({"error": {"code": "BadRequest", "message": "no"}}));
                }
            },
            "ssh-port-not-enabled",
        ),
        (
            "the endpoint answers 403",
            |a| {
                if a.path.ends_with("/endpoints/default") {
                    a.status = 403;
                    a.body = Some(
                        serde_json::json!({"error": {"code": "AuthorizationFailed", "message": "no"}}),
                    );
                }
            },
            "ssh-port-not-enabled",
        ),
        (
            "the extension list answers 500",
            |a| {
                if a.path.ends_with("/extensions") {
                    a.status = 500;
                    a.headers.push(("Retry-After".into(), "0".into()));
                    a.body = Some(
                        serde_json::json!({"error": {"code": "InternalServerError", "message": "no"}}),
                    );
                }
            },
            "entra-extension-missing",
        ),
        (
            "the machine has no status",
            |a| {
                if a.path.ends_with("/machines/web-01")
                    && let Some(b) = a.body.as_mut()
                {
                    b["properties"].as_object_mut().unwrap().remove("status");
                }
            },
            "agent-disconnected",
        ),
    ];
    for (what, tamper, not_claimed) in cases {
        let endpoint = crate::hostile::hostile(&az, tamper);
        let out = az.run_at(&endpoint, &args);
        assert_eq!(out.status, 1, "{what}: {out:?}");
        assert!(
            !ids(&out).contains(&not_claimed.to_string()),
            "{what}: {out:?}"
        );
        let v = out.json();
        assert!(
            v["not_checked"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["side"] == "azure" && n["error"] == true),
            "{what}: {v}"
        );
    }
}

/// An agent in monitor mode (Azure shows `agentConfiguration.configMode`):
/// a finding of its own with the command the server's administrator runs,
/// no extension write planned for it, and a fleet read through Resource
/// Graph sees the same.
#[test]
fn an_agent_in_monitor_mode_is_named_and_nothing_is_written_to_it() {
    let monitor = |v: &mut serde_json::Value| {
        let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        m["server"] = serde_json::json!({"config_mode": "monitor"});
        m["extensions"] = serde_json::json!([]);
    };
    let az = Azure::edited("healthy", monitor);
    let id = az.machine(0);
    let out = az.run(&[
        "check", "--checks", "azure", "--id", &id, "--login", "entra", "-o", "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    let doc = out.json();
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "agent-monitor-mode")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(finding["fix"], "manual");
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("web-01 is in monitor mode"),
        "{finding}"
    );
    let step = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "agent-full-mode-web-01")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        step["command"],
        "sudo azcmagent config set config.mode full"
    );
    // The Entra extension is missing too, but its install would be refused: manual.
    let install = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "install-entra-extension-web-01")
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(install["automatic"], false, "{install}");
    let out = az.run(&[
        "apply", "--yes", "--checks", "azure", "--id", &id, "--login", "entra",
    ]);
    assert_eq!(out.status, 3, "{out:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());

    // The same machine in a fleet (Resource Graph's projection).
    let az = Azure::edited("healthy", monitor);
    let id = az.machine(0);
    let sub = id.split('/').nth(2).unwrap();
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        sub,
        "-o",
        "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(
        out.json()["machines"][0]["findings"],
        serde_json::json!(["agent-monitor-mode"]),
        "{out:?}"
    );
}

#[test]
fn a_403_on_the_machine_says_to_check_the_names_and_azures_spelling_is_shown() {
    // The caller's group may act on one resource group only, not read the
    // subscription.
    let az = Azure::edited("group-contributor", |v| {
        let rg = v["subscriptions"][0]["resource_groups"][0]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let scope = v["role_assignments"][0]["scope"]
            .as_str()
            .unwrap()
            .to_string();
        v["role_assignments"][0]["scope"] = format!("{scope}/resourceGroups/{rg}").into();
    });
    let id = arcfix::target::MachineId::parse(&az.machine(0)).unwrap();
    // A misspelled group, for a caller who may read only their group: ARM
    // answers 403 AuthorizationFailed, not 404.
    let wrong = format!(
        "/subscriptions/{}/resourceGroups/{}x/providers/Microsoft.HybridCompute/machines/{}",
        id.subscription, id.resource_group, id.name
    );
    let out = az.run(&["check", "--checks", "azure", "--id", &wrong]);
    assert_eq!(out.status, 1, "{out:?}");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("AuthorizationFailed"), "{out:?}");
    assert!(said.contains("check the names"), "{out:?}");
    assert!(
        said.contains(&format!("'{}x'", id.resource_group)),
        "{out:?}"
    );
    // The right machine typed in other case: shown as Azure spells it.
    let az = Azure::builtin("demo");
    let id = arcfix::target::MachineId::parse(&az.machine(0)).unwrap();
    let shouted = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.HybridCompute/machines/{}",
        id.subscription,
        id.resource_group,
        id.name.to_uppercase()
    );
    let out = az.run(&["plan", "--checks", "azure", "--id", &shouted]);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.stdout.contains(&format!("/machines/{}\n", id.name)),
        "{out:?}"
    );
    assert!(!out.stdout.contains(&id.name.to_uppercase()), "{out:?}");
}

/// The Arc agent's extension rules as Azure shows them (agentConfiguration):
/// an extension manager that is off, an allow list without the Entra login
/// extension, a block list with it. Each is a finding naming the list, with
/// the command the server's administrator runs; nothing is written (the
/// agent would refuse the extension); a fleet read through Resource Graph
/// sees the same.
#[test]
fn an_agent_whose_rules_refuse_the_entra_extension_is_named_and_nothing_is_written() {
    let entra = "Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux";
    let cases: [(serde_json::Value, &str, &str, &str); 3] = [
        (
            serde_json::json!({"extensions_enabled": false}),
            "extensions-disabled",
            "web-01 has its extension manager disabled (agentConfiguration.extensionsEnabled false in Azure)",
            "sudo azcmagent config set extensions.enabled true",
        ),
        (
            serde_json::json!({"extensions_allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]}),
            "entra-extension-blocked",
            "allow list (agentConfiguration.extensionsAllowList in Azure: Microsoft.Azure.Monitor/AzureMonitorLinuxAgent), and Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux is not among them",
            "sudo azcmagent config set extensions.allowlist Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux --add",
        ),
        (
            serde_json::json!({"extensions_blocklist": ["Microsoft.CPlat.Core/RunCommandHandlerLinux", entra]}),
            "entra-extension-blocked",
            "web-01 blocks Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux (its block list, agentConfiguration.extensionsBlockList in Azure)",
            "sudo azcmagent config set extensions.blocklist Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux --remove",
        ),
    ];
    // The control: with no rule, the same machine's install is automatic.
    let az = Azure::edited("healthy", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["extensions"] =
            serde_json::json!([]);
    });
    let out = az.run(&[
        "plan",
        "--checks",
        "azure",
        "--id",
        &az.machine(0),
        "--login",
        "entra",
        "-o",
        "json",
    ]);
    let install = out
        .steps()
        .into_iter()
        .find(|s| s["id"] == "install-entra-extension-web-01");
    assert_eq!(
        install.unwrap_or_else(|| panic!("{out:?}"))["automatic"],
        true
    );
    for (server, problem, evidence, command) in cases {
        let edit = |v: &mut serde_json::Value| {
            let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
            m["server"] = server.clone();
            m["extensions"] = serde_json::json!([]);
        };
        let az = Azure::edited("healthy", edit);
        let id = az.machine(0);
        let out = az.run(&[
            "check", "--checks", "azure", "--id", &id, "--login", "entra", "-o", "json",
        ]);
        assert_eq!(out.status, 2, "{out:?}");
        let doc = out.json();
        let finding = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == problem)
            .unwrap_or_else(|| panic!("{problem}: {out:?}"));
        assert_eq!(finding["fix"], "manual");
        assert!(
            finding["evidence"].as_str().unwrap().contains(evidence),
            "{finding}"
        );
        let steps = doc["steps"].as_array().unwrap();
        let fix = steps
            .iter()
            .find(|s| s["fixes"].as_array().unwrap().iter().any(|p| p == problem))
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(fix["command"], command, "{fix}");
        assert_eq!(fix["automatic"], false);
        // The extension is missing too, but its install would be refused: manual.
        let install = steps
            .iter()
            .find(|s| s["id"] == "install-entra-extension-web-01")
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(install["automatic"], false, "{install}");
        let out = az.run(&[
            "apply", "--yes", "--checks", "azure", "--id", &id, "--login", "entra",
        ]);
        assert_eq!(out.status, 3, "{out:?}");
        assert!(out.stdout.contains(command), "{out:?}");
        assert!(az.writes().is_empty(), "{problem}: {:?}", az.writes());

        // The same machine in a fleet (Resource Graph's projection).
        let az = Azure::edited("healthy", edit);
        let sub = id.split('/').nth(2).unwrap().to_string();
        let out = az.run(&[
            "check",
            "--checks",
            "azure",
            "--subscription",
            &sub,
            "--login",
            "entra",
            "-o",
            "json",
        ]);
        assert_eq!(out.status, 2, "{out:?}");
        let found = &out.json()["machines"][0]["findings"];
        assert!(
            found.as_array().unwrap().iter().any(|f| f == problem),
            "{problem}: {out:?}"
        );
        assert!(az.writes().is_empty(), "{:?}", az.writes());
    }
}

/// Issue 20: one machine's reads need no answer of each other (the SSH
/// configuration beside its endpoint, whether the caller may register the
/// provider beside the provider), so all of them are sent before ARM has
/// answered any: one round trip of latency, whatever the latency is.
#[test]
fn one_machine_is_read_in_one_round_trip() {
    let az = Azure::builtin("demo");
    // Long enough that every request of the wave is sent before the first answer.
    az.sim().set_knobs(Knobs {
        latency_ms: 1500,
        ..Knobs::default()
    });
    let id = az.machine(0);
    let out = az.run(&[
        "check", "--checks", "azure", "--login", "entra", "--id", &id, "-o", "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    let log = az.sim().requests();
    let paths: Vec<String> = log
        .iter()
        .map(|r| {
            format!(
                "{} {} (after {} answers)",
                r.method, r.path, r.answered_before
            )
        })
        .collect();
    // The provider is not registered in the demo: whether the caller may
    // register it is asked in the same wave, not after the provider's answer.
    let sub = id.split('/').nth(2).unwrap();
    for wanted in [
        format!("/subscriptions/{sub}/providers/Microsoft.HybridConnectivity"),
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/permissions"),
        format!("{id}/providers/Microsoft.HybridConnectivity/endpoints/default"),
        format!(
            "{id}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH"
        ),
        format!("{id}/extensions"),
        id.clone(),
    ] {
        assert!(
            log.iter().any(|r| r.path.eq_ignore_ascii_case(&wanted)),
            "{wanted} not read: {paths:#?}"
        );
    }
    assert!(
        log.iter().all(|r| r.answered_before == 0),
        "a read waited for another's answer: {paths:#?}"
    );
}
