//! The EC2 permissions Determined's master needs to run its agents, scoped by the pools'
//! tags: it may launch (and tag) only instances that carry a pool's `tag_key=tag_value`, and
//! terminate only instances that carry it, so it cannot touch anything else in the account
//! (checkov CKV_AWS_111). `det deploy aws` grants RunInstances, CreateTags and
//! TerminateInstances on `*`.
//!
//! The statements follow the calls of Determined's AWS provisioner
//! (`master/internal/rm/agentrm/provisioner/aws`): DescribeInstances to list agents;
//! RunInstances with tag specifications on the instance (which needs CreateTags with
//! `ec2:CreateAction=RunInstances`) plus the image, subnet, network interface, security
//! group, volume and key pair it uses; TerminateInstances; for spot, RequestSpotInstances,
//! DescribeSpotInstanceRequests, CancelSpotInstanceRequests and CreateTags on the instances
//! after fulfilment. The unit tests evaluate the document against those calls.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// A pool's agent tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTag {
    pub key: String,
    pub value: String,
}

/// The resources RunInstances touches besides the instance: none is created with tags.
const LAUNCH_RESOURCES: &[&str] = &[
    "image",
    "subnet",
    "network-interface",
    "security-group",
    "volume",
    "key-pair",
];

/// The statements (a policy document's `Statement` list) that let the master manage the
/// agents of pools tagged `tags`, in `partition` (`aws`, `aws-us-gov`, ...).
pub fn agent_statements(tags: &[PoolTag], spot: bool, partition: &str) -> Vec<Value> {
    let arn = |kind: &str| format!("arn:{partition}:ec2:*:*:{kind}/*");
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in tags {
        let values = by_key.entry(&t.key).or_default();
        if !values.contains(&t.value.as_str()) {
            values.push(&t.value);
        }
    }
    let mut describe = vec!["ec2:DescribeInstances"];
    if spot {
        describe.push("ec2:DescribeSpotInstanceRequests");
    }
    // Spot requests are tagged too, so that the master finds and cancels its own.
    let mut tagged = vec![arn("instance")];
    if spot {
        tagged.push(arn("spot-instances-request"));
    }
    let mut out = vec![
        json!({ "Sid": "ListAgents", "Effect": "Allow", "Action": describe, "Resource": "*" }),
        json!({
            "Sid": "LaunchWith",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances"],
            "Resource": LAUNCH_RESOURCES.iter().map(|k| arn(k)).collect::<Vec<_>>(),
        }),
    ];
    // One pair of statements per tag key: conditions on several keys would all have to hold.
    for (i, (key, values)) in by_key.iter().enumerate() {
        let sid = |name: &str| {
            if i == 0 {
                name.to_string()
            } else {
                format!("{name}{}", i + 1)
            }
        };
        out.push(json!({
            "Sid": sid("LaunchTaggedAgents"),
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateTags"],
            "Resource": tagged,
            "Condition": { "StringEquals": { format!("aws:RequestTag/{key}"): values } },
        }));
        out.push(json!({
            "Sid": sid("TerminateOwnAgents"),
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances"],
            "Resource": arn("instance"),
            "Condition": { "StringEquals": { format!("ec2:ResourceTag/{key}"): values } },
        }));
    }
    if spot {
        out.push(json!({
            "Sid": "SpotRequests",
            "Effect": "Allow",
            "Action": ["ec2:RequestSpotInstances", "ec2:CancelSpotInstanceRequests"],
            "Resource": "*",
        }));
    }
    out
}

#[cfg(test)]
mod tests;
