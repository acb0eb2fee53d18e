use super::*;
use crate::{CompileRequest, Compiled, Mode, ParamInput, compile};

const CLUSTER: &str = r#"
    let p = params(#{
        keypair: #{ doc: "EC2 key pair" },
        db_password: #{ secret: true, default: "" },
    });
    deployment("demo");
    let bucket = s3_bucket("checkpoints");
    let master_sg = security_group("master", "Determined master");
    let agent_sg = security_group("agent", "Determined agents");
    master_sg.ingress(tcp(8080), agent_sg);
    master_sg.ingress(tcp(22), "10.0.0.0/8");
    master_sg.ingress(tcp(22), "100.0.0.0/8");
    master_sg.egress(all_traffic(), "0.0.0.0/0");
    agent_sg.ingress(all_tcp(), master_sg);
    let agent_role = iam_role("agent").assumed_by("ec2.amazonaws.com")
        .allow("checkpoints", ["s3:GetObject"], [bucket.arn + "/*"]);
    let master_role = iam_role("master").assumed_by("ec2.amazonaws.com")
        .allow("pass-role", ["iam:PassRole"], agent_role.arn);
    let db = database("db").engine("aurora-postgresql")
        .master_user("postgres", secret("db-password", p.db_password)).database_name("determined")
        .allow_from(master_sg);
    let config = master_config()
        .checkpoint_storage(s3_checkpoints(bucket))
        .db(db)
        .set("security", #{ initial_user_password: secret("admin-password") })
        .resource_pool(aws_pool("default")
            .instance_type("g5.xlarge").max_instances(2).max_idle_agent_period("10m")
            .iam_instance_profile(instance_profile(agent_role)).security_group(agent_sg)
            .ssh_key_name(p.keypair).tag("determined-demo", "agent"));
    master_instance("master").instance_type("m6i.xlarge").image_id("ami-0fc5d935ebf8bc3bc")
        .key_name(p.keypair).security_group(master_sg)
        .instance_profile(instance_profile(master_role))
        .master_image("determinedai/determined-master:0.38.0").config(config);
"#;

fn compiled(src: &str, params: &[(&str, &str)]) -> Compiled {
    let mut req = CompileRequest::new("t.rhai", src, Mode::Preview);
    for (k, v) in params {
        req = req.param(k, ParamInput::Text(v.to_string()));
    }
    match compile(&req) {
        Ok(c) => c,
        Err(f) => panic!("expected a plan, got {:#?}", f.diagnostics),
    }
}

fn template(src: &str, params: &[(&str, &str)]) -> Value {
    let c = compiled(src, params);
    match export(&c.plan, &c.params) {
        Ok(t) => t,
        Err(e) => panic!("expected a template, got {e:#?}"),
    }
}

/// Every logical id that a Ref, Fn::GetAtt, Fn::Sub or DependsOn names.
fn targets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("Ref", Value::String(s)) => out.push(s.clone()),
                    ("Fn::GetAtt", Value::Array(a)) => out.push(a[0].as_str().unwrap().to_string()),
                    ("Fn::Sub", Value::String(s)) => {
                        for piece in s.split("${").skip(1) {
                            if !piece.starts_with('!') {
                                let name = piece.split(['}', '.']).next().unwrap();
                                out.push(name.to_string());
                            }
                        }
                    }
                    ("DependsOn", Value::Array(a)) => {
                        out.extend(a.iter().map(|d| d.as_str().unwrap().to_string()))
                    }
                    _ => targets(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| targets(x, out)),
        _ => {}
    }
}

#[test]
fn maps_every_kind_to_its_aws_type_with_alphanumeric_ids() {
    let t = template(
        CLUSTER,
        &[("keypair", "k"), ("db_password", "Secret-pass-1")],
    );
    let res = t["Resources"].as_object().unwrap();
    let ty = |id: &str| res[id]["Type"].as_str().unwrap().to_string();
    assert_eq!(ty("S3BucketCheckpoints"), "AWS::S3::Bucket");
    assert_eq!(ty("SecurityGroupMaster"), "AWS::EC2::SecurityGroup");
    assert_eq!(ty("SecurityGroupDbSg"), "AWS::EC2::SecurityGroup");
    assert_eq!(ty("IamRoleAgent"), "AWS::IAM::Role");
    assert_eq!(ty("InstanceProfileMaster"), "AWS::IAM::InstanceProfile");
    assert_eq!(ty("RdsClusterDb"), "AWS::RDS::DBCluster");
    assert_eq!(ty("RdsInstanceDbWriter"), "AWS::RDS::DBInstance");
    assert_eq!(ty("Ec2InstanceMaster"), "AWS::EC2::Instance");
    let rules: Vec<&String> = res
        .keys()
        .filter(|k| {
            res[*k]["Type"]
                .as_str()
                .unwrap()
                .contains("SecurityGroupIngress")
        })
        .collect();
    // 10.0.0.0/8 and 100.0.0.0/8 read the same in CamelCase; the hash keeps them apart.
    assert_eq!(rules.len(), 5, "{rules:?}");
    for id in res.keys() {
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert!(id.len() <= 255);
    }
    let mut names = Vec::new();
    targets(&t, &mut names);
    let params = t["Parameters"].as_object().unwrap();
    for n in names {
        assert!(
            res.contains_key(&n) || params.contains_key(&n) || n.starts_with("AWS::"),
            "{n} is referenced but not defined"
        );
    }
}

