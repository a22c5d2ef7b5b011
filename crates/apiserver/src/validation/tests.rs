//! Data-driven tests comparing rendered errors with the exact kube-apiserver messages.

use super::*;
use serde_json::json;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = r"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QNAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Renders errors the way the Status message lists them.
fn render(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(FieldError::to_string_with_field).collect()
}

/// Defaults then validates a new object and compares the full list of messages.
fn check(kind: &str, obj: Value, expected: &[&str]) {
    let mut obj = obj;
    default(kind, &mut obj);
    let got = render(&validate(kind, &obj, None));
    assert_eq!(got, expected, "\nobject: {obj:#}");
}

/// Defaults both objects, then validates `new` as an update of `old`.
fn check_update(kind: &str, old: Value, new: Value, expected: &[&str]) {
    let (mut old, mut new) = (old, new);
    default(kind, &mut old);
    default(kind, &mut new);
    let got = render(&validate(kind, &new, Some(&old)));
    assert_eq!(got, expected, "\nobject: {new:#}");
}

/// Validates without defaulting, to reach errors that defaults would hide.
fn check_raw(kind: &str, obj: Value, expected: &[&str]) {
    let got = render(&validate(kind, &obj, None));
    assert_eq!(got, expected, "\nobject: {obj:#}");
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default"})
}

fn svc(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("web"), "spec": spec})
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"), "spec": spec})
}

fn container() -> Value {
    json!({"name": "app", "image": "nginx:1.25"})
}

fn deployment(spec_extra: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()]}}
    });
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"), "spec": spec})
}

// ----- FieldError rendering -----

#[test]
fn bodies_render_like_field_error() {
    assert_eq!(
        FieldError::invalid("f", 0, "d").body(),
        "Invalid value: 0: d"
    );
    assert_eq!(
        FieldError::invalid("f", "x\"y\n", "d").body(),
        "Invalid value: \"x\\\"y\\n\": d"
    );
    assert_eq!(
        FieldError::invalid("f", true, "").body(),
        "Invalid value: true"
    );
    assert_eq!(
        FieldError::invalid("f", Value::Null, "d").body(),
        "Invalid value: null: d"
    );
    assert_eq!(
        FieldError::invalid("f", json!(["a", "b"]), "d").body(),
        "Invalid value: [\"a\",\"b\"]: d"
    );
    assert_eq!(
        FieldError::invalid("f", json!({"b": "<&>", "a": 1}), "d").body(),
        "Invalid value: {\"a\":1,\"b\":\"\\u003c\\u0026\\u003e\"}: d"
    );
    assert_eq!(FieldError::required("f", "").body(), "Required value");
    assert_eq!(
        FieldError::required("f", "why").body(),
        "Required value: why"
    );
    assert_eq!(FieldError::forbidden("f", "no").body(), "Forbidden: no");
    assert_eq!(
        FieldError::duplicate("f", "a").body(),
        "Duplicate value: \"a\""
    );
    assert_eq!(FieldError::not_found("f", "a").body(), "Not found: \"a\"");
    assert_eq!(
        FieldError::too_long("f", 10).body(),
        "Too long: may not be more than 10 bytes"
    );
    assert_eq!(
        FieldError::too_long("f", 1).body(),
        "Too long: may not be more than 1 byte"
    );
    assert_eq!(
        FieldError::too_many("f", 3, 2).body(),
        "Too many: 3: must have at most 2 items"
    );
    assert_eq!(
        FieldError::internal("f", "boom").body(),
        "Internal error: boom"
    );
    assert_eq!(
        FieldError::not_supported(
            "spec.type",
            "Foo",
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        )
        .body(),
        "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
    );
    assert_eq!(
        FieldError::invalid("a.b", 1, "x").to_string_with_field(),
        "a.b: Invalid value: 1: x"
    );
}

#[test]
fn go_quoting_escapes_like_strconv_quote() {
    assert_eq!(go_quote("a\tb\\c"), "\"a\\tb\\\\c\"");
    assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    assert_eq!(go_quote("\u{7f}"), "\"\\x7f\"");
    assert_eq!(go_quote("héllo"), "\"héllo\"");
    assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    assert_eq!(go_quote("\u{feff}"), "\"\\ufeff\"");
}

#[test]
fn reasons_match_status_causes() {
    let cases = [
        (ErrorKind::Required, "FieldValueRequired"),
        (ErrorKind::Invalid, "FieldValueInvalid"),
        (ErrorKind::NotSupported, "FieldValueNotSupported"),
        (ErrorKind::Duplicate, "FieldValueDuplicate"),
        (ErrorKind::Forbidden, "FieldValueForbidden"),
        (ErrorKind::TooLong, "FieldValueTooLong"),
        (ErrorKind::TooMany, "FieldValueTooMany"),
        (ErrorKind::NotFound, "FieldValueNotFound"),
        (ErrorKind::Internal, "InternalError"),
    ];
    for (kind, reason) in cases {
        let e = FieldError {
            field: "f".into(),
            kind,
            bad_value: None,
            detail: String::new(),
        };
        assert_eq!(e.reason(), reason);
    }
}

// ----- Name formats -----

