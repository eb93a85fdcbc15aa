//! What can be observed of SSH on an Arc-enabled server: the SSH banner on the
//! port, the sshd service, and the Connected Machine agent's settings. Gathered
//! locally by running the programs, or remotely by a probe script whose output
//! (`key=value` lines) parses into the same facts.

use std::path::Path;
use std::time::Duration;

use crate::os::{Host, Os};

/// The facts the server-side checks decide on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub os: Option<Os>,
    pub sshd_installed: bool,
    /// The service unit (`ssh` on Debian/Ubuntu, `sshd` elsewhere and on Windows).
    pub sshd_unit: String,
    pub sshd_active: bool,
    /// The first line read from 127.0.0.1:port, when something answered.
    pub banner: Option<String>,
    pub agent_installed: bool,
    pub agent_status: Option<String>,
    pub agent_version: Option<String>,
    /// The Arc resource this agent is connected as (`azcmagent show`'s resourceName).
    pub agent_resource_name: Option<String>,
    pub incoming_enabled: Option<bool>,
    /// `incomingconnections.ports`; empty means "not restricted".
    pub incoming_ports: Vec<PortRange>,
    /// `azcmagent config get incomingconnections.ports` failed or printed
    /// something other than ports: whether a port is allowed is unknown.
    pub incoming_ports_unreadable: bool,
    /// When the agent service (himdsd/himds) last started, as the probe script
    /// reports it; a restart is confirmed by a change.
    pub agent_started: Option<String>,
    pub package_manager: Option<String>,
    /// The ports sshd is configured to listen on (`sshd -T`), when it said.
    pub sshd_ports: Vec<u16>,
    /// The port whose banner the probe read (sshd's own when none was chosen).
    pub probed_port: Option<u16>,
}

impl ServerFacts {
    pub fn banner_ok(&self) -> bool {
        self.banner
            .as_deref()
            .is_some_and(|b| b.starts_with("SSH-2.0-") || b.starts_with("SSH-1.99-"))
    }
    pub fn port_allowed(&self, port: u16) -> bool {
        !self.incoming_ports_unreadable
            && (self.incoming_ports.is_empty()
                || self.incoming_ports.iter().any(|r| r.contains(port.into())))
    }

    /// Parses the probe script's `key=value` lines; unknown keys are ignored.
    pub fn parse(output: &str) -> ServerFacts {
        let mut f = ServerFacts::default();
        for line in output.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            let v = v.trim();
            let yes = v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case("yes");
            match k.trim() {
                "os" => {
                    f.os = Some(if v.eq_ignore_ascii_case("windows") {
                        Os::Windows
                    } else {
                        Os::Linux
                    })
                }
                "sshd_installed" => f.sshd_installed = yes,
                "sshd_unit" => f.sshd_unit = v.to_string(),
                "sshd_active" => f.sshd_active = yes,
                "banner" => f.banner = (!v.is_empty()).then(|| v.to_string()),
                "agent_installed" => f.agent_installed = yes,
                "agent_status" => f.agent_status = (!v.is_empty()).then(|| v.to_string()),
                "agent_version" => f.agent_version = (!v.is_empty()).then(|| v.to_string()),
                "incoming_enabled" => f.incoming_enabled = parse_bool(v),
                "incoming_ports" => match parse_port_list(v) {
                    Some(ports) => f.incoming_ports = ports,
                    None => f.incoming_ports_unreadable = true,
                },
                "incoming_ports_unreadable" => f.incoming_ports_unreadable = yes,
                "agent_started" => f.agent_started = (!v.is_empty()).then(|| v.to_string()),
                "package_manager" => f.package_manager = (!v.is_empty()).then(|| v.to_string()),
                "sshd_ports" => {
                    f.sshd_ports = v
                        .split_whitespace()
                        .filter_map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
                        .collect()
                }
                "probed_port" => f.probed_port = v.parse::<u16>().ok().filter(|p| *p > 0),
                _ => {}
            }
        }
        f
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim().to_ascii_lowercase();
    if v.contains("false") {
        Some(false)
    } else if v.contains("true") {
        Some(true)
    } else {
        None
    }
}

