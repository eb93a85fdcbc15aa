//! The command line as clap structs, flat and close to what users type.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod man;

use crate::azure::cloud::{Auth, Cloud};
use crate::target::{Login, Options};

#[derive(Debug, Parser)]
#[command(
    name = "arcfix",
    version,
    subcommand_value_name = "COMMAND",
    about = "Finds out why SSH to an Azure Arc-enabled server fails, and fixes it",
    long_about = "arcfix checks this machine, Azure and (when run there) the Arc-enabled server for every \
problem of Microsoft's 'Troubleshoot SSH access to Azure Arc-enabled servers', prints an ordered, \
idempotent fix plan, applies it after one confirmation (or with --yes), and verifies every step."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The ids of the target options typed on the command line (`run` fills
    /// it from clap's matches): apply of a saved plan compares only those.
    #[arg(skip)]
    pub typed: Vec<String>,
}

impl Cli {
    /// The ids of the arguments of the command that were typed on the
    /// command line (not defaults, not from the environment).
    pub fn typed(matches: &clap::ArgMatches) -> Vec<String> {
        let Some((_, sub)) = matches.subcommand() else {
            return Vec::new();
        };
        sub.ids()
            .filter(|id| {
                sub.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|id| id.to_string())
            .collect()
    }
}

/// The `--help` headings, after a command's own options: which machines,
/// what is checked and fixed (`target::Options`), how the result is printed,
/// and how Azure is reached. An option without one is its command's own
/// (set on each option: a heading set for a flattened struct would carry
/// over to the command's own options that follow it).
pub const TARGET_HEADING: &str = "Target";
pub const OUTPUT_HEADING: &str = "Output";
pub const AZURE_HEADING: &str = "Azure sign-in";

// Under "Output" unless said otherwise: an output option added here lands there.
#[derive(Debug, Args)]
#[command(next_help_heading = OUTPUT_HEADING)]
pub struct GlobalArgs {
    /// Output format: human text, one JSON document, or as az prints lists: a
    /// table or tab-separated values (check: findings, a fleet's machines;
    /// plan, apply: steps; rules; explain: matches); or one self-contained
    /// HTML report (check, plan, apply, demo), e.g. -o html > report.html
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// A JMESPath query over the JSON document, as in az: its result is
    /// printed as JSON (-o table, -o tsv: as az prints a query result),
    /// e.g. --query 'findings[].id' -o tsv
    ///
    /// As in az, a table's columns are the scalar values of each object
    /// (nested lists and objects, null, and the keys id, type and etag are
    /// left out: rename them, e.g. --query 'findings[].{Id: id, Fix: fix}'
    /// -o table); tsv prints values only, a line per item. A query that
    /// selects nothing prints nothing. An invalid expression is a usage
    /// error (exit 64) before anything is read, and so is a query that fails
    /// on the document; otherwise the exit code is the command's.
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub query: Option<String>,
    /// Azure Resource Manager base URL (default from --cloud); http only for loopback
    #[arg(long, env = "ARCFIX_ARM_ENDPOINT", global = true, value_name = "URL")]
    #[arg(help_heading = AZURE_HEADING)]
    pub arm_endpoint: Option<String>,
    /// Azure cloud
    #[arg(long, value_enum, default_value_t = Cloud::AzureCloud, global = true)]
    #[arg(help_heading = AZURE_HEADING)]
    pub cloud: Cloud,
    /// Credential: the Azure CLI (default), AZURE_* environment variables, or managed identity
    #[arg(long, value_enum, env = "ARCFIX_AUTH", default_value_t = Auth::Cli, global = true)]
    #[arg(help_heading = AZURE_HEADING)]
    pub auth: Auth,
    /// More logging on stderr (-v, -vv)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set and not empty), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Same as --color never
    #[arg(long, global = true, hide = true)]
    pub no_color: bool,
}

/// Where apply records the changes it makes (apply's own options).
#[derive(Debug, Clone, Args)]
pub struct JournalArgs {
    /// Where apply appends its journal of changes (default: the state folder)
    #[arg(long, value_name = "FILE", conflicts_with = "no_journal")]
    pub journal: Option<PathBuf>,
    /// Keep no journal of the changes apply makes
    #[arg(long)]
    pub no_journal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    Table,
    Tsv,
    /// One self-contained HTML page: a report to open in a browser or share.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect problems and print the findings; changes nothing (with --remote it
    /// creates, runs and deletes a Run Command that executes a read-only script
    /// on each server)
    #[command(
        after_help = "Examples:\n  arcfix check --checks client\n  arcfix check --subscription $SUB -g rg1 -n web-01 --connect\n  arcfix check --subscription $SUB --resource-group rg1 -o json"
    )]
    Check(TargetArgs),
    /// Detect problems and print the ordered fix plan (the dry run)
    #[command(
        after_help = "Examples:\n  arcfix plan --id /subscriptions/$SUB/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/web-01\n  arcfix plan --id $ID --remote --out plan.json"
    )]
    Plan {
        #[command(flatten)]
        target: TargetArgs,
        /// Save the plan as JSON (mode 0600) for `arcfix apply FILE`
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Detect, show the plan, confirm once, apply and verify each step; or
    /// apply a plan saved by `plan --out` (the file is the approval)
    #[command(
        after_help = "Examples:\n  arcfix apply --id $ID --login entra --grant-roles\n  arcfix plan --id $ID --remote --out plan.json && arcfix apply plan.json\n  arcfix apply --id $ID --remote --connect --yes"
    )]
    Apply {
        /// A plan saved by `plan --out`: its machines and options are used,
        /// no question is asked (the file is the approval), and every step
        /// is re-checked before it acts; a stale step is refused
        #[arg(value_name = "FILE", conflicts_with = "plan")]
        file: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
        /// Apply without asking
        #[arg(short, long)]
        yes: bool,
        /// Only show the plan (same as `plan`)
        #[arg(long)]
        dry_run: bool,
        /// The same as `apply FILE`
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        journal: JournalArgs,
    },
    /// Match an error message or a whole log to the known problems
    ///
    /// A short answer first: the likely problems, what each means and the command to
    /// run; -v shows every cause, command and matched line. OpenSSH's own errors
    /// (a changed host key, too many authentication failures, and others) are explained as no
    /// Arc problem: exit 2 when nothing else matches.
    #[command(
        after_help = "Examples:\n  arcfix explain 'Permission denied (publickey).'\n  arcfix explain -v 'Permission denied (publickey).'\n  az ssh arc -g rg1 -n web-01 2>&1 | arcfix explain\n  arcfix explain -o json < ssh-debug.log"
    )]
    Explain {
        /// The error text; standard input when none or `-`
        #[arg(value_parser = clap::value_parser!(std::ffi::OsString))]
        text: Vec<std::ffi::OsString>,
    },
    /// List the known problems and how each is fixed
    #[command(after_help = "Examples:\n  arcfix rules\n  arcfix rules -o json")]
    Rules,
    /// Keep a fleet fixed with Azure Policy: the initiative arcfix installs
    ///
    /// Custom DeployIfNotExists definitions for the default HybridConnectivity
    /// endpoint and its SSH service configuration, and (with --login entra) the
    /// Microsoft Entra SSH login extension; Audit definitions for what only the
    /// server can change; the set that groups them.
    #[command(
        subcommand_value_name = "COMMAND",
        after_help = "Examples:\n  arcfix policy show\n  arcfix policy show --port 2222 --login entra -o json\n  arcfix policy apply --subscription $SUB --location westeurope\n  arcfix policy status --subscription $SUB"
    )]
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Run check -> plan -> apply --yes -> check against a simulated Arc environment
    #[command(
        after_help = "Examples:\n  arcfix demo --list\n  arcfix demo --scenario reader\n  arcfix demo --serve --scenario wrong-port"
    )]
    Demo {
        /// The built-in scenario to run or serve (see --list)
        #[arg(long, value_name = "NAME", default_value = "demo", value_parser = ScenarioName)]
        scenario: String,
        /// List the built-in scenarios
        #[arg(long, conflicts_with_all = ["serve", "scenario"])]
        list: bool,
        /// Keep the simulated Azure running on loopback and print how to point
        /// arcfix at it, until Ctrl-C
        #[arg(long)]
        serve: bool,
    },
    /// Print shell completions (bash, zsh, fish, powershell, elvish)
    ///
    /// bash (with bash-completion 2) and fish load them from the folders of
    /// the examples by themselves; zsh needs the folder on fpath before
    /// compinit (`fpath=(~/.zfunc $fpath)` in ~/.zshrc); PowerShell runs the
    /// line of the example from $PROFILE.
    #[command(
        after_help = "Examples:\n  arcfix completions powershell | Out-String | Invoke-Expression\n  mkdir -p ~/.local/share/bash-completion/completions\n  arcfix completions bash > ~/.local/share/bash-completion/completions/arcfix\n  mkdir -p ~/.zfunc && arcfix completions zsh > ~/.zfunc/_arcfix\n  mkdir -p ~/.config/fish/completions\n  arcfix completions fish > ~/.config/fish/completions/arcfix.fish"
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    ///
    /// man finds ~/.local/share/man by itself when ~/.local/bin is on PATH;
    /// otherwise add it with MANPATH=":$HOME/.local/share/man".
    #[command(
        after_help = "Examples:\n  arcfix man | man -l -\n  mkdir -p ~/.local/share/man/man1\n  arcfix man > ~/.local/share/man/man1/arcfix.1"
    )]
    Man,
    /// Stands in for the Arc SSH proxy in front of the simulator (demo and tests)
    #[command(name = "sim-proxy", hide = true)]
    SimProxy {
        /// The simulator's base URL (loopback only)
        #[arg(long)]
        sim: String,
        /// The SSH port on the server
        #[arg(short = 'p', default_value_t = 22)]
        port: u16,
    },
}

