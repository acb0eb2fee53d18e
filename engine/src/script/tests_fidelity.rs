//! Tests of what a cluster needs to behave like `det deploy aws`'s: the agents' config,
//! AMIs per region, database SSL and the master's scoped EC2 permissions.

use super::tests::{error, fails_at, plan, run};
use crate::{Compiled, Failure, Plan, Reveal};

mod agent_config {
    use super::*;

    use super::super::tests::master::{PRE, pool};

    fn hook(p: &Plan) -> Option<Vec<String>> {
        let cfg = &p.master.as_ref().expect("a master").config;
        let provider = cfg.resource_pools[0].provider.as_ref()?;
        provider
            .agent_config_file_contents
            .as_ref()?
            .hooks
            .as_ref()?
            .on_connection_lost
            .clone()
    }

    #[test]
    fn pools_shut_down_agents_that_lose_the_master_by_default() {
        let p = plan(&pool(""));
        assert_eq!(hook(&p), Some(vec!["shutdown".into(), "now".into()]));
        let yaml = p.master_yaml(Reveal::Redact).expect("master.yaml");
        assert!(
            yaml.contains("    agent_config_file_contents:\n      hooks:\n        on_connection_lost:\n        - shutdown\n        - now\n"),
            "{yaml}"
        );
    }

    #[test]
    fn a_script_turns_the_hook_off_or_sets_its_own_config() {
        let off = plan(&pool(".shutdown_on_connection_lost(false)"));
        assert_eq!(hook(&off), None);
        assert!(
            !off.master_yaml(Reveal::Redact)
                .unwrap()
                .contains("agent_config_file_contents")
        );
        let own = plan(&pool(
            ".agent_config_file_contents(#{ hooks: #{ on_connection_lost: [\"poweroff\"] }, log: #{ level: \"debug\" } })",
        ));
        assert_eq!(hook(&own), Some(vec!["poweroff".into()]));
        let both = plan(&pool(
            ".agent_config_file_contents(#{ log: #{ level: \"debug\" } }).shutdown_on_connection_lost(true)",
        ));
        assert_eq!(hook(&both), Some(vec!["shutdown".into(), "now".into()]));
        // A pool given as a map gets the default too; an empty agent config turns it off.
        let literal = "master_config(#{ resource_pools: [#{ pool_name: \"default\", provider: #{ type: \"aws\", instance_type: \"g5.xlarge\", ssh_key_name: \"k\" PROV } }] });";
        let with_master = |prov: &str| {
            plan(&format!(
                "{PRE}let c = {}\nmaster_instance(\"m\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\").master_image(\"img:1\").config(c);",
                literal.replace("PROV", prov)
            ))
        };
        assert_eq!(
            hook(&with_master("")),
            Some(vec!["shutdown".into(), "now".into()])
        );
        assert_eq!(
            hook(&with_master(", agent_config_file_contents: #{}")),
            None
        );
    }

    #[test]
    fn determined_rules_apply_to_the_agent_config() {
        fails_at(
            &pool(".agent_config_file_contents(#{ hoks: #{} })"),
            "did you mean \"hooks\"",
            4,
        );
        let (m, _) = error(&pool(
            ".agent_config_file_contents(#{ hooks: #{ on_connection_lost: [] } })",
        ));
        assert!(m.contains("must be a command"), "{m}");
        let (m, _) = error(&pool(
            ".agent_config_file_contents(#{ hooks: #{ on_lost: [\"x\"] } })",
        ));
        assert!(m.contains("on_lost"), "{m}");
        let (m, _) = error(&pool(".agent_config_file_contents(\"hooks: {}\")"));
        assert!(m.contains("expects a map"), "{m}");
        let (m, _) = error(&pool(".shutdown_on_connection_lost(\"yes\")"));
        assert!(m.contains("true or false"), "{m}");
    }
}

mod database_ssl {
    use super::*;
    use crate::config::{RDS_CA_BUNDLE, RDS_CA_BUNDLE_URL};

    fn cluster(engine: &str, extra: &str) -> Plan {
        plan(&format!(
            r#"let p = params(#{{ pw: #{{ secret: true, default: "Str0ng-password" }} }});
deployment("t");
let m = security_group("m", "M");
let db = database("db").engine({engine}).master_user("postgres", secret("db-password", p.pw)).allow_from(m){extra};
let c = master_config().db(db);
master_instance("m").instance_type("m6i.xlarge").image_id("ami-0123456789abcdef0").master_image("img:1").config(c);"#
        ))
    }

    fn db_of(p: &Plan) -> crate::config::DbConfig {
        p.master.as_ref().unwrap().config.db.clone().unwrap()
    }

