//! `instance_profile`: the EC2 instance profile of a role.

use crate::value::Tmpl;

closed_struct! {
    pub struct InstanceProfileSpec {
        /// The role's name.
        pub role: Tmpl,
    }
}

// CloudFormation ------------------------------------------------------------------------------

use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::{Kind, Resource};

use super::{KindSpec, NameError};

impl KindSpec for InstanceProfileSpec {
    /// A role's.
    const CFN_ATTRS: CfnAttrs = super::iam_role::IamRoleSpec::CFN_ATTRS;

    const GLOBAL: bool = true;

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        scope.iam_name(name, super::names::PROFILE_MAX)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        super::iam_role::check_iam_name(name, super::names::PROFILE_MAX)
    }

    /// `AWS::IAM::InstanceProfile` (it has no Tags). The plan carries the role's physical
    /// name; the profile refers to the role so that CloudFormation creates it first.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let name = crate::refs::display(&self.role.to_marked(), crate::refs::Style::Template);
        let role = cx
            .plan()
            .resources
            .iter()
            .find(|x| x.kind == Kind::IamRole && x.name == name);
        let role = match role {
            Some(x) => cx.ref_to(&x.id),
            None => cx.tmpl(&self.role)?,
        };
        let mut m = Mapped::new("AWS::IAM::InstanceProfile");
        m.set("InstanceProfileName", cx.name(r)?);
        m.set("Roles", serde_json::json!([role]));
        Ok(m)
    }
}
