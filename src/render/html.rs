//! `-o html`: the report of check, plan, apply (and demo's run) as one
//! self-contained page, made from the JSON `Document`: no second model of
//! the findings. Nothing is loaded from anywhere: the style and the small
//! script that sorts and filters the table of machines are inline, and the
//! page's Content Security Policy forbids every other load; the script is
//! allowed by its hash, so no script that slipped into the page would run.
//! Without the script (a mail client's preview, print) the page is whole,
//! in the document's order.
//!
//! Every value from outside (Azure's names, messages and tag values,
//! commands, paths, a saved plan's text) goes through `esc`: control and
//! invisible characters shown as `crate::text::sanitize` shows them on a
//! terminal, then HTML's special characters as entities.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::Document;
use crate::plan::{Connection, Finding, FixKind, MachineVerdict, Status, Step, Verdict};
use crate::target::{Target, fold};

/// Writes the report of `command` (`check`, `plan`, `apply`, `apply
/// --dry-run`, `demo`) to `w`, a machine's row at a time.
pub fn write(w: &mut dyn Write, command: &str, doc: &Document) -> io::Result<()> {
    let report = Report::of(doc);
    head(w, command, doc, &report)?;
    summary(w, command, doc, &report)?;
    chart(w, &report)?;
    machines(w, doc, &report)?;
    other_steps(w, doc, &report)?;
    not_checked(w, doc)?;
    notes(w, doc)?;
    writeln!(
        w,
        "<footer><p>Made by arcfix {} at {}. This file loads nothing from anywhere; its table sorts and filters in the browser.</p></footer>\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>",
        esc(doc.arcfix_version),
        esc(&when(doc.created)),
    )
}

/// Text from outside as HTML text or a quoted attribute's value: terminal
/// escapes and invisible characters shown (`\u{1b}`), then `& < > " '` as
/// entities.
pub fn esc(s: &str) -> String {
    let shown = crate::text::sanitize(s);
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for the page's fragment (`#problem=ID`), as the script's
/// `URLSearchParams` reads it back: all but `A-Za-z0-9-_.~` percent-encoded.
fn fragment_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The run's time for people: `2026-12-07 12:31:45 UTC`, or as written
/// when it is not RFC 3339 (a saved plan's).
fn when(created: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let shown = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    match time::OffsetDateTime::parse(created, &Rfc3339) {
        Ok(t) => t
            .to_offset(time::UtcOffset::UTC)
            .format(&shown)
            .map(|s| format!("{s} UTC"))
            .unwrap_or_else(|_| created.to_string()),
        Err(_) => created.to_string(),
    }
}

/// `n` things, `1 thing` or `1,284 things`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        crate::checks::fleet::thousands(n),
        if n == 1 { one } else { many }
    )
}

/// A target as the maps below key it (ARM ids compare without case).
fn key(t: &Target) -> String {
    fold(&t.to_string())
}

/// What a row of the table of machines is about.
enum Subject<'a> {
    /// This machine (the SSH client, or the server arcfix runs on).
    Local,
    Machine(&'a MachineVerdict),
    /// A finding's target no machine's verdict names (a subscription's).
    Other(&'a Target),
}

/// One row: a machine, this machine, or another target with findings.
struct Row<'a> {
    subject: Subject<'a>,
    key: String,
    status: Verdict,
    /// Its problems, as its verdict lists them.
    ids: Vec<&'a str>,
}

