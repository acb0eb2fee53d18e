//! The script API as data: signatures from Rhai's metadata, a one-line doc and an example per
//! function from `api_docs.txt`. From them: the Markdown reference (`docs/script-api.md`), the
//! Rhai definitions for editors (`docs/detscript.d.rhai`), and `api_signatures.txt`, the
//! list behind "wrong argument types" errors (checked in, so that the browser build, which
//! has no metadata, names the accepted signatures too). Tests keep all of them equal to the
//! registrations and compile every example.

/// The registered signatures, one per line (`security_group(string, string) -> SecurityGroup`,
/// `.ingress(Ports, value) on SecurityGroup -> SecurityGroup`).
pub(crate) const API_SIGNATURES_TXT: &str = include_str!("api_signatures.txt");

/// The signatures registered under `name` (methods written `Handle.name(args)`), for the
/// error of a call whose argument types match none of them: the methods of the receiver's
/// type when the first argument is a handle that has some, else the free functions, else all.
pub(crate) fn accepted(name: &str, first_arg: Option<&str>) -> Vec<&'static str> {
    let all: Vec<(&str, &'static str)> = API_SIGNATURES_TXT
        .lines()
        .filter_map(|l| {
            let head = l.split(['(', ' ']).next().unwrap_or_default();
            let on = match head.rsplit_once('.') {
                Some((on, n)) if n == name => on,
                None if head == name => "",
                _ => return None,
            };
            Some((on, l.split(" -> ").next().unwrap_or(l)))
        })
        .collect();
    let pick = |on: &str| -> Vec<&'static str> {
        all.iter()
            .filter(|(o, _)| *o == on)
            .map(|(_, l)| *l)
            .collect()
    };
    let methods = first_arg.map(pick).unwrap_or_default();
    if !methods.is_empty() {
        return methods;
    }
    let free = pick("");
    if !free.is_empty() {
        return free;
    }
    all.into_iter().map(|(_, l)| l).collect()
}

#[cfg(feature = "metadata")]
pub use meta::*;

#[cfg(feature = "metadata")]
mod meta {
    use std::collections::BTreeMap;

    use super::super::{RHAI_OVERRIDES, engine_for_docs};

