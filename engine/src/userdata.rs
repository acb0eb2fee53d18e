//! The master's EC2 user-data: installs Docker, creates the `determined` network, writes
//! master.yaml to an absolute path and (re)starts the master container. Every step is
//! idempotent, so running it again (on reboot, or by hand) converges to the same state.
//!
//! The script runs as root, so it is assembled by a small typed builder ([`Script`]) rather
//! than by string formatting: fixed shell code is a `&'static str` of this module, and a
//! value (image, path, port) can only enter as a [`Word::value`], which is written bare when
//! every character is harmless to the shell and single-quoted otherwise. The deployment name
//! enters only through [`Script::comment`], which escapes whatever could end the comment.
//! [`check_image`] and [`check_config_path`] give the script API clear errors for values
//! that are not an image reference or a plain file path at all.

use crate::refs::{self, Part};

mod secrets;
pub use secrets::AWS_CLI_IMAGE;
pub(crate) use secrets::{BootSecret, mentions_secret_value, misplaced, take_secrets};

/// Where master.yaml lives on the master host by default; mounted read-only into the container.
pub const HOST_CONFIG_PATH: &str = "/usr/local/determined/etc/master.yaml";
/// The folder of master.yaml is mounted here (read-only), as Determined's own deployment
/// does: files next to master.yaml, such as TLS certificates, are visible to the master.
pub const CONTAINER_CONFIG_DIR: &str = "/etc/determined";
const HEREDOC: &str = "DETSCRIPT_MASTER_YAML_EOF";
/// An example image reference, for messages.
const IMAGE_EXAMPLE: &str = "determinedai/determined-master:0.38.0";

/// One shell word, already in its shell form. Only [`Word::lit`] (fixed code of this module)
/// and [`Word::value`] (quoted as needed) make one, so a value cannot be written unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word(String);

impl Word {
    /// A fixed word of this module's own shell code, such as `docker` or `2>&1`.
    pub(crate) fn lit(code: &'static str) -> Word {
        debug_assert!(
            !code.is_empty() && !code.contains(char::is_whitespace),
            "a literal word is one word: {code:?}"
        );
        Word(code.to_string())
    }

    /// A value that the shell must see as exactly this text: bare when every character is
    /// safe ([`is_safe_word`]), otherwise single-quoted (`'` as `'\''`). NUL, which no shell
    /// word can hold, is dropped. A reference marker (a value known only after apply, see
    /// [`crate::refs`]) passes through unchanged so that previews can show it; the text
    /// around it is quoted on its own as needed, so `"repo:" + param` stays `repo:⟨param⟩`.
    pub(crate) fn value(v: &str) -> Word {
        let v: std::borrow::Cow<'_, str> = if v.contains('\0') {
            v.replace('\0', "").into()
        } else {
            v.into()
        };
        if !refs::has_refs(&v) {
            return Word(quote(&v));
        }
        let mut out = String::with_capacity(v.len() + 2);
        for part in refs::parts(&v) {
            match part {
                Part::Text(t) => out.push_str(&quote(t)),
                Part::Ref(path) if is_ref_path(path) => {
                    out.push(refs::OPEN);
                    out.push_str(path);
                    out.push(refs::CLOSE);
                }
                Part::Ref(path) => out.push_str(&quote(&refs::reference(path))),
            }
        }
        Word(out)
    }

    /// The word as the shell reads it.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when `s` needs no quoting: non-empty and only `A-Z a-z 0-9 _ . / : @ -`, none of
/// which the shell treats specially in an argument.
pub(crate) fn is_safe_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b':' | b'@' | b'-')
        })
}

/// A reference path as the engine makes them (`param.version`, `iam_role.agent.arn`).
fn is_ref_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `s` as one shell word (a value known only after the script was built).
pub(crate) fn quote_word(s: &str) -> String {
    Word::value(&refs::scrub_markers(s)).0
}

