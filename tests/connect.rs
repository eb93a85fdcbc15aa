//! `--connect` against the real OpenSSH client and a real sshd on loopback,
//! behind a stand-in for the Arc SSH proxy that asks the simulated relay
//! (`arcfix sim-proxy`): the relay checks `SSHPROXY_RELAY_INFO` against what
//! the simulator issued and either splices to the sshd or prints the real
//! proxy's fatal line.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::azure::Azure;
use crate::harness::{BIN, Output};
use crate::server::{Sshd, free_port, sshd_command, sshd_path};

pub(crate) const PROXY: &str = "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973";

/// The real ssh and ssh-keygen in the sandbox's PATH.
pub(crate) fn real_ssh(az: &Azure) -> bool {
    let (Some(ssh), Some(keygen)) = (which("ssh"), which("ssh-keygen")) else {
        return false;
    };
    for (name, real) in [("ssh", ssh), ("ssh-keygen", keygen)] {
        let at = az.sandbox.path(&format!("bin/{name}"));
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(real, at).unwrap();
    }
    true
}

fn which(p: &str) -> Option<String> {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| format!("{d}/{p}"))
        .find(|f| Path::new(f).exists())
}

/// The stand-in proxy: `first` runs before it hands over to the simulated relay.
pub(crate) fn stand_in_proxy(az: &Azure, first: &str) {
    az.sandbox.write_exec(
        PROXY,
        &format!(
            "#!/bin/sh\n{first}\nexec {BIN} sim-proxy --sim {} \"$@\"\n",
            az.sim().base_url()
        ),
    );
}

/// A real sshd for the scenario's first machine, attached to the relay.
fn sshd_for(az: &Azure) -> Option<Sshd> {
    sshd_path()?;
    let port = free_port();
    let cmd = sshd_command(&az.sandbox, port);
    let mut parts = cmd.split_whitespace();
    let child = Command::new(parts.next().unwrap())
        .args(parts)
        .arg("-D")
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    az.sim().attach_sshd(&az.machine(0), port);
    Some(Sshd(child))
}

/// Everything a probe needs; `None` (test skipped) where OpenSSH is missing.
fn setup(az: &Azure) -> Option<Sshd> {
    if !real_ssh(az) {
        eprintln!("no OpenSSH client: skipped");
        return None;
    }
    let sshd = sshd_for(az);
    if sshd.is_none() {
        eprintln!("no sshd installed (.ci/run installs openssh-server): skipped");
        return None;
    }
    stand_in_proxy(az, "");
    std::fs::create_dir_all(az.sandbox.path("tmp")).unwrap();
    sshd
}

pub(crate) fn run(az: &Azure, args: &[&str]) -> Output {
    az.sandbox
        .cmd()
        .args(args)
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("TMPDIR", az.sandbox.path("tmp").to_str().unwrap())
        .env("ARCFIX_CONNECT_TIMEOUT", "10")
        .run()
}

