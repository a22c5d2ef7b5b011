//! Tests for the protobuf envelope decoder, with wire bytes built by a tiny hand-written encoder.

use super::*;
use serde_json::json;

/// Encodes `v` as a base-128 varint.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes a tag for `field` with wire type `wire_type`.
fn tag(field: u64, wire_type: u64) -> Vec<u8> {
    varint((field << 3) | wire_type)
}

/// Encodes a length-delimited field.
fn ld(field: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = tag(field, 2);
    out.extend(varint(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

/// Encodes a string field.
fn st(field: u64, value: &str) -> Vec<u8> {
    ld(field, value.as_bytes())
}

/// Encodes a varint field.
fn vi(field: u64, value: u64) -> Vec<u8> {
    let mut out = tag(field, 0);
    out.extend(varint(value));
    out
}

/// Encodes one map entry as field `field` with key 1 and value 2.
fn entry(field: u64, key: &str, value: &[u8]) -> Vec<u8> {
    ld(field, &cat(&[st(1, key), ld(2, value)]))
}

/// Concatenates encoded pieces.
fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// Wraps `raw` in the magic and a `runtime.Unknown` the way client-go does, with empty
/// contentEncoding and contentType present on the wire.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    cat(&[
        MAGIC.to_vec(),
        ld(1, &cat(&[st(1, api_version), st(2, kind)])),
        ld(2, raw),
        st(3, ""),
        st(4, ""),
    ])
}

/// Prefixes raw bytes with the magic only, for malformed-envelope cases.
fn magic(rest: &[u8]) -> Vec<u8> {
    cat(&[MAGIC.to_vec(), rest.to_vec()])
}

/// Builds a PEM-looking text of exactly `len` bytes.
fn pem(label: &str, len: usize) -> Vec<u8> {
    let head = format!("-----BEGIN {label}-----\n");
    let tail = format!("\n-----END {label}-----\n");
    let mut body = head.into_bytes();
    let fill = len - body.len() - tail.len();
    body.extend((0..fill).map(|i| {
        if i % 65 == 64 {
            b'\n'
        } else {
            b'A' + (i % 26) as u8
        }
    }));
    body.extend(tail.into_bytes());
    assert_eq!(body.len(), len);
    body
}

#[test]
fn kubectl_create_secret_tls_body_matches_observed_prefix() {
    // The metadata kubectl sends: name set, every other string present but empty, generation 0,
    // and an empty creationTimestamp message.
    let metadata = cat(&[
        st(1, "tlssec"),
        st(2, ""),
        st(3, ""),
        st(4, ""),
        st(5, ""),
        st(6, ""),
        vi(7, 0),
        ld(8, &[]),
    ]);
    // The sizes are chosen so that the outer lengths match the observed `d8 16`, `f7 08`, `eb 08`.
    let crt = pem("CERTIFICATE", 1131);
    let key = pem("PRIVATE KEY", 1700);
    let raw = cat(&[
        ld(1, &metadata),
        entry(2, "tls.crt", &crt),
        entry(2, "tls.key", &key),
        st(3, "kubernetes.io/tls"),
    ]);
    let body = envelope("v1", "Secret", &raw);
    let observed: [u8; 64] = [
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x53, 0x65, 0x63,
        0x72, 0x65, 0x74, 0x12, 0xd8, 0x16, 0x0a, 0x16, 0x0a, 0x06, 0x74, 0x6c, 0x73, 0x73, 0x65,
        0x63, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00,
        0x12, 0xf7, 0x08, 0x0a, 0x07, 0x74, 0x6c, 0x73, 0x2e, 0x63, 0x72, 0x74, 0x12, 0xeb, 0x08,
        0x2d, 0x2d, 0x2d, 0x2d,
    ];
    assert_eq!(&body[..observed.len()], &observed[..]);

    let decoded = decode(&body).expect("the kubectl body decodes");
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tlssec"},
            "data": {
                "tls.crt": STANDARD.encode(&crt),
                "tls.key": STANDARD.encode(&key),
            },
            "type": "kubernetes.io/tls",
        })
    );
}

/// One decoding case: a name, the body, and the expected outcome.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    want: std::result::Result<Value, ProtobufError>,
}

fn run(cases: Vec<Case>) {
    for case in cases {
        let got = decode(&case.body);
        assert_eq!(got, case.want, "case {:?}", case.name);
    }
}

