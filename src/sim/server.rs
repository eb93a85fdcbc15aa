//! The simulated server behind a machine: what run commands can observe and
//! change. The simulator cannot run scripts, so a script says what it does in
//! marker lines, and those are acted out here. Two dialects:
//! `# arcfix-sim: <verb> [args]` (a `probe` answers one JSON object), and the
//! `# arcfix: <verb> [args]` first line of arcfix's own remote scripts (a
//! `probe` answers `key=value` lines as `probe.sh`/`probe.ps1` print them).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::sim::scenario::ServerSpec;

/// The marker of a simulated action line in a run-command script.
pub const MARKER: &str = "# arcfix-sim:";
/// The verb line arcfix's own remote scripts start with.
pub const CLIENT_MARKER: &str = "# arcfix:";

/// What is true on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub sshd_installed: bool,
    pub sshd_running: bool,
    pub ssh_port: u16,
    pub agent_incoming_enabled: bool,
    /// The agent's `incomingconnections.ports`; ARM shows them on the machine.
    pub agent_ports: Vec<String>,
    pub himds_restarts: u32,
    /// `azcmagent config get incomingconnections.ports` fails.
    pub agent_ports_unreadable: bool,
    /// A restart the agent is asked for never happens.
    pub himds_restart_lost: bool,
    /// The agent's `config.mode`; ARM shows it on the machine.
    pub config_mode: String,
    /// The agent's extension manager and its lists (`publisher/type`); ARM
    /// shows them on the machine, and the agent refuses what they exclude.
    pub extensions_enabled: bool,
    pub extensions_allowlist: Vec<String>,
    pub extensions_blocklist: Vec<String>,
}

/// What the simulated server is, beyond its mutable state (not `os::Host`,
/// the machine arcfix runs on).
pub(crate) struct ServerKind<'a> {
    pub os_type: &'a str,
    /// The machine's `osSku` (tells Debian-like systems, whose unit is `ssh`).
    pub os_sku: &'a str,
    /// The agent's status as ARM shows it.
    pub agent_status: &'a str,
}

impl ServerKind<'_> {
    fn windows(&self) -> bool {
        self.os_type.eq_ignore_ascii_case("windows")
    }

    fn debian_like(&self) -> bool {
        let sku = self.os_sku.to_ascii_lowercase();
        sku.contains("ubuntu") || sku.contains("debian")
    }
}

impl Server {
    pub fn new(spec: &ServerSpec, machine_ports: &[String]) -> Server {
        Server {
            sshd_installed: spec.sshd_installed,
            sshd_running: spec.sshd_installed && spec.sshd_running,
            ssh_port: spec.ssh_port,
            agent_incoming_enabled: spec.agent_incoming_enabled,
            agent_ports: spec
                .agent_ports
                .clone()
                .unwrap_or_else(|| machine_ports.to_vec()),
            himds_restarts: spec.himds_restarts,
            agent_ports_unreadable: spec.agent_ports_unreadable,
            himds_restart_lost: spec.himds_restart_lost,
            config_mode: spec.config_mode.clone(),
            extensions_enabled: spec.extensions_enabled,
            extensions_allowlist: spec.extensions_allowlist.clone(),
            extensions_blocklist: spec.extensions_blocklist.clone(),
        }
    }

    /// Why the agent refuses to install `publisher/kind`, in its report to
    /// Azure, or `None` when it installs it (Microsoft's "Extensions
    /// security" article: with an allow list only its entries install, an
    /// entry of the block list never does, even when allowed too). The
    /// agent's own wording is not published: this is a minimal form of it.
    pub fn refuses_extension(&self, publisher: &str, kind: &str) -> Option<String> {
        let entry = format!("{publisher}/{kind}");
        let listed = |list: &[String]| list.iter().any(|e| e.trim().eq_ignore_ascii_case(&entry));
        if !self.extensions_enabled {
            Some(format!(
                "The extension manager is disabled on this machine (extensions.enabled is false): {entry} was not installed."
            ))
        } else if listed(&self.extensions_blocklist) {
            Some(format!(
                "Extension {entry} is in the agent's extensions.blocklist: the extension manager refused to install it."
            ))
        } else if !self.extensions_allowlist.is_empty() && !listed(&self.extensions_allowlist) {
            Some(format!(
                "Extension {entry} is not in the agent's extensions.allowlist: the extension manager refused to install it."
            ))
        } else {
            None
        }
    }

