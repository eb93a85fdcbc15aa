//! Turns parsed arguments into a `Config` whose command carries its data.

use std::path::PathBuf;

use crate::azure::account::AzAccount;
use crate::azure::client::is_loopback;
use crate::azure::cloud::{Auth, Cloud};
use crate::cli::{self, Cli, Output};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::Side;
use crate::target::{
    ByName, Implied, ImpliedFrom, MachineId, Options, Request, Scope, SubscriptionRef,
    validate_machine_name, validate_resource_group,
};

#[derive(Debug)]
pub struct Config {
    pub command: Cmd,
    pub output: Output,
    /// `--query`: what of the JSON document is printed.
    pub query: Option<Query>,
    pub color: bool,
    /// -1 quiet, 0 default, 1 -v, 2 -vv
    pub verbosity: i8,
    /// apply's `--journal FILE`, or `Off` with `--no-journal`; the default
    /// path otherwise (and for every other command, which keeps no journal).
    pub journal: JournalChoice,
    pub azure: AzureSettings,
}

/// Where apply's journal of changes goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalChoice {
    Default,
    File(PathBuf),
    Off,
}

/// What `arcfix demo` does with its scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoMode {
    /// check -> plan -> apply --yes -> check, then stop.
    Run,
    /// Only list the built-in scenarios.
    List,
    /// Keep the simulator running until Ctrl-C.
    Serve,
}

#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// ARM base URL, ending in `/`.
    pub endpoint: url::Url,
    pub cloud: Cloud,
    pub auth: Auth,
    /// Where `endpoint` came from: `--arm-endpoint`, `ARCFIX_ARM_ENDPOINT`
    /// or `--cloud AzureCloud` (said when it cannot be reached).
    pub endpoint_origin: String,
}

#[derive(Debug)]
pub enum Cmd {
    Check(Request),
    Plan {
        target: Request,
        out: Option<PathBuf>,
    },
    Apply {
        target: Request,
        yes: bool,
        dry_run: bool,
        /// `apply FILE` / `--plan FILE`: the saved plan, which is the
        /// approval; `target` is made from it.
        saved: Option<Box<Plan>>,
    },
    Explain {
        text: Option<String>,
    },
    Rules,
    /// `policy show`: the initiative for this port and login.
    PolicyShow(crate::policy::Choice),
    /// `policy apply`.
    PolicyApply {
        install: crate::policy::install::Install,
        yes: bool,
        dry_run: bool,
    },
    /// `policy status`.
    PolicyStatus(crate::policy::install::PolicyScope),
    Demo {
        /// A built-in scenario's name (checked).
        scenario: String,
        mode: DemoMode,
    },
    Completions(clap_complete::Shell),
    Man,
    SimProxy {
        sim: String,
        port: u16,
    },
}

/// Where the subscription comes from when a target needs one and no
/// `--subscription` is given, as `az` takes it: `AZURE_SUBSCRIPTION_ID`, else
/// the Azure CLI's current subscription (asked only with `--auth cli`).
#[derive(Clone, Copy)]
pub struct Defaults<'a> {
    /// `AZURE_SUBSCRIPTION_ID`.
    pub env: Option<&'a str>,
    /// `az account show`: `None` when the Azure CLI is not installed.
    pub az_account: &'a dyn Fn() -> Result<Option<AzAccount>>,
    /// The Azure CLI may be asked (`from_cli` keeps it only with `--auth cli`).
    pub use_az: bool,
}

impl Defaults<'_> {
    /// No environment and no Azure CLI (tests).
    #[cfg(test)]
    pub fn none() -> Defaults<'static> {
        Defaults {
            env: None,
            az_account: &|| Ok(None),
            use_az: false,
        }
    }

    /// The subscription to use, and where it came from.
    fn implied(&self) -> Result<Option<Implied>> {
        if let Some(env) = self.env.filter(|s| !s.trim().is_empty()) {
            let subscription = SubscriptionRef::parse(env)
                .map_err(|e| Error::Usage(format!("AZURE_SUBSCRIPTION_ID: {e}")))?;
            return Ok(Some(Implied {
                subscription,
                name: None,
                from: ImpliedFrom::Environment,
            }));
        }
        if !self.use_az {
            return Ok(None);
        }
        Ok((self.az_account)()?.map(|a| Implied {
            subscription: SubscriptionRef::Id(a.id),
            name: Some(a.name),
            from: ImpliedFrom::AzAccount,
        }))
    }
}

impl Config {
    /// `defaults` say which subscription to use when none is given.
    pub fn from_cli(
        cli: Cli,
        env_no_color: bool,
        stdout_is_terminal: bool,
        defaults: &Defaults,
    ) -> Result<Config> {
        let g = cli.global;
        let defaults = Defaults {
            use_az: defaults.use_az && g.auth == Auth::Cli,
            ..*defaults
        };
        let journal = match &cli.command {
            cli::Command::Apply { journal, .. }
            | cli::Command::Policy {
                command: cli::PolicyCommand::Apply { journal, .. },
            } => journal_choice(journal),
            _ => JournalChoice::Default,
        };
        let query = g.query.as_deref().map(Query::compile).transpose()?;
        if g.output == Output::Html {
            html_report(&cli.command, query.is_some())?;
        }
        let document = document_output(g.output, query.is_some());
        let command = command(cli.command, document, &defaults, &cli.typed)?;
        let azure = azure_settings(&g)?;
        Ok(Config {
            command,
            output: g.output,
            color: document.is_none() && color(&g, env_no_color, stdout_is_terminal),
            query,
            verbosity: if g.quiet { -1 } else { g.verbose.min(2) as i8 },
            journal,
            azure,
        })
    }
}

/// Apply's `--journal FILE` / `--no-journal`.
fn journal_choice(j: &cli::JournalArgs) -> JournalChoice {
    match (&j.journal, j.no_journal) {
        (_, true) => JournalChoice::Off,
        (Some(f), false) => JournalChoice::File(f.clone()),
        (None, false) => JournalChoice::Default,
    }
}

