//! The ingress controller through real `curl`, with `knet echo` pods as backends (identified
//! by the echo's `pod` field).

use std::time::Duration;

use e2e::{Knet, eventually, workspace};

/// A Deployment `name` of `replicas` echo pods and a Service `name` (port 80 → 8080,
/// named `http`).
fn echo_app(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: echo\n        image: echo\n        ports: [{{containerPort: 8080}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n"
    )
}

fn apply(k: &Knet, name: &str, yaml: &str) -> anyhow::Result<()> {
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
fn field(body: &str, key: &str) -> Option<String> {
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
