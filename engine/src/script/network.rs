//! The network: `vpc(name, cidr)` or `existing_vpc(id)`, `internet_gateway(name, vpc)`,
//! `route_table(name, vpc).route(cidr, gateway)`, `subnet(name, vpc, cidr)` with `.zone(..)`,
//! `.map_public_ip(..)` and `.route_table(..)`, `nat_gateway(name, subnet)` (with its Elastic IP) and
//! `s3_endpoint(name, vpc, [tables])`; and the methods that place other resources in it:
//! `security_group(..).vpc(v)`, `database(..).subnets([..])`, `master_instance(..).subnet(s)`,
//! `.elastic_ip(true)` and `aws_pool(..).subnet(s)`.
//!
//! A script without a VPC deploys into the account's default VPC, as before. A script with
//! exactly one VPC puts its security groups there unless told otherwise.

use rhai::{Array, Dynamic, Engine, NativeCallContext};
use serde_json::Value;

use super::handles::{Database, Declared, MasterInstance, SecurityGroup, declared};
use super::master::Pool;
use super::params::check_cidr;
use super::{RhaiResult, Shared, State, fail, method, pos_of, values};
use crate::diag::Diagnostic;
use crate::kinds::route_table::{Route, RouteTarget};
use crate::kinds::{
    DbSubnetGroupSpec, ElasticIpSpec, InternetGatewaySpec, NatGatewaySpec, RouteTableSpec,
    SecurityGroupSpec, Spec, SubnetSpec, VpcEndpointSpec, VpcSpec, vpc::check_vpc_id,
};
use crate::plan::Kind;
use crate::refs;
use crate::value::{Ref, Tmpl};

/// A VPC the script declared or names by id.
#[derive(Debug, Clone)]
pub(crate) struct Vpc {
    pub id: String,
    /// The id of an existing VPC (text, known before apply).
    pub existing: Option<String>,
}

impl Vpc {
    /// The VPC's id as resources hold it: the existing id, or a reference.
    fn id_text(&self) -> String {
        self.existing
            .clone()
            .unwrap_or_else(|| refs::attr(&self.id, "id"))
    }
}

/// A declared network resource (subnet, route table, gateway): its plan id and name.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Subnet(pub Net);
#[derive(Debug, Clone)]
pub(crate) struct RouteTable(pub Net);
#[derive(Debug, Clone)]
pub(crate) struct InternetGateway(pub Net);
#[derive(Debug, Clone)]
pub(crate) struct NatGateway(pub Net);
declared!(Net);
declared!(
    Subnet(Net),
    RouteTable(Net),
    InternetGateway(Net),
    NatGateway(Net)
);

/// Registers the constructor `KIND(name, vpc)` of a resource in a VPC; `spec` makes its spec
/// from the VPC's id.
fn in_vpc<H: Declared + rhai::Variant + Clone, S: Into<Spec> + 'static>(
    engine: &mut Engine,
    state: &Shared,
    kind: Kind,
    spec: fn(Tmpl) -> S,
) {
    let s = state.clone();
    engine.register_fn(
        kind.as_str(),
        move |ctx: NativeCallContext, name: &str, v: Dynamic| -> RhaiResult<H> {
            let vpc = vpc_arg(&ctx, &format!("{} '{name}'", kind.as_str()), &v)?;
            let spec = spec(marked(&vpc.id_text()));
            s.borrow_mut().declare_spec(&ctx, kind, name, spec)
        },
    );
}

fn marked(t: &str) -> Tmpl {
    Tmpl::from_marked(t)
}

fn id_of(id: &str) -> Tmpl {
    Tmpl::reference(Ref::new(id, "id"))
}

