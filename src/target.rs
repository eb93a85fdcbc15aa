//! What arcfix is pointed at: the target of a run, and the resource ids of
//! Arc-enabled machines (parsing, validation, display).

use std::fmt;

use crate::error::{Error, Result};

/// Serde for a value written as its `Display` and read back with its
/// `parse`: a value that breaks its rules makes the whole document invalid
/// (it is never used, and never read as "not there").
macro_rules! string_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

mod options;
pub use options::Options;

pub use crate::vocab::{Side, side_name};

/// How the user logs in to the machine.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    #[default]
    Local,
    Entra,
}

impl Login {
    /// The name on the command line (`--login`), as saved plans record it.
    pub fn as_str(self) -> &'static str {
        match self {
            Login::Local => "local",
            Login::Entra => "entra",
        }
    }
}

/// What the user asked to check: this machine and/or Arc machines in Azure,
/// with the target options (`--port`, `--login`, `--checks`, ...).
#[derive(Debug, Clone)]
pub struct Request {
    /// Machines named one by one (`--id`, `--ids-from`, `--machine`).
    pub machines: Vec<MachineId>,
    /// `--machine` in a subscription given by name: resolved once Azure is reached.
    pub by_name: Option<ByName>,
    /// Fleet mode: every machine found in subscriptions or a resource group.
    pub scope: Option<Scope>,
    /// The target options as given (`--checks` sorted): a saved plan records them.
    pub options: Options,
    /// The subscription used without `--subscription`, and where it came
    /// from: said in the scope line.
    pub implied: Option<Implied>,
}

/// A subscription the user did not type: `AZURE_SUBSCRIPTION_ID`, or the
/// Azure CLI's current one (`az account show`), as `az` itself takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implied {
    pub subscription: SubscriptionRef,
    /// Its display name, when the source said it (the Azure CLI does).
    pub name: Option<String>,
    pub from: ImpliedFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpliedFrom {
    Environment,
    AzAccount,
}

/// "subscription Contoso Prod (6f1c…), from az account".
impl fmt::Display for Implied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, &self.subscription) {
            (Some(name), SubscriptionRef::Id(id)) if name != id => {
                write!(f, "subscription {name} ({id})")?
            }
            (_, s) => write!(f, "subscription {s}")?,
        }
        f.write_str(match self.from {
            ImpliedFrom::Environment => ", from AZURE_SUBSCRIPTION_ID",
            ImpliedFrom::AzAccount => ", from az account (the Azure CLI's current subscription)",
        })
    }
}

/// A request reads as its options (`request.connect`, `request.ssh_port()`).
impl std::ops::Deref for Request {
    type Target = Options;

    fn deref(&self) -> &Options {
        &self.options
    }
}

impl Request {
    pub fn has_azure_target(&self) -> bool {
        !self.machines.is_empty() || self.by_name.is_some() || self.scope.is_some()
    }

    /// A target of machines only, as tests and benchmarks make it.
    pub fn machines(machines: Vec<MachineId>) -> Request {
        Request {
            machines,
            by_name: None,
            scope: None,
            options: Options::default(),
            implied: None,
        }
    }
}

/// A subscription as the user gave it: its id, or its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionRef {
    /// A GUID, lower case.
    Id(String),
    Name(String),
}

impl SubscriptionRef {
    /// A GUID is an id; anything else is a display name, resolved with
    /// `GET /subscriptions`. Empty, over-long or control characters: refused.
    pub fn parse(s: &str) -> Result<SubscriptionRef> {
        let t = s.trim();
        if is_guid(t) {
            return Ok(SubscriptionRef::Id(t.to_ascii_lowercase()));
        }
        if t.is_empty()
            || t.chars().count() > 128
            || t.chars().any(char::is_control)
            || t.contains('/')
        {
            return Err(Error::Usage(format!(
                "invalid subscription '{}': give its id (a GUID such as 00000000-0000-0000-0000-000000000000) or its name",
                crate::text::sanitize(s)
            )));
        }
        Ok(SubscriptionRef::Name(t.to_string()))
    }
}

impl fmt::Display for SubscriptionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscriptionRef::Id(id) => f.write_str(id),
            SubscriptionRef::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// One machine named by subscription name, resource group and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByName {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// Where a fleet is enumerated: subscriptions (all of them, or one resource
