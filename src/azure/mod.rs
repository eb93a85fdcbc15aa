//! Azure Resource Manager: the client, its errors, and RBAC evaluation.

pub mod error;
pub mod rbac;
