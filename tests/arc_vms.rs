//! Arc virtual machines (VMware vSphere, SCVMM): every Arc resource type
//! `az ssh arc --resource-type` takes is a target of its own, read from its
//! own provider, with SSH through Arc set up under its own id; what only a
//! Connected Machine agent shows is said not to be checked.

use crate::azure::Azure;

const VMW: &str = "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/arc-vms/providers/Microsoft.ConnectedVMwarevSphere/virtualMachines/vmw-01";
const SCVMM: &str = "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/arc-vms/providers/Microsoft.ScVmm/virtualMachines/scvmm-01";

fn arc_vms() -> Azure {
    Azure::edited("arc-vms", |_| {})
}

/// The request lines the simulator received, `METHOD path?api-version`.
fn requests(az: &Azure) -> Vec<String> {
    az.sim()
        .requests()
        .iter()
        .map(|r| {
            let api = r
                .query
                .split('&')
                .find_map(|q| q.strip_prefix("api-version="))
                .unwrap_or_default()
                .to_string();
            format!("{} {}?{api} {}", r.method, r.path, r.status)
        })
        .collect()
}

#[test]
fn a_vmware_vm_without_its_endpoint_is_found_and_fixed_under_its_own_id() {
    let az = arc_vms();
    let out = az.run(&["check", "--checks", "azure", "--id", VMW, "-o", "json"]);
    assert_eq!(out.status, 2, "{out:?}");
    let doc = out.json();
    assert_eq!(out.finding_ids(), ["ssh-port-not-enabled"], "{out:?}");
    let finding = &doc["findings"][0];
    assert_eq!(finding["target"], VMW);
    assert_eq!(
        finding["evidence"],
        "vmw-01 has no default connectivity endpoint"
    );
    assert_eq!(doc["machines"][0]["id"], VMW);
    assert_eq!(doc["machines"][0]["status"], "problems");
    // The VM is read from its own provider with its api-version, and SSH
    // through Arc is looked for under its id (as az ssh arc's resource_uri).
    let seen = requests(&az);
    for want in [
        format!("GET {VMW}?2023-10-01 200"),
        format!(
            "GET {VMW}/providers/Microsoft.HybridConnectivity/endpoints/default?2023-03-15 404"
        ),
    ] {
        assert!(seen.contains(&want), "{want} not in {seen:#?}");
    }
    assert!(
        !seen.iter().any(|r| r.contains("Microsoft.HybridCompute/")),
        "nothing is asked of HybridCompute for a VMware VM: {seen:#?}"
    );
    // The plan writes under the VM's id.
    let steps = out.steps();
    let commands: Vec<&str> = steps
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert!(
        commands[0].contains(&format!(
            "{VMW}/providers/Microsoft.HybridConnectivity/endpoints/default?api-version=2023-03-15"
        )),
        "{commands:#?}"
    );

    az.sim().clear_log();
    let out = az.run(&["apply", "--checks", "azure", "--id", VMW, "--yes"]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(
        az.writes(),
        [
            format!("PUT {VMW}/providers/Microsoft.HybridConnectivity/endpoints/default 200"),
            format!(
                "PUT {VMW}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH 201"
            ),
        ]
    );
    // A second check finds nothing to do there.
    let again = az.run(&["check", "--checks", "azure", "--id", VMW, "-o", "json"]);
    assert_eq!(again.status, 0, "{again:?}");
    assert_eq!(again.json()["machines"][0]["status"], "healthy");
    assert!(az.sim().state_json().to_string().contains(&format!(
        "{VMW}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH"
    )));
}

#[test]
fn the_agents_own_settings_are_said_not_to_be_checked_on_an_arc_vm() {
    let az = arc_vms();
    let out = az.run(&["check", "--checks", "azure", "--id", SCVMM, "-o", "json"]);
    // Nothing is wrong, but the Azure side is not called checked: the
    // agent's settings could not be looked at on this type.
    assert_eq!(out.status, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(doc["machines"][0]["id"], SCVMM);
    assert_eq!(doc["machines"][0]["status"], "healthy");
    assert_eq!(doc["checked"], serde_json::json!([]), "{doc:#}");
    let not_checked = doc["not_checked"].as_array().unwrap();
    let azure: Vec<&str> = not_checked
        .iter()
        .filter(|n| n["side"] == "azure")
        .map(|n| n["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        azure,
        [
            "scvmm-01 is an Arc-enabled SCVMM virtual machine (Microsoft.ScVmm/virtualMachines): this type does not show the Connected Machine agent's settings, so its monitor mode, allowed incoming ports and extensions (the Entra login extension), and its agent's status unless the VM shows its guest agent's, were not checked"
        ]
    );
    assert!(not_checked.iter().all(|n| n.get("error").is_none()));
    assert!(
        requests(&az).contains(&format!("GET {SCVMM}?2023-04-01-preview 200")),
        "{:#?}",
        requests(&az)
    );

    // In words: no ✓ for the Azure side.
    let text = az.run(&["check", "--checks", "azure", "--id", SCVMM]);
    assert_eq!(text.status, 0, "{text:?}");
    assert!(
        !text.stdout.contains("no problems found in azure"),
        "{text:?}"
    );
    assert!(
        text.stdout
            .contains("does not show the Connected Machine agent's settings"),
        "{text:?}"
    );

    // --remote: Run Command is not tried on it, and that is said.
    az.sim().clear_log();
    let remote = az.run(&[
        "check",
        "--checks",
        "azure,server",
        "--remote",
        "--id",
        SCVMM,
        "-o",
        "json",
    ]);
    assert_eq!(remote.status, 0, "{remote:?}");
    assert!(
        !requests(&az).iter().any(|r| r.contains("runCommands")),
        "{:#?}",
        requests(&az)
    );
    let server: Vec<String> = remote.json()["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["side"] == "server")
        .map(|n| n["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        server,
        [
            "scvmm-01: Run Command (--remote) exists only for Microsoft.HybridCompute/machines, and this is an Arc-enabled SCVMM virtual machine (Microsoft.ScVmm/virtualMachines): check sshd on it yourself, or run arcfix check there"
        ]
    );
}

#[test]
fn a_login_role_on_an_arc_vm_is_assigned_at_its_own_id() {
    // User Access Administrator on the group: it may assign roles, but has
    // no login role (no listCredentials) anywhere.
    let az = Azure::edited("arc-vms", |v| {
        let list = v["role_assignments"].as_array_mut().unwrap();
        list.truncate(1);
        list[0]["role"] = "User Access Administrator".into();
    });
    let out = az.run(&[
        "apply",
        "--checks",
        "azure",
        "--id",
        SCVMM,
        "--grant-roles",
        "--yes",
        "-o",
        "json",
    ]);
    // The assignment is made; a new sign-in is still needed for the token
    // to carry it, which the verification reads from Azure.
    let writes = az.writes();
    assert_eq!(writes.len(), 1, "{writes:#?} {out:?}");
    assert!(
        writes[0].starts_with(&format!(
            "PUT {SCVMM}/providers/Microsoft.Authorization/roleAssignments/"
        )),
        "{writes:#?}"
    );
    let state = az.sim().state_json().to_string();
    assert!(
        state.contains("602da2ba-a5c2-41da-b01d-5360126ab525"),
        "Virtual Machine Local User Login"
    );
}

#[test]
fn an_id_of_a_type_az_ssh_arc_does_not_take_is_a_usage_error_naming_the_four() {
    let az = arc_vms();
    for ty in [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.ConnectedVMwareSphere/virtualMachines",
    ] {
        let id = format!(
            "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/arc-vms/providers/{ty}/vmw-01"
        );
        let out = az.run(&["check", "--checks", "azure", "--id", &id]);
        assert_eq!(out.status, 64, "{out:?}");
        assert_eq!(out.stdout, "");
        assert_eq!(
            out.stderr,
            format!(
                "arcfix: error: invalid machine id '{id}': '{ty}' is not an Arc resource type az ssh arc takes (expected /subscriptions/<guid>/resourceGroups/<name>/providers/<type>/<name>, <type> one of Microsoft.HybridCompute/machines, Microsoft.ConnectedVMwarevSphere/virtualMachines, Microsoft.ScVmm/virtualMachines, Microsoft.AzureStackHCI/virtualMachines)\n"
            )
        );
    }
    // Nothing was asked of Azure.
    assert_eq!(requests(&az), Vec::<String>::new());
}

#[test]
fn an_arc_vm_id_in_any_casing_is_that_vm() {
    let az = arc_vms();
    let shouting = VMW.to_uppercase().replace(
        "3F2D5C1E-8A4B-4C6D-9E0F-1A2B3C4D5E6F",
        "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
    );
    let out = az.run(&[
        "check", "--checks", "azure", "--id", &shouting, "-o", "json",
    ]);
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(out.finding_ids(), ["ssh-port-not-enabled"]);
    // --ids-from takes it too.
    let listed = az
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
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .stdin(format!("{VMW}\n{SCVMM}\n").as_bytes())
        .run();
    assert_eq!(listed.status, 2, "{listed:?}");
    let machines: Vec<String> = listed.json()["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["id"].as_str().unwrap(),
                m["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        machines,
        [format!("{VMW} problems"), format!("{SCVMM} healthy")]
    );
}
