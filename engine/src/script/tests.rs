//! Unit tests of the script API, one group per builder.

use serde_json::{Value, json};

use crate::{CompileRequest, Compiled, Failure, Mode, ParamInput, Plan, Reveal, compile};

pub(super) fn run(src: &str) -> Result<Compiled, Failure> {
    compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
}

pub(super) fn plan(src: &str) -> Plan {
    match run(src) {
        Ok(c) => c.plan,
        Err(f) => panic!("expected a plan, got {:#?}", f.diagnostics),
    }
}

/// The first error's message and line.
pub(super) fn error(src: &str) -> (String, u32) {
    match run(src) {
        Ok(_) => panic!("expected an error"),
        Err(f) => (f.diagnostics[0].message.clone(), f.diagnostics[0].line),
    }
}

/// Asserts that `src` fails with a first error containing `needle`.
#[track_caller]
fn fails_with(src: &str, needle: &str) {
    let (msg, _) = error(src);
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
}

/// Asserts that `src` fails with a first error containing `needle`, at line `line`.
#[track_caller]
pub(super) fn fails_at(src: &str, needle: &str, line: u32) {
    let (msg, at) = error(src);
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
    assert_eq!(at, line, "{msg}");
}

/// A property as the plan JSON shows it (references as `${path}`).
fn prop(p: &Plan, id: &str, key: &str) -> Value {
    p.get(id)
        .unwrap_or_else(|| panic!("no {id}"))
        .properties()
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in {id}"))
}

mod deployment {
    use super::*;

    #[test]
    fn prefixes_names_and_tags_ownership() {
        let p =
            plan("deployment(\"demo\").tags(#{ team: \"ml\" }); security_group(\"web\", \"w\");");
        let sg = p.get("security_group.web").unwrap();
        assert_eq!(sg.name, "demo-web");
        assert_eq!(sg.tags["detscript:deployment"].as_text(), Some("demo"));
        assert_eq!(
            sg.tags["detscript:id"].as_text(),
            Some("security_group.web")
        );
        assert_eq!(sg.tags["team"].as_text(), Some("ml"));
    }

    #[test]
    fn is_required_once_with_a_valid_name() {
        fails_with("security_group(\"web\", \"w\");", "never calls deployment");
        assert_eq!(error("deployment(\"a\");\ndeployment(\"b\");").1, 2);
        fails_with("deployment(\"9lives\");", "starting with a letter");
        fails_with("deployment(\"x\").region(\"mars\");", "not an AWS region");
        fails_with(
            "deployment(\"x\").tags(#{ \"detscript:id\": \"y\" });",
            "reserved",
        );
    }
}

mod params {
    use super::*;

    fn with(src: &str, name: &str, v: ParamInput) -> Result<Compiled, Failure> {
        compile(&CompileRequest::new("t.rhai", src, Mode::Apply).param(name, v))
    }

