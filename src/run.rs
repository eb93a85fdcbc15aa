//! `run`: parses arguments, runs the command, prints every error once, and
//! returns the exit code. `main` is a single call to it.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::CommandFactory;

use crate::azure::auth::{self, Tokens};
use crate::azure::client::{Arm, RetryPolicy};
use crate::checks::{self, Context};
use crate::cli::Cli;
use crate::config::{AzureSettings, Cmd, Config, JournalChoice};
use crate::error::{Error, ExitCode, Result};
use crate::journal::Journal;
use crate::os::Host;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::render::view::Views;
use crate::target::Request;
use crate::view::{ApplyView, Ending, ExplainView};

pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let parsed = Cli::command().try_get_matches_from(args).and_then(|m| {
        let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&m)?;
        cli.typed = Cli::typed(&m);
        Ok(cli)
    });
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        ExitCode::Usage
                    } else {
                        ExitCode::Ok
                    }
                }
                _ => ExitCode::Usage,
            };
            let _ = e.print();
            return code.code();
        }
    };
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let env_subscription = std::env::var("AZURE_SUBSCRIPTION_ID").ok();
    let defaults = crate::config::Defaults {
        env: env_subscription.as_deref(),
        az_account: &crate::azure::account::current,
        use_az: true,
    };
    let config = match Config::from_cli(
        cli,
        no_color_env,
        std::io::stdout().is_terminal(),
        &defaults,
    ) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    init_logging(config.verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return report(&Error::io("cannot start the runtime", e)),
    };
    match runtime.block_on(execute(config)) {
        Ok(code) => code.code(),
        Err(e) => report(&e),
    }
}

fn report(e: &Error) -> i32 {
    let message = crate::text::one_line(&e.to_string());
    let _ = writeln!(std::io::stderr(), "arcfix: error: {message}");
    e.exit_code().code()
}

fn init_logging(verbosity: i8) {
    let level = match verbosity {
        -1 => "error",
        0 => "warn",
        1 => "warn,arcfix=info",
        _ => "warn,arcfix=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARCFIX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::stderr().is_terminal();
    // Every log line through one filter: a value from outside cannot break it in two.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || crate::text::LogLine::new(std::io::stderr(), ansi))
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

pub use crate::render::view::out;

async fn execute(config: Config) -> Result<ExitCode> {
    // The one choice between text and JSON, for every command's view.
    let views = Views::of(&config);
    if matches!(
        config.command,
        Cmd::Check(_) | Cmd::Plan { .. } | Cmd::Apply { .. } | Cmd::PolicyApply { .. }
    ) {
        // Ctrl-C stops at once, after killing and removing what a connection
        // probe holds; while apply works, it lets the report follow.
        crate::interrupt::watch();
    }
    match &config.command {
        Cmd::Check(target) => {
            let ctx = context(&config.azure, target.clone(), None, views.progress())?;
            let plan = detect(&ctx).await?;
            views.check().findings(&plan)?;
            Ok(verdict(&plan, plan.findings.is_empty()))
        }
        Cmd::Plan { target, out: file } => {
            let ctx = context(&config.azure, target.clone(), None, views.progress())?;
            let plan = detect(&ctx).await?;
            if let Some(f) = file {
                plan.save(f)?;
            }
            views.plan().plan(&plan)?;
            if let Some(f) = file {
                views.plan().saved(&plan, f)?;
            }
            Ok(verdict(&plan, plan.steps.is_empty()))
        }
        Cmd::Apply {
            target,
            yes,
            dry_run,
            saved,
        } => {
            let mut ctx = context(&config.azure, target.clone(), None, views.progress())?;
            // Checked before detection: an odd file stops nothing half-way.
            ctx.journal = journal(&config.journal, &ctx.host)?;
            apply(&ctx, views.apply(), *yes, *dry_run, saved.as_deref()).await
        }
        Cmd::Explain { text: given } => explain(views.explain(), given.clone()),
        Cmd::Rules => {
            views.rules().rules()?;
            Ok(ExitCode::Ok)
        }
        Cmd::PolicyShow(choice) => {
            // Made here, from the choice alone: no credential, no request.
            let shown = crate::policy::initiative(
                *choice,
                crate::policy::model::DefinitionScope::NotChosen,
            );
            views.policy().show(&shown)?;
            Ok(ExitCode::Ok)
        }
        Cmd::PolicyApply {
            install,
            yes,
            dry_run,
        } => {
            let mut ctx = policy_context(&config.azure, &install.scope, views.progress())?;
            ctx.journal = journal(&config.journal, &ctx.host)?;
            let plan = crate::policy::install::plan_shown(&ctx, install).await?;
            apply_plan(&ctx, views.apply(), *yes, *dry_run, plan).await
        }
        Cmd::PolicyStatus(scope) => {
            let ctx = policy_context(&config.azure, scope, views.progress())?;
            let waiting = ctx.progress.waiting(&format!(
                "reading the compliance of arcfix's policy at {}",
                scope.path()
            ));
            let status = crate::policy::status::read(ctx.arm()?, scope).await;
            drop(waiting);
            let status = status?;
            views.policy().status(&status)?;
            Ok(status.exit_code())
        }
        Cmd::Demo { scenario, mode } => crate::demo::run(&views, scenario, *mode).await,
        Cmd::Completions(shell) => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "arcfix", &mut buf);
            out(&String::from_utf8_lossy(&buf))?;
            Ok(ExitCode::Ok)
        }
        Cmd::SimProxy { sim, port } => Ok(match crate::sim::stand_in_proxy(sim, *port).await {
            0 => ExitCode::Ok,
            _ => ExitCode::Error,
        }),
        Cmd::Man => {
            out(&crate::cli::man::page().map_err(|e| Error::io("man page", e))?)?;
            Ok(ExitCode::Ok)
        }
    }
}