#[test]
fn decodes_supported_kinds() {
    let full_meta = cat(&[
        st(1, "web"),
        st(2, "web-"),
        st(3, "prod"),
        st(5, "0b1c-uid"),
        st(6, "42"),
        vi(7, 3),
        entry(11, "app", b"web"),
        entry(11, "tier", b"front"),
        entry(11, "empty", b""),
        entry(12, "note", b"hello, world"),
        entry(
            12,
            "kubectl.kubernetes.io/last-applied-configuration",
            b"{}\n",
        ),
        st(14, "example.com/a"),
        st(14, "example.com/b"),
        ld(8, &vi(1, 1_700_000_000)),
        ld(
            13,
            &cat(&[
                st(5, "v1"),
                st(1, "Pod"),
                st(3, "owner"),
                st(4, "uid-1"),
                vi(6, 1),
            ]),
        ),
        // managedFields is server-owned and skipped.
        ld(17, &st(1, "kubectl")),
    ]);
    let full_meta_json = json!({
        "name": "web",
        "generateName": "web-",
        "namespace": "prod",
        "uid": "0b1c-uid",
        "resourceVersion": "42",
        "generation": 3,
        "labels": {"app": "web", "tier": "front", "empty": ""},
        "annotations": {
            "note": "hello, world",
            "kubectl.kubernetes.io/last-applied-configuration": "{}\n",
        },
        "finalizers": ["example.com/a", "example.com/b"],
        "creationTimestamp": "2023-11-14T22:13:20Z",
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": "uid-1", "controller": true},
        ],
    });

    run(vec![
        Case {
            name: "configmap with every field",
            body: envelope(
                "v1",
                "ConfigMap",
                &cat(&[
                    ld(1, &full_meta),
                    entry(2, "a", b"1"),
                    entry(2, "b", b"two words"),
                    entry(2, "empty", b""),
                    entry(3, "bin", &[0, 1, 2, 0xff]),
                    entry(3, "nothing", b""),
                    vi(4, 0),
                ]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": full_meta_json,
                "data": {"a": "1", "b": "two words", "empty": ""},
                "binaryData": {"bin": "AAEC/w==", "nothing": ""},
                "immutable": false,
            })),
        },
        Case {
            name: "secret with stringData and immutable",
            body: envelope(
                "v1",
                "Secret",
                &cat(&[
                    ld(1, &st(1, "s")),
                    entry(2, "k1", b"\x00\x01"),
                    entry(2, "k2", b"v2"),
                    entry(2, "k3", b"v3"),
                    st(3, "Opaque"),
                    entry(4, "plain", b"text"),
                    entry(4, "other", b"more"),
                    vi(5, 1),
                ]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"k1": "AAE=", "k2": "djI=", "k3": "djM="},
                "stringData": {"plain": "text", "other": "more"},
                "type": "Opaque",
                "immutable": true,
            })),
        },
        Case {
            name: "empty secret keeps an empty metadata object",
            body: envelope("v1", "Secret", &[]),
            want: Ok(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}})),
        },
        Case {
            name: "empty strings on the wire are left out of the JSON",
            body: envelope(
                "v1",
                "Secret",
                &cat(&[
                    ld(1, &cat(&[st(1, ""), st(2, ""), st(3, ""), vi(7, 0)])),
                    st(3, ""),
                ]),
            ),
            want: Ok(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}})),
        },
        Case {
            name: "map entry without key or value means empty strings",
            body: envelope(
                "v1",
                "ConfigMap",
                &cat(&[ld(2, &st(1, "only-key")), ld(2, &st(2, "only-value"))]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {},
                "data": {"only-key": "", "": "only-value"},
            })),
        },
        Case {
            name: "duplicate map keys keep the last value",
            body: envelope(
                "v1",
                "ConfigMap",
                &cat(&[entry(2, "k", b"first"), entry(2, "k", b"second")]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {},
                "data": {"k": "second"},
            })),
        },
        Case {
            name: "repeated metadata merges",
            body: envelope(
                "v1",
                "ConfigMap",
                &cat(&[
                    ld(1, &cat(&[st(1, "first"), entry(11, "a", b"1")])),
                    ld(1, &cat(&[st(1, "second"), entry(11, "b", b"2")])),
                ]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "second", "labels": {"a": "1", "b": "2"}},
            })),
        },
        Case {
            name: "unknown fields of every wire type are skipped",
            body: envelope(
                "v1",
                "ConfigMap",
                &cat(&[
                    vi(90, 7),
                    tag(91, 1),
                    vec![1, 2, 3, 4, 5, 6, 7, 8],
                    tag(92, 5),
                    vec![1, 2, 3, 4],
                    st(93, "x"),
                    entry(2, "k", b"v"),
                ]),
            ),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {},
                "data": {"k": "v"},
            })),
        },
        Case {
            name: "negative generation uses two's complement",
            body: envelope("v1", "Secret", &ld(1, &vi(7, u64::MAX))),
            want: Ok(json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"generation": -1},
            })),
        },
        Case {
            name: "explicit protobuf content type is accepted",
            body: cat(&[
                MAGIC.to_vec(),
                ld(1, &cat(&[st(1, "v1"), st(2, "Secret")])),
                ld(2, &[]),
                st(4, PROTOBUF_CONTENT_TYPE),
            ]),
            want: Ok(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}})),
        },
    ]);
}

#[test]
fn rejects_bad_envelopes() {
    run(vec![
        Case {
            name: "empty body",
            body: vec![],
            want: Err(ProtobufError::BadMagic),
        },
        Case {
            name: "short magic",
            body: b"k8s".to_vec(),
            want: Err(ProtobufError::BadMagic),
        },
        Case {
            name: "json body",
            body: br#"{"kind":"Secret"}"#.to_vec(),
            want: Err(ProtobufError::BadMagic),
        },
        Case {
            name: "wrong fourth magic byte",
            body: b"k8s\x01".to_vec(),
            want: Err(ProtobufError::BadMagic),
        },
        Case {
            name: "magic only has no TypeMeta",
            body: magic(&[]),
            want: Err(ProtobufError::UnsupportedKind {
                api_version: String::new(),
                kind: String::new(),
            }),
        },
        Case {
            name: "unsupported kind",
            body: envelope("storage.k8s.io/v1", "StorageClass", &[]),
            want: Err(ProtobufError::UnsupportedKind {
                api_version: "storage.k8s.io/v1".into(),
                kind: "StorageClass".into(),
            }),
        },
        Case {
            name: "supported kind in another apiVersion",
            body: envelope("v2", "Secret", &[]),
            want: Err(ProtobufError::UnsupportedKind {
                api_version: "v2".into(),
                kind: "Secret".into(),
            }),
        },
        Case {
            name: "gzip content encoding",
            body: cat(&[
                MAGIC.to_vec(),
                ld(1, &cat(&[st(1, "v1"), st(2, "Secret")])),
                st(3, "gzip"),
            ]),
            want: Err(ProtobufError::UnsupportedEncoding("gzip".into())),
        },
        Case {
            name: "json content type",
            body: cat(&[
                MAGIC.to_vec(),
                ld(1, &cat(&[st(1, "v1"), st(2, "Secret")])),
                st(4, "application/json"),
            ]),
            want: Err(ProtobufError::UnsupportedContentType(
                "application/json".into(),
            )),
        },
    ]);
}

