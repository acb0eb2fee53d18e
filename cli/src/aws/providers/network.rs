//! The VPC (new, or an existing one that is only looked up), its internet gateway (created
//! and attached together), its subnets (with their route table association) and gateway
//! endpoints. Each is found by its ownership tags; an existing VPC never is, so it is never
//! modified or deleted.

use std::collections::BTreeSet;
use std::future::Future;

use anyhow::{Result, anyhow, bail};
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use detscript_engine::kinds::{InternetGatewaySpec, SubnetSpec, TAG_DEPLOYMENT, VpcSpec};
use detscript_engine::{Plan, Spec, Tmpl};

use super::sg::{filter, is_dependency_violation};
use super::{
    AttrMap, Cmp, Del, Detail, Have, LiveDetail, Provider, Want, all_items, attr_map, found,
    set_of, tag_map, update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err, code_of, retry_while, say_waiting};

/// The filter on the deployment's ownership tag.
pub fn owned_filter(plan: &Plan) -> Filter {
    filter(
        format!("tag:{TAG_DEPLOYMENT}"),
        vec![plan.deployment.name.clone()],
    )
}

/// Records the discovered EC2 resources of one kind: `read` gives one's tags and live state.
/// Names are not unique in a VPC, so nothing counts as a conflict.
pub fn record<'a, T: 'a>(
    plan: &Plan,
    found: impl IntoIterator<Item = &'a T>,
    read: impl Fn(&'a T) -> (&'a [aws_sdk_ec2::types::Tag], Live),
) -> State {
    let dep = plan.deployment.name.as_str();
    let mut st = State::default();
    for (tags, live) in found.into_iter().map(read) {
        st.add(dep, &ec2_tags(tags), live, None);
    }
    st
}

/// EC2 tags as a map.
pub fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> std::collections::BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

/// Runs a request on the live resource (`f` gets EC2's client and the resource's id),
/// retrying `DependencyViolation` (something still draining) for a while; a resource already
/// gone (one of `gone`) is fine.
pub async fn delete_retrying<T, E, F, Fut>(
    ctx: &Ctx,
    live: &Live,
    op: &str,
    gone: &[&str],
    mut f: F,
) -> Result<()>
where
    F: FnMut(&aws_sdk_ec2::Client, &str) -> Fut,
    Fut: Future<
        Output = std::result::Result<T, SdkError<E, aws_sdk_ec2::config::http::HttpResponse>>,
    >,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let id = live.physical();
    let res = retry_while(
        ctx.waits.dependency_violation,
        || f(&ctx.clients.ec2, &id),
        |e| is_dependency_violation(code_of(e)) || code_of(e) == Some("InvalidIPAddress.InUse"),
        say_waiting(ctx, &live.id, "still in use", "DependencyViolation"),
    )
    .await;
    found(res, gone, op, &id)?;
    Ok(())
}

/// Polls with EC2's client (`poll` answers `Some` when done) until done, or fails after the
/// EC2 wait naming `what`.
pub async fn wait_ec2<T, F, Fut>(ctx: &Ctx, what: &str, poll: F) -> Result<T>
where
    F: Fn(aws_sdk_ec2::Client) -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let ec2 = &ctx.clients.ec2;
    crate::aws::wait_for(what, ctx.waits.ec2, || poll(ec2.clone())).await
}

/// The update that makes a live set of ids (`have`) the wanted one, if any.
pub fn compare_ids(what: &str, want: &[Tmpl], have: &[String], cx: &Cmp) -> Action {
    let want: Option<Vec<String>> = want.iter().map(|t| known_now(cx, t)).collect();
    match want {
        Some(w) if set_of(&w) == set_of(have) => Action::NoOp,
        Some(w) => Action::Update(vec![format!(
            "~ {what} [{}] -> [{}]",
            have.join(", "),
            w.join(", ")
        )]),
        None => Action::Update(vec![format!("~ {what} (known after apply)")]),
    }
}

/// A sent request's result, or its error as one line naming the operation and target.
pub trait OrFail<T> {
    fn or_fail(self, op: &str, target: &str) -> impl Future<Output = Result<T>> + Send;
}

impl<T, E, F> OrFail<T> for F
where
    F: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>> + Send,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn or_fail(self, op: &str, target: &str) -> impl Future<Output = Result<T>> + Send {
        let (op, target) = (op.to_string(), target.to_string());
        async move { self.await.map_err(|e| aws_err(&op, &target, e)) }
    }
}

