//! One module per resource kind: its typed spec, physical name, outputs and checks. The plan
//! holds a [`Spec`] per resource; every consumer (text, lints, CloudFormation, AWS) matches
//! on it, so a new kind is a compile error wherever it is not handled yet.

pub mod ec2_instance;
pub mod iam_role;
pub mod instance_profile;
pub mod rds;
pub mod s3_bucket;
pub mod secret;
pub mod security_group;
pub mod security_group_rule;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

pub use ec2_instance::Ec2InstanceSpec;
pub use iam_role::IamRoleSpec;
pub use instance_profile::InstanceProfileSpec;
pub use rds::{RdsClusterSpec, RdsInstanceSpec};
pub use s3_bucket::S3BucketSpec;
pub use secret::SecretSpec;
pub use security_group::SecurityGroupSpec;
pub use security_group_rule::SecurityGroupRuleSpec;

use crate::value::{self, Ref, Tmpl};

/// The kinds of plan resources. A new kind is a variant here and in [`Spec`]; the
/// compiler then points at every place that must handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    S3Bucket,
    SecurityGroup,
    SecurityGroupRule,
    IamRole,
    InstanceProfile,
    RdsCluster,
    RdsInstance,
    Ec2Instance,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::S3Bucket => "s3_bucket",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::IamRole => "iam_role",
            Kind::InstanceProfile => "instance_profile",
            Kind::RdsCluster => "rds_cluster",
            Kind::RdsInstance => "rds_instance",
            Kind::Ec2Instance => "ec2_instance",
            Kind::Secret => secret::KIND,
        }
    }
}

/// Outputs of a plan, by name.
pub type Outputs = BTreeMap<String, Tmpl>;

/// The typed properties of a plan resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    S3Bucket(S3BucketSpec),
    SecurityGroup(SecurityGroupSpec),
    SecurityGroupRule(SecurityGroupRuleSpec),
    IamRole(IamRoleSpec),
    InstanceProfile(InstanceProfileSpec),
    RdsCluster(RdsClusterSpec),
    RdsInstance(RdsInstanceSpec),
    Ec2Instance(Ec2InstanceSpec),
    Secret(SecretSpec),
}

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::S3Bucket(_) => Kind::S3Bucket,
            Spec::SecurityGroup(_) => Kind::SecurityGroup,
            Spec::SecurityGroupRule(_) => Kind::SecurityGroupRule,
            Spec::IamRole(_) => Kind::IamRole,
            Spec::InstanceProfile(_) => Kind::InstanceProfile,
            Spec::RdsCluster(_) => Kind::RdsCluster,
            Spec::RdsInstance(_) => Kind::RdsInstance,
            Spec::Ec2Instance(_) => Kind::Ec2Instance,
            Spec::Secret(_) => Kind::Secret,
        }
    }

    /// Builds the spec of `kind` from a builder's marked properties.
    pub(crate) fn from_marked(kind: Kind, props: &Map<String, Value>) -> Result<Spec, String> {
        fn de<T: serde::de::DeserializeOwned>(props: &Map<String, Value>) -> Result<T, String> {
            serde_json::from_value(Value::Object(props.clone())).map_err(|e| e.to_string())
        }
        Ok(match kind {
            Kind::S3Bucket => Spec::S3Bucket(de(props)?),
            Kind::SecurityGroup => Spec::SecurityGroup(de(props)?),
            Kind::SecurityGroupRule => Spec::SecurityGroupRule(de(props)?),
            Kind::IamRole => Spec::IamRole(de(props)?),
            Kind::InstanceProfile => Spec::InstanceProfile(de(props)?),
            Kind::RdsCluster => Spec::RdsCluster(de(props)?),
            Kind::RdsInstance => Spec::RdsInstance(de(props)?),
            Kind::Ec2Instance => Spec::Ec2Instance(de(props)?),
            Kind::Secret => Spec::Secret(de(props)?),
        })
    }

    /// The canonical JSON properties (references `${path}`, secrets `(sensitive)`).
    pub fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self).expect("specs serialize") {
            Value::Object(m) => m,
            _ => unreachable!("specs are structs"),
        }
    }

    /// The properties with references kept as engine markers (text rendering, script policies).
    pub(crate) fn to_marked_json(&self) -> Map<String, Value> {
        value::marked(|| self.to_json())
    }

    /// Every reference the spec holds.
    pub fn refs(&self) -> Vec<Ref> {
        let mut out = Vec::new();
        let v = Value::Object(self.to_marked_json());
        crate::refs::visit_strings(&v, &mut |s| {
            for t in Tmpl::from_marked(s).refs() {
                out.push(t.clone());
            }
        });
        out
    }

    /// Outputs this resource contributes (the master's come from its files).
    pub fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
        match self {
            Spec::S3Bucket(s) => s.outputs(name, out),
            Spec::SecurityGroup(s) => s.outputs(id, name, out),
            Spec::RdsCluster(s) => s.outputs(id, out),
            Spec::RdsInstance(s) => s.outputs(id, out),
            Spec::SecurityGroupRule(_)
            | Spec::IamRole(_)
            | Spec::InstanceProfile(_)
            | Spec::Ec2Instance(_)
            | Spec::Secret(_) => {}
        }
    }
}

