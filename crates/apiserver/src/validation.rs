//! Defaulting and validation of built-in Kubernetes objects, matching kube-apiserver's field paths and messages.

// Objects are handled as plain `serde_json::Value` trees in their versioned (v1) JSON form.
// The checks follow the upstream `pkg/apis/*/validation` packages of Kubernetes 1.32–1.34, so
// that every error carries the field path, error type and detail text a real cluster would
// send, and kubectl prints exactly what it would print against kube-apiserver.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------
// Field errors
// ---------------------------------------------------------------------------

/// One field error, like k8s.io/apimachinery/pkg/util/validation/field.Error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field path, e.g. `spec.ports[0].port`.
    pub field: String,
    /// The kind of error, which decides the Status cause reason.
    pub kind: ErrorKind,
    /// The offending value; `None` means the value is omitted from the message.
    ///
    /// Go structs whose field order matters are stored pre-rendered as an object with one
    /// NUL-prefixed key whose string value is printed verbatim.
    pub bad_value: Option<Value>,
    /// The human-readable detail appended after the value.
    pub detail: String,
}

/// The kind of a [`FieldError`], one per upstream `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A required value is missing.
    Required,
    /// A value is malformed or out of range.
    Invalid,
    /// A value is not one of an enumerated set.
    NotSupported,
    /// A value collides with another one that must be unique.
    Duplicate,
    /// A value is valid in form but not allowed here.
    Forbidden,
    /// A value is too long.
    TooLong,
    /// A list has too many items.
    TooMany,
    /// A referenced value does not exist.
    NotFound,
    /// Something went wrong that is not the user's fault.
    Internal,
}

/// The object key that marks a pre-rendered bad value (see `FieldError::bad_value`).
///
/// The key contains a NUL character so that it can never collide with a real JSON field name.
const RAW_VALUE_KEY: &str = "\u{0}rendered";

impl ErrorKind {
    /// The Status cause reason for this kind.
    fn reason(self) -> &'static str {
        match self {
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::NotFound => "FieldValueNotFound",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// The canonical message prefix upstream prints for this kind.
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Required => "Required value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::NotFound => "Not found",
            ErrorKind::Internal => "Internal error",
        }
    }
}

impl FieldError {
    /// The Status cause reason: "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported", "FieldValueDuplicate", "FieldValueForbidden", "FieldValueTooLong", "FieldValueTooMany", "FieldValueNotFound", "InternalError".
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message body without the field, as field.Error.ErrorBody renders it, e.g. `Invalid value: 0: must be between 1 and 65535, inclusive`.
    pub fn body(&self) -> String {
        let mut s = String::from(self.kind.label());
        let shows_value = !matches!(
            self.kind,
            ErrorKind::Required | ErrorKind::Forbidden | ErrorKind::TooLong | ErrorKind::Internal
        );
        if shows_value && let Some(v) = &self.bad_value {
            s.push_str(": ");
            s.push_str(&render_bad_value(v));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// `field: body`, as used in the Status message.
    pub fn to_string_with_field(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }

    /// An Invalid error for `value` with the given detail.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Invalid,
            bad_value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// A Required error with an optional detail.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Required,
            bad_value: None,
            detail: detail.into(),
        }
    }

    /// A NotSupported error listing the supported values in the given order.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        valid: &[&str],
    ) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            field: field.into(),
            kind: ErrorKind::NotSupported,
            bad_value: Some(value.into()),
            detail,
        }
    }

    /// A Duplicate error for `value`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Duplicate,
            bad_value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// A Forbidden error with the given detail.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Forbidden,
            bad_value: None,
            detail: detail.into(),
        }
    }

    /// A TooLong error saying the value may not be more than `max_bytes` bytes.
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        FieldError {
            field: field.into(),
            kind: ErrorKind::TooLong,
            bad_value: None,
            detail: format!("may not be more than {max_bytes} {unit}"),
        }
    }

    /// A TooMany error saying a list of `actual` items may have at most `max` items.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        FieldError {
            field: field.into(),
            kind: ErrorKind::TooMany,
            bad_value: Some(Value::from(actual)),
            detail: format!("must have at most {max} {unit}"),
        }
    }

    /// A NotFound error for `value`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::NotFound,
            bad_value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// An Internal error with the given detail.
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Internal,
            bad_value: None,
            detail: detail.into(),
        }
    }
}

/// Wraps already-rendered text so that [`FieldError::body`] prints it verbatim.
fn raw(text: String) -> Value {
    let mut m = Map::new();
    m.insert(RAW_VALUE_KEY.to_string(), Value::String(text));
    Value::Object(m)
}

/// Renders a bad value the way upstream's ErrorBody does since 1.32: simple scalars with
/// `%v`, strings with `%q`, and everything else as compact JSON from `json.Marshal`.
fn render_bad_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Object(m) if m.len() == 1 && m.contains_key(RAW_VALUE_KEY) => m
            .get(RAW_VALUE_KEY)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => go_json(v),
    }
}

/// Quotes a string like Go's strconv.Quote (`%q`).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if !go_is_print(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's unicode.IsPrint for characters outside ASCII control codes.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters and private-use code points are not printable in Go either.
    let u = c as u32;
    !matches!(u, 0xAD | 0x600..=0x605 | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF)
}