#[test]
fn references_become_intrinsics_and_order_the_stack() {
    let t = template(
        CLUSTER,
        &[("keypair", "k"), ("db_password", "Secret-pass-1")],
    );
    let r = &t["Resources"];
    let rule = r
        .as_object()
        .unwrap()
        .values()
        .find(|v| v["Properties"]["SourceSecurityGroupId"].is_object())
        .unwrap();
    assert_eq!(rule["Properties"]["GroupId"]["Fn::GetAtt"][1], "GroupId");
    let egress = r
        .as_object()
        .unwrap()
        .values()
        .find(|v| v["Type"] == "AWS::EC2::SecurityGroupEgress")
        .unwrap();
    assert_eq!(egress["Properties"]["IpProtocol"], "-1");
    assert!(egress["Properties"].get("FromPort").is_none());
    let policies = r["IamRoleMaster"]["Properties"]["Policies"]
        .as_array()
        .unwrap();
    let policy = |name: &str| {
        policies
            .iter()
            .find(|p| p["PolicyName"] == name)
            .map(|p| p["PolicyDocument"].clone())
            .unwrap()
    };
    let pass = &policy("pass-role");
    assert_eq!(
        policy("detscript-read-secrets")["Statement"][0]["Resource"],
        json!([{ "Ref": "SecretsmanagerSecretAdminPassword" }, { "Ref": "SecretsmanagerSecretDbPassword" }])
    );
    assert_eq!(
        pass["Statement"][0]["Resource"],
        json!({ "Fn::GetAtt": ["IamRoleAgent", "Arn"] })
    );
    assert_eq!(
        r["InstanceProfileAgent"]["Properties"]["Roles"],
        json!([{ "Ref": "IamRoleAgent" }])
    );
    let master = &r["Ec2InstanceMaster"];
    assert_eq!(
        master["Properties"]["IamInstanceProfile"],
        json!({ "Ref": "InstanceProfileMaster" })
    );
    // The endpoint comes from the cluster, but the instance must wait for the writer.
    assert_eq!(master["DependsOn"], json!(["RdsInstanceDbWriter"]));
    let ud = master["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(
        ud.contains("host: ${RdsClusterDb.Endpoint.Address}"),
        "{ud}"
    );
    assert!(ud.contains("iam_instance_profile_arn: ${InstanceProfileAgent.Arn}"));
    assert!(ud.contains("bucket: demo-checkpoints"));
    assert_eq!(
        r["RdsInstanceDbWriter"]["Properties"]["DBClusterIdentifier"],
        json!({ "Ref": "RdsClusterDb" })
    );
    assert_eq!(r["RdsClusterDb"]["DeletionPolicy"], "Snapshot");
    assert_eq!(r["RdsClusterDb"]["UpdateReplacePolicy"], "Snapshot");
    assert_eq!(r["RdsClusterDb"]["Properties"]["StorageEncrypted"], true);
    let tags = r["S3BucketCheckpoints"]["Properties"]["Tags"]
        .as_array()
        .unwrap();
    assert!(tags.contains(&json!({ "Key": "detscript:deployment", "Value": "demo" })));
    assert!(tags.contains(&json!({ "Key": "detscript:id", "Value": "s3_bucket.checkpoints" })));
    assert_eq!(
        t["Outputs"]["DatabaseEndpoint"]["Value"],
        json!({ "Fn::GetAtt": ["RdsClusterDb", "Endpoint.Address"] })
    );
    assert_eq!(
        t["Outputs"]["MasterUrl"]["Value"],
        json!({ "Fn::Sub": "http://${Ec2InstanceMaster.PublicIp}:8080" })
    );
}

/// Property `name` of the template's resource `logical`.
fn prop(t: &Value, logical: &str, name: &str) -> Value {
    t["Resources"][logical]["Properties"][name].clone()
}

