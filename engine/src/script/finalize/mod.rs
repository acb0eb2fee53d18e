//! After the script ran: materialize databases and the master, check the master config,
//! name every resource, derive dependencies from references and order the plan.

mod config;
mod master;
mod secrets;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::database;
use super::{Decl, State};
use crate::diag::{Diagnostic, SourcePos};
use crate::kinds::{self, Spec};
use crate::plan::{DeploymentInfo, Kind, Links, MasterFiles, Origin, Plan, Resource, Tags};
use crate::value::Tmpl;
use crate::{FastMap, refs};

use super::deployment::DeploymentDecl;

pub(crate) fn finish(st: &mut State) -> Result<Plan, Vec<Diagnostic>> {
    let mut errors = std::mem::take(&mut st.late_errors);
    let Some(dep) = st.deployment.clone() else {
        let pos = SourcePos {
            file: st.main_file.clone(),
            line: 1,
            column: 1,
        };
        errors.push(Diagnostic::error(
            "the script never calls deployment(name): it names every AWS resource and tags it as owned",
            &pos,
        ).with_note("add a line such as: deployment(p.cluster_id);"));
        return Err(errors);
    };
    let mut aliases: HashMap<String, String> = HashMap::new();
    for db in st.databases.iter_mut() {
        db.fill_defaults();
    }
    let first_added = st.decls.len();
    for db in st.databases.clone() {
        let (alias, real) = database::materialize(&db, &mut st.decls, &mut errors);
        aliases.insert(alias, real);
    }
    index_databases(st, first_added);
    let configs = config::build_configs(st, &mut errors);
    let mut master_files = None;
    if let Some(m) = st.masters.first().cloned() {
        master_files = master::build_master(st, &m, &configs, &dep.name, &mut errors);
    }
    warn_unattached(st);
    super::network::finish(st, &mut errors);
    let physical = physical_names(st, &dep, &mut errors);
    secrets::check_uses(st, master_files.as_ref(), &mut errors);
    secrets::grant_master(st, master_files.as_ref());
    kinds::log_group::iam::grant(st);
    if !errors.is_empty() {
        return Err(errors);
    }
    let by_id = std::mem::take(&mut st.by_id);
    let texts = Lookups::new(&dep, &aliases, &by_id, &physical).master_texts(st, &mut master_files);
    let (resources, links) = build_resources(st, &dep, &aliases, &by_id, &physical, &mut errors);
    st.by_id = by_id;
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut outputs = kinds::Outputs::new();
    for r in &resources {
        let short = r.id.split_once('.').map(|(_, n)| n).unwrap_or(&r.id);
        r.spec.outputs(&r.id, short, &mut outputs);
    }
    if let Some(mf) = master_files.as_ref() {
        kinds::ec2_instance::master_outputs(mf, &mut outputs);
    }
    let mut files = BTreeMap::new();
    if let Some((yaml, user_data)) = texts {
        files.insert("master.yaml".to_string(), yaml);
        files.insert("user-data".to_string(), user_data);
    }
    let deployment = DeploymentInfo {
        name: dep.name.clone(),
        region: dep.region.clone(),
        tags: typed_tags(&dep.tags).collect(),
        legacy_names: dep.legacy_names,
    };
    let typed = |m: BTreeMap<String, String>| -> BTreeMap<String, crate::value::Tmpl> {
        m.into_iter()
            .map(|(k, v)| (k, crate::value::Tmpl::from_marked(&v)))
            .collect()
    };
    let outputs = outputs.into_map();
    let mut plan = assemble(deployment, resources, links, outputs, typed(files), st)?;
    plan.master = master_files;
    Ok(plan)
}

/// Indexes the materialized databases by their ids (a placeholder `database.NAME` became a
/// cluster or an instance, and an Aurora cluster got its writer, declared from `first_added`
/// on), so that `by_id` holds exactly the ids of `decls`.
fn index_databases(st: &mut State, first_added: usize) {
    for db in &st.databases {
        st.by_id.remove(&format!("database.{}", db.name));
    }
    let changed: Vec<usize> = (st.databases.iter().map(|db| db.decl))
        .chain(first_added..st.decls.len())
        .collect();
    for i in changed {
        st.by_id.insert(st.decls[i].id.clone(), i);
    }
}

