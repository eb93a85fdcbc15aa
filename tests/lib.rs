//! The one integration-test binary: runs the real `arcfix` in a sandbox with
//! its own HOME, PATH and PSModulePath, fake programs that record their calls,
//! and (for Azure) the simulator on loopback.

mod harness;

pub mod azure;
mod cli;
mod client;
mod connect;
mod explain;
pub mod hostile;
mod remote;
mod saved_plan;
pub mod server;
pub mod specs;
