//! Platform differences as plain data: every OS's paths, names and commands are
//! computed from an `Os` value, so all of them compile and are tested on Linux.
//! The only `cfg` code is in `Host::detect` and the privilege check.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }

    /// The os word in the proxy file names (`sshProxy_{os}_{arch}_…`).
    pub fn proxy_word(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "darwin",
            Os::Windows => "windows",
        }
    }

    pub fn path_list_separator(self) -> char {
        if self == Os::Windows { ';' } else { ':' }
    }

    pub fn exe(self, name: &str) -> String {
        if self == Os::Windows {
            format!("{name}.exe")
        } else {
            name.to_string()
        }
    }

    /// Joins path pieces with this OS's separator, whatever OS we run on.
    pub fn join(self, base: &str, rest: &[&str]) -> String {
        let sep = if self == Os::Windows { '\\' } else { '/' };
        let mut out = base.trim_end_matches(['/', '\\']).to_string();
        for r in rest {
            out.push(sep);
            out.push_str(r);
        }
        out
    }
}

/// CPU architecture as the proxy file names spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Amd64,
    I386,
    Arm64,
}

impl Arch {
    pub fn current() -> Arch {
        match std::env::consts::ARCH {
            "x86" => Arch::I386,
            "aarch64" => Arch::Arm64,
            _ => Arch::Amd64,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::I386 => "386",
            Arch::Arm64 => "arm64",
        }
    }
    /// Az.Ssh picks `amd64` for any 64-bit process (it has no arm64 proxy), `386` otherwise.
    pub fn powershell_word(self) -> &'static str {
        match self {
            Arch::I386 => "386",
            _ => "amd64",
        }
    }
}

/// Which Linux package manager installs OpenSSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Apt,
    Dnf,
    Zypper,
    Apk,
}

impl PackageManager {
    pub fn program(self) -> &'static str {
        match self {
            PackageManager::Apt => "apt-get",
            PackageManager::Dnf => "dnf",
            PackageManager::Zypper => "zypper",
            PackageManager::Apk => "apk",
        }
    }
    /// Arguments that install `package` without asking.
    pub fn install_args(self, package: &str) -> Vec<String> {
        let words: &[&str] = match self {
            PackageManager::Apt => &["install", "-y"],
            PackageManager::Dnf => &["install", "-y"],
            PackageManager::Zypper => &["--non-interactive", "install"],
            PackageManager::Apk => &["add"],
        };
        words
            .iter()
            .map(|s| s.to_string())
            .chain([package.to_string()])
            .collect()
    }
    pub fn ssh_client_package(self) -> &'static str {
        match self {
            PackageManager::Dnf => "openssh-clients",
            PackageManager::Zypper => "openssh-clients",
            _ => "openssh-client",
        }
    }
    pub fn ssh_server_package(self) -> &'static str {
        "openssh-server"
    }
}

/// What the probes may read of the machine they run on. Built once from the
/// process (`Host::detect`) or by hand in tests.
#[derive(Debug, Clone)]
pub struct Host {
    pub os: Os,
    pub arch: Arch,
    pub home: PathBuf,
    /// Environment variables that matter (PATH, PSModulePath, SystemRoot, ...).
    pub vars: BTreeMap<String, String>,
    /// Running as root / an elevated administrator.
    pub privileged: bool,
    pub uid: u32,
}

impl Host {
    pub fn detect() -> Host {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let os = Os::current();
        let home = vars
            .get(if os == Os::Windows {
                "USERPROFILE"
            } else {
                "HOME"
            })
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let privileged = match vars.get("ARCFIX_PRIVILEGE").map(String::as_str) {
            Some("user") => false,
            Some("admin") => true,
            _ => is_privileged(),
        };
        Host {
            os,
            arch: Arch::current(),
            home,
            vars,
            privileged,
            uid: current_uid(),
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        // Windows variable names are case-insensitive.
        if self.os == Os::Windows {
            self.vars
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        } else {
            self.vars.get(name).map(String::as_str)
        }
    }

    pub fn path_dirs(&self) -> Vec<PathBuf> {
        self.var("PATH")
            .map(|p| {
                p.split(self.os.path_list_separator())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Finds a program on PATH (`name` without `.exe`).
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let exe = self.os.exe(name);
        self.path_dirs()
            .into_iter()
            .map(|d| d.join(&exe))
            .find(|p| p.is_file())
    }

    pub fn package_manager(&self) -> Option<PackageManager> {
        [
            PackageManager::Apt,
            PackageManager::Dnf,
            PackageManager::Zypper,
            PackageManager::Apk,
        ]
        .into_iter()
        .find(|pm| self.which(pm.program()).is_some())
    }

    /// The command a person types for a privileged command: prefixed with sudo
    /// on Unix when not root; on Windows it must be an elevated prompt.
    pub fn as_admin(&self, command: &str) -> String {
        if self.os == Os::Windows || self.privileged {
            command.to_string()
        } else {
            format!("sudo {command}")
        }
    }

    pub fn home_path(&self, rest: &[&str]) -> PathBuf {
        let mut p = self.home.clone();
        for r in rest {
            p.push(r);
        }
        p
    }
}

#[cfg(unix)]
fn is_privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: as above.
    unsafe { libc::geteuid() }
}

#[cfg(windows)]
fn is_privileged() -> bool {
    // An elevated token carries the High Mandatory Level SID.
    std::process::Command::new("whoami")
        .arg("/groups")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("S-1-16-12288"))
        .unwrap_or(false)
}

#[cfg(windows)]
fn current_uid() -> u32 {
    0
}

/// Starts a child in a process group of its own, so that it and its children
/// (ssh and its ProxyCommand) can be stopped together.
pub fn own_process_group(cmd: &mut tokio::process::Command) {
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(not(unix))]
    let _ = cmd;
}

/// Kills a process group started with `own_process_group` (on Windows, the
/// child alone is killed when its handle drops).
pub fn kill_process_group(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a negative pid signals that process group only.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_for_every_os() {
        assert_eq!(
            Os::Windows.join("C:\\Windows\\", &["System32", "OpenSSH"]),
            "C:\\Windows\\System32\\OpenSSH"
        );
        assert_eq!(
            Os::Linux.join("/home/u", &[".local", "share"]),
            "/home/u/.local/share"
        );
        assert_eq!(Os::Windows.exe("ssh"), "ssh.exe");
        assert_eq!(Os::Macos.exe("ssh"), "ssh");
        assert_eq!(Os::Macos.proxy_word(), "darwin");
        assert_eq!(Arch::Arm64.powershell_word(), "amd64");
        assert_eq!(
            PackageManager::Zypper.install_args("openssh-clients"),
            ["--non-interactive", "install", "openssh-clients"]
        );
        assert_eq!(PackageManager::Dnf.ssh_client_package(), "openssh-clients");
    }

    #[test]
    fn windows_variables_are_case_insensitive() {
        let mut vars = BTreeMap::new();
        vars.insert("Path".to_string(), "C:\\a;C:\\b".to_string());
        let h = Host {
            os: Os::Windows,
            arch: Arch::Amd64,
            home: PathBuf::from("C:\\Users\\u"),
            vars,
            privileged: false,
            uid: 0,
        };
        assert_eq!(
            h.path_dirs(),
            [PathBuf::from("C:\\a"), PathBuf::from("C:\\b")]
        );
        assert_eq!(h.as_admin("Add-WindowsCapability"), "Add-WindowsCapability");
    }
}
