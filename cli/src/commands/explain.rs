//! `detscript explain DS003`, `detscript completions SHELL` and `detscript man`.

use clap::CommandFactory as _;
use detscript_engine::Severity;
use detscript_engine::lint::RULES;

use crate::cli::{Cli, CompletionsArgs, ExplainArgs};
use crate::exit::{self, Exit};
use crate::input::{quote, usage_error};
use crate::output::print_out;

/// Why each rule exists and what to do about it, one paragraph per rule id.
pub const WHY: &[(&str, &str)] = &[
    (
        "DS001",
        "Agents register with the master on its port (8080, or 8443 with TLS). If no ingress rule of the master's \
security group admits the agents' security group (or a CIDR covering them) on that port, agents boot and never \
join: experiments stay queued. Fix: master_sg.ingress(tcp(8080), agent_sg).",
    ),
    (
        "DS002",
        "The guide's \"all ports from agents\" bullet opens every port of the master to every agent. Agents need only \
the master's port; other ports (SSH, the database proxy) widen what a compromised agent can reach. Fix: \
master_sg.ingress(tcp(8080), agent_sg) instead of all_tcp().",
    ),
    (
        "DS003",
        "SSH (22) open to 0.0.0.0/0 or ::/0 invites brute-force attempts on the master and agents. Fix: a parameter \
of kind \"cidr\" naming your network (\"203.0.113.0/24\"), or a bastion's security group as the peer. If SSH from \
anywhere is intended, say so: allow(\"DS003\", \"why\").",
    ),
    (
        "DS004",
        "The master's web UI and API on plain HTTP, open to the internet, send passwords and tokens in clear text. \
Fix: limit the rule to your network, or enable TLS (master_config().set(\"security\", #{ tls: ... })), which \
serves 8443.",
    ),
    (
        "DS005",
        "s3:* on * lets the agents (or the master) read and delete every bucket of the account. Fix: scope the \
statement to the checkpoint bucket ([bucket.arn, bucket.arn + \"/*\"]) and list the actions Determined needs.",
    ),
    (
        "DS006",
        "iam:PassRole on * lets the master hand any role, including administrator roles, to instances it launches. \
Fix: .allow(\"pass-role\", [\"iam:PassRole\"], agent_role.arn).",
    ),
    (
        "DS007",
        "An IAM statement with the action \"*\" grants every permission on its resources. Fix: list the actions \
needed.",
    ),
    (
        "DS008",
        "The guide asks for a master with at least 4 vCPUs and 8 GiB of memory; smaller masters stall under \
several experiments (its own t2.large example has 2 vCPUs). Fix: .instance_type(\"m6i.xlarge\") or larger.",
    ),
    (
        "DS009",
        "An unencrypted database stores experiment metadata and credentials in clear on disk and in snapshots. \
Fix: database(..).encrypted(true).",
    ),
    (
        "DS010",
        "A publicly accessible database gets a public address; only its security group stands between it and the \
internet. Fix: .publicly_accessible(false) (the master reaches it inside the VPC).",
    ),
    (
        "DS011",
        "Determined needs PostgreSQL 13 or newer; an older engine version makes the master fail its migrations. \
Fix: .engine(\"postgres\", \"16\") or Aurora PostgreSQL 13+.",
    ),
    (
        "DS012",
        "The master's db.ssl_mode must be one the database accepts: RDS PostgreSQL 15+ forces SSL, so \
\"disable\" fails to connect. Fix: .ssl_mode(\"require\") or \"verify-full\" with .ssl_root_cert(...).",
    ),
    (
        "DS013",
        "Determined builds its database URL from the password without escaping it: @ : / ? # % break the URL and \
the master cannot connect. Fix: a password without those characters.",
    ),
    (
        "DS014",
        "Without IMDSv2 required, a server-side request forgery in anything on the master can read the instance \
role's credentials from the metadata service. Fix: .imdsv2(true).",
    ),
    (
        "DS015",
        "The master runs in a Docker container, one network hop away from the instance: with a metadata hop limit \
below 2 it cannot reach the instance role's credentials and cannot launch agents. Fix: .metadata_hop_limit(2).",
    ),
    (
        "DS016",
        "The master manages (and may terminate) every instance carrying its pool's tag pair. Determined's default \
tag, or one shared with other deployments, lets one cluster terminate another's agents. Fix: \
.tag(\"determined-\" + cluster_id, \"agent\").",
    ),
    (
        "DS017",
        "S3 refuses bucket names that are not 3-63 characters of lowercase letters, digits, dots and hyphens, or \
that look like an IP address. Fix: .bucket_name(...) with such a name.",
    ),
    (
        "DS018",
        "A pool's instance type must be one Determined knows the slots of (or set instance_slots), and its AMI a \
valid image id; otherwise the master cannot launch agents. Fix: a type from Determined's list, or \
.instance_slots(N).",
    ),
    (
        "DS019",
        "The master's container mounts master.yaml from the host; a relative path is resolved against Docker's \
working directory and the master starts without its configuration. Fix: an absolute .config_path(...).",
    ),
    (
        "DS020",
        "An allow(\"DSxxx\", \"why\") that silences no finding is stale: the problem it excused is gone, or the id \
is mistyped. Fix: remove it or correct the id.",
    ),
    (
        "DS021",
        "Determined creates the users admin and determined with empty passwords unless master.yaml sets \
security.initial_user_password. With the master's port open to 0.0.0.0/0 or ::/0, anyone can log in as admin. \
Fix: master_config().set(\"security\", #{ initial_user_password: secret(\"admin-password\") }).",
    ),
    (
        "DS022",
        "The same gap as DS021 (no initial user password from a secret) on a master that is not open to the whole \
internet: anyone who reaches the port can log in as admin. Fix: set security.initial_user_password from a \
secret(...).",
    ),
    (
        "DS023",
        "With TLS on, agents dial the master's private IP and verify the certificate against it; a certificate \
issued to a name fails that check and agents never join. Fix: .master_cert_name(\"the certificate's name\") on \
each pool.",
    ),
    (
        "DS031",
        "RDS refuses a DB subnet group whose subnets cover fewer than two availability zones. Fix: give \
.subnets([...]) subnets in two zones (.zone(0), .zone(1)).",
    ),
    (
        "DS032",
        "The master and the agents pull Docker images at boot. In a subnet whose route table has no route to a NAT \
gateway (or to an internet gateway with a public address), the pulls hang and nothing starts. Fix: \
route_table(...).route(\"0.0.0.0/0\", nat_gateway(...)) for private subnets.",
    ),
    (
        "DS033",
        "The web UI is opened to a public CIDR, but the master has neither a public IP nor an Elastic IP, so no one \
there can reach it. Fix: .elastic_ip(true) or a public subnet with .public_ip(true), or a private CIDR.",
    ),
];

