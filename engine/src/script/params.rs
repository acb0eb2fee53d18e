//! `params(#{ name: #{ default, doc, kind, secret, choices } })`: declared parameters and
//! the values given with `--param`, `--params FILE` or the page's form.

use std::collections::BTreeMap;

use rhai::{Dynamic, Engine, NativeCallContext};
use serde_json::Value;

use super::{RhaiResult, Shared, State, fail, pos_of, values};
use crate::config::{check_duration, suggest};
use crate::diag::{Diagnostic, SourcePos};
use crate::{Mode, ParamInput, ParamSpec, refs};

const KINDS: &[&str] = &["string", "int", "bool", "cidr", "duration", "list"];
const SPEC_KEYS: &[&str] = &["default", "doc", "kind", "secret", "choices"];

#[derive(Debug, Default)]
pub(crate) struct ParamState {
    given: BTreeMap<String, ParamInput>,
    specs: Vec<ParamSpec>,
    declared_at: Option<SourcePos>,
    pub secrets: crate::value::Secrets,
}

impl ParamState {
    pub fn new(given: BTreeMap<String, ParamInput>) -> Self {
        ParamState {
            given,
            ..Default::default()
        }
    }

    pub fn specs(&self) -> Vec<ParamSpec> {
        self.specs.clone()
    }
}

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    let s = state.clone();
    engine.register_fn("params", move |ctx: NativeCallContext, decl: rhai::Map| -> RhaiResult<rhai::Map> {
        let mut st = s.borrow_mut();
        let pos = pos_of(&ctx, &st);
        if let Some(first) = &st.params.declared_at {
            return fail(&ctx, format!("params() is already called at line {}; declare every parameter in one call", first.line));
        }
        st.params.declared_at = Some(pos);
        let mut out = rhai::Map::new();
        let mut names: Vec<_> = decl.keys().cloned().collect();
        names.sort();
        for name in names {
            let spec_dyn = &decl[&name];
            let spec = parse_spec(name.as_str(), spec_dyn).or_else(|m| fail(&ctx, m))?;
            let value = value_for(&mut st, &spec).or_else(|m| fail(&ctx, m))?;
            st.params.specs.push(spec);
            out.insert(name, value);
        }
        Ok(out)
    });
}

fn parse_spec(name: &str, d: &Dynamic) -> Result<ParamSpec, String> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "parameter name {name:?} must be letters, digits and '_'"
        ));
    }
    let Some(map) = d.read_lock::<rhai::Map>() else {
        return Err(format!(
            "parameter '{name}': expected a map like #{{ default: ..., doc: \"...\" }}, got {}",
            values::describe(d)
        ));
    };
    for key in map.keys() {
        if !SPEC_KEYS.contains(&key.as_str()) {
            let hint = match suggest(key, SPEC_KEYS.iter().copied()) {
                Some(s) => format!(" (did you mean '{s}'?)"),
                None => format!("; expected {}", SPEC_KEYS.join(", ")),
            };
            return Err(format!("parameter '{name}': unknown key '{key}'{hint}"));
        }
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match map.get(k) {
            None => Ok(None),
            Some(v) => values::as_string(v).map(Some).ok_or_else(|| {
                format!(
                    "parameter '{name}': {k} must be a string, got {}",
                    values::describe(v)
                )
            }),
        }
    };
    let default = match map.get("default") {
        None => None,
        Some(v) => {
            Some(values::to_json(v).map_err(|e| format!("parameter '{name}': default: {e}"))?)
        }
    };
    let kind = match text("kind")? {
        Some(k) if KINDS.contains(&k.as_str()) => k,
        Some(k) => {
            let hint = suggest(&k, KINDS.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(format!(
                "parameter '{name}': unknown kind '{k}'{hint}; expected one of {}",
                KINDS.join(", ")
            ));
        }
        None => match &default {
            Some(Value::Number(_)) => "int".to_string(),
            Some(Value::Bool(_)) => "bool".to_string(),
            Some(Value::Array(_)) => "list".to_string(),
            _ => "string".to_string(),
        },
    };
    let secret = match map.get("secret") {
        None => false,
        Some(v) => v
            .as_bool()
            .map_err(|_| format!("parameter '{name}': secret must be true or false"))?,
    };
    if secret && kind != "string" {
        return Err(format!(
            "parameter '{name}': only string parameters can be secret, this one is {kind}"
        ));
    }
    let choices = match map.get("choices") {
        None => None,
        Some(v) => match values::to_json(v) {
            Ok(Value::Array(a)) if !a.is_empty() => Some(a),
            _ => {
                return Err(format!(
                    "parameter '{name}': choices must be a non-empty array"
                ));
            }
        },
    };
    let spec = ParamSpec {
        name: name.to_string(),
        kind,
        required: default.is_none(),
        default: None,
        doc: text("doc")?,
        secret,
        choices,
    };
    // The default must itself be a valid value of the kind.
    if let Some(d) = &default {
        let _checked = check_value(&spec, &ParamInput::Json(d.clone()))
            .map_err(|e| format!("{e} (in the default)"))?;
    }
    Ok(ParamSpec { default, ..spec })
}

