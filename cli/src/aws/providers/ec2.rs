//! The master instance, and the agent instances / spot requests the master launched.

use anyhow::{Result, bail};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    Instance, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, VolumeType,
};
use detscript_engine::kinds::{Ec2InstanceSpec, TAG_DEPLOYMENT, TAG_ID};
use detscript_engine::{Kind, Plan, Resource};
use sha2::{Digest, Sha256};

use super::network::wait_ec2;
use super::sg::{filter, tag_spec};
use super::{
    AttrMap, Cmp, Del, Detail, Have, Provider, Vals, Want, all_items, attr_map, diff_groups, found,
    owned_by, planned, tag_map,
};
use crate::aws::diff::Action;
use crate::aws::discover::{Live, State};
use crate::aws::{Clients, Ctx, aws_err, code_of, message_of, retry_while, say_waiting, wait_for};

/// A live instance: what DescribeInstances says of it, and the user-data it boots with (read
/// for the deployment's own instances only).
#[derive(Debug, Clone)]
pub struct InstanceLive {
    /// Boxed: the SDK's description is large, and every live resource's detail is as large as
    /// the largest kind's.
    pub instance: Box<Instance>,
    pub user_data: Option<String>,
}

pub struct Ec2Instance;

const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];
const NO_INSTANCE: &[&str] = &["InvalidInstanceID.NotFound"];

