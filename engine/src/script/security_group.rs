//! `security_group(name, description)` with `.ingress(ports, source)` and
//! `.egress(ports, destination)`, and the port helpers `tcp`, `tcp_range`, `all_tcp`, `udp`,
//! `udp_range`, `all_traffic`.
//!
//! Each rule is its own plan resource (as `AWS::EC2::SecurityGroupIngress` is in the guide), so
//! that two groups can reference each other without a dependency cycle, and so that changing one
//! rule changes only that rule.

use rhai::{Dynamic, Engine, INT, NativeCallContext};

use crate::kinds::security_group_rule::{Direction, Peer, Protocol, SecurityGroupRuleSpec};
use crate::kinds::{SecurityGroupSpec, Spec};
use crate::value::{Ref, Tmpl};

use super::handles::SecurityGroup;
use super::params::check_cidr;
use super::{RhaiResult, Shared, fail, pos_of, values};
use crate::plan::Kind;
use crate::refs;

/// Protocol and port range of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    pub protocol: &'static str,
    pub from: i64,
    pub to: i64,
}

impl Ports {
    fn label(&self) -> String {
        match self.protocol {
            "all" => "all".to_string(),
            p if self.from == self.to => format!("{p}-{}", self.from),
            p => format!("{p}-{}-{}", self.from, self.to),
        }
    }
}

fn port_range(
    ctx: &NativeCallContext,
    protocol: &'static str,
    from: INT,
    to: INT,
) -> RhaiResult<Ports> {
    for p in [from, to] {
        if !(0..=65535).contains(&p) {
            return fail(ctx, format!("port {p} is out of range: ports are 0-65535"));
        }
    }
    if from > to {
        return fail(
            ctx,
            format!(
                "port range {from}-{to} is reversed: the first port must not be above the second"
            ),
        );
    }
    Ok(Ports { protocol, from, to })
}

/// A group's spec; its name is set when resources are named.
pub(crate) fn group_spec(description: &str) -> Spec {
    Spec::from(SecurityGroupSpec {
        group_name: String::new(),
        description: Tmpl::from_marked(description),
        vpc_id: None,
    })
}

/// A rule's typed spec.
pub(crate) fn rule_spec(
    group: &str,
    direction: Direction,
    ports: Ports,
    peer: Peer,
    description: Option<String>,
) -> SecurityGroupRuleSpec {
    let protocol = match ports.protocol {
        "udp" => Protocol::Udp,
        "all" => Protocol::All,
        _ => Protocol::Tcp,
    };
    SecurityGroupRuleSpec {
        group: Ref::new(group, "id"),
        direction,
        protocol,
        from_port: ports.from,
        to_port: ports.to,
        peer,
        description: description.map(|d| Tmpl::from_marked(&d)),
    }
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<SecurityGroup>("SecurityGroup");
    engine.register_type_with_name::<Ports>("Ports");
    engine.register_fn("to_string", |sg: &mut SecurityGroup| sg.id.clone());
    engine.register_fn("to_string", |p: &mut Ports| p.label());

    for (proto, one, range) in [("tcp", "tcp", "tcp_range"), ("udp", "udp", "udp_range")] {
        engine.register_fn(one, move |ctx: NativeCallContext, port: INT| {
            port_range(&ctx, proto, port, port)
        });
        engine.register_fn(range, move |ctx: NativeCallContext, a: INT, b: INT| {
            port_range(&ctx, proto, a, b)
        });
    }
    for (name, protocol) in [("all_tcp", "tcp"), ("all_traffic", "all")] {
        engine.register_fn(name, move || Ports {
            protocol,
            from: 0,
            to: 65535,
        });
    }

    for arity in [1, 2] {
        let s = state.clone();
        let create = move |ctx: &NativeCallContext,
                           name: &str,
                           description: &str|
              -> RhaiResult<SecurityGroup> {
            if description.is_empty() || description.len() > 255 {
                return fail(
                    ctx,
                    format!("security group {name:?}: the description must be 1-255 characters"),
                );
            }
            s.borrow_mut()
                .declare_spec(ctx, Kind::SecurityGroup, name, group_spec(description))
        };
        if arity == 1 {
            engine.register_fn(
                "security_group",
                move |ctx: NativeCallContext, name: &str| {
                    create(&ctx, name, &format!("{name} (detscript)"))
                },
            );
        } else {
            engine.register_fn(
                "security_group",
                move |ctx: NativeCallContext, name: &str, desc: &str| create(&ctx, name, desc),
            );
        }
    }

    for direction in ["ingress", "egress"] {
        let s = state.clone();
        let add = move |ctx: &NativeCallContext,
                        sg: &SecurityGroup,
                        ports: Ports,
                        peer: &Dynamic,
                        description: Option<String>|
              -> RhaiResult<SecurityGroup> {
            let (word, role) = if direction == "ingress" {
                ("from", "source")
            } else {
                ("to", "destination")
            };
            let (other, label) = if let Some(other) = peer.read_lock::<SecurityGroup>() {
                (Peer::Group(Ref::new(&other.id, "id")), other.name.clone())
            } else if let Some(text) = values::as_string(peer) {
                if let Some(path) = refs::whole_ref(&text) {
                    let label = path.rsplit('.').next().unwrap_or(path).to_string();
                    (Peer::Ipv4(Tmpl::from_marked(&text)), label)
                } else {
                    check_cidr(&text).or_else(|m| {
                        fail(
                            ctx,
                            format!(
                                "security group '{}': {direction} {role}: {m}, or a security group",
                                sg.name
                            ),
                        )
                    })?;
                    let cidr = Tmpl::from_marked(&text);
                    let other = if text.contains(':') {
                        Peer::Ipv6(cidr)
                    } else {
                        Peer::Ipv4(cidr)
                    };
                    (other, text.clone())
                }
            } else {
                return fail(
                    ctx,
                    format!(
                        "security group '{}': {direction} {role} must be a security group or a CIDR string like \"10.0.0.0/16\", got {}",
                        sg.name,
                        values::describe(peer)
                    ),
                );
            };
            let mut st = s.borrow_mut();
            let pos = pos_of(ctx, &st);
            let name = format!("{}-{direction}-{}-{word}-{label}", sg.name, ports.label());
            let i = st.declare_rule(&name, pos).map_err(|line| {
                let ports_text = if ports.protocol == "all" { "all traffic".to_string() } else { ports.label().replace('-', " ") };
                format!("security group '{}' already has the rule {direction} {ports_text} {word} {label} (line {line})", sg.name)
            }).or_else(|m| fail(ctx, m))?;
            let dir = if direction == "ingress" {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            st.decls[i].set_spec(rule_spec(&sg.id, dir, ports, other, description));
            Ok(sg.clone())
        };
        let add2 = add.clone();
        engine.register_fn(
            direction,
            move |ctx: NativeCallContext, sg: &mut SecurityGroup, ports: Ports, peer: Dynamic| {
                add(&ctx, sg, ports, &peer, None)
            },
        );
        engine.register_fn(
            direction,
            move |ctx: NativeCallContext,
                  sg: &mut SecurityGroup,
                  ports: Ports,
                  peer: Dynamic,
                  desc: &str| { add2(&ctx, sg, ports, &peer, Some(desc.to_string())) },
        );
    }

    engine.register_get("id", |sg: &mut SecurityGroup| refs::attr(&sg.id, "id"));
    engine.register_get("name", |sg: &mut SecurityGroup| refs::attr(&sg.id, "name"));
}
