//! The ARM client: bearer token, request ids, pacing within ARM's token
//! buckets (`pace`), retries for 429 (after `Retry-After`, which holds every
//! request of the subscription), 5xx and dropped connections with capped
//! exponential backoff and jitter, all bounded in count and total time (time
//! spent waiting for a token not counted; a request's `Retry-After`s have a
//! cap of their own, `max_throttle_wait`); an endpoint that refuses the
//! connection or whose name does not resolve gets one retry, then every
//! request of the run fails at once naming it; typed errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::azure::auth::{Claims, Tokens};
use crate::azure::pace::{self, Pacer};
use crate::error::arm::ArmError;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_total: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Wait after a 429 without `Retry-After`.
    pub default_retry_after: Duration,
    pub request_timeout: Duration,
    /// Throttling 429s one request may meet before it is given up on (they
    /// are not failed attempts).
    pub max_throttled: u32,
    /// The most one request waits for ARM's throttling (its `Retry-After`s
    /// added up) before it is given up on.
    pub max_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_total: Duration::from_secs(90),
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(10),
            default_retry_after: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_throttled: 30,
            max_throttle_wait: Duration::from_secs(120),
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Arm {
    http: reqwest::Client,
    base: url::Url,
    tokens: Tokens,
    retry: RetryPolicy,
    requests: AtomicU64,
    user_agent: String,
    /// Where retries are announced (the run's view); none until told.
    view: std::sync::OnceLock<Arc<dyn crate::progress::Progress>>,
    pace: Pacer,
    /// Where the endpoint came from (`--arm-endpoint`, …), for the error
    /// when it cannot be reached.
    origin: std::sync::OnceLock<String>,
    /// The endpoint refused the connection or its name did not resolve, past
    /// the one retry: every later request fails at once with this error
    /// (waiting cannot help).
    unreachable: std::sync::OnceLock<ArmError>,
    /// Wakes the requests waiting their turn when `unreachable` is set.
    gone: tokio::sync::Notify,
}