async fn read_user_data(c: &Clients, iid: &str) -> Result<Option<String>> {
    let out = c
        .ec2
        .describe_instance_attribute()
        .instance_id(iid)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .map_err(|e| aws_err("DescribeInstanceAttribute", iid, e))?;
    Ok(out
        .user_data()
        .and_then(|v| v.value())
        .and_then(|b| aws_smithy_types::base64::decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn state_of(i: &Instance) -> Option<String> {
    i.state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string())
}

fn instance_attrs(i: &Instance) -> AttrMap {
    attr_map([
        ("id", i.instance_id()),
        ("private_ip", i.private_ip_address()),
        ("public_ip", i.public_ip_address()),
    ])
}

/// The ARN of the instance profile the instance runs with.
fn profile_arn(i: &Instance) -> Option<&str> {
    i.iam_instance_profile().and_then(|p| p.arn())
}

/// The primary interface's groups are the instance's (moto leaves the instance-level list
/// empty for instances launched with an interface).
fn groups_of(i: &Instance) -> Vec<String> {
    let mut sgs: Vec<String> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    if sgs.is_empty() {
        sgs = i
            .network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| n.groups())
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
    }
    sgs
}

/// The user-data the master boots with: its files with every reference resolved.
fn user_data(ctx: &Ctx, r: &Resource, spec: &Ec2InstanceSpec, v: &Vals) -> Result<String> {
    if let Some(p) = spec
        .user_data
        .refs()
        .find(|p| v.attrs.get(&p.path()).is_none())
    {
        let _ = p;
        bail!("{}: user-data still holds unresolved references", r.id);
    }
    match ctx.plan.resolved_master_files(&|p| v.attrs.get(p)) {
        Some((_, ud)) => Ok(ud),
        None => v.text(&spec.user_data),
    }
}

impl Provider for Ec2Instance {
    const REPLACEABLE: bool = true;

    async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
        let dep = plan.deployment.name.as_str();
        let names = planned(plan, Kind::Ec2Instance);
        let live_states = filter(
            "instance-state-name",
            LIVE_STATES.iter().map(|s| s.to_string()).collect(),
        );
        let by = |f: Filter| {
            let req = c.ec2.describe_instances().filters(f);
            req.filters(live_states.clone())
        };
        // One DescribeInstances for the owned instances (their tag's value is the deployment)
        // and the same-named ones (a `Name` tag's value is a planned name); `State::add` keeps
        // only those.
        let mut values = vec![dep.to_string()];
        values.extend(names.keys().cloned());
        let req = by(filter("tag-value", values));
        let found = all_items!(req, "DescribeInstances", "")?;
        let mut st = State::default();
        let mut seen = std::collections::BTreeSet::new();
        for i in found.iter().flat_map(|r| r.instances()) {
            let iid = i.instance_id().unwrap_or_default().to_string();
            if !seen.insert(iid.clone()) {
                continue;
            }
            let tags = tag_map(i.tags().iter().map(|t| (t.key(), t.value())));
            let name = tags.get("Name").cloned().unwrap_or_else(|| iid.clone());
            let user_data = if owned_by(&tags, dep) {
                read_user_data(c, &iid).await?
            } else {
                None
            };
            let detail = Detail::Ec2Instance(InstanceLive {
                instance: Box::new(i.clone()),
                user_data,
            });
            let live = Live::new(&name, instance_attrs(i), detail);
            st.add(dep, &tags, live, names.get(&name).map(String::as_str));
        }
        Ok(st)
    }

    fn compare(spec: &Ec2InstanceSpec, Have { d: l, .. }: Have<'_, Self>, cx: &Cmp) -> Action {
        let (v, i) = (&cx.vals, &l.instance);
        let t = v.shown(&spec.instance_type);
        let live_type = i.instance_type().map_or("", |t| t.as_str());
        if t != live_type {
            return Action::Replace(format!("instance type {live_type} -> {t}"));
        }
        let img = v.shown(&spec.image_id);
        let live_img = i.image_id().unwrap_or_default();
        if img != live_img && !crate::aws::ssm::pinned(spec) {
            return Action::Replace(format!("image {live_img} -> {img}"));
        }
        let key = spec.key_name.as_ref().map(|k| v.shown(k));
        if key.as_deref() != i.key_name() {
            return Action::Replace(format!(
                "key pair {} -> {}",
                i.key_name().unwrap_or("none"),
                key.as_deref().unwrap_or("none")
            ));
        }
        if let Some(p) = &spec.iam_instance_profile {
            match v.known(p) {
                None => return Action::Replace("instance profile is being created".into()),
                Some(p) if profile_arn(i) != Some(p.as_str()) => {
                    return Action::Replace("instance profile changed".into());
                }
                Some(_) => {}
            }
        }
        let unknown = spec
            .user_data
            .refs()
            .any(|p| v.attrs.get(&p.path()).is_none());
        if unknown || cx.after_apply {
            return Action::Replace("user-data depends on values known after apply".into());
        }
        let want_ud = match v.plan.resolved_master_files(&|p| v.attrs.get(p)) {
            Some((_, ud)) => Some(ud),
            None => v.known(&spec.user_data),
        };
        if l.user_data != want_ud {
            return Action::Replace(
                "user-data (master.yaml) changed; it only runs at first boot".into(),
            );
        }
        if let Some(s) = spec.subnet_id.as_ref().and_then(|s| v.known(s)) {
            if i.subnet_id() != Some(s.as_str()) {
                return Action::Replace(format!(
                    "subnet {} -> {s}",
                    i.subnet_id().unwrap_or("none")
                ));
            }
        }
        let mut upd = Vec::new();
        diff_groups(&spec.security_group_ids, &groups_of(i), cx, &mut upd);
        super::update_or_noop(upd)
    }

    fn uses(d: &InstanceLive) -> Vec<String> {
        let i = &d.instance;
        let others = [profile_arn(i), i.subnet_id()];
        let mut out = groups_of(i);
        out.extend(others.into_iter().flatten().map(str::to_string));
        out
    }

    async fn create(Want { ctx, r, spec, v }: Want<'_, Self>) -> Result<AttrMap> {
        launch_master(ctx, r, spec, v, None).await
    }

    async fn update(
        Want { ctx, spec, v, .. }: Want<'_, Self>,
        Have { live, .. }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let iid = live.physical();
        ctx.clients
            .ec2
            .modify_instance_attribute()
            .instance_id(&iid)
            .set_groups(Some(v.list(&spec.security_group_ids)?))
            .send()
            .await
            .map_err(|e| aws_err("ModifyInstanceAttribute", &iid, e))?;
        wait_running(ctx, &iid).await
    }

    /// Terminates the old instance, then launches the new one.
    async fn replace(
        Want { ctx, r, spec, v }: Want<'_, Self>,
        Have { live, .. }: Have<'_, Self>,
    ) -> Result<AttrMap> {
        let iid = live.physical();
        ctx.ui
            .resource(&r.id, "terminating", None, &format!("old instance {iid}"));
        terminate(ctx, std::slice::from_ref(&iid)).await?;
        launch_master(ctx, r, spec, v, Some(&iid)).await
    }

    async fn delete(ctx: &Ctx, Del { live, .. }: Del<'_, Self>) -> Result<String> {
        terminate(ctx, &[live.physical()]).await?;
        Ok(String::new())
    }
}

