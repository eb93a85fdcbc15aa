//! How the command line reads to a person (issue 18, points 6 and 8): help
//! grouped under headings, `--checks` as people type it, a mistyped scenario
//! answered with the nearest name, the sign-in error whole, and a man page
//! and completions that install and document every option.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::azure::Azure;
use crate::harness::{BIN, Sandbox};

/// The headings of `--help`, in order, each with the long options under it.
fn help_sections(help: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') && !line.contains("  ") {
            sections.push((line.trim_end_matches(':').to_string(), Vec::new()));
        } else if let Some((_, longs)) = sections.last_mut() {
            // "  -o, --output <OUTPUT>  …" or "      --id <RESOURCE_ID>  …"
            let t = line.trim_start();
            if t.starts_with('-')
                && line.len() - t.len() <= 6
                && let Some(long) = t.split([' ', ',']).find(|w| w.starts_with("--"))
            {
                longs.push(long.trim_end_matches("...").to_string());
            }
        }
    }
    sections
}

fn help(s: &Sandbox, command: &str) -> String {
    let out = s.cmd().args(&[command, "--help"]).run();
    assert_eq!(out.status, 0, "{out:?}");
    out.stdout
}

const TARGET: &[&str] = &[
    "--subscription",
    "--resource-group",
    "--machine",
    "--id",
    "--ids-from",
    "--tag",
];
const CHECKS: &[&str] = &[
    "--port",
    "--login",
    "--ssh-client-folder",
    "--checks",
    "--grant-roles",
    "--remote",
    "--connect",
];
const APPLY_ONLY: &[&str] = &["--yes", "--dry-run", "--plan", "--journal", "--no-journal"];

#[test]
fn help_groups_the_options_under_headings() {
    let s = Sandbox::new();
    for command in ["check", "plan", "apply"] {
        let text = help(&s, command);
        let sections: BTreeMap<String, Vec<String>> = help_sections(&text).into_iter().collect();
        let mut order: Vec<String> = help_sections(&text).into_iter().map(|(h, _)| h).collect();
        // apply FILE: its one positional argument first.
        if command == "apply" {
            assert_eq!(order.remove(0), "Arguments", "{text}");
        }
        assert_eq!(
            order,
            [
                "Options",
                "Target",
                "What to check and fix",
                "Output",
                "Azure sign-in",
                "Examples"
            ],
            "{command}:\n{text}"
        );
        assert_eq!(sections["Target"], TARGET, "{command}");
        assert_eq!(sections["What to check and fix"], CHECKS, "{command}");
        for o in ["--output", "--verbose", "--quiet", "--color"] {
            assert!(sections["Output"].iter().any(|l| l == o), "{command} {o}");
        }
        assert_eq!(
            sections["Azure sign-in"],
            ["--arm-endpoint", "--cloud", "--auth"],
            "{command}"
        );
        let own = &sections["Options"];
        for o in APPLY_ONLY {
            // Apply's own options are apply's only, never a global.
            assert_eq!(
                own.iter().any(|l| l == o),
                command == "apply",
                "{command} {o}"
            );
            let everywhere: Vec<&String> = sections.values().flatten().collect();
            assert_eq!(
                everywhere.iter().any(|l| l == o),
                command == "apply",
                "{command} {o}:\n{text}"
            );
        }
    }
    // A command that looks at no machine has no target options.
    for command in ["explain", "rules", "demo", "completions", "man"] {
        let text = help(&s, command);
        let sections: BTreeMap<String, Vec<String>> = help_sections(&text).into_iter().collect();
        assert!(!sections.contains_key("Target"), "{command}:\n{text}");
        assert!(!sections.contains_key("What to check and fix"), "{command}");
        let all: Vec<&String> = sections.values().flatten().collect();
        for o in TARGET.iter().chain(CHECKS).chain(APPLY_ONLY) {
            assert!(!all.iter().any(|l| l == o), "{command} {o}:\n{text}");
        }
        assert!(
            sections["Output"].iter().any(|l| l == "--output"),
            "{command}"
        );
    }
    // The journal options belong to apply: elsewhere they are usage errors.
    for args in [
        &["check", "--no-journal", "--checks", "client"][..],
        &["plan", "--journal", "j.jsonl", "--checks", "client"],
        &["--no-journal", "rules"],
    ] {
        let out = s.cmd().args(args).run();
        assert_eq!(out.status, 64, "{args:?}: {out:?}");
        assert!(out.stderr.contains("unexpected argument '--"), "{out:?}");
    }
}

