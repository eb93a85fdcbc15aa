//! What each command shows, one small trait per command (Terraform's
//! `internal/command/views`: a view per command, each with a human and a
//! JSON implementation). `render::view::Views` picks text or JSON once, from
//! the output option, and makes every command's view; the commands say what
//! happened through it. The layers below report through
//! `progress::Progress` only and never see these.

use crate::error::Result;
use crate::explain::Explanation;
use crate::plan::Plan;

/// `check`: what was found.
pub trait CheckView {
    fn findings(&self, plan: &Plan) -> Result<()>;
}

/// `plan`: what was found and the steps that would fix it.
pub trait PlanView {
    fn plan(&self, plan: &Plan) -> Result<()>;
    /// `--out FILE`: the plan was saved there; how to apply it.
    fn saved(&self, plan: &Plan, file: &std::path::Path) -> Result<()>;
}

/// "Saved the plan (3 steps: 2 automatic, 1 manual) to plan.json.", then
/// the exact command that applies it.
pub fn saved_plan_lines(plan: &Plan, file: &std::path::Path) -> [String; 3] {
    let n = plan.steps.len();
    let auto = plan.automatic_steps();
    let path = file.display().to_string();
    [
        format!(
            "Saved the plan ({n} step{}: {auto} automatic, {} manual) to {} (readable by you only).",
            if n == 1 { "" } else { "s" },
            n - auto.min(n),
            crate::text::sanitize(&path)
        ),
        "To apply exactly these steps (each is re-checked first; the file is the approval, no question is asked):".to_string(),
        format!("arcfix apply {}", crate::shell::quote(&path)),
    ]
}

/// `apply`: the plan, then how each of its steps ended.
pub trait ApplyView {
    /// `--dry-run`: the plan, as `plan` shows it.
    fn dry_run(&self, plan: &Plan) -> Result<()>;
    /// The plan about to be confirmed and applied.
    fn before_apply(&self, plan: &Plan) -> Result<()>;
    /// A plan without steps: nothing is asked or done.
    fn nothing_to_apply(&self, plan: &Plan) -> Result<()>;
    /// How each step ended.
    fn summary(&self, plan: &Plan, ending: Ending) -> Result<()>;
}

/// `explain`: the known problems a text points to, and OpenSSH's own errors.
pub trait ExplainView {
    fn explained(&self, explanation: &Explanation) -> Result<()>;
}

/// `rules`: the catalogue of known problems.
pub trait RulesView {
    fn rules(&self) -> Result<()>;
}

/// `policy show`: the Azure Policy initiative arcfix would install.
pub trait PolicyView {
    fn show(&self, initiative: &crate::policy::Initiative) -> Result<()>;
    /// `policy status`: compliance of arcfix's assignment.
    fn status(&self, status: &crate::policy::status::Status) -> Result<()>;
}

/// `demo`: its story for people, one document for programs; `--list` and
/// `--serve`.
pub trait DemoView {
    /// A heading of the story, on a line of its own.
    fn heading(&self, text: &str) -> Result<()>;
    /// Narration for people; no part of a document.
    fn say(&self, text: &str) -> Result<()>;
    /// Narration for people: a paragraph, two spaces in, folded to the width.
    fn paragraph(&self, text: &str) -> Result<()>;
    /// The findings of a check.
    fn findings(&self, plan: &Plan) -> Result<()>;
    /// The plan, right after its findings: the steps without the findings again.
    fn plan_steps(&self, plan: &Plan) -> Result<()>;
    /// How the apply ended.
    fn summary(&self, plan: &Plan) -> Result<()>;
    /// The demo's one document: before, after applying, and after again.
    fn document(&self, run: &DemoRun) -> Result<()>;
    /// The policy scenario: `policy status` at its end.
    fn policy_status(&self, status: &crate::policy::status::Status) -> Result<()>;
    /// The policy scenario's one document: the apply and the status after it.
    fn policy_document(
        &self,
        applied: &Plan,
        status: &crate::policy::status::Status,
        requests: usize,
    ) -> Result<()>;
    /// `--list`: the built-in scenarios.
    fn scenarios(&self, list: &[ScenarioInfo]) -> Result<()>;
    /// `--serve`: the simulator is up; how to point arcfix at it.
    fn serving(&self, serving: &Serving) -> Result<()>;
    /// A last line on stderr when it stops (Ctrl-C), unless `-q`.
    fn stopped(&self, line: &str);
}

/// How an apply ended, for its summary.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// `--connect`: the connection verdicts follow the steps.
    pub connect: bool,
    /// Ctrl-C stopped it.
    pub interrupted: bool,
    /// The journal this run wrote its changes to (`None`: no journal, or
    /// nothing changed, so nothing written).
    pub journal: Option<std::path::PathBuf>,
}

/// What the demo did: its three plans and the requests the simulator saw.
pub struct DemoRun<'a> {
    pub before: &'a Plan,
    pub applied: &'a Plan,
    pub after: &'a Plan,
    pub requests: usize,
}

/// One built-in simulator scenario, for `demo --list`.
#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub machines: Vec<String>,
}

/// What `demo --serve` tells its user: where the simulated Resource Manager
/// is and the environment that points arcfix at it.
#[derive(Debug, Clone)]
pub struct Serving {
    pub scenario: String,
    pub description: String,
    /// The simulator's base URL (`http://127.0.0.1:PORT/`).
    pub endpoint: String,
    /// The variable `--auth static` reads.
    pub token_var: &'static str,
    /// The simulator's own token for its caller: it opens nothing else.
    pub token: String,
    pub token_hours: i64,
    /// The caller's user name in the simulator.
    pub caller: String,
    pub machines: Vec<String>,
    /// Show PowerShell's `$env:` syntax instead of `export`.
    pub windows: bool,
}

#[cfg(test)]
mod tests {
    /// The `.rs` files under `path` (a file or a folder), with their text
    /// before any test module.
    fn sources(path: &std::path::Path) -> Vec<(String, String)> {
        if path.is_file() {
            let text = std::fs::read_to_string(path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            return vec![(path.display().to_string(), code)];
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() || p.extension().is_some_and(|e| e == "rs") {
                out.extend(sources(&p));
            }
        }
        out
    }

    /// The layers below report through `progress::Progress` and never see a
    /// command's view or the renderers (Terraform's hooks).
    #[test]
    fn the_layers_below_never_import_the_views() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let reaching_up =
            regex::Regex::new(r"crate::(view|render)\b|use crate::\{[^}]*\b(view|render)\b")
                .unwrap();
        let mut read = 0;
        for below in [
            "azure",
            "remote",
            "probe",
            "checks",
            "apply.rs",
            "journal.rs",
            "plan.rs",
            "progress.rs",
            "target.rs",
        ] {
            for (file, code) in sources(&src.join(below)) {
                read += 1;
                assert!(!reaching_up.is_match(&code), "{file} imports a view");
            }
        }
        assert!(read > 20, "only {read} files read");
    }
}
