//! Property tests of the sandbox over arbitrary input: mutations of scripts/deploy.rhai
//! (tokens and lines deleted, duplicated and swapped, random bytes inserted) and random
//! text as source, with arbitrary Unicode parameter values.
//!
//! - compiling never panics;
//! - every error points at a line (only whole-file errors, listed in [`WHOLE_FILE`], have
//!   none);
//! - no secret parameter's value appears in a diagnostic;
//! - parameter values never change the shape of master.yaml: the same keys, and the
//!   parameters' places hold exactly the values given.
//!
//! About 320 cases in all; a few seconds in a debug build.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use detscript_engine::{
    CompileRequest, Diagnostic, MapLoader, Mode, ParamInput, ParamSpec, Reveal, Severity, compile,
    declared_params,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_yaml_ng::Value as Yaml;

const FILE: &str = "scripts/deploy.rhai";
const DEPLOY: &str = include_str!("../../scripts/deploy.rhai");
const POOLS: &str = include_str!("../../scripts/lib/pools.rhai");

/// Errors about the script as a whole, which have no line of their own: a parameter
/// given to a script without `params(...)` has no declaration to point at.
const WHOLE_FILE: &[&str] = &["this script declares no parameters"];

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn specs() -> Vec<ParamSpec> {
    declared_params(&CompileRequest::new(FILE, DEPLOY, Mode::Preview)).expect("deploy.rhai")
}

fn request<'a>(
    source: &'a str,
    params: &BTreeMap<String, String>,
    mode: Mode,
) -> CompileRequest<'a> {
    let mut req = CompileRequest::new(FILE, source, mode);
    req.loader = Rc::new(MapLoader(BTreeMap::from([(
        "lib/pools.rhai".to_string(),
        POOLS.to_string(),
    )])));
    for (name, value) in params {
        req = req.param(name, ParamInput::Text(value.clone()));
    }
    req
}

/// deploy.rhai cut into tokens: words, runs of spaces, single other characters.
fn tokens(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c == ' ' || c == '\t' {
            1
        } else {
            2
        }
    };
    for c in src.chars() {
        match out.last_mut() {
            Some(last) if class(c) < 2 && last.chars().last().map(class) == Some(class(c)) => {
                last.push(c)
            }
            _ => out.push(c.to_string()),
        }
    }
    out
}

