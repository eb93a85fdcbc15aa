//! Fleet mode: which machines are in scope (subscriptions by id or name, a
//! resource group, tags), enumerated with one Resource Graph query per 1,000
//! machines, or ARM's list API when Resource Graph is refused; and the reads
//! machines of one subscription or resource group share.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::{Mutex, OnceCell};

use crate::azure::client::Arm;
use crate::azure::models::{
    GraphMachine, GraphPage, Machine, Provider, RoleAssignment, SubscriptionInfo,
};
use crate::azure::rbac::Permission;
use crate::azure::{HYBRID_CONNECTIVITY, api};
use crate::checks::azure::{list_all, list_each};
use crate::error::arm::ArmError;
use crate::error::{Error, Result};
use crate::target::{ByName, MachineId, Scope, SubscriptionRef};

/// More machines than this are a fleet: said first, summarised, shown with a
/// progress bar (fewer read best in full).
pub const FEW: usize = 3;

/// The Resource Graph api-version (arm.md §5).
pub const GRAPH_API: &str = "2024-04-01";
/// `GET /subscriptions` (Microsoft.Resources subscriptions.json).
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";
const GRAPH_PATH: &str = "/providers/Microsoft.ResourceGraph/resources";
/// Resource Graph takes at most 1,000 subscriptions and returns at most 1,000 rows a page.
const GRAPH_MAX: usize = 1000;

/// Where the machines in scope were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    ResourceGraph,
    /// ARM's list API; why Resource Graph was not used.
    ArmList(String),
    /// Resource Graph, then ARM's list API after Graph failed part way
    /// (why, and how many machines Graph had listed by then).
    GraphThenArm(String, usize),
}

/// A machine in scope, with what the listing said of it (`None`: the
/// listing did not tell what the checks need; read it). Boxed: a fleet's
/// machines waiting their turn hold only a pointer each.
pub type Listed = (MachineId, Option<Box<Machine>>);

/// What the scope line says: "1,284 Arc machines in 3 subscriptions
/// (Resource Graph)".
fn scope_line(
    scope: &Scope,
    machines: usize,
    subscriptions: usize,
    unread: usize,
    source: &Source,
) -> String {
    if subscriptions == 0 && unread > 0 {
        // Nothing was listed: no count of machines, which would read as "none there".
        let mut line = format!(
            "no Arc machines listed: {} subscription{} could not be listed (not checked)",
            thousands(unread),
            if unread == 1 { "" } else { "s" }
        );
        line.push_str(&source_note(source));
        return line;
    }
    let mut line = format!(
        "{} Arc machine{} in {}",
        thousands(machines),
        if machines == 1 { "" } else { "s" },
        match &scope.resource_group {
            Some(rg) => format!("resource group {rg}"),
            None => format!(
                "{} subscription{}",
                thousands(subscriptions),
                if subscriptions == 1 { "" } else { "s" }
            ),
        }
    );
    if !scope.tags.is_empty() {
        let tags: Vec<String> = scope.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" with tag {}", tags.join(", ")));
    }
    line.push_str(match source {
        Source::ResourceGraph => " (Resource Graph)",
        Source::ArmList(_) => " (ARM list)",
        Source::GraphThenArm(..) => " (Resource Graph, then ARM list)",
    });
    line.push_str(&source_note(source));
    line
}

/// Why the machines were not all listed by Resource Graph, for the scope line.
fn source_note(source: &Source) -> String {
    match source {
        Source::ResourceGraph => String::new(),
        Source::ArmList(why) => format!("; Resource Graph was not used: {why}"),
        Source::GraphThenArm(why, listed) => format!(
            "; Resource Graph failed after {} machine{} ({why}), the rest listed by ARM",
            thousands(*listed),
            if *listed == 1 { "" } else { "s" }
        ),
    }
}

