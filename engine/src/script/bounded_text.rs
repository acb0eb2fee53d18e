//! Text of maps and arrays within the sandbox's string limit.

use rhai::{Dynamic, Engine};

use super::limits;

/// How long the text of `d` would be, stopping early once it passes `limit`.
fn text_size(d: &Dynamic, limit: usize) -> usize {
    if let Some(s) = d.read_lock::<rhai::ImmutableString>() {
        return s.len() + 2;
    }
    if let Some(m) = d.read_lock::<rhai::Map>() {
        return items_size(m.iter().map(|(k, v)| (k.len() + 4, v)), limit);
    }
    if let Some(a) = d.read_lock::<rhai::Array>() {
        return items_size(a.iter().map(|v| (0, v)), limit);
    }
    24
}

/// The text size of a container's items (each with its key's overhead), up to `limit`.
fn items_size<'a>(items: impl Iterator<Item = (usize, &'a Dynamic)>, limit: usize) -> usize {
    let mut total = 2;
    for (key, v) in items {
        total += key + 2 + text_size(v, limit.saturating_sub(total));
        if total > limit {
            break;
        }
    }
    total
}

/// Shows a map or an array as text only when the text fits the string limit. Rhai builds the
/// text of a container in one step, before any limit is checked, so a map holding one shared
/// 512 KiB string thousands of times would otherwise cost gigabytes: an oversized value gives
/// a text just over the limit instead, which the engine's size check then stops with its
/// usual "exceeds the sandbox limit" error.
pub(super) fn register(engine: &mut Engine) {
    const LIMIT: usize = limits::MAX_STRING_SIZE;
    fn too_long() -> String {
        "…".repeat(LIMIT / 3 + 1)
    }
    fn shown(d: Dynamic, debug: bool) -> String {
        if debug {
            format!("{d:?}")
        } else {
            format!("{d}")
        }
    }
    for name in ["print", "to_string", "debug", "to_debug"] {
        let debug = name.contains("debug");
        engine.register_fn(name, move |m: &mut rhai::Map| {
            if items_size(m.iter().map(|(k, v)| (k.len() + 4, v)), LIMIT) > LIMIT {
                return too_long();
            }
            shown(Dynamic::from_map(m.clone()), debug)
        });
        engine.register_fn(name, move |a: &mut rhai::Array| {
            if items_size(a.iter().map(|v| (0, v)), LIMIT) > LIMIT {
                return too_long();
            }
            shown(Dynamic::from_array(a.clone()), debug)
        });
    }
    engine.register_fn("to_json", |m: &mut rhai::Map| {
        if items_size(m.iter().map(|(k, v)| (k.len() + 4, v)), LIMIT) > LIMIT {
            return too_long();
        }
        rhai::format_map_as_json(m)
    });
}