#[test]
fn rejects_malformed_wire_data() {
    let secret = |raw: Vec<u8>| envelope("v1", "Secret", &raw);
    run(vec![
        Case {
            name: "tag cut inside its varint",
            body: magic(&[0x80]),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 0,
                what: "tag",
            }),
        },
        Case {
            name: "length missing",
            body: magic(&[0x0a]),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 1,
                what: "length",
            }),
        },
        Case {
            name: "length-delimited value shorter than its length",
            body: magic(&[0x12, 0x05, b'a', b'b']),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 0,
                what: "length-delimited value",
            }),
        },
        Case {
            name: "huge length",
            body: magic(&cat(&[vec![0x12], varint(u64::MAX)])),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 0,
                what: "length-delimited value",
            }),
        },
        Case {
            name: "varint value cut",
            body: magic(&[0x48, 0xff]),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 1,
                what: "varint value",
            }),
        },
        Case {
            name: "64-bit value cut",
            body: magic(&[0x49, 1, 2, 3]),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 0,
                what: "64-bit value",
            }),
        },
        Case {
            name: "32-bit value cut",
            body: magic(&[0x4d, 1]),
            want: Err(ProtobufError::Truncated {
                message: "runtime.Unknown",
                offset: 0,
                what: "32-bit value",
            }),
        },
        Case {
            name: "truncated metadata inside the secret",
            body: secret(vec![0x0a, 0x05, 0x0a]),
            want: Err(ProtobufError::Truncated {
                message: "v1.Secret",
                offset: 0,
                what: "length-delimited value",
            }),
        },
        Case {
            name: "truncated name inside metadata",
            body: secret(ld(1, &[0x0a, 0x03, b'a'])),
            want: Err(ProtobufError::Truncated {
                message: "ObjectMeta",
                offset: 0,
                what: "length-delimited value",
            }),
        },
        Case {
            name: "truncated data map entry",
            body: secret(ld(2, &[0x12, 0x09, b'x'])),
            want: Err(ProtobufError::Truncated {
                message: "v1.Secret.data entry",
                offset: 0,
                what: "length-delimited value",
            }),
        },
        Case {
            name: "start group",
            body: magic(&[0x0b]),
            want: Err(ProtobufError::GroupNotSupported {
                message: "runtime.Unknown",
                field: 1,
            }),
        },
        Case {
            name: "end group inside metadata",
            body: secret(ld(1, &[0x64])),
            want: Err(ProtobufError::GroupNotSupported {
                message: "ObjectMeta",
                field: 12,
            }),
        },
        Case {
            name: "wire type 6",
            body: magic(&[0x0e]),
            want: Err(ProtobufError::UnknownWireType {
                message: "runtime.Unknown",
                field: 1,
                wire_type: 6,
            }),
        },
        Case {
            name: "wire type 7",
            body: magic(&[0x17]),
            want: Err(ProtobufError::UnknownWireType {
                message: "runtime.Unknown",
                field: 2,
                wire_type: 7,
            }),
        },
        Case {
            name: "field number zero",
            body: magic(&[0x02, 0x00]),
            want: Err(ProtobufError::InvalidFieldNumber {
                message: "runtime.Unknown",
                offset: 0,
                field: 0,
            }),
        },
        Case {
            name: "field number too large",
            body: magic(&cat(&[tag(1 << 29, 0), vec![0]])),
            want: Err(ProtobufError::InvalidFieldNumber {
                message: "runtime.Unknown",
                offset: 0,
                field: 1 << 29,
            }),
        },
        Case {
            name: "varint longer than ten bytes",
            body: magic(&cat(&[vec![0x48], vec![0xff; 10], vec![0x01]])),
            want: Err(ProtobufError::VarintOverflow {
                message: "runtime.Unknown",
                offset: 1,
            }),
        },
        Case {
            name: "tenth varint byte above one",
            body: magic(&cat(&[vec![0x48], vec![0x80; 9], vec![0x02]])),
            want: Err(ProtobufError::VarintOverflow {
                message: "runtime.Unknown",
                offset: 1,
            }),
        },
        Case {
            name: "largest varint is fine",
            body: magic(&cat(&[vec![0x48], vec![0xff; 9], vec![0x01]])),
            want: Err(ProtobufError::UnsupportedKind {
                api_version: String::new(),
                kind: String::new(),
            }),
        },
        Case {
            name: "TypeMeta as a varint",
            body: magic(&[0x08, 0x01]),
            want: Err(ProtobufError::WrongWireType {
                message: "runtime.Unknown",
                field: 1,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            }),
        },
        Case {
            name: "secret type as a varint",
            body: secret(vi(3, 1)),
            want: Err(ProtobufError::WrongWireType {
                message: "v1.Secret",
                field: 3,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            }),
        },
        Case {
            name: "immutable as bytes",
            body: secret(st(5, "")),
            want: Err(ProtobufError::WrongWireType {
                message: "v1.Secret",
                field: 5,
                expected: WireType::Varint,
                found: WireType::LengthDelimited,
            }),
        },
        Case {
            name: "generation as fixed64",
            body: secret(ld(1, &cat(&[tag(7, 1), vec![0; 8]]))),
            want: Err(ProtobufError::WrongWireType {
                message: "ObjectMeta",
                field: 7,
                expected: WireType::Varint,
                found: WireType::Fixed64,
            }),
        },
        Case {
            name: "name is not UTF-8",
            body: secret(ld(1, &ld(1, &[0xff, 0xfe]))),
            want: Err(ProtobufError::InvalidUtf8 {
                message: "ObjectMeta",
                field: 1,
            }),
        },
        Case {
            name: "label value is not UTF-8",
            body: secret(ld(1, &entry(11, "k", &[0xc3]))),
            want: Err(ProtobufError::InvalidUtf8 {
                message: "ObjectMeta.labels entry",
                field: 2,
            }),
        },
    ]);
}