/// `1284` as `1,284`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Subscription names become ids (one `GET /subscriptions` for all of them).
/// A name that matches none, or several, is a usage error naming the choices.
/// Also returns the caller's subscriptions when they were listed (for
/// `enumerate`, which would otherwise list them again).
pub async fn resolve(
    arm: &Arm,
    refs: &[SubscriptionRef],
) -> Result<(Vec<String>, Option<Vec<SubscriptionInfo>>)> {
    let mut listed: Option<Vec<SubscriptionInfo>> = None;
    let mut out = Vec::new();
    for r in refs {
        let id = match r {
            SubscriptionRef::Id(id) => id.clone(),
            SubscriptionRef::Name(name) => {
                if listed.is_none() {
                    listed = Some(list_all(arm, "/subscriptions", SUBSCRIPTIONS_API).await?);
                }
                let all = listed.as_deref().unwrap_or_default();
                let hits: Vec<&SubscriptionInfo> = all
                    .iter()
                    .filter(|s| {
                        s.display_name
                            .as_deref()
                            .is_some_and(|d| d.trim().to_lowercase() == name.to_lowercase())
                    })
                    .collect();
                // Of several of that name, the one that is enabled.
                let enabled: Vec<&SubscriptionInfo> = hits
                    .iter()
                    .copied()
                    .filter(|s| {
                        s.state
                            .as_deref()
                            .is_none_or(|st| st.eq_ignore_ascii_case("Enabled"))
                    })
                    .collect();
                let hits = if hits.len() > 1 && enabled.len() == 1 {
                    enabled
                } else {
                    hits
                };
                match hits.as_slice() {
                    // The id goes into every path of the run: a GUID, or nothing.
                    [one] => match one.subscription_id.as_deref() {
                        Some(id) if crate::target::is_guid(id) => id.to_ascii_lowercase(),
                        other => {
                            return Err(Error::input(format!(
                                "Azure listed the subscription '{}' with the id '{}', which is not a GUID: it is not used",
                                crate::text::sanitize(name),
                                crate::text::sanitize(other.unwrap_or_default())
                            )));
                        }
                    },
                    [] => {
                        return Err(Error::input(format!(
                            "no subscription named '{}' among the {} you can see{}",
                            crate::text::sanitize(name),
                            all.len(),
                            names_hint(all)
                        )));
                    }
                    several => {
                        let ids: Vec<String> = several
                            .iter()
                            .filter_map(|s| s.subscription_id.clone())
                            .collect();
                        return Err(Error::Usage(format!(
                            "'{}' names {} subscriptions ({}): give the id",
                            crate::text::sanitize(name),
                            several.len(),
                            crate::text::sanitize(&ids.join(", "))
                        )));
                    }
                }
            }
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok((out, listed))
}

fn names_hint(all: &[SubscriptionInfo]) -> String {
    let names: Vec<String> = all
        .iter()
        .filter_map(|s| s.display_name.as_deref())
        .take(5)
        .map(crate::text::sanitize)
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(
            " ({}{})",
            names.join(", "),
            if all.len() > names.len() { ", …" } else { "" }
        )
    }
}

/// `--machine` in a subscription given by name.
pub async fn resolve_named(arm: &Arm, b: &ByName) -> Result<MachineId> {
    let (sub, _) = resolve(arm, &[SubscriptionRef::Name(b.subscription.clone())]).await?;
    MachineId::new(&sub[0], &b.resource_group, &b.name)
}

/// The most machines one run enumerates (Resource Graph rows or ARM list
/// items, before tags select): a scope with more is an error, never a
/// fleet read in part. Split it by subscription, resource group or tag.
pub const MAX_MACHINES: usize = 100_000;

/// Every Arc machine in scope, listed a page at a time as the caller asks
/// for more (`next`): Resource Graph first, ARM's list API when it is
/// refused. Tags are matched here (names without case, values exactly),
/// each machine is handed out once, and of each only what the checks read
/// is kept: a fleet is diagnosed while it is listed, never held whole.
pub struct Listing<'a> {
    arm: &'a Arm,
    scope: &'a Scope,
    subscriptions: &'a [String],
    /// The caller's subscriptions, when `resolve` already listed them.
    known: Option<Vec<SubscriptionInfo>>,
    source: Source,
    at: At,
    /// Rows or list items of the current source, before tags select.
    rows: usize,
    /// Machines handed out so far.
    listed: usize,
    /// Ids (case folded) handed out: a machine listed twice, or listed again
    /// by ARM after Resource Graph failed part way, is checked once.
    seen: std::collections::HashSet<String>,
    /// Subscriptions (lower case) with a machine listed, matched or not.
    with_machines: std::collections::HashSet<String>,
    /// Subscriptions that could not be listed, and why: not checked.
    unread: Vec<(String, String)>,
    /// Subscriptions Resource Graph listed in part before both it and ARM
    /// failed, and why: their machines listed were checked, the rest not.
    partial: Vec<(String, String)>,
    /// The subscriptions without a machine were looked for among the caller's.
    looked: bool,
    /// Those looked for when the caller's subscriptions could not be read,
    /// and why: each is not checked unless a machine of it is listed later
    /// (empty, or unseen: nobody can tell).
    unsure: Vec<String>,
    unsure_why: String,
}

/// Where a listing is.
enum At {
    Graph(Pager),
    /// ARM's list, at this subscription.
    Arm(usize),
    Done,
}

