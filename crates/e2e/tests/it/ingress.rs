//! The ingress controller through real `curl`, with `knet echo` pods as backends (identified
//! by the echo's `pod` field).

use std::time::Duration;

use e2e::{Knet, eventually, workspace};

/// A Deployment `name` of `replicas` echo pods and a Service `name` (port 80 → 8080,
/// named `http`).
pub(crate) fn echo_app(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: echo\n        image: echo\n        ports: [{{containerPort: 8080}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n"
    )
}

pub(crate) fn apply(k: &Knet, name: &str, yaml: &str) -> anyhow::Result<()> {
    let path = k.dir.path().join(name);
    std::fs::write(&path, yaml)?;
    k.kubectl(&["apply", "-f", &path.display().to_string()])?;
    Ok(())
}

/// `curl` through the ingress with `Host: host`: (status, body).
fn get(k: &Knet, host: &str, path: &str, headers: &[&str]) -> anyhow::Result<(u16, String)> {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-m", "5", "-o", "-", "-w", "\n%{http_code}"])
        .args(["-H", &format!("Host: {host}")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(format!("http://{}{path}", k.http));
    let out = e2e::run_ok(&mut cmd)?;
    let (body, code) = out.rsplit_once('\n').unwrap_or((&out, "0"));
    Ok((code.trim().parse()?, body.to_owned()))
}

/// The echo's JSON field `key` (a string) from `body`.
pub(crate) fn field(body: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut cur = &v;
    for part in key.split('.') {
        cur = cur.get(part)?;
    }
    // Headers come as arrays of values.
    let cur = cur.get(0).unwrap_or(cur);
    cur.as_str().map(str::to_owned)
}

#[test]
fn the_tutorials_test_ingress_routes_and_rewrites() -> anyhow::Result<()> {
    let seed = workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed])?;
    apply(
        &k,
        "apps.yaml",
        &format!("{}---\n{}", echo_app("s1", 1), echo_app("s2", 2)),
    )?;
    // foo.bar.com/foos1 → s1 with the path rewritten to /; bar.foo.com → s2.
    let (code, body) = eventually(Duration::from_secs(30), || {
        let r = get(&k, "foo.bar.com", "/foos1/x?y=1", &[])?;
        Ok((r.0 == 200).then_some(r))
    })?;
    assert_eq!(code, 200);
    let pod = field(&body, "pod").unwrap_or_default();
    assert!(pod.starts_with("s1-"), "{body}");
    // The whole path is replaced; the query string is kept (nginx's rewrite).
    assert_eq!(field(&body, "path").as_deref(), Some("/?y=1"), "{body}");
    let (code, body) = eventually(Duration::from_secs(30), || {
        let r = get(&k, "bar.foo.com", "/anything", &[])?;
        Ok((r.0 == 200).then_some(r))
    })?;
    assert_eq!(code, 200);
    assert!(
        field(&body, "pod").unwrap_or_default().starts_with("s2-"),
        "{body}"
    );
    // Unknown host, and a path no rule has: the built-in 404.
    assert_eq!(get(&k, "nope.example", "/", &[])?.0, 404);
    assert_eq!(get(&k, "foo.bar.com", "/other", &[])?.0, 404);
    // ingress-nginx's forwarded headers; the client's own X-Forwarded-For is not trusted.
    let (_, body) = get(
        &k,
        "bar.foo.com",
        "/h",
        &["X-Forwarded-For: 1.2.3.4", "X-Request-ID: abc"],
    )?;
    let h = |n: &str| field(&body, &format!("headers.{n}"));
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"), "{body}");
    assert_eq!(h("x-original-forwarded-for").as_deref(), Some("1.2.3.4"));
    assert_eq!(h("x-forwarded-host").as_deref(), Some("bar.foo.com"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("x-real-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-request-id").as_deref(), Some("abc"));
    assert_eq!(field(&body, "host").as_deref(), Some("bar.foo.com"));
    // Round robin over s2's two pods.
    let mut pods = std::collections::BTreeSet::new();
    for _ in 0..10 {
        pods.insert(field(&get(&k, "bar.foo.com", "/", &[])?.1, "pod").unwrap_or_default());
    }
    assert_eq!(pods.len(), 2, "{pods:?}");
    // The ADDRESS column.
    let address = eventually(Duration::from_secs(10), || {
        let a = k.kubectl(&[
            "get",
            "ingress",
            "test",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        Ok((!a.is_empty()).then_some(a))
    })?;
    assert_eq!(address, "127.0.0.1");
    // A Service with no endpoints: 503; scaled up: served; a missing Service: 503.
    k.kubectl(&["scale", "deploy", "s1", "--replicas", "0"])?;
    eventually(Duration::from_secs(20), || {
        Ok((get(&k, "foo.bar.com", "/foos1", &[])?.0 == 503).then_some(()))
    })?;
    apply(
        &k,
        "missing.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: missing}\nspec:\n  rules:\n  - host: nonexistent.svc.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: nonexistent-svc, port: {number: 80}}}}\n",
    )?;
    eventually(Duration::from_secs(10), || {
        Ok((get(&k, "nonexistent.svc.com", "/", &[])?.0 == 503).then_some(()))
    })?;
    // An Ingress of another controller's class is ignored.
    apply(
        &k,
        "other.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: other}\nspec:\n  ingressClassName: some-invalid-class-name\n  rules:\n  - host: ingress-class\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: s2, port: {number: 80}}}}\n",
    )?;
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&k, "ingress-class", "/", &[])?.0, 404);
    let status = k.kubectl(&[
        "get",
        "ingress",
        "other",
        "-o",
        "jsonpath={.status.loadBalancer.ingress}",
    ])?;
    assert!(status.is_empty(), "{status}");
    Ok(())
}

/// The tutorial's `openssl req` line for `cn`, in `dir`: (cert path, key path).
pub(crate) fn self_signed(dir: &std::path::Path, cn: &str) -> anyhow::Result<(String, String)> {
    let crt = dir.join(format!("{cn}.crt")).display().to_string();
    let key = dir.join(format!("{cn}.key")).display().to_string();
    e2e::run_ok(std::process::Command::new("openssl").args([
        "req",
        "-x509",
        "-nodes",
        "-days",
        "365",
        "-newkey",
        "rsa:2048",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        &format!("subjectAltName=DNS:{cn}"),
    ]))?;
    Ok((crt, key))
}

/// `curl https://host:port/` resolved to the ingress's HTTPS address, trusting `ca`.
fn https(k: &Knet, host: &str, ca: &str) -> anyhow::Result<String> {
    let port = k.https.rsplit(':').next().unwrap_or_default();
    e2e::run_ok(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        "--resolve",
        &format!("{host}:{port}:127.0.0.1"),
        &format!("https://{host}:{port}/"),
        "--cacert",
        ca,
    ]))
}

