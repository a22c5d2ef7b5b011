//! STUB: replaced by the real module.
use serde_json::Value;
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError { pub field: String, pub kind: ErrorKind, pub bad_value: Option<Value>, pub detail: String }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind { Required, Invalid, NotSupported, Duplicate, Forbidden, TooLong, TooMany, NotFound, Internal }
impl FieldError {
    pub fn reason(&self) -> &'static str { "FieldValueInvalid" }
    pub fn body(&self) -> String { match &self.bad_value { Some(Value::String(s)) => format!("Invalid value: {s:?}: {}", self.detail), Some(v) => format!("Invalid value: {v}: {}", self.detail), None => self.detail.clone() } }
    pub fn to_string_with_field(&self) -> String { format!("{}: {}", self.field, self.body()) }
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self { FieldError { field: field.into(), kind: ErrorKind::Invalid, bad_value: Some(value), detail: detail.into() } }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self { FieldError { field: field.into(), kind: ErrorKind::Forbidden, bad_value: None, detail: detail.into() } }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self { FieldError { field: field.into(), kind: ErrorKind::Required, bad_value: None, detail: detail.into() } }
}
    
pub fn _x(){}
pub fn default(_kind: &str, _obj: &mut Value) {}
pub fn validate(_kind: &str, _obj: &Value, _old: Option<&Value>) -> Vec<FieldError> { vec![] }