#[test]
fn name_format_helpers() {
    assert!(is_dns1123_label("my-name").is_empty());
    assert!(is_dns1123_label("123-abc").is_empty());
    assert_eq!(is_dns1123_label("Foo_1"), vec![LABEL_MSG.to_string()]);
    assert_eq!(is_dns1123_label("a.b"), vec![LABEL_MSG.to_string()]);
    assert_eq!(
        is_dns1123_label(&"a".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
    assert!(is_dns1123_subdomain("example.com").is_empty());
    assert_eq!(
        is_dns1123_subdomain("a..b"),
        vec![SUBDOMAIN_MSG.to_string()]
    );
    assert_eq!(is_dns1123_subdomain("-a"), vec![SUBDOMAIN_MSG.to_string()]);
    assert_eq!(
        is_dns1123_subdomain(&"a".repeat(254)),
        vec!["must be no more than 253 characters".to_string()]
    );
    assert!(is_dns1035_label("abc-123").is_empty());
    assert_eq!(is_dns1035_label("1abc"), vec![DNS1035_MSG.to_string()]);
    assert_eq!(is_dns1035_label(""), vec![DNS1035_MSG.to_string()]);
    assert_eq!(
        is_dns1035_label(&"a".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
}

#[test]
fn qualified_names() {
    assert!(is_qualified_name("example.com/MyName").is_empty());
    assert_eq!(is_qualified_name("bad key"), vec![QNAME_MSG.to_string()]);
    assert_eq!(
        is_qualified_name("/x"),
        vec!["prefix part must be non-empty".to_string()]
    );
    assert_eq!(
        is_qualified_name("a/"),
        vec![
            "name part must be non-empty".to_string(),
            QNAME_MSG.to_string()
        ]
    );
    assert_eq!(
        is_qualified_name("a/b/c"),
        vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
    );
    assert_eq!(
        is_qualified_name("Bad_Prefix/x"),
        vec![format!("prefix part {SUBDOMAIN_MSG}")]
    );
}

#[test]
fn port_names() {
    assert!(is_valid_port_name("http").is_empty());
    assert_eq!(
        is_valid_port_name("Bad_Port"),
        vec!["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"]
    );
    assert_eq!(
        is_valid_port_name("123"),
        vec!["must contain at least one letter (a-z)"]
    );
    assert_eq!(
        is_valid_port_name("a--b"),
        vec!["must not contain consecutive hyphens"]
    );
    assert_eq!(
        is_valid_port_name("-ab"),
        vec!["must not begin or end with a hyphen"]
    );
    assert_eq!(
        is_valid_port_name("abcdefghijklmnop"),
        vec!["must be no more than 15 characters"]
    );
}

#[test]
fn quantities_canonicalize() {
    let c = |s: &str| Quantity::parse(s).map(|q| q.canonical());
    assert_eq!(c("0.5").as_deref(), Some("500m"));
    assert_eq!(c("1000m").as_deref(), Some("1"));
    assert_eq!(c("1024Mi").as_deref(), Some("1Gi"));
    assert_eq!(c("1500Mi").as_deref(), Some("1500Mi"));
    assert_eq!(c("2048").as_deref(), Some("2048"));
    assert_eq!(c("2000").as_deref(), Some("2k"));
    assert_eq!(c("1e3").as_deref(), Some("1e3"));
    assert_eq!(c("0.0001").as_deref(), Some("1m"));
    assert_eq!(c("-1").as_deref(), Some("-1"));
    assert_eq!(c("0").as_deref(), Some("0"));
    assert_eq!(c("abc"), None);
    assert_eq!(c("1.2.3"), None);
    assert_eq!(c("5Xi"), None);
}

#[test]
fn ip_parsing_follows_go() {
    assert!(parse_ip("10.0.0.1").is_some());
    assert!(parse_ip("010.000.000.001").is_some());
    assert!(parse_ip("2001:db8::1").is_some());
    assert!(parse_ip("::ffff:1.2.3.4").is_some_and(|ip| ip.to4().is_some()));
    assert!(parse_ip("1.2.3").is_none());
    assert!(parse_ip("256.1.1.1").is_none());
    assert!(parse_ip("abc").is_none());
    assert!(parse_ip("").is_none());
}

// ----- Metadata -----

#[test]
fn metadata_name_rules() {
    check_raw(
        "ConfigMap",
        json!({"metadata": {"namespace": "default"}}),
        &["metadata.name: Required value: name or generateName is required"],
    );
    check(
        "ConfigMap",
        json!({"metadata": meta("Bad_Name")}),
        &[&format!(
            "metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_MSG}"
        )],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 80}]})).pipe_name("Bad_Name"),
        &[&format!(
            "metadata.name: Invalid value: \"Bad_Name\": {DNS1035_MSG}"
        )],
    );
    check(
        "Namespace",
        json!({"metadata": {"name": "a.b"}}),
        &[&format!(
            "metadata.name: Invalid value: \"a.b\": {LABEL_MSG}"
        )],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "Foo-x", "generateName": "Foo-", "namespace": "default"}}),
        &[
            &format!("metadata.generateName: Invalid value: \"Foo-\": {SUBDOMAIN_MSG}"),
            &format!("metadata.name: Invalid value: \"Foo-x\": {SUBDOMAIN_MSG}"),
        ],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "ok", "generateName": "ok-", "namespace": "default"}}),
        &[],
    );
}

trait PipeName {
    fn pipe_name(self, name: &str) -> Value;
}

impl PipeName for Value {
    fn pipe_name(mut self, name: &str) -> Value {
        self["metadata"]["name"] = json!(name);
        self
    }
}

#[test]
fn metadata_labels_and_annotations() {
    let long = "a".repeat(64);
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "labels": {"bad key": "v", "k": long}}}),
        &[
            &format!("metadata.labels: Invalid value: \"bad key\": {QNAME_MSG}"),
            &format!(
                "metadata.labels: Invalid value: \"{long}\": must be no more than 63 characters"
            ),
        ],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "labels": {"k": "-v"}}}),
        &[
            "metadata.labels: Invalid value: \"-v\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "annotations": {"Example.COM/Key": "x", "bad key": "y"}}}),
        &[&format!(
            "metadata.annotations: Invalid value: \"bad key\": {QNAME_MSG}"
        )],
    );
    let big = "x".repeat(256 * 1024);
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "annotations": {"a": big}}}),
        &["metadata.annotations: Too long: may not be more than 262144 bytes"],
    );
}

