//! `detscript graph`: the plan's dependency graph in Graphviz DOT.

use detscript_engine::Mode;

use super::compile_or_report;
use crate::cli::GraphArgs;
use crate::exit::Exit;
use crate::output::print_out;

pub fn run(args: GraphArgs) -> Result<(), Exit> {
    let script = args.script.read()?;
    let compiled = compile_or_report(&script, Mode::Preview)?;
    script.warn(&compiled.diagnostics);
    print_out(&compiled.plan.to_dot())
}
