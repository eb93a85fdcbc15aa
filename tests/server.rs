//! The server side, run on the server itself: a real OpenSSH server proves the
//! banner check; fake systemctl, azcmagent and apt-get record what is run.

use std::process::{Child, Command};

use crate::harness::Sandbox;

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sshd_path() -> Option<&'static str> {
    ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// The command line that starts a real sshd on `port` with a throw-away host key.
pub fn sshd_command(s: &Sandbox, port: u16) -> String {
    let key = s.path("hostkey");
    if !key.exists() {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    std::fs::create_dir_all("/run/sshd").ok();
    s.write(
        "sshd_config",
        &format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\n",
            key.display(),
            s.path("sshd.pid").display()
        ),
    );
    format!(
        "{} -f {} -E {}",
        sshd_path().unwrap(),
        s.path("sshd_config").display(),
        s.path("sshd.log").display()
    )
}

pub struct Sshd(pub Child);
impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Arc agent that is connected, with settings kept in files of the sandbox.
fn arc_server(s: &Sandbox, ports: &str, enabled: &str) {
    s.write("agent/ports", ports);
    s.write("agent/enabled", enabled);
    let dir = s.path("agent").display().to_string();
    s.fake(
        "azcmagent",
        &format!(
            r#"case "$1 $2 $3" in
  "show --json "*) printf '{{"status": "Connected", "agentVersion": "1.50.03001.2500"}}\n';;
  "config get incomingconnections.enabled") cat "{dir}/enabled";;
  "config get incomingconnections.ports") cat "{dir}/ports";;
  "config set incomingconnections.enabled") printf '%s' "$4" > "{dir}/enabled";;
  "config set incomingconnections.ports") printf '[%s]' "$4" > "{dir}/ports";;
esac"#
        ),
    );
}

#[test]
fn a_running_sshd_on_the_port_is_no_finding() {
    let Some(_) = sshd_path() else {
        eprintln!("no sshd installed (.ci/run installs openssh-server): skipped");
        return;
    };
    let s = Sandbox::new();
    let port = free_port();
    let cmd = sshd_command(&s, port);
    let mut parts = cmd.split(' ');
    let _sshd = Sshd(
        Command::new(parts.next().unwrap())
            .args(parts)
            .arg("-D")
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    arc_server(&s, "[]", "true");
    s.fake("systemctl", "echo active");
    let out = s
        .cmd()
        .args(&[
            "check",
            "--checks",
            "server",
            "--port",
            &port.to_string(),
            "-o",
            "json",
        ])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.finding_ids().is_empty());
}

#[test]
fn a_stopped_sshd_is_started_and_verified_by_its_banner() {
    let Some(_) = sshd_path() else {
        eprintln!("no sshd installed: skipped");
        return;
    };
    let s = Sandbox::new();
    let port = free_port();
    arc_server(&s, "[]", "true");
    // systemctl: "enable --now" starts a real sshd, which then answers on the port.
    let start = sshd_command(&s, port);
    s.fake(
        "systemctl",
        &format!(
            r#"case "$1" in
  is-active) if [ -f "{pid}" ]; then echo active; else echo inactive; exit 3; fi;;
  enable) {start};;
esac"#,
            pid = s.path("sshd.pid").display()
        ),
    );
    let p = port.to_string();
    let check = s
        .cmd()
        .args(&["check", "--checks", "server", "--port", &p, "-o", "json"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(check.status, 2, "{check:?}");
    assert_eq!(check.finding_ids(), ["sshd-not-running"]);
    assert!(
        !s.calls().contains("systemctl enable"),
        "check starts nothing"
    );

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "server", "--port", &p, "--yes"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    let _cleanup = KillPid(s.path("sshd.pid"));
    assert_eq!(apply.status, 0, "{apply:?}\n{}", s.calls());
    assert!(
        s.calls().contains("systemctl enable --now "),
        "{}",
        s.calls()
    );
    let again = s
        .cmd()
        .args(&["check", "--checks", "server", "--port", &p])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(again.status, 0, "{again:?}");
}

struct KillPid(std::path::PathBuf);
impl Drop for KillPid {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn the_agent_gets_the_port_added_keeping_the_others() {
    let s = Sandbox::new();
    let port = free_port();
    arc_server(&s, "[2222]", "false");
    s.fake("systemctl", "echo active");
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            use std::io::Write;
            let mut c = c;
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
        }
    });
    let p = port.to_string();
    let plan = s
        .cmd()
        .args(&["plan", "--checks", "server", "--port", &p, "-o", "json"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(plan.status, 2, "{plan:?}");
    let ids: Vec<String> = plan
        .steps()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["agent-allow-incoming", "agent-allow-port"]);
    assert_eq!(
        plan.json()["steps"][1]["command"],
        format!("azcmagent config set incomingconnections.ports 2222,{port}")
    );

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "server", "--port", &p, "--yes"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert!(
        s.calls().contains(&format!(
            "azcmagent config set incomingconnections.ports 2222,{port}"
        )),
        "{}",
        s.calls()
    );
    assert!(
        s.calls()
            .contains("azcmagent config set incomingconnections.enabled true")
    );
    let again = s
        .cmd()
        .args(&["check", "--checks", "server", "--port", &p])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(again.status, 0, "{again:?}");
}

