//! `kubectl logs` against the `pods/log` subresource: tail, limit, follow, and clear errors.

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::{Knet, eventually};

const TALKER: &str = "apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: talk
    image: busybox
    command: [sh, -c, 'echo line1; echo line2; echo line3; sleep 2; echo late; exec sleep 600']
---
apiVersion: v1
kind: Pod
metadata:
  name: pair
spec:
  containers:
  - {name: a, image: busybox, command: [sh, -c, 'echo from-a; exec sleep 600']}
  - {name: b, image: busybox, command: [sh, -c, 'echo from-b; exec sleep 600']}
";

#[test]
fn kubectl_logs_reads_tails_and_follows_container_logs() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let f = k.dir.path().join("pods.yaml");
    std::fs::write(&f, TALKER)?;
    k.kubectl(&["apply", "-f", &f.display().to_string()])?;
    eventually(Duration::from_secs(20), || {
        Ok(k.kubectl(&["logs", "talker"])?
            .contains("line3")
            .then_some(()))
    })?;
    assert!(
        k.kubectl(&["logs", "talker"])?
            .starts_with("line1\nline2\nline3\n")
    );
    assert_eq!(
        k.kubectl(&["logs", "talker", "--tail=2"])?,
        "line2\nline3\n"
    );
    assert_eq!(k.kubectl(&["logs", "talker", "--limit-bytes=3"])?, "lin");

    // -f streams what comes later, and ends when the pod is deleted.
    let mut follow = k
        .command("kubectl")
        .args(["logs", "-f", "talker"])
        .env("KUBECONFIG", k.kubeconfig())
        .env("HOME", k.dir.path().join("home"))
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = follow.stdout.take().expect("piped");
    let text = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    eventually(Duration::from_secs(10), || {
        Ok(k.kubectl(&["logs", "talker"])?
            .contains("late")
            .then_some(()))
    })?;
    k.kubectl(&["delete", "pod", "talker", "--wait=false"])?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = follow.try_wait()? {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "kubectl logs -f outlived its pod"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let text = text.join().expect("reader");
    assert!(
        text.starts_with("line1\n") && text.contains("late\n"),
        "{text:?}"
    );

    // Two containers: pick one, or be told the choices.
    eventually(Duration::from_secs(20), || {
        Ok(k.kubectl(&["logs", "pair", "-c", "b"])?
            .contains("from-b")
            .then_some(()))
    })?;
    let err = k.kubectl_fails(&["logs", "pair", "-c", "c"])?;
    assert!(
        err.contains("container c is not valid for pod pair"),
        "{err}"
    );
    let err = k.kubectl_fails(&["get", "--raw", "/api/v1/namespaces/default/pods/pair/log"])?;
    assert!(err.contains("choose one of: [a b]"), "{err}");
    // What knet cannot answer truthfully is refused, not faked.
    let err = k.kubectl_fails(&["logs", "pair", "-c", "a", "--since=1h"])?;
    assert!(err.contains("sinceSeconds"), "{err}");
    let err = k.kubectl_fails(&["logs", "nosuch"])?;
    assert!(err.contains("pods \"nosuch\" not found"), "{err}");
    // An unknown subresource is not found, not the pod.
    let err = k.kubectl_fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/pods/pair/nosuch",
    ])?;
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    Ok(())
}