#[test]
fn metadata_finalizers_and_owners() {
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "finalizers": ["custom", "example.com/ok", "orphan", "foregroundDeletion"]}}),
        &[
            "metadata.finalizers: Invalid value: [\"custom\",\"example.com/ok\",\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set",
            "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
        ],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]}}),
        &[
            "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
            "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty",
            "metadata.ownerReferences.name: Invalid value: \"\": must not be empty",
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
        ],
    );
    check(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true}
        ]}}),
        &[
            "metadata.ownerReferences: Invalid value: [{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"a\",\"uid\":\"1\",\"controller\":true},{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"b\",\"uid\":\"2\",\"controller\":true}]: Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b",
        ],
    );
}

#[test]
fn metadata_update_rules() {
    let old =
        json!({"metadata": {"name": "c", "namespace": "default", "uid": "u1", "generation": 3}});
    check_update(
        "ConfigMap",
        old.clone(),
        json!({"metadata": {"name": "c", "namespace": "default"}}),
        &[],
    );
    check_update(
        "ConfigMap",
        old.clone(),
        json!({"metadata": {"name": "c", "namespace": "default", "uid": "u2", "generation": 2}}),
        &[
            "metadata.generation: Invalid value: 2: must not be decremented",
            "metadata.uid: Invalid value: \"u2\": field is immutable",
        ],
    );
    check_update(
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "default", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}}),
        json!({"metadata": {"name": "c", "namespace": "default", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]}}),
        &[
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
        ],
    );
}

// ----- Services -----

#[test]
fn service_defaults() {
    let mut s = svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
    default("Service", &mut s);
    assert_eq!(
        s["spec"],
        json!({
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster"
        })
    );
    let mut lb = svc(
        json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "targetPort": "https"}]}),
    );
    default("Service", &mut lb);
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        lb["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
    assert!(lb["spec"].get("clusterIP").is_none());
    let mut en = svc(json!({"type": "ExternalName", "externalName": "example.com"}));
    default("Service", &mut en);
    assert!(en["spec"].get("internalTrafficPolicy").is_none());
}

#[test]
fn service_valid_shapes() {
    check(
        "Service",
        svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]})),
        &[],
    );
    check("Service", svc(json!({"clusterIP": "None"})), &[]);
    check(
        "Service",
        svc(json!({"type": "ExternalName", "externalName": "db.example.com."})),
        &[],
    );
    check(
        "Service",
        svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})),
        &[],
    );
    check(
        "Service",
        svc(
            json!({"type": "LoadBalancer", "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}),
        ),
        &[],
    );
    check(
        "Service",
        svc(
            json!({"clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10", "fd00::10"], "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 53, "protocol": "UDP"}]}),
        ),
        &[],
    );
}

#[test]
fn service_port_errors() {
    check(
        "Service",
        svc(json!({"ports": [{"port": 0}]})),
        &[
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        ],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 70000, "targetPort": 8080}]})),
        &["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"],
    );
    check("Service", svc(json!({})), &["spec.ports: Required value"]);
    check(
        "Service",
        svc(json!({"ports": [{"port": 80, "protocol": "HTTP"}]})),
        &[
            "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 80, "targetPort": "Bad_Port"}]})),
        &[
            "spec.ports[0].targetPort: Invalid value: \"Bad_Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        ],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 80}, {"port": 80}]})),
        &[
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value",
            "spec.ports[1]: Duplicate value: {\"Name\":\"\",\"Protocol\":\"TCP\",\"AppProtocol\":null,\"Port\":80,\"TargetPort\":0,\"NodePort\":0}",
        ],
    );
    check(
        "Service",
        svc(
            json!({"ports": [{"name": "Web", "port": 80}, {"name": "web", "port": 81}, {"name": "web", "port": 82}]}),
        ),
        &[
            &format!("spec.ports[0].name: Invalid value: \"Web\": {LABEL_MSG}"),
            "spec.ports[2].name: Duplicate value: \"web\"",
        ],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 80, "nodePort": 30000}]})),
        &["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
    );
    check(
        "Service",
        svc(
            json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30000}, {"name": "b", "port": 81, "nodePort": 30000}]}),
        ),
        &["spec.ports[1].nodePort: Duplicate value: 30000"],
    );
    check(
        "Service",
        svc(json!({"ports": [{"port": 80, "appProtocol": "bad proto"}]})),
        &[&format!(
            "spec.ports[0].appProtocol: Invalid value: \"bad proto\": {QNAME_MSG}"
        )],
    );
}