/// `detscript explain [ID]`.
pub fn run(args: ExplainArgs) -> Result<(), Exit> {
    let Some(id) = args.id else {
        let mut out = String::new();
        for r in RULES {
            out.push_str(&format!(
                "{}  {:<7}  {}\n",
                r.id,
                level(r.severity),
                r.title
            ));
        }
        out.push_str("\n`detscript explain ID` says why a rule exists and how to fix a finding.\n");
        return print_out(&out);
    };
    let want = id.trim().to_ascii_uppercase();
    let Some(rule) = RULES.iter().find(|r| r.id == want) else {
        return Err(usage_error(format!(
            "no lint rule {}: the rules are DS001 to {} (`detscript explain` lists them)",
            quote(&id),
            RULES.last().map_or("", |r| r.id)
        )));
    };
    let why = WHY
        .iter()
        .find(|(i, _)| *i == rule.id)
        .map_or("", |(_, w)| *w);
    print_out(&format!(
        "{}: {} ({})\n\n{why}\n\nSilence it in a script with allow(\"{}\", \"why it is fine here\").\n",
        rule.id,
        rule.title,
        level(rule.severity),
        rule.id
    ))
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `detscript completions SHELL`.
pub fn completions(args: CompletionsArgs) -> Result<(), Exit> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "detscript", &mut buf);
    print_out(&String::from_utf8_lossy(&buf))
}

/// `detscript man`: the manual page in roff, subcommands included.
pub fn man() -> Result<(), Exit> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    // The page of detscript, then each command's synopsis, description, options and exit
    // codes under its own heading.
    let rendered = man.render(&mut buf).and_then(|_| {
        for sub in cmd.get_subcommands() {
            let name = format!("detscript {}", sub.get_name());
            buf.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
            let page = clap_mangen::Man::new(sub.clone().bin_name(name));
            page.render_synopsis_section(&mut buf)?;
            page.render_description_section(&mut buf)?;
            page.render_options_section(&mut buf)?;
            page.render_extra_section(&mut buf)?;
        }
        Ok(())
    });
    if let Err(e) = rendered {
        eprintln!("error: cannot render the manual page: {e}");
        return Err(Exit(exit::USAGE));
    }
    print_out(&String::from_utf8_lossy(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_explained_once() {
        for r in RULES {
            assert_eq!(
                WHY.iter().filter(|(i, _)| *i == r.id).count(),
                1,
                "{} needs one explanation in WHY",
                r.id
            );
        }
        assert_eq!(
            WHY.len(),
            RULES.len(),
            "WHY explains a rule that does not exist"
        );
    }
}
