//! Values known only after apply ("references") and secrets, carried inside strings.
//!
//! A script handles references as ordinary strings so that it can concatenate them
//! (`"http://" + db.endpoint`). Inside the engine such a string holds markers from the
//! Unicode private-use area around a path: `iam_role.agent.arn` for a resource attribute,
//! `param.keypair` for a parameter without a value, `secret.db_password` for a secret,
//! `ssm./aws/service/...` for an SSM parameter read at apply.
//! Nothing a user types can contain these markers, so a literal `${HOME}` in a startup
//! script is never mistaken for a reference. Renderers turn markers into `${path}`
//! (JSON, escaping a literal `${` as `$${` as Terraform does), into
//! `(known after apply: path)` (text), or into `(sensitive)`.

pub(crate) const OPEN: char = '\u{E000}';
pub(crate) const CLOSE: char = '\u{E001}';

/// The text a script sees for a reference to `path`.
pub fn reference(path: &str) -> String {
    let mut s = String::with_capacity(path.len() + 6);
    s.push(OPEN);
    s.push_str(path);
    s.push(CLOSE);
    s
}

/// The text a script sees for the attribute `attr` of the resource `id`.
pub fn attr(id: &str, attr: &str) -> String {
    crate::value::Ref::new(id, attr).to_marked()
}

/// True when `s` holds either marker character: text from outside the engine never may.
pub fn has_marker_chars(s: &str) -> bool {
    s.contains([OPEN, CLOSE])
}

/// `s` with marker characters replaced by U+FFFD.
pub fn scrub_markers(s: &str) -> String {
    s.replace([OPEN, CLOSE], "\u{FFFD}")
}

/// True when `s` contains at least one reference or secret.
pub fn has_refs(s: &str) -> bool {
    s.contains(OPEN)
}

/// A piece of a string: literal text or a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Ref(&'a str),
}

/// Splits a string into literal text and references.
pub fn parts(s: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            out.push(Part::Text(&rest[..start]));
        }
        let after = &rest[start + OPEN.len_utf8()..];
        match after.find(CLOSE) {
            Some(end) => {
                out.push(Part::Ref(&after[..end]));
                rest = &after[end + CLOSE.len_utf8()..];
            }
            None => {
                // A truncated marker (the script sliced the string): keep it as text.
                out.push(Part::Text(&rest[start..]));
                rest = "";
            }
        }
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest));
    }
    out
}

/// Every reference path in `s` (the [`Part::Ref`]s of [`parts`], found without a list).
pub fn paths(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let start = rest.find(OPEN)?;
        let after = &rest[start + OPEN.len_utf8()..];
        // No end marker: the rest is text (a truncated marker), with no reference after it.
        let end = after.find(CLOSE)?;
        rest = &after[end + CLOSE.len_utf8()..];
        Some(&after[..end])
    })
}

/// If the whole string is exactly one reference, its path.
pub fn whole_ref(s: &str) -> Option<&str> {
    match parts(s).as_slice() {
        [Part::Ref(r)] => Some(r),
        _ => None,
    }
}

/// The resource a reference path points into: `security_group.agent.id` → `security_group.agent`.
pub fn resource_of(path: &str) -> &str {
    path.rsplit_once('.').map(|(id, _)| id).unwrap_or(path)
}

/// The path prefix of a secret parameter's value (`secret.NAME`).
pub const SECRET: &str = "secret.";

/// The path prefix of a secret parameter that has no value yet (a preview): it is still a
/// secret for every rule, but is shown as unset rather than `(sensitive)`.
pub const UNSET_SECRET: &str = "unset-secret.";

/// True for the path of a secret parameter, set (`secret.NAME`) or not (`unset-secret.NAME`).
pub fn is_secret(path: &str) -> bool {
    secret_param(path).is_some()
}

/// The parameter name in a secret's path, set or unset.
pub fn secret_param(path: &str) -> Option<&str> {
    path.strip_prefix(SECRET)
        .or_else(|| path.strip_prefix(UNSET_SECRET))
}

/// The prefix of an SSM parameter's path (`ssm./aws/service/...`): a value read from
/// Systems Manager Parameter Store when the deployment is applied.
pub const SSM: &str = "ssm.";

/// True for a path that is no resource's attribute: an unset parameter, a secret or an SSM
/// parameter.
pub fn is_external(path: &str) -> bool {
    path.starts_with("param.") || is_secret(path) || path.starts_with(SSM)
}