/// group), machines with every one of `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub subscriptions: Vec<SubscriptionRef>,
    pub resource_group: Option<String>,
    /// `KEY=VALUE`: tag names compare without case (as ARM's), values exactly.
    pub tags: Vec<(String, String)>,
}

impl Scope {
    /// Whether a machine's tags carry every wanted one.
    pub fn tags_match(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        self.tags.iter().all(|(k, v)| {
            tags.iter()
                .any(|(tk, tv)| tk.eq_ignore_ascii_case(k) && tv == v)
        })
    }
}

/// `KEY=VALUE` of `--tag`.
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !s.chars().any(char::is_control) => {
            Ok((k.trim().to_string(), v.to_string()))
        }
        _ => Err(Error::Usage(format!(
            "invalid --tag '{}': expected KEY=VALUE, such as env=prod",
            crate::text::sanitize(s)
        ))),
    }
}

/// A subscription's id: a GUID, kept in lower case, so equal ids are equal
/// values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    pub fn parse(s: &str) -> Result<SubscriptionId> {
        validate_subscription(s)?;
        Ok(SubscriptionId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its ARM path, `/subscriptions/{id}`.
    pub fn path(&self) -> String {
        format!("/subscriptions/{}", self.0)
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a finding or a step is about: this machine, a subscription (the
/// resource provider's registration) or one Arc machine. Equal as ARM
/// compares ids (case does not count); written as `local` or the ARM id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Local,
    Subscription(SubscriptionId),
    Machine(MachineId),
}

impl Target {
    /// Reads what `Display` writes; anything else is refused.
    pub fn parse(s: &str) -> Result<Target> {
        if s == "local" {
            return Ok(Target::Local);
        }
        let trimmed = s.trim().trim_end_matches('/');
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.len() == 3 && parts[0].is_empty() && parts[1].eq_ignore_ascii_case("subscriptions")
        {
            return SubscriptionId::parse(parts[2]).map(Target::Subscription);
        }
        MachineId::parse(s).map(Target::Machine)
    }

    pub fn machine(&self) -> Option<&MachineId> {
        match self {
            Target::Machine(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Target::Local)
    }

    /// Whether what is said of this target holds for `other` too: the same
    /// target, or the subscription a machine is in.
    pub fn covers(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Subscription(s), Target::Machine(m)) => {
                same_folded(s.as_str(), &m.subscription)
            }
            _ => self == other,
        }
    }

    /// The subscription of a subscription's or a machine's target.
    pub fn subscription(&self) -> Option<SubscriptionId> {
        match self {
            Target::Local => None,
            Target::Subscription(s) => Some(s.clone()),
            Target::Machine(m) => Some(m.subscription_of()),
        }
    }

    /// A short name for people: `this machine`, the subscription's id, the machine's name.
    pub fn short(&self) -> String {
        match self {
            Target::Local => "this machine".into(),
            Target::Subscription(s) => format!("subscription {s}"),
            Target::Machine(m) => m.name.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local"),
            Target::Subscription(s) => write!(f, "/subscriptions/{s}"),
            Target::Machine(m) => m.fmt(f),
        }
    }
}

string_serde!(Target);

/// The Arc resource types `az ssh arc --resource-type` takes (the Azure CLI
/// ssh extension's `SUPPORTED_RESOURCE_TYPES`, without Azure VMs): each has
/// its own provider, and SSH through Arc (the HybridConnectivity endpoint,
/// its service configuration, `listCredentials`) lives under its own id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ArcKind {
    /// An Arc-enabled server, `Microsoft.HybridCompute/machines`.
    #[default]
    Machine,
    /// An Arc-enabled VMware vSphere VM, `Microsoft.ConnectedVMwarevSphere/virtualMachines`.
    VmwareVm,
    /// An Arc-enabled SCVMM VM, `Microsoft.ScVmm/virtualMachines`.
    ScvmmVm,
    /// An Azure Local (Azure Stack HCI) VM, `Microsoft.AzureStackHCI/virtualMachines`.
    HciVm,
}

impl ArcKind {
    pub const ALL: [ArcKind; 4] = [
        ArcKind::Machine,
        ArcKind::VmwareVm,
        ArcKind::ScvmmVm,
        ArcKind::HciVm,
    ];

