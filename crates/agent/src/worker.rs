//! One pod's life on this node: an address, its containers' processes, restarts with
//! kubelet's back-off, status, and graceful termination (SIGTERM to each process group, SIGKILL
//! once the grace period is over, then the final delete).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::Config;
use crate::ipam::Ipam;
use crate::probe::{self, Kind, Outcome};
use crate::process::{self, Spec, expand};

/// Kubelet's crash-loop back-off: 10 s doubling to 5 minutes.
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// The pod is gone from the API: kill at once.
    Now,
    /// The agent is stopping: terminate with the grace period, keep the pod object.
    Shutdown,
}

/// The agent's handle on one pod's worker.
#[derive(Debug)]
pub struct Handle {
    pod: watch::Sender<Pod>,
    stop: watch::Sender<Stop>,
    task: tokio::task::JoinHandle<()>,
}

impl Handle {
    /// Passes a newer version of the pod.
    pub fn update(&self, pod: Pod) {
        let _ = self.pod.send(pod);
    }

    /// The pod was deleted from the API: its processes die now.
    pub fn stop_now(&self) {
        let _ = self.stop.send(Stop::Now);
    }

    /// Whether the worker has ended.
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Terminates the pod's processes with its grace period; resolves when they are gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(Stop::Shutdown);
        let _ = self.task.await;
    }
}

/// Starts the worker for `pod`.
pub fn spawn(
    client: kube::Client,
    config: Arc<Config>,
    ipam: Arc<Mutex<Ipam>>,
    pod: Pod,
) -> Handle {
    let (pod_tx, pod_rx) = watch::channel(pod);
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let task = tokio::spawn(run(client, config, ipam, pod_rx, stop_rx));
    Handle {
        pod: pod_tx,
        stop: stop_tx,
        task,
    }
}

/// One container's runtime state.
#[derive(Debug, Default)]
struct Slot {
    pid: Option<u32>,
    /// The readiness probe's verdict (true when there is none).
    ready: bool,
    /// Whether the startup probe has passed (true when there is none).
    started: bool,
    /// The running probe loops of the current process.
    probes: Vec<tokio::task::AbortHandle>,
    tallies: [crate::probe::Tally; 3],
    restarts: i32,
    started_at: Option<String>,
    waiting: Option<(String, String)>,
    last_exit: Option<(i32, String)>,
    backoff: Option<Duration>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The environment of one container: the contract's variables, then its own `env` in order
/// (each may refer to the ones before it with `$(VAR)`).
fn environment(pod: &Pod, c: &Container, ip: &str, node: &str) -> Vec<(String, String)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        (
            "HOME".into(),
            std::env::var("HOME").unwrap_or_else(|_| "/".into()),
        ),
        ("HOSTNAME".into(), name.clone()),
        ("POD_NAME".into(), name.clone()),
        ("POD_NAMESPACE".into(), ns.clone()),
        ("POD_IP".into(), ip.to_owned()),
        ("NODE_NAME".into(), node.to_owned()),
    ];
    for var in c.env.iter().flatten() {
        let known: BTreeMap<String, String> = env.iter().cloned().collect();
        let value = match (
            &var.value,
            var.value_from.as_ref().and_then(|f| f.field_ref.as_ref()),
        ) {
            (Some(v), _) => expand(v, &known),
            (None, Some(f)) => match f.field_path.as_str() {
                "metadata.name" => name.clone(),
                "metadata.namespace" => ns.clone(),
                "status.podIP" => ip.to_owned(),
                "spec.nodeName" => node.to_owned(),
                "metadata.uid" => pod.metadata.uid.clone().unwrap_or_default(),
                _ => String::new(),
            },
            (None, None) => String::new(),
        };
        env.retain(|(k, _)| k != &var.name);
        env.push((var.name.clone(), value));
    }
    env
}

