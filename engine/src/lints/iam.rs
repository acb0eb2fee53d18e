//! IAM roles' inline policies: `s3:*` on everything (DS005), `iam:PassRole` not scoped to the
//! agent role (DS006), every action (DS007).

use super::{each, finding, pos_of};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::Spec;
use crate::kinds::iam_role::{StatementView, statements};
use crate::plan::Plan;
use crate::value::{Style, Tmpl};

/// An `Allow` statement of a role's inline policy.
struct Statement<'a> {
    role: &'a str,
    policy: &'a str,
    /// Where the policy was first written.
    pos: SourcePos,
    actions: Vec<&'a Tmpl>,
    resources: Vec<&'a Tmpl>,
}

impl Statement<'_> {
    fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a.as_text() == Some(action))
    }

    fn on_everything(&self) -> bool {
        self.resources.iter().any(|r| r.as_text() == Some("*"))
    }
}

/// The `Allow` statements of every role, in plan order, policies by name.
fn allow_statements(plan: &Plan) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    for r in &plan.resources {
        let Spec::IamRole(role) = &r.spec else {
            continue;
        };
        for (name, doc) in &role.inline_policies {
            let pos = pos_of(r, &format!("policy:{name}"));
            for StatementView {
                effect,
                actions,
                resources,
            } in statements(doc)
            {
                if effect == Some("Allow") {
                    out.push(Statement {
                        role: &r.id,
                        policy: name,
                        pos: pos.clone(),
                        actions,
                        resources,
                    });
                }
            }
        }
    }
    out
}

/// DS005-DS007, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let rules: [fn(&Statement) -> Option<Diagnostic>; 3] =
        [s3_everywhere, pass_role_unscoped, every_action];
    each(&allow_statements(plan), &rules)
}

/// DS005: `s3:*` on `*`.
fn s3_everywhere(s: &Statement) -> Option<Diagnostic> {
    if !(s.on_everything() && s.allows("s3:*")) {
        return None;
    }
    Some(finding(
        "DS005",
        format!(
            "{} policy '{}' allows s3:* on every bucket in the account",
            s.role, s.policy
        ),
        "scope it to the checkpoint bucket: [bucket.arn, bucket.arn + \"/*\"] (and list only the actions needed)",
        &s.pos,
    ))
}

/// DS006: `iam:PassRole` (or `iam:*`) on anything but roles' ARNs.
fn pass_role_unscoped(s: &Statement) -> Option<Diagnostic> {
    if !(s.allows("iam:PassRole") || s.allows("iam:*")) {
        return None;
    }
    let role_arn = |t: &&Tmpl| {
        t.as_ref().is_some_and(|r| {
            let path = r.path();
            path.starts_with("iam_role.") && path.ends_with(".arn")
        })
    };
    if !s.resources.is_empty() && s.resources.iter().all(role_arn) {
        return None;
    }
    let on: Vec<String> = s.resources.iter().map(|r| r.display(Style::Text)).collect();
    Some(finding(
        "DS006",
        format!(
            "{} policy '{}' allows iam:PassRole on {}: the master could hand any role to the instances it launches",
            s.role,
            s.policy,
            on.join(", ")
        ),
        "allow iam:PassRole only on agent_role.arn",
        &s.pos,
    ))
}

/// DS007: the `*` action.
fn every_action(s: &Statement) -> Option<Diagnostic> {
    if !(s.allows("*") || s.allows("*:*")) {
        return None;
    }
    Some(finding(
        "DS007",
        format!(
            "{} policy '{}' allows every action (\"*\")",
            s.role, s.policy
        ),
        "list the actions the role needs",
        &s.pos,
    ))
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            "[\"s3:GetObject\"], [bucket.arn + \"/*\"]",
            "[\"s3:*\"], \"*\"",
            "DS005",
            10,
        ),
        trigger(
            "allow(\"pass\", \"iam:PassRole\", ar.arn)",
            "allow(\"pass\", \"iam:PassRole\", \"*\")",
            "DS006",
            11,
        ),
        trigger(
            "allow(\"ec2\", \"ec2:RunInstances\", \"*\")",
            "allow(\"ec2\", \"*\", \"*\")",
            "DS007",
            11,
        ),
    ]
};
