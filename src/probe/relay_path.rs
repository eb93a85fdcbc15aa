//! The relay path from this machine, step by step, for a `--connect` that
//! failed before the server answered: the proxy decision (`HTTPS_PROXY`,
//! `NO_PROXY`, read as the Arc proxy, a Go program, reads them), name
//! resolution of the relay host `listCredentials` gave, TCP to it on 443 (or
//! CONNECT through the proxy), TLS with the platform's roots, and an
//! HTTP/1.1 WebSocket upgrade to the hybrid connection's address without its
//! token: Azure Relay answers that with an error of its own (a `TrackingId`),
//! which proves the path; anything else answering names the step.
//!
//! Only the host built from `namespaceName` + `namespaceNameSuffix` is ever
//! contacted, and only once it passes strict host-name rules. No secret is
//! sent: the request carries no `sb-hc-token`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::text::sanitize;

/// The port the relay listens on.
pub const RELAY_PORT: u16 = 443;

/// The longest any one step waits.
pub const STEP_LIMIT: Duration = Duration::from_secs(5);

/// Test builds only: `ARCFIX_TEST_RELAY_ADDR=127.0.0.1:PORT` stands for the
/// answer of name resolution and the port (a loopback address only), so the
/// tests reach a local relay without a name lookup; `nxdomain` stands for a
/// name with no address. The shipped binary has no such knob.
#[cfg(feature = "test-api")]
pub const TEST_ADDR_VAR: &str = "ARCFIX_TEST_RELAY_ADDR";

/// How the relay host's name becomes an address.
#[cfg_attr(not(any(test, feature = "test-api")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The system's resolver, port 443.
    System,
    /// Test builds and unit tests: this loopback address, no lookup.
    To(SocketAddr),
    /// Test builds and unit tests: as a name without an address, no lookup.
    NoSuchHost,
}

/// A relay address that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHost {
    /// `{namespaceName}.{namespaceNameSuffix}`, lower case.
    pub host: String,
    /// `/$hc/{hybridConnectionName}?sb-hc-action=connect` (no token).
    pub path: String,
}

/// Builds and validates the relay's address from `listCredentials`' fields.
/// The DNS suffixes of Azure Relay in Azure's clouds: a relay host
/// elsewhere is not contacted (Azure's answer never steers a connection to
/// an arbitrary host).
const RELAY_SUFFIXES: [&str; 3] = [
    "servicebus.windows.net",
    "servicebus.usgovcloudapi.net",
    "servicebus.chinacloudapi.cn",
];

pub fn relay_host(namespace: &str, suffix: &str, connection: &str) -> Result<RelayHost, String> {
    let host = format!("{namespace}.{suffix}").to_ascii_lowercase();
    if !RELAY_SUFFIXES.contains(&suffix.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "the relay host {} that listCredentials gave is not in an Azure Relay domain ({})",
            sanitize(&host),
            RELAY_SUFFIXES.join(", ")
        ));
    }
    if !namespace_ok(namespace) || !hostname_ok(&host) {
        return Err(format!(
            "the relay host {} that listCredentials gave is not a valid host name",
            sanitize(&host)
        ));
    }
    let connection_ok = !connection.is_empty()
        && connection.len() <= 260
        && !connection.starts_with('/')
        && !connection
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && connection
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !connection_ok {
        return Err(format!(
            "the hybrid connection name that listCredentials gave for {host} is not a valid path"
        ));
    }
    Ok(RelayHost {
        path: format!("/$hc/{connection}?sb-hc-action=connect"),
        host,
    })
}

/// A Relay namespace name: 6 to 50 letters, digits and hyphens, starting
/// with a letter, ending with a letter or digit.
fn namespace_ok(n: &str) -> bool {
    (6..=50).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// RFC 1123 host name: at least two labels of 1 to 63 letters, digits and
/// hyphens (not at either end), at most 253 characters, a top-level label
/// that is not all digits (no address in disguise).
pub fn hostname_ok(h: &str) -> bool {
    let labels: Vec<&str> = h.split('.').collect();
    h.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| !t.chars().all(|c| c.is_ascii_digit()))
}

