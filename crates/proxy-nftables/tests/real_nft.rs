//! The scripts the renderer makes, loaded by the real `nft` into a network namespace this
//! test makes (root and the Debian package nftables needed; without them the test fails).
//! Golden tests check the text; this checks that the kernel and nft take every kind of sync.

use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use proxy::service::{Protocol, ServiceKey};
use proxy::{Changes, Dataplane, Endpoint, ProxyState, ServicePort, ServicePortName};
use proxy_nftables::{Config, NftError, NftExecutor, Nftables};

/// A scratch network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("knet-nfttest-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("running ip (iproute2)");
        assert!(ok.success(), "ip netns add failed: this test needs root");
        Netns(name)
    }

    fn nft(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .output()
            .expect("running nft (Debian package nftables)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// `nft -f -` inside the namespace.
struct InNetns(String);

impl NftExecutor for InNetns {
    fn load(&mut self, script: &str) -> Result<(), NftError> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(NftError::Spawn)?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .map_err(NftError::Spawn)?;
        let out = child.wait_with_output().map_err(NftError::Spawn)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(NftError::Rejected(format!(
                "{}\nscript:\n{script}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    fn delete_conntrack(&mut self, _filter: &[String]) -> Result<(), NftError> {
        Ok(())
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn name(svc: &str, protocol: Protocol) -> ServicePortName {
    ServicePortName {
        service: ServiceKey {
            namespace: "ns".into(),
            name: svc.into(),
        },
        port: "p".into(),
        protocol,
    }
}

fn ep(addr: &str, node: &str) -> Endpoint {
    Endpoint {
        node_name: Some(node.into()),
        ..Endpoint::ready(ip(addr), 8080)
    }
}

/// Puts a service port with its endpoints into `state`.
fn put(state: &mut ProxyState, n: ServicePortName, port: ServicePort, eps: Vec<Endpoint>) {
    state.services.insert(n.clone(), Arc::new(port));
    state.endpoints.insert(n, Arc::new(eps));
}

fn changed(names: &[&str]) -> Changes {
    Changes::of(names.iter().map(|n| ServiceKey {
        namespace: "ns".into(),
        name: (*n).into(),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn nft_takes_full_and_partial_syncs_of_every_kind() {
    let ns = Netns::new();
    let mut d = Nftables::new(
        Config {
            node_name: "n1".into(),
            pod_cidr: Some("10.244.0.0/16".into()),
            node_ip: ip("192.0.2.1"),
        },
        InNetns(ns.0.clone()),
    );
    let mut s = ProxyState::default();
    // Lean TCP and UDP with a NodePort and a load-balancer IP; externalTrafficPolicy Local
    // over both protocols; session affinity.
    for (svc, proto, cip) in [
        ("web", Protocol::Tcp, "10.96.0.10"),
        ("dns", Protocol::Udp, "10.96.0.11"),
    ] {
        let port = ServicePort {
            node_port: Some(if proto == Protocol::Tcp { 30080 } else { 30053 }),
            load_balancer_ips: vec![ip("10.240.0.1")],
            ..ServicePort::cluster_ip(ip(cip), 80)
        };
        put(
            &mut s,
            name(svc, proto),
            port,
            vec![ep("10.244.0.2", "n1"), ep("10.244.1.2", "n2")],
        );
    }
    for (proto, np) in [(Protocol::Tcp, 30081), (Protocol::Udp, 30082)] {
        let port = ServicePort {
            node_port: Some(np),
            external_local: true,
            ..ServicePort::cluster_ip(ip("10.96.0.12"), 81)
        };
        put(
            &mut s,
            name("local", proto),
            port,
            vec![ep("10.244.0.3", "n1"), ep("10.244.1.3", "n2")],
        );
    }
    let sticky = ServicePort {
        affinity: Some(Duration::from_secs(30)),
        ..ServicePort::cluster_ip(ip("10.96.0.13"), 80)
    };
    put(
        &mut s,
        name("sticky", Protocol::Tcp),
        sticky,
        vec![ep("10.244.0.4", "n1")],
    );
    d.sync(&s, &Changes::full()).await.expect("full sync");
    let table = ns.nft(&["list", "table", "ip", "knet"]);
    for want in [
        "map endpoints-udp",
        "chain pick-nodeport-udp-2",
        "chain pick-external-tcp-2",
        "numgen random mod 2 offset 1024 map @slot-endpoints-",
        "set affinity-ns/sticky/tcp/p__10.244.0.4/8080",
    ] {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }

    // Partial syncs: new endpoint counts (new shared chains) for both protocols, the Local
    // services' endpoints move, the sticky service gains an endpoint.
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let n = name(if proto == Protocol::Tcp { "web" } else { "dns" }, proto);
        let port = s.services[&n].clone();
        put(
            &mut s,
            n,
            (*port).clone(),
            vec![
                ep("10.244.0.2", "n1"),
                ep("10.244.1.2", "n2"),
                ep("10.244.2.2", "n3"),
            ],
        );
        let n = name("local", proto);
        let port = s.services[&n].clone();
        put(&mut s, n, (*port).clone(), vec![ep("10.244.0.5", "n1")]);
    }
    let n = name("sticky", Protocol::Tcp);
    let port = s.services[&n].clone();
    put(
        &mut s,
        n,
        (*port).clone(),
        vec![ep("10.244.0.4", "n1"), ep("10.244.0.6", "n1")],
    );
    d.sync(&s, &changed(&["web", "dns", "local", "sticky"]))
        .await
        .expect("partial sync");
    let table = ns.nft(&["list", "table", "ip", "knet"]);
    for want in [
        "chain pick-cluster-udp-3",
        "chain pick-nodeport-tcp-3",
        "10.96.0.11 . 80 . 2 : 10.244.2.2 . 8080",
        "set affinity-ns/sticky/tcp/p__10.244.0.6/8080",
    ] {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }

    // Services go (their chains are flushed), then the next sync deletes what they left.
    s.services.retain(|n, _| n.service.name == "web");
    s.endpoints.retain(|n, _| n.service.name == "web");
    d.sync(&s, &changed(&["dns", "local", "sticky"]))
        .await
        .expect("removal");
    d.sync(&s, &changed(&["dns", "local", "sticky"]))
        .await
        .expect("leftovers deleted");
    let table = ns.nft(&["list", "table", "ip", "knet"]);
    for gone in [
        "10.96.0.11",
        "chain service-ns/local",
        "affinity-",
        "chain endpoint-",
    ] {
        assert!(!table.contains(gone), "{gone} still in\n{table}");
    }
    assert!(
        table.contains("10.96.0.10 . 80 . 2 : 10.244.2.2 . 8080"),
        "{table}"
    );
    d.cleanup().expect("cleanup");
}
