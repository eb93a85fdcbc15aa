//! `arcfix policy show` (issue 21, point 1): the initiative as people read
//! it, and as the JSON whose definitions validate against Azure Policy's
//! published schema, whose deployment templates are PUTs the REST specs
//! accept, and whose definitions and set are the PUT bodies of
//! `Microsoft.Authorization` 2023-04-01. Nothing is sent anywhere.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::azure::Azure;
use crate::harness::{Output, Sandbox};
use crate::specs::{Request, Specs};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy")
}

fn show(args: &[&str]) -> Output {
    let mut all = vec!["policy", "show"];
    all.extend_from_slice(args);
    Sandbox::new().cmd().args(&all).run()
}

/// `policy show -o json` for a choice, whole.
fn document(args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let out = show(&all);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    out.json()
}

/// Every choice `policy show` offers.
fn choices() -> Vec<Value> {
    [
        &[][..],
        &["--login", "entra"],
        &["--port", "2222"],
        &["--port", "2222", "--login", "entra"],
    ]
    .iter()
    .map(|a| document(a))
    .collect()
}

/// The two documents the schema names by URL, answered from memory (see
/// tests/data/policy/SOURCES.md); anything else is refused, never fetched.
struct Offline;

impl jsonschema::Retrieve for Offline {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str() {
            "https://schema.management.azure.com/schemas/common/definitions.json" => Ok(json!({
                "definitions": {"expression": {"type": "string", "pattern": "^\\[([^\\[].*)?\\]$"}}
            })),
            "https://schema.management.azure.com/schemas/2018-05-01/Microsoft.Resources.Deployments.json" => {
                Ok(json!({"definitions": {"DeploymentProperties": {"type": "object"}}}))
            }
            other => Err(format!("the test fetches nothing: {other}").into()),
        }
    }
}

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(data().join("schemas/2020-10-01/policyDefinition.json")).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_retriever(Offline)
        .build(&serde_json::from_str(&text).unwrap())
        .unwrap()
}

/// What the schema finds wrong with a policy rule.
fn schema_errors(v: &jsonschema::Validator, rule: &Value) -> Vec<String> {
    v.iter_errors(rule)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn definitions(doc: &Value) -> &[Value] {
    doc["definitions"].as_array().unwrap()
}

#[test]
fn every_definition_validates_against_the_official_schema() {
    let v = schema();
    // Azure's own definitions pass, as the validator is set up.
    for builtin in [
        "AzureMonitor_Agent_Linux_HybridVM_DINE.json",
        "AzureMonitor_Agent_Linux_HybridVM_Audit.json",
    ] {
        let text = std::fs::read_to_string(
            data()
                .join("built-in-policies/policyDefinitions/Monitoring")
                .join(builtin),
        )
        .unwrap();
        let d: Value = serde_json::from_str(&text).unwrap();
        let errors = schema_errors(&v, &d["properties"]["policyRule"]);
        assert!(errors.is_empty(), "{builtin}: {errors:?}");
    }
    let mut checked = 0;
    for doc in choices() {
        for d in definitions(&doc) {
            let rule = &d["properties"]["policyRule"];
            let errors = schema_errors(&v, rule);
            assert!(errors.is_empty(), "{}: {errors:?}", d["name"]);
            checked += 1;
            // The schema can refuse: an effect it does not know, a details
            // key it does not have.
            let mut wrong = rule.clone();
            wrong["then"]["effect"] = json!("deployIfMissing");
            assert!(!schema_errors(&v, &wrong).is_empty(), "{}", d["name"]);
            if wrong["then"]["details"].is_object() {
                let mut wrong = rule.clone();
                wrong["then"]["details"]["roleDefinitionId"] = json!("x");
                assert!(!schema_errors(&v, &wrong).is_empty(), "{}", d["name"]);
            }
        }
    }
    assert_eq!(checked, 3 + 5 + 3 + 5);
}

/// A template expression of the few forms arcfix writes, with the template's
/// parameters given: `[parameters('p')]` and `[concat(…)]` of literals and
/// parameters.
fn evaluate(expr: &Value, params: &serde_json::Map<String, Value>) -> Value {
    let Some(text) = expr.as_str() else {
        return expr.clone();
    };
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return expr.clone();
    };
    let arg = |a: &str| -> Value {
        let a = a.trim();
        if let Some(name) = a
            .strip_prefix("parameters('")
            .and_then(|a| a.strip_suffix("')"))
        {
            params
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("no parameter {name} in {text}"))
        } else if let Some(lit) = a.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')) {
            json!(lit)
        } else {
            panic!("an expression the test does not read: {text}")
        }
    };
    match inner
        .strip_prefix("concat(")
        .and_then(|i| i.strip_suffix(')'))
    {
        Some(args) => json!(
            args.split(", ")
                .map(|a| arg(a).as_str().unwrap().to_string())
                .collect::<String>()
        ),
        None => arg(inner),
    }
}