#[test]
fn every_truncation_of_a_real_body_fails_cleanly() {
    let raw = cat(&[
        ld(1, &cat(&[st(1, "name"), entry(11, "a", b"b")])),
        entry(2, "tls.crt", &pem("CERTIFICATE", 300)),
        st(3, "kubernetes.io/tls"),
    ]);
    let body = envelope("v1", "Secret", &raw);
    assert!(decode(&body).is_ok());
    // Cutting anywhere inside the raw payload leaves its length prefix pointing past the end.
    let raw_start = body.len() - raw.len() - st(3, "").len() - st(4, "").len();
    for cut in raw_start..raw_start + raw.len() {
        let err = decode(&body[..cut]).expect_err("a cut body must not decode");
        assert!(
            matches!(err, ProtobufError::Truncated { .. }),
            "cut at {cut}: {err:?}"
        );
    }
    // Any prefix at all must return rather than panic.
    for cut in 0..body.len() {
        let _ = decode(&body[..cut]);
    }
}

#[test]
fn error_messages_read_well() {
    let cases = [
        (
            ProtobufError::BadMagic,
            r#"body does not start with the Kubernetes protobuf magic "k8s\0""#,
        ),
        (
            ProtobufError::Truncated {
                message: "v1.Secret",
                offset: 3,
                what: "length",
            },
            "truncated protobuf: length at byte 3 of v1.Secret runs past the end of the input",
        ),
        (
            ProtobufError::GroupNotSupported {
                message: "ObjectMeta",
                field: 9,
            },
            "unsupported protobuf: field 9 of ObjectMeta uses the deprecated group encoding",
        ),
        (
            ProtobufError::WrongWireType {
                message: "v1.Secret",
                field: 5,
                expected: WireType::Varint,
                found: WireType::Fixed32,
            },
            "malformed protobuf: field 5 of v1.Secret has wire type 32-bit, expected varint",
        ),
        (
            ProtobufError::UnsupportedKind {
                api_version: "storage.k8s.io/v1".into(),
                kind: "StorageClass".into(),
            },
            r#"decoding "StorageClass" in apiVersion "storage.k8s.io/v1" from protobuf is not supported"#,
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}

/// Encodes an embedded message field from its encoded parts.
fn msg(field: u64, parts: &[Vec<u8>]) -> Vec<u8> {
    ld(field, &cat(parts))
}

/// Encodes a varint field holding a signed value, sign-extended as protobuf does for int32/int64.
fn neg(field: u64, value: i64) -> Vec<u8> {
    vi(field, u64::from_ne_bytes(value.to_ne_bytes()))
}

/// The ObjectMeta that kubectl writes for a new object: the name, every other string present but
/// empty, generation 0, an empty creationTimestamp, then the labels.
fn kubectl_meta(name: &str, labels: &[(&str, &str)]) -> Vec<u8> {
    let mut parts = vec![
        st(1, name),
        st(2, ""),
        st(3, ""),
        st(4, ""),
        st(5, ""),
        st(6, ""),
        vi(7, 0),
        ld(8, &[]),
    ];
    parts.extend(labels.iter().map(|(k, v)| entry(11, k, v.as_bytes())));
    cat(&parts)
}

/// An IntOrString holding a number, with the unused string present as Go writes it.
fn ios_int(value: i64) -> Vec<u8> {
    cat(&[vi(1, 0), neg(2, value), st(3, "")])
}

/// An IntOrString holding a string, with the unused number present as Go writes it.
fn ios_str(value: &str) -> Vec<u8> {
    cat(&[vi(1, 1), vi(2, 0), st(3, value)])
}

/// A `map<string, Quantity>` entry.
fn qty_entry(field: u64, key: &str, value: &str) -> Vec<u8> {
    msg(field, &[st(1, key), msg(2, &[st(1, value)])])
}

/// The container kubectl builds from `--image=nginx`: name and image set, every other value
/// field present with its zero value, and an empty resources message.
fn kubectl_container(extra: &[Vec<u8>]) -> Vec<u8> {
    let parts = vec![
        st(1, "nginx"),
        st(2, "nginx"),
        st(5, ""),
        msg(8, extra),
        st(13, ""),
        st(14, ""),
        vi(16, 0),
        vi(17, 0),
        vi(18, 0),
        st(20, ""),
    ];
    cat(&parts)
}

/// The PodSpec kubectl builds around one container, with its zero-valued fields on the wire.
fn kubectl_pod_spec(container: &[u8], restart_policy: &str) -> Vec<u8> {
    cat(&[
        ld(2, container),
        st(3, restart_policy),
        st(6, ""),
        st(8, ""),
        st(9, ""),
        st(10, ""),
        vi(11, 0),
        vi(12, 0),
        vi(13, 0),
        st(16, ""),
        st(17, ""),
        st(19, ""),
        st(24, ""),
    ])
}

#[test]
fn kubectl_create_namespace_exact_bytes() {
    let observed: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, // "k8s\0"
        0x0a, 0x0f, // TypeMeta
        0x0a, 0x02, b'v', b'1', // apiVersion
        0x12, 0x09, b'N', b'a', b'm', b'e', b's', b'p', b'a', b'c', b'e', // kind
        0x12, 0x1c, // raw: v1.Namespace
        0x0a, 0x14, // metadata
        0x0a, 0x04, b't', b'e', b'a', b'm', // name
        0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, // empty strings
        0x38, 0x00, // generation 0
        0x42, 0x00, // creationTimestamp: the zero Time
        0x12, 0x00, // spec: NamespaceSpec{}
        0x1a, 0x02, 0x0a, 0x00, // status: NamespaceStatus{phase: ""}
        0x1a, 0x00, 0x22, 0x00, // contentEncoding and contentType
    ];
    let raw = cat(&[
        ld(1, &kubectl_meta("team", &[])),
        ld(2, &[]),
        msg(3, &[st(1, "")]),
    ]);
    assert_eq!(envelope("v1", "Namespace", &raw), observed);
    assert_eq!(
        decode(observed),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team"},
            "spec": {},
            "status": {},
        }))
    );
}

