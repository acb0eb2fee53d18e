//! The agent side of an `aws_pool`: `.agent_config_file_contents(map)` (Determined's
//! agent.yaml for the pool's agents) and `.shutdown_on_connection_lost(bool)`. A pool that sets
//! neither gets what `det deploy aws` gives every pool: `hooks.on_connection_lost:
//! [shutdown, now]`, so an agent that loses its master stops its instance instead of billing.

use rhai::Engine;
use serde_json::{Map, Value};

use super::master::{Pool, PoolDecl};
use super::{Shared, fail, method, pos_of, values};
use crate::config::AgentConfig;

/// The provider key, as in master.yaml.
pub(crate) const AGENT_CONFIG: &str = "agent_config_file_contents";

pub(crate) fn register(engine: &mut Engine, state: &Shared) {
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