fn warn_unattached(st: &mut State) {
    for (i, c) in st.configs.iter().enumerate() {
        if !c.used && st.masters.first().and_then(|m| m.config) != Some(i) {
            st.warnings.push(Diagnostic::warning(
                "this master_config is never given to a master_instance(...).config(...), so it is not deployed",
                &c.pos,
            ));
        }
    }
    for p in &st.pools {
        if p.attached_to.is_none() {
            st.warnings.push(Diagnostic::warning(
                format!(
                    "aws_pool '{}' is never added to a master_config with .resource_pool(...)",
                    p.name
                ),
                &p.pos,
            ));
        }
    }
}

/// Names every resource in AWS (the kind's rule) and checks what AWS would refuse: the
/// name of each declaration, by index (none for one without a spec).
fn physical_names(
    st: &mut State,
    dep: &DeploymentDecl,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Option<String>> {
    let mut physical = Vec::with_capacity(st.decls.len());
    let scope = dep.scope();
    for d in &mut st.decls {
        let Some(spec) = d.spec.as_mut().filter(|_| !d.pending) else {
            physical.push(None);
            continue;
        };
        let short = super::name_in(&d.id);
        let name = match spec.assign_name(kinds::physical_name(d.kind, &scope, short)) {
            Ok(name) => name,
            Err(e) => {
                let mut diag = Diagnostic::error(
                    format!("{} '{short}': {}", d.kind.as_str(), e.message),
                    &d.pos,
                );
                if let Some(code) = e.code {
                    diag = diag.with_code(code);
                }
                if let Some(note) = e.note {
                    diag = diag.with_note(note);
                }
                errors.push(diag);
                kinds::physical_name(d.kind, &scope, short)
            }
        };
        physical.push(Some(name));
    }
    physical
}

/// How references are rewritten once every resource is named: a database alias becomes its
/// real resource, and names and bucket ARNs (known before apply) become text.
struct Lookups<'a> {
    aliases: &'a HashMap<String, String>,
    /// Declarations by id and their names by index ([`physical_names`]).
    by_id: &'a FastMap<String, usize>,
    physical: &'a [Option<String>],
    partition: &'static str,
}

impl<'a> Lookups<'a> {
    fn new(
        dep: &DeploymentDecl,
        aliases: &'a HashMap<String, String>,
        by_id: &'a FastMap<String, usize>,
        physical: &'a [Option<String>],
    ) -> Self {
        Lookups {
            aliases,
            by_id,
            physical,
            partition: kinds::partition(dep.region.as_deref()),
        }
    }

    fn alias(&self, p: &str) -> Option<String> {
        let (head, rest) = p.split_once('.')?;
        if head != "database" {
            return None;
        }
        let (name, attr) = rest.rsplit_once('.')?;
        self.aliases
            .get(&format!("database.{name}"))
            .map(|real| refs::reference(&format!("{real}.{attr}")))
    }

    fn known(&self, p: &str) -> Option<String> {
        let (id, attr) = p.rsplit_once('.')?;
        // The attribute first: most references (`.id`, `.arn` of all but buckets) are known
        // only after apply, and need no lookup.
        let arn = match attr {
            "name" => false,
            "arn" if id.starts_with("s3_bucket.") => true,
            _ => return None,
        };
        let name = self.physical.get(*self.by_id.get(id)?)?.as_ref()?;
        Some(if arn {
            kinds::s3_bucket::arn(self.partition, name)
        } else {
            name.clone()
        })
    }

    /// True when `s` holds a reference that [`Lookups::alias`] or [`Lookups::known`] rewrites.
    fn rewrites(&self, s: &str) -> bool {
        refs::paths(s).any(|p| self.alias(p).is_some() || self.known(p).is_some())
    }

    fn fix(&self, s: &str) -> String {
        refs::substitute(&refs::substitute(s, &|p| self.alias(p)), &|p| self.known(p))
    }

    /// The master's files, rendered once: the instance's user_data and the plan's files.
    fn master_texts(
        &self,
        st: &mut State,
        master_files: &mut Option<MasterFiles>,
    ) -> Option<(String, String)> {
        let mf = master_files.as_mut()?;
        let mut cfg = mf.config.clone();
        config::map_config_strings(&mut cfg, &|s| self.fix(s));
        mf.config = cfg;
        let user_data = mf.render_user_data(&|_| None, true);
        if let Some(m) = st.masters.first() {
            st.decls[m.decl].edit(|i: &mut kinds::Ec2InstanceSpec| {
                i.user_data = Tmpl::from_marked(&user_data);
            });
        }
        Some((mf.render_yaml(&|_| None, true), user_data))
    }
}

