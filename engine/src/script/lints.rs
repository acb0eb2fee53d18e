//! The lint rules of [`crate::lint`], `allow(id, reason)` and `policy(name, |plan| ...)`.

use std::collections::{BTreeSet, HashMap};

use rhai::{AST, Dynamic, Engine, FnPtr, NativeCallContext};
use serde_json::Value;

use super::{RhaiResult, Shared, State, fail, pos_of};
use crate::diag::{Diagnostic, Severity, SourcePos};
use crate::lint::{instance_size, rule};
use crate::plan::{Kind, Plan, Resource};
use crate::refs;

#[derive(Debug, Clone)]
pub(crate) struct Allow {
    pub id: String,
    pub pos: SourcePos,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: String,
    pub func: FnPtr,
    pub pos: SourcePos,
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    let s = state.clone();
    engine.register_fn("allow", move |ctx: NativeCallContext, id: &str, reason: &str| -> RhaiResult<()> {
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        let is_policy = st.policies.iter().any(|p| p.name == id);
        if rule(id).is_none() && !is_policy && !id.starts_with("policy:") {
            let hint = crate::config::suggest(id, crate::lint::RULES.iter().map(|r| r.id))
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return fail(&ctx, format!("allow({id:?}): no rule has this id{hint}; rules are DS001-DS020 or the name of a policy declared before"));
        }
        if reason.trim().len() < 3 {
            return fail(&ctx, format!("allow({id:?}, ...) needs a reason that says why the finding is fine here"));
        }
        st.allows.push(Allow { id: id.to_string(), pos });
        Ok(())
    });
    let s = state.clone();
    engine.register_fn(
        "policy",
        move |ctx: NativeCallContext, name: &str, func: FnPtr| -> RhaiResult<()> {
            let mut st = s.borrow_mut();
            let pos = pos_of(&ctx, &st);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return fail(
                    &ctx,
                    format!("policy name {name:?} must be letters, digits, '-' or '_'"),
                );
            }
            if st.policies.iter().any(|p| p.name == name) {
                return fail(&ctx, format!("policy {name:?} is declared twice"));
            }
            st.policies.push(Policy {
                name: name.to_string(),
                func,
                pos,
            });
            Ok(())
        },
    );
}

fn is_world(cidr: &str) -> bool {
    cidr == "0.0.0.0/0" || cidr == "::/0"
}

struct RuleView<'a> {
    r: &'a Resource,
    group: Option<&'a str>,
    ingress: bool,
    protocol: &'a str,
    from: i64,
    to: i64,
    peer_group: Option<&'a str>,
    cidr: Option<&'a str>,
}

impl RuleView<'_> {
    fn covers(&self, port: i64) -> bool {
        (self.protocol == "all" || self.protocol == "tcp") && self.from <= port && port <= self.to
    }
}

/// `${security_group.x.id}` → `security_group.x`.
fn ref_target(s: &str) -> Option<&str> {
    refs::whole_ref_resource(s)
}

fn rules(plan: &Plan) -> Vec<RuleView<'_>> {
    plan.resources
        .iter()
        .filter(|r| r.kind == Kind::SecurityGroupRule)
        .map(|r| {
            let p = &r.properties;
            let s = |k: &str| p.get(k).and_then(Value::as_str);
            RuleView {
                r,
                group: s("group").and_then(ref_target),
                ingress: s("direction") == Some("ingress"),
                protocol: s("protocol").unwrap_or("tcp"),
                from: p.get("from_port").and_then(Value::as_i64).unwrap_or(0),
                to: p.get("to_port").and_then(Value::as_i64).unwrap_or(65535),
                peer_group: s("peer_group").and_then(ref_target),
                cidr: s("cidr_ipv4").or(s("cidr_ipv6")),
            }
        })
        .collect()
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn find(out: &mut Vec<Diagnostic>, id: &str, message: String, fix: &str, pos: &SourcePos) {
    let severity = rule(id).map(|r| r.severity).unwrap_or(Severity::Warning);
    out.push(Diagnostic::finding(severity, id, message, fix, pos));
}