#[test]
fn without_root_every_server_step_is_a_manual_sudo_command() {
    let s = Sandbox::new();
    let port = free_port();
    arc_server(&s, "[]", "false");
    s.fake("systemctl", "echo inactive; exit 3");
    s.fake("apt-get", "exit 0");
    s.fake("sudo", "exit 1");
    let out = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "server",
            "--port",
            &port.to_string(),
            "--yes",
            "-o",
            "json",
        ])
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let steps = out.steps();
    assert!(!steps.is_empty());
    for step in &steps {
        assert_eq!(step["status"], "manual", "{step}");
        assert!(
            step["command"].as_str().unwrap().starts_with("sudo "),
            "{step}"
        );
    }
    assert!(
        !s.calls().contains("sudo") && !s.calls().contains("set"),
        "{}",
        s.calls()
    );
}

#[test]
fn root_on_the_server_starts_sshd_and_restarts_its_own_agent_after_registering() {
    let az = crate::azure::Azure::builtin("demo");
    let s = &az.sandbox;
    let id = az.machine(0);
    let port = free_port();
    arc_server(s, "[]", "true");
    // This server is web-01: azcmagent show names it.
    s.fake(
        "azcmagent",
        &format!(
            r#"case "$1 $2 $3" in
  "show --json "*) printf '{{"status": "Connected", "resourceName": "web-01"}}\n';;
  "config get incomingconnections.enabled") echo true;;
  "config get incomingconnections.ports") echo '[{port}]';;
esac"#
        ),
    );
    let start = if sshd_path().is_some() {
        sshd_command(s, port)
    } else {
        "true".into()
    };
    s.fake(
        "systemctl",
        &format!(
            r#"case "$1" in
  is-active) if [ -f "{pid}" ]; then echo active; else echo inactive; exit 3; fi;;
  enable) {start};;
esac"#,
            pid = s.path("sshd.pid").display()
        ),
    );
    let p = port.to_string();
    let out = az.run(&["plan", "--id", &id, "--port", &p, "-o", "json"]);
    let steps = out.steps();
    let restart = steps
        .iter()
        .find(|s| s["id"] == "restart-hybrid-agent-web-01")
        .unwrap();
    assert_eq!(restart["automatic"], false, "not root: manual {restart}");

    let out = az
        .sandbox
        .cmd()
        .args(&["apply", "--yes", "--id", &id, "--port", &p, "-o", "json"])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    let _cleanup = KillPid(s.path("sshd.pid"));
    let steps = out.steps();
    let status = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(
        status("restart-hybrid-agent-web-01").as_deref(),
        Some("applied"),
        "{out:?}"
    );
    assert!(
        s.calls().contains("systemctl restart himdsd.service"),
        "{}",
        s.calls()
    );
    if sshd_path().is_some() {
        assert_eq!(status("start-sshd").as_deref(), Some("applied"), "{out:?}");
    }
}

#[test]
fn the_server_probe_runs_no_program_from_the_current_folder() {
    for entry in ["", "."] {
        let s = Sandbox::new();
        let port = free_port();
        let markers: Vec<_> = ["systemctl", "azcmagent", "apt-get", "dnf"]
            .iter()
            .map(|p| {
                let marker = s.path(&format!("{p}.ran"));
                s.write_exec(p, &format!("#!/bin/sh\n: > \"{}\"\n", marker.display()));
                marker
            })
            .collect();
        let path = format!(
            "{entry}:{}:{}",
            s.path("bin").display(),
            s.path("sys").display()
        );
        for args in [
            vec!["check", "--checks", "server"],
            vec!["apply", "--checks", "server", "--yes"],
        ] {
            let port = port.to_string();
            let out = s
                .cmd()
                .args(&args)
                .args(&["--port", &port])
                .env("ARCFIX_PRIVILEGE", "admin")
                .env("PATH", &path)
                .run();
            for m in &markers {
                assert!(
                    !m.exists(),
                    "PATH={path} {args:?} ran {}: {out:?}",
                    m.display()
                );
            }
        }
    }
}

