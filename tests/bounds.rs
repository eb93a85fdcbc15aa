//! Bounded everything, and fail fast where waiting cannot help (issue 16,
//! points 5 and 6, and the fleet parts of point 1): a hostile ARM or Resource
//! Graph (tests/hostile.rs's proxy) that pages forever, repeats its links,
//! sends more rows than it announced, blanks a row's status or fails to list;
//! an endpoint nobody listens at; a throttle without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::azure::Azure;
use crate::harness::Output;
use crate::hostile::{Answer, hostile};

/// The `fleet` scenario's subscription where the caller is Owner.
const OWNED: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";

fn run_at(az: &Azure, endpoint: &str, args: &[&str]) -> Output {
    az.sandbox
        .cmd()
        .args(args)
        .env("ARCFIX_ARM_ENDPOINT", endpoint)
        .env("ARCFIX_RETRY_SCALE", "0.02")
        // The pages of a long list are not held to ARM's read rate here.
        .env("ARCFIX_PACE_SCALE", "100")
        .run()
}

/// The simulator's `nextLink`s name the simulator: made relative, so that
/// the next page is asked of the proxy too.
fn through_proxy(a: &mut Answer) {
    if let Some(link) = a
        .body
        .as_mut()
        .and_then(|b| b.get_mut("nextLink"))
        .filter(|l| l.is_string())
    {
        let url = url::Url::parse(link.as_str().unwrap()).unwrap();
        *link = Value::String(format!(
            "{}?{}",
            url.path(),
            url.query().unwrap_or_default()
        ));
    }
}

fn is_permissions(a: &Answer) -> bool {
    a.method == "GET"
        && a.path
            .ends_with("/providers/Microsoft.Authorization/permissions")
}

fn is_graph(a: &Answer) -> bool {
    a.method == "POST" && a.path.contains("Microsoft.ResourceGraph")
}

fn graph_posts(az: &Azure) -> usize {
    az.sim()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("Microsoft.ResourceGraph"))
        .count()
}

#[test]
fn a_next_link_to_itself_is_an_error_naming_it_not_a_tick() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        if is_permissions(a)
            && let Some(b) = a.body.as_mut()
        {
            // A link to the page itself.
            b["nextLink"] = Value::String(format!("{}?{}", a.path, a.query));
        }
    });
    let out = run_at(&az, &endpoint, &["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(!out.stdout.contains('✓'), "{out:?}");
    assert!(
        out.stdout
            .contains("ARM returned the same nextLink again (/subscriptions/")
            && out.stdout.contains("permissions?api-version="),
        "{out:?}"
    );
    // The first page and its repeat, no more (of the machine's list; the
    // subscription's, read beside it, is a list of its own).
    let pages = az
        .sim()
        .requests()
        .iter()
        .filter(|r| {
            r.path
                .to_ascii_lowercase()
                .starts_with(&id.to_ascii_lowercase())
                && r.path
                    .ends_with("/providers/Microsoft.Authorization/permissions")
        })
        .count();
    assert_eq!(pages, 2, "{out:?}");
}

#[test]
fn a_next_link_chain_past_the_cap_is_an_error_never_a_whole_list() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let n = Arc::new(AtomicUsize::new(0));
    let endpoint = hostile(&az, move |a| {
        if is_permissions(a) {
            // A fresh link on every page: a list without end.
            let page = n.fetch_add(1, Ordering::SeqCst) + 1;
            a.status = 200;
            a.body = Some(json!({
                "value": [],
                "nextLink": format!("{}?$skiptoken=page-{page}", a.path),
            }));
        }
    });
    let out = run_at(&az, &endpoint, &["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(!out.stdout.contains('✓'), "{out:?}");
    assert!(
        out.stdout
            .contains("the list never ends: more than 1000 pages"),
        "{out:?}"
    );
}

/// Answers every Resource Graph query with the first page's rows, again and
/// again, with the token `token(n)` for the nth page.
fn graph_replayed(az: &Azure, token: impl Fn(usize) -> String + Send + Sync + 'static) -> String {
    let first: std::sync::Mutex<Option<Value>> = Default::default();
    let n = AtomicUsize::new(0);
    hostile(az, move |a| {
        through_proxy(a);
        if !is_graph(a) {
            return;
        }
        let page = n.fetch_add(1, Ordering::SeqCst) + 1;
        let mut kept = first.lock().unwrap();
        if kept.is_none() {
            *kept = a.body.clone();
        }
        let mut body = kept.clone().unwrap();
        body["$skipToken"] = Value::String(token(page));
        a.status = 200;
        a.body = Some(body);
    })
}

#[test]
fn a_repeated_skip_token_stops_resource_graph_with_an_error_naming_it() {
    let az = Azure::builtin("fleet");
    let endpoint = graph_replayed(&az, |_| "same-token-7f3a".into());
    let out = run_at(
        &az,
        &endpoint,
        &[
            "check",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "-o",
            "json",
        ],
    );
    let scope = out.json()["scope"].as_str().unwrap_or_default().to_string();
    assert!(
        scope.contains(
            "; Resource Graph failed after 2 machines (Resource Graph returned the same $skipToken again (same-token-7f3a)), the rest listed by ARM"
        ),
        "{out:?}"
    );
    // The rest listed by ARM: the five machines of the subscription, each
    // once (the first page's two not again).
    assert!(
        scope.starts_with("5 Arc machines in 1 subscription (Resource Graph, then ARM list)"),
        "{scope}"
    );
    assert_eq!(out.machine_statuses().len(), 5, "{out:?}");
    assert_eq!(graph_posts(&az), 2, "the first page and its repeat");
}

#[test]
fn rows_beyond_total_records_stop_resource_graph_with_an_error() {
    let az = Azure::builtin("fleet");
    // Fresh tokens, the same rows: more rows than the 5 announced.
    let endpoint = graph_replayed(&az, |n| format!("fresh-{n}"));
    let out = run_at(
        &az,
        &endpoint,
        &[
            "check",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "-o",
            "json",
        ],
    );
    let scope = out.json()["scope"].as_str().unwrap_or_default().to_string();
    assert!(
        scope.contains("Resource Graph returned more rows than the 5 it announced (totalRecords)"),
        "{out:?}"
    );
    assert_eq!(out.machine_statuses().len(), 5, "{out:?}");
    assert!(graph_posts(&az) <= 3, "{}", graph_posts(&az));
}

#[test]
fn fewer_rows_than_total_records_are_never_taken_for_the_whole_list() {
    // Resource Graph counts two machines it never returns.
    let az = Azure::edited("fleet", |v| v["graph_overcount"] = serde_json::json!(2));
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "-o",
        "json",
    ]);
    let scope = out.json()["scope"].as_str().unwrap_or_default().to_string();
    assert!(
        scope.contains(
            "; Resource Graph failed after 4 machines (Resource Graph ended after 5 of the 7 rows it announced (totalRecords)), the rest listed by ARM"
        ),
        "{out:?}"
    );
    // The last page's machine and any other are ARM's: the same five, each once.
    assert!(
        scope.starts_with("5 Arc machines in 1 subscription (Resource Graph, then ARM list)"),
        "{scope}"
    );
    let whole = Azure::builtin("fleet").run(&[
        "check",
        "--checks",
        "azure",
        "--subscription",
        OWNED,
        "-o",
        "json",
    ]);
    assert_eq!(out.machine_statuses(), whole.machine_statuses(), "{out:?}");
    assert!(
        az.sim().requests().iter().any(|r| r.method == "GET"
            && r.path
                .ends_with("/providers/Microsoft.HybridCompute/machines")),
        "ARM's list was not asked"
    );
}

