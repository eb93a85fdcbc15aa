//! The client-side problems: detected, fixed, verified, and left alone when
//! arcfix must not write.

use crate::harness::Sandbox;

const APT_INSTALLS_SSH: &str = r#"case "$*" in *openssh-client*) for p in ssh ssh-keygen; do printf '#!/bin/sh\n' > "$(dirname "$0")/$p"; chmod 755 "$(dirname "$0")/$p"; done;; esac"#;

fn powershell_user() -> Sandbox {
    let s = Sandbox::new();
    s.ssh_client("bin");
    s.module("all", "Az.Ssh", "0.2.3");
    s.fake_pwsh();
    s
}

#[test]
fn a_healthy_client_has_no_findings() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.chmod(&proxy, 0o755);
    let out = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.finding_ids().is_empty(), "{out:?}");
    let text = s.cmd().args(&["check", "--checks", "client"]).run();
    assert!(text.stdout.contains("✓ no problems found"), "{text:?}");
}

#[test]
fn missing_ssh_client_is_installed_by_root_and_verified() {
    let s = Sandbox::new();
    s.az_ssh_extension("2.0.6");
    s.fake("apt-get", APT_INSTALLS_SSH);
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(check.status, 2, "{check:?}");
    assert_eq!(check.finding_ids(), ["client-binaries-missing"]);
    assert_eq!(s.calls(), "", "check must not run anything");

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(s.calls(), "apt-get install -y openssh-client\n");
    assert!(
        apply.stdout.contains("✓ applied] install-openssh-client"),
        "{apply:?}"
    );

    let again = s
        .cmd()
        .args(&["check", "--checks", "client"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(again.status, 0, "{again:?}");
}

#[test]
fn missing_ssh_client_without_root_is_a_manual_sudo_step() {
    let s = Sandbox::new();
    s.fake("apt-get", APT_INSTALLS_SSH);
    s.fake("sudo", "exit 1");
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let step = &out.json()["steps"][0];
    assert_eq!(step["id"], "install-openssh-client");
    assert_eq!(step["command"], "sudo apt-get install -y openssh-client");
    assert_eq!(step["automatic"], false);
    assert_eq!(step["status"], "manual");
    assert_eq!(s.calls(), "", "neither sudo nor apt-get may run");
}

#[test]
fn ssh_off_path_in_a_known_folder_proposes_ssh_client_folder() {
    let s = Sandbox::new();
    s.ssh_client("known");
    let out = s
        .cmd()
        .args(&["plan", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 2, "{out:?}");
    let step = &out.json()["steps"][0];
    assert_eq!(step["id"], "use-ssh-client-folder");
    assert_eq!(
        step["command"],
        format!(
            "az ssh arc ... --ssh-client-folder {}",
            s.path("known").display()
        )
    );
}

/// Neither the Azure CLI's ssh extension nor Az.Ssh, and no proxy: no SSH
/// path through Arc starts here, which is a finding, never "no problems".
#[test]
fn a_client_with_no_way_through_arc_is_a_finding_not_a_tick() {
    let s = Sandbox::new();
    s.ssh_client("bin");
    let text = s.cmd().args(&["check", "--checks", "client"]).run();
    assert_eq!(text.status, 2, "{text:?}");
    assert!(!text.stdout.contains("no problems found"), "{text:?}");
    assert!(
        text.stdout.contains("✗ arc-ssh-client-missing [manual]"),
        "{text:?}"
    );
    let out = s
        .cmd()
        .args(&["plan", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.finding_ids(), ["arc-ssh-client-missing"], "{out:?}");
    let step = &out.steps()[0];
    assert_eq!(step["automatic"], false, "{step}");
    // Both routes, the Azure CLI's first, told to someone without az.
    let said = format!("{} {}", step["description"], step["command"]);
    for route in [
        "az extension add --name ssh",
        "install-azure-cli",
        "Install-Module -Name Az.Ssh ",
    ] {
        assert!(said.contains(route), "{route}: {said}");
    }
    // With az on PATH, the command is the extension's install as az runs it.
    s.fake("az", "exit 0");
    let out = s
        .cmd()
        .args(&["plan", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.steps()[0]["command"], "az extension add --name ssh");
    assert!(
        out.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("az is installed but"),
        "{out:?}"
    );
    // The extension, Az.Ssh or a proxy is a way: no finding.
    s.az_ssh_extension("2.0.6");
    let out = s.cmd().args(&["check", "--checks", "client"]).run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(s.calls().is_empty(), "check ran {}", s.calls());
}

#[test]
fn an_ssh_client_folder_without_the_binaries_is_a_finding() {
    let s = Sandbox::new();
    s.az_ssh_extension("2.0.6");
    s.ssh_client("bin");
    std::fs::create_dir_all(s.path("empty")).unwrap();
    let folder = s.path("empty").display().to_string();
    let out = s
        .cmd()
        .args(&[
            "check",
            "--checks",
            "client",
            "--ssh-client-folder",
            &folder,
            "-o",
            "json",
        ])
        .run();
    assert_eq!(out.status, 2, "{out:?}");
    let f = &out.json()["findings"][0];
    assert_eq!(f["id"], "client-binaries-missing");
    assert_eq!(
        f["evidence"],
        format!("--ssh-client-folder {folder} has no ssh or ssh-keygen")
    );
    let ok = s
        .cmd()
        .args(&[
            "check",
            "--checks",
            "client",
            "--ssh-client-folder",
            &s.path("bin").display().to_string(),
        ])
        .run();
    assert_eq!(ok.status, 0, "{ok:?}");
}

#[test]
fn arcproxy_not_installed_is_installed_with_pwsh_and_made_executable() {
    let s = powershell_user();
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(check.finding_ids(), ["arcproxy-not-installed"], "{check:?}");
    let plan = s.cmd().args(&["plan", "--checks", "client"]).run();
    assert!(plan.stdout.contains("Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force"), "{plan:?}");
    assert_eq!(s.calls(), "");

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(
        s.calls(),
        "pwsh -NoProfile -NonInteractive -Command Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force\n"
    );
    assert_eq!(
        s.mode("modules/user/Az.Ssh.ArcProxy/1.0.0/sshProxy_linux_amd64_1.3.022941"),
        0o755
    );
    assert_eq!(
        s.mode("modules/user/Az.Ssh.ArcProxy/1.0.0/sshProxy_windows_amd64_1.3.022941.exe"),
        0o644,
        "other platforms' files are left alone"
    );

    let again = s
        .cmd()
        .args(&["plan", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(again.status, 0, "{again:?}");
    let second = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .run();
    assert_eq!(second.status, 0);
    assert!(second.stdout.contains("nothing to fix"), "{second:?}");
    assert_eq!(
        s.calls().lines().count(),
        1,
        "the second apply runs nothing"
    );
}

#[test]
fn an_unsupported_arcproxy_version_is_a_version_mismatch() {
    let s = powershell_user();
    s.arcproxy("all", "2.0.0");
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(
        check.finding_ids(),
        ["ps-module-version-mismatch"],
        "{check:?}"
    );
    assert!(
        check.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("2.0.0")
    );
    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert!(
        s.calls()
            .contains("Update-Module -Name Az.Ssh -Force; Install-Module -Name Az.Ssh.ArcProxy"),
        "{}",
        s.calls()
    );
    assert_eq!(
        s.cmd().args(&["check", "--checks", "client"]).run().status,
        0
    );
}

#[test]
fn pwsh_missing_while_az_ssh_is_installed_is_said() {
    let s = Sandbox::new();
    s.ssh_client("bin");
    s.module("user", "Az.Ssh", "0.2.3");
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    assert_eq!(
        out.finding_ids(),
        ["arcproxy-not-installed", "pwsh-missing"]
    );
    let steps = out.steps();
    assert!(steps.iter().all(|s| s["status"] == "manual"), "{steps:?}");
}

#[test]
fn a_proxy_without_execute_permission_gets_it() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.write(".keep", "");
    s.write(
        "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973",
        "#!/bin/sh\n",
    );
    s.chmod(
        "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973",
        0o600,
    );
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(check.status, 2);
    assert_eq!(
        check.json()["findings"].as_array().unwrap().len(),
        2,
        "{check:?}"
    );
    assert_eq!(check.finding_ids(), ["proxy-not-executable"]);
    assert_eq!(s.mode(&proxy), 0o644, "check changes nothing");

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(s.mode(&proxy), 0o755);
    assert_eq!(
        s.mode("home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973"),
        0o700,
        "execute only where read is allowed"
    );
    assert_eq!(
        s.cmd().args(&["check", "--checks", "client"]).run().status,
        0
    );
}

#[test]
fn a_proxy_link_out_of_its_folder_is_reported_not_changed() {
    let s = powershell_user();
    s.arcproxy("user", "1.0.0");
    let dir = "modules/user/Az.Ssh.ArcProxy/1.0.0";
    std::fs::remove_file(s.path(&format!("{dir}/sshProxy_linux_amd64_1.3.022941"))).unwrap();
    s.write("elsewhere/real-proxy", "#!/bin/sh\n");
    s.chmod("elsewhere/real-proxy", 0o644);
    std::os::unix::fs::symlink(
        s.path("elsewhere/real-proxy"),
        s.path(&format!("{dir}/sshProxy_linux_amd64_1.3.022941")),
    )
    .unwrap();
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let f = &out.json()["findings"][0];
    assert_eq!(f["id"], "proxy-not-executable");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains("is a link out of its folder"),
        "{f}"
    );
    assert_eq!(
        s.mode("elsewhere/real-proxy"),
        0o644,
        "the link's target must not change"
    );
}

#[test]
fn nothing_is_written_by_check_plan_dry_run_or_a_refused_apply() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.module("user", "Az.Ssh", "0.2.3");
    let runs: &[(&[&str], i32)] = &[
        (&["check", "--checks", "client"], 2),
        (&["plan", "--checks", "client"], 2),
        (&["apply", "--checks", "client", "--dry-run"], 2),
        (&["apply", "--checks", "client"], 1),
    ];
    for (args, code) in runs {
        let out = s.cmd().args(args).run();
        assert_eq!(out.status, *code, "{args:?}: {out:?}");
        assert_eq!(s.mode(&proxy), 0o644, "{args:?} changed a file mode");
        assert_eq!(s.calls(), "", "{args:?} ran a program");
    }
    let refused = s.cmd().args(&["apply", "--checks", "client"]).run();
    assert_eq!(
        refused.stderr,
        "arcfix: error: standard input is not a terminal, so arcfix cannot ask for confirmation: nothing was changed; use --yes to apply without asking\n"
    );
}

#[test]
fn a_declined_confirmation_changes_nothing() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    let Some(out) = s
        .cmd()
        .args(&["apply", "--checks", "client"])
        .in_terminal("n\r")
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert!(
        out.stdout.contains("Apply the 1 automatic step above?"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("Apply cancelled; nothing was changed."),
        "{out:?}"
    );
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(s.mode(&proxy), 0o644);
    assert_eq!(s.calls(), "");
}

#[test]
fn the_prompt_is_asked_on_the_terminal_when_the_output_is_piped() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    let log = s.path("apply.log");
    let Some(out) = s
        .cmd()
        .args(&["apply", "--checks", "client"])
        .in_terminal_then("y\r", &format!("2>&1 | cat > '{}'", log.display()))
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    // The question went to the terminal; the report to the pipe.
    assert!(
        out.stdout.contains("Apply the 1 automatic step above?"),
        "{out:?}"
    );
    let piped = std::fs::read_to_string(&log).unwrap();
    assert!(piped.contains("Summary"), "{piped}");
    assert_eq!(s.mode(&proxy), 0o755, "{out:?}\n{piped}");
}

#[test]
fn apply_with_json_output_needs_yes() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 64, "{out:?}");
    assert!(out.stderr.contains("apply -o json needs --yes"), "{out:?}");
    assert_eq!(s.mode(&proxy), 0o644);
    let ok = s
        .cmd()
        .args(&["apply", "--checks", "client", "-o", "json", "--yes"])
        .run();
    assert_eq!(ok.status, 0, "{ok:?}");
}

#[test]
fn an_explicit_yes_at_the_prompt_applies() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    let Some(out) = s
        .cmd()
        .args(&["apply", "--checks", "client"])
        .in_terminal("y\r")
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(s.mode(&proxy), 0o755);
}