/// The document seen by target: the rows, and the findings, steps and
/// connection probes of each target, looked up by key.
struct Report<'a> {
    rows: Vec<Row<'a>>,
    findings: HashMap<String, Vec<&'a Finding>>,
    /// Each target's steps, with their place in the plan.
    steps: HashMap<String, Vec<(usize, &'a Step)>>,
    connections: HashMap<String, &'a Connection>,
    /// Each problem, with the number of rows that have it, most first.
    problems: Vec<(&'a str, usize)>,
}

impl<'a> Report<'a> {
    fn of(doc: &'a Document<'a>) -> Report<'a> {
        let mut findings: HashMap<String, Vec<&Finding>> = HashMap::new();
        for f in doc.findings {
            findings.entry(key(&f.target)).or_default().push(f);
        }
        let mut steps: HashMap<String, Vec<(usize, &Step)>> = HashMap::new();
        for (i, s) in doc.steps.iter().enumerate() {
            steps.entry(key(&s.target)).or_default().push((i, s));
        }
        let connections = doc
            .connections
            .iter()
            .map(|c| (key(&c.target), c))
            .collect();

        let mut rows = Vec::new();
        let local_ids = distinct(findings.get("local").into_iter().flatten().copied());
        if !local_ids.is_empty() || doc.target.split(',').any(|t| t == "local") {
            rows.push(Row {
                subject: Subject::Local,
                key: "local".into(),
                status: if local_ids.is_empty() {
                    Verdict::Healthy
                } else {
                    Verdict::Problems
                },
                ids: local_ids,
            });
        }
        for m in doc.machines {
            rows.push(Row {
                subject: Subject::Machine(m),
                key: m.id.key(),
                status: m.status,
                ids: m.findings.iter().map(String::as_str).collect(),
            });
        }
        // A target with findings that no row shows (a subscription's
        // finding with no machine of it among the verdicts): a row of its own.
        // (A row's own key found at once; the rows of a subscription's
        // finding looked for only among those that list its id.)
        let row_keys: std::collections::HashSet<String> =
            rows.iter().map(|r| r.key.clone()).collect();
        let mut others: Vec<&Target> = Vec::new();
        for f in doc.findings.iter().filter(|f| !f.target.is_local()) {
            let k = key(&f.target);
            let shown = row_keys.contains(&k)
                || rows.iter().any(|r| {
                    matches!(r.subject, Subject::Machine(_))
                        && r.ids.contains(&f.id.as_str())
                        && f.target.covers(&target_of(r))
                });
            if !shown && !others.iter().any(|t| key(t) == k) {
                others.push(&f.target);
            }
        }
        for t in others {
            let k = key(t);
            rows.push(Row {
                subject: Subject::Other(t),
                ids: distinct(findings.get(&k).into_iter().flatten().copied()),
                key: k,
                status: Verdict::Problems,
            });
        }

        let mut problems: Vec<(&str, usize)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for id in rows.iter().flat_map(|r| r.ids.iter().copied()) {
            match at.get(id) {
                Some(&i) => problems[i].1 += 1,
                None => {
                    at.insert(id, problems.len());
                    problems.push((id, 1));
                }
            }
        }
        problems.sort_by_key(|b| std::cmp::Reverse(b.1));
        Report {
            rows,
            findings,
            steps,
            connections,
            problems,
        }
    }

    /// The finding `id` of a row: on its target, on the subscription a
    /// machine is in, or on this machine (a client problem a machine's
    /// connection probe ran into).
    fn finding(&self, row: &Row, id: &str) -> Option<&'a Finding> {
        let mut keys = vec![row.key.clone()];
        if let Subject::Machine(m) = row.subject {
            keys.push(fold(&m.id.subscription_id()));
            keys.push("local".into());
        }
        keys.iter()
            .filter_map(|k| self.findings.get(k))
            .flatten()
            .find(|f| f.id == id)
            .copied()
    }

    /// The steps that fix `id` for a row: on the finding's target or the
    /// row's own, in the plan's order.
    fn steps_for(&self, row: &Row, finding: Option<&Finding>, id: &str) -> Vec<(usize, &'a Step)> {
        let mut keys = vec![row.key.clone()];
        if let Some(f) = finding {
            let k = key(&f.target);
            if k != row.key {
                keys.push(k);
            }
        }
        let mut found: Vec<(usize, &Step)> = keys
            .iter()
            .filter_map(|k| self.steps.get(k))
            .flatten()
            .filter(|(_, s)| s.fixes.iter().any(|x| x == id))
            .copied()
            .collect();
        found.sort_by_key(|(i, _)| *i);
        found
    }
}

/// The target of a row.
fn target_of(row: &Row) -> Target {
    match row.subject {
        Subject::Local => Target::Local,
        Subject::Machine(m) => Target::Machine(m.id.clone()),
        Subject::Other(t) => t.clone(),
    }
}

/// The findings' ids, each once, in order.
fn distinct<'a>(findings: impl Iterator<Item = &'a Finding>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = Vec::new();
    for f in findings {
        if !ids.contains(&f.id.as_str()) {
            ids.push(&f.id);
        }
    }
    ids
}

/// What the report is of, as its heading says it.
fn heading(command: &str) -> String {
    match command {
        "demo" => "arcfix demo (simulated)".to_string(),
        c => format!("arcfix {c}"),
    }
}

