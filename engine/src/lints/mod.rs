//! The built-in rules of [`crate::lint`] as pure functions of a finished [`Plan`]: what they
//! read is the typed resource model ([`crate::kinds`]), the master's files
//! ([`Plan::master`]), the plan's secrets and, for positions, [`crate::plan::Origin`]. The
//! script layer adds `allow(...)` and the script's `policy(...)` functions on top.
//!
//! Each area file holds its rules, one function per rule (or per small group of exclusive
//! rules), and next to them the script that triggers each one (its `TRIGGERS`).

mod database;
mod determined;
mod iam;
mod instance;
mod network;
mod vpc;

use crate::diag::{Diagnostic, Severity, SourcePos};
use crate::kinds::{Ec2InstanceSpec, Spec};
use crate::lint::rule;
use crate::plan::{MasterFiles, Plan, Resource};
use crate::value::Tmpl;

/// A check over the whole plan: the findings of one area, in report order.
pub type Check = fn(&Plan) -> Vec<Diagnostic>;

/// Every built-in check, in the order findings are reported.
pub const CHECKS: &[Check] = &[
    network::check,
    vpc::check,
    iam::check,
    instance::check,
    database::check,
    determined::check,
];

/// The built-in rules' findings over a plan.
pub fn check(plan: &Plan) -> Vec<Diagnostic> {
    CHECKS.iter().flat_map(|c| c(plan)).collect()
}

/// A finding of rule `id`, with the severity of the rule table.
pub(crate) fn finding(
    id: &str,
    message: String,
    fix: impl Into<String>,
    pos: &SourcePos,
) -> Diagnostic {
    let severity = rule(id).map(|r| r.severity).unwrap_or(Severity::Warning);
    Diagnostic::finding(severity, id, message, fix, pos)
}

/// The findings of `rules` over `items`: item by item, rule by rule.
pub(crate) fn each<T, R: Fn(&T) -> Option<Diagnostic>>(
    items: &[T],
    rules: &[R],
) -> Vec<Diagnostic> {
    items
        .iter()
        .flat_map(|item| rules.iter().filter_map(move |rule| rule(item)))
        .collect()
}

/// Where `field` of a resource was set, else where the resource was declared.
pub(crate) fn pos_of(r: &Resource, field: &str) -> SourcePos {
    r.origin
        .field_pos
        .get(field)
        .cloned()
        .unwrap_or_else(|| r.source.clone())
}

/// The master: its files (master.yaml, port, TLS) and its instance.
pub(crate) struct Master<'a> {
    pub files: &'a MasterFiles,
    pub res: &'a Resource,
    pub spec: &'a Ec2InstanceSpec,
}

impl<'a> Master<'a> {
    pub fn of(plan: &'a Plan) -> Option<Master<'a>> {
        let files = plan.master()?;
        let res = plan.get(&format!("ec2_instance.{}", files.instance_name))?;
        match &res.spec {
            Spec::Ec2Instance(spec) => Some(Master { files, res, spec }),
            _ => None,
        }
    }

    /// Where `field` of the master instance was set.
    pub fn pos(&self, field: &str) -> SourcePos {
        pos_of(self.res, field)
    }

    /// Where `field` of the `aws_pool` named `pool` was set, else where the pool was declared;
    /// unknown for a pool written into master.yaml directly.
    pub fn pool_pos(&self, pool: &str, field: &str) -> SourcePos {
        let at = &self.res.origin.field_pos;
        at.get(&format!("pool.{field}:{pool}"))
            .or_else(|| at.get(&format!("pool:{pool}")))
            .cloned()
            .unwrap_or_default()
    }
}

/// A string of the master's config as a template (its references are engine markers).
pub(crate) fn config_text(s: &str) -> Tmpl {
    Tmpl::from_marked(s)
}

#[cfg(test)]
pub(crate) mod testing {
    //! The clean cluster every rule's trigger starts from, and how a trigger is checked.

    use crate::{CompileRequest, Mode, Plan, compile};