/// The shell command after arcfix in the same terminal: what it reads is
/// what arcfix left unread of the typed answer.
const LEFT_FOR_THE_SHELL: &str = "; read -t 2 rest; echo \"left for the shell:[$rest]\"";

#[test]
fn the_prompt_reads_a_whole_line_and_leaves_nothing_for_the_shell() {
    // (typed, applies): only y or yes, in any case, approves.
    for (typed, applies) in [
        ("yes\r", true),
        ("YES\r", true),
        ("Y\r", true),
        ("no\r", false),
        ("\r", false),
        ("yess\r", false),
        ("y es\r", false),
        // End of input (Ctrl-D) at the question.
        ("\u{4}", false),
    ] {
        let s = powershell_user();
        let proxy = s.arcproxy("user", "1.0.0");
        let Some(out) = s
            .cmd()
            .args(&["apply", "--checks", "client"])
            .in_terminal_then(typed, LEFT_FOR_THE_SHELL)
        else {
            eprintln!("script(1) not installed: skipped");
            return;
        };
        let mode = if applies { 0o755 } else { 0o644 };
        assert_eq!(s.mode(&proxy), mode, "{typed:?}: {out:?}");
        assert_eq!(
            out.stdout.contains("Apply cancelled; nothing was changed."),
            !applies,
            "{typed:?}: {out:?}"
        );
        // Before: a one-key prompt acted on `y` and left `es` to the shell.
        assert!(
            out.stdout.contains("left for the shell:[]"),
            "{typed:?}: {out:?}"
        );
    }
}

