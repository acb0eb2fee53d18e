//! `vpc` (a new VPC, or an existing one looked up by id), `internet_gateway` (with its
//! attachment to the VPC) and `vpc_endpoint` (an S3 gateway endpoint on route tables).

use serde_json::json;

use super::{KindSpec, Outputs};
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::{Ref, Tmpl};

closed_struct! {
    pub struct VpcSpec {
        /// The VPC's IPv4 range; None for an existing VPC.
        pub cidr_block: Option<Tmpl>,
        /// An existing VPC (`vpc-...`): looked up at apply time, never modified or deleted.
        pub existing_id: Option<String>,
        pub enable_dns_hostnames: bool,
        pub enable_dns_support: bool,
    }
}

closed_struct! {
    pub struct InternetGatewaySpec {
        /// The VPC it is attached to.
        pub vpc_id: Tmpl,
    }
}

closed_struct! {
    pub struct VpcEndpointSpec {
        pub vpc_id: Tmpl,
        /// The service's short name (`s3`); the endpoint is for `com.amazonaws.REGION.SERVICE`.
        pub service: String,
        /// Gateway endpoints add a route to the service's prefix list in each of these tables.
        pub route_table_ids: Vec<Tmpl>,
    }
}

/// Why an id is not a VPC id.
pub fn check_vpc_id(id: &str) -> Result<(), String> {
    let ok = id
        .strip_prefix("vpc-")
        .is_some_and(|h| (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a VPC id like \"vpc-0123456789abcdef0\""
        ))
    }
}

/// The endpoint service name of `service` in `region`.
pub fn service_name(region: &str, service: &str) -> String {
    let prefix = if region.starts_with("cn-") {
        "cn.com.amazonaws"
    } else {
        "com.amazonaws"
    };
    format!("{prefix}.{region}.{service}")
}

impl KindSpec for VpcSpec {
    const NAME_TAG: bool = true;
    const CFN_ATTRS: CfnAttrs = &[("id", None), ("cidr_block", Some("CidrBlock"))];

    fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
        out.insert(
            format!("{name}_vpc_id"),
            match &self.existing_id {
                Some(v) => Tmpl::text(v.clone()),
                None => Tmpl::reference(Ref::new(id, "id")),
            },
        );
    }

    /// `AWS::EC2::VPC`. An existing VPC has no resource: references to it are its id.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let Some(cidr) = &self.cidr_block else {
            return Ok(Mapped::none());
        };
        let mut m = Mapped::new("AWS::EC2::VPC");
        m.set("CidrBlock", cx.tmpl(cidr)?);
        m.set("EnableDnsHostnames", self.enable_dns_hostnames.into());
        m.set("EnableDnsSupport", self.enable_dns_support.into());
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

impl KindSpec for InternetGatewaySpec {
    const NAME_TAG: bool = true;

    /// `AWS::EC2::InternetGateway` and its `AWS::EC2::VPCGatewayAttachment` (logical id
    /// `<gateway>Attachment`, which routes to the gateway depend on).
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::InternetGateway");
        m.set("Tags", cx.tags(r)?);
        let vpc = cx.tmpl(&self.vpc_id)?;
        let me = cx.ref_to(&r.id);
        let mut att = Mapped::new("AWS::EC2::VPCGatewayAttachment");
        att.set("VpcId", vpc);
        att.set("InternetGatewayId", me);
        m.extra(ATTACHMENT, att, Vec::new());
        Ok(m)
    }
}

/// The suffix of an internet gateway's attachment's logical id.
pub(crate) const ATTACHMENT: &str = "Attachment";

impl KindSpec for VpcEndpointSpec {
    const NAME_TAG: bool = true;

    /// `AWS::EC2::VPCEndpoint` of type `Gateway`.
    fn cfn(&self, _r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::VPCEndpoint");
        m.set("VpcId", cx.tmpl(&self.vpc_id)?);
        m.set(
            "ServiceName",
            json!({ "Fn::Sub": format!("com.amazonaws.${{AWS::Region}}.{}", self.service) }),
        );
        m.set("VpcEndpointType", "Gateway".into());
        m.set("RouteTableIds", cx.tmpls(&self.route_table_ids)?);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_ids_are_checked() {
        assert!(check_vpc_id("vpc-0123abcd").is_ok());
        assert!(check_vpc_id("vpc-0123456789abcdef0").is_ok());
        for bad in ["vpc-", "vpc-xyz12345", "subnet-0123abcd", "vpc-0123"] {
            let e = check_vpc_id(bad).unwrap_err();
            assert!(e.contains("is not a VPC id"), "{e}");
        }
    }

    /// An existing VPC is no template resource: what is made in it names it by id, and no
    /// VPC parameter is asked for.
    #[test]
    fn an_existing_vpc_exports_as_its_id() {
        use crate::{CompileRequest, Mode, cfn, compile};
        let src = "deployment(\"t\");\nlet v = existing_vpc(\"vpc-0123abcd\");\n\
                   let g = internet_gateway(\"g\", v);\n\
                   let rt = route_table(\"rt\", v).route(\"0.0.0.0/0\", g);\n\
                   subnet(\"s\", v, \"10.0.0.0/24\").zone(1).route_table(rt);\n\
                   security_group(\"sg\", \"d\");\n";
        let out = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap();
        let t = cfn::export(&out.plan, &out.params).unwrap();
        let res = &t["Resources"];
        assert!(res.get("VpcVpc0123abcd").is_none(), "{res:#}");
        assert_eq!(res["SubnetS"]["Properties"]["VpcId"], "vpc-0123abcd");
        assert_eq!(
            res["SubnetS"]["Properties"]["AvailabilityZone"],
            json!({ "Fn::Select": ["1", { "Fn::GetAZs": "" }] })
        );
        assert_eq!(
            res["SecurityGroupSg"]["Properties"]["VpcId"],
            "vpc-0123abcd"
        );
        assert_eq!(
            res["InternetGatewayGAttachment"]["Properties"]["VpcId"],
            "vpc-0123abcd"
        );
        assert_eq!(
            res["RouteTableRtRoute0"]["DependsOn"],
            json!(["InternetGatewayGAttachment"])
        );
        assert_eq!(
            res["SubnetSRouteTableAssociation"]["Properties"]["RouteTableId"],
            json!({ "Ref": "RouteTableRt" })
        );
        assert!(
            t.get("Parameters").is_none_or(|p| p.get("VpcId").is_none()),
            "{t:#}"
        );
    }

    #[test]
    fn service_names_follow_the_partition() {
        assert_eq!(
            service_name("us-west-2", "s3"),
            "com.amazonaws.us-west-2.s3"
        );
        assert_eq!(
            service_name("cn-north-1", "s3"),
            "cn.com.amazonaws.cn-north-1.s3"
        );
    }
}