/// An IPv4 CIDR of a VPC or subnet (AWS allows /16 to /28); references pass unchecked.
fn check_range(ctx: &NativeCallContext, who: &str, cidr: &str) -> RhaiResult<()> {
    if refs::has_refs(cidr) {
        return Ok(());
    }
    let bits = cidr.split_once('/').and_then(|(_, b)| b.parse::<u8>().ok());
    match check_cidr(cidr) {
        Err(m) => fail(ctx, format!("{who}: {m}")),
        Ok(()) if cidr.contains(':') => fail(
            ctx,
            format!("{who}: {cidr:?} is IPv6; the range must be IPv4"),
        ),
        Ok(()) if !bits.is_some_and(|b| (16..=28).contains(&b)) => fail(
            ctx,
            format!("{who}: {cidr:?} must be between a /16 and a /28 (AWS's limits)"),
        ),
        Ok(()) => Ok(()),
    }
}

fn vpc_arg(ctx: &NativeCallContext, who: &str, v: &Dynamic) -> RhaiResult<Vpc> {
    match v.read_lock::<Vpc>() {
        Some(v) => Ok(v.clone()),
        None => fail(
            ctx,
            format!(
                "{who}: expects a vpc(...) or existing_vpc(...), got {}",
                values::describe(v)
            ),
        ),
    }
}

fn subnet_arg(ctx: &NativeCallContext, who: &str, v: &Dynamic) -> RhaiResult<Subnet> {
    match v.read_lock::<Subnet>() {
        Some(s) => Ok(s.clone()),
        None => fail(
            ctx,
            format!("{who}: expects a subnet(...), got {}", values::describe(v)),
        ),
    }
}

