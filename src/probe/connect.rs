//! The connection probe: the real `ssh` through the Arc SSH proxy already on
//! this machine, with relay credentials only in the environment, offering no
//! key. Seeing the server's SSH banner proves the whole path (client, relay,
//! agent, port, sshd); authentication is never attempted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::os::{Host, Os};
use crate::probe::{modules, proxy};
use crate::problem;

/// The user the probe names: sshd logs "Invalid user arcfix-probe".
pub const PROBE_USER: &str = "arcfix-probe";

/// The relay fields the proxy needs, as `listCredentials` answers them.
const RELAY_FIELDS: [&str; 6] = [
    "namespaceName",
    "namespaceNameSuffix",
    "hybridConnectionName",
    "accessKey",
    "expiresOn",
    "serviceConfigurationToken",
];

/// Relay credentials for one machine. Secret: never printed, logged or saved.
pub struct Relay {
    fields: serde_json::Map<String, Value>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay { … }")
    }
}

impl Relay {
    /// Reads the `relay` object of a `listCredentials` answer.
    pub fn from_answer(body: &Value) -> Result<Relay> {
        let relay = body
            .get("relay")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::input("the listCredentials answer has no relay information"))?;
        let mut fields = serde_json::Map::new();
        for f in RELAY_FIELDS {
            if let Some(v) = relay.get(f) {
                fields.insert(f.to_string(), v.clone());
            }
        }
        for needed in ["namespaceName", "hybridConnectionName", "accessKey"] {
            if !fields.get(needed).is_some_and(|v| v.is_string()) {
                return Err(Error::input(format!(
                    "the listCredentials answer lacks relay.{needed}"
                )));
            }
        }
        Ok(Relay { fields })
    }

    /// What the proxy reads from `SSHPROXY_RELAY_INFO`: base64 of `{"relay": {…}}`,
    /// as `az ssh arc` and Az.Ssh encode it.
    pub fn encoded(&self) -> String {
        let doc = serde_json::json!({ "relay": self.fields });
        base64::engine::general_purpose::STANDARD.encode(doc.to_string())
    }

    /// A relay field as text (never a secret: see `secrets`).
    pub fn field(&self, name: &str) -> Option<&str> {
        if matches!(name, "accessKey" | "serviceConfigurationToken") {
            return None;
        }
        self.fields.get(name).and_then(Value::as_str)
    }

    /// The values that must never appear in output.
    pub fn secrets(&self) -> Vec<String> {
        ["accessKey", "serviceConfigurationToken"]
            .iter()
            .filter_map(|f| self.fields.get(*f).and_then(Value::as_str))
            .filter(|s| s.len() >= 8)
            .map(String::from)
            .collect()
    }
}

/// The proxy the probe would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyChoice {
    Ready(PathBuf),
    /// Found, but this user may not execute it.
    NotExecutable(PathBuf),
    Missing,
}

/// The Azure CLI's newest proxy in `~/.clientsshproxy`, else the one of the
/// newest installed Az.Ssh.ArcProxy 1.x. arcfix never downloads one.
pub fn find_proxy(host: &Host) -> ProxyChoice {
    let (ps_prefix, az_prefix) = proxy::prefixes(host);
    let mut candidates: Vec<proxy::ProxyFile> =
        proxy::scan(host, &host.home_path(&[".clientsshproxy"]), &az_prefix);
    // Newest first: the version is only in the name.
    candidates.sort_by_key(|f| std::cmp::Reverse(version_in_name(&f.path)));
    let mut modules: Vec<modules::Installed> = modules::find(host, modules::ARC_PROXY)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.version.0 == 1)
        .collect();
    modules.sort_by_key(|m| std::cmp::Reverse(m.version));
    for m in &modules {
        candidates.extend(proxy::scan(host, &m.folder, &ps_prefix));
    }
    let wanted_ext = host.os == Os::Windows;
    let candidates: Vec<&proxy::ProxyFile> = candidates
        .iter()
        .filter(|f| {
            let exe = f.path.extension().is_some_and(|e| e == "exe");
            exe == wanted_ext
        })
        .collect();
    if let Some(f) = candidates
        .iter()
        .find(|f| f.state == proxy::ProxyState::Executable)
    {
        return ProxyChoice::Ready(f.path.clone());
    }
    match candidates.first() {
        Some(f) => ProxyChoice::NotExecutable(f.path.clone()),
        None => ProxyChoice::Missing,
    }
}