    /// The provider namespace, as the extension's `RESOURCE_TYPE_LOWER_CASE_TO_CORRECT_CASE` spells it.
    pub fn namespace(self) -> &'static str {
        match self {
            ArcKind::Machine => "Microsoft.HybridCompute",
            ArcKind::VmwareVm => "Microsoft.ConnectedVMwarevSphere",
            ArcKind::ScvmmVm => "Microsoft.ScVmm",
            ArcKind::HciVm => "Microsoft.AzureStackHCI",
        }
    }

    /// The type below the namespace (`machines`, `virtualMachines`).
    pub fn type_name(self) -> &'static str {
        match self {
            ArcKind::Machine => "machines",
            ArcKind::VmwareVm | ArcKind::ScvmmVm | ArcKind::HciVm => "virtualMachines",
        }
    }

    /// `Microsoft.HybridCompute/machines`, as `--resource-type` takes it.
    pub fn resource_type(self) -> &'static str {
        match self {
            ArcKind::Machine => "Microsoft.HybridCompute/machines",
            ArcKind::VmwareVm => "Microsoft.ConnectedVMwarevSphere/virtualMachines",
            ArcKind::ScvmmVm => "Microsoft.ScVmm/virtualMachines",
            ArcKind::HciVm => "Microsoft.AzureStackHCI/virtualMachines",
        }
    }

    /// What it is, for people.
    pub fn what(self) -> &'static str {
        match self {
            ArcKind::Machine => "an Arc-enabled server",
            ArcKind::VmwareVm => "an Arc-enabled VMware vSphere virtual machine",
            ArcKind::ScvmmVm => "an Arc-enabled SCVMM virtual machine",
            ArcKind::HciVm => "an Azure Stack HCI virtual machine",
        }
    }

    /// Whether Azure shows the Connected Machine agent's own settings
    /// (status, `agentConfiguration`, extensions, Run Command) on this
    /// resource: only a HybridCompute machine carries them.
    pub fn has_agent_settings(self) -> bool {
        self == ArcKind::Machine
    }

    /// The kind of `{namespace}/{type}`, in any casing (ARM's, and the
    /// extension's: it lower-cases `--resource-type` before matching).
    pub fn of(namespace: &str, type_name: &str) -> Option<ArcKind> {
        ArcKind::ALL.into_iter().find(|k| {
            k.namespace().eq_ignore_ascii_case(namespace)
                && k.type_name().eq_ignore_ascii_case(type_name)
        })
    }

    /// The four types, for an error that names them.
    pub fn accepted() -> String {
        ArcKind::ALL
            .iter()
            .map(|k| k.resource_type())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ArcKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.resource_type())
    }
}

/// One Arc resource SSH can reach through Arc (an Arc-enabled server or one
/// of the Arc virtual machine types, `kind`), named the way ARM names it.
#[derive(Debug, Clone)]
pub struct MachineId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub kind: ArcKind,
}

impl PartialEq for MachineId {
    /// ARM ids are case-insensitive, in every script (a resource group may be
    /// `Grüppe`): compared by Unicode simple case folding, like `fold`.
    fn eq(&self, other: &Self) -> bool {
        // Field by field, as the id would compare (no allocation: fleets compare many).
        self.kind == other.kind
            && same_folded(&self.subscription, &other.subscription)
            && same_folded(&self.resource_group, &other.resource_group)
            && same_folded(&self.name, &other.name)
    }
}
impl Eq for MachineId {}

impl std::hash::Hash for MachineId {
    /// Equal ids hash alike: the same folded characters, field by field.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        for field in [&self.subscription, &self.resource_group, &self.name] {
            for c in field.chars().map(fold_char) {
                c.hash(state);
            }
            // A separator no name holds: `ab`+`c` is not `a`+`bc`.
            '/'.hash(state);
        }
    }
}

