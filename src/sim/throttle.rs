//! ARM's throttling (arm.md §6.3): a token bucket per subscription, per caller
//! principal and per kind of request (reads 250 burst / 25 per second, writes
//! and deletes 200 / 10). Tenant-level requests (Resource Graph, the
//! subscription list) draw from the principal's tenant buckets, same sizes.
//!
//! The buckets always count (the `x-ms-ratelimit-remaining-*` headers come
//! from them); they refuse only when `Knobs.bucket` is set, with ARM's 429
//! `SubscriptionRequestsThrottled` and a `Retry-After` of the whole seconds
//! until a token is back (at least 1).
//!
//! ARM answers from several regional instances, each with buckets of its own
//! (arm.md §6.3, "per-region token bucket"): `BucketSpec.instances` of them
//! take a (subscription or tenant, principal)'s requests in turn
//! (`Spread::RoundRobin`) or by the request's path (`Spread::Path`), and each
//! answers with its own remaining count, so that a client sees the count jump
//! between sequences.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sim::Kind;
use crate::sim::reply::{ArmError, Reply};

/// One bucket: how many requests it holds when full, and how many it gets
/// back per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_second: u32,
}

/// The buckets of one (subscription or tenant, principal): reads, writes,
/// deletes; in a scenario's `knobs`, e.g. `"bucket": {"reads": {"burst": 250,
/// "per_second": 50}, "instances": 2}` (missing keys: ARM's numbers, one instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BucketSpec {
    pub reads: Rate,
    pub writes: Rate,
    pub deletes: Rate,
    /// ARM's regional instances answering (at least 1), each with all these
    /// buckets of its own.
    pub instances: u32,
    /// How requests are spread across the instances.
    pub spread: Spread,
}

/// Which instance answers a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// Each in turn: the remaining count alternates between the instances'.
    #[default]
    RoundRobin,
    /// By a hash of the request's path (lower case): a resource's requests
    /// always reach the same instance, in no order a client can predict.
    Path,
}

impl BucketSpec {
    /// ARM's own numbers (arm.md §6.3).
    pub const ARM: BucketSpec = BucketSpec {
        reads: Rate {
            burst: 250,
            per_second: 25,
        },
        writes: Rate {
            burst: 200,
            per_second: 10,
        },
        deletes: Rate {
            burst: 200,
            per_second: 10,
        },
        instances: 1,
        spread: Spread::RoundRobin,
    };

    /// ARM's buckets with another read bucket (tests of a smaller one).
    #[cfg(any(test, feature = "test-api"))]
    pub fn reads(burst: u32, per_second: u32) -> BucketSpec {
        BucketSpec {
            reads: Rate { burst, per_second },
            ..BucketSpec::ARM
        }
    }

    /// So large that nothing is ever refused, yet honest headers are sent.
    #[cfg(any(test, feature = "test-api"))]
    pub fn unlimited() -> BucketSpec {
        let r = Rate {
            burst: 1_000_000_000,
            per_second: 1_000_000_000,
        };
        BucketSpec {
            reads: r,
            writes: r,
            deletes: r,
            ..BucketSpec::ARM
        }
    }

    /// The same buckets at each of `n` instances, answering in turn.
    #[cfg(any(test, feature = "test-api"))]
    pub fn instances(self, n: u32) -> BucketSpec {
        BucketSpec {
            instances: n,
            ..self
        }
    }

    fn rate(&self, kind: Kind) -> Rate {
        match kind {
            Kind::Read => self.reads,
            Kind::Write => self.writes,
            Kind::Delete => self.deletes,
        }
    }
}

impl Default for BucketSpec {
    fn default() -> Self {
        BucketSpec::ARM
    }
}

/// Where a request's tokens come from: a subscription (lower case) or the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Subscription(String),
    Tenant,
}

impl Scope {
    /// The subscription of `/subscriptions/{id}/…`; the tenant otherwise.
    pub fn of(path: &str) -> Scope {
        crate::sim::route::segments(path)
            .windows(2)
            .find(|w| w[0].eq_ignore_ascii_case("subscriptions"))
            .map(|w| Scope::Subscription(w[1].to_ascii_lowercase()))
            .unwrap_or(Scope::Tenant)
    }

