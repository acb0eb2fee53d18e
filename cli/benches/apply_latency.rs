//! Applies scripts/deploy.rhai against moto behind a loopback proxy that adds a fixed latency
//! to every request, and reports the wall time against the plan's critical path: discovery
//! plus the longest chain of dependent resources, each weighted by its measured duration.
//! A ratio near 1.0 means nothing was serialized that could have run concurrently.
//!
//! Run it with `tests/e2e/bench.sh` (starts moto and the proxy), or by hand:
//!   DETSCRIPT_BENCH_ENDPOINT=http://127.0.0.1:PORT cargo bench --profile dev -p detscript --bench apply_latency
//! Environment: DETSCRIPT_BENCH_ENDPOINT (required), DETSCRIPT_BENCH_LATENCY_MS (as configured
//! in the proxy, for the report), DETSCRIPT_BENCH_ITERATIONS (default 3).
//!
//! With DETSCRIPT_BENCH_DELAYS=N:M:P (the proxy started with `--db-creating N
//! --instance-pending M --profile-propagation P`), it measures instead what launching the
//! master while the database is created gains: wall time of `run` against max(N, P + M) (the
//! database and the master's launch overlapping) and N + M (the master launched only once the
//! database is available).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use detscript::aws::AwsArgs;
use detscript::aws::command::{RunOpts, RunStats, run_async};
use detscript::aws::exec::critical_path;
use detscript_engine::{CompileRequest, Mode, ParamInput, compile};

fn plan_for(cluster: &str) -> detscript_engine::Plan {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/deploy.rhai");
    let source = std::fs::read_to_string(path).expect("scripts/deploy.rhai");
    let mut params = BTreeMap::new();
    for (k, v) in [
        ("cluster_id", cluster),
        ("keypair", "bench-key"),
        ("db_password", "Bench-password-1"),
    ] {
        params.insert(k.to_string(), ParamInput::Text(v.to_string()));
    }
    let mut req = CompileRequest::new("scripts/deploy.rhai", &source, Mode::Apply);
    req.params = params;
    compile(&req).expect("deploy.rhai compiles").plan
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let Ok(endpoint) = std::env::var("DETSCRIPT_BENCH_ENDPOINT") else {
        eprintln!(
            "apply_latency: DETSCRIPT_BENCH_ENDPOINT is not set; run tests/e2e/bench.sh (skipping)"
        );
        return;
    };
    let latency: f64 = std::env::var("DETSCRIPT_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let iterations: usize = std::env::var("DETSCRIPT_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let args = AwsArgs {
        profile: None,
        region: Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-west-2".into())),
        endpoint_url: Some(endpoint),
    };
    let pid = std::process::id();
    // `run` checks that the key pair exists (preflight); the script names bench-key.
    rt.block_on(async {
        let clients = detscript::aws::connect(&args, None)
            .await
            .expect("AWS clients");
        // An error here (the key pair exists from an earlier run) is fine.
        let _ = clients
            .ec2
            .create_key_pair()
            .key_name("bench-key")
            .send()
            .await;
    });
    if let Ok(delays) = std::env::var("DETSCRIPT_BENCH_DELAYS") {
        return delays_bench(&rt, &args, &delays, iterations, pid);
    }
    // Warm-up (not measured): moto initializes each service backend on first use.
    let warm = RunOpts {
        yes: true,
        parallelism: 10,
        json: true,
        ..RunOpts::default()
    };
    rt.block_on(run_async(
        Arc::new(plan_for(&format!("bench-{pid}-warmup"))),
        &args,
        &warm,
        false,
    ))
    .unwrap_or_else(|e| panic!("warm-up run failed with exit {}", e.0));
    let mut rows = Vec::new();
    for (label, parallelism) in [("parallel (10)", 10usize), ("serial (1)", 1)] {
        for i in 0..iterations {
            let cluster = format!("bench-{pid}-{parallelism}-{i}");
            let plan = Arc::new(plan_for(&cluster));
            let opts = RunOpts {
                yes: true,
                parallelism,
                json: true,
                ..RunOpts::default()
            };
            let stats: RunStats = rt
                .block_on(run_async(plan, &args, &opts, false))
                .unwrap_or_else(|e| panic!("run failed with exit {}", e.0));
            let (chain, names) = critical_path(&stats.outcomes);
            let cp = stats.discovery + chain;
            rows.push((label, i, stats.wall, cp, names));
        }
    }
    eprintln!();
    eprintln!(
        "apply_latency: scripts/deploy.rhai ({} resources) against moto behind a proxy adding {latency} ms per request",
        plan_for("x").len()
    );
    eprintln!(
        "{:<14} {:>4} {:>10} {:>15} {:>7}",
        "executor", "run", "wall (s)", "crit. path (s)", "ratio"
    );
    for (label, i, wall, cp, _) in &rows {
        eprintln!(
            "{label:<14} {i:>4} {:>10.3} {:>15.3} {:>7.2}",
            wall.as_secs_f64(),
            cp.as_secs_f64(),
            wall.as_secs_f64() / cp.as_secs_f64().max(1e-9)
        );
    }
    if let Some((_, _, _, _, names)) = rows.first() {
        eprintln!("critical path: discovery -> {}", names.join(" -> "));
    }
    let par: Vec<Duration> = rows
        .iter()
        .filter(|r| r.0.starts_with("parallel"))
        .map(|r| r.2)
        .collect();
    let worst = rows
        .iter()
        .filter(|r| r.0.starts_with("parallel"))
        .map(|r| r.2.as_secs_f64() / r.3.as_secs_f64().max(1e-9))
        .fold(0.0, f64::max);
    eprintln!(
        "parallel: median wall {:.3}s, worst ratio {worst:.2} (goal <= 1.20): {}",
        median(par).as_secs_f64(),
        if worst <= 1.2 { "OK" } else { "ABOVE GOAL" }
    );
}

/// `run` with AWS's delays simulated by the proxy: wall time against max and sum.
fn delays_bench(
    rt: &tokio::runtime::Runtime,
    args: &AwsArgs,
    delays: &str,
    iterations: usize,
    pid: u32,
) {
    let d: Vec<f64> = delays.split(':').filter_map(|x| x.parse().ok()).collect();
    let [n, m, p] = d[..] else {
        panic!("DETSCRIPT_BENCH_DELAYS must be N:M:P (seconds), got {delays:?}");
    };
    let (max, sum) = (n.max(p + m), n + m);
    for i in 0..iterations {
        let cluster = format!("bench-{pid}-delays-{i}");
        let opts = RunOpts {
            yes: true,
            parallelism: 10,
            json: true,
            ..RunOpts::default()
        };
        let stats: RunStats = rt
            .block_on(run_async(Arc::new(plan_for(&cluster)), args, &opts, false))
            .unwrap_or_else(|e| panic!("run failed with exit {}", e.0));
        let wall = stats.wall.as_secs_f64();
        eprintln!(
            "apply_delays: db creating {n:>4.0}s  instance pending {m:>4.0}s  profile propagation {p:>3.0}s  \
wall {wall:>6.1}s  max {max:>5.1}s (x{:.2})  sum {sum:>5.1}s (x{:.2})  {} requests",
            wall / max,
            wall / sum,
            stats.requests
        );
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
