//! The command line itself: usage errors, help, completions.

use crate::harness::Sandbox;

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let s = Sandbox::new();
    for args in [
        &["frobnicate"][..],
        &["check", "--port", "x"],
        &["check", "--machine", "m"],
        &["check", "--checks", "moon"],
        &[],
    ] {
        let out = s.cmd().args(args).run();
        assert_eq!(out.status, 64, "{args:?}: {out:?}");
    }
    let help = s.cmd().args(&["--help"]).run();
    assert_eq!(help.status, 0);
    assert!(help.stdout.contains("explain"));
    assert_eq!(
        s.cmd().args(&["--version"]).run().stdout,
        format!("arcfix {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_ids_are_one_line_errors() {
    let s = Sandbox::new();
    for (id, want) in [
        (
            "/subscriptions/nope/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
            "invalid subscription id 'nope'",
        ),
        ("garbage", "invalid machine id 'garbage'"),
        (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/a b",
            "invalid machine name 'a b'",
        ),
    ] {
        let out = s.cmd().args(&["check", "--id", id]).run();
        // A malformed option value is a usage error.
        assert_eq!(out.status, 64, "{out:?}");
        assert!(out.stderr.contains(want), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1);
    }
}

#[test]
fn azure_checks_without_a_machine_are_a_usage_error() {
    let out = Sandbox::new()
        .cmd()
        .args(&["check", "--checks", "azure"])
        .run();
    assert_eq!(out.status, 64, "{out:?}");
    assert!(out.stderr.contains("--checks azure needs a machine"));
}

#[test]
fn completions_and_man_page_render() {
    let s = Sandbox::new();
    let c = s.cmd().args(&["completions", "bash"]).run();
    assert_eq!(c.status, 0);
    assert!(c.stdout.contains("arcfix"));
    let m = s.cmd().args(&["man"]).run();
    assert!(m.stdout.contains(".TH arcfix"), "{m:?}");
}

#[test]
fn the_demo_fixes_what_it_can_and_says_what_remains() {
    let s = Sandbox::new();
    let out = s.cmd().args(&["demo"]).run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("arcfix demo — SIMULATED environment"),
        "{out:?}"
    );
    for section in [
        "== 1. arcfix check (simulated)",
        "== 2. arcfix plan (simulated)",
        "== 3. arcfix apply --yes (simulated)",
        "== 4. arcfix check again (simulated)",
    ] {
        assert!(out.stdout.contains(section), "{section}");
    }
    assert!(out.stdout.contains("nothing was sent beyond 127.0.0.1"));

    let json = s.cmd().args(&["demo", "-o", "json"]).run().json();
    assert_eq!(json["simulated"], true);
    let ids = |v: &serde_json::Value, machine: &str| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["target"].as_str().unwrap().ends_with(machine))
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Before: every fixable problem on web-01 that can be seen, the client's
    // too; its endpoint cannot be read before the registration, and says so.
    let before = ids(&json["before"], "web-01");
    for id in ["login-role-missing", "entra-extension-missing"] {
        assert!(before.contains(&id.to_string()), "{before:?}");
    }
    assert!(!before.contains(&"ssh-port-not-enabled".to_string()));
    assert!(
        json["before"]["not_checked"].to_string().contains(
            "web-01: its default endpoint and SSH service configuration cannot be read until"
        ),
        "{}",
        json["before"]["not_checked"]
    );
    let planned: Vec<&str> = json["applied"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "applied")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        planned.contains(&"create-default-endpoint-web-01"),
        "{planned:?}"
    );
    assert!(ids(&json["before"], "local").contains(&"arcproxy-not-installed".to_string()));
    // After: web-01 and the client are clean, db-01 keeps what only a person may fix.
    assert_eq!(ids(&json["after"], "web-01"), Vec::<String>::new());
    assert_eq!(ids(&json["after"], "local"), Vec::<String>::new());
    assert!(ids(&json["after"], "db-01").contains(&"endpoint-permission-missing".to_string()));
    let applied = json["applied"]["steps"].as_array().unwrap();
    assert!(
        applied
            .iter()
            .any(|s| s["id"] == "remote-start-sshd-web-01" && s["status"] == "applied"),
        "the remote fix ran"
    );
    assert!(
        applied.iter().all(|s| s["status"] != "failed"),
        "{applied:#?}"
    );
}

#[test]
fn the_demo_keeps_its_sandbox_private_and_removes_it_on_ctrl_c() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    std::fs::create_dir(s.path("tmp")).unwrap();
    let child = s
        .cmd()
        .args(&["demo"])
        .env("TMPDIR", s.path("tmp").to_str().unwrap())
        .command()
        .spawn()
        .unwrap();
    let sandbox = (0..200).find_map(|_| {
        let found = std::fs::read_dir(s.path("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("arcfix-demo-")
            });
        if found.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        found
    });
    let sandbox = sandbox.expect("the demo makes its sandbox in TMPDIR");
    let mode = std::fs::metadata(&sandbox).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "{}", sandbox.display());
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");
    assert!(!sandbox.exists(), "{} was left behind", sandbox.display());
    assert_eq!(
        std::fs::read_dir(s.path("tmp")).unwrap().count(),
        0,
        "nothing is left in TMPDIR"
    );
}