/// Checks and converts one value; the error names the parameter and never shows a secret.
fn check_value(spec: &ParamSpec, input: &ParamInput) -> Result<Dynamic, String> {
    let name = &spec.name;
    if input_has_markers(input) {
        return Err(format!(
            "parameter {name}: the value contains a character of U+E000-U+E001, which detscript reserves; remove it"
        ));
    }
    let shown = |raw: &str| {
        if spec.secret {
            String::new()
        } else {
            format!(", got {raw:?}")
        }
    };
    let as_text = || -> Result<String, String> {
        match input {
            ParamInput::Text(t) => Ok(t.clone()),
            ParamInput::Json(Value::String(s)) => Ok(s.clone()),
            ParamInput::Json(v) => Err(format!(
                "parameter '{name}' ({}): expected a string{}",
                spec.kind,
                if spec.secret {
                    String::new()
                } else {
                    format!(", got {v}")
                }
            )),
        }
    };
    let value: Dynamic = match spec.kind.as_str() {
        "int" => match input {
            ParamInput::Text(t) => {
                t.trim()
                    .parse::<rhai::INT>()
                    .map(Dynamic::from)
                    .map_err(|_| {
                        format!("parameter '{name}' (int): expected an integer{}", shown(t))
                    })?
            }
            ParamInput::Json(Value::Number(n)) if n.is_i64() => {
                Dynamic::from(n.as_i64().unwrap_or_default())
            }
            ParamInput::Json(v) => {
                return Err(format!(
                    "parameter '{name}' (int): expected an integer, got {v}"
                ));
            }
        },
        "bool" => match input {
            ParamInput::Text(t) => match t.trim() {
                "true" => Dynamic::from(true),
                "false" => Dynamic::from(false),
                _ => {
                    return Err(format!(
                        "parameter '{name}' (bool): expected true or false{}",
                        shown(t)
                    ));
                }
            },
            ParamInput::Json(Value::Bool(b)) => Dynamic::from(*b),
            ParamInput::Json(v) => {
                return Err(format!(
                    "parameter '{name}' (bool): expected true or false, got {v}"
                ));
            }
        },
        "list" => match input {
            ParamInput::Text(t) => {
                let items: rhai::Array = t
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Dynamic::from(s.to_string()))
                    .collect();
                Dynamic::from(items)
            }
            ParamInput::Json(Value::Array(a)) => {
                let mut items = rhai::Array::new();
                for v in a {
                    items.push(match v {
                        Value::String(s) => Dynamic::from(s.clone()),
                        Value::Number(n) if n.is_i64() => Dynamic::from(n.as_i64().unwrap_or_default()),
                        Value::Bool(b) => Dynamic::from(*b),
                        other => return Err(format!("parameter '{name}' (list): items must be strings, numbers or booleans, got {other}")),
                    });
                }
                Dynamic::from(items)
            }
            ParamInput::Json(v) => {
                return Err(format!(
                    "parameter '{name}' (list): expected a list, got {v}"
                ));
            }
        },
        "cidr" => {
            let t = as_text()?;
            check_cidr(&t).map_err(|e| format!("parameter '{name}' (cidr): {e}"))?;
            Dynamic::from(t)
        }
        "duration" => {
            let t = as_text()?;
            check_duration(&t).map_err(|e| format!("parameter '{name}' (duration): {e}"))?;
            Dynamic::from(t)
        }
        _ => Dynamic::from(as_text()?),
    };
    if let Some(choices) = &spec.choices {
        let as_json = values::to_json(&value).unwrap_or(Value::Null);
        if !choices.contains(&as_json) {
            let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
            return Err(format!(
                "parameter '{name}': expected one of {}{}",
                list.join(", "),
                if spec.secret {
                    String::new()
                } else {
                    format!(", got {as_json}")
                }
            ));
        }
    }
    Ok(value)
}