#[test]
fn tls_by_sni_from_secrets_with_a_fallback() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    let dir = k.dir.path();
    let mut certs = Vec::new();
    for (i, host) in ["kube-book.com", "a.example", "b.example"]
        .iter()
        .enumerate()
    {
        let (crt, key) = self_signed(dir, host)?;
        let secret = if i == 0 {
            "kube-book-secret".to_owned()
        } else {
            format!("secret-{i}")
        };
        k.kubectl(&[
            "create", "secret", "tls", &secret, "--key", &key, "--cert", &crt,
        ])?;
        certs.push((host.to_string(), secret, crt));
    }
    // The tutorial's ingress-ssl, in its legacy form, plus two more hosts.
    apply(
        &k,
        "ingress-ssl.yaml",
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: ingress-ssl\nspec:\n  tls:\n  - hosts:\n    - kube-book.com\n    secretName: kube-book-secret\n  rules:\n  - host: kube-book.com\n    http:\n      paths:\n      - path: /\n        backend:\n          serviceName: s1\n          servicePort: 80\n",
    )?;
    apply(
        &k,
        "more.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: more}\nspec:\n  tls:\n  - {hosts: [a.example], secretName: secret-1}\n  - {hosts: [b.example], secretName: secret-2}\n  rules:\n  - host: a.example\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s1, port: {number: 80}}}}]}\n  - host: b.example\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s1, port: {number: 80}}}}]}\n",
    )?;
    // Each host's own certificate (curl trusts only that one, so a wrong pick fails).
    for (host, _, crt) in &certs {
        let body = eventually(Duration::from_secs(30), || Ok(https(&k, host, crt).ok()))?;
        assert!(
            field(&body, "pod").unwrap_or_default().starts_with("s1-"),
            "{host}: {body}"
        );
    }
    // HSTS on HTTPS answers for a host with its own certificate, as ingress-nginx sends it.
    let port = k.https.rsplit(':').next().unwrap_or_default();
    let head = e2e::run_ok(std::process::Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "--resolve",
        &format!("kube-book.com:{port}:127.0.0.1"),
        &format!("https://kube-book.com:{port}/"),
        "--cacert",
        &certs[0].2,
    ]))?;
    assert!(
        head.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000; includesubdomains"),
        "{head}"
    );
    // Plain HTTP to a TLS host: 308 to HTTPS.
    let out = e2e::run_ok(std::process::Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-H",
        "Host: kube-book.com",
        &format!("http://{}/x?y=1", k.http),
    ]))?;
    assert_eq!(out, format!("308 https://kube-book.com:{port}/x?y=1"));
    // A secret with a broken key: that host gets the fallback certificate, the others keep
    // theirs.
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: secret-2}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}\n  tls.key: not a key\n",
            std::fs::read_to_string(&certs[2].2)?
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )?;
    k.kubectl(&["apply", "-f", &broken.display().to_string()])?;
    let issuer = eventually(Duration::from_secs(10), || {
        let v = std::process::Command::new("curl")
            .args(["-sS", "-k", "-v", "-o", "/dev/null", "--resolve"])
            .arg(format!("b.example:{port}:127.0.0.1"))
            .arg(format!("https://b.example:{port}/"))
            .output()?;
        let err = String::from_utf8_lossy(&v.stderr).into_owned();
        Ok(err.contains("Fake Certificate").then_some(err))
    })?;
    assert!(issuer.contains("Kubernetes Ingress Controller Fake Certificate"));
    assert!(https(&k, "a.example", &certs[1].2).is_ok());
    Ok(())
}

