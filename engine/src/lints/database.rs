//! The database: encryption (DS009), public access (DS010), the PostgreSQL version (DS011),
//! the SSL mode Determined connects with (DS012) and its password (DS013).

use super::{each, finding, pos_of};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::Spec;
use crate::kinds::rds::DbSettings;
use crate::plan::{Plan, Resource};
use crate::value::Part;

/// A database of the script: an Aurora cluster or a standalone instance (not a writer).
struct Database<'a> {
    r: &'a Resource,
    /// Its name in the script.
    name: &'a str,
    engine: &'a str,
    public: bool,
    db: &'a DbSettings,
    /// The major PostgreSQL version, if set.
    major: Option<u32>,
    /// The password's text, when the plan knows it (a literal or a secret's value).
    password: Option<&'a str>,
}

impl Database<'_> {
    fn pos(&self, field: &str) -> SourcePos {
        pos_of(self.r, field)
    }

    /// A finding about this database: `what` follows its name, `field` is where it was set.
    fn finding(
        &self,
        id: &str,
        what: std::fmt::Arguments,
        fix: impl Into<String>,
        field: &str,
    ) -> Diagnostic {
        finding(
            id,
            format!("database '{}'{what}", self.name),
            fix,
            &self.pos(field),
        )
    }

    fn setting(&self, key: &str) -> Option<&str> {
        self.r.origin.settings.get(key).map(String::as_str)
    }
}

/// The databases in the order the script declared them.
fn databases(plan: &Plan) -> Vec<Database<'_>> {
    let mut out: Vec<Database> =
        plan.resources
            .iter()
            .filter_map(|r| {
                let (engine, public, db) = match &r.spec {
                    Spec::RdsCluster(c) => (&c.engine, c.publicly_accessible, &c.db),
                    Spec::RdsInstance(i) => (&i.engine, i.publicly_accessible, i.db.as_ref()?),
                    _ => return None,
                };
                // A Secrets Manager secret's given value is its parameter's (a generated one
                // is letters and digits).
                let given = crate::kinds::secret::value_of(&db.master_password).and_then(|id| {
                    match plan.get(id).map(|x| &x.spec) {
                        Some(Spec::SecretsmanagerSecret(s)) => s.value.as_ref(),
                        _ => None,
                    }
                });
                let password = match given.unwrap_or(&db.master_password).parts() {
                    [Part::Secret(name)] => plan.secrets().get(name).map(|s| s.reveal()),
                    _ => db.master_password.as_text(),
                };
                Some(Database {
                    r,
                    name: r.id.split_once('.').map_or(r.id.as_str(), |(_, n)| n),
                    engine,
                    public,
                    db,
                    major: db
                        .engine_version
                        .as_ref()
                        .and_then(|v| v.as_text())
                        .and_then(|v| v.split('.').next())
                        .and_then(|m| m.parse().ok()),
                    password,
                })
            })
            .collect();
    out.sort_by_key(|d| d.r.origin.declared);
    out
}

/// DS009-DS013, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let rules: [fn(&Database) -> Option<Diagnostic>; 6] = [
        unencrypted,
        public,
        old_postgres,
        ssl_refused,
        ssl_without_root_cert,
        password_characters,
    ];
    each(&databases(plan), &rules)
}

/// DS009: storage not encrypted.
fn unencrypted(d: &Database) -> Option<Diagnostic> {
    (!d.db.storage_encrypted).then(|| {
        let fix = "remove .encrypted(false) (encrypted is the default)";
        d.finding(
            "DS009",
            format_args!(" stores data unencrypted"),
            fix,
            "encrypted",
        )
    })
}

/// DS010: publicly accessible.
fn public(d: &Database) -> Option<Diagnostic> {
    d.public.then(|| {
        let fix = "remove .publicly_accessible(true); only the master needs it";
        d.finding(
            "DS010",
            format_args!(" is publicly accessible"),
            fix,
            "publicly_accessible",
        )
    })
}

/// DS011: PostgreSQL older than 13.
fn old_postgres(d: &Database) -> Option<Diagnostic> {
    let major = d.major.filter(|m| *m < 13)?;
    Some(d.finding(
        "DS011",
        format_args!(
            " runs PostgreSQL {major}: Determined needs 13 or newer (RDS no longer creates 11 or 12)"
        ),
        "use .engine(\"postgres\", \"16.4\") or a current aurora-postgresql version",
        "engine",
    ))
}

/// DS012: RDS for PostgreSQL 15+ forces SSL, and the ssl_mode does not use it.
fn ssl_refused(d: &Database) -> Option<Diagnostic> {
    // Determined's own default, for a plan whose database has no SSL setting.
    let mode = d.setting("ssl_mode").unwrap_or("disable");
    let forces_ssl = d.engine == "postgres" && d.major.is_none_or(|m| m >= 15);
    if !(forces_ssl && matches!(mode, "disable" | "allow")) {
        return None;
    }
    Some(d.finding(
        "DS012",
        format_args!(
            ": RDS for PostgreSQL 15 and newer sets rds.force_ssl=1, so db.ssl_mode {mode:?} is refused (\"no pg_hba.conf entry ... no encryption\")"
        ),
        "add .ssl_mode(\"require\") to the database",
        "ssl_mode",
    ))
}

/// DS012: a verifying ssl_mode without the CA bundle.
fn ssl_without_root_cert(d: &Database) -> Option<Diagnostic> {
    let mode = d
        .setting("ssl_mode")
        .filter(|m| matches!(*m, "verify-ca" | "verify-full"))?;
    if d.setting("ssl_root_cert").is_some() {
        return None;
    }
    Some(d.finding(
        "DS012",
        format_args!(": ssl_mode {mode:?} needs the RDS CA bundle as ssl_root_cert"),
        format!(
            "add .ssl_root_cert({:?}): detscript's user-data downloads Amazon's CA bundle there",
            crate::config::RDS_CA_BUNDLE
        ),
        "ssl_mode",
    ))
}

/// DS013: password characters Determined puts unescaped into its connection URL. The
/// message names the characters, never the password.
fn password_characters(d: &Database) -> Option<Diagnostic> {
    let pw = d.password?;
    let bad: Vec<String> = ['@', ':', '/', '?', '#', '%']
        .into_iter()
        .filter(|c| pw.contains(*c))
        .map(|c| format!("'{c}'"))
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some(d.finding(
        "DS013",
        format_args!(
            ": the password contains {}, which Determined puts unescaped into its connection URL, so the master cannot connect",
            bad.join(", ")
        ),
        "choose a password without @ : / ? # %",
        "master_user",
    ))
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            ".allow_from(m);",
            ".allow_from(m).encrypted(false);",
            "DS009",
            12,
        ),
        trigger(
            ".allow_from(m);",
            ".allow_from(m).publicly_accessible(true);",
            "DS010",
            12,
        ),
        trigger(
            "engine(\"aurora-postgresql\", \"16.4\")",
            "engine(\"aurora-postgresql\", \"12.9\")",
            "DS011",
            12,
        ),
        trigger(
            "engine(\"aurora-postgresql\", \"16.4\")",
            "engine(\"postgres\", \"16.4\").ssl_mode(\"allow\")",
            "DS012",
            12,
        ),
        trigger(
            ".allow_from(m);",
            ".allow_from(m).ssl_mode(\"verify-full\");",
            "DS012",
            12,
        ),
        trigger("\"Clean-password-1\"", "\"Clean:password#1\"", "DS013", 12),
    ]
};
