//! `log_group(name)`, `log_group(name, #{ retention_days, kms_key })`:
//! a CloudWatch Logs group. `master_instance(..).log_group(group)` starts the master's
//! container with Docker's `awslogs` driver into it; `aws_pool(..).log_group(group)` sets the
//! pool's `log_group` (and `log_stream`, unless the script sets one) in master.yaml. Either
//! use gives the role behind the instance profile a policy scoped to the group (see
//! [`super::iam`]).

use rhai::{Dynamic, Engine, NativeCallContext};

use super::{DEFAULT_RETENTION_DAYS, LogGroupSpec};
use crate::kinds::{log_group, read_options};
use crate::plan::Kind;
use crate::refs;
use crate::script::{RhaiResult, Shared, fail, values};
use crate::value::Tmpl;

/// What scripts hold for a log group.
#[derive(Debug, Clone)]
pub(crate) struct LogGroup {
    pub id: String,
}

const OPTIONS: &str = "retention_days, kms_key";

/// The spec a `log_group(...)` call asks for.
fn spec(name: &str, opts: &Dynamic) -> Result<LogGroupSpec, String> {
    let who = format!("log_group '{name}'");
    let mut spec = LogGroupSpec {
        // Named when every resource is named.
        log_group_name: String::new(),
        retention_days: DEFAULT_RETENTION_DAYS,
        kms_key_id: None,
    };
    let expects = format!("a map of options ({OPTIONS})");
    read_options(&who, opts, &expects, OPTIONS, |k, v, field| {
        match k {
            "retention_days" => {
                let n = values::int_arg(v, "an integer number of days").map_err(|m| field(&m))?;
                log_group::check_retention(n).map_err(|m| format!("{who}: {m}"))?;
                spec.retention_days = n;
            }
            "kms_key" => {
                let arn = values::string_arg(v, "a KMS key ARN").map_err(|m| field(&m))?;
                // Empty (a parameter's default): CloudWatch's own encryption.
                if !arn.is_empty() {
                    if !refs::has_refs(&arn) {
                        log_group::check_kms_key(&arn).map_err(|m| field(&m))?;
                    }
                    spec.kms_key_id = Some(Tmpl::from_marked(&arn));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(spec)
}

fn declare(
    ctx: &NativeCallContext,
    s: &Shared,
    name: &str,
    opts: &Dynamic,
) -> RhaiResult<LogGroup> {
    let spec = spec(name, opts).or_else(|m| fail(ctx, m))?;
    let mut st = s.borrow_mut();
    let id = st.declare_spec(ctx, Kind::CloudwatchLogGroup, name, spec)?;
    Ok(LogGroup { id })
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    engine.register_type_with_name::<LogGroup>("LogGroup");
    crate::script::register_with_options(engine, state, "log_group", declare);
    engine.register_get("arn", |g: &mut LogGroup| refs::attr(&g.id, "arn"));
}
