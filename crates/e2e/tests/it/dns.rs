//! Cluster DNS, asked with the real `dig` (and raw packets for what dig will not send). The
//! upstream is a stub resolver of the test's own on loopback: nothing leaves this machine.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use e2e::{Knet, eventually, require, workspace};
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The stub upstream's one name and address.
const UPSTREAM_NAME: &str = "google.com.";
const UPSTREAM_A: &str = "192.0.2.14";

/// A stub upstream on 127.0.0.1 (UDP and TCP on one port): `google.com A 192.0.2.14` (TTL
/// 300), NXDOMAIN for everything else.
fn stub_upstream() -> anyhow::Result<SocketAddr> {
    fn answer(packet: &[u8]) -> Option<Vec<u8>> {
        let q = Message::from_vec(packet).ok()?;
        let mut m = Message::response(q.metadata.id, q.metadata.op_code);
        m.metadata.recursion_available = true;
        m.queries = q.queries.clone();
        let query = q.queries.first()?;
        if query.name().to_lowercase().to_ascii() == UPSTREAM_NAME
            && query.query_type() == RecordType::A
        {
            m.add_answer(Record::from_rdata(
                query.name().clone(),
                300,
                RData::A(A(UPSTREAM_A.parse().ok()?)),
            ));
        } else {
            m.metadata.response_code = ResponseCode::NXDomain;
        }
        m.to_vec().ok()
    }
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        if let Ok(tcp) = TcpListener::bind(udp.local_addr()?) {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, peer)) = udp.recv_from(&mut buf) {
            if let Some(out) = answer(&buf[..n]) {
                let _ = udp.send_to(&out, peer);
            }
        }
    });
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for conn in tcp.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut len = [0u8; 2];
            if c.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if c.read_exact(&mut q).is_ok()
                && let Some(out) = answer(&q)
            {
                let _ = c.write_all(&(out.len() as u16).to_be_bytes());
                let _ = c.write_all(&out);
            }
        }
    });
    Ok(addr)
}

/// `dig @server -p port ARGS +noall +answer` (or other display flags given in `args`).
fn dig(server: &str, args: &[&str]) -> anyhow::Result<String> {
    let (host, port) = server.rsplit_once(':').unwrap_or((server, "53"));
    let mut cmd = std::process::Command::new("dig");
    cmd.arg(format!("@{host}"))
        .args(["-p", port, "+time=2", "+tries=1"])
        .args(args);
    e2e::run_ok(&mut cmd)
}

/// The records of an answer section, one `name ttl class type data` per line, tabs squeezed.
fn answers(server: &str, args: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut all = vec!["+noall", "+answer"];
    all.extend_from_slice(args);
    Ok(dig(server, &all)?
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .collect())
}

/// The status of a reply (`NOERROR`, `NXDOMAIN`, …) from dig's comments.
fn status(server: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["+noall", "+comments"];
    all.extend_from_slice(args);
    let out = dig(server, &all)?;
    Ok(out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default()
        .to_owned())
}

fn pod_ips(k: &Knet, selector: &str) -> anyhow::Result<Vec<String>> {
    let out = k.kubectl(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        "jsonpath={range .items[*]}{.status.podIP}{\"\\n\"}{end}",
    ])?;
    let mut ips: Vec<String> = out.lines().map(str::to_owned).collect();
    ips.sort();
    Ok(ips)
}

fn apply(k: &Knet, name: &str, yaml: &str) -> anyhow::Result<()> {
    let path = k.dir.path().join(name);
    std::fs::write(&path, yaml)?;
    k.kubectl(&["apply", "-f", &path.display().to_string()])?;
    Ok(())
}

/// Sends raw `packet` over UDP and returns the reply's rcode and ID.
fn raw(server: SocketAddr, packet: &[u8]) -> anyhow::Result<(u8, [u8; 2])> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.send_to(packet, server)?;
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf)?;
    anyhow::ensure!(n >= 12, "short reply");
    Ok((buf[3] & 0x0f, [buf[0], buf[1]]))
}

