//! The typed model at the script's edges: nothing from outside becomes a reference or secret.

use crate::kinds::Spec;
use crate::value::Part;
use crate::{CompileRequest, Mode, ParamInput, compile, refs};

const SRC: &str = r#"
let p = params(#{ keypair: #{ doc: "key" }, pw: #{ secret: true } });
deployment("demo");
let sg = security_group("m", "master");
let role = iam_role("r").assumed_by("ec2.amazonaws.com");
let db = database("db").engine("postgres").ssl_mode("require").master_user("postgres", secret("pw", p.pw)).allow_from(sg);
master_instance("master").instance_type("m6i.xlarge").image_id("ami-0fc5d935ebf8bc3bc")
    .key_name(p.keypair).security_group(sg).instance_profile(instance_profile(role))
    .master_image("determinedai/determined-master:0.38.0")
    .config(master_config().db(db));
"#;

fn forged(path: &str) -> String {
    format!("{}{path}{}", '\u{E000}', '\u{E001}')
}

#[test]
fn a_parameter_holding_marker_characters_is_refused() {
    let req = CompileRequest::new("t.rhai", SRC, Mode::Apply)
        .param("keypair", ParamInput::Text(forged("secret.pw")))
        .param("pw", ParamInput::Text("Correct-Horse-9".into()));
    let f = compile(&req).expect_err("a forged reference must not compile");
    let msg = &f.diagnostics[0].message;
    assert!(
        msg.contains("parameter keypair") && msg.contains("reserves"),
        "{msg}"
    );
    assert!(!msg.contains("Correct-Horse-9"));
}

#[test]
fn a_script_literal_holding_marker_characters_is_refused() {
    let src = format!(
        "deployment(\"d\");\nsecurity_group(\"web\", \"{}\");",
        forged("secret.pw")
    );
    let f = compile(&CompileRequest::new("t.rhai", &src, Mode::Preview)).unwrap_err();
    assert!(
        f.diagnostics[0].message.contains("reserves"),
        "{:?}",
        f.diagnostics
    );
    assert_eq!(f.diagnostics[0].line, 2);
    // An escape sequence makes the same character.
    let src = "deployment(\"d\");\nsecurity_group(\"web\", \"\\u{E000}secret.pw\\u{E001}\");";
    assert!(compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).is_err());
}

#[test]
fn a_blob_cannot_forge_a_marker() {
    // Scripts cannot build blobs byte by byte (the engine leaves out Rhai's blob package)...
    let src = "let b = blob();\ndeployment(\"d\");";
    let err = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap_err();
    assert!(
        err.diagnostics[0].message.contains("unknown function"),
        "{:?}",
        err.diagnostics
    );
    // ...and the one blob they can make, a string's bytes, decodes without markers.
    let src = r#"
deployment("d");
security_group("web", "web servers".to_blob().as_string() + "x");
"#;
    let c = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap();
    let Spec::SecurityGroup(sg) = &c.plan.get("security_group.web").unwrap().spec else {
        panic!("a security group")
    };
    assert_eq!(sg.description.as_text(), Some("web serversx"));
}

#[test]
fn sleep_is_refused_not_waited_for() {
    // Rhai's own `sleep` would block the CLI for as long as asked (the operation limit does
    // not see it) and trap the page's engine.
    for call in ["sleep(100000)", "sleep(1e9)", "call(Fn(\"sleep\"), 100000)"] {
        let src = format!("deployment(\"d\");\n{call};");
        let started = std::time::Instant::now();
        let f = compile(&CompileRequest::new("t.rhai", &src, Mode::Preview)).unwrap_err();
        assert!(started.elapsed().as_secs() < 5, "{call} waited");
        assert!(
            f.diagnostics[0].message.contains("sleep is not available"),
            "{call}: {:?}",
            f.diagnostics
        );
        assert_eq!(f.diagnostics[0].line, 2, "{call}");
    }
}

#[test]
fn specs_hold_typed_references_and_secrets() {
    let req = CompileRequest::new("t.rhai", SRC, Mode::Apply)
        .param("keypair", ParamInput::Text("k".into()))
        .param("pw", ParamInput::Text("Correct-Horse-9".into()));
    let c = compile(&req).unwrap();
    let Spec::RdsInstance(db) = &c.plan.get("rds_instance.db").unwrap().spec else {
        panic!("a standalone instance")
    };
    let settings = db.db.as_ref().unwrap();
    // The password is the secret's value; the secret holds the parameter.
    assert_eq!(
        crate::kinds::secret::value_of(&settings.master_password),
        Some("secretsmanager_secret.pw")
    );
    let Spec::SecretsmanagerSecret(s) = &c.plan.get("secretsmanager_secret.pw").unwrap().spec
    else {
        panic!("a secret")
    };
    assert_eq!(
        s.value.as_ref().unwrap().parts(),
        &[Part::Secret("pw".into())]
    );
    let Spec::Ec2Instance(m) = &c.plan.get("ec2_instance.master").unwrap().spec else {
        panic!("the master")
    };
    assert_eq!(m.key_name.as_ref().unwrap().as_text(), Some("k"));
    let r = m.iam_instance_profile.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(
        (r.resource.as_str(), r.attr.as_str()),
        ("instance_profile.r", "arn")
    );
    // The plan JSON shows neither the secret nor markers.
    let json = c.plan.to_json();
    assert!(!json.contains("Correct-Horse-9") && !refs::has_marker_chars(&json));
}

