//! The deployment plan: a DAG of resources with stable logical ids, canonical JSON and a hash.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value};

use crate::canon::{Pretty, Sink};

use crate::config::MasterConfig;
use crate::diag::SourcePos;
use crate::kinds::Spec;
use crate::refs::{self, Style};
use crate::value::{Secrets, Tmpl};

/// Version of the plan JSON layout; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

pub use crate::kinds::Kind;
pub use crate::tags::Tags;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// Stable logical id, `kind.name`, e.g. `security_group.master`.
    pub id: String,
    pub kind: Kind,
    /// Physical name in AWS (prefixed with the deployment name).
    pub name: String,
    /// The typed properties.
    pub spec: Spec,
    pub tags: Tags,
    /// Logical ids this resource references, sorted.
    pub depends_on: Vec<String>,
    pub source: SourcePos,
    /// What the script said about the resource beyond its AWS properties (for findings);
    /// not part of the canonical JSON.
    #[serde(skip)]
    pub origin: Origin,
}

/// Where the parts of a resource were written in the script, and the script's settings that
/// are not AWS properties. Lint findings point here rather than at the resource's line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// The resource's place in the script's declaration order (the plan is in dependency order).
    pub declared: usize,
    /// Where parts of the resource were set, by field: `instance_type`, `encrypted`,
    /// `policy:NAME` (an inline policy of a role); on the master, `pool:NAME` (where the
    /// `aws_pool` was declared) and `pool.FIELD:NAME` (where the pool's FIELD was set).
    pub field_pos: BTreeMap<String, SourcePos>,
    /// Settings of the script that are not AWS properties: a database's `ssl_mode` and
    /// `ssl_root_cert`, which Determined uses to connect.
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub tags: BTreeMap<String, Tmpl>,
    /// `deployment(..).legacy_names()`: the names of detscript before per-region names (no
    /// region or account in IAM and bucket names), for a deployment made by such a version.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy_names: bool,
}

/// Whether rendered files may contain secret values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reveal {
    /// Secrets as `(sensitive)`: for screens, logs and the browser page.
    Redact,
    /// Secret values substituted: only for writing a file or applying.
    Secrets,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The index of [`Plan::get`]: (hash of the id, index in `resources`) in order, equal
    /// ids in declaration order (no copy of the ids; sorting hashes compares no strings).
    /// First so that it is dropped first: freeing a large block makes glibc's allocator
    /// sweep the small blocks freed before it (`malloc_consolidate`).
    by_id: Vec<(u64, usize)>,
    pub deployment: DeploymentInfo,
    /// In dependency order: every resource comes after all it depends on.
    pub resources: Vec<Resource>,
    /// Values worth printing after apply (master address, SG ids, ...), with references.
    pub outputs: BTreeMap<String, Tmpl>,
    /// Generated files (`master.yaml`, `user-data`), with references and secrets as parts.
    pub files: BTreeMap<String, Tmpl>,
    pub(crate) secrets: Secrets,
    pub(crate) master: Option<MasterFiles>,
}

/// What the master's files are generated from, so that they can be rendered again with
/// references resolved (apply) or secrets revealed (`render -o`), with correct YAML quoting.
#[derive(Debug, Clone)]
pub struct MasterFiles {
    pub instance_name: String,
    pub deployment: String,
    pub image: String,
    pub port: i64,
    pub tls: bool,
    pub public_ip: bool,
    /// The master's Elastic IP resource (its address is the master's public address).
    pub elastic_ip: Option<String>,
    /// Absolute path of master.yaml on the master host.
    pub config_path: String,
    pub config: MasterConfig,
    /// The log group the master's container writes to: a reference to its name (so that the
    /// master waits for it), with the deployment's region when the script sets one.
    pub log_group: Option<String>,
    pub region: Option<String>,
}

