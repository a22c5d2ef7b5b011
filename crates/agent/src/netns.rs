//! The netns network mode: a network namespace per pod, joined to a bridge on the node by a
//! veth pair, with an address from the pod CIDR, a default route through the bridge, and the
//! pod's own `/etc/resolv.conf` and `/etc/hosts` given through a private mount namespace.
//!
//! The links and namespaces are made with iproute2 (`ip -batch`), two invocations per pod.
//! Names are derived from addresses, so they are stable across restarts and an agent that
//! starts after `kill -9` can find and remove what its predecessor left:
//! - the bridge `knb<network in hex>` (one per pod CIDR, so instances side by side differ);
//! - the pod's namespace `knet-<pod ip>` (under `/run/netns`);
//! - the host end of its veth `knv<pod ip in hex>`; the pod end is `eth0`.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The node side of the netns mode: the bridge and where pods' files are kept.
#[derive(Debug, Clone)]
pub struct Bridge {
    name: String,
    network: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
    dns: Ipv4Addr,
    cluster_domain: String,
    dir: PathBuf,
}

/// What a pod's processes enter before they run: its network namespace and the files bound
/// over `/etc/resolv.conf` and `/etc/hosts` in a private mount namespace.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// `/run/netns/knet-<ip>`.
    pub netns: PathBuf,
    /// The pod's resolv.conf.
    pub resolv_conf: PathBuf,
    /// The pod's hosts file.
    pub hosts: PathBuf,
    /// The host name inside the pod (its own UTS namespace).
    pub hostname: String,
}

const NETNS_DIR: &str = "/run/netns";

fn netns_name(ip: Ipv4Addr) -> String {
    format!("knet-{ip}")
}

fn veth_name(ip: Ipv4Addr) -> String {
    format!("knv{:08x}", u32::from(ip))
}

