//! `detscript render`: master.yaml or the master's user-data.

use std::io::Write as _;
use std::path::Path;

use detscript_engine::{Mode, Reveal};

use super::compile_or_report;
use crate::cli::{RenderArgs, RenderTarget};
use crate::exit::{self, Exit};
use crate::input::{show_path, usage_error};
use crate::output::print_out;

pub fn run(args: RenderArgs) -> Result<(), Exit> {
    let script = args.script.read()?;
    // Writing a file needs every parameter; standard output shows unset ones as unset.
    let mode = if args.out.is_some() {
        Mode::Apply
    } else {
        Mode::Preview
    };
    let compiled = compile_or_report(&script, mode)?;
    script.warn(&compiled.diagnostics);
    let reveal = if args.out.is_some() || args.show_secrets {
        Reveal::Secrets
    } else {
        Reveal::Redact
    };
    let text = match args.what {
        RenderTarget::MasterYaml => compiled.plan.master_yaml(reveal),
        RenderTarget::UserData => compiled.plan.user_data(reveal),
    };
    let Some(text) = text else {
        eprintln!(
            "error: the script declares no master_instance(...).config(...), so there is no {}",
            args.what.file_name()
        );
        return Err(Exit(exit::SCRIPT));
    };
    let Some(path) = args.out else {
        return print_out(&text);
    };
    write_private(&path, &text)
        .map_err(|e| usage_error(format!("cannot write {}: {e}", show_path(&path))))?;
    let secrets: Vec<&str> = compiled.plan.secret_names().collect();
    if secrets.is_empty() {
        eprintln!("wrote {}", path.display());
    } else {
        eprintln!(
            "wrote {} (mode 0600; contains the secret parameters {})",
            path.display(),
            secrets.join(", ")
        );
    }
    Ok(())
}

/// Writes `text` into a file only its owner can read (0600, also when it existed).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())
}
