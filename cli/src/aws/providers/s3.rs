//! The checkpoint bucket: tags, public access block, default encryption, versioning.

use std::collections::BTreeSet;
use std::future::Future;

use anyhow::{Result, bail};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use detscript_engine::kinds::{self, S3BucketSpec, TAG_DEPLOYMENT};
use detscript_engine::{Kind, Plan, Resource};

use super::{
    AttrMap, Cmp, Del, Detail, Have, Provider, Want, changed, found, planned, sdk_tags, tag_map,
    update_or_noop,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, Owner, State};
use crate::aws::{Clients, Ctx, aws_err, code_of};

/// A bucket's settings as read back.
#[derive(Debug, Clone, Default)]
pub struct BucketLive {
    pub block_public_access: bool,
    pub encryption: Option<String>,
    pub versioning: bool,
    /// No tags at all: an empty bucket of this account with the planned name, left by a run
    /// interrupted between CreateBucket and PutBucketTagging. `run` claims it (tags it).
    pub untagged: bool,
}

pub struct S3Bucket;

/// Which settings to write.
#[derive(Clone, Copy)]
struct Settings {
    tags: bool,
    block: bool,
    encryption: bool,
    /// Put the spec's versioning status: enabled, or suspended when it asks for none.
    versioning: bool,
}

fn attrs(region: &str, name: &str) -> AttrMap {
    let arn = kinds::s3_bucket::arn(kinds::partition(Some(region)), name);
    super::attr_map([
        ("name", Some(name)),
        ("id", Some(name)),
        ("arn", Some(&arn)),
    ])
}

impl Provider for S3Bucket {
    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let dep = plan.deployment.name.as_str();
        let mut st = State::default();
        let prefix = format!("{dep}-");
        let names = planned(plan, Kind::S3Bucket);
        let listed =
            c.s3.list_buckets()
                .send()
                .await
                .map_err(|e| aws_err("ListBuckets", "", e))?;
        let mine: BTreeSet<String> = listed
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect();
        for (name, _) in names.iter().filter(|(n, _)| !mine.contains(*n)) {
            // Not in our account's list: either free or someone else's.
            match c.s3.head_bucket().bucket(name).send().await {
                Ok(_) => st.conflicts.push(format!(
                    "S3 bucket {name} exists in another account or region; pick another cluster_id"
                )),
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    if status == Some(403) {
                        st.conflicts.push(format!(
                            "S3 bucket {name} already exists and belongs to someone else; pick another cluster_id"
                        ));
                    }
                }
            }
        }
        for name in mine
            .into_iter()
            .filter(|n| names.contains_key(n) || n.starts_with(&prefix))
        {
            let res = c.s3.get_bucket_tagging().bucket(&name).send().await;
            let tags = match res {
                Err(e) if code_of(&e) == Some("NoSuchBucket") => continue,
                res => found(
                    res,
                    &["NoSuchTagSet", "NoSuchTagSetError"],
                    "GetBucketTagging",
                    &name,
                )?
                .map(|t| tag_map(t.tag_set().iter().map(|t| (Some(t.key()), Some(t.value())))))
                .unwrap_or_default(),
            };
            let planned_id = names.get(&name).map(String::as_str);
            if let (true, Some(id)) = (tags.is_empty(), planned_id) {
                // Untagged, with exactly the planned name, in this account's list: ours if it
                // is empty (a run was interrupted before tagging it), else someone's data.
                match claimable(c, &name).await? {
                    Ok(()) => {
                        let detail = BucketLive {
                            untagged: true,
                            ..read_settings(c, &name).await?
                        };
                        let live =
                            Live::new(&name, attrs(&c.region, &name), Detail::S3Bucket(detail));
                        st.claim(id, live);
                    }
                    Err(why) => st.conflicts.push(format!(
                        "S3 bucket {name} already exists without the tag {TAG_DEPLOYMENT}={dep} and {why}; \
detscript never modifies or deletes it: rename yours (cluster_id) or remove it"
                    )),
                }
                continue;
            }
            let who = Owner::of(plan, &c.region);
            let detail = if who.owns(&tags) {
                read_settings(c, &name).await?
            } else {
                BucketLive::default()
            };
            let live = Live::new(&name, attrs(&c.region, &name), Detail::S3Bucket(detail));
            st.add_global(&who, &tags, live, planned_id);
        }
        Ok(st)
    }

    fn compare(spec: &S3BucketSpec, Have { d: l, .. }: Have<'_, Self>, _cx: &Cmp) -> Action {
        let mut upd = Vec::new();
        if l.untagged {
            upd.push(
                "+ ownership tags: claims this account's empty, untagged bucket (left by an interrupted run)"
                    .into(),
            );
        }
        if spec.block_public_access && !l.block_public_access {
            upd.push("~ block all public access".into());
        }
        upd.extend(changed(
            "default encryption",
            l.encryption.as_deref(),
            Some(&spec.encryption),
        ));
        if spec.versioning != l.versioning {
            upd.push(format!(
                "~ versioning {}",
                if spec.versioning {
                    "enabled"
                } else {
                    "suspended"
                }
            ));
        }
        update_or_noop(upd)
    }

    fn uses(_: &BucketLive) -> Vec<String> {
        Vec::new()
    }

    async fn create(Want { ctx, r, spec, .. }: Want<'_, Self>) -> Result<AttrMap> {
        let s3 = &ctx.clients.s3;
        let name = r.name.clone();
        let mut req = s3.create_bucket().bucket(&name);
        if ctx.clients.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(
                        ctx.clients.region.as_str(),
                    ))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            // A retried CreateBucket whose first response was lost: the bucket is this
            // account's; claim it if it is still empty and untagged.
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => {
                if let Err(why) = claimable(&ctx.clients, &name).await? {
                    bail!("CreateBucket {name}: BucketAlreadyOwnedByYou, and it {why}");
                }
                say_claimed(ctx, r, &name);
            }
            Err(e) => return Err(aws_err("CreateBucket", &name, e)),
        }
        // Tags come in a second call: if it fails, remove the new, empty bucket again so that
        // the next run does not find an untagged bucket with our name (which it must not touch).
        let all = Settings {
            tags: true,
            block: true,
            encryption: true,
            versioning: spec.versioning,
        };
        if let Err(e) = configure(ctx, r, spec, all).await {
            let cleanup = ctx.clients.s3.delete_bucket().bucket(&name).send().await;
            return Err(match cleanup {
                Ok(_) => e.context(format!("bucket {name} was created and deleted again")),
                Err(_) => e.context(format!(
                    "bucket {name} was created but could not be tagged or deleted: delete it by hand"
                )),
            });
        }
        Ok(attrs(&ctx.clients.region, &name))
    }

    async fn update(
        Want { ctx, r, spec, .. }: Want<'_, Self>,
        Have { d: l, .. }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let name = r.name.clone();
        if l.untagged {
            // Look again right before tagging: still empty and untagged, still this account's.
            if let Err(why) = claimable(&ctx.clients, &name).await? {
                bail!("bucket {name} can no longer be claimed: it {why}");
            }
            let tags_only = Settings {
                tags: true,
                block: false,
                encryption: false,
                versioning: false,
            };
            configure(ctx, r, spec, tags_only).await?;
            say_claimed(ctx, r, &name);
        }
        let which = Settings {
            tags: false,
            block: !l.block_public_access,
            encryption: l.encryption.as_deref() != Some(spec.encryption.as_str()),
            versioning: spec.versioning != l.versioning,
        };
        configure(ctx, r, spec, which).await?;
        Ok(attrs(&ctx.clients.region, &name))
    }

    async fn delete(ctx: &Ctx, Del { live, opts, .. }: Del<'_, Self>) -> Result<String> {
        delete_bucket(ctx, &live.name, opts.delete_data).await
    }
}

