//! Thin wasm-bindgen glue over `detscript-engine` for the preview page.
//!
//! Everything that decides what a plan is lives in the engine; this file only
//! moves strings across the JS boundary. Results are JSON strings so that the
//! plan JSON reaches the page byte for byte as `Plan::to_json` wrote it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use detscript_engine::budget::{self, MAX_MEMORY};
use detscript_engine::{
    CompileRequest, Compiled, Diagnostic, Interrupt, MapLoader, Mode, ParamInput, ParamSpec,
    Reveal, compile_with_interrupt, declared_params_with_interrupt,
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
/// or null), `resources`, `diagnostics`, `params`, `printed`, and `restart` (true when this instance's memory
/// grew past half the sandbox limit: the page should load a fresh instance, since wasm
/// memory never shrinks and [`script_guard`] measures its size). Secrets are always
/// redacted. A successful plan is kept for [`files`] and [`cloudformation`], which the
/// page asks for after it has shown the plan (so a plan while typing computes only the JSON).
#[wasm_bindgen]
pub fn plan(file: &str, source: &str, params_json: &str, modules_json: &str) -> String {
    let params = match parse_params(params_json) {
        Ok(params) => params,
        Err(message) => return input_error(file, message),
    };
    let req = request(file, source, params, modules_json);
    let mut out = match compile_with_interrupt(&req, script_guard()) {
        Ok(compiled) => {
            let plan = &compiled.plan;
            let out = json!({
                "ok": true,
                "plan_json": plan.to_json(),
                "resources": plan.len(),
                "diagnostics": compiled.diagnostics,
                "params": compiled.params,
                "printed": compiled.printed,
            });
            LAST_GOOD.with(|last| *last.borrow_mut() = Some(compiled));
            out
        }
        Err(failure) => failed(failure.diagnostics, failure.params),
    };
    out["restart"] = json!(memory_used() > MAX_MEMORY / 2);
    out.to_string()
}

thread_local! {
    /// The last plan [`plan`] computed without errors: the CloudFormation tab exports it
    /// when it is opened, so a plan costs no export while typing.
    static LAST_GOOD: RefCell<Option<Compiled>> = const { RefCell::new(None) };
}

/// The last good plan's other forms: `{ "text", "dot", "master_yaml", "user_data" }` (the
/// last two null without a master instance; secrets redacted), or null before any plan.
#[wasm_bindgen]
pub fn files() -> String {
    LAST_GOOD.with(|last| match last.borrow().as_ref() {
        Some(Compiled { plan, .. }) => json!({
            "text": plan.render_text(),
            "dot": plan.to_dot(),
            "master_yaml": plan.master_yaml(Reveal::Redact),
            "user_data": plan.user_data(Reveal::Redact),
        })
        .to_string(),
        None => "null".to_string(),
    })
}

/// The last good plan as a CloudFormation template, as `detscript export` writes it:
/// `{ "ok": true, "yaml": "...", "json": "..." }`, or `{ "ok": false, "diagnostics": [...] }`
/// naming the resources the exporter cannot express (or saying there is no plan yet).
/// Only in the module built with the `cfn` feature (`www/pkg/cfn/`, which the page loads
/// when the tab opens): without a caller, LTO leaves the exporter out of the page's module.
#[cfg(feature = "cfn")]
#[wasm_bindgen]
pub fn cloudformation() -> String {
    LAST_GOOD.with(|last| {
        let last = last.borrow();
        let Some(compiled) = last.as_ref() else {
            return failed(
                vec![Diagnostic::error("no plan yet", &Default::default())],
                vec![],
            )
            .to_string();
        };
        match detscript_engine::cfn::export(&compiled.plan, &compiled.params) {
            Ok(template) => json!({
                "ok": true,
                "yaml": detscript_engine::cfn::to_yaml(&template),
                "json": detscript_engine::cfn::to_json(&template),
            }),
            Err(errors) => failed(errors, vec![]),
        }
        .to_string()
    })
}

/// The parameters `source` declares: `{ "ok": bool, "params": [...] }`. When the script
/// fails, `params` lists those declared before the failure (none after a syntax error).
#[wasm_bindgen]
pub fn params(file: &str, source: &str, modules_json: &str) -> String {
    let req = request(file, source, BTreeMap::new(), modules_json);
    let (ok, specs) = match declared_params_with_interrupt(&req, script_guard()) {
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

/// Wall-clock budget of one script run, as in the CLI.
const SCRIPT_DEADLINE_MS: f64 = 10_000.0;

#[wasm_bindgen]
extern "C" {
    /// `Date.now()`: milliseconds (the engine itself has no clock).
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// Stops a script that runs longer than [`SCRIPT_DEADLINE_MS`] or grows this instance's
/// memory past [`MAX_MEMORY`]. Asked every few operations: memory every time (one
/// instruction), the clock every 16th time (a call into JS).
fn script_guard() -> Interrupt {
    let started = date_now();
    let calls = std::cell::Cell::new(0u32);
    Rc::new(move || {
        if memory_used() > MAX_MEMORY {
            return Some(budget::memory_exceeded());
        }
        calls.set(calls.get().wrapping_add(1));
        (calls.get() % 16 == 0 && date_now() - started > SCRIPT_DEADLINE_MS).then(|| {
            format!(
                "it ran longer than {} s",
                (SCRIPT_DEADLINE_MS / 1000.0) as u32
            )
        })
    })
}

/// Bytes of this instance's linear memory: it grows when the allocator needs more and
/// never shrinks, so it bounds what scripts have held at once.
#[cfg(target_arch = "wasm32")]
fn memory_used() -> usize {
    core::arch::wasm32::memory_size(0) * 65536
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_used() -> usize {
    0
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