    const SRC: &str = r#"
        let p = params(#{
            n:    #{ default: 5, kind: "int" },
            on:   #{ default: true },
            cidr: #{ default: "0.0.0.0/0", kind: "cidr" },
            d:    #{ default: "10m", kind: "duration" },
            l:    #{ default: ["a"], kind: "list" },
            c:    #{ default: "x", choices: ["x", "y"] },
            pw:   #{ secret: true, default: "hunter2-hunter2" },
        });
        deployment("t");
        let sg = security_group("s", "d").ingress(tcp(p.n), p.cidr);
    "#;

    #[test]
    fn kinds_parse_text_values() {
        let c = with(SRC, "n", ParamInput::Text("7".into())).unwrap();
        assert!(
            c.plan
                .get("security_group_rule.s-ingress-tcp-7-from-0.0.0.0/0")
                .is_some()
        );
        let specs: Vec<_> = c
            .params
            .iter()
            .map(|s| (s.name.as_str(), s.kind.as_str()))
            .collect();
        assert!(specs.contains(&("on", "bool")) && specs.contains(&("l", "list")));
    }

    #[test]
    fn ill_typed_values_name_the_parameter() {
        let e = with(SRC, "n", ParamInput::Text("five".into())).unwrap_err();
        assert!(
            e.diagnostics[0]
                .message
                .contains("parameter 'n' (int): expected an integer"),
            "{:?}",
            e.diagnostics
        );
        let e = with(SRC, "cidr", ParamInput::Text("10.0.0.0/40".into())).unwrap_err();
        assert!(e.diagnostics[0].message.contains("parameter 'cidr' (cidr)"));
        let e = with(SRC, "d", ParamInput::Text("2d".into())).unwrap_err();
        assert!(e.diagnostics[0].message.contains("24h"));
        let e = with(SRC, "c", ParamInput::Text("z".into())).unwrap_err();
        assert!(
            e.diagnostics[0]
                .message
                .contains("expected one of \"x\", \"y\"")
        );
        let e = with(SRC, "on", ParamInput::Json(json!("yes"))).unwrap_err();
        assert!(e.diagnostics[0].message.contains("parameter 'on' (bool)"));
    }

    #[test]
    fn unknown_values_suggest_the_declared_name() {
        let e = with(SRC, "cdr", ParamInput::Text("1.2.3.4/32".into())).unwrap_err();
        assert_eq!(
            e.diagnostics[0].message,
            "unknown parameter 'cdr' (did you mean 'cidr'?)"
        );
    }

    #[test]
    fn secrets_are_opaque_and_never_echoed() {
        let e = with(SRC, "pw", ParamInput::Json(json!(12))).unwrap_err();
        assert!(
            !e.diagnostics[0].message.contains("12"),
            "{}",
            e.diagnostics[0].message
        );
        let src = "let p = params(#{ pw: #{ secret: true, choices: [\"a-long-secret\"] } }); deployment(\"t\");";
        let e = with(src, "pw", ParamInput::Text("wrong-secret-value".into())).unwrap_err();
        assert!(!e.diagnostics[0].message.contains("wrong-secret-value"));
    }

    #[test]
    fn required_values_are_unknown_in_preview_and_errors_in_apply() {
        let src = "let p = params(#{ key: #{ doc: \"k\" } }); deployment(\"t\"); security_group(\"s\", p.key);";
        let c = run(src).unwrap();
        assert!(c.diagnostics[0].message.contains("'key' has no value"));
        let crate::kinds::Spec::SecurityGroup(sg) = &c.plan.get("security_group.s").unwrap().spec
        else {
            panic!("a security group")
        };
        assert_eq!(sg.description.to_string(), "(unset parameter: key)");
        let e = compile(&CompileRequest::new("t.rhai", src, Mode::Apply)).unwrap_err();
        assert!(
            e.diagnostics[0]
                .message
                .contains("'key' (string) is required")
        );
    }

    #[test]
    fn spec_mistakes_are_caught() {
        fails_with("params(#{ a: #{ defualt: 1 } });", "did you mean 'default'");
        fails_with("params(#{ a: #{ kind: \"integer\" } });", "unknown kind");
        fails_with(
            "params(#{ a: #{ kind: \"int\", default: \"x\" } });",
            "in the default",
        );
        fails_with(
            "params(#{ a: #{ kind: \"int\", secret: true } });",
            "only string parameters",
        );
    }
}

mod security_group {
    use super::*;

    #[test]
    fn rules_are_resources_referencing_their_groups() {
        let p = plan(
            r#"deployment("t");
            let a = security_group("a", "A");
            let b = security_group("b", "B");
            a.ingress(tcp(8080), b);
            b.ingress(all_tcp(), a);
            a.egress(udp_range(1000, 2000), "::/0");
            a.ingress(all_traffic(), "10.0.0.0/8", "everything from the VPC");"#,
        );
        let r = p
            .get("security_group_rule.a-ingress-tcp-8080-from-b")
            .unwrap();
        assert_eq!(r.depends_on, vec!["security_group.a", "security_group.b"]);
        assert_eq!(
            r.properties()["peer_group"],
            json!("${security_group.b.id}")
        );
        let v6 = p
            .get("security_group_rule.a-egress-udp-1000-2000-to-::/0")
            .unwrap();
        assert_eq!(v6.properties()["cidr_ipv6"], json!("::/0"));
        let all = p
            .get("security_group_rule.a-ingress-all-from-10.0.0.0/8")
            .unwrap();
        assert_eq!(all.properties()["protocol"], json!("all"));
        assert_eq!(
            all.properties()["description"],
            json!("everything from the VPC")
        );
    }

