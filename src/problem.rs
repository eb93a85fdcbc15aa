//! The id of every problem a check detects, one constant each: checks and
//! steps name a problem through these, never by retyping it. The catalogue
//! (`plans/<id>.toml`) holds what a person reads about each (and the
//! problems only `explain` knows, which need no constant).

pub const AGENT_DISCONNECTED: &str = "agent-disconnected";
pub const AGENT_MONITOR_MODE: &str = "agent-monitor-mode";
pub const ARC_SSH_CLIENT_MISSING: &str = "arc-ssh-client-missing";
pub const ARCPROXY_NOT_INSTALLED: &str = "arcproxy-not-installed";
pub const AZ_SSH_EXTENSION_OUTDATED: &str = "az-ssh-extension-outdated";
pub const CLIENT_BINARIES_MISSING: &str = "client-binaries-missing";
pub const ENDPOINT_PERMISSION_MISSING: &str = "endpoint-permission-missing";
pub const ENTRA_EXTENSION_MISSING: &str = "entra-extension-missing";
pub const ENTRA_UNSUPPORTED_ON_WINDOWS: &str = "entra-unsupported-on-windows";
pub const LOGIN_ROLE_MISSING: &str = "login-role-missing";
pub const PROXY_NOT_EXECUTABLE: &str = "proxy-not-executable";
pub const PS_MODULE_VERSION_MISMATCH: &str = "ps-module-version-mismatch";
pub const PWSH_MISSING: &str = "pwsh-missing";
pub const RELAY_BLOCKED: &str = "relay-blocked";
pub const RP_NOT_REGISTERED: &str = "rp-not-registered";
pub const RUN_COMMAND_PERMISSION_MISSING: &str = "run-command-permission-missing";
pub const SERVICE_CONFIG_OUTDATED: &str = "service-config-outdated";
pub const SSH_CONNECTION_FAILED: &str = "ssh-connection-failed";
pub const SSH_PORT_NOT_ENABLED: &str = "ssh-port-not-enabled";
pub const SSHD_NOT_RUNNING: &str = "sshd-not-running";
