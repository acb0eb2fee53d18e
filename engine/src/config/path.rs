//! Where a master.yaml value does not fit the typed model. serde's error says what is wrong
//! but not where; the path (`resource_pools[0].provider.max_instances`) is found on the
//! error path only, by taking parts of the JSON out and deserializing again: the part whose
//! removal changes the error holds it. The model is deserialized by serde's own generated
//! code alone, without a path-tracking wrapper around every visitor (such as
//! `serde_path_to_error`, whose copies of that code made a tenth of the browser's gzipped
//! wasm; README "Measured"). A test compares the paths with `serde_path_to_error`'s.

use std::fmt;

use serde_json::Value;

use super::MasterConfig;

/// A master.yaml that does not fit the typed model: serde's error and the path of the value
/// it is about. Displayed as `PATH: ERROR` (`ERROR` alone at the top).
#[derive(Debug)]
pub struct ConfigError {
    path: String,
    inner: serde_json::Error,
}

impl ConfigError {
    /// `db.port`, `resource_pools[0].provider.custom_tags[1]`, or `.` for the whole config.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn inner(&self) -> &serde_json::Error {
        &self.inner
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path != "." {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.inner)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn check(v: &Value) -> Option<String> {
    MasterConfig::deserialize_plain(v.clone())
        .err()
        .map(|e| e.to_string())
}

fn node_mut<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, seg| match (seg, v) {
        (Seg::Key(k), Value::Object(m)) => m.get_mut(k).expect("key on the path"),
        (Seg::Index(i), Value::Array(a)) => &mut a[*i],
        _ => unreachable!("the path follows the value"),
    })
}

/// The value with the child `seg` of the node at `path` taken out, or with that node
/// reduced to that child alone (`only`).
fn edited(root: &Value, path: &[Seg], seg: &Seg, only: bool) -> Value {
    let mut v = root.clone();
    match (node_mut(&mut v, path), seg) {
        (Value::Object(m), Seg::Key(k)) => {
            if only {
                m.retain(|key, _| key == k);
            } else {
                m.remove(k);
            }
        }
        (Value::Array(a), Seg::Index(i)) => {
            if only {
                let keep = a[*i].clone();
                *a = vec![keep];
            } else {
                a.remove(*i);
            }
        }
        _ => unreachable!("children of objects and arrays only"),
    }
    v
}

fn children(v: &Value) -> Vec<Seg> {
    match v {
        Value::Object(m) => m.keys().cloned().map(Seg::Key).collect(),
        Value::Array(a) => (0..a.len()).map(Seg::Index).collect(),
        _ => Vec::new(),
    }
}

/// The path of the value `error` (serde's message for `root`) is about.
fn locate(root: &Value, error: &str) -> Vec<Seg> {
    // A missing field is about the map that lacks it, never about a scalar in it.
    let missing = error.starts_with("missing field");
    // `root` as it is narrowed down (see below), the path in it, and the path as shown.
    let mut root = root.clone();
    let mut path: Vec<Seg> = Vec::new();
    let mut shown: Vec<Seg> = Vec::new();
    loop {
        // checkpoint_storage is an internally tagged enum: serde reads it whole, and the
        // error is about it (or, for a bad variant, its tag).
        if let [Seg::Key(k)] = path.as_slice() {
            if k == "checkpoint_storage" {
                if error.starts_with("unknown variant") || error.ends_with("variant identifier") {
                    // The tag: `type`, or the first element of a sequence (serde's tuple form).
                    shown.push(match &root[k.as_str()] {
                        Value::Array(_) => Seg::Index(0),
                        _ => Seg::Key("type".into()),
                    });
                }
                return shown;
            }
        }
        let node = node_mut(&mut root, &path).clone();
        let candidates: Vec<Seg> = children(&node)
            .into_iter()
            .filter(|seg| {
                let child = match seg {
                    Seg::Key(k) => &node[k.as_str()],
                    Seg::Index(i) => &node[*i],
                };
                !missing || child.is_object() || child.is_array()
            })
            .collect();
        // The child whose removal changes the error holds it.
        if let Some(seg) = candidates
            .iter()
            .find(|seg| check(&edited(&root, &path, seg, false)).as_deref() != Some(error))
        {
            path.push(seg.clone());
            shown.push(seg.clone());
            continue;
        }
        // The same error in two children (removing either leaves the other's): the node
        // narrowed down to the first child that alone gives it, unless the node is wrong
        // itself (its type: emptied, it still is).
        let mut emptied = root.clone();
        match node_mut(&mut emptied, &path) {
            Value::Object(m) => m.clear(),
            Value::Array(a) => a.clear(),
            _ => return shown,
        }
        if check(&emptied).as_deref() == Some(error) {
            return shown;
        }
        let Some(seg) = candidates
            .iter()
            .find(|seg| check(&edited(&root, &path, seg, true)).as_deref() == Some(error))
        else {
            return shown;
        };
        root = edited(&root, &path, seg, true);
        shown.push(seg.clone());
        path.push(match seg {
            Seg::Index(_) => Seg::Index(0),
            key => key.clone(),
        });
    }
}