/// Each resource of a DeployIfNotExists template as the PUT ARM would
/// receive when the policy remediates machine `web-01` in `rg` at
/// `eastus`: the operation the REST specs name for each, in order.
fn template_puts(d: &Value) -> Vec<String> {
    let props = &d["properties"];
    let details = &props["policyRule"]["then"]["details"];
    let deployment = &details["deployment"]["properties"];
    // The deployment's values, from the evaluated machine and the definition's defaults.
    let mut params = serde_json::Map::new();
    for (name, given) in deployment["parameters"].as_object().unwrap() {
        let value = match given["value"].as_str().unwrap() {
            "[field('name')]" => json!("web-01"),
            "[field('location')]" => json!("eastus"),
            other => {
                let p = other
                    .strip_prefix("[parameters('")
                    .and_then(|p| p.strip_suffix("')]"))
                    .unwrap_or_else(|| panic!("{other}"));
                props["parameters"][p]["defaultValue"].clone()
            }
        };
        params.insert(name.clone(), value);
    }
    let template = &deployment["template"];
    let declared: Vec<&String> = template["parameters"].as_object().unwrap().keys().collect();
    let mut given: Vec<&String> = params.keys().collect();
    given.sort();
    assert_eq!(declared, given, "{}", d["name"]);
    let group = format!("/subscriptions/{SUB}/resourceGroups/rg/providers");
    let mut ops = Vec::new();
    for r in template["resources"].as_array().unwrap() {
        let kind = r["type"].as_str().unwrap();
        let name = evaluate(&r["name"], &params);
        let name = name.as_str().unwrap();
        let (namespace, types) = kind.split_once('/').unwrap();
        let mut path = match r.get("scope") {
            // An extension resource of the machine (`scope`).
            Some(scope) => format!(
                "{group}/{}/providers/{namespace}",
                evaluate(scope, &params).as_str().unwrap()
            ),
            None => format!("{group}/{namespace}"),
        };
        for (t, n) in types.split('/').zip(name.split('/')) {
            path.push_str(&format!("/{t}/{n}"));
        }
        assert_eq!(
            types.split('/').count(),
            name.split('/').count(),
            "{kind} {name}"
        );
        let mut body = json!({"properties": {}});
        for (k, v) in r["properties"].as_object().unwrap() {
            body["properties"][k] = evaluate(v, &params);
        }
        if let Some(location) = r.get("location") {
            body["location"] = evaluate(location, &params);
        }
        let query = format!("api-version={}", r["apiVersion"].as_str().unwrap());
        let op = Specs::get()
            .check(&Request {
                method: "PUT",
                path: &path,
                query: &query,
                body: Some(&body),
            })
            .unwrap_or_else(|e| panic!("{}: PUT {path}?{query} {body}: {e:?}", d["name"]));
        ops.push(format!("{op} {path} {body}"));
    }
    ops
}

#[test]
fn each_template_deploys_what_the_rest_specs_accept() {
    let m = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01"
    );
    let doc = document(&["--port", "2222", "--login", "entra"]);
    let puts: Vec<(String, Vec<String>)> = definitions(&doc)
        .iter()
        .filter(|d| d["properties"]["policyRule"]["then"]["details"]["deployment"].is_object())
        .map(|d| (d["name"].as_str().unwrap().to_string(), template_puts(d)))
        .collect();
    let endpoint = format!(
        r#"Endpoints_CreateOrUpdate {m}/providers/Microsoft.HybridConnectivity/endpoints/default {{"properties":{{"type":"default"}}}}"#
    );
    assert_eq!(
        puts,
        [
            ("arcfix-ssh-endpoint".to_string(), vec![endpoint.clone()]),
            (
                "arcfix-ssh-service-configuration".to_string(),
                vec![
                    endpoint,
                    format!(
                        r#"ServiceConfigurations_CreateOrupdate {m}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH {{"properties":{{"port":2222,"serviceName":"SSH"}}}}"#
                    )
                ]
            ),
            (
                "arcfix-entra-ssh-login-extension".to_string(),
                vec![format!(
                    r#"MachineExtensions_CreateOrUpdate {m}/extensions/AADSSHLoginForLinux {{"location":"eastus","properties":{{"autoUpgradeMinorVersion":true,"publisher":"Microsoft.Azure.ActiveDirectory","type":"AADSSHLoginForLinux"}}}}"#
                )]
            ),
        ]
    );
}

#[test]
fn the_definitions_and_the_set_are_the_bodies_authorization_takes() {
    for doc in choices() {
        for d in definitions(&doc) {
            let name = d["name"].as_str().unwrap();
            assert!(name.starts_with("arcfix-"), "{name}");
            let body = json!({"properties": d["properties"]});
            let path = format!(
                "/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/{name}"
            );
            let op = Specs::get().check(&Request {
                method: "PUT",
                path: &path,
                query: "api-version=2023-04-01",
                body: Some(&body),
            });
            assert_eq!(
                op,
                Ok("PolicyDefinitions_CreateOrUpdate".to_string()),
                "{name}"
            );
            let p = &d["properties"];
            assert_eq!(p["policyType"], "Custom");
            assert_eq!(p["mode"], "Indexed");
            assert_eq!(
                p["metadata"],
                json!({"category": "Azure Arc", "version": "1.0.0"})
            );
        }
        // The set, once its definitions' subscription is known.
        let set = &doc["set"];
        assert_eq!(set["name"], "arcfix-ssh");
        let text = set["properties"]
            .to_string()
            .replace("{subscriptionId}", SUB);
        let body = json!({"properties": serde_json::from_str::<Value>(&text).unwrap()});
        let op = Specs::get().check(&Request {
            method: "PUT",
            path: &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh"
            ),
            query: "api-version=2023-04-01",
            body: Some(&body),
        });
        assert_eq!(op, Ok("PolicySetDefinitions_CreateOrUpdate".to_string()));
        // Each reference names a definition of the document, by its id.
        let names: Vec<String> = definitions(&doc)
            .iter()
            .map(|d| {
                format!(
                    "/subscriptions/{{subscriptionId}}/providers/Microsoft.Authorization/policyDefinitions/{}",
                    d["name"].as_str().unwrap()
                )
            })
            .collect();
        let referenced: Vec<String> = set["properties"]["policyDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["policyDefinitionId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(referenced, names);
    }
}

