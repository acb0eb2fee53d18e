//! Values that reach the master's user-data (a root shell script) are checked where the
//! script sets them: `.master_image(...)` and `.config_path(...)`.

use crate::{CompileRequest, Compiled, Failure, Mode, ParamInput, Reveal, compile};

/// `version` and `config` feed the master image (line 12) and master.yaml's path (line 14).
const SRC: &str = r#"let p = params(#{
    version: #{ default: "0.38.0" },
    config:  #{ default: "/usr/local/determined/etc/master.yaml" },
});
deployment("t");
let sg = security_group("agent", "A");
let prof = instance_profile(iam_role("agent").assumed_by("ec2.amazonaws.com"));
let pool = aws_pool("default").instance_type("g5.xlarge").ssh_key_name("k").iam_instance_profile(prof).security_group(sg);
let c = master_config().resource_pool(pool);
master_instance("m").instance_type("m6i.xlarge").image_id("ami-0123456789abcdef0")
    .config(c)
    .master_image("determinedai/determined-master:" + p.version)
    .public_ip(true)
    .config_path(p.config);
"#;

fn with(mode: Mode, params: &[(&str, &str)]) -> Result<Compiled, Failure> {
    let mut req = CompileRequest::new("t.rhai", SRC, mode);
    for (k, v) in params {
        req = req.param(k, ParamInput::Text(v.to_string()));
    }
    compile(&req)
}

fn error(params: &[(&str, &str)]) -> (String, u32) {
    match with(Mode::Apply, params) {
        Ok(_) => panic!("expected an error for {params:?}"),
        Err(f) => (f.diagnostics[0].message.clone(), f.diagnostics[0].line),
    }
}

fn user_data(c: &Compiled) -> String {
    c.plan.user_data(Reveal::Redact).expect("a master")
}

#[test]
fn valid_values_give_the_usual_user_data() {
    let c = with(Mode::Apply, &[]).expect("compiles");
    let ud = user_data(&c);
    assert!(
        ud.contains("\ndocker pull determinedai/determined-master:0.38.0\n"),
        "{ud}"
    );
    assert!(ud.contains(
        "\nmv /usr/local/determined/etc/master.yaml.new /usr/local/determined/etc/master.yaml\n"
    ));
    let c = with(
        Mode::Apply,
        &[
            ("version", "0.38.0-rc_1"),
            ("config", "/opt/det/cluster.yaml"),
        ],
    )
    .expect("compiles");
    let ud = user_data(&c);
    assert!(ud.contains("\ndocker pull determinedai/determined-master:0.38.0-rc_1\n"));
    assert!(
        ud.contains("\n  --config-file /etc/determined/cluster.yaml\n"),
        "{ud}"
    );
}

/// Asserts that the parameter value is refused at `line` with a message containing `want`.
fn refused_at(param: (&str, &str), line: u32, want: &str) {
    let (msg, at) = error(&[param]);
    assert_eq!(at, line, "{msg}");
    assert!(msg.contains(want), "{msg}");
}

#[test]
fn a_hostile_version_is_refused_at_the_master_image_line() {
    for version in [
        "0.38.0;touch${IFS}/tmp/x",
        "0.38.0$(touch /tmp/x)",
        "0.38.0`id`",
        "0.38.0 && id",
        "0.38.0>/etc/passwd",
        "0.38.0\nid",
        "0.38.0'",
    ] {
        let got = format!("{:?}", format!("determinedai/determined-master:{version}"));
        refused_at(
            ("version", version),
            12,
            &format!(
                "master_instance 'm': .master_image() expects a Docker image reference such as \"determinedai/determined-master:0.38.0\", got {got}"
            ),
        );
    }
    // A long value is cut in the message.
    let (msg, _) = error(&[("version", &format!("0.38.0;{}", "x".repeat(300)))]);
    assert!(msg.contains("\"...") && msg.len() < 400, "{msg}");
}

#[test]
fn a_hostile_config_path_is_refused_at_the_config_path_line() {
    for path in [
        "/etc/$(id)/master.yaml",
        "/etc/master.yaml;touch${IFS}/tmp/x",
        "/etc/`id`.yaml",
        "/etc/a b.yaml",
        "/etc/../master.yaml",
        "/etc/det/",
        "/etc//master.yaml",
        "-rf",
    ] {
        refused_at(
            ("config", path),
            14,
            &format!(
                "master_instance 'm': .config_path() expects a normalized file path such as \"/usr/local/determined/etc/master.yaml\", got {path:?}"
            ),
        );
    }
}

#[test]
fn literal_values_are_checked_too() {
    let src = SRC.replace(
        "\"determinedai/determined-master:\" + p.version",
        "\"img:1 --privileged\"",
    );
    let f = compile(&CompileRequest::new("t.rhai", &src, Mode::Preview)).unwrap_err();
    assert_eq!(f.diagnostics[0].line, 12);
    assert!(
        f.diagnostics[0]
            .message
            .contains("got \"img:1 --privileged\"")
    );
}

#[test]
fn unset_parameters_stay_unknown_in_a_preview() {
    let src = SRC
        .replace(
            "version: #{ default: \"0.38.0\" }",
            "version: #{ doc: \"v\" }",
        )
        .replace(
            "config:  #{ default: \"/usr/local/determined/etc/master.yaml\" }",
            "config: #{ doc: \"path\" }",
        )
        .replace(
            ".config_path(p.config)",
            ".config_path(\"/opt/det/\" + p.config)",
        );
    let c = compile(&CompileRequest::new("t.rhai", &src, Mode::Preview)).expect("a preview");
    let ud = user_data(&c);
    assert!(
        ud.contains("\ndocker pull determinedai/determined-master:${param.version}\n"),
        "{ud}"
    );
    assert!(
        ud.contains("\nmv /opt/det/${param.config}.new /opt/det/${param.config}\n"),
        "{ud}"
    );
    assert!(ud.contains("\n  --config-file /etc/determined/${param.config}\n"));
}

#[test]
fn the_reported_render_command_is_refused() {
    // `detscript render scripts/deploy.rhai user-data -p keypair=k -p 'version=0.38.0;touch${IFS}/tmp/x'`
    let src = include_str!("../../../scripts/deploy.rhai");
    let line = src
        .lines()
        .position(|l| l.contains(".master_image("))
        .expect("deploy.rhai sets the master image") as u32
        + 1;
    for mode in [Mode::Preview, Mode::Apply] {
        let req = CompileRequest::new("deploy.rhai", src, mode)
            .param("keypair", ParamInput::Text("k".into()))
            .param("db_password", ParamInput::Text("Str0ng-password-1".into()))
            .param(
                "version",
                ParamInput::Text("0.38.0;touch${IFS}/tmp/x".into()),
            );
        let f = compile(&req).expect_err("a hostile version");
        let d = &f.diagnostics[0];
        assert_eq!(d.line, line, "{}", d.message);
        assert!(
            d.message.contains(
                "expects a Docker image reference such as \"determinedai/determined-master:0.38.0\", got \"determinedai/determined-master:0.38.0;touch${IFS}/tmp/x\""
            ),
            "{}",
            d.message
        );
    }
}
