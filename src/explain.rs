//! Error text -> known problems: matches a pasted log against the catalogue's
//! patterns (and OpenSSH's own errors, which are no Arc problem) and renders
//! the matches with their fixes: a short answer for people, all of it with
//! `-v` and in JSON.
//!
//! The log is normalised once into a single haystack (ANSI codes stripped,
//! lines trimmed and joined without separators so wrapped messages read as
//! one, JSON log lines also decoded), then one `RegexSet` pass says which
//! patterns hit; only those are searched again, for the evidence.

mod notices;
mod openssh;

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

/// How many problems, and how many OpenSSH errors, the short answer shows
/// at most; `-v` shows them all.
const BRIEF_MATCHES: usize = 2;
const BRIEF_NOT_ARC: usize = 2;

/// The article the problems' sections come from.
const ARTICLE: &str = "Troubleshoot SSH access to Azure Arc-enabled servers";
const ARTICLE_URL: &str =
    "https://learn.microsoft.com/azure/azure-arc/servers/ssh-arc-troubleshoot";

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
    /// One or two sentences: what it means (the short answer's).
    pub summary: String,
    /// The short answer's commands: a person's first move.
    pub quick_fix: Vec<String>,
}

/// An OpenSSH error the text shows that is no Arc problem: not a finding,
/// and no id of the catalogue (`name` is of its own namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotArc {
    pub name: String,
    /// The message as OpenSSH prints it.
    pub error: String,
    pub meaning: String,
    pub fix: String,
    pub commands: Vec<String>,
    pub score: u32,
    pub evidence: String,
}

/// A fixed notice the text shows that is no failure: not a finding, and no
/// id of the catalogue (`name` is of its own namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeSeen {
    pub name: String,
    /// The notice as it is printed.
    pub notice: String,
    /// Why it is harmless.
    pub meaning: String,
    /// What this machine says of it (the installed version), or empty.
    pub here: String,
    /// A command that tells whether it applies, when this machine could not say.
    pub check: Option<String>,
    pub evidence: String,
}

/// Everything a text shows: the known problems, most likely first, then
/// OpenSSH's own errors that are no Arc problem, then harmless notices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    pub matches: Vec<Match>,
    pub not_arc: Vec<NotArc>,
    pub notices: Vec<NoticeSeen>,
}

impl Explanation {
    /// Nothing known at all: no problem, no OpenSSH error, no notice.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty() && self.not_arc.is_empty() && self.notices.is_empty()
    }
}

/// The Azure CLI ssh extension on this machine, as the caller read it from
/// its folder (`checks::az_ssh`): what a version notice is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AzSshHere {
    /// Its version, and whether it is 2.0.4 or later.
    Version { version: String, current: bool },
    /// No `ssh` extension folder.
    NotInstalled,
    /// Not read (no folder could be read, or the caller did not look).
    #[default]
    Unread,
}

/// What tells the installed version, and what its answer means.
const AZ_SSH_VERSION: &str = "az extension show --name ssh --query version";

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
    explanation(text).matches
}

/// Explains a whole pasted log: the known problems it shows, most specific
/// first, and OpenSSH's own errors that no problem already explains.
pub fn explanation(text: &str) -> Explanation {
    explanation_with(text, &AzSshHere::Unread)
}

