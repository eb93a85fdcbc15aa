//! Human output of findings, plans and apply summaries.

use console::Style;

use crate::plan::{FixKind, NotChecked, Plan, Status};
use crate::text::sanitize;

pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn s(&self, style: Style, text: &str) -> String {
        if self.color {
            style.apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }
    pub fn red(&self, t: &str) -> String {
        self.s(Style::new().red().bold(), t)
    }
    pub fn green(&self, t: &str) -> String {
        self.s(Style::new().green().bold(), t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.s(Style::new().yellow().bold(), t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.s(Style::new().bold(), t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.s(Style::new().dim(), t)
    }
}

/// Targets in first-seen order.
fn targets<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in items {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
            out.push(t.to_string());
        }
    }
    out
}

pub fn findings(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
    let failed: Vec<&NotChecked> = plan.not_checked.iter().filter(|n| n.error).collect();
    let unchosen: Vec<&NotChecked> = plan.not_checked.iter().filter(|n| !n.error).collect();
    let mut sides: Vec<&str> = Vec::new();
    for n in &plan.not_checked {
        if !sides.contains(&n.side.as_str()) {
            sides.push(&n.side);
        }
    }
    if plan.findings.is_empty() && failed.is_empty() && !plan.checked.is_empty() {
        out.push_str(&format!(
            "{} no problems found in {}{}\n",
            p.green("✓"),
            plan.checked.join(", "),
            if sides.is_empty() {
                String::new()
            } else {
                format!("; not checked: {}", sides.join(", "))
            }
        ));
    } else if plan.findings.is_empty() && failed.is_empty() {
        out.push_str(&format!(
            "{} nothing was checked; not checked: {}\n",
            p.yellow("!"),
            sides.join(", ")
        ));
    } else if plan.findings.is_empty() && !plan.checked.is_empty() {
        // Some sides were read and are fine; others could not be read.
        out.push_str(&format!(
            "{} no problems found in {}; not checked: {} (see below)\n",
            p.yellow("!"),
            plan.checked.join(", "),
            sides.join(", ")
        ));
    } else if plan.findings.is_empty() {
        out.push_str(&format!(
            "{} no verdict: some facts could not be read\n",
            p.red("✗")
        ));
    } else {
        out.push_str(&format!(
            "{} ({})\n",
            p.bold("Findings"),
            plan.findings.len()
        ));
        for t in targets(plan.findings.iter().map(|f| f.target.as_str())) {
            out.push_str(&format!("  {}\n", p.bold(&sanitize(&t))));
            for f in plan
                .findings
                .iter()
                .filter(|f| f.target.eq_ignore_ascii_case(&t))
            {
                let fix = match f.fix {
                    FixKind::Auto => p.green("auto"),
                    FixKind::Manual => p.yellow("manual"),
                };
                out.push_str(&format!(
                    "    {} {} [{}] {}\n",
                    p.red("✗"),
                    p.bold(&f.id),
                    fix,
                    sanitize(&f.title)
                ));
                out.push_str(&format!("        {}\n", p.dim(&sanitize(&f.evidence))));
            }
        }
    }
    out.push_str(&connections(plan, p));
    for n in &plan.notes {
        out.push_str(&format!("  note: {}\n", sanitize(n)));
    }
    for n in &failed {
        out.push_str(&format!(
            "  {} {} not checked — {}\n",
            p.red("✗"),
            n.side,
            sanitize(&n.reason)
        ));
    }
    for n in &unchosen {
        out.push_str(&format!(
            "  {} not checked — {}\n",
            n.side,
            p.dim(&sanitize(&n.reason))
        ));
    }
    out
}

/// The connection probes: banner seen, or where and why it broke.
pub fn connections(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
    if plan.connections.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{}\n",
        p.bold("Connection probe (ssh through the Arc proxy)")
    ));
    for c in &plan.connections {
        let name = c.target.rsplit('/').next().unwrap_or(&c.target);
        if c.ok {
            out.push_str(&format!(
                "  {} {} — {}\n",
                p.green("✓"),
                sanitize(name),
                sanitize(&c.evidence)
            ));
        } else {
            out.push_str(&format!(
                "  {} {} [{}] {}{}\n",
                p.red("✗"),
                sanitize(name),
                crate::checks::stage_name(c.stage),
                sanitize(&c.evidence),
                c.problem
                    .as_deref()
                    .map(|id| format!(" → {id}"))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

pub fn plan(plan: &Plan, p: &Paint) -> String {
    let mut out = findings(plan, p);
    if plan.steps.is_empty() && plan.incomplete() {
        out.push_str(&format!(
            "{} nothing to fix in what could be read\n",
            p.yellow("!")
        ));
        return out;
    }
    if plan.steps.is_empty() {
        out.push_str(&format!("{} nothing to fix\n", p.green("✓")));
        return out;
    }
    let auto = plan.automatic_steps();
    let gone = plan
        .steps
        .iter()
        .filter(|s| s.status == Status::NotNeeded)
        .count();
    out.push_str(&format!(
        "\n{} ({} {}: {} automatic, {} manual{})\n",
        p.bold("Plan"),
        plan.steps.len(),
        if plan.steps.len() == 1 {
            "step"
        } else {
            "steps"
        },
        auto,
        plan.steps.len() - auto - gone,
        if gone > 0 {
            format!(", {gone} not needed any more")
        } else {
            String::new()
        }
    ));
    out.push_str(&steps(plan, p, false));
    out
}

fn steps(plan: &Plan, p: &Paint, with_status: bool) -> String {
    let mut out = String::new();
    let mut n = 0;
    for t in targets(plan.steps.iter().map(|s| s.target.as_str())) {
        out.push_str(&format!("  {}\n", p.bold(&sanitize(&t))));
        for s in plan
            .steps
            .iter()
            .filter(|s| s.target.eq_ignore_ascii_case(&t))
        {
            n += 1;
            let mark = if with_status {
                match s.status {
                    Status::Applied => p.green("✓ applied"),
                    Status::AlreadySatisfied => p.green("= already satisfied"),
                    Status::Failed => p.red("✗ failed"),
                    Status::Manual => p.yellow("! manual"),
                    Status::Skipped => p.yellow("- skipped"),
                    Status::NotNeeded => p.dim("= not needed any more"),
                    Status::Planned => "planned".to_string(),
                }
            } else if s.status == Status::NotNeeded {
                p.dim("not needed any more")
            } else if s.automatic {
                p.green("auto")
            } else {
                p.yellow("manual")
            };
            out.push_str(&format!(
                "    {n}. [{mark}] {} — {}\n",
                p.bold(&s.id),
                sanitize(&s.description)
            ));
            if !s.needs.is_empty() {
                out.push_str(&format!(
                    "       needs: {}\n",
                    sanitize(&s.needs.join(", "))
                ));
            }
            if s.status == Status::NotNeeded {
                out.push_str(&format!(
                    "       {}\n",
                    p.dim("the detection just made does not plan it: not re-checked, not acted on")
                ));
            } else if !with_status
                || matches!(s.status, Status::Manual | Status::Failed | Status::Skipped)
            {
                out.push_str(&format!("       $ {}\n", sanitize(&s.command)));
            }
            if let (false, crate::plan::Action::RunCommand { script, verb, .. }) =
                (with_status, &s.action)
            {
                // The exact script Run Command will receive, for review before confirming.
                out.push_str(&format!("       script '{verb}' sent to the server:\n"));
                for line in script.lines() {
                    out.push_str(&format!("       {} {}\n", p.dim("│"), sanitize(line)));
                }
            }
            if let Some(e) = &s.error {
                out.push_str(&format!("       {}\n", p.red(&sanitize(e))));
            }
        }
    }
    out
}

pub fn summary(plan: &Plan, p: &Paint) -> String {
    let count = |st: Status| plan.steps.iter().filter(|s| s.status == st).count();
    let mut out = format!("\n{}\n", p.bold("Summary"));
    out.push_str(&steps(plan, p, true));
    out.push_str(&format!(
        "  {} applied, {} already satisfied, {} failed, {} manual, {} skipped{}\n",
        count(Status::Applied),
        count(Status::AlreadySatisfied),
        count(Status::Failed),
        count(Status::Manual),
        count(Status::Skipped),
        match count(Status::NotNeeded) {
            0 => String::new(),
            n => format!(", {n} not needed any more"),
        }
    ));
    out
}
