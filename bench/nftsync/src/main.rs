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
    /// Instead of timing syncs: for each of `--sizes`, a network namespace of its own with that
    /// many services; then this many TCP connects per size through the first service's
    /// ClusterIP (DNATed to a listener of this process on 127.0.0.1), taking turns between
    /// the sizes connect by connect so that noise on the machine hits them alike.
    #[arg(long)]
    first_packet: Option<usize>,
    /// Table sizes for `--first-packet`.
    #[arg(long, value_delimiter = ',', default_value = "1,1000,10000")]
    sizes: Vec<u32>,
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
            node_name: Some(if e % 10 == 0 {
                "bench".into()
            } else {
                format!("node-{}", e % 10)
            }),
            ..Endpoint::ready(addr(pods, i * endpoints + e + generation * 7919), 8080)
        })
        .collect();
    state.endpoints.insert(name(i), Arc::new(eps));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn config() -> proxy_nftables::Config {
    proxy_nftables::Config {
        family: Default::default(),
        node_name: "bench".into(),
        pod_cidr: Some("10.128.0.0/9".into()),
        node_ip: "192.0.2.1".parse().expect("ip"),
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let ok = std::process::Command::new("ip")
        .args(args)
        .status()?
        .success();
    anyhow::ensure!(ok, "ip {args:?} failed");
    Ok(())
}

/// One table size in its own network namespace: a thread that programs `services` services
/// there, then answers each request on `go` with the time of one connect to the first
/// service's ClusterIP.
fn size_worker(
    ns: String,
    services: u32,
    endpoints: u32,
    go: std::sync::mpsc::Receiver<()>,
    done: std::sync::mpsc::Sender<anyhow::Result<f64>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let setup = || -> anyhow::Result<std::net::SocketAddr> {
            let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    drop(conn);
                }
            });
            let mut state = ProxyState::default();
            for i in 0..services {
                add(&mut state, i, endpoints, 0);
            }
            state.endpoints.insert(
                name(0),
                Arc::new(vec![Endpoint::ready("127.0.0.1".parse()?, port)]),
            );
            // `nft` is started from this thread, so it runs in this namespace.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()?;
            let mut d = proxy_nftables::Nftables::new(config(), proxy_nftables::NftCli::check()?);
            rt.block_on(d.sync(&state, &Changes::full()))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok("10.96.0.1:80".parse()?)
        };
        let vip = setup();
        let _ = done.send(
            vip.as_ref()
                .map(|_| 0.0)
                .map_err(|e| anyhow::anyhow!("{e:#}")),
        );
        let Ok(vip) = vip else { return };
        while go.recv().is_ok() {
            let started = Instant::now();
            let r = std::net::TcpStream::connect_timeout(&vip, std::time::Duration::from_secs(2))
                .map(|s| {
                    let t = started.elapsed().as_secs_f64() * 1e6;
                    // Closed with a reset: no TIME_WAIT piling up over the run, which made
                    // the kernel's search for a free source port the slowest part.
                    let _ = nix::sys::socket::setsockopt(
                        &s,
                        nix::sys::socket::sockopt::Linger,
                        &nix::libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        },
                    );
                    drop(s);
                    t
                })
                .map_err(anyhow::Error::from);
            if done.send(r).is_err() {
                return;
            }
        }
    })
}

/// Connect latency through a ClusterIP among each of `args.sizes` services, interleaved.
fn first_packet(args: &Args, n: usize) -> anyhow::Result<()> {
    let mut workers = Vec::new();
    let mut namespaces = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for &size in &args.sizes {
            let ns = format!("knet-fp-{}-{size}", std::process::id());
            ip(&["netns", "add", &ns])?;
            namespaces.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "10.96.0.0/12", "dev", "lo"])?;
            let (go_tx, go_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let handle = size_worker(ns, size, args.endpoints, go_rx, done_tx);
            done_rx.recv()??;
            workers.push((size, go_tx, done_rx, handle, Vec::with_capacity(n)));
        }
        for _ in 0..n {
            for (_, go, done, _, times) in &mut workers {
                go.send(())?;
                times.push(done.recv()??);
            }
        }
        for (size, _, _, _, times) in &mut workers {
            times.sort_by(f64::total_cmp);
            let pct = |p: f64| times[((p * times.len() as f64) as usize).min(times.len() - 1)];
            println!(
                "first_packet services={size} connects={n} p50_us={:.1} p90_us={:.1} p99_us={:.1}",
                pct(0.5),
                pct(0.9),
                pct(0.99)
            );
        }
        Ok(())
    })();
    for (_, go, _, handle, _) in workers {
        drop(go);
        let _ = handle.join();
    }
    for ns in namespaces {
        let _ = ip(&["netns", "delete", &ns]);
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nft = proxy_nftables::NftCli::check()?;
    let mut d = proxy_nftables::Nftables::new(config(), nft);
    let mut state = ProxyState::default();
    for i in 0..args.services {
        add(&mut state, i, args.endpoints, 0);
    }
    if let Some(n) = args.first_packet {
        return tokio::task::block_in_place(|| first_packet(&args, n));
    }
    if let Some(path) = &args.dump {
        let config = config();
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
    let script_kb = proxy_nftables::render(&state, &config()).len() / 1024;
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