impl Arm {
    pub fn new(base: url::Url, tokens: Tokens, retry: RetryPolicy) -> Result<Arc<Arm>> {
        let mut builder = reqwest::Client::builder()
            // A redirect is never followed: the token would go with it, and a
            // foreign answer would be taken for ARM's. A 3xx is an error.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(retry.request_timeout)
            .connect_timeout(Duration::from_secs(10));
        // A loopback endpoint (the simulator) is never reached through a proxy
        // from HTTP(S)_PROXY: the traffic must stay on this machine.
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| Error::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(Arm {
            http,
            base,
            tokens,
            retry,
            requests: AtomicU64::new(0),
            user_agent: format!("arcfix/{}", env!("CARGO_PKG_VERSION")),
            view: std::sync::OnceLock::new(),
            origin: std::sync::OnceLock::new(),
            unreachable: std::sync::OnceLock::new(),
            gone: tokio::sync::Notify::new(),
            pace: Pacer::new(pace::ARM.map(|s| pace::Shape {
                burst: s.burst * pace_scale(),
                per_second: s.per_second * pace_scale(),
            })),
        }))
    }

    /// Says where the endpoint came from (`--arm-endpoint`,
    /// `ARCFIX_ARM_ENDPOINT`, `--cloud AzureCloud`) in the error when it
    /// cannot be reached (the first told wins).
    pub fn endpoint_from(&self, origin: impl Into<String>) {
        let _ = self.origin.set(origin.into());
    }

    /// How fast ARM lets this run's reads go, as the pacer learned it.
    pub fn pace(&self) -> Option<crate::progress::Pace> {
        self.pace.pace()
    }

    /// Retries are announced on `view` from now on (the first view told wins).
    pub fn report_to(&self, view: Arc<dyn crate::progress::Progress>) {
        let _ = self.view.set(view);
    }

    /// Says what is retried, why, and when: every wait before a retry.
    fn announce_retry(&self, why: &str, method: &str, path: &str, wait: Duration, attempt: u32) {
        tracing::debug!(
            method,
            path,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "retry decided: {why}"
        );
        if let Some(view) = self.view.get() {
            view.progress(&retry_notice(
                why,
                method,
                path,
                wait,
                attempt + 1,
                self.retry.max_attempts,
            ));
        }
    }

    /// Says once a request that ARM is throttling it, and how long it waits
    /// at most.
    fn announce_throttle(&self, method: &str, path: &str, wait: Duration) {
        if let Some(view) = self.view.get() {
            view.progress(&format!(
                "ARM is throttling (429 Too Many Requests); {method} {} waits {} (at most {} in all)",
                short_path(path),
                crate::text::seconds(wait),
                crate::text::seconds(self.retry.max_throttle_wait)
            ));
        }
    }

    /// The error of an endpoint found unreachable (connection refused, a
    /// name that does not resolve): nothing more is sent to it this run.
    pub fn unreachable(&self) -> Option<ArmError> {
        self.unreachable.get().cloned()
    }

    /// How many HTTP requests went out (retries included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// The caller, from the token's claims.
    pub async fn caller(&self) -> Result<Claims> {
        let token = self.tokens.token().await?;
        Ok(Claims::from_token(&token).unwrap_or_default())
    }

    pub async fn get(&self, path: &str, api_version: &str) -> Result<Answer, ArmError> {
        self.send("GET", path, api_version, None).await
    }

    /// GET that treats 404 as `None`.
    pub async fn get_opt(&self, path: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        match self.get(path, api_version).await {
            Ok(a) => Ok(Some(a.body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends one request, retrying what is worth retrying. `path` starts with
    /// `/` and may carry its own query (`?$filter=…`), or be a full URL that
    /// ARM handed out (an `Azure-AsyncOperation` or `nextLink`).
    ///
    /// Each attempt: its turn within ARM's buckets (`turn`), then the token
    /// (`bearer`: a long wait for the rate limit never sends a token that
    /// expired meanwhile), the request (`transmit`), and what the answer or its
    /// absence means (`answered`, `unanswered`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ArmError> {
        let url = self.url(path, api_version).map_err(|m| {
            let shown = crate::text::sanitize(path);
            ArmError::from_response(0, "", method, &shown, None).with_message("InvalidUrl", &m)
        })?;
        let call = Call::new(method, url, body);
        if let Some(e) = self.dead(&call) {
            return Err(e);
        }
        let mut budget = Budget::new();
        loop {
            budget.attempt += 1;
            let ticket = self.turn(&call).await?;
            budget.paced += ticket.waited;
            let token = self.bearer(&call).await?;
            let sent = Instant::now();
            let next = match self.transmit(&call, &token, budget.attempt).await {
                Ok(resp) => {
                    self.answered(&call, &ticket, resp, sent, &mut budget)
                        .await?
                }
                Err(e) => self.unanswered(&call, &ticket, &e, sent, &budget)?,
            };
            match next {
                Next::Done(answer) => return Ok(answer),
                Next::Retry { wait, why } => {
                    self.announce_retry(&why, method, &call.path, wait, budget.attempt);
                    tokio::time::sleep(wait).await;
                }
                Next::Sleep(wait) => tokio::time::sleep(wait).await,
                Next::Held => budget.attempt -= 1,
            }
        }
    }

    /// The endpoint's error, once it is found unreachable, with this
    /// request's own method and path.
    fn dead(&self, call: &Call<'_>) -> Option<ArmError> {
        self.unreachable().map(|e| ArmError {
            method: call.method.to_string(),
            path: call.path.clone(),
            ..e
        })
    }

    /// Pacing: waits the request's turn within ARM's buckets. A request
    /// waiting its turn stops when the endpoint is found unreachable.
    async fn turn(&self, call: &Call<'_>) -> Result<pace::Ticket, ArmError> {
        let gone = self.gone.notified();
        tokio::pin!(gone);
        gone.as_mut().enable();
        if let Some(e) = self.dead(call) {
            return Err(e);
        }
        tokio::select! {
            t = self.pace.acquire(&call.lane, call.kind) => Ok(t),
            _ = gone => Err(self.dead(call).unwrap_or_else(|| {
                call.error(
                    crate::error::arm::UNREACHABLE,
                    format!("cannot reach the ARM endpoint {}", self.base),
                    None,
                )
            })),
        }
    }

    /// The token: failing to get one ends the request (nothing was sent:
    /// not an answer from Azure).
    async fn bearer(&self, call: &Call<'_>) -> Result<String, ArmError> {
        self.tokens.token().await.map_err(|e| {
            let message = match e {
                Error::Auth(m) => m,
                other => other.to_string(),
            };
            call.error("SignInRequired", message, None)
        })
    }

    /// Sends one attempt (counted), with a request id of its own.
    async fn transmit(
        &self,
        call: &Call<'_>,
        token: &str,
        attempt: u32,
    ) -> reqwest::Result<reqwest::Response> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let m = Method::from_bytes(call.method.as_bytes()).unwrap_or(Method::GET);
        let mut req = self
            .http
            .request(m, call.url.clone())
            .bearer_auth(token)
            .header("User-Agent", &self.user_agent)
            .header("x-ms-client-request-id", &request_id)
            .header("Accept", "application/json");
        if let Some(b) = call.body {
            req = req.json(b);
        } else if call.method != "GET" && call.method != "DELETE" {
            req = req.header("Content-Length", "0");
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let request = req.build()?;
        tracing::debug!(
            "ARM request {} {} attempt {attempt}, request id {request_id}, headers: {}",
            call.method,
            call.path,
            shown_headers(request.headers())
        );
        self.http.execute(request).await
    }

    /// An answer came: tells the pacer what ARM's buckets hold, reads the
    /// body, and decodes a success or judges an error.
    async fn answered(
        &self,
        call: &Call<'_>,
        ticket: &pace::Ticket,
        resp: reqwest::Response,
        sent: Instant,
        budget: &mut Budget,
    ) -> Result<Next, ArmError> {
        let (method, path) = (call.method, &call.path);
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        tracing::info!(
            "{method} {path} {status} ({} ms)",
            sent.elapsed().as_millis()
        );
        tracing::debug!(
            "{method} {path} answer headers: {}",
            shown_headers(&headers)
        );
        self.pace
            .observe(ticket, &pace::remaining(&headers), status != 429);
        let correlation = headers
            .get("x-ms-correlation-request-id")
            .or_else(|| headers.get("x-ms-request-id"))
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = match read_body(resp).await {
            Ok(t) => t,
            Err(BodyError::TooLarge) => return Err(too_large(call, status, correlation)),
            Err(BodyError::Broken(e)) => {
                // A body that fails to arrive is a failed attempt, never an empty answer.
                let message = format!(
                    "the answer from {} broke off: {}",
                    self.base,
                    crate::text::one_line(&error_chain(&e))
                );
                let err = call.error("IncompleteResponse", message, correlation);
                return Ok(Next::Retry {
                    wait: self.give_up_or_wait(budget, self.backoff(budget.attempt), err)?,
                    why: format!("ARM's answer ({status}) broke off"),
                });
            }
        };
        if (300..400).contains(&status) {
            return Err(redirected(call, status, &headers, correlation));
        }
        if (200..300).contains(&status) {
            return decode(call, status, headers, &text, correlation).map(Next::Done);
        }
        let err = ArmError::from_response(status, &text, method, path, correlation);
        self.judge(call, status, &headers, err, budget)
    }

    /// Retries: an error answer is waited out and tried again (a 429, a 5xx)
    /// within the policy's bounds, or given up on.
    fn judge(
        &self,
        call: &Call<'_>,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        err: ArmError,
        budget: &mut Budget,
    ) -> Result<Next, ArmError> {
        let (wait, why) = if status == 429 {
            let wait = retry_after(headers).unwrap_or(self.retry.default_retry_after);
            if is_throttling(&err) {
                return self.throttled(call, wait, err, budget);
            }
            (
                wait,
                "ARM is throttling (429 Too Many Requests)".to_string(),
            )
        } else if status >= 500 {
            (
                retry_after(headers).unwrap_or_else(|| self.backoff(budget.attempt)),
                format!("ARM answered {status} ({})", err.code),
            )
        } else {
            return Err(err);
        };
        Ok(Next::Retry {
            wait: self.give_up_or_wait(budget, wait, err)?,
            why,
        })
    }

    /// ARM's bucket is empty for the whole subscription: every request of it
    /// waits (the pacer holds the lane), and this is no failed attempt; past
    /// the policy's count or total of such waits the request is given up on.
    fn throttled(
        &self,
        call: &Call<'_>,
        wait: Duration,
        err: ArmError,
        budget: &mut Budget,
    ) -> Result<Next, ArmError> {
        budget.throttled += 1;
        budget.throttle_wait += wait;
        if budget.throttled > self.retry.max_throttled
            || budget.throttle_wait > self.retry.max_throttle_wait
        {
            let gave_up = format!(
                "{} (arcfix stopped waiting after {} answers 429 and {} of waits; at most {} a request)",
                err.message,
                budget.throttled,
                crate::text::seconds(budget.throttle_wait - wait),
                crate::text::seconds(self.retry.max_throttle_wait),
            );
            let code = err.code.clone();
            return Err(err.with_message(&code, &gave_up));
        }
        tracing::info!(method = call.method, path = %call.path, wait_ms = wait.as_millis() as u64, "throttled: holding the subscription's requests");
        if budget.throttled == 1 {
            // Said once a request: the waits that follow are the same story.
            self.announce_throttle(call.method, &call.path, wait);
        }
        self.pace.hold(&call.lane, wait);
        Ok(Next::Held)
    }

    /// No answer: an endpoint that cannot be reached at all gets one retry;
    /// a timeout or a dropped connection is a failed attempt.
    fn unanswered(
        &self,
        call: &Call<'_>,
        ticket: &pace::Ticket,
        e: &reqwest::Error,
        sent: Instant,
        budget: &Budget,
    ) -> Result<Next, ArmError> {
        tracing::info!(
            "{} {} no answer: {} ({} ms)",
            call.method,
            call.path,
            no_answer(e),
            sent.elapsed().as_millis()
        );
        if let Some(why) = unreachable(e, &self.base) {
            self.pace.unsent(ticket);
            return self.unreachable_once(call, &why, budget.attempt);
        }
        let code = if e.is_timeout() {
            "Timeout"
        } else {
            "ConnectionFailed"
        };
        let message = format!(
            "cannot reach {}: {}",
            self.base,
            crate::text::one_line(&error_chain(e))
        );
        let err = call.error(code, message, None);
        Ok(Next::Retry {
            wait: self.give_up_or_wait(budget, self.backoff(budget.attempt), err)?,
            why: format!("ARM did not answer ({})", no_answer(e)),
        })
    }

    /// Nobody listens there, or the name is not known: one retry, then the
    /// run stops saying where the endpoint came from (every later request
    /// fails at once, and those waiting their turn are woken).
    fn unreachable_once(&self, call: &Call<'_>, why: &str, attempt: u32) -> Result<Next, ArmError> {
        let message = format!(
            "cannot reach the ARM endpoint {}{}: {why}",
            self.base,
            self.origin
                .get()
                .map(|o| format!(" (from {o})"))
                .unwrap_or_default()
        );
        let err = call.error(crate::error::arm::UNREACHABLE, message, None);
        if attempt >= 2 {
            let _ = self.unreachable.set(err.clone());
            self.gone.notify_waiters();
            return Err(err);
        }
        let wait = self.backoff(1);
        if let Some(view) = self.view.get() {
            view.progress(&retry_notice(
                &format!("ARM did not answer ({why})"),
                call.method,
                &call.path,
                wait,
                2,
                2,
            ));
        }
        Ok(Next::Sleep(wait))
    }

    /// `wait` when the request may still be tried again (attempts and time,
    /// pacing not counted, left), else `err`.
    fn give_up_or_wait(
        &self,
        budget: &Budget,
        wait: Duration,
        err: ArmError,
    ) -> Result<Duration, ArmError> {
        let started = budget.started + budget.paced;
        if budget.attempt >= self.retry.max_attempts
            || started.elapsed() + wait > self.retry.max_total
        {
            Err(err)
        } else {
            Ok(wait)
        }
    }

    /// Exponential backoff with full jitter in its upper half, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        let capped = exp.min(self.retry.max_delay);
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
        capped / 2 + capped / 2 * jitter / 1000
    }

    /// The URL of a request: a path arcfix built, or a link ARM handed out
    /// (`nextLink`, `Azure-AsyncOperation`, a role definition id). Whatever its
    /// spelling, it is resolved against the endpoint and must stay on it (same
    /// scheme, host and port) before any request carries the token.
    fn url(&self, path: &str, api_version: &str) -> std::result::Result<url::Url, String> {
        // Paths arcfix builds start with one `/`; the endpoint may have a path
        // of its own, which they go under.
        if walks_up(path) {
            return Err(format!(
                "a request path with a '.' or '..' segment is refused: {}",
                crate::text::sanitize(path)
            ));
        }
        let relative = path
            .strip_prefix('/')
            .filter(|rest| !rest.starts_with('/') && !rest.starts_with('\\'))
            .unwrap_or(path);
        let mut url = self.base.join(relative).map_err(|e| {
            format!(
                "Azure returned a link that is not a URL ({e}): {}",
                crate::text::sanitize(path)
            )
        })?;
        if !same_origin(&url, &self.base) {
            return Err(format!(
                "Azure returned a link to another host ({}); arcfix sends its token only to {}",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            ));
        }
        if !api_version.is_empty() && !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", api_version);
        }
        Ok(url)
    }
}

