//! `plan --refresh --out FILE` and `run FILE`: saving a plan and applying exactly it.
//!
//! The file is JSON: the script's path and SHA-256, the parameter values given (secrets left
//! out: `run` needs them again, from `--param` or `DETSCRIPT_PARAM_NAME`), the plan's own
//! sha256, and the changes against live AWS with their hash. `run FILE` reads the script
//! again and refuses, changing nothing, when its text, the plan it compiles to, or the changes
//! against live AWS differ from the saved ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use detscript_engine::{Compiled, Mode, ParamInput};
use serde_json::{Map, Value, json};

use super::compile_or_report;
use crate::aws::saved::{Save, changes_sha256, sha256_hex};
use crate::cli::RunArgs;
use crate::exit::{self, Exit};
use crate::input::{Script, env_params, quote, read_script, read_text, show_path, usage_error};

/// The key that marks a saved plan, and its format version.
const MARK: &str = "detscript_saved_plan";
const VERSION: u64 = 1;

/// What `plan --refresh --out FILE` writes once the diff is known.
pub fn saver(script: &Script, compiled: &Compiled, out: PathBuf) -> Result<Save, Exit> {
    if script.display == "<stdin>" {
        return Err(usage_error(
            "a script read from standard input cannot be saved as a plan: `run FILE` reads the script again; save it to a file",
        ));
    }
    let secret: Vec<&str> = compiled
        .params
        .iter()
        .filter(|p| p.secret)
        .map(|p| p.name.as_str())
        .collect();
    let params: Map<String, Value> = script
        .params
        .iter()
        .filter(|(k, _)| !secret.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = match v {
                ParamInput::Text(t) => json!({ "text": t }),
                ParamInput::Json(j) => json!({ "json": j }),
            };
            (k.clone(), v)
        })
        .collect();
    let mut doc = json!({
        MARK: VERSION,
        "script": script.display,
        "script_sha256": sha256_hex(&script.source),
        "params": params,
        "secret_params": secret,
        "plan_sha256": compiled.plan.sha256(),
    });
    Ok(Box::new(move |d| {
        doc["changes_sha256"] = json!(changes_sha256(d));
        doc["changes"] = crate::aws::command::diff_json(d);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        crate::output::write_result(Some(&out), &text)?;
        eprintln!(
            "Saved the plan: `detscript run {}` applies exactly these changes.",
            out.display()
        );
        Ok(())
    }))
}

/// The saved plan in `file`, if it is one (a script is not JSON).
pub fn read(file: &Path) -> Option<Value> {
    if file.as_os_str() == crate::input::STDIN {
        return None;
    }
    let text = read_text(file).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get(MARK).is_some().then_some(v)
}

/// A stale saved plan: nothing is changed.
fn stale(what: String) -> Exit {
    eprintln!(
        "error: {what}; nothing was changed. Make a new plan (detscript plan SCRIPT --refresh --out FILE) and review it."
    );
    Exit(exit::SCRIPT)
}

/// `run FILE` with a saved plan.
pub fn apply(saved: Value, file: &Path, args: RunArgs) -> Result<(), Exit> {
    let shown = show_path(file);
    if saved[MARK].as_u64() != Some(VERSION) {
        return Err(usage_error(format!(
            "{shown} is a saved plan of another detscript version (format {}); make a new plan",
            saved[MARK]
        )));
    }
    if args.live.script.params.is_some() {
        return Err(usage_error(
            "a saved plan carries its parameters: --params is not accepted with it (secret parameters: --param or DETSCRIPT_PARAM_NAME)",
        ));
    }
    let text = |k: &str| saved[k].as_str().unwrap_or_default().to_string();
    let secret: Vec<String> = saved["secret_params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let script_path = PathBuf::from(text("script"));
    let mut script = read_script(&script_path, &args.live.script.param, None)?;
    script.quiet = args.live.script.quiet;
    if let Some(name) = script.from_flags.iter().find(|n| !secret.contains(n)) {
        return Err(usage_error(format!(
            "--param {}: a saved plan carries its parameters; only secret ones ({}) may be given",
            quote(name),
            if secret.is_empty() {
                "none".to_string()
            } else {
                secret.join(", ")
            }
        )));
    }
    for (name, value) in env_params()? {
        if secret.contains(&name) && !script.from_flags.contains(&name) {
            script.params.insert(name, ParamInput::Text(value));
        }
    }
    let given: BTreeMap<String, ParamInput> = saved["params"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let input = match (v.get("text"), v.get("json")) {
                (Some(Value::String(t)), _) => ParamInput::Text(t.clone()),
                (_, Some(j)) => ParamInput::Json(j.clone()),
                _ => return None,
            };
            Some((k.clone(), input))
        })
        .collect();
    script.params.extend(given);
    if sha256_hex(&script.source) != text("script_sha256") {
        return Err(stale(format!(
            "{} changed since the plan {shown} was saved",
            script.display
        )));
    }
    let compiled = compile_or_report(&script, Mode::Apply)?;
    script.warn(&compiled.diagnostics);
    if compiled.plan.sha256() != text("plan_sha256") {
        return Err(stale(format!(
            "{} no longer compiles to the plan saved in {shown} (an import, the engine or a secret parameter changed)",
            script.display
        )));
    }
    eprintln!(
        "Applying the plan saved in {shown} (from {}).",
        script.display
    );
    let opts = crate::aws::command::RunOpts {
        yes: true,
        parallelism: args.parallelism,
        json: args.format.json(),
        expect_changes: Some(text("changes_sha256")),
        upgrade: args.upgrade.clone(),
    };
    crate::aws::command::run(compiled.plan, &args.live.aws, &opts)
}