/// The built-in rules over a finished plan.
pub(crate) fn check(st: &State, plan: &Plan) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let rules = rules(plan);
    let master = st.masters.first();
    let files = plan.master();
    let port = files.map(|f| f.port).unwrap_or(8080);
    let tls = files.is_some_and(|f| f.tls);
    let master_res = master.and_then(|m| plan.get(&format!("ec2_instance.{}", m.name)));
    let master_sgs: BTreeSet<&str> = master_res
        .and_then(|r| r.properties.get("security_group_ids"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(ref_target))
        .collect();

    // Pools: which agent security group each uses (pool index → (name, sg id)).
    let mut agent_sgs: Vec<(usize, String, String)> = Vec::new();
    if let Some(f) = files {
        for (i, pool) in f.config.resource_pools.iter().enumerate() {
            let sg = pool
                .provider
                .as_ref()
                .and_then(|p| p.network_interface.as_ref())
                .and_then(|n| n.security_group_id.as_deref())
                .and_then(ref_target);
            if let Some(sg) = sg {
                agent_sgs.push((i, pool.pool_name.clone(), sg.to_string()));
            }
        }
    }
    let pool_decl = |name: &str| st.pools.iter().find(|p| p.name == name);
    let pool_pos = |name: &str, field: &str| -> SourcePos {
        pool_decl(name)
            .map(|p| {
                p.field_pos
                    .get(field)
                    .cloned()
                    .unwrap_or_else(|| p.pos.clone())
            })
            .unwrap_or_default()
    };

    // DS001, DS002: agents and the master's port.
    if master.is_some() && !master_sgs.is_empty() {
        let mut reported = BTreeSet::new();
        for (_, pool, sg) in &agent_sgs {
            let ok = rules.iter().any(|r| {
                r.ingress
                    && r.group.is_some_and(|g| master_sgs.contains(g))
                    && r.peer_group == Some(sg.as_str())
                    && r.covers(port)
            });
            if !ok && reported.insert(sg.clone()) {
                let master_sg = master_sgs
                    .iter()
                    .next()
                    .map(|s| s.trim_start_matches("security_group."))
                    .unwrap_or("master");
                let agent = sg.trim_start_matches("security_group.");
                find(
                    &mut out,
                    "DS001",
                    format!(
                        "agents of pool '{pool}' cannot reach the master: no ingress rule on the master's security group allows tcp {port} from {sg}"
                    ),
                    &format!("add {master_sg}_sg.ingress(tcp({port}), {agent}_sg)"),
                    &pool_pos(pool, "security_group_id"),
                );
            }
        }
        for r in &rules {
            let from_agents = r
                .peer_group
                .is_some_and(|p| agent_sgs.iter().any(|(_, _, sg)| sg == p));
            if r.ingress
                && r.group.is_some_and(|g| master_sgs.contains(g))
                && from_agents
                && (r.protocol == "all" || r.from < port || r.to > port)
            {
                find(
                    &mut out,
                    "DS002",
                    format!(
                        "{} opens {} from the agents, but agents only dial the master's port {port} (the guide's bullet \"all ports from agent security group\" is wider than its own example)",
                        r.r.id,
                        if r.protocol == "all" {
                            "all traffic".to_string()
                        } else {
                            format!("ports {}-{}", r.from, r.to)
                        }
                    ),
                    &format!("open only tcp({port}) from the agent security group"),
                    &r.r.source,
                );
            }
        }
    }

    // DS003, DS004: the world.
    for r in &rules {
        let Some(cidr) = r.cidr else { continue };
        if !r.ingress || !is_world(cidr) {
            continue;
        }
        if r.covers(22) {
            find(
                &mut out,
                "DS003",
                format!("{} opens SSH (22) to {cidr}", r.r.id),
                "limit SSH to your network: a parameter of kind \"cidr\" such as \"203.0.113.0/24\", or a bastion's security group",
                &r.r.source,
            );
        }
        if !tls && r.group.is_some_and(|g| master_sgs.contains(g)) && r.covers(port) {
            find(
                &mut out,
                "DS004",
                format!(
                    "{} opens the master's web UI and API (tcp {port}, plain HTTP) to {cidr}",
                    r.r.id
                ),
                "limit it to your network, or enable TLS (master_config().set(\"security\", #{ tls: ... }) serves 8443)",
                &r.r.source,
            );
        }
    }

    // DS005-DS007: IAM.
    for role in plan.resources.iter().filter(|r| r.kind == Kind::IamRole) {
        let decl_pos = |policy: &str| -> SourcePos {
            st.role_policy_pos
                .get(&(role.id.clone(), policy.to_string()))
                .cloned()
                .unwrap_or_else(|| role.source.clone())
        };
        let Some(Value::Object(policies)) = role.properties.get("inline_policies") else {
            continue;
        };
        for (name, doc) in policies {
            let statements: Vec<&Value> = match doc.get("Statement") {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => Vec::new(),
            };
            for stmt in statements {
                if stmt.get("Effect").and_then(Value::as_str) != Some("Allow") {
                    continue;
                }
                let actions = list(stmt.get("Action"));
                let resources = list(stmt.get("Resource"));
                let pos = decl_pos(name);
                let all_resources = resources.iter().any(|r| r == "*");
                if all_resources && actions.iter().any(|a| a == "s3:*") {
                    find(
                        &mut out,
                        "DS005",
                        format!(
                            "{} policy '{name}' allows s3:* on every bucket in the account",
                            role.id
                        ),
                        "scope it to the checkpoint bucket: [bucket.arn, bucket.arn + \"/*\"] (and list only the actions needed)",
                        &pos,
                    );
                }
                if actions.iter().any(|a| a == "iam:PassRole" || a == "iam:*") {
                    let scoped = !resources.is_empty()
                        && resources.iter().all(|r| {
                            refs::whole_ref(r)
                                .is_some_and(|p| p.starts_with("iam_role.") && p.ends_with(".arn"))
                        });
                    if !scoped {
                        find(
                            &mut out,
                            "DS006",
                            format!(
                                "{} policy '{name}' allows iam:PassRole on {}: the master could hand any role to the instances it launches",
                                role.id,
                                resources
                                    .iter()
                                    .map(|r| refs::display(r, refs::Style::Text))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "allow iam:PassRole only on agent_role.arn",
                            &pos,
                        );
                    }
                }
                if actions.iter().any(|a| a == "*" || a == "*:*") {
                    find(
                        &mut out,
                        "DS007",
                        format!("{} policy '{name}' allows every action (\"*\")", role.id),
                        "list the actions the role needs",
                        &pos,
                    );
                }
            }
        }
    }

    // DS008, DS014, DS015, DS019: the master node.
    if let (Some(m), Some(res)) = (master, master_res) {
        let mpos = |field: &str| {
            m.field_pos
                .get(field)
                .cloned()
                .unwrap_or_else(|| m.pos.clone())
        };
        if let Some(t) = res.properties.get("instance_type").and_then(Value::as_str) {
            if let Some((cpu, mem)) = instance_size(t) {
                if cpu < 4 || mem < 8.0 {
                    find(
                        &mut out,
                        "DS008",
                        format!(
                            "master instance type {t} has {cpu} vCPUs and {mem} GiB; the guide asks for at least 4 vCPUs and 8 GiB (its own t2.large example has 2 vCPUs)"
                        ),
                        "use m6i.xlarge (4 vCPUs, 16 GiB) or larger",
                        &mpos("instance_type"),
                    );
                }
            }
        }
        if !m.imdsv2 {
            find(
                &mut out,
                "DS014",
                format!(
                    "master_instance '{}' allows IMDSv1: any process that can make a GET request can read the instance role's credentials",
                    m.name
                ),
                "remove .imdsv2(false) (IMDSv2 is required by default)",
                &mpos("imdsv2"),
            );
        } else if m.hop_limit < 2 {
            find(
                &mut out,
                "DS015",
                format!(
                    "master_instance '{}' has a metadata hop limit of {}: the master's container cannot reach instance metadata (region, local-ipv4) through Docker's extra hop",
                    m.name, m.hop_limit
                ),
                "use .metadata_hop_limit(2)",
                &mpos("metadata_hop_limit"),
            );
        }
        if !m.config_path.starts_with('/') {
            find(
                &mut out,
                "DS019",
                format!(
                    "master.yaml path {:?} is relative: Docker treats a relative -v source as a named volume, so the master would not see the file",
                    m.config_path
                ),
                "use an absolute path such as \"/usr/local/determined/etc/master.yaml\"",
                &mpos("config_path"),
            );
        }
    }

    // DS009-DS013: the database.
    for db in &st.databases {
        let dpos = |field: &str| {
            db.field_pos
                .get(field)
                .cloned()
                .unwrap_or_else(|| db.pos.clone())
        };
        if !db.encrypted {
            find(
                &mut out,
                "DS009",
                format!("database '{}' stores data unencrypted", db.name),
                "remove .encrypted(false) (encrypted is the default)",
                &dpos("encrypted"),
            );
        }
        if db.public {
            find(
                &mut out,
                "DS010",
                format!("database '{}' is publicly accessible", db.name),
                "remove .publicly_accessible(true); only the master needs it",
                &dpos("publicly_accessible"),
            );
        }
        let major: Option<u32> = db
            .version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse().ok());
        if let Some(major) = major {
            if major < 13 {
                find(
                    &mut out,
                    "DS011",
                    format!(
                        "database '{}' runs PostgreSQL {major}: Determined needs 13 or newer (RDS no longer creates 11 or 12)",
                        db.name
                    ),
                    "use .engine(\"postgres\", \"16.4\") or a current aurora-postgresql version",
                    &dpos("engine"),
                );
            }
        }
        let mode = db.ssl_mode.as_deref().unwrap_or("disable");
        let forces_ssl = db.engine == "postgres" && major.is_none_or(|m| m >= 15);
        if forces_ssl && matches!(mode, "disable" | "allow") {
            find(
                &mut out,
                "DS012",
                format!(
                    "database '{}': RDS for PostgreSQL 15 and newer sets rds.force_ssl=1, so db.ssl_mode {mode:?}{} is refused (\"no pg_hba.conf entry ... no encryption\")",
                    db.name,
                    if db.ssl_mode.is_none() {
                        " (Determined's default)"
                    } else {
                        ""
                    }
                ),
                "add .ssl_mode(\"require\") to the database",
                &dpos("ssl_mode"),
            );
        }
        if matches!(mode, "verify-ca" | "verify-full") && db.ssl_root_cert.is_none() {
            find(
                &mut out,
                "DS012",
                format!(
                    "database '{}': ssl_mode {mode:?} needs the RDS CA bundle as ssl_root_cert",
                    db.name
                ),
                "add .ssl_root_cert(\"/etc/determined/global-bundle.pem\") and put AWS's global-bundle.pem there",
                &dpos("ssl_mode"),
            );
        }
        let real = db
            .password
            .as_deref()
            .and_then(|p| match refs::whole_ref(p) {
                Some(path) => path
                    .strip_prefix("secret.")
                    .and_then(|n| st.params.secrets.get(n))
                    .map(|v| v.reveal().to_string()),
                None if !refs::has_refs(p) => Some(p.to_string()),
                None => None,
            });
        if let Some(pw) = real {
            let bad: Vec<char> = ['@', ':', '/', '?', '#', '%']
                .into_iter()
                .filter(|c| pw.contains(*c))
                .collect();
            if !bad.is_empty() {
                let shown: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
                find(
                    &mut out,
                    "DS013",
                    format!(
                        "database '{}': the password contains {}, which Determined puts unescaped into its connection URL, so the master cannot connect",
                        db.name,
                        shown.join(", ")
                    ),
                    "choose a password without @ : / ? # %",
                    &dpos("master_user"),
                );
            }
        }
    }

    // DS016, DS018: pools.
    let deployment = &plan.deployment.name;
    if let Some(f) = files {
        for pool in &f.config.resource_pools {
            let Some(p) = &pool.provider else { continue };
            let name = &pool.pool_name;
            match (&p.tag_key, &p.tag_value) {
                (None, _) | (_, None) => find(
                    &mut out,
                    "DS016",
                    format!(
                        "pool '{name}' has no tag(...): Determined then manages every instance tagged managed_by=<master instance id>, and a replaced master orphans its agents"
                    ),
                    &format!(
                        ".tag(\"determined-{deployment}\", \"determined-{deployment}-agent\")"
                    ),
                    &pool_pos(name, "tag_key"),
                ),
                (Some(k), Some(v)) if k == "managed_by" || k == "managed-by" => find(
                    &mut out,
                    "DS016",
                    format!(
                        "pool '{name}' uses Determined's default tag key {k:?}, shared by every Determined installation in the account"
                    ),
                    &format!(
                        ".tag(\"determined-{deployment}\", \"determined-{deployment}-agent\")"
                    ),
                    &pool_pos(name, "tag_key"),
                ),
                (Some(k), Some(v))
                    if !refs::has_refs(k)
                        && !refs::has_refs(v)
                        && !k.contains(deployment.as_str())
                        && !v.contains(deployment.as_str()) =>
                {
                    find(
                        &mut out,
                        "DS016",
                        format!(
                            "pool '{name}' tags its agents {k}={v}, which does not name this deployment: another cluster with the same tag would manage (and terminate) these instances"
                        ),
                        &format!(
                            "include the deployment name, e.g. .tag(\"determined-{deployment}\", \"determined-{deployment}-agent\")"
                        ),
                        &pool_pos(name, "tag_key"),
                    )
                }
                _ => {}
            }
            if let Some(ami) = &p.image_id {
                if !refs::has_refs(ami)
                    && !ami.strip_prefix("ami-").is_some_and(|h| {
                        (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())
                    })
                {
                    find(
                        &mut out,
                        "DS018",
                        format!("pool '{name}': image_id {ami:?} is not an AMI id"),
                        "use the Determined agent AMI id of your region (ami-...)",
                        &pool_pos(name, "image_id"),
                    );
                }
            }
        }
    }
    out
}

