//! Reads the PowerShell module folders (`PSModulePath`, or the OS defaults when
//! it is unset) and each version folder's `.psd1` `ModuleVersion`, without
//! starting PowerShell.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::error::{Error, Result};
use crate::os::{Host, Os};

pub const AZ_SSH: &str = "Az.Ssh";
pub const ARC_PROXY: &str = "Az.Ssh.ArcProxy";

/// One installed version of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: Version,
    /// The folder holding the manifest.
    pub folder: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u32>());
        let major = it.next()?.ok()?;
        let minor = it.next().unwrap_or(Ok(0)).ok()?;
        let patch = it.next().unwrap_or(Ok(0)).ok()?;
        Some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The folders PowerShell searches for modules: `PSModulePath` (`;`-separated
/// on Windows, `:` elsewhere), or the OS defaults when it is unset. On Windows
/// the variable a program started from cmd.exe or Explorer sees is the
/// machine's (Windows PowerShell's folders only): PowerShell itself adds the
/// user's `Documents\PowerShell\Modules` and `Program Files\PowerShell\Modules`
/// in front and the Windows PowerShell folders after, so they are added here too.
pub fn module_dirs(host: &Host) -> Vec<PathBuf> {
    let set: Option<Vec<PathBuf>> = host.var("PSModulePath").map(|p| {
        p.split(host.os.path_list_separator())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect()
    });
    match host.os {
        Os::Windows => {
            let [user, shared, user_windows, shared_windows] = windows_default_dirs(host);
            let mut out: Vec<PathBuf> = Vec::new();
            let chain = [user, shared]
                .into_iter()
                .chain(set.unwrap_or_default())
                .chain([user_windows, shared_windows]);
            for d in chain {
                // Windows paths are case-insensitive and may end with a separator.
                let key = |p: &Path| {
                    p.to_string_lossy()
                        .trim_end_matches(['\\', '/'])
                        .to_ascii_lowercase()
                };
                if !out.iter().any(|o| key(o) == key(&d)) {
                    out.push(d);
                }
            }
            out
        }
        Os::Linux | Os::Macos => set.unwrap_or_else(|| {
            let home = host.home.to_string_lossy().to_string();
            vec![
                PathBuf::from(Os::Linux.join(&home, &[".local", "share", "powershell", "Modules"])),
                PathBuf::from("/usr/local/share/powershell/Modules"),
                PathBuf::from("/opt/microsoft/powershell/7/Modules"),
            ]
        }),
    }
}

/// PowerShell 7's CurrentUser and AllUsers folders, then Windows PowerShell's.
fn windows_default_dirs(host: &Host) -> [PathBuf; 4] {
    let home = host.home.to_string_lossy().to_string();
    let pf = host.var("ProgramFiles").unwrap_or("C:\\Program Files");
    [
        PathBuf::from(Os::Windows.join(&home, &["Documents", "PowerShell", "Modules"])),
        PathBuf::from(Os::Windows.join(pf, &["PowerShell", "Modules"])),
        PathBuf::from(Os::Windows.join(&home, &["Documents", "WindowsPowerShell", "Modules"])),
        PathBuf::from(Os::Windows.join(pf, &["WindowsPowerShell", "Modules"])),
    ]
}

fn version_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?im)^\s*ModuleVersion\s*=\s*['"]\s*([0-9][0-9.]*)\s*['"]"#)
            .expect("valid regex")
    })
}

/// Reads `ModuleVersion` from a manifest; a manifest that cannot be read or has
/// none is an error naming the file.
pub fn manifest_version(psd1: &Path) -> Result<Version> {
    let bytes = std::fs::read(psd1)
        .map_err(|e| Error::io(format!("cannot read module manifest {}", psd1.display()), e))?;
    // PowerShellGet writes UTF-8 with a BOM; Windows PowerShell may write UTF-16.
    let text = if bytes.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(&bytes))
            .into_owned()
    };
    version_re()
        .captures(&text)
        .and_then(|c| Version::parse(&c[1]))
        .ok_or_else(|| {
            Error::input(format!(
                "module manifest {} has no readable ModuleVersion",
                psd1.display()
            ))
        })
}

/// Every installed version of `name` in the module folders: `<dir>/<name>/<version>/<name>.psd1`
/// and the unversioned `<dir>/<name>/<name>.psd1`.
pub fn find(host: &Host, name: &str) -> Result<Vec<Installed>> {
    let mut out = Vec::new();
    for dir in module_dirs(host) {
        let Some(module_dir) = child_ignoring_case(&dir, name) else {
            continue;
        };
        let mut candidates = vec![module_dir.clone()];
        if let Ok(entries) = std::fs::read_dir(&module_dir) {
            let mut subs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && Version::parse(&file_name(p)).is_some())
                .collect();
            subs.sort();
            candidates.extend(subs);
        }
        for folder in candidates {
            let psd1 = folder.join(format!("{name}.psd1"));
            if psd1.is_file() {
                out.push(Installed {
                    name: name.to_string(),
                    version: manifest_version(&psd1)?,
                    folder,
                });
            }
        }
    }
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Module folder names are case-insensitive on Windows and macOS; PowerShell
/// itself matches them case-insensitively everywhere.
fn child_ignoring_case(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.is_dir() {
        return Some(exact);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && file_name(p).eq_ignore_ascii_case(name))
}

