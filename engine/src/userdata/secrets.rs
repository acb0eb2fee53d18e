//! The part of the master's boot script that reads secrets from AWS Secrets Manager.
//!
//! master.yaml never holds a secret's value in the plan or the user-data: wherever the
//! config names one (`secretsmanager_secret.X.value`, see [`crate::kinds::secret`]) it holds
//! a placeholder, and the boot script fetches the value with the instance role, by the
//! secret's ARN, when the master starts:
//!
//! - `db.password` and `security.initial_user_password` are written into master.yaml (mode
//!   0600, mounted read-only into the container) as YAML double-quoted strings. Determined
//!   also reads `DET_DB_PASSWORD` and friends from the environment, but a container's
//!   environment is shown by `docker inspect` to anyone in the `docker` group; a root-only
//!   file is not.
//! - `security.tls.cert` and `security.tls.key` become files next to master.yaml
//!   (`tls/cert.pem`, `tls/key.pem`, mode 0600) and master.yaml points at them as the
//!   container sees them.
//!
//! A secret that cannot be read (missing, deleted, not allowed by the role) stops the boot
//! script with a line naming it in `/var/log/detscript-master.log`; the master is not
//! started with a half-written config.

use serde_json::Value;

use super::{CONTAINER_CONFIG_DIR, Script, Word};
use crate::kinds::secret::{KIND, VALUE_ATTR};
use crate::refs;

/// The AWS CLI image the boot script reads secrets with (Ubuntu's AMIs ship no AWS CLI;
/// Docker is installed by then). `--network host` so that it reaches the instance metadata
/// service for the role's credentials.
pub const AWS_CLI_IMAGE: &str = "public.ecr.aws/aws-cli/aws-cli:2.22.35";

/// Where fetched values wait (tmpfs, root only) until master.yaml is written.
const RUN_DIR: &str = "/run/detscript";

/// master.yaml fields that name a file: the secret becomes that file.
const FILE_FIELDS: &[(&str, &str)] = &[
    ("/security/tls/cert", "tls/cert.pem"),
    ("/security/tls/key", "tls/key.pem"),
];

/// One secret the master reads at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootSecret {
    /// The secret's logical id (`secretsmanager_secret.db-password`).
    pub id: String,
    pub dest: Dest,
    /// Read the version the plan saw (`secretsmanager_secret.X.version`, known after apply),
    /// so that a rotated secret changes the user-data and the plan shows the master's
    /// replacement. CloudFormation knows no version: its master reads the current one.
    pub pin_version: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// A master.yaml value: this placeholder is replaced by the value, YAML-quoted.
    Yaml(String),
    /// A file next to master.yaml (relative to its folder).
    File(&'static str),
}

/// The secret a string names when it is exactly one secret value reference.
fn secret_of(s: &str) -> Option<&str> {
    let path = refs::whole_ref(s)?;
    let (id, attr) = path.rsplit_once('.')?;
    (attr == VALUE_ATTR && id.strip_prefix(KIND)?.starts_with('.')).then_some(id)
}

/// True when `s` holds a secret's value reference anywhere.
pub(crate) fn mentions_secret_value(s: &str) -> bool {
    refs::paths(s).any(|p| {
        p.rsplit_once('.').is_some_and(|(id, attr)| {
            attr == VALUE_ATTR && id.strip_prefix(KIND).is_some_and(|r| r.starts_with('.'))
        })
    })
}

/// Where in master.yaml a secret's value may not go: the JSON pointers of strings that mix a
/// secret's value with other text. Each must be the whole value of its field.
pub(crate) fn misplaced(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(config, &mut String::new(), &mut |ptr, s| {
        if mentions_secret_value(s) && secret_of(s).is_none() {
            out.push(ptr.to_string());
        }
    });
    out
}

fn walk(v: &Value, ptr: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(ptr, s),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = ptr.len();
                ptr.push_str(&format!("/{i}"));
                walk(x, ptr, f);
                ptr.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(k);
                walk(x, ptr, f);
                ptr.truncate(len);
            }
        }
        _ => {}
    }
}

/// Replaces every secret value in master.yaml's JSON by its placeholder (or, for a TLS
/// field, the file's path as the container sees it) and returns what the boot script reads.
pub(crate) fn take_secrets(config: &mut Value) -> Vec<BootSecret> {
    // A placeholder prefix that master.yaml's text does not contain.
    let base = crate::value::absent_token(config, "DetscriptSecret");
    let mut found: Vec<(String, String)> = Vec::new();
    walk(config, &mut String::new(), &mut |ptr, s| {
        if let Some(id) = secret_of(s) {
            found.push((ptr.to_string(), id.to_string()));
        }
    });
    let mut out = Vec::new();
    for (i, (ptr, id)) in found.into_iter().enumerate() {
        let file = FILE_FIELDS.iter().find(|(p, _)| *p == ptr).map(|(_, f)| *f);
        let (dest, text) = match file {
            Some(f) => (Dest::File(f), format!("{CONTAINER_CONFIG_DIR}/{f}")),
            None => {
                let token = format!("{base}_{}_", i + 1);
                (Dest::Yaml(token.clone()), token)
            }
        };
        if let Some(slot) = config.pointer_mut(&ptr) {
            *slot = Value::String(text);
        }
        out.push(BootSecret {
            id,
            dest,
            pin_version: true,
        });
    }
    out
}