    /// A clean cluster; each trigger changes one line to trigger one rule.
    pub const CLEAN: &str = r#"let p = params(#{ pw: #{ secret: true, default: "Clean-password-1" } });
deployment("lint");
let bucket = s3_bucket("ckpt");
let m = security_group("master", "M");
let a = security_group("agent", "A");
m.ingress(tcp(8080), a);
m.ingress(tcp(8080), "10.0.0.0/16");
m.ingress(tcp(22), "10.0.0.0/16");
a.ingress(all_tcp(), m);
let ar = iam_role("agent").assumed_by("ec2.amazonaws.com").allow("s3", ["s3:GetObject"], [bucket.arn + "/*"]);
let mr = iam_role("master").assumed_by("ec2.amazonaws.com").allow("pass", "iam:PassRole", ar.arn).allow("ec2", "ec2:RunInstances", "*");
let db = database("db").engine("aurora-postgresql", "16.4").master_user("postgres", secret("db-pw", p.pw)).allow_from(m);
let pool = aws_pool("default").instance_type("g5.xlarge").image_id("ami-0123456789abcdef0").ssh_key_name("k")
    .iam_instance_profile(instance_profile(ar)).security_group(a).tag("det-lint", "det-lint-agent");
let c = master_config().checkpoint_storage(s3_checkpoints(bucket)).db(db).resource_pool(pool).set("security", #{ initial_user_password: secret("admin") });
master_instance("master").instance_type("m6i.xlarge").image_id("ami-0123456789abcdef0")
    .master_image("img:1").security_group(m).instance_profile(instance_profile(mr)).config(c);
"#;

    /// A one-line change of [`CLEAN`] that makes rule `id` report at `line`.
    pub struct Trigger {
        pub from: &'static str,
        pub to: &'static str,
        pub id: &'static str,
        pub line: u32,
    }

    pub const fn trigger(
        from: &'static str,
        to: &'static str,
        id: &'static str,
        line: u32,
    ) -> Trigger {
        Trigger { from, to, id, line }
    }

    pub fn change(from: &str, to: &str) -> String {
        assert!(CLEAN.contains(from), "{from}");
        CLEAN.replacen(from, to, 1)
    }

    fn run(src: &str) -> Result<crate::Compiled, crate::Failure> {
        compile(&CompileRequest::new("t.rhai", src, Mode::Preview))
    }

    /// The (id, line) of each finding.
    fn codes(diags: Vec<crate::Diagnostic>) -> Vec<(String, u32)> {
        diags
            .into_iter()
            .filter_map(|d| d.code.map(|c| (c, d.line)))
            .collect()
    }

    /// The (id, line) of every finding of a script, through the whole compile.
    pub fn findings(src: &str) -> Vec<(String, u32)> {
        codes(match run(src) {
            Ok(c) => c.diagnostics,
            Err(f) => f.diagnostics,
        })
    }

    /// Asserts that `got` has the trigger's finding.
    pub fn assert_reported(t: &Trigger, got: &[(String, u32)]) {
        assert!(
            got.contains(&(t.id.to_string(), t.line)),
            "{} at line {} expected after {:?}, got {got:?}",
            t.id,
            t.line,
            t.to
        );
    }

    /// The plan of a trigger's script, its finding allowed so that an error still plans.
    fn plan(t: &Trigger) -> Plan {
        let src = format!(
            "{}allow({:?}, \"under test\");\n",
            change(t.from, t.to),
            t.id
        );
        match run(&src) {
            Ok(c) => c.plan,
            Err(f) => panic!("{} does not plan: {:#?}", t.to, f.diagnostics),
        }
    }

    /// Each trigger makes `check` report its rule at its line, and the clean plan has no
    /// finding of `check`.
    pub fn assert_triggers(check: super::Check, triggers: &[Trigger]) {
        let clean = run(CLEAN).expect("the clean cluster plans").plan;
        assert_eq!(check(&clean), vec![]);
        for t in triggers {
            assert_reported(t, &codes(check(&plan(t))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{
        CLEAN, Trigger, assert_reported, assert_triggers, change, findings, trigger,
    };
    use super::{CHECKS, Check, database, determined, iam, instance, network, vpc};

    /// Each area's check and the triggers of its rules, in [`CHECKS`] order.
    const AREAS: &[(Check, &[Trigger])] = &[
        (network::check, network::TRIGGERS),
        (vpc::check, vpc::TRIGGERS),
        (iam::check, iam::TRIGGERS),
        (instance::check, instance::TRIGGERS),
        (database::check, database::TRIGGERS),
        (determined::check, determined::TRIGGERS),
    ];

    /// Rules reported where the script layer builds the plan: bucket names, master.yaml.
    const BUILD_TRIGGERS: &[Trigger] = &[
        trigger("deployment(\"lint\");", "deployment(\"Lint\");", "DS017", 3),
        trigger(
            "instance_type(\"g5.xlarge\")",
            "instance_type(\"g6.xlarge\")",
            "DS018",
            13,
        ),
    ];

    #[test]
    fn the_clean_cluster_has_no_findings() {
        assert_eq!(findings(CLEAN), vec![]);
    }

    /// Each area's own check reports each of its triggers at its line, and nothing on the
    /// clean cluster.
    #[test]
    fn each_area_reports_its_triggers() {
        assert_eq!(AREAS.len(), CHECKS.len(), "an area without its triggers");
        for (check, triggers) in AREAS {
            assert_triggers(*check, triggers);
        }
    }

    /// Every trigger, through the whole compile (the rules, allow, and the report).
    #[test]
    fn each_rule_triggers_at_its_line() {
        let areas = AREAS.iter().flat_map(|(_, ts)| ts.iter());
        for t in areas.chain(BUILD_TRIGGERS) {
            assert_reported(t, &findings(&change(t.from, t.to)));
        }
    }
}
