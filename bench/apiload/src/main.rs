//! `apiload`: a small load and latency tool for knet's Kubernetes API server.
//!
//! Each subcommand measures one thing and prints one summary line of `key=value` pairs (times
//! in milliseconds) that `bench/run-apiserver.sh` parses; `docs/benchmarks.md` has the numbers.
//!
//! - `startup`: spawns `knet up` on a fresh empty data dir and times spawn → ready line.
//! - `latency`: single Service creates, then single gets, from a fixed number of workers
//!   sharing one kube-rs client; p50/p99/max per request.
//! - `watch`: N `Api::watch` streams on Services in one namespace, then M creates; the delay
//!   from each create's send, and from its acknowledgement, to each watcher receiving it. The
//!   event often reaches a watcher before the create's response reaches the writer, so the
//!   from-acknowledgement delay is signed (negative then) and `early` counts those events.
//! - `store`: the same writes straight into knet's `store` crate (no HTTP, no TLS).
//! - `etcd`: the same writes as etcd v3 puts over etcd's JSON gateway, for a side-by-side.
//! - `pods`: scales a Deployment of `knet echo` pods behind a Service from 1 to N and back,
//!   watching pods and EndpointSlices: time until all N are Ready and in the slice, and per pod
//!   the delay from its Ready being observed to its ready endpoint being observed.
//!
//! It only ever talks to loopback addresses: it refuses a kubeconfig or etcd endpoint that is
//! not on 127.0.0.0/8, `::1` or `localhost`.

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Parser)]
#[command(
    name = "apiload",
    about = "Load and latency benchmarks for knet's API server (loopback only)",
    after_help = "Every subcommand prints one summary line of key=value pairs; times are in ms.\n\
                  bench/run-apiserver.sh runs them all; docs/benchmarks.md has the results."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Time `knet up` from spawn to its ready line, each run on a fresh empty data dir.
    Startup(StartupArgs),
    /// Single Service creates, then single gets, at a fixed concurrency: p50/p99/max.
    Latency(LatencyArgs),
    /// Watch fan-out: watchers on Services in one namespace, then creates; delivery delay.
    Watch(WatchArgs),
    /// Service-sized writes straight into knet's store (no HTTP): per-write latency.
    Store(StoreArgs),
    /// Service-sized etcd v3 puts over etcd's JSON gateway: per-write latency.
    Etcd(EtcdArgs),
    /// Scale `knet echo` pods 1 → N → 1: time to Ready and into the EndpointSlice.
    Pods(PodsArgs),
    /// Scale a Deployment 0 → 1 behind a ClusterIP, N times: pod Ready → first answer there.
    Routable(RoutableArgs),
    /// Change a headless Service's EndpointSlice N times: the write → cluster DNS answering it.
    Dnsprog(DnsprogArgs),
    /// Many Ingresses, then switch one path's backend N times: the write → the ingress serving
    /// the new backend.
    Ingprog(IngprogArgs),
}

#[derive(Args)]
struct IngprogArgs {
    /// Kubeconfig of the cluster under test (its server must be on loopback).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// The ingress controller's plain HTTP address (on loopback).
    #[arg(long)]
    ingress: std::net::SocketAddr,
    /// Namespace for the objects (created if missing).
    #[arg(long, default_value = "ingprog")]
    namespace: String,
    /// Ingresses to create first.
    #[arg(long, default_value_t = 1000)]
    ingresses: usize,
    /// Paths per Ingress.
    #[arg(long, default_value_t = 10)]
    paths: usize,
    /// Changes to time.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
}

#[derive(Args)]
struct DnsprogArgs {
    /// Kubeconfig of the cluster under test (its server must be on loopback).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// The cluster DNS server (on loopback).
    #[arg(long)]
    dns: std::net::SocketAddr,
    /// Namespace for the Service (created if missing).
    #[arg(long, default_value = "dnsprog")]
    namespace: String,
    /// Changes to time.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
}

