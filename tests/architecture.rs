//! Data flows one way (issue 17, points 5 and 7), read from the source: no
//! import cycle among `src/`'s top-level modules, the simulator imports
//! nothing from the product, only `demo` (and `run`, for `arcfix sim-proxy`)
//! reaches the simulator, and the shared vocabulary (`vocab`) is a leaf.
//!
//! A module "imports" another when its code names a `crate::<module>` path
//! (in a `use` or inline), comments, strings and `#[cfg(test)]` items aside
//! (files declared by a `#[cfg(test)] mod x;` included).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The simulator: apart from the product, which it must never import.
const SIM: &str = "sim";
/// What the simulator may import from the product: nothing.
const SIM_MAY_IMPORT: &[&str] = &[];
/// Who reaches the simulator, and what of it: `demo` anything, the
/// `sim-proxy` command (in `run`) the stand-in proxy only.
const SIM_REACHED_BY: &[(&str, Option<&str>)] = &[("demo", None), ("run", Some("stand_in_proxy"))];
/// Modules that import no other module of the crate.
const LEAVES: &[&str] = &["vocab"];

/// One `crate::` path: the module it names, the item after it (if any), and
/// where it stands.
#[derive(Debug, Clone)]
struct Use {
    module: String,
    item: Option<String>,
    at: String,
}

impl Use {
    /// `src/x.rs:12: crate::module`
    fn shown(&self) -> String {
        format!("{}: crate::{}", self.at, self.module)
    }
}

/// Top-level module → the paths of its code into other top-level modules.
type Imports = BTreeMap<String, Vec<Use>>;

