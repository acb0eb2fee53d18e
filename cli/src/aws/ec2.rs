//! The master instance, and the agent instances / spot requests the master launched.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, VolumeType,
};
use detscript_engine::Resource;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::sg::tag_spec;
use super::{
    Clients, Ctx, aws_err, bool_prop, code_of, int_prop, message_of, retry_while, str_list,
    str_prop, wait_for,
};

pub async fn read_user_data(c: &Clients, iid: &str) -> Result<Option<String>> {
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
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
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

pub async fn create_instance(
    ctx: &Ctx,
    r: &Resource,
    props: &Value,
    user_data: &str,
    replacing: Option<&str>,
) -> Result<BTreeMap<String, String>> {
    let c = &ctx.clients;
    let token = client_token(&ctx.deployment, &r.id, &ctx.plan.sha256(), replacing);
    let sgs = str_list(props, "security_group_ids");
    let mut req = c
        .ec2
        .run_instances()
        .image_id(str_prop(props, "image_id").unwrap_or_default())
        .instance_type(InstanceType::from(
            str_prop(props, "instance_type").unwrap_or("t3.large"),
        ))
        .min_count(1)
        .max_count(1)
        .client_token(&token)
        .set_key_name(str_prop(props, "key_name").map(str::to_string))
        .user_data(aws_smithy_types::base64::encode(user_data.as_bytes()))
        .tag_specifications(tag_spec(ResourceType::Instance, &ctx.owner_tags(&r.id)))
        .tag_specifications(tag_spec(ResourceType::Volume, &ctx.owner_tags(&r.id)));
    let public_ip = props
        .get("associate_public_ip_address")
        .and_then(Value::as_bool);
    // Without a subnet, EC2 picks the default VPC's default subnet, whose setting decides the
    // public IP: a master that must not have one needs an explicit interface, and so a subnet.
    let subnet = match str_prop(props, "subnet_id") {
        Some(s) => Some(s.to_string()),
        None if public_ip == Some(false) => Some(default_subnet(ctx).await?),
        None => None,
    };
    if let Some(subnet) = subnet {
        req = req.network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(subnet)
                .set_associate_public_ip_address(public_ip)
                .set_groups(Some(sgs.clone()))
                .build(),
        );
    } else {
        req = req.set_security_group_ids(Some(sgs.clone()));
    }
    if let Some(p) = str_prop(props, "iam_instance_profile") {
        req = req.iam_instance_profile(IamInstanceProfileSpecification::builder().arn(p).build());
    }
    if let Some(rv) = props.get("root_volume") {
        req = req.block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(str_prop(rv, "device_name").unwrap_or("/dev/sda1"))
                .ebs(
                    EbsBlockDevice::builder()
                        .set_volume_size(int_prop(rv, "size_gb").map(|s| s as i32))
                        .volume_type(VolumeType::from(
                            str_prop(rv, "volume_type").unwrap_or("gp3"),
                        ))
                        .encrypted(bool_prop(rv, "encrypted"))
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        );
    }
    if let Some(m) = props.get("metadata_options") {
        req = req.metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_tokens(HttpTokensState::from(
                    str_prop(m, "http_tokens").unwrap_or("required"),
                ))
                .set_http_put_response_hop_limit(
                    int_prop(m, "http_put_response_hop_limit").map(|h| h as i32),
                )
                .build(),
        );
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

async fn instance_state(ctx: &Ctx, iid: &str) -> Result<Option<String>> {
    match ctx
        .clients
        .ec2
        .describe_instances()
        .instance_ids(iid)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())),
        Err(e) if code_of(&e) == Some("InvalidInstanceID.NotFound") => Ok(None),
        Err(e) => Err(aws_err("DescribeInstances", iid, e)),
    }
}

