//! IAM roles (assume-role policy, inline and managed policies) and instance profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use anyhow::Result;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use detscript_engine::kinds::{IamRoleSpec, InstanceProfileSpec, TAG_DEPLOYMENT};
use detscript_engine::{Kind, Plan, Resource};
use serde_json::Value;

use super::{
    AttrMap, Cmp, Del, Detail, Have, Provider, Read, Vals, Want, all_items, attr_map, found,
    read_candidates, sdk_tags, tag_map, update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err, code_of};

/// A role's policies as read back (normalized for comparison).
#[derive(Debug, Clone)]
pub struct RoleLive {
    pub assume: Value,
    pub inline: BTreeMap<String, Value>,
    pub managed: Vec<String>,
}

/// The roles of an instance profile.
#[derive(Debug, Clone)]
pub struct ProfileLive {
    pub roles: Vec<String>,
}

pub struct IamRole;
pub struct InstanceProfile;

const NO_ENTITY: &[&str] = &["NoSuchEntity"];

fn iam_tags(r: &Resource) -> Vec<Tag> {
    sdk_tags(r, |k, v| Tag::builder().key(k).value(v).build().ok())
}

fn arn_and_name(arn: &str, name: &str) -> AttrMap {
    attr_map([("arn", Some(arn)), ("name", Some(name))])
}

