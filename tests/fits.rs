//! Text for people that fits and says what it approves and what happened:
//! every report folded to the terminal's width (80 in a pipe, `COLUMNS`
//! first), a fleet's plan naming each machine it changes, counts that agree,
//! a dry run said as such, and where the journal went.

use crate::azure::Azure;
use crate::harness::Output;

const OWNED: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
const READ_ONLY: &str = "4a3e6d2f-9b5c-4d7e-8f1a-2b3c4d5e6f7a";

/// The lines of `text` as they show (colour escapes out, a line redrawn
/// after `\r` as its last drawing) wider than `width`, but for what stays
/// whole: one word (an id, a path, alone or after its label), a command
/// (`$ …`, alone or after its label), a script line (`│ …`).
fn too_wide(text: &str, width: usize) -> Vec<String> {
    console::strip_ansi_codes(text)
        .lines()
        .map(|l| l.trim_end_matches('\r').rsplit('\r').next().unwrap_or(""))
        .map(|l| l.trim_end().to_string())
        .filter(|l| console::measure_text_width(l) > width)
        .filter(|l| {
            let t = l.trim_start();
            // One word, or one after its label (`needs: Microsoft.…/write`).
            let words = t.split(' ').filter(|w| !w.is_empty() && !w.ends_with(':'));
            // A command, also after its label (`fix: $ …`).
            let command = t.starts_with("$ ")
                || t.split_once(": ").is_some_and(|(label, rest)| {
                    !label.contains(' ') && rest.trim_start().starts_with("$ ")
                });
            !(command || t.starts_with('│') || words.count() <= 1)
        })
        .collect()
}

/// `text` without the lines of its command lists (the lines further in
/// under a line ending with `commands:`, as explain prints them): commands
/// are copied whole, as `$ …` lines are.
fn without_command_lists(text: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut list: Option<usize> = None;
    let mut out = String::new();
    for l in text.lines() {
        if list.is_some_and(|i| indent(l) > i) {
            continue;
        }
        list = l.trim_end().ends_with("commands:").then(|| indent(l));
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The widest line of `text`, in columns.
fn widest(text: &str) -> usize {
    text.lines()
        .map(|l| console::measure_text_width(l.trim_end()))
        .max()
        .unwrap_or(0)
}

/// What every command prints about the fleet: check, plan, apply --yes.
const FLEET: &[&str] = &[
    "--checks",
    "azure",
    "--login",
    "entra",
    "--subscription",
    OWNED,
    "--subscription",
    READ_ONLY,
    "--no-journal",
];

fn fleet_args<'a>(command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![command];
    args.extend(
        FLEET
            .iter()
            .filter(|a| command == "apply" || **a != "--no-journal"),
    );
    args.extend(extra);
    args
}

/// `arcfix ARGS` against the fleet scenario on a terminal `cols` wide;
/// `None` when script(1) or stty(1) is missing.
fn fleet_on_terminal(cols: u16, args: &[&str]) -> Option<Output> {
    Azure::builtin("fleet").on_terminal(args, Some(cols), "")
}

#[test]
fn check_plan_and_apply_fit_a_terminal_of_60_and_use_one_of_120() {
    for command in ["check", "plan", "apply"] {
        let extra: &[&str] = if command == "apply" { &["--yes"] } else { &[] };
        let Some(narrow) = fleet_on_terminal(60, &fleet_args(command, extra)) else {
            return;
        };
        assert!(narrow.stdout.contains("Fleet 6 machines"), "{narrow:?}");
        assert_eq!(
            too_wide(&narrow.stdout, 60),
            Vec::<String>::new(),
            "{command}"
        );
        let Some(wide) = fleet_on_terminal(120, &fleet_args(command, extra)) else {
            return;
        };
        assert_eq!(
            too_wide(&wide.stdout, 120),
            Vec::<String>::new(),
            "{command}"
        );
        // The width is used: prose runs past 80 columns.
        assert!(
            too_wide(&wide.stdout, 80).len() > 2,
            "{command} at 120: {wide:?}"
        );
    }
}

#[test]
fn a_pipe_gets_80_columns_and_columns_wins() {
    let az = Azure::builtin("fleet");
    let run = |args: &[&str]| {
        az.sandbox
            .cmd()
            .args(args)
            .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .natural_width()
            .run()
    };
    for command in ["check", "plan", "apply"] {
        let extra: &[&str] = if command == "apply" { &["--yes"] } else { &[] };
        let piped = run(&fleet_args(command, extra));
        assert_eq!(
            too_wide(&piped.stdout, 80),
            Vec::<String>::new(),
            "{piped:?}"
        );
        assert_eq!(
            too_wide(&piped.stderr, 80),
            Vec::<String>::new(),
            "{piped:?}"
        );
        assert!(widest(&piped.stdout) > 70, "{piped:?}");
    }
    let narrow = az
        .sandbox
        .cmd()
        .args(&fleet_args("plan", &[]))
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("COLUMNS", "60")
        .run();
    // A value that is no number is no width: 80.
    let odd = az
        .sandbox
        .cmd()
        .args(&fleet_args("plan", &[]))
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("COLUMNS", "wide")
        .run();
    assert_eq!(too_wide(&odd.stdout, 80), Vec::<String>::new());
    assert!(widest(&odd.stdout) > 70, "{odd:?}");
    assert!(narrow.stdout.contains("\nPlan ("), "{narrow:?}");
    assert_eq!(too_wide(&narrow.stdout, 60), Vec::<String>::new());
}

#[test]
fn one_machine_explain_demo_and_the_scenarios_fit_60_columns() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let narrow = |args: &[&str]| {
        az.sandbox
            .cmd()
            .args(args)
            .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
            .env("ARCFIX_RETRY_SCALE", "0.02")
            .env("COLUMNS", "60")
            .run()
    };
    let base = ["--checks", "azure", "--id", &id, "--login", "entra"];
    for args in [
        [&["check"][..], &base].concat(),
        [&["plan"][..], &base].concat(),
        [&["apply", "--yes", "--no-journal"][..], &base].concat(),
        vec!["explain", "Code: NoRegisteredProviderFound"],
        vec!["demo", "--list"],
        vec!["demo"],
    ] {
        let out = narrow(&args);
        assert!(!out.stdout.is_empty(), "{out:?}");
        let shown = without_command_lists(&out.stdout);
        assert_eq!(too_wide(&shown, 60), Vec::<String>::new(), "{args:?}");
        assert_eq!(too_wide(&out.stderr, 60), Vec::<String>::new(), "{args:?}");
    }
    // A scenario's sentence continues under the sentences, not cut short.
    let list = narrow(&["demo", "--list"]).stdout;
    assert!(!list.contains("in…"), "{list}");
    assert!(
        list.contains(
            "  healthy            Everything on the Azure side is in\n                     order:"
        ),
        "{list}"
    );
}

