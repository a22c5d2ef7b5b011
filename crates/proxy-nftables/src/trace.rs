//! The packet tracer: where a new connection would go through the rules [`render`] makes,
//! found by walking the same maps and chains (`Piece`s) the kernel is given. Tests compare it
//! with the kernel's own choices.
//!
//! [`render`]: crate::render

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use proxy::ServicePortName;

use crate::render::Piece;

use proxy::trace::in_cidr;
pub use proxy::trace::{Packet, Verdict};

fn lookup<'a>(
    pieces: &'a BTreeMap<ServicePortName, Piece>,
    map: usize,
    key: &str,
) -> Option<&'a str> {
    pieces
        .values()
        .flat_map(|p| p.elements[map].iter())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A chain's rules: a service's own, or a shared pick chain's.
fn chain(pieces: &BTreeMap<ServicePortName, Piece>, name: &str) -> Option<Vec<String>> {
    if let Some((_, rules)) = pieces
        .values()
        .flat_map(|p| p.chains.iter())
        .find(|(c, _)| c == name)
    {
        return Some(rules.clone());
    }
    pieces
        .values()
        .flat_map(|p| p.picks.iter())
        .find(|p| p.chain() == name)
        .map(|p| p.rules(crate::Family::V4, None))
}

/// The endpoints stored under `prefix . 0` … `prefix . n-1` in endpoint map `map`.
fn data(
    pieces: &BTreeMap<ServicePortName, Piece>,
    map: usize,
    keys: impl Iterator<Item = String>,
) -> BTreeSet<SocketAddr> {
    keys.filter_map(|k| {
        let v = pieces
            .values()
            .flat_map(|p| p.data[map].iter())
            .find(|(key, _)| *key == k)?;
        let (ip, port) = v.1.split_once(" . ")?;
        Some(SocketAddr::new(
            ip.trim().parse().ok()?,
            port.trim().parse().ok()?,
        ))
    })
    .collect()
}