/// The command line of one container: `command` and `args`, or `args` alone; with neither,
/// the built-in `knet echo` on each declared port (8080 when none is).
fn argv(c: &Container, env: &[(String, String)], ip: &str, knet: &str) -> Vec<String> {
    let known: BTreeMap<String, String> = env.iter().cloned().collect();
    // Images are not pulled, so an image's entrypoint is unknown: `args` alone (what
    // `kubectl run IMAGE -- CMD` writes) run as the command, as for an image without one.
    let words: Vec<&String> = match (&c.command, &c.args) {
        (Some(cmd), args) if !cmd.is_empty() => cmd.iter().chain(args.iter().flatten()).collect(),
        (_, Some(args)) => args.iter().collect(),
        _ => Vec::new(),
    };
    if !words.is_empty() {
        let mut argv: Vec<String> = words.iter().map(|a| expand(a, &known)).collect();
        if argv.first().map(String::as_str) == Some("knet") {
            argv[0] = knet.to_owned();
        }
        return argv;
    }
    let mut argv = vec![knet.to_owned(), "echo".to_owned()];
    let ports: Vec<i32> = c
        .ports
        .iter()
        .flatten()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .map(|p| p.container_port)
        .collect();
    for port in if ports.is_empty() { vec![8080] } else { ports } {
        argv.push("--listen".into());
        argv.push(format!("{ip}:{port}"));
    }
    for p in c
        .ports
        .iter()
        .flatten()
        .filter(|p| p.protocol.as_deref() == Some("UDP"))
    {
        argv.push("--udp".into());
        argv.push(format!("{ip}:{}", p.container_port));
    }
    argv
}

