//! `detscript run` (alias `apply`): create or update the deployment in AWS.

use crate::cli::RunArgs;
use crate::exit::Exit;

#[cfg(feature = "aws")]
pub fn run(args: RunArgs) -> Result<(), Exit> {
    use super::compile_or_report;
    use super::endpoint::check_endpoint;
    use crate::cli::Format;
    use crate::output::print_diagnostics;
    use detscript_engine::Mode;

    check_endpoint(&args.aws)?;
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Apply)?;
    print_diagnostics(&compiled.diagnostics);
    let opts = crate::aws::command::RunOpts {
        yes: args.yes,
        parallelism: args.parallelism,
        json: args.output == Format::Json,
        upgrade: args.upgrade.clone(),
    };
    crate::aws::command::run(compiled.plan, &args.aws, &opts)
}

/// Without the AWS executor, say what is missing before reading anything.
#[cfg(not(feature = "aws"))]
pub fn run(_args: RunArgs) -> Result<(), Exit> {
    Err(super::without_aws("run"))
}
