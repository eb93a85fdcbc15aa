//! Ctrl-C, once for the whole process. During an apply (`Graceful`) it only
//! raises a flag: the waits under way are abandoned and the report follows.
//! Anywhere else it stops the run at once, but first kills every process
//! group and removes every folder a connection probe holds (`Held`), so that
//! no ssh or proxy outlives arcfix with relay credentials in its environment.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RAISED: AtomicBool = AtomicBool::new(false);
static RAISED_NOTIFY: tokio::sync::Notify = tokio::sync::Notify::const_new();
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);
static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

/// What a probe holds while it runs: removed on Ctrl-C even when the run
/// stops at once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    Group(u32),
    Folder(PathBuf),
}

/// Starts listening for Ctrl-C (once; later calls do nothing). Until it is
/// called, Ctrl-C keeps its default effect.
pub fn watch() {
    if WATCHING.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            raise();
            if GRACEFUL.load(Ordering::SeqCst) == 0 {
                stop_now();
            }
        }
    });
}

/// Marks the run interrupted and wakes whatever waits in `raised`.
pub fn raise() {
    RAISED.store(true, Ordering::SeqCst);
    RAISED_NOTIFY.notify_waiters();
}

/// Whether Ctrl-C was pressed.
pub fn is_raised() -> bool {
    RAISED.load(Ordering::SeqCst)
}

/// Resolves once Ctrl-C was pressed (at once if it already was).
pub async fn raised() {
    loop {
        let notified = RAISED_NOTIFY.notified();
        if is_raised() {
            return;
        }
        notified.await;
    }
}

/// While one lives, Ctrl-C only raises the flag (an apply reports, then ends).
pub struct Graceful(());

impl Graceful {
    pub fn new() -> Graceful {
        GRACEFUL.fetch_add(1, Ordering::SeqCst);
        Graceful(())
    }
}

impl Default for Graceful {
    fn default() -> Self {
        Graceful::new()
    }
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A process group or folder registered for removal on Ctrl-C; dropping it
/// unregisters it (its owner cleans up on the ordinary way out).
pub struct Hold(Held);

impl Hold {
    /// Registers a folder to remove if the run stops.
    pub fn folder(path: PathBuf) -> Hold {
        let held = Held::Folder(path);
        lock().push(held.clone());
        Hold(held)
    }

    /// Starts a child in its own process group, registered under the same
    /// lock a stop takes: a child is either killed by it or never started.
    pub fn spawn(
        cmd: &mut tokio::process::Command,
    ) -> std::io::Result<(tokio::process::Child, Option<Hold>)> {
        crate::os::own_process_group(cmd);
        let mut held = lock();
        let child = cmd.spawn()?;
        let hold = child.id().map(|pid| {
            held.push(Held::Group(pid));
            Hold(Held::Group(pid))
        });
        Ok((child, hold))
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = lock();
        if let Some(i) = held.iter().position(|h| *h == self.0) {
            held.remove(i);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills every held process group, removes every held folder, says so and
/// exits 130. The lock stays taken: nothing new starts on the way out.
fn stop_now() -> ! {
    use std::io::Write;
    let held = lock();
    for h in held.iter() {
        match h {
            Held::Group(pid) => crate::os::kill_process_group(*pid),
            Held::Folder(p) => {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
    let probes = held.iter().any(|h| matches!(h, Held::Group(_)));
    let _ = writeln!(
        std::io::stderr(),
        "arcfix: interrupted (Ctrl-C){}",
        if probes {
            ": the connection probe's ssh and proxy were stopped and its temporary folder removed"
        } else {
            ""
        }
    );
    std::process::exit(crate::error::ExitCode::Interrupted.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_registered_while_it_lives() {
        let path = PathBuf::from("/nonexistent/arcfix-probe-test-hold");
        let held = || lock().contains(&Held::Folder(path.clone()));
        let hold = Hold::folder(path.clone());
        assert!(held());
        drop(hold);
        assert!(
            !held(),
            "dropped: its owner removes it on the ordinary way out"
        );
    }
}