/// The scope line: fleet mode's, or what was named.
fn scope(doc: &Document, report: &Report) -> String {
    if let Some(s) = doc.scope {
        return s.clone();
    }
    let machines: Vec<&str> = report
        .rows
        .iter()
        .filter_map(|r| match r.subject {
            Subject::Machine(m) => Some(m.id.name.as_str()),
            _ => None,
        })
        .collect();
    let local = report
        .rows
        .iter()
        .any(|r| matches!(r.subject, Subject::Local));
    let named = match machines.len() {
        0 => String::new(),
        1..=3 => format!(
            "{}: {}",
            count(machines.len(), "Arc machine", "Arc machines"),
            machines.join(", ")
        ),
        n => count(n, "Arc machine", "Arc machines"),
    };
    match (local, named.is_empty()) {
        (true, true) => "This machine".to_string(),
        (true, false) => format!("This machine and {named}"),
        (false, _) => named,
    }
}

fn head(w: &mut dyn Write, command: &str, doc: &Document, report: &Report) -> io::Result<()> {
    writeln!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"generator\" content=\"arcfix {}\">\n\
         <title>{} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        csp(),
        esc(doc.arcfix_version),
        esc(&heading(command)),
        esc(&scope(doc, report)),
    )
}

/// The page's Content Security Policy: nothing loads from anywhere; the
/// inline style and the one script (by its hash) run.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
        sha256_base64(SCRIPT.as_bytes())
    )
}

/// SHA-256, from the TLS stack arcfix already carries (rustls's aws-lc-rs
/// provider), in base64 as CSP hashes are written.
fn sha256_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let digest = TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|s| s.common.hash_provider.hash(bytes));
    match digest {
        Some(d) => base64::engine::general_purpose::STANDARD.encode(d.as_ref()),
        // Never: the suite is TLS 1.3's. No hash, no script.
        None => String::new(),
    }
}

/// The scope line, the run's time and version, and the counts.
fn summary(w: &mut dyn Write, command: &str, doc: &Document, report: &Report) -> io::Result<()> {
    writeln!(
        w,
        "<header>\n<h1>{}</h1>\n<p class=\"scope\">{}</p>\n<p class=\"meta\">Run at <time datetime=\"{}\">{}</time> · arcfix {} · checked: {}</p>",
        esc(&heading(command)),
        esc(&scope(doc, report)),
        esc(doc.created),
        esc(&when(doc.created)),
        esc(doc.arcfix_version),
        if doc.checked.is_empty() {
            "nothing completely".to_string()
        } else {
            esc(&doc
                .checked
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", "))
        },
    )?;
    let by = |v: Verdict| report.rows.iter().filter(|r| r.status == v).count();
    let mut tiles = vec![(
        report.rows.len(),
        if report.rows.len() == 1 {
            "machine"
        } else {
            "machines"
        },
        "",
    )];
    for (v, word, class) in [
        (Verdict::Problems, "with problems", "problems"),
        (Verdict::Error, "could not be checked", "error"),
        (Verdict::Healthy, "healthy", "healthy"),
    ] {
        let n = by(v);
        if n > 0 || v == Verdict::Problems {
            tiles.push((n, word, class));
        }
    }
    let auto = doc.steps.iter().filter(|s| s.automatic).count();
    let steps_said = format!(
        "{} ({auto} automatic)",
        if doc.steps.len() == 1 {
            "step"
        } else {
            "steps"
        }
    );
    let statuses: Vec<(usize, &str, &str)> = [
        (Status::Applied, "applied", "healthy"),
        (Status::Failed, "failed", "problems"),
    ]
    .into_iter()
    .map(|(s, word, class)| {
        (
            doc.steps.iter().filter(|x| x.status == s).count(),
            word,
            class,
        )
    })
    .filter(|(n, _, _)| *n > 0)
    .collect();
    writeln!(w, "<ul class=\"tiles\">")?;
    for (n, word, class) in &tiles {
        writeln!(
            w,
            "<li class=\"{class}\"><b>{}</b>{word}</li>",
            crate::checks::fleet::thousands(*n)
        )?;
    }
    writeln!(
        w,
        "<li><b>{}</b>{steps_said}</li>",
        crate::checks::fleet::thousands(doc.steps.len())
    )?;
    if doc.dry_run == Some(false) {
        for (n, word, class) in statuses {
            writeln!(
                w,
                "<li class=\"{class}\"><b>{}</b>{word}</li>",
                crate::checks::fleet::thousands(n)
            )?;
        }
    }
    writeln!(w, "</ul>")?;
    match doc.dry_run {
        Some(true) => writeln!(w, "<p class=\"said\">Dry run: nothing was changed.</p>")?,
        Some(false) => writeln!(
            w,
            "<p class=\"said\">Each step's status is how it ended in this apply.</p>"
        )?,
        None => {}
    }
    if let Some(path) = doc.journal {
        writeln!(
            w,
            "<p class=\"said\">Changes recorded in the journal <code>{}</code></p>",
            esc(&path.display().to_string())
        )?;
    }
    writeln!(w, "</header>")
}

