//! The simulated Azure Relay behind the connection probe, and the stand-in
//! for the Arc SSH proxy that talks to it (`arcfix sim-proxy`, used only by
//! the demo and the tests).
//!
//! A stand-in proxy posts the `SSHPROXY_RELAY_INFO` it was given and the port
//! to `POST /__relay/connect`; the relay checks the information against what
//! `listCredentials` issued and answers with what the real service would do:
//! a fatal line of the real proxy (texts from shared/reference/connect.md) or
//! the loopback port of a throw-away sshd to splice to. Decided from the
//! simulator's own state only, never with arcfix's logic.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sim::world::World;

/// The route the stand-in proxy posts to (not an ARM path: never logged as one).
pub const ROUTE: &str = "/__relay/connect";

/// What the relay decided for one connection.
pub(crate) fn decide(
    world: &World,
    info: &str,
    port: u16,
    sshd: Option<u16>,
    propagating_since: Option<Instant>,
    propagation: Duration,
) -> Value {
    let fatal = |msg: String| json!({ "fatal": format!("sshproxy: {msg}") });
    let info = info.trim();
    let Some(issued) = world
        .issued
        .iter()
        .rev()
        .find(|c| c.matches_relay_info(info))
    else {
        return fatal(
            "error connecting to the address: 401 the relay did not issue these credentials (simulated). websocket: bad handshake".into(),
        );
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if issued.relay["expiresOn"].as_i64().is_some_and(|e| e < now) {
        return fatal(
            "error connecting to the address: 401 the relay credentials expired (simulated). websocket: bad handshake".into(),
        );
    }
    // The machine (of any Arc type) the endpoint belongs to.
    let owner = match crate::sim::route::parse(&issued.endpoint) {
        crate::sim::route::Route::Endpoint { m, .. } => Some(m),
        _ => None,
    };
    let Some(at) = owner.and_then(|m| world.machine_at(&m.sub, &m.rg, m.kind, &m.name)) else {
        return fatal("error connecting to the address: 404 Endpoint does not exist.. websocket: bad handshake".into());
    };
    let machine = world.machine(at);
    if !machine.status.eq_ignore_ascii_case("Connected") {
        return fatal(
            "error connecting to the address: 404 There are no listeners connected for the endpoint.. websocket: bad handshake".into(),
        );
    }
    let config_on_port = machine.endpoints.iter().any(|e| {
        e.name.eq_ignore_ascii_case("default")
            && e.configs
                .iter()
                .any(|c| c.service_name.eq_ignore_ascii_case("SSH") && c.port == port as u64)
    });
    let propagated = propagating_since.is_none_or(|t| t.elapsed() >= propagation);
    if !config_on_port || !propagated {
        return fatal(
            "error connecting to the address: 404 Endpoint does not exist.. websocket: bad handshake".into(),
        );
    }
    let server = &machine.server;
    let listening = server.sshd_installed && server.sshd_running && server.ssh_port == port;
    let refused = || {
        fatal(format!(
            "error connecting to the address: 503 connection to localhost:{port} failed: dial tcp 127.0.0.1:{port}: connect: connection refused. websocket: bad handshake"
        ))
    };
    if !listening {
        return refused();
    }
    // Monitor mode turns remote connectivity off whatever the ports say.
    let allowed = server.agent_incoming_enabled
        && server.config_mode.eq_ignore_ascii_case("full")
        && (server.agent_ports.is_empty() || server.agent_ports.iter().any(|p| port_in(p, port)));
    if !allowed {
        return fatal(
            "error copying information from the connection: read tcp 127.0.0.1:50312->127.0.0.1:443: wsarecv: An existing connection was forcibly closed by the remote host.".into(),
        );
    }
    match sshd {
        Some(p) => json!({ "splice": p }),
        None => refused(),
    }
}

/// `"22"` or a range `"8000-8100"`.
fn port_in(entry: &str, port: u16) -> bool {
    let e = entry.trim().trim_matches('"');
    match e.split_once('-') {
        Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&port),
            _ => false,
        },
        None => e.parse::<u16>() == Ok(port),
    }
}

/// `arcfix sim-proxy --sim URL -p PORT`: asks the simulated relay, then prints
/// the proxy's fatal line or splices standard input and output to the sshd.
pub async fn stand_in_proxy(sim: &str, port: u16) -> i32 {
    let info = std::env::var("SSHPROXY_RELAY_INFO").unwrap_or_default();
    let fatal = |msg: &str| {
        eprintln!(
            "{}",
            json!({"level": "fatal", "msg": msg, "proxyVersion": "sim"})
        );
        1
    };
    if info.is_empty() {
        return fatal("sshproxy: SSHPROXY_RELAY_INFO is not set");
    }
    let Ok(base) = url::Url::parse(sim) else {
        return fatal("sshproxy: (simulated) bad --sim URL");
    };
    let loopback = matches!(base.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback());
    if !loopback {
        return fatal("sshproxy: (simulated) the stand-in proxy talks to 127.0.0.1 only");
    }
    let http = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => return fatal(&format!("sshproxy: {e}")),
    };
    let Ok(url) = base.join(ROUTE.trim_start_matches('/')) else {
        return fatal("sshproxy: (simulated) bad --sim URL");
    };
    let answer: Value = match http
        .post(url)
        .json(&json!({"relay_info": info, "port": port}))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => return fatal(&format!("sshproxy: error connecting to the address: {e}")),
    };
    if let Some(msg) = answer["fatal"].as_str() {
        return fatal(msg);
    }
    let Some(target) = answer["splice"].as_u64() else {
        return fatal("sshproxy: (simulated) the relay gave no answer");
    };
    let sock = match tokio::net::TcpStream::connect(("127.0.0.1", target as u16)).await {
        Ok(s) => s,
        Err(e) => {
            return fatal(&format!(
                "sshproxy: error connecting to the address: 503 connection to localhost:{port} failed: {e}. websocket: bad handshake"
            ));
        }
    };
    let (mut from_server, mut to_server) = sock.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut to_server).await;
        use tokio::io::AsyncWriteExt;
        let _ = to_server.shutdown().await;
    };
    let down = async {
        let mut out = tokio::io::stdout();
        let _ = tokio::io::copy(&mut from_server, &mut out).await;
        use tokio::io::AsyncWriteExt;
        let _ = out.flush().await;
    };
    // The session ends when both directions have closed.
    tokio::join!(up, down);
    0
}

#[cfg(test)]
mod tests {
    use super::port_in;

    #[test]
    fn ports_and_ranges() {
        assert!(port_in("22", 22));
        assert!(port_in("\"22\"", 22));
        assert!(port_in("8000-8100", 8022));
        assert!(!port_in("8000-8100", 22));
        assert!(!port_in("x", 22));
    }
}
