//! The controllers that run inside `knet up`: load-balancer addresses, garbage collection and
//! namespace cleanup, observed through kubectl.

use std::time::Duration;

use e2e::{Knet, eventually};

fn write(k: &Knet, name: &str, text: &str) -> anyhow::Result<String> {
    let p = k.dir.path().join(name);
    std::fs::write(&p, text)?;
    Ok(p.display().to_string())
}

fn lb(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: x}}\n  ports:\n  - port: 80\n"
    )
}

#[test]
fn an_exhausted_pool_leaves_the_service_pending() -> anyhow::Result<()> {
    let k = Knet::up(&["--lb-pool", "127.240.9.7/32"])?;
    let a = write(&k, "a.yaml", &lb("lb-a"))?;
    k.kubectl(&["apply", "-f", &a])?;
    eventually(Duration::from_secs(10), || {
        let ip = k.kubectl(&[
            "get",
            "svc",
            "lb-a",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        Ok((ip == "127.240.9.7").then_some(()))
    })?;
    let b = write(&k, "b.yaml", &lb("lb-b"))?;
    k.kubectl(&["apply", "-f", &b])?;
    eventually(Duration::from_secs(10), || {
        let d = k.kubectl(&["describe", "svc", "lb-b"])?;
        Ok(d.contains("AllocationFailed").then_some(()))
    })?;
    let row = k.kubectl(&["get", "svc", "lb-b", "--no-headers"])?;
    assert!(row.contains("<pending>"), "{row}");
    // Freeing the address hands it to the pending Service.
    k.kubectl(&["delete", "svc", "lb-a"])?;
    eventually(Duration::from_secs(10), || {
        let ip = k.kubectl(&[
            "get",
            "svc",
            "lb-b",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        Ok((ip == "127.240.9.7").then_some(()))
    })?;
    Ok(())
}

const OWNED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: child
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: parent
    uid: UID
    blockOwnerDeletion: true
";

#[test]
fn owner_references_are_collected_in_background_and_foreground() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    for (policy, cascade) in [("background", "background"), ("foreground", "foreground")] {
        k.kubectl(&["create", "configmap", "parent"])?;
        let uid = k.kubectl(&["get", "cm", "parent", "-o", "jsonpath={.metadata.uid}"])?;
        let child = write(&k, "child.yaml", &OWNED.replace("UID", &uid))?;
        k.kubectl(&["apply", "-f", &child])?;
        k.kubectl(&[
            "delete",
            "cm",
            "parent",
            &format!("--cascade={cascade}"),
            "--wait=true",
            "--timeout=20s",
        ])?;
        eventually(Duration::from_secs(10), || {
            let out = k.kubectl_output(&["get", "cm", "child"])?;
            Ok((!out.status.success()).then_some(()))
        })
        .map_err(|e| e.context(format!("{policy}: the dependent was not collected")))?;
    }
    // Orphan keeps the dependent and drops its reference.
    k.kubectl(&["create", "configmap", "parent"])?;
    let uid = k.kubectl(&["get", "cm", "parent", "-o", "jsonpath={.metadata.uid}"])?;
    let child = write(&k, "child.yaml", &OWNED.replace("UID", &uid))?;
    k.kubectl(&["apply", "-f", &child])?;
    k.kubectl(&[
        "delete",
        "cm",
        "parent",
        "--cascade=orphan",
        "--timeout=20s",
    ])?;
    eventually(Duration::from_secs(10), || {
        let refs = k.kubectl(&[
            "get",
            "cm",
            "child",
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ])?;
        Ok(refs.is_empty().then_some(()))
    })?;
    Ok(())
}

#[test]
fn deleting_a_namespace_deletes_its_content() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    k.kubectl(&["create", "namespace", "team"])?;
    k.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team",
        "--from-literal=a=b",
    ])?;
    let out = k.kubectl(&["delete", "namespace", "team", "--timeout=30s"])?;
    assert_eq!(out.trim(), "namespace \"team\" deleted");
    let err = k.kubectl_fails(&["get", "namespace", "team"])?;
    assert!(err.contains("namespaces \"team\" not found"), "{err}");
    let left = k.kubectl_output(&["get", "cm", "-n", "team", "-o", "name"])?;
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());
    Ok(())
}

/// A pod pinned to a node that no agent serves: the test itself plays kubelet for it.
const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: NAME
  labels: {app: nginx-for-svc}
spec:
  nodeName: test-kubelet
  containers:
  - name: nginx
    image: nginx
    ports:
    - containerPort: 80
";

