//! Detection: runs the probes of every side concurrently and turns what they
//! saw into findings and steps. Each side lives in its own module.

pub mod az_ssh;
pub mod azure;
pub mod client;
pub mod connect;
pub mod fleet;
pub mod remote;
pub mod seen;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;

use crate::azure::client::Arm;
use crate::error::{Error, Result};
use crate::os::Host;
use crate::plan::{
    Action, Connection, Finding, FixKind, Goal, MachineVerdict, NotChecked, Part, Plan, Status,
    Step, StepKind, Target, Verdict,
};
use crate::target::{MachineId, Request};

pub use crate::plan::stage_name;
pub use crate::target::{Side, side_name};

/// Findings, steps and what was observed, from one or more checks.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub steps: Vec<Step>,
    /// For the plan's fingerprint only (a long one is kept as its digest,
    /// so that a fleet's hundreds of thousands stay small).
    pub observations: crate::plan::Observations,
    pub notes: Vec<String>,
    /// Reads that failed, or checks that could not be made: the side they
    /// belong to is not checked.
    pub unread: Vec<NotChecked>,
    pub machines: Vec<MachineVerdict>,
    pub connections: Vec<Connection>,
    /// Fleet mode: how many machines were in scope and where they came from.
    pub scope: Option<String>,
}

impl Report {
    pub fn finding(&mut self, f: Finding) {
        if !self
            .findings
            .iter()
            .any(|x| x.id == f.id && x.target == f.target && x.evidence == f.evidence)
        {
            self.findings.push(f);
        }
    }
    pub fn step(&mut self, s: StepSpec) {
        self.push_step(s.build());
    }
    /// A subscription-wide step (provider registration) is planned once for many machines.
    fn push_step(&mut self, step: Step) {
        if !self
            .steps
            .iter()
            .any(|x| x.kind == step.kind && x.target == step.target)
        {
            self.steps.push(step);
        }
    }
    pub fn observe(&mut self, o: String) {
        self.observations.push(o);
    }
    pub fn note(&mut self, n: impl Into<String>) {
        self.notes.push(n.into());
    }
    /// A fact of `side` that could not be read: that side gets no verdict.
    pub fn unread(&mut self, side: Side, reason: impl Into<String>) {
        self.unread.push(NotChecked {
            side: side.into(),
            reason: reason.into(),
            error: true,
        });
    }
    /// The connection probe of one machine, and what it points to.
    pub fn probed(&mut self, id: &MachineId, port: u16, probe: connect::Probe) {
        let c = match probe {
            connect::Probe::NotPossible { reason, error } => {
                self.unread.push(NotChecked {
                    side: Part::Connection,
                    reason: format!("{}: {reason}", id.name),
                    error,
                });
                return;
            }
            connect::Probe::Tried(c) => c,
        };
        let mut c = c;
        // A failure a finding already explains is put down to it: an agent
        // in monitor mode refuses every connection through Arc (a failure at
        // the relay or the server, not one of this machine's); an SSHPort
        // tag naming another port than Azure allows explains a refused port.
        let seen = |id: &str| {
            self.findings
                .iter()
                .any(|f| f.id == id && f.target.covers(&c.target))
        };
        let beyond_here = matches!(
            c.problem.as_deref(),
            Some(
                crate::problem::SSH_PORT_NOT_ENABLED
                    | crate::problem::SSHD_NOT_RUNNING
                    | crate::problem::AGENT_DISCONNECTED
                    | crate::problem::SSH_CONNECTION_FAILED
            )
        );
        let cause = if beyond_here && seen(crate::problem::AGENT_MONITOR_MODE) {
            Some(crate::problem::AGENT_MONITOR_MODE)
        } else if c.problem.as_deref() == Some(crate::problem::SSH_PORT_NOT_ENABLED)
            && seen(crate::problem::SSH_PORT_TAG_MISMATCH)
        {
            Some(crate::problem::SSH_PORT_TAG_MISMATCH)
        } else {
            None
        };
        if let (false, Some(cause)) = (c.ok, cause) {
            c.problem = Some(cause.into());
        }
        if let (false, Some(problem)) = (c.ok, c.problem.clone()) {
            let covers = |t: &Target| t.covers(&c.target);
            if !self
                .findings
                .iter()
                .any(|f| f.id == problem && covers(&f.target))
            {
                self.finding(finding(
                    &problem,
                    &c.target,
                    format!("connection probe [{}]: {}", stage_name(c.stage), c.evidence),
                    FixKind::Manual,
                ));
            }
            if !self
                .steps
                .iter()
                .any(|s| s.fixes.contains(&problem) && covers(&s.target))
            {
                self.step(connect::manual_step(id, &problem, port));
            }
        }
        self.connections.push(c);
    }
    /// Merges many reports (a fleet's machines) in time proportional to their size.
    pub fn merge_many(&mut self, others: Vec<Report>) {
        let mut merged = Merged::new(std::mem::take(self));
        for other in others {
            merged.add(other);
        }
        *self = merged.report;
    }

    pub fn merge(&mut self, other: Report) {
        self.merge_many(vec![other]);
    }
}

/// Reports merged one at a time (a fleet's machines as they are diagnosed):
/// a finding or step already there is not added again. What is already
/// there is found by a hash of what makes it the same (kept instead of a
/// copy of it), then compared.
pub struct Merged {
    pub report: Report,
    findings: Seen,
    steps: Seen,
}

/// `more` after `list`; a fleet's list is taken whole when `list` is empty,
/// not copied.
fn append<T>(list: &mut Vec<T>, mut more: Vec<T>) {
    if list.is_empty() {
        *list = more;
    } else {
        list.append(&mut more);
    }
}

/// Where the items of a list are, by the hash of their key: the first of a
/// hash, and the rare others of the same hash.
#[derive(Default)]
struct Seen {
    first: std::collections::HashMap<u64, u32>,
    more: Vec<(u64, u32)>,
}

impl Seen {
    fn hash(key: impl std::hash::Hash) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault};
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
    }

    fn note(&mut self, hash: u64, at: usize) {
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(at as u32);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.more.push((hash, at as u32)),
        }
    }

    /// Whether the item is new (none of this hash that `same` recognises is
    /// there), and then notes that it is at `at`.
    fn insert(&mut self, hash: u64, at: usize, same: impl Fn(usize) -> bool) -> bool {
        match self.first.get(&hash) {
            None => {
                self.first.insert(hash, at as u32);
                true
            }
            Some(&i) if same(i as usize) => false,
            Some(_) => {
                if self
                    .more
                    .iter()
                    .any(|&(h, i)| h == hash && same(i as usize))
                {
                    return false;
                }
                self.more.push((hash, at as u32));
                true
            }
        }
    }
}

impl Merged {
    /// `report` as it is (its own findings and steps are not compared).
    pub fn new(report: Report) -> Merged {
        let mut merged = Merged {
            report,
            findings: Seen::default(),
            steps: Seen::default(),
        };
        for (i, f) in merged.report.findings.iter().enumerate() {
            merged
                .findings
                .note(Seen::hash((&f.id, &f.target, &f.evidence)), i);
        }
        for (i, s) in merged.report.steps.iter().enumerate() {
            merged.steps.note(Seen::hash((&s.kind, &s.target)), i);
        }
        merged
    }

