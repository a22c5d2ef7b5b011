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
        // Skipped fields: creationTimestamp, ownerReferences, managedFields.
        ld(8, &vi(1, 1_700_000_000)),
        ld(13, &cat(&[st(1, "v1"), st(2, "Pod")])),
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
            body: envelope("apps/v1", "Deployment", &[]),
            want: Err(ProtobufError::UnsupportedKind {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
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
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
            },
            r#"decoding "Deployment" in apiVersion "apps/v1" from protobuf is not supported"#,
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}