#[test]
fn checks_take_spaces_after_commas_and_refuse_an_empty_item() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let out = az.run(&[
        "check",
        "--checks",
        "client, azure",
        "--id",
        &id,
        "-o",
        "json",
    ]);
    assert_eq!(
        out.json()["checked"],
        serde_json::json!(["client", "azure"]),
        "{out:?}"
    );
    let out = az.run(&["check", "--checks", " azure ", "--id", &id, "-o", "json"]);
    assert_eq!(
        out.json()["checked"],
        serde_json::json!(["azure"]),
        "{out:?}"
    );
    for list in ["client,,azure", "client,", ",", " ", ""] {
        let out = az.run(&["check", "--checks", list, "--id", &id]);
        assert_eq!(out.status, 64, "{list:?}: {out:?}");
        assert_eq!(
            out.stderr.lines().next().unwrap_or_default(),
            "error: --checks has an empty item: name the sides separated by commas (client, azure, server)",
            "{list:?}"
        );
        assert!(out.stdout.is_empty());
    }
    // A wrong side is still clap's answer, with the nearest one.
    let out = az.run(&["check", "--checks", "client, azur", "--id", &id]);
    assert_eq!(out.status, 64, "{out:?}");
    assert!(out.stderr.contains("invalid value 'azur'"), "{out:?}");
    assert!(
        out.stderr.contains("a similar value exists: 'azure'"),
        "{out:?}"
    );
}

#[test]
fn a_mistyped_scenario_is_answered_with_the_nearest_name() {
    let s = Sandbox::new();
    let out = s.cmd().args(&["demo", "--scenario", "helthy"]).run();
    assert_eq!(out.status, 64, "{out:?}");
    assert_eq!(
        out.stderr,
        "arcfix: error: unknown scenario 'helthy': did you mean 'healthy'? (`arcfix demo --list` shows them all)\n"
    );
    assert!(out.stdout.is_empty());
    let out = s
        .cmd()
        .args(&["demo", "--serve", "--scenario", "wrongport"])
        .run();
    assert_eq!(out.status, 64, "{out:?}");
    assert!(out.stderr.contains("did you mean 'wrong-port'?"), "{out:?}");
    // Nothing near: every name.
    let out = s.cmd().args(&["demo", "--scenario", "moon"]).run();
    assert_eq!(out.status, 64, "{out:?}");
    assert_eq!(
        out.stderr,
        "arcfix: error: unknown scenario 'moon': the built-in scenarios are demo, healthy, reader, \
         wrong-port, disconnected, windows, fleet, group-contributor, blockers, policy (see `arcfix demo --list`)\n"
    );
    // --help names them too.
    assert!(
        help(&s, "demo").contains("[possible values: demo, healthy, reader, wrong-port,"),
        "{}",
        help(&s, "demo")
    );
}

/// What `az account get-access-token` prints on stderr when the sign-in has
/// lapsed (Azure CLI 2.x), three lines.
const AZ_LAPSED: &str = "ERROR: AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2026-11-30T08:12:44.0000000Z and the maximum allowed lifetime for this request is 43200. Trace ID: 5b0e8f4c-1f5e-4a55-9a43-1c1f0b7a2e00 Correlation ID: 0d9b7e8c-3c4b-4d7e-8f4f-8e5a2c1b9f11 Timestamp: 2026-12-07 07:10:00Z
Interactive authentication is needed. Please run:
az login --scope https://management.core.windows.net//.default";

#[test]
fn the_sign_in_error_is_printed_whole() {
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    az.sandbox.write("az-error.txt", AZ_LAPSED);
    az.sandbox.fake(
        "az",
        &format!(
            "cat \"{}\" >&2\nexit 1",
            az.sandbox.path("az-error.txt").display()
        ),
    );
    let whole = "could not get a token from the Azure CLI: run `az login` (or choose --auth env / \
        managed-identity); the CLI said: ERROR: AADSTS70043: The refresh token has expired or is invalid \
        due to sign-in frequency checks by conditional access. The token was issued on \
        2026-11-30T08:12:44.0000000Z and the maximum allowed lifetime for this request is 43200. Trace ID: \
        5b0e8f4c-1f5e-4a55-9a43-1c1f0b7a2e00 Correlation ID: 0d9b7e8c-3c4b-4d7e-8f4f-8e5a2c1b9f11 Timestamp: \
        2026-12-07 07:10:00Z Interactive authentication is needed. Please run: az login --scope \
        https://management.core.windows.net//.default To troubleshoot, visit \
        https://aka.ms/azsdk/rust/identity/troubleshoot#azure-cli";
    // One machine: the reason the Azure side was not checked.
    let out = az.run(&["check", "--checks", "azure", "--id", &id]);
    assert_eq!(out.status, 1, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("azure not checked"))
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(line, format!("  ✗ azure not checked — {whole}"), "{out:?}");
    // And in the JSON document, the same words.
    let out = az.run(&["check", "--checks", "azure", "--id", &id, "-o", "json"]);
    assert!(out.stdout.contains(whole), "{out:?}");
    assert!(az.sim().requests().is_empty());
}