/// Resource Graph's pages of one query: at this chunk of subscriptions
/// (at most `GRAPH_MAX`), the token of its next page.
#[derive(Default)]
struct Pager {
    chunk: usize,
    skip_token: Option<String>,
    /// The hashes of the tokens seen (which Azure may make large).
    tokens: std::collections::HashSet<u64>,
    /// The chunk's `totalRecords`, from its first page.
    announced: Option<u64>,
    rows: u64,
}

impl<'a> Listing<'a> {
    pub fn new(
        arm: &'a Arm,
        scope: &'a Scope,
        subscriptions: &'a [String],
        known: Option<Vec<SubscriptionInfo>>,
    ) -> Listing<'a> {
        Listing {
            arm,
            scope,
            subscriptions,
            known,
            source: Source::ResourceGraph,
            at: At::Graph(Pager::default()),
            rows: 0,
            listed: 0,
            seen: Default::default(),
            with_machines: Default::default(),
            unread: Vec::new(),
            partial: Vec::new(),
            looked: false,
            unsure: Vec::new(),
            unsure_why: String::new(),
        }
    }

    /// The next machines listed (a page, maybe none of it in scope), or
    /// `None` when all are.
    pub async fn next(&mut self) -> Result<Option<Vec<Listed>>> {
        loop {
            let mut batch = Vec::new();
            match &self.at {
                At::Done => return Ok(None),
                At::Graph(_) => match self.graph_page(&mut batch).await {
                    Ok(more) => {
                        if !more {
                            self.at = At::Done;
                        }
                        return Ok(Some(batch));
                    }
                    // Waiting cannot help: the run stops, naming the endpoint.
                    Err(e) if e.is_unreachable() => return Err(e.into()),
                    Err(e) => {
                        tracing::info!("Resource Graph refused, listing with ARM: {e}");
                        let why = if e.is_invalid_answer() {
                            crate::text::one_line(&e.message)
                        } else {
                            format!("{} {}", e.status, e.code)
                        };
                        // The machines already handed out are not listed again.
                        self.source = if self.rows == 0 {
                            Source::ArmList(why)
                        } else {
                            Source::GraphThenArm(why, self.listed)
                        };
                        // The chunks of subscriptions Graph finished are
                        // not listed again.
                        let from = match &self.at {
                            At::Graph(p) => p.chunk * GRAPH_MAX,
                            _ => 0,
                        };
                        self.rows = 0;
                        self.at = At::Arm(from);
                    }
                },
                &At::Arm(i) => {
                    let Some(sub) = self.subscriptions.get(i) else {
                        self.at = At::Done;
                        return Ok(None);
                    };
                    self.at = At::Arm(i + 1);
                    // Resource Graph handed out machines of it before it failed.
                    let in_part = self.with_machines.contains(&sub.to_ascii_lowercase());
                    // One subscription that cannot be listed does not stop the others.
                    match self.arm_list(sub, &mut batch).await {
                        Ok(()) => return Ok(Some(batch)),
                        Err(e) if e.is_unreachable() => return Err(e.into()),
                        Err(e) => {
                            // Nothing of a subscription read in part by ARM.
                            for (id, _) in &batch {
                                self.seen.remove(&id.key());
                            }
                            self.listed -= batch.len();
                            let why = crate::text::one_line(&e.to_string());
                            if in_part {
                                self.partial.push((
                                    sub.clone(),
                                    format!(
                                        "listed in part: Resource Graph listed some of its machines, which were checked, then failed, and ARM's list failed too ({why})"
                                    ),
                                ));
                            } else {
                                self.unread.push((sub.clone(), why));
                            }
                        }
                    }
                }
            }
        }
    }

    /// How many machines are in scope, before they are all listed:
    /// Resource Graph's count of its one query (no tag to match).
    pub fn announced(&self) -> Option<usize> {
        // One query only: with more subscriptions than one query takes, the
        // first chunk's count is not the scope's.
        let one_query = self.subscriptions.len() <= GRAPH_MAX;
        match &self.at {
            At::Graph(p) if one_query && self.scope.tags.is_empty() && p.chunk == 0 => {
                p.announced.filter(|&n| n != u64::MAX).map(|n| n as usize)
            }
            _ => None,
        }
    }

    /// Machines handed out so far.
    pub fn listed(&self) -> usize {
        self.listed
    }

    /// Resource Graph leaves out, without a word, a subscription the caller
    /// cannot see (a typo, a lost role): one with no machine listed yet is
    /// looked for in the caller's subscriptions, and is not checked when it
    /// is not there. Once per listing.
    pub async fn look_for_silent_subscriptions(&mut self) {
        if self.looked || self.source != Source::ResourceGraph {
            return;
        }
        self.looked = true;
        let empty: Vec<&String> = self
            .subscriptions
            .iter()
            .filter(|s| !self.with_machines.contains(&s.to_ascii_lowercase()))
            .collect();
        if empty.is_empty() {
            return;
        }
        let visible = match self.known.take() {
            Some(v) => Ok(v),
            None => {
                list_all::<SubscriptionInfo>(self.arm, "/subscriptions", SUBSCRIPTIONS_API).await
            }
        };
        let visible = match visible {
            Ok(v) => v,
            Err(e) => {
                // Could not be read is not "there": an empty subscription and
                // one the caller cannot see look the same to Resource Graph.
                self.unsure = empty.into_iter().cloned().collect();
                self.unsure_why = format!(
                    "no machine listed, and whether you can see it could not be read ({})",
                    crate::text::one_line(&e.to_string())
                );
                return;
            }
        };
        for sub in empty {
            let seen = visible.iter().any(|v| {
                v.subscription_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(sub))
            });
            if !seen {
                self.unread.push((
                    sub.clone(),
                    "not among the subscriptions you can see: a typo, or no role there".into(),
                ));
            }
        }
    }

    /// The scope line, with `machines` in scope.
    pub fn scope_line(&self, machines: usize) -> String {
        // A subscription listed in part was listed (its machines checked).
        let unread = self.unread().len() - self.partial.len();
        let mut line = scope_line(
            self.scope,
            machines,
            self.subscriptions.len().saturating_sub(unread),
            unread,
            &self.source,
        );
        if !self.partial.is_empty() {
            line.push_str(&format!(
                "; {} subscription{} listed in part (not checked: the rest of {})",
                thousands(self.partial.len()),
                if self.partial.len() == 1 { "" } else { "s" },
                if self.partial.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
        }
        line
    }

    /// Subscriptions that could not be listed, and why (not checked).
    pub fn unread(&self) -> Vec<(String, String)> {
        // Those whose visibility could not be read count once the listing
        // has ended and still shows no machine of theirs (before that, a
        // later page may list one).
        let ended = matches!(self.at, At::Done);
        let unsure = self
            .unsure
            .iter()
            .filter(|_| ended)
            .filter(|s| !self.with_machines.contains(&s.to_ascii_lowercase()))
            .map(|s| (s.clone(), self.unsure_why.clone()));
        self.unread
            .iter()
            .chain(&self.partial)
            .cloned()
            .chain(unsure)
            .collect()
    }

    /// A row or list item: counted, and handed out when its tags match and
    /// it was not already.
    fn add(
        &mut self,
        id: MachineId,
        m: Machine,
        path: &str,
        batch: &mut Vec<Listed>,
    ) -> std::result::Result<(), ArmError> {
        self.rows += 1;
        if self.rows > MAX_MACHINES {
            return Err(ArmError::invalid_answer(
                200,
                if path == GRAPH_PATH { "POST" } else { "GET" },
                path,
                None,
                format!(
                    "more than {} machines in scope, arcfix's limit for one run: narrow it with --resource-group or --tag",
                    thousands(MAX_MACHINES)
                ),
            ));
        }
        self.with_machines
            .insert(id.subscription.to_ascii_lowercase());
        if self.scope.tags_match(&m.tags) && self.seen.insert(id.key()) {
            batch.push((id, usable(m).map(Box::new)));
            self.listed += 1;
        }
        Ok(())
    }

    /// Resource Graph's next page into `batch`; whether there are more. A
    /// `$skipToken` seen before, a page with no row but a token, more rows
    /// than a page may hold or than `totalRecords` announced: an error,
    /// never an endless or partial list.
    async fn graph_page(&mut self, batch: &mut Vec<Listed>) -> std::result::Result<bool, ArmError> {
        let bad = |why: String| ArmError::invalid_answer(200, "POST", GRAPH_PATH, None, why);
        let At::Graph(pager) = &self.at else {
            return Ok(false);
        };
        let chunks: Vec<&[String]> = self.subscriptions.chunks(GRAPH_MAX).collect();
        let Some(chunk) = chunks.get(pager.chunk) else {
            return Ok(false);
        };
        let mut options = json!({"$top": GRAPH_MAX, "resultFormat": "objectArray"});
        if let Some(t) = &pager.skip_token {
            options["$skipToken"] = json!(t);
        }
        let body = json!({
            "subscriptions": chunk,
            "query": query(self.scope.resource_group.as_deref()),
            "options": options,
        });
        let a = self
            .arm
            .send("POST", GRAPH_PATH, GRAPH_API, Some(&body))
            .await?;
        let page: GraphPage<GraphMachine> = serde_json::from_value(a.body)
            .map_err(|e| ArmError::invalid_answer(200, "POST", GRAPH_PATH, None, e))?;
        if page.result_truncated.as_deref() == Some("true") && page.skip_token.is_none() {
            return Err(bad(
                "Resource Graph truncated the answer without a $skipToken".into(),
            ));
        }
        if page.data.len() > GRAPH_MAX {
            return Err(bad(format!(
                "Resource Graph returned {} rows on a page of at most {GRAPH_MAX}",
                page.data.len()
            )));
        }
        let At::Graph(pager) = &mut self.at else {
            return Ok(false);
        };
        // The first page's count holds for the query (it pages one result set).
        let total = *pager
            .announced
            .get_or_insert(page.total_records.unwrap_or(u64::MAX));
        if total != u64::MAX && total > MAX_MACHINES as u64 {
            return Err(bad(format!(
                "Resource Graph counts {total} machines in scope, more than {}, arcfix's limit for one run: narrow it with --resource-group or --tag",
                thousands(MAX_MACHINES)
            )));
        }
        pager.rows += page.data.len() as u64;
        if pager.rows > total {
            return Err(bad(format!(
                "Resource Graph returned more rows than the {total} it announced (totalRecords)"
            )));
        }
        let empty = page.data.is_empty();
        let next = match page.skip_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(token) if empty => {
                return Err(bad(format!(
                    "Resource Graph returned a page without rows and a $skipToken ({})",
                    crate::checks::azure::shown_link(&token)
                )));
            }
            Some(token) => {
                // Their hashes are kept, not the tokens (which Azure may make large).
                if !pager
                    .tokens
                    .insert(crate::checks::azure::fingerprint(&token))
                {
                    return Err(bad(format!(
                        "Resource Graph returned the same $skipToken again ({})",
                        crate::checks::azure::shown_link(&token)
                    )));
                }
                Some(token)
            }
        };
        // The last page, and fewer rows than announced: the list is not
        // whole and is not taken for the whole. Said before this page's rows
        // are handed out: ARM lists the chunk's subscriptions again, these
        // rows among them (those handed out before are not listed twice).
        if next.is_none() && total != u64::MAX && pager.rows < total {
            return Err(bad(format!(
                "Resource Graph ended after {} of the {total} rows it announced (totalRecords)",
                pager.rows
            )));
        }
        for row in page.data {
            let Some(id) = row.id.as_deref().filter(|i| !i.trim().is_empty()) else {
                return Err(bad("Resource Graph returned a row without an id".into()));
            };
            let id = MachineId::parse(id).map_err(bad_id(GRAPH_PATH, "POST"))?;
            self.add(id, row.into_machine(), GRAPH_PATH, batch)?;
        }
        let At::Graph(pager) = &mut self.at else {
            return Ok(false);
        };
        match next {
            Some(token) => pager.skip_token = Some(token),
            None => {
                *pager = Pager {
                    chunk: pager.chunk + 1,
                    ..Pager::default()
                };
            }
        }
        Ok(pager.chunk < chunks.len())
    }

    /// ARM's list of machines of a subscription or resource group
    /// (`nextLink`), a page at a time into `batch`.
    async fn arm_list(
        &mut self,
        subscription: &str,
        batch: &mut Vec<Listed>,
    ) -> std::result::Result<(), ArmError> {
        let path = match &self.scope.resource_group {
            Some(rg) => format!(
                "/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines"
            ),
            None => {
                format!("/subscriptions/{subscription}/providers/Microsoft.HybridCompute/machines")
            }
        };
        let arm = self.arm;
        list_each::<Machine>(arm, &path, api::HYBRID_COMPUTE, |m| {
            let Some(id) = m.id.as_deref().filter(|i| !i.trim().is_empty()) else {
                return Err(ArmError::invalid_answer(
                    200,
                    "GET",
                    &path,
                    None,
                    "ARM listed a machine without an id",
                ));
            };
            let id = MachineId::parse(id).map_err(bad_id(&path, "GET"))?;
            self.add(id, m, &path, batch)
        })
        .await
    }
}

