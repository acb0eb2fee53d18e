//! The Rhai script API: a hardened engine whose registered functions build the plan.
//!
//! One file per domain registers its functions (`register(engine, state)`). Builders
//! validate their arguments where they are called and return a plain error; the
//! position of the call comes from the [`NativeCallContext`].

mod bounded_text;
pub(crate) mod bucket;
pub(crate) mod database;
mod deployment;
mod finalize;
pub(crate) mod handles;
pub(crate) mod iam;
mod lints;
pub(crate) mod master;
pub(crate) mod network;
mod params;
mod pools;
mod reference;
mod resolver;
pub(crate) mod security_group;
pub(crate) mod values;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, Position};

use crate::diag::{Diagnostic, Severity, SourcePos};
use crate::plan::Kind;
use crate::{CompileRequest, Compiled, Failure, Mode, ParamSpec};

pub(crate) use deployment::check_region;
pub(crate) use params::ParamState;

pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Sandbox limits. A legitimate script of 10,000 resources stays far below them.
#[cfg(feature = "metadata")]
pub use reference::{api_definitions, api_reference};

pub mod limits {
    /// Operations (roughly: expression evaluations) one compile may perform.
    pub const MAX_OPERATIONS: u64 = 5_000_000;
    pub const MAX_CALL_LEVELS: usize = 48;
    pub const MAX_EXPR_DEPTH: usize = 64;
    pub const MAX_FN_EXPR_DEPTH: usize = 32;
    pub const MAX_STRING_SIZE: usize = 1 << 20;
    pub const MAX_ARRAY_SIZE: usize = 10_000;
    pub const MAX_MAP_SIZE: usize = 10_000;
    pub const MAX_MODULES: usize = 64;
}

/// A resource as the script declares it; turned into a plan [`crate::plan::Resource`] at the end.
#[derive(Debug, Clone)]
pub(crate) struct Decl {
    pub id: String,
    pub kind: Kind,
    /// The typed properties; `None` until the builder (or, for pending ones, the end of
    /// the script) sets them.
    pub spec: Option<crate::kinds::Spec>,
    pub tags: BTreeMap<String, String>,
    pub pos: SourcePos,
    /// Filled at the end for resources whose shape depends on later calls (database, master).
    pub pending: bool,
    /// Where parts of the resource were set (e.g. `policy:NAME`), for findings.
    pub field_pos: HashMap<String, SourcePos>,
}

impl Decl {
    /// The name given in the script (`master` in `security_group("master", ..)`): the id
    /// after its kind (not kept apart: one string less for each resource).
    pub fn name(&self) -> &str {
        name_in(&self.id)
    }

    /// Sets the declaration's properties from its typed spec.
    pub fn set_spec(&mut self, spec: impl Into<crate::kinds::Spec>) {
        self.spec = Some(spec.into());
    }

    /// Changes the declaration through its kind's typed spec.
    pub fn edit<T: crate::kinds::SpecOf>(&mut self, f: impl FnOnce(&mut T)) {
        let spec = self
            .spec
            .as_mut()
            .and_then(T::of_mut)
            .expect("a declaration holds its kind's spec");
        f(spec);
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub main_file: std::sync::Arc<str>,
    pub mode: Option<Mode>,
    pub deployment: Option<deployment::DeploymentDecl>,
    pub decls: Vec<Decl>,
    /// Index in `decls` by id (a database's placeholder id until `finalize` names its kind).
    pub by_id: crate::FastMap<String, usize>,
    pub params: ParamState,
    pub warnings: Vec<Diagnostic>,
    /// Errors found after the script ran (unknown parameters).
    pub late_errors: Vec<Diagnostic>,
    pub databases: Vec<database::DbDecl>,
    pub configs: Vec<master::ConfigDecl>,
    pub pools: Vec<master::PoolDecl>,
    pub masters: Vec<master::MasterDecl>,
    pub printed: Vec<String>,
    pub allows: Vec<lints::Allow>,
    pub policies: Vec<lints::Policy>,
}

pub(crate) type Shared = Rc<RefCell<State>>;

impl State {
    /// Declares a resource; a second one with the same id is an error naming the first.
    /// Adds a declaration under `id`; a taken id returns the index of the first one.
    pub fn push_decl(&mut self, id: String, kind: Kind, pos: SourcePos) -> Result<usize, usize> {
        if let Some(&i) = self.by_id.get(&id) {
            return Err(i);
        }
        let i = self.decls.len();
        self.decls.push(Decl {
            id: id.clone(),
            kind,
            spec: None,
            tags: BTreeMap::new(),
            pos,
            pending: false,
            field_pos: HashMap::new(),
        });
        self.by_id.insert(id, i);
        Ok(i)
    }

