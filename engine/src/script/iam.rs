//! `iam_role(name)` with `.assumed_by`, `.allow`, `.policy`, `.managed_policy`, and
//! `instance_profile(role)`.

use rhai::{Dynamic, Engine, NativeCallContext};
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::handles::{IamRole, InstanceProfile};
use super::{RhaiResult, Shared, constructor, fail, pos_of, values};
use crate::kinds::{IamRoleSpec, InstanceProfileSpec};
use crate::plan::Kind;
use crate::refs;
use crate::value::{Doc, Ref, Tmpl};

const POLICY_VERSION: &str = "2012-10-17";

/// The role (declaration index) behind the instance profile with plan id `profile`, when
/// both are declared in the script.
pub(crate) fn role_of_profile(st: &super::State, profile: &str) -> Option<usize> {
    let i = st.by_id.get(profile).copied()?;
    let role = match &st.decls[i].spec {
        Some(crate::kinds::Spec::InstanceProfile(p)) => p.role.as_ref()?.resource.clone(),
        _ => return None,
    };
    st.by_id.get(&role).copied()
}

fn check_policy_name(name: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "policy name {name:?} must be 1-128 letters, digits or +=,.@_-"
        ))
    }
}

fn check_action(a: &str) -> Result<(), String> {
    if a == "*" || refs::has_refs(a) {
        return Ok(());
    }
    match a.split_once(':') {
        Some((svc, act))
            if !svc.is_empty()
                && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !act.is_empty()
                && act
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{a:?} is not an IAM action; expected \"service:Action\" such as \"s3:GetObject\" or \"ec2:Describe*\""
        )),
    }
}

fn check_resource(r: &str) -> Result<(), String> {
    if r == "*" || r.starts_with("arn:") || refs::has_refs(r) {
        Ok(())
    } else {
        Err(format!(
            "{r:?} is not a policy resource; expected \"*\", an ARN, or a handle's .arn"
        ))
    }
}

fn check_service(s: &str) -> Result<(), String> {
    if s.ends_with(".amazonaws.com") && !s.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an AWS service principal; expected e.g. \"ec2.amazonaws.com\""
        ))
    }
}

