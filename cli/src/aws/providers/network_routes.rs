//! Route tables (with their routes), NAT gateways, Elastic IPs (for a NAT, or associated with
//! the master) and DB subnet groups.

use anyhow::{Result, anyhow, bail};
use aws_sdk_ec2::types::DomainType;
use detscript_engine::kinds::route_table::RouteTarget;
use detscript_engine::kinds::{DbSubnetGroupSpec, ElasticIpSpec, NatGatewaySpec, RouteTableSpec};
use detscript_engine::{Kind, Plan};

use super::network::{
    OrFail, by_id, compare_ids, ec2_create, ec2_delete, ec2_tags, id_attrs, known_now,
    owned_filter, record, wait_ec2,
};
use super::{
    AttrMap, Cmp, Del, Have, Provider, Want, all_items, attr_map, found, owned_by, planned,
    sdk_tags, tag_map, update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx};

// ---- route_table ----

/// One route: destination CIDR and target id (`igw-...`, `nat-...`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveRoute {
    pub destination: String,
    pub target: String,
}

#[derive(Debug, Clone)]
pub struct RouteTableLive {
    pub vpc_id: String,
    /// The routes the script manages: to a CIDR through a gateway (not `local`, not the
    /// prefix-list routes of endpoints).
    pub routes: Vec<LiveRoute>,
}

pub struct RouteTable;

const NO_TABLE: &[&str] = &["InvalidRouteTableID.NotFound"];

/// The routes a spec asks for with the values known now (None while a target is unknown).
fn wanted_routes(spec: &RouteTableSpec, cx: &Cmp) -> Option<Vec<LiveRoute>> {
    spec.routes
        .iter()
        .map(|r| {
            Some(LiveRoute {
                destination: cx.vals.known(&r.destination)?,
                target: known_now(cx, r.target.id())?,
            })
        })
        .collect()
}

impl Provider for RouteTable {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let req = c.ec2.describe_route_tables().filters(owned_filter(plan));
        let tables = all_items!(req, "DescribeRouteTables", "")?;
        Ok(record(plan, &tables, |t| {
            let routes = t
                .routes()
                .iter()
                .filter_map(|r| {
                    let target = r.nat_gateway_id().or(r.gateway_id())?;
                    let destination = r.destination_cidr_block()?.to_string();
                    (target != "local" && !target.starts_with("vpce-")).then(|| LiveRoute {
                        destination,
                        target: target.to_string(),
                    })
                })
                .collect();
            let live = RouteTableLive {
                vpc_id: t.vpc_id().unwrap_or_default().to_string(),
                routes,
            };
            let id = t.route_table_id().unwrap_or_default();
            (t.tags(), by_id(id, live))
        }))
    }

    fn compare(spec: &RouteTableSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        if let Some(vpc) = known_now(cx, &spec.vpc_id).filter(|v| *v != d.vpc_id) {
            return Action::Replace(format!("VPC {} -> {vpc}", d.vpc_id));
        }
        let Some(mut want) = wanted_routes(spec, cx) else {
            return Action::Update(vec!["~ routes (known after apply)".into()]);
        };
        let mut have = d.routes.clone();
        want.sort();
        have.sort();
        let mut upd = Vec::new();
        for w in want.iter().filter(|w| !have.contains(w)) {
            upd.push(format!("+ route {} -> {}", w.destination, w.target));
        }
        for h in have.iter().filter(|h| !want.contains(h)) {
            upd.push(format!("- route {} -> {}", h.destination, h.target));
        }
        update_or_noop(upd)
    }

    fn uses(d: &RouteTableLive) -> Vec<String> {
        let mut out = vec![d.vpc_id.clone()];
        out.extend(d.routes.iter().map(|r| r.target.clone()));
        out
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let req = ctx.clients.ec2.create_route_table();
        let id = ec2_create!(
            req.vpc_id(v.text(&spec.vpc_id)?),
            RouteTable,
            "CreateRouteTable",
            r,
            route_table.route_table_id
        );
        for route in &spec.routes {
            put_route(
                ctx,
                &id,
                &v.text(&route.destination)?,
                &route.target,
                &v.text(route.target.id())?,
                false,
            )
            .await?;
        }
        Ok(id_attrs(&id))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let id = live.physical();
        let ec2 = &ctx.clients.ec2;
        let mut wanted = Vec::new();
        for route in &spec.routes {
            let dest = v.text(&route.destination)?;
            let target = v.text(route.target.id())?;
            match d.routes.iter().find(|h| h.destination == dest) {
                Some(h) if h.target == target => {}
                Some(_) => put_route(ctx, &id, &dest, &route.target, &target, true).await?,
                None => put_route(ctx, &id, &dest, &route.target, &target, false).await?,
            }
            wanted.push(dest);
        }
        for h in d.routes.iter().filter(|h| !wanted.contains(&h.destination)) {
            let res = ec2
                .delete_route()
                .route_table_id(&id)
                .destination_cidr_block(&h.destination)
                .send()
                .await;
            found(res, &["InvalidRoute.NotFound"], "DeleteRoute", &id)?;
        }
        Ok(live.attrs.clone())
    }

    /// Removes what is still associated with it (a subnet's association may outlive the
    /// subnet in emulators), then deletes it.
    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let ec2 = &ctx.clients.ec2;
        let id = live.physical();
        let res = ec2
            .describe_route_tables()
            .route_table_ids(&id)
            .send()
            .await;
        let tables = found(res, NO_TABLE, "DescribeRouteTables", &id)?;
        let assocs = tables
            .iter()
            .flat_map(|o| o.route_tables())
            .flat_map(|t| t.associations());
        for a in assocs.filter(|a| a.main() != Some(true)) {
            if let Some(aid) = a.route_table_association_id() {
                let res = ec2
                    .disassociate_route_table()
                    .association_id(aid)
                    .send()
                    .await;
                found(
                    res,
                    &["InvalidAssociationID.NotFound"],
                    "DisassociateRouteTable",
                    aid,
                )?;
            }
        }
        ec2_delete!(
            ctx,
            live,
            "DeleteRouteTable",
            NO_TABLE,
            delete_route_table.route_table_id
        )
        .await?;
        Ok(String::new())
    }
}