/// Whether the subnet gives instances a public IP (its `.map_public_ip(..)` setting).
fn subnet_is_public(st: &State, s: &Subnet) -> bool {
    let d = &st.decls[st.by_id[&s.0.id]];
    matches!(&d.spec, Some(Spec::Subnet(sn)) if sn.map_public_ip_on_launch)
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<Vpc>("Vpc");
    engine.register_type_with_name::<Subnet>("Subnet");
    engine.register_type_with_name::<RouteTable>("RouteTable");
    engine.register_type_with_name::<InternetGateway>("InternetGateway");
    engine.register_type_with_name::<NatGateway>("NatGateway");
    engine.register_fn("to_string", |v: &mut Vpc| v.id.clone());
    engine.register_fn("to_string", |s: &mut Subnet| s.0.id.clone());
    engine.register_fn("to_string", |t: &mut RouteTable| t.0.id.clone());
    engine.register_fn("to_string", |g: &mut InternetGateway| g.0.id.clone());
    engine.register_fn("to_string", |g: &mut NatGateway| g.0.id.clone());
    engine.register_get("id", |v: &mut Vpc| v.id_text());
    engine.register_get("id", |s: &mut Subnet| refs::attr(&s.0.id, "id"));
    engine.register_get("availability_zone", |s: &mut Subnet| {
        refs::attr(&s.0.id, "availability_zone")
    });
    engine.register_get("id", |t: &mut RouteTable| refs::attr(&t.0.id, "id"));
    engine.register_get("id", |g: &mut InternetGateway| refs::attr(&g.0.id, "id"));
    engine.register_get("id", |g: &mut NatGateway| refs::attr(&g.0.id, "id"));

    let s = state.clone();
    engine.register_fn(
        "vpc",
        move |ctx: NativeCallContext, name: &str, cidr: &str| -> RhaiResult<Vpc> {
            check_range(&ctx, &format!("vpc '{name}'"), cidr)?;
            let spec = VpcSpec {
                cidr_block: Some(marked(cidr)),
                existing_id: None,
                enable_dns_hostnames: true,
                enable_dns_support: true,
            };
            let id = s.borrow_mut().declare_spec(&ctx, Kind::Vpc, name, spec)?;
            Ok(Vpc { id, existing: None })
        },
    );
    let s = state.clone();
    engine.register_fn(
        "existing_vpc",
        move |ctx: NativeCallContext, vpc_id: &str| -> RhaiResult<Vpc> {
            if !refs::has_refs(vpc_id) {
                check_vpc_id(vpc_id).or_else(|m| fail(&ctx, format!("existing_vpc: {m}")))?;
            }
            let name = if refs::has_refs(vpc_id) {
                "existing"
            } else {
                vpc_id
            };
            let spec = VpcSpec {
                cidr_block: None,
                existing_id: Some(vpc_id.to_string()),
                enable_dns_hostnames: true,
                enable_dns_support: true,
            };
            let id = s.borrow_mut().declare_spec(&ctx, Kind::Vpc, name, spec)?;
            Ok(Vpc {
                id,
                existing: Some(vpc_id.to_string()),
            })
        },
    );

    in_vpc::<InternetGateway, _>(engine, state, Kind::InternetGateway, |vpc_id| {
        InternetGatewaySpec { vpc_id }
    });
    in_vpc::<RouteTable, _>(engine, state, Kind::RouteTable, |vpc_id| RouteTableSpec {
        vpc_id,
        routes: Vec::new(),
    });
    let s = state.clone();
    engine.register_fn("route", move |ctx: NativeCallContext, t: &mut RouteTable, cidr: &str, to: Dynamic| -> RhaiResult<RouteTable> {
        let who = format!("route_table '{}'", t.0.name);
        if !refs::has_refs(cidr) {
            check_cidr(cidr).or_else(|m| fail(&ctx, format!("{who}: .route() {m}")))?;
        }
        let target = if let Some(g) = to.read_lock::<InternetGateway>() {
            RouteTarget::InternetGateway(id_of(&g.0.id))
        } else if let Some(n) = to.read_lock::<NatGateway>() {
            RouteTarget::NatGateway(id_of(&n.0.id))
        } else {
            return fail(&ctx, format!("{who}: .route() sends traffic to an internet_gateway(...) or a nat_gateway(...), got {}", values::describe(&to)));
        };
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        let d = st.decl(&t.0.id);
        let mut dup = false;
        d.edit(|rt: &mut RouteTableSpec| {
            dup = rt.routes.iter().any(|r| r.destination.to_marked() == cidr);
            rt.routes.push(Route { destination: marked(cidr), target });
        });
        if dup {
            return fail(&ctx, format!("{who} already has a route to {cidr}"));
        }
        d.field_pos.insert(format!("route:{cidr}"), pos);
        Ok(t.clone())
    });

    let s = state.clone();
    engine.register_fn(
        "subnet",
        move |ctx: NativeCallContext, name: &str, v: Dynamic, cidr: &str| -> RhaiResult<Subnet> {
            let who = format!("subnet '{name}'");
            let vpc = vpc_arg(&ctx, &who, &v)?;
            check_range(&ctx, &who, cidr)?;
            let spec = SubnetSpec {
                vpc_id: marked(&vpc.id_text()),
                cidr_block: marked(cidr),
                availability_zone: None,
                zone_index: Some(0),
                map_public_ip_on_launch: false,
                route_table_id: None,
            };
            s.borrow_mut().declare_spec(&ctx, Kind::Subnet, name, spec)
        },
    );
    method(engine, state, "zone", |ctx, st, sn: &Subnet, v| {
        let who = format!("subnet '{}'", sn.0.name);
        let (name, index) = if let Some(i) = values::as_int(v) {
            if !(0..=15).contains(&i) {
                return fail(
                    ctx,
                    format!("{who}: .zone({i}) counts the region's zones from 0 (0-15)"),
                );
            }
            (None, Some(i))
        } else if let Some(z) = values::as_string(v) {
            let ok = refs::has_refs(&z)
                || (z.len() <= 32
                    && z.ends_with(|c: char| c.is_ascii_lowercase())
                    && z.contains(|c: char| c.is_ascii_digit()));
            if !ok {
                return fail(
                    ctx,
                    format!("{who}: .zone({z:?}) is not an availability zone like \"us-west-2a\""),
                );
            }
            (Some(marked(&z)), None)
        } else {
            return fail(
                ctx,
                format!(
                    "{who}: .zone() takes a zone name like \"us-west-2a\" or the zone's number in the region (0, 1, ...), got {}",
                    values::describe(v)
                ),
            );
        };
        let pos = pos_of(ctx, st);
        let d = st.decl(&sn.0.id);
        d.edit(|s: &mut SubnetSpec| {
            s.availability_zone = name;
            s.zone_index = index;
        });
        d.field_pos.insert("zone".into(), pos);
        Ok(())
    });
    method(engine, state, "map_public_ip", |ctx, st, sn: &Subnet, v| {
        let on = values::bool_arg(v)
            .or_else(|m| fail(ctx, format!("subnet '{}': .map_public_ip() {m}", sn.0.name)))?;
        st.decl(&sn.0.id)
            .edit(|s: &mut SubnetSpec| s.map_public_ip_on_launch = on);
        Ok(())
    });
    method(engine, state, "route_table", |ctx, st, sn: &Subnet, v| {
        let t: RouteTable = values::handle_arg(v, "a route_table(...)")
            .or_else(|e| fail(ctx, format!("subnet '{}': .route_table() {e}", sn.0.name)))?;
        st.decl(&sn.0.id)
            .edit(|s: &mut SubnetSpec| s.route_table_id = Some(id_of(&t.0.id)));
        Ok(())
    });

    let s = state.clone();
    engine.register_fn(
        "nat_gateway",
        move |ctx: NativeCallContext, name: &str, sn: Dynamic| -> RhaiResult<NatGateway> {
            let who = format!("nat_gateway '{name}'");
            let sn = subnet_arg(&ctx, &who, &sn)?;
            let mut st = s.borrow_mut();
            let eip: String = st.declare_spec(
                &ctx,
                Kind::ElasticIp,
                name,
                ElasticIpSpec { instance_id: None },
            )?;
            let spec = NatGatewaySpec {
                subnet_id: id_of(&sn.0.id),
                allocation_id: Tmpl::reference(Ref::new(&eip, "allocation_id")),
            };
            st.declare_spec(&ctx, Kind::NatGateway, name, spec)
        },
    );

    let s = state.clone();
    engine.register_fn(
        "s3_endpoint",
        move |ctx: NativeCallContext,
              name: &str,
              v: Dynamic,
              tables: Array|
              -> RhaiResult<Dynamic> {
            let who = format!("s3_endpoint '{name}'");
            let vpc = vpc_arg(&ctx, &who, &v)?;
            let mut ids = Vec::new();
            for t in &tables {
                match t.read_lock::<RouteTable>() {
                    Some(t) => ids.push(id_of(&t.0.id)),
                    None => {
                        return fail(
                            &ctx,
                            format!(
                                "{who}: expects a list of route_table(...), got {}",
                                values::describe(t)
                            ),
                        );
                    }
                }
            }
            if ids.is_empty() {
                return fail(
                    &ctx,
                    format!("{who}: give the route tables whose subnets reach S3 through it"),
                );
            }
            let spec = VpcEndpointSpec {
                vpc_id: marked(&vpc.id_text()),
                service: "s3".into(),
                route_table_ids: ids,
            };
            s.borrow_mut()
                .declare_spec::<String>(&ctx, Kind::VpcEndpoint, name, spec)?;
            Ok(Dynamic::UNIT)
        },
    );

    register_placement(engine, state);
}

