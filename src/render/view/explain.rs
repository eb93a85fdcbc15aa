//! `explain` and `rules`: the known problems a text points to, and the
//! catalogue of them all.

use super::{Stream, json};
use crate::error::Result;
use crate::explain::Match;
use crate::view::{ExplainView, RulesView};

/// What people are told when no known problem matches.
const NO_MATCH: &str = "No known problem matches this text. Run `arcfix check` to look at this machine and Azure directly.\n";

pub struct ExplainHuman {
    pub color: bool,
    pub out: Stream,
}

impl ExplainView for ExplainHuman {
    fn explained(&self, matches: &[Match]) -> Result<()> {
        if matches.is_empty() {
            self.out.print(NO_MATCH)
        } else {
            self.out
                .print(&crate::explain::render_text(matches, self.color))
        }
    }
}

pub struct ExplainJson {
    pub out: Stream,
}

impl ExplainView for ExplainJson {
    fn explained(&self, matches: &[Match]) -> Result<()> {
        json(&self.out, &crate::explain::render_json(matches))
    }
}

pub struct RulesHuman {
    pub color: bool,
    pub out: Stream,
}

impl RulesView for RulesHuman {
    fn rules(&self) -> Result<()> {
        self.out.print(&crate::explain::render_rules(self.color))
    }
}

pub struct RulesJson {
    pub out: Stream,
}

impl RulesView for RulesJson {
    fn rules(&self) -> Result<()> {
        json(&self.out, &crate::explain::rules_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_pointed_to_check_when_nothing_matches() {
        let (out, written) = Stream::memory();
        ExplainHuman { color: false, out }.explained(&[]).unwrap();
        assert_eq!(written.text(), NO_MATCH);
    }

    #[test]
    fn people_see_the_problem_a_text_points_to() {
        let matches = crate::explain::explain("Code: NoRegisteredProviderFound");
        let (out, written) = Stream::memory();
        ExplainHuman { color: false, out }
            .explained(&matches)
            .unwrap();
        let text = written.text();
        assert!(text.contains("rp-not-registered: "), "{text}");
        assert!(
            text.contains("az provider register -n Microsoft.HybridConnectivity"),
            "{text}"
        );
    }

    #[test]
    fn programs_get_one_document_even_without_a_match() {
        let (out, written) = Stream::memory();
        ExplainJson { out }.explained(&[]).unwrap();
        assert_eq!(
            written.json(),
            serde_json::json!({"schema_version": 1, "matches": []})
        );
    }

    #[test]
    fn the_catalogue_as_text_and_as_one_document() {
        let (out, written) = Stream::memory();
        RulesHuman { color: false, out }.rules().unwrap();
        assert_eq!(written.text(), crate::explain::render_rules(false));
        let (out, written) = Stream::memory();
        RulesJson { out }.rules().unwrap();
        assert_eq!(written.json(), crate::explain::rules_json());
    }
}
