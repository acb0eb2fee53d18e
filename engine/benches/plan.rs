//! Compile-and-plan cost: the guide's deploy.rhai, and generated scripts of 1,000 and
//! 10,000 resources (security groups, each with a rule referencing the previous group, so
//! the dependency graph is a long chain). Goal: 10,000 resources well under a second, cost
//! linear in resources. Run: `cargo bench -p detscript-engine`.

use std::fmt::Write as _;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use detscript_engine::{CompileRequest, Mode, ParamInput, compile};

/// A script declaring `resources` resources as explicit statements (no loop), so that
/// parsing grows with the plan too.
fn generated(resources: usize) -> String {
    let groups = resources / 2;
    let mut s = String::from(
        "deployment(\"bench\");\nlet g0 = security_group(\"g0\", \"generated\");\ng0.ingress(tcp(22), \"10.0.0.0/8\");\n",
    );
    for i in 1..groups {
        let _ = writeln!(s, "let g{i} = security_group(\"g{i}\", \"generated\");");
        let _ = writeln!(s, "g{i}.ingress(tcp(443), g{});", i - 1);
    }
    s
}

fn bench(c: &mut Criterion) {
    let deploy = include_str!("../../scripts/deploy.rhai");
    c.bench_function("plan deploy.rhai", |b| {
        b.iter(|| {
            let req = CompileRequest::new("deploy.rhai", deploy, Mode::Apply)
                .param("keypair", ParamInput::Text("k".into()))
                .param("db_password", ParamInput::Text("Bench-password-1".into()));
            let out = compile(&req).expect("deploy.rhai compiles");
            out.plan.to_json()
        })
    });

    sized(c, "plan generated", "gen.rhai", generated);
    // The same plans from a loop: separates the cost of parsing many statements.
    sized(c, "plan loop", "loop.rhai", looped);
}

/// The same plans as [`generated`] from a loop.
fn looped(resources: usize) -> String {
    format!(
        "deployment(\"bench\");\nlet prev = security_group(\"g0\", \"generated\");\nprev.ingress(tcp(22), \"10.0.0.0/8\");\nfor i in 1..{} {{ let g = security_group(`g${{i}}`, \"generated\"); g.ingress(tcp(443), prev); prev = g; }}",
        resources / 2
    )
}

/// A benchmark group planning the scripts `script(n)` of 1,000 and 10,000 resources.
fn sized(c: &mut Criterion, group: &str, file: &str, script: fn(usize) -> String) {
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let src = script(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| {
                let out = compile(&CompileRequest::new(file, src, Mode::Apply))
                    .unwrap_or_else(|f| panic!("{file} compiles: {:?}", f.diagnostics));
                assert_eq!(out.plan.len(), n);
                out.plan.to_json()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
