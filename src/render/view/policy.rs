//! `policy show`: the Azure Policy initiative arcfix would install, for
//! people (each definition with its effect, roles, what it deploys and what
//! it can and cannot verify) or as one document whose definitions and set
//! are the bodies ARM takes.

use serde::Serialize;

use super::rows::Rows;
use super::{Json, Text, Views};
use crate::error::Result;
use crate::policy::model::{Effect, Role, SetDefinition};
use crate::policy::status::{Status, Verdict};
use crate::policy::{Definition, Initiative, NOT_PROVEN, Rule};
use crate::render::text::Paint;
use crate::view::PolicyView;

impl Views {
    /// `policy show`'s view.
    pub fn policy(&self) -> &dyn PolicyView {
        self.pick(|t| t, |j| j)
    }
}

impl PolicyView for Text {
    fn show(&self, initiative: &Initiative) -> Result<()> {
        self.out
            .print(&self.human.fit(&text(initiative, &self.human.paint)))
    }

    fn status(&self, status: &Status) -> Result<()> {
        self.out
            .print(&self.human.fit(&status_text(status, &self.human.paint)))
    }
}

impl PolicyView for Json {
    fn show(&self, initiative: &Initiative) -> Result<()> {
        let doc = serde_json::to_value(Document::of(initiative)).unwrap_or_default();
        self.emit(&doc, Rows::Policies)
    }

    fn status(&self, status: &Status) -> Result<()> {
        self.emit(
            &crate::policy::status::Document::of(status).to_value(),
            Rows::PolicyStatus,
        )
    }
}

/// `policy status` for people: the verdict first, then compliance by
/// definition, the machines not compliant, and the remediation tasks.
pub(super) fn status_text(s: &Status, p: &Paint) -> String {
    let scope = s.scope.path();
    let Some(a) = &s.assignment else {
        return format!(
            "{} arcfix's policy is not assigned at {scope} (no assignment {} there)\nInstall it: arcfix policy apply {} --location REGION\n",
            p.red("✗"),
            crate::policy::install::ASSIGNMENT_NAME,
            s.scope.args()
        );
    };
    let mut out = format!(
        "{} at {scope} (enforcement {})\n",
        p.bold(&format!(
            "arcfix's policy assignment {}",
            crate::policy::install::ASSIGNMENT_NAME
        )),
        a.enforcement
            .map(|e| e.as_str())
            .unwrap_or("not recognised")
    );
    out.push_str("Compliance as Azure Policy last evaluated it (PolicyInsights):\n");
    if s.summary.by_reference.is_empty() {
        out.push_str(&format!(
            "  {} no resource evaluated yet: Azure evaluates a new assignment within about 30 minutes (az policy state trigger-scan {} starts it now), or the scope has no Arc machine\n",
            p.yellow("?"),
            s.scope.args()
        ));
    }
    for reference in s.not_applicable() {
        out.push_str(&format!(
            "  - {reference}: no state: it applies to no machine here (Linux machines only)\n"
        ));
    }
    for reference in s.unevaluated() {
        if !s
            .summary
            .by_reference
            .contains_key(&reference.to_ascii_lowercase())
        {
            out.push_str(&format!(
                "  {} {reference}: not evaluated yet\n",
                p.yellow("?")
            ));
        }
    }
    for (reference, c) in &s.summary.by_reference {
        let (mark, what) = if c.non_compliant > 0 {
            (
                p.red("✗"),
                format!("{} of {} not compliant", c.non_compliant, c.evaluated),
            )
        } else if c.evaluated > 0 {
            (p.green("✓"), format!("{} compliant", c.evaluated))
        } else {
            (p.yellow("?"), "nothing evaluated".to_string())
        };
        out.push_str(&format!(
            "  {mark} {}: {what}\n",
            crate::text::sanitize(reference)
        ));
    }
    if !s.non_compliant.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.bold(&format!(
                "Not compliant: {} machine{}",
                s.non_compliant.len(),
                if s.non_compliant.len() == 1 { "" } else { "s" }
            ))
        ));
        for m in &s.non_compliant {
            out.push_str(&format!(
                "  {} (resource group {}): {}\n",
                m.id.name,
                m.id.resource_group,
                m.definitions.join(", ")
            ));
        }
    }
    if s.other_resources > 0 {
        out.push_str(&format!(
            "  and {} non-compliant resource{} that {} not an Arc machine (not listed)\n",
            s.other_resources,
            if s.other_resources == 1 { "" } else { "s" },
            if s.other_resources == 1 { "is" } else { "are" }
        ));
    }
    out.push_str(&format!("\n{}\n", p.bold("Remediation tasks")));
    if s.remediations.is_empty() {
        out.push_str("  none\n");
    }
    let docs = crate::policy::status::Document::of(s).remediations;
    for r in &docs {
        let counts = match (r.deployments, r.succeeded, r.failed) {
            (Some(t), Some(ok), Some(bad)) => {
                format!(": {ok} of {t} deployments succeeded, {bad} failed")
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {} ({}) {}{counts}{}\n",
            r.name,
            r.definition.as_deref().unwrap_or("?"),
            r.state.as_deref().unwrap_or("state unknown"),
            r.created
                .as_deref()
                .map(|c| format!(", started {c}"))
                .unwrap_or_default()
        ));
    }
    out.push('\n');
    for note in &s.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    if s.unlisted() > 0 {
        out.push_str(&format!(
            "{} PolicyInsights' summary counts {} non-compliant resource{} its list of states did not return (an evaluation under way?): run arcfix policy status {} again\n",
            p.yellow("!"),
            s.unlisted(),
            if s.unlisted() == 1 { "" } else { "s" },
            s.scope.args()
        ));
    }
    out.push_str(&match s.verdict() {
        Verdict::NonCompliant if s.non_compliant.is_empty() => format!(
            "{} not compliant, by PolicyInsights' summary\n",
            p.red("✗")
        ),
        Verdict::NonCompliant => format!(
            "{} {} machine{} not compliant{}. Fix them now, without waiting for Azure Policy: arcfix policy status {} --query 'non_compliant[].id' -o tsv | arcfix apply --ids-from -\n",
            p.red("✗"),
            s.non_compliant.len(),
            if s.non_compliant.len() == 1 { " is" } else { "s are" },
            match s.under_way() {
                0 => String::new(),
                n => format!(
                    " ({n} remediation task{} under way)",
                    if n == 1 { "" } else { "s" }
                ),
            },
            s.scope.args()
        ),
        Verdict::Compliant => format!(
            "{} every evaluated machine is compliant with arcfix's policy (what the policy cannot see, such as the SSH port of an existing configuration, arcfix check reads)\n",
            p.green("✓")
        ),
        Verdict::NotEvaluated if s.expected.is_none() => format!(
            "{} compliance is not known whole: arcfix's set could not be read (see the note)\n",
            p.yellow("?")
        ),
        Verdict::NotEvaluated => format!(
            "{} compliance is not known yet: nothing has been evaluated{}\n",
            p.yellow("?"),
            match s.unevaluated() {
                none if none.is_empty() => String::new(),
                some => format!(" for {}", some.join(", ")),
            }
        ),
        Verdict::NotAssigned => String::new(),
    });
    out
}