/// Creates (or, with `replace`, replaces) one route.
async fn put_route(
    ctx: &Ctx,
    table: &str,
    dest: &str,
    kind: &RouteTarget,
    target: &str,
    replace: bool,
) -> Result<()> {
    let ec2 = &ctx.clients.ec2;
    let nat = matches!(kind, RouteTarget::NatGateway(_));
    // CreateRoute and ReplaceRoute take the same fields (their builders are different types).
    macro_rules! send {
        ($req:expr, $op:literal) => {{
            let req = $req.route_table_id(table).destination_cidr_block(dest);
            let req = if nat {
                req.nat_gateway_id(target)
            } else {
                req.gateway_id(target)
            };
            req.send().or_fail($op, table).await?;
        }};
    }
    if replace {
        send!(ec2.replace_route(), "ReplaceRoute");
    } else {
        send!(ec2.create_route(), "CreateRoute");
    }
    Ok(())
}

// ---- nat_gateway ----

#[derive(Debug, Clone)]
pub struct NatLive {
    pub subnet_id: String,
    pub allocation_id: String,
}

pub struct NatGateway;

const NAT_GONE: &[&str] = &["deleted", "deleting", "failed"];
const NO_NAT: &[&str] = &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];

fn nat_state(n: &aws_sdk_ec2::types::NatGateway) -> String {
    n.state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

impl Provider for NatGateway {
    /// Every NAT gateway, kept when its tags say it is ours (not all emulators filter NAT
    /// gateways by tag).
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let nats = all_items!(c.ec2.describe_nat_gateways(), "DescribeNatGateways", "")?;
        let dep = plan.deployment.name.as_str();
        let ours = nats.iter().filter(|n| {
            !NAT_GONE.contains(&nat_state(n).as_str()) && owned_by(&ec2_tags(n.tags()), dep)
        });
        Ok(record(plan, ours, |n| {
            let allocation = n
                .nat_gateway_addresses()
                .first()
                .and_then(|a| a.allocation_id())
                .unwrap_or_default();
            let live = NatLive {
                subnet_id: n.subnet_id().unwrap_or_default().to_string(),
                allocation_id: allocation.to_string(),
            };
            let id = n.nat_gateway_id().unwrap_or_default();
            (n.tags(), by_id(id, live))
        }))
    }

    fn compare(spec: &NatGatewaySpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        if let Some(s) = known_now(cx, &spec.subnet_id).filter(|s| *s != d.subnet_id) {
            return Action::Replace(format!("subnet {} -> {s}", d.subnet_id));
        }
        if let Some(a) = known_now(cx, &spec.allocation_id).filter(|a| *a != d.allocation_id) {
            return Action::Replace(format!("Elastic IP {} -> {a}", d.allocation_id));
        }
        Action::NoOp
    }

    fn uses(d: &NatLive) -> Vec<String> {
        vec![d.subnet_id.clone(), d.allocation_id.clone()]
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let req = ctx
            .clients
            .ec2
            .create_nat_gateway()
            .subnet_id(v.text(&spec.subnet_id)?)
            .allocation_id(v.text(&spec.allocation_id)?);
        let id = ec2_create!(
            req,
            Natgateway,
            "CreateNatGateway",
            r,
            nat_gateway.nat_gateway_id
        );
        ctx.ui
            .resource(&r.id, "waiting", None, &format!("{id} to be available"));
        wait_nat(ctx, &id, "available").await?;
        Ok(id_attrs(&id))
    }

    /// Deletes it and waits until it is gone (its subnet and Elastic IP are free only then).
    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let id = live.physical();
        let res = ctx.clients.ec2.delete_nat_gateway().nat_gateway_id(&id);
        found(res.send().await, NO_NAT, "DeleteNatGateway", &id)?;
        wait_nat(ctx, &id, "deleted").await?;
        Ok(String::new())
    }
}

