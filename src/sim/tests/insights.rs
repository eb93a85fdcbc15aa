//! Azure Policy compliance and remediation in the simulator, through its
//! HTTP handler: arcfix's initiative (tests/data/policy/arcfix-initiative.json)
//! installed on the `policy` scenario, its states summarized and queried,
//! and its DeployIfNotExists policies remediated by the assignment's identity.

use serde_json::{Value, json};

use crate::sim::Scenario;
use crate::sim::tests::{SUB, T};

const POLICY: &str = "api-version=2023-04-01";
const STATES: &str = "api-version=2019-10-01";
const REMEDIATIONS: &str = "api-version=2021-10-01";

fn sub() -> String {
    format!("/subscriptions/{SUB}")
}

fn assignment_id() -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/arcfix-ssh",
        sub()
    )
}

fn filter(f: &str) -> String {
    url::form_urlencoded::byte_serialize(f.as_bytes()).collect()
}

/// Definitions, set and assignment (with its identity) as arcfix installs
/// them; the identity's principal id.
async fn install(t: &T) -> String {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../tests/data/policy/arcfix-initiative.json"
    ))
    .unwrap();
    for d in doc["definitions"].as_array().unwrap() {
        let url = format!(
            "{}/providers/Microsoft.Authorization/policyDefinitions/{}?{POLICY}",
            sub(),
            d["name"].as_str().unwrap()
        );
        let r = t.put(&url, json!({"properties": d["properties"]})).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let set = doc["set"]["properties"]
        .to_string()
        .replace("{subscriptionId}", SUB);
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh?{POLICY}",
                sub()
            ),
            json!({"properties": serde_json::from_str::<Value>(&set).unwrap()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = t
        .put(
            &format!("{}?{POLICY}", assignment_id()),
            json!({
                "location": "eastus",
                "identity": {"type": "SystemAssigned"},
                "properties": {"policyDefinitionId": format!(
                    "{}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh", sub())}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn summarize(t: &T) -> Value {
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?{STATES}&$filter={}",
                sub(),
                filter(&format!("policyAssignmentId eq '{}'", assignment_id()))
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The machine names of the non-compliant records, per reference id.
async fn non_compliant(t: &T) -> Vec<(String, String)> {
    let mut url = format!(
        "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}&$top=1000&$filter={}",
        sub(),
        filter(&format!(
            "policyAssignmentId eq '{}' and complianceState eq 'NonCompliant'",
            assignment_id().to_uppercase()
        ))
    );
    let mut out = Vec::new();
    loop {
        let r = t.post(&url, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for s in r.body["value"].as_array().unwrap() {
            assert_eq!(s["complianceState"], "NonCompliant");
            assert_eq!(s["isCompliant"], false);
            let machine = s["resourceId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            out.push((
                s["policyDefinitionReferenceId"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                machine.to_string(),
            ));
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                url = next
                    .trim_start_matches(&t.sim.base_url().trim_end_matches('/').to_string())
                    .to_string()
            }
            None => break,
        }
    }
    out.sort();
    out
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

fn remediation_url(name: &str) -> String {
    format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/{name}?{REMEDIATIONS}",
        sub()
    )
}

/// Creates a remediation of one reference and reads it until it ends;
/// the stages seen and the final answer.
async fn remediate(t: &T, name: &str, reference: &str) -> (Vec<String>, Value) {
    let r = t
        .put(
            &remediation_url(name),
            json!({"properties": {"policyAssignmentId": assignment_id(), "policyDefinitionReferenceId": reference}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut stages = vec![
        r.body["properties"]["provisioningState"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    let mut last = r.body;
    for _ in 0..5 {
        let r = t.get(&remediation_url(name)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let stage = r.body["properties"]["provisioningState"]
            .as_str()
            .unwrap()
            .to_string();
        let done = stage == "Succeeded" || stage == "Failed";
        stages.push(stage);
        last = r.body;
        if done {
            break;
        }
    }
    (stages, last)
}

#[tokio::test]
async fn a_remediation_deploys_what_is_missing_once_the_identity_has_its_role() {
    let t = T::builtin("policy").await;
    let principal = install(&t).await;
    let s = summarize(&t).await;
    let results = &s["value"][0]["results"];
    assert_eq!(results["nonCompliantResources"], 5, "{s}");
    assert_eq!(
        results["resourceDetails"],
        json!([{"complianceState": "compliant", "count": 2}, {"complianceState": "noncompliant", "count": 5}])
    );
    let a = &s["value"][0]["policyAssignments"][0];
    assert_eq!(a["policyAssignmentId"], assignment_id());
    assert_eq!(a["policyDefinitions"].as_array().unwrap().len(), 5);
    assert_eq!(
        non_compliant(&t).await,
        pairs(&[
            ("arcfix-ssh-endpoint", "web-02"),
            ("arcfix-ssh-endpoint", "win-02"),
            ("arcfix-ssh-service-configuration", "web-02"),
            ("arcfix-ssh-service-configuration", "db-01"),
            ("arcfix-ssh-service-configuration", "win-02"),
            ("arcfix-agent-ssh-port", "app-01"),
            ("arcfix-entra-ssh-login-extension", "app-02"),
        ])
    );

    // Without a role, each deployment is refused and nothing is written.
    let (stages, end) = remediate(&t, "no-role", "arcfix-ssh-endpoint").await;
    assert_eq!(stages, ["Accepted", "Evaluating", "Failed"]);
    assert_eq!(
        end["properties"]["deploymentStatus"],
        json!({"totalDeployments": 2, "successfulDeployments": 0, "failedDeployments": 2})
    );
    let message = end["properties"]["statusMessage"].as_str().unwrap();
    assert!(message.contains("AuthorizationFailed"), "{message}");
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/remediations/no-role/listDeployments?{REMEDIATIONS}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let deployments = r.body["value"].as_array().unwrap();
    assert_eq!(deployments.len(), 2);
    for d in deployments {
        assert_eq!(d["status"], "Failed");
        assert_eq!(d["error"]["code"], "AuthorizationFailed");
        // The deployment itself is the first thing the identity may not do.
        assert!(
            d["error"]["message"]
                .as_str()
                .unwrap()
                .contains("'Microsoft.Resources/deployments/write'"),
            "{d}"
        );
    }
    assert_eq!(non_compliant(&t).await.len(), 7);

    // The identity is a service principal of the directory: Contributor is given to it.
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                sub(),
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sub()),
                "principalId": principal,
                "principalType": "ServicePrincipal"
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    for (name, reference, total) in [
        ("endpoints", "arcfix-ssh-endpoint", 2),
        ("ssh", "arcfix-ssh-service-configuration", 3),
        ("entra", "arcfix-entra-ssh-login-extension", 1),
    ] {
        let (stages, end) = remediate(&t, name, reference).await;
        assert_eq!(stages, ["Accepted", "Evaluating", "Succeeded"], "{end}");
        assert_eq!(
            end["properties"]["deploymentStatus"],
            json!({"totalDeployments": total, "successfulDeployments": total, "failedDeployments": 0}),
            "{end}"
        );
    }
    // What a PUT of each would have made.
    let machine = |rg: &str, m: &str| {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{m}",
            sub()
        )
    };
    for (rg, m) in [
        ("arc-prod", "web-02"),
        ("arc-prod", "db-01"),
        ("arc-win", "win-02"),
    ] {
        let r = t
            .get(&format!(
                "{}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH?api-version=2023-03-15",
                machine(rg, m)
            ))
            .await;
        assert_eq!(r.status, 200, "{m}: {}", r.body);
        assert_eq!(r.body["properties"]["port"], 22);
        assert_eq!(r.body["properties"]["serviceName"], "SSH");
        assert_eq!(r.body["systemData"]["createdByType"], "ServicePrincipal");
    }
    let r = t
        .get(&format!(
            "{}/extensions/AADSSHLoginForLinux?api-version=2025-01-13",
            machine("arc-prod", "app-02")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r.body["properties"]["publisher"],
        "Microsoft.Azure.ActiveDirectory"
    );
    assert_eq!(r.body["location"], "eastus");
    // Only the audit is left: the agent's ports are the server's to change.
    assert_eq!(
        non_compliant(&t).await,
        pairs(&[("arcfix-agent-ssh-port", "app-01")])
    );
    let s = summarize(&t).await;
    assert_eq!(s["value"][0]["results"]["nonCompliantResources"], 1);
    // Lists see them all, finished.
    let r = t
        .get(&format!(
            "{}/providers/Microsoft.PolicyInsights/remediations?{REMEDIATIONS}&$filter={}",
            sub(),
            filter("provisioningState eq 'Succeeded'")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn remediation_bodies_are_checked_as_arm_checks_them() {
    let t = T::builtin("policy").await;
    install(&t).await;
    let put = |name: &str, props: Value| {
        let url = remediation_url(name);
        let t = &t;
        async move { t.put(&url, json!({"properties": props})).await }
    };
    let a = assignment_id();
    let r = put("r", json!({"policyAssignmentId": a})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidCreateRemediationRequest")
    );
    assert!(
        r.message().contains("assigns a policy set definition. Remediations must specify a single policy definition reference ID"),
        "{}",
        r.message()
    );
    for (props, why) in [
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "nope"}),
            "is not in",
        ),
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-agent-ssh-port"}),
            "deployIfNotExists or modify",
        ),
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint", "resourceDiscoveryMode": "Everything"}),
            "discovery mode",
        ),
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint", "resourceCount": 0}),
            "resourceCount",
        ),
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint", "parallelDeployments": 31}),
            "parallelDeployments",
        ),
        (
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint", "failureThreshold": {"percentage": 1.5}}),
            "failure threshold",
        ),
        (
            json!({"policyDefinitionReferenceId": "arcfix-ssh-endpoint"}),
            "assignment ID must be provided",
        ),
    ] {
        let r = put("r", props.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidCreateRemediationRequest"),
            "{props}"
        );
        assert!(r.message().contains(why), "{why}: {}", r.message());
    }
    let r = put(
        "r",
        json!({"policyAssignmentId": format!("{a}-gone"), "policyDefinitionReferenceId": "x"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "PolicyAssignmentNotFound"));
    let r = t.put(&remediation_url("r"), json!({})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequestContent"));
    // Nothing was stored by the refusals.
    let r = t.get(&remediation_url("r")).await;
    assert_eq!((r.status, r.code()), (404, "RemediationNotFound"));
    // An active remediation cannot be replaced; a finished one can.
    let ok = json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint"});
    assert_eq!(put("r", ok.clone()).await.status, 201);
    let r = put("r", ok.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidUpdateRemediationRequest")
    );
    t.get(&remediation_url("r")).await;
    let end = t.get(&remediation_url("r")).await;
    assert_eq!(end.body["properties"]["provisioningState"], "Failed");
    assert_eq!(put("r", ok).await.status, 200);
    assert_eq!(t.delete(&remediation_url("r")).await.status, 200);
    assert_eq!(t.delete(&remediation_url("r")).await.status, 204);
    // A remediation scope outside the assignment's.
    let rg = format!(
        "{}/resourceGroups/arc-prod/providers/Microsoft.Authorization/policyAssignments/rg-only?{POLICY}",
        sub()
    );
    let r = t
        .put(&rg, json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
            "properties": {"policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/arcfix-ssh-endpoint", sub())}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = put("s", json!({"policyAssignmentId": r.body["id"]})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidCreateRemediationRequest")
    );
    assert!(
        r.message().contains("not within the scope"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn filters_outside_the_supported_ones_are_refused_and_pages_follow() {
    let mut v = serde_json::to_value(Scenario::builtin("policy").unwrap()).unwrap();
    v["page_size"] = json!(3);
    let t = T::start(Scenario::from_json(&v.to_string()).unwrap()).await;
    install(&t).await;
    // Seven records in pages of three.
    assert_eq!(non_compliant(&t).await.len(), 7);
    for bad in [
        "policyAssignmentId ne 'x'",
        "timestamp eq '2020-01-01'",
        "policyAssignmentId eq 'x' or complianceState eq 'NonCompliant'",
        "complianceState eq NonCompliant",
        "policyAssignmentId eq 'x",
    ] {
        let r = t
            .post(
                &format!(
                    "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}&$filter={}",
                    sub(),
                    filter(bad)
                ),
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidFilterExpression"),
            "{bad}"
        );
    }
    // A resource group sees its own machines only; isCompliant works too.
    let r = t
        .post(
            &format!(
                "{}/resourceGroups/arc-win/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}&$filter={}",
                sub(),
                filter("IsCompliant eq false and policyDefinitionReferenceId eq 'arcfix-ssh-endpoint'")
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resourceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(ids[0].ends_with("/machines/win-02"), "{ids:?}");
    let wrong = t
        .post(
            &format!("{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?api-version=2021-10-01", sub()),
            None,
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (400, "NoRegisteredProviderFound")
    );
}

#[tokio::test]
async fn a_reader_of_one_machine_may_neither_read_states_nor_remediate() {
    let t = T::builtin("reader").await;
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(
        r.message()
            .contains("Microsoft.PolicyInsights/policyStates/summarize/read"),
        "{}",
        r.message()
    );
    let r = t
        .put(
            &remediation_url("x"),
            json!({"properties": {"policyAssignmentId": assignment_id()}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(
        r.message()
            .contains("Microsoft.PolicyInsights/remediations/write"),
        "{}",
        r.message()
    );
    // A Contributor (through a group) reads states and policy but cannot assign it.
    let t = T::builtin("group-contributor").await;
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t
        .put(
            &format!("{}?{POLICY}", assignment_id()),
            json!({"properties": {"policyDefinitionId": "x"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
}

#[tokio::test]
async fn states_and_remediations_have_the_official_examples_shapes() {
    use crate::sim::tests::fixtures::assert_shape;
    let t = T::builtin("policy").await;
    install(&t).await;
    let dir = "policyinsights/2019-10-01";
    let r = t
        .post(
            &format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_shape(
        &format!("{dir}/PolicyStates_QuerySubscriptionScope.json"),
        "200",
        &r.body,
    );
    let r = t
        .post(
            &format!(
                "{}/resourceGroups/arc-prod/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?{STATES}",
                sub()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_shape(
        &format!("{dir}/PolicyStates_SummarizeResourceGroupScope.json"),
        "200",
        &r.body,
    );
    // arc-prod: web-01 compliant; web-02, db-01, app-01, app-02 not.
    assert_eq!(r.body["value"][0]["results"]["nonCompliantResources"], 4);
    let r = t
        .put(
            &remediation_url("shape"),
            json!({"properties": {
                "policyAssignmentId": assignment_id(),
                "policyDefinitionReferenceId": "arcfix-ssh-endpoint",
                "resourceDiscoveryMode": "ReEvaluateCompliance",
                "filters": {"locations": ["eastus", "westus2"]},
                "resourceCount": 42,
                "parallelDeployments": 6,
                "failureThreshold": {"percentage": 0.1}
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_shape(
        "policyinsights/2021-10-01/Remediations_CreateSubscriptionScope_AllProperties.json",
        "201",
        &r.body,
    );
    assert_eq!(r.body["properties"]["provisioningState"], "Accepted");
    assert_eq!(r.body["type"], "Microsoft.PolicyInsights/remediations");
}

/// Gives the assignment's identity Contributor on the subscription.
async fn grant(t: &T, principal: &str) {
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                sub(),
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sub()),
                "principalId": principal,
                "principalType": "ServicePrincipal"
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn start(t: &T, name: &str, props: Value) -> Value {
    let r = t
        .put(&remediation_url(name), json!({"properties": props}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn read(t: &T, name: &str) -> Value {
    let r = t.get(&remediation_url(name)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn discovery_mode_count_locations_and_threshold_decide_what_is_deployed() {
    let t = T::builtin("policy").await;
    let principal = install(&t).await;
    grant(&t, &principal).await;
    let a = assignment_id();
    let endpoint = |m: &str, rg: &str| {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{m}/providers/Microsoft.HybridConnectivity/endpoints/default?api-version=2023-03-15",
            sub()
        )
    };
    // Both kinds made while web-02 and win-02 lack the endpoint.
    let reference = "arcfix-ssh-endpoint";
    start(
        &t,
        "existing",
        json!({"policyAssignmentId": a, "policyDefinitionReferenceId": reference}),
    )
    .await;
    start(
        &t,
        "again",
        json!({"policyAssignmentId": a, "policyDefinitionReferenceId": reference, "resourceDiscoveryMode": "ReEvaluateCompliance"}),
    )
    .await;
    // Someone creates web-02's endpoint before either starts.
    let r = t
        .put(
            &endpoint("web-02", "arc-prod"),
            json!({"properties": {"type": "default"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ExistingNonCompliant keeps the states it was created with; the other re-evaluates.
    let existing = read(&t, "existing").await;
    assert_eq!(existing["properties"]["provisioningState"], "Evaluating");
    assert_eq!(
        existing["properties"]["deploymentStatus"]["totalDeployments"],
        2
    );
    let again = read(&t, "again").await;
    assert_eq!(
        again["properties"]["deploymentStatus"]["totalDeployments"],
        1
    );
    for name in ["existing", "again"] {
        let end = read(&t, name).await;
        assert_eq!(end["properties"]["provisioningState"], "Succeeded", "{end}");
    }

    // resourceCount and the location filter bound the machines.
    let reference = "arcfix-ssh-service-configuration";
    start(&t, "one", json!({"policyAssignmentId": a, "policyDefinitionReferenceId": reference, "resourceCount": 1})).await;
    assert_eq!(
        read(&t, "one").await["properties"]["deploymentStatus"]["totalDeployments"],
        1
    );
    read(&t, "one").await;
    start(
        &t,
        "west",
        json!({"policyAssignmentId": a, "policyDefinitionReferenceId": reference, "filters": {"locations": ["westus2"]}}),
    )
    .await;
    let west = read(&t, "west").await;
    assert_eq!(
        west["properties"]["deploymentStatus"]["totalDeployments"],
        1
    );
    let west = read(&t, "west").await;
    assert_eq!(west["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        non_compliant(&t).await,
        pairs(&[
            ("arcfix-ssh-service-configuration", "db-01"),
            ("arcfix-agent-ssh-port", "app-01"),
            ("arcfix-entra-ssh-login-extension", "app-02"),
        ])
    );
}

#[tokio::test]
async fn a_failure_threshold_lets_a_remediation_succeed_with_some_failures() {
    let t = T::builtin("policy").await;
    install(&t).await;
    let a = assignment_id();
    // No role: both deployments fail; half is allowed to, not all.
    for (name, pct, end) in [("lenient", 1.0, "Succeeded"), ("strict", 0.5, "Failed")] {
        start(
            &t,
            name,
            json!({"policyAssignmentId": a, "policyDefinitionReferenceId": "arcfix-ssh-endpoint", "failureThreshold": {"percentage": pct}}),
        )
        .await;
        read(&t, name).await;
        let r = read(&t, name).await;
        assert_eq!(r["properties"]["provisioningState"], end, "{name}");
        assert_eq!(r["properties"]["deploymentStatus"]["failedDeployments"], 2);
    }
}

#[tokio::test]
async fn not_scopes_leave_machines_without_state_and_queries_are_reads() {
    let t = T::builtin("policy").await;
    install(&t).await;
    let r = t
        .put(
            &format!("{}?{POLICY}", assignment_id()),
            json!({
                "location": "eastus",
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policySetDefinitions/arcfix-ssh", sub()),
                    "notScopes": [format!("{}/resourceGroups/arc-win", sub())]
                }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    t.sim.clear_log();
    let found = non_compliant(&t).await;
    assert!(
        found.iter().all(|(_, m)| !m.starts_with("win-")),
        "{found:?}"
    );
    assert_eq!(found.len(), 5);
    let s = summarize(&t).await;
    assert_eq!(
        s["value"][0]["results"]["resourceDetails"],
        json!([{"complianceState": "compliant", "count": 1}, {"complianceState": "noncompliant", "count": 4}])
    );
    assert!(t.sim.requests().iter().all(|l| !l.is_write()));
}

#[tokio::test]
async fn each_deployment_needs_the_rights_of_what_it_writes() {
    let t = T::builtin("policy").await;
    let principal = install(&t).await;
    // Only the role the extension's definition names.
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                sub(),
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/cd570a14-e51a-42ad-bac8-bafd67325302", sub()),
                "principalId": principal,
                "principalType": "ServicePrincipal"
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (stages, _) = remediate(&t, "entra", "arcfix-entra-ssh-login-extension").await;
    assert_eq!(stages, ["Accepted", "Evaluating", "Succeeded"]);
    // Azure Connected Machine Resource Administrator has no HybridConnectivity action.
    let (stages, end) = remediate(&t, "endpoints", "arcfix-ssh-endpoint").await;
    assert_eq!(stages, ["Accepted", "Evaluating", "Failed"]);
    let message = end["properties"]["statusMessage"].as_str().unwrap();
    assert!(
        message.contains("AuthorizationFailed")
            && message.contains("'Microsoft.HybridConnectivity/endpoints/write'"),
        "{message}"
    );
    // An unknown principal cannot be given a role.
    let r = t
        .put(
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                sub(),
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/36243c78-bf99-498c-9df9-86d9f8d28608", sub()),
                "principalId": crate::sim::world::new_guid(),
                "principalType": "ServicePrincipal"
            }}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "PrincipalNotFound"));
}