#[test]
fn a_secret_is_a_noecho_parameter_and_its_value_never_appears() {
    let t = template(
        CLUSTER,
        &[("keypair", "k"), ("db_password", "Secret-pass-1")],
    );
    for text in [to_yaml(&t), to_json(&t)] {
        assert!(!text.contains("Secret-pass-1"));
    }
    // The given password is the secret's value; the database reads it by a dynamic reference.
    assert_eq!(t["Parameters"]["DbPassword"]["NoEcho"], true);
    assert_eq!(
        prop(&t, "SecretsmanagerSecretDbPassword", "SecretString"),
        json!({ "Ref": "DbPassword" })
    );
    assert_eq!(
        prop(&t, "RdsClusterDb", "MasterUserPassword"),
        json!({ "Fn::Sub": "{{resolve:secretsmanager:${SecretsmanagerSecretDbPassword}:SecretString}}" })
    );
    for o in t["Outputs"].as_object().unwrap().values() {
        assert!(!o.to_string().contains("DbPassword"), "W2010: {o}");
    }
    // A resolved parameter is a literal; an unset one becomes a template parameter.
    assert!(t["Parameters"].get("Keypair").is_none());
    let unset = template(CLUSTER, &[]);
    assert_eq!(
        unset["Parameters"]["Keypair"]["Type"],
        "AWS::EC2::KeyPair::KeyName"
    );
    assert_eq!(
        prop(&unset, "Ec2InstanceMaster", "KeyName"),
        json!({ "Ref": "Keypair" })
    );
}

#[test]
fn literal_dollar_brace_is_escaped_inside_sub() {
    let src = r#"
        deployment("demo");
        let a = security_group("a", "a");
        security_group("b", "not ${HOME}, but " + a.id);
        security_group("c", "plain ${HOME}");
    "#;
    let t = template(src, &[]);
    assert_eq!(
        prop(&t, "SecurityGroupB", "GroupDescription"),
        json!({ "Fn::Sub": "not ${!HOME}, but ${SecurityGroupA.GroupId}" })
    );
    // Outside Fn::Sub a literal stays as written.
    assert_eq!(
        prop(&t, "SecurityGroupC", "GroupDescription"),
        "plain ${HOME}"
    );
}

/// The errors of exporting CLUSTER with the spec of resource `id` changed by `change`.
fn export_changed(id: &str, change: impl FnOnce(&mut crate::Spec)) -> (Compiled, Vec<Diagnostic>) {
    let mut c = compiled(
        CLUSTER,
        &[("keypair", "k"), ("db_password", "Secret-pass-1")],
    );
    let r = c.plan.resources.iter_mut().find(|r| r.id == id).unwrap();
    change(&mut r.spec);
    let errors = export(&c.plan, &c.params).unwrap_err();
    (c, errors)
}

#[test]
fn an_unsupported_setting_is_an_error_naming_the_resource() {
    let (c, errors) = export_changed("rds_cluster.db", |spec| {
        let crate::Spec::RdsCluster(spec) = spec else {
            panic!("a cluster")
        };
        spec.publicly_accessible = true;
    });
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.starts_with("rds_cluster.db: "),
        "{}",
        errors[0].message
    );
    assert!(errors[0].message.contains("publicly accessible"));
    assert_eq!(
        errors[0].line,
        c.plan.get("rds_cluster.db").unwrap().source.line
    );
}

#[test]
fn an_unknown_attribute_is_an_error_naming_the_resource() {
    let (_, errors) = export_changed("security_group.agent", |spec| {
        let crate::Spec::SecurityGroup(spec) = spec else {
            panic!("a security group")
        };
        spec.description = Tmpl::reference(Ref::new("security_group.master", "owner"));
    });
    assert!(errors[0].message.starts_with("security_group.agent: "));
    assert!(errors[0].message.contains("security_group.master.owner"));
}

#[test]
fn the_export_is_deterministic_and_yaml_reads_back_as_the_same_template() {
    let a = template(
        CLUSTER,
        &[("keypair", "k"), ("db_password", "Secret-pass-1")],
    );
    let b = template(
        CLUSTER,
        &[("db_password", "Other-pass-2"), ("keypair", "k")],
    );
    assert_eq!(to_json(&a), to_json(&b));
    let yaml = to_yaml(&a);
    assert!(yaml.starts_with("# Generated by detscript"));
    assert!(yaml.find("\nParameters:").unwrap() < yaml.find("\nResources:").unwrap());
    assert!(yaml.find("\nResources:").unwrap() < yaml.find("\nOutputs:").unwrap());
    let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(back, a);
}

#[test]
fn camel_case_ids() {
    assert_eq!(camel("security_group.db-sg"), "SecurityGroupDbSg");
    assert_eq!(camel("ec2_instance.master"), "Ec2InstanceMaster");
    assert_eq!(camel("db_password"), "DbPassword");
    let ids = ids::unique_ids(&[
        ("a".into(), "X".into()),
        ("b".into(), "X".into()),
        ("c".into(), "Y".into()),
    ]);
    assert_eq!(ids[2], "Y");
    assert_ne!(ids[0], ids[1]);
    assert!(ids[0].starts_with('X') && ids[0].len() == 9);
}

