//! Each command's view, as text for people or one document for programs
//! (Terraform's `internal/command/views`). `Views` is the one place the
//! choice is made, from the output options; each command asks it for its
//! own view, and for the `Progress` the layers below report through. The
//! document is the JSON one; `-o table`, `-o tsv` and `--query` are made
//! from it (`rows`, `query`), never from the plan directly, and so is
//! `-o html`'s report (`super::html`, from the same `Document`).

mod apply;
mod check;
mod demo;
mod explain;
mod plan;
mod policy;
mod progress;
mod query;
mod rows;
mod rules;
mod stream;

use std::sync::Arc;

pub use stream::{Stream, out};

use rows::Rows;
use serde_json::Value;

use super::text::{self, Paint};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::view::Ending;

/// The run's output, chosen once from the options: text, or one document
/// (JSON, a table, tab-separated values, a query's result). Each command
/// takes its own view from it (one small trait each, implemented for both),
/// and the layers below take its `Progress`.
pub enum Views {
    Text(Text),
    Json(Json),
}

impl Views {
    pub fn of(config: &crate::config::Config) -> Views {
        let quiet = config.verbosity < 0;
        // -v and more: the log lines say what is going on, a spinner would tear them.
        let spin = config.verbosity == 0;
        let (out, err) = (Stream::Stdout, Stream::Stderr);
        let query = config.query.clone().map(Arc::new);
        let format = match config.output {
            // `--query` alone: its result as JSON.
            crate::cli::Output::Text | crate::cli::Output::Json => Format::Json,
            crate::cli::Output::Table => Format::Table,
            crate::cli::Output::Tsv => Format::Tsv,
            crate::cli::Output::Html => Format::Html,
        };
        match config.output {
            crate::cli::Output::Text if query.is_none() => Views::Text(Text {
                human: Human {
                    paint: Paint {
                        color: config.color,
                    },
                    quiet,
                    verbose: config.verbosity > 0,
                    spin,
                    width: super::fit::width(
                        std::env::var("COLUMNS").ok().as_deref(),
                        console::Term::stdout()
                            .size_checked()
                            .map(|(_, cols)| usize::from(cols)),
                    ),
                },
                out,
                err,
            }),
            _ => Views::Json(Json {
                quiet,
                spin,
                out,
                err,
                format,
                query,
            }),
        }
    }

    /// What the layers below say while they work, as this output shows it.
    pub fn progress(&self) -> Arc<dyn Progress> {
        match self {
            Views::Text(t) => Arc::new(t.clone()),
            Views::Json(j) => Arc::new(j.clone()),
        }
    }

    /// The chosen view, as one command sees it (each command's file has
    /// its accessor: `Views::check`, `Views::plan`, …).
    fn pick<'a, V: ?Sized>(
        &'a self,
        text: fn(&'a Text) -> &'a V,
        json: fn(&'a Json) -> &'a V,
    ) -> &'a V {
        match self {
            Views::Text(t) => text(t),
            Views::Json(j) => json(j),
        }
    }
}

/// The views for people: reports on stdout, progress on stderr.
#[derive(Clone)]
pub struct Text {
    pub human: Human,
    pub out: Stream,
    pub err: Stream,
}

/// The views for programs: one document on stdout, nothing else there: the
/// JSON one (contract, schema 1), or made from it: az's table or
/// tab-separated values of its main list, the result of `--query`, or the
/// HTML report of check, plan, apply and demo.
#[derive(Clone)]
pub struct Json {
    /// `-q`: nothing on stderr, no spinners.
    pub quiet: bool,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
    pub out: Stream,
    pub err: Stream,
    /// `-o json`, `table`, `tsv` or `html`.
    pub format: Format,
    /// `--query`: what of the document is printed.
    pub query: Option<Arc<crate::config::Query>>,
}