fn say_claimed(ctx: &Ctx, r: &Resource, name: &str) {
    ctx.ui.resource(
        &r.id,
        "claimed",
        None,
        &format!("bucket {name}: empty, untagged and this account's (left by an interrupted run); tagged as this deployment's"),
    );
}

/// `Ok(Ok(()))` when the bucket `name` is this account's (checked with ExpectedBucketOwner),
/// has no tags at all and holds no object or version: then an interrupted run of this
/// deployment created it (a bucket cannot be tagged at creation). Else `Ok(Err(why))`.
pub async fn claimable(c: &Clients, name: &str) -> Result<std::result::Result<(), String>> {
    let account = &c.account;
    let res =
        c.s3.get_bucket_tagging()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await;
    match res {
        Ok(t) if !t.tag_set().is_empty() => return Ok(Err("has tags".into())),
        Ok(_) => {}
        Err(e) if matches!(code_of(&e), Some("NoSuchTagSet" | "NoSuchTagSetError")) => {}
        Err(e) if code_of(&e) == Some("AccessDenied") => {
            return Ok(Err(format!("is not owned by account {account}")));
        }
        Err(e) => return Err(aws_err("GetBucketTagging", name, e)),
    }
    let res =
        c.s3.list_object_versions()
            .bucket(name)
            .expected_bucket_owner(account)
            .max_keys(1)
            .send()
            .await;
    match res {
        Ok(o) if o.versions().is_empty() && o.delete_markers().is_empty() => Ok(Ok(())),
        Ok(_) => Ok(Err("holds objects".into())),
        Err(e) if code_of(&e) == Some("AccessDenied") => {
            Ok(Err(format!("is not owned by account {account}")))
        }
        Err(e) => Err(aws_err("ListObjectVersions", name, e)),
    }
}

