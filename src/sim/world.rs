//! The simulator's live state, built from a scenario and changed by requests,
//! and how each resource renders as ARM JSON (shapes of the official examples,
//! ids in the canonical casing the resource was created with).

use serde_json::{Map, Value, json};

use crate::sim::IssuedCredential;
use crate::sim::rbac;
use crate::sim::route::ArcType;
use crate::sim::scenario::{Principal, Scenario, UnregisteredError};
use crate::sim::server::{Outcome, Server, ServerKind, run_script};

pub(crate) const HYBRID_COMPUTE: &str = "Microsoft.HybridCompute";
pub(crate) const HYBRID_CONNECTIVITY: &str = "Microsoft.HybridConnectivity";
const GRAPH_QUOTA: u32 = 15;

pub(crate) struct World {
    pub tenant: String,
    pub principals: Vec<Principal>,
    /// (group, direct member) pairs.
    pub memberships: Vec<(String, String)>,
    pub subs: Vec<Sub>,
    pub assignments: Vec<Assignment>,
    /// Relay credentials handed out, in order (for tests to compare with
    /// what a proxy received).
    pub issued: Vec<IssuedCredential>,
    pub ops: Vec<Operation>,
    pub run_command_polls: Option<u32>,
    pub run_command_fail: bool,
    pub extension_polls: Option<u32>,
    pub bare_hybridcompute_errors: bool,
    pub page_size: usize,
    pub graph_page_size: Option<usize>,
    pub graph_ghosts: Vec<String>,
    /// Rows `totalRecords` counts beyond those Resource Graph returns.
    pub graph_overcount: usize,
    pub graph_refused: bool,
    /// The last Resource Graph result set (caller, query, subscriptions), paged
    /// by `$skipToken` continuations.
    #[allow(clippy::type_complexity)]
    pub graph_snapshot: Option<(
        String,
        std::sync::Arc<Vec<serde_json::Map<String, serde_json::Value>>>,
        bool,
    )>,
    /// Resource Graph's per-user quota: window start and queries left in it.
    pub graph_quota: (std::time::Instant, u32),
    /// Azure Policy definitions, sets and assignments written so far.
    pub policy: crate::sim::policy::Store,
    /// New assignments have no states until evaluated (see `Scenario`).
    pub policy_evaluation_pending: bool,
    /// Policy evaluations triggered and not yet polled: (operation id, scope).
    pub policy_scans: Vec<(String, String)>,
    /// Policy remediations, in the order they were created.
    pub remediations: Vec<crate::sim::insights::Remediation>,
}

pub(crate) struct Sub {
    pub id: String,
    pub display_name: String,
    pub providers: Vec<Provider>,
    pub register_polls: Option<u32>,
    pub unregistered_error: UnregisteredError,
    pub rgs: Vec<Rg>,
}

pub(crate) struct Provider {
    pub namespace: String,
    pub state: String,
    /// While `Registering`: GETs left before `Registered` (`None`: never).
    pub polls_left: Option<u32>,
}

pub(crate) struct Rg {
    pub name: String,
    pub location: String,
    pub machines: Vec<Machine>,
}

pub(crate) struct Machine {
    pub name: String,
    /// Its resource type (an Arc-enabled server, or an Arc VM of VMware
    /// vSphere, SCVMM or Azure Stack HCI): its id, payload and provider.
    pub kind: ArcType,
    pub location: String,
    pub status: String,
    pub os_type: String,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub os_sku: Option<String>,
    pub agent_version: String,
    pub last_status_change: String,
    pub tags: Map<String, Value>,
    pub vm_id: String,
    pub identity_principal: String,
    pub endpoints: Vec<Endpoint>,
    pub extensions: Vec<Extension>,
    pub run_commands: Vec<RunCommand>,
    pub server: Server,
}

pub(crate) struct SystemData {
    pub created_by: String,
    pub created_by_type: String,
    pub created_at: String,
    pub modified_by: String,
    pub modified_by_type: String,
    pub modified_at: String,
}

pub(crate) struct Endpoint {
    pub name: String,
    pub kind: String,
    pub resource_id: Option<String>,
    pub configs: Vec<ServiceConfig>,
    pub system: SystemData,
}

