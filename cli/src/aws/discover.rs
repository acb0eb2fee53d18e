//! Reading live state back from AWS by ownership tags and deterministic names. There is no
//! local state file: what exists is whatever carries `detscript:deployment=<name>`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_ec2::types::Filter;
use detscript_engine::{Kind, Plan};
use serde_json::Value;

use super::{Clients, TAG_DEPLOYMENT, TAG_ID, aws_err, code_of};

/// The other side of a security group rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Group(String),
    V4(String),
    V6(String),
    Other(String),
}

/// A live security group rule, identified by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub rule_id: String,
    pub group_id: String,
    pub egress: bool,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub peer: Peer,
    pub description: Option<String>,
}

impl LiveRule {
    pub fn describe(&self) -> String {
        let proto = if self.protocol == "-1" {
            "all traffic".to_string()
        } else if self.from == self.to {
            format!("{} {}", self.protocol, self.from)
        } else {
            format!("{} {}-{}", self.protocol, self.from, self.to)
        };
        let peer = match &self.peer {
            Peer::Group(g) | Peer::V4(g) | Peer::V6(g) | Peer::Other(g) => g.clone(),
        };
        if self.egress {
            format!("egress {proto} to {peer}")
        } else {
            format!("ingress {proto} from {peer}")
        }
    }
}

#[derive(Debug, Clone)]
pub enum Detail {
    Sg {
        description: String,
        vpc_id: String,
    },
    Role {
        assume: Value,
        inline: BTreeMap<String, Value>,
        managed: Vec<String>,
    },
    Profile {
        roles: Vec<String>,
    },
    Bucket {
        block_public_access: bool,
        encryption: Option<String>,
        versioning: bool,
    },
    Cluster {
        engine: String,
        engine_version: Option<String>,
        database_name: Option<String>,
        sgs: Vec<String>,
        status: String,
    },
    DbInstance {
        engine: String,
        class: String,
        cluster: Option<String>,
        sgs: Vec<String>,
        status: String,
    },
    Instance {
        instance_type: String,
        image_id: String,
        key_name: Option<String>,
        sgs: Vec<String>,
        profile_arn: Option<String>,
        user_data: Option<String>,
        state: String,
    },
}

/// A live resource owned by the deployment.
#[derive(Debug, Clone)]
pub struct Live {
    /// Logical id from the `detscript:id` tag.
    pub id: String,
    pub kind: Kind,
    /// Physical name (group name, role name, bucket, DB identifier, instance Name tag).
    pub name: String,
    /// Attributes other resources may reference: `id`, `arn`, `name`, `endpoint`, ...
    pub attrs: BTreeMap<String, String>,
    pub detail: Detail,
}

impl Live {
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
    /// Every rule of every owned security group.
    pub rules: Vec<LiveRule>,
    /// Same-named resources without our ownership tag: never touched.
    pub conflicts: Vec<String>,
    /// The default VPC (security groups are created there).
    pub vpc_id: Option<String>,
}

fn tag_map<'a>(
    tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

