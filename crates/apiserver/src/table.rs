//! Server-side printing of `meta.k8s.io/v1` Table objects, with the columns and cell rules of kube-apiserver 1.32.
//!
//! kubectl asks for tables on `get`, and prints whatever columns the server returns; without them it falls back
//! to a bare `NAME AGE` layout. The rules here follow upstream `pkg/printers/internalversion/printers.go`,
//! working on the stored JSON (the v1 wire form) rather than on Go's internal types.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

#[cfg(test)]
mod tests;

/// What each row carries in `object` (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No `object` field on the rows.
    None,
    /// A `PartialObjectMetadata` holding the object's metadata, which is what kube sends by default.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Options for one table.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// The instant that ages are measured against.
    pub now: jiff::Timestamp,
    /// What each row carries in `object`.
    pub include_object: IncludeObject,
    /// Leave out the column definitions, as kube does for every watch event after the first.
    pub no_headers: bool,
    /// The `metadata.resourceVersion` of the table; left out when empty.
    pub resource_version: String,
}

/// Build a Table for objects of the given Kind (objects are full JSON objects, each with apiVersion/kind possibly absent).
pub fn table(kind: &str, objects: &[&serde_json::Value], opts: &TableOptions) -> serde_json::Value {
    let printer = printer_for(kind);
    let columns: Vec<Value> = if opts.no_headers {
        Vec::new()
    } else {
        printer.columns.iter().map(Column::to_json).collect()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let row = (printer.row)(object, opts.now);
            let mut out = Map::new();
            out.insert("cells".into(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".into(), conditions);
            }
            match opts.include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    out.insert("object".into(), partial_metadata(object));
                }
                IncludeObject::Object => {
                    out.insert("object".into(), full_object(kind, object));
                }
            }
            Value::Object(out)
        })
        .collect();
    // kube's ListMeta drops an empty resourceVersion, so an empty one is not sent either.
    let mut metadata = Map::new();
    if !opts.resource_version.is_empty() {
        metadata.insert(
            "resourceVersion".into(),
            Value::String(opts.resource_version.clone()),
        );
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// Kubernetes' HumanDuration.
#[cfg(test)]
pub fn human_duration(d: std::time::Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// Age cell for a creationTimestamp string (RFC 3339), relative to now: "<unknown>" when absent/unparseable, "<invalid>" when more than 1 s in the future.
pub fn age(creation_timestamp: Option<&str>, now: jiff::Timestamp) -> String {
    since_or_unknown(creation_timestamp.and_then(parse_time), now)
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MINUTE: i128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i128 = 60 * NANOS_PER_MINUTE;

/// HumanDuration on a signed nanosecond count, because ages of objects stamped in the future are negative.
fn human_nanos(d: i128) -> String {
    // Integer division truncates toward zero, as Go's int(d.Seconds()) does, so up to 1.999 s in the future
    // still reads "0s": upstream tolerates that much clock skew between machines.
    let seconds = d / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = d / NANOS_PER_MINUTE;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / NANOS_PER_HOUR;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    // Upstream counts a year as 365 days and ignores leap days.
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let rest = days % 365;
        return if rest == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{rest}d")
        };
    }
    format!("{years}y")
}

/// Go's zero time, which metav1 treats the same as an absent timestamp.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Parses an RFC 3339 timestamp, treating Go's zero time like an absent one.
fn parse_time(s: &str) -> Option<Timestamp> {
    let t: Timestamp = s.parse().ok()?;
    (t.as_second() != GO_ZERO_TIME_SECONDS || t.subsec_nanosecond() != 0).then_some(t)
}

/// HumanDuration of the time elapsed from `t` to `now`.
fn since(t: Timestamp, now: Timestamp) -> String {
    human_nanos(now.as_nanosecond() - t.as_nanosecond())
}

/// Like `since`, but with the `<unknown>` that upstream prints for a missing timestamp.
fn since_or_unknown(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map_or_else(|| "<unknown>".into(), |t| since(t, now))
}

// Stored objects may lack any field, so every reader below has a neutral default, as Go's zero values do.

/// The value at `path`, where an explicit `null` counts as absent, as a nil pointer does in Go.
fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    field(v, path).and_then(Value::as_str).unwrap_or("")
}

