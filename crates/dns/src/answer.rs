//! The cluster zone's answers: a pure function from the [`Index`] and a question to records,
//! following the Kubernetes DNS-Based Service Discovery spec (1.1.0) the way CoreDNS's
//! `kubernetes` plugin reads it.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Kind, Port, Svc, undashed};

/// The schema version the zone answers at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// The zone and its TTL.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The cluster domain, lowercase, without the trailing dot.
    pub domain: String,
    /// TTL of every answer (and the SOA minimum).
    pub ttl: u32,
}

/// What to do with a question.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Answer with these (rcode NOERROR or NXDOMAIN; SOA in authority when `answers` is empty).
    Answer {
        /// The response code.
        rcode: ResponseCode,
        /// The answer section.
        answers: Vec<Record>,
        /// The additional section.
        additionals: Vec<Record>,
    },
    /// The zone is not loaded yet.
    ServFail,
    /// Not the cluster zone's: ask upstream.
    Forward,
    /// An ExternalName: the CNAME, then `target`'s records of `qtype` (upstream's, or the
    /// zone's own when the target is in it).
    Chase {
        /// The CNAME record.
        cname: Box<Record>,
        /// Its target.
        target: Name,
    },
}

fn name(s: &str) -> Name {
    let mut n = Name::from_ascii(s).unwrap_or_else(|_| Name::root());
    n.set_fqdn(true);
    n
}

fn addr_record(owner: &Name, ip: IpAddr, ttl: u32) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, rdata)
}

/// Address records at `owner` for the addresses of `ips` that fit `qtype`.
fn addresses(owner: &Name, ips: &[IpAddr], qtype: RecordType, ttl: u32) -> Vec<Record> {
    ips.iter()
        .filter(|ip| match qtype {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            RecordType::ANY => true,
            _ => false,
        })
        .map(|ip| addr_record(owner, *ip, ttl))
        .collect()
}

impl Zone {
    /// The zone's SOA record (for authority sections and SOA questions).
    pub fn soa(&self) -> Record {
        let d = &self.domain;
        Record::from_rdata(
            name(d),
            self.ttl,
            RData::SOA(SOA::new(
                name(&format!("ns.dns.{d}")),
                name(&format!("hostmaster.{d}")),
                // CoreDNS uses the zone's last change time; a constant is as good for caches
                // that only read the minimum.
                1,
                7200,
                1800,
                86400,
                self.ttl,
            )),
        )
    }

    fn fqdn(&self, rest: &str) -> Name {
        name(&format!("{rest}.{}", self.domain))
    }

