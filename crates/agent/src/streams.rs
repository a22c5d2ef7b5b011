//! What the API server asks of the node for `pods/exec`, `pods/attach` and
//! `pods/portforward` ([`podio::Kubelet`]), served from a registry of the pods this agent runs.
//!
//! - exec starts the command where the container runs: its environment and working
//!   directory, and in netns mode its network, mount and UTS namespaces (`netns::enter`);
//!   with `tty` on a terminal of its own;
//! - attach joins a running container's [`Console`]: its live output (every container's output
//!   is also broadcast as it is logged) and, for `stdin: true`, its standard input;
//! - port-forward connects to the port from inside the pod's network namespace (localhost
//!   first, as the kubelet does, then the pod's address), or to the pod's address in loopback
//!   mode.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use podio::{Exit, Refused, Session, Stream, StreamRequest, TermSize};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::netns::Sandbox;
use crate::process::Spec;
use crate::pty::Pty;

/// How long a port-forward connection attempt inside a pod may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running container's standard streams, for `kubectl attach`.
pub struct Console {
    /// Its output as it is written; gone once the container's output has ended.
    pub live: broadcast::WeakSender<(Stream, Bytes)>,
    /// Its standard input while that is open (`stdin: true`).
    pub input: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// Its terminal (`tty: true`).
    pub pty: Option<Pty>,
    /// `stdinOnce`: the first attached client's end of input closes the container's.
    pub stdin_once: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("tty", &self.pty.is_some())
            .finish_non_exhaustive()
    }
}

/// Writes whatever is sent on the returned channel into `to`; when every sender is gone,
/// `to` is shut down (end of input for a pipe).
pub fn feed(mut to: impl AsyncWrite + Unpin + Send + 'static) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if to.write_all(&b).await.is_err() || to.flush().await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    tx
}

