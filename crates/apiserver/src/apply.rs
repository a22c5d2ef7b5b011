//! STUB
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict { pub manager: String, pub operation: String, pub api_version: String, pub time: Option<String>, pub field: String }
#[derive(Debug, thiserror::Error)]
pub enum ApplyError { #[error("conflicts")] Conflicts(Vec<Conflict>), #[error("{0}")] InvalidBody(String) }
impl ApplyError { pub fn message(&self) -> String { self.to_string() } }
pub fn apply(_kind: &str, _api_version: &str, live: Option<&serde_json::Value>, applied: &serde_json::Value, _manager: &str, _force: bool, _now: &str) -> Result<serde_json::Value, ApplyError> {
    Ok(match live { Some(l) => crate::patch::merge_patch(l, applied), None => applied.clone() })
}
pub fn record_update(_kind: &str, _api_version: &str, _old: Option<&serde_json::Value>, new: serde_json::Value, _manager: &str, _now: &str) -> serde_json::Value { new }