/// `sshProxy_linux_amd64_1_3_026973` → [1, 3, 26973].
fn version_in_name(p: &Path) -> Vec<u64> {
    let name = p
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.splitn(4, '_')
        .nth(3)
        .unwrap_or_default()
        .split(['_', '.'])
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// The `ProxyCommand` value: `"<proxy>" -p <port>`, refusing paths a shell
/// would read more into.
pub fn proxy_command(proxy: &Path, port: u16) -> std::result::Result<String, String> {
    let p = proxy.display().to_string();
    if let Some(c) = p
        .chars()
        .find(|c| matches!(c, '"' | '$' | '`' | '\n' | '\r') || c.is_control())
    {
        return Err(format!(
            "the proxy path {} contains {c:?}, which a ProxyCommand cannot carry safely",
            crate::text::sanitize(&p)
        ));
    }
    Ok(format!("\"{}\" -p {port}", p.replace('%', "%%")))
}

/// ssh's arguments: no user configuration, batch mode, no key offered, a
/// private known-hosts file, a connect timeout, verbose for the banner.
pub fn ssh_args(
    known_hosts: &Path,
    proxy_command: &str,
    timeout: Duration,
    host: &str,
) -> Vec<String> {
    let secs = timeout.as_secs().clamp(1, 120);
    let mut args: Vec<String> = vec![
        "-v".into(),
        "-F".into(),
        "none".into(),
        "-n".into(),
        "-T".into(),
    ];
    for o in [
        "BatchMode=yes".to_string(),
        "PreferredAuthentications=none".into(),
        "PubkeyAuthentication=no".into(),
        "IdentityAgent=none".into(),
        "ControlMaster=no".into(),
        "ControlPath=none".into(),
        "StrictHostKeyChecking=accept-new".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".into(),
        "UpdateHostKeys=no".into(),
        format!("ConnectTimeout={secs}"),
        format!("ProxyCommand={proxy_command}"),
    ] {
        args.push("-o".into());
        args.push(o);
    }
    args.extend(["-l".into(), PROBE_USER.into(), host.into()]);
    args
}

pub use crate::plan::Stage;

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The server's banner was seen: the path works end to end.
    pub ok: bool,
    pub banner: Option<String>,
    pub stage: Stage,
    /// The lines that show it (secrets removed).
    pub evidence: String,
    /// The known problem it points to, when not `ok`.
    pub problem: Option<String>,
}

/// The problems a connection failure can point to, as the catalogue names them.
/// (`service-config-outdated` is left to the Azure side, which reads the
/// agent's version: ssh's "Connection closed by UNKNOWN port 65535" alone
/// follows every proxy failure.)
pub(crate) const PROBE_PROBLEMS: [&str; 6] = [
    problem::SSH_PORT_NOT_ENABLED,
    problem::AGENT_DISCONNECTED,
    problem::SSHD_NOT_RUNNING,
    problem::PROXY_NOT_EXECUTABLE,
    problem::RELAY_BLOCKED,
    problem::LOGIN_ROLE_MISSING,
];

