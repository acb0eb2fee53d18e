//! The sandbox's limits hold over a whole compile: one operation budget for the script,
//! its imports and its policies; imports nest at most `MAX_IMPORT_DEPTH` deep; printed
//! text is capped; the host's interrupt is asked every few operations, also while reading
//! the declared parameters.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use crate::budget::{INTERRUPT_EVERY, MAX_IMPORT_DEPTH, MAX_PRINTED};
use crate::limits::MAX_OPERATIONS;
use crate::{
    CompileRequest, Failure, MapLoader, Mode, compile, compile_with_interrupt,
    declared_params_with_interrupt,
};

fn failure(req: &CompileRequest) -> Failure {
    match compile(req) {
        Ok(_) => panic!("expected the compile to fail"),
        Err(f) => f,
    }
}

/// The first error of a failing compile, asserting its message.
fn first_error(req: &CompileRequest, message: &str) -> crate::Diagnostic {
    let d = failure(req).diagnostics.swap_remove(0);
    assert_eq!(d.message, message);
    d
}

/// 600 policies of 10,000 operations each: 6M operations in all, over the one budget
/// (each used to get 5M of its own).
#[test]
fn policies_share_one_operation_budget() {
    let mut src = String::from("deployment(\"d\");\nsecurity_group(\"web\", \"w\");\n");
    for i in 0..600 {
        src.push_str(&format!(
            "policy(\"p{i}\", |plan| {{ let n = 0; while n < 2500 {{ n += 1; }} [] }});\n"
        ));
    }
    let started = Instant::now();
    let f = failure(&CompileRequest::new("t.rhai", &src, Mode::Preview));
    let errors: Vec<_> = f
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.contains(&format!(
            "the script was stopped: it ran more than {MAX_OPERATIONS} operations"
        )),
        "{}",
        errors[0].message
    );
    assert!(errors[0].line > 2, "at the policy's line");
    // (163 s when each policy had a budget of its own; about 0.3 s now.)
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

/// Ten imports of 600,000 operations each.
#[test]
fn imports_share_one_operation_budget() {
    let mut modules = BTreeMap::new();
    let mut src = String::new();
    for i in 0..10 {
        modules.insert(
            format!("m{i}.rhai"),
            "let n = 0; while n < 150000 { n += 1; }\nexport const X = 1;\n".to_string(),
        );
        src.push_str(&format!("import \"m{i}\" as m{i};\n"));
    }
    let req = CompileRequest {
        loader: Rc::new(MapLoader(modules)),
        ..CompileRequest::new("t.rhai", &src, Mode::Preview)
    };
    let f = failure(&req);
    let d = &f.diagnostics[0];
    assert!(
        d.message
            .contains(&format!("it ran more than {MAX_OPERATIONS} operations")),
        "{d:#?}"
    );
    assert!(d.line > 0 && d.file.starts_with('m'), "{d:#?}");
}

/// A chain of 1,500 imports used to overflow the stack.
#[test]
fn imports_nest_at_most_16_deep() {
    let modules: BTreeMap<String, String> = (0..1500)
        .map(|i| {
            (
                format!("lib/m{i}.rhai"),
                format!("import \"m{}\" as next;\nexport const X = 1;\n", i + 1),
            )
        })
        .collect();
    let req = CompileRequest {
        loader: Rc::new(MapLoader(modules)),
        ..CompileRequest::new("scripts/t.rhai", "import \"lib/m0\" as m;\n", Mode::Preview)
    };
    let d = first_error(
        &req,
        &format!(
            "cannot import \"m{MAX_IMPORT_DEPTH}\": imports nest more than {MAX_IMPORT_DEPTH} levels deep (the chain starts at scripts/lib/m0.rhai); import the modules side by side instead"
        ),
    );
    assert_eq!(
        d.file,
        format!("scripts/lib/m{}.rhai", MAX_IMPORT_DEPTH - 1)
    );
    assert_eq!(d.line, 1);
    // 16 levels are fine.
    let modules: BTreeMap<String, String> = (0..MAX_IMPORT_DEPTH)
        .map(|i| {
            let body = if i + 1 < MAX_IMPORT_DEPTH {
                format!(
                    "import \"m{}\" as next;\nexport const X = next::X;\n",
                    i + 1
                )
            } else {
                "export const X = 7;\n".to_string()
            };
            (format!("lib/m{i}.rhai"), body)
        })
        .collect();
    let req = CompileRequest {
        loader: Rc::new(MapLoader(modules)),
        ..CompileRequest::new(
            "scripts/t.rhai",
            "import \"lib/m0\" as m;\ndeployment(`d${m::X}`);\n",
            Mode::Preview,
        )
    };
    if let Err(f) = compile(&req) {
        panic!("{:#?}", f.diagnostics);
    }
}