/// `arcfix policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the Azure Policy definitions and the set arcfix would install,
    /// with what each can and cannot verify; reads and changes nothing in Azure
    #[command(
        after_help = "Examples:\n  arcfix policy show\n  arcfix policy show --port 2222 --login entra\n  arcfix policy show -o json > arcfix-policy.json"
    )]
    Show {
        /// The SSH port the definitions deploy and audit (1 to 65535)
        #[arg(long, value_name = "N", default_value = "22")]
        port: String,
        /// How users log in: local user, or Microsoft Entra ID (adds the
        /// AADSSHLoginForLinux definitions)
        #[arg(long, value_enum, default_value_t = Login::Local)]
        login: Login,
    },
    /// Install or update the initiative in a subscription, assign it with a
    /// system-assigned identity, give that identity the roles its
    /// remediations need, and start a remediation task per DeployIfNotExists
    /// definition; shows the plan and asks once (or --yes)
    #[command(
        after_help = "Examples:\n  arcfix policy apply --subscription $SUB --location westeurope\n  arcfix policy apply --subscription $SUB -g arc-servers --login entra --yes\n  arcfix policy apply --subscription $SUB --location westeurope --enforcement DoNotEnforce --dry-run"
    )]
    Apply {
        #[command(flatten)]
        scope: PolicyScopeArgs,
        /// The SSH port the definitions deploy and audit (1 to 65535)
        #[arg(long, value_name = "N", default_value = "22")]
        port: String,
        /// How users log in: local user, or Microsoft Entra ID (adds the
        /// AADSSHLoginForLinux definitions)
        #[arg(long, value_enum, default_value_t = Login::Local)]
        login: Login,
        /// The assignment's enforcementMode: DoNotEnforce evaluates and
        /// reports only (arcfix then gives no role and starts no remediation task)
        #[arg(long, value_enum, ignore_case = true, default_value_t = crate::policy::install::Enforcement::Default)]
        enforcement: crate::policy::install::Enforcement,
        /// The region of the assignment's managed identity (default: the
        /// existing assignment's, else the resource group's)
        #[arg(long, value_name = "REGION")]
        location: Option<String>,
        /// Apply without asking
        #[arg(short, long)]
        yes: bool,
        /// Only show the plan
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        journal: JournalArgs,
    },
    /// Compliance of arcfix's assignment: the machines that are not
    /// compliant, the definitions not evaluated yet, and the remediation
    /// tasks' progress (exit 2 when some machine is not compliant, 1 when
    /// some definition is not evaluated yet)
    #[command(
        after_help = "Examples:\n  arcfix policy status --subscription $SUB\n  arcfix policy status --subscription $SUB --query 'non_compliant[].id' -o tsv | arcfix apply --ids-from -"
    )]
    Status {
        #[command(flatten)]
        scope: PolicyScopeArgs,
    },
}