/// Reads ssh's `-v` output and the proxy's lines. `ruled_out`: problems this
/// run has already seen are absent (e.g. the service configuration was read
/// and is on the port), so an ambiguous message points to the next one.
pub fn classify(output: &str, timed_out: bool, ruled_out: &[&str]) -> Outcome {
    let banner = output.lines().find_map(|l| {
        let rest = l.split("Remote protocol version ").nth(1)?;
        let (proto, software) = rest.split_once(", remote software version ")?;
        Some(format!("SSH-{}-{}", proto.trim(), software.trim()))
    });
    let after_banner = output.contains("Permission denied (")
        || output.contains("Host key verification failed.")
        || output.contains("Authenticated to ");
    let fatal = proxy_fatal(output);
    let last = last_lines(output);
    if let Some(b) = &banner
        && after_banner
    {
        return Outcome {
            ok: true,
            banner: Some(b.clone()),
            stage: Stage::Auth,
            evidence: format!("server banner {b}; authentication not attempted"),
            problem: None,
        };
    }
    let evidence = fatal.clone().unwrap_or_else(|| last.clone());
    let timed_out = timed_out || output.contains("timed out during banner exchange");
    let evidence = if timed_out {
        format!("no answer within the time limit; {evidence}")
    } else {
        evidence
    };
    if banner.is_some() {
        return Outcome {
            ok: false,
            banner,
            stage: Stage::Server,
            evidence,
            problem: Some(problem::SSH_CONNECTION_FAILED.into()),
        };
    }
    // The proxy's own message is the most specific evidence; ssh's closing
    // lines ("Connection closed by UNKNOWN port 65535") only follow from it.
    let known_in = |text: &str| {
        crate::explain::explain(text)
            .into_iter()
            .find(|m| {
                PROBE_PROBLEMS.contains(&m.id.as_str()) && !ruled_out.contains(&m.id.as_str())
            })
            .map(|m| m.id)
    };
    let known = fatal.as_deref().and_then(known_in).or_else(|| {
        if fatal.is_some() {
            None
        } else {
            known_in(output)
        }
    });
    let stage = match known.as_deref() {
        Some(
            problem::SSH_PORT_NOT_ENABLED | problem::AGENT_DISCONNECTED | problem::RELAY_BLOCKED,
        ) => Stage::Relay,
        Some(problem::SSHD_NOT_RUNNING | problem::SERVICE_CONFIG_OUTDATED) => Stage::Server,
        Some(problem::PROXY_NOT_EXECUTABLE) => Stage::Proxy,
        _ if fatal.is_some() => Stage::Relay,
        _ => Stage::Proxy,
    };
    Outcome {
        ok: false,
        banner: None,
        stage,
        evidence,
        problem: Some(known.unwrap_or_else(|| problem::SSH_CONNECTION_FAILED.into())),
    }
}

/// The `msg` of the proxy's last fatal JSON line.
fn proxy_fatal(output: &str) -> Option<String> {
    output.lines().rev().find_map(|l| {
        let start = l.find('{')?;
        let v: Value = serde_json::from_str(l[start..].trim()).ok()?;
        let level = v.get("level")?.as_str()?;
        matches!(level, "fatal" | "error")
            .then(|| v.get("msg")?.as_str().map(String::from))
            .flatten()
    })
}

/// ssh's last lines that are not debug chatter, joined.
fn last_lines(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("debug") && !l.starts_with("OpenSSH_"))
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "ssh ended without a message".into()
    } else {
        tail.join(" | ")
    }
}

/// Removes secrets from text before it is shown (in every form: see `crate::redact`).
pub use crate::redact::redact;

/// What ssh printed, and whether it was killed at the time limit.
pub struct Ran {
    pub output: String,
    pub timed_out: bool,
}

