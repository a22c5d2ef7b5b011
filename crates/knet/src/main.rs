//! The `knet` binary: `knet up` runs every component in one process; the other subcommands run
//! one component against any Kubernetes API server.

mod echo;
mod manifest;
mod service_proxy;
mod trace;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "knet",
    version,
    about = "Kubernetes Service and Ingress networking in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole stack on this machine.
    Up(Box<UpArgs>),
    /// Run only the API server.
    Apiserver(ApiserverArgs),
    /// Run only the controllers, against the API server in a kubeconfig.
    Controllers(ControllersArgs),
    /// The built-in echo workload (HTTP, UDP, WebSocket on /ws).
    Echo(EchoArgs),
    /// Run only the node agent, against the API server in a kubeconfig.
    Agent(AgentArgs),
    /// Run only the service proxy, against the API server in a kubeconfig.
    Proxy(service_proxy::ProxyArgs),
    /// Where the nftables proxy would send a new connection (the packet tracer).
    Trace(trace::TraceArgs),
    /// Run only the cluster DNS server, against the API server in a kubeconfig.
    Dns(DnsArgs),
    /// Run only the ingress controller, against the API server in a kubeconfig.
    Ingress(IngressArgs),
}

#[derive(clap::Args, Debug)]
struct IngressArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Plain HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// TLS.
    #[arg(long, default_value = "127.0.0.1:8443")]
    https_addr: SocketAddr,
    /// The address written into the served Ingresses' status (default: the HTTP address's).
    #[arg(long)]
    publish_address: Option<std::net::IpAddr>,
    /// `/metrics` and `/healthz`.
    #[arg(long, default_value = "127.0.0.1:10254")]
    metrics_addr: SocketAddr,
    #[command(flatten)]
    ingress: IngressFlags,
}

/// The ingress controller's flags, for `knet up` and `knet ingress`.
#[derive(clap::Args, Debug)]
struct IngressFlags {
    /// Ingress: trust X-Forwarded-* headers from clients (behind another proxy).
    #[arg(long)]
    use_forwarded_headers: bool,
    /// Ingress: NAMESPACE/NAME of the Service (its first port) that serves requests no rule
    /// and no defaultBackend takes, instead of the built-in 404.
    #[arg(long, value_parser = parse_namespaced)]
    default_backend_service: Option<(String, String)>,
    /// Ingress: log each request to this file, one JSON object per line.
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// Ingress: the most client connections open at once; more are closed at once.
    #[arg(long, default_value_t = ingress::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Ingress: send Strict-Transport-Security on HTTPS answers for hosts with a certificate.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    hsts: bool,
    /// Ingress: HSTS max-age, in seconds.
    #[arg(long, default_value_t = 31_536_000)]
    hsts_max_age: u64,
    /// Ingress: HSTS includeSubDomains.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    hsts_include_subdomains: bool,
    /// Ingress: HSTS preload.
    #[arg(long)]
    hsts_preload: bool,
}

impl IngressFlags {
    fn config(
        &self,
        http_addr: SocketAddr,
        https_addr: SocketAddr,
        address: std::net::IpAddr,
        metrics_addr: SocketAddr,
    ) -> ingress::Config {
        ingress::Config {
            http_addr,
            https_addr,
            address,
            use_forwarded_headers: self.use_forwarded_headers,
            default_backend_service: self.default_backend_service.clone(),
            metrics_addr: Some(metrics_addr),
            access_log: self.access_log.clone(),
            max_connections: self.max_connections,
            hsts: self.hsts.then(|| {
                let mut v = format!("max-age={}", self.hsts_max_age);
                if self.hsts_include_subdomains {
                    v.push_str("; includeSubDomains");
                }
                if self.hsts_preload {
                    v.push_str("; preload");
                }
                v
            }),
        }
    }
}

/// `NAMESPACE/NAME`.
fn parse_namespaced(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

#[derive(clap::Args, Debug)]
struct DnsArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Where to serve DNS, UDP and TCP (repeatable).
    #[arg(long, default_value = "127.0.0.1:10053")]
    dns_addr: Vec<SocketAddr>,
    /// `/ready`, `/health` and `/metrics`.
    #[arg(long, default_value = "127.0.0.1:9153")]
    http_addr: SocketAddr,
    /// Where names outside the cluster zone go (repeatable; default: the host's
    /// resolv.conf nameservers).
    #[arg(long)]
    upstream: Vec<SocketAddr>,
    /// The cluster DNS zone.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// TTL of the zone's answers, in seconds.
    #[arg(long, default_value_t = dns::DEFAULT_TTL)]
    ttl: u32,
}