fn int(v: &Value, path: &[&str]) -> i64 {
    field(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    field(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn map_len(v: &Value, path: &[&str]) -> usize {
    field(v, path)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

fn time(v: &Value, path: &[&str]) -> Option<Timestamp> {
    field(v, path).and_then(Value::as_str).and_then(parse_time)
}

fn name(o: &Value) -> Value {
    Value::from(text(o, &["metadata", "name"]))
}

fn age_cell(o: &Value, now: Timestamp) -> Value {
    Value::from(age(
        field(o, &["metadata", "creationTimestamp"]).and_then(Value::as_str),
        now,
    ))
}

/// True when the condition list holds `kind` with status "True"; only the first entry of that type counts.
fn condition_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|c| text(c, &["type"]) == kind)
        .is_some_and(|c| text(c, &["status"]) == "True")
}

fn partial_metadata(o: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": field(o, &["metadata"]).cloned().unwrap_or_else(|| json!({})),
    })
}

/// The whole object, with `kind` and `apiVersion` filled in when absent, because kube converts each row's
/// object to its versioned form, which always carries both.
fn full_object(kind: &str, o: &Value) -> Value {
    let mut out = o.clone();
    if let Some(map) = out.as_object_mut() {
        if !map.get("kind").is_some_and(Value::is_string) {
            map.insert("kind".into(), Value::from(kind));
        }
        if let Some(api_version) = api_version_of(kind)
            && !map.get("apiVersion").is_some_and(Value::is_string)
        {
            map.insert("apiVersion".into(), Value::from(api_version));
        }
    }
    out
}

fn api_version_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Service" | "Endpoints" | "Pod" | "Secret" | "Namespace" | "Node" | "Event"
        | "ConfigMap" | "ServiceAccount" => "v1",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
        "Ingress" | "IngressClass" => "networking.k8s.io/v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        "Lease" => "coordination.k8s.io/v1",
        "Job" => "batch/v1",
        _ => return None,
    })
}

/// One column definition of a Table.
struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    description: &'static str,
    priority: u8,
}

impl Column {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

const fn col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        description,
        priority: 0,
    }
}

const fn int_col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "integer",
        format: "",
        description,
        priority: 0,
    }
}