/// What makes stdout a document for programs instead of text for people
/// (`-o json`, `table`, `tsv`, or `--query`), said as the option; `None`
/// for text.
fn document_output(output: Output, query: bool) -> Option<&'static str> {
    match (output, query) {
        (Output::Text, false) => None,
        (Output::Text, true) => Some("--query"),
        (Output::Json, _) => Some("-o json"),
        (Output::Table, _) => Some("-o table"),
        (Output::Tsv, _) => Some("-o tsv"),
        (Output::Html, _) => Some("-o html"),
    }
}

/// `-o html` is the report of a run that checks machines (check, plan,
/// apply, demo's run), printed whole: any other command, or `--query`
/// beside it, is a usage error before anything is read. (completions and
/// man print what they print, whatever the output.)
fn html_report(command: &cli::Command, query: bool) -> Result<()> {
    if query {
        return Err(Error::Usage(
            "-o html prints the whole report, --query a part of the JSON document: use one or the other".into(),
        ));
    }
    let what = match command {
        cli::Command::Check(_)
        | cli::Command::Plan { .. }
        | cli::Command::Apply { .. }
        | cli::Command::Completions { .. }
        | cli::Command::Man
        | cli::Command::SimProxy { .. } => return Ok(()),
        cli::Command::Demo { list: true, .. } => "demo --list",
        cli::Command::Demo { serve: true, .. } => "demo --serve",
        cli::Command::Demo { .. } => return Ok(()),
        cli::Command::Explain { .. } => "explain",
        cli::Command::Rules => "rules",
        cli::Command::Policy {
            command: cli::PolicyCommand::Show { .. },
        } => "policy show",
        cli::Command::Policy {
            command: cli::PolicyCommand::Apply { .. },
        } => "policy apply",
        cli::Command::Policy {
            command: cli::PolicyCommand::Status { .. },
        } => "policy status",
    };
    Err(Error::Usage(format!(
        "-o html is the report of check, plan, apply or demo; {what} has none (-o text, json, table or tsv)"
    )))
}

/// `--query`: a JMESPath expression over the command's JSON document, as in
/// az, compiled before anything is read: a bad one is a usage error.
#[derive(Clone)]
pub struct Query(jmespath::Expression<'static>);

impl Query {
    pub fn compile(text: &str) -> Result<Query> {
        let expression = jmespath::compile(text).map_err(|e| {
            Error::Usage(format!(
                "invalid --query '{text}': {} (at column {})",
                e.reason,
                e.column + 1
            ))
        })?;
        // Functions are looked up only when called: a typo would otherwise
        // be found after the whole run.
        if let Some(name) = unknown_function(expression.as_ast()) {
            return Err(Error::Usage(format!(
                "invalid --query '{text}': JMESPath has no function {name}()"
            )));
        }
        Ok(Query(expression))
    }

    pub fn expression(&self) -> &jmespath::Expression<'static> {
        &self.0
    }
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Query({:?})", self.0.as_str())
    }
}

/// The first function the expression calls that JMESPath does not have.
fn unknown_function(ast: &jmespath::ast::Ast) -> Option<String> {
    use jmespath::ast::Ast;
    let inner: Vec<&Ast> = match ast {
        Ast::Function { name, args, .. } => {
            if jmespath::DEFAULT_RUNTIME.get_function(name).is_none() {
                return Some(name.clone());
            }
            args.iter().collect()
        }
        Ast::Comparison { lhs, rhs, .. }
        | Ast::And { lhs, rhs, .. }
        | Ast::Or { lhs, rhs, .. }
        | Ast::Projection { lhs, rhs, .. }
        | Ast::Subexpr { lhs, rhs, .. } => vec![lhs, rhs],
        Ast::Condition {
            predicate, then, ..
        } => vec![predicate, then],
        Ast::Expref { ast, .. } => vec![ast],
        Ast::Flatten { node, .. } | Ast::Not { node, .. } | Ast::ObjectValues { node, .. } => {
            vec![node]
        }
        Ast::MultiList { elements, .. } => elements.iter().collect(),
        Ast::MultiHash { elements, .. } => elements.iter().map(|kv| &kv.value).collect(),
        Ast::Identity { .. }
        | Ast::Field { .. }
        | Ast::Index { .. }
        | Ast::Literal { .. }
        | Ast::Slice { .. } => vec![],
    };
    inner.into_iter().find_map(unknown_function)
}

/// The command with its data, checked. `document`: the output option that
/// makes stdout a document, beside which no question can be asked.
fn command(
    command: cli::Command,
    document: Option<&str>,
    defaults: &Defaults,
    typed: &[String],
) -> Result<Cmd> {
    Ok(match command {
        cli::Command::Check(t) => Cmd::Check(target(t, defaults)?),
        cli::Command::Plan { target: t, out } => Cmd::Plan {
            target: target(t, defaults)?,
            out,
        },
        cli::Command::Apply {
            file,
            target: t,
            yes,
            dry_run,
            plan,
            journal: _,
        } => match file.or(plan) {
            Some(file) => saved_apply(file, t, typed, dry_run)?,
            // A saved plan is its own approval; otherwise beside a document
            // for programs no question can be asked.
            None if !yes && !dry_run && document.is_some() => {
                return Err(Error::Usage(format!(
                    "apply {} needs --yes: nothing can be asked while the output is a document for programs (add --yes, or use --dry-run to see the plan)",
                    document.unwrap_or_default()
                )));
            }
            None => Cmd::Apply {
                target: target(t, defaults)?,
                yes,
                dry_run,
                saved: None,
            },
        },
        cli::Command::Explain { text } => Cmd::Explain {
            text: explain_text(text)?,
        },
        cli::Command::Rules => Cmd::Rules,
        cli::Command::Policy {
            command: cli::PolicyCommand::Show { port, login },
        } => Cmd::PolicyShow(crate::policy::Choice {
            port: policy_port(&port)?,
            login,
        }),
        cli::Command::Policy {
            command:
                cli::PolicyCommand::Apply {
                    scope,
                    port,
                    login,
                    enforcement,
                    location,
                    yes,
                    dry_run,
                    journal: _,
                },
        } => Cmd::PolicyApply {
            install: crate::policy::install::Install {
                choice: crate::policy::Choice {
                    port: policy_port(&port)?,
                    login,
                },
                scope: policy_scope(&scope)?,
                enforcement,
                location: location
                    .map(|l| crate::policy::install::Location::parse(&l).map_err(usage))
                    .transpose()?,
            },
            yes,
            dry_run,
        },
        cli::Command::Policy {
            command: cli::PolicyCommand::Status { scope },
        } => Cmd::PolicyStatus(policy_scope(&scope)?),
        cli::Command::Demo {
            scenario,
            list,
            serve,
        } => demo(scenario, list, serve)?,
        cli::Command::Completions { shell } => Cmd::Completions(shell),
        cli::Command::Man => Cmd::Man,
        cli::Command::SimProxy { sim, port } => Cmd::SimProxy { sim, port },
    })
}

