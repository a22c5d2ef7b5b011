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
use proxy_nftables::{Config, Family, NftError, NftExecutor, NftFamily as _, Nftables};

/// A scratch network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("knet-nft{tag}-{}", std::process::id());
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

impl Netns {
    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .expect("running ip");
        assert!(ok.success(), "ip {args:?} failed");
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("netns file");
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread in the namespace")
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

/// The addresses of the test, written as IPv4; in the IPv6 run each becomes `fd00::a:b:c:d`.
#[derive(Clone, Copy)]
struct Addrs(Family);

impl Addrs {
    fn ip(self, v4: &str) -> IpAddr {
        self.text(v4).parse().expect("ip")
    }

    /// `text` with every IPv4 address in it (also inside a chain or set name) translated.
    fn text(self, text: &str) -> String {
        if self.0 == Family::V4 {
            return text.to_owned();
        }
        let mut out = String::new();
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String, in_name: bool| {
            if let Ok(v4) = word.parse::<std::net::Ipv4Addr>() {
                let [a, b, c, d] = v4.octets();
                let v6 = format!("fd00::{a}:{b}:{c}:{d}");
                // nft names write `:` as `-` (see the renderer).
                out.push_str(&if in_name { v6.replace(':', "-") } else { v6 });
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for ch in text.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                word.push(ch);
            } else {
                let in_name = out.ends_with("__");
                // A trailing `.` belongs to the text, not the address.
                let dot = word.ends_with('.') && word.len() > 1;
                if dot {
                    word.pop();
                }
                flush(&mut word, &mut out, in_name);
                if dot {
                    out.push('.');
                }
                out.push(ch);
            }
        }
        let in_name = out.ends_with("__");
        flush(&mut word, &mut out, in_name);
        out
    }
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

fn ep(a: Addrs, addr: &str, node: &str) -> Endpoint {
    Endpoint {
        node_name: Some(node.into()),
        ..Endpoint::ready(a.ip(addr), 8080)
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
    full_and_partial(Family::V4).await;
}

/// The same in `table ip6 knet`, with every address an IPv6 one.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn nft_takes_ipv6_syncs_of_every_kind() {
    full_and_partial(Family::V6).await;
}

async fn full_and_partial(family: Family) {
    let a = Addrs(family);
    let ip = |v4: &str| a.ip(v4);
    let ep = |v4: &str, node: &str| ep(a, v4, node);
    let f = family.kw();
    let ns = Netns::new(f);
    let mut d = Nftables::new(
        Config {
            family,
            node_name: "n1".into(),
            pod_cidr: Some(match family {
                Family::V4 => "10.244.0.0/16".into(),
                Family::V6 => "fd00::10:244:0:0/112".into(),
            }),
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
    // Real traffic: a connection to the sticky Service's ClusterIP reaches its one endpoint,
    // a listener on the namespace's loopback.
    ns.ip(&["link", "set", "lo", "up"]);
    let endpoint = ip("10.244.0.4");
    let cluster_ip = ip("10.96.0.13");
    let (plen, any) = match family {
        Family::V4 => ("32", "0.0.0.0/0"),
        Family::V6 => ("128", "::/0"),
    };
    ns.ip(&["addr", "add", &format!("{endpoint}/{plen}"), "dev", "lo"]);
    ns.ip(&["route", "add", any, "dev", "lo"]);
    let listener = ns.run(move || {
        std::net::TcpListener::bind(std::net::SocketAddr::new(endpoint, 8080)).expect("bind")
    });
    let got = std::thread::spawn(move || {
        let (_conn, peer) = listener.accept().expect("accept");
        peer
    });
    ns.run(move || {
        let target = std::net::SocketAddr::new(cluster_ip, 80);
        std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connecting to the ClusterIP {target}: {e}"))
    });
    got.join().expect("the endpoint took the connection");
    let table = ns.nft(&["list", "table", f, "knet"]);
    for want in [
        "map endpoints-udp",
        "chain pick-nodeport-udp-2",
        "chain pick-external-tcp-2",
        "numgen random mod 2 offset 1024 map @slot-endpoints-",
        "set affinity-ns/sticky/tcp/p__10.244.0.4/8080",
    ] {
        let want = a.text(want);
        assert!(table.contains(&want), "{want} missing from\n{table}");
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
    let table = ns.nft(&["list", "table", f, "knet"]);
    for want in [
        "chain pick-cluster-udp-3",
        "chain pick-nodeport-tcp-3",
        "10.96.0.11 . 80 . 2 : 10.244.2.2 . 8080",
        "set affinity-ns/sticky/tcp/p__10.244.0.6/8080",
    ] {
        let want = a.text(want);
        assert!(table.contains(&want), "{want} missing from\n{table}");
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
    let table = ns.nft(&["list", "table", f, "knet"]);
    for gone in [
        "10.96.0.11",
        "chain service-ns/local",
        "affinity-",
        "chain endpoint-",
    ] {
        let gone = a.text(gone);
        assert!(!table.contains(&gone), "{gone} still in\n{table}");
    }
    assert!(
        table.contains(&a.text("10.96.0.10 . 80 . 2 : 10.244.2.2 . 8080")),
        "{table}"
    );
    d.cleanup().expect("cleanup");
}