/// How the document is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// As az prints a list: a header, dashes, a row per item.
    Table,
    /// As az prints a list: tab-separated values, a line per item.
    Tsv,
    /// One self-contained HTML page (check, plan, apply, demo; `config`
    /// refuses it elsewhere, and beside `--query`).
    Html,
}

impl Json {
    /// The plan's document (check, plan, apply), as `rows` lists it in a
    /// table, or as the report of `command`; the JSON document alone is
    /// streamed, never held twice.
    fn emit_plan(&self, command: &str, plan: &Plan, rows: Rows) -> Result<()> {
        self.emit_document(command, plan, &super::Document::of(plan), rows)
    }

    /// As `emit_plan`, with what a command adds to the plan's document
    /// (`apply`'s `dry_run` and `journal`).
    fn emit_document(
        &self,
        command: &str,
        plan: &Plan,
        doc: &super::Document,
        rows: Rows,
    ) -> Result<()> {
        if self.query.is_none() {
            match self.format {
                Format::Json => return document_as(&self.out, doc),
                // What was not read is in the report itself.
                Format::Html => {
                    return self.out.write_with(|w| super::html::write(w, command, doc));
                }
                Format::Table | Format::Tsv => {}
            }
        }
        // A fleet's check lists its machines, as its text summarises them.
        let rows = match rows {
            Rows::Findings if text::is_fleet(plan) => Rows::Machines,
            rows => rows,
        };
        let doc = serde_json::to_value(doc).unwrap_or_default();
        if self.query.is_none() && !self.quiet {
            // They make the run exit 1; a table has no room for them.
            for line in rows::unread(&doc) {
                self.err.line("arcfix: ", &line);
            }
        }
        self.emit(&doc, rows)
    }

    /// A document as the options print it: JSON, the table or tsv of its
    /// `rows`, or the result of the query.
    fn emit(&self, doc: &Value, rows: Rows) -> Result<()> {
        let printed = match (&self.query, self.format) {
            (Some(q), format) => query::printed(q, doc, format)?,
            (None, Format::Json) => pretty(doc),
            (None, Format::Table) => {
                let l = rows.of(doc);
                super::az::table(&l.rows, &l.columns)
                    .map_err(|_| Error::Internal(format!("{rows:?}: rows without a column")))?
            }
            (None, Format::Tsv) => {
                let l = rows.of(doc);
                super::az::tsv(&l.rows, &l.columns)
            }
            (None, Format::Html) => {
                return Err(Error::Internal(format!("{rows:?}: no HTML report")));
            }
        };
        self.out.print(&printed)
    }
}

/// How text for people looks, and how much of it there is.
#[derive(Debug, Clone, Copy)]
pub struct Human {
    pub paint: Paint,
    /// `-q`: no progress lines, no spinners.
    pub quiet: bool,
    /// `-v`: a fleet's every finding and step, not its summary.
    pub verbose: bool,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
    /// The columns text is folded to (`fit::width`: `COLUMNS`, the
    /// terminal's, or 80).
    pub width: usize,
}

impl Human {
    /// `text` folded to the width.
    pub fn fit(&self, text: &str) -> String {
        super::fit::fit(text, self.width)
    }

    /// A fleet is summarised, unless `-v` asks for everything.
    fn fleet(&self, plan: &Plan) -> bool {
        !self.verbose && text::is_fleet(plan)
    }

    fn findings(&self, plan: &Plan) -> String {
        self.fit(&if self.fleet(plan) {
            text::fleet_findings(plan, &self.paint)
        } else {
            text::findings(plan, &self.paint)
        })
    }

    fn plan(&self, plan: &Plan) -> String {
        self.fit(&if self.fleet(plan) {
            text::fleet_plan(plan, &self.paint)
        } else {
            text::plan(plan, &self.paint)
        })
    }

