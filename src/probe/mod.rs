//! What arcfix can observe on this machine. Probes only read.

pub mod binaries;
pub mod connect;
pub mod modules;
pub mod proxy;
pub mod relay_path;
pub mod server;