    /// The remaining-quota header ARM sends for `kind` at this scope.
    pub fn header(&self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Scope::Subscription(_), Kind::Read) => "x-ms-ratelimit-remaining-subscription-reads",
            (Scope::Subscription(_), Kind::Write) => "x-ms-ratelimit-remaining-subscription-writes",
            (Scope::Subscription(_), Kind::Delete) => {
                "x-ms-ratelimit-remaining-subscription-deletes"
            }
            (Scope::Tenant, Kind::Read) => "x-ms-ratelimit-remaining-tenant-reads",
            (Scope::Tenant, Kind::Write) => "x-ms-ratelimit-remaining-tenant-writes",
            (Scope::Tenant, Kind::Delete) => "x-ms-ratelimit-remaining-tenant-deletes",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Level {
    left: f64,
    at: Instant,
}

/// Every bucket the simulator has handed tokens from, by (scope, principal,
/// instance).
#[derive(Default)]
pub(crate) struct Buckets {
    levels: HashMap<(Scope, String, u32), [Option<Level>; 3]>,
    /// Requests of a (scope, principal) so far: whose turn it is.
    turns: HashMap<(Scope, String), u64>,
}

impl Buckets {
    /// Takes one token for (`scope`, `actor`, `kind`): the tokens left after it,
    /// or, when `enforce` and the bucket is empty, how long until one is back.
    /// `path` picks the instance when they are spread by path.
    #[allow(clippy::too_many_arguments)]
    pub fn take(
        &mut self,
        scope: &Scope,
        actor: &str,
        kind: Kind,
        path: &str,
        spec: &BucketSpec,
        enforce: bool,
        now: Instant,
    ) -> Result<u64, Duration> {
        let rate = spec.rate(kind);
        let (burst, per_second) = (rate.burst as f64, rate.per_second.max(1) as f64);
        let actor = actor.to_ascii_lowercase();
        let n = u64::from(spec.instances.max(1));
        let instance = match spec.spread {
            Spread::RoundRobin => {
                let turn = self
                    .turns
                    .entry((scope.clone(), actor.clone()))
                    .or_default();
                *turn += 1;
                (*turn - 1) % n
            }
            Spread::Path => fnv1a(&path.to_ascii_lowercase()) % n,
        } as u32;
        let slot = &mut self
            .levels
            .entry((scope.clone(), actor, instance))
            .or_default()[kind as usize];
        let level = slot.get_or_insert(Level {
            left: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
        level.left = (level.left + elapsed * per_second).min(burst);
        level.at = now;
        if level.left >= 1.0 {
            level.left -= 1.0;
            Ok(level.left.floor() as u64)
        } else if enforce {
            Err(Duration::from_secs_f64((1.0 - level.left) / per_second))
        } else {
            level.left = 0.0;
            Ok(0)
        }
    }
}

/// FNV-1a: a hash that is the same in every run (the instance of a path).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// ARM's answer to a request beyond its bucket: 429 with `Retry-After` in
/// whole seconds (rounded up, at least 1) and the message of arm.md §6.2.
pub(crate) fn throttled(scope: &Scope, actor: &str, kind: Kind, wait: Duration) -> Reply {
    let seconds = (wait.as_secs_f64().ceil() as u64).max(1);
    let what = match kind {
        Kind::Read => "read",
        Kind::Write => "write",
        Kind::Delete => "delete",
    };
    let (code, whose) = match scope {
        Scope::Subscription(s) => (
            "SubscriptionRequestsThrottled",
            format!("subscription '{s}'"),
        ),
        Scope::Tenant => ("TenantRequestsThrottled", "tenant".to_string()),
    };
    ArmError::new(
        429,
        code,
        format!(
            "Number of '{what}' requests for {whose} actor '{actor}' exceeded. Please try again after \
             '{seconds}' seconds after additional tokens are available. Refer to \
             https://aka.ms/arm-throttling for additional information."
        ),
    )
    .header("Retry-After", seconds.to_string())
    .header("x-ms-failure-cause", "gateway")
    .into_reply()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills_at_its_rate() {
        let mut b = Buckets::default();
        let spec = BucketSpec::reads(3, 2);
        let sub = Scope::of("/subscriptions/ABC/resourceGroups/x");
        assert_eq!(sub, Scope::Subscription("abc".into()));
        let t0 = Instant::now();
        let take = |b: &mut Buckets, who: &str, at: Duration| {
            b.take(&sub, who, Kind::Read, "/x", &spec, true, t0 + at)
        };
        assert_eq!(take(&mut b, "me", Duration::ZERO), Ok(2));
        assert_eq!(take(&mut b, "me", Duration::ZERO), Ok(1));
        assert_eq!(take(&mut b, "me", Duration::ZERO), Ok(0));
        // Empty: half a second (at 2 per second) until the next token.
        assert_eq!(
            take(&mut b, "me", Duration::ZERO),
            Err(Duration::from_millis(500))
        );
        // Another principal and another kind have their own buckets.
        assert_eq!(take(&mut b, "you", Duration::ZERO), Ok(2));
        assert_eq!(
            b.take(&sub, "me", Kind::Write, "/x", &spec, true, t0),
            Ok(199),
            "writes: ARM's 200"
        );
        // A refused request took nothing: a token is back after 500 ms.
        assert_eq!(take(&mut b, "me", Duration::from_millis(500)), Ok(0));
        // Never above the burst.
        assert_eq!(take(&mut b, "me", Duration::from_secs(60)), Ok(2));
        // Not enforced: counts down to 0 and stays there, never refusing.
        let mut b = Buckets::default();
        for _ in 0..5 {
            let _ = b.take(&Scope::Tenant, "me", Kind::Read, "/x", &spec, false, t0);
        }
        assert_eq!(
            b.take(&Scope::Tenant, "me", Kind::Read, "/x", &spec, false, t0),
            Ok(0)
        );
    }

    #[test]
    fn instances_have_buckets_of_their_own() {
        let t0 = Instant::now();
        let sub = Scope::Subscription("s".into());
        // Two instances in turn: the remaining count alternates between two sequences.
        let spec = BucketSpec::reads(4, 1).instances(2);
        let mut b = Buckets::default();
        let left: Vec<_> = (0..9)
            .map(|_| b.take(&sub, "me", Kind::Read, "/x", &spec, true, t0))
            .collect();
        let full = Err(Duration::from_secs(1));
        assert_eq!(
            left,
            [Ok(3), Ok(3), Ok(2), Ok(2), Ok(1), Ok(1), Ok(0), Ok(0), full]
        );
        // By path: a path always reaches the same instance.
        let spec = BucketSpec {
            spread: Spread::Path,
            ..spec
        };
        let mut b = Buckets::default();
        let mut take = |p: &str| b.take(&sub, "me", Kind::Read, p, &spec, true, t0);
        assert_eq!([take("/a"), take("/A"), take("/a")], [Ok(3), Ok(2), Ok(1)]);
        let other = (0..20)
            .map(|i| format!("/m-{i}"))
            .find(|p| fnv1a(p) % 2 != fnv1a("/a") % 2)
            .unwrap();
        assert_eq!(take(&other), Ok(3), "{other}: the other instance");
        // The scenario's spelling.
        let parsed: BucketSpec = serde_json::from_str(
            r#"{"reads": {"burst": 250, "per_second": 50}, "instances": 2, "spread": "path"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                parsed.reads.per_second,
                parsed.instances,
                parsed.spread,
                parsed.writes
            ),
            (50, 2, Spread::Path, BucketSpec::ARM.writes)
        );
    }

    #[test]
    fn the_answer_says_when_to_come_back() {
        let r = throttled(
            &Scope::Subscription("s1".into()),
            "oid-1",
            Kind::Read,
            Duration::from_millis(1200),
        );
        assert_eq!(r.status, 429);
        assert_eq!(
            r.body.as_ref().unwrap()["error"]["code"],
            "SubscriptionRequestsThrottled"
        );
        assert_eq!(
            r.body.as_ref().unwrap()["error"]["message"],
            "Number of 'read' requests for subscription 's1' actor 'oid-1' exceeded. Please try again after '2' \
             seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional \
             information."
        );
        let retry = |w: Duration| {
            throttled(&Scope::Tenant, "o", Kind::Write, w)
                .headers
                .iter()
                .find(|(n, _)| n == "Retry-After")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(retry(Duration::from_millis(10)).as_deref(), Some("1"));
        assert_eq!(retry(Duration::from_secs(3)).as_deref(), Some("3"));
    }
}
