//! Fleet mode at the speed ARM allows (issue 8, point 5): the real release
//! binary, as a child process with a fake `az` on PATH handing out the
//! simulator's token, against the simulator started in-process with a
//! generated fleet.
//!
//! (a) 1,000 machines under ARM's read bucket (250 burst, 25 per second):
//!     wall time / the bound the bucket sets, `(reads − 250) / 25` s (goal
//!     ≤ 1.1), reads per machine, 429s received.
//! (b) the same 1,000 machines, 100 ms latency, no bucket (the client's own
//!     pacing scaled out of the way, `ARCFIX_PACE_SCALE`): wall time against
//!     the serial sum of latencies.
//! (c) 10,000 and 100,000 machines, no bucket: peak RSS of arcfix (goal
//!     < 250 MB at 100,000, growing sub-linearly past 10,000), time to its
//!     scope line (its first output line; goal ≤ 5 s), wall time.
//!
//! (d) 40,000 distinct ids in `--ids-from`: the time to read and deduplicate
//!     them (only the client side checked).
//!
//! (e) one subscription of 500 machines against ten of 500 each, under ARM's
//!     read bucket (one per subscription): the ratio of their wall times
//!     (goal ≤ 1.3).
//!
//! (o) one machine at 100 ms a request: the release process's wall time
//!     against the summed latencies (goal ≤ 0.45) and its round trips.
//!
//! (p) 600 machines under a read bucket that refills faster than ARM
//!     documents (250 burst, 50 per second): the client learns the refill
//!     from the remaining-quota headers. Wall / `(reads − 250) / 50` (goal
//!     ≤ 1.1), 429 share (goal < 2%).
//! (q) the same at 1,000 machines.
//! (r) 1,000 machines answered by two of ARM's regional instances in turn,
//!     each with a bucket of 250 + 25/s (the remaining count alternates
//!     between two sequences): wall / `(reads − 500) / 50`, 429 share.
//!
//! Run with `cargo bench --bench fleet` (peak RSS from wait4, on Linux and
//! macOS). `ARCFIX_BENCH_ONLY=a,b,c,d,e,o,p,q,r` picks some;
//! `ARCFIX_BENCH_MACHINES=30000,…` gives (c) other sizes; `ARCFIX_BENCH_BIN`
//! measures another build of arcfix (a before and after);
//! `ARCFIX_BENCH_VERBOSE=1` prints (p), (q), (r)'s reads per second and the
//! rates arcfix learned (its debug log).

#[cfg(unix)]
fn main() {
    // The bench's own binary, started again, starts arcfix and waits for
    // it: see `bench::peak_rss_of`.
    if let Some(to) = std::env::var_os(bench::RSS_TO) {
        bench::peak_rss_of(to.into());
    }
    bench::main();
}

#[cfg(not(unix))]
fn main() {
    println!("benches/fleet.rs runs on Unix only (a shell-script fake az, wait4)");
}

#[cfg(unix)]
mod bench {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use arcfix::checks::fleet::thousands;
    use arcfix::sim::{BucketSpec, Knobs, Scenario, Sim};

    const BIN: &str = env!("CARGO_BIN_EXE_arcfix");

