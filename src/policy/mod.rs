//! The Azure Policy initiative arcfix installs to keep SSH through Arc
//! working on machines that join or drift later (`arcfix policy`): one
//! custom definition per rule and the set that groups them, built from the
//! typed shapes of `model`, the same for the same choice of port and login,
//! under names that never change (a second install can find and compare
//! them). Nothing here reads or writes Azure.

pub mod install;
pub mod model;
pub mod status;

use std::collections::BTreeMap;

use model::{
    Body, Condition, DefinitionId, DefinitionProperties, DefinitionScope, Deployment,
    DeploymentMode, DeploymentProperties, DeploymentValue, Details, Effect, Field, Metadata, Mode,
    Parameter, ParameterMetadata, ParameterRef, ParameterType, Placement, PolicyRule, PolicyType,
    Reference, ResourceType, Role, SetDefinition, SetProperties, Template, TemplateParameter,
    TemplateResource, TemplateType, Test, Then, Value,
};

use crate::checks::azure::{ENTRA_EXTENSION_PUBLISHER, ENTRA_EXTENSION_TYPE};
use crate::target::Login;

pub use model::Definition;

/// The set's name: one arcfix initiative per subscription.
pub const SET_NAME: &str = "arcfix-ssh";

/// What the initiative is made for: the port SSH must work on and how users log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub port: u16,
    pub login: Login,
}

pub use crate::vocab::PolicyRule as Rule;

/// What a rule can and cannot establish, said beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub verifies: &'static str,
    pub cannot: Vec<&'static str>,
}

impl Rule {
    /// The rules for a way of logging in, in the order they are shown.
    pub fn for_login(login: Login) -> Vec<Rule> {
        match login {
            Login::Local => vec![Rule::Endpoint, Rule::SshService, Rule::AgentPorts],
            Login::Entra => vec![
                Rule::Endpoint,
                Rule::SshService,
                Rule::AgentPorts,
                Rule::EntraExtension,
                Rule::AgentRefusesEntra,
            ],
        }
    }

