//! The `plan --refresh`, `run` and `destroy` commands.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use detscript_engine::{Kind, Plan};
use serde_json::json;

use super::diff::{Action, Diff, Removal, diff};
use super::discover::{Live, State, discover};
use super::exec::{DeleteOpts, Job, Node, Outcome, Status, critical_path, execute};
use super::providers::{self, agents};
use super::ui::Ui;
use super::{Attrs, AwsArgs, Clients, Ctx, Waits, connect};
use super::{health, upgrade};
use crate::{Exit, exit};

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // The SDK's request futures nest deeply, and unoptimized builds keep every layer on
        // the stack: with tokio's 2 MiB a debug build overflowed as soon as one more wrapper
        // future was added around a request. 8 MiB (the main thread's) leaves room.
        .thread_stack_size(8 * 1024 * 1024)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            Exit(exit::AWS)
        })
}

/// Connects, and fills in what the plan knows only after apply (see [`super::live_plan`]).
pub(super) async fn connect_or_fail(
    args: &AwsArgs,
    plan: &Plan,
    ui: &Ui,
) -> Result<(Clients, Plan), Exit> {
    let clients = connect(args, plan.deployment.region.as_deref())
        .await
        .map_err(|e| ui.fail(&e))?;
    let plan = super::live_plan(plan, &clients).map_err(|e| ui.fail(&e))?;
    Ok((clients, plan))
}

/// What the providers work with.
pub(super) fn context(clients: Clients, plan: &Arc<Plan>, ui: &Arc<Ui>, state: &State) -> Arc<Ctx> {
    Arc::new(Ctx {
        clients,
        plan: plan.clone(),
        deployment: plan.deployment.name.clone(),
        waits: Waits::default(),
        ui: ui.clone(),
        vpc_id: state.vpc_id.clone(),
        early: Default::default(),
    })
}

pub(super) fn label_width(plan: &Plan) -> usize {
    plan.resources
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(20)
}

/// Reads live state and diffs it; conflicts stop here.
pub(super) async fn refresh(
    clients: &Clients,
    plan: &Plan,
    ui: &Ui,
) -> Result<(State, Diff), Exit> {
    ui.say(&format!(
        "Reading live state of deployment \"{}\" in {}...",
        plan.deployment.name, clients.region
    ));
    let mut state = discover(clients, plan)
        .await
        .map_err(|e| ui.fail(&format!("{e:#}")))?;
    state.ssm = super::ssm::read(clients, plan)
        .await
        .map_err(|e| ui.fail(&format!("{e:#}")))?;
    let mut d = diff(plan, &state);
    super::show::annotate(&mut d, plan);
    if let Some(u) = d.upgrade.as_mut() {
        upgrade::inspect(clients, u)
            .await
            .map_err(|e| ui.fail(&format!("{e:#}")))?;
    }
    Ok((state, d))
}

pub fn diff_json(d: &Diff) -> serde_json::Value {
    let changes: Vec<serde_json::Value> = d
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let (action, details) = match &c.action {
                Action::Create => ("create", c.notes.clone()),
                Action::Update(w) => ("update", w.clone()),
                Action::Replace(why) => ("replace", vec![why.clone()]),
                Action::NoOp => ("no-op", vec![]),
            };
            json!({"id": c.id, "kind": c.kind, "action": action, "details": details})
        })
        .collect();
    let removals: Vec<serde_json::Value> = d
        .removals
        .iter()
        .map(|r| match r {
            Removal::Resource(l) => json!({"id": l.id, "kind": l.kind(), "action": "delete", "physical": l.physical()}),
            Removal::Rule(rule) => json!({"id": format!("rule {}", rule.rule_id), "kind": "security_group_rule", "action": "revoke", "group": rule.group_id, "rule": rule.describe()}),
        })
        .collect();
    json!({
        "event": "diff",
        "changes": changes,
        "removals": removals,
        "unchanged": d.unchanged(),
        "pending": d.pending(),
        "conflicts": d.conflicts,
        "blocked": d.blocked,
        "upgrade": d.upgrade.as_ref().map(upgrade::Upgrade::json),
        "notices": d.notices,
    })
}

pub(super) fn report_conflicts(ui: &Ui, d: &Diff) -> Result<(), Exit> {
    if d.conflicts.is_empty() && d.blocked.is_empty() {
        return Ok(());
    }
    for c in &d.conflicts {
        ui.say(&format!("error: {c}"));
    }
    for b in &d.blocked {
        ui.say(&format!("error: {b}"));
    }
    ui.say("Stopped before changing anything.");
    Err(Exit(exit::AWS))
}