/// Sends an EC2 create request (`req`, a builder) with the resource's tags; gives the answer,
/// or with `$get.$id` the new resource's id read from it: `out.$get().and_then(|x| x.$id())`.
macro_rules! ec2_create {
    ($req:expr, $type:ident, $op:literal, $r:expr) => {{
        let r: &detscript_engine::Resource = $r;
        $req.tag_specifications($crate::aws::providers::sg::tag_spec(
            aws_sdk_ec2::types::ResourceType::$type,
            r,
        ))
        .send()
        .or_fail($op, &r.name)
        .await?
    }};
    ($req:expr, $type:ident, $op:literal, $r:expr, $get:ident . $id:ident) => {{
        let out = $crate::aws::providers::network::ec2_create!($req, $type, $op, $r);
        out.$get()
            .and_then(|x| x.$id())
            .unwrap_or_default()
            .to_string()
    }};
}
pub(crate) use ec2_create;

/// Deletes the live EC2 resource with `ec2.$call().$id(id)` (say `delete_vpc.vpc_id`),
/// retrying while it is still in use; a resource already gone (one of `$gone`) is fine (see
/// [`delete_retrying`]).
macro_rules! ec2_delete {
    ($ctx:expr, $live:expr, $op:literal, $gone:expr, $call:ident . $id:ident) => {
        $crate::aws::providers::network::delete_retrying($ctx, $live, $op, $gone, |ec2, id| {
            ec2.$call().$id(id).send()
        })
    };
}
pub(crate) use ec2_delete;

/// The attributes of a resource known by its id alone.
pub fn id_attrs(id: &str) -> AttrMap {
    attr_map([("id", Some(id))])
}

/// A live resource known by its id alone, with its kind's detail.
pub fn by_id(id: &str, detail: impl Into<Detail>) -> Live {
    Live::new(id, id_attrs(id), detail)
}

/// The known text of an id, or None while it is known only after apply.
pub fn known_now(cx: &Cmp, t: &Tmpl) -> Option<String> {
    if cx.after_apply {
        return None;
    }
    cx.vals.known(t)
}

// ---- vpc ----

#[derive(Debug, Clone)]
pub struct VpcLive {
    pub cidr: String,
}

pub struct Vpc;

const NO_VPC: &[&str] = &["InvalidVpcID.NotFound"];

fn vpc_live(v: &aws_sdk_ec2::types::Vpc) -> Live {
    let id = v.vpc_id().unwrap_or_default();
    Live::new(
        id,
        attr_map([("id", Some(id)), ("cidr_block", v.cidr_block())]),
        VpcLive {
            cidr: v.cidr_block().unwrap_or_default().to_string(),
        },
    )
}

/// An existing VPC by id, or None when the region has none with that id.
async fn describe_vpc(c: &Clients, id: &str) -> Result<Option<aws_sdk_ec2::types::Vpc>> {
    let res = c.ec2.describe_vpcs().vpc_ids(id).send().await;
    Ok(found(res, NO_VPC, "DescribeVpcs", id)?.and_then(|o| o.vpcs().first().cloned()))
}