    pub fn add(&mut self, other: Report) {
        let r = &mut self.report;
        r.findings.reserve(other.findings.len());
        r.steps.reserve(other.steps.len());
        for f in other.findings {
            let hash = Seen::hash((&f.id, &f.target, &f.evidence));
            let same = |i: usize| {
                let x = &r.findings[i];
                x.id == f.id && x.target == f.target && x.evidence == f.evidence
            };
            if self.findings.insert(hash, r.findings.len(), same) {
                r.findings.push(f);
            }
        }
        for s in other.steps {
            let hash = Seen::hash((&s.kind, &s.target));
            let same = |i: usize| {
                let x = &r.steps[i];
                x.kind == s.kind && x.target == s.target
            };
            if self.steps.insert(hash, r.steps.len(), same) {
                r.steps.push(s);
            }
        }
        r.observations.extend(other.observations);
        append(&mut r.notes, other.notes);
        append(&mut r.unread, other.unread);
        append(&mut r.machines, other.machines);
        append(&mut r.connections, other.connections);
        if other.scope.is_some() {
            r.scope = other.scope;
        }
    }
}

/// A step as the checks describe it; `build` fills in the status.
pub struct StepSpec {
    pub kind: StepKind,
    pub fixes: Vec<String>,
    pub target: Target,
    pub description: String,
    pub command: String,
    pub automatic: bool,
    pub needs: Vec<String>,
    pub precondition: String,
    pub verification: String,
    /// The kinds of step this one waits for (on its target, or its subscription).
    pub after: Vec<StepKind>,
    pub goal: Goal,
    pub action: Action,
    /// How to put back what the step changes, with the values it replaces,
    /// as a person types it: every automatic step says it when planned (the
    /// journal records it; nothing is guessed afterwards).
    pub undo: Option<String>,
}

impl StepSpec {
    /// The defaults of a manual step: a person runs `command`.
    pub fn manual() -> StepSpec {
        StepSpec {
            kind: StepKind::Saved,
            fixes: vec![],
            target: Target::Local,
            description: String::new(),
            command: String::new(),
            automatic: false,
            needs: vec![],
            precondition: "none (a person decides)".into(),
            verification: "run arcfix check again".into(),
            after: vec![],
            goal: Goal::None,
            action: Action::Manual,
            undo: None,
        }
    }
    pub(crate) fn build(self) -> Step {
        let automatic = self.automatic && self.action != Action::Manual;
        let mut step = Step {
            id: String::new(),
            kind: self.kind,
            fixes: self.fixes,
            target: self.target,
            description: self.description,
            command: self.command,
            automatic,
            needs: self.needs,
            precondition: self.precondition,
            verification: self.verification,
            depends_on: vec![],
            after: self.after,
            goal: self.goal,
            action: if automatic {
                self.action
            } else {
                Action::Manual
            },
            status: Status::Planned,
            error: None,
            undo: self.undo.filter(|_| automatic),
        };
        step.name(None);
        step
    }
}

pub fn finding(id: &str, target: &Target, evidence: impl Into<String>, fix: FixKind) -> Finding {
    Finding {
        id: id.to_string(),
        target: target.clone(),
        title: crate::catalogue::get(id)
            .map(|p| p.title.clone())
            .unwrap_or_else(|| id.replace('-', " ")),
        evidence: evidence.into(),
        fix,
    }
}

/// What detection runs with.
pub struct Context {
    pub host: Host,
    pub target: Request,
    pub arm: Option<Arc<Arm>>,
    /// What the probe script last reported per remote machine (id, lower case);
    /// dropped when a fix runs there.
    pub server_cache:
        tokio::sync::Mutex<std::collections::HashMap<String, crate::probe::server::ServerFacts>>,
    /// Whether the caller may register providers, per subscription: read once
    /// per run however many of its machines are checked.
    /// Reads the machines of one subscription or resource group share.
    pub shared: fleet::Shared,
    /// Machines (id, lower case) whose agent restart arcfix saw happen in
    /// this run: the restart after a provider registration is no longer owed.
    pub restarted: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The journal on this machine, read once when a check needs it.
    history: std::sync::OnceLock<crate::journal::History>,
    /// Where apply records what it changed (`None`: no journal).
    pub journal: Option<crate::journal::Journal>,
    /// What the run shows while it works (progress, spinners).
    pub progress: Arc<dyn crate::progress::Progress>,
}

impl Context {
    pub fn new(host: Host, target: Request, arm: Option<Arc<Arm>>) -> Context {
        Context {
            host,
            target,
            arm,
            server_cache: Default::default(),
            shared: Default::default(),
            restarted: Default::default(),
            history: Default::default(),
            journal: None,
            progress: Arc::new(crate::progress::Quiet),
        }
    }
}

impl Context {
    /// What the journal of changes says (apply's own journal, else the
    /// default one), read once.
    pub fn history(&self) -> &crate::journal::History {
        self.history.get_or_init(|| {
            let path = match &self.journal {
                Some(j) => Some(j.path.clone()),
                None => crate::journal::default_path(&self.host),
            };
            crate::journal::History::read(path.as_deref())
        })
    }

    /// The sides to check: `--checks`, or client and azure by default (azure
    /// only when a machine is named). The command line was checked when the
    /// `Config` was made: `--checks azure` and `--remote` come with a machine.
    pub fn sides(&self) -> Vec<Side> {
        // With --remote the server side is the target machines', not this one's.
        let on_server = self.target.remote || crate::probe::server::agent_installed(&self.host);
        let mut sides = match &self.target.sides {
            Some(s) => return s.clone(),
            None if self.target.has_azure_target() => vec![Side::Client, Side::Azure],
            None => vec![Side::Client],
        };
        if on_server {
            sides.push(Side::Server);
        }
        sides
    }

    /// What detection is about to look at, for its spinner.
    pub fn checking(&self) -> String {
        let sides: Vec<&str> = self.sides().into_iter().map(side_name).collect();
        let t = &self.target;
        let machines = t.machines.len() + usize::from(t.by_name.is_some());
        format!(
            "checking {}{}",
            sides.join(", "),
            match (t.scope.is_some(), machines, &t.by_name) {
                (true, _, _) => " of every machine in scope".to_string(),
                (false, 0, _) => String::new(),
                (false, 1, Some(b)) => format!(" of {}", b.name),
                (false, 1, None) => format!(" of {}", t.machines[0].name),
                (false, n, _) => format!(" of {n} machines"),
            }
        )
    }

    pub fn arm(&self) -> Result<&Arc<Arm>> {
        self.arm
            .as_ref()
            .ok_or_else(|| Error::Internal("no Azure connection was set up".into()))
    }

    /// A short name for what is checked.
    pub fn target_label<'a>(
        sides: &[Side],
        machines: impl IntoIterator<Item = &'a MachineId>,
    ) -> String {
        let mut parts = Vec::new();
        if sides.contains(&Side::Client) {
            parts.push(Target::Local.to_string());
        }
        parts.extend(
            machines
                .into_iter()
                .map(|m| m.to_string().to_ascii_lowercase()),
        );
        parts.join(",")
    }
}

