//! One module per resource kind: its typed spec, physical name, outputs, plan text and
//! CloudFormation mapping, all in one `impl KindSpec`. The plan holds a [`Spec`] per resource.
//! The kinds are listed once, in [`kinds!`] at the end of this file: that list makes the
//! [`Kind`] and [`Spec`] enums and every dispatch over them, so a new kind is one line there
//! plus its module, and the compiler asks for whatever its `impl KindSpec` still lacks.

pub mod ec2_instance;
pub mod elastic_ip;
pub mod iam_role;
pub mod instance_profile;
pub mod log_group;
pub mod names;
mod options;
pub mod rds;
pub mod route_table;
pub mod s3_bucket;
pub mod secret;
pub mod security_group;
pub mod security_group_rule;
mod strings;
pub mod subnet;
pub mod vpc;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use ec2_instance::Ec2InstanceSpec;
pub use elastic_ip::ElasticIpSpec;
pub use iam_role::IamRoleSpec;
pub use instance_profile::InstanceProfileSpec;
pub use log_group::LogGroupSpec;
pub use rds::{RdsClusterSpec, RdsInstanceSpec};
pub use route_table::{NatGatewaySpec, RouteTableSpec};
pub use s3_bucket::S3BucketSpec;
pub use secret::SecretSpec;
pub use security_group::SecurityGroupSpec;
pub use security_group_rule::SecurityGroupRuleSpec;
pub use subnet::{DbSubnetGroupSpec, SubnetSpec};
pub use vpc::{InternetGatewaySpec, VpcEndpointSpec, VpcSpec};

use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::{self, Ref, Tmpl};
pub use names::Scope;
pub(crate) use options::read_options;

/// Outputs of a plan as the resources name them, gathered in declaration order and sorted
/// once by [`Outputs::into_map`]: a map filled one output at a time costs a tree search in
/// memory no longer cached for each resource of a large plan.
#[derive(Debug, Default)]
pub struct Outputs(Vec<(String, Tmpl)>);

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an output; of two with the same name, the later one is kept, as in a map.
    pub fn insert(&mut self, name: String, value: Tmpl) {
        self.0.push((name, value));
    }

    /// The outputs by name (the later of equal names, as the map's `FromIterator` keeps).
    pub fn into_map(self) -> BTreeMap<String, Tmpl> {
        self.0.into_iter().collect()
    }
}

/// A physical name AWS would refuse: the message, and optionally a finding code and a hint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NameError {
    pub message: String,
    pub code: Option<&'static str>,
    pub note: Option<&'static str>,
}

impl NameError {
    pub fn new(message: impl Into<String>) -> Self {
        NameError {
            message: message.into(),
            code: None,
            note: None,
        }
    }
}

/// What one resource kind knows about itself. Everything but the CloudFormation mapping has
/// a default, so a kind states only where it differs.
pub(crate) trait KindSpec:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug
{
    /// Whether AWS shows the resource by a `Name` tag.
    const NAME_TAG: bool = false;

    /// CloudFormation's attributes for the plan's (`None`: `Ref`); an attribute missing here
    /// is one CloudFormation does not provide. By default the resource's `id` is its `Ref`,
    /// as for most EC2 resources.
    const CFN_ATTRS: CfnAttrs = &[("id", None)];

    /// Whether AWS keeps the resource account-wide rather than in a region (IAM, S3): its
    /// name carries the region and its tags name the region too.
    const GLOBAL: bool = false;

    /// The kind's physical name for the script name `name` in the deployment `scope`.
    fn physical_name(scope: &Scope, name: &str) -> String {
        format!("{}-{name}", scope.deployment)
    }

    /// Gives the spec its physical name: writes `name` where AWS takes it, or keeps the one
    /// the script set, and checks it against AWS's rules. Returns the name the resource has.
    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        Ok(name)
    }

    /// Outputs this resource contributes (`id` the plan id, `name` the script name).
    fn outputs(&self, _id: &str, _name: &str, _out: &mut Outputs) {}

    /// The plan text of the properties, when the kind has its own; `false` uses the generic
    /// renderer.
    fn render_text(&self, _out: &mut String) -> bool {
        false
    }

    /// The resource's CloudFormation mapping (see [`crate::cfn`]).
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String>;
}