#[test]
fn service_type_and_affinity_errors() {
    check(
        "Service",
        svc(json!({"type": "Foo", "ports": [{"port": 80}]})),
        &[
            "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ],
    );
    check(
        "Service",
        svc(json!({"type": "ExternalName"})),
        &["spec.externalName: Required value"],
    );
    check(
        "Service",
        svc(json!({"type": "ExternalName", "externalName": "Foo_Bar"})),
        &[&format!(
            "spec.externalName: Invalid value: \"Foo_Bar\": {SUBDOMAIN_MSG}"
        )],
    );
    check(
        "Service",
        svc(json!({"type": "ExternalName", "externalName": "a.com", "clusterIP": "10.0.0.1"})),
        &["spec.clusterIPs: Forbidden: may not be set for ExternalName services"],
    );
    check(
        "Service",
        svc(json!({"sessionAffinity": "Sticky", "ports": [{"port": 80}]})),
        &[
            "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
        ],
    );
    check(
        "Service",
        svc(
            json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}, "ports": [{"port": 80}]}),
        ),
        &[
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400",
        ],
    );
    check(
        "Service",
        svc(
            json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}}, "ports": [{"port": 80}]}),
        ),
        &[],
    );
    check(
        "Service",
        svc(json!({"externalTrafficPolicy": "Local", "ports": [{"port": 80}]})),
        &[
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
        ],
    );
    check(
        "Service",
        svc(
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
        ),
        &["spec.healthCheckNodePort: Required value"],
    );
    check(
        "Service",
        svc(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})),
        &[
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services",
        ],
    );
    check_raw(
        "Service",
        svc(
            json!({"type": "LoadBalancer", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}),
        ),
        &["allocateLoadBalancerNodePorts: Required value"],
    );
    check(
        "Service",
        svc(
            json!({"loadBalancerSourceRanges": ["10.0.0.0/8"], "loadBalancerClass": "x", "ports": [{"port": 80}]}),
        ),
        &[
            "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
            "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'",
        ],
    );
    check(
        "Service",
        svc(
            json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/33"], "ports": [{"port": 80}]}),
        ),
        &[
            "spec.LoadBalancerSourceRanges[0]: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ],
    );
    check(
        "Service",
        svc(json!({"selector": {"app": "-bad"}, "ports": [{"port": 80}]})),
        &[
            "spec.selector: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ],
    );
}

#[test]
fn service_cluster_ip_errors() {
    check(
        "Service",
        svc(json!({"clusterIP": "abc", "ports": [{"port": 80}]})),
        &[
            "spec.clusterIPs[0]: Invalid value: \"abc\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ],
    );
    check(
        "Service",
        svc(json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.2"], "ports": [{"port": 80}]})),
        &["spec.clusterIPs: Invalid value: [\"10.0.0.2\"]: first value must match `clusterIP`"],
    );
    check(
        "Service",
        svc(
            json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "10.0.0.2"], "ports": [{"port": 80}]}),
        ),
        &[
            "spec.clusterIPs: Invalid value: [\"10.0.0.1\",\"10.0.0.2\"]: may specify no more than one IP for each IP family",
        ],
    );
    check(
        "Service",
        svc(json!({"clusterIP": "10.0.0.1", "ipFamilies": ["IPv6"], "ports": [{"port": 80}]})),
        &[
            "spec.clusterIPs[0]: Invalid value: \"10.0.0.1\": expected an IPv6 value as indicated by `ipFamilies[0]`",
        ],
    );
    check(
        "Service",
        svc(json!({"ipFamilies": ["IPv5"], "ipFamilyPolicy": "Both", "ports": [{"port": 80}]})),
        &[
            "spec.ipFamilies[0]: Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\"",
            "spec.ipFamilyPolicy: Unsupported value: \"Both\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"",
        ],
    );
    check(
        "Service",
        svc(json!({"externalIPs": ["169.254.1.1", "nope"], "ports": [{"port": 80}]})),
        &[
            "spec.externalIPs[0]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)",
            "spec.externalIPs[1]: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ],
    );
}

#[test]
fn service_updates() {
    let old = svc(
        json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": [{"port": 80}]}),
    );
    // kubectl apply re-sends the manifest without the allocated fields.
    check_update(
        "Service",
        old.clone(),
        svc(json!({"ports": [{"port": 8080}]})),
        &[],
    );
    check_update(
        "Service",
        old.clone(),
        svc(json!({"clusterIP": "10.0.0.2", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]})),
        &["spec.clusterIPs[0]: Invalid value: [\"10.0.0.2\"]: may not change once set"],
    );
    check_update(
        "Service",
        old.clone(),
        svc(json!({"clusterIP": "10.0.0.2", "ports": [{"port": 80}]})),
        &["spec.clusterIPs[0]: Invalid value: [\"10.0.0.2\"]: may not change once set"],
    );
    check_update(
        "Service",
        svc(
            json!({"type": "LoadBalancer", "loadBalancerClass": "a.io/x", "ports": [{"port": 80}]}),
        ),
        svc(
            json!({"type": "LoadBalancer", "loadBalancerClass": "b.io/y", "ports": [{"port": 80}]}),
        ),
        &["spec.loadBalancerClass: Invalid value: \"b.io/y\": may not change once set"],
    );
}

// ----- Pods -----

#[test]
fn pod_defaults() {
    let mut p = pod(json!({"containers": [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
         "livenessProbe": {"httpGet": {"port": 80}},
         "resources": {"limits": {"cpu": "1"}}},
        {"name": "b", "image": "nginx:1.25"},
        {"name": "c", "image": "nginx:latest"},
        {"name": "d", "image": "registry.local:5000/app@sha256:abc"}
    ]}));
    default("Pod", &mut p);
    let spec = &p["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(c["resources"]["requests"], json!({"cpu": "1"}));
    assert_eq!(
        c["livenessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(spec["containers"][1]["resources"], json!({}));
    assert_eq!(spec["containers"][2]["imagePullPolicy"], "Always");
    assert_eq!(spec["containers"][3]["imagePullPolicy"], "IfNotPresent");

    let mut d = deployment(json!({}));
    default("Deployment", &mut d);
    assert!(
        d["spec"]["template"]["spec"]
            .get("enableServiceLinks")
            .is_none()
    );
}

#[test]
fn pod_valid_and_container_errors() {
    check("Pod", pod(json!({"containers": [container()]})), &[]);
    check(
        "Pod",
        pod(json!({"containers": []})),
        &["spec.containers: Required value"],
    );
    check(
        "Pod",
        pod(json!({"containers": [{"name": "Web_1", "image": "x"}, {"name": "b"}]})),
        &[
            &format!("spec.containers[0].name: Invalid value: \"Web_1\": {LABEL_MSG}"),
            "spec.containers[1].image: Required value",
        ],
    );
    check(
        "Pod",
        pod(json!({"containers": [container(), container()]})),
        &["spec.containers[1].name: Duplicate value: \"app\""],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}, {"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]}]}),
        ),
        &[
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[2].name: Duplicate value: \"http\"",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}, {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}]}),
        ),
        &["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""],
    );
    check(
        "Pod",
        pod(json!({"restartPolicy": "Sometimes", "containers": [container()]})),
        &[
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ],
    );
    check(
        "Pod",
        pod(json!({"dnsPolicy": "Magic", "containers": [container()]})),
        &[
            "spec.dnsPolicy: Unsupported value: \"Magic\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes", "terminationMessagePolicy": "Dunno"}]}),
        ),
        &[
            "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Dunno\": supported values: \"File\", \"FallbackToLogsOnError\"",
            "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
        ],
    );
    check(
        "Pod",
        pod(json!({"containers": [{"name": "a", "image": " nginx"}]})),
        &[
            "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
        ],
    );
    check_raw(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}),
        ),
        &["spec.terminationGracePeriodSeconds: Required value"],
    );
}