/// How this machine reaches the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the relay; why (no proxy set, or `NO_PROXY` matched).
    Direct(String),
    Proxy(ProxyUrl),
}

/// An HTTP proxy from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub host: String,
    pub port: u16,
    /// `http://host:port`: never the credentials.
    pub shown: String,
    /// The variable it came from.
    pub var: String,
    /// `Proxy-Authorization` value when the URL carries credentials.
    auth: Option<String>,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({} from {})", self.shown, self.var)
    }
}

impl ProxyUrl {
    /// "through proxy http://p:3128 (HTTPS_PROXY)".
    pub fn said(&self) -> String {
        format!("through proxy {} ({})", self.shown, self.var)
    }
}

/// The first of `names` that is set and not empty, with its name.
fn first_set(var: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|n| {
        var(n)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), v.trim().to_string()))
    })
}

/// Why the proxy setting gives no route this check can take (the message
/// never shows the value's credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// Set, but not a proxy URL: the Arc proxy cannot use it either.
    Malformed(String),
    /// A proxy this check does not speak (socks5, https): not a verdict.
    Unsupported(String),
}

/// The proxy decision, as Go's `http.ProxyFromEnvironment` makes it for the
/// Arc proxy: `HTTPS_PROXY` (else `https_proxy`) unless `NO_PROXY` (else
/// `no_proxy`) matches the host.
pub fn route(host: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Route, NoRoute> {
    let Some((name, value)) = first_set(var, &["HTTPS_PROXY", "https_proxy"]) else {
        return Ok(Route::Direct("no HTTPS_PROXY set".into()));
    };
    if let Some((no_name, list)) = first_set(var, &["NO_PROXY", "no_proxy"])
        && no_proxy_matches(&list, host)
    {
        return Ok(Route::Direct(format!(
            "{name} is set, but {no_name} exempts {host}"
        )));
    }
    // Go takes "proxy:3128" as http://proxy:3128.
    let with_scheme = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    let bad = || NoRoute::Malformed(format!("{name} is set but is not a usable proxy URL"));
    let url = url::Url::parse(&with_scheme).map_err(|_| bad())?;
    let Some(h) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(bad());
    };
    let h = h.trim_start_matches('[').trim_end_matches(']').to_string();
    if url.scheme() != "http" {
        return Err(NoRoute::Unsupported(format!(
            "{name} names a {} proxy ({}://{}), which this check does not speak",
            url.scheme(),
            url.scheme(),
            sanitize(url.host_str().unwrap_or_default())
        )));
    }
    let port = url.port().unwrap_or(80);
    let auth = (!url.username().is_empty()).then(|| {
        let user = percent_decoded(url.username());
        let pass = percent_decoded(url.password().unwrap_or_default());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    });
    Ok(Route::Proxy(ProxyUrl {
        shown: format!("http://{}:{port}", url.host_str().unwrap_or_default()),
        host: h,
        port,
        var: name,
        auth,
    }))
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Go's `NO_PROXY` rules for a host name: `*` matches all; `example.com`
/// matches it and its subdomains; `.example.com` (or `*.example.com`) only
/// subdomains; an entry with a port applies to that port only.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        let (name, port) = match entry.rsplit_once(':') {
            Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) && !n.contains(':') => {
                (n.to_string(), p.parse::<u16>().ok())
            }
            _ => (entry.clone(), None),
        };
        if port.is_some_and(|p| p != RELAY_PORT) || name.is_empty() {
            return false;
        }
        let name = name.strip_prefix('*').unwrap_or(&name);
        match name.strip_prefix('.') {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == name || host.ends_with(&format!(".{name}")),
        }
    })
}

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Proxy,
    Dns,
    Tcp,
    Tls,
    Upgrade,
}

/// What the check came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The step that failed; `None`: every step passed.
    pub failed: Option<Step>,
    /// One line: the failing step with host and cause, or the steps passed.
    pub evidence: String,
    pub elapsed: Duration,
}

/// How the check runs.
pub struct Settings {
    /// Each step's time limit.
    pub step: Duration,
    pub resolve: Resolve,
    /// The TLS roots; `None`: the platform's, as reqwest uses them
    /// (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured on Linux).
    pub roots: Option<Arc<rustls::RootCertStore>>,
}

