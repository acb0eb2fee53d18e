//! `detscript export`: the plan as a CloudFormation template.

use detscript_engine::{Mode, cfn};

use super::compile_or_report;
use crate::cli::{ExportArgs, ExportFormat};
use crate::exit::{self, Exit};
use crate::output::{print_diagnostics, write_result};

pub fn run(args: ExportArgs) -> Result<(), Exit> {
    let script = args.script.read()?;
    // Unset parameters and secrets become template parameters.
    let compiled = compile_or_report(&script, Mode::Preview)?;
    script.warn(&compiled.diagnostics);
    let template = match cfn::export(&compiled.plan, &compiled.params) {
        Ok(t) => t,
        Err(errors) => {
            print_diagnostics(&errors);
            return Err(Exit(exit::SCRIPT));
        }
    };
    let text = match args.format {
        ExportFormat::Cloudformation => cfn::to_yaml(&template),
        ExportFormat::Json => cfn::to_json(&template),
    };
    write_result(args.out.as_deref(), &text)
}