#[test]
fn endpoints_follow_pod_readiness() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let svc = e2e::workspace().join("examples/seed/clusterip-service.yaml");
    k.kubectl(&["apply", "-f", &svc.display().to_string()])?;
    for (name, ip) in [("web-1", "127.244.0.11"), ("web-2", "127.244.0.12")] {
        let p = write(&k, &format!("{name}.yaml"), &POD.replace("NAME", name))?;
        k.kubectl(&["apply", "-f", &p])?;
        let status = format!(
            r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
        );
        k.kubectl(&[
            "patch",
            "pod",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])?;
    }
    let endpoints = |want: &str| {
        eventually(Duration::from_secs(10), || {
            let got = k.endpoint_ips("clusterip-service")?.join(" ");
            Ok((got == want).then_some(()))
        })
        .map_err(|e| e.context(format!("waiting for endpoints {want:?}")))
    };
    endpoints("127.244.0.11 127.244.0.12")?;
    let table = k.kubectl(&["get", "endpoints", "clusterip-service"])?;
    assert!(table.contains("127.244.0.11:80,127.244.0.12:80"), "{table}");
    let describe = k.kubectl(&["describe", "svc", "clusterip-service"])?;
    assert!(
        describe.contains("127.244.0.11:80,127.244.0.12:80"),
        "{describe}"
    );

    // A pod that is no longer ready leaves the Endpoints and stays in the slice, not ready.
    k.kubectl(&[
        "patch",
        "pod",
        "web-2",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#,
    ])?;
    endpoints("127.244.0.11")?;
    let ready = k.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=clusterip-service",
        "-o",
        "jsonpath={range .items[0].endpoints[*]}{.addresses[0]}={.conditions.ready} {end}",
    ])?;
    assert_eq!(ready.trim(), "127.244.0.11=true 127.244.0.12=false");

    // Deleting a pod takes its endpoint out of service at once: it is terminating, and its
    // node's agent would now stop it.
    k.kubectl(&["delete", "pod", "web-1", "--wait=false"])?;
    endpoints("")?;
    let terminating = k.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=clusterip-service",
        "-o",
        "jsonpath={.items[0].endpoints[0].conditions.terminating}",
    ])?;
    assert_eq!(terminating, "true");
    Ok(())
}

const REPLICASET: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
";

#[test]
fn replicasets_keep_their_pod_count() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let rs = write(&k, "rs.yaml", REPLICASET)?;
    k.kubectl(&["apply", "-f", &rs])?;
    let pods = || -> anyhow::Result<Vec<String>> {
        let out = k.kubectl(&["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}"])?;
        Ok(out.lines().map(str::to_owned).collect())
    };
    let three = eventually(Duration::from_secs(10), || {
        let p = pods()?;
        Ok((p.len() == 3).then_some(p))
    })?;
    assert!(
        three
            .iter()
            .all(|l| l.starts_with("web-") && l.ends_with(" ReplicaSet")),
        "{three:?}"
    );
    // No more than asked for, even after a while.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pods()?.len(), 3);
    k.kubectl(&["scale", "rs", "web", "--replicas", "1"])?;
    eventually(Duration::from_secs(10), || {
        Ok((pods()?.len() == 1).then_some(()))
    })?;
    eventually(Duration::from_secs(10), || {
        let st = k.kubectl(&[
            "get",
            "rs",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.status.observedGeneration}",
        ])?;
        Ok((st == "1/2").then_some(()))
    })?;
    // Deleting the set takes its pods with it (background garbage collection).
    k.kubectl(&["delete", "rs", "web"])?;
    eventually(Duration::from_secs(10), || {
        Ok(pods()?.is_empty().then_some(()))
    })?;
    Ok(())
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
";

/// The live (not terminating) pods of the `web` Deployment: (name, image, ready). The node
/// agent inside `knet up` runs them: a pod is ready once its process runs, and a deleted pod is
/// terminated and removed by the agent.
fn live_pods(k: &Knet) -> anyhow::Result<Vec<(String, String, bool)>> {
    let out = k.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.spec.containers[0].image} {.metadata.deletionTimestamp}/ {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ])?;
    let mut seen = Vec::new();
    for line in out.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.get(2).is_some_and(|d| *d != "/") {
            continue;
        }
        seen.push((
            parts[0].to_owned(),
            parts.get(1).copied().unwrap_or("").to_owned(),
            parts.get(3) == Some(&"True"),
        ));
    }
    Ok(seen)
}

