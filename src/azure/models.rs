//! Small serde types holding only the fields arcfix reads. Every field is
//! optional: ARM omits or nulls fields freely (the official examples do).

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Machine {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    /// Tag names and values (a null value reads as empty).
    #[serde(default, deserialize_with = "tags")]
    pub tags: std::collections::BTreeMap<String, String>,
    pub properties: MachineProperties,
}

fn tags<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    let raw: Option<std::collections::BTreeMap<String, Option<String>>> =
        Deserialize::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MachineProperties {
    pub status: Option<String>,
    pub os_type: Option<String>,
    pub agent_version: Option<String>,
    pub last_status_change: Option<String>,
    pub agent_configuration: Option<AgentConfiguration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentConfiguration {
    pub incoming_connections_ports: Option<Vec<String>>,
    /// `full`, or `monitor` (no remote connectivity, Microsoft's allow list of extensions).
    pub config_mode: Option<String>,
    /// `"true"` or `"false"` (a string in the spec): the agent's extension
    /// manager, `azcmagent config set extensions.enabled`.
    #[serde(default, deserialize_with = "text_or_bool")]
    pub extensions_enabled: Option<String>,
    /// `extensions.allowlist`: when it has entries, only those install.
    #[serde(default, deserialize_with = "extension_list")]
    pub extensions_allow_list: Option<ExtensionList>,
    /// `extensions.blocklist`: these never install.
    #[serde(default, deserialize_with = "extension_list")]
    pub extensions_block_list: Option<ExtensionList>,
    #[serde(default, deserialize_with = "text_or_bool")]
    pub guest_configuration_enabled: Option<String>,
    pub proxy_url: Option<String>,
}

/// One entry of the agent's extension allow or block list
/// (`ConfigurationExtension`); `azcmagent` spells it `publisher/type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigurationExtension {
    pub publisher: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// An allow or block list as Azure showed it: its entries, or an answer of
/// another shape, kept with what it was so that nothing is judged from it.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionList {
    Entries(Vec<ConfigurationExtension>),
    Malformed(String),
}

/// A list of `{publisher, type}` objects; `null` is no answer, any other
/// shape an answer that says nothing (never an error for the whole machine).
fn extension_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ExtensionList>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Array(_)) => Some(
            serde_json::from_value::<Vec<ConfigurationExtension>>(v.clone()).map_or_else(
                |_| ExtensionList::Malformed(crate::text::one_line(&v.to_string())),
                ExtensionList::Entries,
            ),
        ),
        Some(other) => Some(ExtensionList::Malformed(crate::text::one_line(
            &other.to_string(),
        ))),
    })
}

/// A setting the spec gives as a string (`"true"`), also accepted as a boolean.
fn text_or_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

impl AgentConfiguration {
    /// Whether any field was given (Resource Graph projects every column,
    /// empty when the machine has none).
    /// The agent runs in monitor mode (`config.mode monitor`).
    pub fn monitor_mode(&self) -> bool {
        self.config_mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("monitor"))
    }

    fn says_something(&self) -> bool {
        self.incoming_connections_ports.is_some()
            || self.config_mode.is_some()
            || self.extensions_enabled.is_some()
            || self.extensions_allow_list.is_some()
            || self.extensions_block_list.is_some()
            || self.guest_configuration_enabled.is_some()
            || self.proxy_url.is_some()
    }
}

