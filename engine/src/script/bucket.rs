//! `s3_bucket(name)`: the checkpoint bucket.

use rhai::{Engine, NativeCallContext};

use super::handles::Bucket;
use super::{RhaiResult, Shared, constructor, fail};
use crate::kinds::S3BucketSpec;
use crate::kinds::s3_bucket::check_bucket_name;
use crate::plan::Kind;
use crate::refs;
use crate::value::Tmpl;

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<Bucket>("S3Bucket");
    engine.register_fn("to_string", |b: &mut Bucket| b.id.clone());

    constructor::<Bucket, _>(engine, state, "s3_bucket", Kind::S3Bucket, || {
        // The name is set when resources are named, unless `.bucket_name(...)` sets it.
        S3BucketSpec {
            bucket: Tmpl::default(),
            block_public_access: true,
            encryption: "AES256".into(),
            versioning: false,
        }
    });

    let s = state.clone();
    engine.register_fn(
        "bucket_name",
        move |ctx: NativeCallContext, b: &mut Bucket, full: &str| -> RhaiResult<Bucket> {
            if !refs::has_refs(full) {
                check_bucket_name(full)
                    .or_else(|m| fail(&ctx, format!("s3_bucket '{}': {m}", b.name)))?;
            }
            s.borrow_mut()
                .decl(&b.id)
                .edit(|spec: &mut S3BucketSpec| spec.bucket = Tmpl::from_marked(full));
            Ok(b.clone())
        },
    );

    let s = state.clone();
    engine.register_fn("versioning", move |b: &mut Bucket, on: bool| -> Bucket {
        s.borrow_mut()
            .decl(&b.id)
            .edit(|spec: &mut S3BucketSpec| spec.versioning = on);
        b.clone()
    });

    engine.register_get("name", |b: &mut Bucket| refs::attr(&b.id, "name"));
    engine.register_get("arn", |b: &mut Bucket| refs::attr(&b.id, "arn"));
}