/// The methods that place the guide's resources in the network.
fn register_placement(engine: &mut Engine, state: &Shared) {
    method(engine, state, "vpc", |ctx, st, sg: &SecurityGroup, v| {
        let vpc = vpc_arg(ctx, &format!("security group '{}'", sg.name), v)?;
        st.decl(&sg.id)
            .edit(|g: &mut SecurityGroupSpec| g.vpc_id = Some(marked(&vpc.id_text())));
        Ok(())
    });
    method(engine, state, "subnets", |ctx, st, db: &Database, v| {
        let who = format!("database '{}'", db.name);
        let list: Array = v.clone().try_cast::<Array>().ok_or(()).or_else(|_| {
            fail(
                ctx,
                format!(
                    "{who}: .subnets() expects a list of subnet(...), got {}",
                    values::describe(v)
                ),
            )
        })?;
        let mut ids = Vec::new();
        for x in &list {
            ids.push(id_of(&subnet_arg(ctx, &who, x)?.0.id));
        }
        if ids.is_empty() {
            return fail(
                ctx,
                format!("{who}: .subnets() needs at least one subnet (RDS wants two zones)"),
            );
        }
        if st.databases[db.idx].subnet_group.is_some() {
            return fail(ctx, format!("{who}: .subnets() is already set"));
        }
        let spec = DbSubnetGroupSpec {
            name: String::new(),
            description: Tmpl::text(format!("Subnets of the database {}", db.name)),
            subnet_ids: ids,
        };
        let id = st.declare_spec(ctx, Kind::DbSubnetGroup, &db.name, spec)?;
        let pos = pos_of(ctx, st);
        let d = &mut st.databases[db.idx];
        d.subnet_group = Some(id);
        d.field_pos.insert("subnets".into(), pos);
        Ok(())
    });
    method(engine, state, "subnet", |ctx, st, m: &MasterInstance, v| {
        let sn = subnet_arg(ctx, "master_instance", v)?;
        let pos = pos_of(ctx, st);
        let decl = &mut st.masters[m.idx];
        decl.instance.subnet_id = Some(Tmpl::reference(Ref::new(&sn.0.id, "id")));
        decl.field_pos.insert("subnet_id".into(), pos);
        Ok(())
    });
    let s = state.clone();
    engine.register_fn("elastic_ip", move |ctx: NativeCallContext, m: &mut MasterInstance, on: bool| -> RhaiResult<MasterInstance> {
        let mut st = s.borrow_mut();
        let name = st.masters[m.idx].name.clone();
        match (on, st.masters[m.idx].elastic_ip.clone()) {
            (true, None) => {
                let spec = ElasticIpSpec { instance_id: Some(id_of(&m.id)) };
                let id = st.declare_spec(&ctx, Kind::ElasticIp, &name, spec)?;
                let pos = pos_of(&ctx, &st);
                let decl = &mut st.masters[m.idx];
                decl.elastic_ip = Some(id);
                decl.field_pos.insert("elastic_ip".into(), pos);
            }
            (false, Some(_)) => {
                return fail(&ctx, format!("master_instance '{name}': .elastic_ip(false) after .elastic_ip(true); remove the first call"));
            }
            _ => {}
        }
        Ok(m.clone())
    });
    method(engine, state, "subnet", |ctx, st, p: &Pool, v| {
        let sn = subnet_arg(ctx, &format!("aws_pool '{}'", p.name), v)?;
        let public = subnet_is_public(st, &sn);
        let pos = pos_of(ctx, st);
        let pool = &mut st.pools[p.idx];
        let ni = pool
            .provider
            .entry("network_interface")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(ni) = ni {
            ni.insert(
                "subnet_id".into(),
                Value::String(refs::attr(&sn.0.id, "id")),
            );
            // The subnet decides whether agents get a public IP, unless the script said so.
            if !pool.field_pos.contains_key("public_ip") {
                ni.insert("public_ip".into(), Value::Bool(public));
            }
        }
        pool.field_pos.insert("subnet_id".into(), pos);
        Ok(())
    });
}

