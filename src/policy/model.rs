//! Azure Policy's shapes, typed: a custom policy definition and a policy set
//! as `Microsoft.Authorization` 2023-04-01 takes them (the `properties` of a
//! PUT body), with the rule, its conditions, the DeployIfNotExists details
//! and the ARM template of the deployment. Every enum below names what
//! Azure spells: the strings are made here, at serialisation, and nowhere
//! else.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// The category every arcfix definition is filed under (`metadata.category`).
pub const CATEGORY: &str = "Azure Arc";

/// The version of arcfix's definitions (`metadata.version`): raised when a
/// rule changes, so that a later `policy apply` can tell an old one.
pub const VERSION: &str = "1.0.0";

/// `"[parameters('effect')]"` and its kind: an ARM template expression that
/// reads a parameter of the definition (or of the set, in a reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterRef(pub &'static str);

impl Serialize for ParameterRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("[parameters('{}')]", self.0))
    }
}

/// An effect a definition may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    DeployIfNotExists,
    AuditIfNotExists,
    Audit,
    Disabled,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::DeployIfNotExists => "DeployIfNotExists",
            Effect::AuditIfNotExists => "AuditIfNotExists",
            Effect::Audit => "Audit",
            Effect::Disabled => "Disabled",
        }
    }
}

pub use crate::vocab::RemediationRole as Role;

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Contributor => "Contributor",
            Role::ConnectedMachineResourceAdministrator => {
                "Azure Connected Machine Resource Administrator"
            }
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            self.guid()
        ))
    }
}

/// The resource types the rules and templates name, each with the
/// api-version arcfix uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Machine,
    MachineExtension,
    Endpoint,
    ServiceConfiguration,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Machine => "Microsoft.HybridCompute/machines",
            ResourceType::MachineExtension => "Microsoft.HybridCompute/machines/extensions",
            ResourceType::Endpoint => "Microsoft.HybridConnectivity/endpoints",
            ResourceType::ServiceConfiguration => {
                "Microsoft.HybridConnectivity/endpoints/serviceConfigurations"
            }
        }
    }

    /// The api-version the product already calls the type with.
    pub fn api_version(self) -> &'static str {
        match self {
            ResourceType::Machine | ResourceType::MachineExtension => {
                crate::azure::api::HYBRID_COMPUTE
            }
            ResourceType::Endpoint | ResourceType::ServiceConfiguration => {
                crate::azure::api::HYBRID_CONNECTIVITY
            }
        }
    }
}

impl Serialize for ResourceType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A field a condition reads: `type`, or an alias of Azure Policy. `osName`
/// and the extension aliases are used by Microsoft's built-in definitions;
/// the `agentConfiguration` ones come from a published Get-AzPolicyAlias
/// listing only (said in `NOT_PROVEN`). HybridConnectivity has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Type,
    OsName,
    ExtensionType,
    ExtensionPublisher,
    ExtensionProvisioningState,
    AgentPorts,
    ExtensionsEnabled,
    AllowList,
    AllowListPublisher,
    AllowListType,
    BlockList,
    BlockListPublisher,
    BlockListType,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::OsName => "Microsoft.HybridCompute/machines/osName",
            Field::ExtensionType => "Microsoft.HybridCompute/machines/extensions/type",
            Field::ExtensionPublisher => "Microsoft.HybridCompute/machines/extensions/publisher",
            Field::ExtensionProvisioningState => {
                "Microsoft.HybridCompute/machines/extensions/provisioningState"
            }
            Field::AgentPorts => {
                "Microsoft.HybridCompute/machines/agentConfiguration.incomingConnectionsPorts[*]"
            }
            Field::ExtensionsEnabled => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsEnabled"
            }
            Field::AllowList => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*]"
            }
            Field::AllowListPublisher => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].publisher"
            }
            Field::AllowListType => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsAllowList[*].type"
            }
            Field::BlockList => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*]"
            }
            Field::BlockListPublisher => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*].publisher"
            }
            Field::BlockListType => {
                "Microsoft.HybridCompute/machines/agentConfiguration.extensionsBlockList[*].type"
            }
        }
    }
}

/// A value a condition compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(&'static str),
    Type(ResourceType),
    Int(i64),
    /// `"[string(parameters('port'))]"`: a parameter as text (aliases of
    /// string arrays compare with text).
    ParameterAsText(&'static str),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Text(t) => s.serialize_str(t),
            Value::Type(t) => t.serialize(s),
            Value::Int(n) => s.serialize_i64(*n),
            Value::ParameterAsText(p) => s.serialize_str(&format!("[string(parameters('{p}'))]")),
        }
    }
}

/// How a condition compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Equals(Value),
    Greater(Value),
}

