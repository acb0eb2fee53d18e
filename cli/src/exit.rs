//! Exit codes: the one list the binary, `--help` and the README follow.
//!
//! | code | constant | meaning |
//! |---|---|---|
//! | 0 | [`OK`] | success |
//! | 1 | [`SCRIPT`] | the script or its inputs are invalid; a declined confirmation; a stale saved plan |
//! | 2 | [`USAGE`] | usage error |
//! | 2 | [`CHANGES`] | `plan --refresh --detailed-exitcode`: changes are pending |
//! | 3 | [`AWS`] | AWS error (`run`, `destroy`, `plan --refresh`) |

/// The command did what was asked (for `plan --detailed-exitcode`: no changes are pending).
pub const OK: u8 = 0;
/// The script or its inputs are invalid: syntax, runtime or validation error, a bad parameter
/// value, lint findings that fail the check; also a declined confirmation of `run`/`destroy`,
/// and a saved plan that no longer matches the script, its parameters or live AWS.
pub const SCRIPT: u8 = 1;
/// The command line is wrong: unknown flag, missing argument, unreadable or unsuitable file
/// (not a regular file, too large, malformed params file), a malformed `--endpoint-url`,
/// `--yes` missing without a terminal.
pub const USAGE: u8 = 2;
/// `plan --refresh --detailed-exitcode`: changes are pending (as `terraform plan`). Shares its
/// value with [`USAGE`], as terraform's does.
pub const CHANGES: u8 = 2;
/// AWS error: no credentials or region, an API call failed, a run failed half-way, or a
/// same-named resource that this deployment does not own blocks the run.
pub const AWS: u8 = 3;

/// A failure that ends the command with an exit code; its message is already printed.
#[derive(Debug)]
pub struct Exit(pub u8);

/// The exit-code table of `--help`: `Exit codes:` then one `  CODE  meaning` line per row.
pub fn table(rows: &[(u8, &str)]) -> String {
    let mut out = String::from("Exit codes:");
    for (code, meaning) in rows {
        out.push_str(&format!("\n  {code}  {meaning}"));
    }
    out
}

/// The rows of the commands that need no AWS (plan, render, graph, params, export).
pub const OFFLINE: &[(u8, &str)] = &[
    (OK, "success"),
    (
        SCRIPT,
        "the script or its inputs are invalid (syntax, runtime or validation error, bad parameter)",
    ),
    (
        USAGE,
        "usage error (unknown flag, missing argument, unreadable file)",
    ),
];

/// The rows of `lint`.
pub const LINT: &[(u8, &str)] = &[
    (OK, "no error (and, with --deny warnings, no warning)"),
    (
        SCRIPT,
        "findings that fail the check, or the script is invalid",
    ),
    (
        USAGE,
        "usage error (unknown flag, missing argument, unreadable file)",
    ),
];

/// The rows of the commands that talk to AWS (run, destroy; plan --refresh).
pub const WITH_AWS: &[(u8, &str)] = &[
    (
        OK,
        "success (for plan --detailed-exitcode: no changes pending)",
    ),
    (
        SCRIPT,
        "the script or its inputs are invalid, the confirmation was declined, or a saved plan no longer \
matches the script, its parameters or live AWS",
    ),
    (
        USAGE,
        "usage error (unknown flag, missing argument, unreadable file, --yes missing without a terminal); \
with plan --detailed-exitcode: changes are pending",
    ),
    (
        AWS,
        "AWS error: no credentials or region, an API call failed, a run failed half-way, or a same-named \
resource not owned by this deployment blocks the run",
    ),
];

// The AWS table describes USAGE and CHANGES in one row.
const _: () = assert!(USAGE == CHANGES);

/// `Examples:` text, a blank line, then the table: the `after_help` of a command.
pub fn after_help(examples: &str, rows: &[(u8, &str)]) -> String {
    format!("{examples}\n\n{}", table(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_table_reads_as_documented() {
        assert_eq!(
            table(OFFLINE),
            "Exit codes:\n  0  success\n  1  the script or its inputs are invalid (syntax, runtime or validation error, bad parameter)\n  2  usage error (unknown flag, missing argument, unreadable file)"
        );
    }
}
