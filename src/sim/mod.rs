//! The simulated Azure behind `arcfix demo` and the tests: a stateful fake of
//! the ARM endpoints arcfix uses (HybridCompute, HybridConnectivity, provider
//! registration, RBAC, Resource Graph, an Entra token endpoint), served on
//! 127.0.0.1 only, with injectable latency, throttling and server errors.

mod arcvm;
mod arm;
mod authz;
mod compute;
mod connectivity;
mod entra;
mod evaluator;
mod graph;
mod insights;
mod policy;
pub(crate) mod rbac;
mod relay;
mod reply;
mod resources;
mod route;
mod scenario;
mod server;
mod throttle;
mod token;
mod world;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sim::arm::Incoming;
use crate::sim::reply::{ArmError, Reply};
use crate::sim::world::World;

// What the product uses: `arcfix demo` and `arcfix sim-proxy`.
pub use crate::sim::relay::stand_in_proxy;
pub use crate::sim::scenario::Scenario;
pub use crate::sim::throttle::BucketSpec;
pub use crate::sim::token::{fake_token, fake_token_with};
// The test-only API (see `Sim::set_knobs`): built for tests and benches only,
// never into the shipped binary.
#[cfg(any(test, feature = "test-api"))]
pub use crate::sim::scenario::{
    EndpointSpec, ExtensionSpec, GENERATED_PER_GROUP, Machine, Principal, ResourceGroup,
    RoleAssignmentSpec, ServerSpec, Subscription, UnregisteredError,
};
#[cfg(any(test, feature = "test-api"))]
pub use crate::sim::server::{CLIENT_MARKER, MARKER as SCRIPT_MARKER};
#[cfg(any(test, feature = "test-api"))]
pub use crate::sim::throttle::{Rate, Spread};
#[cfg(any(test, feature = "test-api"))]
pub use crate::sim::token::{claims as token_claims, fake_app_token};

/// Faults and slowness, changeable while the simulator runs. Counting for
/// `throttle_every` and `fail_every` restarts whenever the knobs are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Delay before answering each request.
    pub latency_ms: u64,
    /// Every Nth request answers 429 `SubscriptionRequestsThrottled` (0: never).
    pub throttle_every: u32,
    /// `Retry-After` on 429 and 503: seconds, an HTTP date, or absent (no header).
    pub retry_after: Option<String>,
    /// Every Nth request answers 500, then 503, alternately (0: never).
    pub fail_every: u32,
    /// How long a newly written SSH service configuration takes to reach the
    /// relay ("404 Endpoint does not exist" meanwhile).
    pub relay_propagation_ms: u64,
    /// ARM's token buckets, enforced: a request beyond its bucket answers 429
    /// `SubscriptionRequestsThrottled` with `Retry-After`. None (the default):
    /// ARM's buckets (`BucketSpec::ARM`) only count, for the
    /// `x-ms-ratelimit-remaining-*` headers, and never refuse, so that tests
    /// stay fast and throttle only where they mean to.
    pub bucket: Option<BucketSpec>,
}

/// Relay credentials the simulator handed out (`listCredentials`, or
/// `listIngressGatewayCredentials`), so a test can check that a proxy was
/// given exactly these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCredential {
    /// The endpoint's id, in canonical casing.
    pub endpoint: String,
    /// `listCredentials` or `listIngressGatewayCredentials`.
    pub action: String,
    /// The request's `serviceName`, when it had one.
    pub service_name: Option<String>,
    /// Object id of the caller it was issued to.
    pub caller: String,
    /// The answer's `relay` object, as sent.
    pub relay: Value,
}

impl IssuedCredential {
    /// The relay `accessKey` (a secret).
    #[cfg(any(test, feature = "test-api"))]
    pub fn access_key(&self) -> &str {
        self.relay["accessKey"].as_str().unwrap_or_default()
    }

    /// Whether `info`, the value a client puts in `SSHPROXY_RELAY_INFO`
    /// (base64 of the JSON `{"relay": {…}}`), carries exactly this relay.
    pub fn matches_relay_info(&self, info: &str) -> bool {
        token::base64url_decode(info.trim())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .is_some_and(|v| v.get("relay") == Some(&self.relay))
    }
}