/// A condition of a rule's `if` or of an existence condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Field(Field, Test),
    /// `count` of an array alias (`[*]`), of the members that meet `where`
    /// (all of them without one).
    Count {
        field: Field,
        r#where: Option<Box<Condition>>,
        test: Test,
    },
    AllOf(Vec<Condition>),
    AnyOf(Vec<Condition>),
}

impl Condition {
    pub fn equals(field: Field, value: Value) -> Condition {
        Condition::Field(field, Test::Equals(value))
    }
}

fn test_entry<M: SerializeMap>(m: &mut M, test: &Test) -> Result<(), M::Error> {
    match test {
        Test::Equals(v) => m.serialize_entry("equals", v),
        Test::Greater(v) => m.serialize_entry("greater", v),
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Condition::Field(field, test) => {
                m.serialize_entry("field", field.as_str())?;
                test_entry(&mut m, test)?;
            }
            Condition::Count {
                field,
                r#where,
                test,
            } => {
                m.serialize_entry(
                    "count",
                    &Count {
                        field: field.as_str(),
                        r#where: r#where.as_deref(),
                    },
                )?;
                test_entry(&mut m, test)?;
            }
            Condition::AllOf(all) => m.serialize_entry("allOf", all)?,
            Condition::AnyOf(any) => m.serialize_entry("anyOf", any)?,
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Count<'a> {
    field: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#where: Option<&'a Condition>,
}

/// A parameter's type, as Azure Policy spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    String,
    Integer,
}

/// A parameter's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    Effect(Effect),
    Port(u16),
}

impl Serialize for Default {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Default::Effect(e) => e.serialize(s),
            Default::Port(p) => s.serialize_u16(*p),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterMetadata {
    pub display_name: String,
    pub description: String,
}

/// A parameter of a definition or of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    #[serde(rename = "type")]
    pub kind: ParameterType,
    pub metadata: ParameterMetadata,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<Effect>,
    pub default_value: Default,
}

/// `metadata` of a definition or set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    pub category: &'static str,
    pub version: &'static str,
}

impl Metadata {
    pub fn arcfix() -> Metadata {
        Metadata {
            category: CATEGORY,
            version: VERSION,
        }
    }
}

/// `Custom`: the only type a caller may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyType {
    Custom,
}

/// `Indexed`: the rules read resources that have tags and a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    Indexed,
}

/// A policy definition: its name (the last segment of its id) and the
/// `properties` ARM takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    pub name: String,
    pub properties: DefinitionProperties,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionProperties {
    pub display_name: String,
    pub policy_type: PolicyType,
    pub mode: Mode,
    pub description: String,
    pub metadata: Metadata,
    pub parameters: BTreeMap<&'static str, Parameter>,
    pub policy_rule: PolicyRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    #[serde(rename = "if")]
    pub when: Condition,
    pub then: Then,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Then {
    /// Always the `effect` parameter: the set (or the assignment) chooses.
    pub effect: ParameterRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// The details of AuditIfNotExists and DeployIfNotExists: the related
/// resource looked for and, for DeployIfNotExists, what deploys it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    #[serde(rename = "type")]
    pub kind: ResourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existence_condition: Option<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role_definition_ids: Vec<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub properties: DeploymentProperties,
}

/// `Incremental`: the template adds its resources and removes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeploymentMode {
    Incremental,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentProperties {
    pub mode: DeploymentMode,
    pub template: Template,
    /// The template's parameters, from the evaluated machine (`field()`) and
    /// the definition's own (`parameters()`).
    pub parameters: BTreeMap<&'static str, DeploymentValue>,
}

/// What a deployment gives a template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentValue {
    /// `[field('name')]`, `[field('location')]`: of the evaluated resource.
    Field(&'static str),
    /// `[parameters('port')]`: the definition's parameter.
    Parameter(&'static str),
}

impl Serialize for DeploymentValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            DeploymentValue::Field(f) => format!("[field('{f}')]"),
            DeploymentValue::Parameter(p) => format!("[parameters('{p}')]"),
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("value", &value)?;
        m.end()
    }
}

/// The deployment template's schema: 2019-04-01 has the `scope` property
/// that places an extension resource (the endpoint) on the machine.
pub const TEMPLATE_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    #[serde(rename = "$schema", serialize_with = "template_schema")]
    pub schema: (),
    #[serde(serialize_with = "content_version")]
    pub content_version: (),
    pub parameters: BTreeMap<&'static str, TemplateParameter>,
    pub resources: Vec<TemplateResource>,
}

fn template_schema<S: Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(TEMPLATE_SCHEMA)
}

fn content_version<S: Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("1.0.0.0")
}

/// A template parameter's type (ARM template spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateType {
    String,
    Int,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TemplateParameter {
    #[serde(rename = "type")]
    pub kind: TemplateType,
}