/// True for the errors RunInstances returns while a new instance profile propagates.
pub fn is_profile_propagation(code: Option<&str>, message: Option<&str>) -> bool {
    let m = message.unwrap_or_default();
    code == Some("InvalidParameterValue")
        && (m.contains("Invalid IAM Instance Profile")
            || m.contains("iamInstanceProfile")
            || m.contains("has no associated IAM Roles"))
}

/// A RunInstances idempotency token: the same plan and resource give the same token, so an
/// SDK retry of a launch whose response was lost never makes a second master.
pub fn client_token(deployment: &str, id: &str, plan_sha: &str, replacing: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [deployment, id, plan_sha, replacing.unwrap_or("-")] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(24)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The default subnet of the default VPC in the first availability zone (by name).
async fn default_subnet(ctx: &Ctx) -> Result<String> {
    let out = ctx
        .clients
        .ec2
        .describe_subnets()
        .filters(filter("default-for-az", vec!["true".into()]))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to find the default VPC's subnets: {}",
                aws_sdk_ec2::error::DisplayErrorContext(&e)
            )
        })?;
    let mut subnets: Vec<(String, String)> = out
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.availability_zone()?.to_string(),
                s.subnet_id()?.to_string(),
            ))
        })
        .collect();
    subnets.sort();
    subnets.into_iter().next().map(|(_, id)| id).ok_or_else(|| {
        anyhow::anyhow!("the master has public_ip(false) and no subnet_id, and this region has no default subnet: set .subnet_id(...)")
    })
}

async fn launch_master(
    ctx: &Ctx,
    r: &Resource,
    spec: &Ec2InstanceSpec,
    v: Vals<'_>,
    replacing: Option<&str>,
) -> Result<AttrMap> {
    let user_data = user_data(ctx, r, spec, &v)?;
    let c = &ctx.clients;
    let token = client_token(&ctx.deployment, &r.id, &ctx.plan.sha256(), replacing);
    let sgs = v.list(&spec.security_group_ids)?;
    let (rv, md) = (&spec.root_volume, &spec.metadata_options);
    let mut req = c
        .ec2
        .run_instances()
        .image_id(v.text(&spec.image_id)?)
        .instance_type(InstanceType::from(v.text(&spec.instance_type)?.as_str()))
        .min_count(1)
        .max_count(1)
        .client_token(&token)
        .set_key_name(v.opt(spec.key_name.as_ref())?)
        .user_data(aws_smithy_types::base64::encode(user_data.as_bytes()))
        .tag_specifications(tag_spec(ResourceType::Instance, r))
        .tag_specifications(tag_spec(ResourceType::Volume, r))
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(&rv.device_name)
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(rv.size_gb as i32)
                        .volume_type(VolumeType::from(rv.volume_type.as_str()))
                        .encrypted(rv.encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_tokens(HttpTokensState::from(md.http_tokens.as_str()))
                .http_put_response_hop_limit(md.http_put_response_hop_limit as i32)
                .build(),
        );
    let public_ip = spec.associate_public_ip_address;
    // Without a subnet, EC2 picks the default VPC's default subnet, whose setting decides the
    // public IP: a master that must not have one needs an explicit interface, and so a subnet.
    let subnet = match v.opt(spec.subnet_id.as_ref())? {
        Some(s) => Some(s),
        None if !public_ip => Some(default_subnet(ctx).await?),
        None => None,
    };
    if let Some(subnet) = subnet {
        req = req.network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(subnet)
                .associate_public_ip_address(public_ip)
                .set_groups(Some(sgs))
                .build(),
        );
    } else {
        req = req.set_security_group_ids(Some(sgs));
    }
    if let Some(p) = v.opt(spec.iam_instance_profile.as_ref())? {
        req = req.iam_instance_profile(IamInstanceProfileSpecification::builder().arn(p).build());
    }
    // The same token within AWS's idempotency window returns the earlier instance, even one
    // terminated since (destroy, then run again): then launch with a token naming it.
    let mut tries = 0;
    let iid = loop {
        tries += 1;
        let iid = launch(ctx, r, req.clone()).await?;
        let state = instance_state(ctx, &iid).await?;
        if matches!(state.as_deref(), Some("terminated") | Some("shutting-down")) && tries < 3 {
            let token = client_token(&ctx.deployment, &r.id, &ctx.plan.sha256(), Some(&iid));
            req = req.client_token(token);
            continue;
        }
        break iid;
    };
    ctx.ui
        .resource(&r.id, "waiting", None, &format!("{iid} to be running"));
    wait_running(ctx, &iid).await
}