const NAMED: &str = "apiVersion: v1
kind: Service
metadata: {name: named}
spec:
  selector: {app: nginx-for-svc}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: named-headless}
spec:
  clusterIP: None
  selector: {app: nginx-for-svc}
  ports: [{name: http, port: 80, targetPort: 80}]
";

#[test]
fn dns_answers_the_spec_with_dig() -> anyhow::Result<()> {
    require("dig")?;
    let upstream = stub_upstream()?.to_string();
    let seed = workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed, "--upstream", &upstream])?;
    let server = k.dns.clone();
    apply(&k, "named.yaml", NAMED)?;
    let pods = eventually(Duration::from_secs(20), || {
        let ips = pod_ips(&k, "app=nginx-for-svc")?;
        Ok((ips.len() == 2 && ips.iter().all(|i| !i.is_empty())).then_some(ips))
    })?;
    // The tutorial's two digs give the tutorial's answers.
    let headless = eventually(Duration::from_secs(10), || {
        let a = answers(&server, &["headless-service.default.svc.cluster.local"])?;
        Ok((a.len() == 2).then_some(a))
    })?;
    let mut got: Vec<String> = headless
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, pods, "{headless:?}");
    assert!(
        headless[0].starts_with("headless-service.default.svc.cluster.local. 5 IN A "),
        "{headless:?}"
    );
    let ext = answers(&server, &["externalname-service.default.svc.cluster.local"])?;
    assert_eq!(
        ext,
        [
            "externalname-service.default.svc.cluster.local. 5 IN CNAME google.com.".to_owned(),
            format!("google.com. 300 IN A {UPSTREAM_A}"),
        ]
    );
    // ClusterIP A, any case, over UDP and TCP.
    let cip = k.kubectl(&[
        "get",
        "svc",
        "clusterip-service",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])?;
    for args in [
        vec!["clusterip-service.default.svc.cluster.local"],
        vec!["CLUSTERIP-Service.Default.SVC.Cluster.Local"],
        vec!["+tcp", "clusterip-service.default.svc.cluster.local"],
    ] {
        let a = answers(&server, &args)?;
        assert_eq!(a.len(), 1, "{args:?}: {a:?}");
        assert!(a[0].ends_with(&format!("5 IN A {cip}")), "{a:?}");
    }
    // SRV for a named port, with the target's address in the additional section.
    let srv = dig(
        &server,
        &[
            "+noall",
            "+answer",
            "+additional",
            "SRV",
            "_http._tcp.named.default.svc.cluster.local",
        ],
    )?;
    let srv: Vec<String> = srv
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let named_ip = k.kubectl(&["get", "svc", "named", "-o", "jsonpath={.spec.clusterIP}"])?;
    assert_eq!(
        srv,
        [
            "_http._tcp.named.default.svc.cluster.local. 5 IN SRV 0 100 80 named.default.svc.cluster.local.".to_owned(),
            format!("named.default.svc.cluster.local. 5 IN A {named_ip}"),
        ]
    );
    // Headless SRV: one per ready endpoint, each target a name that resolves to the pod.
    let srv = answers(
        &server,
        &["SRV", "_http._tcp.named-headless.default.svc.cluster.local"],
    )?;
    assert_eq!(srv.len(), 2, "{srv:?}");
    let dashed = pods[0].replace('.', "-");
    let host = format!("{dashed}.named-headless.default.svc.cluster.local.");
    assert!(srv.iter().any(|l| l.ends_with(&host)), "{srv:?}");
    assert_eq!(
        answers(&server, &[&host])?,
        [format!("{host} 5 IN A {}", pods[0])]
    );
    // PTR for a ClusterIP and for a headless endpoint.
    assert_eq!(
        answers(&server, &["-x", &cip])?
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        ["clusterip-service.default.svc.cluster.local."]
    );
    let ptr = answers(&server, &["-x", &pods[0]])?;
    assert!(
        ptr.iter().any(|l| l.ends_with(&format!(
            "PTR {dashed}.headless-service.default.svc.cluster.local."
        ))),
        "{ptr:?}"
    );
    // Pod records (pods verified) and the schema version.
    assert_eq!(
        answers(&server, &[&format!("{dashed}.default.pod.cluster.local")])?.len(),
        1
    );
    assert_eq!(
        answers(&server, &["TXT", "dns-version.cluster.local"])?,
        ["dns-version.cluster.local. 28800 IN TXT \"1.1.0\""]
    );
    // NXDOMAIN and NODATA carry the SOA.
    assert_eq!(
        status(&server, &["nope.default.svc.cluster.local"])?,
        "NXDOMAIN"
    );
    for q in [
        vec!["nope.default.svc.cluster.local"],
        vec!["AAAA", "clusterip-service.default.svc.cluster.local"],
    ] {
        let mut args = vec!["+noall", "+authority"];
        args.extend(q.iter().copied());
        let auth = dig(&server, &args)?;
        let auth = auth.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            auth.contains(
                "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."
            ),
            "{q:?}: {auth}"
        );
    }
    // Names outside the zone go upstream.
    assert_eq!(
        answers(&server, &["google.com"])?,
        [format!("google.com. 300 IN A {UPSTREAM_A}")]
    );
    assert_eq!(status(&server, &["elsewhere.example"])?, "NXDOMAIN");
    Ok(())
}