#[test]
fn keys_typed_before_the_question_do_not_answer_it() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    // `y` and Enter typed while arcfix still checks, then Enter at the question.
    let Some(out) = s
        .cmd()
        .args(&["apply", "--checks", "client"])
        .in_terminal_typing("y\r", "\r", "")
    else {
        eprintln!("script(1) not installed: skipped");
        return;
    };
    assert_eq!(s.mode(&proxy), 0o644, "{out:?}");
    assert!(
        out.stdout.contains("Apply cancelled; nothing was changed."),
        "{out:?}"
    );
}

#[test]
fn a_saved_plan_round_trips_and_applies() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    let out = s
        .cmd()
        .args(&["plan", "--checks", "client", "--out", "plan.json"])
        .run();
    assert_eq!(out.status, 2, "{out:?}");
    assert_eq!(s.mode("plan.json"), 0o600);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("plan.json")).unwrap()).unwrap();
    assert_eq!(saved["schema_version"], 1);
    assert_eq!(saved["target"], "local");
    assert!(saved["fingerprint"].as_str().unwrap().len() == 16);
    assert!(saved["created"].as_str().unwrap().starts_with("20"));
    assert_eq!(s.mode(&proxy), 0o644);

    let apply = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "plan.json",
            "--yes",
        ])
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(s.mode(&proxy), 0o755);

    // Applying it again: the fresh detection plans nothing, so the saved step
    // is reported as not needed any more (not re-checked, not acted on).
    let again = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "plan.json",
            "--yes",
            "-o",
            "json",
        ])
        .run();
    assert_eq!(again.status, 0, "{again:?}");
    assert_eq!(again.json()["steps"][0]["status"], "not-needed");
}