/// The reasons of the Events about Ingress `name`.
fn event_reasons(k: &Knet, name: &str) -> anyhow::Result<String> {
    k.kubectl(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

#[test]
fn bad_input_gets_events_and_leaves_the_rest_serving() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    apply(
        &k,
        "bad.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: missing\n  annotations:\n    nginx.ingress.kubernetes.io/configuration-snippet: 'more_set_headers \"X: y\";'\n    nginx.ingress.kubernetes.io/made-up: 'x'\nspec:\n  rules:\n  - host: nonexistent.svc.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: nonexistent-svc, port: {number: 80}}}}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: badregex\n  annotations: {nginx.ingress.kubernetes.io/use-regex: 'true'}\nspec:\n  rules:\n  - host: regex.example\n    http:\n      paths:\n      - {path: '/(unclosed', pathType: ImplementationSpecific, backend: {service: {name: s1, port: {number: 80}}}}\n      - {path: '/ok', pathType: ImplementationSpecific, backend: {service: {name: s1, port: {number: 80}}}}\n",
    )?;
    let events = eventually(Duration::from_secs(20), || {
        let e = event_reasons(&k, "missing")?;
        Ok((e.contains("ServiceNotFound")
            && e.contains("SnippetRefused")
            && e.contains("UnsupportedAnnotation"))
        .then_some(e))
    })?;
    assert!(
        events.contains("nginx.ingress.kubernetes.io/made-up"),
        "{events}"
    );
    assert!(events.contains("configuration-snippet"), "{events}");
    assert_eq!(get(&k, "nonexistent.svc.com", "/", &[])?.0, 503);
    let events = eventually(Duration::from_secs(20), || {
        let e = event_reasons(&k, "badregex")?;
        Ok(e.contains("InvalidPath").then_some(e))
    })?;
    assert!(events.contains("(unclosed"), "{events}");
    // The good path of the same Ingress is served; the broken one is not.
    let (code, body) = eventually(Duration::from_secs(30), || {
        let r = get(&k, "regex.example", "/ok", &[])?;
        Ok((r.0 == 200).then_some(r))
    })?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(&k, "regex.example", "/(unclosed", &[])?.0, 404);
    Ok(())
}

/// A client that keeps sending `GET /` with `Host: host` through the ingress, each on a new
/// connection, until stopped: (sent, failed, first failures).
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64, Vec<String>)>,
}

impl Load {
    fn start(addr: String, host: &'static str) -> Load {
        use std::io::{Read as _, Write as _};
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut sent, mut failed, mut why) = (0u64, 0u64, Vec::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                sent += 1;
                let result = (|| -> std::io::Result<String> {
                    let mut s = std::net::TcpStream::connect(&addr)?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    write!(
                        s,
                        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                    )?;
                    let mut out = String::new();
                    s.read_to_string(&mut out)?;
                    Ok(out)
                })();
                match result {
                    Ok(r) if r.starts_with("HTTP/1.1 200") => {}
                    Ok(r) => {
                        failed += 1;
                        why.push(r.lines().next().unwrap_or_default().to_owned());
                    }
                    Err(e) => {
                        failed += 1;
                        why.push(e.to_string());
                    }
                }
                why.truncate(10);
            }
            (sent, failed, why)
        });
        Load { stop, thread }
    }

    fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or((0, 1, vec!["load thread panicked".into()]))
    }
}

