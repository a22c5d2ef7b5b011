//! The service proxy in userspace mode (the loopback default), through real pods: balance,
//! NodePort and load-balancer frontends, refusal without endpoints, ClientIP affinity,
//! scaling, pod deletion under load, and retry past a dead endpoint.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use e2e::{Knet, eventually};

/// One HTTP request over a fresh connection; the answering pod's name.
fn hit(addr: SocketAddr) -> anyhow::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| anyhow::anyhow!("no HTTP body in {text:?}"))?;
    let v: serde_json::Value = serde_json::from_str(body)?;
    Ok(v["pod"].as_str().unwrap_or_default().to_owned())
}

/// The load-balancer address of `svc`, once the controller has given it one.
fn lb_ip(k: &Knet, svc: &str) -> anyhow::Result<std::net::IpAddr> {
    eventually(Duration::from_secs(10), || {
        let ip = k.kubectl(&[
            "get",
            "svc",
            svc,
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        Ok(ip.parse().ok())
    })
}

/// 3,000 connections to `addr`, which must spread over 3 pods with 1,000 ± 100 each; the
/// count per pod.
fn balanced(addr: SocketAddr) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..3000 {
        *counts.entry(hit(addr)?).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (pod, n) in &counts {
        assert!((900..=1100).contains(n), "{pod} got {n}: {counts:?}");
    }
    Ok(counts)
}

fn apply(k: &Knet, name: &str, yaml: &str) -> anyhow::Result<()> {
    let p = k.dir.path().join(name);
    std::fs::write(&p, yaml)?;
    k.kubectl(&["apply", "-f", &p.display().to_string()])?;
    Ok(())
}

fn cluster_addr(k: &Knet, svc: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let ip = k.kubectl(&["get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])?;
    Ok(SocketAddr::new(ip.parse()?, port))
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: echo
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
        # As the tutorial: keep serving while the endpoint is withdrawn, then stop.
        lifecycle: {preStop: {exec: {command: [sleep, '1']}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, nodePort: 30111}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 2}}
  ports: [{port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
";

/// Applies `yaml`, waits for `n` ready endpoints of Service `svc` and for its ClusterIP to
/// answer on port 80; the ClusterIP address.
fn ready_service(k: &Knet, svc: &str, yaml: &str, n: usize) -> anyhow::Result<SocketAddr> {
    apply(k, &format!("{svc}.yaml"), yaml)?;
    endpoints(k, svc, n)?;
    let addr = cluster_addr(k, svc, 80)?;
    // The proxy syncs within moments of the slice; wait for the frontend.
    eventually(Duration::from_secs(5), || Ok(hit(addr).ok()))?;
    Ok(addr)
}

/// Waits until `svc` has `n` ready endpoints.
fn endpoints(k: &Knet, svc: &str, n: usize) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), || {
        Ok((k.endpoint_ips(svc)?.len() == n).then_some(()))
    })
}

#[test]
fn userspace_proxy_balances_pins_and_follows_endpoints() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let web = ready_service(&k, "web", WEB, 3)?;

    // 3,000 connections over 3 pods: round robin gives each 1,000 (± 100 allows any fair
    // choice).
    let counts = balanced(web)?;

    // NodePort on the node address, and the load-balancer address.
    let pods: Vec<String> = counts.keys().cloned().collect();
    let np = SocketAddr::new(k.node_ip.parse()?, 30111);
    assert!(pods.contains(&hit(np)?));
    let lb = lb_ip(&k, "web")?;
    let lb = SocketAddr::new(lb, 80);
    eventually(Duration::from_secs(5), || Ok(hit(lb).ok()))?;
    assert!(pods.contains(&hit(lb)?));
    // loadBalancerSourceRanges: a Service open to 127/8 answers, one open only to
    // 192.0.2.0/24 turns this client away.
    for (name, range) in [("fw-open", "127.0.0.0/8"), ("fw-closed", "192.0.2.0/24")] {
        apply(
            &k,
            &format!("{name}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: web}}\n  loadBalancerSourceRanges: [{range}]\n  ports: [{{port: 80}}]\n"
            ),
        )?;
    }
    let open = SocketAddr::new(lb_ip(&k, "fw-open")?, 80);
    let closed = SocketAddr::new(lb_ip(&k, "fw-closed")?, 80);
    eventually(Duration::from_secs(5), || Ok(hit(open).ok()))?;
    assert!(
        hit(closed).is_err(),
        "a source outside the ranges got through"
    );

    // No endpoints: refused at once, not a hang.
    let nobody = cluster_addr(&k, "nobody", 80)?;
    let started = Instant::now();
    let err = TcpStream::connect_timeout(&nobody, Duration::from_secs(3))
        .expect_err("a Service without endpoints must refuse");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(started.elapsed() < Duration::from_millis(500));

    // ClientIP affinity: 200 connections from one client reach one pod; after the 2 s
    // timeout of idling, the next connection is scheduled afresh (round robin moves on).
    let sticky = cluster_addr(&k, "sticky", 8080)?;
    eventually(Duration::from_secs(5), || Ok(hit(sticky).ok()))?;
    let first = hit(sticky)?;
    for _ in 0..200 {
        assert_eq!(hit(sticky)?, first);
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_ne!(hit(sticky)?, first, "affinity outlived its timeout");

    // Scaling 3 → 1: within 1 s every new connection goes to the one pod left.
    let started = Instant::now();
    k.kubectl(&["scale", "deploy", "web", "--replicas", "1"])?;
    let left = eventually(Duration::from_secs(5), || {
        let seen: Vec<String> = (0..20).map(|_| hit(web)).collect::<Result<_, _>>()?;
        Ok(seen
            .windows(2)
            .all(|w| w[0] == w[1])
            .then(|| seen[0].clone()))
    })?;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "new connections moved after {:?}",
        started.elapsed()
    );
    let live = k.kubectl(&["get", "pods", "-l", "app=web", "--no-headers"])?;
    assert!(live.contains(&left), "{left} not in {live}");
    Ok(())
}

#[test]
fn deleting_a_pod_under_load_fails_no_connection() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let web = ready_service(&k, "web", WEB, 3)?;
    let victim = hit(web)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match hit(web) {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    k.kubectl(&["delete", "pod", &victim])?;
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = client.join().expect("client thread");
    assert!(ok > 50, "only {ok} connections");
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );
    Ok(())
}

#[test]
fn a_dead_endpoint_costs_the_client_nothing() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    apply(&k, "web.yaml", &WEB.replace("replicas: 3", "replicas: 2"))?;
    endpoints(&k, "web", 2)?;
    let ips = k.endpoint_ips("web")?;
    // A Service without a selector, whose slice names the two pods and an address where
    // nothing listens.
    let prefix = k.pod_cidr.trim_end_matches("0/24");
    let dead = format!("{prefix}250");
    apply(
        &k,
        "manual.yaml",
        &format!(
            "apiVersion: v1
kind: Service
metadata: {{name: manual}}
spec: {{ports: [{{port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: manual-1
  labels: {{kubernetes.io/service-name: manual}}
addressType: IPv4
ports: [{{port: 80, protocol: TCP, name: ''}}]
endpoints:
- addresses: [{}]
- addresses: [{}]
- addresses: [{dead}]
",
            ips[0], ips[1]
        ),
    )?;
    let manual = cluster_addr(&k, "manual", 80)?;
    eventually(Duration::from_secs(5), || Ok(hit(manual).ok()))?;
    for i in 0..300 {
        hit(manual).map_err(|e| anyhow::anyhow!("connection {i}: {e}"))?;
    }
    Ok(())
}

/// Two pods `a` (weight 3) and `b` (weight 1) behind Service `s`, whose scheduler is `sched`.
fn weighted(sched: &str) -> String {
    let pod = |name: &str, weight: u32| {
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: w}}
  annotations: {{knet.dev/weight: '{weight}'}}
spec:
  containers:
  - {{name: web, image: echo, ports: [{{containerPort: 80}}]}}
---
"
        )
    };
    format!(
        "{}{}apiVersion: v1
kind: Service
metadata:
  name: s
  annotations: {{knet.dev/scheduler: {sched}}}
spec:
  selector: {{app: w}}
  ports: [{{port: 80}}]
",
        pod("a", 3),
        pod("b", 1)
    )
}

/// A connection from source address `from` (any 127/8 address works on Linux).
fn hit_from(from: &str, addr: SocketAddr) -> anyhow::Result<String> {
    let socket = socket2_free_bind(from)?;
    let mut s = socket.connect_to(addr)?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body)?;
    Ok(v["pod"].as_str().unwrap_or_default().to_owned())
}

/// A client socket bound to `from` before it connects (std has no bind-then-connect for TCP,
/// so this goes through tokio's TcpSocket on a small runtime).
struct Bound(tokio::net::TcpSocket, tokio::runtime::Runtime);

fn socket2_free_bind(from: &str) -> anyhow::Result<Bound> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = {
        let _guard = rt.enter();
        let s = tokio::net::TcpSocket::new_v4()?;
        s.bind(SocketAddr::new(from.parse()?, 0))?;
        s
    };
    Ok(Bound(socket, rt))
}

