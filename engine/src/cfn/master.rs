//! The master's user-data for CloudFormation: the script `run` writes, with master.yaml in
//! its heredoc; references and parameters in it are filled in by the template's `Fn::Sub`.
//!
//! `Fn::Sub` puts a parameter's raw value into master.yaml, so a scalar holding a parameter
//! (a secret such as the database password, or a parameter without a value) is written as a
//! YAML literal block scalar (`|2-`, its content on the next line): YAML reads its content
//! verbatim, whatever characters the value holds (`: `, ` #`, a leading `*`, `&`, `'`, `!`,
//! `"`, `\`, digits that would read as a number), as long as it is one line. The template
//! parameters say so: a database password follows RDS's rules ([`DB_PASSWORD_PATTERN`]),
//! any other parameter in master.yaml admits no line break ([`ONE_LINE_PATTERN`]).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::MasterConfig;
use crate::plan::MasterFiles;
use crate::value::{Part, Tmpl};

/// RDS's rules for a master password as the engine checks them (`check_password`): 8-128
/// printable ASCII characters except `/`, `"`, `@` and space.
pub(super) const DB_PASSWORD_PATTERN: &str = "^[!#-.0-?A-~]{8,128}$";
pub(super) const DB_PASSWORD_RULES: &str = "8-128 printable ASCII characters except '/', '\"', '@' and spaces (RDS's rules for a master password)";

/// A parameter substituted into master.yaml: one line.
pub(super) const ONE_LINE_PATTERN: &str = "^[^\\r\\n]*$";
pub(super) const ONE_LINE_RULES: &str = "one line (the value goes into master.yaml)";

/// The user-data of the master and the parameters substituted into its master.yaml.
pub(super) fn user_data(m: &MasterFiles) -> Result<(Tmpl, BTreeSet<String>), String> {
    let mut v = serde_json::to_value(&m.config).map_err(|e| e.to_string())?;
    // Secrets are read at boot by their ARNs, as `run` does (see `userdata::take_secrets`).
    let mut secrets = crate::userdata::take_secrets(&mut v);
    for s in &mut secrets {
        s.pin_version = false;
    }
    let (yaml, params) = master_yaml(v)?;
    let ud = crate::userdata::master_user_data_with(
        &m.deployment,
        &m.image,
        m.port,
        &yaml,
        &m.config_path,
        &secrets,
        &m.user_data_extras(&|_| None),
    );
    Ok((Tmpl::from_marked(&ud), params))
}

/// master.yaml (in the engine's marked form) with every scalar that holds a parameter as a
/// literal block scalar, and the names of those parameters.
fn master_yaml(mut v: Value) -> Result<(String, BTreeSet<String>), String> {
    let mut quoted: Vec<Tmpl> = Vec::new();
    // A prefix for placeholder scalars that the config's text does not contain.
    let token = crate::value::absent_token(&v, "DetscriptCfnParameterScalar");
    replace_param_scalars(&mut v, &token, &mut quoted);
    // Back through the typed model so that keys keep Determined's order, as `run` writes it.
    let typed = MasterConfig::from_json(v).map_err(|e| e.to_string())?;
    let yaml = serde_yaml_ng::to_string(&typed).map_err(|e| e.to_string())?;
    let mut params = BTreeSet::new();
    let mut done = vec![false; quoted.len()];
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        match block_scalar(line, &token, &quoted)? {
            Some((i, text)) => {
                done[i] = true;
                out.push_str(&text);
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if done.contains(&false) {
        return Err("master.yaml: a value holding a parameter is not a YAML value of its own (a map key?), so it cannot be quoted for CloudFormation".into());
    }
    for t in &quoted {
        for p in t.parts() {
            if let Part::Unset(n) | Part::Secret(n) | Part::UnsetSecret(n) = p {
                params.insert(n.clone());
            }
        }
    }
    Ok((out, params))
}

/// Replaces every string holding a parameter by `{token}{index}Z` and keeps its template.
fn replace_param_scalars(v: &mut Value, token: &str, quoted: &mut Vec<Tmpl>) {
    match v {
        Value::String(s) => {
            let t = Tmpl::from_marked(s);
            let has_param = t
                .parts()
                .iter()
                .any(|p| matches!(p, Part::Unset(_) | Part::Secret(_) | Part::UnsetSecret(_)));
            if has_param {
                *s = format!("{token}{}Z", quoted.len());
                quoted.push(t);
            }
        }
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| replace_param_scalars(x, token, quoted)),
        Value::Object(m) => m
            .values_mut()
            .for_each(|x| replace_param_scalars(x, token, quoted)),
        _ => {}
    }
}

/// When `line` is `KEY: TOKEN` or `- TOKEN`, the line with the placeholder's template as a
/// literal block scalar (with its index); lines end with `\n`.
fn block_scalar(
    line: &str,
    token: &str,
    quoted: &[Tmpl],
) -> Result<Option<(usize, String)>, String> {
    let Some(rest) = line.strip_suffix('Z') else {
        return Ok(None);
    };
    let Some(at) = rest.rfind(token) else {
        return Ok(None);
    };
    let Ok(i) = rest[at + token.len()..].parse::<usize>() else {
        return Ok(None);
    };
    let head = &line[..at];
    // The block's indentation: the column of the key, or of the sequence's dash.
    let base = if let Some(h) = head.strip_suffix("- ") {
        h.len()
    } else if head.ends_with(": ") {
        let mut col = 0;
        while head[col..].starts_with(' ') || head[col..].starts_with("- ") {
            col += if head[col..].starts_with(' ') { 1 } else { 2 };
        }
        col
    } else {
        return Ok(None);
    };
    let marked = quoted[i].to_marked();
    if marked.chars().any(|c| c.is_control() && c != '\n') {
        return Err("master.yaml: a value holding a parameter also holds control characters, which a YAML block scalar cannot".into());
    }
    // `-` drops the final line break; `+` keeps exactly the one the text ends with.
    let (body, chomp) = match marked.strip_suffix('\n') {
        Some(b) => (b, '+'),
        None => (marked.as_str(), '-'),
    };
    let indent = " ".repeat(base + 2);
    let mut out = format!("{head}|2{chomp}\n");
    for l in body.split('\n') {
        if !l.is_empty() {
            out.push_str(&indent);
            out.push_str(l);
        }
        out.push('\n');
    }
    Ok(Some((i, out)))
}
