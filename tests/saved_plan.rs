//! Saved plans are applied only as they were made, and say nothing they did
//! not check; every command a person is told to run works as given, shown by
//! running it against the simulator as the person it is meant for would.

use serde_json::{Value, json};

use crate::azure::Azure;
use crate::harness::Output;

/// The principal that is Owner of the subscription in the `reader` scenario.
const READER_OWNER: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// A token for `oid` in the scenario's tenant.
fn token_of(az: &Azure, oid: &str) -> String {
    let s = az.sim().scenario();
    let upn = s
        .principals
        .iter()
        .find(|p| p.oid == oid)
        .map(|p| p.upn.clone())
        .unwrap_or_default();
    arcfix::sim::fake_token(oid, &upn, &s.tenant)
}

/// Splits a shell command line as sh would for the forms arcfix prints: words,
/// "double" and 'single' quoted parts, and `&&` between commands.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![vec![]];
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    w.push(q);
                }
            }
            '&' if chars.peek() == Some(&'&') && word.is_none() => {
                chars.next();
                commands.push(vec![]);
            }
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    commands.last_mut().unwrap().push(w);
                }
            }
            // What the shell would treat specially: the command would not be
            // what it reads as.
            ';' | '&' | '|' | '(' | ')' | '<' | '>' | '`' | '$' | '*' | '?' | '[' | '\\' => {
                panic!("'{c}' outside quotes in: {line}")
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        commands.last_mut().unwrap().push(w);
    }
    commands
}

/// The value of `--name` in an argument list.
fn arg<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == name)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// Runs a `&&`-joined line of `az` commands against the simulator with
/// `token`, making the requests the Azure CLI makes for them; stops at the
/// first that fails (as `&&` does) and returns its error.
fn run_as(az: &Azure, token: &str, line: &str) -> Result<(), String> {
    let base = az.sim().base_url();
    let base = base.trim_end_matches('/');
    let http = reqwest::Client::new();
    let send = |method: &str, url: String, body: Option<Value>| {
        let mut req = http
            .request(method.to_ascii_uppercase().parse().unwrap(), &url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        az.rt.block_on(async move {
            let r = req.send().await.map_err(|e| e.to_string())?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                Ok(body)
            } else {
                Err(format!("{method} {url}: {status} {body}"))
            }
        })
    };
    for words in shell_commands(line) {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["az", "rest", ..] => {
                let method = arg(&words, "--method").expect("--method");
                let uri = arg(&words, "--uri").expect("--uri");
                assert!(uri.starts_with(base), "{uri} is not on {base}");
                let body = arg(&words, "--body")
                    .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("--body {b}: {e}")));
                send(method, uri.to_string(), body)?;
            }
            ["az", "role", "assignment", "create", ..] => {
                // The CLI finds the role by name at the scope, then PUTs an
                // assignment with a new GUID.
                let scope = arg(&words, "--scope").expect("--scope");
                let role = arg(&words, "--role").expect("--role");
                let principal = arg(&words, "--assignee-object-id")
                    .expect("--assignee-object-id (a name needs a directory lookup)");
                let kind = arg(&words, "--assignee-principal-type").expect("principal type");
                let defs = send(
                    "GET",
                    format!(
                        "{base}{scope}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20'{role}'&api-version=2022-04-01"
                    ),
                    None,
                )?;
                let role_id = defs["value"][0]["id"]
                    .as_str()
                    .ok_or_else(|| format!("no role named {role}: {defs}"))?
                    .to_string();
                send(
                    "PUT",
                    format!(
                        "{base}{scope}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                        uuid::Uuid::new_v4()
                    ),
                    Some(
                        json!({"properties": {"roleDefinitionId": role_id, "principalId": principal, "principalType": kind}}),
                    ),
                )?;
            }
            ["az", "provider", "register", ..] => {
                let ns = arg(&words, "-n").expect("-n");
                let sub = arg(&words, "--subscription").expect("--subscription");
                let url = format!("{base}/subscriptions/{sub}/providers/{ns}");
                send(
                    "POST",
                    format!("{url}/register?api-version=2021-04-01"),
                    None,
                )?;
                if words.iter().any(|w| w == "--wait") {
                    let registered = (0..20).any(|_| {
                        send("GET", format!("{url}?api-version=2021-04-01"), None)
                            .is_ok_and(|p| p["registrationState"] == "Registered")
                    });
                    if !registered {
                        return Err(format!("{ns} never became Registered"));
                    }
                }
            }
            other => panic!("not a command this helper knows: {other:?}"),
        }
    }
    Ok(())
}