/// One edit of the source.
#[derive(Debug, Clone)]
enum Edit {
    DeleteToken(usize),
    DuplicateToken(usize),
    SwapTokens(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertBytes(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<usize>();
    prop_oneof![
        i.prop_map(Edit::DeleteToken),
        i.prop_map(Edit::DuplicateToken),
        (i, i).prop_map(|(a, b)| Edit::SwapTokens(a, b)),
        i.prop_map(Edit::DeleteLine),
        i.prop_map(Edit::DuplicateLine),
        (i, i).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (i, prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(a, b)| Edit::InsertBytes(a, b)),
    ]
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut toks = tokens(src);
    for e in edits {
        let n = toks.len().max(1);
        match e {
            Edit::DeleteToken(i) if !toks.is_empty() => {
                toks.remove(i % n);
            }
            Edit::DuplicateToken(i) if !toks.is_empty() => {
                let t = toks[i % n].clone();
                toks.insert(i % n, t);
            }
            Edit::SwapTokens(a, b) if !toks.is_empty() => toks.swap(a % n, b % n),
            Edit::InsertBytes(i, bytes) => toks.insert(
                i % (toks.len() + 1),
                String::from_utf8_lossy(bytes).into_owned(),
            ),
            Edit::DeleteLine(_) | Edit::DuplicateLine(_) | Edit::SwapLines(..) => {
                let text = toks.concat();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let n = lines.len();
                match e {
                    Edit::DeleteLine(i) => {
                        lines.remove(i % n);
                    }
                    Edit::DuplicateLine(i) => lines.insert(i % n, lines[i % n]),
                    Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
                    _ => {}
                }
                toks = tokens(&lines.join("\n"));
            }
            _ => {}
        }
    }
    toks.concat()
}

/// Source: deploy.rhai with 1-4 edits, random text, or a soup of its tokens.
fn source() -> impl Strategy<Value = String> {
    let toks = tokens(DEPLOY);
    prop_oneof![
        6 => prop::collection::vec(edit(), 1..5).prop_map(|edits| apply(DEPLOY, &edits)),
        1 => any::<String>(),
        1 => "[ -~\n]{0,300}",
        1 => prop::collection::vec(prop::sample::select(toks), 0..200).prop_map(|t| t.concat()),
    ]
}

/// A value for every parameter of deploy.rhai: any Unicode text. Secrets start with a
/// marker, so that finding one in a message is not a coincidence.
fn values(specs: &[ParamSpec]) -> impl Strategy<Value = BTreeMap<String, String>> {
    let names: Vec<(String, bool)> = specs.iter().map(|s| (s.name.clone(), s.secret)).collect();
    prop::collection::vec(any::<String>(), names.len()).prop_map(move |texts| {
        names
            .iter()
            .zip(texts)
            .map(|((name, secret), text)| {
                let value = if *secret {
                    format!("S3cr3t-{text}")
                } else {
                    text
                };
                (name.clone(), value)
            })
            .collect()
    })
}

/// Whether `secret` shows in `text`, as is or escaped.
fn leaks(text: &str, secret: &str) -> bool {
    let escaped = format!("{secret:?}");
    text.contains(secret) || text.contains(&escaped[1..escaped.len() - 1])
}

fn check_diagnostics(diags: &[Diagnostic], secrets: &[&String]) -> Result<(), TestCaseError> {
    for d in diags {
        if d.severity == Severity::Error && !WHOLE_FILE.iter().any(|w| d.message.contains(w)) {
            prop_assert!(d.line > 0, "an error without a line: {d:#?}");
        }
        for s in secrets {
            let shown = format!("{} {:?} {:?}", d.message, d.notes, d.fix);
            prop_assert!(!leaks(&shown, s), "the secret {s:?} shows in {d:#?}");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_scripts_and_values_never_panic_point_at_lines_and_hide_secrets() {
    let specs = specs();
    let secret_names: Vec<String> = specs
        .iter()
        .filter(|s| s.secret)
        .map(|s| s.name.clone())
        .collect();
    assert!(!secret_names.is_empty());
    let strategy = (source(), values(&specs), any::<bool>());
    proptest!(config(240), |((src, params, apply) in strategy)| {
        let mode = if apply { Mode::Apply } else { Mode::Preview };
        let req = request(&src, &params, mode);
        let outcome = catch_unwind(AssertUnwindSafe(|| compile(&req)));
        prop_assert!(outcome.is_ok(), "compile panicked on {src:?} with {params:?}");
        let secrets: Vec<&String> = secret_names.iter().filter_map(|n| params.get(n)).collect();
        match outcome.unwrap() {
            Ok(c) => check_diagnostics(&c.diagnostics, &secrets)?,
            Err(f) => {
                prop_assert!(f.diagnostics.iter().any(|d| d.severity == Severity::Error));
                check_diagnostics(&f.diagnostics, &secrets)?
            }
        }
        let declared = catch_unwind(AssertUnwindSafe(|| declared_params(&req)));
        prop_assert!(declared.is_ok(), "declared_params panicked on {src:?}");
    });
}

/// Every scalar of a YAML document by its path (`a.b.0.c`).
fn scalars(doc: &Yaml, path: String, out: &mut BTreeMap<String, Yaml>) {
    match doc {
        Yaml::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                scalars(v, format!("{path}.{key}"), out);
            }
        }
        Yaml::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                scalars(v, format!("{path}.{i}"), out);
            }
        }
        Yaml::Tagged(t) => scalars(&t.value, path, out),
        other => {
            out.insert(path, other.clone());
        }
    }
}

fn master_yaml(params: &BTreeMap<String, String>) -> Option<BTreeMap<String, Yaml>> {
    let compiled = compile(&request(DEPLOY, params, Mode::Apply)).ok()?;
    let text = compiled
        .plan
        .master_yaml(Reveal::Secrets)
        .expect("deploy.rhai has a master");
    let doc: Yaml = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("master.yaml does not parse ({e}) for {params:?}:\n{text}"));
    assert!(doc.is_mapping(), "master.yaml is not a mapping:\n{text}");
    let mut out = BTreeMap::new();
    scalars(&doc, String::new(), &mut out);
    Some(out)
}

