//! Human renderers of a plan: the reviewer's text view and Graphviz DOT.

use std::fmt::Write as _;

use serde_json::Value;

use crate::plan::{Plan, Resource};
use crate::refs::{self, Style};
use crate::value::Tmpl;

use crate::kinds::{TAG_DEPLOYMENT, TAG_ID, TAG_REGION};

/// Tags every resource (or every account-wide one) carries: the header says them once.
const OWNERSHIP_TAGS: &[&str] = &[TAG_DEPLOYMENT, TAG_ID, TAG_REGION];

impl Plan {
    /// The plan as a reviewer reads it: one block per resource with `+` marks, rules and
    /// policies spelled out, unknowns shown with where they come from, and a summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let region = self
            .deployment
            .region
            .as_deref()
            .unwrap_or("(from --region or AWS_REGION)");
        let _ = writeln!(
            out,
            "deployment {}  region {}",
            self.deployment.name, region
        );
        let _ = writeln!(out);
        for r in &self.resources {
            render_resource(&mut out, r);
            out.push('\n');
        }
        if !self.files.is_empty() {
            let _ = writeln!(out, "  files");
            for (name, text) in &self.files {
                let lines = text.to_marked().lines().count();
                let _ = writeln!(
                    out,
                    "      {name:<12} {lines} lines   (detscript render FILE {name})"
                );
            }
            out.push('\n');
        }
        if !self.outputs.is_empty() {
            let _ = writeln!(out, "  outputs");
            let width = self.outputs.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in &self.outputs {
                let _ = writeln!(out, "      {k:<width$} = {}", v.display(Style::Text));
            }
            out.push('\n');
        }
        let sha = self.sha256();
        let _ = writeln!(
            out,
            "{}  (plan sha256 {})",
            summary(self.len(), 0, 0, 0),
            &sha[..16]
        );
        out
    }

    /// The dependency graph in Graphviz DOT; an edge `a -> b` means a depends on b.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph detscript {\n    rankdir = \"RL\";\n    node [shape = box, fontname = \"Helvetica\"];\n",
        );
        for r in &self.resources {
            let _ = writeln!(
                out,
                "    {} [label = {}];",
                dot_quote(&r.id),
                dot_quote(&format!("{}\n{}", r.id, r.name))
            );
        }
        for r in &self.resources {
            for d in &r.depends_on {
                let _ = writeln!(out, "    {} -> {};", dot_quote(&r.id), dot_quote(d));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn text(v: &str) -> String {
    refs::display(v, Style::Text)
}

/// A whole reference names its resource (`security_group.agent`); other values read as text.
pub(crate) fn peer(t: &Tmpl) -> String {
    t.as_ref()
        .map(|r| r.resource.clone())
        .unwrap_or_else(|| t.display(Style::Text))
}

/// A template as a plan value: unknowns in words, literal text quoted.
pub(crate) fn scalar_tmpl(t: &Tmpl) -> String {
    let shown = t.display(Style::Text);
    match t.parts() {
        [one] if !matches!(one, crate::value::Part::Text(_)) => shown,
        _ => format!("{shown:?}"),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let t = text(s);
            if refs::whole_ref(s).is_some() {
                t
            } else {
                format!("{t:?}")
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            format!("[{}]", a.iter().map(scalar).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

fn render_resource(out: &mut String, r: &Resource) {
    let _ = writeln!(out, "  + {}  ({})", r.id, r.name);
    if !r.spec.render_text(out) {
        render_props(out, &r.spec.to_marked_json(), 6);
    }
    let extra: Vec<String> = r
        .tags
        .iter()
        .filter(|(k, _)| !OWNERSHIP_TAGS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", v.display(Style::Text)))
        .collect();
    if !extra.is_empty() {
        let _ = writeln!(out, "      tags: {}", extra.join(", "));
    }
    if !r.depends_on.is_empty() {
        let _ = writeln!(out, "      after: {}", r.depends_on.join(", "));
    }
}

fn render_props(out: &mut String, props: &serde_json::Map<String, Value>, indent: usize) {
    let width = props.keys().map(|k| k.len()).max().unwrap_or(0);
    let pad = " ".repeat(indent);
    for (k, v) in props {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let _ = writeln!(out, "{pad}{k}:");
                render_props(out, m, indent + 4);
            }
            Value::String(s) if s.contains('\n') => {
                let lines = s.lines().count();
                let _ = writeln!(out, "{pad}{k:<width$} = ({lines} lines, generated)");
            }
            Value::Array(a) if a.iter().any(|x| x.is_object()) => {
                let _ = writeln!(out, "{pad}{k}:");
                for item in a {
                    if let Value::Object(m) = item {
                        render_props(out, m, indent + 4);
                    } else {
                        let _ = writeln!(out, "{pad}    - {}", scalar(item));
                    }
                }
            }
            _ => {
                let _ = writeln!(out, "{pad}{k:<width$} = {}", scalar(v));
            }
        }
    }
}

/// The summary line of a plan, and of the diff against live AWS (`plan --refresh`, `run`):
/// `Plan: 3 to add, 1 to change, 0 to destroy.`, with `N to replace` when there are
/// replacements (each also deletes the old resource).
pub fn summary(add: usize, change: usize, replace: usize, destroy: usize) -> String {
    let replace = if replace > 0 {
        format!("{replace} to replace, ")
    } else {
        String::new()
    };
    format!("Plan: {add} to add, {change} to change, {replace}{destroy} to destroy.")
}
