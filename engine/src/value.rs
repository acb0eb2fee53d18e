//! Typed values of the plan: references to other resources' attributes ([`Ref`]), strings that
//! mix literal text with references, unset parameters and secrets ([`Tmpl`]), JSON documents
//! whose strings are templates ([`Doc`], for IAM policies) and secret values ([`Secret`]).
//!
//! A plan never holds a reference or a secret inside a plain string: whatever characters a
//! user-supplied string holds, it stays [`Part::Text`]. Secret values live only in
//! [`Secrets`]; a [`Secret`] cannot be formatted or serialized, only [`Secret::reveal`]ed.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::refs;

/// An attribute of a plan resource, known after apply: `iam_role.agent` + `arn`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    /// The logical id of the resource (`iam_role.agent`).
    pub resource: String,
    /// The attribute (`arn`, `id`, `name`, `endpoint`, `public_ip`, ...).
    pub attr: String,
}

impl Ref {
    pub fn new(resource: impl Into<String>, attr: impl Into<String>) -> Ref {
        Ref {
            resource: resource.into(),
            attr: attr.into(),
        }
    }

    /// `resource.attr`, as the plan shows it and as apply looks it up.
    pub fn path(&self) -> String {
        format!("{}.{}", self.resource, self.attr)
    }

    /// The engine-internal marked form, for the script layer.
    pub(crate) fn to_marked(&self) -> String {
        refs::reference(&self.path())
    }

    /// The key under which apply knows the value of the SSM parameter `name`: attributes
    /// are looked up by [`Ref::path`], and `ssm.NAME` is no resource's path.
    pub fn ssm(name: &str) -> Ref {
        Ref::new(refs::SSM.trim_end_matches('.'), name)
    }

    fn from_path(path: &str) -> Ref {
        let (resource, attr) = path.rsplit_once('.').unwrap_or((path, ""));
        Ref::new(resource, attr)
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource, self.attr)
    }
}

/// One piece of a [`Tmpl`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    /// Literal text, exactly as given (never interpreted).
    Text(String),
    /// An attribute known after apply.
    Ref(Ref),
    /// A parameter without a value (preview only; apply requires every parameter).
    Unset(String),
    /// The value of a secret parameter, by name: resolved only through [`Secrets`].
    Secret(String),
    /// A secret parameter without a value (preview only): a secret for every rule, shown
    /// as unset.
    UnsetSecret(String),
    /// The value of an SSM parameter, by name (`/aws/service/...`): read when the deployment
    /// is applied, resolved through the attributes as [`Ref::ssm`].
    Ssm(String),
}

/// A string of literal text, references, unset parameters and secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tmpl(Parts);

/// A template's parts. Most templates are one part (a name, a tag, a reference), held
/// inline: a plan of 100,000 resources has about half a million templates, and a separate
/// block for each was as many allocations, and a cache miss in every pass over the plan.
/// (`smallvec` does the same but added 3 KB gzipped to the page's module, which is at its
/// size budget.) Compared, hashed and shown as the slice of its parts, as a `Vec` would be.
#[derive(Clone, Default)]
enum Parts {
    #[default]
    Zero,
    One(Part),
    Many(Vec<Part>),
}

impl Parts {
    fn as_slice(&self) -> &[Part] {
        match self {
            Parts::Zero => &[],
            Parts::One(p) => std::slice::from_ref(p),
            Parts::Many(v) => v,
        }
    }

    fn last_mut(&mut self) -> Option<&mut Part> {
        match self {
            Parts::Zero => None,
            Parts::One(p) => Some(p),
            Parts::Many(v) => v.last_mut(),
        }
    }

    fn push(&mut self, p: Part) {
        *self = match std::mem::take(self) {
            Parts::Zero => Parts::One(p),
            Parts::One(first) => Parts::Many(vec![first, p]),
            Parts::Many(mut v) => {
                v.push(p);
                Parts::Many(v)
            }
        };
    }
}

impl std::ops::Deref for Parts {
    type Target = [Part];

