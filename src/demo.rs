//! `arcfix demo`: the whole product against a simulated Arc environment. It
//! starts the simulator on 127.0.0.1 with a built-in scenario (by default
//! machines that have every Azure-side and server-side problem), lays out a
//! throw-away client sandbox with the client-side ones, and runs check -> plan
//! -> apply --yes -> check, labelled as simulated. `--serve` instead keeps the
//! simulator running and says how to point arcfix at it; `--list` names the
//! scenarios. Nothing leaves loopback; no Azure account is needed.

use std::path::Path;
use std::sync::Arc;

use crate::apply;
use crate::azure::auth::{STATIC_TOKEN_VAR, StaticToken, Tokens};
use crate::azure::client::{Arm, RetryPolicy};
use crate::checks::{self, Context};
use crate::config::DemoMode;
use crate::error::{Error, ExitCode, Result};
use crate::os::{Host, Os};
use crate::progress::Progress;
use crate::render::view::Views;
use crate::sim::{Scenario, Sim};
use crate::target::MachineId;
use crate::target::{Login, Options, Request};
use crate::view::{DemoRun, DemoView, ScenarioInfo, Serving};

/// How long the token `--serve` prints stays valid.
const SERVE_TOKEN_HOURS: i64 = 24;

pub async fn run(views: &Views, name: &str, mode: DemoMode) -> Result<ExitCode> {
    let scenario = builtin(name)?;
    let view = views.demo();
    if mode == DemoMode::List {
        view.scenarios(&scenarios())?;
        return Ok(ExitCode::Ok);
    }
    // Ctrl-C is caught before anything exists, so nothing outlives it.
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let _ = futures::poll!(&mut interrupt);
    let sim = Sim::start(scenario)
        .await
        .map_err(|e| Error::io("cannot start the simulated Azure on 127.0.0.1", e))?;
    if mode == DemoMode::Serve {
        return serve(view, sim, interrupt).await;
    }
    // The sandbox is this user's alone (0700), and goes away on every way
    // out: the end, an error, or Ctrl-C (the demo stops at once: it has
    // nothing of the user's to finish).
    let mut builder = tempfile::Builder::new();
    builder.prefix("arcfix-demo-");
    private(&mut builder);
    let sandbox = builder
        .tempdir()
        .map_err(|e| Error::io("cannot make the demo sandbox", e))?;
    let story = async {
        if sim.scenario().name == POLICY_SCENARIO {
            run_policy(view, views.progress(), &sim).await
        } else {
            run_with(view, views.progress(), &sim, sandbox.path()).await
        }
    };
    let result = tokio::select! {
        r = story => r,
        _ = &mut interrupt => {
            view.stopped("interrupted (Ctrl-C): the demo stopped and removed its sandbox");
            Ok(ExitCode::Interrupted)
        }
    };
    sim.shutdown().await;
    let closed = sandbox.close();
    let code = result?;
    closed.map_err(|e| Error::io("cannot remove the demo sandbox", e))?;
    Ok(code)
}

/// The built-in scenario of that name, or the usage error suggesting the
/// closest name (as clap does for a mistyped command), else listing them.
fn builtin(name: &str) -> Result<Scenario> {
    Scenario::builtin(name).ok_or_else(|| {
        let names = Scenario::builtin_names();
        let typed = crate::text::sanitize(name);
        Error::Usage(match closest(name, names) {
            Some(near) => format!(
                "unknown scenario '{typed}': did you mean '{near}'? (`arcfix demo --list` shows them all)"
            ),
            None => format!(
                "unknown scenario '{typed}': the built-in scenarios are {} (see `arcfix demo --list`)",
                names.join(", ")
            ),
        })
    })
}

/// The name nearest to `typed` (case aside), when it is near enough to be a
/// typo of it: a third of its letters to change at most (one at least).
fn closest<'a>(typed: &str, names: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    let limit = (typed.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (edit_distance(&typed, n), *n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance: insertions, deletions and substitutions of characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The built-in scenarios, in their order.
fn scenarios() -> Vec<ScenarioInfo> {
    Scenario::builtin_names()
        .iter()
        .filter_map(|n| Scenario::builtin(n))
        .map(|s| ScenarioInfo {
            machines: s.machine_ids(),
            name: s.name,
            description: s.description,
        })
        .collect()
}

