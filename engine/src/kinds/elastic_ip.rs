//! `elastic_ip`: a stable public IPv4 address, for a NAT gateway or associated with the master
//! (its address survives stopping and replacing the instance).

use super::KindSpec;
use crate::cfn::{CfnAttrs, Cx, Mapped};
use crate::plan::Resource;
use crate::value::Tmpl;

closed_struct! {
    pub struct ElasticIpSpec {
        /// The instance the address is associated with (None: allocated only, e.g. for a NAT).
        pub instance_id: Option<Tmpl>,
    }
}

impl KindSpec for ElasticIpSpec {
    const NAME_TAG: bool = true;
    /// An EIP's `Ref` is its address.
    const CFN_ATTRS: CfnAttrs = &[
        ("public_ip", None),
        ("allocation_id", Some("AllocationId")),
        ("id", Some("AllocationId")),
    ];

    /// `AWS::EC2::EIP` in the VPC domain, associated with its instance.
    fn cfn(&self, r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let mut m = Mapped::new("AWS::EC2::EIP");
        m.set("Domain", "vpc".into());
        if let Some(i) = &self.instance_id {
            m.set("InstanceId", cx.tmpl(i)?);
        }
        m.set("Tags", cx.tags(r)?);
        Ok(m)
    }
}
