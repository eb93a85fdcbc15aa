//! arcfix finds out why SSH to an Azure Arc-enabled server fails, and fixes it.

pub mod azure;
pub mod catalogue;
pub mod error;
pub mod explain;
pub mod os;
pub mod plan;
pub mod render;
pub mod sim;
pub mod target;