#[test]
fn dns_truncates_over_udp_and_survives_bad_input() -> anyhow::Result<()> {
    require("dig")?;
    let upstream = stub_upstream()?.to_string();
    let k = Knet::up(&["--upstream", &upstream])?;
    let server = k.dns.clone();
    let addr: SocketAddr = server.parse()?;
    // A headless Service with 60 endpoints: too big for 512 bytes.
    let mut slice = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: many}\nspec:\n  clusterIP: None\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: many-1\n  labels: {kubernetes.io/service-name: many}\naddressType: IPv4\nports: [{port: 80}]\nendpoints:\n",
    );
    for i in 0..60 {
        slice.push_str(&format!("- addresses: [\"192.0.2.{}\"]\n", i + 1));
    }
    apply(&k, "many.yaml", &slice)?;
    let name = "many.default.svc.cluster.local";
    let all = eventually(Duration::from_secs(10), || {
        // Without EDNS dig retries a truncated answer over TCP.
        let a = answers(&server, &["+noedns", name])?;
        Ok((a.len() == 60).then_some(a))
    })?;
    assert_eq!(all.len(), 60);
    let udp_only = dig(
        &server,
        &["+noedns", "+ignore", "+noall", "+comments", name],
    )?;
    let flags = udp_only
        .split("flags: ")
        .nth(1)
        .and_then(|f| f.split(';').next())
        .unwrap_or_default();
    assert!(flags.split(' ').any(|f| f == "tc"), "{udp_only}");
    // With EDNS (dig offers 1232 bytes) it fits.
    assert_eq!(answers(&server, &["+ignore", name])?.len(), 60);

    // Garbage: FORMERR with the sender's ID.
    let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01];
    junk.extend_from_slice(&[0xff; 20]);
    assert_eq!(raw(addr, &junk)?, (1, [0xab, 0xcd]));
    // A name longer than 255 bytes: five labels of 63.
    let mut long = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..5 {
        long.push(63);
        long.extend_from_slice(&[b'a'; 63]);
    }
    long.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(raw(addr, &long)?, (1, [0x12, 0x34]));
    // An unknown class: NOTIMP.
    assert_eq!(
        status(&server, &["-c", "CH", "TXT", "version.bind"])?,
        "NOTIMP"
    );
    // A flood of 10,000 random names under the zone: every one NXDOMAIN.
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let started = Instant::now();
    let mut nx = 0;
    let mut seed = 0x2545_f491_u64;
    for batch in 0..100u16 {
        for i in 0..100u16 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut m = Message::query();
            m.metadata.id = batch * 100 + i;
            m.add_query(Query::query(
                Name::from_ascii(format!("r{seed:x}.default.svc.cluster.local."))?,
                RecordType::A,
            ));
            sock.send_to(&m.to_vec()?, addr)?;
        }
        let mut buf = [0u8; 1500];
        for _ in 0..100 {
            let n = sock.recv(&mut buf)?;
            let m = Message::from_vec(&buf[..n])?;
            assert_eq!(m.metadata.message_type, MessageType::Response);
            if m.metadata.response_code == ResponseCode::NXDomain {
                nx += 1;
            }
        }
    }
    assert_eq!(nx, 10_000);
    eprintln!("10,000 random names answered in {:?}", started.elapsed());
    // Still up, and the metrics saw it.
    assert_eq!(
        status(&server, &["kubernetes.default.svc.cluster.local"])?,
        "NOERROR"
    );
    let metrics = e2e::run_ok(
        std::process::Command::new("curl")
            .args(["-sS", &format!("http://{}:9153/metrics", k.node_ip)]),
    )?;
    let nx_line = metrics
        .lines()
        .find(|l| l.starts_with("knet_dns_responses_total{rcode=\"NXDOMAIN\"}"))
        .unwrap_or_default()
        .to_owned();
    let count: f64 = nx_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 10_000.0, "{nx_line}");
    let ready = e2e::run_ok(
        std::process::Command::new("curl")
            .args(["-sS", &format!("http://{}:9153/ready", k.node_ip)]),
    )?;
    assert_eq!(ready, "OK");
    Ok(())
}

