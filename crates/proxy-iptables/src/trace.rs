//! The packet tracer of the iptables mode: where a new connection goes through rules in
//! `iptables-save` form: the kernel's own dump, or what [`render`] makes. It follows knet's
//! chains the way the kernel does: `nat` KNET-SERVICES (from PREROUTING/OUTPUT) first, then
//! `filter` KNET-SERVICES for what nat left alone. A `statistic` rule may match or not, so
//! both ways are followed and the answer is every endpoint some way reaches.
//!
//! [`render`]: crate::render

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use proxy::trace::in_cidr;
pub use proxy::trace::{Packet, Verdict};

/// Rules by table, then chain, in order; each rule split into its words (quotes removed).
#[derive(Debug, Default)]
pub struct Rules(BTreeMap<String, BTreeMap<String, Vec<Vec<String>>>>);

/// Splits a rule into words, keeping `"quoted strings"` whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Rules {
    /// Parses `iptables-save` (or `iptables-restore`) text.
    pub fn parse(text: &str) -> Rules {
        let mut rules = Rules::default();
        let mut table = String::new();
        for line in text.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = t.trim().to_owned();
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let w = words(rest);
                if let Some((chain, spec)) = w.split_first() {
                    rules
                        .0
                        .entry(table.clone())
                        .or_default()
                        .entry(chain.clone())
                        .or_default()
                        .push(spec.to_vec());
                }
            }
        }
        rules
    }

    fn chain(&self, table: &str, chain: &str) -> &[Vec<String>] {
        self.0
            .get(table)
            .and_then(|t| t.get(chain))
            .map_or(&[], Vec::as_slice)
    }
}

/// How one way through the rules ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Dnat(SocketAddr),
    Reject,
    Drop,
    /// Fell off the chain (back to the caller) with this mark.
    Return(u32),
}

/// Whether a rule's matches hold: `Some(true)` yes, `Some(false)` no, `None` maybe (random).
fn matches(spec: &[String], pkt: &Packet, mark: u32) -> Option<bool> {
    let mut maybe = false;
    let mut i = 0;
    let mut negate = false;
    let arg = |i: usize| spec.get(i + 1).map(String::as_str).unwrap_or_default();
    while i < spec.len() {
        let holds = match spec[i].as_str() {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-j" | "-g" => break,
            "-s" => in_cidr(pkt.src, arg(i)),
            "-d" => in_cidr(pkt.dst.ip(), arg(i)),
            "-p" => arg(i) == pkt.proto,
            "--dport" => arg(i).parse() == Ok(pkt.dst.port()),
            "--dst-type" => arg(i) != "LOCAL" || pkt.dst_local,
            "--mark" => {
                let (value, mask) = arg(i).split_once('/').unwrap_or((arg(i), "0xffffffff"));
                let num = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                match (num(value), num(mask)) {
                    (Some(v), Some(m)) => mark & m == v,
                    _ => false,
                }
            }
            // A fresh client is in no `recent` list.
            "--rcheck" => false,
            "--probability" => {
                maybe = arg(i).parse::<f64>().is_ok_and(|p| p < 1.0);
                true
            }
            _ => {
                // Module names, comments, `--set`, `--mode random`: no condition of their own.
                i += 1;
                negate = false;
                continue;
            }
        };
        if holds == negate {
            return Some(false);
        }
        negate = false;
        i += 2;
    }
    if maybe { None } else { Some(true) }
}

fn target(spec: &[String]) -> Option<(&str, &[String])> {
    let at = spec.iter().position(|w| w == "-j" || w == "-g")?;
    Some((spec.get(at + 1)?.as_str(), &spec[at + 2..]))
}

/// Every way through `chain` of `table`.
fn walk(rules: &Rules, table: &str, chain: &str, pkt: &Packet, mark: u32, depth: u32) -> Vec<End> {
    if depth > 16 {
        return vec![End::Return(mark)];
    }
    let mut ends = Vec::new();
    let mut mark = mark;
    for spec in rules.chain(table, chain) {
        let certain = match matches(spec, pkt, mark) {
            Some(false) => continue,
            Some(true) => true,
            None => false,
        };
        let Some((t, args)) = target(spec) else {
            continue;
        };
        let option = |name: &str| {
            args.iter()
                .position(|w| w == name)
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
        };
        let taken: Vec<End> = match t {
            "DNAT" => match option("--to-destination").and_then(|a| a.parse().ok()) {
                Some(ep) => vec![End::Dnat(ep)],
                None => vec![End::Return(mark)],
            },
            "REJECT" => vec![End::Reject],
            "DROP" => vec![End::Drop],
            "RETURN" => vec![End::Return(mark)],
            "MARK" => {
                let num = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                if let Some(m) = option("--or-mark").and_then(num) {
                    mark |= m;
                } else if let Some(m) = option("--xor-mark").and_then(num) {
                    mark ^= m;
                } else if let Some((v, m)) = option("--set-xmark").and_then(|a| a.split_once('/'))
                    && let (Some(v), Some(m)) = (num(v), num(m))
                {
                    // How iptables-save writes both of the above.
                    mark = (mark & !m) ^ v;
                }
                continue;
            }
            "MASQUERADE" | "ACCEPT" => vec![End::Return(mark)],
            other => walk(rules, table, other, pkt, mark, depth + 1),
        };
        // A jump that comes back goes on with the next rule, with the mark it came back with.
        let mut back = None;
        for e in taken {
            match e {
                End::Return(m) if t != "RETURN" => back = Some(m),
                e => ends.push(e),
            }
        }
        if t == "RETURN" && certain {
            return ends;
        }
        match back {
            Some(m) => mark = m,
            None if certain => return ends,
            None => {}
        }
    }
    ends.push(End::Return(mark));
    ends
}