#[test]
fn pod_probe_errors() {
    let with_probe = |kind: &str, probe: Value| {
        pod(json!({"containers": [{"name": "a", "image": "x", kind: probe}]}))
    };
    check(
        "Pod",
        with_probe(
            "livenessProbe",
            json!({"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}),
        ),
        &[
            "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
        ],
    );
    check(
        "Pod",
        with_probe("readinessProbe", json!({"periodSeconds": 5})),
        &["spec.containers[0].readinessProbe: Required value: must specify a handler type"],
    );
    check(
        "Pod",
        with_probe(
            "livenessProbe",
            json!({"exec": {"command": ["true"]}, "successThreshold": 2, "initialDelaySeconds": -1}),
        ),
        &[
            "spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        ],
    );
    check(
        "Pod",
        with_probe("startupProbe", json!({"exec": {}})),
        &["spec.containers[0].startupProbe.exec.command: Required value"],
    );
    check(
        "Pod",
        with_probe(
            "readinessProbe",
            json!({"httpGet": {"port": 0, "scheme": "FTP"}, "terminationGracePeriodSeconds": 5}),
        ),
        &[
            "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"",
            "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes",
        ],
    );
    check(
        "Pod",
        with_probe("livenessProbe", json!({"grpc": {"port": 70000}})),
        &[
            "spec.containers[0].livenessProbe.grpc.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ],
    );
}

#[test]
fn pod_volumes_env_and_resources() {
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}),
        ),
        &["spec.containers[0].volumeMounts[0].name: Not found: \"data\""],
    );
    check(
        "Pod",
        pod(json!({
            "volumes": [{"name": "data", "emptyDir": {}, "configMap": {"name": "c"}}, {"name": "cfg", "secret": {}}, {"name": "Bad"}],
            "containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "cfg", "mountPath": "/c"}]}]
        })),
        &[
            "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1].secret.secretName: Required value",
            &format!("spec.volumes[2].name: Invalid value: \"Bad\": {LABEL_MSG}"),
            "spec.containers[0].volumeMounts[0].name: Not found: \"cfg\"",
        ],
    );
    check(
        "Pod",
        pod(json!({"containers": [{"name": "a", "image": "x", "env": [
            {"name": ""},
            {"name": "A=B"},
            {"name": "X", "valueFrom": {}},
            {"name": "Y", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}
        ]}]})),
        &[
            "spec.containers[0].env[0].name: Required value",
            "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            "spec.containers[0].env[3].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "-1"}, "limits": {"cpu": "1"}}}]}),
        ),
        &[
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"example.com/gpu": "1"}, "limits": {"foo": "1"}}}]}),
        ),
        &[
            "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
            "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource for containers",
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
            "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
            "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource for containers",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "0.6"}}}]}),
        ),
        &[
            "spec.containers[0].resources.requests: Invalid value: \"600m\": must be less than or equal to cpu limit of 500m",
        ],
    );
}

#[test]
fn pod_spec_misc_errors() {
    check(
        "Pod",
        pod(
            json!({"containers": [container()], "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Maybe"}, {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}]}),
        ),
        &[
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[1].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"",
            "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"containers": [container()], "hostname": "Bad", "activeDeadlineSeconds": 0, "nodeSelector": {"a": "-"}}),
        ),
        &[
            "spec.nodeSelector: Invalid value: \"-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            &format!("spec.hostname: Invalid value: \"Bad\": {LABEL_MSG}"),
        ],
    );
    check(
        "Pod",
        pod(json!({"containers": [container()], "dnsPolicy": "None"})),
        &["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"],
    );
    check(
        "Pod",
        pod(
            json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 81}]}]}),
        ),
        &[
            "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"initContainers": [{"name": "app", "image": "x", "livenessProbe": {"exec": {"command": ["a"]}}}], "containers": [container()]}),
        ),
        &[
            "spec.initContainers[0].name: Duplicate value: \"app\"",
            "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
        ],
    );
    check(
        "Pod",
        pod(
            json!({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}], "containers": [container()]}),
        ),
        &["spec.ephemeralContainers: Forbidden: cannot be set on create"],
    );
}

#[test]
fn pod_updates() {
    let old = pod(json!({"containers": [container()]}));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    check_update("Pod", old.clone(), new, &[]);
    let mut new = old.clone();
    new["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    let mut a = old.clone();
    let mut b = new.clone();
    default("Pod", &mut a);
    default("Pod", &mut b);
    let errs = validate("Pod", &b, Some(&a));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec");
    assert_eq!(errs[0].kind, ErrorKind::Forbidden);
    assert!(errs[0].body().starts_with("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
    let mut new = old.clone();
    new["spec"]["containers"] = json!([container(), {"name": "b", "image": "x"}]);
    check_update(
        "Pod",
        old,
        new,
        &["spec.containers: Forbidden: pod updates may not add or remove containers"],
    );
}

// ----- Deployments and other workloads -----

#[test]
fn deployment_defaults() {
    let mut d = deployment(json!({}));
    default("Deployment", &mut d);
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let mut r = deployment(json!({"strategy": {"type": "Recreate"}}));
    default("Deployment", &mut r);
    assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn deployment_errors() {
    check("Deployment", deployment(json!({})), &[]);
    check(
        "Deployment",
        deployment(json!({"selector": {"matchLabels": {"app": "other"}}})),
        &[
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"replicas": -1})),
        &["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    );
    check(
        "Deployment",
        deployment(json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}})),
        &[
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
        ],
    );
    check(
        "Deployment",
        deployment(
            json!({"strategy": {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}}),
        ),
        &[
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"strategy": {"rollingUpdate": {"maxUnavailable": "120%"}}})),
        &[
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%",
        ],
    );
    check(
        "Deployment",
        deployment(
            json!({"strategy": {"rollingUpdate": {"maxSurge": "abc", "maxUnavailable": -1}}}),
        ),
        &[
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}})),
        &[
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"strategy": {"type": "Foo"}})),
        &[
            "spec.strategy: Unsupported value: {\"Type\":\"Foo\",\"RollingUpdate\":null}: supported values: \"Recreate\", \"RollingUpdate\"",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"minReadySeconds": 700})),
        &["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"],
    );
}