/// The instance, or None while EC2 does not know it yet (eventual consistency).
async fn describe(ctx: &Ctx, iid: &str) -> Result<Option<Instance>> {
    let res = ctx
        .clients
        .ec2
        .describe_instances()
        .instance_ids(iid)
        .send()
        .await;
    Ok(
        found(res, NO_INSTANCE, "DescribeInstances", iid)?.and_then(|o| {
            o.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .cloned()
        }),
    )
}

/// The instance's state name, or None while EC2 does not know it (yet, or any more).
pub async fn instance_state(ctx: &Ctx, iid: &str) -> Result<Option<String>> {
    Ok(describe(ctx, iid).await?.as_ref().and_then(state_of))
}

/// True when a failed call may still have taken effect or may succeed when sent again:
/// throttling, 5xx, timeouts, a lost connection or an unreadable response.
pub fn is_transient<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let throttled = matches!(
                s.err().code(),
                Some(
                    "Throttling"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "RequestThrottled"
                        | "RequestThrottledException"
                        | "TooManyRequestsException"
                        | "InternalError"
                        | "InternalFailure"
                        | "ServiceUnavailable"
                        | "Unavailable"
                )
            );
            throttled || status >= 500
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

/// Live instances (not terminated) tagged as this deployment's `id`.
async fn launched(ctx: &Ctx, id: &str) -> Result<Vec<String>> {
    let req = ctx
        .clients
        .ec2
        .describe_instances()
        .filters(filter(
            format!("tag:{TAG_DEPLOYMENT}"),
            vec![ctx.deployment.clone()],
        ))
        .filters(filter(format!("tag:{TAG_ID}"), vec![id.to_string()]))
        .filters(filter(
            "instance-state-name",
            LIVE_STATES.iter().map(|s| s.to_string()).collect(),
        ));
    let res = all_items!(req, "DescribeInstances", id)?;
    Ok(res
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect())
}