/// The Deployment of `kubectl create deployment web --image=nginx --replicas=N`.
fn kubectl_deployment(replicas: u64) -> Vec<u8> {
    let template = cat(&[
        ld(1, &kubectl_meta("", &[("app", "web")])),
        ld(2, &kubectl_pod_spec(&kubectl_container(&[]), "")),
    ]);
    let spec = cat(&[
        vi(1, replicas),
        msg(2, &[entry(1, "app", b"web")]),
        ld(3, &template),
        msg(4, &[st(1, "")]),
        vi(5, 0),
        vi(7, 0),
    ]);
    let status = cat(&[vi(1, 0), vi(2, 0), vi(3, 0), vi(4, 0), vi(5, 0), vi(7, 0)]);
    envelope(
        "apps/v1",
        "Deployment",
        &cat(&[
            ld(1, &kubectl_meta("web", &[("app", "web")])),
            ld(2, &spec),
            ld(3, &status),
        ]),
    )
}

#[test]
fn kubectl_create_deployment() {
    let want = |replicas: u64| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
                },
                "strategy": {},
            },
            "status": {},
        })
    };
    assert_eq!(decode(&kubectl_deployment(2)), Ok(want(2)));
    // replicas is a pointer in Go, so an explicit zero is meaningful and must survive.
    assert_eq!(decode(&kubectl_deployment(0)), Ok(want(0)));
}

#[test]
fn kubectl_create_service_nodeport() {
    let port = cat(&[
        st(1, "80-8080"),
        st(2, "TCP"),
        vi(3, 80),
        ld(4, &ios_int(8080)),
        vi(5, 0),
    ]);
    let spec = cat(&[
        ld(1, &port),
        entry(2, "app", b"web"),
        st(3, ""),
        st(4, "NodePort"),
        st(7, ""),
        st(8, ""),
        st(10, ""),
        st(11, ""),
        vi(12, 0),
        vi(13, 0),
    ]);
    let raw = cat(&[
        ld(1, &kubectl_meta("web", &[("app", "web")])),
        ld(2, &spec),
        msg(3, &[ld(1, &[])]),
    ]);
    assert_eq!(
        decode(&envelope("v1", "Service", &raw)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                // nodePort 0 is a plain omitempty int in Go, so it is left out.
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "web"},
                "type": "NodePort",
            },
            "status": {"loadBalancer": {}},
        }))
    );
}

#[test]
fn int_or_string_takes_either_form() {
    let spec = cat(&[ld(1, &ios_str("50%")), msg(2, &[entry(1, "app", b"web")])]);
    let status = cat(&[vi(1, 0), vi(3, 0), vi(4, 0), vi(5, 0), vi(6, 0)]);
    let raw = cat(&[
        ld(1, &kubectl_meta("pdb", &[])),
        ld(2, &spec),
        ld(3, &status),
    ]);
    assert_eq!(
        decode(&envelope("policy/v1", "PodDisruptionBudget", &raw)),
        Ok(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "pdb"},
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
            // These counters have no omitempty in Go, so their zeros stay.
            "status": {
                "disruptionsAllowed": 0,
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "expectedPods": 0,
            },
        }))
    );

    let strategy = msg(
        4,
        &[
            st(1, "RollingUpdate"),
            msg(2, &[ld(1, &ios_int(0)), ld(2, &ios_str("25%"))]),
        ],
    );
    let raw = cat(&[ld(1, &st(1, "d")), ld(2, &strategy)]);
    assert_eq!(
        decode(&envelope("apps/v1", "Deployment", &raw)),
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            }},
        }))
    );
}

