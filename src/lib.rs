//! arcfix finds out why SSH to an Azure Arc-enabled server fails, and fixes it.
//!
//! Data flows one way: target -> probes (concurrent) -> findings -> plan ->
//! apply (confirm, re-check, act, verify) -> report.

// ARM errors carry their request and correlation id by value; they are built
// on the cold path only, so their size does not matter.
#![allow(clippy::result_large_err)]

pub(crate) mod apply;
pub mod azure;
pub(crate) mod catalogue;
pub mod checks;
pub(crate) mod cli;
pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod error;
pub mod explain;
pub(crate) mod interrupt;
pub(crate) mod journal;
pub mod os;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod probe;
pub(crate) mod problem;
pub(crate) mod progress;
pub(crate) mod prompt;
pub(crate) mod redact;
pub(crate) mod remote;
pub(crate) mod render;
pub(crate) mod run;
pub(crate) mod shell;
#[cfg(feature = "test-api")]
pub mod sim;
#[cfg(not(feature = "test-api"))]
pub(crate) mod sim;
pub mod target;
pub(crate) mod text;
pub(crate) mod view;
pub(crate) mod vocab;

pub use run::run;