/// The exit code of a report: 1 when some fact could not be read, else 0
/// when there is `nothing` (found, or to do), else 2.
fn verdict(plan: &Plan, nothing: bool) -> ExitCode {
    if plan.incomplete() {
        ExitCode::Error
    } else if nothing {
        ExitCode::Ok
    } else {
        ExitCode::Found
    }
}

/// Where apply records what it changes, as configured (`None`: nowhere).
fn journal(choice: &JournalChoice, host: &Host) -> Result<Option<Journal>> {
    match choice {
        JournalChoice::Off => Ok(None),
        JournalChoice::File(f) => Journal::checked(f.clone()).map(Some),
        JournalChoice::Default => crate::journal::default_path(host)
            .map(Journal::checked)
            .transpose(),
    }
}

/// Detection, with the target options the plan is made with recorded in it.
async fn detect(ctx: &Context) -> Result<Plan> {
    // A fleet has its scope line and progress bar instead (two bars would tear).
    let waiting = ctx
        .target
        .scope
        .is_none()
        .then(|| ctx.progress.waiting(&ctx.checking()));
    let plan = checks::detect(ctx).await;
    drop(waiting);
    let mut plan = plan?;
    plan.options = Some(crate::plan::Options::of(&ctx.target));
    Ok(plan)
}

/// The detection context; `tokens` replaces the configured credential (demo).
pub fn context(
    azure: &AzureSettings,
    target: Request,
    tokens: Option<Box<dyn auth::TokenSource>>,
    progress: Arc<dyn Progress>,
) -> Result<Context> {
    let mut ctx = Context::new(Host::detect(), target, None);
    ctx.progress = progress;
    if ctx.sides().contains(&checks::Side::Azure) || ctx.target.remote {
        let source = match tokens {
            Some(t) => t,
            None => {
                if let Some(w) = azure.endpoint_warning() {
                    let _ = writeln!(std::io::stderr(), "{w}");
                }
                // A credential that cannot even be set up is reported like one
                // that gives no token: the other sides still run.
                match auth::source(azure.auth, azure.cloud) {
                    Ok(s) => s,
                    Err(Error::Auth(why)) => Box::new(auth::NoToken(why)),
                    Err(e) => return Err(e),
                }
            }
        };
        let arm = Arm::new(
            azure.endpoint.clone(),
            Tokens::new(source, azure.cloud.scope()),
            retry_policy(),
        )?;
        arm.report_to(ctx.progress.clone());
        arm.endpoint_from(azure.endpoint_origin.clone());
        ctx.arm = Some(arm);
    }
    Ok(ctx)
}

