//! The plan as an AWS CloudFormation template (`detscript export --format cloudformation`).
//!
//! Every plan resource becomes its `AWS::*` resource; references between resources become
//! `Ref`/`Fn::GetAtt`/`Fn::Sub` so that CloudFormation orders them as the plan does (plan
//! dependencies that no reference implies become `DependsOn`). A secret parameter becomes a
//! `NoEcho` template parameter (its value never enters the template) and a parameter without
//! a value becomes a template parameter; every other script parameter is already resolved in
//! the plan. The master's user-data is the one `run` writes, as `Fn::Base64` of `Fn::Sub`
//! with the database endpoint and other values known only after deployment filled in by
//! CloudFormation.
//!
//! Each kind's mapping lives with its kind (the `CloudFormation` section at the end of
//! `kinds/<kind>.rs`, dispatched by `Spec::cfn`); this module assembles the template
//! (parameters, rules, outputs) and gives the kinds a [`Cx`] that turns typed values into
//! intrinsic functions ([`Cx::tmpl`], [`Cx::doc`]); [`master`] writes the master's
//! user-data.
//!
//! Intrinsic functions are written in their long form (`{"Ref": ...}`, `Fn::GetAtt`,
//! `Fn::Sub`), which is valid in both JSON and YAML templates.
//!
//! A plan value that has no CloudFormation equivalent here is an error naming the resource,
//! never a value silently left out.
//!
//! ```
//! use detscript_engine::{compile, cfn, CompileRequest, Mode};
//! let src = r#"
//!     deployment("demo");
//!     let sg = security_group("web", "web servers");
//!     sg.ingress(tcp(443), "0.0.0.0/0");
//! "#;
//! let out = compile(&CompileRequest::new("demo.rhai", src, Mode::Preview)).unwrap();
//! let template = cfn::export(&out.plan, &out.params).unwrap();
//! assert_eq!(template["Resources"]["SecurityGroupWeb"]["Type"], "AWS::EC2::SecurityGroup");
//! assert!(cfn::to_yaml(&template).contains("AWS::EC2::SecurityGroupIngress"));
//! ```

mod ids;
mod master;
mod params;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

pub use ids::camel;

use crate::ParamSpec;
use crate::diag::{Diagnostic, SourcePos};
use crate::plan::{Plan, Resource};
use crate::value::{Doc, Part, Ref, Tmpl};
use params::ParamUse;

/// Top-level sections in the order people expect to read them.
const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Resources",
    "Outputs",
];

/// A kind's plan attributes and CloudFormation's for them (`None`: the resource's `Ref`).
pub(crate) type CfnAttrs = &'static [(&'static str, Option<&'static str>)];

/// What a kind's mapping gives: the resource's type, properties and, for a stateful
/// resource, its `DeletionPolicy`/`UpdateReplacePolicy` (cfn-lint I3011).
pub(crate) struct Mapped {
    pub ty: &'static str,
    pub props: Map<String, Value>,
    pub keep: Option<&'static str>,
    /// Resources that come with this one (an attachment, routes): logical id suffix, the
    /// resource, and the logical ids it must wait for besides those it references.
    pub extra: Vec<(String, Mapped, Vec<String>)>,
}

impl Mapped {
    pub fn new(ty: &'static str) -> Mapped {
        Mapped {
            ty,
            props: Map::new(),
            keep: None,
            extra: Vec::new(),
        }
    }

    /// No resource in the template (an existing VPC: references to it are its id).
    pub fn none() -> Mapped {
        Mapped::new("")
    }

    /// Adds a resource that comes with this one, logical id `<this one><suffix>`.
    pub fn extra(&mut self, suffix: &str, m: Mapped, depends_on: Vec<String>) {
        self.extra.push((suffix.to_string(), m, depends_on));
    }

    /// Sets a property.
    pub fn set(&mut self, key: &str, v: Value) -> &mut Mapped {
        self.props.insert(key.into(), v);
        self
    }

    pub fn keep(mut self, policy: &'static str) -> Mapped {
        self.keep = Some(policy);
        self
    }
}

