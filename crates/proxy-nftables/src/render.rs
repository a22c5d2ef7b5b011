//! The pure part: [`ProxyState`] to an nft script.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use proxy::service::Protocol;
use proxy::topology;
use proxy::{Endpoint, ProxyState, ServicePort, ServicePortName};

use crate::{Config, Family, NftFamily as _};

/// knet's table's name, in each family (`ip`, `ip6`).
pub const TABLE: &str = "knet";

/// The masquerade mark (kube-proxy's bit 14).
const MASQ_MARK: &str = "0x4000";

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// `ns/name/proto/port-name`, the suffix of a service port's chains (nft allows `/` in
/// names; chain names stay well under nft's 256-character limit).
fn suffix(name: &ServicePortName) -> String {
    format!(
        "{}/{}/{}/{}",
        name.service.namespace,
        name.service.name,
        proto(name.protocol),
        if name.port.is_empty() {
            "-"
        } else {
            &name.port
        }
    )
}

/// An address as part of a name: nft identifiers have no `:`, so an IPv6 address is written
/// with `-` instead (`fd00--5`).
fn ip_name(ip: &IpAddr) -> String {
    ip.to_string().replace(':', "-")
}

fn endpoint_chain(name: &ServicePortName, ep: &Endpoint) -> String {
    format!("endpoint-{}__{}/{}", suffix(name), ip_name(&ep.ip), ep.port)
}

fn affinity_set(name: &ServicePortName, ep: &Endpoint) -> String {
    format!("affinity-{}__{}/{}", suffix(name), ip_name(&ep.ip), ep.port)
}

/// The dispatch maps, in the order they are declared.
const MAPS: [(&str, &str); 5] = [
    ("service-ips", "ipv4_addr . inet_proto . inet_service"),
    ("service-nodeports", "inet_proto . inet_service"),
    (
        "no-endpoint-services",
        "ipv4_addr . inet_proto . inet_service",
    ),
    ("no-endpoint-nodeports", "inet_proto . inet_service"),
    ("firewall-ips", "ipv4_addr . inet_proto . inet_service"),
];

/// The maps that hold endpoints (value `ip . port`): per protocol (nft reads a map's `typeof`
/// back from the kernel and then refuses a `th dport` that a rule's protocol match narrows),
/// the lean layout's frontend maps, keyed by the packet's destination and a numgen value, and
/// the numgen ranges of per-service chains. `(name, key)`; index [`data_map`].
const DATA_MAPS: [(&str, &str); 6] = [
    ("endpoints-tcp", "ip daddr . tcp dport"),
    ("endpoints-udp", "ip daddr . udp dport"),
    ("nodeport-endpoints-tcp", "tcp dport"),
    ("nodeport-endpoints-udp", "udp dport"),
    ("slot-endpoints-tcp", ""),
    ("slot-endpoints-udp", ""),
];

/// Frontend-address map, NodePort map, slot map.
const FRONTEND_MAP: usize = 0;
const NODEPORT_MAP: usize = 1;
const SLOT_MAP: usize = 2;

/// The index in [`DATA_MAPS`] of map kind `kind` for protocol `proto`.
pub(crate) fn data_map(kind: usize, proto: &str) -> usize {
    kind * 2 + usize::from(proto == "udp")
}

/// Which kind of address a shared pick chain serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Frontend {
    /// A ClusterIP: masqueraded only from outside the pod range.
    Cluster,
    /// A load-balancer or external IP: always masqueraded (Cluster policy).
    External,
    /// A NodePort on a node address: always masqueraded (Cluster policy).
    NodePort,
}

/// A shared pick chain of the lean layout: every frontend with `n` endpoints of one protocol
/// goes to the same chain, which picks `numgen random mod n` and looks the endpoint up by the
/// packet's own destination. So the chains stay few and each binds the big map once; a chain
/// per service that binds it costs the kernel time per element for every rule, which at
/// 10,000 services was most of a 14 s load (docs/benchmarks.md, "nftables sync").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pick {
    /// The frontend kind.
    pub frontend: Frontend,
    /// `tcp`, `udp` or `sctp`.
    pub proto: &'static str,
    /// How many endpoints.
    pub n: usize,
}