/// One request, as `Arm::send` carries it through its attempts.
struct Call<'a> {
    method: &'a str,
    url: url::Url,
    /// The URL's path, as logs and errors show it.
    path: String,
    body: Option<&'a Value>,
    /// Its lane and kind in ARM's buckets.
    lane: String,
    kind: pace::Kind,
}

impl<'a> Call<'a> {
    fn new(method: &'a str, url: url::Url, body: Option<&'a Value>) -> Call<'a> {
        Call {
            method,
            path: url.path().to_string(),
            lane: pace::lane_of(url.path()),
            kind: pace::Kind::of(method, url.path()),
            url,
            body,
        }
    }

    /// An error of this request that no answer from Azure carries (status 0).
    fn error(&self, code: &str, message: String, correlation_id: Option<String>) -> ArmError {
        ArmError {
            status: 0,
            code: code.into(),
            message,
            method: self.method.to_string(),
            path: self.path.clone(),
            correlation_id,
        }
    }
}

/// What one request has spent so far.
struct Budget {
    started: Instant,
    /// Waiting for a token or a Retry-After is pacing, not failing.
    paced: Duration,
    attempt: u32,
    /// ARM's throttling 429s met, and their `Retry-After`s added up.
    throttled: u32,
    throttle_wait: Duration,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            started: Instant::now(),
            paced: Duration::ZERO,
            attempt: 0,
            throttled: 0,
            throttle_wait: Duration::ZERO,
        }
    }
}