/// The plan as a CloudFormation template (a JSON value; see [`to_yaml`] and [`to_json`]).
/// `params` are the script's declared parameters (for descriptions and types of the template
/// parameters); errors name the resource they are about.
pub fn export(plan: &Plan, params: &[ParamSpec]) -> Result<Value, Vec<Diagnostic>> {
    let outputs_in = plan.output_values();
    let mut cx = Cx::new(plan, params, &outputs_in);
    let mut resources = Map::new();
    for r in &plan.resources {
        match cx.resource(r) {
            Ok(bodies) => {
                for (id, body) in bodies {
                    resources.insert(id, body);
                }
            }
            Err(m) => cx.errors.push(Diagnostic::error(
                format!("{}: cannot export to CloudFormation: {m}", r.id),
                &r.source,
            )),
        }
    }
    let outputs = cx.outputs(&outputs_in);
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }

    let mut template = Map::new();
    template.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
    template.insert(
        "Description".into(),
        json!(truncate(
            &format!(
                "Determined AI cluster '{}', generated by detscript",
                plan.deployment.name
            ),
            1024
        )),
    );
    template.insert(
        "Metadata".into(),
        json!({ "detscript": { "deployment": plan.deployment.name } }),
    );
    if let Some(ps) = cx.parameters() {
        template.insert("Parameters".into(), ps);
    }
    if let Some(region) = &plan.deployment.region {
        template.insert(
            "Rules".into(),
            json!({ "DeploymentRegion": { "Assertions": [{
                "Assert": { "Fn::Equals": [{ "Ref": "AWS::Region" }, region] },
                "AssertDescription": format!("The script deploys to {region}; create the stack in that region"),
            }]}}),
        );
    }
    template.insert("Resources".into(), Value::Object(resources));
    if !outputs.is_empty() {
        template.insert("Outputs".into(), Value::Object(outputs));
    }
    Ok(Value::Object(template))
}

/// The template as YAML, sections in the usual order, with a comment on how to deploy it.
pub fn to_yaml(template: &Value) -> String {
    let mut out = String::from(
        "# Generated by detscript (detscript export). Deploy with:\n\
         #   aws cloudformation deploy --template-file template.yaml --stack-name NAME \\\n\
         #     --capabilities CAPABILITY_NAMED_IAM --parameter-overrides NAME=VALUE ... (each of Parameters)\n",
    );
    let Some(obj) = template.as_object() else {
        out.push_str(&serde_yaml_ng::to_string(template).expect("JSON values serialize"));
        return out;
    };
    let rest = obj.keys().filter(|k| !SECTIONS.contains(&k.as_str()));
    for key in SECTIONS.iter().copied().chain(rest.map(String::as_str)) {
        if let Some(v) = obj.get(key) {
            let mut one = Map::new();
            one.insert(key.to_string(), v.clone());
            out.push_str(
                &serde_yaml_ng::to_string(&Value::Object(one)).expect("JSON values serialize"),
            );
        }
    }
    out
}

/// The template as pretty JSON (sorted keys) with a trailing newline.
pub fn to_json(template: &Value) -> String {
    let mut s = serde_json::to_string_pretty(template).expect("JSON values serialize");
    s.push('\n');
    s
}