impl Provider for Vpc {
    /// The owned VPCs by tag, and the existing VPCs the plan names (looked up, never owned).
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let req = c.ec2.describe_vpcs().filters(owned_filter(plan));
        let vpcs = all_items!(req, "DescribeVpcs", "")?;
        let mut st = record(plan, &vpcs, |v| (v.tags(), vpc_live(v)));
        for r in &plan.resources {
            let existing = match &r.spec {
                Spec::Vpc(spec) => spec.existing_id.as_ref(),
                _ => None,
            };
            if let Some(id) = existing {
                match describe_vpc(c, id).await? {
                    Some(v) => {
                        let live = Live {
                            id: r.id.clone(),
                            ..vpc_live(&v)
                        };
                        st.existing.insert(r.id.clone(), live);
                    }
                    None => st.conflicts.push(format!(
                        "{}: the existing VPC {id} does not exist in {}; check the id and the region",
                        r.id, c.region
                    )),
                }
            }
        }
        Ok(st)
    }

    fn find<'s>(
        state: &'s State,
        r: &detscript_engine::Resource,
        spec: &VpcSpec,
        _cx: &mut Cmp,
    ) -> Option<Have<'s, Self>> {
        let live = match spec.existing_id {
            Some(_) => state.existing.get(&r.id)?,
            None => state.owned.get(&r.id)?,
        };
        Some(Have {
            live,
            d: VpcLive::of(&live.detail)?,
        })
    }

    fn create_notes(spec: &VpcSpec) -> Vec<String> {
        match &spec.existing_id {
            Some(id) => vec![format!(
                "the existing VPC {id} is not in this region: it is looked up, never created"
            )],
            None => Vec::new(),
        }
    }

    fn compare(spec: &VpcSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        match &spec.cidr_block {
            Some(c) if cx.vals.shown(c) != d.cidr => Action::Replace(format!(
                "CIDR {} -> {} (a VPC's range cannot change)",
                d.cidr,
                cx.vals.shown(c)
            )),
            _ => Action::NoOp,
        }
    }

    fn uses(_: &VpcLive) -> Vec<String> {
        Vec::new()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let c = &ctx.clients;
        if let Some(id) = &spec.existing_id {
            let Some(found) = describe_vpc(c, id).await? else {
                bail!(
                    "{}: the existing VPC {id} does not exist in {}",
                    r.id,
                    c.region
                );
            };
            return Ok(vpc_live(&found).attrs);
        }
        let cidr = v.opt(spec.cidr_block.as_ref())?.unwrap_or_default();
        let out = ec2_create!(c.ec2.create_vpc().cidr_block(&cidr), Vpc, "CreateVpc", r);
        let vpc = out
            .vpc()
            .ok_or_else(|| anyhow!("CreateVpc: no VPC in the response"))?;
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        for (attr, on) in [
            ("support", spec.enable_dns_support),
            ("hostnames", spec.enable_dns_hostnames),
        ] {
            let b = AttributeBooleanValue::builder().value(on).build();
            let req = c.ec2.modify_vpc_attribute().vpc_id(&id);
            let req = if attr == "support" {
                req.enable_dns_support(b)
            } else {
                req.enable_dns_hostnames(b)
            };
            req.send().or_fail("ModifyVpcAttribute", &id).await?;
        }
        Ok(attr_map([
            ("id", Some(id.as_str())),
            ("cidr_block", Some(&cidr)),
        ]))
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        ec2_delete!(ctx, live, "DeleteVpc", NO_VPC, delete_vpc.vpc_id).await?;
        Ok(String::new())
    }
}

// ---- internet_gateway ----

#[derive(Debug, Clone)]
pub struct GatewayLive {
    /// The VPCs it is attached to.
    pub vpcs: Vec<String>,
}

pub struct InternetGateway;

const NO_GATEWAY: &[&str] = &["InvalidInternetGatewayID.NotFound"];

impl Provider for InternetGateway {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let req = c
            .ec2
            .describe_internet_gateways()
            .filters(owned_filter(plan));
        let gws = all_items!(req, "DescribeInternetGateways", "")?;
        Ok(record(plan, &gws, |g| {
            let vpcs = g
                .attachments()
                .iter()
                .filter_map(|a| a.vpc_id().map(str::to_string))
                .collect();
            let id = g.internet_gateway_id().unwrap_or_default();
            (g.tags(), by_id(id, GatewayLive { vpcs }))
        }))
    }

    fn compare(spec: &InternetGatewaySpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        compare_ids(
            "attached to",
            std::slice::from_ref(&spec.vpc_id),
            &d.vpcs,
            cx,
        )
    }

    fn uses(d: &GatewayLive) -> Vec<String> {
        d.vpcs.clone()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let id = ec2_create!(
            ctx.clients.ec2.create_internet_gateway(),
            InternetGateway,
            "CreateInternetGateway",
            r,
            internet_gateway.internet_gateway_id
        );
        attach(ctx, &id, &v.text(&spec.vpc_id)?).await?;
        Ok(id_attrs(&id))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let vpc = v.text(&spec.vpc_id)?;
        for old in d.vpcs.iter().filter(|o| **o != vpc) {
            detach(ctx, live, old).await?;
        }
        if !d.vpcs.contains(&vpc) {
            attach(ctx, &live.physical(), &vpc).await?;
        }
        Ok(live.attrs.clone())
    }

    /// Detaches it (retrying while the VPC still maps public addresses), then deletes it.
    async fn delete(ctx: &Ctx, Del { live, d, .. }: Del<'_, Self>) -> Result<String> {
        for vpc in &d.vpcs {
            detach(ctx, live, vpc).await?;
        }
        ec2_delete!(
            ctx,
            live,
            "DeleteInternetGateway",
            NO_GATEWAY,
            delete_internet_gateway.internet_gateway_id
        )
        .await?;
        Ok(String::new())
    }
}

