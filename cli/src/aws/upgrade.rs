//! Upgrades of Determined: a change of the master's image (and the agents' image) on a live
//! cluster is a plan of its own, run in this order:
//!
//! 1. stop the old master, so that it launches no new agents and writes nothing more to the
//!    database (the snapshot is then consistent);
//! 2. snapshot the database (cluster or instance snapshot named after the deployment and both
//!    versions) and wait for it, unless `--skip-db-snapshot`;
//! 3. terminate the agents of the old version (the pools' tag AND this deployment's agent
//!    instance profile; anything else carrying the tag is left alone) and cancel their spot
//!    requests;
//! 4. replace the master: a new instance boots with the new image. The master keeps no state
//!    of its own (the database is RDS, checkpoints are in S3), and its user-data runs only at
//!    first boot, so a replacement instance is the one mechanism that needs no agent on the
//!    host (SSM Run Command would need the SSM agent and a managed-instance policy on the
//!    master's role, which the guide's role lacks). The database is kept; the new master
//!    migrates its schema when it starts;
//! 5. wait for the master's `/info` to answer with the new version ([`super::health`]).
//!
//! The live version is the tag of the image in the live master's user-data (`docker pull
//! IMAGE`), the agents' in its master.yaml (`agent_docker_image:`). Versions compare as semver:
//! a lower version than the live one is refused unless `--allow-downgrade`, because
//! Determined's database migrations only go forward.

use std::cmp::Ordering;

use anyhow::{Context as _, Result, bail};
use detscript_engine::{Kind, Plan};
use serde_json::json;

use super::diff::{Action, Change};
use super::discover::State;
use super::providers::agents::{self, AgentFilter, Agents};
use super::providers::rds::{self, DbTarget};
use super::providers::{Detail, ec2};
use super::{Clients, Ctx, aws_err, wait_for};

pub use crate::cli::UpgradeArgs as UpgradeOpts;

/// A version change of the master (and agent) images on a live master.
#[derive(Debug, Clone)]
pub struct Upgrade {
    pub deployment: String,
    /// The master's logical id and its live instance.
    pub master: String,
    pub instance_id: String,
    /// The master's image, live and planned.
    pub image: FromTo<String>,
    /// The agents' images, live and planned.
    pub agents: FromTo<Vec<String>>,
    /// The live and planned versions (image tags).
    pub version: FromTo<String>,
    /// The planned version is lower than the live one (semver).
    pub downgrade: bool,
    pub db: Option<DbTarget>,
    /// How the agents are found (pool tag and this deployment's agent profile).
    pub filters: Vec<AgentFilter>,
    /// What carries each pool's tag now (filled by [`inspect`]).
    pub found: Vec<Agents>,
}

/// What is live and what the plan has, of one thing an upgrade changes.
#[derive(Debug, Clone, PartialEq)]
pub struct FromTo<T> {
    pub from: T,
    pub to: T,
}

/// The tag of an image reference (`repo/name:TAG[@digest]`), if it has one.
pub fn image_version(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':')
        .map(|(_, tag)| tag)
        .filter(|t| !t.is_empty())
}

fn semver(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.trim_start_matches('v')).ok()
}

/// The image's tag when it is a version (`0.38.0`, `v0.38.0`), not `latest` or a branch.
pub fn version_tag(image: &str) -> Option<&str> {
    image_version(image).filter(|t| semver(t).is_some())
}

/// The images a master's user-data runs: its own (`docker pull IMAGE`) and the agents'
/// (`agent_docker_image:` in master.yaml), sorted and deduplicated.
pub fn live_images(user_data: &str) -> (Option<String>, Vec<String>) {
    let unquote = |s: &str| s.trim().trim_matches('\'').trim_matches('"').to_string();
    let master = user_data
        .lines()
        .find_map(|l| l.strip_prefix("docker pull "))
        .map(unquote);
    let mut agents: Vec<String> = user_data
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("agent_docker_image:"))
        .map(unquote)
        .collect();
    agents.sort();
    agents.dedup();
    (master, agents)
}

