//! Reading what a command works on: the script, its imports and its parameter values.
//!
//! Every file is read defensively: only regular files (a FIFO would block, a device never
//! end), at most [`MAX_FILE`] bytes, a leading UTF-8 byte order mark dropped. Error messages
//! quote user input clipped to [`QUOTE_CHARS`] characters.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use detscript_engine::{CompileRequest, Mode, ModuleLoader, ParamInput};

use crate::exit::{self, Exit};

/// The largest script, module or params file read: 4 MiB.
pub const MAX_FILE: u64 = 4 * 1024 * 1024;
/// How many characters of a user's input an error message quotes.
pub const QUOTE_CHARS: usize = 100;

/// Loads imports from the main script's folder; refuses anything that resolves outside it
/// (including through symlinks), and anything [`read_text`] refuses.
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
        read_text(&full).ok()
    }
}

/// A script read from disk with its parameter values.
pub struct Script {
    pub display: String,
    pub source: String,
    pub params: BTreeMap<String, ParamInput>,
    root: PathBuf,
    /// The names set with `--param` (they win over the environment).
    pub from_flags: Vec<String>,
    /// `--quiet`: no warnings.
    pub quiet: bool,
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

/// `text` cut to [`QUOTE_CHARS`] characters, with `...` when something was cut.
pub fn clip(text: &str) -> String {
    clip_to(text, QUOTE_CHARS)
}

/// `text` cut to `max` characters, with `...` when something was cut.
fn clip_to(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// `text` clipped, then quoted as Rust's `{:?}` does (escapes included).
pub fn quote(text: &str) -> String {
    format!("{:?}", clip(text))
}

/// A path as error messages show it: its last [`QUOTE_CHARS`] characters, `...` before them
/// when something was cut (the end names the file).
pub fn show_path(path: &Path) -> String {
    let text = path.display().to_string();
    let chars = text.chars().count();
    if chars <= QUOTE_CHARS {
        return text;
    }
    let skip = chars - QUOTE_CHARS;
    let (cut, _) = text.char_indices().nth(skip).unwrap_or((0, ' '));
    format!("...{}", &text[cut..])
}

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A FIFO, directory, device or socket: what it is.
    NotRegular(&'static str),
    TooLarge,
    NotUtf8,
}

impl ReadError {
    /// The error line for the `what` (e.g. "script") at `path`.
    fn message(&self, what: &str, path: &Path) -> String {
        let shown = show_path(path);
        match self {
            ReadError::Io(e) => format!("cannot read {what} {shown}: {e}"),
            ReadError::NotRegular(kind) => {
                format!("cannot read {what} {shown}: it is {kind}, not a regular file")
            }
            ReadError::TooLarge => format!("{what} {shown} is too large (over 4 MiB)"),
            ReadError::NotUtf8 => {
                format!("cannot read {what} {shown}: stream did not contain valid UTF-8")
            }
        }
    }
}

/// Opening a FIFO for reading blocks until a writer appears; with `O_NONBLOCK` it returns at
/// once and the `fstat` below refuses it. (Regular files ignore the flag.)
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    opts.open(path)
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

/// Reads a regular file of at most [`MAX_FILE`] bytes as UTF-8, without a leading BOM.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    // Checked before opening, so that a FIFO is refused without blocking, and again on the
    // opened file, in case the path changed in between.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(meta.file_type())));
    }
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(meta.file_type())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(ReadError::TooLarge);
    }
    let mut text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// The path that names standard input.
pub const STDIN: &str = "-";