pub(crate) struct ServiceConfig {
    pub name: String,
    pub service_name: String,
    pub port: u64,
    pub system: SystemData,
}

pub(crate) struct Extension {
    pub name: String,
    pub location: String,
    pub publisher: String,
    pub extension_type: String,
    pub type_handler_version: String,
    pub auto_upgrade_minor_version: bool,
    pub enable_automatic_upgrade: Option<bool>,
    pub settings: Value,
    pub state: String,
    /// While `Creating`/`Updating`: GETs left before it ends (`None`: never).
    pub polls_left: Option<u32>,
    /// How it ends: `Succeeded`, or `Failed` with a message.
    pub outcome: (String, String),
    pub time: String,
}

pub(crate) struct RunCommand {
    pub name: String,
    pub location: String,
    pub tags: Value,
    /// The request's `properties`, minus what ARM never echoes (`runAsPassword`).
    pub properties: Map<String, Value>,
    pub provisioning_state: String,
    pub execution_state: String,
    pub polls_left: Option<u32>,
    pub op_id: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub outcome: Option<Outcome>,
}

pub(crate) struct Operation {
    pub id: String,
    pub sub: String,
    pub location: String,
    pub start_time: String,
    pub target: OpTarget,
}

pub(crate) enum OpTarget {
    /// A run command being created: its state decides the operation's.
    RunCommand {
        rg: String,
        machine: String,
        name: String,
    },
    /// Finished when it was made (deletes).
    Done { end_time: String },
}

pub(crate) struct Assignment {
    pub name: String,
    pub scope: String,
    pub role_guid: String,
    pub principal: String,
    pub principal_type: String,
    pub created_on: String,
    pub created_by: Option<String>,
}

/// Where a machine sits in the world: subscription, resource group, machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MachineAt(pub usize, pub usize, pub usize);

pub(crate) fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn seeded(by: &str) -> SystemData {
    SystemData {
        created_by: by.to_string(),
        created_by_type: "User".into(),
        created_at: "2025-05-20T10:00:00Z".into(),
        modified_by: by.to_string(),
        modified_by_type: "User".into(),
        modified_at: "2025-05-20T10:00:00Z".into(),
    }
}

impl SystemData {
    pub fn by(who: &str, who_type: &str) -> SystemData {
        let t = now();
        SystemData {
            created_by: who.to_string(),
            created_by_type: who_type.to_string(),
            created_at: t.clone(),
            modified_by: who.to_string(),
            modified_by_type: who_type.to_string(),
            modified_at: t,
        }
    }

    pub fn touch(&mut self, who: &str, who_type: &str) {
        self.modified_by = who.to_string();
        self.modified_by_type = who_type.to_string();
        self.modified_at = now();
    }

    fn to_json(&self) -> Value {
        json!({
            "createdBy": self.created_by,
            "createdByType": self.created_by_type,
            "createdAt": self.created_at,
            "lastModifiedBy": self.modified_by,
            "lastModifiedByType": self.modified_by_type,
            "lastModifiedAt": self.modified_at,
        })
    }
}

