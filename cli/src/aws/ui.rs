//! Progress display: one line per resource state change with elapsed time on standard error
//! (text), or an event stream of JSON lines on standard output (`--output json`). Every line
//! passes through a redactor that replaces secret values by `(sensitive)`.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

pub struct Ui {
    json: bool,
    secrets: Vec<String>,
    start: Instant,
    lock: Mutex<()>,
    width: usize,
}

impl Ui {
    pub fn new(json: bool, secrets: Vec<String>, width: usize) -> Ui {
        Ui {
            json,
            secrets,
            start: Instant::now(),
            lock: Mutex::new(()),
            width: width.clamp(20, 70),
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for v in &self.secrets {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "(sensitive)");
            }
        }
        out
    }

    /// Human text on standard error (never in JSON mode's standard output).
    pub fn say(&self, text: &str) {
        let _g = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", self.redact(text));
    }

    /// A line on standard output (text mode) for results such as the plan and outputs.
    pub fn out(&self, text: &str) {
        let _g = self.lock.lock();
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "{}", self.redact(text));
        let _ = o.flush();
    }

    /// A JSON event on standard output (JSON mode only).
    pub fn event(&self, mut v: serde_json::Value) {
        if !self.json {
            return;
        }
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "t".into(),
                json!((self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
            );
        }
        let line = self.redact(&v.to_string());
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
    }
}
