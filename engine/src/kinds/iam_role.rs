//! `iam_role`: a role with its trust policy, inline policies and managed policies.

use std::collections::BTreeMap;

use super::{KindSpec, NameError};
use crate::value::{Doc, Style, Tmpl};

closed_struct! {
    pub struct IamRoleSpec {
        pub assume_role_policy: Option<Doc>,
        /// Inline policies by name.
        pub inline_policies: BTreeMap<String, Doc>,
        pub managed_policies: Option<Vec<Tmpl>>,
    }
}

/// IAM's limit on role (64) and instance profile (128) names, counted with the region as it
/// will read after apply.
pub(crate) fn check_iam_name(name: String, max: usize) -> Result<String, NameError> {
    if super::names::sample(&name).len() > max {
        return Err(NameError::new(format!(
            "IAM name {name:?} is longer than {max} characters"
        )));
    }
    Ok(name)
}

impl IamRoleSpec {
    /// The plan text: who assumes the role, then each policy's statements in words.
    fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        let item = |d: &Doc| match d {
            Doc::Str(t) => t.display(Style::Text),
            other => other.display(Style::Text).to_string(),
        };
        let trust: Vec<String> = self
            .assume_role_policy
            .iter()
            .filter_map(|d| d.get("Statement").and_then(Doc::as_array))
            .flatten()
            .filter_map(|s| s.get("Principal").and_then(|p| p.get("Service")))
            .flat_map(|s| match s {
                Doc::Array(a) => a.iter().map(scalar).collect::<Vec<_>>(),
                other => vec![scalar(other)],
            })
            .collect();
        let _ = writeln!(out, "      assumed by {}", trust.join(", "));
        for (name, doc) in &self.inline_policies {
            let _ = writeln!(out, "      policy {name}");
            for st in doc
                .get("Statement")
                .and_then(Doc::as_array)
                .into_iter()
                .flatten()
            {
                let effect = st
                    .get("Effect")
                    .and_then(Doc::as_text)
                    .unwrap_or("Allow")
                    .to_lowercase();
                let list = |v: Option<&Doc>| match v {
                    Some(Doc::Array(a)) => a.iter().map(item).collect::<Vec<_>>().join(", "),
                    Some(d) => item(d),
                    None => String::new(),
                };
                let _ = writeln!(out, "        {effect} {}", list(st.get("Action")));
                let _ = writeln!(out, "          on {}", list(st.get("Resource")));
                if let Some(Doc::Object(ops)) = st.get("Condition") {
                    for (op, keys) in ops {
                        let Doc::Object(keys) = keys else { continue };
                        for (key, v) in keys {
                            let _ = writeln!(out, "          when {op} {key} = {}", list(Some(v)));
                        }
                    }
                }
            }
        }
        for arn in self.managed_policies.iter().flatten() {
            let _ = writeln!(
                out,
                "      managed policy {}",
                crate::render::scalar_tmpl(arn)
            );
        }
    }
}

/// A document value as the plan shows a scalar.
fn scalar(d: &Doc) -> String {
    match d {
        Doc::Str(t) => crate::render::scalar_tmpl(t),
        other => other.display(Style::Text).to_string(),
    }
}

/// A statement of a policy document, read back for checks.
pub struct StatementView<'a> {
    pub effect: Option<&'a str>,
    pub actions: Vec<&'a Tmpl>,
    pub resources: Vec<&'a Tmpl>,
}

/// The statements of a policy document (`Statement` as a map or an array of maps).
pub fn statements(doc: &Doc) -> Vec<StatementView<'_>> {
    let list: Vec<&Doc> = match doc.get("Statement") {
        Some(Doc::Array(a)) => a.iter().collect(),
        Some(d @ Doc::Object(_)) => vec![d],
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|s| StatementView {
            effect: s.get("Effect").and_then(Doc::as_text),
            actions: s.strings_at("Action"),
            resources: s.strings_at("Resource"),
        })
        .collect()
}

// CloudFormation ------------------------------------------------------------------------------

use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;

impl KindSpec for IamRoleSpec {
    const CFN_ATTRS: CfnAttrs = &[("name", None), ("arn", Some("Arn"))];
    const GLOBAL: bool = true;

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        scope.iam_name(name, super::names::ROLE_MAX)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        check_iam_name(name, super::names::ROLE_MAX)
    }

    fn render_text(&self, out: &mut String) -> bool {
        self.write_text(out);
        true
    }

    /// `AWS::IAM::Role` with its inline policies.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::IAM::Role");
        m.set("RoleName", cx.name(r)?);
        let trust = self
            .assume_role_policy
            .as_ref()
            .ok_or("the role has no trust policy (assume_role_policy)")?;
        m.set("AssumeRolePolicyDocument", cx.doc(trust)?);
        if !self.inline_policies.is_empty() {
            let mut list = Vec::new();
            for (name, doc) in &self.inline_policies {
                list.push(
                    serde_json::json!({ "PolicyName": name, "PolicyDocument": cx.doc(doc)? }),
                );
            }
            m.set("Policies", list.into());
        }
        if let Some(arns) = &self.managed_policies {
            m.set("ManagedPolicyArns", cx.tmpls(arns)?);
        }
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}