#[test]
fn times_render_as_rfc3339() {
    let raw = cat(&[
        ld(1, &cat(&[st(1, "ev"), msg(8, &[vi(1, 1_704_164_645)])])),
        msg(2, &[st(1, "Pod"), st(3, "web")]),
        msg(6, &[vi(1, 1_704_164_645), vi(2, 999_999_999)]),
        ld(7, &[]),
        msg(10, &[vi(1, 1_709_251_199), vi(2, 123_456_789)]),
        st(14, ""),
        st(15, ""),
    ]);
    assert_eq!(
        decode(&envelope("v1", "Event", &raw)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "ev", "creationTimestamp": "2024-01-02T03:04:05Z"},
            "involvedObject": {"kind": "Pod", "name": "web"},
            // Time keeps whole seconds, so the nanoseconds are dropped rather than rounded.
            "firstTimestamp": "2024-01-02T03:04:05Z",
            "eventTime": "2024-02-29T23:59:59.123456Z",
            "reportingComponent": "",
            "reportingInstance": "",
        }))
    );

    assert_eq!(format_time(0, 1, false), "1970-01-01T00:00:00Z");
    assert_eq!(format_time(-1, 0, false), "1969-12-31T23:59:59Z");
    assert_eq!(
        format_time(951_868_800, 0, true),
        "2000-03-01T00:00:00.000000Z"
    );
    assert_eq!(
        format_time(-62_135_596_800, 0, false),
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(
        format_time(253_402_300_799, 0, false),
        "9999-12-31T23:59:59Z"
    );
}

#[test]
fn quantities_in_resources() {
    let container = kubectl_container(&[
        qty_entry(1, "cpu", "500m"),
        qty_entry(1, "memory", "128Mi"),
        qty_entry(2, "cpu", "250m"),
        // A map entry without a value is the zero Quantity.
        msg(2, &[st(1, "ephemeral-storage")]),
    ]);
    let raw = cat(&[
        ld(1, &kubectl_meta("web", &[("run", "web")])),
        ld(2, &kubectl_pod_spec(&container, "Always")),
        msg(3, &[st(1, "")]),
    ]);
    assert_eq!(
        decode(&envelope("v1", "Pod", &raw)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"run": "web"}},
            "spec": {
                "containers": [{
                    "name": "nginx",
                    "image": "nginx",
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                        "requests": {"cpu": "250m", "ephemeral-storage": "0"},
                    },
                }],
                "restartPolicy": "Always",
            },
            "status": {},
        }))
    );
}

#[test]
fn pod_spec_inlines_embedded_structs() {
    let container = cat(&[
        st(1, "app"),
        st(2, "busybox"),
        st(3, "sh"),
        st(3, "-c"),
        msg(
            6,
            &[
                st(1, "http"),
                vi(2, 0),
                vi(3, 8080),
                st(4, "TCP"),
                st(5, ""),
            ],
        ),
        msg(
            19,
            &[
                st(1, "CFG_"),
                msg(2, &[msg(1, &[st(1, "settings")]), vi(2, 1)]),
            ],
        ),
        msg(
            7,
            &[
                st(1, "TOKEN"),
                st(2, ""),
                msg(
                    3,
                    &[msg(
                        4,
                        &[msg(1, &[st(1, "creds")]), st(2, "token"), vi(3, 0)],
                    )],
                ),
            ],
        ),
        msg(9, &[st(1, "data"), vi(2, 0), st(3, "/data"), st(4, "")]),
        msg(
            11,
            &[
                msg(1, &[msg(2, &[st(1, "/healthz"), ld(2, &ios_str("http"))])]),
                vi(2, 0),
                vi(3, 1),
                vi(4, 10),
                vi(5, 1),
                vi(6, 3),
            ],
        ),
        msg(15, &[vi(5, 0), vi(7, 0), msg(1, &[st(2, "ALL")])]),
    ]);
    let spec = cat(&[
        msg(
            1,
            &[
                st(1, "config"),
                msg(2, &[msg(19, &[msg(1, &[st(1, "settings")]), vi(3, 420)])]),
            ],
        ),
        msg(1, &[st(1, "data"), msg(2, &[msg(2, &[st(1, "")])])]),
        ld(2, &container),
        vi(4, 0),
        msg(22, &[st(2, "Exists"), st(4, "NoExecute"), vi(5, 300)]),
        neg(25, -5),
        msg(14, &[neg(2, 1000), vi(4, 1), vi(4, 2)]),
    ]);
    let raw = cat(&[ld(1, &st(1, "p")), ld(2, &spec)]);
    assert_eq!(
        decode(&envelope("v1", "Pod", &raw)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [
                    {"name": "config", "configMap": {"name": "settings", "defaultMode": 420}},
                    {"name": "data", "emptyDir": {}},
                ],
                "containers": [{
                    "name": "app",
                    "image": "busybox",
                    "command": ["sh", "-c"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings", "optional": true}}],
                    "env": [{
                        "name": "TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": false}},
                    }],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "timeoutSeconds": 1,
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "securityContext": {
                        "runAsNonRoot": false,
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }],
                "terminationGracePeriodSeconds": 0,
                "tolerations": [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                "priority": -5,
                "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2]},
            },
        }))
    );
}

