//! The one integration-test binary: runs the real `arcfix` in a sandbox with
//! its own HOME, PATH and PSModulePath, fake programs that record their calls,
//! and (for Azure) the simulator on loopback.
//!
//! Unix only: the fake programs are shell scripts, and the server tests start
//! a real sshd. On Windows the unit tests run, and `.ci/windows-smoke` runs the
//! real `arcfix.exe` (under Wine in CI).
#![cfg(unix)]

mod harness;

mod arc_vms;
mod architecture;
pub mod azure;
mod blocks;
mod bounds;
mod cli;
mod client;
mod connect;
mod demo;
mod explain;
mod fits;
mod fleet;
pub mod hostile;
mod html;
mod interruptions;
mod output;
mod pace;
mod progress;
mod relay_path;
mod remote;
mod saved_plan;
pub mod server;
pub mod specs;
mod usage;
