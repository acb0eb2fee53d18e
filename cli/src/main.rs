use std::process::ExitCode;

fn main() -> ExitCode {
    detscript::main()
}