    /// Declares a resource; a second one with the same id is an error naming the first.
    pub fn declare(&mut self, kind: Kind, name: &str, pos: SourcePos) -> Result<usize, String> {
        check_name(kind, name)?;
        let id = format!("{}.{}", kind.as_str(), name);
        self.push_decl(id, kind, pos).map_err(|i| {
            let first = &self.decls[i].pos;
            format!(
                "{} {name:?} is already declared at {}:{}; names must be unique per kind",
                kind.as_str(),
                first.file,
                first.line
            )
        })
    }

    /// Declares a resource at the native call `ctx` with its spec; returns its handle (or,
    /// as a `String`, its plan id). A taken name or an invalid one is an error at the call.
    pub fn declare_spec<H: handles::Declared>(
        &mut self,
        ctx: &NativeCallContext,
        kind: Kind,
        name: &str,
        spec: impl Into<crate::kinds::Spec>,
    ) -> RhaiResult<H> {
        let pos = pos_of(ctx, self);
        let i = self.declare(kind, name, pos).or_else(|m| fail(ctx, m))?;
        let d = &mut self.decls[i];
        d.set_spec(spec);
        Ok(H::declared(d.id.clone(), name))
    }

    /// Declares a security group rule; a duplicate returns the line of the first.
    pub fn declare_rule(&mut self, name: &str, pos: SourcePos) -> Result<usize, u32> {
        let id = format!("{}.{}", Kind::SecurityGroupRule.as_str(), name);
        self.push_decl(id, Kind::SecurityGroupRule, pos)
            .map_err(|i| self.decls[i].pos.line)
    }

    pub fn decl(&mut self, id: &str) -> &mut Decl {
        let i = self.by_id[id];
        &mut self.decls[i]
    }
}

/// Whether `name` is 1 to `max` letters, digits and `also` characters, starting with a letter.
pub(crate) fn is_name(name: &str, max: usize, also: &[char]) -> bool {
    (1..=max).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || also.contains(&c))
}

/// `Ok` when `ok`, else the error `why()`.
pub(crate) fn ok_or(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

pub(crate) fn check_name(kind: Kind, name: &str) -> Result<(), String> {
    ok_or(is_name(name, 48, &['-', '_']), || {
        format!(
            "{} name {name:?} is invalid: use 1-48 letters, digits, '-' or '_', starting with a letter",
            kind.as_str()
        )
    })
}

/// Registers the constructor `NAME(name)`: it declares a `kind` with the spec `spec()` and
/// returns the resource's handle.
pub(crate) fn constructor<H: handles::Declared + rhai::Variant + Clone, S>(
    engine: &mut Engine,
    state: &Shared,
    fname: &str,
    kind: Kind,
    spec: fn() -> S,
) where
    S: Into<crate::kinds::Spec> + 'static,
{
    let s = state.clone();
    engine.register_fn(
        fname,
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<H> {
            s.borrow_mut().declare_spec(&ctx, kind, name, spec())
        },
    );
}

/// The name in a declaration's id (`master` in `security_group.master`).
pub(crate) fn name_in(id: &str) -> &str {
    id.split_once('.').map_or("", |(_, name)| name)
}

/// The script position of a native call.
pub(crate) fn pos_of(ctx: &NativeCallContext, state: &State) -> SourcePos {
    let file = match ctx.call_source() {
        Some(file) if file != &*state.main_file => file.into(),
        // The main file's name is shared, not copied for each position.
        _ => state.main_file.clone(),
    };
    at(ctx.call_position(), file)
}

pub(crate) fn to_pos(p: Position, file: &str) -> SourcePos {
    at(p, file.into())
}

fn at(p: Position, file: std::sync::Arc<str>) -> SourcePos {
    SourcePos {
        file,
        line: p.line().unwrap_or(0) as u32,
        column: p.position().unwrap_or(0) as u32,
    }
}

/// A runtime error at the call site; Rhai keeps it as the innermost error.
pub(crate) fn fail<T>(ctx: &NativeCallContext, msg: impl Into<String>) -> RhaiResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        ctx.call_position(),
    )))
}

