//! Decodes the Kubernetes protobuf envelope (`application/vnd.kubernetes.protobuf`) into the JSON the API would carry.
//!
//! Many `kubectl create` commands (and `kubectl run`) send their object only as protobuf and never
//! fall back to JSON, so the server has to understand this encoding. The body is the magic `k8s\0`
//! followed by a `runtime.Unknown` message whose `raw` field holds the typed object. The envelope's
//! `apiVersion` and `kind` pick a message from the schema table in [`schema`], and one generic
//! decoder walks that table to turn the wire fields into the JSON object the JSON API would carry.
//!
//! Kubernetes protobuf is proto2 generated from Go structs, so the writer puts every non-pointer
//! field on the wire even when it holds its zero value, while a nil pointer is left off. The JSON
//! side of the same struct drops zero values of `omitempty` fields and keeps pointers that are set.
//! The table records which of the two rules each scalar field follows (see [`schema`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use schema::{Kind, Message, Type, Zero};
use serde_json::{Map, Value};
use std::fmt;
use std::fmt::Write as _;

mod schema;

#[cfg(test)]
mod tests;

/// The four bytes that start every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// The only payload content type this decoder accepts inside the envelope.
const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The largest field number that protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Errors from decoding a Kubernetes protobuf body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic prefix.
    #[error("body does not start with the Kubernetes protobuf magic \"k8s\\0\"")]
    BadMagic,
    /// The input ended in the middle of a tag, a varint, a fixed-size value or a length-delimited value.
    #[error(
        "truncated protobuf: {what} at byte {offset} of {message} runs past the end of the input"
    )]
    Truncated {
        /// The message being decoded when the input ran out.
        message: &'static str,
        /// The byte offset, within that message, where the unfinished item starts.
        offset: usize,
        /// What was being read: a tag, a varint, a length, and so on.
        what: &'static str,
    },
    /// A varint ran longer than ten bytes or did not fit in 64 bits.
    #[error("malformed protobuf: varint at byte {offset} of {message} overflows 64 bits")]
    VarintOverflow {
        /// The message being decoded.
        message: &'static str,
        /// The byte offset, within that message, where the varint starts.
        offset: usize,
    },
    /// A field used the deprecated group wire types (3 or 4), which Kubernetes never emits.
    #[error("unsupported protobuf: field {field} of {message} uses the deprecated group encoding")]
    GroupNotSupported {
        /// The message being decoded.
        message: &'static str,
        /// The field number that carried the group wire type.
        field: u32,
    },
    /// A tag carried a wire type that protobuf does not define (6 or 7).
    #[error("malformed protobuf: field {field} of {message} has unknown wire type {wire_type}")]
    UnknownWireType {
        /// The message being decoded.
        message: &'static str,
        /// The field number from the tag.
        field: u32,
        /// The undefined wire type value.
        wire_type: u8,
    },
    /// A tag carried field number zero or a number beyond the protobuf range.
    #[error("malformed protobuf: invalid field number {field} at byte {offset} of {message}")]
    InvalidFieldNumber {
        /// The message being decoded.
        message: &'static str,
        /// The byte offset, within that message, where the tag starts.
        offset: usize,
        /// The field number that was read.
        field: u64,
    },
    /// A known field arrived with a wire type other than the one its schema declares.
    #[error(
        "malformed protobuf: field {field} of {message} has wire type {found}, expected {expected}"
    )]
    WrongWireType {
        /// The message being decoded.
        message: &'static str,
        /// The field number.
        field: u32,
        /// The wire type the schema declares for the field.
        expected: WireType,
        /// The wire type found on the wire.
        found: WireType,
    },
    /// A string field did not hold valid UTF-8.
    #[error("malformed protobuf: field {field} of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// The message being decoded.
        message: &'static str,
        /// The field number of the string.
        field: u32,
    },
    /// A `RawExtension` field did not hold valid JSON, so it cannot be embedded in the result.
    #[error("malformed protobuf: field {field} of {message} does not hold valid JSON")]
    InvalidJson {
        /// The message being decoded.
        message: &'static str,
        /// The field number of the raw bytes.
        field: u32,
    },
    /// The envelope declares a content encoding (such as gzip) that this decoder does not handle.
    #[error("unsupported protobuf envelope content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// The envelope declares a payload content type other than Kubernetes protobuf.
    #[error("unsupported protobuf envelope content type {0:?}")]
    UnsupportedContentType(String),
    /// The envelope names an `apiVersion` and `kind` that this decoder cannot decode.
    #[error("decoding {kind:?} in apiVersion {api_version:?} from protobuf is not supported")]
    UnsupportedKind {
        /// The `apiVersion` from the envelope's `TypeMeta`.
        api_version: String,
        /// The `kind` from the envelope's `TypeMeta`.
        kind: String,
    },
}