/// `s` as one shell word: as is when safe, else in single quotes.
fn quote(s: &str) -> String {
    if is_safe_word(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A piece of a comment line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    /// Fixed text of this module.
    Lit(&'static str),
    /// A value, shown escaped so that it stays on this line.
    Val(&'a str),
}

/// A bash script built line by line; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    text: String,
}

impl Script {
    /// A script for `/bin/bash`.
    pub(crate) fn bash() -> Script {
        Script {
            text: "#!/bin/bash\n".to_string(),
        }
    }

    /// Fixed code of this module, as is (whole lines, each ending in a newline).
    pub(crate) fn code(&mut self, code: &'static str) -> &mut Self {
        debug_assert!(code.is_empty() || code.ends_with('\n'));
        self.text.push_str(code);
        self
    }

    /// A `# ...` comment line. A value's characters that could end the line or confuse a
    /// reader (control characters, line and paragraph separators, `"` and `\`) are written as
    /// Rust-style escapes, so nothing in it can become code.
    pub(crate) fn comment(&mut self, pieces: &[Text<'_>]) -> &mut Self {
        self.text.push_str("# ");
        for piece in pieces {
            match *piece {
                Text::Lit(t) => {
                    debug_assert!(!t.contains(['\n', '\r']));
                    self.text.push_str(t);
                }
                Text::Val(v) => {
                    for c in v.chars() {
                        if c.is_control() || matches!(c, '"' | '\\' | '\u{2028}' | '\u{2029}') {
                            self.text.extend(c.escape_debug());
                        } else {
                            self.text.push(c);
                        }
                    }
                }
            }
        }
        self.text.push('\n');
        self
    }

    /// A simple command on one line.
    pub(crate) fn command(&mut self, words: &[Word]) -> &mut Self {
        self.words(words);
        self.text.push('\n');
        self
    }

    /// A simple command spread over lines: each group of words on its own line, joined by
    /// ` \` and indented by two spaces.
    pub(crate) fn long_command(&mut self, lines: &[Vec<Word>]) -> &mut Self {
        for (i, words) in lines.iter().enumerate() {
            if i > 0 {
                self.text.push_str(" \\\n  ");
            }
            self.words(words);
        }
        self.text.push('\n');
        self
    }

    /// `words <<'DELIM'`, then `body` byte for byte (a newline added if it lacks one; NUL
    /// dropped, as bash would) and the delimiter. The quoted delimiter turns off every
    /// expansion in the body, and is chosen so that no line of the body equals it.
    pub(crate) fn heredoc(&mut self, words: &[Word], body: &str) -> &mut Self {
        let body: std::borrow::Cow<'_, str> = if body.contains('\0') {
            body.replace('\0', "").into()
        } else {
            body.into()
        };
        let delim = heredoc_delimiter(&body);
        self.words(words);
        self.text.push_str(" <<'");
        self.text.push_str(&delim);
        self.text.push_str("'\n");
        self.text.push_str(&body);
        if !body.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str(&delim);
        self.text.push('\n');
        self
    }

    fn words(&mut self, words: &[Word]) {
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                self.text.push(' ');
            }
            self.text.push_str(w.as_str());
        }
    }

    /// The script text.
    pub(crate) fn finish(self) -> String {
        self.text
    }
}

/// The first of `DETSCRIPT_MASTER_YAML_EOF`, `..._2`, `..._3`, ... that is no line of `body`.
/// Lines are compared as Rust's `str::lines` splits them, which also strips a `\r` before
/// `\n`: stricter than bash, which needs the exact line.
fn heredoc_delimiter(body: &str) -> String {
    let taken = |d: &str| body.lines().any(|l| l == d);
    if !taken(HEREDOC) {
        return HEREDOC.to_string();
    }
    (2..)
        .map(|n| format!("{HEREDOC}_{n}"))
        .find(|d| !taken(d))
        .expect("a body has finitely many lines")
}

/// The user-data script for a master running `image` on `port` with `master_yaml`.
/// `config_path` is master.yaml's absolute path on the host (see [`HOST_CONFIG_PATH`]);
/// `secrets` are read at boot and put where master.yaml's placeholders are (see
/// [`take_secrets`]).
///
/// Every value is written through [`Word::value`], so whatever the strings hold, the script
/// runs the same commands with them as arguments; `master_yaml` sits in a quoted heredoc.
/// Values with reference markers (previews) keep the markers for display.
/// The database the master connects to: its boot script waits for this address to accept
/// connections before it starts the master (`run` launches the master as soon as the
/// database's endpoint is known, while the database may still be being created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbAddress {
    pub host: String,
    pub port: i64,
}

