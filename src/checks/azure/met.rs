//! One predicate per goal of an automatic Azure fix. Detection (on the facts
//! read for the diagnosis) and the step's re-check and verification (on a
//! read made right before and after acting) call the same function, so they
//! cannot disagree on what "fixed" means.

use crate::azure::models::{Extension, Provider, ServiceConfiguration};

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
