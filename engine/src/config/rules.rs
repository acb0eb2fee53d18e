//! The rules Determined's master applies when it loads master.yaml.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::refs;

/// One broken rule: which field (for the error position) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index into `resource_pools` when the field belongs to a pool.
    pub pool: Option<usize>,
    /// The field as written in master.yaml, e.g. `max_idle_agent_period` or `db.host`.
    pub field: String,
    pub message: String,
}

fn known(s: &str) -> bool {
    !refs::has_refs(s)
}

/// A Go `time.ParseDuration` string that Determined accepts for agent periods: one or more
/// `<number><unit>` with units ns, us, µs, ms, s, m, h; no bare numbers, no days.
pub fn check_duration(s: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "expected a duration such as \"10m\", \"90s\" or \"1h30m\" (units ns, us, ms, s, m, h), got {s:?}"
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total_nonzero = false;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let num = &rest[..num_len];
        if num.matches('.').count() > 1 || num == "." {
            return Err(bad());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if !["ns", "us", "µs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(if unit.is_empty() {
                format!("{} (a bare number has no unit)", bad())
            } else if unit == "d" {
                format!(
                    "{} (Go durations have no \"d\"; use hours, e.g. \"24h\")",
                    bad()
                )
            } else {
                bad()
            });
        }
        if num.chars().any(|c| c.is_ascii_digit() && c != '0') {
            total_nonzero = true;
        }
        rest = &rest[unit_len..];
    }
    if !total_nonzero {
        return Err(format!("the duration must be greater than zero, got {s:?}"));
    }
    Ok(())
}

/// `scheme://host:port` with scheme http or https and no path, as the agent dials it.
pub fn check_master_url(s: &str) -> Result<(), String> {
    let expected = "expected \"http://HOST:PORT\" or \"https://HOST:PORT\" with no path (HOST may be local-ipv4, public-ipv4, local-hostname or public-hostname)";
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!("{expected}, got {s:?}"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{expected}; the scheme {scheme:?} is not http or https"
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(format!("{expected}; got a path in {s:?}"));
    }
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(format!("{expected}; the port is missing in {s:?}"));
    };
    if host.is_empty() || !known(port) {
        return if host.is_empty() {
            Err(format!("{expected}, got {s:?}"))
        } else {
            Ok(())
        };
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        _ => Err(format!("{expected}; {port:?} is not a port")),
    }
}

/// Digits with at most one decimal point (Determined's `validateMaxSpotPrice`).
pub fn check_spot_price(s: &str) -> Result<(), String> {
    let dots = s.matches('.').count();
    if s.is_empty() || dots > 1 || !s.chars().all(|c| c.is_ascii_digit() || c == '.') || s == "." {
        return Err(format!(
            "expected a price in dollars made of digits and at most one decimal point, such as \"0.90\", got {s:?}"
        ));
    }
    Ok(())
}

impl MasterConfig {
    /// The port the master listens on: `port`, else 8443 with TLS, else 8080.
    pub fn effective_port(&self) -> i64 {
        self.port.unwrap_or_else(|| {
            if self
                .security
                .as_ref()
                .and_then(|s| s.tls.as_ref())
                .is_some()
            {
                8443
            } else {
                8080
            }
        })
    }