/// What follows an attempt.
enum Next {
    Done(Answer),
    /// Wait, saying why, then try again.
    Retry {
        wait: Duration,
        why: String,
    },
    /// Wait (already said), then try again.
    Sleep(Duration),
    /// ARM holds the subscription's requests: the pacer makes the wait, and
    /// no attempt is spent.
    Held,
}

/// Decoding a success: an empty body is `null`, anything else must be JSON.
fn decode(
    call: &Call<'_>,
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: &str,
    correlation: Option<String>,
) -> Result<Answer, ArmError> {
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).map_err(|e| {
            ArmError::invalid_answer(
                status,
                call.method,
                &call.path,
                correlation,
                format!("the response is not JSON: {e}"),
            )
        })?
    };
    Ok(Answer {
        status,
        body,
        headers,
    })
}

/// A 3xx: arcfix does not follow redirects (the token would go with them).
fn redirected(
    call: &Call<'_>,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    correlation: Option<String>,
) -> ArmError {
    let to = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" to {}", crate::text::sanitize(l)))
        .unwrap_or_default();
    ArmError::from_response(status, "", call.method, &call.path, correlation).with_message(
        "UnexpectedRedirect",
        &format!("ARM answered with a redirect ({status}){to}; arcfix does not follow redirects"),
    )
}