fn step(out: &Output, prefix: &str) -> Value {
    out.steps()
        .into_iter()
        .find(|s| s["id"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no step {prefix}: {out:?}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn machine_state(az: &Azure) -> Value {
    az.sim().state_json()["subscriptions"][0]["resourceGroups"][0]["machines"][0].clone()
}

#[test]
fn the_setup_an_administrator_is_told_to_run_creates_the_endpoint_then_its_configuration() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    let grant = step(&plan, "grant-endpoint-rights-");
    let description = text(&grant["description"]);
    let setup = &description[description.find("az rest").expect(description)..];
    assert_eq!(shell_commands(setup).len(), 2, "{setup}");
    let owner = token_of(&az, READER_OWNER);

    // The service configuration alone, as the step used to say, fails here.
    let config_only = setup.split(" && ").nth(1).unwrap();
    let e = run_as(&az, &owner, config_only).unwrap_err();
    assert!(e.contains("404"), "{e}");
    assert_eq!(machine_state(&az)["endpoints"], json!([]));

    run_as(&az, &owner, setup).unwrap();
    let m = machine_state(&az);
    assert_eq!(m["endpoints"].as_array().unwrap().len(), 1, "{m:#}");
    assert_eq!(
        m["serviceConfigurations"][0]["properties"]["port"], 22,
        "{m:#}"
    );
    let check = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    let found = check.finding_ids();
    assert!(
        !found
            .iter()
            .any(|f| f == "ssh-port-not-enabled" || f == "endpoint-permission-missing"),
        "{found:?}"
    );
}

#[test]
fn with_the_endpoint_there_the_setup_is_only_the_service_configuration() {
    let az = Azure::edited("reader", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["endpoint"] =
            json!({"ssh_port": null});
    });
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    let grant = step(&plan, "grant-endpoint-rights-");
    let description = text(&grant["description"]);
    let setup = &description[description.find("az rest").expect(description)..];
    assert_eq!(shell_commands(setup).len(), 1, "{setup}");
    assert!(setup.contains("/serviceConfigurations/SSH"), "{setup}");
    run_as(&az, &token_of(&az, READER_OWNER), setup).unwrap();
    let check = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        !check
            .finding_ids()
            .contains(&"ssh-port-not-enabled".to_string()),
        "{check:?}"
    );
}

#[test]
fn the_role_an_administrator_is_told_to_assign_lets_arcfix_fix_the_rest() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    let grant = step(&plan, "grant-endpoint-rights-");
    // By the caller's object id, so no directory lookup is needed.
    let caller = &az.sim().scenario().caller;
    assert!(
        text(&grant["command"]).contains(&format!(
            "--assignee-object-id {caller} --assignee-principal-type User"
        )),
        "{grant}"
    );
    run_as(&az, &token_of(&az, READER_OWNER), text(&grant["command"])).unwrap();
    let assigned = az.sim().state_json()["roleAssignments"].to_string();
    assert!(assigned.contains(caller.as_str()), "{assigned}");

    let apply = az.run(&[
        "apply", "--checks", "azure", "--id", &id, "--yes", "-o", "json",
    ]);
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(
        text(&step(&apply, "create-default-endpoint-")["status"]),
        "applied"
    );
    assert_eq!(text(&step(&apply, "enable-ssh-port-")["status"]), "applied");
}

#[test]
fn the_login_role_an_administrator_is_told_to_assign_gives_the_login_rights() {
    let az = Azure::builtin("reader");
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        plan.finding_ids()
            .contains(&"login-role-missing".to_string())
    );
    let assign = step(&plan, "assign-login-role-");
    assert_eq!(assign["automatic"], false);
    run_as(&az, &token_of(&az, READER_OWNER), text(&assign["command"])).unwrap();
    let check = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        !check
            .finding_ids()
            .contains(&"login-role-missing".to_string()),
        "{check:?}"
    );
}

#[test]
fn the_provider_registration_an_administrator_is_told_to_run_registers_it() {
    let az = Azure::edited("reader", |v| {
        v["subscriptions"][0]["providers"]["Microsoft.HybridConnectivity"] = json!("NotRegistered");
        v["subscriptions"][0]["register_polls"] = json!(2);
    });
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    let register = step(&plan, "register-hybridconnectivity");
    assert_eq!(register["automatic"], false, "{register}");
    run_as(
        &az,
        &token_of(&az, READER_OWNER),
        text(&register["command"]),
    )
    .unwrap();
    assert_eq!(
        az.sim().state_json()["subscriptions"][0]["providers"]["Microsoft.HybridConnectivity"],
        "Registered"
    );
    let check = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        !check
            .finding_ids()
            .contains(&"rp-not-registered".to_string()),
        "{check:?}"
    );
}