/// `--serve`: the simulator on loopback until Ctrl-C, and what to type to use
/// it. Ctrl-C is how a server is meant to stop, not an interruption of work
/// in progress: it ends with exit 0 once the simulator has shut down.
async fn serve(
    view: &dyn DemoView,
    sim: Sim,
    interrupt: std::pin::Pin<&mut impl std::future::Future<Output = std::io::Result<()>>>,
) -> Result<ExitCode> {
    let scenario = sim.scenario().clone();
    let caller = scenario.caller_principal();
    // The simulator's own unsigned token for the scenario's caller: it opens
    // nothing but this simulator, so it may be shown.
    let token = crate::sim::fake_token_with(
        &caller.oid,
        &caller.upn,
        &scenario.tenant,
        time::OffsetDateTime::now_utc().unix_timestamp() + SERVE_TOKEN_HOURS * 3600,
    );
    view.serving(&Serving {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        endpoint: sim.base_url(),
        token_var: STATIC_TOKEN_VAR,
        token,
        token_hours: SERVE_TOKEN_HOURS,
        caller: caller.upn.clone(),
        machines: scenario.machine_ids(),
        windows: Host::detect().os == Os::Windows,
    })?;
    let _ = interrupt.await;
    let served = sim.all_requests().len();
    sim.shutdown().await;
    view.stopped(&format!(
        "stopped the simulated Azure ({served} requests served)"
    ));
    Ok(ExitCode::Ok)
}

