//! detscript's engine: compiles a parameterized Rhai script describing a Determined AI
//! cluster on AWS into a deployment [`Plan`].
//!
//! Pure: no files, environment, clock, network or printing, so that the same engine runs in
//! the CLI and, compiled to wasm32, in the browser preview. The host hands in the script
//! text, parameter values and a [`ModuleLoader`] for `import`.
//!
//! ```
//! use detscript_engine::{compile, CompileRequest, Mode, NoModules};
//! let src = r#"
//!     deployment("demo");
//!     let sg = security_group("web", "web servers");
//!     sg.ingress(tcp(443), "0.0.0.0/0");
//! "#;
//! let req = CompileRequest::new("demo.rhai", src, Mode::Preview);
//! let out = compile(&req).expect("valid script");
//! assert_eq!(out.plan.len(), 2);
//! ```

#![warn(clippy::print_stdout, clippy::print_stderr)]

/// Declares a closed record of the plan or of master.yaml: it derives `Debug`, `Clone`,
/// `PartialEq` and serde's traits, leaves its `None` fields out when written and refuses a
/// key it does not know when read. The struct (with its doc comment, further derives and
/// field attributes) is written as usual inside the braces.
macro_rules! closed_struct {
    ($(#[$attr:meta])* pub struct $name:ident $fields:tt) => {
        #[serde_with::skip_serializing_none]
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name $fields
    };
}

pub mod amis;
pub mod budget;
mod canon;
pub mod cfn;
pub mod config;
pub mod diag;
pub mod kinds;
pub mod lint;
pub mod lints;
pub mod plan;
pub(crate) mod refs;
mod render;
mod script;
mod tags;
pub mod userdata;
pub mod value;
pub mod versions;

/// A hash map keyed by resource ids (or other short strings the engine builds), with a
/// faster hasher than the standard library's SipHash: a plan of 100,000 resources hashes
/// every id several times. Nothing iterates these maps where order would show.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;

pub use diag::{Diagnostic, Severity, SourcePos};
pub use kinds::Spec;
pub use plan::{AgentPool, Kind, MasterFiles, Plan, Resource, Reveal};
pub use render::summary;
pub use script::limits;
#[cfg(feature = "metadata")]
pub use script::{api_definitions, api_reference};
pub use value::{Doc, Part, Ref, Secret, Secrets, Tmpl};

/// How missing required parameters are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A required parameter without a value becomes an unknown value plus a warning.
    Preview,
    /// A required parameter without a value is an error.
    Apply,
}

/// A parameter value as given by the host.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamInput {
    /// As typed on a command line or in a form field; parsed by the parameter's kind.
    Text(String),
    /// From a YAML/JSON params file; must already have the parameter's type.
    Json(serde_json::Value),
}

/// Reads scripts for `import`. `path` is relative to the main script's folder, normalized,
/// never absolute and never outside that folder (e.g. `lib/cluster.rhai`).
pub trait ModuleLoader {
    fn load(&self, path: &str) -> Option<String>;
}

/// Refuses every import.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&self, _path: &str) -> Option<String> {
        None
    }
}

/// Scripts held in memory, by path relative to the main script's folder.
#[derive(Debug, Clone, Default)]
pub struct MapLoader(pub BTreeMap<String, String>);

impl ModuleLoader for MapLoader {
    fn load(&self, path: &str) -> Option<String> {
        self.0.get(path).cloned()
    }
}

pub struct CompileRequest<'a> {
    /// The main script's path as shown in diagnostics (e.g. `scripts/deploy.rhai`).
    pub file: &'a str,
    pub source: &'a str,
    pub params: BTreeMap<String, ParamInput>,
    pub mode: Mode,
    pub loader: Rc<dyn ModuleLoader>,
}

impl<'a> CompileRequest<'a> {
    /// A request without parameters or imports.
    pub fn new(file: &'a str, source: &'a str, mode: Mode) -> Self {
        CompileRequest {
            file,
            source,
            params: BTreeMap::new(),
            mode,
            loader: Rc::new(NoModules),
        }
    }

    pub fn param(mut self, name: &str, value: ParamInput) -> Self {
        self.params.insert(name.to_string(), value);
        self
    }
}

/// A declared parameter, for `detscript params` and the page's form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub kind: String,
    pub default: Option<serde_json::Value>,
    pub doc: Option<String>,
    pub secret: bool,
    pub choices: Option<Vec<serde_json::Value>>,
    pub required: bool,
}

#[derive(Debug)]
pub struct Compiled {
    pub plan: Plan,
    /// Warnings (errors make the compile fail).
    pub diagnostics: Vec<Diagnostic>,
    pub params: Vec<ParamSpec>,
    /// What the script printed with `print`/`debug`.
    pub printed: Vec<String>,
}

#[derive(Debug)]
pub struct Failure {
    /// At least one error, possibly followed by warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Parameters declared before the failure, if the script got that far.
    pub params: Vec<ParamSpec>,
}

/// Runs the script in the sandbox and builds its plan.
pub fn compile(req: &CompileRequest) -> Result<Compiled, Failure> {
    script::compile(req, None)
}

/// Asked every [`budget::INTERRUPT_EVERY`] script operations (of the script, its imports
/// and its policies); `Some(reason)` stops the script with that reason, shown as "the script
/// was stopped: REASON". The host may look at a clock or its memory here (the engine itself
/// never does); keep it cheap. For memory, stop with [`budget::memory_exceeded`] once the
/// process uses more than [`budget::MAX_MEMORY`].
pub type Interrupt = Rc<dyn Fn() -> Option<String>>;

/// [`compile`], stopping the script when `interrupt` says so (e.g. a wall-clock deadline).
pub fn compile_with_interrupt(
    req: &CompileRequest,
    interrupt: Interrupt,
) -> Result<Compiled, Failure> {
    script::compile(req, Some(interrupt))
}

/// The parameters a script declares. The script runs in preview mode without parameter
/// values; a failure after its `params(...)` call still returns the parameters.
pub fn declared_params(req: &CompileRequest) -> Result<Vec<ParamSpec>, Failure> {
    script::declared_params(req, None)
}

/// [`declared_params`], stopping the script when `interrupt` says so (as
/// [`compile_with_interrupt`]).
pub fn declared_params_with_interrupt(
    req: &CompileRequest,
    interrupt: Interrupt,
) -> Result<Vec<ParamSpec>, Failure> {
    script::declared_params(req, Some(interrupt))
}
