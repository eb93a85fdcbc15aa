//! The simulator's answers have the shapes of the official ARM examples: every
//! key of an example response body exists at the same place in ours.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::sim::Scenario;
use crate::sim::tests::{AUTHZ, COMPUTE, HC, HC24, MACHINE, RESOURCES, SUB, T, endpoint};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/arm")
}

pub(super) fn fixture(rel: &str) -> Value {
    let text =
        std::fs::read_to_string(data_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A request body or parameter of an example.
fn param(rel: &str, key: &str) -> Value {
    fixture(rel)["parameters"][key].clone()
}

/// Keys whose content is user data (any keys), and paging keys that are
/// present only while more pages remain.
const FREE_FORM: &[&str] = &["tags", "settings", "protectedSettings"];
const PAGING: &[&str] = &["nextLink", "$skipToken"];

/// Where `actual` lacks a key `expected` has, as JSON paths. Values may
/// differ; arrays compare each expected item with the item at the same index
/// (or the last one), and an empty actual array is accepted (counts are data).
fn missing_keys(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                if PAGING.contains(&k.as_str()) {
                    continue;
                }
                match a.get(k) {
                    None => out.push(format!("{at}.{k}")),
                    Some(_) if FREE_FORM.contains(&k.as_str()) => {}
                    Some(av) => missing_keys(ev, av, &format!("{at}.{k}"), out),
                }
            }
        }
        (Value::Object(e), _) if !e.is_empty() => {
            out.push(format!("{at} (an object in the example)"))
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(last) = a.len().checked_sub(1) {
                for (i, ev) in e.iter().enumerate() {
                    missing_keys(ev, &a[i.min(last)], &format!("{at}[{i}]"), out);
                }
            }
        }
        (Value::Array(e), _) if !e.is_empty() => {
            out.push(format!("{at} (an array in the example)"))
        }
        _ => {}
    }
}

#[track_caller]
pub(super) fn assert_shape(rel: &str, status: &str, actual: &Value) {
    let expected = &fixture(rel)["responses"][status]["body"];
    assert!(!expected.is_null(), "{rel} has no {status} body");
    let mut missing = Vec::new();
    missing_keys(expected, actual, "$", &mut missing);
    assert!(
        missing.is_empty(),
        "{rel} ({status}): the simulator's answer lacks {missing:?}\nanswer: {actual:#}"
    );
}

#[test]
fn same_keys_compares_structure_not_values() {
    let e = json!({"a": {"b": 1, "c": [ {"d": null} ]}, "tags": {"x": "y"}, "nextLink": "n"});
    let ok =
        json!({"a": {"b": "other", "c": [ {"d": {"deep": 1}}, {"d": 2} ], "extra": 1}, "tags": {}});
    let mut out = Vec::new();
    missing_keys(&e, &ok, "$", &mut out);
    assert!(out.is_empty(), "{out:?}");
    let bad = json!({"a": {"c": [ {"e": 1} ]}});
    missing_keys(&e, &bad, "$", &mut out);
    assert_eq!(out, ["$.a.b", "$.a.c[0].d", "$.tags"]);
}

/// Official examples copied here after the shared fixtures were made (their
/// sources are in tests/data/arm/SOURCES.md like the others').
const NOT_IN_SHARED: &[&str] = &[
    "policyinsights/2019-10-01/PolicyStates_QuerySubscriptionScope.json",
    "policyinsights/2019-10-01/PolicyStates_SummarizeResourceGroupScope.json",
];

/// The copies under `tests/data/arm` are the shared research fixtures, unchanged.
#[test]
fn fixture_copies_are_byte_identical_to_the_shared_ones() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/arm");
    if !shared.is_dir() {
        return;
    }
    fn files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut ours = Vec::new();
    files(&data_dir(), &data_dir(), &mut ours);
    assert!(ours.len() >= 30, "fixtures are missing: {ours:?}");
    for rel in ours {
        if NOT_IN_SHARED.iter().any(|n| rel == Path::new(n)) {
            continue;
        }
        let a = std::fs::read(data_dir().join(&rel)).unwrap();
        let b = std::fs::read(shared.join(&rel))
            .unwrap_or_else(|e| panic!("{} not in shared: {e}", rel.display()));
        if rel == Path::new("SOURCES.md") {
            // Ours is the shared one with the section on NOT_IN_SHARED appended.
            assert!(
                a.starts_with(&b),
                "SOURCES.md does not begin with the shared copy"
            );
            continue;
        }
        assert!(a == b, "{} differs from the shared copy", rel.display());
    }
}