#[test]
fn deployment_selector_errors() {
    let mut d = deployment(json!({}));
    d["spec"].as_object_mut().map(|m| m.remove("selector"));
    check(
        "Deployment",
        d,
        &[
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
        ],
    );
    check(
        "Deployment",
        deployment(json!({"selector": {}})),
        &["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
    );
    check(
        "Deployment",
        deployment(json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}})),
        &[
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector: Invalid value: {\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\"}]}: invalid label selector",
        ],
    );
    check(
        "Deployment",
        deployment(
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}}),
        ),
        &[],
    );
    check(
        "Deployment",
        deployment(
            json!({"selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}}),
        ),
        &[
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
        ],
    );
    check_update(
        "Deployment",
        deployment(json!({})),
        deployment(
            json!({"selector": {"matchLabels": {"app": "web", "tier": "x"}}, "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [container()]}}}),
        ),
        &[
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable",
        ],
    );
    check_update(
        "Deployment",
        deployment(json!({})),
        deployment(json!({"replicas": 3})),
        &[],
    );
}

#[test]
fn deployment_template_errors() {
    check(
        "Deployment",
        deployment(
            json!({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [], "restartPolicy": "Never"}}}),
        ),
        &[
            "spec.template.spec.containers: Required value",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        ],
    );
    check(
        "Deployment",
        deployment(
            json!({"template": {"metadata": {"labels": {"app": "web", "bad key": "x"}}, "spec": {"containers": [{"name": "a"}]}}}),
        ),
        &[
            &format!("spec.template.labels: Invalid value: \"bad key\": {QNAME_MSG}"),
            "spec.template.spec.containers[0].image: Required value",
        ],
    );
}

#[test]
fn replicaset_statefulset_daemonset() {
    let rs = |labels: Value| json!({"metadata": meta("rs"), "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container()]}}}});
    check("ReplicaSet", rs(json!({"app": "a"})), &[]);
    check(
        "ReplicaSet",
        rs(json!({"app": "b"})),
        &[
            "spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`",
        ],
    );
    let mut r = rs(json!({"app": "a"}));
    default("ReplicaSet", &mut r);
    assert_eq!(r["spec"]["replicas"], 1);

    let sts = json!({"metadata": meta("db"), "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db", "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [container()]}}}});
    check("StatefulSet", sts.clone(), &[]);
    let mut s = sts.clone();
    default("StatefulSet", &mut s);
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        s["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let mut bad = sts.clone();
    bad["metadata"]["name"] = json!("db.v1");
    bad["spec"]["podManagementPolicy"] = json!("Random");
    bad["spec"]["updateStrategy"] = json!({"type": "Sometimes"});
    check(
        "StatefulSet",
        bad,
        &[
            &format!("metadata.name: Invalid value: \"db.v1\": {LABEL_MSG}"),
            "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
            "spec.updateStrategy: Invalid value: {\"Type\":\"Sometimes\",\"RollingUpdate\":null}: must be 'RollingUpdate' or 'OnDelete'",
        ],
    );
    let mut changed = sts.clone();
    changed["spec"]["serviceName"] = json!("other");
    check_update(
        "StatefulSet",
        sts.clone(),
        changed,
        &[
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ],
    );

    let ds = json!({"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [container()]}}}});
    check("DaemonSet", ds.clone(), &[]);
    let mut d = ds.clone();
    default("DaemonSet", &mut d);
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    let mut bad = ds.clone();
    bad["spec"]["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
    check(
        "DaemonSet",
        bad,
        &[
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
        ],
    );
}

#[test]
fn jobs() {
    let job = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "1234"}, "spec": {"template": {"spec": {"containers": [container()], "restartPolicy": "Never"}}}});
    check("Job", job.clone(), &[]);
    let mut j = job.clone();
    default("Job", &mut j);
    assert_eq!(
        j["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}})
    );
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completions"], 1);
    assert_eq!(j["spec"]["parallelism"], 1);
    assert_eq!(
        j["spec"]["template"]["metadata"]["labels"]["job-name"],
        "pi"
    );
    let mut bad = job.clone();
    bad["spec"]["template"]["spec"]
        .as_object_mut()
        .map(|m| m.remove("restartPolicy"));
    check(
        "Job",
        bad,
        &[
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
        ],
    );
}

// ----- Secrets, config maps, namespaces -----

#[test]
fn secrets() {
    let mut s = json!({"metadata": meta("s")});
    default("Secret", &mut s);
    assert_eq!(s["type"], "Opaque");
    check(
        "Secret",
        json!({"metadata": meta("tls"), "type": "kubernetes.io/tls"}),
        &[
            "data[tls.crt]: Required value",
            "data[tls.key]: Required value",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}, "stringData": {"tls.key": "k"}}),
        &[],
    );
    check(
        "Secret",
        json!({"metadata": meta("s"), "data": {"bad/key": "YQ==", "..x": ""}}),
        &[
            "data[..x]: Invalid value: \"..x\": must not start with '..'",
            "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("s"), "type": "kubernetes.io/basic-auth"}),
        &[
            "data[username]: Required value",
            "data[password]: Required value",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("s"), "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "aGVsbG8="}}),
        &[
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'h' looking for beginning of value",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("s"), "type": "kubernetes.io/dockercfg", "data": {".dockercfg": "bm9wZQ=="}}),
        &[
            "data[.dockercfg]: Invalid value: \"<secret contents redacted>\": invalid character 'o' in literal null (expecting 'u')",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("s"), "type": "kubernetes.io/dockercfg", "data": {".dockercfg": "W10="}}),
        &[
            "data[.dockercfg]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal array into Go value of type map[string]interface {}",
        ],
    );
    check(
        "Secret",
        json!({"metadata": meta("sa"), "type": "kubernetes.io/service-account-token"}),
        &["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
    );
    let big = "a".repeat(1024 * 1024 + 1);
    check(
        "Secret",
        json!({"metadata": meta("s"), "stringData": {"k": big}}),
        &["data: Too long: may not be more than 1048576 bytes"],
    );
    check_update(
        "Secret",
        json!({"metadata": meta("s"), "type": "Opaque"}),
        json!({"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        &["type: Invalid value: \"kubernetes.io/tls\": field is immutable"],
    );
    check_update(
        "Secret",
        json!({"metadata": meta("s"), "immutable": true, "data": {"a": "YQ=="}}),
        json!({"metadata": meta("s"), "data": {"a": "Yg=="}}),
        &[
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set",
        ],
    );
}

#[test]
fn config_maps() {
    check(
        "ConfigMap",
        json!({"metadata": meta("c"), "data": {"a.txt": "x"}}),
        &[],
    );
    check(
        "ConfigMap",
        json!({"metadata": meta("c"), "data": {"..": "x", "k": "v"}, "binaryData": {"k": "YQ=="}}),
        &[
            "data[..]: Invalid value: \"..\": must not be '..'",
            "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
        ],
    );
    let big = "a".repeat(1024 * 1024 + 1);
    check(
        "ConfigMap",
        json!({"metadata": meta("c"), "data": {"k": big}}),
        &[": Too long: may not be more than 1048576 bytes"],
    );
}

#[test]
fn namespaces() {
    let mut ns = json!({"metadata": {"name": "team-a"}});
    default("Namespace", &mut ns);
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    check("Namespace", json!({"metadata": {"name": "team-a"}}), &[]);
    check(
        "Namespace",
        json!({"metadata": {"name": "Team_A"}}),
        &[&format!(
            "metadata.name: Invalid value: \"Team_A\": {LABEL_MSG}"
        )],
    );
    check(
        "Namespace",
        json!({"metadata": {"name": "x"}, "spec": {"finalizers": ["custom"]}}),
        &[
            "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
        ],
    );
}

// ----- Discovery and networking -----

#[test]
fn endpoint_slices() {
    let es = |addr_type: &str, endpoints: Value, ports: Value| json!({"metadata": meta("es"), "addressType": addr_type, "endpoints": endpoints, "ports": ports});
    check(
        "EndpointSlice",
        es(
            "IPv4",
            json!([{"addresses": ["10.1.2.3"]}]),
            json!([{"port": 80}]),
        ),
        &[],
    );
    let mut e = es("IPv4", json!([]), json!([{"port": 80}]));
    default("EndpointSlice", &mut e);
    assert_eq!(
        e["ports"][0],
        json!({"port": 80, "protocol": "TCP", "name": ""})
    );
    check(
        "EndpointSlice",
        es("IP", json!([]), json!([])),
        &["addressType: Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""],
    );
    check(
        "EndpointSlice",
        es(
            "IPv4",
            json!([{"addresses": []}, {"addresses": ["1.2.3", "169.254.1.1", "fd00::1"]}]),
            json!([]),
        ),
        &[
            "endpoints[0].addresses: Required value: must contain at least 1 address",
            "endpoints[1].addresses[0]: Invalid value: \"1.2.3\": must be a valid IPv4 address",
            "endpoints[1].addresses[0]: Invalid value: \"1.2.3\": must be a valid IP address",
            "endpoints[1].addresses[1]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)",
            "endpoints[1].addresses[2]: Invalid value: \"fd00::1\": must be a valid IPv4 address",
        ],
    );
    let many: Vec<String> = (0..101)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
        .collect();
    check(
        "EndpointSlice",
        es("IPv4", json!([{"addresses": many}]), json!([])),
        &["endpoints[0].addresses: Too many: 101: must have at most 100 items"],
    );
    check(
        "EndpointSlice",
        es(
            "FQDN",
            json!([{"addresses": ["example"]}]),
            json!([{"name": "http", "port": 80}, {"name": "http", "port": 81, "protocol": "HTTP"}]),
        ),
        &[
            "endpoints[0].addresses[0]: Invalid value: \"example\": should be a domain with at least two segments separated by dots",
            "ports[1].name: Duplicate value: \"http\"",
            "ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ],
    );
    check_update(
        "EndpointSlice",
        es("IPv4", json!([]), json!([])),
        es("IPv6", json!([]), json!([])),
        &["addressType: Invalid value: \"IPv6\": field is immutable"],
    );
}

fn ingress(spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("ing"), "spec": spec})
}

fn rule(path: Value) -> Value {
    json!({"host": "example.com", "http": {"paths": [path]}})
}

#[test]
fn ingresses() {
    let backend = json!({"service": {"name": "web", "port": {"number": 80}}});
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/", "pathType": "Prefix", "backend": backend}))]}),
        ),
        &[],
    );
    check("Ingress", ingress(json!({"defaultBackend": backend})), &[]);
    check(
        "Ingress",
        ingress(json!({})),
        &["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "foo", "pathType": "Prefix", "backend": backend}))]}),
        ),
        &["spec.rules[0].http.paths[0].path: Invalid value: \"foo\": must be an absolute path"],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/a//b/..", "pathType": "Exact", "backend": backend}))]}),
        ),
        &[
            "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b/..\": must not contain '//'",
            "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b/..\": cannot end with '/..'",
        ],
    );
    check(
        "Ingress",
        ingress(json!({"rules": [rule(json!({"path": "/", "backend": backend}))]})),
        &["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/", "pathType": "Regex", "backend": backend}))]}),
        ),
        &[
            "spec.rules[0].http.paths[0].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
        ],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/", "pathType": "Prefix", "backend": {}}))]}),
        ),
        &[
            "spec.rules[0].http.paths[0].backend: Invalid value: \"\": resource or service backend is required",
        ],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http", "number": 80}}}}))]}),
        ),
        &[
            "spec.rules[0].http.paths[0].backend: Invalid value: \"\": cannot set both port name & port number",
        ],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [rule(json!({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "1web"}}}))]}),
        ),
        &[
            &format!(
                "spec.rules[0].http.paths[0].backend.service.name: Invalid value: \"1web\": {DNS1035_MSG}"
            ),
            "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
        ],
    );
    check(
        "Ingress",
        ingress(
            json!({"rules": [{"host": "1.2.3.4"}, {"host": "*.example.com"}, {"host": "foo.*.com"}]}),
        ),
        &[
            "spec.rules[0].host: Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address",
            r#"spec.rules[2].host: Invalid value: "foo.*.com": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
        ],
    );
    check(
        "Ingress",
        ingress(
            json!({"defaultBackend": backend, "tls": [{"hosts": ["Bad.com"], "secretName": "Bad"}], "ingressClassName": "nginx"}),
        ),
        &[
            &format!("spec.tls[0].hosts[0]: Invalid value: \"Bad.com\": {SUBDOMAIN_MSG}"),
            &format!("spec.tls[0].secretName: Invalid value: \"Bad\": {SUBDOMAIN_MSG}"),
        ],
    );
    let mut annotated = ingress(json!({"defaultBackend": backend, "ingressClassName": "nginx"}));
    annotated["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": "traefik"});
    check(
        "Ingress",
        annotated,
        &[
            "annotations.kubernetes.io/ingress.class: Invalid value: \"traefik\": must match `ingressClassName` when both are specified",
        ],
    );
}

