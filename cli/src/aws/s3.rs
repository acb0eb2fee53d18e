//! The checkpoint bucket: tags, public access block, default encryption, versioning.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use detscript_engine::Resource;
use serde_json::Value;

use super::discover::Detail;
use super::{Clients, Ctx, aws_err, bool_prop, code_of, str_prop};

pub async fn read_settings(c: &Clients, bucket: &str) -> Result<Detail> {
    let s3 = &c.s3;
    let (pab, enc, ver) = tokio::join!(
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_encryption().bucket(bucket).send(),
        s3.get_bucket_versioning().bucket(bucket).send(),
    );
    let block_public_access = match pab {
        Ok(o) => o.public_access_block_configuration().is_some_and(|p| {
            p.block_public_acls() == Some(true)
                && p.ignore_public_acls() == Some(true)
                && p.block_public_policy() == Some(true)
                && p.restrict_public_buckets() == Some(true)
        }),
        Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => false,
        Err(e) => return Err(aws_err("GetPublicAccessBlock", bucket, e)),
    };
    let encryption = match enc {
        Ok(o) => o
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string()),
        Err(e) if code_of(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => None,
        Err(e) => return Err(aws_err("GetBucketEncryption", bucket, e)),
    };
    let versioning = match ver {
        Ok(o) => o.status() == Some(&BucketVersioningStatus::Enabled),
        // moto answers a never-versioned bucket with an empty <GetBucketVersioningResponse/>
        // that the SDK cannot parse: a 200 without a body means "never enabled".
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => false,
        Err(e) => return Err(aws_err("GetBucketVersioning", bucket, e)),
    };
    Ok(Detail::Bucket {
        block_public_access,
        encryption,
        versioning,
    })
}

fn bucket_name<'a>(r: &'a Resource, props: &'a Value) -> &'a str {
    str_prop(props, "bucket").unwrap_or(&r.name)
}

pub async fn create(ctx: &Ctx, r: &Resource, props: &Value) -> Result<BTreeMap<String, String>> {
    let s3 = &ctx.clients.s3;
    let name = bucket_name(r, props).to_string();
    let mut req = s3.create_bucket().bucket(&name);
    if ctx.clients.region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(ctx.clients.region.as_str()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) => return Err(aws_err("CreateBucket", &name, e)),
    }
    // Tags come in a second call: if it fails, remove the new, empty bucket again so that
    // the next run does not find an untagged bucket with our name (which it must not touch).
    if let Err(e) = configure(ctx, &r.id, &name, props, true, true, true, true).await {
        let cleanup = ctx.clients.s3.delete_bucket().bucket(&name).send().await;
        return Err(match cleanup {
            Ok(_) => e.context(format!("bucket {name} was created and deleted again")),
            Err(_) => e.context(format!(
                "bucket {name} was created but could not be tagged or deleted: delete it by hand"
            )),
        });
    }
    Ok(attrs(&name))
}

fn attrs(name: &str) -> BTreeMap<String, String> {
    [
        ("name".to_string(), name.to_string()),
        ("id".to_string(), name.to_string()),
        ("arn".to_string(), format!("arn:aws:s3:::{name}")),
    ]
    .into_iter()
    .collect()
}

/// Applies the chosen settings concurrently.
#[allow(clippy::too_many_arguments)]
async fn configure(
    ctx: &Ctx,
    id: &str,
    name: &str,
    props: &Value,
    tags: bool,
    pab: bool,
    enc: bool,
    ver: bool,
) -> Result<()> {
    let s3 = &ctx.clients.s3;
    let tagging = async {
        if !tags {
            return Ok(());
        }
        let mut t = Tagging::builder();
        for (k, v) in ctx.owner_tags(id) {
            t = t.tag_set(Tag::builder().key(k).value(v).build()?);
        }
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(t.build()?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("PutBucketTagging", name, e))
    };
    let block = async {
        if !(pab && bool_prop(props, "block_public_access")) {
            return Ok(());
        }
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
            .map(|_| ())
            .map_err(|e| aws_err("PutPublicAccessBlock", name, e))
    };
    let encryption = async {
        let Some(alg) = str_prop(props, "encryption").filter(|_| enc) else {
            return Ok(());
        };
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::from(alg))
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("PutBucketEncryption", name, e))
    };
    let versioning = async {
        if !(ver && bool_prop(props, "versioning")) {
            return Ok(());
        }
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("PutBucketVersioning", name, e))
    };
    let (a, b, c, d): (Result<()>, Result<()>, Result<()>, Result<()>) =
        tokio::join!(tagging, block, encryption, versioning);
    a?;
    b?;
    c?;
    d?;
    Ok(())
}

pub async fn update(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
    live: &super::discover::Live,
) -> Result<BTreeMap<String, String>> {
    let name = bucket_name(r, props).to_string();
    let Detail::Bucket {
        block_public_access,
        encryption,
        versioning,
    } = &live.detail
    else {
        bail!("{}: live resource is not a bucket", r.id);
    };
    let want_enc = str_prop(props, "encryption").map(str::to_string);
    configure(
        ctx,
        &r.id,
        &name,
        props,
        false,
        !block_public_access,
        want_enc.is_some() && &want_enc != encryption,
        bool_prop(props, "versioning") != *versioning,
    )
    .await?;
    if !bool_prop(props, "versioning") && *versioning {
        ctx.clients
            .s3
            .put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_err("PutBucketVersioning", &name, e))?;
    }
    Ok(attrs(&name))
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
pub async fn delete(ctx: &Ctx, name: &str, delete_data: bool) -> Result<String> {
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
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        for v in page.versions() {
            if let Some(k) = v.key() {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(v.version_id().map(str::to_string))
                        .build()?,
                );
            }
        }
        for m in page.delete_markers() {
            if let Some(k) = m.key() {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(m.version_id().map(str::to_string))
                        .build()?,
                );
            }
        }
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
        format!("{removed} objects deleted")
    } else {
        String::new()
    })
}