#[test]
fn the_commands_of_automatic_steps_work_by_hand_too() {
    // No endpoint, provider registered, the caller Owner of the resource group.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["providers"]["Microsoft.HybridConnectivity"] = json!("Registered");
    });
    let id = az.machine(0);
    let plan = az.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    let caller = az.sim().caller_token();
    for prefix in ["create-default-endpoint-", "enable-ssh-port-"] {
        run_as(&az, &caller, text(&step(&plan, prefix)["command"])).unwrap();
    }
    let check = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(
        !check
            .finding_ids()
            .contains(&"ssh-port-not-enabled".to_string()),
        "{check:?}"
    );

    // A port change on an existing endpoint, and the re-creation of an outdated one.
    let az = Azure::edited("wrong-port", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["agent_version"] =
            json!("1.28.02260.736");
    });
    let id = az.machine(0);
    let plan = az.run(&[
        "plan", "--checks", "azure", "--id", &id, "--port", "22", "-o", "json",
    ]);
    let caller = az.sim().caller_token();
    let change = step(&plan, "enable-ssh-port-");
    run_as(&az, &caller, text(&change["command"])).unwrap();
    assert_eq!(
        machine_state(&az)["serviceConfigurations"][0]["properties"]["port"],
        22
    );
    // Its undo, as the journal records it, puts the previous port back.
    run_as(&az, &caller, text(&change["undo"])).unwrap();
    assert_eq!(
        machine_state(&az)["serviceConfigurations"][0]["properties"]["port"],
        2222
    );
    let recreate = step(&plan, "recreate-ssh-config-");
    assert_eq!(shell_commands(text(&recreate["command"])).len(), 2);
    run_as(&az, &caller, text(&recreate["command"])).unwrap();
    let m = machine_state(&az);
    assert_eq!(m["serviceConfigurations"].as_array().unwrap().len(), 1);
    assert_eq!(m["serviceConfigurations"][0]["properties"]["port"], 22);
}

#[test]
fn commands_for_people_quote_what_a_shell_would_expand() {
    assert_eq!(
        shell_commands("az rest --method put --uri \"http://h/x?a=1\" --body '{\"p\": 1}' && az x"),
        [
            vec![
                "az",
                "rest",
                "--method",
                "put",
                "--uri",
                "http://h/x?a=1",
                "--body",
                "{\"p\": 1}"
            ],
            vec!["az", "x"]
        ]
    );
    let unquoted = std::panic::catch_unwind(|| shell_commands("az rest --uri http://h/x?a=1"));
    assert!(unquoted.is_err(), "an unquoted ? is a glob");
}

/// The options of `plan --out` and of `apply --plan`.
const PLAN_ARGS: &[&str] = &["--checks", "azure", "--login", "entra"];

#[test]
fn apply_refuses_a_plan_made_with_other_target_options_naming_the_option() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let other = az.machine(1);
    let file = az.sandbox.path("plan.json");
    let file = file.to_str().unwrap();
    let made = az.run(&[&["plan", "--id", &id, "--out", file][..], PLAN_ARGS].concat());
    assert_eq!(made.status, 2, "{made:?}");
    // Terraform's way: it says it saved the plan and how to apply it.
    assert!(
        made.stdout
            .contains(&format!("to {file} (readable by you only)")),
        "{made:?}"
    );
    assert!(
        made.stdout.contains(&format!("arcfix apply {file}")),
        "{made:?}"
    );
    // Only what is typed beside the file is compared, in the flags' words.
    let cases: &[(&[&str], &str)] = &[
        (
            &["--login", "local"],
            "the saved plan was made with --login entra, this apply has --login local",
        ),
        (
            &["--port", "2222"],
            "the saved plan was made without --port, this apply has --port 2222",
        ),
        (
            &["--grant-roles"],
            "the saved plan was made without --grant-roles, this apply has --grant-roles",
        ),
        (
            &["--checks", "client,azure"],
            "the saved plan was made with --checks azure, this apply has --checks client,azure",
        ),
        (
            &["--remote"],
            "the saved plan was made without --remote, this apply has --remote",
        ),
        (
            &["--connect"],
            "the saved plan was made without --connect, this apply has --connect",
        ),
        (
            &["--id", other.as_str()],
            "was made for web-01, this apply names db-01",
        ),
        (
            &["-g", "arc-demo"],
            "names its machines (web-01): apply takes them from it",
        ),
    ];
    for (options, said) in cases {
        for form in [&["apply", file][..], &["apply", "--plan", file][..]] {
            az.sim().clear_log();
            let out = az.run(&[form, options].concat());
            assert_eq!(out.status, 1, "{options:?}: {out:?}");
            assert!(out.stderr.contains(said), "{options:?}: {out:?}");
            // Refused before anything is said to be applied.
            assert!(!out.stderr.contains("applying the saved plan"), "{out:?}");
            assert!(az.writes().is_empty(), "{options:?}: {:?}", az.writes());
            assert!(
                az.sim().requests().is_empty(),
                "refused before anything was read: {:?}",
                az.sim().requests()
            );
        }
    }
    // Two differences are both named.
    let out = az.run(&["apply", file, "--login", "local", "--remote"]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("with --login entra, this apply has --login local; the saved plan was made without --remote, this apply has --remote: apply takes the options from the plan; drop them, or make a new plan"),
        "{out:?}"
    );

    // The same options and machine typed again: applied, as with the file alone.
    let out = az.run(
        &[
            &["apply", "--id", &id, "--plan", file, "-o", "json"][..],
            PLAN_ARGS,
        ]
        .concat(),
    );
    assert_eq!(
        out.status, 3,
        "only the manual agent restart is left: {out:?}"
    );
    assert!(!az.writes().is_empty());
}