#[cfg(unix)]
fn private(builder: &mut tempfile::Builder) {
    use std::os::unix::fs::PermissionsExt;
    builder.permissions(std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn private(_builder: &mut tempfile::Builder) {}

/// The story: check, plan, apply --yes and check again against the
/// simulator, as the user's view shows it.
async fn run_with(
    view: &dyn DemoView,
    progress: Arc<dyn Progress>,
    sim: &Sim,
    sandbox: &Path,
) -> Result<ExitCode> {
    let host = client_sandbox(sandbox)?;
    let machines = machines(sim)?;
    // The connection probe, where this machine has OpenSSH: the real ssh, a
    // stand-in proxy that asks the simulated relay, and a throw-away sshd on
    // loopback behind each machine, labelled in its banner. A machine without
    // its own stand-in would have nothing to reach: every one gets one, or
    // none is probed.
    let probe = connection_probe(&host, sandbox, sim, &machines).await;
    let target = Request {
        options: Options {
            // The scenario chooses the demo's port (`--port 22` for most).
            port: sim.scenario().demo_port,
            login: Login::Entra,
            grant_roles: true,
            remote: true,
            connect: probe.is_ok(),
            ..Options::default()
        },
        ..Request::machines(machines.clone())
    };
    let arm = sim_arm(sim, &progress)?;
    let mut ctx = Context::new(host, target, Some(arm.clone()));
    ctx.progress = progress;
    view.heading(&format!(
        "arcfix demo — SIMULATED environment, scenario '{}'",
        sim.scenario().name
    ))?;
    for paragraph in intro(sim, sandbox, &machines, &probe) {
        view.paragraph(&paragraph)?;
    }

    let before = check(view, &ctx, "== 1. arcfix check (simulated)").await?;
    // The findings were just shown: the plan alone.
    view.say("\n")?;
    view.heading("== 2. arcfix plan (simulated)")?;
    let mut plan = before.clone();
    view.plan_steps(&plan)?;

    view.say("\n")?;
    view.heading("== 3. arcfix apply --yes (simulated)")?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    apply::apply(&ctx, &mut plan, &interrupted).await;
    view.summary(&plan)?;

    let after = check(view, &ctx, "== 4. arcfix check again (simulated)").await?;
    let requests = sim.requests();
    view.say(&closing(&requests, &plan))?;
    view.document(&DemoRun {
        before: &before,
        applied: &plan,
        after: &after,
        requests: requests.len(),
    })?;
    Ok(ExitCode::Ok)
}

/// A client of the simulator, signed in as the scenario's caller.
fn sim_arm(sim: &Sim, progress: &Arc<dyn Progress>) -> Result<Arc<Arm>> {
    let base = url::Url::parse(&sim.base_url()).map_err(|e| Error::Internal(e.to_string()))?;
    let arm = Arm::new(
        base,
        Tokens::new(Box::new(StaticToken(sim.caller_token())), "demo"),
        RetryPolicy::default(),
    )?;
    arm.report_to(progress.clone());
    Ok(arm)
}

/// The scenario whose story is `policy apply` then `policy status`.
const POLICY_SCENARIO: &str = "policy";

/// The story of the policy scenario: arcfix's initiative installed with
/// `policy apply --yes`, the remediation tasks waited for, and `policy
/// status` showing the machines compliant.
async fn run_policy(
    view: &dyn DemoView,
    progress: Arc<dyn Progress>,
    sim: &Sim,
) -> Result<ExitCode> {
    use crate::policy::install::{Enforcement, Install, Location, PolicyScope};
    let scenario = sim.scenario();
    let subscription = scenario
        .subscriptions
        .first()
        .ok_or_else(|| Error::Internal("the policy scenario has no subscription".into()))?;
    let location = subscription
        .resource_groups
        .first()
        .map(|g| g.location.clone())
        .unwrap_or_else(|| "eastus".into());
    let install = Install {
        choice: crate::policy::Choice {
            port: scenario.demo_port.unwrap_or(22),
            login: Login::Entra,
        },
        scope: PolicyScope {
            subscription: crate::target::SubscriptionId::parse(&subscription.id)?,
            group: None,
        },
        enforcement: Enforcement::Default,
        location: Some(Location::parse(&location)?),
    };
    let arm = sim_arm(sim, &progress)?;
    let mut ctx = Context::new(Host::detect(), Request::machines(vec![]), Some(arm.clone()));
    ctx.progress = progress;
    view.heading(&format!(
        "arcfix demo — SIMULATED environment, scenario '{}'",
        scenario.name
    ))?;
    view.paragraph(&scenario.description)?;
    view.paragraph(&format!(
        "Simulated Azure Resource Manager on {}: its own small Azure Policy engine evaluates the rules arcfix installs against the simulated machines, and a remediation deploys the rules' templates into the simulated world. Nothing here touches Azure.",
        sim.base_url()
    ))?;
    let command = format!(
        "arcfix policy apply {} --login entra --location {} --yes",
        install.scope.args(),
        location
    );
    view.say("\n")?;
    view.heading(&format!("== 1. {command} (simulated)"))?;
    let mut plan = crate::policy::install::plan_shown(&ctx, &install).await?;
    view.findings(&plan)?;
    view.plan_steps(&plan)?;
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    apply::apply(&ctx, &mut plan, &interrupted).await;
    view.summary(&plan)?;

    view.say("\n")?;
    view.heading("== 2. waiting for the remediation tasks (simulated)")?;
    let status = settled(&ctx, &arm, &install.scope).await?;
    let (all, going) = (status.remediations.len(), status.under_way());
    view.say(&match going {
        0 => format!(
            "{all} remediation task{} ended.\n",
            if all == 1 { "" } else { "s" }
        ),
        n => format!("{n} of {all} remediation tasks still under way after a minute.\n"),
    })?;

    view.say("\n")?;
    view.heading(&format!(
        "== 3. arcfix policy status {} (simulated)",
        install.scope.args()
    ))?;
    view.policy_status(&status)?;
    let requests = sim.requests();
    view.say(&closing(&requests, &plan))?;
    view.policy_document(&plan, &status, requests.len())?;
    Ok(ExitCode::Ok)
}

/// The policy status read after no remediation task is under way (at most
/// a minute: the simulator's finish in a few reads). It is read once more
/// then: the compliance read beside the last task's end may predate it.
async fn settled(
    ctx: &Context,
    arm: &Arm,
    scope: &crate::policy::install::PolicyScope,
) -> Result<crate::policy::status::Status> {
    let started = std::time::Instant::now();
    let _waiting = ctx.progress.waiting("waiting for the remediation tasks");
    loop {
        let status = crate::policy::status::read(arm, scope).await?;
        if status.under_way() == 0 {
            return crate::policy::status::read(arm, scope).await;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            return Ok(status);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The scenario's machines (one at least).
fn machines(sim: &Sim) -> Result<Vec<MachineId>> {
    let machines = sim
        .scenario()
        .machine_ids()
        .iter()
        .map(|id| MachineId::parse(id))
        .collect::<Result<Vec<_>>>()?;
    if machines.is_empty() {
        return Err(Error::Internal(format!(
            "the scenario '{}' has no machine",
            sim.scenario().name
        )));
    }
    Ok(machines)
}

/// What the demo is about to do, and where: under its heading, a paragraph each.
fn intro(
    sim: &Sim,
    sandbox: &Path,
    machines: &[MachineId],
    probe: &std::result::Result<Vec<tokio::process::Child>, String>,
) -> Vec<String> {
    let names = machines
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        sim.scenario().description.clone(),
        format!(
            "Simulated Azure Resource Manager on {}, a throw-away client sandbox in {}. Nothing here touches Azure or this machine's own settings.",
            sim.base_url(),
            sandbox.display()
        ),
        format!(
            "Target: {names} ({}--login entra --grant-roles --remote)",
            match sim.scenario().demo_port {
                Some(port) => format!("--port {port} "),
                None => String::new(),
            }
        ),
        match probe {
            Ok(_) => format!(
                "The SSH path is tried end to end (--connect): the real ssh, a stand-in for the Arc proxy in front of the simulated relay, and behind each machine a throw-away sshd of this machine's own on 127.0.0.1, standing in for the server's (simulated: its banner ends with '{}NAME'{}).",
                STAND_IN,
                if has_windows(sim.scenario()) {
                    "; a Windows machine's stand-in is this OpenSSH too"
                } else {
                    ""
                }
            ),
            Err(why) => format!("Connection probe skipped: {why}."),
        },
    ]
}

/// One check of the story, under its heading: its findings shown.
async fn check(view: &dyn DemoView, ctx: &Context, heading: &str) -> Result<crate::plan::Plan> {
    view.say("\n")?;
    view.heading(heading)?;
    let waiting = ctx.progress.waiting(&ctx.checking());
    let plan = checks::detect(ctx).await;
    drop(waiting);
    let plan = plan?;
    view.findings(&plan)?;
    Ok(plan)
}

/// The last words: what reached the simulator, and what is left to people.
fn closing(requests: &[crate::sim::LoggedRequest], applied: &crate::plan::Plan) -> String {
    let writes = requests.iter().filter(|r| r.is_write()).count();
    let mut closing = format!(
        "\n{} requests reached the simulated ARM ({writes} of them writes);\nnothing was sent beyond 127.0.0.1.\n",
        requests.len()
    );
    if applied
        .steps
        .iter()
        .any(|s| s.status == crate::plan::Status::Manual)
    {
        closing.push_str("What remains is what no program may do for you: each manual step above says who runs what.\n");
    }
    closing
}

/// A client with the client-side problems: Az.Ssh without Az.Ssh.ArcProxy, a
/// stand-in `pwsh` that installs it the way the gallery lays it out, and an
/// Azure CLI proxy file without its execute bit.
fn client_sandbox(dir: &Path) -> Result<Host> {
    let io = |e| Error::io("cannot lay out the demo sandbox", e);
    let home = dir.join("home");
    let bin = dir.join("bin");
    let modules = dir.join("modules");
    let az_ssh = modules.join("Az.Ssh").join("0.2.3");
    for d in [&home, &bin, &az_ssh] {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    std::fs::write(
        az_ssh.join("Az.Ssh.psd1"),
        "@{\n    ModuleVersion = '0.2.3'\n}\n",
    )
    .map_err(io)?;
    let real = Host::detect();
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("PATH".to_string(), bin.display().to_string());
    vars.insert("PSModulePath".to_string(), modules.display().to_string());
    vars.insert("ARCFIX_SSH_SEARCH_PATH".to_string(), String::new());
    let host = Host {
        home: home.clone(),
        vars,
        privileged: false,
        ..real
    };
    for p in ["ssh", "ssh-keygen"] {
        write_exec(&bin.join(host.os.exe(p)), "#!/bin/sh\nexit 0\n").map_err(io)?;
    }
    if host.os != Os::Windows {
        let arcproxy = modules.join("Az.Ssh.ArcProxy").join("1.0.0");
        let proxy = format!(
            "sshProxy_{}_{}_1.3.022941",
            host.os.proxy_word(),
            host.arch.powershell_word()
        );
        let pwsh = format!(
            "#!/bin/sh\n# Stands in for PowerShell in the demo: Install-Module lays out Az.Ssh.ArcProxy 1.0.0.\ncase \"$*\" in\n  *Install-Module*) mkdir -p '{d}' && printf \"@{{\\n  ModuleVersion = '1.0.0'\\n}}\\n\" > '{d}/Az.Ssh.ArcProxy.psd1' && printf '#!/bin/sh\\n' > '{d}/{proxy}' && chmod 644 '{d}/{proxy}';;\nesac\n",
            d = arcproxy.display()
        );
        write_exec(&bin.join("pwsh"), &pwsh).map_err(io)?;
        let cli_proxy = home.join(".clientsshproxy");
        std::fs::create_dir_all(&cli_proxy).map_err(io)?;
        let file = cli_proxy.join(format!(
            "sshProxy_{}_{}_1_3_026973",
            host.os.proxy_word(),
            host.arch.word()
        ));
        std::fs::write(&file, "#!/bin/sh\n").map_err(io)?;
        set_mode(&file, 0o644).map_err(io)?;
    }
    Ok(host)
}

/// Whether a machine of the scenario runs Windows (its stand-in is not).
fn has_windows(s: &Scenario) -> bool {
    s.subscriptions
        .iter()
        .flat_map(|s| &s.resource_groups)
        .flat_map(|g| &g.machines)
        .any(|m| m.os_type.eq_ignore_ascii_case("windows"))
}

/// What each stand-in sshd adds to its banner, before the machine's name: a
/// banner seen in the demo says which stand-in it came from, never the
/// server's own.
pub const STAND_IN: &str = "arcfix-demo-stand-in-for-";

/// A throw-away sshd for each machine (its own port, host key and banner),
/// the real ssh in the sandbox and the stand-in proxy as the Azure CLI's
/// proxy file (still without its execute bit: that is one of the client's
/// problems). `Err` says why there is no probe.
async fn connection_probe(
    host: &Host,
    sandbox: &Path,
    sim: &Sim,
    machines: &[MachineId],
) -> std::result::Result<Vec<tokio::process::Child>, String> {
    if host.os == Os::Windows {
        return Err("the stand-in proxy and sshd run on Linux and macOS only".into());
    }
    let real = Host::detect();
    let ssh = real.which("ssh").ok_or("no OpenSSH client (ssh) on PATH")?;
    let keygen = real.which("ssh-keygen").ok_or("no ssh-keygen on PATH")?;
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("no OpenSSH server (sshd) installed")?;
    if real.privileged && !Path::new("/run/sshd").is_dir() {
        return Err("sshd as root needs /run/sshd, which does not exist (the demo creates nothing outside its sandbox)".into());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::with_capacity(machines.len());
    for machine in machines {
        let dir = sandbox.join("sshd").join(machine.name.to_ascii_lowercase());
        let port = stand_in(&keygen, &sshd, &dir, &machine.name)
            .await
            .map_err(|why| format!("the stand-in sshd for {}: {why}", machine.name))?;
        children.push(port.1);
        sim.attach_sshd(&machine.to_string(), port.0);
    }
    let bin = sandbox.join("bin");
    for (name, real) in [("ssh", &ssh), ("ssh-keygen", &keygen)] {
        let at = bin.join(name);
        let _ = std::fs::remove_file(&at);
        link(real, &at).map_err(|e| e.to_string())?;
    }
    let proxy = host.home.join(".clientsshproxy").join(format!(
        "sshProxy_{}_{}_1_3_026973",
        host.os.proxy_word(),
        host.arch.word()
    ));
    std::fs::write(
        &proxy,
        format!(
            "#!/bin/sh\n# Stands in for the Arc SSH proxy: asks the simulated relay, then splices to the machine's stand-in sshd.\nexec '{}' sim-proxy --sim '{}' \"$@\"\n",
            me.display(),
            sim.base_url()
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(children)
}

/// One stand-in sshd in `dir` on a free loopback port, its banner ending in
/// `STAND_IN` and `name`; the port and the running sshd.
async fn stand_in(
    keygen: &Path,
    sshd: &Path,
    dir: &Path,
    name: &str,
) -> std::result::Result<(u16, tokio::process::Child), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let key = dir.join("hostkey");
    let made = tokio::process::Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if !made.success() {
        return Err("ssh-keygen could not make a host key".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\nStrictModes no\nVersionAddendum {STAND_IN}{name}\n",
            key.display(),
            dir.join("sshd.pid").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = tokio::process::Command::new(sshd)
        .arg("-D")
        .arg("-f")
        .arg(&config)
        .arg("-E")
        .arg(dir.join("sshd.log"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("sshd does not start: {e}"))?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((port, child));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err("it did not start listening".into())
}

#[cfg(unix)]
fn link(from: &Path, to: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(from, to)
}

#[cfg(not(unix))]
fn link(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from, to).map(|_| ())
}

fn write_exec(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    set_mode(path, 0o755)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_offers_the_simulators_scenarios() {
        assert_eq!(crate::cli::SCENARIOS, Scenario::builtin_names());
    }

    #[test]
    fn a_typo_of_a_scenario_is_answered_with_the_nearest_name() {
        let names = Scenario::builtin_names();
        for (typed, near) in [
            ("helthy", Some("healthy")),
            ("Healthy", Some("healthy")),
            ("wrongport", Some("wrong-port")),
            ("fleat", Some("fleet")),
            ("group-contributer", Some("group-contributor")),
            ("moon", None),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(closest(typed, names), near, "{typed}");
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
