//! The command line's conventions, as a user meets them: `--format` and `-o FILE` in every
//! command (with the old spellings still accepted), a script from standard input, parameters
//! from the environment, `--quiet`, `explain`, completions, the man page, saved plans that
//! refuse to apply when stale. Transcripts are snapshotted where the wording matters.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_detscript");
const DEPLOY: &str = "../../scripts/deploy.rhai";

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs detscript in cli/tests with `env` set (and no stray `DETSCRIPT_PARAM_*`), feeding
/// `stdin`.
fn run_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(tests_dir())
        .env_remove("AWS_REGION")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("DETSCRIPT_PARAM_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("detscript runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn run(args: &[&str]) -> Output {
    run_with(args, &[], None)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh folder under the target dir for files a test writes.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ux-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn format_is_a_flag_and_o_names_a_file_in_every_command() {
    let base = ["plan", DEPLOY, "-q", "-p", "keypair=k"];
    let new = run(&[&base[..], &["--format", "json"]].concat());
    assert_eq!(new.status.code(), Some(0), "{}", err(&new));
    assert!(err(&new).is_empty(), "{}", err(&new));
    // The old spellings still work, with a note on standard error.
    for old in [["-o", "json"], ["--output", "json"]] {
        let o = run(&[&base[..], &old[..]].concat());
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(o.stdout, new.stdout, "{old:?}");
        assert!(
            err(&o).contains("is deprecated: use --format (-f); -o names an output file"),
            "{}",
            err(&o)
        );
    }
    // -o FILE: lint, params, export and render write the file and print nothing.
    let dir = scratch("o-file");
    for (args, file) in [
        (
            vec!["lint", DEPLOY, "-p", "keypair=k", "-f", "sarif"],
            "lint.sarif",
        ),
        (vec!["params", DEPLOY, "--format", "json"], "params.json"),
        (
            vec!["export", DEPLOY, "-p", "keypair=k", "-q"],
            "template.yaml",
        ),
        (
            vec![
                "render",
                DEPLOY,
                "user-data",
                "-p",
                "keypair=k",
                "-p",
                "db_password=Abcdefgh-1",
                "-q",
            ],
            "user-data",
        ),
    ] {
        let path = dir.join(file);
        let o = run(&[&args[..], &["-o", path.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", err(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.is_empty(), "{args:?}");
        if file.ends_with(".json") || file.ends_with(".sarif") {
            serde_json::from_str::<serde_json::Value>(&text).expect("a JSON file");
        }
    }
    // plan -o FILE saves a plan to apply, which needs live state.
    let o = run(&["plan", DEPLOY, "-p", "keypair=k", "-o", "plan.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--out saves a plan for `detscript run FILE`"),
        "{}",
        err(&o)
    );
    assert!(!tests_dir().join("plan.json").exists());
}

#[test]
fn a_script_from_standard_input_plans_like_the_file() {
    let source = std::fs::read_to_string(tests_dir().join(DEPLOY)).unwrap();
    let from_file = run(&["plan", DEPLOY, "-p", "keypair=k", "-f", "json"]);
    let from_stdin = run_with(
        &["plan", "-", "-p", "keypair=k", "-f", "json"],
        &[],
        Some(&source),
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{}", err(&from_stdin));
    // The same plan; only the file the resources' lines refer to differs (and so the sha256).
    let doc = |o: &Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_object_mut().unwrap().remove("sha256");
        v.to_string()
            .replace("\"../../scripts/deploy.rhai\"", "\"<stdin>\"")
    };
    assert_eq!(doc(&from_stdin), doc(&from_file));
    assert!(out(&from_stdin).contains("\"file\": \"<stdin>\""));
    // Errors name <stdin> and its line.
    let o = run_with(
        &["plan", "-"],
        &[],
        Some("deployment(\"d\");\nsecurity_group(\"a\", 5);\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("--> <stdin>:2:"), "{}", err(&o));
}

#[test]
fn parameters_come_from_the_environment_and_flags_win() {
    let env = [
        ("DETSCRIPT_PARAM_keypair", "from-env"),
        ("DETSCRIPT_PARAM_db_password", "Env-secret-42"),
        // Declared by no script here: ignored, not an error.
        ("DETSCRIPT_PARAM_other_scripts_param", "x"),
    ];
    let o = run_with(&["plan", DEPLOY, "-q"], &env, None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("key_name                    = \"from-env\""),
        "{}",
        out(&o)
    );
    // The secret is set (no "unset" warning, so -q is not needed to hide it) and never shown.
    let o = run_with(&["plan", DEPLOY, "-p", "keypair=k"], &env, None);
    assert!(!err(&o).contains("db_password"), "{}", err(&o));
    assert!(!out(&o).contains("Env-secret-42") && !err(&o).contains("Env-secret-42"));
    let o = run_with(&["plan", DEPLOY, "-q", "-p", "keypair=flag"], &env, None);
    assert!(
        out(&o).contains("key_name                    = \"flag\""),
        "{}",
        out(&o)
    );
    // Apply-mode rendering: the value the environment gave is stored in Secrets Manager at
    // apply, so master.yaml names the secret and never holds the value.
    let dir = scratch("env-render");
    let file = dir.join("master.yaml");
    let o = run_with(
        &[
            "render",
            DEPLOY,
            "master.yaml",
            "-q",
            "-o",
            file.to_str().unwrap(),
        ],
        &env,
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(
        yaml.contains("secretsmanager_secret.db-password") && !yaml.contains("Env-secret-42"),
        "{yaml}"
    );
}

#[test]
fn quiet_drops_warnings_but_not_errors() {
    let loud = run(&["plan", DEPLOY, "-p", "keypair=k"]);
    assert!(err(&loud).contains("warning[DS003]"));
    let quiet = run(&["plan", DEPLOY, "-p", "keypair=k", "--quiet"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(err(&quiet).is_empty(), "{}", err(&quiet));
    assert_eq!(quiet.stdout, loud.stdout);
    let o = run(&["plan", "fixtures/syntax.rhai", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("error"), "{}", err(&o));
}

#[test]
fn explain_says_why_and_how_to_fix() {
    let o = run(&["explain", "ds003"]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!(out(&o));
    let o = run(&["explain", "DS999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no lint rule \"DS999\""), "{}", err(&o));
    // Every rule is listed, and the README's table names every rule.
    let list = out(&run(&["explain"]));
    let readme = std::fs::read_to_string(tests_dir().join("../../README.md")).unwrap();
    for id in detscript_engine::lint::RULES.iter().map(|r| r.id) {
        assert!(list.contains(id), "{id} missing from `detscript explain`");
        assert!(
            readme.contains(id),
            "{id} missing from the README's lint table"
        );
    }
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let bash = out(&run(&["completions", "bash"]));
    let man = out(&run(&["man"]));
    assert!(
        man.starts_with(".ie") || man.contains(".TH detscript 1"),
        "{man}"
    );
    for sub in [
        "plan",
        "run",
        "destroy",
        "render",
        "graph",
        "export",
        "lint",
        "params",
        "outputs",
        "status",
        "explain",
        "completions",
    ] {
        assert!(
            bash.contains(&format!("detscript,{sub})")),
            "bash lacks {sub}"
        );
        assert!(
            man.contains(&format!(".SH \"DETSCRIPT {}\"", sub.to_uppercase())),
            "man lacks {sub}"
        );
    }
    assert!(man.contains("Exit codes:"), "the man page lists exit codes");
    let o = run(&["--version"]);
    assert_eq!(
        out(&o),
        format!("detscript {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn plan_and_refresh_share_one_summary_wording() {
    let o = run(&["plan", DEPLOY, "-q", "-p", "keypair=k"]);
    assert!(
        out(&o).contains("\nPlan: 23 to add, 0 to change, 0 to destroy.  (plan sha256 "),
        "{}",
        out(&o)
    );
    assert_eq!(
        detscript_engine::summary(21, 0, 0, 0),
        "Plan: 21 to add, 0 to change, 0 to destroy."
    );
    assert_eq!(
        detscript_engine::summary(1, 2, 1, 3),
        "Plan: 1 to add, 2 to change, 1 to replace, 3 to destroy."
    );
}

#[cfg(feature = "aws")]
mod saved {
    use super::*;

    /// A saved plan for deploy.rhai with keypair=k, as `plan --refresh --out` writes it,
    /// its hashes taken from `field`.
    fn saved_plan(dir: &Path, script_sha: &str) -> PathBuf {
        let plan = run(&[
            "plan",
            DEPLOY,
            "-q",
            "-p",
            "keypair=k",
            "-p",
            "db_password=Abcdefgh-1",
            "-f",
            "json",
        ]);
        let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let saved = serde_json::json!({
            "detscript_saved_plan": 1,
            "script": DEPLOY,
            "script_sha256": script_sha,
            "params": {"keypair": {"text": "k"}},
            "secret_params": ["db_password"],
            "plan_sha256": doc["sha256"],
            "changes_sha256": "0",
            "changes": {},
        });
        let path = dir.join("saved.json");
        std::fs::write(&path, saved.to_string()).unwrap();
        path
    }

    fn sha256(path: &Path) -> String {
        use sha2::Digest as _;
        let text = std::fs::read_to_string(path).unwrap();
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    // Stale saved plans are refused before any AWS call (the endpoint here does not exist).
    const AWS: [&str; 4] = [
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--region",
        "us-west-2",
    ];

    #[test]
    fn a_saved_plan_whose_script_changed_is_refused() {
        let dir = scratch("saved-script");
        let path = saved_plan(&dir, "not-the-hash");
        let o = run_with(
            &[&["run", path.to_str().unwrap()][..], &AWS[..]].concat(),
            &[("DETSCRIPT_PARAM_db_password", "Abcdefgh-1")],
            None,
        );
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert!(
            err(&o).contains("../../scripts/deploy.rhai changed since the plan"),
            "{}",
            err(&o)
        );
        assert!(err(&o).contains("nothing was changed"), "{}", err(&o));
    }

    #[test]
    fn a_saved_plan_with_another_secret_or_extra_parameters_is_refused() {
        let dir = scratch("saved-params");
        let path = saved_plan(&dir, &sha256(&tests_dir().join(DEPLOY)));
        let p = path.to_str().unwrap();
        // Non-secret parameters come from the saved plan only.
        let o = run(&[&["run", p, "-p", "keypair=other"][..], &AWS[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert!(
            err(&o).contains("only secret ones (db_password) may be given"),
            "{}",
            err(&o)
        );
        let o = run(&[
            &["run", p, "--params", "fixtures/params.yaml"][..],
            &AWS[..],
        ]
        .concat());
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    }
}

/// Every `detscript SUBCOMMAND --flag` the README shows exists: the command in `--help`, each
/// flag in the command's help.
#[test]
fn the_readmes_command_lines_match_the_cli() {
    let readme = std::fs::read_to_string(tests_dir().join("../../README.md")).unwrap();
    let mut checked = 0;
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        let text = line.split(" #").next().unwrap_or(line);
        let words: Vec<&str> = text.split_whitespace().collect();
        let is_sub = |i: usize| {
            words
                .get(i + 1)
                .is_some_and(|s| s.chars().all(|c| c.is_ascii_lowercase()))
        };
        let Some(at) =
            (0..words.len()).find(|&i| (words[i] == "detscript" || words[i] == "--") && is_sub(i))
        else {
            continue;
        };
        let sub = words[at + 1];
        if !in_sh && !line.trim_start().starts_with("detscript") {
            continue;
        }
        let help = run(&[sub, "--help"]);
        assert_eq!(
            help.status.code(),
            Some(0),
            "README: `detscript {sub}` is no command ({line})"
        );
        let help = out(&help);
        for flag in words[at + 2..].iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(flag),
                "README: `detscript {sub}` has no {flag} ({line})"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} README command lines were checked"
    );
}
