//! Client-side pacing: ARM's token buckets (arm.md §6.3), kept on this side so
//! that a fleet run meets almost no 429s. One bucket per subscription and kind
//! of request (reads 250 burst / 25 per second, writes and deletes 200 / 10),
//! plus the tenant's for requests outside a subscription (Resource Graph, the
//! subscription list), shared by every task of the run.
//!
//! Each bucket starts as ARM documents it and learns what ARM really allows
//! from the `x-ms-ratelimit-remaining-*` headers, up as well as down: one
//! answer pulls a bucket down when ARM has fewer tokens left than we think
//! (another client, a smaller bucket); tokens are added only when the last
//! few answers agree ARM has them, a little at a time; and ARM's refill rate
//! is measured over two-second windows while requests wait for tokens, so
//! that a bucket refilling at 50 a second is used at 50, not at the
//! documented 25. ARM answers from regional instances with buckets of their
//! own (arm.md §6.3), so the remaining count may jump between sequences:
//! the lowest agreed level is followed, never a single high count. The rate
//! stays within what was measured (a quarter more while ARM's bucket is
//! seen full) and ten times the documented one. A throttling 429's
//! `Retry-After` holds every request of that subscription until then ("not
//! before"), not one task at a time.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// How ARM counts a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    Delete,
}

