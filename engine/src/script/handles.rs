//! The handles scripts hold: values that name a declared resource. They live apart from
//! the builders so that value conversion and every builder can use them without importing
//! each other.

use serde_json::Value;

/// A handle made from the plan id and the script's name of what it declares.
pub(crate) trait Declared {
    fn declared(id: String, name: &str) -> Self;
}

/// Handles that hold the id and the name (`T`), or that wrap one that does (`T(Inner)`).
macro_rules! declared {
    ($($t:ident),*) => {
        $(impl $crate::script::handles::Declared for $t {
            fn declared(id: String, name: &str) -> Self {
                $t { id, name: name.to_string() }
            }
        })*
    };
    ($($t:ident($inner:ty)),*) => {
        $(impl $crate::script::handles::Declared for $t {
            fn declared(id: String, name: &str) -> Self {
                $t(<$inner as $crate::script::handles::Declared>::declared(id, name))
            }
        })*
    };
}
pub(crate) use declared;
declared!(Bucket, IamRole, SecurityGroup);

/// The plan id alone.
impl Declared for String {
    fn declared(id: String, _name: &str) -> Self {
        id
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub idx: usize,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct IamRole {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct InstanceProfile {
    pub id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct MasterInstance {
    pub idx: usize,
    pub id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct CheckpointStorage(pub Value);

#[derive(Debug, Clone)]
pub(crate) struct SecurityGroup {
    pub id: String,
    pub name: String,
}
