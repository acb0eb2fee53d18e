//! Checks `run` makes before it creates anything, as `det deploy aws` does: the region is
//! the one the plan's AMIs belong to (and has Determined AMIs at all), before discovery; and,
//! when the run will launch an instance (the master, which launches the agents), every EC2
//! key pair the master and the pools name exists, and the vCPUs the pools may launch (max instances ×
//! vCPUs of the type, from DescribeInstanceTypes) are compared per EC2 quota family with the
//! account's quota from Service Quotas (GetServiceQuota, else the AWS default). A missing
//! region or key pair stops the run; a vCPU need above the quota is a warning with the
//! numbers, since Determined only launches agents on demand; a quota that cannot be read
//! (denied, unreachable, unknown) is a warning too and never stops the run.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::InstanceType;
use detscript_engine::Plan;
use detscript_engine::amis;
use detscript_engine::kinds::Spec;

use super::ui::Ui;
use super::{Clients, aws_err, code_of};
use crate::Exit;

/// EC2's vCPU quotas: (instance families, name, on-demand code, spot code). Types of other
/// families (high memory, HPC, Mac, ...) are reported without a code.
const QUOTAS: &[(&[&str], &str, &str, &str)] = &[
    (
        &["a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"],
        "Standard (A, C, D, H, I, M, R, T, Z)",
        "L-1216C47A",
        "L-34B43A08",
    ),
    (&["g", "vt"], "G and VT", "L-DB2E81BA", "L-3819A6DF"),
    (&["p"], "P", "L-417A185B", "L-7212CCBC"),
    (&["f"], "F", "L-74FC7D96", "L-88CF9481"),
    (&["inf"], "Inf", "L-1945791B", "L-B5D1601B"),
    (&["x"], "X", "L-7295265B", "L-E3A00192"),
    (&["dl"], "DL", "L-6E869C2A", "L-85EED4F7"),
];

/// The EC2 vCPU quota a family of instance types counts against: (name, on-demand code,
/// spot code).
fn quota_family(instance_type: &str) -> Option<(&'static str, &'static str, &'static str)> {
    let family: String = instance_type
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    QUOTAS
        .iter()
        .find(|(families, ..)| families.contains(&family.as_str()))
        .map(|(_, name, on_demand, spot)| (*name, *on_demand, *spot))
}

/// What the plan asks of the account: key pairs, AMIs and, per pool, the most instances of
/// a type (and whether they are spot).
#[derive(Debug, Default, PartialEq)]
pub struct Needs {
    pub key_pairs: Vec<String>,
    pub amis: Vec<String>,
    /// (pool, instance type, max instances, spot).
    pub pools: Vec<(String, String, i64, bool)>,
}

/// The needs of `plan`, from its master instance and master.yaml.
pub fn needs(plan: &Plan) -> Needs {
    let mut n = Needs::default();
    let add = |list: &mut Vec<String>, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            if !list.iter().any(|x| x == v) {
                list.push(v.to_string());
            }
        }
    };
    for r in &plan.resources {
        if let Spec::Ec2Instance(i) = &r.spec {
            add(
                &mut n.key_pairs,
                i.key_name.as_ref().and_then(|k| k.as_text()),
            );
            add(&mut n.amis, i.image_id.as_text());
        }
    }
    if let Some(m) = plan.master() {
        for pool in &m.config.resource_pools {
            let Some(p) = &pool.provider else { continue };
            add(&mut n.key_pairs, p.ssh_key_name.as_deref());
            add(&mut n.amis, p.image_id.as_deref());
            n.pools.push((
                pool.pool_name.clone(),
                p.instance_type
                    .clone()
                    .unwrap_or_else(|| "g4dn.metal".into()),
                p.max_instances.unwrap_or(5),
                p.spot == Some(true),
            ));
        }
    }
    n
}

/// Region problems: the plan was made for another region, or uses Determined AMIs of
/// another region, or Determined has no AMIs where the run goes.
pub fn region_problems(plan: &Plan, needs: &Needs, region: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = plan.deployment.region.as_deref().filter(|r| *r != region) {
        out.push(format!(
            "the script deploys to {r} (deployment(..).region(..)), but this run is in {region}: drop --region or change the script's region"
        ));
    }
    let mut uses_determined_amis = false;
    for ami in &needs.amis {
        if let Some(home) = amis::region_of(ami) {
            uses_determined_amis = true;
            if home != region {
                out.push(format!(
                    "{ami} is Determined's AMI for {home}; AMIs are regional, so it cannot launch in {region}"
                ));
            }
        }
    }
    if uses_determined_amis && !amis::supported(region) {
        out.push(amis::unsupported(region));
    }
    out
}

