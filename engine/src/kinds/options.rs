//! The options map of a builder call, `kind("name", #{ key: value, .. })`.

use rhai::Dynamic;

use crate::script::values;

/// Reads the options `opts` of the call for `who` (`log_group 'logs'`): none (unit), or a
/// map. `set` gets each key, its value and `field`, which prefixes a message with `who` and
/// the key; it returns `Ok(false)` for a key it does not know. Anything but a map is refused
/// with "`who`: expects `expects`, got ..."; an unknown key with the `known` ones.
pub(crate) fn read_options(
    who: &str,
    opts: &Dynamic,
    expects: &str,
    known: &str,
    mut set: impl FnMut(&str, &Dynamic, &dyn Fn(&str) -> String) -> Result<bool, String>,
) -> Result<(), String> {
    if opts.is_unit() {
        return Ok(());
    }
    let Some(map) = opts.read_lock::<rhai::Map>() else {
        return Err(format!(
            "{who}: expects {expects}, got {}",
            values::describe(opts)
        ));
    };
    for (k, v) in map.iter() {
        let k = k.as_str();
        let field = |what: &str| format!("{who}: {k} {what}");
        if !set(k, v, &field)? {
            return Err(format!(
                "{who}: unknown option {k:?}; expected one of {known}"
            ));
        }
    }
    Ok(())
}