/// [`explanation`], with a version notice judged by the Azure CLI ssh
/// extension on this machine: harmless on 2.0.4 or later, the problem it
/// names when older, and the command that tells when it could not be read.
pub fn explanation_with(text: &str, az_ssh: &AzSshHere) -> Explanation {
    let matcher = matcher();
    // Secrets are masked before anything is matched or quoted: no `seen:`
    // excerpt and no JSON can hold one.
    let hay = Haystack::new(&crate::redact::redact(text, &[]));
    let hits = matcher.set.matches(&hay.text);
    if !hits.matched_any() {
        return Explanation::default();
    }
    let problems = catalogue::all();
    let ssh = openssh::errors();
    // Per problem and per OpenSSH error: (hit count, index of the heaviest pattern hit).
    let mut found: Vec<Option<(u32, usize)>> = vec![None; problems.len()];
    let mut ssh_found: Vec<Option<(u32, usize)>> = vec![None; ssh.errors.len()];
    let notes = notices::notices();
    let mut notice_found: Vec<Option<(u32, usize)>> = vec![None; notes.len()];
    let mut through_arc = false;
    for i in hits.iter() {
        match matcher.owners[i] {
            Owner::Problem(p, q) => tally(&mut found[p], q, &problems[p].patterns),
            Owner::Ssh(e, q) => tally(&mut ssh_found[e], q, &ssh.errors[e].patterns),
            Owner::Notice(n, q) => tally(&mut notice_found[n], q, &notes[n].patterns),
            Owner::ArcWord => through_arc = true,
        }
    }
    let mut matches: Vec<Match> = found
        .iter()
        .enumerate()
        .filter_map(|(p, f)| f.map(|(n, best)| (&problems[p], n, best)))
        .map(|(problem, n, best)| {
            let pattern = &problem.patterns[best];
            Match {
                id: problem.id.clone(),
                title: problem.title.clone(),
                fix: problem.fix.clone(),
                commands: problem.commands.clone(),
                known: problem.known,
                score: score(pattern, n),
                evidence: hay.evidence_of(pattern),
                summary: problem.summary.clone(),
                quick_fix: problem.quick_fix.clone(),
            }
        })
        .collect();
    matches.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.id.cmp(&b.id)));

    // Notices: harmless, unless this machine's extension is older than the
    // version one names, when the problem it names stands instead.
    let mut seen_notices = Vec::new();
    for (note, f) in notes.iter().zip(&notice_found) {
        let Some((_, best)) = f else { continue };
        let (here, check) = match (&note.instead, az_ssh) {
            (None, _) => (String::new(), None),
            (Some(_), AzSshHere::Version { current: false, .. }) => continue,
            (Some(_), AzSshHere::Version { version, .. }) => (
                format!("The Azure CLI ssh extension on this machine is {version}, 2.0.4 or later: the notice does not apply to it."),
                None,
            ),
            (Some(_), AzSshHere::NotInstalled) => (
                "No Azure CLI ssh extension is installed on this machine (az installs a current one on first use). Where the notice was printed, ask its version: 2.0.4 or later, it is harmless; older, run az extension update --name ssh.".to_string(),
                Some(AZ_SSH_VERSION.to_string()),
            ),
            (Some(_), AzSshHere::Unread) => (
                "The installed version could not be read here; ask it: 2.0.4 or later, the notice is harmless; older, run az extension update --name ssh.".to_string(),
                Some(AZ_SSH_VERSION.to_string()),
            ),
        };
        if let Some(instead) = &note.instead {
            matches.retain(|m| &m.id != instead);
        }
        seen_notices.push(NoticeSeen {
            name: note.name.clone(),
            notice: note.notice.clone(),
            meaning: note.meaning.clone(),
            here,
            check,
            evidence: hay.evidence_of(&note.patterns[*best]),
        });
    }

    // OpenSSH's errors: not those a problem (or a more precise error) already
    // explains, and not a timeout or refusal that went through Arc.
    let said = |e: &openssh::SshError, f: Option<(u32, usize)>| {
        f.is_some() && !(e.arc_free && through_arc)
    };
    let mut not_arc: Vec<NotArc> = ssh
        .errors
        .iter()
        .zip(&ssh_found)
        .filter(|(e, f)| said(e, **f))
        .filter(|(e, _)| {
            !e.unless.iter().any(|u| {
                matches.iter().any(|m| &m.id == u)
                    || ssh
                        .errors
                        .iter()
                        .zip(&ssh_found)
                        .any(|(o, f)| &o.name == u && said(o, *f))
            })
        })
        .filter_map(|(e, f)| f.map(|(n, best)| (e, n, best)))
        .map(|(e, n, best)| {
            let pattern = &e.patterns[best];
            NotArc {
                name: e.name.clone(),
                error: e.error.clone(),
                meaning: e.meaning.clone(),
                fix: e.fix.clone(),
                commands: e.commands.clone(),
                score: score(pattern, n),
                evidence: hay.evidence_of(pattern),
            }
        })
        .collect();
    not_arc.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    Explanation {
        matches,
        not_arc,
        notices: seen_notices,
    }
}

/// Counts a hit of pattern `q` and keeps the heaviest one seen.
fn tally(found: &mut Option<(u32, usize)>, q: usize, patterns: &[catalogue::Pattern]) {
    *found = Some(match *found {
        None => (1, q),
        Some((n, best)) if patterns[best].weight >= patterns[q].weight => (n + 1, best),
        Some((n, _)) => (n + 1, q),
    });
}

