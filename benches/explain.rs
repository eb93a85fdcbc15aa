//! Times `arcfix::explain::explain` on a ~1 MB realistic log: ssh -v and
//! az --debug noise with ANSI colours and CRLF, and a few error lines inside.
//! Run with `cargo bench --bench explain`; the budget is 50 ms per call.

use std::hint::black_box;
use std::time::{Duration, Instant};

const TARGET_BYTES: usize = 1 << 20;
const RUNS: usize = 40;

/// Ordinary lines, cycled: what a verbose `az ssh arc --debug` session prints.
const NOISE: &[&str] = &[
    "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL 3.0.13 30 Jan 2024",
    "debug1: Reading configuration data /etc/ssh/ssh_config",
    "debug1: /etc/ssh/ssh_config line 19: include /etc/ssh/ssh_config.d/*.conf matched no files",
    "debug1: Executing proxy command: exec /home/u/.clientsshproxy/sshProxy_linux_amd64_1_3_026973 -p 22",
    "debug1: identity file /tmp/aadsshcertx1y2z3/id_rsa type 0",
    "debug1: identity file /tmp/aadsshcertx1y2z3/id_rsa-aadcert.pub type 4",
    "debug1: Local version string SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
    "debug1: Remote protocol version 2.0, remote software version OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
    "debug1: kex: algorithm: curve25519-sha256",
    "debug1: kex: host key algorithm: ssh-ed25519",
    "debug1: kex: server->client cipher: chacha20-poly1305@openssh.com MAC: <implicit> compression: none",
    "debug1: SSH2_MSG_KEX_ECDH_REPLY received",
    "debug1: Server host key: ssh-ed25519 SHA256:3n8bQ2m1Zq0cJXo4nqv6c2l2a6yYbKq1m3bW5nH0x9E",
    "debug1: Authentications that can continue: publickey",
    "debug1: Next authentication method: publickey",
    "\x1b[36mcli.azure.cli.core.sdk.policies: Request URL: 'https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/vm1?api-version=2022-11-10'\x1b[0m",
    "\x1b[36mcli.azure.cli.core.sdk.policies: Request method: 'GET'\x1b[0m",
    "cli.azure.cli.core.sdk.policies: Request headers:",
    "cli.azure.cli.core.sdk.policies:     'Accept': 'application/json'",
    "cli.azure.cli.core.sdk.policies:     'x-ms-client-request-id': '6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b'",
    "cli.azure.cli.core.sdk.policies:     'User-Agent': 'AZURECLI/2.67.0 (DEB) azsdk-python-core/1.31.0 Python/3.12.3 (Linux-6.8.0-49-generic-x86_64-with-glibc2.39)'",
    "cli.azure.cli.core.sdk.policies: Response status: 200",
    "cli.azure.cli.core.sdk.policies: Response headers:",
    "cli.azure.cli.core.sdk.policies:     'Cache-Control': 'no-cache'",
    "cli.azure.cli.core.sdk.policies:     'x-ms-ratelimit-remaining-subscription-global-reads': '3749'",
    "urllib3.connectionpool: https://management.azure.com:443 \"POST /subscriptions/0000/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/vm1/providers/Microsoft.HybridConnectivity/endpoints/default/listCredentials?expiresin=3600&api-version=2023-03-15 HTTP/1.1\" 200 1187",
    "{\"level\":\"info\",\"msg\":\"sshproxy: connected to relay \\u003cnamespace\\u003e, forwarding\",\"proxyVersion\":\"1.3.026973\"}",
    "\x1b[32mINFO\x1b[0m: Successfuly installed SSH Connectivity Proxy file /home/u/.clientsshproxy/sshProxy_linux_amd64_1_3_026973",
    "",
];

/// Real failures, spread through the log.
const ERRORS: &[&str] = &[
    "\x1b[31mERROR: Request for Azure Relay Information Failed: (NoRegisteredProviderFound) Code: NoRegisteredProviderFound\x1b[0m",
    "{\"level\":\"fatal\",\"msg\":\"sshproxy: error connecting to the address: 503 connection to localhost:22 failed: dial tcp [::1]:22: connectex: No connection could be made because the target machine actively refused it.. websocket: bad handshake\",\"proxyVersion\":\"1.3.022941\"}",
    "admin@vm1: Permission denied (publickey).",
    "WARNING: UNPROTECTED PRIVATE KEY FILE!",
];

