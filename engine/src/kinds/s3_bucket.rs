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

// CloudFormation ------------------------------------------------------------------------------

use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;

impl S3BucketSpec {
    /// `AWS::S3::Bucket`, kept when the stack is deleted (its checkpoints are data).
    pub(crate) fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::S3::Bucket").keep("Retain");
        m.set("BucketName", cx.tmpl(&self.bucket)?);
        if self.block_public_access {
            m.set(
                "PublicAccessBlockConfiguration",
                serde_json::json!({
                    "BlockPublicAcls": true,
                    "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true,
                    "RestrictPublicBuckets": true,
                }),
            );
        }
        m.set(
            "BucketEncryption",
            serde_json::json!({ "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": self.encryption } }
            ]}),
        );
        if self.versioning {
            m.set(
                "VersioningConfiguration",
                serde_json::json!({ "Status": "Enabled" }),
            );
        }
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }

    /// CloudFormation's attributes for the plan's (`None`: `Ref`).
    pub(crate) const CFN_ATTRS: CfnAttrs = &[("name", None), ("arn", Some("Arn"))];
}
