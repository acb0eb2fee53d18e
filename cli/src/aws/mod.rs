//! Applying plans against AWS: discovery of live state by ownership tags, the diff, a DAG
//! executor and one provider module per resource kind.
//!
//! Clients are built from the standard AWS configuration chain (environment, shared profile,
//! SSO, instance role) with `BehaviorVersion::v2025_08_07()` pinned, standard retries
//! (throttling, transient and 5xx errors) and explicit timeouts.

pub mod census;
pub mod command;
pub mod destroy;
pub mod diff;
pub mod discover;
pub mod exec;
pub mod health;
pub mod inspect;
pub mod preflight;
pub mod progress;
pub mod providers;
pub mod saved;
pub mod show;
pub mod ssm;
pub mod ui;
pub mod upgrade;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use detscript_engine::Plan;

pub use crate::cli::AwsArgs;

/// The service clients, sharing one configuration.
#[derive(Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub region: String,
    /// The caller's account id (STS GetCallerIdentity): part of the bucket names.
    pub account: String,
    /// HTTP requests sent by the clients (retries included).
    pub requests: RequestCounter,
}

/// Counts the HTTP requests the SDK clients send (each attempt: retries count), in the
/// clients' own pipeline, so that no call site can forget it. Requests cost throttling
/// budget on real AWS; `run` and `destroy` report the count.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<std::sync::atomic::AtomicU64>);

impl RequestCounter {
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl aws_sdk_ec2::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _cx: &aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_ec2::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_sdk_ec2::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Builds the clients; a missing region or missing credentials is one clear line.
pub async fn connect(args: &AwsArgs, script_region: Option<&str>) -> Result<Clients, String> {
    let mut loader = aws_config::defaults(BehaviorVersion::v2025_08_07())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = args.region.as_deref().or(script_region) {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(u) = &args.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let conf = loader.load().await;
    let Some(region) = conf.region().map(|r| r.to_string()) else {
        return Err(
            "no AWS region: pass --region, set deployment(..).region(..) in the script, \
or set AWS_REGION (or a region in your AWS profile)"
                .into(),
        );
    };
    let Some(creds) = conf.credentials_provider() else {
        return Err("no AWS credentials provider configured".into());
    };
    match tokio::time::timeout(Duration::from_secs(30), creds.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(format!(
                "no AWS credentials found (looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
the shared profile{}, SSO and the instance role): {}",
                args.profile
                    .as_ref()
                    .map(|p| format!(" \"{p}\""))
                    .unwrap_or_default(),
                first_line(&e.to_string())
            ));
        }
        Err(_) => return Err("timed out looking for AWS credentials".into()),
    }
    let custom_endpoint = args.endpoint_url.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let requests = RequestCounter::default();
    let s3conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(custom_endpoint)
        .interceptor(requests.clone())
        .build();
    // A client whose requests the counter sees.
    macro_rules! counted {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(&conf)
                    .interceptor(requests.clone())
                    .build(),
            )
        };
    }
    let sts = counted!(aws_sdk_sts);
    let account = caller_account(&sts).await?;
    Ok(Clients {
        ec2: counted!(aws_sdk_ec2),
        iam: counted!(aws_sdk_iam),
        rds: counted!(aws_sdk_rds),
        s3: aws_sdk_s3::Client::from_conf(s3conf),
        sm: counted!(aws_sdk_secretsmanager),
        ssm: counted!(aws_sdk_ssm),
        quotas: counted!(aws_sdk_servicequotas),
        logs: counted!(aws_sdk_cloudwatchlogs),
        region,
        account,
        requests,
    })
}

/// The account the credentials belong to.
async fn caller_account(sts: &aws_sdk_sts::Client) -> Result<String, String> {
    let out = sts.get_caller_identity().send().await.map_err(|e| {
        format!(
            "cannot read the AWS account of these credentials (sts:GetCallerIdentity): {}",
            first_line(&format!("{:#}", aws_err("GetCallerIdentity", "", e)))
        )
    })?;
    out.account()
        .map(str::to_string)
        .ok_or_else(|| "sts:GetCallerIdentity returned no account id".to_string())
}