/// One request the simulator received, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// As sent, without the query.
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The request body when it was JSON.
    pub body: Option<Value>,
    pub authorization_present: bool,
    /// When it arrived (before any latency knob): benches count the waves
    /// of a diagnosis from it.
    #[serde(skip)]
    pub received: std::time::Instant,
    /// How many answers the simulator had given when this request arrived:
    /// requests with the same count went out without waiting for each other
    /// (one round trip), whatever the latency.
    pub answered_before: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
    Delete,
}

/// Reads, writes and deletes as ARM counts them. POSTs write unless they only
/// read (`list*` actions, Resource Graph queries, token requests, policy
/// state queries).
fn classify(method: &str, path: &str) -> Kind {
    match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" | "OPTIONS" => Kind::Read,
        "DELETE" => Kind::Delete,
        "POST" => {
            let last = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            // Policy states are queried and summarized by POST, and change nothing.
            let reads = last.starts_with("list")
                || matches!(
                    route::parse(path),
                    route::Route::Graph
                        | route::Route::Token { .. }
                        | route::Route::PolicyStates { .. }
                );
            if reads { Kind::Read } else { Kind::Write }
        }
        _ => Kind::Write,
    }
}

impl LoggedRequest {
    /// Whether the request could change state: PUT, PATCH, DELETE, and POSTs
    /// such as `register` (but not `listCredentials`, a Resource Graph query or
    /// a policy states query).
    pub fn is_write(&self) -> bool {
        classify(&self.method, &self.path) != Kind::Read
    }
}

struct Faults {
    count: u64,
    failures: u64,
}

struct Shared {
    base: String,
    world: Mutex<World>,
    knobs: Mutex<Knobs>,
    faults: Mutex<Faults>,
    buckets: Mutex<throttle::Buckets>,
    log: Mutex<Vec<(u64, LoggedRequest)>>,
    /// `requests()` starts after this sequence number (`clear_log`); the whole
    /// history stays for `all_requests()`.
    cleared: Mutex<u64>,
    seq: Mutex<u64>,
    /// Throw-away sshd ports the relay splices to, per machine id (lower case).
    sshd: Mutex<std::collections::HashMap<String, u16>>,
    /// When each machine's SSH service configuration was last written.
    config_written: Mutex<std::collections::HashMap<String, Instant>>,
    /// Answers given so far.
    answered: std::sync::atomic::AtomicUsize,
}

