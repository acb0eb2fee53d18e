//! `database(name)`: a PostgreSQL-compatible database, Aurora PostgreSQL (a cluster and its
//! writer instance) or RDS for PostgreSQL (one instance), with its own security group when
//! `.allow_from(sg)` is used.

use std::collections::BTreeMap;

use rhai::{Dynamic, Engine, INT, NativeCallContext};

use super::handles::Database;
use super::handles::SecurityGroup;
use super::security_group::Ports;
use super::{Decl, RhaiResult, Shared, check_name, fail, pos_of, values};
use crate::config::DbConfig;
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::Spec;
use crate::kinds::rds::{DbSettings, RdsClusterSpec, RdsInstanceSpec};
use crate::kinds::security_group_rule::{Direction, Peer};
use crate::plan::Kind;
use crate::refs;
use crate::value::{Ref, Tmpl};

pub(crate) const PG_PORT: i64 = 5432;

#[derive(Debug, Clone)]
pub(crate) struct DbDecl {
    pub name: String,
    /// Index of the placeholder declaration (`database.NAME`) in `State::decls`.
    pub decl: usize,
    pub engine: String,
    pub version: Option<String>,
    pub instance_class: Option<String>,
    pub storage_gb: i64,
    pub encrypted: bool,
    pub public: bool,
    /// How Determined connects (user, password, database name, SSL): the `db` section of
    /// master.yaml but its host and port, which the config that uses the database fills in.
    pub connection: DbConfig,
    pub pos: SourcePos,
    /// Where settings were made (`master_user`, `encrypted`, `engine`, ...), for findings.
    pub field_pos: std::collections::HashMap<String, SourcePos>,
    /// The security group made by `.allow_from`, if any.
    pub sg: Option<String>,
    /// The DB subnet group made by `.subnets([..])`, if any.
    pub subnet_group: Option<String>,
}

impl DbDecl {
    pub fn is_aurora(&self) -> bool {
        self.engine == "aurora-postgresql"
    }

    /// What the script left unset: the pinned engine version ([`crate::versions`]), the
    /// database name (`determined`) and the SSL settings Determined connects with
    /// ([`crate::config::default_db_ssl`]).
    pub fn fill_defaults(&mut self) {
        if self.version.is_none() {
            self.version = crate::versions::pinned_engine_version(&self.engine).map(str::to_string);
        }
        let c = &mut self.connection;
        c.name.get_or_insert_with(|| "determined".into());
        if c.ssl_mode.is_none() {
            let (mode, cert) = crate::config::default_db_ssl(&self.engine);
            c.ssl_mode = Some(mode.to_string());
            if c.ssl_root_cert.is_none() {
                c.ssl_root_cert = cert.map(str::to_string);
            }
        }
    }
}

/// Changes the database behind `db` and records where (`field`), for findings.
fn set_db(
    state: &Shared,
    ctx: &NativeCallContext,
    db: &Database,
    field: &str,
    f: impl FnOnce(&mut DbDecl),
) -> Database {
    let mut st = state.borrow_mut();
    let pos = pos_of(ctx, &st);
    let d = &mut st.databases[db.idx];
    f(d);
    d.field_pos.insert(field.to_string(), pos);
    db.clone()
}

fn check_identifier(what: &str, s: &str) -> Result<(), String> {
    super::ok_or(super::is_name(s, 63, &['_']), || {
        format!("{what} {s:?} must be 1-63 letters, digits or '_', starting with a letter")
    })
}

