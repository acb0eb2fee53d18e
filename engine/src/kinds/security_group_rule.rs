//! `security_group_rule`: one ingress or egress rule of a security group.

use serde::{Deserialize, Serialize};

use crate::value::{Ref, Tmpl};

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// `tcp`, `udp` or `all` (every protocol).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    All,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::All => "all",
        }
    }

    /// The EC2 API's `IpProtocol` (`-1` for all).
    pub fn ip_protocol(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::All => "-1",
        }
    }
}

/// The other side of a rule.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// Another security group (its id).
    #[serde(rename = "peer_group")]
    Group(Ref),
    #[serde(rename = "cidr_ipv4")]
    Ipv4(Tmpl),
    #[serde(rename = "cidr_ipv6")]
    Ipv6(Tmpl),
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRuleSpec {
    /// The group the rule belongs to (its id).
    pub group: Ref,
    pub direction: Direction,
    pub protocol: Protocol,
    pub from_port: i64,
    pub to_port: i64,
    #[serde(flatten)]
    pub peer: Peer,
    pub description: Option<Tmpl>,
}

impl SecurityGroupRuleSpec {
    /// The plan text: `security_group.master ingress tcp 22 from 0.0.0.0/0`.
    fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        let other = match &self.peer {
            Peer::Group(r) => r.resource.clone(),
            Peer::Ipv4(c) | Peer::Ipv6(c) => crate::render::peer(c),
        };
        let word = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        let _ = writeln!(
            out,
            "      {} {} {} {word} {other}",
            self.group.resource,
            self.direction.as_str(),
            self.ports_label()
        );
    }

    /// True when the rule opens `port` (or the whole range containing it).
    pub fn covers(&self, port: i64) -> bool {
        self.protocol != Protocol::Udp && self.from_port <= port && port <= self.to_port
    }

    /// `tcp 22`, `tcp 0-65535`, `all traffic`.
    pub fn ports_label(&self) -> String {
        match self.protocol {
            Protocol::All => "all traffic".into(),
            p if self.from_port == self.to_port => format!("{} {}", p.as_str(), self.from_port),
            p => format!("{} {}-{}", p.as_str(), self.from_port, self.to_port),
        }
    }

    /// The CIDR of the peer, if it is one and known.
    pub fn cidr(&self) -> Option<&Tmpl> {
        match &self.peer {
            Peer::Ipv4(c) | Peer::Ipv6(c) => Some(c),
            Peer::Group(_) => None,
        }
    }

    /// True when the peer is the whole internet (`0.0.0.0/0` or `::/0`).
    pub fn open_to_world(&self) -> bool {
        self.cidr()
            .and_then(Tmpl::as_text)
            .is_some_and(|c| c == "0.0.0.0/0" || c == "::/0")
    }
}

// CloudFormation ------------------------------------------------------------------------------

use super::KindSpec;
use crate::cfn::{Cx, Mapped, camel};
use crate::plan::Resource;

impl KindSpec for SecurityGroupRuleSpec {
    /// A rule is never referred to.
    const CFN_ATTRS: crate::cfn::CfnAttrs = &[];

    fn render_text(&self, out: &mut String) -> bool {
        self.write_text(out);
        true
    }

    /// `AWS::EC2::SecurityGroupIngress` or `AWS::EC2::SecurityGroupEgress`.
    fn cfn(&self, _r: &Resource, cx: &mut Cx) -> Result<Mapped, String> {
        let (ty, peer_key) = match self.direction {
            Direction::Ingress => ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"),
            Direction::Egress => (
                "AWS::EC2::SecurityGroupEgress",
                "DestinationSecurityGroupId",
            ),
        };
        let mut m = Mapped::new(ty);
        m.set("GroupId", cx.reference(&self.group)?);
        m.set("IpProtocol", self.protocol.ip_protocol().into());
        if self.protocol != Protocol::All {
            m.set("FromPort", self.from_port.into());
            m.set("ToPort", self.to_port.into());
        }
        match &self.peer {
            Peer::Group(g) => m.set(peer_key, cx.reference(g)?),
            Peer::Ipv4(c) => m.set("CidrIp", cx.tmpl(c)?),
            Peer::Ipv6(c) => m.set("CidrIpv6", cx.tmpl(c)?),
        };
        if let Some(d) = &self.description {
            m.set("Description", cx.tmpl(d)?);
        }
        Ok(m)
    }
}

impl SecurityGroupRuleSpec {
    /// The logical id before its hash: the group, the direction and the ports
    /// (`SecurityGroupMasterIngressTcp22`).
    pub(crate) fn cfn_id_base(&self) -> String {
        let group = if self.group.attr == "id" {
            camel(&self.group.resource)
        } else {
            "SecurityGroup".into()
        };
        let ports = match self.protocol {
            Protocol::All => "All".to_string(),
            p if self.from_port == self.to_port => {
                format!("{}{}", camel(p.as_str()), self.from_port)
            }
            p => format!("{}{}To{}", camel(p.as_str()), self.from_port, self.to_port),
        };
        format!("{group}{}{ports}", camel(self.direction.as_str()))
    }
}
