//! Finds ssh and ssh-keygen the way `az ssh` and Az.Ssh do: `--ssh-client-folder`
//! first, then PATH, and on Windows `%SystemRoot%\System32\OpenSSH` (or
//! `Sysnative`). Also knows the usual places off PATH, to propose a folder.

use std::path::{Path, PathBuf};

use crate::os::{Host, Os};

pub const PROGRAMS: [&str; 2] = ["ssh", "ssh-keygen"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Where each program was found, in the order of `PROGRAMS`.
    pub found: Vec<(String, Option<PathBuf>)>,
    /// `--ssh-client-folder`, when given and lacking a program.
    pub folder_lacks: Vec<String>,
    /// A known folder off PATH that holds both programs.
    pub elsewhere: Option<PathBuf>,
    /// Where we looked, for the evidence.
    pub searched: Vec<String>,
}

impl Lookup {
    pub fn missing(&self) -> Vec<&str> {
        self.found
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Windows' fixed OpenSSH folders.
pub fn windows_system_dirs(host: &Host) -> Vec<PathBuf> {
    let root = host.var("SystemRoot").unwrap_or("C:\\Windows");
    ["System32", "Sysnative"]
        .iter()
        .map(|d| PathBuf::from(Os::Windows.join(root, &[d, "OpenSSH"])))
        .collect()
}

/// Usual homes of an OpenSSH client that may be off PATH. `ARCFIX_SSH_SEARCH_PATH`
/// replaces the list (packagers and tests).
pub fn known_dirs(host: &Host) -> Vec<PathBuf> {
    if let Some(list) = host.var("ARCFIX_SSH_SEARCH_PATH") {
        return list
            .split(host.os.path_list_separator())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    match host.os {
        Os::Linux => [
            "/usr/bin",
            "/bin",
            "/usr/local/bin",
            "/home/linuxbrew/.linuxbrew/bin",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
        Os::Macos => ["/usr/bin", "/opt/homebrew/bin", "/usr/local/bin"]
            .iter()
            .map(PathBuf::from)
            .collect(),
        Os::Windows => {
            let pf = host.var("ProgramFiles").unwrap_or("C:\\Program Files");
            vec![
                PathBuf::from(Os::Windows.join(pf, &["Git", "usr", "bin"])),
                PathBuf::from(Os::Windows.join(pf, &["OpenSSH"])),
            ]
        }
    }
}

fn has(dir: &Path, host: &Host, program: &str) -> Option<PathBuf> {
    let p = dir.join(host.os.exe(program));
    p.is_file().then_some(p)
}

pub fn lookup(host: &Host, folder: Option<&Path>) -> Lookup {
    let mut searched = Vec::new();
    if let Some(f) = folder {
        searched.push(format!("--ssh-client-folder {}", f.display()));
    }
    searched.push("PATH".to_string());
    let system_dirs = if host.os == Os::Windows {
        windows_system_dirs(host)
    } else {
        vec![]
    };
    for d in &system_dirs {
        searched.push(d.display().to_string());
    }
    let mut found = Vec::new();
    let mut folder_lacks = Vec::new();
    for program in PROGRAMS {
        let in_folder = folder.and_then(|f| has(f, host, program));
        if folder.is_some() && in_folder.is_none() {
            folder_lacks.push(program.to_string());
        }
        let path = in_folder
            .or_else(|| host.which(program))
            .or_else(|| system_dirs.iter().find_map(|d| has(d, host, program)));
        found.push((program.to_string(), path));
    }
    let on_path = host.path_dirs();
    let elsewhere = known_dirs(host)
        .into_iter()
        .filter(|d| !on_path.contains(d) && Some(d.as_path()) != folder)
        .find(|d| PROGRAMS.iter().all(|p| has(d, host, p).is_some()));
    Lookup {
        found,
        folder_lacks,
        elsewhere,
        searched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(os: Os, vars: &[(&str, &str)]) -> Host {
        Host::fake(os, "/nonexistent", vars)
    }

    /// Real folders: the host's own OS, its program names and its PATH separator.
    #[test]
    fn folder_then_path_then_known_places() {
        let os = Os::current();
        let t = tempfile::tempdir().unwrap();
        let (bin, folder, other) = (
            t.path().join("bin"),
            t.path().join("folder"),
            t.path().join("other"),
        );
        for d in [&bin, &folder, &other] {
            std::fs::create_dir(d).unwrap();
        }
        let (ssh, keygen) = (os.exe("ssh"), os.exe("ssh-keygen"));
        std::fs::write(bin.join(&ssh), "").unwrap();
        std::fs::write(folder.join(&keygen), "").unwrap();
        std::fs::write(other.join(&ssh), "").unwrap();
        std::fs::write(other.join(&keygen), "").unwrap();
        let sep = os.path_list_separator();
        let h = host(
            os,
            &[
                ("PATH", bin.to_str().unwrap()),
                (
                    "ARCFIX_SSH_SEARCH_PATH",
                    &format!("{}{sep}{}", bin.display(), other.display()),
                ),
            ],
        );
        let l = lookup(&h, Some(&folder));
        assert_eq!(l.found[0].1.as_deref(), Some(bin.join(&ssh).as_path()));
        assert_eq!(
            l.found[1].1.as_deref(),
            Some(folder.join(&keygen).as_path())
        );
        assert_eq!(l.folder_lacks, ["ssh"]);
        assert_eq!(l.elsewhere.as_deref(), Some(other.as_path()));
        assert!(l.missing().is_empty());
    }

    #[test]
    fn windows_looks_in_system32_openssh() {
        let h = host(Os::Windows, &[("SystemRoot", "D:\\Win")]);
        let dirs = windows_system_dirs(&h);
        assert_eq!(dirs[0], PathBuf::from("D:\\Win\\System32\\OpenSSH"));
        assert_eq!(dirs[1], PathBuf::from("D:\\Win\\Sysnative\\OpenSSH"));
        let l = lookup(&h, None);
        assert_eq!(l.missing(), ["ssh", "ssh-keygen"]);
        assert!(
            l.searched
                .contains(&"D:\\Win\\System32\\OpenSSH".to_string())
        );
        let known = known_dirs(&host(Os::Windows, &[("ProgramFiles", "E:\\PF")]));
        assert_eq!(known[0], PathBuf::from("E:\\PF\\Git\\usr\\bin"));
    }
}
