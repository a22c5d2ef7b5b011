//! Decodes the Kubernetes protobuf envelope (`application/vnd.kubernetes.protobuf`) into the JSON the API would carry.

// `kubectl create secret tls` sends its body only as protobuf and never falls back to JSON, so the
// server has to understand this encoding for the few kinds that arrive that way. The body is the
// magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds the typed object.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use std::fmt;

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
/// The body must start with the `k8s\0` magic. The envelope's `TypeMeta` decides the decoder;
/// `v1` `Secret` and `v1` `ConfigMap` are supported.
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
    match (unknown.api_version.as_str(), unknown.kind.as_str()) {
        ("v1", "Secret") => decode_secret(unknown.raw),
        ("v1", "ConfigMap") => decode_config_map(unknown.raw),
        _ => Err(ProtobufError::UnsupportedKind {
            api_version: unknown.api_version,
            kind: unknown.kind,
        }),
    }
}

/// One field value as it sits on the wire, borrowed from the input where it is length-delimited.
///
/// No supported schema has fixed-width fields, so their payloads are checked for length and
/// skipped rather than kept.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

impl Wire<'_> {
    fn wire_type(&self) -> WireType {
        match self {
            Wire::Varint(_) => WireType::Varint,
            Wire::Fixed64 => WireType::Fixed64,
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
                self.take(tag_start, 8, "64-bit value")?;
                Wire::Fixed64
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

/// The subset of `ObjectMeta` that a create request can meaningfully carry.
#[derive(Debug, Default)]
struct ObjectMeta {
    name: String,
    generate_name: String,
    namespace: String,
    uid: String,
    resource_version: String,
    generation: i64,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    finalizers: Vec<Value>,
}

impl ObjectMeta {
    /// Merges one encoded `ObjectMeta` into `self`, following protobuf's rule that a repeated
    /// embedded message merges into the earlier one rather than replacing it.
    fn merge(&mut self, buf: &[u8]) -> Result<()> {
        let mut reader = Reader::new(buf, "ObjectMeta");
        while let Some(field) = reader.next_field()? {
            match field.number {
                1 => self.name = field.string()?,
                2 => self.generate_name = field.string()?,
                3 => self.namespace = field.string()?,
                5 => self.uid = field.string()?,
                6 => self.resource_version = field.string()?,
                7 => self.generation = field.int64()?,
                11 => {
                    let (k, v) = string_map_entry(field.bytes()?, "ObjectMeta.labels entry")?;
                    self.labels.insert(k, Value::String(v));
                }
                12 => {
                    let (k, v) = string_map_entry(field.bytes()?, "ObjectMeta.annotations entry")?;
                    self.annotations.insert(k, Value::String(v));
                }
                14 => self.finalizers.push(Value::String(field.string()?)),
                // Server-owned or irrelevant fields (selfLink, timestamps, ownerReferences,
                // managedFields, ...) are skipped; the reader has already checked their framing.
                _ => {}
            }
        }
        Ok(())
    }

    /// Renders the JSON form, leaving out empty fields as the JSON API's `omitempty` does.
    fn into_json(self) -> Value {
        let mut out = Map::new();
        let strings = [
            ("name", self.name),
            ("generateName", self.generate_name),
            ("namespace", self.namespace),
            ("uid", self.uid),
            ("resourceVersion", self.resource_version),
        ];
        for (key, value) in strings {
            if !value.is_empty() {
                out.insert(key.to_owned(), Value::String(value));
            }
        }
        if self.generation != 0 {
            out.insert("generation".to_owned(), Value::from(self.generation));
        }
        if !self.labels.is_empty() {
            out.insert("labels".to_owned(), Value::Object(self.labels));
        }
        if !self.annotations.is_empty() {
            out.insert("annotations".to_owned(), Value::Object(self.annotations));
        }
        if !self.finalizers.is_empty() {
            out.insert("finalizers".to_owned(), Value::Array(self.finalizers));
        }
        Value::Object(out)
    }
}

/// Decodes one `map<string, string>` entry; a missing key or value means the empty string.
fn string_map_entry(buf: &[u8], message: &'static str) -> Result<(String, String)> {
    let mut key = String::new();
    let mut value = String::new();
    let mut reader = Reader::new(buf, message);
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => key = field.string()?,
            2 => value = field.string()?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// Decodes one `map<string, bytes>` entry and returns the value as standard base64, which is
/// how the JSON API carries `[]byte`.
fn bytes_map_entry(buf: &[u8], message: &'static str) -> Result<(String, String)> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    let mut reader = Reader::new(buf, message);
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => key = field.string()?,
            2 => value = field.bytes()?,
            _ => {}
        }
    }
    Ok((key, STANDARD.encode(value)))
}

/// Starts a JSON object with the type fields the JSON API always carries.
fn typed_object(kind: &str, meta: ObjectMeta) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("apiVersion".to_owned(), Value::from("v1"));
    out.insert("kind".to_owned(), Value::from(kind));
    out.insert("metadata".to_owned(), meta.into_json());
    out
}

/// Inserts a map only when it has entries, mirroring `omitempty`.
fn insert_map(out: &mut Map<String, Value>, key: &str, map: Map<String, Value>) {
    if !map.is_empty() {
        out.insert(key.to_owned(), Value::Object(map));
    }
}

/// Decodes a `v1.Secret` message.
fn decode_secret(buf: &[u8]) -> Result<Value> {
    let mut meta = ObjectMeta::default();
    let mut data = Map::new();
    let mut string_data = Map::new();
    let mut secret_type = String::new();
    let mut immutable = None;
    let mut reader = Reader::new(buf, "v1.Secret");
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => meta.merge(field.bytes()?)?,
            2 => {
                let (k, v) = bytes_map_entry(field.bytes()?, "v1.Secret.data entry")?;
                data.insert(k, Value::String(v));
            }
            3 => secret_type = field.string()?,
            4 => {
                let (k, v) = string_map_entry(field.bytes()?, "v1.Secret.stringData entry")?;
                string_data.insert(k, Value::String(v));
            }
            5 => immutable = Some(field.bool()?),
            _ => {}
        }
    }
    let mut out = typed_object("Secret", meta);
    if let Some(immutable) = immutable {
        out.insert("immutable".to_owned(), Value::Bool(immutable));
    }
    insert_map(&mut out, "data", data);
    insert_map(&mut out, "stringData", string_data);
    if !secret_type.is_empty() {
        out.insert("type".to_owned(), Value::String(secret_type));
    }
    Ok(Value::Object(out))
}

/// Decodes a `v1.ConfigMap` message.
fn decode_config_map(buf: &[u8]) -> Result<Value> {
    let mut meta = ObjectMeta::default();
    let mut data = Map::new();
    let mut binary_data = Map::new();
    let mut immutable = None;
    let mut reader = Reader::new(buf, "v1.ConfigMap");
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => meta.merge(field.bytes()?)?,
            2 => {
                let (k, v) = string_map_entry(field.bytes()?, "v1.ConfigMap.data entry")?;
                data.insert(k, Value::String(v));
            }
            3 => {
                let (k, v) = bytes_map_entry(field.bytes()?, "v1.ConfigMap.binaryData entry")?;
                binary_data.insert(k, Value::String(v));
            }
            4 => immutable = Some(field.bool()?),
            _ => {}
        }
    }
    let mut out = typed_object("ConfigMap", meta);
    if let Some(immutable) = immutable {
        out.insert("immutable".to_owned(), Value::Bool(immutable));
    }
    insert_map(&mut out, "data", data);
    insert_map(&mut out, "binaryData", binary_data);
    Ok(Value::Object(out))
}
