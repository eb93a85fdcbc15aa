//! The catalogue of known problems, `plans/`, embedded at build time.
//!
//! One TOML file per problem: what it is, the article's section, the fix in
//! words and as commands, and the error-text patterns that point to it.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

// Every file in `plans/`, in the order `rules` lists them: the contract's ten
// first, in the contract's order, then the problems a check detects, then the
// known failures that arcfix does not fix (build.rs makes the list).
include!(concat!(env!("OUT_DIR"), "/plans.rs"));

/// Where a problem lives, which is also which `--checks` side detects it
/// (the plan files call it `side`; `target::Side` is the option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Client,
    Azure,
    Server,
    Other,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Client => "client",
            Area::Azure => "azure",
            Area::Server => "server",
            Area::Other => "other",
        }
    }
}

/// One known problem.
#[derive(Debug)]
pub struct Problem {
    pub id: String,
    pub title: String,
    /// The article's section heading; empty for problems the article does not cover.
    pub section: String,
    pub side: Area,
    /// False for known failures that are none of arcfix's own problems: `explain`
    /// recognises them, `check` and `apply` do not handle them.
    pub known: bool,
    /// `arcfix apply` can fix it itself, given the rights (`auto` says which).
    pub automatic: bool,
    pub fix: String,
    pub commands: Vec<String>,
    /// One line: how arcfix fixes it, or that it cannot.
    pub auto: String,
    /// One or two sentences: what it means, for `explain`'s short answer.
    pub summary: String,
    /// The one or two commands of the short answer: a person's first move
    /// (each one of `commands`, or an `arcfix` command).
    pub quick_fix: Vec<String>,
    pub patterns: Vec<Pattern>,
}

/// One error-text pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// What is matched: the pattern as written in the plan file,
    /// case-insensitive, with every literal space optional (see [`loosen`]).
    pub matcher: String,
    /// `matcher` compiled on first use: most runs need only the few that hit,
    /// and compiling all of them costs ~20 ms at start-up.
    compiled: OnceLock<Regex>,
    /// How specific it is: an exact article text scores high, a generic phrase low.
    pub weight: u32,
}

impl Pattern {
    /// A pattern as a data file writes it: case-insensitive, every literal
    /// space optional; its syntax is checked now, its compile waits for a hit.
    pub(crate) fn new(source: &str, weight: u32) -> Result<Pattern, String> {
        let matcher = format!("(?i){}", loosen(source));
        regex_syntax::Parser::new()
            .parse(&matcher)
            .map_err(|e| format!("pattern {source:?}: {e}"))?;
        Ok(Pattern {
            matcher,
            compiled: OnceLock::new(),
            weight,
        })
    }

    pub fn regex(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            Regex::new(&self.matcher).expect("pattern syntax was checked when loading")
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProblem {
    id: String,
    title: String,
    section: String,
    side: Area,
    known: bool,
    automatic: bool,
    fix: String,
    commands: Vec<String>,
    auto: String,
    summary: String,
    quick_fix: Vec<String>,
    patterns: Vec<RawPattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPattern {
    pub(crate) regex: String,
    pub(crate) weight: u32,
}

impl RawPattern {
    /// The patterns of one entry of a data file, each checked; the first
    /// defect, named with `name`.
    pub(crate) fn all(raw: &[RawPattern], name: &str) -> Result<Vec<Pattern>, String> {
        raw.iter()
            .map(|p| Pattern::new(&p.regex, p.weight))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|x| format!("{name}: {x}"))
    }
}

/// All problems, in the order of [`FILES`]. The data is embedded and tested,
/// so a defect is a bug in arcfix: it panics naming the file.
pub fn all() -> &'static [Problem] {
    static ALL: OnceLock<Vec<Problem>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, text)| parse(name, text).unwrap_or_else(|e| panic!("plans/{name}: {e}")))
            .collect()
    })
}

pub fn get(id: &str) -> Option<&'static Problem> {
    all().iter().find(|p| p.id == id)
}

fn parse(name: &str, text: &str) -> Result<Problem, String> {
    let raw: RawProblem = toml::from_str(text).map_err(|e| e.to_string())?;
    if Some(raw.id.as_str()) != name.strip_suffix(".toml") {
        return Err(format!("id {:?} differs from the file name", raw.id));
    }
    let patterns = RawPattern::all(&raw.patterns, &raw.id)?;
    Ok(Problem {
        id: raw.id,
        title: raw.title,
        section: raw.section,
        side: raw.side,
        known: raw.known,
        automatic: raw.automatic,
        fix: raw.fix.trim().to_string(),
        commands: raw.commands,
        auto: raw.auto,
        summary: raw.summary.trim().to_string(),
        quick_fix: raw.quick_fix,
        patterns,
    })
}

