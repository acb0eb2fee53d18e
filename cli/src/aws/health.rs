//! The health wait after `run`: AWS calls an instance running long before Determined answers
//! (Docker is installed, the image pulled, the database migrated). `run` therefore polls the
//! master's `GET /info` until it answers (with the planned version, when the image names one),
//! printing a heartbeat line, and says where the boot log is when it does not come up in time.
//!
//! On by default against real AWS. With a custom endpoint (an emulator) the addresses AWS
//! hands out are not real hosts, so the wait is off unless `DETSCRIPT_HEALTH_URL` names the URL
//! to probe (the tests point it at a stub on 127.0.0.1).

use std::time::Duration;

use detscript_engine::Plan;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::ui::Ui;
use super::{Attrs, AwsArgs};
use crate::Exit;
use crate::cli::UpgradeArgs;

/// Names the URL to probe instead of the master's (`http://127.0.0.1:PORT/info` in tests).
pub const HEALTH_URL_ENV: &str = "DETSCRIPT_HEALTH_URL";
/// Seconds between heartbeat lines (default 30).
pub const HEARTBEAT_ENV: &str = "DETSCRIPT_HEALTH_HEARTBEAT_SECONDS";
/// What the progress lines call the wait.
pub const LABEL: &str = "master /info";

/// Where and how long to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The URL polled (`<master_url>/info`).
    pub url: String,
    /// The master's instance id, for the console-output hint.
    pub instance_id: Option<String>,
    pub region: String,
    /// The version `/info` must report (the master image's tag, when it is a version).
    pub version: Option<String>,
}

/// Decides whether `run` waits, and for what: `Err` is the line saying why it does not.
pub fn target(
    plan: &Plan,
    attrs: &Attrs,
    region: &str,
    custom_endpoint: bool,
    override_url: Option<String>,
) -> Result<Target, String> {
    let Some(master) = plan.master() else {
        return Err("the plan has no master".into());
    };
    let outputs = plan.output_values();
    let resolved = |name: &str| {
        outputs
            .get(name)
            .and_then(|t| t.resolve(&|r| attrs.get(&r.path()), None).ok())
    };
    let version = super::upgrade::version_tag(&master.image).map(str::to_string);
    let instance_id = resolved("master_instance_id");
    let url = match override_url {
        Some(u) => u,
        None if custom_endpoint => {
            return Err(format!(
                "not waiting for the master's /info: AWS is a custom endpoint (set {HEALTH_URL_ENV} to probe a URL)"
            ));
        }
        None => match resolved("master_url") {
            Some(u) if !master.public_ip => {
                return Err(format!(
                    "not waiting for the master's /info: it has no public address; from inside its VPC, check {}/info",
                    u.trim_end_matches('/')
                ));
            }
            Some(u) => format!("{}/info", u.trim_end_matches('/')),
            None => return Err("not waiting for the master's /info: its URL is unknown".into()),
        },
    };
    if !url.starts_with("http://") {
        return Err(format!(
            "not waiting for the master: the health wait speaks plain HTTP only; check {url} yourself"
        ));
    }
    Ok(Target {
        url,
        instance_id,
        region: region.to_string(),
        version,
    })
}

/// One answer of `/info`.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// HTTP 200 with the expected version (or any, when none is expected).
    Up(Option<String>),
    /// Not (yet): why, for the heartbeat.
    Down(String),
}

type Http = Client<HttpConnector, Empty<Bytes>>;

fn client() -> Http {
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new()).build(conn)
}

/// One GET of `url`, at most 10 s and 64 KiB of body.
async fn probe(http: &Http, url: &str, version: Option<&str>) -> Probe {
    let uri: hyper::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return Probe::Down(format!("bad URL: {e}")),
    };
    let res = match tokio::time::timeout(Duration::from_secs(10), http.get(uri)).await {
        Err(_) => return Probe::Down("no answer within 10s".into()),
        Ok(Err(e)) => return Probe::Down(short_error(&e)),
        Ok(Ok(r)) => r,
    };
    let status = res.status();
    let body = match tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(res.into_body(), 64 * 1024).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        _ => return Probe::Down(format!("HTTP {status}, body unreadable")),
    };
    if !status.is_success() {
        return Probe::Down(format!("HTTP {}", status.as_u16()));
    }
    judge(&body, version)
}

/// Reads a 200 answer: Determined's `/info` is JSON with its `version`.
fn judge(body: &[u8], want: Option<&str>) -> Probe {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Probe::Down("HTTP 200 but not Determined's /info (not JSON)".into());
    };
    let have = v
        .get("version")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match (want, have.as_deref()) {
        (Some(w), Some(h)) if !same_version(w, h) => {
            Probe::Down(format!("answers with version {h}, waiting for {w}"))
        }
        _ => Probe::Up(have),
    }
}

fn same_version(want: &str, have: &str) -> bool {
    let norm = |s: &str| s.trim().trim_start_matches('v').to_string();
    norm(want) == norm(have)
}

fn short_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        msg = s.to_string();
        cur = s.source();
    }
    msg
}

/// Where to look when the master does not come up.
pub fn boot_log_hint(t: &Target) -> String {
    let console = match &t.instance_id {
        Some(iid) => format!(
            "; without SSH: aws ec2 get-console-output --instance-id {iid} --region {} --latest --output text",
            t.region
        ),
        None => String::new(),
    };
    format!(
        "the boot log is /var/log/cloud-init-output.log on the master (detscript's steps also in /var/log/detscript-master.log){console}"
    )
}

fn heartbeat() -> Duration {
    std::env::var(HEARTBEAT_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(30), |s| Duration::from_secs(s.max(1)))
}