/// Reads every process's command line while `f` runs; returns what `f` gave
/// and all command lines seen.
fn watching_cmdlines<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (seen.clone(), stop.clone());
    let watcher = std::thread::spawn(move || {
        while !st.load(Ordering::SeqCst) {
            if let Ok(dir) = std::fs::read_dir("/proc") {
                for e in dir.flatten() {
                    if let Ok(bytes) = std::fs::read(e.path().join("cmdline")) {
                        let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
                        if !line.trim().is_empty() {
                            s.lock().unwrap().push(line);
                        }
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let out = f();
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

/// `arcfix <cmd> [--yes] --checks azure --connect --id <id> -o json`.
fn probe_json(az: &Azure, cmd: &str, yes: bool, id: &str) -> Output {
    let mut args = vec![cmd];
    if yes {
        args.push("--yes");
    }
    args.extend(["--checks", "azure", "--connect", "--id", id, "-o", "json"]);
    run(az, &args)
}

fn connection(out: &Output) -> serde_json::Value {
    out.json()["connections"][0].clone()
}

#[test]
fn a_working_path_is_proven_by_the_banner_and_no_secret_leaks() {
    let az = Azure::builtin("healthy");
    let Some(_sshd) = setup(&az) else { return };
    // The proxy lingers a moment so the command-line watcher sees it.
    stand_in_proxy(&az, "sleep 0.5");
    let id = az.machine(0);
    let (out, cmdlines) = watching_cmdlines(|| probe_json(&az, "check", false, &id));
    assert_eq!(out.status, 0, "{out:?}");
    let c = connection(&out);
    assert_eq!(c["ok"], true, "{c}");
    assert!(
        c["banner"].as_str().unwrap().starts_with("SSH-2.0-OpenSSH"),
        "{c}"
    );
    assert_eq!(c["stage"], "auth");
    let v = out.json();
    assert!(
        v["checked"]
            .as_array()
            .unwrap()
            .contains(&"connection".into()),
        "{v}"
    );
    // listCredentials was asked for the shortest validity, and nothing was written.
    let asked: Vec<_> = az
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/listCredentials"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].query.contains("expiresin=600"), "{asked:?}");
    assert_eq!(
        asked[0].body,
        Some(serde_json::json!({"serviceName": "SSH"}))
    );
    assert!(az.writes().is_empty(), "{:?}", az.writes());
    // The secret went to the proxy (the relay accepted it) but nowhere else.
    let issued = az.sim().issued();
    assert_eq!(issued.len(), 1);
    let key = issued[0].access_key().to_string();
    let sig = key.split("sig=").nth(1).unwrap().to_string();
    assert!(
        cmdlines.iter().any(|l| l.contains("sim-proxy")),
        "the watcher never saw the proxy run"
    );
    for l in &cmdlines {
        assert!(
            !l.contains(&sig),
            "a command line carries the relay key: {l}"
        );
        assert!(!l.contains("SSHPROXY_RELAY_INFO"), "{l}");
    }
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(&sig), "the relay key was printed");
        assert!(!text.contains(&az.token));
    }
    // The private temporary folder is gone, and sshd saw the probe user.
    let left: Vec<_> = std::fs::read_dir(az.sandbox.path("tmp"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let log = std::fs::read_to_string(az.sandbox.path("sshd.log")).unwrap_or_default();
    assert!(log.contains("Invalid user arcfix-probe"), "{log}");
    let text = run(
        &az,
        &["check", "--checks", "azure", "--connect", "--id", &id],
    );
    assert!(
        text.stdout.contains("Invalid user arcfix-probe"),
        "{text:?}"
    );
    assert!(text.stdout.contains("✓ web-01"), "{text:?}");
}

#[test]
fn each_failure_is_classified_from_the_proxys_own_words() {
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &[&str], &str, &str); 4] = [
        (
            "sshd stopped",
            |v| {
                v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["sshd_running"] =
                    false.into()
            },
            &[],
            "sshd-not-running",
            "server",
        ),
        (
            "agent disconnected",
            |v| {
                v["subscriptions"][0]["resource_groups"][0]["machines"][0]["status"] =
                    "Disconnected".into()
            },
            &[],
            "agent-disconnected",
            "relay",
        ),
        (
            "another port than the service configuration's",
            |_| {},
            &["--port", "2222"],
            "ssh-port-not-enabled",
            "relay",
        ),
        (
            "the agent refuses the port",
            |v| {
                v["subscriptions"][0]["resource_groups"][0]["machines"][0]["server"]["agent_incoming_enabled"] =
                    false.into()
            },
            &[],
            "sshd-not-running",
            "server",
        ),
    ];
    for (what, edit, extra, problem, stage) in cases {
        let az = Azure::edited("healthy", edit);
        let Some(_sshd) = setup(&az) else { return };
        let id = az.machine(0);
        let mut args = vec![
            "check",
            "--checks",
            "azure",
            "--connect",
            "--id",
            &id,
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = run(&az, &args);
        let c = connection(&out);
        assert_eq!(c["ok"], false, "{what}: {out:?}");
        assert_eq!(c["problem"], problem, "{what}: {c}");
        assert_eq!(c["stage"], stage, "{what}: {c}");
        assert!(
            out.finding_ids().contains(&problem.to_string()),
            "{what}: {out:?}"
        );
        assert_eq!(out.status, 2, "{what}: {out:?}");
        assert!(az.writes().is_empty(), "{what}: {:?}", az.writes());
    }
}

#[test]
fn an_unknown_failure_keeps_its_evidence_and_a_hung_proxy_is_killed() {
    let az = Azure::builtin("healthy");
    let Some(_sshd) = setup(&az) else { return };
    let id = az.machine(0);
    az.sandbox.write_exec(
        PROXY,
        "#!/bin/sh\nprintf '%s\\n' '{\"level\":\"fatal\",\"msg\":\"sshproxy: a failure nobody has seen\",\"proxyVersion\":\"1.3.026973\"}' >&2\nexit 1\n",
    );
    let out = probe_json(&az, "check", false, &id);
    let c = connection(&out);
    assert_eq!(c["problem"], "ssh-connection-failed", "{c}");
    assert!(
        c["evidence"]
            .as_str()
            .unwrap()
            .contains("a failure nobody has seen"),
        "{c}"
    );
    assert_eq!(out.status, 2);

    // GNU sleep takes fractions: the pid makes the command line unique.
    let marker = format!("300.{}", std::process::id());
    az.sandbox.write_exec(
        PROXY,
        &format!("#!/bin/sh\ntrap '' HUP\nexec sleep {marker}\n"),
    );
    let started = std::time::Instant::now();
    let out = az
        .sandbox
        .cmd()
        .args(&[
            "check",
            "--checks",
            "azure",
            "--connect",
            "--id",
            &id,
            "-o",
            "json",
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("TMPDIR", az.sandbox.path("tmp").to_str().unwrap())
        .env("ARCFIX_CONNECT_TIMEOUT", "2")
        .run();
    assert!(
        started.elapsed().as_secs() < 60,
        "not killed at the time limit"
    );
    let c = connection(&out);
    assert_eq!(c["ok"], false, "{c}");
    assert!(
        c["evidence"].as_str().unwrap().contains("time limit"),
        "{c}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let alive = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).contains(&marker))
            .unwrap_or(false)
    });
    assert!(!alive, "the hung proxy outlived the probe");
}

#[test]
fn without_a_proxy_or_the_right_the_probe_says_why_it_was_not_tried() {
    let az = Azure::builtin("healthy");
    if !real_ssh(&az) {
        return;
    }
    let id = az.machine(0);
    let out = probe_json(&az, "check", false, &id);
    // Asked for and not possible: not a success (exit 1 after the report).
    assert_eq!(out.status, 1, "{out:?}");
    let v = out.json();
    assert!(
        !v["checked"].to_string().contains("connection"),
        "{}",
        v["checked"]
    );
    let why = v["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["side"] == "connection")
        .unwrap_or_else(|| panic!("{v}"))["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("az ssh arc") && why.contains("Install-Module"),
        "{why}"
    );
    assert!(
        az.sim().issued().is_empty(),
        "credentials asked for without a proxy"
    );
    let text = run(
        &az,
        &["check", "--checks", "azure", "--connect", "--id", &id],
    );
    assert!(
        text.stdout.contains("not checked: ") && text.stdout.contains("connection"),
        "{text:?}"
    );
    assert_eq!(text.status, 1, "{text:?}");
    assert!(!text.stdout.contains('✓'), "{text:?}");
    // No probe reached sshd: no word of its log line.
    assert!(
        !text.stdout.contains("Invalid user arcfix-probe"),
        "{text:?}"
    );

    // A Reader lacks listCredentials: never asked.
    let az = Azure::builtin("reader");
    if setup(&az).is_none() {
        return;
    }
    let id = az.machine(0);
    let out = probe_json(&az, "check", false, &id);
    assert_eq!(out.status, 1, "{out:?}");
    let v = out.json();
    assert!(
        v["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["side"] == "connection"
                && n["reason"].as_str().unwrap().contains("listCredentials")),
        "{v}"
    );
    assert!(
        !az.sim()
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/listCredentials")),
        "listCredentials was called without the right"
    );
}

#[test]
fn apply_connect_ends_with_the_probe_and_waits_for_the_relay() {
    // No SSH service configuration: apply creates it, then proves the path.
    let az = Azure::edited("healthy", |v| {
        v["subscriptions"][0]["resource_groups"][0]["machines"][0]["endpoint"] =
            serde_json::json!({});
    });
    let Some(_sshd) = setup(&az) else { return };
    az.sim().set_knobs(arcfix::sim::Knobs {
        relay_propagation_ms: 1500,
        ..Default::default()
    });
    let id = az.machine(0);
    let out = probe_json(&az, "apply", true, &id);
    assert_eq!(out.status, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["connections"][0]["ok"], true, "{v}");
    // The relay answered 404 at first: the probe tried more than once.
    assert!(az.sim().issued().len() >= 3, "{}", az.sim().issued().len());
    let writes = az.writes();
    assert!(
        writes
            .iter()
            .any(|w| w.contains("/serviceConfigurations/SSH")),
        "{writes:?}"
    );
    assert!(
        !writes.iter().any(|w| w.contains("listCredentials")),
        "{writes:?}"
    );
}

#[test]
fn dash_vv_logs_the_list_credentials_request_but_never_its_answer() {
    let az = Azure::builtin("healthy");
    let Some(_sshd) = setup(&az) else { return };
    stand_in_proxy(&az, "");
    let id = az.machine(0);
    let out = run(
        &az,
        &[
            "-vv",
            "check",
            "--checks",
            "azure",
            "--connect",
            "--id",
            &id,
        ],
    );
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("POST ") && l.contains("/listCredentials 200 (")),
        "{out:?}"
    );
    let issued = az.sim().issued();
    assert_eq!(issued.len(), 1);
    let key = issued[0].access_key().to_string();
    let sig = key.split("sig=").nth(1).unwrap();
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(sig), "the relay key was logged");
        assert!(!text.contains(&az.token), "the token was logged");
    }
}

/// The process group of each live process (`/proc/PID/stat`), zombies left out:
/// a zombie holds nothing.
fn live_groups() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if let Some(group) = f.get(2).and_then(|g| g.parse().ok()) {
            out.push((pid, group, cmdline));
        }
    }
    out
}

#[test]
fn ctrl_c_during_the_probe_kills_ssh_and_the_proxy_and_removes_its_private_folder() {
    use std::os::unix::fs::PermissionsExt;
    let az = Azure::builtin("healthy");
    let Some(_sshd) = setup(&az) else { return };
    let id = az.machine(0);
    // A proxy that hangs and ignores the hang-up ssh sends it.
    let marker = format!("301.{}", std::process::id());
    az.sandbox.write_exec(
        PROXY,
        &format!("#!/bin/sh\ntrap '' HUP INT TERM\nexec sleep {marker}\n"),
    );
    let mut child = az
        .sandbox
        .cmd()
        .args(&["check", "--checks", "azure", "--connect", "--id", &id])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("TMPDIR", az.sandbox.path("tmp").to_str().unwrap())
        .env("ARCFIX_CONNECT_TIMEOUT", "60")
        .command()
        .spawn()
        .unwrap();
    // Until the proxy runs: then ssh, the proxy and the folder all exist.
    let mut ssh_group = None;
    for _ in 0..400 {
        let procs = live_groups();
        if procs.iter().any(|(_, _, c)| c.contains(&marker)) {
            ssh_group = procs
                .iter()
                .find(|(_, _, c)| c.contains(&marker))
                .map(|(_, g, _)| *g);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let Some(group) = ssh_group else {
        let _ = child.kill();
        panic!("the hanging proxy never ran");
    };
    let folders: Vec<_> = std::fs::read_dir(az.sandbox.path("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("arcfix-probe-")
        })
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let mode = std::fs::metadata(&folders[0]).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "the probe's folder is this user's alone");
    let members: Vec<_> = live_groups()
        .into_iter()
        .filter(|(_, g, _)| *g == group)
        .collect();
    assert!(
        members
            .iter()
            .any(|(_, _, c)| c.starts_with("ssh ") || c.contains("/ssh ")),
        "ssh leads the probe's group: {members:?}"
    );

    let started = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        started.elapsed().as_secs() < 5,
        "Ctrl-C took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let left: Vec<_> = live_groups()
        .into_iter()
        .filter(|(_, g, c)| *g == group || c.contains(&marker))
        .collect();
    assert!(
        left.is_empty(),
        "the probe's group outlived arcfix: {left:?}"
    );
    assert!(
        !folders[0].exists(),
        "{} was left behind",
        folders[0].display()
    );
}

/// Without `--port`, the machine's `SSHPort` tag is the port: apply enables
/// SSH through Arc on it, and its last probe tries that port (not 22).
#[test]
fn apply_connect_probes_the_port_of_the_machines_tag() {
    let az = Azure::edited("healthy", |v| {
        let m = &mut v["subscriptions"][0]["resource_groups"][0]["machines"][0];
        m["endpoint"] = serde_json::json!({});
        m["tags"] = serde_json::json!({ "SSHPort": "2222" });
        // sshd listens on 2222 (the relay reaches the test's sshd there).
        m["server"] = serde_json::json!({ "ssh_port": 2222 });
    });
    let Some(_sshd) = setup(&az) else { return };
    let id = az.machine(0);
    let out = probe_json(&az, "apply", true, &id);
    assert_eq!(out.status, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["connections"][0]["ok"], true, "{v}");
    assert_eq!(v["connections"][0]["port"], 2222, "{v}");
}
