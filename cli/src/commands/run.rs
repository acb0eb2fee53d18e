//! `detscript run` (alias `apply`): create or update the deployment in AWS, from a script or
//! from a plan saved by `plan --refresh --out FILE`.

use crate::cli::RunArgs;
use crate::exit::Exit;

#[cfg(feature = "aws")]
pub fn run(args: RunArgs) -> Result<(), Exit> {
    use super::compile_or_report;
    use super::endpoint::check_endpoint;
    use detscript_engine::Mode;

    check_endpoint(&args.live.aws)?;
    if let Some(saved) = super::saved::read(&args.live.script.file) {
        let file = args.live.script.file.clone();
        return super::saved::apply(saved, &file, args);
    }
    let script = args.live.script.read()?;
    let compiled = compile_or_report(&script, Mode::Apply)?;
    script.warn(&compiled.diagnostics);
    let opts = crate::aws::command::RunOpts {
        yes: args.live.yes,
        parallelism: args.parallelism,
        json: args.format.json(),
        expect_changes: None,
        upgrade: args.upgrade.clone(),
    };
    crate::aws::command::run(compiled.plan, &args.live.aws, &opts)
}

/// Without the AWS executor, say what is missing before reading anything.
#[cfg(not(feature = "aws"))]
pub fn run(_args: RunArgs) -> Result<(), Exit> {
    Err(super::without_aws("run"))
}