#[test]
fn saved_plans_that_do_not_fit_are_refused_without_change() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.cmd()
        .args(&["plan", "--checks", "client", "--out", "plan.json"])
        .run();
    let good = std::fs::read_to_string(s.path("plan.json")).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        f(&mut v);
        v.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            edit(&|v| v["target"] = "/subscriptions/x".into()),
            "bad.json: its target is not a list of machine ids",
        ),
        (
            edit(&|v| v["schema_version"] = 2.into()),
            "plan schema 2, newer than this arcfix understands (1)",
        ),
        (
            edit(&|v| v["schema_version"] = 0.into()),
            "unknown schema 0",
        ),
        (
            edit(&|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("schema_version")
                    .map(|_| ())
                    .unwrap()
            }),
            "has no schema_version",
        ),
        (
            edit(&|v| v["steps"] = serde_json::json!([])),
            "the saved plan is stale",
        ),
        (good[..good.len() / 2].to_string(), "is not valid JSON"),
        (
            "{\"schema_version\": 1}".to_string(),
            "is not a valid arcfix plan",
        ),
        ("\u{0}\u{1}garbage".to_string(), "is not valid JSON"),
    ];
    for (text, want) in cases {
        s.write("bad.json", &text);
        let out = s
            .cmd()
            .args(&["apply", "--checks", "client", "--plan", "bad.json", "--yes"])
            .run();
        assert_eq!(out.status, 1, "{want}: {out:?}");
        assert!(out.stderr.contains(want), "{want}: {out:?}");
        // One error, on one line (a plan that loads is first said to be applied).
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("→ applying the saved plan made"))
            .collect();
        assert_eq!(errors.len(), 1, "{out:?}");
        assert!(errors[0].starts_with("arcfix: error: "), "{out:?}");
        assert_eq!(
            s.mode(&proxy),
            0o644,
            "{want}: a refused plan changed something"
        );
    }
    let missing = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "nope.json",
            "--yes",
        ])
        .run();
    assert_eq!(missing.status, 1);
    assert!(
        missing
            .stderr
            .starts_with("arcfix: error: cannot read plan nope.json"),
        "{missing:?}"
    );
}

