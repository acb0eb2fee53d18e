//! The master instance: its size (DS008), instance metadata (DS014, DS015) and the
//! master.yaml mount (DS019).

use super::{Master, each, finding};
use crate::diag::Diagnostic;
use crate::lint::instance_size;
use crate::plan::Plan;

/// DS008, DS014/DS015, DS019, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let rules: [fn(&Master) -> Option<Diagnostic>; 3] = [too_small, metadata, relative_config];
    let master: Vec<Master> = Master::of(plan).into_iter().collect();
    each(&master, &rules)
}

/// DS008: fewer than 4 vCPUs or 8 GiB.
fn too_small(m: &Master) -> Option<Diagnostic> {
    let t = m.spec.instance_type.as_text()?;
    let (cpu, mem) = instance_size(t)?;
    if cpu >= 4 && mem >= 8.0 {
        return None;
    }
    Some(finding(
        "DS008",
        format!(
            "master instance type {t} has {cpu} vCPUs and {mem} GiB; the guide asks for at least 4 vCPUs and 8 GiB (its own t2.large example has 2 vCPUs)"
        ),
        "use m6i.xlarge (4 vCPUs, 16 GiB) or larger",
        &m.pos("instance_type"),
    ))
}

/// DS014: IMDSv1 allowed; else DS015: a hop limit the master's container cannot cross.
fn metadata(m: &Master) -> Option<Diagnostic> {
    let name = &m.files.instance_name;
    let options = &m.spec.metadata_options;
    if options.http_tokens != "required" {
        return Some(finding(
            "DS014",
            format!(
                "master_instance '{name}' allows IMDSv1: any process that can make a GET request can read the instance role's credentials"
            ),
            "remove .imdsv2(false) (IMDSv2 is required by default)",
            &m.pos("imdsv2"),
        ));
    }
    let hops = options.http_put_response_hop_limit;
    if hops >= 2 {
        return None;
    }
    Some(finding(
        "DS015",
        format!(
            "master_instance '{name}' has a metadata hop limit of {hops}: the master's container cannot reach instance metadata (region, local-ipv4) through Docker's extra hop"
        ),
        "use .metadata_hop_limit(2)",
        &m.pos("metadata_hop_limit"),
    ))
}

/// DS019: a relative master.yaml path (Docker takes it for a named volume).
fn relative_config(m: &Master) -> Option<Diagnostic> {
    let path = &m.files.config_path;
    if path.starts_with('/') {
        return None;
    }
    Some(finding(
        "DS019",
        format!(
            "master.yaml path {path:?} is relative: Docker treats a relative -v source as a named volume, so the master would not see the file"
        ),
        "use an absolute path such as \"/usr/local/determined/etc/master.yaml\"",
        &m.pos("config_path"),
    ))
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            "master_instance(\"master\").instance_type(\"m6i.xlarge\")",
            "master_instance(\"master\").instance_type(\"t2.large\")",
            "DS008",
            16,
        ),
        trigger(".config(c);", ".config(c).imdsv2(false);", "DS014", 17),
        trigger(
            ".config(c);",
            ".config(c).metadata_hop_limit(1);",
            "DS015",
            17,
        ),
        trigger(
            ".config(c);",
            ".config(c).config_path(\"etc/master.yaml\");",
            "DS019",
            17,
        ),
    ]
};
