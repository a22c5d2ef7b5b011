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
      terminationGracePeriodSeconds: 2
      containers:
      - {name: web, image: echo, ports: [{containerPort: 80}]}
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

/// Waits until `svc` has `n` ready endpoints.
fn endpoints(k: &Knet, svc: &str, n: usize) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), || {
        Ok((k.endpoint_ips(svc)?.len() == n).then_some(()))
    })
}

#[test]
fn userspace_proxy_balances_pins_and_follows_endpoints() -> anyhow::Result<()> {
    let k = Knet::up(&["--proxy-mode", "userspace"])?;
    apply(&k, "web.yaml", WEB)?;
    endpoints(&k, "web", 3)?;
    let web = cluster_addr(&k, "web", 80)?;
    // The proxy syncs within moments of the slice; wait for the frontend.
    eventually(Duration::from_secs(5), || Ok(hit(web).ok()))?;

    // 3,000 connections over 3 pods: round robin gives each 1,000 (± 100 allows any fair
    // choice).
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..3000 {
        *counts.entry(hit(web)?).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (pod, n) in &counts {
        assert!((900..=1100).contains(n), "{pod} got {n}: {counts:?}");
    }

    // NodePort on the node address, and the load-balancer address.
    let pods: Vec<String> = counts.keys().cloned().collect();
    let np = SocketAddr::new(k.node_ip.parse()?, 30111);
    assert!(pods.contains(&hit(np)?));
    let lb = eventually(Duration::from_secs(10), || {
        let ip = k.kubectl(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        Ok(ip.parse::<std::net::IpAddr>().ok())
    })?;
    let lb = SocketAddr::new(lb, 80);
    eventually(Duration::from_secs(5), || Ok(hit(lb).ok()))?;
    assert!(pods.contains(&hit(lb)?));

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
    apply(&k, "web.yaml", WEB)?;
    endpoints(&k, "web", 3)?;
    let web = cluster_addr(&k, "web", 80)?;
    eventually(Duration::from_secs(5), || Ok(hit(web).ok()))?;
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
