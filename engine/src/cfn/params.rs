//! Template parameters: the script's unset and secret parameters, and the VPC.

use serde_json::{Map, Value, json};

use super::master::{DB_PASSWORD_PATTERN, DB_PASSWORD_RULES, ONE_LINE_PATTERN, ONE_LINE_RULES};
use super::{Cx, truncate};

/// How a parameter is used, which decides its template type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamUse {
    Secret,
    Plain,
    KeyName,
}

impl Cx<'_> {
    /// The `Parameters` section, if the template has any.
    pub(super) fn parameters(&self) -> Option<Value> {
        if self.used_params.is_empty() && self.vpc.is_none() {
            return None;
        }
        let mut ps = Map::new();
        if let Some(vpc) = &self.vpc {
            ps.insert(
                vpc.clone(),
                json!({
                    "Type": "AWS::EC2::VPC::Id",
                    "Description": "The VPC of the security groups: the region's default VPC, where the master \
instance and the database are created (as detscript run does). Find it with: aws ec2 describe-vpcs \
--filters Name=is-default,Values=true",
                }),
            );
        }
        for (name, usage) in &self.used_params {
            ps.insert(self.param_ids[name].clone(), self.parameter(name, *usage));
        }
        Some(Value::Object(ps))
    }

    fn parameter(&self, name: &str, usage: ParamUse) -> Value {
        let spec = self.specs.get(name);
        let mut p = Map::new();
        let ty = match usage {
            ParamUse::KeyName => "AWS::EC2::KeyPair::KeyName",
            _ if spec.is_some_and(|s| s.kind == "int") => "Number",
            _ => "String",
        };
        p.insert("Type".into(), json!(ty));
        let doc = spec
            .and_then(|s| s.doc.clone())
            .unwrap_or_else(|| format!("detscript parameter {name}"));
        p.insert(
            "Description".into(),
            json!(truncate(&format!("{doc} (script parameter {name})"), 4000)),
        );
        if usage == ParamUse::Secret {
            p.insert("NoEcho".into(), json!(true));
        }
        let choices = spec.and_then(|s| s.choices.as_ref());
        if ty == "String" && (usage == ParamUse::Secret || choices.is_none()) {
            // What master.yaml's block scalars (and RDS) can take; see `master`.
            let rule = if self.db_passwords.contains(name) {
                Some((DB_PASSWORD_PATTERN, DB_PASSWORD_RULES))
            } else if self.in_master_yaml.contains(name) {
                Some((ONE_LINE_PATTERN, ONE_LINE_RULES))
            } else {
                None
            };
            if let Some((pattern, rules)) = rule {
                p.insert("AllowedPattern".into(), json!(pattern));
                p.insert(
                    "ConstraintDescription".into(),
                    json!(format!("must be {rules}")),
                );
            }
        }
        if let (false, Some(choices)) = (usage == ParamUse::Secret, choices) {
            let list: Vec<Value> = choices
                .iter()
                .map(|c| match c {
                    Value::String(_) => c.clone(),
                    other => json!(other.to_string()),
                })
                .collect();
            p.insert("AllowedValues".into(), Value::Array(list));
        }
        Value::Object(p)
    }
}
