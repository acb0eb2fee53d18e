//! CloudFormation export checks that need the example scripts: included by `tests.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use detscript_engine::{Mode, ParamInput, cfn, compile};

use super::{example_params, request, script_paths, scripts_dir};

/// The template of the script at `path` compiled as `detscript export` does, with those of
/// `params` the script declares.
pub(crate) fn template_of(
    path: &Path,
    file: &str,
    params: &BTreeMap<String, ParamInput>,
) -> serde_json::Value {
    let source = std::fs::read_to_string(path).expect("readable script");
    let req = request(file, &source, Mode::Preview, params);
    let compiled =
        compile(&req).unwrap_or_else(|f| panic!("{file} does not compile: {:#?}", f.diagnostics));
    cfn::export(&compiled.plan, &compiled.params)
        .unwrap_or_else(|e| panic!("{file} does not export: {e:#?}"))
}

/// With `DETSCRIPT_CFN_OUT=DIR`, writes the templates `tests/cfn/run.sh` lints (every example
/// with the test parameters, and without any, and the CLI's `small.rhai`) as
/// `NAME[.unset].{yaml,json}` into DIR, without building the CLI.
#[test]
fn export_templates_for_cfn_lint() {
    let Some(out) = std::env::var_os("DETSCRIPT_CFN_OUT") else {
        return;
    };
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("output directory");
    let mut paths = script_paths();
    paths.push(scripts_dir().join("../cli/tests/fixtures/small.rhai"));
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        for (suffix, params) in [("", example_params()), (".unset", BTreeMap::new())] {
            let t = template_of(&path, &path.display().to_string(), &params);
            let file = |ext: &str| out.join(format!("{name}{suffix}.{ext}"));
            std::fs::write(file("yaml"), cfn::to_yaml(&t)).unwrap();
            std::fs::write(file("json"), cfn::to_json(&t)).unwrap();
        }
    }
}

/// The CLI's `export fixtures/small.rhai --format json` snapshot is the engine's template.
#[test]
fn the_cli_export_snapshot_is_the_engines_template() {
    let snap = std::fs::read_to_string(
        scripts_dir().join("../cli/tests/snapshots/cli__export_small_json.snap"),
    )
    .expect("the CLI snapshot");
    let stdout = snap
        .split_once("--- stdout\n")
        .and_then(|(_, rest)| rest.split_once("--- stderr"))
        .map(|(out, _)| out)
        .expect("a transcript with stdout and stderr");
    let small = scripts_dir().join("../cli/tests/fixtures/small.rhai");
    let t = template_of(&small, &small.display().to_string(), &BTreeMap::new());
    assert_eq!(stdout, cfn::to_json(&t));
}
