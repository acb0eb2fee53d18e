//! The agent side of an `aws_pool`: `.agent_config_file_contents(map)` (Determined's
//! agent.yaml for the pool's agents) and `.shutdown_on_connection_lost(bool)`. A pool that sets
//! neither gets what `det deploy aws` gives every pool: `hooks.on_connection_lost:
//! [shutdown, now]`, so an agent that loses its master stops its instance instead of billing.

use rhai::{Dynamic, Engine, NativeCallContext};
use serde_json::{Map, Value};

use super::handles::IamRole;
use super::master::{Pool, PoolDecl};
use super::{RhaiResult, Shared, State, fail, method, pos_of, values};
use crate::config::{AgentConfig, PoolTag, agent_statements};
use crate::kinds::IamRoleSpec;
use crate::refs;
use crate::value::Doc;

/// The provider key, as in master.yaml.
pub(crate) const AGENT_CONFIG: &str = "agent_config_file_contents";

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    let s = state.clone();
    engine.register_fn(
        "allow_agents",
        move |ctx: NativeCallContext,
              role: &mut IamRole,
              policy: &str,
              pools: Dynamic|
              -> RhaiResult<IamRole> {
            allow_agents(&ctx, &mut s.borrow_mut(), role, policy, &pools)?;
            Ok(role.clone())
        },
    );
    method(engine, state, AGENT_CONFIG, |ctx, st, p: &Pool, v| {
        if !v.is_map() {
            return fail(
                ctx,
                format!(
                    "aws_pool '{}': .{AGENT_CONFIG}() expects a map such as #{{ hooks: #{{ on_connection_lost: [\"shutdown\", \"now\"] }} }}, got {}",
                    p.name,
                    values::describe(v)
                ),
            );
        }
        let json =
            values::to_json(v).or_else(|m| fail(ctx, format!("aws_pool '{}': {m}", p.name)))?;
        let pos = pos_of(ctx, st);
        let pool = &mut st.pools[p.idx];
        pool.provider.insert(AGENT_CONFIG.into(), json);
        pool.field_pos.insert(AGENT_CONFIG.into(), pos);
        Ok(())
    });
    method(
        engine,
        state,
        "shutdown_on_connection_lost",
        |ctx, st, p: &Pool, v| {
            let on = values::bool_arg(v).or_else(|m| {
                fail(
                    ctx,
                    format!("aws_pool '{}': .shutdown_on_connection_lost() {m}", p.name),
                )
            })?;
            let pos = pos_of(ctx, st);
            let pool = &mut st.pools[p.idx];
            let config = pool
                .provider
                .entry(AGENT_CONFIG)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(config) = config {
                set_hook(config, on);
            }
            pool.field_pos.insert(AGENT_CONFIG.into(), pos);
            Ok(())
        },
    );
}

/// The pools of `.allow_agents(policy, pools)`: one `aws_pool` or an array of them, each with
/// its tag known; returns their tags and whether any is a spot pool.
fn pool_tags(st: &State, who: &str, pools: &Dynamic) -> Result<(Vec<PoolTag>, bool), String> {
    let handles: Vec<Pool> = match pools.read_lock::<rhai::Array>() {
        Some(arr) => arr
            .iter()
            .map(|p| p.read_lock::<Pool>().map(|p| p.clone()))
            .collect::<Option<_>>(),
        None => pools.read_lock::<Pool>().map(|p| vec![p.clone()]),
    }
    .ok_or_else(|| {
        format!(
            "{who}: .allow_agents() expects an aws_pool(...) or an array of them, got {}",
            values::describe(pools)
        )
    })?;
    let mut tags = Vec::new();
    let mut spot = false;
    for h in handles {
        let p = &st.pools[h.idx];
        let text = |k: &str| {
            p.provider
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (Some(key), Some(value)) = (text("tag_key"), text("tag_value")) else {
            return Err(format!(
                "{who}: aws_pool '{}' has no .tag(key, value) yet: the master may only manage instances with its pool's tag, so tag the pool before .allow_agents()",
                h.name
            ));
        };
        if refs::has_refs(&key) {
            return Err(format!(
                "{who}: the tag key of aws_pool '{}' must be known when planning (it names a policy condition); give its parameter a value",
                h.name
            ));
        }
        spot |= p.provider.get("spot") == Some(&Value::Bool(true));
        tags.push(PoolTag { key, value });
    }
    Ok((tags, spot))
}

fn allow_agents(
    ctx: &NativeCallContext,
    st: &mut State,
    role: &IamRole,
    policy: &str,
    pools: &Dynamic,
) -> RhaiResult<()> {
    let who = format!("iam_role '{}'", role.name);
    let (tags, spot) = pool_tags(st, &who, pools).or_else(|m| fail(ctx, m))?;
    let region = st.deployment.as_ref().and_then(|d| d.region.clone());
    let partition = crate::kinds::partition(region.as_deref().filter(|r| !refs::has_refs(r)));
    let doc = serde_json::json!({ "Version": "2012-10-17", "Statement": agent_statements(&tags, spot, partition) });
    let pos = pos_of(ctx, st);
    let d = st.decl(&role.id);
    d.field_pos.entry(format!("policy:{policy}")).or_insert(pos);
    let mut taken = false;
    d.edit(|r: &mut IamRoleSpec| {
        taken = r.inline_policies.contains_key(policy);
        r.inline_policies
            .insert(policy.to_string(), Doc::from_marked_json(&doc));
    });
    if taken {
        return fail(
            ctx,
            format!("{who}: a policy named '{policy}' is already attached to the role"),
        );
    }
    Ok(())
}

/// Adds or removes `hooks.on_connection_lost: [shutdown, now]`, dropping what becomes empty.
fn set_hook(config: &mut Map<String, Value>, on: bool) {
    let hooks = config
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(hooks) = hooks {
        if on {
            let default = AgentConfig::shutdown_on_connection_lost();
            let cmd = default.hooks.and_then(|h| h.on_connection_lost);
            hooks.insert("on_connection_lost".into(), serde_json::json!(cmd));
        } else {
            hooks.remove("on_connection_lost");
        }
        if hooks.is_empty() {
            config.remove("hooks");
        }
    }
}

/// The provider map of a pool as it goes into master.yaml: the default agent config unless
/// the script set one (or turned the hook off).
pub(crate) fn provider_with_defaults(pool: &PoolDecl) -> Map<String, Value> {
    let mut provider = pool.provider.clone();
    apply_default(&mut provider, pool.field_pos.contains_key(AGENT_CONFIG));
    // A pool that logs to a group of the script gets a stream of its own, unless it names one.
    let own_group = provider
        .get("log_group")
        .and_then(Value::as_str)
        .and_then(crate::kinds::log_group::iam::group_in)
        .is_some();
    if own_group && !provider.contains_key("log_stream") {
        provider.insert(
            "log_stream".into(),
            Value::String(format!("determined-agent-{}", pool.name)),
        );
    }
    provider
}

/// Gives `provider` the default agent config when the script did not set one; an empty
/// agent config (the hook turned off, or `#{}` in a map) is left out.
pub(crate) fn apply_default(provider: &mut Map<String, Value>, set_by_script: bool) {
    if !set_by_script && !provider.contains_key(AGENT_CONFIG) {
        let default = serde_json::to_value(AgentConfig::shutdown_on_connection_lost())
            .expect("the agent config serializes");
        provider.insert(AGENT_CONFIG.into(), default);
    }
    if provider
        .get(AGENT_CONFIG)
        .is_some_and(|c| c.as_object().is_some_and(Map::is_empty))
    {
        provider.remove(AGENT_CONFIG);
    }
}
