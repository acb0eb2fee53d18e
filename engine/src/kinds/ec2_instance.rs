//! `ec2_instance`: the Determined master.

use serde::{Deserialize, Serialize};

use crate::value::Tmpl;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootVolume {
    pub device_name: String,
    pub size_gb: i64,
    pub volume_type: String,
    pub encrypted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataOptions {
    /// `required` (IMDSv2) or `optional`.
    pub http_tokens: String,
    pub http_put_response_hop_limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2InstanceSpec {
    pub instance_type: Tmpl,
    pub image_id: Tmpl,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_name: Option<Tmpl>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subnet_id: Option<Tmpl>,
    pub security_group_ids: Vec<Tmpl>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iam_instance_profile: Option<Tmpl>,
    pub associate_public_ip_address: bool,
    pub root_volume: RootVolume,
    pub metadata_options: MetadataOptions,
    /// The Determined master image the user-data runs.
    pub master_image: Tmpl,
    pub master_port: i64,
    /// The boot script (holds master.yaml, so references and secrets).
    pub user_data: Tmpl,
}

pub fn physical_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
}
