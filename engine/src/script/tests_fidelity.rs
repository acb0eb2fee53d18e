//! Tests of what a cluster needs to behave like `det deploy aws`'s: the agents' config,
//! AMIs per region, database SSL and the master's scoped EC2 permissions.

use crate::{CompileRequest, Compiled, Failure, Mode, Plan, Reveal, compile};

fn run(src: &str) -> Result<Compiled, Failure> {
    compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
}

fn plan(src: &str) -> Plan {
    match run(src) {
        Ok(c) => c.plan,
        Err(f) => panic!("expected a plan, got {:#?}", f.diagnostics),
    }
}

/// The first error's message and line.
fn error(src: &str) -> (String, u32) {
    match run(src) {
        Ok(_) => panic!("expected an error"),
        Err(f) => (f.diagnostics[0].message.clone(), f.diagnostics[0].line),
    }
}

mod agent_config {
    use super::*;

    const PRE: &str = r#"deployment("t");
let sg = security_group("agent", "A");
let prof = instance_profile(iam_role("agent").assumed_by("ec2.amazonaws.com"));
"#;

    fn pool(extra: &str) -> String {
        format!(
            "{PRE}let pool = aws_pool(\"default\").instance_type(\"g5.xlarge\").ssh_key_name(\"k\").iam_instance_profile(prof).security_group(sg){extra};\nlet c = master_config().resource_pool(pool);\nmaster_instance(\"m\").instance_type(\"m6i.xlarge\").image_id(\"ami-0123456789abcdef0\").master_image(\"img:1\").config(c);"
        )
    }

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
        let (m, line) = error(&pool(".agent_config_file_contents(#{ hoks: #{} })"));
        assert!(m.contains("did you mean \"hooks\""), "{m}");
        assert_eq!(line, 4);
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
let db = database("db").engine({engine}).master_user("postgres", p.pw).allow_from(m){extra};
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