/// The plan's resources: references rewritten, dependencies derived from them, tags and
/// the typed spec of each; with them, the plan's graph, taken while the resource is at hand.
fn build_resources(
    st: &mut State,
    dep: &DeploymentDecl,
    aliases: &HashMap<String, String>,
    ids: &FastMap<String, usize>,
    physical: &[Option<String>],
    errors: &mut Vec<Diagnostic>,
) -> (Vec<Resource>, Links) {
    let look = Lookups::new(dep, aliases, ids, physical);
    let writers = writers(&st.decls);
    let databases: FastMap<usize, &database::DbDecl> =
        st.databases.iter().map(|db| (db.decl, db)).collect();
    let mut resources = Vec::with_capacity(st.decls.len());
    // The declaration indices of a resource's dependencies (one vector for all).
    let mut found = Vec::new();
    let mut links = Links {
        hashes: Vec::with_capacity(st.decls.len()),
        edges: Vec::with_capacity(st.decls.len()),
    };
    for (i, d) in std::mem::take(&mut st.decls).into_iter().enumerate() {
        let Decl {
            id,
            kind,
            spec,
            pos,
            tags: extra_tags,
            field_pos,
            ..
        } = d;
        // A spec with no reference to rewrite and only references into the plan stays as it
        // is; the others are rewritten through their JSON.
        let (rewrites, ssm) = (Cell::new(false), Cell::new(false));
        let plain = spec
            .as_ref()
            .map(|s| {
                let strings = |f: &mut dyn FnMut(&str)| {
                    s.each_marked(&mut |m| {
                        rewrites.set(rewrites.get() || look.rewrites(m));
                        ssm.set(ssm.get() || reads_ssm(m));
                        f(m)
                    })
                };
                dependencies(&id, &strings, ids, &writers, &mut found)
            })
            .filter(|(_, unknown)| unknown.is_empty() && !rewrites.get() && !always_rewrite());
        // A spec taken the slow way is looked at again for SSM parameters.
        let (spec, deps) = match (spec, plain) {
            (Some(spec), Some((deps, _))) => (spec, deps),
            (spec, _) => {
                let rewritten = Rewrite {
                    look: &look,
                    ids,
                    writers: &writers,
                };
                ssm.set(true);
                match rewritten.spec(kind, spec, &id, &pos, errors, &mut found) {
                    Some(done) => done,
                    None => continue,
                }
            }
        };
        let name = physical.get(i).cloned().flatten().unwrap_or_default();
        // Exactly the room the tags take (a resource has about three: one entry more is 48
        // bytes of each resource of a large plan).
        let (named, global) = (kinds::has_name_tag(kind), kinds::is_global(kind));
        let room = dep.tags.len() + extra_tags.len() + 2 + usize::from(named) + usize::from(global);
        let mut tags = Tags::with_capacity(room);
        tags.extend(typed_tags(&dep.tags));
        tags.extend(typed_tags(&extra_tags));
        if named {
            tags.insert("Name".into(), Tmpl::from_marked(&name));
        }
        tags.insert(kinds::TAG_DEPLOYMENT.into(), Tmpl::text(dep.name.clone()));
        tags.insert(kinds::TAG_ID.into(), Tmpl::text(id.clone()));
        if global {
            tags.insert(
                kinds::TAG_REGION.into(),
                Tmpl::from_marked(&dep.scope().region),
            );
        }
        // The plan shows a name known only after apply as `${aws.account_id}`.
        let name = if refs::has_refs(&name) {
            refs::display(&name, refs::Style::Template)
        } else {
            name
        };
        if let Some(name) = misplaced_ssm(&spec, ssm.get(), &tags) {
            errors.push(Diagnostic::error(
                format!(
                    "{id} reads the SSM parameter {name} outside the master's image_id: \
ubuntu_ami() and ssm_parameter(..) are for master_instance(..).image_id(..) only"
                ),
                &pos,
            ));
        }
        // Declaration indices are the resources' (a resource left out is an error, and then
        // there is no plan).
        links.edges.extend(found.iter().map(|&j| (j, i)));
        links.hashes.push(crate::plan::id_hash(&id));
        resources.push(Resource {
            id,
            kind,
            name,
            spec,
            tags,
            depends_on: deps,
            source: pos,
            origin: origin(st, i, field_pos, databases.get(&i).copied()),
        });
    }
    (resources, links)
}