/// The physical name of a resource of `kind` named `name` in `deployment`.
pub fn physical_name(kind: Kind, deployment: &str, name: &str) -> String {
    match kind {
        Kind::S3Bucket => s3_bucket::physical_name(deployment, name),
        Kind::SecurityGroup => security_group::physical_name(deployment, name),
        Kind::SecurityGroupRule => security_group_rule::physical_name(deployment, name),
        Kind::IamRole => iam_role::physical_name(deployment, name),
        Kind::InstanceProfile => instance_profile::physical_name(deployment, name),
        Kind::RdsCluster | Kind::RdsInstance => rds::physical_name(deployment, name),
        Kind::Ec2Instance => ec2_instance::physical_name(deployment, name),
        Kind::Secret => secret::physical_name(deployment, name),
    }
}

/// Whether AWS shows the resource by a `Name` tag.
pub fn has_name_tag(kind: Kind) -> bool {
    matches!(kind, Kind::SecurityGroup | Kind::Ec2Instance)
}

/// The AWS partition of a region (`aws`, `aws-us-gov`, `aws-cn`).
pub fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        Some(r) if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    }
}

/// The ownership tags every resource carries.
pub const TAG_DEPLOYMENT: &str = "detscript:deployment";
pub const TAG_ID: &str = "detscript:id";

// CloudFormation ------------------------------------------------------------------------------

impl Spec {
    /// The resource's CloudFormation mapping (see [`crate::cfn`]); every kind has one.
    pub(crate) fn cfn(
        &self,
        r: &crate::plan::Resource,
        cx: &mut crate::cfn::Cx,
    ) -> Result<crate::cfn::Mapped, String> {
        match self {
            Spec::S3Bucket(s) => s.cfn(r, cx),
            Spec::SecurityGroup(s) => s.cfn(r, cx),
            Spec::SecurityGroupRule(s) => s.cfn(cx),
            Spec::IamRole(s) => s.cfn(r, cx),
            Spec::InstanceProfile(s) => s.cfn(r, cx),
            Spec::RdsCluster(s) => s.cfn(r, cx),
            Spec::RdsInstance(s) => s.cfn(r, cx),
            Spec::Ec2Instance(s) => s.cfn(r, cx),
            Spec::Secret(s) => s.cfn(r, cx),
        }
    }

    /// The CloudFormation attribute for one of the resource's plan attributes: `Some(None)`
    /// is `Ref`, `None` an attribute CloudFormation does not provide.
    pub(crate) fn cfn_attr(&self, attr: &str) -> Option<Option<&'static str>> {
        let table = match self {
            Spec::S3Bucket(_) => S3BucketSpec::CFN_ATTRS,
            Spec::SecurityGroup(_) => SecurityGroupSpec::CFN_ATTRS,
            Spec::SecurityGroupRule(_) => &[],
            Spec::IamRole(_) => IamRoleSpec::CFN_ATTRS,
            Spec::InstanceProfile(_) => InstanceProfileSpec::CFN_ATTRS,
            Spec::RdsCluster(_) => RdsClusterSpec::CFN_ATTRS,
            Spec::RdsInstance(_) => RdsInstanceSpec::CFN_ATTRS,
            Spec::Ec2Instance(_) => Ec2InstanceSpec::CFN_ATTRS,
            Spec::Secret(_) => SecretSpec::CFN_ATTRS,
        };
        table.iter().find(|(a, _)| *a == attr).map(|(_, c)| *c)
    }
}
