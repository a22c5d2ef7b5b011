//! The iptables proxy mode, in kube-proxy's iptables layout (§A.3 of the reference): chains
//! `KNET-SERVICES`, `KNET-NODEPORTS`, `KNET-POSTROUTING`, `KNET-MARK-MASQ` in `nat`, a
//! `KNET-SVC-…` chain per service port that picks an endpoint with `statistic --mode random
//! --probability 1/(n-i)` (and `recent` for ClientIP affinity), a `KNET-SEP-…` chain per
//! endpoint that DNATs, and `KNET-SERVICES` in `filter` rejecting Services without endpoints.
//!
//! [`render`] is pure; an [`IptablesExecutor`] loads the result with `iptables-restore
//! --noflush` (only knet's chains are rewritten) and keeps the jumps from the built-in chains.
//! A sync after a successful one rewrites only the changed Services' own chains, as
//! kube-proxy's partial syncs do (the dispatch chains are always written whole); the first
//! sync, the periodic one and any after a failure are full. The chain layout is in this crate's README.md. An [`Iptables`]
//! dataplane serves one family (`iptables` or `ip6tables`); run one per family under
//! `proxy::PerFamily`, as kube-proxy does.

mod render;
pub mod trace;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use proxy::runner::SyncError;
use proxy::{Changes, Dataplane, ProxyState};

pub use render::{render, render_partial};

pub use proxy::Family;

/// What the renderer needs besides the state.
#[derive(Debug, Clone)]
pub struct Config {
    /// The family these rules are for: `iptables` holds IPv4, `ip6tables` IPv6.
    pub family: Family,
    /// This node's name, for the `Local` traffic policies.
    pub node_name: String,
    /// The pod range of this family: traffic from elsewhere to a ClusterIP is masqueraded.
    pub pod_cidr: Option<String>,
}

