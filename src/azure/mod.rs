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
}

pub const HYBRID_CONNECTIVITY: &str = "Microsoft.HybridConnectivity";
pub mod models;