/// Runs every check of the chosen sides concurrently and makes the plan.
pub async fn detect(ctx: &Context) -> Result<Plan> {
    ctx.shared.reset().await;
    let sides = ctx.sides();
    let client = async {
        if sides.contains(&Side::Client) {
            let host = ctx.host.clone();
            let folder: Option<PathBuf> = ctx.target.ssh_client_folder.clone();
            tokio::task::spawn_blocking(move || client::detect(&host, folder.as_deref()))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        } else {
            Ok(Report::default())
        }
    };
    let remote_server = ctx.target.remote && sides.contains(&Side::Server);
    let azure = async {
        if sides.contains(&Side::Azure) || remote_server {
            azure_side(ctx, sides.contains(&Side::Azure), remote_server).await
        } else {
            Ok(Report::default())
        }
    };
    let server = async {
        if sides.contains(&Side::Server) && !ctx.target.remote {
            let facts = crate::probe::server::local(&ctx.host, ctx.target.ssh_port()).await;
            let report = server::assess(&ctx.host, &facts, ctx.target.ssh_port());
            (report, Some(facts))
        } else {
            (Report::default(), None)
        }
    };
    let (client, azure, (server_report, facts)) = tokio::join!(client, azure, server);
    let (azure, target) = match azure {
        // The machines checked, each with its verdict.
        Ok(a) => {
            let target = Context::target_label(&sides, a.machines.iter().map(|m| &m.id));
            (a, target)
        }
        // No token: the other sides are still reported; Azure is not checked, saying why.
        Err(Error::Auth(why)) => {
            let mut r = Report::default();
            r.unread(Side::Azure, why);
            (r, Context::target_label(&sides, &ctx.target.machines))
        }
        Err(e) => return Err(e),
    };
    let mut report = client?;
    report.merge(azure);
    report.merge(server_report);
    fold_client_problems_of_the_probe(&mut report);
    if let Some(facts) = &facts {
        server::automate_agent_restart(&ctx.host, facts, &mut report);
    }
    let mut not_checked = not_chosen(ctx, &sides);
    let unread = std::mem::take(&mut report.unread);
    let mut chosen: Vec<Part> = [Side::Client, Side::Azure, Side::Server]
        .into_iter()
        .filter(|s| sides.contains(s))
        .map(Part::from)
        .collect();
    if ctx.target.connect {
        chosen.push(Part::Connection);
    }
    let checked = chosen
        .into_iter()
        .filter(|s| !unread.iter().any(|u| u.side == *s))
        .collect();
    not_checked.extend(unread);
    let mut plan = Plan::new(
        target,
        report.findings,
        order(report.steps)?,
        &report.observations,
        report.notes,
    );
    plan.checked = checked;
    plan.not_checked = not_checked;
    plan.machines = report.machines;
    plan.connections = report.connections;
    plan.scope = report.scope;
    note_probe_log_lines(&mut plan);
    Ok(plan)
}

/// The final verification of `apply --connect`: every machine of the plan
/// probed again, waiting (bounded) for a new service configuration to reach
/// the relay. The plan's connections and verdict are replaced.
pub async fn probe_again(ctx: &Context, plan: &mut Plan, progress: &(dyn Fn(&str) + Sync)) {
    let Ok(arm) = ctx.arm() else { return };
    let settle = std::time::Duration::from_secs(150).mul_f64(crate::azure::client::retry_scale());
    // Every machine of the run (fleet members included), as detection saw them.
    let mut machines: Vec<MachineId> = plan.machines.iter().map(|m| m.id.clone()).collect();
    if machines.is_empty() {
        machines = ctx.target.machines.clone();
    }
    let tried: Vec<(Target, Option<u16>)> = plan
        .connections
        .iter()
        .map(|c| (c.target.clone(), c.port))
        .collect();
    let tried = &tried;
    // Machines side by side (each probe is its own ssh process), a few at a
    // time, their permissions read once for each, in the order of the plan.
    let probes: Vec<(MachineId, connect::Probe)> = futures::stream::iter(machines)
        .map(|id| async move {
            let perms = azure::list_all::<crate::azure::rbac::Permission>(
                arm,
                &id.child("/providers/Microsoft.Authorization/permissions"),
                crate::azure::api::AUTHORIZATION,
            )
            .await
            .ok();
            // The port detection tried on this machine (its tag's, sshd's).
            let port = tried
                .iter()
                .find(|(t, _)| t.covers(&Target::Machine(id.clone())))
                .and_then(|(_, p)| *p)
                .unwrap_or(ctx.target.ssh_port());
            let args = connect::ProbeArgs {
                host: &ctx.host,
                ssh_client_folder: ctx.target.ssh_client_folder.as_deref(),
                port,
                may_list_credentials: perms
                    .as_ref()
                    .map(|p| crate::azure::rbac::allows(p, connect::LIST_CREDENTIALS)),
                config_verified: false,
                settle,
                progress,
            };
            progress(&format!("trying the SSH path to {} again", id.name));
            let probe = connect::probe(arm, &id, &args).await;
            (id, probe)
        })
        .buffered(8)
        .collect()
        .await;
    let mut report = Report::default();
    for (id, probe) in probes {
        match probe {
            connect::Probe::Tried(c) => report.connections.push(c),
            connect::Probe::NotPossible { reason, error } => report.unread.push(NotChecked {
                side: Part::Connection,
                reason: format!("{}: {reason}", id.name),
                error,
            }),
        }
    }
    plan.connections = report.connections;
    plan.not_checked.retain(|n| n.side != Part::Connection);
    plan.not_checked.extend(report.unread);
    let tried_all = !plan.not_checked.iter().any(|n| n.side == Part::Connection);
    plan.checked.retain(|s| *s != Part::Connection);
    if tried_all {
        plan.checked.push(Part::Connection);
    }
    note_probe_log_lines(plan);
}

/// Only a probe that reached sshd (its banner seen) leaves a line in its log.
fn note_probe_log_lines(plan: &mut Plan) {
    const NOTE: &str = "the connection probe leaves an \"Invalid user arcfix-probe\" line in the sshd log of each server it reached";
    plan.notes.retain(|n| n != NOTE);
    if plan.connections.iter().any(|c| c.banner.is_some()) {
        plan.notes.push(NOTE.into());
    }
}

/// Whether every connection probe of the plan saw the server's banner.
pub fn connections_ok(plan: &Plan) -> bool {
    !plan.connections.is_empty()
        && plan.connections.iter().all(|c| c.ok)
        && !plan.not_checked.iter().any(|n| n.side == Part::Connection)
}

/// A probe that broke on this machine (the proxy not executable) points to a
/// problem the client side already reports with its own fix: say it once.
fn fold_client_problems_of_the_probe(report: &mut Report) {
    let local: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.target.is_local())
        .map(|f| f.id.clone())
        .collect();
    report.findings.retain(|f| {
        !(!f.target.is_local()
            && local.contains(&f.id)
            && f.evidence.starts_with("connection probe"))
    });
    report.steps.retain(|s| {
        !(matches!(s.kind, StepKind::Connection(_)) && s.fixes.iter().all(|f| local.contains(f)))
    });
}

/// The sides not looked at because they were not chosen, and how to choose them.
fn not_chosen(ctx: &Context, sides: &[Side]) -> Vec<NotChecked> {
    let explicit = ctx.target.sides.is_some();
    let mut out = Vec::new();
    let mut add = |side: Part, reason: String| {
        out.push(NotChecked {
            side,
            reason,
            error: false,
        })
    };
    if !sides.contains(&Side::Client) {
        add(Part::Client, "not chosen (--checks)".into());
    }
    if !sides.contains(&Side::Azure) {
        add(
            Part::Azure,
            if ctx.target.has_azure_target() {
                "not chosen (--checks)".into()
            } else {
                "no machine named: use --id, or --subscription with --resource-group and --machine"
                    .into()
            },
        );
    }
    if !sides.contains(&Side::Server) {
        add(
            Part::Server,
            if explicit {
                "not chosen (--checks); run arcfix on the server, or use --remote".into()
            } else {
                "run arcfix on the server, or use --remote".into()
            },
        );
    }
    if !ctx.target.connect {
        add(Part::Connection, "not tried: use --connect".into());
    }
    out
}

/// A machine to diagnose, with what a fleet listing said of it (`None`:
/// read it).
type Listed = fleet::Listed;