/// The longest value of a listed field arcfix keeps (a status, an OS type,
/// an agent version, a date, a location, a port range).
const FIELD_MAX: usize = 128;

/// A listed machine with what the checks need of it, or `None` when the
/// listing left out or blanked a field they rely on (its status, OS type,
/// agent version or location), or sent one too long to be real: the machine is then read
/// with a GET, never judged from nothing. Of its tags (already matched) only
/// `SSHPort` is kept: `az ssh arc` takes the port from it.
fn usable(mut m: Machine) -> Option<Machine> {
    let p = &m.properties;
    let short = |s: &Option<String>| s.as_deref().is_none_or(|s| s.len() <= FIELD_MAX);
    let present = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    let ports_ok = p
        .agent_configuration
        .as_ref()
        .and_then(|c| c.incoming_connections_ports.as_ref())
        .is_none_or(|ports| ports.len() <= 64 && ports.iter().all(|p| p.len() <= FIELD_MAX));
    let whole = present(&p.status)
        && present(&m.location)
        && present(&p.os_type)
        && present(&p.agent_version)
        && [
            &p.status,
            &p.os_type,
            &p.agent_version,
            &p.last_status_change,
            &m.location,
        ]
        .into_iter()
        .all(short)
        && ports_ok;
    if !whole {
        return None;
    }
    m.tags
        .retain(|k, _| k == crate::checks::azure::SSH_PORT_TAG);
    m.name = None;
    m.id = None;
    Some(m)
}

