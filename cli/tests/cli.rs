//! The CLI as a user runs it: exit code, standard output and standard error, snapshotted.
//! Error messages are tested verbatim, caret lines included.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_detscript");
const SECRET: &str = "Hunter2-hunter2-secret";

/// Runs detscript in cli/tests (so paths in messages are short and stable).
fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
        .env_remove("AWS_REGION")
        .output()
        .expect("detscript runs")
}

fn transcript(args: &[&str]) -> String {
    let out = run(args);
    format!(
        "$ detscript {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `detscript plan fixtures/params.rhai --params FILE`
fn plan_with_params(file: &Path) -> Output {
    run(&[
        "plan",
        "fixtures/params.rhai",
        "--params",
        file.to_str().unwrap(),
    ])
}

fn code(args: &[&str]) -> i32 {
    run(args).status.code().unwrap_or(-1)
}

/// One test a command line, each snapshotting its transcript under the test's name:
/// `name: "plan fixtures/x.rhai -p k=v",` runs detscript with those words (split at spaces).
macro_rules! cases {
    ($($name:ident: $command:literal,)+) => {
        $(
            #[test]
            fn $name() {
                let args: Vec<&str> = $command.split(' ').collect();
                insta::assert_snapshot!(transcript(&args));
            }
        )+
    };
}

const DEPLOY: &str = "../../scripts/deploy.rhai";

/// `CMD ../../scripts/deploy.rhai -p keypair=k -p db_password=Abcdefgh-1 EXTRA...`
fn deploy_args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    [
        &[
            cmd,
            DEPLOY,
            "-p",
            "keypair=k",
            "-p",
            "db_password=Abcdefgh-1",
        ][..],
        extra,
    ]
    .concat()
}

// Script errors: exit 1, file:line:col, the line, a caret, and what was expected.
cases! {
    syntax_error: "plan fixtures/syntax.rhai",
    runtime_error_bad_cidr: "plan fixtures/bad_cidr.rhai",
    validation_errors_point_at_each_field: "plan fixtures/invalid_pool.rhai",
    dependency_cycle_names_the_resources: "plan fixtures/cycle.rhai",
    unknown_master_yaml_key_suggests: "plan fixtures/unknown_key.rhai",
    unknown_function_suggests: "plan fixtures/typo.rhai",
    error_inside_an_imported_module: "plan fixtures/module_error.rhai",

    // Parameters.
    unknown_param_suggests: "plan fixtures/params.rhai --param replica=3",
    ill_typed_param_names_it: "plan fixtures/params.rhai --param replicas=three",
    bad_cidr_param: "plan fixtures/params.rhai -p cidr=10.0.0.0/99",
    bad_duration_param: "plan fixtures/params.rhai -p period=1d",
    params_lists_declarations: "params fixtures/params.rhai",

    // Sandbox.
    endless_loop_is_stopped: "plan fixtures/runaway.rhai",
    endless_recursion_is_stopped: "plan fixtures/recursion.rhai",
    huge_string_is_refused: "plan fixtures/huge.rhai",
    import_outside_the_folder_is_refused: "plan fixtures/escape.rhai",
    absolute_import_is_refused: "plan fixtures/absolute.rhai",
    no_file_access: "plan fixtures/no_io.rhai",

    // Usage errors: exit 2.
    missing_file: "plan fixtures/nope.rhai",
    malformed_param: "plan fixtures/small.rhai --param novalue",
    unknown_flag: "plan fixtures/small.rhai --frobnicate",
    unknown_render_target: "render fixtures/small.rhai main.yaml",

    // Success.
    plan_text: "plan fixtures/small.rhai",
    graph_dot: "graph fixtures/small.rhai",
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    for sub in [
        &["--help"][..],
        &["plan", "--help"],
        &["render", "--help"],
        &["graph", "--help"],
        &["params", "--help"],
    ] {
        let out = run(sub);
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{sub:?} has no example:\n{text}");
        assert!(
            text.contains("Exit codes:") && text.contains("2  usage error"),
            "{sub:?} lacks exit codes:\n{text}"
        );
    }
    insta::assert_snapshot!(String::from_utf8_lossy(&run(&["plan", "--help"]).stdout));
}

#[test]
fn plan_json_is_byte_identical_between_runs() {
    let args = deploy_args("plan", &["--format", "json"]);
    let a = run(&args);
    let b = run(&args);
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).expect("stdout is JSON alone");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["resources"].as_array().unwrap().len(), 23);
}