/// RDS master password rules. The message never contains the password.
pub(crate) fn check_password(pw: &str) -> Result<(), String> {
    if !(8..=128).contains(&pw.chars().count()) {
        return Err("the master password must be 8-128 characters long".into());
    }
    if let Some(c) = pw
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@'))
    {
        let what = if c == ' ' {
            "a space".to_string()
        } else if c.is_ascii_graphic() {
            format!("'{c}'")
        } else {
            "a non-printable or non-ASCII character".to_string()
        };
        return Err(format!(
            "the master password contains {what}; RDS accepts printable ASCII except '/', '\"', '@' and spaces"
        ));
    }
    Ok(())
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<Database>("Database");
    engine.register_fn("to_string", |d: &mut Database| {
        format!("database.{}", d.name)
    });

    let s = state.clone();
    engine.register_fn(
        "database",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<Database> {
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            // Checked like any resource name; the kind (cluster or instance) is decided
            // at the end by .engine(...), so the placeholder is `database.NAME` until then.
            check_name(Kind::RdsCluster, name).or_else(|m| fail(&ctx, m))?;
            let decl = match st.push_decl(format!("database.{name}"), Kind::RdsCluster, pos.clone())
            {
                Ok(i) => i,
                Err(i) => {
                    let line = st.decls[i].pos.line;
                    return fail(
                        &ctx,
                        format!("database {name:?} is already declared at line {line}"),
                    );
                }
            };
            st.decls[decl].pending = true;
            let idx = st.databases.len();
            st.databases.push(DbDecl {
                name: name.to_string(),
                decl,
                engine: "aurora-postgresql".into(),
                version: None,
                instance_class: None,
                storage_gb: 20,
                encrypted: true,
                public: false,
                connection: DbConfig::default(),
                pos,
                field_pos: Default::default(),
                sg: None,
                subnet_group: None,
            });
            Ok(Database {
                idx,
                name: name.to_string(),
            })
        },
    );

    for with_version in [false, true] {
        let s = state.clone();
        let set_engine = move |ctx: &NativeCallContext,
                               db: &Database,
                               engine: &str,
                               version: Option<&str>|
              -> RhaiResult<Database> {
            if engine != "aurora-postgresql" && engine != "postgres" {
                return fail(
                    ctx,
                    format!(
                        "database '{}': engine must be \"aurora-postgresql\" or \"postgres\" (Determined needs PostgreSQL), got {engine:?}",
                        db.name
                    ),
                );
            }
            if let Some(v) = version {
                if !v
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                {
                    return fail(
                        ctx,
                        format!(
                            "database '{}': engine version must look like \"16.4\", got {v:?}",
                            db.name
                        ),
                    );
                }
            }
            Ok(set_db(&s, ctx, db, "engine", |d| {
                d.engine = engine.to_string();
                d.version = version.map(str::to_string);
            }))
        };
        if with_version {
            engine.register_fn(
                "engine",
                move |ctx: NativeCallContext, db: &mut Database, e: &str, v: &str| {
                    set_engine(&ctx, db, e, Some(v))
                },
            );
        } else {
            engine.register_fn(
                "engine",
                move |ctx: NativeCallContext, db: &mut Database, e: &str| {
                    set_engine(&ctx, db, e, None)
                },
            );
        }
    }

    let s = state.clone();
    engine.register_fn("instance_class", move |ctx: NativeCallContext, db: &mut Database, class: &str| -> RhaiResult<Database> {
        if !class.starts_with("db.") && !refs::has_refs(class) {
            return fail(&ctx, format!("database '{}': instance class must look like \"db.r6g.large\", got {class:?}", db.name));
        }
        s.borrow_mut().databases[db.idx].instance_class = Some(class.to_string());
        Ok(db.clone())
    });

    let s = state.clone();
    engine.register_fn("master_user", move |ctx: NativeCallContext, db: &mut Database, user: &str, password: &str| -> RhaiResult<Database> {
        let who = format!("database '{}'", db.name);
        if !refs::has_refs(user) {
            check_identifier("master user", user).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        }
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        // Validate the real value of a secret without ever showing it.
        let real = match refs::whole_ref(password) {
            Some(path) => path.strip_prefix("secret.").and_then(|n| st.params.secrets.get(n)).map(|v| v.reveal().to_string()),
            None if refs::has_refs(password) => None,
            None => {
                st.warnings.push(Diagnostic::warning(
                    format!("{who}: the password is written in the script; declare a parameter with secret: true and pass it at run time"),
                    &pos,
                ));
                Some(password.to_string())
            }
        };
        if let Some(real) = real {
            check_password(&real).or_else(|m| fail(&ctx, format!("{who}: {m}")))?;
        }
        let d = &mut st.databases[db.idx];
        d.field_pos.insert("master_user".into(), pos);
        d.connection.user = Some(user.to_string());
        d.connection.password = Some(password.to_string());
        Ok(db.clone())
    });

    let s = state.clone();
    engine.register_fn(
        "database_name",
        move |ctx: NativeCallContext, db: &mut Database, name: &str| -> RhaiResult<Database> {
            check_identifier("database name", name)
                .or_else(|m| fail(&ctx, format!("database '{}': {m}", db.name)))?;
            s.borrow_mut().databases[db.idx].connection.name = Some(name.to_string());
            Ok(db.clone())
        },
    );

    let s = state.clone();
    engine.register_fn(
        "storage_gb",
        move |ctx: NativeCallContext, db: &mut Database, gb: INT| -> RhaiResult<Database> {
            if !(20..=65536).contains(&gb) {
                return fail(
                    &ctx,
                    format!(
                        "database '{}': storage must be 20-65536 GB, got {gb}",
                        db.name
                    ),
                );
            }
            s.borrow_mut().databases[db.idx].storage_gb = gb;
            Ok(db.clone())
        },
    );

    for (method, set) in [
        (
            "encrypted",
            (|d: &mut DbDecl, on: bool| d.encrypted = on) as fn(&mut DbDecl, bool),
        ),
        ("publicly_accessible", |d: &mut DbDecl, on: bool| {
            d.public = on
        }),
    ] {
        let s = state.clone();
        engine.register_fn(
            method,
            move |ctx: NativeCallContext, db: &mut Database, on: bool| -> Database {
                set_db(&s, &ctx, db, method, |d| set(d, on))
            },
        );
    }
    let s = state.clone();
    engine.register_fn(
        "ssl_mode",
        move |ctx: NativeCallContext, db: &mut Database, mode: &str| -> RhaiResult<Database> {
            const MODES: &[&str] = crate::config::SSL_MODES;
            if !MODES.contains(&mode) {
                return fail(
                    &ctx,
                    format!(
                        "database '{}': ssl_mode must be one of {}, got {mode:?}",
                        db.name,
                        MODES.join(", ")
                    ),
                );
            }
            Ok(set_db(&s, &ctx, db, "ssl_mode", |d| {
                d.connection.ssl_mode = Some(mode.to_string())
            }))
        },
    );
    let s = state.clone();
    engine.register_fn(
        "ssl_root_cert",
        move |ctx: NativeCallContext, db: &mut Database, path: &str| -> RhaiResult<Database> {
            Ok(set_db(&s, &ctx, db, "ssl_root_cert", |d| {
                d.connection.ssl_root_cert = Some(path.to_string())
            }))
        },
    );

    let s = state.clone();
    engine.register_fn(
        "allow_from",
        move |ctx: NativeCallContext, db: &mut Database, from: Dynamic| -> RhaiResult<Database> {
            let Some(from) = from.read_lock::<SecurityGroup>().map(|g| g.clone()) else {
                return fail(
                    &ctx,
                    format!(
                        "database '{}': allow_from expects a security_group(...) handle, got {}",
                        db.name,
                        values::describe(&from)
                    ),
                );
            };
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            let sg_name = format!("{}-sg", db.name);
            let sg_id = match st.databases[db.idx].sg.clone() {
                Some(id) => id,
                None => {
                    let i = st
                        .declare(Kind::SecurityGroup, &sg_name, pos.clone())
                        .or_else(|m| fail(&ctx, m))?;
                    st.decls[i].set_spec(super::security_group::group_spec(&format!(
                        "Database {} (detscript)",
                        db.name
                    )));
                    let id = st.decls[i].id.clone();
                    st.databases[db.idx].sg = Some(id.clone());
                    id
                }
            };
            let rule = format!("{sg_name}-ingress-tcp-{PG_PORT}-from-{}", from.name);
            let i = st
                .declare_rule(&rule, pos)
                .map_err(|line| {
                    format!(
                        "database '{}' already allows {} (line {line})",
                        db.name, from.name
                    )
                })
                .or_else(|m| fail(&ctx, m))?;
            st.decls[i].set_spec(super::security_group::rule_spec(
                &sg_id,
                Direction::Ingress,
                Ports {
                    protocol: "tcp",
                    from: PG_PORT,
                    to: PG_PORT,
                },
                Peer::Group(Ref::new(&from.id, "id")),
                None,
            ));
            Ok(db.clone())
        },
    );

    engine.register_get("endpoint", |db: &mut Database| {
        refs::attr(&format!("database.{}", db.name), "endpoint")
    });
    engine.register_get("port", |_db: &mut Database| PG_PORT);
}