/// An Arc virtual machine (`Microsoft.ConnectedVMwarevSphere`, `Microsoft.ScVmm`
/// or `Microsoft.AzureStackHCI` `virtualMachines`) as its own provider shows
/// it: the OS type in `osProfile` (where the Azure CLI's ssh extension reads
/// it) and, where there is one, the guest agent's status and version. No
/// `agentConfiguration`: the Connected Machine agent's settings are not on it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ArcVm {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    #[serde(deserialize_with = "tags")]
    pub tags: std::collections::BTreeMap<String, String>,
    pub properties: ArcVmProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ArcVmProperties {
    pub os_profile: Option<ArcVmOsProfile>,
    pub guest_agent_profile: Option<GuestAgentProfile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ArcVmOsProfile {
    pub os_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GuestAgentProfile {
    pub status: Option<String>,
    pub agent_version: Option<String>,
    pub last_status_change: Option<String>,
}

impl ArcVm {
    /// The machine the checks read: its OS, tags and location, the guest
    /// agent's status where Azure shows one, and no agent configuration.
    // The rest of the machine's fields stay at their default as fields are added.
    #[allow(clippy::needless_update)]
    pub fn into_machine(self) -> Machine {
        let agent = self.properties.guest_agent_profile.unwrap_or_default();
        Machine {
            id: self.id,
            name: self.name,
            location: self.location,
            tags: self.tags,
            properties: MachineProperties {
                status: agent.status,
                os_type: self.properties.os_profile.and_then(|o| o.os_type),
                agent_version: agent.agent_version,
                last_status_change: agent.last_status_change,
                agent_configuration: None,
                ..MachineProperties::default()
            },
        }
    }
}

impl Machine {
    pub fn is_windows(&self) -> bool {
        self.properties
            .os_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("windows"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Provider {
    pub registration_state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceConfiguration {
    pub properties: ServiceConfigurationProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceConfigurationProperties {
    pub service_name: Option<String>,
    /// An integer, though the article's PowerShell sample sends a string.
    #[serde(default, deserialize_with = "int_or_string")]
    pub port: Option<u64>,
    pub provisioning_state: Option<String>,
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Extension {
    /// Validated: a name against ARM's rules makes the list an invalid answer.
    pub name: Option<crate::target::ArmName>,
    pub properties: ExtensionProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExtensionProperties {
    pub publisher: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub provisioning_state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// `nextLink`; PolicyInsights says `@odata.nextLink`.
    #[serde(default, alias = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RoleAssignment {
    pub properties: RoleAssignmentProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    pub role_definition_id: Option<String>,
    pub principal_id: Option<String>,
    pub scope: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_integers_or_strings() {
        let a: ServiceConfiguration =
            serde_json::from_str(r#"{"properties":{"serviceName":"SSH","port":22}}"#).unwrap();
        let b: ServiceConfiguration =
            serde_json::from_str(r#"{"properties":{"serviceName":"SSH","port":"2222"}}"#).unwrap();
        let c: ServiceConfiguration =
            serde_json::from_str(r#"{"properties":{"port":null}}"#).unwrap();
        assert_eq!(
            (a.properties.port, b.properties.port, c.properties.port),
            (Some(22), Some(2222), None)
        );
    }

    #[test]
    fn the_official_arc_vm_examples_read_as_machines_without_agent_settings() {
        let body = |text: &str| {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let vm: ArcVm = serde_json::from_value(v["responses"]["200"]["body"].clone()).unwrap();
            vm.into_machine()
        };
        for text in [
            include_str!(
                "../../tests/data/arc-vms/connectedvmware/2023-10-01/GetVirtualMachine.json"
            ),
            include_str!(
                "../../tests/data/arc-vms/scvmm/2020-06-05-preview/GetVirtualMachine.json"
            ),
        ] {
            let m = body(text);
            assert_eq!(m.name.as_deref(), Some("DemoVM"));
            assert_eq!(m.location.as_deref(), Some("East US"));
            // osProfile.osType, where the ssh extension reads it.
            assert!(m.is_windows());
            // No guest agent in the example: no status is made up.
            assert!(m.properties.status.is_none());
            assert!(m.properties.agent_configuration.is_none());
        }
        let hci = body(include_str!(
            "../../tests/data/arc-vms/azurestackhci/2022-12-15-preview/GetVirtualMachine.json"
        ));
        assert_eq!(hci.name.as_deref(), Some("test-vm"));
        assert!(hci.properties.os_type.is_none());
        // A guest agent's status, where the VM shows one.
        let vm: ArcVm = serde_json::from_value(serde_json::json!({
            "properties": {"osProfile": {"osType": "Linux"},
                "guestAgentProfile": {"status": "Disconnected", "agentVersion": "1.30.0.0"}}
        }))
        .unwrap();
        let m = vm.into_machine();
        assert_eq!(m.properties.status.as_deref(), Some("Disconnected"));
        assert_eq!(m.properties.agent_version.as_deref(), Some("1.30.0.0"));
        assert!(!m.is_windows());
    }

    #[test]
    fn the_official_machine_example_parses() {
        let text = include_str!("../../tests/data/arm/hybridcompute/2025-01-13/Machines_Get.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let m: Machine = serde_json::from_value(v["responses"]["200"]["body"].clone()).unwrap();
        assert_eq!(m.name.as_deref(), Some("myMachine"));
        assert_eq!(m.location.as_deref(), Some("eastus2euap"));
        assert!(m.properties.status.is_none());
    }
}

/// One subscription of `GET /subscriptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub subscription_id: Option<String>,
    pub display_name: Option<String>,
    pub state: Option<String>,
}

/// A Resource Graph answer (`QueryResponse`), rows as objects.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GraphPage<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default, rename = "$skipToken")]
    pub skip_token: Option<String>,
    /// The string `"true"` when the answer was cut short.
    #[serde(default, rename = "resultTruncated")]
    pub result_truncated: Option<String>,
    /// How many rows the query has in all, over every page.
    #[serde(default, rename = "totalRecords")]
    pub total_records: Option<u64>,
}

/// A machine as arcfix's Resource Graph query projects it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GraphMachine {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: std::collections::BTreeMap<String, String>,
    pub status: Option<String>,
    pub os_type: Option<String>,
    pub agent_version: Option<String>,
    pub last_status_change: Option<String>,
    /// `properties.agentConfiguration`, whole: the same object a GET shows.
    pub agent_configuration: Option<AgentConfiguration>,
}

impl GraphMachine {
    /// The machine as a GET would have shown the fields arcfix reads.
    // The rest of the machine's fields stay at their default as fields are added.
    #[allow(clippy::needless_update)]
    pub fn into_machine(self) -> Machine {
        let blank = |s: Option<String>| s.filter(|s| !s.is_empty());
        Machine {
            id: self.id,
            name: self.name,
            location: blank(self.location),
            tags: self.tags,
            properties: MachineProperties {
                status: blank(self.status),
                os_type: blank(self.os_type),
                agent_version: blank(self.agent_version),
                last_status_change: blank(self.last_status_change),
                agent_configuration: self
                    .agent_configuration
                    .filter(AgentConfiguration::says_something),
            },
        }
    }
}