    /// The set parameter that chooses this definition's effect.
    fn effect_parameter(self) -> &'static str {
        match self {
            Rule::Endpoint => "sshEndpointEffect",
            Rule::SshService => "sshServiceConfigurationEffect",
            Rule::AgentPorts => "agentSshPortEffect",
            Rule::EntraExtension => "entraSshLoginExtensionEffect",
            Rule::AgentRefusesEntra => "agentEntraExtensionEffect",
        }
    }

    /// The effects the definition allows; the first is its default.
    pub fn effects(self) -> Vec<Effect> {
        match self {
            Rule::Endpoint | Rule::SshService | Rule::EntraExtension => vec![
                Effect::DeployIfNotExists,
                Effect::AuditIfNotExists,
                Effect::Disabled,
            ],
            Rule::AgentPorts | Rule::AgentRefusesEntra => vec![Effect::Audit, Effect::Disabled],
        }
    }

    /// Whether the rule's `if` names more than the machine's type, so that
    /// (being DeployIfNotExists) it can apply to no machine of a scope and
    /// leave no compliance state: the Entra extension's, Linux machines only.
    pub fn may_apply_to_none(self) -> bool {
        matches!(self, Rule::EntraExtension)
    }

    /// Whether the definition takes the SSH port.
    fn takes_port(self) -> bool {
        matches!(self, Rule::SshService | Rule::AgentPorts)
    }

    /// What the definition wants, in a few words (its display name after
    /// `arcfix: `).
    pub fn title(self) -> &'static str {
        match self {
            Rule::Endpoint => {
                "Arc-enabled servers should have the default HybridConnectivity endpoint"
            }
            Rule::SshService => "Arc-enabled servers should have an SSH service configuration",
            Rule::AgentPorts => "the Arc agent should allow incoming connections on the SSH port",
            Rule::EntraExtension => {
                "Linux Arc-enabled servers should have the Microsoft Entra SSH login extension"
            }
            Rule::AgentRefusesEntra => {
                "the Arc agent should admit the Microsoft Entra SSH login extension"
            }
        }
    }

    fn display_name(self) -> String {
        format!("arcfix: {}", self.title())
    }

    fn description(self) -> String {
        match self {
            Rule::Endpoint => "Creates the default endpoint of Microsoft.HybridConnectivity on each Azure Arc-enabled server that has none, as `az ssh arc` needs it. Installed by arcfix.",
            Rule::SshService => "Creates the SSH service configuration of the default endpoint (with the endpoint when it is missing) on each Azure Arc-enabled server that has none, with the port given. A configuration that exists is not compared: HybridConnectivity has no policy aliases. Installed by arcfix.",
            Rule::AgentPorts => "Audits Azure Arc-enabled servers whose agent allows incoming connections on a list of ports (azcmagent config incomingconnections.ports) that does not name the SSH port. Installed by arcfix.",
            Rule::EntraExtension => "Installs the AADSSHLoginForLinux extension (publisher Microsoft.Azure.ActiveDirectory) on each Linux Azure Arc-enabled server where it is not provisioned, for SSH with Microsoft Entra ID. Installed by arcfix.",
            Rule::AgentRefusesEntra => "Audits Linux Azure Arc-enabled servers whose agent refuses the AADSSHLoginForLinux extension: extensions disabled, an allow list without it, or a block list with it. Installed by arcfix.",
        }
        .to_string()
    }

    /// What the rule establishes and what it cannot.
    pub fn limits(self) -> Limits {
        const NO_ALIASES: &str = "HybridConnectivity has no policy aliases: only the name and type of the related resource are tested, never its properties";
        match self {
            Rule::Endpoint => Limits {
                verifies: "an endpoint named default exists on the machine",
                cannot: vec![
                    NO_ALIASES,
                    "whether the endpoint is of type default or custom",
                ],
            },
            Rule::SshService => Limits {
                verifies: "a service configuration named SSH exists under the default endpoint",
                cannot: vec![
                    NO_ALIASES,
                    "the port: a machine whose SSH service configuration is on another port counts as compliant (arcfix check reads the port)",
                    "whether the policy engine finds a child of an extension resource as the related resource (not run against Azure)",
                ],
            },
            Rule::AgentPorts => Limits {
                verifies: "the agent's incomingConnectionsPorts is empty (every port allowed) or names the port",
                cannot: vec![
                    "a range (22-25) that holds the port is reported non-compliant: a policy compares text, it cannot read a range",
                    "a machine whose agent has not reported its configuration is compliant (nothing to compare)",
                    "the agent's own setting is changed only on the server (azcmagent config set incomingconnections.ports): a policy cannot deploy it",
                ],
            },
            Rule::EntraExtension => Limits {
                verifies: "an extension of type AADSSHLoginForLinux from Microsoft.Azure.ActiveDirectory is provisioned (Succeeded)",
                cannot: vec![
                    "whether the agent admits the extension: a refused install fails its remediation (arcfix-agent-entra-extension reports why)",
                    "who may log in: the login roles (Virtual Machine User Login, Virtual Machine Administrator Login) are not a policy's to grant",
                ],
            },
            Rule::AgentRefusesEntra => Limits {
                verifies: "extensionsEnabled is not false, the allow list is empty or names the extension, and the block list does not",
                cannot: vec![
                    "an allow or block list entry written with a wildcard is compared as text",
                    "the agent's lists are changed only on the server (azcmagent config set extensions.allowlist): a policy cannot deploy them",
                ],
            },
        }
    }

    /// The roles the remediation identity needs (DeployIfNotExists only).
    pub fn roles(self) -> Vec<Role> {
        match self {
            // No built-in role narrower than Contributor grants both
            // `Microsoft.HybridConnectivity/endpoints[/serviceConfigurations]/write`
            // and `Microsoft.Resources/deployments/write` without a login data
            // action (Windows Admin Center Administrator Login has
            // `WACloginAsAdmin`); Azure Connected Machine Resource
            // Administrator has no HybridConnectivity action.
            Rule::Endpoint | Rule::SshService => vec![Role::Contributor],
            Rule::EntraExtension => vec![Role::ConnectedMachineResourceAdministrator],
            Rule::AgentPorts | Rule::AgentRefusesEntra => vec![],
        }
    }

    /// The template resources a remediation deploys (DeployIfNotExists only).
    pub fn deploys(self) -> Vec<TemplateResource> {
        let endpoint = TemplateResource {
            kind: ResourceType::Endpoint,
            placement: Placement::OnMachine {
                machine: MACHINE,
                name: "default",
            },
            depends_on: vec![],
            body: Body::DefaultEndpoint,
        };
        match self {
            Rule::Endpoint => vec![endpoint],
            Rule::SshService => vec![
                endpoint.clone(),
                TemplateResource {
                    kind: ResourceType::ServiceConfiguration,
                    placement: Placement::OnMachine {
                        machine: MACHINE,
                        name: "default/SSH",
                    },
                    depends_on: vec![endpoint],
                    body: Body::SshService { port: PORT },
                },
            ],
            Rule::EntraExtension => vec![TemplateResource {
                kind: ResourceType::MachineExtension,
                placement: Placement::ChildOfMachine {
                    machine: MACHINE,
                    name: ENTRA_EXTENSION_TYPE,
                    location: LOCATION,
                },
                depends_on: vec![],
                body: Body::Extension {
                    publisher: ENTRA_EXTENSION_PUBLISHER,
                    kind: ENTRA_EXTENSION_TYPE,
                },
            }],
            Rule::AgentPorts | Rule::AgentRefusesEntra => vec![],
        }
    }

    /// The related resource the rule looks for, by type and name.
    pub fn looks_for(self) -> Option<(ResourceType, Option<&'static str>)> {
        match self {
            Rule::Endpoint => Some((ResourceType::Endpoint, Some("default"))),
            Rule::SshService => Some((ResourceType::ServiceConfiguration, Some("default/SSH"))),
            Rule::EntraExtension => Some((ResourceType::MachineExtension, None)),
            Rule::AgentPorts | Rule::AgentRefusesEntra => None,
        }
    }

    fn condition(self) -> Condition {
        let machine = Condition::equals(Field::Type, Value::Type(ResourceType::Machine));
        let linux = Condition::equals(Field::OsName, Value::Text("linux"));
        match self {
            Rule::Endpoint | Rule::SshService => machine,
            Rule::AgentPorts => Condition::AllOf(vec![
                machine,
                count(Field::AgentPorts, None, Test::Greater(Value::Int(0))),
                count(
                    Field::AgentPorts,
                    Some(Condition::equals(
                        Field::AgentPorts,
                        Value::ParameterAsText(PORT),
                    )),
                    Test::Equals(Value::Int(0)),
                ),
            ]),
            Rule::EntraExtension => Condition::AllOf(vec![machine, linux]),
            Rule::AgentRefusesEntra => {
                let names = |publisher: Field, kind: Field| {
                    Condition::AllOf(vec![
                        Condition::equals(publisher, Value::Text(ENTRA_EXTENSION_PUBLISHER)),
                        Condition::equals(kind, Value::Text(ENTRA_EXTENSION_TYPE)),
                    ])
                };
                Condition::AllOf(vec![
                    machine,
                    linux,
                    Condition::AnyOf(vec![
                        Condition::equals(Field::ExtensionsEnabled, Value::Text("false")),
                        Condition::AllOf(vec![
                            count(Field::AllowList, None, Test::Greater(Value::Int(0))),
                            count(
                                Field::AllowList,
                                Some(names(Field::AllowListPublisher, Field::AllowListType)),
                                Test::Equals(Value::Int(0)),
                            ),
                        ]),
                        count(
                            Field::BlockList,
                            Some(names(Field::BlockListPublisher, Field::BlockListType)),
                            Test::Greater(Value::Int(0)),
                        ),
                    ]),
                ])
            }
        }
    }

    fn details(self) -> Option<Details> {
        let (kind, name) = self.looks_for()?;
        let existence_condition = match self {
            Rule::EntraExtension => Some(Condition::AllOf(vec![
                Condition::equals(Field::ExtensionType, Value::Text(ENTRA_EXTENSION_TYPE)),
                Condition::equals(
                    Field::ExtensionPublisher,
                    Value::Text(ENTRA_EXTENSION_PUBLISHER),
                ),
                Condition::equals(Field::ExtensionProvisioningState, Value::Text("Succeeded")),
            ])),
            _ => None,
        };
        let mut template_parameters = BTreeMap::new();
        let mut values = BTreeMap::new();
        template_parameters.insert(
            MACHINE,
            TemplateParameter {
                kind: TemplateType::String,
            },
        );
        values.insert(MACHINE, DeploymentValue::Field("name"));
        match self {
            Rule::SshService => {
                template_parameters.insert(
                    PORT,
                    TemplateParameter {
                        kind: TemplateType::Int,
                    },
                );
                values.insert(PORT, DeploymentValue::Parameter(PORT));
            }
            Rule::EntraExtension => {
                template_parameters.insert(
                    LOCATION,
                    TemplateParameter {
                        kind: TemplateType::String,
                    },
                );
                values.insert(LOCATION, DeploymentValue::Field("location"));
            }
            _ => {}
        }
        Some(Details {
            kind,
            name,
            existence_condition,
            role_definition_ids: self.roles(),
            deployment: Some(Deployment {
                properties: DeploymentProperties {
                    mode: DeploymentMode::Incremental,
                    template: Template {
                        schema: (),
                        content_version: (),
                        parameters: template_parameters,
                        resources: self.deploys(),
                    },
                    parameters: values,
                },
            }),
        })
    }

    fn definition(self, choice: &Choice) -> Definition {
        let effects = self.effects();
        let mut parameters = BTreeMap::new();
        parameters.insert(EFFECT, effect_parameter(&effects, None));
        if self.takes_port() {
            parameters.insert(PORT, port_parameter(choice.port));
        }
        Definition {
            name: self.name().to_string(),
            properties: DefinitionProperties {
                display_name: self.display_name(),
                policy_type: PolicyType::Custom,
                mode: Mode::Indexed,
                description: self.description(),
                metadata: Metadata::arcfix(),
                parameters,
                policy_rule: PolicyRule {
                    when: self.condition(),
                    then: Then {
                        effect: ParameterRef(EFFECT),
                        details: self.details(),
                    },
                },
            },
        }
    }
}