impl Kind {
    /// GET reads, DELETE deletes; a POST reads when it only lists (`list*`
    /// actions) or queries Resource Graph, and writes otherwise.
    pub fn of(method: &str, path: &str) -> Kind {
        match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" | "OPTIONS" => Kind::Read,
            "DELETE" => Kind::Delete,
            "POST" => {
                let lower = path.trim_end_matches('/').to_ascii_lowercase();
                let last = lower.rsplit('/').next().unwrap_or_default();
                if last.starts_with("list")
                    || lower.ends_with("/providers/microsoft.resourcegraph/resources")
                {
                    Kind::Read
                } else {
                    Kind::Write
                }
            }
            _ => Kind::Write,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub burst: f64,
    pub per_second: f64,
}

/// ARM's buckets: reads, writes, deletes.
pub const ARM: [Shape; 3] = [
    Shape {
        burst: 250.0,
        per_second: 25.0,
    },
    Shape {
        burst: 200.0,
        per_second: 10.0,
    },
    Shape {
        burst: 200.0,
        per_second: 10.0,
    },
];

/// The lane of a request path: its subscription (`/subscriptions/{id}/…`,
/// lower case) or the tenant.
pub fn lane_of(path: &str) -> String {
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    match (parts.next(), parts.next()) {
        (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => {
            format!("subscription {}", id.to_ascii_lowercase())
        }
        _ => "tenant".into(),
    }
}

/// An answer's place on ARM's refill curve: the tokens ARM said were left
/// plus the requests it had charged up to it. With one bucket
/// that never fills, `level` grows by exactly what ARM refilled: its slope
/// over time is ARM's refill rate, whatever order the answers come in. With
/// several instances (each its own bucket) the marks lie on several such
/// lines, and the lowest one is the instance that holds us back.
#[derive(Debug, Clone, Copy)]
struct Mark {
    level: f64,
    left: f64,
}

/// A measuring window: when it began, and each answer's level since, with
/// the seconds from its beginning.
struct Window {
    at: Instant,
    points: Vec<(f64, f64)>,
}

impl Window {
    /// How fast the levels rose: the least-squares slope of level over time
    /// (every answer of the window counts, so that one sent late or early
    /// for its sequence number, off its line, moves it little). None when
    /// the answers came at one instant.
    fn slope(&self) -> Option<f64> {
        let n = self.points.len() as f64;
        let (mt, ml) = self
            .points
            .iter()
            .fold((0.0, 0.0), |(t, l), p| (t + p.0 / n, l + p.1 / n));
        let (cov, var) = self.points.iter().fold((0.0, 0.0), |(c, v), p| {
            (c + (p.0 - mt) * (p.1 - ml), v + (p.0 - mt) * (p.0 - mt))
        });
        (var > 0.0).then(|| cov / var)
    }
}

/// Answers that must agree before tokens are added (a count jumping between
/// two instances' sequences is never read as one), and the tokens one answer
/// may add at most.
const RECENT: usize = 8;
const STEP: f64 = 2.0;
/// The time ARM's refill is measured over.
const WINDOW: Duration = Duration::from_secs(2);
/// The learned rate goes at most this far above ARM's documented rate.
const CEILING: f64 = 10.0;
/// A request waited for a token this recently: ARM sets the pace now.
const LIMITED: Duration = Duration::from_secs(1);

struct Bucket {
    shape: Shape,
    tokens: f64,
    /// The refill rate in use: ARM's documented one until its headers showed
    /// another.
    rate: f64,
    at: Instant,
    /// Tokens taken so far (a request's sequence number).
    taken: u64,
    /// A request waited for a token since the window began.
    starved: bool,
    /// When a request last waited for a token.
    waited: Option<Instant>,
    /// ARM's refill was measured (or ARM answered 429): the rate in use is
    /// ARM's own, not the documented one.
    learned: bool,
    window: Option<Window>,
    /// The last `RECENT` answers' marks.
    recent: std::collections::VecDeque<Mark>,
    /// The most ARM ever said was left (about its bucket size).
    most_left: f64,
    /// An answer came back: until then only `PROBE` requests go out (ARM's
    /// bucket may be far emptier than ours), for at most `PROBE_TIME`.
    heard: bool,
    created: Instant,
    /// Requests that reached nobody (connection refused, a name that does
    /// not resolve): ARM never counted them, so they are no probe either.
    unsent: u64,
    /// Requests ARM answered without charging them (throttled).
    free: u64,
}

/// One machine's first wave (its resource, the provider, two permission
/// lists, the endpoint, its SSH configuration, the extensions) and one more.
const PROBE: u64 = 8;
const PROBE_TIME: Duration = Duration::from_secs(2);

impl Bucket {
    fn new(shape: Shape, now: Instant) -> Bucket {
        Bucket {
            shape,
            tokens: shape.burst,
            rate: shape.per_second,
            at: now,
            taken: 0,
            starved: false,
            waited: None,
            learned: false,
            window: None,
            recent: std::collections::VecDeque::with_capacity(RECENT),
            most_left: 0.0,
            heard: false,
            created: now,
            unsent: 0,
            free: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now <= self.at {
            // Held by a Retry-After: nothing comes back before its end.
            return;
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.shape.burst);
        self.at = now;
    }

    /// Requests ARM has charged or may still charge.
    fn charged(&self) -> f64 {
        self.taken.saturating_sub(self.unsent + self.free) as f64
    }

    /// ARM says `left` tokens remain after the request with sequence `seq`
    /// (None: an answer to another kind of request). A throttled request
    /// (not charged) is counted in `free` by `Pacer::observe`.
    fn observe(&mut self, seq: Option<u64>, left: f64, now: Instant) {
        self.refill(now);
        // Down at once: ARM has at most that many, less the requests sent
        // after that one, which `left` does not count yet.
        let after = seq.map_or(0, |seq| self.taken.saturating_sub(seq)) as f64;
        self.tokens = self.tokens.min(left - after).max(-self.shape.burst);
        self.most_left = self.most_left.max(left);
        let Some(seq) = seq else { return };
        let level = left + seq as f64 - (self.unsent + self.free) as f64;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Mark { level, left });
        // The level every recent answer agrees on (the lowest: another
        // instance's count, or an answer that came late, only lowers it).
        let floor = self
            .recent
            .iter()
            .map(|m| m.level)
            .fold(f64::INFINITY, f64::min);
        // Up, a little at a time: what ARM surely still has is that level
        // less every request charged since.
        let sure = floor - self.charged();
        if sure > self.tokens {
            self.tokens = sure.min(self.tokens + STEP).min(self.shape.burst);
        }
        if let Some(w) = self.window.as_mut() {
            w.points
                .push((now.saturating_duration_since(w.at).as_secs_f64(), level));
        }
        self.learn(now);
    }

    /// ARM's refill over a window of two seconds: how fast the levels of
    /// its answers rose. Trusted while requests waited for tokens and ARM's
    /// bucket was not full (a full bucket stops refilling); a full one while
    /// we waited says ARM has more to give: a quarter more is tried.
    fn learn(&mut self, now: Instant) {
        let Some(w) = &self.window else {
            self.window = Some(Window {
                at: now,
                points: Vec::new(),
            });
            return;
        };
        let span = now.saturating_duration_since(w.at);
        if span < WINDOW || w.points.len() < RECENT {
            return;
        }
        if let Some(refill) = w.slope().filter(|_| self.starved) {
            self.learned = true;
            let full = self.recent.iter().all(|m| m.left >= self.most_left - 1.0);
            let ceiling = self.shape.per_second * CEILING;
            self.rate = if full {
                (self.rate * 1.25).min(ceiling)
            } else {
                // Measured: at most twice the rate in use, never below a
                // 25th of the documented one.
                refill.clamp(self.shape.per_second / 25.0, (self.rate * 2.0).min(ceiling))
            };
            tracing::debug!(
                reads_per_second = self.rate,
                full,
                "pace: ARM's refill learned over {:.1} s",
                span.as_secs_f64()
            );
        }
        self.starved = false;
        self.window = Some(Window {
            at: now,
            points: Vec::new(),
        });
    }
}

struct Lane {
    buckets: [Bucket; 3],
    /// A throttling 429's `Retry-After`: nothing of this lane is sent before.
    not_before: Option<Instant>,
}

/// A token taken: for `Pacer::observe`, and how long it took to get.
#[derive(Debug, Clone)]
pub struct Ticket {
    lane: String,
    kind: Kind,
    seq: u64,
    /// Time spent waiting for the token or for a `Retry-After` (it does not
    /// count against the retry budget).
    pub waited: Duration,
}

/// Every lane's buckets, shared by every task of a run.
pub struct Pacer {
    shapes: [Shape; 3],
    lanes: Mutex<HashMap<String, Lane>>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(ARM)
    }
}

impl Pacer {
    pub fn new(shapes: [Shape; 3]) -> Pacer {
        Pacer {
            shapes,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<String, Lane>> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_lane<T>(&self, lane: &str, f: impl FnOnce(&mut Lane, Instant) -> T) -> T {
        let now = Instant::now();
        let mut lanes = self.lanes();
        let entry = lanes.entry(lane.to_string()).or_insert_with(|| Lane {
            buckets: self.shapes.map(|s| Bucket::new(s, now)),
            not_before: None,
        });
        f(entry, now)
    }

    /// Waits until the lane is not held by a `Retry-After` and its `kind`
    /// bucket has a token, and takes it.
    pub async fn acquire(&self, lane: &str, kind: Kind) -> Ticket {
        let started = Instant::now();
        loop {
            let wait = self.with_lane(lane, |l, now| {
                if let Some(until) = l.not_before.filter(|t| *t > now) {
                    return Err(until - now);
                }
                let b = &mut l.buckets[kind.index()];
                b.refill(now);
                if !b.heard
                    && b.taken.saturating_sub(b.unsent) >= PROBE
                    && now < b.created + PROBE_TIME
                {
                    return Err(Duration::from_millis(5));
                }
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    b.taken += 1;
                    Ok(b.taken)
                } else {
                    b.starved = true;
                    b.waited = Some(now);
                    Err(Duration::from_secs_f64((1.0 - b.tokens) / b.rate))
                }
            });
            match wait {
                Ok(seq) => {
                    return Ticket {
                        lane: lane.to_string(),
                        kind,
                        seq,
                        waited: started.elapsed(),
                    };
                }
                Err(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// What ARM answered to the request of `ticket`: the remaining-quota
    /// headers it sent (`kind`, tokens left), and whether ARM charged it (a
    /// throttled request costs nothing).
    pub fn observe(&self, ticket: &Ticket, left: &[(Kind, u64)], charged: bool) {
        self.with_lane(&ticket.lane, |l, now| {
            let own = &mut l.buckets[ticket.kind.index()];
            own.heard = true;
            // A throttled request cost nothing, whether or not its answer
            // says what is left (ARM's 429 may carry no remaining header).
            if !charged {
                own.free += 1;
            }
            for (kind, n) in left {
                let seq = (*kind == ticket.kind).then_some(ticket.seq);
                l.buckets[kind.index()].observe(seq, *n as f64, now);
            }
        });
    }

    /// The request of `ticket` reached nobody (connection refused, a name
    /// that does not resolve): its token is given back, and it was no probe.
    pub fn unsent(&self, ticket: &Ticket) {
        self.with_lane(&ticket.lane, |l, now| {
            let b = &mut l.buckets[ticket.kind.index()];
            b.refill(now);
            b.tokens = (b.tokens + 1.0).min(b.shape.burst);
            b.unsent += 1;
        });
    }

    /// A throttling `Retry-After`: no request of `lane` goes out for `wait`.
    pub fn hold(&self, lane: &str, wait: Duration) {
        self.with_lane(lane, |l, now| {
            let until = now + wait;
            let until = l.not_before.map_or(until, |t| t.max(until));
            l.not_before = Some(until);
            // ARM's bucket is empty: ours refills from the end of the wait,
            // so that the release is no burst into another 429.
            for b in &mut l.buckets {
                b.refill(now);
                b.learned = true;
                b.tokens = b.tokens.min(0.0);
                b.at = b.at.max(until);
            }
        });
    }

    /// How fast ARM lets the run's reads go: the lanes (subscriptions, the
    /// tenant) whose reads waited for a token (or a `Retry-After`) lately
    /// set the pace together, each at its own learned rate; when none did,
    /// the busiest lane's. None before any read.
    pub fn pace(&self) -> Option<crate::progress::Pace> {
        let now = Instant::now();
        let lanes = self.lanes();
        let mut reads = 0;
        // (reads taken, rate, tokens in hand) of the busiest lane, and the
        // sums of the rates and tokens of those ARM holds back.
        let mut busiest: Option<(u64, f64, f64)> = None;
        let (mut held, mut held_rate, mut held_tokens) = (0, 0.0, 0.0);
        let mut subscriptions = 0;
        let mut learned = true;
        for (name, lane) in lanes.iter() {
            let b = &lane.buckets[Kind::Read.index()];
            reads += b.taken.saturating_sub(b.unsent);
            if b.taken == 0 {
                continue;
            }
            let since = now.saturating_duration_since(b.at).as_secs_f64();
            let tokens = (b.tokens + since * b.rate).min(b.shape.burst);
            let waited = b
                .waited
                .is_some_and(|t| now.saturating_duration_since(t) < LIMITED)
                || lane.not_before.is_some_and(|t| t > now);
            if waited {
                held += 1;
                learned &= b.learned;
                subscriptions += usize::from(name != "tenant");
                held_rate += b.rate;
                held_tokens += tokens.max(0.0);
            }
            if busiest.is_none_or(|(taken, _, _)| b.taken > taken) {
                busiest = Some((b.taken, b.rate, tokens));
            }
        }
        let (_, rate, tokens) = busiest?;
        Some(if held > 0 {
            crate::progress::Pace {
                reads,
                reads_per_second: held_rate,
                tokens: held_tokens,
                held_back: held,
                subscriptions,
                learned,
            }
        } else {
            crate::progress::Pace {
                reads,
                reads_per_second: rate,
                tokens,
                held_back: 0,
                subscriptions: 0,
                learned: false,
            }
        })
    }

    #[cfg(test)]
    fn tokens(&self, lane: &str, kind: Kind) -> (f64, f64) {
        self.with_lane(lane, |l, now| {
            let b = &mut l.buckets[kind.index()];
            b.refill(now);
            (b.tokens, b.rate)
        })
    }
}

/// The remaining-quota headers of an answer: `x-ms-ratelimit-remaining-
/// {subscription|tenant}-{reads|writes|deletes}`.
pub fn remaining(headers: &reqwest::header::HeaderMap) -> Vec<(Kind, u64)> {
    let mut out = Vec::new();
    for (kind, what) in [
        (Kind::Read, "reads"),
        (Kind::Write, "writes"),
        (Kind::Delete, "deletes"),
    ] {
        for scope in ["subscription", "tenant"] {
            let name = format!("x-ms-ratelimit-remaining-{scope}-{what}");
            if let Some(n) = headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                out.push((kind, n));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "subscription 3f2d";

    #[test]
    fn requests_are_counted_as_arm_counts_them() {
        assert_eq!(Kind::of("GET", "/subscriptions/s/x"), Kind::Read);
        assert_eq!(Kind::of("DELETE", "/subscriptions/s/x"), Kind::Delete);
        assert_eq!(Kind::of("PUT", "/subscriptions/s/x"), Kind::Write);
        assert_eq!(
            Kind::of("POST", "/subscriptions/s/e/default/listCredentials"),
            Kind::Read
        );
        assert_eq!(
            Kind::of("POST", "/providers/Microsoft.ResourceGraph/resources"),
            Kind::Read
        );
        assert_eq!(
            Kind::of("POST", "/subscriptions/s/providers/X/register"),
            Kind::Write
        );
        assert_eq!(
            lane_of("/subscriptions/3F2D/resourceGroups/x"),
            "subscription 3f2d"
        );
        assert_eq!(lane_of("/subscriptions"), "tenant");
        assert_eq!(
            lane_of("/providers/Microsoft.ResourceGraph/resources"),
            "tenant"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_arms_refill_rate() {
        let p = Pacer::default();
        let start = Instant::now();
        for i in 0..250 {
            let t = p.acquire(SUB, Kind::Read).await;
            assert_eq!(t.waited, Duration::ZERO);
            if i == 0 {
                // An answer without remaining-quota headers.
                p.observe(&t, &[], true);
            }
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        // Then 25 a second: 50 more take two seconds.
        for _ in 0..50 {
            p.acquire(SUB, Kind::Read).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((1.99..2.05).contains(&took), "{took}");
        // Writes and other subscriptions have buckets of their own.
        let before = Instant::now();
        for _ in 0..200 {
            let w = p.acquire(SUB, Kind::Write).await;
            p.observe(&w, &[], true);
            let r = p.acquire("subscription other", Kind::Read).await;
            p.observe(&r, &[], true);
        }
        assert_eq!(before.elapsed(), Duration::ZERO);
        p.acquire(SUB, Kind::Write).await;
        assert!(
            before.elapsed() >= Duration::from_millis(99),
            "writes: 10 a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_share_the_bucket() {
        let p = std::sync::Arc::new(Pacer::new(
            [Shape {
                burst: 10.0,
                per_second: 10.0,
            }; 3],
        ));
        let first = p.acquire(SUB, Kind::Read).await;
        p.observe(&first, &[], true);
        let start = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    for _ in 0..5 {
                        p.acquire(SUB, Kind::Read).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 40 more requests through one bucket of 10 + 10/s, 9 left: 3.1 seconds.
        let took = start.elapsed().as_secs_f64();
        assert!((3.09..3.2).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn arms_headers_pull_the_bucket_down() {
        let p = Pacer::default();
        let t = p.acquire(SUB, Kind::Read).await;
        assert_eq!(p.tokens(SUB, Kind::Read).0, 249.0);
        // Another client used most of the subscription's reads.
        p.observe(&t, &[(Kind::Read, 20)], true);
        assert_eq!(p.tokens(SUB, Kind::Read).0, 20.0);
        // A header saying more than we think changes nothing.
        p.observe(&t, &[(Kind::Read, 240)], true);
        assert_eq!(p.tokens(SUB, Kind::Read).0, 20.0);
        // Requests sent after the answered one are not in ARM's count yet.
        let t1 = p.acquire(SUB, Kind::Read).await;
        for _ in 0..5 {
            p.acquire(SUB, Kind::Read).await;
        }
        p.observe(&t1, &[(Kind::Read, 10)], true);
        assert_eq!(p.tokens(SUB, Kind::Read).0, 5.0);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            "17".parse().unwrap(),
        );
        h.insert(
            "x-ms-ratelimit-remaining-tenant-writes",
            "3".parse().unwrap(),
        );
        assert_eq!(remaining(&h), [(Kind::Read, 17), (Kind::Write, 3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slower_arm_is_learned_from_its_headers() {
        // ARM here refills 10 a second, not 25: simulate it and follow its headers.
        let p = Pacer::default();
        let start = Instant::now();
        let mut arm_left = 20.0_f64;
        let mut arm_at = Instant::now();
        let mut refused = 0;
        for _ in 0..400 {
            let t = p.acquire(SUB, Kind::Read).await;
            let now = Instant::now();
            arm_left = (arm_left + now.duration_since(arm_at).as_secs_f64() * 10.0).min(20.0);
            arm_at = now;
            if arm_left >= 1.0 {
                arm_left -= 1.0;
                p.observe(&t, &[(Kind::Read, arm_left as u64)], true);
            } else {
                refused += 1;
                p.observe(&t, &[(Kind::Read, 0)], false);
                p.hold(SUB, Duration::from_secs(1));
            }
        }
        let (_, rate) = p.tokens(SUB, Kind::Read);
        // Learned (about 10), or probing a quarter higher once ARM's bucket
        // filled up again.
        assert!((9.0..=12.5).contains(&rate), "learned rate {rate}");
        assert!(refused <= 8, "{refused} of 400 refused");
        let took = start.elapsed().as_secs_f64();
        assert!(took < 44.0, "{took} s for 380 tokens at 10/s");
    }

    /// ARM's side: `instances` read buckets of `burst` + `per_second`,
    /// taking requests in turn, as the simulator's (arm.md §6.3).
    struct Server {
        levels: Vec<(f64, Instant)>,
        burst: f64,
        per_second: f64,
        turn: usize,
    }

    impl Server {
        fn new(instances: usize, burst: f64, per_second: f64) -> Server {
            Server {
                levels: vec![(burst, Instant::now()); instances],
                burst,
                per_second,
                turn: 0,
            }
        }

        /// A request reaches ARM: the tokens left (whole), or a 429's
        /// Retry-After (whole seconds, at least one).
        fn take(&mut self) -> Result<u64, Duration> {
            let now = Instant::now();
            let n = self.levels.len();
            let (left, at) = &mut self.levels[self.turn % n];
            self.turn += 1;
            *left = (*left + (now - *at).as_secs_f64() * self.per_second).min(self.burst);
            *at = now;
            if *left >= 1.0 {
                *left -= 1.0;
                Ok(*left as u64)
            } else {
                let wait = ((1.0 - *left) / self.per_second).ceil().max(1.0);
                Err(Duration::from_secs_f64(wait))
            }
        }
    }

    /// A fleet's reads: `requests` of them through the pacer by 32 tasks
    /// against `server`, each answer coming 5 to 35 ms after its request
    /// (so out of order), a 429 holding the lane and its request tried
    /// again: the seconds they took, the 429s, and the rate learned.
    async fn fleet(server: Server, requests: usize) -> (f64, usize, f64) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let p = Arc::new(Pacer::default());
        let server = Arc::new(Mutex::new(server));
        let (next, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (p, server, next, refused) =
                    (p.clone(), server.clone(), next.clone(), refused.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < requests {
                        loop {
                            let t = p.acquire(SUB, Kind::Read).await;
                            let half = Duration::from_micros(2_500 + (t.seq * 7_919) % 15_000);
                            tokio::time::sleep(half).await;
                            let answer = server.lock().unwrap().take();
                            tokio::time::sleep(half).await;
                            match answer {
                                Ok(left) => {
                                    p.observe(&t, &[(Kind::Read, left)], true);
                                    break;
                                }
                                Err(wait) => {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                    p.observe(&t, &[(Kind::Read, 0)], false);
                                    p.hold(SUB, wait);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        (
            took,
            refused.load(Ordering::Relaxed),
            p.tokens(SUB, Kind::Read).1,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_bucket_is_learned_whatever_the_order_of_answers() {
        // 20, then 5 a second: far below what arcfix assumes (250, 25).
        let (took, _, rate) = fleet(Server::new(1, 20.0, 5.0), 200).await;
        let bound = (200.0 - 20.0) / 5.0;
        assert!(took <= 1.1 * bound, "{took} s against a bound of {bound} s");
        assert!((4.5..=5.6).contains(&rate), "learned rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_arm_is_learned_from_its_headers() {
        // ARM refills 50 a second, not the documented 25.
        let (took, refused, rate) = fleet(Server::new(1, 250.0, 50.0), 1_250).await;
        let bound = (1_250.0 - 250.0) / 50.0;
        assert!(took <= 1.1 * bound, "{took} s against a bound of {bound} s");
        assert!(refused * 50 < 1_250, "{refused} 429s");
        assert!((45.0..=62.5).contains(&rate), "learned rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn arms_documented_rate_is_kept_when_arm_keeps_it() {
        let (took, refused, rate) = fleet(Server::new(1, 250.0, 25.0), 1_000).await;
        let bound = (1_000.0 - 250.0) / 25.0;
        assert!(
            took <= 1.05 * bound,
            "{took} s against a bound of {bound} s"
        );
        assert_eq!(refused, 0);
        assert!((23.5..=26.0).contains(&rate), "learned rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn two_instances_answering_in_turn_are_paced_together() {
        // ARM's regional instances, each a bucket of its own: the remaining
        // count alternates between two sequences. Together they give 500,
        // then 50 a second.
        let (took, refused, rate) = fleet(Server::new(2, 250.0, 25.0), 1_500).await;
        let bound = (1_500.0 - 500.0) / 50.0;
        assert!(took <= 1.1 * bound, "{took} s against a bound of {bound} s");
        assert!(refused * 50 < 1_500, "{refused} 429s");
        assert!((40.0..=62.5).contains(&rate), "learned rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_says_when_arm_sets_it() {
        let p = Pacer::default();
        assert_eq!(p.pace(), None, "nothing read yet");
        p.acquire("tenant", Kind::Read).await;
        let t = p.acquire(SUB, Kind::Read).await;
        p.observe(&t, &[(Kind::Read, 249)], true);
        for _ in 0..9 {
            p.acquire(SUB, Kind::Read).await;
        }
        let pace = p.pace().unwrap();
        assert_eq!((pace.reads, pace.tokens), (11, 240.0));
        assert_eq!(pace.held_back, 0, "tokens in hand: ARM sets no pace");
        // The subscription's burst spent: its reads wait, at ARM's 25 a second.
        for _ in 0..241 {
            p.acquire(SUB, Kind::Read).await;
        }
        let pace = p.pace().unwrap();
        assert_eq!(pace.held_back, 1);
        assert_eq!((pace.reads, pace.reads_per_second), (252, 25.0));
        assert!(
            !pace.learned,
            "held back by our own bucket: nothing learned"
        );
        // A second later, with no read waiting, it no longer does.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(p.pace().unwrap().held_back, 0);
        // A Retry-After holding the lane: ARM sets the pace.
        p.hold(SUB, Duration::from_secs(5));
        let pace = p.pace().unwrap();
        assert_eq!(pace.held_back, 1);
        assert!(pace.learned, "a 429 is ARM's own word");
        // A second subscription's reads wait too: both set the pace, their
        // rates summed.
        const OTHER: &str = "subscription 22222222-2222-2222-2222-222222222222";
        let t = p.acquire(OTHER, Kind::Read).await;
        p.observe(&t, &[(Kind::Read, 249)], true);
        for _ in 0..250 {
            p.acquire(OTHER, Kind::Read).await;
        }
        let pace = p.pace().unwrap();
        assert_eq!((pace.held_back, pace.subscriptions), (2, 2));
        assert_eq!(pace.reads_per_second, 50.0);
        assert!(
            !pace.learned,
            "the second's rate is only the documented one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_costs_nothing_with_or_without_a_remaining_header() {
        let p = Pacer::default();
        let t = p.acquire(SUB, Kind::Read).await;
        p.observe(&t, &[(Kind::Read, 249)], true);
        let t = p.acquire(SUB, Kind::Read).await;
        p.observe(&t, &[], false);
        let t = p.acquire(SUB, Kind::Read).await;
        p.observe(&t, &[(Kind::Read, 0)], false);
        p.with_lane(SUB, |l, _| {
            let b = &l.buckets[Kind::Read.index()];
            assert_eq!((b.taken, b.free), (3, 2));
            assert_eq!(b.charged(), 1.0);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn until_arm_answers_only_a_few_requests_go_out() {
        let p = std::sync::Arc::new(Pacer::default());
        let mut first = Vec::new();
        for _ in 0..PROBE {
            first.push(p.acquire(SUB, Kind::Read).await);
        }
        let ninth = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire(SUB, Kind::Read).await.waited })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!ninth.is_finished(), "no answer yet: the ninth waits");
        p.observe(&first[0], &[(Kind::Read, 100)], true);
        let waited = ninth.await.unwrap();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(320),
            "{waited:?}"
        );
        // Without any answer (a dead connection), the probe ends after two seconds.
        let other = "subscription silent";
        for _ in 0..PROBE {
            p.acquire(other, Kind::Read).await;
        }
        assert_eq!(
            p.acquire(other, Kind::Read).await.waited.as_millis() / 100,
            20
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_every_task_of_the_subscription() {
        let p = std::sync::Arc::new(Pacer::default());
        p.hold(SUB, Duration::from_secs(3));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.acquire(SUB, Kind::Read).await.waited })
            })
            .collect();
        // Then ARM's bucket refills from empty: one every 40 ms, no burst.
        for t in tasks {
            let waited = t.await.unwrap();
            assert!(
                waited >= Duration::from_secs(3) && waited <= Duration::from_millis(3160),
                "{waited:?}"
            );
        }
        assert_eq!(start.elapsed(), Duration::from_millis(3160));
        // Other subscriptions go on.
        p.hold(SUB, Duration::from_secs(3));
        let t = p.acquire("subscription other", Kind::Read).await;
        assert_eq!(t.waited, Duration::ZERO);
        // A shorter Retry-After never shortens a longer one.
        p.hold(SUB, Duration::from_secs(1));
        assert!(p.acquire(SUB, Kind::Write).await.waited >= Duration::from_secs(3));
    }
}
