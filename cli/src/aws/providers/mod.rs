//! One AWS provider per resource kind, behind one trait: discovery of live state, the
//! comparison with the plan's typed spec, and create/update/delete. Every dispatch below is an
//! exhaustive `match` on [`Spec`], [`Kind`] or [`Detail`], so a new kind (or an operation a
//! kind lacks) is a compile error, not a silent replace or a failure at run time.

pub mod agents;
pub mod ec2;
pub mod iam;
pub mod log_group;
pub mod network;
pub mod network_endpoint;
pub mod network_routes;
pub mod rds;
pub mod s3;
pub mod secret;
pub mod sg;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use anyhow::{Result, anyhow};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use detscript_engine::kinds::{self, TAG_DEPLOYMENT, TAG_ID};
use detscript_engine::value::Style;
use detscript_engine::{Doc, Kind, Plan, Resource, Spec, Tmpl};

use super::diff::Action;
use super::discover::{Live, State};
use super::exec::DeleteOpts;
use super::{Attrs, Clients, Ctx, aws_err, code_of};

pub use ec2::Ec2Instance;
pub use iam::{IamRole, InstanceProfile};
pub use log_group::CloudwatchLogGroup;
pub use network::{InternetGateway, Subnet, Vpc};
pub use network_endpoint::VpcEndpoint;
pub use network_routes::{DbSubnetGroup, ElasticIp, NatGateway, RouteTable};
pub use rds::{RdsCluster, RdsInstance};
pub use s3::S3Bucket;
pub use secret::SecretsmanagerSecret;
pub use sg::{SecurityGroup, SecurityGroupRule};

/// Attributes of one resource other resources may reference (`id`, `arn`, `endpoint`, ...).
pub type AttrMap = BTreeMap<String, String>;

/// The one list of kinds the executor knows: each kind's provider (a type named as the
/// [`Kind`] variant), the engine's spec of it and its live detail. It makes [`Detail`], each
/// provider's [`KindTypes`] and every dispatch from a plan resource or a live one to its
/// provider; a kind missing here does not compile (the matches on [`Spec`] are exhaustive).
macro_rules! providers {
    ($($kind:ident($spec:ty, $ty:ty)),* $(,)?) => {
        /// The live state of an owned resource, by kind.
        #[derive(Debug, Clone)]
        pub enum Detail {
            $($kind($ty)),*
        }

        /// Every kind, in the order of [`Detail`]'s variants.
        pub const KINDS: &[Kind] = &[$(Kind::$kind),*];

        impl Detail {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Detail::$kind(_) => Kind::$kind),*
                }
            }
        }

        $(
            impl KindTypes for $kind {
                type Spec = $spec;
                type Live = $ty;
            }

            impl LiveDetail for $ty {
                fn of(d: &Detail) -> Option<&Self> {
                    if let Detail::$kind(x) = d { Some(x) } else { None }
                }
            }

            impl From<$ty> for Detail {
                fn from(d: $ty) -> Detail {
                    Detail::$kind(d)
                }
            }
        )*

        async fn discover_kind(k: Kind, c: &Clients, plan: &Plan) -> Result<State> {
            match k {
                $(Kind::$kind => $kind::discover(c, plan).await,)*
            }
        }

        /// Compares a planned resource with its live counterpart.
        pub fn compare<'s>(r: &Resource, state: &'s State, cx: &mut Cmp) -> Compared<'s> {
            match &r.spec {
                $(Spec::$kind(s) => compare_as::<$kind>(r, s, state, cx),)*
            }
        }

        /// Applies one change; returns the resource's attributes.
        pub async fn apply(
            ctx: &Ctx,
            r: &Resource,
            action: &Action,
            live: Option<&Live>,
            v: Vals<'_>,
        ) -> Result<AttrMap> {
            match &r.spec {
                $(Spec::$kind(s) => apply_as::<$kind>(ctx, r, s, action, live, v).await,)*
            }
        }

        /// Deletes an owned resource (or revokes a rule). Returns a note for the report.
        pub async fn delete(ctx: &Ctx, live: &Live, opts: DeleteOpts) -> Result<String> {
            match &live.detail {
                $(Detail::$kind(d) => $kind::delete(ctx, Del { live, d, opts }).await,)*
            }
        }

        /// The AWS ids, names and ARNs of other resources a live resource uses.
        pub fn uses(live: &Live) -> Vec<String> {
            match &live.detail {
                $(Detail::$kind(d) => $kind::uses(d),)*
            }
        }
    };
}

