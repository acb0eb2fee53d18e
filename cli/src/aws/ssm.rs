//! The master's AMI from an SSM parameter (`ubuntu_ami()`, `ssm_parameter(name)`): read with
//! GetParameter when `run` or `plan --refresh` reads live state, and known to the diff and the
//! executor as the attribute `ssm.NAME` (see [`detscript_engine::value::Ref::ssm`]).
//!
//! The master is pinned to the AMI it was created with: when the parameter moves on (Canonical
//! publishes a new Ubuntu image every few weeks), the diff reports the newer AMI but does not
//! replace the master for it, so that a `run` without a change to the script stays a no-op and
//! never restarts the cluster by surprise. A master replaced for another reason boots the
//! parameter's current AMI; to move to it on purpose, give `image_id` that AMI id for one run.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use aws_sdk_ssm::types::ParameterType;
use detscript_engine::kinds::Ec2InstanceSpec;
use detscript_engine::{Plan, Spec};

use super::diff::{Action, Diff};
use super::discover::State;
use super::providers::ec2::InstanceLive;
use super::providers::{LiveDetail, Vals};
use super::{Attrs, Clients, aws_err, code_of};

/// The attribute prefix of SSM parameter values in [`Attrs`].
pub const ATTR_PREFIX: &str = "ssm";

/// Reads every SSM parameter the plan uses: name → AMI id.
pub async fn read(c: &Clients, plan: &Plan) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for r in &plan.resources {
        for name in r.spec.ssm_parameters() {
            if out.contains_key(&name) {
                continue;
            }
            let got = c.ssm.get_parameter().name(&name).send().await;
            let p = match got {
                Ok(o) => o.parameter,
                Err(e) if code_of(&e) == Some("ParameterNotFound") => bail!(
                    "SSM parameter {name} does not exist in {} (the AMI of {} is read from it)",
                    c.region,
                    r.id
                ),
                Err(e) => return Err(aws_err("GetParameter", &name, e)),
            };
            let p = p.ok_or_else(|| anyhow!("GetParameter {name}: no parameter in the answer"))?;
            let value = checked_ami(&name, p.r#type(), p.value().unwrap_or_default())?;
            out.insert(name, value);
        }
    }
    Ok(out)
}