/// A column that kubectl shows only with `-o wide`.
const fn wide(column: Column) -> Column {
    Column {
        priority: 1,
        ..column
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name of the object, unique within its namespace (or the cluster, for cluster-scoped kinds).",
    priority: 0,
};
const AGE: Column = col("Age", "Time elapsed since the object was created.");
const CONTAINERS: Column = wide(col(
    "Containers",
    "Names of the containers in the pod template.",
));
const IMAGES: Column = wide(col(
    "Images",
    "Images of the containers in the pod template.",
));
const SELECTOR: Column = wide(col(
    "Selector",
    "Label query that picks the pods this object manages.",
));

/// The cells of one row, plus the optional row conditions.
struct Row {
    cells: Vec<Value>,
    conditions: Option<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

struct Printer {
    columns: &'static [Column],
    row: fn(&Value, Timestamp) -> Row,
}

fn printer_for(kind: &str) -> Printer {
    match kind {
        "Service" => Printer {
            columns: SERVICE,
            row: service_row,
        },
        "Endpoints" => Printer {
            columns: ENDPOINTS,
            row: endpoints_row,
        },
        "Pod" => Printer {
            columns: POD,
            row: pod_row,
        },
        "Deployment" => Printer {
            columns: DEPLOYMENT,
            row: deployment_row,
        },
        "ReplicaSet" => Printer {
            columns: REPLICA_SET,
            row: replica_set_row,
        },
        "StatefulSet" => Printer {
            columns: STATEFUL_SET,
            row: stateful_set_row,
        },
        "DaemonSet" => Printer {
            columns: DAEMON_SET,
            row: daemon_set_row,
        },
        "Job" => Printer {
            columns: JOB,
            row: job_row,
        },
        "Ingress" => Printer {
            columns: INGRESS,
            row: ingress_row,
        },
        "IngressClass" => Printer {
            columns: INGRESS_CLASS,
            row: ingress_class_row,
        },
        "Secret" => Printer {
            columns: SECRET,
            row: secret_row,
        },
        "EndpointSlice" => Printer {
            columns: ENDPOINT_SLICE,
            row: endpoint_slice_row,
        },
        "Namespace" => Printer {
            columns: NAMESPACE,
            row: namespace_row,
        },
        "Node" => Printer {
            columns: NODE,
            row: node_row,
        },
        "Event" => Printer {
            columns: EVENT,
            row: event_row,
        },
        "ConfigMap" => Printer {
            columns: CONFIG_MAP,
            row: config_map_row,
        },
        "ServiceAccount" => Printer {
            columns: SERVICE_ACCOUNT,
            row: service_account_row,
        },
        "Lease" => Printer {
            columns: LEASE,
            row: lease_row,
        },
        _ => Printer {
            columns: DEFAULT,
            row: default_row,
        },
    }
}

const DEFAULT: &[Column] = &[
    NAME,
    Column {
        name: "Created At",
        kind: "date",
        format: "",
        description: "Time the object was created.",
        priority: 0,
    },
];

fn default_row(o: &Value, _now: Timestamp) -> Row {
    // kube prints Go's zero time when the timestamp is missing, so that is what an absent one becomes.
    let created = time(o, &["metadata", "creationTimestamp"]).map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    vec![name(o), Value::from(created)].into()
}

const SERVICE: &[Column] = &[
    NAME,
    col(
        "Type",
        "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col(
        "Cluster-IP",
        "Virtual IP address of the service inside the cluster.",
    ),
    col(
        "External-IP",
        "Addresses that reach the service from outside the cluster.",
    ),
    col("Port(s)", "Ports the service exposes."),
    AGE,
    wide(col(
        "Selector",
        "Labels of the pods that receive the service's traffic.",
    )),
];

fn service_row(o: &Value, now: Timestamp) -> Row {
    let cluster_ips = list(o, &["spec", "clusterIPs"]);
    // Converting a v1 Service fills clusterIPs from clusterIP when only the latter is set.
    let cluster_ip = match cluster_ips.first() {
        Some(first) => first.as_str().unwrap_or(""),
        None => match text(o, &["spec", "clusterIP"]) {
            "" => "<none>",
            ip => ip,
        },
    };
    let ports: Vec<String> = list(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int(p, &["port"]);
            let node_port = int(p, &["nodePort"]);
            let protocol = text(p, &["protocol"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(o),
        Value::from(text(o, &["spec", "type"])),
        Value::from(cluster_ip),
        Value::from(service_external_ip(o)),
        Value::from(ports),
        age_cell(o, now),
        Value::from(format_labels(field(o, &["spec", "selector"]))),
    ]
    .into()
}

fn service_external_ip(o: &Value) -> String {
    let external_ips: Vec<&str> = list(o, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match text(o, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".into()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            // Server-side tables are always wide, so the 16-character clipping of narrow output never applies.
            let mut all = load_balancer_addresses(o);
            all.extend(external_ips.iter().map(|ip| ip.to_string()));
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(o, &["spec", "externalName"]).into(),
        _ => "<unknown>".into(),
    }
}

/// The sorted, de-duplicated `status.loadBalancer.ingress` addresses, each its IP or else its hostname.
fn load_balancer_addresses(o: &Value) -> Vec<String> {
    let set: BTreeSet<&str> = list(o, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| match (text(i, &["ip"]), text(i, &["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    set.into_iter().map(String::from).collect()
}

const ENDPOINTS: &[Column] = &[
    NAME,
    col("Endpoints", "Addresses and ports that back the service."),
    AGE,
];

/// How many entries list-like cells show before summarising the rest as "+ N more...".
const LIST_MAX: usize = 3;

fn endpoints_row(o: &Value, now: Timestamp) -> Row {
    vec![name(o), Value::from(format_endpoints(o)), age_cell(o, now)].into()
}

fn format_endpoints(o: &Value) -> String {
    let subsets = list(o, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = list(subset, &["addresses"]);
        let ports = list(subset, &["ports"]);
        // A headless service may have no ports, and then the bare IPs are listed.
        let port_numbers: Vec<Option<i64>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().map(|p| Some(int(p, &["port"]))).collect()
        };
        for port in port_numbers {
            count += addresses.len();
            for address in addresses {
                if shown.len() == LIST_MAX {
                    more = true;
                    break;
                }
                let ip = text(address, &["ip"]);
                shown.push(match port {
                    None => ip.to_string(),
                    Some(port) => join_host_port(ip, port),
                });
            }
        }
    }
    let joined = shown.join(",");
    if more {
        format!("{joined} + {} more...", count - LIST_MAX)
    } else {
        joined
    }
}

/// Go's net.JoinHostPort: hosts containing a colon (IPv6) get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "Kind of address the slice holds: IPv4, IPv6 or FQDN.",
    ),
    col("Ports", "Ports exposed by the endpoints in the slice."),
    col("Endpoints", "Addresses of the endpoints in the slice."),
    AGE,
];

fn endpoint_slice_row(o: &Value, now: Timestamp) -> Row {
    let ports: Vec<String> = list(o, &["ports"])
        .iter()
        .map(|p| {
            if let Some(port) = field(p, &["port"]).and_then(Value::as_i64) {
                port.to_string()
            } else if let Some(name) = field(p, &["name"]).and_then(Value::as_str) {
                name.to_string()
            } else {
                "*".to_string()
            }
        })
        .collect();
    let addresses: Vec<String> = list(o, &["endpoints"])
        .iter()
        .flat_map(|e| list(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        name(o),
        Value::from(text(o, &["addressType"])),
        Value::from(list_with_more(&ports)),
        Value::from(list_with_more(&addresses)),
        age_cell(o, now),
    ]
    .into()
}

/// The first three items joined with ",", then " + N more..." for the rest, or `<unset>` when nothing shows.
fn list_with_more(items: &[String]) -> String {
    let joined = items[..items.len().min(LIST_MAX)].join(",");
    if items.len() > LIST_MAX {
        format!("{joined} + {} more...", items.len() - LIST_MAX)
    } else if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

const POD: &[Column] = &[
    NAME,
    col(
        "Ready",
        "How many of the pod's containers are ready to serve traffic.",
    ),
    col("Status", "Summary of the state of the pod's containers."),
    col(
        "Restarts",
        "How often the pod's containers restarted, and how long ago the latest restart was.",
    ),
    AGE,
    wide(col("IP", "IP address allocated to the pod.")),
    wide(col("Node", "Node the pod is scheduled on.")),
    wide(col(
        "Nominated Node",
        "Node the scheduler nominated for the pod while preempting others.",
    )),
    wide(col(
        "Readiness Gates",
        "Extra conditions that must hold before the pod counts as ready.",
    )),
];

/// Keeps the later of two optional instants, as the printer does when it tracks the latest restart.
fn latest(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn pod_row(pod: &Value, now: Timestamp) -> Row {
    let phase = text(pod, &["status", "phase"]);
    let status_reason = text(pod, &["status", "reason"]);
    let conditions = list(pod, &["status", "conditions"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    if conditions
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let init_specs = list(pod, &["spec", "initContainers"]);
    // Sidecars are init containers with restartPolicy Always; they keep running, so they count as containers.
    let is_sidecar = |container_name: &str| {
        init_specs.iter().any(|c| {
            text(c, &["name"]) == container_name && text(c, &["restartPolicy"]) == "Always"
        })
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| text(c, &["restartPolicy"]) == "Always")
        .count();
    let total = list(pod, &["spec", "containers"]).len() + sidecars;

    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;
    let mut initializing = false;
    for (i, status) in list(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let sidecar = is_sidecar(text(status, &["name"]));
        let count = int(status, &["restartCount"]);
        let finished = time(status, &["lastState", "terminated", "finishedAt"]);
        restarts += count;
        last_restart = latest(last_restart, finished);
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = latest(last_sidecar_restart, finished);
        }
        let terminated = field(status, &["state", "terminated"]);
        let waiting_reason = text(status, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && field(status, &["started"]).and_then(Value::as_bool) == Some(true) {
            if field(status, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        // The first init container that has neither finished nor started (as a sidecar) describes the pod.
        reason = if let Some(t) = terminated {
            match text(t, &["reason"]) {
                "" => match int(t, &["signal"]) {
                    0 => format!("Init:ExitCode:{}", int(t, &["exitCode"])),
                    signal => format!("Init:Signal:{signal}"),
                },
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        // Once initialised, only sidecar restarts carry over from the init containers.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Walking backwards lets the first container with a reason have the last word, as upstream does.
        for status in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(status, &["restartCount"]);
            last_restart = latest(
                last_restart,
                time(status, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting_reason = text(status, &["state", "waiting", "reason"]);
            let terminated = field(status, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match text(t, &["reason"]) {
                    "" => match int(t, &["signal"]) {
                        0 => format!("ExitCode:{}", int(t, &["exitCode"])),
                        signal => format!("Signal:{signal}"),
                    },
                    r => r.to_string(),
                };
            } else if field(status, &["ready"]).and_then(Value::as_bool) == Some(true)
                && field(status, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose finished containers report Completed is still running if another container runs.
        if reason == "Completed" && has_running {
            reason = if condition_true_any(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = field(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(t, now)),
        _ => restarts.to_string(),
    };

    // Converting a v1 Pod fills podIPs from podIP when only the latter is set.
    let pod_ip = match list(pod, &["status", "podIPs"]).first() {
        Some(first) => text(first, &["ip"]),
        None => text(pod, &["status", "podIP"]),
    };
    let gates = list(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = gates
            .iter()
            .filter(|g| condition_true(conditions, text(g, &["conditionType"])))
            .count();
        format!("{passing}/{}", gates.len())
    };

    let conditions = match phase {
        "Succeeded" => Some(completed_condition(
            "Succeeded",
            "The pod finished successfully.",
        )),
        "Failed" => Some(completed_condition("Failed", "The pod failed.")),
        _ => None,
    };
    Row {
        cells: vec![
            name(pod),
            Value::from(format!("{ready}/{total}")),
            Value::from(reason),
            Value::from(restarts),
            age_cell(pod, now),
            Value::from(or_none(pod_ip)),
            Value::from(or_none(text(pod, &["spec", "nodeName"]))),
            Value::from(or_none(text(pod, &["status", "nominatedNodeName"]))),
            Value::from(readiness_gates),
        ],
        conditions,
    }
}

/// True when any entry of the condition list has `kind` with status "True", which is how the pod's Ready
/// condition is checked upstream (unlike the first-match rule of `condition_true`).
fn condition_true_any(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .any(|c| text(c, &["type"]) == kind && text(c, &["status"]) == "True")
}

/// The row condition that lets clients recognise finished pods.
fn completed_condition(reason: &str, message: &str) -> Value {
    json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}])
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

/// The comma-joined names and images of the pod template's containers.
fn template_containers(o: &Value) -> (Value, Value) {
    let containers = list(o, &["spec", "template", "spec", "containers"]);
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (Value::from(names.join(",")), Value::from(images.join(",")))
}

/// `spec.replicas`, which kube's defaulting sets to 1 when a client leaves it out.
fn desired_replicas(o: &Value) -> i64 {
    field(o, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "Ready pods out of the desired number."),
    col("Up-to-date", "Pods that run the latest pod template."),
    col(
        "Available",
        "Pods that have been ready for at least minReadySeconds.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn deployment_row(o: &Value, now: Timestamp) -> Row {
    let (names, images) = template_containers(o);
    // Deployments print a selector error as <invalid> and an empty selector as nothing at all.
    let selector =
        label_selector(field(o, &["spec", "selector"])).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(o),
        Value::from(format!(
            "{}/{}",
            int(o, &["status", "readyReplicas"]),
            desired_replicas(o)
        )),
        Value::from(int(o, &["status", "updatedReplicas"])),
        Value::from(int(o, &["status", "availableReplicas"])),
        age_cell(o, now),
        names,
        images,
        Value::from(selector),
    ]
    .into()
}

const REPLICA_SET: &[Column] = &[
    NAME,
    int_col("Desired", "Number of pods the spec asks for."),
    int_col("Current", "Number of pods that exist now."),
    int_col("Ready", "Number of pods that are ready."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn replica_set_row(o: &Value, now: Timestamp) -> Row {
    let (names, images) = template_containers(o);
    vec![
        name(o),
        Value::from(desired_replicas(o)),
        Value::from(int(o, &["status", "replicas"])),
        Value::from(int(o, &["status", "readyReplicas"])),
        age_cell(o, now),
        names,
        images,
        Value::from(format_label_selector(field(o, &["spec", "selector"]))),
    ]
    .into()
}

const STATEFUL_SET: &[Column] = &[
    NAME,
    col("Ready", "Ready pods out of the desired number."),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set_row(o: &Value, now: Timestamp) -> Row {
    let (names, images) = template_containers(o);
    vec![
        name(o),
        Value::from(format!(
            "{}/{}",
            int(o, &["status", "readyReplicas"]),
            desired_replicas(o)
        )),
        age_cell(o, now),
        names,
        images,
    ]
    .into()
}

const DAEMON_SET: &[Column] = &[
    NAME,
    int_col("Desired", "Nodes that should run the daemon pod."),
    int_col("Current", "Nodes that run at least one daemon pod."),
    int_col("Ready", "Nodes whose daemon pod is ready."),
    int_col("Up-to-date", "Nodes that run the latest daemon pod."),
    int_col("Available", "Nodes whose daemon pod is available."),
    col(
        "Node Selector",
        "Labels a node needs for the pod to run there.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn daemon_set_row(o: &Value, now: Timestamp) -> Row {
    let (names, images) = template_containers(o);
    vec![
        name(o),
        Value::from(int(o, &["status", "desiredNumberScheduled"])),
        Value::from(int(o, &["status", "currentNumberScheduled"])),
        Value::from(int(o, &["status", "numberReady"])),
        Value::from(int(o, &["status", "updatedNumberScheduled"])),
        Value::from(int(o, &["status", "numberAvailable"])),
        Value::from(format_labels(field(
            o,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age_cell(o, now),
        names,
        images,
        Value::from(format_label_selector(field(o, &["spec", "selector"]))),
    ]
    .into()
}

const JOB: &[Column] = &[
    NAME,
    col("Status", "Current state of the job."),
    col("Completions", "Succeeded pods out of the number wanted."),
    col("Duration", "How long the job ran, or has been running."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn job_row(o: &Value, now: Timestamp) -> Row {
    let succeeded = int(o, &["status", "succeeded"]);
    let completions = match field(o, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(wanted) => format!("{succeeded}/{wanted}"),
        None => match int(o, &["spec", "parallelism"]) {
            // A work-queue job has no completion count, so its parallelism is shown instead.
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time(o, &["status", "startTime"]),
        time(o, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => since(start, now),
        (Some(start), Some(end)) => since(start, end),
    };
    let conditions = list(o, &["status", "conditions"]);
    let status = if condition_true(conditions, "Complete") {
        "Complete"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if field(o, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if condition_true(conditions, "Suspended") {
        "Suspended"
    } else if condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(o);
    vec![
        name(o),
        Value::from(status),
        Value::from(completions),
        Value::from(duration),
        age_cell(o, now),
        names,
        images,
        Value::from(format_label_selector(field(o, &["spec", "selector"]))),
    ]
    .into()
}

/// A label map as sorted `k=v` pairs joined with ",", or `<none>`.
fn format_labels(labels: Option<&Value>) -> String {
    let mut pairs: Vec<(&str, &str)> = labels
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// metav1.FormatLabelSelector: `<none>` when the selector selects everything or nothing, `<error>` when invalid.
fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector(selector) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// A LabelSelector rendered as kube's labels.Selector string, or None when kube would reject it.
///
/// A missing or empty selector renders as the empty string, as both "nothing" and "everything" do upstream.
pub(crate) fn label_selector(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector else {
        return Some(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = field(selector, &["matchLabels"]) {
        let labels = labels.as_object()?;
        let mut sorted: Vec<(&String, &Value)> = labels.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in sorted {
            let value = value.as_str()?;
            if !valid_label_key(key) || !valid_label_value(value) {
                return None;
            }
            requirements.push((key.clone(), format!("{key}={value}")));
        }
    }
    for expr in list(selector, &["matchExpressions"]) {
        let key = text(expr, &["key"]);
        let mut values: Vec<&str> = Vec::new();
        for v in list(expr, &["values"]) {
            values.push(v.as_str()?);
        }
        if !valid_label_key(key) || !values.iter().all(|v| valid_label_value(v)) {
            return None;
        }
        // Values print sorted, whatever order the object lists them in.
        values.sort_unstable();
        let rendered = match text(expr, &["operator"]) {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_string(), rendered));
    }
    // Selectors order their requirements by key; the sort is stable so ties keep their listed order.
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        requirements
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// A label name: at most 63 characters, alphanumeric at both ends, with `-`, `_` and `.` inside.
fn valid_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A label key: a label name, optionally after a DNS-subdomain prefix and a slash.
fn valid_label_key(key: &str) -> bool {
    match key.split_once('/') {
        None => valid_label_name(key),
        Some((prefix, name)) => {
            valid_label_name(name)
                && prefix.len() <= 253
                && prefix.split('.').all(|part| {
                    let bytes = part.as_bytes();
                    match (bytes.first(), bytes.last()) {
                        (Some(f), Some(l)) => {
                            (f.is_ascii_lowercase() || f.is_ascii_digit())
                                && (l.is_ascii_lowercase() || l.is_ascii_digit())
                                && bytes.iter().all(|b| {
                                    b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-'
                                })
                        }
                        _ => false,
                    }
                })
        }
    }
}

/// A label value: empty, or a label name.
fn valid_label_value(value: &str) -> bool {
    value.is_empty() || valid_label_name(value)
}

const INGRESS: &[Column] = &[
    NAME,
    col("Class", "IngressClass that handles this ingress."),
    col("Hosts", "Host names that requests are matched against."),
    col("Address", "Load-balancer addresses of the ingress."),
    col("Ports", "Ports the ingress serves."),
    AGE,
];

fn ingress_row(o: &Value, now: Timestamp) -> Row {
    let class = field(o, &["spec", "ingressClassName"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports = if list(o, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(o),
        Value::from(class),
        Value::from(format_hosts(list(o, &["spec", "rules"]))),
        // An ingress without addresses shows an empty cell, not <none>.
        Value::from(load_balancer_addresses(o).join(",")),
        Value::from(ports),
        age_cell(o, now),
    ]
    .into()
}

fn format_hosts(rules: &[Value]) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    // Like upstream, rules without a host are skipped until three hosts are found, yet the "more" count
    // is taken over all rules.
    for rule in rules {
        if hosts.len() == LIST_MAX {
            more = true;
        }
        let host = text(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".into();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - LIST_MAX)
    } else {
        joined
    }
}

const INGRESS_CLASS: &[Column] = &[
    NAME,
    col("Controller", "Controller that implements this class."),
    col(
        "Parameters",
        "Resource holding extra configuration for the class.",
    ),
    AGE,
];

fn ingress_class_row(o: &Value, now: Timestamp) -> Row {
    let parameters = match field(o, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut s = text(p, &["kind"]).to_string();
            // An apiGroup that is present but empty still adds the dot, as a non-nil pointer does upstream.
            if let Some(group) = field(p, &["apiGroup"]).and_then(Value::as_str) {
                s.push('.');
                s.push_str(group);
            }
            s.push('/');
            s.push_str(text(p, &["name"]));
            s
        }
    };
    vec![
        name(o),
        Value::from(text(o, &["spec", "controller"])),
        Value::from(parameters),
        age_cell(o, now),
    ]
    .into()
}

const SECRET: &[Column] = &[
    NAME,
    col(
        "Type",
        "Kind of secret, which tells programs how to read its data.",
    ),
    col("Data", "Number of data entries in the secret."),
    AGE,
];

fn secret_row(o: &Value, now: Timestamp) -> Row {
    // kube merges stringData into data when it decodes a Secret, so the keys of both are counted once.
    let keys: BTreeSet<&String> = ["data", "stringData"]
        .iter()
        .filter_map(|f| field(o, &[f]).and_then(Value::as_object))
        .flat_map(Map::keys)
        .collect();
    vec![
        name(o),
        Value::from(text(o, &["type"])),
        Value::from(keys.len()),
        age_cell(o, now),
    ]
    .into()
}

const CONFIG_MAP: &[Column] = &[
    NAME,
    col("Data", "Number of data entries, text and binary."),
    AGE,
];

fn config_map_row(o: &Value, now: Timestamp) -> Row {
    let entries = map_len(o, &["data"]) + map_len(o, &["binaryData"]);
    vec![name(o), Value::from(entries), age_cell(o, now)].into()
}

const SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "Number of secrets the service account refers to.",
    ),
    AGE,
];

fn service_account_row(o: &Value, now: Timestamp) -> Row {
    vec![
        name(o),
        Value::from(list(o, &["secrets"]).len()),
        age_cell(o, now),
    ]
    .into()
}

const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "Lifecycle phase of the namespace."),
    AGE,
];

fn namespace_row(o: &Value, now: Timestamp) -> Row {
    vec![
        name(o),
        Value::from(text(o, &["status", "phase"])),
        age_cell(o, now),
    ]
    .into()
}

const LEASE: &[Column] = &[
    NAME,
    col("Holder", "Identity of the current holder of the lease."),
    AGE,
];

fn lease_row(o: &Value, now: Timestamp) -> Row {
    vec![
        name(o),
        Value::from(text(o, &["spec", "holderIdentity"])),
        age_cell(o, now),
    ]
    .into()
}

const NODE: &[Column] = &[
    NAME,
    col("Status", "Readiness of the node."),
    col("Roles", "Roles the node has."),
    AGE,
    col("Version", "Kubelet version the node reports."),
    wide(col("Internal-IP", "Internal address of the node.")),
    wide(col("External-IP", "External address of the node.")),
    wide(col("OS-Image", "Operating system image the node reports.")),
    wide(col("Kernel-Version", "Kernel version the node reports.")),
    wide(col(
        "Container-Runtime",
        "Container runtime and version the node reports.",
    )),
];

const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

fn node_row(o: &Value, now: Timestamp) -> Row {
    // Only the Ready condition counts; a repeated condition type is decided by its last entry.
    let ready = list(o, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        None => "Unknown",
        Some(c) if text(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
    }];
    if field(o, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }

    let mut roles: BTreeSet<&str> = BTreeSet::new();
    if let Some(labels) = field(o, &["metadata", "labels"]).and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or("");
            if let Some(role) = key.strip_prefix(NODE_ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role);
                }
            } else if key == NODE_ROLE_LABEL && !value.is_empty() {
                roles.insert(value);
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };

    let address = |kind: &str| {
        list(o, &["status", "addresses"])
            .iter()
            .find(|a| text(a, &["type"]) == kind)
            .map_or("<none>", |a| text(a, &["address"]))
    };
    let info = |key: &str| match text(o, &["status", "nodeInfo", key]) {
        "" => "<unknown>",
        v => v,
    };
    vec![
        name(o),
        Value::from(status.join(",")),
        Value::from(roles),
        age_cell(o, now),
        Value::from(text(o, &["status", "nodeInfo", "kubeletVersion"])),
        Value::from(address("InternalIP")),
        Value::from(address("ExternalIP")),
        Value::from(info("osImage")),
        Value::from(info("kernelVersion")),
        Value::from(info("containerRuntimeVersion")),
    ]
    .into()
}

const EVENT: &[Column] = &[
    col("Last Seen", "When the event was most recently seen."),
    col("Type", "Type of the event, Normal or Warning."),
    col("Reason", "Short, machine-readable cause of the event."),
    col("Object", "Object the event is about."),
    wide(col("Subobject", "Part of the object the event is about.")),
    wide(col("Source", "Component that reported the event.")),
    col("Message", "Human-readable description of the event."),
    wide(col("First Seen", "When the event was first seen.")),
    wide(col("Count", "How many times the event occurred.")),
    Column {
        priority: 1,
        ..NAME
    },
];

fn event_row(o: &Value, now: Timestamp) -> Row {
    // Events written through the newer API carry eventTime and series instead of the legacy fields.
    let first = match time(o, &["firstTimestamp"]) {
        Some(t) => since(t, now),
        None => since_or_unknown(time(o, &["eventTime"]), now),
    };
    let mut last = match time(o, &["lastTimestamp"]) {
        Some(t) => since(t, now),
        None => first.clone(),
    };
    let mut count = int(o, &["count"]);
    if let Some(series) = field(o, &["series"]) {
        last = since_or_unknown(time(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = text(o, &["involvedObject", "kind"]).to_lowercase();
    let target = match text(o, &["involvedObject", "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &'static [&'static str], b: &'static [&'static str]| match text(o, a)
    {
        "" => text(o, b),
        v => v,
    };
    let component = first_non_empty(&["source", "component"], &["reportingComponent"]);
    let host = first_non_empty(&["source", "host"], &["reportingInstance"]);
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        Value::from(last),
        Value::from(text(o, &["type"])),
        Value::from(text(o, &["reason"])),
        Value::from(target),
        Value::from(text(o, &["involvedObject", "fieldPath"])),
        Value::from(source),
        Value::from(text(o, &["message"]).trim()),
        Value::from(first),
        Value::from(count),
        name(o),
    ]
    .into()
}
