//! Every request arcfix sends to the simulator, checked against the official
//! REST specs: the OpenAPI 2.0 files of Azure/azure-rest-api-specs for each
//! api-version arcfix calls, copied unchanged under `tests/data/specs` (see
//! SOURCES.md there). For each request: an operation with that method and a
//! matching path template exists in that api-version's file, its path and
//! query parameters are valid (required ones present, none undeclared), and
//! its JSON body validates against the operation's schema, read-only
//! properties not sent. What ARM serves but the files do not describe is
//! allowed by name in [`ALLOWED`], each with its reason.
//!
//! The `Azure` helper (tests/azure.rs) runs this over everything its simulator
//! received when it is dropped, so every integration test is covered; the
//! tests at the end cover a broad run of commands on their own.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use arcfix::sim::LoggedRequest;
use serde_json::Value;

use crate::azure::Azure;

/// Something ARM serves that the spec files do not describe (SOURCES.md,
/// "What ARM serves that these files do not describe").
pub struct Allowed {
    pub name: &'static str,
    pub reason: &'static str,
    pub method: &'static str,
    /// The path it is allowed on; `None` for an undeclared query parameter
    /// allowed on every operation of a kind (named in `query`).
    pub template: Option<&'static str>,
    /// The api-version it must carry; `None` when any is taken as given.
    pub api_version: Option<&'static str>,
    /// Query parameters it may carry besides `api-version`.
    pub query: &'static [&'static str],
}

pub const ALLOWED: [Allowed; 7] = [
    Allowed {
        name: "subscription-scope permissions",
        reason: "ARM answers the caller's permissions at subscription scope, but the \
                 Authorization 2022-04-01 files describe `permissions` only at resource \
                 group and resource scope (azure-rest-api-specs issue #19473)",
        method: "GET",
        template: Some(
            "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/permissions",
        ),
        api_version: Some("2022-04-01"),
        query: &["$skiptoken"],
    },
    Allowed {
        name: "operationStatus URL",
        reason: "the status URL ARM hands out in `Azure-AsyncOperation` for a long-running \
                 operation; HybridCompute 2025-01-13 has no such path, and the URL, \
                 api-version included, is ARM's, followed as given",
        method: "GET",
        template: Some(
            "/subscriptions/{subscriptionId}/providers/Microsoft.HybridCompute/locations/{location}/operationStatus/{operationId}",
        ),
        api_version: None,
        query: &[],
    },
    Allowed {
        name: "subscriptions list",
        reason: "`Subscriptions_List` (GET /subscriptions) of Microsoft.Resources' \
                 `subscriptions.json` 2022-12-01, a file not copied here: arcfix calls it \
                 only to turn a subscription name into its id (`--subscription NAME`)",
        method: "GET",
        template: Some("/subscriptions"),
        api_version: Some("2022-12-01"),
        query: &[],
    },
    Allowed {
        name: "$skiptoken on next-page links",
        reason: "operations marked `x-ms-pageable` name a `nextLink`, followed verbatim; ARM \
                 carries its continuation token there as `$skiptoken`, a query parameter \
                 the list operations do not declare",
        method: "GET",
        template: None,
        api_version: None,
        query: &["$skiptoken"],
    },
    Allowed {
        name: "VMware vSphere VM read",
        reason: "`VirtualMachines_Get` of Microsoft.ConnectedVMwarevSphere 2023-10-01, a file \
                 not copied here (its official example is tests/data/arc-vms): the read of an \
                 Arc VMware VM named with --id, as az ssh arc reads it for its OS type",
        method: "GET",
        template: Some(
            "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ConnectedVMwarevSphere/virtualMachines/{virtualMachineName}",
        ),
        api_version: Some("2023-10-01"),
        query: &[],
    },
    Allowed {
        name: "SCVMM VM read",
        reason: "`VirtualMachines_Get` of Microsoft.ScVmm 2023-04-01-preview, a file not \
                 copied here (the 2020-06-05-preview GET example is tests/data/arc-vms)",
        method: "GET",
        template: Some(
            "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ScVmm/virtualMachines/{virtualMachineName}",
        ),
        api_version: Some("2023-04-01-preview"),
        query: &[],
    },
    Allowed {
        name: "Azure Stack HCI VM read",
        reason: "`VirtualMachines_Retrieve` of Microsoft.AzureStackHCI 2022-12-15-preview, a \
                 file not copied here (its official example is tests/data/arc-vms)",
        method: "GET",
        template: Some(
            "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.AzureStackHCI/virtualMachines/{virtualmachinesName}",
        ),
        api_version: Some("2022-12-15-preview"),
        query: &[],
    },
];