/// The best pattern's weight, plus a capped bonus per further pattern hit.
fn score(best: &catalogue::Pattern, hits: u32) -> u32 {
    best.weight + ((hits - 1) * BONUS_PER_HIT).min(BONUS_CAP)
}

/// Who a pattern of the set belongs to.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// (problem index, pattern index in the problem).
    Problem(usize, usize),
    /// (OpenSSH error index, pattern index in the error).
    Ssh(usize, usize),
    /// (notice index, pattern index in the notice).
    Notice(usize, usize),
    /// A sign that the text went through Arc.
    ArcWord,
}

/// All patterns in one set, built once: the catalogue's, OpenSSH's errors'
/// and the words that show Arc.
struct Matcher {
    set: RegexSet,
    /// For each pattern of the set, whose it is.
    owners: Vec<Owner>,
}

fn matcher() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut sources = Vec::new();
        let mut owners = Vec::new();
        // The compiled patterns already carry `(?i)` and the loosened spaces.
        for (p, problem) in catalogue::all().iter().enumerate() {
            for (q, pattern) in problem.patterns.iter().enumerate() {
                sources.push(pattern.matcher.clone());
                owners.push(Owner::Problem(p, q));
            }
        }
        let ssh = openssh::errors();
        for (e, error) in ssh.errors.iter().enumerate() {
            for (q, pattern) in error.patterns.iter().enumerate() {
                sources.push(pattern.matcher.clone());
                owners.push(Owner::Ssh(e, q));
            }
        }
        for (n, note) in notices::notices().iter().enumerate() {
            for (q, pattern) in note.patterns.iter().enumerate() {
                sources.push(pattern.matcher.clone());
                owners.push(Owner::Notice(n, q));
            }
        }
        for word in &ssh.arc_words {
            sources.push(word.matcher.clone());
            owners.push(Owner::ArcWord);
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

    /// The first line showing `pattern`, secrets masked.
    fn evidence_of(&self, pattern: &catalogue::Pattern) -> String {
        pattern
            .regex()
            .find(&self.text)
            // Again on the excerpt: decoded JSON strings may have shown more.
            .map(|m| crate::redact::redact(&self.evidence(m.start()), &[]))
            .unwrap_or_default()
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
        headline(&mut out, &paint, i + 1, m);
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
            labelled(
                &mut out,
                &paint,
                "seen:",
                &wrap(&sanitize(&m.evidence), 76, INDENT),
            );
        }
        labelled(&mut out, &paint, "fix:", &wrap(&m.fix, 76, INDENT));
        if !m.commands.is_empty() {
            let _ = writeln!(out, "   {}", paint.paint(Style::new().dim(), "commands:"));
            // Then arcfix's own, from the short answer: -v shows all of it.
            let extra = m.quick_fix.iter().filter(|c| !m.commands.contains(c));
            for c in m.commands.iter().chain(extra) {
                let _ = writeln!(out, "     {}", paint.paint(Style::new().green(), c));
            }
        }
        if let Some(problem) = catalogue::get(&m.id) {
            labelled(
                &mut out,
                &paint,
                "arcfix:",
                &wrap(&problem.auto, 76, INDENT),
            );
            if !problem.section.is_empty() {
                labelled(
                    &mut out,
                    &paint,
                    "see:",
                    &wrap(
                        &format!("\"{}\" in {ARTICLE}, {ARTICLE_URL}", problem.section),
                        76,
                        INDENT,
                    ),
                );
            }
        }
    }
    out
}

/// A match's headline, in both answers: "1. id: title".
fn headline(out: &mut String, paint: &Paint, n: usize, m: &Match) {
    out.push('\n');
    let _ = writeln!(
        out,
        "{} {}: {}",
        paint.paint(Style::new().dim(), &format!("{n}.")),
        paint.paint(Style::new().bold().cyan(), &m.id),
        paint.paint(Style::new().bold(), &m.title)
    );
}

/// One line of the full answer: its dim label in a column of 11, then the
/// text (wrapped to continue under itself).
fn labelled(out: &mut String, paint: &Paint, label: &str, text: &str) {
    let _ = writeln!(
        out,
        "   {}{text}",
        paint.paint(Style::new().dim(), &format!("{label:<11}"))
    );
}