/// The addresses between `{` and `}` of a rule, and what follows the closing brace.
fn braces(rule: &str) -> Option<(Vec<&str>, &str)> {
    let open = rule.find('{')?;
    let close = rule[open..].find('}')? + open;
    let items = rule[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    Some((items, &rule[close + 1..]))
}

/// Follows a verdict (`goto X`, `drop`, `goto reject-chain`).
fn verdict(
    pieces: &BTreeMap<ServicePortName, Piece>,
    v: &str,
    pkt: &Packet,
    depth: u32,
) -> Verdict {
    match v.trim() {
        "drop" => Verdict::Drop,
        "goto reject-chain" => Verdict::Reject,
        other => match other.strip_prefix("goto ") {
            Some(c) => run_chain(pieces, c, pkt, depth + 1),
            None => Verdict::Untouched,
        },
    }
}

/// Runs a service, local, external, firewall or endpoint chain.
fn run_chain(
    pieces: &BTreeMap<ServicePortName, Piece>,
    name: &str,
    pkt: &Packet,
    depth: u32,
) -> Verdict {
    if depth > 8 {
        return Verdict::Untouched;
    }
    let Some(rules) = chain(pieces, name) else {
        return Verdict::Untouched;
    };
    for rule in &rules {
        // Both families' rules read alike once `ip6` is read as `ip`.
        let rule = rule.replace("ip6 ", "ip ");
        let r = rule.as_str();
        // Marks change nothing about where the packet goes.
        if r.ends_with("jump mark-for-masquerade") || r.starts_with("update @") {
            continue;
        }
        if let Some(rest) = r.strip_prefix("ip saddr != {") {
            let ranges: Vec<&str> = rest
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .collect();
            if !ranges.iter().any(|c| in_cidr(pkt.src, c)) {
                return Verdict::Drop;
            }
            continue;
        }
        if r.starts_with("ip saddr @") {
            // Affinity: a fresh client is in no set.
            continue;
        }
        if let Some((cidr, target)) = r
            .strip_prefix("ip saddr ")
            .and_then(|rest| rest.split_once(" goto "))
        {
            if in_cidr(pkt.src, cidr) {
                return run_chain(pieces, target, pkt, depth + 1);
            }
            continue;
        }
        if let Some(target) = r.strip_prefix("fib saddr type local goto ") {
            if pkt.src_local {
                return run_chain(pieces, target, pkt, depth + 1);
            }
            continue;
        }
        if let Some(target) = r.strip_prefix("goto ") {
            return run_chain(pieces, target, pkt, depth + 1);
        }
        if r == "drop" {
            return Verdict::Drop;
        }
        // The shared pick chains: keyed by the packet's own destination (and numgen).
        let modulo = |rest: &str| -> u32 {
            rest.split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0)
        };
        if let Some(rest) = r.split(" dport . numgen random mod ").nth(1) {
            let n = modulo(rest);
            let eps = if rest.contains("map @nodeport-endpoints-") {
                let key = pkt.dst.port();
                let map = crate::render::data_map(1, pkt.proto);
                data(pieces, map, (0..n).map(|i| format!("{key} . {i}")))
            } else {
                let key = format!("{} . {}", pkt.dst.ip(), pkt.dst.port());
                let map = crate::render::data_map(0, pkt.proto);
                data(pieces, map, (0..n).map(|i| format!("{key} . {i}")))
            };
            return Verdict::Dnat(eps);
        }
        if let Some(rest) = r.split(" dnat ip to numgen random mod ").nth(1)
            && rest.contains("map @slot-endpoints-")
        {
            // `N offset BASE map @slot-endpoints-P`: values BASE..BASE+N.
            let n = modulo(rest);
            let base: u32 = rest
                .split_whitespace()
                .nth(2)
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            let map = crate::render::data_map(2, pkt.proto);
            return Verdict::Dnat(data(pieces, map, (base..base + n).map(|k| k.to_string())));
        }
        if r.contains(" dnat ip to numgen ") {
            let (items, _) = braces(r).unwrap_or_default();
            let eps = items
                .iter()
                .filter_map(|i| {
                    let (_, ep) = i.split_once(':')?;
                    let (ip, port) = ep.split_once(" . ")?;
                    Some(SocketAddr::new(
                        ip.trim().parse().ok()?,
                        port.trim().parse().ok()?,
                    ))
                })
                .collect();
            return Verdict::Dnat(eps);
        }
        if r.contains("numgen random mod") && r.contains("vmap") {
            let (items, _) = braces(r).unwrap_or_default();
            let mut all = BTreeSet::new();
            for i in items {
                if let Some((_, v)) = i.split_once(" : ")
                    && let Verdict::Dnat(eps) = verdict(pieces, v, pkt, depth)
                {
                    all.extend(eps);
                }
            }
            return Verdict::Dnat(all);
        }
        if let Some(rest) = r.split(" dnat to ").nth(1) {
            return match rest.trim().parse() {
                Ok(ep) => Verdict::Dnat([ep].into()),
                Err(_) => Verdict::Untouched,
            };
        }
    }
    Verdict::Untouched
}