/// The query: machines with the fields the checks read, `id` projected so
/// that Resource Graph can page.
fn query(resource_group: Option<&str>) -> String {
    let mut q = String::from("resources | where type =~ 'microsoft.hybridcompute/machines'");
    if let Some(rg) = resource_group {
        // A resource group name has no quote (validated), so it cannot end the literal.
        q.push_str(&format!(" and resourceGroup =~ '{rg}'"));
    }
    q.push_str(
        " | project id, name, location, tags, status=tostring(properties.status), \
         osType=tostring(properties.osType), agentVersion=tostring(properties.agentVersion), \
         lastStatusChange=tostring(properties.lastStatusChange), \
         agentConfiguration=properties.agentConfiguration",
    );
    q
}

fn bad_id(path: &str, method: &str) -> impl Fn(Error) -> ArmError {
    let (path, method) = (path.to_string(), method.to_string());
    move |e| ArmError::invalid_answer(200, &method, &path, None, e)
}

/// What the caller may do in one resource group, read once for its machines.
pub struct GroupRights {
    pub permissions: std::result::Result<Vec<Permission>, ArmError>,
    /// Machines (ids, lower case) with role assignments of their own, at or
    /// below them: their rights can differ from the group's, so they are read
    /// on their own. `None` when the assignments could not be read.
    pub own: Option<std::collections::HashSet<String>>,
}

