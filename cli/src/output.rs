//! Printing diagnostics.

use detscript_engine::{Diagnostic, Severity};

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
