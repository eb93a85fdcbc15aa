//! The Azure CLI side of the client: the version of the CLI's `ssh`
//! extension, read from its folder without starting `az`.
//!
//! Versions before 2.0.4 stopped working for Arc machines on 2025-05-21 (the
//! extension's breaking-change notice, `src/ssh/azext_ssh/_breaking_change.py`
//! in Azure/azure-cli-extensions).

use std::path::{Path, PathBuf};

use crate::checks::{Report, StepSpec, finding};
use crate::os::Host;
use crate::plan::{Action, FixKind, Goal, StepKind, Target};
use crate::problem;

pub const ID: &str = problem::AZ_SSH_EXTENSION_OUTDATED;
/// The first version that works after 2025-05-21.
pub const MINIMUM: (u32, u32, u32) = (2, 0, 4);
pub const UPDATE_ARGS: [&str; 4] = ["extension", "update", "--name", "ssh"];

/// What the extension's folder says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// No `ssh` folder: `az` installs the extension on first use.
    No,
    /// The version its `*.dist-info/METADATA` names.
    Version(String),
    /// The folder is there but no version could be read from it.
    Unreadable,
}

/// Where the Azure CLI keeps its extensions: `AZURE_EXTENSION_DIR`, else
/// `cliextensions` in `AZURE_CONFIG_DIR`, else in `.azure` in the home folder
/// (`%USERPROFILE%\.azure\cliextensions` on Windows).
pub fn extensions_dir(host: &Host) -> PathBuf {
    let set = |name: &str| host.var(name).filter(|v| !v.trim().is_empty());
    if let Some(d) = set("AZURE_EXTENSION_DIR") {
        return PathBuf::from(d);
    }
    let config = match set("AZURE_CONFIG_DIR") {
        Some(d) => d.to_string(),
        None => host.os.join(&host.home.display().to_string(), &[".azure"]),
    };
    PathBuf::from(host.os.join(&config, &["cliextensions"]))
}

/// The `ssh` extension's folder.
pub fn ssh_dir(host: &Host) -> PathBuf {
    PathBuf::from(
        host.os
            .join(&extensions_dir(host).display().to_string(), &["ssh"]),
    )
}

/// Reads the installed version from `dir` (the `ssh` folder).
pub fn installed(dir: &Path) -> Installed {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Installed::No;
    };
    let mut infos: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".dist-info"))
        })
        .collect();
    infos.sort();
    for info in infos {
        if let Some(v) = std::fs::read_to_string(info.join("METADATA"))
            .ok()
            .and_then(|m| metadata_version(&m))
        {
            return Installed::Version(v);
        }
    }
    Installed::Unreadable
}

