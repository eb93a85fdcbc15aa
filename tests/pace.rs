//! Fleet runs within ARM's rate limits: under an enforced (small) token bucket
//! and through a 429 storm, the real binary reaches the same findings as an
//! unthrottled run, meets almost no 429s, and loses no request.

use arcfix::sim::{BucketSpec, Knobs, Scenario};

use crate::azure::Azure;
use crate::harness::Output;

/// The fleet command; the one place to change when the target options change.
fn fleet_check(az: &Azure) -> Output {
    let sub = az.sim().scenario().subscriptions[0].id.clone();
    az.run(&[
        "check",
        "--subscription",
        &sub,
        "--checks",
        "azure",
        "-o",
        "json",
    ])
}

/// Each machine's verdict and the findings (id and resource), sorted.
fn outcome(out: &Output) -> (Vec<String>, Vec<String>) {
    let json = out.json();
    let mut machines: Vec<String> = json["machines"]
        .as_array()
        .unwrap_or_else(|| panic!("no machines: {out:?}"))
        .iter()
        .map(|m| {
            format!(
                "{} {} {} {}",
                m["id"], m["status"], m["findings"], m["error"]
            )
        })
        .collect();
    machines.sort();
    let mut findings: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["id"], f["target"]))
        .collect();
    findings.sort();
    (machines, findings)
}

fn statuses(az: &Azure) -> Vec<u16> {
    az.sim().requests().iter().map(|r| r.status).collect()
}

#[test]
fn a_fleet_under_a_small_arm_bucket_meets_almost_no_429_and_finds_the_same() {
    // About two reads a machine: enough requests to empty the bucket many times.
    let fleet = || Scenario::generated(60, 1);
    let calm = Azure::with(fleet());
    calm.sim().set_knobs(Knobs {
        bucket: Some(BucketSpec::unlimited()),
        ..Knobs::default()
    });
    let expected = fleet_check(&calm);
    assert_eq!(expected.status, 2, "{expected:?}");
    let (machines, findings) = outcome(&expected);
    assert_eq!(machines.len(), 60);
    assert!(!findings.is_empty());
    assert!(!statuses(&calm).contains(&429));

    // ARM's bucket, much smaller than the 250 / 25 arcfix assumes: arcfix
    // learns it from the x-ms-ratelimit-remaining-subscription-reads headers.
    let small = Azure::with(fleet());
    small.sim().set_knobs(Knobs {
        bucket: Some(BucketSpec::reads(20, 20)),
        ..Knobs::default()
    });
    let got = fleet_check(&small);
    assert_eq!(got.status, expected.status, "{got:?}");
    assert_eq!(outcome(&got), outcome(&expected));
    let s = statuses(&small);
    let throttled = s.iter().filter(|s| **s == 429).count();
    assert!(
        s.len() > 100 && throttled * 50 < s.len(),
        "{throttled} of {} requests answered 429 (goal: under 2%)",
        s.len()
    );
}

#[test]
fn a_429_storm_ends_in_the_same_result_as_none() {
    let fleet = || Scenario::generated(25, 1);
    let calm = Azure::with(fleet());
    let expected = fleet_check(&calm);
    assert_eq!(expected.status, 2, "{expected:?}");

    let storm = Azure::with(fleet());
    // Every third request is throttled, without a Retry-After (the client's
    // default wait then holds the whole subscription).
    storm.sim().set_knobs(Knobs {
        throttle_every: 3,
        ..Knobs::default()
    });
    let got = fleet_check(&storm);
    assert_eq!(got.status, expected.status, "{got:?}");
    assert_eq!(outcome(&got), outcome(&expected));
    let s = statuses(&storm);
    assert!(
        s.iter().filter(|s| **s == 429).count() * 4 > s.len(),
        "the storm happened: {s:?}"
    );
}