/// `policy apply|status --subscription S [-g RG]`: a subscription id and
/// a resource group name, checked.
fn policy_scope(a: &cli::PolicyScopeArgs) -> Result<crate::policy::install::PolicyScope> {
    let subscription = crate::target::SubscriptionId::parse(a.subscription.trim()).map_err(|_| {
        Error::Usage(format!(
            "invalid --subscription '{}': policy apply and status take the subscription's id (a GUID; az account list -o table shows it)",
            crate::text::sanitize(&a.subscription)
        ))
    })?;
    let group = a
        .resource_group
        .as_deref()
        .map(|g| {
            let g = g.trim();
            crate::target::validate_resource_group(g).map_err(usage)?;
            Ok::<String, Error>(g.to_string())
        })
        .transpose()?;
    Ok(crate::policy::install::PolicyScope {
        subscription,
        group,
    })
}

/// `policy … --port N`: a TCP port, or a one-line usage error naming it.
fn policy_port(text: &str) -> Result<u16> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Error::Usage(format!(
            "invalid --port '{}': a port is a whole number from 1 to 65535",
            crate::text::sanitize(text)
        ))),
    }
}

/// `apply FILE`: the saved plan's machines and options, with those typed
/// beside it compared (a different one is an error naming it, before
/// anything is read). The file is the approval, as `terraform apply PLANFILE`.
fn saved_apply(file: PathBuf, t: cli::TargetArgs, typed: &[String], dry_run: bool) -> Result<Cmd> {
    let saved = Plan::load(&file)?;
    let made = crate::apply::recorded_options(&saved)?;
    let machines = saved_machines(&saved, &file)?;
    let typed_one_of = |ids: &[&str]| typed.iter().any(|id| ids.contains(&id.as_str()));
    if typed_one_of(&["subscription", "resource_group", "machine", "tags"]) {
        return Err(Error::input(format!(
            "the saved plan {} names its machines ({}): apply takes them from it; drop --subscription, --resource-group, --machine and --tag beside the file, or make a new plan",
            file.display(),
            machine_names(&machines)
        )));
    }
    if typed_one_of(&["ids", "ids_from"]) {
        same_machines(&machines, &ids(&t)?, &file)?;
    }
    let options = made.with_typed(&t.options.clone().normalized(), typed);
    needs_machine(&options, !machines.is_empty())?;
    Ok(Cmd::Apply {
        target: Request {
            machines,
            by_name: None,
            scope: None,
            options,
            implied: None,
        },
        yes: true,
        dry_run,
        saved: Some(Box::new(saved)),
    })
}

/// The machines a saved plan was made for, as its `target` lists them
/// (spelled as Azure spelled them, from the plan's verdicts when there).
fn saved_machines(saved: &Plan, file: &std::path::Path) -> Result<Vec<MachineId>> {
    let mut machines = Vec::new();
    for part in saved
        .target
        .split(',')
        .filter(|p| !p.is_empty() && *p != "local")
    {
        let id = MachineId::parse(part).map_err(|e| {
            Error::input(format!(
                "plan {}: its target is not a list of machine ids ({e}): make a new plan",
                file.display()
            ))
        })?;
        let spelled = saved
            .machines
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.id.clone());
        machines.push(spelled.unwrap_or(id));
    }
    Ok(machines)
}

/// "web-01, db-01", or the first three and how many.
fn machine_names(ms: &[MachineId]) -> String {
    let shown: Vec<String> = ms.iter().take(3).map(|m| m.name.clone()).collect();
    match ms.len() {
        0 => "no Arc machine".to_string(),
        n if n <= 3 => shown.join(", "),
        n => format!("{}, … ({n} machines)", shown.join(", ")),
    }
}

/// Machines typed beside a saved plan (`--id`, `--ids-from`) must be the
/// plan's own.
fn same_machines(planned: &[MachineId], given: &[MachineId], file: &std::path::Path) -> Result<()> {
    let key = |ms: &[MachineId]| {
        let mut keys: Vec<String> = ms.iter().map(MachineId::key).collect();
        keys.sort();
        keys
    };
    if key(planned) != key(given) {
        return Err(Error::input(format!(
            "the saved plan {} was made for {}, this apply names {}: drop the machine options beside the file (apply takes them from it), or make a new plan",
            file.display(),
            machine_names(planned),
            machine_names(given)
        )));
    }
    Ok(())
}

/// The text to explain: `None` reads standard input (no words, or `-`).
/// Bad text is bad input (exit 1), not a usage error.
fn explain_text(words: Vec<std::ffi::OsString>) -> Result<Option<String>> {
    let words = words
        .into_iter()
        .map(|t| {
            t.into_string()
                .map_err(|_| Error::input("the text to explain is not UTF-8"))
        })
        .collect::<Result<Vec<String>>>()?;
    Ok(if words.is_empty() || words == ["-"] {
        None
    } else {
        Some(words.join(" "))
    })
}