/// After the script ran: with exactly one VPC, security groups that name none go there; with
/// several, each must say which.
pub(crate) fn finish(st: &mut State, errors: &mut Vec<Diagnostic>) {
    let vpcs: Vec<Vpc> = st
        .decls
        .iter()
        .filter(|d| d.kind == Kind::Vpc)
        .map(|d| Vpc {
            id: d.id.clone(),
            existing: match &d.spec {
                Some(Spec::Vpc(v)) => v.existing_id.clone(),
                _ => None,
            },
        })
        .collect();
    if vpcs.is_empty() {
        return;
    }
    for d in st
        .decls
        .iter_mut()
        .filter(|d| d.kind == Kind::SecurityGroup)
    {
        if matches!(&d.spec, Some(Spec::SecurityGroup(g)) if g.vpc_id.is_some()) {
            continue;
        }
        if let [only] = vpcs.as_slice() {
            d.edit(|g: &mut SecurityGroupSpec| g.vpc_id = Some(marked(&only.id_text())));
        } else {
            errors.push(
                Diagnostic::error(
                    format!("security group '{}': the script declares {} VPCs; say which one it belongs to", d.name(), vpcs.len()),
                    &d.pos,
                )
                .with_note("add .vpc(my_vpc) to the security group"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{CompileRequest, Compiled, Failure, Mode, Plan, compile};

    fn run(src: &str) -> Result<Compiled, Failure> {
        compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
    }

    fn plan(src: &str) -> Plan {
        run(src)
            .unwrap_or_else(|f| panic!("expected a plan, got {:#?}", f.diagnostics))
            .plan
    }

    /// The first error's message contains `needle`, at `line`.
    #[track_caller]
    fn fails_at(src: &str, needle: &str, line: u32) {
        let Err(f) = run(src) else {
            panic!("expected an error from {src}");
        };
        let d = &f.diagnostics[0];
        assert!(
            d.message.contains(needle),
            "{:?} does not contain {needle:?}",
            d.message
        );
        assert_eq!(d.line, line, "{}", d.message);
    }

    const NET: &str = "deployment(\"t\");\nlet v = vpc(\"v\", \"10.0.0.0/16\");\n";

    #[test]
    fn bad_network_input_is_an_error_at_its_line() {
        fails_at(
            "deployment(\"t\");\nvpc(\"v\", \"10.0.0.0/8\");",
            "between a /16 and a /28",
            2,
        );
        fails_at("deployment(\"t\");\nvpc(\"v\", \"fd00::/16\");", "IPv4", 2);
        fails_at(
            "deployment(\"t\");\nvpc(\"v\", \"10.0.0.300/16\");",
            "vpc 'v'",
            2,
        );
        fails_at(
            "deployment(\"t\");\nexisting_vpc(\"vpc-xyz\");",
            "is not a VPC id",
            2,
        );
        fails_at(
            &format!("{NET}subnet(\"s\", \"v\", \"10.0.0.0/24\");"),
            "expects a vpc(...)",
            3,
        );
        fails_at(
            &format!("{NET}subnet(\"s\", v, \"10.0.0.0/24\").zone(16);"),
            "0-15",
            3,
        );
        fails_at(
            &format!("{NET}subnet(\"s\", v, \"10.0.0.0/24\").zone(\"west\");"),
            "not an availability zone",
            3,
        );
        fails_at(
            &format!("{NET}route_table(\"r\", v).route(\"0.0.0.0/0\", \"igw-1\");"),
            "internet_gateway(...) or a nat_gateway(...)",
            3,
        );
        fails_at(
            &format!(
                "{NET}let g = internet_gateway(\"g\", v);\nroute_table(\"r\", v).route(\"0.0.0.0/0\", g).route(\"0.0.0.0/0\", g);"
            ),
            "already has a route to 0.0.0.0/0",
            4,
        );
        fails_at(
            &format!("{NET}database(\"db\").subnets(\"subnet-1\");"),
            "expects a list of subnet(...)",
            3,
        );
        fails_at(
            &format!("{NET}s3_endpoint(\"s3\", v, []);"),
            "give the route tables",
            3,
        );
        fails_at(
            &format!("{NET}let w = vpc(\"w\", \"10.1.0.0/16\");\nsecurity_group(\"sg\", \"d\");"),
            "the script declares 2 VPCs",
            4,
        );
        fails_at(
            &format!("{NET}master_instance(\"m\").elastic_ip(true).elastic_ip(false);"),
            ".elastic_ip(false) after .elastic_ip(true)",
            3,
        );
    }

    /// The pieces reference each other, so the graph orders them; the pool's subnet and
    /// public IP in master.yaml follow the subnet; the master's address is its Elastic IP.
    #[test]
    fn the_network_is_wired_by_references() {
        let p = plan(concat!(
            "deployment(\"Net\");\n",
            "let v = vpc(\"v\", \"10.0.0.0/16\");\n",
            "let igw = internet_gateway(\"igw\", v);\n",
            "let prt = route_table(\"pub\", v).route(\"0.0.0.0/0\", igw);\n",
            "let pub1 = subnet(\"pub1\", v, \"10.0.0.0/24\").zone(\"us-west-2b\").map_public_ip(true).route_table(prt);\n",
            "let priv1 = subnet(\"priv1\", v, \"10.0.1.0/24\").zone(0);\n",
            "let priv2 = subnet(\"priv2\", v, \"10.0.2.0/24\").zone(1);\n",
            "let sg = security_group(\"m\", \"M\");\n",
            "let db = database(\"db\").engine(\"aurora-postgresql\", \"16.4\").master_user(\"postgres\", \"Pw-123456789\").subnets([priv1, priv2]);\n",
            "let c = master_config().db(db).resource_pool(aws_pool(\"default\").instance_type(\"g5.xlarge\").ssh_key_name(\"k\").subnet(pub1));\n",
            "master_instance(\"master\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\")\n",
            "    .master_image(\"img:1\").subnet(pub1).elastic_ip(true).security_group(sg).config(c);\n",
        ));
        let deps = |id: &str| {
            p.get(id)
                .unwrap_or_else(|| panic!("{id}"))
                .depends_on
                .clone()
        };
        assert_eq!(deps("internet_gateway.igw"), ["vpc.v"]);
        assert_eq!(deps("route_table.pub"), ["internet_gateway.igw", "vpc.v"]);
        assert_eq!(deps("subnet.pub1"), ["route_table.pub", "vpc.v"]);
        assert_eq!(deps("security_group.m"), ["vpc.v"]);
        assert_eq!(deps("db_subnet_group.db"), ["subnet.priv1", "subnet.priv2"]);
        assert!(deps("rds_cluster.db").contains(&"db_subnet_group.db".to_string()));
        assert!(deps("ec2_instance.master").contains(&"subnet.pub1".to_string()));
        assert_eq!(deps("elastic_ip.master"), ["ec2_instance.master"]);
        let props = |id: &str| p.get(id).unwrap().properties();
        assert_eq!(props("db_subnet_group.db")["name"], "net-db");
        assert_eq!(props("rds_cluster.db")["db_subnet_group_name"], "net-db");
        assert_eq!(props("subnet.pub1")["availability_zone"], "us-west-2b");
        assert_eq!(props("subnet.priv2")["zone_index"], 1);
        let yaml = &p.files["master.yaml"].to_string();
        assert!(yaml.contains("subnet_id: ${subnet.pub1.id}"), "{yaml}");
        assert!(yaml.contains("public_ip: true"), "{yaml}");
        let out = p.output_values();
        assert_eq!(
            out["master_public_ip"].to_string(),
            "(known after apply: elastic_ip.master.public_ip)"
        );
    }

    /// An existing VPC is a lookup: what is created in it holds its id as text.
    #[test]
    fn an_existing_vpc_is_named_by_its_id() {
        let p = plan(concat!(
            "deployment(\"t\");\n",
            "let v = existing_vpc(\"vpc-0123abcd\");\n",
            "subnet(\"s\", v, \"10.0.0.0/24\");\n",
            "security_group(\"sg\", \"d\");\n",
        ));
        let s = p.get("subnet.s").unwrap();
        assert_eq!(s.properties()["vpc_id"], "vpc-0123abcd");
        assert!(s.depends_on.is_empty());
        assert_eq!(
            p.get("security_group.sg").unwrap().properties()["vpc_id"],
            "vpc-0123abcd"
        );
        assert_eq!(
            p.get("vpc.vpc-0123abcd").unwrap().properties()["existing_id"],
            "vpc-0123abcd"
        );
    }
}
