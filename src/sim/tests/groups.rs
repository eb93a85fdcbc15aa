//! Rights held through groups (seen by `assignedTo()` and the permissions API,
//! not by `principalId eq`), the permissions API at subscription scope, and
//! relay credentials: needed right, 404 without an endpoint, never created,
//! and recorded for comparison with what a proxy receives.

use serde_json::{Value, json};

use crate::sim::tests::fixtures::{assert_shape, fixture};
use crate::sim::tests::{AUTHZ, HC, MACHINE, RESOURCES, SUB, T, endpoint};
use crate::sim::{Scenario, token};

const CALLER: &str = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";
const OPERATORS: &str = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const LIST_CREDENTIALS: &str = "Microsoft.HybridConnectivity/endpoints/listCredentials/action";

fn filter(f: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("$filter", f)
        .finish()
}

async fn assignments(t: &T, scope: &str, f: &str) -> Vec<Value> {
    let r = t
        .get(&format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments?{AUTHZ}&{}",
            filter(f)
        ))
        .await;
    assert_eq!(r.status, 200, "{f}: {:#}", r.body);
    r.body["value"].as_array().unwrap().clone()
}

async fn permissions(t: &T, scope: &str) -> (u16, Value) {
    let r = t
        .get(&format!(
            "{scope}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    (r.status, r.body)
}

fn contributor_block() -> Value {
    let c = fixture("../roles/contributor.json");
    c["permissions"][0].clone()
}

#[tokio::test]
async fn group_held_contributor_is_seen_by_assigned_to_and_permissions_not_by_principal_id() {
    let t = T::builtin("group-contributor").await;
    assert_eq!(t.sim.scenario().caller, CALLER);
    let sub = format!("/subscriptions/{SUB}");
    let rg = format!("{sub}/resourceGroups/arc-demo");

    // What the client reads today: nothing is assigned to the caller itself.
    assert!(
        assignments(&t, &sub, &format!("principalId eq '{CALLER}'"))
            .await
            .is_empty()
    );
    assert!(
        assignments(
            &t,
            &sub,
            &format!("atScope() and principalId eq '{CALLER}'")
        )
        .await
        .is_empty()
    );
    // assignedTo() sees the group's assignment, also from below the scope it was made at.
    for (scope, f) in [
        (sub.as_str(), format!("assignedTo('{CALLER}')")),
        (rg.as_str(), format!("assignedTo('{CALLER}')")),
        (MACHINE, format!("atScope() and assignedTo('{CALLER}')")),
    ] {
        let list = assignments(&t, scope, &f).await;
        assert_eq!(list.len(), 1, "{scope} {f}");
        let p = &list[0]["properties"];
        assert_eq!(p["principalId"], OPERATORS);
        assert_eq!(p["principalType"], "Group");
        assert_eq!(p["scope"], sub);
        assert!(
            p["roleDefinitionId"]
                .as_str()
                .unwrap()
                .ends_with(CONTRIBUTOR)
        );
    }
    // The group's own direct assignments.
    assert_eq!(
        assignments(&t, &sub, &format!("principalId eq '{OPERATORS}'"))
            .await
            .len(),
        1
    );

    // The permissions API counts the group's role, at subscription scope too.
    for scope in [sub.as_str(), rg.as_str(), MACHINE] {
        let (status, body) = permissions(&t, scope).await;
        assert_eq!(status, 200, "{scope}");
        assert_eq!(body["value"], json!([contributor_block()]), "{scope}");
    }
    let (_, body) = permissions(&t, &sub).await;
    assert_shape("authorization/2022-04-01/GetPermissions.json", "200", &body);

    // And so does enforcement: the caller may register the provider, but not assign roles.
    let register = format!("{sub}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}");
    assert_eq!(t.post(&register, None).await.status, 200);
    let r = t
        .put(
            &format!(
                "{MACHINE}/providers/Microsoft.Authorization/roleAssignments/3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d?{AUTHZ}"
            ),
            json!({"properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/602da2ba-a5c2-41da-b01d-5360126ab525"),
                "principalId": CALLER,
            }}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
}

#[tokio::test]
async fn rights_pass_through_nested_groups_declared_either_way() {
    let s = Scenario::builtin("group-contributor").unwrap();
    // The caller is now only in "Arc SSH Users", itself a member of "Arc Operators".
    let ssh_users = "8f9a0b1c-2d3e-4f4a-9b5c-6d7e8f9a0b1c";
    let mut v = serde_json::to_value(&s).unwrap();
    v["principals"]
        .as_array_mut()
        .unwrap()
        .push(json!({"oid": ssh_users, "principal_type": "Group", "memberOf": [OPERATORS]}));
    v["groups"] = json!({ ssh_users: [CALLER] });
    let s = Scenario::from_json(&v.to_string()).unwrap();
    let t = T::start(s).await;
    let sub = format!("/subscriptions/{SUB}");
    assert!(
        assignments(&t, &sub, &format!("principalId eq '{CALLER}'"))
            .await
            .is_empty()
    );
    let list = assignments(&t, &sub, &format!("assignedTo('{CALLER}')")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["properties"]["principalId"], OPERATORS);
    assert_eq!(
        permissions(&t, &sub).await.1["value"],
        json!([contributor_block()])
    );

    // Out of every group, nothing is left: not even reading assignments.
    let mut s = Scenario::builtin("group-contributor").unwrap();
    s.groups.clear();
    let t = T::start(s).await;
    let r = t
        .get(&format!(
            "{sub}/providers/Microsoft.Authorization/roleAssignments?{AUTHZ}&{}",
            filter(&format!("assignedTo('{CALLER}')"))
        ))
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert_eq!(permissions(&t, &sub).await, (200, json!({"value": []})));
    let register = format!("{sub}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}");
    assert_eq!(t.post(&register, None).await.status, 403);
}

#[test]
fn group_memberships_are_checked() {
    let base = serde_json::to_value(Scenario::builtin("group-contributor").unwrap()).unwrap();
    let err = |change: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        change(&mut v);
        Scenario::from_json(&v.to_string()).unwrap_err()
    };
    assert!(
        err(&|v| v["groups"] = json!({ CALLER: [OPERATORS] })).contains("is a User, not a Group")
    );
    assert!(
        err(&|v| v["groups"] = json!({ "11111111-2222-4333-8444-555555555555": [CALLER] }))
            .contains("is not one of the principals")
    );
    assert!(
        err(&|v| v["groups"] = json!({ OPERATORS: ["11111111-2222-4333-8444-555555555555"] }))
            .contains("member '11111111-2222-4333-8444-555555555555'")
    );
    assert!(err(&|v| v["groups"] = json!({ OPERATORS: [OPERATORS] })).contains("its own member"));
    assert!(err(&|v| v["principals"][0]["member_of"] = json!([CALLER])).contains("not a Group"));
}

fn credentials_url(expires: u32) -> String {
    format!("{}/listCredentials?expiresin={expires}&{HC}", endpoint())
}

/// Standard base64 with padding, as `az ssh arc` and Az.Ssh encode the relay info.
fn relay_info(relay: &Value) -> String {
    let url = token::base64url_encode(json!({ "relay": relay }).to_string().as_bytes());
    let mut std: String = url
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    std
}

#[tokio::test]
async fn list_credentials_answers_the_official_shape_and_is_recorded() {
    let t = T::builtin("healthy").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let r = t
        .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_shape(
        "hybridconnectivity/2023-03-15/EndpointsPostListCredentials.json",
        "200",
        &r.body,
    );
    let relay = &r.body["relay"];
    let mut keys: Vec<&str> = relay
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "accessKey",
            "expiresOn",
            "hybridConnectionName",
            "namespaceName",
            "namespaceNameSuffix",
            "serviceConfigurationToken"
        ]
    );
    assert_eq!(relay["namespaceName"], "azgnrelay-eastus-l1");
    assert_eq!(relay["namespaceNameSuffix"], "servicebus.windows.net");
    let key = relay["accessKey"].as_str().unwrap();
    let connection = relay["hybridConnectionName"].as_str().unwrap();
    assert!(connection.starts_with("microsoft.hybridcompute/machines/"));
    let sr: String = url::form_urlencoded::byte_serialize(
        format!("http://azgnrelay-eastus-l1.servicebus.windows.net/{connection}/").as_bytes(),
    )
    .collect();
    assert!(
        key.starts_with(&format!("SharedAccessSignature sr={sr}&sig=")),
        "{key}"
    );
    assert!((relay["expiresOn"].as_i64().unwrap() - now - 600).abs() < 60);

    let issued = t.sim.issued();
    assert_eq!(issued.len(), 1);
    let c = &issued[0];
    assert_eq!(&c.relay, relay);
    assert_eq!(c.access_key(), key);
    assert_eq!(c.endpoint, endpoint());
    assert_eq!(c.action, "listCredentials");
    assert_eq!(c.service_name.as_deref(), Some("SSH"));
    assert_eq!(c.caller, t.sim.scenario().caller);
    assert!(c.matches_relay_info(&relay_info(relay)));
    let mut other = relay.clone();
    other["accessKey"] = json!("SharedAccessSignature sr=x&sig=forged");
    assert!(!c.matches_relay_info(&relay_info(&other)));
    assert!(!c.matches_relay_info("not base64!"));

    // Each call hands out a new key.
    let again = t
        .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
        .await;
    let issued = t.sim.issued();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].relay, again.body["relay"]);
    assert_ne!(issued[1].access_key(), key);
}