/// Sets the role's inline policy `policy` to what `f` makes of its current document (None
/// when there is none yet), and records where `policy` was first set. When `f` refuses, the
/// error names `who` and says why.
fn set_policy(
    state: &Shared,
    ctx: &NativeCallContext,
    role: &IamRole,
    (policy, who): (&str, &str),
    f: impl FnOnce(Option<Value>) -> Result<Value, &'static str>,
) -> RhaiResult<IamRole> {
    let mut st = state.borrow_mut();
    let pos = pos_of(ctx, &st);
    let d = st.decl(&role.id);
    d.field_pos.entry(format!("policy:{policy}")).or_insert(pos);
    let mut res = Ok(());
    d.edit(|r: &mut IamRoleSpec| {
        let policies = &mut r.inline_policies;
        res = f(policies.get(policy).map(Doc::to_marked_json)).map(|doc| {
            policies.insert(policy.to_string(), Doc::from_marked_json(&doc));
        });
    });
    drop(st);
    res.or_else(|why| fail(ctx, format!("{who}: {why}")))?;
    Ok(role.clone())
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<IamRole>("IamRole");
    engine.register_type_with_name::<InstanceProfile>("InstanceProfile");
    engine.register_fn("to_string", |r: &mut IamRole| r.id.clone());
    engine.register_fn("to_string", |p: &mut InstanceProfile| p.id.clone());

    constructor::<IamRole, _>(engine, state, "iam_role", Kind::IamRole, || IamRoleSpec {
        assume_role_policy: None,
        inline_policies: BTreeMap::new(),
        managed_policies: None,
    });

    let s = state.clone();
    engine.register_fn(
        "assumed_by",
        move |ctx: NativeCallContext, role: &mut IamRole, service: &str| -> RhaiResult<IamRole> {
            check_service(service)
                .or_else(|m| fail(&ctx, format!("iam_role '{}': {m}", role.name)))?;
            let mut st = s.borrow_mut();
            st.decl(&role.id).edit(|r: &mut IamRoleSpec| {
                let mut doc = r
                    .assume_role_policy
                    .as_ref()
                    .map(Doc::to_marked_json)
                    .unwrap_or_else(|| {
                        json!({
                            "Version": POLICY_VERSION,
                            "Statement": [{
                                "Effect": "Allow",
                                "Principal": { "Service": [] },
                                "Action": ["sts:AssumeRole"],
                            }],
                        })
                    });
                if let Some(Value::Array(services)) =
                    doc.pointer_mut("/Statement/0/Principal/Service")
                {
                    let v = Value::String(service.to_string());
                    if !services.contains(&v) {
                        services.push(v);
                    }
                }
                r.assume_role_policy = Some(Doc::from_marked_json(&doc));
            });
            Ok(role.clone())
        },
    );

    let s = state.clone();
    engine.register_fn("allow", move |ctx: NativeCallContext, role: &mut IamRole, policy: &str, actions: Dynamic, resources: Dynamic| -> RhaiResult<IamRole> {
        let who = format!("iam_role '{}', policy '{policy}'", role.name);
        check_policy_name(policy).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        let actions = values::string_list(&actions, "actions").or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        for a in &actions {
            check_action(a).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        }
        let resources = values::string_list(&resources, "resources").or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        for r in &resources {
            check_resource(r).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        }
        let resource = if resources.len() == 1 { json!(resources[0]) } else { json!(resources) };
        let statement = json!({ "Effect": "Allow", "Action": actions, "Resource": resource });
        set_policy(&s, &ctx, role, (policy, &who), |old| {
            let mut doc = old.unwrap_or_else(|| json!({ "Version": POLICY_VERSION, "Statement": [] }));
            let list = doc.get_mut("Statement").and_then(Value::as_array_mut)
                .ok_or("this policy was given as a raw document with .policy(); add statements there")?;
            list.push(statement);
            Ok(doc)
        })
    });

    let s = state.clone();
    engine.register_fn("policy", move |ctx: NativeCallContext, role: &mut IamRole, policy: &str, document: rhai::Map| -> RhaiResult<IamRole> {
        let who = format!("iam_role '{}', policy '{policy}'", role.name);
        check_policy_name(policy).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        let mut doc = values::to_json(&Dynamic::from(document)).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        let obj = doc.as_object_mut().expect("a map converts to an object");
        match obj.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => {}
            Some(Value::Object(_)) => {}
            _ => return fail(&ctx, format!("{who}: a policy document needs a \"Statement\" (a map or a non-empty array of maps)")),
        }
        for key in obj.keys() {
            if !["Version", "Statement", "Id"].contains(&key.as_str()) {
                return fail(&ctx, format!("{who}: unknown key {key:?} in a policy document; expected Version, Statement, Id"));
            }
        }
        obj.entry("Version").or_insert_with(|| json!(POLICY_VERSION));
        set_policy(&s, &ctx, role, (policy, &who), |old| match old {
            Some(_) => Err("a policy with this name is already attached to the role"),
            None => Ok(doc),
        })
    });

    let s = state.clone();
    engine.register_fn("managed_policy", move |ctx: NativeCallContext, role: &mut IamRole, arn: &str| -> RhaiResult<IamRole> {
        let looks_right = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":policy/");
        if !looks_right && !refs::has_refs(arn) {
            return fail(&ctx, format!("iam_role '{}': {arn:?} is not a managed policy ARN like \"arn:aws:iam::aws:policy/ReadOnlyAccess\"", role.name));
        }
        let mut st = s.borrow_mut();
        st.decl(&role.id).edit(|r: &mut IamRoleSpec| {
            let list = r.managed_policies.get_or_insert_with(Vec::new);
            let arn = Tmpl::from_marked(arn);
            if !list.contains(&arn) {
                list.push(arn);
            }
        });
        Ok(role.clone())
    });

    let s = state.clone();
    engine.register_fn(
        "instance_profile",
        move |ctx: NativeCallContext, role: Dynamic| -> RhaiResult<InstanceProfile> {
            let Some(role) = role.read_lock::<IamRole>().map(|r| r.clone()) else {
                return fail(
                    &ctx,
                    format!(
                        "instance_profile() expects an iam_role(...) handle, got {}",
                        values::describe(&role)
                    ),
                );
            };
            let spec = InstanceProfileSpec {
                role: Tmpl::reference(Ref::new(&role.id, "name")),
            };
            let id = s
                .borrow_mut()
                .declare_spec(&ctx, Kind::InstanceProfile, &role.name, spec)?;
            Ok(InstanceProfile { id })
        },
    );

    engine.register_get("arn", |r: &mut IamRole| refs::attr(&r.id, "arn"));
    engine.register_get("name", |r: &mut IamRole| refs::attr(&r.id, "name"));
    engine.register_get("arn", |p: &mut InstanceProfile| refs::attr(&p.id, "arn"));
    engine.register_get("name", |p: &mut InstanceProfile| refs::attr(&p.id, "name"));
}