/// `arcfix demo` with a built-in scenario.
fn demo(scenario: String, list: bool, serve: bool) -> Result<Cmd> {
    // The scenario's name is checked by `demo`, the one module that reaches
    // the simulator.
    let mode = match (list, serve) {
        (true, _) => DemoMode::List,
        (false, true) => DemoMode::Serve,
        (false, false) => DemoMode::Run,
    };
    Ok(Cmd::Demo { scenario, mode })
}

/// Where Resource Manager is and how to sign in to it.
fn azure_settings(g: &cli::GlobalArgs) -> Result<AzureSettings> {
    let endpoint_origin = endpoint_origin(
        g.arm_endpoint.as_deref(),
        std::env::var("ARCFIX_ARM_ENDPOINT").ok().as_deref(),
        g.cloud,
    );
    let endpoint = endpoint(g.arm_endpoint.as_deref(), g.cloud)?;
    if g.auth == Auth::Static && !is_loopback(&endpoint) {
        // The stand-in token is for the simulator: it never leaves this machine.
        return Err(Error::Usage(format!(
            "--auth static is only for a loopback --arm-endpoint (such as the one `arcfix demo --serve` prints), not {}",
            endpoint.origin().ascii_serialization()
        )));
    }
    Ok(AzureSettings {
        endpoint,
        cloud: g.cloud,
        auth: g.auth,
        endpoint_origin,
    })
}

/// Whether text output is coloured: `--no-color` and `--color never` win,
/// `--color auto` colours a terminal unless `NO_COLOR` is set.
fn color(g: &cli::GlobalArgs, env_no_color: bool, stdout_is_terminal: bool) -> bool {
    match (g.color, g.no_color) {
        (_, true) | (cli::ColorChoice::Never, _) => false,
        (cli::ColorChoice::Always, _) => true,
        (cli::ColorChoice::Auto, _) => !env_no_color && stdout_is_terminal,
    }
}

/// A malformed value on the command line is a usage error (64), whatever
/// the validator calls it.
fn usage(e: Error) -> Error {
    match e {
        Error::Input(m) => Error::Usage(m),
        e => e,
    }
}

/// The machine ids of `--ids-from`: one a line, blank lines and `#` comments
/// skipped; `-` reads standard input.
fn ids_from(file: &std::path::Path) -> Result<Vec<MachineId>> {
    // UTF-8, or UTF-16 with its byte-order mark (what Windows PowerShell 5.1's `>` writes).
    let (name, bytes) = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| Error::io("cannot read machine ids from standard input", e))?;
        ("standard input".to_string(), bytes)
    } else {
        let bytes = std::fs::read(file)
            .map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
        (file.display().to_string(), bytes)
    };
    let text =
        crate::explain::decode_input(&bytes).map_err(|e| Error::Usage(format!("{name}: {e}")))?;
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = MachineId::parse(line)
            .map_err(|e| Error::Usage(format!("{name} line {}: {e}", n + 1)))?;
        if seen.insert(id.key()) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(Error::Usage(format!("{name} has no machine ids")));
    }
    Ok(ids)
}

/// What check, plan and apply are pointed at, with their target options.
fn target(t: cli::TargetArgs, defaults: &Defaults) -> Result<Request> {
    let (
        Selection {
            machines,
            by_name,
            scope,
        },
        implied,
    ) = select(&t, defaults)?;
    let options = t.options.normalized();
    let has_machine = !machines.is_empty() || by_name.is_some() || scope.is_some();
    needs_machine(&options, has_machine)?;
    Ok(Request {
        machines,
        by_name,
        scope,
        options,
        implied,
    })
}

/// How to give a subscription, said when none was found.
const NO_SUBSCRIPTION: &str = "give --subscription, set AZURE_SUBSCRIPTION_ID, or sign in with the Azure CLI (`az login`; its current subscription is used with --auth cli)";

/// The machines a target selects: named one by one, or a fleet.
struct Selection {
    machines: Vec<MachineId>,
    by_name: Option<ByName>,
    scope: Option<Scope>,
}

/// The machines of `--id`, `--ids-from`, `--machine`, `--subscription`,
/// `--resource-group` and `--tag`, with every combination that cannot mean
/// one thing refused.
fn select(t: &cli::TargetArgs, defaults: &Defaults) -> Result<(Selection, Option<Implied>)> {
    let machines = ids(t)?;
    let tags = t
        .tags
        .iter()
        .map(|s| crate::target::parse_tag(s))
        .collect::<Result<Vec<_>>>()?;
    if let Some(rg) = &t.resource_group {
        validate_resource_group(rg).map_err(usage)?;
    }
    let fleet_selector =
        !t.subscription.is_empty() || t.resource_group.is_some() || !tags.is_empty();
    let wants_subscription = t.machine.is_some() || t.resource_group.is_some() || !tags.is_empty();
    let (subscriptions, implied) = subscriptions(&t.subscription, wants_subscription, defaults)?;
    let with = |s: Selection| Ok((s, implied.clone()));
    // Machines named one by one are the whole target: a fleet selector beside
    // them would silently widen it (an apply --yes to every machine there).
    if !machines.is_empty() && fleet_selector {
        return Err(Error::Usage(
            "--id and --ids-from name the machines: --subscription, --resource-group and --tag select a fleet instead; use one or the other".into(),
        ));
    }
    if let Some(name) = &t.machine {
        if !machines.is_empty() {
            return Err(Error::Usage(
                "--machine and --id (or --ids-from) cannot be used together".into(),
            ));
        }
        if !tags.is_empty() {
            return Err(Error::Usage(
                "--tag selects machines of a fleet; with --machine it has nothing to select".into(),
            ));
        }
        return with(one_machine(
            &subscriptions,
            t.resource_group.as_deref(),
            name,
        )?);
    }
    if !subscriptions.is_empty() && fleet_selector {
        return with(fleet(subscriptions, t.resource_group.clone(), tags)?);
    }
    if t.resource_group.is_some() {
        return Err(Error::Usage(format!(
            "--resource-group needs a subscription: {NO_SUBSCRIPTION}"
        )));
    }
    if !tags.is_empty() {
        return Err(Error::Usage(format!(
            "--tag selects machines of a fleet and needs a subscription: {NO_SUBSCRIPTION}"
        )));
    }
    with(Selection {
        machines,
        by_name: None,
        scope: None,
    })
}