#[tokio::test]
async fn list_credentials_needs_its_action_and_never_creates_the_endpoint() {
    // A Reader of the machine: refused with ARM's message, before the missing
    // endpoint is looked at; nothing issued, nothing created.
    let t = T::builtin("reader").await;
    let r = t
        .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert_eq!(
        r.message(),
        format!(
            "The client 'robin@contoso.example' with object id '1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e' does not have \
             authorization to perform action '{LIST_CREDENTIALS}' over scope '{}' or the scope is invalid. If access \
             was recently granted, please refresh your credentials.",
            endpoint()
        )
    );
    assert!(t.sim.issued().is_empty());

    // An Owner of a machine without an endpoint: 404, and still no endpoint.
    let mut s = Scenario::builtin("demo").unwrap();
    s.subscriptions[0]
        .providers
        .insert("Microsoft.HybridConnectivity".into(), "Registered".into());
    let t = T::start(s).await;
    for _ in 0..2 {
        let r = t
            .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
            .await;
        assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    }
    assert_eq!(t.get(&format!("{}?{HC}", endpoint())).await.status, 404);
    let state = t.sim.state_json();
    assert_eq!(
        state["subscriptions"][0]["resourceGroups"][0]["machines"][0]["endpoints"],
        json!([]),
        "{state:#}"
    );
    assert!(t.sim.requests().iter().all(|l| !l.is_write()));
    assert!(t.sim.issued().is_empty());
}

#[tokio::test]
async fn list_credentials_through_a_group_held_role() {
    let t = T::builtin("group-contributor").await;
    let r = t
        .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "MissingSubscriptionRegistration"),
        "the provider is not registered yet"
    );
    let register =
        format!("/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}");
    assert_eq!(t.post(&register, None).await.status, 200);
    // Registration completes after one poll.
    let provider =
        format!("/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity?{RESOURCES}");
    for _ in 0..3 {
        if t.get(&provider).await.body["registrationState"] == "Registered" {
            break;
        }
    }
    let r = t
        .post(&credentials_url(600), Some(json!({"serviceName": "SSH"})))
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(t.sim.issued()[0].caller, CALLER);
}