providers! {
    Vpc(kinds::VpcSpec, network::VpcLive),
    InternetGateway(kinds::InternetGatewaySpec, network::GatewayLive),
    Subnet(kinds::SubnetSpec, network::SubnetLive),
    RouteTable(kinds::RouteTableSpec, network_routes::RouteTableLive),
    NatGateway(kinds::NatGatewaySpec, network_routes::NatLive),
    ElasticIp(kinds::ElasticIpSpec, network_routes::EipLive),
    VpcEndpoint(kinds::VpcEndpointSpec, network_endpoint::EndpointLive),
    DbSubnetGroup(kinds::DbSubnetGroupSpec, network_routes::DbSubnetGroupLive),
    S3Bucket(kinds::S3BucketSpec, s3::BucketLive),
    SecurityGroup(kinds::SecurityGroupSpec, sg::GroupLive),
    SecurityGroupRule(kinds::SecurityGroupRuleSpec, sg::LiveRule),
    IamRole(kinds::IamRoleSpec, iam::RoleLive),
    InstanceProfile(kinds::InstanceProfileSpec, iam::ProfileLive),
    RdsCluster(kinds::RdsClusterSpec, rds::ClusterLive),
    RdsInstance(kinds::RdsInstanceSpec, rds::DbInstanceLive),
    Ec2Instance(kinds::Ec2InstanceSpec, ec2::InstanceLive),
    SecretsmanagerSecret(kinds::SecretSpec, secret::SecretLive),
    CloudwatchLogGroup(kinds::LogGroupSpec, log_group::LogGroupLive),
}

/// A kind's live detail, taken out of a [`Detail`] when it is of that kind.
pub trait LiveDetail: Sized {
    fn of(d: &Detail) -> Option<&Self>;
}

/// A planned resource of provider `P`'s kind being applied: the run's context (clients, UI,
/// waits), its plan entry, its typed spec, the values known now.
pub struct Want<'a, P: KindTypes> {
    pub ctx: &'a Ctx,
    pub r: &'a Resource,
    pub spec: &'a P::Spec,
    pub v: Vals<'a>,
}

/// A live resource of provider `P`'s kind: what every kind has ([`Live`]) and its kind's
/// detail.
pub struct Have<'a, P: KindTypes> {
    pub live: &'a Live,
    pub d: &'a P::Live,
}

/// A live resource of provider `P`'s kind to delete, and how (the flags of `destroy`).
pub struct Del<'a, P: KindTypes> {
    pub live: &'a Live,
    pub d: &'a P::Live,
    pub opts: DeleteOpts,
}

impl<P: KindTypes> Clone for Have<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: KindTypes> Copy for Have<'_, P> {}

/// Values of the plan resolved against the attributes known so far; secrets are revealed
/// (for AWS only, never for a screen).
#[derive(Clone, Copy)]
pub struct Vals<'a> {
    pub plan: &'a Plan,
    pub attrs: &'a Attrs,
}

