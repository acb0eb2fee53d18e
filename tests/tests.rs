//! Workspace integration tests: every example script's plan, snapshotted as text and JSON,
//! and the plan's determinism. (CLI cases live in cli/tests, next to the binary they run.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use detscript_engine::{CompileRequest, Mode, ModuleLoader, ParamInput, Plan, Reveal, compile};
use sha2::{Digest, Sha256};

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

struct DirLoader(PathBuf);

impl ModuleLoader for DirLoader {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(path)).ok()
    }
}

/// The parameters every example is planned with: the required ones the scripts declare.
fn example_params() -> BTreeMap<String, ParamInput> {
    let mut p = BTreeMap::new();
    p.insert("keypair".to_string(), ParamInput::Text("test-key".into()));
    p.insert(
        "db_password".to_string(),
        ParamInput::Text("Test-password-1".into()),
    );
    p.insert(
        "registry_password".to_string(),
        ParamInput::Text("Test-registry-token".into()),
    );
    p
}

fn plan_of(path: &Path, params: BTreeMap<String, ParamInput>) -> Plan {
    compiled(path, params).0
}

/// The plan and its findings (warnings).
fn compiled(
    path: &Path,
    params: BTreeMap<String, ParamInput>,
) -> (Plan, Vec<detscript_engine::Diagnostic>) {
    let source = std::fs::read_to_string(path).expect("readable script");
    // The TLS certificate and key of the scripts that declare them (secure, production).
    let mut params = params;
    if source.contains("tls_cert:") {
        for (k, v) in [
            (
                "tls_cert",
                "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n",
            ),
            (
                "tls_key",
                "-----BEGIN PRIVATE KEY-----\ntest\n-----END PRIVATE KEY-----\n",
            ),
        ] {
            params.insert(k.to_string(), ParamInput::Text(v.into()));
        }
    }
    let file = format!("scripts/{}", path.file_name().unwrap().to_string_lossy());
    match compile(&request(&file, &source, Mode::Apply, &params)) {
        Ok(c) => (c.plan, c.diagnostics),
        Err(f) => panic!("{file} does not compile: {:#?}", f.diagnostics),
    }
}

/// The request for a script of `scripts/` with those of `params` it declares (aux-compute.rhai
/// alone has registry_password, for example).
fn request<'a>(
    file: &'a str,
    source: &'a str,
    mode: Mode,
    params: &BTreeMap<String, ParamInput>,
) -> CompileRequest<'a> {
    let mut req = CompileRequest {
        file,
        source,
        params: BTreeMap::new(),
        mode,
        loader: Rc::new(DirLoader(scripts_dir())),
    };
    let declared = detscript_engine::declared_params(&req)
        .unwrap_or_else(|f| panic!("{file}: {:#?}", f.diagnostics));
    req.params = params
        .iter()
        .filter(|(k, _)| declared.iter().any(|p| &p.name == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    req
}

fn script_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scripts_dir())
        .expect("scripts/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "expected example scripts in scripts/");
    paths
}

#[test]
fn every_example_script_plans_and_matches_its_snapshots() {
    for path in script_paths() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (plan, findings) = compiled(&path, example_params());
        let rendered: String = findings.iter().map(|d| d.render()).collect();
        insta::assert_snapshot!(format!("{name}.findings.txt"), rendered);
        insta::assert_snapshot!(format!("{name}.plan.txt"), plan.render_text());
        insta::assert_snapshot!(format!("{name}.plan.json"), plan.to_json());
        if let Some(yaml) = plan.master_yaml(Reveal::Redact) {
            insta::assert_snapshot!(format!("{name}.master.yaml"), yaml);
        }
        let json = plan.to_json();
        assert!(
            !json.contains("Test-password-1"),
            "{name}: the secret leaked into the plan JSON"
        );
        assert!(
            !plan.render_text().contains("Test-password-1"),
            "{name}: the secret leaked into the plan text"
        );
    }
}

#[test]
fn plan_json_is_byte_identical_across_runs_and_parameter_order() {
    let path = scripts_dir().join("deploy.rhai");
    let a = plan_of(&path, example_params()).to_json();
    let mut reversed = BTreeMap::new();
    for (k, v) in example_params().into_iter().rev() {
        reversed.insert(k, v);
    }
    let b = plan_of(&path, reversed).to_json();
    assert_eq!(a, b);
}

