//! Determined's AWS resource pools: the tag that marks a pool's agents (DS016) and the agent
//! AMI (DS018; the instance type is checked with master.yaml, where the pool is built); the
//! built-in users' initial password (DS021 / DS022).

use super::{Master, config_text, each, finding};
use crate::config::AwsProvider;
use crate::diag::{Diagnostic, SourcePos};
use crate::plan::Plan;

/// An AWS pool of the master's config.
struct Pool<'a> {
    name: &'a str,
    provider: &'a AwsProvider,
    deployment: &'a str,
    master: &'a Master<'a>,
}

impl Pool<'_> {
    fn pos(&self, field: &str) -> SourcePos {
        self.master.pool_pos(self.name, field)
    }
}

/// DS021 or DS022, then DS016, DS018 for each pool, in the config's order.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    let rules: [fn(&Pool) -> Option<Diagnostic>; 3] = [agent_tag, agent_ami, cert_name];
    let Some(master) = Master::of(plan) else {
        return Vec::new();
    };
    let mut out: Vec<Diagnostic> = initial_password(plan, &master).into_iter().collect();
    let pools: Vec<Pool> = master
        .files
        .config
        .resource_pools
        .iter()
        .filter_map(|pool| {
            Some(Pool {
                name: &pool.pool_name,
                provider: pool.provider.as_ref()?,
                deployment: &plan.deployment.name,
                master: &master,
            })
        })
        .collect();
    out.extend(each(&pools, &rules));
    out
}

/// DS021 / DS022: Determined's built-in `admin` and `determined` users get
/// `security.initial_user_password` on the first boot; without one they have empty passwords.
/// It must come from a secret (`secret(...)`), which the master reads at boot: written in the
/// script it would sit in the user-data. An error when the master's port is open to the whole
/// internet, a warning otherwise.
fn initial_password(plan: &Plan, master: &Master) -> Option<Diagnostic> {
    let pw = master
        .files
        .config
        .security
        .as_ref()
        .and_then(|s| s.initial_user_password.as_deref());
    let what = match pw {
        Some(v) if crate::kinds::secret::value_of(&config_text(v)).is_some() => return None,
        Some(_) => {
            "sets security.initial_user_password to a value that is not a secret (it would sit in the user-data)"
        }
        None => {
            "sets no security.initial_user_password: Determined's built-in admin and determined users have empty passwords"
        }
    };
    let open = super::network::master_port_open_to(plan);
    let (id, exposure) = match &open {
        Some(cidr) => (
            "DS021",
            format!(", and its port {} is open to {cidr}", master.files.port),
        ),
        None => ("DS022", String::new()),
    };
    Some(finding(
        id,
        format!("{}'s master.yaml {what}{exposure}", master.res.id),
        ".set(\"security\", #{ initial_user_password: secret(\"admin-password\") }): AWS generates it and the master reads it at boot",
        &master.pos("config"),
    ))
}

/// DS016: no tag, Determined's default tag, or a tag that does not name this deployment.
fn agent_tag(p: &Pool) -> Option<Diagnostic> {
    let (name, deployment) = (p.name, p.deployment);
    let suggested = format!(".tag(\"determined-{deployment}\", \"determined-{deployment}-agent\")");
    let (message, fix) = match (&p.provider.tag_key, &p.provider.tag_value) {
        (None, _) | (_, None) => (
            format!(
                "pool '{name}' has no tag(...): Determined then manages every instance tagged managed_by=<master instance id>, and a replaced master orphans its agents"
            ),
            suggested,
        ),
        (Some(k), Some(_)) if k == "managed_by" || k == "managed-by" => (
            format!(
                "pool '{name}' uses Determined's default tag key {k:?}, shared by every Determined installation in the account"
            ),
            suggested,
        ),
        (Some(k), Some(v))
            if config_text(k).is_known()
                && config_text(v).is_known()
                && !k.contains(deployment)
                && !v.contains(deployment) =>
        {
            (
                format!(
                    "pool '{name}' tags its agents {k}={v}, which does not name this deployment: another cluster with the same tag would manage (and terminate) these instances"
                ),
                format!("include the deployment name, e.g. {suggested}"),
            )
        }
        _ => return None,
    };
    Some(finding("DS016", message, fix, &p.pos("tag_key")))
}

/// DS023: with TLS, agents dial the master by its private IP (`master_url`'s default and the
/// `local-ipv4` alias), which no certificate names: they verify `master_cert_name` instead.
fn cert_name(p: &Pool) -> Option<Diagnostic> {
    if !p.master.files.tls || p.provider.master_cert_name.is_some() {
        return None;
    }
    Some(finding(
        "DS023",
        format!(
            "pool '{}': the master serves TLS, but its agents get no master_cert_name: they dial the master's IP address, which the certificate does not name, and refuse to connect",
            p.name
        ),
        ".master_cert_name(\"<the name the certificate is issued to>\")",
        &p.pos("master_cert_name"),
    ))
}

/// DS018: an image id that is not an AMI id.
fn agent_ami(p: &Pool) -> Option<Diagnostic> {
    let ami = p.provider.image_id.as_deref()?;
    let looks_right = ami
        .strip_prefix("ami-")
        .is_some_and(|h| (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()));
    if looks_right || !config_text(ami).is_known() {
        return None;
    }
    Some(finding(
        "DS018",
        format!("pool '{}': image_id {ami:?} is not an AMI id", p.name),
        "use the Determined agent AMI id of your region (ami-...)",
        &p.pos("image_id"),
    ))
}

#[cfg(test)]
pub(crate) const TRIGGERS: &[super::testing::Trigger] = {
    use super::testing::trigger;
    &[
        trigger(
            ".set(\"security\", #{ initial_user_password: secret(\"admin\") })",
            "",
            "DS022",
            17,
        ),
        trigger(
            ".set(\"security\", #{ initial_user_password: secret(\"admin\") });",
            "; m.ingress(tcp(8080), \"::/0\");",
            "DS021",
            17,
        ),
        trigger(
            "#{ initial_user_password: secret(\"admin\") }",
            "#{ initial_user_password: secret(\"admin\"), tls: #{ cert: secret(\"c\", p.pw), key: secret(\"k\", p.pw) } }).port(8080",
            "DS023",
            13,
        ),
        trigger(
            ".tag(\"det-lint\", \"det-lint-agent\")",
            ".tag(\"managed_by\", \"x\")",
            "DS016",
            14,
        ),
        trigger(
            ".tag(\"det-lint\", \"det-lint-agent\")",
            ".tag(\"team\", \"gpu\")",
            "DS016",
            14,
        ),
        trigger(
            "image_id(\"ami-0123456789abcdef0\").ssh_key_name",
            "image_id(\"ubuntu-22\").ssh_key_name",
            "DS018",
            13,
        ),
    ]
};
