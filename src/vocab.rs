//! Words every layer shares: the sides of the SSH path, and the rules and
//! remediation roles of arcfix's Azure Policy initiative (a plan's steps
//! name them; `policy` says what they mean). A leaf: it imports
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

/// One rule arcfix keeps with Azure Policy: a definition each (a saved
/// plan writes its definition's name).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PolicyRule {
    /// DeployIfNotExists: the machine's default HybridConnectivity endpoint.
    #[serde(rename = "arcfix-ssh-endpoint")]
    Endpoint,
    /// DeployIfNotExists: the endpoint's SSH service configuration.
    #[serde(rename = "arcfix-ssh-service-configuration")]
    SshService,
    /// Audit: the agent's allowed incoming ports leave out the SSH port.
    #[serde(rename = "arcfix-agent-ssh-port")]
    AgentPorts,
    /// DeployIfNotExists (`--login entra`): AADSSHLoginForLinux on Linux machines.
    #[serde(rename = "arcfix-entra-ssh-login-extension")]
    EntraExtension,
    /// Audit (`--login entra`): the agent refuses AADSSHLoginForLinux.
    #[serde(rename = "arcfix-agent-entra-extension")]
    AgentRefusesEntra,
}

impl PolicyRule {
    /// The definition's name, also its reference id in the set.
    pub fn name(self) -> &'static str {
        match self {
            PolicyRule::Endpoint => "arcfix-ssh-endpoint",
            PolicyRule::SshService => "arcfix-ssh-service-configuration",
            PolicyRule::AgentPorts => "arcfix-agent-ssh-port",
            PolicyRule::EntraExtension => "arcfix-entra-ssh-login-extension",
            PolicyRule::AgentRefusesEntra => "arcfix-agent-entra-extension",
        }
    }
}

/// A built-in role a DeployIfNotExists remediation identity is given (a
/// plan's JSON writes its role definition's GUID: `plan::role_guid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RemediationRole {
    /// b24988ac-6180-42a0-ab88-20f7382dd24c: every control-plane action but
    /// `Microsoft.Authorization/*/Write|Delete`; no data action.
    Contributor,
    /// cd570a14-e51a-42ad-bac8-bafd67325302: `Microsoft.HybridCompute/machines/*`,
    /// `machines/extensions/*`, `Microsoft.Resources/deployments/*`; no
    /// HybridConnectivity action.
    ConnectedMachineResourceAdministrator,
}

impl RemediationRole {
    /// Its role definition's GUID.
    pub fn guid(self) -> &'static str {
        match self {
            RemediationRole::Contributor => "b24988ac-6180-42a0-ab88-20f7382dd24c",
            RemediationRole::ConnectedMachineResourceAdministrator => {
                "cd570a14-e51a-42ad-bac8-bafd67325302"
            }
        }
    }

    /// The role of a GUID (any case); `None` for any other.
    pub fn of_guid(guid: &str) -> Option<RemediationRole> {
        [
            RemediationRole::Contributor,
            RemediationRole::ConnectedMachineResourceAdministrator,
        ]
        .into_iter()
        .find(|r| r.guid().eq_ignore_ascii_case(guid))
    }

    /// The role in a step's id.
    pub fn slug(self) -> &'static str {
        match self {
            RemediationRole::Contributor => "contributor",
            RemediationRole::ConnectedMachineResourceAdministrator => {
                "connected-machine-resource-administrator"
            }
        }
    }
}
