//! `detscript plan`: the plan as text or JSON; with `--refresh`, the diff against AWS.

use detscript_engine::Mode;

use super::compile_or_report;
use crate::cli::{Format, PlanArgs};
use crate::exit::Exit;
use crate::output::{print_diagnostics, print_out};

pub fn run(args: PlanArgs) -> Result<(), Exit> {
    if args.refresh {
        return refresh(args);
    }
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Preview)?;
    print_diagnostics(&compiled.diagnostics);
    match args.output {
        Format::Text => print_out(&compiled.plan.render_text()),
        Format::Json => print_out(&compiled.plan.to_json()),
    }
}

/// `plan --refresh`: the diff against the live deployment.
#[cfg(feature = "aws")]
fn refresh(args: PlanArgs) -> Result<(), Exit> {
    super::endpoint::check_endpoint(&args.aws)?;
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Apply)?;
    print_diagnostics(&compiled.diagnostics);
    crate::aws::command::plan_refresh(
        compiled.plan,
        &args.aws,
        args.output == Format::Json,
        args.detailed_exitcode,
    )
}

#[cfg(not(feature = "aws"))]
fn refresh(_args: PlanArgs) -> Result<(), Exit> {
    Err(super::without_aws("plan --refresh"))
}