/// `detscript plan FILE --refresh`.
pub fn plan_refresh(
    plan: Plan,
    args: &AwsArgs,
    json_out: bool,
    detailed: bool,
    save: Option<super::saved::Save>,
) -> Result<(), Exit> {
    let ui = Ui::new(json_out, plan.secrets().clone(), label_width(&plan));
    let rt = runtime()?;
    let (plan, d) = rt.block_on(async {
        let (clients, plan) = connect_or_fail(args, &plan, &ui).await?;
        let d = refresh(&clients, &plan, &ui).await.map(|(_, d)| d)?;
        Ok::<_, Exit>((plan, d))
    })?;
    if json_out {
        ui.event(diff_json(&d));
    } else {
        ui.out(&super::show::paint(
            &d.render(&plan),
            super::show::color_enabled(),
        ));
    }
    if !d.conflicts.is_empty() || !d.blocked.is_empty() {
        if !json_out {
            report_conflicts(&ui, &d)?;
        }
        return Err(Exit(exit::AWS));
    }
    if let Some(save) = save {
        save(&d)?;
    }
    if detailed && d.pending() > 0 {
        return Err(Exit(exit::CHANGES));
    }
    Ok(())
}

pub(super) fn confirm(question: &str, yes: bool) -> Result<(), Exit> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: standard input is not a terminal: pass --yes to {question} without asking"
        );
        return Err(Exit(exit::USAGE));
    }
    eprint!("Do you want to {question}? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "yes" {
        Ok(())
    } else {
        eprintln!("Cancelled; nothing was changed.");
        Err(Exit(exit::SCRIPT))
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub yes: bool,
    pub parallelism: usize,
    pub json: bool,
    /// Applying a saved plan: the hash its changes must still have (see [`super::saved`]).
    pub expect_changes: Option<String>,
    /// Upgrades of Determined and the wait until the master answers.
    pub upgrade: upgrade::UpgradeOpts,
}

/// What `run` measured, for the benchmark.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub outcomes: Vec<Outcome>,
    pub discovery: std::time::Duration,
    pub wall: std::time::Duration,
    /// AWS requests of the whole run.
    pub requests: u64,
}

/// `detscript run FILE`.
pub fn run(plan: Plan, args: &AwsArgs, opts: &RunOpts) -> Result<(), Exit> {
    let rt = runtime()?;
    rt.block_on(run_async(Arc::new(plan), args, opts, true))
        .map(|_| ())
}