/// The Azure side (and, through it, the server side and the SSH path) of
/// every machine in scope, each with its verdict (`machines`, in the order
/// they were named and listed).
async fn azure_side(ctx: &Context, azure_checks: bool, remote_server: bool) -> Result<Report> {
    let arm = ctx.arm()?.clone();
    // The token first: without one nothing is sent, and the Azure side is not checked.
    let caller = arm.caller().await?;
    let sides = (azure_checks, remote_server);
    let named = named_machines(ctx, &arm).await?;
    let implied = ctx.target.implied.as_ref();
    let Some(scope) = &ctx.target.scope else {
        // A subscription the user did not type is said before it is used.
        if let Some(i) = implied {
            ctx.progress.scope(&i.to_string());
        }
        if named.len() > fleet::FEW {
            // Many machines named one by one (`--ids-from`): said first as well.
            ctx.progress.scope(&format!(
                "{} Arc machines named (--id, --ids-from)",
                fleet::thousands(named.len())
            ));
        }
        let (total, single) = (named.len(), named.len() == 1);
        let run = Run {
            total,
            lanes: usize::MAX,
            single,
        };
        let report = diagnose_each(
            ctx,
            &arm,
            &caller,
            named,
            futures::stream::empty(),
            run,
            sides,
        )
        .await?;
        return Ok(finish(report));
    };
    let (subscriptions, known) = fleet::resolve(&arm, &scope.subscriptions).await?;
    let mut listing = fleet::Listing::new(&arm, scope, &subscriptions, known);
    // Listed until it is known how many machines are in scope: Resource
    // Graph's first page counts them (when no tag is to match), else the
    // whole listing does.
    let mut first: Vec<Listed> = Vec::new();
    while let Some(page) = listing.next().await? {
        first.extend(page);
        if listing.announced().is_some() {
            break;
        }
    }
    listing.look_for_silent_subscriptions().await;
    let in_scope = listing.announced().unwrap_or(listing.listed());
    let said = |line: String| match implied {
        Some(i) => format!("{line}; {i}"),
        None => line,
    };
    let line = said(listing.scope_line(in_scope));
    // Said before any machine is read.
    ctx.progress.scope(&line);
    if in_scope == 0 && named.is_empty() && listing.unread().is_empty() {
        return Err(Error::input(format!("no Arc machines found: {line}")));
    }
    // A machine both named and listed is checked once, where it was named.
    let named_keys: std::collections::HashSet<String> =
        named.iter().map(|(id, _)| id.key()).collect();
    let unnamed = move |page: Vec<Listed>| -> Vec<Listed> {
        if named_keys.is_empty() {
            return page;
        }
        page.into_iter()
            .filter(|(id, _)| !named_keys.contains(&id.key()))
            .collect()
    };
    let mut machines = named;
    let first = unnamed(first);
    let total = machines.len() + first.len() + in_scope.saturating_sub(listing.listed());
    machines.extend(first);
    // The subscriptions of the scope and of the machines named.
    let mut lanes: std::collections::HashSet<String> = subscriptions
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    lanes.extend(
        machines
            .iter()
            .map(|(id, _)| id.subscription.to_ascii_lowercase()),
    );
    let run = Run {
        total,
        lanes: lanes.len(),
        single: false,
    };
    let more = futures::stream::unfold(&mut listing, |listing| async move {
        match listing.next().await {
            Ok(Some(page)) => Some((Ok(page), listing)),
            Ok(None) => None,
            Err(e) => Some((Err(e), listing)),
        }
    })
    .map(move |page| page.map(&unnamed));
    let mut report = diagnose_each(ctx, &arm, &caller, machines, more, run, sides).await?;
    for (sub, why) in listing.unread() {
        report.unread(Side::Azure, format!("subscription {sub}: {why}"));
    }
    // What was found in the end (the line said first counted before the
    // listing ended).
    report.scope = Some(said(listing.scope_line(listing.listed())));
    Ok(finish(report))
}

/// The fleet's steps and notes, once every machine is in.
fn finish(mut report: Report) -> Report {
    qualify_same_names(&mut report.steps, &report.machines);
    report.notes = group_notes(std::mem::take(&mut report.notes), &report.machines);
    report
}

/// The machines named (`--id`, `--ids-from`, by name), each once.
async fn named_machines(ctx: &Context, arm: &Arc<Arm>) -> Result<Vec<Listed>> {
    let mut machines: Vec<Listed> = ctx
        .target
        .machines
        .iter()
        .map(|m| (m.clone(), None))
        .collect();
    if let Some(named) = &ctx.target.by_name {
        machines.push((fleet::resolve_named(arm, named).await?, None));
    }
    Ok(machines)
}

/// At most this many machines of one subscription are diagnosed at a time
/// (each subscription has its own ARM bucket, paced on its own lane).
const PER_SUBSCRIPTION: usize = 64;
/// At most this many machines are diagnosed at a time in all: with ten
/// subscriptions busy, each still has its `PER_SUBSCRIPTION`.
const AT_ONCE: usize = 640;
/// More machines are listed while fewer than this wait their turn (two
/// pages of Resource Graph): a fleet is diagnosed while it is listed.
const AHEAD: usize = 2_000;
/// While subscriptions not yet seen may still come (a listing goes
/// subscription after subscription) and slots are free, more are listed,
/// up to this many waiting: their lanes start without waiting for the
/// subscriptions before them.
const MOST_AHEAD: usize = 20_000;

/// What `diagnose_each` is given besides the machines.
struct Run {
    /// How many machines are in scope (the progress bar's end).
    total: usize,
    /// How many subscriptions the machines may be in, at most.
    lanes: usize,
    /// One machine named: its failure is the run's error.
    single: bool,
}

