//! The script's own network: a database in subnets of fewer than two zones (DS031), agents or
//! a master in a subnet with no way out to pull images (DS032), a master the UI's CIDR cannot
//! reach (DS033).

use super::{Master, config_text, finding, pos_of};
use crate::diag::Diagnostic;
use crate::kinds::Spec;
use crate::kinds::route_table::{RouteTableSpec, RouteTarget};
use crate::kinds::security_group_rule::{Direction, Peer};
use crate::kinds::subnet::SubnetSpec;
use crate::plan::{Plan, Resource};
use crate::value::Tmpl;

/// The subnet a template names (`subnet.X.id`), if it is one of the plan's.
fn subnet_of<'a>(plan: &'a Plan, t: &Tmpl) -> Option<(&'a Resource, &'a SubnetSpec)> {
    let r = plan.get(&t.as_ref()?.resource)?;
    match &r.spec {
        Spec::Subnet(s) => Some((r, s)),
        _ => None,
    }
}

/// The route table a subnet is associated with, if it is one of the plan's.
fn table_of<'a>(plan: &'a Plan, s: &SubnetSpec) -> Option<&'a RouteTableSpec> {
    match &plan
        .get(&s.route_table_id.as_ref()?.as_ref()?.resource)?
        .spec
    {
        Spec::RouteTable(t) => Some(t),
        _ => None,
    }
}

/// Whether an instance in the subnet reaches the internet: a default route through a NAT
/// gateway, or through an internet gateway for an instance with a public address.
fn has_way_out(plan: &Plan, s: &SubnetSpec, public_address: bool) -> bool {
    match table_of(plan, s).and_then(RouteTableSpec::default_target) {
        Some(RouteTarget::NatGateway(_)) => true,
        Some(RouteTarget::InternetGateway(_)) => public_address,
        None => false,
    }
}

/// DS031: RDS needs a DB subnet group spanning at least two availability zones.
fn database_zones(plan: &Plan) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in &plan.resources {
        let Spec::DbSubnetGroup(g) = &r.spec else {
            continue;
        };
        let mut zones: Vec<String> = g
            .subnet_ids
            .iter()
            .filter_map(|t| subnet_of(plan, t))
            .map(|(_, s)| s.zone_key())
            .collect();
        zones.sort();
        zones.dedup();
        // Subnets given by id (not the plan's) are not judged.
        let all_known = g.subnet_ids.iter().all(|t| subnet_of(plan, t).is_some());
        if all_known && zones.len() < 2 {
            out.push(finding(
                "DS031",
                format!(
                    "database subnet group {} covers {} availability zone{}; RDS refuses a group with fewer than two",
                    r.id,
                    zones.len(),
                    if zones.len() == 1 { "" } else { "s" }
                ),
                "give .subnets([...]) subnets in two zones, e.g. .zone(0) and .zone(1)",
                &r.source,
            ));
        }
    }
    out
}

/// DS032: agents (and the master) pull Docker images at boot; in a subnet without a route
/// out they never start.
fn no_way_out(plan: &Plan) -> Vec<Diagnostic> {
    let Some(m) = Master::of(plan) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let master_public = m.spec.associate_public_ip_address || m.files.elastic_ip.is_some();
    if let Some((sr, s)) = m.spec.subnet_id.as_ref().and_then(|t| subnet_of(plan, t)) {
        if !has_way_out(plan, s, master_public) {
            out.push(finding(
                "DS032",
                format!(
                    "the master is in {} with no route out to the internet: it cannot pull {}",
                    sr.id,
                    m.spec.master_image
                ),
                "route 0.0.0.0/0 of its route table to a nat_gateway(...), or give the master a public IP or .elastic_ip(true) in a subnet routed to an internet_gateway(...)",
                &m.pos("subnet_id"),
            ));
        }
    }
    for pool in &m.files.config.resource_pools {
        let Some(ni) = pool
            .provider
            .as_ref()
            .and_then(|p| p.network_interface.as_ref())
        else {
            continue;
        };
        let Some(t) = ni.subnet_id.as_deref().map(config_text) else {
            continue;
        };
        let Some((sr, s)) = subnet_of(plan, &t) else {
            continue;
        };
        let public = ni.public_ip.unwrap_or(s.map_public_ip_on_launch);
        if !has_way_out(plan, s, public) {
            out.push(finding(
                "DS032",
                format!(
                    "aws_pool '{}' launches agents in {} with no route out to the internet: they cannot pull their images",
                    pool.pool_name, sr.id
                ),
                "route 0.0.0.0/0 of the subnet's route table to a nat_gateway(...) (or to an internet_gateway(...) with public_ip(true))",
                &m.pool_pos(&pool.pool_name, "subnet_id"),
            ));
        }
    }
    out
}