impl MasterFiles {
    /// master.yaml with references replaced by `lookup` where it knows them. With `raw`, the
    /// remaining references stay as markers (for the plan); otherwise they read `${path}` and
    /// secrets `(sensitive)`.
    pub fn render_yaml(&self, lookup: &dyn Fn(&str) -> Option<String>, raw: bool) -> String {
        let mut v = self.config_json(lookup);
        if !raw {
            display_refs(&mut v);
        }
        yaml_of(v)
    }

    /// The config as JSON with the references `lookup` knows substituted.
    fn config_json(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Value {
        let mut v = serde_json::to_value(&self.config).expect("config serializes");
        refs::map_strings(&mut v, &mut |s| {
            if refs::has_refs(s) {
                *s = refs::substitute(s, lookup);
            }
        });
        v
    }

    /// The optional steps of the master's user-data that master.yaml calls for (the
    /// database's address resolved by `lookup` where it knows it, else kept as markers).
    pub fn user_data_extras(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> crate::userdata::Extras {
        let db = self.config.db.as_ref();
        crate::userdata::Extras {
            rds_ca_bundle: db.and_then(|d| d.ssl_root_cert.as_deref())
                == Some(crate::config::RDS_CA_BUNDLE),
            log_group: self.log_group.clone(),
            log_region: self.log_group.as_ref().and(self.region.clone()),
            db: self.db_address(lookup),
        }
    }

    /// Where the master reaches its database, if master.yaml names a database host.
    fn db_address(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<crate::userdata::DbAddress> {
        let db = self.config.db.as_ref()?;
        Some(crate::userdata::DbAddress {
            host: refs::substitute(db.host.as_deref()?, lookup),
            port: db.port.unwrap_or(5432),
        })
    }

    /// The master's user-data; see [`MasterFiles::render_yaml`]. Secrets master.yaml names
    /// are read at boot: the script holds their ARNs, never their values.
    pub fn render_user_data(&self, lookup: &dyn Fn(&str) -> Option<String>, raw: bool) -> String {
        let mut config = self.config_json(lookup);
        let secrets = crate::userdata::take_secrets(&mut config);
        if !raw {
            display_refs(&mut config);
        }
        let yaml = yaml_of(config);
        let image = refs::substitute(&self.image, lookup);
        // References still in the image stay markers until the script is built (the builder
        // quotes the text around them, never them), and only then are shown as `${path}`.
        let user_data = crate::userdata::master_user_data_with(
            &self.deployment,
            &image,
            self.port,
            &yaml,
            &self.config_path,
            &secrets,
            &self.user_data_extras(lookup),
        );
        // The fetch lines name each secret's ARN and version: known now or after apply. They
        // stand as words of their own, quoted as any other value.
        let user_data = refs::substitute(&user_data, &|p| {
            lookup(p).map(|v| crate::userdata::quote_word(&v))
        });
        if raw {
            user_data
        } else {
            refs::display(&user_data, Style::Template)
        }
    }
}

/// Shows the references left in a config as `${path}` (secrets `(sensitive)`).
fn display_refs(v: &mut Value) {
    refs::map_strings(v, &mut |s| {
        if refs::has_refs(s) {
            *s = refs::display(s, Style::Template);
        }
    });
}

/// master.yaml from its JSON, back through the typed model so that keys keep Determined's
/// (and the guide's) order.
fn yaml_of(v: Value) -> String {
    let typed = MasterConfig::from_json(v).expect("mapping strings keeps the shape");
    serde_yaml_ng::to_string(&typed).expect("the config always serializes to YAML")
}

/// A physical name as a template: the plan shows a part known only after apply (the account,
/// a region the script does not set) as `${path}`; AWS names never hold `$` otherwise.
pub(crate) fn name_tmpl(name: &str) -> Tmpl {
    let mut marked = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        marked.push_str(&rest[..start]);
        marked.push_str(&refs::reference(&rest[start + 2..start + len]));
        rest = &rest[start + len + 1..];
    }
    marked.push_str(rest);
    Tmpl::from_marked(&marked)
}

impl Resource {
    /// The properties as the canonical plan JSON shows them (references `${path}`, secrets
    /// `(sensitive)`).
    pub fn properties(&self) -> Map<String, Value> {
        self.spec.to_json()
    }
}

/// An AWS resource pool of the master: its agents carry `tag_key=tag_value` and run with
/// `instance_profile` (an ARN, known after apply).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPool {
    pub pool: String,
    pub tag_key: String,
    pub tag_value: String,
    pub instance_profile: Option<Tmpl>,
}

/// A dependency cycle, named by the resources in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub ids: Vec<String>,
    /// Where each of `ids` was declared.
    pub(crate) sources: Vec<SourcePos>,
}