/// The context of `policy apply` and `policy status`: Azure only, at the
/// assignment's scope.
pub fn policy_context(
    azure: &AzureSettings,
    scope: &crate::policy::install::PolicyScope,
    progress: Arc<dyn Progress>,
) -> Result<Context> {
    let mut request = Request::machines(vec![]);
    request.scope = Some(crate::target::Scope {
        subscriptions: vec![crate::target::SubscriptionRef::Id(
            scope.subscription.to_string(),
        )],
        resource_group: scope.group.as_ref().map(|g| g.to_string()),
        tags: vec![],
    });
    request.options.sides = Some(vec![crate::target::Side::Azure]);
    context(azure, request, None, progress)
}

/// `ARCFIX_RETRY_SCALE` shrinks every wait (tests of retry storms); 1 by default.
fn retry_policy() -> RetryPolicy {
    let mut p = RetryPolicy::default();
    let scale = crate::azure::client::retry_scale();
    p.base_delay = p.base_delay.mul_f64(scale);
    p.max_delay = p.max_delay.mul_f64(scale);
    p.default_retry_after = p.default_retry_after.mul_f64(scale);
    // Retry-After is ARM's and not scaled: at least 10 s for it, so that a
    // test's short storm of 1 s waits still ends well.
    p.max_throttle_wait = p
        .max_throttle_wait
        .mul_f64(scale)
        .max(std::time::Duration::from_secs(10));
    p
}

/// `apply`: the plan (fresh, or saved and checked against a fresh
/// detection), confirmed unless `--yes`, performed, and its summary.
pub async fn apply(
    ctx: &Context,
    view: &dyn ApplyView,
    yes: bool,
    dry_run: bool,
    saved: Option<&Plan>,
) -> Result<ExitCode> {
    let plan = plan_to_apply(ctx, saved).await?;
    apply_plan(ctx, view, yes, dry_run, plan).await
}

/// A plan shown, confirmed unless `--yes`, performed, and its summary
/// (`apply`, `policy apply`).
pub async fn apply_plan(
    ctx: &Context,
    view: &dyn ApplyView,
    yes: bool,
    dry_run: bool,
    mut plan: Plan,
) -> Result<ExitCode> {
    let unread = verdict(&plan, true);
    if dry_run {
        view.dry_run(&plan)?;
        let nothing = plan
            .steps
            .iter()
            .all(|s| s.status == crate::plan::Status::NotNeeded);
        return Ok(verdict(&plan, nothing));
    }
    view.before_apply(&plan)?;
    if plan.steps.is_empty() {
        view.nothing_to_apply(&plan)?;
        return Ok(unread);
    }
    if plan.automatic_steps() > 0 && !yes && !confirmed(&plan)? {
        // Not an error: the answer was no.
        let _ = writeln!(std::io::stderr(), "Apply cancelled; nothing was changed.");
        return Ok(ExitCode::Error);
    }
    // Until the report is out, Ctrl-C abandons waits instead of stopping.
    let _graceful = crate::interrupt::Graceful::new();
    let (code, interrupted) = perform(ctx, &mut plan).await;
    let connect = ctx.target.connect;
    let journal = ctx.journal.as_ref().filter(|j| j.written());
    view.summary(
        &plan,
        Ending {
            connect,
            interrupted,
            journal: journal.map(|j| j.path.clone()),
        },
    )?;
    if interrupted {
        return Ok(ExitCode::Interrupted);
    }
    Ok(code.merge(unread))
}

