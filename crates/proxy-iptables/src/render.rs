//! The pure part: [`ProxyState`] to `iptables-restore` input.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::hash::{Hash as _, Hasher as _};

use proxy::service::Protocol;
use proxy::{Endpoint, ProxyState, ServicePortName, topology};

use crate::Config;

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// `PREFIX-` and 16 hex digits of a stable hash of `what` (iptables chain names are at most
/// 28 characters; kube-proxy hashes the same way, with SHA-256 and base32).
fn chain(prefix: &str, what: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    what.hash(&mut h);
    format!("{prefix}-{:016X}", h.finish())
}

fn svc_chain(name: &ServicePortName) -> String {
    chain("KNET-SVC", &name.to_string())
}

fn sep_chain(name: &ServicePortName, ep: &Endpoint) -> String {
    chain("KNET-SEP", &format!("{name}/{}", ep.addr()))
}

/// The `-m statistic` probability of endpoint `i` of `n`, as kube-proxy formats it.
fn probability(i: usize, n: usize) -> String {
    format!("{:.10}", 1.0 / (n - i) as f64)
}

/// The restore input for `state`; chains in `existing` that are no longer needed are deleted.
pub fn render(state: &ProxyState, config: &Config, existing: &BTreeSet<String>) -> String {
    render_partial(state, config, existing, None)
}

