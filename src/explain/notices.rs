//! Fixed notices that are no failure (`notices.toml`): `explain` says each
//! is harmless, after the problems and the SSH clients' errors of the same
//! text, and never as a finding.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::catalogue::{Pattern, RawPattern};

/// One notice.
#[derive(Debug)]
pub struct Notice {
    /// Stable and kebab-case, in a namespace of its own: never a finding id.
    pub name: String,
    /// The notice as it is printed.
    pub notice: String,
    pub meaning: String,
    /// The problem (plans/) this notice is when this machine's Azure CLI ssh
    /// extension is older than 2.0.4.
    pub instead: Option<String>,
    pub patterns: Vec<Pattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotices {
    notices: Vec<RawNotice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    name: String,
    notice: String,
    meaning: String,
    instead: Option<String>,
    patterns: Vec<RawPattern>,
}

const FILE: &str = include_str!("notices.toml");

/// The embedded file. It is tested, so a defect is a bug in arcfix: it panics.
pub fn notices() -> &'static [Notice] {
    static NOTICES: OnceLock<Vec<Notice>> = OnceLock::new();
    NOTICES.get_or_init(|| parse(FILE).unwrap_or_else(|e| panic!("src/explain/notices.toml: {e}")))
}

fn parse(text: &str) -> Result<Vec<Notice>, String> {
    let raw: RawNotices = toml::from_str(text).map_err(|e| e.to_string())?;
    raw.notices
        .into_iter()
        .map(|n| {
            let patterns = RawPattern::all(&n.patterns, &n.name)?;
            Ok(Notice {
                name: n.name,
                notice: n.notice,
                meaning: n.meaning,
                instead: n.instead,
                patterns,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{FILE, notices, parse};
    use crate::catalogue;

    #[test]
    fn the_file_parses_and_every_entry_is_complete() {
        parse(FILE).unwrap();
        let kebab = regex::Regex::new("^[a-z0-9]+(-[a-z0-9]+)*$").unwrap();
        let names: BTreeSet<&str> = notices().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), notices().len(), "names are not unique");
        let ssh: BTreeSet<&str> = super::super::openssh::errors()
            .errors
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        for n in notices() {
            assert!(kebab.is_match(&n.name), "{}", n.name);
            assert!(
                catalogue::get(&n.name).is_none(),
                "{} is a finding id",
                n.name
            );
            assert!(
                !ssh.contains(n.name.as_str()),
                "{} is an OpenSSH error",
                n.name
            );
            for (what, s) in [("notice", &n.notice), ("meaning", &n.meaning)] {
                assert!(!s.trim().is_empty(), "{}: empty {what}", n.name);
                assert!(!s.contains('\n') && !s.contains("  "), "{}: {what}", n.name);
            }
            assert!(
                n.meaning.chars().count() <= 240,
                "{}: meaning too long",
                n.name
            );
            assert!(!n.patterns.is_empty(), "{}: no patterns", n.name);
            for p in &n.patterns {
                assert!((1..=100).contains(&p.weight), "{}", n.name);
                assert!(!p.regex().is_match(""), "{}: an empty match", n.name);
            }
            if let Some(i) = &n.instead {
                assert!(
                    catalogue::get(i).is_some(),
                    "{}: instead {i:?} names nothing",
                    n.name
                );
            }
        }
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_the_entry() {
        let bad = "[[notices]]\nname = \"x\"\nnotice = \"n\"\nmeaning = \"m\"\n[[notices.patterns]]\nregex = '('\nweight = 1\n";
        let e = parse(bad).unwrap_err();
        assert!(e.starts_with("x: pattern \"(\""), "{e}");
        assert!(parse("notices = []\nother = 1\n").is_err());
    }
}
