//! The master instance: its spec properties, its files and its outputs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::super::State;
use crate::config::MasterConfig;
use crate::diag::Diagnostic;
use crate::plan::MasterFiles;
use crate::refs;

pub(super) fn build_master(
    st: &mut State,
    m: &super::super::master::MasterDecl,
    configs: &[Option<MasterConfig>],
    deployment: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<MasterFiles> {
    let who = format!("master_instance '{}'", m.name);
    let mut missing = |what: &str, example: &str| {
        errors.push(
            Diagnostic::error(format!("{who} needs .{what}(...)"), &m.pos)
                .with_note(format!("for example .{what}({example})")),
        );
    };
    if m.instance_type.is_none() {
        missing("instance_type", "\"m6i.xlarge\"");
    }
    if m.image_id.is_none() {
        missing("image_id", "p.master_ami");
    }
    if m.master_image.is_none() {
        missing(
            "master_image",
            "\"determinedai/determined-master:\" + p.version",
        );
    }
    let Some(ci) = m.config else {
        missing("config", "master_config()...");
        return None;
    };
    let config = configs.get(ci).cloned().flatten()?;
    let port = config.effective_port();
    let tls = config
        .security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some();
    let files = MasterFiles {
        instance_name: m.name.clone(),
        deployment: deployment.to_string(),
        image: m.master_image.clone().unwrap_or_default(),
        port,
        tls,
        public_ip: m.public_ip,
        config_path: m.config_path.clone(),
        config,
    };
    let mut props = Map::new();
    props.insert(
        "instance_type".into(),
        Value::String(m.instance_type.clone().unwrap_or_default()),
    );
    props.insert(
        "image_id".into(),
        Value::String(m.image_id.clone().unwrap_or_default()),
    );
    if let Some(k) = &m.key_name {
        props.insert("key_name".into(), Value::String(k.clone()));
    }
    if let Some(s) = &m.subnet_id {
        props.insert("subnet_id".into(), Value::String(s.clone()));
    }
    props.insert(
        "security_group_ids".into(),
        Value::Array(
            m.security_groups
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        ),
    );
    if let Some(p) = &m.profile {
        props.insert(
            "iam_instance_profile".into(),
            Value::String(refs::attr(p, "arn")),
        );
    }
    props.insert(
        "associate_public_ip_address".into(),
        Value::Bool(m.public_ip),
    );
    props.insert(
        "root_volume".into(),
        serde_json::json!({
            "device_name": "/dev/sda1",
            "size_gb": m.disk_gb,
            "volume_type": "gp3",
            "encrypted": true,
        }),
    );
    props.insert(
        "metadata_options".into(),
        serde_json::json!({
            "http_tokens": if m.imdsv2 { "required" } else { "optional" },
            "http_put_response_hop_limit": m.hop_limit,
        }),
    );
    props.insert("master_image".into(), Value::String(files.image.clone()));
    props.insert("master_port".into(), Value::from(port));
    let d = &mut st.decls[m.decl];
    d.props = props;
    d.pending = false;
    Some(files)
}

/// The master's outputs: its id, addresses, URL, and each pool's agent tag.
pub(super) fn outputs(mf: &MasterFiles, outputs: &mut BTreeMap<String, String>) {
    let id = format!("ec2_instance.{}", mf.instance_name);
    let attr = |a: &str| refs::reference(&format!("{id}.{a}"));
    let ip = if mf.public_ip {
        "public_ip"
    } else {
        "private_ip"
    };
    let scheme = if mf.tls { "https" } else { "http" };
    outputs.insert("master_instance_id".into(), attr("id"));
    outputs.insert("master_private_ip".into(), attr("private_ip"));
    if mf.public_ip {
        outputs.insert("master_public_ip".into(), attr("public_ip"));
    }
    outputs.insert(
        "master_url".into(),
        format!("{scheme}://{}:{}", attr(ip), mf.port),
    );
    for pool in &mf.config.resource_pools {
        if let Some(p) = &pool.provider {
            if let (Some(k), Some(v)) = (&p.tag_key, &p.tag_value) {
                outputs.insert(format!("agent_tag_{}", pool.pool_name), format!("{k}={v}"));
            }
        }
    }
}