#[derive(Args)]
struct RoutableArgs {
    /// Kubeconfig of the cluster under test (its server must be on loopback).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Namespace for the Deployment and Service (created if missing).
    #[arg(long, default_value = "routable")]
    namespace: String,
    /// Rounds of 0 → 1 → 0.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

#[derive(Args)]
struct PodsArgs {
    /// Kubeconfig of the cluster under test (its server must be on loopback).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Namespace for the Deployment and Service (created if missing).
    #[arg(long, default_value = "podload")]
    namespace: String,
    /// Pods to scale to.
    #[arg(long, default_value_t = 100)]
    replicas: i32,
    /// Give each pod an httpGet readiness probe with this period (seconds; 0: no probe).
    #[arg(long, default_value_t = 0)]
    probe_period: i32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Args)]
struct StartupArgs {
    /// The knet binary to start.
    #[arg(long, default_value = "target/release/knet")]
    knet: PathBuf,
    /// Timed runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Untimed runs first (warm the page cache).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Directory for the per-run data dirs and logs (created; runs' dirs are replaced).
    #[arg(long, default_value = "target/bench-startup")]
    work: PathBuf,
}

#[derive(Args)]
struct ClusterArgs {
    /// Kubeconfig of the cluster under test (its server must be on loopback).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Namespace for the Services (created if missing).
    #[arg(long, default_value = "apiload")]
    namespace: String,
    /// Service names are PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "svc")]
    prefix: String,
}

#[derive(Args)]
struct LatencyArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Services to create (one request each).
    #[arg(long, default_value_t = 2000)]
    creates: usize,
    /// Gets to issue afterwards, round-robin over the created Services (0: none).
    #[arg(long, default_value_t = 10_000)]
    gets: usize,
    /// Requests in flight at once (workers sharing one client).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

#[derive(Args)]
struct WatchArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Watch streams, all on Services in the one namespace.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Services to create once every watch is open.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Give up waiting for events after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Args)]
struct StoreArgs {
    /// Directory for the store's SQLite file (created; must not hold a store already).
    #[arg(long)]
    dir: PathBuf,
    /// Writes (one key each).
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Writer threads.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

#[derive(Args)]
struct EtcdArgs {
    /// etcd client address (host:port, loopback only; plain HTTP).
    #[arg(long, default_value = "127.0.0.1:23790")]
    endpoint: SocketAddr,
    /// Puts (one key each).
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Connections, each with one put in flight.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Startup(a) => startup(&a),
        Cmd::Latency(a) => latency(&a).await,
        Cmd::Watch(a) => watch(&a).await,
        Cmd::Store(a) => store_writes(&a),
        Cmd::Etcd(a) => etcd_writes(&a).await,
        Cmd::Pods(a) => pods(&a).await,
        Cmd::Routable(a) => routable(&a).await,
        Cmd::Dnsprog(a) => dnsprog(&a).await,
        Cmd::Ingprog(a) => ingprog(&a).await,
    }
}

// ---------------------------------------------------------------------------------------------
// startup

fn startup(args: &StartupArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work)?;
    let mut times = Vec::new();
    for run in 0..args.warmup + args.runs {
        let took = start_once(&args.knet, &args.work, run)?;
        if run >= args.warmup {
            println!("startup run={} ms={:.1}", run - args.warmup + 1, ms(took));
            times.push(ms(took));
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "startup runs={} median_ms={:.1} min_ms={:.1} max_ms={:.1}",
        times.len(),
        median(&times),
        times.first().copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
    );
    Ok(())
}