impl Plan {
    /// Orders `resources` (given in declaration order, their graph in `links`) so that
    /// dependencies come first; ties keep declaration order, so the result depends only on
    /// the script.
    pub(crate) fn new(
        deployment: DeploymentInfo,
        resources: Vec<Resource>,
        links: Links,
        outputs: BTreeMap<String, Tmpl>,
        files: BTreeMap<String, Tmpl>,
        secrets: Secrets,
    ) -> Result<Plan, Cycle> {
        let n = resources.len();
        let Links { hashes, edges } = links;
        debug_assert_eq!(hashes.len(), n, "a hash for each resource");
        // The index `Plan::get` keeps, by declaration index until the order is known.
        let mut by_id: Vec<(u64, usize)> = hashes.into_iter().zip(0..n).collect();
        by_id.sort_unstable();
        let mut indegree = vec![0usize; n];
        for &(_, i) in &edges {
            indegree[i] += 1;
        }
        // Declared in dependency order (the common case): the declaration order is the
        // order `kahn_order` would find, without its heap.
        let order: Vec<usize> = if edges.iter().all(|&(j, i)| j < i) {
            (0..n).collect()
        } else {
            kahn_order(n, &edges, &mut indegree)
        };
        if order.len() < n {
            // Declaration index of `id` (the last declared of equal ids).
            let pos = |id: &str| lookup(&by_id, id_hash(id), |i| resources[i].id == id);
            let cycle = find_cycle(&resources, &pos, &indegree);
            return Err(Cycle {
                ids: cycle.iter().map(|&i| resources[i].id.clone()).collect(),
                sources: cycle.iter().map(|&i| resources[i].source.clone()).collect(),
            });
        }
        let mut rank = vec![0usize; n];
        for (k, &i) in order.iter().enumerate() {
            rank[i] = k;
        }
        for (_, i) in &mut by_id {
            *i = rank[*i];
        }
        // Declared in dependency order (the common case): the resources stay where they are.
        let resources = if order.iter().enumerate().all(|(k, &i)| k == i) {
            resources
        } else {
            let mut slots: Vec<Option<Resource>> = resources.into_iter().map(Some).collect();
            order
                .iter()
                .map(|&i| slots[i].take().expect("each index once"))
                .collect()
        };
        Ok(Plan {
            by_id,
            deployment,
            resources,
            outputs,
            files,
            secrets,
            master: None,
        })
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Resource> {
        lookup(&self.by_id, id_hash(id), |i| self.resources[i].id == id).map(|i| &self.resources[i])
    }

    /// Names of the secret parameters this plan uses.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.names()
    }

