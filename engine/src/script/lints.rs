//! The script's side of linting: `allow(id, reason)` and `policy(name, |plan| ...)`; the
//! built-in rules are pure functions of the plan in [`crate::lints`].

use std::collections::HashMap;

use rhai::{AST, Dynamic, Engine, FnPtr, NativeCallContext};
use serde_json::Value;

use super::{RhaiResult, Shared, State, fail, pos_of};
use crate::diag::{Diagnostic, Severity, SourcePos};
use crate::lint::rule;
use crate::plan::{Plan, Resource};
use crate::refs;
use crate::value::Style;

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

/// JSON → script value. Strings read as templates: a reference `${path}`, a secret
/// `(sensitive)`, a literal `${` as written (the canonical JSON's `$${`).
fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Dynamic::from)
            .unwrap_or_else(|| Dynamic::from(n.to_string())),
        Value::String(s) => Dynamic::from(s.replace("$${", "${")),
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

/// A plan resource as a policy sees it: `id`, `kind`, `name`, `properties` (the canonical
/// JSON of its spec), `tags`, `depends_on` and `line`.
fn policy_view(r: &Resource) -> Dynamic {
    let tags: rhai::Map = r
        .tags
        .iter()
        .map(|(k, v)| {
            let shown = v.display(Style::Template);
            (k.as_str().into(), Dynamic::from(shown))
        })
        .collect();
    let depends_on: rhai::Array = r.depends_on.iter().cloned().map(Dynamic::from).collect();
    let mut m = rhai::Map::new();
    m.insert("id".into(), Dynamic::from(r.id.clone()));
    m.insert("kind".into(), Dynamic::from(r.kind.as_str().to_string()));
    m.insert("name".into(), Dynamic::from(r.name.clone()));
    m.insert(
        "properties".into(),
        to_dynamic(&Value::Object(r.spec.to_json())),
    );
    m.insert("tags".into(), Dynamic::from(tags));
    m.insert("depends_on".into(), Dynamic::from(depends_on));
    m.insert("line".into(), Dynamic::from(r.source.line as rhai::INT));
    Dynamic::from(m)
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
    let resources: rhai::Array = plan.resources.iter().map(policy_view).collect();
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
                // The compile's budget (operations, deadline, memory) is spent: say why,
                // once, and run no further policy.
                if let rhai::EvalAltResult::ErrorTerminated(why, _) = *e {
                    let why = why
                        .into_string()
                        .unwrap_or_else(|_| "the host interrupted it".into());
                    out.push(Diagnostic::error(
                        format!("policy '{}' failed: the script was stopped: {why}", p.name),
                        &p.pos,
                    ));
                    break;
                }
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

#[cfg(test)]
mod tests {
    use crate::{CompileRequest, Mode, compile};

    /// Policies see references as `${path}` and literal text as written (not the canonical
    /// JSON's `$${`).
    #[test]
    fn policies_see_templates_as_written() {
        let src = r#"deployment("d");
let web = security_group("web", "a ${x} b");
web.ingress(tcp(22), "10.0.0.0/8");
policy("show", |plan| plan.map(|r| #{ resource: r.id, message: if r.kind == "security_group" { r.properties.description } else { r.properties.group } }));
"#;
        let c = compile(&CompileRequest::new("t.rhai", src, Mode::Preview)).unwrap();
        let shown: Vec<&str> = c.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(shown, ["a ${x} b", "${security_group.web.id}"]);
    }
}