/// The value a declared parameter has in this compile.
fn value_for(st: &mut State, spec: &ParamSpec) -> Result<Dynamic, String> {
    let given = st.params.given.get(&spec.name).cloned();
    let value = match (&given, &spec.default) {
        (Some(input), _) => check_value(spec, input)?,
        (None, Some(default)) => check_value(spec, &ParamInput::Json(default.clone()))?,
        (None, None) => {
            let preview = st.mode == Some(Mode::Preview);
            let stringy = !matches!(spec.kind.as_str(), "int" | "bool" | "list");
            if preview && stringy {
                let pos = st.params.declared_at.clone().unwrap_or_default();
                st.warnings.push(Diagnostic::warning(
                    format!(
                        "parameter '{}' has no value; the plan shows it as unset (pass --param {}=...)",
                        spec.name, spec.name
                    ),
                    &pos,
                ));
                let path = if spec.secret {
                    format!("{}{}", refs::UNSET_SECRET, spec.name)
                } else {
                    format!("param.{}", spec.name)
                };
                return Ok(Dynamic::from(refs::reference(&path)));
            }
            return Err(format!(
                "parameter '{}' ({}) is required: pass --param {}=VALUE",
                spec.name, spec.kind, spec.name
            ));
        }
    };
    if spec.secret {
        let text = values::as_string(&value).unwrap_or_default();
        st.params
            .secrets
            .insert(spec.name.clone(), crate::value::Secret::new(text));
        return Ok(Dynamic::from(refs::reference(&format!(
            "secret.{}",
            spec.name
        ))));
    }
    Ok(value)
}

/// After the run: every given value must belong to a declared parameter.
/// True when a given value holds the engine's reserved marker characters anywhere.
fn input_has_markers(input: &ParamInput) -> bool {
    fn json(v: &Value) -> bool {
        match v {
            Value::String(s) => crate::refs::has_marker_chars(s),
            Value::Array(a) => a.iter().any(json),
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| crate::refs::has_marker_chars(k) || json(v)),
            _ => false,
        }
    }
    match input {
        ParamInput::Text(t) => crate::refs::has_marker_chars(t),
        ParamInput::Json(v) => json(v),
    }
}

pub(crate) fn check_unused(st: &mut State) {
    let declared: Vec<String> = st.params.specs.iter().map(|s| s.name.clone()).collect();
    let pos = st.params.declared_at.clone().unwrap_or_else(|| SourcePos {
        file: st.main_file.clone(),
        ..Default::default()
    });
    let unknown: Vec<String> = st
        .params
        .given
        .keys()
        .filter(|k| !declared.contains(k))
        .cloned()
        .collect();
    for name in unknown {
        let msg = if st.params.declared_at.is_none() {
            format!("unknown parameter '{name}': this script declares no parameters")
        } else {
            match suggest(&name, declared.iter().map(String::as_str)) {
                Some(s) => format!("unknown parameter '{name}' (did you mean '{s}'?)"),
                None => format!(
                    "unknown parameter '{name}'; the script declares: {}",
                    declared.join(", ")
                ),
            }
        };
        st.errors_push(Diagnostic::error(msg, &pos));
    }
}

impl State {
    pub(crate) fn errors_push(&mut self, d: Diagnostic) {
        self.late_errors.push(d);
    }
}

/// An IPv4 or IPv6 CIDR block such as `10.0.0.0/16` or `2001:db8::/32`.
pub(crate) fn check_cidr(s: &str) -> Result<(), String> {
    let expected =
        || format!("expected a CIDR block such as \"10.0.0.0/16\" or \"::/0\", got {s:?}");
    let (ip, len) = s.split_once('/').ok_or_else(expected)?;
    let len: u8 = len.parse().map_err(|_| expected())?;
    let max = match ip.parse::<std::net::IpAddr>().map_err(|_| expected())? {
        std::net::IpAddr::V4(_) => 32,
        std::net::IpAddr::V6(_) => 128,
    };
    if len > max {
        return Err(format!(
            "{} (the prefix length is at most {max})",
            expected()
        ));
    }
    Ok(())
}