    #[test]
    fn rds_postgres_requires_ssl_and_aurora_verifies_amazons_ca() {
        let rds = cluster("\"postgres\"", "");
        assert_eq!(db_of(&rds).ssl_mode.as_deref(), Some("require"));
        assert_eq!(db_of(&rds).ssl_root_cert, None);
        let ud = rds.user_data(Reveal::Redact).unwrap();
        assert!(!ud.contains(RDS_CA_BUNDLE_URL), "{ud}");

        let aurora = cluster("\"aurora-postgresql\"", "");
        assert_eq!(db_of(&aurora).ssl_mode.as_deref(), Some("verify-ca"));
        assert_eq!(db_of(&aurora).ssl_root_cert.as_deref(), Some(RDS_CA_BUNDLE));
        // The bundle lands next to master.yaml, whose folder the master sees as /etc/determined.
        let ud = aurora.user_data(Reveal::Redact).unwrap();
        let host = format!(
            "{}/rds-global-bundle.pem",
            crate::userdata::HOST_CONFIG_PATH
                .rsplit_once('/')
                .unwrap()
                .0
        );
        assert!(
            ud.contains(&format!(
                "curl -fsSL --retry 5 -o {host}.new {RDS_CA_BUNDLE_URL}\n"
            )) && ud.contains(&format!("mv {host}.new {host}\n")),
            "{ud}"
        );
        assert!(RDS_CA_BUNDLE.starts_with(crate::userdata::CONTAINER_CONFIG_DIR));
    }

    #[test]
    fn a_mode_the_script_sets_is_kept_and_versions_are_pinned() {
        let p = cluster("\"aurora-postgresql\", \"16.8\"", ".ssl_mode(\"require\")");
        assert_eq!(db_of(&p).ssl_mode.as_deref(), Some("require"));
        assert_eq!(db_of(&p).ssl_root_cert, None);
        assert!(
            !p.user_data(Reveal::Redact)
                .unwrap()
                .contains("curl -fsSL --retry")
        );
        let version =
            |p: &Plan, id: &str| p.get(id).unwrap().properties()["engine_version"].clone();
        assert_eq!(version(&p, "rds_cluster.db"), "16.8");
        for engine in ["postgres", "aurora-postgresql"] {
            let p = cluster(&format!("{engine:?}"), "");
            let id = if engine == "postgres" {
                "rds_instance.db"
            } else {
                "rds_cluster.db"
            };
            assert_eq!(
                version(&p, id),
                crate::versions::pinned_engine_version(engine).unwrap()
            );
        }
    }
}

mod amis {
    use super::*;

    fn pool_ami(region: &str) -> Result<Compiled, Failure> {
        run(&format!(
            "deployment(\"t\"){region};\nlet a = determined_ami(\"agent\");\nlet m = determined_ami(\"master\");\nsecurity_group(\"x\", a + \" \" + m);"
        ))
    }

    #[test]
    fn amis_follow_the_deployment_region() {
        for (region, master, agent) in crate::amis::REGION_AMIS {
            let p = pool_ami(&format!(".region({region:?})"))
                .expect("plans")
                .plan;
            let desc = p.get("security_group.x").unwrap().properties()["description"].clone();
            assert_eq!(desc, format!("{agent} {master}"));
        }
    }

    #[test]
    fn an_unsupported_or_missing_region_is_an_error_at_the_line() {
        let (m, line) = error_of(pool_ami(".region(\"eu-north-1\")"));
        assert!(
            m.contains("no AMIs for region \"eu-north-1\"") && m.contains("us-east-1"),
            "{m}"
        );
        assert_eq!(line, 2);
        let (m, line) = error_of(pool_ami(""));
        assert!(m.contains("call deployment(..).region(..)"), "{m}");
        assert_eq!(line, 2);
        let (m, _) = error("deployment(\"t\").region(\"us-west-2\"); determined_ami(\"worker\");");
        assert!(m.contains("\"master\" or \"agent\""), "{m}");
        let (m, _) = error(
            "let p = params(#{ r: #{} }); deployment(\"t\").region(p.r); determined_ami(\"agent\");",
        );
        assert!(m.contains("give the region's parameter a value"), "{m}");
    }

    fn error_of(r: Result<Compiled, Failure>) -> (String, u32) {
        let Err(f) = r else {
            panic!("expected an error")
        };
        (f.diagnostics[0].message.clone(), f.diagnostics[0].line)
    }
}

mod ssm_ami {
    use super::*;

    use super::super::tests::master::pool;
    use crate::value::Tmpl;

    const UBUNTU: &str = crate::amis::UBUNTU_SSM_PARAMETER;

    fn with_image(image: &str) -> String {
        pool("").replace("\"ami-0123456789abcdef0\")", &format!("{image}))"))
    }

