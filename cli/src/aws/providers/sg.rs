//! Security groups and their rules (one authorize/revoke per rule, never the whole group).

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};
use detscript_engine::kinds::security_group_rule::{Direction, Peer as SpecPeer, Protocol};
use detscript_engine::kinds::{SecurityGroupRuleSpec, SecurityGroupSpec, TAG_DEPLOYMENT};
use detscript_engine::{Kind, Plan, Resource};

use super::{
    AttrMap, Cmp, Del, Detail, Have, LiveDetail, Provider, Vals, Want, all_items, attr_map, found,
    owned_by, planned, sdk_tags, tag_map,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err, code_of, retry_while, say_waiting};

/// The other side of a security group rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Group(String),
    V4(String),
    V6(String),
    Other(String),
}

/// A security group rule, identified by content (live, or as the plan wants it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub rule_id: String,
    pub group_id: String,
    pub egress: bool,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub peer: Peer,
    pub description: Option<String>,
}

impl LiveRule {
    pub fn describe(&self) -> String {
        let proto = if self.protocol == "-1" {
            "all traffic".to_string()
        } else if self.from == self.to {
            format!("{} {}", self.protocol, self.from)
        } else {
            format!("{} {}-{}", self.protocol, self.from, self.to)
        };
        let peer = match &self.peer {
            Peer::Group(g) | Peer::V4(g) | Peer::V6(g) | Peer::Other(g) => g.clone(),
        };
        if self.egress {
            format!("egress {proto} to {peer}")
        } else {
            format!("ingress {proto} from {peer}")
        }
    }

    /// The allow-all egress rule AWS adds to every new group.
    pub fn allow_all_egress(rule_id: &str, group_id: &str) -> LiveRule {
        LiveRule {
            rule_id: rule_id.into(),
            group_id: group_id.into(),
            egress: true,
            protocol: "-1".into(),
            from: -1,
            to: -1,
            peer: Peer::V4("0.0.0.0/0".into()),
            description: None,
        }
    }

    /// The rule a spec asks for, with the values known now (None while its group or peer is
    /// known only after apply).
    pub fn wanted(spec: &SecurityGroupRuleSpec, v: &Vals) -> Option<LiveRule> {
        let id_of = |r: &detscript_engine::Ref| v.attrs.get(&r.path());
        let peer = match &spec.peer {
            SpecPeer::Group(g) => Peer::Group(id_of(g)?),
            SpecPeer::Ipv4(c) => Peer::V4(v.known(c)?),
            SpecPeer::Ipv6(c) => Peer::V6(v.known(c)?),
        };
        let (from, to) = match spec.protocol {
            Protocol::All => (-1, -1),
            _ => (spec.from_port as i32, spec.to_port as i32),
        };
        Some(LiveRule {
            rule_id: String::new(),
            group_id: id_of(&spec.group)?,
            egress: spec.direction == Direction::Egress,
            protocol: spec.protocol.ip_protocol().to_string(),
            from,
            to,
            peer,
            description: spec.description.as_ref().and_then(|d| v.known(d)),
        })
    }

    /// True when `live` is this rule (descriptions aside).
    pub fn matches(&self, live: &LiveRule) -> bool {
        self.group_id == live.group_id
            && self.egress == live.egress
            && self.protocol == live.protocol
            && self.peer == live.peer
            && (self.protocol == "-1" || (self.from == live.from && self.to == live.to))
    }

    /// The rule as a live resource (for deletion jobs).
    pub fn to_live(&self) -> Live {
        Live {
            id: format!("rule {}", self.rule_id),
            name: self.rule_id.clone(),
            attrs: attr_map([("id", Some(self.rule_id.as_str()))]),
            detail: Detail::SecurityGroupRule(self.clone()),
        }
    }