impl GroupRights {
    /// The group's permissions, when they are also this machine's.
    pub fn for_machine(
        &self,
        id: &MachineId,
    ) -> Option<&std::result::Result<Vec<Permission>, ArmError>> {
        let lower = id.to_string().to_ascii_lowercase();
        let own = self.own.as_ref()?;
        let mine = own
            .iter()
            .any(|scope| scope == &lower || scope.starts_with(&format!("{lower}/")));
        (!mine).then_some(&self.permissions)
    }
}

type Cell<T> = Arc<OnceCell<T>>;

/// A list of the caller's permissions as ARM answered it.
type Rights = std::result::Result<Vec<Permission>, ArmError>;

/// Reads shared by the machines of one subscription or resource group, each
/// made once however many machines ask at the same time.
#[derive(Default)]
pub struct Shared {
    providers: Mutex<HashMap<String, Cell<std::result::Result<Provider, ArmError>>>>,
    groups: Mutex<HashMap<String, Cell<Arc<GroupRights>>>>,
    /// Whether the caller may register providers, per subscription.
    registers: Mutex<HashMap<String, Cell<Option<bool>>>>,
    /// The caller's permissions at each subscription.
    subscription_rights: Mutex<HashMap<String, Cell<Rights>>>,
    /// Resource groups (ids, lower case) with two or more machines in scope:
    /// there one read of the group's rights serves them all.
    pub crowded: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Machines of the run so far, per resource group (ids, lower case).
    per_group: std::sync::Mutex<HashMap<String, usize>>,
}

impl Shared {
    /// Forgets what was read: each detection reads afresh (the demo and
    /// `apply` detect again after changing things).
    pub async fn reset(&self) {
        self.providers.lock().await.clear();
        self.groups.lock().await.clear();
        self.registers.lock().await.clear();
        self.subscription_rights.lock().await.clear();
        if let Ok(mut c) = self.crowded.lock() {
            c.clear();
        }
        if let Ok(mut p) = self.per_group.lock() {
            p.clear();
        }
    }

