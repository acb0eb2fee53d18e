//! Gateway endpoints: the S3 endpoint on the route tables of the script's subnets, so that
//! agents reach checkpoints without NAT traffic.

use anyhow::Result;
use aws_sdk_ec2::types::VpcEndpointType;
use detscript_engine::Plan;
use detscript_engine::kinds::VpcEndpointSpec;
use detscript_engine::kinds::vpc::service_name;

use super::network::{
    OrFail, by_id, compare_ids, ec2_create, id_attrs, known_now, owned_filter, record, wait_ec2,
};
use super::{AttrMap, Cmp, Del, Have, Provider, Want, all_items, found, set_of};
use crate::aws::diff::Action;
use crate::aws::discover::State;
use crate::aws::{Clients, Ctx};

// ---- vpc_endpoint ----

#[derive(Debug, Clone)]
pub struct EndpointLive {
    pub vpc_id: String,
    pub service: String,
    pub route_tables: Vec<String>,
}

pub struct VpcEndpoint;

const ENDPOINT_GONE: &[&str] = &["deleted", "deleting", "failed", "rejected", "expired"];
const NO_ENDPOINT: &[&str] = &["InvalidVpcEndpointId.NotFound"];

impl Provider for VpcEndpoint {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let req = c.ec2.describe_vpc_endpoints().filters(owned_filter(plan));
        let eps = all_items!(req, "DescribeVpcEndpoints", "")?;
        let live_ones = eps.iter().filter(|e| {
            let state = e.state().map(|s| s.as_str().to_ascii_lowercase());
            !state.is_some_and(|s| ENDPOINT_GONE.contains(&s.as_str()))
        });
        Ok(record(plan, live_ones, |e| {
            let live = EndpointLive {
                vpc_id: e.vpc_id().unwrap_or_default().to_string(),
                service: e.service_name().unwrap_or_default().to_string(),
                route_tables: e.route_table_ids().to_vec(),
            };
            let id = e.vpc_endpoint_id().unwrap_or_default();
            (e.tags(), by_id(id, live))
        }))
    }

    fn compare(spec: &VpcEndpointSpec, Have { d, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let suffix = format!(".{}", spec.service);
        if !d.service.ends_with(&suffix) {
            return Action::Replace(format!("service {} -> {}", d.service, spec.service));
        }
        if let Some(vpc) = known_now(cx, &spec.vpc_id).filter(|x| *x != d.vpc_id) {
            return Action::Replace(format!("VPC {} -> {vpc}", d.vpc_id));
        }
        compare_ids("route tables", &spec.route_table_ids, &d.route_tables, cx)
    }

    fn uses(d: &EndpointLive) -> Vec<String> {
        let mut out = vec![d.vpc_id.clone()];
        out.extend(d.route_tables.iter().cloned());
        out
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let c = &ctx.clients;
        let req = c
            .ec2
            .create_vpc_endpoint()
            .vpc_id(v.text(&spec.vpc_id)?)
            .service_name(service_name(&c.region, &spec.service))
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(v.list(&spec.route_table_ids)?));
        let id = ec2_create!(
            req,
            VpcEndpoint,
            "CreateVpcEndpoint",
            r,
            vpc_endpoint.vpc_endpoint_id
        );
        Ok(id_attrs(&id))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let want = set_of(&v.list(&spec.route_table_ids)?);
        let have = set_of(&d.route_tables);
        let id = live.physical();
        ctx.clients
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&id)
            .set_add_route_table_ids(Some(want.difference(&have).cloned().collect()))
            .set_remove_route_table_ids(Some(have.difference(&want).cloned().collect()))
            .send()
            .or_fail("ModifyVpcEndpoint", &id)
            .await?;
        Ok(live.attrs.clone())
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let id = live.physical();
        let id = id.as_str();
        let res = ctx.clients.ec2.delete_vpc_endpoints().vpc_endpoint_ids(id);
        found(res.send().await, NO_ENDPOINT, "DeleteVpcEndpoints", id)?;
        // Wait until it is gone, so that its route tables can go.
        let what = format!("VPC endpoint {id} to be deleted");
        wait_ec2(ctx, &what, |ec2| async move {
            let res = ec2
                .describe_vpc_endpoints()
                .vpc_endpoint_ids(id)
                .send()
                .await;
            let out = found(res, NO_ENDPOINT, "DescribeVpcEndpoints", id)?;
            let gone = out.is_none_or(|o| {
                o.vpc_endpoints().iter().all(|e| {
                    e.state().is_some_and(|s| {
                        ENDPOINT_GONE.contains(&s.as_str().to_ascii_lowercase().as_str())
                    })
                })
            });
            Ok(gone.then_some(()))
        })
        .await?;
        Ok(String::new())
    }
}