#[test]
fn ingress_classes() {
    let ic = |spec: Value| json!({"metadata": {"name": "nginx"}, "spec": spec});
    check(
        "IngressClass",
        ic(json!({"controller": "k8s.io/ingress-nginx"})),
        &[],
    );
    check(
        "IngressClass",
        ic(json!({})),
        &["spec.controller: Required value"],
    );
    check(
        "IngressClass",
        ic(json!({"controller": "nginx"})),
        &[
            "spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")",
        ],
    );
    check(
        "IngressClass",
        ic(json!({"controller": "example.com/a b"})),
        &[
            r#"spec.controller: Invalid value: "a b": Invalid path (regex used for validation is '[A-Za-z0-9/\-._~%!$&'()*+,;=:]+')"#,
        ],
    );
    check(
        "IngressClass",
        ic(
            json!({"controller": "example.com/x", "parameters": {"kind": "Params", "name": "p", "scope": "Namespace"}}),
        ),
        &["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"],
    );
    check_update(
        "IngressClass",
        ic(json!({"controller": "example.com/x"})),
        ic(json!({"controller": "example.com/y"})),
        &["spec.controller: Invalid value: \"example.com/y\": field is immutable"],
    );
}

#[test]
fn network_policies_and_generic_kinds() {
    let np = json!({"metadata": meta("np"), "spec": {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"port": 70000}]}]}});
    check(
        "NetworkPolicy",
        np,
        &[
            "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ingress[0].from[0]: Required value: must specify a peer",
        ],
    );
    let mut p = json!({"metadata": meta("np"), "spec": {"podSelector": {}, "egress": [{}]}});
    default("NetworkPolicy", &mut p);
    assert_eq!(p["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    check(
        "ServiceAccount",
        json!({"metadata": meta("Bad_SA")}),
        &[&format!(
            "metadata.name: Invalid value: \"Bad_SA\": {SUBDOMAIN_MSG}"
        )],
    );
    check("ClusterRole", json!({"metadata": {"name": "view"}}), &[]);
}

