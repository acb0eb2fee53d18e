//! Security group rules: agents and the master's port (DS001, DS002), the whole internet
//! (DS003, DS004).

use std::collections::BTreeSet;

use super::{Master, config_text, finding};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::Spec;
use crate::kinds::security_group_rule::{Direction, Peer, Protocol, SecurityGroupRuleSpec};
use crate::plan::{Plan, Resource};

/// A security group rule of the plan.
struct Rule<'a> {
    r: &'a Resource,
    spec: &'a SecurityGroupRuleSpec,
}

impl Rule<'_> {
    fn ingress(&self) -> bool {
        self.spec.direction == Direction::Ingress
    }

    /// The id of the group the rule belongs to.
    fn group(&self) -> &str {
        &self.spec.group.resource
    }

    /// The id of the peer group, if the peer is one.
    fn peer_group(&self) -> Option<&str> {
        match &self.spec.peer {
            Peer::Group(g) => Some(&g.resource),
            Peer::Ipv4(_) | Peer::Ipv6(_) => None,
        }
    }
}

/// An agent security group: the pool that uses it, where, and the group's id.
struct AgentGroup {
    pool: String,
    pos: SourcePos,
    sg: String,
}

/// What the network rules look at.
struct Network<'a> {
    rules: Vec<Rule<'a>>,
    port: i64,
    tls: bool,
    /// The master's security groups (ids); empty without a master.
    master_sgs: BTreeSet<&'a str>,
    agent_sgs: Vec<AgentGroup>,
}

impl<'a> Network<'a> {
    fn of(plan: &'a Plan) -> Network<'a> {
        let rules = plan
            .resources
            .iter()
            .filter_map(|r| match &r.spec {
                Spec::SecurityGroupRule(spec) => Some(Rule { r, spec }),
                _ => None,
            })
            .collect();
        let master = Master::of(plan);
        let master_sgs = master
            .iter()
            .flat_map(|m| &m.spec.security_group_ids)
            .filter_map(|t| t.as_ref().map(|r| r.resource.as_str()))
            .collect();
        let agent_sgs = master.as_ref().map(agent_groups).unwrap_or_default();
        Network {
            rules,
            port: master.as_ref().map(|m| m.files.port).unwrap_or(8080),
            tls: master.as_ref().is_some_and(|m| m.files.tls),
            master_sgs,
            agent_sgs,
        }
    }

    fn on_master(&self, rule: &Rule) -> bool {
        rule.ingress() && self.master_sgs.contains(rule.group())
    }
}

/// The security groups of the master's pools (given as a `security_group(...)` handle).
fn agent_groups(m: &Master) -> Vec<AgentGroup> {
    let mut out = Vec::new();
    for pool in &m.files.config.resource_pools {
        let sg = pool
            .provider
            .as_ref()
            .and_then(|p| p.network_interface.as_ref())
            .and_then(|n| n.security_group_id.as_deref())
            .map(config_text);
        if let Some(r) = sg.as_ref().and_then(|t| t.as_ref()) {
            out.push(AgentGroup {
                pool: pool.pool_name.clone(),
                pos: m.pool_pos(&pool.pool_name, "security_group_id"),
                sg: r.resource.clone(),
            });
        }
    }
    out
}

/// DS001-DS004, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let net = Network::of(plan);
    let mut out = Vec::new();
    if !net.master_sgs.is_empty() {
        out.extend(agents_cannot_reach_master(&net));
        out.extend(
            net.rules
                .iter()
                .filter_map(|r| master_open_to_agents(&net, r)),
        );
    }
    for r in &net.rules {
        out.extend(ssh_open_to_world(r));
        out.extend(master_open_to_world(&net, r));
    }
    out
}

/// The whole-internet CIDR (`0.0.0.0/0`, `::/0`) a rule opens the master's port to, if any.
pub(crate) fn master_port_open_to(plan: &Plan) -> Option<String> {
    let net = Network::of(plan);
    net.rules
        .iter()
        .filter(|r| net.on_master(r) && r.spec.covers(net.port))
        .find_map(world_cidr)
        .map(str::to_string)
}

