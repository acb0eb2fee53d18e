//! IAM roles (assume-role policy, inline and managed policies) and instance profiles.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_iam::types::Tag;
use detscript_engine::Resource;
use serde_json::Value;

use super::discover::{Detail, Live, normalize_policy};
use super::{Ctx, aws_err, code_of, str_list, str_prop};

fn iam_tags(ctx: &Ctx, id: &str) -> Vec<Tag> {
    ctx.owner_tags(id)
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

fn policies(props: &Value) -> BTreeMap<String, Value> {
    props
        .get("inline_policies")
        .and_then(|v| v.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

async fn put_policies(ctx: &Ctx, role: &str, docs: BTreeMap<String, Value>) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for (name, doc) in docs {
        let iam = ctx.clients.iam.clone();
        let role = role.to_string();
        set.spawn(async move {
            iam.put_role_policy()
                .role_name(&role)
                .policy_name(&name)
                .policy_document(doc.to_string())
                .send()
                .await
                .map_err(|e| aws_err("PutRolePolicy", &format!("{role}/{name}"), e))
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

fn role_attrs(arn: &str, name: &str) -> BTreeMap<String, String> {
    [
        ("arn".to_string(), arn.to_string()),
        ("name".to_string(), name.to_string()),
    ]
    .into_iter()
    .collect()
}

pub async fn create_role(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
) -> Result<BTreeMap<String, String>> {
    let iam = &ctx.clients.iam;
    let name = r.name.clone();
    let assume = props
        .get("assume_role_policy")
        .cloned()
        .unwrap_or(Value::Null);
    let out = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(assume.to_string())
        .description(format!("detscript {}", r.id))
        .set_tags(Some(iam_tags(ctx, &r.id)))
        .send()
        .await
        .map_err(|e| aws_err("CreateRole", &name, e))?;
    let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
    put_policies(ctx, &name, policies(props)).await?;
    for m in str_list(props, "managed_policies") {
        iam.attach_role_policy()
            .role_name(&name)
            .policy_arn(&m)
            .send()
            .await
            .map_err(|e| aws_err("AttachRolePolicy", &name, e))?;
    }
    Ok(role_attrs(&arn, &name))
}

pub async fn update_role(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
    live: &Live,
) -> Result<BTreeMap<String, String>> {
    let iam = &ctx.clients.iam;
    let name = live.name.clone();
    let Detail::Role {
        assume,
        inline,
        managed,
    } = &live.detail
    else {
        anyhow::bail!("{}: live resource is not a role", r.id);
    };
    let want_assume = props
        .get("assume_role_policy")
        .cloned()
        .unwrap_or(Value::Null);
    if &normalize_policy(&want_assume) != assume {
        iam.update_assume_role_policy()
            .role_name(&name)
            .policy_document(want_assume.to_string())
            .send()
            .await
            .map_err(|e| aws_err("UpdateAssumeRolePolicy", &name, e))?;
    }
    let want = policies(props);
    let changed: BTreeMap<String, Value> = want
        .iter()
        .filter(|(k, v)| inline.get(*k) != Some(&normalize_policy(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    put_policies(ctx, &name, changed).await?;
    for old in inline.keys().filter(|k| !want.contains_key(*k)) {
        iam.delete_role_policy()
            .role_name(&name)
            .policy_name(old)
            .send()
            .await
            .map_err(|e| aws_err("DeleteRolePolicy", &name, e))?;
    }
    let want_m: BTreeSet<String> = str_list(props, "managed_policies").into_iter().collect();
    let have_m: BTreeSet<String> = managed.iter().cloned().collect();
    for m in want_m.difference(&have_m) {
        iam.attach_role_policy()
            .role_name(&name)
            .policy_arn(m)
            .send()
            .await
            .map_err(|e| aws_err("AttachRolePolicy", &name, e))?;
    }
    for m in have_m.difference(&want_m) {
        iam.detach_role_policy()
            .role_name(&name)
            .policy_arn(m)
            .send()
            .await
            .map_err(|e| aws_err("DetachRolePolicy", &name, e))?;
    }
    Ok(live.attrs.clone())
}

pub async fn delete_role(ctx: &Ctx, name: &str) -> Result<()> {
    let iam = &ctx.clients.iam;
    // Detach from any instance profile, drop inline and managed policies, then the role.
    if let Ok(p) = iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .send()
        .await
    {
        for prof in p.instance_profiles() {
            let _ = iam
                .remove_role_from_instance_profile()
                .instance_profile_name(prof.instance_profile_name())
                .role_name(name)
                .send()
                .await;
        }
    }
    match iam.list_role_policies().role_name(name).send().await {
        Ok(out) => {
            for p in out.policy_names() {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .map_err(|e| aws_err("DeleteRolePolicy", name, e))?;
            }
        }
        Err(e) if code_of(&e) == Some("NoSuchEntity") => return Ok(()),
        Err(e) => return Err(aws_err("ListRolePolicies", name, e)),
    }
    if let Ok(out) = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
    {
        for p in out.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_err("DetachRolePolicy", name, e))?;
            }
        }
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(aws_err("DeleteRole", name, e)),
    }
}

pub async fn create_profile(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
) -> Result<BTreeMap<String, String>> {
    let iam = &ctx.clients.iam;
    let name = r.name.clone();
    let out = iam
        .create_instance_profile()
        .instance_profile_name(&name)
        .set_tags(Some(iam_tags(ctx, &r.id)))
        .send()
        .await
        .map_err(|e| aws_err("CreateInstanceProfile", &name, e))?;
    let arn = out
        .instance_profile()
        .map(|p| p.arn().to_string())
        .unwrap_or_default();
    if let Some(role) = str_prop(props, "role") {
        iam.add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(role)
            .send()
            .await
            .map_err(|e| aws_err("AddRoleToInstanceProfile", &name, e))?;
    }
    Ok(role_attrs(&arn, &name))
}

pub async fn update_profile(
    ctx: &Ctx,
    props: &Value,
    live: &Live,
) -> Result<BTreeMap<String, String>> {
    let iam = &ctx.clients.iam;
    let Detail::Profile { roles } = &live.detail else {
        anyhow::bail!("{}: live resource is not an instance profile", live.id);
    };
    let want = str_prop(props, "role").unwrap_or_default();
    for old in roles.iter().filter(|r| r.as_str() != want) {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(&live.name)
            .role_name(old)
            .send()
            .await
            .map_err(|e| aws_err("RemoveRoleFromInstanceProfile", &live.name, e))?;
    }
    if !want.is_empty() && !roles.iter().any(|r| r == want) {
        iam.add_role_to_instance_profile()
            .instance_profile_name(&live.name)
            .role_name(want)
            .send()
            .await
            .map_err(|e| aws_err("AddRoleToInstanceProfile", &live.name, e))?;
    }
    Ok(live.attrs.clone())
}

pub async fn delete_profile(ctx: &Ctx, name: &str) -> Result<()> {
    let iam = &ctx.clients.iam;
    match iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => {
            if let Some(p) = out.instance_profile() {
                for role in p.roles() {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(role.role_name())
                        .send()
                        .await
                        .map_err(|e| aws_err("RemoveRoleFromInstanceProfile", name, e))?;
                }
            }
        }
        Err(e) if code_of(&e) == Some("NoSuchEntity") => return Ok(()),
        Err(e) => return Err(aws_err("GetInstanceProfile", name, e)),
    }
    match iam
        .delete_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(aws_err("DeleteInstanceProfile", name, e)),
    }
}
