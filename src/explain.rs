//! Error text -> known problems: matches a pasted log against the catalogue's
//! patterns and renders the matches with their fixes.
//!
//! The log is normalised once into a single haystack (ANSI codes stripped,
//! lines trimmed and joined without separators so wrapped messages read as
//! one, JSON log lines also decoded), then one `RegexSet` pass says which
//! patterns hit; only those are searched again, for the evidence.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

use console::Style;
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Serialize;
use serde_json::{Value, json};

use crate::catalogue;
use crate::text::sanitize;

/// The known problems (`plans/`), parsed on first use: what `explain` matches
/// against (the benches time the parse apart).
pub use crate::catalogue::all as problems;

/// The schema of `explain -o json` and `rules -o json`.
const SCHEMA_VERSION: u32 = 1;

/// Longest evidence, in characters.
const EVIDENCE_CHARS: usize = 200;

/// Extra score per additional distinct pattern of the same problem, and its cap:
/// more evidence ranks higher, but never lifts a generic hit above a specific one.
const BONUS_PER_HIT: u32 = 1;
const BONUS_CAP: u32 = 5;

/// One known problem that the text points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub id: String,
    pub title: String,
    pub fix: String,
    pub commands: Vec<String>,
    /// False for a known failure that is none of arcfix's own problems.
    pub known: bool,
    /// The best pattern weight, plus a small bonus per further pattern hit.
    pub score: u32,
    /// The first line showing the best pattern, trimmed, at most ~200 characters.
    pub evidence: String,
}

/// Text from standard input as administrators save it: UTF-8 (with or without
/// a byte-order mark), or UTF-16 with its byte-order mark (what Windows
/// PowerShell 5.1 writes with `>`). Anything else is a one-line error.
pub fn decode_input(bytes: &[u8]) -> crate::error::Result<String> {
    let utf16 = |rest: &[u8], le: bool| -> crate::error::Result<String> {
        if !rest.len().is_multiple_of(2) {
            return Err(crate::error::Error::input(
                "standard input looks like UTF-16 but has an odd number of bytes",
            ));
        }
        let units = rest.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|e| {
                crate::error::Error::input(format!("standard input is not valid UTF-16 text ({e})"))
            })
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => decode_utf8(rest, 3),
        _ => decode_utf8(bytes, 0),
    }
}

fn decode_utf8(bytes: &[u8], offset: usize) -> crate::error::Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        crate::error::Error::input(format!(
            "standard input is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to() + offset
        ))
    })
}

/// Explains a whole pasted log: the known problems it shows, most specific first.
pub fn explain(text: &str) -> Vec<Match> {
    let matcher = matcher();
    // Secrets are masked before anything is matched or quoted: no `seen:`
    // excerpt and no JSON can hold one.
    let hay = Haystack::new(&crate::redact::redact(text, &[]));
    let hits = matcher.set.matches(&hay.text);
    if !hits.matched_any() {
        return Vec::new();
    }
    let problems = catalogue::all();
    // Per problem: (hit count, index of the heaviest pattern hit).
    let mut found: Vec<Option<(u32, usize)>> = vec![None; problems.len()];
    for i in hits.iter() {
        let (p, q) = matcher.owners[i];
        let weight = problems[p].patterns[q].weight;
        found[p] = Some(match found[p] {
            None => (1, q),
            Some((n, best)) if problems[p].patterns[best].weight >= weight => (n + 1, best),
            Some((n, _)) => (n + 1, q),
        });
    }
    let mut matches: Vec<Match> = found
        .iter()
        .enumerate()
        .filter_map(|(p, f)| f.map(|(n, best)| (&problems[p], n, best)))
        .map(|(problem, n, best)| {
            let pattern = &problem.patterns[best];
            let evidence = pattern
                .regex()
                .find(&hay.text)
                // Again on the excerpt: decoded JSON strings may have shown more.
                .map(|m| crate::redact::redact(&hay.evidence(m.start()), &[]))
                .unwrap_or_default();
            Match {
                id: problem.id.clone(),
                title: problem.title.clone(),
                fix: problem.fix.clone(),
                commands: problem.commands.clone(),
                known: problem.known,
                score: pattern.weight + ((n - 1) * BONUS_PER_HIT).min(BONUS_CAP),
                evidence,
            }
        })
        .collect();
    matches.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    matches
}

