//! `--connect`'s relay path check, on loopback only: the real ssh and a
//! stand-in proxy that fails the way the Arc proxy does when the network is in
//! the way, then arcfix checks the path to the relay host the simulator's
//! listCredentials gave (azgnrelay-eastus-l1.servicebus.windows.net) step by
//! step against servers of this test: a TLS relay with certificates of a
//! throw-away CA (rcgen), a CONNECT proxy that allows, refuses or hangs.
//!
//! No name is looked up: the test build's `ARCFIX_TEST_RELAY_ADDR` stands for
//! name resolution (a loopback address, or `nxdomain`; without it, relay
//! credentials from the simulator are never followed), proxies are given as
//! 127.0.0.1, and `SSL_CERT_FILE` (honoured by the platform verifier on Linux,
//! as for all of arcfix's HTTPS) makes the test CA the only one trusted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::azure::Azure;
use crate::harness::Output;

/// The relay host of the simulator's first machine (`healthy`: eastus).
const HOST: &str = "azgnrelay-eastus-l1.servicebus.windows.net";

/// What the Arc proxy prints when its WebSocket dial to the relay times out.
const BLOCKED: &str = r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: dial tcp 20.42.1.7:443: i/o timeout","proxyVersion":"1.3.026973"}"#;

/// A certificate chain and its key (PKCS#8 DER).
type Chain = (Vec<CertificateDer<'static>>, Vec<u8>);

/// A test CA (trusted through SSL_CERT_FILE) and the certificates the relay
/// may present.
struct Pki {
    ca_pem: String,
    /// *.servicebus.windows.net by the test CA.
    good: Chain,
    /// Another name, by the test CA.
    wrong_host: Chain,
    /// The right name, by a CA nobody trusts (an inspecting proxy's).
    untrusted: Chain,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(name: &str, by: &CertifiedIssuer<'static, KeyPair>) -> Chain {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.signed_by(&key, by).unwrap();
    (
        vec![cert.der().clone(), by.der().clone()],
        key.serialize_der(),
    )
}

fn pki() -> Pki {
    let test_ca = ca("arcfix test CA");
    let inspector = ca("Corp TLS Inspection CA");
    Pki {
        ca_pem: test_ca.pem(),
        good: leaf("*.servicebus.windows.net", &test_ca),
        wrong_host: leaf("filter.corp.example", &test_ca),
        untrusted: leaf("*.servicebus.windows.net", &inspector),
    }
}

/// How the loopback relay answers the upgrade.
#[derive(Clone, Copy)]
enum Answer {
    /// As Azure Relay does without a token: an error with its TrackingId.
    Relay,
    /// A block page.
    Html,
    /// Nothing.
    Silent,
}

/// How the loopback CONNECT proxy behaves.
#[derive(Clone, Copy)]
enum Proxy {
    Allow,
    Refuse,
    Hang,
}

/// Loopback servers on a runtime of their own, stopped with it.
struct Local {
    rt: tokio::runtime::Runtime,
    /// The request heads the servers received.
    seen: Arc<Mutex<Vec<String>>>,
}

async fn head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

impl Local {
    fn new() -> Local {
        Local {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            seen: Arc::default(),
        }
    }

    fn listener(&self) -> (tokio::net::TcpListener, SocketAddr) {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std.set_nonblocking(true).unwrap();
        let addr = std.local_addr().unwrap();
        let _in = self.rt.enter();
        (tokio::net::TcpListener::from_std(std).unwrap(), addr)
    }

    /// A TLS relay presenting `chain`, answering the upgrade with `answer`.
    fn relay(&self, chain: &Chain, answer: Answer) -> SocketAddr {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain.0.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.1.clone())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (listener, addr) = self.listener();
        let seen = self.seen.clone();
        self.rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Some(h) = head(&mut tls).await else {
                        return;
                    };
                    seen.lock().unwrap().push(h);
                    let reply: &[u8] = match answer {
                        Answer::Relay => b"HTTP/1.1 401 MissingToken\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: 151\r\n\r\n<Error><Code>401</Code><Detail>MissingToken: Relay security token is required. TrackingId:8b3c0d1e-0000-4000-8000-00000000test_G1</Detail></Error>",
                        Answer::Html => b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 44\r\n\r\n<html><body>Blocked by policy</body></html>",
                        Answer::Silent => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                    };
                    let _ = tls.write_all(reply).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        addr
    }

    /// A CONNECT proxy in front of `relay`.
    fn proxy(&self, mode: Proxy, relay: SocketAddr) -> SocketAddr {
        let (listener, addr) = self.listener();
        let seen = self.seen.clone();
        self.rt.spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(h) = head(&mut tcp).await else {
                        return;
                    };
                    seen.lock().unwrap().push(h);
                    match mode {
                        Proxy::Allow => {
                            let Ok(mut up) = tokio::net::TcpStream::connect(relay).await else {
                                return;
                            };
                            let _ = tcp
                                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                                .await;
                            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut up).await;
                        }
                        Proxy::Refuse => {
                            let _ = tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nforbidden").await;
                        }
                        Proxy::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        addr
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A sandbox whose Arc proxy fails as a blocked network makes it, with the
/// real ssh; `None` (skipped) without OpenSSH.
fn blocked() -> Option<(Azure, String)> {
    let az = Azure::builtin("healthy");
    if !crate::connect::real_ssh(&az) {
        eprintln!("no OpenSSH client: skipped");
        return None;
    }
    az.sandbox.write_exec(
        crate::connect::PROXY,
        &format!("#!/bin/sh\nprintf '%s\\n' '{BLOCKED}' >&2\nexit 1\n"),
    );
    std::fs::create_dir_all(az.sandbox.path("tmp")).unwrap();
    std::fs::write(az.sandbox.path("test-ca.pem"), pki_pem()).unwrap();
    let id = az.machine(0);
    Some((az, id))
}

thread_local! {
    static PKI: Pki = pki();
}

fn pki_pem() -> String {
    PKI.with(|p| p.ca_pem.clone())
}

/// `arcfix check --checks azure --connect --id ID [-o json]` with `env`.
fn check(az: &Azure, id: &str, json: bool, env: &[(&str, String)]) -> (Output, Duration) {
    let mut args = vec!["check", "--checks", "azure", "--connect", "--id", id];
    if json {
        args.extend(["-o", "json"]);
    }
    let mut run = az
        .sandbox
        .cmd()
        .args(&args)
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("TMPDIR", az.sandbox.path("tmp").to_str().unwrap())
        // Each step of the path check: a quarter of this, at least 1 s.
        .env("ARCFIX_CONNECT_TIMEOUT", "4")
        .env(
            "SSL_CERT_FILE",
            az.sandbox.path("test-ca.pem").to_str().unwrap(),
        );
    for (k, v) in env {
        run = run.env(k, v);
    }
    let started = Instant::now();
    let out = run.run();
    (out, started.elapsed())
}

/// Variables for one run.
type Env = Vec<(&'static str, String)>;

fn connection(out: &Output) -> serde_json::Value {
    out.json()["connections"][0].clone()
}

/// Each way the path can fail, in the real binary's JSON and text: the
/// step and the host named, relay-blocked found, no secret shown.
#[test]
fn each_failed_step_is_named_with_the_relay_host() {
    let Some((az, id)) = blocked() else { return };
    let local = Local::new();
    let (good, wrong, untrusted) =
        PKI.with(|p| (p.good.clone(), p.wrong_host.clone(), p.untrusted.clone()));
    let relay = local.relay(&good, Answer::Relay);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy_403 = local.proxy(Proxy::Refuse, relay);
    let proxy_hang = local.proxy(Proxy::Hang, relay);
    let addr = |a: SocketAddr| ("ARCFIX_TEST_RELAY_ADDR", a.to_string());
    let cases: Vec<(&str, Env, Vec<String>)> = vec![
        (
            "name resolution",
            vec![("ARCFIX_TEST_RELAY_ADDR", "nxdomain".into())],
            vec![format!("name resolution of {HOST} failed: no such host")],
        ),
        (
            "TCP refused",
            vec![addr(closed)],
            vec![
                format!("TCP to {HOST}:{} failed:", closed.port()),
                "refused".into(),
            ],
        ),
        (
            "a certificate for another host",
            vec![addr(local.relay(&wrong, Answer::Relay))],
            vec![format!(
                "TLS: the certificate presented for {HOST} was issued for filter.corp.example by arcfix test CA: something on the path intercepts TLS"
            )],
        ),
        (
            "a certificate of a CA nobody trusts",
            vec![addr(local.relay(&untrusted, Answer::Relay))],
            vec![format!(
                "TLS: the certificate presented for {HOST} (for *.servicebus.windows.net) was issued by Corp TLS Inspection CA, which this machine does not trust: something on the path intercepts TLS, or this machine lacks that root"
            )],
        ),
        (
            "a block page instead of the upgrade",
            vec![addr(local.relay(&good, Answer::Html))],
            vec![format!(
                "the WebSocket upgrade to {HOST} answered HTTP/1.1 200 OK text/html instead of 101 or an Azure Relay error"
            )],
        ),
        (
            "no answer to the upgrade",
            vec![addr(local.relay(&good, Answer::Silent))],
            vec![format!(
                "the WebSocket upgrade to {HOST} had no answer within 1 s"
            )],
        ),
        (
            "a proxy that refuses",
            vec![
                addr(relay),
                (
                    "HTTPS_PROXY",
                    format!("http://alice:pr0xy-s3cret@{proxy_403}"),
                ),
            ],
            vec![format!(
                "the proxy http://{proxy_403} (HTTPS_PROXY) answered HTTP/1.1 403 Forbidden to CONNECT {HOST}:443"
            )],
        ),
        (
            "a proxy that hangs",
            vec![addr(relay), ("https_proxy", format!("http://{proxy_hang}"))],
            vec![format!(
                "the proxy http://{proxy_hang} (https_proxy) did not answer CONNECT {HOST}:443 within 1 s"
            )],
        ),
    ];
    for (what, env, wanted) in cases {
        let (out, took) = check(&az, &id, true, &env);
        eprintln!("{what}: {} ms", took.as_millis());
        let c = connection(&out);
        assert_eq!(c["ok"], false, "{what}: {out:?}");
        assert_eq!(c["problem"], "relay-blocked", "{what}: {c}");
        assert_eq!(c["stage"], "relay", "{what}: {c}");
        let evidence = c["evidence"].as_str().unwrap();
        for w in &wanted {
            assert!(
                evidence.contains(w.as_str()),
                "{what}: wanted {w:?} in {evidence}"
            );
        }
        // The proxy's own words are kept after the step.
        assert!(evidence.contains("i/o timeout"), "{what}: {evidence}");
        assert!(
            out.finding_ids().contains(&"relay-blocked".to_string()),
            "{what}: {out:?}"
        );
        assert_eq!(out.status, 2, "{what}: {out:?}");
        assert!(
            !out.stdout.contains("pr0xy-s3cret"),
            "{what}: {}",
            out.stdout
        );
        assert!(
            !out.stderr.contains("pr0xy-s3cret"),
            "{what}: {}",
            out.stderr
        );
        assert!(took < Duration::from_secs(20), "{what} took {took:?}");

        // The text a person reads says the same.
        let (text, _) = check(&az, &id, false, &env);
        assert_eq!(text.status, 2, "{what}: {text:?}");
        assert!(text.stdout.contains("relay-blocked"), "{what}: {text:?}");
        assert!(
            text.stdout.contains(wanted[0].as_str()),
            "{what}: wanted {:?} in\n{}",
            wanted[0],
            text.stdout
        );
        assert!(!text.stdout.contains("pr0xy-s3cret"), "{what}");
    }
    // The relay's secrets never went anywhere: the upgrade carries no token.
    let issued = az.sim().issued();
    let sig = issued[0]
        .access_key()
        .split("sig=")
        .nth(1)
        .unwrap()
        .to_string();
    for h in local.seen() {
        assert!(!h.contains("sb-hc-token") && !h.contains(&sig), "{h}");
    }
    // The refusing proxy was asked with the credentials of its URL.
    assert!(
        local
            .seen()
            .iter()
            .any(|h| h.starts_with(&format!("CONNECT {HOST}:443 HTTP/1.1"))
                && h.contains("Proxy-Authorization: Basic ")),
        "{:?}",
        local.seen()
    );
}

/// Every step passing, direct and through a proxy, is said: the relay is
/// reachable and the failure is further on (no longer relay-blocked).
#[test]
fn a_reachable_relay_is_said_and_the_failure_is_placed_further_on() {
    let Some((az, id)) = blocked() else { return };
    let local = Local::new();
    let good = PKI.with(|p| p.good.clone());
    let relay = local.relay(&good, Answer::Relay);
    let proxy = local.proxy(Proxy::Allow, relay);
    let routes: [(&str, Env, String); 3] = [
        (
            "direct",
            vec![("ARCFIX_TEST_RELAY_ADDR", relay.to_string())],
            "direct (no HTTPS_PROXY set)".into(),
        ),
        (
            "through a proxy",
            vec![
                ("ARCFIX_TEST_RELAY_ADDR", relay.to_string()),
                ("HTTPS_PROXY", format!("http://{proxy}")),
            ],
            format!(
                "through proxy http://{proxy} (HTTPS_PROXY); the proxy http://{proxy} (HTTPS_PROXY) answered HTTP/1.1 200 Connection established to CONNECT {HOST}:443"
            ),
        ),
        (
            "a proxy NO_PROXY exempts the relay from",
            vec![
                ("ARCFIX_TEST_RELAY_ADDR", relay.to_string()),
                ("HTTPS_PROXY", "http://127.0.0.1:9".into()),
                ("NO_PROXY", ".servicebus.windows.net".into()),
            ],
            "direct (HTTPS_PROXY is set, but NO_PROXY exempts".into(),
        ),
    ];
    for (what, env, route) in routes {
        let before = local.seen().len();
        let (out, took) = check(&az, &id, true, &env);
        eprintln!("{what}: every step passed in {} ms", took.as_millis());
        let c = connection(&out);
        let evidence = c["evidence"].as_str().unwrap();
        assert_eq!(c["ok"], false, "{what}: {c}");
        assert_eq!(c["problem"], "ssh-connection-failed", "{what}: {c}");
        for w in [
            format!("the relay {HOST} is reachable from this machine"),
            route.clone(),
            format!("TLS certificate for {HOST} valid (issued by arcfix test CA)"),
            "the WebSocket upgrade was answered by Azure Relay: HTTP/1.1 401 MissingToken".into(),
            "the failure is further on".into(),
        ] {
            assert!(evidence.contains(&w), "{what}: wanted {w:?} in {evidence}");
        }
        assert!(
            !out.finding_ids().contains(&"relay-blocked".to_string()),
            "{what}: {out:?}"
        );
        // The upgrade the relay saw: the hybrid connection's address, no token.
        let upgrade = local.seen()[before..]
            .iter()
            .find(|h| h.starts_with("GET "))
            .cloned()
            .unwrap_or_else(|| panic!("{what}: no upgrade reached the relay"));
        assert!(
            upgrade.starts_with("GET /$hc/microsoft.hybridcompute/machines/"),
            "{upgrade}"
        );
        assert!(
            upgrade.contains("?sb-hc-action=connect HTTP/1.1\r\n"),
            "{upgrade}"
        );
        assert!(upgrade.contains(&format!("Host: {HOST}\r\n")), "{upgrade}");
        assert!(upgrade.contains("Upgrade: websocket\r\n"), "{upgrade}");
        assert!(upgrade.contains("Sec-WebSocket-Key: "), "{upgrade}");
        assert!(!upgrade.contains("sb-hc-token"), "{upgrade}");
    }
}

/// Without the test knob, relay credentials from a simulated Azure (an ARM
/// endpoint on loopback) are never followed: no lookup, nothing contacted,
/// the proxy's words kept as they were.
#[test]
fn credentials_from_a_local_arm_endpoint_are_not_followed() {
    let Some((az, id)) = blocked() else { return };
    let (out, _) = check(&az, &id, true, &[]);
    let c = connection(&out);
    assert_eq!(c["problem"], "relay-blocked", "{c}");
    let evidence = c["evidence"].as_str().unwrap();
    assert!(evidence.contains("i/o timeout"), "{evidence}");
    assert!(!evidence.contains("name resolution"), "{evidence}");
    assert!(!evidence.contains("reachable"), "{evidence}");
}