#[derive(clap::Args, Debug)]
struct AgentArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The Node's name (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The Node's address.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: std::net::IpAddr,
    /// Pod address range (default 127.244.0.0/16 in loopback mode, 10.244.0.0/16 in netns).
    #[arg(long)]
    pod_cidr: Option<String>,
    /// Where container logs go.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Pod networking: loopback, netns, or auto (netns with CAP_NET_ADMIN).
    #[arg(long, value_enum, default_value = "auto")]
    network: NetworkMode,
    /// The cluster DNS zone, for pods' resolv.conf search path.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// The nameserver in pods' resolv.conf (netns mode; default: the bridge address).
    #[arg(long)]
    cluster_dns: Option<std::net::Ipv4Addr>,
}

#[derive(clap::Args, Debug)]
struct EchoArgs {
    /// HTTP address to serve (repeatable; default $POD_IP:8080, else 127.0.0.1:8080).
    #[arg(long = "listen")]
    listen: Vec<SocketAddr>,
    /// UDP address to answer datagrams on with the pod name (repeatable).
    #[arg(long)]
    udp: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NetworkMode {
    Auto,
    Loopback,
    Netns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProxyMode {
    Auto,
    Userspace,
    Nftables,
    Iptables,
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    /// All state: the store, kubeconfig, pki/, pod logs.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Manifest file or directory to apply once the API is up (repeatable).
    #[arg(short = 'f', long = "filename")]
    files: Vec<PathBuf>,
    /// HTTPS Kubernetes API address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_addr: SocketAddr,
    /// Cluster DNS address (UDP and TCP).
    #[arg(long)]
    dns_addr: Option<SocketAddr>,
    /// Ingress controller, plain HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Ingress controller, TLS.
    #[arg(long, default_value = "127.0.0.1:8443")]
    https_addr: SocketAddr,
    /// Pod networking: loopback, netns, or auto (netns with CAP_NET_ADMIN).
    #[arg(long, value_enum, default_value = "auto")]
    network: NetworkMode,
    /// Service proxy mode.
    #[arg(long, value_enum, default_value = "auto")]
    proxy_mode: ProxyMode,
    /// ClusterIP range.
    #[arg(long)]
    service_cidr: Option<String>,
    /// Pod address range.
    #[arg(long)]
    pod_cidr: Option<String>,
    /// NodePort range.
    #[arg(long, default_value = "30000-32767")]
    node_port_range: String,
    /// Addresses for type LoadBalancer (repeatable): a CIDR or a-b range.
    #[arg(long)]
    lb_pool: Vec<String>,
    /// Where NodePorts and the proxy's health and metrics ports are served.
    #[arg(long)]
    node_ip: Option<std::net::IpAddr>,
    /// Userspace proxy: the scheduler for Services without a `knet.dev/scheduler` annotation
    /// (rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh).
    #[arg(long, default_value = "rr", value_parser = parse_scheduler)]
    scheduler: proxy_userspace::SchedulerKind,
    /// Userspace proxy: more addresses to serve NodePorts on, besides --node-ip (repeatable).
    #[arg(long = "nodeport-addresses")]
    nodeport_addresses: Vec<std::net::IpAddr>,
    /// Where cluster DNS forwards other names (repeatable).
    #[arg(long)]
    upstream: Vec<SocketAddr>,
    /// The cluster DNS zone.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// TTL of cluster DNS answers, in seconds.
    #[arg(long, default_value_t = dns::DEFAULT_TTL)]
    ttl: u32,
    #[command(flatten)]
    ingress: IngressFlags,
    /// Revisions of history kept for watches.
    #[arg(long, default_value_t = 50_000)]
    history_window: u64,
}

#[derive(clap::Args, Debug)]
struct ApiserverArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_addr: SocketAddr,
    #[arg(long, default_value = "127.96.0.0/16")]
    service_cidr: String,
    #[arg(long, default_value = "30000-32767")]
    node_port_range: String,
    #[arg(long, default_value_t = 50_000)]
    history_window: u64,
}

#[derive(clap::Args, Debug)]
struct ControllersArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Addresses for type LoadBalancer (repeatable).
    #[arg(long, default_value = "127.240.0.0/24")]
    lb_pool: Vec<String>,
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("knet");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/knet")
}