    #[test]
    fn bad_ports_peers_and_duplicates_are_errors() {
        fails_with("tcp(70000);", "out of range");
        fails_with("tcp_range(10, 1);", "reversed");
        fails_at(
            "deployment(\"t\");\nlet a = security_group(\"a\", \"A\");\na.ingress(tcp(22), 22);",
            "must be a security group or a CIDR",
            3,
        );
        fails_at(
            "deployment(\"t\");\nlet a = security_group(\"a\", \"A\");\na.ingress(tcp(22), \"1.2.3.4/32\");\na.ingress(tcp(22), \"1.2.3.4/32\");",
            "already has the rule ingress tcp 22 from 1.2.3.4/32 (line 3)",
            4,
        );
        fails_with(
            "deployment(\"t\"); security_group(\"a\", \"A\"); security_group(\"a\", \"B\");",
            "already declared",
        );
    }
}

mod iam {
    use super::*;

    #[test]
    fn roles_carry_trust_and_inline_policies() {
        let p = plan(
            r#"deployment("t");
            let a = iam_role("agent").assumed_by("ec2.amazonaws.com").allow("s3", "s3:*", "*");
            let m = iam_role("master").assumed_by("ec2.amazonaws.com")
                .allow("pass", ["iam:PassRole"], a.arn)
                .policy("raw", #{ Statement: [#{ Effect: "Allow", Action: "ec2:Describe*", Resource: "*" }] })
                .managed_policy("arn:aws:iam::aws:policy/ReadOnlyAccess");
            instance_profile(a);"#,
        );
        let trust = prop(&p, "iam_role.agent", "assume_role_policy");
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            json!(["ec2.amazonaws.com"])
        );
        assert_eq!(trust["Statement"][0]["Action"], json!(["sts:AssumeRole"]));
        let pass = &prop(&p, "iam_role.master", "inline_policies")["pass"];
        assert_eq!(
            pass["Statement"][0]["Resource"],
            json!("${iam_role.agent.arn}")
        );
        assert_eq!(
            prop(&p, "iam_role.master", "inline_policies")["raw"]["Version"],
            json!("2012-10-17")
        );
        assert_eq!(
            p.get("iam_role.master").unwrap().depends_on,
            vec!["iam_role.agent"]
        );
        assert_eq!(
            prop(&p, "instance_profile.agent", "role"),
            json!("t-agent-${aws.region}")
        );
        assert_eq!(
            p.get("instance_profile.agent").unwrap().depends_on,
            vec!["iam_role.agent"]
        );
    }

    #[test]
    fn policy_mistakes_are_errors() {
        let pre = "deployment(\"t\"); let r = iam_role(\"r\");";
        fails_with(
            &format!("{pre} r.assumed_by(\"ec2\");"),
            "service principal",
        );
        fails_with(
            &format!("{pre} r.allow(\"p\", \"s3 get\", \"*\");"),
            "not an IAM action",
        );
        fails_with(
            &format!("{pre} r.allow(\"p\", [], \"*\");"),
            "must not be empty",
        );
        fails_with(
            &format!("{pre} r.allow(\"p\", \"s3:*\", \"bucket\");"),
            "not a policy resource",
        );
        fails_with(
            &format!("{pre} r.policy(\"p\", #{{ Version: \"2012-10-17\" }});"),
            "needs a \"Statement\"",
        );
        fails_with(
            &format!("{pre} instance_profile(\"r\");"),
            "expects an iam_role",
        );
    }

    #[test]
    fn a_reference_loop_is_a_cycle_error_naming_both() {
        let (m, _) = error(
            r#"deployment("t");
            let a = iam_role("a").assumed_by("ec2.amazonaws.com");
            let b = iam_role("b").assumed_by("ec2.amazonaws.com").allow("x", "iam:PassRole", a.arn);
            a.allow("y", "iam:PassRole", b.arn);"#,
        );
        assert!(m.starts_with("dependency cycle: "), "{m}");
        assert!(m.contains("iam_role.a") && m.contains("iam_role.b"), "{m}");
    }
}

mod bucket {
    use super::*;