#[test]
fn parameter_values_never_change_the_shape_of_master_yaml() {
    let specs = specs();
    let strings: Vec<String> = specs
        .iter()
        .filter(|s| s.kind == "string")
        .map(|s| s.name.clone())
        .collect();
    // The defaults, plus a value for each required string parameter.
    let base: BTreeMap<String, String> = specs
        .iter()
        .filter(|s| s.kind == "string")
        .map(|s| {
            let v = match &s.default {
                Some(serde_json::Value::String(d)) => d.clone(),
                _ => format!("value-of-{}", s.name),
            };
            (s.name.clone(), v)
        })
        .collect();
    let reference = master_yaml(&base).expect("deploy.rhai plans with its defaults");
    // The places that hold a parameter: where the reference holds exactly its value.
    let places: Vec<(String, String)> = reference
        .iter()
        .filter_map(|(path, v)| {
            let s = v.as_str()?;
            let names: Vec<&String> = strings.iter().filter(|n| base[*n] == s).collect();
            (names.len() == 1).then(|| (path.clone(), names[0].clone()))
        })
        .collect();
    assert!(places.len() >= 2, "too few parameter places: {places:?}");
    let keys: BTreeSet<&String> = reference.keys().collect();
    // `keypair` and up to two more string parameters get any text, text like a name,
    // printable ASCII or YAML's special words; the others keep their values (one refused
    // value would hide the rest).
    // (Most parameters are checked: names, AMI ids, image tags, instance types, passwords
    // of printable ASCII; `keypair` takes anything.)
    const TRICKY: &[&str] = &[
        "", "true", "no", "null", "~", "123", "0x1F", "1e3", ".inf", "- a", "a: b", "#x", "'",
        "\"", "a\nb", " x ", "${x}", "$${y}", "{{.x}}", "&a", "*a", "!!str", "%TAG", "@x",
    ];
    let text = prop_oneof![
        3 => any::<String>(),
        1 => "[a-z][a-z0-9-]{0,12}",
        1 => "[!-~]{8,24}",
        2 => prop::sample::select(TRICKY).prop_map(str::to_string),
    ];
    let keypair = strings
        .iter()
        .position(|n| n == "keypair")
        .expect("keypair");
    let strategy = (
        text.clone(),
        prop::collection::vec((0..strings.len(), text), 0..3),
    );
    let planned = std::cell::Cell::new(0u32);
    proptest!(config(80), |((first, changes) in strategy)| {
        let mut params = base.clone();
        for (i, text) in std::iter::once((keypair, first)).chain(changes) {
            params.insert(strings[i].clone(), text);
        }
        if let Some(doc) = master_yaml(&params) {
            planned.set(planned.get() + 1);
            let got: BTreeSet<&String> = doc.keys().collect();
            prop_assert_eq!(&got, &keys, "other keys for {:?}", params);
            for (path, name) in &places {
                prop_assert_eq!(doc[path].as_str(), Some(params[name].as_str()), "at {}", path);
            }
        }
    });
    // About 30 of the 80 plan (most parameters refuse most text).
    assert!(planned.get() >= 12, "only {} cases planned", planned.get());
}

/// The same checks on edits that put the secret where errors quote values.
#[test]
fn secrets_stay_hidden_where_errors_quote_values() {
    let secret = "S3cr3t-pa55word";
    let params: BTreeMap<String, String> = [("db_password", secret), ("keypair", "kp")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let edits = [
        ("deployment(p.cluster_id)", "deployment(p.db_password)"),
        ("s3_bucket(\"checkpoints\")", "s3_bucket(p.db_password)"),
        ("\"Determined master\"", "p.db_password"),
        ("determined_ami(\"agent\")", "p.db_password"),
        ("region(p.region)", "region(p.db_password)"),
        ("p.agent_instance_type", "p.db_password"),
        ("p.max_instances", "p.db_password"),
        ("p.inbound_cidr", "p.db_password"),
        (
            "deployment(p.cluster_id).region(p.region);",
            "throw p.db_password;",
        ),
        (
            "deployment(p.cluster_id).region(p.region);",
            "let x = p.db_password + 1; x.foo();",
        ),
        (
            "deployment(p.cluster_id).region(p.region);",
            "p.db_password.len(1, 2, 3);",
        ),
        (
            "deployment(p.cluster_id).region(p.region);",
            "let m = #{}; m[p.db_password].x;",
        ),
        (
            "deployment(p.cluster_id).region(p.region);",
            "`${p.db_password}`.bogus();",
        ),
    ];
    for (from, to) in edits {
        assert!(DEPLOY.contains(from), "{from}");
        let src = DEPLOY.replacen(from, to, 1);
        for mode in [Mode::Preview, Mode::Apply] {
            let diags = match compile(&request(&src, &params, mode)) {
                Ok(c) => c.diagnostics,
                Err(f) => f.diagnostics,
            };
            let secrets = [&params["db_password"]];
            if let Err(e) = check_diagnostics(&diags, &secrets) {
                panic!("{to}: {e}");
            }
        }
    }
}