#[cfg(feature = "metadata")]
#[test]
fn an_unset_secret_parameter_reads_unset_and_stays_a_secret() {
    // Previewed without its value: shown as unset (not as a value that is hidden)...
    let req = CompileRequest::new("t.rhai", SRC, Mode::Preview);
    let c = compile(&req).unwrap();
    let Spec::SecretsmanagerSecret(s) = &c.plan.get("secretsmanager_secret.pw").unwrap().spec
    else {
        panic!("a secret")
    };
    let value = s.value.as_ref().unwrap();
    assert_eq!(value.parts(), &[Part::UnsetSecret("pw".into())]);
    assert!(value.has_secret());
    assert_eq!(value.to_string(), "(unset secret parameter: pw)");
    assert!(
        c.plan
            .render_text()
            .contains("(unset secret parameter: pw)")
    );
    assert!(c.plan.to_json().contains("${param.pw}"));
    // ...and still a secret: in a plain field it reads unset without a value and
    // `(sensitive)` with one, and the exported template asks for it with NoEcho either way.
    let plain = SRC.replace("key_name(p.keypair)", "key_name(p.pw)");
    let unset = compile(&CompileRequest::new("t.rhai", &plain, Mode::Preview)).unwrap();
    let set = compile(
        &CompileRequest::new("t.rhai", &plain, Mode::Preview)
            .param("pw", ParamInput::Text("Correct-Horse-9".into())),
    )
    .unwrap();
    for (c, shown) in [
        (&unset, "(unset secret parameter: pw)"),
        (&set, "(sensitive)"),
    ] {
        let text = c.plan.render_text();
        let line = text.lines().find(|l| l.contains("key_name")).unwrap();
        assert!(line.ends_with(shown), "{line}");
        assert!(!c.plan.to_json().contains("Correct-Horse-9"));
        let template = crate::cfn::export(&c.plan, &c.params).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&crate::cfn::to_json(&template)).unwrap();
        assert_eq!(json["Parameters"]["Pw"]["NoEcho"], true, "{json}");
    }
}

