//! Live state read back from AWS by ownership tags and deterministic names. There is no
//! local state file: what exists is whatever carries `detscript:deployment=<name>`. Each
//! provider reads its own kind ([`super::providers::discover`]); this module holds the state.

use std::collections::BTreeMap;

use detscript_engine::Kind;
use detscript_engine::kinds::TAG_DEPLOYMENT;

pub use super::providers::Detail;
pub use super::providers::discover;
pub use super::providers::sg::{LiveRule, Peer};
use super::providers::{AttrMap, LiveDetail, owned_by, tagged_id};

/// A live resource owned by the deployment.
#[derive(Debug, Clone)]
pub struct Live {
    /// Logical id from the `detscript:id` tag.
    pub id: String,
    /// Physical name (group name, role name, bucket, DB identifier, instance Name tag).
    pub name: String,
    /// Attributes other resources may reference: `id`, `arn`, `name`, `endpoint`, ...
    pub attrs: AttrMap,
    pub detail: Detail,
}

impl Live {
    pub fn new(name: impl Into<String>, attrs: AttrMap, detail: impl Into<Detail>) -> Live {
        Live {
            id: String::new(),
            name: name.into(),
            attrs,
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.detail.kind()
    }

    /// The AWS identifier to show (sg-..., i-..., name).
    pub fn physical(&self) -> String {
        self.attrs
            .get("id")
            .cloned()
            .unwrap_or_else(|| self.name.clone())
    }
}

/// What the deployment owns in AWS right now.
#[derive(Debug, Default)]
pub struct State {
    /// Owned resources by logical id.
    pub owned: BTreeMap<String, Live>,
    /// Every rule of every owned security group (details [`Detail::SecurityGroupRule`]).
    pub rules: Vec<Live>,
    /// Same-named resources without our ownership tag: never touched.
    pub conflicts: Vec<String>,
    /// The default VPC (security groups are created there).
    pub vpc_id: Option<String>,
}

impl State {
    /// The live rules of the owned groups.
    pub fn rule_details(&self) -> impl Iterator<Item = &LiveRule> {
        self.rules.iter().filter_map(|l| LiveRule::of(&l.detail))
    }

    pub fn merge(&mut self, other: State) {
        self.owned.extend(other.owned);
        self.rules.extend(other.rules);
        self.conflicts.extend(other.conflicts);
        self.vpc_id = self.vpc_id.take().or(other.vpc_id);
    }

    /// Records a live resource: owned when its tags name `deployment`, else a conflict when
    /// the plan wants its name (`planned` is then the planned logical id).
    pub fn add(
        &mut self,
        deployment: &str,
        tags: &BTreeMap<String, String>,
        live: Live,
        planned: Option<&str>,
    ) {
        if owned_by(tags, deployment) {
            let id = tagged_id(tags)
                .cloned()
                .or_else(|| planned.map(str::to_string))
                .unwrap_or_else(|| format!("{}.{}", live.kind().as_str(), live.name));
            self.owned.insert(id.clone(), Live { id, ..live });
        } else if planned.is_some() {
            let owner = match tags.get(TAG_DEPLOYMENT) {
                Some(o) => format!("owned by deployment \"{o}\""),
                None => format!("without the tag {TAG_DEPLOYMENT}={deployment}"),
            };
            self.conflicts.push(format!(
                "{} {} ({}) already exists {owner}; detscript never modifies or deletes it: rename yours (cluster_id) or remove it",
                kind_words(live.kind()),
                live.name,
                live.physical()
            ));
        }
    }
}

pub fn kind_words(k: Kind) -> &'static str {
    match k {
        Kind::S3Bucket => "S3 bucket",
        Kind::SecurityGroup => "security group",
        Kind::SecurityGroupRule => "security group rule",
        Kind::IamRole => "IAM role",
        Kind::InstanceProfile => "instance profile",
        Kind::RdsCluster => "RDS cluster",
        Kind::RdsInstance => "RDS instance",
        Kind::Ec2Instance => "EC2 instance",
    }
}