/// What `explain -v` prints: every match in full ([`render_text`]), then
/// OpenSSH's own errors with what showed each.
pub fn render_full(e: &Explanation, color: bool) -> String {
    let paint = Paint { color };
    let mut out = if e.matches.is_empty() {
        String::new()
    } else {
        render_text(&e.matches, color)
    };
    const INDENT: &str = "              ";
    if !e.not_arc.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&not_arc_heading(e, &paint));
    }
    for n in &e.not_arc {
        out.push('\n');
        let _ = writeln!(out, "{}", paint.paint(Style::new().bold(), &n.error));
        if !n.evidence.is_empty() {
            let seen = wrap(&sanitize(&n.evidence), 76, INDENT);
            labelled(&mut out, &paint, "seen:", &seen);
        }
        labelled(&mut out, &paint, "means:", &wrap(&n.meaning, 76, INDENT));
        labelled(&mut out, &paint, "fix:", &wrap(&n.fix, 76, INDENT));
        let _ = writeln!(out, "   {}", paint.paint(Style::new().dim(), "commands:"));
        for c in &n.commands {
            let _ = writeln!(out, "     {}", paint.paint(Style::new().green(), c));
        }
    }
    if !e.notices.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&notice_heading(e, &paint));
    }
    for n in &e.notices {
        out.push('\n');
        let _ = writeln!(out, "{}", paint.paint(Style::new().bold(), &n.notice));
        if !n.evidence.is_empty() {
            let seen = wrap(&sanitize(&n.evidence), 76, INDENT);
            labelled(&mut out, &paint, "seen:", &seen);
        }
        labelled(&mut out, &paint, "means:", &wrap(&n.meaning, 76, INDENT));
        if !n.here.is_empty() {
            labelled(
                &mut out,
                &paint,
                "here:",
                &wrap(&sanitize(&n.here), 76, INDENT),
            );
        }
        if let Some(c) = &n.check {
            labelled(
                &mut out,
                &paint,
                "check:",
                &paint.paint(Style::new().green(), c),
            );
        }
    }
    if e.matches.is_empty() && !e.is_empty() {
        out.push('\n');
        out.push_str(NO_ARC_PROBLEM);
    }
    out
}

/// The line over harmless notices: alone, or after problems or errors.
fn notice_heading(e: &Explanation, paint: &Paint) -> String {
    let text = if !e.matches.is_empty() || !e.not_arc.is_empty() {
        "Also in this text, harmless notices (not problems):"
    } else if e.notices.len() > 1 {
        "Harmless notices, not problems:"
    } else {
        "Harmless notice, not a problem:"
    };
    format!("{}\n", paint.paint(Style::new().bold().green(), text))
}

/// The short answer's lines for the notices: headline, why it is harmless,
/// what this machine says and the command that tells.
fn notices_brief(e: &Explanation, paint: &Paint) -> String {
    let mut out = String::new();
    if e.notices.is_empty() {
        return out;
    }
    out.push_str(&notice_heading(e, paint));
    for n in &e.notices {
        out.push('\n');
        let _ = writeln!(out, "{}", paint.paint(Style::new().bold(), &n.notice));
        let _ = writeln!(out, "   {}", n.meaning);
        if !n.here.is_empty() {
            let _ = writeln!(out, "   {}", sanitize(&n.here));
        }
        if let Some(c) = &n.check {
            let _ = writeln!(
                out,
                "   {}{}",
                paint.paint(Style::new().dim(), "check: "),
                paint.paint(Style::new().green(), &format!("$ {c}"))
            );
        }
    }
    out
}

