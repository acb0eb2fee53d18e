//! Security groups and their rules (one authorize/revoke per rule, never the whole group).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use detscript_engine::Resource;
use serde_json::Value;

use super::diff::WantRule;
use super::discover::{LiveRule, Peer};
use super::{Ctx, aws_err, code_of, message_of, retry_while, str_prop};

pub fn tag_spec(rt: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

pub async fn create_group(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
) -> Result<BTreeMap<String, String>> {
    let c = &ctx.clients;
    let name = str_prop(props, "group_name").unwrap_or(&r.name).to_string();
    let vpc = match &ctx.vpc_id {
        Some(v) => Some(v.clone()),
        None => super::discover::default_vpc(c).await?,
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
        .description(str_prop(props, "description").unwrap_or(&name))
        .vpc_id(&vpc)
        .tag_specifications(tag_spec(
            ResourceType::SecurityGroup,
            &ctx.owner_tags(&r.id),
        ))
        .send()
        .await
        .map_err(|e| aws_err("CreateSecurityGroup", &name, e))?;
    let gid = out.group_id().unwrap_or_default().to_string();
    // AWS adds an allow-all egress rule to every new group; the script's egress is explicit.
    revoke_default_egress(ctx, &gid).await?;
    Ok([("id".to_string(), gid), ("name".to_string(), name)]
        .into_iter()
        .collect())
}

async fn revoke_default_egress(ctx: &Ctx, gid: &str) -> Result<()> {
    let perm = IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    match ctx
        .clients
        .ec2
        .revoke_security_group_egress()
        .group_id(gid)
        .ip_permissions(perm)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code_of(&e) == Some("InvalidPermission.NotFound") => Ok(()),
        Err(e) => Err(aws_err("RevokeSecurityGroupEgress (default rule)", gid, e)),
    }
}

fn permission(proto: &str, from: i32, to: i32, peer: &Peer, desc: Option<&str>) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(proto);
    if proto != "-1" {
        b = b.from_port(from).to_port(to);
    }
    b = match peer {
        Peer::Group(g) => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(desc.map(str::to_string))
                .build(),
        ),
        Peer::V4(c) => b.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(desc.map(str::to_string))
                .build(),
        ),
        Peer::V6(c) => b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(c)
                .set_description(desc.map(str::to_string))
                .build(),
        ),
        Peer::Other(p) => b.prefix_list_ids(
            aws_sdk_ec2::types::PrefixListId::builder()
                .prefix_list_id(p)
                .build(),
        ),
    };
    b.build()
}

pub async fn authorize(ctx: &Ctx, r: &Resource, props: &Value) -> Result<BTreeMap<String, String>> {
    let Some(w) = WantRule::from_props(props) else {
        bail!(
            "{}: rule has no peer (peer_group, cidr_ipv4 or cidr_ipv6)",
            r.id
        );
    };
    if detscript_engine::refs::has_refs(&w.group_id) {
        bail!("{}: security group id not resolved", r.id);
    }
    let perm = permission(&w.protocol, w.from, w.to, &w.peer, w.description.as_deref());
    let tags = tag_spec(ResourceType::SecurityGroupRule, &ctx.owner_tags(&r.id));
    let ec2 = &ctx.clients.ec2;
    let res = if w.egress {
        ec2.authorize_security_group_egress()
            .group_id(&w.group_id)
            .ip_permissions(perm)
            .tag_specifications(tags)
            .send()
            .await
            .map(|o| {
                o.security_group_rules()
                    .first()
                    .and_then(|r| r.security_group_rule_id())
                    .map(str::to_string)
            })
            .map_err(|e| {
                let dup = code_of(&e) == Some("InvalidPermission.Duplicate");
                (dup, aws_err("AuthorizeSecurityGroupEgress", &r.id, e))
            })
    } else {
        ec2.authorize_security_group_ingress()
            .group_id(&w.group_id)
            .ip_permissions(perm)
            .tag_specifications(tags)
            .send()
            .await
            .map(|o| {
                o.security_group_rules()
                    .first()
                    .and_then(|r| r.security_group_rule_id())
                    .map(str::to_string)
            })
            .map_err(|e| {
                let dup = code_of(&e) == Some("InvalidPermission.Duplicate");
                (dup, aws_err("AuthorizeSecurityGroupIngress", &r.id, e))
            })
    };
    match res {
        Ok(id) => Ok(id.map(|i| ("id".to_string(), i)).into_iter().collect()),
        // Already there (e.g. a retried call): converged.
        Err((true, _)) => Ok(BTreeMap::new()),
        Err((false, e)) => Err(e),
    }
}

pub async fn revoke(ctx: &Ctx, rule: &LiveRule) -> Result<()> {
    let perm = permission(&rule.protocol, rule.from, rule.to, &rule.peer, None);
    let ec2 = &ctx.clients.ec2;
    let res = if rule.egress {
        ec2.revoke_security_group_egress()
            .group_id(&rule.group_id)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    code_of(&e) == Some("InvalidPermission.NotFound"),
                    aws_err("RevokeSecurityGroupEgress", &rule.group_id, e),
                )
            })
    } else {
        ec2.revoke_security_group_ingress()
            .group_id(&rule.group_id)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    code_of(&e) == Some("InvalidPermission.NotFound"),
                    aws_err("RevokeSecurityGroupIngress", &rule.group_id, e),
                )
            })
    };
    match res {
        Ok(()) | Err((true, _)) => Ok(()),
        Err((false, e)) => Err(e),
    }
}

/// True for the error AWS returns while ENIs of terminated instances still use a group.
pub fn is_dependency_violation(code: Option<&str>) -> bool {
    code == Some("DependencyViolation")
}

/// Deletes a group, retrying `DependencyViolation` (ENIs draining) for a while.
pub async fn delete_group(ctx: &Ctx, gid: &str, label: &str) -> Result<()> {
    let ec2 = ctx.clients.ec2.clone();
    let res = retry_while(
        ctx.waits.dependency_violation,
        || {
            let ec2 = ec2.clone();
            let gid = gid.to_string();
            async move { ec2.delete_security_group().group_id(gid).send().await }
        },
        |e| is_dependency_violation(code_of(e)),
        |e, d| {
            ctx.ui.resource(
                label,
                "waiting",
                None,
                &format!(
                    "{} (still in use; retrying in {}s)",
                    message_of(e).unwrap_or("DependencyViolation"),
                    d.as_secs()
                ),
            )
        },
    )
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => Ok(()),
        Err(e) => Err(aws_err("DeleteSecurityGroup", gid, e)),
    }
}