/// One `knet up` on a fresh empty data dir: spawn → ready line, then SIGTERM.
fn start_once(knet: &Path, work: &Path, run: usize) -> anyhow::Result<Duration> {
    let dir = work.join(format!("run-{run}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let log = work.join(format!("run-{run}.stderr"));
    let start = Instant::now();
    let mut child = Command::new(knet)
        .arg("up")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--api-addr", "127.0.0.1:0", "--network", "loopback"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", knet.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("knet: ready") {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(30));
    stop(&mut child)?;
    let ready = ready.map_err(|_| {
        anyhow!(
            "run {run}: no ready line within 30 s; see {}",
            log.display()
        )
    })?;
    std::fs::remove_dir_all(&dir)?;
    Ok(ready - start)
}

/// SIGTERM (via `kill`, as the e2e harness does), then SIGKILL after 20 s.
fn stop(child: &mut Child) -> anyhow::Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            bail!("knet did not exit within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// latency

async fn latency(args: &LatencyArgs) -> anyhow::Result<()> {
    let c = &args.cluster;
    let client = client(&c.kubeconfig).await?;
    ensure_namespace(&client, &c.namespace).await?;
    let api: Api<Service> = Api::namespaced(client, &c.namespace);
    let conc = args.concurrency.max(1);

    // Open the connections first, so no timed request pays for a TLS handshake.
    let warm = api.clone();
    run_timed(conc * 4, conc, move |_, _| {
        let api = warm.clone();
        async move {
            Ok(api
                .list_metadata(&ListParams::default().limit(1))
                .await
                .map(drop)?)
        }
    })
    .await?;

    let (a, prefix) = (api.clone(), c.prefix.clone());
    let mut creates = run_timed(args.creates, conc, move |_, i| {
        let (api, svc) = (a.clone(), service(&format!("{prefix}-{i}")));
        async move { Ok(api.create(&PostParams::default(), &svc?).await.map(drop)?) }
    })
    .await?;
    creates.print("create", conc);

    if args.gets > 0 && args.creates > 0 {
        let (a, prefix, n) = (api.clone(), c.prefix.clone(), args.creates);
        let mut gets = run_timed(args.gets, conc, move |_, i| {
            let (api, name) = (a.clone(), format!("{prefix}-{}", i % n));
            async move { Ok(api.get(&name).await.map(drop)?) }
        })
        .await?;
        gets.print("get", conc);
        if gets.errors > 0 {
            bail!("{} gets failed", gets.errors);
        }
    }
    if creates.errors > 0 {
        bail!("{} creates failed", creates.errors);
    }
    Ok(())
}

/// Latencies of one timed batch.
struct Run {
    lat: Vec<Duration>,
    wall: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Run {
    fn print(&mut self, what: &str, conc: usize) {
        if let Some(err) = &self.first_error {
            eprintln!("apiload: {what}: {} errors; first: {err}", self.errors);
        }
        let rate = self.lat.len() as f64 / self.wall.as_secs_f64();
        println!(
            "{what} concurrency={conc} n={} errors={} {} rate_per_s={rate:.0}",
            self.lat.len(),
            self.errors,
            stats("", &mut self.lat.iter().map(|d| ms(*d)).collect::<Vec<_>>()),
        );
    }
}

/// Runs `op(worker, i)` for `i` in `0..n` from `conc` workers, each taking the next index, and
/// times each call.
async fn run_timed<F, Fut>(n: usize, conc: usize, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..conc)
        .map(|worker| {
            let (next, op) = (next.clone(), op.clone());
            tokio::spawn(async move {
                let mut run = Run {
                    lat: Vec::new(),
                    wall: Duration::ZERO,
                    errors: 0,
                    first_error: None,
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return run;
                    }
                    let t = Instant::now();
                    match op(worker, i).await {
                        Ok(()) => run.lat.push(t.elapsed()),
                        Err(e) => {
                            run.errors += 1;
                            run.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
            })
        })
        .collect();
    let mut total = Run {
        lat: Vec::with_capacity(n),
        wall: Duration::ZERO,
        errors: 0,
        first_error: None,
    };
    for w in workers {
        let run = w.await?;
        total.lat.extend(run.lat);
        total.errors += run.errors;
        total.first_error = total.first_error.or(run.first_error);
    }
    total.wall = start.elapsed();
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// watch

async fn watch(args: &WatchArgs) -> anyhow::Result<()> {
    let c = &args.cluster;
    let client = client(&c.kubeconfig).await?;
    ensure_namespace(&client, &c.namespace).await?;
    let api: Api<Service> = Api::namespaced(client, &c.namespace);
    let rv = api
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .context("list returned no resourceVersion")?;

    // Open every watch (from the listed revision, so none can miss a write) before writing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut watchers = Vec::new();
    for _ in 0..args.watchers {
        let mut stream = api.watch(&WatchParams::default(), &rv).await?.boxed();
        let (prefix, writes) = (format!("{}-", c.prefix), args.writes);
        watchers.push(tokio::spawn(async move {
            let mut got: Vec<(usize, Instant)> = Vec::with_capacity(writes);
            while got.len() < writes {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Added(svc)))) => {
                        let now = Instant::now();
                        let name = svc.metadata.name.unwrap_or_default();
                        if let Some(i) = name.strip_prefix(&prefix).and_then(|n| n.parse().ok()) {
                            got.push((i, now));
                        }
                    }
                    Ok(Some(Ok(WatchEvent::Error(status)))) => {
                        bail!("watch error event: {} {}", status.code, status.message)
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => bail!("watch stream failed: {e}"),
                    Ok(None) => bail!("watch stream ended after {} events", got.len()),
                    Err(_) => bail!("timed out after {} of {writes} events", got.len()),
                }
            }
            Ok(got)
        }));
    }

    // The writes: record when each was sent and when its response arrived.
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (next, api, prefix, n) = (next.clone(), api.clone(), c.prefix.clone(), args.writes);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(done);
                    }
                    let svc = service(&format!("{prefix}-{i}"))?;
                    let sent = Instant::now();
                    api.create(&PostParams::default(), &svc).await?;
                    done.push((i, sent, Instant::now()));
                }
            })
        })
        .collect();
    let mut sent = vec![None; args.writes];
    let mut acked = vec![None; args.writes];
    let mut write_lat = Vec::with_capacity(args.writes);
    for w in writers {
        for (i, s, a) in w.await?? {
            sent[i] = Some(s);
            acked[i] = Some(a);
            write_lat.push(ms(a - s));
        }
    }

    let (mut from_ack, mut from_send) = (Vec::new(), Vec::new());
    let (mut early, mut failed, mut first_err) = (0usize, 0usize, None);
    for w in watchers {
        match w.await? {
            Ok(got) => {
                for (i, at) in got {
                    let (Some(s), Some(a)) = (sent.get(i).copied().flatten(), acked[i]) else {
                        continue;
                    };
                    from_send.push(ms(at - s));
                    // The event can beat the create's response to this process: negative.
                    early += usize::from(at < a);
                    from_ack.push(
                        ms(at.saturating_duration_since(a)) - ms(a.saturating_duration_since(at)),
                    );
                }
            }
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    let expected = args.watchers * args.writes;
    println!(
        "watch watchers={} writes={} delivered={} expected={expected} failed_watchers={failed} \
         early={early} {} {} {}",
        args.watchers,
        write_lat.len(),
        from_ack.len(),
        stats("from_ack_", &mut from_ack),
        stats("from_send_", &mut from_send),
        stats("write_", &mut write_lat),
    );
    if let Some(e) = first_err {
        bail!("{failed} watchers failed; first: {e:#}");
    }
    if from_ack.len() != expected {
        bail!("delivered {} of {expected} events", from_ack.len());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// store and etcd

fn store_writes(args: &StoreArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let path = args.dir.join("store.db");
    if path.exists() {
        bail!("{} exists; give a fresh --dir", path.display());
    }
    let st = store::Store::open(store::Config::new(&path))?;
    let next = AtomicUsize::new(0);
    let conc = args.concurrency.max(1);
    let start = Instant::now();
    let lats: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..conc)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= args.writes {
                            return Ok(lat);
                        }
                        let key = format!("/registry/services/specs/apiload/svc-{i}");
                        let value = service_json(&format!("svc-{i}"));
                        let t = Instant::now();
                        st.write::<store::Error, _>(&key, |_| Ok(store::Write::Put(value)))?;
                        lat.push(t.elapsed());
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow!("writer panicked"))?)
            .collect()
    });
    let mut run = Run {
        lat: Vec::new(),
        wall: start.elapsed(),
        errors: 0,
        first_error: None,
    };
    for l in lats {
        run.lat.extend(l?);
    }
    run.print("store-write", conc);
    Ok(())
}

