//! Embeds the catalogue of known problems (`plans/`): every file, in the
//! order `arcfix rules` lists them (the contract's ten first, then the
//! problems a check detects, then those only `explain` knows, each group by
//! name), and one constant per problem for the checks (`src/problem.rs`).
//! A new problem is one new file in `plans/`: nothing here to edit.

use std::{env, fs, path::Path};

/// The contract's finding ids, in the contract's order.
const CONTRACT: [&str; 10] = [
    "client-binaries-missing",
    "ps-module-version-mismatch",
    "arcproxy-not-installed",
    "proxy-not-executable",
    "ssh-port-not-enabled",
    "sshd-not-running",
    "endpoint-permission-missing",
    "login-role-missing",
    "entra-extension-missing",
    "rp-not-registered",
];

fn main() {
    println!("cargo:rerun-if-changed=plans");
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&root).join("plans");
    let mut plans: Vec<(usize, bool, String)> = Vec::new();
    for entry in fs::read_dir(&dir).expect("plans/ is readable") {
        let path = entry.expect("plans/ is readable").path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        // The id becomes a file name in generated code and a constant's name.
        assert!(
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "plans/{id}.toml: an id is lower-case letters, digits and '-'"
        );
        let text = fs::read_to_string(&path).expect("a plan file is UTF-8");
        let known = text
            .lines()
            .any(|l| l.split_whitespace().collect::<String>() == "known=true");
        let rank = CONTRACT
            .iter()
            .position(|c| *c == id)
            .unwrap_or(CONTRACT.len());
        plans.push((rank, !known, id.to_string()));
    }
    plans.sort();
    let mut files = String::from("const FILES: &[(&str, &str)] = &[\n");
    let mut constants = String::new();
    for (_, _, id) in &plans {
        // Relative to the crate when it is compiled, never this run's
        // absolute path: a generated file reused by another checkout (a
        // shared target folder) must not embed that checkout's plans.
        files.push_str(&format!(
            "    (\"{id}.toml\", include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/plans/{id}.toml\"))),\n"
        ));
        constants.push_str(&format!(
            "#[allow(dead_code)]\npub const {}: &str = {id:?};\n",
            id.to_ascii_uppercase().replace('-', "_")
        ));
    }
    files.push_str("];\n");
    files.push_str(&format!(
        "/// The contract's finding ids; their meaning never changes.\n#[cfg(test)]\npub const CONTRACT_IDS: [&str; {}] = {CONTRACT:?};\n",
        CONTRACT.len()
    ));
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out).join("plans.rs"), files).expect("OUT_DIR is writable");
    fs::write(Path::new(&out).join("problems.rs"), constants).expect("OUT_DIR is writable");
}
