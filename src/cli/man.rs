//! The man page, arcfix(1), generated from the clap `Command`: the global
//! options, then a section per command with its synopsis, description, every
//! option and its examples; then the sections clap knows nothing of
//! (EXAMPLES, EXIT STATUS, ENVIRONMENT, FILES).

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use super::Cli;

/// The whole page (roff), as `arcfix man` prints it.
pub fn page() -> std::io::Result<String> {
    let cli = Cli::command();
    let man = Man::new(cli.clone());
    let mut page = section(|w| man.render_title(w), Keep::All)?;
    page += &section(|w| man.render_name_section(w), Keep::Section)?;
    page += &section(|w| man.render_synopsis_section(w), Keep::Section)?;
    page += &section(|w| man.render_description_section(w), Keep::Section)?;
    page += ".SH \"GLOBAL OPTIONS\"\nEvery command takes these.\n";
    page += &options(&cli)?;
    page += ".SH COMMANDS\n";
    for (name, command) in commands(&cli) {
        page += &command_section(&name, &command)?;
    }
    page += SECTIONS;
    Ok(page)
}

/// What of a section rendered by clap_mangen or roff goes into the page.
#[derive(PartialEq)]
enum Keep {
    /// Everything, with the preamble that defines `\*(Aq` (once, first).
    All,
    /// The section with its `.SH` heading.
    Section,
    /// The lines under the heading.
    Body,
}

/// One section rendered by clap_mangen or roff, without the preamble each
/// render repeats, and without its heading when the page has its own.
fn section(
    render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    keep: Keep,
) -> std::io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    if keep == Keep::All {
        return Ok(text.into_owned());
    }
    let lines = text
        .lines()
        .filter(|l| !l.starts_with(".ie \\n(.g .ds Aq") && !l.starts_with(".el .ds Aq"))
        .skip_while(|l| keep == Keep::Body && l.starts_with(".SH "));
    Ok(lines.map(|l| format!("{l}\n")).collect())
}

/// The commands a section each, by their full name (`arcfix check`): a
/// command with commands of its own (`policy`) is its commands
/// (`arcfix policy show`); hidden ones and clap's `help` are left out.
pub(crate) fn commands(cli: &clap::Command) -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    let shown = |c: &&clap::Command| !c.is_hide_set() && c.get_name() != "help";
    for command in cli.get_subcommands().filter(shown) {
        let name = format!("arcfix {}", command.get_name());
        let inner: Vec<&clap::Command> = command.get_subcommands().filter(shown).collect();
        for sub in &inner {
            out.push((format!("{name} {}", sub.get_name()), (*sub).clone()));
        }
        if inner.is_empty() {
            out.push((name, command.clone()));
        }
    }
    out
}

/// `.SS "arcfix check"`: its synopsis, what it does, its own options (the
/// global ones and `--help` are above) and its examples.
fn command_section(name: &str, command: &clap::Command) -> std::io::Result<String> {
    let command = command
        .clone()
        .bin_name(name)
        .disable_help_flag(true)
        .mut_args(with_aliases);
    let has_options = command.get_arguments().any(|a| !a.is_hide_set());
    let man = Man::new(command.clone());
    let mut out = Roff::new().control("SS", [name]).to_roff();
    out += &section(|w| man.render_synopsis_section(w), Keep::Body)?;
    out += ".PP\n";
    out += &section(|w| man.render_description_section(w), Keep::Body)?;
    if has_options {
        out += &options(&command)?;
    }
    if let Some(examples) = command.get_after_help() {
        let examples = examples_block(&examples.to_string());
        out += &section(|w| examples.to_writer(w), Keep::Section)?;
    }
    Ok(out)
}

