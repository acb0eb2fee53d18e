//! `deployment(name)`: the name prefix and ownership tag of every resource.

use std::collections::BTreeMap;

use rhai::{Engine, NativeCallContext};

use super::{RhaiResult, Shared, fail, pos_of, values};
use crate::diag::SourcePos;
use crate::refs;

#[derive(Debug, Clone)]
pub(crate) struct DeploymentDecl {
    pub name: String,
    pub region: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub pos: SourcePos,
    /// The names of detscript before per-region names (see `legacy_names()`).
    pub legacy_names: bool,
}

impl DeploymentDecl {
    /// Where the deployment's names live.
    pub fn scope(&self) -> crate::kinds::Scope {
        crate::kinds::Scope::new(&self.name, self.region.as_deref(), self.legacy_names)
    }
}

/// Script handle of the deployment.
#[derive(Debug, Clone)]
pub(crate) struct Deployment;

pub(crate) fn check_deployment_name(name: &str) -> Result<(), String> {
    if refs::has_refs(name) {
        return Err(
            "deployment name must be known when planning; give its parameter a value".into(),
        );
    }
    super::ok_or(
        super::is_name(name, 32, &['-']) && !name.ends_with('-'),
        || {
            format!(
                "deployment name {name:?} is invalid: use 1-32 letters, digits and '-', starting with a letter (it prefixes every AWS name)"
            )
        },
    )
}

pub(crate) fn check_region(r: &str) -> Result<(), String> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "region {r:?} is not an AWS region name like \"us-west-2\""
        ))
    }
}

pub(crate) fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key {key:?} must be 1-128 characters"));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!("tag key {key:?} uses the reserved prefix aws:"));
    }
    if value.chars().count() > 256 {
        return Err(format!(
            "the value of tag {key:?} is longer than 256 characters"
        ));
    }
    Ok(())
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<Deployment>("Deployment");
    let s = state.clone();
    engine.register_fn("deployment", move |ctx: NativeCallContext, name: &str| -> RhaiResult<Deployment> {
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        if let Some(d) = &st.deployment {
            return fail(&ctx, format!("deployment() is already called at line {}; a script describes one deployment", d.pos.line));
        }
        check_deployment_name(name).or_else(|m| fail(&ctx, m))?;
        st.deployment = Some(DeploymentDecl { name: name.to_string(), region: None, tags: BTreeMap::new(), pos, legacy_names: false });
        Ok(Deployment)
    });
    let s = state.clone();
    engine.register_fn(
        "region",
        move |ctx: NativeCallContext,
              _d: &mut Deployment,
              region: &str|
              -> RhaiResult<Deployment> {
            let mut st = s.borrow_mut();
            if !refs::has_refs(region) {
                check_region(region).or_else(|m| fail(&ctx, m))?;
            }
            if let Some(d) = st.deployment.as_mut() {
                d.region = Some(region.to_string());
            }
            Ok(Deployment)
        },
    );
    let s = state.clone();
    engine.register_fn("legacy_names", move |_d: &mut Deployment| -> Deployment {
        if let Some(d) = s.borrow_mut().deployment.as_mut() {
            d.legacy_names = true;
        }
        Deployment
    });
    let s = state.clone();
    engine.register_fn(
        "determined_ami",
        move |ctx: NativeCallContext, role: &str| -> RhaiResult<String> {
            let role = crate::amis::Role::parse(role)
                .or_else(|m| fail(&ctx, format!("determined_ami() {m}")))?;
            let st = s.borrow();
            let region = st.deployment.as_ref().and_then(|d| d.region.clone());
            let Some(region) = region else {
                return fail(&ctx, "determined_ami() picks the AMI of the deployment's region: call deployment(..).region(..) before it");
            };
            if refs::has_refs(&region) {
                return fail(&ctx, "determined_ami() needs the region when planning; give the region's parameter a value");
            }
            crate::amis::ami(&region, role)
                .map(str::to_string)
                .or_else(|m| fail(&ctx, m))
        },
    );
    engine.register_fn(
        "ssm_parameter",
        |ctx: NativeCallContext, name: &str| -> RhaiResult<String> {
            if refs::has_refs(name) {
                return fail(&ctx, "ssm_parameter() needs the parameter's name when planning; give its parameter a value");
            }
            crate::amis::check_ssm_name(name).or_else(|m| fail(&ctx, m))?;
            Ok(crate::value::Tmpl::ssm(name).to_marked())
        },
    );
    engine.register_fn("ubuntu_ami", || {
        crate::value::Tmpl::ssm(crate::amis::UBUNTU_SSM_PARAMETER).to_marked()
    });
    let s = state.clone();
    engine.register_fn(
        "tags",
        move |ctx: NativeCallContext,
              _d: &mut Deployment,
              tags: rhai::Map|
              -> RhaiResult<Deployment> {
            let mut st = s.borrow_mut();
            let mut parsed = BTreeMap::new();
            for (k, v) in tags {
                let Some(v) = values::as_string(&v) else {
                    return fail(
                        &ctx,
                        format!(
                            "tag {k:?}: values must be strings, got {}",
                            values::describe(&v)
                        ),
                    );
                };
                if k.starts_with("detscript:") {
                    return fail(
                        &ctx,
                        format!("tag {k:?}: the prefix detscript: is reserved for ownership tags"),
                    );
                }
                check_tag(&k, &v).or_else(|m| fail(&ctx, m))?;
                parsed.insert(k.to_string(), v);
            }
            if let Some(d) = st.deployment.as_mut() {
                d.tags.extend(parsed);
            }
            Ok(Deployment)
        },
    );
}