#[tokio::test]
async fn hybridconnectivity_2023_03_15_shapes() {
    let t = T::builtin("healthy").await;
    let dir = "hybridconnectivity/2023-03-15";
    let r = t.get(&format!("{}?{HC}", endpoint())).await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/EndpointsGetDefault.json"), "200", &r.body);

    let body = param(
        &format!("{dir}/EndpointsPutDefault.json"),
        "EndpointResource",
    );
    let r = t.put(&format!("{}?{HC}", endpoint()), body).await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/EndpointsPutDefault.json"), "200", &r.body);

    let r = t
        .post(
            &format!("{}/listCredentials?{HC}&expiresin=10800", endpoint()),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/EndpointsPostListCredentials.json"),
        "200",
        &r.body,
    );
    assert!(
        r.body["relay"].get("serviceConfigurationToken").is_none(),
        "no token without serviceName"
    );

    let ssh = format!("{}/serviceConfigurations/SSH?{HC}", endpoint());
    let r = t.get(&ssh).await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/ServiceConfigurationsGetSSH.json"),
        "200",
        &r.body,
    );

    let put = format!("{dir}/ServiceConfigurationsPutSSH.json");
    let r = t
        .put(&ssh, param(&put, "ServiceConfigurationResource"))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&put, "200", &r.body);
    assert_eq!(t.delete(&ssh).await.status, 200);
    let r = t
        .put(&ssh, param(&put, "ServiceConfigurationResource"))
        .await;
    assert_eq!(r.status, 201);
    assert_shape(&put, "201", &r.body);
}

