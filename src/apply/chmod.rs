//! Adding execute bits to a proxy file, for `apply` only (probes only read):
//! every folder below its base and the file are opened without following
//! links, and the file is checked and changed through one descriptor.

use std::path::Path;

use crate::os::Host;
use crate::probe::proxy::{base_of, manual_command, with_execute_bits};

/// What the chmod policy reads of the opened file (fstat on its descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    pub mode: u32,
    pub uid: u32,
    pub links: u64,
    pub regular: bool,
}

/// Why arcfix must leave this file to a person, or `None` when it may add the
/// execute bits itself (as user `uid`).
pub fn refusal(f: &FileFacts, uid: u32) -> Option<String> {
    if !f.regular {
        Some("the file is not a regular file".into())
    } else if f.uid != uid {
        Some(format!("the file belongs to another user (uid {})", f.uid))
    } else if f.links != 1 {
        Some(format!(
            "the file has {} hard links, and its mode is the mode of every one of them",
            f.links
        ))
    } else {
        None
    }
}

/// Adds the execute bits to a proxy file. The folders below its base
/// (`base_of`) and the file are opened one by one without following links,
/// and the file is checked (regular, this user's, one link) and changed
/// through the same descriptor.
pub fn add_execute_bits(host: &Host, path: &Path) -> std::io::Result<u32> {
    let refuse = |why: &str| std::io::Error::other(why.to_string());
    let base = base_of(host, path)
        .ok_or_else(|| refuse("it is neither in a module folder nor in the home folder"))?;
    let mut names = Vec::new();
    for c in path.strip_prefix(&base).unwrap_or(path).components() {
        match c {
            std::path::Component::Normal(n) => names.push(n),
            _ => return Err(refuse("it is not a plain path below its folder")),
        }
    }
    if names.is_empty() {
        return Err(refuse("it is not a file below its folder"));
    }
    chmod_beneath(&base, &names, |f| match refusal(f, host.uid) {
        Some(why) => Err(refuse(&format!(
            "{why}; arcfix does not change it (by hand: {})",
            manual_command(host, path, f.mode, f.uid == host.uid)
        ))),
        None => Ok(with_execute_bits(f.mode)),
    })
}

