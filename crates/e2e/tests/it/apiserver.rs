//! API server behaviour through kubectl and curl: errors, secrets, watch, restarts, server-side
//! apply conflicts, durability under `kill -9`.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{Knet, require};

fn write(dir: &std::path::Path, name: &str, text: &str) -> anyhow::Result<String> {
    let p = dir.join(name);
    std::fs::write(&p, text)?;
    Ok(p.display().to_string())
}

const NODEPORT_8080: &str = "apiVersion: v1
kind: Service
metadata:
  name: np-bad
spec:
  type: NodePort
  selector: {app: x}
  ports:
  - port: 80
    nodePort: 8080
";

const NODEPORT_30080_A: &str = "apiVersion: v1
kind: Service
metadata:
  name: np-a
spec:
  type: NodePort
  selector: {app: x}
  ports:
  - port: 80
    nodePort: 30080
";

#[test]
fn node_port_errors_have_kube_apiserver_texts() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let d = k.dir.path();
    let bad = write(d, "bad.yaml", NODEPORT_8080)?;
    let err = k.kubectl_fails(&["apply", "-f", &bad])?;
    assert!(
        err.contains("The Service \"np-bad\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"),
        "{err}"
    );
    let a = write(d, "a.yaml", NODEPORT_30080_A)?;
    k.kubectl(&["apply", "-f", &a])?;
    let b = write(d, "b.yaml", &NODEPORT_30080_A.replace("np-a", "np-b"))?;
    let err = k.kubectl_fails(&["apply", "-f", &b])?;
    assert!(
        err.contains("The Service \"np-b\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"),
        "{err}"
    );
    // Nothing was stored for the refused objects.
    for name in ["np-bad", "np-b"] {
        let err = k.kubectl_fails(&["get", "svc", name])?;
        assert!(
            err.contains(&format!("services \"{name}\" not found")),
            "{err}"
        );
    }
    // Deleting np-a frees its port for someone else.
    k.kubectl(&["delete", "svc", "np-a"])?;
    k.kubectl(&["apply", "-f", &b])?;
    Ok(())
}

#[test]
fn invalid_and_malformed_bodies_are_refused() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let path = "/api/v1/namespaces/default/services";
    let (code, body) = k.curl(
        "POST",
        path,
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"bad"},"spec":{"ports":[{"port":0}]}}"#,
    )?;
    assert_eq!(code, 422, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.ports[0].port"
    );
    assert!(
        body.contains("must be between 1 and 65535, inclusive"),
        "{body}"
    );

    let (code, body) = k.curl(
        "POST",
        path,
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","#,
    )?;
    assert_eq!(code, 400, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("BadRequest"))
    );

    let (code, body) = k.curl(
        "POST",
        path,
        "application/yaml",
        "kind: Service\n  bad: [indent",
    )?;
    assert_eq!(code, 400, "{body}");

    let (code, _) = k.curl(
        "GET",
        "/api/v1/namespaces/default/services/bad",
        "application/json",
        "",
    )?;
    assert_eq!(code, 404, "nothing was stored");

    // Without the token: 401 with a Status.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(k.dir.path().join("pki/ca.crt"))
        .arg(format!(
            "https://{}/api/v1/namespaces/default/services",
            k.api
        ))
        .output()?;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        (status["code"].as_i64(), status["reason"].as_str()),
        (Some(401), Some("Unauthorized"))
    );

    // Unknown fields are refused under Strict validation, as kubectl apply asks.
    let (code, body) = k.curl(
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"bogus":1,"ports":[{"port":80}]}}"#,
    )?;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown field \\\"spec.bogus\\\""), "{body}");
    Ok(())
}