/// The long options `--help` lists for a command, by heading.
fn longs(help: &str) -> Vec<(String, String)> {
    help_sections(help)
        .into_iter()
        .flat_map(|(h, ls)| ls.into_iter().map(move |l| (h.clone(), l)))
        .collect()
}

/// The part of the man page from the line `start` to the next section.
fn man_part<'a>(page: &'a str, start: &str) -> &'a str {
    let from = page
        .find(&format!("\n{start}\n"))
        .unwrap_or_else(|| panic!("no {start}"))
        + 1;
    let rest = &page[from + start.len()..];
    let end = [rest.find("\n.SS "), rest.find("\n.SH ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &page[from..from + start.len() + end]
}

#[test]
fn the_man_page_documents_every_option_of_every_command() {
    let s = Sandbox::new();
    let page = s.cmd().args(&["man"]).run().stdout;
    let top = s.cmd().args(&["--help"]).run().stdout;
    let commands: Vec<&str> = top
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| l.len() > 2 && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(
        commands,
        [
            "check",
            "plan",
            "apply",
            "explain",
            "rules",
            "policy",
            "demo",
            "completions",
            "man"
        ]
    );
    let global = man_part(&page, ".SH \"GLOBAL OPTIONS\"");
    let mut seen = 0;
    // A command with commands of its own has a section for each.
    let commands: Vec<String> = commands
        .iter()
        .map(|c| match *c {
            "policy" => "policy show".to_string(),
            c => c.to_string(),
        })
        .collect();
    for command in &commands {
        let own = man_part(&page, &format!(".SS \"arcfix {command}\""));
        let words: Vec<&str> = command.split(' ').collect();
        let help = |s: &Sandbox, _: &str| {
            let out = s.cmd().args(&[&words[..], &["--help"]].concat()).run();
            assert_eq!(out.status, 0, "{out:?}");
            out.stdout
        };
        for (heading, long) in longs(&help(&s, command)) {
            let roff = format!("\\fB{}\\fR", long.replace('-', "\\-"));
            // The global options are documented once, with the page's own.
            let section = if heading == "Output" || heading == "Azure sign-in" || long == "--help" {
                global
            } else {
                own
            };
            assert!(
                section.contains(&roff),
                "arcfix {command} {long} ({heading}) is not in its part of the man page"
            );
            seen += 1;
        }
        // Under the same headings as --help.
        for heading in ["Target", "What to check and fix"] {
            let has = help(&s, command).contains(&format!("\n{heading}:\n"));
            assert_eq!(
                own.contains(&format!("\\fB{heading}\\fR")),
                has,
                "{command} {heading}"
            );
        }
    }
    assert!(seen > 60, "{seen}");
    // No reference to pages that do not exist (arcfix-check(1), …).
    assert_eq!(page.matches("(1)").count(), 1, "only ssh(1)");
    let environment = man_part(&page, ".SH ENVIRONMENT");
    assert!(!environment.contains("README"), "{environment}");
    for var in [
        "ARCFIX_ARM_ENDPOINT",
        "ARCFIX_AUTH",
        "ARCFIX_TOKEN",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "NO_COLOR",
        "ARCFIX_LOG",
        "HOME",
        "XDG_STATE_HOME",
        "HTTPS_PROXY",
    ] {
        assert!(environment.contains(&format!("\\fB{var}\\fR")), "{var}");
    }
    // --subscription's default is said the same way in the help and the page.
    let check = help(&s, "check");
    assert!(
        check.contains("AZURE_SUBSCRIPTION_ID, else the Azure CLI's current subscription"),
        "{check}"
    );
    assert!(
        environment.contains(
            "the Azure CLI's current subscription: az account show, with \\-\\-auth cli only"
        ),
        "{environment}"
    );
}

/// A fresh account's home with arcfix in `~/.local/bin`, as `cargo install
/// --root ~/.local` or a copy there leaves it.
fn fresh_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".local/bin")).unwrap();
    std::os::unix::fs::symlink(BIN, home.path().join(".local/bin/arcfix")).unwrap();
    home
}

/// bash, with `home` as HOME and only its `~/.local/bin` and the system's
/// folders on PATH; `None` when bash is not installed.
fn bash(home: &Path, script: &str) -> Option<std::process::Output> {
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    Some(
        Command::new(bash)
            .args(["--norc", "--noprofile", "-c", script])
            .env_clear()
            .env("HOME", home)
            .env(
                "PATH",
                format!("{}/.local/bin:/usr/bin:/bin", home.display()),
            )
            .env("NO_COLOR", "1")
            .output()
            .unwrap(),
    )
}