#[test]
fn deployments_roll_within_surge_and_unavailability() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let d = write(&k, "d.yaml", DEPLOYMENT)?;
    k.kubectl(&["apply", "-f", &d])?;
    eventually(Duration::from_secs(20), || {
        live_pods(&k)?;
        let st = k.kubectl(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ])?;
        Ok((st == "2").then_some(()))
    })?;
    let out = k.kubectl(&["rollout", "status", "deploy/web", "--timeout=20s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");

    k.kubectl(&["set", "image", "deploy/web", "web=nginx:2"])?;
    // At every look during the roll, at most 3 pods are live (maxSurge 1) and at least 2 of
    // them are ready (maxUnavailable 0).
    eventually(Duration::from_secs(30), || {
        let seen = live_pods(&k)?;
        let live = seen.len();
        let ready = seen.iter().filter(|(_, _, r)| *r).count();
        assert!(live <= 3, "surge exceeded: {seen:?}");
        assert!(ready >= 2, "fewer than 2 ready pods: {seen:?}");
        let done = live == 2 && seen.iter().all(|(_, img, r)| img == "nginx:2" && *r);
        Ok(done.then_some(()))
    })?;
    let out = k.kubectl(&["rollout", "status", "deploy/web", "--timeout=20s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = k.kubectl(&["rollout", "history", "deploy/web"])?;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    k.kubectl(&["rollout", "undo", "deploy/web"])?;
    eventually(Duration::from_secs(30), || {
        let seen = live_pods(&k)?;
        Ok(
            (seen.len() == 2 && seen.iter().all(|(_, img, r)| img == "nginx:1" && *r))
                .then_some(()),
        )
    })?;
    Ok(())
}

/// The live (not terminating) `websample` pods: (VERSION env value, ready).
fn websample_pods(k: &Knet) -> anyhow::Result<Vec<(String, bool)>> {
    let out = k.kubectl(&[
        "get",
        "pods",
        "-l",
        "run=websample",
        "-o",
        "jsonpath={range .items[*]}{.metadata.deletionTimestamp}/ {.spec.containers[0].env[?(@.name==\"VERSION\")].value}/ {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ])?;
    let mut seen = Vec::new();
    for line in out.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.first().is_some_and(|d| *d != "/") {
            continue;
        }
        seen.push((
            parts
                .get(1)
                .map_or("", |v| v.trim_end_matches('/'))
                .to_owned(),
            parts.get(2) == Some(&"True"),
        ));
    }
    Ok(seen)
}

#[test]
fn websample_rolls_on_an_env_change_within_its_surge_and_unavailability() -> anyhow::Result<()> {
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let k = Knet::up(&["-f", &seed])?;
    // Four replicas make the seed's 25% mean one pod each way: at most 5 live, at least 3 ready.
    k.kubectl(&["scale", "deploy", "websample", "--replicas", "4"])?;
    let out = k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");

    k.kubectl(&["set", "env", "deploy/websample", "VERSION=v2"])?;
    let mut looks = 0;
    let mut peak = 0;
    eventually(Duration::from_secs(120), || {
        let seen = websample_pods(&k)?;
        let live = seen.len();
        let ready = seen.iter().filter(|(_, r)| *r).count();
        looks += 1;
        peak = peak.max(live);
        assert!(live <= 5, "maxSurge exceeded: {seen:?}");
        assert!(ready >= 3, "maxUnavailable exceeded: {seen:?}");
        let done = live == 4 && seen.iter().all(|(v, r)| v == "v2" && *r);
        Ok(done.then_some(()))
    })?;
    assert!(
        looks > 5 && peak == 5,
        "the roll was watched ({looks} looks, peak {peak})"
    );
    let out = k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");

    // Undo goes back to the template without VERSION, with the same guarantees.
    k.kubectl(&["rollout", "undo", "deploy/websample"])?;
    eventually(Duration::from_secs(120), || {
        let seen = websample_pods(&k)?;
        let ready = seen.iter().filter(|(_, r)| *r).count();
        assert!(seen.len() <= 5 && ready >= 3, "{seen:?}");
        Ok((seen.len() == 4 && seen.iter().all(|(v, r)| v.is_empty() && *r)).then_some(()))
    })?;
    let out = k.kubectl(&["rollout", "status", "deploy/websample", "--timeout=60s"])?;
    assert!(out.contains("successfully rolled out"), "{out}");
    Ok(())
}

#[test]
fn the_seed_runs_as_processes_with_endpoints_and_stops_cleanly() -> anyhow::Result<()> {
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let mut k = Knet::up(&["-f", &seed])?;
    let prefix = k.pod_cidr.trim_end_matches("0/24").to_owned();
    // Both nginx-for-svc pods run (as `knet echo` on port 80) and are the Service's endpoints.
    let ips = eventually(Duration::from_secs(20), || {
        let ips = k.endpoint_ips("clusterip-service")?;
        Ok((ips.len() == 2).then_some(ips))
    })?;
    assert!(
        ips.iter().all(|ip| ip.starts_with(&prefix)),
        "{ips:?} outside {}",
        k.pod_cidr
    );
    let pods = k.kubectl(&["get", "pods", "-l", "app=nginx-for-svc", "--no-headers"])?;
    assert_eq!(
        pods.lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count(),
        2,
        "{pods}"
    );
    e2e::require("curl")?;
    let out = std::process::Command::new("curl")
        .args(["-sS", &format!("http://{}:80/hello?x=1", ips[0])])
        .output()?;
    let body: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(body["pod_ip"], ips[0].as_str());
    assert_eq!(body["path"], "/hello?x=1");
    assert!(
        body["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("nginx-for-svc-")),
        "{body}"
    );
    // A log file per container, at the contract's path.
    let pod = body["pod"].as_str().unwrap_or_default().to_owned();
    assert!(
        k.dir
            .path()
            .join(format!("logs/default_{pod}_nginx.log"))
            .exists()
    );

    // A graceful stop leaves no process of this instance behind.
    let running = || -> anyhow::Result<usize> {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("echo --listen {prefix}")])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    };
    assert!(
        running()? >= 3,
        "nginx-for-svc x2 and websample run as processes"
    );
    assert_eq!(k.stop()?, Some(0));
    assert_eq!(running()?, 0, "processes left behind");
    Ok(())
}

#[test]
fn after_kill_9_a_restart_runs_every_pod_once() -> anyhow::Result<()> {
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let mut k = Knet::up(&["-f", &seed])?;
    let prefix = k.pod_cidr.trim_end_matches("0/24").to_owned();
    let running = || -> anyhow::Result<usize> {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("echo --listen {prefix}")])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    };
    eventually(Duration::from_secs(20), || {
        Ok((running()? == 3).then_some(()))
    })?;
    k.kill9();
    assert_eq!(running()?, 3, "the pods' processes outlive a killed knet");
    k.restart()?;
    // The restarted agent ends the orphans and runs each pod once, on its old address.
    eventually(Duration::from_secs(20), || {
        let pods = k.kubectl(&["get", "pods", "--no-headers"])?;
        let ready = pods
            .lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count();
        Ok((ready == 3 && running()? == 3).then_some(()))
    })?;
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(running()?, 3, "no pod runs twice");
    assert_eq!(k.stop()?, Some(0));
    assert_eq!(running()?, 0);
    Ok(())
}