/// Diagnoses the machines side by side, a bounded number at a time (the
/// client's pacing, not this bound, holds the requests to ARM's rate), and
/// counts them off as they finish. `machines` first, then those `more`
/// lists as it is asked for them (a fleet's next pages, while few wait).
/// Each subscription is a lane of its own, and the next machine to start is
/// taken from the lanes in turn: a subscription whose bucket is empty holds
/// at most its own share, never the others'. Reports are merged in the
/// machines' order as they come (each machine's with its verdict), so
/// nothing of a machine is kept beyond what the report needs; a machine
/// that could not be read is the run's error when it was the only one named
/// (or nobody answers), else a report of its own that says so.
async fn diagnose_each(
    ctx: &Context,
    arm: &Arc<Arm>,
    caller: &crate::azure::auth::Claims,
    machines: Vec<Listed>,
    more: impl futures::Stream<Item = Result<Vec<Listed>>>,
    run: Run,
    sides: (bool, bool),
) -> Result<Report> {
    use std::collections::{BTreeMap, HashMap, VecDeque};
    let wanted = azure::Wanted {
        port: ctx.target.ssh_port(),
        from: if ctx.target.port_given() {
            azure::PortFrom::Flag
        } else {
            azure::PortFrom::Default
        },
        login: ctx.target.login,
        grant_roles: ctx.target.grant_roles,
    };
    let tally = ctx.progress.machines(run.total);
    // The bar's ETA follows the pace ARM allows.
    let paced = arm.clone();
    tally.follow(Box::new(move || paced.pace()));
    // The lanes in the order their first machine was listed.
    struct Lane {
        waiting: VecDeque<(usize, Listed)>,
        running: usize,
    }
    struct Lanes {
        all: Vec<Lane>,
        of: HashMap<String, usize>,
        /// Machines given so far (the next one's place in the report).
        given: usize,
        waiting: usize,
    }
    impl Lanes {
        fn add(&mut self, machines: Vec<Listed>) {
            for listed in machines {
                let key = listed.0.subscription.to_ascii_lowercase();
                let all = &mut self.all;
                let l = *self.of.entry(key).or_insert_with(|| {
                    all.push(Lane {
                        waiting: VecDeque::new(),
                        running: 0,
                    });
                    all.len() - 1
                });
                self.all[l].waiting.push_back((self.given, listed));
                self.given += 1;
                self.waiting += 1;
            }
        }
    }
    let mut lanes = Lanes {
        all: Vec::new(),
        of: HashMap::new(),
        given: 0,
        waiting: 0,
    };
    ctx.shared.count(machines.iter().map(|(id, _)| id));
    lanes.add(machines);
    let diagnose = |l: usize, i: usize, (id, listed): Listed| {
        let (arm, wanted, caller, tally) = (arm.clone(), &wanted, caller, &tally);
        async move {
            tally.started();
            let result = match arm.unreachable() {
                // Nothing can be read: the run stops with that error.
                Some(e) => Err(e.into()),
                None => machine(ctx, &arm, &id, listed, wanted, caller, sides).await,
            };
            tally.done();
            (l, i, id, result)
        }
    };
    let mut more = std::pin::pin!(more);
    let mut listed_all = false;
    let mut running = futures::stream::FuturesUnordered::new();
    let mut turn = 0;
    // Finished out of order, waiting for the machines before them.
    let mut done: BTreeMap<usize, (MachineId, Result<Report>)> = BTreeMap::new();
    let mut next = 0;
    let mut merged = Merged::new(Report::default());
    loop {
        while running.len() < AT_ONCE {
            let n = lanes.all.len();
            let Some(l) = (0..n).map(|k| (turn + k) % n).find(|&l| {
                lanes.all[l].running < PER_SUBSCRIPTION && !lanes.all[l].waiting.is_empty()
            }) else {
                break;
            };
            turn = (l + 1) % n;
            let lane = &mut lanes.all[l];
            let Some((i, listed)) = lane.waiting.pop_front() else {
                break;
            };
            lane.running += 1;
            lanes.waiting -= 1;
            if lane.waiting.is_empty() {
                lane.waiting = VecDeque::new();
            }
            running.push(diagnose(l, i, listed));
        }
        // Free slots no lane can take: the subscriptions still to be listed might.
        let idle = running.len() < AT_ONCE && lanes.all.len() < run.lanes;
        let list_more =
            !listed_all && (lanes.waiting < AHEAD || (idle && lanes.waiting < MOST_AHEAD));
        if running.is_empty() && !list_more {
            break;
        }
        tokio::select! {
            page = more.next(), if list_more => match page {
                Some(page) => {
                    let page = page?;
                    ctx.shared.count(page.iter().map(|(id, _)| id));
                    lanes.add(page);
                }
                None => listed_all = true,
            },
            Some((l, i, id, result)) = running.next(), if !running.is_empty() => {
                lanes.all[l].running -= 1;
                done.insert(i, (id, result));
                while let Some((id, result)) = done.remove(&next) {
                    merged.add(machine_report(id, result, run.single)?);
                    next += 1;
                }
            }
        }
    }
    drop(running);
    drop(tally);
    Ok(merged.report)
}

/// A machine's report with its verdict; a machine that could not be read
/// is the run's error when it was the only one named (or nobody answers),
/// else a report of its own that says so.
fn machine_report(id: MachineId, r: Result<Report>, single: bool) -> Result<Report> {
    match r {
        Ok(mut r) => {
            r.machines.push(verdict(&id, &r));
            Ok(r)
        }
        // One machine named: its failure is the run's error.
        // An endpoint nobody answers at: the run's error, said once.
        Err(e) if single || matches!(&e, Error::Azure(a) if a.is_unreachable()) => Err(e),
        // In a fleet the others go on; the run exits 1 after the report.
        Err(e) => {
            let message = crate::text::one_line(&e.to_string());
            let mut r = Report::default();
            r.unread(Side::Azure, format!("{}: {message}", id.name));
            r.machines.push(MachineVerdict {
                id,
                status: Verdict::Error,
                findings: vec![],
                error: Some(message),
            });
            Ok(r)
        }
    }
}

/// Step ids name the machine (`enable-ssh-port-web-01`). Machines of the same
/// name in other resource groups or subscriptions get the group in their
/// steps' ids (`enable-ssh-port-rg-web-web-01`), and the subscription's first
/// eight characters too where the group repeats, so that every step of a
/// fleet has an id of its own. Ids are made from the steps' kinds and
/// targets, never from other ids.
fn qualify_same_names(steps: &mut [Step], machines: &[MachineVerdict]) {
    use std::collections::{HashMap, HashSet};
    // Only the names of machines with steps can need it: of a fleet's
    // machines, those are looked at.
    let named: HashSet<String> = steps
        .iter()
        .filter_map(|s| s.target.machine())
        .map(|m| crate::target::fold(&m.name))
        .collect();
    let mut homes: HashMap<String, HashSet<&MachineId>> = HashMap::new();
    let mut groups: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for m in machines.iter().map(|m| &m.id) {
        let name = crate::target::fold(&m.name);
        if !named.contains(&name) {
            continue;
        }
        homes.entry(name.clone()).or_default().insert(m);
        groups
            .entry((crate::target::fold(&m.resource_group), name))
            .or_default()
            .insert(m.subscription.clone());
    }
    let qualifier = |m: &MachineId| {
        let name = crate::target::fold(&m.name);
        if homes.get(&name).is_none_or(|h| h.len() < 2) {
            return None;
        }
        let group = m.resource_group.to_lowercase();
        let twice = groups
            .get(&(crate::target::fold(&m.resource_group), name))
            .is_some_and(|subs| subs.len() > 1);
        let lower = m.name.to_ascii_lowercase();
        Some(if twice {
            let sub = &m.subscription;
            format!("{}-{group}-{lower}", &sub[..8.min(sub.len())])
        } else {
            format!("{group}-{lower}")
        })
    };
    for s in steps.iter_mut() {
        if let Some(q) = s.target.machine().and_then(qualifier) {
            s.name(Some(&q));
        }
    }
}

/// `id` as Azure's answer spells it, when that answer names the same
/// machine (ARM compares ids without case); else `id` as given.
fn azure_spelling(id: &MachineId, machine: &crate::azure::models::Machine) -> MachineId {
    machine
        .id
        .as_deref()
        .and_then(|s| MachineId::parse(s).ok())
        .filter(|spelled| spelled == id)
        .unwrap_or_else(|| id.clone())
}

