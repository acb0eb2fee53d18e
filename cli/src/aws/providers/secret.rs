//! Secrets Manager secrets: created with a value AWS generates (`GetRandomPassword`) or the
//! script's secret parameter, tagged like every other resource, deleted with a recovery
//! window (or at once with `destroy --delete-secrets-now`). A secret of this deployment
//! that is scheduled for deletion is restored instead of created again (its name is taken
//! until the window ends).
//!
//! The value never enters the attributes other resources see: they get `arn`, `name` and
//! `version` (the current version's id, which the master's user-data names, so that a
//! rotated secret shows as a change of the master). The database's provider reads the value
//! itself with [`read_value`].

use anyhow::{Result, anyhow};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};
use detscript_engine::kinds::SecretSpec;
use detscript_engine::kinds::secret;
use detscript_engine::{Kind, Plan, Secret, Tmpl};

use super::{
    AttrMap, Cmp, Del, Have, Provider, Vals, Want, attr_map, found, planned, sdk_tags, tag_map,
    update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err};

pub struct SecretsmanagerSecret;

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone)]
pub struct SecretLive {
    pub arn: String,
    pub description: Option<String>,
    /// Scheduled for deletion (by `destroy`): restorable until the window ends.
    pub deleted: bool,
    /// For a secret taken from a parameter: whether its current value is the parameter's.
    pub same_value: Option<bool>,
}

fn sm_tags(r: &detscript_engine::Resource) -> Vec<Tag> {
    sdk_tags(r, |k, v| Some(Tag::builder().key(k).value(v).build()))
}

/// The id of the version labelled `AWSCURRENT`.
fn current_version<'a>(
    stages: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>,
) -> Option<String> {
    stages
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
        .map(|(v, _)| v.clone())
}

/// Every secret (those scheduled for deletion too) that `filter` matches.
async fn list(c: &Clients, filter: Filter, target: &str) -> Result<Vec<SecretListEntry>> {
    let pages =
        c.sm.list_secrets()
            .include_planned_deletion(true)
            .filters(filter)
            .into_paginator()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_err("ListSecrets", target, e))?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.secret_list.unwrap_or_default())
        .collect())
}

/// The tag a database carries with the version of its password secret it was last given.
pub const PASSWORD_VERSION_TAG: &str = "detscript:password-version";

/// The current version of the secret a database password names, when known.
fn password_version(v: &Vals<'_>, t: &Tmpl) -> Option<String> {
    v.attrs.get(&format!("{}.version", secret::value_of(t)?))
}

/// A database's tags plus the version of its password secret (when the password is one).
pub fn with_password_version<T>(
    mut tags: Vec<T>,
    v: &Vals<'_>,
    t: &Tmpl,
    make: impl Fn(&str, &str) -> T,
) -> Vec<T> {
    if let Some(ver) = password_version(v, t) {
        tags.push(make(PASSWORD_VERSION_TAG, &ver));
    }
    tags
}

/// The update line when the password's secret has a version the database was not given
/// (rotated), or None.
pub fn password_change(t: &Tmpl, live_version: Option<&str>, cx: &Cmp) -> Option<String> {
    let want = password_version(&cx.vals, t)?;
    (live_version != Some(want.as_str())).then(|| {
        format!(
            "~ master password: {} has a new version (changed through the RDS API)",
            secret::value_of(t).unwrap_or_default()
        )
    })
}

/// The version a database's tags say its password was last set from.
pub fn live_password_version<'a>(
    mut tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Option<String> {
    tags.find(|(k, _)| *k == Some(PASSWORD_VERSION_TAG))
        .and_then(|(_, v)| v.map(str::to_string))
}

/// True for a secret `destroy` already scheduled for deletion.
pub fn scheduled_for_deletion(live: &Live) -> bool {
    matches!(&live.detail, super::Detail::SecretsmanagerSecret(d) if d.deleted)
}