#[test]
fn sha256_is_the_hash_of_the_compact_document_without_it() {
    let plan = plan_of(&scripts_dir().join("deploy.rhai"), example_params());
    let mut doc: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    let claimed = doc.as_object_mut().unwrap().remove("sha256").unwrap();
    let compact = serde_json::to_string(&doc).unwrap();
    let actual: String = Sha256::digest(compact.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(claimed.as_str().unwrap(), actual);
}

#[test]
fn a_changed_parameter_changes_the_hash() {
    let path = scripts_dir().join("deploy.rhai");
    let a = plan_of(&path, example_params()).sha256();
    let mut params = example_params();
    params.insert("max_instances".into(), ParamInput::Text("6".into()));
    let b = plan_of(&path, params).sha256();
    assert_ne!(a, b);
}

/// deploy.rhai holds exactly the resources of the AWS manual deployment guide.
#[test]
fn deploy_rhai_is_the_guide() {
    let plan = plan_of(&scripts_dir().join("deploy.rhai"), example_params());
    let ids: Vec<&str> = plan.resources.iter().map(|r| r.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "ec2_instance.master",
            "iam_role.agent",
            "iam_role.master",
            "instance_profile.agent",
            "instance_profile.master",
            "rds_cluster.db",
            "rds_instance.db-writer",
            "s3_bucket.checkpoints",
            "secretsmanager_secret.admin-password",
            "secretsmanager_secret.db-password",
            "security_group.agent",
            "security_group.db-sg",
            "security_group.master",
            "security_group_rule.agent-egress-tcp-0-65535-to-0.0.0.0/0",
            "security_group_rule.agent-ingress-tcp-0-65535-from-agent",
            "security_group_rule.agent-ingress-tcp-0-65535-from-master",
            "security_group_rule.agent-ingress-tcp-22-from-0.0.0.0/0",
            "security_group_rule.db-sg-ingress-tcp-5432-from-master",
            "security_group_rule.master-egress-tcp-0-65535-to-0.0.0.0/0",
            "security_group_rule.master-egress-tcp-0-65535-to-agent",
            "security_group_rule.master-ingress-tcp-22-from-0.0.0.0/0",
            "security_group_rule.master-ingress-tcp-8080-from-0.0.0.0/0",
            "security_group_rule.master-ingress-tcp-8080-from-agent",
        ]
    );
    // Dependencies come from references only, and every one is declared before its user.
    for (i, r) in plan.resources.iter().enumerate() {
        for d in &r.depends_on {
            let j = ids.iter().position(|x| x == d).expect("dependency in plan");
            assert!(j < i, "{} comes before its dependency {d}", r.id);
        }
    }
    let role = plan.get("iam_role.master").unwrap().properties();
    let pass = &role["inline_policies"]["pass-role"]["Statement"][0];
    assert_eq!(pass["Action"], serde_json::json!(["iam:PassRole"]));
    assert_eq!(pass["Resource"], serde_json::json!("${iam_role.agent.arn}"));
    let master = plan.get("ec2_instance.master").unwrap();
    assert_eq!(
        master.properties()["root_volume"]["size_gb"],
        serde_json::json!(200)
    );
    assert_eq!(
        master.properties()["key_name"],
        serde_json::json!("test-key")
    );
    let yaml = plan.master_yaml(Reveal::Secrets).unwrap();
    let doc: serde_json::Value = serde_yaml_ng_free_parse(&yaml);
    assert_eq!(doc["db"]["user"], "postgres");
    // The password is a Secrets Manager secret the master reads at boot, never in the file.
    assert_eq!(
        doc["db"]["password"],
        "${secretsmanager_secret.db-password.value}"
    );
    assert!(!yaml.contains("Test-password-1"));
    assert_eq!(
        doc["security"]["initial_user_password"],
        "${secretsmanager_secret.admin-password.value}"
    );
    assert_eq!(doc["db"]["host"], "${rds_cluster.db.endpoint}");
    assert_eq!(doc["db"]["port"], 5432);
    assert_eq!(doc["db"]["name"], "determined");
    assert_eq!(doc["checkpoint_storage"]["type"], "s3");
    // Region and account in the name: one deployment name per region and account.
    assert_eq!(
        doc["checkpoint_storage"]["bucket"],
        "det-demo-checkpoints-us-west-2-${aws.account_id}"
    );
    let provider = &doc["resource_pools"][0]["provider"];
    assert_eq!(doc["resource_pools"][0]["pool_name"], "default");
    assert_eq!(provider["type"], "aws");
    assert_eq!(provider["tag_key"], "determined-det-demo");
    assert_eq!(provider["tag_value"], "determined-det-demo-agent");
    assert_eq!(provider["network_interface"]["public_ip"], true);
    assert_eq!(provider["max_instances"], 5);
}