/// All catalogue patterns in one set, built once.
struct Matcher {
    set: RegexSet,
    /// For each pattern of the set: (problem index, pattern index in the problem).
    owners: Vec<(usize, usize)>,
}

fn matcher() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut sources = Vec::new();
        let mut owners = Vec::new();
        for (p, problem) in catalogue::all().iter().enumerate() {
            for (q, pattern) in problem.patterns.iter().enumerate() {
                // The compiled pattern already carries `(?i)` and the loosened spaces.
                sources.push(pattern.matcher.clone());
                owners.push((p, q));
            }
        }
        // Generous limits: the lazy DFA of ~150 case-insensitive patterns is
        // large, and a cache that keeps being cleared would fall back to the
        // much slower NFA on big logs.
        let set = RegexSetBuilder::new(&sources)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .expect("catalogue patterns compile (tested)");
        Matcher { set, owners }
    })
}

/// CSI and OSC sequences and the two-byte escapes: everything `ls --color`,
/// az, pwsh and ssh put in a terminal log.
fn ansi() -> &'static Regex {
    static ANSI: OnceLock<Regex> = OnceLock::new();
    ANSI.get_or_init(|| {
        Regex::new(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
            .expect("ANSI pattern")
    })
}

/// The normalised text that patterns run on, and where each input line went.
struct Haystack {
    /// Lines trimmed, inner whitespace folded to one space, joined without a
    /// separator; `\n` only where a message certainly ends (blank line, JSON record).
    text: String,
    /// The span of each line (or decoded JSON string) in `text`, in order.
    pieces: Vec<Range<usize>>,
}

impl Haystack {
    fn new(input: &str) -> Haystack {
        let input: Cow<str> = if input.contains('\x1b') {
            ansi().replace_all(input, "")
        } else {
            Cow::Borrowed(input)
        };
        let mut hay = Haystack {
            text: String::with_capacity(input.len() + 64),
            pieces: Vec::new(),
        };
        for line in input.split('\n') {
            // `trim` also drops the `\r` of CRLF.
            let line = strip_gutter(line.trim());
            if line.is_empty() {
                hay.end_message();
            } else if let Some(record) = json_record(line) {
                hay.end_message();
                // Escapes such as `\u003e` or `\"` hide the message text: match
                // the decoded strings too, first, so the evidence is readable.
                if record.contains('\\')
                    && let Ok(value) = serde_json::from_str::<Value>(record)
                {
                    let mut strings = Vec::new();
                    json_strings(&value, &mut strings);
                    for s in strings {
                        hay.push(s);
                        hay.end_message();
                    }
                }
                hay.push(line);
                hay.end_message();
            } else {
                hay.push(line);
            }
        }
        hay
    }

    /// Appends a line with its whitespace runs folded to one space.
    fn push(&mut self, line: &str) {
        let start = self.text.len();
        let mut space = false;
        for c in line.trim().chars() {
            if c.is_whitespace() {
                space = true;
            } else {
                if space {
                    self.text.push(' ');
                    space = false;
                }
                self.text.push(c);
            }
        }
        if self.text.len() > start {
            self.pieces.push(start..self.text.len());
        }
    }