/// Problems by number of machines: a bar each, most first; each links to
/// the table filtered to it.
fn chart(w: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(
        w,
        "<section id=\"problems\">\n<h2>Problems by number of machines</h2>"
    )?;
    if report.problems.is_empty() {
        return writeln!(w, "<p class=\"none\">No problems found.</p>\n</section>");
    }
    let total = report.rows.len().max(1);
    let widest = report.problems.first().map_or(1, |p| p.1).max(1);
    writeln!(w, "<ol class=\"chart\">")?;
    for (id, n) in &report.problems {
        let title = report
            .findings
            .values()
            .flatten()
            .find(|f| f.id == *id)
            .map(|f| f.title.as_str())
            .unwrap_or_default();
        writeln!(
            w,
            "<li><a href=\"#problem={}\"><code>{}</code><span class=\"title\">{}</span></a>\
             <span class=\"track\"><span class=\"bar\" style=\"width:{:.1}%\"></span></span>\
             <span class=\"n\">{} of {}</span></li>",
            esc(&fragment_value(id)),
            esc(id),
            esc(title),
            *n as f64 * 100.0 / widest as f64,
            crate::checks::fleet::thousands(*n),
            crate::checks::fleet::thousands(total),
        )?;
    }
    writeln!(w, "</ol>\n</section>")
}

/// The sort orders of the table, as the select offers them (the script
/// reads the same keys from the headers' `data-key`).
const SORTS: &[(&str, &str)] = &[
    ("", "as found"),
    ("-problems", "most problems first"),
    ("status", "worst status first"),
    ("name", "name A–Z"),
    ("-name", "name Z–A"),
    ("group", "resource group A–Z"),
    ("-group", "resource group Z–A"),
    ("subscription", "subscription A–Z"),
    ("-subscription", "subscription Z–A"),
    ("-status", "healthy first"),
    ("problems", "fewest problems first"),
];

/// The table of machines with their findings, each finding's fix
/// commands, and the controls that sort and filter it (shown by the script).
fn machines(w: &mut dyn Write, doc: &Document, report: &Report) -> io::Result<()> {
    writeln!(w, "<section id=\"targets\">\n<h2>Machines</h2>")?;
    writeln!(
        w,
        "<div class=\"controls\" role=\"search\">\
         <label>Filter <input id=\"q\" type=\"search\" placeholder=\"name, group, problem, command…\"></label>\
         <label>Status <select id=\"status\"><option value=\"\">all</option>\
         <option value=\"problems\">with problems</option>\
         <option value=\"error\">could not be checked</option>\
         <option value=\"healthy\">healthy</option></select></label>\
         <label>Problem <select id=\"problem\"><option value=\"\">any</option>"
    )?;
    for (id, n) in &report.problems {
        writeln!(
            w,
            "<option value=\"{}\">{} ({})</option>",
            esc(id),
            esc(id),
            crate::checks::fleet::thousands(*n)
        )?;
    }
    writeln!(w, "</select></label><label>Sort <select id=\"sort\">")?;
    for (k, said) in SORTS {
        writeln!(w, "<option value=\"{k}\">{said}</option>")?;
    }
    writeln!(
        w,
        "</select></label><output id=\"shown\" aria-live=\"polite\"></output></div>"
    )?;
    writeln!(
        w,
        "<table id=\"machines\">\n<thead><tr>\
         <th data-key=\"name\" aria-sort=\"none\"><button type=\"button\">Machine</button></th>\
         <th data-key=\"group\" aria-sort=\"none\"><button type=\"button\">Resource group</button></th>\
         <th data-key=\"subscription\" aria-sort=\"none\"><button type=\"button\">Subscription</button></th>\
         <th data-key=\"status\" aria-sort=\"none\"><button type=\"button\">Status</button></th>\
         <th data-key=\"problems\" aria-sort=\"none\" class=\"num\"><button type=\"button\">Problems</button></th>\
         <th>Findings and fixes</th></tr></thead>\n<tbody>"
    )?;
    let apply = doc.dry_run == Some(false);
    let mut line = String::new();
    for row in &report.rows {
        line.clear();
        row_html(&mut line, row, report, apply);
        w.write_all(line.as_bytes())?;
    }
    writeln!(w, "</tbody>\n</table>\n</section>")
}