/// The body of `run`; also used by the benchmark (without confirmation).
pub async fn run_async(
    plan: Arc<Plan>,
    args: &AwsArgs,
    opts: &RunOpts,
    interactive: bool,
) -> Result<RunStats, Exit> {
    let t0 = Instant::now();
    let ui = Arc::new(Ui::new(
        opts.json,
        plan.secrets().clone(),
        label_width(&plan),
    ));
    let (clients, plan) = connect_or_fail(args, &plan, &ui).await?;
    let plan = Arc::new(plan);
    super::preflight::check_region(&clients, &plan, &ui)?;
    let (state, mut d) = refresh(&clients, &plan, &ui).await?;
    // Key pairs and quotas matter to a launch only: an unchanged run does not read them.
    let launches = |c: &super::diff::Change| {
        c.kind == Kind::Ec2Instance && matches!(c.action, Action::Create | Action::Replace(_))
    };
    if d.changes.iter().any(launches) {
        super::preflight::check_launch(&clients, &plan, &ui).await?;
    }
    // Determined manages every instance carrying a pool's tag pair: before launching a new
    // master, refuse if instances we do not know already carry it.
    let new_master = d
        .changes
        .iter()
        .any(|c| c.kind == Kind::Ec2Instance && c.action == Action::Create);
    if new_master {
        for (k, v) in agent_pools(&plan) {
            let f = agents::AgentFilter {
                key: k.clone(),
                value: v.clone(),
                profile: None,
            };
            let a = agents::find_agents(&clients, &f)
                .await
                .map_err(|e| ui.fail(&format!("{e:#}")))?;
            let ids: Vec<String> = a.ids.into_iter().chain(a.others).collect();
            if !ids.is_empty() {
                d.conflicts.push(format!(
                    "EC2 instances [{}] already carry the agent tag {k}={v}; the new master would manage \
(and may terminate) them: choose a tag unique to this installation",
                    ids.join(", ")
                ));
            }
        }
    }
    if let Some(why) = d.upgrade.as_ref().and_then(|u| u.refusal(&opts.upgrade)) {
        d.blocked.push(why);
    }
    let discovery = t0.elapsed();
    if opts.json {
        ui.event(diff_json(&d));
    } else {
        ui.out(&super::show::paint(
            &d.render(&plan),
            super::show::color_enabled(),
        ));
    }
    report_conflicts(&ui, &d)?;
    super::saved::check_changes(&d, opts.expect_changes.as_deref(), &ui)?;
    let mut attrs = super::ssm::attrs(&state.ssm);
    for c in &d.changes {
        if matches!(c.action, Action::NoOp | Action::Update(_)) {
            if let Some(l) = state.owned.get(&c.id) {
                attrs.insert_all(&c.id, &l.attrs);
            }
        }
    }
    let region = clients.region.clone();
    if d.pending() == 0 {
        summarize(&ui, &[], "run", Duration::ZERO, clients.requests.get());
        print_outputs(&plan, &attrs, &ui);
        health::after_run(&plan, &attrs, &ui, args, &region, &opts.upgrade).await?;
        return Ok(RunStats {
            outcomes: Vec::new(),
            discovery,
            wall: t0.elapsed(),
            requests: clients.requests.get(),
        });
    }
    if interactive {
        // Confirmation blocks on standard input: step out of the async context.
        tokio::task::block_in_place(|| confirm("apply these changes", opts.yes))?;
    }
    let requests = clients.requests.clone();
    let ctx = context(clients, &plan, &ui, &state);
    let nodes = apply_nodes(&plan, &state, &d);
    let exec_start = Instant::now();
    let prepared = match &d.upgrade {
        Some(u) => Some(upgrade::prepare(&ctx, u, &opts.upgrade).await.map_err(|e| {
            ui.fail(&format!(
                "{e:#}\nThe master was not replaced; run the same command again to continue the upgrade."
            ))
        })?),
        None => None,
    };
    let (outcomes, attrs) = execute(ctx, nodes, opts.parallelism, attrs).await;
    let exec_wall = exec_start.elapsed();
    let ok = summarize(&ui, &outcomes, "run", exec_wall, requests.get());
    if ok {
        print_outputs(&plan, &attrs, &ui);
        if let (Some(u), Some(p)) = (&d.upgrade, &prepared) {
            upgrade::report(&ui, u, p, &region);
        }
        health::after_run(&plan, &attrs, &ui, args, &region, &opts.upgrade).await?;
    }
    let stats = RunStats {
        outcomes,
        discovery,
        wall: t0.elapsed(),
        requests: requests.get(),
    };
    if ok { Ok(stats) } else { Err(Exit(exit::AWS)) }
}

fn apply_nodes(plan: &Plan, state: &State, d: &Diff) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Plan order is a topological order, so deps always point to earlier nodes.
    for c in &d.changes {
        if c.action == Action::NoOp {
            continue;
        }
        let Some(r) = plan.get(&c.id) else { continue };
        let deps = r
            .depends_on
            .iter()
            .filter_map(|dep| index.get(dep).copied())
            .collect();
        index.insert(c.id.clone(), nodes.len());
        nodes.push(Node {
            label: c.id.clone(),
            deps,
            job: Job::Apply {
                res: Box::new(r.clone()),
                action: c.action.clone(),
                live: state.owned.get(&c.id).cloned().map(Box::new),
            },
        });
    }
    // Rules the script no longer declares are revoked right away; owned resources no longer
    // in the script are deleted after every change, each after what uses it.
    let applied: Vec<usize> = (0..nodes.len()).collect();
    let gone: Vec<Live> = d
        .removals
        .iter()
        .map(|r| match r {
            Removal::Rule(rule) => rule.to_live(),
            Removal::Resource(l) => l.clone(),
        })
        .collect();
    let base = |l: &Live| {
        if l.kind() == Kind::SecurityGroupRule {
            Vec::new()
        } else {
            applied.clone()
        }
    };
    let dels = deletion_nodes(plan, gone, DeleteOpts::default(), nodes.len(), base);
    nodes.extend(dels);
    nodes
}

