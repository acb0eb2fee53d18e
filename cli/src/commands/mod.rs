//! One module per command; [`run`] dispatches to them.

pub mod destroy;
#[cfg(feature = "aws")]
mod endpoint;
pub mod explain;
pub mod export;
pub mod graph;
pub mod inspect;
pub mod lint;
pub mod params;
pub mod plan;
pub mod render;
pub mod run;
#[cfg(feature = "aws")]
mod saved;

use detscript_engine::budget::{self, MAX_MEMORY};
use detscript_engine::{Compiled, Interrupt, Mode, compile_with_interrupt};

use crate::cli::{Cli, Command, Format, FormatArgs, ProgressFormat, ScriptArgs};
use crate::exit::{self, Exit};
use crate::input::{Script, read_script};
use crate::output::print_diagnostics;

pub fn run(cli: Cli) -> Result<(), Exit> {
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Run(args) => run::run(args),
        Command::Destroy(args) => destroy::run(args),
        Command::Render(args) => render::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Export(args) => export::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Params(args) => params::run(args),
        Command::Outputs(args) => inspect::outputs(args),
        Command::Status(args) => inspect::status(args),
        Command::Explain(args) => explain::run(args),
        Command::Completions(args) => explain::completions(args),
        Command::Man => explain::man(),
    }
}

impl ScriptArgs {
    /// Reads the script and its parameter values: `--params`, then `DETSCRIPT_PARAM_NAME`
    /// variables of parameters the script declares, then `--param`.
    fn read(&self) -> Result<Script, Exit> {
        let mut script = read_script(&self.file, &self.param, self.params.as_deref())?;
        script.quiet = self.quiet;
        apply_env_params(&mut script)?;
        Ok(script)
    }
}

impl FormatArgs {
    /// The format, and the file of `-o FILE` (`-o json` is the old spelling of the format).
    fn resolve(&self, out: Option<&str>) -> (Format, Option<std::path::PathBuf>) {
        crate::output::resolve(self.format, self.output, out, Format::Text)
    }
}

impl ProgressFormat {
    /// True for the JSON event stream (`--format json`, or the old `-o json`).
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    fn json(&self) -> bool {
        crate::output::resolve(self.format, self.output, None, Format::Text).0 == Format::Json
    }
}

impl Script {
    /// Prints the compile's warnings and lint findings, unless `--quiet`.
    fn warn(&self, diagnostics: &[detscript_engine::Diagnostic]) {
        if !self.quiet {
            print_diagnostics(diagnostics);
        }
    }
}

/// Adds the environment's parameter values for the parameters the script declares (a
/// variable left over for another script is not an error); `--param` wins.
fn apply_env_params(script: &mut Script) -> Result<(), Exit> {
    let env = crate::input::env_params()?;
    if env.is_empty() {
        return Ok(());
    }
    let declared = match detscript_engine::declared_params_with_interrupt(
        &script.request(Mode::Preview),
        script_deadline(),
    ) {
        Ok(specs) => specs.into_iter().map(|s| s.name).collect::<Vec<_>>(),
        // The compile that follows reports the script's errors.
        Err(_) => return Ok(()),
    };
    for (name, value) in env {
        if declared.contains(&name) && !script.from_flags.contains(&name) {
            script
                .params
                .insert(name, detscript_engine::ParamInput::Text(value));
        }
    }
    Ok(())
}

/// Wall-clock budget of one script run; the operation limit usually ends runaway scripts first.
const SCRIPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops a script that runs longer than [`SCRIPT_DEADLINE`] from now, or makes the process
/// use more than [`MAX_MEMORY`].
fn script_deadline() -> Interrupt {
    let started = std::time::Instant::now();
    let memory = MemoryWatch::new();
    std::rc::Rc::new(move || {
        if memory.as_ref().is_some_and(MemoryWatch::over) {
            return Some(budget::memory_exceeded());
        }
        (started.elapsed() > SCRIPT_DEADLINE)
            .then(|| format!("it ran longer than {} s", SCRIPT_DEADLINE.as_secs()))
    })
}

/// The process's resident memory, from `/proc/self/statm` (Linux; elsewhere only the
/// engine's own limits apply). Read less often while far below the limit: one call of the
/// interrupt covers [`budget::INTERRUPT_EVERY`] operations, and one operation allocates at
/// most [`GROWTH_PER_OPERATION`].
struct MemoryWatch {
    statm: std::fs::File,
    page: usize,
    skip: std::cell::Cell<usize>,
}

const GROWTH_PER_OPERATION: usize = 2 << 20;

impl MemoryWatch {
    fn new() -> Option<Self> {
        let statm = std::fs::File::open("/proc/self/statm").ok()?;
        // The page size, without libc: VmRSS (kB) over the resident pages.
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let mut watch = MemoryWatch {
            statm,
            page: 1,
            skip: std::cell::Cell::new(0),
        };
        let pages = watch.resident()?.max(1);
        watch.page = (kb * 1024 / pages).max(4096).next_power_of_two();
        Some(watch)
    }

    /// Resident pages.
    #[cfg(not(unix))]
    fn resident(&self) -> Option<usize> {
        None
    }

    /// Resident pages.
    #[cfg(unix)]
    fn resident(&self) -> Option<usize> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let n = self.statm.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }

    fn over(&self) -> bool {
        let skip = self.skip.get();
        if skip > 0 {
            self.skip.set(skip - 1);
            return false;
        }
        let Some(bytes) = self.resident().map(|p| p * self.page) else {
            return false;
        };
        if bytes > MAX_MEMORY {
            return true;
        }
        let per_call = budget::INTERRUPT_EVERY as usize * GROWTH_PER_OPERATION;
        self.skip.set((MAX_MEMORY - bytes) / per_call);
        false
    }
}

/// Compiles the script; prints what it printed, or its errors.
fn compile_or_report(script: &Script, mode: Mode) -> Result<Compiled, Exit> {
    let req = script.request(mode);
    match compile_with_interrupt(&req, script_deadline()) {
        Ok(c) => {
            for line in &c.printed {
                eprintln!("script: {line}");
            }
            Ok(c)
        }
        Err(f) => {
            print_diagnostics(&f.diagnostics);
            Err(Exit(exit::SCRIPT))
        }
    }
}

/// Without the `aws` feature, the commands that talk to AWS explain how to get them.
#[cfg(not(feature = "aws"))]
fn without_aws(command: &str) -> Exit {
    eprintln!(
        "error: {command} needs the AWS executor, and this detscript was built without it \
(cargo feature \"aws\"); build it with: cargo install --path cli"
    );
    Exit(crate::exit::USAGE)
}