async fn run(
    client: kube::Client,
    config: Arc<Config>,
    ipam: Arc<Mutex<Ipam>>,
    mut pod_rx: watch::Receiver<Pod>,
    mut stop_rx: watch::Receiver<Stop>,
) {
    let pod = pod_rx.borrow().clone();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let previous: Option<Ipv4Addr> = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let ip = {
        let mut ipam = ipam.lock().unwrap_or_else(|p| p.into_inner());
        match previous {
            Some(ip) if ipam.claim(ip) => Some(ip),
            _ => ipam.allocate(),
        }
    };
    let Some(ip) = ip else {
        tracing::warn!(pod = %name, "no pod address left in the pod CIDR");
        return;
    };
    let ip_text = ip.to_string();
    let sandbox = match &config.bridge {
        None => Ok(None),
        Some(bridge) => {
            let (bridge, ns2, host) = (bridge.clone(), ns.clone(), name.clone());
            tokio::task::spawn_blocking(move || bridge.setup_pod(ip, &ns2, &host))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
                .map(Some)
        }
    };
    let (sandbox, sandbox_error) = match sandbox {
        Ok(s) => (s, None),
        Err(err) => {
            tracing::warn!(pod = %name, %err, "creating the pod's network namespace failed");
            (
                None,
                Some(format!("creating the pod network namespace: {err}")),
            )
        }
    };
    let containers: Vec<Container> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into());
    let knet = config.knet_bin.display().to_string();
    let specs: Vec<Spec> = containers
        .iter()
        .map(|c| {
            let mut env = environment(&pod, c, &ip_text, &config.node_name);
            let tty = c.tty.unwrap_or(false);
            if tty && !env.iter().any(|(k, _)| k == "TERM") {
                // As container runtimes set it for a terminal.
                env.push(("TERM".into(), "xterm".into()));
            }
            Spec {
                argv: argv(c, &env, &ip_text, &knet),
                env,
                cwd: c.working_dir.clone(),
                log: config.log_dir.join(format!("{ns}_{name}_{}.log", c.name)),
                sandbox: sandbox.clone(),
                stdin: c.stdin.unwrap_or(false),
                stdin_once: c.stdin_once.unwrap_or(false),
                tty,
            }
        })
        .collect();
    let mut slots: Vec<Slot> = containers.iter().map(|_| Slot::default()).collect();
    let run_dir = config.run_dir();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let pod_key = (ns.clone(), name.clone());
    config
        .registry
        .pod_started(pod_key.clone(), &uid, IpAddr::V4(ip), sandbox.clone());
    let record_name = |i: usize| format!("{uid}_{}", containers[i].name);
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(usize, i32, bool)>();
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<Outcome>();
    let probes_of = |c: &Container| -> Vec<(Kind, k8s_openapi::api::core::v1::Probe)> {
        [
            (Kind::Startup, c.startup_probe.clone()),
            (Kind::Readiness, c.readiness_probe.clone()),
            (Kind::Liveness, c.liveness_probe.clone()),
        ]
        .into_iter()
        .filter_map(|(k, p)| Some((k, p?)))
        .collect()
    };
    let start_time = now();
    let start = |i: usize, slots: &mut Vec<Slot>| {
        match process::spawn(&specs[i]) {
            Ok((mut child, console)) => {
                config.registry.container_started(
                    &pod_key,
                    &uid,
                    &containers[i].name,
                    &specs[i],
                    console,
                );
                slots[i].pid = child.id();
                slots[i].ready = containers[i].readiness_probe.is_none();
                slots[i].started = containers[i].startup_probe.is_none();
                slots[i].tallies = Default::default();
                for (kind, p) in probes_of(&containers[i]) {
                    let task = tokio::spawn(probe::run(
                        p,
                        kind,
                        i,
                        containers[i].clone(),
                        ip_text.clone(),
                        specs[i].clone(),
                        probe_tx.clone(),
                    ));
                    slots[i].probes.push(task.abort_handle());
                }
                if let Some(pid) = child.id() {
                    process::record(&run_dir, &record_name(i), pid);
                }
                slots[i].started_at = Some(now());
                slots[i].waiting = None;
                let tx = exit_tx.clone();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let (code, signalled) = match status {
                        Ok(s) => {
                            use std::os::unix::process::ExitStatusExt as _;
                            match (s.code(), s.signal()) {
                                (Some(c), _) => (c, false),
                                (None, Some(sig)) => (128 + sig, true),
                                _ => (1, false),
                            }
                        }
                        Err(_) => (1, false),
                    };
                    let _ = tx.send((i, code, signalled));
                });
            }
            Err(err) => {
                slots[i].pid = None;
                slots[i].waiting = Some((
                    "CreateContainerError".into(),
                    format!(
                        "starting {:?}: {err}",
                        specs[i].argv.first().cloned().unwrap_or_default()
                    ),
                ));
                let tx = exit_tx.clone();
                // Retried like a crash, with the back-off.
                tokio::spawn(async move {
                    let _ = tx.send((i, -1, false));
                });
            }
        }
    };
    match &sandbox_error {
        None => (0..specs.len()).for_each(|i| start(i, &mut slots)),
        // Kubelet leaves the containers waiting when the pod sandbox cannot be made.
        Some(message) => slots.iter_mut().for_each(|s| {
            s.waiting = Some(("CreatePodSandboxError".into(), message.clone()));
        }),
    }
    write_status(
        &api,
        &name,
        &ip_text,
        &config,
        &containers,
        &slots,
        &start_time,
        None,
    )
    .await;

    let mut restarts: tokio::task::JoinSet<usize> = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            changed = pod_rx.changed() => {
                if changed.is_err() { break; }
                let pod = pod_rx.borrow().clone();
                if pod.metadata.deletion_timestamp.is_some() {
                    // The grace period counts from the start of deletion: preStop hooks run
                    // inside it, and SIGTERM gets what is left.
                    let grace = Duration::from_secs(pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64);
                    let begun = std::time::Instant::now();
                    pre_stop(&containers, &slots, &ip_text, &specs, grace).await;
                    terminate(&mut slots, &mut exit_rx, grace.saturating_sub(begun.elapsed())).await;
                    let _ = api.delete(&name, &DeleteParams::default().grace_period(0)).await;
                    break;
                }
            }
            stop = stop_rx.changed() => {
                let mode = if stop.is_err() { Stop::Shutdown } else { *stop_rx.borrow() };
                let grace = match mode {
                    Stop::Now => Duration::ZERO,
                    _ => Duration::from_secs(pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0) as u64),
                };
                terminate(&mut slots, &mut exit_rx, grace).await;
                break;
            }
            Some((i, code, _signalled)) = exit_rx.recv() => {
                config.registry.container_stopped(&pod_key, &uid, &containers[i].name);
                let slot = &mut slots[i];
                for p in slot.probes.drain(..) {
                    p.abort();
                }
                slot.ready = false;
                if let Some(pid) = slot.pid.take() {
                    // The leader is gone; take anything it left in its group with it.
                    process::signal_group(pid, Signal::SIGKILL);
                    process::forget(&run_dir, &record_name(i));
                }
                if code >= 0 {
                    slot.last_exit = Some((code, if code == 0 { "Completed".into() } else { "Error".into() }));
                }
                let restart = match restart_policy.as_str() {
                    "Never" => false,
                    "OnFailure" => code != 0,
                    _ => true,
                };
                if restart {
                    let delay = slot.backoff.map(|b| (b * 2).min(BACKOFF_MAX)).unwrap_or(BACKOFF_START);
                    slot.backoff = Some(delay);
                    if code >= 0 {
                        slot.restarts += 1;
                        slot.waiting = Some(("CrashLoopBackOff".into(), format!("back-off {}s restarting failed container", delay.as_secs())));
                    }
                    restarts.spawn(async move { tokio::time::sleep(delay).await; i });
                }
                let phase = phase(&restart_policy, &slots);
                write_status(&api, &name, &ip_text, &config, &containers, &slots, &start_time, phase).await;
            }
            Some(outcome) = probe_rx.recv() => {
                let i = outcome.container;
                if slots[i].pid.is_none() {
                    continue;
                }
                let c = &containers[i];
                let (p, idx) = match outcome.kind {
                    Kind::Startup => (c.startup_probe.as_ref(), 0),
                    Kind::Readiness => (c.readiness_probe.as_ref(), 1),
                    Kind::Liveness => (c.liveness_probe.as_ref(), 2),
                };
                let Some(p) = p else { continue };
                if outcome.kind != Kind::Startup && !slots[i].started {
                    continue;
                }
                let verdict = slots[i].tallies[idx].record(outcome.ok, p);
                match (outcome.kind, verdict) {
                    (Kind::Startup, Some(true)) => slots[i].started = true,
                    (Kind::Readiness, Some(v)) if v != slots[i].ready => {
                        slots[i].ready = v;
                        write_status(&api, &name, &ip_text, &config, &containers, &slots, &start_time, None).await;
                    }
                    (Kind::Liveness | Kind::Startup, Some(false)) => {
                        // The container is unhealthy: kill it; its exit restarts it.
                        tracing::info!(pod = %name, container = %c.name, "probe failed; restarting the container");
                        if let Some(pid) = slots[i].pid {
                            process::signal_group(pid, Signal::SIGKILL);
                        }
                    }
                    _ => {}
                }
            }
            Some(Ok(i)) = restarts.join_next(), if !restarts.is_empty() => {
                start(i, &mut slots);
                write_status(&api, &name, &ip_text, &config, &containers, &slots, &start_time, None).await;
            }
        }
    }
    for i in 0..specs.len() {
        process::forget(&run_dir, &record_name(i));
    }
    config.registry.pod_stopped(&pod_key, &uid);
    if let Some(bridge) = config.bridge.clone() {
        let _ = tokio::task::spawn_blocking(move || bridge.teardown_pod(ip)).await;
    }
    ipam.lock().unwrap_or_else(|p| p.into_inner()).release(ip);
}