    fn end_message(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    /// The line holding byte `at` of `text`, cut to a window around `at` when long.
    fn evidence(&self, at: usize) -> String {
        let i = self.pieces.partition_point(|r| r.end <= at);
        let Some(piece) = self.pieces.get(i) else {
            return String::new();
        };
        let line = &self.text[piece.clone()];
        if line.chars().count() <= EVIDENCE_CHARS {
            return line.to_string();
        }
        // Start a little before the match so its context shows.
        let offset = at.saturating_sub(piece.start);
        let mut start = offset.saturating_sub(60);
        while !line.is_char_boundary(start) {
            start -= 1;
        }
        let window: String = line[start..].chars().take(EVIDENCE_CHARS).collect();
        let cut_end = start + window.len() < line.len();
        format!(
            "{}{}{}",
            if start > 0 { "…" } else { "" },
            window,
            if cut_end { "…" } else { "" }
        )
    }
}

/// Drops PowerShell 7's error-view gutter (`   2 |  Enter-AzVM …`, `     | message`),
/// which it puts in front of every wrapped line of a message.
fn strip_gutter(line: &str) -> &str {
    let rest = line
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    match rest.strip_prefix('|') {
        Some(message) => message.trim_start(),
        None => line,
    }
}

/// The JSON object a log line is or ends with (`{"level":…}`, `ERROR: {…}`).
fn json_record(line: &str) -> Option<&str> {
    if !line.ends_with('}') {
        return None;
    }
    let start = if line.starts_with('{') {
        0
    } else {
        line.find("{\"")?
    };
    Some(&line[start..])
}

/// Every string value in a JSON document (the `msg` of a log record, among others).
fn json_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// Colour, only when asked for: the caller decided (flag, `NO_COLOR`, terminal).
struct Paint {
    color: bool,
}

impl Paint {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }
}

/// Wraps `text` at `width` columns, continuation lines indented by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut column = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if column > 0 && column + 1 + len > width {
            out.push('\n');
            out.push_str(indent);
            column = 0;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
    }
    out
}

/// Human output of `arcfix explain`.
pub fn render_text(matches: &[Match], color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    if matches.is_empty() {
        out.push_str("No known problem matches this text.\n");
        out.push_str("Run `arcfix rules` to list the known problems, or `arcfix check` to examine the machine itself.\n");
        return out;
    }
    let n = matches.len();
    let _ = writeln!(
        out,
        "{n} known problem{} match{}, most specific first.",
        if n == 1 { "" } else { "s" },
        if n == 1 { "es" } else { "" }
    );
    const INDENT: &str = "              ";
    for (i, m) in matches.iter().enumerate() {
        out.push('\n');
        let _ = writeln!(
            out,
            "{} {}: {}",
            paint.paint(Style::new().dim(), &format!("{}.", i + 1)),
            paint.paint(Style::new().bold().cyan(), &m.id),
            paint.paint(Style::new().bold(), &m.title)
        );
        if !m.known {
            let note = "a known failure, but not one of the problems arcfix fixes: follow the fix by hand.";
            let _ = writeln!(
                out,
                "   {}{}",
                paint.paint(Style::new().dim(), "note:      "),
                paint.paint(Style::new().yellow(), &wrap(note, 76, INDENT))
            );
        }
        if !m.evidence.is_empty() {
            let _ = writeln!(
                out,
                "   {}{}",
                paint.paint(Style::new().dim(), "seen:      "),
                wrap(&sanitize(&m.evidence), 76, INDENT)
            );
        }
        let _ = writeln!(
            out,
            "   {}{}",
            paint.paint(Style::new().dim(), "fix:       "),
            wrap(&m.fix, 76, INDENT)
        );
        if !m.commands.is_empty() {
            let _ = writeln!(out, "   {}", paint.paint(Style::new().dim(), "commands:"));
            for c in &m.commands {
                let _ = writeln!(out, "     {}", paint.paint(Style::new().green(), c));
            }
        }
        if let Some(problem) = catalogue::get(&m.id) {
            let _ = writeln!(
                out,
                "   {}{}",
                paint.paint(Style::new().dim(), "arcfix:    "),
                wrap(&problem.auto, 76, INDENT)
            );
        }
    }
    out
}

/// `explain -o json`: the contract's shape, plus `known`, `score` and `evidence`.
pub fn render_json(matches: &[Match]) -> Value {
    json!({ "schema_version": SCHEMA_VERSION, "matches": matches })
}