const PROBED: &str = "apiVersion: v1
kind: Pod
metadata:
  name: probed
  labels: {app: nginx-for-svc}
spec:
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 80
    readinessProbe:
      exec: {command: [test, -f, READY]}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [test, '!', -f, DIE]}
      periodSeconds: 1
      failureThreshold: 2
";

#[test]
fn probes_drive_readiness_and_restarts() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let svc = e2e::workspace().join("examples/seed/clusterip-service.yaml");
    k.kubectl(&["apply", "-f", &svc.display().to_string()])?;
    let ready_flag = k.dir.path().join("ready");
    let die_flag = k.dir.path().join("die");
    let pod = PROBED
        .replace("READY", &ready_flag.display().to_string())
        .replace("DIE", &die_flag.display().to_string());
    let p = write(&k, "probed.yaml", &pod)?;
    k.kubectl(&["apply", "-f", &p])?;
    let field =
        |path: &str| k.kubectl(&["get", "pod", "probed", "-o", &format!("jsonpath={path}")]);
    // Running but not ready: in the slice as not ready, not in the Endpoints.
    eventually(Duration::from_secs(15), || {
        Ok((field("{.status.phase}")? == "Running").then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        field("{.status.conditions[?(@.type==\"Ready\")].status}")?,
        "False"
    );
    let eps = k.endpoint_ips("clusterip-service")?;
    assert!(eps.is_empty(), "{eps:?}");
    // The probe passes: the pod becomes ready and an endpoint.
    std::fs::write(&ready_flag, "")?;
    let ip = field("{.status.podIP}")?;
    eventually(Duration::from_secs(15), || {
        let eps = k.endpoint_ips("clusterip-service")?;
        Ok((eps == [ip.clone()]).then_some(()))
    })?;
    // The liveness probe fails twice: the container is restarted.
    std::fs::write(&die_flag, "")?;
    eventually(Duration::from_secs(20), || {
        let restarts = field("{.status.containerStatuses[0].restartCount}")?;
        Ok((restarts.parse::<i32>().unwrap_or(0) >= 1).then_some(()))
    })?;
    Ok(())
}

const GRACEFUL: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: NAME
  labels: {app: nginx-for-svc}
spec:
  terminationGracePeriodSeconds: GRACE
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'TRAP; while true; do sleep 0.1; done']
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'date +%s.%N > PRESTOP; sleep 1']}
"#;