/// `Fn::Sub` as CloudFormation evaluates it: `${!` is a literal `${`, every other `${NAME}`
/// or `${NAME.ATTR}` the raw value `vars` gives (unchanged by what it holds).
fn cfn_sub(text: &str, vars: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        rest = &rest[at + 2..];
        if let Some(r) = rest.strip_prefix('!') {
            out.push_str("${");
            rest = r;
        } else {
            let end = rest.find('}').expect("a closed ${");
            out.push_str(&vars(&rest[..end]));
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// master.yaml as the master reads it once CloudFormation has filled in `vars`.
fn deployed_master_yaml(t: &Value, vars: &dyn Fn(&str) -> String) -> Value {
    let ud = t["Resources"]["Ec2InstanceMaster"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .expect("the user-data is a Fn::Sub");
    let script = cfn_sub(ud, vars);
    let (_, after) = script.split_once("<<'").expect("a quoted heredoc");
    let (delim, body) = after.split_once("'\n").unwrap();
    let yaml = body
        .split_once(&format!("\n{delim}\n"))
        .expect("the heredoc's end")
        .0;
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("master.yaml: {e}\n{yaml}"))
}

/// What `^[!#-.0-?A-~]{8,128}$` (the DbPassword parameter's AllowedPattern) admits.
fn password_pattern_admits(pw: &str) -> bool {
    (8..=128).contains(&pw.len())
        && pw
            .bytes()
            .all(|b| matches!(b, b'!' | b'#'..=b'.' | b'0'..=b'?' | b'A'..=b'~'))
}

#[test]
fn the_password_pattern_is_the_engines_password_rule() {
    for b in 0u8..=127 {
        let c = b as char;
        let engine = c.is_ascii_graphic() && !matches!(c, '/' | '"' | '@');
        assert_eq!(
            password_pattern_admits(&c.to_string().repeat(8)),
            engine,
            "{c:?}"
        );
    }
    assert_eq!(master::DB_PASSWORD_PATTERN, "^[!#-.0-?A-~]{8,128}$");
    assert!(!password_pattern_admits("a: b #c-long"));
}

#[test]
fn secrets_are_generated_and_read_by_reference_with_no_password_parameter() {
    // No password given: AWS generates both (issue 11: no W1011, no password parameter).
    let t = template(CLUSTER, &[("keypair", "k")]);
    let params: Vec<&String> = t["Parameters"].as_object().unwrap().keys().collect();
    assert_eq!(params, ["VpcId"]);
    let r = &t["Resources"];
    for (id, name) in [
        ("SecretsmanagerSecretDbPassword", "demo/db-password"),
        ("SecretsmanagerSecretAdminPassword", "demo/admin-password"),
    ] {
        assert_eq!(r[id]["Type"], "AWS::SecretsManager::Secret");
        assert_eq!(r[id]["Properties"]["Name"], name);
        assert_eq!(
            r[id]["Properties"]["GenerateSecretString"],
            json!({ "PasswordLength": 32, "ExcludePunctuation": true, "RequireEachIncludedType": true })
        );
    }
    // The master reads both at boot by their ARNs (no version: CloudFormation knows none),
    // and master.yaml holds placeholders for them.
    let ud = r["Ec2InstanceMaster"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(
        ud.contains("fetch_secret ${SecretsmanagerSecretDbPassword} /run/detscript/db-password\n"),
        "{ud}"
    );
    assert!(ud.contains(
        "fetch_secret ${SecretsmanagerSecretAdminPassword} /run/detscript/admin-password\n"
    ));
    assert!(ud.contains("  password: DetscriptSecret_1_\n"), "{ud}");
    assert!(ud.contains("  initial_user_password: DetscriptSecret_2_\n"));
}

#[test]
fn an_unset_parameter_in_master_yaml_is_quoted_and_one_line() {
    let t = template(CLUSTER, &[("db_password", "Secret-pass-1")]);
    let p = &t["Parameters"]["Keypair"];
    assert_eq!(p["Type"], "AWS::EC2::KeyPair::KeyName");
    for key in ["  lead: b #c", "*k", "'k", "yes", "k\\n"] {
        let yaml = deployed_master_yaml(&t, &|name| match name {
            "Keypair" => key.to_string(),
            "DbPassword" => "Secret-pass-1".into(),
            other => format!("value-of-{other}"),
        });
        let pool = &yaml["resource_pools"][0]["provider"];
        assert_eq!(pool["ssh_key_name"], json!(key), "{key:?}");
    }
}
