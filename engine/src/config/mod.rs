//! Determined's master configuration (`master.yaml`) as a typed serde model, with the
//! rules that Determined's master applies when it loads the file
//! (`master/internal/config`, `provconfig`). A violation names the field it is about so
//! that the script builder can point at the line that set it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Declares a section of the config with a fixed set of keys: a [`closed_struct!`] whose
/// default is the empty section.
macro_rules! closed_section {
    ($(#[$attr:meta])* pub struct $name:ident $fields:tt) => {
        closed_struct! {
            $(#[$attr])*
            #[derive(Default)]
            pub struct $name $fields
        }
    };
}

/// Top-level keys of Determined's master config that detscript passes through untyped.
pub const PASS_THROUGH_KEYS: &[&str] = &[
    "additional_resource_managers",
    "cache",
    "cluster_name",
    "config_file",
    "enable_cors",
    "feature_switches",
    "hpimportance",
    "integrations",
    "launch_error",
    "logging",
    "notebook_timeout",
    "observability",
    "reserved_ports",
    "resource_manager",
    "root",
    "scheduler",
    "task_container_defaults",
    "telemetry",
    "tensorboard_timeout",
    "webhooks",
];

/// `db.ssl_mode` values (libpq's).
pub const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Where the master finds Amazon's RDS CA bundle: next to master.yaml (the folder is mounted
/// at `/etc/determined`), downloaded there by the master's user-data.
pub const RDS_CA_BUNDLE: &str = "/etc/determined/rds-global-bundle.pem";
/// Amazon's bundle of RDS and Aurora certificate authorities, for every region.
pub const RDS_CA_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

/// `db.ssl_mode` and `db.ssl_root_cert` when the script sets no mode: `require` for RDS for
/// PostgreSQL (15 and newer refuse unencrypted connections), `verify-ca` against Amazon's CA
/// bundle for Aurora, as `det deploy aws` does; never Determined's own default, `disable`.
pub fn default_db_ssl(engine: &str) -> (&'static str, Option<&'static str>) {
    if engine == "aurora-postgresql" {
        ("verify-ca", Some(RDS_CA_BUNDLE))
    } else {
        ("require", None)
    }
}

/// Top-level keys with a typed model.
pub const TYPED_KEYS: &[&str] = &[
    "port",
    "checkpoint_storage",
    "db",
    "resource_pools",
    "security",
    "log",
];

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MasterConfig {
    pub port: Option<i64>,
    pub checkpoint_storage: Option<CheckpointStorage>,
    pub db: Option<DbConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_pools: Vec<ResourcePool>,
    pub security: Option<SecurityConfig>,
    pub log: Option<LogConfig>,
    /// Other top-level keys (checked against [`PASS_THROUGH_KEYS`]).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

closed_section! {
    pub struct DbConfig {
        pub user: Option<String>,
        pub password: Option<String>,
        pub host: Option<String>,
        pub port: Option<i64>,
        pub name: Option<String>,
        pub ssl_mode: Option<String>,
        pub ssl_root_cert: Option<String>,
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckpointStorage {
    S3(S3Storage),
    SharedFs(BTreeMap<String, Value>),
    Gcs(BTreeMap<String, Value>),
    Azure(BTreeMap<String, Value>),
    Directory(BTreeMap<String, Value>),
}

closed_section! {
    pub struct S3Storage {
        pub bucket: Option<String>,
        pub prefix: Option<String>,
        pub access_key: Option<String>,
        pub secret_key: Option<String>,
        pub endpoint_url: Option<String>,
        pub save_experiment_best: Option<i64>,
        pub save_trial_best: Option<i64>,
        pub save_trial_latest: Option<i64>,
    }
}

closed_section! {
    pub struct ResourcePool {
        pub pool_name: String,
        pub description: Option<String>,
        pub max_aux_containers_per_agent: Option<i64>,
        pub agent_reattach_enabled: Option<bool>,
        pub agent_reconnect_wait: Option<String>,
        pub scheduler: Option<Value>,
        pub task_container_defaults: Option<Value>,
        pub provider: Option<AwsProvider>,
    }
}

closed_section! {
    pub struct NetworkInterface {
        pub public_ip: Option<bool>,
        pub security_group_id: Option<String>,
        pub subnet_id: Option<String>,
    }
}

closed_section! {
    pub struct Tag {
        pub key: String,
        pub value: String,
    }
}

closed_section! {
    /// `resource_pools[].provider` with `type: aws`: the common provider fields and the AWS ones.
    /// Field order follows the guide's snippet.
    pub struct AwsProvider {
        pub iam_instance_profile_arn: Option<String>,
        pub image_id: Option<String>,
        pub agent_docker_image: Option<String>,
        pub agent_docker_network: Option<String>,
        pub agent_docker_runtime: Option<String>,
        pub agent_reconnect_attempts: Option<i64>,
        pub agent_reconnect_backoff: Option<i64>,
        pub instance_name: Option<String>,
        pub instance_type: Option<String>,
        pub instance_slots: Option<i64>,
        pub cpu_slots_allowed: Option<bool>,
        pub master_url: Option<String>,
        pub master_cert_name: Option<String>,
        pub max_idle_agent_period: Option<String>,
        pub max_agent_starting_period: Option<String>,
        pub min_instances: Option<i64>,
        pub max_instances: Option<i64>,
        pub launch_error_timeout: Option<String>,
        pub launch_error_retries: Option<i64>,
        pub network_interface: Option<NetworkInterface>,
        #[serde(rename = "type", default = "aws")]
        pub kind: String,
        pub region: Option<String>,
        pub root_volume_size: Option<i64>,
        pub spot: Option<bool>,
        pub spot_max_price: Option<String>,
        pub ssh_key_name: Option<String>,
        pub startup_script: Option<String>,
        pub container_startup_script: Option<String>,
        pub tag_key: Option<String>,
        pub tag_value: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub custom_tags: Vec<Tag>,
        pub log_group: Option<String>,
        pub log_stream: Option<String>,
        /// The agent's own config file (agent.yaml), which Determined writes on each agent.
        pub agent_config_file_contents: Option<AgentConfig>,
    }
}

fn aws() -> String {
    "aws".to_string()
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityConfig {
    pub tls: Option<TlsConfig>,
    pub initial_user_password: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

closed_section! {
    pub struct TlsConfig {
        pub cert: Option<String>,
        pub key: Option<String>,
    }
}

closed_section! {
    pub struct LogConfig {
        pub level: Option<String>,
        pub color: Option<bool>,
    }
}

/// The agent's configuration (`agent.yaml`) as a pool's `agent_config_file_contents`: the
/// hooks typed, the agent's other options passed through and checked by name.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub hooks: Option<AgentHooks>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

closed_section! {
    /// `hooks` of the agent config.
    pub struct AgentHooks {
        /// The command (program and arguments) the agent runs when it loses its master for good.
        pub on_connection_lost: Option<Vec<String>>,
    }
}

impl AgentConfig {
    /// What `det deploy aws` gives every pool: an agent that loses its master shuts its
    /// instance down (and, with shutdown behaviour `terminate`, stops billing).
    pub fn shutdown_on_connection_lost() -> AgentConfig {
        AgentConfig {
            hooks: Some(AgentHooks {
                on_connection_lost: Some(vec!["shutdown".into(), "now".into()]),
            }),
            other: BTreeMap::new(),
        }
    }
}

/// Options of Determined's agent (`agent/internal/options`) other than `hooks`; the agent
/// refuses a config file with any other key.
pub const AGENT_CONFIG_KEYS: &[&str] = &[
    "agent_id",
    "agent_reconnect_attempts",
    "agent_reconnect_backoff",
    "artificial_slots",
    "binds",
    "container_auto_remove_disabled",
    "container_master_host",
    "container_master_port",
    "container_runtime",
    "debug",
    "fluent",
    "ftp_proxy",
    "hooks",
    "http_proxy",
    "https_proxy",
    "image_root",
    "label",
    "log",
    "master_host",
    "master_port",
    "no_proxy",
    "resource_pool",
    "security",
    "slot_type",
    "visible_gpus",
];

mod agent_policy;

impl MasterConfig {
    /// The typed model from JSON, with the path of the field that does not fit. Every
    /// caller goes through here: each deserializer the model is read with is a copy of
    /// its (large) generated code in the browser's wasm.
    #[inline(never)]
    pub fn from_json(v: Value) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
        serde_path_to_error::deserialize(v)
    }
}

mod rules;
mod slots;

pub use agent_policy::*;

pub use rules::*;
pub use slots::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `check` takes every value of `ok` and refuses every value of `bad`.
    fn sorts(check: fn(&str) -> Result<(), String>, ok: &[&str], bad: &[&str]) {
        for s in ok {
            assert!(check(s).is_ok(), "{s}");
        }
        for s in bad {
            assert!(check(s).is_err(), "{s}");
        }
    }

    /// An AWS provider with the fields every pool needs, of the given instance type.
    fn provider(instance_type: &str) -> AwsProvider {
        AwsProvider {
            kind: "aws".into(),
            ssh_key_name: Some("k".into()),
            instance_type: Some(instance_type.into()),
            ..Default::default()
        }
    }

    /// A config with one pool, `default`, on the given provider.
    fn one_pool(p: AwsProvider) -> MasterConfig {
        MasterConfig {
            resource_pools: vec![ResourcePool {
                pool_name: "default".into(),
                provider: Some(p),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn durations_follow_go() {
        sorts(
            check_duration,
            &["10m", "90s", "1h30m", "1.5h", "500ms", "20m0s"],
            &["10", "1d", "", "m", "0s", "10 m", "1..5h", "-5m"],
        );
        assert!(check_duration("1d").unwrap_err().contains("24h"));
    }

    #[test]
    fn master_url_form() {
        sorts(
            check_master_url,
            &["http://local-ipv4:8080", "https://public-hostname:8443"],
            &[
                "http://local-ipv4",
                "ftp://x:1",
                "http://x:8080/api",
                "local-ipv4:8080",
            ],
        );
    }

    #[test]
    fn spot_price_is_digits_and_one_dot() {
        sorts(check_spot_price, &["0.90", "3"], &["$1", "1.2.3"]);
    }

    #[test]
    fn unknown_provider_type_needs_slots() {
        let mut p = provider("g6.xlarge");
        let v = one_pool(p.clone()).validate();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "instance_type");
        p.instance_slots = Some(1);
        assert!(one_pool(p).validate().is_empty());
    }

    #[test]
    fn unknown_top_level_key_suggests() {
        let mut cfg = MasterConfig::default();
        cfg.other.insert("chekpoint_storage".into(), Value::Null);
        let v = cfg.validate();
        assert!(
            v[0].message.contains("did you mean \"checkpoint_storage\""),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn min_max_instances() {
        let p = AwsProvider {
            min_instances: Some(3),
            max_instances: Some(2),
            ..provider("t3.large")
        };
        assert_eq!(one_pool(p).validate()[0].field, "max_instances");
    }
}
