//! Names of the account-global resources (IAM roles and instance profiles, S3 buckets), so
//! that one deployment name in two regions, or in two accounts, is two deployments.
//!
//! IAM names are `DEPLOYMENT-NAME-REGION`; bucket names `DEPLOYMENT-NAME-REGION-ACCOUNT`. The
//! account is known after apply (the CLI asks STS; CloudFormation has `AWS::AccountId`), as is
//! the region of a script that sets none (the CLI's region; `AWS::Region`): both are the
//! pseudo references [`ACCOUNT`] and [`REGION`] until then. A name longer than AWS allows keeps
//! its region and account and shortens `DEPLOYMENT-NAME` to a prefix and a hash of it, so the
//! same script always gets the same name.

use sha2::{Digest as _, Sha256};

use crate::refs;
use crate::value::Tmpl;

/// The deployment's account id, known after apply.
pub const ACCOUNT: &str = "aws.account_id";
/// The deployment's region when the script sets none, known after apply.
pub const REGION: &str = "aws.region";
/// The pseudo resource of [`ACCOUNT`] and [`REGION`].
pub const PSEUDO: &str = "aws";

/// Length of an AWS account id.
const ACCOUNT_LEN: usize = 12;
/// Length budgeted for a region known only after apply (the longest today is 14).
const REGION_BUDGET: usize = 16;
/// IAM's limits on role and instance profile names.
pub const ROLE_MAX: usize = 64;
pub const PROFILE_MAX: usize = 128;
/// S3's limit on bucket names.
pub const BUCKET_MAX: usize = 63;

/// Where a deployment's names live: its name, its region (marked text: literal, a parameter
/// without a value, or [`REGION`]) and whether it keeps the names of earlier versions
/// (`legacy_names()`: no region or account in the names).
#[derive(Debug, Clone)]
pub struct Scope {
    pub deployment: String,
    pub region: String,
    pub legacy: bool,
}

impl Scope {
    pub fn new(deployment: &str, region: Option<&str>, legacy: bool) -> Scope {
        Scope {
            deployment: deployment.to_string(),
            region: region
                .map(str::to_string)
                .unwrap_or_else(|| refs::reference(REGION)),
            legacy,
        }
    }

    /// The characters the region takes in a name (a budget when it is not known yet).
    fn region_len(&self) -> usize {
        if refs::has_refs(&self.region) {
            REGION_BUDGET
        } else {
            self.region.len()
        }
    }

    /// `DEPLOYMENT-NAME-REGION`, at most `max` characters.
    pub fn iam_name(&self, name: &str, max: usize) -> String {
        let base = format!("{}-{name}", self.deployment);
        if self.legacy {
            return base;
        }
        let room = max.saturating_sub(1 + self.region_len());
        format!("{}-{}", shorten(&base, room), self.region)
    }

    /// `DEPLOYMENT-NAME-REGION-ACCOUNT`, at most 63 characters.
    pub fn bucket_name(&self, name: &str) -> String {
        let base = format!("{}-{name}", self.deployment);
        if self.legacy {
            return base;
        }
        let room = BUCKET_MAX.saturating_sub(2 + self.region_len() + ACCOUNT_LEN);
        format!(
            "{}-{}-{}",
            shorten(&base, room),
            self.region,
            refs::reference(ACCOUNT)
        )
    }
}