/// True for a CIDR outside the private ranges (RFC 1918) and the shared space of VPNs.
fn is_public_cidr(cidr: &str) -> bool {
    let Some(ip) = cidr.split('/').next() else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private() || v4.is_loopback() || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        std::net::IpAddr::V6(v6) => !(v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00),
    }
}

/// DS033: the master's port is open to a public CIDR, but the master has no public address.
fn unreachable_master(plan: &Plan) -> Vec<Diagnostic> {
    let Some(m) = Master::of(plan) else {
        return Vec::new();
    };
    if m.spec.associate_public_ip_address || m.files.elastic_ip.is_some() {
        return Vec::new();
    }
    let groups: Vec<&str> = m
        .spec
        .security_group_ids
        .iter()
        .filter_map(|t| t.as_ref().map(|r| r.resource.as_str()))
        .collect();
    let port = m.files.port;
    for r in &plan.resources {
        let Spec::SecurityGroupRule(rule) = &r.spec else {
            continue;
        };
        let cidr = match &rule.peer {
            Peer::Ipv4(c) | Peer::Ipv6(c) => c.as_text().unwrap_or_default(),
            Peer::Group(_) => continue,
        };
        let covers = rule.from_port <= port && port <= rule.to_port;
        if rule.direction == Direction::Ingress
            && groups.contains(&rule.group.resource.as_str())
            && covers
            && is_public_cidr(cidr)
        {
            return vec![finding(
                "DS033",
                format!(
                    "the web UI is open to {cidr} ({}), but the master has neither a public IP nor an Elastic IP: nobody there can reach it",
                    r.id
                ),
                "add .elastic_ip(true) to the master_instance (a stable address), or .public_ip(true)",
                &pos_of(m.res, "public_ip"),
            )];
        }
    }
    Vec::new()
}

/// DS031-DS033, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let mut out = database_zones(plan);
    out.extend(no_way_out(plan));
    out.extend(unreachable_master(plan));
    out
}

#[cfg(test)]
/// The network the triggers add to the clean cluster (one line): a VPC, a public subnet with
/// an internet gateway and two private subnets behind a NAT.
macro_rules! net {
    ($pre:literal; $($rest:literal),*) => {
        concat!(
            $pre,
            "let v = vpc(\"v\", \"10.0.0.0/16\"); let igw = internet_gateway(\"igw\", v); ",
            "let prt = route_table(\"pub\", v).route(\"0.0.0.0/0\", igw); ",
            "let pub1 = subnet(\"pub1\", v, \"10.0.0.0/24\").map_public_ip(true).route_table(prt); ",
            "let nat = nat_gateway(\"nat\", pub1); let rt = route_table(\"priv\", v)",
            $($rest,)*
        )
    };
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            "let db = database(\"db\")",
            net!(
                "";
                "; let s1 = subnet(\"s1\", v, \"10.0.1.0/24\").zone(0).route_table(rt); ",
                "let s2 = subnet(\"s2\", v, \"10.0.2.0/24\").zone(0).route_table(rt); ",
                "let db = database(\"db\").subnets([s1, s2])"
            ),
            "DS031",
            12,
        ),
        trigger(
            ".tag(\"det-lint\", \"det-lint-agent\");",
            net!(
                ".tag(\"det-lint\", \"det-lint-agent\"); ";
                "; let s1 = subnet(\"s1\", v, \"10.0.1.0/24\").route_table(rt); ",
                "pool.subnet(s1);"
            ),
            "DS032",
            14,
        ),
        trigger(
            "master_instance(\"master\")",
            "m.ingress(tcp(8080), \"203.0.113.0/24\"); master_instance(\"master\").public_ip(false)",
            "DS033",
            16,
        ),
    ]
};

#[cfg(test)]
mod tests {
    #[test]
    fn private_ranges_are_not_public() {
        for c in [
            "10.0.0.0/16",
            "172.16.0.0/12",
            "192.168.1.0/24",
            "100.64.0.0/10",
            "fd00::/8",
        ] {
            assert!(!super::is_public_cidr(c), "{c}");
        }
        for c in ["0.0.0.0/0", "203.0.113.0/24", "::/0"] {
            assert!(super::is_public_cidr(c), "{c}");
        }
    }
}
