//! The netns network mode: each pod in its own network namespace on a bridge, checked with
//! the real `ip`, `kubectl` and `curl` inside a namespace the test makes for itself.
//! These tests need root and fail (never skip) without it.

use std::time::Duration;

use e2e::{Knet, eventually, run_ok};

/// Pods whose `READY` column is `1/1` and status `Running`.
fn running_ready(k: &Knet) -> anyhow::Result<usize> {
    let pods = k.kubectl(&["get", "pods", "--no-headers"])?;
    Ok(pods
        .lines()
        .filter(|l| l.contains("1/1") && l.contains("Running"))
        .count())
}

/// What this instance left on the machine: (pod namespaces, veths on its bridge, bridges,
/// pod processes).
fn leftovers(k: &Knet) -> anyhow::Result<(usize, usize, usize, usize)> {
    let prefix = k.pod_cidr.trim_end_matches("0/24").to_owned();
    let netns = std::fs::read_dir("/run/netns")?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("knet-{prefix}"))
        })
        .count();
    let links = run_ok(k.command("ip").args(["-br", "link"]))?;
    let veths = links.lines().filter(|l| l.starts_with("knv")).count();
    let bridges = links.lines().filter(|l| l.starts_with("knb")).count();
    let procs = std::process::Command::new("pgrep")
        .args(["-f", &format!("echo --listen {prefix}")])
        .output()?;
    let procs = String::from_utf8_lossy(&procs.stdout).lines().count();
    Ok((netns, veths, bridges, procs))
}

const PROBE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: looker
spec:
  containers:
  - name: look
    image: busybox
    command: [sh, -c, 'cat /etc/resolv.conf; echo host=$(hostname); ip -br addr; ip route; exec sleep 600']
";

#[test]
fn netns_mode_runs_the_seed_in_pod_namespaces_and_cleans_up() -> anyhow::Result<()> {
    let seed = e2e::workspace().join("examples/seed").display().to_string();
    let mut k = Knet::up_netns(&["-f", &seed])?;
    let prefix = k.pod_cidr.trim_end_matches("0/24").to_owned();
    let gateway = format!("{prefix}1");

    // nginx-for-svc runs twice, each pod on its own address in the pod range, and both are
    // the Service's endpoints.
    let ips = eventually(Duration::from_secs(30), || {
        let ips = k.endpoint_ips("clusterip-service")?;
        Ok((ips.len() == 2).then_some(ips))
    })?;
    for ip in &ips {
        assert!(ip.starts_with(&prefix), "{ip} outside {}", k.pod_cidr);
        assert_ne!(ip, &gateway, "the gateway is the bridge's own address");
    }
    eventually(Duration::from_secs(20), || {
        Ok((running_ready(&k)? >= 2).then_some(()))
    })?;

    // From the node (the test's namespace) the pod answers on its own address, and sees the
    // node's connection coming from the bridge.
    let out = run_ok(
        k.command("curl")
            .args(["-sS", "-m", "5", &format!("http://{}/x", ips[0])]),
    )?;
    let body: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(body["pod_ip"], ips[0].as_str());
    let remote = body["remote_addr"].as_str().unwrap_or_default();
    assert!(remote.starts_with(&format!("{gateway}:")), "{body}");

    // Inside a pod: the cluster's resolv.conf, the pod's name as hostname, eth0 with the pod
    // address and a default route through the bridge.
    let f = k.dir.path().join("looker.yaml");
    std::fs::write(&f, PROBE)?;
    k.kubectl(&["apply", "-f", &f.display().to_string()])?;
    let log = eventually(Duration::from_secs(20), || {
        let log = k.kubectl(&["logs", "looker"])?;
        Ok(log.contains("default via").then_some(log))
    })?;
    let pod_ip = k.kubectl(&["get", "pod", "looker", "-o", "jsonpath={.status.podIP}"])?;
    assert!(log.contains(&format!("nameserver {gateway}")), "{log}");
    assert!(
        log.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{log}"
    );
    assert!(log.contains("options ndots:5"), "{log}");
    assert!(log.contains("host=looker"), "{log}");
    assert!(log.contains(&format!("{pod_ip}/24")), "{log}");
    assert!(log.contains(&format!("default via {gateway}")), "{log}");
    // Pods reach each other directly across the bridge.
    // (The pod namespaces are mounted in knet's mount namespace, a slave of the test's.)
    let from_pod = std::process::Command::new("nsenter")
        .args(["-t", &k.pid().unwrap_or_default().to_string(), "-m"])
        .args(["ip", "netns", "exec", &format!("knet-{pod_ip}")])
        .args(["curl", "-sS", "-m", "5", &format!("http://{}/", ips[1])])
        .output()?;
    let body: serde_json::Value = serde_json::from_slice(&from_pod.stdout)
        .map_err(|e| anyhow::anyhow!("{e}: {}", String::from_utf8_lossy(&from_pod.stderr)))?;
    assert_eq!(
        body["remote_addr"]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .map(|a| a.0),
        Some(pod_ip.as_str())
    );

    // kill -9: the pods outlive knet; a restart rebuilds one namespace and one veth per pod
    // and runs each pod once.
    let pods = 4; // nginx-for-svc x2, websample, looker
    let (netns, veths, _, _) = leftovers(&k)?;
    assert_eq!((netns, veths), (pods, pods));
    k.kill9();
    k.restart()?;
    eventually(Duration::from_secs(30), || {
        let (netns, veths, bridges, procs) = leftovers(&k)?;
        let ready = running_ready(&k)?;
        // websample's readiness probe runs every 10 s, so wait for the other three.
        Ok(
            (ready >= 3 && netns == pods && veths == pods && bridges == 1 && procs == 3)
                .then_some(()),
        )
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let (netns, veths, bridges, procs) = leftovers(&k)?;
    assert_eq!((netns, veths, bridges, procs), (pods, pods, 1, 3));
    let out = run_ok(
        k.command("curl")
            .args(["-sS", "-m", "5", &format!("http://{}/x", ips[0])]),
    )?;
    assert!(out.contains(&ips[0]), "{out}");

    // A graceful stop removes every namespace, veth, the bridge and every process.
    assert_eq!(k.stop()?, Some(0));
    assert_eq!(leftovers(&k)?, (0, 0, 0, 0));
    Ok(())
}

#[test]
fn netns_mode_needs_root_or_says_why() -> anyhow::Result<()> {
    e2e::require("setpriv")?;
    // As an unprivileged user, an explicit --network netns is refused with one clear line.
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(e2e::knet_bin())
        .args([
            "up",
            "--network",
            "netns",
            "--api-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
    Ok(())
}
