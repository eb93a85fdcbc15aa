//! `-o html`: the report of check, plan, apply and demo as one
//! self-contained page on stdout, made from the JSON document of the same
//! run; refused (exit 64) where there is no report. The page is rendered in
//! a real browser (headless Chromium) by `a_hostile_fleet_s_report_...`.

use serde_json::Value;

use crate::azure::Azure;
use crate::harness::{Output, Sandbox};
use crate::hostile::hostile;

/// The `fleet` scenario's subscriptions (tests/fleet.rs).
const OWNED: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
const READ_ONLY: &str = "4a3e6d2f-9b5c-4d7e-8f1a-2b3c4d5e6f7a";

/// Text as the page must hold it: HTML's special characters as entities.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The same run as `-o html` and as `-o json`.
fn both(az: &Azure, args: &[&str]) -> (Output, Output) {
    (
        az.run(&[args, &["-o", "html"]].concat()),
        az.run(&[args, &["-o", "json"]].concat()),
    )
}

/// The text between `from` and the next `to` after it.
fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in the page"))
        + from.len();
    let len = text[start..].find(to).unwrap_or(text.len() - start);
    &text[start..start + len]
}

/// The problems of a document's verdicts with the number of machines that
/// have each, most first (first seen first among equals).
fn problems_by_machines(doc: &Value) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for m in doc["machines"].as_array().unwrap() {
        for id in m["findings"].as_array().unwrap() {
            let id = id.as_str().unwrap();
            match counts.iter_mut().find(|(i, _)| i == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id.to_string(), 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
}

/// The chart's bars as the page lists them: (problem, "n of total").
fn bars(page: &str) -> Vec<(String, String)> {
    let chart = between(page, "<ol class=\"chart\">", "</ol>");
    chart
        .split("<li>")
        .skip(1)
        .map(|li| {
            (
                between(li, "<code>", "</code>").to_string(),
                between(li, "<span class=\"n\">", "</span>").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_fleet_s_report_has_its_scope_chart_machines_fixes_and_what_was_not_checked() {
    let az = Azure::builtin("fleet");
    let (html, json) = both(
        &az,
        &[
            "plan",
            "--checks",
            "azure",
            "--subscription",
            OWNED,
            "--subscription",
            READ_ONLY,
        ],
    );
    assert_eq!(
        html.status, json.status,
        "the command's exit code: {html:?}"
    );
    let doc = json.json();
    let page = &html.stdout;
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n"),
        "{page}"
    );
    assert!(page.ends_with("</html>\n"), "{page}");
    assert_eq!(
        html.stderr.lines().next(),
        Some("6 Arc machines in 2 subscriptions (Resource Graph)"),
        "stderr as with any document: {html:?}"
    );
    assert_eq!(
        between(page, "<p class=\"scope\">", "</p>"),
        "6 Arc machines in 2 subscriptions (Resource Graph)"
    );
    // The run's time (RFC 3339, as the document writes it) and version.
    let meta = between(page, "<p class=\"meta\">", "</p>");
    let created = between(meta, "<time datetime=\"", "\"");
    assert!(
        created.starts_with(&doc["created"].as_str().unwrap()[..10]) && created.ends_with('Z'),
        "{meta}"
    );
    // The document's `checked` is empty: the read-only subscription's
    // permissions could not be read, so no side was read whole.
    assert_eq!(doc["checked"], serde_json::json!([]), "{doc}");
    assert!(
        meta.ends_with(&format!(
            " UTC</time> · arcfix {} · checked: nothing completely",
            doc["arcfix_version"].as_str().unwrap()
        )),
        "{meta}"
    );

    // The chart: each problem with the number of machines that have it.
    let expected: Vec<(String, String)> = problems_by_machines(&doc)
        .into_iter()
        .map(|(id, n)| (id, format!("{n} of 6")))
        .collect();
    assert!(expected.len() >= 3, "{doc}");
    assert_eq!(bars(page), expected);

    // A row per machine with its verdict, each finding with its fix command.
    let rows = between(page, "<tbody>", "</tbody>");
    assert_eq!(rows.matches("<tr ").count(), 6, "{rows}");
    for m in doc["machines"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let name = id.rsplit('/').next().unwrap();
        let row = between(rows, &format!("title=\"{}\"", escaped(id)), "</tr>");
        assert!(
            row.starts_with(&format!("><strong>{name}</strong>")),
            "{row}"
        );
        let status = m["status"].as_str().unwrap();
        assert!(
            rows.contains(&format!(
                "<tr data-status=\"{status}\" data-problems=\"{}\"><td data-label=\"Machine\" title=\"{}\">",
                m["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" "),
                escaped(id)
            )),
            "{name}: {rows}"
        );
        for f in m["findings"].as_array().unwrap() {
            assert!(
                row.contains(&format!(
                    "<code class=\"pid\">{}</code>",
                    f.as_str().unwrap()
                )),
                "{name}: {row}"
            );
        }
    }
    let steps = doc["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        let cmd = format!(
            "<code class=\"cmd\">{}</code>",
            escaped(s["command"].as_str().unwrap())
        );
        assert!(rows.contains(&cmd), "{cmd} in no row");
    }
    // What was not checked, and why.
    let not_checked = between(page, "<section id=\"not-checked\">", "</section>");
    let reasons = doc["not_checked"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{doc}");
    for n in reasons {
        assert!(
            not_checked.contains(&format!(
                "<strong>{}</strong>: {}</li>",
                n["side"].as_str().unwrap(),
                escaped(n["reason"].as_str().unwrap())
            )),
            "{n}: {not_checked}"
        );
    }
}

#[test]
fn the_exit_code_is_the_command_s_whatever_the_output() {
    let mut seen = Vec::new();
    for scenario in ["healthy", "reader", "disconnected"] {
        let az = Azure::builtin(scenario);
        let id = az.machine(0);
        let (html, json) = both(&az, &["check", "--checks", "azure", "--id", &id]);
        assert_eq!(html.status, json.status, "{scenario}: {html:?}");
        assert!(html.stdout.ends_with("</html>\n"), "{scenario}: {html:?}");
        seen.push(html.status);
    }
    assert_eq!(seen, [0, 2, 2]);
    // A healthy machine: no problem, no bar.
    let az = Azure::builtin("healthy");
    let id = az.machine(0);
    let page = az
        .run(&["check", "--checks", "azure", "--id", &id, "-o", "html"])
        .stdout;
    assert!(
        page.contains(
            "<h2>Problems by number of machines</h2>\n<p class=\"none\">No problems found.</p>"
        ),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"badge healthy\">healthy</span>"),
        "{page}"
    );
}

#[test]
fn apply_s_report_says_how_each_step_ended_and_needs_yes() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let args = ["apply", "--checks", "azure", "--id", &id, "-o", "html"];
    let out = az.run(&args);
    assert_eq!(out.status, 64, "{out:?}");
    assert_eq!(
        out.stderr,
        "arcfix: error: apply -o html needs --yes: nothing can be asked while the output is a document for programs (add --yes, or use --dry-run to see the plan)\n"
    );
    assert_eq!(out.stdout, "");
    assert!(az.writes().is_empty());

    let out = az.run(&[&args[..], &["--yes"]].concat());
    assert!(!az.writes().is_empty());
    // The same apply on another simulator, as JSON: the same exit code
    // (3: manual steps remain).
    let other = Azure::builtin("demo");
    let json = other.run(&[&args[..5], &["--yes", "-o", "json"]].concat());
    assert_eq!(out.status, json.status, "{out:?}");
    assert_eq!(out.status, 3, "{out:?}");
    let page = &out.stdout;
    assert!(page.contains("<h1>arcfix apply</h1>"), "{page}");
    let applied = page
        .matches("<span class=\"badge healthy\">✓ applied</span>")
        .count();
    let tile = format!("<li class=\"healthy\"><b>{applied}</b>applied</li>");
    assert!(applied > 0 && page.contains(&tile), "{tile}: {page}");
    assert!(
        page.contains("<p class=\"said\">Changes recorded in the journal <code>"),
        "{page}"
    );

    let dry = az.run(&[
        "apply",
        "--dry-run",
        "--checks",
        "azure",
        "--id",
        &id,
        "-o",
        "html",
    ]);
    assert_eq!(dry.status, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("<h1>arcfix apply --dry-run</h1>"),
        "{dry:?}"
    );
    assert!(
        dry.stdout
            .contains("<p class=\"said\">Dry run: nothing was changed.</p>"),
        "{dry:?}"
    );
}

#[test]
fn demo_s_report_is_its_apply_s() {
    let out = Sandbox::new()
        .cmd()
        .args(&["demo", "--scenario", "fleet", "-o", "html"])
        .run();
    assert_eq!(out.status, 0, "{out:?}");
    let page = &out.stdout;
    assert!(page.contains("<h1>arcfix demo (simulated)</h1>"), "{page}");
    assert!(page.contains("✓ applied</span>"), "{page}");
    assert!(page.ends_with("</html>\n"), "{page}");
}

#[test]
fn where_there_is_no_report_html_is_a_usage_error() {
    let sandbox = Sandbox::new();
    for (args, said) in [
        (
            &["explain", "Permission denied (publickey).", "-o", "html"][..],
            "arcfix: error: -o html is the report of check, plan, apply or demo; explain has none (-o text, json, table or tsv)\n",
        ),
        (
            &["policy", "show", "-o", "html"],
            "arcfix: error: -o html is the report of check, plan, apply or demo; policy show has none (-o text, json, table or tsv)\n",
        ),
        (
            &["rules", "-o", "html"],
            "arcfix: error: -o html is the report of check, plan, apply or demo; rules has none (-o text, json, table or tsv)\n",
        ),
        (
            &["demo", "--list", "-o", "html"],
            "arcfix: error: -o html is the report of check, plan, apply or demo; demo --list has none (-o text, json, table or tsv)\n",
        ),
        (
            &["demo", "--serve", "-o", "html"],
            "arcfix: error: -o html is the report of check, plan, apply or demo; demo --serve has none (-o text, json, table or tsv)\n",
        ),
        (
            &[
                "check", "--checks", "client", "-o", "html", "--query", "findings",
            ],
            "arcfix: error: -o html prints the whole report, --query a part of the JSON document: use one or the other\n",
        ),
    ] {
        let out = sandbox.cmd().args(args).run();
        assert_eq!(out.status, 64, "{args:?}: {out:?}");
        assert_eq!(out.stderr, said, "{args:?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

/// What Azure may answer, everywhere a location or an agent's status is:
/// markup, quotes, an entity, a terminal escape and a bidirectional
/// override, and a link to `canary` that a page which let it through would
/// load.
fn hostile_text(canary: u16) -> String {
    format!(
        "<script>alert(1)</script><img src=\"http://127.0.0.1:{canary}/img\">\"'&amp;\u{1b}[31mred\u{202e}"
    )
}

/// Rewrites every `location` and every agent `status` in an answer.
fn poison(v: &mut Value, text: &str) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                match (k.as_str(), &*x) {
                    ("location", Value::String(_)) => *x = text.into(),
                    ("status", Value::String(s)) if s == "Disconnected" => *x = text.into(),
                    _ => poison(x, text),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| poison(x, text)),
        _ => {}
    }
}

/// The browser to render with: `$CHROMIUM`, else chromium on PATH.
fn chromium() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Headless Chromium on `url` with `args`, on its own profile, with every
/// host name unresolvable and its own background traffic off.
fn browse(
    browser: &std::path::Path,
    profile: &std::path::Path,
    args: &[&str],
    url: &str,
) -> String {
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The requests of a Chromium net log made for a page (its network
/// isolation key is the page's file:// site), as URLs: the browser's own
/// traffic is keyed otherwise.
fn page_requests(net_log: &std::path::Path) -> Vec<String> {
    let log: Value = serde_json::from_slice(&std::fs::read(net_log).unwrap())
        .unwrap_or_else(|e| panic!("the net log {} is not JSON: {e}", net_log.display()));
    let events = log["events"].as_array().expect("a net log has events");
    assert!(!events.is_empty(), "an empty net log");
    events
        .iter()
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.contains("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_hostile_fleet_s_report_is_inert_renders_in_a_browser_and_loads_nothing() {
    // Anything that connects here was loaded by the page.
    let canary = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let text = hostile_text(canary.local_addr().unwrap().port());
    let az = Azure::builtin("fleet");
    let poisoned = text.clone();
    let endpoint = hostile(&az, move |a| {
        if let Some(b) = a.body.as_mut() {
            poison(b, &poisoned);
        }
    });
    let out = az.run_at(
        &endpoint,
        &[
            "plan",
            "--checks",
            "azure",
            "--login",
            "entra",
            "--subscription",
            OWNED,
            "--subscription",
            READ_ONLY,
            "-o",
            "html",
        ],
    );
    assert_eq!(out.status, 2, "{out:?}");
    let page = out.stdout.clone();

    // Escaped where it is shown: as text, never as markup or a control.
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=&quot;http://127.0.0.1:";
    assert!(
        page.contains(shown),
        "the hostile text is not shown: {page}"
    );
    assert!(
        page.contains("&quot;&#39;&amp;amp;\\u{1b}[31mred\\u{202e}"),
        "{page}"
    );
    assert!(
        !page.contains('\u{1b}') && !page.contains('\u{202e}'),
        "{page}"
    );
    assert_eq!(page.matches("<script").count(), 1, "the page's own only");
    assert!(!page.contains("<img"), "{page}");
    // Nothing that could load: no src, no link but to the page's own
    // fragment, no url() or @import in the style.
    assert_eq!(
        page.matches("src=").count(),
        page.matches("src=&quot;").count(),
        "a src that is not text: {page}"
    );
    for href in page.split(" href=\"").skip(1) {
        assert!(href.starts_with('#'), "a link out: {href:.60}");
    }
    assert!(
        !page.contains("url(") && !page.contains("@import"),
        "{page}"
    );
    assert!(page.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
    ));

    // In a real browser.
    let Some(browser) = chromium() else {
        let required = ["CI", "ARCFIX_NEED_CHROMIUM"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty() && x != "false"));
        assert!(
            !required,
            "chromium is not installed, and CI (or ARCFIX_NEED_CHROMIUM) says it must be: install it (apt-get install chromium) or set CHROMIUM"
        );
        eprintln!("chromium is not installed: the page was not rendered in a browser (skipped)");
        return;
    };
    // Kept under target/ (CI's artifact): the page and how it looks.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let file = target.join("html-report.html");
    let png = target.join("html-report.png");
    std::fs::write(&file, &page).unwrap();
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let net_log = profile.path().join("net-log.json");
    let url = format!("file://{}", file.display());

    browse(
        &browser,
        &profile.path().join("a"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
        ],
        &url,
    );
    let image = std::fs::read(&png).unwrap_or_else(|e| panic!("no {}: {e}", png.display()));
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(image.len() > 20_000, "a blank page? {} bytes", image.len());

    // The page as the browser built it, its script run with a view in the
    // fragment: the machines with the agent problem, by name Z to A.
    let dom = browse(
        &browser,
        &profile.path().join("b"),
        &[
            &format!("--log-net-log={}", net_log.display()),
            "--dump-dom",
        ],
        &format!("{url}#problem=agent-disconnected&sort=-name"),
    );
    assert!(
        dom.contains("<html lang=\"en\" class=\"js\">"),
        "the script did not run (blocked by the policy?): {dom:.2000}"
    );
    // As text (a DOM's text keeps its quotes as they are).
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=\"http://127.0.0.1:"),
        "{dom}"
    );
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    let rows = between(&dom, "<tbody>", "</tbody>");
    let names: Vec<(&str, bool)> = rows
        .split("<tr ")
        .skip(1)
        .map(|r| (between(r, "<strong>", "</strong>"), r.contains(" hidden=")))
        .collect();
    let mut sorted: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names.iter().map(|(n, _)| *n).collect::<Vec<_>>(), sorted);
    let visible: Vec<&str> = names.iter().filter(|(_, h)| !h).map(|(n, _)| *n).collect();
    assert_eq!(visible, ["web-03"], "{names:?}");
    assert!(dom.contains("<output id=\"shown\" aria-live=\"polite\">showing 1 of 6</output>"));

    let loaded = page_requests(&net_log);
    assert!(loaded.is_empty(), "the page loaded {loaded:?}");
    // The net log does show what a page loads: a page with an image (on the
    // discard port, nothing listening) shows its request, so the empty list
    // above is not the log's format changing under the test.
    let control = target.join("html-control.html");
    std::fs::write(&control, "<img src=\"http://127.0.0.1:9/control.png\">").unwrap();
    let control_log = profile.path().join("control-net-log.json");
    browse(
        &browser,
        &profile.path().join("c"),
        &[
            &format!("--log-net-log={}", control_log.display()),
            "--dump-dom",
        ],
        &format!("file://{}", control.display()),
    );
    assert!(
        page_requests(&control_log)
            .iter()
            .any(|u| u == "http://127.0.0.1:9/control.png"),
        "a page's load is not seen in the net log: {:?}",
        page_requests(&control_log)
    );
    assert!(
        matches!(canary.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the page connected to the canary"
    );
}
