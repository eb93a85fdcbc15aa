//! The id of every known problem, one constant each: checks, steps and
//! tests name a problem through these, never by retyping it. The catalogue
//! (`plans/<id>.toml`) holds what a person reads about each.

pub const AGENT_DISCONNECTED: &str = "agent-disconnected";
pub const ARC_SSH_CLIENT_MISSING: &str = "arc-ssh-client-missing";
pub const ARCPROXY_NOT_INSTALLED: &str = "arcproxy-not-installed";
pub const AZ_SSH_EXTENSION_BROKEN: &str = "az-ssh-extension-broken";
pub const AZ_SSH_EXTENSION_NOT_INSTALLED: &str = "az-ssh-extension-not-installed";
pub const AZ_SSH_EXTENSION_OUTDATED: &str = "az-ssh-extension-outdated";
pub const AZURE_SIGN_IN_REQUIRED: &str = "azure-sign-in-required";
pub const CLIENT_BINARIES_MISSING: &str = "client-binaries-missing";
pub const DIRECT_SSH_UNREACHABLE: &str = "direct-ssh-unreachable";
pub const ENDPOINT_PERMISSION_MISSING: &str = "endpoint-permission-missing";
pub const ENTRA_EXTENSION_MISSING: &str = "entra-extension-missing";
pub const ENTRA_UNSUPPORTED_ON_WINDOWS: &str = "entra-unsupported-on-windows";
pub const LOGIN_ROLE_MISSING: &str = "login-role-missing";
pub const PRIVATE_KEY_PERMISSIONS: &str = "private-key-permissions";
pub const PROXY_DOWNLOAD_FAILED: &str = "proxy-download-failed";
pub const PROXY_NOT_EXECUTABLE: &str = "proxy-not-executable";
pub const PS_MODULE_VERSION_MISMATCH: &str = "ps-module-version-mismatch";
pub const PWSH_MISSING: &str = "pwsh-missing";
pub const RELAY_BLOCKED: &str = "relay-blocked";
pub const RELAY_INFORMATION_UNAVAILABLE: &str = "relay-information-unavailable";
pub const RP_NOT_REGISTERED: &str = "rp-not-registered";
pub const RUN_COMMAND_PERMISSION_MISSING: &str = "run-command-permission-missing";
pub const SERVICE_CONFIG_OUTDATED: &str = "service-config-outdated";
pub const SSH_CONNECTION_FAILED: &str = "ssh-connection-failed";
pub const SSH_KEY_NOT_ACCEPTED: &str = "ssh-key-not-accepted";
pub const SSH_PORT_NOT_ENABLED: &str = "ssh-port-not-enabled";
pub const SSHD_NOT_RUNNING: &str = "sshd-not-running";
pub const UNSUPPORTED_CLIENT_PLATFORM: &str = "unsupported-client-platform";

/// Every known problem, as `plans/` has them.
pub const ALL: &[&str] = &[
    AGENT_DISCONNECTED,
    ARC_SSH_CLIENT_MISSING,
    ARCPROXY_NOT_INSTALLED,
    AZ_SSH_EXTENSION_BROKEN,
    AZ_SSH_EXTENSION_NOT_INSTALLED,
    AZ_SSH_EXTENSION_OUTDATED,
    AZURE_SIGN_IN_REQUIRED,
    CLIENT_BINARIES_MISSING,
    DIRECT_SSH_UNREACHABLE,
    ENDPOINT_PERMISSION_MISSING,
    ENTRA_EXTENSION_MISSING,
    ENTRA_UNSUPPORTED_ON_WINDOWS,
    LOGIN_ROLE_MISSING,
    PRIVATE_KEY_PERMISSIONS,
    PROXY_DOWNLOAD_FAILED,
    PROXY_NOT_EXECUTABLE,
    PS_MODULE_VERSION_MISMATCH,
    PWSH_MISSING,
    RELAY_BLOCKED,
    RELAY_INFORMATION_UNAVAILABLE,
    RP_NOT_REGISTERED,
    RUN_COMMAND_PERMISSION_MISSING,
    SERVICE_CONFIG_OUTDATED,
    SSH_CONNECTION_FAILED,
    SSH_KEY_NOT_ACCEPTED,
    SSH_PORT_NOT_ENABLED,
    SSHD_NOT_RUNNING,
    UNSUPPORTED_CLIENT_PLATFORM,
];