#[test]
fn websample_behind_the_ingress_rolls_scales_and_reconfigures_without_a_failed_request()
-> anyhow::Result<()> {
    let seed = workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed])?;
    apply(
        &k,
        "websample-ingress.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: websample}\nspec:\n  selector: {run: websample}\n  ports: [{port: 80, targetPort: 5000}]\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: websample}\nspec:\n  rules:\n  - host: websample.local\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: websample, port: {number: 80}}}}\n",
    )?;
    k.kubectl(&["scale", "deploy", "websample", "--replicas", "3"])?;
    k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    eventually(Duration::from_secs(30), || {
        Ok((get(&k, "websample.local", "/", &[])?.0 == 200).then_some(()))
    })?;
    let load = Load::start(k.http.clone(), "websample.local");
    // A full rolling update (RollingUpdate 25%/25%, readiness probe, preStop, grace period).
    k.kubectl(&["set", "env", "deploy/websample", "ROLL=1"])?;
    k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=120s"])?;
    // Scale 3 → 1 → 3.
    k.kubectl(&["scale", "deploy", "websample", "--replicas", "1"])?;
    k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    eventually(Duration::from_secs(60), || {
        let n = k.kubectl(&["get", "pods", "-l", "run=websample", "-o", "name"])?;
        Ok((n.lines().count() == 1).then_some(()))
    })?;
    k.kubectl(&["scale", "deploy", "websample", "--replicas", "3"])?;
    k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    // 100 Ingress edits.
    for i in 0..100 {
        k.kubectl(&[
            "annotate",
            "ingress",
            "websample",
            &format!("knet.dev/edit={i}"),
            "--overwrite",
        ])?;
    }
    let (sent, failed, why) = load.finish();
    eprintln!("zero downtime: {sent} requests, {failed} failed");
    assert!(sent > 100, "only {sent} requests were sent");
    assert_eq!(failed, 0, "{failed} of {sent} failed: {why:?}");
    Ok(())
}

#[test]
fn smuggling_attempts_get_400() -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    apply(
        &k,
        "any.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: any}\nspec:\n  defaultBackend: {service: {name: s1, port: {number: 80}}}\n",
    )?;
    eventually(Duration::from_secs(30), || {
        Ok((get(&k, "x", "/", &[])?.0 == 200).then_some(()))
    })?;
    for raw in [
        // CL.TE
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED",
        // TE.CL
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        // The same after an honest request on one connection.
        "GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(&k.http)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(raw.as_bytes())?;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out).into_owned();
        // The last response on the connection (bodies have no trailing newline).
        let last = out
            .rfind("HTTP/1.1 ")
            .map(|i| &out[i..])
            .unwrap_or_default();
        assert!(
            last.starts_with("HTTP/1.1 400 Bad Request"),
            "{raw:?} → {out}"
        );
        assert!(!out.contains("SMUGGLED"), "{out}");
    }
    Ok(())
}

#[test]
fn websocket_upgrades_are_proxied() -> anyhow::Result<()> {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    apply(
        &k,
        "ws.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ws}\nspec:\n  rules:\n  - host: ws.example\n    http:\n      paths:\n      - {path: /ws, pathType: Prefix, backend: {service: {name: s1, port: {number: 80}}}}\n",
    )?;
    eventually(Duration::from_secs(30), || {
        Ok((get(&k, "ws.example", "/ws", &[])?.0 != 404
            && get(&k, "ws.example", "/ws", &[])?.0 != 503)
            .then_some(()))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{}/ws", k.http),
            )?;
        req.headers_mut().insert("host", "ws.example".parse()?);
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await?;
        assert_eq!(resp.status().as_u16(), 101);
        ws.send(Message::text("hello")).await?;
        let reply = ws
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no reply"))??;
        assert_eq!(reply.into_text()?.as_str(), "hello");
        ws.send(Message::binary(vec![0u8, 1, 2, 255])).await?;
        let reply = ws
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no reply"))??;
        assert_eq!(reply.into_data().as_ref(), &[0u8, 1, 2, 255]);
        ws.close(None).await?;
        Ok::<_, anyhow::Error>(())
    })
}

/// An Ingress `name` for `host` `/` → Service `svc` port 80, with ingress-nginx annotations
/// `annotations` (names without the prefix).
fn annotated(name: &str, host: &str, svc: &str, annotations: &[(&str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a.push_str(&format!("    nginx.ingress.kubernetes.io/{k}: '{v}'\n"));
    }
    let a = if a.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{a}")
    };
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n{a}spec:\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n---\n"
    )
}

