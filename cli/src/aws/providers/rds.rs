//! The database: an Aurora cluster with its writer instance, or a single RDS instance.

use anyhow::Result;
use aws_sdk_rds::types::{DbCluster, DbInstance, Tag, VpcSecurityGroupMembership};
use detscript_engine::kinds::rds::DbSettings;
use detscript_engine::kinds::{RdsClusterSpec, RdsInstanceSpec};
use detscript_engine::{Kind, Plan, Resource, Tmpl};

use super::secret;
use super::{
    AttrMap, Cmp, Del, Have, Provider, Want, all_items, attr_map, diff_groups, found, owned_by,
    planned, sdk_tags, tag_map, update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err, wait_for};

/// What a live cluster and a live DB instance both have.
#[derive(Debug, Clone)]
pub struct DbLive {
    pub engine: String,
    pub sgs: Vec<String>,
    pub subnet_group: Option<String>,
    /// The version of the password secret it was last given (see `secret::PASSWORD_VERSION_TAG`).
    pub password_version: Option<String>,
}

/// A live Aurora cluster.
#[derive(Debug, Clone)]
pub struct ClusterLive {
    pub db: DbLive,
    pub engine_version: Option<String>,
    pub database_name: Option<String>,
}

/// A live DB instance (standalone, or a cluster's writer).
#[derive(Debug, Clone)]
pub struct DbInstanceLive {
    pub db: DbLive,
    pub class: String,
    pub cluster: Option<String>,
}

pub struct RdsCluster;
pub struct RdsInstance;

const CLUSTER_GONE: &[&str] = &["DBClusterNotFoundFault"];
const INSTANCE_GONE: &[&str] = &["DBInstanceNotFound"];

fn rds_tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn rds_tags(r: &Resource) -> Vec<Tag> {
    sdk_tags(r, |k, v| Some(rds_tag(k, v)))
}

/// The new password and its version tag, when the password's secret has a version the
/// database was not given (rotated): ModifyDB* sets it, AddTagsToResource records it. None
/// for a database without settings of its own (a cluster's writer).
async fn rotated_password(
    ctx: &Ctx,
    v: &super::Vals<'_>,
    db: Option<&DbSettings>,
    live_version: Option<&str>,
) -> Result<Option<(String, Vec<Tag>)>> {
    let Some(db) = db else { return Ok(None) };
    let tags = secret::with_password_version(Vec::new(), v, &db.master_password, rds_tag);
    let changed = tags.first().and_then(|t| t.value()) != live_version && !tags.is_empty();
    if !changed {
        return Ok(None);
    }
    Ok(Some((
        secret::password(ctx, v, &db.master_password).await?,
        tags,
    )))
}

/// After a ModifyDB* request: records the version of the password it set (`tags`, when
/// rotated) on the database, then waits until it is available.
async fn modified(
    ctx: &Ctx,
    rid: &str,
    live: &Live,
    tags: Option<Vec<Tag>>,
    db: DbTarget,
) -> Result<AttrMap> {
    if let (Some(arn), Some(tags)) = (live.attrs.get("arn"), tags) {
        tag_database(ctx, arn, tags).await?;
    }
    wait_available(ctx, rid, &db).await
}

async fn tag_database(ctx: &Ctx, arn: &str, tags: Vec<Tag>) -> Result<()> {
    ctx.clients
        .rds
        .add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("AddTagsToResource", arn, e))?;
    Ok(())
}

fn cluster_attrs(cl: &DbCluster) -> AttrMap {
    let port = cl.port().map(|p| p.to_string());
    let id = cl.db_cluster_identifier();
    attr_map([
        ("id", id),
        ("name", id),
        ("endpoint", cl.endpoint()),
        ("port", port.as_deref()),
        ("arn", cl.db_cluster_arn()),
    ])
}

fn instance_attrs(i: &DbInstance) -> AttrMap {
    let id = i.db_instance_identifier();
    attr_map([
        ("id", id),
        ("name", id),
        ("endpoint", i.endpoint().and_then(|e| e.address())),
        ("arn", i.db_instance_arn()),
    ])
}

/// A described database as discovery reads it: the live resource, its tags, its status.
type Found<'a> = (Live, &'a [Tag], Option<&'a str>);

