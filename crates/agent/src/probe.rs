//! Readiness, liveness and startup probes with kubelet's semantics: httpGet (success is a
//! status from 200 to 399), tcpSocket (a connection), exec (exit status 0), each bounded by
//! `timeoutSeconds`, run every `periodSeconds` after `initialDelaySeconds`, and judged by
//! `successThreshold` / `failureThreshold` consecutive results.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::process::Spec;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Gates the container's readiness.
    Readiness,
    /// Restarts the container when it fails.
    Liveness,
    /// Holds the other two back until it succeeds once.
    Startup,
}

/// One probe result, for the pod worker.
#[derive(Debug)]
pub struct Outcome {
    /// The container's index.
    pub container: usize,
    /// Which probe.
    pub kind: Kind,
    /// Whether it passed.
    pub ok: bool,
}

fn port_of(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

async fn http_get(host: &str, port: u16, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect((host, port)).await else {
        return false;
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 64];
    let Ok(n) = stream.read(&mut head).await else {
        return false;
    };
    // "HTTP/1.1 200 OK": the status code is the second word.
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|code| (200..400).contains(&code))
}

async fn exec(argv: &[String], spec: &Spec) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let mut cmd = tokio::process::Command::new(program);
    if let Some(sandbox) = &spec.sandbox
        && crate::netns::enter(&mut cmd, sandbox).is_err()
    {
        return false;
    }
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Runs one probe attempt against the container at `ip`.
pub async fn attempt(probe: &Probe, c: &Container, ip: &str, spec: &Spec) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    let check = async {
        if let Some(h) = &probe.http_get {
            let host = h
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| ip.to_owned());
            let Some(port) = port_of(&h.port, c) else {
                return false;
            };
            return http_get(&host, port, h.path.as_deref().unwrap_or("/")).await;
        }
        if let Some(t) = &probe.tcp_socket {
            let host = t
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| ip.to_owned());
            let Some(port) = port_of(&t.port, c) else {
                return false;
            };
            return tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .is_ok();
        }
        if let Some(e) = &probe.exec {
            return exec(e.command.as_deref().unwrap_or_default(), spec).await;
        }
        false
    };
    tokio::time::timeout(timeout, check).await.unwrap_or(false)
}

/// Probes forever (until aborted), sending every result.
pub async fn run(
    probe: Probe,
    kind: Kind,
    index: usize,
    c: Container,
    ip: String,
    spec: Spec,
    results: mpsc::UnboundedSender<Outcome>,
) {
    tokio::time::sleep(Duration::from_secs(
        probe.initial_delay_seconds.unwrap_or(0).max(0) as u64,
    ))
    .await;
    let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
    loop {
        let ok = attempt(&probe, &c, &ip, &spec).await;
        if results
            .send(Outcome {
                container: index,
                kind,
                ok,
            })
            .is_err()
        {
            return;
        }
        tokio::time::sleep(period).await;
    }
}

/// Consecutive results of one probe, judged against its thresholds.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    successes: i32,
    failures: i32,
}

impl Tally {
    /// Counts a result; returns `Some(true)` when the success threshold is reached,
    /// `Some(false)` when the failure threshold is, `None` otherwise.
    pub fn record(&mut self, ok: bool, probe: &Probe) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            (self.successes >= probe.success_threshold.unwrap_or(1).max(1)).then_some(true)
        } else {
            self.successes = 0;
            self.failures += 1;
            (self.failures >= probe.failure_threshold.unwrap_or(3).max(1)).then_some(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: i32, failure: i32) -> Probe {
        Probe {
            success_threshold: Some(success),
            failure_threshold: Some(failure),
            ..Probe::default()
        }
    }

    #[test]
    fn thresholds_count_consecutive_results() {
        let p = probe(2, 3);
        let mut t = Tally::default();
        assert_eq!(t.record(true, &p), None);
        assert_eq!(t.record(true, &p), Some(true));
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(true, &p), None, "a success resets the failures");
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), None);
        assert_eq!(t.record(false, &p), Some(false));
    }

    #[tokio::test]
    async fn tcp_and_http_attempts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let code = if String::from_utf8_lossy(&buf).starts_with("GET /bad") {
                    500
                } else {
                    200
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let c = Container::default();
        let spec = Spec {
            argv: vec![],
            env: vec![],
            cwd: None,
            log: std::path::PathBuf::from("/dev/null"),
            sandbox: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        };
        let http = |path: &str| Probe {
            http_get: Some(k8s_openapi::api::core::v1::HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::Int(i32::from(port)),
                ..Default::default()
            }),
            ..Probe::default()
        };
        assert!(attempt(&http("/readiness"), &c, "127.0.0.1", &spec).await);
        assert!(!attempt(&http("/bad"), &c, "127.0.0.1", &spec).await);
        let tcp = Probe {
            tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                port: IntOrString::Int(i32::from(port)),
                host: None,
            }),
            ..Probe::default()
        };
        assert!(attempt(&tcp, &c, "127.0.0.1", &spec).await);
        let closed = Probe {
            tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                port: IntOrString::Int(1),
                host: None,
            }),
            ..Probe::default()
        };
        assert!(!attempt(&closed, &c, "127.0.0.1", &spec).await);
        let exec_ok = Probe {
            exec: Some(k8s_openapi::api::core::v1::ExecAction {
                command: Some(vec!["/bin/true".into()]),
            }),
            ..Probe::default()
        };
        assert!(attempt(&exec_ok, &c, "127.0.0.1", &spec).await);
    }
}
