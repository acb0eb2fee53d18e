//! `detscript destroy`: delete everything the deployment owns in AWS.

use detscript_engine::Mode;

use super::{check_endpoint, compile_or_report};
use crate::cli::{DestroyArgs, Format};
use crate::exit::Exit;

pub fn run(args: DestroyArgs) -> Result<(), Exit> {
    check_endpoint(&args.aws)?;
    let script = args.script.read()?;
    // Destroy needs names and tags only: unset parameters (e.g. secrets) are fine.
    let compiled = compile_or_report(&script, Mode::Preview)?;
    #[cfg(feature = "aws")]
    {
        let opts = crate::aws::command::DestroyOpts {
            yes: args.yes,
            parallelism: args.parallelism,
            json: args.output == Format::Json,
            delete_data: args.delete_data,
            skip_final_snapshot: args.skip_final_snapshot,
        };
        crate::aws::command::destroy(compiled.plan, &args.aws, &opts)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (
            compiled,
            args.yes,
            args.parallelism,
            args.output == Format::Json,
        );
        let _ = (args.delete_data, args.skip_final_snapshot);
        Err(super::without_aws("destroy"))
    }
}