    fn permission(&self, with_description: bool) -> IpPermission {
        let desc = self.description.clone().filter(|_| with_description);
        let mut b = IpPermission::builder().ip_protocol(&self.protocol);
        if self.protocol != "-1" {
            b = b.from_port(self.from).to_port(self.to);
        }
        b = match &self.peer {
            Peer::Group(g) => b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(desc)
                    .build(),
            ),
            Peer::V4(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(desc).build()),
            Peer::V6(c) => b.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(c)
                    .set_description(desc)
                    .build(),
            ),
            Peer::Other(p) => b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).build()),
        };
        b.build()
    }
}

/// A live group's settings.
#[derive(Debug, Clone)]
pub struct GroupLive {
    pub description: String,
    pub vpc_id: String,
}

pub struct SecurityGroup;
pub struct SecurityGroupRule;

/// EC2 tags of a resource, for a create call.
pub fn tag_spec(rt: ResourceType, r: &Resource) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(sdk_tags(r, |k, v| {
            Some(Tag::builder().key(k).value(v).build())
        })))
        .build()
}

/// A filter on one EC2 attribute.
pub fn filter(name: impl Into<String>, values: Vec<String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values))
        .build()
}

/// The default VPC's id.
pub async fn default_vpc(c: &Clients) -> Result<Option<String>> {
    Ok(crate::aws::default_vpc(c).await?.and_then(|v| v.vpc_id))
}