/// The four protobuf wire types that a field may use (groups are rejected before this point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// Wire type 0: a base-128 varint.
    Varint,
    /// Wire type 1: eight little-endian bytes.
    Fixed64,
    /// Wire type 2: a varint length followed by that many bytes.
    LengthDelimited,
    /// Wire type 5: four little-endian bytes.
    Fixed32,
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "64-bit",
            WireType::LengthDelimited => "length-delimited",
            WireType::Fixed32 => "32-bit",
        };
        f.write_str(name)
    }
}

type Result<T> = std::result::Result<T, ProtobufError>;

/// Decodes a Kubernetes protobuf body into the JSON object the JSON API would carry.
///
/// The body must start with the `k8s\0` magic. The envelope's `TypeMeta` picks the message from
/// the schema table; the supported kinds are the core workload, networking, RBAC, policy and
/// configuration kinds that `kubectl create` and `kubectl run` send (see `schema::KINDS`). The
/// result always carries `apiVersion`, `kind` and a `metadata` object.
///
/// # Errors
///
/// Returns [`ProtobufError::BadMagic`] when the prefix is missing, one of the wire errors when the
/// bytes are malformed or truncated, and [`ProtobufError::UnsupportedKind`] for any other type,
/// so that the caller can answer 415.
pub fn decode(body: &[u8]) -> Result<Value> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::BadMagic)?;
    let unknown = Unknown::decode(envelope)?;
    // A compressed payload would need a decompressor we do not carry, so it is refused outright.
    if !unknown.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(unknown.content_encoding));
    }
    // An empty content type means protobuf by convention; anything else is a payload we cannot read.
    if !unknown.content_type.is_empty() && unknown.content_type != PROTOBUF_CONTENT_TYPE {
        return Err(ProtobufError::UnsupportedContentType(unknown.content_type));
    }
    let Some(message) = schema::lookup(&unknown.api_version, &unknown.kind) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: unknown.api_version,
            kind: unknown.kind,
        });
    };
    let mut out = Map::new();
    merge_message(message, unknown.raw, &mut out)?;
    // The typed message carries no TypeMeta of its own; the JSON API always does, so the
    // envelope's values are put back at the top.
    out.insert("apiVersion".to_owned(), Value::String(unknown.api_version));
    out.insert("kind".to_owned(), Value::String(unknown.kind));
    // The JSON form of every object has a metadata object, even when nothing in it is set.
    out.entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    Ok(Value::Object(out))
}

/// One field value as it sits on the wire, borrowed from the input where it is length-delimited.
///
/// No Kubernetes message has a 32-bit fixed-width field, so that payload is checked for length
/// and skipped rather than kept.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

impl Wire<'_> {
    fn wire_type(&self) -> WireType {
        match self {
            Wire::Varint(_) => WireType::Varint,
            Wire::Fixed64(_) => WireType::Fixed64,
            Wire::Bytes(_) => WireType::LengthDelimited,
            Wire::Fixed32 => WireType::Fixed32,
        }
    }
}

/// One decoded field: its number, its raw value, and the message it belongs to for error reports.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u32,
    wire: Wire<'a>,
    message: &'static str,
}

impl<'a> Field<'a> {
    fn wrong_type(&self, expected: WireType) -> ProtobufError {
        ProtobufError::WrongWireType {
            message: self.message,
            field: self.number,
            expected,
            found: self.wire.wire_type(),
        }
    }