/// Runs `ip [global...] -batch -` with `commands` on stdin; with `force`, errors in one line
/// do not stop the others.
fn ip_batch(global: &[&str], commands: &str, force: bool) -> std::io::Result<()> {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(global);
    if force {
        cmd.arg("-force");
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("running ip (iproute2): {e}")))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(commands.as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() || force {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Bridge {
    /// The bridge of `pod_cidr`: its first host address is the gateway. Pods' resolv.conf
    /// names `dns`; their files live under `dir`.
    pub fn new(
        pod_cidr: &str,
        dns: Option<Ipv4Addr>,
        cluster_domain: &str,
        dir: PathBuf,
    ) -> Result<Self, String> {
        let (addr, len) = pod_cidr
            .split_once('/')
            .ok_or_else(|| format!("{pod_cidr}: missing /prefix"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("{pod_cidr}: IPv4 only"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|l| (8..=30).contains(l))
            .ok_or_else(|| format!("{pod_cidr}: prefix must be /8 to /30"))?;
        let network = Ipv4Addr::from(u32::from(addr) & (u32::MAX << (32 - prefix)));
        let gateway = Ipv4Addr::from(u32::from(network) + 1);
        Ok(Bridge {
            name: format!("knb{:08x}", u32::from(network)),
            network,
            prefix,
            gateway,
            dns: dns.unwrap_or(gateway),
            cluster_domain: cluster_domain.to_owned(),
            dir,
        })
    }

    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's address on the bridge (the pods' default gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == u32::from(self.network)
    }

    /// Creates the bridge with the gateway address, if it is not there yet, and removes every
    /// pod namespace of this pod CIDR that an earlier agent left behind.
    pub fn ensure(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let exists = Path::new("/sys/class/net").join(&self.name).exists();
        if !exists {
            ip_batch(
                &[],
                &format!("link add name {} type bridge\n", self.name),
                false,
            )?;
        }
        // `replace` keeps this idempotent across restarts.
        ip_batch(
            &[],
            &format!(
                "addr replace {}/{} dev {name}\nlink set {name} up\n",
                self.gateway,
                self.prefix,
                name = self.name
            ),
            false,
        )?;
        // As a bridge CNI needs them: the node routes between pods and the rest, and bridged
        // pod-to-pod packets pass through nftables so a Service's DNAT is undone on the reply.
        for (knob, what) in [
            ("/proc/sys/net/ipv4/ip_forward", "IP forwarding"),
            (
                "/proc/sys/net/bridge/bridge-nf-call-iptables",
                "bridge netfilter",
            ),
        ] {
            if let Err(err) = std::fs::write(knob, "1") {
                tracing::warn!(%err, knob, "cannot turn on {what}; Service traffic between pods may fail");
            }
        }
        self.reap_leftovers();
        Ok(())
    }

    /// Deletes every `knet-<ip>` namespace and `knv…` link of this pod CIDR.
    fn reap_leftovers(&self) {
        let mut cmds = String::new();
        if let Ok(entries) = std::fs::read_dir(NETNS_DIR) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(ip) = name
                    .strip_prefix("knet-")
                    .and_then(|i| i.parse::<Ipv4Addr>().ok())
                    .filter(|ip| self.contains(*ip))
                {
                    tracing::info!(netns = %name, "removing a pod network namespace left by an earlier agent");
                    cmds.push_str(&format!("netns delete {}\n", netns_name(ip)));
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(ip) = name
                    .strip_prefix("knv")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .map(Ipv4Addr::from)
                    .filter(|ip| self.contains(*ip))
                {
                    cmds.push_str(&format!("link delete {}\n", veth_name(ip)));
                }
            }
        }
        if !cmds.is_empty() {
            let _ = ip_batch(&[], &cmds, true);
        }
    }

    /// Makes the pod's namespace, veth pair, address, routes and files.
    pub fn setup_pod(
        &self,
        ip: Ipv4Addr,
        namespace: &str,
        hostname: &str,
    ) -> std::io::Result<Sandbox> {
        let ns = netns_name(ip);
        let veth = veth_name(ip);
        // Anything left under these names (an unclean stop) goes first.
        if Path::new(NETNS_DIR).join(&ns).exists() {
            let _ = ip_batch(&[], &format!("netns delete {ns}\n"), true);
        }
        if Path::new("/sys/class/net").join(&veth).exists() {
            let _ = ip_batch(&[], &format!("link delete {veth}\n"), true);
        }
        ip_batch(
            &[],
            &format!(
                "netns add {ns}\n\
                 link add {veth} type veth peer name eth0 netns {ns}\n\
                 link set {veth} master {br} up\n\
                 link set {veth} type bridge_slave hairpin on\n",
                br = self.name
            ),
            false,
        )?;
        ip_batch(
            &["-n", &ns],
            &format!(
                "link set lo up\n\
                 addr add {ip}/{prefix} dev eth0\n\
                 link set eth0 up\n\
                 route add default via {gw}\n",
                prefix = self.prefix,
                gw = self.gateway
            ),
            false,
        )
        .inspect_err(|_| self.teardown_pod(ip))?;
        let files = self.dir.join(&ns);
        std::fs::create_dir_all(&files)?;
        let resolv_conf = files.join("resolv.conf");
        let domain = &self.cluster_domain;
        std::fs::write(
            &resolv_conf,
            format!(
                "nameserver {}\nsearch {namespace}.svc.{domain} svc.{domain} {domain}\noptions ndots:5\n",
                self.dns
            ),
        )?;
        let hosts = files.join("hosts");
        std::fs::write(
            &hosts,
            format!(
                "# Kubernetes-managed hosts file (knet).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n"
            ),
        )?;
        Ok(Sandbox {
            netns: Path::new(NETNS_DIR).join(&ns),
            resolv_conf,
            hosts,
            hostname: hostname.to_owned(),
        })
    }

    /// Removes the pod's namespace (its veth pair goes with it) and files.
    pub fn teardown_pod(&self, ip: Ipv4Addr) {
        let ns = netns_name(ip);
        let _ = ip_batch(
            &[],
            &format!("netns delete {ns}\nlink delete {}\n", veth_name(ip)),
            true,
        );
        let _ = std::fs::remove_dir_all(self.dir.join(&ns));
    }

    /// Removes the bridge and anything of this pod CIDR still attached (the agent stops).
    pub fn teardown(&self) {
        self.reap_leftovers();
        let _ = ip_batch(&[], &format!("link delete {}\n", self.name), true);
    }
}

/// Prepares `cmd` to enter `sandbox` between fork and exec: the pod's network namespace, then
/// a private mount namespace with the pod's resolv.conf and hosts bound over the node's.
#[allow(unsafe_code)]
pub fn enter(cmd: &mut tokio::process::Command, sandbox: &Sandbox) -> std::io::Result<()> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, setns, unshare};
    let netns: OwnedFd = std::fs::File::open(&sandbox.netns)?.into();
    // Paths become C strings before the fork so the child allocates nothing.
    let c_path = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let resolv = c_path(&sandbox.resolv_conf)?;
    let hosts = c_path(&sandbox.hosts)?;
    let hostname = sandbox.hostname.clone();
    let to_io = |e: nix::Error| std::io::Error::from_raw_os_error(e as i32);
    // SAFETY: the closure runs in the forked child before exec and only makes system calls
    // (setns, unshare, sethostname, mount) on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            setns(&netns, CloneFlags::CLONE_NEWNET).map_err(to_io)?;
            unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS).map_err(to_io)?;
            nix::unistd::sethostname(&hostname).map_err(to_io)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(to_io)?;
            for (file, over) in [(&resolv, c"/etc/resolv.conf"), (&hosts, c"/etc/hosts")] {
                mount(
                    Some(file.as_c_str()),
                    over,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(to_io)?;
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_addresses() {
        let b = Bridge::new(
            "10.244.0.0/16",
            None,
            "cluster.local",
            PathBuf::from("/tmp"),
        )
        .expect("cidr");
        assert_eq!(b.name(), "knb0af40000");
        assert_eq!(b.gateway(), Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(veth_name(Ipv4Addr::new(10, 244, 0, 2)), "knv0af40002");
        assert!(veth_name(Ipv4Addr::new(255, 255, 255, 255)).len() <= 15);
        assert!(b.name().len() <= 15, "interface names are at most 15 bytes");
        assert!(b.contains(Ipv4Addr::new(10, 244, 3, 4)));
        assert!(!b.contains(Ipv4Addr::new(10, 245, 0, 1)));
    }
}
