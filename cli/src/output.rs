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

/// Writes a command's result to the file of `-o FILE` (saying so on standard error), or to
/// standard output.
pub fn write_result(out: Option<&std::path::Path>, text: &str) -> Result<(), Exit> {
    let Some(path) = out else {
        return print_out(text);
    };
    std::fs::write(path, text).map_err(|e| {
        usage_error(format!(
            "cannot write {}: {e}",
            crate::input::show_path(path)
        ))
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The format and the output file of a command. `-o` names a file; `-o FORMAT` (a bare
/// format name such as `json`) and `--output FORMAT` are the old spellings of `--format`,
/// still accepted with a note.
pub fn resolve<F: clap::ValueEnum + Copy>(
    format: Option<F>,
    output: Option<F>,
    out: Option<&str>,
    default: F,
) -> (F, Option<std::path::PathBuf>) {
    let deprecated = |old: &str| {
        eprintln!(
            "note: {old} is deprecated: use --format (-f); -o names an output file in every command"
        )
    };
    let mut format = format;
    if let Some(f) = output {
        deprecated("--output FORMAT");
        format = format.or(Some(f));
    }
    let mut file = None;
    if let Some(o) = out {
        match F::from_str(o, false) {
            Ok(f) if !o.contains(['.', '/']) => {
                deprecated(&format!("-o {o}"));
                format = format.or(Some(f));
            }
            _ => file = Some(std::path::PathBuf::from(o)),
        }
    }
    (format.unwrap_or(default), file)
}
