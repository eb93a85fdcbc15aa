//! The command line as clap structs, flat and close to what users type.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod man;

use crate::azure::cloud::{Auth, Cloud};
use crate::target::Options;

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
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: human text or one JSON document on stdout
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// Azure Resource Manager base URL (default from --cloud); http only for loopback
    #[arg(long, env = "ARCFIX_ARM_ENDPOINT", global = true, value_name = "URL")]
    pub arm_endpoint: Option<String>,
    /// Azure cloud
    #[arg(long, value_enum, default_value_t = Cloud::AzureCloud, global = true)]
    pub cloud: Cloud,
    /// Credential: the Azure CLI (default), AZURE_* environment variables, or managed identity
    #[arg(long, value_enum, env = "ARCFIX_AUTH", default_value_t = Auth::Cli, global = true)]
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
    /// Where apply appends its journal of changes (default: the state folder)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "no_journal"
    )]
    pub journal: Option<PathBuf>,
    /// Keep no journal of the changes apply makes
    #[arg(long, global = true)]
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
        /// Save the plan as JSON (mode 0600) for `apply --plan`
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Detect, show the plan, confirm once, apply and verify each step
    #[command(
        after_help = "Examples:\n  arcfix apply --id $ID --login entra --grant-roles\n  arcfix apply --id $ID --plan plan.json --remote\n  arcfix apply --id $ID --remote --connect --yes"
    )]
    Apply {
        #[command(flatten)]
        target: TargetArgs,
        /// Apply without asking
        #[arg(short, long)]
        yes: bool,
        /// Only show the plan (same as `plan`)
        #[arg(long)]
        dry_run: bool,
        /// Apply a plan saved by `plan --out`, after re-checking every step
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
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
    /// Run check -> plan -> apply --yes -> check against a simulated Arc environment
    #[command(
        after_help = "Examples:\n  arcfix demo --list\n  arcfix demo --scenario reader\n  arcfix demo --serve --scenario wrong-port"
    )]
    Demo {
        /// The built-in scenario to run or serve (see --list)
        #[arg(long, value_name = "NAME", default_value = "demo")]
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
    #[command(
        after_help = "Examples:\n  arcfix completions bash > ~/.local/share/bash-completion/completions/arcfix\n  arcfix completions zsh > \"${fpath[1]}/_arcfix\"\n  arcfix completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(
        after_help = "Examples:\n  arcfix man > ~/.local/share/man/man1/arcfix.1\n  arcfix man | man -l -"
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

/// Which machines check, plan and apply look at, and how.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Subscription id (GUID) or name (repeatable). Alone, or with
    /// --resource-group or --tag, every Arc machine found there (fleet mode).
    /// AZURE_SUBSCRIPTION_ID is used for --machine, --resource-group and --tag
    /// only: it never starts a fleet run by itself
    #[arg(long, value_name = "ID|NAME")]
    pub subscription: Vec<String>,
    /// Resource group
    #[arg(short = 'g', long, value_name = "NAME")]
    pub resource_group: Option<String>,
    /// Arc-enabled server name (Microsoft.HybridCompute/machines)
    #[arg(short = 'n', long, visible_alias = "name", value_name = "NAME")]
    pub machine: Option<String>,
    /// The machine's full ARM resource id (repeatable), instead of the three above
    #[arg(long = "id", value_name = "RESOURCE_ID")]
    pub ids: Vec<String>,
    /// Machine resource ids from a file, one a line (`-`: standard input;
    /// blank lines and `#` comments are skipped)
    #[arg(long, value_name = "FILE")]
    pub ids_from: Option<PathBuf>,
    /// Fleet mode: only machines with this tag (repeatable, all must match)
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    // The options that change what is detected and planned, defined with
    // their help in `target::Options`.
    #[command(flatten)]
    pub options: Options,
}
