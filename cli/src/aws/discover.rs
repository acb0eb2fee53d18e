//! Live state read back from AWS by ownership tags and deterministic names. There is no
//! local state file: what exists is whatever carries `detscript:deployment=<name>`. Each
//! provider reads its own kind ([`super::providers::discover`]); this module holds the state.

use std::collections::BTreeMap;

use detscript_engine::kinds::{TAG_DEPLOYMENT, TAG_ID, TAG_REGION};
use detscript_engine::{Kind, Plan};

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
    /// Further live copies of an owned logical id (the first copy is in `owned`): e.g. an
    /// instance launched with "launch more like this". `run` stops; `destroy` removes them.
    pub duplicates: Vec<Live>,
    /// Untagged buckets this deployment claims (see [`State::claim`]).
    pub claimed: Vec<String>,
    /// The default VPC (security groups are created there).
    pub vpc_id: Option<String>,
    /// Existing resources the plan names by id (an existing VPC), by logical id: looked up,
    /// never owned, so never modified or deleted.
    pub existing: BTreeMap<String, Live>,
    /// The SSM parameters the plan reads (the master's AMI), by name: read by
    /// [`super::command::refresh`], not by discovery (`destroy` needs none).
    pub ssm: BTreeMap<String, String>,
}

impl State {
    /// The live rules of the owned groups.
    pub fn rule_details(&self) -> impl Iterator<Item = &LiveRule> {
        self.rules.iter().filter_map(|l| LiveRule::of(&l.detail))
    }

