//! The diff between the plan and live state: create, update in place, replace, no-op, and
//! removal of owned resources (or security group rules) the script no longer declares.

use std::collections::{BTreeMap, BTreeSet};

use detscript_engine::refs;
use detscript_engine::{Kind, Plan, Resource};
use serde_json::Value;

use super::discover::{Detail, Live, LiveRule, Peer, State, normalize_policy};
use super::{Attrs, bool_prop, has_unresolved, int_prop, resolve_props, str_list, str_prop};

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
                    super::discover::kind_words(l.kind),
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
            "\n{add} to create, {upd} to update in place, {rep} to replace, {} to delete, {} unchanged.\n",
            self.removals.len(),
            self.unchanged()
        ));
        if self.pending() == 0 {
            out.push_str("No changes: live AWS matches the script.\n");
        }
        out
    }
}

/// A planned rule, resolved against live attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantRule {
    pub group_id: String,
    pub egress: bool,
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub peer: Peer,
    pub description: Option<String>,
}

impl WantRule {
    pub fn from_props(p: &Value) -> Option<WantRule> {
        let protocol = match str_prop(p, "protocol").unwrap_or("tcp") {
            "all" | "-1" => "-1".to_string(),
            other => other.to_string(),
        };
        let (from, to) = if protocol == "-1" {
            (-1, -1)
        } else {
            (
                int_prop(p, "from_port").unwrap_or(-1) as i32,
                int_prop(p, "to_port").unwrap_or(-1) as i32,
            )
        };
        let peer = if let Some(g) = str_prop(p, "peer_group") {
            Peer::Group(g.to_string())
        } else if let Some(c) = str_prop(p, "cidr_ipv4") {
            Peer::V4(c.to_string())
        } else if let Some(c) = str_prop(p, "cidr_ipv6") {
            Peer::V6(c.to_string())
        } else {
            return None;
        };
        Some(WantRule {
            group_id: str_prop(p, "group")?.to_string(),
            egress: str_prop(p, "direction") == Some("egress"),
            protocol,
            from,
            to,
            peer,
            description: str_prop(p, "description").map(str::to_string),
        })
    }

    pub fn matches(&self, l: &LiveRule) -> bool {
        self.group_id == l.group_id
            && self.egress == l.egress
            && self.protocol == l.protocol
            && self.peer == l.peer
            && (self.protocol == "-1" || (self.from == l.from && self.to == l.to))
    }
}

/// Compares the plan with live state.
pub fn diff(plan: &Plan, state: &State) -> Diff {
    let mut d = Diff {
        conflicts: state.conflicts.clone(),
        ..Diff::default()
    };
    // Attributes known now: those of live resources that stay (no replace).
    let mut attrs = Attrs::default();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    let mut used_rules: BTreeSet<String> = BTreeSet::new();
    for r in &plan.resources {
        let live = state.owned.get(&r.id);
        let props = resolve_props(plan, &r.properties, &attrs);
        let (action, notes) = match live {
            None => (Action::Create, create_notes(r)),
            Some(l) => (compare(plan, r, &props, l, &attrs, &replaced), Vec::new()),
        };
        if r.kind == Kind::SecurityGroupRule {
            // Rules are identified by content.
            let want = WantRule::from_props(&props);
            let hit = want.as_ref().and_then(|w| {
                state
                    .rules
                    .iter()
                    .find(|l| !used_rules.contains(&l.rule_id) && w.matches(l))
            });
            let action = match hit {
                Some(l) => {
                    used_rules.insert(l.rule_id.clone());
                    Action::NoOp
                }
                None => Action::Create,
            };
            d.changes.push(Change {
                id: r.id.clone(),
                kind: r.kind,
                action,
                notes: Vec::new(),
            });
            continue;
        }
        match &action {
            Action::Replace(why) if r.kind != Kind::Ec2Instance => d.blocked.push(format!(
                "{} would have to be replaced ({why}); detscript does not replace {}s automatically: \
run `detscript destroy` first or change it back",
                r.id,
                super::discover::kind_words(r.kind)
            )),
            _ => {}
        }
        match (&action, live) {
            (Action::Create | Action::Replace(_), _) => {
                replaced.insert(r.id.clone());
            }
            (_, Some(l)) => attrs.insert_all(&r.id, &l.attrs),
            _ => {}
        }
        d.changes.push(Change {
            id: r.id.clone(),
            kind: r.kind,
            action,
            notes,
        });
    }
    // Rules of owned groups that the script does not declare (incl. AWS's default egress).
    let replaced_groups: BTreeSet<String> = replaced
        .iter()
        .filter_map(|id| state.owned.get(id))
        .filter_map(|l| l.attrs.get("id").cloned())
        .collect();
    for rule in &state.rules {
        if !used_rules.contains(&rule.rule_id) && !replaced_groups.contains(&rule.group_id) {
            d.removals.push(Removal::Rule(rule.clone()));
        }
    }
    for (id, live) in &state.owned {
        if plan.get(id).is_none() {
            d.removals.push(Removal::Resource(live.clone()));
        }
    }
    d
}

