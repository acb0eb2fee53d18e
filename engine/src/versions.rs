//! Versions detscript pins, in one place: the PostgreSQL engine version a database gets when
//! the script names none, and the Determined release whose AMIs [`crate::amis`] lists.
//!
//! AWS stops creating old minor versions of RDS and Aurora PostgreSQL; `tests/cfn/run.sh`
//! exports a database of each engine with these pins and fails on cfn-lint's "deprecated
//! engine version" findings (W3690, W3691), so the table is checked against cfn-lint's data
//! whenever cfn-lint is updated.

/// The engine version for each engine, when the script calls `.engine(engine)` without one.
pub const PG_ENGINE_VERSIONS: &[(&str, &str)] =
    &[("aurora-postgresql", "16.11"), ("postgres", "16.11")];

/// The Determined release of the AMI map and the examples' images.
pub const DETERMINED_VERSION: &str = "0.38.1";

/// The pinned version of `engine`, if detscript knows the engine.
pub fn pinned_engine_version(engine: &str) -> Option<&'static str> {
    PG_ENGINE_VERSIONS
        .iter()
        .find(|(e, _)| *e == engine)
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_the_builder_accepts_has_a_pin_determined_supports() {
        for engine in ["aurora-postgresql", "postgres"] {
            let v = pinned_engine_version(engine).expect("pinned");
            let major: u32 = v.split('.').next().unwrap().parse().unwrap();
            assert!(major >= 13, "Determined needs PostgreSQL 13+: {engine} {v}");
        }
        assert_eq!(pinned_engine_version("mysql"), None);
    }
}