#[test]
fn a_row_with_an_empty_status_is_read_from_arm_not_called_disconnected() {
    let az = Azure::builtin("fleet");
    for blank in [Value::String(String::new()), Value::Null] {
        let b = blank.clone();
        let endpoint = hostile(&az, move |a| {
            if is_graph(a)
                && let Some(rows) = a.body.as_mut().and_then(|v| v["data"].as_array_mut())
            {
                for row in rows {
                    if row["name"] == "web-01" {
                        if b.is_null() {
                            row.as_object_mut().unwrap().remove("status");
                        } else {
                            row["status"] = b.clone();
                        }
                    }
                }
            }
        });
        az.sim().clear_log();
        let out = run_at(
            &az,
            &endpoint,
            &[
                "check",
                "--checks",
                "azure",
                "--subscription",
                OWNED,
                "-o",
                "json",
            ],
        );
        assert_eq!(out.status, 2, "{blank}: {out:?}");
        let web01 = out
            .machine_statuses()
            .into_iter()
            .find(|(n, _)| n == "web-01")
            .unwrap();
        // Connected, as ARM says: healthy, no agent-disconnected from nothing.
        assert_eq!(web01.1, "healthy", "{blank}: {out:?}");
        assert!(
            !out.stdout.contains("agent-disconnected-web-01"),
            "{blank}: {out:?}"
        );
        let read = az
            .sim()
            .requests()
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path.to_ascii_lowercase().ends_with("/machines/web-01")
            })
            .count();
        assert_eq!(read, 1, "the machine is read from ARM once: {blank}");
    }
}

#[test]
fn a_subscription_that_cannot_be_listed_is_not_checked_not_empty() {
    let az = Azure::builtin("fleet");
    let endpoint = hostile(&az, |a| {
        let list = a.method == "GET"
            && a.path
                .ends_with("/providers/Microsoft.HybridCompute/machines");
        if is_graph(a) || list {
            a.status = 500;
            a.headers.push(("Retry-After".into(), "0".into()));
            a.body = Some(json!({"error": {"code": "InternalServerError", "message": "boom"}}));
        }
    });
    let out = run_at(
        &az,
        &endpoint,
        &["check", "--checks", "azure", "--subscription", OWNED],
    );
    assert_eq!(out.status, 1, "{out:?}");
    let first = out
        .stderr
        .lines()
        .find(|l| !l.starts_with("→ "))
        .unwrap_or_default();
    assert!(!first.contains("0 Arc machines"), "{out:?}");
    assert!(
        first.starts_with(
            "no Arc machines listed: 1 subscription could not be listed (not checked)"
        ),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains(&format!("azure not checked — subscription {OWNED}: "))
            && out.stdout.contains("500 (InternalServerError)"),
        "{out:?}"
    );
    assert!(!out.stdout.contains('✓'), "{out:?}");
}

