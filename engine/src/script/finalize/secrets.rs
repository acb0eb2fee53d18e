//! Where a Secrets Manager secret's value may go, and the master role's right to read the
//! ones its master.yaml names.
//!
//! A secret's value (`secretsmanager_secret.X.value`) may be a database's master password
//! (the provider reads it at apply) or the whole value of a master.yaml field (the master
//! reads it at boot). Anywhere else it would be written into AWS in the clear (a tag, a
//! name, user-data), so it is an error at the line of the resource. A `secret: true`
//! parameter in master.yaml would land in the instance's user-data: it must become a
//! secret first.

use serde_json::{Value, json};

use super::super::State;
use crate::diag::Diagnostic;
use crate::kinds::IamRoleSpec;
use crate::plan::{Kind, MasterFiles};
use crate::refs;
use crate::userdata;
use crate::value::Doc;

/// The inline policy the master role gets for its secrets.
pub(crate) const POLICY_NAME: &str = "detscript-read-secrets";

/// Checks every use of a secret's value and of secret parameters in master.yaml.
pub(super) fn check_uses(st: &State, master: Option<&MasterFiles>, errors: &mut Vec<Diagnostic>) {
    let tag_holds = |tags: &std::collections::BTreeMap<String, String>| {
        tags.iter()
            .any(|(k, v)| userdata::mentions_secret_value(k) || userdata::mentions_secret_value(v))
    };
    if let Some(dep) = st.deployment.as_ref().filter(|d| tag_holds(&d.tags)) {
        errors.push(Diagnostic::error(
            "deployment(..).tags(..): a tag holds a secret's value, which would be stored in AWS in the clear",
            &dep.pos,
        ));
    }
    for d in &st.decls {
        if tag_holds(&d.tags) {
            errors.push(Diagnostic::error(
                format!(
                    "{}: a tag holds a secret's value, which would be stored in AWS in the clear",
                    d.id
                ),
                &d.pos,
            ));
        }
        if d.kind == Kind::Ec2Instance {
            continue; // its user-data is built from master.yaml, checked below
        }
        let allowed = if matches!(d.kind, Kind::RdsCluster | Kind::RdsInstance) {
            Some("master_password")
        } else {
            None
        };
        let Some(spec) = d.spec.as_ref() else {
            continue;
        };
        if !spec.any_marked(userdata::mentions_secret_value) {
            continue;
        }
        let props = spec.to_marked_json();
        for (key, v) in &props {
            let mut bad = false;
            refs::visit_strings(v, &mut |s| {
                let whole_allowed = Some(key.as_str()) == allowed && whole_value(s);
                if userdata::mentions_secret_value(s) && !whole_allowed {
                    bad = true;
                }
            });
            if bad {
                errors.push(Diagnostic::error(
                    format!("{}: {key} holds a secret's value, which would be stored in AWS in the clear", d.id),
                    &d.pos,
                ).with_note("a secret's value can be a database's master password or a whole master.yaml field (db.password, security.initial_user_password, security.tls.cert/key)"));
            }
        }
    }
    let (Some(mf), Some(m)) = (master, st.masters.first()) else {
        return;
    };
    let config = serde_json::to_value(&mf.config).unwrap_or(Value::Null);
    for ptr in userdata::misplaced(&config) {
        errors.push(Diagnostic::error(
            format!("master.yaml {ptr}: a secret's value must be the whole value of its field, not part of a text"),
            &m.pos,
        ));
    }
    let mut params = Vec::new();
    refs::visit_strings(&config, &mut |s| {
        params.extend(
            refs::paths(s)
                .filter(|p| refs::is_secret(p))
                .map(String::from),
        );
    });
    for p in params {
        let name = refs::secret_param(&p).unwrap_or(&p);
        errors.push(
            Diagnostic::error(
                format!("master.yaml holds the secret parameter {name}, which would be written into the master's user-data"),
                &m.pos,
            )
            .with_note(format!("keep it in Secrets Manager and pass the secret instead: secret(\"{}\", p.{name})", name.replace('_', "-"))),
        );
    }
}

/// True when `s` is exactly one secret value reference.
fn whole_value(s: &str) -> bool {
    refs::whole_ref(s).is_some() && userdata::mentions_secret_value(s)
}

/// Adds to the master's role an inline policy that allows `secretsmanager:GetSecretValue`
/// on exactly the secrets its master.yaml names; warns when the role is not in the script.
pub(super) fn grant_master(st: &mut State, master: Option<&MasterFiles>) {
    let (Some(mf), Some(m)) = (master, st.masters.first().cloned()) else {
        return;
    };
    let mut config = serde_json::to_value(&mf.config).unwrap_or(Value::Null);
    let mut ids: Vec<String> = userdata::take_secrets(&mut config)
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return;
    }
    let role = m
        .profile()
        .and_then(|p| crate::script::iam::role_of_profile(st, p));
    let Some(role) = role else {
        st.warnings.push(Diagnostic::warning(
            format!(
                "master_instance '{}' reads {} at boot, but its instance profile's role is not declared in this script: allow it secretsmanager:GetSecretValue on them",
                m.name,
                ids.join(", ")
            ),
            &m.pos,
        ));
        return;
    };
    let arns: Vec<String> = ids.iter().map(|id| refs::attr(id, "arn")).collect();
    let doc = Doc::from_marked_json(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReadTheMastersSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arns,
        }],
    }));
    st.decls[role].edit(|r: &mut IamRoleSpec| {
        r.inline_policies.insert(POLICY_NAME.to_string(), doc);
    });
}