/// An ARM name or id in the one form in which case does not count: each
/// character replaced by one representative of its Unicode simple case
/// folding class (ASCII letters by their lower case). Every comparison or
/// map key of ids uses this, never `to_ascii_lowercase`, so that `Grüppe`
/// and `GRÜPPE` are one group everywhere.
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// Whether two names are equal without regard to case (`fold` of each).
pub fn same_folded(a: &str, b: &str) -> bool {
    a == b || a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// One character's representative: the smallest of the characters that
/// simple case folding makes equal to it (ASCII letters: the lower case, so
/// the common case allocates nothing and reads as before).
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    if class.try_case_fold_simple().is_err() {
        // Without the tables (never in this build): the lower case of one character.
        let mut lower = c.to_lowercase();
        return match (lower.next(), lower.next()) {
            (Some(l), None) => l,
            _ => c,
        };
    }
    class
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .map(|x| {
            if x.is_ascii() {
                x.to_ascii_lowercase()
            } else {
                x
            }
        })
        .min()
        .unwrap_or(c)
}

impl MachineId {
    /// An Arc-enabled server (`Microsoft.HybridCompute/machines`).
    pub fn new(subscription: &str, resource_group: &str, name: &str) -> Result<MachineId> {
        MachineId::of_kind(ArcKind::Machine, subscription, resource_group, name)
    }

    /// A resource of `kind`, every part validated.
    pub fn of_kind(
        kind: ArcKind,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> Result<MachineId> {
        validate_subscription(subscription)?;
        validate_resource_group(resource_group)?;
        validate_machine_name(name)?;
        Ok(MachineId {
            subscription: subscription.to_ascii_lowercase(),
            resource_group: resource_group.to_string(),
            name: name.to_string(),
            kind,
        })
    }

    /// Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/{type}/{m}`,
    /// `{type}` one of the four `ArcKind`s, in any casing, with or without a
    /// trailing slash.
    pub fn parse(id: &str) -> Result<MachineId> {
        let bad = |why: &str| {
            Error::input(format!(
                "invalid machine id '{}': {why} (expected /subscriptions/<guid>/resourceGroups/<name>/providers/<type>/<name>, <type> one of {})",
                crate::text::sanitize(id),
                ArcKind::accepted()
            ))
        };
        let trimmed = id.trim().trim_end_matches('/');
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.len() != 9 || !parts[0].is_empty() {
            return Err(bad("wrong number of segments"));
        }
        let expect = |i: usize, word: &str| -> Result<()> {
            if parts[i].eq_ignore_ascii_case(word) {
                Ok(())
            } else {
                Err(bad(&format!("segment {} should be '{word}'", i)))
            }
        };
        expect(1, "subscriptions")?;
        expect(3, "resourceGroups")?;
        expect(5, "providers")?;
        let Some(kind) = ArcKind::of(parts[6], parts[7]) else {
            return Err(bad(&format!(
                "'{}/{}' is not an Arc resource type az ssh arc takes",
                crate::text::sanitize(parts[6]),
                crate::text::sanitize(parts[7])
            )));
        };
        MachineId::of_kind(kind, parts[2], parts[4], parts[8])
    }

    /// The id as a map key: `fold` of the full id (equal ids, equal keys).
    pub fn key(&self) -> String {
        fold(&self.to_string())
    }

    /// The machine's id with a suffix path appended, e.g. `/providers/Microsoft.HybridConnectivity/endpoints/default`.
    pub fn child(&self, suffix: &str) -> String {
        format!("{self}{suffix}")
    }

    pub fn resource_group_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.resource_group
        )
    }

    /// The subscription the machine is in, typed.
    pub fn subscription_of(&self) -> SubscriptionId {
        SubscriptionId(self.subscription.clone())
    }

    pub fn subscription_id(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
            self.subscription,
            self.resource_group,
            self.kind.namespace(),
            self.kind.type_name(),
            self.name
        )
    }
}

string_serde!(MachineId);

/// The name of a resource ARM listed (an extension, a run command) as it
/// may go into a request path or a command: 1-260 characters of ASCII
/// letters, digits, `-`, `_` and `.`, not ending in `.` (so never `.`,
/// `..`, a `/` or anything a shell reads more into).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmName(String);

