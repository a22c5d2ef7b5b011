//! Starting the service proxy: mode choice, the netns mode's local routes, `knet proxy`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::ProxyMode;

/// What `knet up` (or `knet proxy`) decided for the proxy.
#[derive(Debug)]
pub struct Settings {
    /// `--proxy-mode`.
    pub mode: ProxyMode,
    /// Pods are in network namespaces (so service addresses are not on loopback).
    pub netns: bool,
    /// Where NodePorts are served.
    pub node_ip: IpAddr,
    /// This node, for the `Local` traffic policies.
    pub node_name: String,
    /// The default scheduler.
    pub scheduler: proxy_userspace::SchedulerKind,
    /// More addresses for NodePorts (userspace mode), besides `node_ip`.
    pub nodeport_addresses: Vec<IpAddr>,
    /// CIDRs (ClusterIPs, load-balancer pool) routed on this host in netns mode: made local
    /// for the userspace proxy (so it can listen on their addresses), or routed to `lo` for
    /// nftables (so the node's own connections reach the output hook that DNATs them).
    pub local_ranges: Vec<String>,
    /// The pod range (nftables masquerades traffic to ClusterIPs from elsewhere).
    pub pod_cidr: Option<String>,
    /// The pod bridge, where load-balancer addresses are announced (MetalLB layer 2).
    pub l2_device: Option<String>,
}

/// `knet proxy`: the service proxy alone, against any API server.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Proxy mode.
    #[arg(long, value_enum, default_value = "auto")]
    proxy_mode: ProxyMode,
    /// Where NodePorts are served.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: IpAddr,
    /// This node's name, for the Local traffic policies (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The scheduler for Services without a `knet.dev/scheduler` annotation.
    #[arg(long, default_value = "rr")]
    scheduler: String,
}

/// Routes added for the proxy, removed again on drop: `local` routes, or plain routes to `lo`.
struct LocalRoutes(Vec<String>, &'static str);

impl LocalRoutes {
    fn add(ranges: &[String], kind: &'static str) -> anyhow::Result<LocalRoutes> {
        let mut added = Vec::new();
        for cidr in ranges {
            if !cidr.contains('/') {
                eprintln!(
                    "knet: note: load-balancer range {cidr} is not a CIDR; its addresses are not made local"
                );
                continue;
            }
            let out = std::process::Command::new("ip")
                .args(["route", "replace", kind, cidr, "dev", "lo"])
                .output()
                .context("running `ip` (Debian package iproute2)")?;
            if !out.status.success() {
                bail!(
                    "making {cidr} local: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            added.push(cidr.clone());
        }
        Ok(LocalRoutes(added, kind))
    }
}

impl Drop for LocalRoutes {
    fn drop(&mut self) {
        for cidr in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["route", "del", self.1, cidr, "dev", "lo"])
                .status();
        }
    }
}

/// Starts the proxy (and, in netns mode, the layer-2 announcer of load-balancer addresses)
/// as a task that ends when `shutdown` resolves and both have cleaned up.
pub fn start(
    settings: Settings,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let l2 = settings.l2_device.clone().map(|dev| {
        tokio::spawn(proxy::l2::run(
            client.clone(),
            dev,
            stopped(stop_rx.clone()),
        ))
    });
    let proxy = start_mode(settings, client, stopped(stop_rx))?;
    Ok(tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = proxy.await;
        if let Some(l2) = l2 {
            let _ = l2.await;
        }
    }))
}

/// Starts the proxy mode as a task that ends when `shutdown` resolves.
fn start_mode(
    settings: Settings,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mode = match settings.mode {
        ProxyMode::Auto if settings.netns => ProxyMode::Nftables,
        ProxyMode::Auto => ProxyMode::Userspace,
        other => other,
    };
    let status = Arc::new(proxy::runner::SyncStatus::default());
    let metrics = Arc::new(proxy::metrics::Metrics::default());
    let (health, _) = proxy::health::Health::start(
        settings.node_ip,
        proxy::health::HEALTHZ_PORT,
        proxy::metrics::METRICS_PORT,
        status.clone(),
        metrics.clone(),
    )
    .with_context(|| {
        format!(
            "serving the proxy's health and metrics ports on {} ({} and {})",
            settings.node_ip,
            proxy::health::HEALTHZ_PORT,
            proxy::metrics::METRICS_PORT
        )
    })?;
    let config = proxy::RunnerConfig {
        node_name: settings.node_name.clone(),
        ..Default::default()
    };
    remove_other_modes(mode);
    let common = Common {
        config,
        client: client.clone(),
        status: status.clone(),
        health,
        metrics: metrics.clone(),
    };
    match mode {
        ProxyMode::Nftables => {
            proxy_nftables::NftCli::check().context("--proxy-mode nftables")?;
            let routes = kernel_routes(&settings)?;
            // A table per family; IPv6 only where the host has it.
            let dataplane = proxy::PerFamily(
                proxy::Family::on_this_host()
                    .into_iter()
                    .map(|family| {
                        let config = proxy_nftables::Config {
                            family,
                            node_name: settings.node_name.clone(),
                            pod_cidr: settings.pod_cidr.clone().filter(|c| family.has_cidr(c)),
                            node_ip: settings.node_ip,
                        };
                        proxy_nftables::Nftables::new(config, proxy_nftables::NftCli)
                    })
                    .collect(),
            );
            return Ok(tokio::spawn(kernel_mode(
                dataplane, routes, common, shutdown,
            )));
        }
        ProxyMode::Iptables => {
            proxy_iptables::IptablesCli::check(proxy::Family::V4)
                .context("--proxy-mode iptables")?;
            let routes = kernel_routes(&settings)?;
            // iptables and ip6tables (where the host has IPv6 and the tool is there).
            let mut families = proxy::Family::on_this_host();
            families.retain(|f| proxy_iptables::IptablesCli::check(*f).is_ok());
            let dataplane = proxy::PerFamily(
                families
                    .into_iter()
                    .map(|family| {
                        let config = proxy_iptables::Config {
                            family,
                            node_name: settings.node_name.clone(),
                            pod_cidr: settings.pod_cidr.clone().filter(|c| family.has_cidr(c)),
                        };
                        proxy_iptables::Iptables::new(config, proxy_iptables::IptablesCli(family))
                    })
                    .collect(),
            );
            return Ok(tokio::spawn(kernel_mode(
                dataplane, routes, common, shutdown,
            )));
        }
        _ => {}
    }
    let Common {
        config,
        health,
        metrics,
        ..
    } = common;
    let routes = if settings.netns {
        LocalRoutes::add(&settings.local_ranges, "local")?
    } else {
        LocalRoutes(Vec::new(), "local")
    };
    let dataplane = proxy_userspace::Userspace::new(proxy_userspace::Config {
        node_ip: settings.node_ip,
        nodeport_addresses: settings.nodeport_addresses,
        node_name: settings.node_name,
        default_scheduler: settings.scheduler,
        events: Some(client.clone()),
        removed_endpoint_grace: proxy_userspace::REMOVED_ENDPOINT_GRACE,
    });
    Ok(tokio::spawn(async move {
        proxy::runner::run(
            config,
            client,
            dataplane,
            status,
            Some(health),
            metrics,
            shutdown,
        )
        .await;
        drop(routes);
    }))
}

