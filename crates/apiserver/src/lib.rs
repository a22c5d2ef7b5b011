//! knet's Kubernetes API server: HTTPS with bearer-token auth, discovery, OpenAPI, tables,
//! CRUD, patches (strategic, JSON merge, JSON, server-side apply), watch, subresources,
//! legacy-version conversion, validation, defaulting and Service address allocation, over the
//! durable [`store`].
//!
//! It deliberately does not run controllers: load-balancer addresses, endpoints, workloads and
//! garbage collection are clients of this server (crate `controllers`), exactly as against a
//! real kube-apiserver.
//!
//! Start reading at [`ApiServer`], then `server.rs` (routing), `rest.rs` (verbs) and
//! `resource.rs` (what is served).

mod admission;
mod alloc;
mod apply;
mod apply_handler;
mod bootstrap;
mod convert;
mod discovery;
mod error;
mod logs;
mod object;
mod openapi;
mod patch;
mod pki;
mod protobuf;
mod resource;
mod rest;
mod selector;
mod server;
mod spdy;
mod stream;
mod table;
mod validation;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use alloc::{parse_cidr, parse_port_range};
pub use error::ApiError;
pub use pki::PkiError;

/// How to run the API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// All state lives here: `store.db`, `pki/`, `kubeconfig`.
    pub data_dir: PathBuf,
    /// The ClusterIP range.
    pub service_cidr: String,
    /// The NodePort range, `A-B`.
    pub node_port_range: String,
    /// Revisions of history kept for watches.
    pub history_window: u64,
}

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] store::Error),
    /// Credentials could not be made or loaded.
    #[error("credentials: {0}")]
    Pki(#[from] PkiError),
    /// A configuration value is invalid.
    #[error("{0}")]
    Config(String),
    /// Creating the bootstrap objects failed.
    #[error("bootstrapping: {0}")]
    Bootstrap(ApiError),
    /// A filesystem operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// An opened API server, ready to serve on its listener.
pub struct ApiServer {
    state: Arc<server::State>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: tokio::sync::watch::Sender<bool>,
    kubeconfig: PathBuf,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.state.addr)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Opens the store, makes or loads credentials, writes `DATA/kubeconfig` for `addr` (the
    /// address the listener is bound to), rebuilds the allocators and creates the bootstrap
    /// objects.
    pub async fn open(config: Config, addr: SocketAddr) -> Result<ApiServer, Error> {
        std::fs::create_dir_all(&config.data_dir)?;
        let ips = alloc::IpAllocator::new(&config.service_cidr).map_err(Error::Config)?;
        let (first, last) = parse_port_range(&config.node_port_range).map_err(Error::Config)?;
        let ports = alloc::PortAllocator::new(first, last);
        let mut store_config = store::Config::new(config.data_dir.join("store.db"));
        store_config.history_window = config.history_window;
        let store = tokio::task::spawn_blocking(move || store::Store::open(store_config))
            .await
            .map_err(|e| Error::Config(e.to_string()))??;

        let mut sans = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
            ips.first().to_string(),
        ];
        if !addr.ip().is_unspecified() && !sans.contains(&addr.ip().to_string()) {
            sans.push(addr.ip().to_string());
        }
        let pki = pki::Pki::load_or_create(&config.data_dir.join("pki"), &sans)?;
        let kubeconfig = config.data_dir.join("kubeconfig");
        let client_addr = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        pki.write_kubeconfig(&kubeconfig, client_addr)?;

        // Every allocation is recorded in a stored Service; take them again.
        for (_, svc) in store.list("core/services/").items {
            let (held_ips, held_ports) = admission::held(&svc);
            for ip in held_ips {
                let _ = ips.allocate(ip);
            }
            for port in held_ports {
                let _ = ports.allocate(port);
            }
        }

        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = Arc::new(server::State {
            store,
            ips,
            ports,
            token: pki.token.clone(),
            addr: client_addr,
            shutdown: shutdown_rx,
            log_dir: config.data_dir.join("logs"),
            kubelet: std::sync::OnceLock::new(),
        });
        bootstrap::run(&state).await.map_err(Error::Bootstrap)?;
        Ok(ApiServer {
            state,
            tls: pki.server_config.clone(),
            shutdown,
            kubeconfig,
        })
    }

    /// Connects the node agent that runs this server's pods, so `pods/exec`, `attach` and
    /// `portforward` can reach them. Only the first call counts.
    pub fn set_kubelet(&self, kubelet: Arc<dyn podio::Kubelet>) {
        let _ = self.state.kubelet.set(kubelet);
    }

    /// Where the kubeconfig was written.
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// The store, for in-process tools and tests.
    pub fn store(&self) -> &store::Store {
        &self.state.store
    }

    /// Serves until `shutdown` resolves; then ends watches and waits briefly for in-flight
    /// requests.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let flag = self.shutdown;
        let stop = async move {
            shutdown.await;
            let _ = flag.send(true);
        };
        server::accept_loop(self.state, listener, self.tls, stop).await;
        Ok(())
    }
}
