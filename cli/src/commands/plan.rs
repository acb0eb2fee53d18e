//! `detscript plan`: the plan as text or JSON; with `--refresh`, the diff against AWS, and
//! with `--out FILE` the plan saved for `detscript run FILE`.

use std::path::PathBuf;

use detscript_engine::Mode;

use super::compile_or_report;
use crate::cli::{Format, PlanArgs};
use crate::exit::Exit;
use crate::input::usage_error;
use crate::output::print_out;

pub fn run(args: PlanArgs) -> Result<(), Exit> {
    let (format, out) = args.format.resolve(args.out.as_deref());
    if args.refresh {
        return refresh(args, format, out);
    }
    if out.is_some() {
        return Err(usage_error(
            "--out saves a plan for `detscript run FILE`, which applies it against live AWS: add --refresh \
(for the plan's JSON without AWS, use --format json)",
        ));
    }
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Preview)?;
    script.warn(&compiled.diagnostics);
    let printed = match format {
        Format::Text => print_out(&compiled.plan.render_text()),
        Format::Json => print_out(&compiled.plan.to_json()),
    };
    // The process ends here: freeing a large plan block by block costs more than the
    // operating system taking the memory back at exit (5 % of a 100,000-resource plan).
    std::mem::forget(compiled);
    printed
}

/// `plan --refresh`: the diff against the live deployment.
#[cfg(feature = "aws")]
fn refresh(args: PlanArgs, format: Format, out: Option<PathBuf>) -> Result<(), Exit> {
    super::endpoint::check_endpoint(&args.aws)?;
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Apply)?;
    script.warn(&compiled.diagnostics);
    let save = match out {
        Some(path) => Some(super::saved::saver(&script, &compiled, path)?),
        None => None,
    };
    crate::aws::command::plan_refresh(
        compiled.plan,
        &args.aws,
        format == Format::Json,
        args.detailed_exitcode,
        save,
    )
}

#[cfg(not(feature = "aws"))]
fn refresh(_args: PlanArgs, _format: Format, _out: Option<PathBuf>) -> Result<(), Exit> {
    Err(super::without_aws("plan --refresh"))
}