    async fn cell<T>(map: &Mutex<HashMap<String, Cell<T>>>, key: &str) -> Cell<T> {
        map.lock()
            .await
            .entry(key.to_ascii_lowercase())
            .or_default()
            .clone()
    }

    /// The HybridConnectivity provider of a subscription.
    pub async fn provider(
        &self,
        arm: &Arm,
        subscription: &str,
    ) -> std::result::Result<Provider, ArmError> {
        let cell = Self::cell(&self.providers, subscription).await;
        cell.get_or_init(|| async {
            let path = format!("/subscriptions/{subscription}/providers/{HYBRID_CONNECTIVITY}");
            let a = arm.get(&path, api::RESOURCES).await?;
            serde_json::from_value(a.body)
                .map_err(|e| ArmError::invalid_answer(200, "GET", &path, None, e))
        })
        .await
        .clone()
    }

    /// The caller's permissions at the subscription, read once: sent with
    /// a machine's first reads (before the provider is known to need them),
    /// so that `may_register` costs no round trip of its own.
    pub async fn subscription_permissions(
        &self,
        arm: &Arm,
        subscription: &str,
    ) -> std::result::Result<Vec<Permission>, ArmError> {
        let cell = Self::cell(&self.subscription_rights, subscription).await;
        cell.get_or_init(|| async {
            let path = format!(
                "/subscriptions/{subscription}/providers/Microsoft.Authorization/permissions"
            );
            list_all::<Permission>(arm, &path, api::AUTHORIZATION).await
        })
        .await
        .clone()
    }

    /// Whether the caller may register providers in the subscription
    /// (`checks::azure::may_register`, from `subscription_permissions`),
    /// asked once per subscription.
    pub async fn may_register(
        &self,
        arm: &Arm,
        subscription: &str,
        oid: Option<&str>,
    ) -> Option<bool> {
        let cell = Self::cell(&self.registers, subscription).await;
        *cell
            .get_or_init(|| async {
                let permissions = self.subscription_permissions(arm, subscription).await;
                crate::checks::azure::may_register(arm, subscription, oid, permissions).await
            })
            .await
    }

    /// Notes which resource groups hold several machines of the run, as
    /// they are listed (a fleet a page at a time).
    pub fn count<'a>(&self, machines: impl IntoIterator<Item = &'a MachineId>) {
        let (Ok(mut per), Ok(mut crowded)) = (self.per_group.lock(), self.crowded.lock()) else {
            return;
        };
        for m in machines {
            let group = m.resource_group_id().to_ascii_lowercase();
            let n = per.entry(group.clone()).or_default();
            *n += 1;
            if *n == 2 {
                crowded.insert(group);
            }
        }
    }

    /// The caller's permissions on a machine, from its resource group's when
    /// they are the same (several machines there, none with assignments of
    /// its own); `None` means: read them at the machine.
    pub async fn group_permissions(
        &self,
        arm: &Arm,
        id: &MachineId,
    ) -> Option<std::result::Result<Vec<Permission>, ArmError>> {
        let group = id.resource_group_id();
        let crowded = self
            .crowded
            .lock()
            .map(|c| c.contains(&group.to_ascii_lowercase()))
            .unwrap_or(false);
        if !crowded {
            return None;
        }
        let cell = Self::cell(&self.groups, &group).await;
        let rights = cell
            .get_or_init(|| async { Arc::new(group_rights(arm, &group).await) })
            .await
            .clone();
        rights.for_machine(id).cloned()
    }
}