/// The agent images the plan's pools run, sorted and deduplicated.
fn planned_agent_images(plan: &Plan) -> Vec<String> {
    let Some(m) = plan.master() else {
        return Vec::new();
    };
    let mut out: Vec<String> = m
        .config
        .resource_pools
        .iter()
        .filter_map(|p| p.provider.as_ref()?.agent_docker_image.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// An upgrade, when the diff replaces a live master whose images differ from the plan's.
pub fn detect(plan: &Plan, state: &State, changes: &[Change]) -> Option<Upgrade> {
    let m = plan.master()?;
    let id = format!("{}.{}", Kind::Ec2Instance.as_str(), m.instance_name);
    let change = changes.iter().find(|c| c.id == id)?;
    if !matches!(change.action, Action::Replace(_)) {
        return None;
    }
    let live = state.owned.get(&id)?;
    let Detail::Ec2Instance(d) = &live.detail else {
        return None;
    };
    let (from_image, from_agents) = live_images(d.user_data.as_deref()?);
    let from_image = from_image?;
    let to_agents = planned_agent_images(plan);
    if from_image == m.image && from_agents == to_agents {
        return None;
    }
    let from = image_version(&from_image).unwrap_or("unknown").to_string();
    let to = image_version(&m.image).unwrap_or("unknown").to_string();
    let downgrade = matches!(
        (semver(&to), semver(&from)),
        (Some(t), Some(f)) if t.cmp(&f) == Ordering::Less
    );
    Some(Upgrade {
        deployment: plan.deployment.name.clone(),
        master: id,
        instance_id: live.physical(),
        image: FromTo {
            from: from_image,
            to: m.image.clone(),
        },
        agents: FromTo {
            from: from_agents,
            to: to_agents,
        },
        version: FromTo { from, to },
        downgrade,
        db: DbTarget::of(state),
        filters: agents::filters(plan, state),
        found: Vec::new(),
    })
}

/// Reads what carries each pool's tag now, for the plan's text.
pub async fn inspect(c: &Clients, u: &mut Upgrade) -> Result<()> {
    let mut found = Vec::new();
    for f in &u.filters {
        found.push(agents::find_agents(c, f).await?);
    }
    u.found = found;
    Ok(())
}

/// The snapshot's name: deployment, both versions and the UTC minute, at most 63 characters
/// of letters, digits and single hyphens (RDS's rule for cluster snapshot identifiers).
pub fn snapshot_name(deployment: &str, from: &str, to: &str, utc: &str) -> String {
    let clean = |s: &str| -> String {
        let mapped: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        mapped
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    };
    let tail = clean(&format!("{from}-to-{to}-{utc}"));
    let mut head = clean(deployment);
    if !head.starts_with(|c: char| c.is_ascii_alphabetic()) {
        head.insert(0, 'd');
    }
    let room = 63usize.saturating_sub(tail.len() + 1).max(1);
    head.truncate(room);
    let mut name = format!("{}-{tail}", head.trim_end_matches('-'));
    // Very long version tags: cut the end, never leaving a trailing hyphen.
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// The current UTC time as `YYYYMMDDhhmm`.
fn utc_minute() -> String {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let s = now
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    s.chars().filter(char::is_ascii_digit).take(12).collect()
}

impl Upgrade {
    pub fn label(&self) -> String {
        let what = if self.downgrade {
            "DOWNGRADE"
        } else {
            "Upgrade"
        };
        format!(
            "{what} of Determined {} -> {}",
            self.version.from, self.version.to
        )
    }

    fn agent_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, f) in self.filters.iter().enumerate() {
            let profile = f.profile.as_deref().map(agents::profile_name);
            let now = match self.found.get(i) {
                Some(a) => format!(
                    ": now instances [{}], spot requests [{}]",
                    a.ids.join(", "),
                    a.spots.join(", ")
                ),
                None => String::new(),
            };
            match profile {
                Some(p) => out.push(format!(
                    "agents tagged {} with instance profile {p}{now}",
                    f.tag()
                )),
                None => out.push(format!(
                    "none tagged {}: the pool has no instance profile of this deployment",
                    f.tag()
                )),
            }
            if let Some(a) = self.found.get(i) {
                let n = a.others.len() + a.other_spots.len();
                if n > 0 {
                    out.push(format!(
                        "left alone: {n} with the tag but another instance profile [{}]",
                        a.others
                            .iter()
                            .chain(&a.other_spots)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        out
    }

    /// The upgrade's steps and what users see, for the diff's text.
    pub fn render(&self) -> String {
        let mut t = format!("\n{}:\n", self.label());
        t.push_str(&format!(
            "  master image {} -> {}\n",
            self.image.from, self.image.to
        ));
        if self.agents.from != self.agents.to {
            t.push_str(&format!(
                "  agent image {} -> {}\n",
                self.agents.from.join(", "),
                self.agents.to.join(", ")
            ));
        }
        if self.downgrade {
            t.push_str(&format!(
                "  `run` refuses this unless --allow-downgrade: Determined's database migrations only go forward \
(a database migrated by {} may not work with {}); to go back, restore the snapshot taken before the upgrade.\n",
                self.version.from, self.version.to
            ));
        }
        t.push_str(&format!(
            "  1. stop the master {} so that it launches no new agents\n",
            self.instance_id
        ));
        match &self.db {
            Some(db) => t.push_str(&format!(
                "  2. snapshot the database ({} {}) as {} and wait for it (--skip-db-snapshot skips this)\n",
                db.words(),
                db.name(),
                snapshot_name(&self.deployment, &self.version.from, &self.version.to, "<UTC time>")
                    .replace("UTC-time", "<UTC time>")
            )),
            None => t.push_str("  2. no live database to snapshot\n"),
        }
        t.push_str("  3. terminate the agents of the old version:\n");
        for l in self.agent_lines() {
            t.push_str(&format!("       {l}\n"));
        }
        t.push_str(&format!(
            "  4. replace the master ({}): a new instance boots with {}; the database is kept and \
the new master migrates its schema\n",
            self.master, self.image.to
        ));
        t.push_str(&format!(
            "  5. wait for the master's /info to answer with version {} (--no-wait skips this)\n",
            self.version.to
        ));
        t.push_str(
            "  Users will see: the web UI, API and CLI down from step 1 until the new master answers (often 5-15 \
minutes); running trials stop with their agents and continue from their latest checkpoint once the new master \
launches agents again; queued work waits. Experiments are kept.\n",
        );
        t
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "from": self.version.from,
            "to": self.version.to,
            "downgrade": self.downgrade,
            "master": self.master,
            "instance_id": self.instance_id,
            "master_image": [self.image.from, self.image.to],
            "agent_images": [self.agents.from, self.agents.to],
            "database": self.db.as_ref().map(|d| json!({"kind": d.words(), "name": d.name()})),
            "agents": self.filters.iter().enumerate().map(|(i, f)| json!({
                "tag": f.tag(),
                "instance_profile": f.profile.as_deref().map(agents::profile_name),
                "instances": self.found.get(i).map(|a| a.ids.clone()).unwrap_or_default(),
                "spot_requests": self.found.get(i).map(|a| a.spots.clone()).unwrap_or_default(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Why `run` refuses it, if it does.
    pub fn refusal(&self, opts: &UpgradeOpts) -> Option<String> {
        (self.downgrade && !opts.allow_downgrade).then(|| {
            format!(
                "{} -> {} is a downgrade of Determined; its database migrations only go forward, so the older \
master may not start on the migrated database. Restore the snapshot taken before the upgrade instead, or pass \
--allow-downgrade if you know this version pair is compatible",
                self.version.from, self.version.to
            )
        })
    }
}

/// What the steps before the master's replacement left.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub snapshot: Option<String>,
    pub agents: agents::Terminated,
}

/// Steps 1-3: stop the old master, snapshot the database, terminate the old agents.
pub async fn prepare(ctx: &Ctx, u: &Upgrade, opts: &UpgradeOpts) -> Result<Prepared> {
    let ui = &ctx.ui;
    let label = "upgrade";
    ui.resource(
        label,
        "stopping",
        None,
        &format!("master {}", u.instance_id),
    );
    stop_instance(ctx, &u.instance_id).await?;
    let mut out = Prepared::default();
    match (&u.db, opts.skip_db_snapshot) {
        (Some(db), false) => {
            let snap = snapshot_name(&u.deployment, &u.version.from, &u.version.to, &utc_minute());
            ui.resource(
                label,
                "snapshotting",
                None,
                &format!("{} {} as {snap}", db.words(), db.name()),
            );
            rds::snapshot(
                ctx,
                db,
                &snap,
                &format!("{}->{}", u.version.from, u.version.to),
            )
            .await
            .with_context(|| format!("snapshot of {} before the upgrade", db.name()))?;
            out.snapshot = Some(snap);
        }
        (Some(db), true) => ui.resource(
            label,
            "no snapshot",
            None,
            &format!("of {} (--skip-db-snapshot)", db.name()),
        ),
        (None, _) => {}
    }
    ui.resource(label, "terminating", None, "the agents of the old version");
    out.agents = agents::terminate_all(ctx, &u.filters).await?;
    ui.resource(label, "ready", None, &out.agents.note());
    Ok(out)
}

/// Stops an instance and waits until it is stopped (a stopped or terminated one is fine).
async fn stop_instance(ctx: &Ctx, iid: &str) -> Result<()> {
    let ec2c = &ctx.clients.ec2;
    ec2c.stop_instances()
        .instance_ids(iid)
        .send()
        .await
        .map_err(|e| aws_err("StopInstances", iid, e))?;
    let what = format!("EC2 instance {iid} to stop");
    wait_for(&what, ctx.waits.ec2, || async {
        match ec2::instance_state(ctx, iid).await?.as_deref() {
            Some("stopped" | "terminated") | None => Ok(Some(())),
            Some("stopping" | "pending" | "running" | "shutting-down") => Ok(None),
            Some(other) => bail!("instance {iid} is {other}"),
        }
    })
    .await
}

/// Says how the upgrade went: a JSON event, or the lines `run` ends an upgrade with (the
/// snapshot, and how to go back).
pub fn report(ui: &super::ui::Ui, u: &Upgrade, p: &Prepared, region: &str) {
    ui.event(json!({
        "event": "upgrade",
        "from": u.version.from,
        "to": u.version.to,
        "snapshot": p.snapshot,
        "agents_terminated": p.agents.instances,
        "spot_requests_cancelled": p.agents.spots,
    }));
    if !ui.is_json() {
        ui.say(&report_text(u, p, region));
    }
}

fn report_text(u: &Upgrade, p: &Prepared, region: &str) -> String {
    let mut t = format!("\n{} done ({}).\n", u.label(), p.agents.note());
    match (&p.snapshot, &u.db) {
        (Some(s), Some(DbTarget::Cluster(_))) => t.push_str(&format!(
            "Database snapshot: {s}. To roll back, restore it (aws rds restore-db-cluster-from-snapshot \
--snapshot-identifier {s} --region {region} ...) and run the old version with --allow-downgrade.\n"
        )),
        (Some(s), _) => t.push_str(&format!(
            "Database snapshot: {s}. To roll back, restore it (aws rds restore-db-instance-from-db-snapshot \
--db-snapshot-identifier {s} --region {region} ...) and run the old version with --allow-downgrade.\n"
        )),
        (None, _) => t.push_str("No database snapshot was taken.\n"),
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_the_image_tags() {
        assert_eq!(
            image_version("determinedai/determined-master:0.38.0"),
            Some("0.38.0")
        );
        assert_eq!(
            image_version("registry:5000/det/master:0.37.1@sha256:abc"),
            Some("0.37.1")
        );
        assert_eq!(image_version("registry:5000/det/master"), None);
        assert!(semver("0.38.0") > semver("0.37.9"));
        assert!(semver("v0.38.0").is_some());
        assert_eq!(version_tag("determinedai/determined-master:latest"), None);
        assert_eq!(version_tag("m:v0.38.0"), Some("v0.38.0"));
    }

    #[test]
    fn the_live_images_are_read_from_the_user_data() {
        let ud = "#!/bin/bash\ncat > x <<'EOF'\nresource_pools:\n  - provider:\n      agent_docker_image: determinedai/determined-agent:0.37.0\nEOF\ndocker pull 'determinedai/determined-master:0.37.0'\n";
        let (m, a) = live_images(ud);
        assert_eq!(m.as_deref(), Some("determinedai/determined-master:0.37.0"));
        assert_eq!(a, vec!["determinedai/determined-agent:0.37.0".to_string()]);
    }

    #[test]
    fn snapshot_names_follow_the_rds_rules() {
        let n = snapshot_name("det-demo", "0.37.0", "0.38.0", "202611291920");
        assert_eq!(n, "det-demo-0-37-0-to-0-38-0-202611291920");
        let long = snapshot_name(&"x".repeat(80), "0.37.0", "0.38.0", "202611291920");
        assert!(long.len() <= 63, "{long}");
        assert!(!long.contains("--"));
        let tags = snapshot_name("d", &"1".repeat(70), &"2".repeat(70), "1");
        assert!(tags.len() <= 63 && !tags.ends_with('-'), "{tags}");
        let odd = snapshot_name("9-a--b", "v1", "v2", "1");
        assert!(odd.starts_with(|c: char| c.is_ascii_alphabetic()), "{odd}");
        assert!(!odd.contains("--"), "{odd}");
    }

    #[test]
    fn a_downgrade_is_refused_without_the_flag() {
        let u = Upgrade {
            deployment: "d".into(),
            master: "ec2_instance.master".into(),
            instance_id: "i-1".into(),
            image: FromTo {
                from: "m:0.38.0".into(),
                to: "m:0.37.0".into(),
            },
            agents: FromTo {
                from: vec![],
                to: vec![],
            },
            version: FromTo {
                from: "0.38.0".into(),
                to: "0.37.0".into(),
            },
            downgrade: true,
            db: None,
            filters: vec![],
            found: vec![],
        };
        assert!(u.refusal(&UpgradeOpts::default()).is_some());
        let allow = UpgradeOpts {
            allow_downgrade: true,
            ..UpgradeOpts::default()
        };
        assert!(u.refusal(&allow).is_none());
        assert!(u.render().contains("refuses this unless --allow-downgrade"));
    }

    /// The README's "Upgrading" and "Waiting for the master" sections say what the code does.
    #[test]
    fn the_readme_describes_these_flags_names_and_defaults() {
        use clap::CommandFactory as _;
        let readme = include_str!("../../../README.md");
        let cli = crate::cli::Cli::command();
        let run = cli.find_subcommand("run").expect("run");
        for flag in [
            "skip-db-snapshot",
            "allow-downgrade",
            "no-wait",
            "wait-timeout",
        ] {
            assert!(
                readme.contains(&format!("`--{flag}`")),
                "README lacks --{flag}"
            );
            assert!(
                run.get_arguments().any(|a| a.get_long() == Some(flag)),
                "run lacks --{flag}"
            );
        }
        let default = UpgradeOpts::default().wait_timeout;
        assert!(readme.contains(&format!("`--wait-timeout` seconds (default {default})")));
        for name in [
            super::super::health::HEALTH_URL_ENV,
            super::super::health::HEARTBEAT_ENV,
        ] {
            assert!(readme.contains(&format!("`{name}`")), "{name}");
        }
        assert!(readme.contains("`/var/log/cloud-init-output.log`"));
        let example = snapshot_name("det-demo", "0.37.0", "0.38.0", "202611291920");
        assert!(readme.contains(&format!("e.g. `{example}`")), "{example}");
    }
}