/// Makes every literal space of a pattern optional. `explain` matches against
/// lines joined without a separator, because PowerShell and narrow terminals
/// wrap long messages anywhere (mid-word, or dropping the space at the break);
/// an optional space matches both `module installed` and `module` + `installed`.
/// Spaces in character classes, escaped spaces and spaces with their own
/// quantifier are left alone.
fn loosen(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut chars = source.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                // `[^]…]` and `[]…]` start with a literal `]`.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if in_class => in_class = false,
            ' ' if !in_class && !matches!(chars.peek(), Some('*' | '+' | '?' | '{')) => {
                out.push('?')
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::{Area, CONTRACT_IDS, FILES, all, get, loosen, parse};
    use crate::explain::explain;

    fn crate_root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn every_plan_file_is_embedded() {
        let on_disk: BTreeSet<String> = std::fs::read_dir(crate_root().join("plans"))
            .expect("plans/ is readable")
            .map(|e| {
                e.expect("plans/ entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let embedded: BTreeSet<String> = FILES.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(on_disk, embedded, "plans/ and catalogue::FILES differ");
        assert_eq!(embedded.len(), FILES.len(), "a file is listed twice");
    }

    #[test]
    fn every_file_parses_with_its_own_id() {
        for (name, text) in FILES {
            let p = parse(name, text).unwrap_or_else(|e| panic!("plans/{name}: {e}"));
            assert!(!p.patterns.is_empty(), "{name}: no patterns");
            for pattern in &p.patterns {
                // Compiles in full (loading only checks the syntax).
                assert!(!pattern.regex().as_str().is_empty());
            }
        }
        let ids: BTreeSet<&str> = all().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), all().len(), "ids are not unique");
    }

    #[test]
    fn the_contract_ids_are_present_and_known() {
        for id in CONTRACT_IDS {
            let p = get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(p.known, "{id}");
            assert!(!p.section.is_empty(), "{id} has no article section");
            assert_ne!(p.side, Area::Other, "{id}");
        }
        assert!(get("no-such-problem").is_none());
    }

    #[test]
    fn every_entry_is_complete_and_tidy() {
        let kebab = regex::Regex::new("^[a-z0-9]+(-[a-z0-9]+)*$").unwrap();
        for p in all() {
            assert!(kebab.is_match(&p.id), "{}", p.id);
            for (what, s) in [("title", &p.title), ("fix", &p.fix), ("auto", &p.auto)] {
                assert!(!s.trim().is_empty(), "{}: empty {what}", p.id);
                assert!(!s.contains('\n'), "{}: {what} has a line break", p.id);
                assert!(!s.contains("  "), "{}: {what} has a double space", p.id);
            }
            assert!(!p.commands.is_empty(), "{}: no commands", p.id);
            for c in &p.commands {
                assert_eq!(c.trim(), c, "{}: command with surrounding space", p.id);
            }
            assert!(
                p.patterns.iter().all(|pat| (1..=100).contains(&pat.weight)),
                "{}: weight out of 1..=100",
                p.id
            );
            // Unknown failures are not handled by check/apply; say so.
            if !p.known {
                assert_eq!(p.side, Area::Other, "{}", p.id);
                assert!(!p.automatic, "{}", p.id);
                assert!(p.section.is_empty(), "{}", p.id);
            }
            if p.automatic {
                assert!(
                    p.fix.contains("arcfix apply"),
                    "{}: fix does not say that arcfix apply fixes it",
                    p.id
                );
            }
        }
    }

    /// `explain`'s short answer has a summary and a first move for every problem.
    #[test]
    fn every_problem_has_its_short_answer() {
        for p in all() {
            let n = p.summary.chars().count();
            assert!(
                (20..=200).contains(&n),
                "{}: summary of {n} characters",
                p.id
            );
            assert!(!p.summary.contains('\n'), "{}: summary", p.id);
            assert!(!p.summary.contains("  "), "{}: summary", p.id);
            assert!(
                (1..=2).contains(&p.quick_fix.len()),
                "{}: {} quick_fix commands, want 1 or 2",
                p.id,
                p.quick_fix.len()
            );
            for c in &p.quick_fix {
                // The full list stays the reference; arcfix's own commands are extra.
                assert!(
                    p.commands.contains(c) || c.starts_with("arcfix "),
                    "{}: quick_fix {c:?} is neither one of its commands nor arcfix's",
                    p.id
                );
            }
            let apply = p.quick_fix.iter().any(|c| c.starts_with("arcfix apply"));
            if p.automatic {
                assert!(
                    apply,
                    "{}: arcfix apply fixes it, its short answer must say how",
                    p.id
                );
            }
            if !p.known {
                assert!(!apply, "{}: arcfix does not fix it", p.id);
            }
        }
    }

    #[test]
    fn article_sections_are_the_articles_headings() {
        let headings = [
            "Unable to locate client binaries",
            "Azure PowerShell module version mismatch",
            "Az.Ssh.ArcProxy not installed",
            "Insufficient permissions to execute proxy",
            "SSH traffic not allowed on the server",
            "Incorrect role assignments to enable SSH connectivity",
            "Incorrect role assignments to connect",
            "HybridConnectivity RP not registered",
        ];
        for p in all().iter().filter(|p| !p.section.is_empty()) {
            assert!(
                headings.contains(&p.section.as_str()),
                "{}: {:?}",
                p.id,
                p.section
            );
        }
    }

    #[test]
    fn loosen_makes_plain_spaces_optional_only() {
        assert_eq!(loosen("a b"), "a ?b");
        assert_eq!(loosen("a +b"), "a +b");
        assert_eq!(loosen("a ?b"), "a ?b");
        assert_eq!(loosen(r"a\ b"), r"a\ b");
        assert_eq!(loosen("[^ ]+ x"), "[^ ]+ ?x");
        assert_eq!(loosen("[] ] x"), "[] ] ?x");
        let re =
            regex::Regex::new(&format!("(?i){}", loosen("PowerShell module installed"))).unwrap();
        assert!(re.is_match("powershell module installed"));
        assert!(re.is_match("PowerShell moduleinstalled"));
    }

    /// Whether `text` is explained with one of `ids` ranked first (or tied first).
    fn check_ranked_first(text: &str, ids: &[&str]) -> Result<(), String> {
        let matches = explain(text);
        let Some(top) = matches.first() else {
            return Err(format!("no match for {text:?}, want {ids:?}"));
        };
        let first: Vec<&str> = matches
            .iter()
            .filter(|m| m.score == top.score)
            .map(|m| m.id.as_str())
            .collect();
        if first.iter().any(|id| ids.contains(id)) {
            Ok(())
        } else {
            let got: Vec<String> = matches
                .iter()
                .map(|m| format!("{}={}", m.id, m.score))
                .collect();
            Err(format!("{text:?}: want {ids:?} first, got {got:?}"))
        }
    }

    /// Lines `id[|id…]<TAB>text`; `\n` in the text stands for a line break.
    fn check_data_file(name: &str) -> usize {
        let path = crate_root().join("tests/data").join(name);
        let data =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut failures = Vec::new();
        let mut count = 0;
        for (n, line) in data.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (ids, text) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("{name}:{}: no tab", n + 1));
            let ids: Vec<&str> = ids.split('|').collect();
            for id in &ids {
                assert!(get(id).is_some(), "{name}:{}: unknown id {id}", n + 1);
            }
            count += 1;
            if let Err(e) = check_ranked_first(&text.replace("\\n", "\n"), &ids) {
                failures.push(format!("{name}:{}: {e}", n + 1));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        count
    }

    #[test]
    fn every_article_error_text_matches_its_problem() {
        let n = check_data_file("article_errors.txt");
        assert!(
            n >= 19,
            "the article quotes 19 error texts, the data file has {n}"
        );
    }

    #[test]
    fn every_domain_variant_matches_its_problem() {
        check_data_file("domain_variants.txt");
    }

    /// The error texts, straight from the seed article when it is there: each
    /// backticked bullet under a `###` heading must be explained by a problem
    /// of that section.
    #[test]
    fn the_articles_own_bullets_match_their_sections() {
        let path = crate_root().join("../shared/seed/ssh-arc-troubleshoot.md");
        let Ok(article) = std::fs::read_to_string(&path) else {
            return;
        };
        let mut by_section: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in all().iter().filter(|p| !p.section.is_empty()) {
            by_section
                .entry(p.section.as_str())
                .or_default()
                .push(p.id.as_str());
        }
        let mut section = None;
        let mut failures = Vec::new();
        let mut count = 0;
        for line in article.lines() {
            if let Some(heading) = line.strip_prefix("### ") {
                section = Some(heading.trim());
                continue;
            }
            if line.starts_with("## ") {
                section = None;
                continue;
            }
            // An error text is a bullet that is all code: "- `…`" (not "- ```…").
            let Some(rest) = line.strip_prefix("- `") else {
                continue;
            };
            if rest.starts_with('`') {
                continue;
            }
            let Some(end) = rest.rfind('`') else { continue };
            let text = rest[..end]
                .replace("\\<", "<")
                .replace("\\>", ">")
                .replace("\\_", "_");
            let heading =
                section.unwrap_or_else(|| panic!("error text outside a ### section: {line}"));
            let ids = by_section
                .get(heading)
                .unwrap_or_else(|| panic!("no problem has section {heading:?}"));
            count += 1;
            if let Err(e) = check_ranked_first(&text, ids) {
                failures.push(format!("[{heading}] {e}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(count >= 19, "only {count} error texts found in the article");
    }
}