/// The README's install lines, as a person pastes them.
const INSTALL: &str = r#"set -e
mkdir -p ~/.local/share/man/man1 && arcfix man > ~/.local/share/man/man1/arcfix.1
mkdir -p ~/.local/share/bash-completion/completions && arcfix completions bash > ~/.local/share/bash-completion/completions/arcfix
mkdir -p ~/.zfunc && arcfix completions zsh > ~/.zfunc/_arcfix
mkdir -p ~/.config/fish/completions && arcfix completions fish > ~/.config/fish/completions/arcfix.fish
"#;

#[test]
fn the_install_lines_work_on_a_fresh_account() {
    let home = fresh_home();
    let Some(out) = bash(home.path(), INSTALL) else {
        eprintln!("bash is not installed: the install lines were not run");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let h = home.path();
    for file in [
        ".local/share/man/man1/arcfix.1",
        ".local/share/bash-completion/completions/arcfix",
        ".zfunc/_arcfix",
        ".config/fish/completions/arcfix.fish",
    ] {
        let text = std::fs::read_to_string(h.join(file)).unwrap();
        assert!(text.len() > 1000 && text.contains("arcfix"), "{file}");
    }
    // man finds the page: man-db derives ~/.local/share/man from ~/.local/bin
    // on PATH; with arcfix elsewhere (~/.cargo/bin), MANPATH names it.
    if Path::new("/usr/bin/man").exists() {
        let found = bash(h, "man -w arcfix").unwrap();
        assert_eq!(
            String::from_utf8_lossy(&found.stdout).trim(),
            h.join(".local/share/man/man1/arcfix.1")
                .display()
                .to_string(),
            "{found:?}"
        );
        let cargo = bash(
            h,
            "PATH=\"$HOME/.cargo/bin:/usr/bin:/bin\" MANPATH=\":$HOME/.local/share/man\" man -w arcfix",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&cargo.stdout).trim(),
            h.join(".local/share/man/man1/arcfix.1")
                .display()
                .to_string(),
            "{cargo:?}"
        );
        // And renders it, the options of every command in it.
        let page = bash(h, "MANWIDTH=100 MANPAGER=cat man arcfix 2>/dev/null").unwrap();
        let page = String::from_utf8_lossy(&page.stdout);
        for text in ["arcfix apply", "--no-journal", "--scenario", "ENVIRONMENT"] {
            assert!(page.contains(text), "{text}:\n{page}");
        }
    } else {
        eprintln!("man is not installed: the page's path was not checked");
    }
    // bash-completion's loader, where installed, finds the user's script by itself.
    for loader in [
        "/usr/share/bash-completion/bash_completion",
        "/etc/bash_completion",
    ] {
        if Path::new(loader).exists() {
            let out = bash(
                h,
                &format!(
                    ". {loader}; (declare -F _comp_load >/dev/null && _comp_load arcfix) || __load_completion arcfix; complete -p arcfix"
                ),
            )
            .unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("_arcfix"),
                "{out:?}"
            );
            break;
        }
    }
}

#[test]
fn bash_completes_the_scenario_names() {
    let home = fresh_home();
    let script = r#"set -e
arcfix completions bash > "$HOME/arcfix.bash"
. "$HOME/arcfix.bash"
complete -p arcfix
COMP_WORDS=(arcfix demo --scenario ""); COMP_CWORD=3
COMP_LINE="arcfix demo --scenario "; COMP_POINT=${#COMP_LINE}
_arcfix arcfix "" --scenario
printf '%s\n' "${COMPREPLY[@]}"
COMP_WORDS=(arcfix demo --scenario he); COMP_CWORD=3
COMP_LINE="arcfix demo --scenario he"; COMP_POINT=${#COMP_LINE}
_arcfix arcfix he --scenario
printf 'he: %s\n' "${COMPREPLY[@]}"
COMP_WORDS=(arcfix check --checks ""); COMP_CWORD=3
COMP_LINE="arcfix check --checks "; COMP_POINT=${#COMP_LINE}
_arcfix arcfix "" --checks
printf 'checks: %s\n' "${COMPREPLY[@]}"
"#;
    let Some(out) = bash(home.path(), script) else {
        eprintln!("bash is not installed: completion was not tried");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().contains("-F _arcfix"), "{stdout}");
    let names: Vec<&str> = lines.by_ref().take(10).collect();
    assert_eq!(
        names,
        [
            "demo",
            "healthy",
            "reader",
            "wrong-port",
            "disconnected",
            "windows",
            "fleet",
            "group-contributor",
            "blockers",
            "policy"
        ],
        "{stdout}"
    );
    assert_eq!(lines.next(), Some("he: healthy"), "{stdout}");
    let checks: Vec<&str> = lines.collect();
    assert_eq!(
        checks,
        ["checks: client", "checks: azure", "checks: server"],
        "{stdout}"
    );
}
