fn main() {
    few_malloc_arenas();
    std::process::exit(arcfix::run(std::env::args_os()));
}

/// glibc gives threads that allocate at the same time arenas of their own
/// (up to eight per core), and a fleet's report, built while responses come
/// and go on every worker, leaves them half empty: a 100,000-machine run
/// held twice the memory it used. Two arenas, unless `MALLOC_ARENA_MAX`
/// says otherwise.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn few_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first in main, before any other thread starts;
        // mallopt only tunes the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn few_malloc_arenas() {}