#[cfg(test)]
thread_local! {
    /// Set by a test to take every spec the slow way, and compare the plans of both ways.
    pub(crate) static ALWAYS_REWRITE: Cell<bool> = const { Cell::new(false) };
}

#[cfg(test)]
fn always_rewrite() -> bool {
    ALWAYS_REWRITE.with(Cell::get)
}

#[cfg(not(test))]
fn always_rewrite() -> bool {
    false
}

/// The slow way of [`build_resources`]: a spec whose references are rewritten (a database
/// alias, a name known before apply) or point outside the plan, through its marked JSON.
struct Rewrite<'a> {
    look: &'a Lookups<'a>,
    ids: &'a FastMap<String, usize>,
    writers: &'a FastMap<String, String>,
}

impl Rewrite<'_> {
    /// The rewritten spec and its dependencies; `None` after an error about the spec.
    fn spec(
        &self,
        kind: Kind,
        spec: Option<Spec>,
        id: &str,
        pos: &SourcePos,
        errors: &mut Vec<Diagnostic>,
        found: &mut Vec<usize>,
    ) -> Option<(Spec, Vec<String>)> {
        // References are rewritten on the marked form, within this function only.
        let mut props = Value::Object(spec.map(|s| s.to_marked_json()).unwrap_or_default());
        if !self.look.aliases.is_empty() {
            refs::map_strings(&mut props, &mut |s| {
                if refs::has_refs(s) {
                    *s = refs::substitute(s, &|p| self.look.alias(p));
                }
            });
        }
        let visit = |f: &mut dyn FnMut(&str)| refs::visit_strings(&props, f);
        let (deps, unknown) = dependencies(id, &visit, self.ids, self.writers, found);
        for path in unknown {
            errors.push(Diagnostic::error(
                format!("{id} refers to {path}, which is not in this plan"),
                pos,
            ));
        }
        refs::map_strings(&mut props, &mut |s| {
            if refs::has_refs(s) {
                *s = refs::substitute(s, &|p| self.look.known(p));
            }
        });
        let Value::Object(properties) = props else {
            unreachable!("props stay an object")
        };
        match Spec::from_marked(kind, &properties) {
            Ok(spec) => Some((spec, deps)),
            Err(e) => {
                errors.push(Diagnostic::error(
                    format!("internal error: {id} does not fit its kind's model: {e}"),
                    pos,
                ));
                None
            }
        }
    }
}

/// An SSM parameter the resource reads anywhere but as the whole image_id of an EC2
/// instance: its value is text from outside the script, never quoted for a shell or checked
/// like script text, so it may only be an AMI id.
/// `spec_reads_ssm` false: the spec is known to read none.
fn misplaced_ssm(spec: &Spec, spec_reads_ssm: bool, tags: &Tags) -> Option<String> {
    let in_tags = tags.values().flat_map(|t| t.ssm_parameters());
    if !spec_reads_ssm {
        return in_tags.map(str::to_string).next();
    }
    let mut rest = spec.clone();
    if let Spec::Ec2Instance(i) = &mut rest {
        if i.image_id.as_ssm().is_some() {
            i.image_id = Tmpl::default();
        }
    }
    rest.ssm_parameters()
        .into_iter()
        .chain(in_tags.map(str::to_string))
        .next()
}

/// True when the marked string `s` reads an SSM parameter.
fn reads_ssm(s: &str) -> bool {
    refs::paths(s).any(|p| p.starts_with(refs::SSM))
}

/// Tags as templates (a deployment tag may hold an unset parameter in a preview).
fn typed_tags(tags: &BTreeMap<String, String>) -> impl Iterator<Item = (String, Tmpl)> + '_ {
    tags.iter().map(|(k, v)| (k.clone(), Tmpl::from_marked(v)))
}

