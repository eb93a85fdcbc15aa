//! A fluent builder that runs the real binary in a temporary sandbox.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_arcfix");

/// What arcfix shows when it waits for a person to type: apply's question,
/// explain's request for text. `in_terminal` types once one shows.
const PROMPTS: &[&str] = &["[y/N]", "Paste the error message"];

/// System tools the fake scripts may use; nothing else of the host's PATH
/// (in particular not its ssh) is visible to arcfix.
const SYSTEM_TOOLS: &[&str] = &[
    "sh", "mkdir", "cat", "chmod", "touch", "date", "cp", "rm", "ln", "env", "printf", "sleep",
    "dirname",
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "bin", "sys", "known", "modules/user", "modules/all"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for tool in SYSTEM_TOOLS {
            let found = ["/bin", "/usr/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists());
            if let Some(p) = found {
                std::os::unix::fs::symlink(p, dir.path().join("sys").join(tool)).unwrap();
            }
        }
        Sandbox { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Writes an executable script into the sandbox's PATH.
    pub fn fake(&self, name: &str, body: &str) -> &Self {
        self.write_exec(
            &format!("bin/{name}"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> \"{}\"\n{body}\n",
                self.path("calls.log").display()
            ),
        );
        self
    }

    pub fn write_exec(&self, rel: &str, text: &str) {
        self.write(rel, text);
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every call the fake programs recorded.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.path("calls.log")).unwrap_or_default()
    }

    /// Lays out an installed module the way PowerShellGet does.
    pub fn module(&self, scope: &str, name: &str, version: &str) {
        self.write(
            &format!("modules/{scope}/{name}/{version}/{name}.psd1"),
            &format!("\u{feff}@{{\n    RootModule = '{name}.psm1'\n    ModuleVersion = '{version}'\n    GUID = '00000000-0000-0000-0000-000000000000'\n}}\n"),
        );
    }

    /// An Az.Ssh.ArcProxy version with its proxy files, not executable (as the gallery extracts them).
    pub fn arcproxy(&self, scope: &str, version: &str) -> String {
        self.module(scope, "Az.Ssh.ArcProxy", version);
        let mut linux = String::new();
        for f in [
            "sshProxy_linux_amd64_1.3.022941",
            "sshProxy_linux_386_1.3.022941",
            "sshProxy_darwin_amd64_1.3.022941",
            "sshProxy_windows_amd64_1.3.022941.exe",
        ] {
            let rel = format!("modules/{scope}/Az.Ssh.ArcProxy/{version}/{f}");
            self.write(&rel, "#!/bin/sh\nexit 0\n");
            self.chmod(&rel, 0o644);
            if f.starts_with("sshProxy_linux_amd64") {
                linux = rel;
            }
        }
        linux
    }

    /// The Azure CLI's ssh extension `version`, where the CLI keeps it in HOME
    /// (a client that can reach Arc machines, as most users have).
    pub fn az_ssh_extension(&self, version: &str) {
        self.write(
            &format!("home/.azure/cliextensions/ssh/ssh-{version}.dist-info/METADATA"),
            &format!("Metadata-Version: 2.1\nName: ssh\nVersion: {version}\n"),
        );
    }

    /// ssh and ssh-keygen in a folder of the sandbox.
    pub fn ssh_client(&self, rel_dir: &str) {
        for p in ["ssh", "ssh-keygen"] {
            self.write_exec(&format!("{rel_dir}/{p}"), "#!/bin/sh\nexit 0\n");
        }
    }

    /// A fake pwsh that records its calls and, for Install-Module/Update-Module,
    /// lays out Az.Ssh.ArcProxy 1.0.0 in the CurrentUser folder like the real one.
    pub fn fake_pwsh(&self) {
        self.fake_pwsh_after("");
    }

    /// As `fake_pwsh`, running `first` (e.g. a `sleep`) before it acts.
    pub fn fake_pwsh_after(&self, first: &str) {
        let dest = self.path("modules/user/Az.Ssh.ArcProxy/1.0.0");
        let body = format!(
            r#"{first}
case "$*" in
  *Install-Module*Az.Ssh.ArcProxy*)
    mkdir -p "{d}"
    printf "@{{\n  ModuleVersion = '1.0.0'\n}}\n" > "{d}/Az.Ssh.ArcProxy.psd1"
    for f in sshProxy_linux_amd64_1.3.022941 sshProxy_windows_amd64_1.3.022941.exe; do printf '#!/bin/sh\n' > "{d}/$f"; chmod 644 "{d}/$f"; done
    ;;
esac
exit 0"#,
            d = dest.display(),
            first = first
        );
        self.fake("pwsh", &body);
    }

    pub fn cmd(&self) -> Run<'_> {
        Run {
            sandbox: self,
            args: vec![],
            env: vec![],
            stdin: None,
            natural_width: false,
        }
    }
}

pub struct Run<'a> {
    sandbox: &'a Sandbox,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    /// Without `COLUMNS`: the width arcfix chooses itself.
    natural_width: bool,
}

