//! Words every layer shares: the sides of the SSH path. A leaf: it imports
//! no other module of arcfix, so any module may use it without an import
//! cycle (`tests/architecture.rs` keeps it so). `target` re-exports them.

/// A part of the SSH path that is checked on its own (`--checks`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Azure,
    Server,
}

/// The side's name, as `--checks` and the JSON document write it.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Azure => "azure",
        Side::Server => "server",
    }
}