    /// The lists as ARM shows them (`ConfigurationExtension` objects).
    pub fn extension_list_json(list: &[String]) -> Value {
        Value::Array(
            list.iter()
                .map(|e| {
                    let (publisher, kind) = e.trim().split_once('/').unwrap_or((e.trim(), ""));
                    json!({"publisher": publisher, "type": kind})
                })
                .collect(),
        )
    }

    pub fn to_json(&self, os_type: &str) -> Value {
        json!({
            "os": os_type,
            "sshd_installed": self.sshd_installed,
            "sshd_running": self.sshd_running,
            "ssh_port": self.ssh_port,
            "agent_incoming_enabled": self.agent_incoming_enabled,
            "agent_ports": self.agent_ports,
            "himds_restarts": self.himds_restarts,
            "agent_ports_unreadable": self.agent_ports_unreadable,
            "himds_restart_lost": self.himds_restart_lost,
            "config_mode": self.config_mode,
            "extensions_enabled": self.extensions_enabled,
            "extensions_allowlist": self.extensions_allowlist,
            "extensions_blocklist": self.extensions_blocklist,
        })
    }

    /// The first line sshd sends, when it listens on `port`.
    fn banner(&self, host: &ServerKind, port: u16) -> String {
        if !(self.sshd_running && self.ssh_port == port) {
            String::new()
        } else if host.windows() {
            "SSH-2.0-OpenSSH_for_Windows_9.5".into()
        } else {
            "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10".into()
        }
    }

    /// When the agent service last started, as the probe script prints it:
    /// systemd's monotonic microseconds, or the process start time on Windows.
    fn agent_started(&self, host: &ServerKind) -> String {
        if host.windows() {
            format!(
                "2026-11-30T08:{:02}:{:02}.0000000Z",
                self.himds_restarts / 60 % 60,
                self.himds_restarts % 60
            )
        } else {
            (4_200_000 + 1_000_000 * u64::from(self.himds_restarts)).to_string()
        }
    }

    /// What arcfix's `probe` script prints, `key=value` per line.
    fn probe_lines(&self, host: &ServerKind, port: u16) -> String {
        // Port 0: the script reads sshd's own port (the simulated sshd has one).
        let port = if port == 0 { self.ssh_port } else { port };
        let unit = if host.windows() || !host.debian_like() {
            "sshd"
        } else {
            "ssh"
        };
        let mut lines = vec![
            format!("os={}", if host.windows() { "windows" } else { "linux" }),
            format!("sshd_unit={unit}"),
            format!("sshd_installed={}", self.sshd_installed),
            format!("sshd_active={}", self.sshd_running),
            format!("banner={}", self.banner(host, port)),
            if self.sshd_installed {
                format!("sshd_ports={}", self.ssh_port)
            } else {
                "sshd_ports=".into()
            },
            format!("probed_port={port}"),
        ];
        if !host.windows() {
            let pm = if host.debian_like() { "apt-get" } else { "dnf" };
            lines.push(format!("package_manager={pm}"));
        }
        lines.push("agent_installed=true".into());
        lines.push(format!("agent_status={}", host.agent_status));
        lines.push(format!("incoming_enabled={}", self.agent_incoming_enabled));
        if self.agent_ports_unreadable {
            lines.push("incoming_ports_unreadable=true".into());
        } else {
            lines.push(format!("incoming_ports={}", self.agent_ports.join(" ")));
        }
        lines.push(format!("agent_started={}", self.agent_started(host)));
        lines.join("\n")
    }
}

/// How a script ended, as the run command's instance view reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub exit_code: i32,
    pub output: String,
    pub error: String,
}

impl Outcome {
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            exit_code: 1,
            output: String::new(),
            error: error.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sim,
    Client,
}

/// The port a probe script checks: `PORT=2222` (bash) or `$Port = 2222` (PowerShell).
fn script_port(script: &str) -> Option<u16> {
    static PORT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(?mi)^\s*\$?port\s*=\s*['"]?(\d{1,5})['"]?\s*$"#).unwrap());
    PORT.captures(script).and_then(|c| c[1].parse().ok())
}

/// Acts out every marker line of `script` in order, stopping at the first
/// failure (like `set -e`); effects of the steps before it stay.
pub(crate) fn run_script(server: &mut Server, host: &ServerKind, script: &str) -> Outcome {
    let steps: Vec<(Dialect, &str)> = script
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix(MARKER)
                .map(|rest| (Dialect::Sim, rest.trim()))
                .or_else(|| {
                    l.strip_prefix(CLIENT_MARKER)
                        .map(|rest| (Dialect::Client, rest.trim()))
                })
        })
        .collect();
    if steps.is_empty() {
        return Outcome::failed(format!(
            "arcfix-sim: the simulator cannot run real scripts and this one has no '{MARKER} <verb>' \
             (or '{CLIENT_MARKER} <verb>') line"
        ));
    }
    let port = script_port(script).unwrap_or(22);
    let mut output = Vec::new();
    for (dialect, step) in steps {
        match act(server, host, dialect, port, step) {
            Ok(line) => output.push(line),
            Err(error) => {
                return Outcome {
                    exit_code: 1,
                    output: output.join("\n"),
                    error,
                };
            }
        }
    }
    Outcome {
        exit_code: 0,
        output: output.join("\n"),
        error: String::new(),
    }
}