/// One segment of a path template.
#[derive(Debug)]
enum Segment {
    Literal(String),
    Param { name: String, span: Span },
}

/// How many request segments a path parameter takes. Parameters marked
/// `x-ms-skip-url-encoding` are paths, not names: one opening the template (a
/// scope or resource id: `/{scope}/…`, `/{resourceUri}/…`) takes one or more
/// segments; one inside it (`{parentResourcePath}`, empty for a top-level
/// resource such as a machine) takes zero or more. Every other takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    One,
    Scope,
    Path,
}

struct Operation {
    id: String,
    api_version: String,
    method: String,
    template: String,
    segments: Vec<Segment>,
    /// Parameters (path-level and operation-level), `$ref`s resolved, each with its file.
    params: Vec<(PathBuf, Value)>,
    pageable: bool,
}

/// The spec files and every operation in them.
pub struct Specs {
    files: HashMap<PathBuf, Value>,
    ops: Vec<Operation>,
}

/// The request parts the specs speak of.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: Option<&'a Value>,
}

impl<'a> From<&'a LoggedRequest> for Request<'a> {
    fn from(r: &'a LoggedRequest) -> Self {
        Request {
            method: &r.method,
            path: &r.path,
            query: &r.query,
            body: r.body.as_ref(),
        }
    }
}

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/specs")
}

/// `a/b/../c` → `a/c`, so `$ref`s from different files name one key.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(normalize(&path));
        }
    }
}