/// Waits until the NAT gateway is in `state` (a gone gateway counts as deleted).
async fn wait_nat(ctx: &Ctx, id: &str, state: &str) -> Result<()> {
    let what = format!("NAT gateway {id} to be {state}");
    wait_ec2(ctx, &what, |ec2| async move {
        let res = ec2.describe_nat_gateways().nat_gateway_ids(id).send().await;
        let out = found(res, NO_NAT, "DescribeNatGateways", id)?;
        let now = out.and_then(|o| o.nat_gateways().first().map(nat_state));
        match now.as_deref() {
            None if state == "deleted" => Ok(Some(())),
            Some(s) if s == state => Ok(Some(())),
            Some("failed") => bail!("NAT gateway {id} failed"),
            _ => Ok(None),
        }
    })
    .await
}

// ---- elastic_ip ----

#[derive(Debug, Clone)]
pub struct EipLive {
    pub instance_id: Option<String>,
    pub association_id: Option<String>,
}

pub struct ElasticIp;

const NO_ADDRESS: &[&str] = &["InvalidAllocationID.NotFound"];

fn eip_attrs(allocation: &str, ip: Option<&str>) -> AttrMap {
    attr_map([
        ("id", Some(allocation)),
        ("allocation_id", Some(allocation)),
        ("public_ip", ip),
    ])
}

impl Provider for ElasticIp {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let out = c
            .ec2
            .describe_addresses()
            .filters(owned_filter(plan))
            .send()
            .or_fail("DescribeAddresses", "")
            .await?;
        Ok(record(plan, out.addresses(), |a| {
            let alloc = a.allocation_id().unwrap_or_default();
            let live = Live::new(
                alloc,
                eip_attrs(alloc, a.public_ip()),
                EipLive {
                    instance_id: a.instance_id().map(str::to_string),
                    association_id: a.association_id().map(str::to_string),
                },
            );
            (a.tags(), live)
        }))
    }

    fn compare(spec: &ElasticIpSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let Some(want) = &spec.instance_id else {
            return Action::NoOp;
        };
        match known_now(cx, want) {
            Some(i) if d.instance_id.as_deref() == Some(i.as_str()) => Action::NoOp,
            Some(i) => Action::Update(vec![format!(
                "~ associated with {} -> {i}",
                d.instance_id.as_deref().unwrap_or("nothing")
            )]),
            None => Action::Update(vec!["~ associated instance (known after apply)".into()]),
        }
    }

    /// An associated address goes before its instance (it is released first).
    fn uses(d: &EipLive) -> Vec<String> {
        d.instance_id.iter().cloned().collect()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let req = ctx.clients.ec2.allocate_address().domain(DomainType::Vpc);
        let out = ec2_create!(req, ElasticIp, "AllocateAddress", r);
        let alloc = out
            .allocation_id()
            .ok_or_else(|| anyhow!("AllocateAddress: no allocation id in the response"))?;
        if let Some(i) = &spec.instance_id {
            associate_eip(ctx, alloc, &v.text(i)?).await?;
        }
        Ok(eip_attrs(alloc, out.public_ip()))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, .. }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        if let Some(i) = &spec.instance_id {
            associate_eip(ctx, &live.physical(), &v.text(i)?).await?;
        }
        Ok(live.attrs.clone())
    }

    /// Disassociates and releases it.
    async fn delete(ctx: &Ctx, Del { live, d, .. }: Del<'_, Self>) -> Result<String> {
        let ec2 = &ctx.clients.ec2;
        if let Some(a) = &d.association_id {
            let res = ec2.disassociate_address().association_id(a).send().await;
            found(
                res,
                &["InvalidAssociationID.NotFound"],
                "DisassociateAddress",
                a,
            )?;
        }
        ec2_delete!(
            ctx,
            live,
            "ReleaseAddress",
            NO_ADDRESS,
            release_address.allocation_id
        )
        .await?;
        Ok(live
            .attrs
            .get("public_ip")
            .map(|ip| format!("released {ip}"))
            .unwrap_or_default())
    }
}