/// The boot script's reader: `fetch_secret ARN FILE [VERSION]` writes the secret's `SecretString`
/// byte for byte into FILE (mode 0600), or stops the boot naming the secret. The AWS CLI
/// prints the value JSON-encoded, which `python3` (on every cloud-init image) decodes exactly.
const FETCH_FN: &str = r#"install -d -m 0700 /run/detscript
fetch_secret() {
  local json
  if ! json=$(docker run --rm --network host public.ecr.aws/aws-cli/aws-cli:2.22.35 \
      secretsmanager get-secret-value --region "$(cut -d: -f4 <<<"$1")" --secret-id "$1" \
      ${3:+--version-id "$3"} --query SecretString --output json); then
    echo "detscript: cannot read secret $1 with the instance role (missing, deleted or not allowed); the master is not started" >&2
    exit 1
  fi
  (umask 077 && printf '%s' "$json" | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' > "$2")
}
"#;

/// Replaces each placeholder (argument pairs TOKEN FILE) in master.yaml (the first argument)
/// by the file's content as a YAML double-quoted string (JSON's string syntax, which YAML
/// reads the same), then removes the files.
const FILL_YAML: &str = r#"import json, os, sys
path, pairs = sys.argv[1], sys.argv[2:]
with open(path) as f:
    text = f.read()
for token, source in zip(pairs[::2], pairs[1::2]):
    with open(source) as f:
        text = text.replace(token, json.dumps(f.read()))
    os.remove(source)
with open(path, "w") as f:
    f.write(text)
"#;

impl Script {
    /// Fetches each secret: a master.yaml value into [`RUN_DIR`], a file next to master.yaml
    /// (`dir`) in place. Run before master.yaml is written; see [`Script::fill_secrets`].
    pub(crate) fn fetch_secrets(&mut self, secrets: &[BootSecret], dir: &str) -> &mut Self {
        if secrets.is_empty() {
            return self;
        }
        self.code("\n# Secrets, read from AWS Secrets Manager with the instance role (their values are not in this script).\n")
            .code(FETCH_FN);
        let mut dirs: Vec<String> = Vec::new();
        for s in secrets {
            if let Dest::File(f) = &s.dest {
                if let Some((sub, _)) = f.rsplit_once('/') {
                    let d = format!("{dir}/{sub}");
                    if !dirs.contains(&d) {
                        self.command(&[
                            Word::lit("install"),
                            Word::lit("-d"),
                            Word::lit("-m"),
                            Word::lit("0700"),
                            Word::value(&d),
                        ]);
                        dirs.push(d);
                    }
                }
            }
            let mut words = vec![
                Word::lit("fetch_secret"),
                Word::value(&refs::attr(&s.id, "arn")),
                Word::value(&s.path(dir)),
            ];
            if s.pin_version {
                words.push(Word::value(&refs::attr(&s.id, "version")));
            }
            self.command(&words);
        }
        self
    }

    /// Puts the fetched values into the master.yaml written at `file`.
    pub(crate) fn fill_secrets(&mut self, secrets: &[BootSecret], file: &Word) -> &mut Self {
        let mut words = vec![Word::lit("python3"), Word::lit("-"), file.clone()];
        for s in secrets {
            if let Dest::Yaml(token) = &s.dest {
                words.push(Word::value(token));
                words.push(Word::value(&s.path("")));
            }
        }
        if words.len() > 3 {
            self.heredoc(&words, FILL_YAML);
        }
        self
    }
}

impl BootSecret {
    /// Where the fetched value is written (`dir`: master.yaml's folder on the host).
    fn path(&self, dir: &str) -> String {
        let name = self
            .id
            .rsplit_once('.')
            .map_or(self.id.as_str(), |(_, n)| n);
        match &self.dest {
            Dest::Yaml(_) => format!("{RUN_DIR}/{name}"),
            Dest::File(f) => format!("{dir}/{f}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(name: &str) -> String {
        refs::attr(&format!("{KIND}.{name}"), VALUE_ATTR)
    }

    #[test]
    fn secrets_become_placeholders_and_tls_files_container_paths() {
        let mut cfg = json!({
            "db": { "password": value("db"), "user": "postgres" },
            "security": { "initial_user_password": value("admin"),
                          "tls": { "cert": value("cert"), "key": value("key") } },
        });
        let got = take_secrets(&mut cfg);
        assert_eq!(cfg["db"]["password"], "DetscriptSecret_1_");
        assert_eq!(
            cfg["security"]["tls"]["cert"],
            "/etc/determined/tls/cert.pem"
        );
        assert_eq!(cfg["security"]["tls"]["key"], "/etc/determined/tls/key.pem");
        assert_eq!(got.len(), 4);
        assert!(got.iter().any(|s| s.id == "secretsmanager_secret.key" && s.dest == Dest::File("tls/key.pem")));
        assert!(!cfg.to_string().contains(refs::OPEN));
    }

    #[test]
    fn a_placeholder_never_matches_the_configs_own_text() {
        let mut cfg = json!({ "a": "DetscriptSecret_1_", "b": value("db") });
        take_secrets(&mut cfg);
        assert_eq!(cfg["b"], "DetscriptSecretX_1_");
    }

    #[test]
    fn a_secret_mixed_with_text_is_misplaced() {
        let cfg = json!({ "db": { "password": format!("x{}", value("db")) }, "ok": value("a") });
        assert_eq!(misplaced(&cfg), vec!["/db/password".to_string()]);
        assert!(!mentions_secret_value(&refs::attr(
            "secretsmanager_secret.db",
            "arn"
        )));
    }
}
