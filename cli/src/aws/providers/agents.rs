//! The agents the master launched: instances and spot requests that carry a pool's tag and
//! its instance profile. `destroy` and upgrades terminate them; they are not plan resources.

use std::collections::BTreeSet;

use anyhow::Result;
use detscript_engine::{Kind, Plan};

use super::sg::filter;
use crate::aws::discover::State;
use crate::aws::{Attrs, Clients, Ctx, aws_err};

/// How `destroy` recognises the agents of one resource pool: the pool's tag pair AND the
/// pool's instance profile (one this deployment owns). `profile` is None when the pool has no
/// such profile: then no instance can be told apart from someone else's, and none is ours.
#[derive(Debug, Clone)]
pub struct AgentFilter {
    pub key: String,
    pub value: String,
    pub profile: Option<String>,
}

impl AgentFilter {
    pub fn tag(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// What carries a pool's tag.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    /// Instances (not terminated) with the tag and the pool's instance profile.
    pub ids: Vec<String>,
    /// Open or active spot requests with the tag and the pool's instance profile.
    pub spots: Vec<String>,
    /// Instances with the tag but another (or no) instance profile: not ours.
    pub others: Vec<String>,
    /// Spot requests with the tag but another (or no) instance profile.
    pub other_spots: Vec<String>,
}

/// The name of an instance profile given by ARN (`arn:...:instance-profile/path/name`) or name.
pub fn profile_name(arn_or_name: &str) -> &str {
    match arn_or_name.split_once(":instance-profile/") {
        Some((_, rest)) => rest.rsplit('/').next().unwrap_or(rest),
        None => arn_or_name,
    }
}

/// True when an instance's profile (ARN or name) is `want` (ARN or name). Instances can only
/// use profiles of their own account, so the name decides.
pub fn same_profile(have: Option<&str>, want: Option<&str>) -> bool {
    match (have, want) {
        (Some(h), Some(w)) => profile_name(h) == profile_name(w),
        _ => false,
    }
}

/// Instances (not terminated) and open spot requests carrying the pool's tag, split into this
/// deployment's agents (with the pool's profile) and others.
pub async fn find_agents(c: &Clients, f: &AgentFilter) -> Result<Agents> {
    let (key, value) = (&f.key, &f.value);
    let inst = c
        .ec2
        .describe_instances()
        .filters(filter(format!("tag:{key}"), vec![value.into()]))
        .filters(filter(
            "instance-state-name",
            ["pending", "running", "stopping", "stopped", "shutting-down"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_err("DescribeInstances", &format!("tag {key}={value}"), e))?;
    let mut out = Agents::default();
    for i in inst.iter().flat_map(|r| r.instances()) {
        let Some(iid) = i.instance_id().map(str::to_string) else {
            continue;
        };
        let have = i.iam_instance_profile().and_then(|p| p.arn());
        if same_profile(have, f.profile.as_deref()) {
            out.ids.push(iid);
        } else {
            out.others.push(iid);
        }
    }
    let spot = c
        .ec2
        .describe_spot_instance_requests()
        .filters(filter(format!("tag:{key}"), vec![value.into()]))
        .send()
        .await
        .map_err(|e| {
            aws_err(
                "DescribeSpotInstanceRequests",
                &format!("tag {key}={value}"),
                e,
            )
        })?;
    for s in spot.spot_instance_requests().iter().filter(|s| {
        matches!(
            s.state().map(|s| s.as_str()),
            Some("open") | Some("active") | None
        )
    }) {
        let Some(id) = s.spot_instance_request_id().map(str::to_string) else {
            continue;
        };
        let p = s
            .launch_specification()
            .and_then(|l| l.iam_instance_profile());
        let have = p.and_then(|p| p.arn().or(p.name()));
        if same_profile(have, f.profile.as_deref()) {
            out.spots.push(id);
        } else {
            out.other_spots.push(id);
        }
    }
    Ok(out)
}

pub async fn cancel_spot(ctx: &Ctx, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    ctx.clients
        .ec2
        .cancel_spot_instance_requests()
        .set_spot_instance_request_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| aws_err("CancelSpotInstanceRequests", &ids.join(","), e))?;
    Ok(())
}

/// How `destroy` and upgrades find each pool's agents: its tag pair and its instance profile, resolved
/// from the deployment's live instance profile (None when the pool's profile is not one this
/// deployment owns: then no instance counts as an agent).
pub fn filters(plan: &Plan, state: &State) -> Vec<AgentFilter> {
    let mut attrs = Attrs::default();
    for (id, l) in &state.owned {
        attrs.insert_all(id, &l.attrs);
    }
    let owned_profiles: BTreeSet<&str> = state
        .owned
        .values()
        .filter(|l| l.kind() == Kind::InstanceProfile)
        .map(|l| l.name.as_str())
        .collect();
    let mut out: Vec<AgentFilter> = Vec::new();
    for p in plan.agent_pools() {
        let profile = p
            .instance_profile
            .and_then(|t| t.resolve(&|r| attrs.get(&r.path()), None).ok())
            .filter(|arn| owned_profiles.contains(profile_name(arn)));
        let f = AgentFilter {
            key: p.tag_key,
            value: p.tag_value,
            profile,
        };
        if !out
            .iter()
            .any(|o| o.key == f.key && o.value == f.value && o.profile == f.profile)
        {
            out.push(f);
        }
    }
    out.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
    out
}

/// What [`terminate_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Terminated {
    pub instances: usize,
    pub spots: usize,
    /// Instances and spot requests with a pool's tag that are not this deployment's.
    pub left_alone: usize,
}

impl Terminated {
    /// The line for the report.
    pub fn note(&self) -> String {
        let mut note = format!(
            "{} agent instances terminated, {} spot requests cancelled",
            self.instances, self.spots
        );
        if self.left_alone > 0 {
            note.push_str(&format!(
                "; {} with the agent tag left alone (another or no instance profile: not ours)",
                self.left_alone
            ));
        }
        note
    }
}

/// Cancels the spot requests and terminates the instances of each pool's agents (found again
/// now), waiting until they are terminated.
pub async fn terminate_all(ctx: &Ctx, pools: &[AgentFilter]) -> Result<Terminated> {
    let mut t = Terminated::default();
    for f in pools {
        let a = find_agents(&ctx.clients, f).await?;
        cancel_spot(ctx, &a.spots).await?;
        super::ec2::terminate(ctx, &a.ids).await?;
        t.instances += a.ids.len();
        t.spots += a.spots.len();
        t.left_alone += a.others.len() + a.other_spots.len();
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_told_apart_by_the_instance_profile_name() {
        let ours = "arn:aws:iam::123456789012:instance-profile/det-agent";
        assert_eq!(profile_name(ours), "det-agent");
        assert_eq!(
            profile_name("arn:aws:iam::1:instance-profile/a/b/det-agent"),
            "det-agent"
        );
        assert!(same_profile(Some(ours), Some(ours)));
        assert!(same_profile(Some("det-agent"), Some(ours)));
        assert!(!same_profile(
            Some("arn:aws:iam::123456789012:instance-profile/other"),
            Some(ours)
        ));
        assert!(!same_profile(None, Some(ours)));
        assert!(!same_profile(Some(ours), None));
    }
}