impl Bound {
    fn connect_to(self, addr: SocketAddr) -> anyhow::Result<TcpStream> {
        let Bound(socket, rt) = self;
        let stream = rt.block_on(socket.connect(addr))?.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(stream)
    }
}

#[test]
fn wrr_follows_pod_weights() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let s = ready_service(&k, "s", &weighted("wrr"), 2)?;
    let mut a = 0;
    let total = 4000;
    for _ in 0..total {
        if hit(s)? == "a" {
            a += 1;
        }
    }
    let share = a * 100 / total;
    assert!((72..=78).contains(&share), "a got {share}% (want 75 ± 3)");
    Ok(())
}

#[test]
fn lc_avoids_the_endpoint_with_open_connections() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let s = ready_service(&k, "s", &weighted("lc"), 2)?;
    // Six connections held open, each answered once (keep-alive): lc spreads them 3 and 3.
    let mut held: Vec<(String, TcpStream)> = Vec::new();
    for _ in 0..6 {
        let mut c = TcpStream::connect(s)?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        c.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")?;
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf)?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let pod = if text.contains("\"pod\":\"a\"") {
            "a"
        } else {
            "b"
        };
        held.push((pod.to_owned(), c));
    }
    let on_a = held.iter().filter(|(p, _)| p == "a").count();
    assert_eq!(on_a, 3, "lc did not spread the held connections evenly");
    // Close the ones on `b`: `a` keeps 3 open, `b` none, so every new connection goes to `b`.
    held.retain(|(p, _)| p == "a");
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..50 {
        assert_eq!(hit(s)?, "b");
    }
    drop(held);
    Ok(())
}