    fn deref(&self) -> &[Part] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Parts {
    type Item = &'a Part;
    type IntoIter = std::slice::Iter<'a, Part>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl PartialEq for Parts {
    fn eq(&self, other: &Parts) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Parts {}

impl std::hash::Hash for Parts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// How a template is shown.
pub use crate::refs::Style;

/// A part a template could not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved(pub Part);

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Part::Ref(r) => write!(f, "{r} is not known yet"),
            Part::Unset(p) => write!(f, "parameter {p} has no value"),
            Part::Secret(s) => write!(f, "secret {s} has no value"),
            Part::Ssm(n) => write!(f, "SSM parameter {n} is not read yet"),
            Part::UnsetSecret(s) => write!(f, "secret parameter {s} has no value"),
            Part::Text(_) => write!(f, "text"),
        }
    }
}

impl Tmpl {
    /// Literal text, whatever it contains.
    pub fn text(s: impl Into<String>) -> Tmpl {
        let s = s.into();
        if s.is_empty() {
            Tmpl(Parts::Zero)
        } else {
            Tmpl(Parts::One(Part::Text(s)))
        }
    }

    /// A whole reference.
    pub fn reference(r: Ref) -> Tmpl {
        Tmpl(Parts::One(Part::Ref(r)))
    }

    /// Converts an engine-internal marked string (see [`crate::refs`]). Only the engine makes
    /// such strings; every string from outside is checked for marker characters on entry.
    pub(crate) fn from_marked(s: &str) -> Tmpl {
        if !refs::has_refs(s) {
            return Tmpl::text(s);
        }
        let mut t = Tmpl(Parts::Zero);
        for part in refs::parts(s) {
            t.push(match part {
                refs::Part::Text(x) => Part::Text(x.to_string()),
                refs::Part::Ref(p) => {
                    if let Some(n) = p.strip_prefix(refs::SECRET) {
                        Part::Secret(n.to_string())
                    } else if let Some(n) = p.strip_prefix(refs::UNSET_SECRET) {
                        Part::UnsetSecret(n.to_string())
                    } else if let Some(n) = p.strip_prefix("param.") {
                        Part::Unset(n.to_string())
                    } else if let Some(n) = p.strip_prefix(refs::SSM) {
                        Part::Ssm(n.to_string())
                    } else {
                        Part::Ref(Ref::from_path(p))
                    }
                }
            });
        }
        t
    }

    /// The engine-internal marked form (for the script layer and master.yaml rendering).
    pub(crate) fn to_marked(&self) -> String {
        MarkedForm(self).to_string()
    }

    fn push(&mut self, p: Part) {
        match (self.0.last_mut(), p) {
            (_, Part::Text(t)) if t.is_empty() => {}
            (Some(Part::Text(a)), Part::Text(b)) => a.push_str(&b),
            (_, p) => self.0.push(p),
        }
    }

    /// Appends another template.
    pub fn concat(mut self, other: &Tmpl) -> Tmpl {
        for p in &other.0 {
            self.push(p.clone());
        }
        self
    }