fn create_notes(r: &Resource) -> Vec<String> {
    if r.kind == Kind::SecurityGroup {
        vec!["AWS's default allow-all egress rule will be revoked: egress rules are explicit in the script".into()]
    } else {
        Vec::new()
    }
}

fn compare(
    plan: &Plan,
    r: &Resource,
    props: &Value,
    live: &Live,
    attrs: &Attrs,
    replaced: &BTreeSet<String>,
) -> Action {
    let after_apply = r.depends_on.iter().any(|d| replaced.contains(d));
    let mut upd = Vec::new();
    match (&live.detail, r.kind) {
        (Detail::Sg { description, .. }, Kind::SecurityGroup) => {
            let want = str_prop(props, "description").unwrap_or_default();
            if want != description {
                return Action::Replace(format!(
                    "description \"{description}\" -> \"{want}\" cannot change in place"
                ));
            }
            let name = str_prop(props, "group_name").unwrap_or(&r.name);
            if name != live.name {
                return Action::Replace(format!("name {} -> {name}", live.name));
            }
        }
        (
            Detail::Role {
                assume,
                inline,
                managed,
            },
            Kind::IamRole,
        ) => {
            let want_assume = props.get("assume_role_policy").map(normalize_policy);
            if want_assume.as_ref() != Some(assume) {
                upd.push("~ assume-role policy".to_string());
            }
            let want_inline: BTreeMap<String, Value> = props
                .get("inline_policies")
                .and_then(|v| v.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), normalize_policy(v)))
                        .collect()
                })
                .unwrap_or_default();
            for (name, doc) in &want_inline {
                match inline.get(name) {
                    None => upd.push(format!("+ inline policy {name}")),
                    Some(_) if has_unresolved(doc) => {
                        upd.push(format!("~ inline policy {name} (known after apply)"))
                    }
                    Some(l) if l != doc => upd.push(format!("~ inline policy {name}")),
                    _ => {}
                }
            }
            for name in inline.keys() {
                if !want_inline.contains_key(name) {
                    upd.push(format!("- inline policy {name}"));
                }
            }
            let want_managed: BTreeSet<String> =
                str_list(props, "managed_policies").into_iter().collect();
            let have: BTreeSet<String> = managed.iter().cloned().collect();
            for m in want_managed.difference(&have) {
                upd.push(format!("+ managed policy {m}"));
            }
            for m in have.difference(&want_managed) {
                upd.push(format!("- managed policy {m}"));
            }
        }
        (Detail::Profile { roles }, Kind::InstanceProfile) => {
            let want = str_prop(props, "role").unwrap_or_default().to_string();
            if roles.as_slice() != [want.clone()] {
                upd.push(format!("~ role [{}] -> {want}", roles.join(", ")));
            }
        }
        (
            Detail::Bucket {
                block_public_access,
                encryption,
                versioning,
            },
            Kind::S3Bucket,
        ) => {
            if bool_prop(props, "block_public_access") && !block_public_access {
                upd.push("~ block all public access".into());
            }
            let want_enc = str_prop(props, "encryption").map(str::to_string);
            if want_enc.is_some() && &want_enc != encryption {
                upd.push(format!(
                    "~ default encryption {} -> {}",
                    encryption.as_deref().unwrap_or("none"),
                    want_enc.as_deref().unwrap_or("none")
                ));
            }
            let want_ver = bool_prop(props, "versioning");
            if want_ver != *versioning && (want_ver || *versioning) {
                upd.push(format!(
                    "~ versioning {}",
                    if want_ver { "enabled" } else { "suspended" }
                ));
            }
        }
        (
            Detail::Cluster {
                engine,
                engine_version,
                database_name,
                sgs,
                ..
            },
            Kind::RdsCluster,
        ) => {
            let want_engine = str_prop(props, "engine").unwrap_or_default();
            if want_engine != engine {
                return Action::Replace(format!("engine {engine} -> {want_engine}"));
            }
            if let Some(db) = str_prop(props, "database_name") {
                if database_name.as_deref() != Some(db) {
                    return Action::Replace(format!(
                        "database name {} -> {db}",
                        database_name.as_deref().unwrap_or("none")
                    ));
                }
            }
            if let Some(v) = str_prop(props, "engine_version") {
                if engine_version.as_deref().is_some_and(|l| !l.starts_with(v)) {
                    upd.push(format!(
                        "~ engine version {} -> {v}",
                        engine_version.as_deref().unwrap_or("")
                    ));
                }
            }
            diff_sgs(props, sgs, after_apply, &mut upd);
        }
        (
            Detail::DbInstance {
                engine,
                class,
                cluster,
                sgs,
                ..
            },
            Kind::RdsInstance,
        ) => {
            let want_engine = str_prop(props, "engine").unwrap_or_default();
            if want_engine != engine {
                return Action::Replace(format!("engine {engine} -> {want_engine}"));
            }
            if let Some(cl) = str_prop(props, "cluster") {
                if !refs::has_refs(cl) && cluster.as_deref() != Some(cl) {
                    return Action::Replace(format!(
                        "cluster {} -> {cl}",
                        cluster.as_deref().unwrap_or("none")
                    ));
                }
            } else {
                diff_sgs(props, sgs, after_apply, &mut upd);
            }
            let want_class = str_prop(props, "instance_class").unwrap_or_default();
            if want_class != class {
                upd.push(format!("~ instance class {class} -> {want_class}"));
            }
        }
        (
            Detail::Instance {
                instance_type,
                image_id,
                key_name,
                sgs,
                profile_arn,
                user_data,
                ..
            },
            Kind::Ec2Instance,
        ) => {
            let t = str_prop(props, "instance_type").unwrap_or_default();
            if t != instance_type {
                return Action::Replace(format!("instance type {instance_type} -> {t}"));
            }
            let img = str_prop(props, "image_id").unwrap_or_default();
            if img != image_id {
                return Action::Replace(format!("image {image_id} -> {img}"));
            }
            let key = str_prop(props, "key_name").map(str::to_string);
            if &key != key_name {
                return Action::Replace(format!(
                    "key pair {} -> {}",
                    key_name.as_deref().unwrap_or("none"),
                    key.as_deref().unwrap_or("none")
                ));
            }
            let want_profile = str_prop(props, "iam_instance_profile");
            if let Some(p) = want_profile {
                if refs::has_refs(p) {
                    return Action::Replace("instance profile is being created".into());
                }
                if profile_arn.as_deref() != Some(p) {
                    return Action::Replace("instance profile changed".into());
                }
            }
            let lookup = |p: &str| attrs.get(p);
            let want_ud = plan
                .resolved_master_files(&lookup)
                .map(|(_, ud)| ud)
                .or_else(|| str_prop(props, "user_data").map(str::to_string));
            if let Some(ud) = want_ud {
                if refs::has_refs(&ud) || after_apply {
                    return Action::Replace("user-data depends on values known after apply".into());
                }
                if user_data.as_deref() != Some(ud.as_str()) {
                    return Action::Replace(
                        "user-data (master.yaml) changed; it only runs at first boot".into(),
                    );
                }
            }
            diff_sgs(props, sgs, after_apply, &mut upd);
        }
        _ => return Action::Replace("kind changed".into()),
    }
    if upd.is_empty() {
        Action::NoOp
    } else {
        Action::Update(upd)
    }
}