#[test]
fn duplicate_messages_are_dropped() {
    let errs = dedup(vec![
        FieldError::required("a", ""),
        FieldError::required("a", ""),
        FieldError::required("b", ""),
    ]);
    assert_eq!(
        render(&errs),
        vec!["a: Required value", "b: Required value"]
    );
}

#[test]
fn cronjob_defaults_and_validation() {
    let cj = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [container()], "restartPolicy": "OnFailure"}}}}}});
    let mut c = cj.clone();
    default("CronJob", &mut c);
    assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
    assert!(
        c["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none()
    );
    assert_eq!(
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    check("CronJob", cj.clone(), &[]);
    let mut long = cj;
    long["metadata"]["name"] = json!("a".repeat(53));
    long["spec"]["schedule"] = json!("");
    check(
        "CronJob",
        long,
        &[
            "metadata.name: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must be no more than 52 characters",
            "spec.schedule: Required value",
        ],
    );
}

#[test]
fn defaulting_is_idempotent() {
    let objects = [
        (
            "Service",
            svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}]})),
        ),
        (
            "Pod",
            pod(
                json!({"containers": [container()], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}),
            ),
        ),
        ("Deployment", deployment(json!({}))),
        ("Namespace", json!({"metadata": {"name": "n"}})),
    ];
    for (kind, obj) in objects {
        let mut once = obj.clone();
        default(kind, &mut once);
        let mut twice = once.clone();
        default(kind, &mut twice);
        assert_eq!(once, twice, "{kind}");
    }
    let mut p = pod(
        json!({"containers": [container()], "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}),
    );
    default("Pod", &mut p);
    assert_eq!(
        p["spec"]["volumes"],
        json!([{"name": "v", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}}])
    );
}

#[test]
fn generate_name_mask_handles_multibyte() {
    assert_eq!(mask_trailing_dash("web-"), "wea");
    assert_eq!(mask_trailing_dash("é-"), "a");
    assert_eq!(mask_trailing_dash("-"), "a");
    assert_eq!(mask_trailing_dash("web"), "web");
}