    pub fn parts(&self) -> &[Part] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, when the template is plain text (no reference, unset parameter or secret).
    pub fn as_text(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// An SSM parameter's value, read at apply.
    pub fn ssm(name: impl Into<String>) -> Tmpl {
        Tmpl(Parts::One(Part::Ssm(name.into())))
    }

    /// The SSM parameter, when the template is exactly one's value.
    pub fn as_ssm(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Ssm(n)] => Some(n),
            _ => None,
        }
    }

    /// Every SSM parameter the template reads.
    pub fn ssm_parameters(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Ssm(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The reference, when the template is exactly one.
    pub fn as_ref(&self) -> Option<&Ref> {
        match self.0.as_slice() {
            [Part::Ref(r)] => Some(r),
            _ => None,
        }
    }

    /// True when some part is not literal text.
    pub fn is_known(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Every reference in the template.
    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.0.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            _ => None,
        })
    }

    /// True when the template holds a secret.
    pub fn has_secret(&self) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Secret(_) | Part::UnsetSecret(_)))
    }

    /// The text with every part resolved: references through `attrs`, secrets through
    /// `secrets` (None keeps them unresolved). The result may contain secret values: send it
    /// to AWS or to a private file, never to a screen.
    pub fn resolve(
        &self,
        attrs: &dyn Fn(&Ref) -> Option<String>,
        secrets: Option<&Secrets>,
    ) -> Result<String, Unresolved> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Ref(r) => match attrs(r) {
                    Some(v) => out.push_str(&v),
                    None => return Err(Unresolved(p.clone())),
                },
                Part::Secret(n) => match secrets.and_then(|s| s.get(n)) {
                    Some(v) => out.push_str(v.reveal()),
                    None => return Err(Unresolved(p.clone())),
                },
                Part::Ssm(n) => match attrs(&Ref::ssm(n)) {
                    Some(v) => out.push_str(&v),
                    None => return Err(Unresolved(p.clone())),
                },
                Part::Unset(_) | Part::UnsetSecret(_) => return Err(Unresolved(p.clone())),
            }
        }
        Ok(out)
    }

    /// Replaces the references (and SSM parameters) `attrs` knows by their text; the rest
    /// stays.
    pub fn substitute(&self, attrs: &dyn Fn(&Ref) -> Option<String>) -> Tmpl {
        let mut t = Tmpl(Parts::Zero);
        for p in &self.0 {
            let known = match p {
                Part::Ref(r) => attrs(r),
                Part::Ssm(n) => attrs(&Ref::ssm(n)),
                _ => None,
            };
            match known {
                Some(v) => t.push(Part::Text(v)),
                None => t.push(p.clone()),
            }
        }
        t
    }

    /// The template for people or tools; secrets always read `(sensitive)`.
    pub fn display(&self, style: Style) -> String {
        if style == Style::Text {
            if let [p] = self.0.as_slice() {
                match p {
                    Part::Ref(r) => return refs::describe(&r.path()),
                    Part::Unset(n) => return format!("(unset parameter: {n})"),
                    Part::UnsetSecret(n) => return format!("(unset secret parameter: {n})"),
                    Part::Secret(_) => return "(sensitive)".into(),
                    Part::Ssm(n) => return refs::describe(&Ref::ssm(n).path()),
                    Part::Text(_) => {}
                }
            }
        }
        let mut out = String::new();
        let _ = self.write_parts(style, &mut out);
        out
    }

    /// The parts as [`Tmpl::display`] shows them, without its words for a whole reference.
    fn write_parts(&self, style: Style, out: &mut dyn fmt::Write) -> fmt::Result {
        for p in &self.0 {
            match p {
                Part::Text(t) if style == Style::Json => {
                    // A literal `${` reads `$${`.
                    for (i, piece) in t.split("${").enumerate() {
                        if i > 0 {
                            out.write_str("$${")?;
                        }
                        out.write_str(piece)?;
                    }
                }
                Part::Text(t) => out.write_str(t)?,
                Part::Ref(r) => write!(out, "${{{r}}}")?,
                Part::Unset(n) | Part::UnsetSecret(n) => write!(out, "${{param.{n}}}")?,
                Part::Secret(_) => out.write_str("(sensitive)")?,
                Part::Ssm(n) => write!(out, "${{{}}}", Ref::ssm(n))?,
            }
        }
        Ok(())
    }
}

/// A template in the canonical JSON form, formatted without an intermediate string.
struct JsonForm<'a>(&'a Tmpl);

impl fmt::Display for JsonForm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_parts(Style::Json, f)
    }
}

/// A template in the engine's marked form ([`Tmpl::to_marked`]).
struct MarkedForm<'a>(&'a Tmpl);

impl fmt::Display for MarkedForm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0.0 {
            if let Part::Text(t) = p {
                f.write_str(t)?;
                continue;
            }
            let (open, close) = (refs::OPEN, refs::CLOSE);
            match p {
                Part::Ref(r) => write!(f, "{open}{r}{close}"),
                Part::Unset(n) => write!(f, "{open}param.{n}{close}"),
                Part::Secret(n) => write!(f, "{open}{}{n}{close}", refs::SECRET),
                Part::UnsetSecret(n) => write!(f, "{open}{}{n}{close}", refs::UNSET_SECRET),
                Part::Ssm(n) => write!(f, "{open}{}{close}", Ref::ssm(n)),
                Part::Text(_) => Ok(()),
            }?;
        }
        Ok(())
    }
}

impl fmt::Display for Tmpl {
    /// The text style: references in words, secrets `(sensitive)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display(Style::Text))
    }
}

impl From<&str> for Tmpl {
    fn from(s: &str) -> Tmpl {
        Tmpl::text(s)
    }
}

impl From<Ref> for Tmpl {
    fn from(r: Ref) -> Tmpl {
        Tmpl::reference(r)
    }
}