/// The current value of a secret (a version, when given), as the master and RDS get it.
pub async fn read_value(c: &Clients, arn: &str, version: Option<&str>) -> Result<Option<String>> {
    let res =
        c.sm.get_secret_value()
            .secret_id(arn)
            .set_version_id(version.map(str::to_string))
            .send()
            .await;
    Ok(found(res, NOT_FOUND, "GetSecretValue", arn)?.and_then(|o| o.secret_string))
}

/// The text of a database password: a secret's value is read from Secrets Manager (and
/// added to what the progress display redacts), anything else resolved as usual.
pub async fn password(ctx: &Ctx, v: &Vals<'_>, t: &Tmpl) -> Result<String> {
    let Some(id) = secret::value_of(t) else {
        return v.text(t);
    };
    let arn = v
        .attrs
        .get(&format!("{id}.arn"))
        .ok_or_else(|| anyhow!("{id} is not created yet"))?;
    let version = v.attrs.get(&format!("{id}.version"));
    let value = read_value(&ctx.clients, &arn, version.as_deref())
        .await?
        .ok_or_else(|| anyhow!("{id} ({arn}) has no value"))?;
    ctx.ui.add_secret(id, Secret::new(value.clone()));
    Ok(value)
}

impl Provider for SecretsmanagerSecret {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let dep = plan.deployment.name.clone();
        let by_tag = Filter::builder()
            .key(FilterNameStringType::TagValue)
            .values(&dep)
            .build();
        let mut entries = list(c, by_tag, "").await?;
        // Same-named secrets without our tags are conflicts: look the planned names not found
        // up, ten (a filter's most values, any of which may match) per request.
        let wanted = planned(plan, Kind::SecretsmanagerSecret);
        let missing: Vec<&String> = wanted
            .keys()
            .filter(|n| !entries.iter().any(|e| e.name() == Some(n.as_str())))
            .collect();
        for names in missing.chunks(10) {
            let by_name = Filter::builder()
                .key(FilterNameStringType::Name)
                .set_values(Some(names.iter().map(|n| n.to_string()).collect()))
                .build();
            let more = list(c, by_name, names[0]).await?;
            entries.extend(
                more.into_iter()
                    .filter(|e| names.iter().any(|n| e.name() == Some(n.as_str()))),
            );
        }
        let mut st = State::default();
        for e in entries {
            let (Some(name), Some(arn)) = (e.name(), e.arn()) else {
                continue;
            };
            let tags = tag_map(e.tags().iter().map(|t| (t.key(), t.value())));
            let planned_id = wanted.get(name).cloned();
            let spec = planned_id
                .as_deref()
                .and_then(|id| match plan.get(id).map(|r| &r.spec) {
                    Some(detscript_engine::Spec::SecretsmanagerSecret(s)) => Some(s),
                    _ => None,
                });
            let deleted = e.deleted_date().is_some();
            let mut same_value = None;
            if let (Some(want), true) = (
                spec.and_then(|s| s.value.as_ref()),
                super::owned_by(&tags, &dep),
            ) {
                // A deleted secret cannot be read until restored: its value is stored again.
                same_value = Some(false);
                if !deleted {
                    let want = want.resolve(&|_| None, Some(plan.secrets())).ok();
                    let have = read_value(c, arn, None).await?;
                    same_value = Some(want.is_some() && want == have);
                }
            }
            let version = current_version(e.secret_versions_to_stages().into_iter().flatten());
            let attrs = attr_map([
                ("arn", Some(arn)),
                ("id", Some(arn)),
                ("name", Some(name)),
                ("version", version.as_deref()),
            ]);
            let detail = SecretLive {
                arn: arn.to_string(),
                description: e.description().map(str::to_string),
                deleted,
                same_value,
            };
            st.add(
                &dep,
                &tags,
                Live::new(name, attrs, detail),
                planned_id.as_deref(),
            );
        }
        Ok(st)
    }

    fn compare(spec: &SecretSpec, Have { d: l, .. }: Have<'_, Self>, _cx: &Cmp) -> Action {
        let mut upd = Vec::new();
        if l.deleted {
            upd.push("~ restore (scheduled for deletion by destroy)".to_string());
        }
        if l.description.as_deref() != Some(spec.description.as_str()) {
            upd.push(format!(
                "~ description {:?} -> {:?}",
                l.description.as_deref().unwrap_or(""),
                spec.description
            ));
        }
        if l.same_value == Some(false) {
            upd.push("~ value (sensitive): the parameter changed; a new version is stored".into());
        }
        update_or_noop(upd)
    }

    fn uses(_: &SecretLive) -> Vec<String> {
        Vec::new()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let sm = &ctx.clients.sm;
        let value = initial_value(ctx, spec, &v).await?;
        ctx.ui.add_secret(&r.id, Secret::new(value.clone()));
        let out = sm
            .create_secret()
            .name(&spec.secret_name)
            .description(&spec.description)
            .secret_string(value)
            .set_tags(Some(sm_tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("CreateSecret", &spec.secret_name, e))?;
        Ok(attr_map([
            ("arn", out.arn()),
            ("id", out.arn()),
            ("name", out.name()),
            ("version", out.version_id()),
        ]))
    }

    async fn update(
        Want { ctx, r, spec, v }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let sm = &ctx.clients.sm;
        let mut attrs = live.attrs.clone();
        if l.deleted {
            sm.restore_secret()
                .secret_id(&l.arn)
                .send()
                .await
                .map_err(|e| aws_err("RestoreSecret", &live.name, e))?;
        }
        if l.description.as_deref() != Some(spec.description.as_str()) {
            sm.update_secret()
                .secret_id(&l.arn)
                .description(&spec.description)
                .send()
                .await
                .map_err(|e| aws_err("UpdateSecret", &live.name, e))?;
        }
        if l.same_value == Some(false) {
            let value = initial_value(ctx, spec, &v).await?;
            ctx.ui.add_secret(&r.id, Secret::new(value.clone()));
            let out = sm
                .put_secret_value()
                .secret_id(&l.arn)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| aws_err("PutSecretValue", &live.name, e))?;
            if let Some(ver) = out.version_id() {
                attrs.insert("version".into(), ver.to_string());
            }
        }
        Ok(attrs)
    }

    async fn delete(ctx: &Ctx, Del { live, d: l, opts }: Del<'_, Self>) -> Result<String> {
        if l.deleted && !opts.delete_secrets_now {
            return Ok("already scheduled for deletion".into());
        }
        let mut req = ctx.clients.sm.delete_secret().secret_id(&l.arn);
        let days = ctx
            .plan
            .get(&live.id)
            .and_then(|r| match &r.spec {
                detscript_engine::Spec::SecretsmanagerSecret(s) => Some(s.recovery_window_days),
                _ => None,
            })
            .unwrap_or(secret::DEFAULT_RECOVERY_DAYS);
        req = if opts.delete_secrets_now {
            req.force_delete_without_recovery(true)
        } else {
            req.recovery_window_in_days(days)
        };
        let res = req.send().await;
        found(res, NOT_FOUND, "DeleteSecret", &live.name)?;
        Ok(if opts.delete_secrets_now {
            "deleted without recovery".into()
        } else {
            format!(
                "scheduled for deletion in {days} days (restorable: aws secretsmanager restore-secret)"
            )
        })
    }
}

/// The value a new secret starts with: the parameter's, or one AWS generates.
async fn initial_value(ctx: &Ctx, spec: &SecretSpec, v: &Vals<'_>) -> Result<String> {
    if let Some(t) = &spec.value {
        return v.text(t);
    }
    let g = spec.generate.clone().unwrap_or_default();
    let out = ctx
        .clients
        .sm
        .get_random_password()
        .password_length(g.length)
        .exclude_punctuation(g.exclude_punctuation)
        .require_each_included_type(g.require_each_included_type)
        .send()
        .await
        .map_err(|e| aws_err("GetRandomPassword", &spec.secret_name, e))?;
    out.random_password.ok_or_else(|| {
        anyhow!(
            "GetRandomPassword {}: no password returned",
            spec.secret_name
        )
    })
}