/// Runs ssh with the relay information in its environment only, in its own
/// process group (the proxy is its child), killed as a group at `limit`, on
/// Ctrl-C, or when the probe is abandoned (the demo stopping). While it runs
/// the group is held for `interrupt`: a run stopped by Ctrl-C kills it too.
pub async fn run_ssh(
    host: &Host,
    ssh: &Path,
    args: &[String],
    relay_info: &str,
    limit: Duration,
) -> Result<Ran> {
    let mut cmd = tokio::process::Command::new(ssh);
    cmd.args(args)
        .env_clear()
        .env("SSHPROXY_RELAY_INFO", relay_info)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for keep in [
        "PATH",
        "HOME",
        "USERPROFILE",
        "SystemRoot",
        "TMPDIR",
        "TEMP",
        "TMP",
        "LANG",
    ] {
        if let Some(v) = host.var(keep) {
            cmd.env(keep, v);
        }
    }
    if host.os != Os::Windows {
        // OpenSSH runs the ProxyCommand with $SHELL -c "exec …".
        cmd.env("SHELL", "/bin/sh");
    }
    let (child, hold) = crate::interrupt::Hold::spawn(&mut cmd)
        .map_err(|e| Error::io(format!("cannot run {}", ssh.display()), e))?;
    // Whatever ends the wait, the group goes: ssh only sends its proxy SIGHUP
    // on the way out, and a proxy may ignore it.
    let group = GroupKill(child.id());
    let ended = tokio::select! {
        out = tokio::time::timeout(limit, child.wait_with_output()) => Some(out),
        _ = crate::interrupt::raised() => None,
    };
    drop(group);
    drop(hold);
    match ended {
        Some(Ok(out)) => {
            let out = out.map_err(|e| Error::io("ssh", e))?;
            let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            Ok(Ran {
                output: text,
                timed_out: false,
            })
        }
        Some(Err(_)) => Ok(Ran {
            output: String::new(),
            timed_out: true,
        }),
        None => Err(Error::Other(
            "interrupted (Ctrl-C): ssh and the proxy were stopped".into(),
        )),
    }
}

