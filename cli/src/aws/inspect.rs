//! `detscript outputs` and `detscript status`: the live deployment read back by its tags,
//! without changing anything.

use std::collections::BTreeMap;

use detscript_engine::Plan;
use detscript_engine::value::Style;
use serde_json::{Value, json};

use super::command::{connect_or_fail, label_width, refresh, runtime};
use super::diff::{Action, Diff, Removal};
use super::discover::State;
use super::health::{self, Probe};
use super::ui::Ui;
use super::{Attrs, AwsArgs};
use crate::Exit;

/// The plan's outputs with the values `attrs` knows; the others read `(known after apply: ..)`.
pub fn resolve_outputs(plan: &Plan, attrs: &Attrs) -> BTreeMap<String, String> {
    plan.output_values()
        .into_iter()
        .map(|(k, v)| {
            let shown = v.substitute(&|r| attrs.get(&r.path())).display(Style::Text);
            (k, shown)
        })
        .collect()
}

/// `name = value` lines, names aligned.
pub fn outputs_text(outputs: &BTreeMap<String, String>) -> String {
    let w = outputs.keys().map(String::len).max().unwrap_or(0);
    outputs
        .iter()
        .map(|(k, v)| format!("{k:<w$} = {v}\n"))
        .collect()
}

/// The attributes of every live resource the deployment owns.
fn live_attrs(state: &State) -> Attrs {
    let mut attrs = Attrs::default();
    for (id, live) in &state.owned {
        attrs.insert_all(id, &live.attrs);
    }
    attrs
}

/// Reads the live deployment: its state and the diff against the script.
/// Returns the plan with what is known after apply filled in.
fn read_live(plan: &Plan, args: &AwsArgs, ui: &Ui) -> Result<(Plan, State, Diff), Exit> {
    let rt = runtime()?;
    rt.block_on(async {
        let (clients, plan) = connect_or_fail(args, plan, ui).await?;
        let (state, d) = refresh(&clients, &plan, ui).await?;
        Ok((plan, state, d))
    })
}

/// `detscript outputs FILE`: the outputs, as text lines or one JSON object.
pub fn outputs(plan: Plan, args: &AwsArgs, json_out: bool) -> Result<String, Exit> {
    let ui = Ui::new(false, plan.secrets().clone(), label_width(&plan));
    let (plan, state, _) = read_live(&plan, args, &ui)?;
    let resolved = resolve_outputs(&plan, &live_attrs(&state));
    let text = if json_out {
        serde_json::to_string_pretty(&resolved).unwrap_or_default() + "\n"
    } else {
        outputs_text(&resolved)
    };
    Ok(ui.redact(&text))
}

/// One resource's line of `status`.
fn resource_state(action: &Action) -> (&'static str, String) {
    match action {
        Action::NoOp => ("ok", String::new()),
        Action::Create => ("missing", String::new()),
        Action::Update(what) => ("drifted", what.join("; ")),
        Action::Replace(why) => ("drifted", format!("would be replaced: {why}")),
    }
}

/// `detscript status FILE`: what exists, the drift, the master's health.
pub fn status(
    plan: Plan,
    args: &AwsArgs,
    json_out: bool,
    master_url: Option<String>,
) -> Result<String, Exit> {
    let ui = Ui::new(false, plan.secrets().clone(), label_width(&plan));
    let (plan, state, d) = read_live(&plan, args, &ui)?;
    let mut rows = Vec::new();
    for c in &d.changes {
        let (state_word, detail) = resource_state(&c.action);
        let physical = state
            .owned
            .get(&c.id)
            .map(|l| l.physical())
            .unwrap_or_default();
        rows.push(json!({"id": c.id, "state": state_word, "physical": physical, "detail": detail}));
    }
    for r in &d.removals {
        let physical = match r {
            Removal::Resource(l) => l.physical(),
            Removal::Rule(rule) => rule.rule_id.clone(),
        };
        rows.push(json!({"id": r.label(), "state": "not in script", "physical": physical, "detail": "run deletes it"}));
    }
    let outputs = resolve_outputs(&plan, &live_attrs(&state));
    // An emulator's addresses are not real hosts: only an explicit --master-url is probed.
    let emulator = health::custom_endpoint(args);
    let url = master_url.clone().or_else(|| {
        outputs
            .get("master_url")
            .filter(|u| u.starts_with("http") && !u.contains("${") && !u.contains("(known"))
            .cloned()
    });
    let running = state.owned.contains_key("ec2_instance.master");
    let health = match &url {
        _ if !running && master_url.is_none() => Health::Unknown("no master is running".into()),
        Some(_) if emulator && master_url.is_none() => Health::Unknown(
            "AWS is a custom endpoint, whose addresses are not real hosts: pass --master-url"
                .into(),
        ),
        Some(u) => check_health(u)?,
        None => Health::Unknown("its URL is not known".into()),
    };
    let exists = d
        .changes
        .iter()
        .filter(|c| c.action != Action::Create)
        .count();
    let report = json!({
        "deployment": plan.deployment.name,
        "resources": rows,
        "exists": exists,
        "planned": d.changes.len(),
        "pending": d.pending(),
        "conflicts": d.conflicts.iter().chain(&d.blocked).collect::<Vec<_>>(),
        "master": {"url": url, "health": health.word(), "detail": health.detail()},
    });
    let text = if json_out {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        status_text(&report)
    };
    Ok(ui.redact(&text))
}

