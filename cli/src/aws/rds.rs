//! The database: an Aurora cluster with its writer instance, or a single RDS instance.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_rds::types::Tag;
use detscript_engine::Resource;
use serde_json::Value;

use super::discover::Live;
use super::{Ctx, aws_err, bool_prop, code_of, int_prop, str_list, str_prop, wait_for};

fn rds_tags(ctx: &Ctx, id: &str) -> Vec<Tag> {
    ctx.owner_tags(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn ident<'a>(r: &'a Resource, props: &'a Value) -> &'a str {
    str_prop(props, "identifier").unwrap_or(&r.name)
}

pub async fn create_cluster(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
) -> Result<BTreeMap<String, String>> {
    let id = ident(r, props).to_string();
    let out = ctx
        .clients
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine(str_prop(props, "engine").unwrap_or("aurora-postgresql"))
        .set_engine_version(str_prop(props, "engine_version").map(str::to_string))
        .master_username(str_prop(props, "master_username").unwrap_or("postgres"))
        .set_master_user_password(str_prop(props, "master_password").map(str::to_string))
        .set_database_name(str_prop(props, "database_name").map(str::to_string))
        .set_port(int_prop(props, "port").map(|p| p as i32))
        .storage_encrypted(bool_prop(props, "storage_encrypted"))
        .set_vpc_security_group_ids(Some(str_list(props, "vpc_security_group_ids")))
        .set_tags(Some(rds_tags(ctx, &r.id)))
        .send()
        .await;
    match out {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("DBClusterAlreadyExistsFault") => {}
        Err(e) => return Err(aws_err("CreateDBCluster", &id, e)),
    }
    ctx.ui
        .resource(&r.id, "waiting", None, "for status available");
    wait_cluster(ctx, &id).await
}

async fn wait_cluster(ctx: &Ctx, id: &str) -> Result<BTreeMap<String, String>> {
    let rds = ctx.clients.rds.clone();
    wait_for(
        &format!("RDS cluster {id} to become available"),
        ctx.waits.rds,
        || {
            let rds = rds.clone();
            let id = id.to_string();
            async move {
                let out = rds
                    .describe_db_clusters()
                    .db_cluster_identifier(&id)
                    .send()
                    .await
                    .map_err(|e| aws_err("DescribeDBClusters", &id, e))?;
                let Some(c) = out.db_clusters().first() else {
                    return Ok(None);
                };
                if c.status() != Some("available") {
                    return Ok(None);
                }
                let mut a = BTreeMap::new();
                a.insert("id".to_string(), id.clone());
                a.insert("name".to_string(), id.clone());
                if let Some(e) = c.endpoint() {
                    a.insert("endpoint".to_string(), e.to_string());
                }
                if let Some(p) = c.port() {
                    a.insert("port".to_string(), p.to_string());
                }
                if let Some(arn) = c.db_cluster_arn() {
                    a.insert("arn".to_string(), arn.to_string());
                }
                Ok(Some(a))
            }
        },
    )
    .await
}

pub async fn create_instance(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
) -> Result<BTreeMap<String, String>> {
    let id = ident(r, props).to_string();
    let mut req = ctx
        .clients
        .rds
        .create_db_instance()
        .db_instance_identifier(&id)
        .db_instance_class(str_prop(props, "instance_class").unwrap_or("db.t4g.medium"))
        .engine(str_prop(props, "engine").unwrap_or("postgres"))
        .publicly_accessible(bool_prop(props, "publicly_accessible"))
        .set_tags(Some(rds_tags(ctx, &r.id)));
    if let Some(cluster) = str_prop(props, "cluster") {
        req = req.db_cluster_identifier(cluster);
    } else {
        req = req
            .set_engine_version(str_prop(props, "engine_version").map(str::to_string))
            .master_username(str_prop(props, "master_username").unwrap_or("postgres"))
            .set_master_user_password(str_prop(props, "master_password").map(str::to_string))
            .set_db_name(str_prop(props, "database_name").map(str::to_string))
            .set_port(int_prop(props, "port").map(|p| p as i32))
            .storage_encrypted(bool_prop(props, "storage_encrypted"))
            .set_allocated_storage(int_prop(props, "allocated_storage_gb").map(|p| p as i32))
            .set_vpc_security_group_ids(Some(str_list(props, "vpc_security_group_ids")));
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("DBInstanceAlreadyExists") => {}
        Err(e) => return Err(aws_err("CreateDBInstance", &id, e)),
    }
    ctx.ui
        .resource(&r.id, "waiting", None, "for status available");
    wait_instance(ctx, &id).await
}

async fn wait_instance(ctx: &Ctx, id: &str) -> Result<BTreeMap<String, String>> {
    let rds = ctx.clients.rds.clone();
    wait_for(
        &format!("RDS instance {id} to become available"),
        ctx.waits.rds,
        || {
            let rds = rds.clone();
            let id = id.to_string();
            async move {
                let out = rds
                    .describe_db_instances()
                    .db_instance_identifier(&id)
                    .send()
                    .await
                    .map_err(|e| aws_err("DescribeDBInstances", &id, e))?;
                let Some(i) = out.db_instances().first() else {
                    return Ok(None);
                };
                if i.db_instance_status() != Some("available") {
                    return Ok(None);
                }
                let mut a = BTreeMap::new();
                a.insert("id".to_string(), id.clone());
                a.insert("name".to_string(), id.clone());
                if let Some(e) = i.endpoint().and_then(|e| e.address()) {
                    a.insert("endpoint".to_string(), e.to_string());
                }
                if let Some(arn) = i.db_instance_arn() {
                    a.insert("arn".to_string(), arn.to_string());
                }
                Ok(Some(a))
            }
        },
    )
    .await
}

pub async fn update_cluster(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
    live: &Live,
) -> Result<BTreeMap<String, String>> {
    let id = live.name.clone();
    ctx.clients
        .rds
        .modify_db_cluster()
        .db_cluster_identifier(&id)
        .set_vpc_security_group_ids(Some(str_list(props, "vpc_security_group_ids")))
        .set_engine_version(str_prop(props, "engine_version").map(str::to_string))
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| aws_err("ModifyDBCluster", &id, e))?;
    let _ = r;
    wait_cluster(ctx, &id).await
}

pub async fn update_instance(
    ctx: &Ctx,
    props: &Value,
    live: &Live,
) -> Result<BTreeMap<String, String>> {
    let id = live.name.clone();
    let mut req = ctx
        .clients
        .rds
        .modify_db_instance()
        .db_instance_identifier(&id)
        .set_db_instance_class(str_prop(props, "instance_class").map(str::to_string))
        .apply_immediately(true);
    if str_prop(props, "cluster").is_none() {
        req = req.set_vpc_security_group_ids(Some(str_list(props, "vpc_security_group_ids")));
    }
    req.send()
        .await
        .map_err(|e| aws_err("ModifyDBInstance", &id, e))?;
    wait_instance(ctx, &id).await
}

fn stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Deletes a DB instance and waits until it is gone. Returns a note (snapshot name).
pub async fn delete_instance(
    ctx: &Ctx,
    id: &str,
    in_cluster: bool,
    skip_snapshot: bool,
) -> Result<String> {
    let rds = &ctx.clients.rds;
    let snap = format!("{id}-final-{}", stamp());
    let mut req = rds.delete_db_instance().db_instance_identifier(id);
    let mut note = String::new();
    if in_cluster || skip_snapshot {
        req = req.skip_final_snapshot(true);
    } else {
        req = req
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(&snap);
        note = format!("final snapshot {snap}");
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("DBInstanceNotFound") => return Ok("already gone".into()),
        Err(e) => return Err(aws_err("DeleteDBInstance", id, e)),
    }
    let rds = rds.clone();
    wait_for(
        &format!("RDS instance {id} to be deleted"),
        ctx.waits.rds,
        || {
            let rds = rds.clone();
            let id = id.to_string();
            async move {
                match rds
                    .describe_db_instances()
                    .db_instance_identifier(&id)
                    .send()
                    .await
                {
                    Ok(o) if o.db_instances().is_empty() => Ok(Some(())),
                    Ok(_) => Ok(None),
                    Err(e) if code_of(&e) == Some("DBInstanceNotFound") => Ok(Some(())),
                    Err(e) => Err(aws_err("DescribeDBInstances", &id, e)),
                }
            }
        },
    )
    .await?;
    Ok(note)
}

/// Deletes a cluster (final snapshot unless skipped) and waits until it is gone.
pub async fn delete_cluster(ctx: &Ctx, id: &str, skip_snapshot: bool) -> Result<String> {
    let rds = &ctx.clients.rds;
    let snap = format!("{id}-final-{}", stamp());
    let mut req = rds.delete_db_cluster().db_cluster_identifier(id);
    let note;
    if skip_snapshot {
        req = req.skip_final_snapshot(true);
        note = "no final snapshot (--skip-final-snapshot)".to_string();
    } else {
        req = req
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(&snap);
        note = format!("final snapshot {snap}");
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("DBClusterNotFoundFault") => return Ok("already gone".into()),
        Err(e) => return Err(aws_err("DeleteDBCluster", id, e)),
    }
    let rds = rds.clone();
    wait_for(
        &format!("RDS cluster {id} to be deleted"),
        ctx.waits.rds,
        || {
            let rds = rds.clone();
            let id = id.to_string();
            async move {
                match rds
                    .describe_db_clusters()
                    .db_cluster_identifier(&id)
                    .send()
                    .await
                {
                    Ok(o) if o.db_clusters().is_empty() => Ok(Some(())),
                    Ok(_) => Ok(None),
                    Err(e) if code_of(&e) == Some("DBClusterNotFoundFault") => Ok(Some(())),
                    Err(e) => Err(aws_err("DescribeDBClusters", &id, e)),
                }
            }
        },
    )
    .await?;
    Ok(note)
}