/// Decodes an IAM policy document (URL-encoded JSON) into a normalized JSON value.
pub fn decode_policy(doc: &str) -> Value {
    let decoded = percent_decode(doc);
    serde_json::from_str(&decoded)
        .map(|v| normalize_policy(&v))
        .unwrap_or(Value::String(decoded))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(h) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Normalizes a policy document for comparison: a one-element list equals its element, and
/// `Statement` as an object equals a list of it.
pub fn normalize_policy(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.len() == 1 => normalize_policy(&a[0]),
        Value::Array(a) => Value::Array(a.iter().map(normalize_policy).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalize_policy(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl State {
    fn add(
        &mut self,
        deployment: &str,
        tags: &BTreeMap<String, String>,
        live: Live,
        planned: Option<&str>,
    ) {
        if tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(deployment) {
            let id = tags
                .get(TAG_ID)
                .cloned()
                .or_else(|| planned.map(str::to_string))
                .unwrap_or_else(|| format!("{}.{}", live.kind.as_str(), live.name));
            self.owned.insert(id.clone(), Live { id, ..live });
        } else if planned.is_some() {
            let owner = match tags.get(TAG_DEPLOYMENT) {
                Some(o) => format!("owned by deployment \"{o}\""),
                None => format!("without the tag {TAG_DEPLOYMENT}={deployment}"),
            };
            self.conflicts.push(format!(
                "{} {} ({}) already exists {owner}; detscript never modifies or deletes it: rename yours (cluster_id) or remove it",
                kind_words(live.kind),
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

/// Planned physical names of one kind, mapped to their logical ids.
fn planned(plan: &Plan, kind: Kind) -> BTreeMap<String, String> {
    plan.resources
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| {
            let name = match kind {
                Kind::S3Bucket => r.properties.get("bucket").and_then(|v| v.as_str()),
                Kind::RdsCluster | Kind::RdsInstance => {
                    r.properties.get("identifier").and_then(|v| v.as_str())
                }
                Kind::SecurityGroup => r.properties.get("group_name").and_then(|v| v.as_str()),
                _ => None,
            }
            .unwrap_or(&r.name)
            .to_string();
            (name, r.id.clone())
        })
        .collect()
}

/// Reads everything the deployment owns, plus same-named foreign resources (conflicts).
pub async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
    let dep = plan.deployment.name.as_str();
    let (sgs, iam, profiles, s3, rds, ec2) = tokio::join!(
        discover_sgs(c, plan, dep),
        discover_iam(c, plan, dep),
        discover_profiles(c, plan, dep),
        discover_s3(c, plan, dep),
        discover_rds(c, plan, dep),
        discover_ec2(c, plan, dep),
    );
    let mut state = sgs?;
    for part in [iam?, profiles?, s3?, rds?, ec2?] {
        state.owned.extend(part.owned);
        state.conflicts.extend(part.conflicts);
    }
    Ok(state)
}

pub async fn default_vpc(c: &Clients) -> Result<Option<String>> {
    let out = c
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .map_err(|e| aws_err("DescribeVpcs", "", e))?;
    Ok(out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string))
}

async fn discover_sgs(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let names = planned(plan, Kind::SecurityGroup);
    let owned = async {
        c.ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_DEPLOYMENT}"))
                    .values(dep)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("DescribeSecurityGroups", "", e))
    };
    let same_name = async {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        c.ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .set_values(Some(names.keys().cloned().collect()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("DescribeSecurityGroups", "", e))
    };
    // Three independent reads, concurrently.
    let (vpc, owned, same_name) = tokio::join!(default_vpc(c), owned, same_name);
    let mut st = State {
        vpc_id: vpc?,
        ..State::default()
    };
    let mut groups = owned?;
    // Names are unique per VPC: only the default VPC (where groups are created) conflicts.
    groups.extend(
        same_name?
            .into_iter()
            .filter(|g| st.vpc_id.is_none() || g.vpc_id() == st.vpc_id.as_deref()),
    );
    let mut seen = BTreeSet::new();
    let mut owned_ids = Vec::new();
    for g in groups {
        let gid = g.group_id().unwrap_or_default().to_string();
        if !seen.insert(gid.clone()) {
            continue;
        }
        let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
        let name = g.group_name().unwrap_or_default().to_string();
        let live = Live {
            id: String::new(),
            kind: Kind::SecurityGroup,
            name: name.clone(),
            attrs: [
                ("id".to_string(), gid.clone()),
                ("name".to_string(), name.clone()),
            ]
            .into_iter()
            .collect(),
            detail: Detail::Sg {
                description: g.description().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            },
        };
        if tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep) {
            owned_ids.push(gid);
        }
        st.add(dep, &tags, live, names.get(&name).map(String::as_str));
    }
    if !owned_ids.is_empty() {
        let rules = c
            .ec2
            .describe_security_group_rules()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .set_values(Some(owned_ids.clone()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("DescribeSecurityGroupRules", "", e))?;
        for r in rules {
            let group_id = r.group_id().unwrap_or_default().to_string();
            if !owned_ids.contains(&group_id) {
                continue;
            }
            let peer = if let Some(g) = r.referenced_group_info().and_then(|g| g.group_id()) {
                Peer::Group(g.to_string())
            } else if let Some(c4) = r.cidr_ipv4() {
                Peer::V4(c4.to_string())
            } else if let Some(c6) = r.cidr_ipv6() {
                Peer::V6(c6.to_string())
            } else {
                Peer::Other(r.prefix_list_id().unwrap_or("?").to_string())
            };
            st.rules.push(LiveRule {
                rule_id: r.security_group_rule_id().unwrap_or_default().to_string(),
                group_id,
                egress: r.is_egress().unwrap_or(false),
                protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                from: r.from_port().unwrap_or(-1),
                to: r.to_port().unwrap_or(-1),
                peer,
                description: r.description().map(str::to_string),
            });
        }
    }
    Ok(st)
}

async fn discover_iam(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let mut st = State::default();
    let prefix = format!("{dep}-");
    let role_names = planned(plan, Kind::IamRole);

    let roles = c
        .iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_err("ListRoles", "", e))?;
    let candidates: Vec<String> = roles
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| role_names.contains_key(n) || n.starts_with(&prefix))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for name in candidates {
        let c = c.clone();
        tasks.spawn(async move { read_role(&c, &name).await });
    }
    while let Some(r) = tasks.join_next().await {
        if let Some((tags, live)) = r?? {
            let planned_id = role_names.get(&live.name).cloned();
            st.add(dep, &tags, live, planned_id.as_deref());
        }
    }

    Ok(st)
}

async fn discover_profiles(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let mut st = State::default();
    let prefix = format!("{dep}-");
    let profile_names = planned(plan, Kind::InstanceProfile);
    let profiles = c
        .iam
        .list_instance_profiles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_err("ListInstanceProfiles", "", e))?;
    let mut tasks = tokio::task::JoinSet::new();
    for p in profiles {
        let name = p.instance_profile_name().to_string();
        if !(profile_names.contains_key(&name) || name.starts_with(&prefix)) {
            continue;
        }
        let c = c.clone();
        tasks.spawn(async move {
            let out = c
                .iam
                .get_instance_profile()
                .instance_profile_name(&name)
                .send()
                .await;
            match out {
                Ok(o) => Ok(o.instance_profile.map(|p| {
                    let tags = tag_map(p.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
                    let live = Live {
                        id: String::new(),
                        kind: Kind::InstanceProfile,
                        name: p.instance_profile_name().to_string(),
                        attrs: [
                            ("arn".to_string(), p.arn().to_string()),
                            ("name".to_string(), p.instance_profile_name().to_string()),
                        ]
                        .into_iter()
                        .collect(),
                        detail: Detail::Profile {
                            roles: p
                                .roles()
                                .iter()
                                .map(|r| r.role_name().to_string())
                                .collect(),
                        },
                    };
                    (tags, live)
                })),
                Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
                Err(e) => Err(aws_err("GetInstanceProfile", &name, e)),
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        if let Some((tags, live)) = r?? {
            let planned_id = profile_names.get(&live.name).cloned();
            st.add(dep, &tags, live, planned_id.as_deref());
        }
    }
    Ok(st)
}

/// A role with its tags and policies, or None when it does not exist.
pub async fn read_role(
    c: &Clients,
    name: &str,
) -> Result<Option<(BTreeMap<String, String>, Live)>> {
    let role = match c.iam.get_role().role_name(name).send().await {
        Ok(o) => match o.role {
            Some(r) => r,
            None => return Ok(None),
        },
        Err(e) if code_of(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(aws_err("GetRole", name, e)),
    };
    let tags = tag_map(role.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
    let mut inline = BTreeMap::new();
    let mut managed = Vec::new();
    if tags.contains_key(TAG_DEPLOYMENT) {
        let names = c
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("ListRolePolicies", name, e))?;
        for p in names {
            let doc = c
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&p)
                .send()
                .await
                .map_err(|e| aws_err("GetRolePolicy", name, e))?;
            inline.insert(p, decode_policy(doc.policy_document()));
        }
        let attached = c
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("ListAttachedRolePolicies", name, e))?;
        managed = attached
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
    }
    let live = Live {
        id: String::new(),
        kind: Kind::IamRole,
        name: name.to_string(),
        attrs: [
            ("arn".to_string(), role.arn().to_string()),
            ("name".to_string(), name.to_string()),
        ]
        .into_iter()
        .collect(),
        detail: Detail::Role {
            assume: role
                .assume_role_policy_document()
                .map(decode_policy)
                .unwrap_or(Value::Null),
            inline,
            managed,
        },
    };
    Ok(Some((tags, live)))
}

async fn discover_s3(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let mut st = State::default();
    let prefix = format!("{dep}-");
    let names = planned(plan, Kind::S3Bucket);
    let listed =
        c.s3.list_buckets()
            .send()
            .await
            .map_err(|e| aws_err("ListBuckets", "", e))?;
    let mine: BTreeSet<String> = listed
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    for (name, _) in names.iter().filter(|(n, _)| !mine.contains(*n)) {
        // Not in our account's list: either free or someone else's.
        match c.s3.head_bucket().bucket(name).send().await {
            Ok(_) => st.conflicts.push(format!(
                "S3 bucket {name} exists in another account or region; pick another cluster_id"
            )),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if status == Some(403) {
                    st.conflicts.push(format!(
                        "S3 bucket {name} already exists and belongs to someone else; pick another cluster_id"
                    ));
                }
            }
        }
    }
    for name in mine
        .into_iter()
        .filter(|n| names.contains_key(n) || n.starts_with(&prefix))
    {
        let tags = match c.s3.get_bucket_tagging().bucket(&name).send().await {
            Ok(t) => tag_map(t.tag_set().iter().map(|t| (Some(t.key()), Some(t.value())))),
            Err(e)
                if matches!(
                    code_of(&e),
                    Some("NoSuchTagSet") | Some("NoSuchTagSetError")
                ) =>
            {
                BTreeMap::new()
            }
            Err(e) if code_of(&e) == Some("NoSuchBucket") => continue,
            Err(e) => return Err(aws_err("GetBucketTagging", &name, e)),
        };
        let mut detail = Detail::Bucket {
            block_public_access: false,
            encryption: None,
            versioning: false,
        };
        if tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep) {
            detail = super::s3::read_settings(c, &name).await?;
        }
        let live = Live {
            id: String::new(),
            kind: Kind::S3Bucket,
            name: name.clone(),
            attrs: [
                ("name".to_string(), name.clone()),
                ("id".to_string(), name.clone()),
                ("arn".to_string(), format!("arn:aws:s3:::{name}")),
            ]
            .into_iter()
            .collect(),
            detail,
        };
        let planned_id = names.get(&name).cloned();
        st.add(dep, &tags, live, planned_id.as_deref());
    }
    Ok(st)
}

async fn discover_rds(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let mut st = State::default();
    let cluster_names = planned(plan, Kind::RdsCluster);
    let instance_names = planned(plan, Kind::RdsInstance);
    let (clusters, instances) = tokio::join!(
        c.rds
            .describe_db_clusters()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        c.rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
    );
    let clusters = clusters.map_err(|e| aws_err("DescribeDBClusters", "", e))?;
    let instances = instances.map_err(|e| aws_err("DescribeDBInstances", "", e))?;
    for cl in clusters {
        let name = cl.db_cluster_identifier().unwrap_or_default().to_string();
        let tags = tag_map(cl.tag_list().iter().map(|t| (t.key(), t.value())));
        if cl.status() == Some("deleting")
            && tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep)
        {
            continue;
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("id".to_string(), name.clone());
        attrs.insert("name".to_string(), name.clone());
        if let Some(e) = cl.endpoint() {
            attrs.insert("endpoint".to_string(), e.to_string());
        }
        if let Some(p) = cl.port() {
            attrs.insert("port".to_string(), p.to_string());
        }
        if let Some(a) = cl.db_cluster_arn() {
            attrs.insert("arn".to_string(), a.to_string());
        }
        let live = Live {
            id: String::new(),
            kind: Kind::RdsCluster,
            name: name.clone(),
            attrs,
            detail: Detail::Cluster {
                engine: cl.engine().unwrap_or_default().to_string(),
                engine_version: cl.engine_version().map(str::to_string),
                database_name: cl.database_name().map(str::to_string),
                sgs: cl
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                    .collect(),
                status: cl.status().unwrap_or_default().to_string(),
            },
        };
        st.add(
            dep,
            &tags,
            live,
            cluster_names.get(&name).map(String::as_str),
        );
    }
    for i in instances {
        let name = i.db_instance_identifier().unwrap_or_default().to_string();
        let tags = tag_map(i.tag_list().iter().map(|t| (t.key(), t.value())));
        if i.db_instance_status() == Some("deleting")
            && tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep)
        {
            continue;
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("id".to_string(), name.clone());
        attrs.insert("name".to_string(), name.clone());
        if let Some(e) = i.endpoint().and_then(|e| e.address()) {
            attrs.insert("endpoint".to_string(), e.to_string());
        }
        if let Some(a) = i.db_instance_arn() {
            attrs.insert("arn".to_string(), a.to_string());
        }
        let live = Live {
            id: String::new(),
            kind: Kind::RdsInstance,
            name: name.clone(),
            attrs,
            detail: Detail::DbInstance {
                engine: i.engine().unwrap_or_default().to_string(),
                class: i.db_instance_class().unwrap_or_default().to_string(),
                cluster: i.db_cluster_identifier().map(str::to_string),
                sgs: i
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                    .collect(),
                status: i.db_instance_status().unwrap_or_default().to_string(),
            },
        };
        st.add(
            dep,
            &tags,
            live,
            instance_names.get(&name).map(String::as_str),
        );
    }
    Ok(st)
}

const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

async fn discover_ec2(c: &Clients, plan: &Plan, dep: &str) -> Result<State> {
    let mut st = State::default();
    let names = planned(plan, Kind::Ec2Instance);
    let state_filter = Filter::builder()
        .name("instance-state-name")
        .set_values(Some(LIVE_STATES.iter().map(|s| s.to_string()).collect()))
        .build();
    let owned = async {
        c.ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_DEPLOYMENT}"))
                    .values(dep)
                    .build(),
            )
            .filters(state_filter.clone())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("DescribeInstances", "", e))
    };
    let same = async {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        c.ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:Name")
                    .set_values(Some(names.keys().cloned().collect()))
                    .build(),
            )
            .filters(state_filter.clone())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("DescribeInstances", "", e))
    };
    let (owned, same) = tokio::join!(owned, same);
    let mut found = owned?;
    found.extend(same?);
    let mut seen = BTreeSet::new();
    for res in found {
        for i in res.instances() {
            let iid = i.instance_id().unwrap_or_default().to_string();
            if !seen.insert(iid.clone()) {
                continue;
            }
            let tags = tag_map(i.tags().iter().map(|t| (t.key(), t.value())));
            let owned = tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep);
            let name = tags.get("Name").cloned().unwrap_or_else(|| iid.clone());
            let user_data = if owned {
                super::ec2::read_user_data(c, &iid).await?
            } else {
                None
            };
            let mut attrs = BTreeMap::new();
            attrs.insert("id".to_string(), iid.clone());
            if let Some(ip) = i.private_ip_address() {
                attrs.insert("private_ip".to_string(), ip.to_string());
            }
            if let Some(ip) = i.public_ip_address() {
                attrs.insert("public_ip".to_string(), ip.to_string());
            }
            let live = Live {
                id: String::new(),
                kind: Kind::Ec2Instance,
                name: name.clone(),
                attrs,
                detail: Detail::Instance {
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    image_id: i.image_id().unwrap_or_default().to_string(),
                    key_name: i.key_name().map(str::to_string),
                    // The primary interface's groups are the instance's (moto leaves the
                    // instance-level list empty for instances launched with an interface).
                    sgs: {
                        let mut sgs: Vec<String> = i
                            .security_groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_string))
                            .collect();
                        if sgs.is_empty() {
                            sgs = i
                                .network_interfaces()
                                .iter()
                                .filter(|n| {
                                    n.attachment().and_then(|a| a.device_index()) == Some(0)
                                })
                                .flat_map(|n| n.groups())
                                .filter_map(|g| g.group_id().map(str::to_string))
                                .collect();
                        }
                        sgs
                    },
                    profile_arn: i
                        .iam_instance_profile()
                        .and_then(|p| p.arn())
                        .map(str::to_string),
                    user_data,
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                        .unwrap_or_default(),
                },
            };
            st.add(dep, &tags, live, names.get(&name).map(String::as_str));
        }
    }
    Ok(st)
}
