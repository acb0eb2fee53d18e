//! The log group kind: its spec and name, the options' checks at the script line, the
//! writers' policy, the master's `awslogs` driver and the pools' master.yaml fields.

use super::*;
use crate::plan::Kind;
use crate::value::Style;
use crate::{CompileRequest, Mode, Plan, Reveal, compile};

/// A master and a pool, each with its own role, both writing to the group `logs`; `opts`
/// are the group's options, `region` the deployment's.
fn script(opts: &str, region: &str) -> String {
    format!(
        r#"deployment("t"){region};
let logs = log_group("logs"{opts});
let sg = security_group("agent", "A");
let agent = instance_profile(iam_role("agent").assumed_by("ec2.amazonaws.com"));
let master = instance_profile(iam_role("master").assumed_by("ec2.amazonaws.com"));
let pool = aws_pool("default").instance_type("g5.xlarge").ssh_key_name("k").iam_instance_profile(agent).security_group(sg).log_group(logs);
let c = master_config().resource_pool(pool);
master_instance("m").instance_type("m6i.xlarge").image_id("ami-0123456789abcdef0").master_image("img:1").instance_profile(master).log_group(logs).config(c);
"#
    )
}

fn run(src: &str) -> Result<Plan, (String, u32)> {
    compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
        .map(|c| c.plan)
        .map_err(|f| (f.diagnostics[0].message.clone(), f.diagnostics[0].line))
}

fn plan(src: &str) -> Plan {
    run(src).unwrap_or_else(|e| panic!("expected a plan, got {e:?}"))
}

fn spec(p: &Plan) -> &LogGroupSpec {
    match &p.get("cloudwatch_log_group.logs").expect("the group").spec {
        crate::kinds::Spec::CloudwatchLogGroup(s) => s,
        other => panic!("not a log group: {other:?}"),
    }
}

#[test]
fn a_group_is_named_after_the_deployment_and_keeps_a_year_by_default() {
    let p = plan(&script("", ""));
    let r = p.get("cloudwatch_log_group.logs").unwrap();
    assert_eq!(r.kind, Kind::CloudwatchLogGroup);
    assert_eq!(r.name, "t-logs");
    assert_eq!(r.tags[crate::kinds::TAG_DEPLOYMENT].to_string(), "t");
    let s = spec(&p);
    assert_eq!(
        s,
        &LogGroupSpec {
            log_group_name: "t-logs".into(),
            retention_days: DEFAULT_RETENTION_DAYS,
            kms_key_id: None,
        }
    );
    assert_eq!(p.outputs["logs_log_group"].to_string(), "t-logs");
    assert_eq!(
        p.outputs["logs_log_group_arn"].display(Style::Template),
        "${cloudwatch_log_group.logs.arn}"
    );
    let key = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let p = plan(&script(
        &format!(", #{{ retention_days: 30, kms_key: \"{key}\" }}"),
        "",
    ));
    assert_eq!(spec(&p).retention_days, 30);
    assert_eq!(spec(&p).kms_key_id, Some(Tmpl::text(key)));
    // An empty key (a parameter's default) leaves the group to CloudWatch's own encryption.
    assert_eq!(
        spec(&plan(&script(", #{ kms_key: \"\" }", ""))).kms_key_id,
        None
    );
}

#[test]
fn options_cloudwatch_would_refuse_are_errors_at_the_line() {
    for (opts, needle) in [
        (
            ", #{ retention_days: 42 }",
            "one of the periods CloudWatch Logs accepts (1, 3, 5",
        ),
        (
            ", #{ retention_days: \"a year\" }",
            "retention_days expects an integer",
        ),
        (", #{ kms_key: \"alias/logs\" }", "is not a KMS key ARN"),
        (
            ", #{ retain: 7 }",
            "unknown option \"retain\"; expected one of retention_days",
        ),
        (", 365", "expects a map of options"),
    ] {
        let (msg, line) = run(&script(opts, "")).expect_err(opts);
        assert!(msg.contains("log_group 'logs'"), "{opts}: {msg}");
        assert!(msg.contains(needle), "{opts}: {msg}");
        assert_eq!(line, 2, "{opts}: {msg}");
    }
    let list: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
    assert_eq!(RETENTION_LIST, list.join(", "));
    for days in RETENTION_DAYS {
        assert!(check_retention(*days).is_ok());
    }
    assert!(check_retention(0).is_err() && check_retention(366).is_err());
    let (msg, line) =
        run(&script("", "").replace(".log_group(logs).config", ".log_group(\"x\").config"))
            .unwrap_err();
    assert!(
        msg.contains("expects a log_group(...) handle, got string \"x\""),
        "{msg}"
    );
    assert_eq!(line, 8);
}

#[test]
fn names_follow_cloudwatchs_rules() {
    assert!(check_name("det-prod-logs").is_ok());
    assert!(check_name("/det/prod#1_a.b").is_ok());
    assert!(check_name("").is_err());
    assert!(check_name(&"x".repeat(513)).is_err());
    assert!(check_name("a b").unwrap_err().contains("' '"));
    assert!(check_kms_key("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abc").is_ok());
    assert!(check_kms_key("arn:aws:kms:us-west-2:1111:key/abc").is_err());
    assert!(check_kms_key("arn:aws:kms:us-west-2:111122223333:alias/x").is_err());
}