/// Copies a stream into a session's output, chunk by chunk as it arrives.
async fn pour(mut from: impl AsyncRead + Unpin, stream: Stream, to: mpsc::Sender<(Stream, Bytes)>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to
                    .send((stream, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Applies terminal size changes until the client is gone.
fn resizer(pty: Pty) -> mpsc::UnboundedSender<TermSize> {
    let (tx, mut rx) = mpsc::unbounded_channel::<TermSize>();
    tokio::spawn(async move {
        while let Some(size) = rx.recv().await {
            if size.width > 0 && size.height > 0 {
                pty.resize(size.width, size.height);
            }
        }
    });
    tx
}

#[derive(Default)]
struct PodEntry {
    uid: String,
    ip: Option<IpAddr>,
    sandbox: Option<Sandbox>,
    containers: HashMap<String, Running>,
    /// Process groups of exec sessions, ended with the pod.
    execs: Vec<u32>,
}

struct Running {
    spec: Spec,
    console: Arc<Console>,
}

/// The pods this agent runs, by namespace and name; shared with the API server in `knet up`.
#[derive(Clone, Default)]
pub struct Registry {
    pods: Arc<Mutex<HashMap<(String, String), PodEntry>>>,
    knet_bin: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

type Key = (String, String);

impl Registry {
    /// An empty registry; `knet_bin` is what the command name `knet` means in exec.
    pub fn new(knet_bin: PathBuf) -> Self {
        Registry {
            pods: Arc::default(),
            knet_bin,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, PodEntry>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pod got its address (and, in netns mode, its namespaces).
    pub(crate) fn pod_started(&self, key: Key, uid: &str, ip: IpAddr, sandbox: Option<Sandbox>) {
        let mut pods = self.lock();
        let entry = pods.entry(key).or_default();
        if entry.uid != uid {
            *entry = PodEntry::default();
        }
        entry.uid = uid.to_owned();
        entry.ip = Some(ip);
        entry.sandbox = sandbox;
    }

    /// A container (re)started.
    pub(crate) fn container_started(
        &self,
        key: &Key,
        uid: &str,
        name: &str,
        spec: &Spec,
        console: Console,
    ) {
        if let Some(entry) = self.lock().get_mut(key).filter(|e| e.uid == uid) {
            entry.containers.insert(
                name.to_owned(),
                Running {
                    spec: spec.clone(),
                    console: Arc::new(console),
                },
            );
        }
    }

    /// A container's process ended.
    pub(crate) fn container_stopped(&self, key: &Key, uid: &str, name: &str) {
        if let Some(entry) = self.lock().get_mut(key).filter(|e| e.uid == uid) {
            entry.containers.remove(name);
        }
    }

    /// The pod is gone: its exec sessions end with it.
    pub(crate) fn pod_stopped(&self, key: &Key, uid: &str) {
        let mut pods = self.lock();
        if pods.get(key).is_some_and(|e| e.uid == uid)
            && let Some(entry) = pods.remove(key)
        {
            for pid in entry.execs {
                crate::process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// The running container a request names.
    fn running(&self, req: &StreamRequest) -> Result<(Spec, Arc<Console>), Refused> {
        let pods = self.lock();
        let entry = pods
            .get(&(req.namespace.clone(), req.pod.clone()))
            .filter(|e| req.uid.is_empty() || e.uid == req.uid)
            .ok_or_else(|| Refused::NotRunning(req.container.clone()))?;
        let running = entry
            .containers
            .get(&req.container)
            .ok_or_else(|| Refused::NotRunning(req.container.clone()))?;
        Ok((running.spec.clone(), running.console.clone()))
    }

    fn exec_started(&self, req: &StreamRequest, pid: u32) {
        if let Some(entry) = self
            .lock()
            .get_mut(&(req.namespace.clone(), req.pod.clone()))
        {
            entry
                .execs
                .retain(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
            entry.execs.push(pid);
        }
    }
}

/// The session of a command that could not be started: a message on its error output and the
/// shell's exit code for it (127 not found, 126 not executable).
fn failed_start(program: &str, err: &std::io::Error, tty: bool) -> Session {
    let (code, why) = match err.kind() {
        std::io::ErrorKind::NotFound => (127, "executable file not found in $PATH"),
        std::io::ErrorKind::PermissionDenied => (126, "permission denied"),
        _ => (126, ""),
    };
    let why = if why.is_empty() {
        err.to_string()
    } else {
        why.to_owned()
    };
    let (out_tx, output) = mpsc::channel(1);
    let stream = if tty { Stream::Stdout } else { Stream::Stderr };
    let _ = out_tx.try_send((stream, Bytes::from(format!("exec: {program:?}: {why}\n"))));
    let (exit_tx, exit) = oneshot::channel();
    let _ = exit_tx.send(Exit::Code(code));
    Session {
        stdin: None,
        resize: None,
        output,
        exit,
    }
}

impl podio::Kubelet for Registry {
    fn exec(&self, req: StreamRequest) -> Result<Session, Refused> {
        let (spec, _) = self.running(&req)?;
        let Some((program, args)) = req.command.split_first() else {
            return Err(Refused::Other("you must specify at least 1 command".into()));
        };
        let program_path = if program == "knet" {
            self.knet_bin.display().to_string()
        } else {
            program.clone()
        };
        let mut cmd = tokio::process::Command::new(&program_path);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(false);
        if req.tty && !spec.env.iter().any(|(k, _)| k == "TERM") {
            cmd.env("TERM", "xterm");
        }
        if let Some(dir) = spec.cwd.as_deref().filter(|d| !d.is_empty()) {
            cmd.current_dir(dir);
        }
        if let Some(sandbox) = &spec.sandbox {
            crate::netns::enter(&mut cmd, sandbox)
                .map_err(|e| Refused::Other(format!("entering the pod's namespaces: {e}")))?;
        }
        let pty = if req.tty {
            Some(
                Pty::attach(&mut cmd)
                    .map_err(|e| Refused::Other(format!("opening a terminal: {e}")))?,
            )
        } else {
            let piped = |on: bool| {
                if on {
                    std::process::Stdio::piped()
                } else {
                    std::process::Stdio::null()
                }
            };
            cmd.stdin(piped(req.stdin))
                .stdout(piped(req.stdout))
                .stderr(piped(req.stderr))
                .process_group(0);
            None
        };
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(err) => return Ok(failed_start(program, &err, req.tty)),
        };
        drop(cmd);
        if let Some(pid) = child.id() {
            self.exec_started(&req, pid);
        }
        let (out_tx, output) = mpsc::channel(64);
        let (stdin, resize) = match pty {
            Some(p) => {
                if req.stdout {
                    tokio::spawn(pour(p.clone(), Stream::Stdout, out_tx.clone()));
                }
                (req.stdin.then(|| feed(p.clone())), Some(resizer(p)))
            }
            None => {
                if let Some(out) = child.stdout.take() {
                    tokio::spawn(pour(out, Stream::Stdout, out_tx.clone()));
                }
                if let Some(err) = child.stderr.take() {
                    tokio::spawn(pour(err, Stream::Stderr, out_tx.clone()));
                }
                (child.stdin.take().map(feed), None)
            }
        };
        drop(out_tx);
        let (exit_tx, exit) = oneshot::channel();
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt as _;
                    Exit::Code(
                        status
                            .code()
                            .or_else(|| status.signal().map(|s| 128 + s))
                            .unwrap_or(1),
                    )
                }
                Err(e) => Exit::Failed(format!("waiting for the command: {e}")),
            };
            let _ = exit_tx.send(exit);
        });
        Ok(Session {
            stdin,
            resize,
            output,
            exit,
        })
    }

    fn attach(&self, req: StreamRequest) -> Result<Session, Refused> {
        let (_, console) = self.running(&req)?;
        let live = console
            .live
            .upgrade()
            .ok_or_else(|| Refused::NotRunning(req.container.clone()))?;
        let mut rx = live.subscribe();
        drop(live);
        let (out_tx, output) = mpsc::channel(64);
        let (exit_tx, exit) = oneshot::channel();
        let (want_out, want_err) = (req.stdout, req.stderr);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok((stream, data)) => {
                        let wanted = match stream {
                            Stream::Stdout => want_out,
                            Stream::Stderr => want_err,
                        };
                        if wanted && out_tx.send((stream, data)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            // The container's output ended: it exited.
            drop(out_tx);
            let _ = exit_tx.send(Exit::Code(0));
        });
        let container_input = console
            .input
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let stdin = match container_input {
            Some(to) if req.stdin => {
                let (tx, mut rx) = mpsc::channel::<Bytes>(16);
                let console = console.clone();
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if to.send(b).await.is_err() {
                            return;
                        }
                    }
                    // A terminal has no end of input; a pipe closes if the pod asked so.
                    if console.stdin_once && console.pty.is_none() {
                        console
                            .input
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .take();
                    }
                });
                Some(tx)
            }
            _ => None,
        };
        let resize = console.pty.clone().map(resizer);
        Ok(Session {
            stdin,
            resize,
            output,
            exit,
        })
    }

    fn connect(&self, namespace: &str, pod: &str, uid: &str, port: u16) -> podio::Connecting {
        let found = self
            .lock()
            .get(&(namespace.to_owned(), pod.to_owned()))
            .filter(|e| uid.is_empty() || e.uid == uid)
            .and_then(|e| Some((e.ip?, e.sandbox.clone())));
        let pod = pod.to_owned();
        Box::pin(async move {
            let Some((ip, sandbox)) = found else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("pod {pod} is not running on this node"),
                ));
            };
            let Some(sandbox) = sandbox else {
                return tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tokio::net::TcpStream::connect((ip, port)),
                )
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?;
            };
            // A socket belongs to the network namespace it was made in: make it on a thread
            // of its own that enters the pod's (a pooled thread must not change namespace).
            let (tx, rx) = oneshot::channel();
            std::thread::spawn(move || {
                let connect = || -> std::io::Result<std::net::TcpStream> {
                    let netns = std::fs::File::open(&sandbox.netns)?;
                    nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
                    let local = SocketAddr::from(([127, 0, 0, 1], port));
                    std::net::TcpStream::connect_timeout(&local, CONNECT_TIMEOUT).or_else(|_| {
                        std::net::TcpStream::connect_timeout(
                            &SocketAddr::new(ip, port),
                            CONNECT_TIMEOUT,
                        )
                    })
                };
                let _ = tx.send(connect());
            });
            let stream = rx
                .await
                .map_err(|_| std::io::Error::other("the connecting thread died"))??;
            stream.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(stream)
        })
    }
}
