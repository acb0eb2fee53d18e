//! The document against the calls Determined's AWS provisioner makes, with a small evaluator
//! of IAM's rules for what the document uses: Allow statements, `*` wildcards in actions and
//! resources, and `StringEquals` conditions (every key must be in the request, with one of
//! the listed values). Anything not allowed is denied, as IAM does.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

/// One authorization IAM makes: an action on one resource, with the request's context keys.
struct Call<'a> {
    action: &'a str,
    resource: String,
    context: BTreeMap<String, String>,
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(tail, &s[head.len() + i..]))
        }
    }
}

fn list(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn allowed(statements: &[Value], call: &Call) -> bool {
    statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && list(&st["Action"]).iter().any(|a| glob(a, call.action))
            && list(&st["Resource"])
                .iter()
                .any(|r| glob(r, &call.resource))
            && st.get("Condition").is_none_or(|c| {
                c.as_object().unwrap().iter().all(|(op, keys)| {
                    assert_eq!(op, "StringEquals", "the evaluator knows StringEquals only");
                    keys.as_object().unwrap().iter().all(|(k, want)| {
                        call.context
                            .get(k)
                            .is_some_and(|got| list(want).contains(&got.as_str()))
                    })
                })
            })
    })
}

const KEY: &str = "det-demo";
const VALUE: &str = "det-demo-agent";
const ARN: &str = "arn:aws:ec2:us-west-2:123456789012";

fn call<'a>(action: &'a str, resource: &str, context: &[(&str, &str)]) -> Call<'a> {
    Call {
        action,
        resource: format!("{ARN}:{resource}"),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The tags Determined puts on an agent at launch (the pool tag among others).
fn launch_tags(value: &str) -> Vec<(String, String)> {
    [
        ("Name", "determined-agent-det-demo"),
        (KEY, value),
        ("determined-resource-pool", "default"),
        ("determined-master-address", "10.0.0.5"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("aws:RequestTag/{k}"), v.to_string()))
    .collect()
}

/// The authorizations of one on-demand launch: the instance (tagged on create, which also
/// authorizes CreateTags) and every resource it uses.
fn run_instances(value: &str) -> Vec<Call<'static>> {
    let tags = launch_tags(value);
    let tagged: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut with_action = tagged.clone();
    with_action.push(("ec2:CreateAction", "RunInstances"));
    let mut calls = vec![
        call("ec2:RunInstances", "instance/*", &tagged),
        call(
            "ec2:CreateTags",
            "instance/i-0123456789abcdef0",
            &with_action,
        ),
    ];
    for r in [
        "image/ami-015aabd7d10854b76",
        "subnet/subnet-0abc",
        "network-interface/*",
        "security-group/sg-0abc",
        "volume/*",
        "key-pair/my-key",
    ] {
        calls.push(call("ec2:RunInstances", r, &[]));
    }
    calls
}

fn doc(spot: bool) -> Vec<Value> {
    agent_statements(
        &[PoolTag {
            key: KEY.into(),
            value: VALUE.into(),
        }],
        spot,
        "aws",
    )
}

#[test]
fn the_master_can_launch_list_and_terminate_its_own_agents() {
    let d = doc(false);
    for c in run_instances(VALUE) {
        assert!(allowed(&d, &c), "{} on {} denied", c.action, c.resource);
    }
    let own = format!("ec2:ResourceTag/{KEY}");
    for c in [
        call("ec2:DescribeInstances", "*", &[]).with_resource("*"),
        call(
            "ec2:TerminateInstances",
            "instance/i-0123456789abcdef0",
            &[(&own, VALUE)],
        ),
    ] {
        assert!(allowed(&d, &c), "{} on {} denied", c.action, c.resource);
    }
}