/// vCPUs the pools may use at most, by quota (name, code), from vCPUs per instance type.
pub fn vcpu_needs(
    needs: &Needs,
    vcpus: &BTreeMap<String, i64>,
) -> BTreeMap<(String, String), (i64, Vec<String>)> {
    let mut out: BTreeMap<(String, String), (i64, Vec<String>)> = BTreeMap::new();
    for (pool, itype, max, spot) in &needs.pools {
        let Some(per) = vcpus.get(itype) else {
            continue;
        };
        let (name, code) = match quota_family(itype) {
            Some((name, on_demand, spot_code)) => {
                let kind = if *spot { "spot" } else { "on-demand" };
                (
                    format!("{kind} {name}"),
                    if *spot { spot_code } else { on_demand }.to_string(),
                )
            }
            None => (format!("instance family of {itype}"), String::new()),
        };
        let e = out.entry((name, code)).or_default();
        e.0 += max * per;
        e.1.push(format!("{pool}: {max} × {itype} ({per} vCPUs)"));
    }
    out
}

/// The checks that need no request: stops the run on a region problem.
pub fn check_region(clients: &Clients, plan: &Plan, ui: &Ui) -> Result<(), Exit> {
    stop_on(ui, region_problems(plan, &needs(plan), &clients.region))
}

/// Reports the problems as errors and stops, if there are any.
fn stop_on(ui: &Ui, problems: Vec<String>) -> Result<(), Exit> {
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        ui.say(&format!("error: preflight: {p}"));
    }
    Err(Exit(crate::exit::AWS))
}

/// The checks of what a launch needs (key pairs, the pools' vCPUs against the quotas), made
/// only when `run` creates or replaces an instance (the master: it launches the agents):
/// stops the run on a missing key pair.
pub async fn check_launch(clients: &Clients, plan: &Plan, ui: &Ui) -> Result<(), Exit> {
    let n = needs(plan);
    let mut problems = Vec::new();
    for key in &n.key_pairs {
        let r = clients.ec2.describe_key_pairs().key_names(key).send().await;
        match r {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("InvalidKeyPair.NotFound") => problems.push(format!(
                "EC2 key pair {key:?} does not exist in {}: create or import it there first",
                clients.region
            )),
            Err(e) => return Err(ui.fail(&format!("{:#}", aws_err("DescribeKeyPairs", key, e)))),
        }
    }
    stop_on(ui, problems)?;
    let mut vcpus = BTreeMap::new();
    for (_, itype, _, _) in &n.pools {
        if vcpus.contains_key(itype) {
            continue;
        }
        let r = clients
            .ec2
            .describe_instance_types()
            .instance_types(InstanceType::from(itype.as_str()))
            .send()
            .await;
        let count = r.ok().and_then(|o| {
            o.instance_types()
                .first()
                .and_then(|t| t.v_cpu_info())
                .and_then(|v| v.default_v_cpus())
        });
        match count {
            Some(c) => {
                vcpus.insert(itype.clone(), i64::from(c));
            }
            None => ui.say(&format!(
                "warning: preflight: cannot read the vCPUs of {itype} in {}; its pool's quota is not estimated",
                clients.region
            )),
        }
    }
    for ((quota, code), (total, parts)) in vcpu_needs(&n, &vcpus) {
        let limit = if code.is_empty() {
            Err("no Service Quotas code is known for this family".to_string())
        } else {
            read_quota(clients, &code).await
        };
        ui.say(&verdict(
            &quota,
            &code,
            total,
            &parts,
            &clients.region,
            limit,
        ));
    }
    Ok(())
}

/// How long one quota read may take: preflight must not hold `run` up when Service Quotas is
/// slow or unreachable.
const QUOTA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The account's EC2 quota `code` in vCPUs: the applied value, else AWS's default (a quota
/// never changed may have no applied value); the error as text.
async fn read_quota(c: &Clients, code: &str) -> Result<f64, String> {
    let applied = async {
        match c
            .quotas
            .get_service_quota()
            .service_code("ec2")
            .quota_code(code)
            .send()
            .await
        {
            Ok(o) => Ok(o.quota().and_then(|q| q.value())),
            Err(e) if code_of(&e) == Some("NoSuchResourceException") => {
                let d = c
                    .quotas
                    .get_aws_default_service_quota()
                    .service_code("ec2")
                    .quota_code(code)
                    .send()
                    .await;
                d.map(|o| o.quota().and_then(|q| q.value()))
                    .map_err(|e| format!("{:#}", aws_err("GetAWSDefaultServiceQuota", code, e)))
            }
            Err(e) => Err(format!("{:#}", aws_err("GetServiceQuota", code, e))),
        }
    };
    match tokio::time::timeout(QUOTA_TIMEOUT, applied).await {
        Ok(Ok(Some(v))) => Ok(v),
        Ok(Ok(None)) => Err("Service Quotas returned no value".into()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "Service Quotas did not answer within {}s",
            QUOTA_TIMEOUT.as_secs()
        )),
    }
}