/// Records discovered database resources as owned or as conflicts, leaving out ours that are
/// already being deleted.
fn discovered<'a>(plan: &Plan, kind: Kind, found: impl Iterator<Item = Found<'a>>) -> State {
    let dep = plan.deployment.name.as_str();
    let names = planned(plan, kind);
    let mut st = State::default();
    for (live, tags, status) in found {
        let tags = tag_map(tags.iter().map(|t| (t.key(), t.value())));
        if status == Some("deleting") && owned_by(&tags, dep) {
            continue;
        }
        let planned_id = names.get(&live.name).cloned();
        st.add(dep, &tags, live, planned_id.as_deref());
    }
    st
}

impl DbLive {
    /// The fields a cluster's and an instance's descriptions share (under other names).
    fn read(
        engine: Option<&str>,
        groups: &[VpcSecurityGroupMembership],
        subnet_group: Option<&str>,
        tags: &[Tag],
    ) -> DbLive {
        DbLive {
            engine: engine.unwrap_or_default().to_string(),
            sgs: groups
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
            subnet_group: subnet_group.map(str::to_string),
            password_version: secret::live_password_version(
                tags.iter().map(|t| (t.key(), t.value())),
            ),
        }
    }
}

impl ClusterLive {
    /// A described cluster, as discovery records it.
    fn read(cl: &DbCluster) -> Found<'_> {
        let detail = ClusterLive {
            db: DbLive::read(
                cl.engine(),
                cl.vpc_security_groups(),
                cl.db_subnet_group(),
                cl.tag_list(),
            ),
            engine_version: cl.engine_version().map(str::to_string),
            database_name: cl.database_name().map(str::to_string),
        };
        let name = cl.db_cluster_identifier().unwrap_or_default();
        let live = Live::new(name, cluster_attrs(cl), detail);
        (live, cl.tag_list(), cl.status())
    }
}

impl DbInstanceLive {
    /// A described DB instance, as discovery records it.
    fn read(i: &DbInstance) -> Found<'_> {
        let subnet_group = i.db_subnet_group().and_then(|g| g.db_subnet_group_name());
        let detail = DbInstanceLive {
            db: DbLive::read(
                i.engine(),
                i.vpc_security_groups(),
                subnet_group,
                i.tag_list(),
            ),
            class: i.db_instance_class().unwrap_or_default().to_string(),
            cluster: i.db_cluster_identifier().map(str::to_string),
        };
        let name = i.db_instance_identifier().unwrap_or_default();
        let live = Live::new(name, instance_attrs(i), detail);
        (live, i.tag_list(), i.db_instance_status())
    }
}

/// Waits for the database to be available. Its endpoint is published to the executor as soon
/// as it is known ([`Ctx::publish`]), so that the master is launched while RDS still works.
async fn wait_available(ctx: &Ctx, rid: &str, db: &DbTarget) -> Result<AttrMap> {
    let what = format!("{} {} to become available", db.words(), db.name());
    let published = std::sync::atomic::AtomicBool::new(false);
    wait_for(&what, ctx.waits.rds, || async {
        let Some((attrs, status)) = db.describe(&ctx.clients).await? else {
            return Ok(None);
        };
        publish_endpoint(ctx, rid, &attrs, &published);
        Ok((status.as_deref() == Some("available")).then_some(attrs))
    })
    .await
}

/// After a create request: publishes what its answer (`created`) already tells, then waits
/// for the database to be available. The executor holds back what references an attribute
/// still unknown (such as the endpoint); a cluster's answer has the endpoint already.
async fn settle(ctx: &Ctx, rid: &str, db: &DbTarget, created: Option<AttrMap>) -> Result<AttrMap> {
    if let Some(attrs) = created {
        ctx.publish(rid, attrs);
    }
    ctx.ui
        .resource(rid, "waiting", None, "for status available");
    wait_available(ctx, rid, db).await
}

/// Waits until RDS no longer describes the database.
async fn wait_deleted(ctx: &Ctx, db: &DbTarget) -> Result<()> {
    let what = format!("{} {} to be deleted", db.words(), db.name());
    wait_for(&what, ctx.waits.rds, || async {
        let gone = db.describe(&ctx.clients).await?.is_none();
        Ok(gone.then_some(()))
    })
    .await
}