    /// One registration.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Sig {
        /// The handle type for a method or property, else `None`.
        pub on: Option<String>,
        pub name: String,
        /// Argument types, the receiver left out.
        pub args: Vec<String>,
        pub ret: String,
        pub property: bool,
    }

    impl Sig {
        /// `name` or `Handle.name`: the key of its doc entry.
        pub fn key(&self) -> String {
            match &self.on {
                Some(on) => format!("{on}.{}", self.name),
                None => self.name.clone(),
            }
        }

        /// As the reference shows it: `name(a, b) -> R`, `.name(a) -> R`, `.prop -> R`.
        fn shown(&self) -> String {
            let dot = if self.on.is_some() { "." } else { "" };
            if self.property {
                format!("`{dot}{}` -> {}", self.name, self.ret)
            } else {
                format!(
                    "`{dot}{}({})` -> {}",
                    self.name,
                    self.args.join(", "),
                    self.ret
                )
            }
        }

        #[cfg(test)]
        /// A line of `api_signatures.txt`.
        fn line(&self) -> String {
            if self.property {
                format!("{} -> {}", self.key(), self.ret)
            } else {
                format!("{}({}) -> {}", self.key(), self.args.join(", "), self.ret)
            }
        }
    }

    /// Rust type names as scripts know them.
    fn tidy(t: &str) -> String {
        let t = t.trim().trim_start_matches("&mut ").trim_start_matches('&');
        if t.contains("BTreeMap") {
            return "map".into();
        }
        let t = t
            .strip_prefix("core::result::Result<")
            .map(|r| r.split(',').next().unwrap_or(r))
            .unwrap_or(t);
        let last = t.rsplit("::").next().unwrap_or(t);
        match last {
            "Dynamic" => "value".into(),
            "i64" => "int".into(),
            "Pool" => "AwsPool".into(),
            "Bucket" => "S3Bucket".into(),
            "ConfigHandle" => "MasterConfig".into(),
            "Map" => "map".into(),
            "Array" => "array".into(),
            "ImmutableString" | "String" | "str" => "string".into(),
            other => other.to_string(),
        }
    }

    /// Every registration of the script API, sorted, without Rhai's own functions.
    pub fn signatures() -> Vec<Sig> {
        let mut out = Vec::new();
        for sig in engine_for_docs().gen_fn_signatures(false) {
            let Some((head, ret)) = sig.split_once(" -> ") else {
                continue;
            };
            let Some((name, args)) = head.split_once('(') else {
                continue;
            };
            if RHAI_OVERRIDES.contains(&name) || name.contains('$') && !name.starts_with("get$") {
                continue;
            }
            let mut args: Vec<String> = args
                .trim_end_matches(')')
                .split(", ")
                .filter(|a| !a.is_empty())
                .map(|a| tidy(a.trim_start_matches("_: ")))
                .collect();
            let ret = tidy(ret);
            // A handle is a type of our own: its name starts with a capital letter.
            let handle = args
                .first()
                .filter(|a| a.starts_with(|c: char| c.is_ascii_uppercase()) && a.as_str() != "Fn")
                .cloned();
            let property = name.starts_with("get$");
            if handle.is_some() {
                args.remove(0);
            }
            out.push(Sig {
                on: handle,
                name: name.trim_start_matches("get$").to_string(),
                args,
                ret,
                property,
            });
        }
        out.sort();
        out.dedup();
        out
    }

    #[cfg(test)]
    /// The content of `api_signatures.txt`.
    pub fn signatures_txt() -> String {
        let lines: Vec<String> = signatures().iter().map(Sig::line).collect();
        lines.join("\n") + "\n"
    }

    /// The hand-written doc and example of each function, by [`Sig::key`].
    pub const API_DOCS: &str = include_str!("api_docs.txt");

    /// One entry of `api_docs.txt`: a `[key]` line, one line of doc, then the example,
    /// indented by four spaces.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct DocEntry {
        pub doc: String,
        pub example: String,
    }

    pub fn doc_entries() -> BTreeMap<String, DocEntry> {
        let mut out: BTreeMap<String, DocEntry> = BTreeMap::new();
        let mut key: Option<String> = None;
        for line in API_DOCS.lines() {
            if line.starts_with('#') && key.is_none() {
                continue;
            }
            if let Some(k) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                key = Some(k.to_string());
                out.entry(k.to_string()).or_default();
                continue;
            }
            let Some(e) = key.as_ref().and_then(|k| out.get_mut(k)) else {
                continue;
            };
            if let Some(code) = line.strip_prefix("    ") {
                e.example.push_str(code);
                e.example.push('\n');
            } else if !line.trim().is_empty() {
                if !e.doc.is_empty() {
                    e.doc.push(' ');
                }
                e.doc.push_str(line.trim());
            }
        }
        out
    }

    #[cfg(test)]
    /// The script an example of `key` runs as: `deployment("demo");` first unless it
    /// declares one, then the setup of its handle type (the `[Handle]` entry), if any.
    pub fn example_script(key: &str, example: &str, docs: &BTreeMap<String, DocEntry>) -> String {
        let setup = key
            .split_once('.')
            .and_then(|(on, _)| docs.get(on))
            .map_or("", |e| e.example.as_str());
        let deployment = if example.contains("deployment(") {
            ""
        } else {
            "deployment(\"demo\");\n"
        };
        format!("{deployment}{setup}{example}")
    }

    #[cfg(test)]
    /// True for the key of a handle type's setup (`[Database]`), not of a function.
    pub fn is_setup(key: &str) -> bool {
        !key.contains('.') && key.starts_with(|c: char| c.is_ascii_uppercase())
    }

    /// The script API as Markdown: the free functions, then one section per handle type
    /// with its methods and properties; each with its signatures, doc and example.
    pub fn api_reference() -> String {
        let docs = doc_entries();
        let mut groups: BTreeMap<Option<String>, BTreeMap<String, Vec<Sig>>> = BTreeMap::new();
        for s in signatures() {
            groups
                .entry(s.on.clone())
                .or_default()
                .entry(s.name.clone())
                .or_default()
                .push(s);
        }
        let mut out = String::from(
            "# The detscript script API\n\nGenerated from the engine's registrations and \
`engine/src/script/api_docs.txt` by `DETSCRIPT_UPDATE_DOCS=1 cargo test -p detscript-tests \
api_reference`; the tests fail when it is out of date, when a function lacks a doc or an \
example, and when an example does not compile. Examples run after `deployment(\"demo\");`. \
`value` accepts several types (a handle, a string, a number, a map: the error message says \
which); unknown values (`.arn`, unset parameters) are strings known after apply. Editors \
that read Rhai definition files get the same signatures from `docs/detscript.d.rhai`.\n",
        );
        for (on, names) in groups {
            out.push_str(&format!("\n## {}\n", on.as_deref().unwrap_or("Functions")));
            if let Some(setup) = on.as_ref().and_then(|o| docs.get(o)) {
                out.push_str(&format!(
                    "\n{}\n\n```rhai\n{}```\n",
                    setup.doc, setup.example
                ));
            }
            for (name, sigs) in names {
                let key = sigs[0].key();
                let entry = docs.get(&key).cloned().unwrap_or_default();
                let title = if on.is_some() {
                    format!(".{name}")
                } else {
                    name.clone()
                };
                out.push_str(&format!("\n### {title}\n\n"));
                let shown: Vec<String> = sigs.iter().map(Sig::shown).collect();
                out.push_str(&shown.join("  \n"));
                out.push_str(&format!("\n\n{}\n", entry.doc));
                if !entry.example.is_empty() {
                    out.push_str(&format!("\n```rhai\n{}```\n", entry.example));
                }
            }
        }
        out
    }

    /// Rhai's type names, as definition files spell them.
    fn def_type(t: &str) -> &str {
        match t {
            "string" => "String",
            "map" => "Map",
            "array" => "Array",
            "value" => "?",
            "Fn" => "FnPtr",
            other => other,
        }
    }

    /// The API as a Rhai definition file (the format `Engine::definitions` writes), with the
    /// return types Rhai's writer gets wrong for functions returning a result, and each
    /// function's doc as its comment.
    pub fn api_definitions() -> String {
        let docs = doc_entries();
        let mut out = String::from(
            "// detscript's script API, for editors that read Rhai definition files.\n\
// Generated with docs/script-api.md; the tests fail when it is out of date.\n\nmodule static;\n",
        );
        for s in signatures() {
            let mut params: Vec<String> = Vec::new();
            if let Some(on) = &s.on {
                params.push(format!("this: {on}"));
            }
            for (i, a) in s.args.iter().enumerate() {
                params.push(format!("arg{}: {}", i + 1, def_type(a)));
            }
            let ret = match s.ret.as_str() {
                "()" => String::new(),
                r => format!(" -> {}", def_type(r)),
            };
            let get = if s.property { "get " } else { "" };
            out.push('\n');
            if let Some(e) = docs.get(&s.key()) {
                out.push_str(&format!("/// {}\n", e.doc));
            }
            out.push_str(&format!(
                "fn {get}{}({}){ret};\n",
                s.name,
                params.join(", ")
            ));
        }
        out
    }
}