impl Settings {
    /// The platform's roots, `step` per step, and the test override where
    /// this build honours it.
    pub fn new(step: Duration) -> Settings {
        Settings {
            step,
            resolve: test_address(),
            roots: None,
        }
    }
}

#[cfg(feature = "test-api")]
fn test_address() -> Resolve {
    match std::env::var(TEST_ADDR_VAR).ok().as_deref() {
        Some("nxdomain") => Resolve::NoSuchHost,
        Some(v) => v
            .parse::<SocketAddr>()
            .ok()
            .filter(|a| a.ip().is_loopback())
            .map_or(Resolve::System, Resolve::To),
        None => Resolve::System,
    }
}

#[cfg(not(feature = "test-api"))]
fn test_address() -> Resolve {
    Resolve::System
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Runs the steps in order; the first that fails ends the check.
pub async fn diagnose(target: &RelayHost, route: &Route, s: &Settings) -> Report {
    let started = Instant::now();
    let mut passed: Vec<String> = Vec::new();
    let result = steps(target, route, s, &mut passed).await;
    let (failed, evidence) = match result {
        Ok(answer) => (
            None,
            format!(
                "the relay {} is reachable from this machine ({}; {answer}): the failure is further on",
                target.host,
                passed.join("; ")
            ),
        ),
        Err((step, why)) => (Some(step), why),
    };
    Report {
        failed,
        evidence: crate::text::one_line(&evidence),
        elapsed: started.elapsed(),
    }
}

type StepResult<T> = Result<T, (Step, String)>;

async fn steps(
    t: &RelayHost,
    route: &Route,
    s: &Settings,
    passed: &mut Vec<String>,
) -> StepResult<String> {
    let host = &t.host;
    let limit = s.step;
    let tcp = match route {
        Route::Direct(why) => {
            passed.push(format!("direct ({why})"));
            let addrs: Vec<SocketAddr> = match s.resolve {
                Resolve::To(a) => {
                    passed.push(format!("{host} taken as {a} (test override, no lookup)"));
                    vec![a]
                }
                Resolve::NoSuchHost => {
                    return Err((
                        Step::Dns,
                        format!(
                            "name resolution of {host} failed: no such host (test override, no lookup)"
                        ),
                    ));
                }
                Resolve::System => {
                    let found = tokio::time::timeout(
                        limit,
                        tokio::net::lookup_host((host.as_str(), RELAY_PORT)),
                    )
                    .await;
                    let addrs: Vec<SocketAddr> = match found {
                        Err(_) => {
                            return Err((
                                Step::Dns,
                                format!(
                                    "name resolution of {host} timed out after {}",
                                    secs(limit)
                                ),
                            ));
                        }
                        Ok(Err(e)) => {
                            return Err((
                                Step::Dns,
                                format!("name resolution of {host} failed: {e}"),
                            ));
                        }
                        Ok(Ok(it)) => it.collect(),
                    };
                    if addrs.is_empty() {
                        return Err((
                            Step::Dns,
                            format!("name resolution of {host} found no address"),
                        ));
                    }
                    let shown: Vec<String> =
                        addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
                    passed.push(format!("{host} resolved to {}", shown.join(", ")));
                    addrs
                }
            };
            let port = addrs[0].port();
            let stream = connect_any(&addrs, limit).await.map_err(|e| {
                (
                    Step::Tcp,
                    match e {
                        None => format!("TCP to {host}:{port} timed out after {}", secs(limit)),
                        Some(e) => format!("TCP to {host}:{port} failed: {e}"),
                    },
                )
            })?;
            passed.push(format!("TCP to {host}:{port} connected"));
            stream
        }
        Route::Proxy(p) => {
            passed.push(p.said());
            through_proxy(host, p, limit, passed).await?
        }
    };
    let tls = tls_to(host, tcp, s).await?;
    passed.push(tls.1);
    upgrade(t, tls.0, limit).await
}

/// TCP to the first address that answers, all within `limit`; `Err(None)`
/// on the time limit.
async fn connect_any(
    addrs: &[SocketAddr],
    limit: Duration,
) -> Result<TcpStream, Option<std::io::Error>> {
    let attempt = async {
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last)
    };
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or(Err(None))
}