/// `COLUMNS` for every run unless a test asks for the natural width:
/// reports unfolded, so that tests find a phrase whole wherever it falls.
/// The width itself is tested in tests/fits.rs.
pub const UNFOLDED: &str = "1000";

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// The steps of a JSON plan.
    pub fn steps(&self) -> Vec<serde_json::Value> {
        self.json()["steps"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no steps: {self:?}"))
    }
    /// Machine names and statuses of a JSON document, sorted.
    pub fn machine_statuses(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.json()["machines"]
            .as_array()
            .unwrap_or_else(|| panic!("no machines: {self:?}"))
            .iter()
            .map(|m| {
                let id = m["id"].as_str().unwrap();
                (
                    id.rsplit('/').next().unwrap().to_string(),
                    m["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }
    /// Ids of the findings in a JSON document.
    pub fn finding_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl<'a> Run<'a> {
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Without `COLUMNS`: arcfix folds to the terminal's width, or 80.
    pub fn natural_width(mut self) -> Self {
        self.natural_width = true;
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }
    /// The command, with the sandbox's environment, not yet started.
    pub fn command(&self) -> Command {
        let s = self.sandbox;
        let mut c = Command::new(BIN);
        c.env_clear()
            .current_dir(s.dir.path())
            .env("HOME", s.home())
            .env(
                "PATH",
                format!("{}:{}", s.path("bin").display(), s.path("sys").display()),
            )
            .env(
                "PSModulePath",
                format!(
                    "{}:{}",
                    s.path("modules/user").display(),
                    s.path("modules/all").display()
                ),
            )
            .env("ARCFIX_SSH_SEARCH_PATH", s.path("known"))
            .env("ARCFIX_PRIVILEGE", "user")
            .env("NO_COLOR", "1")
            .env("COLUMNS", UNFOLDED)
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if self.natural_width {
            c.env_remove("COLUMNS");
        }
        c
    }

    /// Runs arcfix on a terminal (script(1)) and types `keys` into it, for the
    /// confirmation prompt. `None` when script(1) is not installed.
    pub fn in_terminal(self, keys: &str) -> Option<Output> {
        self.in_terminal_then(keys, "")
    }

    /// As `in_terminal`, with `redirect` after the command inside the terminal
    /// (e.g. `2>&1 | cat > log`: output piped, input still the terminal).
    pub fn in_terminal_then(self, keys: &str, redirect: &str) -> Option<Output> {
        self.in_terminal_with("", "", keys, redirect)
    }

    /// As `in_terminal_then`, with `early` typed at once, before any question
    /// shows (keys typed ahead while arcfix checks).
    pub fn in_terminal_typing(self, early: &str, keys: &str, redirect: &str) -> Option<Output> {
        self.in_terminal_with("", early, keys, redirect)
    }

    /// As `in_terminal`, on a terminal `cols` columns wide (`stty cols`).
    /// `None` when script(1) or stty(1) is not installed.
    pub fn in_terminal_of_width(self, cols: u16, keys: &str) -> Option<Output> {
        let stty = terminal_tool(&["/usr/bin/stty", "/bin/stty"])?;
        self.natural_width().in_terminal_with(
            &format!("{stty} cols {cols} rows 50 && "),
            "",
            keys,
            "",
        )
    }

    /// arcfix on a terminal, after `before` (a shell command and `&&`),
    /// with `early` typed at once and `keys` once a question shows.
    fn in_terminal_with(
        self,
        before: &str,
        early: &str,
        keys: &str,
        redirect: &str,
    ) -> Option<Output> {
        let script = terminal_tool(&["/usr/bin/script", "/bin/script"])?;
        let inner = std::iter::once(format!("{before}{BIN}"))
            .chain(self.args.iter().map(|a| format!("'{a}'")))
            .chain((!redirect.is_empty()).then(|| redirect.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut shown = Command::new(script);
        shown.args(["-qec", &inner, "/dev/null"]).env_clear();
        // The same environment as `command()` gives arcfix.
        for (k, v) in self.command().get_envs() {
            if let Some(v) = v {
                shown.env(k, v);
            }
        }
        shown
            .current_dir(self.sandbox.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = shown.spawn().ok()?;
        let mut stdin = child.stdin.take().unwrap();
        // The terminal's output as it comes: the keys are typed once the
        // question shows (arcfix discards what is typed before it).
        let shown_so_far = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let reader = {
            let mut stdout = child.stdout.take().unwrap();
            let sink = shown_so_far.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let _ = stdin.write_all(early.as_bytes());
        let keys = keys.to_string();
        let asked = move |so_far: &[u8]| {
            let text = String::from_utf8_lossy(so_far);
            PROMPTS.iter().any(|p| text.contains(p))
        };
        let typist = {
            let sink = shown_so_far.clone();
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_secs(60) {
                    if asked(&sink.lock().unwrap()) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                // A moment for the terminal to be read from after the question.
                std::thread::sleep(std::time::Duration::from_millis(200));
                let _ = stdin.write_all(keys.as_bytes());
            })
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let status = child.wait().unwrap();
        let _ = reader.join();
        drop(typist);
        let stdout = String::from_utf8_lossy(&shown_so_far.lock().unwrap()).into_owned();
        Some(Output {
            status: status.code().unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    pub fn run(self) -> Output {
        let mut child = self.command().spawn().expect("arcfix runs");
        if let Some(input) = self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let out = child.wait_with_output().unwrap();
        let output = Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !output.stderr.contains("panicked"),
            "arcfix panicked: {output:?}"
        );
        output
    }
}

/// The first of `paths` that exists: script(1) or stty(1), which the
/// terminal tests need. `None` skips such a test, unless
/// ARCFIX_NEED_TERMINAL is set (CI installs them): then it fails.
fn terminal_tool(paths: &[&'static str]) -> Option<&'static str> {
    let found = paths.iter().copied().find(|p| Path::new(p).exists());
    if found.is_none() && std::env::var_os("ARCFIX_NEED_TERMINAL").is_some() {
        panic!(
            "{} is not installed, and ARCFIX_NEED_TERMINAL says the terminal tests must run",
            paths[0]
        );
    }
    found
}
