//! `subnet` (in one availability zone, associated with a route table) and `db_subnet_group`
//! (the subnets a database may be placed in).

use serde_json::json;

use super::{KindSpec, NameError};
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::Tmpl;

closed_struct! {
    pub struct SubnetSpec {
        pub vpc_id: Tmpl,
        pub cidr_block: Tmpl,
        /// The zone by name (`us-west-2a`), or
        pub availability_zone: Option<Tmpl>,
        /// the n-th available zone of the region (sorted by name), resolved at apply time.
        pub zone_index: Option<i64>,
        /// Instances launched here get a public IP by default.
        pub map_public_ip_on_launch: bool,
        /// The route table the subnet is associated with (else the VPC's main table).
        pub route_table_id: Option<Tmpl>,
    }
}

closed_struct! {
    pub struct DbSubnetGroupSpec {
        /// The group's name (lowercase, as RDS stores it).
        pub name: String,
        pub description: Tmpl,
        pub subnet_ids: Vec<Tmpl>,
    }
}

/// A resource a template points at, by plan id; other text as it is.
pub(crate) fn named(t: &Tmpl) -> String {
    match t.as_ref() {
        Some(r) => r.resource.clone(),
        None => t.to_string(),
    }
}

/// RDS lowercases subnet group names.
pub fn db_subnet_group_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}").to_ascii_lowercase()
}

impl SubnetSpec {
    /// The zone as people read it: the name, or `zone N of the region`.
    pub fn zone_label(&self) -> String {
        match (&self.availability_zone, self.zone_index) {
            (Some(z), _) => z.to_string(),
            (None, Some(i)) => format!("zone {} of the region (resolved at apply time)", i + 1),
            (None, None) => "any zone".into(),
        }
    }

    /// A key telling zones apart before apply: the name, or `#N` for the n-th zone.
    pub fn zone_key(&self) -> String {
        match (&self.availability_zone, self.zone_index) {
            (Some(z), _) => z.display(crate::value::Style::Text),
            (None, Some(i)) => format!("#{i}"),
            (None, None) => "?".into(),
        }
    }
}

impl KindSpec for SubnetSpec {
    const NAME_TAG: bool = true;
    const CFN_ATTRS: CfnAttrs = &[
        ("id", None),
        ("availability_zone", Some("AvailabilityZone")),
    ];

    /// `10.0.0.0/24 in vpc.main, zone ...` and its route table.
    fn render_text(&self, out: &mut String) -> bool {
        use std::fmt::Write as _;
        let public = if self.map_public_ip_on_launch {
            "public IPs on launch"
        } else {
            "no public IPs"
        };
        let _ = writeln!(
            out,
            "      {} in {}, {}\n      {public}, routes of {}",
            self.cidr_block,
            named(&self.vpc_id),
            self.zone_label(),
            self.route_table_id
                .as_ref()
                .map_or("the VPC's main route table".into(), named),
        );
        true
    }

    /// `AWS::EC2::Subnet` and, with a route table, its `AWS::EC2::SubnetRouteTableAssociation`.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::Subnet");
        m.set("VpcId", cx.tmpl(&self.vpc_id)?);
        m.set("CidrBlock", cx.tmpl(&self.cidr_block)?);
        let zone = match (&self.availability_zone, self.zone_index) {
            (Some(z), _) => cx.tmpl(z)?,
            (None, Some(i)) => json!({ "Fn::Select": [i.to_string(), { "Fn::GetAZs": "" }] }),
            (None, None) => return Err("the subnet has no availability zone".into()),
        };
        m.set("AvailabilityZone", zone);
        m.set("MapPublicIpOnLaunch", self.map_public_ip_on_launch.into());
        m.set("Tags", cx.tags(r)?);
        if let Some(rt) = &self.route_table_id {
            let mut a = Mapped::new("AWS::EC2::SubnetRouteTableAssociation");
            a.set("SubnetId", cx.ref_to(&r.id));
            a.set("RouteTableId", cx.tmpl(rt)?);
            m.extra("RouteTableAssociation", a, Vec::new());
        }
        Ok(m)
    }
}

impl KindSpec for DbSubnetGroupSpec {
    const CFN_ATTRS: CfnAttrs = &[("id", None), ("name", None)];

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        db_subnet_group_name(&scope.deployment, name)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        if name.len() > 255 {
            return Err(NameError::new(format!(
                "DB subnet group name {name:?} is longer than 255 characters"
            )));
        }
        self.name = name.clone();
        Ok(name)
    }

    /// `AWS::RDS::DBSubnetGroup`.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::RDS::DBSubnetGroup");
        m.set("DBSubnetGroupName", self.name.as_str().into());
        m.set("DBSubnetGroupDescription", cx.tmpl(&self.description)?);
        m.set("SubnetIds", cx.tmpls(&self.subnet_ids)?);
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(zone: Option<&str>, index: Option<i64>) -> SubnetSpec {
        SubnetSpec {
            vpc_id: Tmpl::text("vpc-1"),
            cidr_block: Tmpl::text("10.0.0.0/24"),
            availability_zone: zone.map(Tmpl::text),
            zone_index: index,
            map_public_ip_on_launch: false,
            route_table_id: None,
        }
    }

    #[test]
    fn zones_are_named_or_counted() {
        assert_eq!(subnet(Some("us-west-2b"), None).zone_key(), "us-west-2b");
        assert_eq!(subnet(None, Some(1)).zone_key(), "#1");
        assert_eq!(
            subnet(None, Some(1)).zone_label(),
            "zone 2 of the region (resolved at apply time)"
        );
        assert_eq!(db_subnet_group_name("Det", "db"), "det-db");
    }
}