/// The short answer people get first: per match its headline, what it
/// means and the command(s) to act on; the most likely problems only, then
/// how many more there are and that `-v` shows everything.
pub fn render_brief(e: &Explanation, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    let n = e.matches.len();
    let shown = &e.matches[..brief_count(&e.matches)];
    if n > 0 {
        let _ = writeln!(
            out,
            "{}",
            if n == 1 {
                "1 known problem matches:".to_string()
            } else {
                format!("{n} known problems match, the most likely first:")
            }
        );
    }
    for (i, m) in shown.iter().enumerate() {
        headline(&mut out, &paint, i + 1, m);
        let _ = writeln!(out, "   {}", m.summary);
        out.push_str(&commands_block(&m.quick_fix, &paint));
    }
    let ssh_shown = &e.not_arc[..e.not_arc.len().min(BRIEF_NOT_ARC)];
    if !ssh_shown.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&not_arc_heading(e, &paint));
    }
    for x in ssh_shown {
        out.push('\n');
        let _ = writeln!(out, "{}", paint.paint(Style::new().bold(), &x.error));
        let _ = writeln!(out, "   {}", x.meaning);
        let _ = writeln!(
            out,
            "   {}{}",
            paint.paint(Style::new().dim(), "fix: "),
            x.fix
        );
        let _ = writeln!(
            out,
            "        {}",
            paint.paint(Style::new().green(), &format!("$ {}", x.commands[0]))
        );
    }
    if !e.notices.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&notices_brief(e, &paint));
    }
    let hidden: Vec<&str> = e.matches[shown.len()..]
        .iter()
        .map(|m| m.id.as_str())
        .chain(e.not_arc[ssh_shown.len()..].iter().map(|x| x.name.as_str()))
        .collect();
    out.push('\n');
    if n == 0 {
        out.push_str(NO_ARC_PROBLEM);
    }
    let _ = writeln!(
        out,
        "{}",
        paint.paint(
            Style::new().dim(),
            &match hidden.len() {
                0 => "Run again with -v for every cause, command and matched line.".to_string(),
                1 => format!(
                    "1 more match ({}): run again with -v for it, and every cause, command and matched line.",
                    hidden[0]
                ),
                h => format!(
                    "{h} more matches ({}): run again with -v for them, and every cause, command and matched line.",
                    hidden.join(", ")
                ),
            }
        )
    );
    out
}

/// How many of the matches (most likely first) the short answer shows: at
/// most [`BRIEF_MATCHES`], and none scoring under half the best (a generic
/// hint such as `ssh-connection-failed` beside a precise match).
fn brief_count(matches: &[Match]) -> usize {
    let Some(top) = matches.first() else {
        return 0;
    };
    matches
        .iter()
        .take(BRIEF_MATCHES)
        .take_while(|m| m.score * 2 >= top.score)
        .count()
}

/// Said when the text shows OpenSSH errors and no Arc problem.
const NO_ARC_PROBLEM: &str =
    "No Arc problem matches this text; `arcfix check` examines this machine and Azure directly.\n";

/// The line over OpenSSH's own errors: alone, or after the Arc problems.
fn not_arc_heading(e: &Explanation, paint: &Paint) -> String {
    let text = if e.matches.is_empty() {
        "Not an Arc problem: OpenSSH's own error, which arcfix does not check or fix."
    } else {
        "Also in this text, not an Arc problem (OpenSSH's own error, which arcfix does not check or fix):"
    };
    format!("{}\n", paint.paint(Style::new().bold().yellow(), text))
}

/// `fix:` and the commands under it, one a line; arcfix's own after another
/// is the alternative to it (`or:`), not a step after it.
fn commands_block(commands: &[String], paint: &Paint) -> String {
    let mut out = String::new();
    for (i, c) in commands.iter().enumerate() {
        let label = match i {
            0 => "fix: ",
            _ if c.starts_with("arcfix ") => " or: ",
            _ => "     ",
        };
        // `$ `: a command line, kept whole when the answer is folded.
        let _ = writeln!(
            out,
            "   {}{}",
            paint.paint(Style::new().dim(), label),
            paint.paint(Style::new().green(), &format!("$ {c}"))
        );
    }
    out
}

/// `explain -o json`: the contract's shape, plus `known`, `score`,
/// `evidence`, `summary` and `quick_fix` per match, and `not_arc` (OpenSSH's
/// own errors, no finding ids) when the text shows any.
pub fn render_json(e: &Explanation) -> Value {
    let mut doc = json!({ "schema_version": SCHEMA_VERSION, "matches": e.matches });
    if !e.not_arc.is_empty() {
        doc["not_arc"] = json!(e.not_arc);
    }
    if !e.notices.is_empty() {
        doc["notices"] = json!(e.notices);
    }
    doc
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
                "summary": p.summary,
                "quick_fix": p.quick_fix,
                "known": p.known,
                "automatic": p.automatic,
            })
        })
        .collect();
    json!({ "schema_version": SCHEMA_VERSION, "rules": rules })
}