#[test]
fn the_demo_tries_the_ssh_path_before_and_after_the_fixes() {
    let s = Sandbox::new();
    // Without OpenSSH on PATH the demo says why there is no probe.
    let out = s.cmd().args(&["demo"]).run();
    assert!(
        out.stdout
            .contains("Connection probe skipped: no OpenSSH client (ssh) on PATH"),
        "{out:?}"
    );
    let has_openssh = std::path::Path::new("/usr/bin/ssh").exists()
        && ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .iter()
            .any(|p| std::path::Path::new(p).exists());
    if !has_openssh {
        eprintln!("no OpenSSH client and server: skipped");
        return;
    }
    std::fs::create_dir_all("/run/sshd").ok();
    let json = s
        .cmd()
        .args(&["demo", "-o", "json"])
        .env("PATH", "/usr/bin:/bin")
        .run()
        .json();
    let web = |phase: &str| {
        json[phase]["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"].as_str().unwrap().ends_with("/web-01"))
            .cloned()
            .unwrap_or_else(|| panic!("{phase}: {json}"))
    };
    let before = web("before");
    assert_eq!(before["ok"], false, "{before}");
    assert_eq!(before["problem"], "proxy-not-executable", "{before}");
    let after = web("after");
    assert_eq!(after["ok"], true, "{after}");
    assert!(
        after["banner"].as_str().unwrap().starts_with("SSH-2.0-"),
        "{after}"
    );
}

#[test]
fn completions_man_page_help_examples_and_colour() {
    let s = Sandbox::new();
    let out = s.cmd().args(&["completions", "bash"]).run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.stdout.contains("arcfix") && out.stdout.contains("complete"),
        "{out:?}"
    );
    let man = s.cmd().args(&["man"]).run();
    assert_eq!(man.status, 0);
    for section in [
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
    ] {
        assert!(man.stdout.contains(section), "{section}");
    }
    // Only pages that exist everywhere OpenSSH does are referenced.
    let see_also = man.stdout.split(".SH \"SEE ALSO\"").nth(1).unwrap();
    assert_eq!(see_also.trim(), "\\fBssh\\fR(1)");
    let help = s.cmd().args(&["--help"]).run();
    assert!(
        help.stdout.contains("completions") && help.stdout.contains("man"),
        "{help:?}"
    );
    for cmd in [
        "check",
        "plan",
        "apply",
        "explain",
        "rules",
        "policy",
        "policy show",
        "demo",
        "completions",
        "man",
    ] {
        let words: Vec<&str> = cmd.split(' ').collect();
        let h = s.cmd().args(&[&words[..], &["--help"]].concat()).run();
        let tail: Vec<&str> = h.stdout.trim_end().lines().rev().take(4).collect();
        assert!(
            h.stdout.contains("Examples:\n  arcfix") || h.stdout.contains("Examples:\n  az "),
            "{cmd}: {h:?}"
        );
        assert!(tail.iter().any(|l| l.contains("arcfix")), "{cmd}: {tail:?}");
    }
    // -g and -n / --name as in az.
    let short = s
        .cmd()
        .args(&["check", "--checks", "client", "-n", "web-01", "-g", "rg1"])
        .run();
    assert!(
        short
            .stderr
            .contains("--machine needs --resource-group and a subscription"),
        "{short:?}"
    );
    let name = s.cmd().args(&["check", "--name", "web-01"]).run();
    assert_eq!(name.status, 64, "{name:?}");
    // --color always colours even into a pipe; never and NO_COLOR do not.
    let always = s.cmd().args(&["--color", "always", "rules"]).run();
    assert!(always.stdout.contains("\u{1b}["), "{always:?}");
    let never = s.cmd().args(&["--color", "never", "rules"]).run();
    assert!(!never.stdout.contains("\u{1b}["));
    let empty_no_color = s
        .cmd()
        .args(&["--color", "always", "rules"])
        .env("NO_COLOR", "")
        .run();
    assert!(empty_no_color.stdout.contains("\u{1b}["));
}

/// Lines over 80 columns that are not commands, scripts or one unbreakable word.
fn too_wide(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.chars().count() > 80)
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("$ ") || t.starts_with('│') || !t.contains(' '))
        })
        .collect()
}