/// The template parameter naming the machine, and the definitions' own.
const MACHINE: &str = "machineName";
const LOCATION: &str = "location";
const PORT: &str = "port";
const EFFECT: &str = "effect";

fn count(field: Field, r#where: Option<Condition>, test: Test) -> Condition {
    Condition::Count {
        field,
        r#where: r#where.map(Box::new),
        test,
    }
}

/// The `effect` parameter; in the set, `of` names the definition it is for.
fn effect_parameter(effects: &[Effect], of: Option<&str>) -> Parameter {
    Parameter {
        kind: ParameterType::String,
        metadata: ParameterMetadata {
            display_name: match of {
                Some(name) => format!("Effect of {name}"),
                None => "Effect".into(),
            },
            description: "Enable or disable the execution of the policy".into(),
        },
        allowed_values: effects.to_vec(),
        default_value: model::Default::Effect(effects[0]),
    }
}

fn port_parameter(port: u16) -> Parameter {
    Parameter {
        kind: ParameterType::Integer,
        metadata: ParameterMetadata {
            display_name: "SSH port".into(),
            description: "The port sshd listens on, which SSH through Azure Arc must reach".into(),
        },
        allowed_values: vec![],
        default_value: model::Default::Port(port),
    }
}

/// The definitions and the set arcfix would install for a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiative {
    pub choice: Choice,
    pub rules: Vec<Rule>,
    pub definitions: Vec<Definition>,
    pub set: SetDefinition,
}

