//! Azure Resource Manager: the client and RBAC evaluation (its errors are
//! `crate::error::arm`, below every module that reports them).

pub mod account;
pub mod auth;
pub mod client;
pub mod cloud;
pub mod pace;
pub mod rbac;
// The differential test of `rbac` against the simulator's own matcher: it
// lives with the client, so that the simulator imports no product code at all.
#[cfg(test)]
mod rbac_oracle;

/// api-versions, from the reference (`shared/reference/arm.md` §0).
pub mod api {
    pub const HYBRID_COMPUTE: &str = "2025-01-13";
    pub const HYBRID_CONNECTIVITY: &str = "2023-03-15";
    pub const RESOURCES: &str = "2021-04-01";
    pub const AUTHORIZATION: &str = "2022-04-01";
    /// `Microsoft.ConnectedVMwarevSphere/virtualMachines` (stable; the
    /// official `GetVirtualMachine` example: tests/data/arm/connectedvmware).
    pub const CONNECTED_VMWARE: &str = "2023-10-01";
    /// `Microsoft.ScVmm/virtualMachines`: the last api-version with this type
    /// (later ones have only `virtualMachineInstances`).
    pub const SCVMM: &str = "2023-04-01-preview";
    /// `Microsoft.AzureStackHCI/virtualMachines`: the last api-version with
    /// this type (later ones have only `virtualMachineInstances`).
    pub const AZURE_STACK_HCI: &str = "2022-12-15-preview";

    /// The api-version of the resource's own GET, by its type.
    pub fn of(kind: crate::target::ArcKind) -> &'static str {
        use crate::target::ArcKind;
        match kind {
            ArcKind::Machine => HYBRID_COMPUTE,
            ArcKind::VmwareVm => CONNECTED_VMWARE,
            ArcKind::ScvmmVm => SCVMM,
            ArcKind::HciVm => AZURE_STACK_HCI,
        }
    }
}

pub const HYBRID_CONNECTIVITY: &str = "Microsoft.HybridConnectivity";
pub mod models;