/// The plan `run`, `destroy` and the live commands work with: the account and a region the
/// script does not name, known after apply, filled in. (`run` stops in preflight when the
/// script names another region than the one AWS is set to; `destroy` then finds nothing of
/// the script's region to own: account-wide resources carry their region.)
pub fn live_plan(plan: &Plan, c: &Clients) -> Result<Plan, String> {
    plan.with_account(&c.account, &c.region)
}

/// The region's default VPC, if the account has one (security groups are created there).
pub async fn default_vpc(c: &Clients) -> anyhow::Result<Option<aws_sdk_ec2::types::Vpc>> {
    let out = c
        .ec2
        .describe_vpcs()
        .filters(providers::sg::filter("is-default", vec!["true".into()]))
        .send()
        .await
        .map_err(|e| aws_err("DescribeVpcs", "", e))?;
    Ok(out.vpcs().first().cloned())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// An AWS error as one line: `Operation target: Code: message`.
pub fn aws_err<E, R>(op: &str, target: &str, e: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => error_chain(&e),
            }
        }
        _ => error_chain(&e),
    };
    anyhow::anyhow!("{op} {target}: {detail}")
}

/// An error and its sources in one short line (never the raw HTTP response).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    let mut line = first_line(&parts.join(": "));
    if line.len() > 300 {
        let mut cut = 300;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

/// The error code of an SDK error, if the service sent one.
pub fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// The `on_retry` of [`retry_while`] for resource `id`: a "waiting" line saying `why`, with
/// AWS's message (or `fallback`) and when the next try is.
pub fn say_waiting<'a, E: ProvideErrorMetadata, R>(
    ctx: &'a Ctx,
    id: &'a str,
    why: &'a str,
    fallback: &'a str,
) -> impl Fn(&SdkError<E, R>, Duration) + 'a {
    move |e, d| {
        let msg = message_of(e).unwrap_or(fallback);
        let text = format!("{why} ({msg}); retrying in {}s", d.as_secs());
        ctx.ui.resource(id, "waiting", None, &text);
    }
}

/// The message of an SDK error, if the service sent one.
pub fn message_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().message(),
        _ => None,
    }
}

/// Resolved attributes of applied resources, by path (`security_group.master.id`).
#[derive(Debug, Clone, Default)]
pub struct Attrs(pub HashMap<String, String>);

impl Attrs {
    pub fn insert_all(&mut self, id: &str, attrs: &BTreeMap<String, String>) {
        for (k, v) in attrs {
            self.0.insert(format!("{id}.{k}"), v.clone());
        }
    }
    pub fn get(&self, path: &str) -> Option<String> {
        self.0.get(path).cloned()
    }
}

pub type SharedAttrs = Arc<Mutex<Attrs>>;

/// Retries `f` with jittered backoff (1 s growing to 10 s) for up to `limit` while `retry`
/// says the error is transient (eventual consistency), then returns the last result.
pub async fn retry_while<T, E, F, Fut>(
    limit: Duration,
    f: F,
    retry: impl Fn(&E) -> bool,
    on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    retry_from(Duration::from_secs(1), limit, f, retry, on_retry).await
}

/// [`retry_while`] with the first delay given (the delay doubles up to 10 s).
pub async fn retry_from<T, E, F, Fut>(
    first: Duration,
    limit: Duration,
    mut f: F,
    retry: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = first;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if retry(&e) && start.elapsed() + delay <= limit => {
                on_retry(&e, delay);
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

fn jitter(d: Duration) -> Duration {
    // Cheap jitter without a RNG dependency: the clock's sub-second nanos.
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.75 + (n % 500) as f64 / 1000.0; // 0.75 ..= 1.25
    d.mul_f64(frac)
}

/// Wait settings (RDS `available`, EC2 `running`/`terminated`).
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub rds: Duration,
    pub ec2: Duration,
    pub iam_propagation: Duration,
    pub dependency_violation: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            rds: Duration::from_secs(env_secs("DETSCRIPT_RDS_WAIT_SECONDS").unwrap_or(40 * 60)),
            ec2: Duration::from_secs(env_secs("DETSCRIPT_EC2_WAIT_SECONDS").unwrap_or(10 * 60)),
            iam_propagation: Duration::from_secs(
                env_secs("DETSCRIPT_IAM_PROPAGATION_SECONDS").unwrap_or(120),
            ),
            dependency_violation: Duration::from_secs(
                env_secs("DETSCRIPT_DEPENDENCY_WAIT_SECONDS").unwrap_or(300),
            ),
        }
    }
}