    /// Returns the payload of a length-delimited field (bytes, string or embedded message).
    fn bytes(&self) -> Result<&'a [u8]> {
        match self.wire {
            Wire::Bytes(b) => Ok(b),
            _ => Err(self.wrong_type(WireType::LengthDelimited)),
        }
    }

    /// Returns a string field, insisting on UTF-8 because the result ends up in JSON.
    fn string(&self) -> Result<String> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| ProtobufError::InvalidUtf8 {
                message: self.message,
                field: self.number,
            })
    }

    fn varint(&self) -> Result<u64> {
        match self.wire {
            Wire::Varint(v) => Ok(v),
            _ => Err(self.wrong_type(WireType::Varint)),
        }
    }

    fn bool(&self) -> Result<bool> {
        Ok(self.varint()? != 0)
    }

    /// Reads an `int64` field; protobuf stores negatives as their two's complement bit pattern.
    fn int64(&self) -> Result<i64> {
        Ok(i64::from_ne_bytes(self.varint()?.to_ne_bytes()))
    }

    /// Reads an `int32` field. Negative values arrive sign-extended to 64 bits, and protobuf
    /// defines the value as the low 32 bits, so truncation is the intended conversion.
    fn int32(&self) -> Result<i32> {
        Ok(self.int64()? as i32)
    }

    fn double(&self) -> Result<f64> {
        match self.wire {
            Wire::Fixed64(v) => Ok(f64::from_bits(v)),
            _ => Err(self.wrong_type(WireType::Fixed64)),
        }
    }
}

/// A cursor over one protobuf message that yields its fields in wire order.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            message,
        }
    }

    fn truncated(&self, offset: usize, what: &'static str) -> ProtobufError {
        ProtobufError::Truncated {
            message: self.message,
            offset,
            what,
        }
    }

    fn read_varint(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        for index in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.truncated(start, what));
            };
            self.pos += 1;
            // The tenth byte may only contribute the single remaining bit of a 64-bit value.
            if index == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow {
                    message: self.message,
                    offset: start,
                });
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow {
            message: self.message,
            offset: start,
        })
    }

    fn take(&mut self, start: usize, len: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.truncated(start, what))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// Reads the next field, or returns `None` at the clean end of the message.
    fn next_field(&mut self) -> Result<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag_start = self.pos;
        let tag = self.read_varint("tag")?;
        let number = tag >> 3;
        // Zero and anything above 2^29 - 1 are not valid field numbers, and the check also
        // guarantees that the number fits in a u32.
        let number = u32::try_from(number)
            .ok()
            .filter(|n| *n != 0 && u64::from(*n) <= MAX_FIELD_NUMBER)
            .ok_or(ProtobufError::InvalidFieldNumber {
                message: self.message,
                offset: tag_start,
                field: number,
            })?;
        // The mask keeps the wire type below 8, so it always fits in a byte.
        let wire_type = (tag & 7) as u8;
        let wire = match wire_type {
            0 => Wire::Varint(self.read_varint("varint value")?),
            1 => {
                let bytes = self.take(tag_start, 8, "64-bit value")?;
                let bytes = <[u8; 8]>::try_from(bytes)
                    .map_err(|_| self.truncated(tag_start, "64-bit value"))?;
                Wire::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = self.read_varint("length")?;
                // A length beyond the address space can never fit in the input either.
                let len = usize::try_from(len)
                    .map_err(|_| self.truncated(tag_start, "length-delimited value"))?;
                Wire::Bytes(self.take(tag_start, len, "length-delimited value")?)
            }
            5 => {
                self.take(tag_start, 4, "32-bit value")?;
                Wire::Fixed32
            }
            3 | 4 => {
                return Err(ProtobufError::GroupNotSupported {
                    message: self.message,
                    field: number,
                });
            }
            _ => {
                return Err(ProtobufError::UnknownWireType {
                    message: self.message,
                    field: number,
                    wire_type,
                });
            }
        };
        Ok(Some(Field {
            number,
            wire,
            message: self.message,
        }))
    }
}