/// The preflight line for one quota: the pools' need against the account's quota, or the
/// need alone when the quota could not be read.
fn verdict(
    quota: &str,
    code: &str,
    total: i64,
    parts: &[String],
    region: &str,
    limit: Result<f64, String>,
) -> String {
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" (Service Quotas code {code})")
    };
    let need = format!(
        "the pools may run up to {total} vCPUs of {quota}{code}: {}",
        parts.join(", ")
    );
    match limit {
        Ok(q) if (total as f64) <= q => {
            format!("preflight: {need}; the account's quota in {region} is {q} vCPUs")
        }
        Ok(q) => format!(
            "warning: preflight: {need}. The account's quota in {region} is {q} vCPUs: Determined's \
launches beyond it fail with VcpuLimitExceeded; lower max_instances or request an increase in the \
Service Quotas console"
        ),
        Err(e) => format!(
            "warning: preflight: {need}. The account's quota in {region} could not be read ({e}); \
if it is lower, Determined's launches fail with VcpuLimitExceeded: check it in the Service Quotas console"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_families_map_to_their_quota_codes() {
        assert_eq!(quota_family("g5.2xlarge").unwrap().1, "L-DB2E81BA");
        assert_eq!(quota_family("g4dn.metal").unwrap().2, "L-3819A6DF");
        assert_eq!(quota_family("p3.8xlarge").unwrap().1, "L-417A185B");
        assert_eq!(quota_family("m5.xlarge").unwrap().1, "L-1216C47A");
        assert_eq!(quota_family("t3.large").unwrap().2, "L-34B43A08");
        assert_eq!(quota_family("im4gn.large").unwrap().1, "L-1216C47A");
        assert_eq!(quota_family("inf2.xlarge").unwrap().1, "L-1945791B");
        assert_eq!(quota_family("x2gd.large").unwrap().2, "L-E3A00192");
        // DL has its own quota although it starts with a Standard family's letter.
        assert_eq!(quota_family("dl1.24xlarge").unwrap().0, "DL");
        assert_eq!(quota_family("hpc7g.16xlarge"), None);
        assert_eq!(quota_family("u-6tb1.metal"), None);
    }

    #[test]
    fn the_readme_lists_every_quota_code() {
        let readme = include_str!("../../../README.md");
        for (_, name, on_demand, spot) in QUOTAS {
            let row = format!("| {name} | {on_demand} | {spot} |");
            assert!(readme.contains(&row), "README.md should have the row {row}");
        }
    }

    #[test]
    fn vcpu_needs_add_up_per_quota() {
        let n = Needs {
            pools: vec![
                ("aux".into(), "m5.xlarge".into(), 2, false),
                ("gpu".into(), "g5.2xlarge".into(), 8, true),
                ("more".into(), "g5.xlarge".into(), 2, true),
                ("unknown".into(), "zz9.huge".into(), 1, false),
            ],
            ..Needs::default()
        };
        let vcpus: BTreeMap<String, i64> = [("m5.xlarge", 4), ("g5.2xlarge", 8), ("g5.xlarge", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let got = vcpu_needs(&n, &vcpus);
        let spot_g = &got[&("spot G and VT".to_string(), "L-3819A6DF".to_string())];
        assert_eq!(spot_g.0, 8 * 8 + 2 * 4);
        let std = &got[&(
            "on-demand Standard (A, C, D, H, I, M, R, T, Z)".to_string(),
            "L-1216C47A".to_string(),
        )];
        assert_eq!(std.0, 8);
        // zz9.huge: no vCPUs read, so not counted.
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn verdicts_compare_the_need_with_the_quota() {
        let parts = vec!["gpu: 8 × g5.2xlarge (8 vCPUs)".to_string()];
        let v = |limit| {
            verdict(
                "spot G and VT",
                "L-3819A6DF",
                64,
                &parts,
                "us-west-2",
                limit,
            )
        };
        let need = "the pools may run up to 64 vCPUs of spot G and VT (Service Quotas code \
L-3819A6DF): gpu: 8 × g5.2xlarge (8 vCPUs)";
        assert_eq!(
            v(Ok(64.0)),
            format!("preflight: {need}; the account's quota in us-west-2 is 64 vCPUs")
        );
        let over = v(Ok(63.0));
        assert!(
            over.starts_with(&format!(
                "warning: preflight: {need}. The account's quota in us-west-2 is 63 vCPUs: \
Determined's launches beyond it fail with VcpuLimitExceeded"
            )),
            "{over}"
        );
        let unknown = v(Err("AccessDeniedException: no".into()));
        assert!(
            unknown.starts_with("warning:")
                && unknown.contains("could not be read (AccessDeniedException: no)"),
            "{unknown}"
        );
    }
}