/// A response as curl saw it: status, the last header block (lower-case names), body.
struct Reply {
    code: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `curl` through the ingress's plain port with `Host: host` and `args`.
fn curl(k: &Knet, host: &str, path: &str, args: &[&str]) -> anyhow::Result<Reply> {
    let out = e2e::run_ok(
        std::process::Command::new("curl")
            .args(["-sS", "-m", "10", "-D", "-", "-w", "\n%{http_code}"])
            .args(["-H", &format!("Host: {host}")])
            .args(args)
            .arg(format!("http://{}{path}", k.http)),
    )?;
    let (rest, code) = out.rsplit_once('\n').unwrap_or((&out, "0"));
    let (headers, body) = headers_and_body(rest);
    Ok(Reply {
        code: code.trim().parse()?,
        headers,
        body,
    })
}

/// `curl -D -` output split into the last header block (lower-case names; a 100 Continue may
/// come first) and the body.
pub(crate) fn headers_and_body(out: &str) -> (Vec<(String, String)>, String) {
    let mut rest = out;
    let mut headers = Vec::new();
    while rest.starts_with("HTTP/") {
        let (block, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        headers = block
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        rest = body;
    }
    (headers, rest.to_owned())
}

#[test]
fn ingress_nginx_annotations_redirect_filter_limit_and_rewrite_headers() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    let ingresses = [
        annotated(
            "perm",
            "perm.example",
            "s1",
            &[("permanent-redirect", "https://www.example.org/x")],
        ),
        annotated(
            "temp",
            "temp.example",
            "s1",
            &[("temporal-redirect", "https://example.com/y")],
        ),
        annotated("root", "root.example", "s1", &[("app-root", "/app1")]),
        annotated(
            "force",
            "force.example",
            "s1",
            &[("force-ssl-redirect", "true")],
        ),
        annotated(
            "pres",
            "pres.example",
            "s1",
            &[
                ("force-ssl-redirect", "true"),
                ("preserve-trailing-slash", "true"),
            ],
        ),
        annotated(
            "deny",
            "deny.example",
            "s1",
            &[("allowlist-source-range", "192.0.2.0/24")],
        ),
        annotated(
            "allow",
            "allow.example",
            "s1",
            &[("whitelist-source-range", "10.0.0.0/8, 127.0.0.0/8")],
        ),
        annotated("body", "body.example", "s1", &[]),
        annotated("big", "big.example", "s1", &[("proxy-body-size", "8m")]),
        annotated("bad", "bad.example", "s1", &[("proxy-body-size", "15r")]),
        annotated(
            "cors",
            "cors.example",
            "s1",
            &[
                ("enable-cors", "true"),
                ("cors-allow-origin", "https://app.example"),
            ],
        ),
        annotated(
            "vhost",
            "vhost.example",
            "s1",
            &[
                ("upstream-vhost", "internal.svc"),
                ("x-forwarded-prefix", "/pre"),
            ],
        ),
        annotated("limit", "limit.example", "s1", &[("limit-rps", "1")]),
    ];
    apply(&k, "ingresses.yaml", &ingresses.concat())?;
    eventually(Duration::from_secs(30), || {
        Ok((curl(&k, "vhost.example", "/", &[])?.code == 200).then_some(()))
    })?;

    let r = curl(&k, "perm.example", "/a", &[])?;
    assert_eq!(
        (r.code, r.header("location")),
        (301, Some("https://www.example.org/x"))
    );
    let r = curl(&k, "temp.example", "/a", &[])?;
    assert_eq!(
        (r.code, r.header("location")),
        (302, Some("https://example.com/y"))
    );
    let r = curl(&k, "root.example", "/", &[])?;
    assert_eq!((r.code, r.header("location")), (302, Some("/app1")));
    assert_eq!(curl(&k, "root.example", "/app1", &[])?.code, 200);
    // force-ssl-redirect without TLS: 308; one trailing slash dropped unless preserved.
    let port = k.https.rsplit(':').next().unwrap_or_default().to_owned();
    let r = curl(&k, "force.example", "/a/?q=1", &[])?;
    assert_eq!(r.code, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://force.example:{port}/a/?q=1").as_str())
    );
    let r = curl(&k, "force.example", "/a/", &[])?;
    assert_eq!(
        r.header("location"),
        Some(format!("https://force.example:{port}/a").as_str())
    );
    let r = curl(&k, "pres.example", "/a/", &[])?;
    assert_eq!(
        r.header("location"),
        Some(format!("https://pres.example:{port}/a/").as_str())
    );
    // Source ranges.
    assert_eq!(curl(&k, "deny.example", "/", &[])?.code, 403);
    assert_eq!(curl(&k, "allow.example", "/", &[])?.code, 200);
    // proxy-body-size: 1m by default, 8m by annotation, an invalid value ignored.
    let two_mib = k.dir.path().join("2m.bin");
    std::fs::write(&two_mib, vec![b'x'; 2 << 20])?;
    let data = format!("@{}", two_mib.display());
    let post = ["--data-binary", data.as_str()];
    assert_eq!(curl(&k, "body.example", "/", &post)?.code, 413);
    assert_eq!(curl(&k, "big.example", "/", &post)?.code, 200);
    assert_eq!(curl(&k, "bad.example", "/", &post)?.code, 413);
    // The same body with no declared length: counted as it streams.
    let chunked = [
        "--data-binary",
        data.as_str(),
        "-H",
        "Transfer-Encoding: chunked",
    ];
    assert_eq!(curl(&k, "body.example", "/", &chunked)?.code, 413);
    assert_eq!(curl(&k, "big.example", "/", &chunked)?.code, 200);
    assert_eq!(
        curl(&k, "body.example", "/", &["--data-binary", "small"])?.code,
        200
    );
    // CORS: a preflight is answered here; other answers carry the headers.
    let r = curl(
        &k,
        "cors.example",
        "/",
        &["-X", "OPTIONS", "-H", "Origin: https://app.example"],
    )?;
    assert_eq!(r.code, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-max-age"), Some("1728000"));
    assert!(r.header("access-control-allow-methods").is_some());
    let r = curl(
        &k,
        "cors.example",
        "/",
        &["-H", "Origin: https://app.example"],
    )?;
    assert!(field(&r.body, "pod").is_some(), "{}", r.body);
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = curl(
        &k,
        "cors.example",
        "/",
        &["-H", "Origin: https://evil.example"],
    )?;
    assert_eq!(r.header("access-control-allow-origin"), None);
    // upstream-vhost and x-forwarded-prefix.
    let r = curl(&k, "vhost.example", "/", &[])?;
    assert_eq!(field(&r.body, "host").as_deref(), Some("internal.svc"));
    assert_eq!(
        field(&r.body, "headers.x-forwarded-prefix").as_deref(),
        Some("/pre")
    );
    // limit-rps 1 (burst 5): a quick run of 12 requests is cut off with 503.
    let codes: Vec<u16> = (0..12)
        .map(|_| curl(&k, "limit.example", "/", &[]).map(|r| r.code))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(codes[0], 200, "{codes:?}");
    assert!(codes.contains(&503), "{codes:?}");
    // The invalid value is reported.
    let events = eventually(Duration::from_secs(20), || {
        let e = event_reasons(&k, "bad")?;
        Ok(e.contains("InvalidAnnotation").then_some(e))
    })?;
    assert!(events.contains("proxy-body-size"), "{events}");
    Ok(())
}

#[test]
fn canary_by_header_cookie_and_weight_and_cookie_affinity() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &format!("{}---\n{}", echo_app("main", 1), echo_app("canary", 2)),
    )?;
    let canary = |weight: &str| {
        annotated(
            "canary",
            "canary.example",
            "canary",
            &[
                ("canary", "true"),
                ("canary-by-header", "CanaryByHeader"),
                ("canary-by-cookie", "Canary-By-Cookie"),
                ("canary-weight", weight),
            ],
        )
    };
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}",
            annotated("main", "canary.example", "main", &[]),
            canary("0"),
            annotated(
                "sticky",
                "sticky.example",
                "canary",
                &[("affinity", "cookie"), ("session-cookie-name", "SERVERID")],
            )
        ),
    )?;
    let app = |r: &Reply| {
        field(&r.body, "pod").map(|p| p.split('-').next().unwrap_or_default().to_owned())
    };
    eventually(Duration::from_secs(30), || {
        let r = curl(&k, "canary.example", "/", &["-H", "CanaryByHeader: always"])?;
        Ok((app(&r).as_deref() == Some("canary")).then_some(()))
    })?;
    for (args, want) in [
        (vec![], "main"),
        (vec!["-H", "CanaryByHeader: always"], "canary"),
        (vec!["-H", "CanaryByHeader: never"], "main"),
        (vec!["-H", "CanaryByHeader: other"], "main"),
        (vec!["-H", "Cookie: Canary-By-Cookie=always"], "canary"),
        (vec!["-H", "Cookie: Canary-By-Cookie=never"], "main"),
        // The header goes before the cookie.
        (
            vec![
                "-H",
                "CanaryByHeader: never",
                "-H",
                "Cookie: Canary-By-Cookie=always",
            ],
            "main",
        ),
    ] {
        for _ in 0..5 {
            let r = curl(&k, "canary.example", "/", &args)?;
            assert_eq!(app(&r).as_deref(), Some(want), "{args:?}: {}", r.body);
        }
    }
    // Weight 100: everything goes to the canary.
    apply(&k, "canary.yaml", &canary("100"))?;
    eventually(Duration::from_secs(20), || {
        let r = curl(&k, "canary.example", "/", &[])?;
        Ok((app(&r).as_deref() == Some("canary")).then_some(()))
    })?;
    for _ in 0..10 {
        let r = curl(&k, "canary.example", "/", &[])?;
        assert_eq!(app(&r).as_deref(), Some("canary"));
    }
    // Cookie affinity: the cookie names the pod, and every request that sends it gets it.
    let r = eventually(Duration::from_secs(20), || {
        let r = curl(&k, "sticky.example", "/", &[])?;
        Ok((r.code == 200 && r.header("set-cookie").is_some()).then_some(r))
    })?;
    let set_cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(set_cookie.starts_with("SERVERID="), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    let pod = field(&r.body, "pod");
    for _ in 0..20 {
        let r = curl(
            &k,
            "sticky.example",
            "/",
            &["-H", &format!("Cookie: {cookie}")],
        )?;
        assert_eq!(field(&r.body, "pod"), pod);
        assert_eq!(r.header("set-cookie"), None);
    }
    // Without the cookie the two pods take turns; an unknown value gets a new cookie.
    let pods: std::collections::BTreeSet<Option<String>> = (0..6)
        .map(|_| curl(&k, "sticky.example", "/", &[]).map(|r| field(&r.body, "pod")))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(pods.len(), 2, "{pods:?}");
    let r = curl(&k, "sticky.example", "/", &["-H", "Cookie: SERVERID=stale"])?;
    assert!(r.header("set-cookie").is_some());
    Ok(())
}