impl Vals<'_> {
    /// The text, if every reference in it is known.
    pub fn known(&self, t: &Tmpl) -> Option<String> {
        t.resolve(&|r| self.attrs.get(&r.path()), Some(self.plan.secrets()))
            .ok()
    }

    /// The text, or the error naming what is still unknown.
    pub fn text(&self, t: &Tmpl) -> Result<String> {
        t.resolve(&|r| self.attrs.get(&r.path()), Some(self.plan.secrets()))
            .map_err(|e| anyhow!("{e}"))
    }

    pub fn opt(&self, t: Option<&Tmpl>) -> Result<Option<String>> {
        t.map(|t| self.text(t)).transpose()
    }

    pub fn list(&self, ts: &[Tmpl]) -> Result<Vec<String>> {
        ts.iter().map(|t| self.text(t)).collect()
    }

    /// The known texts of a list, or None when some item is known only after apply.
    pub fn known_list(&self, ts: &[Tmpl]) -> Option<Vec<String>> {
        ts.iter().map(|t| self.known(t)).collect()
    }

    /// A policy document as JSON, if every reference in it is known.
    pub fn doc(&self, d: &Doc) -> Option<serde_json::Value> {
        d.try_to_json(&|t| self.known(t).ok_or(())).ok()
    }

    /// A policy document as JSON, or the error naming what is still unknown.
    pub fn doc_json(&self, d: &Doc) -> Result<serde_json::Value> {
        d.try_to_json(&|t| self.text(t))
    }

    /// The known text, or the template as shown to people (`(known after apply: ...)`).
    pub fn shown(&self, t: &Tmpl) -> String {
        self.known(t).unwrap_or_else(|| t.to_string())
    }
}

/// What a comparison may look at besides the spec and live state.
pub struct Cmp<'a> {
    pub vals: Vals<'a>,
    /// Something this resource depends on is created or replaced in this run.
    pub after_apply: bool,
    /// Live rules already matched by a planned rule.
    pub used_rules: BTreeSet<String>,
}

/// A kind's types, from the [`providers!`] list.
pub trait KindTypes: Sized {
    /// The engine's typed spec of the kind.
    type Spec: Sync;
    /// What discovery reads back about one live resource of this kind.
    type Live: LiveDetail + Clone + std::fmt::Debug + Send + Sync + 'static;
}

/// One provider per kind.
pub trait Provider: KindTypes {
    /// Whether `run` may delete and create it again by itself (else the change is blocked).
    const REPLACEABLE: bool = false;

    /// What the deployment owns of this kind (by its tags), and same-named resources it does
    /// not own (conflicts).
    fn discover(c: &Clients, plan: &Plan) -> impl Future<Output = Result<State>> + Send;

