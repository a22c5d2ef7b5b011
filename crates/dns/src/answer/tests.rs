use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::{Pod, PodStatus, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{
    Endpoint as SliceEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn service(name: &str, cluster_ip: &str, ports: &[(&str, i32)]) -> Service {
    Service {
        metadata: meta("default", name),
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: (cluster_ip != "None").then(|| vec![cluster_ip.into()]),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| ServicePort {
                        name: (!n.is_empty()).then(|| (*n).into()),
                        port: *p,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn slice(svc: &str, eps: &[(&str, Option<&str>, Option<bool>)]) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            labels: Some([("kubernetes.io/service-name".into(), svc.into())].into()),
            ..meta("default", &format!("{svc}-abc"))
        },
        address_type: "IPv4".into(),
        endpoints: eps
            .iter()
            .map(|(ip, host, ready)| SliceEndpoint {
                addresses: vec![(*ip).into()],
                hostname: host.map(Into::into),
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

fn index() -> Index {
    let mut ext = service("ext", "", &[]);
    if let Some(spec) = ext.spec.as_mut() {
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("www.example.com".into());
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    let services = [
        service("web", "10.96.0.10", &[("http", 80), ("", 81)]),
        service("db", "None", &[("http", 80)]),
        service("empty", "None", &[]),
        ext,
    ];
    let slices = [slice(
        "db",
        &[
            ("10.244.0.5", Some("db-0"), Some(true)),
            ("10.244.0.6", None, None),
            ("10.244.0.7", None, Some(false)),
        ],
    )];
    let pods = [Pod {
        metadata: meta("default", "p"),
        status: Some(PodStatus {
            pod_ip: Some("10.244.0.9".into()),
            ..Default::default()
        }),
        ..Default::default()
    }];
    Index::build(&services, &slices, &pods)
}

fn zone() -> Zone {
    Zone {
        domain: "cluster.local".into(),
        ttl: 5,
    }
}

fn ask(q: &str, t: RecordType) -> Outcome {
    zone().resolve(&index(), &Name::from_ascii(q).expect("name"), t)
}

/// The rcode and the answers' data as text.
fn texts(o: Outcome) -> (ResponseCode, Vec<String>, Vec<String>) {
    match o {
        Outcome::Answer {
            rcode,
            answers,
            additionals,
        } => (
            rcode,
            answers.iter().map(|r| r.data.to_string()).collect(),
            additionals
                .iter()
                .map(|r| format!("{} {}", r.name, r.data))
                .collect(),
        ),
        other => panic!("not an answer: {other:?}"),
    }
}

#[test]
fn cluster_ip_services_answer_a_and_srv_for_named_ports() {
    let (rcode, a, _) = texts(ask("web.default.svc.cluster.local.", RecordType::A));
    assert_eq!(
        (rcode, a),
        (ResponseCode::NoError, vec!["10.96.0.10".into()])
    );
    // Case does not matter.
    let (_, a, _) = texts(ask("WEB.Default.SVC.Cluster.Local.", RecordType::A));
    assert_eq!(a, ["10.96.0.10"]);
    // An IPv4 Service has no AAAA: NODATA.
    let (rcode, a, _) = texts(ask("web.default.svc.cluster.local.", RecordType::AAAA));
    assert_eq!((rcode, a.len()), (ResponseCode::NoError, 0));
    let (_, srv, add) = texts(ask(
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    ));
    assert_eq!(srv, ["0 100 80 web.default.svc.cluster.local."]);
    assert_eq!(add, ["web.default.svc.cluster.local. 10.96.0.10"]);
    // The unnamed port has no SRV; an unknown port name is NXDOMAIN.
    let (_, srv, _) = texts(ask("web.default.svc.cluster.local.", RecordType::SRV));
    assert_eq!(srv.len(), 1);
    let (rcode, _, _) = texts(ask(
        "_grpc._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    ));
    assert_eq!(rcode, ResponseCode::NXDomain);
}

#[test]
fn headless_services_answer_ready_endpoints_and_their_names() {
    let (_, a, _) = texts(ask("db.default.svc.cluster.local.", RecordType::A));
    // Ready, and nil ready (counts as ready); the not-ready one is left out.
    assert_eq!(a, ["10.244.0.5", "10.244.0.6"]);
    let (_, a, _) = texts(ask("db-0.db.default.svc.cluster.local.", RecordType::A));
    assert_eq!(a, ["10.244.0.5"]);
    let (_, a, _) = texts(ask(
        "10-244-0-6.db.default.svc.cluster.local.",
        RecordType::A,
    ));
    assert_eq!(a, ["10.244.0.6"]);
    let (_, srv, add) = texts(ask(
        "_http._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    ));
    assert_eq!(
        srv,
        [
            "0 50 8080 db-0.db.default.svc.cluster.local.",
            "0 50 8080 10-244-0-6.db.default.svc.cluster.local."
        ]
    );
    assert_eq!(add.len(), 2);
    // No ready endpoints: NXDOMAIN.
    let (rcode, _, _) = texts(ask("empty.default.svc.cluster.local.", RecordType::A));
    assert_eq!(rcode, ResponseCode::NXDomain);
}

#[test]
fn external_names_are_cnames_chased_for_addresses() {
    let (_, cname, _) = texts(ask("ext.default.svc.cluster.local.", RecordType::CNAME));
    assert_eq!(cname, ["www.example.com."]);
    match ask("ext.default.svc.cluster.local.", RecordType::A) {
        Outcome::Chase { cname, target } => {
            assert_eq!(target.to_ascii(), "www.example.com.");
            assert!(matches!(cname.data, RData::CNAME(_)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reverse_pod_version_and_missing_names() {
    let (_, ptr, _) = texts(ask("10.0.96.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(ptr, ["web.default.svc.cluster.local."]);
    let (_, ptr, _) = texts(ask("5.0.244.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(ptr, ["db-0.db.default.svc.cluster.local."]);
    // Not a cluster address: upstream's.
    assert_eq!(
        ask("1.2.0.192.in-addr.arpa.", RecordType::PTR),
        Outcome::Forward
    );
    let (_, a, _) = texts(ask("10-244-0-9.default.pod.cluster.local.", RecordType::A));
    assert_eq!(a, ["10.244.0.9"]);
    let (rcode, _, _) = texts(ask("10-244-0-99.default.pod.cluster.local.", RecordType::A));
    assert_eq!(rcode, ResponseCode::NXDomain);
    let (_, txt, _) = texts(ask("dns-version.cluster.local.", RecordType::TXT));
    assert_eq!(txt, ["1.1.0"]);
    let (rcode, _, _) = texts(ask("nope.default.svc.cluster.local.", RecordType::A));
    assert_eq!(rcode, ResponseCode::NXDomain);
    assert_eq!(ask("example.org.", RecordType::A), Outcome::Forward);
}

#[test]
fn before_the_first_list_the_zone_is_servfail() {
    let q = Name::from_ascii("web.default.svc.cluster.local.").expect("name");
    assert_eq!(
        zone().resolve(&Index::default(), &q, RecordType::A),
        Outcome::ServFail
    );
}

#[test]
fn reverse_names_parse() {
    assert_eq!(reverse("4.3.2.1.in-addr.arpa"), "1.2.3.4".parse().ok());
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    assert_eq!(reverse(v6), "2001:db8::1".parse().ok());
    assert_eq!(reverse("3.2.1.in-addr.arpa"), None);
}