#[cfg(test)]
mod tests {
    use super::{
        Explanation, explain, explanation, render_brief, render_full, render_json, render_rules,
        render_text, rules_json, strip_gutter,
    };
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
        let v = render_json(&explanation("Code: NoRegisteredProviderFound"));
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
            render_json(&Explanation::default()),
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

    /// Rows on an 80-column screen: what a person scrolls through.
    fn rows(text: &str) -> usize {
        text.lines()
            .map(|l| l.chars().count().div_ceil(80).max(1))
            .sum()
    }

    #[test]
    fn the_short_answer_names_the_likely_problems_and_what_to_run() {
        let e = explanation("Permission denied (publickey).");
        let brief = render_brief(&e, false);
        assert!(rows(&brief) <= 15, "{} rows:\n{brief}", rows(&brief));
        assert!(
            brief.starts_with("3 known problems match, the most likely first:\n"),
            "{brief}"
        );
        let role = brief.find("1. login-role-missing: Missing role").unwrap();
        let entra = brief.find("2. entra-extension-missing: ").unwrap();
        assert!(role < entra, "{brief}");
        assert!(
            brief.contains("   fix: $ arcfix apply --id <machine id> --grant-roles\n"),
            "{brief}"
        );
        assert!(brief.contains(&e.matches[0].summary), "{brief}");
        assert!(
            brief.contains("1 more match (ssh-key-not-accepted): run again with -v"),
            "{brief}"
        );
        // What -v adds: every command, the matched line, the article.
        assert!(!brief.contains("seen:") && !brief.contains("Virtual Machine Administrator Login"));
        let full = render_full(&e, false);
        for m in &e.matches {
            assert!(full.contains(&format!("{}: {}", m.id, m.title)), "{full}");
            for c in &m.commands {
                assert!(full.contains(c), "{c}: {full}");
            }
        }
        assert!(
            full.contains("   seen:      Permission denied (publickey)."),
            "{full}"
        );
        for m in &e.matches {
            for c in &m.quick_fix {
                assert!(full.contains(c), "{c}: {full}");
            }
        }
        // The article's section, for the problems it covers.
        assert!(full.contains("   see:       \"Incorrect role"), "{full}");
        assert!(full.contains(super::ARTICLE_URL), "{full}");
        assert!(rows(&full) > 3 * rows(&brief), "{full}");
        assert!(!brief.contains('\x1b') && render_brief(&e, true).contains('\x1b'));
    }