/// Registers the method `name(handle, value)`, returning the handle: `f` gets the call, the
/// state and the value, and changes the declaration behind the handle.
pub(crate) fn method<H: rhai::Variant + Clone>(
    engine: &mut Engine,
    state: &Shared,
    name: &str,
    f: impl Fn(&NativeCallContext, &mut State, &H, &Dynamic) -> RhaiResult<()> + 'static,
) {
    method_boxed(engine, state, name, Box::new(f));
}

/// A setter's body behind a pointer, so that Rhai's glue (argument casts, the returned
/// handle) is made once per handle type, not once per method: the browser's wasm is
/// smaller (docs/performance.md).
type MethodBody<H> = Box<dyn Fn(&NativeCallContext, &mut State, &H, &Dynamic) -> RhaiResult<()>>;

#[inline(never)]
fn method_boxed<H: rhai::Variant + Clone>(
    engine: &mut Engine,
    state: &Shared,
    name: &str,
    f: MethodBody<H>,
) {
    let s = state.clone();
    engine.register_fn(
        name,
        move |ctx: NativeCallContext, h: &mut H, v: Dynamic| -> RhaiResult<H> {
            f(&ctx, &mut s.borrow_mut(), h, &v)?;
            Ok(h.clone())
        },
    );
}

/// Registers `name(NAME)` and `name(NAME, options)` for a builder whose options may be
/// absent (`declare` gets `()` then).
pub(crate) fn register_with_options<T: rhai::Variant + Clone>(
    engine: &mut Engine,
    state: &Shared,
    name: &str,
    declare: fn(&NativeCallContext, &Shared, &str, &Dynamic) -> RhaiResult<T>,
) {
    let s = state.clone();
    engine.register_fn(name, move |ctx: NativeCallContext, n: &str| {
        declare(&ctx, &s, n, &Dynamic::UNIT)
    });
    let s = state.clone();
    engine.register_fn(
        name,
        move |ctx: NativeCallContext, n: &str, opts: Dynamic| declare(&ctx, &s, n, &opts),
    );
}

thread_local! {
    /// Rhai's standard library less what a deployment script has no use for: blobs (byte
    /// arrays) and bit fields. Numbers, strings, arrays, maps, logic, iteration, functions
    /// and `print` stay; the page and the CLI get the same language from here. Built once
    /// per thread: the engine is made anew for every plan (the page's re-plans).
    static SCRIPT_STD: Vec<rhai::Shared<rhai::Module>> = {
        use rhai::packages::*;
        vec![
            CorePackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
        ]
    };
}

/// Builds the hardened engine with the whole script API registered against `state`.
pub(crate) fn engine(
    state: &Shared,
    loader: Rc<dyn crate::ModuleLoader>,
    sources: resolver::Sources,
    budget: Rc<crate::budget::Budget>,
) -> Engine {
    let mut engine = Engine::new_raw();
    SCRIPT_STD.with(|packages| {
        for p in packages {
            engine.register_global_module(p.clone());
        }
    });
    engine
        .set_max_strings_interned(0)
        .set_max_operations(limits::MAX_OPERATIONS)
        .set_max_call_levels(limits::MAX_CALL_LEVELS)
        .set_max_expr_depths(limits::MAX_EXPR_DEPTH, limits::MAX_FN_EXPR_DEPTH)
        .set_max_string_size(limits::MAX_STRING_SIZE)
        .set_max_array_size(limits::MAX_ARRAY_SIZE)
        .set_max_map_size(limits::MAX_MAP_SIZE)
        .set_max_modules(limits::MAX_MODULES)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    // `default` is reserved in Rhai, but the script API's params use it as a map key
    // (`#{ default: "x" }`): let it through as a plain identifier.
    #[allow(deprecated)]
    // Literals may not hold the engine's reference markers: only the engine makes references.
    // Parsing counts against the budget (its deadline and `let` limit).
    engine.on_parse_token(move |token, _pos, _state| {
        if let Some(why) = budget.token(matches!(token, rhai::Token::Let)) {
            return rhai::Token::LexError(Box::new(rhai::LexError::Runtime(why)));
        }
        match token {
            rhai::Token::Reserved(word) if word.as_str() == "default" => {
                rhai::Token::Identifier(word)
            }
            rhai::Token::StringConstant(s) | rhai::Token::InterpolatedString(s)
                if crate::refs::has_marker_chars(&s) =>
            {
                reserved_char_error()
            }
            rhai::Token::CharConstant(c) if crate::refs::has_marker_chars(&c.to_string()) => {
                reserved_char_error()
            }
            other => other,
        }
    });
    bounded_text::register(&mut engine);
    // Rhai's `sleep` blocks the thread, unseen by the operation limit (and traps the page's
    // engine): a plan has nothing to wait for.
    fn no_sleep(ctx: NativeCallContext) -> RhaiResult<()> {
        fail(
            &ctx,
            "sleep is not available: a plan has nothing to wait for",
        )
    }
    engine.register_fn("sleep", |ctx: NativeCallContext, _: rhai::INT| {
        no_sleep(ctx)
    });
    engine.register_fn("sleep", |ctx: NativeCallContext, _: rhai::FLOAT| {
        no_sleep(ctx)
    });
    // A blob decoded as UTF-8 cannot forge a marker either.
    engine.register_fn("as_string", |blob: rhai::Blob| {
        crate::refs::scrub_markers(&String::from_utf8_lossy(&blob))
    });
    let main_file = state.borrow().main_file.clone();
    engine.set_module_resolver(resolver::SandboxResolver::new(loader, &main_file, sources));
    {
        let s = state.clone();
        engine.on_print(move |text| s.borrow_mut().printed.push(text.to_string()));
        let s = state.clone();
        engine.on_debug(move |text, _src, pos| {
            s.borrow_mut()
                .printed
                .push(format!("[line {}] {text}", pos.line().unwrap_or(0)));
        });
    }
    params::register(&mut engine, state);
    deployment::register(&mut engine, state);
    for register in crate::kinds::BUILDERS {
        register(&mut engine, state);
    }
    lints::register(&mut engine, state);
    engine
}

