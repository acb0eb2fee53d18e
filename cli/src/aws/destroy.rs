//! `detscript destroy`: the agents the master launched first, then every owned resource after
//! whatever uses it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use detscript_engine::{Kind, Plan};
use serde_json::json;

use super::command::{
    confirm, connect_or_fail, context, deletion_nodes, label_width, runtime, summarize,
};
use super::discover::{Detail, Live, discover, kind_words};
use super::exec::{DeleteOpts, Job, Node, Outcome, Status, execute};
use super::providers::{agents, s3, secret};
use super::ui::Ui;
use super::{Attrs, AwsArgs};
use crate::{Exit, exit};

pub struct DestroyOpts {
    pub yes: bool,
    pub parallelism: usize,
    pub json: bool,
    pub delete_data: bool,
    pub skip_final_snapshot: bool,
    pub delete_secrets_now: bool,
}

/// The tag pairs of the master's agent pools (distinct, sorted).
pub(super) fn agent_pools(plan: &Plan) -> Vec<(String, String)> {
    let pools: BTreeSet<(String, String)> = plan
        .agent_pools()
        .into_iter()
        .map(|p| (p.tag_key, p.tag_value))
        .collect();
    pools.into_iter().collect()
}

/// Lines about what carries an agent tag but is not this deployment's (left alone).
fn foreign_agent_lines(found: &[(agents::AgentFilter, agents::Agents)]) -> Vec<String> {
    let mut out = Vec::new();
    for (f, a) in found {
        let n = a.others.len() + a.other_spots.len();
        if n == 0 {
            continue;
        }
        let why = match &f.profile {
            Some(p) => format!(
                "not the pool's instance profile {}",
                agents::profile_name(p)
            ),
            None => "the pool has no instance profile of this deployment to tell its agents apart"
                .to_string(),
        };
        out.push(format!(
            "{n} with the agent tag {} but not this deployment's ({why}): instances [{}], spot requests [{}]",
            f.tag(),
            a.others.join(", "),
            a.other_spots.join(", ")
        ));
    }
    out
}