#[test]
fn a_plan_goes_stale_when_the_machine_changes() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.chmod(&proxy, 0o755);
    s.cmd()
        .args(&["plan", "--checks", "client", "--out", "plan.json"])
        .run();
    s.chmod(&proxy, 0o644);
    let out = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "plan.json",
            "--yes",
        ])
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("stale"), "{out:?}");
    assert_eq!(s.mode(&proxy), 0o644);
}

#[test]
fn an_unreadable_module_manifest_is_a_one_line_error() {
    let s = powershell_user();
    s.write(
        "modules/user/Az.Ssh.ArcProxy/1.0.0/Az.Ssh.ArcProxy.psd1",
        "@{ Author = 'nobody' }",
    );
    let out = s.cmd().args(&["check", "--checks", "client"]).run();
    assert_eq!(out.status, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1);
    assert!(
        out.stderr
            .contains("Az.Ssh.ArcProxy.psd1 has no readable ModuleVersion"),
        "{out:?}"
    );
}

#[test]
fn ctrl_c_stops_after_the_current_step_and_reports() {
    let s = Sandbox::new();
    s.ssh_client("bin");
    s.module("all", "Az.Ssh", "0.2.3");
    // pwsh takes a while, so the interrupt lands during the first step.
    s.fake_pwsh_after("sleep 2");
    let proxy = "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973";
    s.write(proxy, "#!/bin/sh\n");
    s.chmod(proxy, 0o644);
    let mut child = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .command()
        .spawn()
        .unwrap();
    // Wait until the first step (pwsh) is running, then interrupt arcfix alone.
    for _ in 0..100 {
        if s.calls().contains("pwsh") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Interrupted: exit 130 after the report.
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("Stopped by Ctrl-C"), "{stdout}");
    assert!(
        stdout.contains("[✓ applied] install-arcproxy"),
        "the current step finished: {stdout}"
    );
    assert!(
        stdout.contains("[- skipped] chmod-installed-proxy"),
        "the next one did not run: {stdout}"
    );
}

#[test]
fn a_saved_plan_cannot_smuggle_in_a_step_or_an_action() {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.cmd()
        .args(&["plan", "--checks", "client", "--out", "plan.json"])
        .run();
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("plan.json")).unwrap()).unwrap();
    let marker = s.path("smuggled");

    // An extra step: reported as not needed, never run.
    let mut extra = good.clone();
    let mut step = extra["steps"][0].clone();
    step["id"] = "innocent-looking".into();
    step["command"] = "echo hi".into();
    step["check"] = serde_json::json!({"kind": "none"});
    step["action"] = serde_json::json!({"kind": "exec", "program": "/usr/bin/touch", "args": [marker.display().to_string()]});
    extra["steps"].as_array_mut().unwrap().push(step);
    s.write("extra.json", &extra.to_string());
    let out = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "extra.json",
            "--yes",
            "-o",
            "json",
        ])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(!marker.exists(), "a step that arcfix did not plan was run");
    let smuggled = out
        .steps()
        .iter()
        .find(|s| s["id"] == "innocent-looking")
        .cloned()
        .unwrap();
    assert_eq!(smuggled["status"], "not-needed");
    assert_eq!(s.mode(&proxy), 0o755, "the real steps ran");

    // A changed action on a planned step: the plan no longer matches, refused.
    s.chmod(&proxy, 0o644);
    let mut changed = good.clone();
    changed["steps"][0]["action"] = serde_json::json!({"kind": "exec", "program": "/usr/bin/touch", "args": [marker.display().to_string()]});
    s.write("changed.json", &changed.to_string());
    let out = s
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "client",
            "--plan",
            "changed.json",
            "--yes",
        ])
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.contains("stale"), "{out:?}");
    assert!(!marker.exists());
    assert_eq!(s.mode(&proxy), 0o644);
}

#[test]
fn plan_out_does_not_follow_a_link() {
    let s = powershell_user();
    s.arcproxy("user", "1.0.0");
    s.write("precious", "keep me");
    s.chmod("precious", 0o644);
    std::os::unix::fs::symlink(s.path("precious"), s.path("plan.json")).unwrap();
    let out = s
        .cmd()
        .args(&["plan", "--checks", "client", "--out", "plan.json"])
        .run();
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot write plan plan.json"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(s.path("precious")).unwrap(),
        "keep me"
    );
    assert_eq!(s.mode("precious"), 0o644);
}

