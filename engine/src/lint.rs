//! Findings: what will break a Determined cluster or fail a security review, found before
//! anything is created. Each rule has a stable id (`DS001`...), a severity (error: AWS or the
//! Determined master would reject it, or the cluster cannot work; warning: insecure or
//! fragile), and a one-line fix. A script silences a finding with
//! `allow("DS003", "why this is fine here")`; an `allow` that silences nothing is itself a
//! warning. Scripts add rules of their own with `policy("name", |plan| [...])`.

use serde::Serialize;

use crate::diag::Severity;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "DS001",
        severity: Severity::Error,
        title: "agents cannot reach the master's port",
    },
    Rule {
        id: "DS002",
        severity: Severity::Warning,
        title: "the master accepts more ports from agents than they need",
    },
    Rule {
        id: "DS003",
        severity: Severity::Warning,
        title: "SSH open to the whole internet",
    },
    Rule {
        id: "DS004",
        severity: Severity::Warning,
        title: "the master's web UI/API open to the whole internet without TLS",
    },
    Rule {
        id: "DS005",
        severity: Severity::Warning,
        title: "s3:* on every bucket",
    },
    Rule {
        id: "DS006",
        severity: Severity::Warning,
        title: "iam:PassRole not scoped to the agent role",
    },
    Rule {
        id: "DS007",
        severity: Severity::Warning,
        title: "an IAM statement allows every action",
    },
    Rule {
        id: "DS008",
        severity: Severity::Warning,
        title: "master instance smaller than the guide's 4 vCPUs and 8 GiB",
    },
    Rule {
        id: "DS009",
        severity: Severity::Warning,
        title: "database storage not encrypted",
    },
    Rule {
        id: "DS010",
        severity: Severity::Warning,
        title: "database publicly accessible",
    },
    Rule {
        id: "DS011",
        severity: Severity::Error,
        title: "PostgreSQL older than 13",
    },
    Rule {
        id: "DS012",
        severity: Severity::Error,
        title: "db.ssl_mode the database will refuse",
    },
    Rule {
        id: "DS013",
        severity: Severity::Error,
        title: "database password with characters Determined does not escape",
    },
    Rule {
        id: "DS014",
        severity: Severity::Warning,
        title: "IMDSv2 not required on the master",
    },
    Rule {
        id: "DS015",
        severity: Severity::Error,
        title: "instance metadata hop limit below 2 on the master",
    },
    Rule {
        id: "DS016",
        severity: Severity::Warning,
        title: "agent tag not unique to this deployment",
    },
    Rule {
        id: "DS017",
        severity: Severity::Error,
        title: "bucket name S3 will refuse",
    },
    Rule {
        id: "DS018",
        severity: Severity::Error,
        title: "agent instance type or AMI a pool cannot use",
    },
    Rule {
        id: "DS019",
        severity: Severity::Error,
        title: "master.yaml mounted from a relative path",
    },
    Rule {
        id: "DS020",
        severity: Severity::Warning,
        title: "allow(...) that silences nothing",
    },
    Rule {
        id: "DS031",
        severity: Severity::Error,
        title: "database in subnets of fewer than two availability zones",
    },
    Rule {
        id: "DS032",
        severity: Severity::Warning,
        title: "master or agents in a subnet with no route out to pull images",
    },
    Rule {
        id: "DS033",
        severity: Severity::Warning,
        title: "web UI open to a public CIDR but the master has no public address",
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// vCPUs and memory (GiB) of common EC2 instance types, for the master size check.
pub const INSTANCE_SIZES: &[(&str, u32, f32)] = &[
    ("t2.micro", 1, 1.0),
    ("t2.small", 1, 2.0),
    ("t2.medium", 2, 4.0),
    ("t2.large", 2, 8.0),
    ("t2.xlarge", 4, 16.0),
    ("t2.2xlarge", 8, 32.0),
    ("t3.micro", 2, 1.0),
    ("t3.small", 2, 2.0),
    ("t3.medium", 2, 4.0),
    ("t3.large", 2, 8.0),
    ("t3.xlarge", 4, 16.0),
    ("t3.2xlarge", 8, 32.0),
    ("t3a.medium", 2, 4.0),
    ("t3a.large", 2, 8.0),
    ("t3a.xlarge", 4, 16.0),
    ("t3a.2xlarge", 8, 32.0),
    ("m4.large", 2, 8.0),
    ("m4.xlarge", 4, 16.0),
    ("m4.2xlarge", 8, 32.0),
    ("m4.4xlarge", 16, 64.0),
    ("m5.large", 2, 8.0),
    ("m5.xlarge", 4, 16.0),
    ("m5.2xlarge", 8, 32.0),
    ("m5.4xlarge", 16, 64.0),
    ("m5.8xlarge", 32, 128.0),
    ("m6i.large", 2, 8.0),
    ("m6i.xlarge", 4, 16.0),
    ("m6i.2xlarge", 8, 32.0),
    ("m6i.4xlarge", 16, 64.0),
    ("m6i.8xlarge", 32, 128.0),
    ("m7i.large", 2, 8.0),
    ("m7i.xlarge", 4, 16.0),
    ("m7i.2xlarge", 8, 32.0),
    ("m7i.4xlarge", 16, 64.0),
    ("c5.large", 2, 4.0),
    ("c5.xlarge", 4, 8.0),
    ("c5.2xlarge", 8, 16.0),
    ("c5.4xlarge", 16, 32.0),
    ("c6i.large", 2, 4.0),
    ("c6i.xlarge", 4, 8.0),
    ("c6i.2xlarge", 8, 16.0),
    ("c6i.4xlarge", 16, 32.0),
    ("r5.large", 2, 16.0),
    ("r5.xlarge", 4, 32.0),
    ("r5.2xlarge", 8, 64.0),
    ("r6i.large", 2, 16.0),
    ("r6i.xlarge", 4, 32.0),
    ("r6i.2xlarge", 8, 64.0),
];

/// (vCPUs, GiB) of an instance type in the table.
pub fn instance_size(instance_type: &str) -> Option<(u32, f32)> {
    INSTANCE_SIZES
        .iter()
        .find(|(t, _, _)| *t == instance_type)
        .map(|(_, c, m)| (*c, *m))
}
