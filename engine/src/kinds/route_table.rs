//! `route_table` (with its routes) and `nat_gateway` (in a public subnet, with an Elastic IP).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::KindSpec;
use crate::cfn::{Cx, Mapped};
use crate::plan::Resource;
use crate::value::Tmpl;

closed_struct! {
    pub struct RouteTableSpec {
        pub vpc_id: Tmpl,
        /// The routes besides the VPC's local one, in the order declared.
        pub routes: Vec<Route>,
    }
}

closed_struct! {
    pub struct Route {
        pub destination: Tmpl,
        pub target: RouteTarget,
    }
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    InternetGateway(Tmpl),
    NatGateway(Tmpl),
}

impl RouteTarget {
    pub fn id(&self) -> &Tmpl {
        match self {
            RouteTarget::InternetGateway(t) | RouteTarget::NatGateway(t) => t,
        }
    }
}

closed_struct! {
    pub struct NatGatewaySpec {
        /// The public subnet it sits in.
        pub subnet_id: Tmpl,
        /// The allocation id of its Elastic IP.
        pub allocation_id: Tmpl,
    }
}

impl RouteTableSpec {
    /// True when some route sends `0.0.0.0/0` somewhere (the table leads out of the VPC).
    pub fn has_default_route(&self) -> bool {
        self.routes
            .iter()
            .any(|r| r.destination.as_text() == Some("0.0.0.0/0"))
    }

    /// The default route's target, if any.
    pub fn default_target(&self) -> Option<&RouteTarget> {
        self.routes
            .iter()
            .find(|r| r.destination.as_text() == Some("0.0.0.0/0"))
            .map(|r| &r.target)
    }
}

impl KindSpec for RouteTableSpec {
    const NAME_TAG: bool = true;

    /// `in vpc.main` and one line per route.
    fn render_text(&self, out: &mut String) -> bool {
        use std::fmt::Write as _;
        let _ = writeln!(out, "      in {}", super::subnet::named(&self.vpc_id));
        for r in &self.routes {
            let via = super::subnet::named(r.target.id());
            let _ = writeln!(out, "      route {} -> {via}", r.destination);
        }
        true
    }

    /// `AWS::EC2::RouteTable` and one `AWS::EC2::Route` per route (`<table>Route<N>`); a
    /// route to an internet gateway waits for the gateway's attachment.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::RouteTable");
        m.set("VpcId", cx.tmpl(&self.vpc_id)?);
        m.set("Tags", cx.tags(r)?);
        for (i, route) in self.routes.iter().enumerate() {
            let mut x = Mapped::new("AWS::EC2::Route");
            x.set("RouteTableId", cx.ref_to(&r.id));
            x.set("DestinationCidrBlock", cx.tmpl(&route.destination)?);
            let mut after = Vec::new();
            match &route.target {
                RouteTarget::InternetGateway(g) => {
                    x.set("GatewayId", cx.tmpl(g)?);
                    if let Some(gw) = g.as_ref() {
                        let attachment =
                            format!("{}{}", cx.logical_id(&gw.resource), super::vpc::ATTACHMENT);
                        after.push(attachment);
                    }
                }
                RouteTarget::NatGateway(n) => {
                    x.set("NatGatewayId", cx.tmpl(n)?);
                }
            }
            m.extra(&format!("Route{i}"), x, after);
        }
        Ok(m)
    }
}

impl KindSpec for NatGatewaySpec {
    const NAME_TAG: bool = true;

    /// `AWS::EC2::NatGateway`.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::NatGateway");
        m.set("SubnetId", cx.tmpl(&self.subnet_id)?);
        m.set("AllocationId", cx.tmpl(&self.allocation_id)?);
        m.set("ConnectivityType", json!("public"));
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_is_found() {
        let mut t = RouteTableSpec {
            vpc_id: Tmpl::text("vpc-1"),
            routes: vec![Route {
                destination: Tmpl::text("10.1.0.0/16"),
                target: RouteTarget::NatGateway(Tmpl::text("nat-1")),
            }],
        };
        assert!(!t.has_default_route());
        t.routes.push(Route {
            destination: Tmpl::text("0.0.0.0/0"),
            target: RouteTarget::InternetGateway(Tmpl::text("igw-1")),
        });
        assert!(t.has_default_route());
        assert_eq!(
            t.default_target().map(|t| t.id().to_string()),
            Some("igw-1".into())
        );
    }
}