    #[test]
    fn names_follow_s3_rules() {
        let p = plan(
            "deployment(\"demo\"); let b = s3_bucket(\"ckpt\"); iam_role(\"r\").allow(\"p\", \"s3:*\", [b.arn, b.arn + \"/*\"]);",
        );
        // Region and account are known after apply: the script sets no region.
        let name = "demo-ckpt-${aws.region}-${aws.account_id}";
        assert_eq!(p.get("s3_bucket.ckpt").unwrap().name, name);
        let res = &prop(&p, "iam_role.r", "inline_policies")["p"]["Statement"][0]["Resource"];
        assert_eq!(
            res,
            &json!([
                format!("arn:aws:s3:::{name}"),
                format!("arn:aws:s3:::{name}/*")
            ])
        );
        // The CLI fills them in (the account from STS) and checks the name again.
        let live = p.with_account("123456789012", "eu-west-1").unwrap();
        let bucket = live.get("s3_bucket.ckpt").unwrap();
        assert_eq!(bucket.name, "demo-ckpt-eu-west-1-123456789012");
        assert_eq!(bucket.tags["detscript:region"].as_text(), Some("eu-west-1"));
        let res = &live.get("iam_role.r").unwrap().properties()["inline_policies"]["p"]["Statement"]
            [0]["Resource"];
        assert_eq!(
            res[1],
            json!("arn:aws:s3:::demo-ckpt-eu-west-1-123456789012/*")
        );
        assert_eq!(live.get("iam_role.r").unwrap().name, "demo-r-eu-west-1");
        assert!(p.with_account("12345", "eu-west-1").is_err());
        assert!(p.with_account("123456789012", "Europe").is_err());
        // A region the script sets is in the name before apply.
        let p = plan("deployment(\"demo\").region(\"us-east-1\"); s3_bucket(\"ckpt\");");
        assert_eq!(
            p.get("s3_bucket.ckpt").unwrap().name,
            "demo-ckpt-us-east-1-${aws.account_id}"
        );
        // An explicit name wins, as given.
        let p = plan("deployment(\"demo\"); s3_bucket(\"ckpt\").bucket_name(\"my-ckpt\");");
        assert_eq!(p.get("s3_bucket.ckpt").unwrap().name, "my-ckpt");
        assert_eq!(
            p.with_account("123456789012", "us-east-1")
                .unwrap()
                .get("s3_bucket.ckpt")
                .unwrap()
                .name,
            "my-ckpt"
        );
        // A long deployment and bucket name is shortened, deterministically, to 63.
        let long = "deployment(\"research-team-cluster-number-042\").region(\"ap-southeast-2\"); s3_bucket(\"checkpoints-archive\");";
        let name = plan(long)
            .get("s3_bucket.checkpoints-archive")
            .unwrap()
            .name
            .clone();
        let live = plan(long)
            .with_account("123456789012", "ap-southeast-2")
            .unwrap();
        let resolved = &live.get("s3_bucket.checkpoints-archive").unwrap().name;
        assert_eq!(resolved.len(), 63, "{resolved}");
        assert!(
            resolved.starts_with("research-team-cluster-numb-")
                && resolved.ends_with("-ap-southeast-2-123456789012"),
            "{resolved}"
        );
        assert_eq!(
            name,
            plan(long)
                .get("s3_bucket.checkpoints-archive")
                .unwrap()
                .name
        );
        fails_with(
            "deployment(\"Demo\"); s3_bucket(\"ckpt\");",
            "must be lowercase",
        );
        fails_with(
            "deployment(\"d\"); s3_bucket(\"c\").bucket_name(\"a..b\");",
            "\"..\"",
        );
        // The account's 12 digits count: a name that cannot fit is an error before apply.
        fails_with(
            &format!(
                "deployment(\"d\"); s3_bucket(\"c\").bucket_name(\"{}\");",
                "x".repeat(64)
            ),
            "3-63",
        );
    }

    #[test]
    fn legacy_names_keep_the_names_of_earlier_versions() {
        let p = plan(
            "deployment(\"demo\").region(\"us-west-2\").legacy_names(); s3_bucket(\"ckpt\"); let r = iam_role(\"r\").assumed_by(\"ec2.amazonaws.com\"); instance_profile(r);",
        );
        assert!(p.deployment.legacy_names);
        assert_eq!(p.get("s3_bucket.ckpt").unwrap().name, "demo-ckpt");
        assert_eq!(p.get("iam_role.r").unwrap().name, "demo-r");
        assert_eq!(p.get("instance_profile.r").unwrap().name, "demo-r");
        // Created anew, they are tagged with the region all the same.
        assert_eq!(
            p.get("iam_role.r").unwrap().tags["detscript:region"].as_text(),
            Some("us-west-2")
        );
    }
}