#[test]
fn sh_pins_each_source_address() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let s = ready_service(&k, "s", &weighted("sh"), 2)?;
    let mut seen = std::collections::BTreeSet::new();
    for i in 1..=20 {
        let from = format!(
            "127.77.{}.{}",
            k.node_ip.split('.').nth(1).unwrap_or("1"),
            i
        );
        let first = hit_from(&from, s)?;
        for _ in 0..5 {
            assert_eq!(hit_from(&from, s)?, first, "source {from} moved");
        }
        seen.insert(first);
    }
    assert_eq!(seen.len(), 2, "20 sources all hashed to one pod: {seen:?}");
    Ok(())
}

#[test]
fn an_unknown_scheduler_is_reported_and_falls_back_to_rr() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let s = ready_service(&k, "s", &weighted("fastest"), 2)?;
    let picks: Vec<String> = (0..4).map(|_| hit(s)).collect::<Result<_, _>>()?;
    assert!(
        picks.windows(2).all(|w| w[0] != w[1]),
        "not round robin: {picks:?}"
    );
    let events = eventually(Duration::from_secs(10), || {
        let e = k.kubectl(&["get", "events", "--field-selector", "involvedObject.name=s"])?;
        Ok(e.contains("UnknownScheduler").then_some(e))
    })?;
    assert!(events.contains("unknown scheduler \"fastest\""), "{events}");
    Ok(())
}

/// `GET http://addr/path`: (status, `X-Load-Balancing-Endpoint-Weight`, body).
fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Option<String>, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let weight = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-load-balancing-endpoint-weight:")
            .map(|v| v.trim().to_owned())
    });
    Ok((code, weight, body.to_owned()))
}