async fn associate_eip(ctx: &Ctx, alloc: &str, instance: &str) -> Result<()> {
    ctx.clients
        .ec2
        .associate_address()
        .allocation_id(alloc)
        .instance_id(instance)
        .allow_reassociation(true)
        .send()
        .or_fail("AssociateAddress", alloc)
        .await?;
    Ok(())
}

// ---- db_subnet_group ----

#[derive(Debug, Clone)]
pub struct DbSubnetGroupLive {
    pub subnets: Vec<String>,
}

pub struct DbSubnetGroup;

const GROUP_GONE: &[&str] = &["DBSubnetGroupNotFoundFault"];

fn rds_tags(r: &detscript_engine::Resource) -> Vec<aws_sdk_rds::types::Tag> {
    sdk_tags(r, |k, v| {
        Some(aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
    })
}

impl Provider for DbSubnetGroup {
    /// The groups named as planned or with the deployment's prefix, with their tags.
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let groups = all_items!(
            c.rds.describe_db_subnet_groups(),
            "DescribeDBSubnetGroups",
            ""
        )?;
        let dep = plan.deployment.name.as_str();
        let prefix = format!("{}-", dep.to_ascii_lowercase());
        let names = planned(plan, Kind::DbSubnetGroup);
        let mut st = State::default();
        for g in groups {
            let name = g.db_subnet_group_name().unwrap_or_default().to_string();
            if !names.contains_key(&name) && !name.starts_with(&prefix) {
                continue;
            }
            let tags = match g.db_subnet_group_arn() {
                Some(arn) => {
                    let out = c
                        .rds
                        .list_tags_for_resource()
                        .resource_name(arn)
                        .send()
                        .or_fail("ListTagsForResource", &name)
                        .await?;
                    tag_map(out.tag_list().iter().map(|t| (t.key(), t.value())))
                }
                None => Default::default(),
            };
            let subnets = g
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect();
            let live = Live::new(
                &name,
                attr_map([("id", Some(name.as_str())), ("name", Some(&name))]),
                DbSubnetGroupLive { subnets },
            );
            st.add(dep, &tags, live, names.get(&name).map(String::as_str));
        }
        Ok(st)
    }

    fn compare(spec: &DbSubnetGroupSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        compare_ids("subnets", &spec.subnet_ids, &d.subnets, cx)
    }

    fn uses(d: &DbSubnetGroupLive) -> Vec<String> {
        d.subnets.clone()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        ctx.clients
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .db_subnet_group_description(v.text(&spec.description)?)
            .set_subnet_ids(Some(v.list(&spec.subnet_ids)?))
            .set_tags(Some(rds_tags(r)))
            .send()
            .or_fail("CreateDBSubnetGroup", &spec.name)
            .await?;
        Ok(attr_map([
            ("id", Some(spec.name.as_str())),
            ("name", Some(&spec.name)),
        ]))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, .. }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        ctx.clients
            .rds
            .modify_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .set_subnet_ids(Some(v.list(&spec.subnet_ids)?))
            .send()
            .or_fail("ModifyDBSubnetGroup", &spec.name)
            .await?;
        Ok(live.attrs.clone())
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let res = ctx
            .clients
            .rds
            .delete_db_subnet_group()
            .db_subnet_group_name(&live.name)
            .send()
            .await;
        found(res, GROUP_GONE, "DeleteDBSubnetGroup", &live.name)?;
        Ok(String::new())
    }
}
