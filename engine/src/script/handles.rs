//! The handles scripts hold: values that name a declared resource. They live apart from
//! the builders so that value conversion and every builder can use them without importing
//! each other.

use serde_json::Value;

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