/// Publishes the attributes once they include the endpoint (once).
fn publish_endpoint(
    ctx: &Ctx,
    rid: &str,
    attrs: &AttrMap,
    published: &std::sync::atomic::AtomicBool,
) {
    if attrs.contains_key("endpoint") && !published.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        ctx.publish(rid, attrs.clone());
    }
}

fn stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The final snapshot's name, unless skipped.
fn final_snapshot(id: &str, skip: bool) -> Option<String> {
    (!skip).then(|| format!("{id}-final-{}", stamp()))
}

/// A database by its identifier: an Aurora cluster, or a DB instance (the one an upgrade
/// snapshots is a standalone instance).
#[derive(Debug, Clone, PartialEq)]
pub enum DbTarget {
    Cluster(String),
    Instance(String),
}

impl DbTarget {
    /// The live database of the deployment: its cluster, else its standalone instance.
    pub fn of(state: &State) -> Option<DbTarget> {
        let mut lives: Vec<&Live> = state.owned.values().collect();
        lives.sort_by_key(|l| l.id.as_str());
        let cluster = lives.iter().find_map(|l| match &l.detail {
            super::Detail::RdsCluster(_) => Some(DbTarget::Cluster(l.name.clone())),
            _ => None,
        });
        cluster.or_else(|| {
            lives.iter().find_map(|l| match &l.detail {
                super::Detail::RdsInstance(d) if d.cluster.is_none() => {
                    Some(DbTarget::Instance(l.name.clone()))
                }
                _ => None,
            })
        })
    }

    pub fn name(&self) -> &str {
        match self {
            DbTarget::Cluster(n) | DbTarget::Instance(n) => n,
        }
    }

    pub fn words(&self) -> &'static str {
        match self {
            DbTarget::Cluster(_) => "RDS cluster",
            DbTarget::Instance(_) => "RDS instance",
        }
    }

    /// Its attributes and status, or None when RDS does not describe it.
    async fn describe(&self, c: &Clients) -> Result<Option<(AttrMap, Option<String>)>> {
        let status = |s: Option<&str>| s.map(str::to_string);
        Ok(match self {
            DbTarget::Cluster(id) => {
                let res = c.rds.describe_db_clusters().db_cluster_identifier(id);
                found(res.send().await, CLUSTER_GONE, "DescribeDBClusters", id)?
                    .and_then(|o| o.db_clusters().first().cloned())
                    .map(|cl| (cluster_attrs(&cl), status(cl.status())))
            }
            DbTarget::Instance(id) => {
                let res = c.rds.describe_db_instances().db_instance_identifier(id);
                found(res.send().await, INSTANCE_GONE, "DescribeDBInstances", id)?
                    .and_then(|o| o.db_instances().first().cloned())
                    .map(|i| (instance_attrs(&i), status(i.db_instance_status())))
            }
        })
    }

    /// Deletes it, with the final snapshot `snap` (none when None), and waits until it is
    /// gone. Returns the note for the report: the snapshot's name, else `no_snapshot`.
    async fn delete(&self, ctx: &Ctx, snap: Option<String>, no_snapshot: &str) -> Result<String> {
        let rds = &ctx.clients.rds;
        // DeleteDBCluster and DeleteDBInstance take the same snapshot fields (their builders
        // are different types); true when the request found the database.
        macro_rules! send {
            ($req:expr, $gone:expr, $op:literal, $id:expr) => {{
                let req = $req.skip_final_snapshot(snap.is_none());
                let res = req.set_final_db_snapshot_identifier(snap.clone()).send();
                found(res.await, $gone, $op, $id)?.is_some()
            }};
        }
        let existed = match self {
            DbTarget::Cluster(id) => {
                let req = rds.delete_db_cluster().db_cluster_identifier(id);
                send!(req, CLUSTER_GONE, "DeleteDBCluster", id)
            }
            DbTarget::Instance(id) => {
                let req = rds.delete_db_instance().db_instance_identifier(id);
                send!(req, INSTANCE_GONE, "DeleteDBInstance", id)
            }
        };
        if !existed {
            return Ok("already gone".into());
        }
        wait_deleted(ctx, self).await?;
        Ok(match snap {
            Some(s) => format!("final snapshot {s}"),
            None => no_snapshot.to_string(),
        })
    }
}