/// The hardened example passes every lint; the guide's own script gets the guide's traps.
#[test]
fn secure_rhai_has_no_findings_and_deploy_rhai_has_the_guides() {
    let (_, findings) = compiled(&scripts_dir().join("secure.rhai"), example_params());
    assert!(findings.is_empty(), "secure.rhai: {findings:#?}");
    let (_, findings) = compiled(&scripts_dir().join("deploy.rhai"), example_params());
    let mut ids: Vec<&str> = findings.iter().filter_map(|d| d.code.as_deref()).collect();
    ids.sort();
    assert_eq!(ids, vec!["DS003", "DS003", "DS004", "DS005"]);
}

/// master.yaml parsed with the same YAML library the CLI uses for params files.
fn serde_yaml_ng_free_parse(yaml: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(yaml).expect("master.yaml is valid YAML")
}

/// A script compiled as `detscript export` does it (unset parameters become template
/// parameters), exported as a CloudFormation template.
fn cfn_template_of(path: &Path) -> serde_json::Value {
    let file = format!("scripts/{}", path.file_name().unwrap().to_string_lossy());
    cfn_export::template_of(path, &file, &example_params())
}

#[test]
fn deploy_rhai_exports_the_cloudformation_template_of_its_snapshots() {
    let t = cfn_template_of(&scripts_dir().join("deploy.rhai"));
    insta::assert_snapshot!("deploy.cfn.yaml", detscript_engine::cfn::to_yaml(&t));
    insta::assert_snapshot!("deploy.cfn.json", detscript_engine::cfn::to_json(&t));
}

#[test]
fn every_example_script_exports_a_self_consistent_template_without_its_secret() {
    fn names(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("Ref", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("Fn::GetAtt", serde_json::Value::Array(a)) => {
                            out.push(a[0].as_str().unwrap().into())
                        }
                        ("Fn::Sub", serde_json::Value::String(s)) => out.extend(
                            s.split("${")
                                .skip(1)
                                .filter(|p| !p.starts_with('!'))
                                .map(|p| p.split(['}', '.']).next().unwrap().to_string()),
                        ),
                        ("DependsOn", serde_json::Value::Array(a)) => {
                            out.extend(a.iter().map(|d| d.as_str().unwrap().to_string()))
                        }
                        _ => names(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| names(x, out)),
            _ => {}
        }
    }
    for path in script_paths() {
        let t = cfn_template_of(&path);
        let text = detscript_engine::cfn::to_yaml(&t) + detscript_engine::cfn::to_json(&t).as_str();
        assert!(
            !text.contains("Test-password-1"),
            "{}: the secret leaked into the template",
            path.display()
        );
        let resources = t["Resources"].as_object().unwrap();
        let empty = serde_json::Map::new();
        let parameters = t
            .get("Parameters")
            .and_then(|p| p.as_object())
            .unwrap_or(&empty);
        let mut used = Vec::new();
        names(&t, &mut used);
        for n in used {
            assert!(
                resources.contains_key(&n) || parameters.contains_key(&n) || n.starts_with("AWS::"),
                "{}: {n} is referenced but not defined",
                path.display()
            );
        }
        for (name, p) in parameters {
            if name == "DbPassword" {
                assert_eq!(
                    p["NoEcho"],
                    true,
                    "{}: the secret parameter must be NoEcho",
                    path.display()
                );
            }
        }
        for (id, r) in resources {
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
            assert!(r["Type"].as_str().unwrap().starts_with("AWS::"), "{id}");
        }
    }
}

/// CloudFormation export checks (tests/cfn/export.rs).
#[path = "cfn/export.rs"]
mod cfn_export;

/// docs/script-api.md is the engine's own list of registrations.
#[test]
fn api_reference_is_up_to_date() {
    generated_file_is_current("script-api.md", &detscript_engine::api_reference());
}

/// The Rhai definition file for editors, generated from the same registrations.
#[test]
fn api_reference_definitions_are_up_to_date() {
    generated_file_is_current("detscript.d.rhai", &detscript_engine::api_definitions());
}

/// `docs/NAME` equals `want` (rewritten first with DETSCRIPT_UPDATE_DOCS set).
fn generated_file_is_current(name: &str, want: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    if std::env::var_os("DETSCRIPT_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/{name} is out of date: run DETSCRIPT_UPDATE_DOCS=1 cargo test -p detscript-tests api_reference"
    );
}