/// One row of the table.
fn row_html(out: &mut String, row: &Row, report: &Report, apply: bool) {
    let (name, group, subscription, full) = match row.subject {
        Subject::Local => ("this machine".to_string(), "", "", "local".to_string()),
        Subject::Machine(m) => (
            m.id.name.clone(),
            m.id.resource_group.as_str(),
            m.id.subscription.as_str(),
            m.id.to_string(),
        ),
        Subject::Other(t) => (t.short(), "", "", t.to_string()),
    };
    let subscription = match row.subject {
        Subject::Other(Target::Subscription(s)) => s.as_str(),
        _ => subscription,
    };
    let (status, rank) = match row.status {
        Verdict::Error => ("error", 0),
        Verdict::Problems => ("problems", 1),
        Verdict::Healthy => ("healthy", 2),
    };
    let said = match row.status {
        Verdict::Error => "could not be checked",
        Verdict::Problems => "problems",
        Verdict::Healthy => "healthy",
    };
    let _ = write!(
        out,
        "<tr data-status=\"{status}\" data-problems=\"{}\">\
         <td data-label=\"Machine\" title=\"{}\"><strong>{}</strong></td>\
         <td data-label=\"Resource group\">{}</td>\
         <td data-label=\"Subscription\" class=\"sub\">{}</td>\
         <td data-label=\"Status\" data-v=\"{rank}\"><span class=\"badge {status}\">{said}</span></td>\
         <td data-label=\"Problems\" data-v=\"{}\" class=\"num\">{}</td><td class=\"findings\">",
        esc(&row.ids.join(" ")),
        esc(&full),
        esc(&name),
        esc(group),
        esc(subscription),
        row.ids.len(),
        row.ids.len(),
    );
    if let Subject::Machine(m) = row.subject
        && let Some(e) = &m.error
    {
        let _ = write!(out, "<p class=\"error\">Not checked: {}</p>", esc(e));
    }
    if !row.ids.is_empty() {
        out.push_str("<ul>");
    }
    for id in &row.ids {
        let finding = report.finding(row, id);
        let _ = write!(out, "<li><code class=\"pid\">{}</code>", esc(id));
        if let Some(f) = finding {
            let fix = match f.fix {
                FixKind::Auto => "auto",
                FixKind::Manual => "manual",
            };
            let _ = write!(
                out,
                " <span class=\"fix {fix}\">{fix}</span> {}",
                esc(&f.title)
            );
            if f.target.is_local() && !matches!(row.subject, Subject::Local) {
                // Said in full, with its fix, in this machine's own row.
                out.push_str(" <span class=\"where\">(on this machine: see its row)</span></li>");
                continue;
            }
            if let (Target::Subscription(_), Subject::Machine(_)) = (&f.target, &row.subject) {
                out.push_str(" <span class=\"where\">(its subscription)</span>");
            }
            let _ = write!(out, "<div class=\"evidence\">{}</div>", esc(&f.evidence));
        }
        for (_, s) in report.steps_for(row, finding, id) {
            step_html(out, s, apply);
        }
        out.push_str("</li>");
    }
    if !row.ids.is_empty() {
        out.push_str("</ul>");
    }
    if let Some(c) = report.connections.get(&row.key) {
        if c.ok {
            let _ = write!(
                out,
                "<p class=\"conn ok\">Connection: reached sshd{}</p>",
                c.banner
                    .as_deref()
                    .map(|b| format!(" (<code>{}</code>)", esc(b)))
                    .unwrap_or_default()
            );
        } else {
            let _ = write!(
                out,
                "<p class=\"conn\">Connection failed at the {} stage: {}</p>",
                crate::plan::stage_name(c.stage),
                esc(&c.evidence)
            );
        }
    }
    out.push_str("</td></tr>\n");
}

