//! The DAG executor: a ready queue over the plan's dependency graph. Independent jobs run
//! concurrently (tokio `JoinSet`, bounded by a `Semaphore` of `--parallelism` permits); a
//! job starts once every job it depends on has finished, or has published its attributes
//! early ([`Ctx::publish`]: a database whose endpoint is known while AWS still creates it),
//! and its references resolve. A failure skips its dependents, lets in-flight jobs finish
//! and starts nothing new. The run succeeds only once every job has finished.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use detscript_engine::{Kind, Resource};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::diff::Action;
use super::discover::Live;
use super::providers::{self, Vals, agents};
use super::{Attrs, Ctx};

/// Options of `destroy` that change how deletions behave.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOpts {
    pub delete_data: bool,
    pub skip_final_snapshot: bool,
    /// Delete Secrets Manager secrets without the recovery window.
    pub delete_secrets_now: bool,
}

pub enum Job {
    /// Create, update or replace a planned resource.
    Apply {
        res: Box<Resource>,
        action: Action,
        live: Option<Box<Live>>,
    },
    /// Delete an owned resource (or revoke a rule of an owned security group).
    Delete(Box<Live>, DeleteOpts),
    /// Terminate the agents and cancel the spot requests the master launched (the pool's tag
    /// and the pool's instance profile).
    Agents(Vec<agents::AgentFilter>),
}

pub struct Node {
    /// What the progress display calls it.
    pub label: String,
    pub deps: Vec<usize>,
    pub job: Job,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done,
    Failed(String),
    /// A dependency failed.
    Skipped(String),
    /// Never started because another job failed.
    NotStarted,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub label: String,
    pub status: Status,
    pub started: Option<Duration>,
    pub elapsed: Duration,
    /// When the job published its attributes before finishing (from the executor's start).
    pub known_at: Option<Duration>,
    pub note: String,
    pub deps: Vec<usize>,
}

/// A finished job: node index, start offset, duration, result (attributes and a note).
type Finished = (
    usize,
    Duration,
    Duration,
    Result<(BTreeMap<String, String>, String)>,
);