/// Decodes an IAM policy document (URL-encoded JSON) into a normalized JSON value.
pub fn decode_policy(doc: &str) -> Value {
    let decoded = percent_decode(doc);
    serde_json::from_str(&decoded)
        .map(|v| normalize_policy(&v))
        .unwrap_or(Value::String(decoded))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(h) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Normalizes a policy document for comparison: a one-element list equals its element, and
/// `Statement` as an object equals a list of it.
pub fn normalize_policy(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.len() == 1 => normalize_policy(&a[0]),
        Value::Array(a) => Value::Array(a.iter().map(normalize_policy).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalize_policy(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The inline policies of a spec, resolved.
fn policies(spec: &IamRoleSpec, v: &Vals) -> Result<BTreeMap<String, Value>> {
    spec.inline_policies
        .iter()
        .map(|(k, d)| Ok((k.clone(), v.doc_json(d)?)))
        .collect()
}

/// The assume-role policy of a spec, resolved (null when it sets none).
fn assume_policy(spec: &IamRoleSpec, v: &Vals) -> Result<Value> {
    spec.assume_role_policy
        .as_ref()
        .map_or(Ok(Value::Null), |d| v.doc_json(d))
}

fn managed(spec: &IamRoleSpec, v: &Vals) -> Result<BTreeSet<String>> {
    v.list(spec.managed_policies.as_deref().unwrap_or_default())
        .map(|l| l.into_iter().collect())
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

/// Deletes inline policies of the role, by name (one already gone is fine).
async fn delete_policies<'a>(
    ctx: &Ctx,
    role: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    let iam = &ctx.clients.iam;
    for name in names {
        let req = iam.delete_role_policy().role_name(role).policy_name(name);
        found(req.send().await, NO_ENTITY, "DeleteRolePolicy", role)?;
    }
    Ok(())
}

/// Attaches (`attach`) or detaches managed policies (one detached already is fine).
async fn attach(ctx: &Ctx, role: &str, arns: &BTreeSet<String>, attach: bool) -> Result<()> {
    let iam = &ctx.clients.iam;
    for m in arns {
        if attach {
            let req = iam.attach_role_policy().role_name(role).policy_arn(m);
            req.send()
                .await
                .map_err(|e| aws_err("AttachRolePolicy", role, e))?;
        } else {
            let req = iam.detach_role_policy().role_name(role).policy_arn(m);
            found(req.send().await, NO_ENTITY, "DetachRolePolicy", role)?;
        }
    }
    Ok(())
}

/// Sends a delete (`send`); when IAM answers DeleteConflict (something was attached after
/// discovery read the entity), runs `clear` (which reads and removes what is attached now)
/// and sends it again. An entity already gone is fine.
async fn delete_clearing<T, E, F, Fut>(
    op: &str,
    name: &str,
    send: F,
    clear: impl Future<Output = Result<()>>,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let res = match send().await {
        Err(e) if code_of(&e) == Some("DeleteConflict") => {
            clear.await?;
            send().await
        }
        res => res,
    };
    found(res, NO_ENTITY, op, name)?;
    Ok(())
}

/// Takes the role out of every instance profile it is in now (best effort: the delete that
/// follows says what is still in the way).
async fn leave_profiles(ctx: &Ctx, name: &str) {
    let iam = &ctx.clients.iam;
    let req = iam.list_instance_profiles_for_role().role_name(name);
    if let Ok(p) = req.send().await {
        for prof in p.instance_profiles() {
            let _ = iam
                .remove_role_from_instance_profile()
                .instance_profile_name(prof.instance_profile_name())
                .role_name(name)
                .send()
                .await;
        }
    }
}

/// Lists the role's inline and managed policies now and removes them.
async fn clear_policies(ctx: &Ctx, name: &str) -> Result<()> {
    let iam = &ctx.clients.iam;
    let res = iam.list_role_policies().role_name(name).send().await;
    let Some(out) = found(res, NO_ENTITY, "ListRolePolicies", name)? else {
        return Ok(());
    };
    delete_policies(ctx, name, out.policy_names()).await?;
    let res = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await;
    if let Some(out) = found(res, NO_ENTITY, "ListAttachedRolePolicies", name)? {
        let arns = out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        attach(ctx, name, &arns, false).await?;
    }
    Ok(())
}

/// A role with its tags and policies, or None when it does not exist.
async fn read_role(c: Clients, name: String) -> Result<Read> {
    let res = c.iam.get_role().role_name(&name).send().await;
    let Some(role) = found(res, NO_ENTITY, "GetRole", &name)?.and_then(|o| o.role) else {
        return Ok(None);
    };
    let tags = tag_map(role.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
    let mut inline = BTreeMap::new();
    let mut managed = Vec::new();
    if tags.contains_key(TAG_DEPLOYMENT) {
        let req = c.iam.list_role_policies().role_name(&name);
        for p in all_items!(req, "ListRolePolicies", &name)? {
            let doc = c
                .iam
                .get_role_policy()
                .role_name(&name)
                .policy_name(&p)
                .send()
                .await
                .map_err(|e| aws_err("GetRolePolicy", &name, e))?;
            inline.insert(p, decode_policy(doc.policy_document()));
        }
        let req = c.iam.list_attached_role_policies().role_name(&name);
        managed = all_items!(req, "ListAttachedRolePolicies", &name)?
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
    }
    let detail = Detail::IamRole(RoleLive {
        assume: role
            .assume_role_policy_document()
            .map(decode_policy)
            .unwrap_or(Value::Null),
        inline,
        managed,
    });
    let live = Live::new(&name, arn_and_name(role.arn(), &name), detail);
    Ok(Some((tags, live)))
}

async fn read_profile(c: Clients, name: String) -> Result<Read> {
    let res = c
        .iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await;
    let found = found(res, NO_ENTITY, "GetInstanceProfile", &name)?;
    Ok(found.and_then(|o| o.instance_profile).map(|p| {
        let tags = tag_map(p.tags().iter().map(|t| (Some(t.key()), Some(t.value()))));
        let detail = Detail::InstanceProfile(ProfileLive {
            roles: p
                .roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect(),
        });
        let pname = p.instance_profile_name();
        (tags, Live::new(pname, arn_and_name(p.arn(), pname), detail))
    }))
}

impl Provider for IamRole {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let roles = all_items!(c.iam.list_roles(), "ListRoles", "")?;
        let names = roles.iter().map(|r| r.role_name().to_string()).collect();
        read_candidates(c, plan, Kind::IamRole, names, read_role).await
    }

    fn compare(spec: &IamRoleSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let mut upd = Vec::new();
        let want_assume = spec
            .assume_role_policy
            .as_ref()
            .and_then(|d| cx.vals.doc(d));
        match want_assume.map(|w| normalize_policy(&w)) {
            Some(w) if w != l.assume => upd.extend(crate::aws::show::policy_change(
                "assume-role policy",
                &l.assume,
                &w,
            )),
            Some(_) => {}
            None => upd.push("~ assume-role policy".to_string()),
        }
        for (name, doc) in &spec.inline_policies {
            let want = cx.vals.doc(doc).map(|w| normalize_policy(&w));
            match (l.inline.get(name), want) {
                (None, _) => upd.push(format!("+ inline policy {name}")),
                (Some(_), None) => upd.push(format!("~ inline policy {name} (known after apply)")),
                (Some(have), Some(want)) if *have != want => upd.extend(
                    crate::aws::show::policy_change(&format!("inline policy {name}"), have, &want),
                ),
                _ => {}
            }
        }
        for name in l.inline.keys() {
            if !spec.inline_policies.contains_key(name) {
                upd.push(format!("- inline policy {name}"));
            }
        }
        let want: BTreeSet<String> = spec
            .managed_policies
            .iter()
            .flatten()
            .map(|t| cx.vals.shown(t))
            .collect();
        let have: BTreeSet<String> = l.managed.iter().cloned().collect();
        for m in want.difference(&have) {
            upd.push(format!("+ managed policy {m}"));
        }
        for m in have.difference(&want) {
            upd.push(format!("- managed policy {m}"));
        }
        update_or_noop(upd)
    }

    fn uses(_: &RoleLive) -> Vec<String> {
        Vec::new()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let iam = &ctx.clients.iam;
        let name = r.name.clone();
        let assume = assume_policy(spec, &v)?;
        let (inline, managed) = (policies(spec, &v)?, managed(spec, &v)?);
        let out = iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(assume.to_string())
            .description(format!("detscript {}", r.id))
            .set_tags(Some(iam_tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("CreateRole", &name, e))?;
        let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
        put_policies(ctx, &name, inline).await?;
        attach(ctx, &name, &managed, true).await?;
        Ok(arn_and_name(&arn, &name))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let iam = &ctx.clients.iam;
        let name = live.name.clone();
        let want_assume = assume_policy(spec, &v)?;
        let (want, want_m) = (policies(spec, &v)?, managed(spec, &v)?);
        if normalize_policy(&want_assume) != l.assume {
            iam.update_assume_role_policy()
                .role_name(&name)
                .policy_document(want_assume.to_string())
                .send()
                .await
                .map_err(|e| aws_err("UpdateAssumeRolePolicy", &name, e))?;
        }
        let changed: BTreeMap<String, Value> = want
            .iter()
            .filter(|(k, v)| l.inline.get(*k) != Some(&normalize_policy(v)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        put_policies(ctx, &name, changed).await?;
        let dropped: Vec<&String> = l.inline.keys().filter(|k| !want.contains_key(*k)).collect();
        delete_policies(ctx, &name, dropped).await?;
        let have_m: BTreeSet<String> = l.managed.iter().cloned().collect();
        attach(ctx, &name, &(&want_m - &have_m), true).await?;
        attach(ctx, &name, &(&have_m - &want_m), false).await?;
        Ok(live.attrs.clone())
    }

    /// Detaches it from any instance profile, drops the inline and managed policies discovery
    /// read (listed again only when DeleteRole finds more), then deletes the role.
    async fn delete(ctx: &Ctx, Del { live, d, .. }: Del<'_, Self>) -> Result<String> {
        let (iam, name) = (&ctx.clients.iam, live.name.as_str());
        delete_policies(ctx, name, d.inline.keys()).await?;
        attach(ctx, name, &d.managed.iter().cloned().collect(), false).await?;
        let send = || iam.delete_role().role_name(name).send();
        // Owned profiles are deleted before their role (the plan's order); a role still in
        // another profile, or given policies since discovery, is a DeleteConflict: cleared
        // from what IAM says now, then deleted again.
        let clear = async {
            leave_profiles(ctx, name).await;
            clear_policies(ctx, name).await
        };
        delete_clearing("DeleteRole", name, send, clear).await?;
        Ok(String::new())
    }
}

impl Provider for InstanceProfile {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let all = all_items!(c.iam.list_instance_profiles(), "ListInstanceProfiles", "")?;
        let names = all
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect();
        read_candidates(c, plan, Kind::InstanceProfile, names, read_profile).await
    }

    fn compare(spec: &InstanceProfileSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let want = cx.vals.shown(&spec.role);
        if l.roles.as_slice() != [want.clone()] {
            return Action::Update(vec![format!("~ role [{}] -> {want}", l.roles.join(", "))]);
        }
        Action::NoOp
    }

    fn uses(p: &ProfileLive) -> Vec<String> {
        p.roles.clone()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let iam = &ctx.clients.iam;
        let name = r.name.clone();
        let role = v.text(&spec.role)?;
        let out = iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .set_tags(Some(iam_tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("CreateInstanceProfile", &name, e))?;
        let arn = out
            .instance_profile()
            .map(|p| p.arn().to_string())
            .unwrap_or_default();
        set_roles(ctx, &name, &[], &role).await?;
        Ok(arn_and_name(&arn, &name))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        set_roles(ctx, &live.name, &l.roles, &v.text(&spec.role)?).await?;
        Ok(live.attrs.clone())
    }

    /// Removes the roles discovery read (read again only when DeleteInstanceProfile finds
    /// more), then deletes the profile.
    async fn delete(ctx: &Ctx, Del { live, d, .. }: Del<'_, Self>) -> Result<String> {
        let (iam, name) = (&ctx.clients.iam, live.name.as_str());
        set_roles(ctx, name, &d.roles, "").await?;
        let send = || {
            iam.delete_instance_profile()
                .instance_profile_name(name)
                .send()
        };
        let clear = async { set_roles(ctx, name, &profile_roles(ctx, name).await?, "").await };
        delete_clearing("DeleteInstanceProfile", name, send, clear).await?;
        Ok(String::new())
    }
}

/// The profile's roles now (none when it is gone).
async fn profile_roles(ctx: &Ctx, profile: &str) -> Result<Vec<String>> {
    let req = ctx.clients.iam.get_instance_profile();
    let res = req.instance_profile_name(profile).send().await;
    let out = found(res, NO_ENTITY, "GetInstanceProfile", profile)?;
    Ok(out
        .and_then(|o| o.instance_profile)
        .map(|p| {
            p.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect()
        })
        .unwrap_or_default())
}

/// Makes `want` the profile's only role (none when empty), given the roles it has (one
/// removed already is fine).
async fn set_roles(ctx: &Ctx, profile: &str, have: &[String], want: &str) -> Result<()> {
    let iam = &ctx.clients.iam;
    for old in have.iter().filter(|r| r.as_str() != want) {
        let req = iam.remove_role_from_instance_profile();
        let res = req
            .instance_profile_name(profile)
            .role_name(old)
            .send()
            .await;
        found(res, NO_ENTITY, "RemoveRoleFromInstanceProfile", profile)?;
    }
    if !want.is_empty() && !have.iter().any(|r| r == want) {
        let res = iam
            .add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(want)
            .send()
            .await;
        match res {
            Ok(_) => {}
            // A retried call whose first response was lost: the profile holds its one role
            // already. Converged if that role is the one wanted.
            Err(e) if code_of(&e) == Some("LimitExceeded") => {
                if profile_roles(ctx, profile).await? != [want] {
                    return Err(aws_err("AddRoleToInstanceProfile", profile, e));
                }
            }
            Err(e) => return Err(aws_err("AddRoleToInstanceProfile", profile, e)),
        }
    }
    Ok(())
}