mod database {
    use super::*;

    const PRE: &str = "let p = params(#{ pw: #{ secret: true, default: \"Str0ng-password\" } }); deployment(\"t\"); let m = security_group(\"m\", \"M\");";

    /// A script declaring the database `db` with the given calls.
    fn db(calls: &str) -> String {
        format!("{PRE} database(\"db\"){calls};")
    }

    #[test]
    fn aurora_is_a_cluster_with_a_writer_and_its_own_security_group() {
        let p = plan(&db(".master_user(\"postgres\", p.pw).allow_from(m)"));
        assert_eq!(
            prop(&p, "rds_cluster.db", "engine"),
            json!("aurora-postgresql")
        );
        assert_eq!(
            prop(&p, "rds_cluster.db", "master_password"),
            json!("(sensitive)")
        );
        assert_eq!(
            prop(&p, "rds_instance.db-writer", "cluster"),
            json!("${rds_cluster.db.id}")
        );
        let rule = p
            .get("security_group_rule.db-sg-ingress-tcp-5432-from-m")
            .unwrap();
        assert_eq!(rule.properties()["from_port"], json!(5432));
        assert!(p.to_json().contains("(sensitive)") && !p.to_json().contains("Str0ng-password"));
    }

    #[test]
    fn postgres_is_one_instance() {
        let p = plan(&db(
            ".engine(\"postgres\", \"16.4\").storage_gb(50).ssl_mode(\"require\").master_user(\"det\", p.pw)",
        ));
        assert_eq!(prop(&p, "rds_instance.db", "engine_version"), json!("16.4"));
        assert_eq!(
            prop(&p, "rds_instance.db", "allocated_storage_gb"),
            json!(50)
        );
        assert!(p.get("rds_cluster.db").is_none());
    }

    #[test]
    fn invalid_settings_are_errors_without_the_password() {
        fails_with(&db(".engine(\"mysql\")"), "PostgreSQL");
        fails_with(&db(""), "no master user");
        let src = "let p = params(#{ pw: #{ secret: true, default: \"sh@rt\" } }); deployment(\"t\"); database(\"db\").master_user(\"u\", p.pw);";
        let (m, _) = error(src);
        assert!(m.contains("8-128") && !m.contains("sh@rt"), "{m}");
        let c = run(&db(".master_user(\"u\", \"Literal-password-1\")")).unwrap();
        assert!(c.diagnostics[0].message.contains("written in the script"));
    }
}

pub(super) mod master {
    use super::*;

    pub(in crate::script) const PRE: &str = r#"deployment("t");
let sg = security_group("agent", "A");
let prof = instance_profile(iam_role("agent").assumed_by("ec2.amazonaws.com"));
"#;

    pub(in crate::script) fn pool(extra: &str) -> String {
        format!(
            "{PRE}let pool = aws_pool(\"default\").instance_type(\"g5.xlarge\").ssh_key_name(\"k\").iam_instance_profile(prof).security_group(sg){extra};\nlet c = master_config().resource_pool(pool);\nmaster_instance(\"m\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\").master_image(\"img:1\").config(c);"
        )
    }

    #[test]
    fn builds_master_yaml_with_references() {
        let p = plan(&pool(""));
        let yaml = p.master_yaml(Reveal::Redact).unwrap();
        assert!(
            yaml.contains("iam_instance_profile_arn: ${instance_profile.agent.arn}"),
            "{yaml}"
        );
        assert!(
            yaml.contains("security_group_id: ${security_group.agent.id}"),
            "{yaml}"
        );
        let m = p.get("ec2_instance.m").unwrap();
        assert!(m.depends_on.contains(&"instance_profile.agent".to_string()));
        assert_eq!(m.properties()["root_volume"]["size_gb"], json!(200));
    }

    #[test]
    fn determined_rules_point_at_the_line_that_set_the_field() {
        let cases = [
            (".max_idle_agent_period(\"10\")", "bare number"),
            (".max_agent_starting_period(\"1d\")", "24h"),
            (
                ".min_instances(3).max_instances(2)",
                "max_instances (2) must be >= min_instances (3)",
            ),
            (".root_volume_size(50)", "must be >= 100"),
            (".spot(true).spot_max_price(\"$1\")", "spot_max_price"),
            (".instance_type(\"g6.xlarge\")", "instance_slots"),
            (".master_url(\"http://local-ipv4:8080/api\")", "master_url"),
        ];
        for (extra, want) in cases {
            let (m, line) = error(&pool(&format!("\n    {extra}")));
            assert!(m.contains(want), "{extra}: {m}");
            assert_eq!(line, 5, "{extra}: {m}");
        }
        assert!(run(&pool(".instance_type(\"g6.xlarge\").instance_slots(1)")).is_ok());
    }