/// JSON → script value, with references shown as `${path}` and secrets as `(sensitive)`.
fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Dynamic::from)
            .unwrap_or_else(|| Dynamic::from(n.to_string())),
        Value::String(s) => Dynamic::from(refs::display(s, refs::Style::Template)),
        Value::Array(a) => Dynamic::from(a.iter().map(to_dynamic).collect::<rhai::Array>()),
        Value::Object(m) => {
            let mut map = rhai::Map::new();
            for (k, v) in m {
                map.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from(map)
        }
    }
}

/// Runs the script's `policy(...)` functions over the plan.
pub(crate) fn run_policies(
    policies: &[Policy],
    plan: &Plan,
    engine: &Engine,
    ast: &AST,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if policies.is_empty() {
        return out;
    }
    let resources: rhai::Array = plan
        .resources
        .iter()
        .map(|r| {
            let mut m = rhai::Map::new();
            m.insert("id".into(), Dynamic::from(r.id.clone()));
            m.insert("kind".into(), Dynamic::from(r.kind.as_str().to_string()));
            m.insert("name".into(), Dynamic::from(r.name.clone()));
            m.insert(
                "properties".into(),
                to_dynamic(&Value::Object(r.properties.clone())),
            );
            m.insert(
                "tags".into(),
                to_dynamic(&serde_json::to_value(&r.tags).unwrap_or_default()),
            );
            m.insert(
                "depends_on".into(),
                Dynamic::from(
                    r.depends_on
                        .iter()
                        .cloned()
                        .map(Dynamic::from)
                        .collect::<rhai::Array>(),
                ),
            );
            m.insert("line".into(), Dynamic::from(r.source.line as rhai::INT));
            Dynamic::from(m)
        })
        .collect();
    let positions: HashMap<&str, &SourcePos> = plan
        .resources
        .iter()
        .map(|r| (r.id.as_str(), &r.source))
        .collect();
    for p in policies {
        let result: Result<Dynamic, _> = p.func.call(engine, ast, (resources.clone(),));
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                let mut msg = e.to_string();
                if let Some(i) = msg.find(" (line ") {
                    msg.truncate(i);
                }
                out.push(Diagnostic::error(
                    format!(
                        "policy '{}' failed: {}",
                        p.name,
                        refs::display(&msg, refs::Style::Text)
                    ),
                    &p.pos,
                ));
                continue;
            }
        };
        let items: Vec<Dynamic> = if value.is_unit() {
            Vec::new()
        } else if value.is_array() {
            value.into_array().unwrap_or_default()
        } else {
            vec![value]
        };
        for item in items {
            let Some(map) = item.read_lock::<rhai::Map>().map(|m| m.clone()) else {
                let shown = if item.is_string() {
                    item.to_string()
                } else {
                    item.type_name().to_string()
                };
                out.push(Diagnostic::error(
                    format!("policy '{}' must return findings as maps like #{{ resource: r.id, message: \"...\" }}, got {shown}", p.name),
                    &p.pos,
                ));
                continue;
            };
            let text = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
            let Some(message) = text("message") else {
                out.push(Diagnostic::error(
                    format!("policy '{}': a finding needs a message", p.name),
                    &p.pos,
                ));
                continue;
            };
            let pos = text("resource")
                .and_then(|id| positions.get(id.as_str()).map(|p| (*p).clone()))
                .unwrap_or_else(|| p.pos.clone());
            let severity = match text("severity").as_deref() {
                Some("error") => Severity::Error,
                _ => Severity::Warning,
            };
            let fix = text("fix")
                .unwrap_or_else(|| format!("see policy '{}' at line {}", p.name, p.pos.line));
            out.push(Diagnostic::finding(
                severity,
                &p.name,
                refs::display(&message, refs::Style::Text),
                fix,
                &pos,
            ));
        }
    }
    out
}

/// Drops allowed findings; an `allow` that matched nothing becomes DS020.
pub(crate) fn apply_allows(st: &State, findings: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut used = vec![false; st.allows.len()];
    let mut out = Vec::new();
    for f in findings {
        let hit = f
            .code
            .as_deref()
            .and_then(|c| st.allows.iter().position(|a| a.id == c));
        match hit {
            Some(i) => used[i] = true,
            None => out.push(f),
        }
    }
    for (a, used) in st.allows.iter().zip(used) {
        if !used {
            out.push(Diagnostic::finding(
                Severity::Warning,
                "DS020",
                format!(
                    "allow({:?}) silences nothing: no {} finding in this plan",
                    a.id, a.id
                ),
                "remove the allow(...)",
                &a.pos,
            ));
        }
    }
    out
}