    /// Where the question `qname`/`qtype` goes.
    pub fn resolve(&self, index: &Index, qname: &Name, qtype: RecordType) -> Outcome {
        let lower = qname.to_lowercase().to_ascii();
        let lower = lower.trim_end_matches('.');
        if let Some(ip) = reverse(lower) {
            let names = index.ptr(ip);
            if names.is_empty() || !index.synced {
                // Not a cluster address: upstream's (CoreDNS's `fallthrough in-addr.arpa`).
                return Outcome::Forward;
            }
            if qtype != RecordType::PTR && qtype != RecordType::ANY {
                return nodata();
            }
            let answers = names
                .iter()
                .map(|n| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(self.fqdn(n)))))
                .collect();
            return answer(answers, Vec::new());
        }
        let d = self.domain.as_str();
        let rest = if lower == d {
            ""
        } else if let Some(r) = lower.strip_suffix(d).and_then(|r| r.strip_suffix('.')) {
            r
        } else {
            return Outcome::Forward;
        };
        if !index.synced {
            return Outcome::ServFail;
        }
        let labels: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('.').collect()
        };
        match labels.as_slice() {
            [] => match qtype {
                RecordType::SOA => answer(vec![self.soa()], Vec::new()),
                RecordType::NS => answer(
                    vec![Record::from_rdata(
                        qname.clone(),
                        self.ttl,
                        RData::NS(NS(self.fqdn("ns.dns"))),
                    )],
                    Vec::new(),
                ),
                _ => nodata(),
            },
            ["dns-version"] => match qtype {
                RecordType::TXT | RecordType::ANY => answer(
                    vec![Record::from_rdata(
                        qname.clone(),
                        28800,
                        RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_owned()])),
                    )],
                    Vec::new(),
                ),
                _ => nodata(),
            },
            ["svc"] | ["pod"] => nodata(),
            [ns, "svc"] | [ns, "pod"] => {
                if index.has_namespace(ns) {
                    nodata()
                } else {
                    nxdomain()
                }
            }
            [svc, ns, "svc"] => match index.service(svc, ns) {
                Some(s) => self.service(qname, s, svc, ns, qtype),
                None => nxdomain(),
            },
            [host, svc, ns, "svc"] => match index.service(svc, ns) {
                Some(s) if s.kind == Kind::Headless => {
                    let ips: Vec<IpAddr> = s
                        .endpoints
                        .iter()
                        .filter(|e| e.host == *host)
                        .map(|e| e.ip)
                        .collect();
                    if ips.is_empty() {
                        nxdomain()
                    } else {
                        answer(addresses(qname, &ips, qtype, self.ttl), Vec::new())
                    }
                }
                _ => nxdomain(),
            },
            [port, proto, svc, ns, "svc"] => {
                let (Some(port), Some(proto)) = (port.strip_prefix('_'), proto.strip_prefix('_'))
                else {
                    return nxdomain();
                };
                match index.service(svc, ns) {
                    Some(s) if !matches!(s.kind, Kind::ExternalName(_)) => {
                        let Outcome::Answer {
                            answers,
                            additionals,
                            ..
                        } = self.srv(qname, s, svc, ns, Some((port, proto)))
                        else {
                            return nxdomain();
                        };
                        if answers.is_empty() {
                            nxdomain()
                        } else if qtype == RecordType::SRV || qtype == RecordType::ANY {
                            answer(answers, additionals)
                        } else {
                            nodata()
                        }
                    }
                    _ => nxdomain(),
                }
            }
            [ip, ns, "pod"] => match undashed(ip) {
                Some(addr) if index.has_pod(ns, addr) => {
                    answer(addresses(qname, &[addr], qtype, self.ttl), Vec::new())
                }
                _ => nxdomain(),
            },
            _ => nxdomain(),
        }
    }

    /// A question about a Service's own name.
    fn service(&self, qname: &Name, s: &Svc, svc: &str, ns: &str, qtype: RecordType) -> Outcome {
        match &s.kind {
            Kind::ExternalName(target) => {
                let cname =
                    Record::from_rdata(qname.clone(), self.ttl, RData::CNAME(CNAME(name(target))));
                if qtype == RecordType::CNAME {
                    answer(vec![cname], Vec::new())
                } else {
                    Outcome::Chase {
                        cname: Box::new(cname),
                        target: name(target),
                    }
                }
            }
            Kind::ClusterIp(ips) => match qtype {
                RecordType::SRV => self.srv(qname, s, svc, ns, None),
                _ => answer(addresses(qname, ips, qtype, self.ttl), Vec::new()),
            },
            Kind::Headless => {
                if s.endpoints.is_empty() {
                    return nxdomain();
                }
                match qtype {
                    RecordType::SRV => self.srv(qname, s, svc, ns, None),
                    _ => {
                        let ips: Vec<IpAddr> = s.endpoints.iter().map(|e| e.ip).collect();
                        answer(addresses(qname, &ips, qtype, self.ttl), Vec::new())
                    }
                }
            }
        }
    }

    /// SRV records of a Service's named ports (only `want` = (port name, protocol) if given),
    /// with the targets' addresses in the additional section.
    fn srv(
        &self,
        qname: &Name,
        s: &Svc,
        svc: &str,
        ns: &str,
        want: Option<(&str, &str)>,
    ) -> Outcome {
        let fits = |p: &Port| want.is_none_or(|(n, pr)| p.name == n && p.proto == pr);
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        match &s.kind {
            Kind::ClusterIp(ips) => {
                let target = self.fqdn(&format!("{svc}.{ns}.svc"));
                for p in s.ports.iter().filter(|p| fits(p)) {
                    answers.push(Record::from_rdata(
                        qname.clone(),
                        self.ttl,
                        RData::SRV(SRV::new(0, 100, p.port, target.clone())),
                    ));
                }
                if !answers.is_empty() {
                    additionals = addresses(&target, ips, RecordType::ANY, self.ttl);
                }
            }
            Kind::Headless => {
                let matching: Vec<(&crate::index::Endpoint, &Port)> = s
                    .endpoints
                    .iter()
                    .flat_map(|e| e.ports.iter().filter(|p| fits(p)).map(move |p| (e, p)))
                    .collect();
                // CoreDNS splits a weight of 100 among the records of one answer.
                let weight = u16::try_from(100 / matching.len().max(1))
                    .unwrap_or(1)
                    .max(1);
                let mut seen = std::collections::HashSet::new();
                for (e, p) in matching {
                    let target = self.fqdn(&format!("{}.{svc}.{ns}.svc", e.host));
                    answers.push(Record::from_rdata(
                        qname.clone(),
                        self.ttl,
                        RData::SRV(SRV::new(0, weight, p.port, target.clone())),
                    ));
                    if seen.insert(e.ip) {
                        additionals.push(addr_record(&target, e.ip, self.ttl));
                    }
                }
            }
            Kind::ExternalName(_) => {}
        }
        if answers.is_empty() && want.is_some() {
            return nxdomain();
        }
        answer(answers, additionals)
    }
}

fn answer(answers: Vec<Record>, additionals: Vec<Record>) -> Outcome {
    Outcome::Answer {
        rcode: ResponseCode::NoError,
        answers,
        additionals,
    }
}

fn nodata() -> Outcome {
    answer(Vec::new(), Vec::new())
}

fn nxdomain() -> Outcome {
    Outcome::Answer {
        rcode: ResponseCode::NXDomain,
        answers: Vec::new(),
        additionals: Vec::new(),
    }
}

/// The address a reverse name (`d.c.b.a.in-addr.arpa`, 32 nibbles `.ip6.arpa`) stands for.
pub fn reverse(lower: &str) -> Option<IpAddr> {
    if let Some(rest) = lower.strip_suffix(".in-addr.arpa") {
        let mut parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        parts.reverse();
        return parts
            .join(".")
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(IpAddr::V4);
    }
    let rest = lower.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
        return None;
    }
    let hex: String = nibbles.iter().rev().copied().collect();
    let groups: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
    groups
        .join(":")
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests;