fn reserved_char_error() -> rhai::Token {
    rhai::Token::LexError(Box::new(rhai::LexError::ImproperSymbol(
        String::new(),
        "a string holds a character of U+E000-U+E001, which detscript reserves".into(),
    )))
}

thread_local! {
    /// Names of the script API, for "did you mean" on unknown functions: the engine's own
    /// registrations, as checked into `api_names.txt` (a test keeps the file equal to them).
    static API_NAMES: Vec<String> = API_NAMES_TXT.lines().map(str::to_string).collect();
}

/// The registered script API names, one per line (see [`api_names`]).
pub(crate) const API_NAMES_TXT: &str = include_str!("api_names.txt");

/// An engine with the whole API registered against a throwaway state (for names and docs).
#[cfg(feature = "metadata")]
pub(crate) fn engine_for_docs() -> Engine {
    let state: Shared = Rc::new(RefCell::new(State::default()));
    engine(
        &state,
        Rc::new(crate::NoModules),
        resolver::Sources::default(),
        Rc::new(crate::budget::Budget::new(None)),
    )
}

/// Rhai's own functions the engine re-registers with its limits: not part of the script API.
#[cfg(feature = "metadata")]
pub(crate) const RHAI_OVERRIDES: &[&str] = &[
    "to_string",
    "as_string",
    "print",
    "debug",
    "to_debug",
    "to_json",
    "sleep",
];

