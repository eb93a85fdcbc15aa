//! OpenSSH's own errors that are no Arc problem (`openssh.toml`): `explain`
//! says what each means and what to do, after the Arc problems of the same
//! text, and never as a finding.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::catalogue::{Pattern, RawPattern};

/// One OpenSSH error.
#[derive(Debug)]
pub struct SshError {
    /// Stable and kebab-case, in a namespace of its own: never a finding id.
    pub name: String,
    /// The message as OpenSSH prints it.
    pub error: String,
    pub meaning: String,
    pub fix: String,
    pub commands: Vec<String>,
    /// Only said of a text without a sign of Arc ([`Errors::arc_words`]).
    pub arc_free: bool,
    /// Problems (plans/) or other errors here that, in the same text, say it already.
    pub unless: Vec<String>,
    pub patterns: Vec<Pattern>,
}

/// The file, parsed.
#[derive(Debug)]
pub struct Errors {
    /// Patterns whose presence shows that a text went through Arc.
    pub arc_words: Vec<Pattern>,
    pub errors: Vec<SshError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawErrors {
    arc_words: Vec<String>,
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawError {
    name: String,
    error: String,
    meaning: String,
    fix: String,
    commands: Vec<String>,
    arc_free: bool,
    unless: Vec<String>,
    patterns: Vec<RawPattern>,
}

const FILE: &str = include_str!("openssh.toml");

/// The embedded file. It is tested, so a defect is a bug in arcfix: it panics.
pub fn errors() -> &'static Errors {
    static ERRORS: OnceLock<Errors> = OnceLock::new();
    ERRORS.get_or_init(|| parse(FILE).unwrap_or_else(|e| panic!("src/explain/openssh.toml: {e}")))
}

fn parse(text: &str) -> Result<Errors, String> {
    let raw: RawErrors = toml::from_str(text).map_err(|e| e.to_string())?;
    let arc_words = raw
        .arc_words
        .iter()
        .map(|w| Pattern::new(w, 1))
        .collect::<Result<Vec<_>, String>>()?;
    let errors = raw
        .errors
        .into_iter()
        .map(|e| {
            let patterns = RawPattern::all(&e.patterns, &e.name)?;
            Ok(SshError {
                name: e.name,
                error: e.error,
                meaning: e.meaning,
                fix: e.fix,
                commands: e.commands,
                arc_free: e.arc_free,
                unless: e.unless,
                patterns,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Errors { arc_words, errors })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{FILE, errors, parse};
    use crate::catalogue;

    #[test]
    fn the_file_parses_and_every_entry_is_complete() {
        parse(FILE).unwrap();
        let kebab = regex::Regex::new("^[a-z0-9]+(-[a-z0-9]+)*$").unwrap();
        let names: BTreeSet<&str> = errors().errors.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), errors().errors.len(), "names are not unique");
        for e in &errors().errors {
            assert!(kebab.is_match(&e.name), "{}", e.name);
            // Its own namespace: a reader of the JSON never mistakes one for a finding.
            assert!(
                catalogue::get(&e.name).is_none(),
                "{} is a finding id",
                e.name
            );
            for (what, s) in [
                ("error", &e.error),
                ("meaning", &e.meaning),
                ("fix", &e.fix),
            ] {
                assert!(!s.trim().is_empty(), "{}: empty {what}", e.name);
                assert!(!s.contains('\n') && !s.contains("  "), "{}: {what}", e.name);
            }
            // One sentence each: the short answer has room for no more.
            assert!(
                e.meaning.chars().count() <= 240,
                "{}: meaning too long",
                e.name
            );
            assert!(e.fix.chars().count() <= 260, "{}: fix too long", e.name);
            assert!(!e.commands.is_empty(), "{}: no commands", e.name);
            assert!(!e.patterns.is_empty(), "{}: no patterns", e.name);
            for p in &e.patterns {
                assert!((1..=100).contains(&p.weight), "{}", e.name);
                // The regex always starts with `(?i)`: what counts is that
                // it cannot match nothing (an empty pattern matches any text).
                assert!(!p.regex().is_match(""), "{}: an empty match", e.name);
            }
            for u in &e.unless {
                assert!(
                    catalogue::get(u).is_some() || names.contains(u.as_str()),
                    "{}: unless {u:?} names nothing",
                    e.name
                );
                assert_ne!(u, &e.name, "{}: unless itself", e.name);
            }
        }
        for w in &errors().arc_words {
            assert!(!w.regex().is_match(""), "an Arc word that matches nothing");
        }
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_the_entry() {
        let bad = "arc_words = []\n[[errors]]\nname = \"x\"\nerror = \"e\"\nmeaning = \"m\"\nfix = \"f\"\ncommands = [\"c\"]\narc_free = false\nunless = []\n[[errors.patterns]]\nregex = '('\nweight = 1\n";
        let e = parse(bad).unwrap_err();
        assert!(e.starts_with("x: pattern \"(\""), "{e}");
        assert!(parse("arc_words = []\nerrors = []\nother = 1\n").is_err());
    }
}