    #[test]
    fn the_master_ami_is_known_after_apply_from_the_ssm_parameter() {
        let p = plan(&with_image("ubuntu_ami("));
        let r = p.get("ec2_instance.m").unwrap();
        let crate::Spec::Ec2Instance(spec) = &r.spec else {
            panic!("an instance")
        };
        assert_eq!(spec.image_id, Tmpl::ssm(UBUNTU));
        assert_eq!(r.spec.ssm_parameters(), vec![UBUNTU.to_string()]);
        // No resource to depend on; the canonical JSON and the text view say what it is.
        assert!(r.depends_on.iter().all(|d| !d.contains("ssm")), "{r:?}");
        assert_eq!(
            r.properties()["image_id"],
            serde_json::json!(format!("${{ssm.{UBUNTU}}}"))
        );
        let text = p.render_text();
        assert!(
            text.contains(&format!("(known after apply: SSM parameter {UBUNTU})")),
            "{text}"
        );
        let custom = plan(&with_image("ssm_parameter(\"/team/det/master-ami\""));
        let crate::Spec::Ec2Instance(spec) = &custom.get("ec2_instance.m").unwrap().spec else {
            panic!("an instance")
        };
        assert_eq!(spec.image_id.as_ssm(), Some("/team/det/master-ami"));
        let resolved = spec.image_id.resolve(
            &|r| (r.path() == "ssm./team/det/master-ami").then(|| "ami-1".into()),
            None,
        );
        assert_eq!(resolved.unwrap(), "ami-1");
        let unread = spec.image_id.resolve(&|_| None, None).unwrap_err();
        assert_eq!(
            unread.to_string(),
            "SSM parameter /team/det/master-ami is not read yet"
        );
    }

    #[test]
    fn bad_names_and_other_uses_are_errors_at_the_line() {
        fails_at(
            "deployment(\"t\");\nssm_parameter(\"aws/no slash\");",
            "' ' is not allowed",
            2,
        );
        let (m, _) = error("deployment(\"t\"); ssm_parameter(\"team//x\");");
        assert!(m.contains("starts with /"), "{m}");
        let (m, _) = error("let p = params(#{ n: #{} }); deployment(\"t\"); ssm_parameter(p.n);");
        assert!(
            m.contains("needs the parameter's name when planning"),
            "{m}"
        );
        // Outside the master's image_id (here a pool's AMI in master.yaml, and a tag): refused,
        // since the value is text from outside the script.
        let (m, _) = error(&pool(".image_id(ubuntu_ami())"));
        assert!(
            m.contains("reads the SSM parameter") && m.contains("image_id(..) only"),
            "{m}"
        );
        fails_at(
            "deployment(\"t\").tags(#{ ami: ubuntu_ami() });\nsecurity_group(\"x\", \"X\");",
            "security_group.x reads the SSM parameter",
            2,
        );
    }

    #[test]
    fn cloudformation_resolves_the_parameter_itself() {
        let p = plan(&with_image("ubuntu_ami("));
        let t = crate::cfn::export(&p, &[]).expect("exports");
        let props = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .find(|r| r["Type"] == "AWS::EC2::Instance")
            .expect("the master")["Properties"]
            .clone();
        assert_eq!(
            props["ImageId"],
            serde_json::json!(format!("{{{{resolve:ssm:{UBUNTU}}}}}"))
        );
    }
}

mod master_role {
    use super::*;

    const PRE: &str = "deployment(\"t\").region(\"us-gov-west-1\");\nlet a = aws_pool(\"a\").tag(\"det-t\", \"det-t-agent\");\nlet b = aws_pool(\"b\").tag(\"det-t\", \"det-t-agent\").spot(true);\n";

    #[test]
    fn the_role_gets_the_scoped_statements_of_its_pools() {
        let p = plan(&format!(
            "{PRE}iam_role(\"m\").assumed_by(\"ec2.amazonaws.com\").allow_agents(\"agents\", [a, b]);"
        ));
        let policy = p.get("iam_role.m").unwrap().properties()["inline_policies"]["agents"].clone();
        let want = crate::config::agent_statements(
            &[crate::config::PoolTag {
                key: "det-t".into(),
                value: "det-t-agent".into(),
            }],
            true,
            "aws-us-gov",
        );
        assert_eq!(policy["Statement"], serde_json::json!(want));
        let text = p.render_text();
        assert!(
            text.contains("when StringEquals ec2:ResourceTag/det-t = det-t-agent"),
            "{text}"
        );
        // One on-demand pool: no spot permissions.
        let p = plan(&format!(
            "{PRE}iam_role(\"m\").allow_agents(\"agents\", a);"
        ));
        let s = serde_json::Value::Object(p.get("iam_role.m").unwrap().properties()).to_string();
        assert!(!s.contains("Spot"), "{s}");
    }

    #[test]
    fn pools_must_be_tagged_known_and_policies_unique() {
        fails_at(
            &format!("{PRE}let c = aws_pool(\"c\");\niam_role(\"m\").allow_agents(\"x\", c);"),
            "aws_pool 'c' has no .tag(key, value)",
            5,
        );
        let (m, _) = error(&format!(
            "{PRE}iam_role(\"m\").allow_agents(\"x\", [a, 1]);"
        ));
        assert!(m.contains("expects an aws_pool(...) or an array"), "{m}");
        let (m, _) = error(&format!(
            "{PRE}iam_role(\"m\").allow(\"x\", \"s3:GetObject\", \"*\").allow_agents(\"x\", a);"
        ));
        assert!(m.contains("already attached"), "{m}");
        let (m, _) = error(
            "let p = params(#{ k: #{} }); deployment(\"t\"); let a = aws_pool(\"a\").tag(p.k, \"v\"); iam_role(\"m\").allow_agents(\"x\", a);",
        );
        assert!(m.contains("must be known when planning"), "{m}");
    }
}
