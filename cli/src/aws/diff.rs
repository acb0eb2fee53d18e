//! The diff between the plan and live state: create, update in place, replace, no-op, and
//! removal of owned resources (or security group rules) the script no longer declares.

use std::collections::BTreeSet;

use detscript_engine::{Kind, Plan};

use super::discover::{Live, LiveRule, State, kind_words};
use super::providers::{self, Cmp, Vals};
use super::upgrade::{self, Upgrade};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create,
    /// In place; the list says what changes.
    Update(Vec<String>),
    /// Delete and create again; the reason.
    Replace(String),
    NoOp,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub id: String,
    pub kind: Kind,
    pub action: Action,
    /// Extra lines shown under the change (e.g. the default egress rule revoked).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Removal {
    /// An owned resource no longer in the script.
    Resource(Live),
    /// A rule in an owned security group that the script does not declare.
    Rule(LiveRule),
}

impl Removal {
    pub fn label(&self) -> String {
        match self {
            Removal::Resource(l) => l.id.clone(),
            Removal::Rule(r) => format!("rule {} of {}", r.rule_id, r.group_id),
        }
    }
}

#[derive(Debug, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
    pub removals: Vec<Removal>,
    pub conflicts: Vec<String>,
    /// Changes detscript will not make automatically (e.g. replacing a database).
    pub blocked: Vec<String>,
    /// A new Determined version on the live master: the steps `run` takes around its
    /// replacement.
    pub upgrade: Option<Upgrade>,
    /// Things worth knowing that change nothing (a newer AMI the pinned master does not take).
    pub notices: Vec<String>,
}

impl Diff {
    pub fn pending(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .count()
            + self.removals.len()
    }

    pub fn unchanged(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action == Action::NoOp)
            .count()
    }

    /// The diff for people, terraform style.
    pub fn render(&self, plan: &Plan) -> String {
        let mut out = String::new();
        let (mut add, mut upd, mut rep) = (0, 0, 0);
        for c in &self.changes {
            let name = plan.get(&c.id).map(|r| r.name.as_str()).unwrap_or("");
            match &c.action {
                Action::NoOp => continue,
                Action::Create => {
                    add += 1;
                    out.push_str(&format!("  +   {}  ({name})\n", c.id));
                }
                Action::Update(what) => {
                    upd += 1;
                    out.push_str(&format!("  ~   {}  ({name})\n", c.id));
                    for w in what {
                        out.push_str(&format!("        {w}\n"));
                    }
                }
                Action::Replace(why) => {
                    rep += 1;
                    out.push_str(&format!("  -/+ {}  ({name}): {why}\n", c.id));
                }
            }
            for n in &c.notes {
                out.push_str(&format!("        {n}\n"));
            }
        }
        for r in &self.removals {
            match r {
                Removal::Resource(l) => out.push_str(&format!(
                    "  -   {}  ({} {}): no longer in the script\n",
                    l.id,
                    kind_words(l.kind()),
                    l.physical()
                )),
                Removal::Rule(rule) => out.push_str(&format!(
                    "  -   rule {} in {}: {} (not in the script: revoke)\n",
                    rule.rule_id,
                    rule.group_id,
                    rule.describe()
                )),
            }
        }
        out.push_str(&format!(
            "\n{} {} unchanged.\n",
            detscript_engine::summary(add, upd, rep, self.removals.len()),
            self.unchanged()
        ));
        if let Some(u) = &self.upgrade {
            out.push_str(&u.render());
        }
        for n in &self.notices {
            out.push_str(&format!("note: {n}\n"));
        }
        if self.pending() == 0 {
            out.push_str("No changes: live AWS matches the script.\n");
        }
        out
    }
}