#[test]
fn apply_of_a_plan_file_takes_its_machines_and_options_and_asks_nothing() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let file = az.sandbox.path("plan.json");
    let file = file.to_str().unwrap();
    let made = az.run(&[&["plan", "--id", &id, "--out", file][..], PLAN_ARGS].concat());
    assert_eq!(made.status, 2, "{made:?}");
    az.sim().clear_log();
    // No options, no --yes, standard input not a terminal: the file is the approval.
    let out = az.run(&["apply", file]);
    assert_eq!(
        out.status, 3,
        "only the manual agent restart is left: {out:?}"
    );
    assert!(
        out.stderr.contains("→ applying the saved plan made"),
        "{out:?}"
    );
    assert!(
        !out.stderr.contains("cannot ask for confirmation"),
        "{out:?}"
    );
    assert!(out.stdout.contains("✓ applied"), "{out:?}");
    assert!(!az.writes().is_empty());
    // Each step was re-checked: a second apply of the same file finds the
    // work done and refuses nothing, writing nothing.
    az.sim().clear_log();
    let again = az.run(&["apply", file, "-o", "json"]);
    assert!(az.writes().is_empty(), "{:?}", az.writes());
    assert!(again.status == 0 || again.status == 3, "{again:?}");
    // A stale plan is refused: the machine changed in a way the plan did
    // not foresee (its endpoint deleted), so the fresh detection plans a
    // step the file does not hold.
    let other = az.sandbox.path("other.json");
    let other = other.to_str().unwrap();
    az.run(&[&["plan", "--id", &id, "--out", other][..], PLAN_ARGS].concat());
    az.sim().clear_log();
    let endpoint = format!(
        "{}{id}/providers/Microsoft.HybridConnectivity/endpoints/default?api-version=2023-03-15",
        az.sim().base_url().trim_end_matches('/')
    );
    run_as(
        &az,
        &az.token,
        &format!("az rest --method delete --uri '{endpoint}'"),
    )
    .unwrap();
    az.sim().clear_log();
    let stale = az.run(&["apply", other]);
    assert_eq!(stale.status, 1, "{stale:?}");
    assert!(
        stale.stderr.contains("the saved plan is stale"),
        "{stale:?}"
    );
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn a_plan_that_does_not_record_its_options_is_refused() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let file = az.sandbox.path("plan.json");
    az.run(&[
        "plan",
        "--checks",
        "azure",
        "--id",
        &id,
        "--out",
        file.to_str().unwrap(),
    ]);
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["options"]["port"], 22, "{saved:#}");
    saved.as_object_mut().unwrap().remove("options");
    std::fs::write(&file, saved.to_string()).unwrap();
    az.sim().clear_log();
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--id",
        &id,
        "--plan",
        file.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("the saved plan does not record the options it was made with"),
        "{out:?}"
    );
    assert!(out.stderr.contains("make a new plan"), "{out:?}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
}