thread_local! {
    static MARKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `base`, with as many `X` appended as it takes for the JSON text of `v` not to contain it:
/// a prefix for placeholders that cannot collide with the document's own text.
pub(crate) fn absent_token(v: &serde_json::Value, base: &str) -> String {
    let text = v.to_string();
    let mut token = base.to_string();
    while text.contains(&token) {
        token.push('X');
    }
    token
}

/// Runs `f` with templates serializing to the engine's marked form instead of `${path}`.
pub(crate) fn marked<T>(f: impl FnOnce() -> T) -> T {
    let before = MARKED.with(|m| m.replace(true));
    let out = f();
    MARKED.with(|m| m.set(before));
    out
}

fn marked_mode() -> bool {
    MARKED.with(|m| m.get())
}

impl Serialize for Tmpl {
    /// The canonical plan JSON form: `${path}` for references, `$${` for a literal `${`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Plain text is written as it is (the common case, no copy).
        match self.as_text() {
            Some(t) if marked_mode() || !t.contains("${") => s.serialize_str(t),
            _ if marked_mode() => s.collect_str(&MarkedForm(self)),
            _ => s.collect_str(&JsonForm(self)),
        }
    }
}

impl<'de> Deserialize<'de> for Tmpl {
    /// Only for the engine's own marked strings (builders → specs).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tmpl, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Tmpl::from_marked(&s))
    }
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if marked_mode() {
            let (open, close) = (refs::OPEN, refs::CLOSE);
            s.collect_str(&format_args!(
                "{open}{}.{}{close}",
                self.resource, self.attr
            ))
        } else {
            s.collect_str(&format_args!("${{{}.{}}}", self.resource, self.attr))
        }
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ref, D::Error> {
        let s = String::deserialize(d)?;
        match refs::whole_ref(&s) {
            Some(p) if !refs::is_external(p) => Ok(Ref::from_path(p)),
            _ => Err(de::Error::custom("expected a reference to a resource")),
        }
    }
}

/// A JSON document whose strings are templates (IAM policy documents).
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Tmpl),
    Array(Vec<Doc>),
    Object(BTreeMap<String, Doc>),
}

impl Doc {
    /// The document with every template resolved by `resolve`.
    pub fn try_to_json<E>(
        &self,
        resolve: &dyn Fn(&Tmpl) -> Result<String, E>,
    ) -> Result<serde_json::Value, E> {
        use serde_json::Value;
        Ok(match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::Str(t) => Value::String(resolve(t)?),
            Doc::Array(a) => Value::Array(
                a.iter()
                    .map(|x| x.try_to_json(resolve))
                    .collect::<Result<_, _>>()?,
            ),
            Doc::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), v.try_to_json(resolve)?)))
                    .collect::<Result<_, E>>()?,
            ),
        })
    }

    /// The document shown in `style` (references as `${path}`, secrets `(sensitive)`).
    pub fn display(&self, style: Style) -> serde_json::Value {
        self.try_to_json::<std::convert::Infallible>(&|t| Ok(t.display(style)))
            .unwrap_or_else(|e| match e {})
    }

    /// Values of a key of an object (`Resource`, `Action`), as a list whether it is one
    /// string or an array.
    pub fn strings_at(&self, key: &str) -> Vec<&Tmpl> {
        match self {
            Doc::Object(m) => match m.get(key) {
                Some(Doc::Str(t)) => vec![t],
                Some(Doc::Array(a)) => a
                    .iter()
                    .filter_map(|x| match x {
                        Doc::Str(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Doc]> {
        match self {
            Doc::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Doc::Str(t) => t.as_text(),
            _ => None,
        }
    }

    /// The document with templates in the engine's marked form (for builders).
    pub(crate) fn to_marked_json(&self) -> serde_json::Value {
        self.try_to_json::<std::convert::Infallible>(&|t| Ok(t.to_marked()))
            .unwrap_or_else(|e| match e {})
    }

    pub(crate) fn from_marked_json(v: &serde_json::Value) -> Doc {
        use serde_json::Value;
        match v {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Number(n) => Doc::Number(n.clone()),
            Value::String(s) => Doc::Str(Tmpl::from_marked(s)),
            Value::Array(a) => Doc::Array(a.iter().map(Doc::from_marked_json).collect()),
            Value::Object(m) => Doc::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Doc::from_marked_json(v)))
                    .collect(),
            ),
        }
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if marked_mode() {
            self.try_to_json::<std::convert::Infallible>(&|t| Ok(t.to_marked()))
                .unwrap_or_else(|e| match e {})
                .serialize(s)
        } else {
            self.display(Style::Json).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Doc::from_marked_json(&v))
    }
}

/// A secret value. It has no `Display` and no `Serialize`, and its `Debug` is redacted: the
/// only way to the text is [`Secret::reveal`], for apply and for `render -o`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value. Call it only to send it to AWS or into a private file.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(sensitive)")
    }
}