impl Provider for SecurityGroup {
    /// Groups by tag and by planned name, and every rule of the owned groups. One
    /// DescribeSecurityGroups: every group this deployment makes is named `<deployment>-...`,
    /// so the name pattern finds the owned groups and the same-named ones together.
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let dep = plan.deployment.name.as_str();
        let names = planned(plan, Kind::SecurityGroup);
        let mut patterns = vec![format!("{dep}-*")];
        patterns.extend(names.keys().cloned());
        let req = c
            .ec2
            .describe_security_groups()
            .filters(filter("group-name", patterns));
        let candidates = all_items!(req, "DescribeSecurityGroups", "")?;
        let owned = |g: &aws_sdk_ec2::types::SecurityGroup| {
            g.tags()
                .iter()
                .any(|t| t.key() == Some(TAG_DEPLOYMENT) && t.value() == Some(dep))
        };
        // The default VPC, where groups without a VPC of their own are created: read when a
        // planned group is not there yet, or a group not ours has a planned name (a conflict
        // there). An unchanged deployment does not need it.
        fn named(g: &aws_sdk_ec2::types::SecurityGroup) -> &str {
            g.group_name().unwrap_or_default()
        }
        let to_create = names
            .keys()
            .any(|n| !candidates.iter().any(|g| owned(g) && named(g) == n));
        let foreign = candidates
            .iter()
            .any(|g| !owned(g) && names.contains_key(named(g)));
        let mut st = State {
            vpc_id: if to_create || foreign {
                default_vpc(c).await?
            } else {
                None
            },
            ..State::default()
        };
        // Owned ones by their tag; others only when they take a planned name in the default
        // VPC, where groups are created (names are unique per VPC).
        let groups: Vec<_> = candidates
            .into_iter()
            .filter(|g| {
                owned(g)
                    || (names.contains_key(named(g))
                        && (st.vpc_id.is_none() || g.vpc_id() == st.vpc_id.as_deref()))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut owned_ids = Vec::new();
        for g in groups {
            let gid = g.group_id().unwrap_or_default().to_string();
            if !seen.insert(gid.clone()) {
                continue;
            }
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            let name = g.group_name().unwrap_or_default().to_string();
            let detail = Detail::SecurityGroup(GroupLive {
                description: g.description().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            });
            let live = Live::new(
                &name,
                attr_map([("id", Some(gid.as_str())), ("name", Some(&name))]),
                detail,
            );
            if owned_by(&tags, dep) {
                owned_ids.push(gid);
            }
            st.add(dep, &tags, live, names.get(&name).map(String::as_str));
        }
        if !owned_ids.is_empty() {
            let req = c
                .ec2
                .describe_security_group_rules()
                .filters(filter("group-id", owned_ids.clone()));
            for r in all_items!(req, "DescribeSecurityGroupRules", "")? {
                let group_id = r.group_id().unwrap_or_default().to_string();
                if !owned_ids.contains(&group_id) {
                    continue;
                }
                let peer = if let Some(g) = r.referenced_group_info().and_then(|g| g.group_id()) {
                    Peer::Group(g.to_string())
                } else if let Some(c4) = r.cidr_ipv4() {
                    Peer::V4(c4.to_string())
                } else if let Some(c6) = r.cidr_ipv6() {
                    Peer::V6(c6.to_string())
                } else {
                    Peer::Other(r.prefix_list_id().unwrap_or("?").to_string())
                };
                let rule = LiveRule {
                    rule_id: r.security_group_rule_id().unwrap_or_default().to_string(),
                    group_id,
                    egress: r.is_egress().unwrap_or(false),
                    protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                    from: r.from_port().unwrap_or(-1),
                    to: r.to_port().unwrap_or(-1),
                    peer,
                    description: r.description().map(str::to_string),
                };
                st.rules.push(rule.to_live());
            }
        }
        Ok(st)
    }

    fn create_notes(_: &SecurityGroupSpec) -> Vec<String> {
        vec!["AWS's default allow-all egress rule will be revoked: egress rules are explicit in the script".into()]
    }

    fn compare(spec: &SecurityGroupSpec, Have { live, d: g }: Have<'_, Self>, cx: &Cmp) -> Action {
        let want = cx.vals.shown(&spec.description);
        if want != g.description {
            return Action::Replace(format!(
                "description \"{}\" -> \"{want}\" cannot change in place",
                g.description
            ));
        }
        if spec.group_name != live.name {
            return Action::Replace(format!("name {} -> {}", live.name, spec.group_name));
        }
        // A script's own VPC (a script without one keeps the default VPC's groups).
        let Some(want) = &spec.vpc_id else {
            return Action::NoOp;
        };
        match cx.vals.known(want) {
            Some(v) if v == g.vpc_id => Action::NoOp,
            Some(v) => Action::Replace(format!("VPC {} -> {v}", g.vpc_id)),
            None => Action::Replace("VPC (known after apply)".into()),
        }
    }

    fn uses(g: &GroupLive) -> Vec<String> {
        vec![g.vpc_id.clone()]
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let c = &ctx.clients;
        let name = spec.group_name.clone();
        let description = v.text(&spec.description)?;
        let vpc = match (&spec.vpc_id, &ctx.vpc_id) {
            (Some(t), _) => Some(v.text(t)?),
            (None, Some(v)) => Some(v.clone()),
            (None, None) => default_vpc(c).await?,
        };
        let Some(vpc) = vpc else {
            bail!(
                "no default VPC in {}: security group {name} needs one",
                c.region
            );
        };
        let out = c
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(if description.is_empty() {
                &name
            } else {
                &description
            })
            .vpc_id(&vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, r))
            .send()
            .await
            .map_err(|e| aws_err("CreateSecurityGroup", &name, e))?;
        let gid = out.group_id().unwrap_or_default().to_string();
        // AWS adds an allow-all egress rule to every new group; the script's egress is explicit.
        let default_egress = LiveRule::allow_all_egress("", &gid);
        revoke(
            ctx,
            &default_egress,
            "RevokeSecurityGroupEgress (default rule)",
        )
        .await?;
        Ok(attr_map([
            ("id", Some(gid.as_str())),
            ("name", Some(&name)),
        ]))
    }

    /// Deletes the group, retrying `DependencyViolation` (ENIs draining) for a while.
    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let gid = live.physical();
        let ec2 = ctx.clients.ec2.clone();
        let res = retry_while(
            ctx.waits.dependency_violation,
            || {
                let ec2 = ec2.clone();
                let gid = gid.clone();
                async move { ec2.delete_security_group().group_id(gid).send().await }
            },
            |e| is_dependency_violation(code_of(e)),
            say_waiting(ctx, &live.id, "still in use", "DependencyViolation"),
        )
        .await;
        found(res, &["InvalidGroup.NotFound"], "DeleteSecurityGroup", &gid)?;
        Ok(String::new())
    }
}

