//! Admission: what happens to an object between decoding and storage beyond defaulting and
//! validation. Service address allocation (ClusterIP, NodePort, health-check NodePort), the
//! default IngressClass, and namespace lifecycle checks live here.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::alloc::AllocError;
use crate::error::ApiError;
use crate::object;
use crate::server::State;
use crate::validation::FieldError;

/// Addresses and ports taken for a write that has not committed yet. If the write fails they
/// are handed back with [`Reserved::release`].
#[derive(Debug, Default)]
pub struct Reserved {
    ips: Vec<Ipv4Addr>,
    ports: Vec<i64>,
}

impl Reserved {
    /// Returns everything this write took.
    pub fn release(self, state: &State) {
        for ip in self.ips {
            state.ips.release(ip);
        }
        for port in self.ports {
            state.ports.release(port);
        }
    }
}

/// The addresses and ports a stored Service holds.
pub fn held(svc: &Value) -> (Vec<Ipv4Addr>, Vec<i64>) {
    let spec = &svc["spec"];
    let ips = spec["clusterIPs"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let mut ports: Vec<i64> = spec["ports"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["nodePort"].as_i64()).collect())
        .unwrap_or_default();
    if let Some(hc) = spec["healthCheckNodePort"].as_i64() {
        ports.push(hc);
    }
    (ips, ports)
}

/// After a Service write commits: hands back whatever the old version held and the new one
/// does not (everything, for a delete).
pub fn release_unused(state: &State, prev: Option<&Value>, now: Option<&Value>) {
    let Some(prev) = prev else { return };
    let (old_ips, old_ports) = held(prev);
    let (new_ips, new_ports) = now.map(held).unwrap_or_default();
    for ip in old_ips.into_iter().filter(|ip| !new_ips.contains(ip)) {
        state.ips.release(ip);
    }
    for port in old_ports.into_iter().filter(|p| !new_ports.contains(p)) {
        state.ports.release(port);
    }
}

fn service_type(svc: &Value) -> &str {
    svc["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

fn needs_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc["spec"]["allocateLoadBalancerNodePorts"] != json!(false),
        _ => false,
    }
}

fn ip_error(state: &State, ip: &str, err: AllocError) -> ApiError {
    let detail = match err {
        AllocError::NotInRange => format!(
            "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            state.ips.cidr()
        ),
        AllocError::Allocated(_) => {
            format!("failed to allocate IP {ip}: provided IP is already allocated")
        }
        AllocError::Full => {
            return ApiError::internal("failed to allocate a serviceIP: range is full");
        }
    };
    invalid_service(
        "",
        vec![FieldError::invalid("spec.clusterIPs", json!([ip]), detail)],
    )
}

fn port_error(state: &State, field: String, port: i64, err: AllocError) -> FieldError {
    let detail = match err {
        AllocError::NotInRange => format!(
            "provided port is not in the valid range. The range of valid ports is {}",
            state.ports.range()
        ),
        _ => "provided port is already allocated".to_owned(),
    };
    FieldError::invalid(field, json!(port), detail)
}

fn invalid_service(name: &str, errors: Vec<FieldError>) -> ApiError {
    ApiError::invalid("Service", "", name, &errors)
}

/// Allocates a Service's ClusterIP and NodePorts on create (`old == None`) or update, writing
/// them into `svc`. Errors carry kube-apiserver's exact texts.
pub fn service(state: &State, svc: &mut Value, old: Option<&Value>) -> Result<Reserved, ApiError> {
    let mut reserved = Reserved::default();
    match allocate_service(state, svc, old, &mut reserved) {
        Ok(()) => Ok(reserved),
        Err(err) => {
            reserved.release(state);
            Err(err)
        }
    }
}