#[test]
fn health_endpoints_answer_as_kube_proxy() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    let node: std::net::IpAddr = k.node_ip.parse()?;
    let healthz = SocketAddr::new(node, 10256);
    let (code, _, body) = eventually(Duration::from_secs(10), || {
        let r = get(healthz, "/healthz")?;
        Ok((r.0 == 200).then_some(r))
    })?;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(v["nodeEligible"], true, "{body}");
    assert_eq!(get(healthz, "/livez")?.0, 200);

    // A LoadBalancer Service with externalTrafficPolicy Local gets a healthCheckNodePort that
    // reports this node's endpoints.
    apply(
        &k,
        "local.yaml",
        &WEB.replace(
            "  type: LoadBalancer\n",
            "  type: LoadBalancer\n  externalTrafficPolicy: Local\n",
        ),
    )?;
    endpoints(&k, "web", 3)?;
    let hc: u16 = k
        .kubectl(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.healthCheckNodePort}",
        ])?
        .parse()?;
    let hc = SocketAddr::new(node, hc);
    let (code, weight, body) = eventually(Duration::from_secs(10), || {
        let r = get(hc, "/")?;
        Ok((r.1.as_deref() == Some("3")).then_some(r))
    })?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(weight.as_deref(), Some("3"));
    let v: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(v["localEndpoints"], 3, "{body}");
    assert_eq!(v["service"]["name"], "web", "{body}");
    assert_eq!(v["serviceProxyHealthy"], true, "{body}");
    // Metrics, with kube-proxy's names; the slice changes above were programmed.
    let (code, _, metrics) = get(SocketAddr::new(node, 10249), "/metrics")?;
    assert_eq!(code, 200);
    for name in [
        "kubeproxy_sync_proxy_rules_duration_seconds_count",
        "kubeproxy_network_programming_duration_seconds_bucket",
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let programmed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kubeproxy_network_programming_duration_seconds_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        programmed >= 1.0,
        "no network programming observed:\n{metrics}"
    );
    // No pods left: 503 and weight 0.
    k.kubectl(&["scale", "deploy", "web", "--replicas", "0"])?;
    let (code, weight, _) = eventually(Duration::from_secs(15), || {
        let r = get(hc, "/")?;
        Ok((r.0 == 503).then_some(r))
    })?;
    assert_eq!((code, weight.as_deref()), (503, Some("0")));
    Ok(())
}