#[test]
fn demo_lists_its_scenarios_and_runs_any_of_them() {
    let s = Sandbox::new();
    let list = s.cmd().args(&["demo", "--list"]).natural_width().run();
    assert_eq!(list.status, 0, "{list:?}");
    for name in [
        "demo",
        "healthy",
        "reader",
        "wrong-port",
        "disconnected",
        "windows",
        "fleet",
        "group-contributor",
        "blockers",
    ] {
        assert!(
            list.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "{name}: {list:?}"
        );
    }
    assert!(
        list.stdout.contains("Two Linux Arc-enabled servers."),
        "{list:?}"
    );
    assert!(
        list.stdout.lines().all(|l| l.chars().count() <= 80),
        "{list:?}"
    );

    let reader = s.cmd().args(&["demo", "--scenario", "reader"]).run();
    assert_eq!(reader.status, 0, "{reader:?}");
    assert!(reader.stdout.contains("scenario 'reader'"), "{reader:?}");
    assert!(
        reader.stdout.contains("endpoint-permission-missing") && !reader.stdout.contains("db-01"),
        "the reader scenario's machine, not the demo's: {reader:?}"
    );

    let unknown = s.cmd().args(&["demo", "--scenario", "nope"]).run();
    assert_eq!(unknown.status, 64, "{unknown:?}");
    assert!(
        unknown.stderr.contains("unknown scenario 'nope'")
            && unknown.stderr.contains("healthy")
            && unknown.stderr.contains("group-contributor"),
        "{unknown:?}"
    );
    assert!(unknown.stdout.is_empty());
}

#[test]
fn the_demo_plan_shows_the_plan_once_in_80_columns() {
    let out = Sandbox::new().cmd().args(&["demo"]).natural_width().run();
    assert_eq!(out.status, 0, "{out:?}");
    let plan = out
        .stdout
        .split("== 2. arcfix plan (simulated)")
        .nth(1)
        .and_then(|rest| rest.split("== 3.").next())
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(plan.contains("Plan ("), "{plan}");
    assert!(!plan.contains("Findings"), "{plan}");
    // Each finding is printed in steps 1 and 4 only.
    assert_eq!(
        out.stdout.matches("✗ rp-not-registered").count(),
        1,
        "{out:?}"
    );
    assert_eq!(too_wide(&out.stdout), Vec::<&str>::new());
}

/// A server the test started, killed if the test fails before stopping it.
struct Server(Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn demo_serve_is_a_simulated_azure_for_arcfix_until_ctrl_c() {
    use std::io::BufRead;
    let s = Sandbox::new();
    let mut server = Server(Some(
        s.cmd()
            .args(&["demo", "--serve", "--scenario", "healthy"])
            .natural_width()
            .command()
            .spawn()
            .unwrap(),
    ));
    let child = server.0.as_mut().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}: {printed:#?}"));
        let done = line.contains("Serving until Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let var = |name: &str| -> String {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name}: {printed:#?}"))
            .to_string()
    };
    let (endpoint, auth, token) = (
        var("ARCFIX_ARM_ENDPOINT"),
        var("ARCFIX_AUTH"),
        var("ARCFIX_TOKEN"),
    );
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(auth, "static");
    // 80 columns, but for the lines to copy whole.
    assert!(
        printed.iter().all(|l| l.chars().count() <= 80
            || l.trim_start().starts_with("export ")
            || l.trim_start().starts_with("arcfix ")),
        "{printed:#?}"
    );
    let command: Vec<String> = printed
        .iter()
        .find(|l| l.trim_start().starts_with("arcfix check"))
        .unwrap_or_else(|| panic!("{printed:#?}"))
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    // The printed command, with the printed environment; no `az` anywhere on PATH.
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    let check = s
        .cmd()
        .args(&args)
        .args(&["--checks", "azure,server"])
        .env("ARCFIX_ARM_ENDPOINT", &endpoint)
        .env("ARCFIX_AUTH", &auth)
        .env("ARCFIX_TOKEN", &token)
        .run();
    assert_eq!(check.status, 0, "{check:?}");
    assert!(
        check.stdout.contains("no problems found in azure, server"),
        "{check:?}"
    );
    assert!(!check.stdout.contains(&token) && !check.stderr.contains(&token));
    // Ctrl-C is how a server stops: exit 0, and the port is closed.
    let child = server.0.take().unwrap();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped the simulated Azure"), "{stderr}");
    let addr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "{addr} still open"
    );
}

#[test]
fn the_static_token_goes_to_loopback_only() {
    let s = Sandbox::new();
    let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m";
    for endpoint in [
        Some("https://management.azure.com/"),
        Some("https://arm.example.net/"),
        None,
    ] {
        let mut run = s
            .cmd()
            .args(&["--auth", "static", "check", "--id", id])
            .env("ARCFIX_TOKEN", "secret-token-xyz");
        if let Some(e) = endpoint {
            run = run.env("ARCFIX_ARM_ENDPOINT", e);
        }
        let out = run.run();
        assert_eq!(out.status, 64, "{endpoint:?}: {out:?}");
        assert!(
            out.stderr
                .contains("--auth static is only for a loopback --arm-endpoint"),
            "{out:?}"
        );
        assert!(!out.stderr.contains("secret-token-xyz") && out.stdout.is_empty());
    }
    // On loopback without a token: the Azure side is not checked, and says why.
    let out = s
        .cmd()
        .args(&["--auth", "static", "check", "--checks", "azure", "--id", id])
        .env("ARCFIX_ARM_ENDPOINT", "http://127.0.0.1:9/")
        .run();
    assert!(
        out.stdout.contains("needs the token in ARCFIX_TOKEN"),
        "{out:?}"
    );
}