#[test]
fn knet_dns_runs_alone_with_its_own_ttl_and_follows_endpoint_changes() -> anyhow::Result<()> {
    require("dig")?;
    let upstream = stub_upstream()?.to_string();
    let seed = workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed, "--upstream", &upstream])?;
    let kubeconfig = k.kubeconfig().display().to_string();
    let http = format!("{}:0", k.node_ip);
    let mut alone = std::process::Command::new(e2e::knet_bin())
        .args([
            "dns",
            "--kubeconfig",
            &kubeconfig,
            "--dns-addr",
            "127.0.0.1:0",
        ])
        .args(["--http-addr", &http, "--ttl", "30", "--upstream", &upstream])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        use std::io::BufRead as _;
        let out = alone
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line)?;
        let server = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("dns="))
            .ok_or_else(|| anyhow::anyhow!("no dns= in {line:?}"))?
            .to_owned();
        let a = eventually(Duration::from_secs(10), || {
            let a = answers(&server, &["clusterip-service.default.svc.cluster.local"])?;
            Ok((a.len() == 1).then_some(a))
        })?;
        assert!(a[0].contains(" 30 IN A "), "{a:?}");
        // Scaling 2 → 3 shows in the headless answer.
        eventually(Duration::from_secs(20), || {
            Ok((pod_ips(&k, "app=nginx-for-svc")?.len() == 2).then_some(()))
        })?;
        k.kubectl(&["scale", "deploy", "nginx-for-svc", "--replicas", "3"])?;
        eventually(Duration::from_secs(20), || {
            let a = answers(&server, &["headless-service.default.svc.cluster.local"])?;
            Ok((a.len() == 3).then_some(()))
        })?;
        Ok(())
    })();
    let _ = alone.kill();
    let _ = alone.wait();
    result
}

#[test]
fn a_pod_resolves_a_service_by_its_short_name_in_netns_mode() -> anyhow::Result<()> {
    let seed = workspace().join("examples/seed").display().to_string();
    let upstream = stub_upstream()?.to_string();
    let k = Knet::up_netns(&["-f", &seed, "--upstream", &upstream])?;
    apply(
        &k,
        "resolver.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: resolver}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'getent hosts clusterip-service; getent hosts headless-service.default']\n",
    )?;
    let cip = k.kubectl(&[
        "get",
        "svc",
        "clusterip-service",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])?;
    let log = eventually(Duration::from_secs(30), || {
        let phase = k.kubectl(&["get", "pod", "resolver", "-o", "jsonpath={.status.phase}"])?;
        if phase != "Succeeded" && phase != "Failed" {
            return Ok(None);
        }
        Ok(Some(k.kubectl(&["logs", "resolver"])?))
    })?;
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&cip) && first.contains("clusterip-service.default.svc.cluster.local"),
        "{log}"
    );
    Ok(())
}