async fn read_settings(c: &Clients, bucket: &str) -> Result<BucketLive> {
    let s3 = &c.s3;
    let (pab, enc, ver) = tokio::join!(
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_encryption().bucket(bucket).send(),
        s3.get_bucket_versioning().bucket(bucket).send(),
    );
    let block_public_access = found(
        pab,
        &["NoSuchPublicAccessBlockConfiguration"],
        "GetPublicAccessBlock",
        bucket,
    )?
    .and_then(|o| o.public_access_block_configuration().cloned())
    .is_some_and(|p| {
        p.block_public_acls() == Some(true)
            && p.ignore_public_acls() == Some(true)
            && p.block_public_policy() == Some(true)
            && p.restrict_public_buckets() == Some(true)
    });
    let encryption = found(
        enc,
        &["ServerSideEncryptionConfigurationNotFoundError"],
        "GetBucketEncryption",
        bucket,
    )?
    .and_then(|o| {
        o.server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string())
    });
    let versioning = match ver {
        Ok(o) => o.status() == Some(&BucketVersioningStatus::Enabled),
        // moto answers with a <GetBucketVersioningResponse> root (empty for a never-versioned
        // bucket) that the SDK cannot parse: read the status from the body of that 200.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => e
            .raw_response()
            .and_then(|r| r.body().bytes())
            .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
        Err(e) => return Err(aws_err("GetBucketVersioning", bucket, e)),
    };
    Ok(BucketLive {
        block_public_access,
        encryption,
        versioning,
        untagged: false,
    })
}

/// Runs `step` when `on`, else does nothing.
async fn when(on: bool, step: impl Future<Output = Result<()>>) -> Result<()> {
    if on { step.await } else { Ok(()) }
}

/// Applies the chosen settings concurrently.
async fn configure(ctx: &Ctx, r: &Resource, spec: &S3BucketSpec, which: Settings) -> Result<()> {
    let (s3, name) = (&ctx.clients.s3, r.name.as_str());
    let tagging = when(which.tags, async {
        let tags = sdk_tags(r, |k, v| Tag::builder().key(k).value(v).build().ok());
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
            .send()
            .await
            .map_err(|e| aws_err("PutBucketTagging", name, e))
            .map(drop)
    });
    let block = when(which.block && spec.block_public_access, async {
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_err("PutPublicAccessBlock", name, e))
            .map(drop)
    });
    let encryption = when(which.encryption, async {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(spec.encryption.as_str()))
            .build()?;
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(by_default)
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| aws_err("PutBucketEncryption", name, e))
            .map(drop)
    });
    let versioning = when(which.versioning, async {
        let status = if spec.versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| aws_err("PutBucketVersioning", name, e))
            .map(drop)
    });
    let (a, b, c, d) = tokio::join!(tagging, block, encryption, versioning);
    a?;
    b?;
    c?;
    d?;
    Ok(())
}

/// Number of objects (and versions) in a bucket, up to one page.
pub async fn count_objects(ctx: &Ctx, name: &str) -> Result<usize> {
    match ctx
        .clients
        .s3
        .list_object_versions()
        .bucket(name)
        .max_keys(1000)
        .send()
        .await
    {
        Ok(o) => Ok(o.versions().len() + o.delete_markers().len()),
        Err(e) if code_of(&e) == Some("NoSuchBucket") => Ok(0),
        Err(e) => Err(aws_err("ListObjectVersions", name, e)),
    }
}

/// Empties (every version) and deletes a bucket.
async fn delete_bucket(ctx: &Ctx, name: &str, delete_data: bool) -> Result<String> {
    let s3 = &ctx.clients.s3;
    let mut removed = 0usize;
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(name)
            .max_keys(1000)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if code_of(&e) == Some("NoSuchBucket") => return Ok("already gone".into()),
            Err(e) => return Err(aws_err("ListObjectVersions", name, e)),
        };
        // Every version and every delete marker, by key and version id.
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        let ids = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                let id = ObjectIdentifier::builder().key(key?);
                Some(id.set_version_id(version.map(str::to_string)).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            break;
        }
        if !delete_data {
            bail!(
                "bucket {name} holds objects (checkpoints); not deleted: pass --delete-data to delete them"
            );
        }
        removed += ids.len();
        s3.delete_objects()
            .bucket(name)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| aws_err("DeleteObjects", name, e))?;
    }
    match s3.delete_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("NoSuchBucket") => {}
        Err(e) => return Err(aws_err("DeleteBucket", name, e)),
    }
    Ok(if removed > 0 {
        format!(
            "{removed} {} deleted",
            if removed == 1 { "object" } else { "objects" }
        )
    } else {
        String::new()
    })
}