#[test]
fn spot_pools_can_request_tag_and_cancel() {
    let d = doc(true);
    let tag = format!("aws:RequestTag/{KEY}");
    for c in [
        call("ec2:RequestSpotInstances", "*", &[]).with_resource("*"),
        call("ec2:DescribeSpotInstanceRequests", "*", &[]).with_resource("*"),
        call("ec2:CancelSpotInstanceRequests", "*", &[]).with_resource("*"),
        call(
            "ec2:CreateTags",
            "spot-instances-request/sir-0abc",
            &[(&tag, VALUE)],
        ),
        // After fulfilment the master tags the instance with the pool tag.
        call(
            "ec2:CreateTags",
            "instance/i-0fedcba9876543210",
            &[(&tag, VALUE)],
        ),
    ] {
        assert!(allowed(&d, &c), "{} on {} denied", c.action, c.resource);
    }
    assert!(!allowed(
        &doc(false),
        &call("ec2:RequestSpotInstances", "*", &[]).with_resource("*")
    ));
}

#[test]
fn nothing_else_in_the_account_is_launched_tagged_or_terminated() {
    let d = doc(true);
    // A launch without the pool tag, or with another cluster's value.
    for value in ["det-other-agent", ""] {
        let calls = run_instances(value);
        assert!(
            !allowed(&d, &calls[0]),
            "untagged launch allowed ({value:?})"
        );
        assert!(
            !allowed(&d, &calls[1]),
            "untagged tagging allowed ({value:?})"
        );
    }
    let other = format!("ec2:ResourceTag/{KEY}");
    for c in [
        call("ec2:TerminateInstances", "instance/i-0aaa", &[]),
        call(
            "ec2:TerminateInstances",
            "instance/i-0aaa",
            &[(&other, "det-other-agent")],
        ),
        call(
            "ec2:TerminateInstances",
            "instance/i-0aaa",
            &[("ec2:ResourceTag/Name", VALUE)],
        ),
        call(
            "ec2:CreateTags",
            "instance/i-0aaa",
            &[("aws:RequestTag/team", "x")],
        ),
        call("ec2:StopInstances", "instance/i-0aaa", &[(&other, VALUE)]),
        call(
            "ec2:RunInstances",
            "instance/*",
            &[("aws:RequestTag/Name", VALUE)],
        ),
    ] {
        assert!(!allowed(&d, &c), "{} on {} allowed", c.action, c.resource);
    }
}

#[test]
fn pools_with_different_tags_are_all_allowed_and_the_partition_is_used() {
    let d = agent_statements(
        &[
            PoolTag {
                key: KEY.into(),
                value: "a".into(),
            },
            PoolTag {
                key: KEY.into(),
                value: "b".into(),
            },
            PoolTag {
                key: "other".into(),
                value: "c".into(),
            },
        ],
        false,
        "aws-us-gov",
    );
    let s = serde_json::to_string(&d).unwrap();
    assert!(s.contains("arn:aws-us-gov:ec2:*:*:instance/*"), "{s}");
    for (value, key) in [("a", KEY), ("b", KEY), ("c", "other")] {
        let tag = format!("aws:RequestTag/{key}");
        let launch = call("ec2:RunInstances", "instance/*", &[(&tag, value)]);
        assert!(!allowed(&d, &launch), "the partition must be aws-us-gov");
        let gov = launch.with_resource("arn:aws-us-gov:ec2:us-gov-west-1:1:instance/*");
        assert!(allowed(&d, &gov), "pool {key}={value} cannot launch");
        let own = format!("ec2:ResourceTag/{key}");
        let end = call("ec2:TerminateInstances", "", &[(&own, value)])
            .with_resource("arn:aws-us-gov:ec2:us-gov-west-1:1:instance/i-1");
        assert!(allowed(&d, &end), "pool {key}={value} cannot terminate");
    }
    let crossed = call(
        "ec2:TerminateInstances",
        "",
        &[("ec2:ResourceTag/other", "a")],
    )
    .with_resource("arn:aws-us-gov:ec2:us-gov-west-1:1:instance/i-1");
    assert!(!allowed(&d, &crossed));
}

impl Call<'_> {
    fn with_resource(mut self, r: &str) -> Self {
        self.resource = r.to_string();
        self
    }
}