/// The status of a manual snapshot, or None while RDS does not list it yet.
async fn snapshot_status(c: &Clients, db: &DbTarget, snap: &str) -> Result<Option<String>> {
    let status = |s: Option<&str>| s.map(str::to_string);
    Ok(match db {
        DbTarget::Cluster(_) => {
            let req = c.rds.describe_db_cluster_snapshots();
            let res = req.db_cluster_snapshot_identifier(snap).send().await;
            found(res, SNAPSHOT_GONE, "DescribeDBClusterSnapshots", snap)?
                .and_then(|o| status(o.db_cluster_snapshots().first()?.status()))
        }
        DbTarget::Instance(_) => {
            let req = c.rds.describe_db_snapshots().db_snapshot_identifier(snap);
            found(req.send().await, SNAPSHOT_GONE, "DescribeDBSnapshots", snap)?
                .and_then(|o| status(o.db_snapshots().first()?.status()))
        }
    })
}

const SNAPSHOT_GONE: &[&str] = &["DBClusterSnapshotNotFoundFault", "DBSnapshotNotFound"];
const SNAPSHOT_EXISTS: &[&str] = &[
    "DBClusterSnapshotAlreadyExistsFault",
    "DBSnapshotAlreadyExists",
];

/// Takes a manual snapshot `snap` of the database (tagged with the deployment and `note`) and
/// waits until it is available. A snapshot of that name taken by an interrupted run is reused.
pub async fn snapshot(ctx: &Ctx, db: &DbTarget, snap: &str, note: &str) -> Result<()> {
    let tags = vec![
        Tag::builder()
            .key(detscript_engine::kinds::TAG_DEPLOYMENT)
            .value(&ctx.deployment)
            .build(),
        Tag::builder().key("detscript:upgrade").value(note).build(),
    ];
    let rds = &ctx.clients.rds;
    let tags = Some(tags);
    match db {
        DbTarget::Cluster(id) => {
            let req = rds.create_db_cluster_snapshot().db_cluster_identifier(id);
            let req = req.db_cluster_snapshot_identifier(snap).set_tags(tags);
            found(
                req.send().await,
                SNAPSHOT_EXISTS,
                "CreateDBClusterSnapshot",
                id,
            )?;
        }
        DbTarget::Instance(id) => {
            let req = rds.create_db_snapshot().db_instance_identifier(id);
            let res = req.db_snapshot_identifier(snap).set_tags(tags).send().await;
            found(res, SNAPSHOT_EXISTS, "CreateDBSnapshot", id)?;
        }
    }
    let what = format!(
        "snapshot {snap} of {} {} to be available",
        db.words(),
        db.name()
    );
    wait_for(&what, ctx.waits.rds, || async {
        match snapshot_status(&ctx.clients, db, snap).await?.as_deref() {
            Some("available") => Ok(Some(())),
            Some(s @ ("failed" | "incompatible-restore" | "deleting")) => {
                anyhow::bail!("snapshot {snap} of {} is {s}", db.name())
            }
            _ => Ok(None),
        }
    })
    .await
}

/// Sets what [`DbSettings`] hold on a CreateDBCluster or CreateDBInstance request (`$req`):
/// their builders are different types with the same fields, but for the database name's
/// (`$database_name`).
macro_rules! with_settings {
    ($req:expr, $ctx:expr, $v:expr, $db:expr, $database_name:ident) => {{
        let (v, db): (&super::Vals, &DbSettings) = ($v, $db);
        $req.set_engine_version(v.opt(db.engine_version.as_ref())?)
            .master_username(v.text(&db.master_username)?)
            .master_user_password(secret::password($ctx, v, &db.master_password).await?)
            .$database_name(v.text(&db.database_name)?)
            .port(db.port as i32)
            .storage_encrypted(db.storage_encrypted)
            .set_vpc_security_group_ids(Some(v.list(vpc_groups(db))?))
            .set_db_subnet_group_name(v.opt(db.db_subnet_group_name.as_ref())?)
    }};
}

