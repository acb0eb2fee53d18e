//! The writers' right to a log group: the role behind the master's instance profile (when
//! the master logs to a group) and the role behind each pool's instance profile (when the
//! pool's agents do) get the inline policy [`POLICY_NAME`]: `logs:CreateLogStream`,
//! `logs:DescribeLogStreams` and `logs:PutLogEvents` on exactly the groups they write to
//! (the group's ARN ends in `:*` and so covers its streams), and `cloudwatch:PutMetricData`,
//! which has no resource to scope, only into the metrics namespace [`METRICS_NAMESPACE`].

use serde_json::Value;

use super::{KIND, METRICS_NAMESPACE, arn_ref};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::IamRoleSpec;
use crate::refs;
use crate::script::State;
use crate::script::iam::role_of_profile;
use crate::value::{Doc, Tmpl};

/// The inline policy the writers' roles get.
pub const POLICY_NAME: &str = "detscript-logs";

/// The actions that write a container's output into a group (Docker's `awslogs` driver).
pub const LOG_ACTIONS: &[&str] = &[
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
];

/// The log group a value names when it is exactly a reference to a group of the script.
pub(crate) fn group_in(v: &str) -> Option<String> {
    let id = refs::resource_of(refs::whole_ref(v)?);
    id.strip_prefix(KIND)
        .is_some_and(|rest| rest.starts_with('.'))
        .then(|| id.to_string())
}

/// Adds the policy to the roles of the master and the pools that write to a log group; warns
/// where the role is not one the script declares.
pub(crate) fn grant(st: &mut State) {
    // Writers: who, the group, their instance profile's id, where they are declared.
    let mut writers: Vec<(String, String, Option<String>, SourcePos)> = Vec::new();
    if let Some(m) = st.masters.first() {
        if let Some(g) = &m.log_group {
            writers.push((
                format!("master_instance '{}'", m.name),
                g.clone(),
                m.profile().map(str::to_string),
                m.pos.clone(),
            ));
        }
    }
    for p in st.pools.iter().filter(|p| p.attached_to.is_some()) {
        let text = |k: &str| p.provider.get(k).and_then(Value::as_str);
        let Some(g) = text("log_group").and_then(group_in) else {
            continue;
        };
        let profile = text("iam_instance_profile_arn")
            .and_then(refs::whole_ref)
            .map(|r| refs::resource_of(r).to_string());
        writers.push((format!("aws_pool '{}'", p.name), g, profile, p.pos.clone()));
    }
    // Each role with the groups it writes to, in the order the script attached them.
    let mut grants: Vec<(usize, Vec<String>)> = Vec::new();
    for (who, group, profile, pos) in writers {
        match profile.as_deref().and_then(|p| role_of_profile(st, p)) {
            Some(role) => match grants.iter_mut().find(|(r, _)| *r == role) {
                Some((_, groups)) if groups.contains(&group) => {}
                Some((_, groups)) => groups.push(group),
                None => grants.push((role, vec![group])),
            },
            None => st.warnings.push(Diagnostic::warning(
                format!(
                    "{who} writes to {group}, but its instance profile's role is not declared in this script: allow it logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents on the group's ARN"
                ),
                &pos,
            )),
        }
    }
    for (role, groups) in grants {
        let doc = policy(&groups);
        st.decls[role].edit(|r: &mut IamRoleSpec| {
            r.inline_policies.insert(POLICY_NAME.to_string(), doc);
        });
    }
}

fn text(s: &str) -> Doc {
    Doc::Str(Tmpl::text(s))
}

fn object(entries: Vec<(&str, Doc)>) -> Doc {
    Doc::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The policy document for `groups` (plan ids); the ARNs are references to the groups, known
/// after apply.
pub(crate) fn policy(groups: &[String]) -> Doc {
    let arns = groups
        .iter()
        .map(|g| Doc::Str(Tmpl::reference(arn_ref(g))))
        .collect();
    let write = object(vec![
        ("Sid", text("WriteLogs")),
        ("Effect", text("Allow")),
        (
            "Action",
            Doc::Array(LOG_ACTIONS.iter().map(|a| text(a)).collect()),
        ),
        ("Resource", Doc::Array(arns)),
    ]);
    let namespace = object(vec![("cloudwatch:namespace", text(METRICS_NAMESPACE))]);
    let metrics = object(vec![
        ("Sid", text("PutMetrics")),
        ("Effect", text("Allow")),
        ("Action", text("cloudwatch:PutMetricData")),
        ("Resource", text("*")),
        ("Condition", object(vec![("StringEquals", namespace)])),
    ]);
    object(vec![
        ("Version", text("2012-10-17")),
        ("Statement", Doc::Array(vec![write, metrics])),
    ])
}