#[test]
fn a_proxy_folder_that_is_a_link_is_not_entered() {
    let s = powershell_user();
    s.arcproxy("user", "1.0.0");
    s.write("elsewhere/sshProxy_linux_amd64_1_3_026973", "#!/bin/sh\n");
    s.chmod("elsewhere/sshProxy_linux_amd64_1_3_026973", 0o644);
    std::os::unix::fs::symlink(s.path("elsewhere"), s.home().join(".clientsshproxy")).unwrap();
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .run();
    assert_eq!(
        s.mode("elsewhere/sshProxy_linux_amd64_1_3_026973"),
        0o644,
        "{out:?}"
    );
    assert!(
        out.stdout.contains("is a link out of its folder"),
        "{out:?}"
    );
}

/// Whether the tests run as root (the chmod-as-root attacks need it).
fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn making_a_setuid_proxy_executable_drops_its_special_bits() {
    let s = powershell_user();
    let module = s.arcproxy("user", "1.0.0");
    let cli = "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973";
    s.write(cli, "#!/bin/sh\n");
    s.chmod(cli, 0o4644);
    s.chmod(&module, 0o6644);
    // As root (the case that made `-rwsr-x---`) and as whoever runs the tests.
    let privilege = if root() { "admin" } else { "user" };
    let plan = s
        .cmd()
        .args(&["plan", "--checks", "client", "-o", "json"])
        .env("ARCFIX_PRIVILEGE", privilege)
        .run();
    let commands: Vec<String> = plan
        .steps()
        .iter()
        .map(|st| st["command"].as_str().unwrap().to_string())
        .collect();
    assert!(
        commands.contains(&format!("chmod 755 \"{}\"", s.path(cli).display())),
        "the command a person would type keeps no set-user-id bit: {commands:?}"
    );
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .env("ARCFIX_PRIVILEGE", privilege)
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(s.mode(cli), 0o755, "{out:?}");
    assert_eq!(s.mode(&module), 0o755, "{out:?}");
}

#[test]
fn a_proxy_with_a_second_hard_link_is_left_to_a_person() {
    let s = powershell_user();
    let module = s.arcproxy("user", "1.0.0");
    s.chmod(&module, 0o755);
    let cli = "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973";
    s.write(cli, "#!/bin/sh\n");
    s.chmod(cli, 0o644);
    // The same file under another name, e.g. something the user never meant to make runnable.
    std::fs::hard_link(s.path(cli), s.path("precious")).unwrap();
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .env("ARCFIX_PRIVILEGE", if root() { "admin" } else { "user" })
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let step = &out.steps()[0];
    assert_eq!(step["status"], "manual", "{step}");
    assert_eq!(step["automatic"], false, "{step}");
    assert_eq!(
        step["command"],
        format!("chmod 755 \"{}\"", s.path(cli).display())
    );
    assert!(
        out.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("more than one hard link"),
        "{out:?}"
    );
    assert_eq!(s.mode("precious"), 0o644, "neither name changed");
}