fn vpc_groups(db: &DbSettings) -> &[Tmpl] {
    db.vpc_security_group_ids.as_deref().unwrap_or_default()
}

fn engine_changed(want: &str, have: &str) -> Option<Action> {
    (want != have).then(|| Action::Replace(format!("engine {have} -> {want}")))
}

impl Provider for RdsCluster {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let all = all_items!(c.rds.describe_db_clusters(), "DescribeDBClusters", "")?;
        let found = all.iter().map(ClusterLive::read);
        Ok(discovered(plan, Kind::RdsCluster, found))
    }

    fn compare(spec: &RdsClusterSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        if let Some(a) = engine_changed(&spec.engine, &l.db.engine) {
            return a;
        }
        let db = cx.vals.shown(&spec.db.database_name);
        if l.database_name.as_deref() != Some(db.as_str()) {
            return Action::Replace(format!(
                "database name {} -> {db}",
                l.database_name.as_deref().unwrap_or("none")
            ));
        }
        let mut upd = Vec::new();
        if let Some(v) = spec.db.engine_version.as_ref().map(|v| cx.vals.shown(v)) {
            if l.engine_version
                .as_deref()
                .is_some_and(|l| !l.starts_with(&v))
            {
                upd.push(format!(
                    "~ engine version {} -> {v}",
                    l.engine_version.as_deref().unwrap_or("")
                ));
            }
        }
        diff_groups(vpc_groups(&spec.db), &l.db.sgs, cx, &mut upd);
        if let Some(g) = spec
            .db
            .db_subnet_group_name
            .as_ref()
            .map(|g| cx.vals.shown(g))
        {
            if l.db.subnet_group.as_deref() != Some(g.as_str()) {
                return Action::Replace(format!(
                    "DB subnet group {} -> {g} (the database moves to another network)",
                    l.db.subnet_group.as_deref().unwrap_or("default")
                ));
            }
        }
        upd.extend(secret::password_change(
            &spec.db.master_password,
            l.db.password_version.as_deref(),
            cx,
        ));
        update_or_noop(upd)
    }

    fn uses(d: &ClusterLive) -> Vec<String> {
        [&d.db.sgs[..], d.db.subnet_group.as_slice()].concat()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let id = spec.identifier.clone();
        let db = &spec.db;
        let req = ctx
            .clients
            .rds
            .create_db_cluster()
            .db_cluster_identifier(&id)
            .engine(&spec.engine)
            .set_tags(Some(secret::with_password_version(
                rds_tags(r),
                &v,
                &db.master_password,
                rds_tag,
            )));
        let res = with_settings!(req, ctx, &v, db, database_name).send().await;
        let created = found(
            res,
            &["DBClusterAlreadyExistsFault"],
            "CreateDBCluster",
            &id,
        )?;
        let answer = created.and_then(|o| o.db_cluster().map(cluster_attrs));
        settle(ctx, &r.id, &DbTarget::Cluster(id), answer).await
    }

    async fn update(
        Want { ctx, r, spec, v }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let id = live.name.clone();
        let version = l.db.password_version.as_deref();
        let (password, tags) = rotated_password(ctx, &v, Some(&spec.db), version)
            .await?
            .unzip();
        ctx.clients
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(&id)
            .set_vpc_security_group_ids(Some(v.list(vpc_groups(&spec.db))?))
            .set_engine_version(v.opt(spec.db.engine_version.as_ref())?)
            .set_master_user_password(password)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| aws_err("ModifyDBCluster", &id, e))?;
        modified(ctx, &r.id, live, tags, DbTarget::Cluster(id)).await
    }

    /// Deletes the cluster (final snapshot unless skipped) and waits until it is gone.
    async fn delete(ctx: &Ctx, Del { live, opts, .. }: Del<'_, Self>) -> Result<String> {
        let snap = final_snapshot(&live.name, opts.skip_final_snapshot);
        let db = DbTarget::Cluster(live.name.clone());
        db.delete(ctx, snap, "no final snapshot (--skip-final-snapshot)")
            .await
    }
}

