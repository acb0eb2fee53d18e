//! `import` in the sandbox: only scripts under the main script's folder, read through the
//! host's [`crate::ModuleLoader`] (the engine itself never touches files).
//!
//! Rhai's default resolver reads any file on disk; this one refuses absolute paths and
//! paths that climb out of the script folder, evaluates each module once, and refuses
//! import cycles.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::ModuleLoader;
use crate::budget::MAX_IMPORT_DEPTH;
use crate::limits::MAX_MODULES;

/// Sources of the main script and every imported one, by display path.
#[derive(Clone, Default)]
pub(crate) struct Sources(Rc<RefCell<HashMap<String, String>>>);

impl Sources {
    pub fn insert(&self, file: &str, text: &str) {
        self.0
            .borrow_mut()
            .insert(file.to_string(), text.to_string());
    }

    pub fn line(&self, file: &str, line: u32) -> Option<String> {
        let map = self.0.borrow();
        let text = map.get(file)?;
        text.lines()
            .nth(line.checked_sub(1)? as usize)
            .map(str::to_string)
    }
}

pub(crate) struct SandboxResolver {
    loader: Rc<dyn ModuleLoader>,
    /// Folder of the main script as displayed, with a trailing '/' (or empty).
    root: String,
    sources: Sources,
    cache: RefCell<HashMap<String, Shared<Module>>>,
    loading: RefCell<HashSet<String>>,
    /// Modules being evaluated, outermost first (each imports the next).
    chain: RefCell<Vec<String>>,
}

impl SandboxResolver {
    pub fn new(loader: Rc<dyn ModuleLoader>, main_file: &str, sources: Sources) -> Self {
        let root = match main_file.rfind('/') {
            Some(i) => main_file[..=i].to_string(),
            None => String::new(),
        };
        SandboxResolver {
            loader,
            root,
            sources,
            cache: RefCell::default(),
            loading: RefCell::default(),
            chain: RefCell::default(),
        }
    }
}

/// Resolves `path` as written in an `import` against the folder of `importer` (a path
/// relative to the script root). Returns the normalized path relative to the root.
pub(crate) fn normalize(importer_dir: &str, path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(format!(
            "cannot import {path:?}: only relative paths to scripts in this script's folder are allowed"
        ));
    }
    let mut parts: Vec<&str> = importer_dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "cannot import {path:?}: it is outside the script's folder"
                    ));
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(format!("cannot import {path:?}: not a script path"));
    }
    let mut rel = parts.join("/");
    if !rel.ends_with(".rhai") {
        rel.push_str(".rhai");
    }
    Ok(rel)
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let importer = source.unwrap_or("");
        let importer_rel = importer
            .strip_prefix(self.root.as_str())
            .unwrap_or(importer);
        let importer_dir = importer_rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let rel = normalize(importer_dir, path)
            .map_err(|m| Box::new(EvalAltResult::ErrorRuntime(m.into(), pos)))?;
        if let Some(m) = self.cache.borrow().get(&rel) {
            return Ok(m.clone());
        }
        let display = format!("{}{rel}", self.root);
        // Rhai limits modules per run, not how deep imports nest; a long chain would
        // overflow the stack (each level is a nested evaluation). Every module counts once
        // towards the compile's total.
        if self.chain.borrow().len() >= MAX_IMPORT_DEPTH {
            let start = self.chain.borrow()[0].clone();
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!(
                    "cannot import {path:?}: imports nest more than {MAX_IMPORT_DEPTH} levels deep (the chain starts at {start}); import the modules side by side instead"
                )
                .into(),
                pos,
            )));
        }
        if self.cache.borrow().len() + self.chain.borrow().len() >= MAX_MODULES {
            return Err(Box::new(EvalAltResult::ErrorTooManyModules(pos)));
        }
        if !self.loading.borrow_mut().insert(rel.clone()) {
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("import cycle: {display} imports itself through its imports").into(),
                pos,
            )));
        }
        let text = self
            .loader
            .load(&rel)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(display.clone(), pos)))?;
        self.sources.insert(&display, &text);
        let in_module =
            |e: Box<EvalAltResult>| Box::new(EvalAltResult::ErrorInModule(display.clone(), e, pos));
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(display.as_str());
        self.chain.borrow_mut().push(display.clone());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        self.chain.borrow_mut().pop();
        let module = module.map_err(in_module)?;
        let module: Shared<Module> = module.into();
        self.loading.borrow_mut().remove(&rel);
        self.cache.borrow_mut().insert(rel, module.clone());
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn imports_stay_inside_the_script_folder() {
        assert_eq!(normalize("", "lib/cluster").unwrap(), "lib/cluster.rhai");
        assert_eq!(normalize("lib", "util").unwrap(), "lib/util.rhai");
        assert_eq!(normalize("lib", "../common.rhai").unwrap(), "common.rhai");
        assert!(normalize("", "../secret").is_err());
        assert!(normalize("", "/etc/passwd").is_err());
        assert!(normalize("lib", "../../x").is_err());
        assert!(normalize("", "C:\\x").is_err());
    }
}