/// How long the boot script waits for the database's port, in seconds (RDS takes 5-15
/// minutes to create an Aurora cluster and its writer).
pub const DB_WAIT_SECONDS: u32 = 2400;

/// Optional steps of the master's boot script, decided by master.yaml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// Download Amazon's RDS CA bundle next to master.yaml, where `db.ssl_root_cert`
    /// ([`crate::config::RDS_CA_BUNDLE`]) points.
    pub rds_ca_bundle: bool,
    /// Send the master container's output to this CloudWatch Logs group with Docker's
    /// `awslogs` driver (the region is the instance's).
    pub log_group: Option<String>,
    /// The region of the log group (`awslogs-region`); without it Docker asks the instance.
    pub log_region: Option<String>,
    /// Wait for the database's port before starting the master (bounded, logged).
    pub db: Option<DbAddress>,
}

/// The master's boot script, with the optional steps `extras`.
pub(crate) fn master_user_data_with(
    deployment: &str,
    image: &str,
    port: i64,
    master_yaml: &str,
    config_path: &str,
    secrets: &[BootSecret],
    extras: &Extras,
) -> String {
    let (dir, file) = config_path.rsplit_once('/').unwrap_or(("", config_path));
    let dir = if dir.is_empty() { "/" } else { dir };
    let new_path = Word::value(&format!("{config_path}.new"));
    let image = Word::value(image);
    let mut s = Script::bash();
    s.comment(&[
        Text::Lit("Determined master for deployment \""),
        Text::Val(deployment),
        Text::Lit("\", generated by detscript."),
    ])
    .code(
        r#"# Safe to run again: each step checks before it changes anything.
set -euo pipefail
exec > >(tee -a /var/log/detscript-master.log) 2>&1

# 1. Docker (the guide's packages, from Docker's apt repository).
if ! command -v docker >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y ca-certificates curl gnupg
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL https://download.docker.com/linux/ubuntu/gpg | gpg --dearmor --yes -o /etc/apt/keyrings/docker.gpg
  chmod a+r /etc/apt/keyrings/docker.gpg
  echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu $(. /etc/os-release && echo "$VERSION_CODENAME") stable" > /etc/apt/sources.list.d/docker.list
  apt-get update
  apt-get install -y docker-ce docker-ce-cli containerd.io
fi
systemctl enable --now docker

# 2. The network the master and its containers share.
docker network inspect determined >/dev/null 2>&1 || docker network create determined
"#,
    )
    .fetch_secrets(secrets, dir)
    .code("\n# 3. master.yaml, at an absolute path (a relative -v source would become a named volume).\n")
    .command(&[
        Word::lit("install"),
        Word::lit("-d"),
        Word::lit("-m"),
        Word::lit("0755"),
        Word::value(dir),
    ])
    .code("umask 077\n")
    // A quoted heredoc keeps master.yaml byte for byte (no shell expansion).
    .heredoc(&[Word::lit("cat"), Word::lit(">"), new_path.clone()], master_yaml)
    .fill_secrets(secrets, &new_path)
    .command(&[Word::lit("mv"), new_path, Word::value(config_path)]);
    if extras.rds_ca_bundle {
        let file = crate::config::RDS_CA_BUNDLE
            .rsplit_once('/')
            .map_or(crate::config::RDS_CA_BUNDLE, |(_, f)| f);
        let host = format!("{dir}/{file}");
        let tmp = Word::value(&format!("{host}.new"));
        s.code("\n# 3b. Amazon's RDS CA bundle, which db.ssl_root_cert names (the master verifies the database).\n")
            .command(&[
                Word::lit("curl"),
                Word::lit("-fsSL"),
                Word::lit("--retry"),
                Word::lit("5"),
                Word::lit("-o"),
                tmp.clone(),
                Word::value(crate::config::RDS_CA_BUNDLE_URL),
            ])
            .command(&[Word::lit("chmod"), Word::lit("0644"), tmp.clone()])
            .command(&[Word::lit("mv"), tmp, Word::value(&host)]);
    }
    s.code(
        "\n# 4. The master container; replaced so that a changed config or image takes effect.\n",
    )
    .command(&[Word::lit("docker"), Word::lit("pull"), image.clone()]);
    if let Some(db) = &extras.db {
        s.code(DB_WAIT).command(&[
            Word::lit("wait_for_database"),
            Word::value(&db.host),
            Word::value(&db.port.to_string()),
        ]);
    }
    s.code("docker rm -f determined-master >/dev/null 2>&1 || true\n");
    let mut run = vec![
        vec![Word::lit("docker"), Word::lit("run"), Word::lit("-d")],
        vec![Word::lit("--name"), Word::lit("determined-master")],
        vec![Word::lit("--network"), Word::lit("determined")],
        vec![Word::lit("--restart"), Word::lit("unless-stopped")],
    ];
    if let Some(group) = &extras.log_group {
        run.push(vec![Word::lit("--log-driver"), Word::lit("awslogs")]);
        run.push(vec![
            Word::lit("--log-opt"),
            Word::value(&format!("awslogs-group={group}")),
        ]);
        if let Some(region) = &extras.log_region {
            run.push(vec![
                Word::lit("--log-opt"),
                Word::value(&format!("awslogs-region={region}")),
            ]);
        }
        run.push(vec![
            Word::lit("--log-opt"),
            Word::lit("awslogs-stream=determined-master"),
        ]);
        // The group is the deployment's: the driver must not make one of its own.
        run.push(vec![
            Word::lit("--log-opt"),
            Word::lit("awslogs-create-group=false"),
        ]);
    }
    run.extend([
        vec![Word::lit("-p"), Word::value(&format!("{port}:{port}"))],
        vec![
            Word::lit("-v"),
            Word::value(&format!("{dir}:{CONTAINER_CONFIG_DIR}:ro")),
        ],
        vec![image],
    ]);
    // The master reads /etc/determined/master.yaml unless told otherwise.
    if file != "master.yaml" {
        run.push(vec![
            Word::lit("--config-file"),
            Word::value(&format!("{CONTAINER_CONFIG_DIR}/{file}")),
        ]);
    }
    s.long_command(&run);
    s.finish()
}