/// Runs the jobs; returns one outcome per node (same order) and the attributes gathered.
pub async fn execute(
    ctx: Arc<Ctx>,
    nodes: Vec<Node>,
    parallelism: usize,
    attrs: Attrs,
) -> (Vec<Outcome>, Attrs) {
    let n = nodes.len();
    let t0 = Instant::now();
    let mut remaining: Vec<usize> = nodes.iter().map(|nd| nd.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, nd) in nodes.iter().enumerate() {
        for &d in &nd.deps {
            dependents[d].push(i);
        }
    }
    let mut outcomes: Vec<Outcome> = nodes
        .iter()
        .map(|nd| Outcome {
            label: nd.label.clone(),
            status: Status::NotStarted,
            started: None,
            elapsed: Duration::ZERO,
            known_at: None,
            note: String::new(),
            deps: nd.deps.clone(),
        })
        .collect();
    let mut jobs: Vec<Option<Job>> = nodes.into_iter().map(|nd| Some(nd.job)).collect();
    let mut attrs = attrs;
    let sem = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut set: JoinSet<Finished> = JoinSet::new();
    let mut failed = false;
    let mut ready: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    // Nodes whose dependencies have published attributes (`released`) or finished.
    let mut released = vec![false; n];
    // Ready nodes whose references wait for a dependency that published only some attributes.
    let mut deferred: Vec<usize> = Vec::new();
    loop {
        ready.append(&mut deferred);
        if !failed {
            for i in ready.drain(..) {
                if outcomes[i].status != Status::NotStarted || jobs[i].is_none() {
                    continue;
                }
                let unresolved = jobs[i].as_ref().is_some_and(|j| !resolvable(j, &attrs));
                let deps_running = outcomes[i]
                    .deps
                    .iter()
                    .any(|&d| outcomes[d].status != Status::Done);
                if unresolved && deps_running {
                    deferred.push(i);
                    continue;
                }
                let job = jobs[i].take().expect("each job runs once");
                let ctx = ctx.clone();
                let sem = sem.clone();
                let snapshot = attrs.clone();
                let label = outcomes[i].label.clone();
                set.spawn(async move {
                    let _permit = sem.acquire_owned().await.expect("semaphore open");
                    let start = Instant::now();
                    let started = start.duration_since(t0);
                    ctx.ui.resource(&label, job_verb(&job), None, "");
                    let r = run_job(&ctx, job, &snapshot).await;
                    (i, started, start.elapsed(), r)
                });
            }
        } else {
            ready.clear();
        }
        let joined = tokio::select! {
            joined = set.join_next() => joined,
            () = ctx.early.published() => {
                for (id, early) in ctx.early.take() {
                    // A job that finished already reported its final attributes.
                    let Some(i) = outcomes
                        .iter()
                        .position(|o| o.label == id && o.status == Status::NotStarted)
                    else {
                        continue;
                    };
                    attrs.insert_all(&id, &early);
                    outcomes[i].known_at.get_or_insert(t0.elapsed());
                    if !std::mem::replace(&mut released[i], true) {
                        release(i, &dependents, &mut remaining, &mut ready);
                    }
                }
                continue;
            }
        };
        let Some(joined) = joined else {
            break;
        };
        let (i, started, elapsed, result) = match joined {
            Ok(v) => v,
            Err(e) => {
                failed = true;
                ctx.ui.say(&format!("internal error: a task panicked: {e}"));
                continue;
            }
        };
        outcomes[i].started = Some(started);
        outcomes[i].elapsed = elapsed;
        match result {
            Ok((new_attrs, note)) => {
                if let Some(id) = resource_id(&outcomes[i].label) {
                    attrs.insert_all(id, &new_attrs);
                }
                let shown = new_attrs
                    .get("id")
                    .or_else(|| new_attrs.get("arn"))
                    .cloned()
                    .unwrap_or_default();
                let detail = [shown, note.clone()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("  ");
                ctx.ui
                    .resource(&outcomes[i].label, "done", Some(elapsed), &detail);
                outcomes[i].status = Status::Done;
                outcomes[i].note = note;
                if !std::mem::replace(&mut released[i], true) {
                    release(i, &dependents, &mut remaining, &mut ready);
                }
            }
            Err(e) => {
                failed = true;
                let msg = format!("{e:#}");
                ctx.ui
                    .resource(&outcomes[i].label, "FAILED", Some(elapsed), &msg);
                outcomes[i].status = Status::Failed(msg);
                // Skip everything downstream.
                let mut stack = dependents[i].clone();
                while let Some(k) = stack.pop() {
                    if outcomes[k].status == Status::NotStarted {
                        outcomes[k].status =
                            Status::Skipped(format!("{} failed", outcomes[i].label));
                        stack.extend(dependents[k].iter().copied());
                    }
                }
            }
        }
    }
    ctx.ui
        .event(json!({"event": "executed", "elapsed_s": t0.elapsed().as_secs_f64()}));
    (outcomes, attrs)
}

/// Counts `i` as known for each of its dependents; those with nothing left to wait for are
/// ready.
fn release(i: usize, dependents: &[Vec<usize>], remaining: &mut [usize], ready: &mut Vec<usize>) {
    for &k in &dependents[i] {
        remaining[k] -= 1;
        if remaining[k] == 0 {
            ready.push(k);
        }
    }
}

/// Whether every reference of the job's resource is known.
fn resolvable(job: &Job, attrs: &Attrs) -> bool {
    match job {
        Job::Apply { res, .. } => res
            .spec
            .refs()
            .iter()
            .all(|r| attrs.get(&r.path()).is_some()),
        Job::Delete(..) | Job::Agents(_) => true,
    }
}

fn resource_id(label: &str) -> Option<&str> {
    (!label.starts_with("rule ") && !label.starts_with("agents")).then_some(label)
}

fn job_verb(j: &Job) -> &'static str {
    match j {
        Job::Apply { action, .. } => match action {
            Action::Create => "creating",
            Action::Update(_) => "updating",
            Action::Replace(_) => "replacing",
            Action::NoOp => "checking",
        },
        Job::Delete(l, _) if l.kind() == Kind::SecurityGroupRule => "revoking",
        Job::Delete(..) => "deleting",
        Job::Agents(_) => "terminating",
    }
}

