//! `detscript params`: the parameters a script declares.

use detscript_engine::{Mode, ParamSpec, declared_params_with_interrupt};

use super::script_deadline;

use crate::cli::{Format, ParamsArgs};
use crate::exit::{self, Exit};
use crate::input::read_script;
use crate::output::{print_diagnostics, write_result};

pub fn run(args: ParamsArgs) -> Result<(), Exit> {
    let (format, out) = args.format.resolve(args.out.as_deref());
    let script = read_script(&args.file, &[], None)?;
    let specs =
        match declared_params_with_interrupt(&script.request(Mode::Preview), script_deadline()) {
            Ok(s) => s,
            Err(f) => {
                print_diagnostics(&f.diagnostics);
                return Err(Exit(exit::SCRIPT));
            }
        };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&specs).unwrap_or_default() + "\n",
        Format::Text => table(&specs),
    };
    write_result(out.as_deref(), &text)
}

/// NAME, KIND, DEFAULT and DOC columns.
fn table(specs: &[ParamSpec]) -> String {
    if specs.is_empty() {
        return "This script declares no parameters.\n".to_string();
    }
    let rows: Vec<[String; 4]> = specs
        .iter()
        .map(|s| {
            let default = match (&s.default, s.secret) {
                (Some(_), true) => "(secret, has default)".to_string(),
                (None, true) => "(required, secret)".to_string(),
                (None, false) => "(required)".to_string(),
                (Some(v), false) => v.to_string(),
            };
            let mut doc = s.doc.clone().unwrap_or_default();
            if let Some(c) = &s.choices {
                let list: Vec<String> = c.iter().map(|v| v.to_string()).collect();
                doc = format!("{doc} [one of {}]", list.join(", "))
                    .trim()
                    .to_string();
            }
            [s.name.clone(), s.kind.clone(), default, doc]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(4);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(7);
    let mut out = format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  DOC\n",
        "NAME", "KIND", "DEFAULT"
    );
    for r in rows {
        out.push_str(format!("{:<w0$}  {:<w1$}  {:<w2$}  {}\n", r[0], r[1], r[2], r[3]).trim_end());
        out.push('\n');
    }
    out
}