/// A spec type's place in [`Spec`]: made by [`kinds!`] for every kind.
pub(crate) trait SpecOf: KindSpec {
    fn of_mut(spec: &mut Spec) -> Option<&mut Self>;
}

/// The physical name of a resource of `kind` named `name` in the deployment `scope` (engine
/// markers for values known after apply).
pub(crate) fn physical_name(kind: Kind, scope: &Scope, name: &str) -> String {
    kind.physical_name(scope, name)
}

/// Whether the kind lives account-wide (IAM, S3) rather than in a region.
pub fn is_global(kind: Kind) -> bool {
    kind.global()
}

/// Whether AWS shows the resource by a `Name` tag.
pub fn has_name_tag(kind: Kind) -> bool {
    kind.name_tag()
}

/// The AWS partition of a region (`aws`, `aws-us-gov`, `aws-cn`).
pub fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        Some(r) if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    }
}

/// Checks a name against an AWS naming rule: 1-`max` characters, each one `ok`. `what` names
/// the name in the message, `allowed` says what the service allows.
pub(crate) fn check_chars(
    what: &str,
    name: &str,
    max: usize,
    ok: fn(char) -> bool,
    allowed: &str,
) -> Result<(), String> {
    if name.is_empty() || name.len() > max {
        return Err(format!("{what} {name:?} must be 1-{max} characters long"));
    }
    match name.chars().find(|&c| !ok(c)) {
        Some(c) => Err(format!("{what} {name:?} contains {c:?}; {allowed}")),
        None => Ok(()),
    }
}

/// The ownership tags every resource carries.
pub const TAG_DEPLOYMENT: &str = "detscript:deployment";
pub const TAG_ID: &str = "detscript:id";
/// The region tag of account-wide resources ([`is_global`]): one deployment name in two
/// regions is two deployments.
pub const TAG_REGION: &str = "detscript:region";

impl Spec {
    /// Builds the spec of `kind` from marked properties (references as engine markers).
    pub(crate) fn from_marked(kind: Kind, props: &Map<String, Value>) -> Result<Spec, String> {
        kind.spec_from(Value::Object(props.clone()))
            .map_err(|e| e.to_string())
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

    /// Calls `f` with every string value of the spec in the marked form: the strings of
    /// [`Spec::to_marked_json`], in the fields' order, without building that value.
    pub(crate) fn each_marked(&self, f: &mut dyn FnMut(&str)) {
        let buf = &mut String::new();
        value::marked(|| self.serialize(strings::Visit { f, buf })).expect("specs serialize");
    }

    /// True when `f` holds for one of the spec's strings in the marked form.
    pub(crate) fn any_marked(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        let mut any = false;
        self.each_marked(&mut |s| any = any || f(s));
        any
    }

    /// Visits every template the spec holds.
    fn each_tmpl(&self, f: &mut dyn FnMut(Tmpl)) {
        let v = Value::Object(self.to_marked_json());
        crate::refs::visit_strings(&v, &mut |s| f(Tmpl::from_marked(s)));
    }

    /// Every reference the spec holds.
    pub fn refs(&self) -> Vec<Ref> {
        let mut out = Vec::new();
        self.each_tmpl(&mut |t| out.extend(t.refs().cloned()));
        out
    }

    /// Every SSM parameter the spec reads at apply (see [`crate::value::Part::Ssm`]).
    pub fn ssm_parameters(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.each_tmpl(&mut |t| out.extend(t.ssm_parameters().map(str::to_string)));
        out
    }

    /// The CloudFormation attribute for one of the resource's plan attributes: `Some(None)`
    /// is `Ref`, `None` an attribute CloudFormation does not provide.
    pub(crate) fn cfn_attr(&self, attr: &str) -> Option<Option<&'static str>> {
        self.cfn_attrs()
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, c)| *c)
    }
}