/// Nodes deleting `lives`, numbered from `offset`: each after every resource that depends on
/// it (the plan's dependency graph reversed, and for resources the plan does not have, the
/// live ids, names and ARNs they use), concurrently where independent, and after `base`.
pub(super) fn deletion_nodes(
    plan: &Plan,
    lives: Vec<Live>,
    opts: DeleteOpts,
    offset: usize,
    base: impl Fn(&Live) -> Vec<usize>,
) -> Vec<Node> {
    let n = lives.len();
    // A logical id may have several live copies (duplicates): each is deleted.
    let mut pos: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, l) in lives.iter().enumerate() {
        pos.entry(l.id.as_str()).or_default().push(i);
    }
    // before[i]: the lives to delete before lives[i] (those that depend on it).
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let uses: Vec<Vec<String>> = lives.iter().map(providers::uses).collect();
    for (i, l) in lives.iter().enumerate() {
        for dep in plan.dependents(&l.id) {
            before[i].extend(pos.get(dep).into_iter().flatten().copied());
        }
        for (j, u) in uses.iter().enumerate() {
            if j != i && u.iter().any(|x| l.attrs.values().any(|a| a == x)) {
                before[i].insert(j);
            }
        }
    }
    // Kahn's algorithm, ties by id, so that every node's deps point to earlier nodes.
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while order.len() < n {
        let key = |i: usize| (&lives[i].id, lives[i].physical());
        let ready = (0..n)
            .filter(|&i| !placed[i] && before[i].iter().all(|&j| placed[j]))
            .min_by_key(|&i| key(i));
        // A cycle (never in a plan): break it at the smallest id.
        let i = ready.unwrap_or_else(|| {
            (0..n)
                .filter(|&i| !placed[i])
                .min_by_key(|&i| key(i))
                .expect("some node is left")
        });
        placed[i] = true;
        order.push(i);
    }
    let mut at = vec![0usize; n];
    for (k, &i) in order.iter().enumerate() {
        at[i] = offset + k;
    }
    order
        .into_iter()
        .map(|i| {
            let l = &lives[i];
            let mut deps = base(l);
            deps.extend(before[i].iter().map(|&j| at[j]).filter(|&d| d < at[i]));
            let copies = pos.get(l.id.as_str()).map_or(1, Vec::len);
            Node {
                label: if copies > 1 {
                    format!("{} ({})", l.id, l.physical())
                } else {
                    l.id.clone()
                },
                deps,
                job: Job::Delete(Box::new(l.clone()), opts),
            }
        })
        .collect()
}

/// Reports what the executor did; `requests` is the number of AWS requests of the whole
/// command (discovery, changes and waits; retries included).
pub(super) fn summarize(
    ui: &Ui,
    outcomes: &[Outcome],
    what: &str,
    wall: std::time::Duration,
    requests: u64,
) -> bool {
    let done: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status == Status::Done)
        .collect();
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed(_)))
        .collect();
    let not_done: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Skipped(_) | Status::NotStarted))
        .collect();
    let (cp, _) = critical_path(outcomes);
    ui.event(json!({
        "event": "summary",
        "command": what,
        "done": done.iter().map(|o| &o.label).collect::<Vec<_>>(),
        "failed": failed.iter().map(|o| json!({"id": o.label, "error": match &o.status { Status::Failed(m) => m.clone(), _ => String::new() }})).collect::<Vec<_>>(),
        "not_done": not_done.iter().map(|o| &o.label).collect::<Vec<_>>(),
        "wall_s": wall.as_secs_f64(),
        "critical_path_s": cp.as_secs_f64(),
        "requests": requests,
    }));
    if ui.is_json() {
        return failed.is_empty() && not_done.is_empty();
    }
    if failed.is_empty() && not_done.is_empty() {
        ui.say(&format!(
            "\n{what} complete: {} changes in {:.1}s, {requests} AWS requests.",
            done.len(),
            wall.as_secs_f64()
        ));
        return true;
    }
    ui.say(&format!(
        "\n{what} FAILED after {:.1}s, {requests} AWS requests.",
        wall.as_secs_f64()
    ));
    for o in &failed {
        if let Status::Failed(m) = &o.status {
            ui.say(&format!("  failed:      {}: {m}", o.label));
        }
    }
    if !done.is_empty() {
        ui.say("  completed (these exist as the script says):");
        for o in &done {
            ui.say(&format!("    {}", o.label));
        }
    }
    if !not_done.is_empty() {
        ui.say("  not done (not changed in AWS):");
        for o in &not_done {
            let why = match &o.status {
                Status::Skipped(w) => format!("skipped: {w}"),
                _ => "not started".into(),
            };
            ui.say(&format!("    {} ({why})", o.label));
        }
    }
    ui.say("Fix the cause and run the same command again: it continues from what exists.");
    false
}

fn print_outputs(plan: &Plan, attrs: &Attrs, ui: &Ui) {
    let resolved = super::inspect::resolve_outputs(plan, attrs);
    if ui.is_json() {
        ui.event(json!({"event": "outputs", "outputs": resolved}));
        return;
    }
    let mut text = String::from("\nOutputs:\n");
    for line in super::inspect::outputs_text(&resolved).lines() {
        text.push_str(&format!("  {line}\n"));
    }
    ui.out(&text);
}