/// Kills a probe's process group when dropped: on every way out of the wait,
/// including the wait itself being abandoned.
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            crate::os::kill_process_group(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_information_is_base64_json_of_the_six_fields() {
        let body = serde_json::json!({"relay": {
            "namespaceName": "ns", "namespaceNameSuffix": "servicebus.windows.net",
            "hybridConnectionName": "hc", "accessKey": "SharedAccessSignature sr=a&sig=SECRET&se=1&skn=k",
            "expiresOn": 1700000000, "serviceConfigurationToken": "tok-abcdefgh", "extra": 1}});
        let r = Relay::from_answer(&body).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(r.encoded())
            .unwrap();
        let v: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(v["relay"]["hybridConnectionName"], "hc");
        assert_eq!(v["relay"]["expiresOn"], 1700000000);
        assert!(v["relay"].get("extra").is_none());
        assert_eq!(format!("{r:?}"), "Relay { … }");
        assert!(r.secrets().iter().any(|s| s.contains("SECRET")));
        assert!(Relay::from_answer(&serde_json::json!({"relay": {}})).is_err());
        assert!(Relay::from_answer(&serde_json::json!([])).is_err());
    }

    #[test]
    fn proxy_commands_quote_the_path_and_refuse_shell_syntax() {
        assert_eq!(
            proxy_command(Path::new("/home/a b/sshProxy_linux_amd64_1"), 22).unwrap(),
            "\"/home/a b/sshProxy_linux_amd64_1\" -p 22"
        );
        assert_eq!(
            proxy_command(Path::new("/h/100%/p"), 2222).unwrap(),
            "\"/h/100%%/p\" -p 2222"
        );
        for bad in ["/h/\"x", "/h/$(id)", "/h/`id`", "/h/a\nb"] {
            assert!(proxy_command(Path::new(bad), 22).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_ssh_options_offer_no_key_and_read_no_user_config() {
        let a = ssh_args(
            Path::new("/t/kh"),
            "\"/p\" -p 22",
            Duration::from_secs(9),
            "web-01",
        );
        let joined = a.join(" ");
        for want in [
            "-F none",
            "BatchMode=yes",
            "PreferredAuthentications=none",
            "UserKnownHostsFile=/t/kh",
            "ConnectTimeout=9",
            "ProxyCommand=\"/p\" -p 22",
            "-l arcfix-probe web-01",
        ] {
            assert!(joined.contains(want), "{want}: {joined}");
        }
        assert_eq!(a[0], "-v");
    }

    const OK: &str = "OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026\n\
        debug1: Remote protocol version 2.0, remote software version OpenSSH_9.2p1 Debian-2+deb12u6\n\
        debug1: Authentications that can continue: publickey,password\n\
        arcfix-probe@web-01: Permission denied (publickey,password).\n";

    #[test]
    fn classifies_the_banner_and_the_proxys_failures() {
        let ok = classify(OK, false, &[]);
        assert!(ok.ok);
        assert_eq!(
            ok.banner.as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6")
        );
        assert_eq!(ok.stage, Stage::Auth);

        let cases = [
            (
                r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: 404 Endpoint does not exist.. websocket: bad handshake","proxyVersion":"1.3.026973"}"#,
                "ssh-port-not-enabled",
                Stage::Relay,
            ),
            (
                r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: 404 There are no listeners connected for the endpoint.. websocket: bad handshake","proxyVersion":"1.3.026973"}"#,
                "agent-disconnected",
                Stage::Relay,
            ),
            (
                r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp 127.0.0.1:22: connect: connection refused. websocket: bad handshake","proxyVersion":"1.3.026973"}"#,
                "sshd-not-running",
                Stage::Server,
            ),
            (
                "sh: 1: exec: /home/u/.clientsshproxy/sshProxy_linux_amd64_1_3_026973: Permission denied",
                "proxy-not-executable",
                Stage::Proxy,
            ),
            (
                r#"{"level":"fatal","msg":"sshproxy: something nobody has seen before","proxyVersion":"1.3.026973"}"#,
                "ssh-connection-failed",
                Stage::Relay,
            ),
        ];
        for (line, id, stage) in cases {
            let text = format!(
                "debug1: Executing proxy command: exec \"/p\" -p 22\n{line}\nkex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535\n"
            );
            let o = classify(&text, false, &[]);
            assert!(!o.ok, "{line}");
            assert_eq!(o.problem.as_deref(), Some(id), "{line}: {o:?}");
            assert_eq!(o.stage, stage, "{line}");
            assert!(!o.evidence.is_empty());
        }
        // Dropped by the agent: the port is not enabled, or sshd is down; once
        // the service configuration was seen on the port, it is the server.
        let dropped = r#"{"level":"fatal","msg":"sshproxy: error copying information from the connection: read tcp: wsarecv: An existing connection was forcibly closed by the remote host.","proxyVersion":"1.3.026973"}"#;
        assert_eq!(
            classify(dropped, false, &[]).problem.as_deref(),
            Some("ssh-port-not-enabled")
        );
        let o = classify(dropped, false, &["ssh-port-not-enabled"]);
        assert_eq!(o.problem.as_deref(), Some("sshd-not-running"));
        assert_eq!(o.stage, Stage::Server);
        let hung = classify("debug1: Executing proxy command\n", true, &[]);
        assert!(!hung.ok && hung.evidence.contains("time limit"), "{hung:?}");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = redact(
            "key SharedAccessSignature sr=x&sig=abc%2B&se=1&skn=y and tok-abcdefgh",
            &["tok-abcdefgh".into()],
        );
        assert!(!s.contains("abc%2B") && !s.contains("tok-abcdefgh"), "{s}");
        // What the proxy holds, in the forms it may print it.
        let relay = Relay {
            fields: serde_json::from_value(serde_json::json!({
                "namespaceName": "ns", "accessKey": "key+with/slash=0123", "expiresOn": 1
            }))
            .unwrap(),
        };
        let pct: String = url::form_urlencoded::byte_serialize(b"key+with/slash=0123").collect();
        let text = format!(
            "debug1: relay {} failed for {pct}; info={}",
            "key+with/slash=0123",
            relay.encoded()
        );
        let s = redact(&text, &relay.secrets());
        assert!(!s.contains("key+with") && !s.contains(&pct), "{s}");
        assert!(!s.contains(&relay.encoded()[..16]), "{s}");
    }

    #[test]
    fn the_newest_cli_proxy_wins() {
        let mut v = [
            PathBuf::from("/h/sshProxy_linux_amd64_1_3_017634"),
            PathBuf::from("/h/sshProxy_linux_amd64_1_3_026973"),
            PathBuf::from("/h/sshProxy_linux_amd64_1_3_026031"),
        ];
        v.sort_by_key(|p| std::cmp::Reverse(version_in_name(p)));
        assert!(v[0].ends_with("sshProxy_linux_amd64_1_3_026973"));
        assert_eq!(
            version_in_name(Path::new("sshProxy_windows_amd64_1.3.022941.exe")),
            [1, 3, 22941]
        );
    }
}
