//! `s3_bucket`: the checkpoint bucket.

use serde::{Deserialize, Serialize};

use super::Outputs;
use crate::value::Tmpl;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BucketSpec {
    /// The bucket's name (global in S3).
    pub bucket: Tmpl,
    pub block_public_access: bool,
    /// Default server-side encryption (`AES256`).
    pub encryption: String,
    pub versioning: bool,
}

/// `DEPLOYMENT-NAME`, unless the script set a bucket name.
pub fn physical_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
}

/// The bucket's ARN in `partition`.
pub fn arn(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

impl S3BucketSpec {
    pub fn outputs(&self, name: &str, out: &mut Outputs) {
        out.insert(format!("{name}_bucket"), self.bucket.clone());
    }
}
