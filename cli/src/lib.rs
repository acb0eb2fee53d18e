//! The `detscript` command line: plan, render, graph, params, lint, export, run and destroy.

#![warn(clippy::print_stdout)]

#[cfg(feature = "aws")]
pub mod aws;
mod cli;
mod commands;
pub mod exit;
mod input;
mod output;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;
pub use exit::Exit;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(Exit(code)) => ExitCode::from(code),
    }
}