/// Whether this process has CAP_NET_ADMIN (bit 12 of the effective set).
fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn client_for(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// `knet ingress`: the ingress controller alone, against any API server.
async fn ingress_alone(args: IngressArgs) -> anyhow::Result<()> {
    let client = match &args.kubeconfig {
        Some(path) => client_for(path).await?,
        None => kube::Client::try_default().await?,
    };
    let config = args.ingress.config(
        args.http_addr,
        args.https_addr,
        args.publish_address.unwrap_or(args.http_addr.ip()),
        args.metrics_addr,
    );
    let running = ingress::start(client, config).await?;
    println!(
        "knet: ready http={} https={} metrics={}",
        running.http_addr,
        running.https_addr,
        running
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    drop(running);
    Ok(())
}

/// `knet dns`: cluster DNS alone, against any API server.
async fn dns_alone(args: DnsArgs) -> anyhow::Result<()> {
    let client = match &args.kubeconfig {
        Some(path) => client_for(path).await?,
        None => kube::Client::try_default().await?,
    };
    let running = dns::start(
        client,
        dns::Config {
            addrs: args.dns_addr,
            http_addr: Some(args.http_addr),
            domain: args.cluster_domain,
            ttl: args.ttl,
            upstreams: args.upstream,
        },
    )
    .await?;
    let addrs: Vec<String> = running.addrs.iter().map(ToString::to_string).collect();
    println!(
        "knet: ready dns={} http={}",
        addrs.join(","),
        running.http_addr.map(|a| a.to_string()).unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    drop(running);
    Ok(())
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let network = match args.network {
        NetworkMode::Auto if has_net_admin() => NetworkMode::Netns,
        NetworkMode::Auto => NetworkMode::Loopback,
        other => other,
    };
    let netns = network == NetworkMode::Netns;
    let service_cidr = args.service_cidr.clone().unwrap_or_else(|| {
        if netns {
            "10.96.0.0/12"
        } else {
            "127.96.0.0/16"
        }
        .to_owned()
    });
    let lb_pool = if args.lb_pool.is_empty() {
        vec![
            if netns {
                "10.240.0.0/24"
            } else {
                "127.240.0.0/24"
            }
            .to_owned(),
        ]
    } else {
        args.lb_pool.clone()
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let pod_net = PodNetwork::resolve(
        network,
        args.pod_cidr.clone(),
        args.node_ip,
        &args.cluster_domain,
        None,
        &data_dir,
    )?;
    let pod_cidr_for_proxy = pod_net.pod_cidr.clone();
    let l2_device = pod_net.bridge.as_ref().map(|b| b.name().to_owned());
    // Cluster DNS: --dns-addr for the host, and in netns mode also the bridge address on
    // port 53, which the pods' resolv.conf names.
    let mut dns_addrs = vec![
        args.dns_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 10053))),
    ];
    if let Some(bridge) = &pod_net.bridge {
        dns_addrs.push(SocketAddr::from((bridge.gateway(), 53)));
    }
    // The bridge carries the node address in netns mode: it must exist before the proxy binds
    // its health port there (the agent ensures it again when it starts).
    if let Some(bridge) = &pod_net.bridge {
        bridge.ensure().context("setting up the pod bridge")?;
    }
    if !netns && !nix_is_root() {
        let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(1024);
        if start > 80 {
            eprintln!(
                "knet: note: service ports below {start} need CAP_NET_BIND_SERVICE on the knet binary or a lower net.ipv4.ip_unprivileged_port_start"
            );
        }
    }

    let listener = tokio::net::TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("binding the API server to {}", args.api_addr))?;
    let api_addr = listener.local_addr()?;
    let service_cidr_for_routes = service_cidr.clone();
    let server = apiserver::ApiServer::open(
        apiserver::Config {
            data_dir: data_dir.clone(),
            service_cidr,
            node_port_range: args.node_port_range.clone(),
            history_window: args.history_window,
        },
        api_addr,
    )
    .await
    .context("starting the API server")?;
    let kubeconfig = server.kubeconfig_path().to_owned();
    // The API server reaches the agent's pods (exec, attach, port-forward) in-process.
    let knet_bin = std::env::current_exe().context("locating the knet binary")?;
    let registry = agent::Registry::new(knet_bin.clone());
    server.set_kubelet(std::sync::Arc::new(registry.clone()));

    // Shutdown runs in reverse order of start: the clients (controllers) stop first, so
    // none of them is left retrying against a closed API listener.
    let (api_stop_tx, mut api_stop) = tokio::sync::watch::channel(false);
    let api = tokio::spawn(server.serve(listener, async move {
        let _ = api_stop.changed().await;
    }));

    let client = client_for(&kubeconfig).await?;
    let dns = dns::start(
        client.clone(),
        dns::Config {
            addrs: dns_addrs,
            http_addr: Some(SocketAddr::new(pod_net.node_ip, 9153)),
            domain: args.cluster_domain.clone(),
            ttl: args.ttl,
            upstreams: args.upstream.clone(),
        },
    )
    .await
    .context("starting cluster DNS")?;
    let ingress_config = args.ingress.config(
        args.http_addr,
        args.https_addr,
        if args.http_addr.ip().is_unspecified() {
            pod_net.node_ip
        } else {
            args.http_addr.ip()
        },
        SocketAddr::new(pod_net.node_ip, 10254),
    );
    let ingress = ingress::start(client.clone(), ingress_config)
        .await
        .context("starting the ingress controller")?;
    let (agent_stop_tx, mut agent_stop) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(agent::run(
        agent::Config {
            node_name: node_name(),
            node_ip: pod_net.node_ip,
            pod_cidr: pod_net.pod_cidr,
            log_dir: data_dir.join("logs"),
            registry: registry.clone(),
            knet_bin,
            bridge: pod_net.bridge,
        },
        client.clone(),
        async move {
            let _ = agent_stop.changed().await;
        },
    ));
    let (proxy_stop_tx, mut proxy_stop) = tokio::sync::watch::channel(false);
    let proxy = service_proxy::start(
        service_proxy::Settings {
            mode: args.proxy_mode,
            netns,
            node_ip: pod_net.node_ip,
            node_name: node_name(),
            scheduler: args.scheduler,
            nodeport_addresses: args.nodeport_addresses.clone(),
            pod_cidr: Some(pod_cidr_for_proxy),
            l2_device: l2_device.clone(),
            local_ranges: if netns {
                std::iter::once(service_cidr_for_routes.clone())
                    .chain(lb_pool.iter().cloned())
                    .collect()
            } else {
                Vec::new()
            },
        },
        client.clone(),
        async move {
            let _ = proxy_stop.changed().await;
        },
    )?;
    let (ctrl_stop_tx, mut ctrl_stop) = tokio::sync::watch::channel(false);
    let controllers = tokio::spawn(controllers::run(
        controllers::Config { lb_pools: lb_pool },
        client.clone(),
        async move {
            let _ = ctrl_stop.changed().await;
        },
    ));

    for line in manifest::apply_all(client, &args.files).await? {
        eprintln!("{line}");
    }
    println!(
        "knet: ready api={api_addr} dns={} http={} https={} kubeconfig={}",
        dns.addrs[0],
        ingress.http_addr,
        ingress.https_addr,
        kubeconfig.display()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    shutdown_signal().await;
    // Pods first (each gets its grace period), then the controllers, then the API server.
    let _ = agent_stop_tx.send(true);
    let _ = agent.await;
    let _ = proxy_stop_tx.send(true);
    let _ = proxy.await;
    let _ = ctrl_stop_tx.send(true);
    let _ = controllers.await;
    let _ = api_stop_tx.send(true);
    api.await.context("API server task")??;
    Ok(())
}

/// The agent's pod networking, settled from the flags.
struct PodNetwork {
    node_ip: std::net::IpAddr,
    pod_cidr: String,
    bridge: Option<agent::Bridge>,
}

impl PodNetwork {
    fn resolve(
        mode: NetworkMode,
        pod_cidr: Option<String>,
        node_ip: Option<std::net::IpAddr>,
        cluster_domain: &str,
        cluster_dns: Option<std::net::Ipv4Addr>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<PodNetwork> {
        let netns = match mode {
            NetworkMode::Auto => has_net_admin(),
            NetworkMode::Netns if !has_net_admin() => {
                anyhow::bail!(
                    "--network netns needs CAP_NET_ADMIN (run as root, or use --network loopback)"
                )
            }
            NetworkMode::Netns => true,
            NetworkMode::Loopback => false,
        };
        if !netns {
            return Ok(PodNetwork {
                node_ip: node_ip.unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
                pod_cidr: pod_cidr.unwrap_or_else(|| "127.244.0.0/16".to_owned()),
                bridge: None,
            });
        }
        let pod_cidr = pod_cidr.unwrap_or_else(|| "10.244.0.0/16".to_owned());
        let bridge = agent::Bridge::new(
            &pod_cidr,
            cluster_dns,
            cluster_domain,
            data_dir.join("pods"),
        )
        .map_err(|e| anyhow::anyhow!("invalid --pod-cidr: {e}"))?;
        // The primary address is the one the kernel would send from; connecting a UDP socket
        // sends nothing. With no route out (an isolated namespace), the bridge address serves.
        let node_ip = node_ip.unwrap_or_else(|| {
            std::net::UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| {
                    s.connect("192.0.2.1:9")?;
                    s.local_addr()
                })
                .map(|a| a.ip())
                .unwrap_or(std::net::IpAddr::V4(bridge.gateway()))
        });
        Ok(PodNetwork {
            node_ip,
            pod_cidr,
            bridge: Some(bridge),
        })
    }
}

/// This machine's host name, the Node's name.
fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "knet-node".to_owned())
}