/// Succeeded or Failed once nothing runs and nothing will restart.
fn phase(policy: &str, slots: &[Slot]) -> Option<&'static str> {
    if policy == "Always" || slots.iter().any(|s| s.pid.is_some() || s.waiting.is_some()) {
        return None;
    }
    let all_ok = slots
        .iter()
        .all(|s| s.last_exit.as_ref().is_some_and(|(c, _)| *c == 0));
    Some(if all_ok { "Succeeded" } else { "Failed" })
}

/// Runs every running container's preStop hook (httpGet, exec or sleep), all at once, for at
/// most `grace`.
async fn pre_stop(
    containers: &[Container],
    slots: &[Slot],
    ip: &str,
    specs: &[Spec],
    grace: Duration,
) {
    let hooks = containers
        .iter()
        .zip(slots)
        .zip(specs)
        .filter_map(|((c, s), spec)| {
            s.pid?;
            let hook = c.lifecycle.as_ref()?.pre_stop.clone()?;
            Some(async move {
                if let Some(sleep) = &hook.sleep {
                    tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64)).await;
                    return;
                }
                let as_probe = k8s_openapi::api::core::v1::Probe {
                    http_get: hook.http_get.clone(),
                    exec: hook.exec.clone(),
                    tcp_socket: hook.tcp_socket.clone(),
                    timeout_seconds: Some(
                        i32::try_from(grace.as_secs()).unwrap_or(i32::MAX).max(1),
                    ),
                    ..Default::default()
                };
                if !probe::attempt(&as_probe, c, ip, spec).await {
                    tracing::info!(container = %c.name, "preStop hook failed");
                }
            })
        });
    let _ = tokio::time::timeout(grace, futures::future::join_all(hooks)).await;
}