#[test]
fn packed_repeated_numbers_are_accepted() {
    let packed = cat(&[varint(7), varint(u64::MAX), varint(300)]);
    let raw = cat(&[
        ld(1, &st(1, "p")),
        msg(2, &[msg(14, &[vi(4, 5), ld(4, &packed), ld(4, &[])])]),
    ]);
    assert_eq!(
        decode(&envelope("v1", "Pod", &raw)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"securityContext": {"supplementalGroups": [5, 7, -1, 300]}},
        }))
    );
    let cut = cat(&[ld(1, &st(1, "p")), msg(2, &[msg(14, &[ld(4, &[0x80])])])]);
    assert_eq!(
        decode(&envelope("v1", "Pod", &cut)),
        Err(ProtobufError::Truncated {
            message: "v1.PodSecurityContext",
            offset: 0,
            what: "packed varint",
        })
    );
}

#[test]
fn rbac_kinds() {
    let rule = |verbs: &[&str], resources: &[&str]| {
        let mut parts: Vec<Vec<u8>> = verbs.iter().map(|v| st(1, v)).collect();
        parts.push(st(2, ""));
        parts.extend(resources.iter().map(|r| st(3, r)));
        msg(2, &parts)
    };
    let role = cat(&[
        ld(1, &kubectl_meta("reader", &[])),
        rule(&["get", "list"], &["pods"]),
        rule(&["watch"], &["pods", "services"]),
    ]);
    assert_eq!(
        decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &role)),
        Ok(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [
                {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
                {"verbs": ["watch"], "apiGroups": [""], "resources": ["pods", "services"]},
            ],
        }))
    );

    let binding = cat(&[
        ld(1, &kubectl_meta("read", &[])),
        msg(
            2,
            &[
                st(1, "User"),
                st(2, "rbac.authorization.k8s.io"),
                st(3, "alice"),
                st(4, ""),
            ],
        ),
        msg(
            2,
            &[
                st(1, "ServiceAccount"),
                st(2, ""),
                st(3, "bot"),
                st(4, "ci"),
            ],
        ),
        msg(
            3,
            &[
                st(1, "rbac.authorization.k8s.io"),
                st(2, "Role"),
                st(3, "reader"),
            ],
        ),
    ]);
    assert_eq!(
        decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &binding
        )),
        Ok(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "read"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"},
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        }))
    );
}

#[test]
fn priority_class_keeps_a_zero_value() {
    let raw = cat(&[
        ld(1, &kubectl_meta("low", &[])),
        vi(2, 0),
        vi(3, 0),
        st(4, ""),
        st(5, "PreemptLowerPriority"),
    ]);
    assert_eq!(
        decode(&envelope("scheduling.k8s.io/v1", "PriorityClass", &raw)),
        Ok(json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "low"},
            "value": 0,
            "preemptionPolicy": "PreemptLowerPriority",
        }))
    );
}

#[test]
fn cronjob_and_ingress() {
    let pod = kubectl_pod_spec(&kubectl_container(&[]), "OnFailure");
    let job_spec = cat(&[msg(6, &[ld(1, &kubectl_meta("", &[])), ld(2, &pod)])]);
    let spec = cat(&[
        st(1, "*/5 * * * *"),
        st(3, ""),
        msg(5, &[ld(1, &kubectl_meta("nightly", &[])), ld(2, &job_spec)]),
    ]);
    let raw = cat(&[
        ld(1, &kubectl_meta("nightly", &[])),
        ld(2, &spec),
        ld(3, &[]),
    ]);
    assert_eq!(
        decode(&envelope("batch/v1", "CronJob", &raw)),
        Ok(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "*/5 * * * *",
                "jobTemplate": {
                    "metadata": {"name": "nightly"},
                    "spec": {"template": {
                        "metadata": {},
                        "spec": {
                            "containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
                            "restartPolicy": "OnFailure",
                        },
                    }},
                },
            },
            "status": {},
        }))
    );

    let backend = msg(
        2,
        &[msg(4, &[st(1, "web"), msg(2, &[st(1, ""), vi(2, 80)])])],
    );
    let path = msg(1, &[st(1, "/"), st(3, "Prefix"), backend]);
    let rule = msg(3, &[st(1, "example.com"), msg(2, &[msg(1, &[path])])]);
    let tls = msg(2, &[st(1, "example.com"), st(2, "tls")]);
    let spec = cat(&[st(4, "nginx"), tls, rule]);
    let raw = cat(&[
        ld(1, &kubectl_meta("web", &[])),
        ld(2, &spec),
        msg(3, &[ld(1, &[])]),
    ]);
    assert_eq!(
        decode(&envelope("networking.k8s.io/v1", "Ingress", &raw)),
        Ok(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["example.com"], "secretName": "tls"}],
                "rules": [{
                    "host": "example.com",
                    "http": {"paths": [{
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "web", "port": {"number": 80}}},
                    }]},
                }],
            },
            "status": {"loadBalancer": {}},
        }))
    );
}

#[test]
fn protobuf_merge_rules() {
    // A second occurrence of an embedded message merges into the first; a later zero string
    // clears an earlier value because the last occurrence of a scalar wins.
    let raw = cat(&[
        ld(1, &st(1, "d")),
        msg(2, &[vi(1, 3), msg(4, &[st(1, "Recreate")])]),
        msg(2, &[vi(5, 9), msg(4, &[st(1, "")])]),
    ]);
    assert_eq!(
        decode(&envelope("apps/v1", "Deployment", &raw)),
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": 3, "minReadySeconds": 9, "strategy": {}},
        }))
    );
}