async fn etcd_writes(args: &EtcdArgs) -> anyhow::Result<()> {
    if !args.endpoint.ip().is_loopback() {
        bail!("{} is not a loopback address", args.endpoint);
    }
    let (addr, n) = (args.endpoint, args.writes);
    let conc = args.concurrency.max(1);
    // One connection per worker, opened before timing.
    let mut conns = Vec::new();
    for _ in 0..conc {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        conns.push(Arc::new(tokio::sync::Mutex::new(
            tokio::io::BufReader::new(s),
        )));
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| {
                let key = format!("/registry/services/specs/apiload/svc-{i}");
                let value = serde_json::to_vec(&service_json(&format!("svc-{i}")))?;
                Ok(json!({"key": b64(key.as_bytes()), "value": b64(&value)}).to_string())
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let mut run = run_timed(n, conc, move |worker, i| {
        // Worker k always uses connection k, so the lock is never contended.
        let (bodies, conn) = (bodies.clone(), conns[worker].clone());
        async move { etcd_put(&mut *conn.lock().await, addr, &bodies[i]).await }
    })
    .await?;
    run.print("etcd-put", conc);
    if run.errors > 0 {
        bail!("{} puts failed", run.errors);
    }
    Ok(())
}

/// One `POST /v3/kv/put` on a kept-alive HTTP/1.1 connection.
async fn etcd_put(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    addr: SocketAddr,
    body: &str,
) -> anyhow::Result<()> {
    let req = format!(
        "POST /v3/kv/put HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes()).await?;
    let (mut status, mut len, mut line) = (String::new(), None, String::new());
    conn.read_line(&mut status).await?;
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            bail!("etcd closed the connection");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = Some(v.trim().parse::<usize>()?);
        }
    }
    let mut resp = vec![0; len.context("etcd response has no Content-Length")?];
    conn.read_exact(&mut resp).await?;
    if !status.starts_with("HTTP/1.1 200") {
        bail!("etcd: {} {}", status.trim(), String::from_utf8_lossy(&resp));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// pods

/// What the two watches saw, by pod IP: when its pod was first seen Ready and when its
/// endpoint was first seen ready, plus the sets as they stand now.
#[derive(Default)]
struct Seen {
    ready_at: std::collections::HashMap<String, Instant>,
    endpoint_at: std::collections::HashMap<String, Instant>,
    ready_now: std::collections::HashMap<String, String>,
    slices: std::collections::HashMap<String, Vec<String>>,
}

impl Seen {
    fn endpoints_now(&self) -> usize {
        self.slices.values().map(Vec::len).sum()
    }
}

async fn pods(args: &PodsArgs) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::{Patch, PatchParams};
    use kube::runtime::{WatchStreamExt as _, watcher};

    let client = client(&args.kubeconfig).await?;
    ensure_namespace(&client, &args.namespace).await?;
    let ns = args.namespace.as_str();
    let mut container =
        json!({"name": "echo", "image": "knet/echo", "ports": [{"containerPort": 80}]});
    if args.probe_period > 0 {
        container["readinessProbe"] =
            json!({"httpGet": {"path": "/", "port": 80}, "periodSeconds": args.probe_period});
    }
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "echo"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {
                "metadata": {"labels": {"app": "echo"}},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]},
            },
        },
    }))?;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80}]},
    }))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments.create(&PostParams::default(), &deploy).await?;
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await?;

    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let changed = Arc::new(tokio::sync::Notify::new());
    let pod_watch = {
        let (seen, changed) = (seen.clone(), changed.clone());
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let cfg = watcher::Config::default().labels("app=echo");
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, cfg).default_backoff());
            while let Some(Ok(ev)) = events.next().await {
                let now = Instant::now();
                let mut seen = seen.lock().expect("lock");
                let (pod, gone) = match ev {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (p, false),
                    watcher::Event::Delete(p) => (p, true),
                    _ => continue,
                };
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let status = pod.status.unwrap_or_default();
                let ready = !gone
                    && pod.metadata.deletion_timestamp.is_none()
                    && status
                        .conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                match (ready, status.pod_ip) {
                    (true, Some(ip)) => {
                        seen.ready_at.entry(ip.clone()).or_insert(now);
                        seen.ready_now.insert(uid, ip);
                    }
                    _ => {
                        seen.ready_now.remove(&uid);
                    }
                }
                drop(seen);
                changed.notify_waiters();
            }
        })
    };
    let slice_watch = {
        let (seen, changed) = (seen.clone(), changed.clone());
        let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
        let cfg = watcher::Config::default().labels("kubernetes.io/service-name=echo");
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, cfg).default_backoff());
            while let Some(Ok(ev)) = events.next().await {
                let now = Instant::now();
                let mut seen = seen.lock().expect("lock");
                let (slice, gone) = match ev {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => (s, false),
                    watcher::Event::Delete(s) => (s, true),
                    _ => continue,
                };
                let name = slice.metadata.name.clone().unwrap_or_default();
                let ready: Vec<String> = slice
                    .endpoints
                    .iter()
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .flat_map(|e| e.addresses.clone())
                    .collect();
                for ip in &ready {
                    seen.endpoint_at.entry(ip.clone()).or_insert(now);
                }
                if gone {
                    seen.slices.remove(&name);
                } else {
                    seen.slices.insert(name, ready);
                }
                drop(seen);
                changed.notify_waiters();
            }
        })
    };
    let deadline = Duration::from_secs(args.timeout);
    let wait_for = |want: usize| {
        let (seen, changed) = (seen.clone(), changed.clone());
        async move {
            let start = Instant::now();
            let (mut pods_at, mut slice_at) = (None, None);
            loop {
                let notified = changed.notified();
                {
                    let seen = seen.lock().expect("lock");
                    if pods_at.is_none() && seen.ready_now.len() == want {
                        pods_at = Some(start.elapsed());
                    }
                    if slice_at.is_none() && seen.endpoints_now() == want {
                        slice_at = Some(start.elapsed());
                    }
                }
                if let (Some(p), Some(s)) = (pods_at, slice_at) {
                    return Ok::<_, anyhow::Error>((p, s));
                }
                let left = deadline.saturating_sub(start.elapsed());
                if left.is_zero() {
                    let seen = seen.lock().expect("lock");
                    bail!(
                        "after {deadline:?}: {} pods ready, {} endpoints ready, want {want}",
                        seen.ready_now.len(),
                        seen.endpoints_now()
                    );
                }
                let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
            }
        }
    };
    wait_for(1).await.context("the first pod")?;
    let base: std::collections::HashSet<String> = seen
        .lock()
        .expect("lock")
        .ready_at
        .keys()
        .cloned()
        .collect();

    let scale = |n: i32| {
        let deployments = deployments.clone();
        async move {
            deployments
                .patch_scale(
                    "echo",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": n}})),
                )
                .await
        }
    };
    scale(args.replicas).await?;
    let (up_ready, up_slice) = wait_for(args.replicas as usize).await?;
    let mut delays: Vec<f64> = {
        let seen = seen.lock().expect("lock");
        seen.ready_at
            .iter()
            .filter(|(ip, _)| !base.contains(*ip))
            .filter_map(|(ip, r)| {
                let e = seen.endpoint_at.get(ip)?;
                Some(if e >= r { ms(*e - *r) } else { -ms(*r - *e) })
            })
            .collect()
    };
    let measured = delays.len();
    scale(1).await?;
    let (down_ready, down_slice) = wait_for(1).await?;
    pod_watch.abort();
    slice_watch.abort();
    println!(
        "pods replicas={} all_ready_ms={:.1} all_in_slice_ms={:.1} measured={measured} {} down_ready_ms={:.1} down_slice_ms={:.1}",
        args.replicas,
        ms(up_ready),
        ms(up_slice),
        stats("ready_to_endpoint_", &mut delays),
        ms(down_ready),
        ms(down_slice),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// routable

/// One HTTP/1.0 GET over a fresh connection: whether anything came back.
async fn answers(addr: SocketAddr) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(200),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Network programming latency as a client sees it: a Deployment behind a ClusterIP is
/// scaled from 0 to 1; from the moment its pod is seen Ready, a client polls the ClusterIP
/// every millisecond until the pod answers. Then back to 0, until the ClusterIP refuses.
async fn routable(args: &RoutableArgs) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Patch, PatchParams};

    let client = client(&args.kubeconfig).await?;
    ensure_namespace(&client, &args.namespace).await?;
    let ns = args.namespace.as_str();
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "one"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "one"}},
            "template": {
                "metadata": {"labels": {"app": "one"}},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "echo", "image": "knet/echo", "ports": [{"containerPort": 80}]}]},
            },
        },
    }))?;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "one"},
        "spec": {"selector": {"app": "one"}, "ports": [{"port": 80}]},
    }))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments.create(&PostParams::default(), &deploy).await?;
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await?;
    let ip: IpAddr = svc
        .spec
        .and_then(|s| s.cluster_ip)
        .context("no ClusterIP")?
        .parse()?;
    let addr = SocketAddr::new(ip, 80);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), ns);
    let scale = |n: i32| {
        let deployments = deployments.clone();
        async move {
            deployments
                .patch_scale(
                    "one",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": n}})),
                )
                .await
        }
    };
    let ready = |p: &Pod| {
        p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let mut delays = Vec::new();
    for round in 0..args.rounds {
        scale(1).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let seen_ready = loop {
            let list = pods.list(&ListParams::default().labels("app=one")).await?;
            if list.items.iter().any(ready) {
                break Instant::now();
            }
            if Instant::now() > deadline {
                bail!("round {round}: no Ready pod after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        while !answers(addr).await {
            if Instant::now() > deadline {
                bail!("round {round}: ClusterIP never answered");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let delay = ms(seen_ready.elapsed());
        eprintln!("round {round}: ready to routable {delay:.3} ms");
        delays.push(delay);
        scale(0).await?;
        // The next round starts once the old pod is out of the EndpointSlice and the
        // ClusterIP refuses. A refusal alone can come from the old pod itself (its process
        // gone, its network not yet): the next round's first connection could then still be
        // sent to it while the proxy removes it, which measures the removal, not the Ready.
        loop {
            let empty = slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=one"))
                .await?
                .items
                .iter()
                .all(|s| s.endpoints.is_empty());
            if empty && !answers(addr).await {
                break;
            }
            if Instant::now() > deadline + Duration::from_secs(30) {
                bail!("round {round}: ClusterIP still answers after scaling to 0");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    println!(
        "routable rounds={} {}",
        args.rounds,
        stats("ready_to_routable_", &mut delays)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// helpers

/// A kube-rs client from a kubeconfig, as the e2e harness builds it; loopback servers only.
/// A DNS query for `name` type A, with `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

async fn dnsprog(args: &DnsprogArgs) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::{Patch, PatchParams};

    anyhow::ensure!(args.dns.ip().is_loopback(), "--dns must be on loopback");
    let client = client(&args.kubeconfig).await?;
    ensure_namespace(&client, &args.namespace).await?;
    let ns = args.namespace.as_str();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "h"},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
    }))?;
    let pp = PatchParams::apply("apiload").force();
    Api::<Service>::namespaced(client.clone(), ns)
        .patch("h", &pp, &Patch::Apply(&svc))
        .await?;
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), ns);
    let slice = |last: u8| -> anyhow::Result<EndpointSlice> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "h-1", "labels": {"kubernetes.io/service-name": "h"}},
            "addressType": "IPv4",
            "ports": [{"port": 80}],
            "endpoints": [{"addresses": ["192.0.2.1"]}, {"addresses": [format!("198.51.100.{last}")]}]
        }))?)
    };
    let name = format!("h.{ns}.svc.cluster.local");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut delays = Vec::new();
    for round in 0..args.rounds {
        let last = (round % 250) as u8 + 1;
        let started = Instant::now();
        slices
            .patch("h-1", &pp, &Patch::Apply(&slice(last)?))
            .await?;
        let want = [198u8, 51, 100, last];
        let mut id = 0u16;
        loop {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "DNS never answered with 198.51.100.{last}"
            );
            id = id.wrapping_add(1);
            sock.send_to(&dns_query(id, &name), args.dns)?;
            let mut buf = [0u8; 1500];
            let Ok(n) = sock.recv(&mut buf) else { continue };
            if buf[..2] == id.to_be_bytes() && buf[..n].windows(4).any(|w| w == want) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        delays.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays[((p * delays.len() as f64) as usize).min(delays.len() - 1)];
    println!(
        "dnsprog rounds={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        delays.len(),
        pct(0.5),
        pct(0.99),
        delays[delays.len() - 1]
    );
    Ok(())
}