/// `base` when it fits in `max` characters, else its first characters, `-` and the first 8
/// hex digits of its SHA-256: deterministic, and distinct for names that share a prefix.
pub fn shorten(base: &str, max: usize) -> String {
    if base.chars().count() <= max {
        return base.to_string();
    }
    let hash: String = Sha256::digest(base.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let keep = max.saturating_sub(hash.len() + 1);
    let head: String = base.chars().take(keep).collect();
    // A name part may not end in '-' or '.' next to the separator (S3 refuses "-." and "..").
    let head = head.trim_end_matches(['-', '.']);
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// The value of a pseudo reference path, given the account and region.
pub fn pseudo_value<'a>(path: &str, account: &'a str, region: &'a str) -> Option<&'a str> {
    match path {
        ACCOUNT => Some(account),
        REGION => Some(region),
        _ => None,
    }
}

/// A physical name with the pseudo references as they will read after apply, for checks of
/// length and characters before apply: a sample account id and the longest region budget.
pub fn sample(name: &str) -> String {
    refs::substitute(name, &|p| match p {
        ACCOUNT => Some("0".repeat(ACCOUNT_LEN)),
        REGION => Some("a".repeat(REGION_BUDGET)),
        _ => None,
    })
}

/// A name or text with the pseudo references filled in.
fn fill(s: &str, account: &str, region: &str) -> String {
    refs::substitute(s, &|p| pseudo_value(p, account, region).map(str::to_string))
}

impl crate::plan::Plan {
    /// The plan with the account id and the region, known after apply, filled in: the plan
    /// `run` and `destroy` work with (the CLI learns the account from STS). Names are checked
    /// again as AWS will see them.
    pub fn with_account(&self, account: &str, region: &str) -> Result<Self, String> {
        use serde_json::Value;
        if account.len() != ACCOUNT_LEN || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{account:?} is not an AWS account id (12 digits)"));
        }
        crate::script::check_region(region)?;
        let fix = |s: &str| fill(s, account, region);
        let fix_t = |t: &Tmpl| Tmpl::from_marked(&fix(&t.to_marked()));
        let fix_v = |v: &mut Value| {
            refs::map_strings(v, &mut |s| {
                if refs::has_refs(s) {
                    *s = fix(s);
                }
            })
        };
        let mut plan = self.clone();
        for r in &mut plan.resources {
            let mut props = Value::Object(r.spec.to_marked_json());
            fix_v(&mut props);
            let Value::Object(props) = props else {
                unreachable!("props stay an object")
            };
            r.spec = super::Spec::from_marked(r.kind, &props)?;
            r.tags = r.tags.iter().map(|(k, v)| (k.clone(), fix_t(v))).collect();
            let name = fix(&crate::plan::name_tmpl(&r.name).to_marked());
            let checked = r
                .spec
                .assign_name(name)
                .map_err(|e| format!("{}: {}", r.id, e.message))?;
            r.name = refs::display(&checked, refs::Style::Template);
        }
        for t in plan.outputs.values_mut().chain(plan.files.values_mut()) {
            *t = fix_t(t);
        }
        if let Some(m) = plan.master.as_mut() {
            let mut config = serde_json::to_value(&m.config).map_err(|e| e.to_string())?;
            fix_v(&mut config);
            m.config = crate::config::MasterConfig::from_json(config).map_err(|e| e.to_string())?;
            m.image = fix(&m.image);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(dep: &str, region: Option<&str>) -> Scope {
        Scope::new(dep, region, false)
    }

    fn shown(s: &str) -> String {
        refs::display(s, refs::Style::Template)
    }

    #[test]
    fn iam_names_carry_the_region() {
        let s = scope("det-demo", Some("us-west-2"));
        assert_eq!(s.iam_name("master", ROLE_MAX), "det-demo-master-us-west-2");
        let unknown = scope("det-demo", None);
        assert_eq!(
            shown(&unknown.iam_name("master", ROLE_MAX)),
            "det-demo-master-${aws.region}"
        );
    }

    #[test]
    fn bucket_names_carry_region_and_account() {
        let s = scope("det-demo", Some("us-west-2"));
        assert_eq!(
            shown(&s.bucket_name("checkpoints")),
            "det-demo-checkpoints-us-west-2-${aws.account_id}"
        );
    }

    #[test]
    fn legacy_names_are_the_old_ones() {
        let s = Scope::new("det-demo", Some("us-west-2"), true);
        assert_eq!(s.iam_name("master", ROLE_MAX), "det-demo-master");
        assert_eq!(s.bucket_name("checkpoints"), "det-demo-checkpoints");
    }

    #[test]
    fn long_names_are_shortened_deterministically_within_the_limits() {
        let dep = "a-very-long-deployment-name-of-32";
        assert_eq!(dep.len(), 33);
        let dep = &dep[..32];
        let name = "checkpoints-of-the-research-team";
        for region in [Some("ap-southeast-2"), None] {
            let s = scope(dep, region);
            let role = s.iam_name(name, ROLE_MAX);
            let bucket = s.bucket_name(name);
            assert!(sample(&role).len() <= ROLE_MAX, "{role}");
            assert!(sample(&bucket).len() <= BUCKET_MAX, "{bucket}");
            // Same input, same name; the region and account stay whole.
            assert_eq!(role, s.iam_name(name, ROLE_MAX));
            assert!(shown(&bucket).ends_with("-${aws.account_id}"), "{bucket}");
            if let Some(r) = region {
                assert!(role.ends_with(&format!("-{r}")), "{role}");
                assert_eq!(sample(&bucket).len(), BUCKET_MAX.min(sample(&bucket).len()));
            }
        }
        // Names that share a long prefix still differ.
        let s = scope(dep, Some("us-east-1"));
        let a = s.iam_name(&format!("{name}-a"), ROLE_MAX);
        let b = s.iam_name(&format!("{name}-b"), ROLE_MAX);
        assert_ne!(a, b);
        assert!(a.len() <= ROLE_MAX && a.len() >= ROLE_MAX - 1, "{a}");
        // A profile's limit is wider: the same name is kept whole there.
        assert_eq!(
            s.iam_name(&format!("{name}-a"), PROFILE_MAX),
            format!("{dep}-{name}-a-us-east-1")
        );
    }

    #[test]
    fn shortening_never_leaves_a_separator_before_the_hash() {
        assert_eq!(shorten("abc", 3), "abc");
        // "ab-" would be kept: the '-' is dropped, not doubled.
        let s = shorten("ab-defgh-ijklmnop", 12);
        assert!(s.starts_with("ab-") && s.len() == 11, "{s}");
        assert!(!s.contains("--") && !s.contains("-."), "{s}");
        let s = shorten("abcdefgh-ijklmnop", 11);
        assert_eq!(s.len(), 11, "{s}");
        assert_eq!(shorten("abcdefghijkl", 4), shorten("abcdefghijkl", 4));
    }
}