impl Pick {
    /// The chain's name, `pick-<frontend>-<proto>-<n>`.
    pub fn chain(&self) -> String {
        let f = match self.frontend {
            Frontend::Cluster => "cluster",
            Frontend::External => "external",
            Frontend::NodePort => "nodeport",
        };
        format!("pick-{f}-{}-{}", self.proto, self.n)
    }

    /// The chain's rules in `family`'s table; `pods` is the pod range (ClusterIP traffic from
    /// elsewhere is masqueraded, as kube-proxy does).
    pub fn rules(&self, family: Family, pods: Option<&str>) -> Vec<String> {
        let f = family.kw();
        let mut rules = Vec::new();
        let kind = match self.frontend {
            Frontend::Cluster => {
                if let Some(pods) = pods {
                    rules.push(format!("{f} saddr != {pods} jump mark-for-masquerade"));
                }
                FRONTEND_MAP
            }
            Frontend::External => {
                rules.push("jump mark-for-masquerade".to_owned());
                FRONTEND_MAP
            }
            Frontend::NodePort => {
                rules.push("jump mark-for-masquerade".to_owned());
                NODEPORT_MAP
            }
        };
        let (map, key) = DATA_MAPS[data_map(kind, self.proto)];
        rules.push(format!(
            "meta l4proto {} dnat {f} to {} . numgen random mod {} map @{map}",
            self.proto,
            key.replace("ip ", &format!("{f} ")),
            self.n
        ));
        rules
    }
}

/// What one service port contributes to the table. Chains are kept in creation order:
/// endpoint chains first, since the others jump to them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Chain name → its rules.
    pub chains: Vec<(String, Vec<String>)>,
    /// Set name → its declaration (type, flags, timeout), one statement per line.
    pub sets: Vec<(String, Vec<String>)>,
    /// Per map (index into `MAPS`): (key, verdict).
    pub elements: [Vec<(String, String)>; 5],
    /// The ClusterIPs, for `cluster-ips`.
    pub cluster_ips: Vec<IpAddr>,
    /// The endpoint addresses that may be on this node, for `hairpin` (`ip . ip`: a pod
    /// reaching itself, which only a pod here can do).
    pub endpoint_ips: Vec<IpAddr>,
    /// Elements of the endpoint maps (index into `DATA_MAPS`): (key, `ip . port`).
    pub data: [Vec<(String, String)>; 6],
    /// The shared pick chains its dispatch entries go to (lean layout).
    pub picks: Vec<Pick>,
}

impl Piece {
    /// A dispatch entry `key` to the shared pick chain over `eps`, and the endpoints under
    /// `data_key . i` in the chain's endpoint map.
    fn via_pick(
        &mut self,
        frontend: Frontend,
        proto: &'static str,
        (key, data_key): (String, String),
        eps: &[&Endpoint],
        node: &str,
    ) {
        let pick = Pick {
            frontend,
            proto,
            n: eps.len(),
        };
        let (map, data) = match frontend {
            Frontend::NodePort => (1, data_map(NODEPORT_MAP, proto)),
            Frontend::Cluster | Frontend::External => (0, data_map(FRONTEND_MAP, proto)),
        };
        for (i, ep) in eps.iter().enumerate() {
            self.data[data].push((
                format!("{data_key} . {i}"),
                format!("{} . {}", ep.ip, ep.port),
            ));
        }
        self.elements[map].push((key, format!("goto {}", pick.chain())));
        if !self.picks.contains(&pick) {
            self.picks.push(pick);
        }
        self.hairpin(eps, node);
    }

    /// Notes the endpoints of `eps` that may be on `node` (named so, or of no node), whose
    /// pods could reach themselves through the Service.
    fn hairpin(&mut self, eps: &[&Endpoint], node: &str) {
        self.endpoint_ips.extend(
            eps.iter()
                .filter(|e| e.node_name.as_deref().is_none_or(|n| n == node))
                .map(|e| e.ip),
        );
    }
}

