//! RBAC: refusals with ARM's exact message, role assignments taking effect at
//! once, and the permissions API computed from the assignments.

use serde_json::{Value, json};

use crate::sim::rbac::{self, Permission};

/// A role's permissions as Microsoft publishes them (tests/data/roles): the
/// expected answers come from the official data, never from arcfix's code.
fn published(role_name: &str) -> Vec<Permission> {
    rbac::role(role_name)
        .unwrap_or_else(|| panic!("no published role {role_name}"))
        .permissions
        .clone()
}

/// A data action listed word for word in an answer (no matcher involved).
fn lists_data_action(perms: &[Permission], action: &str) -> bool {
    perms.iter().any(|p| {
        p.data_actions
            .iter()
            .any(|d| d.eq_ignore_ascii_case(action))
    })
}

const READER_GUID: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
use crate::sim::tests::{AUTHZ, COMPUTE, HC, MACHINE, RESOURCES, SUB, T, endpoint};

const READER_OID: &str = "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e";
const LOCAL_LOGIN: &str = "602da2ba-a5c2-41da-b01d-5360126ab525";

fn assignment(role_guid: &str, principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"),
        "principalId": principal,
        "principalType": "User"
    }})
}

fn assignment_url(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{AUTHZ}")
}

#[tokio::test]
async fn a_reader_writing_gets_arms_exact_refusal() {
    let t = T::builtin("reader").await;
    let r = t
        .put(
            &format!("{}?{HC}", endpoint()),
            json!({"properties": {"type": "default"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert_eq!(
        r.message(),
        format!(
            "The client 'robin@contoso.example' with object id '{READER_OID}' does not have authorization to perform \
             action 'Microsoft.HybridConnectivity/endpoints/write' over scope '{}' or the scope is invalid. If access \
             was recently granted, please refresh your credentials.",
            endpoint()
        )
    );
    let r = t
        .post(
            &format!("{}/listCredentials?{HC}", endpoint()),
            Some(json!({"serviceName": "SSH"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.message()
            .contains("'Microsoft.HybridConnectivity/endpoints/listCredentials/action'")
    );
    assert_eq!(
        r.status, 403,
        "refused before the missing endpoint is looked at"
    );
    let r = t
        .post(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity/register?{RESOURCES}"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.message()
            .contains(&format!("over scope '/subscriptions/{SUB}'"))
    );
    // Reads are fine: the endpoint is simply missing.
    assert_eq!(t.get(&format!("{}?{HC}", endpoint())).await.status, 404);
    assert_eq!(t.get(&format!("{MACHINE}?{COMPUTE}")).await.status, 200);
    // Its provider is visible with any role in the subscription.
    assert_eq!(
        t.get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity?{RESOURCES}"
        ))
        .await
        .status,
        200
    );
    let r = t
        .put(
            &assignment_url(MACHINE, "2b8f6d1a-0c4e-4f5a-9b3d-7e6f5a4b3c2d"),
            assignment(LOCAL_LOGIN, READER_OID),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        t.sim
            .requests()
            .iter()
            .filter(|l| l.is_write())
            .all(|l| l.status == 403)
    );
}

#[tokio::test]
async fn role_assignments_take_effect_at_once() {
    let t = T::builtin("demo").await;
    let caller = t.sim.scenario().caller.clone();
    let perms_url = format!("{MACHINE}/providers/Microsoft.Authorization/permissions?{AUTHZ}");
    let perms =
        |v: &Value| -> Vec<Permission> { serde_json::from_value(v["value"].clone()).unwrap() };
    let before = perms(&t.get(&perms_url).await.body);
    assert_eq!(
        before,
        [published("Contributor"), published("Owner")].concat()
    );
    assert!(!lists_data_action(
        &before,
        "Microsoft.HybridCompute/machines/login/action"
    ));

    let rg = format!("/subscriptions/{SUB}/resourceGroups/arc-demo");
    let name = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
    let r = t
        .put(
            &assignment_url(MACHINE, name),
            assignment(LOCAL_LOGIN, &caller),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["properties"]["scope"], MACHINE);
    assert_eq!(r.body["name"], name);
    let after = perms(&t.get(&perms_url).await.body);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        after.last().unwrap(),
        &published("Virtual Machine Local User Login")[0]
    );

    // The same assignment under a new name, as `az role assignment create` does.
    let r = t
        .put(
            &assignment_url(MACHINE, "4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a"),
            assignment(LOCAL_LOGIN, &caller),
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.message()),
        (
            409,
            "RoleAssignmentExists",
            "The role assignment already exists."
        )
    );
    // The same name with other content.
    let r = t
        .put(
            &assignment_url(MACHINE, name),
            assignment(READER_GUID, &caller),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .put(
            &assignment_url(MACHINE, "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"),
            assignment(LOCAL_LOGIN, "00000000-1111-4222-8333-444444444444"),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "PrincipalNotFound"));
    let r = t
        .put(
            &assignment_url(MACHINE, "not-a-guid"),
            assignment(LOCAL_LOGIN, &caller),
        )
        .await;
    assert_eq!(r.status, 400);

    // Lists with the filters the client uses.
    let list = |filter: &str| {
        let rg = rg.clone();
        let t = &t;
        let filter = filter.to_string();
        async move {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", &filter)
                .finish();
            let r = t
                .get(&format!(
                    "{rg}/providers/Microsoft.Authorization/roleAssignments?{AUTHZ}&{q}"
                ))
                .await;
            assert_eq!(r.status, 200, "{:#}", r.body);
            r.body["value"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        list("atScope()").await,
        2,
        "subscription Contributor and resource group Owner"
    );
    assert_eq!(
        list(&format!("principalId eq '{caller}'")).await,
        3,
        "and the machine's below"
    );
    assert_eq!(
        list(&format!("atScope() and principalId eq '{caller}'")).await,
        2
    );

    assert_eq!(t.get(&assignment_url(MACHINE, name)).await.status, 200);
    let r = t.delete(&assignment_url(MACHINE, name)).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some(name)));
    assert_eq!(t.delete(&assignment_url(MACHINE, name)).await.status, 204);
    assert_eq!(
        t.get(&assignment_url(MACHINE, name)).await.code(),
        "RoleAssignmentNotFound"
    );
    assert_eq!(perms(&t.get(&perms_url).await.body), before);
}

#[tokio::test]
async fn granting_a_role_lets_the_grantee_act_at_once() {
    // In the reader scenario, another principal is Owner of the subscription.
    let t = T::builtin("reader").await;
    let tenant = t.sim.scenario().tenant.clone();
    let owner = crate::sim::fake_token(
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "alex@contoso.example",
        &tenant,
    );
    let creds = format!("{}/listCredentials?{HC}", endpoint());
    let r = t
        .send_as(
            Some(&owner),
            "PUT",
            &format!("{}?{HC}", endpoint()),
            Some(json!({"properties": {"type": "default"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.post(&creds, None).await.status, 403);
    let url = assignment_url(MACHINE, "6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c");
    let r = t
        .send_as(
            Some(&owner),
            "PUT",
            &url,
            Some(assignment(LOCAL_LOGIN, READER_OID)),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(t.post(&creds, None).await.status, 200);
}

#[tokio::test]
async fn permissions_exist_at_subscription_resource_group_and_resource_scope() {
    let t = T::builtin("healthy").await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups/arc-demo");
    let r = t
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    let perms: Vec<Permission> = serde_json::from_value(r.body["value"].clone()).unwrap();
    assert_eq!(
        perms,
        [
            published("Owner"),
            published("Virtual Machine Local User Login"),
            published("Virtual Machine User Login")
        ]
        .concat()
    );
    assert!(lists_data_action(
        &perms,
        "Microsoft.HybridCompute/machines/login/action"
    ));
    // Served at subscription scope too, as ARM does (not in the spec): the
    // caller's roles there are those assigned at the subscription or above.
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!((r.status, r.body["value"].clone()), (200, json!([])));
    let r = t
        .get(&format!(
            "/subscriptions/00000000-1111-4222-8333-444444444444/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!((r.status, r.code()), (404, "SubscriptionNotFound"));
    let r = t
        .get(&format!(
            "/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!((r.status, r.code()), (404, "InvalidResourceType"));
    let r = t.get(&format!("/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Authorization/permissions?{AUTHZ}")).await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));

    // A Reader of the machine only: nothing at the resource group, Reader at the machine.
    let t = T::builtin("reader").await;
    let r = t
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!((r.status, r.body["value"].clone()), (200, json!([])));
    let r = t
        .get(&format!(
            "{MACHINE}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    let perms: Vec<Permission> = serde_json::from_value(r.body["value"].clone()).unwrap();
    assert_eq!(perms, published("Reader"));
}

#[tokio::test]
async fn built_in_role_definitions_by_guid_and_name() {
    let t = T::builtin("healthy").await;
    for role in rbac::roles() {
        let r = t
            .get(&format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}?{AUTHZ}",
                role.name
            ))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["properties"]["roleName"], role.role_name);
        assert_eq!(r.body["properties"]["type"], "BuiltInRole");
        let perms: Vec<Permission> =
            serde_json::from_value(r.body["properties"]["permissions"].clone()).unwrap();
        assert_eq!(perms, role.permissions);
    }
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?{AUTHZ}&$filter=roleName%20eq%20%27Virtual%20Machine%20Local%20User%20Login%27"
        ))
        .await;
    assert_eq!(r.body["value"][0]["name"], LOCAL_LOGIN);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let r = t.get(&format!("/providers/Microsoft.Authorization/roleDefinitions/0b5fe924-9a61-425c-96af-cfe6e287ca2d?{AUTHZ}")).await;
    assert_eq!(r.status, 404);
}