    /// The plan's secret values (reveal only for apply and private files).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The canonical document as a JSON value: sorted keys, secrets redacted, references as
    /// `${path}`. The `sha256` field is the SHA-256 of the compact JSON of this document
    /// without that field. (Parsed back from [`Plan::to_json`]; the plan itself is written
    /// without building this tree.)
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.to_json()).expect("the plan JSON parses")
    }

    /// Canonical plan JSON (pretty, sorted keys, trailing newline): byte-identical for the
    /// same script and parameters, on every platform. Written straight from the plan, with
    /// its hash computed while writing.
    pub fn to_json(&self) -> String {
        let (hash, pretty) = self.write_canonical(true);
        let mut out = pretty.expect("asked for the pretty text").out;
        // The document ends with "\n}"; `sha256` is its last key in sorted order.
        out.truncate(out.len() - 2);
        out.extend_from_slice(b",\n  \"sha256\": \"");
        out.extend_from_slice(hex(&hash).as_bytes());
        out.extend_from_slice(b"\"\n}\n");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The SHA-256 in [`Plan::to_json`], computed without writing the document.
    pub fn sha256(&self) -> String {
        hex(&self.write_canonical(false).0)
    }

    /// Feeds the compact canonical document (keys in sorted order, written by hand at the
    /// top two levels) to a hashing, optionally pretty-printing, sink.
    fn write_canonical(&self, pretty: bool) -> ([u8; 32], Option<Pretty>) {
        let mut sink = Sink::new(pretty);
        // Room for the text at once (a security group rule takes about 650 bytes): the
        // buffer is not copied as it grows (a growing block of tens of MiB is copied by
        // mimalloc), and reserved pages never written take no memory.
        sink.reserve(1024 * self.resources.len());
        let mut buf = Vec::new();
        sink.write(b"{\"deployment\":");
        sink.value(&self.deployment, &mut buf);
        sink.write(b",\"files\":");
        sink.value(&self.files, &mut buf);
        sink.write(b",\"format_version\":");
        sink.value(&FORMAT_VERSION, &mut buf);
        sink.write(b",\"outputs\":");
        sink.value(&self.outputs, &mut buf);
        sink.write(b",\"resources\":[");
        for (i, r) in self.resources.iter().enumerate() {
            if i > 0 {
                sink.write(b",");
            }
            sink.value(&ResourceDoc(r), &mut buf);
        }
        sink.write(b"]}");
        sink.finish()
    }

    /// The generated master.yaml, if the plan has a master.
    pub fn master_yaml(&self, reveal: Reveal) -> Option<String> {
        let m = self.master.as_ref()?;
        Some(m.render_yaml(&|p| self.secret_lookup(p, reveal), false))
    }

    /// The master's user-data script, if the plan has a master.
    pub fn user_data(&self, reveal: Reveal) -> Option<String> {
        let m = self.master.as_ref()?;
        Some(m.render_user_data(&|p| self.secret_lookup(p, reveal), false))
    }

    /// The master's files with every reference resolved by `lookup` and secrets revealed:
    /// what `run` writes into the instance. Returns (master.yaml, user-data).
    pub fn resolved_master_files(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<(String, String)> {
        let m = self.master.as_ref()?;
        let all = |p: &str| self.secret_lookup(p, Reveal::Secrets).or_else(|| lookup(p));
        Some((m.render_yaml(&all, false), m.render_user_data(&all, false)))
    }

    /// The outputs as templates (references resolved after apply; secrets never appear).
    pub fn output_values(&self) -> BTreeMap<String, Tmpl> {
        self.outputs.clone()
    }

    /// The agents the master launches, one entry per AWS pool with a known tag: how `destroy`
    /// finds them (the pool tag) and tells them from foreign instances (the agent profile).
    pub fn agent_pools(&self) -> Vec<AgentPool> {
        let mut out: Vec<AgentPool> = Vec::new();
        let Some(m) = self.master.as_ref() else {
            return out;
        };
        for p in &m.config.resource_pools {
            let Some(pr) = &p.provider else { continue };
            let (Some(k), Some(v)) = (&pr.tag_key, &pr.tag_value) else {
                continue;
            };
            if refs::has_refs(k) || refs::has_refs(v) {
                continue;
            }
            out.push(AgentPool {
                pool: p.pool_name.clone(),
                tag_key: k.clone(),
                tag_value: v.clone(),
                instance_profile: pr
                    .iam_instance_profile_arn
                    .as_deref()
                    .map(Tmpl::from_marked),
            });
        }
        out
    }

    /// The ids of the resources that depend on `id` (delete them before it).
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|r| r.depends_on.iter().any(|d| d == id))
            .map(|r| r.id.as_str())
            .collect()
    }

    /// The master's generation inputs, if the plan has a master.
    pub fn master(&self) -> Option<&MasterFiles> {
        self.master.as_ref()
    }

    fn secret_lookup(&self, path: &str, reveal: Reveal) -> Option<String> {
        match reveal {
            Reveal::Secrets => path
                .strip_prefix("secret.")
                .and_then(|n| self.secrets.get(n))
                .map(|v| v.reveal().to_string()),
            Reveal::Redact => None,
        }
    }
}

