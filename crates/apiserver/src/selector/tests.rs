//! Table-driven tests for label and field selectors.

use super::*;
use serde_json::json;

/// The message upstream appends when a label key's name part fails its pattern.
const NAME_PATTERN: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// The message upstream gives when a label value fails its pattern.
const VALUE_PATTERN: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn labels() -> Value {
    json!({
        "app": "web",
        "tier": "front",
        "env": "prod",
        "n": "5",
        "example.com/owner": "team-a",
        "empty": "",
    })
}

#[test]
fn label_selector_matching() {
    let keywords = json!({"in": "in", "notin": "x"});
    let cases: &[(&str, Option<&Value>, bool)] = &[
        ("", None, true),
        ("", Some(&json!({})), true),
        ("app=web", None, false),
        ("app=web", Some(&labels()), true),
        ("app==web", Some(&labels()), true),
        ("app=db", Some(&labels()), false),
        ("app!=db", Some(&labels()), true),
        ("app!=web", Some(&labels()), false),
        ("missing!=x", Some(&labels()), true),
        ("missing!=x", None, true),
        ("app in (web,db)", Some(&labels()), true),
        ("app in (db)", Some(&labels()), false),
        ("missing in (x)", Some(&labels()), false),
        ("app notin (db)", Some(&labels()), true),
        ("app notin (web)", Some(&labels()), false),
        ("missing notin (x)", Some(&labels()), true),
        ("app", Some(&labels()), true),
        ("missing", Some(&labels()), false),
        ("!missing", Some(&labels()), true),
        ("!missing", None, true),
        ("!app", Some(&labels()), false),
        ("app=web,tier=front", Some(&labels()), true),
        ("app=web,tier=back", Some(&labels()), false),
        (
            "  app = web ,\ttier  in ( front , back )  ",
            Some(&labels()),
            true,
        ),
        (
            "app=web,!missing,env notin (dev),tier",
            Some(&labels()),
            true,
        ),
        ("n>4", Some(&labels()), true),
        ("n>5", Some(&labels()), false),
        ("n<6", Some(&labels()), true),
        ("n<1", Some(&labels()), false),
        ("app>1", Some(&labels()), false),
        ("missing<9", Some(&labels()), false),
        ("example.com/owner=team-a", Some(&labels()), true),
        ("empty=", Some(&labels()), true),
        ("empty==", Some(&labels()), true),
        ("empty!=", Some(&labels()), false),
        ("empty in ()", Some(&labels()), true),
        ("empty in (,x)", Some(&labels()), true),
        ("app in (x,,web)", Some(&labels()), true),
        ("app in (web,)", Some(&labels()), true),
        ("empty in (x,)", Some(&labels()), true),
        ("in in (in)", Some(&keywords), true),
        ("notin notin (notin)", Some(&keywords), true),
        ("in=in,notin", Some(&keywords), true),
    ];
    for (selector, labels, want) in cases {
        let parsed = LabelSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?} should parse: {e}"));
        let map = labels.and_then(Value::as_object);
        assert_eq!(parsed.matches(map), *want, "selector {selector:?}");
        assert_eq!(
            parsed.is_empty(),
            selector.is_empty(),
            "selector {selector:?}"
        );
    }
}

