//! Printing: diagnostics on standard error, results on standard output.

use std::io::Write as _;

use detscript_engine::{Diagnostic, Severity};

use crate::exit::Exit;
use crate::input::usage_error;

pub fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprint!("{}", d.render());
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        eprintln!(
            "{errors} error{} found; nothing was planned",
            if errors == 1 { "" } else { "s" }
        );
    }
}

/// Writes a command's result to standard output.
pub fn print_out(text: &str) -> Result<(), Exit> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`detscript plan ... | head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(usage_error(format!("cannot write to standard output: {e}"))),
    }
}