    /// Applies Determined's rules; an empty result means the master would accept the file.
    pub fn validate(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut top = |field: &str, message: String| {
            out.push(Violation {
                pool: None,
                field: field.to_string(),
                message,
            })
        };
        if let Some(port) = self.port {
            if !(1..=65535).contains(&port) {
                top(
                    "port",
                    format!("port must be between 1 and 65535, got {port}"),
                );
            }
        }
        for key in self.other.keys() {
            if !PASS_THROUGH_KEYS.contains(&key.as_str()) {
                let all: Vec<&str> = TYPED_KEYS
                    .iter()
                    .chain(PASS_THROUGH_KEYS)
                    .copied()
                    .collect();
                top(key, unknown_key_message("master.yaml", key, &all));
            }
        }
        if let Some(sec) = &self.security {
            if let Some(tls) = &sec.tls {
                if tls.cert.is_some() != tls.key.is_some() {
                    top(
                        "security.tls",
                        "security.tls needs both cert and key, or neither".into(),
                    );
                }
            }
        }
        if let Some(db) = &self.db {
            for (field, value) in [
                ("user", &db.user),
                ("password", &db.password),
                ("host", &db.host),
                ("name", &db.name),
            ] {
                if value.as_deref().is_none_or(str::is_empty) {
                    top(&format!("db.{field}"), format!("db.{field} is required"));
                }
            }
            match db.port {
                None => top(
                    "db.port",
                    "db.port is required (5432 for PostgreSQL)".into(),
                ),
                Some(p) if !(1..=65535).contains(&p) => top(
                    "db.port",
                    format!("db.port must be between 1 and 65535, got {p}"),
                ),
                _ => {}
            }
            if let Some(mode) = &db.ssl_mode {
                if known(mode) && !SSL_MODES.contains(&mode.as_str()) {
                    top(
                        "db.ssl_mode",
                        format!(
                            "db.ssl_mode must be one of {}, got {mode:?}",
                            SSL_MODES.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(CheckpointStorage::S3(s3)) = &self.checkpoint_storage {
            if s3.bucket.as_deref().is_none_or(str::is_empty) {
                top(
                    "checkpoint_storage.bucket",
                    "checkpoint_storage.bucket is required for type s3".into(),
                );
            }
            if let Some(prefix) = &s3.prefix {
                if prefix.split('/').any(|seg| seg == "..") {
                    top(
                        "checkpoint_storage.prefix",
                        format!(
                            "checkpoint_storage.prefix must not contain \"..\" segments, got {prefix:?}"
                        ),
                    );
                }
            }
            for (field, v) in [
                ("save_experiment_best", s3.save_experiment_best),
                ("save_trial_best", s3.save_trial_best),
                ("save_trial_latest", s3.save_trial_latest),
            ] {
                if let Some(n) = v {
                    if n < 0 {
                        top(
                            &format!("checkpoint_storage.{field}"),
                            format!("checkpoint_storage.{field} must be >= 0, got {n}"),
                        );
                    }
                }
            }
        }
        if let Some(Value::Object(sched)) = self.other.get("scheduler") {
            if sched.get("type").and_then(Value::as_str) == Some("round_robin") {
                top(
                    "scheduler",
                    "scheduler type round_robin makes the master exit; use priority".into(),
                );
            }
        }
        let mut names = BTreeSet::new();
        for (i, pool) in self.resource_pools.iter().enumerate() {
            let mut v = |field: &str, message: String| {
                out.push(Violation {
                    pool: Some(i),
                    field: field.to_string(),
                    message,
                })
            };
            if pool.pool_name.is_empty() {
                v("pool_name", "pool_name must not be empty".into());
            } else if !names.insert(pool.pool_name.as_str()) {
                v(
                    "pool_name",
                    format!(
                        "resource pool {:?} is declared twice; pool names must be unique",
                        pool.pool_name
                    ),
                );
            }
            if let Some(Value::Object(sched)) = &pool.scheduler {
                if sched.get("type").and_then(Value::as_str) == Some("round_robin") {
                    v(
                        "scheduler",
                        "scheduler type round_robin makes the master exit; use priority".into(),
                    );
                }
            }
            if let Some(p) = &pool.provider {
                validate_provider(p, &mut v);
            }
        }
        if !self.resource_pools.is_empty() {
            let rm = self.other.get("resource_manager");
            for key in ["default_compute_resource_pool", "default_aux_resource_pool"] {
                let wanted = rm
                    .and_then(|m| m.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if !names.contains(wanted) {
                    out.push(Violation {
                        pool: None,
                        field: "resource_pools".into(),
                        message: format!(
                            "resource_manager.{key} is {wanted:?} but no resource pool has that name (pools: {})",
                            names.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
        }
        out
    }
}

fn validate_provider(p: &AwsProvider, v: &mut dyn FnMut(&str, String)) {
    if p.kind != "aws" {
        v(
            "type",
            format!(
                "provider type must be \"aws\" (detscript deploys on AWS), got {:?}",
                p.kind
            ),
        );
    }
    for (field, value) in [
        ("max_idle_agent_period", &p.max_idle_agent_period),
        ("max_agent_starting_period", &p.max_agent_starting_period),
    ] {
        if let Some(s) = value {
            if known(s) {
                if let Err(e) = check_duration(s) {
                    v(field, format!("{field}: {e}"));
                }
            }
        }
    }
    if let Some(s) = &p.launch_error_timeout {
        if known(s) && s != "0s" && s != "0" {
            if let Err(e) = check_duration(s) {
                v("launch_error_timeout", format!("launch_error_timeout: {e}"));
            }
        }
    }
    let min = p.min_instances.unwrap_or(0);
    let max = p.max_instances.unwrap_or(5);
    if min < 0 {
        v(
            "min_instances",
            format!("min_instances must be >= 0, got {min}"),
        );
    }
    if max <= 0 {
        v(
            "max_instances",
            format!("max_instances must be > 0, got {max}"),
        );
    } else if max < min {
        v(
            "max_instances",
            format!("max_instances ({max}) must be >= min_instances ({min})"),
        );
    }
    if let Some(size) = p.root_volume_size {
        if size < 100 {
            v(
                "root_volume_size",
                format!("root_volume_size must be >= 100 (GB), got {size}"),
            );
        }
    }
    if let Some(price) = &p.spot_max_price {
        if known(price) {
            if let Err(e) = check_spot_price(price) {
                v("spot_max_price", format!("spot_max_price: {e}"));
            }
        }
    }
    if let Some(slots) = p.instance_slots {
        if slots < 0 {
            v(
                "instance_slots",
                format!("instance_slots must be >= 0, got {slots}"),
            );
        }
    }
    let itype = p.instance_type.as_deref().unwrap_or("g4dn.metal");
    if known(itype) && instance_slots(itype).is_none() && p.instance_slots.is_none() {
        v(
            "instance_type",
            format!(
                "instance type {itype:?} is not in Determined's slot map; set instance_slots(n) to its number of GPUs"
            ),
        );
    }
    if let Some(url) = &p.master_url {
        if known(url) {
            if let Err(e) = check_master_url(url) {
                v("master_url", format!("master_url: {e}"));
            }
        }
    }
    match &p.ssh_key_name {
        None => v(
            "ssh_key_name",
            "ssh_key_name is required: the EC2 key pair for the agents".into(),
        ),
        Some(s) if s.is_empty() => v("ssh_key_name", "ssh_key_name must not be empty".into()),
        _ => {}
    }
    if let Some(img) = &p.agent_docker_image {
        if img.is_empty() {
            v(
                "agent_docker_image",
                "agent_docker_image must not be empty".into(),
            );
        }
    }
    if let Some(agent) = &p.agent_config_file_contents {
        validate_agent_config(agent, v);
    }
    if let Some(arn) = &p.iam_instance_profile_arn {
        match refs::whole_ref(arn) {
            Some(path) if path.starts_with("iam_role.") => v(
                "iam_instance_profile_arn",
                "iam_instance_profile_arn needs an instance profile ARN, not a role ARN; pass instance_profile(role)".into(),
            ),
            Some(_) => {}
            None if known(arn) && !arn.contains(":instance-profile/") => v(
                "iam_instance_profile_arn",
                format!("iam_instance_profile_arn must be an instance profile ARN (arn:aws:iam::ACCOUNT:instance-profile/NAME), got {arn:?}"),
            ),
            None => {}
        }
    }
}

/// The agent refuses unknown keys in its config file, and runs `on_connection_lost` as a
/// command: a program name and its arguments.
fn validate_agent_config(agent: &AgentConfig, v: &mut dyn FnMut(&str, String)) {
    const FIELD: &str = "agent_config_file_contents";
    for key in agent.other.keys() {
        if !AGENT_CONFIG_KEYS.contains(&key.as_str()) {
            v(
                FIELD,
                format!(
                    "{FIELD}: {}",
                    unknown_key_message("the agent config", key, AGENT_CONFIG_KEYS)
                ),
            );
        }
    }
    let hook = agent
        .hooks
        .as_ref()
        .and_then(|h| h.on_connection_lost.as_ref());
    if let Some(cmd) = hook {
        if cmd.first().is_none_or(|program| program.trim().is_empty()) {
            v(
                FIELD,
                format!(
                    "{FIELD}: hooks.on_connection_lost must be a command such as [\"shutdown\", \"now\"] (a program and its arguments), got {cmd:?}"
                ),
            );
        }
    }
}

/// "unknown key `hots` in db (did you mean `host`?)".
pub fn unknown_key_message(within: &str, key: &str, allowed: &[&str]) -> String {
    match suggest(key, allowed.iter().copied()) {
        Some(s) => format!("unknown key {key:?} in {within} (did you mean {s:?}?)"),
        None => format!(
            "unknown key {key:?} in {within}; expected one of: {}",
            allowed.join(", ")
        ),
    }
}

/// The closest candidate to a misspelled name, if any is close enough.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