use super::destroy::agent_pools;
pub use super::destroy::{DestroyOpts, destroy};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::diff::tests::plan;
    use crate::aws::providers::sg::{GroupLive, LiveRule, Peer};

    fn group(id: &str, name: &str, gid: &str) -> Live {
        let detail = GroupLive {
            description: String::new(),
            vpc_id: "vpc-1".into(),
        };
        let attrs = [("id".to_string(), gid.to_string())].into_iter().collect();
        Live {
            id: id.into(),
            ..Live::new(name, attrs, detail)
        }
    }

    #[test]
    fn deletes_follow_the_plans_dependency_graph_reversed() {
        let p = plan("0.0.0.0/0");
        let lives: Vec<Live> = p
            .resources
            .iter()
            .filter(|r| r.kind != Kind::SecurityGroupRule)
            .map(|r| group(&r.id, &r.name, &format!("x-{}", r.name)))
            .collect();
        let nodes = deletion_nodes(&p, lives, DeleteOpts::default(), 1, |_| vec![0]);
        let at: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.label.as_str(), i + 1))
            .collect();
        let deps = |id: &str| -> BTreeSet<&str> {
            nodes[at[id] - 1]
                .deps
                .iter()
                .map(|&d| {
                    if d == 0 {
                        "agents"
                    } else {
                        nodes[d - 1].label.as_str()
                    }
                })
                .collect()
        };
        // Exactly its dependents (and the agents) go first: independent deletes run together.
        for n in &nodes {
            let mut want: BTreeSet<&str> = p
                .dependents(&n.label)
                .into_iter()
                .filter(|d| at.contains_key(d))
                .collect();
            want.insert("agents");
            assert_eq!(deps(&n.label), want, "{}", n.label);
            assert!(
                n.deps.iter().all(|&d| d < at[n.label.as_str()]),
                "{}",
                n.label
            );
        }
        assert_eq!(deps("s3_bucket.checkpoints"), BTreeSet::from(["agents"]));
        assert_eq!(
            deps("rds_cluster.db"),
            BTreeSet::from(["agents", "ec2_instance.master", "rds_instance.db-writer"])
        );
        assert!(at["iam_role.master"] < at["iam_role.agent"]);
    }

    #[test]
    fn every_copy_of_a_duplicated_id_is_reported_and_deleted() {
        let p = plan("0.0.0.0/0");
        let tags: BTreeMap<String, String> = [
            ("detscript:deployment", p.deployment.name.as_str()),
            ("detscript:id", "security_group.agent"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut st = State::default();
        for gid in ["sg-1", "sg-2", "sg-1"] {
            let l = group("", "agent", gid);
            st.add(&p.deployment.name, &tags, l, Some("security_group.agent"));
        }
        assert_eq!(st.owned.len(), 1);
        assert_eq!(
            st.duplicates.len(),
            1,
            "the same group read twice is no duplicate"
        );
        let msgs = st.duplicate_messages();
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with(
                "2 live resources carry detscript:id=security_group.agent (security groups sg-1, sg-2)"
            ),
            "{}",
            msgs[0]
        );
        assert!(crate::aws::diff::diff(&p, &st).conflicts.contains(&msgs[0]));
        let nodes = deletion_nodes(&p, st.all_owned(), DeleteOpts::default(), 0, |_| vec![]);
        let labels: Vec<&str> = nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            ["security_group.agent (sg-1)", "security_group.agent (sg-2)"]
        );
    }

    #[test]
    fn resources_the_plan_lacks_are_ordered_by_what_their_live_state_uses() {
        let p = plan("0.0.0.0/0");
        let rule = LiveRule {
            peer: Peer::Group("sg-2".into()),
            ..LiveRule::allow_all_egress("sgr-1", "sg-1")
        };
        let lives = vec![
            group("security_group.old", "old", "sg-1"),
            group("security_group.peer", "peer", "sg-2"),
            rule.to_live(),
        ];
        let nodes = deletion_nodes(&p, lives, DeleteOpts::default(), 0, |_| Vec::new());
        let labels: Vec<&str> = nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            ["rule sgr-1", "security_group.old", "security_group.peer"]
        );
        assert_eq!(nodes[0].deps, Vec::<usize>::new());
        assert_eq!(nodes[1].deps, vec![0]);
        assert_eq!(nodes[2].deps, vec![0]);
    }
}