/// One resource group's permissions and the scopes below it that have role
/// assignments of their own (ARM lists assignments at, above and below the
/// scope asked: one read finds them all).
async fn group_rights(arm: &Arm, group: &str) -> GroupRights {
    let permissions_path = format!("{group}/providers/Microsoft.Authorization/permissions");
    let assignments_path = format!("{group}/providers/Microsoft.Authorization/roleAssignments");
    let (permissions, assignments) = tokio::join!(
        list_all::<Permission>(arm, &permissions_path, api::AUTHORIZATION),
        list_all::<RoleAssignment>(arm, &assignments_path, api::AUTHORIZATION),
    );
    let group_lower = group.to_ascii_lowercase();
    let own = assignments.ok().map(|list| {
        list.into_iter()
            .filter_map(|a| a.properties.scope)
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| s.starts_with(&format!("{group_lower}/")))
            .collect()
    });
    GroupRights { permissions, own }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A machine's fields as the checks read them are the same whether the
    /// machine came from ARM (GET) or from Resource Graph (the projection):
    /// every field of the official example, each given a value, goes through
    /// the query's own `project` and `GraphMachine::into_machine`. A field a
    /// check starts reading without a column in the projection fails here,
    /// instead of reading `None` in every fleet run.
    #[test]
    fn resource_graph_projects_every_machine_field_the_checks_read() {
        fn fill(v: &mut Value, n: &mut u32) {
            match v {
                Value::Null => {
                    *n += 1;
                    *v = json!(format!("value-{n}"));
                }
                Value::Object(o) => o.values_mut().for_each(|x| fill(x, n)),
                Value::Array(a) => a.iter_mut().for_each(|x| fill(x, n)),
                _ => {}
            }
        }
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/arm/hybridcompute/2025-01-13/Machines_Get.json"
        ))
        .unwrap();
        let mut arm: Value =
            serde_json::from_str::<Value>(&text).unwrap()["responses"]["200"]["body"].clone();
        fill(&mut arm, &mut 0);
        arm["tags"] = json!({"env": "prod"});
        let query = query(None);
        let project = query
            .split(" | ")
            .find_map(|stage| stage.strip_prefix("project "))
            .expect("a project stage");
        let lookup = |path: &str| {
            path.split('.').fold(arm.clone(), |v, key| {
                v.get(key).cloned().unwrap_or(Value::Null)
            })
        };
        let mut row = serde_json::Map::new();
        for column in project.split(", ") {
            let column = column.trim();
            let (name, expr) = column.split_once('=').unwrap_or((column, column));
            let value = match expr
                .strip_prefix("tostring(")
                .and_then(|e| e.strip_suffix(')'))
            {
                Some(path) => match lookup(path) {
                    Value::String(s) => json!(s),
                    Value::Null => json!(""),
                    other => json!(other.to_string()),
                },
                None => lookup(expr),
            };
            row.insert(name.to_string(), value);
        }
        let from_graph = serde_json::from_value::<GraphMachine>(Value::Object(row))
            .unwrap()
            .into_machine();
        let from_arm: Machine = serde_json::from_value(arm).unwrap();
        assert_eq!(format!("{from_graph:?}"), format!("{from_arm:?}"));
    }

    #[test]
    fn a_listed_machine_without_what_the_checks_read_is_read_again() {
        let row = |status: &str, os: &str, agent: &str| {
            serde_json::from_value::<GraphMachine>(json!({
                "id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m",
                "location": "eastus",
                "tags": {"env": "prod"},
                "status": status, "osType": os, "agentVersion": agent,
            }))
            .unwrap()
            .into_machine()
        };
        let whole = usable(row("Connected", "linux", "1.50")).unwrap();
        assert!(whole.tags.is_empty(), "tags were matched, not kept");
        assert_eq!(whole.properties.status.as_deref(), Some("Connected"));
        for (status, os, agent) in [
            ("", "linux", "1.50"),
            (" ", "linux", "1.50"),
            ("Connected", "", "1.50"),
            ("Connected", "linux", ""),
        ] {
            assert!(
                usable(row(status, os, agent)).is_none(),
                "{status:?} {os:?} {agent:?}"
            );
        }
        let long = "x".repeat(FIELD_MAX + 1);
        assert!(usable(row(&long, "linux", "1.50")).is_none());
    }

    #[test]
    fn counts_read_with_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1284), "1,284");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn group_rights_serve_machines_without_assignments_of_their_own() {
        let m = |n: &str| {
            MachineId::parse(&format!(
                "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{n}"
            ))
            .unwrap()
        };
        let own = [m("web-1").to_string().to_ascii_lowercase()
            + "/providers/microsoft.hybridconnectivity/endpoints/default"]
        .into_iter()
        .collect();
        let rights = GroupRights {
            permissions: Ok(vec![]),
            own: Some(own),
        };
        assert!(rights.for_machine(&m("web-1")).is_none());
        assert!(
            rights.for_machine(&m("web-10")).is_some(),
            "a name prefix is not a scope below"
        );
        let unknown = GroupRights {
            permissions: Ok(vec![]),
            own: None,
        };
        assert!(unknown.for_machine(&m("web-10")).is_none());
    }

    #[test]
    fn tags_match_names_without_case_and_values_exactly() {
        let scope = Scope {
            subscriptions: vec![],
            resource_group: None,
            tags: vec![("Env".into(), "prod".into()), ("team".into(), "ops".into())],
        };
        let tags = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(scope.tags_match(&tags(&[("env", "prod"), ("TEAM", "ops"), ("x", "y")])));
        assert!(!scope.tags_match(&tags(&[("env", "Prod"), ("team", "ops")])));
        assert!(!scope.tags_match(&tags(&[("env", "prod")])));
    }
}