    #[test]
    fn the_short_answer_leaves_a_generic_hint_to_v() {
        // The proxy's fatal line also fits the catch-all, scoring far lower.
        let e = explanation(
            r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp [::1]:22: connectex: No connection could be made because the target machine actively refused it.. websocket: bad handshake","proxyVersion":"1.3.022941"}"#,
        );
        let ids: Vec<&str> = e.matches.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["sshd-not-running", "ssh-connection-failed"]);
        let brief = render_brief(&e, false);
        assert!(brief.contains("1. sshd-not-running: "), "{brief}");
        assert!(!brief.contains("2. "), "{brief}");
        assert!(
            brief.contains("1 more match (ssh-connection-failed)"),
            "{brief}"
        );
        // One match: nothing hidden, -v still offered.
        let one = render_brief(&explanation("Code: NoRegisteredProviderFound"), false);
        assert!(one.starts_with("1 known problem matches:\n"), "{one}");
        assert!(
            one.ends_with("Run again with -v for every cause, command and matched line.\n"),
            "{one}"
        );
    }

    /// OpenSSH's own errors, as OpenSSH prints them, and the entry that explains each.
    const OPENSSH: &[(&str, &str)] = &[
        (
            "Host key verification failed.",
            "host-key-verification-failed",
        ),
        (
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nHost key for web-01 has changed and you have requested strict checking.\nHost key verification failed.",
            "host-key-changed",
        ),
        (
            "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.",
            "host-key-unknown",
        ),
        (
            "Received disconnect from 10.0.0.4 port 22:2: Too many authentication failures",
            "too-many-authentication-failures",
        ),
        (
            "Unable to negotiate with 10.0.0.4 port 22: no matching host key type found. Their offer: ssh-rsa,ssh-dss",
            "no-common-algorithm",
        ),
        (
            "Unable to negotiate with 10.0.0.4 port 22: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1",
            "no-common-algorithm",
        ),
        (
            "sign_and_send_pubkey: no mutual signature supported",
            "no-mutual-signature",
        ),
        (
            "admin@10.0.0.4: Permission denied (password).",
            "password-denied",
        ),
        ("Permission denied, please try again.", "password-denied"),
        (
            "Bad owner or permissions on /home/u/.ssh/config",
            "bad-config-permissions",
        ),
        (
            "/home/u/.ssh/config: line 3: Bad configuration option: proxyjumpp",
            "bad-config-option",
        ),
        (
            r#"Load key "/home/u/.ssh/id_rsa.pub": invalid format"#,
            "key-unreadable",
        ),
        (
            "Could not resolve hostname web-01: Name or service not known",
            "hostname-not-resolved",
        ),
        ("Connection refused", "connection-refused"),
        (
            "Connection timed out during banner exchange",
            "banner-timeout",
        ),
        (
            "connect to address 10.0.0.5 port 22: Connection timed out",
            "connection-timed-out",
        ),
        (
            "connect to address 10.0.0.5 port 22: No route to host",
            "no-route-to-host",
        ),
    ];

    #[test]
    fn openssh_errors_are_explained_as_no_arc_problem() {
        for (text, name) in OPENSSH {
            let e = explanation(text);
            assert!(e.matches.is_empty(), "{text}: {:?}", e.matches);
            let names: Vec<&str> = e.not_arc.iter().map(|x| x.name.as_str()).collect();
            assert_eq!(names, [*name], "{text}");
            assert!(!e.not_arc[0].evidence.is_empty(), "{text}");
            let brief = render_brief(&e, false);
            assert!(
                brief.starts_with("Not an Arc problem: OpenSSH's own error"),
                "{brief}"
            );
            assert!(brief.contains(&e.not_arc[0].meaning), "{brief}");
            assert!(brief.contains(&e.not_arc[0].commands[0]), "{brief}");
            assert!(rows(&brief) <= 15, "{brief}");
            let full = render_full(&e, false);
            assert!(full.contains("   seen:      "), "{full}");
        }
        let changed = &explanation(OPENSSH[1].0).not_arc[0];
        assert_eq!(
            changed.commands[0],
            "ssh-keygen -R <arc enabled server name>"
        );
        assert!(changed.fix.contains("Azure name"), "{}", changed.fix);
    }

    #[test]
    fn an_arc_problem_comes_before_an_openssh_error_and_explains_its_own_lines() {
        let log = format!(
            "{}\n\nRequest for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\n",
            OPENSSH[1].0
        );
        let e = explanation(&log);
        assert_eq!(e.matches[0].id, "rp-not-registered");
        assert_eq!(e.not_arc[0].name, "host-key-changed");
        let brief = render_brief(&e, false);
        let arc = brief.find("1. rp-not-registered: ").unwrap();
        let ssh = brief.find("Also in this text, not an Arc problem").unwrap();
        assert!(arc < ssh, "{brief}");
        let full = render_full(&e, false);
        assert!(full.find("rp-not-registered").unwrap() < full.find("REMOTE HOST").unwrap());

        // A line a problem explains is not explained twice, nor a timeout or
        // refusal through Arc as if it were a direct connection.
        for (text, id) in [
            (
                "ssh: connect to host 10.1.2.3 port 22: Connection refused",
                "direct-ssh-unreachable",
            ),
            (
                "ssh: connect to host vm1 port 22: Connection timed out",
                "direct-ssh-unreachable",
            ),
            (
                "ssh: Could not resolve hostname web-01: Name or service not known",
                "direct-ssh-unreachable",
            ),
            (
                "ERROR: Failed to download Arc Connectivity proxy with error Connection timed out. Please try again.",
                "proxy-download-failed",
            ),
            (
                r#"{"level":"fatal","msg":"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp 127.0.0.1:22: connect: connection refused. websocket: bad handshake"}"#,
                "sshd-not-running",
            ),
        ] {
            let e = explanation(text);
            assert_eq!(e.matches[0].id, id, "{text}");
            assert!(e.not_arc.is_empty(), "{text}: {:?}", e.not_arc);
        }
        let through_arc = explanation(
            "debug1: Executing proxy command: exec /home/u/.clientsshproxy/sshProxy_linux_amd64_1_3_026973 -p 22\nConnection timed out during banner exchange",
        );
        assert!(through_arc.is_empty(), "{through_arc:?}");
    }

    #[test]
    fn no_arc_error_text_is_taken_for_an_openssh_one() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for name in ["article_errors.txt", "domain_variants.txt"] {
            let data = std::fs::read_to_string(root.join(name)).unwrap();
            for line in data
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let text = line.split_once('\t').unwrap().1.replace("\\n", "\n");
                let e = explanation(&text);
                assert!(e.not_arc.is_empty(), "{name}: {text}: {:?}", e.not_arc);
            }
        }
    }

    #[test]
    fn json_adds_not_arc_only_when_there_is_one() {
        let v = render_json(&explanation("Host key verification failed."));
        assert_eq!(v["matches"], serde_json::json!([]));
        let x = &v["not_arc"][0];
        assert_eq!(x["name"], "host-key-verification-failed");
        assert_eq!(x["error"], "Host key verification failed.");
        for key in ["meaning", "fix", "evidence"] {
            assert!(x[key].is_string(), "{key}");
        }
        assert!(x["commands"][0].is_string() && x["score"].is_u64());
        assert!(x.get("id").is_none(), "no finding id: {x}");
        let v = render_json(&explanation("Code: NoRegisteredProviderFound"));
        assert!(v.get("not_arc").is_none(), "{v}");
        assert!(v["matches"][0]["summary"].is_string());
        assert_eq!(
            v["matches"][0]["quick_fix"][0],
            "az provider register -n Microsoft.HybridConnectivity"
        );
    }

    #[test]
    fn a_handled_error_in_a_debug_log_is_not_taken_for_the_extension_crashing() {
        // az --debug logs the traceback of every error; a handled one ends in
        // one of az's own error classes and carries no "unexpected error" header.
        let log = "cli.azure.cli.core.util: azure.cli.core.util.handle_exception is called with an exception:\n\
                   cli.azure.cli.core.util: Traceback (most recent call last):\n\
                   File \"/home/u/.azure/cliextensions/ssh/azext_ssh/connectivity_utils.py\", line 52, in get_relay_information\n\
                   azure.cli.core.azclierror.UnclassifiedUserFault: Unable to get relay information. Failed with error: (AuthorizationFailed) The client does not have authorization to perform action 'Microsoft.HybridConnectivity/endpoints/listCredentials/action'\n";
        let got = ids(log);
        assert_eq!(got[0], "login-role-missing", "{got:?}");
        assert!(
            !got.contains(&"az-ssh-extension-broken".to_string()),
            "{got:?}"
        );
        // The same traceback ending in a Python error is the extension's own crash.
        let crash = log.replace(
            "azure.cli.core.azclierror.UnclassifiedUserFault: Unable to get relay information. Failed with error: (AuthorizationFailed) The client does not have authorization to perform action 'Microsoft.HybridConnectivity/endpoints/listCredentials/action'",
            "AttributeError: 'NoneType' object has no attribute 'get'",
        );
        assert_eq!(ids(&crash), ["az-ssh-extension-broken"]);
    }

    #[test]
    fn notices_are_said_after_problems_and_never_as_one() {
        let one = explanation("SSH Client Proxy saved to /home/u/.clientsshproxy/p");
        assert!(one.matches.is_empty() && one.not_arc.is_empty());
        let brief = render_brief(&one, false);
        assert!(
            brief.starts_with("Harmless notice, not a problem:\n"),
            "{brief}"
        );
        let two = explanation(
            "SSH Client Proxy saved to /p\nThis command is in preview and under development.",
        );
        let names: Vec<&str> = two.notices.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["proxy-saved", "command-in-preview"]);
        assert!(render_brief(&two, false).starts_with("Harmless notices, not problems:\n"));
        assert_eq!(
            render_json(&two)["notices"][1]["name"],
            "command-in-preview"
        );
        // Without a version read, the May 2025 notice is never the problem it names.
        let may = explanation(
            "On May 21st 2025, any ssh arc commands on versions <2.0.4 will no longer work.",
        );
        assert!(may.matches.is_empty(), "{:?}", may.matches);
        assert_eq!(may.notices[0].check.as_deref(), Some(super::AZ_SSH_VERSION));
        let old = super::explanation_with(
            "On May 21st 2025, any ssh arc commands on versions <2.0.4 will no longer work.",
            &super::AzSshHere::Version {
                version: "1.1.6".into(),
                current: false,
            },
        );
        assert_eq!(old.matches[0].id, "az-ssh-extension-outdated");
        assert!(old.notices.is_empty());
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