/// The parameter's value when it is a plain AMI id (a SecureString is never read: it is no
/// place for an AMI id, and its value must not reach a plan or a screen).
fn checked_ami(name: &str, t: Option<&ParameterType>, value: &str) -> Result<String> {
    if t == Some(&ParameterType::SecureString) {
        bail!("SSM parameter {name} is a SecureString; an AMI id is a String parameter");
    }
    let ok = value
        .strip_prefix("ami-")
        .is_some_and(|h| (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        let shown: String = value.chars().take(40).collect();
        bail!("SSM parameter {name} holds {shown:?}, which is not an AMI id (ami-...)");
    }
    Ok(value.to_string())
}

/// The values as attributes (`ssm.NAME`).
pub fn attrs(values: &BTreeMap<String, String>) -> Attrs {
    let mut a = Attrs::default();
    a.insert_all(ATTR_PREFIX, values);
    a
}

/// True when the live master may keep another AMI than the planned one: its image comes
/// from an SSM parameter, and the master is pinned to the AMI it was created with.
pub fn pinned(spec: &Ec2InstanceSpec) -> bool {
    spec.image_id.as_ssm().is_some()
}

/// Reports live masters whose SSM parameter names another AMI than the one they run: a
/// notice when the master stays (pinned), a note under its change when it is replaced anyway
/// (the new master boots the parameter's current AMI).
pub fn report_newer_amis(d: &mut Diff, plan: &Plan, state: &State, vals: &Vals) {
    for r in &plan.resources {
        let Spec::Ec2Instance(spec) = &r.spec else {
            continue;
        };
        let (Some(name), Some(live)) = (spec.image_id.as_ssm(), state.owned.get(&r.id)) else {
            continue;
        };
        let (Some(l), Some(now)) = (InstanceLive::of(&live.detail), vals.known(&spec.image_id))
        else {
            continue;
        };
        let running = l.instance.image_id().unwrap_or_default();
        if running == now {
            continue;
        }
        match d.changes.iter_mut().find(|c| c.id == r.id) {
            Some(c) if matches!(c.action, Action::Replace(_)) => c.notes.push(format!(
                "the new master boots {now}, the current value of SSM parameter {name} (the old one ran {running})"
            )),
            _ => d.notices.push(format!(
                "{}: SSM parameter {name} now names {now}; the master keeps {running}, the AMI it was \
created with (pinned: a newer AMI alone never replaces it). To move to {now}, set image_id(\"{now}\") for one run",
                r.id
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_does_not_make_a_saved_plan_stale() {
        let mut d = Diff::default();
        let before = crate::aws::saved::changes_sha256(&d);
        d.notices.push("SSM parameter /a now names ami-2".into());
        assert_eq!(crate::aws::saved::changes_sha256(&d), before);
        d.blocked.push("something".into());
        assert_ne!(crate::aws::saved::changes_sha256(&d), before);
    }

    #[test]
    fn only_plain_ami_ids_are_read() {
        assert_eq!(
            checked_ami("/a", Some(&ParameterType::String), "ami-0123456789abcdef0").unwrap(),
            "ami-0123456789abcdef0"
        );
        let e = checked_ami("/a", Some(&ParameterType::String), "ubuntu").unwrap_err();
        assert!(e.to_string().contains("not an AMI id"), "{e}");
        let e = checked_ami(
            "/a",
            Some(&ParameterType::SecureString),
            "ami-0123456789abcdef0",
        )
        .unwrap_err();
        assert!(e.to_string().contains("SecureString"), "{e}");
    }

    #[test]
    fn a_moved_parameter_is_reported_not_replaced() {
        use crate::aws::diff::{Action, diff};
        use crate::aws::discover::Live;
        use crate::aws::providers::Detail;
        let p = crate::aws::diff::tests::plan_with("0.0.0.0/0", |s| {
            s.replace("determined_ami(\"master\")", "ubuntu_ami()")
        });
        let mut state = State::default();
        let m = p
            .resources
            .iter()
            .find(|r| matches!(r.spec, Spec::Ec2Instance(_)))
            .unwrap();
        let live = InstanceLive {
            instance: Box::new(
                aws_sdk_ec2::types::Instance::builder()
                    .instance_type(aws_sdk_ec2::types::InstanceType::M6iXlarge)
                    .image_id("ami-0000000000000000a")
                    .build(),
            ),
            user_data: None,
        };
        state.owned.insert(
            m.id.clone(),
            Live {
                id: m.id.clone(),
                ..Live::new("m", Default::default(), Detail::Ec2Instance(live))
            },
        );
        state.ssm = [(
            detscript_engine::amis::UBUNTU_SSM_PARAMETER.to_string(),
            "ami-0000000000000000b".to_string(),
        )]
        .into_iter()
        .collect();
        let d = diff(&p, &state);
        let c = d.changes.iter().find(|c| c.id == m.id).unwrap();
        // This bare state replaces the master for the values known after apply, never for
        // its image; the new master boots the parameter's current AMI, and the diff says so.
        let Action::Replace(why) = &c.action else {
            panic!("{:?}", c.action)
        };
        assert!(!why.contains("image"), "{why}");
        assert_eq!(
            c.notes,
            vec![format!(
                "the new master boots ami-0000000000000000b, the current value of SSM parameter {} \
(the old one ran ami-0000000000000000a)",
                detscript_engine::amis::UBUNTU_SSM_PARAMETER
            )]
        );
        assert!(d.notices.is_empty());
        // A literal AMI that differs is a reason to replace.
        let literal = crate::aws::diff::tests::plan_with("0.0.0.0/0", |s| {
            s.replace("determined_ami(\"master\")", "\"ami-0000000000000000b\"")
        });
        let d = diff(&literal, &state);
        let c = d.changes.iter().find(|c| c.id == m.id).unwrap();
        assert_eq!(
            c.action,
            Action::Replace("image ami-0000000000000000a -> ami-0000000000000000b".into())
        );
    }
}
