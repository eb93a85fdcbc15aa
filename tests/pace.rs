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

/// A fleet check of the scenario's subscription on a terminal `cols` wide
/// (script(1)): what the terminal showed. `None` (and a line saying so)
/// without script(1) or stty(1).
fn on_terminal(az: &Azure, cols: u16) -> Option<Output> {
    let sub = az.sim().scenario().subscriptions[0].id.clone();
    let out = az
        .sandbox
        .cmd()
        .args(&["check", "--subscription", &sub, "--checks", "azure"])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("TERM", "xterm")
        .in_terminal_of_width(cols, "");
    if out.is_none() {
        eprintln!("script(1) or stty(1) is not installed: skipped");
    }
    out
}

/// The terminal's lines as drawn (each redraw of the bar a line of its own),
/// without colours.
fn drawn(shown: &str) -> Vec<String> {
    console::strip_ansi_codes(shown)
        .split(['\r', '\n'])
        .map(str::to_string)
        .collect()
}

/// The rates the bar named ("ARM allows N reads/s"), in the order drawn.
fn rates_named(shown: &str) -> Vec<u32> {
    shown
        .split("ARM allows ")
        .skip(1)
        .filter_map(|rest| rest.split(" reads/s").next()?.parse().ok())
        .collect()
}

#[test]
fn the_fleet_bar_says_the_rate_arm_allows_when_arm_sets_the_pace() {
    // ARM's read bucket: 20, then 5 a second (arcfix assumes 250 and 25);
    // 24 machines need about 50 reads: some 6 s at ARM's pace.
    let az = Azure::with(Scenario::generated(24, 1));
    az.sim().set_knobs(Knobs {
        bucket: Some(BucketSpec::reads(20, 5)),
        ..Knobs::default()
    });
    let Some(out) = on_terminal(&az, 120) else {
        return;
    };
    assert_eq!(out.status, 2, "{out:?}");
    let rates = rates_named(&out.stdout);
    // Learned from ARM's headers: at last the rate ARM allows, not the documented 25.
    assert!(
        rates.last().is_some_and(|r| (4..=6).contains(r)),
        "{rates:?} in {out:?}"
    );
    let said = drawn(&out.stdout)
        .into_iter()
        .rfind(|l| l.contains("ARM allows"))
        .unwrap();
    assert!(said.contains("/24 machines"), "{said}");
    assert!(said.contains(" elapsed, ETA "), "{said}");

    // On 60 columns, the bar and its words still fit on one line.
    let az = Azure::with(Scenario::generated(24, 1));
    az.sim().set_knobs(Knobs {
        bucket: Some(BucketSpec::reads(20, 5)),
        ..Knobs::default()
    });
    let Some(out) = on_terminal(&az, 60) else {
        return;
    };
    let lines = drawn(&out.stdout);
    let said: Vec<_> = lines.iter().filter(|l| l.contains("ARM allows")).collect();
    assert!(!said.is_empty(), "{out:?}");
    for line in said {
        assert!(console::measure_text_width(line) <= 60, "{line:?}");
    }
}

#[test]
fn without_a_bucket_limit_the_fleet_bar_never_says_arm_sets_the_pace() {
    let az = Azure::with(Scenario::generated(24, 1));
    // Slow enough for the bar to be drawn, never short of tokens.
    az.sim().set_knobs(Knobs {
        bucket: Some(BucketSpec::unlimited()),
        latency_ms: 150,
        ..Knobs::default()
    });
    let Some(out) = on_terminal(&az, 120) else {
        return;
    };
    assert_eq!(out.status, 2, "{out:?}");
    assert!(out.stdout.contains("/24 machines"), "{out:?}");
    assert!(out.stdout.contains("ETA"), "{out:?}");
    assert!(!out.stdout.contains("ARM allows"), "{out:?}");
}
