//! The client-side problems: ssh binaries, the PowerShell modules, and the
//! proxy's execute permission.

use std::path::{Path, PathBuf};

use crate::checks::{Report, StepSpec, finding};
use crate::error::Result;
use crate::os::{Host, Os};
use crate::plan::{Action, FixKind, Goal, ProxyFix, StepKind, Target};
use crate::probe::{binaries, modules, proxy};
use crate::problem;

pub const ARCPROXY_INSTALL: &str = "Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force";
pub const ARCPROXY_UPDATE: &str = "Update-Module -Name Az.Ssh -Force; Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force";

/// What the client side decides from: everything read on this machine.
pub struct Facts {
    pub host: Host,
    /// `--ssh-client-folder`.
    pub folder: Option<PathBuf>,
    pub binaries: binaries::Lookup,
    /// The program and arguments that install the OpenSSH client here.
    pub install: Option<(String, Vec<String>)>,
    pub az_ssh: Vec<modules::Installed>,
    pub arcproxy: Vec<modules::Installed>,
    /// pwsh, when Az.Ssh is installed and pwsh is on PATH.
    pub pwsh: Option<PathBuf>,
    /// The module folders, for the evidence.
    pub module_dirs: String,
    /// The proxy files of the Az.Ssh.ArcProxy 1.x versions and of `~/.clientsshproxy`.
    pub proxies: Vec<proxy::ProxyFile>,
    /// The Azure CLI's ssh extension, as its folder shows it.
    pub az_extension: crate::checks::az_ssh::Installed,
    /// How `az` is run here, when it is installed.
    pub az: Option<String>,
}