const UDP: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: dns}
spec:
  replicas: 2
  selector: {matchLabels: {app: dns}}
  template:
    metadata: {labels: {app: dns}}
    spec:
      containers:
      - {name: dns, image: echo, ports: [{containerPort: 5353, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  selector: {app: dns}
  ports: [{port: 53, targetPort: 5353, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: silent}
spec:
  selector: {app: nobody}
  ports: [{port: 53, protocol: UDP}]
";

/// One datagram over a fresh connected socket; the answer.
fn ask(addr: SocketAddr) -> anyhow::Result<String> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    s.connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.send(b"who")?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
}

#[test]
fn udp_services_relay_per_client_flow() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    apply(&k, "udp.yaml", UDP)?;
    endpoints(&k, "dns", 2)?;
    let dns = cluster_addr(&k, "dns", 53)?;
    eventually(Duration::from_secs(5), || Ok(ask(dns).ok()))?;
    // New clients are spread over both pods.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        seen.insert(ask(dns)?);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|p| p.starts_with("dns-")), "{seen:?}");
    // One client's datagrams stay on its flow's pod.
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    s.connect(dns)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut answers = std::collections::BTreeSet::new();
    for _ in 0..10 {
        s.send(b"who")?;
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf)?;
        answers.insert(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    // No endpoints: nothing listens, so the client hears "port unreachable" at once.
    let silent = cluster_addr(&k, "silent", 53)?;
    let err = ask(silent).expect_err("no endpoints, no answer");
    let io = err
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind);
    assert_eq!(io, Some(std::io::ErrorKind::ConnectionRefused), "{err}");
    Ok(())
}

/// The kernel's rules of `mode` as its own tool lists them.
fn rules(k: &Knet, mode: &str) -> anyhow::Result<String> {
    match mode {
        "nftables" => e2e::run_ok(k.command("nft").args(["list", "ruleset"])),
        // Both families' rules (ip6tables holds knet's chains too, empty here).
        _ => Ok(e2e::run_ok(&mut k.command("iptables-save"))?
            + &e2e::run_ok(&mut k.command("ip6tables-save"))?),
    }
}

#[test]
fn nftables_mode_balances_pins_rejects_and_cleans_up() -> anyhow::Result<()> {
    kernel_mode(
        "nftables",
        &[
            "map service-ips",
            "map service-nodeports",
            "numgen random mod 3",
            // A table per family, as kube-proxy keeps them.
            "table ip6 knet",
        ],
    )
}

#[test]
fn iptables_mode_balances_pins_rejects_and_cleans_up() -> anyhow::Result<()> {
    kernel_mode(
        "iptables",
        &[
            "-A KNET-SERVICES",
            "-j KNET-NODEPORTS",
            "--probability 0.5000000000",
        ],
    )
}

/// One kernel mode, through the real pods, from the node's namespace and from a pod.
fn kernel_mode(mode: &str, shows: &[&str]) -> anyhow::Result<()> {
    let mut k = Knet::up_netns(&["--proxy-mode", mode])?;
    {
        // loadBalancerSourceRanges: one Service open to the test's own addresses, one not.
        let fw = |name: &str, range: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: web}}\n  loadBalancerSourceRanges: [{range}]\n  ports: [{{port: 80}}]\n"
            )
        };
        apply(&k, "fw-open.yaml", &fw("fw-open", "10.0.0.0/8"))?;
        apply(&k, "fw-closed.yaml", &fw("fw-closed", "192.0.2.0/24"))?;
    }
    let ns = k.netns.clone().expect("a netns instance");
    apply(
        &k,
        "web.yaml",
        &WEB.replace("timeoutSeconds: 2", "timeoutSeconds: 1"),
    )?;
    endpoints(&k, "web", 3)?;
    let table = eventually(Duration::from_secs(5), || {
        let t = rules(&k, mode)?;
        Ok(shows.iter().all(|w| t.contains(w)).then_some(t))
    })?;
    for want in shows {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }
    if mode == "iptables" {
        // iptables and ip6tables: KNET-SERVICES in nat and filter of each.
        assert_eq!(table.matches(":KNET-SERVICES ").count(), 4, "{table}");
    }
    let web = cluster_addr(&k, "web", 80)?;
    let sticky = cluster_addr(&k, "sticky", 8080)?;
    let nobody = cluster_addr(&k, "nobody", 80)?;
    let node: std::net::IpAddr = k.node_ip.parse()?;
    let lb: std::net::IpAddr = lb_ip(&k, "web")?;
    let mut firewall = Vec::new();
    {
        for svc in ["fw-open", "fw-closed"] {
            let ip: std::net::IpAddr = lb_ip(&k, svc)?;
            firewall.push((svc.to_owned(), ip));
        }
    }
    let closed_lb = firewall.iter().find(|(s, _)| s == "fw-closed").map(|f| f.1);
    let hit_pods = e2e::in_netns(&ns, move || {
        eventually(Duration::from_secs(5), || Ok(hit(web).ok()))?;
        // 3,000 connections, each endpoint picked at random: 1,000 ± 100 (about 4 sigma).
        let counts = balanced(web)?;
        assert!(counts.contains_key(&hit(SocketAddr::new(node, 30111))?));
        assert!(counts.contains_key(&hit(SocketAddr::new(lb, 80))?));
        for (svc, ip) in &firewall {
            let addr = SocketAddr::new(*ip, 80);
            if svc == "fw-open" {
                assert!(counts.contains_key(&hit(addr)?), "{svc}");
            } else {
                let err = TcpStream::connect_timeout(&addr, Duration::from_millis(700));
                assert!(err.is_err(), "{svc} let a source outside its ranges in");
            }
        }
        // No endpoints: refused at once.
        let started = Instant::now();
        let err = TcpStream::connect_timeout(&nobody, Duration::from_secs(3))
            .expect_err("a Service without endpoints must refuse");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        assert!(started.elapsed() < Duration::from_millis(500));
        // Affinity: 200 connections on one pod; after the 1 s timeout a fresh random pick,
        // which differs within a few expiries.
        let first = hit(sticky)?;
        for _ in 0..200 {
            assert_eq!(hit(sticky)?, first);
        }
        let mut moved = false;
        for _ in 0..8 {
            std::thread::sleep(Duration::from_millis(1500));
            if hit(sticky)? != first {
                moved = true;
                break;
            }
        }
        assert!(moved, "affinity never expired");
        Ok(counts.into_keys().collect::<Vec<String>>())
    })?;
    // The packet tracer, run on the cluster's objects, names the endpoints the kernel used; in
    // iptables mode it says the same reading the kernel's own rules (`iptables-save`).
    let kubeconfig = k.kubeconfig().display().to_string();
    let saved = k.dir.path().join("iptables-save.txt");
    if mode == "iptables" {
        std::fs::write(&saved, rules(&k, mode)?)?;
    }
    let trace = |to: SocketAddr, from: &str, source: &str| {
        let mut cmd = k.command(&e2e::knet_bin().display().to_string());
        cmd.args(["trace", "--proxy-mode", mode, "--from", from])
            .args(["--node-ip", &k.node_ip, "--pod-cidr", &k.pod_cidr]);
        if source == "kernel" {
            cmd.arg("--iptables-save").arg(&saved);
        } else {
            cmd.args(["--kubeconfig", &kubeconfig]);
        }
        e2e::run_ok(cmd.arg(to.to_string()))
    };
    let mut used = std::collections::BTreeSet::new();
    for pod in &hit_pods {
        used.insert(k.kubectl(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])?);
    }
    let sources: &[&str] = if mode == "iptables" {
        &["objects", "kernel"]
    } else {
        &["objects"]
    };
    for source in sources {
        let traced = trace(web, &k.node_ip, source)?;
        let traced: std::collections::BTreeSet<String> = traced
            .trim()
            .strip_prefix("dnat ")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|a| a.split(':').next().map(str::to_owned))
            .collect();
        assert_eq!(traced, used, "tracer ({source}) and kernel disagree");
        let nodeport = SocketAddr::new(node, 30111);
        assert_eq!(
            trace(nodeport, &k.node_ip, source)?,
            trace(web, &k.node_ip, source)?
        );
        assert_eq!(
            trace(nobody, &k.node_ip, source)?.trim(),
            "reject",
            "{source}"
        );
        let closed = SocketAddr::new(closed_lb.expect("fw-closed"), 80);
        assert_eq!(
            trace(closed, &k.node_ip, source)?.trim(),
            "drop",
            "{source}"
        );
    }
    // Scaling 3 → 1: new connections follow within 1 s.
    let started = Instant::now();
    k.kubectl(&["scale", "deploy", "web", "--replicas", "1"])?;
    let left = e2e::in_netns(&ns, move || {
        eventually(Duration::from_secs(5), || {
            let seen: Vec<String> = (0..20).map(|_| hit(web)).collect::<Result<_, _>>()?;
            Ok(seen
                .windows(2)
                .all(|w| w[0] == w[1])
                .then(|| seen[0].clone()))
        })
    })?;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    // The pod left reaches its own Service: the connection comes back to it (hairpin).
    let pod_ip = k.kubectl(&["get", "pod", &left, "-o", "jsonpath={.status.podIP}"])?;
    let from_pod = e2e::run_ok(
        std::process::Command::new("nsenter")
            .args(["-t", &k.pid().unwrap_or_default().to_string(), "-m"])
            .args(["ip", "netns", "exec", &format!("knet-{pod_ip}")])
            .args(["curl", "-sS", "-m", "5", &format!("http://{web}/")]),
    )?;
    assert!(
        from_pod.contains(&format!("\"pod_ip\":\"{pod_ip}\"")),
        "{from_pod}"
    );
    // Every sync after the first was partial, and nft took each of them.
    let log = std::fs::read_to_string(k.dir.path().join("knet.stderr"))?;
    assert!(!log.contains("proxy sync failed"), "{log}");
    // A graceful stop removes the rules.
    assert_eq!(k.stop()?, Some(0));
    let left = rules(&k, mode)?;
    assert!(!left.contains("knet") && !left.contains("KNET"), "{left}");
    Ok(())
}

