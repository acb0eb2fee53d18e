//! `security_group`: a VPC security group (its rules are `security_group_rule` resources).

use super::{KindSpec, NameError, Outputs};
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::{Ref, Tmpl};

closed_struct! {
    pub struct SecurityGroupSpec {
        pub group_name: String,
        pub description: Tmpl,
        /// The VPC of the script (None: the account's default VPC).
        #[serde(default)]
        pub vpc_id: Option<Tmpl>,
    }
}

impl KindSpec for SecurityGroupSpec {
    const NAME_TAG: bool = true;
    const CFN_ATTRS: CfnAttrs = &[("id", Some("GroupId"))];

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        self.group_name = name.clone();
        Ok(name)
    }

    fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
        out.insert(
            format!("{name}_security_group_id"),
            Tmpl::reference(Ref::new(id, "id")),
        );
    }

    // CloudFormation --------------------------------------------------------------------------

    /// `AWS::EC2::SecurityGroup` in the template's VPC. Its rules are separate resources; the
    /// inline egress rule AWS CDK uses for "no outbound traffic" matches nothing and makes
    /// CloudFormation remove the default allow-all egress, as `run` does.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::SecurityGroup");
        m.set("GroupDescription", cx.tmpl(&self.description)?);
        m.set("GroupName", self.group_name.as_str().into());
        if let Some(v) = &self.vpc_id {
            m.set("VpcId", cx.tmpl(v)?);
        } else if let Some(vpc) = cx.vpc() {
            m.set("VpcId", serde_json::json!({ "Ref": vpc }));
        }
        m.set(
            "SecurityGroupEgress",
            serde_json::json!([{
                "CidrIp": "255.255.255.255/32",
                "Description": "Disallow all traffic",
                "FromPort": 252,
                "IpProtocol": "icmp",
                "ToPort": 86,
            }]),
        );
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}