    #[test]
    fn config_level_rules() {
        let base = format!("{PRE}let a = aws_pool(\"default\").instance_type(\"t3.large\");");
        let cases = [
            (
                "master_config().resource_pool(a);",
                "ssh_key_name is required",
            ),
            (
                "master_config().set(\"chekpoint_storage\", 1);",
                "did you mean \"checkpoint_storage\"",
            ),
            (
                "a.ssh_key_name(\"k\"); let b = aws_pool(\"default\").instance_type(\"t3.large\").ssh_key_name(\"k\"); master_config().resource_pool(a).resource_pool(b);",
                "declared twice",
            ),
            (
                "a.ssh_key_name(\"k\"); master_config(#{ resource_pools: [], scheduler: #{ type: \"round_robin\" } }).resource_pool(a);",
                "round_robin",
            ),
            ("a.iam_instance_profile(iam_role(\"x\"));", "not a role"),
        ];
        for (extra, want) in cases {
            let (m, _) = error(&format!("{base} {extra}"));
            assert!(m.contains(want), "{extra}: {m}");
        }
        let (m, _) = error(&format!(
            "{base} master_config(#{{ db: #{{ hots: \"h\" }} }});"
        ));
        assert_eq!(m, "unknown key \"hots\" in db (did you mean \"host\"?)");
    }

    #[test]
    fn map_literal_form_matches_the_builder() {
        let built = plan(&pool(""));
        let literal = plan(&format!(
            "{PRE}let c = master_config(#{{ resource_pools: [#{{ pool_name: \"default\", provider: #{{ type: \"aws\", instance_type: \"g5.xlarge\", ssh_key_name: \"k\", iam_instance_profile_arn: prof.arn, network_interface: #{{ security_group_id: sg.id }} }} }}] }});\nmaster_instance(\"m\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\").master_image(\"img:1\").config(c);"
        ));
        assert_eq!(
            built.master_yaml(Reveal::Redact),
            literal.master_yaml(Reveal::Redact)
        );
    }

    #[test]
    fn tls_moves_the_port_to_8443() {
        let p = plan(&format!(
            "{PRE}let c = master_config().set(\"security\", #{{ tls: #{{ cert: \"/c.pem\", key: \"/k.pem\" }} }});\nmaster_instance(\"m\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\").master_image(\"img:1\").config(c);"
        ));
        let ud = p.user_data(Reveal::Redact).unwrap();
        assert!(ud.contains("-p 8443:8443"));
        assert!(p.outputs["master_url"].to_string().starts_with("https://"));
    }

    #[test]
    fn a_master_needs_its_parts() {
        let (m, _) = error("deployment(\"t\"); master_instance(\"m\").config(master_config());");
        assert!(m.contains("needs .instance_type"), "{m}");
        fails_with(
            "deployment(\"t\"); master_instance(\"m\").image_id(\"ubuntu\");",
            "not an AMI id",
        );
        fails_with(
            "deployment(\"t\"); master_instance(\"m\").disk_gb(4);",
            "8-16384",
        );
        fails_with(
            "deployment(\"t\"); master_instance(\"a\"); master_instance(\"b\");",
            "one master",
        );
    }
}

mod sandbox {
    use super::*;
    use crate::{MapLoader, ModuleLoader};
    use std::rc::Rc;

    #[test]
    fn runaway_scripts_are_stopped() {
        fails_with("loop {}", "endless loop");
        fails_with("fn f(x) { f(x + 1) } f(0);", "recursion");
        fails_with("let s = \"x\"; loop { s += s; }", "sandbox limit");
        fails_with("let a = []; loop { a.push(1); }", "sandbox limit");
        fails_with("eval(\"1\")", "eval");
    }