#[test]
fn modules_count_once_per_compile() {
    // 70 modules, each imported by the main script: over the 64 of one compile.
    let modules: BTreeMap<String, String> = (0..70)
        .map(|i| (format!("m{i}.rhai"), "export const X = 1;\n".to_string()))
        .collect();
    let src: String = (0..70)
        .map(|i| format!("import \"m{i}\" as m{i};\n"))
        .collect();
    let req = CompileRequest {
        loader: Rc::new(MapLoader(modules)),
        ..CompileRequest::new("t.rhai", &src, Mode::Preview)
    };
    let f = failure(&req);
    assert_eq!(
        f.diagnostics[0].message,
        "the script imports more than 64 modules"
    );
}

#[test]
fn printing_is_capped() {
    let src = r#"let s = "x"; s.pad(524288, 'y');
for i in 0..100 { print(s); }
"#;
    let f = failure(&CompileRequest::new("t.rhai", src, Mode::Preview));
    let d = &f.diagnostics[0];
    assert_eq!(
        d.message,
        "the script was stopped: print and debug output exceeded 1 MiB (the sandbox limit)"
    );
    assert_eq!(d.line, 2);
    // The last statement prints too much: stopped all the same.
    let src = "let s = \"x\"; s.pad(524288, 'y');\ndebug(s); debug(s);\ndebug(s);";
    let f = failure(&CompileRequest::new("t.rhai", src, Mode::Preview));
    assert!(f.diagnostics[0].message.contains("exceeded 1 MiB"));
    assert_eq!(f.diagnostics[0].line, 3);
    // Below the cap, everything printed is kept.
    let src = "deployment(\"d\"); for i in 0..3 { print(i); }";
    let c = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap();
    assert_eq!(c.printed, ["0", "1", "2"]);
    const { assert!(MAX_PRINTED == 1 << 20) };
}

/// The host is asked every few operations, in the script and in its policies, and also
/// while the declared parameters are read.
#[test]
fn the_host_is_asked_everywhere() {
    let asked = Rc::new(Cell::new(0u64));
    let a = asked.clone();
    let src = r#"deployment("d");
policy("slow", |plan| { let n = 0; while n < 1000 { n += 1; } [] });
"#;
    compile_with_interrupt(
        &CompileRequest::new("t.rhai", src, Mode::Preview),
        Rc::new(move || {
            a.set(a.get() + 1);
            None
        }),
    )
    .unwrap();
    assert!(asked.get() > 2000 / INTERRUPT_EVERY, "{}", asked.get());

    let src = "let p = params(#{ a: #{ default: 1, kind: \"int\" } });\nloop { }\n";
    let stop = Rc::new(|| Some("the test says so".to_string()));
    let f = declared_params_with_interrupt(
        &CompileRequest::new("t.rhai", src, Mode::Preview),
        stop.clone(),
    );
    // The parameters declared before the stop are still returned ...
    assert_eq!(f.unwrap()[0].name, "a");
    // ... and without params(...) the stop is the error.
    let f = declared_params_with_interrupt(
        &CompileRequest::new("t.rhai", "loop { }", Mode::Preview),
        stop,
    )
    .unwrap_err();
    assert_eq!(
        f.diagnostics[0].message,
        "the script was stopped: the test says so"
    );
    assert_eq!(f.diagnostics[0].line, 1);
}