impl Provider for RdsInstance {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let all = all_items!(c.rds.describe_db_instances(), "DescribeDBInstances", "")?;
        let found = all.iter().map(DbInstanceLive::read);
        Ok(discovered(plan, Kind::RdsInstance, found))
    }

    fn compare(spec: &RdsInstanceSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        if let Some(a) = engine_changed(&spec.engine, &l.db.engine) {
            return a;
        }
        let mut upd = Vec::new();
        match (&spec.cluster, &spec.db) {
            (Some(cl), _) => {
                if let Some(cl) = cx.vals.attrs.get(&cl.path()) {
                    if l.cluster.as_deref() != Some(cl.as_str()) {
                        return Action::Replace(format!(
                            "cluster {} -> {cl}",
                            l.cluster.as_deref().unwrap_or("none")
                        ));
                    }
                }
            }
            (None, Some(db)) => {
                diff_groups(vpc_groups(db), &l.db.sgs, cx, &mut upd);
                upd.extend(secret::password_change(
                    &db.master_password,
                    l.db.password_version.as_deref(),
                    cx,
                ));
            }
            (None, None) => {}
        }
        let want_class = cx.vals.shown(&spec.instance_class);
        if want_class != l.class {
            upd.push(format!("~ instance class {} -> {want_class}", l.class));
        }
        update_or_noop(upd)
    }

    fn uses(d: &DbInstanceLive) -> Vec<String> {
        [
            &d.db.sgs[..],
            d.cluster.as_slice(),
            d.db.subnet_group.as_slice(),
        ]
        .concat()
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        let id = spec.identifier.clone();
        let mut req = ctx
            .clients
            .rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .db_instance_class(v.text(&spec.instance_class)?)
            .engine(&spec.engine)
            .publicly_accessible(spec.publicly_accessible)
            .set_tags(Some(match &spec.db {
                Some(db) => {
                    secret::with_password_version(rds_tags(r), &v, &db.master_password, rds_tag)
                }
                None => rds_tags(r),
            }));
        if let Some(cluster) = &spec.cluster {
            req = req.db_cluster_identifier(v.text(&Tmpl::reference(cluster.clone()))?);
        } else if let Some(db) = &spec.db {
            let storage = spec.allocated_storage_gb.map(|p| p as i32);
            req = with_settings!(req, ctx, &v, db, db_name).set_allocated_storage(storage);
        }
        let created = found(
            req.send().await,
            &["DBInstanceAlreadyExists"],
            "CreateDBInstance",
            &id,
        )?;
        // A writer's dependents need no more than what the answer tells.
        let answer = created.and_then(|o| o.db_instance().map(instance_attrs));
        settle(ctx, &r.id, &DbTarget::Instance(id), answer).await
    }

    async fn update(
        Want { ctx, r, spec, v }: Want<'_, Self>,
        Have { live, d: l }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        // A standalone instance's settings (a cluster's writer has the cluster's).
        let own = spec.db.as_ref().filter(|_| spec.cluster.is_none());
        let version = l.db.password_version.as_deref();
        let (password, tags) = rotated_password(ctx, &v, own, version).await?.unzip();
        let mut req = ctx
            .clients
            .rds
            .modify_db_instance()
            .db_instance_identifier(&live.name)
            .db_instance_class(v.text(&spec.instance_class)?)
            .apply_immediately(true);
        if let Some(db) = own {
            req = req.set_vpc_security_group_ids(Some(v.list(vpc_groups(db))?));
        }
        req.set_master_user_password(password)
            .send()
            .await
            .map_err(|e| aws_err("ModifyDBInstance", &live.name, e))?;
        let db = DbTarget::Instance(live.name.clone());
        modified(ctx, &r.id, live, tags, db).await
    }

    /// Deletes the instance and waits until it is gone. Returns a note (snapshot name).
    async fn delete(ctx: &Ctx, Del { live, d, opts }: Del<'_, Self>) -> Result<String> {
        // An Aurora writer has no snapshot of its own (the cluster's is taken).
        let snap = final_snapshot(&live.name, d.cluster.is_some() || opts.skip_final_snapshot);
        let db = DbTarget::Instance(live.name.clone());
        db.delete(ctx, snap, "").await
    }
}
