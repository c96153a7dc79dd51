//! OCSF 1.x documents, mapped from the ECS documents (to be built).

use serde_json::Value;

/// The OCSF form of an ECS document.
pub fn from_ecs(doc: &Value) -> Value {
    doc.clone()
}