/// The machines of `--id` and `--ids-from`, each once.
fn ids(t: &cli::TargetArgs) -> Result<Vec<MachineId>> {
    let mut machines = Vec::new();
    // The ids seen (case folded, as ARM compares them): linear in the ids, for
    // tens of thousands of them.
    let mut seen = std::collections::HashSet::new();
    for id in &t.ids {
        let id = MachineId::parse(id).map_err(usage)?;
        if seen.insert(id.key()) {
            machines.push(id);
        }
    }
    if let Some(file) = &t.ids_from {
        for id in ids_from(file)? {
            if seen.insert(id.key()) {
                machines.push(id);
            }
        }
    }
    Ok(machines)
}

/// The subscriptions of `--subscription`, each once; else, when something
/// needs one, the default one (`AZURE_SUBSCRIPTION_ID`, else the Azure
/// CLI's), said as implied. A default completes --machine,
/// --resource-group and --tag; it never starts a fleet run by itself.
fn subscriptions(
    given: &[String],
    wanted: bool,
    defaults: &Defaults,
) -> Result<(Vec<SubscriptionRef>, Option<Implied>)> {
    let mut subscriptions = Vec::new();
    for s in given {
        let s = SubscriptionRef::parse(s)?;
        if !subscriptions.contains(&s) {
            subscriptions.push(s);
        }
    }
    if !subscriptions.is_empty() || !wanted {
        return Ok((subscriptions, None));
    }
    let implied = defaults.implied()?;
    if let Some(i) = &implied {
        subscriptions.push(i.subscription.clone());
    }
    Ok((subscriptions, implied))
}

/// The one machine of `--machine`, in one subscription and resource group.
fn one_machine(
    subscriptions: &[SubscriptionRef],
    resource_group: Option<&str>,
    name: &str,
) -> Result<Selection> {
    let (subscription, rg) = match (subscriptions, resource_group) {
        ([subscription], Some(rg)) => (subscription, rg),
        ([_, _, ..], Some(_)) => {
            return Err(Error::Usage(
                "--machine names one machine: give one --subscription".into(),
            ));
        }
        _ => {
            return Err(Error::Usage(format!(
                "--machine needs --resource-group and a subscription: {NO_SUBSCRIPTION}"
            )));
        }
    };
    validate_machine_name(name).map_err(usage)?;
    let mut selection = Selection {
        machines: vec![],
        by_name: None,
        scope: None,
    };
    match subscription {
        SubscriptionRef::Id(sub) => selection
            .machines
            .push(MachineId::new(sub, rg, name).map_err(usage)?),
        SubscriptionRef::Name(sub) => {
            selection.by_name = Some(ByName {
                subscription: sub.clone(),
                resource_group: rg.to_string(),
                name: name.to_string(),
            })
        }
    }
    Ok(selection)
}

/// Fleet mode: every machine in the subscriptions, or in one resource group,
/// with all the tags.
fn fleet(
    subscriptions: Vec<SubscriptionRef>,
    resource_group: Option<String>,
    tags: Vec<(String, String)>,
) -> Result<Selection> {
    if resource_group.is_some() && subscriptions.len() > 1 {
        return Err(Error::Usage(
            "--resource-group names a group of one subscription: give one --subscription".into(),
        ));
    }
    Ok(Selection {
        machines: vec![],
        by_name: None,
        scope: Some(Scope {
            subscriptions,
            resource_group,
            tags,
        }),
    })
}

/// `--connect`, `--remote` and `--checks azure` look at machines in Azure:
/// without one they are a usage error.
fn needs_machine(options: &Options, has_machine: bool) -> Result<()> {
    let needs_machine = [
        (options.connect, "--connect"),
        (options.remote, "--remote"),
        (
            options
                .sides
                .as_ref()
                .is_some_and(|s| s.contains(&Side::Azure)),
            "--checks azure",
        ),
    ];
    match needs_machine.iter().find(|(on, _)| *on && !has_machine) {
        Some((_, option)) => Err(Error::Usage(format!(
            "{option} needs a machine: --id, or --subscription with --resource-group and --machine"
        ))),
        None => Ok(()),
    }
}

/// Where the ARM endpoint came from: the environment when the value is the
/// variable's (clap takes the option first), else the option, else the cloud.
fn endpoint_origin(given: Option<&str>, env: Option<&str>, cloud: Cloud) -> String {
    match given {
        Some(v) if env == Some(v) => "ARCFIX_ARM_ENDPOINT".into(),
        Some(_) => "--arm-endpoint".into(),
        None => format!(
            "--cloud {}",
            clap::ValueEnum::to_possible_value(&cloud)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        ),
    }
}