/// One machine's Azure side (`azure_checks`), its server through Run Command
/// (`remote_server`) and, with `--connect`, the SSH path to it.
async fn machine(
    ctx: &Context,
    arm: &Arc<Arm>,
    id: &MachineId,
    listed: Option<Box<crate::azure::models::Machine>>,
    wanted: &azure::Wanted,
    caller: &crate::azure::auth::Claims,
    (azure_checks, remote_server): (bool, bool),
) -> Result<Report> {
    let arm = arm.clone();
    // Run Command is the Connected Machine agent's: an Arc virtual machine's
    // server is not reached through Azure (said below, never guessed).
    let no_run_command = remote_server && !id.kind.has_agent_settings();
    let remote_server = remote_server && !no_run_command;
    let observed =
        azure::observe(&arm, id, listed.map(|m| *m), wanted, caller, &ctx.shared).await?;
    // The machine as Azure spells it (`-n WEB-01` finds web-01): its findings
    // and steps say its name as the portal and `az` show it.
    let id = azure_spelling(id, &observed.machine);
    let mut wanted = wanted.clone();
    let tag_note = port_from_tag(&id, &observed.machine, &mut wanted);
    let mut report = azure::assess(&id, &observed, &wanted, caller, arm.base().as_str());
    let is_restart = |s: &Step| s.kind == StepKind::RestartAgent;
    let mut machine = remote_machine(&id, &observed);
    // No --port and no SSHPort tag: the server's sshd says which port SSH is
    // on (its probe reads `sshd -T`), and the Azure side is judged for it.
    // With a tag, the probe still says where sshd listens: the server is
    // judged for that port, and a tag naming another is said.
    let mut probed = None;
    let unchosen = matches!(wanted.from, azure::PortFrom::Default | azure::PortFrom::Tag);
    if remote_server && unchosen && remote::can_probe(&machine) {
        probed = Some(remote_facts(ctx, &machine.remote, 0).await);
    }
    let mut server_port = wanted.port;
    if let Some(Ok(facts)) = &probed
        && let (false, Some(port)) = (facts.sshd_ports.is_empty(), facts.probed_port)
    {
        if wanted.from == azure::PortFrom::Tag {
            if !facts.sshd_ports.contains(&wanted.port) {
                // The server is judged where sshd listens; that the tag
                // names another port is a finding of its own.
                server_port = port;
                tag_beside_sshd(&id, wanted.port, port, &mut report);
            }
        } else {
            wanted.port = port;
            server_port = port;
            wanted.from = azure::PortFrom::Sshd;
            report = azure::assess(&id, &observed, &wanted, caller, arm.base().as_str());
            report.note(sshd_port_note(&id, &facts.sshd_ports, port));
        }
    }
    if let Some(note) = tag_note {
        report.note(note);
    }
    // The probe reads the agent's ports on the server itself: what Azure
    // showed of them gives way to what the probe saw.
    if remote_server && remote::can_probe(&machine) && probed.is_none() {
        probed = Some(remote_facts(ctx, &machine.remote, server_port).await);
    }
    if matches!(probed, Some(Ok(_))) {
        let agent_port = StepKind::Remote(crate::plan::ServerFix::AgentAllowPort);
        report.steps.retain(|s| s.kind != agent_port);
        report
            .findings
            .retain(|f| f.id != crate::problem::SSHD_NOT_RUNNING);
    }
    let wanted = &wanted;
    if !azure_checks {
        report = Report {
            observations: report.observations,
            ..Report::default()
        };
    }
    if no_run_command {
        report.unread.push(NotChecked {
            side: Part::Server,
            reason: format!(
                "{}: Run Command (--remote) exists only for Microsoft.HybridCompute/machines, and this is {} ({}): check sshd on it yourself, or run arcfix check there",
                id.name,
                id.kind.what(),
                id.kind
            ),
            error: false,
        });
    }
    let restart = report.steps.iter().any(is_restart);
    machine.restart_agent = restart;
    if remote_server {
        let remote = remote::check(ctx, &machine, server_port, probed).await;
        if remote.steps.iter().any(is_restart) {
            report.steps.retain(|s| !is_restart(s));
        }
        report.merge(remote);
    }
    if ctx.target.connect {
        let probe = probe_connection(ctx, &arm, &id, &observed, wanted.port).await;
        report.probed(&id, wanted.port, probe);
    }
    if azure_checks && !restart {
        restart_unseen(ctx, &id, &observed, &mut report);
    }
    Ok(report)
}

/// The machine as its remote server check sees it, from what Azure told.
fn remote_machine<'a>(id: &'a MachineId, observed: &'a azure::Observed) -> remote::Machine<'a> {
    remote::Machine {
        id,
        remote: crate::plan::Remote {
            id: id.to_string(),
            location: observed.machine.location.clone().unwrap_or_default(),
            windows: observed.machine.is_windows(),
        },
        status: observed
            .machine
            .properties
            .status
            .as_deref()
            .unwrap_or("Unknown"),
        perms: observed.permissions.as_ref().ok().map(|p| p.as_slice()),
        restart_agent: false,
        agent: observed.machine.properties.agent_configuration.as_ref(),
    }
}

/// The machine's `SSHPort` tag names a port sshd is not configured for (the
/// `--remote` probe read `sshd -T`): `az ssh arc` without `--port` cannot
/// reach it. Both ways out; nothing is changed.
fn tag_beside_sshd(id: &MachineId, tagged: u16, sshd: u16, report: &mut Report) {
    let target = Target::Machine(id.clone());
    let tag = azure::SSH_PORT_TAG;
    report.finding(finding(
        crate::problem::SSH_PORT_TAG_MISMATCH,
        &target,
        format!(
            "the {tag} tag of {} says {tagged}, so az ssh arc connects to port {tagged} without --port; sshd there is configured for port {sshd} (sshd -T, through Run Command)",
            id.name
        ),
        FixKind::Manual,
    ));
    report.step(azure::port_tag_step(
        id,
        format!(
            "Make the tag and sshd agree on {}: set the tag to {sshd}, where sshd listens (below), and SSH through Arc with it (arcfix apply --port {sshd}); or make sshd listen on {tagged}",
            id.name
        ),
        sshd,
    ));
}

/// Takes the port from the machine's `SSHPort` tag when `--port` was not
/// given, as `az ssh arc` does; the note that says so (or that `--port`
/// overrides the tag).
fn port_from_tag(
    id: &MachineId,
    machine: &crate::azure::models::Machine,
    wanted: &mut azure::Wanted,
) -> Option<String> {
    let tag = azure::SSH_PORT_TAG;
    match (azure::PortTag::of(id.kind, &machine.tags), wanted.from) {
        (azure::PortTag::Port(p), azure::PortFrom::Flag) if p != wanted.port => Some(format!(
            "{}: its {tag} tag says {p}, which az ssh arc uses without --port; arcfix checks --port {} as you asked",
            id.name, wanted.port
        )),
        (azure::PortTag::Port(p), azure::PortFrom::Default) => {
            wanted.port = p;
            wanted.from = azure::PortFrom::Tag;
            Some(format!(
                "{}: its {tag} tag says {p}: az ssh arc connects to that port without --port, so arcfix checks SSH through Arc on port {p}",
                id.name
            ))
        }
        _ => None,
    }
}

