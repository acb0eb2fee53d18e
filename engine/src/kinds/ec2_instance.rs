//! `ec2_instance`: the Determined master.

use crate::value::Tmpl;

closed_struct! {
    pub struct RootVolume {
        pub device_name: String,
        pub size_gb: i64,
        pub volume_type: String,
        pub encrypted: bool,
    }
}

closed_struct! {
    pub struct MetadataOptions {
        /// `required` (IMDSv2) or `optional`.
        pub http_tokens: String,
        pub http_put_response_hop_limit: i64,
    }
}

/// The master's root volume as the guide sets it up: 200 GB of encrypted gp3.
impl Default for RootVolume {
    fn default() -> Self {
        RootVolume {
            device_name: "/dev/sda1".into(),
            size_gb: 200,
            volume_type: "gp3".into(),
            encrypted: true,
        }
    }
}

/// IMDSv2 required, and two hops: the master's container reaches instance metadata through
/// Docker's extra hop.
impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_tokens: "required".into(),
            http_put_response_hop_limit: 2,
        }
    }
}

closed_struct! {
    #[derive(Default)]
    pub struct Ec2InstanceSpec {
        pub instance_type: Tmpl,
        pub image_id: Tmpl,
        pub key_name: Option<Tmpl>,
        pub subnet_id: Option<Tmpl>,
        pub security_group_ids: Vec<Tmpl>,
        pub iam_instance_profile: Option<Tmpl>,
        pub associate_public_ip_address: bool,
        pub root_volume: RootVolume,
        pub metadata_options: MetadataOptions,
        /// The Determined master image the user-data runs.
        pub master_image: Tmpl,
        pub master_port: i64,
        /// The boot script (holds master.yaml, so references and secrets).
        pub user_data: Tmpl,
    }
}

/// The master's outputs: its id, addresses, URL, and each pool's agent tag.
pub(crate) fn master_outputs(mf: &crate::plan::MasterFiles, out: &mut super::Outputs) {
    use crate::value::Ref;
    let id = format!("ec2_instance.{}", mf.instance_name);
    let attr = |a: &str| Tmpl::reference(Ref::new(&id, a));
    // An Elastic IP is the master's stable public address; else its own public IP, if any.
    let public = match &mf.elastic_ip {
        Some(eip) => Some(Tmpl::reference(Ref::new(eip, "public_ip"))),
        None if mf.public_ip => Some(attr("public_ip")),
        None => None,
    };
    let scheme = if mf.tls { "https" } else { "http" };
    out.insert("master_instance_id".into(), attr("id"));
    out.insert("master_private_ip".into(), attr("private_ip"));
    if let Some(p) = &public {
        out.insert("master_public_ip".into(), p.clone());
    }
    let url = Tmpl::text(format!("{scheme}://"))
        .concat(&public.unwrap_or_else(|| attr("private_ip")))
        .concat(&Tmpl::text(format!(":{}", mf.port)));
    out.insert("master_url".into(), url);
    for pool in &mf.config.resource_pools {
        if let Some(p) = &pool.provider {
            if let (Some(k), Some(v)) = (&p.tag_key, &p.tag_value) {
                let tag = Tmpl::from_marked(&format!("{k}={v}"));
                out.insert(format!("agent_tag_{}", pool.pool_name), tag);
            }
        }
    }
}

// CloudFormation ------------------------------------------------------------------------------

use serde_json::json;

use super::KindSpec;
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::{Kind, Resource};

impl KindSpec for Ec2InstanceSpec {
    const NAME_TAG: bool = true;
    const CFN_ATTRS: CfnAttrs = &[
        ("id", None),
        ("public_ip", Some("PublicIp")),
        ("private_ip", Some("PrivateIp")),
        ("public_dns", Some("PublicDnsName")),
        ("private_dns", Some("PrivateDnsName")),
    ];

    /// `AWS::EC2::Instance` with the master's user-data.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::Instance");
        m.set("InstanceType", cx.tmpl(&self.instance_type)?);
        m.set("ImageId", cx.tmpl(&self.image_id)?);
        if let Some(k) = &self.key_name {
            m.set("KeyName", cx.key_name(k)?);
        }
        let sgs = cx.tmpls(&self.security_group_ids)?;
        let public = self.associate_public_ip_address;
        if self.subnet_id.is_some() || !public {
            // Only a network interface can say whether the instance gets a public IP.
            let mut ni = json!({
                "DeviceIndex": "0",
                "AssociatePublicIpAddress": public,
                "DeleteOnTermination": true,
                "GroupSet": sgs,
            });
            if let Some(s) = &self.subnet_id {
                ni["SubnetId"] = cx.tmpl(s)?;
            }
            m.set("NetworkInterfaces", json!([ni]));
        } else {
            m.set("SecurityGroupIds", sgs);
        }
        if let Some(p) = &self.iam_instance_profile {
            m.set("IamInstanceProfile", cfn_instance_profile(cx, p)?);
        }
        let rv = &self.root_volume;
        m.set(
            "BlockDeviceMappings",
            json!([{ "DeviceName": rv.device_name, "Ebs": {
                "VolumeSize": rv.size_gb,
                "VolumeType": rv.volume_type,
                "Encrypted": rv.encrypted,
                "DeleteOnTermination": true,
            }}]),
        );
        let mo = &self.metadata_options;
        m.set(
            "MetadataOptions",
            json!({
                "HttpEndpoint": "enabled",
                "HttpTokens": mo.http_tokens,
                "HttpPutResponseHopLimit": mo.http_put_response_hop_limit,
            }),
        );
        // master_image and master_port are inputs of the user-data, which holds them.
        m.set("UserData", cx.user_data(r, &self.user_data)?);
        m.set("PropagateTagsToVolumeOnCreation", true.into());
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}

/// `AWS::EC2::Instance.IamInstanceProfile` takes the profile's name: `Ref` of the profile
/// for the plan's `instance_profile.X.arn`, or the name at the end of a literal ARN.
fn cfn_instance_profile(cx: &mut Cx, t: &Tmpl) -> Result<serde_json::Value, String> {
    if let Some(r) = t.as_ref() {
        let is_profile = cx
            .plan()
            .get(&r.resource)
            .is_some_and(|x| x.kind == Kind::InstanceProfile);
        if is_profile && matches!(r.attr.as_str(), "arn" | "name") {
            return Ok(cx.ref_to(&r.resource));
        }
        return Err(format!(
            "iam_instance_profile refers to {r}, which is not an instance profile's arn"
        ));
    }
    let Some(s) = t.as_text() else {
        return Err(
            "iam_instance_profile mixes text and references; CloudFormation needs the profile name"
                .into(),
        );
    };
    match s.strip_prefix("arn:") {
        Some(_) => Ok(json!(s.rsplit('/').next().unwrap_or(s))),
        None => Ok(json!(s)),
    }
}