#[test]
fn label_selector_errors() {
    let long_key = "k".repeat(64);
    let cases: Vec<(String, String)> = vec![
        ("app=web,,tier".into(), "found ',', expected: identifier after ','".into()),
        ("app=web,".into(), "found '', expected: identifier after ','".into()),
        (",app".into(), "found ',', expected: !, identifier, or 'end of string'".into()),
        ("=x".into(), "found '=', expected: !, identifier, or 'end of string'".into()),
        (
            "app web".into(),
            "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        ("app in web".into(), "unable to parse requirement: found 'web' expected: '('".into()),
        ("app in (web".into(), "unable to parse requirement: found '', expected: ',' or ')'".into()),
        ("app in (a b)".into(), "unable to parse requirement: found 'b', expected: ',' or ')'".into()),
        (
            "app in (=)".into(),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier".into(),
        ),
        (
            "app in (a,=)".into(),
            "unable to parse requirement: found '=', expected: ',', or identifier".into(),
        ),
        ("app=(x)".into(), "unable to parse requirement: found '(', expected: identifier".into()),
        ("!app=x".into(), "found '=', expected: ',' or 'end of string'".into()),
        ("app=x y".into(), "found 'y', expected: ',' or 'end of string'".into()),
        ("!".into(), "unable to parse requirement: found '', expected: identifier".into()),
        ("!!a".into(), "unable to parse requirement: found '!', expected: identifier".into()),
        (
            "-app=x".into(),
            format!("unable to parse requirement: <nil>: Invalid value: \"-app\": {NAME_PATTERN}"),
        ),
        (
            format!("{long_key}=x"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long_key}\": name part must be no more than 63 characters"
            ),
        ),
        (
            "x/=1".into(),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"x/\": name part must be non-empty; {NAME_PATTERN}"
            ),
        ),
        (
            "/x".into(),
            "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part must be non-empty".into(),
        ),
        (
            "Example.com/x".into(),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into(),
        ),
        (
            "a/b/c".into(),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
        ),
        (
            "app=-web".into(),
            format!("unable to parse requirement: values[0][app]: Invalid value: \"-web\": {VALUE_PATTERN}"),
        ),
        (
            format!("app={}", "v".repeat(64)),
            format!(
                "unable to parse requirement: values[0][app]: Invalid value: \"{}\": must be no more than 63 characters",
                "v".repeat(64)
            ),
        ),
        (
            "n>x".into(),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            // Negative numbers are not valid label values, so upstream rejects them even for `<`.
            "n<-1".into(),
            format!("unable to parse requirement: values[0][n]: Invalid value: \"-1\": {VALUE_PATTERN}"),
        ),
        (
            "app in (ok,-bad,_worse)".into(),
            format!(
                "unable to parse requirement: [values[0][app]: Invalid value: \"-bad\": {VALUE_PATTERN}, values[1][app]: Invalid value: \"_worse\": {VALUE_PATTERN}]"
            ),
        ),
    ];
    for (selector, want) in cases {
        let err = LabelSelector::parse(&selector).expect_err(&selector);
        assert_eq!(
            err,
            SelectorError::InvalidLabelSelector(want),
            "selector {selector:?}"
        );
    }
}

fn pod() -> Value {
    json!({
        "metadata": {"name": "p1", "namespace": "default"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "sa",
            "hostNetwork": true,
        },
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}], "podIP": "10.0.0.5"},
    })
}

fn event() -> Value {
    json!({
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {
            "kind": "Service",
            "namespace": "default",
            "name": "web",
            "uid": "u-1",
            "apiVersion": "v1",
            "resourceVersion": "12",
            "fieldPath": "spec",
        },
        "reason": "Created",
        "type": "Normal",
        "source": {"component": "kubelet"},
        "reportingComponent": "kubelet-x",
    })
}