/// The note that says the port was taken from the server's sshd, no `--port`
/// having been given.
fn sshd_port_note(id: &MachineId, sshd_ports: &[u16], port: u16) -> String {
    format!(
        "{}: sshd is configured for port {} (sshd -T, through Run Command); no --port was given, so arcfix checks and fixes SSH through Arc on port {port}",
        id.name,
        sshd_ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `--connect`: tries the SSH path to the machine on `port`, quietly.
async fn probe_connection(
    ctx: &Context,
    arm: &Arm,
    id: &MachineId,
    observed: &azure::Observed,
    port: u16,
) -> connect::Probe {
    let may = observed
        .permissions
        .as_ref()
        .ok()
        .map(|p| crate::azure::rbac::allows(p, connect::LIST_CREDENTIALS));
    let quiet = |_: &str| {};
    let args = connect::ProbeArgs {
        host: &ctx.host,
        ssh_client_folder: ctx.target.ssh_client_folder.as_deref(),
        port,
        may_list_credentials: may,
        config_verified: matches!(
            &observed.service_config,
            Ok(Some(c)) if c.properties.port == Some(port as u64)
        ),
        settle: std::time::Duration::ZERO,
        progress: &quiet,
    };
    connect::probe(arm, id, &args).await
}

/// Notes that say the same of several machines (`<name>: <text>`) become one
/// (`web-01, web-02: <text>`), in first-seen order, so a fleet reads short.
/// A fleet's note names its first machines and counts the rest.
fn group_notes(notes: Vec<String>, machines: &[MachineVerdict]) -> Vec<String> {
    const SHOWN: usize = 5;
    let known: std::collections::HashSet<&str> =
        machines.iter().map(|m| m.id.name.as_str()).collect();
    let mut out: Vec<(Vec<String>, String)> = Vec::new();
    let mut by_text: std::collections::HashMap<String, usize> = Default::default();
    for note in notes {
        let split = note
            .split_once(": ")
            .filter(|(name, _)| known.contains(name));
        match split {
            Some((name, text)) => match by_text.get(text) {
                Some(&i) => out[i].0.push(name.to_string()),
                None => {
                    by_text.insert(text.to_string(), out.len());
                    out.push((vec![name.to_string()], text.to_string()));
                }
            },
            None => out.push((vec![], note)),
        }
    }
    out.into_iter()
        .map(|(names, text)| match names.len() {
            0 => text,
            n if n <= SHOWN => format!("{}: {text}", names.join(", ")),
            n => format!(
                "{}, … ({} machines): {text}",
                names[..SHOWN].join(", "),
                fleet::thousands(n)
            ),
        })
        .collect()
}

/// The agent must restart after Microsoft.HybridConnectivity is registered
/// (the article's "after registering, restart the agent"), and Azure keeps
/// no registration time. The note that a restart may still be owed is said
/// only where something this run saw points to it: the journal on this
/// machine records that arcfix registered the provider and no restart of
/// this machine's agent after it, or a connection probe (`--connect`) to it
/// failed. A restart seen in this run, or a probe that reached sshd, shows
/// it is not owed; with nothing seen either way, nothing is claimed.
fn restart_unseen(ctx: &Context, id: &MachineId, o: &azure::Observed, r: &mut Report) {
    let registered = o
        .provider
        .as_ref()
        .is_ok_and(azure::met::provider_registered);
    let connected = o
        .machine
        .properties
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Connected"));
    let target = id.key();
    let probes: Vec<bool> = r
        .connections
        .iter()
        .filter(|c| c.target.machine() == Some(id))
        .map(|c| c.ok)
        .collect();
    let seen = ctx
        .restarted
        .lock()
        .map(|s| s.contains(&target))
        .unwrap_or(false)
        || probes.iter().any(|ok| *ok);
    if !registered || !connected || seen {
        return;
    }
    // Read only now: most machines never need the journal.
    let history = ctx.history();
    let owed = history.restart_owed(id);
    if !probes.iter().any(|ok| !ok) && owed == Some(false) {
        return;
    }
    let unknown = match (&history.unread, owed) {
        (Some(why), None) => format!(
            " (arcfix's journal could not be read, so whether arcfix registered it is not known: {})",
            crate::text::one_line(why)
        ),
        _ => String::new(),
    };
    r.note(format!(
        "{}: if {} was registered after the agent last started{unknown}, the agent must still be restarted (sudo systemctl restart himdsd; Windows: Restart-Service himds); Azure keeps no registration time, so arcfix cannot see it: a --connect probe that reaches sshd shows it is not needed",
        id.name,
        crate::azure::HYBRID_CONNECTIVITY,
    ));
}

/// A machine's verdict from its own report: findings on it or on its subscription.
fn verdict(id: &MachineId, r: &Report) -> MachineVerdict {
    let target = Target::Machine(id.clone());
    let mut findings: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.target.covers(&target))
        .map(|f| f.id.clone())
        .collect();
    findings.dedup();
    // The connection probe has its own verdict (`connections`); a machine's is
    // about what was read of it.
    let failed: Vec<&NotChecked> = r
        .unread
        .iter()
        .filter(|u| u.error && u.side != Part::Connection)
        .collect();
    let error = (!failed.is_empty()).then(|| {
        failed
            .iter()
            .map(|u| u.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    });
    MachineVerdict {
        id: id.clone(),
        status: if error.is_some() {
            Verdict::Error
        } else if findings.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Problems
        },
        findings,
        error,
    }
}

/// Steps in dependency order, stable otherwise. A step waits for the steps
/// of the kinds it names on its own target or on the subscription its
/// machine is in; one that waits for a kind the plan does not have is a bug
/// of the check that planned it.
fn order(steps: Vec<Step>) -> Result<Vec<Step>> {
    use std::collections::HashMap;
    type Key = (StepKind, Target);
    let key = |s: &Step| (s.kind.clone(), s.target.clone());
    // How many steps of each kind and target are still to place (a fleet's
    // thousands of steps: lookups, not scans).
    let mut waiting: HashMap<Key, usize> = HashMap::new();
    for s in &steps {
        *waiting.entry(key(s)).or_default() += 1;
    }
    if let Some(s) = steps.iter().find(|s| s.kind == StepKind::Saved) {
        return Err(Error::Internal(format!(
            "a check planned step {} of {} without saying its kind",
            s.id, s.target
        )));
    }
    if let Some(s) = steps.iter().find(|s| s.automatic && s.undo.is_none()) {
        return Err(Error::Internal(format!(
            "the automatic step {} of {} does not say how to undo it",
            s.id, s.target
        )));
    }
    // Each step's prerequisites, once: for each kind it waits for, the step
    // of that kind on its own target or on the subscription it is in.
    let mut pending: std::collections::VecDeque<(Step, Vec<Vec<Key>>)> =
        std::collections::VecDeque::with_capacity(steps.len());
    for s in steps {
        let sub = s.target.subscription().map(Target::Subscription);
        let needs: Vec<Vec<Key>> = s
            .after
            .iter()
            .map(|k| {
                std::iter::once(&s.target)
                    .chain(sub.as_ref())
                    .map(|t| (k.clone(), t.clone()))
                    .collect()
            })
            .collect();
        if let Some((k, _)) = s
            .after
            .iter()
            .zip(&needs)
            .find(|(_, keys)| !keys.iter().any(|key| waiting.contains_key(key)))
        {
            return Err(Error::Internal(format!(
                "step {} of {} depends on {k}, which the plan does not have",
                s.id, s.target
            )));
        }
        pending.push_back((s, needs));
    }
    let mut out: Vec<Step> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        // The first step whose prerequisites are all placed (a cycle: the first).
        let i = pending
            .iter()
            .position(|(_, needs)| {
                needs
                    .iter()
                    .flatten()
                    .all(|key| waiting.get(key).is_none_or(|n| *n == 0))
            })
            .unwrap_or(0);
        let (step, _) = pending.remove(i).expect("a pending step");
        if let Some(n) = waiting.get_mut(&key(&step)) {
            *n -= 1;
        }
        out.push(step);
    }
    Ok(out)
}

/// Re-reads whether a step's goal holds (the precondition before acting, the
/// verification after).
pub async fn satisfied(ctx: &Context, goal: &Goal) -> Result<bool> {
    use crate::probe::{binaries, modules, proxy};
    Ok(match goal {
        Goal::None => false,
        // The lookup reads the folders again, so an install just made is seen.
        Goal::ClientBinaries { folder } => binaries::lookup(&ctx.host, folder.as_deref())
            .missing()
            .is_empty(),
        Goal::ArcProxyInstalled => modules::find(&ctx.host, modules::ARC_PROXY)?
            .iter()
            .any(|m| m.version.0 == 1),
        Goal::ProxyExecutable { path } => proxy::executable(path),
        // The extension's folder is read again.
        Goal::AzSshExtensionCurrent => az_ssh::current(&ctx.host),
        Goal::Restarted => false,
        Goal::Server {
            machine: None,
            fact,
            port,
        } => {
            let f = crate::probe::server::local(&ctx.host, *port).await;
            server_fact(&f, *fact, *port)
        }
        Goal::Server {
            machine: Some(m),
            fact,
            port,
        } => server_fact(&remote_facts(ctx, m, *port).await?, *fact, *port),
        Goal::ModuleProxiesExecutable => {
            client::module_proxies_not_executable(&ctx.host)?.is_empty()
        }
        Goal::ProviderRegistered { .. }
        | Goal::EndpointExists { .. }
        | Goal::ServiceConfigPort { .. }
        | Goal::RoleAssigned { .. }
        | Goal::ExtensionSucceeded { .. } => azure::satisfied(ctx.arm()?, goal).await?,
        // Re-read by `apply` through `policy`, which builds on the checks.
        Goal::PolicyResource { .. }
        | Goal::PolicyIdentityRole { .. }
        | Goal::PolicyRemediated { .. } => {
            return Err(crate::error::Error::Internal(format!(
                "{goal:?} is a policy goal, not a check's"
            )));
        }
    })
}