/// Why iptables refused.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// A binary is missing or could not be started.
    #[error("running {0}: {1} (install the Debian package iptables)")]
    Spawn(&'static str, std::io::Error),
    /// The rules were refused.
    #[error("{0}: {1}")]
    Rejected(&'static str, String),
}

/// Loads rules.
pub trait IptablesExecutor: Send {
    /// `iptables-restore --noflush` of `rules`.
    fn restore(&mut self, rules: &str) -> Result<(), IptablesError>;
    /// Makes sure the built-in chains jump to knet's (`table`, `chain`, `rule` as arguments).
    fn ensure_jump(&mut self, table: &str, chain: &str, rule: &[&str])
    -> Result<(), IptablesError>;
    /// Removes every copy of a jump `ensure_jump` made.
    fn delete_jump(&mut self, table: &str, chain: &str, rule: &[&str])
    -> Result<(), IptablesError>;
    /// The names of knet's chains now in `table`.
    fn knet_chains(&mut self, table: &str) -> Result<BTreeSet<String>, IptablesError>;
}

/// The real executor, for one family.
#[derive(Debug, Default)]
pub struct IptablesCli(pub Family);

/// The tools of a family: (`iptables`, `iptables-restore`, `iptables-save`).
fn tools(family: Family) -> (&'static str, &'static str, &'static str) {
    match family {
        Family::V4 => ("iptables", "iptables-restore", "iptables-save"),
        Family::V6 => ("ip6tables", "ip6tables-restore", "ip6tables-save"),
    }
}

fn run(
    name: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<std::process::Output, IptablesError> {
    let mut child = Command::new(name)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| IptablesError::Spawn(name, e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| IptablesError::Spawn(name, e))?;
    }
    child
        .wait_with_output()
        .map_err(|e| IptablesError::Spawn(name, e))
}

/// Runs `name` and fails with its stderr, labelled `what`, unless it exits 0.
fn run_ok(
    name: &'static str,
    what: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<(), IptablesError> {
    let out = run(name, args, stdin)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IptablesError::Rejected(
            what,
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

impl IptablesCli {
    /// Checks that `iptables-restore` (or `ip6tables-restore`) runs here.
    pub fn check(family: Family) -> Result<IptablesCli, IptablesError> {
        run(tools(family).1, &["--version"], None)?;
        Ok(IptablesCli(family))
    }
}

impl IptablesExecutor for IptablesCli {
    fn restore(&mut self, rules: &str) -> Result<(), IptablesError> {
        let restore = tools(self.0).1;
        run_ok(restore, restore, &["--noflush"], Some(rules))
    }

    fn ensure_jump(
        &mut self,
        table: &str,
        chain: &str,
        rule: &[&str],
    ) -> Result<(), IptablesError> {
        let iptables = tools(self.0).0;
        let mut check = vec!["-w", "-t", table, "-C", chain];
        check.extend_from_slice(rule);
        if run(iptables, &check, None)?.status.success() {
            return Ok(());
        }
        let mut insert = vec!["-w", "-t", table, "-I", chain];
        insert.extend_from_slice(rule);
        run_ok(iptables, "iptables -I", &insert, None)
    }

    fn delete_jump(
        &mut self,
        table: &str,
        chain: &str,
        rule: &[&str],
    ) -> Result<(), IptablesError> {
        let mut del = vec!["-w", "-t", table, "-D", chain];
        del.extend_from_slice(rule);
        while run(tools(self.0).0, &del, None)?.status.success() {}
        Ok(())
    }

    fn knet_chains(&mut self, table: &str) -> Result<BTreeSet<String>, IptablesError> {
        let out = run(tools(self.0).2, &["-t", table], None)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| c.starts_with("KNET-"))
            .map(str::to_owned)
            .collect())
    }
}

/// The jump from the nat table's built-in chains into knet's.
const NAT_JUMP: &[&str] = &[
    "-m",
    "comment",
    "--comment",
    "knet service portals",
    "-j",
    "KNET-SERVICES",
];

/// The jump from the filter table's built-in chains, for new connections only.
const FILTER_JUMP: &[&str] = &[
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "comment",
    "--comment",
    "knet service portals",
    "-j",
    "KNET-SERVICES",
];

/// The jumps from the built-in chains into knet's: (table, built-in chain, rule).
const JUMPS: [(&str, &str, &[&str]); 6] = [
    ("nat", "PREROUTING", NAT_JUMP),
    ("nat", "OUTPUT", NAT_JUMP),
    (
        "nat",
        "POSTROUTING",
        &[
            "-m",
            "comment",
            "--comment",
            "knet postrouting rules",
            "-j",
            "KNET-POSTROUTING",
        ],
    ),
    ("filter", "INPUT", FILTER_JUMP),
    ("filter", "FORWARD", FILTER_JUMP),
    ("filter", "OUTPUT", FILTER_JUMP),
];

/// The iptables [`Dataplane`].
pub struct Iptables<E: IptablesExecutor> {
    config: Config,
    exec: E,
    /// Whether the last sync succeeded (so the kernel holds every chain of the state before
    /// this change).
    synced: bool,
}

impl<E: IptablesExecutor> std::fmt::Debug for Iptables<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iptables")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<E: IptablesExecutor> Iptables<E> {
    /// A dataplane that loads through `exec`.
    pub fn new(config: Config, exec: E) -> Self {
        Iptables {
            config,
            exec,
            synced: false,
        }
    }

    /// Removes every knet chain and the jumps to them (on stop, or when another mode runs).
    pub fn cleanup(&mut self) -> Result<(), IptablesError> {
        for (table, chain, rule) in JUMPS {
            self.exec.delete_jump(table, chain, rule)?;
        }
        for table in ["nat", "filter"] {
            let chains = self.exec.knet_chains(table)?;
            if chains.is_empty() {
                continue;
            }
            let mut rules = format!("*{table}\n");
            for c in &chains {
                rules.push_str(&format!(":{c} - [0:0]\n"));
            }
            for c in &chains {
                rules.push_str(&format!("-X {c}\n"));
            }
            rules.push_str("COMMIT\n");
            self.exec.restore(&rules)?;
        }
        Ok(())
    }
}

impl<E: IptablesExecutor> Dataplane for Iptables<E> {
    async fn sync(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError> {
        let err = |e: IptablesError| SyncError(e.to_string());
        let only = (self.synced && !changes.full).then_some(&changes.services);
        self.synced = false;
        tokio::task::block_in_place(|| {
            let existing = self.exec.knet_chains("nat").map_err(err)?;
            let rules = render_partial(state, &self.config, &existing, only);
            self.exec.restore(&rules).map_err(err)?;
            for (table, chain, rule) in JUMPS {
                self.exec.ensure_jump(table, chain, rule).map_err(err)?;
            }
            Ok::<(), SyncError>(())
        })?;
        self.synced = true;
        Ok(())
    }
}
