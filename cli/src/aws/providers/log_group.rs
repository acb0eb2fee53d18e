//! CloudWatch Logs groups: found by the deployment's name prefix and owned by their tags,
//! created with their tags, KMS key and retention, changed in place (`PutRetentionPolicy`,
//! `AssociateKmsKey`/`DisassociateKmsKey`), deleted with their events.
//!
//! Attributes: `name`, `id` (the name) and `arn` in the form `DescribeLogGroups` and
//! CloudFormation give (`...:log-group:NAME:*`), which the writers' policy names.

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use aws_sdk_cloudwatchlogs::types::LogGroup;
use detscript_engine::kinds::LogGroupSpec;
use detscript_engine::{Kind, Plan};

use super::{
    AttrMap, Cmp, Del, Have, Provider, Want, all_items, attr_map, changed, found, planned,
    sdk_tags, tag_map, update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err};

pub struct CloudwatchLogGroup;

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone)]
pub struct LogGroupLive {
    pub retention_days: Option<i32>,
    pub kms_key_id: Option<String>,
}

/// The group's ARN as policies name it (ending in `:*`), and the one the tagging API takes
/// (without it).
fn arns(g: &LogGroup) -> Option<(String, String)> {
    let bare = match (g.log_group_arn(), g.arn()) {
        (Some(a), _) => a.to_string(),
        (None, Some(a)) => a.strip_suffix(":*").unwrap_or(a).to_string(),
        (None, None) => return None,
    };
    Some((format!("{bare}:*"), bare))
}

/// The groups whose names start with `prefix`.
async fn groups(c: &Clients, prefix: &str) -> Result<Vec<LogGroup>> {
    all_items!(
        c.logs.describe_log_groups().log_group_name_prefix(prefix),
        "DescribeLogGroups",
        prefix
    )
}

/// The attributes of a group; None when it is not (or no longer) there.
async fn read(c: &Clients, name: &str) -> Result<Option<AttrMap>> {
    let g = groups(c, name).await?;
    let Some(g) = g.iter().find(|g| g.log_group_name() == Some(name)) else {
        return Ok(None);
    };
    let (arn, _) = arns(g).ok_or_else(|| anyhow!("DescribeLogGroups {name}: no ARN"))?;
    Ok(Some(attr_map([
        ("name", Some(name)),
        ("id", Some(name)),
        ("arn", Some(arn.as_str())),
    ])))
}

/// Sets the group's retention to the spec's.
async fn put_retention(c: &Clients, name: &str, spec: &LogGroupSpec) -> Result<()> {
    let days = i32::try_from(spec.retention_days)
        .map_err(|_| anyhow!("retention of {} days is out of range", spec.retention_days))?;
    c.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| aws_err("PutRetentionPolicy", name, e))?;
    Ok(())
}

/// Associates the group with the KMS key, or disassociates it from its key (`None`).
async fn set_kms_key(c: &Clients, name: &str, key: Option<String>) -> Result<()> {
    match key {
        Some(key) => {
            let req = c
                .logs
                .associate_kms_key()
                .log_group_name(name)
                .kms_key_id(key);
            req.send()
                .await
                .map_err(|e| aws_err("AssociateKmsKey", name, e))?;
        }
        None => {
            let req = c.logs.disassociate_kms_key().log_group_name(name);
            req.send()
                .await
                .map_err(|e| aws_err("DisassociateKmsKey", name, e))?;
        }
    }
    Ok(())
}

impl Provider for CloudwatchLogGroup {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let dep = plan.deployment.name.as_str();
        let wanted = planned(plan, Kind::CloudwatchLogGroup);
        let mut listed = groups(c, &format!("{dep}-")).await?;
        // A script may name its groups otherwise: look each planned name up too.
        for name in wanted.keys() {
            if !listed
                .iter()
                .any(|g| g.log_group_name() == Some(name.as_str()))
            {
                listed.extend(
                    groups(c, name)
                        .await?
                        .into_iter()
                        .filter(|g| g.log_group_name() == Some(name.as_str())),
                );
            }
        }
        let mut st = State::default();
        for g in listed {
            let (Some(name), Some((arn, bare))) = (g.log_group_name(), arns(&g)) else {
                continue;
            };
            let res = c
                .logs
                .list_tags_for_resource()
                .resource_arn(&bare)
                .send()
                .await;
            let Some(out) = found(res, NOT_FOUND, "ListTagsForResource", name)? else {
                continue; // deleted meanwhile
            };
            let tags = tag_map(
                out.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (Some(k.as_str()), Some(v.as_str()))),
            );
            let attrs = attr_map([
                ("name", Some(name)),
                ("id", Some(name)),
                ("arn", Some(arn.as_str())),
            ]);
            let detail = LogGroupLive {
                retention_days: g.retention_in_days(),
                kms_key_id: g.kms_key_id().map(str::to_string),
            };
            st.add(
                dep,
                &tags,
                Live::new(name, attrs, detail),
                wanted.get(name).map(String::as_str),
            );
        }
        Ok(st)
    }

    fn create_notes(spec: &LogGroupSpec) -> Vec<String> {
        vec![format!("retention {} days", spec.retention_days)]
    }

    fn compare(spec: &LogGroupSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let mut upd = Vec::new();
        if l.retention_days.map(i64::from) != Some(spec.retention_days) {
            upd.push(format!(
                "~ retention {} -> {} days",
                l.retention_days
                    .map_or_else(|| "never expire".to_string(), |d| d.to_string()),
                spec.retention_days
            ));
        }
        let want_key = spec.kms_key_id.as_ref().map(|k| cx.vals.shown(k));
        upd.extend(changed(
            "KMS key",
            l.kms_key_id.as_deref(),
            want_key.as_deref(),
        ));
        update_or_noop(upd)
    }

    fn uses(_: &LogGroupLive) -> Vec<String> {
        Vec::new()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let logs = &ctx.clients.logs;
        let name = &spec.log_group_name;
        let tags: HashMap<String, String> =
            sdk_tags(r, |k, v| Some((k.to_string(), v.to_string())))
                .into_iter()
                .collect();
        logs.create_log_group()
            .log_group_name(name)
            .set_kms_key_id(v.opt(spec.kms_key_id.as_ref())?)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_err("CreateLogGroup", name, e))?;
        put_retention(&ctx.clients, name, spec).await?;
        read(&ctx.clients, name)
            .await?
            .ok_or_else(|| anyhow!("CreateLogGroup {name}: the group is not there afterwards"))
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        if l.retention_days.map(i64::from) != Some(spec.retention_days) {
            put_retention(&ctx.clients, &live.name, spec).await?;
        }
        let want_key = v.opt(spec.kms_key_id.as_ref())?;
        if want_key != l.kms_key_id {
            set_kms_key(&ctx.clients, &live.name, want_key).await?;
        }
        Ok(live.attrs.clone())
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        let name = live.name.as_str();
        let req = ctx.clients.logs.delete_log_group().log_group_name(name);
        Ok(
            match found(req.send().await, NOT_FOUND, "DeleteLogGroup", name)? {
                Some(_) => "deleted with its log events".into(),
                None => "already gone".into(),
            },
        )
    }
}