impl Facts {
    /// Reads everything the client checks look at, recording what was seen.
    pub fn read(host: &Host, folder: Option<&Path>, r: &mut Report) -> Result<Facts> {
        let lookup = binaries::lookup(host, folder);
        for (name, path) in &lookup.found {
            r.observe(format!(
                "binary {name}={}",
                path.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
        }
        let az_ssh = modules::find(host, modules::AZ_SSH)?;
        let arcproxy = modules::find(host, modules::ARC_PROXY)?;
        for m in az_ssh.iter().chain(&arcproxy) {
            r.observe(format!(
                "module {} {} {}",
                m.name,
                m.version,
                m.folder.display()
            ));
        }
        // Proxy files are checked wherever they are, PowerShell user or not;
        // Az.Ssh runs the proxy of a 1.x version only, so only those count.
        let folders: Vec<_> = arcproxy
            .iter()
            .filter(|m| m.version.0 == 1)
            .map(|m| m.folder.clone())
            .collect();
        let mut proxies = Vec::new();
        for (folder, prefix) in proxy::folders(host, &folders) {
            for file in proxy::scan(host, &folder, &prefix) {
                r.observe(format!("proxy {} {:?}", file.path.display(), file.state));
                proxies.push(file);
            }
        }
        let mut pwsh = None;
        if az_ssh.is_empty() {
            r.note("Az.Ssh is not installed: the PowerShell module checks do not apply (az ssh arc users need none)");
        } else {
            pwsh = modules::powershell(host);
            r.observe(format!(
                "pwsh={}",
                pwsh.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
        }
        Ok(Facts {
            host: host.clone(),
            folder: folder.map(Path::to_path_buf),
            binaries: lookup,
            install: install_command(host),
            az_ssh,
            arcproxy,
            pwsh,
            module_dirs: dirs(host),
            proxies,
            az_extension: crate::checks::az_ssh::installed(&crate::checks::az_ssh::ssh_dir(host)),
            az: crate::checks::az_ssh::az_program(host),
        })
    }

    fn admin(&self) -> &'static str {
        if self.host.os == Os::Windows {
            "administrator"
        } else {
            "root"
        }
    }
}

/// One known problem of this machine: its catalogue id and the function that looks for it.
pub type Check = fn(&Facts, &mut Report);

/// Every client-side problem, in the order findings and steps are reported.
pub const CHECKS: &[(&str, Check)] = &[
    (problem::CLIENT_BINARIES_MISSING, client_binaries_missing),
    (problem::ARC_SSH_CLIENT_MISSING, arc_ssh_client_missing),
    (problem::PROXY_NOT_EXECUTABLE, proxy_not_executable),
    (problem::PWSH_MISSING, pwsh_missing),
    (problem::ARCPROXY_NOT_INSTALLED, arcproxy_not_installed),
    (
        problem::PS_MODULE_VERSION_MISMATCH,
        ps_module_version_mismatch,
    ),
];

pub fn detect(host: &Host, ssh_client_folder: Option<&Path>) -> Result<Report> {
    let mut r = Report::default();
    let facts = Facts::read(host, ssh_client_folder, &mut r)?;
    for (_, check) in CHECKS {
        check(&facts, &mut r);
    }
    crate::checks::az_ssh::check(host, &mut r);
    Ok(r)
}

/// ssh or ssh-keygen is not found (or not in `--ssh-client-folder`).
fn client_binaries_missing(f: &Facts, r: &mut Report) {
    let l = &f.binaries;
    let missing = l.missing();
    if !l.folder_lacks.is_empty() {
        let folder = f
            .folder
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        r.finding(finding(
            problem::CLIENT_BINARIES_MISSING,
            &Target::Local,
            format!(
                "--ssh-client-folder {folder} has no {}",
                l.folder_lacks.join(" or ")
            ),
            FixKind::Manual,
        ));
        if missing.is_empty() {
            // Found elsewhere: the folder option is what is wrong.
            let to = l.found[0]
                .1
                .as_ref()
                .and_then(|p| p.parent())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            r.step(StepSpec {
                kind: StepKind::FixSshClientFolder,
                fixes: vec![problem::CLIENT_BINARIES_MISSING.into()],
                target: Target::Local,
                description: format!("Point --ssh-client-folder at {to}, where ssh and ssh-keygen are (or leave the option out)"),
                command: format!("az ssh arc ... --ssh-client-folder {}", crate::shell::quote_for(f.host.os, &to)),
                ..StepSpec::manual()
            });
            return;
        }
    }
    if missing.is_empty() {
        return;
    }
    if f.folder.is_none() || l.folder_lacks.is_empty() {
        r.finding(finding(
            problem::CLIENT_BINARIES_MISSING,
            &Target::Local,
            format!(
                "{} not found (looked in {})",
                missing.join(" and "),
                l.searched.join(", ")
            ),
            if l.elsewhere.is_none() && f.install.is_some() && f.host.privileged {
                FixKind::Auto
            } else {
                FixKind::Manual
            },
        ));
    }
    match &l.elsewhere {
        Some(dir) => r.step(use_folder_step(f, dir)),
        None => r.step(install_client_step(f)),
    }
}

/// The binaries are in a known folder off PATH: say to use it.
fn use_folder_step(f: &Facts, dir: &Path) -> StepSpec {
    let dir = dir.display().to_string();
    let path_cmd = match f.host.os {
        Os::Windows => format!("$env:PATH = \"{dir};$env:PATH\""),
        _ => format!("export PATH=\"{dir}:$PATH\""),
    };
    StepSpec {
        kind: StepKind::UseSshClientFolder,
        fixes: vec![problem::CLIENT_BINARIES_MISSING.into()],
        target: Target::Local,
        description: format!(
            "ssh and ssh-keygen are in {dir}, which is not on PATH: pass --ssh-client-folder \"{dir}\" to az ssh arc, or add it to PATH for Azure PowerShell ({path_cmd})"
        ),
        command: format!(
            "az ssh arc ... --ssh-client-folder {}",
            crate::shell::quote_for(f.host.os, &dir)
        ),
        ..StepSpec::manual()
    }
}

/// Install the OpenSSH client with the package manager, when there is one.
fn install_client_step(f: &Facts) -> StepSpec {
    let Some((program, args)) = f.install.clone() else {
        let cmd = match f.host.os {
            Os::Macos => "brew install openssh".to_string(),
            _ => "install the OpenSSH client package of your distribution".to_string(),
        };
        return StepSpec {
            kind: StepKind::InstallOpensshClient,
            fixes: vec![problem::CLIENT_BINARIES_MISSING.into()],
            target: Target::Local,
            description: "Install the OpenSSH client (no known package manager was found)".into(),
            command: cmd,
            ..StepSpec::manual()
        };
    };
    let typed = f.host.as_admin(&format!("{} {}", program, args.join(" ")));
    let automatic = f.host.privileged;
    StepSpec {
        kind: StepKind::InstallOpensshClient,
        fixes: vec![problem::CLIENT_BINARIES_MISSING.into()],
        target: Target::Local,
        description: "Install the OpenSSH client with the system's package manager".into(),
        command: typed,
        automatic,
        undo: Some("remove the OpenSSH client package the system's package manager installed (it was missing before)".into()),
        needs: vec![f.admin().into()],
        precondition: "ssh or ssh-keygen is still missing".into(),
        verification: "ssh and ssh-keygen are found".into(),
        goal: Goal::ClientBinaries {
            folder: f.folder.clone(),
        },
        action: if automatic {
            Action::Exec { program, args }
        } else {
            Action::Manual
        },
        ..StepSpec::manual()
    }
}

/// The program and arguments that install the OpenSSH client here.
pub fn install_command(host: &Host) -> Option<(String, Vec<String>)> {
    match host.os {
        Os::Windows => Some((
            "powershell".to_string(),
            [
                "-NoProfile",
                "-NonInteractive",
                "-Command",
                "Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        )),
        Os::Macos => None,
        Os::Linux => {
            let pm = host.package_manager()?;
            Some((
                pm.program().to_string(),
                pm.install_args(pm.ssh_client_package()),
            ))
        }
    }
}

fn pwsh_args(command: &str) -> Vec<String> {
    ["-NoProfile", "-NonInteractive", "-Command", command]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Az.Ssh is installed but PowerShell 7, which runs it, is not.
fn pwsh_missing(f: &Facts, r: &mut Report) {
    if f.az_ssh.is_empty() || f.pwsh.is_some() {
        return;
    }
    r.finding(finding(
        problem::PWSH_MISSING,
        &Target::Local,
        format!(
            "Az.Ssh {} is installed but PowerShell 7 (pwsh) is not on PATH",
            f.az_ssh[0].version
        ),
        FixKind::Manual,
    ));
    r.step(StepSpec {
        kind: StepKind::InstallPwsh,
        fixes: vec![problem::PWSH_MISSING.into()],
        target: Target::Local,
        description: "Install PowerShell 7, which runs Az.Ssh and the module fixes".into(),
        command: match f.host.os {
            Os::Windows => "winget install --id Microsoft.PowerShell --source winget".into(),
            Os::Macos => "brew install --cask powershell".into(),
            Os::Linux => f.host.as_admin("snap install powershell --classic"),
        },
        ..StepSpec::manual()
    });
}

/// Neither client that reaches Arc servers is here (the Azure CLI's ssh
/// extension, Az.Ssh) and no proxy either: no SSH path through Arc starts on
/// this machine, whatever Azure and the server say.
fn arc_ssh_client_missing(f: &Facts, r: &mut Report) {
    use crate::checks::az_ssh::Installed;
    if f.az_extension != Installed::No || !f.az_ssh.is_empty() || !f.proxies.is_empty() {
        return;
    }
    let extensions = crate::checks::az_ssh::ssh_dir(&f.host);
    r.finding(finding(
        problem::ARC_SSH_CLIENT_MISSING,
        &Target::Local,
        format!(
            "no Azure CLI ssh extension ({} {}), no Az.Ssh module in {} and no Arc SSH proxy: nothing here can reach a server through Arc",
            match &f.az {
                Some(_) => "az is installed but",
                None => "az is not installed and",
            },
            format_args!("{} does not exist", extensions.display()),
            f.module_dirs
        ),
        FixKind::Manual,
    ));
    let powershell = "Install-Module -Name Az.Ssh -Repository PSGallery -Scope CurrentUser -Force; Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force";
    let (description, command) = match &f.az {
        Some(az) => (
            format!(
                "Add the Azure CLI's ssh extension (az ssh arc); or, for Azure PowerShell, install PowerShell 7 and run: {powershell}"
            ),
            format!(
                "{} extension add --name ssh",
                crate::shell::quote_for(f.host.os, az)
            ),
        ),
        None => (
            format!(
                "Install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli), then add its ssh extension with the command below; or install PowerShell 7 and run: {powershell}"
            ),
            "az extension add --name ssh".into(),
        ),
    };
    r.step(StepSpec {
        kind: StepKind::InstallArcSshClient,
        fixes: vec![problem::ARC_SSH_CLIENT_MISSING.into()],
        target: Target::Local,
        description,
        command,
        ..StepSpec::manual()
    });
}

/// Az.Ssh is installed but no Az.Ssh.ArcProxy is.
fn arcproxy_not_installed(f: &Facts, r: &mut Report) {
    if f.az_ssh.is_empty() || !f.arcproxy.is_empty() {
        return;
    }
    let evidence = format!(
        "Az.Ssh {} is installed but no Az.Ssh.ArcProxy module is in {}",
        f.az_ssh[0].version, f.module_dirs
    );
    install_arcproxy(
        f,
        r,
        (problem::ARCPROXY_NOT_INSTALLED, evidence),
        (StepKind::InstallArcproxy, ARCPROXY_INSTALL),
        "Install the Az.Ssh.ArcProxy module (1.x) for the current user from the PowerShell Gallery",
    );
}

/// Only Az.Ssh.ArcProxy versions other than the 1.x Az.Ssh supports are installed.
fn ps_module_version_mismatch(f: &Facts, r: &mut Report) {
    if f.az_ssh.is_empty() || f.arcproxy.is_empty() || f.arcproxy.iter().any(|m| m.version.0 == 1) {
        return;
    }
    let found: Vec<String> = f
        .arcproxy
        .iter()
        .map(|m| format!("{} in {}", m.version, m.folder.display()))
        .collect();
    let evidence = format!(
        "Az.Ssh supports Az.Ssh.ArcProxy 1.x only; installed: {}",
        found.join(", ")
    );
    install_arcproxy(
        f,
        r,
        (problem::PS_MODULE_VERSION_MISMATCH, evidence),
        (StepKind::UpdateArcproxy, ARCPROXY_UPDATE),
        "Update Az.Ssh and install an Az.Ssh.ArcProxy 1.x beside the unsupported version",
    );
}

/// The finding and the steps that put an Az.Ssh.ArcProxy 1.x in place
/// (after pwsh, when it must be installed first), then make its proxy runnable.
fn install_arcproxy(
    f: &Facts,
    r: &mut Report,
    (id, evidence): (&str, String),
    (kind, command): (StepKind, &str),
    description: &str,
) {
    let needs_pwsh: Vec<StepKind> = if f.pwsh.is_none() {
        vec![StepKind::InstallPwsh]
    } else {
        vec![]
    };
    let program = f
        .pwsh
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pwsh".into());
    let automatic = needs_pwsh.is_empty();
    r.finding(finding(
        id,
        &Target::Local,
        evidence,
        if automatic {
            FixKind::Auto
        } else {
            FixKind::Manual
        },
    ));
    r.step(StepSpec {
        kind: kind.clone(),
        fixes: vec![id.into()],
        target: Target::Local,
        description: description.into(),
        command: format!("pwsh -NoProfile -NonInteractive -Command \"{command}\""),
        automatic,
        // No 1.x was there before: what the step adds is exactly the 1.x versions.
        undo: Some("pwsh -NoProfile -NonInteractive -Command \"Get-InstalledModule Az.Ssh.ArcProxy -AllVersions | Where-Object { $_.Version.Major -eq 1 } | Uninstall-Module\"".into()),
        needs: vec!["pwsh".into()],
        precondition: "no Az.Ssh.ArcProxy 1.x is in the module folders".into(),
        verification: "the module folders hold an Az.Ssh.ArcProxy 1.x".into(),
        after: needs_pwsh,
        goal: Goal::ArcProxyInstalled,
        action: if automatic {
            Action::Exec {
                program,
                args: pwsh_args(command),
            }
        } else {
            Action::Manual
        },
    });
    if f.host.os != Os::Windows {
        // The gallery's package does not keep the execute bit (Az.Ssh adds it
        // only on Linux, and only when it may): make the new proxy runnable.
        r.step(StepSpec {
            kind: StepKind::ChmodInstalledProxy,
            fixes: vec![id.into(), problem::PROXY_NOT_EXECUTABLE.into()],
            target: Target::Local,
            description: "Add the execute permission to the proxy file of the newly installed Az.Ssh.ArcProxy".into(),
            command: "chmod +x <module folder>/Az.Ssh.ArcProxy/1.*/sshProxy_*".into(),
            automatic,
            undo: Some("chmod a-x <module folder>/Az.Ssh.ArcProxy/1.*/sshProxy_*".into()),
            needs: vec![],
            precondition: "a proxy file of the installed Az.Ssh.ArcProxy 1.x is not executable".into(),
            verification: "every such proxy file is executable by this user".into(),
            after: vec![kind],
            goal: Goal::ModuleProxiesExecutable,
            action: if automatic { Action::AddExecuteBitsToModuleProxies } else { Action::Manual },
        });
    }
}

/// Proxy files of the installed Az.Ssh.ArcProxy 1.x versions that this user may not run.
pub fn module_proxies_not_executable(host: &Host) -> Result<Vec<proxy::ProxyFile>> {
    let folders: Vec<_> = modules::find(host, modules::ARC_PROXY)?
        .into_iter()
        .filter(|m| m.version.0 == 1)
        .map(|m| m.folder)
        .collect();
    let (prefix, _) = proxy::prefixes(host);
    Ok(folders
        .iter()
        .flat_map(|f| proxy::scan(host, f, &prefix))
        .filter(|p| matches!(p.state, proxy::ProxyState::NotExecutable { .. }))
        .collect())
}

fn dirs(host: &Host) -> String {
    modules::module_dirs(host)
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A proxy file this user may not execute (or a link out of its folder).
fn proxy_not_executable(f: &Facts, r: &mut Report) {
    for file in &f.proxies {
        let path = file.path.display().to_string();
        match &file.state {
            proxy::ProxyState::Executable => {}
            proxy::ProxyState::LinkOutside { target } => {
                r.finding(finding(
                    problem::PROXY_NOT_EXECUTABLE,
                    &Target::Local,
                    format!(
                        "{path} is a link out of its folder, to {}; arcfix does not change it",
                        target.display()
                    ),
                    FixKind::Manual,
                ));
                r.step(StepSpec {
                kind: StepKind::Proxy {
                    fix: ProxyFix::CheckLink,
                    path: path.clone(),
                },
                fixes: vec![problem::PROXY_NOT_EXECUTABLE.into()],
                target: Target::Local,
                description: format!("Replace the link {path} with the real proxy file or folder (reinstall the module or delete it so az downloads it again)"),
                command: format!("rm {}", crate::shell::quote_for(f.host.os, &path)),
                ..StepSpec::manual()
            });
            }
            proxy::ProxyState::WindowsBlocked { acl_denies, zone } => {
                windows_blocked(&f.host, &file.path, *acl_denies, *zone, r);
            }
            proxy::ProxyState::NotExecutable { mode, owned, links } => {
                let (mode, owned, links) = (*mode, *owned, *links);
                // Only this user's own file with one link: root changes no
                // other user's file, and no file that is also elsewhere.
                let automatic = owned && links == 1;
                let why = if !owned {
                    "; it belongs to another user, so arcfix leaves it to you"
                } else if links != 1 {
                    "; it has more than one hard link, so arcfix leaves it to you"
                } else {
                    ""
                };
                r.finding(finding(
                    problem::PROXY_NOT_EXECUTABLE,
                    &Target::Local,
                    format!("{path} has mode {mode:o}: this user may not execute it{why}"),
                    if automatic {
                        FixKind::Auto
                    } else {
                        FixKind::Manual
                    },
                ));
                let typed = proxy::manual_command(&f.host, &file.path, mode, owned);
                r.step(StepSpec {
                kind: StepKind::Proxy {
                    fix: ProxyFix::Chmod,
                    path: path.clone(),
                },
                fixes: vec![problem::PROXY_NOT_EXECUTABLE.into()],
                target: Target::Local,
                description: format!("Add the execute permission to {path} where read is allowed ({mode:o} -> {:o})", proxy::with_execute_bits(mode)),
                command: typed,
                automatic,
                undo: Some(format!("chmod {mode:o} {}", crate::shell::posix(&file.path.display().to_string()))),
                needs: if owned { vec![] } else { vec!["root".into()] },
                precondition: "the file is still not executable and is a regular file, not a link".into(),
                verification: "the file is executable by this user".into(),
                after: vec![],
                goal: Goal::ProxyExecutable { path: file.path.clone() },
                action: if automatic { Action::AddExecuteBits { path: file.path.clone() } } else { Action::Manual },
            });
            }
        }
    }
}

/// A Windows proxy file this user may not run: its ACL (icacls) and its
/// download mark (Unblock-File), as steps a person takes.
fn windows_blocked(
    host: &Host,
    file: &std::path::Path,
    acl_denies: bool,
    zone: Option<u32>,
    r: &mut Report,
) {
    let path = file.display().to_string();
    let mut why = Vec::new();
    if acl_denies {
        why.push("its ACL does not let this user read and execute it".to_string());
    }
    if let Some(z) = zone {
        why.push(format!(
            "its Zone.Identifier stream marks it as downloaded (zone {z})"
        ));
    }
    r.finding(finding(
        problem::PROXY_NOT_EXECUTABLE,
        &Target::Local,
        format!("{path}: {}; arcfix leaves it to you", why.join(", and ")),
        FixKind::Manual,
    ));
    for command in proxy::windows_commands(file, acl_denies, zone, host.var("USERNAME")) {
        let (base, description) = if command.starts_with("icacls") {
            (
                ProxyFix::Grant,
                format!("Grant this user read and execute on {path}"),
            )
        } else {
            (
                ProxyFix::Unblock,
                format!("Remove the download mark (Zone.Identifier) from {path}"),
            )
        };
        r.step(StepSpec {
            kind: StepKind::Proxy {
                fix: base,
                path: path.clone(),
            },
            fixes: vec![problem::PROXY_NOT_EXECUTABLE.into()],
            target: Target::Local,
            description,
            command,
            precondition: "the file is still blocked or not executable for this user".into(),
            verification:
                "this user may read and execute the file and no Zone.Identifier blocks it".into(),
            goal: Goal::ProxyExecutable {
                path: file.to_path_buf(),
            },
            ..StepSpec::manual()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::Arch;
    use crate::plan::Step;
    use crate::probe::modules::{Installed, Version};
    use crate::probe::proxy::{ProxyFile, ProxyState};

    fn host(os: Os, privileged: bool) -> Host {
        Host {
            os,
            arch: Arch::Amd64,
            home: PathBuf::from("/home/ada"),
            vars: Default::default(),
            privileged,
            uid: 1000,
        }
    }

    fn module(name: &str, version: Version) -> Installed {
        Installed {
            name: name.into(),
            version,
            folder: PathBuf::from(format!("/m/{name}/{version}")),
        }
    }

    /// A Linux client with everything in place.
    fn healthy() -> Facts {
        Facts {
            host: host(Os::Linux, false),
            folder: None,
            binaries: binaries::Lookup {
                found: vec![
                    ("ssh".into(), Some("/usr/bin/ssh".into())),
                    ("ssh-keygen".into(), Some("/usr/bin/ssh-keygen".into())),
                ],
                folder_lacks: vec![],
                elsewhere: None,
                searched: vec!["/usr/bin".into()],
            },
            install: Some((
                "apt-get".into(),
                vec!["install".into(), "-y".into(), "openssh-client".into()],
            )),
            az_ssh: vec![module("Az.Ssh", Version(0, 2, 3))],
            arcproxy: vec![module("Az.Ssh.ArcProxy", Version(1, 0, 0))],
            pwsh: Some("/usr/bin/pwsh".into()),
            module_dirs: "/m".into(),
            proxies: vec![],
            az_extension: crate::checks::az_ssh::Installed::No,
            az: None,
        }
    }

    fn without_ssh(mut f: Facts) -> Facts {
        f.binaries.found[0].1 = None;
        f
    }

    fn run(f: &Facts) -> Report {
        let mut r = Report::default();
        for (_, check) in CHECKS {
            check(f, &mut r);
        }
        r
    }

    // facts, findings, steps, the automatic ones
    type Case = (
        Facts,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );

    fn cases() -> Vec<Case> {
        let not_exec = |owned, links| ProxyFile {
            path: "/home/ada/.clientsshproxy/sshProxy_linux_amd64_1".into(),
            state: ProxyState::NotExecutable {
                mode: 0o644,
                owned,
                links,
            },
        };
        vec![
            (healthy(), &[], &[], &[]),
            (
                without_ssh(healthy()),
                &["client-binaries-missing"],
                &["install-openssh-client"],
                &[],
            ),
            (
                Facts {
                    host: host(Os::Linux, true),
                    ..without_ssh(healthy())
                },
                &["client-binaries-missing"],
                &["install-openssh-client"],
                &["install-openssh-client"],
            ),
            (
                Facts {
                    install: None,
                    ..without_ssh(healthy())
                },
                &["client-binaries-missing"],
                &["install-openssh-client"],
                &[],
            ),
            (
                Facts {
                    pwsh: None,
                    arcproxy: vec![],
                    ..healthy()
                },
                &["pwsh-missing", "arcproxy-not-installed"],
                &["install-pwsh", "install-arcproxy", "chmod-installed-proxy"],
                &[],
            ),
            (
                Facts {
                    arcproxy: vec![],
                    ..healthy()
                },
                &["arcproxy-not-installed"],
                &["install-arcproxy", "chmod-installed-proxy"],
                &["install-arcproxy", "chmod-installed-proxy"],
            ),
            (
                Facts {
                    arcproxy: vec![module("Az.Ssh.ArcProxy", Version(2, 0, 0))],
                    host: host(Os::Windows, false),
                    ..healthy()
                },
                &["ps-module-version-mismatch"],
                &["update-arcproxy"],
                &["update-arcproxy"],
            ),
            // Neither client nor a proxy: no path through Arc starts here.
            (
                Facts {
                    az_ssh: vec![],
                    arcproxy: vec![],
                    pwsh: None,
                    ..healthy()
                },
                &["arc-ssh-client-missing"],
                &["install-arc-ssh-client"],
                &[],
            ),
            // The Azure CLI's ssh extension is one.
            (
                Facts {
                    az_ssh: vec![],
                    arcproxy: vec![],
                    pwsh: None,
                    az_extension: crate::checks::az_ssh::Installed::Version("2.0.6".into()),
                    az: Some("az".into()),
                    ..healthy()
                },
                &[],
                &[],
                &[],
            ),
            (
                Facts {
                    proxies: vec![not_exec(true, 1)],
                    ..healthy()
                },
                &["proxy-not-executable"],
                &["chmod-proxy-"],
                &["chmod-proxy-"],
            ),
            (
                Facts {
                    proxies: vec![not_exec(false, 1)],
                    ..healthy()
                },
                &["proxy-not-executable"],
                &["chmod-proxy-"],
                &[],
            ),
            (
                Facts {
                    proxies: vec![not_exec(true, 2)],
                    ..healthy()
                },
                &["proxy-not-executable"],
                &["chmod-proxy-"],
                &[],
            ),
        ]
    }

    #[test]
    fn each_client_problem_from_hand_made_facts() {
        for (f, findings, steps, automatic) in cases() {
            let r = run(&f);
            let got: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(got, findings);
            let got: Vec<&Step> = r.steps.iter().collect();
            assert_eq!(got.len(), steps.len(), "{got:?}");
            for (s, want) in got.iter().zip(steps) {
                assert!(s.id.starts_with(want), "{} {want}", s.id);
                assert_eq!(
                    s.automatic,
                    automatic.iter().any(|a| s.id.starts_with(a)),
                    "{}",
                    s.id
                );
            }
        }
    }

    #[test]
    fn every_client_problem_is_in_the_catalogue_on_the_client_side() {
        for (name, _) in CHECKS {
            let p = crate::catalogue::get(name).unwrap();
            assert_eq!(p.side, crate::catalogue::Area::Client, "{name}");
        }
    }

    #[test]
    fn a_blocked_windows_proxy_gets_icacls_and_unblock_file_steps() {
        let h = Host {
            os: Os::Windows,
            arch: Arch::Amd64,
            home: PathBuf::from("C:\\Users\\ann"),
            vars: [("USERNAME".to_string(), "ann".to_string())]
                .into_iter()
                .collect(),
            privileged: false,
            uid: 0,
        };
        let file =
            PathBuf::from("C:\\Users\\ann\\.clientsshproxy\\sshProxy_windows_amd64_1_3_026973.exe");
        let mut r = Report::default();
        windows_blocked(&h, &file, true, Some(3), &mut r);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "proxy-not-executable");
        assert!(
            r.findings[0].evidence.contains("ACL"),
            "{:?}",
            r.findings[0]
        );
        assert!(
            r.findings[0].evidence.contains("zone 3"),
            "{:?}",
            r.findings[0]
        );
        let commands: Vec<&str> = r.steps.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "icacls \"C:\\Users\\ann\\.clientsshproxy\\sshProxy_windows_amd64_1_3_026973.exe\" /grant \"ann:(RX)\"",
                "Unblock-File -LiteralPath 'C:\\Users\\ann\\.clientsshproxy\\sshProxy_windows_amd64_1_3_026973.exe'",
            ]
        );
        assert!(
            r.steps
                .iter()
                .all(|s| !s.automatic && s.action == Action::Manual)
        );

        let mut r = Report::default();
        windows_blocked(&h, &file, false, Some(4), &mut r);
        assert_eq!(r.steps.len(), 1);
        assert!(r.steps[0].command.starts_with("Unblock-File "));
        assert!(!r.findings[0].evidence.contains("ACL"));
    }
}