/// Compares the plan with live state.
pub fn diff(plan: &Plan, state: &State) -> Diff {
    let mut d = Diff {
        conflicts: state.conflicts.clone(),
        ..Diff::default()
    };
    d.conflicts.extend(state.duplicate_messages());
    // Attributes known now: the SSM parameters read and those of live resources that stay
    // (no replace).
    let mut attrs = super::ssm::attrs(&state.ssm);
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    let mut used_rules = BTreeSet::new();
    for r in &plan.resources {
        let mut cx = Cmp {
            vals: Vals {
                plan,
                attrs: &attrs,
            },
            after_apply: r.depends_on.iter().any(|d| replaced.contains(d)),
            used_rules: std::mem::take(&mut used_rules),
        };
        let c = providers::compare(r, state, &mut cx);
        used_rules = cx.used_rules;
        if let Action::Replace(why) = &c.action {
            if !c.replaceable {
                d.blocked.push(format!(
                    "{} would have to be replaced ({why}); detscript does not replace {}s automatically: \
run `detscript destroy` first or change it back",
                    r.id,
                    kind_words(r.kind)
                ));
            }
        }
        match (&c.action, c.live) {
            (Action::Create | Action::Replace(_), _) => {
                replaced.insert(r.id.clone());
            }
            (_, Some(l)) => attrs.insert_all(&r.id, &l.attrs),
            _ => {}
        }
        d.changes.push(Change {
            id: r.id.clone(),
            kind: r.kind,
            action: c.action,
            notes: c.notes,
        });
    }
    // Rules of owned groups that the script does not declare (incl. AWS's default egress).
    let replaced_groups: BTreeSet<String> = replaced
        .iter()
        .filter_map(|id| state.owned.get(id))
        .filter_map(|l| l.attrs.get("id").cloned())
        .collect();
    for rule in state.rule_details() {
        if !used_rules.contains(&rule.rule_id) && !replaced_groups.contains(&rule.group_id) {
            d.removals.push(Removal::Rule(rule.clone()));
        }
    }
    for (id, live) in &state.owned {
        if plan.get(id).is_none() {
            d.removals.push(Removal::Resource(live.clone()));
        }
    }
    d.upgrade = upgrade::detect(plan, state, &d.changes);
    let vals = Vals {
        plan,
        attrs: &attrs,
    };
    super::ssm::report_newer_amis(&mut d, plan, state, &vals);
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use detscript_engine::{CompileRequest, Mode, ParamInput, compile};

    use detscript_engine::Spec;

    use super::*;
    use crate::aws::Attrs;
    use crate::aws::discover::{Detail, Peer};
    use crate::aws::providers::iam::{decode_policy, normalize_policy};
    use crate::aws::providers::sg::GroupLive;

    pub(crate) fn plan(inbound: &str) -> Plan {
        plan_with(inbound, |s| s)
    }

    /// The plan of scripts/deploy.rhai after `edit` changed its source.
    pub(crate) fn plan_with(inbound: &str, edit: impl Fn(String) -> String) -> Plan {
        let src = edit(
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/deploy.rhai"
            ))
            .expect("script"),
        );
        let mut req = CompileRequest::new("deploy.rhai", &src, Mode::Apply);
        for (k, v) in [
            ("keypair", "k"),
            ("db_password", "Secret-pass-1"),
            ("inbound_cidr", inbound),
        ] {
            req.params
                .insert(k.to_string(), ParamInput::Text(v.to_string()));
        }
        compile(&req).expect("compiles").plan
    }

    /// Live state for the security groups and rules of `p`, as if applied (plus AWS's
    /// default egress rule on the master group).
    fn groups_state(p: &Plan) -> State {
        let mut st = State::default();
        let mut attrs = Attrs::default();
        for r in p.resources.iter().filter(|r| r.kind == Kind::SecurityGroup) {
            let Spec::SecurityGroup(spec) = &r.spec else {
                unreachable!()
            };
            let gid = format!("sg-{}", r.name);
            let a: BTreeMap<String, String> = [("id".to_string(), gid)].into_iter().collect();
            attrs.insert_all(&r.id, &a);
            let detail = Detail::SecurityGroup(GroupLive {
                description: spec.description.as_text().unwrap().to_string(),
                vpc_id: "vpc-1".into(),
            });
            st.owned.insert(
                r.id.clone(),
                Live {
                    id: r.id.clone(),
                    ..Live::new(r.name.clone(), a, detail)
                },
            );
        }
        let vals = Vals {
            plan: p,
            attrs: &attrs,
        };
        for (n, r) in p
            .resources
            .iter()
            .filter(|r| r.kind == Kind::SecurityGroupRule)
            .enumerate()
        {
            let Spec::SecurityGroupRule(spec) = &r.spec else {
                unreachable!()
            };
            let w = LiveRule::wanted(spec, &vals).unwrap();
            st.rules.push(
                LiveRule {
                    rule_id: format!("sgr-{n}"),
                    description: None,
                    ..w
                }
                .to_live(),
            );
        }
        st.rules
            .push(LiveRule::allow_all_egress("sgr-default", "sg-det-demo-master").to_live());
        st
    }

    #[test]
    fn nothing_live_means_create_everything_and_say_so_for_default_egress() {
        let p = plan("0.0.0.0/0");
        let d = diff(&p, &State::default());
        assert_eq!(d.pending(), p.len());
        assert!(d.changes.iter().all(|c| c.action == Action::Create));
        let text = d.render(&p);
        assert!(text.contains("default allow-all egress rule will be revoked"));
        assert!(text.contains(&format!("Plan: {} to add", p.len())));
    }

    #[test]
    fn matching_rules_are_unchanged_and_the_default_egress_rule_is_revoked() {
        let p = plan("0.0.0.0/0");
        let st = groups_state(&p);
        let d = diff(&p, &st);
        for c in d
            .changes
            .iter()
            .filter(|c| matches!(c.kind, Kind::SecurityGroup | Kind::SecurityGroupRule))
        {
            assert_eq!(c.action, Action::NoOp, "{}", c.id);
        }
        let revoked: Vec<String> = d
            .removals
            .iter()
            .map(|r| match r {
                Removal::Rule(r) => r.rule_id.clone(),
                Removal::Resource(l) => l.id.clone(),
            })
            .collect();
        assert_eq!(revoked, vec!["sgr-default".to_string()]);
    }

    #[test]
    fn a_changed_cidr_changes_only_those_rules() {
        let st = groups_state(&plan("0.0.0.0/0"));
        let p = plan("10.0.0.0/8");
        let d = diff(&p, &st);
        let created: Vec<&str> = d
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .map(|c| c.id.as_str())
            .filter(|id| id.starts_with("security_group"))
            .collect();
        assert_eq!(created.len(), 3, "{created:?}");
        assert!(created.iter().all(|id| id.ends_with("from-10.0.0.0/8")));
        let revoked = d
            .removals
            .iter()
            .filter(|r| matches!(r, Removal::Rule(r) if r.peer == Peer::V4("0.0.0.0/0".into()) && !r.egress))
            .count();
        assert_eq!(revoked, 3);
    }

    #[test]
    fn changed_group_description_is_a_blocked_replace() {
        let p = plan("0.0.0.0/0");
        let mut st = groups_state(&p);
        if let Some(Live {
            detail: Detail::SecurityGroup(GroupLive { description, .. }),
            ..
        }) = st.owned.get_mut("security_group.agent")
        {
            *description = "old".into();
        }
        let d = diff(&p, &st);
        assert!(
            d.blocked
                .iter()
                .any(|b| b.starts_with("security_group.agent"))
        );
    }

    #[test]
    fn policies_compare_after_normalization() {
        let a = serde_json::json!({"Statement": [{"Action": ["s3:*"], "Resource": "*"}]});
        let b = serde_json::json!({"Statement": {"Action": "s3:*", "Resource": ["*"]}});
        assert_eq!(normalize_policy(&a), normalize_policy(&b));
        let encoded = "%7B%22Statement%22%3A%7B%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        assert_eq!(decode_policy(encoded), normalize_policy(&a));
    }
}