/// The bounded wait for the database's port (bash's /dev/tcp), one log line per attempt.
/// Its limit is [`DB_WAIT_SECONDS`] (a test checks they agree).
const DB_WAIT: &str = r#"# The database may still be being created (the master is launched as soon as its endpoint
# is known): Docker and the image are ready by now; wait for the database's port.
wait_for_database() {
  local waited=0
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if [ "$waited" -ge 2400 ]; then
      echo "detscript: the database at $1:$2 did not accept connections within $waited s; starting the master anyway (docker restarts it until the database answers)"
      return 0
    fi
    echo "detscript: waiting for the database at $1:$2 ($waited s)"
    sleep 10
    waited=$((waited + 10))
  done
  echo "detscript: the database at $1:$2 accepts connections after $waited s"
}
"#;

/// How a rejected value is shown in a message: references as `${path}` (secrets as
/// `(sensitive)`), quoted and escaped, cut after 80 characters.
fn shown(v: &str) -> String {
    const MAX: usize = 80;
    let v = &refs::display(v, refs::Style::Template);
    match v.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &v[..cut]),
        None => format!("{v:?}"),
    }
}

/// Checks that only the literal text of a value holding references (unknown until apply,
/// or until a parameter is given) uses `allowed` characters; the rest is checked when known.
fn check_known_parts(v: &str, allowed: fn(u8) -> bool) -> Result<(), String> {
    for part in refs::parts(v) {
        if let Part::Text(t) = part {
            if let Some(c) = t.chars().find(|&c| !c.is_ascii() || !allowed(c as u8)) {
                return Err(format!("{c:?} is not allowed"));
            }
        }
    }
    Ok(())
}

/// Checks a value with `check`, or, while it holds references, only its known text against
/// the `allowed` characters.
fn check_value(
    v: &str,
    allowed: fn(u8) -> bool,
    check: fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    if refs::has_refs(v) {
        check_known_parts(v, allowed)
    } else {
        check(v)
    }
}