/// A step: what it does, the command a person would type, and (after an
/// apply) how it ended.
fn step_html(out: &mut String, s: &Step, apply: bool) {
    let kind = if s.automatic { "auto" } else { "manual" };
    let _ = write!(out, "<div class=\"step\">");
    if apply {
        let (status, class) = match s.status {
            Status::Planned => ("planned", ""),
            Status::Applied => ("✓ applied", "healthy"),
            Status::AlreadySatisfied => ("✓ already satisfied", "healthy"),
            Status::Failed => ("✗ failed", "problems"),
            Status::Manual => ("manual", "error"),
            Status::Skipped => ("skipped", "error"),
            Status::NotNeeded => ("not needed", ""),
        };
        let _ = write!(out, "<span class=\"badge {class}\">{status}</span> ");
    }
    let _ = write!(
        out,
        "<span class=\"fix {kind}\">{kind}</span> {}",
        esc(&s.description)
    );
    if !s.needs.is_empty() {
        let _ = write!(
            out,
            " <span class=\"where\">(needs {})</span>",
            esc(&s.needs.join(", "))
        );
    }
    let _ = write!(out, "<code class=\"cmd\">{}</code>", esc(&s.command));
    if let Some(e) = &s.error {
        let _ = write!(out, "<p class=\"error\">{}</p>", esc(e));
    }
    out.push_str("</div>");
}

/// Steps no row shows (none fixes a finding a row lists).
fn other_steps(w: &mut dyn Write, doc: &Document, report: &Report) -> io::Result<()> {
    let mut shown = vec![false; doc.steps.len()];
    for row in &report.rows {
        for id in &row.ids {
            for (i, _) in report.steps_for(row, report.finding(row, id), id) {
                shown[i] = true;
            }
        }
    }
    let rest: Vec<&Step> = doc
        .steps
        .iter()
        .zip(&shown)
        .filter(|(_, shown)| !**shown)
        .map(|(s, _)| s)
        .collect();
    if rest.is_empty() {
        return Ok(());
    }
    writeln!(w, "<section id=\"steps\">\n<h2>Other steps</h2>\n<ul>")?;
    let apply = doc.dry_run == Some(false);
    for s in rest {
        let mut line = format!("<li><strong>{}</strong> ", esc(&s.target.short()));
        step_html(&mut line, s, apply);
        line.push_str("</li>\n");
        w.write_all(line.as_bytes())?;
    }
    writeln!(w, "</ul>\n</section>")
}

/// What was not checked, and why; a read that failed is marked.
fn not_checked(w: &mut dyn Write, doc: &Document) -> io::Result<()> {
    writeln!(w, "<section id=\"not-checked\">\n<h2>Not checked</h2>")?;
    if doc.not_checked.is_empty() {
        return writeln!(
            w,
            "<p class=\"none\">Every side chosen was checked.</p>\n</section>"
        );
    }
    writeln!(w, "<ul>")?;
    for n in doc.not_checked {
        writeln!(
            w,
            "<li>{}<strong>{}</strong>: {}</li>",
            if n.error {
                "<span class=\"badge error\">could not be read</span> "
            } else {
                ""
            },
            n.side.name(),
            esc(&n.reason)
        )?;
    }
    writeln!(w, "</ul>\n</section>")
}

fn notes(w: &mut dyn Write, doc: &Document) -> io::Result<()> {
    if doc.notes.is_empty() {
        return Ok(());
    }
    writeln!(w, "<section id=\"notes\">\n<h2>Notes</h2>\n<ul>")?;
    for n in doc.notes {
        writeln!(w, "<li>{}</li>", esc(n))?;
    }
    writeln!(w, "</ul>\n</section>")
}