/// The plan's secrets, by parameter name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Secrets(BTreeMap<String, Secret>);

impl Secrets {
    pub fn insert(&mut self, name: impl Into<String>, value: Secret) {
        self.0.insert(name.into(), value);
    }

    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.0.values()
    }

    /// Replaces every secret value in `text` by `(sensitive)`, longest first, before any
    /// escaping or formatting of the text. The one place redaction happens.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<&str> = self
            .0
            .values()
            .map(Secret::reveal)
            .filter(|v| !v.is_empty())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for v in values {
            out = out.replace(v, "(sensitive)");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template of one part and one of several behave as a vector of parts would: the same
    /// parts, equality, hash and `Debug`, and text runs merged as they are pushed.
    #[test]
    fn templates_of_one_and_of_several_parts() {
        use std::hash::{BuildHasher, RandomState};
        let zero = Tmpl::text("");
        assert!(zero.is_empty() && zero.parts().is_empty());
        assert_eq!(format!("{zero:?}"), "Tmpl([])");
        let one = Tmpl::reference(Ref::new("iam_role.agent", "arn"));
        assert_eq!(one.parts(), [Part::Ref(Ref::new("iam_role.agent", "arn"))]);
        let marked = format!("arn:{}:x", refs::reference("iam_role.agent.arn"));
        let many = Tmpl::from_marked(&marked).concat(&Tmpl::text("-y"));
        assert_eq!(
            many.parts(),
            [
                Part::Text("arn:".into()),
                Part::Ref(Ref::new("iam_role.agent", "arn")),
                Part::Text(":x-y".into()),
            ]
        );
        assert_eq!(
            format!("{many:?}"),
            format!("Tmpl({:?})", many.parts().to_vec())
        );
        let again = Tmpl::text("arn:").concat(&one).concat(&Tmpl::text(":x-y"));
        assert_eq!(again, many);
        let h = RandomState::new();
        assert_eq!(h.hash_one(&again), h.hash_one(&many));
        assert_eq!(h.hash_one(&one), h.hash_one(vec![one.parts()[0].clone()]));
        assert_ne!(one, many);
    }

    #[test]
    fn text_never_becomes_a_reference() {
        let hostile = format!("{}secret.db_password{}", refs::OPEN, refs::CLOSE);
        let t = Tmpl::text(hostile.clone());
        assert_eq!(t.as_text(), Some(hostile.as_str()));
        assert!(!t.has_secret());
        let mut secrets = Secrets::default();
        secrets.insert("db_password", Secret::new("hunter2-hunter2"));
        assert_eq!(t.resolve(&|_| None, Some(&secrets)).unwrap(), hostile);
    }

    #[test]
    fn templates_render_and_resolve() {
        let t = Tmpl::text("arn:").concat(&Tmpl::reference(Ref::new("s3_bucket.b", "arn")));
        assert_eq!(t.display(Style::Json), "arn:${s3_bucket.b.arn}");
        assert_eq!(
            Tmpl::reference(Ref::new("iam_role.a", "arn")).display(Style::Text),
            "(known after apply: iam_role.a.arn)"
        );
        let v = t
            .resolve(&|r| (r.attr == "arn").then(|| "X".into()), None)
            .unwrap();
        assert_eq!(v, "arn:X");
        assert_eq!(Tmpl::text("${HOME}").display(Style::Json), "$${HOME}");
    }

    #[test]
    fn secrets_do_not_format_and_redact_before_escaping() {
        let s = Secret::new("pa\\ss\"word");
        assert_eq!(format!("{s:?}"), "Secret(sensitive)");
        let mut all = Secrets::default();
        all.insert("db", s);
        let msg = "InvalidParameter: password pa\\ss\"word is bad";
        let red = all.redact(msg);
        assert!(!red.contains("pa\\ss"), "{red}");
        let json = serde_json::to_string(&red).unwrap();
        assert!(!json.contains("pa\\\\ss"), "{json}");
    }
}