#[test]
fn remediation_roles_are_the_built_in_ones_named() {
    let doc = document(&["--login", "entra"]);
    let roles: Vec<(String, Value)> = definitions(&doc)
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["properties"]["policyRule"]["then"]["details"]["roleDefinitionIds"].clone(),
            )
        })
        .collect();
    let contributor = json!([
        "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
    ]);
    assert_eq!(
        roles,
        [
            ("arcfix-ssh-endpoint".to_string(), contributor.clone()),
            ("arcfix-ssh-service-configuration".to_string(), contributor),
            ("arcfix-agent-ssh-port".to_string(), Value::Null),
            (
                "arcfix-entra-ssh-login-extension".to_string(),
                json!([
                    "/providers/Microsoft.Authorization/roleDefinitions/cd570a14-e51a-42ad-bac8-bafd67325302"
                ])
            ),
            ("arcfix-agent-entra-extension".to_string(), Value::Null),
        ]
    );
    // The role of Azure's own Arc extension definition, as arcfix names it.
    let builtin: Value = serde_json::from_str(
        &std::fs::read_to_string(
            data().join("built-in-policies/policyDefinitions/Monitoring/AzureMonitor_Agent_Linux_HybridVM_DINE.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        builtin["properties"]["policyRule"]["then"]["details"]["roleDefinitionIds"],
        definitions(&doc)[3]["properties"]["policyRule"]["then"]["details"]["roleDefinitionIds"]
    );
}

#[test]
fn people_see_each_definition_what_it_needs_and_what_it_cannot_verify() {
    let out = show(&[]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout,
        "\
The Azure Policy initiative arcfix would install, for SSH on port 22 with local users
Shown only: nothing was read from or sent to Azure. None of it has run against real Azure.

Set arcfix-ssh: 3 definitions, the effect of each a parameter of the set

arcfix-ssh-endpoint: Arc-enabled servers should have the default HybridConnectivity endpoint
  effect: DeployIfNotExists (or AuditIfNotExists, Disabled)
  looks for: Microsoft.HybridConnectivity/endpoints named default
  deploys: Microsoft.HybridConnectivity/endpoints (api-version 2023-03-15)
  remediation role: Contributor (b24988ac-6180-42a0-ab88-20f7382dd24c)
  verifies: an endpoint named default exists on the machine
  cannot verify: HybridConnectivity has no policy aliases: only the name and type of the related resource are tested, never its properties
  cannot verify: whether the endpoint is of type default or custom

arcfix-ssh-service-configuration: Arc-enabled servers should have an SSH service configuration
  effect: DeployIfNotExists (or AuditIfNotExists, Disabled)
  looks for: Microsoft.HybridConnectivity/endpoints/serviceConfigurations named default/SSH
  deploys: Microsoft.HybridConnectivity/endpoints (api-version 2023-03-15)
  deploys: Microsoft.HybridConnectivity/endpoints/serviceConfigurations (api-version 2023-03-15)
  remediation role: Contributor (b24988ac-6180-42a0-ab88-20f7382dd24c)
  verifies: a service configuration named SSH exists under the default endpoint
  cannot verify: HybridConnectivity has no policy aliases: only the name and type of the related resource are tested, never its properties
  cannot verify: the port: a machine whose SSH service configuration is on another port counts as compliant (arcfix check reads the port)
  cannot verify: whether the policy engine finds a child of an extension resource as the related resource (not run against Azure)

arcfix-agent-ssh-port: the Arc agent should allow incoming connections on the SSH port
  effect: Audit (or Disabled)
  verifies: the agent's incomingConnectionsPorts is empty (every port allowed) or names the port
  cannot verify: a range (22-25) that holds the port is reported non-compliant: a policy compares text, it cannot read a range
  cannot verify: a machine whose agent has not reported its configuration is compliant (nothing to compare)
  cannot verify: the agent's own setting is changed only on the server (azcmagent config set incomingconnections.ports): a policy cannot deploy it

Not proven
  - None of these definitions has run against real Azure: they are checked against Azure Policy's published JSON schema and the REST specifications only.
  - HybridConnectivity has no Azure Policy aliases: an existence condition can test only that an endpoint named default and a service configuration named SSH exist, never their port. A machine whose SSH configuration is on another port is compliant; arcfix check reads the port.
  - The agent's configuration (allowed ports, extension lists) is read-only to Azure Policy: those rules only audit, and the fix is on the server (azcmagent config set).
  - Registering Microsoft.HybridConnectivity and granting login roles are no policy's to do: arcfix apply does them.
  - The agentConfiguration aliases (incomingConnectionsPorts, extensionsEnabled, the extension allow and block lists) come from a published Get-AzPolicyAlias listing, not from a Microsoft page or a built-in definition: ARM refuses a definition naming an alias it does not have.

The definitions and the set for az policy definition create and az policy set-definition create (in the set, replace {subscriptionId} with the subscription the definitions are created in): arcfix policy show -o json
"
    );
    let entra = show(&["--login", "entra", "--port", "2222"]);
    assert_eq!(entra.status, 0, "{entra:?}");
    assert!(
        entra.stdout.starts_with(
            "The Azure Policy initiative arcfix would install, for SSH on port 2222 with Microsoft Entra ID\n"
        ),
        "{entra:?}"
    );
    assert!(
        entra.stdout.contains(
            "\narcfix-entra-ssh-login-extension: Linux Arc-enabled servers should have the Microsoft Entra SSH login extension\n  effect: DeployIfNotExists (or AuditIfNotExists, Disabled)\n  looks for: Microsoft.HybridCompute/machines/extensions\n  deploys: Microsoft.HybridCompute/machines/extensions (api-version 2025-01-13)\n  remediation role: Azure Connected Machine Resource Administrator (cd570a14-e51a-42ad-bac8-bafd67325302)\n"
        ),
        "{entra:?}"
    );
    assert!(
        entra.stdout.contains("\narcfix-agent-entra-extension: the Arc agent should admit the Microsoft Entra SSH login extension\n  effect: Audit (or Disabled)\n"),
        "{entra:?}"
    );
    assert!(
        entra
            .stdout
            .ends_with(": arcfix policy show --port 2222 --login entra -o json\n"),
        "{entra:?}"
    );
}

#[test]
fn a_table_lists_the_definitions_with_their_effect_and_roles() {
    let out = show(&["--login", "entra", "-o", "table"]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "\
Definition                        Effect             Roles
--------------------------------  -----------------  ----------------------------------------------
arcfix-ssh-endpoint               DeployIfNotExists  Contributor
arcfix-ssh-service-configuration  DeployIfNotExists  Contributor
arcfix-agent-ssh-port             Audit
arcfix-entra-ssh-login-extension  DeployIfNotExists  Azure Connected Machine Resource Administrator
arcfix-agent-entra-extension      Audit
"
    );
}

#[test]
fn a_bad_port_is_a_one_line_usage_error() {
    for port in ["0", "65536", "x", "-1", "", "22 23"] {
        let arg = format!("--port={port}");
        let out = show(&[&arg]);
        assert_eq!(out.status, 64, "{port}: {out:?}");
        assert_eq!(out.stdout, "", "{port}");
        assert_eq!(
            out.stderr,
            format!(
                "arcfix: error: invalid --port '{port}': a port is a whole number from 1 to 65535\n"
            ),
            "{port}"
        );
    }
}

#[test]
fn showing_the_policy_touches_no_azure() {
    let azure = Azure::builtin("healthy");
    for args in [
        &["policy", "show"][..],
        &["policy", "show", "--login", "entra", "-o", "json"],
    ] {
        let out = azure.run(args);
        assert_eq!(out.status, 0, "{out:?}");
    }
    assert_eq!(azure.sim().requests().len(), 0);
    // No token was asked of the Azure CLI either.
    assert_eq!(azure.sandbox.calls(), "");
}

#[test]
fn copies_are_byte_identical_to_the_shared_ones() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/policy");
    let files = [
        "schemas/2020-10-01/policyDefinition.json",
        "built-in-policies/policyDefinitions/Monitoring/AzureMonitor_Agent_Linux_HybridVM_DINE.json",
        "built-in-policies/policyDefinitions/Monitoring/AzureMonitor_Agent_Linux_HybridVM_Audit.json",
    ];
    for f in files {
        assert!(data().join(f).is_file(), "{f}");
    }
    assert!(data().join("SOURCES.md").is_file());
    if !shared.is_dir() {
        return;
    }
    for f in files {
        assert!(
            std::fs::read(data().join(f)).unwrap() == std::fs::read(shared.join(f)).unwrap(),
            "{f} differs from the shared copy"
        );
    }
}