async fn attach(ctx: &Ctx, id: &str, vpc: &str) -> Result<()> {
    let req = ctx.clients.ec2.attach_internet_gateway();
    let req = req.internet_gateway_id(id).vpc_id(vpc);
    req.send().or_fail("AttachInternetGateway", id).await?;
    Ok(())
}

async fn detach(ctx: &Ctx, live: &Live, vpc: &str) -> Result<()> {
    delete_retrying(
        ctx,
        live,
        "DetachInternetGateway",
        &["Gateway.NotAttached", "InvalidInternetGatewayID.NotFound"],
        |ec2, id| {
            ec2.detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
        },
    )
    .await
}

// ---- subnet ----

#[derive(Debug, Clone)]
pub struct SubnetLive {
    pub vpc_id: String,
    pub cidr: String,
    pub zone: String,
    /// The zone's place among the region's available zones (what `.zone(n)` counts).
    pub zone_index: Option<i64>,
    pub map_public_ip: bool,
    /// The route table association: (association id, table id).
    pub association: Option<(String, String)>,
}

pub struct Subnet;

const NO_SUBNET: &[&str] = &["InvalidSubnetID.NotFound"];

impl Provider for Subnet {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let req = c.ec2.describe_subnets().filters(owned_filter(plan));
        let subnets = all_items!(req, "DescribeSubnets", "")?;
        let zones = if subnets.is_empty() {
            Vec::new()
        } else {
            zones(c).await?
        };
        let ids: Vec<String> = subnets
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_string))
            .collect();
        let mut assoc = std::collections::BTreeMap::new();
        if !ids.is_empty() {
            let req = c
                .ec2
                .describe_route_tables()
                .filters(filter("association.subnet-id", ids));
            for t in all_items!(req, "DescribeRouteTables", "")? {
                for a in t.associations() {
                    if let (Some(s), Some(aid), Some(tid)) = (
                        a.subnet_id(),
                        a.route_table_association_id(),
                        t.route_table_id(),
                    ) {
                        assoc.insert(s.to_string(), (aid.to_string(), tid.to_string()));
                    }
                }
            }
        }
        Ok(record(plan, &subnets, |s| {
            let id = s.subnet_id().unwrap_or_default();
            let zone = s.availability_zone().unwrap_or_default();
            let live = Live::new(
                id,
                attr_map([("id", Some(id)), ("availability_zone", Some(zone))]),
                SubnetLive {
                    vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                    cidr: s.cidr_block().unwrap_or_default().to_string(),
                    zone: zone.to_string(),
                    zone_index: zones.iter().position(|z| z == zone).map(|i| i as i64),
                    map_public_ip: s.map_public_ip_on_launch().unwrap_or(false),
                    association: assoc.get(id).cloned(),
                },
            );
            (s.tags(), live)
        }))
    }

    fn compare(spec: &SubnetSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let v = &cx.vals;
        let cidr = v.shown(&spec.cidr_block);
        if cidr != d.cidr {
            return Action::Replace(format!("CIDR {} -> {cidr}", d.cidr));
        }
        if let Some(vpc) = known_now(cx, &spec.vpc_id).filter(|x| *x != d.vpc_id) {
            return Action::Replace(format!("VPC {} -> {vpc}", d.vpc_id));
        }
        if let (Some(i), Some(have)) = (spec.zone_index, d.zone_index) {
            if i != have {
                return Action::Replace(format!("zone {} -> zone {} of the region", d.zone, i + 1));
            }
        }
        if let Some(z) = spec.availability_zone.as_ref().map(|z| v.shown(z)) {
            if z != d.zone {
                return Action::Replace(format!("zone {} -> {z}", d.zone));
            }
        }
        let mut upd = Vec::new();
        if spec.map_public_ip_on_launch != d.map_public_ip {
            upd.push(format!(
                "~ public IPs on launch {} -> {}",
                d.map_public_ip, spec.map_public_ip_on_launch
            ));
        }
        let have = d.association.as_ref().map(|(_, t)| t.clone());
        match spec.route_table_id.as_ref().map(|t| known_now(cx, t)) {
            Some(Some(t)) if have.as_deref() == Some(t.as_str()) => {}
            Some(Some(t)) => upd.push(format!(
                "~ route table {} -> {t}",
                have.as_deref().unwrap_or("main")
            )),
            Some(None) => upd.push("~ route table (known after apply)".into()),
            None => {}
        }
        update_or_noop(upd)
    }

    fn uses(d: &SubnetLive) -> Vec<String> {
        let mut out = vec![d.vpc_id.clone()];
        out.extend(d.association.iter().map(|(_, t)| t.clone()));
        out
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let ec2 = &ctx.clients.ec2;
        let zone = match (&spec.availability_zone, spec.zone_index) {
            (Some(z), _) => Some(v.text(z)?),
            (None, Some(i)) => Some(nth_zone(&ctx.clients, i).await?),
            (None, None) => None,
        };
        let req = ec2
            .create_subnet()
            .vpc_id(v.text(&spec.vpc_id)?)
            .cidr_block(v.text(&spec.cidr_block)?)
            .set_availability_zone(zone);
        let out = ec2_create!(req, Subnet, "CreateSubnet", r);
        let s = out
            .subnet()
            .ok_or_else(|| anyhow!("CreateSubnet: no subnet in the response"))?;
        let id = s.subnet_id().unwrap_or_default().to_string();
        let zone = s.availability_zone().unwrap_or_default().to_string();
        if spec.map_public_ip_on_launch {
            set_public(ctx, &id, true).await?;
        }
        if let Some(t) = &spec.route_table_id {
            associate(ctx, &id, &v.text(t)?, None).await?;
        }
        Ok(attr_map([
            ("id", Some(id.as_str())),
            ("availability_zone", Some(&zone)),
        ]))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let id = live.physical();
        if spec.map_public_ip_on_launch != d.map_public_ip {
            set_public(ctx, &id, spec.map_public_ip_on_launch).await?;
        }
        if let Some(t) = &spec.route_table_id {
            let t = v.text(t)?;
            if d.association.as_ref().map(|(_, x)| x) != Some(&t) {
                associate(
                    ctx,
                    &id,
                    &t,
                    d.association.as_ref().map(|(a, _)| a.as_str()),
                )
                .await?;
            }
        }
        Ok(live.attrs.clone())
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        ec2_delete!(
            ctx,
            live,
            "DeleteSubnet",
            NO_SUBNET,
            delete_subnet.subnet_id
        )
        .await?;
        Ok(String::new())
    }
}