/// A connected agent whose ports live in `agent/ports`. `get` is the shell
/// line answering `config get incomingconnections.ports` (`$P` is the file),
/// `set` the one for `config set incomingconnections.ports` (`$4` the list).
fn agent_with_ports(s: &Sandbox, ports: &str, get: &str, set: &str) {
    s.write("agent/ports", ports);
    s.fake(
        "azcmagent",
        &format!(
            r#"P="{}"
case "$1 $2 $3" in
  "show --json "*) printf '{{"status": "Connected"}}\n';;
  "config get incomingconnections.enabled") echo true;;
  "config get incomingconnections.ports") {get};;
  "config set incomingconnections.ports") {set};;
  *) exit 2;;
esac"#,
            s.path("agent/ports").display()
        ),
    );
    s.fake("systemctl", "echo active");
}

/// Something answering SSH on a free port (so only the agent's ports are wrong).
fn ssh_answers() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            use std::io::Write;
            let mut c = c;
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
        }
    });
    port.to_string()
}

fn apply_as_root(s: &Sandbox, port: &str) -> crate::harness::Output {
    s.cmd()
        .args(&[
            "apply", "--checks", "server", "--port", port, "--yes", "-o", "json",
        ])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run()
}

#[test]
fn the_agents_ports_are_read_again_right_before_the_write() {
    let s = Sandbox::new();
    let p = ssh_answers();
    // RDP is allowed by someone else after arcfix first looked.
    agent_with_ports(
        &s,
        "[2222]",
        r#"cat "$P"; if [ ! -f "$P.seen" ]; then touch "$P.seen"; printf '[2222,3389]' > "$P"; fi"#,
        r#"printf '[%s]' "$4" > "$P""#,
    );
    let out = apply_as_root(&s, &p);
    assert_eq!(out.status, 0, "{out:?}\n{}", s.calls());
    assert_eq!(
        std::fs::read_to_string(s.path("agent/ports")).unwrap(),
        format!("[2222,3389,{p}]"),
        "{}",
        s.calls()
    );
}

#[test]
fn a_failed_read_of_the_agents_ports_writes_nothing_and_fails_the_step() {
    let s = Sandbox::new();
    let p = ssh_answers();
    agent_with_ports(
        &s,
        "[2222,3389]",
        "echo 'Error: cannot read the configuration' >&2; exit 1",
        r#"printf '[%s]' "$4" > "$P""#,
    );
    let check = s
        .cmd()
        .args(&["check", "--checks", "server", "--port", &p, "-o", "json"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(check.status, 2, "{check:?}");
    assert!(
        check.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("config get incomingconnections.ports failed"),
        "{check:?}"
    );
    let out = apply_as_root(&s, &p);
    assert_eq!(out.status, 3, "{out:?}");
    let step = &out.steps()[0];
    assert_eq!(step["status"], "failed", "{out:?}");
    assert!(
        step["error"].as_str().unwrap().contains("nothing changed"),
        "{step}"
    );
    assert!(!s.calls().contains("config set"), "{}", s.calls());
    assert_eq!(
        std::fs::read_to_string(s.path("agent/ports")).unwrap(),
        "[2222,3389]"
    );
}

#[test]
fn a_port_the_agent_drops_on_the_write_fails_the_step() {
    let s = Sandbox::new();
    let p = ssh_answers();
    // This agent keeps only the last port it is given.
    agent_with_ports(
        &s,
        "[2222,3389]",
        r#"cat "$P""#,
        r#"printf '[%s]' "${4##*,}" > "$P""#,
    );
    let out = apply_as_root(&s, &p);
    assert_eq!(out.status, 3, "{out:?}");
    let step = &out.steps()[0];
    assert_eq!(step["id"], "agent-allow-port");
    assert_eq!(step["status"], "failed", "{out:?}");
    assert!(
        step["error"]
            .as_str()
            .unwrap()
            .contains("[2222, 3389] no longer allowed"),
        "{step}"
    );
}