#[test]
fn field_selector_matching() {
    let bare_pod = json!({"metadata": {"name": "p2"}, "status": {"podIP": "10.0.0.9"}});
    let new_event = json!({"metadata": {"name": "e"}, "reportingComponent": "ctrl"});
    let cases: Vec<(&str, &str, Value, bool)> = vec![
        ("Pod", "", pod(), true),
        ("Pod", "metadata.name=p1", pod(), true),
        ("Pod", "metadata.name==p1", pod(), true),
        ("Pod", "metadata.name!=p1", pod(), false),
        ("Pod", "metadata.name=p2", pod(), false),
        ("Pod", "metadata.namespace=default", pod(), true),
        ("Pod", "spec.nodeName=n1,status.phase=Running", pod(), true),
        ("Pod", "status.phase=Running,spec.nodeName=n2", pod(), false),
        (
            "Pod",
            "status.phase!=Running,spec.restartPolicy=Always",
            pod(),
            false,
        ),
        ("Pod", "spec.host=n1", pod(), true),
        ("Pod", "spec.schedulerName=default-scheduler", pod(), true),
        ("Pod", "spec.serviceAccountName=sa", pod(), true),
        ("Pod", "spec.hostNetwork=true", pod(), true),
        ("Pod", "spec.hostNetwork=false", bare_pod.clone(), true),
        ("Pod", "status.podIP=10.0.0.5", pod(), true),
        ("Pod", "status.podIP=10.0.0.9", bare_pod.clone(), true),
        ("Pod", "status.podIPs=10.0.0.5", pod(), false),
        ("Pod", "status.nominatedNodeName=", pod(), true),
        ("Pod", "spec.nodeName=", bare_pod.clone(), true),
        ("Pod", "metadata.namespace=", bare_pod, true),
        (
            "Event",
            "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Service,involvedObject.uid=u-1",
            event(),
            true,
        ),
        (
            "Event",
            "involvedObject.apiVersion=v1,involvedObject.resourceVersion=12,involvedObject.fieldPath=spec",
            event(),
            true,
        ),
        ("Event", "reason=Created,type=Normal", event(), true),
        ("Event", "type=Warning", event(), false),
        ("Event", "source=kubelet", event(), true),
        ("Event", "reportingComponent=kubelet-x", event(), true),
        ("Event", "source=ctrl", new_event, true),
        (
            "Secret",
            "type=kubernetes.io/tls",
            json!({"type": "kubernetes.io/tls"}),
            true,
        ),
        (
            "Secret",
            "type!=Opaque",
            json!({"type": "kubernetes.io/tls"}),
            true,
        ),
        (
            "Node",
            "spec.unschedulable=false",
            json!({"metadata": {"name": "n"}}),
            true,
        ),
        (
            "Node",
            "spec.unschedulable=true",
            json!({"spec": {"unschedulable": true}}),
            true,
        ),
        (
            "Namespace",
            "status.phase=Active",
            json!({"status": {"phase": "Active"}}),
            true,
        ),
        (
            "Job",
            "status.successful=2",
            json!({"status": {"succeeded": 2}}),
            true,
        ),
        ("Job", "status.successful=0", json!({}), true),
        (
            "ReplicationController",
            "status.replicas=3",
            json!({"status": {"replicas": 3}}),
            true,
        ),
        (
            "ReplicationController",
            "status.replicas=0",
            json!({"spec": {}}),
            true,
        ),
        (
            "Service",
            "spec.type=ClusterIP,spec.clusterIP=10.96.0.1",
            json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1"}}),
            true,
        ),
        (
            "CertificateSigningRequest",
            "spec.signerName=kubernetes.io/kubelet-serving",
            json!({"spec": {"signerName": "kubernetes.io/kubelet-serving"}}),
            true,
        ),
        (
            "Deployment",
            "metadata.name=web",
            json!({"metadata": {"name": "web"}}),
            true,
        ),
        // Unsupported fields read as empty, as in upstream's field sets; check() rejects them first.
        (
            "Deployment",
            "spec.replicas=",
            json!({"spec": {"replicas": 3}}),
            true,
        ),
        (
            "Deployment",
            "metadata.name=a\\,b",
            json!({"metadata": {"name": "a,b"}}),
            true,
        ),
        (
            "Deployment",
            "metadata.name=a\\=b",
            json!({"metadata": {"name": "a=b"}}),
            true,
        ),
        (
            "Deployment",
            "metadata.name=a\\\\b",
            json!({"metadata": {"name": "a\\b"}}),
            true,
        ),
        (
            "Deployment",
            ",,metadata.name=web,",
            json!({"metadata": {"name": "web"}}),
            true,
        ),
    ];
    for (kind, selector, obj, want) in cases {
        let parsed = FieldSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?} should parse: {e}"));
        assert_eq!(parsed.matches(kind, &obj), want, "{kind} {selector:?}");
    }
}