#[test]
fn raw_extension_embeds_json() {
    let raw = cat(&[
        ld(1, &st(1, "rev")),
        msg(2, &[ld(1, br#"{"spec":{"replicas":1}}"#)]),
        vi(3, 2),
    ]);
    assert_eq!(
        decode(&envelope("apps/v1", "ControllerRevision", &raw)),
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "rev"},
            "data": {"spec": {"replicas": 1}},
            "revision": 2,
        }))
    );
    let bad = cat(&[ld(1, &st(1, "rev")), msg(2, &[ld(1, b"{not json")])]);
    assert_eq!(
        decode(&envelope("apps/v1", "ControllerRevision", &bad)),
        Err(ProtobufError::InvalidJson {
            message: "RawExtension",
            field: 1,
        })
    );
}

#[test]
fn durations_format_like_go() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
        (-5_000_000_000, "-5s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ];
    for (nanos, want) in cases {
        assert_eq!(format_duration(nanos), want, "{nanos}ns");
    }
    assert_eq!(duration(&vi(1, 60_000_000_000)), Ok(json!("1m0s")));
}

#[test]
fn rejects_wrong_wire_types_in_nested_messages() {
    let cases = [
        (
            "replicas as a string",
            envelope("apps/v1", "Deployment", &msg(2, &[st(1, "2")])),
            ProtobufError::WrongWireType {
                message: "apps/v1.DeploymentSpec",
                field: 1,
                expected: WireType::Varint,
                found: WireType::LengthDelimited,
            },
        ),
        (
            "Time seconds as a string",
            envelope("v1", "Secret", &msg(1, &[msg(8, &[st(1, "x")])])),
            ProtobufError::WrongWireType {
                message: "Time",
                field: 1,
                expected: WireType::Varint,
                found: WireType::LengthDelimited,
            },
        ),
        (
            "IntOrString as a varint",
            envelope("v1", "Service", &msg(2, &[msg(1, &[vi(4, 80)])])),
            ProtobufError::WrongWireType {
                message: "v1.ServicePort",
                field: 4,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            },
        ),
        (
            "inlined name as a varint",
            envelope(
                "v1",
                "Pod",
                &msg(2, &[msg(1, &[msg(2, &[msg(19, &[msg(1, &[vi(1, 1)])])])])]),
            ),
            ProtobufError::WrongWireType {
                message: "v1.LocalObjectReference",
                field: 1,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            },
        ),
        (
            "Quantity text that is not UTF-8",
            envelope(
                "v1",
                "ResourceQuota",
                &msg(2, &[msg(1, &[st(1, "pods"), msg(2, &[ld(1, &[0xff])])])]),
            ),
            ProtobufError::InvalidUtf8 {
                message: "Quantity",
                field: 1,
            },
        ),
    ];
    for (name, body, want) in cases {
        assert_eq!(decode(&body), Err(want), "{name}");
    }
}

#[test]
fn every_listed_kind_decodes_an_empty_object() {
    for (api_version, kind, _) in schema::KINDS {
        let body = envelope(api_version, kind, &ld(1, &kubectl_meta("x", &[])));
        assert_eq!(
            decode(&body),
            Ok(json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})),
            "{api_version} {kind}"
        );
    }
}

#[test]
fn schema_table_is_consistent() {
    // Walks every message reachable from the listed kinds and checks that no field number or
    // JSON key is used twice, counting the keys that inlined structs contribute, and that no
    // message contains itself.
    fn keys(message: &'static schema::Message, out: &mut Vec<&'static str>) {
        for field in message.fields {
            match field.kind {
                schema::Kind::Inline(inner) => keys(inner, out),
                _ => out.push(field.json),
            }
        }
    }
    fn walk(
        message: &'static schema::Message,
        seen: &mut Vec<&'static str>,
        path: &mut Vec<&'static str>,
    ) {
        // The decoder relies on the table having no cycles to bound its recursion.
        assert!(!path.contains(&message.name), "cycle through {path:?}");
        if seen.contains(&message.name) {
            return;
        }
        seen.push(message.name);
        path.push(message.name);
        let mut numbers: Vec<u32> = message.fields.iter().map(|f| f.number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), message.fields.len(), "{}", message.name);
        let mut json = Vec::new();
        keys(message, &mut json);
        let total = json.len();
        json.sort_unstable();
        json.dedup();
        assert_eq!(json.len(), total, "{}", message.name);
        assert!(!json.contains(&""), "{}", message.name);
        for field in message.fields {
            let ty = match field.kind {
                schema::Kind::Single(ty, _)
                | schema::Kind::Repeated(ty)
                | schema::Kind::Map(ty, _) => ty,
                schema::Kind::Inline(inner) => schema::Type::Message(inner),
            };
            if let schema::Type::Message(inner) = ty {
                walk(inner, seen, path);
            }
        }
        path.pop();
    }
    let mut seen = Vec::new();
    for (_, _, message) in schema::KINDS {
        assert_eq!(
            message.field(1).map(|f| f.json),
            Some("metadata"),
            "{}",
            message.name
        );
        walk(message, &mut seen, &mut Vec::new());
    }
    assert!(seen.len() > 150, "only {} messages reachable", seen.len());
}