/// An answer over `MAX_BODY` is refused unread.
fn too_large(call: &Call<'_>, status: u16, correlation: Option<String>) -> ArmError {
    ArmError::from_response(status, "", call.method, &call.path, correlation).with_message(
        "ResponseTooLarge",
        &format!(
            "the answer is larger than {} MiB: refusing to read it",
            MAX_BODY >> 20
        ),
    )
}

/// Whether a path (before its query) has a `.` or `..` segment, in any
/// spelling a URL parser reads as one (`%2e`, a `\` for a `/`): no request
/// built from a name is aimed anywhere but where the name says.
fn walks_up(path: &str) -> bool {
    let before_query = path.split(['?', '#']).next().unwrap_or_default();
    before_query.split(['/', '\\']).any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    })
}

/// A 429 of ARM's throttling (`SubscriptionRequestsThrottled`,
/// `TenantRequestsThrottled`, or one without an ARM error code), not a
/// resource provider's "retry later" conflict.
fn is_throttling(e: &ArmError) -> bool {
    e.code.to_ascii_lowercase().contains("throttl") || e.code == "TooManyRequests"
}

/// The largest answer arcfix reads from ARM.
pub const MAX_BODY: usize = 16 << 20;

enum BodyError {
    TooLarge,
    Broken(reqwest::Error),
}