/// The README's tour of the script API is a script that compiles.
#[test]
fn the_readme_tour_compiles() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let start = readme
        .find("```rhai\n")
        .expect("a rhai block in the README")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let req = CompileRequest::new("README.md", &readme[start..end], Mode::Preview);
    let compiled = detscript_engine::compile(&req)
        .unwrap_or_else(|f| panic!("the README tour does not compile: {:#?}", f.diagnostics));
    assert!(compiled.plan.get("ec2_instance.master").is_some());
}

/// README.md with every run of whitespace as one space.
fn readme_flat() -> String {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README.md");
    readme.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README's list of regions with Determined AMIs is the engine's map.
#[test]
fn readme_lists_the_ami_regions_of_the_engine() {
    let want = format!(
        "Determined AMIs exist for: {}.",
        detscript_engine::amis::regions().join(", ")
    );
    let flat = readme_flat();
    assert!(flat.contains(&want), "the README should say {want:?}");
    let ssm = format!("`{}`", detscript_engine::amis::UBUNTU_SSM_PARAMETER);
    assert!(flat.contains(&ssm), "the README should name {ssm}");
}

/// What the README says of log groups is what the engine does.
#[test]
fn readme_states_the_log_groups_defaults_and_policy() {
    use detscript_engine::kinds::log_group as lg;
    let flat = readme_flat();
    for want in [
        format!(
            "kept {} days unless `retention_days`",
            lg::DEFAULT_RETENTION_DAYS
        ),
        format!("inline policy `{}`", lg::POLICY_NAME),
        format!("{} on the group's ARN only", lg::LOG_ACTIONS.join(", ")),
        format!("into the metrics namespace `{}`", lg::METRICS_NAMESPACE),
    ] {
        assert!(flat.contains(&want), "the README should say {want:?}");
    }
}

/// The README's table of names is what deploy.rhai (deployment det-demo, us-west-2) plans,
/// and what `run` names once it knows the account.
#[test]
fn readme_names_are_the_plans() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README.md");
    let (plan, _) = compiled(&scripts_dir().join("deploy.rhai"), example_params());
    let live = plan.with_account("123456789012", "us-west-2").unwrap();
    let name = |p: &Plan, id: &str| p.get(id).unwrap().name.clone();
    for (p, id) in [
        (&plan, "iam_role.master"),
        (&live, "s3_bucket.checkpoints"),
        (&plan, "security_group.master"),
        (&plan, "secretsmanager_secret.db-password"),
    ] {
        let want = format!("`{}`", name(p, id));
        assert!(
            readme.contains(&want),
            "the README's names should show {want}"
        );
    }
    assert_eq!(
        name(&plan, "s3_bucket.checkpoints"),
        "det-demo-checkpoints-us-west-2-${aws.account_id}"
    );
    assert_eq!(
        name(&plan, "instance_profile.master"),
        name(&plan, "iam_role.master")
    );
}

/// The README's networking example compiles into the network it describes, without findings.
#[test]
fn the_readme_networking_example_plans() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let section = &readme[readme.find("## Networking").expect("a Networking section")..];
    let start = section.find("```rhai\n").expect("a rhai block") + 8;
    let end = start + section[start..].find("```").unwrap();
    let req = CompileRequest::new("README.md", &section[start..end], Mode::Preview);
    let compiled = detscript_engine::compile(&req).unwrap_or_else(|f| {
        panic!(
            "the networking example does not compile: {:#?}",
            f.diagnostics
        )
    });
    let kinds: std::collections::BTreeSet<&str> = compiled
        .plan
        .resources
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    for k in [
        "vpc",
        "internet_gateway",
        "route_table",
        "subnet",
        "nat_gateway",
        "elastic_ip",
        "vpc_endpoint",
        "db_subnet_group",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    let codes: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter_map(|d| d.code.clone())
        .collect();
    assert!(codes.is_empty(), "{codes:?}");
}

/// The README states the engine's parse limits and the master's wait for the database.
#[test]
fn the_readme_states_the_let_limit_and_the_database_wait() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let n = detscript_engine::budget::MAX_LET_STATEMENTS;
    let limit = format!("{},{:03} `let` statements", n / 1000, n % 1000);
    assert!(readme.contains(&limit), "README should say {limit}");
    let minutes = detscript_engine::userdata::DB_WAIT_SECONDS / 60;
    assert!(
        readme.contains(&format!("at most {minutes} minutes")),
        "README should say the master waits at most {minutes} minutes for the database"
    );
}