/// RunInstances, retrying while a new instance profile propagates. Returns the instance id.
async fn launch(
    ctx: &Ctx,
    r: &Resource,
    req: aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder,
) -> Result<String> {
    let out = retry_while(
        ctx.waits.iam_propagation,
        || req.clone().send(),
        |e| is_profile_propagation(code_of(e), message_of(e)),
        |e, d| {
            ctx.ui.resource(
                &r.id,
                "waiting",
                None,
                &format!(
                    "instance profile not usable yet ({}); retrying in {}s",
                    message_of(e).unwrap_or("IAM propagation"),
                    d.as_secs()
                ),
            )
        },
    )
    .await
    .map_err(|e| aws_err("RunInstances", &r.name, e))?;
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

async fn wait_running(ctx: &Ctx, iid: &str) -> Result<BTreeMap<String, String>> {
    let ec2 = ctx.clients.ec2.clone();
    wait_for(
        &format!("EC2 instance {iid} to be running"),
        ctx.waits.ec2,
        || {
            let ec2 = ec2.clone();
            let iid = iid.to_string();
            async move {
                let out = match ec2.describe_instances().instance_ids(&iid).send().await {
                    Ok(o) => o,
                    // Eventual consistency right after launch.
                    Err(e) if code_of(&e) == Some("InvalidInstanceID.NotFound") => return Ok(None),
                    Err(e) => return Err(aws_err("DescribeInstances", &iid, e)),
                };
                let Some(i) = out.reservations().iter().flat_map(|r| r.instances()).next() else {
                    return Ok(None);
                };
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string());
                match state.as_deref() {
                    Some("running") => {}
                    Some("pending") | None => return Ok(None),
                    Some(other) => bail!("instance {iid} is {other} instead of running"),
                }
                let mut a = BTreeMap::new();
                a.insert("id".to_string(), iid.clone());
                if let Some(ip) = i.private_ip_address() {
                    a.insert("private_ip".to_string(), ip.to_string());
                }
                if let Some(ip) = i.public_ip_address() {
                    a.insert("public_ip".to_string(), ip.to_string());
                }
                Ok(Some(a))
            }
        },
    )
    .await
}

pub async fn update_groups(
    ctx: &Ctx,
    props: &Value,
    iid: &str,
) -> Result<BTreeMap<String, String>> {
    ctx.clients
        .ec2
        .modify_instance_attribute()
        .instance_id(iid)
        .set_groups(Some(str_list(props, "security_group_ids")))
        .send()
        .await
        .map_err(|e| aws_err("ModifyInstanceAttribute", iid, e))?;
    wait_running(ctx, iid).await
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
    let ec2 = ctx.clients.ec2.clone();
    wait_for(
        &format!("EC2 instances {} to terminate", ids.join(", ")),
        ctx.waits.ec2,
        || {
            let ec2 = ec2.clone();
            let ids = ids.to_vec();
            async move {
                let out = ec2
                    .describe_instances()
                    .set_instance_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_err("DescribeInstances", &ids.join(","), e))?;
                let done = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .all(|i| {
                        i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("terminated")
                    });
                Ok(done.then_some(()))
            }
        },
    )
    .await
}

/// Agent instances (not terminated) and open spot requests carrying `key=value`.
pub async fn find_agents(
    c: &Clients,
    key: &str,
    value: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let inst = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped", "shutting-down"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_err("DescribeInstances", &format!("tag {key}={value}"), e))?;
    let ids = inst
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    let spot = c
        .ec2
        .describe_spot_instance_requests()
        .filters(
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws_err(
                "DescribeSpotInstanceRequests",
                &format!("tag {key}={value}"),
                e,
            )
        })?;
    let reqs = spot
        .spot_instance_requests()
        .iter()
        .filter(|s| {
            matches!(
                s.state().map(|s| s.as_str()),
                Some("open") | Some("active") | None
            )
        })
        .filter_map(|s| s.spot_instance_request_id().map(str::to_string))
        .collect();
    Ok((ids, reqs))
}

pub async fn cancel_spot(ctx: &Ctx, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    ctx.clients
        .ec2
        .cancel_spot_instance_requests()
        .set_spot_instance_request_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| aws_err("CancelSpotInstanceRequests", &ids.join(","), e))?;
    Ok(())
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
