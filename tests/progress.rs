//! Progress on every wait, and what `-v`/`-vv` show (issue 10, point 6):
//! each ARM request with its status and time, never a token; every retry
//! says what is retried, why and when; a slow local step has a spinner on a
//! terminal.

use arcfix::sim::Knobs;

use crate::azure::Azure;
use crate::harness::Sandbox;

#[test]
fn dash_v_shows_each_request_with_its_status_and_time() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let out = az.run(&["-v", "check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 0, "{out:?}");
    let requests = az.sim().requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let line = format!("{} {} {} (", r.method, r.path, r.status);
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(&line) && l.ends_with(" ms)")),
            "no -v line for {line}: {out:?}"
        );
    }
    // One line per request, and no query string (nothing after the path).
    let lines = out.stderr.lines().filter(|l| l.ends_with(" ms)")).count();
    assert_eq!(lines, requests.len(), "{out:?}");
    assert!(!out.stderr.contains("api-version="), "{out:?}");
    // Without -v, none of it.
    let quiet = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert!(!quiet.stderr.contains(" ms)"), "{quiet:?}");
    // -v never mixes into the JSON document.
    let json = az.run(&[
        "-v", "check", "--checks", "azure", "--id", &id, "-o", "json",
    ]);
    assert_eq!(json.json()["schema_version"], 1);
    assert!(json.stderr.contains(" 200 ("), "{json:?}");
}

#[test]
fn dash_vv_shows_request_ids_and_headers_but_never_the_token() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let out = az.run(&[
        "-vv",
        "apply",
        "--checks",
        "azure",
        "--id",
        &id,
        "--login",
        "entra",
        "--grant-roles",
        "--yes",
        "--no-journal",
    ]);
    // The hybrid agent restart after the registration is manual without --remote.
    assert_eq!(out.status, 3, "{out:?}");
    assert!(out.stderr.contains("request id "), "{out:?}");
    assert!(
        out.stderr.contains("x-ms-client-request-id: ")
            && out
                .stderr
                .contains(&format!("user-agent: arcfix/{}", env!("CARGO_PKG_VERSION"))),
        "{out:?}"
    );
    assert!(out.stderr.contains("PUT "), "the writes are logged too");
    // The caller's token, or any part of it, and the header that carries it.
    assert!(!az.token.is_empty());
    for part in az.token.split('.').filter(|p| p.len() > 8) {
        assert!(!out.stderr.contains(part), "a piece of the token leaked");
        assert!(!out.stdout.contains(part), "a piece of the token leaked");
    }
    let lower = out.stderr.to_ascii_lowercase();
    assert!(!lower.contains("authorization: "), "{out:?}");
    assert!(!lower.contains("bearer"), "{out:?}");
}

#[test]
fn a_throttled_request_says_what_is_retried_and_when() {
    let az = Azure::builtin("healthy");
    az.sim().set_knobs(Knobs {
        throttle_every: 2,
        retry_after: Some("1".into()),
        ..Default::default()
    });
    let id = az.machine(0);
    let out = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 0, "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("ARM is throttling (429 Too Many Requests); GET …/"))
        .unwrap_or_else(|| panic!("{out:?}"));
    // How long, and the most it will wait (120 s, scaled by ARCFIX_RETRY_SCALE to no less than 10 s).
    assert!(line.ends_with(" waits 1 s (at most 10 s in all)"), "{line}");
    // -q: not a word of it.
    let quiet = az.run(&["-q", "check", "--checks", "azure", "--id", &id]);
    assert_eq!(quiet.status, 0, "{quiet:?}");
    assert!(!quiet.stderr.contains("throttling"), "{quiet:?}");
}

#[test]
fn a_slow_local_step_has_a_spinner_on_a_terminal_and_none_with_q() {
    let make = || {
        let s = Sandbox::new();
        s.ssh_client("bin");
        s.module("all", "Az.Ssh", "0.2.3");
        // Install-Module takes a while.
        s.fake_pwsh_after("sleep 2");
        s
    };
    let s = make();
    let Some(out) = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .env("TERM", "xterm")
        .in_terminal("")
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("running pwsh -NoProfile -NonInteractive"),
        "{out:?}"
    );
    // With the time it has been running.
    assert!(out.stdout.contains("s)"), "{out:?}");
    let s = make();
    let quiet = s
        .cmd()
        .args(&["-q", "apply", "--checks", "client", "--yes"])
        .env("TERM", "xterm")
        .in_terminal("")
        .unwrap();
    assert_eq!(quiet.status, 0, "{quiet:?}");
    assert!(!quiet.stdout.contains("running pwsh"), "{quiet:?}");
}