    /// The live counterpart of a planned resource: by default the owned one with its id.
    fn find<'s>(
        state: &'s State,
        r: &Resource,
        _spec: &Self::Spec,
        _cx: &mut Cmp,
    ) -> Option<Have<'s, Self>> {
        let live = state.owned.get(&r.id)?;
        let d = Self::Live::of(&live.detail)?;
        Some(Have { live, d })
    }

    /// Lines shown under a create.
    fn create_notes(_spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// What it takes to make the live resource what `spec` says.
    fn compare(spec: &Self::Spec, have: Have<'_, Self>, cx: &Cmp) -> Action;

    /// The AWS ids, names and ARNs of other resources `d` uses (delete it before them).
    fn uses(d: &Self::Live) -> Vec<String>;

    fn create(want: Want<'_, Self>) -> impl Future<Output = Result<AttrMap>> + Send;

    /// Changes it in place; by default a kind has nothing to change in place (its `compare`
    /// never says `Update`).
    fn update(
        want: Want<'_, Self>,
        _have: Have<'_, Self>,
    ) -> impl Future<Output = Result<AttrMap>> + Send {
        let msg = format!(
            "{}: a {} has nothing to update in place",
            want.r.id,
            want.r.kind.as_str()
        );
        async move { Err(anyhow!(msg)) }
    }

    /// Deletes and creates it again (only kinds with [`Provider::REPLACEABLE`]).
    fn replace(
        want: Want<'_, Self>,
        _have: Have<'_, Self>,
    ) -> impl Future<Output = Result<AttrMap>> + Send {
        let msg = format!("{}: cannot replace a {}", want.r.id, want.r.kind.as_str());
        async move { Err(anyhow!(msg)) }
    }

    /// Deletes it; returns a note for the report.
    fn delete(ctx: &Ctx, del: Del<'_, Self>) -> impl Future<Output = Result<String>> + Send;
}

/// Reads everything the deployment owns, plus same-named foreign resources (conflicts),
/// concurrently: the kinds the plan uses and those no census covers at once; the others only
/// when the census ([`crate::aws::census`]) says the deployment owns one of them.
pub async fn discover(c: &Clients, plan: &Plan) -> Result<State> {
    use crate::aws::census;
    let (now, later): (Vec<Kind>, Vec<Kind>) =
        KINDS.iter().partition(|&&k| census::always_read(k, plan));
    let read =
        |ks: Vec<Kind>| join_all(ks.into_iter().map(|k| Box::pin(discover_kind(k, c, plan))));
    let censused = async {
        if later.is_empty() {
            return Ok(Vec::new());
        }
        let owned = census::ec2(c, plan).await?;
        let kinds = later
            .into_iter()
            .filter(|&k| census::owns(k, owned.as_ref()));
        Ok::<_, anyhow::Error>(read(kinds.collect()).await)
    };
    let (parts, more) = tokio::join!(read(now), censused);
    let mut state = State::default();
    for part in parts.into_iter().chain(more?) {
        state.merge(part?);
    }
    state.settle(|id| plan.get(id).map(|r| r.name.clone()));
    Ok(state)
}

/// Polls the futures concurrently; their outputs in order.
async fn join_all<F: Future + Unpin>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut slots: Vec<(F, Option<F::Output>)> = futures.map(|f| (f, None)).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in slots.iter_mut().filter(|(_, out)| out.is_none()) {
            match std::pin::Pin::new(f).poll(cx) {
                std::task::Poll::Ready(v) => *out = Some(v),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots
        .into_iter()
        .map(|(_, out)| out.expect("every future finished"))
        .collect()
}

/// The result of comparing one planned resource with live state.
pub struct Compared<'s> {
    pub action: Action,
    pub notes: Vec<String>,
    pub live: Option<&'s Live>,
    pub replaceable: bool,
}

fn compare_as<'s, P: Provider>(
    r: &Resource,
    spec: &P::Spec,
    state: &'s State,
    cx: &mut Cmp,
) -> Compared<'s> {
    let (action, notes, live) = match P::find(state, r, spec, cx) {
        None => (Action::Create, P::create_notes(spec), None),
        Some(have) => (P::compare(spec, have, cx), Vec::new(), Some(have.live)),
    };
    Compared {
        action,
        notes,
        live,
        replaceable: P::REPLACEABLE,
    }
}

async fn apply_as<P: Provider>(
    ctx: &Ctx,
    r: &Resource,
    spec: &P::Spec,
    action: &Action,
    live: Option<&Live>,
    v: Vals<'_>,
) -> Result<AttrMap> {
    let want = Want { ctx, r, spec, v };
    let have = live.and_then(|live| {
        Some(Have {
            live,
            d: P::Live::of(&live.detail)?,
        })
    });
    let need_live = || have.ok_or_else(|| anyhow!("{}: no live resource to update", r.id));
    match action {
        Action::NoOp => Ok(need_live()?.live.attrs.clone()),
        Action::Create => P::create(want).await,
        Action::Update(_) => P::update(want, need_live()?).await,
        Action::Replace(_) => P::replace(want, need_live()?).await,
    }
}

// ---- helpers shared by the providers ----

/// A resource's tags (from the plan: ownership, `Name`, the deployment's tags) in the SDK's
/// tag type of a service.
pub fn sdk_tags<T>(r: &Resource, make: impl Fn(&str, &str) -> Option<T>) -> Vec<T> {
    r.tags
        .iter()
        .filter_map(|(k, v)| make(k, &v.display(Style::Text)))
        .collect()
}

/// Tags as a map, from an SDK's (key, value) pairs.
pub fn tag_map<'a>(
    tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

/// True when `tags` say the deployment `dep` owns the resource.
pub fn owned_by(tags: &BTreeMap<String, String>, dep: &str) -> bool {
    tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(dep)
}

/// The logical id a resource's tags name.
pub fn tagged_id(tags: &BTreeMap<String, String>) -> Option<&String> {
    tags.get(TAG_ID)
}

/// `Ok(Some(v))`, `Ok(None)` when AWS answered with one of the "not found" `codes`, else the
/// error as one line naming the operation.
pub fn found<T, E, R>(
    res: std::result::Result<T, SdkError<E, R>>,
    codes: &[&str],
    op: &str,
    target: &str,
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) if code_of(&e).is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(aws_err(op, target, e)),
    }
}