async fn run_job(ctx: &Ctx, job: Job, attrs: &Attrs) -> Result<(BTreeMap<String, String>, String)> {
    match job {
        Job::Apply { res, action, live } => {
            let missing: Vec<String> = res
                .spec
                .refs()
                .iter()
                // A secret's value is read by the provider that needs it, never an attribute.
                .map(|r| match detscript_engine::kinds::secret::is_value_ref(r) {
                    true => format!("{}.arn", r.resource),
                    false => r.path(),
                })
                .filter(|p| attrs.get(p).is_none())
                .collect();
            if !missing.is_empty() {
                bail!("{}: unresolved references {}", res.id, missing.join(", "));
            }
            let vals = Vals {
                plan: &ctx.plan,
                attrs,
            };
            let out = providers::apply(ctx, &res, &action, live.as_deref(), vals).await?;
            Ok((out, String::new()))
        }
        Job::Delete(live, opts) => providers::delete(ctx, &live, opts)
            .await
            .map(|n| (BTreeMap::new(), n)),
        Job::Agents(pools) => {
            let done = agents::terminate_all(ctx, &pools).await?;
            Ok((BTreeMap::new(), done.note()))
        }
    }
}

/// The longest chain of dependent jobs, by their measured durations: the wall time an
/// executor with unlimited parallelism could at best achieve. A job that published its
/// attributes early lets its dependents start that long after its own start.
pub fn critical_path(outcomes: &[Outcome]) -> (Duration, Vec<String>) {
    // Nodes are topologically ordered by construction (deps point backwards).
    let mut best: Vec<(Duration, Option<usize>)> = vec![(Duration::ZERO, None); outcomes.len()];
    // When each job's dependents may start, on the same ideal timeline.
    let mut avail: Vec<Duration> = vec![Duration::ZERO; outcomes.len()];
    for (i, o) in outcomes.iter().enumerate() {
        let (base, from) = o
            .deps
            .iter()
            .map(|&d| (avail[d], Some(d)))
            .max_by_key(|(t, _)| *t)
            .unwrap_or((Duration::ZERO, None));
        let lead = match (o.known_at, o.started) {
            (Some(k), Some(s)) => k.saturating_sub(s).min(o.elapsed),
            _ => o.elapsed,
        };
        best[i] = (base + o.elapsed, from);
        avail[i] = base + lead;
    }
    let Some((mut i, total)) = best
        .iter()
        .enumerate()
        .max_by_key(|(_, (t, _))| *t)
        .map(|(i, (t, _))| (i, *t))
    else {
        return (Duration::ZERO, Vec::new());
    };
    let mut chain = vec![outcomes[i].label.clone()];
    while let Some(p) = best[i].1 {
        chain.push(outcomes[p].label.clone());
        i = p;
    }
    chain.reverse();
    (total, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(
        label: &str,
        deps: Vec<usize>,
        started: u64,
        elapsed: u64,
        known: Option<u64>,
    ) -> Outcome {
        Outcome {
            label: label.into(),
            status: Status::Done,
            started: Some(Duration::from_secs(started)),
            elapsed: Duration::from_secs(elapsed),
            known_at: known.map(Duration::from_secs),
            note: String::new(),
            deps,
        }
    }

    #[test]
    fn an_early_published_dependency_shortens_the_critical_path() {
        // db: 600 s, endpoint known after 1 s; profile 10 s; master (db, profile) 60 s.
        let finish_to_start = [
            outcome("db", vec![], 0, 600, None),
            outcome("profile", vec![], 0, 10, None),
            outcome("master", vec![0, 1], 600, 60, None),
        ];
        let (t, chain) = critical_path(&finish_to_start);
        assert_eq!(
            (t.as_secs(), chain),
            (660, vec!["db".into(), "master".into()])
        );
        let early = [
            outcome("db", vec![], 0, 600, Some(1)),
            outcome("profile", vec![], 0, 10, None),
            outcome("master", vec![0, 1], 10, 60, None),
        ];
        let (t, chain) = critical_path(&early);
        assert_eq!((t.as_secs(), chain), (600, vec!["db".into()]));
    }
}