/// What every mode's runner gets.
struct Common {
    config: proxy::RunnerConfig,
    client: kube::Client,
    status: Arc<proxy::runner::SyncStatus>,
    health: proxy::health::Health,
    metrics: Arc<proxy::metrics::Metrics>,
}

/// A kernel mode's rules, removed when the proxy stops.
trait Cleanup {
    fn cleanup(&mut self) -> Result<(), String>;
}

impl Cleanup for proxy_nftables::Nftables<proxy_nftables::NftCli> {
    fn cleanup(&mut self) -> Result<(), String> {
        proxy_nftables::Nftables::cleanup(self).map_err(|e| e.to_string())
    }
}

impl<D: Cleanup> Cleanup for proxy::PerFamily<D> {
    fn cleanup(&mut self) -> Result<(), String> {
        self.0.iter_mut().try_for_each(Cleanup::cleanup)
    }
}

impl Cleanup for proxy_iptables::Iptables<proxy_iptables::IptablesCli> {
    fn cleanup(&mut self) -> Result<(), String> {
        proxy_iptables::Iptables::cleanup(self).map_err(|e| e.to_string())
    }
}

/// Runs a kernel mode until `shutdown`, then removes its rules and routes.
async fn kernel_mode<D: proxy::Dataplane + Cleanup>(
    mut dataplane: D,
    routes: LocalRoutes,
    c: Common,
    shutdown: impl std::future::Future<Output = ()>,
) {
    proxy::runner::run(
        c.config,
        c.client,
        &mut dataplane,
        c.status,
        Some(c.health),
        c.metrics,
        shutdown,
    )
    .await;
    if let Err(err) = dataplane.cleanup() {
        tracing::warn!(%err, "removing the proxy's rules");
    }
    drop(routes);
}

/// In netns mode the node's own connections to ClusterIPs and load-balancer addresses need a
/// route to reach the output hook that DNATs them.
fn kernel_routes(settings: &Settings) -> anyhow::Result<LocalRoutes> {
    if settings.netns {
        LocalRoutes::add(&settings.local_ranges, "unicast")
    } else {
        Ok(LocalRoutes(Vec::new(), "unicast"))
    }
}

/// Removes what another proxy mode left (its rules would DNAT under this one's feet), where
/// the tools exist and knet may use them.
fn remove_other_modes(mode: ProxyMode) {
    if mode != ProxyMode::Nftables && proxy_nftables::NftCli::check().is_ok() {
        for family in [proxy::Family::V4, proxy::Family::V6] {
            let stale = proxy_nftables::Config {
                family,
                node_name: String::new(),
                pod_cidr: None,
                node_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            };
            let _ = proxy_nftables::Nftables::new(stale, proxy_nftables::NftCli).cleanup();
        }
    }
    if mode != ProxyMode::Iptables {
        for family in [proxy::Family::V4, proxy::Family::V6] {
            if let Ok(ipt) = proxy_iptables::IptablesCli::check(family) {
                let stale = proxy_iptables::Config {
                    family,
                    node_name: String::new(),
                    pod_cidr: None,
                };
                let _ = proxy_iptables::Iptables::new(stale, ipt).cleanup();
            }
        }
    }
}

/// `knet proxy`.
pub async fn run_alone(args: ProxyArgs) -> anyhow::Result<()> {
    let client = match args.kubeconfig {
        Some(path) => crate::client_for(&path).await?,
        None => kube::Client::try_default().await?,
    };
    let scheduler = args
        .scheduler
        .parse()
        .map_err(|e| anyhow::anyhow!("--scheduler: {e}"))?;
    let task = start(
        Settings {
            mode: args.proxy_mode,
            netns: false,
            node_ip: args.node_ip,
            node_name: args.node_name.unwrap_or_else(crate::node_name),
            scheduler,
            nodeport_addresses: Vec::new(),
            local_ranges: Vec::new(),
            pod_cidr: None,
            l2_device: None,
        },
        client,
        crate::shutdown_signal(),
    )?;
    println!("knet: ready proxy node-ip={}", args.node_ip);
    task.await.context("proxy task")?;
    Ok(())
}
