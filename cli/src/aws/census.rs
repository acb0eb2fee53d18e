//! What kinds the deployment owns right now, before discovery reads them one by one: a kind
//! the plan does not use is read only when the deployment still owns something of it (it
//! was removed from the script, and `run` or `destroy` must still find and delete it).
//!
//! For EC2 that is one paginated `DescribeTags` filtered by `detscript:deployment=<name>`:
//! EC2 keeps tags with the resource, so a resource tagged at creation is listed at once (the
//! Resource Groups Tagging API can lag minutes behind, which would let `destroy` miss a fresh
//! resource: it is not used). Every EC2 kind's own discovery filters by the same tag, so
//! whatever it finds today carries that tag and is in the census. Kinds no census covers
//! (IAM, S3, RDS clusters, secrets, log groups: one list call of their own each) are read on
//! every run.

use std::collections::BTreeSet;

use anyhow::Result;
use detscript_engine::kinds::TAG_DEPLOYMENT;
use detscript_engine::{Kind, Plan};

use super::providers::sg::filter;
use super::{Clients, aws_err, code_of};

/// The EC2 resource id prefixes (`vpc` of `vpc-0abc..`) whose presence in the census makes a
/// kind the plan does not use worth reading; `None`: no census covers the kind, it is read
/// every time. Ids rather than `ResourceType` names, which differ between AWS
/// (`natgateway`, `elastic-ip`) and emulators (moto: `nat-gateway`, `vpc-elastic-ip`).
pub fn census_prefixes(k: Kind) -> Option<&'static [&'static str]> {
    match k {
        Kind::Vpc => Some(&["vpc"]),
        Kind::InternetGateway => Some(&["igw"]),
        Kind::Subnet => Some(&["subnet"]),
        Kind::RouteTable => Some(&["rtb"]),
        Kind::NatGateway => Some(&["nat"]),
        Kind::ElasticIp => Some(&["eipalloc"]),
        Kind::VpcEndpoint => Some(&["vpce"]),
        Kind::SecurityGroup => Some(&["sg"]),
        Kind::Ec2Instance => Some(&["i"]),
        // An RDS subnet group carries no EC2 tag, but scripts give it only subnets of their
        // own (`subnet(..)`), in a VPC of their own, and it is deleted before them: while the
        // deployment may own one, it owns a subnet or a VPC.
        Kind::DbSubnetGroup => Some(&["subnet", "vpc"]),
        // Read with their group; their discovery makes no request.
        Kind::SecurityGroupRule => None,
        Kind::S3Bucket
        | Kind::IamRole
        | Kind::InstanceProfile
        | Kind::RdsCluster
        | Kind::RdsInstance
        | Kind::SecretsmanagerSecret
        | Kind::CloudwatchLogGroup => None,
    }
}

/// Whether discovery reads `k` without waiting for the census: the plan uses it (its
/// name-conflict checks need the read), or no census covers it.
pub fn always_read(k: Kind, plan: &Plan) -> bool {
    census_prefixes(k).is_none() || plan.resources.iter().any(|r| r.kind == k)
}

/// Whether the census says the deployment may own something of kind `k` (always, without a
/// census).
pub fn owns(k: Kind, census: Option<&BTreeSet<String>>) -> bool {
    let Some(prefixes) = census else {
        return true;
    };
    census_prefixes(k).is_some_and(|ps| ps.iter().any(|p| prefixes.contains(*p)))
}

/// The id prefixes of every EC2 resource tagged `detscript:deployment=<name>` in the region;
/// `None` when the caller may not call `DescribeTags` (every kind is then read, as without a
/// census).
pub async fn ec2(c: &Clients, plan: &Plan) -> Result<Option<BTreeSet<String>>> {
    let key = filter("key", vec![TAG_DEPLOYMENT.into()]);
    let value = filter("value", vec![plan.deployment.name.clone()]);
    let pages = c.ec2.describe_tags().filters(key).filters(value);
    let tags = match pages
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
    {
        Ok(tags) => tags,
        Err(e) if code_of(&e) == Some("UnauthorizedOperation") => return Ok(None),
        Err(e) => return Err(aws_err("DescribeTags", "", e)),
    };
    Ok(Some(
        tags.iter()
            .filter_map(|t| t.resource_id()?.split_once('-').map(|(p, _)| p.to_string()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_read_when_the_census_holds_its_ids() {
        let found: BTreeSet<String> = ["subnet", "i"].iter().map(|s| s.to_string()).collect();
        let found = Some(&found);
        assert!(owns(Kind::Subnet, found));
        assert!(owns(Kind::Ec2Instance, found));
        assert!(owns(Kind::DbSubnetGroup, found));
        assert!(!owns(Kind::Vpc, found));
        assert!(!owns(Kind::VpcEndpoint, found), "vpce- is not vpc-");
        assert!(!owns(Kind::NatGateway, found));
        // Kinds without a census are never "owned" by it: they are always read instead.
        assert!(!owns(Kind::IamRole, found));
        assert!(census_prefixes(Kind::IamRole).is_none());
        // Without a census (DescribeTags denied), every kind is read.
        assert!(owns(Kind::NatGateway, None));
    }
}