#[test]
fn limits_timeouts_h2c_default_backend_metrics_and_access_log() -> anyhow::Result<()> {
    let log = std::env::temp_dir().join(format!("knet-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let log_arg = log.display().to_string();
    let k = Knet::up(&[
        "--default-backend-service",
        "default/fallback",
        "--access-log",
        &log_arg,
    ])?;
    apply(
        &k,
        "apps.yaml",
        &format!("{}---\n{}", echo_app("s1", 1), echo_app("fallback", 1)),
    )?;
    // A backend that accepts and never answers, for proxy-read-timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_port = silent.local_addr()?.port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}apiVersion: v1\nkind: Service\nmetadata: {{name: silent}}\nspec:\n  ports: [{{name: http, port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: silent-1\n  labels: {{kubernetes.io/service-name: silent}}\naddressType: IPv4\nports: [{{name: http, port: {silent_port}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n---\n{}",
            annotated("h2", "h2.example", "s1", &[("backend-protocol", "H2C")]),
            annotated("plain", "plain.example", "s1", &[]),
            annotated(
                "silent",
                "silent.example",
                "silent",
                &[("proxy-read-timeout", "1")],
            ),
        ),
    )?;
    // h2c to the backend: the echo sees HTTP/2.
    let r = eventually(Duration::from_secs(30), || {
        let r = curl(&k, "h2.example", "/", &[])?;
        Ok((r.code == 200).then_some(r))
    })?;
    assert_eq!(
        field(&r.body, "proto").as_deref(),
        Some("HTTP/2.0"),
        "{}",
        r.body
    );
    let r = curl(&k, "plain.example", "/", &[])?;
    assert_eq!(field(&r.body, "proto").as_deref(), Some("HTTP/1.1"));
    // No rule for the host and no defaultBackend: --default-backend-service answers.
    let r = eventually(Duration::from_secs(20), || {
        let r = curl(&k, "nobody.example", "/x", &[])?;
        Ok((r.code == 200).then_some(r))
    })?;
    assert!(
        field(&r.body, "pod")
            .unwrap_or_default()
            .starts_with("fallback-"),
        "{}",
        r.body
    );
    // proxy-read-timeout 1: a silent backend gives 504 after about a second.
    let started = std::time::Instant::now();
    let r = curl(&k, "silent.example", "/", &[])?;
    assert_eq!(r.code, 504);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A request head over 64 KiB is refused (431), however little over; one under it passes.
    for (size, code) in [(70_000, 431), (65_600, 431), (60_000, 200)] {
        let big = format!("X-Big: {}", "a".repeat(size));
        assert_eq!(
            curl(&k, "plain.example", "/", &["-H", &big])?.code,
            code,
            "{size}"
        );
    }
    // Metrics by Ingress, Service and status, with latency histograms.
    let metrics = e2e::run_ok(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        &format!("http://{}:10254/metrics", k.node_ip),
    ]))?;
    for want in [
        "knet_ingress_requests_total{namespace=\"default\",ingress=\"h2\",service=\"s1\",status=\"200\",method=\"GET\"}",
        "knet_ingress_requests_total{namespace=\"default\",ingress=\"silent\",service=\"silent\",status=\"504\",method=\"GET\"} 1",
        // The plain route served two requests: the first one, and the 60,000-byte head.
        "knet_ingress_request_duration_seconds_bucket{le=\"+Inf\",namespace=\"default\",ingress=\"plain\",service=\"s1\"} 2",
        "knet_ingress_connections ",
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
    // The access log: one JSON object per request.
    let line = eventually(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Ok(text
            .lines()
            .find(|l| l.contains("\"silent.example\""))
            .map(str::to_owned))
    })?;
    let v: serde_json::Value = serde_json::from_str(&line)?;
    assert_eq!(v["status"], 504, "{line}");
    assert_eq!(v["ingress"], "silent", "{line}");
    assert_eq!(v["method"], "GET", "{line}");
    assert!(v["upstream"].is_null(), "{line}");
    let _ = std::fs::remove_file(&log);
    drop(held);
    Ok(())
}

