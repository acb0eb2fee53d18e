//! A whole-process measurement of planning without the CLI's AWS SDK: compiles a script
//! and writes its plan as `detscript plan` does (`json`, `text`, or `none` to compile
//! only). Used by `engine/benches/scale.sh`: `cargo run --release -p detscript-engine
//! --example plan_file -- FILE json|text|none`.

use std::io::Write as _;

use detscript_engine::{CompileRequest, Mode, compile};

// The allocator of `detscript` (cli/src/main.rs), so that the numbers match.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(output)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: plan_file FILE json|text|none");
        std::process::exit(2);
    };
    let source = std::fs::read_to_string(file).expect("readable script");
    let compiled = match compile(&CompileRequest::new(file, &source, Mode::Preview)) {
        Ok(c) => c,
        Err(f) => {
            for d in &f.diagnostics {
                eprintln!("{}", d.message);
            }
            std::process::exit(1);
        }
    };
    let text = match output.as_str() {
        "json" => compiled.plan.to_json(),
        "text" => compiled.plan.render_text(),
        _ => String::new(),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .expect("stdout");
    // As `detscript plan` does: the plan is not freed block by block before exit.
    std::mem::forget(compiled);
}
