//! After the script ran: materialize databases and the master, check the master config,
//! name every resource, derive dependencies from references and order the plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::bucket::check_bucket_name;
use super::database::{self, PG_PORT};
use super::{Decl, State};
use crate::config::{MasterConfig, unknown_key_message};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::Spec;
use crate::plan::{DeploymentInfo, Kind, MasterFiles, Origin, Plan, Resource};
use crate::refs;

pub(crate) fn finish(st: &mut State) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = std::mem::take(&mut st.late_errors);
    let Some(dep) = st.deployment.clone() else {
        let pos = SourcePos {
            file: st.main_file.clone(),
            line: 1,
            column: 1,
        };
        errors.push(Diagnostic::error(
            "the script never calls deployment(name): it names every AWS resource and tags it as owned",
            &pos,
        ).with_note("add a line such as: deployment(p.cluster_id);"));
        return Err(errors);
    };

    let mut aliases: HashMap<String, String> = HashMap::new();
    for db in st.databases.clone() {
        let (alias, real) = database::materialize(&db, &mut st.decls, &mut errors);
        aliases.insert(alias, real);
    }

    let configs = build_configs(st, &mut errors);
    let mut master_files = None;
    if let Some(m) = st.masters.first().cloned() {
        master_files = build_master(st, &m, &configs, &dep.name, &mut errors);
    }
    for (i, c) in st.configs.iter().enumerate() {
        if !c.used && st.masters.first().and_then(|m| m.config) != Some(i) {
            st.warnings.push(Diagnostic::warning(
                "this master_config is never given to a master_instance(...).config(...), so it is not deployed",
                &c.pos,
            ));
        }
    }
    for p in &st.pools {
        if p.attached_to.is_none() {
            st.warnings.push(Diagnostic::warning(
                format!(
                    "aws_pool '{}' is never added to a master_config with .resource_pool(...)",
                    p.name
                ),
                &p.pos,
            ));
        }
    }

    // Physical names.
    let mut physical: HashMap<String, String> = HashMap::new();
    for d in &mut st.decls {
        if d.pending {
            continue;
        }
        let name = match d.kind {
            Kind::S3Bucket => {
                let name = d
                    .props
                    .get("bucket")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}-{}", dep.name, d.name));
                if !refs::has_refs(&name) {
                    if let Err(m) = check_bucket_name(&name) {
                        errors.push(Diagnostic::error(format!("s3_bucket '{}': {m}", d.name), &d.pos)
                            .with_code("DS017")
                            .with_note("the bucket is named DEPLOYMENT-NAME; use a lowercase deployment name or set .bucket_name(\"...\")"));
                    }
                }
                d.props.insert("bucket".into(), Value::String(name.clone()));
                name
            }
            Kind::RdsCluster | Kind::RdsInstance => {
                let name = format!("{}-{}", dep.name, d.name)
                    .to_ascii_lowercase()
                    .replace('_', "-");
                if name.len() > 63 || name.contains("--") {
                    errors.push(Diagnostic::error(
                        format!("database identifier {name:?} is invalid: RDS needs at most 63 characters and no \"--\""),
                        &d.pos,
                    ));
                }
                d.props
                    .insert("identifier".into(), Value::String(name.clone()));
                name
            }
            Kind::IamRole | Kind::InstanceProfile => {
                let name = format!("{}-{}", dep.name, d.name);
                if name.len() > 64 {
                    errors.push(Diagnostic::error(
                        format!("IAM name {name:?} is longer than 64 characters"),
                        &d.pos,
                    ));
                }
                name
            }
            Kind::SecurityGroup => {
                let name = format!("{}-{}", dep.name, d.name);
                d.props
                    .insert("group_name".into(), Value::String(name.clone()));
                name
            }
            Kind::SecurityGroupRule | Kind::Ec2Instance => format!("{}-{}", dep.name, d.name),
        };
        physical.insert(d.id.clone(), name);
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let partition = match &dep.region {
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        Some(r) if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    };
    let ids: BTreeSet<String> = st.decls.iter().map(|d| d.id.clone()).collect();
    let writers: HashMap<String, String> = st
        .decls
        .iter()
        .filter(|d| d.kind == Kind::RdsInstance && d.props.contains_key("cluster"))
        .filter_map(|d| {
            let cluster = d
                .props
                .get("cluster")
                .and_then(Value::as_str)
                .and_then(refs::whole_ref)?;
            Some((refs::resource_of(cluster).to_string(), d.id.clone()))
        })
        .collect();
    let alias_lookup = |p: &str| -> Option<String> {
        let (head, rest) = p.split_once('.')?;
        if head != "database" {
            return None;
        }
        let (name, attr) = rest.rsplit_once('.')?;
        aliases
            .get(&format!("database.{name}"))
            .map(|real| refs::reference(&format!("{real}.{attr}")))
    };
    let known_lookup = |p: &str| -> Option<String> {
        let (id, attr) = p.rsplit_once('.')?;
        let name = physical.get(id)?;
        match attr {
            "name" => Some(name.clone()),
            "arn" if id.starts_with("s3_bucket.") => Some(format!("arn:{partition}:s3:::{name}")),
            _ => None,
        }
    };

    let fix = |s: &str| -> String {
        refs::substitute(&refs::substitute(s, &alias_lookup), &known_lookup)
    };
    // The master's files, rendered once: the instance's user_data and the plan's files.
    let mut master_texts = None;
    if let Some(mf) = master_files.as_mut() {
        let mut cfg = mf.config.clone();
        map_config_strings(&mut cfg, &fix);
        mf.config = cfg;
        let user_data = mf.render_user_data(&|_| None, true);
        if let Some(m) = st.masters.first() {
            st.decls[m.decl]
                .props
                .insert("user_data".into(), Value::String(user_data.clone()));
        }
        master_texts = Some((mf.render_yaml(&|_| None, true), user_data));
    }

    let mut origins = origins(st);
    let mut resources = Vec::with_capacity(st.decls.len());
    for (i, d) in std::mem::take(&mut st.decls).into_iter().enumerate() {
        let Decl {
            id,
            kind,
            props,
            pos,
            tags: extra_tags,
            ..
        } = d;
        let mut props = Value::Object(props);
        if !aliases.is_empty() {
            refs::map_strings(&mut props, &mut |s| {
                if refs::has_refs(s) {
                    *s = refs::substitute(s, &alias_lookup);
                }
            });
        }
        let mut deps = BTreeSet::new();
        let mut unknown = Vec::new();
        refs::visit_strings(&props, &mut |s| {
            for path in refs::paths(s) {
                if path.starts_with("param.") || path.starts_with("secret.") {
                    continue;
                }
                let target = refs::resource_of(path);
                if target == id {
                    continue;
                }
                if ids.contains(target) {
                    deps.insert(target.to_string());
                    // Whoever uses a cluster's endpoint needs its writer instance too.
                    if let Some(writer) = writers.get(target) {
                        if *writer != id {
                            deps.insert(writer.clone());
                        }
                    }
                } else {
                    unknown.push(path.to_string());
                }
            }
        });
        for path in unknown {
            errors.push(Diagnostic::error(
                format!("{id} refers to {path}, which is not in this plan"),
                &pos,
            ));
        }
        refs::map_strings(&mut props, &mut |s| {
            if refs::has_refs(s) {
                *s = refs::substitute(s, &known_lookup);
            }
        });
        let name = physical.get(&id).cloned().unwrap_or_default();
        let mut tags: BTreeMap<String, String> = dep.tags.clone();
        tags.extend(extra_tags);
        if matches!(kind, Kind::SecurityGroup | Kind::Ec2Instance) {
            tags.insert("Name".into(), name.clone());
        }
        tags.insert("detscript:deployment".into(), dep.name.clone());
        tags.insert("detscript:id".into(), id.clone());
        let Value::Object(properties) = props else {
            unreachable!("props stay an object")
        };
        let spec = match Spec::from_marked(kind, &properties) {
            Ok(spec) => spec,
            Err(e) => {
                errors.push(Diagnostic::error(
                    format!("internal error: {id} does not fit its kind's model: {e}"),
                    &pos,
                ));
                continue;
            }
        };
        resources.push(Resource {
            id,
            kind,
            name,
            spec,
            properties,
            tags,
            depends_on: deps.into_iter().collect(),
            source: pos,
            origin: std::mem::take(&mut origins[i]),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut outputs = BTreeMap::new();
    let mut files = BTreeMap::new();
    for r in &resources {
        match r.kind {
            Kind::SecurityGroup => {
                outputs.insert(
                    format!(
                        "{}_security_group_id",
                        r.id.trim_start_matches("security_group.")
                    ),
                    refs::reference(&format!("{}.id", r.id)),
                );
            }
            Kind::S3Bucket => {
                outputs.insert(
                    format!("{}_bucket", r.id.trim_start_matches("s3_bucket.")),
                    r.name.clone(),
                );
            }
            Kind::RdsCluster => {
                outputs.insert(
                    "database_endpoint".into(),
                    refs::reference(&format!("{}.endpoint", r.id)),
                );
            }
            Kind::RdsInstance if !r.properties.contains_key("cluster") => {
                outputs.insert(
                    "database_endpoint".into(),
                    refs::reference(&format!("{}.endpoint", r.id)),
                );
            }
            _ => {}
        }
    }
    if let Some(mf) = master_files.as_ref() {
        let id = format!("ec2_instance.{}", mf.instance_name);
        let ip = if mf.public_ip {
            "public_ip"
        } else {
            "private_ip"
        };
        let scheme = if mf.tls { "https" } else { "http" };
        outputs.insert(
            "master_instance_id".into(),
            refs::reference(&format!("{id}.id")),
        );
        outputs.insert(
            "master_private_ip".into(),
            refs::reference(&format!("{id}.private_ip")),
        );
        if mf.public_ip {
            outputs.insert(
                "master_public_ip".into(),
                refs::reference(&format!("{id}.public_ip")),
            );
        }
        outputs.insert(
            "master_url".into(),
            format!(
                "{scheme}://{}:{}",
                refs::reference(&format!("{id}.{ip}")),
                mf.port
            ),
        );
        for pool in &mf.config.resource_pools {
            if let Some(p) = &pool.provider {
                if let (Some(k), Some(v)) = (&p.tag_key, &p.tag_value) {
                    outputs.insert(format!("agent_tag_{}", pool.pool_name), format!("{k}={v}"));
                }
            }
        }
    }
    if let Some((yaml, user_data)) = master_texts {
        files.insert("master.yaml".to_string(), yaml);
        files.insert("user-data".to_string(), user_data);
    }

    let deployment = DeploymentInfo {
        name: dep.name.clone(),
        region: dep.region.clone(),
        tags: dep.tags.clone(),
    };
    let positions: HashMap<String, SourcePos> = resources
        .iter()
        .map(|r| (r.id.clone(), r.source.clone()))
        .collect();
    let mut plan = Plan::new(deployment, resources, outputs, files, st.params.secrets.clone()).map_err(|cycle| {
        let first = cycle.ids.first().cloned().unwrap_or_default();
        let pos = positions.get(&first).cloned().unwrap_or_default();
        let mut d = Diagnostic::error(format!("dependency cycle: {}", cycle.ids.join(" -> ")), &pos);
        for id in cycle.ids.iter().skip(1).take(cycle.ids.len().saturating_sub(2)) {
            if let Some(p) = positions.get(id) {
                d = d.with_note(format!("{id} is declared at {}:{}", p.file, p.line));
            }
        }
        vec![d.with_note("each resource refers to the next one (through .arn, .id, ...); remove one of these references")]
    })?;
    plan.master = master_files;
    Ok(plan)
}

/// For each declaration (by index): where its parts were set and the settings the lint
/// rules read that are not AWS properties. A database gets the positions and SSL settings of
/// its builder; the master gets its own and, as `pool:NAME` / `pool.FIELD:NAME`, its pools'.
fn origins(st: &State) -> Vec<Origin> {
    let mut out: Vec<Origin> = st
        .decls
        .iter()
        .enumerate()
        .map(|(i, d)| Origin {
            declared: i,
            field_pos: d.field_pos.clone().into_iter().collect(),
            settings: BTreeMap::new(),
        })
        .collect();
    for db in &st.databases {
        let o = &mut out[db.decl];
        o.field_pos.extend(db.field_pos.clone());
        for (key, value) in [
            ("ssl_mode", &db.ssl_mode),
            ("ssl_root_cert", &db.ssl_root_cert),
        ] {
            if let Some(v) = value {
                o.settings.insert(key.to_string(), v.clone());
            }
        }
    }
    if let Some(m) = st.masters.first() {
        let o = &mut out[m.decl];
        o.field_pos.extend(m.field_pos.clone());
        for p in &st.pools {
            let key = format!("pool:{}", p.name);
            if o.field_pos.contains_key(&key) {
                continue; // findings find a pool by name: the first one declared
            }
            o.field_pos.insert(key, p.pos.clone());
            for (field, pos) in &p.field_pos {
                o.field_pos
                    .insert(format!("pool.{field}:{}", p.name), pos.clone());
            }
        }
    }
    out
}

fn map_config_strings(cfg: &mut MasterConfig, f: &dyn Fn(&str) -> String) {
    let mut v = serde_json::to_value(&*cfg).expect("config serializes");
    refs::map_strings(&mut v, &mut |s| *s = f(s));
    *cfg = serde_json::from_value(v).expect("mapping strings keeps the shape");
}

/// Assembles and checks every master_config; returns them by index (None when invalid).
fn build_configs(st: &mut State, errors: &mut Vec<Diagnostic>) -> Vec<Option<MasterConfig>> {
    let mut out = Vec::new();
    for ci in 0..st.configs.len() {
        let cfg = st.configs[ci].clone();
        let mut json = cfg.json.clone();
        if let Some(db_idx) = cfg.db {
            let db = &st.databases[db_idx];
            let mut m = Map::new();
            m.insert(
                "user".into(),
                Value::String(db.user.clone().unwrap_or_default()),
            );
            m.insert(
                "password".into(),
                Value::String(db.password.clone().unwrap_or_default()),
            );
            m.insert(
                "host".into(),
                Value::String(refs::reference(&format!("database.{}.endpoint", db.name))),
            );
            m.insert("port".into(), Value::from(PG_PORT));
            m.insert(
                "name".into(),
                Value::String(
                    db.database_name
                        .clone()
                        .unwrap_or_else(|| "determined".into()),
                ),
            );
            if let Some(mode) = &db.ssl_mode {
                m.insert("ssl_mode".into(), Value::String(mode.clone()));
            }
            if let Some(cert) = &db.ssl_root_cert {
                m.insert("ssl_root_cert".into(), Value::String(cert.clone()));
            }
            json.insert("db".into(), Value::Object(m));
        }
        let builder_pools = cfg.pools.len();
        if !cfg.pools.is_empty() {
            let mut list = Vec::new();
            for &pi in &cfg.pools {
                let p = &st.pools[pi];
                let mut m = p.json.clone();
                m.insert("provider".into(), Value::Object(p.provider.clone()));
                list.push(Value::Object(m));
            }
            if let Some(Value::Array(more)) = json.get("resource_pools") {
                list.extend(more.iter().cloned());
            }
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
        let parsed: Result<MasterConfig, _> = serde_path_to_error::deserialize(value);
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

fn build_master(
    st: &mut State,
    m: &super::master::MasterDecl,
    configs: &[Option<MasterConfig>],
    deployment: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<MasterFiles> {
    let who = format!("master_instance '{}'", m.name);
    let mut missing = |what: &str, example: &str| {
        errors.push(
            Diagnostic::error(format!("{who} needs .{what}(...)"), &m.pos)
                .with_note(format!("for example .{what}({example})")),
        );
    };
    if m.instance_type.is_none() {
        missing("instance_type", "\"m6i.xlarge\"");
    }
    if m.image_id.is_none() {
        missing("image_id", "p.master_ami");
    }
    if m.master_image.is_none() {
        missing(
            "master_image",
            "\"determinedai/determined-master:\" + p.version",
        );
    }
    let Some(ci) = m.config else {
        missing("config", "master_config()...");
        return None;
    };
    let config = configs.get(ci).cloned().flatten()?;
    let port = config.effective_port();
    let tls = config
        .security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some();
    let files = MasterFiles {
        instance_name: m.name.clone(),
        deployment: deployment.to_string(),
        image: m.master_image.clone().unwrap_or_default(),
        port,
        tls,
        public_ip: m.public_ip,
        config_path: m.config_path.clone(),
        config,
    };
    let mut props = Map::new();
    props.insert(
        "instance_type".into(),
        Value::String(m.instance_type.clone().unwrap_or_default()),
    );
    props.insert(
        "image_id".into(),
        Value::String(m.image_id.clone().unwrap_or_default()),
    );
    if let Some(k) = &m.key_name {
        props.insert("key_name".into(), Value::String(k.clone()));
    }
    if let Some(s) = &m.subnet_id {
        props.insert("subnet_id".into(), Value::String(s.clone()));
    }
    props.insert(
        "security_group_ids".into(),
        Value::Array(
            m.security_groups
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        ),
    );
    if let Some(p) = &m.profile {
        props.insert(
            "iam_instance_profile".into(),
            Value::String(refs::reference(&format!("{p}.arn"))),
        );
    }
    props.insert(
        "associate_public_ip_address".into(),
        Value::Bool(m.public_ip),
    );
    props.insert(
        "root_volume".into(),
        serde_json::json!({
            "device_name": "/dev/sda1",
            "size_gb": m.disk_gb,
            "volume_type": "gp3",
            "encrypted": true,
        }),
    );
    props.insert(
        "metadata_options".into(),
        serde_json::json!({
            "http_tokens": if m.imdsv2 { "required" } else { "optional" },
            "http_put_response_hop_limit": m.hop_limit,
        }),
    );
    props.insert("master_image".into(), Value::String(files.image.clone()));
    props.insert("master_port".into(), Value::from(port));
    let d = &mut st.decls[m.decl];
    d.props = props;
    d.pending = false;
    Some(files)
}
