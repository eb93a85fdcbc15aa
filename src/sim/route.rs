//! ARM paths to operations, matched case-insensitively as ARM does; names keep
//! the spelling of the request so lookups can be case-insensitive too.

/// A machine named by a request (spelling as sent), of one of the Arc
/// resource types `az ssh arc --resource-type` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineRef {
    pub sub: String,
    pub rg: String,
    pub name: String,
    pub kind: ArcType,
}

/// The Arc resource types SSH through Arc reaches: an Arc-enabled server
/// (`Microsoft.HybridCompute/machines`) and the Arc virtual machines of
/// VMware vSphere, SCVMM and Azure Stack HCI, each with its own provider.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub(crate) enum ArcType {
    #[default]
    #[serde(rename = "Microsoft.HybridCompute/machines")]
    Machine,
    #[serde(rename = "Microsoft.ConnectedVMwarevSphere/virtualMachines")]
    Vmware,
    #[serde(rename = "Microsoft.ScVmm/virtualMachines")]
    Scvmm,
    #[serde(rename = "Microsoft.AzureStackHCI/virtualMachines")]
    Hci,
}

impl ArcType {
    pub const ALL: [ArcType; 4] = [
        ArcType::Machine,
        ArcType::Vmware,
        ArcType::Scvmm,
        ArcType::Hci,
    ];

