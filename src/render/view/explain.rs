//! `explain`: the known problems a text points to.

use super::{Json, Text, Views, json};
use crate::error::Result;
use crate::explain::Match;
use crate::view::ExplainView;

/// What people are told when no known problem matches.
const NO_MATCH: &str = "No known problem matches this text. Run `arcfix check` to look at this machine and Azure directly.\n";

impl Views {
    /// `explain`'s view.
    pub fn explain(&self) -> &dyn ExplainView {
        self.pick(|t| t, |j| j)
    }
}

impl ExplainView for Text {
    fn explained(&self, matches: &[Match]) -> Result<()> {
        if matches.is_empty() {
            self.out.print(&self.human.fit(NO_MATCH))
        } else {
            let color = self.human.paint.color;
            let said = crate::explain::render_text(matches, color);
            self.out.print(&self.human.fit(&said))
        }
    }
}

impl ExplainView for Json {
    fn explained(&self, matches: &[Match]) -> Result<()> {
        json(&self.out, &crate::explain::render_json(matches))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{json, text};
    use super::*;

    #[test]
    fn people_are_pointed_to_check_when_nothing_matches() {
        let (view, printed, _) = text();
        view.explained(&[]).unwrap();
        assert_eq!(printed.text(), NO_MATCH);
    }

    #[test]
    fn people_see_the_problem_a_text_points_to() {
        let matches = crate::explain::explain("Code: NoRegisteredProviderFound");
        let (view, printed, _) = text();
        view.explained(&matches).unwrap();
        let text = printed.text();
        assert!(text.contains("rp-not-registered: "), "{text}");
        assert!(
            text.contains("az provider register -n Microsoft.HybridConnectivity"),
            "{text}"
        );
    }

    #[test]
    fn programs_get_one_document_even_without_a_match() {
        let (view, printed, _) = json();
        view.explained(&[]).unwrap();
        assert_eq!(
            printed.json(),
            serde_json::json!({"schema_version": 1, "matches": []})
        );
    }
}