/// A command's options as `--help` groups them: its own first, then one
/// paragraph per heading ("Target", "Output", ...) named in bold, as `--help`
/// names it; clap_mangen would make each heading a section of its own, which
/// inside a command's section would end it.
fn options(command: &clap::Command) -> std::io::Result<String> {
    let man = Man::new(command.clone());
    let rendered = section(|w| man.render_options_section(w), Keep::Section)?;
    let headings: Vec<&str> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_help_heading())
        .collect();
    let mut out = String::new();
    for line in rendered.lines() {
        match line.strip_prefix(".SH ") {
            // The command's own options, first, need no heading.
            Some("OPTIONS") => {}
            Some(upper) => {
                let upper = upper.trim_matches('"');
                let heading = headings
                    .iter()
                    .find(|h| h.to_uppercase() == upper)
                    .copied()
                    .unwrap_or(upper);
                out += &Roff::new()
                    .control("PP", [])
                    .text([bold(heading)])
                    .to_roff();
            }
            None => {
                out += line;
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// An option's visible aliases (`--name` of `--machine`) said in its help,
/// which clap_mangen leaves out.
fn with_aliases(arg: clap::Arg) -> clap::Arg {
    let aliases: Vec<String> = arg
        .get_visible_aliases()
        .unwrap_or_default()
        .iter()
        .map(|a| format!("--{a}"))
        .collect();
    if aliases.is_empty() {
        return arg;
    }
    let said = format!(" [alias: {}]", aliases.join(", "));
    let help = arg.get_help().map(|h| format!("{h}{said}"));
    let long_help = arg.get_long_help().map(|h| format!("{h}{said}"));
    let arg = match help {
        Some(h) => arg.help(h),
        None => arg,
    };
    match long_help {
        Some(h) => arg.long_help(h),
        None => arg,
    }
}

/// A command's `Examples:` of `--help`, one command line each, kept as typed.
fn examples_block(after_help: &str) -> Roff {
    let mut roff = Roff::new();
    let mut lines = after_help.lines();
    if let Some(heading) = lines.next() {
        roff.control("PP", []).text([roman(heading)]);
    }
    roff.control("RS", ["4"]).control("nf", []);
    for line in lines {
        roff.text([roman(line.trim())]);
    }
    roff.control("fi", []).control("RE", []);
    roff
}

/// The man page's own sections after clap's (roff).
const SECTIONS: &str = r#".SH EXAMPLES
.TP
\fBarcfix check \-\-checks client\fR
Check this machine only.
.TP
\fBarcfix check \-\-subscription\fR \fISUB\fR \fB\-\-resource\-group\fR \fIrg1\fR \fB\-\-machine\fR \fIweb\-01\fR \fB\-\-connect\fR
Check this machine and the machine in Azure, and try the SSH path end to end.
.TP
\fBarcfix apply \-\-id\fR \fIID\fR \fB\-\-remote \-\-login entra \-\-grant\-roles\fR
Apply every fix after one confirmation, the server side through Arc Run Command.
.TP
\fBaz ssh arc \-g rg1 \-n web\-01 2>&1 | arcfix explain\fR
Say which known problem an error message shows.
.SH "WHAT CHECK AND PLAN WRITE"
Without \-\-remote, check and plan only read.
With \-\-remote they write to Azure: for each machine they create a Run Command
resource (arcfix\-probe\-\&...) that executes a read\-only script on the server,
read its output and delete the resource. Nothing on the server is changed; the
fix scripts run the same way only in an approved apply.
With \-\-connect, check asks for short\-lived relay credentials (listCredentials)
and runs ssh through the Arc proxy; the server's sshd logs an
"Invalid user arcfix\-probe" line.
.SH "EXIT STATUS"
.TP
\fB0\fR
Nothing found, no steps, or everything fixed and verified; explain: a match.
.TP
\fB1\fR
A runtime error: bad input, sign\-in failed, Azure unreachable, a resource not found, a side whose facts could not be read, a side you asked for (\-\-checks, \-\-remote, \-\-connect) that could not be checked, a declined confirmation.
.TP
\fB2\fR
check found problems; plan has steps; explain matched nothing.
.TP
\fB3\fR
apply: a step failed or manual steps remain (or the final connection probe failed).
.TP
\fB64\fR
A command\-line usage error.
.SH ENVIRONMENT
.TP
\fBAZURE_SUBSCRIPTION_ID\fR
The subscription of \-\-machine, \-\-resource\-group and \-\-tag when \-\-subscription is not given (when it is not set either, the Azure CLI's current subscription: az account show, with \-\-auth cli only); the scope line names the subscription used and where it came from; it never starts a fleet run by itself.
.TP
\fBARCFIX_ARM_ENDPOINT\fR
The Resource Manager base URL (as \-\-arm\-endpoint; http only for a loopback address).
.TP
\fBARCFIX_AUTH\fR
The credential (as \-\-auth): cli, env, managed\-identity or static.
.TP
\fBAZURE_TENANT_ID\fR, \fBAZURE_CLIENT_ID\fR, \fBAZURE_CLIENT_SECRET\fR, \fBAZURE_FEDERATED_TOKEN_FILE\fR
The credential of \-\-auth env: a service principal (tenant, client id and secret) or a workload identity (tenant, client id and token file). With \-\-auth managed\-identity, AZURE_CLIENT_ID chooses a user\-assigned identity.
.TP
\fBARCFIX_TOKEN\fR
The bearer token of \-\-auth static (loopback endpoints only; arcfix demo \-\-serve prints it).
.TP
\fBHTTPS_PROXY\fR, \fBHTTP_PROXY\fR, \fBALL_PROXY\fR, \fBNO_PROXY\fR
The proxy through which Resource Manager is reached (never for a loopback endpoint). The Azure CLI, for \-\-auth cli, reads them too. When \-\-connect fails before the relay answers, its check of the relay path reads HTTPS_PROXY (else https_proxy) and NO_PROXY (else no_proxy) as the Arc SSH proxy does, and says which proxy it used (never its credentials).
.TP
\fBSSL_CERT_FILE\fR, \fBSSL_CERT_DIR\fR
On Linux, the certificate authorities the relay path check of \-\-connect trusts instead of the system's (PEM).
.TP
\fBPATH\fR
Where az, ssh, ssh\-keygen and the other programs arcfix runs are found (by absolute path; empty and relative entries are ignored).
.TP
\fBPSModulePath\fR
Where the PowerShell modules are looked for.
.TP
\fBHOME\fR, \fBXDG_STATE_HOME\fR, \fBLOCALAPPDATA\fR
The home folder (~/.ssh, the Azure CLI's SSH proxy) and the state folder of apply's journal (see FILES).
.TP
\fBNO_COLOR\fR
When set and not empty, no colour (with \-\-color auto).
.TP
\fBARCFIX_LOG\fR
A tracing filter for the log on stderr, such as arcfix=debug (instead of \-v and \-q).
.TP
\fBARCFIX_PRIVILEGE\fR
user or admin: overrides the root or administrator detection (user makes every privileged step manual).
.TP
\fBARCFIX_SSH_SEARCH_PATH\fR
The folders where ssh may be found off PATH (default: the usual places of the system).
.TP
\fBARCFIX_RUN_COMMAND_TIMEOUT\fR
The seconds one Run Command may take (default 600).
.TP
\fBARCFIX_CONNECT_TIMEOUT\fR
The seconds the connection probe's ssh may take (default 20). Each step of the relay path check (name resolution, TCP, proxy, TLS, WebSocket upgrade) waits a quarter of it, between 1 and 5 seconds.
.TP
\fBARCFIX_RETRY_SCALE\fR
Shrinks the waits between retries (above 0, at most 1; for tests).
.TP
\fBARCFIX_PACE_SCALE\fR
Multiplies the client's rate\-limit buckets (at least 1; for benchmarks).
.SH FILES
.TP
\fI$XDG_STATE_HOME/arcfix/journal.jsonl\fR (\fI~/.local/state/arcfix/journal.jsonl\fR; Windows \fI%LOCALAPPDATA%\\arcfix\\journal.jsonl\fR)
The journal of the changes apply made, one JSON line each, with how to undo it.
.TP
\fI~/.clientsshproxy/sshProxy_*\fR
The Azure CLI's SSH proxy, used by \-\-connect.
.TP
\fIplan.json\fR
A plan saved with plan \-\-out (mode 0600), applied with arcfix apply FILE (its machines and options; the file is the approval).
.SH "SEE ALSO"
\fBssh\fR(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// How the page writes `--name` (roff escapes every `-`).
    fn bold_long(long: &str) -> String {
        format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"))
    }

    /// The text of the page from `start` to the next heading of either level.
    fn part<'a>(page: &'a str, start: &str) -> &'a str {
        let from = page
            .find(&format!("\n{start}\n"))
            .unwrap_or_else(|| panic!("no {start}"))
            + 1;
        let rest = &page[from + start.len()..];
        let end = [rest.find("\n.SS "), rest.find("\n.SH ")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(rest.len());
        &page[from..from + start.len() + end]
    }

    #[test]
    fn every_option_of_every_command_is_documented_in_its_section() {
        let page = page().unwrap();
        let mut cli = Cli::command();
        cli.build();
        let global = part(&page, ".SH \"GLOBAL OPTIONS\"");
        for arg in cli.get_arguments().filter(|a| !a.is_hide_set()) {
            let long = arg.get_long().expect("every global option has a long name");
            assert!(global.contains(&bold_long(long)), "--{long}");
            assert!(arg.get_help().is_some(), "--{long} has no help");
        }
        let mut documented = 0;
        for (full, command) in commands(&cli) {
            let name = full.trim_start_matches("arcfix ");
            if name == "help" {
                continue;
            }
            let section = part(&page, &format!(".SS \"arcfix {name}\""));
            // The global options (and --help) are documented once, above.
            let own = command
                .get_arguments()
                .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help");
            for arg in own {
                let id = arg.get_id();
                assert!(arg.get_help().is_some(), "arcfix {name} {id}: no help");
                let help = arg.get_help().unwrap().to_string();
                let first_words: String = help
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(
                    section.contains(&first_words.replace('-', "\\-").replace('\'', "\\*(Aq")),
                    "arcfix {name} {id}: its help is not in its section"
                );
                match arg.get_long() {
                    Some(long) => {
                        assert!(section.contains(&bold_long(long)), "arcfix {name} --{long}")
                    }
                    None => {
                        let value = arg.get_value_names().unwrap()[0].to_string();
                        assert!(
                            section.contains(&format!("\\fI{value}\\fR")),
                            "arcfix {name} {value}"
                        )
                    }
                }
                for alias in arg.get_visible_aliases().unwrap_or_default() {
                    assert!(
                        section.contains(&format!("[alias: \\-\\-{alias}]")),
                        "arcfix {name} --{alias}"
                    );
                }
                documented += 1;
            }
        }
        assert!(documented >= 30, "{documented}");
        // Hidden commands stay out.
        assert!(!page.contains("sim\\-proxy"));
    }

    #[test]
    fn the_hand_written_sections_follow_the_commands() {
        let page = page().unwrap();
        let headings: Vec<&str> = page.lines().filter(|l| l.starts_with(".SH ")).collect();
        assert_eq!(
            headings,
            [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH DESCRIPTION",
                ".SH \"GLOBAL OPTIONS\"",
                ".SH COMMANDS",
                ".SH EXAMPLES",
                ".SH \"WHAT CHECK AND PLAN WRITE\"",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH \"SEE ALSO\"",
            ]
        );
        assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH arcfix 1 "));
    }

    #[test]
    fn the_environment_section_names_what_arcfix_reads() {
        let page = page().unwrap();
        let environment = part(&page, ".SH ENVIRONMENT");
        let mut cli = Cli::command();
        cli.build();
        for arg in cli.get_arguments() {
            if let Some(var) = arg.get_env() {
                let var = var.to_string_lossy();
                assert!(environment.contains(&format!("\\fB{var}\\fR")), "{var}");
            }
        }
        // Read by run.rs (NO_COLOR, AZURE_SUBSCRIPTION_ID) and azure::auth (ARCFIX_TOKEN).
        for var in ["NO_COLOR", "AZURE_SUBSCRIPTION_ID", "ARCFIX_TOKEN"] {
            assert!(environment.contains(&format!("\\fB{var}\\fR")), "{var}");
        }
        // AZURE_SUBSCRIPTION_ID completes a target; it never is --subscription's default.
        assert!(!environment.contains("default for \\-\\-subscription"));
        assert!(environment.contains("it never starts a fleet run by itself"));
    }

    /// The page is well-formed roff: only man(7) macros, blocks closed, every
    /// font change back to roman on its line.
    #[test]
    fn the_page_is_well_formed_roff() {
        let page = page().unwrap();
        let known = [
            "TH", "SH", "SS", "TP", "PP", "RS", "RE", "IP", "br", "nf", "fi", "ie", "el",
        ];
        let (mut indent, mut nofill) = (0i32, false);
        for (n, line) in page.lines().enumerate() {
            assert!(!line.starts_with('\''), "line {}: {line}", n + 1);
            if let Some(control) = line.strip_prefix('.') {
                let name = control.split_whitespace().next().unwrap_or_default();
                assert!(known.contains(&name), "line {}: {line}", n + 1);
                match name {
                    "RS" => indent += 1,
                    "RE" => indent -= 1,
                    "nf" => nofill = true,
                    "fi" => nofill = false,
                    "SH" | "SS" => {
                        assert_eq!((indent, nofill), (0, false), "line {}: {line}", n + 1);
                        assert_eq!(control.matches('"').count() % 2, 0, "line {}", n + 1);
                    }
                    _ => {}
                }
                assert!(indent >= 0, "line {}: .RE without .RS", n + 1);
            }
            if line.contains("\\fB") || line.contains("\\fI") {
                assert!(line.contains("\\fR"), "line {}: {line}", n + 1);
            }
        }
        assert_eq!((indent, nofill), (0, false));
    }

    /// groff, where installed, reads the page without a warning.
    #[cfg(unix)]
    #[test]
    fn groff_reads_the_page_without_a_warning() {
        let page = page().unwrap();
        match std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            Err(_) => eprintln!("groff is not installed: the page was checked by structure only"),
            Ok(mut groff) => {
                use std::io::Write;
                groff
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(page.as_bytes())
                    .unwrap();
                let out = groff.wait_with_output().unwrap();
                assert!(out.status.success());
                assert_eq!(String::from_utf8_lossy(&out.stderr), "");
            }
        }
    }
}