/// The initiative for `choice`, its definitions named at `scope`.
pub fn initiative(choice: Choice, scope: DefinitionScope) -> Initiative {
    let rules = Rule::for_login(choice.login);
    let definitions = rules.iter().map(|r| r.definition(&choice)).collect();
    let mut parameters = BTreeMap::new();
    parameters.insert(PORT, port_parameter(choice.port));
    let mut references = Vec::new();
    for rule in &rules {
        parameters.insert(
            rule.effect_parameter(),
            effect_parameter(&rule.effects(), Some(rule.name())),
        );
        let mut passed = BTreeMap::new();
        passed.insert(EFFECT, ParameterRef(rule.effect_parameter()));
        if rule.takes_port() {
            passed.insert(PORT, ParameterRef(PORT));
        }
        references.push(Reference {
            policy_definition_reference_id: rule.name().to_string(),
            policy_definition_id: DefinitionId {
                scope: scope.clone(),
                name: rule.name().to_string(),
            },
            parameters: passed,
        });
    }
    let set = SetDefinition {
        name: SET_NAME.to_string(),
        properties: SetProperties {
            display_name: "arcfix: keep SSH through Azure Arc working".into(),
            policy_type: PolicyType::Custom,
            description: "The default HybridConnectivity endpoint and its SSH service configuration on every Azure Arc-enabled server, an audit of agents that block the SSH port, and with Microsoft Entra login the AADSSHLoginForLinux extension. Installed by arcfix.".into(),
            metadata: Metadata::arcfix(),
            parameters,
            policy_definitions: references,
        },
    };
    Initiative {
        choice,
        rules,
        definitions,
        set,
    }
}

