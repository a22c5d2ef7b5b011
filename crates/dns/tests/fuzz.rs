//! Fuzzing the query path: random packets, mutated queries and random questions through
//! `message::handle` against a loaded zone. Nothing may panic; every reply must decode and
//! carry the query's ID.
//!
//! Runs for `DNS_FUZZ_SECS` seconds (default 10); `scripts/fuzz-dns.sh` runs it for 5 minutes.

use std::time::{Duration, Instant};

use dns::Zone;
use dns::index::Index;
use dns::message::{Handled, handle};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn zone() -> (Zone, Index) {
    let services: Vec<Service> = (0..50)
        .map(|i| Service {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(format!("svc-{i}")),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(format!("10.96.0.{i}")),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    (
        Zone {
            domain: "cluster.local".into(),
            ttl: 5,
        },
        Index::build(&services, &[], &[]),
    )
}

fn check(zone: &Zone, index: &Index, packet: &[u8]) -> Result<(), TestCaseError> {
    for tcp in [false, true] {
        if let Handled::Reply(bytes, _) = handle(zone, index, packet, tcp) {
            let m = Message::from_vec(&bytes)
                .map_err(|e| TestCaseError::fail(format!("reply does not decode: {e}")))?;
            prop_assert_eq!(&bytes[..2], &packet[..2]);
            prop_assert!(m.metadata.message_type == hickory_proto::op::MessageType::Response);
            if !tcp {
                prop_assert!(bytes.len() <= 65535);
            }
        }
    }
    Ok(())
}

fn query(name: &str, t: u16, class: u16) -> Option<Vec<u8>> {
    let mut q = Query::query(Name::from_ascii(name).ok()?, RecordType::from(t));
    q.set_query_class(DNSClass::from(class));
    let mut m = Message::query();
    m.add_query(q);
    m.to_vec().ok()
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("svc".to_owned()),
        Just("default".to_owned()),
        Just("pod".to_owned()),
        Just("_http".to_owned()),
        Just("_tcp".to_owned()),
        "svc-[0-9]{1,2}",
        "[a-z0-9-]{1,20}",
        "[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}",
    ]
}

#[test]
fn the_query_path_survives_anything() {
    let secs: u64 = std::env::var("DNS_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (zone, index) = zone();
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        });
        // Random bytes.
        runner
            .run(&proptest::collection::vec(any::<u8>(), 0..700), |p| {
                check(&zone, &index, &p)
            })
            .expect("random packets");
        // Random questions under the zone, of every type and class.
        runner
            .run(
                &(
                    proptest::collection::vec(label(), 0..7),
                    any::<u16>(),
                    prop_oneof![Just(1u16), Just(3), Just(255), any::<u16>()],
                ),
                |(labels, t, class)| {
                    let mut name = labels.join(".");
                    name.push_str(".cluster.local.");
                    if let Some(p) = query(&name, t, class) {
                        check(&zone, &index, &p)?;
                    }
                    Ok(())
                },
            )
            .expect("random questions");
        // Valid queries with bytes changed.
        let base = query("_http._tcp.svc-7.default.svc.cluster.local.", 33, 1).expect("query");
        runner
            .run(
                &proptest::collection::vec((0..base.len(), any::<u8>()), 1..6),
                |edits| {
                    let mut p = base.clone();
                    for (i, b) in edits {
                        p[i] = b;
                    }
                    check(&zone, &index, &p)
                },
            )
            .expect("mutated queries");
        rounds += 1;
    }
    eprintln!("fuzz: {rounds} rounds of 6,000 cases in {secs} s");
    assert!(rounds > 0);
}
