//! Assembling each master_config into Determined's typed model, with errors at the line
//! that set the offending field.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::super::State;
use super::super::database::PG_PORT;
use crate::config::{MasterConfig, unknown_key_message};
use crate::diag::{Diagnostic, SourcePos};
use crate::refs;

pub(super) fn map_config_strings(cfg: &mut MasterConfig, f: &dyn Fn(&str) -> String) {
    let mut v = serde_json::to_value(&*cfg).expect("config serializes");
    refs::map_strings(&mut v, &mut |s| *s = f(s));
    *cfg = MasterConfig::from_json(v).expect("mapping strings keeps the shape");
}

/// Assembles and checks every master_config; returns them by index (None when invalid).
pub(super) fn build_configs(
    st: &mut State,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Option<MasterConfig>> {
    let mut out = Vec::new();
    for ci in 0..st.configs.len() {
        let cfg = st.configs[ci].clone();
        let mut json = cfg.json.clone();
        if let Some(db_idx) = cfg.db {
            let db = &st.databases[db_idx];
            let typed = crate::config::DbConfig {
                host: Some(refs::attr(&format!("database.{}", db.name), "endpoint")),
                port: Some(PG_PORT),
                ..db.connection.clone()
            };
            let m = serde_json::to_value(typed).expect("the db config serializes");
            json.insert("db".into(), m);
        }
        let builder_pools = cfg.pools.len();
        let mut list = Vec::new();
        for &pi in &cfg.pools {
            let p = &st.pools[pi];
            let mut m = p.json.clone();
            let provider = super::super::pools::provider_with_defaults(p);
            m.insert("provider".into(), Value::Object(provider));
            list.push(Value::Object(m));
        }
        if let Some(Value::Array(more)) = json.get("resource_pools") {
            for mut pool in more.iter().cloned() {
                if let Some(Value::Object(provider)) = pool.get_mut("provider") {
                    super::super::pools::apply_default(provider, false);
                }
                list.push(pool);
            }
        }
        if !list.is_empty() {
            json.insert("resource_pools".into(), Value::Array(list));
        }
        let pool_pos = |i: usize, field: &str| -> SourcePos {
            if i < builder_pools {
                let p = &st.pools[cfg.pools[i]];
                p.field_pos
                    .get(field)
                    .cloned()
                    .unwrap_or_else(|| p.pos.clone())
            } else {
                cfg.field_pos
                    .get("resource_pools")
                    .cloned()
                    .unwrap_or_else(|| cfg.pos.clone())
            }
        };
        let pool_label = |i: usize, json: &Map<String, Value>| -> String {
            json.get("resource_pools")
                .and_then(|p| p.get(i))
                .and_then(|p| p.get("pool_name"))
                .and_then(Value::as_str)
                .map(|n| format!("resource pool '{n}'"))
                .unwrap_or_else(|| format!("resource_pools[{i}]"))
        };
        let value = Value::Object(json.clone());
        let parsed = MasterConfig::from_json(value);
        match parsed {
            Err(e) => {
                let path = e.path().to_string();
                let (pos, within) = locate(&path, &cfg.field_pos, &cfg.pos, &pool_pos, &|i| {
                    pool_label(i, &json)
                });
                errors.push(Diagnostic::error(humanize(&path, &within, e.inner()), &pos));
                out.push(None);
            }
            Ok(model) => {
                for v in model.validate() {
                    let pos = match v.pool {
                        Some(i) => pool_pos(i, &v.field),
                        None => {
                            let top = v.field.split('.').next().unwrap_or(&v.field);
                            cfg.field_pos
                                .get(top)
                                .cloned()
                                .unwrap_or_else(|| cfg.pos.clone())
                        }
                    };
                    let msg = match v.pool {
                        Some(i) => format!("{}: {}", pool_label(i, &json), v.message),
                        None => format!("master_config: {}", v.message),
                    };
                    let d = Diagnostic::error(msg, &pos);
                    errors.push(if v.field == "instance_type" {
                        d.with_code("DS018")
                    } else {
                        d
                    });
                }
                out.push(Some(model));
            }
        }
    }
    out
}

type PoolPos<'a> = dyn Fn(usize, &str) -> SourcePos + 'a;

/// Position and a readable location for a serde error path like `resource_pools[0].provider.x`.
fn locate(
    path: &str,
    field_pos: &HashMap<String, SourcePos>,
    cfg_pos: &SourcePos,
    pool_pos: &PoolPos,
    pool_label: &dyn Fn(usize) -> String,
) -> (SourcePos, String) {
    if let Some(rest) = path.strip_prefix("resource_pools[") {
        if let Some((idx, tail)) = rest.split_once(']') {
            if let Ok(i) = idx.parse::<usize>() {
                let field = tail.rsplit('.').next().unwrap_or("");
                let tail = tail.trim_start_matches('.');
                let within = if tail.is_empty() {
                    pool_label(i)
                } else {
                    format!("{} {}", pool_label(i), tail)
                };
                return (pool_pos(i, field), within);
            }
        }
    }
    let top = path.split(['.', '[']).next().unwrap_or(path);
    let pos = field_pos
        .get(top)
        .cloned()
        .unwrap_or_else(|| cfg_pos.clone());
    (
        pos,
        if path == "." || path.is_empty() {
            "master_config".into()
        } else {
            format!("master_config {path}")
        },
    )
}

/// Rewrites serde's message ("unknown field `hots`, expected one of `user`, ...") in words
/// with a suggestion.
fn humanize(path: &str, within: &str, e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            // The path ends with the unknown key; what contains it is the scope.
            let scope = match path.rsplit_once('.') {
                Some((parent, _)) if within.starts_with("master_config") => parent.to_string(),
                _ => within
                    .rsplit_once(' ')
                    .map(|(s, _)| s)
                    .unwrap_or(within)
                    .to_string(),
            };
            let scope = if scope.is_empty() || scope == path {
                "master_config".to_string()
            } else {
                scope
            };
            return unknown_key_message(&scope, field, &allowed);
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        if let Some((variant, _)) = rest.split_once('`') {
            return format!(
                "{within}: unknown type {variant:?}; expected one of s3, shared_fs, gcs, azure, directory"
            );
        }
    }
    let msg = msg
        .replace("invalid type: ", "")
        .replace("expected i64", "expected an integer");
    format!("{within}: {msg}")
}