/// What no test here can prove, said with every showing of the initiative.
pub const NOT_PROVEN: &[&str] = &[
    "None of these definitions has run against real Azure: they are checked against Azure Policy's published JSON schema and the REST specifications only.",
    "HybridConnectivity has no Azure Policy aliases: an existence condition can test only that an endpoint named default and a service configuration named SSH exist, never their port. A machine whose SSH configuration is on another port is compliant; arcfix check reads the port.",
    "The agent's configuration (allowed ports, extension lists) is read-only to Azure Policy: those rules only audit, and the fix is on the server (azcmagent config set).",
    "Registering Microsoft.HybridConnectivity and granting login roles are no policy's to do: arcfix apply does them.",
    "The agentConfiguration aliases (incomingConnectionsPorts, extensionsEnabled, the extension allow and block lists) come from a published Get-AzPolicyAlias listing, not from a Microsoft page or a built-in definition: ARM refuses a definition naming an alias it does not have.",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show(login: Login) -> Initiative {
        initiative(Choice { port: 22, login }, DefinitionScope::NotChosen)
    }

    #[test]
    fn the_names_never_depend_on_the_choice() {
        for port in [22, 2222] {
            for login in [Login::Local, Login::Entra] {
                let i = initiative(Choice { port, login }, DefinitionScope::NotChosen);
                assert_eq!(i.set.name, "arcfix-ssh");
                for (d, r) in i.definitions.iter().zip(&i.rules) {
                    assert_eq!(d.name, r.name());
                }
            }
        }
        let names: Vec<String> = show(Login::Entra)
            .definitions
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(
            names,
            [
                "arcfix-ssh-endpoint",
                "arcfix-ssh-service-configuration",
                "arcfix-agent-ssh-port",
                "arcfix-entra-ssh-login-extension",
                "arcfix-agent-entra-extension"
            ]
        );
        assert_eq!(show(Login::Local).definitions.len(), 3);
    }

    #[test]
    fn the_ssh_service_configuration_deploys_the_endpoint_first_with_the_port() {
        let i = initiative(
            Choice {
                port: 2222,
                login: Login::Local,
            },
            DefinitionScope::NotChosen,
        );
        let d = serde_json::to_value(&i.definitions[1]).unwrap();
        let p = &d["properties"];
        assert_eq!(p["parameters"]["port"]["defaultValue"], 2222);
        assert_eq!(p["parameters"]["port"]["type"], "Integer");
        let details = &p["policyRule"]["then"]["details"];
        assert_eq!(
            details["type"],
            "Microsoft.HybridConnectivity/endpoints/serviceConfigurations"
        );
        assert_eq!(details["name"], "default/SSH");
        assert_eq!(
            details["roleDefinitionIds"],
            json!([
                "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
            ])
        );
        let resources = &details["deployment"]["properties"]["template"]["resources"];
        assert_eq!(
            resources[1],
            json!({
                "type": "Microsoft.HybridConnectivity/endpoints/serviceConfigurations",
                "apiVersion": "2023-03-15",
                "name": "default/SSH",
                "scope": "[concat('Microsoft.HybridCompute/machines/', parameters('machineName'))]",
                "dependsOn": ["[extensionResourceId(resourceId('Microsoft.HybridCompute/machines', parameters('machineName')), 'Microsoft.HybridConnectivity/endpoints', 'default')]"],
                "properties": {"serviceName": "SSH", "port": "[parameters('port')]"}
            })
        );
        assert_eq!(
            details["deployment"]["properties"]["parameters"],
            json!({"machineName": {"value": "[field('name')]"}, "port": {"value": "[parameters('port')]"}})
        );
    }

    #[test]
    fn the_set_passes_each_definition_its_effect_and_the_port() {
        let i = show(Login::Local);
        let set = serde_json::to_value(&i.set).unwrap();
        let refs = &set["properties"]["policyDefinitions"];
        assert_eq!(
            refs[2],
            json!({
                "policyDefinitionReferenceId": "arcfix-agent-ssh-port",
                "policyDefinitionId": "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions/arcfix-agent-ssh-port",
                "parameters": {
                    "effect": {"value": "[parameters('agentSshPortEffect')]"},
                    "port": {"value": "[parameters('port')]"}
                }
            })
        );
        assert_eq!(
            set["properties"]["parameters"]["agentSshPortEffect"]["allowedValues"],
            json!(["Audit", "Disabled"])
        );
        let at = initiative(
            Choice {
                port: 22,
                login: Login::Local,
            },
            DefinitionScope::Subscription("00000000-0000-0000-0000-000000000001".into()),
        );
        assert_eq!(
            at.set.properties.policy_definitions[0]
                .policy_definition_id
                .to_string(),
            "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/policyDefinitions/arcfix-ssh-endpoint"
        );
    }

    #[test]
    fn the_agent_port_audit_counts_the_ports_that_name_the_port() {
        let d = serde_json::to_value(&show(Login::Local).definitions[2]).unwrap();
        assert_eq!(
            d["properties"]["policyRule"],
            json!({
                "if": {"allOf": [
                    {"field": "type", "equals": "Microsoft.HybridCompute/machines"},
                    {"count": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]"}, "greater": 0},
                    {"count": {
                        "field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]",
                        "where": {"field": "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]", "equals": "[string(parameters('port'))]"}
                    }, "equals": 0}
                ]},
                "then": {"effect": "[parameters('effect')]"}
            })
        );
    }

    #[test]
    fn only_deploy_if_not_exists_rules_name_roles_and_deploy() {
        for rule in Rule::for_login(Login::Entra) {
            let deploys = rule.effects()[0] == Effect::DeployIfNotExists;
            assert_eq!(!rule.roles().is_empty(), deploys, "{rule:?}");
            assert_eq!(!rule.deploys().is_empty(), deploys, "{rule:?}");
            assert_eq!(rule.looks_for().is_some(), deploys, "{rule:?}");
        }
    }
}