/// Reads a response body, at most `MAX_BODY` bytes.
async fn read_body(mut resp: reqwest::Response) -> std::result::Result<String, BodyError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Broken)? {
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Same scheme, host and port (the default port of the scheme counts).
/// Whether a URL names this machine (127.0.0.0/8, ::1, localhost).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.username().is_empty()
        && a.password().is_none()
}

impl ArmError {
    fn with_message(mut self, code: &str, message: &str) -> ArmError {
        self.code = code.to_string();
        self.message = message.to_string();
        self
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Why a request got no answer, in a few words ("connection refused").
fn no_answer(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::ConnectionRefused => "connection refused".into(),
                K::ConnectionReset => "connection reset".into(),
                K::ConnectionAborted => "connection aborted".into(),
                K::TimedOut => "timed out".into(),
                K::UnexpectedEof => "connection closed".into(),
                _ => crate::text::one_line(&io.to_string()),
            };
        }
        cur = c.source();
    }
    if e.is_connect() {
        "cannot connect".into()
    } else {
        "connection closed".into()
    }
}

/// Headers as `name: value` pairs for `-vv`, without the token
/// (`Authorization`) or cookies.
fn shown_headers(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
            )
        })
        .map(|(k, v)| {
            format!(
                "{k}: {}",
                crate::text::sanitize(v.to_str().unwrap_or("(not text)"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "ARM did not answer (connection refused); retrying GET …/machines/web-01
/// in 4 s (attempt 2 of 6)".
pub fn retry_notice(
    why: &str,
    method: &str,
    path: &str,
    wait: Duration,
    next: u32,
    max: u32,
) -> String {
    format!(
        "{why}; retrying {method} {} in {} (attempt {next} of {max})",
        short_path(path),
        crate::text::seconds(wait)
    )
}

/// A path's last two segments: `…/machines/web-01`.
fn short_path(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.len() > 2 {
        format!("…/{}", segments[segments.len() - 2..].join("/"))
    } else {
        path.to_string()
    }
}

/// Why the endpoint cannot be reached at all, when waiting cannot help: the
/// connection was refused, or the host name does not resolve.
fn unreachable(e: &reqwest::Error, base: &url::Url) -> Option<String> {
    if !e.is_connect() {
        return None;
    }
    if no_answer(e) == "connection refused" {
        return Some("connection refused".into());
    }
    let chain = error_chain(e).to_ascii_lowercase();
    (chain.contains("dns error") || chain.contains("failed to lookup address")).then(|| {
        format!(
            "the name {} does not resolve",
            base.host_str().unwrap_or_default()
        )
    })
}

/// `ARCFIX_RETRY_SCALE` (0 < s <= 1) shrinks every wait, for tests of retry
/// storms and settling; 1 by default.
pub fn retry_scale() -> f64 {
    std::env::var("ARCFIX_RETRY_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 1.0)
        .unwrap_or(1.0)
}

/// `ARCFIX_PACE_SCALE` (>= 1) multiplies the client's token buckets, for
/// benchmarks of concurrency against a simulator without ARM's limits; 1 by
/// default (ARM's own buckets).
pub fn pace_scale() -> f64 {
    std::env::var("ARCFIX_PACE_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 1.0)
        .unwrap_or(1.0)
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(3600)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    /// A client of `base`, with the token "t".
    pub(super) fn client(base: url::Url, retry: RetryPolicy) -> Arc<Arm> {
        Arm::new(
            base,
            Tokens::new(Box::new(crate::azure::auth::StaticToken("t".into())), "s"),
            retry,
        )
        .unwrap()
    }

    /// Each link is refused: it leads to another host than the endpoint.
    pub(super) fn refused_as_foreign(arm: &Arm, links: &[&str]) {
        for link in links {
            let e = arm.url(link, "y").unwrap_err();
            assert!(e.contains("another host"), "{link}: {e}");
        }
    }

    #[test]
    fn urls_keep_their_query_and_stay_on_the_endpoint() {
        let arm = client(
            url::Url::parse("http://127.0.0.1:9/").unwrap(),
            RetryPolicy::default(),
        );
        assert_eq!(
            arm.url("/subscriptions/s/providers/X", "2021-04-01")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/subscriptions/s/providers/X?api-version=2021-04-01"
        );
        assert_eq!(
            arm.url("/a?$filter=atScope()", "2022-04-01")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/a?$filter=atScope()&api-version=2022-04-01"
        );
        assert_eq!(
            arm.url("http://127.0.0.1:9/op/1?api-version=x", "y")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/op/1?api-version=x"
        );
        assert!(arm.url("http://169.254.169.254/metadata", "y").is_err());
        for walk in [
            "/subscriptions/s/m/web-01/extensions/../../OTHER/extensions/x",
            "/a/%2E%2e/b",
            "/a/.\\b",
            "/a/./b",
        ] {
            let e = arm.url(walk, "y").unwrap_err();
            assert!(e.contains("'..' segment is refused"), "{walk}: {e}");
        }
        assert!(arm.url("/a/b..c/x?$filter=a/../b", "y").is_ok());
        // Every spelling of a foreign link is refused, whatever its case or padding.
        refused_as_foreign(
            &arm,
            &[
                "HTTP://127.0.0.2:9/x",
                "Http://127.0.0.2:9/x",
                " http://127.0.0.2:9/x",
                "\thttp://127.0.0.2:9/x",
                "//127.0.0.2:9/x",
                "/\\127.0.0.2:9/x",
                "https://127.0.0.1:9/x",
                "http://127.0.0.1:10/x",
                "http://user:pw@127.0.0.1:9/x",
            ],
        );
        // A same-origin link in another spelling is fine.
        assert_eq!(
            arm.url("HTTP://127.0.0.1:9/op/2", "").unwrap().as_str(),
            "http://127.0.0.1:9/op/2"
        );
        for attempt in 1..12 {
            let d = arm.backoff(attempt);
            assert!(d <= Duration::from_secs(10), "{d:?}");
        }
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that drops the first `drops` connections without an
    /// answer, then answers 200 and hands back the request it read.
    async fn flaky_server(drops: usize) -> (url::Url, tokio::sync::mpsc::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut sock, _)) = listener.accept().await {
                n += 1;
                if n <= drops {
                    drop(sock);
                    continue;
                }
                let mut buf = vec![0u8; 8192];
                let len = sock.read(&mut buf).await.unwrap_or(0);
                let _ = tx
                    .send(String::from_utf8_lossy(&buf[..len]).into_owned())
                    .await;
                let body = r#"{"registrationState":"Registered"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        (url, rx)
    }

    /// A loopback server that answers the nth connection with `reply(n)`
    /// (raw HTTP) and counts the requests that carried a bearer token.
    async fn raw_server(
        reply: impl Fn(usize) -> Vec<u8> + Send + 'static,
    ) -> (url::Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut sock, _)) = listener.accept().await {
                n += 1;
                let mut buf = vec![0u8; 8192];
                let len = sock.read(&mut buf).await.unwrap_or(0);
                if String::from_utf8_lossy(&buf[..len])
                    .to_ascii_lowercase()
                    .contains("authorization: bearer")
                {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let _ = sock.write_all(&reply(n)).await;
                let _ = sock.shutdown().await;
            }
        });
        (url, seen)
    }

    fn arm_at(url: url::Url) -> Arc<Arm> {
        super::tests::client(url, quick())
    }

    #[tokio::test]
    async fn a_redirect_is_an_error_and_is_not_followed() {
        let (elsewhere, foreign_hits) = raw_server(|_| {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}".to_vec()
        })
        .await;
        let to = format!("{elsewhere}x");
        let (url, _) = raw_server(move |_| {
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes()
        })
        .await;
        let e = arm_at(url).get("/m", "1").await.unwrap_err();
        assert_eq!(e.code, "UnexpectedRedirect", "{e}");
        assert!(e.to_string().contains("307"), "{e}");
        assert_eq!(foreign_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_retried_never_read_as_empty() {
        // The first two answers promise 100 bytes and send 2; the third is whole.
        let (url, _) = raw_server(|n| {
            if n <= 2 {
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{}".to_vec()
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}"
                    .to_vec()
            }
        })
        .await;
        let arm = arm_at(url);
        let a = arm.get("/m", "1").await.unwrap();
        assert_eq!(a.body["a"], 1);
        assert_eq!(arm.request_count(), 3);

        let (url, _) = raw_server(|_| {
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{}".to_vec()
        })
        .await;
        let arm = arm_at(url);
        let e = arm.get_opt("/m", "1").await.unwrap_err();
        assert_eq!(e.code, "IncompleteResponse", "{e}");
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_without_reading_it_all() {
        let big = MAX_BODY + 1;
        // Announced size.
        let (url, _) = raw_server(move |_| {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {big}\r\nconnection: close\r\n\r\n")
                .into_bytes()
        })
        .await;
        let e = arm_at(url).get("/m", "1").await.unwrap_err();
        assert_eq!(e.code, "ResponseTooLarge", "{e}");
        // Chunked, no size announced.
        let (url, _) = raw_server(move |_| {
            let mut r =
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                    .to_vec();
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..17 {
                r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                r.extend_from_slice(&chunk);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        })
        .await;
        let e = arm_at(url).get("/m", "1").await.unwrap_err();
        assert_eq!(e.code, "ResponseTooLarge", "{e}");
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn sends_user_agent_request_id_and_bearer_token() {
        let (url, mut seen) = flaky_server(0).await;
        let arm = Arm::new(
            url,
            Tokens::new(
                Box::new(crate::azure::auth::StaticToken("tok-123".into())),
                "s",
            ),
            quick(),
        )
        .unwrap();
        let a = arm
            .get(
                "/subscriptions/s/providers/Microsoft.HybridConnectivity",
                "2021-04-01",
            )
            .await
            .unwrap();
        assert_eq!(a.body["registrationState"], "Registered");
        let request = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /subscriptions/s/providers/microsoft.hybridconnectivity?api-version=2021-04-01 "), "{request}");
        assert!(
            request.contains(&format!("user-agent: arcfix/{}", env!("CARGO_PKG_VERSION"))),
            "{request}"
        );
        assert!(request.contains("x-ms-client-request-id: "), "{request}");
        assert!(
            request.contains("authorization: bearer tok-123"),
            "{request}"
        );
    }

    #[test]
    fn an_https_endpoint_never_follows_a_link_to_plain_http() {
        let arm = super::tests::client(
            url::Url::parse("https://management.azure.com/").unwrap(),
            RetryPolicy::default(),
        );
        super::tests::refused_as_foreign(
            &arm,
            &[
                "http:127.0.0.2:9/x",
                "http://management.azure.com/x",
                "HTTP:management.azure.com/x",
                "https://management.azure.com.evil.example/x",
                "https://management.azure.com:444/x",
            ],
        );
        assert_eq!(
            arm.url(
                "https://MANAGEMENT.azure.com:443/subscriptions?$skiptoken=a",
                ""
            )
            .unwrap()
            .as_str(),
            "https://management.azure.com/subscriptions?$skiptoken=a"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_once_then_every_request_fails_at_once() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let arm = arm_at(url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
        arm.endpoint_from("--arm-endpoint");
        let e = arm.get("/x", "1").await.unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(
            e.to_string().contains(&format!(
                "cannot reach the ARM endpoint http://127.0.0.1:{port}/ (from --arm-endpoint): connection refused"
            )),
            "{e}"
        );
        assert_eq!(arm.request_count(), 2, "one retry");
        let again = arm.get("/y", "1").await.unwrap_err();
        assert!(again.is_unreachable(), "{again}");
        assert_eq!(arm.request_count(), 2, "nothing more is sent");
    }

    #[tokio::test]
    async fn dropped_connections_are_retried_then_given_up_on() {
        let (url, _seen) = flaky_server(2).await;
        let arm = arm_at(url);
        assert!(arm.get("/x", "1").await.is_ok());
        assert_eq!(arm.request_count(), 3);

        let (url, _seen) = flaky_server(100).await;
        let arm = arm_at(url);
        let e = arm.get("/x", "1").await.unwrap_err();
        assert_eq!(e.code, "ConnectionFailed", "{e}");
        assert_eq!(
            arm.request_count(),
            RetryPolicy::default().max_attempts as u64
        );
    }
}
