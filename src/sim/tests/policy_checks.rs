//! What the simulator's Azure Policy refuses, as Azure refuses it: rules it
//! cannot read (never taken for "compliant"), parameters a definition does
//! not declare or allow, assignments that need an identity, templates it
//! cannot deploy faithfully; evaluation held back until triggered; hostile
//! paging tokens.

use serde_json::{Value, json};

use crate::sim::Scenario;
use crate::sim::tests::{COMPUTE, SUB, T};

const POLICY: &str = "api-version=2023-04-01";
const STATES: &str = "api-version=2019-10-01";
const REMEDIATIONS: &str = "api-version=2021-10-01";

fn sub() -> String {
    format!("/subscriptions/{SUB}")
}

fn def_url(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyDefinitions/{name}?{POLICY}",
        sub()
    )
}

fn def_id(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyDefinitions/{name}",
        sub()
    )
}

fn assignment_url(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/{name}?{POLICY}",
        sub()
    )
}

/// A definition whose `if` is `cond` and whose `then` is `then`, declaring `params`.
fn definition(params: Value, cond: Value, then: Value) -> Value {
    json!({"properties": {"mode": "Indexed", "parameters": params,
        "policyRule": {"if": cond, "then": then}}})
}

fn audit(cond: Value) -> Value {
    definition(json!({}), cond, json!({"effect": "Audit"}))
}

async fn put_code(t: &T, url: &str, body: Value) -> (u16, String) {
    let r = t.put(url, body).await;
    (r.status, r.code().to_string())
}

