//! `detscript run` (alias `apply`): create or update the deployment in AWS.

use detscript_engine::Mode;

use super::{check_endpoint, compile_or_report};
use crate::cli::{Format, RunArgs};
use crate::exit::Exit;
use crate::output::print_diagnostics;

pub fn run(args: RunArgs) -> Result<(), Exit> {
    check_endpoint(&args.aws)?;
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Apply)?;
    print_diagnostics(&compiled.diagnostics);
    #[cfg(feature = "aws")]
    {
        let opts = crate::aws::command::RunOpts {
            yes: args.yes,
            parallelism: args.parallelism,
            json: args.output == Format::Json,
        };
        crate::aws::command::run(compiled.plan, &args.aws, &opts)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (
            compiled,
            args.yes,
            args.parallelism,
            args.output == Format::Json,
        );
        Err(super::without_aws("run"))
    }
}
