//! The master instance: its size (DS008), instance metadata (DS014, DS015) and the
//! master.yaml mount (DS019).

use super::{Master, finding};
use crate::diag::Diagnostic;
use crate::lint::instance_size;
use crate::plan::Plan;

/// A rule over the master: the message when the master breaks it, and where its finding
/// points (the line that set `field` of `master_instance`).
struct Rule {
    id: &'static str,
    field: &'static str,
    fix: &'static str,
    message: fn(&Master) -> Option<String>,
}

/// In report order.
const RULES: &[Rule] = &[
    Rule {
        id: "DS008",
        field: "instance_type",
        fix: "use m6i.xlarge (4 vCPUs, 16 GiB) or larger",
        message: too_small,
    },
    Rule {
        id: "DS014",
        field: "imdsv2",
        fix: "remove .imdsv2(false) (IMDSv2 is required by default)",
        message: imdsv1,
    },
    Rule {
        id: "DS015",
        field: "metadata_hop_limit",
        fix: "use .metadata_hop_limit(2)",
        message: hop_limit,
    },
    Rule {
        id: "DS019",
        field: "config_path",
        fix: "use an absolute path such as \"/usr/local/determined/etc/master.yaml\"",
        message: relative_config,
    },
];

/// DS008, DS014/DS015, DS019, in report order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let Some(m) = Master::of(plan) else {
        return Vec::new();
    };
    let report = |r: &Rule| {
        let message = (r.message)(&m)?;
        Some(finding(r.id, message, r.fix, &m.pos(r.field)))
    };
    RULES.iter().filter_map(report).collect()
}

/// DS008: fewer than 4 vCPUs or 8 GiB.
fn too_small(m: &Master) -> Option<String> {
    let t = m.spec.instance_type.as_text()?;
    let (cpu, mem) = instance_size(t)?;
    (cpu < 4 || mem < 8.0).then(|| {
        format!(
            "master instance type {t} has {cpu} vCPUs and {mem} GiB; the guide asks for at least 4 vCPUs and 8 GiB (its own t2.large example has 2 vCPUs)"
        )
    })
}

/// DS014: IMDSv1 allowed.
fn imdsv1(m: &Master) -> Option<String> {
    let name = &m.files.instance_name;
    (m.spec.metadata_options.http_tokens != "required").then(|| {
        format!(
            "master_instance '{name}' allows IMDSv1: any process that can make a GET request can read the instance role's credentials"
        )
    })
}

/// DS015 (when IMDSv2 is required, else DS014 says enough): a hop limit the master's
/// container cannot cross.
fn hop_limit(m: &Master) -> Option<String> {
    let name = &m.files.instance_name;
    let options = &m.spec.metadata_options;
    let hops = options.http_put_response_hop_limit;
    (options.http_tokens == "required" && hops < 2).then(|| {
        format!(
            "master_instance '{name}' has a metadata hop limit of {hops}: the master's container cannot reach instance metadata (region, local-ipv4) through Docker's extra hop"
        )
    })
}

/// DS019: a relative master.yaml path (Docker takes it for a named volume).
fn relative_config(m: &Master) -> Option<String> {
    let path = &m.files.config_path;
    (!path.starts_with('/')).then(|| {
        format!(
            "master.yaml path {path:?} is relative: Docker treats a relative -v source as a named volume, so the master would not see the file"
        )
    })
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