/// Two tiny HTTP backends on loopback answering `a` and `b`: (port of a, port of b).
fn ab_backends() -> anyhow::Result<(u16, u16)> {
    let mut ports = Vec::new();
    for answer in ["a", "b"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        ports.push(listener.local_addr()?.port());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    use std::io::{Read as _, Write as _};
                    let mut conn = conn;
                    let mut buf = [0u8; 4096];
                    let mut seen = Vec::new();
                    // Keep-alive: answer every request head on the connection.
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply =
                                format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{answer}");
                            if conn.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
    Ok((ports[0], ports[1]))
}

/// One GET through the ingress with `Host: host`: the body (on a new connection).
fn ingress_get(ingress: SocketAddr, host: &str, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect_timeout(&ingress, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

async fn ingprog(args: &IngprogArgs) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::api::networking::v1::Ingress;
    use kube::api::{Patch, PatchParams};

    anyhow::ensure!(
        args.ingress.ip().is_loopback(),
        "--ingress must be on loopback"
    );
    let client = client(&args.kubeconfig).await?;
    ensure_namespace(&client, &args.namespace).await?;
    let ns = args.namespace.as_str();
    let (port_a, port_b) = ab_backends()?;
    let pp = PatchParams::apply("apiload").force();
    for (name, port) in [("a", port_a), ("b", port_b)] {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80}]}
        }))?;
        Api::<Service>::namespaced(client.clone(), ns)
            .patch(name, &pp, &Patch::Apply(&svc))
            .await?;
        let slice: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": ["127.0.0.1"]}]
        }))?;
        Api::<EndpointSlice>::namespaced(client.clone(), ns)
            .patch(&format!("{name}-1"), &pp, &Patch::Apply(&slice))
            .await?;
    }
    let ingress = |i: usize, first: &str| -> anyhow::Result<Ingress> {
        let paths: Vec<Value> = (0..args.paths)
            .map(|p| {
                json!({
                    "path": format!("/p{p}"),
                    "pathType": "Prefix",
                    "backend": {"service": {"name": if p == 0 { first } else { "a" }, "port": {"number": 80}}}
                })
            })
            .collect();
        Ok(serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": format!("ing-{i}")},
            "spec": {"rules": [{"host": format!("h{i}.example"), "http": {"paths": paths}}]}
        }))?)
    };
    let api = Api::<Ingress>::namespaced(client.clone(), ns);
    let loaded = Instant::now();
    for i in 0..args.ingresses {
        api.patch(&format!("ing-{i}"), &pp, &Patch::Apply(&ingress(i, "a")?))
            .await?;
    }
    let last = format!("h{}.example", args.ingresses - 1);
    while ingress_get(args.ingress, &last, "/p0").as_deref() != Some("a") {
        anyhow::ensure!(
            loaded.elapsed() < Duration::from_secs(120),
            "the ingress never served {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load_ms = ms(loaded.elapsed());
    let mut delays = Vec::new();
    for round in 0..args.rounds {
        let i = (round * 7919) % args.ingresses;
        let host = format!("h{i}.example");
        // Flip path /p0 of one Ingress between a and b.
        let want = if ingress_get(args.ingress, &host, "/p0").as_deref() == Some("b") {
            "a"
        } else {
            "b"
        };
        let started = Instant::now();
        api.patch(&format!("ing-{i}"), &pp, &Patch::Apply(&ingress(i, want)?))
            .await?;
        loop {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "the ingress never served {want} for {host}"
            );
            if ingress_get(args.ingress, &host, "/p0").as_deref() == Some(want) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        delays.push(ms(started.elapsed()));
    }
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays[((p * delays.len() as f64) as usize).min(delays.len() - 1)];
    println!(
        "ingprog ingresses={} paths={} load_ms={load_ms:.0} rounds={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        args.ingresses,
        args.ingresses * args.paths,
        delays.len(),
        pct(0.5),
        pct(0.99),
        delays[delays.len() - 1]
    );
    Ok(())
}

async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let host = config.cluster_url.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !(host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())) {
        bail!("refusing non-loopback API server {}", config.cluster_url);
    }
    Ok(Client::try_from(config)?)
}

async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

/// The Service every benchmark writes: ClusterIP, one port.
fn service_json(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": "apiload"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": name},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
    })
}

fn service(name: &str) -> anyhow::Result<Service> {
    Ok(serde_json::from_value(service_json(name))?)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of sorted samples (mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `{prefix}p50_ms=… {prefix}p99_ms=… {prefix}max_ms=…` of samples in ms (sorts them).
fn stats(prefix: &str, ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "{prefix}p50_ms={:.3} {prefix}p99_ms={:.3} {prefix}max_ms={:.3}",
        percentile(ms, 50.0),
        percentile(ms, 99.0),
        ms.last().copied().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v[..1], 99.0), 1.0);
        assert_eq!(median(&v[..3]), 2.0);
        assert_eq!(median(&v[..4]), 2.5);
    }

    #[test]
    fn the_service_parses() -> anyhow::Result<()> {
        let svc = service("x")?;
        assert_eq!(svc.spec.and_then(|s| s.ports).map(|p| p.len()), Some(1));
        Ok(())
    }
}