fn segments_of(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn is_read_only(v: &Value) -> bool {
    v["readOnly"] == true
}

impl Specs {
    /// The files under `tests/data/specs`, read once.
    pub fn get() -> &'static Specs {
        static SPECS: OnceLock<Specs> = OnceLock::new();
        SPECS.get_or_init(|| Specs::load(&dir()))
    }

    fn load(dir: &Path) -> Specs {
        let mut paths = Vec::new();
        json_files(dir, &mut paths);
        let files: HashMap<PathBuf, Value> = paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let v =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, v)
            })
            .collect();
        let mut specs = Specs {
            files,
            ops: Vec::new(),
        };
        let mut ops = Vec::new();
        for (file, doc) in &specs.files {
            let Some(api_version) = doc["info"]["version"].as_str() else {
                continue;
            };
            for key in ["paths", "x-ms-paths"] {
                let Some(paths) = doc[key].as_object() else {
                    continue;
                };
                for (template, item) in paths {
                    // `x-ms-paths` keys carry a `?…` to tell them apart.
                    let template = template.split('?').next().unwrap();
                    for (method, op) in item.as_object().unwrap() {
                        if method == "parameters" {
                            continue;
                        }
                        ops.push(specs.operation(file, api_version, method, template, item, op));
                    }
                }
            }
        }
        specs.ops = ops;
        specs
    }

    fn operation(
        &self,
        file: &Path,
        api_version: &str,
        method: &str,
        template: &str,
        item: &Value,
        op: &Value,
    ) -> Operation {
        let params: Vec<(PathBuf, Value)> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| {
                let (f, v) = self.resolve(file, p);
                (f, v.clone())
            })
            .collect();
        let segments = segments_of(template)
            .into_iter()
            .enumerate()
            .map(
                |(i, s)| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param {
                        name: name.to_string(),
                        span: match params
                            .iter()
                            .any(|(_, p)| p["name"] == name && p["x-ms-skip-url-encoding"] == true)
                        {
                            false => Span::One,
                            true if i == 0 => Span::Scope,
                            true => Span::Path,
                        },
                    },
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        Operation {
            id: op["operationId"].as_str().unwrap_or("?").to_string(),
            api_version: api_version.to_string(),
            method: method.to_ascii_uppercase(),
            template: template.to_string(),
            segments,
            params,
            pageable: op["x-ms-pageable"]["nextLinkName"].is_string(),
        }
    }

    /// Follows `$ref`s (within a file or into another one) to the node they name.
    fn resolve<'s>(&'s self, file: &Path, mut v: &'s Value) -> (PathBuf, &'s Value) {
        let mut file = file.to_path_buf();
        while let Some(r) = v["$ref"].as_str() {
            let (rel, pointer) = r.split_once('#').unwrap_or((r, ""));
            if !rel.is_empty() {
                file = normalize(&file.parent().unwrap().join(rel));
            }
            let doc = self
                .files
                .get(&file)
                .unwrap_or_else(|| panic!("$ref {r}: no file {}", file.display()));
            v = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("$ref {r}: nothing at {pointer} in {}", file.display()));
        }
        (file, v)
    }

    /// The operation a request names, with what its path parameters took,
    /// or why none does. Of the templates that match, the one with the most
    /// literal segments wins (ARM's own routing), then the one leaving fewer
    /// parameters empty (`…/endpoints` is a list, not a get of ``); templates without any
    /// literal segment (`/{resourceId}`, `/{roleAssignmentId}`, …) are not
    /// taken: they match any path, and ARM hands such a request to the
    /// provider the path names, whose own operations then apply.
    fn find(
        &self,
        method: &str,
        path: &str,
        api_version: &str,
    ) -> Result<(&Operation, Vec<String>), String> {
        let parts = segments_of(path);
        let mut best: Option<((usize, usize), &Operation, Vec<String>)> = None;
        let mut other_methods = BTreeSet::new();
        for op in self.ops.iter().filter(|o| o.api_version == api_version) {
            let literals = op
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            if literals == 0 {
                continue;
            }
            let Some(values) = match_template(&op.segments, &parts) else {
                continue;
            };
            if !op.method.eq_ignore_ascii_case(method) {
                other_methods.insert(op.method.clone());
                continue;
            }
            let rank = (
                literals,
                usize::MAX - values.iter().filter(|v| v.is_empty()).count(),
            );
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, op, values));
            }
        }
        match best {
            Some((_, op, values)) => Ok((op, values)),
            None if !other_methods.is_empty() => Err(format!(
                "no {method} on this path in api-version {api_version} (only {})",
                other_methods.into_iter().collect::<Vec<_>>().join(", ")
            )),
            None if !self.ops.iter().any(|o| o.api_version == api_version) => {
                Err(format!("no spec file for api-version {api_version}"))
            }
            None => Err(format!(
                "no path template of api-version {api_version} matches"
            )),
        }
    }

    /// What is wrong with a request, if anything, and else the operation (or
    /// allowed exception) it is.
    pub fn check(&self, r: &Request) -> Result<String, Vec<String>> {
        let query: Vec<(String, String)> = url::form_urlencoded::parse(r.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let api_version = query
            .iter()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.as_str());

        let parts = segments_of(r.path);
        for allowed in &ALLOWED {
            let Some(template) = allowed.template else {
                continue;
            };
            let segments: Vec<Segment> = segments_of(template)
                .into_iter()
                .map(|s| match s.strip_prefix('{') {
                    Some(n) => Segment::Param {
                        name: n.trim_end_matches('}').to_string(),
                        span: Span::One,
                    },
                    None => Segment::Literal(s.to_string()),
                })
                .collect();
            if !allowed.method.eq_ignore_ascii_case(r.method)
                || match_template(&segments, &parts).is_none()
            {
                continue;
            }
            let mut problems = Vec::new();
            if let Some(wanted) = allowed.api_version
                && api_version != Some(wanted)
            {
                problems.push(format!(
                    "{}: api-version {api_version:?}, not {wanted}",
                    allowed.name
                ));
            }
            if allowed.api_version.is_some() {
                for (k, _) in &query {
                    if k != "api-version" && !allowed.query.contains(&k.as_str()) {
                        problems.push(format!(
                            "{}: query parameter '{k}' not allowed",
                            allowed.name
                        ));
                    }
                }
            }
            if r.body.is_some() {
                problems.push(format!("{}: a body", allowed.name));
            }
            return if problems.is_empty() {
                Ok(format!("allowed: {}", allowed.name))
            } else {
                Err(problems)
            };
        }

        let Some(api_version) = api_version else {
            return Err(vec!["no api-version".into()]);
        };
        let (op, path_values) = self
            .find(r.method, r.path, api_version)
            .map_err(|e| vec![e])?;
        let mut problems = Vec::new();
        let params = |place: &'static str| op.params.iter().filter(move |(_, p)| p["in"] == place);

        // Path parameters, in the template's order.
        let names = op.segments.iter().filter_map(|s| match s {
            Segment::Param { name, .. } => Some(name),
            Segment::Literal(_) => None,
        });
        for (name, value) in names.zip(&path_values) {
            match params("path").find(|(_, p)| p["name"] == name.as_str()) {
                Some((file, p)) => self.validate(
                    file,
                    p,
                    &Value::String(value.clone()),
                    &format!("path {{{name}}}"),
                    &mut problems,
                ),
                None => problems.push(format!("path {{{name}}} is not declared")),
            }
        }

        // Query parameters: the required ones present, each valid, none undeclared.
        for (file, p) in params("query") {
            let name = p["name"].as_str().unwrap_or_default();
            match query.iter().find(|(k, _)| k == name) {
                Some((_, v)) => {
                    let value = match p["type"].as_str() {
                        Some("integer") => v
                            .parse::<i64>()
                            .map(Value::from)
                            .unwrap_or(Value::String(v.clone())),
                        Some("boolean") => v
                            .parse::<bool>()
                            .map(Value::from)
                            .unwrap_or(Value::String(v.clone())),
                        _ => Value::String(v.clone()),
                    };
                    self.validate(file, p, &value, &format!("query {name}"), &mut problems);
                }
                None if p["required"] == true => {
                    problems.push(format!("required query parameter '{name}' missing"))
                }
                None => {}
            }
        }
        for (k, _) in &query {
            let declared = params("query").any(|(_, p)| p["name"] == k.as_str());
            let skiptoken = &ALLOWED[3];
            let allowed = op.pageable
                && op.method == skiptoken.method
                && skiptoken.query.contains(&k.as_str());
            if !declared && !allowed {
                problems.push(format!("query parameter '{k}' is not declared"));
            }
        }

        // The body.
        let body_param = params("body").next();
        match (body_param, r.body) {
            (Some((file, p)), Some(body)) => {
                self.validate(file, &p["schema"], body, "body", &mut problems)
            }
            (Some((_, p)), None) if p["required"] == true => problems.push(format!(
                "required body '{}' missing",
                p["name"].as_str().unwrap_or("?")
            )),
            (None, Some(_)) => problems.push("a body, where the operation takes none".into()),
            _ => {}
        }

        if problems.is_empty() {
            Ok(op.id.clone())
        } else {
            Err(problems
                .into_iter()
                .map(|p| format!("{} ({} {}): {p}", op.id, op.method, op.template))
                .collect())
        }
    }

    /// Checks `value` against `schema` (a schema or a non-body parameter, which
    /// carries the same keywords): `$ref`, `allOf`, `type`, `enum`, `required`,
    /// `properties`, `additionalProperties`, `items`, `readOnly`, `pattern`,
    /// lengths and bounds. Properties a schema does not list are refused unless
    /// it has `additionalProperties`; an object schema without `properties`
    /// anywhere is free-form, and takes any value (AutoRest's "any").
    fn validate(
        &self,
        file: &Path,
        schema: &Value,
        value: &Value,
        at: &str,
        out: &mut Vec<String>,
    ) {
        let (file, s) = self.resolve(file, schema);
        if let Some(allowed) = s["enum"].as_array() {
            let loose = s["x-ms-enum"]["modelAsString"] == true;
            let same = |a: &Value| match (a.as_str(), value.as_str()) {
                (Some(a), Some(v)) if loose => a.eq_ignore_ascii_case(v),
                _ => a == value,
            };
            if !allowed.iter().any(same) {
                out.push(format!(
                    "{at}: {value} is not one of {}",
                    Value::from(allowed.clone())
                ));
            }
        }
        let mut props = Vec::new();
        let mut required = BTreeSet::new();
        let mut additional = None;
        self.object_parts(&file, s, &mut props, &mut required, &mut additional);
        let kind = s["type"]
            .as_str()
            .or((!props.is_empty() || s.get("allOf").is_some()).then_some("object"));
        // `{"type": "object"}` and nothing else is AutoRest's "any" (the SDKs
        // make it `Any`) where a value of any JSON type is meant: a policy
        // parameter's `allowedValues` items and `defaultValue`, and an
        // assignment's parameter `value` (strings and numbers). Anywhere else
        // (a `policyRule`, `metadata`) it must be an object.
        let any_here = at.ends_with(".defaultValue")
            || at.ends_with(".value")
            || at
                .rsplit_once(".allowedValues[")
                .is_some_and(|(_, rest)| !rest.contains('.'));
        let any = any_here
            && kind == Some("object")
            && props.is_empty()
            && additional.is_none()
            && s.get("allOf").is_none()
            && s.get("enum").is_none();
        let ok = match kind {
            _ if any => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !ok {
            out.push(format!("{at}: {value} is not {}", kind.unwrap_or("?")));
            return;
        }
        match value {
            Value::Object(map) => {
                for name in &required {
                    if !map.contains_key(name) {
                        out.push(format!("{at}.{name}: required, missing"));
                    }
                }
                let free = props.is_empty() && additional.is_none();
                for (k, v) in map {
                    let here = format!("{at}.{k}");
                    match props.iter().find(|(name, _, _)| name == k) {
                        Some((_, f, p)) => {
                            if is_read_only(p) || is_read_only(self.resolve(f, p).1) {
                                out.push(format!("{here}: read-only, sent"));
                            }
                            self.validate(f, p, v, &here, out);
                        }
                        None => match &additional {
                            Some((f, a)) if a.is_object() => self.validate(f, a, v, &here, out),
                            Some((_, a)) if *a == Value::Bool(true) => {}
                            _ if free => {}
                            _ => out.push(format!("{here}: not in the schema")),
                        },
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.validate(&file, item, v, &format!("{at}[{i}]"), out);
                    }
                }
            }
            Value::String(text) => {
                let n = text.chars().count() as u64;
                if s["minLength"].as_u64().is_some_and(|m| n < m)
                    || s["maxLength"].as_u64().is_some_and(|m| n > m)
                {
                    out.push(format!("{at}: length {n} out of bounds"));
                }
                if let Some(pattern) = s["pattern"].as_str() {
                    let re = regex::Regex::new(pattern)
                        .unwrap_or_else(|e| panic!("pattern {pattern} of {at}: {e}"));
                    if !re.is_match(text) {
                        out.push(format!("{at}: '{text}' does not match {pattern}"));
                    }
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or_default();
                if s["minimum"].as_f64().is_some_and(|m| x < m)
                    || s["maximum"].as_f64().is_some_and(|m| x > m)
                {
                    out.push(format!("{at}: {n} out of bounds"));
                }
            }
            _ => {}
        }
    }

    /// The properties, required names and `additionalProperties` of an object
    /// schema and every schema it takes in through `allOf`.
    #[allow(clippy::type_complexity)]
    fn object_parts(
        &self,
        file: &Path,
        s: &Value,
        props: &mut Vec<(String, PathBuf, Value)>,
        required: &mut BTreeSet<String>,
        additional: &mut Option<(PathBuf, Value)>,
    ) {
        if let Some(map) = s["properties"].as_object() {
            for (k, v) in map {
                props.push((k.clone(), file.to_path_buf(), v.clone()));
            }
        }
        for r in s["required"].as_array().into_iter().flatten() {
            required.insert(r.as_str().unwrap_or_default().to_string());
        }
        if let Some(a) = s.get("additionalProperties") {
            *additional = Some((file.to_path_buf(), a.clone()));
        }
        for parent in s["allOf"].as_array().into_iter().flatten() {
            let (f, p) = self.resolve(file, parent);
            self.object_parts(&f, p, props, required, additional);
        }
    }
}

/// Matches path segments to a template: literals case-insensitively (as ARM
/// does); each parameter as many segments as its [`Span`] lets it. Returns
/// the percent-decoded values of the parameters (a scope with its leading `/`).
fn match_template(template: &[Segment], parts: &[&str]) -> Option<Vec<String>> {
    match template.split_first() {
        None => parts.is_empty().then(Vec::new),
        Some((Segment::Literal(l), rest)) => {
            let (first, tail) = parts.split_first()?;
            if !l.eq_ignore_ascii_case(&percent_decode(first)) {
                return None;
            }
            match_template(rest, tail)
        }
        Some((Segment::Param { span, .. }, rest)) => {
            let (least, most) = match span {
                Span::One => (1, 1),
                Span::Scope => (1, parts.len()),
                Span::Path => (0, parts.len()),
            };
            // The longest span that lets the rest match.
            (least..=most.min(parts.len())).rev().find_map(|n| {
                let mut values = match_template(rest, &parts[n..])?;
                let value: Vec<String> = parts[..n].iter().map(|p| percent_decode(p)).collect();
                let joined = match span {
                    Span::Scope => format!("/{}", value.join("/")),
                    _ => value.join("/"),
                };
                values.insert(0, joined);
                Some(values)
            })
        }
    }
}

/// Whether a request is one for the specs: not the Entra token route, and not
/// a link a test injected itself (`foreign` path prefixes).
fn is_arm(r: &LoggedRequest, foreign: &[String]) -> bool {
    let parts = segments_of(&r.path);
    let token = parts.len() == 4 && parts[1..] == ["oauth2", "v2.0", "token"];
    !token && !foreign.iter().any(|f| r.path.starts_with(f.as_str()))
}

/// Each request that does not conform, with what is wrong with it.
pub fn violations(requests: &[LoggedRequest], foreign: &[String]) -> Vec<String> {
    let specs = Specs::get();
    requests
        .iter()
        .filter(|r| is_arm(r, foreign))
        .filter_map(|r| {
            let problems = specs.check(&r.into()).err()?;
            Some(format!(
                "{} {}?{}\n    {}",
                r.method,
                r.path,
                r.query,
                problems.join("\n    ")
            ))
        })
        .collect()
}

/// The operations (or allowed exceptions) a list of requests used.
pub fn operations(requests: &[LoggedRequest]) -> BTreeSet<String> {
    let specs = Specs::get();
    requests
        .iter()
        .filter(|r| is_arm(r, &[]))
        .filter_map(|r| specs.check(&r.into()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const M: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web-01";

    fn check(
        method: &str,
        path: &str,
        query: &str,
        body: Option<Value>,
    ) -> Result<String, Vec<String>> {
        Specs::get().check(&Request {
            method,
            path,
            query,
            body: body.as_ref(),
        })
    }

    /// The copies under `tests/data/specs` are the shared research files, unchanged.
    #[test]
    fn spec_copies_are_byte_identical_to_the_shared_ones() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/specs");
        let mut ours = Vec::new();
        json_files(&dir(), &mut ours);
        assert!(ours.len() >= 11, "spec files are missing: {ours:?}");
        assert!(dir().join("SOURCES.md").is_file());
        if !shared.is_dir() {
            return;
        }
        let mut theirs = Vec::new();
        json_files(&shared, &mut theirs);
        assert_eq!(ours.len(), theirs.len(), "a shared spec file is not copied");
        for name in std::iter::once(PathBuf::from("SOURCES.md")).chain(
            ours.iter()
                .map(|p| p.strip_prefix(normalize(&dir())).unwrap().to_path_buf()),
        ) {
            let a = std::fs::read(dir().join(&name)).unwrap();
            let b = std::fs::read(shared.join(&name))
                .unwrap_or_else(|e| panic!("{} not in shared: {e}", name.display()));
            assert!(a == b, "{} differs from the shared copy", name.display());
        }
    }

    #[test]
    fn every_ref_of_every_operation_resolves() {
        let specs = Specs::get();
        assert!(specs.ops.len() > 150, "{}", specs.ops.len());
        for op in &specs.ops {
            assert!(
                op.params.iter().any(|(_, p)| p["name"] == "api-version"),
                "{}",
                op.id
            );
            for (file, p) in &op.params {
                let mut out = Vec::new();
                // Validating anything walks the schema's refs (a panic if one dangles).
                if p["in"] == "body" {
                    specs.validate(file, &p["schema"], &json!({}), "body", &mut out);
                }
            }
        }
    }

    #[test]
    fn conforming_requests_name_their_operation() {
        let hc = "api-version=2023-03-15";
        assert_eq!(
            check("GET", M, "api-version=2025-01-13", None).unwrap(),
            "Machines_Get"
        );
        // Literal segments compare case-insensitively, as ARM does.
        let lower = M.to_ascii_lowercase();
        assert_eq!(
            check("GET", &lower, "api-version=2025-01-13", None).unwrap(),
            "Machines_Get"
        );
        let endpoint = format!("{M}/providers/Microsoft.HybridConnectivity/endpoints/default");
        assert_eq!(
            check(
                "PUT",
                &endpoint,
                hc,
                Some(json!({"properties": {"type": "default"}}))
            )
            .unwrap(),
            "Endpoints_CreateOrUpdate"
        );
        let ssh = format!("{endpoint}/serviceConfigurations/SSH");
        assert_eq!(
            check(
                "PUT",
                &ssh,
                hc,
                Some(json!({"properties": {"serviceName": "SSH", "port": 22}}))
            )
            .unwrap(),
            "ServiceConfigurations_CreateOrupdate"
        );
        assert_eq!(
            check(
                "POST",
                &format!("{endpoint}/listCredentials"),
                &format!("{hc}&expiresin=600"),
                None
            )
            .unwrap(),
            "Endpoints_ListCredentials"
        );
        // `{parentResourcePath}` is empty for a machine; a bare list is a list.
        assert_eq!(
            check(
                "GET",
                &format!("{M}/providers/Microsoft.Authorization/permissions"),
                "api-version=2022-04-01",
                None
            )
            .unwrap(),
            "Permissions_ListForResource"
        );
        assert_eq!(
            check(
                "GET",
                &format!("{M}/providers/Microsoft.HybridConnectivity/endpoints"),
                hc,
                None
            )
            .unwrap(),
            "Endpoints_List"
        );
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000001";
        assert_eq!(
            check(
                "GET",
                &format!("{sub}/providers/Microsoft.Authorization/permissions"),
                "api-version=2022-04-01",
                None
            )
            .unwrap(),
            "allowed: subscription-scope permissions"
        );
        assert_eq!(
            check(
                "GET",
                &format!("{sub}/providers/Microsoft.HybridCompute/machines"),
                "api-version=2025-01-13&$skiptoken=5",
                None
            )
            .unwrap(),
            "Machines_ListBySubscription"
        );
    }

    #[test]
    fn each_kind_of_nonconformity_is_reported() {
        let hc = "api-version=2023-03-15";
        let endpoint = format!("{M}/providers/Microsoft.HybridConnectivity/endpoints/default");
        let ssh = format!("{endpoint}/serviceConfigurations/SSH");
        let err = |r: Result<String, Vec<String>>| r.unwrap_err().join("\n");
        // No api-version, an unknown one, a path or method the version lacks.
        assert!(err(check("GET", M, "", None)).contains("no api-version"));
        assert!(err(check("GET", M, "api-version=2024-07-10", None)).contains("no spec file"));
        assert!(err(check("GET", M, hc, None)).contains("no path template"));
        assert!(err(check("POST", M, "api-version=2025-01-13", None)).contains("no POST"));
        // A read-only property, a missing required one, an unknown one, a wrong type, a bad enum.
        let e = err(check(
            "PUT",
            &ssh,
            hc,
            Some(
                json!({"properties": {"serviceName": "SSH", "port": 22, "provisioningState": "Succeeded"}}),
            ),
        ));
        assert!(
            e.contains("body.properties.provisioningState: read-only, sent"),
            "{e}"
        );
        let e = err(check("PUT", &endpoint, hc, Some(json!({"properties": {}}))));
        assert!(e.contains("body.properties.type: required, missing"), "{e}");
        let e = err(check(
            "PUT",
            &endpoint,
            hc,
            Some(json!({"properties": {"type": "default", "typo": 1}})),
        ));
        assert!(e.contains("body.properties.typo: not in the schema"), "{e}");
        let e = err(check(
            "PUT",
            &ssh,
            hc,
            Some(json!({"properties": {"serviceName": "SSH", "port": "22"}})),
        ));
        assert!(
            e.contains("body.properties.port: \"22\" is not integer"),
            "{e}"
        );
        let e = err(check(
            "PUT",
            &ssh,
            hc,
            Some(json!({"properties": {"serviceName": "FTP", "port": 22}})),
        ));
        assert!(e.contains("is not one of"), "{e}");
        // A path parameter off its pattern.
        let e = err(check(
            "GET",
            &M.replace("/web-01", "/%20"),
            "api-version=2025-01-13",
            None,
        ));
        assert!(e.contains("path {machineName}: ' ' does not match"), "{e}");
        // A required body missing, a query parameter out of bounds or undeclared.
        assert!(err(check("PUT", &ssh, hc, None)).contains("required body"));
        let e = err(check(
            "POST",
            &format!("{endpoint}/listCredentials"),
            &format!("{hc}&expiresin=60"),
            None,
        ));
        assert!(e.contains("query expiresin: 60 out of bounds"), "{e}");
        let e = err(check("GET", &endpoint, &format!("{hc}&$skiptoken=1"), None));
        assert!(e.contains("'$skiptoken' is not declared"), "{e}");
        // A policy parameter's values are of any type; a policy rule is an object.
        let definition = "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/policyDefinitions/d";
        let authz = "api-version=2023-04-01";
        let body = |rule: Value| {
            json!({"properties": {"policyRule": rule, "parameters": {"effect": {
                "type": "String", "defaultValue": "Audit", "allowedValues": ["Audit", 2]
            }}}})
        };
        assert!(
            check(
                "PUT",
                definition,
                authz,
                Some(body(json!({"if": {}, "then": {}})))
            )
            .is_ok()
        );
        let e = err(check("PUT", definition, authz, Some(body(json!("if")))));
        assert!(
            e.contains("body.properties.policyRule: \"if\" is not object"),
            "{e}"
        );
        // An allowed exception holds only as named.
        let perms = "/subscriptions/s/providers/Microsoft.Authorization/permissions";
        assert!(
            err(check("GET", perms, "api-version=2021-04-01", None)).contains("not 2022-04-01")
        );
    }
}

/// A broad run of arcfix against one simulator, so that what the specs cover
/// does not depend on the other tests: the demo applied with Entra login, role
/// grants and the server side over run commands, a fleet listed and planned,
/// a saved plan applied. Every request must conform (checked again by the
/// helper on drop); the operations used are the ones arcfix is known to call.
#[test]
fn every_request_of_a_broad_run_conforms_to_the_specs() {
    let az = Azure::builtin("demo");
    let id = az.machine(0);
    let sub = id.split('/').nth(2).unwrap().to_string();
    let file = az.sandbox.path("plan.json");
    let file = file.to_str().unwrap();
    let options = [
        "--id",
        &id,
        "--checks",
        "azure,server",
        "--remote",
        "--login",
        "entra",
        "--grant-roles",
    ];
    let check = az.run(&[&["check", "-o", "json"][..], &options].concat());
    assert_eq!(check.status, 2, "{check:?}");
    let plan = az.run(&[&["plan", "--out", file][..], &options].concat());
    assert_eq!(plan.status, 2, "{plan:?}");
    let apply = az.run(&[&["apply", "--yes", "--plan", file][..], &options].concat());
    assert_eq!(apply.status, 0, "{apply:?}");
    let again = az.run(&[&["check"][..], &options].concat());
    assert_eq!(again.status, 0, "{again:?}");
    // The connection probe asks for relay credentials (no sshd behind the
    // relay here: the probe then fails, which is not what this test is about).
    crate::connect::stand_in_proxy(&az, "");
    std::fs::create_dir_all(az.sandbox.path("tmp")).unwrap();
    crate::connect::run(
        &az,
        &["check", "--checks", "azure", "--connect", "--id", &id],
    );
    let fleet = az.run(&["plan", "--checks", "azure", "--subscription", &sub]);
    assert_ne!(fleet.status, 1, "{fleet:?}");

    let requests = az.sim().all_requests();
    let bad = violations(&requests, &[]);
    assert!(
        bad.is_empty(),
        "requests the specs refuse:\n{}",
        bad.join("\n")
    );
    let used = operations(&requests);
    for op in [
        "Machines_Get",
        // A fleet is enumerated with Resource Graph (tests/fleet.rs covers the ARM list).
        "Resources",
        "Providers_Get",
        "Providers_Register",
        "Endpoints_Get",
        "Endpoints_CreateOrUpdate",
        "Endpoints_ListCredentials",
        "ServiceConfigurations_Get",
        "ServiceConfigurations_CreateOrupdate",
        "RoleAssignments_Create",
        "MachineExtensions_CreateOrUpdate",
        "MachineRunCommands_CreateOrUpdate",
        "allowed: subscription-scope permissions",
        "allowed: operationStatus URL",
    ] {
        assert!(used.contains(op), "{op} not used: {used:#?}");
    }
}

/// The `Azure` helper holds every test to the specs: a request they refuse
/// fails the test when its simulator is dropped, naming what is wrong.
#[test]
fn a_request_the_specs_refuse_fails_the_test_that_sent_it() {
    let az = Azure::builtin("healthy");
    let url = format!(
        "{}{}/providers/Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH?api-version=2023-03-15",
        az.sim().base_url().trim_end_matches('/'),
        az.machine(0)
    );
    let body = serde_json::json!({"properties": {"serviceName": "SSH", "port": 22, "provisioningState": "Succeeded"}});
    let token = az.token.clone();
    az.rt.block_on(async move {
        reqwest::Client::new()
            .put(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    });
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(az)));
    let message = *dropped
        .expect_err("the helper let a read-only property through")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("PUT /subscriptions/")
            && message.contains("body.properties.provisioningState: read-only, sent"),
        "{message}"
    );
}