#[test]
fn a_saved_step_no_longer_planned_is_reported_not_needed_not_already_satisfied() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let file = az.sandbox.path("plan.json");
    let file = file.to_str().unwrap();
    let args = ["--checks", "azure", "--id", id.as_str(), "--port", "22"];
    az.run(&[&["plan", "--out", file][..], &args].concat());
    // Fixed meanwhile, without the plan.
    assert_eq!(az.run(&[&["apply", "--yes"][..], &args].concat()).status, 0);
    az.sim().clear_log();

    let out = az.run(&[&["apply", "--plan", file, "--yes", "-o", "json"][..], &args].concat());
    assert_eq!(out.status, 0, "{out:?}");
    let s = step(&out, "enable-ssh-port-");
    assert_eq!(s["status"], "not-needed", "{s}");
    // Said by the step's status, not again in the notes.
    assert!(
        !out.json()["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n
                .as_str()
                .unwrap_or_default()
                .contains("not needed any more")),
        "{out:?}"
    );
    assert!(az.writes().is_empty(), "{:?}", az.writes());
    // Its own check was not read again: only the detection's reads happened,
    // one GET of the service configuration.
    let config_reads = az
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/serviceConfigurations/SSH"))
        .count();
    assert_eq!(config_reads, 1);

    // The file alone: its machines and options, no question.
    let out = az.run(&["apply", file]);
    assert_eq!(out.status, 0, "{out:?}");
    assert!(!out.stdout.contains("already satisfied]"), "{out:?}");
    // Said once: the step in the plan, counted in the summary, not in the notes.
    assert_eq!(
        out.stdout.matches("enable-ssh-port-web-01 —").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 not needed any more (in the plan above)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("note: step"), "{}", out.stdout);
}

#[test]
fn escape_sequences_in_a_saved_plan_are_printed_escaped() {
    let az = Azure::builtin("wrong-port");
    let id = az.machine(0);
    let file = az.sandbox.path("plan.json");
    let file = file.to_str().unwrap();
    let args = ["--checks", "azure", "--id", id.as_str(), "--port", "22"];
    az.run(&[&["plan", "--out", file][..], &args].concat());
    // Fixed meanwhile: the saved steps are reported, not needed any more.
    assert_eq!(az.run(&[&["apply", "--yes"][..], &args].concat()).status, 0);
    // Someone edits the file: escape sequences (clear the screen, recolour)
    // and a line of its own in the step's id, description and command.
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    for s in saved["steps"].as_array_mut().unwrap() {
        let forged =
            |v: &Value| format!("{}\x1b[2J\x1b[32m\n✓ FORGED\u{202e}", v.as_str().unwrap());
        s["id"] = forged(&s["id"]).into();
        s["description"] = forged(&s["description"]).into();
        s["command"] = forged(&s["command"]).into();
    }
    std::fs::write(file, saved.to_string()).unwrap();
    let out = az.run(&[&["apply", "--plan", file, "--yes"][..], &args].concat());
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.stdout.contains("[not needed any more]"), "{out:?}");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains('\x1b'), "a raw escape: {out:?}");
        assert!(!text.contains('\u{202e}'), "{out:?}");
        assert!(
            !text.lines().any(|l| l.starts_with("✓ FORGED")),
            "a forged line: {out:?}"
        );
    }
    assert!(
        out.stdout
            .contains("\\u{1b}[2J\\u{1b}[32m\\n✓ FORGED\\u{202e}"),
        "{out:?}"
    );
}

/// A plan of schema 1 as arcfix wrote it before steps carried their kind
/// (no `kind` field) still loads and applies: its steps are matched with the
/// fresh detection's by their recorded ids, never by reading the ids back.
#[test]
fn a_schema_1_plan_without_step_kinds_still_applies() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let args = ["--checks", "azure", "--id", &id];
    let plan = az.run(&[&["plan", "--out", "old.json"][..], &args].concat());
    assert_eq!(plan.status, 2, "{plan:?}");
    let path = az.sandbox.path("old.json");
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let steps = saved["steps"].as_array_mut().unwrap();
    assert!(!steps.is_empty());
    for s in steps.iter_mut() {
        assert!(s["kind"].is_string(), "a step's kind is written: {s}");
        s.as_object_mut().unwrap().remove("kind");
    }
    std::fs::write(&path, serde_json::to_string_pretty(&saved).unwrap()).unwrap();
    let out = az.run(&[&["apply", "--plan", "old.json", "--yes"][..], &args].concat());
    assert!(out.status == 0 || out.status == 3, "{out:?}");
    assert!(!az.writes().is_empty(), "nothing applied: {out:?}");
    assert!(!out.stdout.contains("stale"), "{out:?}");
}
