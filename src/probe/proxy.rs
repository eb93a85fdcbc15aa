//! The SSH proxy files (`sshProxy_{os}_{arch}_*`) of the installed
//! Az.Ssh.ArcProxy versions and of the Azure CLI's `~/.clientsshproxy`, and
//! whether this user may execute them. Links are never followed.

use std::path::{Path, PathBuf};

use crate::os::{Host, Os};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyState {
    Executable,
    /// Not executable; `owned` says whether this user owns it, `links` how
    /// many hard links it has. arcfix changes it only when both say it may.
    NotExecutable {
        mode: u32,
        owned: bool,
        links: u64,
    },
    /// A symbolic link pointing out of its folder: reported, never changed.
    LinkOutside {
        target: PathBuf,
    },
    /// Windows: the file's ACL does not let this user read and execute it
    /// (`acl_denies`), or its `Zone.Identifier` stream marks it as downloaded
    /// from the Internet or a restricted site (`zone`, 3 or 4), which
    /// `Unblock-File` removes. Left to a person: icacls / Unblock-File.
    WindowsBlocked {
        acl_denies: bool,
        zone: Option<u32>,
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

/// The folder a proxy path is reached from: the longest module folder
/// (`PSModulePath`) or the home folder it lies in. These are the user's own
/// settings; every folder below one is opened without following links.
pub fn base_of(host: &Host, path: &Path) -> Option<PathBuf> {
    crate::probe::modules::module_dirs(host)
        .into_iter()
        .chain([host.home.clone()])
        .filter(|b| path.starts_with(b))
        .max_by_key(|b| b.components().count())
}

/// The first folder from the base down to `folder` (itself included) that is
/// a symbolic link.
fn linked_folder(host: &Host, folder: &Path) -> Option<PathBuf> {
    let base = base_of(host, folder).unwrap_or_else(|| folder.parent().unwrap_or(folder).into());
    let rel = folder.strip_prefix(&base).ok()?;
    if rel.as_os_str().is_empty() {
        let link = std::fs::symlink_metadata(folder).is_ok_and(|m| m.file_type().is_symlink());
        return link.then(|| folder.to_path_buf());
    }
    let mut at = base;
    for c in rel.components() {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(at);
        }
    }
    None
}

/// Lists the proxy files in `folder` whose name starts with `prefix`.
pub fn scan(host: &Host, folder: &Path, prefix: &str) -> Vec<ProxyFile> {
    // A folder that is a link, or lies in one (`Az.Ssh.ArcProxy` or a version
    // folder), is not entered: its files are elsewhere.
    if let Some(link) = linked_folder(host, folder) {
        let target = std::fs::read_link(&link).unwrap_or_default();
        return vec![ProxyFile {
            path: link,
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
        return Some(windows_state(
            zone_identifier(path).as_deref(),
            may_execute(path),
        ));
    }
    Some(unix_state(host, path, &meta))
}

/// The `Zone.Identifier` alternate data stream of a file (`path:Zone.Identifier`),
/// which browsers and Windows' downloaders attach; `None` when it has none
/// (or the file system keeps no streams).
pub fn zone_identifier(path: &Path) -> Option<String> {
    let mut stream = path.as_os_str().to_owned();
    stream.push(":Zone.Identifier");
    let bytes = std::fs::read(stream).ok()?;
    Some(
        String::from_utf8_lossy(bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(&bytes))
            .into_owned(),
    )
}

/// The `ZoneId` of a `Zone.Identifier` stream's `[ZoneTransfer]` section
/// (CRLF or LF lines, any case).
pub fn zone_id(stream: &str) -> Option<u32> {
    let mut in_section = false;
    for line in stream.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line.eq_ignore_ascii_case("[ZoneTransfer]");
        } else if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim().eq_ignore_ascii_case("ZoneId")
        {
            return v.trim().parse().ok();
        }
    }
    None
}

/// A Windows proxy file's state from its `Zone.Identifier` stream and whether
/// this user may read and execute it (`None`: not known). Zones 3 (Internet)
/// and 4 (Restricted sites) block; 0-2 (this computer, intranet, trusted) do not.
pub fn windows_state(zone_stream: Option<&str>, may_execute: Option<bool>) -> ProxyState {
    let zone = zone_stream.and_then(zone_id).filter(|z| *z >= 3);
    let acl_denies = may_execute == Some(false);
    if zone.is_none() && !acl_denies {
        ProxyState::Executable
    } else {
        ProxyState::WindowsBlocked { acl_denies, zone }
    }
}

/// Whether this user's token may open the file for read and execute, which
/// is what starting it needs (the ACL, through CreateFileW); `None` when the
/// file cannot be opened for another reason. A link is not followed.
#[cfg(windows)]
pub fn may_execute(path: &Path) -> Option<bool> {
    use std::os::windows::fs::OpenOptionsExt;
    const FILE_READ_DATA: u32 = 0x0001;
    const FILE_EXECUTE: u32 = 0x0020;
    const FILE_SHARE_ALL: u32 = 0x7;
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    const ERROR_ACCESS_DENIED: i32 = 5;
    match std::fs::OpenOptions::new()
        .access_mode(FILE_READ_DATA | FILE_EXECUTE)
        .share_mode(FILE_SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
    {
        Ok(_) => Some(true),
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) => Some(false),
        Err(_) => None,
    }
}

#[cfg(not(windows))]
pub fn may_execute(_path: &Path) -> Option<bool> {
    None
}

/// The commands a person types for a blocked Windows proxy file: grant this
/// user read & execute (icacls, for `user` or `%USERNAME%` in cmd.exe), and
/// remove the download mark (PowerShell's Unblock-File).
pub fn windows_commands(
    path: &Path,
    acl_denies: bool,
    zone: Option<u32>,
    user: Option<&str>,
) -> Vec<String> {
    let p = path.display().to_string();
    let mut out = Vec::new();
    if acl_denies {
        // A name that is safe between double quotes in cmd.exe and PowerShell alike.
        let who = user
            .filter(|u| !u.is_empty() && !u.contains(['"', '%', '$', '`']))
            .map(|u| format!("\"{u}:(RX)\""))
            .unwrap_or_else(|| "\"%USERNAME%\":RX".to_string());
        out.push(format!("icacls \"{p}\" /grant {who}"));
    }
    if zone.is_some() {
        out.push(format!(
            "Unblock-File -LiteralPath '{}'",
            p.replace('\'', "''")
        ));
    }
    out
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
            owned: meta.uid() == host.uid,
            links: meta.nlink(),
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

/// On Windows: a file this user may read and execute that no Zone.Identifier blocks.
#[cfg(not(unix))]
pub fn executable(path: &Path) -> bool {
    path.is_file()
        && windows_state(zone_identifier(path).as_deref(), may_execute(path))
            == ProxyState::Executable
}

/// The mode with execute bits added wherever read is allowed, and the
/// set-user-id, set-group-id and sticky bits cleared.
pub fn with_execute_bits(mode: u32) -> u32 {
    (mode & 0o777) | ((mode & 0o444) >> 2)
}

/// The command a person types to make `path` executable (mode `mode` now):
/// the exact new mode, so no set-user-id bit survives, with sudo when the
/// file is not this user's.
pub fn manual_command(host: &Host, path: &Path, mode: u32, owned: bool) -> String {
    let c = format!("chmod {:o} \"{}\"", with_execute_bits(mode), path.display());
    if owned { c } else { host.as_admin(&c) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_bits_follow_read_bits_and_drop_the_special_bits() {
        assert_eq!(with_execute_bits(0o644), 0o755);
        assert_eq!(with_execute_bits(0o600), 0o700);
        assert_eq!(with_execute_bits(0o640), 0o750);
        assert_eq!(with_execute_bits(0o4644), 0o755);
        assert_eq!(with_execute_bits(0o7640), 0o750);
    }
}

/// The Windows side, as logic driven by values: runs on every host.
#[cfg(test)]
mod windows_tests {
    use super::*;

    const DOWNLOADED: &str = "[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://www.powershellgallery.com/\r\nHostUrl=https://www.powershellgallery.com/api/v2/package/Az.Ssh.ArcProxy/1.0.0\r\n";

    #[test]
    fn zone_id_is_read_from_the_zone_transfer_section() {
        assert_eq!(zone_id(DOWNLOADED), Some(3));
        assert_eq!(zone_id("[zonetransfer]\nzoneid = 4\n"), Some(4));
        assert_eq!(
            zone_id("[Other]\r\nZoneId=3\r\n[ZoneTransfer]\r\nZoneId=2\r\n"),
            Some(2)
        );
        assert_eq!(zone_id("[Other]\r\nZoneId=3\r\n"), None);
        assert_eq!(zone_id(""), None);
    }

    #[test]
    fn internet_and_restricted_zones_or_a_denying_acl_block_the_proxy() {
        assert_eq!(windows_state(None, Some(true)), ProxyState::Executable);
        assert_eq!(windows_state(None, None), ProxyState::Executable);
        assert_eq!(
            windows_state(Some("[ZoneTransfer]\r\nZoneId=2\r\n"), Some(true)),
            ProxyState::Executable,
            "trusted sites do not block"
        );
        assert_eq!(
            windows_state(Some(DOWNLOADED), Some(true)),
            ProxyState::WindowsBlocked {
                acl_denies: false,
                zone: Some(3)
            }
        );
        assert_eq!(
            windows_state(None, Some(false)),
            ProxyState::WindowsBlocked {
                acl_denies: true,
                zone: None
            }
        );
    }

    #[test]
    fn icacls_names_the_user_and_unblock_file_quotes_the_path() {
        let p = Path::new(
            "C:\\Users\\o'neil\\Documents\\PowerShell\\Modules\\Az.Ssh.ArcProxy\\1.0.0\\sshProxy_windows_amd64_1_3_026973.exe",
        );
        assert_eq!(
            windows_commands(p, true, Some(3), Some("o'neil")),
            [
                format!("icacls \"{}\" /grant \"o'neil:(RX)\"", p.display()),
                "Unblock-File -LiteralPath 'C:\\Users\\o''neil\\Documents\\PowerShell\\Modules\\Az.Ssh.ArcProxy\\1.0.0\\sshProxy_windows_amd64_1_3_026973.exe'".to_string(),
            ]
        );
        // Without a name that is safe to quote, cmd.exe's own variable.
        assert_eq!(
            windows_commands(Path::new("C:\\p.exe"), true, None, Some("a%b")),
            ["icacls \"C:\\p.exe\" /grant \"%USERNAME%\":RX"]
        );
        assert!(windows_commands(Path::new("C:\\p.exe"), false, None, None).is_empty());
    }
}

/// The real Windows calls (under Wine in CI): the Zone.Identifier stream and
/// the ACL check through CreateFileW.
#[cfg(all(test, windows))]
mod windows_host_tests {
    use super::*;
    use crate::os::Arch;

    #[test]
    fn a_proxy_readable_by_this_user_and_without_zone_stream_is_executable() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join(".clientsshproxy");
        std::fs::create_dir(&dir).unwrap();
        let proxy = dir.join("sshProxy_windows_amd64_1_3_026973.exe");
        std::fs::write(&proxy, "MZ").unwrap();
        let h = Host {
            os: Os::Windows,
            arch: Arch::Amd64,
            home: t.path().to_path_buf(),
            vars: Default::default(),
            privileged: false,
            uid: 0,
        };
        assert_eq!(may_execute(&proxy), Some(true));
        assert_eq!(zone_identifier(&proxy), None);
        let found = scan(&h, &dir, "sshProxy_windows_amd64_");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, ProxyState::Executable);
        assert!(executable(&proxy));
        assert_eq!(may_execute(&dir.join("missing.exe")), None);

        // Downloaded: the stream Windows' downloaders attach (Wine keeps it
        // as a file of that name beside it, which reads the same way).
        let mut stream = proxy.as_os_str().to_owned();
        stream.push(":Zone.Identifier");
        std::fs::write(&stream, "[ZoneTransfer]\r\nZoneId=3\r\n").unwrap();
        let found = scan(&h, &dir, "sshProxy_windows_amd64_");
        let state = found.iter().find(|f| f.path == proxy).map(|f| &f.state);
        assert_eq!(
            state,
            Some(&ProxyState::WindowsBlocked {
                acl_denies: false,
                zone: Some(3)
            })
        );
        assert!(!executable(&proxy));
    }
}
