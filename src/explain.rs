//! Placeholder until the catalogue lands.
pub struct Match;
pub fn explain(_t: &str) -> Vec<Match> {
    vec![]
}
pub fn render_text(_m: &[Match], _c: bool) -> String {
    String::new()
}
pub fn render_json(_m: &[Match]) -> serde_json::Value {
    serde_json::Value::Null
}
pub fn render_rules(_c: bool) -> String {
    String::new()
}
pub fn rules_json() -> serde_json::Value {
    serde_json::Value::Null
}
