//! The journal of changes: every step `apply` performs (applied or failed) is
//! appended as one JSON line, with who did it and what undoing it would take.
//! No secrets; mode 0600; a journal that cannot be written is a warning,
//! never a lost apply.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::os::{Host, Os};
use crate::plan::{Status, Step};

/// Where the journal goes: `$XDG_STATE_HOME/arcfix/journal.jsonl` (else
/// `~/.local/state/…`); on Windows `%LOCALAPPDATA%\arcfix\journal.jsonl`.
pub fn default_path(host: &Host) -> Option<PathBuf> {
    let base = match host.os {
        Os::Windows => PathBuf::from(host.var("LOCALAPPDATA").filter(|v| !v.is_empty())?),
        _ => match host
            .var("XDG_STATE_HOME")
            .filter(|v| Path::new(v).is_absolute())
        {
            Some(v) => PathBuf::from(v),
            None => host.home_path(&[".local", "state"]),
        },
    };
    Some(base.join("arcfix").join("journal.jsonl"))
}

/// What the journal on this machine says of the provider registrations
/// arcfix applied and the agent restarts it applied: read once a run, to
/// tell whether an agent restart may still be owed after a registration.
#[derive(Debug, Default)]
pub struct History {
    /// Subscription (lower case) → the time of its last registration.
    registered: std::collections::HashMap<String, String>,
    /// Machine id (case folded) → the time of its last agent restart.
    restarted: std::collections::HashMap<String, String>,
    /// The journal is there but could not be read: what it says is unknown.
    pub unread: Option<String>,
}

impl History {
    /// The journal at `path`; an absent or unreadable one says nothing.
    pub fn read(path: Option<&Path>) -> History {
        let mut h = History::default();
        let Some(path) = path else {
            return h;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // No journal: arcfix applied nothing on this machine.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return h,
            // Could not read is not "nothing there".
            Err(e) => {
                h.unread = Some(format!("{}: {e}", path.display()));
                return h;
            }
        };
        let register = crate::plan::StepKind::RegisterProvider.name();
        let restart = crate::plan::StepKind::RestartAgent.name();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
            if field("result") != "applied" {
                continue;
            }
            let (step, time) = (field("step"), field("time").to_string());
            // Only targets that parse: a line edited by hand steers nothing.
            match crate::plan::Target::parse(field("target")) {
                Ok(crate::plan::Target::Subscription(sub)) if step.starts_with(&register) => {
                    h.registered.insert(sub.to_string(), time);
                }
                Ok(crate::plan::Target::Machine(m)) if step.starts_with(&restart) => {
                    h.restarted.insert(m.key(), time);
                }
                _ => {}
            }
        }
        h
    }

    /// arcfix registered the provider of `machine`'s subscription, and no
    /// agent restart of `machine` was applied after it; `None` when the
    /// journal could not be read.
    pub fn restart_owed(&self, machine: &crate::target::MachineId) -> Option<bool> {
        if self.unread.is_some() {
            return None;
        }
        Some(self.owed(machine))
    }

    fn owed(&self, machine: &crate::target::MachineId) -> bool {
        let Some(registered) = self
            .registered
            .get(&machine.subscription.to_ascii_lowercase())
        else {
            return false;
        };
        // RFC 3339 times in UTC, as `record` writes them, order as text.
        self.restarted
            .get(&machine.key())
            .is_none_or(|restarted| restarted < registered)
    }
}

/// Who made the change.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub name: String,
    pub object_id: Option<String>,
}

