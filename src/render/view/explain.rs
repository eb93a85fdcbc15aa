//! `explain`: the known problems a text points to.

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::explain::Explanation;
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
    fn explained(&self, explanation: &Explanation) -> Result<()> {
        let color = self.human.paint.color;
        if explanation.is_empty() {
            self.out.print(&self.human.fit(NO_MATCH))
        } else if self.human.verbose {
            // -v: every cause, command, reference and matched line.
            let said = crate::explain::render_full(explanation, color);
            self.out.print(&self.human.fit(&said))
        } else {
            let said = crate::explain::render_brief(explanation, color);
            self.out.print(&self.human.fit(&said))
        }
    }
}

impl ExplainView for Json {
    fn explained(&self, explanation: &Explanation) -> Result<()> {
        self.emit(&crate::explain::render_json(explanation), Rows::Matches)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{json, text};
    use super::*;

    #[test]
    fn people_are_pointed_to_check_when_nothing_matches() {
        let (view, printed, _) = text();
        view.explained(&Explanation::default()).unwrap();
        assert_eq!(printed.text(), NO_MATCH);
    }

    #[test]
    fn people_see_the_problem_a_text_points_to() {
        let explanation = crate::explain::explanation("Code: NoRegisteredProviderFound");
        let (view, printed, _) = text();
        view.explained(&explanation).unwrap();
        let text = printed.text();
        assert!(text.contains("rp-not-registered: "), "{text}");
        assert!(
            text.contains("az provider register -n Microsoft.HybridConnectivity"),
            "{text}"
        );
    }

    #[test]
    fn verbose_people_see_everything_and_others_the_short_answer() {
        let explanation = crate::explain::explanation("Permission denied (publickey).");
        let (view, printed, _) = text();
        view.explained(&explanation).unwrap();
        assert_eq!(
            printed.text(),
            view.human
                .fit(&crate::explain::render_brief(&explanation, false))
        );
        let (mut view, printed, _) = text();
        view.human.verbose = true;
        view.explained(&explanation).unwrap();
        assert_eq!(
            printed.text(),
            view.human
                .fit(&crate::explain::render_full(&explanation, false))
        );
    }

    #[test]
    fn programs_get_one_document_even_without_a_match() {
        let (view, printed, _) = json();
        view.explained(&Explanation::default()).unwrap();
        assert_eq!(
            printed.json(),
            serde_json::json!({"schema_version": 1, "matches": []})
        );
    }
}