impl World {
    pub fn new(s: &Scenario) -> World {
        let seeder = s.caller_principal().upn.clone();
        let subs = s
            .subscriptions
            .iter()
            .map(|sub| {
                let mut providers: Vec<Provider> = sub
                    .providers
                    .iter()
                    .map(|(ns, state)| Provider {
                        namespace: ns.clone(),
                        state: state.clone(),
                        polls_left: Some(0),
                    })
                    .collect();
                // The providers of the Arc VM types the subscription holds.
                let vm_namespaces = sub
                    .resource_groups
                    .iter()
                    .flat_map(|rg| rg.machines.iter())
                    .filter_map(|m| m.kind())
                    .filter(|k| *k != ArcType::Machine)
                    .map(ArcType::namespace);
                let defaults: Vec<&str> = [HYBRID_COMPUTE, HYBRID_CONNECTIVITY]
                    .into_iter()
                    .chain(vm_namespaces)
                    .collect();
                for ns in defaults {
                    if !providers
                        .iter()
                        .any(|p| p.namespace.eq_ignore_ascii_case(ns))
                    {
                        providers.push(Provider {
                            namespace: ns.into(),
                            state: "Registered".into(),
                            polls_left: None,
                        });
                    }
                }
                for p in providers.iter_mut().filter(|p| p.state == "Registering") {
                    p.polls_left = sub.register_polls;
                }
                Sub {
                    id: sub.id.clone(),
                    display_name: sub.display_name.clone(),
                    providers,
                    register_polls: sub.register_polls,
                    unregistered_error: sub.unregistered_error,
                    rgs: sub
                        .resource_groups
                        .iter()
                        .map(|rg| Rg {
                            name: rg.name.clone(),
                            location: rg.location.clone(),
                            machines: rg
                                .machines
                                .iter()
                                .map(|m| machine_from(m, &rg.location, &seeder, s.extension_polls))
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        let assignments = s
            .role_assignments
            .iter()
            .map(|a| {
                let principal = s.principal(&a.principal).expect("validated");
                Assignment {
                    name: a.name.clone().unwrap_or_else(new_guid),
                    scope: a.scope.clone(),
                    role_guid: rbac::role(&a.role).expect("validated").name.clone(),
                    principal: principal.oid.clone(),
                    principal_type: principal.principal_type.clone(),
                    created_on: "2025-05-20T10:00:00Z".into(),
                    created_by: None,
                }
            })
            .collect();
        World {
            tenant: s.tenant.clone(),
            principals: s.principals.clone(),
            memberships: s.memberships(),
            subs,
            assignments,
            issued: Vec::new(),
            ops: Vec::new(),
            run_command_polls: s.run_command_polls,
            run_command_fail: s.run_command_fail,
            extension_polls: s.extension_polls,
            bare_hybridcompute_errors: s.bare_hybridcompute_errors,
            page_size: s.page_size,
            graph_page_size: s.graph_page_size,
            graph_ghosts: s.graph_ghosts.clone(),
            graph_overcount: s.graph_overcount,
            graph_refused: s.graph_refused,
            graph_snapshot: None,
            graph_quota: (std::time::Instant::now(), GRAPH_QUOTA),
            policy: Default::default(),
            policy_evaluation_pending: s.policy_evaluation_pending,
            policy_scans: Vec::new(),
            remediations: Vec::new(),
        }
    }

    /// Takes one Resource Graph query from the caller's quota (15 per 5 s, as
    /// documented) and says how many are left; the simulator does not refuse.
    pub fn graph_quota_take(&mut self) -> u32 {
        if self.graph_quota.0.elapsed() >= std::time::Duration::from_secs(5) {
            self.graph_quota = (std::time::Instant::now(), GRAPH_QUOTA);
        }
        self.graph_quota.1 = self.graph_quota.1.saturating_sub(1);
        self.graph_quota.1
    }

    pub fn principal(&self, oid: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .find(|p| p.oid.eq_ignore_ascii_case(oid))
    }

    /// The principal itself and every group it is in, directly or through
    /// other groups: whose role assignments apply to it.
    pub fn identities(&self, oid: &str) -> Vec<String> {
        let mut found = vec![oid.to_string()];
        let mut i = 0;
        while i < found.len() {
            let member = found[i].clone();
            for (group, m) in &self.memberships {
                if m.eq_ignore_ascii_case(&member)
                    && !found.iter().any(|f| f.eq_ignore_ascii_case(group))
                {
                    found.push(group.clone());
                }
            }
            i += 1;
        }
        found
    }

    pub fn sub_index(&self, sub: &str) -> Option<usize> {
        self.subs
            .iter()
            .position(|s| s.id.eq_ignore_ascii_case(sub))
    }

    pub fn rg_index(&self, sub: &str, rg: &str) -> Option<(usize, usize)> {
        let si = self.sub_index(sub)?;
        let ri = self.subs[si]
            .rgs
            .iter()
            .position(|r| r.name.eq_ignore_ascii_case(rg))?;
        Some((si, ri))
    }

    /// The machine of that type and name (the same name under another
    /// type is another resource).
    pub fn machine_at(&self, sub: &str, rg: &str, kind: ArcType, name: &str) -> Option<MachineAt> {
        let (si, ri) = self.rg_index(sub, rg)?;
        let mi = self.subs[si].rgs[ri]
            .machines
            .iter()
            .position(|m| m.kind == kind && m.name.eq_ignore_ascii_case(name))?;
        Some(MachineAt(si, ri, mi))
    }

    pub fn machine(&self, at: MachineAt) -> &Machine {
        &self.subs[at.0].rgs[at.1].machines[at.2]
    }

    pub fn machine_mut(&mut self, at: MachineAt) -> &mut Machine {
        &mut self.subs[at.0].rgs[at.1].machines[at.2]
    }

    /// The canonical id of the machine at `at`.
    pub fn machine_id(&self, at: MachineAt) -> String {
        let sub = &self.subs[at.0];
        let rg = &sub.rgs[at.1];
        let m = &rg.machines[at.2];
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}",
            sub.id,
            rg.name,
            m.kind.full(),
            m.name
        )
    }

    pub fn provider(&self, si: usize, ns: &str) -> Option<&Provider> {
        self.subs[si]
            .providers
            .iter()
            .find(|p| p.namespace.eq_ignore_ascii_case(ns))
    }

    pub fn is_registered(&self, si: usize, ns: &str) -> bool {
        self.provider(si, ns)
            .is_some_and(|p| p.state == "Registered")
    }

    /// Every machine, in scenario order.
    pub fn all_machines(&self) -> Vec<MachineAt> {
        let mut out = Vec::new();
        for (si, s) in self.subs.iter().enumerate() {
            for (ri, r) in s.rgs.iter().enumerate() {
                for mi in 0..r.machines.len() {
                    out.push(MachineAt(si, ri, mi));
                }
            }
        }
        out
    }

    /// Advances a run command by one observation; it runs its script when
    /// its polls are used up.
    pub fn tick_run_command(&mut self, at: MachineAt, idx: usize) {
        let fail = self.run_command_fail;
        let machine = self.machine_mut(at);
        let rc = &mut machine.run_commands[idx];
        if rc.end_time.is_some() {
            return;
        }
        match rc.polls_left {
            None => {
                rc.execution_state = "Running".into();
                return;
            }
            Some(n) if n > 0 => {
                rc.polls_left = Some(n - 1);
                rc.execution_state = "Running".into();
                return;
            }
            Some(_) => {}
        }
        let script = rc
            .properties
            .get("source")
            .and_then(|s| s.get("script"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let connected = machine.status == "Connected";
        let os_type = machine.os_type.clone();
        let os_sku = machine
            .os_sku
            .clone()
            .unwrap_or_else(|| default_os(&os_type).1.to_string());
        let status = machine.status.clone();
        let outcome = if !connected {
            Outcome::failed(
                "The Azure Connected Machine agent is not connected; the command could not be delivered.",
            )
        } else if fail {
            Outcome::failed("arcfix-sim: this scenario makes every run command fail")
        } else if let Some(script) = script {
            let host = ServerKind {
                os_type: &os_type,
                os_sku: &os_sku,
                agent_status: &status,
            };
            run_script(&mut machine.server, &host, &script)
        } else {
            Outcome::failed(
                "arcfix-sim: only inline scripts (properties.source.script) can be simulated",
            )
        };
        let rc = &mut machine.run_commands[idx];
        rc.execution_state = if outcome.exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        }
        .into();
        rc.provisioning_state = if connected { "Succeeded" } else { "Failed" }.into();
        rc.end_time = Some(now());
        rc.outcome = Some(outcome);
    }

    /// Advances a provisioning extension by one observation.
    pub fn tick_extension(&mut self, at: MachineAt, idx: usize) {
        let ext = &mut self.machine_mut(at).extensions[idx];
        if ext.state != "Creating" && ext.state != "Updating" {
            return;
        }
        match ext.polls_left {
            None => {}
            Some(n) if n > 0 => ext.polls_left = Some(n - 1),
            Some(_) => {
                ext.state = ext.outcome.0.clone();
                ext.time = now();
                let openssh = ext.state == "Succeeded"
                    && ext.publisher.eq_ignore_ascii_case(OPENSSH_PUBLISHER)
                    && ext.extension_type.eq_ignore_ascii_case(OPENSSH_TYPE);
                let machine = self.machine_mut(at);
                if openssh && machine.os_type.eq_ignore_ascii_case("windows") {
                    // Microsoft's WindowsOpenSSH installs the OpenSSH server
                    // and starts it ("OpenSSH Successfully enabled").
                    machine.server.sshd_installed = true;
                    machine.server.sshd_running = true;
                }
            }
        }
    }

    pub fn tick_provider(&mut self, si: usize, ns: &str) {
        if let Some(p) = self.subs[si]
            .providers
            .iter_mut()
            .find(|p| p.namespace.eq_ignore_ascii_case(ns))
            && p.state == "Registering"
        {
            match p.polls_left {
                None => {}
                Some(n) if n > 0 => p.polls_left = Some(n - 1),
                Some(_) => p.state = "Registered".into(),
            }
        }
    }

    #[cfg(any(test, feature = "test-api"))]
    pub fn state_json(&self) -> Value {
        let subs: Vec<Value> = self
            .subs
            .iter()
            .enumerate()
            .map(|(si, s)| {
                let providers: Map<String, Value> =
                    s.providers.iter().map(|p| (p.namespace.clone(), json!(p.state))).collect();
                let rgs: Vec<Value> = s
                    .rgs
                    .iter()
                    .enumerate()
                    .map(|(ri, rg)| {
                        let machines: Vec<Value> = (0..rg.machines.len())
                            .map(|mi| {
                                let at = MachineAt(si, ri, mi);
                                let m = self.machine(at);
                                json!({
                                    "id": self.machine_id(at),
                                    "status": m.status,
                                    "osType": m.os_type,
                                    "endpoints": m.endpoints.iter().map(|e| self.endpoint_json(at, e)).collect::<Vec<_>>(),
                                    "serviceConfigurations": m.endpoints.iter()
                                        .flat_map(|e| e.configs.iter().map(move |c| (e, c)))
                                        .map(|(e, c)| self.service_config_json(at, e, c))
                                        .collect::<Vec<_>>(),
                                    "extensions": m.extensions.iter().map(|e| self.extension_json(at, e)).collect::<Vec<_>>(),
                                    "runCommands": m.run_commands.iter().map(|r| self.run_command_json(at, r)).collect::<Vec<_>>(),
                                    "server": m.server.to_json(&m.os_type),
                                })
                            })
                            .collect();
                        json!({"name": rg.name, "location": rg.location, "machines": machines})
                    })
                    .collect();
                json!({"id": s.id, "providers": providers, "resourceGroups": rgs})
            })
            .collect();
        json!({
            "tenant": self.tenant,
            "subscriptions": subs,
            "roleAssignments": self.assignments.iter().map(|a| self.assignment_json(a)).collect::<Vec<_>>(),
            "policy": self.policy.to_json(),
        })
    }

    // ---- rendering ----

    pub fn machine_json(&self, at: MachineAt, with_resources: bool) -> Value {
        let m = self.machine(at);
        if m.kind != ArcType::Machine {
            return self.arc_vm_json(at);
        }
        let windows = m.os_type == "windows";
        let id = self.machine_id(at);
        let error_details = if m.status == "Error" {
            json!([{"code": "AgentHeartbeatError", "message": "The agent reported an error; run 'azcmagent check' on the server."}])
        } else {
            json!([])
        };
        let (os_name, os_sku, os_version) = default_os(&m.os_type);
        let os_profile = json!({
            "computerName": m.name,
            "windowsConfiguration": {"patchSettings": {
                "assessmentMode": if windows { json!("ImageDefault") } else { Value::Null },
                "patchMode": if windows { json!("AutomaticByOS") } else { Value::Null },
                "enableHotpatching": false,
                "status": {"hotpatchEnablementStatus": "Unknown", "error": null}
            }},
            "linuxConfiguration": {"patchSettings": {
                "assessmentMode": if windows { Value::Null } else { json!("ImageDefault") },
                "patchMode": if windows { Value::Null } else { json!("ImageDefault") }
            }}
        });
        let license_profile = json!({
            "licenseStatus": "Unlicensed",
            "licenseChannel": null,
            "softwareAssurance": {"softwareAssuranceCustomer": false},
            "esuProfile": {
                "licenseAssignmentState": "NotAssigned",
                "esuEligibility": "Ineligible",
                "serverType": "Unknown",
                "esuKeyState": "Inactive",
                "esuKeys": []
            },
            "productProfile": {
                "subscriptionStatus": "Disabled",
                "productType": null,
                "enrollmentDate": null,
                "billingStartDate": null,
                "disenrollmentDate": null,
                "billingEndDate": null,
                "productFeatures": []
            }
        });
        let hardware_profile = json!({
            "totalPhysicalMemoryInBytes": 8_589_934_592u64,
            "numberOfCpuSockets": 1,
            "processors": [{"name": "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", "numberOfCores": 2}]
        });
        let storage_profile = json!({"disks": [{
            "path": if windows { "C:/" } else { "/" },
            "diskType": "Fixed",
            "generatedId": m.identity_principal,
            "id": "1",
            "name": if windows { "Windows" } else { "sda1" },
            "maxSizeInBytes": 68_719_476_736u64,
            "usedSpaceInBytes": 12_884_901_888u64
        }]});
        let network_profile = json!({"networkInterfaces": [{
            "name": if windows { "Ethernet" } else { "eth0" },
            "macAddress": "00:15:5d:00:00:01",
            "id": "2",
            "ipAddresses": [{
                "address": "10.20.0.4",
                "ipAddressVersion": "IPv4",
                "subnet": {"addressPrefix": "10.20.0.0/24"}
            }]
        }]});
        let mut properties = json!({
                "provisioningState": "Succeeded",
                "agentVersion": m.agent_version,
                "status": m.status,
                "lastStatusChange": m.last_status_change,
                "errorDetails": error_details,
                "displayName": m.name,
                "machineFqdn": format!("{}.sim.arcfix.invalid", m.name.to_ascii_lowercase()),
                "vmUuid": m.vm_id.to_uppercase(),
                "osSku": m.os_sku.clone().unwrap_or_else(|| os_sku.into()),
                "osEdition": if windows { json!("serverdatacenter") } else { Value::Null },
                "domainName": null,
                "adFqdn": null,
                "dnsFqdn": m.name.to_ascii_lowercase(),
                "osVersion": m.os_version.clone().unwrap_or_else(|| os_version.into()),
                "osName": m.os_name.clone().unwrap_or_else(|| os_name.into()),
                "osType": m.os_type,
                "osProfile": os_profile,
                "licenseProfile": license_profile
        });
        let more = json!({
                "vmId": m.vm_id,
                "locationData": {"name": m.location, "city": null, "district": null, "countryOrRegion": null},
                "clientPublicKey": "SIM-PUBLIC-KEY-not-a-real-key",
                "identityKeyStore": "Default",
                "tpmEkCertificate": null,
                "parentClusterResourceId": null,
                "mssqlDiscovered": "false",
                "detectedProperties": {
                    "cloudprovider": "N/A",
                    "manufacturer": "QEMU",
                    "model": "Standard PC (Q35 + ICH9, 2009)"
                },
                "agentConfiguration": {
                    "proxyUrl": null,
                    "incomingConnectionsPorts": m.server.agent_ports,
                    "extensionsAllowList": Server::extension_list_json(&m.server.extensions_allowlist),
                    "extensionsBlockList": Server::extension_list_json(&m.server.extensions_blocklist),
                    "proxyBypass": [],
                    "extensionsEnabled": m.server.extensions_enabled.to_string(),
                    "guestConfigurationEnabled": "true",
                    "configMode": m.server.config_mode
                },
                "serviceStatuses": {
                    "extensionService": {"status": "Running", "startupType": "Automatic"},
                    "guestConfigurationService": {"status": "Running", "startupType": "Automatic"}
                },
                "firmwareProfile": {"serialNumber": m.vm_id, "type": "UEFI"},
                "hardwareProfile": hardware_profile,
                "storageProfile": storage_profile,
                "privateLinkScopeResourceId": null,
                "networkProfile": network_profile
        });
        if let (Some(p), Value::Object(more)) = (properties.as_object_mut(), more) {
            p.extend(more);
        }
        let mut v = json!({
            "id": id,
            "name": m.name,
            "location": m.location,
            "tags": m.tags,
            "identity": {"type": "SystemAssigned", "principalId": m.identity_principal, "tenantId": self.tenant},
            "type": "Microsoft.HybridCompute/machines",
            "kind": null,
            "properties": properties,
        });
        if with_resources {
            v["resources"] = Value::Array(
                m.extensions
                    .iter()
                    .map(|e| self.extension_json(at, e))
                    .collect(),
            );
        }
        v
    }

    pub fn endpoint_id(&self, at: MachineAt, e: &Endpoint) -> String {
        format!(
            "{}/providers/Microsoft.HybridConnectivity/endpoints/{}",
            self.machine_id(at),
            e.name
        )
    }

    pub fn endpoint_json(&self, at: MachineAt, e: &Endpoint) -> Value {
        let mut props = json!({"type": e.kind, "provisioningState": "Succeeded"});
        if let Some(r) = &e.resource_id {
            props["resourceId"] = json!(r);
        }
        json!({
            "id": self.endpoint_id(at, e),
            "name": e.name,
            "type": "Microsoft.HybridConnectivity/endpoints",
            "properties": props,
            "systemData": e.system.to_json(),
        })
    }

    pub fn service_config_json(&self, at: MachineAt, e: &Endpoint, c: &ServiceConfig) -> Value {
        json!({
            "id": format!("{}/serviceConfigurations/{}", self.endpoint_id(at, e), c.name),
            "name": c.name,
            "type": "Microsoft.HybridConnectivity/endpoints/serviceConfigurations",
            "properties": {"serviceName": c.service_name, "port": c.port, "provisioningState": "Succeeded"},
            "systemData": c.system.to_json(),
        })
    }

    pub fn extension_json(&self, at: MachineAt, e: &Extension) -> Value {
        let (code, level, display, message) = match e.state.as_str() {
            "Succeeded" => (
                "success",
                "Information",
                "Provisioning succeeded",
                "Extension enabled.",
            ),
            "Failed" => (
                "failed",
                "Error",
                "Provisioning failed",
                e.outcome.1.as_str(),
            ),
            _ => (
                "transitioning",
                "Information",
                "Provisioning in progress",
                "Extension is being installed.",
            ),
        };
        let mut props = json!({
            "publisher": e.publisher,
            "type": e.extension_type,
            "typeHandlerVersion": e.type_handler_version,
            "autoUpgradeMinorVersion": e.auto_upgrade_minor_version,
            "settings": e.settings,
            "protectedSettings": {},
            "provisioningState": e.state,
            "instanceView": {
                "name": e.name,
                "type": e.extension_type,
                "typeHandlerVersion": e.type_handler_version,
                "status": {"code": code, "level": level, "displayStatus": display, "message": message, "time": e.time}
            }
        });
        if let Some(b) = e.enable_automatic_upgrade {
            props["enableAutomaticUpgrade"] = json!(b);
        }
        json!({
            "id": format!("{}/extensions/{}", self.machine_id(at), e.name),
            "name": e.name,
            "type": "Microsoft.HybridCompute/machines/extensions",
            "location": e.location,
            "properties": props,
        })
    }

    pub fn run_command_json(&self, at: MachineAt, r: &RunCommand) -> Value {
        let mut props = r.properties.clone();
        props.insert("protectedParameters".into(), json!([]));
        props.entry("parameters").or_insert_with(|| json!([]));
        props.entry("asyncExecution").or_insert(json!(false));
        props.entry("timeoutInSeconds").or_insert(json!(0));
        props.insert("provisioningState".into(), json!(r.provisioning_state));
        let (exit_code, output, error) = match &r.outcome {
            Some(o) => (o.exit_code, o.output.as_str(), o.error.as_str()),
            None => (0, "", ""),
        };
        let message = match r.execution_state.as_str() {
            "Failed" => "The script failed.",
            "Succeeded" => "",
            _ => "The script is running.",
        };
        props.insert(
            "instanceView".into(),
            json!({
                "executionState": r.execution_state,
                "executionMessage": message,
                "exitCode": exit_code,
                "output": output,
                "error": error,
                "startTime": r.start_time,
                "endTime": r.end_time,
                "statuses": [],
            }),
        );
        json!({
            "id": format!("{}/runCommands/{}", self.machine_id(at), r.name),
            "name": r.name,
            "type": "Microsoft.HybridCompute/machines/runcommands",
            "location": r.location,
            "tags": r.tags,
            "properties": props,
        })
    }

    pub fn operation_status_url(&self, op: &Operation) -> String {
        format!(
            "/subscriptions/{}/providers/Microsoft.HybridCompute/locations/{}/operationStatus/{}",
            op.sub, op.location, op.id
        )
    }

    pub fn assignment_id(a: &Assignment) -> String {
        let scope = if a.scope == "/" { "" } else { a.scope.as_str() };
        format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{}",
            a.name
        )
    }

    pub fn assignment_json(&self, a: &Assignment) -> Value {
        // ARM answers with the subscription-scoped role definition id when it can.
        let sub = a
            .scope
            .split('/')
            .nth(2)
            .filter(|_| a.scope.to_ascii_lowercase().starts_with("/subscriptions/"));
        let role_def = match sub {
            Some(s) => format!(
                "/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{}",
                a.role_guid
            ),
            None => format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}",
                a.role_guid
            ),
        };
        json!({
            "properties": {
                "roleDefinitionId": role_def,
                "principalId": a.principal,
                "principalType": a.principal_type,
                "scope": a.scope,
                "condition": null,
                "conditionVersion": null,
                "createdOn": a.created_on,
                "updatedOn": a.created_on,
                "createdBy": a.created_by,
                "updatedBy": a.created_by,
                "delegatedManagedIdentityResourceId": null,
                "description": null,
            },
            "id": World::assignment_id(a),
            "type": "Microsoft.Authorization/roleAssignments",
            "name": a.name,
        })
    }
}

/// Name, SKU and version a machine reports when the scenario does not say.
fn default_os(os_type: &str) -> (&'static str, &'static str, &'static str) {
    if os_type == "windows" {
        (
            "windows",
            "Windows Server 2022 Datacenter",
            "10.0.20348.2527",
        )
    } else {
        ("linux", "Ubuntu 22.04.4 LTS", "5.15.0-1064-azure")
    }
}

/// Microsoft's extension that installs the OpenSSH server on Windows.
pub const OPENSSH_PUBLISHER: &str = "Microsoft.Azure.OpenSSH";
pub const OPENSSH_TYPE: &str = "WindowsOpenSSH";

fn machine_from(
    m: &crate::sim::scenario::Machine,
    rg_location: &str,
    seeder: &str,
    extension_polls: Option<u32>,
) -> Machine {
    let location = m
        .location
        .clone()
        .unwrap_or_else(|| rg_location.to_string());
    let endpoints = m
        .endpoint
        .iter()
        .map(|spec| Endpoint {
            name: "default".into(),
            kind: "default".into(),
            resource_id: None,
            configs: spec
                .ssh_port
                .iter()
                .map(|port| ServiceConfig {
                    name: "SSH".into(),
                    service_name: "SSH".into(),
                    port: *port as u64,
                    system: seeded(seeder),
                })
                .collect(),
            system: seeded(seeder),
        })
        .collect();
    let extensions = m
        .extensions
        .iter()
        .map(|e| Extension {
            name: e.name.clone(),
            location: location.clone(),
            publisher: e.publisher.clone(),
            extension_type: e.extension_type.clone(),
            type_handler_version: e.type_handler_version.clone(),
            auto_upgrade_minor_version: true,
            enable_automatic_upgrade: None,
            settings: json!({}),
            state: e.provisioning_state.clone(),
            polls_left: if e.provisioning_state == "Creating" {
                e.polls
            } else {
                extension_polls
            },
            outcome: ("Succeeded".into(), String::new()),
            time: "2025-05-20T10:05:00Z".into(),
        })
        .collect();
    Machine {
        name: m.name.clone(),
        kind: m.kind().unwrap_or_default(),
        location,
        status: m.status.clone(),
        os_type: m.os_type.clone(),
        os_name: m.os_name.clone(),
        os_version: m.os_version.clone(),
        os_sku: m.os_sku.clone(),
        agent_version: m.agent_version.clone(),
        last_status_change: m.last_status_change.clone(),
        tags: m.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
        vm_id: new_guid(),
        identity_principal: new_guid(),
        endpoints,
        extensions,
        run_commands: Vec::new(),
        server: Server::new(&m.server, &m.incoming_connections_ports),
    }
}