/// DS001: no ingress rule on the master's security groups lets an agent group in on the
/// master's port (once per agent group).
fn agents_cannot_reach_master(net: &Network) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for a in &net.agent_sgs {
        let ok = net.rules.iter().any(|r| {
            net.on_master(r) && r.peer_group() == Some(a.sg.as_str()) && r.spec.covers(net.port)
        });
        if ok || !reported.insert(a.sg.as_str()) {
            continue;
        }
        let master_sg = net
            .master_sgs
            .iter()
            .next()
            .map(|s| s.trim_start_matches("security_group."))
            .unwrap_or("master");
        let agent = a.sg.trim_start_matches("security_group.");
        let (pool, port, sg) = (&a.pool, net.port, &a.sg);
        out.push(finding(
            "DS001",
            format!(
                "agents of pool '{pool}' cannot reach the master: no ingress rule on the master's security group allows tcp {port} from {sg}"
            ),
            format!("add {master_sg}_sg.ingress(tcp({port}), {agent}_sg)"),
            &a.pos,
        ));
    }
    out
}

/// DS002: the master lets agents in on more than its port.
fn master_open_to_agents(net: &Network, r: &Rule) -> Option<Diagnostic> {
    let port = net.port;
    let s = r.spec;
    let from_agents = r
        .peer_group()
        .is_some_and(|p| net.agent_sgs.iter().any(|a| a.sg == p));
    let wider = s.protocol == Protocol::All || s.from_port < port || s.to_port > port;
    if !(net.on_master(r) && from_agents && wider) {
        return None;
    }
    let what = if s.protocol == Protocol::All {
        "all traffic".to_string()
    } else {
        format!("ports {}-{}", s.from_port, s.to_port)
    };
    Some(finding(
        "DS002",
        format!(
            "{} opens {what} from the agents, but agents only dial the master's port {port} (the guide's bullet \"all ports from agent security group\" is wider than its own example)",
            r.r.id
        ),
        format!("open only tcp({port}) from the agent security group"),
        &r.r.source,
    ))
}

/// The CIDR of an ingress rule open to the whole internet.
fn world_cidr<'a>(r: &Rule<'a>) -> Option<&'a str> {
    if !r.ingress() || !r.spec.open_to_world() {
        return None;
    }
    r.spec.cidr().and_then(|c| c.as_text())
}

/// DS003: SSH open to the whole internet.
fn ssh_open_to_world(r: &Rule) -> Option<Diagnostic> {
    let cidr = world_cidr(r).filter(|_| r.spec.covers(22))?;
    Some(finding(
        "DS003",
        format!("{} opens SSH (22) to {cidr}", r.r.id),
        "limit SSH to your network: a parameter of kind \"cidr\" such as \"203.0.113.0/24\", or a bastion's security group",
        &r.r.source,
    ))
}

/// DS004: the master's port, without TLS, open to the whole internet.
fn master_open_to_world(net: &Network, r: &Rule) -> Option<Diagnostic> {
    let port = net.port;
    let cidr = world_cidr(r).filter(|_| !net.tls && net.on_master(r) && r.spec.covers(port))?;
    Some(finding(
        "DS004",
        format!(
            "{} opens the master's web UI and API (tcp {port}, plain HTTP) to {cidr}",
            r.r.id
        ),
        "limit it to your network, or enable TLS (master_config().set(\"security\", #{ tls: ... }) serves 8443)",
        &r.r.source,
    ))
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            "m.ingress(tcp(8080), a);",
            "m.ingress(tcp(9090), a);",
            "DS001",
            14,
        ),
        trigger(
            "m.ingress(tcp(8080), a);",
            "m.ingress(all_tcp(), a);",
            "DS002",
            6,
        ),
        trigger(
            "m.ingress(tcp(22), \"10.0.0.0/16\");",
            "m.ingress(tcp(22), \"0.0.0.0/0\");",
            "DS003",
            8,
        ),
        trigger(
            "m.ingress(tcp(8080), \"10.0.0.0/16\");",
            "m.ingress(tcp(8080), \"::/0\");",
            "DS004",
            7,
        ),
    ]
};
