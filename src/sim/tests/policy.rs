//! Azure Policy's resources in the simulator: definitions, sets and
//! assignments written with the official examples' request bodies (tests/data/arm,
//! `Microsoft.Authorization` 2023-04-01) and answered in their responses' shape.

use serde_json::{Value, json};

use crate::sim::Scenario;
use crate::sim::tests::{SUB, T};

const POLICY: &str = "api-version=2023-04-01";
const EXAMPLE_SUB: &str = "ae640e6b-ba3e-4256-9d62-2993eecfa6f2";

/// An official example, with its subscription made the scenario's.
fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/arm/authorization/2023-04-01/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text.replace(EXAMPLE_SUB, SUB)).unwrap()
}

fn at(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/{kind}/{name}?{POLICY}")
}

/// The healthy scenario with its caller Owner of the subscription (policy
/// definitions live there).
async fn owner() -> T {
    let text = std::fs::read_to_string(format!(
        "{}/src/sim/scenarios/healthy.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["role_assignments"][0]["role"], "Owner");
    v["role_assignments"][0]["scope"] = json!(format!("/subscriptions/{SUB}"));
    T::start(Scenario::from_json(&v.to_string()).unwrap()).await
}

/// A definition with the smallest valid rule.
fn minimal_definition() -> Value {
    json!({"properties": {"mode": "All", "policyRule": {"if": {"field": "type", "equals": "x"}, "then": {"effect": "audit"}}}})
}

/// The smallest valid definition declaring the parameters `names` (each
/// required: no default), whose rule reads them.
fn declaring(names: &[&str]) -> Value {
    let mut d = minimal_definition();
    for n in names {
        d["properties"]["parameters"][*n] = json!({"type": "String"});
    }
    d["properties"]["policyRule"]["if"] = json!({"allOf": names
        .iter()
        .map(|n| json!({"value": format!("[parameters('{n}')]"), "exists": true}))
        .collect::<Vec<_>>()});
    d
}

#[tokio::test]
async fn a_definition_is_stored_and_answered_as_the_official_example() {
    let t = owner().await;
    let ex = example("createOrUpdatePolicyDefinition.json");
    let url = at("policyDefinitions", "ResourceNaming");
    let r = t.put(&url, ex["parameters"]["parameters"].clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let want = &ex["responses"]["201"]["body"];
    for key in ["id", "type", "name"] {
        assert_eq!(r.body[key], want[key], "{key}");
    }
    // What was sent, with the type the service fills in.
    let mut sent = ex["parameters"]["parameters"]["properties"].clone();
    sent["policyType"] = json!("Custom");
    assert_eq!(r.body["properties"], sent);
    assert_eq!(t.get(&url).await.body, r.body);
    // A second PUT replaces it, and still answers 201 (the only code the spec has).
    let r = t.put(&url, minimal_definition()).await;
    assert_eq!(r.status, 201);
    assert_eq!(t.get(&url).await.body["properties"]["mode"], "All");
    assert_eq!(t.delete(&url).await.status, 200);
    let gone = t.get(&url).await;
    assert_eq!(
        (gone.status, gone.code()),
        (404, "PolicyDefinitionNotFound")
    );
    assert_eq!(t.delete(&url).await.status, 204);
    // Without a rule it is refused, and nothing is stored.
    let r = t.put(&url, json!({"properties": {"mode": "All"}})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPolicyRule"));
    assert_eq!(t.get(&url).await.status, 404);
}

#[tokio::test]
async fn a_set_needs_its_definitions_first() {
    let t = owner().await;
    let ex = example("createOrUpdatePolicySetDefinition.json");
    let url = at("policySetDefinitions", "CostManagement");
    let body = ex["parameters"]["parameters"].clone();
    let r = t.put(&url, body.clone()).await;
    assert_eq!((r.status, r.code()), (404, "PolicyDefinitionNotFound"));
    for (name, params) in [
        (
            "7433c107-6db4-4ad1-b57a-a76dce0154a1",
            &["listOfAllowedSKUs"][..],
        ),
        ("ResourceNaming", &["prefix", "suffix"][..]),
    ] {
        let r = t
            .put(&at("policyDefinitions", name), declaring(params))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = t.put(&url, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let want = &ex["responses"]["201"]["body"];
    for key in ["id", "type", "name"] {
        assert_eq!(r.body[key], want[key], "{key}");
    }
    assert_eq!(
        r.body["properties"]["policyDefinitions"],
        want["properties"]["policyDefinitions"]
    );
    // An update answers 200, as the spec's second code says.
    assert_eq!(t.put(&url, body).await.status, 200);
    assert_eq!(t.delete(&url).await.status, 200);
    assert_eq!(t.delete(&url).await.status, 204);
}

#[tokio::test]
async fn an_assignment_gets_a_system_assigned_identity_that_it_keeps() {
    let t = owner().await;
    assert_eq!(
        t.put(
            &at("policyDefinitions", "ResourceNaming"),
            declaring(&["prefix", "suffix"])
        )
        .await
        .status,
        201
    );
    let ex = example("createPolicyAssignmentWithIdentity.json");
    let url = at("policyAssignments", "EnforceNaming");
    let body = ex["parameters"]["parameters"].clone();
    let r = t.put(&url, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let want = &ex["responses"]["201"]["body"];
    for key in ["id", "type", "name", "location"] {
        assert_eq!(r.body[key], want[key], "{key}");
    }
    assert_eq!(r.body["properties"]["scope"], want["properties"]["scope"]);
    assert_eq!(r.body["identity"]["type"], "SystemAssigned");
    assert_eq!(r.body["identity"]["tenantId"], t.sim.state_json()["tenant"]);
    let principal = r.body["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(crate::sim::rbac::is_guid(&principal), "{principal}");
    // The identity is a service principal that roles can be given to.
    let role = t
        .put(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                crate::sim::world::new_guid()
            ),
            json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"),
                "principalId": principal,
                "principalType": "ServicePrincipal"
            }}),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.body);
    // Replaced, it keeps its identity.
    let again = t.put(&url, body.clone()).await;
    assert_eq!(again.body["identity"]["principalId"], principal.as_str());
    assert_eq!(t.get(&url).await.body, again.body);
    // Deleted, ARM answers with what was deleted; then there is nothing.
    let gone = t.delete(&url).await;
    assert_eq!((gone.status, &gone.body), (200, &again.body));
    assert_eq!(t.delete(&url).await.status, 204);
    let r = t.get(&url).await;
    assert_eq!((r.status, r.code()), (404, "PolicyAssignmentNotFound"));
    // An identity needs a location.
    let mut nowhere = body.clone();
    nowhere.as_object_mut().unwrap().remove("location");
    let r = t.put(&url, nowhere).await;
    assert_eq!((r.status, r.code()), (400, "LocationRequired"));
    // What it assigns must exist.
    let mut dangling = body;
    dangling["properties"]["policyDefinitionId"] = json!(format!(
        "/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/nope"
    ));
    let r = t.put(&url, dangling).await;
    assert_eq!((r.status, r.code()), (404, "PolicyDefinitionNotFound"));
}

#[tokio::test]
async fn assignments_go_to_resource_groups_and_definitions_do_not() {
    let t = owner().await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups/arc-demo");
    let r = t
        .put(
            &format!("{rg}/providers/Microsoft.Authorization/policyDefinitions/d?{POLICY}"),
            minimal_definition(),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidScope"));
    t.put(&at("policyDefinitions", "d"), minimal_definition())
        .await;
    let r = t
        .put(
            &format!("{rg}/providers/Microsoft.Authorization/policyAssignments/a?{POLICY}"),
            json!({"properties": {"policyDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/d")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["properties"]["scope"], rg);
    assert_eq!(r.body["properties"]["enforcementMode"], "Default");
    assert!(r.body.get("identity").is_none());
}

#[tokio::test]
async fn a_contributor_may_read_policy_but_not_write_it() {
    // Contributor of the subscription: `Microsoft.Authorization/*/Write` is in its notActions.
    let t = T::builtin("demo").await;
    let r = t
        .put(&at("policyDefinitions", "d"), minimal_definition())
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(
        r.message()
            .contains("'Microsoft.Authorization/policyDefinitions/write'"),
        "{}",
        r.message()
    );
    let r = t.get(&at("policyDefinitions", "d")).await;
    assert_eq!((r.status, r.code()), (404, "PolicyDefinitionNotFound"));
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/d?api-version=2022-04-01"
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
}