/// The PowerShell to run fixes with: `pwsh`, or Windows PowerShell on Windows.
pub fn powershell(host: &Host) -> Option<PathBuf> {
    host.which("pwsh").or_else(|| {
        if host.os == Os::Windows {
            host.which("powershell")
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host of the OS the test runs on: these tests read real folders.
    fn host_with(psmodulepath: &Path) -> Host {
        let path = psmodulepath.display().to_string();
        Host::fake(Os::current(), "/nonexistent", &[("PSModulePath", &path)])
    }

    #[test]
    fn reads_versions_from_manifests() {
        let t = tempfile::tempdir().unwrap();
        let v1 = t.path().join("Az.Ssh.ArcProxy/1.0.0");
        let v2 = t.path().join("Az.Ssh.ArcProxy/2.1.0");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(
            v1.join("Az.Ssh.ArcProxy.psd1"),
            "\u{feff}@{\n  ModuleVersion = '1.0.0'\n}",
        )
        .unwrap();
        std::fs::write(
            v2.join("Az.Ssh.ArcProxy.psd1"),
            "@{ RootModule = 'x'\nModuleVersion=\"2.1\" }",
        )
        .unwrap();
        let found = find(&host_with(t.path()), ARC_PROXY).unwrap();
        let versions: Vec<String> = found.iter().map(|i| i.version.to_string()).collect();
        assert_eq!(versions, ["1.0.0", "2.1.0"]);
        assert!(find(&host_with(t.path()), AZ_SSH).unwrap().is_empty());
    }

    #[test]
    fn a_manifest_without_version_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let v = t.path().join("Az.Ssh/0.2.0");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("Az.Ssh.psd1"), [0xff, 0x00, 0x41]).unwrap();
        let e = find(&host_with(t.path()), AZ_SSH).unwrap_err().to_string();
        assert!(
            e.contains("Az.Ssh.psd1") && e.contains("ModuleVersion"),
            "{e}"
        );
    }

    #[test]
    fn default_folders_per_os() {
        let mut h = host_with(Path::new("/x"));
        h.os = Os::Linux;
        h.vars.clear();
        h.home = PathBuf::from("/home/ann");
        assert_eq!(
            module_dirs(&h)[0],
            PathBuf::from("/home/ann/.local/share/powershell/Modules")
        );
        h.os = Os::Windows;
        h.home = PathBuf::from("C:\\Users\\ann");
        assert_eq!(
            module_dirs(&h)[0],
            PathBuf::from("C:\\Users\\ann\\Documents\\PowerShell\\Modules")
        );
        assert_eq!(
            module_dirs(&h)[1],
            PathBuf::from("C:\\Program Files\\PowerShell\\Modules")
        );
        assert_eq!(module_dirs(&h).len(), 4);
        assert_eq!(Version::parse("1.9.9"), Some(Version(1, 9, 9)));
        assert_eq!(Version::parse("x"), None);
    }

    #[test]
    fn windows_psmodulepath_is_split_on_semicolons_and_keeps_powershells_own_folders() {
        let mut h = host_with(Path::new("/x"));
        h.os = Os::Windows;
        h.home = PathBuf::from("C:\\Users\\ann");
        // What cmd.exe shows: the machine value, without the user's folders.
        h.vars = [
            (
                "PSMODULEPATH".to_string(),
                "C:\\Program Files\\WindowsPowerShell\\Modules\\;C:\\WINDOWS\\system32\\WindowsPowerShell\\v1.0\\Modules;D:\\mods"
                    .to_string(),
            ),
            ("ProgramFiles".to_string(), "C:\\Program Files".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            module_dirs(&h),
            [
                "C:\\Users\\ann\\Documents\\PowerShell\\Modules",
                "C:\\Program Files\\PowerShell\\Modules",
                "C:\\Program Files\\WindowsPowerShell\\Modules\\",
                "C:\\WINDOWS\\system32\\WindowsPowerShell\\v1.0\\Modules",
                "D:\\mods",
                "C:\\Users\\ann\\Documents\\WindowsPowerShell\\Modules",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn crlf_and_utf16_manifests_are_read() {
        let t = tempfile::tempdir().unwrap();
        let crlf = t.path().join("crlf.psd1");
        std::fs::write(
            &crlf,
            "\u{feff}@{\r\n    RootModule = 'Az.Ssh.psm1'\r\n    ModuleVersion = '0.2.3'\r\n}\r\n",
        )
        .unwrap();
        assert_eq!(manifest_version(&crlf).unwrap(), Version(0, 2, 3));
        let utf16 = t.path().join("utf16.psd1");
        let mut bytes = vec![0xff, 0xfe];
        for u in "@{\r\nModuleVersion = \"1.9.9\"\r\n}\r\n".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        std::fs::write(&utf16, bytes).unwrap();
        assert_eq!(manifest_version(&utf16).unwrap(), Version(1, 9, 9));
    }
}
