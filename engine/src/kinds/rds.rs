//! `rds_cluster` (Aurora) and `rds_instance` (a standalone PostgreSQL, or an Aurora writer).

use serde::{Deserialize, Serialize};

use super::Outputs;
use crate::value::{Ref, Tmpl};

/// What a cluster and a standalone instance both hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbSettings {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine_version: Option<Tmpl>,
    pub database_name: Tmpl,
    pub master_username: Tmpl,
    /// Holds a secret.
    pub master_password: Tmpl,
    pub port: i64,
    pub storage_encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vpc_security_group_ids: Option<Vec<Tmpl>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdsClusterSpec {
    pub identifier: String,
    pub engine: String,
    pub publicly_accessible: bool,
    #[serde(flatten)]
    pub db: DbSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdsInstanceSpec {
    pub identifier: String,
    pub engine: String,
    pub instance_class: Tmpl,
    pub publicly_accessible: bool,
    /// The Aurora cluster this instance is the writer of.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cluster: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allocated_storage_gb: Option<i64>,
    /// Set for a standalone instance.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub db: Option<DbSettings>,
}

/// RDS identifiers: lowercase, `-` for `_`.
pub fn physical_name(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Why RDS would refuse an identifier.
pub fn check_identifier(name: &str) -> Result<(), String> {
    if name.len() > 63 || name.contains("--") {
        Err(format!(
            "database identifier {name:?} is invalid: RDS needs at most 63 characters and no \"--\""
        ))
    } else {
        Ok(())
    }
}

impl RdsClusterSpec {
    pub fn outputs(&self, id: &str, out: &mut Outputs) {
        out.insert(
            "database_endpoint".into(),
            Tmpl::reference(Ref::new(id, "endpoint")),
        );
    }
}

impl RdsInstanceSpec {
    pub fn outputs(&self, id: &str, out: &mut Outputs) {
        if self.cluster.is_none() {
            out.insert(
                "database_endpoint".into(),
                Tmpl::reference(Ref::new(id, "endpoint")),
            );
        }
    }
}