    pub fn namespace(self) -> &'static str {
        match self {
            ArcType::Machine => "Microsoft.HybridCompute",
            ArcType::Vmware => "Microsoft.ConnectedVMwarevSphere",
            ArcType::Scvmm => "Microsoft.ScVmm",
            ArcType::Hci => "Microsoft.AzureStackHCI",
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            ArcType::Machine => "machines",
            _ => "virtualMachines",
        }
    }

    /// `Microsoft.ConnectedVMwarevSphere/virtualMachines`.
    pub fn full(self) -> String {
        format!("{}/{}", self.namespace(), self.type_name())
    }

    /// The type of `{namespace}/{type}`, in any casing.
    pub fn of(namespace: &str, type_name: &str) -> Option<ArcType> {
        ArcType::ALL.into_iter().find(|t| {
            t.namespace().eq_ignore_ascii_case(namespace)
                && t.type_name().eq_ignore_ascii_case(type_name)
        })
    }

    /// The type named in full (`Microsoft.ScVmm/virtualMachines`), in any casing.
    pub fn parse(full: &str) -> Option<ArcType> {
        let (ns, ty) = full.split_once('/')?;
        ArcType::of(ns, ty)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Entra token endpoint, `POST /{tenant}/oauth2/v2.0/token`.
    Token {
        tenant: String,
    },
    /// Resource Graph, `POST /providers/Microsoft.ResourceGraph/resources`.
    Graph,
    Subscriptions,
    Subscription {
        sub: String,
    },
    Providers {
        sub: String,
    },
    /// `action` is `register` or `unregister` for the POSTs.
    Provider {
        sub: String,
        ns: String,
        action: Option<String>,
    },
    ResourceGroups {
        sub: String,
    },
    ResourceGroup {
        sub: String,
        rg: String,
    },
    MachinesInSub {
        sub: String,
    },
    MachinesInRg {
        sub: String,
        rg: String,
    },
    Machine {
        m: MachineRef,
    },
    Extensions {
        m: MachineRef,
    },
    Extension {
        m: MachineRef,
        name: String,
    },
    RunCommands {
        m: MachineRef,
    },
    RunCommand {
        m: MachineRef,
        name: String,
    },
    Endpoints {
        m: MachineRef,
    },
    Endpoint {
        m: MachineRef,
        name: String,
    },
    /// `listCredentials`, `listIngressGatewayCredentials`, `listManagedProxyDetails`.
    EndpointAction {
        m: MachineRef,
        endpoint: String,
        action: EndpointAction,
    },
    ServiceConfigs {
        m: MachineRef,
        endpoint: String,
    },
    ServiceConfig {
        m: MachineRef,
        endpoint: String,
        name: String,
    },
    /// An LRO status (`operationStatus`) or result (`operationResults`) URL.
    Operation {
        sub: String,
        location: String,
        id: String,
        result: bool,
    },
    /// `{scope}/providers/Microsoft.Authorization/...`; `scope` is the path before it.
    Permissions {
        scope: String,
    },
    RoleAssignments {
        scope: String,
    },
    RoleAssignment {
        scope: String,
        name: String,
    },
    RoleDefinitions {
        scope: String,
    },
    RoleDefinition {
        scope: String,
        id: String,
    },
    /// Azure Policy's resources, at the scope before `/providers/Microsoft.Authorization`.
    PolicyDefinition {
        scope: String,
        name: String,
    },
    PolicySetDefinition {
        scope: String,
        name: String,
    },
    PolicyAssignment {
        scope: String,
        name: String,
    },
    /// `{scope}/providers/Microsoft.PolicyInsights/policyStates/{latest|default}/queryResults`,
    /// or `.../policyStates/latest/summarize` (`summarize` true).
    PolicyStates {
        scope: String,
        resource: String,
        summarize: bool,
    },
    Remediations {
        scope: String,
    },
    Remediation {
        scope: String,
        name: String,
    },
    /// `POST .../remediations/{name}/listDeployments`.
    RemediationDeployments {
        scope: String,
        name: String,
    },
    /// `POST {scope}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation`.
    PolicyEvaluationTrigger {
        scope: String,
    },
    /// `GET {scope}/providers/Microsoft.PolicyInsights/asyncOperationResults/{id}`:
    /// the `Location` a trigger answers.
    PolicyEvaluationResult {
        scope: String,
        id: String,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointAction {
    Credentials,
    IngressGatewayCredentials,
    ManagedProxyDetails,
}

impl EndpointAction {
    pub fn name(self) -> &'static str {
        match self {
            EndpointAction::Credentials => "listCredentials",
            EndpointAction::IngressGatewayCredentials => "listIngressGatewayCredentials",
            EndpointAction::ManagedProxyDetails => "listManagedProxyDetails",
        }
    }
}

/// Splits a path into percent-decoded segments; empty segments (from `//` or a
/// trailing `/`) are dropped.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse(path: &str) -> Route {
    let s = segments(path);
    let l: Vec<String> = s.iter().map(|x| x.to_ascii_lowercase()).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();

    if l.len() == 4 && l[1..] == ["oauth2", "v2.0", "token"] {
        return Route::Token {
            tenant: s[0].clone(),
        };
    }
    if l == ["providers", "microsoft.resourcegraph", "resources"] {
        return Route::Graph;
    }
    // Authorization is an extension of any scope: cut at its last mention.
    if let Some(i) = (0..l.len().saturating_sub(1))
        .rev()
        .find(|&i| l[i] == "providers" && l[i + 1] == "microsoft.authorization")
    {
        let scope = if i == 0 {
            "/".to_string()
        } else {
            format!("/{}", s[..i].join("/"))
        };
        return match &l[i + 2..] {
            ["permissions"] => Route::Permissions { scope },
            ["roleassignments"] => Route::RoleAssignments { scope },
            ["roleassignments", _] => Route::RoleAssignment {
                scope,
                name: s[i + 3].clone(),
            },
            ["roledefinitions"] => Route::RoleDefinitions { scope },
            ["roledefinitions", _] => Route::RoleDefinition {
                scope,
                id: s[i + 3].clone(),
            },
            ["policydefinitions", _] => Route::PolicyDefinition {
                scope,
                name: s[i + 3].clone(),
            },
            ["policysetdefinitions", _] => Route::PolicySetDefinition {
                scope,
                name: s[i + 3].clone(),
            },
            ["policyassignments", _] => Route::PolicyAssignment {
                scope,
                name: s[i + 3].clone(),
            },
            _ => Route::Unknown,
        };
    }
    // Policy Insights likewise.
    if let Some(i) = (0..l.len().saturating_sub(1))
        .rev()
        .find(|&i| l[i] == "providers" && l[i + 1] == "microsoft.policyinsights")
    {
        let scope = format!("/{}", s[..i].join("/"));
        return match &l[i + 2..] {
            ["policystates", resource, "queryresults"] => Route::PolicyStates {
                scope,
                resource: resource.to_string(),
                summarize: false,
            },
            ["policystates", resource, "summarize"] => Route::PolicyStates {
                scope,
                resource: resource.to_string(),
                summarize: true,
            },
            ["remediations"] => Route::Remediations { scope },
            ["remediations", _] => Route::Remediation {
                scope,
                name: s[i + 3].clone(),
            },
            ["remediations", _, "listdeployments"] => Route::RemediationDeployments {
                scope,
                name: s[i + 3].clone(),
            },
            ["policystates", "latest", "triggerevaluation"] => {
                Route::PolicyEvaluationTrigger { scope }
            }
            ["asyncoperationresults", _] => Route::PolicyEvaluationResult {
                scope,
                id: s[i + 3].clone(),
            },
            _ => Route::Unknown,
        };
    }
    if l.first() != Some(&"subscriptions") {
        return Route::Unknown;
    }
    if l.len() == 1 {
        return Route::Subscriptions;
    }
    let sub = s[1].clone();
    match &l[2..] {
        [] => Route::Subscription { sub },
        ["providers"] => Route::Providers { sub },
        ["providers", "microsoft.hybridcompute", "machines"] => Route::MachinesInSub { sub },
        [
            "providers",
            "microsoft.hybridcompute",
            "locations",
            _,
            kind,
            _,
        ] if ["operationstatus", "operationstatuses", "operationresults"].contains(kind) => {
            Route::Operation {
                sub,
                location: s[5].clone(),
                id: s[7].clone(),
                result: *kind == "operationresults",
            }
        }
        ["providers", _] => Route::Provider {
            sub,
            ns: s[3].clone(),
            action: None,
        },
        ["providers", _, action] if *action == "register" || *action == "unregister" => {
            Route::Provider {
                sub,
                ns: s[3].clone(),
                action: Some(action.to_string()),
            }
        }
        ["resourcegroups"] => Route::ResourceGroups { sub },
        ["resourcegroups", _] => Route::ResourceGroup {
            sub,
            rg: s[3].clone(),
        },
        [
            "resourcegroups",
            _,
            "providers",
            "microsoft.hybridcompute",
            "machines",
        ] => Route::MachinesInRg {
            sub,
            rg: s[3].clone(),
        },
        ["resourcegroups", _, "providers", ns, ty, _, rest @ ..] => {
            let Some(kind) = ArcType::of(ns, ty) else {
                return Route::Unknown;
            };
            let m = MachineRef {
                sub,
                rg: s[3].clone(),
                name: s[7].clone(),
                kind,
            };
            // Extensions and run commands are the Connected Machine agent's:
            // an Arc-enabled server's only.
            if kind != ArcType::Machine
                && matches!(rest.first(), Some(&"extensions") | Some(&"runcommands"))
            {
                return Route::Unknown;
            }
            machine_child(m, rest, &s[8..])
        }
        _ => Route::Unknown,
    }
}