/// The `Version:` header of a wheel's METADATA (the headers end at the first
/// empty line).
pub fn metadata_version(metadata: &str) -> Option<String> {
    metadata
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The release numbers of a version (`2.0.4`, `2.0.4b1` → 2, 0, 4); `None`
/// when it does not start with a number.
pub fn release(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim().split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether this version stopped working on 2025-05-21.
pub fn outdated(version: &str) -> bool {
    release(version).is_some_and(|r| r < MINIMUM)
}

/// `az` as it is run (see `Host::az_program`).
pub fn az_program(host: &Host) -> Option<String> {
    host.az_program()
}

/// The goal: the extension is not installed (az installs a current one on
/// first use) or is 2.0.4 or later.
pub fn current(host: &Host) -> bool {
    match installed(&ssh_dir(host)) {
        Installed::No => true,
        Installed::Version(v) => release(&v).is_some_and(|r| r >= MINIMUM),
        Installed::Unreadable => false,
    }
}

/// Only where the user can use `az` for SSH: with no `az` on PATH, nothing.
pub fn check(host: &Host, r: &mut Report) {
    let Some(az) = az_program(host) else {
        return;
    };
    let dir = ssh_dir(host);
    match installed(&dir) {
        Installed::No => {
            r.observe(format!(
                "az ssh extension=not installed ({})",
                dir.display()
            ));
            r.note(format!(
                "The Azure CLI's ssh extension is not installed (no {}): az installs the current version the first time az ssh is used.",
                dir.display()
            ));
        }
        Installed::Unreadable => {
            r.observe(format!("az ssh extension=unreadable ({})", dir.display()));
            r.note(format!(
                "The Azure CLI's ssh extension folder {} names no version: check it with az extension show --name ssh.",
                dir.display()
            ));
        }
        Installed::Version(v) => {
            r.observe(format!("az ssh extension={v}"));
            if !outdated(&v) {
                return;
            }
            r.finding(finding(
                ID,
                &Target::Local,
                format!(
                    "the Azure CLI's ssh extension is {v} (in {}); versions before 2.0.4 stopped working for Arc machines on 2025-05-21",
                    dir.display()
                ),
                FixKind::Auto,
            ));
            r.step(StepSpec {
                kind: StepKind::UpdateAzSshExtension,
                fixes: vec![ID.into()],
                target: Target::Local,
                description: format!(
                    "Update the Azure CLI's ssh extension from {v} (as the current user)"
                ),
                command: "az extension update --name ssh".into(),
                automatic: true,
                undo: Some(format!(
                    "az extension remove --name ssh && az extension add --name ssh --version {v}"
                )),
                precondition: "the ssh extension's folder still names a version before 2.0.4"
                    .into(),
                verification: "the ssh extension's folder names version 2.0.4 or later".into(),
                goal: Goal::AzSshExtensionCurrent,
                action: Action::Exec {
                    program: az,
                    args: UPDATE_ARGS.map(String::from).to_vec(),
                },
                ..StepSpec::manual()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::Os;

    fn host(os: Os, home: &str, vars: &[(&str, &str)]) -> Host {
        Host::fake(os, home, vars)
    }

    #[test]
    fn the_folder_is_in_the_users_azure_folder_on_each_os() {
        let w = host(Os::Windows, r"C:\Users\ana", &[]);
        assert_eq!(
            ssh_dir(&w).display().to_string(),
            r"C:\Users\ana\.azure\cliextensions\ssh"
        );
        let l = host(Os::Linux, "/home/ana", &[]);
        assert_eq!(
            ssh_dir(&l).display().to_string(),
            "/home/ana/.azure/cliextensions/ssh"
        );
    }

    #[test]
    fn azure_extension_dir_and_config_dir_are_honoured() {
        let w = host(
            Os::Windows,
            r"C:\Users\ana",
            &[("azure_extension_dir", r"D:\az\ext\")],
        );
        assert_eq!(ssh_dir(&w).display().to_string(), r"D:\az\ext\ssh");
        let l = host(
            Os::Linux,
            "/home/ana",
            &[
                ("AZURE_CONFIG_DIR", "/etc/azcfg"),
                ("AZURE_EXTENSION_DIR", ""),
            ],
        );
        assert_eq!(
            ssh_dir(&l).display().to_string(),
            "/etc/azcfg/cliextensions/ssh"
        );
        let both = host(
            Os::Linux,
            "/home/ana",
            &[
                ("AZURE_CONFIG_DIR", "/etc/azcfg"),
                ("AZURE_EXTENSION_DIR", "/opt/ext"),
            ],
        );
        assert_eq!(ssh_dir(&both).display().to_string(), "/opt/ext/ssh");
    }

    #[test]
    fn the_version_is_the_metadata_header() {
        let m = "Metadata-Version: 2.1\nName: ssh\nVersion: 1.1.6\nSummary: SSH\n\nVersion: 9.9.9 in the body\n";
        assert_eq!(metadata_version(m).as_deref(), Some("1.1.6"));
        assert_eq!(
            metadata_version("Metadata-Version: 2.1\r\nVersion: 2.0.6\r\n").as_deref(),
            Some("2.0.6")
        );
        assert_eq!(metadata_version("Name: ssh\n\nVersion: 1.0.0\n"), None);
        assert_eq!(metadata_version("Version: \n"), None);
    }

    #[test]
    fn versions_before_2_0_4_are_outdated() {
        for v in ["0.1.8", "1.1.6", "2.0.0", "2.0.3", "2.0.3.post1"] {
            assert!(outdated(v), "{v}");
        }
        for v in ["2.0.4", "2.0.6", "2.1", "10.0.0", "2.0.4b1", "garbage", ""] {
            assert!(!outdated(v), "{v}");
        }
        assert_eq!(release("2.0.4b1"), Some((2, 0, 4)));
        assert_eq!(release("3"), Some((3, 0, 0)));
        assert_eq!(release("x.1"), None);
    }

    #[test]
    fn the_folder_is_read_as_it_is() {
        let t = tempfile::tempdir().unwrap();
        let ssh = t.path().join("ssh");
        assert_eq!(installed(&ssh), Installed::No);
        std::fs::create_dir_all(ssh.join("azext_ssh")).unwrap();
        assert_eq!(installed(&ssh), Installed::Unreadable);
        let info = ssh.join("ssh-1.1.6.dist-info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(info.join("METADATA"), "Name: ssh\nVersion: 1.1.6\n").unwrap();
        assert_eq!(installed(&ssh), Installed::Version("1.1.6".into()));

        let h = host(
            Os::current(),
            "/nonexistent",
            &[("AZURE_EXTENSION_DIR", &t.path().display().to_string())],
        );
        assert!(!current(&h));
        std::fs::remove_dir_all(&info).unwrap();
        let info = ssh.join("ssh-2.0.6.dist-info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(info.join("METADATA"), "Name: ssh\nVersion: 2.0.6\n").unwrap();
        assert!(current(&h));
        std::fs::remove_dir_all(&ssh).unwrap();
        assert!(current(&h), "not installed: az installs a current one");
    }
}
