//! The SSH proxy files (`sshProxy_{os}_{arch}_*`) of the installed
//! Az.Ssh.ArcProxy versions and of the Azure CLI's `~/.clientsshproxy`, and
//! whether this user may execute them. Links are never followed.

use std::path::{Path, PathBuf};

use crate::os::{Host, Os};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyState {
    Executable,
    /// Not executable; `owned` says whether this user owns it (may chmod it).
    NotExecutable {
        mode: u32,
        owned: bool,
    },
    /// A symbolic link pointing out of its folder: reported, never changed.
    LinkOutside {
        target: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyFile {
    pub path: PathBuf,
    pub state: ProxyState,
}

/// The prefix of proxy file names for this OS and architecture, for the given client.
pub fn prefixes(host: &Host) -> (String, String) {
    let os = host.os.proxy_word();
    (
        format!("sshProxy_{os}_{}_", host.arch.powershell_word()),
        format!("sshProxy_{os}_{}_", host.arch.word()),
    )
}

/// Lists the proxy files in `folder` whose name starts with `prefix`.
pub fn scan(host: &Host, folder: &Path, prefix: &str) -> Vec<ProxyFile> {
    // A folder that is itself a link is not entered: its files are elsewhere.
    if std::fs::symlink_metadata(folder).is_ok_and(|m| m.file_type().is_symlink()) {
        let target = std::fs::read_link(folder).unwrap_or_default();
        return vec![ProxyFile {
            path: folder.to_path_buf(),
            state: ProxyState::LinkOutside { target },
        }];
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with(prefix))
                .unwrap_or(false)
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| inspect(host, folder, &p).map(|state| ProxyFile { path: p, state }))
        .collect()
}

/// `None` for things that are not proxy candidates (folders, links inside the folder).
fn inspect(host: &Host, folder: &Path, path: &Path) -> Option<ProxyState> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(path)
            .unwrap_or_else(|_| std::fs::read_link(path).unwrap_or_default());
        let home = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
        // A link to a file in the same folder is checked through that file itself.
        return if target.parent() == Some(home.as_path()) {
            None
        } else {
            Some(ProxyState::LinkOutside { target })
        };
    }
    if !meta.is_file() {
        return None;
    }
    if host.os == Os::Windows {
        // Execute rights on Windows are ACLs; that check is not made here.
        return Some(ProxyState::Executable);
    }
    Some(unix_state(host, path, &meta))
}

#[cfg(unix)]
fn unix_state(host: &Host, path: &Path, meta: &std::fs::Metadata) -> ProxyState {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o7777;
    if executable(path) {
        ProxyState::Executable
    } else {
        ProxyState::NotExecutable {
            mode,
            owned: meta.uid() == host.uid || host.privileged,
        }
    }
}

#[cfg(not(unix))]
fn unix_state(_host: &Host, _path: &Path, _meta: &std::fs::Metadata) -> ProxyState {
    ProxyState::Executable
}

/// access(2) answers for this user, groups and root included.
#[cfg(unix)]
pub fn executable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

#[cfg(not(unix))]
pub fn executable(path: &Path) -> bool {
    path.is_file()
}

/// The mode with execute bits added wherever read is allowed.
pub fn with_execute_bits(mode: u32) -> u32 {
    mode | ((mode & 0o444) >> 2)
}

/// Adds the execute bits to a regular file without following a link: the file
/// is opened with O_NOFOLLOW and changed through its descriptor.
#[cfg(unix)]
pub fn add_execute_bits(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mode = with_execute_bits(meta.mode() & 0o7777);
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(mode)
}

#[cfg(not(unix))]
pub fn add_execute_bits(_path: &Path) -> std::io::Result<u32> {
    Err(std::io::Error::other(
        "execute bits are a Unix notion; on Windows grant ReadAndExecute with icacls",
    ))
}

/// The folders proxy files live in: every installed Az.Ssh.ArcProxy version
/// folder, and the Azure CLI's `~/.clientsshproxy`.
pub fn folders(host: &Host, arcproxy_folders: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let (ps, az) = prefixes(host);
    let mut out: Vec<(PathBuf, String)> = arcproxy_folders
        .iter()
        .map(|f| (f.clone(), ps.clone()))
        .collect();
    out.push((host.home_path(&[".clientsshproxy"]), az));
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::os::Arch;
    use std::os::unix::fs::PermissionsExt;

    fn host() -> Host {
        Host {
            os: Os::Linux,
            arch: Arch::Amd64,
            home: PathBuf::from("/nonexistent"),
            vars: Default::default(),
            privileged: false,
            uid: unsafe { libc::geteuid() },
        }
    }

    #[test]
    fn execute_bits_follow_read_bits() {
        assert_eq!(with_execute_bits(0o644), 0o755);
        assert_eq!(with_execute_bits(0o600), 0o700);
        assert_eq!(with_execute_bits(0o640), 0o750);
    }

    #[test]
    fn finds_non_executable_proxies_and_fixes_them_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let proxy = t.path().join("sshProxy_linux_amd64_1.3.022941");
        std::fs::write(&proxy, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&proxy, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(t.path().join("sshProxy_windows_amd64_1.3.022941.exe"), "").unwrap();
        let target = outside.path().join("evil");
        std::fs::write(&target, "").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&target, t.path().join("sshProxy_linux_amd64_9")).unwrap();

        let found = scan(&host(), t.path(), "sshProxy_linux_amd64_");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(
            found[0].state,
            ProxyState::NotExecutable {
                mode: 0o644,
                owned: true
            }
        ));
        assert!(matches!(found[1].state, ProxyState::LinkOutside { .. }));

        assert_eq!(add_execute_bits(&proxy).unwrap(), 0o755);
        assert!(add_execute_bits(&t.path().join("sshProxy_linux_amd64_9")).is_err());
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "the link's target must not change");
        assert_eq!(
            scan(&host(), t.path(), "sshProxy_linux_amd64_1")[0].state,
            ProxyState::Executable
        );
    }
}