/// The page's style: calm, readable, light and dark, and for print.
const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#f7f7f5;--fg:#1f2328;--muted:#5b6470;--line:#dcdfe3;--card:#fff;--accent:#245f8f;--bad:#a42a1c;--bad-bg:#fbe9e6;--ok:#1d6b35;--ok-bg:#e4f3e8;--warn:#80580a;--warn-bg:#fbf0d4;--bar:#d0673a;--track:#eceae6;--code:#f1f2f4}
@media (prefers-color-scheme:dark){:root{--bg:#14171b;--fg:#e3e6ea;--muted:#9aa3ae;--line:#2e343b;--card:#1b1f24;--accent:#8cc2f0;--bad:#ff9b8f;--bad-bg:#3b201d;--ok:#86d9a0;--ok-bg:#18311f;--warn:#f0cd72;--warn-bg:#372d14;--bar:#e8895c;--track:#272c33;--code:#242a31}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 20px 40px}
h1{font-size:1.45rem;margin:0 0 2px;font-weight:650}
h2{font-size:1.05rem;margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line);font-weight:650}
code{font-family:ui-monospace,"SF Mono",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.86em;overflow-wrap:anywhere}
.scope{font-size:1.08rem;margin:0}
.meta,.said,.none,footer{color:var(--muted);font-size:.9rem}
.meta{margin:4px 0 0}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:18px 0 8px;padding:0;list-style:none}
.tiles li{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:118px;color:var(--muted);font-size:.88rem}
.tiles b{display:block;font-size:1.35rem;color:var(--fg);font-weight:650}
.tiles .problems b{color:var(--bad)}.tiles .healthy b{color:var(--ok)}.tiles .error b{color:var(--warn)}
.chart{list-style:none;margin:0;padding:0}
.chart li{display:grid;grid-template-columns:minmax(0,2fr) minmax(80px,3fr) 6.5em;gap:2px 14px;align-items:center;margin-bottom:8px}
.chart a{color:inherit;text-decoration:none;min-width:0}
.chart a:hover code,.chart a:focus code{text-decoration:underline}
.chart .title{display:block;color:var(--muted);font-size:.82rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.track{display:block;height:12px;background:var(--track);border-radius:6px;overflow:hidden}
.bar{display:block;height:100%;min-width:3px;background:var(--bar);border-radius:6px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.n{font-variant-numeric:tabular-nums;color:var(--muted);font-size:.88rem;white-space:nowrap;text-align:right}
.controls{display:none;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:0 0 12px;font-size:.9rem;color:var(--muted)}
.js .controls{display:flex}
.controls input,.controls select{font:inherit;color:var(--fg);background:var(--card);border:1px solid var(--line);border-radius:6px;padding:4px 8px;margin-left:4px}
.controls input{width:16em}
#shown{margin-left:auto}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px}
th,td{text-align:left;vertical-align:top;padding:8px 10px;border-bottom:1px solid var(--line)}
th{font-size:.85rem;color:var(--muted);font-weight:600;white-space:nowrap}
th button{all:unset;cursor:pointer}
th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" ▲"}
th[aria-sort=descending] button::after{content:" ▼"}
tr[hidden]{display:none!important}
.num{text-align:right;font-variant-numeric:tabular-nums}
.sub{font-family:ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.78rem;color:var(--muted);overflow-wrap:anywhere;max-width:11em}
.findings{min-width:18em}
.findings ul{margin:0;padding:0;list-style:none}
.findings li+li{margin-top:10px}
.pid{font-weight:600}
.evidence{color:var(--muted);font-size:.88rem;overflow-wrap:anywhere}
.step{margin-top:4px;font-size:.9rem}
.cmd{display:block;margin-top:2px;padding:4px 8px;background:var(--code);border-radius:5px;white-space:pre-wrap}
.cmd::before{content:"$ ";color:var(--muted)}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:.8rem;font-weight:600;white-space:nowrap;background:var(--code)}
.badge.problems{background:var(--bad-bg);color:var(--bad)}
.badge.healthy{background:var(--ok-bg);color:var(--ok)}
.badge.error{background:var(--warn-bg);color:var(--warn)}
.fix{font-size:.72rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 4px}
.where{color:var(--muted);font-size:.85rem}
p.error{color:var(--warn);margin:0 0 4px}
.conn{margin:6px 0 0;font-size:.88rem;color:var(--muted)}
.conn.ok{color:var(--ok)}
section ul{padding-left:1.2em}
#not-checked li,#notes li,#steps li{margin-bottom:6px;overflow-wrap:anywhere}
footer{margin-top:36px;border-top:1px solid var(--line);padding-top:10px}
@media (max-width:760px){
main{padding:18px 12px 32px}
.chart li{grid-template-columns:minmax(0,1fr) auto}
.chart .track{grid-column:1/-1;grid-row:2}
td:empty{display:none}
table,thead,tbody,tr,td{display:block}
thead{display:none}
tr{border-bottom:1px solid var(--line);padding:8px 0}
td{border:0;padding:2px 12px}
td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.82rem}
.num{text-align:left}
.sub{max-width:none}
.controls input{width:100%;margin:4px 0 0}
.controls label{flex:1 1 100%}
#shown{margin-left:0}
}
@media print{
:root{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--card:#fff;--code:#f3f3f3;--track:#eee}
body{font-size:11pt}
main{max-width:none;padding:0}
.controls{display:none!important}
tr{break-inside:avoid}
a{color:inherit;text-decoration:none}
th button::after{content:""!important}
}
"#;

/// Sorts and filters the table (state in the page's fragment, e.g.
/// `#problem=ssh-port-not-enabled&sort=-problems`, so a view can be
/// shared); reads nothing but the page. Allowed by its hash (`csp`).
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var table = document.getElementById("machines");
  if (!table) return;
  document.documentElement.className = "js";
  var body = table.tBodies[0], order = [].slice.call(body.rows), placed = "";
  var heads = [].slice.call(table.tHead.rows[0].cells);
  var q = document.getElementById("q"), status = document.getElementById("status");
  var problem = document.getElementById("problem"), sort = document.getElementById("sort");
  var shown = document.getElementById("shown");
  function value(row, col) {
    var cell = row.cells[col];
    return cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
  }
  function render() {
    var key = sort.value, desc = key.charAt(0) === "-", name = desc ? key.slice(1) : key, col = -1;
    heads.forEach(function (h, i) {
      if (!h.hasAttribute("data-key")) return;
      var on = name !== "" && h.getAttribute("data-key") === name;
      if (on) col = i;
      h.setAttribute("aria-sort", on ? (desc ? "descending" : "ascending") : "none");
    });
    var rows = order;
    if (col >= 0) {
      rows = order.slice().sort(function (a, b) {
        var x = value(a, col), y = value(b, col), c;
        if (x !== "" && y !== "" && isFinite(x) && isFinite(y)) c = x - y;
        else c = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
        return desc ? -c : c;
      });
    }
    var text = q.value.trim().toLowerCase(), want = status.value, p = problem.value, n = 0;
    rows.forEach(function (row) {
      var ok = (!want || row.getAttribute("data-status") === want) &&
        (!p || (" " + row.getAttribute("data-problems") + " ").indexOf(" " + p + " ") >= 0) &&
        (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) n++;
    });
    if (placed !== key) {
      rows.forEach(function (row) { body.appendChild(row); });
      placed = key;
    }
    shown.textContent = n === order.length ? "showing all " + n : "showing " + n + " of " + order.length;
  }
  function choose(select, v) {
    select.value = v;
    if (select.value !== v) select.value = "";
  }
  function fromFragment() {
    var h = new URLSearchParams(location.hash.slice(1));
    q.value = h.get("q") || "";
    choose(status, h.get("status") || "");
    choose(problem, h.get("problem") || "");
    choose(sort, h.get("sort") || "");
    render();
  }
  function toFragment() {
    var h = new URLSearchParams();
    if (q.value) h.set("q", q.value);
    if (status.value) h.set("status", status.value);
    if (problem.value) h.set("problem", problem.value);
    if (sort.value) h.set("sort", sort.value);
    try { history.replaceState(null, "", "#" + h.toString()); } catch (e) { }
    render();
  }
  heads.forEach(function (h) {
    var b = h.querySelector("button");
    if (!b) return;
    b.addEventListener("click", function () {
      var k = h.getAttribute("data-key");
      choose(sort, sort.value === k ? "-" + k : k);
      toFragment();
    });
  });
  [q, status, problem, sort].forEach(function (el) { el.addEventListener("input", toFragment); });
  window.addEventListener("hashchange", fromFragment);
  fromFragment();
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_inert_in_html() {
        assert_eq!(
            esc("<script>alert(\"x\")</script> & 'q'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        );
        assert_eq!(esc("a\u{1b}[31mred\nb"), "a\\u{1b}[31mred\\nb");
        assert_eq!(esc("\u{202e}cod.exe"), "\\u{202e}cod.exe");
    }

    #[test]
    fn a_fragment_value_is_read_back_as_written() {
        assert_eq!(
            fragment_value("ssh-port-not-enabled"),
            "ssh-port-not-enabled"
        );
        assert_eq!(fragment_value("a b&c=\"<"), "a%20b%26c%3D%22%3C");
    }

    #[test]
    fn the_run_time_is_said_in_utc() {
        assert_eq!(
            when("2026-12-07T13:31:45.73+01:00"),
            "2026-12-07 12:31:45 UTC"
        );
        assert_eq!(when("yesterday"), "yesterday");
    }

    #[test]
    fn the_policy_allows_only_the_page_s_own_script() {
        assert_eq!(
            sha256_base64(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(
            csp(),
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
                sha256_base64(SCRIPT.as_bytes())
            )
        );
    }
}