    fn summary(&self, plan: &Plan, ending: Ending) -> String {
        let mut out = if self.fleet(plan) {
            text::fleet_summary(plan, &self.paint)
        } else {
            text::summary(plan, &self.paint)
        };
        if ending.connect {
            out.push_str(&text::connections(plan, &self.paint));
        }
        if ending.interrupted {
            out.push_str("Stopped by Ctrl-C: the steps marked skipped were not attempted.\n");
        }
        if let Some(path) = &ending.journal {
            out.push_str(&format!(
                "Changes recorded in the journal {}\n",
                crate::text::sanitize(&path.display().to_string())
            ));
        }
        self.fit(&out)
    }
}

/// A document, with what a command adds to the plan's (`apply`'s
/// `dry_run` and `journal`).
fn document_as(out: &Stream, doc: &super::Document) -> Result<()> {
    out.write_with(|w| {
        serde_json::to_writer_pretty(&mut *w, doc).map_err(std::io::Error::from)?;
        w.write_all(b"\n")
    })
}

/// A JSON value as a document of its own, pretty.
fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Plans for the views' tests, from schema-1 JSON (as saved plans are read).
#[cfg(test)]
mod fixtures {
    use serde_json::{Value, json};

    use super::stream::{Stream, Written};
    use crate::plan::Plan;

    pub const WEB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01";

    /// The text views without colour or spinners, so wide that nothing is
    /// folded, and what they write to stdout and to stderr.
    pub fn text() -> (super::Text, Written, Written) {
        text_at(1000)
    }

    /// The same, folded to `width` columns.
    pub fn text_at(width: usize) -> (super::Text, Written, Written) {
        let ((out, printed), (err, said)) = (Stream::memory(), Stream::memory());
        let human = super::Human {
            paint: super::Paint { color: false },
            quiet: false,
            verbose: false,
            spin: false,
            width,
        };
        (super::Text { human, out, err }, printed, said)
    }

    /// The JSON views, and what they write to stdout and to stderr.
    pub fn json() -> (super::Json, Written, Written) {
        let ((out, printed), (err, said)) = (Stream::memory(), Stream::memory());
        let json = super::Json {
            quiet: false,
            spin: false,
            out,
            err,
            format: super::Format::Json,
            query: None,
        };
        (json, printed, said)
    }

    /// The views for programs as `-o FORMAT [--query QUERY]` makes them.
    pub fn document(format: super::Format, query: Option<&str>) -> (super::Json, Written, Written) {
        let (mut view, printed, said) = json();
        view.format = format;
        view.query = query.map(|q| std::sync::Arc::new(crate::config::Query::compile(q).unwrap()));
        (view, printed, said)
    }

    /// A plan with `extra` fields over an empty one.
    pub fn plan(extra: Value) -> Plan {
        let mut v = json!({
            "schema_version": 1,
            "arcfix_version": "0.0.0",
            "target": "local",
            "created": "2026-01-01T00:00:00Z",
            "fingerprint": "f",
            "findings": [],
            "steps": [],
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    pub fn healthy() -> Plan {
        plan(json!({"checked": ["client"]}))
    }

    /// The step of `one_step`.
    pub fn step() -> crate::plan::Step {
        one_step("planned").steps.remove(0)
    }

    /// One finding on web-01 and the step that fixes it.
    pub fn one_step(status: &str) -> Plan {
        plan(json!({
            "target": WEB,
            "checked": ["azure"],
            "findings": [{
                "id": "provider-not-registered",
                "target": WEB,
                "title": "Microsoft.HybridConnectivity is not registered",
                "evidence": "registrationState: NotRegistered",
                "fix": "auto",
            }],
            "steps": [{
                "id": "register-hybridconnectivity",
                "fixes": ["provider-not-registered"],
                "target": WEB,
                "description": "Register Microsoft.HybridConnectivity",
                "command": "az provider register -n Microsoft.HybridConnectivity",
                "automatic": true,
                "precondition": "not registered",
                "verification": "registered",
                "check": {"kind": "restarted"},
                "action": {"kind": "manual"},
                "status": status,
            }],
        }))
    }
}
