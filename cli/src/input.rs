//! Reading what a command works on: the script, its imports and its parameter values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use detscript_engine::{CompileRequest, Mode, ModuleLoader, ParamInput};

use crate::{Exit, exit};

/// Loads imports from the main script's folder; refuses anything that resolves outside it
/// (including through symlinks).
pub struct FsLoader {
    root: PathBuf,
}

impl ModuleLoader for FsLoader {
    fn load(&self, path: &str) -> Option<String> {
        let root = self.root.canonicalize().ok()?;
        let full = root.join(path).canonicalize().ok()?;
        if !full.starts_with(&root) {
            return None;
        }
        std::fs::read_to_string(full).ok()
    }
}

/// A script read from disk with its parameter values.
pub struct Script {
    pub display: String,
    pub source: String,
    pub params: BTreeMap<String, ParamInput>,
    root: PathBuf,
}

impl Script {
    pub fn request(&self, mode: Mode) -> CompileRequest<'_> {
        CompileRequest {
            file: &self.display,
            source: &self.source,
            params: self.params.clone(),
            mode,
            loader: Rc::new(FsLoader {
                root: self.root.clone(),
            }),
        }
    }
}

pub fn usage_error(msg: impl std::fmt::Display) -> Exit {
    eprintln!("error: {msg}");
    Exit(exit::USAGE)
}

pub fn read_script(
    file: &Path,
    params: &[String],
    params_file: Option<&Path>,
) -> Result<Script, Exit> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| usage_error(format!("cannot read script {}: {e}", file.display())))?;
    let root = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut values = BTreeMap::new();
    if let Some(pf) = params_file {
        let text = std::fs::read_to_string(pf)
            .map_err(|e| usage_error(format!("cannot read params file {}: {e}", pf.display())))?;
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            usage_error(format!(
                "params file {} is not valid YAML or JSON: {e}",
                pf.display()
            ))
        })?;
        match doc {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    values.insert(k, ParamInput::Json(v));
                }
            }
            serde_json::Value::Null => {}
            _ => {
                return Err(usage_error(format!(
                    "params file {} must be a mapping of parameter names to values",
                    pf.display()
                )));
            }
        }
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            return Err(usage_error(format!(
                "--param {p:?} must look like NAME=VALUE"
            )));
        };
        if k.is_empty() {
            return Err(usage_error(format!("--param {p:?} has an empty name")));
        }
        values.insert(k.to_string(), ParamInput::Text(v.to_string()));
    }
    Ok(Script {
        display: file.display().to_string(),
        source,
        params: values,
        root,
    })
}
