//! `rules`: the catalogue of known problems.

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::view::RulesView;

impl Views {
    /// `rules`'s view.
    pub fn rules(&self) -> &dyn RulesView {
        self.pick(|t| t, |j| j)
    }
}

impl RulesView for Text {
    fn rules(&self) -> Result<()> {
        let color = self.human.paint.color;
        self.out.print(&crate::explain::render_rules(color))
    }
}

impl RulesView for Json {
    fn rules(&self) -> Result<()> {
        self.emit(&crate::explain::rules_json(), Rows::Rules)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{json, text};
    use super::*;

    #[test]
    fn the_catalogue_as_text_and_as_one_document() {
        let (view, printed, _) = text();
        view.rules().unwrap();
        assert_eq!(printed.text(), crate::explain::render_rules(false));
        let (view, printed, _) = json();
        view.rules().unwrap();
        assert_eq!(printed.json(), crate::explain::rules_json());
    }
}