/// How many numgen values a per-service pick chain owns in the `slot-endpoints` map; a chain
/// with more endpoints than this keeps an anonymous map of its own.
pub const SLOT: u32 = 1024;

/// Which range of the `slot-endpoints` map each per-service pick chain (session affinity or
/// externalTrafficPolicy Local) owns. One named map instead of an anonymous one per chain:
/// nft spends about 2 ms per anonymous map. Ranges given up by a sync are reused only from the next one on,
/// so one transaction never deletes and adds the same key for two chains.
#[derive(Debug, Default, Clone)]
pub struct Slots {
    by_chain: BTreeMap<String, u32>,
    free: Vec<u32>,
    released: Vec<u32>,
    next: u32,
}

impl Slots {
    fn get(&mut self, chain: &str) -> u32 {
        if let Some(base) = self.by_chain.get(chain) {
            return *base;
        }
        let base = self.free.pop().unwrap_or_else(|| {
            self.next += SLOT;
            self.next
        });
        self.by_chain.insert(chain.to_owned(), base);
        base
    }

    /// Gives up the range of a chain that is gone.
    pub fn release(&mut self, chain: &str) {
        if let Some(base) = self.by_chain.remove(chain) {
            self.released.push(base);
        }
    }

    /// Makes ranges released by earlier syncs available again (call before a sync).
    pub fn settle(&mut self) {
        self.free.append(&mut self.released);
    }
}