fn diff_sgs(props: &Value, live: &[String], after_apply: bool, upd: &mut Vec<String>) {
    let want: BTreeSet<String> = str_list(props, "vpc_security_group_ids")
        .into_iter()
        .chain(str_list(props, "security_group_ids"))
        .collect();
    if want.is_empty() {
        return;
    }
    let have: BTreeSet<String> = live.iter().cloned().collect();
    if after_apply || want.iter().any(|s| refs::has_refs(s)) {
        upd.push("~ security groups (known after apply)".into());
    } else if want != have {
        upd.push(format!(
            "~ security groups [{}] -> [{}]",
            have.into_iter().collect::<Vec<_>>().join(", "),
            want.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use detscript_engine::{CompileRequest, Mode, ParamInput, compile};

    use super::*;
    use crate::aws::discover::{Detail, Live, LiveRule, Peer, State, decode_policy};

    fn plan(inbound: &str) -> Plan {
        let src = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/deploy.rhai"
        ))
        .expect("script");
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
            let gid = format!("sg-{}", r.name);
            let a: BTreeMap<String, String> = [("id".to_string(), gid)].into_iter().collect();
            attrs.insert_all(&r.id, &a);
            st.owned.insert(
                r.id.clone(),
                Live {
                    id: r.id.clone(),
                    kind: Kind::SecurityGroup,
                    name: r.name.clone(),
                    attrs: a,
                    detail: Detail::Sg {
                        description: r.properties["description"].as_str().unwrap().to_string(),
                        vpc_id: "vpc-1".into(),
                    },
                },
            );
        }
        for (n, r) in p
            .resources
            .iter()
            .filter(|r| r.kind == Kind::SecurityGroupRule)
            .enumerate()
        {
            let props = resolve_props(p, &r.properties, &attrs);
            let w = WantRule::from_props(&props).unwrap();
            st.rules.push(LiveRule {
                rule_id: format!("sgr-{n}"),
                group_id: w.group_id,
                egress: w.egress,
                protocol: w.protocol,
                from: w.from,
                to: w.to,
                peer: w.peer,
                description: None,
            });
        }
        st.rules.push(LiveRule {
            rule_id: "sgr-default".into(),
            group_id: "sg-det-demo-master".into(),
            egress: true,
            protocol: "-1".into(),
            from: -1,
            to: -1,
            peer: Peer::V4("0.0.0.0/0".into()),
            description: None,
        });
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
        assert!(text.contains(&format!("{} to create", p.len())));
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
            detail: Detail::Sg { description, .. },
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