    /// The binary measured: `ARCFIX_BENCH_BIN` (another build, for a before
    /// and after on the same bench), else the one cargo built with it.
    fn arcfix_bin() -> String {
        std::env::var("ARCFIX_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
    }

    /// The command for a whole fleet: the one place to change when the target
    /// options change (repeatable `--subscription`, `--tag`, `--ids-from`).
    fn fleet_args(scenario: &Scenario) -> Vec<String> {
        let mut args: Vec<String> = vec!["check".into()];
        for s in &scenario.subscriptions {
            args.extend(["--subscription".into(), s.id.clone()]);
        }
        args.extend(["--checks", "azure", "-o", "json"].map(String::from));
        args
    }

    struct Run {
        wall: Duration,
        first_line: Option<Duration>,
        /// Peak resident set, KiB (wait4's ru_maxrss).
        max_rss_kib: Option<i64>,
        status: i32,
        stdout_bytes: usize,
        stderr_tail: String,
    }

    /// Runs arcfix on the whole fleet of `sim` with a fake `az` first on PATH.
    fn run_arcfix(sim: &Sim, extra_env: &[(&str, &str)]) -> Run {
        run_arcfix_with(sim, &fleet_args(sim.scenario()), extra_env)
    }

    /// Runs arcfix with `args` against `sim` with a fake `az` first on PATH.
    fn run_arcfix_with(sim: &Sim, args: &[String], extra_env: &[(&str, &str)]) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let az = bin.join("az");
        std::fs::write(
            &az,
            format!(
                "#!/bin/sh\nexp=$(( $(date +%s) + 3600 ))\nprintf '{{\"accessToken\":\"{}\",\"expiresOn\":\"x\",\"expires_on\":%s,\"subscription\":\"s\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}}' $exp\n",
                sim.caller_token()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let rss_file = dir.path().join("peak-rss");
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.arg(arcfix_bin())
            .env_clear()
            .env(RSS_TO, &rss_file)
            .current_dir(dir.path())
            .env("HOME", &home)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("ARCFIX_ARM_ENDPOINT", sim.base_url())
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        if std::env::var_os("ARCFIX_BENCH_VERBOSE").is_some() {
            cmd.env("ARCFIX_LOG", "arcfix::azure::pace=debug");
        }
        let start = Instant::now();
        // Reaped by wait4 below (arcfix's peak RSS comes from `peak_rss_of`).
        #[allow(clippy::zombie_processes)]
        let mut child = cmd.spawn().expect("arcfix starts");
        let pid = child.id() as libc::pid_t;
        let first = Arc::new(Mutex::new(None::<Duration>));
        let verbose = std::env::var_os("ARCFIX_BENCH_VERBOSE").is_some();
        let reader = |stream: Box<dyn std::io::Read + Send>, keep_tail: bool| {
            let first = first.clone();
            std::thread::spawn(move || {
                let mut bytes = 0usize;
                let mut tail = String::new();
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    first.lock().unwrap().get_or_insert_with(|| start.elapsed());
                    bytes += line.len() + 1;
                    if keep_tail && verbose && line.contains("pace:") {
                        println!("  arcfix: {line}");
                    }
                    if keep_tail {
                        tail = line;
                    }
                }
                (bytes, tail)
            })
        };
        let out = reader(Box::new(child.stdout.take().unwrap()), false);
        let err = reader(Box::new(child.stderr.take().unwrap()), true);
        let (status, _) = wait4(pid);
        let wall = start.elapsed();
        let max_rss_kib = std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let (stdout_bytes, _) = out.join().unwrap();
        let (_, stderr_tail) = err.join().unwrap();
        let first_line = *first.lock().unwrap();
        Run {
            wall,
            first_line,
            max_rss_kib,
            status,
            stdout_bytes,
            stderr_tail,
        }
    }

    /// The variable that makes the bench's binary `peak_rss_of` instead.
    pub const RSS_TO: &str = "ARCFIX_BENCH_RSS_TO";

    /// Runs the command of its arguments (arcfix and its arguments), with
    /// this process's standard streams and environment (less `RSS_TO`),
    /// writes its peak RSS (KiB) to `to` and exits with its status. A child
    /// starts with the peak of the process it was forked from (Linux keeps
    /// the larger across fork and exec): forked from the bench, which holds
    /// the simulator's 100,000 machines, arcfix's own figure would be lost.
    /// This small process in between keeps it.
    pub fn peak_rss_of(to: std::path::PathBuf) -> ! {
        let mut args = std::env::args_os().skip(1);
        let program = args.next().expect("a program to run");
        let child = Command::new(program)
            .args(args)
            .env_remove(RSS_TO)
            .spawn()
            .expect("arcfix starts");
        let (status, kib) = wait4(child.id() as libc::pid_t);
        if let Some(kib) = kib {
            std::fs::write(to, kib.to_string()).unwrap();
        }
        std::process::exit(status)
    }

    /// Reaps the child and reads its peak RSS (Linux and macOS: ru_maxrss).
    fn wait4(pid: libc::pid_t) -> (i32, Option<i64>) {
        let mut status: libc::c_int = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped; both pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r != pid {
            return (-1, None);
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let kib = if cfg!(target_os = "macos") {
            usage.ru_maxrss / 1024
        } else {
            usage.ru_maxrss
        };
        (code, Some(kib as i64))
    }

    struct Counts {
        requests: usize,
        reads: usize,
        throttled: usize,
    }

    fn counts(sim: &Sim) -> Counts {
        let log = sim.requests();
        Counts {
            requests: log.len(),
            reads: log
                .iter()
                .filter(|r| !r.is_write() && r.status != 429)
                .count(),
            throttled: log.iter().filter(|r| r.status == 429).count(),
        }
    }

    fn checked(name: &str, run: &Run) {
        // 2: problems found (the generated fleet has some); anything else is a failed run.
        if run.status != 2 {
            println!(
                "{name}: arcfix exited {} (expected 2): {}",
                run.status, run.stderr_tail
            );
        }
    }

    pub fn main() {
        let only =
            std::env::var("ARCFIX_BENCH_ONLY").unwrap_or_else(|_| "a,b,c,d,e,o,p,q,r".into());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();

        if only.contains('a') || only.contains('b') {
            let sim = rt
                .block_on(Sim::start(Scenario::generated(1_000, 1)))
                .unwrap();
            if only.contains('a') {
                sim.set_knobs(Knobs {
                    bucket: Some(BucketSpec::ARM),
                    ..Knobs::default()
                });
                sim.clear_log();
                let run = run_arcfix(&sim, &[]);
                checked("(a)", &run);
                let c = counts(&sim);
                let bound = (c.reads.saturating_sub(250)) as f64 / 25.0;
                println!(
                    "(a) 1,000 machines, ARM read bucket 250 + 25/s: wall {:.1} s / bound (reads − 250) / 25 = {:.1} s → ratio {:.2} (goal ≤ 1.1)",
                    run.wall.as_secs_f64(),
                    bound,
                    run.wall.as_secs_f64() / bound.max(f64::MIN_POSITIVE)
                );
                println!(
                    "(a) reads per machine: {:.2} ({} reads, {} requests in all)",
                    c.reads as f64 / 1_000.0,
                    c.reads,
                    c.requests
                );
                println!(
                    "(a) 429s received: {} ({:.2}% of requests)",
                    c.throttled,
                    100.0 * c.throttled as f64 / c.requests.max(1) as f64
                );
            }
            if only.contains('b') {
                sim.set_knobs(Knobs {
                    bucket: Some(BucketSpec::unlimited()),
                    latency_ms: 100,
                    ..Knobs::default()
                });
                sim.clear_log();
                let run = run_arcfix(&sim, &[("ARCFIX_PACE_SCALE", "10000")]);
                checked("(b)", &run);
                let c = counts(&sim);
                let serial = c.requests as f64 * 0.1;
                println!(
                    "(b) 1,000 machines, 100 ms latency, no bucket: wall {:.1} s vs serial sum of latencies {:.1} s ({} requests) → ratio {:.3}",
                    run.wall.as_secs_f64(),
                    serial,
                    c.requests,
                    run.wall.as_secs_f64() / serial
                );
            }
            rt.block_on(sim.shutdown());
        }

        if only.contains('c') {
            // `ARCFIX_BENCH_MACHINES=30000,…` measures other sizes.
            let sizes: Vec<usize> = match std::env::var("ARCFIX_BENCH_MACHINES") {
                Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
                Err(_) => vec![10_000, 100_000],
            };
            for n in sizes {
                println!("{}", rss_case(&rt, n));
            }
        }

        if only.contains('e') {
            println!("{}", subscriptions_case(&rt));
        }

        if only.contains('o') {
            println!("{}", one_machine(&rt));
        }

        if only.contains('d') {
            println!("{}", ids_from_40k());
        }
        paced_by_the_server(&rt, &only);
    }

    /// (o) one machine of the `demo` scenario, every answer after 100 ms:
    /// the process's wall time against the sum of its requests' latencies
    /// (goal ≤ 0.45), and its round trips (requests that arrived more than
    /// half a latency after the one before began another).
    fn one_machine(rt: &tokio::runtime::Runtime) -> String {
        const LATENCY_MS: u64 = 100;
        let sim = rt
            .block_on(Sim::start(Scenario::builtin("demo").unwrap()))
            .unwrap();
        sim.set_knobs(Knobs {
            latency_ms: LATENCY_MS,
            ..Knobs::default()
        });
        let id = sim.scenario().machine_ids()[0].clone();
        let args: Vec<String> = ["check", "--id", &id, "--checks", "azure", "-o", "json"]
            .map(String::from)
            .to_vec();
        sim.clear_log();
        let run = run_arcfix_with(&sim, &args, &[]);
        checked("(o)", &run);
        let log = sim.requests();
        let waves = sim.round_trips(Duration::from_millis(LATENCY_MS));
        let serial = (LATENCY_MS * log.len() as u64) as f64 / 1000.0;
        rt.block_on(sim.shutdown());
        format!(
            "(o) one machine, 100 ms a request: {} requests in {waves} round trip{}; wall {:.0} ms (the whole process) vs {:.0} ms of summed latency → ratio {:.2} (goal ≤ 0.45)",
            log.len(),
            if waves == 1 { "" } else { "s" },
            run.wall.as_secs_f64() * 1000.0,
            serial * 1000.0,
            run.wall.as_secs_f64() / serial
        )
    }

    /// (p), (q), (r): the client's pace against buckets other than the
    /// documented one (issue 20, point 1), each run when picked (all by default).
    fn paced_by_the_server(rt: &tokio::runtime::Runtime, only: &str) {
        let picked = |letter: char| only.contains(letter);
        let fast = BucketSpec::reads(250, 50);
        if picked('p') {
            paced(rt, "(p)", 600, fast, "read bucket 250 + 50/s");
        }
        if picked('q') {
            paced(rt, "(q)", 1_000, fast, "read bucket 250 + 50/s");
        }
        if picked('r') {
            let two = BucketSpec::ARM.instances(2);
            paced(
                rt,
                "(r)",
                1_000,
                two,
                "two instances in turn, each 250 + 25/s",
            );
        }
    }

    /// A fleet of `machines` under `bucket`, enforced: wall time against the
    /// bound its instances' read buckets set, and the share of 429s.
    fn paced(
        rt: &tokio::runtime::Runtime,
        name: &str,
        machines: usize,
        bucket: BucketSpec,
        what: &str,
    ) {
        let sim = rt
            .block_on(Sim::start(Scenario::generated(machines, 1)))
            .unwrap();
        sim.set_knobs(Knobs {
            bucket: Some(bucket),
            ..Knobs::default()
        });
        sim.clear_log();
        let run = run_arcfix(&sim, &[]);
        checked(name, &run);
        let c = counts(&sim);
        let n = f64::from(bucket.instances.max(1));
        let (burst, refill) = (
            n * f64::from(bucket.reads.burst),
            n * f64::from(bucket.reads.per_second),
        );
        let bound = (c.reads as f64 - burst).max(0.0) / refill;
        let wall = run.wall.as_secs_f64();
        println!(
            "{name} {machines} machines, {what}: {} reads, bound (reads − {burst}) / {refill} = {bound:.1} s, wall {wall:.1} s → ratio {:.2} (goal ≤ 1.1); 429s: {} ({:.2}% of {} requests; goal < 2%)",
            c.reads,
            wall / bound.max(f64::MIN_POSITIVE),
            c.throttled,
            100.0 * c.throttled as f64 / c.requests.max(1) as f64,
            c.requests
        );
        if std::env::var_os("ARCFIX_BENCH_VERBOSE").is_some() {
            timeline(name, &sim);
        }
        rt.block_on(sim.shutdown());
    }

    /// Reads ARM received (and 429s) second by second: how the pace was
    /// found (`ARCFIX_BENCH_VERBOSE=1`).
    fn timeline(name: &str, sim: &Sim) {
        let log = sim.requests();
        let Some(start) = log.iter().map(|r| r.received).min() else {
            return;
        };
        let mut per: Vec<(usize, usize)> = Vec::new();
        for r in &log {
            let s = r.received.saturating_duration_since(start).as_secs() as usize;
            if per.len() <= s {
                per.resize(s + 1, (0, 0));
            }
            if r.status == 429 {
                per[s].1 += 1;
            } else if !r.is_write() {
                per[s].0 += 1;
            }
        }
        let line: Vec<String> = per
            .iter()
            .map(|(n, t)| {
                if *t > 0 {
                    format!("{n}+{t}×429")
                } else {
                    n.to_string()
                }
            })
            .collect();
        println!("{name} reads per second: {}", line.join(" "));
    }

    /// (c) `n` machines in one subscription, no bucket (the client's pacing
    /// scaled out of the way): peak RSS of arcfix, the time to its scope line
    /// (its first line, on stderr), wall time.
    fn rss_case(rt: &tokio::runtime::Runtime, n: usize) -> String {
        let sim = rt.block_on(Sim::start(Scenario::generated(n, 1))).unwrap();
        sim.set_knobs(Knobs {
            bucket: Some(BucketSpec::unlimited()),
            ..Knobs::default()
        });
        let run = run_arcfix(&sim, &[("ARCFIX_PACE_SCALE", "10000")]);
        let label = format!("(c) {} machines", thousands(n));
        checked(&label, &run);
        let c = counts(&sim);
        rt.block_on(sim.shutdown());
        let rss = match run.max_rss_kib {
            Some(kib) => format!("{:.1} MB", kib as f64 / 1024.0),
            None => "not available".into(),
        };
        format!(
            "{label}: peak RSS of arcfix {rss} (goal < 250 MB at 100,000); scope line after {}; wall {:.1} s; {} requests; {:.1} MB of JSON",
            run.first_line
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into()),
            run.wall.as_secs_f64(),
            c.requests,
            run.stdout_bytes as f64 / 1e6
        )
    }

    /// (e) Many subscriptions at once (issue 20, point 3): one subscription
    /// of 500 machines, then ten of 500 each, under ARM's read bucket (each
    /// subscription its own): the ten should take about the time of one
    /// (goal ≤ 1.3×), not ten times it.
    fn subscriptions_case(rt: &tokio::runtime::Runtime) -> String {
        const PER: usize = 500;
        let time = |subs: usize| {
            let sim = rt
                .block_on(Sim::start(Scenario::generated(PER * subs, subs)))
                .unwrap();
            sim.set_knobs(Knobs {
                bucket: Some(BucketSpec::ARM),
                ..Knobs::default()
            });
            let run = run_arcfix(&sim, &[]);
            checked(&format!("(e) {subs} subscription(s)"), &run);
            let c = counts(&sim);
            rt.block_on(sim.shutdown());
            (run.wall, c)
        };
        let (one, c1) = time(1);
        let (ten, c10) = time(10);
        format!(
            "(e) ARM read bucket per subscription: 1 subscription of {PER} machines {:.1} s ({} reads, {} 429s); 10 subscriptions of {PER} {:.1} s ({} reads, {} 429s) → ratio {:.2} (goal ≤ 1.3)",
            one.as_secs_f64(),
            c1.reads,
            c1.throttled,
            ten.as_secs_f64(),
            c10.reads,
            c10.throttled,
            ten.as_secs_f64() / one.as_secs_f64().max(f64::MIN_POSITIVE)
        )
    }

    /// (d) 40,000 distinct ids in `--ids-from` (issue 16, point 6): the time
    /// to read and deduplicate them, with only the client side checked (no
    /// Azure request), against the same run with one id.
    fn ids_from_40k() -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..40_000 {
            text.push_str(&format!(
                "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/rg-{}/providers/Microsoft.HybridCompute/machines/m-{i}\n",
                i % 50
            ));
        }
        let many = dir.path().join("many.txt");
        std::fs::write(&many, &text).unwrap();
        let one = dir.path().join("one.txt");
        std::fs::write(&one, text.lines().next().unwrap()).unwrap();
        let time = |file: &std::path::Path| {
            let start = Instant::now();
            let status = Command::new(arcfix_bin())
                .env("HOME", dir.path())
                .args(["check", "--checks", "client", "-o", "json", "--ids-from"])
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            (start.elapsed(), status.code())
        };
        let (base, _) = time(&one);
        let (wall, code) = time(&many);
        format!(
            "(d) 40,000 distinct ids in --ids-from: wall {:.2} s (one id: {:.2} s; exit {code:?})",
            wall.as_secs_f64(),
            base.as_secs_f64()
        )
    }
}