/// SIGTERM to every running container's process group, SIGKILL to what is left after `grace`.
async fn terminate(
    slots: &mut [Slot],
    exits: &mut mpsc::UnboundedReceiver<(usize, i32, bool)>,
    grace: Duration,
) {
    for s in slots.iter() {
        if let Some(pid) = s.pid {
            process::signal_group(
                pid,
                if grace.is_zero() {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                },
            );
        }
    }
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    while slots.iter().any(|s| s.pid.is_some()) {
        tokio::select! {
            _ = &mut deadline => {
                for s in slots.iter_mut() {
                    if let Some(pid) = s.pid.take() {
                        process::signal_group(pid, Signal::SIGKILL);
                    }
                }
            }
            Some((i, _, _)) = exits.recv() => {
                if let Some(pid) = slots[i].pid.take() {
                    // The leader is gone; take anything it left in its group with it.
                    process::signal_group(pid, Signal::SIGKILL);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_status(
    api: &Api<Pod>,
    name: &str,
    ip: &str,
    config: &Config,
    containers: &[Container],
    slots: &[Slot],
    start_time: &str,
    phase: Option<&str>,
) {
    let statuses: Vec<Value> = containers
        .iter()
        .zip(slots)
        .map(|(c, s)| {
            let state = match (&s.pid, &s.waiting) {
                (Some(_), _) => json!({"running": {"startedAt": s.started_at}}),
                (None, Some((reason, message))) => json!({"waiting": {"reason": reason, "message": message}}),
                (None, None) => match &s.last_exit {
                    Some((code, reason)) => json!({"terminated": {"exitCode": code, "reason": reason, "finishedAt": now()}}),
                    None => json!({"waiting": {"reason": "ContainerCreating"}}),
                },
            };
            let mut st = json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": s.pid.is_some() && s.ready && s.started, "started": s.pid.is_some() && s.started,
                "restartCount": s.restarts, "state": state,
            });
            if let Some((code, reason)) = &s.last_exit {
                st["lastState"] = json!({"terminated": {"exitCode": code, "reason": reason}});
            }
            st
        })
        .collect();
    let ready = slots
        .iter()
        .all(|s| s.pid.is_some() && s.ready && s.started);
    let t = now();
    let flag = |b: bool| if b { "True" } else { "False" };
    let status = json!({"status": {
        "phase": phase.unwrap_or("Running"),
        "hostIP": config.node_ip.to_string(), "hostIPs": [{"ip": config.node_ip.to_string()}],
        "podIP": ip, "podIPs": [{"ip": ip}], "startTime": start_time,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": flag(ready), "lastTransitionTime": t},
            {"type": "Ready", "status": flag(ready), "lastTransitionTime": t},
        ],
        "containerStatuses": statuses,
    }});
    if let Err(err) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        tracing::debug!(%err, pod = %name, "writing pod status failed");
    }
}