/// The plan to apply: a fresh detection, or the saved plan checked against it.
async fn plan_to_apply(ctx: &Context, saved: Option<&Plan>) -> Result<Plan> {
    if let Some(s) = saved {
        // Before detecting: another option could even make detection run
        // something (--remote, --connect) the plan's approval did not cover.
        crate::apply::check_options(s, &ctx.target)?;
        // Said once the plan is accepted, not before a refusal.
        ctx.progress.progress(&format!(
            "applying the saved plan made {} ({} automatic step{} approved by it); each step is re-checked before it acts",
            crate::text::sanitize(&s.created),
            s.automatic_steps(),
            if s.automatic_steps() == 1 { "" } else { "s" }
        ));
    }
    let fresh = detect(ctx).await?;
    match saved {
        Some(s) => crate::apply::check_saved(s, &fresh),
        None => Ok(fresh),
    }
}

/// Whether the person at the terminal approves the automatic steps; an
/// error when no one can be asked (only an explicit yes approves).
fn confirmed(plan: &Plan) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Declined(
            "standard input is not a terminal, so arcfix cannot ask for confirmation: nothing was changed; use --yes to apply without asking".into(),
        ));
    }
    Ok(crate::prompt::ask(&question(plan)))
}

/// "Apply the 3 automatic steps above on 2 machines?"
fn question(plan: &Plan) -> String {
    let n = plan.automatic_steps();
    let machines = crate::render::text::machines_touched(plan);
    format!(
        "Apply the {} automatic {} above{}?",
        crate::checks::fleet::thousands(n),
        if n == 1 { "step" } else { "steps" },
        match machines {
            0 | 1 => String::new(),
            m => format!(" on {} machines", crate::checks::fleet::thousands(m)),
        }
    )
}

/// The steps performed with Ctrl-C watched, then (`--connect`) the SSH
/// path tried again: the exit code, and whether Ctrl-C stopped it.
async fn perform(ctx: &Context, plan: &mut Plan) -> (ExitCode, bool) {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        crate::interrupt::raised().await;
        flag.store(true, Ordering::SeqCst);
        let _ = writeln!(
            std::io::stderr(),
            "arcfix: interrupted: stopping (a wait in progress is abandoned; the report follows)"
        );
    });
    let mut code = crate::apply::apply(ctx, plan, &interrupted).await;
    if ctx.target.connect && !interrupted.load(Ordering::SeqCst) {
        // The last verification: the real SSH path, end to end.
        let progress = ctx.progress.as_ref();
        checks::probe_again(ctx, plan, &|line: &str| progress.progress(line)).await;
        if !checks::connections_ok(plan) {
            code = code.merge(ExitCode::Incomplete);
        }
    }
    watcher.abort();
    (code, interrupted.load(Ordering::SeqCst))
}

fn explain(view: &dyn ExplainView, given: Option<String>) -> Result<ExitCode> {
    let input = match given {
        Some(t) => t,
        None => {
            if std::io::stdin().is_terminal() {
                // Never wait silently: say how to give the text.
                let end = if cfg!(windows) {
                    "Ctrl-Z, then Enter"
                } else {
                    "Ctrl-D"
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "Paste the error message or log to explain, then press {end} on a new line (or pass the text as arguments, or pipe a file in)."
                );
            }
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("cannot read standard input", e))?;
            crate::explain::decode_input(&bytes)?
        }
    };
    // The Azure CLI ssh extension here, read from its folder (never by
    // starting az): what judges the extension's version notice.
    let host = crate::os::Host::detect();
    let az_ssh = match crate::checks::az_ssh::installed(&crate::checks::az_ssh::ssh_dir(&host)) {
        crate::checks::az_ssh::Installed::Version(version)
            if crate::checks::az_ssh::release(&version).is_some() =>
        {
            crate::explain::AzSshHere::Version {
                current: !crate::checks::az_ssh::outdated(&version),
                version,
            }
        }
        crate::checks::az_ssh::Installed::Version(_) => crate::explain::AzSshHere::Unread,
        crate::checks::az_ssh::Installed::No => crate::explain::AzSshHere::NotInstalled,
        crate::checks::az_ssh::Installed::Unreadable => crate::explain::AzSshHere::Unread,
    };
    let explanation = crate::explain::explanation_with(&input, &az_ssh);
    view.explained(&explanation)?;
    // 0 only for a known problem: OpenSSH's own errors alone are no finding (2).
    Ok(if explanation.matches.is_empty() {
        ExitCode::Found
    } else {
        ExitCode::Ok
    })
}
