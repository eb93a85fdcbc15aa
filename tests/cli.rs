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
        assert_eq!(out.status, 1, "{out:?}");
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