#[test]
fn deletion_runs_prestop_then_sigterm_then_sigkill() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let d = k.dir.path();
    let (prestop, term) = (d.join("prestop"), d.join("term"));
    let pod = GRACEFUL
        .replace("NAME", "polite")
        .replace("GRACE", "10")
        .replace(
            "TRAP",
            &format!("trap \"date +%s.%N > {}; exit 0\" TERM", term.display()),
        )
        .replace("PRESTOP", &prestop.display().to_string());
    let p = write(&k, "polite.yaml", &pod)?;
    k.kubectl(&["apply", "-f", &p])?;
    eventually(Duration::from_secs(15), || {
        Ok(
            (k.kubectl(&["get", "pod", "polite", "-o", "jsonpath={.status.phase}"])? == "Running")
                .then_some(()),
        )
    })?;
    std::thread::sleep(Duration::from_millis(300));
    k.kubectl(&["delete", "pod", "polite", "--timeout=20s"])?;
    let read = |p: &std::path::Path| -> anyhow::Result<f64> {
        Ok(std::fs::read_to_string(p)?.trim().parse()?)
    };
    let (t_prestop, t_term) = (read(&prestop)?, read(&term)?);
    assert!(
        t_term - t_prestop >= 0.9,
        "SIGTERM {t_term} came before preStop {t_prestop} ended"
    );

    // A process that ignores SIGTERM is killed once the grace period is over.
    let stubborn = GRACEFUL
        .replace("NAME", "stubborn")
        .replace("GRACE", "2")
        .replace("TRAP", "trap true TERM")
        .replace("PRESTOP", &d.join("prestop2").display().to_string());
    let p = write(&k, "stubborn.yaml", &stubborn)?;
    k.kubectl(&["apply", "-f", &p])?;
    eventually(Duration::from_secs(15), || {
        Ok(
            (k.kubectl(&["get", "pod", "stubborn", "-o", "jsonpath={.status.phase}"])?
                == "Running")
                .then_some(()),
        )
    })?;
    let started = std::time::Instant::now();
    k.kubectl(&["delete", "pod", "stubborn", "--timeout=20s"])?;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "deletion took {took:?}"
    );
    Ok(())
}

#[test]
fn bad_workloads_fail_clearly() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    // A command that does not exist: the container waits with a reason and a message.
    let missing = "apiVersion: v1\nkind: Pod\nmetadata: {name: missing}\nspec:\n  containers:\n  - name: main\n    image: x\n    command: [/no/such/program]\n";
    let p = write(&k, "missing.yaml", missing)?;
    k.kubectl(&["apply", "-f", &p])?;
    let reason = eventually(Duration::from_secs(15), || {
        let r = k.kubectl(&[
            "get",
            "pod",
            "missing",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ])?;
        Ok((!r.is_empty()).then_some(r))
    })?;
    assert_eq!(reason, "CreateContainerError");
    let table = k.kubectl(&["get", "pod", "missing", "--no-headers"])?;
    assert!(
        table.contains("CreateContainerError") && table.contains("0/1"),
        "{table}"
    );

    // A readiness probe on a port nothing listens on: running, never ready.
    let closed = "apiVersion: v1\nkind: Pod\nmetadata: {name: closed}\nspec:\n  containers:\n  - name: main\n    image: x\n    ports: [{containerPort: 80}]\n    readinessProbe:\n      tcpSocket: {port: 81}\n      periodSeconds: 1\n";
    let p = write(&k, "closed.yaml", closed)?;
    k.kubectl(&["apply", "-f", &p])?;
    eventually(Duration::from_secs(15), || {
        Ok(
            (k.kubectl(&["get", "pod", "closed", "-o", "jsonpath={.status.phase}"])? == "Running")
                .then_some(()),
        )
    })?;
    std::thread::sleep(Duration::from_secs(3));
    let ready = k.kubectl(&[
        "get",
        "pod",
        "closed",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])?;
    assert_eq!(ready, "False");

    // A negative replica count is refused with the field path, and nothing changes.
    let d = write(
        &k,
        "neg.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: -1"),
    )?;
    let err = k.kubectl_fails(&["apply", "-f", &d])?;
    assert!(
        err.contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{err}"
    );
    let out = k.kubectl_output(&["get", "deploy", "web"])?;
    assert!(!out.status.success(), "nothing was stored");
    Ok(())
}
