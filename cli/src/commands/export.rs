//! `detscript export`: the plan as a CloudFormation template.

use detscript_engine::{Mode, cfn};

use super::compile_or_report;
use crate::cli::{ExportArgs, ExportFormat};
use crate::exit::{self, Exit};
use crate::input::{show_path, usage_error};
use crate::output::{print_diagnostics, print_out};

pub fn run(args: ExportArgs) -> Result<(), Exit> {
    let script = args.script.read()?;
    // Unset parameters and secrets become template parameters.
    let compiled = compile_or_report(&script, Mode::Preview)?;
    print_diagnostics(&compiled.diagnostics);
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
    match args.out {
        Some(path) => {
            std::fs::write(&path, &text)
                .map_err(|e| usage_error(format!("cannot write {}: {e}", show_path(&path))))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        None => print_out(&text),
    }
}