/// Locks, carrying on after a panic elsewhere: the simulator's state stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulator. Dropping it stops the server too.
pub struct Sim {
    base: String,
    scenario: Scenario,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sim {
    /// Binds 127.0.0.1 on an ephemeral port and serves `scenario` in a tokio task.
    pub async fn start(scenario: Scenario) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let shared = Arc::new(Shared {
            base: base.clone(),
            world: Mutex::new(World::new(&scenario)),
            knobs: Mutex::new(scenario.knobs.clone()),
            faults: Mutex::new(Faults {
                count: 0,
                failures: 0,
            }),
            buckets: Mutex::new(Default::default()),
            log: Mutex::new(Vec::new()),
            cleared: Mutex::new(0),
            seq: Mutex::new(0),
            sshd: Mutex::new(Default::default()),
            config_written: Mutex::new(Default::default()),
            answered: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(serve_one)
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!("arcfix-sim server stopped: {e}");
            }
        });
        tracing::debug!("arcfix-sim serving scenario '{}' on {base}", scenario.name);
        Ok(Sim {
            base,
            scenario,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base_url(&self) -> String {
        format!("{}/", self.base)
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// A bearer token for the scenario's caller.
    pub fn caller_token(&self) -> String {
        self.scenario.caller_token()
    }

    /// Every request received since the last `clear_log`, in order of
    /// arrival, faulted ones included.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let cleared = *lock(&self.shared.cleared);
        lock(&self.shared.log)
            .iter()
            .filter(|(seq, _)| *seq > cleared)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The round trips of the requests since the last `clear_log` when every
    /// answer takes `latency`: a request that arrived more than half a
    /// latency after the one before it began another (it waited for an
    /// answer). For benches (with the test API only).
    #[cfg(feature = "test-api")]
    pub fn round_trips(&self, latency: std::time::Duration) -> usize {
        let mut times: Vec<Instant> = self.requests().iter().map(|r| r.received).collect();
        times.sort();
        if times.is_empty() {
            return 0;
        }
        1 + times
            .windows(2)
            .filter(|w| w[1].duration_since(w[0]) > latency / 2)
            .count()
    }

    /// Every request received since the simulator started, `clear_log` or not.
    pub fn all_requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log)
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Lets the simulated relay splice connections to `machine_id` to a real
    /// sshd on 127.0.0.1:`port` (when everything on the path allows it).
    pub fn attach_sshd(&self, machine_id: &str, port: u16) {
        lock(&self.shared.sshd).insert(machine_id.to_ascii_lowercase(), port);
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The test-only API: what tests and benches steer and inspect the simulator
/// with. Built only for them (`cfg(test)`, or the `test-api` feature that the
/// integration tests and benches turn on), never into the shipped binary.
#[cfg(any(test, feature = "test-api"))]
impl Sim {
    /// Starts `requests()` afresh (`all_requests()` still has them all).
    pub fn clear_log(&self) {
        *lock(&self.shared.cleared) = *lock(&self.shared.seq);
    }

    /// New knobs; the fault counters and ARM's buckets start afresh (full).
    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.shared.knobs) = knobs;
        *lock(&self.shared.buckets) = Default::default();
        *lock(&self.shared.faults) = Faults {
            count: 0,
            failures: 0,
        };
    }

    /// Every relay credential handed out so far, in order.
    pub fn issued(&self) -> Vec<IssuedCredential> {
        lock(&self.shared.world).issued.clone()
    }

    /// The current resources, role assignments and server states (for asserts).
    pub fn state_json(&self) -> Value {
        lock(&self.shared.world).state_json()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_one(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_body = axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    if parts.method == axum::http::Method::POST && parts.uri.path() == relay::ROUTE {
        return relay_connect(&shared, &raw_body);
    }
    let header = |h: &HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let incoming = Incoming {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        authorization: header(&parts.headers, "authorization"),
        body: if raw_body.is_empty() {
            None
        } else {
            serde_json::from_slice(&raw_body).ok()
        },
        raw_body,
        base: shared.base.clone(),
    };
    let correlation = header(&parts.headers, "x-ms-correlation-request-id")
        .or_else(|| header(&parts.headers, "x-ms-client-request-id"))
        .unwrap_or_else(world::new_guid);

    let seq = {
        let mut seq = lock(&shared.seq);
        *seq += 1;
        *seq
    };
    lock(&shared.log).push((
        seq,
        LoggedRequest {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            status: 0,
            body: incoming.body.clone(),
            authorization_present: incoming.authorization.is_some(),
            received: std::time::Instant::now(),
            answered_before: shared.answered.load(std::sync::atomic::Ordering::SeqCst),
        },
    ));

    let knobs = lock(&shared.knobs).clone();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let kind = classify(&incoming.method, &incoming.path);
    let is_token = matches!(route::parse(&incoming.path), route::Route::Token { .. });
    // Entra's token endpoint is not ARM: no bucket, no injected fault.
    let (reply, quota) = if is_token {
        (arm::handle(&mut lock(&shared.world), &incoming), None)
    } else {
        let scope = throttle::Scope::of(&incoming.path);
        let actor = actor(&incoming);
        let spec = knobs.bucket.unwrap_or(BucketSpec::ARM);
        let taken = lock(&shared.buckets).take(
            &scope,
            &actor,
            kind,
            &incoming.path,
            &spec,
            knobs.bucket.is_some(),
            Instant::now(),
        );
        let header = scope.header(kind);
        match taken {
            Err(wait) => (
                throttle::throttled(&scope, &actor, kind, wait),
                Some((header, 0)),
            ),
            Ok(left) => {
                let reply = match fault(&shared, &knobs, &incoming, kind, &correlation) {
                    Some(reply) => reply,
                    None => arm::handle(&mut lock(&shared.world), &incoming),
                };
                (reply, Some((header, left)))
            }
        }
    };

    // The newest entries are at the end.
    if let Some((_, entry)) = lock(&shared.log).iter_mut().rev().find(|(s, _)| *s == seq) {
        entry.status = reply.status;
    }
    shared
        .answered
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if incoming.method == "PUT"
        && (200..300).contains(&reply.status)
        && let Some(i) = incoming.path.to_ascii_lowercase().find(
            "/providers/microsoft.hybridconnectivity/endpoints/default/serviceconfigurations/",
        )
    {
        lock(&shared.config_written)
            .insert(incoming.path[..i].to_ascii_lowercase(), Instant::now());
    }
    respond(reply, quota, &correlation)
}

/// The simulated relay: a stand-in proxy asks where its connection goes.
fn relay_connect(shared: &Shared, body: &[u8]) -> Response {
    let req: Value = serde_json::from_slice(body).unwrap_or_default();
    let info = req["relay_info"].as_str().unwrap_or_default();
    let port = req["port"].as_u64().unwrap_or(22) as u16;
    let world = lock(&shared.world);
    // The machine whose credentials these are, to find its sshd and config age.
    let machine = world
        .issued
        .iter()
        .rev()
        .find(|c| c.matches_relay_info(info.trim()))
        .and_then(|c| {
            let lower = c.endpoint.to_ascii_lowercase();
            lower
                .find("/providers/microsoft.hybridconnectivity/")
                .map(|i| lower[..i].to_string())
        })
        .unwrap_or_default();
    let sshd = lock(&shared.sshd).get(&machine).copied();
    let since = lock(&shared.config_written).get(&machine).copied();
    let delay = Duration::from_millis(lock(&shared.knobs).relay_propagation_ms);
    let answer = relay::decide(&world, info, port, sshd, since, delay);
    let mut r = Response::new(Body::from(answer.to_string()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// The injected fault for this request, if the knobs call for one.
fn fault(
    shared: &Shared,
    knobs: &Knobs,
    inc: &Incoming,
    kind: Kind,
    correlation: &str,
) -> Option<Reply> {
    let mut f = lock(&shared.faults);
    f.count += 1;
    let hits = |every: u32| every > 0 && f.count.is_multiple_of(every as u64);
    let sub = route::segments(&inc.path)
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("subscriptions"))
        .map(|w| w[1].clone())
        .unwrap_or_default();
    let retry_after = |e: ArmError| match &knobs.retry_after {
        Some(v) => e.header("Retry-After", v.clone()),
        None => e,
    };
    if hits(knobs.throttle_every) {
        let actor = actor(inc);
        let seconds = knobs
            .retry_after
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let what = match kind {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Delete => "delete",
        };
        let e = ArmError::new(
            429,
            "SubscriptionRequestsThrottled",
            format!(
                "Number of '{what}' requests for subscription '{sub}' actor '{actor}' exceeded. Please try again \
                 after '{seconds}' seconds after additional tokens are available. Refer to \
                 https://aka.ms/arm-throttling for additional information."
            ),
        )
        .header("x-ms-failure-cause", "gateway");
        return Some(retry_after(e).into_reply());
    }
    if hits(knobs.fail_every) {
        f.failures += 1;
        let e = if f.failures % 2 == 1 {
            let stamp = routing_stamp();
            ArmError::new(
                500,
                "InternalServerError",
                format!(
                    "Encountered internal server error. Diagnostic information: timestamp '{stamp}', subscription id \
                     '{sub}', tracking id '{}', request correlation id '{correlation}'.",
                    world::new_guid()
                ),
            )
        } else {
            retry_after(ArmError::new(
                503,
                "ServiceUnavailable",
                "The server is currently unable to handle the request. Please try again later.",
            ))
        };
        return Some(e.header("x-ms-failure-cause", "gateway").into_reply());
    }
    None
}

/// The caller's object id, from the bearer token (empty without one).
fn actor(inc: &Incoming) -> String {
    inc.authorization
        .as_deref()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(token::claims)
        .and_then(|c| c.get("oid").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

fn routing_stamp() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

fn respond(reply: Reply, quota: Option<(&str, u64)>, correlation: &str) -> Response {
    let body = reply
        .body
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = axum::http::StatusCode::from_u16(reply.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = world::new_guid();
    let common = [
        (
            "content-type",
            "application/json; charset=utf-8".to_string(),
        ),
        ("cache-control", "no-cache".to_string()),
        ("pragma", "no-cache".to_string()),
        ("expires", "-1".to_string()),
        ("x-ms-request-id", request_id),
        ("x-ms-correlation-request-id", correlation.to_string()),
        (
            "x-ms-routing-request-id",
            format!("EASTUS:{}:{}", routing_stamp(), world::new_guid()),
        ),
    ];
    let quota = quota.map(|(name, left)| (name, left.to_string()));
    let headers = response.headers_mut();
    for (name, value) in common
        .into_iter()
        .chain(quota)
        .chain(reply.headers.iter().map(|(n, v)| (n.as_str(), v.clone())))
    {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}