/// One entry of the agent's `incomingconnections.ports`: a port, or a range
/// `low-high`. Shown as the agent writes it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Whether every port of `other` is in this entry.
    pub fn contains(&self, other: PortRange) -> bool {
        self.low <= other.low && other.high <= self.high
    }
}

impl From<u16> for PortRange {
    fn from(port: u16) -> PortRange {
        PortRange {
            low: port,
            high: port,
        }
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl std::fmt::Debug for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `azcmagent config get incomingconnections.ports` output read strictly:
/// ports and ranges separated by commas or spaces, optionally quoted and in
/// brackets (`22`, `22,8000-8100`, `[22 23]`, `["22","23"]`; nothing: not
/// restricted). `None` for anything else, which must never be written back.
pub fn parse_port_list(v: &str) -> Option<Vec<PortRange>> {
    fn port(s: &str) -> Option<u16> {
        let ok = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| s.parse().ok()).flatten().filter(|p| *p > 0)
    }
    let v = v.trim();
    let inner = match v.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']')?,
        None => v,
    };
    let mut ports: Vec<PortRange> = Vec::new();
    for item in inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let item = item
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .unwrap_or(item);
        let (low, high) = item.split_once('-').unwrap_or((item, item));
        let range = PortRange {
            low: port(low)?,
            high: port(high)?,
        };
        if range.low > range.high {
            return None;
        }
        if !ports.contains(&range) {
            ports.push(range);
        }
    }
    Some(ports)
}

/// Whether this machine is an Arc-enabled server: `azcmagent` on PATH or its service installed.
pub fn agent_installed(host: &Host) -> bool {
    host.which("azcmagent").is_some()
        || match host.os {
            Os::Linux => {
                Path::new("/lib/systemd/system/himdsd.service").exists()
                    || Path::new("/etc/systemd/system/himdsd.service").exists()
            }
            Os::Windows => Path::new(&Os::Windows.join(
                host.var("ProgramFiles").unwrap_or("C:\\Program Files"),
                &["AzureConnectedMachineAgent", "azcmagent.exe"],
            ))
            .exists(),
            Os::Macos => false,
        }
}

/// Reads the first line a server sends on 127.0.0.1:port.
pub async fn banner(port: u16) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let mut stream = tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Runs a program (no shell) by the absolute path `Host::program` finds and
/// returns its exit code and standard output; `None` when it is not installed.
pub async fn run(host: &Host, program: &str, args: &[&str]) -> Option<(i32, String)> {
    let child = host
        .command(program)?
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .ok()?
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The sshd unit name for this Linux distribution.
pub fn linux_sshd_unit(host: &Host) -> &'static str {
    if host.which("apt-get").is_some() || Path::new("/etc/debian_version").exists() {
        "ssh"
    } else {
        "sshd"
    }
}

