//! `s3_bucket`: the checkpoint bucket.

use super::{KindSpec, NameError, Outputs};
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::Tmpl;

closed_struct! {
    pub struct S3BucketSpec {
        /// The bucket's name (global in S3).
        pub bucket: Tmpl,
        pub block_public_access: bool,
        /// Default server-side encryption (`AES256`).
        pub encryption: String,
        pub versioning: bool,
    }
}

/// The bucket's ARN in `partition`.
pub fn arn(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

/// S3's bucket naming rules (general purpose buckets).
pub(crate) fn check_bucket_name(name: &str) -> Result<(), String> {
    let why = if !(3..=63).contains(&name.len()) {
        Some("it must be 3-63 characters long")
    } else if name.chars().any(|c| c.is_ascii_uppercase()) {
        Some("it must be lowercase")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        Some("it may only contain lowercase letters, digits, '-' and '.'")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("it must start and end with a letter or digit")
    } else if name.contains("..") {
        Some("it must not contain \"..\"")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("it must not look like an IP address")
    } else if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        Some("it uses a prefix or suffix that S3 reserves")
    } else {
        None
    };
    match why {
        Some(w) => Err(format!("S3 bucket name {name:?} is invalid: {w}")),
        None => Ok(()),
    }
}

/// The bucket is `DEPLOYMENT-NAME-REGION-ACCOUNT` (see [`super::names`]), unless the script
/// set one.
impl KindSpec for S3BucketSpec {
    const CFN_ATTRS: CfnAttrs = &[("name", None), ("arn", Some("Arn"))];
    const GLOBAL: bool = true;

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        scope.bucket_name(name)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        let derived = self.bucket.is_empty();
        if derived {
            self.bucket = Tmpl::from_marked(&name);
        }
        let name = self.bucket.to_marked();
        // The account and a region known after apply are checked as they will read.
        let checked = super::names::sample(&name);
        if !crate::refs::has_refs(&checked) {
            check_bucket_name(&checked).map_err(|m| NameError {
                message: m.replace(&checked, &crate::refs::display(&name, crate::refs::Style::Template)),
                code: Some("DS017"),
                note: Some(if derived {
                    "the bucket is named DEPLOYMENT-NAME-REGION-ACCOUNT; use a lowercase deployment name or set .bucket_name(\"...\")"
                } else {
                    "S3 bucket names are 3-63 lowercase letters, digits, '-' and '.'"
                }),
            })?;
        }
        Ok(name)
    }

    fn outputs(&self, _id: &str, name: &str, out: &mut Outputs) {
        out.insert(format!("{name}_bucket"), self.bucket.clone());
    }

    // CloudFormation --------------------------------------------------------------------------

    /// `AWS::S3::Bucket`, kept when the stack is deleted (its checkpoints are data).
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
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
}
