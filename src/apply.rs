//! The one gate for effects: for each step, re-check its precondition, act,
//! verify, record. Nothing else in arcfix changes anything.

use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::checks::{self, Context};
use crate::error::{Error, ExitCode, Result};
use crate::plan::{Action, Plan, Status, Step, StepKind, Target};

pub(crate) mod chmod;

/// Applies the plan: first, in order, the steps that are not on one machine
/// (this machine's, a subscription's); then each machine's steps in order,
/// machines side by side (the client's pacing holds the writes to ARM's
/// rate). A step whose prerequisite failed is skipped; one machine's failure
/// never stops another's. `interrupted` is set by Ctrl-C: the steps under
/// way finish, the rest are skipped.
pub async fn apply(ctx: &Context, plan: &mut Plan, interrupted: &Arc<AtomicBool>) -> ExitCode {
    let mut steps: Vec<Option<Step>> = std::mem::take(&mut plan.steps)
        .into_iter()
        .map(Some)
        .collect();
    let lane_of = |s: &Step| s.target.machine().map(|m| m.key());
    let mut lanes: Vec<(String, Vec<usize>)> = Vec::new();
    let mut lane_index: std::collections::HashMap<String, usize> = Default::default();
    let mut first = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let s = s.as_ref().expect("every step is in place");
        match lane_of(s) {
            Some(m) => match lane_index.get(&m) {
                Some(&l) => lanes[l].1.push(i),
                None => {
                    lane_index.insert(m.clone(), lanes.len());
                    lanes.push((m, vec![i]));
                }
            },
            None => first.push(i),
        }
    }
    let mut settled = Settled::default();
    for i in first {
        let mut step = steps[i].take().expect("taken once");
        run_one(ctx, &mut step, &settled, interrupted).await;
        settled.record(&step);
        steps[i] = Some(step);
    }
    let before = &settled;
    // A fleet's machines done, on a terminal.
    let tally = if lanes.len() > crate::checks::fleet::FEW {
        ctx.progress.machines(lanes.len())
    } else {
        crate::progress::Tally(None)
    };
    let tally = &tally;
    let done: Vec<Vec<(usize, Step)>> = futures::stream::iter(lanes.into_iter().map(|(_, idx)| {
        let lane: Vec<(usize, Step)> = idx
            .into_iter()
            .map(|i| (i, steps[i].take().expect("taken once")))
            .collect();
        async move {
            let mut seen = before.clone();
            let mut out = Vec::with_capacity(lane.len());
            for (i, mut step) in lane {
                run_one(ctx, &mut step, &seen, interrupted).await;
                seen.record(&step);
                out.push((i, step));
            }
            tally.done();
            out
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for (i, step) in done.into_iter().flatten() {
        steps[i] = Some(step);
    }
    plan.steps = steps.into_iter().flatten().collect();
    outcome(plan)
}

/// How the steps done so far ended, by kind and target: steps of one kind
/// exist once per subscription (the provider's registration) or machine.
#[derive(Default, Clone)]
struct Settled(std::collections::HashMap<StepKind, Vec<(Target, Status, String)>>);

impl Settled {
    fn record(&mut self, step: &Step) {
        self.0.entry(step.kind.clone()).or_default().push((
            step.target.clone(),
            step.status,
            step.id.clone(),
        ));
    }

    /// How the prerequisite of `kind` of a step on `target` ended: the one
    /// whose target holds this one (its subscription's, its machine's), else
    /// the first of that kind; `None` when none was done. With its id.
    fn of(&self, kind: &StepKind, target: &Target) -> Option<(Status, &str)> {
        let all = self.0.get(kind)?;
        all.iter()
            .find(|(scope, ..)| scope.covers(target))
            .or_else(|| all.first())
            .map(|(_, st, id)| (*st, id.as_str()))
    }
}

/// One step: skipped, manual, or performed and verified; `settled` holds how
/// the steps before it ended.
async fn run_one(ctx: &Context, step: &mut Step, settled: &Settled, interrupted: &AtomicBool) {
    if interrupted.load(Ordering::SeqCst) {
        step.status = Status::Skipped;
        step.error = Some("interrupted (Ctrl-C) before this step".into());
        return;
    }
    if matches!(step.status, Status::AlreadySatisfied | Status::NotNeeded) {
        return;
    }
    if !step.automatic {
        step.status = Status::Manual;
        return;
    }
    let blocking = step.after.iter().find_map(|kind| {
        settled
            .of(kind, &step.target)
            .filter(|(st, _)| matches!(st, Status::Failed | Status::Skipped | Status::Manual))
            .map(|(st, id)| (id.to_string(), st))
    });
    if let Some((dep, status)) = blocking {
        step.status = Status::Skipped;
        step.error = Some(if status == Status::Manual {
            format!("not attempted: it waits for the manual step {dep}")
        } else {
            format!("not attempted: step {dep} did not succeed")
        });
        return;
    }
    ctx.progress.step_started(step);
    match run_step(ctx, step, interrupted).await {
        Ok(status) => {
            if status == Status::Applied && step.goal == crate::plan::Goal::Restarted {
                // Seen happen: the restart after a registration is no longer owed.
                if let (Ok(mut seen), Some(m)) = (ctx.restarted.lock(), step.target.machine()) {
                    seen.insert(m.key());
                }
            }
            step.status = status
        }
        Err(e) => {
            step.status = Status::Failed;
            step.error = Some(crate::text::one_line(&e.to_string()));
        }
    }
    tracing::info!(step = %step.id, status = ?step.status, "step done");
    journal(ctx, step).await;
}

/// Appends a performed step to the journal; a journal that cannot be written
/// is a warning, never a lost apply.
async fn journal(ctx: &Context, step: &Step) {
    let Some(j) = &ctx.journal else { return };
    let who = match &ctx.arm {
        Some(arm) => match arm.caller().await {
            Ok(c) => crate::journal::Who {
                name: c.display_name(),
                object_id: c.oid.clone(),
            },
            Err(_) => local_user(ctx),
        },
        None => local_user(ctx),
    };
    if let Err(e) = j.record(step, &who) {
        tracing::warn!("could not write the journal {}: {e}", j.path.display());
    }
}

fn local_user(ctx: &Context) -> crate::journal::Who {
    crate::journal::Who {
        name: ctx
            .host
            .var("USER")
            .or_else(|| ctx.host.var("USERNAME"))
            .unwrap_or("unknown")
            .to_string(),
        object_id: None,
    }
}

pub fn outcome(plan: &Plan) -> ExitCode {
    if plan.steps.iter().all(|s| {
        matches!(
            s.status,
            Status::Applied | Status::AlreadySatisfied | Status::NotNeeded
        )
    }) {
        ExitCode::Ok
    } else {
        ExitCode::Incomplete
    }
}

async fn run_step(ctx: &Context, step: &Step, interrupted: &AtomicBool) -> Result<Status> {
    if satisfied(ctx, &step.goal).await? {
        return Ok(Status::AlreadySatisfied);
    }
    if let (crate::plan::Goal::Restarted, Action::RunCommand { machine, .. }) =
        (&step.goal, &step.action)
    {
        return restart_remote_agent(ctx, step, machine, interrupted).await;
    }
    // The action itself runs to its end (a half-made change helps nobody)...
    perform(ctx, &step.action).await?;
    // ...but Ctrl-C abandons the wait for its verification at once: the
    // write is done, and a re-run picks the state up.
    let stopped = async {
        while !interrupted.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    if crate::checks::azure::settles_slowly(&step.goal).is_none() {
        // A verification that does not wait is simply made.
        verify(ctx, step).await?;
        return Ok(Status::Applied);
    }
    tokio::select! {
        biased;
        r = verify(ctx, step) => r?,
        _ = stopped => return Err(crate::error::Error::Other(
            "interrupted (Ctrl-C) while waiting to verify this step: the change was made; run arcfix again to see whether it took".into(),
        )),
    }
    Ok(Status::Applied)
}

/// Whether a step's goal holds now: a check's state, or a policy goal
/// (`policy apply`), re-read.
async fn satisfied(ctx: &Context, goal: &crate::plan::Goal) -> Result<bool> {
    use crate::plan::Goal;
    match goal {
        Goal::PolicyResource { .. }
        | Goal::PolicyIdentityRole { .. }
        | Goal::PolicyRemediated { .. } => {
            crate::policy::install::satisfied(ctx.arm()?, goal).await
        }
        _ => checks::satisfied(ctx, goal).await,
    }
}

/// Performs one step's action: the write itself, without its check or
/// verification.
async fn perform(ctx: &Context, action: &Action) -> Result<()> {
    match action {
        Action::Manual => Err(Error::Internal("a manual step cannot be performed".into())),
        Action::AddExecuteBits { path } => add_execute_bits(ctx, path).await,
        Action::AddExecuteBitsToModuleProxies => {
            // Each file is checked on its own descriptor: one that is not this
            // user's, or has more than one link, fails the step with its command.
            for file in checks::client::module_proxies_not_executable(&ctx.host)? {
                chmod::add_execute_bits(&ctx.host, &file.path)
                    .map_err(|e| Error::io(format!("chmod {}", file.path.display()), e))?;
            }
            Ok(())
        }
        Action::RunCommand {
            machine,
            verb,
            script,
        } => run_command(ctx, machine, verb, script).await,
        Action::Exec { program, args } => exec(ctx, program, args).await,
        Action::AddAgentPort { port } => add_agent_port(ctx, *port).await,
        Action::GrantPolicyIdentity {
            assignment,
            role,
            scope,
        } => crate::policy::install::grant(ctx.arm()?, assignment, *role, scope).await,
        Action::StartRemediation { .. } => {
            crate::policy::install::start_remediation(ctx.arm()?, action).await
        }
        Action::Arm {
            method,
            path,
            api_version,
            body,
            satisfied_by,
        } => {
            match ctx
                .arm()?
                .send(method, path, api_version, body.as_ref())
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if satisfied_by.iter().any(|c| c.eq_ignore_ascii_case(&e.code)) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Adds the execute bits to one file of this machine, off the async threads.
async fn add_execute_bits(ctx: &Context, path: &std::path::Path) -> Result<()> {
    let (host, p) = (ctx.host.clone(), path.to_path_buf());
    tokio::task::spawn_blocking(move || chmod::add_execute_bits(&host, &p))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map(|_| ())
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

/// Runs `script` on the machine through a run command; anything but success
/// is an error with the script's state, exit code and last words. The
/// machine's cached server facts are dropped whatever happened.
async fn run_command(
    ctx: &Context,
    machine: &crate::plan::Remote,
    verb: &str,
    script: &str,
) -> Result<()> {
    let result = crate::remote::run(
        ctx.progress.as_ref(),
        ctx.arm()?,
        &machine.id,
        &machine.location,
        verb,
        script,
        crate::remote::time_limit(),
    )
    .await;
    // Whatever happened, the server changed or may have: probe again.
    ctx.server_cache
        .lock()
        .await
        .remove(&crate::target::fold(&machine.id));
    let result = result?;
    if result.succeeded() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "the '{verb}' script {} with exit code {}: {}",
            result.state.to_ascii_lowercase(),
            result
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or("none".into()),
            crate::text::one_line(if result.error.is_empty() {
                &result.output
            } else {
                &result.error
            })
        )))
    }
}

/// Runs a program of this machine with its arguments (no shell), for at most
/// 15 minutes; a failure is an error with its last line of stderr.
async fn exec(ctx: &Context, program: &str, args: &[String]) -> Result<()> {
    // By the absolute path the PATH lookup finds, never a relative one.
    let run = ctx
        .host
        .command(program)
        .ok_or_else(|| {
            Error::io(
                format!("cannot run {program}"),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not found on PATH (relative PATH entries are ignored)",
                ),
            )
        })?
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    // Installing a module or a package can take minutes.
    let waiting = ctx
        .progress
        .waiting(&format!("running {}", shown_command(program, args)));
    let out = tokio::time::timeout(Duration::from_secs(900), run).await;
    drop(waiting);
    let out = out
        .map_err(|_| Error::TimedOut {
            what: program.to_string(),
            limit: Duration::from_secs(900),
        })?
        .map_err(|e| Error::io(format!("cannot run {program}"), e))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(Error::Other(format!(
        "{program} exited with {}: {}",
        out.status,
        crate::text::one_line(last)
    )))
}

/// A program (by its name) and its arguments for a spinner: one line, at
/// most 60 characters.
fn shown_command(program: &str, args: &[String]) -> String {
    let name = std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    let line = crate::text::one_line(
        &std::iter::once(name)
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    );
    if line.chars().count() <= 60 {
        line
    } else {
        format!("{}…", line.chars().take(59).collect::<String>())
    }
}

/// Adds `port` to this server's agent ports. The list is read again right
/// before the write (a failed or unexpected read changes nothing), and once
/// more afterwards: every port allowed before must still be.
async fn add_agent_port(ctx: &Context, port: u16) -> Result<()> {
    use crate::probe::server::PortRange;
    let before = read_agent_ports(&ctx.host)
        .await
        .map_err(|e| Error::Other(format!("{e}: nothing changed")))?;
    if before.is_empty() || before.iter().any(|r| r.contains(port.into())) {
        return Ok(());
    }
    let list = before
        .iter()
        .map(|r| r.to_string())
        .chain([port.to_string()])
        .collect::<Vec<_>>()
        .join(",");
    let set = Action::Exec {
        program: "azcmagent".into(),
        args: ["config", "set", "incomingconnections.ports", &list]
            .map(String::from)
            .to_vec(),
    };
    Box::pin(perform(ctx, &set)).await?;
    let after = read_agent_ports(&ctx.host)
        .await
        .map_err(|e| Error::Other(format!("{e} after setting it to {list}")))?;
    let missing: Vec<PortRange> = before
        .iter()
        .copied()
        .chain([port.into()])
        .filter(|r| !after.iter().any(|a| a.contains(*r)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "after azcmagent config set incomingconnections.ports {list}, the agent allows {after:?}: {missing:?} no longer allowed (set them back by hand)"
        )))
    }
}

/// `azcmagent config get incomingconnections.ports`, strictly parsed.
async fn read_agent_ports(host: &crate::os::Host) -> Result<Vec<crate::probe::server::PortRange>> {
    const GET: &str = "azcmagent config get incomingconnections.ports";
    match crate::probe::server::run(
        host,
        "azcmagent",
        &["config", "get", "incomingconnections.ports"],
    )
    .await
    {
        Some((0, out)) => crate::probe::server::parse_port_list(&out).ok_or_else(|| {
            Error::Other(format!(
                "{GET} printed '{}', not a list of ports",
                crate::text::one_line(out.trim())
            ))
        }),
        Some((code, _)) => Err(Error::Other(format!("{GET} failed (exit code {code})"))),
        None => Err(Error::Other(format!("{GET} could not be run"))),
    }
}

/// The hybrid agent restarted through Run Command: the script only schedules
/// the restart (outside the run command), so it is applied only once a later
/// probe reports a new start time of the agent; otherwise it is unconfirmed.
async fn restart_remote_agent(
    ctx: &Context,
    step: &Step,
    machine: &crate::plan::Remote,
    interrupted: &AtomicBool,
) -> Result<Status> {
    let port = ctx.target.ssh_port();
    let name = machine.id.rsplit('/').next().unwrap_or(&machine.id);
    let key = crate::target::fold(&machine.id);
    // Every run command there drops the cached probe answer, so a cached one
    // (the detection's, or the last verification's) is the current state.
    let before = checks::remote_facts(ctx, machine, port)
        .await
        .map_err(|e| {
            Error::Other(format!(
                "cannot read the agent's start time before restarting it: {e}"
            ))
        })?
        .agent_started;
    perform(ctx, &step.action).await?;
    let Some(before) = before else {
        return Err(Error::Other(format!(
            "unconfirmed: the agent restart was scheduled on {name}, but the probe script does not report the agent's start time, so it cannot be confirmed"
        )));
    };
    // The restart happens about 5 seconds after the script; each look is a
    // fresh probe, and one that fails while the agent restarts is looked past.
    let limit = crate::remote::time_limit().min(Duration::from_secs(120));
    let started = std::time::Instant::now();
    let mut wait = Duration::from_secs(5).min(limit / 4);
    let mut last = format!("its start time is still {before}");
    let _waiting = ctx
        .progress
        .waiting(&format!("waiting for the agent on {name} to restart"));
    // Ctrl-C ends the wait at once (a look under way stops and deletes its
    // run command): the restart was scheduled, a re-run sees whether it came.
    let stopped = || async {
        while !interrupted.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let abandoned = || {
        Error::Other(format!(
            "interrupted (Ctrl-C) while waiting for the agent on {name} to restart: the restart was scheduled; run arcfix again to see whether it came"
        ))
    };
    loop {
        tokio::select! {
            biased;
            _ = stopped() => return Err(abandoned()),
            _ = tokio::time::sleep(wait) => {}
        }
        ctx.server_cache.lock().await.remove(&key);
        let facts = checks::remote_facts(ctx, machine, port).await;
        if interrupted.load(Ordering::SeqCst) {
            return Err(abandoned());
        }
        match facts {
            Ok(f) => match f.agent_started {
                Some(now) if now != before => return Ok(Status::Applied),
                Some(_) => last = format!("its start time is still {before}"),
                None => last = "the probe no longer reports its start time".into(),
            },
            Err(e) => last = crate::text::one_line(&e.to_string()),
        }
        wait = (wait * 2).min(Duration::from_secs(10));
        if started.elapsed() + wait > limit {
            return Err(Error::Other(format!(
                "unconfirmed: the agent restart was scheduled on {name}, but no restart was seen within {} s ({last}); check the agent on the server",
                limit.as_secs()
            )));
        }
    }
}

/// Verification: the check must hold now, or (for states ARM settles by itself)
/// within a bounded wait, polled with growing intervals.
async fn verify(ctx: &Context, step: &Step) -> Result<()> {
    if step.goal == crate::plan::Goal::Restarted {
        // The command's success is all a restart can show.
        return Ok(());
    }
    let limit = checks::azure::settles_slowly(&step.goal);
    let started = std::time::Instant::now();
    let mut interval = Duration::from_millis(250);
    let waiting = limit.map(|_| {
        ctx.progress
            .waiting(&format!("waiting for {}", step.verification))
    });
    let result = loop {
        if let crate::plan::Goal::Server {
            machine: Some(m), ..
        } = &step.goal
        {
            // Each look at a remote server is a fresh probe.
            ctx.server_cache
                .lock()
                .await
                .remove(&crate::target::fold(&m.id));
        }
        if satisfied(ctx, &step.goal).await? {
            break Ok(());
        }
        match limit {
            Some(l) if started.elapsed() + interval < l => {
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(Duration::from_secs(10));
            }
            _ => {
                break Err(Error::Other(format!(
                    "verification failed: {}",
                    step.verification
                )));
            }
        }
    };
    drop(waiting);
    result
}

/// A saved plan is applied only with the target options it was made with:
/// other options plan other steps, and the approval was for these. A plan
/// that does not record them (saved before arcfix recorded them) is refused
/// too: treating it as made with the defaults could apply it with options
/// nobody approved, and refusing costs only a new `arcfix plan`.
pub fn check_options(saved: &Plan, target: &crate::target::Request) -> Result<()> {
    let made = recorded_options(saved)?;
    let now = crate::plan::Options::of(target);
    let differences = made.differences(&now);
    if differences.is_empty() {
        return Ok(());
    }
    let said: Vec<String> = differences
        .iter()
        .map(|(made, now)| format!("the saved plan was made {made}, this apply has {now}"))
        .collect();
    Err(Error::input(format!(
        "{}: apply takes the options from the plan; drop them, or make a new plan",
        said.join("; ")
    )))
}

/// The options a saved plan was made with; a plan that does not record
/// them is refused (they cannot be compared or used).
pub fn recorded_options(saved: &Plan) -> Result<crate::plan::Options> {
    saved.options.clone().ok_or_else(|| {
        Error::input(format!(
            "the saved plan does not record the options it was made with (it was made by arcfix {}, before they were recorded), so it cannot be told whether this apply has the same: make a new plan",
            crate::text::sanitize(&saved.arcfix_version)
        ))
    })
}

/// The Terraform rule for a saved plan: same target, and every step a fresh
/// detection plans must be in the saved plan doing the same work. Saved steps
/// the fresh plan no longer has are kept, reported `not-needed`: the fresh
/// detection saw no need for them; they are neither re-checked nor acted on.
pub fn check_saved(saved: &Plan, fresh: &Plan) -> Result<Plan> {
    if !crate::target::same_folded(&saved.target, &fresh.target) {
        return Err(Error::input(format!(
            "the saved plan was made for '{}', not for '{}': give apply the same target options as the plan, or make a new plan",
            saved.target, fresh.target
        )));
    }
    if let Some(s) = fresh
        .steps
        .iter()
        .find(|f| !saved.steps.iter().any(|s| s.same_work(f)))
    {
        return Err(Error::input(format!(
            "the saved plan is stale: what arcfix observes changed since it was made (step {} is new or different); run arcfix plan again",
            s.id
        )));
    }
    // What runs is what arcfix plans now: the saved file only says which of
    // those steps were approved. A saved step the fresh detection no longer
    // plans is never acted on, whatever it says, and not re-checked either
    // (its check comes from the file): it is reported as not needed, which is
    // what the fresh detection found, never as already satisfied.
    let mut plan = fresh.clone();
    plan.created = saved.created.clone();
    plan.options = saved.options.clone();
    for s in &saved.steps {
        if !fresh.steps.iter().any(|f| f.same_work(s)) {
            let mut gone = s.clone();
            gone.status = Status::NotNeeded;
            gone.automatic = false;
            gone.action = Action::Manual;
            gone.error = None;
            // Said once, by its status in the plan and the summary.
            plan.steps.push(gone);
        }
    }
    if saved.fingerprint != fresh.fingerprint {
        plan.notes.push(format!(
            "what arcfix observes changed since the plan was saved (fingerprint {} -> {}), but not in a way that changes its steps",
            saved.fingerprint, fresh.fingerprint
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod settled_tests {
    use super::{Settled, Status};
    use crate::plan::{StepKind, Target};
    use crate::target::{MachineId, SubscriptionId};

    const A: &str = "00000000-0000-0000-0000-00000000000a";
    const B: &str = "00000000-0000-0000-0000-00000000000b";

    fn machine(sub: &str, name: &str) -> Target {
        Target::Machine(MachineId::new(sub, "rg", name).unwrap())
    }

    fn sub(id: &str) -> Target {
        Target::Subscription(SubscriptionId::parse(id).unwrap())
    }

    #[test]
    fn a_prerequisite_is_the_one_of_the_steps_own_subscription_or_machine() {
        let mut s = Settled::default();
        let register = StepKind::RegisterProvider;
        s.0.insert(
            register.clone(),
            vec![
                (sub(A), Status::Applied, "register-a".into()),
                (sub(B), Status::Manual, "register-b".into()),
            ],
        );
        assert_eq!(
            s.of(&register, &machine(B, "web-01")),
            Some((Status::Manual, "register-b"))
        );
        assert_eq!(
            s.of(&register, &machine(&A.to_uppercase(), "web-01")),
            Some((Status::Applied, "register-a"))
        );
        assert_eq!(
            s.of(&register, &Target::Local),
            Some((Status::Applied, "register-a"))
        );
        assert_eq!(s.of(&StepKind::CreateEndpoint, &Target::Local), None);
        // A name that begins like another is another machine.
        let kind = StepKind::EnableSshPort;
        s.0.insert(
            kind.clone(),
            vec![
                (machine(B, "web-1"), Status::Failed, "x-web-1".into()),
                (machine(B, "WEB-10"), Status::Applied, "x-web-10".into()),
            ],
        );
        assert_eq!(
            s.of(&kind, &machine(B, "web-10")),
            Some((Status::Applied, "x-web-10"))
        );
        assert_eq!(
            s.of(&kind, &machine(B, "web-1")),
            Some((Status::Failed, "x-web-1"))
        );
    }
}