/// The ARM base URL: `--arm-endpoint` (https, or http to a loopback address), else the cloud's.
pub fn endpoint(given: Option<&str>, cloud: Cloud) -> Result<url::Url> {
    let raw = match given {
        Some(s) => s.to_string(),
        None => format!("https://{}/", cloud.arm_host()),
    };
    let mut url = url::Url::parse(&raw).map_err(|e| {
        Error::input(format!(
            "invalid --arm-endpoint '{}': {e}",
            crate::text::sanitize(&raw)
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // Never sent as Basic auth, never echoed in messages or plan commands.
        return Err(Error::input(
            "invalid --arm-endpoint: it must not carry a user name or password",
        ));
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(Error::input(format!(
                "refusing plain http to '{}': ARM endpoints must use https (http is allowed only for loopback)",
                crate::text::sanitize(&raw)
            )));
        }
        other => {
            return Err(Error::input(format!(
                "invalid --arm-endpoint scheme '{other}': use https"
            )));
        }
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

impl AzureSettings {
    /// A warning when the token would go somewhere other than the cloud's own
    /// Resource Manager (a mistyped or planted `--arm-endpoint`).
    pub fn endpoint_warning(&self) -> Option<String> {
        let own = self.cloud.arm_host();
        let host = self.endpoint.host_str().unwrap_or_default();
        // Loopback (the simulator, a local test double) keeps the token on this machine.
        let elsewhere = !host.eq_ignore_ascii_case(own) && !is_loopback(&self.endpoint);
        elsewhere.then(|| {
            format!(
                "arcfix: warning: the ARM endpoint {} is not {own}, the Resource Manager of {:?}: your Azure token is sent there",
                self.endpoint.origin().ascii_serialization(),
                self.cloud
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const SUB: &str = "11111111-2222-3333-4444-555555555555";

    fn parse(args: &[&str]) -> Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("arcfix").chain(args.iter().copied()))
            .map_err(|e| Error::Usage(e.to_string()))?;
        Config::from_cli(cli, false, true, &Defaults::none())
    }

    #[test]
    fn arguments_become_commands() {
        let c = parse(&[
            "check",
            "--subscription",
            SUB,
            "--resource-group",
            "rg",
            "--machine",
            "m",
        ])
        .unwrap();
        let Cmd::Check(t) = c.command else { panic!() };
        assert_eq!(
            t.machines[0].to_string(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m"
            )
        );
        assert!(t.scope.is_none() && t.by_name.is_none());

        let c = parse(&[
            "plan",
            "--subscription",
            SUB,
            "--resource-group",
            "rg",
            "--out",
            "p.json",
        ])
        .unwrap();
        let Cmd::Plan { target, out } = c.command else {
            panic!()
        };
        assert_eq!(
            target.scope,
            Some(Scope {
                subscriptions: vec![SubscriptionRef::Id(SUB.to_string())],
                resource_group: Some("rg".to_string()),
                tags: vec![],
            })
        );
        assert_eq!(out, Some(PathBuf::from("p.json")));

        let c = parse(&[
            "apply",
            "--yes",
            "--checks",
            "client,client",
            "--port",
            "2222",
        ])
        .unwrap();
        let Cmd::Apply {
            target,
            yes,
            dry_run,
            saved,
        } = c.command
        else {
            panic!()
        };
        assert!(yes && !dry_run && saved.is_none());
        assert_eq!(target.sides, Some(vec![Side::Client]));
        assert_eq!(target.port, Some(2222));

        let c = parse(&["explain", "-"]).unwrap();
        assert!(matches!(c.command, Cmd::Explain { text: None }));
        let c = parse(&["explain", "a", "b"]).unwrap();
        assert!(matches!(c.command, Cmd::Explain { text: Some(ref t) } if t == "a b"));
    }

    #[test]
    fn bad_combinations_are_usage_or_input_errors() {
        let cases: &[(&[&str], i32, &str)] = &[
            (&["check", "--machine", "m"], 64, "--machine needs"),
            (
                &["check", "--resource-group", "rg"],
                64,
                "--resource-group needs",
            ),
            (
                &[
                    "check",
                    "--subscription",
                    "a/b",
                    "--resource-group",
                    "rg",
                    "--machine",
                    "m",
                ],
                64,
                "invalid subscription 'a/b'",
            ),
            (
                &["check", "--id", "/subscriptions/x"],
                64,
                "invalid machine id",
            ),
            (
                &["check", "--tag", "a=b"],
                64,
                "--tag selects machines of a fleet and needs a subscription: give --subscription, set AZURE_SUBSCRIPTION_ID, or sign in with the Azure CLI",
            ),
            (
                &[
                    "check",
                    "--subscription",
                    "s",
                    "-g",
                    "rg",
                    "-n",
                    "m",
                    "--tag",
                    "a=b",
                ],
                64,
                "--tag selects machines of a fleet",
            ),
            (&["check", "--port", "0"], 64, "0"),
            (&["check", "--checks", "moon"], 64, "moon"),
            (
                &["check", "--arm-endpoint", "http://example.com"],
                1,
                "http is allowed only for loopback",
            ),
            (&["frobnicate"], 64, "frobnicate"),
            (&["check", "--connect"], 64, "--connect needs a machine"),
            (&["plan", "--remote"], 64, "--remote needs a machine"),
            (
                &["check", "--checks", "client,azure"],
                64,
                "--checks azure needs a machine",
            ),
            (
                &["apply", "--remote", "--checks", "azure"],
                64,
                "--remote needs a machine",
            ),
        ];
        for (args, code, text) in cases {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code().code(), *code, "{args:?}: {e}");
            assert!(e.to_string().contains(text), "{args:?}: {e}");
        }
    }

    #[test]
    fn endpoints_per_cloud_and_loopback_http() {
        assert_eq!(
            endpoint(None, Cloud::AzureUsGovernment).unwrap().as_str(),
            "https://management.usgovcloudapi.net/"
        );
        assert_eq!(
            endpoint(None, Cloud::AzureChinaCloud).unwrap().as_str(),
            "https://management.chinacloudapi.cn/"
        );
        assert_eq!(
            endpoint(Some("http://127.0.0.1:8080"), Cloud::AzureCloud)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            endpoint(Some("http://localhost:1/arm"), Cloud::AzureCloud)
                .unwrap()
                .as_str(),
            "http://localhost:1/arm/"
        );
        assert!(endpoint(Some("ftp://127.0.0.1"), Cloud::AzureCloud).is_err());
        let u = "https://arm.example/";
        assert_eq!(
            endpoint_origin(Some(u), Some(u), Cloud::AzureCloud),
            "ARCFIX_ARM_ENDPOINT"
        );
        assert_eq!(
            endpoint_origin(Some(u), Some("x"), Cloud::AzureCloud),
            "--arm-endpoint"
        );
        assert_eq!(
            endpoint_origin(Some(u), None, Cloud::AzureCloud),
            "--arm-endpoint"
        );
        assert_eq!(
            endpoint_origin(None, None, Cloud::AzureUsGovernment),
            "--cloud AzureUSGovernment"
        );
        for with_user in [
            "https://me:secret@management.azure.com/",
            "https://me@management.azure.com/",
            "http://u:p@127.0.0.1:1/",
        ] {
            let e = endpoint(Some(with_user), Cloud::AzureCloud)
                .unwrap_err()
                .to_string();
            assert!(e.contains("user name or password"), "{e}");
            assert!(!e.contains("secret"), "{e}");
        }
        let settings = |url: &str, cloud| AzureSettings {
            endpoint: endpoint(Some(url), cloud).unwrap(),
            cloud,
            auth: Auth::Cli,
            endpoint_origin: "--arm-endpoint".into(),
        };
        assert_eq!(
            settings("https://management.azure.com", Cloud::AzureCloud).endpoint_warning(),
            None
        );
        assert!(
            settings("https://management.azure.com", Cloud::AzureChinaCloud)
                .endpoint_warning()
                .is_some()
        );
        assert_eq!(
            settings("http://127.0.0.1:9", Cloud::AzureCloud).endpoint_warning(),
            None
        );
        let w = settings("https://arm.example.net/x", Cloud::AzureCloud)
            .endpoint_warning()
            .unwrap();
        assert!(
            w.contains("https://arm.example.net") && w.contains("token"),
            "{w}"
        );
        assert!(endpoint(Some("not a url"), Cloud::AzureCloud).is_err());
    }

    /// Each way of selecting machines, and each combination that cannot mean
    /// one thing, with `AZURE_SUBSCRIPTION_ID` set or not.
    #[test]
    fn targets_select_machines_or_a_fleet_never_both() {
        const ID: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m";
        // The words of the command line; ID and SUB stand for the two above.
        let run = |line: &str, env: Option<&str>| -> Result<Request> {
            let words = line.split_whitespace().map(|w| match w {
                "ID" => ID,
                "SUB" => SUB,
                w => w,
            });
            let cli = Cli::try_parse_from(std::iter::once("arcfix").chain(words)).unwrap();
            let defaults = Defaults {
                env,
                ..Defaults::none()
            };
            match Config::from_cli(cli, false, true, &defaults)?.command {
                Cmd::Check(t) => Ok(t),
                c => panic!("{c:?}"),
            }
        };
        let fleet_beside_ids = "--id and --ids-from name the machines";
        let refused: &[(&str, Option<&str>, &str)] = &[
            ("check --id ID --subscription SUB", None, fleet_beside_ids),
            ("check --id ID -g rg", Some(SUB), fleet_beside_ids),
            (
                "check --id ID -n m --subscription SUB -g rg",
                None,
                fleet_beside_ids,
            ),
            (
                "check --id ID -n m",
                Some(SUB),
                "--machine and --id (or --ids-from) cannot be used together",
            ),
            (
                "check -n m -g rg --subscription SUB --subscription other",
                None,
                "--machine names one machine: give one --subscription",
            ),
            (
                "check -g rg --subscription SUB --subscription other",
                None,
                "--resource-group names a group of one subscription",
            ),
            (
                "check -n m -g rg",
                Some("a/b"),
                "AZURE_SUBSCRIPTION_ID: invalid subscription 'a/b'",
            ),
            ("check -n m/x -g rg", Some(SUB), "m/x"),
        ];
        for (line, env, said) in refused {
            let e = run(line, *env).unwrap_err();
            assert_eq!(e.exit_code().code(), 64, "{line}: {e}");
            assert!(e.to_string().contains(said), "{line}: {e}");
        }
        // AZURE_SUBSCRIPTION_ID completes --machine and --resource-group ...
        let t = run("check -n m -g rg", Some(SUB)).unwrap();
        assert_eq!(t.machines[0].to_string(), ID);
        let t = run("check -g rg", Some(SUB)).unwrap();
        assert_eq!(t.scope.unwrap().resource_group.as_deref(), Some("rg"));
        // ... never starts a fleet run by itself, nor widens --id.
        let t = run("check", Some(SUB)).unwrap();
        assert!(!t.has_azure_target());
        let upper = format!("check --id ID --id {}", ID.to_uppercase());
        let t = run(&upper, Some(SUB)).unwrap();
        assert_eq!(
            t.machines.len(),
            1,
            "the same machine in another case is one"
        );
        // A subscription given by name: the machine is found once Azure is reached.
        let t = run("check -n m -g rg --subscription Prod", None).unwrap();
        assert!(t.machines.is_empty());
        assert_eq!(t.by_name.unwrap().subscription, "Prod");
        let t = run(
            "check --subscription SUB --subscription SUB --tag env=prod",
            None,
        )
        .unwrap();
        let scope = t.scope.unwrap();
        assert_eq!(scope.subscriptions.len(), 1);
        assert_eq!(scope.tags, [("env".to_string(), "prod".to_string())]);
    }

    /// Without --subscription: AZURE_SUBSCRIPTION_ID, else the Azure CLI's
    /// current subscription, asked only with --auth cli and only when needed.
    #[test]
    fn the_subscription_is_taken_as_az_takes_it() {
        let asked = std::cell::Cell::new(0);
        let account = || {
            asked.set(asked.get() + 1);
            Ok(Some(AzAccount {
                id: SUB.to_string(),
                name: "Contoso Prod".to_string(),
            }))
        };
        let run = |line: &str, env: Option<&str>| {
            let cli = Cli::try_parse_from(std::iter::once("arcfix").chain(line.split_whitespace()))
                .unwrap();
            let defaults = Defaults {
                env,
                az_account: &account,
                use_az: true,
            };
            Config::from_cli(cli, false, true, &defaults).map(|c| match c.command {
                Cmd::Check(t) => t,
                c => panic!("{c:?}"),
            })
        };
        let t = run("check -g rg -n m", None).unwrap();
        assert_eq!(t.machines[0].subscription, SUB);
        let implied = t.implied.unwrap();
        assert_eq!(implied.from, ImpliedFrom::AzAccount);
        assert_eq!(
            implied.to_string(),
            format!(
                "subscription Contoso Prod ({SUB}), from az account (the Azure CLI's current subscription)"
            )
        );
        assert_eq!(asked.get(), 1);
        // The environment comes first, and az is not asked.
        let other = "99999999-2222-3333-4444-555555555555";
        let t = run("check -g rg", Some(other)).unwrap();
        assert_eq!(t.implied.unwrap().from, ImpliedFrom::Environment);
        assert_eq!(asked.get(), 1);
        // Given on the command line: nothing implied, nothing asked.
        let t = run(&format!("check -g rg -n m --subscription {other}"), None).unwrap();
        assert!(t.implied.is_none());
        // Not needed (--id, this machine only): az is not asked.
        run("check --checks client", None).unwrap();
        run(&format!("check --id /subscriptions/{other}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m"), None).unwrap();
        // Another credential: az is not asked, and nothing is found.
        let e = run("check -g rg -n m --auth env", None).unwrap_err();
        assert_eq!(e.exit_code().code(), 64, "{e}");
        assert_eq!(asked.get(), 1);
        // az installed but signed out: its error, exit 1.
        let signed_out = || -> Result<Option<AzAccount>> {
            Err(Error::Auth(
                "Please run 'az login' to setup account.".into(),
            ))
        };
        let cli = Cli::try_parse_from(["arcfix", "check", "-g", "rg", "-n", "m"]).unwrap();
        let defaults = Defaults {
            env: None,
            az_account: &signed_out,
            use_az: true,
        };
        let e = Config::from_cli(cli, false, true, &defaults).unwrap_err();
        assert_eq!(e.exit_code().code(), 1, "{e}");
    }

    #[test]
    fn output_formats_and_queries() {
        let c = parse(&["check", "-o", "tsv", "--query", "findings[].id"]).unwrap();
        assert_eq!(c.output, Output::Tsv);
        assert_eq!(c.query.unwrap().expression().as_str(), "findings[].id");
        assert!(!c.color, "a query's result is a document, never coloured");
        assert_eq!(
            parse(&["rules", "-o", "table"]).unwrap().output,
            Output::Table
        );
        // A bad expression, or a function JMESPath does not have: one line,
        // before anything is read.
        for (query, said) in [
            ("findings[", "invalid --query 'findings[': Parse error"),
            ("findings[?", "invalid --query 'findings[?'"),
            ("lenght(findings)", "JMESPath has no function lenght()"),
            ("findings[].{a: upper(id)}", "no function upper()"),
        ] {
            let e = parse(&["check", "--query", query]).unwrap_err();
            assert_eq!(e.exit_code().code(), 64, "{query}: {e}");
            assert!(e.to_string().contains(said), "{query}: {e}");
            assert!(!e.to_string().contains('\n'), "{query}: {e}");
        }
        // No question can be asked beside a document.
        for (output, said) in [
            (&["-o", "table"][..], "apply -o table needs --yes"),
            (&["-o", "tsv"], "apply -o tsv needs --yes"),
            (&["--query", "steps"], "apply --query needs --yes"),
        ] {
            let args: Vec<&str> = ["apply"].iter().chain(output).copied().collect();
            let e = parse(&args).unwrap_err();
            assert_eq!(e.exit_code().code(), 64, "{args:?}");
            assert!(e.to_string().starts_with(said), "{e}");
            for ok in ["--yes", "--dry-run"] {
                let mut args = args.clone();
                args.push(ok);
                assert!(parse(&args).is_ok(), "{args:?}");
            }
        }
    }

    #[test]
    fn colour_is_decided_once() {
        let cli = Cli::try_parse_from(["arcfix", "rules"]).unwrap();
        assert!(
            Config::from_cli(cli, false, true, &Defaults::none())
                .unwrap()
                .color
        );
        let cli = Cli::try_parse_from(["arcfix", "rules"]).unwrap();
        assert!(
            !Config::from_cli(cli, true, true, &Defaults::none())
                .unwrap()
                .color
        );
        let cli = Cli::try_parse_from(["arcfix", "--no-color", "rules"]).unwrap();
        assert!(
            !Config::from_cli(cli, false, true, &Defaults::none())
                .unwrap()
                .color
        );
        let cli = Cli::try_parse_from(["arcfix", "rules"]).unwrap();
        assert!(
            !Config::from_cli(cli, false, false, &Defaults::none())
                .unwrap()
                .color
        );
    }

    #[test]
    fn policy_show_takes_a_port_and_a_login() {
        use crate::policy::Choice;
        use crate::target::Login;
        for (args, want) in [
            (&["policy", "show"][..], Some((22, Login::Local))),
            (
                &["policy", "show", "--port", "2222"],
                Some((2222, Login::Local)),
            ),
            (
                &["policy", "show", "--port", " 65535 ", "--login", "entra"],
                Some((65535, Login::Entra)),
            ),
            (&["policy", "show", "--port", "0"], None),
            (&["policy", "show", "--port", "65536"], None),
            (&["policy", "show", "--port", "ssh"], None),
        ] {
            match (parse(args), want) {
                (Ok(c), Some((port, login))) => {
                    assert!(
                        matches!(c.command, Cmd::PolicyShow(Choice { port: p, login: l }) if p == port && l == login),
                        "{args:?}: {:?}",
                        c.command
                    )
                }
                (Err(Error::Usage(m)), None) => {
                    assert!(m.starts_with("invalid --port '"), "{m}")
                }
                (got, _) => panic!("{args:?}: {got:?}"),
            }
        }
    }
}