fn build_log() -> String {
    let mut log = String::with_capacity(TARGET_BYTES + 4096);
    let mut i = 0;
    while log.len() < TARGET_BYTES {
        log.push_str(NOISE[i % NOISE.len()]);
        log.push_str("\r\n");
        i += 1;
        // One error line about every 250 KB.
        if i % 2500 == 0 {
            log.push_str(ERRORS[(i / 2500 - 1) % ERRORS.len()]);
            log.push_str("\r\n");
        }
    }
    log
}

/// The worst case for the JSON decoding: every line a proxy record with escapes.
fn build_json_log() -> String {
    let mut log = String::with_capacity(TARGET_BYTES + 4096);
    let mut i = 0u64;
    while log.len() < TARGET_BYTES {
        log.push_str(&format!(
            "{{\"level\":\"debug\",\"msg\":\"sshproxy: relay frame {i} from 10.0.0.4:5{:04}-\\u003e40.122.115.96:443 \\u0026 ok\",\"proxyVersion\":\"1.3.026973\"}}\n",
            i % 10000
        ));
        i += 1;
    }
    log.push_str(ERRORS[1]);
    log.push('\n');
    log
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times `RUNS` calls; returns (min, median).
fn time(log: &str) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(arcfix::explain::explain(black_box(log)));
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[RUNS / 2])
}

fn report(name: &str, log: &str, min: Duration, median: Duration) -> bool {
    let mb = log.len() as f64 / (1024.0 * 1024.0);
    println!("{name}: {mb:.2} MB, {} lines", log.lines().count());
    println!(
        "  min    over {RUNS} runs: {:7.2} ms  {:7.1} MB/s",
        ms(min),
        mb / min.as_secs_f64()
    );
    println!(
        "  median over {RUNS} runs: {:7.2} ms  {:7.1} MB/s",
        ms(median),
        mb / median.as_secs_f64()
    );
    ms(median) / mb < 50.0
}

fn main() {
    let log = build_log();

    // The first call also parses the catalogue and builds the regex set:
    // time those apart, they are paid once per process.
    let start = Instant::now();
    black_box(arcfix::explain::problems());
    let parse = start.elapsed();
    let start = Instant::now();
    black_box(arcfix::explain::explain(""));
    let build = start.elapsed();
    let start = Instant::now();
    let first = arcfix::explain::explain(&log);
    let cold = start.elapsed();
    let ids: Vec<&str> = first.iter().map(|m| m.id.as_str()).collect();
    for want in [
        "rp-not-registered",
        "sshd-not-running",
        "login-role-missing",
        "private-key-permissions",
    ] {
        assert!(
            ids.contains(&want),
            "bench log should show {want}, got {ids:?}"
        );
    }
    println!(
        "once per process: catalogue parse {:.2} ms, regex set build {:.2} ms; first scan of the mixed log {:.2} ms",
        ms(parse),
        ms(build),
        ms(cold)
    );
    println!("matches in the mixed log: {}", ids.join(", "));

    let (min, median) = time(&log);
    let mut ok = report(
        "mixed ssh -v / az --debug log (ANSI, CRLF)",
        &log,
        min,
        median,
    );

    let json = build_json_log();
    assert_eq!(arcfix::explain::explain(&json)[0].id, "sshd-not-running");
    let (min, median) = time(&json);
    ok &= report(
        "all-JSON proxy log (every line decoded)",
        &json,
        min,
        median,
    );

    // What a user waits for: the whole `arcfix explain` process on the 1 MB log.
    let bin = env!("CARGO_BIN_EXE_arcfix");
    let path = std::env::temp_dir().join(format!("arcfix-bench-{}.log", std::process::id()));
    std::fs::write(&path, &log).unwrap();
    let mut runs: Vec<Duration> = (0..15)
        .map(|_| {
            let input = std::fs::File::open(&path).unwrap();
            let start = Instant::now();
            let out = std::process::Command::new(bin)
                .args(["explain", "-o", "json"])
                .stdin(input)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0));
            start.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    runs.sort();
    println!(
        "whole process `arcfix explain -o json < 1 MB log`: min {:.2} ms, median {:.2} ms",
        ms(runs[0]),
        ms(runs[runs.len() / 2])
    );
    ok &= runs[runs.len() / 2] < Duration::from_millis(50);

    println!(
        "budget 50 ms per MB: {}",
        if ok { "ok" } else { "TOO SLOW" }
    );
}