/// The script-facing function names registered on `engine` (getters become their property).
#[cfg(all(test, feature = "metadata"))]
pub(crate) fn api_names(engine: &Engine) -> Vec<String> {
    let mut names: Vec<String> = engine
        .gen_fn_signatures(false)
        .iter()
        .filter_map(|sig| {
            let name = sig.split('(').next()?.trim();
            let name = name.strip_prefix("get$").unwrap_or(name);
            (name.chars().next()?.is_ascii_alphabetic() && !name.contains('$'))
                .then(|| name.to_string())
        })
        .filter(|n| !RHAI_OVERRIDES.contains(&n.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Runs a script and builds its plan.
pub(crate) fn compile(
    req: &CompileRequest,
    interrupt: Option<crate::Interrupt>,
) -> Result<Compiled, Failure> {
    let state: Shared = Rc::new(RefCell::new(State {
        main_file: req.file.into(),
        mode: Some(req.mode),
        params: ParamState::new(req.params.clone()),
        ..State::default()
    }));
    let sources = resolver::Sources::default();
    sources.insert(req.file, req.source);
    // One budget for the whole compile: Rhai counts operations per run (the script, each
    // import, each policy), the budget counts them together and asks the host every few
    // operations or parsed tokens (it may look at a clock or its memory; we may not).
    let budget = Rc::new(crate::budget::Budget::new(interrupt));
    let mut engine = engine(&state, req.loader.clone(), sources.clone(), budget.clone());
    {
        let b = budget.clone();
        engine.on_progress(move |_| b.tick().map(Dynamic::from));
        let (s, b) = (state.clone(), budget.clone());
        engine.on_print(move |text| {
            if b.print(text.len()) {
                s.borrow_mut().printed.push(text.to_string());
            }
        });
        let (s, b) = (state.clone(), budget.clone());
        engine.on_debug(move |text, _src, pos| {
            let line = format!("[line {}] {text}", pos.line().unwrap_or(0));
            if b.print(line.len()) {
                s.borrow_mut().printed.push(line);
            }
        });
    }
    let result = engine.compile(req.source).map_err(|e| {
        let pos = to_pos(e.position(), req.file);
        vec![Diagnostic::error(parse_message(&e), &pos)]
    });
    let run = result.and_then(|mut ast| {
        ast.set_source(req.file);
        let ran = engine
            .run_ast(&ast)
            .and_then(|()| match budget.printed_too_much() {
                // Printed by the last statement: no operation came after to stop it.
                Some(why) => Err(Box::new(EvalAltResult::ErrorTerminated(
                    why.into(),
                    ast.statements()
                        .last()
                        .map_or(Position::NONE, |s| s.position()),
                ))),
                None => Ok(()),
            });
        ran.map(|()| ast).map_err(|e| {
            let known: Vec<String> = state
                .borrow()
                .params
                .specs()
                .into_iter()
                .map(|p| p.name)
                .collect();
            vec![runtime_diagnostic(&e, req.file, &known)]
        })
    });
    let outcome = run.and_then(|ast| {
        let plan = {
            let mut st = state.borrow_mut();
            params::check_unused(&mut st);
            finalize::finish(&mut st)?
        };
        // Lints and the script's policies; policies run without a borrow of the state,
        // since they are script code that may call the API.
        let mut findings = crate::lints::check(&plan);
        let policies = state.borrow().policies.clone();
        findings.extend(lints::run_policies(&policies, &plan, &engine, &ast));
        let findings = lints::apply_allows(&state.borrow(), findings);
        let (errors, warnings): (Vec<_>, Vec<_>) = findings
            .into_iter()
            .partition(|d| d.severity == Severity::Error);
        let mut st = state.borrow_mut();
        st.warnings.extend(warnings);
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(errors)
        }
    });
    let st = state.borrow();
    let params = st.params.specs();
    let attach = |mut d: Diagnostic| {
        if d.line > 0 {
            d.source_line = sources.line(&d.file, d.line);
        }
        d
    };
    match outcome {
        Ok(plan) => Ok(Compiled {
            plan,
            diagnostics: st.warnings.iter().cloned().map(attach).collect(),
            params,
            printed: st
                .printed
                .iter()
                .map(|p| crate::refs::display(p, crate::refs::Style::Text))
                .collect(),
        }),
        Err(mut diags) => {
            diags.sort_by(|a, b| {
                (a.file != req.file, &a.file, a.line, a.column).cmp(&(
                    b.file != req.file,
                    &b.file,
                    b.line,
                    b.column,
                ))
            });
            let mut all: Vec<Diagnostic> = diags.into_iter().map(attach).collect();
            all.extend(st.warnings.iter().cloned().map(attach));
            Err(Failure {
                diagnostics: all,
                params,
            })
        }
    }
}

/// Reads the declared parameters: runs the script without values, in preview mode.
pub(crate) fn declared_params(
    req: &CompileRequest,
    interrupt: Option<crate::Interrupt>,
) -> Result<Vec<ParamSpec>, Failure> {
    let req = CompileRequest {
        file: req.file,
        source: req.source,
        params: BTreeMap::new(),
        mode: Mode::Preview,
        loader: req.loader.clone(),
    };
    match compile(&req, interrupt) {
        Ok(c) => Ok(c.params),
        Err(f) if !f.params.is_empty() => Ok(f.params),
        Err(f) => Err(f),
    }
}

fn parse_message(e: &rhai::ParseError) -> String {
    parse_error_message(e.err_type())
}

fn parse_error_message(e: &rhai::ParseErrorType) -> String {
    match e {
        // Stopped by the budget while parsing: not a syntax error.
        rhai::ParseErrorType::BadInput(rhai::LexError::Runtime(why)) => why.clone(),
        other => format!("syntax error: {other}"),
    }
}

/// Turns a Rhai error (possibly wrapped by function calls and modules) into one diagnostic
/// at the innermost position, with the call chain as notes.
fn runtime_diagnostic(err: &EvalAltResult, main_file: &str, param_names: &[String]) -> Diagnostic {
    let mut notes = Vec::new();
    let mut file = main_file.to_string();
    let mut cur = err;
    loop {
        match cur {
            EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
                notes.push(format!(
                    "in call to function '{name}' at {file}:{}",
                    pos.line().unwrap_or(0)
                ));
                if !src.is_empty() {
                    file = src.clone();
                }
                cur = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, pos) => {
                notes.push(format!(
                    "in module {path:?} imported at {file}:{}",
                    pos.line().unwrap_or(0)
                ));
                file = path.clone();
                cur = inner;
            }
            _ => break,
        }
    }
    notes.reverse();
    let pos = to_pos(cur.position(), &file);
    let message = match cur {
        EvalAltResult::ErrorRuntime(d, _) if d.is_string() => {
            d.clone().into_string().unwrap_or_default()
        }
        EvalAltResult::ErrorParsing(p, _) => parse_error_message(p),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => unknown_function(sig),
        EvalAltResult::ErrorPropertyNotFound(name, _) => {
            const ATTRIBUTES: &[&str] = &[
                "arn",
                "id",
                "name",
                "endpoint",
                "port",
                "public_ip",
                "private_ip",
            ];
            let candidates = param_names
                .iter()
                .map(String::as_str)
                .chain(ATTRIBUTES.iter().copied());
            match crate::config::suggest(name, candidates) {
                Some(s) => format!("unknown property '{name}' (did you mean '{s}'?)"),
                None if !param_names.is_empty() => format!(
                    "unknown property '{name}'; the parameters are {} and handles have {}",
                    param_names.join(", "),
                    ATTRIBUTES.join(", ")
                ),
                None => format!("unknown property '{name}'"),
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "the script was stopped after {} operations: is there an endless loop?",
            limits::MAX_OPERATIONS
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "the script was stopped: function calls nested deeper than {} levels (endless recursion?)",
            limits::MAX_CALL_LEVELS
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "the script was stopped: {} exceeds the sandbox limit (strings {} bytes, arrays {} items, maps {} entries)",
            what.to_lowercase()
                .replace("length of ", "a ")
                .replace("size of ", "a ")
                .replace("array/blob", "array")
                .replace("object map", "map"),
            limits::MAX_STRING_SIZE,
            limits::MAX_ARRAY_SIZE,
            limits::MAX_MAP_SIZE
        ),
        EvalAltResult::ErrorTerminated(reason, _) => {
            format!(
                "the script was stopped: {}",
                reason
                    .clone()
                    .into_string()
                    .unwrap_or_else(|_| "the host interrupted it".into())
            )
        }
        EvalAltResult::ErrorTooManyModules(_) => {
            format!(
                "the script imports more than {} modules",
                limits::MAX_MODULES
            )
        }
        EvalAltResult::ErrorModuleNotFound(path, _) => {
            format!("cannot import {path:?}: no such script next to this one")
        }
        other => {
            let text = other.to_string();
            match text.find(" (line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    };
    // Never show raw reference markers; secrets read (sensitive).
    let mut d = Diagnostic::error(
        crate::refs::display(&message, crate::refs::Style::Text),
        &pos,
    );
    d.notes = notes;
    d
}

fn unknown_function(sig: &str) -> String {
    let name = sig.split([' ', '(']).next().unwrap_or(sig);
    let sig = sig
        .replace("&str | ImmutableString | String", "string")
        .replace("&mut ", "")
        .replace("i64", "int")
        .replace("rhai::", "");
    let mut msg = format!("unknown function or wrong argument types: {sig}");
    let suggestion = API_NAMES.with(|names| {
        crate::config::suggest(name, names.iter().map(String::as_str)).map(str::to_string)
    });
    let first_arg = sig
        .split_once('(')
        .and_then(|(_, a)| a.split([',', ')']).next())
        .map(str::trim);
    let accepted = reference::accepted(name, first_arg);
    if !accepted.is_empty() {
        msg.push_str(&format!("; {name} accepts: {}", accepted.join(", ")));
    } else if let Some(s) = suggestion {
        if s != name {
            msg.push_str(&format!(" (did you mean '{s}'?)"));
        }
    }
    msg
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fidelity;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_model;
#[cfg(all(test, feature = "metadata"))]
mod tests_reference;
#[cfg(test)]
mod tests_userdata;