#[test]
fn did_you_mean_comes_from_the_registrations() {
    let names = super::api_names(&super::engine_for_docs());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/script/api_names.txt");
    let want = names.join("\n") + "\n";
    if std::env::var_os("DETSCRIPT_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    assert!(
        super::API_NAMES_TXT == want,
        "engine/src/script/api_names.txt differs from the registrations: run DETSCRIPT_UPDATE_DOCS=1 cargo test -p detscript-engine did_you_mean"
    );
    for n in [
        "params",
        "deployment",
        "security_group",
        "ingress",
        "iam_role",
        "allow",
        "s3_bucket",
        "database",
        "ssl_mode",
        "master_config",
        "aws_pool",
        "master_instance",
        "policy",
        "arn",
        "endpoint",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let (m, _) = super::tests::error("deployment(\"d\");\nsecurity_grop(\"web\", \"w\");");
    assert!(m.contains("did you mean 'security_group'"), "{m}");
}

#[cfg(feature = "metadata")]
#[test]
fn the_reference_lists_every_registration() {
    let doc = super::api_reference();
    for name in super::api_names(&super::engine_for_docs()) {
        assert!(
            doc.contains(&format!("{name}(")) || doc.contains(&format!(".{name}")),
            "{name}"
        );
    }
    assert!(
        doc.contains("`security_group(string, string)` -> SecurityGroup"),
        "{doc}"
    );
    assert!(doc.contains("`.arn` -> string"), "{doc}");
}

#[test]
fn tags_are_templates_and_never_leak_markers() {
    let src = "let p = params(#{ team: #{ doc: \"t\" } });\ndeployment(\"d\").tags(#{ team: p.team });\nsecurity_group(\"w\", \"w\");";
    let c = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap();
    let sg = c.plan.get("security_group.w").unwrap();
    assert_eq!(sg.tags["team"].parts(), &[Part::Unset("team".into())]);
    let json = c.plan.to_json();
    assert!(
        json.contains("${param.team}") && !refs::has_marker_chars(&json),
        "{json}"
    );
    assert!(
        c.plan
            .render_text()
            .contains("team=(unset parameter: team)")
    );
}

/// finalize keeps a spec's typed form when it has no reference to rewrite, and takes the
/// others through their JSON: both ways give the same plan, JSON and text, for every example
/// script (with its parameters unset and set).
#[test]
fn specs_plan_the_same_kept_or_rewritten() {
    use std::collections::BTreeMap;
    use std::rc::Rc;

    use super::finalize::ALWAYS_REWRITE;
    use crate::MapLoader;

    let lib = BTreeMap::from([(
        "lib/pools.rhai".to_string(),
        include_str!("../../../scripts/lib/pools.rhai").to_string(),
    )]);
    let scripts = [
        ("deploy", include_str!("../../../scripts/deploy.rhai")),
        (
            "production",
            include_str!("../../../scripts/production.rhai"),
        ),
        ("secure", include_str!("../../../scripts/secure.rhai")),
        ("two-pools", include_str!("../../../scripts/two-pools.rhai")),
        (
            "aux-compute",
            include_str!("../../../scripts/aux-compute.rhai"),
        ),
        ("model", SRC),
    ];
    for (name, src) in scripts {
        for with_params in [false, true] {
            let file = format!("scripts/{name}.rhai");
            let plans = [false, true].map(|slow| {
                ALWAYS_REWRITE.with(|c| c.set(slow));
                let mut req = CompileRequest {
                    loader: Rc::new(MapLoader(lib.clone())),
                    ..CompileRequest::new(&file, src, Mode::Preview)
                };
                if with_params {
                    req = req.param("keypair", ParamInput::Text("k".into()));
                    let secret = if name == "model" { "pw" } else { "db_password" };
                    req = req.param(secret, ParamInput::Text("pw-1".into()));
                }
                let compiled = compile(&req);
                ALWAYS_REWRITE.with(|c| c.set(false));
                let plan = match compiled {
                    Ok(c) => c.plan,
                    Err(f) => panic!("{name}: {:#?}", f.diagnostics),
                };
                (plan.to_json(), plan.render_text())
            });
            assert!(plans[0].0.contains("\"resources\""), "{name}");
            assert_eq!(plans[0], plans[1], "{name}, parameters set: {with_params}");
        }
    }
}

#[test]
fn the_plan_finds_every_resource_by_id_and_nothing_else() {
    // Plan::get's index (sorted hashes of the ids), with a database whose placeholder id
    // became a cluster's and a writer added at the end of the script.
    let src = r#"
let p = params(#{ pw: #{ secret: true } });
deployment("demo");
let prev = security_group("g0", "generated");
for i in 1..300 { let g = security_group(`g${i}`, "generated"); g.ingress(tcp(443), prev); prev = g; }
let db = database("db").master_user("postgres", secret("pw", p.pw)).allow_from(prev);
"#;
    let plan = compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
        .expect("compiles")
        .plan;
    assert!(plan.len() > 600, "{}", plan.len());
    for r in &plan.resources {
        assert!(std::ptr::eq(plan.get(&r.id).expect("found"), r), "{}", r.id);
    }
    for id in ["database.db", "security_group.g300", "security_group.", ""] {
        assert!(plan.get(id).is_none(), "{id}");
    }
    assert!(plan.get("rds_cluster.db").is_some());
    assert!(plan.get("rds_instance.db-writer").is_some());
}

#[test]
fn resources_declared_before_what_they_depend_on_are_ordered_after_it() {
    // The roles come before the log group their writers' policy (added at the end of the
    // script) refers to: the plan's order is not the declaration order, so the ordering
    // takes its general way (Kahn's algorithm), not the one for scripts in dependency order.
    let src = r#"deployment("t");
let agent = instance_profile(iam_role("agent").assumed_by("ec2.amazonaws.com"));
let master = instance_profile(iam_role("master").assumed_by("ec2.amazonaws.com"));
let logs = log_group("logs");
let sg = security_group("agent", "A");
let pool = aws_pool("default").instance_type("g5.xlarge").ssh_key_name("k").iam_instance_profile(agent).security_group(sg).log_group(logs);
let c = master_config().resource_pool(pool);
master_instance("m").instance_type("m6i.xlarge").image_id("ami-0123456789abcdef0").master_image("img:1").instance_profile(master).log_group(logs).config(c);
"#;
    let plan = compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
        .expect("compiles")
        .plan;
    let at = |id: &str| plan.resources.iter().position(|r| r.id == id).expect(id);
    for (k, r) in plan.resources.iter().enumerate() {
        for d in &r.depends_on {
            assert!(at(d) < k, "{} before its dependency {d}", r.id);
        }
    }
    let declared: Vec<usize> = plan.resources.iter().map(|r| r.origin.declared).collect();
    assert!(declared.windows(2).any(|w| w[0] > w[1]), "{declared:?}");
    // Ties keep declaration order: the log group comes right before the first role.
    assert_eq!(at("cloudwatch_log_group.logs") + 1, at("iam_role.agent"));
}