/// TCP to the proxy, then `CONNECT host:443`; the proxy's status line is
/// reported either way.
async fn through_proxy(
    host: &str,
    p: &ProxyUrl,
    limit: Duration,
    passed: &mut Vec<String>,
) -> StepResult<TcpStream> {
    let proxy = format!("the proxy {} ({})", p.shown, p.var);
    let found =
        tokio::time::timeout(limit, tokio::net::lookup_host((p.host.as_str(), p.port))).await;
    let addrs: Vec<SocketAddr> = match found {
        Ok(Ok(it)) => it.collect(),
        Ok(Err(e)) => {
            return Err((
                Step::Proxy,
                format!("name resolution of {proxy} failed: {e}"),
            ));
        }
        Err(_) => {
            return Err((
                Step::Proxy,
                format!("name resolution of {proxy} timed out after {}", secs(limit)),
            ));
        }
    };
    let mut stream = connect_any(&addrs, limit).await.map_err(|e| {
        (
            Step::Proxy,
            match e {
                None => format!("TCP to {proxy} timed out after {}", secs(limit)),
                Some(e) => format!("TCP to {proxy} failed: {e}"),
            },
        )
    })?;
    let mut request =
        format!("CONNECT {host}:{RELAY_PORT} HTTP/1.1\r\nHost: {host}:{RELAY_PORT}\r\n");
    if let Some(auth) = &p.auth {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let answer = tokio::time::timeout(limit, async {
        stream.write_all(request.as_bytes()).await?;
        read_head(&mut stream).await
    })
    .await;
    let head = match answer {
        Err(_) => {
            return Err((
                Step::Proxy,
                format!(
                    "{proxy} did not answer CONNECT {host}:{RELAY_PORT} within {}",
                    secs(limit)
                ),
            ));
        }
        Ok(Err(e)) => {
            return Err((
                Step::Proxy,
                format!("{proxy} gave no answer to CONNECT {host}:{RELAY_PORT}: {e}"),
            ));
        }
        Ok(Ok(h)) => h,
    };
    let status = status_line(&head.text);
    if !(200..300).contains(&status_code(&status)) {
        return Err((
            Step::Proxy,
            format!("{proxy} answered {status} to CONNECT {host}:{RELAY_PORT}"),
        ));
    }
    passed.push(format!(
        "{proxy} answered {status} to CONNECT {host}:{RELAY_PORT}"
    ));
    Ok(stream)
}

/// What the certificate verifier saw: the end-entity certificate presented.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration whose verifier records what was presented.
fn recording_config(
    s: &Settings,
) -> Result<(Arc<rustls::ClientConfig>, Arc<Recording>), rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner: Arc<dyn ServerCertVerifier> = match &s.roots {
        Some(roots) => rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?,
        None => Arc::new(rustls_platform_verifier::Verifier::new(provider.clone())?),
    };
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    Ok((Arc::new(config), recording))
}