/// The `runtime.Unknown` envelope that wraps every typed object.
#[derive(Debug, Default)]
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut out = Unknown::default();
        let mut reader = Reader::new(buf, "runtime.Unknown");
        while let Some(field) = reader.next_field()? {
            match field.number {
                1 => {
                    let mut meta = Reader::new(field.bytes()?, "TypeMeta");
                    while let Some(f) = meta.next_field()? {
                        match f.number {
                            1 => out.api_version = f.string()?,
                            2 => out.kind = f.string()?,
                            _ => {}
                        }
                    }
                }
                2 => out.raw = field.bytes()?,
                3 => out.content_encoding = field.string()?,
                4 => out.content_type = field.string()?,
                // Unknown fields are skipped so that newer clients keep working.
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Decodes one encoded message into `out`, following protobuf's merge rules: a later singular
/// scalar replaces an earlier one, a later singular message merges into the earlier one, and
/// repeated fields and map entries accumulate.
fn merge_message(
    message: &'static Message,
    buf: &[u8],
    out: &mut Map<String, Value>,
) -> Result<()> {
    let mut reader = Reader::new(buf, message.name);
    while let Some(field) = reader.next_field()? {
        // Unknown fields are skipped so that newer clients keep working; the reader has already
        // checked their framing.
        let Some(spec) = message.field(field.number) else {
            continue;
        };
        match spec.kind {
            Kind::Single(ty, zero) => merge_single(ty, zero, spec.json, &field, out)?,
            Kind::Repeated(ty) => push_repeated(ty, spec.json, &field, out)?,
            Kind::Map(ty, entry) => insert_map_entry(ty, spec.json, entry, &field, out)?,
            Kind::Inline(inner) => merge_message(inner, field.bytes()?, out)?,
        }
    }
    Ok(())
}

/// Applies one occurrence of a singular field to `out`.
fn merge_single(
    ty: Type,
    zero: Zero,
    key: &str,
    field: &Field<'_>,
    out: &mut Map<String, Value>,
) -> Result<()> {
    if let Type::Message(inner) = ty {
        // A repeated occurrence of an embedded message merges into the earlier one.
        let mut object = match out.remove(key) {
            Some(Value::Object(object)) => object,
            _ => Map::new(),
        };
        merge_message(inner, field.bytes()?, &mut object)?;
        out.insert(key.to_owned(), Value::Object(object));
        return Ok(());
    }
    match value(ty, field)? {
        Some(v) if zero == Zero::Keep || !is_zero(ty, &v) => {
            out.insert(key.to_owned(), v);
        }
        // A dropped value also clears what an earlier occurrence of the field set, because the
        // last occurrence wins.
        _ => {
            out.remove(key);
        }
    }
    Ok(())
}

/// Appends one occurrence of a repeated field to the array at `key`.
fn push_repeated(
    ty: Type,
    key: &str,
    field: &Field<'_>,
    out: &mut Map<String, Value>,
) -> Result<()> {
    let mut items = Vec::new();
    match (ty, field.wire) {
        // Kubernetes writes one tag per element, but a packed run of numbers is equally valid
        // protobuf for these types, so it is accepted too.
        (Type::Bool | Type::Int32 | Type::Int64, Wire::Bytes(packed)) => {
            let mut reader = Reader::new(packed, field.message);
            while reader.pos < packed.len() {
                let element = Field {
                    wire: Wire::Varint(reader.read_varint("packed varint")?),
                    ..*field
                };
                items.extend(value(ty, &element)?);
            }
        }
        (Type::Double, Wire::Bytes(packed)) => {
            let mut reader = Reader::new(packed, field.message);
            while reader.pos < packed.len() {
                let bytes = reader.take(reader.pos, 8, "packed 64-bit value")?;
                let bytes = <[u8; 8]>::try_from(bytes)
                    .map_err(|_| reader.truncated(reader.pos, "packed 64-bit value"))?;
                items.push(Value::from(f64::from_le_bytes(bytes)));
            }
        }
        _ => items.extend(value(ty, field)?),
    }
    // An empty packed run adds nothing, and an empty array would differ from the absent field
    // that the JSON API's omitempty produces.
    if items.is_empty() {
        return Ok(());
    }
    match out
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(list) => list.extend(items),
        slot => *slot = Value::Array(items),
    }
    Ok(())
}

/// Decodes one `map<string, T>` entry (`{1: key, 2: value}`) into the object at `key`. A missing
/// key or value means the type's zero value, as in protobuf.
fn insert_map_entry(
    ty: Type,
    key: &str,
    entry: &'static str,
    field: &Field<'_>,
    out: &mut Map<String, Value>,
) -> Result<()> {
    let mut reader = Reader::new(field.bytes()?, entry);
    let mut map_key = String::new();
    let mut map_value = None;
    let mut value_seen = false;
    while let Some(f) = reader.next_field()? {
        match f.number {
            1 => map_key = f.string()?,
            2 => {
                value_seen = true;
                map_value = if let Type::Message(inner) = ty {
                    let mut object = match map_value.take() {
                        Some(Value::Object(object)) => object,
                        _ => Map::new(),
                    };
                    merge_message(inner, f.bytes()?, &mut object)?;
                    Some(Value::Object(object))
                } else {
                    value(ty, &f)?
                };
            }
            _ => {}
        }
    }
    let map_value = if value_seen {
        map_value
    } else {
        zero_value(ty)
    };
    // Only an unset Time or RawExtension has no JSON value; such an entry is left out.
    let Some(map_value) = map_value else {
        return Ok(());
    };
    match out
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(map) => {
            map.insert(map_key, map_value);
        }
        slot => {
            let mut map = Map::new();
            map.insert(map_key, map_value);
            *slot = Value::Object(map);
        }
    }
    Ok(())
}