fn display(path: &[Seg]) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl MasterConfig {
    /// The typed model from JSON, with the path of the field that does not fit. Every
    /// caller goes through here: each deserializer the model is read with is a copy of
    /// its (large) generated code in the browser's wasm.
    #[inline(never)]
    pub fn from_json(v: Value) -> Result<Self, ConfigError> {
        match Self::deserialize_plain(v.clone()) {
            Ok(m) => Ok(m),
            Err(inner) => Err(ConfigError {
                path: display(&locate(&v, &inner.to_string())),
                inner,
            }),
        }
    }

    #[inline(never)]
    fn deserialize_plain(v: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(v)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::MasterConfig;

    /// A master.yaml with every typed part, pass-through keys and two pools.
    fn full() -> Value {
        let pool = |name: &str| {
            json!({
                "pool_name": name,
                "description": "d",
                "max_aux_containers_per_agent": 10,
                "agent_reattach_enabled": true,
                "scheduler": { "type": "fair_share" },
                "provider": {
                    "type": "aws",
                    "instance_type": "g4dn.xlarge",
                    "max_instances": 5,
                    "spot": false,
                    "network_interface": { "public_ip": true, "subnet_id": "subnet-1" },
                    "custom_tags": [{ "key": "a", "value": "b" }, { "key": "c", "value": "d" }],
                    "agent_config_file_contents": {
                        "hooks": { "on_connection_lost": ["shutdown", "now"] },
                        "debug": true
                    }
                }
            })
        };
        json!({
            "port": 8080,
            "checkpoint_storage": { "type": "s3", "bucket": "b", "save_trial_best": 1 },
            "db": { "user": "u", "password": "p", "host": "h", "port": 5432, "name": "n" },
            "resource_pools": [pool("a"), pool("b")],
            "security": { "tls": { "cert": "c", "key": "k" }, "initial_user_password": "x", "authz": {} },
            "log": { "level": "info", "color": false },
            "telemetry": { "enabled": false }
        })
    }

    fn paths(v: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(here.clone());
        let step = |k: String| {
            let mut p = here.clone();
            p.push(k);
            p
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| paths(c, step(k.clone()), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| paths(c, step(i.to_string()), out)),
            _ => {}
        }
    }

    fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
        path.iter().fold(v, |v, k| match v {
            Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            _ => &mut v[k.as_str()],
        })
    }

    /// Both error forms, as the callers see them: the path, the message and `Display`.
    fn outcome(v: &Value) -> (String, String, String) {
        match MasterConfig::from_json(v.clone()) {
            Ok(_) => ("ok".into(), String::new(), String::new()),
            Err(e) => (e.path().to_string(), e.inner().to_string(), e.to_string()),
        }
    }

    fn reference(v: &Value) -> (String, String, String) {
        match serde_path_to_error::deserialize::<_, MasterConfig>(v.clone()) {
            Ok(_) => ("ok".into(), String::new(), String::new()),
            Err(e) => (e.path().to_string(), e.inner().to_string(), e.to_string()),
        }
    }

    /// Every value and key of the full config made wrong in turn (and pairs of them, the
    /// same wrong value twice), against `serde_path_to_error`, the crate this replaces.
    #[test]
    fn paths_match_serde_path_to_error() {
        let base = full();
        let mut all = Vec::new();
        paths(&base, Vec::new(), &mut all);
        let wrong = [
            json!("x"),
            json!(5),
            json!(1.5),
            json!(true),
            json!(null),
            json!([]),
            json!({}),
            json!([1]),
            json!({ "zz": 1 }),
            json!(u64::MAX),
        ];
        let mut cases = Vec::new();
        for p in &all {
            for w in &wrong {
                let mut v = base.clone();
                *at(&mut v, p) = w.clone();
                cases.push(v);
            }
            if let Some((last, parent)) = p.split_last() {
                let mut v = base.clone();
                match at(&mut v, parent) {
                    Value::Object(m) => {
                        m.remove(last);
                    }
                    Value::Array(a) => {
                        a.remove(last.parse::<usize>().unwrap());
                    }
                    _ => unreachable!(),
                }
                cases.push(v);
            }
            let mut v = base.clone();
            if let Value::Object(m) = at(&mut v, p) {
                m.insert("bogus".into(), json!(1));
                cases.push(v);
            }
        }
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                if a.len() > 4 || b.len() > 4 || b.starts_with(a) {
                    continue;
                }
                let mut v = base.clone();
                *at(&mut v, a) = json!("x");
                *at(&mut v, b) = json!("x");
                cases.push(v);
            }
        }
        let mut differ = Vec::new();
        for v in &cases {
            let (got, want) = (outcome(v), reference(v));
            if got != want {
                differ.push(format!("got {:?} want {:?}: {}", got.0, want.0, want.1));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {} cases differ, e.g.\n{}",
            differ.len(),
            cases.len(),
            differ
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(cases.len() > 1000, "{} cases", cases.len());
    }
}