#[test]
fn the_writers_roles_may_write_only_to_their_group() {
    let p = plan(&script("", ".region(\"us-west-2\")"));
    for role in ["iam_role.master", "iam_role.agent"] {
        let crate::kinds::Spec::IamRole(r) = &p.get(role).unwrap().spec else {
            panic!("{role} is a role");
        };
        let doc = r.inline_policies[iam::POLICY_NAME].display(Style::Template);
        assert_eq!(
            doc,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "WriteLogs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                        "Resource": ["${cloudwatch_log_group.logs.arn}"],
                    },
                    {
                        "Sid": "PutMetrics",
                        "Effect": "Allow",
                        "Action": "cloudwatch:PutMetricData",
                        "Resource": "*",
                        "Condition": { "StringEquals": { "cloudwatch:namespace": "Determined" } },
                    },
                ],
            }),
            "{role}"
        );
        // The reference orders the role after the group.
        assert!(
            p.get(role)
                .unwrap()
                .depends_on
                .contains(&"cloudwatch_log_group.logs".to_string()),
            "{role}"
        );
    }
    // A role nobody writes logs with gets nothing; an undeclared role is a warning.
    let quiet = plan(&script("", "").replace(".log_group(logs)", ""));
    let crate::kinds::Spec::IamRole(r) = &quiet.get("iam_role.master").unwrap().spec else {
        panic!()
    };
    assert!(!r.inline_policies.contains_key(iam::POLICY_NAME));
    let src = script("", "").replace(
        ".iam_instance_profile(agent)",
        ".iam_instance_profile_arn(\"arn:aws:iam::111122223333:instance-profile/x\")",
    );
    let c = compile(&CompileRequest::new("t.rhai", &src, Mode::Preview)).unwrap();
    let w = c
        .diagnostics
        .iter()
        .find(|w| {
            w.message
                .contains("aws_pool 'default' writes to cloudwatch_log_group.logs")
        })
        .expect("a warning");
    assert_eq!(w.line, 6);
}

#[test]
fn the_master_container_logs_through_awslogs_into_the_group() {
    let p = plan(&script("", ".region(\"eu-central-1\")"));
    let ud = p.user_data(Reveal::Redact).unwrap();
    for opt in [
        "--log-driver awslogs",
        "--log-opt 'awslogs-group='${cloudwatch_log_group.logs.name}",
        "--log-opt 'awslogs-region=eu-central-1'",
        "--log-opt awslogs-stream=determined-master",
        "--log-opt awslogs-create-group=false",
    ] {
        assert!(ud.contains(opt), "{opt} not in\n{ud}");
    }
    // The master starts after its group exists.
    assert!(
        p.get("ec2_instance.m")
            .unwrap()
            .depends_on
            .contains(&"cloudwatch_log_group.logs".to_string())
    );
    // Without a region Docker asks the instance; without a group the driver is Docker's.
    let ud = plan(&script("", "")).user_data(Reveal::Redact).unwrap();
    assert!(
        ud.contains("awslogs-group") && !ud.contains("awslogs-region"),
        "{ud}"
    );
    let ud = plan(&script("", "").replace(".log_group(logs).config", ".config"))
        .user_data(Reveal::Redact)
        .unwrap();
    assert!(!ud.contains("awslogs"), "{ud}");
}

#[test]
fn pools_name_the_group_and_a_stream_in_master_yaml() {
    let p = plan(&script("", ""));
    let yaml = p.master_yaml(Reveal::Redact).unwrap();
    assert!(yaml.contains("    log_group: t-logs\n"), "{yaml}");
    assert!(
        yaml.contains("    log_stream: determined-agent-default\n"),
        "{yaml}"
    );
    let provider = p.master.as_ref().unwrap().config.resource_pools[0]
        .provider
        .as_ref()
        .unwrap();
    assert_eq!(provider.log_group.as_deref(), Some("t-logs"));
    // A stream the script sets wins, before or after the group; a name stays a name.
    for extra in [
        ".log_stream(\"gpu\").log_group(logs)",
        ".log_group(logs).log_stream(\"gpu\")",
    ] {
        let yaml = plan(&script("", "").replace(".log_group(logs);", &format!("{extra};")))
            .master_yaml(Reveal::Redact)
            .unwrap();
        assert!(yaml.contains("    log_stream: gpu\n"), "{extra}: {yaml}");
    }
    let yaml = plan(&script("", "").replace(".log_group(logs);", ".log_group(\"elsewhere\");"))
        .master_yaml(Reveal::Redact)
        .unwrap();
    assert!(
        yaml.contains("    log_group: elsewhere\n") && !yaml.contains("log_stream"),
        "{yaml}"
    );
}

#[test]
fn cloudformation_maps_the_group_with_its_retention_and_key() {
    let key = "arn:aws:kms:us-west-2:111122223333:key/abc";
    let c = compile(&CompileRequest::new(
        "t.rhai",
        &script(
            &format!(", #{{ kms_key: \"{key}\" }}"),
            ".region(\"us-west-2\")",
        ),
        Mode::Preview,
    ))
    .unwrap();
    let t = crate::cfn::export(&c.plan, &c.params).unwrap();
    let g = &t["Resources"]["CloudwatchLogGroupLogs"];
    assert_eq!(g["Type"], "AWS::Logs::LogGroup");
    assert_eq!(g["Properties"]["LogGroupName"], "t-logs");
    assert_eq!(g["Properties"]["RetentionInDays"], 365);
    assert_eq!(g["Properties"]["KmsKeyId"], key);
    let policies = serde_json::to_string(&t["Resources"]["IamRoleMaster"]).unwrap();
    assert!(
        policies.contains(r#"{"Fn::GetAtt":["CloudwatchLogGroupLogs","Arn"]}"#),
        "{policies}"
    );
}