/// How a string is shown to people or tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `${path}`; literal `${` escaped as `$${`; secrets `(sensitive)`.
    Json,
    /// `(known after apply: path)` for a whole reference, `${path}` inside text.
    Text,
    /// `${path}` everywhere, no escaping: for generated files shown before apply.
    Template,
}

/// Renders a string for output. Secrets always render as `(sensitive)`.
pub fn display(s: &str, style: Style) -> String {
    if !(has_refs(s) || style == Style::Json && s.contains("${")) {
        return s.to_string();
    }
    if style == Style::Text {
        if let Some(path) = whole_ref(s) {
            return describe(path);
        }
    }
    let escape = style == Style::Json;
    let mut out = String::with_capacity(s.len() + 8);
    for part in parts(s) {
        match part {
            Part::Text(t) => {
                if escape {
                    out.push_str(&t.replace("${", "$${"));
                } else {
                    out.push_str(t);
                }
            }
            Part::Ref(p) if p.starts_with(UNSET_SECRET) => {
                out.push_str("${param.");
                out.push_str(&p[UNSET_SECRET.len()..]);
                out.push('}');
            }
            Part::Ref(p) if is_secret(p) => out.push_str("(sensitive)"),
            Part::Ref(p) => {
                out.push_str("${");
                out.push_str(p);
                out.push('}');
            }
        }
    }
    out
}

/// A whole-reference value in words.
pub fn describe(path: &str) -> String {
    if let Some(name) = path.strip_prefix(UNSET_SECRET) {
        format!("(unset secret parameter: {name})")
    } else if is_secret(path) {
        "(sensitive)".to_string()
    } else if let Some(name) = path.strip_prefix("param.") {
        format!("(unset parameter: {name})")
    } else if let Some(name) = path.strip_prefix(SSM) {
        format!("(known after apply: SSM parameter {name})")
    } else if let Some(id) = path
        .strip_suffix(".value")
        .filter(|id| id.starts_with("secretsmanager_secret."))
    {
        format!("(sensitive: read from {id} at apply or boot)")
    } else {
        format!("(known after apply: {path})")
    }
}

/// Replaces every reference that `lookup` knows; others stay as they are.
pub fn substitute(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if !has_refs(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for part in parts(s) {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Ref(p) => match lookup(p) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&reference(p)),
            },
        }
    }
    out
}

/// Applies `f` to every string inside a JSON value.
pub fn map_strings(v: &mut serde_json::Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| map_strings(x, f)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| map_strings(x, f)),
        _ => {}
    }
}

/// Visits every string inside a JSON value.
pub fn visit_strings<'a>(v: &'a serde_json::Value, f: &mut dyn FnMut(&'a str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        serde_json::Value::Object(m) => m.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_reference_renders_in_each_style() {
        let s = format!("http://{}:8080", reference("ec2_instance.master.public_ip"));
        assert_eq!(
            display(&s, Style::Json),
            "http://${ec2_instance.master.public_ip}:8080"
        );
        assert_eq!(
            display(&s, Style::Text),
            "http://${ec2_instance.master.public_ip}:8080"
        );
        assert_eq!(
            paths(&s).collect::<Vec<_>>(),
            vec!["ec2_instance.master.public_ip"]
        );
    }

    #[test]
    fn whole_reference_in_text_names_its_origin() {
        let s = reference("iam_role.agent.arn");
        assert_eq!(
            display(&s, Style::Text),
            "(known after apply: iam_role.agent.arn)"
        );
    }

    #[test]
    fn secrets_never_render() {
        let s = format!("pw={}", reference("secret.db_password"));
        assert_eq!(display(&s, Style::Json), "pw=(sensitive)");
        assert_eq!(display(&reference("secret.x"), Style::Text), "(sensitive)");
    }

    #[test]
    fn literal_dollar_brace_is_escaped_in_json_only() {
        assert_eq!(display("echo ${HOME}", Style::Json), "echo $${HOME}");
        assert_eq!(display("echo ${HOME}", Style::Text), "echo ${HOME}");
    }

    #[test]
    fn substitute_replaces_known_and_keeps_unknown() {
        let s = format!("{}/{}", reference("a.b.c"), reference("d.e.f"));
        let out = substitute(&s, &|p| (p == "a.b.c").then(|| "X".to_string()));
        assert_eq!(out, format!("X/{}", reference("d.e.f")));
    }

    #[test]
    fn truncated_marker_is_text() {
        let s = format!("{OPEN}abc");
        assert_eq!(parts(&s), vec![Part::Text(&s)]);
    }
}