/// The piece of one service port.
pub fn piece(
    name: &ServicePortName,
    port: &ServicePort,
    state: &ProxyState,
    config: &Config,
    slots: &mut Slots,
) -> Piece {
    let mut out = Piece::default();
    if name.protocol == Protocol::Sctp {
        return out;
    }
    let p = proto(name.protocol);
    let family = config.family;
    let f = family.kw();
    // A dual-stack Service has endpoints of both families; this table takes its own.
    let all_eps = state.endpoints_of(name);
    let filtered: Vec<Endpoint>;
    let eps = if all_eps.iter().all(|e| family.has(&e.ip)) {
        all_eps
    } else {
        filtered = all_eps
            .iter()
            .filter(|e| family.has(&e.ip))
            .cloned()
            .collect();
        &filtered
    };
    let c = topology::categorize(eps, &config.node_name);
    let cluster_eps = topology::for_cluster_ip(port, &c);
    let external_eps = topology::for_external(port, &c);
    let sfx = suffix(name);
    out.cluster_ips = port
        .cluster_ips
        .iter()
        .filter(|ip| family.has(ip))
        .copied()
        .collect();
    // The lean layout: no chain of its own, dispatch entries to the shared pick chains. Session
    // affinity and externalTrafficPolicy Local need chains per service (and per endpoint).
    let lean = port.affinity.is_none() && !port.external_local;
    // With session affinity: endpoint chains and affinity sets, then the pick chains.
    if port.affinity.is_some() {
        let mut all: Vec<&Endpoint> = c.cluster.iter().chain(&c.local).copied().collect();
        all.sort();
        all.dedup();
        for ep in &all {
            endpoint(&mut out, name, port, ep, family);
        }
    }
    if !lean && !c.cluster.is_empty() {
        pick(
            &mut out,
            format!("service-{sfx}"),
            name,
            port,
            &c.cluster,
            config,
            slots,
        );
    }
    if !lean && !c.local.is_empty() {
        pick(
            &mut out,
            format!("local-{sfx}"),
            name,
            port,
            &c.local,
            config,
            slots,
        );
    }
    let cluster_target = if port.internal_local {
        format!("local-{sfx}")
    } else {
        format!("service-{sfx}")
    };
    // The external chain: masquerade (Cluster policy) or keep the source (Local policy).
    let has_external = port.node_port.is_some()
        || !port.external_ips.is_empty()
        || !port.load_balancer_ips.is_empty();
    // With the Local policy the external chain exists as long as the Service has endpoints
    // anywhere: pods and the node itself are sent to any endpoint (as kube-proxy
    // short-circuits them); only traffic from elsewhere needs a local endpoint, or is dropped.
    let external_chain = if port.external_local {
        !c.cluster.is_empty()
    } else {
        !external_eps.is_empty()
    };
    if !lean && has_external && external_chain {
        let mut rules = Vec::new();
        if port.external_local {
            if let Some(pods) = &config.pod_cidr {
                rules.push(format!("{f} saddr {pods} goto service-{sfx}"));
            }
            rules.push("fib saddr type local jump mark-for-masquerade".to_owned());
            rules.push(format!("fib saddr type local goto service-{sfx}"));
            if c.local.is_empty() {
                rules.push("drop".to_owned());
            } else {
                rules.push(format!("goto local-{sfx}"));
            }
        } else {
            rules.push("jump mark-for-masquerade".to_owned());
            rules.push(format!("goto service-{sfx}"));
        }
        out.chains.push((format!("external-{sfx}"), rules));
    }
    // Dispatch entries, or reject/drop when there is nowhere to go.
    let nowhere = if c.cluster.is_empty() {
        "goto reject-chain"
    } else {
        "drop"
    }
    .to_owned();
    for ip in &out.cluster_ips.clone() {
        let key = format!("{ip} . {p} . {}", port.port);
        if cluster_eps.is_empty() {
            out.elements[2].push((key, nowhere.clone()));
        } else if lean {
            let ep_key = format!("{ip} . {}", port.port);
            out.via_pick(
                Frontend::Cluster,
                p,
                (key, ep_key),
                &cluster_eps,
                &config.node_name,
            );
        } else {
            out.elements[0].push((key, format!("goto {cluster_target}")));
        }
    }
    for ip in port
        .external_ips
        .iter()
        .chain(&port.load_balancer_ips)
        .filter(|ip| family.has(ip))
    {
        let key = format!("{ip} . {p} . {}", port.port);
        if !external_chain {
            out.elements[2].push((key, nowhere.clone()));
        } else if lean {
            let ep_key = format!("{ip} . {}", port.port);
            out.via_pick(
                Frontend::External,
                p,
                (key, ep_key),
                &external_eps,
                &config.node_name,
            );
        } else {
            out.elements[0].push((key, format!("goto external-{sfx}")));
        }
    }
    // loadBalancerSourceRanges: traffic to the load-balancer addresses from elsewhere is
    // dropped before DNAT.
    let ranges: Vec<&str> = port
        .load_balancer_source_ranges
        .iter()
        .filter(|r| family.has_cidr(r))
        .map(String::as_str)
        .collect();
    if !ranges.is_empty() && !port.load_balancer_ips.is_empty() {
        let chain = format!("firewall-{sfx}");
        out.chains.push((
            chain.clone(),
            vec![format!("{f} saddr != {{ {} }} drop", ranges.join(", "))],
        ));
        for ip in port.load_balancer_ips.iter().filter(|ip| family.has(ip)) {
            let key = format!("{ip} . {p} . {}", port.port);
            out.elements[4].push((key, format!("goto {chain}")));
        }
    }
    if let Some(np) = port.node_port {
        let key = format!("{p} . {np}");
        if !external_chain {
            out.elements[3].push((key, nowhere.clone()));
        } else if lean {
            out.via_pick(
                Frontend::NodePort,
                p,
                (key, np.to_string()),
                &external_eps,
                &config.node_name,
            );
        } else {
            out.elements[1].push((key, format!("goto external-{sfx}")));
        }
    }
    out
}

/// Every service port's piece.
pub fn pieces(state: &ProxyState, config: &Config) -> BTreeMap<ServicePortName, Piece> {
    pieces_with(state, config, &mut Slots::default())
}

/// Every service port's piece, with ranges of the `endpoints` map from `slots`.
pub fn pieces_with(
    state: &ProxyState,
    config: &Config,
    slots: &mut Slots,
) -> BTreeMap<ServicePortName, Piece> {
    state
        .services
        .iter()
        .map(|(n, p)| (n.clone(), piece(n, p, state, config, slots)))
        .collect()
}

/// Renders the whole table: the old one is deleted and the new one made in one transaction.
pub fn render(state: &ProxyState, config: &Config) -> String {
    render_full(&pieces(state, config), config)
}