#[test]
fn root_leaves_another_users_proxy_to_a_person() {
    if !root() {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let s = powershell_user();
    let module = s.arcproxy("user", "1.0.0");
    s.chmod(&module, 0o755);
    let cli = "home/.clientsshproxy/sshProxy_linux_amd64_1_3_026973";
    s.write(cli, "#!/bin/sh\n");
    s.chmod(cli, 0o644);
    std::os::unix::fs::chown(s.path(cli), Some(65534), None).unwrap();
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .env("ARCFIX_PRIVILEGE", "admin")
        .run();
    assert_eq!(out.status, 3, "{out:?}");
    let step = &out.steps()[0];
    assert_eq!(step["status"], "manual", "{step}");
    assert_eq!(
        step["command"],
        format!("chmod 755 \"{}\"", s.path(cli).display())
    );
    assert!(
        out.json()["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("belongs to another user"),
        "{out:?}"
    );
    assert_eq!(s.mode(cli), 0o644);
}

#[test]
fn a_linked_arcproxy_module_or_version_folder_is_not_followed() {
    for linked in ["Az.Ssh.ArcProxy", "Az.Ssh.ArcProxy/1.0.0"] {
        let s = powershell_user();
        // The real files live elsewhere, 0644; the module folder (or its
        // version folder) is a link to them.
        let outside = if linked == "Az.Ssh.ArcProxy" {
            "elsewhere"
        } else {
            "elsewhere/1.0.0"
        };
        s.write(
            "elsewhere/1.0.0/Az.Ssh.ArcProxy.psd1",
            "@{\n  ModuleVersion = '1.0.0'\n}\n",
        );
        let target = "elsewhere/1.0.0/sshProxy_linux_amd64_1.3.022941";
        s.write(target, "#!/bin/sh\n");
        s.chmod(target, 0o644);
        std::fs::create_dir_all(s.path("modules/user/Az.Ssh.ArcProxy")).unwrap();
        if linked == "Az.Ssh.ArcProxy" {
            std::fs::remove_dir(s.path("modules/user/Az.Ssh.ArcProxy")).unwrap();
        }
        std::os::unix::fs::symlink(s.path(outside), s.path(&format!("modules/user/{linked}")))
            .unwrap();
        let out = s
            .cmd()
            .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
            .env("ARCFIX_PRIVILEGE", if root() { "admin" } else { "user" })
            .run();
        assert_eq!(s.mode(target), 0o644, "{linked}: {out:?}");
        assert_eq!(out.status, 3, "{linked}: {out:?}");
        assert!(
            out.stdout.contains(&format!(
                "{} is a link out of its folder",
                s.path(&format!("modules/user/{linked}")).display()
            )),
            "{linked}: {out:?}"
        );
    }
}

/// A program of the same name in the folder arcfix is started from (the
/// sandbox): it leaves a marker when it runs.
fn planted(s: &Sandbox, rel: &str) -> std::path::PathBuf {
    let marker = s.path(&format!("{}.ran", rel.replace('/', "_")));
    s.write_exec(rel, &format!("#!/bin/sh\n: > \"{}\"\n", marker.display()));
    marker
}

#[test]
fn a_relative_path_entry_never_runs_a_program_from_the_current_folder() {
    for entry in ["", ".", "rel"] {
        let s = Sandbox::new();
        s.az_ssh_extension("2.0.6");
        s.fake("apt-get", APT_INSTALLS_SSH);
        let here = planted(&s, "apt-get");
        let rel = planted(&s, "rel/apt-get");
        let path = format!(
            "{entry}:{}:{}",
            s.path("bin").display(),
            s.path("sys").display()
        );
        let out = s
            .cmd()
            .args(&["apply", "--checks", "client", "--yes"])
            .env("ARCFIX_PRIVILEGE", "admin")
            .env("PATH", &path)
            .run();
        assert!(!here.exists(), "PATH={path} ran ./apt-get");
        assert!(!rel.exists(), "PATH={path} ran rel/apt-get");
        assert_eq!(out.status, 0, "PATH={path}: {out:?}");
        assert_eq!(
            s.calls(),
            "apt-get install -y openssh-client\n",
            "the apt-get found on PATH ran"
        );
    }
}

#[test]
fn a_pwsh_in_the_current_folder_is_not_powershell() {
    let s = Sandbox::new();
    s.ssh_client("bin");
    s.module("all", "Az.Ssh", "0.2.3");
    let marker = planted(&s, "pwsh");
    let out = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .env(
            "PATH",
            &format!(".:{}:{}", s.path("bin").display(), s.path("sys").display()),
        )
        .run();
    assert!(!marker.exists(), "./pwsh ran: {out:?}");
    assert_eq!(out.status, 3, "{out:?}");
    assert!(
        out.finding_ids().contains(&"pwsh-missing".to_string()),
        "{out:?}"
    );
}

// The Azure CLI's ssh extension (issue 10, point 3).

/// A fake `az` that records its calls; `extension update --name ssh` lays
/// out version 2.0.6 where the CLI keeps its extensions.
const AZ_UPDATES_SSH: &str = r#"case "$*" in "extension update --name ssh") d="${AZURE_EXTENSION_DIR:-$HOME/.azure/cliextensions}/ssh"; rm -r "$d"; mkdir -p "$d/ssh-2.0.6.dist-info"; printf 'Metadata-Version: 2.1\nName: ssh\nVersion: 2.0.6\n' > "$d/ssh-2.0.6.dist-info/METADATA";; *) exit 9;; esac"#;

/// A client with nothing else wrong, `az` on PATH and the ssh extension
/// `version` in `extensions` (relative to the sandbox).
fn az_user(extensions: &str, version: &str) -> Sandbox {
    let s = powershell_user();
    let proxy = s.arcproxy("user", "1.0.0");
    s.chmod(&proxy, 0o755);
    s.fake("az", AZ_UPDATES_SSH);
    s.write(
        &format!("{extensions}/ssh/ssh-{version}.dist-info/METADATA"),
        &format!(
            "Metadata-Version: 2.1\nName: ssh\nVersion: {version}\nSummary: SSH into Azure VMs\n"
        ),
    );
    s.write(&format!("{extensions}/ssh/azext_ssh/__init__.py"), "");
    s
}

#[test]
fn an_az_ssh_extension_before_2_0_4_is_updated_as_the_user_and_verified() {
    let s = az_user("home/.azure/cliextensions", "1.1.6");
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(check.status, 2, "{check:?}");
    assert_eq!(check.finding_ids(), ["az-ssh-extension-outdated"]);
    let f = &check.json()["findings"][0];
    let evidence = f["evidence"].as_str().unwrap();
    assert!(evidence.contains("1.1.6"), "{evidence}");
    assert!(evidence.contains("2025-05-21"), "{evidence}");
    let step = &check.steps()[0];
    assert_eq!(step["id"], "update-az-ssh-extension");
    assert_eq!(step["command"], "az extension update --name ssh");
    assert_eq!(step["automatic"], true);
    assert_eq!(s.calls(), "", "check must not start az");

    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert_eq!(s.calls(), "az extension update --name ssh\n");
    assert!(
        apply.stdout.contains("✓ applied] update-az-ssh-extension"),
        "{apply:?}"
    );
    let metadata = std::fs::read_to_string(
        s.path("home/.azure/cliextensions/ssh/ssh-2.0.6.dist-info/METADATA"),
    )
    .unwrap();
    assert!(metadata.contains("Version: 2.0.6"));

    let again = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(again.status, 0, "{again:?}");
    assert!(again.finding_ids().is_empty(), "{again:?}");
}

#[test]
fn an_update_that_leaves_the_old_version_fails_verification() {
    let s = az_user("home/.azure/cliextensions", "2.0.3");
    s.fake("az", "exit 0");
    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes", "-o", "json"])
        .run();
    assert_ne!(apply.status, 0, "{apply:?}");
    assert_eq!(s.calls(), "az extension update --name ssh\n");
    let step = &apply.steps()[0];
    assert_eq!(step["id"], "update-az-ssh-extension");
    assert_eq!(step["status"], "failed", "{apply:?}");
}

#[test]
fn a_current_az_ssh_extension_is_no_finding() {
    let s = az_user("home/.azure/cliextensions", "2.0.6");
    let out = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.finding_ids().is_empty(), "{out:?}");
    assert_eq!(s.calls(), "");
}

#[test]
fn azure_extension_dir_is_where_the_extension_is_read_and_updated() {
    let s = az_user("ext", "1.1.6");
    // A current copy in the default folder must not hide the old one in use.
    s.write(
        "home/.azure/cliextensions/ssh/ssh-2.0.6.dist-info/METADATA",
        "Version: 2.0.6\n",
    );
    let dir = s.path("ext").display().to_string();
    let check = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .env("AZURE_EXTENSION_DIR", &dir)
        .run();
    assert_eq!(check.status, 2, "{check:?}");
    assert_eq!(check.finding_ids(), ["az-ssh-extension-outdated"]);
    let apply = s
        .cmd()
        .args(&["apply", "--checks", "client", "--yes"])
        .env("AZURE_EXTENSION_DIR", &dir)
        .run();
    assert_eq!(apply.status, 0, "{apply:?}");
    assert!(s.path("ext/ssh/ssh-2.0.6.dist-info/METADATA").is_file());
    // Without the variable the default folder (2.0.6) is read: no finding.
    let default = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert!(default.finding_ids().is_empty(), "{default:?}");
}

#[test]
fn without_az_on_path_an_old_extension_folder_is_no_finding() {
    let s = az_user("home/.azure/cliextensions", "1.1.6");
    std::fs::remove_file(s.path("bin/az")).unwrap();
    let out = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.finding_ids().is_empty(), "{out:?}");
}

#[test]
fn an_extension_not_yet_installed_is_a_note_not_a_finding() {
    let s = az_user("home/.azure/cliextensions", "1.1.6");
    std::fs::remove_dir_all(s.path("home/.azure/cliextensions/ssh")).unwrap();
    let out = s
        .cmd()
        .args(&["check", "--checks", "client", "-o", "json"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    assert!(out.finding_ids().is_empty(), "{out:?}");
    let notes = out.json()["notes"].to_string();
    assert!(notes.contains("ssh extension is not installed"), "{notes}");
    assert_eq!(s.calls(), "");
}