#[test]
fn field_selector_check() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "Pod",
            "metadata.name=x,spec.nodeName=y,status.podIP=z,spec.host=n",
            None,
        ),
        (
            "Pod",
            "spec.foo=x",
            Some("field label not supported: spec.foo"),
        ),
        (
            "Pod",
            "metadata.name = x",
            Some("field label not supported: metadata.name "),
        ),
        (
            "Pod",
            "metadata.labels=x",
            Some("field label not supported: metadata.labels"),
        ),
        (
            "Event",
            "involvedObject.name=a,reason=b,source=c,type=d,reportingComponent=e",
            None,
        ),
        (
            "Event",
            "message=x",
            Some("field label not supported: message"),
        ),
        ("Secret", "type=Opaque,metadata.namespace=ns", None),
        ("Secret", "data=x", Some("field label not supported: data")),
        ("Node", "spec.unschedulable=true,metadata.name=n", None),
        (
            "Node",
            "metadata.namespace=x",
            Some("field label not supported: metadata.namespace"),
        ),
        ("Namespace", "status.phase=Active", None),
        (
            "Namespace",
            "metadata.namespace=x",
            Some("field label not supported: metadata.namespace"),
        ),
        ("Service", "spec.clusterIP=None", None),
        ("Job", "status.successful=1", None),
        (
            "Job",
            "status.replicas=1",
            Some("field label \"status.replicas\" not supported for Job"),
        ),
        ("ReplicationController", "status.replicas=1", None),
        (
            "ReplicaSet",
            "status.replicas=1",
            Some(
                "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            ),
        ),
        (
            "Deployment",
            "metadata.name=a,spec.replicas=1",
            Some(
                "\"spec.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            ),
        ),
        ("ConfigMap", "", None),
        ("ConfigMap", "metadata.namespace!=kube-system", None),
        ("CertificateSigningRequest", "spec.signerName=x", None),
    ];
    for (kind, selector, want) in cases {
        let parsed = FieldSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?} should parse: {e}"));
        let got = parsed.check(kind).map_err(|e| e.to_string());
        assert_eq!(
            got,
            want.map_or(Ok(()), |m| Err(m.to_owned())),
            "{kind} {selector:?}"
        );
    }
}

#[test]
fn field_selector_parse_errors() {
    let cases: Vec<(&str, SelectorError)> = vec![
        (
            "foo",
            SelectorError::InvalidFieldSelector {
                selector: "foo".into(),
                term: "foo".into(),
            },
        ),
        (
            "b=1,foo",
            SelectorError::InvalidFieldSelector {
                selector: "b=1,foo".into(),
                term: "foo".into(),
            },
        ),
        ("a=b=c", SelectorError::UnescapedCharacter('=')),
        ("a==b=", SelectorError::UnescapedCharacter('=')),
        ("a=b\\x", SelectorError::InvalidEscapeSequence("\\x".into())),
        ("a=b\\", SelectorError::InvalidEscapeSequence("\\".into())),
    ];
    for (selector, want) in cases {
        assert_eq!(
            FieldSelector::parse(selector),
            Err(want),
            "selector {selector:?}"
        );
    }
    let messages = [
        (
            FieldSelector::parse("foo"),
            "invalid selector: 'foo'; can't understand 'foo'",
        ),
        (
            FieldSelector::parse("a=b\\x"),
            "invalid field selector: invalid escape sequence: \\x",
        ),
        (
            FieldSelector::parse("a=b,c"),
            "invalid selector: 'a=b,c'; can't understand 'c'",
        ),
        (
            FieldSelector::parse("a=b=c"),
            "invalid field selector: unescaped character in value: =",
        ),
    ];
    for (result, want) in messages {
        assert_eq!(result.map_err(|e| e.to_string()), Err(want.to_owned()));
    }
}

#[test]
fn field_selector_name_and_emptiness() {
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("", None, true),
        (",", None, true),
        ("metadata.name=web", Some("web"), false),
        ("metadata.name==web", Some("web"), false),
        ("metadata.name!=web", None, false),
        ("spec.nodeName=n,metadata.name=x", Some("x"), false),
        ("metadata.namespace=default", None, false),
        ("metadata.name=a\\,b", Some("a,b"), false),
        ("metadata.name=", Some(""), false),
    ];
    for (selector, want_name, want_empty) in cases {
        let parsed = FieldSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector:?} should parse: {e}"));
        assert_eq!(parsed.name(), *want_name, "selector {selector:?}");
        assert_eq!(parsed.is_empty(), *want_empty, "selector {selector:?}");
    }
}