/// Whether a server fact holds.
pub fn server_fact(
    f: &crate::probe::server::ServerFacts,
    fact: crate::plan::ServerFact,
    port: u16,
) -> bool {
    use crate::plan::ServerFact;
    match fact {
        ServerFact::SshdInstalled => f.sshd_installed,
        ServerFact::SshAnswers => f.banner_ok(),
        ServerFact::AgentIncomingEnabled => f.incoming_enabled != Some(false),
        ServerFact::AgentPortAllowed => f.port_allowed(port),
    }
}

/// The server facts of a remote machine: the probe script's report, run once
/// and reused until a fix runs there.
pub async fn remote_facts(
    ctx: &Context,
    m: &crate::plan::Remote,
    port: u16,
) -> Result<crate::probe::server::ServerFacts> {
    let key = crate::target::fold(&m.id);
    if let Some(f) = ctx.server_cache.lock().await.get(&key) {
        return Ok(f.clone());
    }
    let script = crate::remote::PROBE.render(m.windows, port);
    let result = crate::remote::run(
        ctx.progress.as_ref(),
        ctx.arm()?,
        &m.id,
        &m.location,
        crate::remote::PROBE.verb,
        &script,
        crate::remote::time_limit(),
    )
    .await?;
    if !result.succeeded() {
        return Err(Error::Other(format!(
            "the probe script failed on {} ({}, exit code {}): {}",
            m.id.rsplit('/').next().unwrap_or(&m.id),
            result.state,
            result
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or("none".into()),
            crate::text::one_line(&result.error)
        )));
    }
    let facts = crate::probe::server::ServerFacts::parse(&result.output);
    tracing::debug!(machine = %m.id, ?facts, "probe result");
    ctx.server_cache.lock().await.insert(key, facts.clone());
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: StepKind, after: &[StepKind]) -> Step {
        StepSpec {
            kind,
            target: Target::Local,
            after: after.to_vec(),
            ..StepSpec::manual()
        }
        .build()
    }

    #[test]
    fn steps_come_after_what_they_depend_on() {
        let (a, b, c) = (
            StepKind::InstallPwsh,
            StepKind::InstallArcproxy,
            StepKind::InstallOpensshClient,
        );
        let ordered = order(vec![
            step(b.clone(), std::slice::from_ref(&a)),
            step(c, &[]),
            step(a, &[]),
        ])
        .unwrap();
        let ids: Vec<&str> = ordered.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["install-openssh-client", "install-pwsh", "install-arcproxy"]
        );
        assert_eq!(ordered[2].depends_on, ["install-pwsh"]);
    }

    #[test]
    fn a_step_waits_for_the_registration_of_its_own_subscription() {
        let m = |sub: &str| Target::Machine(MachineId::new(sub, "rg", "web-01").unwrap());
        let (a, b) = (
            "00000000-0000-0000-0000-00000000000a",
            "00000000-0000-0000-0000-00000000000b",
        );
        let on = |kind: StepKind, target: Target, after: &[StepKind]| {
            StepSpec {
                kind,
                target,
                after: after.to_vec(),
                ..StepSpec::manual()
            }
            .build()
        };
        let sub = |s: &str| Target::Subscription(crate::target::SubscriptionId::parse(s).unwrap());
        let ordered = order(vec![
            on(StepKind::RestartAgent, m(b), &[StepKind::RegisterProvider]),
            on(StepKind::RegisterProvider, sub(a), &[]),
            on(StepKind::RestartAgent, m(a), &[StepKind::RegisterProvider]),
            on(StepKind::RegisterProvider, sub(b), &[]),
        ])
        .unwrap();
        let order: Vec<String> = ordered
            .iter()
            .map(|s| format!("{} {}", s.id, s.target))
            .collect();
        assert_eq!(
            order,
            [
                format!("register-hybridconnectivity /subscriptions/{a}"),
                format!("restart-hybrid-agent-web-01 {}", m(a)),
                format!("register-hybridconnectivity /subscriptions/{b}"),
                format!("restart-hybrid-agent-web-01 {}", m(b)),
            ]
        );
    }

    #[test]
    fn an_automatic_step_that_does_not_say_how_to_undo_it_is_a_bug() {
        let spec = |undo: Option<&str>| StepSpec {
            kind: StepKind::ChmodInstalledProxy,
            target: Target::Local,
            automatic: true,
            action: Action::AddExecuteBitsToModuleProxies,
            undo: undo.map(String::from),
            ..StepSpec::manual()
        };
        let e = order(vec![spec(None).build()]).unwrap_err();
        assert!(
            e.to_string().contains(
                "the automatic step chmod-installed-proxy of local does not say how to undo it"
            ),
            "{e}"
        );
        let ok = order(vec![spec(Some("chmod a-x x")).build()]).unwrap();
        assert_eq!(ok[0].undo.as_deref(), Some("chmod a-x x"));
    }

    #[test]
    fn a_step_a_check_planned_without_its_kind_is_a_bug() {
        let spec = StepSpec {
            target: Target::Local,
            ..StepSpec::manual()
        };
        let e = order(vec![spec.build()]).unwrap_err();
        assert!(e.to_string().contains("without saying its kind"), "{e}");
    }

    #[test]
    fn a_step_depending_on_an_unknown_step_is_a_bug() {
        let e = order(vec![step(
            StepKind::Server(crate::plan::ServerFix::StartSshd),
            &[StepKind::Server(
                crate::plan::ServerFix::InstallOpensshServer,
            )],
        )])
        .unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("start-sshd of local depends on install-openssh-server"),
            "{e}"
        );
    }

    /// The problems the checks can emit are the ones they name through
    /// `problem::` (a finding, a table line of `CHECKS`, a problem the
    /// connection probe points to): each must be in the catalogue, and each
    /// problem the catalogue says is detected (`known = true`) must be named
    /// by some check, so a `plans/` file cannot promise what no check finds.
    #[test]
    fn the_checks_and_the_catalogue_know_the_same_problems() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let named = regex::Regex::new(r"problem::([A-Z0-9_]+)").unwrap();
        let mut emitted = std::collections::BTreeSet::new();
        for file in [
            "checks/azure/problems.rs",
            "checks/client.rs",
            "checks/server.rs",
            "checks/remote.rs",
            "checks/connect.rs",
            "checks/az_ssh.rs",
            "probe/connect.rs",
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap();
            for c in named.captures_iter(text) {
                emitted.insert(c[1].to_ascii_lowercase().replace('_', "-"));
            }
        }
        for id in &emitted {
            assert!(
                crate::catalogue::get(id).is_some(),
                "a check emits {id}, which is not in plans/"
            );
        }
        for p in crate::catalogue::all() {
            if p.known {
                assert!(
                    emitted.contains(&p.id),
                    "plans/{}.toml says the problem is detected (known = true), but no check names problem::{}",
                    p.id,
                    p.id.to_ascii_uppercase().replace('-', "_")
                );
            }
        }
    }
}