/// The TLS handshake with the relay's name, checked against the roots.
async fn tls_to(
    host: &str,
    tcp: TcpStream,
    s: &Settings,
) -> StepResult<(tokio_rustls::client::TlsStream<TcpStream>, String)> {
    let (config, recording) = recording_config(s).map_err(|e| {
        (
            Step::Tls,
            format!("TLS to {host} could not be checked: no trusted roots on this machine ({e})"),
        )
    })?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| (Step::Tls, format!("{host} is not a TLS server name")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let shaken = tokio::time::timeout(s.step, connector.connect(name, tcp)).await;
    let seen = recording.seen.lock().ok().and_then(|s| s.clone());
    match shaken {
        Err(_) => Err((
            Step::Tls,
            format!("TLS handshake with {host} timed out after {}", secs(s.step)),
        )),
        Ok(Ok(stream)) => {
            let said = match seen.as_ref().and_then(|c| issuer_of(c)) {
                Some(issuer) => format!("TLS certificate for {host} valid (issued by {issuer})"),
                None => format!("TLS certificate for {host} valid"),
            };
            Ok((stream, said))
        }
        Ok(Err(e)) => Err((Step::Tls, tls_failure(host, &e, seen.as_ref()))),
    }
}

/// Why TLS failed, naming the certificate presented when there was one.
fn tls_failure(host: &str, e: &std::io::Error, seen: Option<&CertificateDer<'static>>) -> String {
    let cert_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|r| match r {
            rustls::Error::InvalidCertificate(c) => Some(c.clone()),
            _ => None,
        });
    let (Some(kind), Some(cert)) = (cert_error, seen) else {
        return format!(
            "TLS handshake with {host} failed: {}",
            sanitize(&e.to_string())
        );
    };
    let names = names_of(cert);
    let issuer = issuer_of(cert).unwrap_or_else(|| "an unnamed issuer".into());
    let for_names = if names.is_empty() {
        "no host name".to_string()
    } else {
        names.join(", ")
    };
    use rustls::CertificateError as C;
    match kind {
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "TLS: the certificate presented for {host} was issued for {for_names} by {issuer}: something on the path intercepts TLS"
        ),
        C::UnknownIssuer | C::BadSignature | C::BadEncoding => format!(
            "TLS: the certificate presented for {host} (for {for_names}) was issued by {issuer}, which this machine does not trust: something on the path intercepts TLS, or this machine lacks that root"
        ),
        C::Expired | C::ExpiredContext { .. } => format!(
            "TLS: the certificate presented for {host} (issued by {issuer}) has expired: something on the path may intercept TLS, or this machine's clock is wrong"
        ),
        other => format!(
            "TLS: the certificate presented for {host} (for {for_names}, issued by {issuer}) was refused: {}",
            sanitize(&format!("{other:?}"))
        ),
    }
}

/// The DNS names a certificate is for.
fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    let mut names: Vec<String> = ee.valid_dns_names().take(4).map(sanitize).collect();
    if names.is_empty()
        && let Some(cn) = name_attribute(ee.subject())
    {
        names.push(cn);
    }
    names
}

