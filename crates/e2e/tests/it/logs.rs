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
    // --timestamps: each line with its RFC 3339 time; --since keeps what is recent enough.
    let stamped = k.kubectl(&["logs", "pair", "-c", "a", "--timestamps"])?;
    let (time, rest) = stamped.split_once(' ').unwrap_or_default();
    assert_eq!(rest, "from-a\n", "{stamped:?}");
    assert!(
        time.parse::<jiff::Timestamp>().is_ok(),
        "{time:?} is not an RFC 3339 time"
    );
    assert_eq!(
        k.kubectl(&["logs", "pair", "-c", "a", "--since=1h"])?,
        "from-a\n"
    );
    assert_eq!(
        k.kubectl(&[
            "logs",
            "pair",
            "-c",
            "a",
            "--since-time=2999-01-01T00:00:00Z"
        ])?,
        ""
    );
    // No restart yet: no previous run to show.
    let err = k.kubectl_fails(&["logs", "pair", "-c", "a", "--previous"])?;
    assert!(
        err.contains("previous terminated container \"a\" in pod \"pair\" not found"),
        "{err}"
    );
    // exec picks the container the same way.
    assert!(
        k.kubectl(&["exec", "pair", "-c", "a", "--", "env"])?
            .contains("POD_NAME=pair")
    );
    let err = k.kubectl_fails(&["exec", "nosuch", "--", "env"])?;
    assert!(err.contains("pods \"nosuch\" not found"), "{err}");
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

/// `--previous` shows the last run of a restarted container; the current log starts afresh.
#[test]
fn kubectl_logs_previous_shows_the_run_before_a_restart() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let f = k.dir.path().join("pod.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: restarter}\nspec:\n  restartPolicy: Always\n  containers:\n  - name: run\n    image: busybox\n    command: [sh, -c, 'echo run-$(date +%s%N); sleep 1; exit 1']\n",
    )?;
    k.kubectl(&["apply", "-f", &f.display().to_string()])?;
    // After a restart: the previous run said one line, the current one another.
    let (previous, current) = eventually(Duration::from_secs(30), || {
        let Ok(previous) = k.kubectl(&["logs", "restarter", "--previous"]) else {
            return Ok(None);
        };
        let current = k.kubectl(&["logs", "restarter"])?;
        Ok(
            (previous.starts_with("run-") && current.starts_with("run-"))
                .then_some((previous, current)),
        )
    })?;
    assert_eq!(previous.lines().count(), 1, "{previous:?}");
    assert_eq!(current.lines().count(), 1, "{current:?}");
    assert_ne!(previous, current);
    Ok(())
}