/// The region's available zones, sorted by name (as `.zone(n)` counts them).
async fn zones(c: &Clients) -> Result<Vec<String>> {
    let out = c
        .ec2
        .describe_availability_zones()
        .filters(filter("state", vec!["available".into()]))
        .filters(filter("zone-type", vec!["availability-zone".into()]))
        .send()
        .or_fail("DescribeAvailabilityZones", "")
        .await?;
    let zones: BTreeSet<String> = out
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    Ok(zones.into_iter().collect())
}

/// The `i`-th available zone of the region, by name.
async fn nth_zone(c: &Clients, i: i64) -> Result<String> {
    let zones = zones(c).await?;
    let n = zones.len();
    zones.into_iter().nth(i as usize).ok_or_else(|| {
        anyhow!(
            "{} has {n} available zones; a subnet asks for zone {} (.zone({i}))",
            c.region,
            i + 1
        )
    })
}

async fn set_public(ctx: &Ctx, id: &str, on: bool) -> Result<()> {
    ctx.clients
        .ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .or_fail("ModifySubnetAttribute", id)
        .await?;
    Ok(())
}

/// Associates the subnet with the table (replacing the association `old`).
async fn associate(ctx: &Ctx, subnet: &str, table: &str, old: Option<&str>) -> Result<()> {
    let ec2 = &ctx.clients.ec2;
    match old {
        Some(a) => {
            ec2.replace_route_table_association()
                .association_id(a)
                .route_table_id(table)
                .send()
                .or_fail("ReplaceRouteTableAssociation", subnet)
                .await?;
        }
        None => {
            ec2.associate_route_table()
                .subnet_id(subnet)
                .route_table_id(table)
                .send()
                .or_fail("AssociateRouteTable", subnet)
                .await?;
        }
    }
    Ok(())
}
