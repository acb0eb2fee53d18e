//! Saved plans: `plan --refresh --out FILE` writes the plan with the hashes of what it was
//! made from (the script's text, the plan, the changes against live AWS); `run FILE` applies
//! it only while all three still match.
//!
//! The changes' hash is the SHA-256 of the diff's JSON (every change and removal with its
//! details, the unchanged count, conflicts): live state that changes what `run` would do
//! makes the saved plan stale; live state that does not is no reason to plan again.

use sha2::{Digest as _, Sha256};

use super::command::diff_json;
use super::diff::Diff;
use super::ui::Ui;
use crate::{Exit, exit};

/// Writes the saved plan once the diff is known.
pub type Save = Box<dyn FnOnce(&Diff) -> Result<(), Exit>>;

/// The SHA-256 (hex) of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash of the changes `d` would make (notices change nothing, so they are left out: a
/// newer AMI in the master's SSM parameter does not make a saved plan stale).
pub fn changes_sha256(d: &Diff) -> String {
    let mut json = diff_json(d);
    if let Some(m) = json.as_object_mut() {
        m.remove("notices");
    }
    sha256_hex(&json.to_string())
}

/// Applying a saved plan: refuses when the changes against live AWS are no longer the saved
/// ones (someone changed AWS, or another run happened, since the plan was saved).
pub fn check_changes(d: &Diff, expected: Option<&str>, ui: &Ui) -> Result<(), Exit> {
    let Some(want) = expected else {
        return Ok(());
    };
    if changes_sha256(d) == want {
        return Ok(());
    }
    ui.say(
        "error: live AWS changed since the plan was saved: the changes above are not the saved ones. \
Nothing was changed; make a new plan (detscript plan SCRIPT --refresh --out FILE) and review it.",
    );
    Err(Exit(exit::SCRIPT))
}
