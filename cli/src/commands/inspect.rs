//! `detscript outputs` and `detscript status`: the live deployment, read without changing it.

use crate::cli::{InspectArgs, StatusArgs};
use crate::exit::Exit;

#[cfg(feature = "aws")]
fn inspect(
    args: &InspectArgs,
    what: impl FnOnce(detscript_engine::Plan, bool) -> Result<String, Exit>,
) -> Result<(), Exit> {
    use crate::cli::Format;
    super::endpoint::check_endpoint(&args.aws)?;
    let (format, _) = args.format.resolve(None);
    let script = args.script.read()?;
    // Names and tags are enough: unset parameters (secrets) are fine.
    let compiled = super::compile_or_report(&script, detscript_engine::Mode::Preview)?;
    let text = what(compiled.plan, format == Format::Json)?;
    crate::output::print_out(&text)
}

#[cfg(feature = "aws")]
pub fn outputs(args: InspectArgs) -> Result<(), Exit> {
    inspect(&args, |plan, json| {
        crate::aws::inspect::outputs(plan, &args.aws, json)
    })
}

#[cfg(feature = "aws")]
pub fn status(args: StatusArgs) -> Result<(), Exit> {
    let StatusArgs {
        inspect: inner,
        master_url,
    } = args;
    inspect(&inner, |plan, json| {
        crate::aws::inspect::status(plan, &inner.aws, json, master_url)
    })
}

#[cfg(not(feature = "aws"))]
pub fn outputs(_args: InspectArgs) -> Result<(), Exit> {
    Err(super::without_aws("outputs"))
}

#[cfg(not(feature = "aws"))]
pub fn status(_args: StatusArgs) -> Result<(), Exit> {
    Err(super::without_aws("status"))
}