/// Gathers the facts on this machine (as the server).
pub async fn local(host: &Host, port: u16) -> ServerFacts {
    let mut f = ServerFacts {
        os: Some(host.os),
        ..Default::default()
    };
    f.package_manager = host.package_manager().map(|p| p.program().to_string());
    let banner_probe = banner(port);
    let facts = async {
        let mut f = ServerFacts::default();
        match host.os {
            Os::Windows => {
                f.sshd_unit = "sshd".into();
                let root = host.var("SystemRoot").unwrap_or("C:\\Windows");
                f.sshd_installed =
                    Path::new(&Os::Windows.join(root, &["System32", "OpenSSH", "sshd.exe"]))
                        .exists();
                if let Some((_, out)) = run(
                    host,
                    "powershell",
                    &[
                        "-NoProfile",
                        "-NonInteractive",
                        "-Command",
                        "(Get-Service -Name sshd).Status",
                    ],
                )
                .await
                {
                    f.sshd_active = out.trim().eq_ignore_ascii_case("Running");
                }
            }
            _ => {
                f.sshd_unit = linux_sshd_unit(host).into();
                f.sshd_installed = ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
                    .iter()
                    .any(|p| Path::new(p).exists())
                    || host.which("sshd").is_some();
                if let Some((code, out)) = run(
                    host,
                    "systemctl",
                    &["is-active", &format!("{}.service", f.sshd_unit)],
                )
                .await
                {
                    f.sshd_active = code == 0 && out.trim() == "active";
                }
            }
        }
        f.agent_installed = agent_installed(host);
        if host.which("azcmagent").is_some() {
            let (show, enabled, ports) = tokio::join!(
                run(host, "azcmagent", &["show", "--json"]),
                run(
                    host,
                    "azcmagent",
                    &["config", "get", "incomingconnections.enabled"]
                ),
                run(
                    host,
                    "azcmagent",
                    &["config", "get", "incomingconnections.ports"]
                ),
            );
            if let Some((0, out)) = show {
                let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
                let field = |names: &[&str]| {
                    names
                        .iter()
                        .find_map(|n| v.get(*n).and_then(|x| x.as_str()).map(String::from))
                };
                f.agent_status = field(&["status", "Status", "agentStatus"]);
                f.agent_version = field(&["agentVersion", "AgentVersion"]);
                f.agent_resource_name = field(&["resourceName", "ResourceName"]);
            }
            if let Some((0, out)) = enabled {
                f.incoming_enabled = parse_bool(&out);
            }
            match ports.and_then(|(code, out)| (code == 0).then(|| parse_port_list(&out)).flatten())
            {
                Some(ports) => f.incoming_ports = ports,
                None => f.incoming_ports_unreadable = true,
            }
        }
        f
    };
    let (b, mut g) = tokio::join!(banner_probe, facts);
    g.banner = b;
    g.os = f.os;
    g.package_manager = f.package_manager;
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_output() {
        let f = ServerFacts::parse(
            "os=linux\nsshd_installed=true\nsshd_unit=ssh\nsshd_active=false\nbanner=\nagent_installed=true\nagent_status=Connected\nincoming_enabled=true\nincoming_ports=[22 2222]\njunk\n",
        );
        assert!(f.sshd_installed && !f.sshd_active && !f.banner_ok());
        assert_eq!(f.sshd_unit, "ssh");
        assert_eq!(f.incoming_ports, [22.into(), 2222.into()]);
        assert!(f.port_allowed(2222) && !f.port_allowed(23));
        assert_eq!(f.incoming_enabled, Some(true));
        assert!(ServerFacts::default().port_allowed(22));
        // A failed or garbled read allows nothing: the port is not known to be allowed.
        for unknown in ["incoming_ports_unreadable=true", "incoming_ports=Error: 22"] {
            let f = ServerFacts::parse(unknown);
            assert!(
                f.incoming_ports_unreadable && !f.port_allowed(22),
                "{unknown}"
            );
        }
        let f = ServerFacts::parse("incoming_ports=8000-8100\nagent_started=123456\n");
        assert!(f.port_allowed(8022) && !f.port_allowed(22));
        assert_eq!(f.agent_started.as_deref(), Some("123456"));
    }

    #[test]
    fn ports_and_booleans_in_any_form() {
        let list = |v: &str| parse_port_list(v).map(|p| format!("{p:?}"));
        assert_eq!(list("22").as_deref(), Some("[22]"));
        assert_eq!(list("[\"22\",\"6516\"]").as_deref(), Some("[22, 6516]"));
        assert_eq!(
            list(" [22 2222, 8000-8100]\n").as_deref(),
            Some("[22, 2222, 8000-8100]")
        );
        assert_eq!(list("[]").as_deref(), Some("[]"));
        assert_eq!(list("").as_deref(), Some("[]"));
        for junk in [
            "Error: config file not found",
            "null",
            "[22",
            "22;23",
            "0",
            "65536",
            "22-",
            "-22",
            "100-20",
            "1-2-3",
            "\"22",
            "022222",
        ] {
            assert_eq!(list(junk), None, "{junk}");
        }
        assert_eq!(
            parse_bool("incomingconnections.enabled : false\n"),
            Some(false)
        );
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool(""), None);
    }

    #[tokio::test]
    async fn a_closed_port_has_no_banner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(banner(port).await, None);
    }
}
