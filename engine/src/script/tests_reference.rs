//! The reference's sources are complete and its examples compile.

use super::reference::{
    API_SIGNATURES_TXT, doc_entries, example_script, is_setup, signatures, signatures_txt,
};
use crate::{CompileRequest, Mode, compile};

#[test]
fn the_signature_list_equals_the_registrations() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/script/api_signatures.txt");
    let want = signatures_txt();
    if std::env::var_os("DETSCRIPT_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    assert!(
        API_SIGNATURES_TXT == want,
        "engine/src/script/api_signatures.txt differs from the registrations: run DETSCRIPT_UPDATE_DOCS=1 cargo test -p detscript-engine reference"
    );
}

#[test]
fn every_function_has_a_doc_and_an_example_and_every_doc_a_function() {
    let docs = doc_entries();
    let keys: std::collections::BTreeSet<String> = signatures().iter().map(|s| s.key()).collect();
    let missing: Vec<&String> = keys.iter().filter(|k| !docs.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "add these to engine/src/script/api_docs.txt ([key], a line of doc, an indented example): {missing:?}"
    );
    let handles: std::collections::BTreeSet<String> =
        signatures().into_iter().filter_map(|s| s.on).collect();
    let stale: Vec<&String> = docs
        .keys()
        .filter(|k| !(keys.contains(*k) || is_setup(k) && handles.contains(*k)))
        .collect();
    assert!(
        stale.is_empty(),
        "api_docs.txt documents functions that do not exist: {stale:?}"
    );
    for (k, e) in &docs {
        assert!(!e.doc.is_empty(), "{k}: no doc line");
        assert!(!e.example.is_empty(), "{k}: no example");
    }
}

#[test]
fn every_example_compiles_and_uses_its_function() {
    let mut failures = Vec::new();
    let docs = doc_entries();
    for (key, e) in &docs {
        if is_setup(key) {
            continue;
        }
        let name = key.rsplit('.').next().unwrap_or(key);
        if !e.example.contains(name) {
            failures.push(format!("{key}: the example does not use {name}"));
        }
        let src = example_script(key, &e.example, &docs);
        if let Err(f) = compile(&CompileRequest::new("example.rhai", &src, Mode::Preview)) {
            let msgs: Vec<String> = f
                .diagnostics
                .iter()
                .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
                .collect();
            failures.push(format!("{key}:\n{src}{msgs:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn wrong_argument_types_list_the_accepted_signatures() {
    let src = "deployment(\"d\");\nsecurity_group(\"a\", 5);";
    let f = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap_err();
    assert_eq!(
        f.diagnostics[0].message,
        "unknown function or wrong argument types: security_group (string, int); security_group accepts: \
security_group(string), security_group(string, string)"
    );
    let (m, _) = super::tests::error("deployment(\"d\");\nmaster_config().port(\"8080\");");
    assert!(m.ends_with("; port accepts: MasterConfig.port(int)"), "{m}");
}

#[test]
fn definitions_spell_types_as_rhai_does() {
    let d = super::api_definitions();
    assert!(d.starts_with("// detscript's script API") && d.contains("\nmodule static;\n"));
    assert!(
        d.contains("fn security_group(arg1: String, arg2: String) -> SecurityGroup;\n"),
        "{d}"
    );
    assert!(
        d.contains("fn ingress(this: SecurityGroup, arg1: Ports, arg2: ?) -> SecurityGroup;\n"),
        "{d}"
    );
    assert!(d.contains("fn get arn(this: IamRole) -> String;\n"), "{d}");
    assert!(d.contains("fn params(arg1: Map) -> Map;\n"), "{d}");
    // Never Rust's result types (Rhai's own writer leaves them in).
    assert!(!d.contains("Result") && !d.contains("::"), "{d}");
    for line in d.lines().filter(|l| l.starts_with("fn ")) {
        assert!(line.ends_with(';'), "{line}");
    }
}