/// Showing a map or array as text is bounded before the text is built: a map holding one
/// shared 512 KiB string thousands of times used to build gigabytes in one step.
#[test]
fn a_huge_map_is_not_shown_as_text() {
    for show in [
        "print(m);",
        "debug(m);",
        "let t = `${m}`;",
        "let t = \"\" + m;",
        "let t = m.to_json();",
        "let t = a.to_string();",
    ] {
        let src = format!(
            "let s = \"x\"; s.pad(524288, 'y');\nlet m = #{{}}; let a = [];\nfor i in 0..5000 {{ m[`k${{i}}`] = s; if i < 3000 {{ a.push(s); }} }}\n{show}\ndeployment(\"d\");"
        );
        let f = crate::compile(&crate::CompileRequest::new(
            "t.rhai",
            &src,
            crate::Mode::Preview,
        ))
        .expect_err(&src);
        let msg = &f.diagnostics[0].message;
        assert!(
            msg.contains("sandbox limit") || msg.contains("exceeded 1 MiB"),
            "{show}: {msg}"
        );
    }
    // Small containers still print as before.
    let c = crate::compile(&crate::CompileRequest::new(
        "t.rhai",
        "let m = #{a: 1, b: [\"x\"]}; print(m); print(`${m}`); deployment(\"d\");",
        crate::Mode::Preview,
    ))
    .unwrap();
    assert_eq!(
        c.printed,
        vec![r#"#{"a": 1, "b": ["x"]}"#, r#"#{"a": 1, "b": ["x"]}"#]
    );
}

/// Parsing is inside the host's deadline: Rhai reports no progress while parsing, so the
/// interrupt is asked every few tokens, and says that parsing (not the script) was stopped.
#[test]
fn the_interrupt_is_asked_while_parsing() {
    let mut src = String::from("deployment(\"d\");\n");
    for i in 0..2000 {
        src.push_str(&format!("let x{i} = {i} + 1;\n"));
    }
    let asked = Rc::new(Cell::new(0u32));
    let a = asked.clone();
    let f = compile_with_interrupt(
        &CompileRequest::new("t.rhai", &src, Mode::Preview),
        Rc::new(move || {
            a.set(a.get() + 1);
            Some("it ran longer than 10 s".into())
        }),
    )
    .expect_err("stopped");
    assert_eq!(
        asked.get(),
        1,
        "stopped at the first question, while parsing"
    );
    let d = &f.diagnostics[0];
    assert_eq!(
        d.message,
        "the script was stopped while parsing (before running any of it): it ran longer than 10 s"
    );
    assert!(d.line > 100, "where parsing stopped: line {}", d.line);
}

/// More `let` statements than the parser handles in reasonable time: a clear error at the
/// first one over the limit, also when they come from imports.
#[test]
fn too_many_let_statements_are_refused_with_the_reason() {
    use crate::budget::MAX_LET_STATEMENTS;
    let half = MAX_LET_STATEMENTS / 2;
    let lets = |from: usize, n: usize| -> String {
        (from..from + n)
            .map(|i| format!("let x{i} = {i};\n"))
            .collect()
    };
    // The main script is parsed first, its import when it runs.
    let loader = MapLoader(BTreeMap::from([(
        "lib.rhai".to_string(),
        lets(0, half + 1),
    )]));
    let src = format!(
        "import \"lib\" as lib;\ndeployment(\"d\");\n{}",
        lets(0, half)
    );
    let mut req = CompileRequest::new("t.rhai", &src, Mode::Preview);
    req.loader = Rc::new(loader);
    let d = first_error(
        &req,
        &format!(
            "the script has more than {MAX_LET_STATEMENTS} `let` statements (with its imports); parsing time grows with the square of their number: declare many similar resources in a loop or a function instead"
        ),
    );
    assert_eq!((d.file.as_str(), d.line), ("lib.rhai", half as u32 + 1));
    // One fewer compiles.
    let src = format!(
        "import \"lib\" as lib;\ndeployment(\"d\");\n{}",
        lets(0, half)
    );
    let mut req = CompileRequest::new("t.rhai", &src, Mode::Preview);
    req.loader = Rc::new(MapLoader(BTreeMap::from([(
        "lib.rhai".to_string(),
        lets(0, half),
    )])));
    compile(&req).expect("exactly the limit compiles");
}