fn image_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
}

fn path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/')
}

/// Checks a Docker image reference for `.master_image(...)`:
/// `[registry[:port]/]path[:tag][@sha256:hex]`, as Docker's reference grammar has it. A value
/// holding references (an unset parameter in a preview) is accepted as unknown when its
/// known text could belong to one. The error names what was expected and what was got.
pub fn check_image(v: &str) -> Result<(), String> {
    check_value(v, image_char, image_reference).map_err(|why| {
        format!(
            "expects a Docker image reference such as {IMAGE_EXAMPLE:?}, got {}: {why}",
            shown(v)
        )
    })
}

/// Checks master.yaml's path on the host for `.config_path(...)`: a normalized path of
/// `A-Z a-z 0-9 . _ / -` that ends in a file name (no empty, `.` or `..` component, no
/// leading `-`). Whether it is absolute is lint DS019's business. A value holding
/// references is accepted as unknown when its known text could belong to one.
pub fn check_config_path(v: &str) -> Result<(), String> {
    check_value(v, path_char, file_path).map_err(|why| {
        format!(
            "expects a normalized file path such as {HOST_CONFIG_PATH:?}, got {}: {why}",
            shown(v)
        )
    })
}

fn file_path(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the path is empty".into());
    }
    if v.len() > 4095 {
        return Err("the path is longer than 4095 bytes".into());
    }
    if let Some(c) = v.chars().find(|&c| !c.is_ascii() || !path_char(c as u8)) {
        return Err(format!(
            "{c:?} is not allowed (only letters, digits, '.', '_', '-' and '/')"
        ));
    }
    if v.starts_with('-') {
        return Err("a path must not start with '-'".into());
    }
    if v.ends_with('/') {
        return Err("the path must end in a file name, not '/'".into());
    }
    let rel = v.strip_prefix('/').unwrap_or(v);
    for comp in rel.split('/') {
        match comp {
            "" => return Err("the path has an empty component ('//')".into()),
            "." | ".." => return Err(format!("the path has a {comp:?} component")),
            _ => {}
        }
    }
    Ok(())
}

/// Docker's reference grammar (github.com/distribution/reference), digests limited to sha256.
fn image_reference(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the reference is empty".into());
    }
    if let Some(c) = v.chars().find(|&c| !c.is_ascii() || !image_char(c as u8)) {
        return Err(format!("{c:?} is not allowed in an image reference"));
    }
    let (rest, digest) = match v.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (v, None),
    };
    if let Some(d) = digest {
        let hex = d
            .strip_prefix("sha256:")
            .ok_or("a digest must look like @sha256:<64 hex digits>")?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("a digest must look like @sha256:<64 hex digits>".into());
        }
    }
    // A tag follows the last ':' that comes after the last '/' (a ':' before is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = (1..=128).contains(&tag.len())
            && tag.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-'))
            });
        if !ok {
            return Err(format!(
                "the tag {} must be 1-128 of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
                shown(tag)
            ));
        }
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters".into());
    }
    let mut comps: Vec<&str> = name.split('/').collect();
    // The first component is a registry when more follow and it looks like a host.
    if comps.len() > 1 && (comps[0].contains(['.', ':']) || comps[0] == "localhost") {
        registry(comps.remove(0))?;
    }
    for comp in comps {
        if !path_component(comp) {
            return Err(format!(
                "the path component {} must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
                shown(comp)
            ));
        }
    }
    Ok(())
}

/// `host[:port]`, host being dot-separated labels of letters, digits and inner '-'.
fn registry(r: &str) -> Result<(), String> {
    let (host, port) = match r.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.split('.').all(label) {
        return Err(format!(
            "the registry host {} must be dot-separated labels of letters, digits and '-'",
            shown(host)
        ));
    }
    if let Some(p) = port {
        if !(1..=5).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the registry port {} must be a number", shown(p)));
        }
    }
    Ok(())
}

/// `[a-z0-9]+` groups joined by one separator: `.`, `_`, `__` or a run of `-`.
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