/// Case 38 of the reference: the `default-backend` annotation serves for a backend without
/// endpoints, and is told what happened in the custom-error headers.
#[test]
fn the_default_backend_annotation_takes_over_a_backend_without_endpoints() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "echo.yaml", &echo_app("errors", 1))?;
    apply(
        &k,
        "ing.yaml",
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: invalid}}\nspec:\n  selector: {{app: nothing}}\n  ports: [{{port: 80}}]\n---\n{}",
            annotated(
                "fallback",
                "fallback.example",
                "invalid",
                &[("default-backend", "errors")]
            )
        ),
    )?;
    let r = eventually(Duration::from_secs(30), || {
        let r = curl(
            &k,
            "fallback.example",
            "/alma/armud?x=1",
            &["-H", "X-Request-ID: something-unique"],
        )?;
        Ok((r.code == 200).then_some(r))
    })?;
    assert!(
        field(&r.body, "pod")
            .unwrap_or_default()
            .starts_with("errors-"),
        "{}",
        r.body
    );
    for (header, want) in [
        ("x-code", "503"),
        ("x-ingress-name", "fallback"),
        ("x-service-name", "invalid"),
        ("x-service-port", "80"),
        ("x-namespace", "default"),
        ("x-request-id", "something-unique"),
        ("x-original-uri", "/alma/armud?x=1"),
    ] {
        assert_eq!(
            field(&r.body, &format!("headers.{header}")).as_deref(),
            Some(want),
            "{header}: {}",
            r.body
        );
    }
    Ok(())
}