#[tokio::test]
async fn definitions_azure_would_refuse_are_refused_when_written() {
    let t = T::builtin("policy").await;
    let f = |field: &str, op: &str, v: Value| json!({"field": field, op: v});
    let deep = format!("[{}'x'{}]", "concat(".repeat(20_000), ")".repeat(20_000));
    let cases = [
        // A misspelt alias, and HybridConnectivity's (it has none).
        (
            audit(f(
                "Microsoft.HybridCompute/machines/osNme",
                "equals",
                json!("linux"),
            )),
            "InvalidPolicyAlias",
        ),
        (
            audit(f(
                "Microsoft.HybridConnectivity/endpoints/type",
                "equals",
                json!("default"),
            )),
            "InvalidPolicyAlias",
        ),
        (
            audit(
                json!({"value": "[field('Microsoft.HybridCompute/machines/nothing')]", "equals": "x"}),
            ),
            "InvalidPolicyAlias",
        ),
        (
            audit(
                json!({"count": {"field": "Microsoft.HybridCompute/machines/ports[*]"}, "equals": 0}),
            ),
            "InvalidPolicyAlias",
        ),
        (audit(f("name", "equalz", json!("x"))), "InvalidPolicyRule"),
        (
            audit(json!({"field": "name", "equals": "x", "notEquals": "y"})),
            "InvalidPolicyRule",
        ),
        (
            audit(f("name", "match", json!("web-##"))),
            "InvalidPolicyRule",
        ),
        (audit(f("name", "like", json!("w*b*"))), "InvalidPolicyRule"),
        (
            audit(json!({"value": "[resourceGroup().name]", "equals": "x"})),
            "InvalidPolicyRule",
        ),
        (
            audit(json!({"value": "[concat('a']", "equals": "x"})),
            "InvalidPolicyRule",
        ),
        // Hostile nesting: refused, not a crashed simulator.
        (
            audit(json!({"value": deep, "equals": "x"})),
            "InvalidPolicyRule",
        ),
        (
            audit(json!({"value": "[parameters('nope')]", "equals": "x"})),
            "InvalidPolicyParameters",
        ),
        (
            definition(
                json!({}),
                f("type", "equals", json!("Microsoft.HybridCompute/machines")),
                json!({"effect": "[parameters('effect')]"}),
            ),
            "InvalidPolicyParameters",
        ),
        (
            definition(
                json!({}),
                f("type", "equals", json!("Microsoft.HybridCompute/machines")),
                json!({"effect": "AuditIfNotExists", "details": {
                    "type": "Microsoft.HybridCompute/machines/extensions",
                    "name": "[field('Microsoft.HybridCompute/machines/nothing')]"}}),
            ),
            "InvalidPolicyAlias",
        ),
        (
            definition(
                json!({}),
                f("type", "equals", json!("Microsoft.HybridCompute/machines")),
                json!({"effect": "AuditIfNotExists", "details": {
                    "type": "Microsoft.HybridCompute/machines/extensions",
                    "existenceCondition": f("Microsoft.HybridCompute/machines/extensions/kind2", "equals", json!("x"))}}),
            ),
            "InvalidPolicyAlias",
        ),
        (
            definition(
                json!({}),
                f("name", "equals", json!("x")),
                json!({"effect": "Append"}),
            ),
            "InvalidPolicyRule",
        ),
    ];
    for (i, (body, code)) in cases.into_iter().enumerate() {
        let r = t.put(&def_url(&format!("d{i}")), body).await;
        assert_eq!((r.status, r.code()), (400, code), "case {i}: {}", r.body);
    }
    // A default outside its own allowed values.
    let r = t
        .put(
            &def_url("mismatch"),
            definition(
                json!({"effect": {"type": "String", "allowedValues": ["Audit", "Disabled"], "defaultValue": "Deny"}}),
                json!({"field": "name", "equals": "x"}),
                json!({"effect": "[parameters('effect')]"}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PolicyParameterAllowedAndDefaultValuesMismatch")
    );
    // Nothing refused was stored.
    let r = t.get(&def_url("d0")).await;
    assert_eq!(r.status, 404);
    // What the rules above get wrong, right: accepted.
    for (i, body) in [
        audit(f("Microsoft.HybridCompute/machines/osName", "equals", json!("linux"))),
        audit(f("tags['env']", "like", json!("prod*"))),
        audit(json!({"value": "[field('fullName')]", "like": "web-*"})),
        audit(json!({"count": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*]",
            "where": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].type", "equals": "x"}}, "equals": 0})),
    ]
    .into_iter()
    .enumerate()
    {
        let r = t.put(&def_url(&format!("ok{i}")), body).await;
        assert_eq!(r.status, 201, "ok{i}: {}", r.body);
    }
}

/// A DeployIfNotExists definition whose effect is the parameter `effect`
/// (allowed: DeployIfNotExists, AuditIfNotExists, Disabled) and which
/// needs the parameter `port` (no default).
fn dine_with_port() -> Value {
    definition(
        json!({
            "effect": {"type": "String", "allowedValues": ["DeployIfNotExists", "AuditIfNotExists", "Disabled"],
                       "defaultValue": "DeployIfNotExists"},
            "port": {"type": "Integer"}
        }),
        json!({"field": "type", "equals": "Microsoft.HybridCompute/machines"}),
        json!({"effect": "[parameters('effect')]", "details": {
            "type": "Microsoft.HybridConnectivity/endpoints",
            "name": "default",
            "roleDefinitionIds": ["/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"],
            "deployment": {"properties": {"mode": "Incremental",
                "parameters": {"port": {"value": "[parameters('port')]"}},
                "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0", "parameters": {"port": {"type": "int"}}, "resources": []}}}}}),
    )
}

#[tokio::test]
async fn parameters_and_identities_are_checked_as_azure_checks_them() {
    let t = T::builtin("policy").await;
    assert_eq!(t.put(&def_url("dine"), dine_with_port()).await.status, 201);
    let set_url = format!(
        "{}/providers/Microsoft.Authorization/policySetDefinitions/s?{POLICY}",
        sub()
    );
    let set = |params: Value| {
        json!({"properties": {"parameters": {"p": {"type": "Integer", "defaultValue": 22}},
            "policyDefinitions": [{"policyDefinitionId": def_id("dine"), "parameters": params}]}})
    };
    // A reference passing what the definition does not declare, or
    // omitting what it requires, or reading what the set does not declare.
    assert_eq!(
        put_code(
            &t,
            &set_url,
            set(json!({"port": {"value": 22}, "nope": {"value": 1}}))
        )
        .await,
        (400, "UndefinedPolicyParameter".into())
    );
    assert_eq!(
        put_code(&t, &set_url, set(json!({}))).await,
        (400, "MissingPolicyParameter".into())
    );
    assert_eq!(
        put_code(
            &t,
            &set_url,
            set(json!({"port": {"value": "[parameters('q')]"}}))
        )
        .await,
        (400, "InvalidPolicyParameters".into())
    );
    assert_eq!(
        put_code(
            &t,
            &set_url,
            set(json!({"port": {"value": "[parameters('p')]"}}))
        )
        .await,
        (201, "".into())
    );
    let assign = |params: Value, identity: bool| {
        let mut a =
            json!({"properties": {"policyDefinitionId": def_id("dine"), "parameters": params}});
        if identity {
            a["location"] = json!("eastus");
            a["identity"] = json!({"type": "systemAssigned"});
        }
        a
    };
    let url = assignment_url("a");
    // A value outside allowedValues (compared exactly, as Azure does).
    assert_eq!(
        put_code(
            &t,
            &url,
            assign(
                json!({"port": {"value": 22}, "effect": {"value": "Deny"}}),
                true
            )
        )
        .await,
        (400, "PolicyParameterValueNotAllowed".into())
    );
    assert_eq!(
        put_code(
            &t,
            &url,
            assign(
                json!({"port": {"value": 22}, "effect": {"value": "auditIfNotExists"}}),
                true
            )
        )
        .await,
        (400, "PolicyParameterValueNotAllowed".into())
    );
    assert_eq!(
        put_code(&t, &url, assign(json!({}), true)).await,
        (400, "MissingPolicyParameter".into())
    );
    assert_eq!(
        put_code(
            &t,
            &url,
            assign(json!({"port": {"value": 22}, "x": {"value": 1}}), true)
        )
        .await,
        (400, "UndefinedPolicyParameter".into())
    );
    // DeployIfNotExists without an identity (Azure/azure-cli#13150).
    let r = t
        .put(&url, assign(json!({"port": {"value": 22}}), false))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "ResourceIdentityRequired"),
        "{}",
        r.body
    );
    assert!(r.message().contains("'DeployIfNotExists'"), "{}", r.body);
    // ... also through a set.
    let r = t
        .put(
            &assignment_url("via-set"),
            json!({"properties": {"policyDefinitionId": format!(
                "{}/providers/Microsoft.Authorization/policySetDefinitions/s", sub())}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "ResourceIdentityRequired"),
        "{}",
        r.body
    );
    // Audit needs none; an identity type in other case is the same type.
    let r = t
        .put(
            &url,
            assign(
                json!({"port": {"value": 22}, "effect": {"value": "AuditIfNotExists"}}),
                false,
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut with = assign(json!({"port": {"value": 22}}), true);
    with["properties"]["enforcementMode"] = json!("doNotEnforce");
    let r = t.put(&assignment_url("b"), with).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["identity"]["type"], "SystemAssigned");
}

async fn query(t: &T) -> (u16, Value) {
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    (r.status, r.body)
}

async fn summarize(t: &T) -> (u16, Value) {
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    (r.status, r.body)
}

/// Assigns the definition `name` (written first) with `params`.
async fn assign(t: &T, name: &str, body: Value, params: Value) {
    let r = t.put(&def_url(name), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t
        .put(
            &assignment_url(name),
            json!({"properties": {"policyDefinitionId": def_id(name), "parameters": params}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn a_rule_that_cannot_be_evaluated_is_never_compliant() {
    // A like pattern given by a parameter with two wildcards.
    let t = T::builtin("policy").await;
    assign(
        &t,
        "pattern",
        definition(
            json!({"pattern": {"type": "String"}}),
            json!({"field": "name", "like": "[parameters('pattern')]"}),
            json!({"effect": "Audit"}),
        ),
        json!({"pattern": {"value": "w*b*"}}),
    )
    .await;
    for (status, body) in [query(&t).await, summarize(&t).await] {
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["error"]["code"], "PolicyEvaluationFailed");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("more than one '*'"),
            "{body}"
        );
    }
    // A details.name that is not a name: it never widens to "any name".
    let t = T::builtin("policy").await;
    assign(
        &t,
        "named",
        definition(
            json!({"names": {"type": "Array"}}),
            json!({"field": "type", "equals": "Microsoft.HybridCompute/machines"}),
            json!({"effect": "AuditIfNotExists", "details": {
                "type": "Microsoft.HybridCompute/machines/extensions",
                "name": "[parameters('names')]"}}),
        ),
        json!({"names": {"value": ["AADSSHLoginForLinux"]}}),
    )
    .await;
    let (status, body) = query(&t).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("details.name"),
        "{body}"
    );
}

#[tokio::test]
async fn field_in_an_existence_condition_reads_the_machine_the_if_matched() {
    let t = T::builtin("policy").await;
    // Compliant only where the machine (not its extension) is web-01 or
    // app-01, and the extension (the condition's own field) is the Entra one.
    assign(
        &t,
        "exist",
        definition(
            json!({}),
            json!({"field": "type", "equals": "Microsoft.HybridCompute/machines"}),
            json!({"effect": "AuditIfNotExists", "details": {
                "type": "Microsoft.HybridCompute/machines/extensions",
                "name": "[concat(field('fullName'), '/AADSSHLoginForLinux')]",
                "existenceCondition": {"allOf": [
                    {"value": "[field('name')]", "in": ["web-01", "app-01"]},
                    {"field": "Microsoft.HybridCompute/machines/extensions/type", "equals": "AADSSHLoginForLinux"}
                ]}}}),
        ),
        json!({}),
    )
    .await;
    let (status, body) = query(&t).await;
    assert_eq!(status, 200, "{body}");
    let mut compliant: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["complianceState"] == "Compliant")
        .map(|s| {
            s["resourceId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
        })
        .collect();
    compliant.sort();
    assert_eq!(compliant, ["app-01", "web-01"], "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn with_evaluation_pending_states_wait_for_a_trigger() {
    let mut v = serde_json::to_value(Scenario::builtin("policy").unwrap()).unwrap();
    v["policy_evaluation_pending"] = json!(true);
    let t = T::start(Scenario::from_json(&v.to_string()).unwrap()).await;
    assign(
        &t,
        "linux",
        audit(json!({"field": "Microsoft.HybridCompute/machines/osName", "equals": "linux"})),
        json!({}),
    )
    .await;
    let (status, body) = query(&t).await;
    assert_eq!((status, body["value"].as_array().unwrap().len()), (200, 0));
    let (_, s) = summarize(&t).await;
    assert_eq!(s["value"][0]["policyAssignments"], json!([]), "{s}");
    // A trigger at one resource group: 202 and a Location; states come
    // when the scan is done (its Location answers 200), for that group only.
    let r = t
        .post(
            &format!(
                "{}/resourceGroups/arc-win/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let location = r.header("location").unwrap().to_string();
    assert!(location.contains(
        "/resourceGroups/arc-win/providers/Microsoft.PolicyInsights/asyncOperationResults/"
    ));
    assert_eq!(query(&t).await.1["value"].as_array().unwrap().len(), 0);
    let path = location.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let r = t.get(path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, body) = query(&t).await;
    let states = body["value"].as_array().unwrap();
    assert_eq!(states.len(), 2, "{body}");
    assert!(states.iter().all(|s| s["resourceGroup"] == "arc-win"));
    // A remediation that re-evaluates compliance evaluates the policy it
    // remediates, at its scope; the set's other policy waits for a scan.
    let t = T::start(Scenario::from_json(&v.to_string()).unwrap()).await;
    for (name, body) in [
        ("dine", dine_with_port()),
        (
            "linux",
            audit(json!({"field": "Microsoft.HybridCompute/machines/osName", "equals": "linux"})),
        ),
    ] {
        let r = t.put(&def_url(name), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/policySetDefinitions/pair?{POLICY}",
                sub()
            ),
            json!({"properties": {"policyDefinitions": [
                {"policyDefinitionId": def_id("dine"), "policyDefinitionReferenceId": "dine-ref",
                 "parameters": {"port": {"value": 22}}},
                {"policyDefinitionId": def_id("linux"), "policyDefinitionReferenceId": "linux-ref"}
            ]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t
        .put(
            &assignment_url("pair"),
            json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
                "properties": {"policyDefinitionId": format!(
                    "{}/providers/Microsoft.Authorization/policySetDefinitions/pair", sub())}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(query(&t).await.1["value"].as_array().unwrap().len(), 0);
    let rem = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/r?{REMEDIATIONS}",
        sub()
    );
    // ARM reads enum values ignoring case.
    let r = t
        .put(
            &rem,
            json!({"properties": {"policyAssignmentId": r.body["id"], "policyDefinitionReferenceId": "dine-ref",
                "resourceDiscoveryMode": "reevaluatecompliance"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    t.get(&rem).await;
    let (_, body) = query(&t).await;
    let states = body["value"].as_array().unwrap();
    assert_eq!(states.len(), 7, "{body}");
    assert!(
        states
            .iter()
            .all(|s| s["policyDefinitionReferenceId"] == "dine-ref"),
        "{body}"
    );
}

/// Deploys `template` (with `params` for it) for web-02, which has no
/// endpoint, through a remediation; its final state and status message.
async fn deploy(template: Value, params: Value) -> (String, String, T) {
    let t = T::builtin("policy").await;
    let body = definition(
        json!({}),
        json!({"field": "name", "equals": "web-02"}),
        json!({"effect": "DeployIfNotExists", "details": {
            "type": "Microsoft.HybridConnectivity/endpoints/serviceConfigurations",
            "name": "default/SSH",
            "roleDefinitionIds": ["/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"],
            "deployment": {"properties": {"mode": "Incremental", "parameters": params, "template": template}}}}),
    );
    let r = t.put(&def_url("tpl"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t
        .put(
            &assignment_url("tpl"),
            json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
                "properties": {"policyDefinitionId": def_id("tpl")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let principal = r.body["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                sub(),
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sub()),
                "principalId": principal, "principalType": "ServicePrincipal"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rem = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/tpl?{REMEDIATIONS}",
        sub()
    );
    let r = t
        .put(
            &rem,
            json!({"properties": {"policyAssignmentId": format!("{}/providers/Microsoft.Authorization/policyAssignments/tpl", sub())}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    t.get(&rem).await;
    let end = t.get(&rem).await.body;
    let p = &end["properties"];
    (
        p["provisioningState"].as_str().unwrap().to_string(),
        p["statusMessage"].as_str().unwrap().to_string(),
        t,
    )
}

/// The endpoint and its SSH configuration, the configuration first, as
/// `dependsOn` (with ARM's resourceId functions) orders them.
fn endpoint_and_config() -> Value {
    let scope = "[concat('Microsoft.HybridCompute/machines/', parameters('machineName'))]";
    json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"machineName": {"type": "string"}, "port": {"type": "int", "defaultValue": 2222}},
    "resources": [
        {"type": "Microsoft.HybridConnectivity/endpoints/serviceConfigurations", "apiVersion": "2023-03-15",
         "name": "default/SSH", "scope": scope,
         "dependsOn": ["[extensionResourceId(resourceId('Microsoft.HybridCompute/machines', parameters('machineName')), 'Microsoft.HybridConnectivity/endpoints', 'default')]"],
         "properties": {"serviceName": "SSH", "port": "[parameters('port')]"}},
        {"type": "Microsoft.HybridConnectivity/endpoints", "apiVersion": "2023-03-15",
         "name": "default", "scope": scope, "properties": {"type": "default"}}
    ]})
}

#[tokio::test]
async fn templates_deploy_in_dependency_order_and_what_is_not_simulated_is_refused() {
    let name = json!({"machineName": {"value": "[field('name')]"}});
    let (state, message, t) = deploy(endpoint_and_config(), name.clone()).await;
    assert_eq!((state.as_str(), message.as_str()), ("Succeeded", ""));
    let r = t
        .get(&format!(
            "{}/resourceGroups/arc-prod/providers/Microsoft.HybridCompute/machines/web-02/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH?api-version=2023-03-15",
            sub()
        ))
        .await;
    assert_eq!(
        (r.status, &r.body["properties"]["port"]),
        (200, &json!(2222))
    );
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut t = endpoint_and_config();
        edit(&mut t);
        t
    };
    let cases: Vec<(Value, Value)> = vec![
        (
            edited(&|t| {
                t["resources"][0]["dependsOn"] =
                    json!(["Microsoft.HybridConnectivity/endpoints/other"])
            }),
            name.clone(),
        ),
        (edited(&|t| t["variables"] = json!({"v": 1})), name.clone()),
        (edited(&|t| t["outputs"] = json!({})), name.clone()),
        (
            edited(&|t| t["resources"][1]["condition"] = json!(true)),
            name.clone(),
        ),
        (
            edited(&|t| t["resources"][1]["copy"] = json!({"name": "c", "count": 2})),
            name.clone(),
        ),
        (
            edited(&|t| t["resources"][1]["resources"] = json!([])),
            name.clone(),
        ),
        (
            endpoint_and_config(),
            json!({"machineName": {"value": "[field('name')]"}, "port": {"value": "22"}}),
        ),
        (
            endpoint_and_config(),
            json!({"machineName": {"value": "[field('name')]"}, "extra": {"value": 1}}),
        ),
        (
            edited(&|t| {
                t["resources"][1]["dependsOn"] = json!([
                    "[extensionResourceId(resourceId('Microsoft.HybridCompute/machines', parameters('machineName')), 'Microsoft.HybridConnectivity/endpoints/serviceConfigurations', 'default', 'SSH')]"
                ])
            }),
            name.clone(),
        ),
    ];
    for (i, (template, params)) in cases.into_iter().enumerate() {
        let (state, message, _) = deploy(template, params).await;
        assert_eq!(state, "Failed", "case {i}");
        assert!(message.contains("InvalidTemplate"), "case {i}: {message}");
    }
}

#[tokio::test]
async fn a_huge_skip_token_is_an_empty_page_not_a_crash() {
    let t = T::builtin("policy").await;
    assign(
        &t,
        "linux",
        audit(json!({"field": "Microsoft.HybridCompute/machines/osName", "equals": "linux"})),
        json!({}),
    )
    .await;
    let huge = u64::MAX.to_string();
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}&$skiptoken={huge}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["value"].clone()),
        (200, json!([])),
        "{}",
        r.body
    );
    let r = t
        .get(&format!(
            "{}/providers/Microsoft.HybridCompute/machines?{COMPUTE}&$skiptoken={huge}",
            sub()
        ))
        .await;
    assert_eq!(
        (r.status, r.body["value"].clone()),
        (200, json!([])),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_remediation_never_takes_an_unreadable_rule_for_compliance() {
    // A DeployIfNotExists whose details.name is an array: not a name.
    let body = definition(
        json!({"names": {"type": "Array"}}),
        json!({"field": "type", "equals": "Microsoft.HybridCompute/machines"}),
        json!({"effect": "DeployIfNotExists", "details": {
            "type": "Microsoft.HybridConnectivity/endpoints",
            "name": "[parameters('names')]",
            "roleDefinitionIds": ["/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"],
            "deployment": {"properties": {"mode": "Incremental", "template": {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": []}}}}}),
    );
    let setup = |pending: bool| {
        let body = body.clone();
        async move {
            let mut v = serde_json::to_value(Scenario::builtin("policy").unwrap()).unwrap();
            v["policy_evaluation_pending"] = json!(pending);
            let t = T::start(Scenario::from_json(&v.to_string()).unwrap()).await;
            assert_eq!(t.put(&def_url("bad"), body).await.status, 201);
            let r = t
                .put(
                    &assignment_url("bad"),
                    json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
                        "properties": {"policyDefinitionId": def_id("bad"),
                            "parameters": {"names": {"value": ["default"]}}}}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            t
        }
    };
    let rem = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/r?{REMEDIATIONS}",
        sub()
    );
    let props = json!({"properties": {"policyAssignmentId": format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/bad", sub()),
        "resourceDiscoveryMode": "ReEvaluateCompliance"}});
    // Evaluated at once: the remediation cannot be created on a guess.
    let t = setup(false).await;
    let r = t.put(&rem, props.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (500, "PolicyEvaluationFailed"),
        "{}",
        r.body
    );
    // Evaluated by the remediation itself: it fails, saying why.
    let t = setup(true).await;
    let r = t.put(&rem, props).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t.get(&rem).await;
    let p = &r.body["properties"];
    assert_eq!(p["provisioningState"], "Failed", "{}", r.body);
    assert!(
        p["statusMessage"]
            .as_str()
            .unwrap()
            .contains("details.name"),
        "{}",
        r.body
    );
    assert_eq!(p["deploymentStatus"]["totalDeployments"], 0);
}