#[test]
fn an_endless_throttle_is_said_once_and_given_up_on() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let endpoint = hostile(&az, |a| {
        if a.method == "GET" && a.path.to_ascii_lowercase().ends_with("/machines/web-01") {
            a.status = 429;
            a.headers.push(("Retry-After".into(), "1".into()));
            a.body = Some(
                json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
            );
        }
    });
    let out = run_at(&az, &endpoint, &["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("throttling") && l.contains("machines/web-01"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {out:?}");
    assert!(said[0].contains("at most 10 s in all"), "{out:?}");
    assert!(!out.stderr.contains("attempt"), "{out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("arcfix: error: ")
            && last.contains("429 (SubscriptionRequestsThrottled)")
            && last.contains("arcfix stopped waiting after"),
        "{out:?}"
    );
}

/// A loopback port nobody listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn an_endpoint_nobody_listens_at_is_named_with_its_origin_after_one_retry() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let port = dead_port();
    let url = format!("http://127.0.0.1:{port}/");
    for (how, quiet) in [("ARCFIX_ARM_ENDPOINT", false), ("--arm-endpoint", true)] {
        let mut cmd = az.sandbox.cmd();
        if quiet {
            cmd = cmd.args(&["-q"]);
        }
        cmd = cmd.args(&["check", "--checks", "azure", "--id", &id]);
        if how == "--arm-endpoint" {
            cmd = cmd.args(&["--arm-endpoint", &url]);
        } else {
            cmd = cmd.env("ARCFIX_ARM_ENDPOINT", &url);
        }
        let started = std::time::Instant::now();
        let out = cmd.run();
        eprintln!("{how}: exit after {:?}", started.elapsed());
        assert_eq!(out.status, 1, "{out:?}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("arcfix: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{out:?}");
        assert!(
            errors[0].contains(&format!(
                "cannot reach the ARM endpoint {url} (from {how}): connection refused"
            )),
            "{out:?}"
        );
        // One retry, said (not with -q), never a sixth attempt.
        let retries: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("retrying"))
            .collect();
        assert!(
            retries.iter().all(|l| l.ends_with("(attempt 2 of 2)")),
            "{out:?}"
        );
        if quiet {
            assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        } else {
            assert!(!retries.is_empty(), "{out:?}");
        }
    }
    assert!(az.sim().requests().is_empty());
}

#[test]
fn an_endpoint_whose_name_does_not_resolve_is_named_with_its_origin() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    // `.invalid` never resolves (RFC 2606).
    let out = az
        .sandbox
        .cmd()
        .args(&[
            "check",
            "--checks",
            "azure",
            "--id",
            &id,
            "--arm-endpoint",
            "https://arm.arcfix-test.invalid/",
        ])
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(
            "cannot reach the ARM endpoint https://arm.arcfix-test.invalid/ (from --arm-endpoint): the name arm.arcfix-test.invalid does not resolve"
        ),
        "{out:?}"
    );
}

#[test]
fn ids_from_a_file_are_deduplicated_whatever_their_number_and_case() {
    let az = Azure::builtin("fleet");
    let ids = az.sim().scenario().machine_ids();
    // 40,000 lines naming the six machines over and over, in two casings.
    let mut text = String::new();
    for i in 0..40_000 {
        let id = &ids[i % ids.len()];
        if i % 2 == 0 {
            text.push_str(id);
        } else {
            text.push_str(
                &id.to_ascii_uppercase()
                    .replace("/SUBSCRIPTIONS/", "/subscriptions/"),
            );
        }
        text.push('\n');
    }
    az.sandbox.write("many.txt", &text);
    let started = std::time::Instant::now();
    let out = az.run(&[
        "check",
        "--checks",
        "azure",
        "--ids-from",
        "many.txt",
        "--id",
        &ids[0]
            .to_ascii_uppercase()
            .replace("/SUBSCRIPTIONS/", "/subscriptions/"),
        "-o",
        "json",
    ]);
    eprintln!("40,000 ids: exit after {:?}", started.elapsed());
    // Each machine once.
    let mut names: Vec<String> = out
        .machine_statuses()
        .into_iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "db-01",
            "db-win-01",
            "edge-01",
            "web-01",
            "web-02",
            "web-03"
        ],
        "{out:?}"
    );
    assert_eq!(
        out.stderr.lines().next(),
        Some("6 Arc machines named (--id, --ids-from)"),
        "{out:?}"
    );
}