/// Where a template resource goes, and under what name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// An extension resource of the machine named by the template parameter
    /// `machine` (`scope`), with its own name.
    OnMachine {
        machine: &'static str,
        name: &'static str,
    },
    /// A child of the machine (`machine/name`), at the machine's location.
    ChildOfMachine {
        machine: &'static str,
        name: &'static str,
        location: &'static str,
    },
}

/// The body of a template resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `{"type": "default"}`: the default endpoint.
    DefaultEndpoint,
    /// `{"serviceName": "SSH", "port": "[parameters('port')]"}`.
    SshService { port: &'static str },
    /// A machine extension, upgraded within its major version.
    Extension {
        publisher: &'static str,
        kind: &'static str,
    },
}

/// One resource of a deployment template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateResource {
    pub kind: ResourceType,
    pub placement: Placement,
    /// The resources of the same template this one needs first.
    pub depends_on: Vec<TemplateResource>,
    pub body: Body,
}

impl TemplateResource {
    /// The resource's id as a template expression (for `dependsOn`).
    fn id_expression(&self) -> String {
        match &self.placement {
            Placement::OnMachine { machine, name } => {
                let mut parts = format!(
                    "extensionResourceId(resourceId('{}', parameters('{machine}')), '{}'",
                    ResourceType::Machine.as_str(),
                    self.kind.as_str()
                );
                for segment in name.split('/') {
                    parts.push_str(&format!(", '{segment}'"));
                }
                format!("[{parts})]")
            }
            Placement::ChildOfMachine { machine, name, .. } => format!(
                "[resourceId('{}', parameters('{machine}'), '{name}')]",
                self.kind.as_str()
            ),
        }
    }
}

impl Serialize for TemplateResource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.kind)?;
        m.serialize_entry("apiVersion", self.kind.api_version())?;
        match &self.placement {
            Placement::OnMachine { machine, name } => {
                m.serialize_entry("name", name)?;
                m.serialize_entry(
                    "scope",
                    &format!(
                        "[concat('{}/', parameters('{machine}'))]",
                        ResourceType::Machine.as_str()
                    ),
                )?;
            }
            Placement::ChildOfMachine {
                machine,
                name,
                location,
            } => {
                m.serialize_entry(
                    "name",
                    &format!("[concat(parameters('{machine}'), '/{name}')]"),
                )?;
                m.serialize_entry("location", &format!("[parameters('{location}')]"))?;
            }
        }
        if !self.depends_on.is_empty() {
            let ids: Vec<String> = self.depends_on.iter().map(|r| r.id_expression()).collect();
            m.serialize_entry("dependsOn", &ids)?;
        }
        m.serialize_entry("properties", &BodyJson(&self.body))?;
        m.end()
    }
}

struct BodyJson<'a>(&'a Body);

impl Serialize for BodyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            Body::DefaultEndpoint => m.serialize_entry("type", "default")?,
            Body::SshService { port } => {
                m.serialize_entry("serviceName", "SSH")?;
                m.serialize_entry("port", &ParameterRef(port))?;
            }
            Body::Extension { publisher, kind } => {
                m.serialize_entry("publisher", publisher)?;
                m.serialize_entry("type", kind)?;
                m.serialize_entry("autoUpgradeMinorVersion", &true)?;
            }
        }
        m.end()
    }
}

/// A policy set (initiative): its name and the `properties` ARM takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetDefinition {
    pub name: String,
    pub properties: SetProperties,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetProperties {
    pub display_name: String,
    pub policy_type: PolicyType,
    pub description: String,
    pub metadata: Metadata,
    pub parameters: BTreeMap<&'static str, Parameter>,
    pub policy_definitions: Vec<Reference>,
}

/// Where the definitions live: a subscription, or not chosen yet (`policy
/// show`), said as the `{subscriptionId}` placeholder of ARM's own docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionScope {
    NotChosen,
    /// `policy apply` names them in its subscription.
    Subscription(String),
}

/// A definition's id at a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionId {
    pub scope: DefinitionScope,
    pub name: String,
}

impl std::fmt::Display for DefinitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subscription = match &self.scope {
            DefinitionScope::NotChosen => "{subscriptionId}",
            DefinitionScope::Subscription(s) => s,
        };
        write!(
            f,
            "/subscriptions/{subscription}/providers/Microsoft.Authorization/policyDefinitions/{}",
            self.name
        )
    }
}

impl Serialize for DefinitionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A set's reference to one definition, with the set parameters it passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub policy_definition_reference_id: String,
    pub policy_definition_id: DefinitionId,
    /// Definition parameter → the set parameter passed to it.
    #[serde(serialize_with = "passed")]
    pub parameters: BTreeMap<&'static str, ParameterRef>,
}

fn passed<S: Serializer>(
    p: &BTreeMap<&'static str, ParameterRef>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(p.len()))?;
    for (name, from) in p {
        let mut value = BTreeMap::new();
        value.insert("value", from);
        m.serialize_entry(name, &value)?;
    }
    m.end()
}