/// The fleet's plan through a pipe.
fn fleet_plan(az: &Azure, extra: &[&str]) -> String {
    let out = az.run(&fleet_args("plan", extra));
    assert_eq!(out.status, 2, "{out:?}");
    out.stdout
}

#[test]
fn before_the_question_a_fleet_plan_names_every_machine_it_changes() {
    let az = Azure::builtin("fleet");
    let Some(out) = az
        .sandbox
        .cmd()
        .args(&[
            "apply",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "--port",
            "22",
        ])
        .env("ARCFIX_ARM_ENDPOINT", &az.sim().base_url())
        .env("ARCFIX_RETRY_SCALE", "0.02")
        .env("TERM", "xterm")
        .in_terminal("n\n")
    else {
        return;
    };
    let text = console::strip_ansi_codes(&out.stdout).replace('\r', "");
    let asked = text.find("Apply the").unwrap_or_else(|| panic!("{out:?}"));
    let plan = &text[text.find("\nPlan (").unwrap()..asked];
    assert!(
        plan.contains(
            "  [auto] enable-ssh-port × 4, in 2 resource groups\n       \
             arc-web: web-02, web-03\n       \
             arc-db: db-01, db-win-01\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "  [auto] create-default-endpoint × 2 — web-03 (arc-web); db-win-01 (arc-db)\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("  [manual] reconnect-agent × 1 — web-03 (arc-web)\n"),
        "{plan}"
    );
    assert!(!plan.contains('…'), "{plan}");
    assert!(az.writes().is_empty(), "declined: {:?}", az.writes());
}

#[test]
fn a_fleet_counts_each_kind_of_fix_apart_and_says_no_zero() {
    let az = Azure::builtin("fleet");
    let plan = fleet_plan(&az, &[]);
    // Six machines, none healthy: no "0 healthy", no "0 could not be checked".
    assert!(
        plan.starts_with("Fleet 6 machines: 6 with problems\n"),
        "{plan}"
    );
    assert!(!plan.contains(" 0 "), "{plan}");
    assert!(!plan.contains("healthy machine"), "{plan}");
    // The Entra extension: automatic on three machines, by hand on two.
    assert!(
        plan.contains("  ✗ entra-extension-missing [auto] 3 machines: web-01, web-02, db-01\n"),
        "{plan}"
    );
    assert!(
        plan.contains("  ✗ entra-extension-missing [manual] 2 machines: web-03, edge-01\n"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "  [auto] install-entra-extension × 3 — web-01, web-02 (arc-web); db-01 (arc-db)\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "  [manual] install-entra-extension × 2 — web-03 (arc-web); edge-01 (Arc-Edge)\n"
        ),
        "{plan}"
    );
    let header = plan.lines().find(|l| l.starts_with("Plan (")).unwrap();
    let json = az.run(&fleet_args("plan", &["-o", "json"])).json();
    let steps = json["steps"].as_array().unwrap();
    let auto = steps.iter().filter(|s| s["automatic"] == true).count();
    assert!(
        header.starts_with(&format!(
            "Plan ({} steps: {auto} automatic, {} manual; ",
            steps.len(),
            steps.len() - auto
        )),
        "{header}"
    );
}

#[test]
fn a_fleet_summary_names_where_manual_steps_are_left() {
    let az = Azure::builtin("fleet");
    let out = az.run(&fleet_args("apply", &["--yes"]));
    assert_eq!(out.status, 3, "{out:?}");
    let summary = out.stdout.split("\nSummary\n").nth(1).unwrap();
    assert!(
        summary.contains("  reconnect-agent: 1 manual\n    ! to do by hand on web-03 (arc-web)\n"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "  install-entra-extension: 3 applied, 2 manual\n    ! to do by hand on web-03 (arc-web); edge-01 (Arc-Edge)\n"
        ),
        "{summary}"
    );
}

#[test]
fn a_dry_run_says_so_and_changes_nothing() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let args = ["apply", "--dry-run", "--checks", "azure", "--id", &id];
    let out = az.run(&args);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.stdout.ends_with(
            "\nDry run: nothing was changed. Without --dry-run, apply makes these changes.\n"
        ),
        "{out:?}"
    );
    let json = az.run(&[&args[..], &["-o", "json"]].concat()).json();
    assert_eq!(json["dry_run"], true);
    assert!(json.get("journal").is_none(), "{json}");
    assert!(az.writes().is_empty(), "{:?}", az.writes());
    // Nothing to do: said without an invitation to apply.
    let healthy = Azure::builtin("healthy");
    let id = healthy.machine(0);
    let out = healthy.run(&["apply", "--dry-run", "--checks", "azure", "--id", &id]);
    assert!(
        out.stdout
            .ends_with("✓ nothing to fix\n\nDry run: nothing was changed.\n"),
        "{out:?}"
    );
    // Check and plan documents have no such field.
    let plan = healthy.run(&["plan", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(plan.json().get("dry_run").is_none());
}

#[test]
fn apply_says_where_it_wrote_the_journal_and_only_then() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let journal = az.sandbox.path("changes.jsonl");
    let apply = |extra: &[&str]| {
        az.run(
            &[
                &["apply", "--yes", "--checks", "azure", "--id", &id][..],
                extra,
            ]
            .concat(),
        )
    };
    let path = journal.to_str().unwrap();
    let out = apply(&["--journal", path]);
    assert!(out.status == 0 || out.status == 3, "{out:?}");
    assert!(
        out.stdout
            .ends_with(&format!("Changes recorded in the journal {path}\n")),
        "{out:?}"
    );
    assert!(journal.exists());
    // Again: nothing changes, nothing is written, nothing said about it.
    let before = std::fs::read_to_string(&journal).unwrap();
    let again = apply(&["--journal", path, "-o", "json"]);
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), before);
    assert!(again.json().get("journal").is_none(), "{again:?}");
    assert_eq!(again.json()["dry_run"], false);
    let text = apply(&["--journal", path]);
    assert!(!text.stdout.contains("journal"), "{text:?}");
    // --no-journal: not a word of one.
    let fresh = Azure::builtin("demo");
    let id = fresh.machine(0);
    let out = fresh.run(&[
        "apply",
        "--yes",
        "--checks",
        "azure",
        "--id",
        &id,
        "--no-journal",
    ]);
    assert!(!fresh.writes().is_empty(), "{out:?}");
    assert!(!out.stdout.contains("journal"), "{out:?}");
    // JSON: the path, where a program finds it.
    let other = Azure::builtin("demo");
    let id = other.machine(0);
    let journal = other.sandbox.path("j.jsonl");
    let out = other.run(&[
        "apply",
        "--yes",
        "--checks",
        "azure",
        "--id",
        &id,
        "--journal",
        journal.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.json()["journal"], journal.to_str().unwrap(), "{out:?}");
}
