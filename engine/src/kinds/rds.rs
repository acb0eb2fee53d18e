//! `rds_cluster` (Aurora) and `rds_instance` (a standalone PostgreSQL, or an Aurora writer).

use serde::{Deserialize, Serialize};

use super::{KindSpec, NameError, Outputs};
use crate::value::{Ref, Tmpl};

/// What a cluster and a standalone instance both hold.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbSettings {
    pub engine_version: Option<Tmpl>,
    pub database_name: Tmpl,
    pub master_username: Tmpl,
    /// Holds a secret.
    pub master_password: Tmpl,
    pub port: i64,
    pub storage_encrypted: bool,
    pub vpc_security_group_ids: Option<Vec<Tmpl>>,
    /// The DB subnet group (None: the default VPC's default group).
    #[serde(default)]
    pub db_subnet_group_name: Option<Tmpl>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdsClusterSpec {
    pub identifier: String,
    pub engine: String,
    pub publicly_accessible: bool,
    #[serde(flatten)]
    pub db: DbSettings,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdsInstanceSpec {
    pub identifier: String,
    pub engine: String,
    pub instance_class: Tmpl,
    pub publicly_accessible: bool,
    /// The Aurora cluster this instance is the writer of.
    pub cluster: Option<Ref>,
    pub allocated_storage_gb: Option<i64>,
    /// Set for a standalone instance.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub db: Option<DbSettings>,
}

/// RDS identifiers: lowercase, `-` for `_`.
fn identifier(deployment: &str, name: &str) -> String {
    format!("{deployment}-{name}")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Sets the identifier, unless RDS would refuse it.
fn assign_identifier(identifier: &mut String, name: String) -> Result<String, NameError> {
    if name.len() > 63 || name.contains("--") {
        return Err(NameError::new(format!(
            "database identifier {name:?} is invalid: RDS needs at most 63 characters and no \"--\""
        )));
    }
    identifier.clone_from(&name);
    Ok(name)
}

/// The database's endpoint output.
fn endpoint_output(id: &str, out: &mut Outputs) {
    out.insert(
        "database_endpoint".into(),
        Tmpl::reference(Ref::new(id, "endpoint")),
    );
}

// CloudFormation ------------------------------------------------------------------------------

use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;

impl DbSettings {
    /// Engine version, credentials, database name, port, backups, encryption and security
    /// groups, which a cluster and a standalone instance share under different names.
    fn cfn(&self, cx: &mut Cx, m: &mut Mapped, cluster: bool) -> Result<(), String> {
        if let Some(v) = &self.engine_version {
            m.set("EngineVersion", cx.tmpl(v)?);
        }
        m.set("MasterUsername", cx.tmpl(&self.master_username)?);
        m.set("MasterUserPassword", cx.db_password(&self.master_password)?);
        let name = cx.tmpl(&self.database_name)?;
        m.set(if cluster { "DatabaseName" } else { "DBName" }, name);
        // DBInstance's Port is a string in CloudFormation's schema; DBCluster's an integer.
        let port = self.port;
        m.set(
            "Port",
            if cluster {
                port.into()
            } else {
                port.to_string().into()
            },
        );
        // RDS's default (1 day), as `run` leaves it, written out (cfn-lint I3013).
        m.set("BackupRetentionPeriod", 1.into());
        m.set("StorageEncrypted", self.storage_encrypted.into());
        if let Some(sgs) = &self.vpc_security_group_ids {
            let key = if cluster {
                "VpcSecurityGroupIds"
            } else {
                "VPCSecurityGroups"
            };
            m.set(key, cx.tmpls(sgs)?);
        }
        if let Some(g) = &self.db_subnet_group_name {
            m.set("DBSubnetGroupName", cx.tmpl(g)?);
        }
        Ok(())
    }
}

impl KindSpec for RdsClusterSpec {
    const CFN_ATTRS: CfnAttrs = &[
        ("reader_endpoint", Some("ReadEndpoint.Address")),
        ("id", None),
        ("endpoint", Some("Endpoint.Address")),
        ("port", Some("Endpoint.Port")),
    ];

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        identifier(&scope.deployment, name)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        assign_identifier(&mut self.identifier, name)
    }

    fn outputs(&self, id: &str, _name: &str, out: &mut Outputs) {
        endpoint_output(id, out);
    }

    /// `AWS::RDS::DBCluster`, snapshotted when the stack deletes or replaces it.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::RDS::DBCluster").keep("Snapshot");
        m.set("DBClusterIdentifier", self.identifier.as_str().into());
        m.set("Engine", self.engine.as_str().into());
        self.db.cfn(cx, &mut m, true)?;
        // PubliclyAccessible belongs to the cluster's instances for Aurora.
        if self.publicly_accessible {
            return Err("a publicly accessible Aurora cluster is not supported".into());
        }
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

impl KindSpec for RdsInstanceSpec {
    /// A cluster's but the reader endpoint (its first).
    const CFN_ATTRS: CfnAttrs = RdsClusterSpec::CFN_ATTRS.split_at(1).1;

    fn physical_name(scope: &super::Scope, name: &str) -> String {
        identifier(&scope.deployment, name)
    }

    fn assign_name(&mut self, name: String) -> Result<String, NameError> {
        assign_identifier(&mut self.identifier, name)
    }

    fn outputs(&self, id: &str, _name: &str, out: &mut Outputs) {
        if self.cluster.is_none() {
            endpoint_output(id, out);
        }
    }

    /// `AWS::RDS::DBInstance`: an Aurora cluster's writer (its data is the cluster's, so it
    /// is deleted with the stack) or a standalone database (snapshotted).
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::RDS::DBInstance");
        m.set("DBInstanceIdentifier", self.identifier.as_str().into());
        m.set("DBInstanceClass", cx.tmpl(&self.instance_class)?);
        m.set("Engine", self.engine.as_str().into());
        if let Some(c) = &self.cluster {
            m.set("DBClusterIdentifier", cx.reference(c)?);
            m = m.keep("Delete");
        } else {
            let db = self
                .db
                .as_ref()
                .ok_or("a database outside a cluster needs its engine settings and credentials")?;
            db.cfn(cx, &mut m, false)?;
            if let Some(gb) = self.allocated_storage_gb {
                m.set("AllocatedStorage", gb.to_string().into());
            }
            m = m.keep("Snapshot");
        }
        m.set("PubliclyAccessible", self.publicly_accessible.into());
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}