/// The shared pick chains `pieces` use.
pub fn picks(pieces: &BTreeMap<ServicePortName, Piece>) -> BTreeSet<Pick> {
    pieces
        .values()
        .flat_map(|p| p.picks.iter().copied())
        .collect()
}

fn write_chain(out: &mut String, chain: &str, rules: &[String]) {
    let _ = writeln!(out, "\tchain {chain} {{");
    for r in rules {
        let _ = writeln!(out, "\t\t{r}");
    }
    let _ = writeln!(out, "\t}}");
}

/// The full script for `pieces`.
pub fn render_full(pieces: &BTreeMap<ServicePortName, Piece>, config: &Config) -> String {
    let family = config.family;
    let (f, addr) = (family.kw(), family.addr_type());
    let mut out = String::new();
    let _ = writeln!(out, "table {f} {TABLE} {{}}");
    let _ = writeln!(out, "delete table {f} {TABLE}");
    let _ = writeln!(out, "table {f} {TABLE} {{");
    let elements = |items: Vec<String>| {
        if items.is_empty() {
            String::new()
        } else {
            format!("\t\telements = {{ {} }}\n", items.join(", "))
        }
    };
    let mut hairpin: Vec<IpAddr> = pieces
        .values()
        .flat_map(|p| p.endpoint_ips.iter().copied())
        .collect();
    hairpin.sort();
    hairpin.dedup();
    let _ = write!(
        out,
        "\tset hairpin {{\n\t\ttype {addr} . {addr}\n{}\t}}\n",
        elements(hairpin.iter().map(|ip| format!("{ip} . {ip}")).collect())
    );
    let mut ips: Vec<IpAddr> = pieces
        .values()
        .flat_map(|p| p.cluster_ips.iter().copied())
        .collect();
    ips.sort();
    ips.dedup();
    let _ = write!(
        out,
        "\tset cluster-ips {{\n\t\ttype {addr}\n{}\t}}\n",
        elements(ips.iter().map(ToString::to_string).collect())
    );
    // The endpoint maps are declared empty and filled at the end of the transaction: the
    // kernel works through a map's elements for every rule that binds it, so the fewer
    // elements at that moment the better (docs/benchmarks.md, "nftables sync").
    for (map, key) in DATA_MAPS {
        let value = if map.ends_with("udp") {
            format!("{f} daddr . udp dport")
        } else {
            format!("{f} daddr . tcp dport")
        };
        let key = if key.is_empty() {
            "numgen random mod 2".to_owned()
        } else {
            format!(
                "{} . numgen random mod 2",
                key.replace("ip ", &format!("{f} "))
            )
        };
        let _ = write!(out, "\tmap {map} {{\n\t\ttypeof {key} : {value}\n\t}}\n");
    }
    for (i, (map, key)) in MAPS.iter().enumerate() {
        let items = pieces
            .values()
            .flat_map(|p| p.elements[i].iter().map(|(k, v)| format!("{k} : {v}")))
            .collect();
        let _ = write!(
            out,
            "\tmap {map} {{\n\t\ttype {} : verdict\n{}\t}}\n",
            key.replace("ipv4_addr", addr),
            elements(items)
        );
    }
    for p in pieces.values() {
        for (set, decl) in &p.sets {
            let _ = writeln!(out, "\tset {set} {{");
            for line in decl {
                let _ = writeln!(out, "\t\t{line}");
            }
            let _ = writeln!(out, "\t}}");
        }
    }
    out.push_str(&base_chains(family));
    for pick in picks(pieces) {
        write_chain(
            &mut out,
            &pick.chain(),
            &pick.rules(family, config.pod_cidr.as_deref()),
        );
    }
    for p in pieces.values() {
        for (chain, rules) in &p.chains {
            write_chain(&mut out, chain, rules);
        }
    }
    out.push_str("}\n");
    for (i, (map, _)) in DATA_MAPS.iter().enumerate() {
        let items: Vec<String> = pieces
            .values()
            .flat_map(|p| p.data[i].iter().map(|(k, v)| format!("{k} : {v}")))
            .collect();
        if !items.is_empty() {
            let _ = writeln!(
                out,
                "add element {f} {TABLE} {map} {{ {} }}",
                items.join(", ")
            );
        }
    }
    out
}