/// The export's state, handed to each kind's mapping: logical ids, the template parameters
/// used so far and the logical ids the resource being mapped reaches through intrinsics.
pub(crate) struct Cx<'a> {
    plan: &'a Plan,
    specs: HashMap<&'a str, &'a ParamSpec>,
    /// Plan id -> logical id.
    logical: HashMap<String, String>,
    /// Parameter name -> logical id (every declared or referenced parameter).
    param_ids: HashMap<String, String>,
    /// The template parameter naming the VPC of the security groups, if there are any.
    vpc: Option<String>,
    used_params: BTreeMap<String, ParamUse>,
    /// Parameters that are a database's master password (RDS's rules apply to them).
    db_passwords: BTreeSet<String>,
    /// Parameters substituted into master.yaml (they must stay on one line).
    in_master_yaml: BTreeSet<String>,
    /// Logical ids the resource being exported reaches through Ref/GetAtt/Sub.
    implied: BTreeSet<String>,
    errors: Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    fn new(plan: &'a Plan, params: &'a [ParamSpec], outputs: &BTreeMap<String, Tmpl>) -> Self {
        let mut names: BTreeSet<String> = params.iter().map(|p| p.name.clone()).collect();
        for t in outputs.values() {
            names.extend(param_names(t).map(str::to_string));
        }
        let ids = ids::Ids::new(plan, &names);
        Cx {
            plan,
            specs: params.iter().map(|p| (p.name.as_str(), p)).collect(),
            logical: ids.resources,
            param_ids: ids.params,
            vpc: ids.vpc,
            used_params: BTreeMap::new(),
            db_passwords: BTreeSet::new(),
            in_master_yaml: BTreeSet::new(),
            implied: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    /// The template resources of a plan resource: its own and those that come with it.
    fn resource(&mut self, r: &Resource) -> Result<Vec<(String, Value)>, String> {
        self.implied.clear();
        let mut mapped = r.spec.cfn(r, self)?;
        if mapped.ty.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.logical[&r.id].clone();
        let mut out = Vec::new();
        for (suffix, m, after) in std::mem::take(&mut mapped.extra) {
            let mut body = Map::new();
            body.insert("Type".into(), json!(m.ty));
            if !after.is_empty() {
                body.insert("DependsOn".into(), json!(after));
            }
            body.insert("Properties".into(), Value::Object(m.props));
            out.push((format!("{me}{suffix}"), Value::Object(body)));
        }
        out.insert(0, (me, self.body(r, mapped)));
        Ok(out)
    }

    fn body(&mut self, r: &Resource, mapped: Mapped) -> Value {
        let mut out = Map::new();
        out.insert("Type".into(), json!(mapped.ty));
        if let Some(policy) = mapped.keep {
            out.insert("DeletionPolicy".into(), json!(policy));
            out.insert("UpdateReplacePolicy".into(), json!(policy));
        }
        let me = &self.logical[&r.id];
        let extra: Vec<String> = r
            .depends_on
            .iter()
            .filter_map(|d| self.logical.get(d))
            .filter(|l| !self.implied.contains(*l) && *l != me)
            .cloned()
            .collect();
        if !extra.is_empty() {
            out.insert("DependsOn".into(), json!(extra));
        }
        out.insert("Properties".into(), Value::Object(mapped.props));
        Value::Object(out)
    }

    fn outputs(&mut self, values: &BTreeMap<String, Tmpl>) -> Map<String, Value> {
        let mut outputs = Map::new();
        let mut output_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in values.keys() {
            output_ids
                .entry(camel(name))
                .or_default()
                .push(name.clone());
        }
        for (name, value) in values {
            // A secret never goes into an output (cfn-lint W2010).
            if value.has_secret() {
                continue;
            }
            let mut key = camel(name);
            if output_ids[&key].len() > 1 {
                key.push_str(&ids::short_hash(name));
            }
            match self.tmpl(value) {
                Ok(v) => {
                    outputs.insert(
                        key,
                        json!({ "Description": name.replace(['_', '-'], " "), "Value": v }),
                    );
                }
                Err(m) => self.errors.push(Diagnostic::error(
                    format!("output {name}: cannot export to CloudFormation: {m}"),
                    &SourcePos::default(),
                )),
            }
        }
        outputs
    }

    /// The plan being exported.
    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// The template parameter holding the VPC of the security groups.
    pub fn vpc(&self) -> Option<&str> {
        self.vpc.as_deref()
    }

    /// The logical id of the resource with plan id `id` (which the resource being mapped
    /// now reaches).
    pub fn logical_id(&mut self, id: &str) -> String {
        let logical = self.logical[id].clone();
        self.implied.insert(logical.clone());
        logical
    }

    /// `Ref` of the resource with plan id `id`, which the resource being mapped now reaches.
    pub fn ref_to(&mut self, id: &str) -> Value {
        let logical = self.logical[id].clone();
        self.implied.insert(logical.clone());
        json!({ "Ref": logical })
    }

    /// A parameter as (logical id, None): its template parameter, recorded as used.
    fn param_target(&mut self, name: &str, usage: ParamUse) -> Result<String, String> {
        let slot = self.used_params.entry(name.to_string()).or_insert(usage);
        if usage == ParamUse::Secret {
            *slot = ParamUse::Secret;
        }
        self.param_ids.get(name).cloned().ok_or_else(|| {
            format!("the parameter {name} has no template parameter (internal error)")
        })
    }

    /// A reference as (logical id, attribute); attribute `None` means `Ref`.
    fn target(&mut self, r: &Ref) -> Result<(String, Option<&'static str>), String> {
        // The account and region known after apply are CloudFormation's pseudo parameters.
        if r.resource == crate::kinds::names::PSEUDO {
            return match r.path().as_str() {
                crate::kinds::names::ACCOUNT => Ok(("AWS::AccountId".into(), None)),
                crate::kinds::names::REGION => Ok(("AWS::Region".into(), None)),
                _ => Err(format!(
                    "the reference {r} is to nothing CloudFormation knows"
                )),
            };
        }
        let res = self
            .plan
            .get(&r.resource)
            .ok_or_else(|| format!("the reference {r} is to a resource not in the plan"))?;
        let attr = res.spec.cfn_attr(&r.attr).ok_or_else(|| {
            format!(
                "the reference {r}: a {} has no attribute {:?} that CloudFormation provides",
                res.kind.as_str(),
                r.attr
            )
        })?;
        let logical = self.logical[&r.resource].clone();
        self.implied.insert(logical.clone());
        Ok((logical, attr))
    }

    /// The target of a non-text part of a template.
    fn part_target(&mut self, p: &Part) -> Result<(String, Option<&'static str>), String> {
        match p {
            Part::Ref(r) => self.target(r),
            Part::Unset(n) => Ok((self.param_target(n, ParamUse::Plain)?, None)),
            Part::Secret(n) | Part::UnsetSecret(n) => {
                Ok((self.param_target(n, ParamUse::Secret)?, None))
            }
            Part::Text(_) | Part::Ssm(_) => unreachable!("text has no target"),
        }
    }

    /// A resource's physical name: text, or `Fn::Sub` when it holds the account or region.
    pub fn name(&mut self, r: &Resource) -> Result<Value, String> {
        self.tmpl(&crate::plan::name_tmpl(&r.name))
    }

    /// A reference as `Ref` or `Fn::GetAtt`.
    pub fn reference(&mut self, r: &Ref) -> Result<Value, String> {
        Ok(intrinsic(self.target(r)?))
    }

    /// A template as a template value: literal, `Ref`, `Fn::GetAtt` or `Fn::Sub`.
    pub fn tmpl(&mut self, t: &Tmpl) -> Result<Value, String> {
        if let Some(text) = t.as_text() {
            return Ok(Value::String(text.to_string()));
        }
        // A secret's value: a dynamic reference, resolved by CloudFormation (`Ref` of a
        // secret is its ARN), so that no template parameter holds it.
        if let Some(id) = crate::kinds::secret::value_of(t) {
            let (logical, _) = self.target(&Ref::new(id, "arn"))?;
            return Ok(json!({
                "Fn::Sub": format!("{{{{resolve:secretsmanager:${{{logical}}}:SecretString}}}}")
            }));
        }
        if let Some(name) = t.as_ssm() {
            return Ok(Value::String(ssm_dynamic_ref(name)));
        }
        if let [p] = t.parts() {
            return Ok(intrinsic(self.part_target(p)?));
        }
        let mut text = String::new();
        for part in t.parts() {
            match part {
                // CloudFormation's Sub writes a literal `${` as `${!`.
                Part::Text(s) => text.push_str(&s.replace("${", "${!")),
                Part::Ssm(n) => text.push_str(&ssm_dynamic_ref(n)),
                p => {
                    let (id, attr) = self.part_target(p)?;
                    text.push_str("${");
                    text.push_str(&id);
                    if let Some(a) = attr {
                        text.push('.');
                        text.push_str(a);
                    }
                    text.push('}');
                }
            }
        }
        Ok(json!({ "Fn::Sub": text }))
    }

    /// A list of templates.
    pub fn tmpls(&mut self, ts: &[Tmpl]) -> Result<Value, String> {
        Ok(Value::Array(
            ts.iter().map(|t| self.tmpl(t)).collect::<Result<_, _>>()?,
        ))
    }

    /// A document (policy) with every string through [`Cx::tmpl`].
    pub fn doc(&mut self, d: &Doc) -> Result<Value, String> {
        Ok(match d {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::Str(t) => self.tmpl(t)?,
            Doc::Array(a) => Value::Array(a.iter().map(|x| self.doc(x)).collect::<Result<_, _>>()?),
            Doc::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.doc(x)?);
                }
                Value::Object(out)
            }
        })
    }

    /// The resource's tags as CloudFormation's `[{Key, Value}]`.
    pub fn tags(&mut self, r: &Resource) -> Result<Value, String> {
        let mut list = Vec::new();
        for (k, v) in &r.tags {
            list.push(json!({ "Key": k, "Value": self.tmpl(v)? }));
        }
        Ok(Value::Array(list))
    }

    /// A key pair name: when it is a parameter without a value, its template parameter is
    /// typed `AWS::EC2::KeyPair::KeyName`.
    pub fn key_name(&mut self, t: &Tmpl) -> Result<Value, String> {
        if let [Part::Unset(name)] = t.parts() {
            self.used_params.insert(name.clone(), ParamUse::KeyName);
        }
        self.tmpl(t)
    }

    /// A database master password: a parameter holding it gets RDS's password rules.
    pub fn db_password(&mut self, t: &Tmpl) -> Result<Value, String> {
        if t.is_empty() {
            return Err("the database has no master password".into());
        }
        for p in t.parts() {
            if let Part::Secret(n) | Part::Unset(n) | Part::UnsetSecret(n) = p {
                self.db_passwords.insert(n.clone());
            }
        }
        self.tmpl(t)
    }

    /// The user-data of the EC2 instance `r` (`fallback` when it is not the master).
    pub fn user_data(&mut self, r: &Resource, fallback: &Tmpl) -> Result<Value, String> {
        let master = self
            .plan
            .master()
            .filter(|m| r.id.strip_prefix("ec2_instance.") == Some(m.instance_name.as_str()));
        let t = match master {
            Some(m) => {
                let (t, quoted) = master::user_data(m)?;
                self.in_master_yaml.extend(quoted);
                t
            }
            None => fallback.clone(),
        };
        Ok(json!({ "Fn::Base64": self.tmpl(&t)? }))
    }
}

/// An SSM parameter's value as CloudFormation's dynamic reference, resolved by CloudFormation
/// when it creates or updates the stack (as `run` reads it when it applies).
fn ssm_dynamic_ref(name: &str) -> String {
    format!("{{{{resolve:ssm:{name}}}}}")
}

/// `Ref` or `Fn::GetAtt` of a target.
fn intrinsic(target: (String, Option<&'static str>)) -> Value {
    match target {
        (id, None) => json!({ "Ref": id }),
        (id, Some(attr)) => json!({ "Fn::GetAtt": [id, attr] }),
    }
}

/// The parameters (unset or secret) a template names.
fn param_names(t: &Tmpl) -> impl Iterator<Item = &str> {
    t.parts().iter().filter_map(|p| match p {
        Part::Unset(n) | Part::Secret(n) | Part::UnsetSecret(n) => Some(n.as_str()),
        _ => None,
    })
}

/// Kinds that need the VPC parameter.
fn needs_vpc(plan: &Plan) -> bool {
    plan.resources
        .iter()
        .any(|r| matches!(&r.spec, crate::kinds::Spec::SecurityGroup(g) if g.vpc_id.is_none()))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