/// Human output of `arcfix rules`: id, how it is fixed, title, and the one-line how.
pub fn render_rules(color: bool) -> String {
    let paint = Paint { color };
    let problems = catalogue::all();
    let width = problems.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    // The known problems first, then the failures arcfix only explains.
    let groups = [
        (
            true,
            "Known problems: arcfix check finds them, arcfix apply fixes what it can.",
        ),
        (
            false,
            "Other known failures: arcfix explain recognises them; fix them by hand.",
        ),
    ];
    for (g, (known, heading)) in groups.into_iter().enumerate() {
        if g > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}\n", paint.paint(Style::new().bold(), heading));
        for p in problems.iter().filter(|p| p.known == known) {
            let kind = if p.automatic { "auto" } else { "manual" };
            let kind_style = if p.automatic {
                Style::new().green()
            } else {
                Style::new().yellow()
            };
            let _ = writeln!(
                out,
                "  {}  {}  {}",
                paint.paint(Style::new().bold().cyan(), &format!("{:<width$}", p.id)),
                paint.paint(kind_style, &format!("{kind:<6}")),
                p.title
            );
            let indent = " ".repeat(width + 12);
            let auto = wrap(
                &p.auto,
                100usize.saturating_sub(indent.len()).max(40),
                &indent,
            );
            let _ = writeln!(out, "{indent}{}", paint.paint(Style::new().dim(), &auto));
        }
    }
    out
}

/// `rules -o json`.
pub fn rules_json() -> Value {
    let rules: Vec<Value> = catalogue::all()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "title": p.title,
                "section": p.section,
                "side": p.side.as_str(),
                "fix": p.fix,
                "commands": p.commands,
                "auto": p.auto,
                "known": p.known,
                "automatic": p.automatic,
            })
        })
        .collect();
    json!({ "schema_version": SCHEMA_VERSION, "rules": rules })
}

#[cfg(test)]
mod tests {
    use super::{explain, render_json, render_rules, render_text, rules_json, strip_gutter};
    use crate::catalogue;

    fn ids(text: &str) -> Vec<String> {
        explain(text).into_iter().map(|m| m.id).collect()
    }

    #[test]
    fn ansi_colours_and_crlf_are_ignored() {
        let log = "debug1: Reading configuration data /etc/ssh/ssh_config\r\n\
                   \x1b[31mERROR: Request for Azure Relay Information Failed: (\x1b[1mNoRegistered\x1b[0m\x1b[31mProviderFound) Code: NoRegisteredProviderFound\x1b[0m\r\n\
                   debug1: done\r\n";
        let matches = explain(log);
        assert_eq!(matches[0].id, "rp-not-registered");
        assert!(
            !matches[0].evidence.contains('\x1b'),
            "{:?}",
            matches[0].evidence
        );
        assert!(
            !matches[0].evidence.contains('\r'),
            "{:?}",
            matches[0].evidence
        );
        assert!(
            matches[0]
                .evidence
                .starts_with("ERROR: Request for Azure Relay"),
            "{:?}",
            matches[0].evidence
        );
        // A terminal-title sequence cut short must not swallow the next line.
        let cut = "\x1b]0;user@host: ~\nERROR: Please run 'az login' to setup account.\n";
        assert_eq!(ids(cut), ["azure-sign-in-required"]);
    }