/// The journal file of this run.
#[derive(Debug, Clone)]
pub struct Journal {
    pub path: PathBuf,
    /// A line was appended by this run (shared by its clones).
    written: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Journal {
    /// The journal at `path`, refused before anything changes when the path
    /// holds something other than a regular file: a FIFO would stop apply at
    /// its first record until something reads it, a device or a directory
    /// can never hold one. A path that does not exist yet is fine; one that
    /// cannot be reached is found so when written (a warning, as for any
    /// journal that cannot be written).
    pub fn checked(path: PathBuf) -> crate::error::Result<Journal> {
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && let Some(what) = not_a_file(&meta.file_type())
        {
            return Err(crate::error::Error::input(format!(
                "the journal {} is {what}, not a regular file: give --journal a file, or --no-journal",
                crate::text::sanitize(&path.display().to_string())
            )));
        }
        Ok(Journal {
            path,
            written: Default::default(),
        })
    }

    /// Whether this run appended a line to it: the apply said where.
    pub fn written(&self) -> bool {
        self.written.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Appends one line for a performed step; a failure is returned for a warning.
    pub fn record(&self, step: &Step, who: &Who) -> std::result::Result<(), String> {
        if !matches!(step.status, Status::Applied | Status::Failed) {
            return Ok(());
        }
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let line = json!({
            "time": time,
            "arcfix_version": env!("CARGO_PKG_VERSION"),
            "who": {"name": who.name, "object_id": who.object_id},
            "target": step.target,
            "step": step.id,
            "action": step.description,
            "result": match step.status { Status::Applied => "applied", _ => "failed" },
            "error": step.error,
            // Declared by the check that planned the step, with the values it replaced.
            "undo": step.undo.as_deref().unwrap_or("none recorded"),
        });
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        append_private(&self.path, format!("{line}\n").as_bytes()).map_err(|e| e.to_string())?;
        self.written
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// What a file type is, when it is not a regular file.
fn not_a_file(t: &std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    if t.is_dir() {
        Some("a directory")
    } else if t.is_symlink() {
        Some("a symbolic link (arcfix does not follow links for its journal)")
    } else if t.is_file() {
        None
    } else {
        Some("not a regular file")
    }
}

#[cfg(unix)]
fn append_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        // A link at the journal's path is refused, not followed; a FIFO put
        // there since the start never blocks the open.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    // Checked on the descriptor itself: whatever is at the path now.
    if let Some(what) = not_a_file(&f.metadata()?.file_type()) {
        return Err(std::io::Error::other(format!(
            "it is {what}, not a regular file"
        )));
    }
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn append_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_owes_a_restart_until_one_is_applied_after_it() {
        const SUB: &str = "3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
        let machine = |name: &str| {
            crate::target::MachineId::parse(&format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}"
            ))
            .unwrap()
        };
        let line = |time: &str, target: &str, step: &str, result: &str| {
            format!(
                r#"{{"time":"{time}","target":"{target}","step":"{step}","result":"{result}"}}"#
            )
        };
        let web = machine("web-01").to_string();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let write = |lines: &[String]| std::fs::write(&path, lines.join("\n")).unwrap();
        let owed = |name: &str| {
            History::read(Some(&path))
                .restart_owed(&machine(name))
                .unwrap()
        };
        // No journal, or no registration in it: nothing owed.
        assert_eq!(
            History::read(None).restart_owed(&machine("web-01")),
            Some(false)
        );
        let absent = History::read(Some(&dir.path().join("none")));
        assert_eq!(absent.restart_owed(&machine("web-01")), Some(false));
        // A journal that cannot be read (here a folder): unknown, not "none".
        let unread = History::read(Some(dir.path()));
        assert!(unread.unread.is_some());
        assert_eq!(unread.restart_owed(&machine("web-01")), None);
        write(&[line(
            "2026-12-01T10:00:00Z",
            &web,
            "restart-hybrid-agent-web-01",
            "applied",
        )]);
        assert!(!owed("web-01"));
        // Registered by arcfix: owed on every machine of the subscription ...
        let registered = line(
            "2026-12-01T11:00:00Z",
            &format!("/subscriptions/{}", SUB.to_uppercase()),
            "register-hybridconnectivity",
            "applied",
        );
        write(&[
            line(
                "2026-12-01T10:00:00Z",
                &web,
                "restart-hybrid-agent-web-01",
                "applied",
            ),
            registered.clone(),
        ]);
        assert!(owed("web-01") && owed("db-01"));
        // ... until a restart is applied after it (a failed one does not count).
        write(&[
            registered.clone(),
            line(
                "2026-12-01T12:00:00Z",
                &web.to_uppercase(),
                "restart-hybrid-agent-web-01",
                "failed",
            ),
            "not json".to_string(),
            line(
                "2026-12-01T12:00:00Z",
                "../../etc",
                "restart-hybrid-agent-web-01",
                "applied",
            ),
        ]);
        assert!(owed("web-01"));
        write(&[
            registered,
            line(
                "2026-12-01T12:00:00Z",
                &web.to_uppercase(),
                "restart-hybrid-agent-web-01",
                "applied",
            ),
        ]);
        assert!(!owed("web-01"));
        assert!(owed("db-01"));
    }

    fn host(os: Os, vars: &[(&str, &str)]) -> Host {
        let home = if os == Os::Windows {
            "C:\\Users\\a"
        } else {
            "/home/a"
        };
        Host::fake(os, home, vars)
    }

    #[test]
    fn the_journal_lives_in_the_state_folder_of_each_os() {
        // Compared by components: the host running the test joins with its own separator.
        let parts = |p: PathBuf| -> Vec<String> {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .filter(|c| c != "/" && c != "\\")
                .collect()
        };
        let state = ["home", "a", ".local", "state", "arcfix", "journal.jsonl"];
        assert_eq!(parts(default_path(&host(Os::Linux, &[])).unwrap()), state);
        if cfg!(unix) {
            assert_eq!(
                parts(default_path(&host(Os::Linux, &[("XDG_STATE_HOME", "/s")])).unwrap()),
                ["s", "arcfix", "journal.jsonl"]
            );
        }
        // A relative XDG path is ignored, as the spec says.
        assert_eq!(
            parts(default_path(&host(Os::Macos, &[("XDG_STATE_HOME", "rel")])).unwrap()),
            state
        );
        let w = default_path(&host(
            Os::Windows,
            &[("LOCALAPPDATA", "C:\\Users\\a\\AppData\\Local")],
        ))
        .unwrap();
        assert!(w.starts_with("C:\\Users\\a\\AppData\\Local"), "{w:?}");
        assert!(default_path(&host(Os::Windows, &[])).is_none());
    }

    #[test]
    fn a_journal_knows_whether_this_run_wrote_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::checked(dir.path().join("j.jsonl")).unwrap();
        let mut step: Step = serde_json::from_value(json!({
            "id": "s", "fixes": [], "target": "local", "description": "d", "command": "c",
            "automatic": true, "precondition": "-", "verification": "-",
            "check": {"kind": "restarted"}, "action": {"kind": "manual"}, "status": "already-satisfied",
        }))
        .unwrap();
        let who = Who::default();
        // Not performed: nothing written, nothing to say.
        journal.record(&step, &who).unwrap();
        assert!(!journal.written() && !journal.path.exists());
        step.status = Status::Applied;
        journal.clone().record(&step, &who).unwrap();
        assert!(journal.written(), "a clone's line counts");
    }
}
