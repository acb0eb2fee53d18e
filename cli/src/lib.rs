//! The `detscript` command line: plan, render, graph and params today; apply later.

#![warn(clippy::print_stdout)]

pub mod aws;
mod cli;
mod input;
mod lint;
mod output;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The script or its inputs are invalid (syntax, runtime, validation, parameters).
    pub const SCRIPT: u8 = 1;
    /// The command line is wrong (unknown flag, missing argument, unreadable file).
    pub const USAGE: u8 = 2;
}

/// A failure that ends the command with an exit code; its message is already printed.
#[derive(Debug)]
pub struct Exit(pub u8);

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
    match cli::run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(Exit(code)) => ExitCode::from(code),
    }
}
