//! One machine's full Azure-side diagnosis against the simulator answering
//! every request after 100 ms: wall time against the sum of the requests'
//! latencies (goal: at most 0.45, because independent reads overlap), the
//! number of requests and of round trips (the token is static here). Then
//! the same for a resource group of machines. `ARCFIX_BENCH_VERBOSE=1` lists
//! each request with its arrival time.
//! Run with `cargo bench --bench azure`.

use std::time::{Duration, Instant};

use arcfix::azure::auth::{StaticToken, Tokens};
use arcfix::azure::client::{Arm, RetryPolicy};
use arcfix::checks::Side;
use arcfix::checks::{self, Context};
use arcfix::os::Host;
use arcfix::sim::{Knobs, Scenario, Sim};
use arcfix::target::{Login, MachineId, Options, Request};

const LATENCY_MS: u64 = 100;

async fn diagnose(
    sim: &Sim,
    machines: Vec<MachineId>,
    scope: Option<arcfix::target::Scope>,
    login: Login,
) -> (Duration, usize, usize, usize) {
    let arm = Arm::new(
        url::Url::parse(&sim.base_url()).unwrap(),
        Tokens::new(Box::new(StaticToken(sim.caller_token())), "bench"),
        RetryPolicy::default(),
    )
    .unwrap();
    let target = Request {
        scope,
        options: Options {
            login,
            sides: Some(vec![Side::Azure]),
            grant_roles: true,
            ..Options::default()
        },
        ..Request::machines(machines)
    };
    let ctx = Context::new(Host::detect(), target, Some(arm));
    sim.clear_log();
    let start = Instant::now();
    let plan = checks::detect(&ctx).await.expect("diagnosis");
    let wall = start.elapsed();
    let log = sim.requests();
    if std::env::var_os("ARCFIX_BENCH_VERBOSE").is_some() {
        for r in &log {
            println!(
                "  +{:>4} ms {} {}",
                r.received.duration_since(start).as_millis(),
                r.method,
                r.path
            );
        }
    }
    let waves = sim.round_trips(Duration::from_millis(LATENCY_MS));
    (wall, log.len(), plan.findings.len(), waves)
}

fn report(
    name: &str,
    (wall, requests, findings, waves): (Duration, usize, usize, usize),
    goal: f64,
) {
    let serial = Duration::from_millis(LATENCY_MS * requests as u64);
    println!(
        "{name}: {requests} requests in {waves} round trip{}, {findings} findings; wall {:.0} ms vs {:.0} ms of summed latency: ratio {:.2} (goal ≤ {goal})",
        if waves == 1 { "" } else { "s" },
        wall.as_secs_f64() * 1000.0,
        serial.as_secs_f64() * 1000.0,
        wall.as_secs_f64() / serial.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = Sim::start(Scenario::builtin("demo").unwrap())
            .await
            .unwrap();
        sim.set_knobs(Knobs {
            latency_ms: LATENCY_MS,
            ..Default::default()
        });
        let web = MachineId::parse(&sim.scenario().machine_ids()[0]).unwrap();
        for (login, name) in [
            (Login::Local, "one machine, --login local"),
            (Login::Entra, "one machine, --login entra"),
        ] {
            let mut best = None::<(Duration, usize, usize, usize)>;
            for _ in 0..5 {
                let r = diagnose(&sim, vec![web.clone()], None, login).await;
                if best.is_none_or(|b| r.0 < b.0) {
                    best = Some(r);
                }
            }
            report(name, best.unwrap(), 0.45);
        }
        sim.shutdown().await;

        let sim = Sim::start(Scenario::builtin("fleet").unwrap())
            .await
            .unwrap();
        sim.set_knobs(Knobs {
            latency_ms: LATENCY_MS,
            ..Default::default()
        });
        let first = MachineId::parse(&sim.scenario().machine_ids()[0]).unwrap();
        let count = sim
            .scenario()
            .machine_ids()
            .iter()
            .filter(|id| {
                id.to_ascii_lowercase()
                    .starts_with(&first.resource_group_id().to_ascii_lowercase())
            })
            .count();
        let group = diagnose(
            &sim,
            vec![],
            Some(arcfix::target::Scope {
                subscriptions: vec![arcfix::target::SubscriptionRef::Id(
                    first.subscription.clone(),
                )],
                resource_group: Some(first.resource_group.clone()),
                tags: vec![],
            }),
            Login::Local,
        )
        .await;
        report(
            &format!("resource group of {count} machines (listed, then diagnosed side by side)"),
            group,
            0.5,
        );
        sim.shutdown().await;
    });
}