/// backend-protocol HTTPS and GRPCS: the upstream is spoken to over TLS (HTTP/1.1, and HTTP/2
/// by ALPN), its certificate not verified, as ingress-nginx does by default. The upstream here
/// is the ingress's own HTTPS port, which passes the request on to an echo pod.
#[test]
fn tls_backends_are_spoken_to_over_tls() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "s1.yaml", &echo_app("s1", 1))?;
    let (ip, port) = k.https.rsplit_once(':').unwrap_or_default();
    apply(
        &k,
        "ing.yaml",
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: self}}\nspec:\n  ports: [{{name: https, port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: self-1\n  labels: {{kubernetes.io/service-name: self}}\naddressType: IPv4\nports: [{{name: https, port: {port}}}]\nendpoints: [{{addresses: [{ip}]}}]\n---\n{}{}{}",
            annotated("inner", "inner.example", "s1", &[]),
            annotated(
                "outer-https",
                "https.example",
                "self",
                &[
                    ("backend-protocol", "HTTPS"),
                    ("upstream-vhost", "inner.example")
                ],
            ),
            annotated(
                "outer-grpcs",
                "grpcs.example",
                "self",
                &[
                    ("backend-protocol", "GRPCS"),
                    ("upstream-vhost", "inner.example")
                ],
            ),
        ),
    )?;
    for host in ["https.example", "grpcs.example"] {
        let r = eventually(Duration::from_secs(30), || {
            let r = curl(&k, host, "/x", &[])?;
            Ok((r.code == 200).then_some(r))
        })?;
        assert!(
            field(&r.body, "pod").unwrap_or_default().starts_with("s1-"),
            "{host}: {}",
            r.body
        );
        // The inner hop came in over TLS.
        assert_eq!(
            field(&r.body, "headers.x-forwarded-proto").as_deref(),
            Some("https"),
            "{host}: {}",
            r.body
        );
        assert_eq!(field(&r.body, "path").as_deref(), Some("/x"));
    }
    Ok(())
}

/// Case 51's settings: the HSTS header is configurable (`--hsts-max-age`,
/// `--hsts-include-subdomains`, `--hsts-preload`) and can be turned off (`--hsts false`).
#[test]
fn hsts_follows_its_flags() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    for (flags, want) in [
        (
            &[
                "--hsts-max-age",
                "86400",
                "--hsts-include-subdomains",
                "false",
                "--hsts-preload",
            ][..],
            Some("max-age=86400; preload"),
        ),
        (&["--hsts", "false"][..], None),
    ] {
        let k = Knet::up(flags)?;
        apply(&k, "s1.yaml", &echo_app("s1", 1))?;
        let (crt, key) = self_signed(k.dir.path(), "hsts.example")?;
        k.kubectl(&[
            "create", "secret", "tls", "hsts", "--key", &key, "--cert", &crt,
        ])?;
        apply(
            &k,
            "ing.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: hsts}\nspec:\n  tls: [{hosts: [hsts.example], secretName: hsts}]\n  rules:\n  - host: hsts.example\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s1, port: {number: 80}}}}]}\n",
        )?;
        let port = k.https.rsplit(':').next().unwrap_or_default().to_owned();
        let head = eventually(Duration::from_secs(30), || {
            let out = std::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-D", "-", "--cacert", &crt])
                .arg("--resolve")
                .arg(format!("hsts.example:{port}:127.0.0.1"))
                .arg(format!("https://hsts.example:{port}/"))
                .output()?;
            let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
            Ok(head.contains(" 200").then_some(head))
        })?;
        let got = head
            .lines()
            .find_map(|l| l.strip_prefix("strict-transport-security: "))
            .map(str::trim);
        assert_eq!(
            got,
            want.map(str::to_ascii_lowercase).as_deref(),
            "{flags:?}: {head}"
        );
    }
    Ok(())
}