/// Where arcfix's policy assignment is (policy apply and status).
#[derive(Debug, Clone, Args)]
pub struct PolicyScopeArgs {
    /// Subscription id (GUID): the definitions and the set live there
    #[arg(long, value_name = "ID", required = true)]
    pub subscription: String,
    /// Resource group: the assignment is made there instead of on the whole subscription
    #[arg(short = 'g', long, value_name = "NAME")]
    pub resource_group: Option<String>,
}

/// Which machines check, plan and apply look at, and how.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Subscription id (GUID) or name (repeatable). Alone, or with
    /// --resource-group or --tag, every Arc machine found there (fleet mode).
    /// Without it, --machine, --resource-group and --tag use
    /// AZURE_SUBSCRIPTION_ID, else the Azure CLI's current subscription (`az
    /// account show`, with --auth cli only), named in the scope line; neither
    /// starts a fleet run by itself
    #[arg(long, value_name = "ID|NAME", help_heading = TARGET_HEADING)]
    pub subscription: Vec<String>,
    /// Resource group
    #[arg(short = 'g', long, value_name = "NAME", help_heading = TARGET_HEADING)]
    pub resource_group: Option<String>,
    /// Arc-enabled server name (Microsoft.HybridCompute/machines)
    #[arg(short = 'n', long, visible_alias = "name", value_name = "NAME", help_heading = TARGET_HEADING)]
    pub machine: Option<String>,
    /// The machine's full ARM resource id (repeatable), instead of the three above
    #[arg(long = "id", value_name = "RESOURCE_ID", help_heading = TARGET_HEADING)]
    pub ids: Vec<String>,
    /// Machine resource ids from a file, one a line (`-`: standard input;
    /// blank lines and `#` comments are skipped)
    #[arg(long, value_name = "FILE", help_heading = TARGET_HEADING)]
    pub ids_from: Option<PathBuf>,
    /// Fleet mode: only machines with this tag (repeatable, all must match)
    #[arg(long = "tag", value_name = "KEY=VALUE", help_heading = TARGET_HEADING)]
    pub tags: Vec<String>,
    // The options that change what is detected and planned, defined with
    // their help in `target::Options`.
    #[command(flatten)]
    pub options: Options,
}

/// The built-in scenarios of `demo --scenario`, in `demo --list`'s order, as
/// completion and `--help` offer them. The simulator has the list (`cli`
/// cannot reach it); a test of `demo` keeps the two the same.
pub const SCENARIOS: &[&str] = &[
    "demo",
    "healthy",
    "reader",
    "wrong-port",
    "disconnected",
    "windows",
    "fleet",
    "group-contributor",
    "blockers",
    "policy",
];

/// `demo --scenario`: any name is taken here (`demo` refuses an unknown one
/// and suggests the closest); the built-in names are offered to completion.
#[derive(Clone)]
struct ScenarioName;

impl clap::builder::TypedValueParser for ScenarioName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            SCENARIOS
                .iter()
                .map(|n| clap::builder::PossibleValue::new(*n)),
        ))
    }
}