#[tokio::test]
async fn hybridconnectivity_2024_12_01_shapes() {
    let t = T::builtin("healthy").await;
    let dir = "hybridconnectivity/2024-12-01";
    let ep = format!("{}?{HC24}", endpoint());
    assert_shape(
        &format!("{dir}/EndpointsGetDefault.json"),
        "200",
        &t.get(&ep).await.body,
    );
    let put = format!("{dir}/EndpointsPutDefault.json");
    let r = t.put(&ep, param(&put, "EndpointResource")).await;
    assert_eq!(r.status, 200);
    assert_shape(&put, "200", &r.body);
    let custom =
        format!("{MACHINE}/providers/Microsoft.HybridConnectivity/endpoints/custom?{HC24}");
    let relay = format!(
        "/subscriptions/{SUB}/resourceGroups/arc-demo/providers/Microsoft.Relay/namespaces/custom-relay-namespace"
    );
    let r = t
        .put(
            &custom,
            json!({"properties": {"type": "custom", "resourceId": relay}}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["properties"]["resourceId"]),
        (200, &json!(relay))
    );
    let list = t
        .get(&format!(
            "{MACHINE}/providers/Microsoft.HybridConnectivity/endpoints?{HC24}"
        ))
        .await;
    assert_eq!(list.status, 200);
    assert_shape(&format!("{dir}/EndpointsList.json"), "200", &list.body);

    let creds = format!("{dir}/EndpointsPostListCredentials.json");
    let r = t
        .post(
            &format!("{}/listCredentials?{HC24}&expiresin=10800", endpoint()),
            Some(param(&creds, "ListCredentialsRequest")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&creds, "200", &r.body);
    let ingress = format!("{dir}/EndpointsPostListIngressGatewayCredentials.json");
    let r = t
        .post(
            &format!(
                "{}/listIngressGatewayCredentials?{HC24}&expiresin=10800",
                endpoint()
            ),
            Some(param(&ingress, "ListCredentialsRequest")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&ingress, "200", &r.body);
    let proxy = format!("{dir}/EndpointsPostListManagedProxyDetails.json");
    let r = t
        .post(
            &format!("{}/listManagedProxyDetails?{HC24}", endpoint()),
            Some(param(&proxy, "ManagedProxyRequest")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&proxy, "200", &r.body);

    let ssh = format!("{}/serviceConfigurations/SSH?{HC24}", endpoint());
    assert_shape(
        &format!("{dir}/ServiceConfigurationsGetSSH.json"),
        "200",
        &t.get(&ssh).await.body,
    );
    let put = format!("{dir}/ServiceConfigurationsPutSSH.json");
    let r = t
        .put(&ssh, param(&put, "ServiceConfigurationResource"))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&put, "200", &r.body);
    let patch = format!("{dir}/ServiceConfigurationsPatchSSH.json");
    let r = t
        .send(
            "PATCH",
            &ssh,
            Some(param(&patch, "ServiceConfigurationResource")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&patch, "200", &r.body);
    let r = t
        .get(&format!("{}/serviceConfigurations?{HC24}", endpoint()))
        .await;
    assert_shape(
        &format!("{dir}/ServiceConfigurationsList.json"),
        "200",
        &r.body,
    );

    // Deletes: 200 while it exists, 204 after (the examples declare both).
    assert!(
        fixture(&format!("{dir}/ServiceConfigurationsDeleteSSH.json"))["responses"]["204"]
            .is_object()
    );
    assert_eq!(t.delete(&ssh).await.status, 200);
    assert_eq!(t.delete(&ssh).await.status, 204);
    let r = t
        .put(&ssh, param(&put, "ServiceConfigurationResource"))
        .await;
    assert_eq!(r.status, 201);
    assert_shape(&put, "201", &r.body);
    assert!(fixture(&format!("{dir}/EndpointsDeleteDefault.json"))["responses"]["204"].is_object());
    assert_eq!(t.delete(&ep).await.status, 200);
    assert_eq!(t.delete(&ep).await.status, 204);
}

#[tokio::test]
async fn hybridcompute_machine_and_extension_shapes() {
    let t = T::builtin("healthy").await;
    let dir = "hybridcompute/2025-01-13";
    let r = t
        .get(&format!("{MACHINE}?{COMPUTE}&$expand=instanceView"))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/Machines_Get.json"), "200", &r.body);
    let r = t
        .get(&format!("/subscriptions/{SUB}/resourceGroups/arc-demo/providers/Microsoft.HybridCompute/machines?{COMPUTE}"))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/Machines_ListByResourceGroup.json"),
        "200",
        &r.body,
    );

    let r = t
        .get(&format!(
            "{MACHINE}/extensions/AADSSHLoginForLinux?{COMPUTE}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/Extension_Get.json"), "200", &r.body);
    let put = format!("{dir}/Extension_CreateOrUpdate.json");
    let url = format!("{MACHINE}/extensions/CustomScriptExtension?{COMPUTE}");
    let r = t.put(&url, param(&put, "extensionParameters")).await;
    assert_eq!(r.status, 201);
    assert_shape(&put, "200", &r.body);
    let r = t.put(&url, param(&put, "extensionParameters")).await;
    assert_eq!(r.status, 200);
    assert_shape(&put, "200", &r.body);
    let r = t.get(&format!("{MACHINE}/extensions?{COMPUTE}")).await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/Extension_List.json"), "200", &r.body);
}

#[tokio::test]
async fn hybridcompute_run_command_shapes() {
    let mut s = Scenario::builtin("healthy").unwrap();
    s.run_command_polls = Some(0);
    let t = T::start(s).await;
    let dir = "hybridcompute/2025-01-13";
    let put = format!("{dir}/RunCommands_CreateOrUpdate.json");
    let url = format!("{MACHINE}/runCommands/myRunCommand?{COMPUTE}");
    let r = t.put(&url, param(&put, "runCommandProperties")).await;
    assert_eq!(r.status, 201);
    assert_shape(&put, "201", &r.body);
    for h in ["Location", "Azure-AsyncOperation", "Retry-After"] {
        assert!(r.header(h).is_some(), "201 lacks {h}");
    }
    assert!(
        r.body["properties"].get("runAsPassword").is_none(),
        "secrets are not echoed"
    );
    let r = t.put(&url, param(&put, "runCommandProperties")).await;
    assert_eq!(r.status, 200);
    assert_shape(&put, "200", &r.body);
    let r = t.get(&url).await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/RunCommands_Get.json"), "200", &r.body);
    let r = t.get(&format!("{MACHINE}/runCommands?{COMPUTE}")).await;
    assert_shape(&format!("{dir}/RunCommands_List.json"), "200", &r.body);
}

#[tokio::test]
async fn authorization_shapes() {
    let t = T::builtin("healthy").await;
    let dir = "authorization/2022-04-01";
    let rg = format!("/subscriptions/{SUB}/resourceGroups/arc-demo");
    let r = t
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/GetPermissions.json"), "200", &r.body);
    let r = t
        .get(&format!(
            "{MACHINE}/providers/Microsoft.Authorization/permissions?{AUTHZ}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/GetResourcePermissions.json"),
        "200",
        &r.body,
    );
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/602da2ba-a5c2-41da-b01d-5360126ab525?{AUTHZ}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/GetRoleDefinitionByName.json"),
        "200",
        &r.body,
    );

    let create = format!("{dir}/RoleAssignments_CreateForResource.json");
    let mut body = param(&create, "parameters");
    body["properties"]["roleDefinitionId"] = json!(format!(
        "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    ));
    body["properties"]["principalId"] = json!(t.sim.scenario().caller);
    let url = format!(
        "{MACHINE}/providers/Microsoft.Authorization/roleAssignments/05c5a614-a7d6-4502-b150-c2fb455033ff?{AUTHZ}"
    );
    let r = t.put(&url, body.clone()).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_shape(&create, "201", &r.body);
    let r = t.put(&url, body).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_shape(&create, "200", &r.body);
    let r = t.get(&url).await;
    assert_shape(&format!("{dir}/RoleAssignments_Get.json"), "200", &r.body);
    let r = t
        .get(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments?{AUTHZ}"
        ))
        .await;
    assert_eq!(
        r.status, 403,
        "Owner of the resource group only: no read at the subscription"
    );
    let r = t
        .get(&format!(
            "{rg}/providers/Microsoft.Authorization/roleAssignments?{AUTHZ}"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &format!("{dir}/RoleAssignments_ListForScope.json"),
        "200",
        &r.body,
    );
}

#[tokio::test]
async fn resources_shapes() {
    let t = T::builtin("demo").await;
    let dir = "resources/2021-04-01";
    let provider = format!("/subscriptions/{SUB}/providers/Microsoft.HybridConnectivity");
    let r = t.get(&format!("{provider}?{RESOURCES}")).await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/GetProvider.json"), "200", &r.body);
    let r = t
        .post(&format!("{provider}/register?{RESOURCES}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_shape(&format!("{dir}/RegisterProviders.json"), "200", &r.body);
}

#[tokio::test]
async fn resourcegraph_shapes_and_paging() {
    // Pages as the requests' `$top` asks, not the scenario's two rows.
    let mut s = Scenario::builtin("fleet").unwrap();
    s.graph_page_size = None;
    let t = T::start(s).await;
    let dir = "resourcegraph/2024-04-01";
    let subs = json!([SUB, "4a3e6d2f-9b5c-4d7e-8f1a-2b3c4d5e6f7a"]);
    let url = "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01";
    let send = |rel: &str, machine_query: bool| {
        let mut q = param(rel, "query");
        q["subscriptions"] = subs.clone();
        let text = q["query"].as_str().unwrap().to_string();
        // The examples query other resource types and names; ask the same of the machines.
        let text = text.replace(
            "'Microsoft.Compute/virtualMachines'",
            "'microsoft.hybridcompute/machines'",
        );
        q["query"] = json!(if machine_query {
            text.replace("'test'", "'-0'")
        } else {
            text
        });
        q
    };
    for (name, n) in [
        ("ResourcesBasicQuery.json", 3),
        ("ResourcesFilterQuery.json", 3),
    ] {
        let rel = format!("{dir}/{name}");
        let r = t.post(url, Some(send(&rel, true))).await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        assert_eq!(r.body["count"], n);
        assert_eq!(r.body["resultTruncated"], "false");
        assert_shape(&rel, "200", &r.body);
        assert!(r.header("x-ms-user-quota-remaining").is_some());
    }
    let first = format!("{dir}/ResourcesFirstPageQuery.json");
    let r = t.post(url, Some(send(&first, true))).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(
        (r.body["totalRecords"].as_u64(), r.body["count"].as_u64()),
        (Some(6), Some(3))
    );
    assert_shape(&first, "200", &r.body);
    let token = r.body["$skipToken"]
        .as_str()
        .expect("a token while more rows remain")
        .to_string();
    let mut seen: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().into())
        .collect();

    let next = format!("{dir}/ResourcesNextPageQuery.json");
    let mut q = send(&next, true);
    q["options"] = json!({"$skipToken": token, "$top": 3});
    let r = t.post(url, Some(q)).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_shape(&next, "200", &r.body);
    assert!(
        r.body.get("$skipToken").is_none(),
        "the last page has no token"
    );
    seen.extend(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string()),
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "every machine exactly once across pages");
    assert!(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["type"] == "microsoft.hybridcompute/machines")
    );
}

/// The Arc VM payloads have the keys of their official examples (kept in
/// `tests/data/arc-vms`, apart from the shared fixtures).
#[tokio::test]
async fn arc_vm_shapes() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim/scenarios/arc-vms.json"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let machines = v["subscriptions"][0]["resource_groups"][0]["machines"]
        .as_array_mut()
        .unwrap();
    machines.push(json!({"name": "hci-01", "type": "Microsoft.AzureStackHCI/virtualMachines"}));
    let t = T::start(Scenario::from_json(&v.to_string()).unwrap()).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/arc-vms");
    let rg = format!("/subscriptions/{SUB}/resourceGroups/arc-vms/providers");
    for (path, api, example) in [
        (
            format!("{rg}/Microsoft.ConnectedVMwarevSphere/virtualMachines/vmw-01"),
            "2023-10-01",
            "connectedvmware/2023-10-01/GetVirtualMachine.json",
        ),
        (
            format!("{rg}/Microsoft.ScVmm/virtualMachines/scvmm-01"),
            "2023-04-01-preview",
            "scvmm/2020-06-05-preview/GetVirtualMachine.json",
        ),
        (
            format!("{rg}/Microsoft.AzureStackHCI/virtualMachines/hci-01"),
            "2022-12-15-preview",
            "azurestackhci/2022-12-15-preview/GetVirtualMachine.json",
        ),
    ] {
        let r = t.get(&format!("{path}?api-version={api}")).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        let text = std::fs::read_to_string(dir.join(example)).unwrap();
        let expected = &serde_json::from_str::<Value>(&text).unwrap()["responses"]["200"]["body"];
        let mut missing = Vec::new();
        missing_keys(expected, &r.body, "$", &mut missing);
        assert!(
            missing.is_empty(),
            "{example}: lacks {missing:?}\n{:#}",
            r.body
        );
        assert_eq!(r.body["id"], path.as_str());
        assert!(r.body["properties"].get("agentConfiguration").is_none());
        // Agent extensions and run commands are not there.
        let r = t
            .get(&format!("{path}/runCommands?api-version=2025-01-13"))
            .await;
        assert_eq!(r.status, 404, "{path}");
    }
    // An api-version the type never had is refused, as ARM does.
    let r = t
        .get(&format!(
            "{rg}/Microsoft.ConnectedVMwarevSphere/virtualMachines/vmw-01?api-version=2025-01-13"
        ))
        .await;
    assert_eq!(r.status, 400);
    // The same name under another type is not that VM.
    let r = t
        .get(&format!(
            "{rg}/Microsoft.HybridCompute/machines/vmw-01?api-version=2025-01-13"
        ))
        .await;
    assert_eq!(r.status, 404);
}