/// True for the error AWS returns while ENIs of terminated instances still use a group.
pub fn is_dependency_violation(code: Option<&str>) -> bool {
    code == Some("DependencyViolation")
}

impl Provider for SecurityGroupRule {
    /// Rules are read with their groups ([`SecurityGroup::discover`]).
    async fn discover(_: &Clients, _: &Plan) -> Result<State> {
        Ok(State::default())
    }

    /// Rules are identified by content: the first live rule of the group that matches and
    /// that no other planned rule matched.
    fn find<'s>(
        state: &'s State,
        _r: &Resource,
        spec: &SecurityGroupRuleSpec,
        cx: &mut Cmp,
    ) -> Option<Have<'s, Self>> {
        let want = LiveRule::wanted(spec, &cx.vals)?;
        let hit: Have<Self> = state.rules.iter().find_map(|live| {
            let d = LiveRule::of(&live.detail)?;
            (!cx.used_rules.contains(&d.rule_id) && want.matches(d)).then_some(Have { live, d })
        })?;
        cx.used_rules.insert(hit.d.rule_id.clone());
        Some(hit)
    }

    fn compare(_: &SecurityGroupRuleSpec, _: Have<'_, Self>, _: &Cmp) -> Action {
        Action::NoOp
    }

    fn uses(d: &LiveRule) -> Vec<String> {
        let mut out = vec![d.group_id.clone()];
        if let Peer::Group(g) = &d.peer {
            out.push(g.clone());
        }
        out
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let Some(w) = LiveRule::wanted(spec, &v) else {
            bail!("{}: security group id not resolved", r.id);
        };
        let perm = w.permission(true);
        let tags = tag_spec(ResourceType::SecurityGroupRule, r);
        let ec2 = &ctx.clients.ec2;
        const DUP: &[&str] = &["InvalidPermission.Duplicate"];
        // Already there (e.g. a retried call): converged.
        // The egress and ingress calls take the same fields (their builders are different types).
        macro_rules! authorize {
            ($req:expr, $op:literal) => {{
                let req = $req.tag_specifications(tags);
                let res = req.group_id(&w.group_id).ip_permissions(perm).send().await;
                found(res, DUP, $op, &r.id)?.map(|o| o.security_group_rules().to_vec())
            }};
        }
        let rules = if w.egress {
            authorize!(
                ec2.authorize_security_group_egress(),
                "AuthorizeSecurityGroupEgress"
            )
        } else {
            authorize!(
                ec2.authorize_security_group_ingress(),
                "AuthorizeSecurityGroupIngress"
            )
        };
        let id = rules
            .unwrap_or_default()
            .first()
            .and_then(|r| r.security_group_rule_id().map(str::to_string));
        Ok(attr_map([("id", id.as_deref())]))
    }

    async fn delete(ctx: &Ctx, Del { d: rule, .. }: Del<'_, Self>) -> Result<String> {
        let op = if rule.egress {
            "RevokeSecurityGroupEgress"
        } else {
            "RevokeSecurityGroupIngress"
        };
        revoke(ctx, rule, op).await?;
        Ok(rule.describe())
    }
}

/// Revokes one rule; a rule already gone is fine.
async fn revoke(ctx: &Ctx, rule: &LiveRule, op: &str) -> Result<()> {
    let perm = rule.permission(false);
    let ec2 = &ctx.clients.ec2;
    const GONE: &[&str] = &["InvalidPermission.NotFound"];
    let gid = &rule.group_id;
    if rule.egress {
        let res = ec2.revoke_security_group_egress().group_id(gid);
        found(res.ip_permissions(perm).send().await, GONE, op, gid)?;
    } else {
        let res = ec2.revoke_security_group_ingress().group_id(gid);
        found(res.ip_permissions(perm).send().await, GONE, op, gid)?;
    }
    Ok(())
}