impl ArmName {
    pub fn parse(s: &str) -> Result<ArmName> {
        let ok = !s.is_empty()
            && s.len() <= 260
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.ends_with('.');
        if ok {
            Ok(ArmName(s.to_string()))
        } else {
            Err(Error::input(format!(
                "invalid resource name '{}': ARM names are 1-260 letters, digits, '-', '_' and '.', not ending in '.'",
                crate::text::sanitize(s)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ArmName {
    /// A name that breaks the rules makes the whole answer invalid: it is
    /// never used, and never read as "not there".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        ArmName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A subscription id is a GUID.
pub fn validate_subscription(s: &str) -> Result<()> {
    if is_guid(s) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "invalid subscription id '{}': expected a GUID such as 00000000-0000-0000-0000-000000000000",
            crate::text::sanitize(s)
        )))
    }
}

pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// ARM's resource-group rule: 1-90 characters, letters, digits, `_`, `-`, `.`, `(`, `)`, not ending in `.`.
pub fn validate_resource_group(s: &str) -> Result<()> {
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')');
    let why = if s.is_empty() {
        Some("it is empty")
    } else if s.chars().count() > 90 {
        Some("it is longer than 90 characters")
    } else if !s.chars().all(ok_char) {
        Some("only letters, digits, '_', '-', '.', '(' and ')' are allowed")
    } else if s.ends_with('.') {
        Some("it must not end with '.'")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::input(format!(
            "invalid resource group name '{}': {why}",
            crate::text::sanitize(s)
        ))),
    }
}

/// The HybridCompute machine name pattern `^[a-zA-Z0-9-_\.]{1,54}$`, not
/// ending in `.` (ARM's rule for resource names; it also keeps `.` and `..`
/// from walking up the request path).
pub fn validate_machine_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 54
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        Err(Error::input(format!(
            "invalid machine name '{}': 1-54 characters of letters, digits, '-', '_' and '.'",
            crate::text::sanitize(s)
        )))
    } else if s.ends_with('.') {
        Err(Error::input(format!(
            "invalid machine name '{}': it must not end with '.'",
            crate::text::sanitize(s)
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-1111-2222-3333-444444444444";

    #[test]
    fn parses_ids_in_any_casing() {
        let a = MachineId::parse(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/m1"
        ))
        .unwrap();
        let b = MachineId::parse(&format!(
            "/SUBSCRIPTIONS/{}/resourcegroups/RG1/providers/microsoft.hybridcompute/MACHINES/M1/",
            SUB.to_uppercase()
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name, "m1");
    }

    #[test]
    fn ids_differing_only_in_non_ascii_case_are_one_machine() {
        use std::collections::HashSet;
        let id = |rg: &str, m: &str| {
            MachineId::parse(&format!(
                "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{m}"
            ))
            .unwrap()
        };
        let pairs = [
            ("Grüppe", "GRÜPPE"),
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
            ("Straße", "STRAẞE"),
            ("Ǆ-rg", "ǆ-RG"),
        ];
        for (a, b) in pairs {
            let (x, y) = (id(a, "web-01"), id(b, "WEB-01"));
            assert_eq!(x, y, "{a} / {b}");
            assert_eq!(x.key(), y.key(), "{a} / {b}");
            let set: HashSet<MachineId> = [x, y].into_iter().collect();
            assert_eq!(set.len(), 1, "{a} / {b}");
            assert!(same_folded(a, b), "{a} / {b}");
        }
        assert_ne!(id("Grüppe", "m"), id("Gruppe", "m"));
        assert_ne!(fold("Grüppe"), fold("Gruppe"));
        // ASCII reads as before.
        assert_eq!(fold("RG-Web_01"), "rg-web_01");
    }

    #[test]
    fn rejects_malformed_ids_naming_the_problem() {
        let cases = [
            ("", "wrong number of segments"),
            (
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
                "invalid subscription id 'x'",
            ),
            (
                &format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/m"
                ),
                "'Microsoft.Compute/virtualMachines' is not an Arc resource type az ssh arc takes",
            ),
            (
                &format!(
                    "/subscriptions/{SUB}/groups/rg/providers/Microsoft.HybridCompute/machines/m"
                ),
                "segment 3 should be 'resourceGroups'",
            ),
            (
                &format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/bad name"
                ),
                "invalid machine name",
            ),
            (
                &format!(
                    "/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.HybridCompute/machines/m"
                ),
                "must not end with '.'",
            ),
        ];
        for (id, want) in cases {
            let err = MachineId::parse(id).unwrap_err().to_string();
            assert!(err.contains(want), "{id}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn every_arc_type_az_ssh_arc_takes_is_a_machine_id_of_its_own_kind() {
        let cases = [
            ("Microsoft.HybridCompute/machines", ArcKind::Machine),
            (
                "Microsoft.ConnectedVMwarevSphere/virtualMachines",
                ArcKind::VmwareVm,
            ),
            ("Microsoft.ScVmm/virtualMachines", ArcKind::ScvmmVm),
            ("Microsoft.AzureStackHCI/virtualMachines", ArcKind::HciVm),
        ];
        for (ty, kind) in cases {
            let id = format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/{ty}/vm-01");
            let parsed = MachineId::parse(&id).unwrap();
            assert_eq!(parsed.kind, kind, "{ty}");
            // Its own id, as the extension builds resource_uri.
            assert_eq!(parsed.to_string(), id);
            assert_eq!(parsed.child("/x"), format!("{id}/x"));
            // In any casing (ARM's, and the extension lower-cases --resource-type).
            let lower = MachineId::parse(&id.to_lowercase()).unwrap();
            assert_eq!(lower, parsed);
            assert_eq!(lower.to_string(), id, "the canonical spelling is written");
            // Round trip through serde, as saved plans keep it.
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(serde_json::from_str::<MachineId>(&json).unwrap(), parsed);
        }
        // The same name in the same group under two types is two resources.
        let machine = MachineId::new(SUB, "rg1", "vm-01").unwrap();
        let vmware = MachineId::of_kind(ArcKind::VmwareVm, SUB, "rg1", "vm-01").unwrap();
        assert_ne!(machine, vmware);
        assert_ne!(machine.key(), vmware.key());
        let set: std::collections::HashSet<MachineId> = [machine, vmware].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn a_type_az_ssh_arc_does_not_take_is_refused_naming_the_four_it_takes() {
        for ty in [
            "Microsoft.Compute/virtualMachines",
            "Microsoft.ConnectedVMwareSphere/virtualMachines",
            "Microsoft.ScVmm/machines",
            "Microsoft.HybridCompute/virtualMachines",
            "Microsoft.AzureStackHCI/virtualMachineInstances",
        ] {
            let id = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/{ty}/m");
            let e = MachineId::parse(&id).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "'{ty}' is not an Arc resource type az ssh arc takes"
                )),
                "{e}"
            );
            for k in ArcKind::ALL {
                assert!(e.contains(k.resource_type()), "{e}");
            }
            assert!(!e.contains('\n'));
        }
        // Every segment is still held to its rule, whatever the type.
        let bad = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ScVmm/virtualMachines/.."
        );
        assert!(MachineId::parse(&bad).is_err());
    }

    #[test]
    fn arm_names_from_azure_cannot_walk_a_path_or_reach_a_shell() {
        for good in ["AADSSHLoginForLinux", "Microsoft.Azure.Monitor", "ext_1-a"] {
            assert_eq!(ArmName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            ".",
            "..",
            "../../OTHER/extensions/AADSSHLoginForLinux",
            "a/b",
            "a\\b",
            "x;touch /tmp/p;#",
            "a b",
            "a%2e",
            "ext.",
            "a\nb",
            "\u{202e}x",
        ] {
            let e = ArmName::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid resource name"), "{bad:?}: {e}");
            assert!(!e.contains('\n') && !e.contains('\u{202e}'), "{e}");
        }
        assert!(ArmName::parse(&"a".repeat(261)).is_err());
        let listed: std::result::Result<Vec<ArmName>, _> =
            serde_json::from_str(r#"["ok", "../x"]"#);
        assert!(listed.is_err());
    }

    #[test]
    fn machine_name_rules() {
        assert!(validate_machine_name(&"a".repeat(54)).is_ok());
        assert!(validate_machine_name(&"a".repeat(55)).is_err());
        assert!(validate_machine_name("web-01.contoso_x").is_ok());
        assert!(validate_machine_name("web/01").is_err());
        for bad in [".", "..", "web-01."] {
            let e = validate_machine_name(bad).unwrap_err().to_string();
            assert!(e.contains("must not end with '.'"), "{bad}: {e}");
        }
        for bad in [".", ".."] {
            assert!(validate_resource_group(bad).is_err(), "{bad}");
        }
        // Ids that ARM lists are held to the same rules.
        let id = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/.."
        );
        assert!(MachineId::parse(&id).is_err());
    }
}
