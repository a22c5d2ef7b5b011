//! `knet trace`: where the nftables proxy mode sends a new connection, from the cluster's
//! Services and EndpointSlices as they are now (the packet tracer of `proxy-nftables`).

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
    /// Where the connection goes: ADDRESS:PORT.
    to: SocketAddr,
}

/// Prints the verdict: `dnat A:P B:Q …`, `reject`, `drop` or `untouched`.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
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
    let config = proxy_nftables::Config {
        node_name: args.node_name.clone().unwrap_or_else(crate::node_name),
        pod_cidr: args.pod_cidr.clone(),
        node_ip: args.node_ip,
    };
    let proto: &'static str = match args.proto.as_str() {
        "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        other => anyhow::bail!("--proto {other}: one of tcp, udp, sctp"),
    };
    let packet = proxy_nftables::trace::Packet {
        src: args.from,
        proto,
        dst: args.to,
        src_local: args.from == args.node_ip,
        dst_local: args.to.ip() == args.node_ip,
    };
    let pieces = proxy_nftables::pieces(&state, &config);
    match proxy_nftables::trace::trace(&pieces, &packet) {
        proxy_nftables::trace::Verdict::Dnat(eps) => {
            let list: Vec<String> = eps.iter().map(ToString::to_string).collect();
            println!("dnat {}", list.join(" "));
        }
        proxy_nftables::trace::Verdict::Reject => println!("reject"),
        proxy_nftables::trace::Verdict::Drop => println!("drop"),
        proxy_nftables::trace::Verdict::Untouched => println!("untouched"),
    }
    Ok(())
}