fn env_secs(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Polls `check` (1 s growing to 15 s) until it returns `Some`, or fails after `limit` with
/// a message naming what was awaited.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() >= limit {
            anyhow::bail!(
                "timed out after {}s waiting for {what}; it may still finish: run again later to continue",
                limit.as_secs()
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// Everything a provider needs.
pub struct Ctx {
    pub clients: Clients,
    pub plan: Arc<Plan>,
    pub deployment: String,
    pub waits: Waits,
    pub ui: Arc<ui::Ui>,
    /// The default VPC found by discovery (security groups are created there).
    pub vpc_id: Option<String>,
    /// Attributes a job knows before it finishes (see [`Early`]).
    pub early: Early,
}

impl Ctx {
    /// Tells the executor that `id`'s attributes are known although its job is not finished
    /// (a database whose endpoint is known while it is still being created): what depends
    /// on them may start. The job still has to finish for the run to succeed.
    pub fn publish(&self, id: &str, attrs: providers::AttrMap) {
        self.early
            .known
            .lock()
            .expect("early attributes lock")
            .push((id.to_string(), attrs));
        self.early.notify.notify_one();
    }
}

/// Attributes published by running jobs, for the executor to pick up.
#[derive(Debug, Default)]
pub struct Early {
    known: Mutex<Vec<(String, providers::AttrMap)>>,
    notify: tokio::sync::Notify,
}

impl Early {
    /// Waits until something is published.
    pub async fn published(&self) {
        self.notify.notified().await
    }

    /// What was published since the last call.
    pub fn take(&self) -> Vec<(String, providers::AttrMap)> {
        std::mem::take(&mut *self.known.lock().expect("early attributes lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// `retry_from` on an operation whose n-th call answers `answer(n)`, retrying the errors
    /// that contain `retryable`: the result and the number of calls.
    async fn count_calls(
        limit: Duration,
        retryable: &str,
        answer: impl Fn(u32) -> Result<u32, &'static str>,
    ) -> (Result<u32, &'static str>, u32) {
        let mut calls = 0;
        let r = retry_from(
            MS,
            limit,
            || {
                calls += 1;
                let a = answer(calls);
                async move { a }
            },
            |e| e.contains(retryable),
            |_, _| {},
        )
        .await;
        (r, calls)
    }

    #[tokio::test]
    async fn retry_while_retries_only_matching_errors_within_the_limit() {
        let limit = Duration::from_secs(120);
        let (r, _) = count_calls(limit, "IAM Instance Profile", |c| {
            if c < 4 {
                Err("Invalid IAM Instance Profile name")
            } else {
                Ok(c)
            }
        })
        .await;
        assert_eq!(r, Ok(4));

        let (r, calls) = count_calls(limit, "IAM Instance Profile", |_| {
            Err("InvalidAMIID.Malformed")
        })
        .await;
        assert_eq!(r, Err("InvalidAMIID.Malformed"));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn waiters_time_out_with_a_message_naming_what_was_awaited() {
        let r: anyhow::Result<()> = wait_for(
            "RDS cluster x to become available",
            Duration::from_millis(1),
            || async { Ok(None) },
        )
        .await;
        let msg = r.unwrap_err().to_string();
        assert!(
            msg.starts_with("timed out after 0s waiting for RDS cluster x to become available"),
            "{msg}"
        );
        assert!(msg.contains("run again later"), "{msg}");
    }

    #[tokio::test]
    async fn retry_while_gives_up_after_the_limit() {
        // Delays 1, 2, 4, 8, 16 ms (jittered): the 40 ms limit allows 4 or 5 retries.
        let (r, calls) = count_calls(Duration::from_millis(40), "DependencyViolation", |_| {
            Err("DependencyViolation")
        })
        .await;
        assert!(r.is_err());
        assert!((3..=7).contains(&calls), "{calls}");
    }
}