    #[test]
    fn json_log_lines_are_matched_inside_msg_with_escapes_decoded() {
        // The pattern needs the `->` that the proxy escapes as \u003e.
        let line = r#"{"level":"fatal","msg":"sshproxy: error copying information from the connection: read tcp 10.0.0.4:50000-\u003e40.122.115.96:443: wsarecv: An existing connection was forcibly closed by the remote host.","proxyVersion":"1.3.026973"}"#;
        let matches = explain(line);
        let got: Vec<&str> = matches.iter().map(|m| m.id.as_str()).collect();
        assert!(
            got.contains(&"sshd-not-running") && got.contains(&"ssh-port-not-enabled"),
            "{got:?}"
        );
        assert_eq!(
            matches[0].score, matches[1].score,
            "both readings of this line are equally likely"
        );
        assert!(
            matches[0]
                .evidence
                .contains("10.0.0.4:50000->40.122.115.96:443"),
            "{:?}",
            matches[0].evidence
        );

        let escaped = r#"{"level":"error","msg":"Client is not authorized to create a default connectivity endpoint for \u0027vm1\u0027 in Resource Group \u0027rg\u0027."}"#;
        assert_eq!(ids(escaped)[0], "endpoint-permission-missing");
        let prefixed = format!("2024-05-02T10:00:00Z ERROR: {escaped}");
        let m = &explain(&prefixed)[0];
        assert_eq!(m.id, "endpoint-permission-missing");
        assert!(
            m.evidence.starts_with(
                "Client is not authorized to create a default connectivity endpoint for 'vm1'"
            ),
            "{}",
            m.evidence
        );
    }

    #[test]
    fn a_wrapped_powershell_error_record_still_matches() {
        // Windows PowerShell hard-wraps at the console width, even mid-word.
        let record = "Enter-AzVM : Failed to find the PowerShell module Az.Ssh.ArcProxy installed in this machine. You\r\n\
                      must have the Az.Ssh.Proxy PowerShell mod\r\n\
                      ule installed in the client machine in order to connect to Azure Arc resources.\r\n\
                      At line:1 char:1\r\n\
                      + Enter-AzVM -ResourceGroupName rg -Name vm1 -LocalUser admin\r\n\
                      + ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n    \
                      + CategoryInfo          : CloseError: (:) [Enter-AzVM], AzPSApplicationException\r\n    \
                      + FullyQualifiedErrorId : Microsoft.Azure.Commands.Ssh.EnterAzVMCommand\r\n";
        let matches = explain(record);
        assert_eq!(matches[0].id, "arcproxy-not-installed");
        // Two of its patterns hit, one of them only across the wrap.
        assert!(matches[0].score > 100, "{}", matches[0].score);

        // PowerShell 7's error view: word-wrapped behind a `|` gutter.
        let concise = "Enter-AzVM:\n\
                       Line |\n   \
                       2 |  Enter-AzVM -ResourceGroupName rg -Name vm1\n     \
                       |  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n     \
                       | This version of Az.Ssh only supports version 1.x.x of the\n     \
                       | Az.Ssh.ArcProxy PowerShell Module. The Az.Ssh.ArcProxy module\n     \
                       | /home/u/.local/share/powershell/Modules/Az.Ssh.ArcProxy/2.0.0/Az.Ssh.ArcProxy.psd1 version is 2.0.0,\n";
        assert_eq!(ids(concise)[0], "ps-module-version-mismatch");
    }

