//! Thin wasm-bindgen glue over `detscript-engine` for the preview page.
//!
//! Everything that decides what a plan is lives in the engine; this file only
//! moves strings across the JS boundary. Results are JSON strings so that the
//! plan JSON reaches the page byte for byte as `Plan::to_json` wrote it.

use std::collections::BTreeMap;
use std::rc::Rc;

use detscript_engine::{
    CompileRequest, Diagnostic, MapLoader, Mode, ParamInput, ParamSpec, Reveal, compile,
    declared_params,
};
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

/// Compiles `source` (named `file`) in preview mode.
///
/// `params_json` is an object of parameter values: strings are taken as typed
/// in a form field or on a command line, anything else as JSON. `modules_json`
/// is an object `{ "lib/x.rhai": "<source>" }` for `import`.
///
/// Returns a JSON object: `ok`, `plan_json` (the exact `Plan::to_json` string,
/// or null), `text`, `dot`, `master_yaml`, `user_data`, `resources`,
/// `diagnostics`, `params`, `printed`. Secrets are always redacted.
#[wasm_bindgen]
pub fn plan(file: &str, source: &str, params_json: &str, modules_json: &str) -> String {
    let params = match parse_params(params_json) {
        Ok(params) => params,
        Err(message) => return input_error(file, message),
    };
    let out = match compile(&request(file, source, params, modules_json)) {
        Ok(compiled) => {
            let plan = &compiled.plan;
            json!({
                "ok": true,
                "plan_json": plan.to_json(),
                "text": plan.render_text(),
                "dot": plan.to_dot(),
                "master_yaml": plan.master_yaml(Reveal::Redact),
                "user_data": plan.user_data(Reveal::Redact),
                "resources": plan.len(),
                "diagnostics": compiled.diagnostics,
                "params": compiled.params,
                "printed": compiled.printed,
            })
        }
        Err(failure) => failed(failure.diagnostics, failure.params),
    };
    out.to_string()
}

/// The parameters `source` declares: `{ "ok": bool, "params": [...] }`. When the script
/// fails, `params` lists those declared before the failure (none after a syntax error).
#[wasm_bindgen]
pub fn params(file: &str, source: &str, modules_json: &str) -> String {
    let (ok, specs) = match declared_params(&request(file, source, BTreeMap::new(), modules_json)) {
        Ok(specs) => (true, specs),
        Err(failure) => (false, failure.params),
    };
    json!({ "ok": ok, "params": specs }).to_string()
}

/// The engine version this page was built with.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A preview-mode request; the page bundles every `scripts/**/*.rhai` for `import`,
/// keyed by path relative to scripts/.
fn request<'a>(
    file: &'a str,
    source: &'a str,
    params: BTreeMap<String, ParamInput>,
    modules_json: &str,
) -> CompileRequest<'a> {
    let modules: BTreeMap<String, String> = serde_json::from_str(modules_json).unwrap_or_default();
    CompileRequest {
        file,
        source,
        params,
        mode: Mode::Preview,
        loader: Rc::new(MapLoader(modules)),
    }
}

fn parse_params(params_json: &str) -> Result<BTreeMap<String, ParamInput>, String> {
    let values: BTreeMap<String, Value> = serde_json::from_str(params_json)
        .map_err(|err| format!("page sent malformed parameters: {err}"))?;
    Ok(values
        .into_iter()
        .map(|(name, value)| {
            let input = match value {
                Value::String(text) => ParamInput::Text(text),
                other => ParamInput::Json(other),
            };
            (name, input)
        })
        .collect())
}

fn failed(diagnostics: Vec<Diagnostic>, params: Vec<ParamSpec>) -> Value {
    json!({
        "ok": false,
        "plan_json": null,
        "diagnostics": diagnostics,
        "params": params,
    })
}

fn input_error(file: &str, message: String) -> String {
    json!({
        "ok": false,
        "plan_json": null,
        "diagnostics": [{
            "severity": "error", "code": null, "message": message,
            "file": file, "line": 0, "column": 0, "notes": [],
        }],
        "params": [],
    })
    .to_string()
}