/// `detscript destroy FILE`.
pub fn destroy(plan: Plan, args: &AwsArgs, opts: &DestroyOpts) -> Result<(), Exit> {
    let rt = runtime()?;
    let plan = Arc::new(plan);
    let ui = Arc::new(Ui::new(
        opts.json,
        plan.secrets().clone(),
        label_width(&plan).max(30),
    ));
    let (plan, clients, state, filters, agents_found) = rt.block_on(async {
        let (clients, live) = connect_or_fail(args, &plan, &ui).await?;
        let plan = Arc::new(live);
        ui.say(&format!(
            "Reading live state of deployment \"{}\" in {}...",
            plan.deployment.name, clients.region
        ));
        let state = discover(&clients, &plan)
            .await
            .map_err(|e| ui.fail(&format!("{e:#}")))?;
        let filters = agents::filters(&plan, &state);
        let mut found = Vec::new();
        for f in &filters {
            let a = agents::find_agents(&clients, f)
                .await
                .map_err(|e| ui.fail(&format!("{e:#}")))?;
            found.push((f.clone(), a));
        }
        Ok::<_, Exit>((plan, clients, state, filters, found))
    })?;
    let n_agents: usize = agents_found
        .iter()
        .map(|(_, a)| a.ids.len() + a.spots.len())
        .sum();
    // Never touched, and said so: same-named resources of others, foreign tagged instances.
    let mut left_alone: Vec<String> = state.conflicts.clone();
    left_alone.extend(foreign_agent_lines(&agents_found));
    let mut text = String::new();
    for (f, a) in &agents_found {
        if !a.ids.is_empty() || !a.spots.is_empty() {
            text.push_str(&format!(
                "  -   agents tagged {} with instance profile {}: instances [{}], spot requests [{}]\n",
                f.tag(),
                f.profile.as_deref().map(agents::profile_name).unwrap_or("-"),
                a.ids.join(", "),
                a.spots.join(", ")
            ));
        }
    }
    // Agents first; then each resource (every live copy) after everything that depends on it.
    let del = DeleteOpts {
        delete_data: opts.delete_data,
        skip_final_snapshot: opts.skip_final_snapshot,
        delete_secrets_now: opts.delete_secrets_now,
    };
    let mut nodes = vec![Node {
        label: "agents (instances and spot requests of the resource pools)".into(),
        deps: Vec::new(),
        job: Job::Agents(filters),
    }];
    // A secret already scheduled for deletion is gone unless it is to go now.
    let owned: Vec<Live> = state
        .all_owned()
        .into_iter()
        .filter(|l| opts.delete_secrets_now || !secret::scheduled_for_deletion(l))
        .collect();
    nodes.extend(deletion_nodes(&plan, owned, del, 1, |_| vec![0]));
    // The resources (not rules) in the order they are deleted, with their labels.
    let lives: Vec<(&str, &Live)> = nodes
        .iter()
        .filter_map(|n| match &n.job {
            Job::Delete(l, _) if l.kind() != Kind::SecurityGroupRule => {
                Some((n.label.as_str(), &**l))
            }
            _ => None,
        })
        .collect();
    for (label, l) in &lives {
        let claimed = if state.claimed.contains(&l.id) {
            ", untagged and empty: left by an interrupted run"
        } else {
            ""
        };
        text.push_str(&format!(
            "  -   {label}  ({} {}{claimed})\n",
            kind_words(l.kind()),
            l.physical()
        ));
    }
    if !state.rules.is_empty() {
        text.push_str(&format!(
            "  -   {} rules of the deployment's security groups\n",
            state.rules.len()
        ));
    }
    let alone_text = if left_alone.is_empty() {
        String::new()
    } else {
        let mut t = String::from("Left alone (not owned by this deployment):\n");
        for l in &left_alone {
            t.push_str(&format!("  {l}\n"));
        }
        t
    };
    if lives.is_empty() && n_agents == 0 {
        if opts.json {
            ui.event(json!({"event": "summary", "command": "destroy", "done": [], "failed": [], "not_done": [], "left_alone": left_alone}));
        } else if !alone_text.is_empty() {
            ui.out(&alone_text);
        }
        ui.say(&format!(
            "Nothing to destroy: deployment \"{}\" owns nothing in {}.",
            plan.deployment.name, clients.region
        ));
        return Ok(());
    }
    if opts.json {
        ui.event(json!({"event": "destroy_plan", "resources": lives.iter().map(|(label, _)| label).collect::<Vec<_>>(), "agents": n_agents, "left_alone": left_alone}));
    } else {
        ui.out(&format!("detscript will delete:\n{text}\n{alone_text}"));
    }
    // Refuse before deleting anything if a bucket holds data and --delete-data is missing.
    let ctx = context(clients, &plan, &ui, &state);
    if !opts.delete_data {
        for (_, l) in lives
            .iter()
            .filter(|(_, l)| matches!(l.detail, Detail::S3Bucket(_)))
        {
            let n = rt
                .block_on(s3::count_objects(&ctx, &l.name))
                .map_err(|e| ui.fail(&format!("{e:#}")))?;
            if n > 0 {
                ui.say(&format!(
                    "error: bucket {} holds {n}{} objects (checkpoints); pass --delete-data to delete them with the bucket. Nothing was deleted.",
                    l.name,
                    if n >= 1000 { "+" } else { "" }
                ));
                return Err(Exit(exit::AWS));
            }
        }
    }
    confirm("destroy these resources", opts.yes)?;
    let t = Instant::now();
    let requests = ctx.clients.requests.clone();
    let (outcomes, _) = rt.block_on(execute(ctx, nodes, opts.parallelism, Attrs::default()));
    let ok = summarize(&ui, &outcomes, "destroy", t.elapsed(), requests.get());
    if !ui.is_json() {
        let mut report = String::from("Removed:\n");
        for o in outcomes
            .iter()
            .filter(|o| o.status == Status::Done && !o.label.starts_with("rule "))
        {
            let note = if o.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.note)
            };
            report.push_str(&format!("  {}{note}\n", o.label));
        }
        let left: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.status != Status::Done)
            .collect();
        // A final database snapshot is kept on purpose: say so, and where.
        let snapshots: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.status == Status::Done)
            .filter_map(|o| o.note.strip_prefix("final snapshot "))
            .collect();
        if left.is_empty() && snapshots.is_empty() {
            report.push_str("Nothing owned by this deployment is left behind.\n");
        } else if left.is_empty() {
            report.push_str(&format!(
                "Nothing owned by this deployment is left behind except the database's final snapshot {} (kept on purpose, in RDS snapshots of this region; delete it there when it is no longer needed).\n",
                snapshots.join(", ")
            ));
        } else {
            report.push_str("Left behind (could not be removed):\n");
            for o in left {
                let why = match &o.status {
                    Status::Failed(m) => format!(": {m}"),
                    Status::Skipped(w) => format!(": skipped, {w}"),
                    _ => ": not started".to_string(),
                };
                report.push_str(&format!("  {}{why}\n", o.label));
            }
        }
        report.push_str(&alone_text);
        ui.out(&report);
    }
    if ok { Ok(()) } else { Err(Exit(exit::AWS)) }
}
