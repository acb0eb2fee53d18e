use std::process::ExitCode;

/// mimalloc instead of the system allocator: planning 100,000 resources is about a tenth
/// cheaper (engine/benches/scale.sh; docs/performance.md). Built without transparent huge
/// pages, whose cost varied run to run with the machine's memory.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    detscript::main()
}
