//! Test harness for knet's end-to-end tests: starts the real `knet` binary on free ports in a
//! private data directory, and runs the real `kubectl` and `curl` against it.
//!
//! Every test gets its own [`Knet`], so tests run side by side without sharing state. A tool
//! that is missing fails the test loudly; nothing is skipped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The `knet` binary under test: `$KNET_BIN`, else the workspace's binary of the same profile
/// as the tests (`target/debug/knet` for `cargo test`, `target/release/knet` for
/// `cargo test --release`).
pub fn knet_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KNET_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join("knet")
}

/// The workspace root (for `examples/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fails unless `tool` is on PATH.
pub fn require(tool: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        bail!("required tool `{tool}` is not installed (scripts/test.sh installs it)");
    }
    Ok(())
}

/// A running `knet up` (or `knet apiserver`) with its own data directory.
pub struct Knet {
    child: Option<Child>,
    /// The data directory (kept across [`Knet::restart`]).
    pub dir: tempfile::TempDir,
    /// The API address from the ready line.
    pub api: String,
    /// The cluster DNS address from the ready line (UDP and TCP).
    pub dns: String,
    /// The ingress controller's plain-HTTP address from the ready line.
    pub http: String,
    /// The ingress controller's HTTPS address from the ready line.
    pub https: String,
    /// Extra arguments given at start, reused on restart.
    args: Vec<String>,
    /// This instance's own pod range (kept across restarts).
    pub pod_cidr: String,
    /// This instance's own node address (NodePorts), unless the test passes `--node-ip`.
    pub node_ip: String,
    /// This instance's own load-balancer pool, unless the test passes `--lb-pool`.
    pub lb_pool: String,
    /// This instance's own ClusterIP range, unless the test passes `--service-cidr`.
    pub service_cidr: String,
    /// The network namespace this instance runs in (netns mode), made by the harness.
    pub netns: Option<String>,
}

/// Addresses no other instance of this test run uses, from a per-process counter N and the
/// process id P: pods in 127.(150+N).P.0/24; ClusterIPs in 127.(1+N).P.0/26, the node at
/// 127.(1+N).P.100 and load balancers in 127.(1+N).P.128/25.
fn unique_addresses() -> Addresses {
    let n = next_instance() % 90;
    let p = std::process::id() % 250;
    Addresses {
        pod_cidr: format!("127.{}.{p}.0/24", 150 + n),
        service_cidr: format!("127.{}.{p}.0/26", 1 + n),
        node_ip: format!("127.{}.{p}.100", 1 + n),
        lb_pool: format!("127.{}.{p}.128/25", 1 + n),
    }
}

/// The address ranges of one instance.
struct Addresses {
    pod_cidr: String,
    service_cidr: String,
    node_ip: String,
    lb_pool: String,
}

fn next_instance() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Fails unless this process runs as root (network namespaces need CAP_NET_ADMIN).
pub fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("this test needs root: it creates network namespaces (CI runs as root)");
    }
    require("ip")
}

impl Knet {
    /// Starts `knet up` in loopback mode on free ports with `extra` flags.
    pub fn up(extra: &[&str]) -> anyhow::Result<Knet> {
        let dir = tempfile::tempdir()?;
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let Addresses {
            pod_cidr,
            service_cidr,
            node_ip,
            lb_pool,
        } = unique_addresses();
        let mut k = Knet {
            child: None,
            dir,
            api: String::new(),
            dns: String::new(),
            http: String::new(),
            https: String::new(),
            args,
            pod_cidr,
            node_ip,
            lb_pool,
            service_cidr,
            netns: None,
        };
        k.start()?;
        Ok(k)
    }

