//! Human output of findings, plans and apply summaries.

use console::Style;

use crate::plan::{Finding, FixKind, NotChecked, Plan, Status, Target, Verdict};
use crate::text::sanitize;

#[derive(Debug, Clone, Copy)]
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

/// Items grouped by their target, the targets in first-seen order (equal
/// as ARM compares ids).
fn by_target<T>(items: &[T], target: impl Fn(&T) -> &Target) -> Vec<(&Target, Vec<&T>)> {
    let mut out: Vec<(&Target, Vec<&T>)> = Vec::new();
    for item in items {
        let t = target(item);
        match out.iter_mut().find(|(o, _)| *o == t) {
            Some((_, group)) => group.push(item),
            None => out.push((t, vec![item])),
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
        if !sides.contains(&n.side.name()) {
            sides.push(n.side.name());
        }
    }
    let checked: Vec<&str> = plan.checked.iter().map(|c| c.name()).collect();
    if plan.findings.is_empty() && failed.is_empty() && !plan.checked.is_empty() {
        out.push_str(&format!(
            "{} no problems found in {}{}\n",
            p.green("✓"),
            sanitize(&checked.join(", ")),
            if sides.is_empty() {
                String::new()
            } else {
                format!("; not checked: {}", sanitize(&sides.join(", ")))
            }
        ));
    } else if plan.findings.is_empty() && failed.is_empty() {
        out.push_str(&format!(
            "{} nothing was checked; not checked: {}\n",
            p.yellow("!"),
            sanitize(&sides.join(", "))
        ));
    } else if plan.findings.is_empty() && !plan.checked.is_empty() {
        // Some sides were read and are fine; others could not be read.
        out.push_str(&format!(
            "{} no problems found in {}; not checked: {} (see below)\n",
            p.yellow("!"),
            sanitize(&checked.join(", ")),
            sanitize(&sides.join(", "))
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
        for (t, group) in by_target(&plan.findings, |f| &f.target) {
            out.push_str(&format!("  {}\n", p.bold(&sanitize(&t.to_string()))));
            for f in group {
                out.push_str(&finding(f, p));
            }
        }
    }
    out.push_str(&connections(plan, p));
    out.push_str(&notes(plan));
    for n in failed.iter().chain(&unchosen) {
        out.push_str(&not_checked(n, p));
    }
    out
}

/// `auto` or `manual`, coloured.
fn fix_word(fix: FixKind, p: &Paint) -> String {
    match fix {
        FixKind::Auto => p.green("auto"),
        FixKind::Manual => p.yellow("manual"),
    }
}

/// A finding in full: what it is, and under it what showed it.
fn finding(f: &Finding, p: &Paint) -> String {
    format!(
        "    {} {} [{}] {}\n        {}\n",
        p.red("✗"),
        p.bold(&sanitize(&f.id)),
        fix_word(f.fix, p),
        sanitize(&f.title),
        p.dim(&sanitize(&f.evidence))
    )
}

/// The plan's notes, a line each.
fn notes(plan: &Plan) -> String {
    plan.notes
        .iter()
        .map(|n| format!("  note: {}\n", sanitize(n)))
        .collect()
}

/// A side not checked: a failed read in red, a side not chosen dimmed.
fn not_checked(n: &NotChecked, p: &Paint) -> String {
    if n.error {
        format!(
            "  {} {} not checked — {}\n",
            p.red("✗"),
            sanitize(n.side.name()),
            sanitize(&n.reason)
        )
    } else {
        format!(
            "  {} not checked — {}\n",
            sanitize(n.side.name()),
            p.dim(&sanitize(&n.reason))
        )
    }
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
        let name = name(&c.target);
        let name = name.as_str();
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
                    .map(|id| format!(" → {}", sanitize(id)))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

pub fn plan(plan: &Plan, p: &Paint) -> String {
    findings(plan, p) + &plan_only(plan, p)
}

/// The plan without the findings above it (the demo has just shown them).
pub fn plan_only(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
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
    let (auto, manual, gone) = step_counts(plan);
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
        manual,
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
    let targets = by_target(&plan.steps, |s| &s.target);
    let several = targets.len() > 1;
    for (t, group) in targets {
        // A step no longer needed is said once, in the plan: the summary
        // only counts it (its number is kept, so the others read the same).
        let said = |s: &&crate::plan::Step| !(with_status && s.status == Status::NotNeeded);
        if group.iter().any(said) {
            out.push_str(&format!("  {}\n", p.bold(&sanitize(&t.to_string()))));
        }
        for s in group {
            n += 1;
            if !said(&s) {
                continue;
            }
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
                "    {n}. [{mark}] {}{} — {}\n",
                p.bold(&sanitize(&s.id)),
                match s.target.machine() {
                    Some(m) if several && !s.automatic && !names(s, &m.name) => {
                        format!(" on {}", sanitize(&m.name))
                    }
                    _ => String::new(),
                },
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

/// Whether a step's id or description names its machine `name` (as a word
/// of its own: `web-1` is not named by `web-10`).
fn names(step: &crate::plan::Step, name: &str) -> bool {
    let name = name.to_lowercase();
    let part = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    [&step.id, &step.description].iter().any(|text| {
        text.to_lowercase()
            .split(|c: char| !part(c))
            .any(|w| w.trim_end_matches('.') == name || w.ends_with(&format!("-{name}")))
    })
}

pub fn summary(plan: &Plan, p: &Paint) -> String {
    let mut out = format!("\n{}\n", p.bold("Summary"));
    out.push_str(&steps(plan, p, true));
    out.push_str(&format!(
        "{}{}\n",
        totals(plan),
        match with_status(plan, Status::NotNeeded) {
            0 => String::new(),
            n => format!(", {n} not needed any more (in the plan above)"),
        }
    ));
    out
}

/// How many of the plan's steps ended with `status`.
fn with_status(plan: &Plan, status: Status) -> usize {
    plan.steps.iter().filter(|s| s.status == status).count()
}

/// `  1 applied, 0 already satisfied, 0 failed, 0 manual, 0 skipped`.
fn totals(plan: &Plan) -> String {
    format!(
        "  {} applied, {} already satisfied, {} failed, {} manual, {} skipped",
        with_status(plan, Status::Applied),
        with_status(plan, Status::AlreadySatisfied),
        with_status(plan, Status::Failed),
        with_status(plan, Status::Manual),
        with_status(plan, Status::Skipped),
    )
}

// ---- fleets: several machines read short ----

/// Whether the plan is about a fleet (machines enumerated in a scope, or more
/// than a few named): then it is summarised, not listed (`-v` lists everything).
pub fn is_fleet(plan: &Plan) -> bool {
    plan.machines.len() > 1
        && (plan.scope.is_some() || plan.machines.len() > crate::checks::fleet::FEW)
}

/// A machine's name, the target itself otherwise.
fn name(target: &Target) -> String {
    match target.machine() {
        Some(m) => m.name.clone(),
        None => target.to_string(),
    }
}

/// `web-01 (rg-web)` for a machine.
fn short(m: &crate::target::MachineId) -> String {
    format!("{} ({})", m.name, m.resource_group)
}

/// `n` things, with the first few named.
fn some_of(names: &[String], n_shown: usize) -> String {
    let shown: Vec<&str> = names.iter().take(n_shown).map(String::as_str).collect();
    format!(
        "{}{}",
        sanitize(&shown.join(", ")),
        if names.len() > n_shown { ", …" } else { "" }
    )
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        crate::checks::fleet::thousands(n),
        if n == 1 { one } else { many }
    )
}

/// The kind of a step, as a name (its id without the machine's name).
pub fn step_kind(step: &crate::plan::Step) -> String {
    match step.kind {
        // A saved plan's step, whose kind was not recorded: its id.
        crate::plan::StepKind::Saved => step.id.clone(),
        ref kind => kind.name(),
    }
}

/// A fleet's findings: a summary by problem, one line per machine with
/// problems, the ones that could not be checked, the healthy count; this
/// machine's own findings in full.
pub fn fleet_findings(plan: &Plan, p: &Paint) -> String {
    let healthy = verdicts(plan, Verdict::Healthy).count();
    let mut out = format!(
        "{} {}: {}\n",
        p.bold("Fleet"),
        count(plan.machines.len(), "machine", "machines"),
        verdict_counts(plan)
    );
    out.push_str(&fleet_problems(plan, p));
    out.push_str(&unreadable_machines(plan, p));
    if healthy > 0 {
        out.push_str(&format!(
            "{} {} (-v lists every finding)\n",
            p.green("✓"),
            count(healthy, "healthy machine", "healthy machines")
        ));
    }
    out.push_str(&local_findings(plan, p));
    out.push_str(&connections(plan, p));
    out.push_str(&notes(plan));
    out.push_str(&fleet_not_checked(plan, p));
    out
}

/// `1 healthy, 4 with problems`: the machines by verdict, none said zero times.
fn verdict_counts(plan: &Plan) -> String {
    let parts: Vec<String> = [
        (Verdict::Healthy, "healthy"),
        (Verdict::Problems, "with problems"),
        (Verdict::Error, "could not be checked"),
    ]
    .into_iter()
    .map(|(v, word)| (verdicts(plan, v).count(), word))
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{} {word}", crate::checks::fleet::thousands(n)))
    .collect();
    parts.join(", ")
}

/// The machines whose verdict is `status`.
fn verdicts(plan: &Plan, status: Verdict) -> impl Iterator<Item = &crate::plan::MachineVerdict> {
    plan.machines.iter().filter(move |m| m.status == status)
}

/// Each problem of the fleet with its fix and the targets that have it,
/// most targets first; a subscription's counts as itself. A problem fixed
/// automatically on some targets and by hand on others is two lines.
fn problems_by_id(plan: &Plan) -> Vec<(&str, FixKind, Vec<&Target>)> {
    let mut ids: Vec<(&str, FixKind, Vec<&Target>)> = Vec::new();
    for f in plan.findings.iter().filter(|f| !f.target.is_local()) {
        match ids
            .iter_mut()
            .find(|(id, fix, _)| *id == f.id && *fix == f.fix)
        {
            Some((_, _, targets)) => {
                if !targets.contains(&&f.target) {
                    targets.push(&f.target);
                }
            }
            None => ids.push((&f.id, f.fix, vec![&f.target])),
        }
    }
    ids.sort_by_key(|b| std::cmp::Reverse(b.2.len()));
    ids
}

/// The fleet's problems, one line each with the first few targets named,
/// then one line per machine with problems.
fn fleet_problems(plan: &Plan, p: &Paint) -> String {
    let ids = problems_by_id(plan);
    if ids.is_empty() {
        return String::new();
    }
    let mut out = format!("{}\n", p.bold("Problems"));
    for (id, fix, targets) in &ids {
        let subs = targets.iter().filter(|t| t.machine().is_none()).count();
        let what = if subs == targets.len() {
            count(targets.len(), "subscription", "subscriptions")
        } else {
            count(targets.len(), "machine", "machines")
        };
        let names: Vec<String> = targets.iter().map(|t| name(t)).collect();
        out.push_str(&format!(
            "  {} {} [{}] {what}: {}\n",
            p.red("✗"),
            p.bold(&sanitize(id)),
            fix_word(*fix, p),
            some_of(&names, 3)
        ));
    }
    out.push_str(&format!("{}\n", p.bold("Machines with problems")));
    for m in verdicts(plan, Verdict::Problems) {
        out.push_str(&format!(
            "  {}: {}\n",
            sanitize(&short(&m.id)),
            sanitize(&m.findings.join(", "))
        ));
    }
    out
}

/// The machines that could not be checked, with why.
fn unreadable_machines(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
    for m in verdicts(plan, Verdict::Error) {
        if out.is_empty() {
            out.push_str(&format!("{}\n", p.bold("Could not be checked")));
        }
        out.push_str(&format!(
            "  {} {}: {}\n",
            p.red("✗"),
            sanitize(&short(&m.id)),
            sanitize(m.error.as_deref().unwrap_or("unknown error"))
        ));
    }
    out
}

/// This machine's findings in a fleet's report, in full.
fn local_findings(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
    for f in plan.findings.iter().filter(|f| f.target.is_local()) {
        if out.is_empty() {
            out.push_str(&format!("{}\n", p.bold("This machine")));
        }
        out.push_str(&finding(f, p));
    }
    out
}

/// The sides not checked in a fleet, but for the machines that could not be
/// read: those are listed above, with their reasons.
fn fleet_not_checked(plan: &Plan, p: &Paint) -> String {
    let listed: std::collections::HashSet<&str> = verdicts(plan, Verdict::Error)
        .filter_map(|m| m.error.as_deref())
        .flat_map(|e| e.split("; "))
        .collect();
    let machine_errors: std::collections::HashSet<String> = verdicts(plan, Verdict::Error)
        .map(|m| format!("{}: {}", m.id.name, m.error.as_deref().unwrap_or("")))
        .collect();
    plan.not_checked
        .iter()
        .filter(|n| {
            !(n.error
                && n.side == crate::plan::Part::Azure
                && (listed.contains(n.reason.as_str()) || machine_errors.contains(&n.reason)))
        })
        .map(|n| not_checked(n, p))
        .collect()
}

/// Items grouped by `key`, the groups in first-seen order.
fn grouped<'a, T, K: PartialEq>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<&'a T>)> {
    let mut out: Vec<(K, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match out.iter_mut().find(|(o, _)| *o == k) {
            Some((_, v)) => v.push(item),
            None => out.push((k, vec![item])),
        }
    }
    out
}

/// Steps grouped by kind (a fleet's summary).
fn kinds(plan: &Plan) -> Vec<(String, Vec<&crate::plan::Step>)> {
    grouped(&plan.steps, step_kind)
}

/// More machines than this, in more than one resource group, are named
/// one line per resource group.
pub const LONG: usize = 3;

/// Targets by where they are: machines by name under their resource group
/// (as Azure spells it; the same name in two subscriptions is two groups,
/// each said with its subscription), anything else under "" by its id.
fn by_group<'a>(targets: impl IntoIterator<Item = &'a Target>) -> Vec<(String, Vec<String>)> {
    let place = |t: &Target| {
        t.machine().map_or_else(Default::default, |m| {
            (
                m.subscription.to_lowercase(),
                m.resource_group.to_lowercase(),
            )
        })
    };
    let list: Vec<&Target> = targets.into_iter().collect();
    let groups = grouped(list.iter().copied(), place);
    let label = |t: &Target| {
        t.machine()
            .map_or_else(String::new, |m| m.resource_group.clone())
    };
    groups
        .iter()
        .map(|((_, rg), ts)| {
            let twice = groups.iter().filter(|((_, r), _)| r == rg).count() > 1;
            let mut l = label(ts[0]);
            if twice && let Some(m) = ts[0].machine() {
                l = format!("{l} in subscription {}", m.subscription);
            }
            (l, ts.iter().map(|t| name(t)).collect())
        })
        .collect()
}

/// Whether a list of targets is named one line per resource group.
fn long(groups: &[(String, Vec<String>)]) -> bool {
    groups.len() > 1 && groups.iter().map(|(_, n)| n.len()).sum::<usize>() > LONG
}

/// `web-02, web-03 (arc-web); db-01 (arc-db)`: every target named, on one
/// line (which `fit` folds).
fn inline(groups: &[(String, Vec<String>)]) -> String {
    let parts: Vec<String> = groups
        .iter()
        .map(|(g, names)| match g.as_str() {
            "" => names.join(", "),
            g => format!("{} ({g})", names.join(", ")),
        })
        .collect();
    sanitize(&parts.join("; "))
}

/// Every target named, under an item: inline after ` — `, or (when long)
/// `, in N resource groups` and a line per group, `indent` in.
fn named(groups: &[(String, Vec<String>)], indent: &str) -> String {
    if !long(groups) {
        return format!(" — {}\n", inline(groups));
    }
    let mut out = format!(", in {} resource groups\n", groups.len());
    for (g, names) in groups {
        let names = sanitize(&names.join(", "));
        match g.as_str() {
            "" => out.push_str(&format!("{indent}{names}\n")),
            g => out.push_str(&format!("{indent}{}: {names}\n", sanitize(g))),
        }
    }
    out
}

/// How many of the plan's steps are automatic, manual, and not needed any
/// more (a saved plan's steps the detection just made does not plan).
fn step_counts(plan: &Plan) -> (usize, usize, usize) {
    let gone = with_status(plan, Status::NotNeeded);
    let auto = plan
        .steps
        .iter()
        .filter(|s| s.automatic && s.status != Status::NotNeeded)
        .count();
    (auto, plan.steps.len() - auto - gone, gone)
}

/// Machines (ids, lower case) that automatic steps would change.
pub fn machines_touched(plan: &Plan) -> usize {
    let mut seen = std::collections::HashSet::new();
    for s in plan
        .steps
        .iter()
        .filter(|s| s.automatic && s.status != Status::NotNeeded)
    {
        if let Some(m) = s.target.machine() {
            seen.insert(m.key());
        }
    }
    seen.len()
}

/// A fleet's plan: its findings, then its steps by kind, each with every
/// target it changes.
pub fn fleet_plan(plan: &Plan, p: &Paint) -> String {
    let mut out = fleet_findings(plan, p);
    if plan.steps.is_empty() {
        out.push_str(&if plan.incomplete() {
            format!("{} nothing to fix in what could be read\n", p.yellow("!"))
        } else {
            format!("{} nothing to fix\n", p.green("✓"))
        });
        return out;
    }
    let (auto, manual, gone) = step_counts(plan);
    out.push_str(&format!(
        "\n{} ({}: {} automatic, {} manual{}; {} to change)\n",
        p.bold("Plan"),
        count(plan.steps.len(), "step", "steps"),
        crate::checks::fleet::thousands(auto),
        crate::checks::fleet::thousands(manual),
        match gone {
            0 => String::new(),
            n => format!(
                ", {} not needed any more",
                crate::checks::fleet::thousands(n)
            ),
        },
        count(machines_touched(plan), "machine", "machines"),
    ));
    let pending = plan.steps.iter().filter(|s| s.status != Status::NotNeeded);
    for ((kind, _), steps) in grouped(pending, |s| (step_kind(s), s.automatic)) {
        out.push_str(&fleet_kind(&kind, &steps, p));
    }
    out.push_str(&format!(
        "  {}\n",
        p.dim("plan --out FILE saves every step; -v lists them all here")
    ));
    out
}

/// One kind of step in a fleet's plan, done one way: every target it
/// changes, what it does and the command, from its first step.
fn fleet_kind(kind: &str, steps: &[&crate::plan::Step], p: &Paint) -> String {
    let first = steps[0];
    let mut out = format!(
        "  [{}] {} × {}",
        if first.automatic {
            p.green("auto")
        } else {
            p.yellow("manual")
        },
        p.bold(&sanitize(kind)),
        crate::checks::fleet::thousands(steps.len()),
    );
    out.push_str(&named(
        &by_group(steps.iter().map(|s| &s.target)),
        "       ",
    ));
    out.push_str(&format!(
        "       {}{}\n       $ {}\n",
        if steps.len() > 1 { "e.g. " } else { "" },
        sanitize(&first.description),
        sanitize(&first.command)
    ));
    out
}

/// How a fleet's apply ended, by kind of step; failed steps in full, the
/// targets of manual steps named.
pub fn fleet_summary(plan: &Plan, p: &Paint) -> String {
    let mut out = format!("\n{}\n", p.bold("Summary"));
    for (kind, steps) in kinds(plan) {
        let n = |st: Status| steps.iter().filter(|s| s.status == st).count();
        let parts: Vec<String> = [
            (Status::Applied, "applied"),
            (Status::AlreadySatisfied, "already satisfied"),
            (Status::Failed, "failed"),
            (Status::Manual, "manual"),
            (Status::Skipped, "skipped"),
            (Status::NotNeeded, "not needed any more"),
        ]
        .iter()
        .filter(|(st, _)| n(*st) > 0)
        .map(|(st, word)| format!("{} {word}", crate::checks::fleet::thousands(n(*st))))
        .collect();
        out.push_str(&format!(
            "  {}: {}\n",
            p.bold(&sanitize(&kind)),
            parts.join(", ")
        ));
        out.push_str(&unfinished(&steps, p));
    }
    out.push_str(&totals(plan));
    out.push('\n');
    out
}

/// Under a kind of step in a fleet's summary: each failed or skipped step
/// with why, and where the manual ones are left to do.
fn unfinished(steps: &[&crate::plan::Step], p: &Paint) -> String {
    let mut out = String::new();
    for s in steps
        .iter()
        .filter(|s| matches!(s.status, Status::Failed | Status::Skipped))
    {
        out.push_str(&format!(
            "    {} {}: {}\n",
            p.red("✗"),
            sanitize(
                &s.target
                    .machine()
                    .map_or_else(|| s.target.to_string(), short)
            ),
            sanitize(s.error.as_deref().unwrap_or(""))
        ));
    }
    let manual = steps.iter().filter(|s| s.status == Status::Manual);
    let groups = by_group(manual.map(|s| &s.target));
    if !groups.is_empty() {
        out.push_str(&format!(
            "    {} to do by hand on {}\n",
            p.yellow("!"),
            inline(&groups)
        ));
    }
    out
}

/// The first sentence of a description (up to ". ").
fn first_sentence(s: &str) -> &str {
    match s.find(". ") {
        Some(i) => &s[..=i],
        None => s,
    }
}

/// `text` folded into lines of at most `width` characters, each starting
/// with `indent`. A word longer than a line (a path, a URL) stays whole.
pub fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in sanitize(text).split_whitespace() {
        if !line.is_empty()
            && indent.len() + line.chars().count() + 1 + word.chars().count() > width
        {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
}

/// `demo --list`: a line per scenario with its first sentence, folded
/// under the sentences' column.
pub fn scenarios(list: &[crate::view::ScenarioInfo], width: usize) -> String {
    let name_width = list.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let column = " ".repeat(name_width + 4);
    let mut out =
        String::from("Built-in scenarios for `arcfix demo --scenario NAME` (and --serve):\n");
    for s in list {
        let said = wrap(first_sentence(&s.description), &column, width);
        out.push_str(&format!(
            "  {:name_width$}  {}\n",
            sanitize(&s.name),
            said.trim()
        ));
    }
    out
}

/// `demo --serve`: where the simulated Resource Manager is, the environment
/// that points arcfix at it, and what to type.
pub fn serving(s: &crate::view::Serving, p: &Paint, width: usize) -> String {
    let set = |k: &str, v: &str| {
        if s.windows {
            format!("  $env:{k} = '{v}'\n")
        } else {
            format!("  export {k}={v}\n")
        }
    };
    let mut out = format!(
        "{}\n",
        p.bold(&format!(
            "arcfix demo --serve — SIMULATED Azure, scenario '{}'",
            sanitize(&s.scenario)
        ))
    );
    out.push_str(&wrap(&s.description, "  ", width));
    out.push_str(&wrap(
        &format!(
            "Resource Manager on {}, signed in as {}. The token below is the simulator's own: it opens nothing else and is valid {} hours; --auth static accepts it for a loopback endpoint only.",
            s.endpoint, s.caller, s.token_hours
        ),
        "  ",
        width,
    ));
    out.push_str("\nIn another terminal, set:\n");
    out.push_str(&set("ARCFIX_ARM_ENDPOINT", &s.endpoint));
    out.push_str(&set("ARCFIX_AUTH", "static"));
    out.push_str(&set(s.token_var, &s.token));
    out.push_str("then check each machine (reads only):\n");
    for id in &s.machines {
        out.push_str(&format!("  arcfix check --remote --id {}\n", sanitize(id)));
    }
    out.push('\n');
    out.push_str(&wrap(
        "and fix them in the simulator with `arcfix apply --checks azure,server --remote --no-journal --id …` (--checks azure,server keeps apply away from this machine's own settings).",
        "",
        width,
    ));
    out.push_str("\nServing until Ctrl-C (which stops it and exits 0).\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";

    fn machine(name: &str) -> String {
        format!("{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}")
    }

    fn step(target: &str, id: &str, status: &str, error: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "id": id, "fixes": ["p"], "target": target,
            "description": "Register the provider", "command": "az provider register",
            "automatic": true, "precondition": "-", "verification": "-",
            "check": {"kind": "restarted"}, "action": {"kind": "manual"},
            "status": status, "error": error,
        })
    }

    /// Four machines in a scope: one with a problem, one healthy, two that
    /// could not be read; a subscription's problem and this machine's own.
    fn fleet() -> Plan {
        let finding = |id: &str, target: &str, fix: &str| serde_json::json!({"id": id, "target": target, "title": "T", "evidence": "E", "fix": fix});
        let verdict = |name: &str, status: &str, error: Option<&str>| serde_json::json!({"id": machine(name), "status": status, "findings": [], "error": error});
        let mut problems = verdict("web-01", "problems", None);
        problems["findings"] = serde_json::json!(["endpoint-missing"]);
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "arcfix_version": "0", "target": SUB, "created": "c",
            "fingerprint": "f",
            "scope": "4 Arc machines in 1 subscription (Resource Graph)",
            "checked": ["client", "azure"],
            "findings": [
                finding("endpoint-missing", &machine("web-01"), "auto"),
                finding("provider-not-registered", SUB, "auto"),
                finding("arcproxy-missing", "local", "manual"),
            ],
            "steps": [
                step(&machine("web-01"), "create-default-endpoint-web-01", "applied", None),
                step(&machine("web-02"), "create-default-endpoint-web-02", "failed", Some("HTTP 409")),
                step(SUB, "register-hybridconnectivity", "already-satisfied", None),
            ],
            "machines": [
                problems,
                verdict("web-02", "healthy", None),
                verdict("db-01", "error", Some("HTTP 403 reading db-01")),
                verdict("db-02", "error", Some("timed out")),
            ],
            "notes": ["a note"],
            "not_checked": [
                {"side": "azure", "reason": "HTTP 403 reading db-01", "error": true},
                {"side": "azure", "reason": "db-02: timed out", "error": true},
                {"side": "server", "reason": "not chosen (--checks)"},
                {"side": "client", "reason": "unreadable", "error": true},
            ],
        }))
        .map(|mut plan: Plan| {
            // A plan a detection made knows its steps' kinds (a saved one's are not read back).
            use crate::plan::StepKind;
            for (s, kind) in plan.steps.iter_mut().zip([
                StepKind::CreateEndpoint,
                StepKind::CreateEndpoint,
                StepKind::RegisterProvider,
            ]) {
                s.kind = kind;
            }
            plan
        })
        .unwrap()
    }

    #[test]
    fn a_fleet_reads_short_and_lists_each_unreadable_machine_once() {
        let text = fleet_findings(&fleet(), &Paint { color: false });
        assert_eq!(
            text,
            "Fleet 4 machines: 1 healthy, 1 with problems, 2 could not be checked\n\
             Problems\n  \
             ✗ endpoint-missing [auto] 1 machine: web-01\n  \
             ✗ provider-not-registered [auto] 1 subscription: /subscriptions/00000000-0000-0000-0000-000000000001\n\
             Machines with problems\n  \
             web-01 (rg): endpoint-missing\n\
             Could not be checked\n  \
             ✗ db-01 (rg): HTTP 403 reading db-01\n  \
             ✗ db-02 (rg): timed out\n\
             ✓ 1 healthy machine (-v lists every finding)\n\
             This machine\n    \
             ✗ arcproxy-missing [manual] T\n        \
             E\n  \
             note: a note\n  \
             server not checked — not chosen (--checks)\n  \
             ✗ client not checked — unreadable\n"
        );
    }

    #[test]
    fn a_fleet_summary_counts_each_kind_and_names_what_failed() {
        let text = fleet_summary(&fleet(), &Paint { color: false });
        assert_eq!(
            text,
            "\nSummary\n  \
             create-default-endpoint: 1 applied, 1 failed\n    \
             ✗ web-02 (rg): HTTP 409\n  \
             register-hybridconnectivity: 1 already satisfied\n  \
             1 applied, 1 already satisfied, 1 failed, 0 manual, 0 skipped\n"
        );
    }

    #[test]
    fn one_machine_reads_in_full_failed_reads_before_unchosen_sides() {
        let mut plan = fleet();
        plan.machines.clear();
        plan.scope = None;
        plan.findings.truncate(1);
        let text = findings(&plan, &Paint { color: false });
        assert_eq!(
            text,
            format!(
                "Findings (1)\n  {}\n    ✗ endpoint-missing [auto] T\n        E\n  \
                 note: a note\n  \
                 ✗ azure not checked — HTTP 403 reading db-01\n  \
                 ✗ azure not checked — db-02: timed out\n  \
                 ✗ client not checked — unreadable\n  \
                 server not checked — not chosen (--checks)\n",
                machine("web-01")
            )
        );
    }

    fn target(sub: &str, rg: &str, name: &str) -> Target {
        Target::parse(&format!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}"
        ))
        .unwrap()
    }

    #[test]
    fn few_machines_are_named_inline_many_in_several_groups_a_line_per_group() {
        let one = "00000000-0000-0000-0000-000000000001";
        let two = "00000000-0000-0000-0000-000000000002";
        let few = [
            target(one, "arc-web", "web-02"),
            target(one, "ARC-WEB", "web-03"),
            target(one, "arc-db", "db-01"),
        ];
        assert_eq!(
            named(&by_group(&few), "   "),
            " — web-02, web-03 (arc-web); db-01 (arc-db)\n",
            "three machines: inline, the group as Azure first spelled it"
        );
        let many = [few.as_slice(), &[target(one, "arc-db", "db-02")]].concat();
        assert_eq!(
            named(&by_group(&many), "   "),
            ", in 2 resource groups\n   arc-web: web-02, web-03\n   arc-db: db-01, db-02\n"
        );
        let one_group: Vec<Target> = (1..=6)
            .map(|i| target(one, "rg", &format!("m-{i}")))
            .collect();
        assert_eq!(
            named(&by_group(&one_group), ""),
            " — m-1, m-2, m-3, m-4, m-5, m-6 (rg)\n",
            "one group: inline however many"
        );
        let twins = [target(one, "rg", "a"), target(two, "rg", "b")];
        assert_eq!(
            inline(&by_group(&twins)),
            format!("a (rg in subscription {one}); b (rg in subscription {two})")
        );
        let sub = Target::parse(&format!("/subscriptions/{two}")).unwrap();
        assert_eq!(inline(&by_group([&sub])), format!("/subscriptions/{two}"));
    }

    #[test]
    fn a_fleet_plan_lists_automatic_and_manual_steps_of_a_kind_apart() {
        let mut plan = fleet();
        plan.steps[1].automatic = false;
        for s in &mut plan.steps {
            s.status = Status::Planned;
        }
        let text = fleet_plan(&plan, &Paint { color: false });
        let steps = text.split("\nPlan").nth(1).unwrap();
        assert_eq!(
            steps,
            " (3 steps: 2 automatic, 1 manual; 1 machine to change)\n  \
             [auto] create-default-endpoint × 1 — web-01 (rg)\n       \
             Register the provider\n       \
             $ az provider register\n  \
             [manual] create-default-endpoint × 1 — web-02 (rg)\n       \
             Register the provider\n       \
             $ az provider register\n  \
             [auto] register-hybridconnectivity × 1 — /subscriptions/00000000-0000-0000-0000-000000000001\n       \
             Register the provider\n       \
             $ az provider register\n  \
             plan --out FILE saves every step; -v lists them all here\n"
        );
    }

    #[test]
    fn a_fleet_summary_names_the_machines_left_to_do_by_hand() {
        let mut plan = fleet();
        plan.steps[0].status = Status::Manual;
        let text = fleet_summary(&plan, &Paint { color: false });
        assert!(
            text.contains("  create-default-endpoint: 1 failed, 1 manual\n    ✗ web-02 (rg): HTTP 409\n    ! to do by hand on web-01 (rg)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_manual_step_names_its_machine_when_the_plan_has_several() {
        let mut plan = fleet();
        plan.machines.clear();
        for s in &mut plan.steps {
            s.status = Status::Planned;
            s.automatic = false;
        }
        plan.steps[0].id = "reconnect-agent".into();
        let text = plan_only(&plan, &Paint { color: false });
        assert!(
            text.contains("1. [manual] reconnect-agent on web-01 — Register the provider\n"),
            "{text}"
        );
        // Its id names it already; a subscription is no machine.
        assert!(
            text.contains("2. [manual] create-default-endpoint-web-02 — Register"),
            "{text}"
        );
        assert!(
            text.contains("3. [manual] register-hybridconnectivity — "),
            "{text}"
        );
        // One target: its heading names it.
        plan.steps.truncate(1);
        let text = plan_only(&plan, &Paint { color: false });
        assert!(text.contains("1. [manual] reconnect-agent — "), "{text}");
    }

    #[test]
    fn a_plan_counts_steps_not_needed_any_more_apart() {
        let mut plan = fleet();
        plan.machines.clear();
        plan.steps[0].status = Status::NotNeeded;
        plan.steps[1].automatic = false;
        let text = plan_only(&plan, &Paint { color: false });
        assert!(
            text.contains("Plan (3 steps: 1 automatic, 1 manual, 1 not needed any more)\n"),
            "{text}"
        );
    }
}