    #[test]
    fn imports_resolve_inside_the_folder_only() {
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "lib/m.rhai".to_string(),
            "fn sg(n) { security_group(n, \"from module\") }".to_string(),
        );
        let loader: Rc<dyn ModuleLoader> = Rc::new(MapLoader(files));
        let mut req = CompileRequest::new(
            "dir/main.rhai",
            "import \"lib/m\" as m; deployment(\"t\"); m::sg(\"web\");",
            Mode::Preview,
        );
        req.loader = loader.clone();
        let p = compile(&req).unwrap().plan;
        assert_eq!(
            p.get("security_group.web").unwrap().source.file.as_ref(),
            "dir/lib/m.rhai"
        );
        for bad in ["/etc/passwd", "../secret", "lib/../../x"] {
            let src = format!("import \"{bad}\" as m;");
            let mut req = CompileRequest::new("dir/main.rhai", &src, Mode::Preview);
            req.loader = loader.clone();
            let e = compile(&req).unwrap_err();
            assert!(
                e.diagnostics[0].message.contains("cannot import"),
                "{bad}: {:?}",
                e.diagnostics
            );
        }
    }

    #[test]
    fn errors_inside_modules_point_into_the_module() {
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "lib/m.rhai".to_string(),
            "fn bad() {\n  tcp(99999)\n}".to_string(),
        );
        let mut req = CompileRequest::new(
            "main.rhai",
            "import \"lib/m\" as m;\nm::bad();",
            Mode::Preview,
        );
        req.loader = Rc::new(MapLoader(files));
        let d = &compile(&req).unwrap_err().diagnostics[0];
        assert_eq!((d.file.as_str(), d.line), ("lib/m.rhai", 2), "{d:?}");
        assert_eq!(d.source_line.as_deref(), Some("  tcp(99999)"));
    }

    #[test]
    fn thrown_secrets_stay_hidden() {
        let src =
            "let p = params(#{ pw: #{ secret: true, default: \"topsecret-value\" } }); throw p.pw;";
        let (m, _) = error(src);
        assert!(!m.contains("topsecret") && m.contains("(sensitive)"), "{m}");
    }
}

mod lints {
    //! `allow` and `policy`; each built-in rule's trigger is next to it in `crate::lints`.
    use super::*;
    use crate::lints::testing::{CLEAN, change, findings};

    #[test]
    fn allow_silences_a_finding_and_an_unused_allow_is_reported() {
        let open = change(
            "m.ingress(tcp(22), \"10.0.0.0/16\");",
            "m.ingress(tcp(22), \"0.0.0.0/0\");",
        );
        let allowed = format!("{open}allow(\"DS003\", \"a bastion host: SSH is the point\");\n");
        assert_eq!(findings(&allowed), vec![]);
        let unused = format!("{CLEAN}allow(\"DS003\", \"nothing to silence\");\n");
        assert_eq!(findings(&unused), vec![("DS020".to_string(), 18)]);
        fails_with(
            &format!("{CLEAN}allow(\"DS999\", \"typo\");"),
            "no rule has this id",
        );
        fails_with(&format!("{CLEAN}allow(\"DS003\", \"\");"), "needs a reason");
    }

    #[test]
    fn policies_see_the_plan_and_report_at_resource_lines() {
        let src = format!(
            "{CLEAN}policy(\"no-ssh\", |plan| plan.filter(|r| r.kind == \"security_group_rule\" && r.properties.to_port == 22)\n    .map(|r| #{{ resource: r.id, message: \"SSH is not allowed here: \" + r.id, fix: \"use SSM\" }}));\n"
        );
        let c = run(&src).unwrap();
        let f: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.code.as_deref() == Some("no-ssh"))
            .collect();
        assert_eq!(f.len(), 1, "{:?}", c.diagnostics);
        assert_eq!(f[0].line, 8);
        assert_eq!(f[0].fix.as_deref(), Some("use SSM"));
        // An error-severity finding fails the plan; a policy can be allowed like a rule.
        let failing = src.replace("fix: \"use SSM\"", "fix: \"use SSM\", severity: \"error\"");
        assert!(run(&failing).is_err());
        assert!(
            run(&format!(
                "{failing}allow(\"no-ssh\", \"approved by security\");"
            ))
            .is_ok()
        );
        // A broken policy is an error at its declaration.
        fails_at(
            &format!("{CLEAN}policy(\"bad\", |plan| plan.nope());"),
            "policy 'bad' failed",
            18,
        );
    }
}