/// Converts one field value to JSON. `None` means the value has no JSON form and is left out:
/// an unset Time or an empty RawExtension.
fn value(ty: Type, field: &Field<'_>) -> Result<Option<Value>> {
    let value = match ty {
        Type::String => Value::String(field.string()?),
        // The JSON API carries `[]byte` as standard base64.
        Type::Bytes => Value::String(STANDARD.encode(field.bytes()?)),
        Type::Bool => Value::Bool(field.bool()?),
        Type::Int32 => Value::from(field.int32()?),
        Type::Int64 => Value::from(field.int64()?),
        // JSON has no NaN or infinity; serde_json turns them into null, as Go would refuse them.
        Type::Double => Value::from(field.double()?),
        Type::Message(inner) => {
            let mut object = Map::new();
            merge_message(inner, field.bytes()?, &mut object)?;
            Value::Object(object)
        }
        Type::IntOrString => int_or_string(field.bytes()?)?,
        Type::Quantity => quantity(field.bytes()?)?,
        Type::Time => return time(field.bytes()?, false),
        Type::MicroTime => return time(field.bytes()?, true),
        Type::Duration => duration(field.bytes()?)?,
        Type::RawExtension => return raw_extension(field.bytes()?),
    };
    Ok(Some(value))
}

/// The value a map entry has when its value field is missing from the wire.
fn zero_value(ty: Type) -> Option<Value> {
    match ty {
        Type::String | Type::Bytes => Some(Value::String(String::new())),
        Type::Bool => Some(Value::Bool(false)),
        Type::Int32 | Type::Int64 | Type::IntOrString => Some(Value::from(0)),
        Type::Double => Some(Value::from(0.0)),
        Type::Message(_) => Some(Value::Object(Map::new())),
        Type::Quantity => Some(Value::String("0".to_owned())),
        Type::Duration => Some(Value::String("0s".to_owned())),
        Type::Time | Type::MicroTime | Type::RawExtension => None,
    }
}

/// Tells whether a scalar holds the zero value that Go's `omitempty` drops.
fn is_zero(ty: Type, v: &Value) -> bool {
    match ty {
        Type::String | Type::Bytes => v.as_str() == Some(""),
        Type::Bool => v.as_bool() == Some(false),
        Type::Int32 | Type::Int64 => v.as_i64() == Some(0),
        Type::Double => v.as_f64().is_some_and(|f| f == 0.0),
        // These are Go structs, which omitempty never drops.
        Type::Message(_)
        | Type::IntOrString
        | Type::Quantity
        | Type::Time
        | Type::MicroTime
        | Type::Duration
        | Type::RawExtension => false,
    }
}

/// Decodes `intstr.IntOrString` (`{1: type, 2: intVal, 3: strVal}`) into a number or a string.
fn int_or_string(buf: &[u8]) -> Result<Value> {
    let mut reader = Reader::new(buf, "IntOrString");
    let mut kind = 0;
    let mut int_val = 0;
    let mut str_val = String::new();
    while let Some(f) = reader.next_field()? {
        match f.number {
            1 => kind = f.int64()?,
            2 => int_val = f.int32()?,
            3 => str_val = f.string()?,
            _ => {}
        }
    }
    // Type 1 is intstr.String; 0 is intstr.Int, which is also what a missing type means.
    Ok(if kind == 1 {
        Value::String(str_val)
    } else {
        Value::from(int_val)
    })
}

