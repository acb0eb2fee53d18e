//! Determined's AMIs per region, as `det deploy aws` ships them for the release in
//! [`crate::versions::DETERMINED_VERSION`]: an Ubuntu master AMI and the Determined agent AMI
//! (Docker and the NVIDIA stack preinstalled). Scripts pick them with `determined_ami(role)`
//! by the deployment's region; another region is an error at the script line, as it is for
//! the peer. An Ubuntu master AMI can instead come from Canonical's public SSM parameter
//! ([`UBUNTU_SSM_PARAMETER`], `ubuntu_ami()`; any parameter with `ssm_parameter(name)`),
//! read when the deployment is applied: the plan shows it as known after apply.

/// (region, master AMI, agent AMI).
pub const REGION_AMIS: &[(&str, &str, &str)] = &[
    (
        "ap-northeast-1",
        "ami-00910ef9457f0df47",
        "ami-0e199a4564d2bb8c5",
    ),
    (
        "eu-central-1",
        "ami-0abbe417ed83c0b29",
        "ami-0a6a509944baa9c38",
    ),
    (
        "eu-west-1",
        "ami-0e3f7dd2dc743e48a",
        "ami-0870dc8c1081c2ed0",
    ),
    (
        "us-east-1",
        "ami-0172070f66a8ebe63",
        "ami-07329961c2a161c61",
    ),
    (
        "us-east-2",
        "ami-0bafa3699418551cd",
        "ami-0dca1adfc8c152c7a",
    ),
    (
        "us-west-2",
        "ami-0ceeab680f529cc36",
        "ami-015aabd7d10854b76",
    ),
];

/// Canonical's public SSM parameter with the current Ubuntu 22.04 server AMI of a region.
pub const UBUNTU_SSM_PARAMETER: &str =
    "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id";

/// Checks an SSM parameter name against Parameter Store's rules: letters, digits and
/// `_ . - /`, at most 1011 characters, a hierarchy starting with `/` and without an empty
/// level.
pub fn check_ssm_name(name: &str) -> Result<(), String> {
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)));
    if let Some(c) = bad {
        return Err(format!(
            "SSM parameter name {name:?}: {c:?} is not allowed (letters, digits and _ . - / only)"
        ));
    }
    if name.is_empty() || name.len() > 1011 {
        return Err(format!(
            "SSM parameter name must be 1-1011 characters, got {}",
            name.len()
        ));
    }
    if name.contains('/') && (!name.starts_with('/') || name.ends_with('/') || name.contains("//"))
    {
        return Err(format!(
            "SSM parameter name {name:?}: a hierarchy starts with / and has no empty level, like \"{UBUNTU_SSM_PARAMETER}\""
        ));
    }
    Ok(())
}

/// Which of the two AMIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Agent,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "master" => Ok(Role::Master),
            "agent" => Ok(Role::Agent),
            _ => Err(format!("expects \"master\" or \"agent\", got {s:?}")),
        }
    }
}

/// The regions with AMIs, for messages.
pub fn regions() -> Vec<&'static str> {
    REGION_AMIS.iter().map(|(r, _, _)| *r).collect()
}

/// Whether Determined publishes AMIs for `region`.
pub fn supported(region: &str) -> bool {
    REGION_AMIS.iter().any(|(r, _, _)| *r == region)
}

/// The AMI of `role` in `region`, or why there is none.
pub fn ami(region: &str, role: Role) -> Result<&'static str, String> {
    let (_, master, agent) = REGION_AMIS
        .iter()
        .find(|(r, _, _)| *r == region)
        .ok_or_else(|| unsupported(region))?;
    Ok(match role {
        Role::Master => master,
        Role::Agent => agent,
    })
}

/// The message for a region without AMIs.
pub fn unsupported(region: &str) -> String {
    format!(
        "Determined {} publishes no AMIs for region {region:?}; supported regions: {}",
        crate::versions::DETERMINED_VERSION,
        regions().join(", ")
    )
}

/// The region whose Determined AMI `ami` is, if it is one.
pub fn region_of(ami: &str) -> Option<&'static str> {
    REGION_AMIS
        .iter()
        .find(|(_, m, a)| *m == ami || *a == ami)
        .map(|(r, _, _)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_has_two_distinct_well_formed_amis() {
        let mut seen = std::collections::BTreeSet::new();
        for (region, master, agent) in REGION_AMIS {
            for id in [master, agent] {
                let hex = id.strip_prefix("ami-").expect("ami- prefix");
                assert!(
                    hex.len() == 17 && hex.chars().all(|c| c.is_ascii_hexdigit()),
                    "{id}"
                );
                assert!(seen.insert(*id), "{id} listed twice");
                assert_eq!(region_of(id), Some(*region));
            }
        }
        assert_eq!(
            ami("us-west-2", Role::Agent).unwrap(),
            "ami-015aabd7d10854b76"
        );
        assert_eq!(
            ami("us-east-1", Role::Master).unwrap(),
            "ami-0172070f66a8ebe63"
        );
        let e = ami("eu-north-1", Role::Agent).unwrap_err();
        assert!(e.contains("eu-north-1") && e.contains("us-west-2"), "{e}");
        assert!(Role::parse("worker").is_err());
    }

    #[test]
    fn ssm_names_follow_parameter_store_rules() {
        check_ssm_name(UBUNTU_SSM_PARAMETER).unwrap();
        check_ssm_name("master-ami").unwrap();
        for bad in ["", "a b", "aws/x", "/x/", "/x//y", "/x$y"] {
            assert!(check_ssm_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_ssm_name(&"a".repeat(1012)).is_err());
    }
}