    /// Starts `knet up --network netns` inside a network namespace of its own (made here and
    /// deleted on drop), with a pod range in 10.0.0.0/8 no other instance of this run uses.
    /// kubectl and curl calls through [`Knet::command`] run inside that namespace.
    pub fn up_netns(extra: &[&str]) -> anyhow::Result<Knet> {
        require_root()?;
        let n = next_instance();
        let name = format!("knet-e2e-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        let mut k = Knet {
            child: None,
            dir: tempfile::tempdir()?,
            api: String::new(),
            dns: String::new(),
            http: String::new(),
            https: String::new(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            pod_cidr: format!("10.{}.{}.0/24", 100 + n % 150, std::process::id() % 250),
            node_ip: format!("10.{}.{}.1", 100 + n % 150, std::process::id() % 250),
            lb_pool: format!(
                "10.{}.{}.0/24",
                100 + n % 150,
                (std::process::id() % 250 + 125) % 250
            ),
            // Inside its own namespace an instance may use the defaults.
            service_cidr: "10.96.0.0/12".to_owned(),
            netns: Some(name.clone()),
        };
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]))?;
        k.start()?;
        Ok(k)
    }

    /// `program`, run inside this instance's network namespace when it has one.
    pub fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let mut cmd = self.command(&knet_bin().display().to_string());
        cmd.arg("up").arg("--data-dir").arg(self.dir.path());
        if !self.args.iter().any(|a| a == "--api-addr") {
            cmd.args(["--api-addr", "127.0.0.1:0"]);
        }
        for flag in ["--http-addr", "--https-addr"] {
            if !self.args.iter().any(|a| a == flag) {
                cmd.args([flag, "127.0.0.1:0"]);
            }
        }
        if !self.args.iter().any(|a| a == "--dns-addr") {
            cmd.args(["--dns-addr", "127.0.0.1:0"]);
        }
        if !self.args.iter().any(|a| a == "--pod-cidr") {
            // Instances running side by side must not hand out the same pod addresses.
            cmd.args(["--pod-cidr", &self.pod_cidr]);
        }
        // NodePorts and load-balancer addresses are served by each instance's proxy.
        if !self.args.iter().any(|a| a == "--node-ip") {
            cmd.args(["--node-ip", &self.node_ip]);
        }
        if !self.args.iter().any(|a| a == "--lb-pool") {
            cmd.args(["--lb-pool", &self.lb_pool]);
        }
        if !self.args.iter().any(|a| a == "--service-cidr") {
            cmd.args(["--service-cidr", &self.service_cidr]);
        }
        let network = if self.netns.is_some() {
            "netns"
        } else {
            "loopback"
        };
        cmd.args(["--network", network])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("knet.stderr"))?,
            ));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", knet_bin().display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("knet: ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                // Let a failing process finish writing its error before reading it.
                for _ in 0..40 {
                    if child.try_wait().ok().flatten().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let log = std::fs::read_to_string(self.dir.path().join("knet.stderr"))
                    .unwrap_or_default();
                bail!("knet did not become ready; stderr:\n{log}");
            }
        };
        self.api = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("api="))
            .context("ready line has no api=")?
            .to_owned();
        self.dns = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("dns="))
            .context("ready line has no dns=")?
            .to_owned();
        self.http = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .context("ready line has no http=")?
            .to_owned();
        self.https = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("https="))
            .context("ready line has no https=")?
            .to_owned();
        self.child = Some(child);
        Ok(())
    }

    /// The process id of the running knet.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs kubectl with this cluster's kubeconfig; returns the output whatever the exit code.
    pub fn kubectl_output(&self, args: &[&str]) -> anyhow::Result<Output> {
        require("kubectl")?;
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        self.command("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            // A private HOME keeps kubectl's discovery cache per test.
            .env("HOME", &home)
            .stdin(Stdio::null())
            .output()
            .context("running kubectl")
    }

    /// Runs kubectl and fails unless it exits 0; returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl_output(args)?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_fails(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl_output(args)?;
        if out.status.success() {
            bail!(
                "kubectl {} unexpectedly succeeded:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// The ready addresses `kubectl get endpoints SERVICE` lists.
    pub fn endpoint_ips(&self, service: &str) -> anyhow::Result<Vec<String>> {
        let ips = self.kubectl(&[
            "get",
            "endpoints",
            service,
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ])?;
        Ok(ips.split_whitespace().map(str::to_owned).collect())
    }

    /// The bearer token.
    pub fn token(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.path().join("pki/token"))?
            .trim()
            .to_owned())
    }

    /// `curl` against the API: returns (HTTP status, body).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> anyhow::Result<(u16, String)> {
        require("curl")?;
        let out = self
            .command("curl")
            .args(["-sS", "--cacert"])
            .arg(self.dir.path().join("pki/ca.crt"))
            .args(["-X", method, "-H"])
            .arg(format!("Authorization: Bearer {}", self.token()?))
            .args([
                "-H",
                &format!("Content-Type: {content_type}"),
                "--data-binary",
                body,
            ])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("https://{}{path}", self.api))
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').context("curl printed no status")?;
        Ok((code.trim().parse()?, body.to_owned()))
    }

    /// A kube-rs client for this cluster.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Stops the process with SIGTERM and waits; returns its exit status code.
    pub fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("knet did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Replaces the extra flags used by the next [`Knet::restart`].
    pub fn set_args(&mut self, extra: &[&str]) {
        self.args = extra.iter().map(|s| s.to_string()).collect();
    }

    /// Starts again on the same data directory (and a new free port).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.start()
    }
}

impl Drop for Knet {
    fn drop(&mut self) {
        if let Some(ns) = self.netns.clone() {
            // A graceful stop removes the pods' namespaces and the bridge; then the test's own.
            if self.stop().is_err() {
                self.kill9();
            }
            let _ = Command::new("ip").args(["netns", "delete", &ns]).status();
        }
        self.kill9();
        // Killed, knet could not stop its pods; they would outlive the test.
        agent::reap_left_behind(self.dir.path());
        if std::env::var_os("KNET_E2E_KEEP").is_some() {
            // Keep the data directory (logs, store) for a post-mortem.
            let dir = std::mem::replace(&mut self.dir, tempfile::TempDir::new().expect("tempdir"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Runs `f` on a thread that has entered the network namespace `ns` (made by `ip netns add`),
/// so sockets it opens live there.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("entering {path}"))?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the thread in {ns} panicked"))?
}

/// Runs `cmd` and fails with its stderr unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `f` until it returns `Ok(Some)` or `timeout` passes.
pub fn eventually<T>(
    timeout: Duration,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = f();
        match last {
            Ok(Some(v)) => return Ok(v),
            Ok(None) if Instant::now() < deadline => {}
            Err(_) if Instant::now() < deadline => {}
            Ok(None) => bail!("condition not met within {timeout:?}"),
            Err(e) => return Err(e.context(format!("condition not met within {timeout:?}"))),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