/// RunInstances, retrying while a new instance profile propagates. Returns the instance id.
///
/// The SDK does not retry this call: a retry after a lost response would launch a second
/// master wherever the ClientToken is not honoured (emulators). Instead, after a transient
/// failure, the instances tagged with the deployment and id (tags are applied atomically with
/// the launch) are looked up first, and only when there is none is the launch sent again.
async fn launch(ctx: &Ctx, r: &Resource, req: RunInstancesFluentBuilder) -> Result<String> {
    let no_sdk_retry = aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::disabled());
    let mut delay = std::time::Duration::from_millis(200);
    let mut attempt = 0;
    let out = loop {
        attempt += 1;
        let res = retry_while(
            ctx.waits.iam_propagation,
            || {
                req.clone()
                    .customize()
                    .config_override(no_sdk_retry.clone())
                    .send()
            },
            |e| is_profile_propagation(code_of(e), message_of(e)),
            say_waiting(
                ctx,
                &r.id,
                "instance profile not usable yet",
                "IAM propagation",
            ),
        )
        .await;
        match res {
            Ok(out) => break out,
            Err(e) if attempt < 6 && is_transient(&e) => {
                let found = launched(ctx, &r.id).await?;
                if let Some(iid) = found.into_iter().next() {
                    ctx.ui.resource(
                        &r.id,
                        "waiting",
                        None,
                        &format!(
                            "RunInstances failed ({}) but launched {iid}: using it",
                            first_line(&e)
                        ),
                    );
                    return Ok(iid);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(aws_err("RunInstances", &r.name, e)),
        }
    };
    let Some(iid) = out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
    else {
        bail!("RunInstances {}: no instance in the response", r.name);
    };
    Ok(iid)
}

fn first_line<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match (code_of(e), e) {
        (Some(c), _) => c.to_string(),
        (None, SdkError::TimeoutError(_)) => "timeout".into(),
        (None, SdkError::DispatchFailure(_)) => "connection failed".into(),
        (None, SdkError::ResponseError(_)) => "response lost".into(),
        (None, _) => "error".into(),
    }
}

async fn wait_running(ctx: &Ctx, iid: &str) -> Result<AttrMap> {
    let what = format!("EC2 instance {iid} to be running");
    wait_for(&what, ctx.waits.ec2, || async {
        let Some(i) = describe(ctx, iid).await? else {
            return Ok(None);
        };
        match state_of(&i).as_deref() {
            Some("running") => Ok(Some(instance_attrs(&i))),
            Some("pending") | None => Ok(None),
            Some(other) => bail!("instance {iid} is {other} instead of running"),
        }
    })
    .await
}

/// Terminates instances and waits until they are terminated.
pub async fn terminate(ctx: &Ctx, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    match ctx
        .clients
        .ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("InvalidInstanceID.NotFound") => return Ok(()),
        Err(e) => return Err(aws_err("TerminateInstances", &ids.join(","), e)),
    }
    let what = format!("EC2 instances {} to terminate", ids.join(", "));
    wait_ec2(ctx, &what, |ec2| async move {
        let out = ec2
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| aws_err("DescribeInstances", &ids.join(","), e))?;
        let done = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .all(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("terminated"));
        Ok(done.then_some(()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_profile_propagation_errors_are_retried() {
        let msg = "Value (det-demo-master) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name";
        assert!(is_profile_propagation(
            Some("InvalidParameterValue"),
            Some(msg)
        ));
        assert!(is_profile_propagation(
            Some("InvalidParameterValue"),
            Some("Instance profile arn:aws:iam::1:instance-profile/x has no associated IAM Roles")
        ));
        assert!(!is_profile_propagation(
            Some("InvalidParameterValue"),
            Some("Invalid AMI ID")
        ));
        assert!(!is_profile_propagation(Some("NoSuchEntity"), Some(msg)));
        assert!(!is_profile_propagation(None, None));
    }

    #[test]
    fn client_token_is_stable_short_and_changes_with_its_inputs() {
        let a = client_token("det", "ec2_instance.master", "abc", None);
        assert_eq!(a, client_token("det", "ec2_instance.master", "abc", None));
        assert!(a.len() <= 64 && a.is_ascii());
        assert_ne!(a, client_token("det", "ec2_instance.master", "abd", None));
        assert_ne!(
            a,
            client_token("det", "ec2_instance.master", "abc", Some("i-1"))
        );
        assert_ne!(a, client_token("det2", "ec2_instance.master", "abc", None));
    }
}