/// Makes [`Kind`], [`Spec`] and their dispatch from the one list of kinds below.
macro_rules! kinds {
    ($($variant:ident($spec:ty) = $name:literal,)*) => {
        /// The kinds of plan resources.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind {
            $($variant,)*
        }

        impl Kind {
            /// Every kind, in the list's order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            fn physical_name(self, scope: &Scope, name: &str) -> String {
                match self {
                    $(Kind::$variant => <$spec as KindSpec>::physical_name(scope, name),)*
                }
            }

            fn global(self) -> bool {
                match self {
                    $(Kind::$variant => <$spec as KindSpec>::GLOBAL,)*
                }
            }

            fn name_tag(self) -> bool {
                match self {
                    $(Kind::$variant => <$spec as KindSpec>::NAME_TAG,)*
                }
            }

            fn spec_from(self, v: Value) -> Result<Spec, serde_json::Error> {
                Ok(match self {
                    $(Kind::$variant => Spec::$variant(Box::new(serde_json::from_value(v)?)),)*
                })
            }
        }

        /// The typed properties of a plan resource.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Spec {
            $($variant(Box<$spec>),)*
        }

        impl Spec {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Spec::$variant(_) => Kind::$variant,)*
                }
            }

            /// Gives the resource its physical name (see [`KindSpec::assign_name`]).
            pub(crate) fn assign_name(&mut self, name: String) -> Result<String, NameError> {
                match self {
                    $(Spec::$variant(s) => s.assign_name(name),)*
                }
            }

            /// Outputs this resource contributes (the master's come from its files).
            pub fn outputs(&self, id: &str, name: &str, out: &mut Outputs) {
                match self {
                    $(Spec::$variant(s) => s.outputs(id, name, out),)*
                }
            }

            /// The kind's own plan text of the properties; `false` when it has none.
            pub(crate) fn render_text(&self, out: &mut String) -> bool {
                match self {
                    $(Spec::$variant(s) => s.render_text(out),)*
                }
            }

            /// The resource's CloudFormation mapping (see [`crate::cfn`]).
            pub(crate) fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
                match self {
                    $(Spec::$variant(s) => s.cfn(r, cx),)*
                }
            }

            fn cfn_attrs(&self) -> CfnAttrs {
                match self {
                    $(Spec::$variant(_) => <$spec as KindSpec>::CFN_ATTRS,)*
                }
            }
        }

        $(
            impl SpecOf for $spec {
                fn of_mut(spec: &mut Spec) -> Option<&mut Self> {
                    match spec {
                        Spec::$variant(s) => Some(s),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }

            impl From<$spec> for Spec {
                fn from(s: $spec) -> Spec {
                    Spec::$variant(Box::new(s))
                }
            }
        )*
    };
}

// The kinds: variant, spec type, name in plans and scripts.
kinds! {
    Vpc(VpcSpec) = "vpc",
    InternetGateway(InternetGatewaySpec) = "internet_gateway",
    Subnet(SubnetSpec) = "subnet",
    RouteTable(RouteTableSpec) = "route_table",
    NatGateway(NatGatewaySpec) = "nat_gateway",
    ElasticIp(ElasticIpSpec) = "elastic_ip",
    VpcEndpoint(VpcEndpointSpec) = "vpc_endpoint",
    DbSubnetGroup(DbSubnetGroupSpec) = "db_subnet_group",
    S3Bucket(S3BucketSpec) = "s3_bucket",
    SecurityGroup(SecurityGroupSpec) = "security_group",
    SecurityGroupRule(SecurityGroupRuleSpec) = "security_group_rule",
    IamRole(IamRoleSpec) = "iam_role",
    InstanceProfile(InstanceProfileSpec) = "instance_profile",
    RdsCluster(RdsClusterSpec) = "rds_cluster",
    RdsInstance(RdsInstanceSpec) = "rds_instance",
    Ec2Instance(Ec2InstanceSpec) = "ec2_instance",
    SecretsmanagerSecret(SecretSpec) = "secretsmanager_secret",
    CloudwatchLogGroup(LogGroupSpec) = "cloudwatch_log_group",
}

/// The script builders of the kinds, registered by [`crate::script`]'s engine. A builder may
/// make several kinds (a database is a cluster and its writer).
pub(crate) const BUILDERS: &[fn(&mut rhai::Engine, &crate::script::Shared)] = &[
    crate::script::security_group::register,
    crate::script::iam::register,
    crate::script::bucket::register,
    crate::script::database::register,
    crate::script::master::register,
    crate::script::network::register,
    secret::register,
    log_group::register,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serde_names_are_the_plan_names() {
        for k in Kind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), Value::from(k.as_str()));
        }
    }
}