fn status_text(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rows = r["resources"].as_array().cloned().unwrap_or_default();
    let w = rows.iter().map(|x| s(&x["id"]).len()).max().unwrap_or(0);
    let mut out = format!(
        "Deployment {}: {} of {} resources exist.\n\n",
        s(&r["deployment"]),
        r["exists"],
        r["planned"]
    );
    for x in &rows {
        let detail = s(&x["detail"]);
        let line = format!(
            "  {:<w$}  {:<13} {}{}",
            s(&x["id"]),
            s(&x["state"]),
            s(&x["physical"]),
            if detail.is_empty() {
                String::new()
            } else {
                format!("  ({detail})")
            }
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let pending = r["pending"].as_u64().unwrap_or(0);
    out.push('\n');
    out.push_str(&match pending {
        0 => "Drift: none; live AWS matches the script.\n".to_string(),
        n => format!(
            "Drift: {n} change{} pending (`detscript plan --refresh` shows them, `detscript run` makes them).\n",
            if n == 1 { "" } else { "s" }
        ),
    });
    for c in r["conflicts"].as_array().into_iter().flatten() {
        out.push_str(&format!("Conflict: {}\n", s(c)));
    }
    let m = &r["master"];
    let url = m["url"]
        .as_str()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "Master{url}: {} ({})\n",
        s(&m["health"]),
        s(&m["detail"])
    ));
    out
}

/// The master's health, from `GET <url>/info`.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// HTTP 200; the version it reports, if any.
    Up(Option<String>),
    /// No answer, or not 200: why.
    Down(String),
    /// Not checked: why.
    Unknown(String),
}

impl Health {
    fn word(&self) -> &'static str {
        match self {
            Health::Up(_) => "healthy",
            Health::Down(_) => "unreachable",
            Health::Unknown(_) => "not checked",
        }
    }

    fn detail(&self) -> String {
        match self {
            Health::Up(Some(v)) => format!("GET /info answered, version {v}"),
            Health::Up(None) => "GET /info answered".into(),
            Health::Down(why) | Health::Unknown(why) => why.clone(),
        }
    }
}

/// One `GET <base>/info` (health.rs's probe: plain HTTP, 5 s to connect, 10 s to answer).
/// HTTPS is not checked: it says so.
pub fn check_health(base: &str) -> Result<Health, Exit> {
    if !base.starts_with("http://") {
        return Ok(Health::Unknown(format!(
            "only plain http:// is checked; open {base}/info yourself"
        )));
    }
    let url = format!(
        "{}/info",
        base.trim_end_matches('/').trim_end_matches("/info")
    );
    let probe = runtime()?.block_on(health::probe_once(&url));
    Ok(match probe {
        Probe::Up(version) => Health::Up(version),
        Probe::Down(why) => Health::Down(format!("GET {url}: {why}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_not_probed() {
        assert!(matches!(
            check_health("https://example.invalid"),
            Ok(Health::Unknown(_))
        ));
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let h = check_health(&format!("http://127.0.0.1:{port}")).unwrap();
        assert!(matches!(h, Health::Down(_)), "{h:?}");
    }
}
