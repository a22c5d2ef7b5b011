//! `knet trace`: where a kernel proxy mode sends a new connection, from the cluster's
//! Services and EndpointSlices as they are now (the packet tracers of `proxy-nftables` and
//! `proxy-iptables`), or, in iptables mode, through an `iptables-save` dump of the kernel's
//! own rules.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;

/// `knet trace` flags.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// Kubeconfig of the API server (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The client's address.
    #[arg(long)]
    from: IpAddr,
    /// tcp, udp or sctp.
    #[arg(long, default_value = "tcp")]
    proto: String,
    /// This node's address (for NodePorts and `fib ... type local`).
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: IpAddr,
    /// This node's name (for the Local traffic policies; default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The pod range.
    #[arg(long)]
    pod_cidr: Option<String>,
    /// Whose rules: nftables or iptables.
    #[arg(long, default_value = "nftables", value_parser = ["nftables", "iptables"])]
    proxy_mode: String,
    /// iptables mode: trace through this `iptables-save` output instead of the rules the
    /// cluster's objects make (no API server needed).
    #[arg(long, value_name = "FILE")]
    iptables_save: Option<PathBuf>,
    /// Where the connection goes: ADDRESS:PORT.
    to: SocketAddr,
}

/// Prints the verdict: `dnat A:P B:Q …`, `reject`, `drop` or `untouched`.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let proto: &'static str = match args.proto.as_str() {
        "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        other => anyhow::bail!("--proto {other}: one of tcp, udp, sctp"),
    };
    let packet = proxy::trace::Packet {
        src: args.from,
        proto,
        dst: args.to,
        src_local: args.from == args.node_ip,
        dst_local: args.to.ip() == args.node_ip,
    };
    if let Some(path) = &args.iptables_save {
        anyhow::ensure!(
            args.proxy_mode == "iptables",
            "--iptables-save needs --proxy-mode iptables"
        );
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let rules = proxy_iptables::trace::Rules::parse(&text);
        println!("{}", proxy_iptables::trace::trace(&rules, &packet));
        return Ok(());
    }
    let client = match &args.kubeconfig {
        Some(path) => crate::client_for(path).await?,
        None => kube::Client::try_default().await?,
    };
    let services = Api::<Service>::all(client.clone())
        .list(&Default::default())
        .await?;
    let slices = Api::<EndpointSlice>::all(client)
        .list(&Default::default())
        .await?;
    let mut st = proxy::ServiceChangeTracker::default();
    st.replace_all(&services.items);
    let mut et = proxy::EndpointsChangeTracker::default();
    et.replace_all(&slices.items);
    let state = proxy::ProxyState {
        services: st.ports().cloned().collect(),
        endpoints: et
            .endpoints()
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect(),
        pod_weights: Default::default(),
    };
    let node_name = args.node_name.clone().unwrap_or_else(crate::node_name);
    // The rules of the destination's family.
    let family = if packet.dst.is_ipv6() {
        proxy::Family::V6
    } else {
        proxy::Family::V4
    };
    let verdict = if args.proxy_mode == "iptables" {
        let config = proxy_iptables::Config {
            family,
            node_name,
            pod_cidr: args.pod_cidr.clone(),
        };
        let text = proxy_iptables::render(&state, &config, &Default::default());
        proxy_iptables::trace::trace(&proxy_iptables::trace::Rules::parse(&text), &packet)
    } else {
        let config = proxy_nftables::Config {
            family,
            node_name,
            pod_cidr: args.pod_cidr.clone(),
            node_ip: args.node_ip,
        };
        proxy_nftables::trace::trace(&proxy_nftables::pieces(&state, &config), &packet)
    };
    println!("{verdict}");
    Ok(())
}