#[test]
fn the_simulator_stores_the_initiative_as_shown() {
    let sub = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
    // Its caller Owner of the subscription, where definitions live.
    let azure = Azure::edited("healthy", |v| {
        assert_eq!(v["role_assignments"][0]["role"], "Owner");
        v["role_assignments"][0]["scope"] = json!(format!("/subscriptions/{sub}"));
    });
    let shown = azure.run(&["policy", "show", "--login", "entra", "-o", "json"]);
    assert_eq!(shown.status, 0, "{shown:?}");
    let doc = shown.json();
    let base = azure.sim().base_url();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let put = |path: String, body: Value| {
        let url = format!(
            "{}{path}?api-version=2023-04-01",
            base.trim_end_matches('/')
        );
        let req = http.put(url).bearer_auth(&azure.token).json(&body);
        azure.rt.block_on(async {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    let at = |kind: &str, name: &str| {
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/{kind}/{name}")
    };
    for d in definitions(&doc) {
        let name = d["name"].as_str().unwrap();
        let (status, answer) = put(
            at("policyDefinitions", name),
            json!({"properties": d["properties"]}),
        );
        assert_eq!(status, 201, "{name}: {answer}");
        assert_eq!(answer["properties"], d["properties"], "{name}");
    }
    let set = doc["set"]["properties"]
        .to_string()
        .replace("{subscriptionId}", sub);
    let set: Value = serde_json::from_str(&set).unwrap();
    let (status, answer) = put(
        at("policySetDefinitions", "arcfix-ssh"),
        json!({"properties": set}),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["properties"], set);
    let state = azure.sim().state_json();
    assert_eq!(
        state["policy"]["policyDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        state["policy"]["policySetDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The simulator's log is checked against the REST specs when `azure` drops.
}

// ---------------------------------------------------------------------
// `policy apply` and `policy status` (issue 21, points 2 and 3) against the
// simulator's own policy engine (scenario `policy`).

/// The policy scenario's subscription and the region of its first group.
fn policy_scope(azure: &Azure) -> (String, String) {
    let s = &azure.sim().scenario().subscriptions[0];
    (s.id.clone(), s.resource_groups[0].location.clone())
}

fn install(azure: &Azure, extra: &[&str]) -> Output {
    let (sub, location) = policy_scope(azure);
    let mut args = vec![
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--location",
        &location,
        "--login",
        "entra",
    ];
    args.extend_from_slice(extra);
    azure.run(&args)
}

fn status(azure: &Azure, extra: &[&str]) -> Output {
    let (sub, _) = policy_scope(azure);
    let mut args = vec!["policy", "status", "--subscription", &sub];
    args.extend_from_slice(extra);
    azure.run(&args)
}

/// `policy status -o json` read after no remediation task is under way
/// (the compliance read beside the last task's end may predate it).
fn settled_status(azure: &Azure) -> Value {
    settled_status_at(azure, &[])
}

/// As `settled_status`, with more options (`-g RG`).
fn settled_status_at(azure: &Azure, extra: &[&str]) -> Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    for _ in 0..100 {
        let out = status(azure, &args);
        let doc = out.json();
        let under_way = doc["remediations"].as_array().unwrap().iter().any(|r| {
            matches!(
                r["state"].as_str(),
                Some("Accepted" | "Evaluating" | "Running")
            )
        });
        if !under_way {
            return status(azure, &args).json();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the remediation tasks never ended");
}

#[test]
fn policy_apply_installs_assigns_grants_and_remediates_and_a_second_run_changes_nothing() {
    let azure = Azure::builtin("policy");
    let (sub, location) = policy_scope(&azure);
    let journal = azure.sandbox.home().join("journal.jsonl");
    let journal_arg = journal.to_str().unwrap().to_string();
    // Before: not assigned (exit 2), and said so.
    let before = status(&azure, &[]);
    assert_eq!(before.status, 2, "{before:?}");
    assert!(before.stdout.contains("not assigned"), "{before:?}");

    let out = install(&azure, &["--yes", "--journal", &journal_arg]);
    assert_eq!(out.status, 0, "{out:?}");
    let writes = azure.writes();
    let count = |what: &str| writes.iter().filter(|w| w.contains(what)).count();
    assert_eq!(count("/policyDefinitions/arcfix-"), 5, "{writes:#?}");
    assert_eq!(count("/policySetDefinitions/arcfix-ssh "), 1, "{writes:#?}");
    assert_eq!(count("/policyAssignments/arcfix-ssh "), 1, "{writes:#?}");
    assert_eq!(count("/roleAssignments/"), 2, "{writes:#?}");
    assert_eq!(count("/remediations/arcfix-"), 3, "{writes:#?}");
    assert!(
        writes
            .iter()
            .all(|w| w.ends_with(" 200") || w.ends_with(" 201")),
        "{writes:#?}"
    );

    // What Azure received: the assignment with its identity, location,
    // port and enforcement; the roles for that identity, exactly those the
    // definitions name; remediations re-evaluating compliance, bounded.
    let requests = azure.sim().requests();
    let body = |path_part: &str| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains(path_part))
            .map(|r| r.body.clone().unwrap())
            .collect()
    };
    let assignment = &body("/policyAssignments/arcfix-ssh")[0];
    assert_eq!(assignment["identity"]["type"], "SystemAssigned");
    assert_eq!(assignment["location"], location);
    assert_eq!(assignment["properties"]["enforcementMode"], "Default");
    assert_eq!(assignment["properties"]["parameters"]["port"]["value"], 22);
    assert_eq!(
        assignment["properties"]["policyDefinitionId"],
        format!(
            "/subscriptions/{sub}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh"
        )
    );
    let state = azure.sim().state_json();
    let principal = state["policy"]["policyAssignments"][0]["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut roles: Vec<String> = body("/roleAssignments/")
        .iter()
        .map(|b| {
            assert_eq!(b["properties"]["principalId"], principal.as_str());
            assert_eq!(b["properties"]["principalType"], "ServicePrincipal");
            b["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            "cd570a14-e51a-42ad-bac8-bafd67325302"
        ]
    );
    let mut remediated: Vec<String> = body("/remediations/")
        .iter()
        .map(|b| {
            let p = &b["properties"];
            assert_eq!(p["resourceDiscoveryMode"], "ReEvaluateCompliance");
            assert_eq!(p["resourceCount"], 10000);
            assert_eq!(p["parallelDeployments"], 10);
            assert!(
                p["policyAssignmentId"]
                    .as_str()
                    .unwrap()
                    .ends_with("/policyAssignments/arcfix-ssh")
            );
            p["policyDefinitionReferenceId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    remediated.sort();
    assert_eq!(
        remediated,
        [
            "arcfix-entra-ssh-login-extension",
            "arcfix-ssh-endpoint",
            "arcfix-ssh-service-configuration"
        ]
    );

    // The journal has each change with its undo, and no token.
    let journaled = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(journaled.lines().count(), 12, "{journaled}");
    assert!(journaled.contains("az policy assignment delete --name arcfix-ssh"));
    assert!(!journaled.contains(&azure.token));

    // The remediations deployed into the simulated world: only the audit of
    // the agent that leaves out port 22 is left, and it names that machine.
    let doc = settled_status(&azure);
    assert_eq!(doc["verdict"], "non-compliant", "{doc:#}");
    let bad: Vec<(String, Vec<Value>)> = doc["non_compliant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["definitions"].as_array().unwrap().clone(),
            )
        })
        .collect();
    assert!(
        bad.iter()
            .all(|(_, d)| d == &vec![json!("arcfix-agent-ssh-port")]),
        "{doc:#}"
    );
    assert_eq!(bad.len(), 1, "{doc:#}");
    // A DeployIfNotExists rule whose `if` is false gives no state (Azure
    // Policy's applicability): the Entra extension's counts only the five
    // Linux machines, the endpoint's all seven.
    let evaluated = |name: &str| {
        doc["compliance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["definition"] == name)
            .map(|c| c["evaluated"].clone())
    };
    assert_eq!(
        evaluated("arcfix-entra-ssh-login-extension"),
        Some(json!(5)),
        "{doc:#}"
    );
    assert_eq!(evaluated("arcfix-ssh-endpoint"), Some(json!(7)), "{doc:#}");
    for r in doc["remediations"].as_array().unwrap() {
        assert_eq!(r["state"], "Succeeded", "{doc:#}");
        assert_eq!(r["failed"], 0, "{doc:#}");
    }
    let text = status(&azure, &[]);
    assert_eq!(text.status, 2, "{text:?}");
    assert!(text.stdout.contains(&bad[0].0), "{text:?}");
    assert!(
        text.stdout.contains("arcfix apply --ids-from -"),
        "{text:?}"
    );
    // Its ids feed apply --ids-from: one machine id a line.
    let ids = status(&azure, &["--query", "non_compliant[].id", "-o", "tsv"]);
    assert_eq!(ids.status, 2, "{ids:?}");
    let lines: Vec<&str> = ids.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{ids:?}");
    assert!(
        lines[0].starts_with(&format!("/subscriptions/{sub}/resourceGroups/"))
            && lines[0].contains("/providers/Microsoft.HybridCompute/machines/"),
        "{ids:?}"
    );

    // ...and arcfix check takes them as they are.
    let checked = azure
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
        .env("ARCFIX_ARM_ENDPOINT", &azure.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .stdin(ids.stdout.as_bytes())
        .run();
    let machines = checked.json()["machines"].clone();
    assert_eq!(machines.as_array().map(Vec::len), Some(1), "{checked:?}");
    assert_eq!(machines[0]["id"], lines[0], "{checked:?}");

    // A second run changes nothing.
    let before = azure.writes().len();
    let again = install(&azure, &["--yes", "--journal", &journal_arg]);
    assert_eq!(again.status, 0, "{again:?}");
    assert_eq!(
        again.stdout,
        "✓ no problems found in arcfix's Azure Policy initiative\n✓ nothing to fix\n"
    );
    assert_eq!(azure.writes().len(), before, "{:#?}", azure.writes());
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        12
    );
}

#[test]
fn a_caller_without_the_rights_gets_manual_steps_and_nothing_is_written() {
    // Contributor of the subscription: may not write role assignments or
    // policy definitions (its notActions).
    let azure = Azure::edited("policy", |v| {
        for a in v["role_assignments"].as_array_mut().unwrap() {
            if a["role"] == "Owner" {
                a["role"] = json!("Contributor");
            }
        }
    });
    let out = install(&azure, &["--yes"]);
    assert_eq!(out.status, 3, "{out:?}");
    assert_eq!(azure.writes(), Vec::<String>::new());
    assert!(
        out.stdout
            .contains("Owner, or Resource Policy Contributor and User Access Administrator"),
        "{out:?}"
    );
    assert!(out.stdout.contains("no write is attempted"), "{out:?}");
    let doc = install(&azure, &["--yes", "-o", "json"]).json();
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "manual" && s["automatic"] == false),
        "{doc:#}"
    );
    assert_eq!(azure.writes(), Vec::<String>::new());
}

#[test]
fn do_not_enforce_assigns_without_remediating() {
    let azure = Azure::builtin("policy");
    let out = install(&azure, &["--yes", "--enforcement", "DoNotEnforce"]);
    assert_eq!(out.status, 0, "{out:?}");
    let said = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("arcfix gives the identity no role and starts no remediation task"),
        "{out:?}"
    );
    assert!(
        !azure
            .writes()
            .iter()
            .any(|w| w.contains("/roleAssignments/"))
    );
    let writes = azure.writes();
    assert!(
        !writes.iter().any(|w| w.contains("/remediations/")),
        "{writes:#?}"
    );
    let assignment = azure
        .sim()
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.contains("/policyAssignments/"))
        .unwrap();
    assert_eq!(
        assignment.body.unwrap()["properties"]["enforcementMode"],
        "DoNotEnforce"
    );
    // Nothing deployed: the machines without an endpoint stay so.
    let doc = status(&azure, &["-o", "json"]).json();
    assert_eq!(doc["verdict"], "non-compliant", "{doc:#}");
    assert_eq!(doc["assignment"]["enforcement_mode"], "DoNotEnforce");
}

#[test]
fn dry_run_and_a_declined_prompt_write_nothing() {
    let azure = Azure::builtin("policy");
    let out = install(&azure, &["--dry-run"]);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.stdout.contains("Dry run: nothing was changed"),
        "{out:?}"
    );
    assert_eq!(azure.writes(), Vec::<String>::new());
    // Piped, without --yes: refused, nothing written.
    let piped = install(&azure, &[]);
    assert_ne!(piped.status, 0, "{piped:?}");
    assert_eq!(azure.writes(), Vec::<String>::new());
    let (sub, location) = policy_scope(&azure);
    if let Some(out) = azure.on_terminal(
        &[
            "policy",
            "apply",
            "--subscription",
            &sub,
            "--location",
            &location,
        ],
        Some(100),
        "n\r",
    ) {
        assert!(out.stdout.contains("nothing was changed"), "{out:?}");
        assert_eq!(azure.writes(), Vec::<String>::new());
    }
}

#[test]
fn bad_policy_input_is_a_one_line_usage_error() {
    let s = Sandbox::new();
    for (args, said) in [
        (
            &[
                "policy",
                "apply",
                "--subscription",
                "Contoso",
                "--location",
                "westeurope",
            ][..],
            "invalid --subscription 'Contoso'",
        ),
        (
            &[
                "policy",
                "apply",
                "--subscription",
                SUB,
                "--location",
                "west-europe!",
            ],
            "invalid location 'west-europe!'",
        ),
        (
            &[
                "policy",
                "apply",
                "--subscription",
                SUB,
                "-g",
                "bad/group",
                "--location",
                "x",
            ],
            "invalid resource group name 'bad/group'",
        ),
        (
            &[
                "policy",
                "apply",
                "--subscription",
                SUB,
                "--enforcement",
                "Sometimes",
            ],
            "'Sometimes'",
        ),
        (
            &["policy", "apply", "--subscription", SUB, "--port", "0"],
            "invalid --port '0'",
        ),
        (
            &["policy", "status", "--subscription", "not-a-guid"],
            "invalid --subscription 'not-a-guid'",
        ),
        (
            &["policy", "status", "--subscription", SUB, "-g", "a b"],
            "invalid resource group name 'a b'",
        ),
        (&["policy", "status"], "--subscription"),
    ] {
        let out = s.cmd().args(args).run();
        assert_eq!(out.status, 64, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(out.stderr.contains(said), "{args:?}: {out:?}");
        if said.starts_with("invalid") {
            // arcfix's own: one line (clap's own errors keep clap's form).
            assert_eq!(out.stderr.trim().lines().count(), 1, "{args:?}: {out:?}");
        }
    }
    // The subscription's location cannot be guessed: --location is asked for.
    let azure = Azure::builtin("policy");
    let (sub, _) = policy_scope(&azure);
    let out = azure.run(&["policy", "apply", "--subscription", &sub, "--yes"]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("--location"), "{out:?}");
    assert_eq!(azure.writes(), Vec::<String>::new());
}

#[test]
fn a_resource_group_scope_assigns_grants_and_remediates_there_in_its_region() {
    let azure = Azure::builtin("policy");
    let (sub, _) = policy_scope(&azure);
    let group = azure.sim().scenario().subscriptions[0].resource_groups[0].clone();
    // No --location: the resource group's region.
    let out = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "-g",
        &group.name,
        "--yes",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    let at = format!(
        "/subscriptions/{sub}/resourceGroups/{}/providers/",
        group.name
    );
    let writes = azure.writes();
    for kind in [
        "Microsoft.Authorization/policyAssignments/arcfix-ssh",
        "Microsoft.Authorization/roleAssignments/",
        "Microsoft.PolicyInsights/remediations/arcfix-ssh-endpoint-",
    ] {
        assert!(
            writes.iter().any(|w| w.contains(&format!("{at}{kind}"))),
            "{kind}: {writes:#?}"
        );
    }
    // Definitions and the set live in the subscription.
    assert!(
        writes.iter().any(|w| w.contains(&format!(
            "PUT /subscriptions/{sub}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh"
        ))),
        "{writes:#?}"
    );
    let assignment = azure
        .sim()
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.contains("/policyAssignments/"))
        .unwrap();
    assert_eq!(
        assignment.body.unwrap()["location"],
        group.location.as_str()
    );
    // That group's machines are remediated and read at its scope; the other
    // group's stay as they were.
    let doc = settled_status_at(&azure, &["-g", &group.name]);
    assert_eq!(
        doc["scope"],
        format!("/subscriptions/{sub}/resourceGroups/{}", group.name),
        "{doc:#}"
    );
    let tasks = doc["remediations"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{doc:#}");
    assert!(tasks.iter().all(|r| r["state"] == "Succeeded"), "{doc:#}");
    // Deployed by the remediation in the group (web-02 had no endpoint), not
    // beside it (win-02 in arc-win has none still).
    let endpoint = |rg: &str, name: &str| {
        let url = format!(
            "{}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}/providers/Microsoft.HybridConnectivity/endpoints/default?api-version=2023-03-15",
            azure.sim().base_url().trim_end_matches('/')
        );
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        azure.rt.block_on(async {
            http.get(url)
                .bearer_auth(&azure.token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(group.name, "arc-prod");
    assert_eq!(endpoint("arc-prod", "web-02"), 200);
    assert_eq!(endpoint("arc-win", "win-02"), 404);
    let whole = status(&azure, &["-o", "json"]).json();
    assert_eq!(whole["verdict"], "not-assigned", "{whole:#}");
}

/// The saved copy the simulator's tests judge (tests/data/policy/arcfix-initiative.json)
/// is what `arcfix policy show --login entra -o json` prints now, so that
/// the simulator never passes or fails rules arcfix no longer installs.
#[test]
fn the_simulators_saved_initiative_is_the_current_output() {
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(data().join("arcfix-initiative.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        document(&["--login", "entra"]),
        saved,
        "regenerate tests/data/policy/arcfix-initiative.json with `arcfix policy show --login entra -o json`"
    );
}

#[test]
fn resource_policy_contributor_alone_gets_manual_steps_naming_what_it_lacks() {
    let azure = Azure::edited("policy", |v| {
        for a in v["role_assignments"].as_array_mut().unwrap() {
            if a["role"] == "Owner" {
                a["role"] = json!("Resource Policy Contributor");
            }
        }
    });
    let out = install(&azure, &["--yes"]);
    assert_eq!(out.status, 3, "{out:?}");
    assert_eq!(azure.writes(), Vec::<String>::new());
    let said = out
        .stdout
        .replace('\n', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("your roles do not allow Microsoft.Authorization/roleAssignments/write:"),
        "{out:?}"
    );
    assert!(
        said.contains("Owner, or Resource Policy Contributor and User Access Administrator"),
        "{out:?}"
    );
}

#[test]
fn unreadable_permissions_make_every_step_manual_and_say_why() {
    let azure = Azure::builtin("policy");
    let (sub, location) = policy_scope(&azure);
    let endpoint = crate::hostile::hostile(&azure, crate::hostile::refuse_subscription_permissions);
    let out = azure.run_at(
        &endpoint,
        &[
            "policy",
            "apply",
            "--subscription",
            &sub,
            "--location",
            &location,
            "--yes",
            "-o",
            "json",
        ],
    );
    assert_eq!(azure.writes(), Vec::<String>::new());
    let doc = out.json();
    assert_ne!(out.status, 0, "{out:?}");
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "manual"),
        "{doc:#}"
    );
    assert!(
        doc["not_checked"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("your permissions could not be read (Azure answered GET /subscriptions/"),
        "{doc:#}"
    );
}

#[test]
fn an_assignment_keeps_its_region_and_loses_what_narrows_it_only_when_said() {
    let azure = Azure::builtin("policy");
    let (sub, location) = policy_scope(&azure);
    let first = install(&azure, &["--yes"]);
    assert_eq!(first.status, 0, "{first:?}");
    // Another region: refused before anything is written.
    let before = azure.writes().len();
    let moved = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--location",
        "westeurope",
        "--login",
        "entra",
        "--yes",
    ]);
    assert_ne!(location, "westeurope");
    assert_eq!(moved.status, 1, "{moved:?}");
    assert!(
        moved.stderr.contains(&format!(
            "is in {location}, and an assignment's location cannot be changed"
        )),
        "{moved:?}"
    );
    assert_eq!(azure.writes().len(), before);
    // No --location: the assignment's own.
    let again = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--login",
        "entra",
        "--yes",
    ]);
    assert_eq!(again.status, 0, "{again:?}");
    assert_eq!(azure.writes().len(), before, "{:#?}", azure.writes());
    // Someone excludes a group and disables a definition on the assignment:
    // the plan says the update removes the one and puts back the other.
    let assignment = format!(
        "/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/arcfix-ssh"
    );
    let state = azure.sim().state_json();
    let mut current = state["policy"]["policyAssignments"][0].clone();
    current["properties"]["notScopes"] =
        json!([format!("/subscriptions/{sub}/resourceGroups/arc-win")]);
    current["properties"]["parameters"]["sshEndpointEffect"] = json!({"value": "Disabled"});
    let url = format!(
        "{}{}?api-version=2023-04-01",
        azure.sim().base_url().trim_end_matches('/'),
        assignment
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    current["properties"]
        .as_object_mut()
        .unwrap()
        .remove("scope");
    let body = json!({"location": current["location"], "identity": {"type": "SystemAssigned"}, "properties": current["properties"]});
    let status = azure.rt.block_on(async {
        http.put(url)
            .bearer_auth(&azure.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert!(status == 200 || status == 201, "{status}");
    let plan = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--login",
        "entra",
        "--dry-run",
    ]);
    assert_eq!(plan.status, 2, "{plan:?}");
    let said = plan.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("has notScopes that arcfix does not set: the update removes it"),
        "{plan:?}"
    );
    // Applied: both undone for real, and a run after it changes nothing.
    let fixed = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--login",
        "entra",
        "--yes",
    ]);
    assert_eq!(fixed.status, 0, "{fixed:?}");
    let now = azure.sim().state_json()["policy"]["policyAssignments"][0].clone();
    assert!(
        now["properties"]["notScopes"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{now:#}"
    );
    assert_eq!(
        now["properties"]["parameters"]["sshEndpointEffect"]["value"], "DeployIfNotExists",
        "{now:#}"
    );
    let before = azure.writes().len();
    let quiet = azure.run(&[
        "policy",
        "apply",
        "--subscription",
        &sub,
        "--login",
        "entra",
        "--yes",
    ]);
    assert_eq!(quiet.status, 0, "{quiet:?}");
    assert_eq!(azure.writes().len(), before, "{:#?}", azure.writes());
}

#[test]
fn a_policy_changed_by_this_run_is_remediated_anew() {
    let azure = Azure::builtin("policy");
    let first = install(&azure, &["--yes"]);
    assert_eq!(first.status, 0, "{first:?}");
    settled_status(&azure);
    // Another port changes the definitions and the assignment: what was
    // evaluated and remediated for port 22 says nothing about 2222.
    let before = azure.writes().len();
    let moved = install(&azure, &["--yes", "--port", "2222"]);
    assert_eq!(moved.status, 0, "{moved:?}");
    let writes: Vec<String> = azure.writes()[before..].to_vec();
    let remediations = writes
        .iter()
        .filter(|w| w.contains("/remediations/"))
        .count();
    assert_eq!(remediations, 3, "{writes:#?}");
    assert!(
        writes
            .iter()
            .any(|w| w.contains("/policyDefinitions/arcfix-ssh-service-configuration")),
        "{writes:#?}"
    );
}

#[test]
fn a_definition_azure_has_not_evaluated_is_unknown_never_compliant() {
    // Azure evaluates a new assignment later; a remediation that
    // re-evaluates compliance evaluates its own definition only.
    let azure = Azure::edited("policy", |v| v["policy_evaluation_pending"] = json!(true));
    let out = install(&azure, &["--yes"]);
    assert_eq!(out.status, 0, "{out:?}");
    let doc = settled_status(&azure);
    assert_eq!(doc["verdict"], "not-evaluated", "{doc:#}");
    let unknown: Vec<&str> = doc["not_evaluated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        unknown,
        ["arcfix-agent-ssh-port", "arcfix-agent-entra-extension"],
        "{doc:#}"
    );
    let text = status(&azure, &[]);
    assert_eq!(text.status, 1, "{text:?}");
    let said = text.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("? arcfix-agent-ssh-port: not evaluated yet"),
        "{text:?}"
    );
    assert!(
        said.contains(
            "compliance is not known yet: nothing has been evaluated for arcfix-agent-ssh-port, arcfix-agent-entra-extension"
        ),
        "{text:?}"
    );
    // The definitions evaluated are said to be, and nothing more.
    assert!(
        said.contains("✓ arcfix-ssh-endpoint: 7 compliant"),
        "{text:?}"
    );
    assert!(
        !said.contains("every evaluated machine is compliant"),
        "{text:?}"
    );
}

#[test]
fn non_compliant_machines_are_read_across_pages() {
    // DoNotEnforce: nothing deployed, several machines stay non-compliant.
    let whole = Azure::builtin("policy");
    let paged = Azure::edited("policy", |v| v["page_size"] = json!(1));
    let mut found = Vec::new();
    for azure in [&whole, &paged] {
        let out = install(azure, &["--yes", "--enforcement", "DoNotEnforce"]);
        assert_eq!(out.status, 0, "{out:?}");
        let doc = status(azure, &["-o", "json"]).json();
        found.push(doc["non_compliant"].clone());
    }
    assert!(found[0].as_array().unwrap().len() > 2, "{:#}", found[0]);
    assert_eq!(found[0], found[1]);
    // The second read followed a link per page.
    let pages = paged
        .sim()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/policyStates/latest/queryResults"))
        .count();
    assert!(pages > 2, "{pages}");
}