/// [`render`], rewriting only the per-service chains (`KNET-SVC-`, `KNET-SEP-`, `KNET-FW-`)
/// of the Services in `only`, as kube-proxy's partial syncs do: `iptables-restore --noflush`
/// leaves the chains the input does not name as they are. The dispatch chains
/// (`KNET-SERVICES`, `KNET-NODEPORTS`, …) are always written whole. `None`: everything.
pub fn render_partial(
    state: &ProxyState,
    config: &Config,
    existing: &BTreeSet<String>,
    only: Option<&BTreeSet<proxy::ServiceKey>>,
) -> String {
    // Chains of unchanged Services: kept as they are in the kernel (neither declared, which
    // would flush them, nor deleted).
    let mut kept: BTreeSet<String> = BTreeSet::new();
    let mut chains: BTreeSet<String> = [
        "KNET-SERVICES",
        "KNET-NODEPORTS",
        "KNET-POSTROUTING",
        "KNET-MARK-MASQ",
        "KNET-MARK-DROP",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let mut nat = String::new();
    let mut filter = String::new();
    for (name, port) in &state.services {
        if name.protocol == Protocol::Sctp {
            continue;
        }
        let p = proto(name.protocol);
        let mine = only.is_none_or(|o| o.contains(&name.service));
        // This service port's own chains, and their rules.
        let mut own_chains: Vec<String> = Vec::new();
        let mut own_rules = String::new();
        // A dual-stack Service has endpoints of both families; these rules take their own.
        let family = config.family;
        let eps: Vec<Endpoint> = state
            .endpoints_of(name)
            .iter()
            .filter(|e| family.has(&e.ip))
            .cloned()
            .collect();
        let c = topology::categorize(&eps, &config.node_name);
        let cluster = topology::for_cluster_ip(port, &c);
        let external = topology::for_external(port, &c);
        let svc = svc_chain(name);
        let own = |ips: &[std::net::IpAddr]| -> Vec<std::net::IpAddr> {
            ips.iter().filter(|i| family.has(i)).copied().collect()
        };
        let frontends: Vec<(std::net::IpAddr, &str, bool)> = own(&port.cluster_ips)
            .into_iter()
            .map(|ip| (ip, "cluster IP", false))
            .chain(
                own(&port.external_ips)
                    .into_iter()
                    .map(|ip| (ip, "external IP", true)),
            )
            .chain(
                own(&port.load_balancer_ips)
                    .into_iter()
                    .map(|ip| (ip, "loadbalancer IP", true)),
            )
            .collect();
        let host = family.host_bits();
        let fw = chain("KNET-FW", &name.to_string());
        let ranges: Vec<&String> = port
            .load_balancer_source_ranges
            .iter()
            .filter(|r| family.has_cidr(r))
            .collect();
        for (ip, what, ext) in &frontends {
            let eps = if *ext { &external } else { &cluster };
            if eps.is_empty() {
                let _ = writeln!(
                    filter,
                    "-A KNET-SERVICES -d {ip}/{host} -p {p} -m {p} --dport {} -m comment --comment \"{name} has no endpoints\" -j REJECT{}",
                    port.port,
                    if p == "tcp" {
                        " --reject-with tcp-reset"
                    } else {
                        ""
                    }
                );
            } else if *what == "loadbalancer IP" && !ranges.is_empty() {
                // loadBalancerSourceRanges: sources in the ranges go on to the service, the
                // rest are marked and dropped in the filter table.
                let _ = writeln!(
                    nat,
                    "-A KNET-SERVICES -d {ip}/{host} -p {p} -m {p} --dport {} -m comment --comment \"{name} loadbalancer IP\" -j {fw}",
                    port.port
                );
            } else {
                let _ = writeln!(
                    nat,
                    "-A KNET-SERVICES -d {ip}/{host} -p {p} -m {p} --dport {} -m comment --comment \"{name} {what}\" -j {svc}",
                    port.port
                );
            }
        }
        if !ranges.is_empty() && !external.is_empty() && !port.load_balancer_ips.is_empty() {
            own_chains.push(fw.clone());
            for r in &ranges {
                let _ = writeln!(own_rules, "-A {fw} -s {r} -j {svc}");
            }
            let _ = writeln!(own_rules, "-A {fw} -j KNET-MARK-DROP");
        }
        if let Some(np) = port.node_port {
            if external.is_empty() {
                let _ = writeln!(
                    filter,
                    "-A KNET-SERVICES -m addrtype --dst-type LOCAL -p {p} -m {p} --dport {np} -m comment --comment \"{name} has no endpoints\" -j REJECT{}",
                    if p == "tcp" {
                        " --reject-with tcp-reset"
                    } else {
                        ""
                    }
                );
            } else {
                let _ = writeln!(
                    nat,
                    "-A KNET-NODEPORTS -p {p} -m {p} --dport {np} -m comment --comment \"{name}\" -j KNET-MARK-MASQ"
                );
                let _ = writeln!(
                    nat,
                    "-A KNET-NODEPORTS -p {p} -m {p} --dport {np} -m comment --comment \"{name}\" -j {svc}"
                );
            }
        }
        if !cluster.is_empty() {
            own_chains.push(svc.clone());
            svc_chains(
                &mut own_rules,
                &mut own_chains,
                name,
                port,
                &cluster,
                &frontends,
                config,
            );
        }
        if mine {
            nat.push_str(&own_rules);
        } else {
            kept.extend(own_chains.iter().cloned());
        }
        chains.extend(own_chains);
    }
    let mut out = String::from(
        "*filter\n:KNET-SERVICES - [0:0]\n-A KNET-SERVICES -m mark --mark 0x8000/0x8000 -m comment --comment \"outside loadBalancerSourceRanges\" -j DROP\n",
    );
    out.push_str(&filter);
    out.push_str("COMMIT\n*nat\n");
    for c in chains
        .iter()
        .filter(|c| !kept.contains(*c))
        .chain(existing.iter().filter(|c| !chains.contains(*c)))
    {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str(&nat);
    out.push_str(
        "-A KNET-SERVICES -m comment --comment \"knet service nodeports; must be the last rule\" -m addrtype --dst-type LOCAL -j KNET-NODEPORTS\n\
         -A KNET-MARK-MASQ -j MARK --or-mark 0x4000\n\
         -A KNET-MARK-DROP -j MARK --or-mark 0x8000\n\
         -A KNET-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KNET-POSTROUTING -j MARK --xor-mark 0x4000\n\
         -A KNET-POSTROUTING -m comment --comment \"knet service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
    );
    for c in existing.iter().filter(|c| !chains.contains(*c)) {
        let _ = writeln!(out, "-X {c}");
    }
    out.push_str("COMMIT\n");
    out
}

/// A service port's `KNET-SVC-` chain over `cluster` and its endpoints' `KNET-SEP-` chains,
/// written to `nat`, their names added to `chains`.
fn svc_chains(
    nat: &mut String,
    chains: &mut Vec<String>,
    name: &ServicePortName,
    port: &proxy::ServicePort,
    cluster: &[&Endpoint],
    frontends: &[(std::net::IpAddr, &str, bool)],
    config: &Config,
) {
    let p = proto(name.protocol);
    let svc = svc_chain(name);
    let host = config.family.host_bits();
    {
        if let Some(pods) = &config.pod_cidr {
            for (ip, _, ext) in frontends {
                if !ext {
                    let _ = writeln!(
                        nat,
                        "-A {svc} ! -s {pods} -d {ip}/{host} -p {p} -m {p} --dport {} -j KNET-MARK-MASQ",
                        port.port
                    );
                }
            }
        }
        for (ip, _, ext) in frontends {
            if *ext {
                let _ = writeln!(nat, "-A {svc} -d {ip}/{host} -j KNET-MARK-MASQ");
            }
        }
        if let Some(timeout) = port.affinity {
            for ep in cluster {
                let sep = sep_chain(name, ep);
                let _ = writeln!(
                    nat,
                    "-A {svc} -m comment --comment \"{name} -> {}\" -m recent --name {sep} --rcheck --seconds {} --reap -j {sep}",
                    ep.addr(),
                    timeout.as_secs()
                );
            }
        }
        let n = cluster.len();
        for (i, ep) in cluster.iter().enumerate() {
            let sep = sep_chain(name, ep);
            if i + 1 < n {
                let _ = writeln!(
                    nat,
                    "-A {svc} -m comment --comment \"{name} -> {}\" -m statistic --mode random --probability {} -j {sep}",
                    ep.addr(),
                    probability(i, n)
                );
            } else {
                let _ = writeln!(
                    nat,
                    "-A {svc} -m comment --comment \"{name} -> {}\" -j {sep}",
                    ep.addr()
                );
            }
            chains.push(sep.clone());
            let _ = writeln!(nat, "-A {sep} -s {}/{host} -j KNET-MARK-MASQ", ep.ip);
            let recent = if port.affinity.is_some() {
                format!(" -m recent --name {sep} --set")
            } else {
                String::new()
            };
            let _ = writeln!(
                nat,
                "-A {sep} -p {p} -m {p}{recent} -j DNAT --to-destination {}",
                ep.addr()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proxy::service::ServiceKey;
    use proxy::{Family, ServicePort};

    use super::*;

    #[test]
    fn probabilities_are_kube_proxys() {
        assert_eq!(probability(0, 3), "0.3333333333");
        assert_eq!(probability(1, 3), "0.5000000000");
    }

    #[test]
    fn a_service_with_three_endpoints_and_a_stale_chain() {
        let name = ServicePortName {
            service: ServiceKey {
                namespace: "ns".into(),
                name: "web".into(),
            },
            port: String::new(),
            protocol: Protocol::Tcp,
        };
        let mut s = ProxyState::default();
        s.services.insert(
            name.clone(),
            Arc::new(ServicePort {
                node_port: Some(30080),
                ..ServicePort::cluster_ip("10.96.0.10".parse().expect("ip"), 80)
            }),
        );
        let eps = ["10.244.0.2", "10.244.0.3", "10.244.0.4"]
            .iter()
            .map(|ip| Endpoint::ready(ip.parse().expect("ip"), 8080))
            .collect();
        s.endpoints.insert(name.clone(), Arc::new(eps));
        let stale: BTreeSet<String> = ["KNET-SVC-0000000000000000".to_owned()].into();
        let out = render(
            &s,
            &Config {
                family: Default::default(),
                node_name: "n".into(),
                pod_cidr: Some("10.244.0.0/16".into()),
            },
            &stale,
        );
        let svc = svc_chain(&name);
        for want in [
            format!(
                "-A KNET-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment \"ns/web:/Tcp cluster IP\" -j {svc}"
            ),
            format!(
                "-A {svc} ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KNET-MARK-MASQ"
            ),
            "--probability 0.3333333333".to_owned(),
            "--probability 0.5000000000".to_owned(),
            "-j DNAT --to-destination 10.244.0.4:8080".to_owned(),
            "-A KNET-NODEPORTS -p tcp -m tcp --dport 30080".to_owned(),
            "-X KNET-SVC-0000000000000000".to_owned(),
        ] {
            assert!(out.contains(&want), "missing {want}\n{out}");
        }
        assert_eq!(out.matches("-m statistic").count(), 2, "{out}");
    }

    #[test]
    fn a_partial_sync_rewrites_only_the_changed_services_chains() {
        let web = |name: &str, ip: &str, ep: &str| {
            let n = ServicePortName {
                service: ServiceKey {
                    namespace: "ns".into(),
                    name: name.into(),
                },
                port: String::new(),
                protocol: Protocol::Tcp,
            };
            let port = ServicePort::cluster_ip(ip.parse().expect("ip"), 80);
            let eps = vec![Endpoint::ready(ep.parse().expect("ip"), 8080)];
            (n, port, eps)
        };
        let mut s = ProxyState::default();
        for (n, p, e) in [
            web("a", "10.96.0.1", "10.244.0.1"),
            web("b", "10.96.0.2", "10.244.0.2"),
        ] {
            s.services.insert(n.clone(), Arc::new(p));
            s.endpoints.insert(n, Arc::new(e));
        }
        let config = Config {
            family: Family::V4,
            node_name: "n".into(),
            pod_cidr: None,
        };
        let full = render(&s, &config, &BTreeSet::new());
        // What the kernel holds after the full sync, plus a chain of a Service since deleted.
        let mut existing: BTreeSet<String> = full
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        existing.insert("KNET-SVC-GONE000000000000".into());
        let only: BTreeSet<ServiceKey> = [ServiceKey {
            namespace: "ns".into(),
            name: "b".into(),
        }]
        .into();
        let partial = render_partial(&s, &config, &existing, Some(&only));
        let a = s.services.keys().next().expect("a");
        let b = s.services.keys().nth(1).expect("b");
        let (svc_a, svc_b) = (svc_chain(a), svc_chain(b));
        // a's chains are neither declared (which would flush them) nor deleted, nor filled.
        assert!(!partial.contains(&format!(":{svc_a} ")), "{partial}");
        assert!(!partial.contains(&format!("-A {svc_a} ")), "{partial}");
        assert!(!partial.contains(&format!("-X {svc_a}")), "{partial}");
        // b's are rewritten; the dispatch chain is whole, a's entry included.
        assert!(partial.contains(&format!(":{svc_b} - [0:0]")), "{partial}");
        assert!(partial.contains(&format!("-A {svc_b} ")), "{partial}");
        assert!(partial.contains(&format!("-j {svc_a}")), "{partial}");
        assert!(
            partial.contains("-X KNET-SVC-GONE000000000000"),
            "{partial}"
        );
        assert!(full.len() > partial.len());
    }

    #[test]
    fn a_dual_stack_service_is_split_between_iptables_and_ip6tables() {
        let name = ServicePortName {
            service: ServiceKey {
                namespace: "ns".into(),
                name: "web".into(),
            },
            port: String::new(),
            protocol: Protocol::Udp,
        };
        let mut port = ServicePort::cluster_ip("10.96.0.10".parse().expect("ip"), 53);
        port.cluster_ips.push("fd00::10".parse().expect("ip"));
        let mut s = ProxyState::default();
        s.services.insert(name.clone(), Arc::new(port));
        let eps = ["10.244.0.2", "fd00:244::2"]
            .iter()
            .map(|ip| Endpoint::ready(ip.parse().expect("ip"), 5353))
            .collect();
        s.endpoints.insert(name.clone(), Arc::new(eps));
        let config = |family| Config {
            family,
            node_name: "n".into(),
            pod_cidr: None,
        };
        let v4 = render(&s, &config(Family::V4), &BTreeSet::new());
        let v6 = render(&s, &config(Family::V6), &BTreeSet::new());
        assert!(!v4.contains("fd00"), "{v4}");
        assert!(v4.contains("-d 10.96.0.10/32 -p udp"), "{v4}");
        assert!(!v6.contains("10.96") && !v6.contains("10.244"), "{v6}");
        for want in [
            "-A KNET-SERVICES -d fd00::10/128 -p udp -m udp --dport 53",
            "-s fd00:244::2/128 -j KNET-MARK-MASQ",
            "-j DNAT --to-destination [fd00:244::2]:5353",
        ] {
            assert!(v6.contains(want), "missing {want}\n{v6}");
        }
        // The tracer reads both.
        let pkt = |dst: &str| crate::trace::Packet {
            src: "fd00:1::9".parse().expect("src"),
            proto: "udp",
            dst: dst.parse().expect("dst"),
            src_local: false,
            dst_local: false,
        };
        let rules = crate::trace::Rules::parse(&v6);
        assert_eq!(
            crate::trace::trace(&rules, &pkt("[fd00::10]:53")),
            crate::trace::Verdict::Dnat(["[fd00:244::2]:5353".parse().expect("addr")].into())
        );
    }
}
