//! The seam between the API server and the node agent for the streaming pod subresources
//! (`pods/exec`, `pods/attach`, `pods/portforward`).
//!
//! Upstream, kube-apiserver proxies these to the kubelet's HTTPS port. In `knet up` both run in
//! one process, so the API server holds a [`Kubelet`] and talks to the agent through it. The
//! wire protocols (WebSocket channels, SPDY) stay in the API server; the agent only deals in
//! byte channels, processes and sockets.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// Which output stream a chunk came from; the numbers are the channel ids of the
/// `channel.k8s.io` protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (channel 1); a terminal's output too.
    Stdout = 1,
    /// Standard error (channel 2).
    Stderr = 2,
}

/// One exec or attach request, after the API server checked the pod and picked the container.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid: a new pod of the same name is a different pod.
    pub uid: String,
    /// The container.
    pub container: String,
    /// The command (exec only).
    pub command: Vec<String>,
    /// The client sends standard input.
    pub stdin: bool,
    /// The client wants standard output.
    pub stdout: bool,
    /// The client wants standard error (never with a terminal).
    pub stderr: bool,
    /// Run under a pseudo-terminal (exec) or expect the container to have one (attach).
    pub tty: bool,
}

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The command exited with this code (0 is success); a signal `n` is `128 + n`.
    Code(i32),
    /// The command could not be run or the stream broke.
    Failed(String),
}

/// A terminal size, in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// A running exec or attach.
#[derive(Debug)]
pub struct Session {
    /// Standard input; dropping it is end of input. `None` when stdin was not asked for.
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// Terminal size changes; `None` without a terminal.
    pub resize: Option<mpsc::UnboundedSender<TermSize>>,
    /// Output as it is produced; closed once every asked-for stream has ended.
    pub output: mpsc::Receiver<(Stream, Bytes)>,
    /// How it ended: sent once.
    pub exit: oneshot::Receiver<Exit>,
}

/// Why a stream could not be opened; the API server turns these into a `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The container is not running (kubelet: `container not found ("name")`).
    NotRunning(String),
    /// Anything else, with a message for the user.
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotRunning(c) => write!(f, "container not found ({c:?})"),
            Refused::Other(m) => f.write_str(m),
        }
    }
}

/// A connected byte stream into a pod (port-forward).
pub type Conn = tokio::net::TcpStream;

/// A connection being made ([`Kubelet::connect`]).
pub type Connecting = Pin<Box<dyn Future<Output = std::io::Result<Conn>> + Send>>;

/// What the node agent offers the API server.
pub trait Kubelet: Send + Sync + 'static {
    /// Runs `req.command` in the container's place (its environment, working directory and,
    /// in netns mode, its namespaces).
    fn exec(&self, req: StreamRequest) -> Result<Session, Refused>;

    /// Joins the container's own standard streams (and terminal, if it has one).
    fn attach(&self, req: StreamRequest) -> Result<Session, Refused>;

    /// Connects to `port` on the pod, from inside its network namespace where it has one.
    fn connect(&self, namespace: &str, pod: &str, uid: &str, port: u16) -> Connecting;
}