/// Where `pkt` goes through the table made from `pieces`: the source-range firewall, the
/// no-endpoint maps, then the service dispatch maps, in the order the hooks run them.
pub fn trace(pieces: &BTreeMap<ServicePortName, Piece>, pkt: &Packet) -> Verdict {
    let key = format!("{} . {} . {}", pkt.dst.ip(), pkt.proto, pkt.dst.port());
    let np_key = format!("{} . {}", pkt.proto, pkt.dst.port());
    let local = pkt.dst_local && !pkt.dst.ip().is_loopback();
    // filter prerouting/output: firewall-check.
    if let Some(v) = lookup(pieces, 4, &key)
        && let d @ Verdict::Drop = verdict(pieces, v, pkt, 0)
    {
        return d;
    }
    // nat: services; then filter: endpoints-check for what is left.
    if let Some(v) = lookup(pieces, 0, &key) {
        return verdict(pieces, v, pkt, 0);
    }
    if local && let Some(v) = lookup(pieces, 1, &np_key) {
        return verdict(pieces, v, pkt, 0);
    }
    if let Some(v) = lookup(pieces, 2, &key) {
        return verdict(pieces, v, pkt, 0);
    }
    if local && let Some(v) = lookup(pieces, 3, &np_key) {
        return verdict(pieces, v, pkt, 0);
    }
    if pieces
        .values()
        .any(|p| p.cluster_ips.contains(&pkt.dst.ip()))
    {
        // cluster-ips-check: a ClusterIP port nobody serves.
        return Verdict::Reject;
    }
    Verdict::Untouched
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use proxy::service::{Protocol, ServiceKey};
    use proxy::{Endpoint, ProxyState, ServicePort};

    use std::net::IpAddr;

    use super::*;
    use crate::{Config, pieces};

    fn name(n: &str) -> ServicePortName {
        ServicePortName {
            service: ServiceKey {
                namespace: "ns".into(),
                name: n.into(),
            },
            port: String::new(),
            protocol: Protocol::Tcp,
        }
    }

    fn ep(ip: &str, node: &str) -> Endpoint {
        Endpoint {
            node_name: Some(node.into()),
            ..Endpoint::ready(ip.parse().expect("ip"), 8080)
        }
    }

    fn pkt(src: &str, dst: &str) -> Packet {
        Packet {
            src: src.parse().expect("src"),
            proto: "tcp",
            dst: dst.parse().expect("dst"),
            src_local: false,
            dst_local: false,
        }
    }

    fn table() -> BTreeMap<ServicePortName, Piece> {
        let mut s = ProxyState::default();
        let ip = |a: &str| a.parse::<IpAddr>().expect("ip");
        let mut add = |n: &str, port: ServicePort, eps: Vec<Endpoint>| {
            s.services.insert(name(n), Arc::new(port));
            if !eps.is_empty() {
                s.endpoints.insert(name(n), Arc::new(eps));
            }
        };
        add(
            "web",
            ServicePort::cluster_ip(ip("10.96.0.10"), 80),
            vec![ep("10.244.0.2", "n1"), ep("10.244.0.3", "n2")],
        );
        add(
            "empty",
            ServicePort::cluster_ip(ip("10.96.0.11"), 80),
            vec![],
        );
        add(
            "local",
            ServicePort {
                node_port: Some(30080),
                external_local: true,
                ..ServicePort::cluster_ip(ip("10.96.0.12"), 80)
            },
            vec![ep("10.244.1.2", "n2")],
        );
        add(
            "sticky",
            ServicePort {
                affinity: Some(Duration::from_secs(60)),
                ..ServicePort::cluster_ip(ip("10.96.0.13"), 80)
            },
            vec![ep("10.244.0.4", "n1"), ep("10.244.0.5", "n1")],
        );
        add(
            "fw",
            ServicePort {
                load_balancer_ips: vec![ip("10.240.0.1")],
                load_balancer_source_ranges: vec!["192.0.2.0/24".into()],
                ..ServicePort::cluster_ip(ip("10.96.0.14"), 80)
            },
            vec![ep("10.244.0.6", "n1")],
        );
        pieces(
            &s,
            &Config {
                family: Default::default(),
                node_name: "n1".into(),
                pod_cidr: Some("10.244.0.0/16".into()),
                node_ip: ip("192.0.2.1"),
            },
        )
    }

    fn dnat(eps: &[&str]) -> Verdict {
        Verdict::Dnat(eps.iter().map(|e| e.parse().expect("addr")).collect())
    }

    #[test]
    fn the_tracer_follows_maps_and_chains() {
        let t = table();
        let cases = [
            (
                pkt("10.244.9.9", "10.96.0.10:80"),
                dnat(&["10.244.0.2:8080", "10.244.0.3:8080"]),
            ),
            (pkt("10.244.9.9", "10.96.0.10:81"), Verdict::Reject),
            (pkt("10.244.9.9", "10.96.0.11:80"), Verdict::Reject),
            (
                pkt("10.244.9.9", "10.96.0.13:80"),
                dnat(&["10.244.0.4:8080", "10.244.0.5:8080"]),
            ),
            (
                pkt("192.0.2.7", "10.240.0.1:80"),
                dnat(&["10.244.0.6:8080"]),
            ),
            (pkt("198.51.100.7", "10.240.0.1:80"), Verdict::Drop),
            (pkt("10.244.9.9", "10.1.2.3:80"), Verdict::Untouched),
        ];
        for (p, want) in cases {
            assert_eq!(trace(&t, &p), want, "{p:?}");
        }
        // NodePort with externalTrafficPolicy Local, on a node without endpoints: dropped from
        // outside, but a pod still reaches the Service.
        let mut np = pkt("198.51.100.7", "192.0.2.1:30080");
        np.dst_local = true;
        assert_eq!(trace(&t, &np), Verdict::Drop);
        np.src = "10.244.0.9".parse().expect("ip");
        // A pod still reaches the Service's endpoints on other nodes (kube-proxy's
        // short-circuit of pod traffic).
        assert_eq!(trace(&t, &np), dnat(&["10.244.1.2:8080"]));
    }
}
