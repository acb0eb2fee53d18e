//! Progress display: one line per resource state change with elapsed time on standard error
//! (text), or an event stream of JSON lines on standard output (`--format json`). While
//! resources are in flight (an RDS or EC2 wait can take 15 minutes), a terminal shows a
//! spinner per resource with its elapsed time; without a terminal a heartbeat line lists them
//! every 30 s ([`super::progress`]). Every text passes through [`Ui::redact`] (the plan's
//! [`Secrets::redact`]) before any escaping or JSON encoding, so that a secret quoted by an
//! AWS error never reaches the terminal in any form.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use detscript_engine::{Secret, Secrets};
use serde_json::{Value, json};

use super::progress::Progress;

pub struct Ui {
    json: bool,
    secrets: Mutex<Secrets>,
    start: Instant,
    lock: Mutex<()>,
    width: usize,
    /// Spinners or heartbeat of the resources in flight (text mode only).
    live: Option<Progress>,
}

impl Ui {
    pub fn new(json: bool, secrets: Secrets, width: usize) -> Ui {
        Ui {
            json,
            secrets: Mutex::new(secrets),
            start: Instant::now(),
            lock: Mutex::new(()),
            width: width.clamp(20, 70),
            live: (!json).then(Progress::start),
        }
    }

    /// Writes a line to standard error, above the spinners when there are some.
    fn err_line(&self, line: &str) {
        let _g = self.lock.lock();
        match &self.live {
            Some(live) => live.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The one place redaction happens: raw text in, text safe to show out.
    pub fn redact(&self, s: &str) -> String {
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .redact(s)
    }

    /// Adds a value read during the run (a Secrets Manager secret) to what is redacted.
    pub fn add_secret(&self, name: &str, value: Secret) {
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, value);
    }

    /// Redacts every string (and key) of a JSON value, before it is encoded.
    fn redact_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.redact_value(x)).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, x)| (self.redact(&k), self.redact_value(x)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// The JSON line of an event: redacted first, then encoded.
    fn event_line(&self, mut v: Value) -> String {
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "t".into(),
                json!((self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
            );
        }
        self.redact_value(v).to_string()
    }

    /// Human text on standard error (never in JSON mode's standard output).
    pub fn say(&self, text: &str) {
        self.err_line(&self.redact(text));
    }

    /// An error line (redacted) on standard error; the exit code of an AWS failure.
    pub fn fail(&self, msg: &str) -> crate::Exit {
        self.say(&format!("error: {msg}"));
        crate::Exit(crate::exit::AWS)
    }

    /// A line on standard output (text mode) for results such as the plan and outputs.
    pub fn out(&self, text: &str) {
        let text = self.redact(text);
        let _g = self.lock.lock();
        let write = || {
            let mut o = std::io::stdout().lock();
            let _ = write!(o, "{text}");
            let _ = o.flush();
        };
        match &self.live {
            Some(live) => live.suspend(write),
            None => write(),
        }
    }

    /// A JSON event on standard output (JSON mode only).
    pub fn event(&self, v: Value) {
        if !self.json {
            return;
        }
        let line = self.event_line(v);
        let _g = self.lock.lock();
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    }

    /// A resource changed state: `creating`, `created`, `failed`, ...
    pub fn resource(&self, id: &str, state: &str, elapsed: Option<Duration>, detail: &str) {
        if self.json {
            let mut v = json!({"event": "resource", "id": id, "state": state});
            if let Some(e) = elapsed {
                v["elapsed_s"] = json!((e.as_secs_f64() * 1000.0).round() / 1000.0);
            }
            if !detail.is_empty() {
                v["detail"] = json!(detail);
            }
            self.event(v);
            return;
        }
        let el = elapsed
            .map(|e| format!("{:>6.1}s", e.as_secs_f64()))
            .unwrap_or_else(|| "       ".into());
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("  {detail}")
        };
        let w = self.width;
        self.say(&format!("  {id:<w$}  {state:<12} {el}{detail}"));
        if let Some(live) = &self.live {
            live.track(&self.redact(id), state, &self.redact(detail.trim()));
        }
    }
}

#[cfg(test)]
mod tests {
    use detscript_engine::Secret;

    use super::*;

    #[test]
    fn a_secret_quoted_by_an_aws_error_never_reaches_a_json_event_in_any_form() {
        let secret = "pa\\ss\"wo'rd";
        let mut secrets = Secrets::default();
        secrets.insert("db_password", Secret::new(secret));
        let ui = Ui::new(true, secrets, 30);
        let error = format!(
            "CreateDBCluster det-db: InvalidParameterValue: The parameter MasterUserPassword \"{secret}\" is not valid"
        );
        let line = ui.event_line(json!({
            "event": "resource", "id": "rds_cluster.db", "state": "FAILED", "detail": error,
            "failed": [{"id": "rds_cluster.db", "error": error}],
        }));
        let escaped_once = serde_json::to_string(secret).unwrap();
        let escaped_twice = serde_json::to_string(&escaped_once).unwrap();
        for form in [
            secret.to_string(),
            escaped_once.trim_matches('"').to_string(),
            escaped_twice.trim_matches('"').to_string(),
            "pa\\\\ss".to_string(),
            "ss\\\"wo".to_string(),
        ] {
            assert!(!line.contains(&form), "{form:?} leaked: {line}");
        }
        assert!(line.contains("(sensitive)"), "{line}");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert!(!parsed["detail"].as_str().unwrap().contains(secret));
        assert_eq!(ui.redact(&error).matches("(sensitive)").count(), 1);
    }
}
