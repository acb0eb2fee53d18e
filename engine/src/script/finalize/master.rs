//! The master instance: its spec properties, its files and its outputs.

use super::super::State;
use crate::config::MasterConfig;
use crate::diag::Diagnostic;
use crate::kinds::ec2_instance::Ec2InstanceSpec;
use crate::plan::MasterFiles;
use crate::value::Tmpl;

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
    if m.instance.instance_type.is_empty() {
        missing("instance_type", "\"m6i.xlarge\"");
    }
    if m.instance.image_id.is_empty() {
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
        public_ip: m.instance.associate_public_ip_address,
        elastic_ip: m.elastic_ip.clone(),
        config_path: m.config_path.clone(),
        config,
        log_group: m.log_group.as_ref().map(|g| crate::refs::attr(g, "name")),
        region: st.deployment.as_ref().and_then(|d| d.region.clone()),
    };
    let spec = Ec2InstanceSpec {
        master_image: Tmpl::from_marked(&files.image),
        master_port: port,
        // Rendered once every resource is named (see `Lookups::master_texts`).
        user_data: Tmpl::default(),
        ..m.instance.clone()
    };
    let d = &mut st.decls[m.decl];
    d.set_spec(spec);
    d.pending = false;
    Some(files)
}