/// The database's resources, replacing its placeholder; returns alias → real id.
pub(crate) fn materialize(
    db: &DbDecl,
    decls: &mut Vec<Decl>,
    errors: &mut Vec<Diagnostic>,
) -> (String, String) {
    let who = format!("database '{}'", db.name);
    let c = &db.connection;
    if c.user.is_none() {
        errors.push(Diagnostic::error(
            format!("{who} has no master user: call .master_user(\"postgres\", p.db_password)"),
            &db.pos,
        ));
    }
    let text = |t: &Option<String>| Tmpl::from_marked(t.as_deref().unwrap_or_default());
    let settings = DbSettings {
        engine_version: db.version.as_deref().map(Tmpl::from_marked),
        database_name: text(&c.name),
        master_username: text(&c.user),
        master_password: text(&c.password),
        port: PG_PORT,
        storage_encrypted: db.encrypted,
        vpc_security_group_ids: db
            .sg
            .as_ref()
            .map(|sg| vec![Tmpl::reference(Ref::new(sg, "id"))]),
        db_subnet_group_name: db
            .subnet_group
            .as_ref()
            .map(|g| Tmpl::reference(Ref::new(g, "name"))),
    };
    let class = Tmpl::from_marked(db.instance_class.as_deref().unwrap_or("db.t4g.medium"));
    let alias = format!("database.{}", db.name);
    let placeholder = &mut decls[db.decl];
    placeholder.pending = false;
    // The identifier is the physical name, filled in when resources are named.
    if db.is_aurora() {
        placeholder.kind = Kind::RdsCluster;
        placeholder.id = format!("rds_cluster.{}", db.name);
        placeholder.set_spec(RdsClusterSpec {
            identifier: String::new(),
            engine: db.engine.clone(),
            publicly_accessible: db.public,
            db: settings,
        });
        let cluster_id = placeholder.id.clone();
        let pos = placeholder.pos.clone();
        let writer = Spec::from(RdsInstanceSpec {
            identifier: String::new(),
            engine: db.engine.clone(),
            instance_class: class,
            publicly_accessible: db.public,
            cluster: Some(Ref::new(&cluster_id, "id")),
            allocated_storage_gb: None,
            db: None,
        });
        decls.push(Decl {
            id: format!("rds_instance.{}-writer", db.name),
            kind: Kind::RdsInstance,
            spec: Some(writer),
            tags: BTreeMap::new(),
            pos,
            pending: false,
            field_pos: std::collections::HashMap::new(),
        });
        (alias, cluster_id)
    } else {
        placeholder.kind = Kind::RdsInstance;
        placeholder.id = format!("rds_instance.{}", db.name);
        placeholder.set_spec(RdsInstanceSpec {
            identifier: String::new(),
            engine: db.engine.clone(),
            instance_class: class,
            publicly_accessible: db.public,
            cluster: None,
            allocated_storage_gb: Some(db.storage_gb),
            db: Some(settings),
        });
        (alias, placeholder.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn password_rules_never_echo_the_password() {
        assert!(check_password("short").is_err());
        let e = check_password("has@sign-long-enough").unwrap_err();
        assert!(e.contains("'@'") && !e.contains("has@sign"));
        assert!(check_password("Correct-Horse-9").is_ok());
    }
}