/// Opens `base`, then each of `names` below it with O_NOFOLLOW (the folders
/// with O_DIRECTORY), reads the file's facts with fstat and sets the mode
/// `decide` returns with fchmod, all on the one descriptor.
#[cfg(unix)]
fn chmod_beneath(
    base: &Path,
    names: &[&std::ffi::OsStr],
    decide: impl FnOnce(&FileFacts) -> std::io::Result<u32>,
) -> std::io::Result<u32> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let open = |dir: Option<&OwnedFd>, name: &std::ffi::OsStr, flags: libc::c_int| {
        let c = std::ffi::CString::new(name.as_bytes())?;
        // SAFETY: c is NUL-terminated and dir (when given) an open descriptor.
        let fd = unsafe {
            match dir {
                Some(d) => libc::openat(d.as_raw_fd(), c.as_ptr(), flags),
                None => libc::open(c.as_ptr(), flags),
            }
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let folder = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let (file, folders) = names.split_last().expect("at least the file name");
    // O_NOFOLLOW refuses a link with ELOOP, or ENOTDIR with O_DIRECTORY;
    // the message says which (read by path, for the message only).
    let mut at = base.to_path_buf();
    let refused = |at: &Path, e: std::io::Error| {
        if std::fs::symlink_metadata(at).is_ok_and(|m| m.file_type().is_symlink()) {
            std::io::Error::other(format!(
                "{} is a symbolic link: arcfix does not follow it",
                at.display()
            ))
        } else {
            e
        }
    };
    let mut dir = open(None, base.as_os_str(), folder)?;
    for name in folders {
        at.push(name);
        dir = open(Some(&dir), name, folder | libc::O_NOFOLLOW).map_err(|e| refused(&at, e))?;
    }
    at.push(file);
    let fd = open(
        Some(&dir),
        file,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
    )
    .map_err(|e| refused(&at, e))?;
    let f = std::fs::File::from(fd);
    let meta = f.metadata()?;
    let mode = decide(&FileFacts {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        links: meta.nlink(),
        regular: meta.is_file(),
    })?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(mode)
}

#[cfg(not(unix))]
fn chmod_beneath(
    _base: &Path,
    _names: &[&std::ffi::OsStr],
    _decide: impl FnOnce(&FileFacts) -> std::io::Result<u32>,
) -> std::io::Result<u32> {
    Err(std::io::Error::other(
        "execute bits are a Unix notion; on Windows grant ReadAndExecute with icacls",
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::os::{Arch, Os};
    use crate::probe::proxy::{ProxyState, scan};
    use std::os::unix::fs::PermissionsExt;

    fn host(home: &Path) -> Host {
        Host {
            os: Os::Linux,
            arch: Arch::Amd64,
            home: home.to_path_buf(),
            vars: [(
                "PSModulePath".to_string(),
                home.join("modules").display().to_string(),
            )]
            .into_iter()
            .collect(),
            privileged: false,
            uid: unsafe { libc::geteuid() },
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn file(p: &Path, m: u32) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn only_this_users_regular_file_with_one_link_is_changed() {
        let mine = FileFacts {
            mode: 0o644,
            uid: 1000,
            links: 1,
            regular: true,
        };
        assert_eq!(refusal(&mine, 1000), None);
        assert!(
            refusal(&mine, 0)
                .unwrap()
                .contains("another user (uid 1000)")
        );
        let linked = FileFacts { links: 2, ..mine };
        assert!(refusal(&linked, 1000).unwrap().contains("2 hard links"));
        let dir = FileFacts {
            regular: false,
            ..mine
        };
        assert!(refusal(&dir, 1000).is_some());
    }

    #[test]
    fn no_folder_below_the_base_is_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let h = host(t.path());
        let name = "sshProxy_linux_amd64_1.3.022941";
        file(&outside.path().join("1.0.0").join(name), 0o644);
        std::fs::create_dir_all(t.path().join("modules")).unwrap();
        // The module folder is a link: so is everything reached through it.
        let module = t.path().join("modules/Az.Ssh.ArcProxy");
        std::os::unix::fs::symlink(outside.path(), &module).unwrap();
        let through = module.join("1.0.0").join(name);
        let e = add_execute_bits(&h, &through).unwrap_err();
        assert!(
            e.to_string().contains("Az.Ssh.ArcProxy is a symbolic link"),
            "{e}"
        );
        let found = scan(&h, &module.join("1.0.0"), "sshProxy_linux_amd64_");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, module);
        assert!(matches!(found[0].state, ProxyState::LinkOutside { .. }));
        // A version folder that is a link, likewise.
        std::fs::remove_file(&module).unwrap();
        std::fs::create_dir(&module).unwrap();
        std::os::unix::fs::symlink(outside.path().join("1.0.0"), module.join("1.0.0")).unwrap();
        assert!(add_execute_bits(&h, &through).is_err());
        assert_eq!(mode(&outside.path().join("1.0.0").join(name)), 0o644);
        // Outside every base: refused.
        assert!(add_execute_bits(&h, &outside.path().join("1.0.0").join(name)).is_err());
    }
    #[test]
    fn a_file_with_two_links_is_refused_with_the_command_to_type() {
        let t = tempfile::tempdir().unwrap();
        let h = host(t.path());
        let proxy = t.path().join(".clientsshproxy/sshProxy_linux_amd64_1");
        file(&proxy, 0o4644);
        std::fs::hard_link(&proxy, t.path().join("other")).unwrap();
        let e = add_execute_bits(&h, &proxy).unwrap_err().to_string();
        assert!(e.contains("2 hard links"), "{e}");
        assert!(
            e.contains(&format!("chmod 755 \"{}\"", proxy.display())),
            "{e}"
        );
        assert_eq!(mode(&proxy), 0o4644);
    }

    #[test]
    fn finds_non_executable_proxies_and_fixes_them_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let h = host(t.path());
        let dir = t.path().join(".clientsshproxy");
        let proxy = dir.join("sshProxy_linux_amd64_1.3.022941");
        file(&proxy, 0o644);
        file(&dir.join("sshProxy_windows_amd64_1.3.022941.exe"), 0o644);
        let target = outside.path().join("evil");
        file(&target, 0o644);
        std::os::unix::fs::symlink(&target, dir.join("sshProxy_linux_amd64_9")).unwrap();

        let found = scan(&h, &dir, "sshProxy_linux_amd64_");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(
            found[0].state,
            ProxyState::NotExecutable {
                mode: 0o644,
                owned: true,
                links: 1
            }
        ));
        assert!(matches!(found[1].state, ProxyState::LinkOutside { .. }));

        // Fixed the way apply fixes it, then scanned again.
        assert_eq!(add_execute_bits(&h, &proxy).unwrap(), 0o755);
        let e = add_execute_bits(&h, &dir.join("sshProxy_linux_amd64_9")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(mode(&target), 0o644, "the link's target must not change");
        assert_eq!(
            scan(&h, &dir, "sshProxy_linux_amd64_1")[0].state,
            ProxyState::Executable
        );
    }
}
