//! `cloudwatch_log_group`: a CloudWatch Logs group owned by the deployment, where the
//! master's container (Docker's `awslogs` driver) and the pools' agents (`log_group` /
//! `log_stream` in master.yaml) send their output. Its retention is always set (365 days
//! unless the script says otherwise, one of the values CloudWatch accepts), and it may be
//! encrypted with a KMS key. The roles of the master and of the pools that write to it get
//! a policy scoped to its ARN (see [`iam`]).

mod builder;
pub(crate) mod iam;

pub(crate) use builder::{LogGroup, register};
pub use iam::{LOG_ACTIONS, POLICY_NAME};

use super::{KindSpec, NameError, Outputs};
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::{Ref, Tmpl};

/// The kind's name, as plan ids (`cloudwatch_log_group.logs`) spell it.
pub const KIND: &str = "cloudwatch_log_group";

/// The retention periods (days) CloudWatch Logs accepts (`PutRetentionPolicy`).
pub const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// [`RETENTION_DAYS`] as the messages list them (a test keeps them equal).
const RETENTION_LIST: &str = "1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653";

/// A year: what checkov asks of a log group (CKV_AWS_338) and what detscript sets unless the
/// script chooses another period.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;

/// The CloudWatch metrics namespace the writers' roles may put data into (`PutMetricData` has
/// no resource to scope; its namespace is the condition).
pub const METRICS_NAMESPACE: &str = "Determined";

closed_struct! {
    pub struct LogGroupSpec {
        /// The group's name in CloudWatch Logs (`DEPLOYMENT-NAME`).
        pub log_group_name: String,
        /// Days CloudWatch keeps events (one of [`RETENTION_DAYS`]).
        pub retention_days: i64,
        /// The ARN of the KMS key that encrypts the group's events.
        pub kms_key_id: Option<Tmpl>,
    }
}

/// Why CloudWatch would refuse a retention period.
pub fn check_retention(days: i64) -> Result<(), String> {
    if RETENTION_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(format!(
            "retention_days must be one of the periods CloudWatch Logs accepts ({RETENTION_LIST}), got {days}"
        ))
    }
}

/// Why CloudWatch would refuse a log group name (1-512 of letters, digits and `._-/#`).
pub fn check_name(name: &str) -> Result<(), String> {
    super::check_chars(
        "log group name",
        name,
        512,
        |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
        "CloudWatch Logs allows letters, digits and ._-/#",
    )
}

/// Why a KMS key would not do: CloudWatch Logs takes the key's ARN
/// (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`), not an alias or a bare id.
pub fn check_kms_key(arn: &str) -> Result<(), String> {
    // arn, partition, kms, region, account (12 digits), key/ID
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(p[..], ["arn", part, "kms", region, account, key]
        if part.starts_with("aws") && !region.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && key.len() > 4 && key.starts_with("key/"));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a KMS key ARN like \"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\" (CloudWatch Logs takes the key's ARN, not an alias)"
        ))
    }
}

/// The ARN of the group `id`, as CloudWatch Logs (`DescribeLogGroups`) and CloudFormation
/// (`Fn::GetAtt Arn`) give it: `arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME:*`, which
/// covers the group and its streams in a policy.
pub fn arn_ref(id: &str) -> Ref {
    Ref::new(id, "arn")
}

/// The group is `DEPLOYMENT-NAME` (the default physical name).
impl KindSpec for LogGroupSpec {
    const CFN_ATTRS: CfnAttrs = &[("name", None), ("arn", Some("Arn"))];

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        check_name(&name).map_err(NameError::new)?;
        self.log_group_name = name.clone();
        Ok(name)
    }

    fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
        out.insert(
            format!("{name}_log_group"),
            Tmpl::text(self.log_group_name.clone()),
        );
        out.insert(
            format!("{name}_log_group_arn"),
            Tmpl::reference(arn_ref(id)),
        );
    }

    // CloudFormation --------------------------------------------------------------------------

    /// `AWS::Logs::LogGroup`, deleted with the stack as `destroy` deletes it.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::Logs::LogGroup").keep("Delete");
        m.set("LogGroupName", self.log_group_name.as_str().into());
        m.set("RetentionInDays", self.retention_days.into());
        if let Some(k) = &self.kms_key_id {
            m.set("KmsKeyId", cx.tmpl(k)?);
        }
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
