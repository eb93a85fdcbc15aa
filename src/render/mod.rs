//! Output: one colour decision, text and JSON renderers (text from outside
//! is escaped through `crate::text` before it reaches a terminal), and each
//! command's view (`view::Views` chooses between them once).

pub mod text;
pub mod view;

/// The JSON document of `check`, `plan` and `apply` (contract, schema 1),
/// borrowed from the plan: a fleet's is written out without a copy of it in
/// memory.
#[derive(serde::Serialize)]
pub struct Document<'a> {
    arcfix_version: &'a str,
    checked: &'a [String],
    connections: &'a [crate::plan::Connection],
    created: &'a str,
    findings: &'a [crate::plan::Finding],
    fingerprint: &'a str,
    machines: &'a [crate::plan::MachineVerdict],
    not_checked: &'a [crate::plan::NotChecked],
    notes: &'a [String],
    options: &'a Option<crate::plan::Options>,
    schema_version: u32,
    scope: &'a Option<String>,
    steps: &'a [crate::plan::Step],
    target: &'a str,
}

impl<'a> Document<'a> {
    pub fn of(plan: &'a crate::plan::Plan) -> Document<'a> {
        Document {
            arcfix_version: &plan.arcfix_version,
            checked: &plan.checked,
            connections: &plan.connections,
            created: &plan.created,
            findings: &plan.findings,
            fingerprint: &plan.fingerprint,
            machines: &plan.machines,
            not_checked: &plan.not_checked,
            notes: &plan.notes,
            options: &plan.options,
            schema_version: plan.schema_version,
            scope: &plan.scope,
            steps: &plan.steps,
            target: &plan.target,
        }
    }
}

/// The same document as a value (the demo puts three in one).
pub fn plan_json(plan: &crate::plan::Plan) -> serde_json::Value {
    serde_json::to_value(Document::of(plan)).unwrap_or_default()
}

/// The man page's own sections after clap's (roff).
pub const MAN_SECTIONS: &str = r#".SH EXAMPLES
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
The default for \-\-subscription.
.TP
\fBARCFIX_ARM_ENDPOINT\fR
The Resource Manager base URL (as \-\-arm\-endpoint).
.TP
\fBAZURE_TENANT_ID\fR, \fBAZURE_CLIENT_ID\fR, \fBAZURE_CLIENT_SECRET\fR, \fBAZURE_FEDERATED_TOKEN_FILE\fR
The credential of \-\-auth env (and the user\-assigned identity of \-\-auth managed\-identity).
.TP
\fBPSModulePath\fR
Where the PowerShell modules are looked for.
.TP
\fBNO_COLOR\fR
When set and not empty, no colour (with \-\-color auto).
.TP
\fBARCFIX_LOG\fR, \fBARCFIX_PRIVILEGE\fR, \fBARCFIX_SSH_SEARCH_PATH\fR, \fBARCFIX_RUN_COMMAND_TIMEOUT\fR, \fBARCFIX_CONNECT_TIMEOUT\fR, \fBARCFIX_RETRY_SCALE\fR
See the README.
.SH FILES
.TP
\fI$XDG_STATE_HOME/arcfix/journal.jsonl\fR (\fI~/.local/state/arcfix/journal.jsonl\fR; Windows \fI%LOCALAPPDATA%\\arcfix\\journal.jsonl\fR)
The journal of the changes apply made, one JSON line each, with how to undo it.
.TP
\fI~/.clientsshproxy/sshProxy_*\fR
The Azure CLI's SSH proxy, used by \-\-connect.
.TP
\fIplan.json\fR
A plan saved with plan \-\-out (mode 0600), applied with apply \-\-plan.
.SH "SEE ALSO"
\fBssh\fR(1)
"#;