/// Reads standard input as a script: at most [`MAX_FILE`] bytes of UTF-8, without a BOM.
fn read_stdin() -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(ReadError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

/// The prefix of environment variables that set parameters: `DETSCRIPT_PARAM_db_password`.
pub const ENV_PREFIX: &str = "DETSCRIPT_PARAM_";

/// Parameter values from the environment (`DETSCRIPT_PARAM_NAME=VALUE`), sorted by name.
pub fn env_params() -> Result<Vec<(String, String)>, Exit> {
    let mut out = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Some(name) = k.to_str().and_then(|k| k.strip_prefix(ENV_PREFIX)) else {
            continue;
        };
        let Some(v) = v.to_str() else {
            return Err(usage_error(format!(
                "environment variable {ENV_PREFIX}{name} is not valid UTF-8"
            )));
        };
        if !name.is_empty() {
            out.push((name.to_string(), v.to_string()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the script (`-`: standard input) and the values of `--params` and `--param`.
pub fn read_script(
    file: &Path,
    params: &[String],
    params_file: Option<&Path>,
) -> Result<Script, Exit> {
    let stdin = file.as_os_str() == STDIN;
    let source = if stdin {
        read_stdin().map_err(|e| usage_error(e.message("script", Path::new("(standard input)"))))?
    } else {
        read_text(file).map_err(|e| usage_error(e.message("script", file)))?
    };
    let root = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut values = BTreeMap::new();
    if let Some(pf) = params_file {
        let text = read_text(pf).map_err(|e| usage_error(e.message("params file", pf)))?;
        let map = params_file::parse(&text).map_err(|e| usage_error(e.message(pf)))?;
        for (k, v) in map {
            values.insert(k, ParamInput::Json(v));
        }
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            return Err(usage_error(format!(
                "--param {} must look like NAME=VALUE",
                quote(p)
            )));
        };
        if k.is_empty() {
            return Err(usage_error(format!(
                "--param {} has an empty name",
                quote(p)
            )));
        }
        values.insert(k.to_string(), ParamInput::Text(v.to_string()));
    }
    Ok(Script {
        display: if stdin {
            "<stdin>".to_string()
        } else {
            file.display().to_string()
        },
        source,
        params: values,
        root,
        from_flags: params
            .iter()
            .filter_map(|p| Some(p.split_once('=')?.0.to_string()))
            .collect(),
        quiet: false,
    })
}

/// Parsing a `--params` file: YAML or JSON, a mapping of parameter names to values.
mod params_file {
    use std::cell::RefCell;
    use std::path::Path;
    use std::time::Duration;

    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    use super::{QUOTE_CHARS, clip_to, quote, show_path};

    /// How deep lists and maps may nest.
    pub const MAX_DEPTH: usize = 64;
    /// How long parsing may take: a backstop for what [`flow_depth_over`] misses.
    const PARSE_DEADLINE: Duration = Duration::from_secs(5);

    /// Why a params file was refused.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ParamsError {
        /// The YAML parser's message, with its line and column.
        Syntax(String),
        NotAMapping,
        /// A key given twice in one mapping (the parser knows only where the mapping starts).
        Duplicate(String),
        /// Lists or maps nested deeper than [`MAX_DEPTH`], and where.
        TooDeep(Option<usize>),
        Slow,
    }

    impl ParamsError {
        pub fn message(&self, path: &Path) -> String {
            let file = show_path(path);
            let at =
                |line: &Option<usize>| line.map(|l| format!(" (line {l})")).unwrap_or_default();
            match self {
                ParamsError::Syntax(e) => {
                    format!("params file {file} is not valid YAML or JSON: {e}")
                }
                ParamsError::NotAMapping => {
                    format!("params file {file} must be a mapping of parameter names to values")
                }
                ParamsError::Duplicate(key) => {
                    format!("params file {file} has the key {} twice", quote(key))
                }
                ParamsError::TooDeep(line) => format!(
                    "params file {file} nests lists or maps more than {MAX_DEPTH} levels deep{}",
                    at(line)
                ),
                ParamsError::Slow => format!(
                    "params file {file} took more than {} s to parse (lists or maps nested too deeply?)",
                    PARSE_DEADLINE.as_secs()
                ),
            }
        }
    }

    /// The parameter values of a params file (an empty file has none).
    pub fn parse(text: &str) -> Result<Map<String, Value>, ParamsError> {
        if let Some(line) = flow_depth_over(text, MAX_DEPTH) {
            return Err(ParamsError::TooDeep(Some(line)));
        }
        let text = text.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        // A detached thread: should it overrun the deadline, the process exits without it.
        std::thread::spawn(move || {
            let _ = tx.send(parse_now(&text));
        });
        rx.recv_timeout(PARSE_DEADLINE)
            .unwrap_or(Err(ParamsError::Slow))
    }

    fn parse_now(text: &str) -> Result<Map<String, Value>, ParamsError> {
        let problem = RefCell::new(None);
        let seed = Strict {
            depth: 0,
            problem: &problem,
        };
        match seed.deserialize(serde_yaml_ng::Deserializer::from_str(text)) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(ParamsError::NotAMapping),
            Err(e) => {
                let line = e.location().map(|l| l.line());
                Err(match problem.take() {
                    Some(ParamsError::TooDeep(_)) => ParamsError::TooDeep(line),
                    Some(other) => other,
                    None => ParamsError::Syntax(syntax_message(&e)),
                })
            }
        }
    }

    /// The parser's message, its body clipped: it can quote the input (`invalid value: string
    /// "..."`). The location stays.
    fn syntax_message(e: &serde_yaml_ng::Error) -> String {
        let full = e.to_string();
        let at = e
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()));
        match at
            .as_deref()
            .and_then(|at| Some((full.strip_suffix(at)?, at)))
        {
            Some((body, at)) => format!("{}{at}", clip_to(body, 2 * QUOTE_CHARS)),
            None => clip_to(&full, 2 * QUOTE_CHARS),
        }
    }

    /// Deserializes a JSON value as `serde_json::Value` does, but refuses a key given twice
    /// in one mapping (serde_json and serde_yaml_ng keep the last) and nesting deeper than
    /// [`MAX_DEPTH`]; the refusal is recorded in `problem` for a precise message.
    #[derive(Clone, Copy)]
    struct Strict<'a> {
        depth: usize,
        problem: &'a RefCell<Option<ParamsError>>,
    }

    impl Strict<'_> {
        fn deeper<E: serde::de::Error>(self) -> Result<Self, E> {
            if self.depth >= MAX_DEPTH {
                *self.problem.borrow_mut() = Some(ParamsError::TooDeep(None));
                return Err(E::custom(format!(
                    "lists or maps nested more than {MAX_DEPTH} levels deep"
                )));
            }
            Ok(Strict {
                depth: self.depth + 1,
                ..self
            })
        }
    }

    impl<'de> DeserializeSeed<'de> for Strict<'_> {
        type Value = Value;

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a YAML or JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            self.deserialize(d)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let inner = self.deeper()?;
            let mut items = Vec::new();
            while let Some(v) = seq.next_element_seed(inner)? {
                items.push(v);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let inner = self.deeper()?;
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    let msg = format!("the key {} is given twice", quote(&key));
                    *self.problem.borrow_mut() = Some(ParamsError::Duplicate(key));
                    return Err(A::Error::custom(msg));
                }
                let value = map.next_value_seed(inner)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }

    /// The line where flow collections (`[`, `{`) first nest deeper than `max`, if they do.
    ///
    /// libyaml's scanner spends time proportional to the flow nesting depth on every token,
    /// so 100,000 `[` take minutes before serde_yaml_ng's recursion limit applies; this scan
    /// is linear. It follows YAML's tokens closely enough to skip quoted strings, comments,
    /// tags, anchors and block scalars; every other bracket counts, so it errs towards
    /// refusing. [`PARSE_DEADLINE`] backs it up.
    pub fn flow_depth_over(text: &str, max: usize) -> Option<usize> {
        let b = text.as_bytes();
        let blank = |i: usize| i >= b.len() || matches!(b[i], b' ' | b'\t' | b'\r' | b'\n');
        let mut i = 0;
        let mut line = 1;
        let mut depth = 0usize;
        // Where a new token (a quoted string, a tag, a block scalar) may begin.
        let mut token_start = true;
        let mut line_indent = 0;
        let mut at_line_start = true;
        // The indentation of the line where an unfinished plain (unquoted) scalar began: its
        // more indented continuation lines (any, inside brackets) are text, quotes included.
        let mut plain_from: Option<usize> = None;
        while i < b.len() {
            if at_line_start {
                let start = i;
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
                at_line_start = false;
                if i < b.len() && matches!(b[i], b'\n' | b'\r') {
                    continue;
                }
                let indent = i - start;
                match plain_from {
                    Some(from) if depth > 0 || indent > from => token_start = false,
                    _ => {
                        plain_from = None;
                        line_indent = indent;
                        token_start = true;
                    }
                }
                continue;
            }
            let c = b[i];
            match c {
                b'\n' => {
                    line += 1;
                    at_line_start = true;
                    i += 1;
                }
                b' ' | b'\t' | b'\r' => i += 1,
                b'#' if i == 0 || blank(i - 1) => {
                    plain_from = None;
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'[' | b'{' => {
                    plain_from = None;
                    depth += 1;
                    if depth > max {
                        return Some(line);
                    }
                    token_start = true;
                    i += 1;
                }
                b']' | b'}' => {
                    plain_from = None;
                    depth = depth.saturating_sub(1);
                    token_start = false;
                    i += 1;
                }
                b',' => {
                    if depth > 0 {
                        plain_from = None;
                    }
                    token_start = depth > 0;
                    i += 1;
                }
                b':' => {
                    token_start = blank(i + 1);
                    if token_start {
                        plain_from = None;
                    }
                    i += 1;
                }
                b'-' | b'?' if token_start && blank(i + 1) => i += 1,
                b'"' | b'\'' if token_start => {
                    i += 1;
                    while i < b.len() {
                        match b[i] {
                            b'\\' if c == b'"' => i += 1,
                            b'\'' if c == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 1,
                            q if q == c => break,
                            b'\n' => line += 1,
                            _ => {}
                        }
                        i += 1;
                    }
                    i += 1;
                    token_start = false;
                }
                b'!' | b'&' | b'*' if token_start => {
                    while !blank(i)
                        && (c == b'!' || !matches!(b[i], b',' | b'[' | b']' | b'{' | b'}'))
                    {
                        i += 1;
                    }
                }
                b'|' | b'>' if token_start && depth == 0 => {
                    // A block scalar: its lines are the following blank or more indented ones.
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    loop {
                        let next = i + 1;
                        let mut j = next;
                        while j < b.len() && b[j] == b' ' {
                            j += 1;
                        }
                        let empty = j >= b.len() || matches!(b[j], b'\n' | b'\r');
                        if next >= b.len() || (!empty && j - next <= line_indent) {
                            break;
                        }
                        line += 1;
                        i = j;
                        while i < b.len() && b[i] != b'\n' {
                            i += 1;
                        }
                    }
                }
                _ => {
                    if token_start {
                        plain_from = Some(line_indent);
                    }
                    token_start = false;
                    i += 1;
                }
            }
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn flow_depth_counts_brackets_outside_strings_comments_and_block_scalars() {
            let deep = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
            assert_eq!(flow_depth_over(&deep(64), 64), None);
            assert_eq!(flow_depth_over(&deep(65), 64), Some(1));
            let hidden = format!(
                "a: '{0}'\nb: \"{0}\\\"{0}\"\n# {0}\nc: |\n  {0}\n  '\nd: it's {{x: 1}}\n",
                "[".repeat(100)
            );
            assert_eq!(flow_depth_over(&hidden, 64), None);
            // A quote inside a plain scalar starts nothing: the brackets after it count.
            let plain = format!("a: it's\nb: {}\n", "[".repeat(65));
            assert_eq!(flow_depth_over(&plain, 64), Some(2));
            // After a multi-line quoted string, brackets count again.
            let multi = format!("a: ['x\n', {}\n", "[".repeat(65));
            assert_eq!(flow_depth_over(&multi, 64), Some(2));
            // A quote at the start of a plain scalar's continuation line is text.
            let continued = format!("a: x\n\n  'y\nb: {}\n", "[".repeat(65));
            assert_eq!(flow_depth_over(&continued, 64), Some(4));
            let continued = format!("a: [x\n'y, {}\n", "[".repeat(65));
            assert_eq!(flow_depth_over(&continued, 64), Some(2));
        }

        #[test]
        fn parse_refuses_duplicates_at_any_level() {
            assert_eq!(
                parse("a: 1\nb: 2\na: 3\n"),
                Err(ParamsError::Duplicate("a".into()))
            );
            assert!(matches!(
                parse("{\"a\": {\"x\": 1, \"x\": 2}}"),
                Err(ParamsError::Duplicate(k)) if k == "x"
            ));
            assert_eq!(parse("a: 1\nb: [1, 2]\n").unwrap().len(), 2);
            assert_eq!(parse("# nothing\n").unwrap().len(), 0);
            assert_eq!(parse("[1]"), Err(ParamsError::NotAMapping));
        }

        #[test]
        fn syntax_errors_quote_little_of_the_input() {
            let text = format!("a: !!int {}\n", "x".repeat(10_000));
            let Err(ParamsError::Syntax(msg)) = parse(&text) else {
                panic!("not a syntax error");
            };
            assert!(
                msg.len() < 300 && msg.ends_with(" at line 1 column 4"),
                "{msg}"
            );
        }

        #[test]
        fn parse_refuses_deep_block_nesting() {
            let text: String = (0..70)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect();
            assert!(matches!(parse(&text), Err(ParamsError::TooDeep(Some(_)))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("abc"), "abc");
        let long = "é".repeat(150);
        let c = clip(&long);
        assert_eq!(c.chars().count(), QUOTE_CHARS + 3);
        assert!(c.ends_with("é..."));
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn show_path_keeps_the_end() {
        let p = format!("/{}/deploy.rhai", "d".repeat(300));
        let s = show_path(Path::new(&p));
        assert!(s.starts_with("...") && s.ends_with("/deploy.rhai"), "{s}");
        assert_eq!(s.chars().count(), QUOTE_CHARS + 3);
        assert_eq!(show_path(Path::new("a/b.rhai")), "a/b.rhai");
    }
}