#[test]
fn tls_secret_from_kubectl_create() -> anyhow::Result<()> {
    require("openssl")?;
    let k = Knet::up(&[])?;
    let d = k.dir.path();
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-nodes", "-days", "365", "-newkey", "rsa:2048", "-keyout",
        ])
        .arg(d.join("tls.key"))
        .arg("-out")
        .arg(d.join("tls.crt"))
        .args(["-subj", "/CN=kube-book.com"])
        .stderr(Stdio::null())
        .status()?;
    assert!(status.success());
    let key = d.join("tls.key").display().to_string();
    let crt = d.join("tls.crt").display().to_string();
    let out = k.kubectl(&[
        "create",
        "secret",
        "tls",
        "kube-book-secret",
        "--key",
        &key,
        "--cert",
        &crt,
    ])?;
    assert_eq!(out.trim(), "secret/kube-book-secret created");
    let describe = k.kubectl(&["describe", "secret", "kube-book-secret"])?;
    let crt_len = std::fs::metadata(d.join("tls.crt"))?.len();
    let key_len = std::fs::metadata(d.join("tls.key"))?.len();
    assert!(describe.contains("Type:  kubernetes.io/tls"), "{describe}");
    assert!(
        describe.contains(&format!("tls.crt:  {crt_len} bytes")),
        "{describe}"
    );
    assert!(
        describe.contains(&format!("tls.key:  {key_len} bytes")),
        "{describe}"
    );
    let err = k.kubectl_fails(&[
        "create",
        "secret",
        "tls",
        "kube-book-secret",
        "--key",
        &key,
        "--cert",
        &crt,
    ])?;
    assert!(
        err.contains("secrets \"kube-book-secret\" already exists"),
        "{err}"
    );
    Ok(())
}

#[test]
fn get_watch_streams_a_change_within_a_second() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let home = k.dir.path().join("home");
    std::fs::create_dir_all(&home)?;
    let mut watch = Command::new("kubectl")
        .args(["get", "svc", "-w"])
        .env("KUBECONFIG", k.kubeconfig())
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = watch.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    // The header and the kubernetes row arrive first.
    let (_, header) = rx.recv_timeout(Duration::from_secs(20))?;
    assert!(header.starts_with("NAME"), "{header}");
    rx.recv_timeout(Duration::from_secs(5))?;
    k.kubectl(&[
        "expose",
        "service",
        "kubernetes",
        "--name",
        "watched",
        "--port",
        "80",
        "--selector",
        "app=w",
    ])?;
    // Counted from the write's acknowledgement (kubectl expose returning).
    let acknowledged = Instant::now();
    let (seen, line) = rx.recv_timeout(Duration::from_secs(5))?;
    let _ = watch.kill();
    assert!(line.starts_with("watched"), "{line}");
    let delay = seen.saturating_duration_since(acknowledged);
    assert!(
        delay < Duration::from_secs(1),
        "the change reached `kubectl get -w` after {delay:?}"
    );
    Ok(())
}

#[test]
fn restart_keeps_objects_and_allocations() -> anyhow::Result<()> {
    let mut k = Knet::up(&[])?;
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    k.kubectl(&["apply", "-f", &seed])?;
    let before = k.kubectl(&["get", "svc", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.clusterIP} {.spec.ports[*].nodePort} {.metadata.resourceVersion}{\"\\n\"}{end}"])?;
    assert_eq!(k.stop()?, Some(0), "graceful stop exits 0");
    k.restart()?;
    let after = k.kubectl(&["get", "svc", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.clusterIP} {.spec.ports[*].nodePort} {.metadata.resourceVersion}{\"\\n\"}{end}"])?;
    // The load-balancer status may have been written after the first read; compare
    // everything but the load-balancer row's resourceVersion. The `kubernetes` Service follows
    // the API server's port, which is a new free port on each start.
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                if l.starts_with("loadbalancer-service") || l.starts_with("kubernetes ") {
                    l.rsplit_once(' ').map(|x| x.0).unwrap_or(l).to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect()
    };
    assert_eq!(strip(&before), strip(&after));
    // A new Service does not get an address another one holds.
    k.kubectl(&[
        "expose",
        "service",
        "kubernetes",
        "--name",
        "fresh",
        "--port",
        "80",
        "--type",
        "NodePort",
        "--selector",
        "app=f",
    ])?;
    let ips = k.kubectl(&["get", "svc", "-o", "jsonpath={.items[*].spec.clusterIP}"])?;
    let list: Vec<&str> = ips.split_whitespace().filter(|ip| *ip != "None").collect();
    let mut unique = list.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(list.len(), unique.len(), "duplicate ClusterIP in {ips}");
    Ok(())
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
";

#[test]
fn server_side_apply_conflicts_and_force() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let d = k.dir.path();
    let two = write(d, "two.yaml", &DEPLOY.replace("REPLICAS", "2"))?;
    let three = write(d, "three.yaml", &DEPLOY.replace("REPLICAS", "3"))?;
    k.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "alice",
        "-f",
        &two,
    ])?;
    let err = k.kubectl_fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "-f",
        &three,
    ])?;
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"),
        "{err}"
    );
    assert_eq!(
        k.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])?,
        "2"
    );
    k.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "--force-conflicts",
        "-f",
        &three,
    ])?;
    assert_eq!(
        k.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])?,
        "3"
    );
    let managers = k.kubectl(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ])?;
    assert!(
        managers.contains("bob") && managers.contains("alice"),
        "{managers}"
    );
    // Alice now conflicts on the field bob took.
    let err = k.kubectl_fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "alice",
        "-f",
        &two,
    ])?;
    assert!(err.contains("conflict with \"bob\""), "{err}");

    // Ports and containers merge by their keys across managers.
    let svc_a = write(
        d,
        "svc-a.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: merged}\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n",
    )?;
    let svc_b = write(
        d,
        "svc-b.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: merged}\nspec:\n  ports:\n  - {name: https, port: 443}\n",
    )?;
    k.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "alice",
        "-f",
        &svc_a,
    ])?;
    k.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "-f",
        &svc_b,
    ])?;
    let ports = k.kubectl(&[
        "get",
        "svc",
        "merged",
        "-o",
        "jsonpath={.spec.ports[*].port}",
    ])?;
    assert_eq!(ports, "80 443");
    Ok(())
}