fn act(
    server: &mut Server,
    host: &ServerKind,
    dialect: Dialect,
    port: u16,
    step: &str,
) -> Result<String, String> {
    let (verb, args) = step.split_once(char::is_whitespace).unwrap_or((step, ""));
    let args = args.trim();
    match verb {
        "probe" if dialect == Dialect::Sim => Ok(server.to_json(host.os_type).to_string()),
        "probe" => Ok(server.probe_lines(host, port)),
        "install-sshd" => {
            let what = if host.windows() {
                "OpenSSH.Server~~~~0.0.1.0"
            } else {
                "openssh-server"
            };
            if server.sshd_installed {
                Ok(format!("{what} is already installed"))
            } else {
                server.sshd_installed = true;
                Ok(format!("{what} installed"))
            }
        }
        "start-sshd" => {
            if !server.sshd_installed {
                return Err(if host.windows() {
                    "Start-Service : Cannot find any service with service name 'sshd'.".into()
                } else {
                    "Failed to start sshd.service: Unit sshd.service not found.".into()
                });
            }
            server.sshd_running = true;
            Ok(format!("sshd is running on port {}", server.ssh_port))
        }
        "sshd-port" => {
            let port = parse_port(args)?;
            server.ssh_port = port;
            Ok(format!("sshd now listens on port {port}"))
        }
        // Replaces the list.
        "agent-ports" => {
            let ports: Vec<&str> = args.split([',', ' ']).filter(|p| !p.is_empty()).collect();
            if ports.is_empty() {
                return Err("agent-ports needs a comma-separated list of ports".into());
            }
            let ports = ports
                .into_iter()
                .map(|p| parse_port(p).map(|n| n.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            server.agent_ports = ports;
            Ok(format!(
                "incomingconnections.ports = {}",
                server.agent_ports.join(",")
            ))
        }
        // Adds one port, keeping the others (arcfix's `agent-port` script).
        "agent-port" => {
            let port = parse_port(args)?.to_string();
            if server.agent_ports_unreadable {
                return Err(
                    "azcmagent config get incomingconnections.ports failed\nnothing changed".into(),
                );
            }
            if server.agent_ports.contains(&port) {
                return Ok(format!("port {port} already allowed"));
            }
            server.agent_ports.push(port);
            Ok(format!(
                "incomingconnections.ports = {}",
                server.agent_ports.join(",")
            ))
        }
        "agent-enable" => {
            server.agent_incoming_enabled = true;
            Ok("incomingconnections.enabled = true".into())
        }
        // Scheduled; it happens before the next run command, unless lost.
        "restart-himds" => {
            if !server.himds_restart_lost {
                server.himds_restarts += 1;
            }
            Ok("himds restart scheduled in 5 seconds".into())
        }
        _ => Err(format!("arcfix-sim: unknown verb '{verb}'")),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{}' is not a port number", text.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::{Server, ServerKind, run_script};
    use crate::sim::scenario::ServerSpec;

    const LINUX: ServerKind = ServerKind {
        os_type: "linux",
        os_sku: "Ubuntu 22.04.4 LTS",
        agent_status: "Connected",
    };

    fn server() -> Server {
        let spec = ServerSpec {
            sshd_installed: false,
            sshd_running: false,
            ..ServerSpec::default()
        };
        Server::new(&spec, &["22".to_string()])
    }

    #[test]
    fn verbs_change_the_server_in_order_and_stop_at_a_failure() {
        let mut s = server();
        let out = run_script(
            &mut s,
            &LINUX,
            "#!/bin/sh\n# arcfix-sim: start-sshd\n# arcfix-sim: restart-himds\n",
        );
        assert_eq!(out.exit_code, 1);
        assert!(out.error.contains("sshd.service not found"));
        assert_eq!(s.himds_restarts, 0);

        let script = "# arcfix-sim: install-sshd\n  # arcfix-sim: start-sshd\n# arcfix-sim: agent-ports 22, 2222\n";
        let out = run_script(&mut s, &LINUX, script);
        assert_eq!((out.exit_code, out.error.as_str()), (0, ""));
        assert!(s.sshd_installed && s.sshd_running);
        assert_eq!(s.agent_ports, ["22", "2222"]);

        let out = run_script(&mut s, &LINUX, "# arcfix-sim: probe");
        let v: serde_json::Value = serde_json::from_str(&out.output).unwrap();
        assert_eq!(v["agent_ports"], serde_json::json!(["22", "2222"]));
    }

    #[test]
    fn arcfix_scripts_are_understood_too() {
        let mut s = server();
        let probe = "#!/bin/bash\n# arcfix: probe\n# Read-only\nPORT=22\necho \"os=linux\"\n";
        let out = run_script(&mut s, &LINUX, probe);
        assert!(
            out.output
                .contains("sshd_installed=false\nsshd_active=false\nbanner=\n"),
            "{}",
            out.output
        );
        assert!(out.output.contains("sshd_unit=ssh") && out.output.contains("incoming_ports=22"));
        run_script(
            &mut s,
            &LINUX,
            "#!/bin/bash\n# arcfix: install-sshd\napt-get install -y openssh-server\n",
        );
        run_script(&mut s, &LINUX, "#!/bin/bash\n# arcfix: start-sshd\n");
        let out = run_script(
            &mut s,
            &LINUX,
            "# arcfix: agent-port 2222\n$Port = '2222'\n",
        );
        assert_eq!(out.exit_code, 0);
        assert_eq!(s.agent_ports, ["22", "2222"]);
        let out = run_script(&mut s, &LINUX, probe);
        assert!(out.output.contains("banner=SSH-2.0-"), "{}", out.output);
        assert!(out.output.contains("incoming_ports=22 2222"));
        let windows = ServerKind {
            os_type: "windows",
            os_sku: "",
            agent_status: "Connected",
        };
        let out = run_script(
            &mut s,
            &windows,
            "# arcfix: probe\n$Port = 2222\n\"os=windows\"\n",
        );
        assert!(
            out.output.contains("os=windows\nsshd_unit=sshd") && out.output.contains("banner=\n")
        );
    }

    #[test]
    fn an_unreadable_port_list_and_a_lost_restart_can_be_modelled() {
        let mut s = server();
        let probe = "# arcfix: probe\nPORT=22\n";
        let started = |s: &mut Server| {
            let out = run_script(s, &LINUX, probe).output;
            out.lines()
                .find_map(|l| l.strip_prefix("agent_started=").map(String::from))
                .unwrap()
        };
        let first = started(&mut s);
        run_script(&mut s, &LINUX, "# arcfix: restart-himds\n");
        assert_ne!(started(&mut s), first, "a restart changes the start time");

        s.himds_restart_lost = true;
        let second = started(&mut s);
        let out = run_script(&mut s, &LINUX, "# arcfix: restart-himds\n");
        assert_eq!(out.exit_code, 0, "the script itself succeeds");
        assert_eq!(started(&mut s), second, "but the agent never restarts");

        s.agent_ports_unreadable = true;
        let out = run_script(&mut s, &LINUX, probe);
        assert!(
            out.output.contains("\nincoming_ports_unreadable=true\n"),
            "{}",
            out.output
        );
        assert!(!out.output.contains("incoming_ports="), "{}", out.output);
        let out = run_script(&mut s, &LINUX, "# arcfix: agent-port 2222\n");
        assert_eq!(out.exit_code, 1);
        assert!(
            out.error
                .contains("config get incomingconnections.ports failed")
        );
        assert_eq!(s.agent_ports, ["22"], "nothing changed");
    }

    #[test]
    fn unknown_verbs_and_plain_scripts_fail() {
        let mut s = server();
        let out = run_script(&mut s, &LINUX, "# arcfix-sim: make-coffee");
        assert_eq!(out.exit_code, 1);
        assert!(out.error.contains("unknown verb 'make-coffee'"));
        assert_eq!(
            run_script(&mut s, &LINUX, "systemctl start sshd").exit_code,
            1
        );
        assert_eq!(
            run_script(&mut s, &LINUX, "# arcfix-sim: agent-ports 0").exit_code,
            1
        );
    }
}
