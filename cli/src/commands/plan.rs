//! `detscript plan`: the plan as text or JSON; with `--refresh`, the diff against AWS.

use detscript_engine::Mode;

use super::{check_endpoint, compile_or_report};
use crate::cli::{Format, PlanArgs};
use crate::exit::Exit;
use crate::output::{print_diagnostics, print_out};

pub fn run(args: PlanArgs) -> Result<(), Exit> {
    if args.refresh {
        check_endpoint(&args.aws)?;
    }
    let script = args.script.read()?;
    if args.refresh {
        let compiled = compile_or_report(&script, Mode::Apply)?;
        print_diagnostics(&compiled.diagnostics);
        #[cfg(feature = "aws")]
        return crate::aws::command::plan_refresh(
            compiled.plan,
            &args.aws,
            args.output == Format::Json,
            args.detailed_exitcode,
        );
        #[cfg(not(feature = "aws"))]
        {
            let _ = (compiled, args.detailed_exitcode);
            return Err(super::without_aws("plan --refresh"));
        }
    }
    let compiled = compile_or_report(&script, Mode::Preview)?;
    print_diagnostics(&compiled.diagnostics);
    match args.output {
        Format::Text => print_out(&compiled.plan.render_text()),
        Format::Json => print_out(&compiled.plan.to_json()),
    }
}