/// The issuer's common name (else organisation).
fn issuer_of(cert: &CertificateDer<'_>) -> Option<String> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    name_attribute(ee.issuer())
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The common name (2.5.4.3), else the organisation (2.5.4.10), of an X.509
/// Name's contents.
fn name_attribute(name: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    let mut found: [Option<String>; 2] = [None, None];
    let mut rest = name;
    while let Some((0x31, set, after)) = der(rest) {
        rest = after;
        let Some((0x30, pair, _)) = der(set) else {
            continue;
        };
        let Some((0x06, oid, value)) = der(pair) else {
            continue;
        };
        let Some((_, text, _)) = der(value) else {
            continue;
        };
        let text = sanitize(&String::from_utf8_lossy(text));
        if oid == CN && found[0].is_none() {
            found[0] = Some(text);
        } else if oid == O && found[1].is_none() {
            found[1] = Some(text);
        }
    }
    let [cn, o] = found;
    cn.or(o)
}

/// An HTTP answer's head, and what of the body came with it.
struct Head {
    text: String,
    body: Vec<u8>,
}

/// Reads until the end of an HTTP head (16 KiB at most).
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Head {
                text: String::from_utf8_lossy(&buf[..end]).into_owned(),
                body: buf[end + 4..].to_vec(),
            });
        }
        if buf.len() > 16 * 1024 {
            return Err(std::io::Error::other("an answer head over 16 KiB"));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                if buf.is_empty() {
                    "the connection was closed without an answer".to_string()
                } else {
                    "the connection was closed in the middle of an answer".to_string()
                },
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `HTTP/1.1 403 Forbidden`, cleaned for display.
fn status_line(head: &str) -> String {
    let line = head.lines().next().unwrap_or_default();
    let line = sanitize(line.trim());
    if line.chars().count() > 160 {
        let cut: String = line.chars().take(160).collect();
        format!("{cut}…")
    } else {
        line
    }
}

fn status_code(line: &str) -> u16 {
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The WebSocket upgrade without a token: Azure Relay's own answer (101, or
/// an error with its `TrackingId`) proves the path.
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    t: &RelayHost,
    mut s: S,
    limit: Duration,
) -> StepResult<String> {
    let host = &t.host;
    let key = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: arcfix/{}\r\n\r\n",
        t.path,
        env!("CARGO_PKG_VERSION")
    );
    let answer = tokio::time::timeout(limit, async {
        s.write_all(request.as_bytes()).await?;
        s.flush().await?;
        let mut head = read_head(&mut s).await?;
        // A little of the body: Azure Relay puts its TrackingId there too.
        let wanted = header(&head.text, "Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(2048)
            .min(2048);
        let mut chunk = [0u8; 1024];
        while head.body.len() < wanted && status_code(&status_line(&head.text)) != 101 {
            match tokio::time::timeout(Duration::from_millis(300), s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => head.body.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        Ok::<Head, std::io::Error>(head)
    })
    .await;
    let head = match answer {
        Err(_) => {
            return Err((
                Step::Upgrade,
                format!(
                    "the WebSocket upgrade to {host} had no answer within {}",
                    secs(limit)
                ),
            ));
        }
        Ok(Err(e)) => {
            return Err((
                Step::Upgrade,
                format!("the WebSocket upgrade to {host} failed: {e}"),
            ));
        }
        Ok(Ok(h)) => h,
    };
    let status = status_line(&head.text);
    let code = status_code(&status);
    let body = String::from_utf8_lossy(&head.body);
    let from_relay = code == 101 || head.text.contains("TrackingId") || body.contains("TrackingId");
    if from_relay {
        return Ok(format!(
            "the WebSocket upgrade was answered by Azure Relay: {status}"
        ));
    }
    let kind = header(&head.text, "Content-Type")
        .map(|c| {
            format!(
                " {}",
                sanitize(c.split(';').next().unwrap_or_default().trim())
            )
        })
        .unwrap_or_default();
    Err((
        Step::Upgrade,
        format!(
            "the WebSocket upgrade to {host} answered {status}{kind} instead of 101 or an Azure Relay error: something on the path answers in the relay's place"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_relay_host_is_validated_before_anything_is_contacted() {
        let ok = relay_host(
            "azgnrelay-eastus-l1",
            "servicebus.windows.net",
            "microsoft.hybridcompute/machines/abc/1700000000",
        )
        .unwrap();
        assert_eq!(ok.host, "azgnrelay-eastus-l1.servicebus.windows.net");
        for suffix in [
            "servicebus.usgovcloudapi.net",
            "ServiceBus.ChinaCloudAPI.cn",
        ] {
            assert!(relay_host("azgnrelay", suffix, "hc").is_ok(), "{suffix}");
        }
        assert_eq!(
            ok.path,
            "/$hc/microsoft.hybridcompute/machines/abc/1700000000?sb-hc-action=connect"
        );
        for (ns, suffix) in [
            ("azgnrelay", "servicebus.windows.net/x"),
            ("azgnrelay", "evil.com#"),
            ("azgnrelay", "127.0.0.1"),
            ("azgnrelay", ""),
            ("azgn relay", "servicebus.windows.net"),
            ("-azgnrelay", "servicebus.windows.net"),
            ("a", "servicebus.windows.net"),
            ("azgnrelay", "servicebus..windows.net"),
            ("azgnrelay", "servicebus.windows.net:8443"),
            ("azgnrelay@evil.com", "x.net"),
            // A valid host name outside Azure Relay's domains is not contacted.
            ("azgnrelay", "example.com"),
            ("azgnrelay", "localhost"),
            ("azgnrelay", "servicebus.windows.net.evil.com"),
        ] {
            assert!(relay_host(ns, suffix, "hc").is_err(), "{ns}.{suffix}");
        }
        for hc in ["", "/x", "a/../b", "a?b", "a b", "a%2f", "a//b"] {
            assert!(
                relay_host("azgnrelay", "servicebus.windows.net", hc).is_err(),
                "{hc:?}"
            );
        }
    }

    #[test]
    fn the_proxy_is_decided_as_go_decides_it_and_never_shows_credentials() {
        let host = "ns-relay.servicebus.windows.net";
        assert_eq!(
            route(host, &vars(&[])).unwrap(),
            Route::Direct("no HTTPS_PROXY set".into())
        );
        let Route::Proxy(p) = route(
            host,
            &vars(&[("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128")]),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            p.said(),
            "through proxy http://proxy.corp:3128 (HTTPS_PROXY)"
        );
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(
            p.auth.as_deref(),
            Some(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("user:s3cret")
                )
                .as_str()
            )
        );
        // Lower case, no scheme: http, port 80 by default.
        let Route::Proxy(p) = route(host, &vars(&[("https_proxy", "proxy.corp")])).unwrap() else {
            panic!()
        };
        assert_eq!(p.said(), "through proxy http://proxy.corp:80 (https_proxy)");
        for no in [
            "*",
            "servicebus.windows.net",
            ".windows.net",
            "*.servicebus.windows.net",
            "example.com, ns-relay.servicebus.windows.net:443",
        ] {
            let r = route(
                host,
                &vars(&[("HTTPS_PROXY", "http://p:3128"), ("NO_PROXY", no)]),
            )
            .unwrap();
            assert!(
                matches!(&r, Route::Direct(w) if w.contains("NO_PROXY exempts")),
                "{no}: {r:?}"
            );
        }
        for no in [
            "example.com",
            "bus.windows.net",
            "ns-relay.servicebus.windows.net:8443",
        ] {
            let r = route(
                host,
                &vars(&[("HTTPS_PROXY", "http://p:3128"), ("no_proxy", no)]),
            )
            .unwrap();
            assert!(matches!(r, Route::Proxy(_)), "{no}");
        }
        let e = route(host, &vars(&[("HTTPS_PROXY", "socks5://u:pw@p:1080")])).unwrap_err();
        assert!(
            matches!(&e, NoRoute::Unsupported(m) if m.contains("socks5") && !m.contains("pw")),
            "{e:?}"
        );
        let e = route(host, &vars(&[("HTTPS_PROXY", "http://u:pw@:1080")])).unwrap_err();
        assert!(
            matches!(&e, NoRoute::Malformed(m) if m.contains("HTTPS_PROXY") && !m.contains("pw")),
            "{e:?}"
        );
    }

    #[test]
    fn names_are_read_from_der() {
        // SET { SEQUENCE { OID 2.5.4.10, UTF8 "Org" } }, SET { SEQUENCE { OID 2.5.4.3, UTF8 "Corp CA" } }
        let name = [
            0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x03, b'O', b'r', b'g',
            0x31, 0x10, 0x30, 0x0e, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x07, b'C', b'o', b'r',
            b'p', b' ', b'C', b'A',
        ];
        assert_eq!(name_attribute(&name).as_deref(), Some("Corp CA"));
        assert_eq!(name_attribute(&name[..14]).as_deref(), Some("Org"));
        assert_eq!(name_attribute(&name[..5]), None);
    }

    /// The upgrade's verdict on what answered it, over an in-memory stream.
    async fn upgrade_answered(reply: &'static [u8]) -> StepResult<String> {
        let t = relay_host("azgnrelay-eastus-l1", "servicebus.windows.net", "hc").unwrap();
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(async move {
            let h = read_head(&mut server).await.unwrap();
            if !reply.is_empty() {
                server.write_all(reply).await.unwrap();
                server.shutdown().await.unwrap();
            } else {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            h.text
        });
        let verdict = upgrade(&t, client, Duration::from_millis(300)).await;
        if !reply.is_empty() {
            let asked = serve.await.unwrap();
            assert!(
                asked.starts_with("GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\n"),
                "{asked}"
            );
            assert!(!asked.contains("sb-hc-token"), "{asked}");
        }
        verdict
    }

    #[tokio::test]
    async fn the_upgrade_is_proven_only_by_the_relays_own_answer() {
        assert!(
            upgrade_answered(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
                .await
                .is_ok()
        );
        let relay = upgrade_answered(b"HTTP/1.1 401 MissingToken\r\nContent-Length: 60\r\n\r\n<Error><Detail>TrackingId:abc_G1, Timestamp:x</Detail></Error>").await;
        assert!(
            matches!(&relay, Ok(s) if s.contains("401 MissingToken")),
            "{relay:?}"
        );
        let page = upgrade_answered(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nforbidden").await;
        let Err((Step::Upgrade, why)) = page else {
            panic!("{page:?}")
        };
        assert!(
            why.contains("answered HTTP/1.1 403 Forbidden text/html instead of 101"),
            "{why}"
        );
        let silent = upgrade_answered(b"").await;
        let Err((Step::Upgrade, why)) = silent else {
            panic!("{silent:?}")
        };
        assert!(why.contains("had no answer within 0.3 s"), "{why}");
    }

    /// A throw-away CA and a TLS server on loopback presenting a certificate
    /// for `name`; the roots that trust the CA.
    async fn tls_server(name: &str) -> (SocketAddr, Arc<rustls::RootCertStore>) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "unit CA");
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if let Ok(mut tls) = acceptor.accept(tcp).await
                    && read_head(&mut tls).await.is_ok()
                {
                    let _ = tls
                        .write_all(b"HTTP/1.1 404 Endpoint does not exist. TrackingId:t_G1\r\nContent-Length: 0\r\n\r\n")
                        .await;
                }
            }
        });
        (addr, Arc::new(roots))
    }

    fn settings(resolve: Resolve, roots: Arc<rustls::RootCertStore>) -> Settings {
        Settings {
            step: Duration::from_secs(2),
            resolve,
            roots: Some(roots),
        }
    }

    #[tokio::test]
    async fn each_step_in_order_on_loopback() {
        let t = relay_host("azgnrelay-eastus-l1", "servicebus.windows.net", "hc").unwrap();
        let direct = Route::Direct("no HTTPS_PROXY set".into());
        let (good, roots) = tls_server("*.servicebus.windows.net").await;
        let r = diagnose(&t, &direct, &settings(Resolve::To(good), roots.clone())).await;
        assert_eq!(r.failed, None, "{r:?}");
        assert!(
            r.evidence.contains("reachable") && r.evidence.contains("issued by unit CA"),
            "{r:?}"
        );

        let r = diagnose(&t, &direct, &settings(Resolve::NoSuchHost, roots.clone())).await;
        assert_eq!(r.failed, Some(Step::Dns), "{r:?}");

        let (other, other_roots) = tls_server("www.example.org").await;
        let r = diagnose(&t, &direct, &settings(Resolve::To(other), other_roots)).await;
        assert_eq!(r.failed, Some(Step::Tls), "{r:?}");
        assert!(
            r.evidence.contains("issued for www.example.org by unit CA"),
            "{r:?}"
        );
        // The right name, by a CA these roots do not hold.
        let r = diagnose(
            &t,
            &direct,
            &settings(Resolve::To(good), {
                let (_, stranger) = tls_server("x.example.org").await;
                stranger
            }),
        )
        .await;
        assert_eq!(r.failed, Some(Step::Tls), "{r:?}");
        assert!(
            r.evidence.contains("which this machine does not trust"),
            "{r:?}"
        );

        // A proxy that wants credentials: its status line, and no credential shown.
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = proxy.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = proxy.accept().await {
                let _ = read_head(&mut s).await;
                let _ = s
                    .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                    .await;
            }
        });
        let via = route(&t.host, &|n: &str| {
            (n == "HTTPS_PROXY").then(|| format!("http://bob:hunter2@{at}"))
        })
        .unwrap();
        let r = diagnose(&t, &via, &settings(Resolve::NoSuchHost, roots)).await;
        assert_eq!(r.failed, Some(Step::Proxy), "{r:?}");
        assert!(
            r.evidence.contains(&format!(
                "the proxy http://{at} (HTTPS_PROXY) answered HTTP/1.1 407 Proxy Authentication Required to CONNECT azgnrelay-eastus-l1.servicebus.windows.net:443"
            )),
            "{r:?}"
        );
        assert!(!r.evidence.contains("hunter2"), "{r:?}");
    }

    #[test]
    fn answers_are_read_by_their_status_line() {
        assert_eq!(status_code("HTTP/1.1 403 Forbidden"), 403);
        assert_eq!(status_code("garbage"), 0);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX: y";
        assert_eq!(
            header(head, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(status_line("HTTP/1.1 200 OK\r\nA: b"), "HTTP/1.1 200 OK");
    }
}
