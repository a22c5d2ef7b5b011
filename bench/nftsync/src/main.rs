//! `nftsync`: how long knet's nftables mode takes to program N services of E endpoints each
//! through the real `nft`, as a full sync and as a partial sync of one changed service.
//!
//! Run it as root inside a network namespace of its own (bench/run-nftsync.sh does): it
//! writes `table ip knet` there. Prints one line of `key=value` pairs, times in milliseconds.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use proxy::service::{Protocol, ServiceKey};
use proxy::{Changes, Dataplane, Endpoint, ProxyState, ServicePort, ServicePortName};

#[derive(Parser)]
#[command(about = "knet nftables sync benchmark (run as root in a scratch network namespace)")]
struct Args {
    /// Services (one TCP port each).
    #[arg(long, default_value_t = 1000)]
    services: u32,
    /// Endpoints per service.
    #[arg(long, default_value_t = 10)]
    endpoints: u32,
    /// Partial syncs of one changed service to time.
    #[arg(long, default_value_t = 20)]
    changes: u32,
    /// Only write the full script to this file (for timing `nft -f` by hand).
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Instead of timing syncs: after a full sync, time this many TCP connects through the
    /// first service's ClusterIP (DNATed to a listener of this process on 127.0.0.1).
    #[arg(long)]
    first_packet: Option<usize>,
}

fn addr(base: u32, i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(base + i))
}

fn name(i: u32) -> ServicePortName {
    ServicePortName {
        service: ServiceKey {
            namespace: "bench".into(),
            name: format!("svc-{i}"),
        },
        port: "http".into(),
        protocol: Protocol::Tcp,
    }
}

/// Service `i` with its endpoints; `generation` shifts one endpoint so a change is real.
fn add(state: &mut ProxyState, i: u32, endpoints: u32, generation: u32) {
    let cluster_ip = addr(u32::from(Ipv4Addr::new(10, 96, 0, 0)), i + 1);
    state
        .services
        .insert(name(i), Arc::new(ServicePort::cluster_ip(cluster_ip, 80)));
    let pods = u32::from(Ipv4Addr::new(10, 128, 0, 0));
    let eps = (0..endpoints)
        .map(|e| Endpoint {
            // A cluster of 10 nodes: this one ("bench") holds a tenth of the endpoints.
            node_name: Some(if e % 10 == 0 { "bench".into() } else { format!("node-{}", e % 10) }),
            ..Endpoint::ready(addr(pods, i * endpoints + e + generation * 7919), 8080)
        })
        .collect();
    state.endpoints.insert(name(i), Arc::new(eps));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Connect latency through a ClusterIP among `args.services`: the first service's only
/// endpoint is a listener here, so each connect crosses the whole dispatch path.
async fn first_packet(args: &Args, mut state: ProxyState, n: usize) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    state.endpoints.insert(
        name(0),
        Arc::new(vec![Endpoint::ready("127.0.0.1".parse()?, port)]),
    );
    let mut d = proxy_nftables::Nftables::new(
        proxy_nftables::Config {
            node_name: "bench".into(),
            pod_cidr: Some("10.128.0.0/9".into()),
            node_ip: "192.0.2.1".parse()?,
        },
        proxy_nftables::NftCli::check()?,
    );
    let full = Changes::full();
    d.sync(&state, &full)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let vip: std::net::SocketAddr = "10.96.0.1:80".parse()?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let s = std::net::TcpStream::connect_timeout(&vip, std::time::Duration::from_secs(2))?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
        drop(s);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((p * times.len() as f64) as usize).min(times.len() - 1)];
    println!(
        "first_packet services={} connects={n} p50_us={:.1} p99_us={:.1}",
        args.services,
        pct(0.5),
        pct(0.99)
    );
    d.cleanup()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nft = proxy_nftables::NftCli::check()?;
    let mut d = proxy_nftables::Nftables::new(
        proxy_nftables::Config {
            node_name: "bench".into(),
            pod_cidr: Some("10.128.0.0/9".into()),
            node_ip: "192.0.2.1".parse()?,
        },
        nft,
    );
    let mut state = ProxyState::default();
    for i in 0..args.services {
        add(&mut state, i, args.endpoints, 0);
    }
    if let Some(n) = args.first_packet {
        return first_packet(&args, state, n).await;
    }
    if let Some(path) = &args.dump {
        let config = proxy_nftables::Config {
            node_name: "bench".into(),
            pod_cidr: Some("10.128.0.0/9".into()),
            node_ip: "192.0.2.1".parse()?,
        };
        std::fs::write(path, proxy_nftables::render(&state, &config))?;
        return Ok(());
    }
    let full = Changes::full();
    let started = Instant::now();
    d.sync(&state, &full)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let full_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut partial = Vec::new();
    for g in 1..=args.changes {
        let i = (g * 7) % args.services;
        add(&mut state, i, args.endpoints, g);
        let changes = Changes::of([name(i).service]);
        let started = Instant::now();
        d.sync(&state, &changes)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        partial.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let script_kb = proxy_nftables::render(
        &state,
        &proxy_nftables::Config {
            node_name: "bench".into(),
            pod_cidr: Some("10.128.0.0/9".into()),
            node_ip: "192.0.2.1".parse()?,
        },
    )
    .len()
        / 1024;
    let partial_max = partial.iter().copied().fold(0.0, f64::max);
    println!(
        "nftsync services={} endpoints={} full_ms={full_ms:.1} script_kb={script_kb} partial_median_ms={:.1} partial_max_ms={partial_max:.1}",
        args.services,
        args.endpoints,
        median(partial),
    );
    d.cleanup()?;
    Ok(())
}