    #[test]
    fn two_problems_in_one_log_come_most_specific_first() {
        let log = "debug1: Authentications that can continue: publickey\n\
                   admin@vm1: Permission denied (publickey).\n\
                   \n\
                   ERROR: Request for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\n";
        let matches = explain(log);
        let got: Vec<&str> = matches.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            got,
            [
                "rp-not-registered",
                "login-role-missing",
                "entra-extension-missing",
                // The causes outside Azure, named without a fix.
                "ssh-key-not-accepted"
            ]
        );
        assert!(matches[0].score > matches[1].score && matches[1].score > matches[2].score);
        assert!(!matches[3].known);
        assert_eq!(
            matches[1].evidence,
            "admin@vm1: Permission denied (publickey)."
        );
    }

    #[test]
    fn text_without_a_known_problem_matches_nothing() {
        assert!(explain("").is_empty());
        assert!(
            explain("debug1: Connection established.\nWelcome to Ubuntu 24.04 LTS\n").is_empty()
        );
        let out = render_text(&[], false);
        assert!(
            out.starts_with("No known problem matches this text."),
            "{out}"
        );
    }

    #[test]
    fn known_failures_outside_the_ten_are_returned_as_not_known() {
        for (text, id) in [
            (
                "WARNING: UNPROTECTED PRIVATE KEY FILE!",
                "private-key-permissions",
            ),
            (
                "ERROR: Please run 'az login' to setup account.",
                "azure-sign-in-required",
            ),
            (
                "ssh: connect to host 10.1.2.3 port 22: Connection timed out",
                "direct-ssh-unreachable",
            ),
            (
                "ERROR: An error occurred. Pip failed with status code 1. Use --debug for more information.",
                "az-ssh-extension-broken",
            ),
            (
                "SSH Login using AAD credentials is not currently supported for Windows.",
                "entra-unsupported-on-windows",
            ),
        ] {
            let matches = explain(text);
            assert_eq!(matches[0].id, id, "{text}");
            assert!(!matches[0].known, "{text}");
            let out = render_text(&matches, false);
            assert!(
                out.contains("not one of the problems arcfix fixes"),
                "{out}"
            );
        }
        let contract = explain("SSH connection is not enabled in the target port 22.");
        assert!(contract[0].known);
    }

    #[test]
    fn json_render_has_the_contract_shape() {
        let matches = explain("Code: NoRegisteredProviderFound");
        let v = render_json(&matches);
        assert_eq!(v["schema_version"], 1);
        let first = &v["matches"][0];
        assert_eq!(first["id"], "rp-not-registered");
        for key in ["title", "fix", "evidence"] {
            assert!(first[key].is_string(), "{key}");
        }
        assert!(
            first["commands"]
                .as_array()
                .is_some_and(|c| c.iter().all(|c| c.is_string()))
        );
        assert_eq!(
            first["commands"][0],
            "az provider register -n Microsoft.HybridConnectivity"
        );
        assert_eq!(first["known"], true);
        assert!(first["score"].is_u64());
        assert_eq!(
            render_json(&[]),
            serde_json::json!({"schema_version": 1, "matches": []})
        );
    }

    #[test]
    fn text_render_is_plain_without_colour_and_sanitises_evidence() {
        let matches = explain("Permission denied (publickey).\x07\x08 now");
        let plain = render_text(&matches, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(!plain.contains('\x07'), "{plain}");
        assert!(plain.contains("login-role-missing: "), "{plain}");
        assert!(plain.contains("     az role assignment create --assignee <user> --role \"Virtual Machine Local User Login\""));
        let coloured = render_text(&matches, true);
        assert!(coloured.contains('\x1b'), "{coloured}");
    }

    #[test]
    fn long_evidence_is_cut_around_the_match() {
        let line = format!(
            "{} Code: NoRegisteredProviderFound {}",
            "x".repeat(500),
            "y".repeat(500)
        );
        let m = &explain(&line)[0];
        assert!(m.evidence.chars().count() <= 202, "{}", m.evidence.len());
        assert!(
            m.evidence.contains("NoRegisteredProviderFound"),
            "{}",
            m.evidence
        );
        assert!(m.evidence.starts_with('…') && m.evidence.ends_with('…'));
    }

    #[test]
    fn gutter_of_powershell_error_view_is_dropped() {
        assert_eq!(strip_gutter("| message"), "message");
        assert_eq!(strip_gutter("2 |  Enter-AzVM"), "Enter-AzVM");
        assert_eq!(strip_gutter("plain | text"), "plain | text");
    }

    #[test]
    fn rules_list_every_problem() {
        let text = render_rules(false);
        let json = rules_json();
        assert_eq!(json["schema_version"], 1);
        let rules = json["rules"].as_array().unwrap();
        assert_eq!(rules.len(), catalogue::all().len());
        for (p, r) in catalogue::all().iter().zip(rules) {
            assert!(text.contains(&p.id), "{}", p.id);
            assert_eq!(r["id"], p.id.as_str());
            for key in ["title", "section", "side", "fix", "auto"] {
                assert!(r[key].is_string(), "{key}");
            }
            assert!(r["commands"].is_array());
        }
        assert!(!text.contains('\x1b'));
        assert!(render_rules(true).contains('\x1b'));
    }
}