/// `delete element` for what `old` has and `new` has not, `add element` for the reverse.
fn diff_elements(
    (del, add): (&mut String, &mut String),
    f: &str,
    map: &str,
    old: &[(String, String)],
    new: &[(String, String)],
) {
    for (k, v) in old {
        if !new.iter().any(|(k2, v2)| k2 == k && v2 == v) {
            let _ = writeln!(del, "delete element {f} {TABLE} {map} {{ {k} }}");
        }
    }
    for (k, v) in new {
        if !old.iter().any(|(k2, v2)| k2 == k && v2 == v) {
            let _ = writeln!(add, "add element {f} {TABLE} {map} {{ {k} : {v} }}");
        }
    }
}

/// A script that turns the table made from `old` into the one made from `new` (both holding
/// at least the `changed` service ports), touching only what differs: map and set elements,
/// the changed chains (flushed and refilled), new sets, and shared pick chains not yet in
/// `loaded` (which is updated). Every element is deleted before any is added, so a key that
/// moves between services in one sync does not clash.
/// Chains and sets that are gone are flushed now and listed in the returned leftovers, to be
/// deleted by the next sync (a kernel may still hold a reference to them for a moment).
pub fn render_partial(
    old: &BTreeMap<ServicePortName, Piece>,
    new: &BTreeMap<ServicePortName, Piece>,
    changed: &BTreeSet<ServicePortName>,
    leftovers: &Leftovers,
    loaded: &mut BTreeSet<Pick>,
    config: &Config,
) -> (String, Leftovers) {
    let f = config.family.kw();
    let mut out = String::new();
    let (mut del, mut add, mut flush) = (String::new(), String::new(), String::new());
    let empty = Piece::default();
    // What the new table still uses, so leftovers that came back are not deleted.
    let live_chains: BTreeSet<&str> = new
        .values()
        .flat_map(|p| p.chains.iter().map(|(c, _)| c.as_str()))
        .collect();
    let live_sets: BTreeSet<&str> = new
        .values()
        .flat_map(|p| p.sets.iter().map(|(s, _)| s.as_str()))
        .collect();
    for c in &leftovers.chains {
        if !live_chains.contains(c.as_str()) {
            let _ = writeln!(out, "delete chain {f} {TABLE} {c}");
        }
    }
    for s in &leftovers.sets {
        if !live_sets.contains(s.as_str()) {
            let _ = writeln!(out, "delete set {f} {TABLE} {s}");
        }
    }
    for pick in picks(new) {
        if loaded.insert(pick) {
            let chain = pick.chain();
            let _ = writeln!(out, "add chain {f} {TABLE} {chain}");
            for r in pick.rules(config.family, config.pod_cidr.as_deref()) {
                let _ = writeln!(out, "add rule {f} {TABLE} {chain} {r}");
            }
        }
    }
    let mut next = Leftovers::default();
    let mut old_ips = BTreeSet::new();
    let mut new_ips = BTreeSet::new();
    for p in old.values() {
        old_ips.extend(p.cluster_ips.iter().copied());
    }
    for p in new.values() {
        new_ips.extend(p.cluster_ips.iter().copied());
    }
    for name in changed {
        let (o, n) = (
            old.get(name).unwrap_or(&empty),
            new.get(name).unwrap_or(&empty),
        );
        if o == n {
            continue;
        }
        // New sets, then every new chain declared (so jumps resolve), then refilled.
        for (set, decl) in &n.sets {
            if !o.sets.iter().any(|(s, _)| s == set) {
                let _ = writeln!(out, "add set {f} {TABLE} {set} {{ {}; }}", decl.join("; "));
            }
        }
        for (chain, _) in &n.chains {
            let _ = writeln!(out, "add chain {f} {TABLE} {chain}");
        }
        for (chain, rules) in &n.chains {
            if o.chains.iter().any(|(c, r)| c == chain && r == rules) {
                continue;
            }
            let _ = writeln!(out, "flush chain {f} {TABLE} {chain}");
            for r in rules {
                let _ = writeln!(out, "add rule {f} {TABLE} {chain} {r}");
            }
        }
        for (i, (map, _)) in MAPS.iter().enumerate() {
            diff_elements((&mut del, &mut add), f, map, &o.elements[i], &n.elements[i]);
        }
        for (i, (map, _)) in DATA_MAPS.iter().enumerate() {
            diff_elements((&mut del, &mut add), f, map, &o.data[i], &n.data[i]);
        }
        for (chain, _) in &o.chains {
            if !n.chains.iter().any(|(c, _)| c == chain) {
                let _ = writeln!(flush, "flush chain {f} {TABLE} {chain}");
                next.chains.push(chain.clone());
            }
        }
        for (set, _) in &o.sets {
            if !n.sets.iter().any(|(s, _)| s == set) {
                next.sets.push(set.clone());
            }
        }
    }
    for ip in old_ips.difference(&new_ips) {
        let _ = writeln!(del, "delete element {f} {TABLE} cluster-ips {{ {ip} }}");
    }
    // Hairpin pairs only ever match a packet DNATed back to its own source, so a pair left
    // behind by a gone endpoint is harmless; new ones are added (re-adding is a no-op).
    let old_eps: BTreeSet<IpAddr> = old
        .values()
        .flat_map(|p| p.endpoint_ips.iter().copied())
        .collect();
    let new_eps: BTreeSet<IpAddr> = new
        .values()
        .flat_map(|p| p.endpoint_ips.iter().copied())
        .collect();
    for ip in new_eps.difference(&old_eps) {
        let _ = writeln!(add, "add element {f} {TABLE} hairpin {{ {ip} . {ip} }}");
    }
    for ip in new_ips.difference(&old_ips) {
        let _ = writeln!(add, "add element {f} {TABLE} cluster-ips {{ {ip} }}");
    }
    out.push_str(&del);
    out.push_str(&add);
    out.push_str(&flush);
    (out, next)
}

