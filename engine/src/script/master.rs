//! `master_config()`, `s3_checkpoints(bucket)`, `aws_pool(name)` and `master_instance(name)`:
//! Determined's master.yaml and the master EC2 node that runs it.

use std::collections::HashMap;

use rhai::{Dynamic, Engine, INT, NativeCallContext};
use serde_json::{Map, Value, json};

use super::handles::Bucket;
use super::handles::Database;
use super::handles::SecurityGroup;
use super::handles::{CheckpointStorage, MasterInstance};
use super::handles::{IamRole, InstanceProfile};
use super::{RhaiResult, Shared, State, fail, method, pos_of, values};
use crate::config::{PASS_THROUGH_KEYS, TYPED_KEYS};
use crate::diag::SourcePos;
use crate::kinds::Ec2InstanceSpec;
use crate::plan::Kind;
use crate::refs;
use crate::value::{Ref, Tmpl};

/// `checkpoint_storage` as built by `s3_checkpoints(bucket)`.

#[derive(Debug, Clone)]
pub(crate) struct ConfigHandle {
    pub idx: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub idx: usize,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigDecl {
    pub json: Map<String, Value>,
    pub pos: SourcePos,
    /// Where each top-level key was set.
    pub field_pos: HashMap<String, SourcePos>,
    /// Pools attached with `.resource_pool(..)`, in order.
    pub pools: Vec<usize>,
    /// `.db(database)`, filled from the database at the end.
    pub db: Option<usize>,
    pub used: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PoolDecl {
    pub name: String,
    /// Pool-level keys; the provider is in `provider`.
    pub json: Map<String, Value>,
    pub provider: Map<String, Value>,
    pub pos: SourcePos,
    /// Where each field was set, by its master.yaml key (`max_instances`, `subnet_id`, ...).
    pub field_pos: HashMap<String, SourcePos>,
    pub attached_to: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MasterDecl {
    pub name: String,
    pub decl: usize,
    /// The instance as the script sets it (an empty instance type or image id: not set);
    /// the end adds the master's image and port, and the user-data.
    pub instance: Ec2InstanceSpec,
    pub master_image: Option<String>,
    pub config: Option<usize>,
    /// The Elastic IP declared by `.elastic_ip(true)`.
    pub elastic_ip: Option<String>,
    pub config_path: String,
    /// The log group (plan id) the master's container writes to.
    pub log_group: Option<String>,
    pub pos: SourcePos,
    pub field_pos: HashMap<String, SourcePos>,
}

impl MasterDecl {
    /// The instance profile (plan id).
    pub fn profile(&self) -> Option<&str> {
        let arn = self.instance.iam_instance_profile.as_ref()?;
        arn.as_ref().map(|r| r.resource.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Str,
    Int,
    Bool,
}

/// Provider fields with a setter of the same name: (method, type); the key under `provider`
/// is the method's name, or its path in [`PROVIDER_PATHS`].
#[rustfmt::skip]
const PROVIDER_FIELDS: &[(&str, Field)] = &[
    ("iam_instance_profile_arn", Field::Str),
    ("image_id", Field::Str),
    ("agent_docker_image", Field::Str),
    ("agent_docker_network", Field::Str),
    ("agent_docker_runtime", Field::Str),
    ("agent_reconnect_attempts", Field::Int),
    ("agent_reconnect_backoff", Field::Int),
    ("instance_name", Field::Str),
    ("instance_type", Field::Str),
    ("instance_slots", Field::Int),
    ("cpu_slots_allowed", Field::Bool),
    ("master_url", Field::Str),
    ("master_cert_name", Field::Str),
    ("max_idle_agent_period", Field::Str),
    ("max_agent_starting_period", Field::Str),
    ("min_instances", Field::Int),
    ("max_instances", Field::Int),
    ("launch_error_timeout", Field::Str),
    ("launch_error_retries", Field::Int),
    ("public_ip", Field::Bool),
    ("subnet_id", Field::Str),
    ("region", Field::Str),
    ("root_volume_size", Field::Int),
    ("spot", Field::Bool),
    ("spot_max_price", Field::Str),
    ("ssh_key_name", Field::Str),
    ("startup_script", Field::Str),
    ("container_startup_script", Field::Str),
    ("log_group", Field::Str),
    ("log_stream", Field::Str),
];

/// Provider fields that sit deeper than `provider.<method>`.
const PROVIDER_PATHS: &[(&str, &str)] = &[
    ("public_ip", "network_interface.public_ip"),
    ("subnet_id", "network_interface.subnet_id"),
];

/// Pool-level fields (outside `provider`).
const POOL_FIELDS: &[(&str, Field)] = &[
    ("description", Field::Str),
    ("max_aux_containers_per_agent", Field::Int),
];

fn field_value(
    ctx: &NativeCallContext,
    who: &str,
    method: &str,
    kind: Field,
    v: &Dynamic,
) -> RhaiResult<Value> {
    let ok = match kind {
        // A pool's log group: a name, or a log_group(...) of the script (its name).
        Field::Str if method == "log_group" => values::as_string(v)
            .or_else(|| {
                let g = v.read_lock::<crate::kinds::log_group::LogGroup>()?;
                Some(refs::attr(&g.id, "name"))
            })
            .map(Value::String),
        Field::Str => values::as_string(v).map(Value::String),
        Field::Int => values::as_int(v).map(Value::from),
        Field::Bool => v.as_bool().ok().map(Value::Bool),
    };
    ok.map_or_else(
        || {
            let expected = match kind {
                Field::Str => "a string",
                Field::Int => "an integer",
                Field::Bool => "true or false",
            };
            fail(
                ctx,
                format!(
                    "{who}: .{method}() expects {expected}, got {}",
                    values::describe(v)
                ),
            )
        },
        Ok,
    )
}

fn set_path(map: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let inner = map.entry(head).or_insert_with(|| Value::Object(Map::new()));
            if !inner.is_object() {
                *inner = Value::Object(Map::new());
            }
            set_path(inner.as_object_mut().expect("object"), rest, v);
        }
        None => {
            map.insert(path.to_string(), v);
        }
    }
}

/// Sets a top-level master.yaml key from a script value; used by `.set` and the map form.
fn set_top_key(
    ctx: &NativeCallContext,
    st: &mut State,
    cfg: usize,
    key: &str,
    v: &Dynamic,
) -> RhaiResult<()> {
    let pos = pos_of(ctx, st);
    if !TYPED_KEYS.contains(&key) && !PASS_THROUGH_KEYS.contains(&key) {
        let all: Vec<&str> = TYPED_KEYS
            .iter()
            .chain(PASS_THROUGH_KEYS)
            .copied()
            .collect();
        return fail(
            ctx,
            crate::config::unknown_key_message("master_config", key, &all),
        );
    }
    if key == "db" {
        if let Some(db) = v.read_lock::<Database>() {
            st.configs[cfg].db = Some(db.idx);
            st.configs[cfg].field_pos.insert("db".into(), pos);
            return Ok(());
        }
    }
    if key == "resource_pools" {
        if let Some(arr) = v.read_lock::<rhai::Array>() {
            let mut plain = Vec::new();
            for item in arr.iter() {
                if let Some(p) = item.read_lock::<Pool>() {
                    attach_pool(ctx, st, cfg, p.idx)?;
                } else {
                    plain.push(
                        values::to_json(item).or_else(|m| {
                            fail(ctx, format!("master_config: resource_pools: {m}"))
                        })?,
                    );
                }
            }
            if !plain.is_empty() {
                st.configs[cfg]
                    .json
                    .insert("resource_pools".into(), Value::Array(plain));
            }
            st.configs[cfg]
                .field_pos
                .insert("resource_pools".into(), pos);
            return Ok(());
        }
    }
    let value = values::to_json(v).or_else(|m| fail(ctx, format!("master_config: {key}: {m}")))?;
    st.configs[cfg].json.insert(key.to_string(), value);
    st.configs[cfg].field_pos.insert(key.to_string(), pos);
    Ok(())
}

fn attach_pool(ctx: &NativeCallContext, st: &mut State, cfg: usize, pool: usize) -> RhaiResult<()> {
    if let Some(other) = st.pools[pool].attached_to {
        if other != cfg || st.configs[cfg].pools.contains(&pool) {
            return fail(
                ctx,
                format!(
                    "aws_pool '{}' is already added to a master_config",
                    st.pools[pool].name
                ),
            );
        }
    }
    st.pools[pool].attached_to = Some(cfg);
    st.configs[cfg].pools.push(pool);
    Ok(())
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<CheckpointStorage>("CheckpointStorage");
    engine.register_type_with_name::<ConfigHandle>("MasterConfig");
    engine.register_type_with_name::<Pool>("AwsPool");
    engine.register_type_with_name::<MasterInstance>("MasterInstance");
    engine.register_fn("to_string", |p: &mut Pool| format!("aws_pool {}", p.name));
    super::pools::register(engine, state);
    engine.register_fn("to_string", |m: &mut MasterInstance| m.id.clone());

    // checkpoint storage
    engine.register_fn("s3_checkpoints", |ctx: NativeCallContext, bucket: Dynamic| -> RhaiResult<CheckpointStorage> {
        let name = if let Some(b) = bucket.read_lock::<Bucket>() {
            refs::attr(&b.id, "name")
        } else if let Some(s) = values::as_string(&bucket) {
            s
        } else {
            return fail(&ctx, format!("s3_checkpoints() expects an s3_bucket(...) handle or a bucket name, got {}", values::describe(&bucket)));
        };
        Ok(CheckpointStorage(json!({ "type": "s3", "bucket": name })))
    });
    engine.register_fn(
        "prefix",
        |ctx: NativeCallContext,
         s: &mut CheckpointStorage,
         prefix: &str|
         -> RhaiResult<CheckpointStorage> {
            if prefix.split('/').any(|seg| seg == "..") {
                return fail(
                    &ctx,
                    format!("checkpoint prefix must not contain \"..\" segments, got {prefix:?}"),
                );
            }
            s.0["prefix"] = Value::String(prefix.to_string());
            Ok(s.clone())
        },
    );

    // master_config() and master_config(#{ ... })
    let s = state.clone();
    let new_config = move |ctx: &NativeCallContext| -> ConfigHandle {
        let mut st = s.borrow_mut();
        let pos = pos_of(ctx, &st);
        st.configs.push(ConfigDecl {
            pos,
            ..Default::default()
        });
        ConfigHandle {
            idx: st.configs.len() - 1,
        }
    };
    let nc = new_config.clone();
    engine.register_fn("master_config", move |ctx: NativeCallContext| nc(&ctx));
    let s = state.clone();
    engine.register_fn(
        "master_config",
        move |ctx: NativeCallContext, map: rhai::Map| -> RhaiResult<ConfigHandle> {
            let h = new_config(&ctx);
            let mut st = s.borrow_mut();
            let mut keys: Vec<_> = map.keys().cloned().collect();
            keys.sort();
            for k in keys {
                set_top_key(&ctx, &mut st, h.idx, k.as_str(), &map[&k])?;
            }
            Ok(h)
        },
    );

    method(
        engine,
        state,
        "checkpoint_storage",
        |ctx, st, c: &ConfigHandle, v| set_top_key(ctx, st, c.idx, "checkpoint_storage", v),
    );
    method(engine, state, "db", |ctx, st, c: &ConfigHandle, v| {
        if !v.is::<Database>() && !v.is_map() {
            return fail(
                ctx,
                format!(
                    "master_config: .db() expects a database(...) handle or a map, got {}",
                    values::describe(v)
                ),
            );
        }
        set_top_key(ctx, st, c.idx, "db", v)
    });
    method(
        engine,
        state,
        "resource_pool",
        |ctx, st, c: &ConfigHandle, p| {
            let Some(p) = p.read_lock::<Pool>().map(|p| p.clone()) else {
                return fail(
                    ctx,
                    format!(
                        "master_config: .resource_pool() expects an aws_pool(...) handle, got {}",
                        values::describe(p)
                    ),
                );
            };
            attach_pool(ctx, st, c.idx, p.idx)
        },
    );
    let s = state.clone();
    engine.register_fn(
        "port",
        move |ctx: NativeCallContext,
              c: &mut ConfigHandle,
              port: INT|
              -> RhaiResult<ConfigHandle> {
            if !(1..=65535).contains(&port) {
                return fail(
                    &ctx,
                    format!("master_config: port must be 1-65535, got {port}"),
                );
            }
            let mut st = s.borrow_mut();
            set_top_key(&ctx, &mut st, c.idx, "port", &Dynamic::from(port))?;
            Ok(c.clone())
        },
    );
    let s = state.clone();
    engine.register_fn(
        "set",
        move |ctx: NativeCallContext,
              c: &mut ConfigHandle,
              key: &str,
              v: Dynamic|
              -> RhaiResult<ConfigHandle> {
            let mut st = s.borrow_mut();
            set_top_key(&ctx, &mut st, c.idx, key, &v)?;
            Ok(c.clone())
        },
    );

    // aws_pool(name)
    let s = state.clone();
    engine.register_fn(
        "aws_pool",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<Pool> {
            if name.is_empty() {
                return fail(&ctx, "aws_pool() needs a pool name");
            }
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            let mut json = Map::new();
            json.insert("pool_name".into(), Value::String(name.to_string()));
            let mut provider = Map::new();
            provider.insert("type".into(), Value::String("aws".into()));
            st.pools.push(PoolDecl {
                name: name.to_string(),
                json,
                provider,
                pos,
                ..Default::default()
            });
            Ok(Pool {
                idx: st.pools.len() - 1,
                name: name.to_string(),
            })
        },
    );
    // A pool field: the path in the provider map (or the pool's own key) and its value.
    let set_field = |ctx: &NativeCallContext,
                     st: &mut State,
                     p: &Pool,
                     path: &str,
                     provider: bool,
                     value: Value| {
        let pos = pos_of(ctx, st);
        let pool = &mut st.pools[p.idx];
        if provider {
            set_path(&mut pool.provider, path, value);
        } else {
            pool.json.insert(path.to_string(), value);
        }
        pool.field_pos
            .insert(path.rsplit('.').next().unwrap_or(path).to_string(), pos);
    };
    let path_of = |m: &'static str| {
        PROVIDER_PATHS
            .iter()
            .find(|(name, _)| *name == m)
            .map_or(m, |&(_, path)| path)
    };
    let pool_fields = PROVIDER_FIELDS
        .iter()
        .map(|&(m, kind)| (m, path_of(m), kind, true))
        .chain(POOL_FIELDS.iter().map(|&(m, kind)| (m, m, kind, false)));
    for (name, path, kind, provider) in pool_fields {
        method(engine, state, name, move |ctx, st, p: &Pool, v| {
            let who = format!("aws_pool '{}'", p.name);
            let value = field_value(ctx, &who, name, kind, v)?;
            set_field(ctx, st, p, path, provider, value);
            Ok(())
        });
    }
    method(
        engine,
        state,
        "iam_instance_profile",
        move |ctx, st, p: &Pool, v| {
            let who = format!("aws_pool '{}'", p.name);
            let arn = if let Some(prof) = v.read_lock::<InstanceProfile>() {
                refs::attr(&prof.id, "arn")
            } else if v.is::<IamRole>() {
                return fail(
                    ctx,
                    format!(
                        "{who}: iam_instance_profile needs an instance profile, not a role: pass instance_profile(role)"
                    ),
                );
            } else {
                return fail(
                    ctx,
                    format!(
                        "{who}: iam_instance_profile expects an instance_profile(...) handle, got {}",
                        values::describe(v)
                    ),
                );
            };
            set_field(
                ctx,
                st,
                p,
                "iam_instance_profile_arn",
                true,
                Value::String(arn),
            );
            Ok(())
        },
    );
    method(
        engine,
        state,
        "security_group",
        move |ctx, st, p: &Pool, v| {
            let id = if let Some(sg) = v.read_lock::<SecurityGroup>() {
                refs::attr(&sg.id, "id")
            } else if let Some(text) = values::as_string(v) {
                text
            } else {
                return fail(
                    ctx,
                    format!(
                        "aws_pool '{}': security_group expects a security_group(...) handle or an id, got {}",
                        p.name,
                        values::describe(v)
                    ),
                );
            };
            set_field(
                ctx,
                st,
                p,
                "network_interface.security_group_id",
                true,
                Value::String(id),
            );
            Ok(())
        },
    );
    let s = state.clone();
    engine.register_fn(
        "tag",
        move |ctx: NativeCallContext, p: &mut Pool, key: &str, value: &str| -> RhaiResult<Pool> {
            if key.is_empty() || value.is_empty() {
                return fail(
                    &ctx,
                    format!("aws_pool '{}': tag key and value must not be empty", p.name),
                );
            }
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            let pool = &mut st.pools[p.idx];
            pool.provider
                .insert("tag_key".into(), Value::String(key.to_string()));
            pool.provider
                .insert("tag_value".into(), Value::String(value.to_string()));
            pool.field_pos.insert("tag_key".into(), pos.clone());
            pool.field_pos.insert("tag_value".into(), pos);
            Ok(p.clone())
        },
    );
    let s = state.clone();
    engine.register_fn(
        "custom_tag",
        move |ctx: NativeCallContext, p: &mut Pool, key: &str, value: &str| -> RhaiResult<Pool> {
            super::deployment::check_tag(key, value)
                .or_else(|m| fail(&ctx, format!("aws_pool '{}': {m}", p.name)))?;
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            let pool = &mut st.pools[p.idx];
            let tags = pool
                .provider
                .entry("custom_tags")
                .or_insert_with(|| json!([]));
            if let Value::Array(a) = tags {
                a.push(json!({ "key": key, "value": value }));
            }
            pool.field_pos.insert("custom_tags".into(), pos);
            Ok(p.clone())
        },
    );

    // master_instance(name)
    let s = state.clone();
    engine.register_fn("master_instance", move |ctx: NativeCallContext, name: &str| -> RhaiResult<MasterInstance> {
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        if let Some(m) = st.masters.first() {
            return fail(&ctx, format!("master_instance '{}' is already declared at line {}; a deployment has one master", m.name, m.pos.line));
        }
        let i = st.declare(Kind::Ec2Instance, name, pos.clone()).or_else(|m| fail(&ctx, m))?;
        st.decls[i].pending = true;
        let id = st.decls[i].id.clone();
        st.masters.push(MasterDecl {
            name: name.to_string(),
            decl: i,
            instance: Ec2InstanceSpec {
                associate_public_ip_address: true,
                ..Default::default()
            },
            config_path: crate::userdata::HOST_CONFIG_PATH.to_string(),
            pos,
            ..Default::default()
        });
        Ok(MasterInstance { idx: st.masters.len() - 1, id })
    });
    type Setter = fn(&mut MasterDecl, &Dynamic) -> Result<(), String>;
    let setters: &[(&str, Setter)] = &[
        ("instance_type", |m, v| {
            let t = values::string_arg(v, "a string like \"m6i.xlarge\"")?;
            if !refs::has_refs(&t)
                && !t.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && t.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'
                        })
                })
            {
                return Err(format!(
                    "{t:?} is not an EC2 instance type like \"m6i.xlarge\""
                ));
            }
            m.instance.instance_type = Tmpl::from_marked(&t);
            Ok(())
        }),
        ("image_id", |m, v| {
            let t = values::string_arg(v, "an AMI id like \"ami-0123456789abcdef0\"")?;
            if !refs::has_refs(&t)
                && !t.strip_prefix("ami-").is_some_and(|h| {
                    (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())
                })
            {
                return Err(format!(
                    "{t:?} is not an AMI id like \"ami-0123456789abcdef0\""
                ));
            }
            m.instance.image_id = Tmpl::from_marked(&t);
            Ok(())
        }),
        ("disk_gb", |m, v| {
            m.instance.root_volume.size_gb = values::int_in(
                v,
                "an integer number of GB",
                8..=16384,
                "the root volume",
                " GB",
            )?;
            Ok(())
        }),
        ("key_name", |m, v| {
            let key = values::string_arg(v, "a key pair name")?;
            m.instance.key_name = Some(Tmpl::from_marked(&key));
            Ok(())
        }),
        ("subnet_id", |m, v| {
            let id = values::string_arg(v, "a subnet id")?;
            m.instance.subnet_id = Some(Tmpl::from_marked(&id));
            Ok(())
        }),
        ("master_image", |m, v| {
            let t = values::string_arg(
                v,
                "a Docker image like \"determinedai/determined-master:0.38.0\"",
            )?;
            crate::userdata::check_image(&t)?;
            m.master_image = Some(t);
            Ok(())
        }),
        ("public_ip", |m, v| {
            m.instance.associate_public_ip_address = values::bool_arg(v)?;
            Ok(())
        }),
        ("imdsv2", |m, v| {
            let required = values::bool_arg(v)?;
            m.instance.metadata_options.http_tokens =
                if required { "required" } else { "optional" }.into();
            Ok(())
        }),
        ("metadata_hop_limit", |m, v| {
            let hops = values::int_in(v, "an integer", 1..=64, "the hop limit", "")?;
            m.instance.metadata_options.http_put_response_hop_limit = hops;
            Ok(())
        }),
        ("config_path", |m, v| {
            let t = values::string_arg(v, "a file path")?;
            crate::userdata::check_config_path(&t)?;
            m.config_path = t;
            Ok(())
        }),
        ("security_group", |m, v| {
            let sg: SecurityGroup = values::handle_arg(v, "a security_group(...) handle")?;
            let r = Tmpl::reference(Ref::new(&sg.id, "id"));
            let groups = &mut m.instance.security_group_ids;
            if !groups.contains(&r) {
                groups.push(r);
            }
            Ok(())
        }),
        ("log_group", |m, v| {
            let g = v
                .read_lock::<crate::kinds::log_group::LogGroup>()
                .ok_or_else(|| {
                    format!(
                        "expects a log_group(...) handle, got {}",
                        values::describe(v)
                    )
                })?;
            m.log_group = Some(g.id.clone());
            Ok(())
        }),
        ("instance_profile", |m, v| {
            if v.is::<IamRole>() {
                return Err(
                    "needs an instance profile, not a role: pass instance_profile(role)".into(),
                );
            }
            let p: InstanceProfile = values::handle_arg(v, "an instance_profile(...) handle")?;
            m.instance.iam_instance_profile = Some(Tmpl::reference(Ref::new(&p.id, "arn")));
            Ok(())
        }),
    ];
    for &(name, setter) in setters {
        method(
            engine,
            state,
            name,
            move |ctx, st, m: &MasterInstance, v| {
                let pos = pos_of(ctx, st);
                let decl = &mut st.masters[m.idx];
                let who = decl.name.clone();
                setter(decl, v)
                    .or_else(|e| fail(ctx, format!("master_instance '{who}': .{name}() {e}")))?;
                decl.field_pos.insert(name.to_string(), pos);
                Ok(())
            },
        );
    }
    method(engine, state, "config", |ctx, st, m: &MasterInstance, c| {
        let c: ConfigHandle = values::handle_arg(c, "a master_config(...)")
            .or_else(|e| fail(ctx, format!(".config() {e}")))?;
        let pos = pos_of(ctx, st);
        st.configs[c.idx].used = true;
        let decl = &mut st.masters[m.idx];
        decl.config = Some(c.idx);
        decl.field_pos.insert("config".into(), pos);
        Ok(())
    });

    engine.register_get("public_ip", |m: &mut MasterInstance| {
        refs::attr(&m.id, "public_ip")
    });
    engine.register_get("private_ip", |m: &mut MasterInstance| {
        refs::attr(&m.id, "private_ip")
    });
    engine.register_get("id", |m: &mut MasterInstance| refs::attr(&m.id, "id"));
}