/// Comments, string and character literals blanked out (newlines kept, so
/// that line numbers stay right).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }))
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let rest = &c[i..];
        if rest.starts_with(&['/', '/']) {
            let end = rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(&['/', '*']) {
            // Block comments nest.
            let (mut depth, mut j) = (0, 0);
            while j < rest.len() {
                if rest[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if (c[i] == 'r' || (c[i] == 'b' && rest.get(1) == Some(&'r')))
            && (i == 0 || !ident(c[i - 1]))
            && {
                let start = if c[i] == 'b' { 2 } else { 1 };
                let hashes = rest[start..].iter().take_while(|&&ch| ch == '#').count();
                rest.get(start + hashes) == Some(&'"')
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let start = if c[i] == 'b' { 2 } else { 1 };
            let hashes = rest[start..].iter().take_while(|&&ch| ch == '#').count();
            let body = start + hashes + 1;
            let mut j = body;
            while j < rest.len()
                && !(rest[j] == '"'
                    && rest[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes)
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if c[i] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if c[i] == '\'' {
            // A character literal ('x', '\n', '\u{1F600}'), or a lifetime ('a).
            let end = if rest.get(1) == Some(&'\\') {
                rest[2..].iter().position(|&ch| ch == '\'').map(|p| p + 3)
            } else if rest.get(2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, &rest[..end]);
                    i += end;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `#[cfg(test)]` (and `#[cfg(all(test, …))]`) items blanked out, with the
/// names of the test-only modules they declare (`#[cfg(test)] mod x;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out: Vec<char> = code.chars().collect();
    let attributes: Vec<Vec<char>> = ["#[cfg(test)]", "#[cfg(all(test,"]
        .iter()
        .map(|a| a.chars().collect())
        .collect();
    let mut test_mods = Vec::new();
    let mut start = 0;
    while start < out.len() {
        if !attributes.iter().any(|a| out[start..].starts_with(a)) {
            start += 1;
            continue;
        }
        // The item: its attributes, then up to its first `;` or through its `{…}`.
        let (mut end, mut depth, mut brackets) = (start, 0i32, 0i32);
        while end + 1 < out.len() {
            match out[end] {
                '[' => brackets += 1,
                ']' => brackets -= 1,
                ';' if depth == 0 && brackets == 0 => break,
                '{' if brackets == 0 => depth += 1,
                '}' if brackets == 0 => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let item: String = out[start..=end].iter().collect();
        let words: Vec<&str> = item
            .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if item.ends_with(';')
            && let Some(p) = words.iter().position(|w| *w == "mod")
            && let Some(name) = words.get(p + 1)
        {
            test_mods.push(name.to_string());
        }
        for ch in &mut out[start..=end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        start = end + 1;
    }
    (out.into_iter().collect(), test_mods)
}

/// The `mod x;` declarations of a file's code (test-only ones already blanked).
fn declared_mods(code: &str) -> Vec<String> {
    let words: Vec<&str> = code
        .split(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ';' || ch == '{'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for w in words.windows(2) {
        if w[0] == "mod"
            && let Some(name) = w[1].strip_suffix(';')
        {
            out.push(name.to_string());
        }
    }
    out
}

/// Every `crate::…` path in the code: the module, and the item after it.
fn crate_paths(code: &str) -> Vec<(usize, String, Option<String>)> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("crate::") {
        let at = from + p;
        from = at + "crate::".len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::B, c, d::{e, f}}`: the first name of each element.
            let mut depth = 0;
            let mut element = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_element(&mut out, line, &element);
                        element.clear();
                        continue;
                    }
                    _ => {}
                }
                element.push(ch);
            }
            push_element(&mut out, line, &element);
        } else {
            let module = ident(rest);
            let after = rest[module.len()..].trim_start();
            let item = after.strip_prefix("::").map(|a| ident(a.trim_start()));
            out.push((line, module, item.filter(|i| !i.is_empty())));
        }
    }
    out
}

fn push_element(out: &mut Vec<(usize, String, Option<String>)>, line: usize, element: &str) {
    let mut parts = element.split("::").map(|s| {
        s.trim()
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .collect::<String>()
    });
    if let Some(module) = parts.next().filter(|m| !m.is_empty() && m != "self") {
        out.push((line, module, parts.next().filter(|i| !i.is_empty())));
    }
}

/// A module's files, following its `mod` declarations (test-only ones left out).
fn module_files(file: &Path, files: &mut Vec<(PathBuf, String)>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (code, _) = without_tests(&code_only(&text));
    let dir = if file
        .file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
    {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    for child in declared_mods(&code) {
        let flat = dir.join(format!("{child}.rs"));
        let nested = dir.join(&child).join("mod.rs");
        let path = if flat.exists() { flat } else { nested };
        assert!(
            path.exists(),
            "{}: `mod {child};` has no file",
            file.display()
        );
        module_files(&path, files);
    }
    files.push((file.to_path_buf(), code));
}

/// What each top-level module of `src/` imports (lib.rs's `mod` lines).
fn imports(src: &Path) -> Imports {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let (lib_code, _) = without_tests(&code_only(&lib));
    let mut all = Imports::new();
    for module in declared_mods(&lib_code) {
        let flat = src.join(format!("{module}.rs"));
        let root = if flat.exists() {
            flat
        } else {
            src.join(&module).join("mod.rs")
        };
        let mut files = Vec::new();
        module_files(&root, &mut files);
        let mut uses = Vec::new();
        for (path, code) in files {
            let shown = path
                .strip_prefix(src.parent().unwrap())
                .unwrap_or(&path)
                .display()
                .to_string();
            for (line, m, item) in crate_paths(&code) {
                if m != module {
                    uses.push(Use {
                        module: m,
                        item,
                        at: format!("{shown}:{line}"),
                    });
                }
            }
        }
        all.insert(module, uses);
    }
    all
}

/// Import cycles among the modules, each as a path `a → b → … → a` with
/// where each step is imported: every module on a cycle is on one of them.
fn cycles(imports: &Imports, apart: &[&str]) -> Vec<String> {
    let edges: BTreeMap<&str, BTreeMap<&str, &str>> = imports
        .iter()
        .filter(|(m, _)| !apart.contains(&m.as_str()))
        .map(|(m, uses)| {
            let mut to = BTreeMap::new();
            for u in uses {
                if imports.contains_key(&u.module) && !apart.contains(&u.module.as_str()) {
                    to.entry(u.module.as_str()).or_insert(u.at.as_str());
                }
            }
            (m.as_str(), to)
        })
        .collect();
    let mut found = Vec::new();
    let mut in_a_cycle: BTreeSet<&str> = BTreeSet::new();
    for &start in edges.keys() {
        if in_a_cycle.contains(start) {
            continue;
        }
        // Breadth-first from `start` back to it: the shortest cycle through it.
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closed = None;
        while let Some(m) = queue.pop_front() {
            for &next in edges[m].keys() {
                if next == start {
                    closed = Some(m);
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, m);
                    queue.push_back(next);
                }
            }
            if closed.is_some() {
                break;
            }
        }
        let Some(last) = closed else { continue };
        let mut path = vec![last];
        while let Some(&p) = previous.get(path[path.len() - 1]) {
            if path[path.len() - 1] == start {
                break;
            }
            path.push(p);
        }
        if path[path.len() - 1] != start {
            path.push(start);
        }
        path.reverse();
        path.push(start);
        in_a_cycle.extend(path.iter().copied());
        let steps: Vec<String> = path
            .windows(2)
            .map(|w| format!("{} → {} ({})", w[0], w[1], edges[w[0]][w[1]]))
            .collect();
        found.push(steps.join(", "));
    }
    found
}

/// Fails saying `why`, with what was found, when anything was.
fn assert_none(found: &[String], why: &str) {
    assert!(found.is_empty(), "{why}:\n{}", found.join("\n"));
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_cycle_among_the_top_level_modules() {
    let all = imports(&src());
    // The reader does see the imports (`run` drives the checks).
    assert!(
        all["run"].iter().any(|u| u.module == "checks"),
        "{:?}",
        all["run"]
    );
    let found = cycles(&all, &[SIM]);
    assert_none(
        &found,
        "the top-level modules import each other in a circle; data must flow one way \
         (move the shared piece down, e.g. into `vocab`, or pass a callback)",
    );
}

#[test]
fn the_simulator_imports_nothing_from_the_product() {
    let all = imports(&src());
    let wrong: Vec<String> = all[SIM]
        .iter()
        .filter(|u| all.contains_key(&u.module) && !SIM_MAY_IMPORT.contains(&u.module.as_str()))
        .map(Use::shown)
        .collect();
    assert_none(
        &wrong,
        "src/sim must stand apart from the product it simulates Azure for",
    );
}

#[test]
fn only_demo_and_sim_proxy_reach_the_simulator() {
    let all = imports(&src());
    let mut wrong = Vec::new();
    for (module, uses) in &all {
        for u in uses.iter().filter(|u| u.module == SIM && module != SIM) {
            let allowed = SIM_REACHED_BY
                .iter()
                .any(|(m, item)| m == module && item.is_none_or(|i| u.item.as_deref() == Some(i)));
            if !allowed {
                wrong.push(format!(
                    "{}: crate::sim::{}",
                    u.at,
                    u.item.as_deref().unwrap_or("…")
                ));
            }
        }
    }
    assert_none(
        &wrong,
        "only `demo` and the sim-proxy command reach the simulator",
    );
}

#[test]
fn the_shared_vocabulary_imports_no_other_module() {
    let all = imports(&src());
    for leaf in LEAVES {
        let uses: Vec<String> = all
            .get(*leaf)
            .unwrap_or_else(|| panic!("no module `{leaf}` in src/lib.rs"))
            .iter()
            .map(Use::shown)
            .collect();
        assert_none(&uses, &format!("`{leaf}` must stay a leaf"));
    }
}

/// The reader sees what the compiler sees, and the cycle finder names a cycle.
#[test]
fn the_import_reader_skips_comments_strings_and_test_code() {
    let text = r####"
//! See `crate::docs`.
use crate::{alpha::One, beta, gamma::{self, Two}};
use crate::delta::Three;
/* crate::comment /* nested */ crate::comment */
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::string";
    let _ = r#"crate::raw "quoted""#;
    crate::epsilon::four(x);
    '{'
}
#[cfg(test)]
mod tests {
    use crate::hidden;
    fn g() { let _ = '}'; }
}
#[cfg(test)]
mod oracle;
#[cfg(all(test, unix))]
fn h() { crate::hidden_too::x(); }
mod child;
"####;
    let (code, test_mods) = without_tests(&code_only(text));
    let found: Vec<(String, Option<String>)> = crate_paths(&code)
        .into_iter()
        .map(|(_, m, i)| (m, i))
        .collect();
    let names: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        ["alpha", "beta", "gamma", "delta", "epsilon"],
        "{code}"
    );
    assert_eq!(found[0].1.as_deref(), Some("One"));
    assert_eq!(found[4].1.as_deref(), Some("four"));
    assert_eq!(test_mods, ["oracle"]);
    assert_eq!(declared_mods(&code), ["child"]);

    let edge = |to: &str| Use {
        module: to.into(),
        item: None,
        at: format!("src/x.rs:{}", to.len()),
    };
    let graph: Imports = [
        ("a".to_string(), vec![edge("b")]),
        ("b".to_string(), vec![edge("c")]),
        ("c".to_string(), vec![edge("a"), edge("sim")]),
        ("d".to_string(), vec![edge("a")]),
        ("sim".to_string(), vec![edge("d")]),
    ]
    .into();
    let found = cycles(&graph, &["sim"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("a → b (src/x.rs:1), b → c"),
        "{found:?}"
    );
    assert!(found[0].ends_with("c → a (src/x.rs:1)"), "{found:?}");
    // Through the simulator it would be a cycle: it is left apart.
    let through = cycles(&graph, &[]);
    assert!(through.iter().any(|c| c.contains("sim")), "{through:?}");
}
