//! `instance_profile`: the EC2 instance profile of a role.

use serde::{Deserialize, Serialize};

use crate::value::Tmpl;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileSpec {
    /// The role's name.
    pub role: Tmpl,
}

pub fn physical_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
}