fn parse_scheduler(s: &str) -> Result<proxy_userspace::SchedulerKind, String> {
    s.parse()
        .map_err(|e: proxy_userspace::scheduler::UnknownScheduler| e.to_string())
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

async fn apiserver_only(args: ApiserverArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.api_addr).await?;
    let addr = listener.local_addr()?;
    let server = apiserver::ApiServer::open(
        apiserver::Config {
            data_dir: args.data_dir.unwrap_or_else(default_data_dir),
            service_cidr: args.service_cidr,
            node_port_range: args.node_port_range,
            history_window: args.history_window,
        },
        addr,
    )
    .await?;
    println!(
        "knet: ready api={addr} kubeconfig={}",
        server.kubeconfig_path().display()
    );
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn agent_only(args: AgentArgs) -> anyhow::Result<()> {
    let client = match args.kubeconfig {
        Some(path) => client_for(&path).await?,
        None => kube::Client::try_default().await?,
    };
    let log_dir = args
        .log_dir
        .unwrap_or_else(|| default_data_dir().join("logs"));
    let state_dir = log_dir.parent().map(PathBuf::from).unwrap_or_default();
    let pod_net = PodNetwork::resolve(
        args.network,
        args.pod_cidr,
        Some(args.node_ip),
        &args.cluster_domain,
        args.cluster_dns,
        &state_dir,
    )?;
    let knet_bin = std::env::current_exe().context("locating the knet binary")?;
    let config = agent::Config {
        node_name: args.node_name.unwrap_or_else(node_name),
        node_ip: pod_net.node_ip,
        pod_cidr: pod_net.pod_cidr,
        log_dir,
        registry: agent::Registry::new(knet_bin.clone()),
        knet_bin,
        bridge: pod_net.bridge,
    };
    println!("knet: ready agent node={}", config.node_name);
    agent::run(config, client, shutdown_signal()).await?;
    Ok(())
}

async fn controllers_only(args: ControllersArgs) -> anyhow::Result<()> {
    let client = match args.kubeconfig {
        Some(path) => client_for(&path).await?,
        None => kube::Client::try_default().await?,
    };
    println!("knet: ready controllers");
    controllers::run(
        controllers::Config {
            lb_pools: args.lb_pool,
        },
        client,
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// mimalloc: the ingress and proxy hot paths allocate per request, and glibc's malloc cost
/// knet 13 % of its keep-alive ingress throughput (docs/benchmarks.md, "Ingress").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc (v3) keeps freed memory committed for a second before it goes back to the
/// system. A burst such as the ingress controller's first build of 1,000 Ingresses then
/// peaked at 90.6 MB of RSS; with 50 ms it peaked at 61 MB, and the keep-alive ingress
/// benchmark could not tell the two apart (docs/benchmarks.md, "Ingress programming").
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
#[allow(unsafe_code)]
fn tune_allocator() {
    /// `mi_option_purge_delay`'s place in v3's `mi_option_t` (mimalloc.h); libmimalloc-sys
    /// names no constant for it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores a number in mimalloc's option table (an atomic
        // store); it may be called at any time from any thread.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 50) };
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("knet: starting the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up(*args).await,
            Command::Apiserver(args) => apiserver_only(args).await,
            Command::Controllers(args) => controllers_only(args).await,
            Command::Echo(args) => echo::run(args.listen, args.udp).await,
            Command::Agent(args) => agent_only(args).await,
            Command::Proxy(args) => service_proxy::run_alone(args).await,
            Command::Dns(args) => dns_alone(args).await,
            Command::Ingress(args) => ingress_alone(args).await,
            Command::Trace(args) => trace::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("knet: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
