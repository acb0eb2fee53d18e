//! Conversions between script values and plan values, with errors that say what was expected.

use rhai::{Dynamic, INT};
use serde_json::{Map, Value};

use super::handles::Bucket;
use super::handles::Database;
use super::handles::SecurityGroup;
use super::handles::{CheckpointStorage, MasterInstance};
use super::handles::{IamRole, InstanceProfile};
use crate::refs;

/// A short description of a value for error messages, e.g. `string "abc"` or `integer 5`.
pub(crate) fn describe(d: &Dynamic) -> String {
    if let Some(s) = d.read_lock::<rhai::ImmutableString>() {
        let s = s.as_str();
        if refs::has_refs(s) {
            return format!("string {}", refs::display(s, refs::Style::Text));
        }
        let short: String = s.chars().take(60).collect();
        return format!("string {short:?}");
    }
    if let Ok(i) = d.as_int() {
        return format!("integer {i}");
    }
    if let Ok(b) = d.as_bool() {
        return format!("boolean {b}");
    }
    if d.is_unit() {
        return "nothing (unit)".into();
    }
    type_name(d)
}

/// The script-facing type name of a value.
pub(crate) fn type_name(d: &Dynamic) -> String {
    let t = d.type_name();
    let short = t.rsplit("::").next().unwrap_or(t);
    match short {
        "ImmutableString" | "string" => "string".into(),
        "i64" => "integer".into(),
        "f64" => "decimal number".into(),
        "bool" => "boolean".into(),
        "Array" | "array" => "array".into(),
        "Map" | "map" => "map".into(),
        other => other.to_string(),
    }
}

pub(crate) fn as_string(d: &Dynamic) -> Option<String> {
    d.read_lock::<rhai::ImmutableString>()
        .map(|s| s.to_string())
}

pub(crate) fn as_int(d: &Dynamic) -> Option<INT> {
    d.as_int().ok()
}

/// A string argument, or "expects EXPECTED, got ...".
pub(crate) fn string_arg(d: &Dynamic, expected: &str) -> Result<String, String> {
    as_string(d).ok_or_else(|| format!("expects {expected}, got {}", describe(d)))
}

/// An integer argument, or "expects EXPECTED, got ...".
pub(crate) fn int_arg(d: &Dynamic, expected: &str) -> Result<INT, String> {
    as_int(d).ok_or_else(|| format!("expects {expected}, got {}", describe(d)))
}

/// An integer argument in `range`, else "WHAT must be LO-HI UNIT, got N".
pub(crate) fn int_in(
    d: &Dynamic,
    expected: &str,
    range: std::ops::RangeInclusive<INT>,
    what: &str,
    unit: &str,
) -> Result<INT, String> {
    let n = int_arg(d, expected)?;
    if !range.contains(&n) {
        let (lo, hi) = range.into_inner();
        return Err(format!("{what} must be {lo}-{hi}{unit}, got {n}"));
    }
    Ok(n)
}

/// The handle an argument holds, or "expects EXPECTED, got ...".
pub(crate) fn handle_arg<H: Clone + 'static>(d: &Dynamic, expected: &str) -> Result<H, String> {
    d.read_lock::<H>()
        .map(|h| h.clone())
        .ok_or_else(|| format!("expects {expected}, got {}", describe(d)))
}

/// A boolean argument, or "expects true or false, got ...".
pub(crate) fn bool_arg(d: &Dynamic) -> Result<bool, String> {
    d.as_bool()
        .map_err(|_| format!("expects true or false, got {}", describe(d)))
}

/// Converts a script value to JSON. Handles become their reference (an SG becomes its id).
pub(crate) fn to_json(d: &Dynamic) -> Result<Value, String> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(s) = as_string(d) {
        return Ok(Value::String(s));
    }
    if let Ok(c) = d.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(i) = d.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(f) = d.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a finite number"));
    }
    if d.is_array() {
        let arr = d.read_lock::<rhai::Array>().expect("checked is_array");
        return arr
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if d.is_map() {
        let map = d.read_lock::<rhai::Map>().expect("checked is_map");
        let mut out = Map::new();
        for (k, v) in map.iter() {
            out.insert(k.to_string(), to_json(v)?);
        }
        return Ok(Value::Object(out));
    }
    if let Some(sg) = d.read_lock::<SecurityGroup>() {
        return Ok(Value::String(refs::attr(&sg.id, "id")));
    }
    if let Some(p) = d.read_lock::<InstanceProfile>() {
        return Ok(Value::String(refs::attr(&p.id, "arn")));
    }
    if let Some(r) = d.read_lock::<IamRole>() {
        return Ok(Value::String(refs::attr(&r.id, "arn")));
    }
    if let Some(b) = d.read_lock::<Bucket>() {
        return Ok(Value::String(refs::attr(&b.id, "name")));
    }
    if let Some(s) = d.read_lock::<CheckpointStorage>() {
        return Ok(s.0.clone());
    }
    if d.is::<Database>() || d.is::<MasterInstance>() {
        return Err(format!(
            "a {} cannot be used as a plain value here",
            type_name(d)
        ));
    }
    Err(format!(
        "a value of type {} cannot be used in a configuration",
        type_name(d)
    ))
}

/// Actions or resources of a policy statement: a string or an array of strings.
pub(crate) fn string_list(d: &Dynamic, what: &str) -> Result<Vec<String>, String> {
    if let Some(s) = as_string(d) {
        return Ok(vec![s]);
    }
    if d.is_array() {
        let arr = d.read_lock::<rhai::Array>().expect("checked is_array");
        let mut out = Vec::with_capacity(arr.len());
        for item in arr.iter() {
            match as_string(item) {
                Some(s) => out.push(s),
                None => return Err(format!("{what} must be strings, got {}", describe(item))),
            }
        }
        if out.is_empty() {
            return Err(format!("{what} must not be empty"));
        }
        return Ok(out);
    }
    if let Some(r) = d.read_lock::<IamRole>() {
        return Ok(vec![refs::attr(&r.id, "arn")]);
    }
    if let Some(b) = d.read_lock::<Bucket>() {
        return Ok(vec![refs::attr(&b.id, "arn")]);
    }
    Err(format!(
        "{what} must be a string or an array of strings, got {}",
        describe(d)
    ))
}
