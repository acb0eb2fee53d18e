//! Logical ids: alphanumeric, unique in the template, stable for the same plan.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use crate::kinds::Spec;
use crate::plan::{Plan, Resource};

/// The key of the VPC parameter among the names that need logical ids.
const VPC_KEY: &str = "builtin:vpc";

/// The logical ids of a plan's resources and parameters.
pub(super) struct Ids {
    /// Plan id -> logical id.
    pub resources: HashMap<String, String>,
    /// Parameter name -> logical id.
    pub params: HashMap<String, String>,
    /// The VPC parameter, when the plan has security groups.
    pub vpc: Option<String>,
}

impl Ids {
    /// Ids for every resource, every parameter in `params` and the VPC parameter.
    /// CloudFormation needs them alphanumeric and unique in the template.
    pub fn new(plan: &Plan, params: &BTreeSet<String>) -> Ids {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for r in &plan.resources {
            wanted.push((format!("resource:{}", r.id), resource_logical_id(r)));
        }
        for n in params {
            wanted.push((format!("param:{n}"), camel(n)));
        }
        if super::needs_vpc(plan) {
            wanted.push((VPC_KEY.to_string(), "VpcId".to_string()));
        }
        let mut ids = Ids {
            resources: HashMap::new(),
            params: HashMap::new(),
            vpc: None,
        };
        for ((key, _), id) in wanted.iter().zip(unique_ids(&wanted)) {
            if let Some(rid) = key.strip_prefix("resource:") {
                ids.resources.insert(rid.to_string(), id);
            } else if let Some(n) = key.strip_prefix("param:") {
                ids.params.insert(n.to_string(), id);
            } else if key == VPC_KEY {
                ids.vpc = Some(id);
            }
        }
        ids
    }
}

/// `security_group.db-sg` -> `SecurityGroupDbSg`: each run of letters and digits, its first
/// letter capitalized.
pub fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// Eight hex digits of the SHA-256 of `s`: a short, stable disambiguator.
pub(crate) fn short_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02X}")).collect()
}

/// The logical id of a plan resource. Security group rules have no short natural name (their
/// plan ids hold CIDRs whose punctuation CamelCase would lose), so theirs is the group, the
/// direction and the ports plus a hash of the plan id: stable, and unique per rule.
fn resource_logical_id(r: &Resource) -> String {
    match &r.spec {
        Spec::SecurityGroupRule(rule) => format!("{}{}", rule.cfn_id_base(), short_hash(&r.id)),
        _ => camel(&r.id),
    }
}

/// Logical ids for `(key, wanted)` pairs, unique: ids wanted twice get a hash of their key.
pub(super) fn unique_ids(wanted: &[(String, String)]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, w) in wanted {
        *count.entry(w.as_str()).or_default() += 1;
    }
    let mut ids: Vec<String> = wanted
        .iter()
        .map(|(k, w)| {
            if count[w.as_str()] > 1 || w.is_empty() || w.len() > 200 {
                let base: String = w.chars().take(200).collect();
                let base = if base.is_empty() { "X".into() } else { base };
                format!("{base}{}", short_hash(k))
            } else {
                w.clone()
            }
        })
        .collect();
    // A hash suffix could in theory meet another id; number any that still collide.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for id in &mut ids {
        let mut candidate = id.clone();
        let mut n = 2;
        while !seen.insert(candidate.clone()) {
            candidate = format!("{id}{n}");
            n += 1;
        }
        *id = candidate;
    }
    ids
}