/// A second namespace plugged into knet's pod bridge with a veth, as another host on the
/// same L2 segment; deleted on drop.
struct Peer(String);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

#[test]
fn layer2_announces_and_answers_for_load_balancer_addresses() -> anyhow::Result<()> {
    e2e::require("tcpdump")?;
    e2e::require("arping")?;
    let k = Knet::up_netns(&[])?;
    let ns = k.netns.clone().expect("netns");
    let links = e2e::run_ok(k.command("ip").args(["-br", "link"]))?;
    let bridge = links
        .lines()
        .find_map(|l| l.split_whitespace().next().filter(|n| n.starts_with("knb")))
        .ok_or_else(|| anyhow::anyhow!("no bridge in {links}"))?
        .to_owned();
    let tag = std::process::id() % 100_000;
    let peer = Peer(format!("knet-e2e-peer-{tag}"));
    let (a, b) = (format!("kpa{tag}"), format!("kpb{tag}"));
    let ip = |args: &[&str]| e2e::run_ok(std::process::Command::new("ip").args(args));
    ip(&["netns", "add", &peer.0])?;
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
    ip(&["link", "set", &a, "netns", &ns])?;
    ip(&["link", "set", &b, "netns", &peer.0])?;
    ip(&["-n", &ns, "link", "set", &a, "master", &bridge, "up"])?;
    let prefix = k.pod_cidr.trim_end_matches("0/24");
    ip(&[
        "-n",
        &peer.0,
        "addr",
        "add",
        &format!("{prefix}250/24"),
        "dev",
        &b,
    ])?;
    ip(&["-n", &peer.0, "link", "set", &b, "up"])?;
    ip(&["-n", &peer.0, "link", "set", "lo", "up"])?;
    ip(&["-n", &peer.0, "route", "add", &k.lb_pool, "dev", &b])?;

    // Listen on the peer's side before the address is taken.
    let mut tcpdump = std::process::Command::new("ip")
        .args([
            "netns", "exec", &peer.0, "tcpdump", "-l", "-n", "-i", &b, "arp",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(700));
    apply(&k, "web.yaml", &WEB.replace("replicas: 3", "replicas: 1"))?;
    let lb: std::net::IpAddr = lb_ip(&k, "web")?;
    std::thread::sleep(Duration::from_millis(5500));
    let _ = tcpdump.kill();
    let mut seen = String::new();
    if let Some(mut out) = tcpdump.stdout.take() {
        let _ = out.read_to_string(&mut seen);
    }
    let _ = tcpdump.wait();
    // Gratuitous ARP: the node asks for its own new address, at once and every 1.1 s for 5 s.
    let (asks, tells) = (format!("Request who-has {lb} "), format!("tell {lb},"));
    let announcements = seen
        .lines()
        .filter(|l| l.contains(&asks) && l.contains(&tells))
        .count();
    assert!(
        (4..=6).contains(&announcements),
        "{announcements} announcements of {lb}:\n{seen}"
    );
    // The node answers ARP for the address, and the peer reaches the Service through it.
    let reply = e2e::run_ok(std::process::Command::new("ip").args([
        "netns",
        "exec",
        &peer.0,
        "arping",
        "-c",
        "1",
        "-w",
        "2",
        "-I",
        &b,
        &lb.to_string(),
    ]))?;
    assert!(reply.contains("reply from"), "{reply}");
    endpoints(&k, "web", 1)?;
    let peer_ns = peer.0.clone();
    e2e::in_netns(&peer_ns, move || {
        eventually(Duration::from_secs(5), || {
            Ok(hit(SocketAddr::new(lb, 80)).ok())
        })
    })?;
    // Deleting the Service gives the address up.
    k.kubectl(&["delete", "svc", "web"])?;
    eventually(Duration::from_secs(5), || {
        let addrs = e2e::run_ok(k.command("ip").args(["addr", "show", "dev", &bridge]))?;
        Ok((!addrs.contains(&format!("{lb}/32"))).then_some(()))
    })?;
    Ok(())
}

#[test]
fn scheduler_and_nodeport_address_flags() -> anyhow::Result<()> {
    // A bad scheduler name is one clear line at start.
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new(e2e::knet_bin())
        .args([
            "up",
            "--network",
            "loopback",
            "--scheduler",
            "fastest",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown scheduler \"fastest\""), "{err}");

    // NodePorts also on the extra address; the default scheduler applies to every Service.
    let probe = Knet::up(&[])?;
    let extra = probe.node_ip.replace(".100", ".101");
    drop(probe);
    let k = Knet::up(&["--scheduler", "sh", "--nodeport-addresses", &extra])?;
    apply(&k, "web.yaml", WEB)?;
    endpoints(&k, "web", 3)?;
    let np = SocketAddr::new(extra.parse()?, 30111);
    let first = eventually(Duration::from_secs(5), || Ok(hit(np).ok()))?;
    // sh: one source address, one pod.
    for _ in 0..20 {
        assert_eq!(hit(np)?, first);
    }
    Ok(())
}
