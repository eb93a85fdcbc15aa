//! Interruptions and odd inputs: Ctrl-C during the wait for an agent
//! restart, a journal path that is not a regular file, and ids that differ
//! only in non-ASCII case. (Ctrl-C during `--connect` is in tests/connect.rs,
//! beside the real ssh it needs.)

use std::process::Child;
use std::time::{Duration, Instant};

use crate::azure::Azure;
use crate::harness::Output;

/// Waits for `child` at most `limit`; a child still running then is killed
/// and the test fails (a hang must not hang the suite).
fn wait_at_most(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn ctrl_c_during_the_wait_for_the_agent_restart_stops_within_a_second_after_the_report() {
    // The handler loses the restart: arcfix would wait for a new start time.
    let az = Azure::edited("demo", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["himds_restart_lost"] =
            true.into();
    });
    let id = az.machine(0);
    let child = az
        .sandbox
        .cmd()
        .args(&["apply", "--yes", "--remote", "--id", &id, "-o", "json"])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("ARCFIX_RUN_COMMAND_TIMEOUT", "100")
        .command()
        .spawn()
        .unwrap();
    let restart_sent = || {
        az.sim().requests().iter().any(|r| {
            r.method == "PUT"
                && r.body.as_ref().is_some_and(|b| {
                    b["properties"]["source"]["script"]
                        .as_str()
                        .is_some_and(|s| s.contains("# arcfix: restart-himds"))
                })
        })
    };
    let until = Instant::now() + Duration::from_secs(60);
    while !restart_sent() {
        assert!(Instant::now() < until, "the restart was never scheduled");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Into the wait (its first look comes after 5 s).
    std::thread::sleep(Duration::from_millis(700));
    let pressed = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_at_most(child, Duration::from_secs(10), "apply after Ctrl-C");
    let took = pressed.elapsed();
    eprintln!("Ctrl-C to exit: {took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}: {out:?}");
    assert_eq!(out.status, 130, "{out:?}");
    // The report came first: the restart is not claimed.
    let steps = out.steps();
    let restart = steps
        .iter()
        .find(|s| {
            s["id"]
                .as_str()
                .unwrap()
                .starts_with("restart-hybrid-agent")
        })
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(restart["status"], "failed", "{restart}");
    assert!(
        restart["error"]
            .as_str()
            .unwrap()
            .contains("interrupted (Ctrl-C) while waiting for the agent"),
        "{restart}"
    );
}

#[test]
fn a_journal_that_is_a_fifo_a_device_or_a_directory_is_refused_before_any_change() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let fifo = az.sandbox.path("journal.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::create_dir(az.sandbox.path("journal.d")).unwrap();
    let cases = [
        (fifo.clone(), "a FIFO (named pipe)"),
        ("/dev/null".into(), "a device"),
        (az.sandbox.path("journal.d"), "a directory"),
    ];
    for (path, what) in cases {
        let child = az
            .sandbox
            .cmd()
            .args(&[
                "apply",
                "--yes",
                "--checks",
                "azure",
                "--id",
                &id,
                "--journal",
                path.to_str().unwrap(),
            ])
            .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .command()
            .spawn()
            .unwrap();
        let out = wait_at_most(child, Duration::from_secs(30), what);
        assert_eq!(out.status, 1, "{what}: {out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {out:?}");
        assert!(
            lines[0].starts_with("arcfix: error: the journal ")
                && lines[0].contains(&format!("is {what}, not a regular file")),
            "{what}: {out:?}"
        );
        assert!(az.writes().is_empty(), "{what}: {:?}", az.writes());
    }
}

#[test]
fn ids_that_differ_only_in_non_ascii_case_are_one_machine_fixed_once() {
    let az = Azure::edited("demo", |v| {
        *v = serde_json::from_str(&v.to_string().replace("arc-demo", "arc-Grüppe")).unwrap();
    });
    let id = az.machine(0);
    assert!(id.contains("/resourceGroups/arc-Grüppe/"), "{id}");
    let shouted = id.replace("arc-Grüppe", "ARC-GRÜPPE");
    az.sandbox.write("ids.txt", &format!("{id}\n{shouted}\n"));
    let out = az.run(&[
        "apply",
        "--yes",
        "--checks",
        "azure",
        "--ids-from",
        "ids.txt",
        "-o",
        "json",
    ]);
    assert_ne!(out.status, 1, "{out:?}");
    // The second spelling is the same machine: never asked about, never written to.
    let other: Vec<String> = az
        .sim()
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.contains("GR%C3%9CPPE") || p.contains("GRÜPPE"))
        .collect();
    assert!(other.is_empty(), "{other:?}");
    let steps = out.steps();
    let mut ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "a step planned twice: {ids:?}");
    assert!(
        steps
            .iter()
            .any(|s| s["status"] == "applied" && s["target"].as_str().unwrap().ends_with("/web-01")),
        "{out:?}"
    );
    // Each write once.
    let mut writes = az.writes();
    let n = writes.len();
    writes.sort();
    writes.dedup();
    assert_eq!(writes.len(), n, "{:?}", az.writes());
}
