//! One predicate per goal of an automatic Azure fix. Detection (on the facts
//! read for the diagnosis) and the step's re-check and verification (on a
//! read made right before and after acting) call the same function, so they
//! cannot disagree on what "fixed" means.

use crate::azure::models::{
    AgentConfiguration, ConfigurationExtension, Extension, ExtensionList, Provider,
    ServiceConfiguration,
};
use crate::checks::seen::{Seen, Why};

/// The resource provider is Registered (`register-hybridconnectivity`).
pub fn provider_registered(p: &Provider) -> bool {
    p.registration_state.as_deref().is_some_and(registered)
}

/// A registration state that is Registered.
pub fn registered(state: &str) -> bool {
    state.eq_ignore_ascii_case("Registered")
}

/// The SSH service configuration is provisioned (a configuration without a
/// state is taken as it is: older api-versions do not report one).
fn provisioned(c: &ServiceConfiguration) -> bool {
    c.properties
        .provisioning_state
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
}

/// The SSH service configuration serves `port` (`enable-ssh-port`); with
/// `any_port` (no `--port` chosen) one on another port is left as it is, so
/// it counts as met too.
pub fn ssh_config(c: &ServiceConfiguration, port: u16, any_port: bool) -> bool {
    match c.properties.port {
        Some(p) if p == port as u64 => provisioned(c),
        Some(_) => any_port,
        None => false,
    }
}

/// The extension is provisioned (`install-entra-extension`).
pub fn extension_succeeded(e: &Extension) -> bool {
    e.properties
        .provisioning_state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
}

/// The agent's rules for installing extensions, as Azure shows them
/// (`agentConfiguration`): each setting seen, or unknown with why.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionRules {
    /// `extensions.enabled`.
    pub enabled: Seen<bool>,
    /// `extensions.allowlist`: empty when none is configured.
    pub allow: Seen<Vec<ConfigurationExtension>>,
    /// `extensions.blocklist`: empty when none is configured.
    pub block: Seen<Vec<ConfigurationExtension>>,
}

/// Why the agent refuses to install an extension (Microsoft's "Extensions
/// security" article: an allow list admits only its entries, a block list
/// refuses its entries, an extension in both is refused, and with no list
/// every extension is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `extensions.enabled` is false: the extension manager installs nothing.
    Disabled,
    /// An allow list is configured and does not name it.
    NotAllowListed,
    /// The block list names it.
    BlockListed,
}

impl ExtensionRules {
    /// Reads the rules from the machine's `agentConfiguration` (absent or
    /// of another shape: unknown, never "no list").
    pub fn of(c: Option<&AgentConfiguration>) -> ExtensionRules {
        fn unread<T>(what: &str) -> Seen<T> {
            Seen::Unknown(Why::Unread(format!(
                "Azure's answer has no agentConfiguration.{what}"
            )))
        }
        let enabled = match c
            .and_then(|c| c.extensions_enabled.as_deref())
            .map(str::trim)
        {
            Some(t) if t.eq_ignore_ascii_case("true") => Seen::There(true),
            Some(t) if t.eq_ignore_ascii_case("false") => Seen::There(false),
            _ => unread("extensionsEnabled"),
        };
        let list = |l: Option<&ExtensionList>, what: &str| match l {
            Some(ExtensionList::Entries(e)) => Seen::There(e.clone()),
            Some(ExtensionList::Malformed(v)) => Seen::Unknown(Why::Unread(format!(
                "agentConfiguration.{what} in Azure's answer is not a list of extensions: {}",
                crate::text::sanitize(v)
            ))),
            None => unread(what),
        };
        ExtensionRules {
            enabled,
            allow: list(
                c.and_then(|c| c.extensions_allow_list.as_ref()),
                "extensionsAllowList",
            ),
            block: list(
                c.and_then(|c| c.extensions_block_list.as_ref()),
                "extensionsBlockList",
            ),
        }
    }

    /// Why the agent refuses `publisher/kind`, from the settings seen (an
    /// unknown one refuses nothing).
    pub fn refusals(&self, publisher: &str, kind: &str) -> Vec<Refusal> {
        let mut why = Vec::new();
        if self.enabled == Seen::There(false) {
            why.push(Refusal::Disabled);
        }
        if let Seen::There(allow) = &self.allow
            && !allow.is_empty()
            && !allow.iter().any(|e| names(e, publisher, kind))
        {
            why.push(Refusal::NotAllowListed);
        }
        if let Seen::There(block) = &self.block
            && block.iter().any(|e| names(e, publisher, kind))
        {
            why.push(Refusal::BlockListed);
        }
        why
    }

    /// The agent installs `publisher/kind`: every setting was seen and none
    /// refuses it.
    pub fn installs(&self, publisher: &str, kind: &str) -> bool {
        matches!(
            (&self.enabled, &self.allow, &self.block),
            (Seen::There(true), Seen::There(_), Seen::There(_))
        ) && self.refusals(publisher, kind).is_empty()
    }
}

