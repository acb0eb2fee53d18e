//! `detscript destroy`: delete everything the deployment owns in AWS.

use crate::cli::DestroyArgs;
use crate::exit::Exit;

#[cfg(feature = "aws")]
pub fn run(args: DestroyArgs) -> Result<(), Exit> {
    use super::compile_or_report;
    use super::endpoint::check_endpoint;
    use detscript_engine::Mode;

    check_endpoint(&args.live.aws)?;
    let script = args.live.script.read()?;
    // Destroy needs names and tags only: unset parameters (e.g. secrets) are fine.
    let compiled = compile_or_report(&script, Mode::Preview)?;
    let opts = crate::aws::command::DestroyOpts {
        yes: args.live.yes,
        parallelism: args.parallelism,
        json: args.format.json(),
        delete_data: args.delete_data,
        skip_final_snapshot: args.skip_final_snapshot,
        delete_secrets_now: args.delete_secrets_now,
    };
    crate::aws::command::destroy(compiled.plan, &args.live.aws, &opts)
}

/// Without the AWS executor, say what is missing before reading anything.
#[cfg(not(feature = "aws"))]
pub fn run(_args: DestroyArgs) -> Result<(), Exit> {
    Err(super::without_aws("destroy"))
}