fn allocate_service(
    state: &State,
    svc: &mut Value,
    old: Option<&Value>,
    reserved: &mut Reserved,
) -> Result<(), ApiError> {
    let name = object::name(svc).to_owned();
    let ty = service_type(svc).to_owned();
    let spec = svc["spec"]
        .as_object_mut()
        .ok_or_else(|| invalid_service(&name, vec![FieldError::required("spec", "")]))?;

    // ClusterIP.
    if ty == "ExternalName" {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(f);
        }
    } else {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| spec.get("clusterIPs")?.get(0)?.as_str())
            .unwrap_or("")
            .to_owned();
        let old_ip = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let ip = match (&old_ip, requested.as_str()) {
            // An update that leaves the address out keeps it, as kube-apiserver does.
            (Some(old_ip), "") => old_ip.clone(),
            (Some(old_ip), new) if old_ip == new => old_ip.clone(),
            (Some(old_ip), new) => {
                return Err(invalid_service(
                    &name,
                    vec![FieldError::invalid(
                        "spec.clusterIPs[0]",
                        json!(new),
                        format!("may not change once set (was {old_ip:?})")
                            .replace(&format!(" (was {old_ip:?})"), ""),
                    )],
                ));
            }
            (None, "None") => "None".to_owned(),
            (None, "") => {
                let ip = state
                    .ips
                    .allocate_next()
                    .map_err(|e| ip_error(state, "", e))?;
                reserved.ips.push(ip);
                ip.to_string()
            }
            (None, want) => {
                let parsed: Ipv4Addr = want.parse().map_err(|_| {
                    invalid_service(
                        &name,
                        vec![FieldError::invalid(
                            "spec.clusterIPs[0]",
                            json!(want),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )],
                    )
                })?;
                state
                    .ips
                    .allocate(parsed)
                    .map_err(|e| ip_error(state, want, e))
                    .map_err(|mut e| {
                        if let Some(d) = e.details.as_mut() {
                            d["name"] = json!(name);
                        }
                        e.message = e.message.replacen("\"\"", &format!("\"{name}\""), 1);
                        e
                    })?;
                reserved.ips.push(parsed);
                want.to_owned()
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
    }

    // NodePorts.
    let wants_node_ports = needs_node_ports(svc);
    let old_ports: Vec<(i64, String, i64)> = old
        .and_then(|o| o["spec"]["ports"].as_array())
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    Some((
                        p["port"].as_i64()?,
                        p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                        p["nodePort"].as_i64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let old_held: Vec<i64> = old_ports.iter().map(|(_, _, np)| *np).collect();
    let mut errors = Vec::new();
    if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
        for (i, port) in ports.iter_mut().enumerate() {
            let Some(p) = port.as_object_mut() else {
                continue;
            };
            if !wants_node_ports {
                if ty != "ClusterIP" || old.is_some() {
                    p.remove("nodePort");
                }
                continue;
            }
            let requested = p
                .get("nodePort")
                .and_then(Value::as_i64)
                .filter(|n| *n != 0);
            let np = match requested {
                Some(np) if old_held.contains(&np) => np,
                Some(np) => match state.ports.allocate(np) {
                    Ok(()) => {
                        reserved.ports.push(np);
                        np
                    }
                    Err(e) => {
                        errors.push(port_error(
                            state,
                            format!("spec.ports[{i}].nodePort"),
                            np,
                            e,
                        ));
                        continue;
                    }
                },
                None => {
                    // Keep the port this service already had for the same port and protocol.
                    let key = (
                        p.get("port").and_then(Value::as_i64).unwrap_or(0),
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP"),
                    );
                    let kept = old_ports
                        .iter()
                        .find(|(port, proto, _)| (*port, proto.as_str()) == key)
                        .map(|(_, _, np)| *np);
                    match kept {
                        Some(np) => np,
                        None => {
                            let np = state.ports.allocate_next().map_err(|_| {
                                ApiError::internal("failed to allocate a nodePort: range is full")
                            })?;
                            reserved.ports.push(i64::from(np));
                            i64::from(np)
                        }
                    }
                }
            };
            p.insert("nodePort".into(), json!(np));
        }
    }
    if !errors.is_empty() {
        return Err(invalid_service(&name, errors));
    }

    // The health-check NodePort for LoadBalancers with the Local external traffic policy.
    let local = ty == "LoadBalancer" && svc["spec"]["externalTrafficPolicy"] == json!("Local");
    if local {
        let old_hc = old.and_then(|o| o["spec"]["healthCheckNodePort"].as_i64());
        let want = svc["spec"]["healthCheckNodePort"]
            .as_i64()
            .filter(|n| *n != 0);
        let hc = match (want, old_hc) {
            (Some(w), Some(o)) if w == o => w,
            (None, Some(o)) => o,
            (Some(w), _) => {
                state.ports.allocate(w).map_err(|_| {
                    ApiError::internal(format!(
                        "failed to allocate requested HealthCheck NodePort {w}: provided port is already allocated"
                    ))
                })?;
                reserved.ports.push(w);
                w
            }
            (None, None) => {
                let np = state.ports.allocate_next().map_err(|_| {
                    ApiError::internal("failed to allocate a nodePort: range is full")
                })?;
                reserved.ports.push(i64::from(np));
                i64::from(np)
            }
        };
        svc["spec"]["healthCheckNodePort"] = json!(hc);
    } else if let Some(spec) = svc["spec"].as_object_mut() {
        spec.remove("healthCheckNodePort");
    }
    Ok(())
}

/// Folds a Secret's write-only `stringData` into `data` (base64), as kube-apiserver does when it
/// decodes a Secret, so creates, updates and patches store only `data`; a `stringData` key
/// overrides the same key in `data`.
pub fn secret_string_data(secret: &mut Value) {
    use base64::Engine as _;
    let Some(obj) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = obj.remove("stringData") else {
        return;
    };
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in strings {
            if let Some(text) = v.as_str() {
                let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                data.insert(k, Value::String(encoded));
            }
        }
    }
}

/// Gives a class-less Ingress the default IngressClass, as kube-apiserver's
/// DefaultIngressClass admission plugin does.
pub fn ingress_class(state: &State, ing: &mut Value) -> Result<(), ApiError> {
    let has_class = ing["spec"]["ingressClassName"]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    let has_annotation = ing
        .pointer("/metadata/annotations/kubernetes.io~1ingress.class")
        .is_some();
    if has_class || has_annotation {
        return Ok(());
    }
    let classes = state.store.list("networking.k8s.io/ingressclasses/");
    let defaults: Vec<&str> = classes
        .items
        .iter()
        .filter(|(_, c)| {
            c.pointer("/metadata/annotations/ingressclass.kubernetes.io~1is-default-class")
                .and_then(Value::as_str)
                == Some("true")
        })
        .map(|(_, c)| object::name(c))
        .collect();
    match defaults.as_slice() {
        [] => Ok(()),
        [one] => {
            ing["spec"]["ingressClassName"] = json!(one);
            Ok(())
        }
        many => Err(ApiError::forbidden(format!(
            "{} default IngressClasses were found, only 1 allowed",
            many.len()
        ))),
    }
}

/// Refuses writes into a namespace that does not exist or is being deleted.
pub fn namespace_open(state: &State, namespace: &str) -> Result<(), ApiError> {
    match state.store.get(&format!("core/namespaces/{namespace}")) {
        None => Err(ApiError::namespace_not_found(namespace)),
        Some(ns) if object::is_terminating(&ns) => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ))),
        Some(_) => Ok(()),
    }
}
