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

    /// Whether `p` is an absolute path on this OS (`/x`; `C:\x`, `C:/x` or `\\server\x`).
    pub fn is_absolute(self, p: &str) -> bool {
        match self {
            Os::Windows => {
                let b = p.as_bytes();
                (b.len() >= 3
                    && b[0].is_ascii_alphabetic()
                    && b[1] == b':'
                    && matches!(b[2], b'\\' | b'/'))
                    || p.starts_with("\\\\")
            }
            _ => p.starts_with('/'),
        }
    }

    /// The absolute entries of a PATH value. An empty or relative entry would
    /// name a folder relative to wherever arcfix was started (the system's own
    /// search reads an empty entry as the current folder): it is ignored.
    pub fn absolute_entries(self, path: &str) -> Vec<PathBuf> {
        path.split(self.path_list_separator())
            .filter(|s| self.is_absolute(s))
            .map(PathBuf::from)
            .collect()
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
    /// The package manager a probe named by its program (`ServerFacts::package_manager`).
    pub fn from_program(program: &str) -> Option<PackageManager> {
        [
            PackageManager::Apt,
            PackageManager::Dnf,
            PackageManager::Zypper,
            PackageManager::Apk,
        ]
        .into_iter()
        .find(|pm| pm.program() == program)
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
    /// A host for tests: an unprivileged user (uid 1000) of `os` on amd64,
    /// with `home` and exactly these environment variables.
    #[cfg(test)]
    pub fn fake(os: Os, home: &str, vars: &[(&str, &str)]) -> Host {
        Host {
            os,
            arch: Arch::Amd64,
            home: PathBuf::from(home),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            privileged: false,
            uid: 1000,
        }
    }

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

    /// The folders of PATH, absolute ones only (see `Os::absolute_entries`).
    pub fn path_dirs(&self) -> Vec<PathBuf> {
        self.var("PATH")
            .map(|p| self.os.absolute_entries(p))
            .unwrap_or_default()
    }

    /// Finds a program on PATH (`name` without `.exe`): always an absolute path.
    /// `az` as it is run: the bare name, found on PATH when it runs. On
    /// Windows the CLI is `az.cmd`, which `which` (looking for `.exe`) does
    /// not find: the absolute path of the `az.cmd` found is used instead.
    pub fn az_program(&self) -> Option<String> {
        if self.which("az").is_some() {
            return Some("az".into());
        }
        if self.os == Os::Windows {
            return self
                .path_dirs()
                .into_iter()
                .map(|d| d.join("az.cmd"))
                .find(|p| p.is_file())
                .map(|p| p.display().to_string());
        }
        None
    }

    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let exe = self.os.exe(name);
        self.path_dirs()
            .into_iter()
            .map(|d| d.join(&exe))
            .find(|p| p.is_file())
    }

    /// The one lookup of a program arcfix runs: an absolute path is taken as
    /// it is, a bare name is looked up on PATH (`which`), anything else (a
    /// relative path) is never run. `None` means not installed.
    pub fn program(&self, program: &str) -> Option<PathBuf> {
        if self.os.is_absolute(program) {
            let p = PathBuf::from(program);
            return p.is_file().then_some(p);
        }
        if program.contains(['/', '\\']) {
            return None;
        }
        self.which(program)
    }

    /// A command that runs the program `program()` found, by its absolute path,
    /// and hands the child only the absolute PATH entries of its environment.
    /// `None` when the program is not installed.
    pub fn command(&self, program: &str) -> Option<tokio::process::Command> {
        let path = self.program(program)?;
        let mut c = tokio::process::Command::new(path);
        if let Ok(inherited) = std::env::var("PATH") {
            let clean = self.os.absolute_entries(&inherited);
            let sep = self.os.path_list_separator().to_string();
            let clean: Vec<String> = clean.iter().map(|p| p.display().to_string()).collect();
            c.env("PATH", clean.join(&sep));
        }
        Some(c)
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
    // An elevated token carries the High Mandatory Level SID. whoami by its
    // full path: never one found in the current folder.
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    std::process::Command::new(
        std::path::Path::new(&root)
            .join("System32")
            .join("whoami.exe"),
    )
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
        assert_eq!(
            PackageManager::from_program("apt-get"),
            Some(PackageManager::Apt)
        );
        assert_eq!(PackageManager::from_program("yum"), None);
    }

    #[test]
    fn relative_path_entries_are_ignored() {
        assert_eq!(
            Os::Linux.absolute_entries(":.:bin:/usr/bin::~/x:/bin"),
            [PathBuf::from("/usr/bin"), PathBuf::from("/bin")]
        );
        assert_eq!(
            Os::Windows.absolute_entries(";.;C:\\a;bin;\\\\srv\\s;D:/b;C:rel"),
            [
                PathBuf::from("C:\\a"),
                PathBuf::from("\\\\srv\\s"),
                PathBuf::from("D:/b")
            ]
        );
    }

    /// Real files: the host's own OS and PATH separator.
    #[test]
    fn programs_are_found_by_absolute_path_only() {
        let os = Os::current();
        let t = tempfile::tempdir().unwrap();
        let tool = os.exe("tool");
        std::fs::create_dir(t.path().join("bin")).unwrap();
        std::fs::write(t.path().join("bin").join(&tool), "").unwrap();
        std::fs::write(t.path().join(&tool), "").unwrap();
        let sep = os.path_list_separator();
        let h = Host {
            os,
            arch: Arch::Amd64,
            home: t.path().to_path_buf(),
            vars: [(
                "PATH".to_string(),
                format!("{sep}.{sep}{}", t.path().join("bin").display()),
            )]
            .into_iter()
            .collect(),
            privileged: false,
            uid: 1000,
        };
        assert_eq!(h.program("tool"), Some(t.path().join("bin").join(&tool)));
        assert_eq!(
            h.program(&format!(".{}{tool}", std::path::MAIN_SEPARATOR)),
            None,
            "a relative path is never run"
        );
        assert_eq!(h.program(&format!("bin/{tool}")), None);
        assert_eq!(h.program(&format!("bin\\{tool}")), None);
        let abs = t.path().join(&tool).display().to_string();
        assert_eq!(h.program(&abs), Some(t.path().join(&tool)));
        assert_eq!(h.program("missing"), None);
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