/// `policy show -o json`: the definitions and the set as ARM takes them
/// (`name` and `properties`), and beside them what each rule can verify.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    port: u16,
    login: &'static str,
    definitions: &'a [Definition],
    set: &'a SetDefinition,
    rules: Vec<RuleDoc>,
    not_proven: &'static [&'static str],
}

#[derive(Serialize)]
struct RuleDoc {
    definition: &'static str,
    effects: Vec<Effect>,
    roles: Vec<RoleDoc>,
    verifies: &'static str,
    cannot_verify: Vec<&'static str>,
}

#[derive(Serialize)]
struct RoleDoc {
    name: &'static str,
    id: Role,
}

impl<'a> Document<'a> {
    fn of(i: &'a Initiative) -> Document<'a> {
        Document {
            schema_version: 1,
            port: i.choice.port,
            login: i.choice.login.as_str(),
            definitions: &i.definitions,
            set: &i.set,
            rules: i
                .rules
                .iter()
                .map(|r| {
                    let limits = r.limits();
                    RuleDoc {
                        definition: r.name(),
                        effects: r.effects(),
                        roles: r
                            .roles()
                            .into_iter()
                            .map(|id| RoleDoc {
                                name: id.name(),
                                id,
                            })
                            .collect(),
                        verifies: limits.verifies,
                        cannot_verify: limits.cannot,
                    }
                })
                .collect(),
            not_proven: NOT_PROVEN,
        }
    }
}

/// The initiative for people.
fn text(i: &Initiative, p: &Paint) -> String {
    let login = match i.choice.login {
        crate::target::Login::Local => "local users",
        crate::target::Login::Entra => "Microsoft Entra ID",
    };
    let mut out = format!(
        "{}, for SSH on port {} with {login}\n",
        p.bold("The Azure Policy initiative arcfix would install"),
        i.choice.port,
    );
    out.push_str(&format!(
        "Shown only: nothing was read from or sent to Azure. {}\n\n",
        p.yellow("None of it has run against real Azure.")
    ));
    out.push_str(&format!(
        "Set {}: {} definitions, the effect of each a parameter of the set\n\n",
        p.bold(&i.set.name),
        i.definitions.len()
    ));
    for rule in &i.rules {
        out.push_str(&rule_text(*rule, p));
        out.push('\n');
    }
    out.push_str(&format!("{}\n", p.bold("Not proven")));
    for line in NOT_PROVEN {
        out.push_str(&format!("  - {line}\n"));
    }
    // The same choice, as typed: the command prints these definitions.
    let mut again = String::from("arcfix policy show");
    if i.choice.port != 22 {
        again.push_str(&format!(" --port {}", i.choice.port));
    }
    if i.choice.login == crate::target::Login::Entra {
        again.push_str(" --login entra");
    }
    out.push_str(&format!("\nThe definitions and the set for az policy definition create and az policy set-definition create (in the set, replace {{subscriptionId}} with the subscription the definitions are created in): {again} -o json\n"));
    out
}

fn rule_text(rule: Rule, p: &Paint) -> String {
    let effects = rule.effects();
    let mut out = format!("{}: {}\n", p.bold(rule.name()), rule.title());
    let others: Vec<&str> = effects[1..].iter().map(|e| e.as_str()).collect();
    out.push_str(&format!(
        "  effect: {} (or {})\n",
        effects[0].as_str(),
        others.join(", ")
    ));
    if let Some((kind, name)) = rule.looks_for() {
        out.push_str(&format!(
            "  looks for: {}{}\n",
            kind.as_str(),
            name.map(|n| format!(" named {n}")).unwrap_or_default()
        ));
    }
    for r in rule.deploys() {
        out.push_str(&format!(
            "  deploys: {} (api-version {})\n",
            r.kind.as_str(),
            r.kind.api_version()
        ));
    }
    let roles: Vec<String> = rule
        .roles()
        .iter()
        .map(|r| format!("{} ({})", r.name(), r.guid()))
        .collect();
    if !roles.is_empty() {
        out.push_str(&format!("  remediation role: {}\n", roles.join(", ")));
    }
    let limits = rule.limits();
    out.push_str(&format!("  verifies: {}\n", limits.verifies));
    for c in limits.cannot {
        out.push_str(&format!("  cannot verify: {c}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{json, text as text_view};
    use super::*;
    use crate::policy::model::DefinitionScope;
    use crate::policy::{Choice, initiative};
    use crate::target::Login;

    fn entra() -> Initiative {
        initiative(
            Choice {
                port: 2222,
                login: Login::Entra,
            },
            DefinitionScope::NotChosen,
        )
    }

    #[test]
    fn people_see_each_definition_with_its_roles_and_limits() {
        let (view, printed, _) = text_view();
        view.show(&entra()).unwrap();
        let out = printed.text();
        assert!(out.starts_with("The Azure Policy initiative arcfix would install, for SSH on port 2222 with Microsoft Entra ID\nShown only: nothing was read from or sent to Azure. None of it has run against real Azure.\n"), "{out}");
        assert!(out.contains("\narcfix-entra-ssh-login-extension: Linux Arc-enabled servers should have the Microsoft Entra SSH login extension\n  effect: DeployIfNotExists (or AuditIfNotExists, Disabled)\n  looks for: Microsoft.HybridCompute/machines/extensions\n  deploys: Microsoft.HybridCompute/machines/extensions (api-version 2025-01-13)\n  remediation role: Azure Connected Machine Resource Administrator (cd570a14-e51a-42ad-bac8-bafd67325302)\n"), "{out}");
        assert!(
            out.contains("  - HybridConnectivity has no Azure Policy aliases"),
            "{out}"
        );
    }

    #[test]
    fn programs_get_the_bodies_arm_takes() {
        let (view, printed, _) = json();
        view.show(&entra()).unwrap();
        let doc = printed.json();
        assert_eq!(doc["port"], 2222);
        assert_eq!(doc["login"], "entra");
        assert_eq!(doc["definitions"].as_array().unwrap().len(), 5);
        assert_eq!(doc["set"]["name"], "arcfix-ssh");
        assert_eq!(
            doc["rules"][0]["roles"],
            serde_json::json!([{"name": "Contributor", "id": "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"}])
        );
        assert_eq!(doc["definitions"][0]["properties"]["policyType"], "Custom");
    }
}
