//! The Arc virtual machines of VMware vSphere, SCVMM and Azure Stack HCI as
//! their own providers render them: the shapes of the official
//! `GetVirtualMachine` examples (ConnectedVMwarevSphere 2023-10-01, ScVmm
//! 2020-06-05-preview, AzureStackHCI 2022-12-15-preview; the first two in
//! tests/data/arm). None carries the Connected Machine agent's
//! `agentConfiguration`; VMware and SCVMM show their guest agent's status in
//! `guestAgentProfile` (a field of their specs the examples leave out).

use serde_json::{Value, json};

use crate::sim::route::ArcType;
use crate::sim::world::{MachineAt, World};

impl World {
    pub fn arc_vm_json(&self, at: MachineAt) -> Value {
        let m = self.machine(at);
        let id = self.machine_id(at);
        let rg_id = id
            .split("/providers/")
            .next()
            .unwrap_or_default()
            .to_string();
        let os_type = if m.os_type == "windows" {
            "Windows"
        } else {
            "Linux"
        };
        let guest_agent = json!({
            "status": m.status,
            "agentVersion": m.agent_version,
            "lastStatusChange": m.last_status_change,
        });
        let custom_location = |ns: &str| {
            json!({
                "type": "customLocation",
                "name": format!("{rg_id}/providers/{ns}/customLocations/arc-sim-location"),
            })
        };
        let (kind_type, extended_location, properties) = match m.kind {
            ArcType::Vmware => (
                "Microsoft.ConnectedVMwarevSphere/VirtualMachines",
                custom_location("Microsoft.ExtendedLocation"),
                json!({
                    "resourcePoolId": format!("{rg_id}/providers/Microsoft.ConnectedVMwarevSphere/ResourcePools/sim-pool"),
                    "templateId": format!("{rg_id}/providers/Microsoft.ConnectedVMwarevSphere/VirtualMachineTemplates/sim-template"),
                    "vCenterId": format!("{rg_id}/providers/Microsoft.ConnectedVMwarevSphere/VCenters/sim-vcenter"),
                    "osProfile": {"computerName": m.name, "osType": os_type},
                    "hardwareProfile": {"memorySizeMB": 4096, "numCPUs": 2},
                    "guestAgentProfile": guest_agent,
                    "moRefId": format!("vm-{}", &m.vm_id[..8]),
                    "provisioningState": "Succeeded"
                }),
            ),
            ArcType::Scvmm => (
                "Microsoft.SCVMM/VirtualMachines",
                custom_location("Microsoft.ExtendedLocation"),
                json!({
                    "cloudId": format!("{rg_id}/providers/Microsoft.SCVMM/Clouds/sim-cloud"),
                    "templateId": format!("{rg_id}/providers/Microsoft.SCVMM/VirtualMachineTemplates/sim-template"),
                    "vmmServerId": format!("{rg_id}/providers/Microsoft.SCVMM/VMMServers/sim-vmm"),
                    "hardwareProfile": {"memoryMB": 4096, "cpuCount": 2},
                    "osProfile": {"computerName": m.name, "osType": os_type},
                    "guestAgentProfile": guest_agent,
                    "provisioningState": "Succeeded"
                }),
            ),
            // The example shows no OS type and no guest agent.
            ArcType::Hci | ArcType::Machine => (
                "Microsoft.AzureStackHCI/virtualmachines",
                json!({
                    "name": format!("{rg_id}/providers/Microsoft.ExtendedLocation/customLocations/arc-sim-location"),
                    "type": "CustomLocation",
                }),
                json!({
                    "provisioningState": "Succeeded",
                    "storageProfile": {
                        "imageReference": {"name": format!("{rg_id}/providers/Microsoft.AzureStackHCI/galleryimages/sim-image")},
                        "vmConfigContainerName": "Default_Container"
                    },
                    "hardwareProfile": {"vmSize": "Default"},
                    "osProfile": {"computerName": m.name, "adminUsername": "localadmin"},
                    "networkProfile": {"networkInterfaces": [{"id": "sim-nic"}]}
                }),
            ),
        };
        json!({
            "id": id,
            "name": m.name,
            "type": kind_type,
            "location": m.location,
            "extendedLocation": extended_location,
            "tags": m.tags,
            "properties": properties,
        })
    }
}