/// Where `pkt` goes through `rules`.
pub fn trace(rules: &Rules, pkt: &Packet) -> Verdict {
    let mut eps = BTreeSet::new();
    let mut other = BTreeSet::new();
    for end in walk(rules, "nat", "KNET-SERVICES", pkt, 0, 0) {
        match end {
            End::Dnat(ep) => {
                eps.insert(ep);
            }
            End::Return(mark) => {
                for e in walk(rules, "filter", "KNET-SERVICES", pkt, mark, 0) {
                    other.insert(e);
                }
            }
            e => {
                other.insert(e);
            }
        }
    }
    if !eps.is_empty() {
        return Verdict::Dnat(eps);
    }
    if other.contains(&End::Drop) {
        Verdict::Drop
    } else if other.contains(&End::Reject) {
        Verdict::Reject
    } else {
        Verdict::Untouched
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proxy::service::{Protocol, ServiceKey};
    use proxy::{Endpoint, ProxyState, ServicePort, ServicePortName};

    use super::*;
    use crate::Config;

    fn pkt(src: &str, dst: &str) -> Packet {
        Packet {
            src: src.parse().expect("src"),
            proto: "tcp",
            dst: dst.parse().expect("dst"),
            src_local: false,
            dst_local: false,
        }
    }

    #[test]
    fn the_tracer_follows_the_rendered_chains() {
        let mut s = ProxyState::default();
        let mut add = |n: &str, port: ServicePort, eps: &[&str]| {
            let name = ServicePortName {
                service: ServiceKey {
                    namespace: "ns".into(),
                    name: n.into(),
                },
                port: String::new(),
                protocol: Protocol::Tcp,
            };
            s.services.insert(name.clone(), Arc::new(port));
            let eps = eps
                .iter()
                .map(|e| Endpoint::ready(e.parse().expect("ip"), 8080))
                .collect();
            s.endpoints.insert(name, Arc::new(eps));
        };
        let ip = |a: &str| a.parse().expect("ip");
        add(
            "web",
            ServicePort {
                node_port: Some(30080),
                ..ServicePort::cluster_ip(ip("10.96.0.10"), 80)
            },
            &["10.244.0.2", "10.244.0.3", "10.244.0.4"],
        );
        add("empty", ServicePort::cluster_ip(ip("10.96.0.11"), 80), &[]);
        add(
            "fw",
            ServicePort {
                load_balancer_ips: vec![ip("10.240.0.1")],
                load_balancer_source_ranges: vec!["192.0.2.0/24".into()],
                ..ServicePort::cluster_ip(ip("10.96.0.14"), 80)
            },
            &["10.244.0.6"],
        );
        let rules = Rules::parse(&crate::render(
            &s,
            &Config {
                family: Default::default(),
                node_name: "n1".into(),
                pod_cidr: Some("10.244.0.0/16".into()),
            },
            &BTreeSet::new(),
        ));
        let web = Verdict::Dnat(
            ["10.244.0.2:8080", "10.244.0.3:8080", "10.244.0.4:8080"]
                .iter()
                .map(|e| e.parse().expect("addr"))
                .collect(),
        );
        assert_eq!(trace(&rules, &pkt("10.244.9.9", "10.96.0.10:80")), web);
        assert_eq!(
            trace(&rules, &pkt("10.244.9.9", "10.96.0.11:80")),
            Verdict::Reject
        );
        assert_eq!(
            trace(&rules, &pkt("10.244.9.9", "10.96.0.10:81")),
            Verdict::Untouched
        );
        let mut np = pkt("198.51.100.7", "192.0.2.1:30080");
        np.dst_local = true;
        assert_eq!(trace(&rules, &np), web);
        assert_eq!(
            trace(&rules, &pkt("192.0.2.7", "10.240.0.1:80")),
            Verdict::Dnat(["10.244.0.6:8080".parse().expect("addr")].into())
        );
        assert_eq!(
            trace(&rules, &pkt("198.51.100.7", "10.240.0.1:80")),
            Verdict::Drop
        );
    }
}
