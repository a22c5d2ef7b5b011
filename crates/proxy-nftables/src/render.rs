//! The pure part: [`ProxyState`] to an nft script.

use std::fmt::Write as _;
use std::net::IpAddr;

use proxy::service::Protocol;
use proxy::topology;
use proxy::{Endpoint, ProxyState, ServicePort, ServicePortName};

use crate::Config;

/// knet's table, in family `ip`.
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

fn endpoint_chain(name: &ServicePortName, ep: &Endpoint) -> String {
    format!("endpoint-{}__{}/{}", suffix(name), ep.ip, ep.port)
}

fn affinity_set(name: &ServicePortName, ep: &Endpoint) -> String {
    format!("affinity-{}__{}/{}", suffix(name), ep.ip, ep.port)
}

fn ipv4(ip: &IpAddr) -> bool {
    ip.is_ipv4()
}

/// Renders the whole table: the old one is deleted and the new one made in one transaction.
pub fn render(state: &ProxyState, config: &Config) -> String {
    let mut service_ips = Vec::new();
    let mut nodeports = Vec::new();
    let mut no_ep_ips = Vec::new();
    let mut no_ep_nodeports = Vec::new();
    let mut cluster_ips = std::collections::BTreeSet::new();
    let mut chains = String::new();
    let mut sets = String::new();

    for (name, port) in &state.services {
        if name.protocol == Protocol::Sctp {
            continue;
        }
        let p = proto(name.protocol);
        let eps = state.endpoints_of(name);
        let c = topology::categorize(eps, &config.node_name);
        let cluster_eps = topology::for_cluster_ip(port, &c);
        let external_eps = topology::for_external(port, &c);
        let sfx = suffix(name);
        for ip in port.cluster_ips.iter().filter(|ip| ipv4(ip)) {
            cluster_ips.insert(*ip);
        }
        // Cluster chain (and a local one for the Local policies), endpoint chains, affinity.
        let all: Vec<&Endpoint> = {
            let mut v: Vec<&Endpoint> = c.cluster.iter().chain(&c.local).copied().collect();
            v.sort();
            v.dedup();
            v
        };
        for ep in &all {
            write_endpoint(&mut chains, &mut sets, name, port, ep);
        }
        if !c.cluster.is_empty() {
            write_pick(
                &mut chains,
                &format!("service-{sfx}"),
                name,
                port,
                &c.cluster,
                config,
            );
        }
        if !c.local.is_empty() {
            write_pick(
                &mut chains,
                &format!("local-{sfx}"),
                name,
                port,
                &c.local,
                config,
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
        if has_external && !external_eps.is_empty() {
            let _ = writeln!(chains, "\tchain external-{sfx} {{");
            if port.external_local {
                if let Some(pods) = &config.pod_cidr {
                    let _ = writeln!(chains, "\t\tip saddr {pods} goto service-{sfx}");
                }
                let _ = writeln!(chains, "\t\tfib saddr type local jump mark-for-masquerade");
                let _ = writeln!(chains, "\t\tfib saddr type local goto service-{sfx}");
                let _ = writeln!(chains, "\t\tgoto local-{sfx}");
            } else {
                let _ = writeln!(chains, "\t\tjump mark-for-masquerade");
                let _ = writeln!(chains, "\t\tgoto service-{sfx}");
            }
            let _ = writeln!(chains, "\t}}");
        }
        // Dispatch entries, or reject/drop when there is nowhere to go.
        let no_cluster = if c.cluster.is_empty() {
            "goto reject-chain"
        } else {
            "drop"
        };
        for ip in port.cluster_ips.iter().filter(|ip| ipv4(ip)) {
            if cluster_eps.is_empty() {
                no_ep_ips.push(format!("{ip} . {p} . {} : {no_cluster}", port.port));
            } else {
                service_ips.push(format!(
                    "{ip} . {p} . {} : goto {cluster_target}",
                    port.port
                ));
            }
        }
        for ip in port
            .external_ips
            .iter()
            .chain(&port.load_balancer_ips)
            .filter(|ip| ipv4(ip))
        {
            if external_eps.is_empty() {
                no_ep_ips.push(format!("{ip} . {p} . {} : {no_cluster}", port.port));
            } else {
                service_ips.push(format!("{ip} . {p} . {} : goto external-{sfx}", port.port));
            }
        }
        if let Some(np) = port.node_port {
            if external_eps.is_empty() {
                no_ep_nodeports.push(format!("{p} . {np} : {no_cluster}"));
            } else {
                nodeports.push(format!("{p} . {np} : goto external-{sfx}"));
            }
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "table ip {TABLE} {{}}");
    let _ = writeln!(out, "delete table ip {TABLE}");
    let _ = writeln!(out, "table ip {TABLE} {{");
    let elements = |items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!("\t\telements = {{ {} }}\n", items.join(", "))
        }
    };
    let ips: Vec<String> = cluster_ips.iter().map(ToString::to_string).collect();
    let _ = write!(
        out,
        "\tset cluster-ips {{\n\t\ttype ipv4_addr\n{}\t}}\n",
        elements(&ips)
    );
    for (map, key, items) in [
        (
            "service-ips",
            "ipv4_addr . inet_proto . inet_service",
            &service_ips,
        ),
        ("service-nodeports", "inet_proto . inet_service", &nodeports),
        (
            "no-endpoint-services",
            "ipv4_addr . inet_proto . inet_service",
            &no_ep_ips,
        ),
        (
            "no-endpoint-nodeports",
            "inet_proto . inet_service",
            &no_ep_nodeports,
        ),
    ] {
        let _ = write!(
            out,
            "\tmap {map} {{\n\t\ttype {key} : verdict\n{}\t}}\n",
            elements(items)
        );
    }
    out.push_str(&sets);
    let _ = write!(
        out,
        "\tchain reject-chain {{\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject\n\t}}\n\
         \tchain mark-for-masquerade {{\n\t\tmeta mark set meta mark or {MASQ_MARK}\n\t}}\n\
         \tchain masquerading {{\n\t\tmeta mark & {MASQ_MARK} == 0 return\n\t\tmeta mark set meta mark xor {MASQ_MARK}\n\t\tmasquerade fully-random\n\t}}\n\
         \tchain services {{\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n\t}}\n\
         \tchain endpoints-check {{\n\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services\n\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports\n\t}}\n\
         \tchain cluster-ips-check {{\n\t\tip daddr @cluster-ips reject\n\t}}\n\
         \tchain nat-prerouting {{\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-postrouting {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tjump masquerading\n\t}}\n\
         \tchain filter-input {{\n\t\ttype filter hook input priority -110; policy accept;\n\t\tct state new jump endpoints-check\n\t}}\n\
         \tchain filter-forward {{\n\t\ttype filter hook forward priority -110; policy accept;\n\t\tct state new jump endpoints-check\n\t\tct state new jump cluster-ips-check\n\t}}\n\
         \tchain filter-output {{\n\t\ttype filter hook output priority -110; policy accept;\n\t\tct state new jump endpoints-check\n\t}}\n\
         \tchain filter-output-post-dnat {{\n\t\ttype filter hook output priority -90; policy accept;\n\t\tct state new jump cluster-ips-check\n\t}}\n"
    );
    out.push_str(&chains);
    out.push_str("}\n");
    out
}

/// A chain that picks one of `eps` at random (after the affinity sets, if any).
fn write_pick(
    out: &mut String,
    chain: &str,
    name: &ServicePortName,
    port: &ServicePort,
    eps: &[&Endpoint],
    config: &Config,
) {
    let _ = writeln!(out, "\tchain {chain} {{");
    if let Some(pods) = &config.pod_cidr {
        for ip in port.cluster_ips.iter().filter(|ip| ipv4(ip)) {
            let _ = writeln!(
                out,
                "\t\tip daddr {ip} {} dport {} ip saddr != {pods} jump mark-for-masquerade",
                proto(name.protocol),
                port.port
            );
        }
    }
    if port.affinity.is_some() {
        for ep in eps {
            let _ = writeln!(
                out,
                "\t\tip saddr @{} goto {}",
                affinity_set(name, ep),
                endpoint_chain(name, ep)
            );
        }
    }
    let arms: Vec<String> = eps
        .iter()
        .enumerate()
        .map(|(i, ep)| format!("{i} : goto {}", endpoint_chain(name, ep)))
        .collect();
    let _ = writeln!(
        out,
        "\t\tnumgen random mod {} vmap {{ {} }}",
        eps.len(),
        arms.join(", ")
    );
    let _ = writeln!(out, "\t}}");
}

/// An endpoint's chain (hairpin masquerade, affinity, DNAT) and its affinity set.
fn write_endpoint(
    chains: &mut String,
    sets: &mut String,
    name: &ServicePortName,
    port: &ServicePort,
    ep: &Endpoint,
) {
    let _ = writeln!(chains, "\tchain {} {{", endpoint_chain(name, ep));
    let _ = writeln!(chains, "\t\tip saddr {} jump mark-for-masquerade", ep.ip);
    if let Some(timeout) = port.affinity {
        let set = affinity_set(name, ep);
        let _ = writeln!(
            sets,
            "\tset {set} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}",
            timeout.as_secs()
        );
        let _ = writeln!(chains, "\t\tupdate @{set} {{ ip saddr }}");
    }
    let _ = writeln!(
        chains,
        "\t\tmeta l4proto {} dnat to {}:{}",
        proto(name.protocol),
        ep.ip,
        ep.port
    );
    let _ = writeln!(chains, "\t}}");
}

#[cfg(test)]
mod tests;