/// Routes below a machine; `l` is lower case, `s` the same segments as sent.
fn machine_child(m: MachineRef, l: &[&str], s: &[String]) -> Route {
    match l {
        [] => Route::Machine { m },
        ["extensions"] => Route::Extensions { m },
        ["extensions", _] => Route::Extension {
            m,
            name: s[1].clone(),
        },
        ["runcommands"] => Route::RunCommands { m },
        ["runcommands", _] => Route::RunCommand {
            m,
            name: s[1].clone(),
        },
        ["providers", "microsoft.hybridconnectivity", "endpoints"] => Route::Endpoints { m },
        ["providers", "microsoft.hybridconnectivity", "endpoints", _] => Route::Endpoint {
            m,
            name: s[3].clone(),
        },
        [
            "providers",
            "microsoft.hybridconnectivity",
            "endpoints",
            _,
            "serviceconfigurations",
        ] => Route::ServiceConfigs {
            m,
            endpoint: s[3].clone(),
        },
        [
            "providers",
            "microsoft.hybridconnectivity",
            "endpoints",
            _,
            "serviceconfigurations",
            _,
        ] => Route::ServiceConfig {
            m,
            endpoint: s[3].clone(),
            name: s[5].clone(),
        },
        [
            "providers",
            "microsoft.hybridconnectivity",
            "endpoints",
            _,
            action,
        ] => {
            let action = match *action {
                "listcredentials" => EndpointAction::Credentials,
                "listingressgatewaycredentials" => EndpointAction::IngressGatewayCredentials,
                "listmanagedproxydetails" => EndpointAction::ManagedProxyDetails,
                _ => return Route::Unknown,
            };
            Route::EndpointAction {
                m,
                endpoint: s[3].clone(),
                action,
            }
        }
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::{ArcType, EndpointAction, MachineRef, Route, parse};

    const M: &str =
        "/subscriptions/S/resourceGroups/RG/providers/Microsoft.HybridCompute/machines/M";

    fn m() -> MachineRef {
        MachineRef {
            sub: "S".into(),
            rg: "RG".into(),
            name: "M".into(),
            kind: ArcType::Machine,
        }
    }

    #[test]
    fn arc_virtual_machines_are_routed_with_their_type() {
        let vm = |kind| MachineRef {
            sub: "S".into(),
            rg: "RG".into(),
            name: "V".into(),
            kind,
        };
        for (ty, kind) in [
            (
                "Microsoft.ConnectedVMwarevSphere/virtualMachines",
                ArcType::Vmware,
            ),
            ("microsoft.scvmm/VIRTUALMACHINES", ArcType::Scvmm),
            ("Microsoft.AzureStackHCI/virtualMachines", ArcType::Hci),
        ] {
            let id = format!("/subscriptions/S/resourceGroups/RG/providers/{ty}/V");
            assert_eq!(parse(&id), Route::Machine { m: vm(kind) });
            assert_eq!(
                parse(&format!(
                    "{id}/providers/Microsoft.HybridConnectivity/endpoints/default"
                )),
                Route::Endpoint {
                    m: vm(kind),
                    name: "default".into()
                }
            );
            // No agent extensions or run commands on an Arc VM here.
            assert_eq!(parse(&format!("{id}/runCommands/x")), Route::Unknown);
            assert_eq!(parse(&format!("{id}/extensions")), Route::Unknown);
        }
        assert_eq!(
            parse(
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/V"
            ),
            Route::Unknown
        );
    }

    #[test]
    fn routes_ignore_case_and_keep_names() {
        assert_eq!(parse(M), Route::Machine { m: m() });
        assert_eq!(
            parse(
                "/SUBSCRIPTIONS/S/resourcegroups/RG/PROVIDERS/microsoft.hybridcompute/Machines/M/"
            ),
            Route::Machine { m: m() }
        );
        assert_eq!(
            parse(&format!(
                "{M}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceconfigurations/SSH"
            )),
            Route::ServiceConfig {
                m: m(),
                endpoint: "default".into(),
                name: "SSH".into()
            }
        );
        assert_eq!(
            parse(&format!(
                "{M}/providers/Microsoft.HybridConnectivity/endpoints/default/listCredentials"
            )),
            Route::EndpointAction {
                m: m(),
                endpoint: "default".into(),
                action: EndpointAction::Credentials
            }
        );
        assert_eq!(
            parse(&format!("{M}/runCommands/x")),
            Route::RunCommand {
                m: m(),
                name: "x".into()
            }
        );
    }

    #[test]
    fn authorization_hangs_off_any_scope() {
        assert_eq!(
            parse(&format!(
                "{M}/providers/Microsoft.Authorization/permissions"
            )),
            Route::Permissions { scope: M.into() }
        );
        assert_eq!(
            parse("/providers/Microsoft.Authorization/roleDefinitions/abc"),
            Route::RoleDefinition {
                scope: "/".into(),
                id: "abc".into()
            }
        );
        assert_eq!(
            parse("/subscriptions/S/providers/Microsoft.Authorization/roleAssignments/n%2D1"),
            Route::RoleAssignment {
                scope: "/subscriptions/S".into(),
                name: "n-1".into()
            }
        );
    }

    #[test]
    fn providers_tokens_graph_and_operations() {
        assert_eq!(
            parse("/subscriptions/S/providers/Microsoft.HybridConnectivity/register"),
            Route::Provider {
                sub: "S".into(),
                ns: "Microsoft.HybridConnectivity".into(),
                action: Some("register".into())
            }
        );
        assert_eq!(
            parse("/t/oauth2/v2.0/token"),
            Route::Token { tenant: "t".into() }
        );
        assert_eq!(
            parse("/providers/Microsoft.ResourceGraph/resources"),
            Route::Graph
        );
        assert_eq!(
            parse(
                "/subscriptions/S/providers/Microsoft.HybridCompute/locations/eastus/operationStatus/op1"
            ),
            Route::Operation {
                sub: "S".into(),
                location: "eastus".into(),
                id: "op1".into(),
                result: false
            }
        );
        assert_eq!(parse("/nothing/here"), Route::Unknown);
        assert_eq!(
            parse(
                "/subscriptions/S/providers/Microsoft.PolicyInsights/policyStates/latest/summarize"
            ),
            Route::PolicyStates {
                scope: "/subscriptions/S".into(),
                resource: "latest".into(),
                summarize: true
            }
        );
        assert_eq!(
            parse(
                "/subscriptions/S/resourceGroups/RG/providers/microsoft.policyinsights/REMEDIATIONS/r1"
            ),
            Route::Remediation {
                scope: "/subscriptions/S/resourceGroups/RG".into(),
                name: "r1".into()
            }
        );
    }
}
