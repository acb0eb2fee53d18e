//! `security_group`: a VPC security group (its rules are `security_group_rule` resources).

use serde::{Deserialize, Serialize};

use super::Outputs;
use crate::value::{Ref, Tmpl};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    pub group_name: String,
    pub description: Tmpl,
}

pub fn physical_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
}

impl SecurityGroupSpec {
    pub fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
        out.insert(
            format!("{name}_security_group_id"),
            Tmpl::reference(Ref::new(id, "id")),
        );
    }
}