/// A live resource with its tags, or None when it is gone.
pub type Read = Option<(BTreeMap<String, String>, Live)>;

/// Reads, concurrently, the resources among `names` that the plan wants or that carry the
/// deployment's name prefix, and records them as owned or as conflicts.
pub async fn read_candidates<F, Fut>(
    c: &Clients,
    plan: &Plan,
    kind: Kind,
    names: Vec<String>,
    read: F,
) -> Result<State>
where
    F: Fn(Clients, String) -> Fut,
    Fut: Future<Output = Result<Read>> + Send + 'static,
{
    let dep = plan.deployment.name.as_str();
    let prefix = format!("{dep}-");
    let wanted = planned(plan, kind);
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        if wanted.contains_key(&name) || name.starts_with(&prefix) {
            tasks.spawn(read(c.clone(), name));
        }
    }
    let mut st = State::default();
    let who = crate::aws::discover::Owner::of(plan, &c.region);
    while let Some(r) = tasks.join_next().await {
        if let Some((tags, live)) = r?? {
            let planned_id = wanted.get(&live.name).cloned();
            st.add_global(&who, &tags, live, planned_id.as_deref());
        }
    }
    Ok(st)
}

/// Planned physical names of one kind, mapped to their logical ids.
pub fn planned(plan: &Plan, kind: Kind) -> BTreeMap<String, String> {
    plan.resources
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| (r.name.clone(), r.id.clone()))
        .collect()
}

/// An attribute map from pairs (absent values left out).
pub fn attr_map<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> AttrMap {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
        .collect()
}

/// Collects every item of a paginated call, or the error naming the operation.
macro_rules! all_items {
    ($req:expr, $op:expr, $target:expr) => {
        $req.into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| $crate::aws::aws_err($op, $target, e))
    };
}
pub(crate) use all_items;

/// The sorted, deduplicated texts, for comparing security group lists.
pub fn set_of(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// Adds the "security groups" line of an update when the wanted list differs from `live`.
pub fn diff_groups(want: &[Tmpl], live: &[String], cx: &Cmp, upd: &mut Vec<String>) {
    if want.is_empty() {
        return;
    }
    match cx.vals.known_list(want) {
        Some(w) if !cx.after_apply => {
            let (want, have) = (set_of(&w), set_of(live));
            if want != have {
                upd.push(format!(
                    "~ security groups [{}] -> [{}]",
                    have.into_iter().collect::<Vec<_>>().join(", "),
                    want.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        _ => upd.push("~ security groups (known after apply)".into()),
    }
}

/// `~ {what} {have} -> {want}` when the live value differs from the wanted one (`none` for
/// an absent value).
pub fn changed(what: &str, have: Option<&str>, want: Option<&str>) -> Option<String> {
    (have != want).then(|| {
        format!(
            "~ {what} {} -> {}",
            have.unwrap_or("none"),
            want.unwrap_or("none")
        )
    })
}

/// `Update` with the lines, or `NoOp` when there are none.
pub fn update_or_noop(upd: Vec<String>) -> Action {
    if upd.is_empty() {
        Action::NoOp
    } else {
        Action::Update(upd)
    }
}