/// A resource as the plan JSON shows it (keys in sorted order).
struct ResourceDoc<'a>(&'a Resource);

impl Serialize for ResourceDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_struct("Resource", 7)?;
        m.serialize_field("depends_on", &r.depends_on)?;
        m.serialize_field("id", &r.id)?;
        m.serialize_field("kind", &r.kind)?;
        m.serialize_field("name", &r.name)?;
        m.serialize_field("properties", &r.spec)?;
        m.serialize_field("source", &r.source)?;
        m.serialize_field("tags", &r.tags)?;
        m.end()
    }
}

/// The index in `index` (sorted (hash, index) pairs) of the entry with hash `h` for which
/// `is` holds, the last of them if several do (as a map from id keeps the last declared).
fn lookup(index: &[(u64, usize)], h: u64, is: impl Fn(usize) -> bool) -> Option<usize> {
    let after = index.partition_point(|&(k, _)| k <= h);
    index[..after]
        .iter()
        .rev()
        .take_while(|&&(k, _)| k == h)
        .map(|&(_, i)| i)
        .find(|&i| is(i))
}

/// Kahn's algorithm over the edges (j, i) (i depends on j): the smallest index ready first, so
/// that ties keep declaration order. Shorter than `n` when there is a cycle; `indegree` is
/// then left positive on and behind it.
fn kahn_order(n: usize, edges: &[(usize, usize)], indegree: &mut [usize]) -> Vec<usize> {
    // The dependents of j are dependents[first[j]..first[j + 1]], in one allocation.
    let mut first = vec![0usize; n + 1];
    for &(j, _) in edges {
        first[j + 1] += 1;
    }
    for j in 0..n {
        first[j + 1] += first[j];
    }
    let mut dependents = vec![0usize; edges.len()];
    let mut next = first.clone();
    for &(j, i) in edges {
        dependents[next[j]] = i;
        next[j] += 1;
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &k in &dependents[first[i]..first[i + 1]] {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.push(Reverse(k));
            }
        }
    }
    order
}

/// The plan's graph as finalize finds it while it builds the resources (their ids and
/// dependencies then still in cache; a large plan read again for them costs a cache miss
/// each): each resource's [`id_hash`] and the dependency edges `(j, i)`, resource `i`
/// depending on resource `j`, by declaration index.
#[derive(Debug)]
pub(crate) struct Links {
    pub hashes: Vec<u64>,
    pub edges: Vec<(usize, usize)>,
}

/// The hash of a resource id in [`Plan`]'s index (fixed keys: the index is rebuilt, never
/// stored).
pub(crate) fn id_hash(id: &str) -> u64 {
    ahash::RandomState::with_seeds(0, 0, 0, 0).hash_one(id)
}

/// The resources (indices) on a cycle, the first repeated at the end.
fn find_cycle(
    resources: &[Resource],
    pos: &dyn Fn(&str) -> Option<usize>,
    indegree: &[usize],
) -> Vec<usize> {
    // Every node left with indegree > 0 lies on or behind a cycle: walk dependencies that are
    // still unresolved until a node repeats.
    let start = indegree.iter().position(|&d| d > 0).unwrap_or(0);
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut cur = start;
    loop {
        if let Some(&at) = seen.get(&cur) {
            let mut ids = path.split_off(at);
            ids.push(cur);
            return ids;
        }
        seen.insert(cur, path.len());
        path.push(cur);
        let next = resources[cur]
            .depends_on
            .iter()
            .filter_map(|d| pos(d))
            .find(|&j| indegree[j] > 0);
        match next {
            Some(j) => cur = j,
            None => return path,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}