/// A list entry names the extension. Microsoft's docs give no case rule;
/// ARM treats publisher and type names without case, and so does this.
fn names(e: &ConfigurationExtension, publisher: &str, kind: &str) -> bool {
    let same = |a: &Option<String>, b: &str| {
        a.as_deref()
            .is_some_and(|a| a.trim().eq_ignore_ascii_case(b))
    };
    same(&e.publisher, publisher) && same(&e.kind, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(port: Option<u64>, state: Option<&str>) -> ServiceConfiguration {
        serde_json::from_value(serde_json::json!({
            "properties": {"serviceName": "SSH", "port": port, "provisioningState": state}
        }))
        .unwrap()
    }

    #[test]
    fn a_service_configuration_meets_its_goal_only_provisioned_on_the_port() {
        assert!(ssh_config(&config(Some(22), Some("Succeeded")), 22, false));
        assert!(ssh_config(&config(Some(22), None), 22, false));
        assert!(!ssh_config(&config(Some(22), Some("Failed")), 22, false));
        assert!(!ssh_config(
            &config(Some(2222), Some("Succeeded")),
            22,
            false
        ));
        // No port chosen: another port is left as it is.
        assert!(ssh_config(&config(Some(2222), Some("Failed")), 22, true));
        assert!(!ssh_config(&config(None, Some("Succeeded")), 22, true));
    }

    fn rules(v: serde_json::Value) -> ExtensionRules {
        let c: AgentConfiguration = serde_json::from_value(v).unwrap();
        ExtensionRules::of(Some(&c))
    }

    const ENTRA: (&str, &str) = ("Microsoft.Azure.ActiveDirectory", "AADSSHLoginForLinux");

    #[test]
    fn the_agent_refuses_an_extension_as_its_lists_say() {
        let entra = |r: &ExtensionRules| r.refusals(ENTRA.0, ENTRA.1);
        let open = rules(
            serde_json::json!({"extensionsEnabled": "true", "extensionsAllowList": [], "extensionsBlockList": []}),
        );
        assert_eq!(entra(&open), []);
        assert!(open.installs(ENTRA.0, ENTRA.1));
        let off = rules(
            serde_json::json!({"extensionsEnabled": "false", "extensionsAllowList": [], "extensionsBlockList": []}),
        );
        assert_eq!(entra(&off), [Refusal::Disabled]);
        let monitor_only = rules(serde_json::json!({"extensionsEnabled": "true",
            "extensionsAllowList": [{"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent"}],
            "extensionsBlockList": []}));
        assert_eq!(entra(&monitor_only), [Refusal::NotAllowListed]);
        // Allowed, spelled in another case, and blocked too: in both lists, refused.
        let both = rules(serde_json::json!({"extensionsEnabled": "True",
            "extensionsAllowList": [{"publisher": "microsoft.azure.activedirectory", "type": "aadsshloginforlinux"}],
            "extensionsBlockList": [{"publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux"}]}));
        assert_eq!(entra(&both), [Refusal::BlockListed]);
        assert!(!both.installs(ENTRA.0, ENTRA.1));
        // "Allow/None" admits nothing.
        let none = rules(serde_json::json!({"extensionsEnabled": "true",
            "extensionsAllowList": [{"publisher": "Allow", "type": "None"}], "extensionsBlockList": []}));
        assert_eq!(entra(&none), [Refusal::NotAllowListed]);
    }

    #[test]
    fn unread_or_odd_settings_refuse_nothing_and_allow_nothing() {
        // The official example: lists null.
        let text =
            include_str!("../../../tests/data/arm/hybridcompute/2025-01-13/Machines_Get.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let m: crate::azure::models::Machine =
            serde_json::from_value(v["responses"]["200"]["body"].clone()).unwrap();
        let r = ExtensionRules::of(m.properties.agent_configuration.as_ref());
        assert_eq!(r.enabled, Seen::There(true));
        assert!(matches!(r.allow, Seen::Unknown(Why::Unread(_))), "{r:?}");
        assert_eq!(r.refusals(ENTRA.0, ENTRA.1), []);
        assert!(!r.installs(ENTRA.0, ENTRA.1));
        let odd = rules(
            serde_json::json!({"extensionsEnabled": "maybe", "extensionsAllowList": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent", "extensionsBlockList": [1]}),
        );
        assert_eq!(odd.refusals(ENTRA.0, ENTRA.1), []);
        assert!(
            matches!(&odd.allow, Seen::Unknown(Why::Unread(w)) if w.contains("not a list")),
            "{odd:?}"
        );
        assert!(matches!(odd.block, Seen::Unknown(_)));
        assert!(matches!(odd.enabled, Seen::Unknown(_)));
        assert_eq!(ExtensionRules::of(None).refusals(ENTRA.0, ENTRA.1), []);
    }

    #[test]
    fn registered_and_succeeded_are_read_without_case() {
        let p: Provider =
            serde_json::from_value(serde_json::json!({"registrationState": "registered"})).unwrap();
        assert!(provider_registered(&p));
        let p: Provider =
            serde_json::from_value(serde_json::json!({"registrationState": "Registering"}))
                .unwrap();
        assert!(!provider_registered(&p));
        let e: Extension = serde_json::from_value(
            serde_json::json!({"properties": {"provisioningState": "SUCCEEDED"}}),
        )
        .unwrap();
        assert!(extension_succeeded(&e));
    }
}