/// Polls `t.url` every 2 s (the first probe at once) until it is up or `limit` has passed,
/// with a heartbeat line; the error names the URL, the last answer and the boot log.
pub async fn wait(ui: &Ui, t: &Target, limit: Duration) -> Result<Duration, String> {
    let http = client();
    let start = tokio::time::Instant::now();
    let beat = heartbeat();
    let mut next_beat = beat;
    ui.resource(LABEL, "waiting", None, &format!("{} to answer", t.url));
    loop {
        let last = match probe(&http, &t.url, t.version.as_deref()).await {
            Probe::Up(v) => {
                let el = start.elapsed();
                let detail = match v {
                    Some(v) => format!("Determined {v} answers at {}", t.url),
                    None => format!("answers at {}", t.url),
                };
                ui.resource(LABEL, "up", Some(el), &detail);
                return Ok(el);
            }
            Probe::Down(why) => why,
        };
        let el = start.elapsed();
        if el >= limit {
            return Err(format!(
                "the master did not answer at {} within {}s (last: {last}); {}. Run the same command again to keep waiting",
                t.url,
                limit.as_secs(),
                boot_log_hint(t)
            ));
        }
        if el >= next_beat {
            ui.resource(
                LABEL,
                "waiting",
                Some(el),
                &format!("still waiting: {last}"),
            );
            next_beat = el + beat;
        }
        tokio::time::sleep(Duration::from_secs(2).min(limit - el)).await;
    }
}

/// True when AWS calls go to a custom endpoint (an emulator), whose addresses are not hosts.
pub fn custom_endpoint(args: &AwsArgs) -> bool {
    args.endpoint_url.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_EC2").is_some()
}

/// The wait at the end of `run` (unless `--no-wait`): a line saying why there is none, or
/// the wait itself; a master that does not answer in time fails the run (exit 3).
pub async fn after_run(
    plan: &Plan,
    attrs: &Attrs,
    ui: &Ui,
    args: &AwsArgs,
    region: &str,
    opts: &UpgradeArgs,
) -> Result<(), Exit> {
    if opts.no_wait || plan.master().is_none() {
        return Ok(());
    }
    let override_url = std::env::var(HEALTH_URL_ENV).ok().filter(|u| !u.is_empty());
    let t = match target(plan, attrs, region, custom_endpoint(args), override_url) {
        Ok(t) => t,
        Err(why) => {
            ui.say(&why);
            return Ok(());
        }
    };
    wait(ui, &t, Duration::from_secs(opts.wait_timeout))
        .await
        .map(|_| ())
        .map_err(|e| ui.fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_the_masters_unless_aws_is_an_emulator_or_an_override_names_one() {
        let plan = crate::aws::diff::tests::plan("0.0.0.0/0");
        let mut attrs = Attrs::default();
        for (k, v) in [
            ("id", "i-0abc"),
            ("public_ip", "203.0.113.7"),
            ("private_ip", "10.0.0.7"),
        ] {
            attrs.0.insert(format!("ec2_instance.master.{k}"), v.into());
        }
        let t = target(&plan, &attrs, "us-west-2", false, None).unwrap();
        assert_eq!(t.url, "http://203.0.113.7:8080/info");
        assert_eq!(t.instance_id.as_deref(), Some("i-0abc"));
        assert_eq!(t.version.as_deref(), Some("0.38.0"));
        let why = target(&plan, &attrs, "us-west-2", true, None).unwrap_err();
        assert!(why.contains("custom endpoint"), "{why}");
        let stub = Some("http://127.0.0.1:9/info".to_string());
        let t = target(&plan, &attrs, "us-west-2", true, stub).unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9/info");
        let why = target(&plan, &attrs, "r", false, Some("https://x/info".into())).unwrap_err();
        assert!(why.contains("plain HTTP only"), "{why}");
        // A master without a public address cannot be reached from here: no wait, and why.
        let private = crate::aws::diff::tests::plan_with("0.0.0.0/0", |s| {
            s.replace(".disk_gb(200)", ".disk_gb(200).public_ip(false)")
        });
        let why = target(&private, &attrs, "us-west-2", false, None).unwrap_err();
        assert_eq!(
            why,
            "not waiting for the master's /info: it has no public address; from inside its VPC, check http://10.0.0.7:8080/info"
        );
    }

    #[test]
    fn info_must_report_the_planned_version() {
        let body = br#"{"version": "0.38.0", "cluster_id": "x"}"#;
        assert_eq!(
            judge(body, Some("0.38.0")),
            Probe::Up(Some("0.38.0".into()))
        );
        assert_eq!(judge(body, None), Probe::Up(Some("0.38.0".into())));
        assert_eq!(
            judge(body, Some("0.39.0")),
            Probe::Down("answers with version 0.38.0, waiting for 0.39.0".into())
        );
        assert!(matches!(judge(b"<html>", None), Probe::Down(m) if m.contains("not JSON")));
        assert_eq!(judge(b"{}", Some("0.38.0")), Probe::Up(None));
    }

    #[test]
    fn the_hint_names_the_boot_log_and_the_console_command() {
        let t = Target {
            url: "http://1.2.3.4:8080/info".into(),
            instance_id: Some("i-0abc".into()),
            region: "us-west-2".into(),
            version: None,
        };
        let h = boot_log_hint(&t);
        assert!(h.contains("/var/log/cloud-init-output.log"), "{h}");
        assert!(
            h.contains("aws ec2 get-console-output --instance-id i-0abc --region us-west-2"),
            "{h}"
        );
    }
}
