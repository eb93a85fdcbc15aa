//! Each command's view, as text for people or one JSON document for
//! programs (Terraform's `internal/command/views`). `Views` is the one place
//! the choice is made, from the output option; each command asks it for its
//! own view, and for the `Progress` the layers below report through.

mod apply;
mod check;
mod demo;
mod explain;
mod progress;
mod stream;

use std::sync::Arc;

pub use stream::{Stream, out};

use super::text::{self, Paint};
use crate::error::Result;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::view::{ApplyView, CheckView, DemoView, Ending, ExplainView, PlanView, RulesView};

/// The run's output, chosen once: text or JSON, and how much of it.
pub enum Views {
    Human(Human),
    Json {
        /// `-q`: no scope line, no spinners.
        quiet: bool,
        /// Spinners on a terminal (not with `-q` or `-v`).
        spin: bool,
    },
}

impl Views {
    pub fn of(config: &crate::config::Config) -> Views {
        let quiet = config.verbosity < 0;
        // -v and more: the log lines say what is going on, a spinner would tear them.
        let spin = config.verbosity == 0;
        match config.output {
            crate::cli::Output::Json => Views::Json { quiet, spin },
            crate::cli::Output::Text => Views::Human(Human {
                paint: Paint {
                    color: config.color,
                },
                quiet,
                verbose: config.verbosity > 0,
                spin,
            }),
        }
    }

    /// What the layers below say while they work, as this output shows it.
    pub fn progress(&self) -> Arc<dyn Progress> {
        let err = Stream::Stderr;
        match *self {
            Views::Human(h) => Arc::new(progress::HumanProgress {
                quiet: h.quiet,
                spin: h.spin,
                err,
            }),
            Views::Json { quiet, spin } => Arc::new(progress::JsonProgress { quiet, spin, err }),
        }
    }

    pub fn check(&self) -> Box<dyn CheckView> {
        let out = Stream::Stdout;
        match *self {
            Views::Human(human) => Box::new(check::CheckHuman { human, out }),
            Views::Json { .. } => Box::new(check::CheckJson { out }),
        }
    }

    pub fn plan(&self) -> Box<dyn PlanView> {
        let out = Stream::Stdout;
        match *self {
            Views::Human(human) => Box::new(check::PlanHuman { human, out }),
            Views::Json { .. } => Box::new(check::PlanJson { out }),
        }
    }

    pub fn apply(&self) -> Box<dyn ApplyView> {
        let out = Stream::Stdout;
        match *self {
            Views::Human(human) => Box::new(apply::ApplyHuman { human, out }),
            Views::Json { .. } => Box::new(apply::ApplyJson { out }),
        }
    }

    pub fn explain(&self) -> Box<dyn ExplainView> {
        let out = Stream::Stdout;
        match *self {
            Views::Human(h) => Box::new(explain::ExplainHuman {
                color: h.paint.color,
                out,
            }),
            Views::Json { .. } => Box::new(explain::ExplainJson { out }),
        }
    }

    pub fn rules(&self) -> Box<dyn RulesView> {
        let out = Stream::Stdout;
        match *self {
            Views::Human(h) => Box::new(explain::RulesHuman {
                color: h.paint.color,
                out,
            }),
            Views::Json { .. } => Box::new(explain::RulesJson { out }),
        }
    }

    pub fn demo(&self) -> Box<dyn DemoView> {
        let (out, err) = (Stream::Stdout, Stream::Stderr);
        match *self {
            Views::Human(human) => Box::new(demo::DemoHuman { human, out, err }),
            Views::Json { quiet, .. } => Box::new(demo::DemoJson { quiet, out, err }),
        }
    }
}

/// Text for people: plans and summaries on stdout, progress on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Human {
    pub paint: Paint,
    /// `-q`: no progress lines, no spinners.
    pub quiet: bool,
    /// `-v`: a fleet's every finding and step, not its summary.
    pub verbose: bool,
    /// Spinners on a terminal (not with `-q` or `-v`).
    pub spin: bool,
}

impl Human {
    /// A fleet is summarised, unless `-v` asks for everything.
    fn fleet(&self, plan: &Plan) -> bool {
        !self.verbose && text::is_fleet(plan)
    }

    fn findings(&self, plan: &Plan) -> String {
        if self.fleet(plan) {
            text::fleet_findings(plan, &self.paint)
        } else {
            text::findings(plan, &self.paint)
        }
    }

    fn plan(&self, plan: &Plan) -> String {
        if self.fleet(plan) {
            text::fleet_plan(plan, &self.paint)
        } else {
            text::plan(plan, &self.paint)
        }
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
        out
    }
}

/// The plan's JSON document (contract, schema 1), streamed: a fleet's is
/// never held twice in memory.
fn document(out: &Stream, plan: &Plan) -> Result<()> {
    out.write_with(|w| {
        serde_json::to_writer_pretty(&mut *w, &super::Document::of(plan))
            .map_err(std::io::Error::from)?;
        w.write_all(b"\n")
    })
}

/// A JSON value as a document of its own.
fn json(out: &Stream, v: &serde_json::Value) -> Result<()> {
    out.print(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ))
}

/// Plans for the views' tests, from schema-1 JSON (as saved plans are read).
#[cfg(test)]
mod fixtures {
    use serde_json::{Value, json};

    use crate::plan::Plan;

    pub const WEB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01";

    pub fn human() -> super::Human {
        super::Human {
            paint: super::Paint { color: false },
            quiet: false,
            verbose: false,
            spin: false,
        }
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