/// Chains and sets flushed by one partial sync, deleted by the next.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Chains to delete.
    pub chains: Vec<String>,
    /// Sets to delete.
    pub sets: Vec<String>,
}

/// The chains every table has: hooks, dispatch, no-endpoint checks, masquerading.
fn base_chains(family: Family) -> String {
    let (f, lo) = (family.kw(), family.loopback());
    format!(
        "\tchain reject-chain {{\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject\n\t}}\n\
         \tchain mark-for-masquerade {{\n\t\tmeta mark set meta mark or {MASQ_MARK}\n\t}}\n\
         \tchain masquerading {{\n\t\tct status dnat {f} saddr . {f} daddr @hairpin masquerade\n\t\tmeta mark & {MASQ_MARK} == 0 return\n\t\tmeta mark set meta mark xor {MASQ_MARK}\n\t\tmasquerade fully-random\n\t}}\n\
         \tchain services {{\n\t\t{f} daddr . meta l4proto . th dport vmap @service-ips\n\t\tfib daddr type local {f} daddr != {lo} meta l4proto . th dport vmap @service-nodeports\n\t}}\n\
         \tchain endpoints-check {{\n\t\t{f} daddr . meta l4proto . th dport vmap @no-endpoint-services\n\t\tfib daddr type local {f} daddr != {lo} meta l4proto . th dport vmap @no-endpoint-nodeports\n\t}}\n\
         \tchain cluster-ips-check {{\n\t\t{f} daddr @cluster-ips reject\n\t}}\n\
         \tchain firewall-check {{\n\t\t{f} daddr . meta l4proto . th dport vmap @firewall-ips\n\t}}\n\
         \tchain filter-prerouting {{\n\t\ttype filter hook prerouting priority -110; policy accept;\n\t\tct state new jump firewall-check\n\t}}\n\
         \tchain nat-prerouting {{\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-postrouting {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tjump masquerading\n\t}}\n\
         \tchain filter-input {{\n\t\ttype filter hook input priority -110; policy accept;\n\t\tct state new jump endpoints-check\n\t}}\n\
         \tchain filter-forward {{\n\t\ttype filter hook forward priority -110; policy accept;\n\t\tct state new jump endpoints-check\n\t\tct state new jump cluster-ips-check\n\t}}\n\
         \tchain filter-output {{\n\t\ttype filter hook output priority -110; policy accept;\n\t\tct state new jump firewall-check\n\t\tct state new jump endpoints-check\n\t}}\n\
         \tchain filter-output-post-dnat {{\n\t\ttype filter hook output priority -90; policy accept;\n\t\tct state new jump cluster-ips-check\n\t}}\n"
    )
}

