//! The master instance: its spec properties, its files and its outputs.

use super::super::State;
use crate::config::MasterConfig;
use crate::diag::Diagnostic;
use crate::kinds::ec2_instance::Ec2InstanceSpec;
use crate::plan::MasterFiles;
use crate::value::{Ref, Tmpl};

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
        missing("image_id", "determined_ami(\"master\")");
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
        elastic_ip: m.elastic_ip.clone(),
        config_path: m.config_path.clone(),
        config,
        log_group: m.log_group.as_ref().map(|g| crate::refs::attr(g, "name")),
        region: st.deployment.as_ref().and_then(|d| d.region.clone()),
    };
    let text = |t: &Option<String>| Tmpl::from_marked(t.as_deref().unwrap_or_default());
    let spec = Ec2InstanceSpec {
        instance_type: text(&m.instance_type),
        image_id: text(&m.image_id),
        key_name: m.key_name.as_deref().map(Tmpl::from_marked),
        subnet_id: m.subnet_id.as_deref().map(Tmpl::from_marked),
        security_group_ids: m
            .security_groups
            .iter()
            .map(|s| Tmpl::from_marked(s))
            .collect(),
        iam_instance_profile: m
            .profile
            .as_ref()
            .map(|p| Tmpl::reference(Ref::new(p, "arn"))),
        associate_public_ip_address: m.public_ip,
        root_volume: m.root_volume.clone(),
        metadata_options: m.metadata_options.clone(),
        master_image: Tmpl::from_marked(&files.image),
        master_port: port,
        // Rendered once every resource is named (see `Lookups::master_texts`).
        user_data: Tmpl::default(),
    };
    let d = &mut st.decls[m.decl];
    d.set_spec(spec);
    d.pending = false;
    Some(files)
}