#[test]
fn openapi_serves_real_schemas_for_explain() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let out = k.kubectl(&["explain", "deployment.spec.strategy.rollingUpdate.maxSurge"])?;
    assert!(out.contains("FIELD: maxSurge <IntOrString>"), "{out}");
    let out = k.kubectl(&["explain", "svc.spec.sessionAffinity"])?;
    assert!(out.contains("ClientIP"), "{out}");
    Ok(())
}

#[test]
fn kubectl_create_commands_send_protobuf_and_work() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let out = k.kubectl(&["create", "namespace", "team"])?;
    assert_eq!(out.trim(), "namespace/team created");
    let out = k.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
        "-n",
        "team",
    ])?;
    assert_eq!(out.trim(), "deployment.apps/web created");
    let out = k.kubectl(&[
        "create",
        "service",
        "nodeport",
        "web",
        "--tcp=80:8080",
        "-n",
        "team",
    ])?;
    assert_eq!(out.trim(), "service/web created");
    let svc = k.kubectl(&[
        "get",
        "svc",
        "web",
        "-n",
        "team",
        "-o",
        "jsonpath={.spec.ports[0].targetPort} {.spec.ports[0].nodePort} {.spec.type}",
    ])?;
    let parts: Vec<&str> = svc.split_whitespace().collect();
    assert_eq!((parts[0], parts[2]), ("8080", "NodePort"), "{svc}");
    assert!(
        parts[1]
            .parse::<u16>()
            .is_ok_and(|p| (30000..=32767).contains(&p)),
        "{svc}"
    );
    let replicas = k.kubectl(&[
        "get",
        "deploy",
        "web",
        "-n",
        "team",
        "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
    ])?;
    assert_eq!(replicas, "2 nginx");
    Ok(())
}

#[test]
fn defaulting_and_validation_match_kube_apiserver() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let svcs = "/api/v1/namespaces/default/services";
    let (code, body) = k.curl(
        "POST",
        svcs,
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"sticky"},"spec":{"selector":{"app":"a"},"sessionAffinity":"ClientIP","ports":[{"port":80}]}}"#,
    )?;
    assert_eq!(code, 201, "{body}");
    let svc: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["internalTrafficPolicy"], "Cluster");

    let (code, body) = k.curl(
        "POST",
        svcs,
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"too-sticky"},"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":86401}},"ports":[{"port":80}]}}"#,
    )?;
    assert_eq!(code, 422, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
    );

    let (code, body) = k.curl(
        "POST",
        "/api/v1/namespaces/default/secrets",
        "application/json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"half"},"type":"kubernetes.io/tls","data":{"tls.crt":"eA=="}}"#,
    )?;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("data[tls.key]: Required value"), "{body}");

    let (code, body) = k.curl(
        "POST",
        svcs,
        "application/json",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"Bad_Name"},"spec":{"ports":[{"port":80}]}}"#,
    )?;
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("metadata.name: Invalid value: \\\"Bad_Name\\\": a DNS-1035 label"),
        "{body}"
    );
    Ok(())
}