/// A chain that picks one of `eps` at random (after the affinity sets, if any).
fn pick(
    out: &mut Piece,
    chain: String,
    name: &ServicePortName,
    port: &ServicePort,
    eps: &[&Endpoint],
    config: &Config,
    slots: &mut Slots,
) {
    let family = config.family;
    let f = family.kw();
    let mut rules = Vec::new();
    if let Some(pods) = &config.pod_cidr {
        for ip in port.cluster_ips.iter().filter(|ip| family.has(ip)) {
            rules.push(format!(
                "{f} daddr {ip} {} dport {} {f} saddr != {pods} jump mark-for-masquerade",
                proto(name.protocol),
                port.port
            ));
        }
    }
    if port.affinity.is_none() {
        // No affinity (externalTrafficPolicy Local): the chain DNATs through its range of
        // `slot-endpoints`. A pod reaching itself through its Service (hairpin) is masqueraded
        // in postrouting through the global `hairpin` set.
        out.hairpin(eps, &config.node_name);
        if eps.len() <= SLOT as usize {
            let base = slots.get(&chain);
            for (i, ep) in eps.iter().enumerate() {
                out.data[data_map(SLOT_MAP, proto(name.protocol))].push((
                    (base + i as u32).to_string(),
                    format!("{} . {}", ep.ip, ep.port),
                ));
            }
            rules.push(format!(
                "meta l4proto {} dnat {f} to numgen random mod {} offset {base} map @slot-endpoints-{}",
                proto(name.protocol),
                eps.len(),
                proto(name.protocol)
            ));
            out.chains.push((chain, rules));
            return;
        }
        let arms: Vec<String> = eps
            .iter()
            .enumerate()
            .map(|(i, ep)| format!("{i} : {} . {}", ep.ip, ep.port))
            .collect();
        rules.push(format!(
            "meta l4proto {} dnat {f} to numgen random mod {} map {{ {} }}",
            proto(name.protocol),
            eps.len(),
            arms.join(", ")
        ));
        out.chains.push((chain, rules));
        return;
    }
    for ep in eps {
        rules.push(format!(
            "{f} saddr @{} goto {}",
            affinity_set(name, ep),
            endpoint_chain(name, ep)
        ));
    }
    let arms: Vec<String> = eps
        .iter()
        .enumerate()
        .map(|(i, ep)| format!("{i} : goto {}", endpoint_chain(name, ep)))
        .collect();
    rules.push(format!(
        "numgen random mod {} vmap {{ {} }}",
        eps.len(),
        arms.join(", ")
    ));
    out.chains.push((chain, rules));
}

/// An endpoint's chain (hairpin masquerade, affinity, DNAT) and its affinity set.
fn endpoint(
    out: &mut Piece,
    name: &ServicePortName,
    port: &ServicePort,
    ep: &Endpoint,
    family: Family,
) {
    let f = family.kw();
    let mut rules = vec![format!("{f} saddr {} jump mark-for-masquerade", ep.ip)];
    if let Some(timeout) = port.affinity {
        let set = affinity_set(name, ep);
        rules.push(format!("update @{set} {{ {f} saddr }}"));
        out.sets.push((
            set,
            vec![
                format!("type {}", family.addr_type()),
                "flags dynamic,timeout".to_owned(),
                format!("timeout {}s", timeout.as_secs()),
            ],
        ));
    }
    // `ip:port`, or `[ip6]:port`.
    rules.push(format!(
        "meta l4proto {} dnat to {}",
        proto(name.protocol),
        ep.addr()
    ));
    out.chains.push((endpoint_chain(name, ep), rules));
}

#[cfg(test)]
mod tests;