#[test]
fn secrets_never_reach_plan_output_or_errors() {
    let p = format!("password={SECRET}");
    for args in [
        vec!["plan", "fixtures/params.rhai", "-p", &p],
        vec!["plan", "fixtures/params.rhai", "-p", &p, "--format", "json"],
        vec!["graph", "fixtures/params.rhai", "-p", &p],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(SECRET),
            "{args:?}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains(SECRET),
            "{args:?}"
        );
    }
    // A bad secret is reported without its value.
    let short = "pw=sh@rt";
    let out = run(&["plan", "fixtures/secret_error.rhai", "-p", short]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the master password contains '@'") || err.contains("8-128"),
        "{err}"
    );
    assert!(!err.contains("sh@rt"), "{err}");
    // Printing or throwing a secret shows (sensitive).
    let out = run(&[
        "plan",
        "fixtures/secret_throw.rhai",
        "-p",
        &format!("pw={SECRET}"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(sensitive)") && !err.contains(SECRET),
        "{err}"
    );
}

/// A parameter value cannot forge a reference to a secret: before the typed model,
/// `-p keypair=$'\ue000secret.db_password\ue001'` put the database password into KeyName.
#[test]
fn a_parameter_cannot_become_a_reference_to_a_secret() {
    let forged = "keypair=\u{E000}secret.db_password\u{E001}";
    let pw = format!("db_password={SECRET}");
    let out = run(&[
        "render",
        "../../scripts/deploy.rhai",
        "user-data",
        "--show-secrets",
        "-p",
        forged,
        "-p",
        &pw,
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("parameter keypair") && stderr.contains("reserves"),
        "{stderr}"
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}

#[test]
/// The database password is a Secrets Manager secret: master.yaml names it, the master reads
/// it at boot, and no rendering (not even `--show-secrets` or `-o`) holds its value.
fn render_writes_secrets_only_to_a_private_file() {
    let pw = format!("db_password={SECRET}");
    let render = |extra: &[&str]| {
        let args = [
            "render",
            DEPLOY,
            "master.yaml",
            "-p",
            "keypair=k",
            "-p",
            &pw,
        ];
        run(&[&args[..], extra].concat())
    };
    let out = render(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("password: ${secretsmanager_secret.db-password.value}")
            && !stdout.contains(SECRET),
        "{stdout}"
    );

    let out = render(&["--show-secrets"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));

    let dir = std::env::temp_dir().join(format!("detscript-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("master.yaml");
    let out = render(&["-o", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("password: ${secretsmanager_secret.db-password.value}")
            && !written.contains(SECRET),
        "{written}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // Writing a file needs every parameter.
    let out = run(&[
        "render",
        DEPLOY,
        "master.yaml",
        "-p",
        &pw,
        "-o",
        "/tmp/never-written.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'keypair' (string) is required"));
}

#[test]
fn user_data_runs_the_master_as_the_guide_says() {
    let out = run(&[
        "render",
        "../../scripts/deploy.rhai",
        "user-data",
        "-p",
        "keypair=k",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let ud = String::from_utf8_lossy(&out.stdout);
    for want in [
        "docker network create determined",
        "--network determined",
        "-p 8080:8080",
        "--restart unless-stopped",
        "-v /usr/local/determined/etc:/etc/determined:ro",
        "determinedai/determined-master:0.38.1",
        "host: ${rds_cluster.db.endpoint}",
    ] {
        assert!(ud.contains(want), "user-data lacks {want:?}:\n{ud}");
    }
}

#[test]
fn exit_codes_by_class() {
    assert_eq!(code(&["plan", "fixtures/small.rhai"]), 0);
    assert_eq!(code(&["plan", "fixtures/syntax.rhai"]), 1);
    assert_eq!(
        code(&["plan", "fixtures/params.rhai", "-p", "replicas=x"]),
        1
    );
    assert_eq!(code(&["plan", "fixtures/nope.rhai"]), 2);
    assert_eq!(code(&["plan"]), 2);
    assert_eq!(code(&["render", "fixtures/small.rhai", "master.yaml"]), 1);
}

// Lint.
#[test]
fn lint_text_deploy() {
    insta::assert_snapshot!(transcript(&deploy_args("lint", &[])));
}
#[test]
fn lint_deny_warnings_fails() {
    insta::assert_snapshot!(transcript(&deploy_args("lint", &["--deny", "warnings"])));
}

cases! {
    lint_error_finding: "lint fixtures/lint_errors.rhai",
}

#[test]
fn lint_json_and_sarif_carry_ids_lines_and_fixes() {
    let out = run(&deploy_args("lint", &["--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &findings[0];
    assert!(first["code"].as_str().unwrap().starts_with("DS"));
    assert!(
        first["line"].as_u64().unwrap() > 0 && first["fix"].is_string(),
        "{first}"
    );

    let out = run(&deploy_args("lint", &["--format", "sarif"]));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.as_array().unwrap().len());
    assert_eq!(results[0]["ruleId"], first["code"]);
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        first["line"]
    );
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len()
            >= 20
    );
}

#[test]
fn secure_example_passes_lint_with_deny_warnings() {
    let out = run(&[
        "lint",
        "../../scripts/secure.rhai",
        "-p",
        "keypair=k",
        "-p",
        "db_password=Abcdefgh-1",
        "-p",
        "tls_cert=-----BEGIN CERTIFICATE-----",
        "-p",
        "tls_key=-----BEGIN PRIVATE KEY-----",
        "--deny",
        "warnings",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("0 errors, 0 warnings\n"));
}

// Parameter files.
cases! {
    params_file_yaml: "plan fixtures/params.rhai --params fixtures/params.yaml -p replicas=4",
    params_file_ill_typed: "plan fixtures/params.rhai --params fixtures/bad_params.json",
    params_file_missing: "plan fixtures/params.rhai --params fixtures/nope.yaml",
    unknown_property_suggests: "plan fixtures/property_typo.rhai",

    // Export.
    export_small_json: "export fixtures/small.rhai --format json",
}

#[test]
fn export_keeps_secrets_out_of_the_template() {
    let out = run(&[
        "export",
        "../../scripts/deploy.rhai",
        "-p",
        "keypair=k",
        "-p",
        &format!("db_password={SECRET}"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template = String::from_utf8_lossy(&out.stdout);
    assert!(
        template.contains("AWSTemplateFormatVersion") && template.contains("NoEcho"),
        "{template}"
    );
    assert!(!template.contains(SECRET));
}

// Input hardening: what a script or params file may be, and how much of it errors quote.

/// A fresh, empty folder for files a test creates.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("detscript-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs detscript, killing it after `secs` seconds (`None`: it had to be killed).
fn run_within(args: &[&str], secs: u64) -> Option<Output> {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
        .env_remove("AWS_REGION")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("detscript runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn fifo_is_refused_not_waited_on() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("deploy.rhai");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    for (args, what) in [
        (vec!["plan", fifo], "script"),
        (
            vec!["plan", "fixtures/small.rhai", "--params", fifo],
            "params file",
        ),
    ] {
        let out = run_within(&args, 10).unwrap_or_else(|| panic!("{args:?} hangs"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr_of(&out),
            format!("error: cannot read {what} {fifo}: it is a FIFO, not a regular file\n")
        );
    }
    assert!(stderr_of(&run(&["plan", "/dev/zero"])).contains("it is a device, not a regular file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_over_4_mib_is_refused() {
    let dir = temp_dir("large");
    let limit = 4 * 1024 * 1024;
    // Spaces: a valid (empty) script and an empty params file, were they read.
    let big = dir.join("big.rhai");
    std::fs::write(&big, vec![b' '; limit + 1]).unwrap();
    let big = big.to_str().unwrap();
    let out = run(&["plan", big]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out),
        format!("error: script {big} is too large (over 4 MiB)\n")
    );
    let out = run(&["plan", "fixtures/small.rhai", "--params", big]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out),
        format!("error: params file {big} is too large (over 4 MiB)\n")
    );
    // Exactly 4 MiB is read.
    let edge = dir.join("edge.yaml");
    std::fs::write(&edge, vec![b' '; limit]).unwrap();
    let out = run(&[
        "plan",
        "fixtures/small.rhai",
        "--params",
        edge.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_quote_at_most_100_characters_of_the_input() {
    let long = "x".repeat(100_000);
    let no_equals = format!("name{long}");
    let out = run(&["plan", "fixtures/small.rhai", "--param", &no_equals]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out),
        format!(
            "error: --param \"name{}...\" must look like NAME=VALUE\n",
            "x".repeat(96)
        )
    );
    let no_name = format!("={long}");
    let out = run(&["plan", "fixtures/small.rhai", "--param", &no_name]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).len() < 200, "{}", stderr_of(&out));

    let dir = temp_dir("quote");
    let params = dir.join("p.yaml");
    // A key given twice, and a value the YAML parser quotes in its message.
    std::fs::write(&params, format!("{long}: 1\n{long}: 2\n")).unwrap();
    let out = plan_with_params(&params);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).len() < 300, "{}", stderr_of(&out));
    std::fs::write(&params, format!("replicas: !!int {long}\n")).unwrap();
    let out = plan_with_params(&params);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.len() < 400 && err.ends_with("at line 1 column 11\n"),
        "{err}"
    );
    // A long file name keeps its end.
    let deep = dir.join("d".repeat(200)).join("deploy.rhai");
    let out = run(&["plan", deep.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert!(
        err.starts_with("error: cannot read script ...")
            && err.contains("ddd/deploy.rhai: No such file")
            && err.len() < 200,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// A byte order mark (some Windows editors write one) is not part of the script.
cases! {
    byte_order_mark_is_ignored: "plan fixtures/bom.rhai",
    byte_order_mark_in_params_file_is_ignored: "plan fixtures/params.rhai --params fixtures/bom_params.yaml",

    // A key given twice in a params file is an error, not "the last one wins".
    params_file_duplicate_key_yaml: "plan fixtures/params.rhai --params fixtures/dup_params.yaml",
    params_file_duplicate_key_json: "plan fixtures/params.rhai --params fixtures/dup_params.json",

    // Deep nesting is refused before the YAML parser sees it.
    params_file_too_deep: "plan fixtures/params.rhai --params fixtures/deep_params.json",
}

#[test]
fn deeply_nested_params_file_is_refused_fast() {
    let dir = temp_dir("deep");
    let file = dir.join("deep.yaml");
    std::fs::write(&file, format!("replicas: {}\n", "[".repeat(100_000))).unwrap();
    let started = std::time::Instant::now();
    let out = run_within(
        &[
            "plan",
            "fixtures/params.rhai",
            "--params",
            file.to_str().unwrap(),
        ],
        10,
    )
    .expect("a 100,000-deep params file is refused within 10 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("nests lists or maps more than 64 levels deep (line 1)"),
        "{}",
        stderr_of(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// A malformed --endpoint-url is one line, before anything connects.
#[test]
fn invalid_endpoint_url() {
    let args = [
        "run",
        "fixtures/small.rhai",
        "--endpoint-url",
        "not a url",
        "--yes",
    ];
    insta::assert_snapshot!(transcript(&args));
}

#[test]
fn invalid_endpoint_url_is_refused_by_every_aws_command() {
    for args in [
        &[
            "destroy",
            "fixtures/small.rhai",
            "--yes",
            "--endpoint-url",
            "ftp://x",
        ][..],
        &[
            "plan",
            "fixtures/small.rhai",
            "--refresh",
            "--endpoint-url",
            "http://",
        ],
        &[
            "run",
            "fixtures/small.rhai",
            "--endpoint-url",
            "localhost:5000",
        ],
    ] {
        let out = run_within(args, 10).unwrap_or_else(|| panic!("{args:?} hangs"));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.starts_with("error: --endpoint-url ") && err.lines().count() == 1,
            "{err}"
        );
    }
    // Without --refresh, plan does not connect: the flag is not looked at.
    assert_eq!(
        code(&["plan", "fixtures/small.rhai", "--endpoint-url", "not a url"]),
        0
    );
}

// Sandbox limits that hold for the whole process.

/// Writes `source` to a fresh script file; returns its path.
fn scratch_script(name: &str, source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("detscript-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, source).expect("script written");
    path.to_string_lossy().into_owned()
}

/// A 512 KiB string (eight bytes doubled 16 times).
const BIG_STRING: &str = "let s = \"xxxxxxxx\";\nfor n in 0..16 { s += s; }\n";

/// Maps and closures of 1000 distinct 512 KiB strings (1 GB): stopped at 512 MiB with a
/// clear error, not aborted by the allocator under a 1 GiB address-space cap (exit 134
/// before the limit) and not after the 10 s deadline.
#[test]
fn memory_limit_stops_the_script() {
    let script = scratch_script(
        "memory.rhai",
        &format!(
            "deployment(\"d\");\n{BIG_STRING}let by_name = #{{}};\nlet later = #{{}};\n\
             for i in 0..1000 {{\n    by_name[`k${{i}}`] = s + i;\n    let t = `${{i}}` + s;\n    \
             later[`k${{i}}`] = || t;\n}}\n"
        ),
    );
    let capped = Path::new("/usr/bin/prlimit").exists();
    let mut cmd = if capped {
        let mut c = Command::new("/usr/bin/prlimit");
        c.args(["--as=1073741824", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let started = std::time::Instant::now();
    let out = cmd
        .args(["plan", &script])
        .output()
        .expect("detscript runs");
    let elapsed = started.elapsed();
    let stderr = stopped(
        &out,
        "it used more than 512 MiB of memory (the sandbox limit",
    );
    assert!(
        stderr.contains("memory.rhai:7:") || stderr.contains("memory.rhai:8:"),
        "in the loop: {stderr}"
    );
    assert!(elapsed.as_secs() < 8, "took {elapsed:?}");
}

/// Asserts that the sandbox stopped the script (exit 1) for `why`; its standard error.
fn stopped(out: &Output, why: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("error: the script was stopped: {why}")),
        "{stderr}"
    );
    stderr
}

/// `print` keeps at most 1 MiB.
#[test]
fn printing_in_a_loop_is_capped() {
    let script = scratch_script(
        "print.rhai",
        &format!("deployment(\"d\");\n{BIG_STRING}loop {{ print(s); }}\n"),
    );
    let out = run(&["plan", &script]);
    let stderr = stopped(
        &out,
        "print and debug output exceeded 1 MiB (the sandbox limit)",
    );
    assert!(stderr.len() < 10_000, "nothing printed: {}", stderr.len());
}

/// `detscript params` stops a script after 10 s, as `plan` does.
#[test]
fn params_has_the_deadline_of_plan() {
    let script = scratch_script(
        "slow_params.rhai",
        &format!(
            "{BIG_STRING}loop {{ let t = s.sub_string(1); }}\nlet p = params(#{{ name: #{{ default: \"d\" }} }});\n"
        ),
    );
    let started = std::time::Instant::now();
    let out = run(&["params", &script]);
    let elapsed = started.elapsed();
    stopped(&out, "it ran longer than 10 s");
    assert!(elapsed.as_secs() < 15, "took {elapsed:?}");
}

/// The engine never echoes a huge value back: its messages are cut in the middle.
#[test]
fn a_huge_parameter_value_is_not_echoed_back() {
    let value = format!("replicas={}", "9".repeat(100_000));
    let out = run(&["plan", "fixtures/params.rhai", "--param", &value]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.len() < 3000, "{} bytes of stderr", err.len());
    assert!(err.contains("characters left out"), "{err}");
}