/// Serializes a value like Go's json.Marshal: compact, map keys sorted, HTML-sensitive
/// characters escaped.
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::String(text)) = m.get(RAW_VALUE_KEY)
            {
                out.push_str(text);
                return;
            }
            // Go sorts map keys, so do the same whatever order the Map keeps.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(k, out);
                out.push(':');
                if let Some(val) = m.get(*k) {
                    write_go_json(val, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Renders a JSON object as a Go struct would marshal it: only the listed fields, in the
/// listed order, each rendered by the paired function or as plain Go JSON.
fn render_struct(v: Option<&Value>, fields: &[(&str, &str)]) -> String {
    let Some(Value::Object(m)) = v else {
        return "null".to_string();
    };
    let mut out = String::from("{");
    let mut first = true;
    for (json_name, go_name) in fields {
        if let Some(val) = m.get(*json_name) {
            if !first {
                out.push(',');
            }
            first = false;
            write_go_json_string(go_name, &mut out);
            out.push(':');
            write_go_json(val, &mut out);
        }
    }
    out.push('}');
    out
}

// ---------------------------------------------------------------------------
// Field paths and JSON access
// ---------------------------------------------------------------------------

/// Appends a named child to a field path, like field.Path.Child.
fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Appends a list index to a field path, like field.Path.Index.
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Appends a map key to a field path, like field.Path.Key.
fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

/// The value at `k` unless it is absent or null.
fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

/// The string at `k`, or "" when absent, as Go's zero value would be.
fn str_at<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The string at `k` when present (a Go `*string`).
fn opt_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The integer at `k` when present.
fn int_at(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

/// The boolean at `k`, false when absent.
fn bool_at(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// The list at `k`, empty when absent.
fn arr_at<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `k` when present.
fn obj_at<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

/// The entries of a string map at `k`, sorted by key so that error order is stable.
fn string_map(v: &Value, k: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = obj_at(v, k)
        .map(|m| {
            m.iter()
                .map(|(a, b)| (a.clone(), b.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Returns the object at `k` inside `v`, creating an empty object there when needed.
fn ensure_obj<'a>(v: &'a mut Value, k: &str) -> Option<&'a mut Value> {
    let m = v.as_object_mut()?;
    let slot = m
        .entry(k.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    Some(slot)
}

/// Sets `k` to `value` when it is absent, null or an empty string.
fn set_default(v: &mut Value, k: &str, value: Value) {
    if let Some(m) = v.as_object_mut() {
        let missing = match m.get(k) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if missing {
            m.insert(k.to_string(), value);
        }
    }
}

/// An IntOrString JSON value, decoded.
#[derive(Debug, Clone, PartialEq)]
enum IntOrStr {
    Int(i64),
    Str(String),
}

impl IntOrStr {
    fn from_value(v: Option<&Value>) -> IntOrStr {
        match v {
            Some(Value::Number(n)) => IntOrStr::Int(n.as_i64().unwrap_or(0)),
            Some(Value::String(s)) => IntOrStr::Str(s.clone()),
            _ => IntOrStr::Int(0),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            IntOrStr::Int(i) => Value::from(*i),
            IntOrStr::Str(s) => Value::String(s.clone()),
        }
    }
}

// ---------------------------------------------------------------------------
// Format checks (k8s.io/apimachinery/pkg/util/validation)
// ---------------------------------------------------------------------------

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const WILDCARD_FMT: &str = "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const WILDCARD_ERR: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const HTTP_HEADER_FMT: &str = "[-A-Za-z0-9]+";
const HTTP_HEADER_ERR: &str = "a valid HTTP header must consist of alphanumeric characters or '-'";
const HTTP_PATH_FMT: &str = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const FIELD_IMMUTABLE: &str = "field is immutable";
const IS_NEGATIVE: &str = "must be greater than or equal to 0";
const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// Builds upstream's regex failure message, examples included.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        let _ = write!(s, "'{e}', ");
    }
    let _ = write!(s, "regex used for validation is '{fmt}')");
    s
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

/// Matches the DNS-1123 subdomain regex: dot-separated DNS-1123 labels of any length.
fn matches_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(matches_dns1123_label)
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

/// Whether a namespace or object name is a valid DNS-1123 subdomain; empty means valid, otherwise the upstream error details.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(s) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Whether a name is a valid DNS-1123 label; empty means valid, otherwise the upstream error details.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1123_label(s) {
        errs.push(regex_error(
            DNS1123_LABEL_ERR,
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// Whether a name is a valid DNS-1035 label; empty means valid, otherwise the upstream error details.
pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-');
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

fn is_wildcard_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    let ok = s.strip_prefix("*.").is_some_and(matches_dns1123_subdomain);
    if !ok {
        errs.push(regex_error(WILDCARD_ERR, WILDCARD_FMT, &["*.example.com"]));
    }
    errs
}

/// Checks a "qualified name" (label keys, annotation keys, finalizers, ...).
fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !s.is_empty() && !matches_qualified_name(s) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

fn is_valid_port_num(p: i64) -> Vec<String> {
    if (1..=65535).contains(&p) {
        Vec::new()
    } else {
        vec![PORT_RANGE.to_string()]
    }
}

/// Checks an IANA_SVC_NAME port name.
fn is_valid_port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push(max_len_error(15));
    }
    if s.is_empty() || !s.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

fn is_valid_percent(s: &str) -> bool {
    s.strip_suffix('%')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
}

fn is_config_map_key(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
    {
        errs.push(regex_error(
            CONFIG_KEY_ERR,
            CONFIG_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if s == "." {
        errs.push("must not be '.'".to_string());
    } else if s == ".." {
        errs.push("must not be '..'".to_string());
    } else if s.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

fn is_http_header_name(s: &str) -> Vec<String> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        Vec::new()
    } else {
        vec![regex_error(
            HTTP_HEADER_ERR,
            HTTP_HEADER_FMT,
            &["X-Header-Name"],
        )]
    }
}

/// Checks an environment variable name under the relaxed rules that are on by default since 1.32.
fn is_relaxed_env_var_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if s.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push("a valid environment variable name must consist only of printable ASCII characters other than '='".to_string());
    }
    errs
}

/// Applies upstream's name check for generated-name prefixes: a trailing dash is masked.
fn mask_trailing_dash(name: &str) -> String {
    // Upstream drops the dash and the character before it, then appends an 'a'.
    match name.strip_suffix('-') {
        Some(rest) => {
            let mut kept: String = rest.to_string();
            kept.pop();
            kept.push('a');
            kept
        }
        None => name.to_string(),
    }
}

/// The rule a kind's object names must follow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
}

fn check_name(rule: NameRule, name: &str) -> Vec<String> {
    match rule {
        NameRule::Subdomain => is_dns1123_subdomain(name),
        NameRule::Label => is_dns1123_label(name),
        NameRule::Dns1035 => is_dns1035_label(name),
    }
}

// ---------------------------------------------------------------------------
// IP addresses (Go's net.ParseIP with the "sloppy" IPv4 leading-zero handling)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

fn parse_ipv4_sloppy(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let n: u32 = p.parse().ok()?;
        out[i] = u8::try_from(n).ok()?;
    }
    Some(out)
}

fn parse_ip(s: &str) -> Option<Ip> {
    if let Some(v4) = parse_ipv4_sloppy(s) {
        return Some(Ip::V4(v4));
    }
    if s.contains(':') {
        // Go accepts an embedded IPv4 tail with leading zeros too, so normalise it first.
        let fixed = match s.rfind(':') {
            Some(pos) if s[pos + 1..].contains('.') => {
                let tail = parse_ipv4_sloppy(&s[pos + 1..])?;
                format!(
                    "{}{}.{}.{}.{}",
                    &s[..=pos],
                    tail[0],
                    tail[1],
                    tail[2],
                    tail[3]
                )
            }
            _ => s.to_string(),
        };
        let v6: std::net::Ipv6Addr = fixed.parse().ok()?;
        return Some(Ip::V6(v6.octets()));
    }
    None
}

impl Ip {
    /// The IPv4 form when this is IPv4 or IPv4-mapped IPv6, like Go's To4.
    fn to4(self) -> Option<[u8; 4]> {
        match self {
            Ip::V4(a) => Some(a),
            Ip::V6(b) => {
                if b[..10].iter().all(|&x| x == 0) && b[10] == 0xff && b[11] == 0xff {
                    Some([b[12], b[13], b[14], b[15]])
                } else {
                    None
                }
            }
        }
    }

    fn is_unspecified(self) -> bool {
        match (self.to4(), self) {
            (Some(a), _) => a == [0, 0, 0, 0],
            (None, Ip::V6(b)) => b.iter().all(|&x| x == 0),
            _ => false,
        }
    }

    fn is_link_local_unicast(self) -> bool {
        match (self.to4(), self) {
            (Some(a), _) => a[0] == 169 && a[1] == 254,
            (None, Ip::V6(b)) => b[0] == 0xfe && (b[1] & 0xc0) == 0x80,
            _ => false,
        }
    }

    fn is_link_local_multicast(self) -> bool {
        match (self.to4(), self) {
            (Some(a), _) => a[0] == 224 && a[1] == 0 && a[2] == 0,
            (None, Ip::V6(b)) => b[0] == 0xff && (b[1] & 0x0f) == 0x02,
            _ => false,
        }
    }
}

fn is_ipv6_string(s: &str) -> bool {
    matches!(parse_ip(s), Some(ip) if ip.to4().is_none())
}

const IP_INVALID: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

fn validate_ip(path: &str, s: &str, errs: &mut Vec<FieldError>) -> bool {
    if parse_ip(s).is_none() {
        errs.push(FieldError::invalid(path, s, IP_INVALID));
        return false;
    }
    true
}

fn parse_cidr(s: &str) -> Option<(Ip, u32)> {
    let (ip, bits) = s.split_once('/')?;
    let ip = parse_ip(ip)?;
    if bits.is_empty() || !bits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bits: u32 = bits.parse().ok()?;
    let max = match ip {
        Ip::V4(_) => 32,
        Ip::V6(_) => 128,
    };
    if bits > max {
        return None;
    }
    Some((ip, bits))
}

fn validate_cidr(path: &str, s: &str, errs: &mut Vec<FieldError>) {
    if parse_cidr(s).is_none() {
        errs.push(FieldError::invalid(
            path,
            s,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
    }
}

/// Rejects unspecified and link-local addresses, like ValidateNonSpecialIP.
///
/// Deliberate difference from upstream: loopback addresses are allowed. knet's unprivileged
/// network mode gives every pod and Service an address in 127.0.0.0/8, so endpoints there are
/// the normal case, not a mistake.
fn validate_non_special_ip(path: &str, s: &str, errs: &mut Vec<FieldError>) {
    let Some(ip) = parse_ip(s) else {
        errs.push(FieldError::invalid(path, s, "must be a valid IP address"));
        return;
    };
    if ip.is_unspecified() {
        errs.push(FieldError::invalid(
            path,
            s,
            format!("may not be unspecified ({s})"),
        ));
    }
    if ip.is_link_local_unicast() {
        errs.push(FieldError::invalid(
            path,
            s,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if ip.is_link_local_multicast() {
        errs.push(FieldError::invalid(
            path,
            s,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

// ---------------------------------------------------------------------------
// Resource quantities
// ---------------------------------------------------------------------------

/// How a quantity was written, which decides its canonical spelling.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum QuantityFormat {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// A parsed resource.Quantity, held as an exact count of nano-units.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

const QUANTITY_REGEX_ERR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses a quantity string; values are rounded up to milli precision as the v1
    /// defaulting of resource lists does before validation runs.
    fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (num, suffix) = body.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        // Work out the scale as (multiplier, power of ten) from the suffix.
        let (format, mult, exp10): (QuantityFormat, i128, i32) = match suffix {
            "" => (QuantityFormat::DecimalSi, 1, 0),
            "n" => (QuantityFormat::DecimalSi, 1, -9),
            "u" => (QuantityFormat::DecimalSi, 1, -6),
            "m" => (QuantityFormat::DecimalSi, 1, -3),
            "k" => (QuantityFormat::DecimalSi, 1, 3),
            "M" => (QuantityFormat::DecimalSi, 1, 6),
            "G" => (QuantityFormat::DecimalSi, 1, 9),
            "T" => (QuantityFormat::DecimalSi, 1, 12),
            "P" => (QuantityFormat::DecimalSi, 1, 15),
            "E" => (QuantityFormat::DecimalSi, 1, 18),
            "Ki" => (QuantityFormat::BinarySi, 1 << 10, 0),
            "Mi" => (QuantityFormat::BinarySi, 1 << 20, 0),
            "Gi" => (QuantityFormat::BinarySi, 1 << 30, 0),
            "Ti" => (QuantityFormat::BinarySi, 1 << 40, 0),
            "Pi" => (QuantityFormat::BinarySi, 1 << 50, 0),
            "Ei" => (QuantityFormat::BinarySi, 1 << 60, 0),
            other => {
                let rest = other
                    .strip_prefix('e')
                    .or_else(|| other.strip_prefix('E'))?;
                let digits = rest
                    .strip_prefix('+')
                    .or_else(|| rest.strip_prefix('-'))
                    .unwrap_or(rest);
                if digits.is_empty()
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                    || digits.len() > 3
                {
                    return None;
                }
                let e: i32 = rest.parse().ok()?;
                (QuantityFormat::DecimalExponent, 1, e)
            }
        };
        // Build the exact value as digits * 10^(exp10 - frac_len) * mult, in nanos.
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let mantissa: i128 = if digits.is_empty() {
            0
        } else if digits.len() > 30 {
            return None;
        } else {
            digits.parse().ok()?
        };
        let frac_len = i32::try_from(frac_part.len()).ok()?;
        let power = exp10 - frac_len + 9;
        let mut nanos = mantissa.checked_mul(mult)?;
        if power >= 0 {
            nanos = nanos.checked_mul(10i128.checked_pow(u32::try_from(power).ok()?)?)?;
        } else {
            let div = 10i128.checked_pow(u32::try_from(-power).ok()?)?;
            let rounded_up = nanos % div != 0;
            nanos = nanos / div + i128::from(rounded_up);
        }
        // Round up to milli precision, away from zero like Quantity.RoundUp.
        let milli = 1_000_000;
        if nanos % milli != 0 {
            nanos = (nanos / milli + 1) * milli;
        }
        if neg {
            nanos = -nanos;
        }
        Some(Quantity { nanos, format })
    }

    fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    fn is_integer(&self) -> bool {
        self.nanos % NANO == 0
    }

    /// The canonical spelling, like resource.Quantity.String().
    fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.abs();
        let mut format = self.format;
        if format == QuantityFormat::BinarySi && (abs < 1024 * NANO || abs % NANO != 0) {
            // Small or fractional binary values are shown in decimal form upstream.
            format = QuantityFormat::DecimalSi;
        }
        if format == QuantityFormat::BinarySi {
            let mut v = abs / NANO;
            let mut exp = 0usize;
            while v % 1024 == 0 && exp < 6 {
                v /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return format!("{sign}{v}{suffix}");
        }
        let mut m = abs;
        let mut e: i32 = -9;
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        while e.rem_euclid(3) != 0 {
            m *= 10;
            e -= 1;
        }
        while e > 18 {
            m *= 1000;
            e -= 3;
        }
        if format == QuantityFormat::DecimalExponent {
            return if e == 0 {
                format!("{sign}{m}")
            } else {
                format!("{sign}{m}e{e}")
            };
        }
        let suffix = match e {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        format!("{sign}{m}{suffix}")
    }
}

/// Reads a quantity from a JSON string or number.
fn quantity_of(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => Quantity::parse(s),
        Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => None,
    }
}

fn quantity_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Defaulting (pkg/apis/*/v1/defaults.go and the create strategies)
// ---------------------------------------------------------------------------

/// Apply kube-apiserver's defaults for the kind (Kind name like "Service"), in place.
pub fn default(kind: &str, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match kind {
        "Pod" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                default_pod_spec(spec);
                default_pod_only(spec);
            }
        }
        "PodTemplate" => default_template(obj.get_mut("template")),
        "ReplicationController" => default_replication_controller(obj),
        "Service" => default_service(obj),
        "Secret" => set_default(obj, "type", json!("Opaque")),
        "Namespace" => default_namespace(obj),
        "Endpoints" => {
            if let Some(subsets) = obj.get_mut("subsets").and_then(Value::as_array_mut) {
                for ss in subsets {
                    for p in ss
                        .get_mut("ports")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
        "EndpointSlice" => {
            for p in obj
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set_default(p, "protocol", json!("TCP"));
                if get(p, "name").is_none()
                    && let Some(m) = p.as_object_mut()
                {
                    m.insert("name".to_string(), json!(""));
                }
            }
        }
        "Deployment" => default_deployment(obj),
        "ReplicaSet" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                default_template(spec.get_mut("template"));
            }
        }
        "StatefulSet" => default_statefulset(obj),
        "DaemonSet" => default_daemonset(obj),
        "Job" => default_job(obj),
        "CronJob" => default_cronjob(obj),
        "NetworkPolicy" => default_network_policy(obj),
        "IngressClass" => {
            if let Some(params) = obj.get_mut("spec").and_then(|s| s.get_mut("parameters"))
                && params.is_object()
            {
                set_default(params, "scope", json!("Cluster"));
            }
        }
        _ => {}
    }
}

/// The image pull policy upstream picks: Always for `:latest` or an untagged image, else IfNotPresent.
fn default_pull_policy(image: &str) -> &'static str {
    // Split off a digest first, then look for a tag after the last path separator.
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    // An unparsable reference yields no tag in upstream, which means IfNotPresent.
    let repo_ok = !name.is_empty()
        && name
            .split('/')
            .skip(usize::from(name.contains('/') && looks_like_registry(name)))
            .all(|c| {
                let c = c.split(':').next().unwrap_or(c);
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
    if !repo_ok {
        return "IfNotPresent";
    }
    match (tag, digest) {
        (Some("latest"), _) => "Always",
        (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

/// Whether the first path component of an image reference names a registry host.
fn looks_like_registry(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or("");
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = str_at(c, "image").to_string();
    set_default(c, "imagePullPolicy", json!(default_pull_policy(&image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    if get(c, "resources").is_none()
        && let Some(m) = c.as_object_mut()
    {
        m.insert("resources".to_string(), json!({}));
    }
    for p in c
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set_default(p, "protocol", json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            for (k, v) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                if int_at(p, k).unwrap_or(0) == 0
                    && let Some(m) = p.as_object_mut()
                {
                    m.insert(k.to_string(), json!(v));
                }
            }
            default_http_get(p.get_mut("httpGet"));
        }
    }
    if let Some(lc) = c.get_mut("lifecycle") {
        for h in ["postStart", "preStop"] {
            if let Some(handler) = lc.get_mut(h) {
                default_http_get(handler.get_mut("httpGet"));
            }
        }
    }
    for e in c
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(fr) = e
            .get_mut("valueFrom")
            .and_then(|vf| vf.get_mut("fieldRef"))
            .filter(|f| f.is_object())
        {
            set_default(fr, "apiVersion", json!("v1"));
        }
    }
}

fn default_http_get(h: Option<&mut Value>) {
    if let Some(h) = h.filter(|h| h.is_object()) {
        set_default(h, "path", json!("/"));
        set_default(h, "scheme", json!("HTTP"));
    }
}

fn default_volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    let has_source = m.iter().any(|(k, val)| k != "name" && !val.is_null());
    if !has_source {
        m.insert("emptyDir".to_string(), json!({}));
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = m.get_mut(src).filter(|s| s.is_object()) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    if let Some(hp) = m.get_mut("hostPath").filter(|s| s.is_object())
        && hp.get("type").is_none_or(Value::is_null)
        && let Some(hm) = hp.as_object_mut()
    {
        hm.insert("type".to_string(), json!(""));
    }
    if let Some(sources) = m
        .get_mut("projected")
        .and_then(|p| p.get_mut("sources"))
        .and_then(Value::as_array_mut)
    {
        for s in sources {
            if let Some(t) = s.get_mut("serviceAccountToken").filter(|t| t.is_object()) {
                set_default(t, "expirationSeconds", json!(3600));
            }
        }
    }
}

/// SetDefaults_PodSpec plus the defaults of everything nested in a pod spec.
fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    if get(spec, "securityContext").is_none()
        && let Some(m) = spec.as_object_mut()
    {
        m.insert("securityContext".to_string(), json!({}));
    }
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_container(c);
        }
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default_volume(v);
    }
}

/// SetDefaults_Pod: defaults that only apply to real Pods, not to pod templates.
fn default_pod_only(spec: &mut Value) {
    set_default(spec, "enableServiceLinks", json!(true));
    let host_network = bool_at(spec, "hostNetwork");
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            // Requests default to limits for any resource that has a limit only.
            if let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut)
                && let Some(limits) = res.get("limits").and_then(Value::as_object).cloned()
            {
                let requests = res
                    .entry("requests".to_string())
                    .or_insert_with(|| json!({}));
                if let Some(rm) = requests.as_object_mut() {
                    for (k, v) in limits {
                        rm.entry(k).or_insert(v);
                    }
                }
            }
            if host_network {
                for p in c
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if int_at(p, "hostPort").unwrap_or(0) == 0
                        && let Some(cp) = int_at(p, "containerPort")
                        && let Some(m) = p.as_object_mut()
                    {
                        m.insert("hostPort".to_string(), json!(cp));
                    }
                }
            }
        }
    }
}

fn default_template(template: Option<&mut Value>) {
    if let Some(t) = template.filter(|t| t.is_object())
        && let Some(spec) = ensure_obj(t, "spec")
    {
        default_pod_spec(spec);
    }
}

fn default_replication_controller(obj: &mut Value) {
    let labels = obj
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| get(m, "labels"))
        .cloned();
    if let Some(labels) = labels {
        if let Some(spec) = ensure_obj(obj, "spec")
            && obj_at(spec, "selector").is_none_or(Map::is_empty)
            && let Some(m) = spec.as_object_mut()
        {
            m.insert("selector".to_string(), labels.clone());
        }
        if let Some(meta) = ensure_obj(obj, "metadata")
            && obj_at(meta, "labels").is_none_or(Map::is_empty)
            && let Some(m) = meta.as_object_mut()
        {
            m.insert("labels".to_string(), labels);
        }
    }
    if let Some(spec) = ensure_obj(obj, "spec") {
        set_default(spec, "replicas", json!(1));
        default_template(spec.get_mut("template"));
    }
}

/// Whether a service is reachable from outside the cluster, like apiservice.ExternallyAccessible.
fn externally_accessible(spec: &Value) -> bool {
    let t = str_at(spec, "type");
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP" && !arr_at(spec, "externalIPs").is_empty())
}

fn default_service(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    set_default(spec, "sessionAffinity", json!("None"));
    let affinity = str_at(spec, "sessionAffinity").to_string();
    if affinity == "None"
        && let Some(m) = spec.as_object_mut()
    {
        m.remove("sessionAffinityConfig");
    }
    if affinity == "ClientIP" {
        let has_timeout = spec
            .get("sessionAffinityConfig")
            .and_then(|c| c.get("clientIP"))
            .and_then(|c| get(c, "timeoutSeconds"))
            .is_some();
        if !has_timeout && let Some(m) = spec.as_object_mut() {
            m.insert(
                "sessionAffinityConfig".to_string(),
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
    }
    set_default(spec, "type", json!("ClusterIP"));
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set_default(p, "protocol", json!("TCP"));
        let target_unset = match get(p, "targetPort") {
            None => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if target_unset
            && let Some(port) = p.get("port").cloned()
            && let Some(m) = p.as_object_mut()
        {
            m.insert("targetPort".to_string(), port);
        }
    }
    if externally_accessible(spec) {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    let t = str_at(spec, "type").to_string();
    if matches!(t.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if t == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

fn default_namespace(obj: &mut Value) {
    let name = obj
        .get("metadata")
        .map(|m| str_at(m, "name").to_string())
        .unwrap_or_default();
    if !name.is_empty()
        && let Some(meta) = ensure_obj(obj, "metadata")
        && let Some(labels) = ensure_obj(meta, "labels")
        && let Some(m) = labels.as_object_mut()
    {
        m.insert("kubernetes.io/metadata.name".to_string(), json!(name));
    }
    if let Some(spec) = ensure_obj(obj, "spec")
        && get(spec, "finalizers").is_none()
        && let Some(m) = spec.as_object_mut()
    {
        m.insert("finalizers".to_string(), json!(["kubernetes"]));
    }
    if let Some(status) = ensure_obj(obj, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

fn default_deployment(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    if let Some(strategy) = ensure_obj(spec, "strategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if str_at(strategy, "type") == "RollingUpdate"
            && let Some(ru) = ensure_obj(strategy, "rollingUpdate")
        {
            set_default(ru, "maxUnavailable", json!("25%"));
            set_default(ru, "maxSurge", json!("25%"));
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec.get_mut("template"));
}

fn default_statefulset(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    if let Some(us) = ensure_obj(spec, "updateStrategy") {
        if str_at(us, "type").is_empty() {
            set_default(us, "type", json!("RollingUpdate"));
            if get(us, "rollingUpdate").is_none()
                && let Some(m) = us.as_object_mut()
            {
                m.insert("rollingUpdate".to_string(), json!({}));
            }
        }
        if str_at(us, "type") == "RollingUpdate"
            && let Some(ru) = us.get_mut("rollingUpdate").filter(|r| r.is_object())
        {
            set_default(ru, "partition", json!(0));
        }
    }
    if let Some(policy) = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
        set_default(policy, "whenDeleted", json!("Retain"));
        set_default(policy, "whenScaled", json!("Retain"));
    }
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    default_template(spec.get_mut("template"));
}

fn default_daemonset(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    if let Some(us) = ensure_obj(spec, "updateStrategy") {
        set_default(us, "type", json!("RollingUpdate"));
        if str_at(us, "type") == "RollingUpdate"
            && let Some(ru) = ensure_obj(us, "rollingUpdate")
        {
            set_default(ru, "maxUnavailable", json!(1));
            set_default(ru, "maxSurge", json!(0));
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    default_template(spec.get_mut("template"));
}

/// SetDefaults_Job plus the selector and labels the Job create strategy generates from the UID.
fn default_job(obj: &mut Value) {
    let name = obj
        .get("metadata")
        .map(|m| str_at(m, "name").to_string())
        .unwrap_or_default();
    let uid = obj
        .get("metadata")
        .map(|m| str_at(m, "uid").to_string())
        .unwrap_or_default();
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    default_job_spec(spec, &name, &uid);
    let template_labels = spec
        .get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| get(m, "labels"))
        .cloned();
    if let Some(labels) = template_labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        && let Some(meta) = ensure_obj(obj, "metadata")
        && obj_at(meta, "labels").is_none_or(Map::is_empty)
        && let Some(m) = meta.as_object_mut()
    {
        m.insert("labels".to_string(), labels);
    }
}

fn default_job_spec(spec: &mut Value, name: &str, uid: &str) {
    if get(spec, "completions").is_none() && get(spec, "parallelism").is_none() {
        set_default(spec, "completions", json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    if get(spec, "backoffLimitPerIndex").is_some() {
        set_default(spec, "backoffLimit", json!(i32::MAX));
    } else {
        set_default(spec, "backoffLimit", json!(6));
    }
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    if get(spec, "podFailurePolicy").is_some() {
        set_default(spec, "podReplacementPolicy", json!("Failed"));
    } else {
        set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    let manual = get(spec, "manualSelector")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !manual && !uid.is_empty() {
        if let Some(template) = ensure_obj(spec, "template")
            && let Some(meta) = ensure_obj(template, "metadata")
            && let Some(labels) = ensure_obj(meta, "labels")
            && let Some(m) = labels.as_object_mut()
        {
            for k in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
                m.entry(k.to_string()).or_insert_with(|| json!(uid));
            }
            for k in ["batch.kubernetes.io/job-name", "job-name"] {
                m.entry(k.to_string()).or_insert_with(|| json!(name));
            }
        }
        if let Some(sel) = ensure_obj(spec, "selector")
            && let Some(ml) = ensure_obj(sel, "matchLabels")
            && let Some(m) = ml.as_object_mut()
        {
            m.entry("batch.kubernetes.io/controller-uid".to_string())
                .or_insert_with(|| json!(uid));
        }
    }
    default_template(spec.get_mut("template"));
}

fn default_cronjob(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    // Job defaults belong to the Job type itself, so only the nested pod template is defaulted
    // here; each Job gets the rest when the CronJob controller creates it.
    if let Some(js) = spec.get_mut("jobTemplate").and_then(|j| j.get_mut("spec")) {
        default_template(js.get_mut("template"));
    }
}

fn default_network_policy(obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        for rule in spec
            .get_mut(dir)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for p in rule
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set_default(p, "protocol", json!("TCP"));
            }
        }
    }
    if arr_at(spec, "policyTypes").is_empty() {
        let mut types = vec![json!("Ingress")];
        if !arr_at(spec, "egress").is_empty() {
            types.push(json!("Egress"));
        }
        if let Some(m) = spec.as_object_mut() {
            m.insert("policyTypes".to_string(), Value::Array(types));
        }
    }
}

// ---------------------------------------------------------------------------
// Object metadata
// ---------------------------------------------------------------------------

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// ValidateLabels: every key must be a qualified name and every value a label value.
fn validate_labels(labels: &[(String, String)], path: &str, errs: &mut Vec<FieldError>) {
    for (k, v) in labels {
        validate_label_name(k, path, errs);
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v.as_str(), m));
        }
    }
}

fn validate_label_name(k: &str, path: &str, errs: &mut Vec<FieldError>) {
    for m in is_qualified_name(k) {
        errs.push(FieldError::invalid(path, k, m));
    }
}

/// ValidateAnnotations: keys are case-insensitive qualified names, total size at most 256 KiB.
fn validate_annotations(annotations: &[(String, String)], path: &str, errs: &mut Vec<FieldError>) {
    let mut total = 0usize;
    for (k, v) in annotations {
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

fn render_owner_reference(v: &Value) -> String {
    render_struct(
        Some(v),
        &[
            ("apiVersion", "apiVersion"),
            ("kind", "kind"),
            ("name", "name"),
            ("uid", "uid"),
            ("controller", "controller"),
            ("blockOwnerDeletion", "blockOwnerDeletion"),
        ],
    )
}

fn validate_owner_references(refs: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let mut first_controller = String::new();
    for r in refs {
        let api_version = str_at(r, "apiVersion");
        let kind = str_at(r, "kind");
        // The version is whatever follows the last '/', or the whole string for core.
        let version = api_version.rsplit('/').next().unwrap_or("");
        let group = if api_version.contains('/') {
            api_version.split('/').next().unwrap_or("")
        } else {
            ""
        };
        if version.is_empty() || api_version.matches('/').count() > 1 {
            errs.push(FieldError::invalid(
                child(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                kind,
                "must not be empty",
            ));
        }
        if str_at(r, "name").is_empty() {
            errs.push(FieldError::invalid(
                child(path, "name"),
                "",
                "must not be empty",
            ));
        }
        if str_at(r, "uid").is_empty() {
            errs.push(FieldError::invalid(
                child(path, "uid"),
                "",
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                raw(render_owner_reference(r)),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if bool_at(r, "controller") {
            let current = format!("{kind}/{}", str_at(r, "name"));
            if first_controller.is_empty() {
                first_controller = current;
            } else {
                let rendered: Vec<String> = refs.iter().map(render_owner_reference).collect();
                errs.push(FieldError::invalid(
                    path,
                    raw(format!("[{}]", rendered.join(","))),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {current}"
                    ),
                ));
            }
        }
    }
}

/// The finalizer names that may be used without a domain prefix.
fn is_standard_finalizer(name: &str) -> bool {
    matches!(name, "kubernetes" | "orphan" | "foregroundDeletion")
}

fn validate_kube_finalizer_name(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    if !name.contains('/') && !is_standard_finalizer(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

fn validate_finalizers(finalizers: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let names: Vec<&str> = finalizers
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    for n in &names {
        for m in is_qualified_name(n) {
            errs.push(FieldError::invalid(path, *n, m));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            Value::Array(finalizers.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Parts of ValidateObjectMeta shared by create and update.
fn validate_meta_common(meta: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    let ns = str_at(meta, "namespace");
    // The REST layer fills or clears the namespace before validation, so only its format
    // is checked here: a missing namespace never reaches validation upstream.
    if namespaced && !ns.is_empty() {
        for m in is_dns1123_label(ns) {
            errs.push(FieldError::invalid("metadata.namespace", ns, m));
        }
    }
    if let Some(g) = int_at(meta, "generation")
        && g < 0
    {
        errs.push(FieldError::invalid("metadata.generation", g, IS_NEGATIVE));
    }
    validate_labels(&string_map(meta, "labels"), "metadata.labels", errs);
    validate_annotations(
        &string_map(meta, "annotations"),
        "metadata.annotations",
        errs,
    );
    validate_owner_references(
        arr_at(meta, "ownerReferences"),
        "metadata.ownerReferences",
        errs,
    );
    validate_finalizers(arr_at(meta, "finalizers"), "metadata.finalizers", errs);
}

/// ValidateObjectMeta (core flavour, with the extra finalizer-name check).
fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&empty);
    let generate_name = str_at(meta, "generateName");
    if !generate_name.is_empty() {
        for m in check_name(rule, &mask_trailing_dash(generate_name)) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                m,
            ));
        }
    }
    let name = str_at(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in check_name(rule, name) {
            errs.push(FieldError::invalid("metadata.name", name, m));
        }
    }
    validate_meta_common(meta, namespaced, errs);
    for (i, f) in arr_at(meta, "finalizers").iter().enumerate() {
        validate_kube_finalizer_name(
            f.as_str().unwrap_or(""),
            &index("metadata.finalizers", i),
            errs,
        );
    }
}

/// ValidateObjectMetaUpdate (core flavour).
fn validate_object_meta_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&empty);
    let old_meta = old.get("metadata").unwrap_or(&empty);
    if get(old_meta, "deletionTimestamp").is_some() {
        let old_f: BTreeSet<&str> = arr_at(old_meta, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let extra: BTreeSet<&str> = arr_at(meta, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        if !extra.is_empty() {
            let listed: Vec<String> = extra.iter().map(|f| go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    listed.join(", ")
                ),
            ));
        }
    }
    if let (Some(new_g), Some(old_g)) = (int_at(meta, "generation"), int_at(old_meta, "generation"))
        && new_g < old_g
    {
        errs.push(FieldError::invalid(
            "metadata.generation",
            new_g,
            "must not be decremented",
        ));
    }
    for f in ["name", "namespace"] {
        let (n, o) = (str_at(meta, f), str_at(old_meta, f));
        if n != o {
            errs.push(FieldError::invalid(
                child("metadata", f),
                n,
                FIELD_IMMUTABLE,
            ));
        }
    }
    // The REST layer copies uid and creationTimestamp from the stored object when a client
    // leaves them out, so only an explicit different value is an error.
    for f in ["uid", "creationTimestamp"] {
        let (n, o) = (str_at(meta, f), str_at(old_meta, f));
        if !n.is_empty() && n != o {
            errs.push(FieldError::invalid(
                child("metadata", f),
                n,
                FIELD_IMMUTABLE,
            ));
        }
    }
    validate_labels(&string_map(meta, "labels"), "metadata.labels", errs);
    validate_annotations(
        &string_map(meta, "annotations"),
        "metadata.annotations",
        errs,
    );
    validate_owner_references(
        arr_at(meta, "ownerReferences"),
        "metadata.ownerReferences",
        errs,
    );
    validate_finalizers(arr_at(meta, "finalizers"), "metadata.finalizers", errs);
    for (i, f) in arr_at(meta, "finalizers").iter().enumerate() {
        validate_kube_finalizer_name(
            f.as_str().unwrap_or(""),
            &index("metadata.finalizers", i),
            errs,
        );
    }
}

// ---------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------

/// Renders a metav1.LabelSelector the way json.Marshal orders its fields.
fn render_label_selector(sel: Option<&Value>) -> String {
    let Some(Value::Object(m)) = sel else {
        return "null".to_string();
    };
    let mut parts = Vec::new();
    if let Some(ml) = m
        .get("matchLabels")
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
    {
        parts.push(format!("\"matchLabels\":{}", go_json(ml)));
    }
    if let Some(Value::Array(exprs)) = m
        .get("matchExpressions")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        let rendered: Vec<String> = exprs
            .iter()
            .map(|e| {
                let mut s = format!(
                    "{{\"key\":{},\"operator\":{}",
                    go_json(&json!(str_at(e, "key"))),
                    go_json(&json!(str_at(e, "operator")))
                );
                let values = arr_at(e, "values");
                if !values.is_empty() {
                    let _ = write!(s, ",\"values\":{}", go_json(&Value::Array(values.to_vec())));
                }
                s.push('}');
                s
            })
            .collect();
        parts.push(format!("\"matchExpressions\":[{}]", rendered.join(",")));
    }
    format!("{{{}}}", parts.join(","))
}

/// ValidateLabelSelector with strict label values; returns true when the selector would also
/// fail metav1.LabelSelectorAsSelector.
fn validate_label_selector(
    sel: &Value,
    path: &str,
    strict_values: bool,
    errs: &mut Vec<FieldError>,
) -> bool {
    let before = errs.len();
    let mut conversion_fails = false;
    let match_labels = string_map(sel, "matchLabels");
    validate_labels(&match_labels, &child(path, "matchLabels"), errs);
    for (i, expr) in arr_at(sel, "matchExpressions").iter().enumerate() {
        let ep = index(&child(path, "matchExpressions"), i);
        let values = arr_at(expr, "values");
        let op = str_at(expr, "operator");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&ep, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&ep, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                child(&ep, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        validate_label_name(str_at(expr, "key"), &child(&ep, "key"), errs);
        for (vi, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            let msgs = is_valid_label_value(v);
            conversion_fails |= !msgs.is_empty();
            if strict_values {
                for m in msgs {
                    errs.push(FieldError::invalid(index(&child(&ep, "values"), vi), v, m));
                }
            }
        }
    }
    conversion_fails || errs.len() > before
}

/// Whether a label selector (with the LabelSelectorAsSelector semantics) matches `labels`.
/// A missing selector matches nothing and an empty one matches everything.
fn selector_matches(sel: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = sel else { return false };
    for (k, v) in string_map(sel, "matchLabels") {
        if labels.get(&k) != Some(&v) {
            return false;
        }
    }
    for expr in arr_at(sel, "matchExpressions") {
        let k = str_at(expr, "key");
        let values: Vec<&str> = arr_at(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let present = labels.get(k);
        let ok = match str_at(expr, "operator") {
            "In" => present.is_some_and(|v| values.contains(&v.as_str())),
            "NotIn" => present.is_none_or(|v| !values.contains(&v.as_str())),
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a selector has no requirements at all (so it selects everything).
fn selector_is_empty(sel: &Value) -> bool {
    obj_at(sel, "matchLabels").is_none_or(Map::is_empty)
        && arr_at(sel, "matchExpressions").is_empty()
}

fn labels_of(meta: Option<&Value>) -> BTreeMap<String, String> {
    meta.map(|m| string_map(m, "labels").into_iter().collect())
        .unwrap_or_default()
}

fn labels_value(meta: Option<&Value>) -> Value {
    meta.and_then(|m| get(m, "labels"))
        .cloned()
        .unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// Pod specs (pkg/apis/core/validation: ValidatePodSpec and friends)
// ---------------------------------------------------------------------------

const FILE_MODE_ERR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Volume source fields in upstream's checking order: (JSON name, path used when it is the
/// second source, path used when validating it).
const VOLUME_SOURCES: &[(&str, &str, &str)] = &[
    ("emptyDir", "emptyDir", "emptyDir"),
    ("hostPath", "hostPath", "hostPath"),
    ("gitRepo", "gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk", "persistentDisk"),
    (
        "awsElasticBlockStore",
        "awsElasticBlockStore",
        "awsElasticBlockStore",
    ),
    ("secret", "secret", "secret"),
    ("nfs", "nfs", "nfs"),
    ("iscsi", "iscsi", "iscsi"),
    ("glusterfs", "glusterfs", "glusterfs"),
    ("flocker", "flocker", "flocker"),
    (
        "persistentVolumeClaim",
        "persistentVolumeClaim",
        "persistentVolumeClaim",
    ),
    ("rbd", "rbd", "rbd"),
    ("cinder", "cinder", "cinder"),
    ("cephfs", "cephFS", "cephfs"),
    ("quobyte", "quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI", "downwardAPI"),
    ("fc", "fc", "fc"),
    ("flexVolume", "flexVolume", "flexVolume"),
    ("configMap", "configMap", "configMap"),
    ("azureFile", "azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume", "vsphereVolume"),
    (
        "photonPersistentDisk",
        "photonPersistentDisk",
        "photonPersistentDisk",
    ),
    ("portworxVolume", "portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk", "azureDisk"),
    ("storageos", "storageos", "storageos"),
    ("projected", "projected", "projected"),
    ("scaleIO", "scaleIO", "scaleIO"),
    ("csi", "csi", "csi"),
    ("ephemeral", "ephemeral", "ephemeral"),
    ("image", "image", "image"),
];

/// What a pod spec is embedded in, which relaxes or tightens a few checks.
#[derive(Clone, Copy)]
struct PodOpts {
    /// The top-level object is a Pod rather than a template (upstream's ResourceIsPod).
    is_pod: bool,
}

fn validate_path_no_backsteps(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
}

fn validate_local_descending_path(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    validate_path_no_backsteps(p, path, errs);
}

fn validate_key_to_paths(items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, item) in items.iter().enumerate() {
        let ip = index(path, i);
        if str_at(item, "key").is_empty() {
            errs.push(FieldError::required(child(&ip, "key"), ""));
        }
        let p = str_at(item, "path");
        if p.is_empty() {
            errs.push(FieldError::required(child(&ip, "path"), ""));
        }
        validate_local_non_reserved_path(p, &child(&ip, "path"), errs);
        if let Some(mode) = int_at(item, "mode")
            && !(0..=0o777).contains(&mode)
        {
            errs.push(FieldError::invalid(child(&ip, "mode"), mode, FILE_MODE_ERR));
        }
    }
}

fn validate_local_non_reserved_path(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    validate_local_descending_path(p, path, errs);
    if p.starts_with("..") {
        errs.push(FieldError::invalid(path, p, "must not start with '..'"));
    }
}

fn validate_default_mode(src: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(mode) = int_at(src, "defaultMode")
        && !(0..=0o777).contains(&mode)
    {
        errs.push(FieldError::invalid(
            child(path, "defaultMode"),
            mode,
            FILE_MODE_ERR,
        ));
    }
}

/// Checks the content of one volume source, for the commonly used source types.
fn validate_volume_source_body(kind: &str, src: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match kind {
        "hostPath" => {
            let p = str_at(src, "path");
            if p.is_empty() {
                errs.push(FieldError::required(child(path, "path"), ""));
                return;
            }
            validate_path_no_backsteps(p, &child(path, "path"), errs);
            let t = str_at(src, "type");
            let valid = [
                "",
                "BlockDevice",
                "CharDevice",
                "Directory",
                "DirectoryOrCreate",
                "File",
                "FileOrCreate",
                "Socket",
            ];
            if get(src, "type").is_some() && !valid.contains(&t) {
                errs.push(FieldError::not_supported(child(path, "type"), t, &valid));
            }
        }
        "gitRepo" => {
            if str_at(src, "repository").is_empty() {
                errs.push(FieldError::required(child(path, "repository"), ""));
            }
            validate_local_descending_path(
                str_at(src, "directory"),
                &child(path, "directory"),
                errs,
            );
        }
        "secret" => {
            if str_at(src, "secretName").is_empty() {
                errs.push(FieldError::required(child(path, "secretName"), ""));
            }
            validate_default_mode(src, path, errs);
            validate_key_to_paths(arr_at(src, "items"), &child(path, "items"), errs);
        }
        "configMap" => {
            if str_at(src, "name").is_empty() {
                errs.push(FieldError::required(child(path, "name"), ""));
            }
            validate_default_mode(src, path, errs);
            validate_key_to_paths(arr_at(src, "items"), &child(path, "items"), errs);
        }
        "persistentVolumeClaim" if str_at(src, "claimName").is_empty() => {
            errs.push(FieldError::required(child(path, "claimName"), ""));
        }
        "nfs" => {
            if str_at(src, "server").is_empty() {
                errs.push(FieldError::required(child(path, "server"), ""));
            }
            let p = str_at(src, "path");
            if p.is_empty() {
                errs.push(FieldError::required(child(path, "path"), ""));
            } else if !p.starts_with('/') {
                errs.push(FieldError::invalid(
                    child(path, "path"),
                    p,
                    "must be an absolute path",
                ));
            }
        }
        "csi" if str_at(src, "driver").is_empty() => {
            errs.push(FieldError::required(child(path, "driver"), ""));
        }
        "downwardAPI" | "projected" => validate_default_mode(src, path, errs),
        _ => {}
    }
}

/// ValidateVolumes; returns the names of the volumes that passed, with their source type.
fn validate_volumes(
    volumes: &[Value],
    path: &str,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    let mut known = BTreeMap::new();
    for (i, vol) in volumes.iter().enumerate() {
        let vp = index(path, i);
        let mut el = Vec::new();
        let mut source_kind = String::new();
        let mut count = 0;
        for (json_name, dup_path, check_path) in VOLUME_SOURCES {
            if let Some(src) = get(vol, json_name) {
                if count > 0 {
                    el.push(FieldError::forbidden(
                        child(&vp, dup_path),
                        "may not specify more than 1 volume type",
                    ));
                } else {
                    count += 1;
                    source_kind = (*json_name).to_string();
                    validate_volume_source_body(json_name, src, &child(&vp, check_path), &mut el);
                }
            }
        }
        if count == 0 {
            el.push(FieldError::required(
                vp.clone(),
                "must specify a volume type",
            ));
        }
        let name = str_at(vol, "name");
        if name.is_empty() {
            el.push(FieldError::required(child(&vp, "name"), ""));
        } else {
            for m in is_dns1123_label(name) {
                el.push(FieldError::invalid(child(&vp, "name"), name, m));
            }
        }
        if known.contains_key(name) {
            el.push(FieldError::duplicate(child(&vp, "name"), name));
        }
        if el.is_empty() {
            known.insert(name.to_string(), source_kind);
        } else {
            errs.extend(el);
        }
    }
    known
}

fn validate_container_ports(ports: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index(path, i);
        let name = str_at(p, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(child(&pp, "name"), name, m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(child(&pp, "name"), name));
            }
        }
        let cp = int_at(p, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(child(&pp, "containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(child(&pp, "containerPort"), cp, m));
            }
        }
        let hp = int_at(p, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(child(&pp, "hostPort"), hp, m));
            }
        }
        validate_protocol(str_at(p, "protocol"), &child(&pp, "protocol"), errs);
    }
}

fn validate_protocol(proto: &str, path: &str, errs: &mut Vec<FieldError>) {
    if proto.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else if !matches!(proto, "TCP" | "UDP" | "SCTP") {
        errs.push(FieldError::not_supported(
            path,
            proto,
            &["SCTP", "TCP", "UDP"],
        ));
    }
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths the v1 downward API knows about at all.
const DOWNWARD_API_V1_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Splits `metadata.labels['key']` into the path and the subscript.
fn split_subscripted(p: &str) -> Option<(&str, &str)> {
    let open = p.find("['")?;
    let inner = p[open + 2..].strip_suffix("']")?;
    Some((&p[..open], inner))
}

fn validate_object_field_selector(fs: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let api_version = str_at(fs, "apiVersion");
    if api_version.is_empty() {
        errs.push(FieldError::required(child(path, "apiVersion"), ""));
        return;
    }
    let fp = str_at(fs, "fieldPath");
    if fp.is_empty() {
        errs.push(FieldError::required(child(path, "fieldPath"), ""));
        return;
    }
    let base = split_subscripted(fp).map_or(fp, |(b, _)| b);
    let convertible = api_version == "v1" && DOWNWARD_API_V1_PATHS.contains(&base);
    if !convertible {
        errs.push(FieldError::invalid(
            child(path, "fieldPath"),
            fp,
            format!("error converting fieldPath: field label not supported: {fp}"),
        ));
        return;
    }
    if let Some((p, sub)) = split_subscripted(fp) {
        match p {
            "metadata.annotations" => {
                for m in is_qualified_name(&sub.to_lowercase()) {
                    errs.push(FieldError::invalid(path, sub.to_lowercase(), m));
                }
            }
            "metadata.labels" => {
                for m in is_qualified_name(sub) {
                    errs.push(FieldError::invalid(path, sub, m));
                }
            }
            other => errs.push(FieldError::invalid(
                path,
                other,
                "does not support subscript",
            )),
        }
    } else if !ENV_FIELD_PATHS.contains(&fp) {
        errs.push(FieldError::not_supported(
            child(path, "fieldPath"),
            fp,
            ENV_FIELD_PATHS,
        ));
    }
}

fn validate_name_ref(name: &str, prefix: bool, path: &str, errs: &mut Vec<FieldError>) {
    let checked = if prefix {
        mask_trailing_dash(name)
    } else {
        name.to_string()
    };
    for m in is_dns1123_subdomain(&checked) {
        errs.push(FieldError::invalid(path, name, m));
    }
}

fn validate_key_selector(s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    validate_name_ref(str_at(s, "name"), false, &child(path, "name"), errs);
    let k = str_at(s, "key");
    if k.is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    } else {
        for m in is_config_map_key(k) {
            errs.push(FieldError::invalid(child(path, "key"), k, m));
        }
    }
}

fn validate_env(env: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, ev) in env.iter().enumerate() {
        let ep = index(path, i);
        let name = str_at(ev, "name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&ep, "name"), ""));
        } else {
            for m in is_relaxed_env_var_name(name) {
                errs.push(FieldError::invalid(child(&ep, "name"), name, m));
            }
        }
        let Some(vf) = get(ev, "valueFrom") else {
            continue;
        };
        let vp = child(&ep, "valueFrom");
        let mut n = 0;
        if let Some(fr) = get(vf, "fieldRef") {
            n += 1;
            validate_object_field_selector(fr, &child(&vp, "fieldRef"), errs);
        }
        if let Some(rr) = get(vf, "resourceFieldRef") {
            n += 1;
            let rp = child(&vp, "resourceFieldRef");
            let res = str_at(rr, "resource");
            if res.is_empty() {
                errs.push(FieldError::required(child(&rp, "resource"), ""));
            } else if !RESOURCE_FIELD_PATHS.contains(&res)
                && !res.starts_with("requests.hugepages-")
                && !res.starts_with("limits.hugepages-")
            {
                errs.push(FieldError::not_supported(
                    child(&rp, "resource"),
                    res,
                    RESOURCE_FIELD_PATHS,
                ));
            }
        }
        if let Some(cm) = get(vf, "configMapKeyRef") {
            n += 1;
            validate_key_selector(cm, &child(&vp, "configMapKeyRef"), errs);
        }
        if let Some(sk) = get(vf, "secretKeyRef") {
            n += 1;
            validate_key_selector(sk, &child(&vp, "secretKeyRef"), errs);
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !str_at(ev, "value").is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_env_from(env_from: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, ef) in env_from.iter().enumerate() {
        let ep = index(path, i);
        let prefix = str_at(ef, "prefix");
        if !prefix.is_empty() {
            for m in is_relaxed_env_var_name(prefix) {
                errs.push(FieldError::invalid(child(&ep, "prefix"), prefix, m));
            }
        }
        let mut n = 0;
        for src in ["configMapRef", "secretRef"] {
            if let Some(r) = get(ef, src) {
                n += 1;
                let name = str_at(r, "name");
                let np = child(&child(&ep, src), "name");
                if name.is_empty() {
                    errs.push(FieldError::required(np, ""));
                } else {
                    validate_name_ref(name, true, &np, errs);
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_volume_mounts(
    mounts: &[Value],
    volumes: &BTreeMap<String, String>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut seen = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let mp = index(path, i);
        let name = str_at(m, "name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&mp, "name"), ""));
        }
        if !volumes.contains_key(name) {
            errs.push(FieldError::not_found(child(&mp, "name"), name));
        }
        let mount_path = str_at(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(child(&mp, "mountPath"), ""));
        }
        if !seen.insert(mount_path.to_string()) {
            errs.push(FieldError::invalid(
                child(&mp, "mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        let sub_path = str_at(m, "subPath");
        if volumes.get(name).is_some_and(|k| k == "image") {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    child(&mp, "subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            let expr = str_at(m, "subPathExpr");
            if !expr.is_empty() {
                errs.push(FieldError::invalid(
                    child(&mp, "subPathExpr"),
                    expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        // Upstream reports sub-path problems against the list path, not the item path.
        if !sub_path.is_empty() {
            validate_local_descending_path(sub_path, &child(path, "subPath"), errs);
        }
        let expr = str_at(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    child(&mp, "subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            validate_local_descending_path(expr, &child(path, "subPathExpr"), errs);
        }
    }
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_hugepages(name)
}

fn is_standard_resource(name: &str) -> bool {
    is_standard_container_resource(name)
        || matches!(
            name,
            "pods"
                | "services"
                | "replicationcontrollers"
                | "resourcequotas"
                | "secrets"
                | "configmaps"
                | "persistentvolumeclaims"
                | "storage"
                | "requests.cpu"
                | "requests.memory"
                | "requests.storage"
                | "requests.ephemeral-storage"
                | "limits.cpu"
                | "limits.memory"
                | "limits.ephemeral-storage"
                | "services.nodeports"
                | "services.loadbalancers"
        )
        || name.starts_with("requests.hugepages-")
}

fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn validate_container_resource_name(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    let before = errs.len();
    for m in is_qualified_name(name) {
        errs.push(FieldError::invalid(path, name, m));
    }
    if errs.len() == before && !name.contains('/') && !is_standard_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    if !name.contains('/') {
        if !is_standard_container_resource(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// The byte size of a hugepages resource name such as `hugepages-2Mi`.
fn hugepage_size(name: &str) -> Option<i128> {
    Quantity::parse(name.strip_prefix("hugepages-")?).map(|q| q.nanos / NANO)
}

fn validate_quantity_value(
    name: &str,
    raw_value: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<Quantity> {
    let Some(q) = quantity_of(raw_value) else {
        errs.push(FieldError::invalid(
            path,
            quantity_text(raw_value),
            QUANTITY_REGEX_ERR,
        ));
        return None;
    };
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.canonical(), IS_NEGATIVE));
    }
    if !is_native_resource(name) && !q.is_integer() {
        errs.push(FieldError::invalid(
            path,
            raw(go_quote(&q.canonical())),
            "must be an integer",
        ));
    }
    if is_hugepages(name)
        && let Some(size) = hugepage_size(name)
        && size > 0
        && (q.nanos % (size * NANO) != 0 || q.nanos <= 0)
    {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            format!(
                "{} is not positive integer multiple of {name}",
                q.canonical()
            ),
        ));
    }
    Some(q)
}

fn validate_resources(res: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(res) = res else { return };
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits: Vec<(String, Value)> = sorted_entries(res, "limits");
    let requests: Vec<(String, Value)> = sorted_entries(res, "requests");
    let mut lim_cpu_mem = false;
    let mut req_cpu_mem = false;
    let mut has_huge = false;
    let mut parsed_limits = BTreeMap::new();
    for (name, v) in &limits {
        let fp = key(&lim_path, name);
        validate_container_resource_name(name, &fp, errs);
        if let Some(q) = validate_quantity_value(name, v, &fp, errs) {
            parsed_limits.insert(name.clone(), q);
        }
        has_huge |= is_hugepages(name);
        lim_cpu_mem |= name == "cpu" || name == "memory";
    }
    for (name, v) in &requests {
        let fp = key(&req_path, name);
        validate_container_resource_name(name, &fp, errs);
        let q = validate_quantity_value(name, v, &fp, errs);
        let overcommit = is_native_resource(name) && !is_hugepages(name);
        if let Some(limit) = parsed_limits.get(name) {
            if let Some(q) = q {
                if q.nanos != limit.nanos && !overcommit {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        format!("must be equal to {name} limit of {}", limit.canonical()),
                    ));
                } else if q.nanos > limit.nanos {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            limit.canonical()
                        ),
                    ));
                }
            }
        } else if !overcommit {
            errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            ));
        }
        has_huge |= is_hugepages(name);
        req_cpu_mem |= name == "cpu" || name == "memory";
    }
    if has_huge && !lim_cpu_mem && !req_cpu_mem {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
}

/// The entries of an object at `k`, sorted by key.
fn sorted_entries(v: &Value, k: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = obj_at(v, k)
        .map(|m| m.iter().map(|(a, b)| (a.clone(), b.clone())).collect())
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn validate_port_num_or_name(port: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    match IntOrStr::from_value(port) {
        IntOrStr::Int(p) => {
            for m in is_valid_port_num(p) {
                errs.push(FieldError::invalid(path, p, m));
            }
        }
        IntOrStr::Str(s) => {
            // A numeric string is an int in IntOrString's YAML form, but JSON keeps it a string.
            for m in is_valid_port_name(&s) {
                errs.push(FieldError::invalid(path, s.as_str(), m));
            }
        }
    }
}

/// validateHandler: exactly one of the handler types; `probe` selects probe or lifecycle kinds.
fn validate_handler(
    h: &Value,
    probe: bool,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let kinds: &[&str] = if probe {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    } else {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    };
    let mut n = 0;
    for kind in kinds {
        let Some(body) = get(h, kind) else { continue };
        let hp = child(path, kind);
        if n > 0 {
            errs.push(FieldError::forbidden(
                hp,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        n += 1;
        match *kind {
            "exec" => {
                if arr_at(body, "command").is_empty() {
                    errs.push(FieldError::required(child(&hp, "command"), ""));
                }
            }
            "httpGet" => {
                if str_at(body, "path").is_empty() {
                    errs.push(FieldError::required(child(&hp, "path"), ""));
                }
                validate_port_num_or_name(body.get("port"), &child(&hp, "port"), errs);
                let scheme = str_at(body, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        child(&hp, "scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in arr_at(body, "httpHeaders") {
                    let name = str_at(header, "name");
                    for m in is_http_header_name(name) {
                        errs.push(FieldError::invalid(child(&hp, "httpHeaders"), name, m));
                    }
                }
            }
            "tcpSocket" => validate_port_num_or_name(body.get("port"), &child(&hp, "port"), errs),
            "grpc" => {
                let p = int_at(body, "port").unwrap_or(0);
                for m in is_valid_port_num(p) {
                    errs.push(FieldError::invalid(child(&hp, "port"), p, m));
                }
            }
            _ => {
                let secs = int_at(body, "seconds").unwrap_or(0);
                if let Some(g) = grace
                    && (secs < 0 || secs > g)
                {
                    errs.push(FieldError::invalid(
                        &hp,
                        secs,
                        format!(
                            "must be non-negative and less than terminationGracePeriodSeconds ({g})"
                        ),
                    ));
                }
            }
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

fn validate_probe(
    probe: Option<&Value>,
    kind: &str,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(p) = probe else { return };
    validate_handler(p, true, grace, path, errs);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        let v = int_at(p, f).unwrap_or(0);
        if v < 0 {
            errs.push(FieldError::invalid(child(path, f), v, IS_NEGATIVE));
        }
    }
    if let Some(t) = int_at(p, "terminationGracePeriodSeconds")
        && t <= 0
    {
        errs.push(FieldError::invalid(
            child(path, "terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        "readinessProbe" => {
            if let Some(t) = int_at(p, "terminationGracePeriodSeconds") {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
        _ => {
            let st = int_at(p, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    child(path, "successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
    }
}

fn validate_lifecycle(lc: &Value, grace: Option<i64>, path: &str, errs: &mut Vec<FieldError>) {
    for h in ["postStart", "preStop"] {
        if let Some(handler) = get(lc, h) {
            validate_handler(handler, false, grace, &child(path, h), errs);
        }
    }
}

fn validate_container_common(
    c: &Value,
    volumes: &BTreeMap<String, String>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let name = str_at(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, m));
        }
    }
    if str_at(c, "image").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    let tmp = str_at(c, "terminationMessagePolicy");
    match tmp {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            child(path, "terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            child(path, "terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_container_ports(arr_at(c, "ports"), &child(path, "ports"), errs);
    validate_env(arr_at(c, "env"), &child(path, "env"), errs);
    validate_env_from(arr_at(c, "envFrom"), &child(path, "envFrom"), errs);
    validate_volume_mounts(
        arr_at(c, "volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
        errs,
    );
    let pull = str_at(c, "imagePullPolicy");
    match pull {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(child(path, "imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    validate_resources(get(c, "resources"), &child(path, "resources"), errs);
}

/// Collects `protocol/hostIP/port` keys and reports colliding host ports.
fn check_host_ports(
    containers: &[Value],
    path: &str,
    seen: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in arr_at(c, "ports").iter().enumerate() {
            let hp = int_at(p, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let k = format!("{}/{}/{}", str_at(p, "protocol"), str_at(p, "hostIP"), hp);
            if !seen.insert(k.clone()) {
                errs.push(FieldError::duplicate(
                    child(&index(&child(&index(path, ci), "ports"), pi), "hostPort"),
                    k,
                ));
            }
        }
    }
}

fn validate_containers(
    containers: &[Value],
    volumes: &BTreeMap<String, String>,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if containers.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let cp = index(path, i);
        validate_container_common(c, volumes, &cp, errs);
        let name = str_at(c, "name");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&cp, "name"), name));
        }
        if let Some(lc) = get(c, "lifecycle") {
            validate_lifecycle(lc, grace, &child(&cp, "lifecycle"), errs);
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            validate_probe(get(c, probe), probe, grace, &child(&cp, probe), errs);
        }
        if get(c, "restartPolicy").is_some() {
            errs.push(FieldError::forbidden(
                child(&cp, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    check_host_ports(containers, path, &mut BTreeSet::new(), errs);
}

fn validate_init_containers(
    inits: &[Value],
    regular: &[Value],
    volumes: &BTreeMap<String, String>,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut names: BTreeSet<String> = regular
        .iter()
        .map(|c| str_at(c, "name").to_string())
        .collect();
    for (i, c) in inits.iter().enumerate() {
        let cp = index(path, i);
        validate_container_common(c, volumes, &cp, errs);
        let mut restart_always = false;
        if let Some(rp) = opt_str(c, "restartPolicy") {
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    child(&cp, "restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
            restart_always = rp == "Always";
        }
        let name = str_at(c, "name");
        if names.contains(name) {
            errs.push(FieldError::duplicate(child(&cp, "name"), name));
        } else if !name.is_empty() {
            names.insert(name.to_string());
        }
        check_host_ports(std::slice::from_ref(c), path, &mut BTreeSet::new(), errs);
        if restart_always {
            if let Some(lc) = get(c, "lifecycle") {
                validate_lifecycle(lc, grace, &child(&cp, "lifecycle"), errs);
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                validate_probe(get(c, probe), probe, grace, &child(&cp, probe), errs);
            }
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if get(c, f).is_some() {
                    errs.push(FieldError::forbidden(
                        child(&cp, f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

fn validate_tolerations(tols: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, t) in tols.iter().enumerate() {
        let tp = index(path, i);
        let k = str_at(t, "key");
        let op = str_at(t, "operator");
        let effect = str_at(t, "effect");
        let value = str_at(t, "value");
        if !k.is_empty() {
            validate_label_name(k, &child(&tp, "key"), errs);
        }
        if k.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                child(&tp, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&tp, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&tp, "operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&tp, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&tp, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                child(&tp, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
}

fn validate_dns_config(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let policy = str_at(spec, "dnsPolicy");
    let cfg = get(spec, "dnsConfig");
    if policy == "None" {
        let Some(cfg) = cfg else {
            errs.push(FieldError::required(
                path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        };
        if arr_at(cfg, "nameservers").is_empty() {
            errs.push(FieldError::required(
                child(path, "nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(cfg) = cfg else { return };
    let ns = arr_at(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(FieldError::invalid(
            child(path, "nameservers"),
            Value::Array(ns.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        validate_ip(
            &index(&child(path, "nameservers"), i),
            n.as_str().unwrap_or(""),
            errs,
        );
    }
    let searches: Vec<&str> = arr_at(cfg, "searches")
        .iter()
        .map(|s| s.as_str().unwrap_or(""))
        .collect();
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            Value::Array(arr_at(cfg, "searches").to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            Value::Array(arr_at(cfg, "searches").to_vec()),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        // Relaxed DNS search validation (on by default since 1.33) allows '.' and underscores.
        if *s == "." {
            continue;
        }
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        let ok = trimmed.len() <= 253
            && !trimmed.is_empty()
            && trimmed.split('.').all(|label| {
                let l = label.strip_prefix('_').unwrap_or(label);
                let b = l.as_bytes();
                !b.is_empty()
                    && is_lower_alnum(b[0])
                    && is_lower_alnum(b[b.len() - 1])
                    && b.iter()
                        .all(|&c| is_lower_alnum(c) || c == b'-' || c == b'_')
            });
        let sp = index(&child(path, "searches"), i);
        if trimmed.len() > 253 {
            errs.push(FieldError::invalid(&sp, trimmed, max_len_error(253)));
        }
        if !ok {
            errs.push(FieldError::invalid(
                &sp,
                trimmed,
                regex_error(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character",
                    DNS1123_SUBDOMAIN_FMT,
                    &["example.com"],
                ),
            ));
        }
    }
    for (i, o) in arr_at(cfg, "options").iter().enumerate() {
        if str_at(o, "name").is_empty() {
            errs.push(FieldError::required(
                index(&child(path, "options"), i),
                "must not be empty",
            ));
        }
    }
}

/// ValidatePodSpec.
fn validate_pod_spec(spec: &Value, path: &str, opts: PodOpts, errs: &mut Vec<FieldError>) {
    let grace = int_at(spec, "terminationGracePeriodSeconds");
    if grace.is_none() {
        errs.push(FieldError::required(
            child(path, "terminationGracePeriodSeconds"),
            "",
        ));
    }
    let volumes = validate_volumes(arr_at(spec, "volumes"), &child(path, "volumes"), errs);
    let containers = arr_at(spec, "containers");
    validate_containers(
        containers,
        &volumes,
        grace,
        &child(path, "containers"),
        errs,
    );
    validate_init_containers(
        arr_at(spec, "initContainers"),
        containers,
        &volumes,
        grace,
        &child(path, "initContainers"),
        errs,
    );

    if bool_at(spec, "hostNetwork") {
        for (i, c) in containers.iter().enumerate() {
            for (j, p) in arr_at(c, "ports").iter().enumerate() {
                let hp = int_at(p, "hostPort").unwrap_or(0);
                let cp = int_at(p, "containerPort").unwrap_or(0);
                if (opts.is_pod || hp != 0) && hp != cp {
                    errs.push(FieldError::invalid(
                        child(
                            &index(&child(&index(&child(path, "containers"), i), "ports"), j),
                            "hostPort",
                        ),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    let rp = str_at(spec, "restartPolicy");
    match rp {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(child(path, "restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns = str_at(spec, "dnsPolicy");
    match dns {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(child(path, "dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            child(path, "dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(
        &string_map(spec, "nodeSelector"),
        &child(path, "nodeSelector"),
        errs,
    );
    validate_dns_config(spec, &child(path, "dnsConfig"), errs);
    for (i, g) in arr_at(spec, "readinessGates").iter().enumerate() {
        let ct = str_at(g, "conditionType");
        for m in is_qualified_name(ct) {
            errs.push(FieldError::invalid(
                child(&index(&child(path, "readinessGates"), i), "conditionType"),
                ct,
                m,
            ));
        }
    }
    let mut gates = BTreeSet::new();
    for (i, g) in arr_at(spec, "schedulingGates").iter().enumerate() {
        let n = str_at(g, "name");
        let gp = index(&child(path, "schedulingGates"), i);
        for m in is_qualified_name(n) {
            errs.push(FieldError::invalid(&gp, n, m));
        }
        if !gates.insert(n.to_string()) {
            errs.push(FieldError::duplicate(&gp, n));
        }
    }
    for (field_name, rule) in [
        ("serviceAccountName", NameRule::Subdomain),
        ("nodeName", NameRule::Subdomain),
    ] {
        let v = str_at(spec, field_name);
        if !v.is_empty() {
            for m in check_name(rule, v) {
                errs.push(FieldError::invalid(child(path, field_name), v, m));
            }
        }
    }
    if let Some(ads) = int_at(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            ads,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for f in ["hostname", "subdomain"] {
        let v = str_at(spec, f);
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(FieldError::invalid(child(path, f), v, m));
            }
        }
    }
    validate_tolerations(
        arr_at(spec, "tolerations"),
        &child(path, "tolerations"),
        errs,
    );
    for (i, ha) in arr_at(spec, "hostAliases").iter().enumerate() {
        let hp = index(&child(path, "hostAliases"), i);
        validate_ip(&child(&hp, "ip"), str_at(ha, "ip"), errs);
        for (j, h) in arr_at(ha, "hostnames").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            for m in is_dns1123_subdomain(h) {
                errs.push(FieldError::invalid(
                    index(&child(&hp, "hostnames"), j),
                    h,
                    m,
                ));
            }
        }
    }
    for f in ["priorityClassName", "runtimeClassName"] {
        if let Some(v) = opt_str(spec, f)
            && (f == "runtimeClassName" || !v.is_empty())
        {
            for m in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(child(path, f), v, m));
            }
        }
    }
    if let Some(pp) = opt_str(spec, "preemptionPolicy") {
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(child(path, "preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                child(path, "preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(os) = get(spec, "os") {
        let n = str_at(os, "name");
        let op = child(&child(path, "os"), "name");
        if n.is_empty() {
            errs.push(FieldError::required(op, ""));
        } else if n != "linux" && n != "windows" {
            errs.push(FieldError::not_supported(op, n, &["linux", "windows"]));
        }
    }
}

/// ValidatePodTemplateSpec: template labels, annotations and the pod spec.
fn validate_pod_template_spec(template: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let meta = template.get("metadata").unwrap_or(&empty);
    validate_labels(&string_map(meta, "labels"), &child(path, "labels"), errs);
    validate_annotations(
        &string_map(meta, "annotations"),
        &child(path, "annotations"),
        errs,
    );
    let spec = template.get("spec").unwrap_or(&empty);
    validate_pod_spec(spec, &child(path, "spec"), PodOpts { is_pod: false }, errs);
    if !arr_at(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

// ---------------------------------------------------------------------------
// Pods, pod templates and replication controllers
// ---------------------------------------------------------------------------

fn validate_pod(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    validate_pod_spec(spec, "spec", PodOpts { is_pod: true }, errs);
    for list in ["containers", "initContainers"] {
        for (i, c) in arr_at(spec, list).iter().enumerate() {
            let image = str_at(c, "image");
            if image.len() != image.trim().len() {
                errs.push(FieldError::invalid(
                    child(&index(&child("spec", list), i), "image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    match old {
        None => {
            if !arr_at(spec, "ephemeralContainers").is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.ephemeralContainers",
                    "cannot be set on create",
                ));
            }
            if !str_at(spec, "nodeName").is_empty() && !arr_at(spec, "schedulingGates").is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.nodeName",
                    "cannot be set until all schedulingGates have been cleared",
                ));
            }
        }
        Some(old) => validate_pod_spec_update(spec, old.get("spec").unwrap_or(&empty), errs),
    }
}

/// The parts of ValidatePodUpdate that limit which spec fields may change.
fn validate_pod_spec_update(spec: &Value, old_spec: &Value, errs: &mut Vec<FieldError>) {
    for list in ["containers", "initContainers"] {
        let (new_c, old_c) = (arr_at(spec, list), arr_at(old_spec, list));
        let lp = child("spec", list);
        if new_c.len() != old_c.len() {
            errs.push(FieldError::forbidden(
                lp,
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in new_c.iter().enumerate() {
            if str_at(c, "image").is_empty() {
                errs.push(FieldError::required(child(&index(&lp, i), "image"), ""));
            }
        }
    }
    match (
        int_at(spec, "activeDeadlineSeconds"),
        int_at(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), old_ads) => {
            if n < 0 || n > i64::from(i32::MAX) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    n,
                    inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return;
            }
            if let Some(o) = old_ads
                && o < n
            {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    n,
                    "must be less than or equal to previous value",
                ));
                return;
            }
        }
        (None, Some(_)) => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                Value::Null,
                "must not update from a positive integer to nil value",
            ));
        }
        (None, None) => {}
    }
    // Existing tolerations may only gain a new tolerationSeconds.
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    let new_tols: Vec<Value> = arr_at(spec, "tolerations").iter().map(strip).collect();
    if arr_at(old_spec, "tolerations")
        .iter()
        .any(|o| !new_tols.contains(&strip(o)))
    {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let old_gates: BTreeSet<&str> = arr_at(old_spec, "schedulingGates")
        .iter()
        .map(|g| str_at(g, "name"))
        .collect();
    for (i, g) in arr_at(spec, "schedulingGates").iter().enumerate() {
        let n = str_at(g, "name");
        if !old_gates.contains(n) {
            errs.push(FieldError::forbidden(
                child(&index("spec.schedulingGates", i), "name"),
                format!("only deletion is allowed, but found new scheduling gate '{n}'"),
            ));
        }
    }
    // Compare the specs with the mutable fields masked out.
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    let old_image = arr_at(old_spec, list)
                        .get(i)
                        .map(|o| str_at(o, "image").to_string())
                        .unwrap_or_default();
                    if let Some(cm) = c.as_object_mut() {
                        cm.insert("image".to_string(), json!(old_image));
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match old_spec.get(f) {
                Some(v) => m.insert(f.to_string(), v.clone()),
                None => m.remove(f),
            };
        }
        if int_at(old_spec, "terminationGracePeriodSeconds").is_some_and(|g| g < 0)
            && int_at(spec, "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert(
                "terminationGracePeriodSeconds".to_string(),
                old_spec["terminationGracePeriodSeconds"].clone(),
            );
        }
    }
    if !json_equal(&munged, old_spec) {
        let changed: Vec<String> = changed_keys(&munged, old_spec);
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  core.PodSpec{{\n{}  }}\n",
                changed.iter().map(|k| format!("  \t... // field {k} changed\n")).collect::<String>()
            ),
        ));
    }
}

/// Semantic JSON equality where absent, null and empty collections are the same, as Go's
/// zero values make them.
fn json_equal(a: &Value, b: &Value) -> bool {
    fn is_zero(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.values().all(is_zero),
            Value::String(s) => s.is_empty(),
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => json_equal(p, q),
                (Some(p), None) | (None, Some(p)) => is_zero(p),
                (None, None) => true,
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Null, other) | (other, Value::Null) => is_zero(other),
        _ => a == b,
    }
}

fn changed_keys(a: &Value, b: &Value) -> Vec<String> {
    let empty = Map::new();
    let x = a.as_object().unwrap_or(&empty);
    let y = b.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            !json_equal(
                x.get(*k).unwrap_or(&Value::Null),
                y.get(*k).unwrap_or(&Value::Null),
            )
        })
        .map(|k| go_field_name(k))
        .collect()
}

/// Turns a JSON field name into the Go field name upstream's diff prints.
fn go_field_name(k: &str) -> String {
    let mut c = k.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn validate_pod_template(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    } else {
        validate_object_meta(obj, true, NameRule::Subdomain, errs);
    }
    let empty = Value::Null;
    validate_pod_template_spec(obj.get("template").unwrap_or(&empty), "template", errs);
}

fn validate_replication_controller(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    } else {
        validate_object_meta(obj, true, NameRule::Subdomain, errs);
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    let selector: BTreeMap<String, String> = string_map(spec, "selector").into_iter().collect();
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    nonnegative(spec, "replicas", "spec.replicas", errs);
    match get(spec, "template") {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(t) => {
            let meta = t.get("metadata");
            let labels = labels_of(meta);
            if !selector.is_empty() && !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    labels_value(meta),
                    "`selector` does not match template `labels`",
                ));
            }
            validate_pod_template_spec(t, "spec.template", errs);
            check_template_restart_always(t, "spec.template", "ReplicationController", errs);
        }
    }
}

/// Controllers whose pods must run forever require restartPolicy Always and no deadline.
fn check_template_restart_always(
    template: &Value,
    path: &str,
    kind: &str,
    errs: &mut Vec<FieldError>,
) {
    let empty = Value::Null;
    let spec = template.get("spec").unwrap_or(&empty);
    let rp = str_at(spec, "restartPolicy");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            child(&child(path, "spec"), "restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if get(spec, "activeDeadlineSeconds").is_some() {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

fn nonnegative(v: &Value, k: &str, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = int_at(v, k)
        && n < 0
    {
        errs.push(FieldError::invalid(path, n, IS_NEGATIVE));
    }
}

// ---------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------

/// The cluster IP and IPs as upstream validates them: on update the allocated values are
/// first copied from the stored object when the client left them out (patchAllocatedValues),
/// then the singular and plural fields are synced (normalizeClusterIPs).
fn effective_cluster_ips(spec: &Value, old_spec: Option<&Value>) -> (String, Vec<String>) {
    let list = |s: &Value| -> Vec<String> {
        arr_at(s, "clusterIPs")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    };
    let mut ips = list(spec);
    let mut ip = str_at(spec, "clusterIP").to_string();
    match old_spec {
        None => {
            if !ip.is_empty() && ips.is_empty() {
                ips = vec![ip.clone()];
            }
        }
        Some(old) => {
            let old_ips = list(old);
            let old_ip = str_at(old, "clusterIP");
            if str_at(spec, "type") != "ExternalName" && str_at(old, "type") != "ExternalName" {
                if ip.is_empty() {
                    ip = old_ip.to_string();
                }
                if ips.is_empty() && !old_ips.is_empty() {
                    ips = old_ips.clone();
                }
            }
            if !old_ips.is_empty() && ips.is_empty() && old_ip == ip {
                ips = old_ips.clone();
            }
            if old_ip != ip {
                let same_plural = ips == old_ips;
                if !old_ip.is_empty() && ip.is_empty() && same_plural {
                    ips.clear();
                }
                if !ip.is_empty() && same_plural {
                    ips = vec![ip.clone()];
                }
            }
        }
    }
    (ip, ips)
}

fn string_list(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// Renders a Service port the way the internal core.ServicePort struct marshals (duplicate
/// port errors show the whole struct with Go field names).
fn render_service_port_key(protocol: &str, port: i64) -> Value {
    raw(format!(
        "{{\"Name\":\"\",\"Protocol\":{},\"AppProtocol\":null,\"Port\":{port},\"TargetPort\":0,\"NodePort\":0}}",
        go_json(&json!(protocol))
    ))
}

fn validate_service(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    let old_spec = old.map(|o| o.get("spec").unwrap_or(&empty));
    let (cluster_ip, cluster_ips) = effective_cluster_ips(spec, old_spec);
    let svc_type = str_at(spec, "type");
    let headless = cluster_ips.len() == 1 && cluster_ips[0] == "None";

    if let (Some(old), Some(old_spec)) = (old, old_spec) {
        validate_object_meta_update(obj, old, errs);
        let (_, old_ips) = effective_cluster_ips(old_spec, None);
        let old_headless = old_ips.len() == 1 && old_ips[0] == "None";
        validate_cluster_ips_update(
            spec,
            old_spec,
            &cluster_ips,
            &old_ips,
            headless,
            old_headless,
            errs,
        );
        validate_ip_families_update(spec, old_spec, &cluster_ips, headless, old_headless, errs);
        if svc_type == "LoadBalancer"
            && str_at(old_spec, "type") == "LoadBalancer"
            && opt_str(spec, "loadBalancerClass") != opt_str(old_spec, "loadBalancerClass")
        {
            errs.push(FieldError::invalid(
                "spec.loadBalancerClass",
                spec.get("loadBalancerClass")
                    .cloned()
                    .unwrap_or(Value::Null),
                "may not change once set",
            ));
        }
        let needs_hc = |s: &Value| {
            str_at(s, "type") == "LoadBalancer" && str_at(s, "externalTrafficPolicy") == "Local"
        };
        if needs_hc(spec) && needs_hc(old_spec) {
            let (n, o) = (
                int_at(spec, "healthCheckNodePort").unwrap_or(0),
                int_at(old_spec, "healthCheckNodePort").unwrap_or(0),
            );
            if n != 0 && n != o {
                errs.push(FieldError::forbidden(
                    "spec.healthCheckNodePort",
                    FIELD_IMMUTABLE,
                ));
            }
        }
    }

    validate_object_meta(obj, true, NameRule::Dns1035, errs);
    let annotations: BTreeMap<String, String> = obj
        .get("metadata")
        .map(|m| string_map(m, "annotations").into_iter().collect())
        .unwrap_or_default();
    if let (Some(mode), Some(hints)) = (
        annotations.get("service.kubernetes.io/topology-mode"),
        annotations.get("service.kubernetes.io/topology-aware-hints"),
    ) && mode != hints
    {
        errs.push(FieldError::invalid(
            "metadata.annotations[service.kubernetes.io/topology-mode]",
            mode.as_str(),
            "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
        ));
    }

    let ports = arr_at(spec, "ports");
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                cluster_ips[0].as_str(),
                format!("may not be set to 'None' for {svc_type} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !arr_at(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if get(spec, "ipFamilyPolicy").is_some() {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let en = str_at(spec, "externalName");
            let cname = en.strip_suffix('.').unwrap_or(en);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                for m in is_dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid("spec.externalName", cname, m));
                }
            }
        }
        _ => {}
    }

    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            p,
            ports.len() > 1,
            &mut names,
            &index("spec.ports", i),
            errs,
        );
    }
    if get(spec, "selector").is_some() {
        validate_labels(&string_map(spec, "selector"), "spec.selector", errs);
    }
    let affinity = str_at(spec, "sessionAffinity");
    if affinity.is_empty() {
        errs.push(FieldError::required("spec.sessionAffinity", ""));
    } else if affinity != "ClientIP" && affinity != "None" {
        errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            affinity,
            &["ClientIP", "None"],
        ));
    }
    if affinity == "ClientIP" {
        validate_client_ip_affinity(get(spec, "sessionAffinityConfig"), errs);
    } else if affinity == "None" && get(spec, "sessionAffinityConfig").is_some() {
        errs.push(FieldError::forbidden(
            "spec.sessionAffinityConfig",
            "must not be set when session affinity is None",
        ));
    }
    validate_cluster_ips_related(spec, &cluster_ip, &cluster_ips, headless, errs);
    for (i, ip) in arr_at(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let ip_path = index("spec.externalIPs", i);
        if validate_ip(&ip_path, ip, errs) {
            validate_non_special_ip(&ip_path, ip, errs);
        }
    }
    if svc_type.is_empty() {
        errs.push(FieldError::required("spec.type", ""));
    } else if !matches!(
        svc_type,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        errs.push(FieldError::not_supported(
            "spec.type",
            svc_type,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    if svc_type == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int_at(p, "nodePort").unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    child(&index("spec.ports", i), "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int_at(p, "nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((str_at(p, "protocol").to_string(), np)) {
            errs.push(FieldError::duplicate(
                child(&index("spec.ports", i), "nodePort"),
                np,
            ));
        }
    }
    let mut port_keys = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = str_at(p, "protocol");
        let port = int_at(p, "port").unwrap_or(0);
        if !port_keys.insert((proto.to_string(), port)) {
            errs.push(FieldError::duplicate(
                index("spec.ports", i),
                render_service_port_key(proto, port),
            ));
        }
    }
    let ranges = arr_at(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        if svc_type != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                "spec.LoadBalancerSourceRanges",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            validate_cidr(
                &index("spec.LoadBalancerSourceRanges", i),
                r.as_str().unwrap_or("").trim(),
                errs,
            );
        }
    } else if let Some(val) =
        annotations.get("service.beta.kubernetes.io/load-balancer-source-ranges")
    {
        let p = "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]";
        if svc_type != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                p,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let val = val.trim();
        if !val.is_empty() {
            for cidr in val.split(',') {
                validate_cidr(p, cidr.trim(), errs);
            }
        }
    }
    if get(spec, "allocateLoadBalancerNodePorts").is_some() && svc_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if svc_type == "LoadBalancer" && get(spec, "allocateLoadBalancerNodePorts").is_none() {
        // Upstream builds this path without the `spec` prefix.
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    if let Some(class) = opt_str(spec, "loadBalancerClass") {
        if svc_type == "LoadBalancer" {
            for m in is_qualified_name(class) {
                errs.push(FieldError::invalid("spec.loadBalancerClass", class, m));
            }
        } else {
            errs.push(FieldError::forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    validate_traffic_policies(spec, errs);
}

fn validate_service_port(
    p: &Value,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let name = str_at(p, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else if !name.is_empty() {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, m));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(path, "name"), name));
        }
    }
    let port = int_at(p, "port").unwrap_or(0);
    for m in is_valid_port_num(port) {
        errs.push(FieldError::invalid(child(path, "port"), port, m));
    }
    validate_protocol(str_at(p, "protocol"), &child(path, "protocol"), errs);
    validate_port_num_or_name(p.get("targetPort"), &child(path, "targetPort"), errs);
    if let Some(ap) = opt_str(p, "appProtocol") {
        for m in is_qualified_name(ap) {
            errs.push(FieldError::invalid(child(path, "appProtocol"), ap, m));
        }
    }
}

fn validate_client_ip_affinity(config: Option<&Value>, errs: &mut Vec<FieldError>) {
    let detail = "when session affinity type is ClientIP";
    let Some(config) = config else {
        errs.push(FieldError::required("spec.sessionAffinityConfig", detail));
        return;
    };
    let Some(client_ip) = get(config, "clientIP") else {
        errs.push(FieldError::required(
            "spec.sessionAffinityConfig.clientIP",
            detail,
        ));
        return;
    };
    let Some(timeout) = int_at(client_ip, "timeoutSeconds") else {
        errs.push(FieldError::required(
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            detail,
        ));
        return;
    };
    if timeout <= 0 || timeout > 86400 {
        errs.push(FieldError::invalid(
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            timeout,
            "must be greater than 0 and less than 86400",
        ));
    }
}

/// ValidateServiceClusterIPsRelatedFields.
fn validate_cluster_ips_related(
    spec: &Value,
    cluster_ip: &str,
    ips: &[String],
    headless: bool,
    errs: &mut Vec<FieldError>,
) {
    if str_at(spec, "type") == "ExternalName" {
        return;
    }
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required("spec.clusterIPs", ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                "spec.clusterIPs",
                string_list(ips),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            string_list(ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families: Vec<&str> = arr_at(spec, "ipFamilies")
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    let mut seen = BTreeSet::new();
    for (i, f) in families.iter().enumerate() {
        if *f != "IPv4" && *f != "IPv6" {
            errs.push(FieldError::not_supported(
                index("spec.ipFamilies", i),
                *f,
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(*f) {
            errs.push(FieldError::duplicate(index("spec.ipFamilies", i), *f));
        }
    }
    if let Some(policy) = opt_str(spec, "ipFamilyPolicy")
        && !matches!(
            policy,
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        errs.push(FieldError::not_supported(
            "spec.ipFamilyPolicy",
            policy,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    string_list(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        invalid |= !validate_ip(&index("spec.clusterIPs", i), ip, errs);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            string_list(ips),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| is_ipv6_string(ip)).count();
        let dual = ips.len() == 2 && v6 == 1;
        if !dual {
            errs.push(FieldError::invalid(
                "spec.clusterIPs",
                string_list(ips),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !headless && !ips.is_empty() && !families.is_empty() {
        for (i, ip) in ips.iter().enumerate() {
            let Some(f) = families.get(i) else { break };
            if *f == "IPv4" && is_ipv6_string(ip) {
                errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    ip.as_str(),
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if *f == "IPv6" && !is_ipv6_string(ip) {
                errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    ip.as_str(),
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

fn validate_cluster_ips_update(
    spec: &Value,
    old_spec: &Value,
    new_ips: &[String],
    old_ips: &[String],
    headless: bool,
    old_headless: bool,
    errs: &mut Vec<FieldError>,
) {
    if str_at(spec, "type") == "ExternalName"
        || str_at(old_spec, "type") == "ExternalName"
        || (headless && old_headless)
    {
        return;
    }
    let bad = || string_list(new_ips);
    if old_ips.len() == new_ips.len() {
        for (i, ip) in old_ips.iter().enumerate() {
            if *ip != new_ips[i] {
                errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    bad(),
                    "may not change once set",
                ));
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                bad(),
                "primary clusterIP can not be unset",
            ));
        }
        if !old_ips.is_empty() && !new_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                bad(),
                "may not change once set",
            ));
        }
        if new_ips.len() == 1 && opt_str(spec, "ipFamilyPolicy") != Some("SingleStack") {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                spec.get("ipFamilyPolicy").cloned().unwrap_or(Value::Null),
                "must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            bad(),
            "may not change once set",
        ));
    }
}

fn validate_ip_families_update(
    spec: &Value,
    old_spec: &Value,
    new_ips: &[String],
    headless: bool,
    old_headless: bool,
    errs: &mut Vec<FieldError>,
) {
    if str_at(spec, "type") == "ExternalName"
        || str_at(old_spec, "type") == "ExternalName"
        || headless != old_headless
        || headless
    {
        return;
    }
    let fam = |s: &Value| -> Vec<String> {
        arr_at(s, "ipFamilies")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    };
    let (new_f, old_f) = (fam(spec), fam(old_spec));
    // A client that leaves ipFamilies out keeps the allocated ones.
    if new_f.is_empty() && !old_f.is_empty() {
        return;
    }
    if new_f.len() == old_f.len() {
        if new_f != old_f {
            for (i, f) in old_f.iter().enumerate() {
                if *f != new_f[i] {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilies[0]",
                        string_list(&new_f),
                        "may not change once set",
                    ));
                }
            }
        }
    } else if old_f.len() > new_f.len() {
        if new_ips.is_empty() {
            errs.push(FieldError::invalid(
                "spec.ipFamilies[0]",
                string_list(&new_f),
                "primary ipFamily can not be unset",
            ));
        }
        if !new_f.is_empty() && new_f[0] != old_f[0] {
            errs.push(FieldError::invalid(
                "spec.ipFamilies[0]",
                string_list(new_ips),
                "may not change once set",
            ));
        }
        if new_f.len() == 1 && opt_str(spec, "ipFamilyPolicy") != Some("SingleStack") {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                spec.get("ipFamilyPolicy").cloned().unwrap_or(Value::Null),
                "must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !old_f.is_empty() && !new_f.is_empty() && new_f[0] != old_f[0] {
        errs.push(FieldError::invalid(
            "spec.ipFamilies[0]",
            string_list(new_ips),
            "may not change once set",
        ));
    }
}

fn validate_traffic_policies(spec: &Value, errs: &mut Vec<FieldError>) {
    let etp = str_at(spec, "externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            "spec.externalTrafficPolicy",
            etp,
            &["Cluster", "Local"],
        ));
    }
    let svc_type = str_at(spec, "type");
    let hc = int_at(spec, "healthCheckNodePort").unwrap_or(0);
    if !(svc_type == "LoadBalancer" && etp == "Local") {
        if hc != 0 {
            errs.push(FieldError::invalid(
                "spec.healthCheckNodePort",
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        errs.push(FieldError::required("spec.healthCheckNodePort", ""));
    } else {
        for m in is_valid_port_num(hc) {
            errs.push(FieldError::invalid("spec.healthCheckNodePort", hc, m));
        }
    }
    match opt_str(spec, "internalTrafficPolicy") {
        None => {
            if matches!(svc_type, "NodePort" | "LoadBalancer" | "ClusterIP") {
                errs.push(FieldError::required("spec.internalTrafficPolicy", ""));
            }
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(
                "spec.internalTrafficPolicy",
                p,
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    if let Some(td) = opt_str(spec, "trafficDistribution")
        && !matches!(td, "PreferClose" | "PreferSameZone" | "PreferSameNode")
    {
        errs.push(FieldError::not_supported(
            "spec.trafficDistribution",
            td,
            &["PreferClose", "PreferSameNode", "PreferSameZone"],
        ));
    }
}

// ---------------------------------------------------------------------------
// Namespaces, secrets, config maps, service accounts, endpoints
// ---------------------------------------------------------------------------

fn validate_namespace(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
        return;
    }
    validate_object_meta(obj, false, NameRule::Label, errs);
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    for f in arr_at(spec, "finalizers") {
        let f = f.as_str().unwrap_or("");
        for m in is_qualified_name(f) {
            errs.push(FieldError::invalid("spec.finalizers", f, m));
        }
        validate_kube_finalizer_name(f, "spec.finalizers", errs);
    }
}

/// The decoded length of a base64 string (secret data travels base64-encoded in JSON).
fn base64_decoded_len(s: &str) -> usize {
    let trimmed = s.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

/// A Go-like json.Unmarshal error for content that must be a JSON object, or None when valid.
fn go_json_object_error(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let first = text.trim_start().chars().next();
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => None,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => return None,
            };
            Some(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) => Some(match first {
            None => "unexpected end of JSON input".to_string(),
            Some(c @ ('t' | 'f' | 'n')) => {
                let literal = match c {
                    't' => "true",
                    'f' => "false",
                    _ => "null",
                };
                let found = text.trim_start();
                match found.chars().zip(literal.chars()).find(|(a, b)| a != b) {
                    Some((a, b)) => {
                        format!("invalid character '{a}' in literal {literal} (expecting '{b}')")
                    }
                    None if found.len() < literal.len() => {
                        "unexpected end of JSON input".to_string()
                    }
                    None => e.to_string(),
                }
            }
            Some(c) if e.is_eof() && matches!(c, '{' | '[' | '"') => {
                "unexpected end of JSON input".to_string()
            }
            Some(c) if !matches!(c, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') => {
                format!("invalid character '{c}' looking for beginning of value")
            }
            Some(_) => e.to_string(),
        }),
    }
}

const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn validate_secret(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
        let (t, ot) = (str_at(obj, "type"), str_at(old, "type"));
        if t != ot {
            errs.push(FieldError::invalid("type", t, FIELD_IMMUTABLE));
        }
        if bool_at(old, "immutable") {
            if !bool_at(obj, "immutable") {
                errs.push(FieldError::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
            if secret_data(obj) != secret_data(old) {
                errs.push(FieldError::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    let data = secret_data(obj);
    let mut total = 0usize;
    for (k, v) in &data {
        for m in is_config_map_key(k) {
            errs.push(FieldError::invalid(key("data", k), k.as_str(), m));
        }
        total += v.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let annotations: BTreeMap<String, String> = obj
        .get("metadata")
        .map(|m| string_map(m, "annotations").into_iter().collect())
        .unwrap_or_default();
    match str_at(obj, "type") {
        "kubernetes.io/service-account-token"
            if annotations
                .get("kubernetes.io/service-account.name")
                .is_none_or(String::is_empty) =>
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let k = if str_at(obj, "type") == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(k) {
                None => errs.push(FieldError::required(key("data", k), "")),
                Some(bytes) => {
                    if let Some(e) = go_json_object_error(bytes) {
                        errs.push(FieldError::invalid(
                            key("data", k),
                            "<secret contents redacted>",
                            e,
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(Vec::is_empty) => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !data.contains_key(k) {
                    errs.push(FieldError::required(key("data", k), ""));
                }
            }
        }
        _ => {}
    }
}

/// The secret's data as upstream validates it: base64-decoded `data` with `stringData`
/// merged over it, as the v1 conversion does.
fn secret_data(obj: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (k, v) in obj_at(obj, "data").into_iter().flatten() {
        out.insert(k.clone(), base64_decode(v.as_str().unwrap_or("")));
    }
    for (k, v) in obj_at(obj, "stringData").into_iter().flatten() {
        out.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
    }
    out
}

fn validate_config_map(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
        if bool_at(old, "immutable") {
            if !bool_at(obj, "immutable") {
                errs.push(FieldError::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
            for f in ["data", "binaryData"] {
                if !json_equal(
                    obj.get(f).unwrap_or(&Value::Null),
                    old.get(f).unwrap_or(&Value::Null),
                ) {
                    errs.push(FieldError::forbidden(
                        f,
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
        }
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    let binary = obj_at(obj, "binaryData");
    let mut total = 0usize;
    for (k, v) in string_map(obj, "data") {
        for m in is_config_map_key(&k) {
            errs.push(FieldError::invalid(key("data", &k), k.as_str(), m));
        }
        if binary.is_some_and(|b| b.contains_key(&k)) {
            errs.push(FieldError::invalid(
                key("data", &k),
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in string_map(obj, "binaryData") {
        for m in is_config_map_key(&k) {
            errs.push(FieldError::invalid(key("binaryData", &k), k.as_str(), m));
        }
        total += base64_decoded_len(&v);
    }
    if total > MAX_SECRET_SIZE {
        // Upstream reports the whole object with an empty field path here.
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
}

fn validate_endpoints(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    for (i, ss) in arr_at(obj, "subsets").iter().enumerate() {
        let sp = index("subsets", i);
        if arr_at(ss, "addresses").is_empty() && arr_at(ss, "notReadyAddresses").is_empty() {
            errs.push(FieldError::required(
                &sp,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr_at(ss, list).iter().enumerate() {
                let ap = index(&child(&sp, list), j);
                let ip = str_at(a, "ip");
                validate_ip(&child(&ap, "ip"), ip, errs);
                let hostname = str_at(a, "hostname");
                if !hostname.is_empty() {
                    for m in is_dns1123_label(hostname) {
                        errs.push(FieldError::invalid(child(&ap, "hostname"), hostname, m));
                    }
                }
                if let Some(node) = opt_str(a, "nodeName") {
                    for m in is_dns1123_subdomain(node) {
                        errs.push(FieldError::invalid(child(&ap, "nodeName"), node, m));
                    }
                }
                validate_non_special_ip(&child(&ap, "ip"), ip, errs);
            }
        }
        let ports = arr_at(ss, "ports");
        for (j, p) in ports.iter().enumerate() {
            let pp = index(&child(&sp, "ports"), j);
            let name = str_at(p, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(child(&pp, "name"), ""));
            } else if !name.is_empty() {
                for m in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(child(&pp, "name"), name, m));
                }
            }
            let port = int_at(p, "port").unwrap_or(0);
            for m in is_valid_port_num(port) {
                errs.push(FieldError::invalid(child(&pp, "port"), port, m));
            }
            validate_protocol(str_at(p, "protocol"), &child(&pp, "protocol"), errs);
            if let Some(ap) = opt_str(p, "appProtocol") {
                for m in is_qualified_name(ap) {
                    errs.push(FieldError::invalid(child(&pp, "appProtocol"), ap, m));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Workloads (pkg/apis/apps/validation, pkg/apis/batch/validation)
// ---------------------------------------------------------------------------

/// Renders an internal IntOrString field value for struct dumps (zero value is the int 0).
fn int_or_str_json(v: Option<&Value>) -> String {
    go_json(&IntOrStr::from_value(v).to_value())
}

/// The integer an IntOrString stands for: a percentage's number, an int, or a numeric string.
fn int_or_percent_value(v: &IntOrStr) -> i64 {
    match v {
        IntOrStr::Int(i) => *i,
        IntOrStr::Str(s) => {
            if is_valid_percent(s) {
                s.trim_end_matches('%').parse().unwrap_or(0)
            } else {
                s.parse().unwrap_or(0)
            }
        }
    }
}

fn validate_positive_int_or_percent(v: &IntOrStr, path: &str, errs: &mut Vec<FieldError>) {
    match v {
        IntOrStr::Str(s) => {
            if !is_valid_percent(s) {
                errs.push(FieldError::invalid(
                    path,
                    s.as_str(),
                    regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"]),
                ));
            }
        }
        IntOrStr::Int(i) => {
            if *i < 0 {
                errs.push(FieldError::invalid(path, *i, IS_NEGATIVE));
            }
        }
    }
}

fn not_more_than_100_percent(v: &IntOrStr, path: &str, errs: &mut Vec<FieldError>) {
    if let IntOrStr::Str(s) = v
        && is_valid_percent(s)
        && int_or_percent_value(v) > 100
    {
        errs.push(FieldError::invalid(
            path,
            s.as_str(),
            "must not be greater than 100%",
        ));
    }
}

/// The selector part shared by Deployment and ReplicaSet; returns whether the template may be
/// validated (LabelSelectorAsSelector succeeded).
fn validate_workload_selector(
    spec: &Value,
    kind_word: &str,
    conversion_detail: &str,
    errs: &mut Vec<FieldError>,
) -> bool {
    match get(spec, "selector") {
        None => {
            errs.push(FieldError::required("spec.selector", ""));
            true
        }
        Some(sel) => {
            let fails = validate_label_selector(sel, "spec.selector", true, errs);
            if selector_is_empty(sel) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    raw(render_label_selector(Some(sel))),
                    format!("empty selector is invalid for {kind_word}"),
                ));
            }
            if fails {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    raw(render_label_selector(Some(sel))),
                    conversion_detail,
                ));
                return false;
            }
            true
        }
    }
}

/// The selector-versus-labels check with LabelSelectorAsSelector semantics.
fn check_selector_matches_template(spec: &Value, errs: &mut Vec<FieldError>) {
    let sel = get(spec, "selector");
    let meta = spec.get("template").and_then(|t| t.get("metadata"));
    if sel.is_some_and(selector_is_empty) {
        return;
    }
    if !selector_matches(sel, &labels_of(meta)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels_value(meta),
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_replica_set_like_template(
    spec: &Value,
    kind_for_deadline: &str,
    errs: &mut Vec<FieldError>,
) {
    check_selector_matches_template(spec, errs);
    let empty = Value::Null;
    let template = spec.get("template").unwrap_or(&empty);
    validate_pod_template_spec(template, "spec.template", errs);
    check_template_restart_always(template, "spec.template", kind_for_deadline, errs);
}

fn selector_immutable(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let sel = obj.get("spec").and_then(|s| get(s, "selector"));
    let old_sel = old.get("spec").and_then(|s| get(s, "selector"));
    if !json_equal(sel.unwrap_or(&empty), old_sel.unwrap_or(&empty)) {
        errs.push(FieldError::invalid(
            "spec.selector",
            raw(render_label_selector(sel)),
            FIELD_IMMUTABLE,
        ));
    }
}

fn validate_deployment(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Subdomain, errs),
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    nonnegative(spec, "replicas", "spec.replicas", errs);
    if validate_workload_selector(spec, "deployment", "invalid label selector", errs) {
        validate_replica_set_like_template(spec, "ReplicaSet", errs);
    }
    let strategy = spec.get("strategy").unwrap_or(&empty);
    let rolling = get(strategy, "rollingUpdate");
    match str_at(strategy, "type") {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let max_unavailable = IntOrStr::from_value(ru.get("maxUnavailable"));
                let max_surge = IntOrStr::from_value(ru.get("maxSurge"));
                validate_positive_int_or_percent(
                    &max_unavailable,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    errs,
                );
                validate_positive_int_or_percent(
                    &max_surge,
                    "spec.strategy.rollingUpdate.maxSurge",
                    errs,
                );
                if int_or_percent_value(&max_unavailable) == 0
                    && int_or_percent_value(&max_surge) == 0
                {
                    errs.push(FieldError::invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        max_unavailable.to_value(),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(
                    &max_unavailable,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    errs,
                );
            }
        },
        other => {
            let ru = match rolling {
                None => "null".to_string(),
                Some(r) => format!(
                    "{{\"MaxUnavailable\":{},\"MaxSurge\":{}}}",
                    int_or_str_json(r.get("maxUnavailable")),
                    int_or_str_json(r.get("maxSurge"))
                ),
            };
            errs.push(FieldError::not_supported(
                "spec.strategy",
                raw(format!(
                    "{{\"Type\":{},\"RollingUpdate\":{ru}}}",
                    go_json(&json!(other))
                )),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
    nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    nonnegative(
        spec,
        "revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(pds) = int_at(spec, "progressDeadlineSeconds") {
        nonnegative(
            spec,
            "progressDeadlineSeconds",
            "spec.progressDeadlineSeconds",
            errs,
        );
        if pds <= int_at(spec, "minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(old) = old {
        selector_immutable(obj, old, errs);
    }
}

fn validate_replica_set(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Subdomain, errs),
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    nonnegative(spec, "replicas", "spec.replicas", errs);
    nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    if validate_workload_selector(spec, "deployment", "invalid label selector", errs) {
        validate_replica_set_like_template(spec, "ReplicaSet", errs);
    }
    if let Some(old) = old {
        selector_immutable(obj, old, errs);
    }
}

fn render_statefulset_rolling(r: Option<&Value>) -> String {
    match r {
        None => "null".to_string(),
        Some(r) => {
            let mu = match get(r, "maxUnavailable") {
                None => "null".to_string(),
                some => int_or_str_json(some),
            };
            format!(
                "{{\"Partition\":{},\"MaxUnavailable\":{mu}}}",
                int_at(r, "partition").unwrap_or(0)
            )
        }
    }
}

fn render_statefulset_strategy(us: &Value) -> String {
    format!(
        "{{\"Type\":{},\"RollingUpdate\":{}}}",
        go_json(&json!(str_at(us, "type"))),
        render_statefulset_rolling(get(us, "rollingUpdate"))
    )
}

fn validate_statefulset(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        // The name is not revalidated on update: older releases allowed subdomain names.
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Label, errs),
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    match str_at(spec, "podManagementPolicy") {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.get("updateStrategy").unwrap_or(&empty);
    match str_at(us, "type") {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(ru) = get(us, "rollingUpdate") {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    raw(render_statefulset_rolling(Some(ru))),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = get(us, "rollingUpdate") {
                nonnegative(
                    ru,
                    "partition",
                    "spec.updateStrategy.rollingUpdate.partition",
                    errs,
                );
                if let Some(mu) = get(ru, "maxUnavailable") {
                    let mu = IntOrStr::from_value(Some(mu));
                    let p = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                    validate_positive_int_or_percent(&mu, p, errs);
                    if int_or_percent_value(&mu) == 0 {
                        errs.push(FieldError::invalid(p, mu.to_value(), "cannot be 0"));
                    }
                    not_more_than_100_percent(&mu, p, errs);
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            raw(render_statefulset_strategy(us)),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_at(policy, f);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    child("spec.persistentVolumeClaimRetentionPolicy", f),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    nonnegative(spec, "replicas", "spec.replicas", errs);
    nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    if let Some(ord) = get(spec, "ordinals") {
        nonnegative(ord, "start", "spec.ordinals.start", errs);
    }
    let mut convertible = true;
    match get(spec, "selector") {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            convertible = !validate_label_selector(sel, "spec.selector", true, errs);
            if selector_is_empty(sel) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    raw(render_label_selector(Some(sel))),
                    "empty selector is invalid for statefulset",
                ));
            }
            if !convertible {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    raw(render_label_selector(Some(sel))),
                    "",
                ));
            }
        }
    }
    if convertible {
        check_selector_matches_template(spec, errs);
        let meta = spec
            .get("template")
            .and_then(|t| t.get("metadata"))
            .unwrap_or(&empty);
        validate_labels(&string_map(meta, "labels"), "spec.template.labels", errs);
        validate_annotations(
            &string_map(meta, "annotations"),
            "spec.template.annotations",
            errs,
        );
    }
    let tspec = spec
        .get("template")
        .and_then(|t| t.get("spec"))
        .unwrap_or(&empty);
    let rp = str_at(tspec, "restartPolicy");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            rp,
            &["Always"],
        ));
    }
    if get(tspec, "activeDeadlineSeconds").is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    if let Some(old) = old {
        let old_spec = old.get("spec").unwrap_or(&empty);
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for f in [
                    "replicas",
                    "template",
                    "updateStrategy",
                    "minReadySeconds",
                    "ordinals",
                    "persistentVolumeClaimRetentionPolicy",
                ] {
                    m.remove(f);
                }
            }
            s
        };
        if !json_equal(&strip(spec), &strip(old_spec)) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

fn validate_daemonset(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Subdomain, errs),
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    let sel = get(spec, "selector");
    let fails = sel.is_some_and(|s| validate_label_selector(s, "spec.selector", true, errs));
    let meta = spec.get("template").and_then(|t| t.get("metadata"));
    if !fails && !sel.is_some_and(selector_is_empty) && !selector_matches(sel, &labels_of(meta)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels_value(meta),
            "`selector` does not match template `labels`",
        ));
    }
    if let Some(s) = sel
        && selector_is_empty(s)
    {
        errs.push(FieldError::invalid(
            "spec.selector",
            raw(render_label_selector(Some(s))),
            "empty selector is invalid for daemonset",
        ));
    }
    let template = spec.get("template").unwrap_or(&empty);
    validate_pod_template_spec(template, "spec.template", errs);
    check_template_restart_always(template, "spec.template", "DaemonSet", errs);
    nonnegative(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    nonnegative(spec, "templateGeneration", "spec.templateGeneration", errs);
    let us = spec.get("updateStrategy").unwrap_or(&empty);
    match str_at(us, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match get(us, "rollingUpdate") {
            None => errs.push(FieldError::required(
                "spec.updateStrategy.rollingUpdate",
                "",
            )),
            Some(ru) => {
                let p = "spec.updateStrategy.rollingUpdate";
                let mu = IntOrStr::from_value(ru.get("maxUnavailable"));
                let ms = IntOrStr::from_value(ru.get("maxSurge"));
                validate_positive_int_or_percent(&mu, &child(p, "maxUnavailable"), errs);
                validate_positive_int_or_percent(&ms, &child(p, "maxSurge"), errs);
                not_more_than_100_percent(&mu, &child(p, "maxUnavailable"), errs);
                not_more_than_100_percent(&ms, &child(p, "maxSurge"), errs);
                let (has_u, has_s) = (
                    int_or_percent_value(&mu) != 0,
                    int_or_percent_value(&ms) != 0,
                );
                if has_u && has_s {
                    errs.push(FieldError::invalid(
                        child(p, "maxSurge"),
                        ms.to_value(),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_u && !has_s {
                    errs.push(FieldError::required(
                        child(p, "maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        other => {
            let ru = match get(us, "rollingUpdate") {
                None => "null".to_string(),
                Some(r) => format!(
                    "{{\"MaxUnavailable\":{},\"MaxSurge\":{}}}",
                    int_or_str_json(r.get("maxUnavailable")),
                    int_or_str_json(r.get("maxSurge"))
                ),
            };
            errs.push(FieldError::not_supported(
                "spec.updateStrategy",
                raw(format!(
                    "{{\"Type\":{},\"RollingUpdate\":{ru}}}",
                    go_json(&json!(other))
                )),
                &["RollingUpdate", "OnDelete"],
            ));
        }
    }
    nonnegative(
        spec,
        "revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(old) = old {
        selector_immutable(obj, old, errs);
    }
}

fn validate_job_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        nonnegative(spec, f, &child(path, f), errs);
    }
    match opt_str(spec, "completionMode") {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if int_at(spec, "completions").is_none() {
                errs.push(FieldError::required(
                    child(path, "completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            child(path, "completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    let sel_path = child(path, "selector");
    match get(spec, "selector") {
        None => errs.push(FieldError::required(&sel_path, "")),
        Some(sel) => {
            validate_label_selector(sel, &sel_path, true, errs);
        }
    }
    let empty = Value::Null;
    let template = spec.get("template").unwrap_or(&empty);
    let meta = template.get("metadata");
    if let Some(sel) = get(spec, "selector")
        && !selector_is_empty(sel)
        && !selector_matches(Some(sel), &labels_of(meta))
    {
        errs.push(FieldError::invalid(
            child(&child(&child(path, "template"), "metadata"), "labels"),
            labels_value(meta),
            "`selector` does not match template `labels`",
        ));
    }
    let tpath = child(path, "template");
    validate_pod_template_spec(template, &tpath, errs);
    let tspec = template.get("spec").unwrap_or(&empty);
    let rp = str_at(tspec, "restartPolicy");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            child(&child(&tpath, "spec"), "restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
}

fn validate_job(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Subdomain, errs),
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    validate_job_spec(spec, "spec", errs);
    if let Some(old) = old {
        let old_spec = old.get("spec").unwrap_or(&empty);
        selector_immutable(obj, old, errs);
        if opt_str(spec, "completionMode") != opt_str(old_spec, "completionMode") {
            errs.push(FieldError::invalid(
                "spec.completionMode",
                spec.get("completionMode").cloned().unwrap_or(Value::Null),
                FIELD_IMMUTABLE,
            ));
        }
        // The pod template may only change while the Job is suspended.
        let suspended = bool_at(old_spec, "suspend");
        let (t, ot) = (
            spec.get("template").unwrap_or(&empty),
            old_spec.get("template").unwrap_or(&empty),
        );
        if !suspended && !json_equal(t, ot) {
            errs.push(FieldError::invalid(
                "spec.template",
                raw(go_json(t)),
                FIELD_IMMUTABLE,
            ));
        }
    }
}

fn validate_cronjob(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match old {
        Some(old) => validate_object_meta_update(obj, old, errs),
        None => validate_object_meta(obj, true, NameRule::Subdomain, errs),
    }
    let name = obj.get("metadata").map(|m| str_at(m, "name")).unwrap_or("");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    if str_at(spec, "schedule").is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    }
    match str_at(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    for f in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        nonnegative(spec, f, &child("spec", f), errs);
    }
    let js = spec
        .get("jobTemplate")
        .and_then(|j| j.get("spec"))
        .unwrap_or(&empty);
    // CronJob job templates get their selector when each Job is created, so only the
    // template itself is checked here.
    let tpath = "spec.jobTemplate.spec.template";
    let template = js.get("template").unwrap_or(&empty);
    validate_pod_template_spec(template, tpath, errs);
    let rp = template
        .get("spec")
        .map(|s| str_at(s, "restartPolicy"))
        .unwrap_or("");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            child(&child(tpath, "spec"), "restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
}

// ---------------------------------------------------------------------------
// Discovery and networking
// ---------------------------------------------------------------------------

/// IsFullyQualifiedDomainName.
fn validate_fqdn(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let sub = is_dns1123_subdomain(name);
    if !sub.is_empty() {
        errs.push(FieldError::invalid(path, name, sub.join(",")));
        return;
    }
    if name.split('.').count() < 2 {
        errs.push(FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        ));
        return;
    }
    for label in name.split('.') {
        let e = is_dns1123_label(label);
        if !e.is_empty() {
            errs.push(FieldError::invalid(path, label, e.join(",")));
            return;
        }
    }
}

fn validate_endpoint_slice(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    let addr_type = str_at(obj, "addressType");
    let allowed: &[&str] = if old.is_some() {
        &["FQDN", "IP", "IPv4", "IPv6"]
    } else {
        &["FQDN", "IPv4", "IPv6"]
    };
    if addr_type.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !allowed.contains(&addr_type) {
        errs.push(FieldError::not_supported("addressType", addr_type, allowed));
    }
    let endpoints = arr_at(obj, "endpoints");
    if endpoints.len() > 1000 {
        errs.push(FieldError::too_many("endpoints", endpoints.len(), 1000));
    } else {
        for (i, ep) in endpoints.iter().enumerate() {
            let epp = index("endpoints", i);
            let ap = child(&epp, "addresses");
            let addrs = arr_at(ep, "addresses");
            if addrs.is_empty() {
                errs.push(FieldError::required(&ap, "must contain at least 1 address"));
            } else if addrs.len() > 100 {
                errs.push(FieldError::too_many(&ap, addrs.len(), 100));
            }
            for (j, a) in addrs.iter().enumerate() {
                let a = a.as_str().unwrap_or("");
                let p = index(&ap, j);
                match addr_type {
                    "IP" => {
                        validate_ip(&p, a, errs);
                    }
                    "IPv4" => {
                        if !matches!(parse_ip(a), Some(ip) if ip.to4().is_some()) {
                            errs.push(FieldError::invalid(&p, a, "must be a valid IPv4 address"));
                        }
                        validate_non_special_ip(&p, a, errs);
                    }
                    "IPv6" => {
                        if !matches!(parse_ip(a), Some(ip) if ip.to4().is_none()) {
                            errs.push(FieldError::invalid(&p, a, "must be a valid IPv6 address"));
                        }
                        validate_non_special_ip(&p, a, errs);
                    }
                    "FQDN" => validate_fqdn(a, &p, errs),
                    _ => {}
                }
            }
            // The v1 field deprecatedTopology is the internal Topology field.
            let topology = string_map(ep, "deprecatedTopology");
            let tp = child(&epp, "topology");
            if topology.len() > 16 {
                errs.push(FieldError::too_many(&tp, topology.len(), 16));
            }
            validate_labels(&topology, &tp, errs);
            if let Some(h) = opt_str(ep, "hostname") {
                for m in is_dns1123_label(h) {
                    errs.push(FieldError::invalid(child(&epp, "hostname"), h, m));
                }
            }
        }
    }
    let ports = arr_at(obj, "ports");
    if ports.len() > 100 {
        errs.push(FieldError::too_many("ports", ports.len(), 100));
        return;
    }
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index("ports", i);
        let name = str_at(p, "name");
        if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&pp, "name"), name, m));
            }
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&pp, "name"), name));
        }
        match opt_str(p, "protocol") {
            None => errs.push(FieldError::required(child(&pp, "protocol"), "")),
            Some(proto) if !matches!(proto, "TCP" | "UDP" | "SCTP") => {
                errs.push(FieldError::not_supported(
                    child(&pp, "protocol"),
                    proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
            _ => {}
        }
        if let Some(ap) = opt_str(p, "appProtocol") {
            for m in is_qualified_name(ap) {
                errs.push(FieldError::invalid(child(&pp, "appProtocol"), ap, m));
            }
        }
    }
    if let Some(old) = old {
        let old_type = str_at(old, "addressType");
        if addr_type != old_type {
            errs.push(FieldError::invalid(
                "addressType",
                addr_type,
                FIELD_IMMUTABLE,
            ));
        }
    }
}

/// IsValidPathSegmentName, used for resource references.
fn path_segment_errors(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut errs = Vec::new();
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

fn validate_typed_ref(r: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(g) = opt_str(r, "apiGroup") {
        for m in is_dns1123_subdomain(g) {
            errs.push(FieldError::invalid(child(path, "apiGroup"), g, m));
        }
    }
    for f in ["kind", "name"] {
        let v = str_at(r, f);
        if v.is_empty() {
            errs.push(FieldError::required(child(path, f), ""));
        } else {
            for m in path_segment_errors(v) {
                errs.push(FieldError::invalid(child(path, f), v, m));
            }
        }
    }
}

fn validate_ingress_backend(b: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let resource = get(b, "resource");
    let service = get(b, "service");
    match (resource, service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => validate_typed_ref(r, &child(path, "resource"), errs),
        (None, Some(svc)) => {
            let sp = child(path, "service");
            let name = str_at(svc, "name");
            if name.is_empty() {
                errs.push(FieldError::required(child(&sp, "name"), ""));
            } else {
                for m in is_dns1035_label(name) {
                    errs.push(FieldError::invalid(child(&sp, "name"), name, m));
                }
            }
            let empty = Value::Null;
            let port = svc.get("port").unwrap_or(&empty);
            let pname = str_at(port, "name");
            let pnum = int_at(port, "number").unwrap_or(0);
            if !pname.is_empty() && pnum != 0 {
                errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                ));
            } else if !pname.is_empty() {
                for m in is_valid_port_name(pname) {
                    errs.push(FieldError::invalid(
                        child(&child(&sp, "port"), "name"),
                        pname,
                        m,
                    ));
                }
            } else if pnum != 0 {
                for m in is_valid_port_num(pnum) {
                    errs.push(FieldError::invalid(
                        child(&child(&sp, "port"), "number"),
                        pnum,
                        m,
                    ));
                }
            } else {
                errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                ));
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
}

fn validate_ingress_rule_value(rule: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(http) = get(rule, "http") else {
        return;
    };
    let hp = child(path, "http");
    let paths = arr_at(http, "paths");
    if paths.is_empty() {
        errs.push(FieldError::required(child(&hp, "paths"), ""));
    }
    for (i, p) in paths.iter().enumerate() {
        let pp = index(&child(&hp, "paths"), i);
        let Some(pt) = opt_str(p, "pathType") else {
            errs.push(FieldError::required(
                child(&pp, "pathType"),
                "pathType must be specified",
            ));
            continue;
        };
        let path_value = str_at(p, "path");
        let path_field = child(&pp, "path");
        match pt {
            "Exact" | "Prefix" => {
                if !path_value.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &path_field,
                        path_value,
                        "must be an absolute path",
                    ));
                }
                if !path_value.is_empty() {
                    for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                        if path_value.contains(seq) {
                            errs.push(FieldError::invalid(
                                &path_field,
                                path_value,
                                format!("must not contain '{seq}'"),
                            ));
                        }
                    }
                    for suffix in ["/..", "/."] {
                        if path_value.ends_with(suffix) {
                            errs.push(FieldError::invalid(
                                &path_field,
                                path_value,
                                format!("cannot end with '{suffix}'"),
                            ));
                        }
                    }
                }
            }
            "ImplementationSpecific" => {
                if !path_value.is_empty() && !path_value.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &path_field,
                        path_value,
                        "must be an absolute path",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&pp, "pathType"),
                other,
                &["Exact", "ImplementationSpecific", "Prefix"],
            )),
        }
        let empty = Value::Null;
        validate_ingress_backend(
            p.get("backend").unwrap_or(&empty),
            &child(&pp, "backend"),
            errs,
        );
    }
}

fn validate_ingress(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let old_spec = old.and_then(|o| o.get("spec"));
    // Invalid values that were already stored are tolerated on update, as upstream does.
    let allow_bad_secret = old_spec.is_some_and(|s| {
        arr_at(s, "tls").iter().any(|t| {
            let n = str_at(t, "secretName");
            !n.is_empty() && !is_dns1123_subdomain(n).is_empty()
        })
    });
    let allow_bad_wildcard = old_spec.is_some_and(|s| {
        arr_at(s, "rules").iter().any(|r| {
            let mut e = Vec::new();
            validate_ingress_rule_value(r, "", &mut e);
            str_at(r, "host").contains('*') && !e.is_empty()
        })
    });
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    }
    validate_object_meta(obj, true, NameRule::Subdomain, errs);
    let spec = obj.get("spec").unwrap_or(&empty);
    let rules = arr_at(spec, "rules");
    let default_backend = get(spec, "defaultBackend");
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            "spec",
            spec.get("rules").cloned().unwrap_or(Value::Null),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(db) = default_backend {
        validate_ingress_backend(db, "spec.defaultBackend", errs);
    }
    for (i, r) in rules.iter().enumerate() {
        let rp = index("spec.rules", i);
        let host = str_at(r, "host");
        let mut wildcard = false;
        if !host.is_empty() {
            if parse_ip(host).is_some() {
                errs.push(FieldError::invalid(
                    child(&rp, "host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            let msgs = if host.contains('*') {
                wildcard = true;
                is_wildcard_dns1123_subdomain(host)
            } else {
                is_dns1123_subdomain(host)
            };
            for m in msgs {
                errs.push(FieldError::invalid(child(&rp, "host"), host, m));
            }
        }
        if !wildcard || !allow_bad_wildcard {
            validate_ingress_rule_value(r, &rp, errs);
        }
    }
    for (ti, tls) in arr_at(spec, "tls").iter().enumerate() {
        let tp = index("spec.tls", ti);
        for (hi, h) in arr_at(tls, "hosts").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            let msgs = if h.contains('*') {
                is_wildcard_dns1123_subdomain(h)
            } else {
                is_dns1123_subdomain(h)
            };
            for m in msgs {
                errs.push(FieldError::invalid(index(&child(&tp, "hosts"), hi), h, m));
            }
        }
        let secret = str_at(tls, "secretName");
        if !allow_bad_secret && !secret.is_empty() {
            for m in is_dns1123_subdomain(secret) {
                errs.push(FieldError::invalid(child(&tp, "secretName"), secret, m));
            }
        }
    }
    if let Some(class) = opt_str(spec, "ingressClassName") {
        for m in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid("spec.ingressClassName", class, m));
        }
    }
    if old.is_none() {
        let annotations: BTreeMap<String, String> = obj
            .get("metadata")
            .map(|m| string_map(m, "annotations").into_iter().collect())
            .unwrap_or_default();
        if let (Some(a), Some(class)) = (
            annotations.get("kubernetes.io/ingress.class"),
            opt_str(spec, "ingressClassName"),
        ) && a != class
        {
            // Upstream builds this path from "annotations" without the metadata prefix.
            errs.push(FieldError::invalid(
                "annotations.kubernetes.io/ingress.class",
                a.as_str(),
                "must match `ingressClassName` when both are specified",
            ));
        }
    }
}

fn validate_ingress_class(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
        let old_controller = old
            .get("spec")
            .map(|s| str_at(s, "controller"))
            .unwrap_or("");
        let controller = str_at(spec, "controller");
        if controller != old_controller {
            errs.push(FieldError::invalid(
                "spec.controller",
                controller,
                FIELD_IMMUTABLE,
            ));
        }
    }
    validate_object_meta(obj, false, NameRule::Subdomain, errs);
    let controller = str_at(spec, "controller");
    if controller.is_empty() {
        errs.push(FieldError::required("spec.controller", ""));
    } else {
        if controller.len() > 250 {
            errs.push(FieldError::too_long("spec.controller", 250));
        }
        validate_domain_prefixed_path(controller, "spec.controller", errs);
    }
    if let Some(params) = get(spec, "parameters") {
        let pp = "spec.parameters";
        if let Some(g) = opt_str(params, "apiGroup") {
            for m in is_dns1123_subdomain(g) {
                errs.push(FieldError::invalid(child(pp, "apiGroup"), g, m));
            }
        }
        for f in ["kind", "name"] {
            let v = str_at(params, f);
            if v.is_empty() {
                errs.push(FieldError::required(child(pp, f), ""));
            } else {
                for m in path_segment_errors(v) {
                    errs.push(FieldError::invalid(child(pp, f), v, m));
                }
            }
        }
        match opt_str(params, "scope") {
            None => errs.push(FieldError::required(child(pp, "scope"), "")),
            Some("Namespace") => match opt_str(params, "namespace") {
                None => errs.push(FieldError::required(
                    child(pp, "namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(ns) => {
                    for m in is_dns1123_label(ns) {
                        errs.push(FieldError::invalid(child(pp, "namespace"), ns, m));
                    }
                }
            },
            Some("Cluster") => {
                if get(params, "namespace").is_some() {
                    errs.push(FieldError::forbidden(
                        child(pp, "namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => errs.push(FieldError::not_supported(
                child(pp, "scope"),
                other,
                &["Cluster", "Namespace"],
            )),
        }
    }
}

/// IsDomainPrefixedPath.
fn validate_domain_prefixed_path(s: &str, path: &str, errs: &mut Vec<FieldError>) {
    let Some((host, rest)) = s
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        errs.push(FieldError::invalid(
            path,
            s,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for m in is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(path, host, m));
    }
    let ok = rest
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            regex_error("Invalid path", HTTP_PATH_FMT, &[]),
        ));
    }
}

fn validate_network_policy(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if let Some(old) = old {
        validate_object_meta_update(obj, old, errs);
    } else {
        validate_object_meta(obj, true, NameRule::Subdomain, errs);
    }
    let empty = Value::Null;
    let spec = obj.get("spec").unwrap_or(&empty);
    validate_label_selector(
        spec.get("podSelector").unwrap_or(&empty),
        "spec.podSelector",
        true,
        errs,
    );
    for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr_at(spec, dir).iter().enumerate() {
            let rp = index(&child("spec", dir), i);
            for (j, port) in arr_at(rule, "ports").iter().enumerate() {
                let pp = index(&child(&rp, "ports"), j);
                if let Some(proto) = opt_str(port, "protocol")
                    && !matches!(proto, "TCP" | "UDP" | "SCTP")
                {
                    errs.push(FieldError::not_supported(
                        child(&pp, "protocol"),
                        proto,
                        &["TCP", "UDP", "SCTP"],
                    ));
                }
                match get(port, "port") {
                    Some(Value::Number(n)) => {
                        let p = n.as_i64().unwrap_or(0);
                        for m in is_valid_port_num(p) {
                            errs.push(FieldError::invalid(child(&pp, "port"), p, m));
                        }
                        if let Some(end) = int_at(port, "endPort") {
                            if end < p {
                                errs.push(FieldError::invalid(
                                    child(&pp, "endPort"),
                                    end,
                                    "must be greater than or equal to `port`",
                                ));
                            }
                            for m in is_valid_port_num(end) {
                                errs.push(FieldError::invalid(child(&pp, "endPort"), end, m));
                            }
                        }
                    }
                    Some(Value::String(s)) => {
                        if let Some(end) = int_at(port, "endPort") {
                            errs.push(FieldError::invalid(
                                child(&pp, "endPort"),
                                end,
                                "may not be specified when `port` is non-numeric",
                            ));
                        }
                        for m in is_valid_port_name(s) {
                            errs.push(FieldError::invalid(child(&pp, "port"), s.as_str(), m));
                        }
                    }
                    _ => {
                        if let Some(end) = int_at(port, "endPort") {
                            errs.push(FieldError::invalid(
                                child(&pp, "endPort"),
                                end,
                                "may not be specified when `port` is not specified",
                            ));
                        }
                    }
                }
            }
            for (j, peer) in arr_at(rule, peers_key).iter().enumerate() {
                let pp = index(&child(&rp, peers_key), j);
                let mut n = 0;
                for sel in ["podSelector", "namespaceSelector"] {
                    if let Some(s) = get(peer, sel) {
                        n += 1;
                        validate_label_selector(s, &child(&pp, sel), true, errs);
                    }
                }
                let ip_block = get(peer, "ipBlock");
                if let Some(b) = ip_block {
                    n += 1;
                    let bp = child(&pp, "ipBlock");
                    let cidr = str_at(b, "cidr");
                    if cidr.is_empty() {
                        errs.push(FieldError::required(child(&bp, "cidr"), ""));
                    } else {
                        validate_cidr(&child(&bp, "cidr"), cidr, errs);
                        for (k, e) in arr_at(b, "except").iter().enumerate() {
                            validate_cidr(
                                &index(&child(&bp, "except"), k),
                                e.as_str().unwrap_or(""),
                                errs,
                            );
                        }
                    }
                }
                if n == 0 {
                    errs.push(FieldError::required(&pp, "must specify a peer"));
                } else if n > 1 && ip_block.is_some() {
                    errs.push(FieldError::forbidden(
                        &pp,
                        "may not specify both ipBlock and another peer",
                    ));
                }
            }
        }
    }
    let types = arr_at(spec, "policyTypes");
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.policyTypes",
            Value::Array(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if t != "Ingress" && t != "Egress" {
            errs.push(FieldError::not_supported(
                index("spec.policyTypes", i),
                t,
                &["Ingress", "Egress"],
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/// Kinds that live outside namespaces; every other kind is treated as namespaced.
fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "IngressClass"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "StorageClass"
            | "PriorityClass"
            | "CustomResourceDefinition"
            | "APIService"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "RuntimeClass"
            | "ComponentStatus"
    )
}

/// Validate a new object (old = None) or an update (old = Some(previous stored object)).
pub fn validate(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match kind {
        "Pod" => validate_pod(obj, old, &mut errs),
        "PodTemplate" => validate_pod_template(obj, old, &mut errs),
        "ReplicationController" => validate_replication_controller(obj, old, &mut errs),
        "Service" => validate_service(obj, old, &mut errs),
        "Endpoints" => validate_endpoints(obj, old, &mut errs),
        "Namespace" => validate_namespace(obj, old, &mut errs),
        "Secret" => validate_secret(obj, old, &mut errs),
        "ConfigMap" => validate_config_map(obj, old, &mut errs),
        "Deployment" => validate_deployment(obj, old, &mut errs),
        "ReplicaSet" => validate_replica_set(obj, old, &mut errs),
        "StatefulSet" => validate_statefulset(obj, old, &mut errs),
        "DaemonSet" => validate_daemonset(obj, old, &mut errs),
        "Job" => validate_job(obj, old, &mut errs),
        "CronJob" => validate_cronjob(obj, old, &mut errs),
        "EndpointSlice" => validate_endpoint_slice(obj, old, &mut errs),
        "Ingress" => validate_ingress(obj, old, &mut errs),
        "IngressClass" => validate_ingress_class(obj, old, &mut errs),
        "NetworkPolicy" => validate_network_policy(obj, old, &mut errs),
        _ => {
            // Other kinds (ServiceAccount, RBAC objects, ...) get the generic metadata checks.
            match old {
                Some(old) => validate_object_meta_update(obj, old, &mut errs),
                None => validate_object_meta(
                    obj,
                    !is_cluster_scoped(kind),
                    NameRule::Subdomain,
                    &mut errs,
                ),
            }
        }
    }
    dedup(errs)
}

/// Drops repeated messages, as ErrorList.ToAggregate does before they reach the client.
fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    errs.into_iter()
        .filter(|e| seen.insert(e.to_string_with_field()))
        .collect()
}
