//! `detscript lint`: findings as text, JSON or SARIF.

use detscript_engine::{Diagnostic, Mode, Severity, compile_with_interrupt, lint::RULES};
use serde_json::{Value, json};

use super::script_deadline;
use crate::cli::{LintArgs, LintFormat};
use crate::exit::{self, Exit};
use crate::output::write_result;

pub fn run(args: LintArgs) -> Result<(), Exit> {
    let (format, out) = crate::output::resolve(
        args.format,
        args.output,
        args.out.as_deref(),
        LintFormat::Text,
    );
    let script = args.script.read()?;
    let deny_warnings = args.deny.is_some();
    let req = script.request(Mode::Preview);
    let diagnostics = match compile_with_interrupt(&req, script_deadline()) {
        Ok(c) => c.diagnostics,
        Err(f) => f.diagnostics,
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let text = match format {
        LintFormat::Text => {
            let mut text = String::new();
            for d in &diagnostics {
                text.push_str(&d.render());
            }
            text.push_str(&format!(
                "{}: {errors} error{}, {warnings} warning{}\n",
                script.display,
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            ));
            text
        }
        LintFormat::Json => serde_json::to_string_pretty(&diagnostics).unwrap_or_default() + "\n",
        LintFormat::Sarif => {
            serde_json::to_string_pretty(&sarif(&diagnostics)).unwrap_or_default() + "\n"
        }
    };
    write_result(out.as_deref(), &text)?;
    if errors > 0 || (deny_warnings && warnings > 0) {
        Err(Exit(exit::SCRIPT))
    } else {
        Ok(())
    }
}

/// SARIF 2.1.0, as code-scanning tools read it.
fn sarif(diagnostics: &[Diagnostic]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.title },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(fix) = &d.fix {
                text.push_str(&format!(" Fix: {fix}"));
            }
            let mut result = json!({
                "ruleId": d.code.clone().unwrap_or_else(|| "script-error".into()),
                "level": level(d.severity),
                "message": { "text": text },
            });
            if d.line > 0 {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": d.file },
                        "region": { "startLine": d.line, "startColumn": d.column.max(1) },
                    }
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "detscript",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/detscript/detscript",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