/// Decodes `resource.Quantity` (`{1: string}`) into its string form.
fn quantity(buf: &[u8]) -> Result<Value> {
    let mut reader = Reader::new(buf, "Quantity");
    let mut text = None;
    while let Some(f) = reader.next_field()? {
        if f.number == 1 {
            text = Some(f.string()?);
        }
    }
    // An unset Quantity is Go's zero value, which marshals as "0". A set one is passed through
    // as written; Go would canonicalise it (for example "1000m" to "1") when re-encoding.
    Ok(Value::String(text.unwrap_or_else(|| "0".to_owned())))
}

/// Decodes `metav1.Time` or `metav1.MicroTime` (`{1: seconds, 2: nanos}`) into RFC 3339.
fn time(buf: &[u8], micro: bool) -> Result<Option<Value>> {
    let mut reader = Reader::new(buf, if micro { "MicroTime" } else { "Time" });
    let mut seconds = 0;
    let mut nanos = 0;
    while let Some(f) = reader.next_field()? {
        match f.number {
            1 => seconds = f.int64()?,
            2 => nanos = f.int32()?,
            _ => {}
        }
    }
    // Go writes the zero time as an empty message, and its JSON form is null, which means the
    // same as an absent field; `creationTimestamp` arrives this way on every create.
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    Ok(Some(Value::String(format_time(seconds, nanos, micro))))
}

/// Formats a Unix time in UTC the way metav1 does: whole seconds for Time (`RFC3339`) and
/// exactly six fraction digits for MicroTime (`RFC3339Micro`).
fn format_time(seconds: i64, nanos: i32, micro: bool) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    );
    if micro {
        // Writing to a String cannot fail.
        let _ = write!(out, ".{:06}", nanos.clamp(0, 999_999_999) / 1_000);
    }
    out.push('Z');
    out
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day), using Howard
/// Hinnant's `civil_from_days` so that no date library is needed.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Decodes `metav1.Duration` (`{1: nanoseconds}`) into a Go duration string such as "1h0m0s".
fn duration(buf: &[u8]) -> Result<Value> {
    let mut reader = Reader::new(buf, "Duration");
    let mut nanos = 0;
    while let Some(f) = reader.next_field()? {
        if f.number == 1 {
            nanos = f.int64()?;
        }
    }
    Ok(Value::String(format_duration(nanos)))
}

/// Formats nanoseconds the way Go's `time.Duration.String` does.
fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        // Below a second Go uses the largest unit that keeps a non-zero integer part.
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        push_decimal(&mut out, n, scale);
        out.push_str(unit);
    } else {
        let hours = n / 3_600_000_000_000;
        let minutes = n / 60_000_000_000 % 60;
        // Writing to a String cannot fail.
        if hours > 0 {
            let _ = write!(out, "{hours}h");
        }
        if hours > 0 || minutes > 0 {
            let _ = write!(out, "{minutes}m");
        }
        push_decimal(&mut out, n % 60_000_000_000, 1_000_000_000);
        out.push('s');
    }
    out
}

/// Writes `value / scale` with its fraction, trailing zeros trimmed, as Go prints durations.
/// `scale` is a power of ten.
fn push_decimal(out: &mut String, value: u64, scale: u64) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", value / scale);
    let fraction = value % scale;
    if fraction > 0 {
        let width = scale.ilog10() as usize;
        let digits = format!("{fraction:0width$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Decodes `runtime.RawExtension` (`{1: raw}`), whose bytes are an embedded JSON object.
///
/// A nested protobuf body is refused rather than decoded, because decoding it would let a
/// crafted body nest objects without bound; the schema itself has no cycles, so every other
/// path through the decoder has a fixed depth.
fn raw_extension(buf: &[u8]) -> Result<Option<Value>> {
    let mut reader = Reader::new(buf, "RawExtension");
    let mut raw: &[u8] = &[];
    while let Some(f) = reader.next_field()? {
        if f.number == 1 {
            raw = f.bytes()?;
        }
    }
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|_| ProtobufError::InvalidJson {
            message: "RawExtension",
            field: 1,
        })
}