/// Aurora cluster id → its writer instance's id.
fn writers(decls: &[Decl]) -> FastMap<String, String> {
    decls
        .iter()
        .filter(|d| d.kind == Kind::RdsInstance && !d.pending)
        .filter_map(|d| match &d.spec {
            Some(Spec::RdsInstance(i)) => Some((i.cluster.clone()?.resource, d.id.clone())),
            _ => None,
        })
        .collect()
}

/// Visits strings: calls its argument with each one.
type Strings<'a> = dyn Fn(&mut dyn FnMut(&str)) + 'a;

/// The resources the strings `strings` visits refer to (sorted, once each), and the
/// references to nothing in the plan. `found` is set to the declaration indices of the
/// former (once each).
fn dependencies(
    id: &str,
    strings: &Strings,
    ids: &FastMap<String, usize>,
    writers: &FastMap<String, String>,
    found: &mut Vec<usize>,
) -> (Vec<String>, Vec<String>) {
    // A vector sorted once: a set would allocate a tree node for each resource.
    let mut deps = Vec::new();
    let mut unknown = Vec::new();
    found.clear();
    strings(&mut |s| {
        for path in refs::paths(s) {
            if refs::is_external(path) || refs::resource_of(path) == kinds::names::PSEUDO {
                continue;
            }
            let target = refs::resource_of(path);
            if target == id {
                continue;
            }
            if let Some(&j) = ids.get(target) {
                deps.push(target.to_string());
                found.push(j);
                // Whoever uses a cluster's endpoint needs its writer instance too.
                if let Some(writer) = writers.get(target) {
                    if writer != id {
                        deps.push(writer.clone());
                        found.extend(ids.get(writer));
                    }
                }
            } else {
                unknown.push(path.to_string());
            }
        }
    });
    deps.sort_unstable();
    deps.dedup();
    found.sort_unstable();
    found.dedup();
    (deps, unknown)
}

/// Orders the resources into a plan; a cycle is an error naming every resource in it.
fn assemble(
    deployment: DeploymentInfo,
    resources: Vec<Resource>,
    links: Links,
    outputs: BTreeMap<String, crate::value::Tmpl>,
    files: BTreeMap<String, crate::value::Tmpl>,
    st: &State,
) -> Result<Plan, Vec<Diagnostic>> {
    Plan::new(deployment, resources, links, outputs, files, st.params.secrets.clone()).map_err(|cycle| {
        let pos = cycle.sources.first().cloned().unwrap_or_default();
        let mut d = Diagnostic::error(format!("dependency cycle: {}", cycle.ids.join(" -> ")), &pos);
        let between = cycle.ids.len().saturating_sub(2);
        for (id, p) in cycle.ids.iter().zip(&cycle.sources).skip(1).take(between) {
            d = d.with_note(format!("{id} is declared at {}:{}", p.file, p.line));
        }
        vec![d.with_note("each resource refers to the next one (through .arn, .id, ...); remove one of these references")]
    })
}

/// Where the parts of declaration `i` were set and the settings the lint rules read that are
/// not AWS properties. A database gets the positions and SSL settings of its builder; the
/// master gets its own and, as `pool:NAME` / `pool.FIELD:NAME`, its pools'. Made as each
/// resource is built: a vector of them beside the plan took 56 bytes of each resource.
fn origin(
    st: &State,
    i: usize,
    field_pos: HashMap<String, SourcePos>,
    database: Option<&database::DbDecl>,
) -> Origin {
    let mut o = Origin {
        declared: i,
        field_pos: field_pos.into_iter().collect(),
        settings: BTreeMap::new(),
    };
    if let Some(db) = database {
        o.field_pos.extend(db.field_pos.clone());
        for (key, value) in [
            ("ssl_mode", &db.connection.ssl_mode),
            ("ssl_root_cert", &db.connection.ssl_root_cert),
        ] {
            if let Some(v) = value {
                o.settings.insert(key.to_string(), v.clone());
            }
        }
    }
    if let Some(m) = st.masters.first().filter(|m| m.decl == i) {
        o.field_pos.extend(m.field_pos.clone());
        for p in &st.pools {
            let key = format!("pool:{}", p.name);
            if o.field_pos.contains_key(&key) {
                continue; // findings find a pool by name: the first one declared
            }
            o.field_pos.insert(key, p.pos.clone());
            for (field, pos) in &p.field_pos {
                o.field_pos
                    .insert(format!("pool.{field}:{}", p.name), pos.clone());
            }
        }
    }
    o
}