    pub fn merge(&mut self, other: State) {
        for (_, live) in other.owned {
            self.insert_owned(live);
        }
        self.duplicates.extend(other.duplicates);
        self.claimed.extend(other.claimed);
        self.rules.extend(other.rules);
        self.conflicts.extend(other.conflicts);
        self.vpc_id = self.vpc_id.take().or(other.vpc_id);
        self.existing.extend(other.existing);
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
            self.insert_owned(Live { id, ..live });
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

/// A live resource's tags.
pub type Tags = BTreeMap<String, String>;

/// Who owns an account-wide resource (IAM, S3): the deployment in one region.
#[derive(Debug, Clone)]
pub struct Owner {
    pub deployment: String,
    pub region: String,
    /// `deployment(..).legacy_names()`: resources without a region tag are ours too.
    pub legacy: bool,
}

impl Owner {
    pub fn of(plan: &Plan, region: &str) -> Owner {
        Owner {
            deployment: plan.deployment.name.clone(),
            region: region.to_string(),
            legacy: plan.deployment.legacy_names,
        }
    }

    /// Whether tags of an account-wide resource name this deployment in this region.
    pub fn owns(&self, tags: &Tags) -> bool {
        tags.get(TAG_DEPLOYMENT) == Some(&self.deployment)
            && match tags.get(TAG_REGION) {
                Some(r) => *r == self.region,
                None => self.legacy,
            }
    }
}

impl State {
    /// Records a live account-wide resource: owned only when its tags name the deployment
    /// *and* this region. The same deployment name in another region is another deployment:
    /// its resources are neither adopted nor deleted here. A resource with the deployment tag
    /// and no region tag was made by a detscript before per-region names: it is ours only
    /// with `legacy_names()`, else a conflict that says so (`run` stops, `destroy` leaves it).
    pub fn add_global(&mut self, who: &Owner, tags: &Tags, live: Live, planned: Option<&str>) {
        let dep = who.deployment.as_str();
        if who.owns(tags) || tags.get(TAG_DEPLOYMENT).map(String::as_str) != Some(dep) {
            return self.add(dep, tags, live, planned);
        }
        match tags.get(TAG_REGION) {
            Some(r) => {
                if planned.is_some() {
                    self.conflicts.push(format!(
                        "{} {} already exists, owned by deployment \"{dep}\" in {r}; the same name in two regions is two deployments, and detscript never modifies or deletes the other one: rename yours (cluster_id or its name)",
                        kind_words(live.kind()),
                        live.name
                    ));
                }
            }
            None => self.conflicts.push(format!(
                "{} {} carries {TAG_DEPLOYMENT}={dep} but no {TAG_REGION}: an earlier detscript made it, before IAM and bucket names carried the region. \
detscript leaves it alone; to keep managing that deployment, add .legacy_names() to deployment(..) in the script",
                kind_words(live.kind()),
                live.name
            )),
        }
    }

    /// Records an owned resource; a second live resource with the same logical id is a
    /// duplicate.
    fn insert_owned(&mut self, live: Live) {
        match self.owned.get(&live.id) {
            Some(first) if first.physical() != live.physical() => self.duplicates.push(live),
            Some(_) => {}
            None => {
                self.owned.insert(live.id.clone(), live);
            }
        }
    }

    /// Takes an untagged resource with a planned name as the deployment's own (an empty bucket
    /// of this account left by an interrupted run): `run` tags it.
    pub fn claim(&mut self, id: &str, live: Live) {
        self.claimed.push(id.to_string());
        self.insert_owned(Live {
            id: id.to_string(),
            ..live
        });
    }

    /// Makes the choice among duplicated copies deterministic: the copy with the planned name
    /// stays in `owned` (else the smallest AWS id); the others are duplicates, sorted.
    pub fn settle(&mut self, planned_name: impl Fn(&str) -> Option<String>) {
        let dups = std::mem::take(&mut self.duplicates);
        let mut by_id: BTreeMap<String, Vec<Live>> = BTreeMap::new();
        for d in dups {
            by_id.entry(d.id.clone()).or_default().push(d);
        }
        for (id, mut copies) in by_id {
            if let Some(first) = self.owned.remove(&id) {
                copies.push(first);
            }
            let name = planned_name(&id);
            copies.sort_by_key(|l| (Some(&l.name) != name.as_ref(), l.physical()));
            let mut it = copies.into_iter();
            if let Some(first) = it.next() {
                self.owned.insert(id, first);
            }
            self.duplicates.extend(it);
        }
    }

    /// Every live copy of the logical ids that more than one live resource carries, as
    /// `(id, [copies])`, sorted by id.
    pub fn duplicated(&self) -> Vec<(String, Vec<&Live>)> {
        let mut out: BTreeMap<String, Vec<&Live>> = BTreeMap::new();
        for d in &self.duplicates {
            out.entry(d.id.clone())
                .or_insert_with(|| self.owned.get(&d.id).into_iter().collect())
                .push(d);
        }
        out.into_iter().collect()
    }

    /// One line per duplicated logical id, naming the copies' AWS ids.
    pub fn duplicate_messages(&self) -> Vec<String> {
        self.duplicated()
            .into_iter()
            .map(|(id, copies)| {
                let kind = copies.first().map(|l| kind_words(l.kind())).unwrap_or("resource");
                let mut ids: Vec<String> = copies.iter().map(|l| l.physical()).collect();
                ids.sort();
                format!(
                    "{} live resources carry {TAG_ID}={id} ({kind}s {}); detscript manages exactly one: \
remove the extra copies (or run `detscript destroy`, which removes every copy)",
                    copies.len(),
                    ids.join(", ")
                )
            })
            .collect()
    }

    /// Every owned live resource (duplicates included) and every rule.
    pub fn all_owned(&self) -> Vec<Live> {
        self.owned
            .values()
            .chain(&self.duplicates)
            .chain(&self.rules)
            .cloned()
            .collect()
    }
}

pub fn kind_words(k: Kind) -> &'static str {
    match k {
        Kind::Vpc => "VPC",
        Kind::InternetGateway => "internet gateway",
        Kind::Subnet => "subnet",
        Kind::RouteTable => "route table",
        Kind::NatGateway => "NAT gateway",
        Kind::ElasticIp => "Elastic IP",
        Kind::VpcEndpoint => "VPC endpoint",
        Kind::DbSubnetGroup => "DB subnet group",
        Kind::S3Bucket => "S3 bucket",
        Kind::SecurityGroup => "security group",
        Kind::SecurityGroupRule => "security group rule",
        Kind::IamRole => "IAM role",
        Kind::InstanceProfile => "instance profile",
        Kind::RdsCluster => "RDS cluster",
        Kind::RdsInstance => "RDS instance",
        Kind::Ec2Instance => "EC2 instance",
        Kind::SecretsmanagerSecret => "Secrets Manager secret",
        Kind::CloudwatchLogGroup => "CloudWatch log group",
    }
}
