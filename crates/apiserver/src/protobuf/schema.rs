//! The table of Kubernetes protobuf messages that the generic decoder walks.
//!
//! Each message lists its fields as (field number, JSON name, type). The numbers come from the
//! upstream `generated.proto` files of `k8s.io/api` and `k8s.io/apimachinery`; the JSON names and
//! the zero-value rules come from the Go structs those files are generated from. Only the messages
//! reachable from the kinds in [`KINDS`] are listed, and within them only the fields a client can
//! meaningfully send: unlisted field numbers are skipped by the decoder, never rejected.
//!
//! The table is written with two small macros so that a field fits on one line:
//!
//! - `N "json" T,` is a singular field whose zero value (`""`, `0`, `false`) is left out of the
//!   JSON, which is what Go's `omitempty` does for a non-pointer field.
//! - `N "json" T!,` is a singular field that stays in the JSON whenever it is on the wire, even
//!   when zero: a Go pointer (such as `replicas`) or a field without `omitempty` (such as
//!   `containerPort`).
//! - `N "json" [T],` is a repeated field, `N "json" {T},` is a `map<string, T>`, and
//!   `N ..M,` is an embedded Go struct whose fields are inlined into the parent's JSON object.
//!
//! `T` is one of `str`, `bytes`, `bool`, `i32`, `i64`, `f64`, `ios` (IntOrString), `qty`
//! (Quantity), `time`, `mtime` (MicroTime), `dur` (Duration), `raw` (RawExtension), or the name
//! of another message in this file.

/// One protobuf message: its name for error reports and its known fields.
#[derive(Debug)]
pub(super) struct Message {
    /// The name used in error messages, such as `v1.Secret` or `apps/v1.DeploymentSpec`.
    pub(super) name: &'static str,
    /// The fields the decoder understands; any other field number is skipped.
    pub(super) fields: &'static [FieldSpec],
}

impl Message {
    /// Finds the schema entry for a field number.
    pub(super) fn field(&self, number: u32) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.number == number)
    }
}

/// One field of a [`Message`].
#[derive(Debug)]
pub(super) struct FieldSpec {
    /// The protobuf field number.
    pub(super) number: u32,
    /// The JSON key; empty for an inlined struct, whose own fields supply the keys.
    pub(super) json: &'static str,
    /// How the field is laid out and what its values are.
    pub(super) kind: Kind,
}

/// The shape of a field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// A single value, with the rule for its zero value.
    Single(Type, Zero),
    /// A repeated field, rendered as a JSON array.
    Repeated(Type),
    /// A `map<string, T>`, sent as repeated entry messages `{1: key, 2: value}`; the string is the
    /// entry's name for error reports.
    Map(Type, &'static str),
    /// An embedded Go struct (`json:",inline"`) whose fields land in the parent object.
    Inline(&'static Message),
}

/// What a zero value of a singular scalar field turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    /// The zero value is dropped, as `omitempty` does for a Go value field.
    Omit,
    /// The value is kept whenever it is on the wire, as for a Go pointer or a field without
    /// `omitempty`.
    Keep,
}

/// The value type of a field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Type {
    /// A UTF-8 string.
    String,
    /// Raw bytes, rendered as standard base64 like Go's `[]byte`.
    Bytes,
    /// A varint boolean.
    Bool,
    /// A varint `int32`.
    Int32,
    /// A varint `int64`.
    Int64,
    /// A fixed 64-bit IEEE double.
    #[allow(
        dead_code,
        reason = "no listed field is a double yet, but the decoder supports the wire type"
    )]
    Double,
    /// An embedded message, rendered as a JSON object.
    Message(&'static Message),
    /// `intstr.IntOrString`: `{1: type, 2: intVal, 3: strVal}`, rendered as a number or a string.
    IntOrString,
    /// `resource.Quantity`: `{1: string}`, rendered as that string.
    Quantity,
    /// `metav1.Time`: `{1: seconds, 2: nanos}`, rendered as RFC 3339 with whole seconds.
    Time,
    /// `metav1.MicroTime`: like [`Type::Time`] but rendered with microseconds.
    MicroTime,
    /// `metav1.Duration`: `{1: nanoseconds}`, rendered as a Go duration string.
    #[allow(
        dead_code,
        reason = "no listed kind has a Duration field yet, but the decoder supports the type"
    )]
    Duration,
    /// `runtime.RawExtension`: `{1: raw}`, whose bytes are JSON and are embedded as such.
    RawExtension,
}

/// Maps a type token of the table syntax to a [`Type`].
macro_rules! ty {
    (str) => {
        Type::String
    };
    (bytes) => {
        Type::Bytes
    };
    (bool) => {
        Type::Bool
    };
    (i32) => {
        Type::Int32
    };
    (i64) => {
        Type::Int64
    };
    (f64) => {
        Type::Double
    };
    (ios) => {
        Type::IntOrString
    };
    (qty) => {
        Type::Quantity
    };
    (time) => {
        Type::Time
    };
    (mtime) => {
        Type::MicroTime
    };
    (dur) => {
        Type::Duration
    };
    (raw) => {
        Type::RawExtension
    };
    ($message:ident) => {
        Type::Message(&$message)
    };
}

/// Turns the field lines of one message into a `&[FieldSpec]`, one line at a time, so that map
/// entries can be named after their message.
macro_rules! fields {
    (@acc [$($out:expr,)*] $msg:literal;) => {
        &[$($out,)*]
    };
    (@acc [$($out:expr,)*] $msg:literal; $n:literal .. $inline:ident, $($rest:tt)*) => {
        fields!(@acc [$($out,)* FieldSpec { number: $n, json: "", kind: Kind::Inline(&$inline) },]
            $msg; $($rest)*)
    };
    (@acc [$($out:expr,)*] $msg:literal; $n:literal $json:literal [$t:tt], $($rest:tt)*) => {
        fields!(@acc [$($out,)* FieldSpec { number: $n, json: $json, kind: Kind::Repeated(ty!($t)) },]
            $msg; $($rest)*)
    };
    (@acc [$($out:expr,)*] $msg:literal; $n:literal $json:literal {$t:tt}, $($rest:tt)*) => {
        fields!(@acc [$($out,)* FieldSpec {
            number: $n,
            json: $json,
            kind: Kind::Map(ty!($t), concat!($msg, ".", $json, " entry")),
        },] $msg; $($rest)*)
    };
    (@acc [$($out:expr,)*] $msg:literal; $n:literal $json:literal $t:tt !, $($rest:tt)*) => {
        fields!(@acc [$($out,)* FieldSpec { number: $n, json: $json, kind: Kind::Single(ty!($t), Zero::Keep) },]
            $msg; $($rest)*)
    };
    (@acc [$($out:expr,)*] $msg:literal; $n:literal $json:literal $t:tt, $($rest:tt)*) => {
        fields!(@acc [$($out,)* FieldSpec { number: $n, json: $json, kind: Kind::Single(ty!($t), Zero::Omit) },]
            $msg; $($rest)*)
    };
}

/// Declares one `static` [`Message`] per entry.
macro_rules! messages {
    ($($id:ident = $name:literal { $($body:tt)* })*) => {
        $(
            pub(super) static $id: Message = Message {
                name: $name,
                fields: fields!(@acc [] $name; $($body)*),
            };
        )*
    };
}

/// The top-level kinds that can be decoded, as (apiVersion, kind, message).
pub(super) static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Endpoints", &ENDPOINTS),
    ("v1", "Event", &EVENT),
    ("v1", "LimitRange", &LIMIT_RANGE),
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "PersistentVolumeClaim", &PERSISTENT_VOLUME_CLAIM),
    ("v1", "Pod", &POD),
    ("v1", "PodTemplate", &POD_TEMPLATE),
    ("v1", "ReplicationController", &REPLICATION_CONTROLLER),
    ("v1", "ResourceQuota", &RESOURCE_QUOTA),
    ("v1", "Secret", &SECRET),
    ("v1", "Service", &SERVICE),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("apps/v1", "ControllerRevision", &CONTROLLER_REVISION),
    ("apps/v1", "DaemonSet", &DAEMON_SET),
    ("apps/v1", "Deployment", &DEPLOYMENT),
    ("apps/v1", "ReplicaSet", &REPLICA_SET),
    ("apps/v1", "StatefulSet", &STATEFUL_SET),
    ("batch/v1", "CronJob", &CRON_JOB),
    ("batch/v1", "Job", &JOB),
    ("coordination.k8s.io/v1", "Lease", &LEASE),
    ("discovery.k8s.io/v1", "EndpointSlice", &ENDPOINT_SLICE),
    ("networking.k8s.io/v1", "Ingress", &INGRESS),
    ("networking.k8s.io/v1", "IngressClass", &INGRESS_CLASS),
    ("networking.k8s.io/v1", "NetworkPolicy", &NETWORK_POLICY),
    ("policy/v1", "PodDisruptionBudget", &POD_DISRUPTION_BUDGET),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", &CLUSTER_ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &CLUSTER_ROLE_BINDING,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", &ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", &ROLE_BINDING),
    ("scheduling.k8s.io/v1", "PriorityClass", &PRIORITY_CLASS),
];

/// Finds the message for an envelope's `apiVersion` and `kind`.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
}

// k8s.io/apimachinery/pkg/apis/meta/v1. These keep their bare names in error reports.
messages! {
    OBJECT_META = "ObjectMeta" {
        1 "name" str, 2 "generateName" str, 3 "namespace" str, 4 "selfLink" str, 5 "uid" str,
        6 "resourceVersion" str, 7 "generation" i64, 8 "creationTimestamp" time,
        9 "deletionTimestamp" time, 10 "deletionGracePeriodSeconds" i64!, 11 "labels" {str},
        12 "annotations" {str}, 13 "ownerReferences" [OWNER_REFERENCE], 14 "finalizers" [str],
    }
    OWNER_REFERENCE = "OwnerReference" {
        5 "apiVersion" str!, 1 "kind" str!, 3 "name" str!, 4 "uid" str!, 6 "controller" bool!,
        7 "blockOwnerDeletion" bool!,
    }
    LABEL_SELECTOR = "LabelSelector" {
        1 "matchLabels" {str}, 2 "matchExpressions" [LABEL_SELECTOR_REQUIREMENT],
    }
    LABEL_SELECTOR_REQUIREMENT = "LabelSelectorRequirement" {
        1 "key" str!, 2 "operator" str!, 3 "values" [str],
    }
    CONDITION = "Condition" {
        1 "type" str!, 2 "status" str!, 3 "observedGeneration" i64, 4 "lastTransitionTime" time,
        5 "reason" str!, 6 "message" str!,
    }
}

// k8s.io/api/core/v1: top-level kinds.
messages! {
    CONFIG_MAP = "v1.ConfigMap" {
        1 "metadata" OBJECT_META, 4 "immutable" bool!, 2 "data" {str}, 3 "binaryData" {bytes},
    }
    SECRET = "v1.Secret" {
        1 "metadata" OBJECT_META, 5 "immutable" bool!, 2 "data" {bytes}, 4 "stringData" {str},
        3 "type" str,
    }
    NAMESPACE = "v1.Namespace" {
        1 "metadata" OBJECT_META, 2 "spec" NAMESPACE_SPEC, 3 "status" NAMESPACE_STATUS,
    }
    NAMESPACE_SPEC = "v1.NamespaceSpec" { 1 "finalizers" [str], }
    NAMESPACE_STATUS = "v1.NamespaceStatus" {
        1 "phase" str, 2 "conditions" [NAMESPACE_CONDITION],
    }
    NAMESPACE_CONDITION = "v1.NamespaceCondition" {
        1 "type" str!, 2 "status" str!, 4 "lastTransitionTime" time, 5 "reason" str,
        6 "message" str,
    }
    SERVICE_ACCOUNT = "v1.ServiceAccount" {
        1 "metadata" OBJECT_META, 2 "secrets" [OBJECT_REFERENCE],
        3 "imagePullSecrets" [LOCAL_OBJECT_REFERENCE], 4 "automountServiceAccountToken" bool!,
    }
    SERVICE = "v1.Service" {
        1 "metadata" OBJECT_META, 2 "spec" SERVICE_SPEC, 3 "status" SERVICE_STATUS,
    }
    SERVICE_SPEC = "v1.ServiceSpec" {
        1 "ports" [SERVICE_PORT], 2 "selector" {str}, 3 "clusterIP" str, 18 "clusterIPs" [str],
        4 "type" str, 5 "externalIPs" [str], 7 "sessionAffinity" str, 8 "loadBalancerIP" str,
        9 "loadBalancerSourceRanges" [str], 10 "externalName" str,
        11 "externalTrafficPolicy" str, 12 "healthCheckNodePort" i32,
        13 "publishNotReadyAddresses" bool, 14 "sessionAffinityConfig" SESSION_AFFINITY_CONFIG,
        19 "ipFamilies" [str], 17 "ipFamilyPolicy" str!, 20 "allocateLoadBalancerNodePorts" bool!,
        21 "loadBalancerClass" str!, 22 "internalTrafficPolicy" str!,
        23 "trafficDistribution" str!,
    }
    SERVICE_PORT = "v1.ServicePort" {
        1 "name" str, 2 "protocol" str, 6 "appProtocol" str!, 3 "port" i32!, 4 "targetPort" ios,
        5 "nodePort" i32,
    }
    SESSION_AFFINITY_CONFIG = "v1.SessionAffinityConfig" { 1 "clientIP" CLIENT_IP_CONFIG, }
    CLIENT_IP_CONFIG = "v1.ClientIPConfig" { 1 "timeoutSeconds" i32!, }
    SERVICE_STATUS = "v1.ServiceStatus" {
        1 "loadBalancer" LOAD_BALANCER_STATUS, 2 "conditions" [CONDITION],
    }
    LOAD_BALANCER_STATUS = "v1.LoadBalancerStatus" { 1 "ingress" [LOAD_BALANCER_INGRESS], }
    LOAD_BALANCER_INGRESS = "v1.LoadBalancerIngress" {
        1 "ip" str, 2 "hostname" str, 3 "ipMode" str!, 4 "ports" [PORT_STATUS],
    }
    PORT_STATUS = "v1.PortStatus" { 1 "port" i32!, 2 "protocol" str!, 3 "error" str!, }
    ENDPOINTS = "v1.Endpoints" { 1 "metadata" OBJECT_META, 2 "subsets" [ENDPOINT_SUBSET], }
    ENDPOINT_SUBSET = "v1.EndpointSubset" {
        1 "addresses" [ENDPOINT_ADDRESS], 2 "notReadyAddresses" [ENDPOINT_ADDRESS],
        3 "ports" [CORE_ENDPOINT_PORT],
    }
    ENDPOINT_ADDRESS = "v1.EndpointAddress" {
        1 "ip" str!, 3 "hostname" str, 4 "nodeName" str!, 2 "targetRef" OBJECT_REFERENCE,
    }
    CORE_ENDPOINT_PORT = "v1.EndpointPort" {
        1 "name" str, 2 "port" i32!, 3 "protocol" str, 4 "appProtocol" str!,
    }
    EVENT = "v1.Event" {
        1 "metadata" OBJECT_META, 2 "involvedObject" OBJECT_REFERENCE, 3 "reason" str,
        4 "message" str, 5 "source" EVENT_SOURCE, 6 "firstTimestamp" time,
        7 "lastTimestamp" time, 8 "count" i32, 9 "type" str, 10 "eventTime" mtime,
        11 "series" EVENT_SERIES, 12 "action" str, 13 "related" OBJECT_REFERENCE,
        14 "reportingComponent" str!, 15 "reportingInstance" str!,
    }
    EVENT_SOURCE = "v1.EventSource" { 1 "component" str, 2 "host" str, }
    EVENT_SERIES = "v1.EventSeries" { 1 "count" i32, 2 "lastObservedTime" mtime, }
    POD = "v1.Pod" { 1 "metadata" OBJECT_META, 2 "spec" POD_SPEC, 3 "status" POD_STATUS, }
    POD_TEMPLATE = "v1.PodTemplate" {
        1 "metadata" OBJECT_META, 2 "template" POD_TEMPLATE_SPEC,
    }
    REPLICATION_CONTROLLER = "v1.ReplicationController" {
        1 "metadata" OBJECT_META, 2 "spec" REPLICATION_CONTROLLER_SPEC,
        3 "status" REPLICATION_CONTROLLER_STATUS,
    }
    REPLICATION_CONTROLLER_SPEC = "v1.ReplicationControllerSpec" {
        1 "replicas" i32!, 4 "minReadySeconds" i32, 2 "selector" {str},
        3 "template" POD_TEMPLATE_SPEC,
    }
    REPLICATION_CONTROLLER_STATUS = "v1.ReplicationControllerStatus" {
        1 "replicas" i32!, 2 "fullyLabeledReplicas" i32, 4 "readyReplicas" i32,
        5 "availableReplicas" i32, 3 "observedGeneration" i64,
        6 "conditions" [REPLICATION_CONTROLLER_CONDITION],
    }
    REPLICATION_CONTROLLER_CONDITION = "v1.ReplicationControllerCondition" {
        1 "type" str!, 2 "status" str!, 3 "lastTransitionTime" time, 4 "reason" str,
        5 "message" str,
    }
    RESOURCE_QUOTA = "v1.ResourceQuota" {
        1 "metadata" OBJECT_META, 2 "spec" RESOURCE_QUOTA_SPEC, 3 "status" RESOURCE_QUOTA_STATUS,
    }
    RESOURCE_QUOTA_SPEC = "v1.ResourceQuotaSpec" {
        1 "hard" {qty}, 2 "scopes" [str], 3 "scopeSelector" SCOPE_SELECTOR,
    }
    SCOPE_SELECTOR = "v1.ScopeSelector" {
        1 "matchExpressions" [SCOPED_RESOURCE_SELECTOR_REQUIREMENT],
    }
    SCOPED_RESOURCE_SELECTOR_REQUIREMENT = "v1.ScopedResourceSelectorRequirement" {
        1 "scopeName" str!, 2 "operator" str!, 3 "values" [str],
    }
    RESOURCE_QUOTA_STATUS = "v1.ResourceQuotaStatus" { 1 "hard" {qty}, 2 "used" {qty}, }
    LIMIT_RANGE = "v1.LimitRange" { 1 "metadata" OBJECT_META, 2 "spec" LIMIT_RANGE_SPEC, }
    LIMIT_RANGE_SPEC = "v1.LimitRangeSpec" { 1 "limits" [LIMIT_RANGE_ITEM], }
    LIMIT_RANGE_ITEM = "v1.LimitRangeItem" {
        1 "type" str!, 2 "max" {qty}, 3 "min" {qty}, 4 "default" {qty}, 5 "defaultRequest" {qty},
        6 "maxLimitRequestRatio" {qty},
    }
    PERSISTENT_VOLUME_CLAIM = "v1.PersistentVolumeClaim" {
        1 "metadata" OBJECT_META, 2 "spec" PERSISTENT_VOLUME_CLAIM_SPEC,
        3 "status" PERSISTENT_VOLUME_CLAIM_STATUS,
    }
}

// k8s.io/api/core/v1: references shared by many kinds.
messages! {
    OBJECT_REFERENCE = "v1.ObjectReference" {
        1 "kind" str, 2 "namespace" str, 3 "name" str, 4 "uid" str, 5 "apiVersion" str,
        6 "resourceVersion" str, 7 "fieldPath" str,
    }
    LOCAL_OBJECT_REFERENCE = "v1.LocalObjectReference" { 1 "name" str, }
    TYPED_LOCAL_OBJECT_REFERENCE = "v1.TypedLocalObjectReference" {
        1 "apiGroup" str!, 2 "kind" str!, 3 "name" str!,
    }
    TYPED_OBJECT_REFERENCE = "v1.TypedObjectReference" {
        1 "apiGroup" str!, 2 "kind" str!, 3 "name" str!, 4 "namespace" str!,
    }
}

// k8s.io/api/core/v1: the pod spec and everything below it.
messages! {
    POD_TEMPLATE_SPEC = "v1.PodTemplateSpec" { 1 "metadata" OBJECT_META, 2 "spec" POD_SPEC, }
    POD_SPEC = "v1.PodSpec" {
        1 "volumes" [VOLUME], 20 "initContainers" [CONTAINER], 2 "containers" [CONTAINER],
        34 "ephemeralContainers" [EPHEMERAL_CONTAINER], 3 "restartPolicy" str,
        4 "terminationGracePeriodSeconds" i64!, 5 "activeDeadlineSeconds" i64!,
        6 "dnsPolicy" str, 7 "nodeSelector" {str}, 8 "serviceAccountName" str,
        9 "serviceAccount" str, 21 "automountServiceAccountToken" bool!, 10 "nodeName" str,
        11 "hostNetwork" bool, 12 "hostPID" bool, 13 "hostIPC" bool,
        27 "shareProcessNamespace" bool!, 14 "securityContext" POD_SECURITY_CONTEXT,
        15 "imagePullSecrets" [LOCAL_OBJECT_REFERENCE], 16 "hostname" str, 17 "subdomain" str,
        18 "affinity" AFFINITY, 19 "schedulerName" str, 22 "tolerations" [TOLERATION],
        23 "hostAliases" [HOST_ALIAS], 24 "priorityClassName" str, 25 "priority" i32!,
        26 "dnsConfig" POD_DNS_CONFIG, 28 "readinessGates" [POD_READINESS_GATE],
        29 "runtimeClassName" str!, 30 "enableServiceLinks" bool!, 31 "preemptionPolicy" str!,
        32 "overhead" {qty}, 33 "topologySpreadConstraints" [TOPOLOGY_SPREAD_CONSTRAINT],
        35 "setHostnameAsFQDN" bool!, 36 "os" POD_OS, 37 "hostUsers" bool!,
        38 "schedulingGates" [POD_SCHEDULING_GATE], 39 "resourceClaims" [POD_RESOURCE_CLAIM],
        40 "resources" RESOURCE_REQUIREMENTS, 41 "hostnameOverride" str!,
    }
    CONTAINER = "v1.Container" {
        1 "name" str!, 2 "image" str, 3 "command" [str], 4 "args" [str], 5 "workingDir" str,
        6 "ports" [CONTAINER_PORT], 19 "envFrom" [ENV_FROM_SOURCE], 7 "env" [ENV_VAR],
        8 "resources" RESOURCE_REQUIREMENTS, 23 "resizePolicy" [CONTAINER_RESIZE_POLICY],
        24 "restartPolicy" str!, 25 "restartPolicyRules" [CONTAINER_RESTART_RULE],
        9 "volumeMounts" [VOLUME_MOUNT], 21 "volumeDevices" [VOLUME_DEVICE],
        10 "livenessProbe" PROBE, 11 "readinessProbe" PROBE, 22 "startupProbe" PROBE,
        12 "lifecycle" LIFECYCLE, 13 "terminationMessagePath" str,
        20 "terminationMessagePolicy" str, 14 "imagePullPolicy" str,
        15 "securityContext" SECURITY_CONTEXT, 16 "stdin" bool, 17 "stdinOnce" bool,
        18 "tty" bool,
    }
    // EphemeralContainerCommon repeats Container's field numbers exactly, so Container's schema
    // is inlined rather than kept twice.
    EPHEMERAL_CONTAINER = "v1.EphemeralContainer" {
        1 ..CONTAINER, 2 "targetContainerName" str,
    }
    CONTAINER_PORT = "v1.ContainerPort" {
        1 "name" str, 2 "hostPort" i32, 3 "containerPort" i32!, 4 "protocol" str, 5 "hostIP" str,
    }
    CONTAINER_RESIZE_POLICY = "v1.ContainerResizePolicy" {
        1 "resourceName" str!, 2 "restartPolicy" str!,
    }
    CONTAINER_RESTART_RULE = "v1.ContainerRestartRule" {
        1 "action" str!, 2 "exitCodes" CONTAINER_RESTART_RULE_ON_EXIT_CODES,
    }
    CONTAINER_RESTART_RULE_ON_EXIT_CODES = "v1.ContainerRestartRuleOnExitCodes" {
        1 "operator" str!, 2 "values" [i32],
    }
    ENV_FROM_SOURCE = "v1.EnvFromSource" {
        1 "prefix" str, 2 "configMapRef" CONFIG_MAP_ENV_SOURCE, 3 "secretRef" SECRET_ENV_SOURCE,
    }
    CONFIG_MAP_ENV_SOURCE = "v1.ConfigMapEnvSource" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "optional" bool!,
    }
    SECRET_ENV_SOURCE = "v1.SecretEnvSource" { 1 ..LOCAL_OBJECT_REFERENCE, 2 "optional" bool!, }
    ENV_VAR = "v1.EnvVar" { 1 "name" str!, 2 "value" str, 3 "valueFrom" ENV_VAR_SOURCE, }
    ENV_VAR_SOURCE = "v1.EnvVarSource" {
        1 "fieldRef" OBJECT_FIELD_SELECTOR, 2 "resourceFieldRef" RESOURCE_FIELD_SELECTOR,
        3 "configMapKeyRef" CONFIG_MAP_KEY_SELECTOR, 4 "secretKeyRef" SECRET_KEY_SELECTOR,
        5 "fileKeyRef" FILE_KEY_SELECTOR,
    }
    OBJECT_FIELD_SELECTOR = "v1.ObjectFieldSelector" { 1 "apiVersion" str, 2 "fieldPath" str!, }
    RESOURCE_FIELD_SELECTOR = "v1.ResourceFieldSelector" {
        1 "containerName" str, 2 "resource" str!, 3 "divisor" qty,
    }
    CONFIG_MAP_KEY_SELECTOR = "v1.ConfigMapKeySelector" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "key" str!, 3 "optional" bool!,
    }
    SECRET_KEY_SELECTOR = "v1.SecretKeySelector" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "key" str!, 3 "optional" bool!,
    }
    FILE_KEY_SELECTOR = "v1.FileKeySelector" {
        1 "volumeName" str!, 2 "path" str!, 3 "key" str!, 4 "optional" bool!,
    }
    RESOURCE_REQUIREMENTS = "v1.ResourceRequirements" {
        1 "limits" {qty}, 2 "requests" {qty}, 3 "claims" [RESOURCE_CLAIM],
    }
    RESOURCE_CLAIM = "v1.ResourceClaim" { 1 "name" str!, 2 "request" str, }
    VOLUME_MOUNT = "v1.VolumeMount" {
        1 "name" str!, 2 "readOnly" bool, 7 "recursiveReadOnly" str!, 3 "mountPath" str!,
        4 "subPath" str, 5 "mountPropagation" str!, 6 "subPathExpr" str,
    }
    VOLUME_DEVICE = "v1.VolumeDevice" { 1 "name" str!, 2 "devicePath" str!, }
    PROBE = "v1.Probe" {
        1 ..PROBE_HANDLER, 2 "initialDelaySeconds" i32, 3 "timeoutSeconds" i32,
        4 "periodSeconds" i32, 5 "successThreshold" i32, 6 "failureThreshold" i32,
        7 "terminationGracePeriodSeconds" i64!,
    }
    PROBE_HANDLER = "v1.ProbeHandler" {
        1 "exec" EXEC_ACTION, 2 "httpGet" HTTP_GET_ACTION, 3 "tcpSocket" TCP_SOCKET_ACTION,
        4 "grpc" GRPC_ACTION,
    }
    EXEC_ACTION = "v1.ExecAction" { 1 "command" [str], }
    HTTP_GET_ACTION = "v1.HTTPGetAction" {
        1 "path" str, 2 "port" ios, 3 "host" str, 4 "scheme" str, 5 "httpHeaders" [HTTP_HEADER],
    }
    HTTP_HEADER = "v1.HTTPHeader" { 1 "name" str!, 2 "value" str!, }
    TCP_SOCKET_ACTION = "v1.TCPSocketAction" { 1 "port" ios, 2 "host" str, }
    GRPC_ACTION = "v1.GRPCAction" { 1 "port" i32!, 2 "service" str!, }
    LIFECYCLE = "v1.Lifecycle" {
        1 "postStart" LIFECYCLE_HANDLER, 2 "preStop" LIFECYCLE_HANDLER, 3 "stopSignal" str!,
    }
    LIFECYCLE_HANDLER = "v1.LifecycleHandler" {
        1 "exec" EXEC_ACTION, 2 "httpGet" HTTP_GET_ACTION, 3 "tcpSocket" TCP_SOCKET_ACTION,
        4 "sleep" SLEEP_ACTION,
    }
    SLEEP_ACTION = "v1.SleepAction" { 1 "seconds" i64!, }
    SECURITY_CONTEXT = "v1.SecurityContext" {
        1 "capabilities" CAPABILITIES, 2 "privileged" bool!, 3 "seLinuxOptions" SE_LINUX_OPTIONS,
        10 "windowsOptions" WINDOWS_SECURITY_CONTEXT_OPTIONS, 4 "runAsUser" i64!,
        8 "runAsGroup" i64!, 5 "runAsNonRoot" bool!, 6 "readOnlyRootFilesystem" bool!,
        7 "allowPrivilegeEscalation" bool!, 9 "procMount" str!,
        11 "seccompProfile" SECCOMP_PROFILE, 12 "appArmorProfile" APP_ARMOR_PROFILE,
    }
    CAPABILITIES = "v1.Capabilities" { 1 "add" [str], 2 "drop" [str], }
    SE_LINUX_OPTIONS = "v1.SELinuxOptions" {
        1 "user" str, 2 "role" str, 3 "type" str, 4 "level" str,
    }
    WINDOWS_SECURITY_CONTEXT_OPTIONS = "v1.WindowsSecurityContextOptions" {
        1 "gmsaCredentialSpecName" str!, 2 "gmsaCredentialSpec" str!, 3 "runAsUserName" str!,
        4 "hostProcess" bool!,
    }
    SECCOMP_PROFILE = "v1.SeccompProfile" { 1 "type" str!, 2 "localhostProfile" str!, }
    APP_ARMOR_PROFILE = "v1.AppArmorProfile" { 1 "type" str!, 2 "localhostProfile" str!, }
    POD_SECURITY_CONTEXT = "v1.PodSecurityContext" {
        1 "seLinuxOptions" SE_LINUX_OPTIONS, 8 "windowsOptions" WINDOWS_SECURITY_CONTEXT_OPTIONS,
        2 "runAsUser" i64!, 6 "runAsGroup" i64!, 3 "runAsNonRoot" bool!,
        4 "supplementalGroups" [i64], 12 "supplementalGroupsPolicy" str!, 5 "fsGroup" i64!,
        7 "sysctls" [SYSCTL], 9 "fsGroupChangePolicy" str!, 10 "seccompProfile" SECCOMP_PROFILE,
        11 "appArmorProfile" APP_ARMOR_PROFILE, 13 "seLinuxChangePolicy" str!,
    }
    SYSCTL = "v1.Sysctl" { 1 "name" str!, 2 "value" str!, }
    AFFINITY = "v1.Affinity" {
        1 "nodeAffinity" NODE_AFFINITY, 2 "podAffinity" POD_AFFINITY,
        3 "podAntiAffinity" POD_ANTI_AFFINITY,
    }
    NODE_AFFINITY = "v1.NodeAffinity" {
        1 "requiredDuringSchedulingIgnoredDuringExecution" NODE_SELECTOR,
        2 "preferredDuringSchedulingIgnoredDuringExecution" [PREFERRED_SCHEDULING_TERM],
    }
    NODE_SELECTOR = "v1.NodeSelector" { 1 "nodeSelectorTerms" [NODE_SELECTOR_TERM], }
    NODE_SELECTOR_TERM = "v1.NodeSelectorTerm" {
        1 "matchExpressions" [NODE_SELECTOR_REQUIREMENT],
        2 "matchFields" [NODE_SELECTOR_REQUIREMENT],
    }
    NODE_SELECTOR_REQUIREMENT = "v1.NodeSelectorRequirement" {
        1 "key" str!, 2 "operator" str!, 3 "values" [str],
    }
    PREFERRED_SCHEDULING_TERM = "v1.PreferredSchedulingTerm" {
        1 "weight" i32!, 2 "preference" NODE_SELECTOR_TERM,
    }
    POD_AFFINITY = "v1.PodAffinity" {
        1 "requiredDuringSchedulingIgnoredDuringExecution" [POD_AFFINITY_TERM],
        2 "preferredDuringSchedulingIgnoredDuringExecution" [WEIGHTED_POD_AFFINITY_TERM],
    }
    POD_ANTI_AFFINITY = "v1.PodAntiAffinity" {
        1 "requiredDuringSchedulingIgnoredDuringExecution" [POD_AFFINITY_TERM],
        2 "preferredDuringSchedulingIgnoredDuringExecution" [WEIGHTED_POD_AFFINITY_TERM],
    }
    POD_AFFINITY_TERM = "v1.PodAffinityTerm" {
        1 "labelSelector" LABEL_SELECTOR, 2 "namespaces" [str], 3 "topologyKey" str!,
        4 "namespaceSelector" LABEL_SELECTOR, 5 "matchLabelKeys" [str],
        6 "mismatchLabelKeys" [str],
    }
    WEIGHTED_POD_AFFINITY_TERM = "v1.WeightedPodAffinityTerm" {
        1 "weight" i32!, 2 "podAffinityTerm" POD_AFFINITY_TERM,
    }
    TOLERATION = "v1.Toleration" {
        1 "key" str, 2 "operator" str, 3 "value" str, 4 "effect" str, 5 "tolerationSeconds" i64!,
    }
    HOST_ALIAS = "v1.HostAlias" { 1 "ip" str!, 2 "hostnames" [str], }
    POD_DNS_CONFIG = "v1.PodDNSConfig" {
        1 "nameservers" [str], 2 "searches" [str], 3 "options" [POD_DNS_CONFIG_OPTION],
    }
    POD_DNS_CONFIG_OPTION = "v1.PodDNSConfigOption" { 1 "name" str, 2 "value" str!, }
    POD_READINESS_GATE = "v1.PodReadinessGate" { 1 "conditionType" str!, }
    TOPOLOGY_SPREAD_CONSTRAINT = "v1.TopologySpreadConstraint" {
        1 "maxSkew" i32!, 2 "topologyKey" str!, 3 "whenUnsatisfiable" str!,
        4 "labelSelector" LABEL_SELECTOR, 5 "minDomains" i32!, 6 "nodeAffinityPolicy" str!,
        7 "nodeTaintsPolicy" str!, 8 "matchLabelKeys" [str],
    }
    POD_OS = "v1.PodOS" { 1 "name" str!, }
    POD_SCHEDULING_GATE = "v1.PodSchedulingGate" { 1 "name" str!, }
    POD_RESOURCE_CLAIM = "v1.PodResourceClaim" {
        1 "name" str!, 3 "resourceClaimName" str!, 4 "resourceClaimTemplateName" str!,
    }
}

// k8s.io/api/core/v1: volumes. Only the sources a workload on a single-node cluster can use
// are listed; the deprecated cloud and network block-storage sources are skipped.
messages! {
    VOLUME = "v1.Volume" { 1 "name" str!, 2 ..VOLUME_SOURCE, }
    VOLUME_SOURCE = "v1.VolumeSource" {
        1 "hostPath" HOST_PATH_VOLUME_SOURCE, 2 "emptyDir" EMPTY_DIR_VOLUME_SOURCE,
        5 "gitRepo" GIT_REPO_VOLUME_SOURCE, 6 "secret" SECRET_VOLUME_SOURCE,
        7 "nfs" NFS_VOLUME_SOURCE, 10 "persistentVolumeClaim" PVC_VOLUME_SOURCE,
        16 "downwardAPI" DOWNWARD_API_VOLUME_SOURCE, 19 "configMap" CONFIG_MAP_VOLUME_SOURCE,
        26 "projected" PROJECTED_VOLUME_SOURCE, 28 "csi" CSI_VOLUME_SOURCE,
        29 "ephemeral" EPHEMERAL_VOLUME_SOURCE, 30 "image" IMAGE_VOLUME_SOURCE,
    }
    HOST_PATH_VOLUME_SOURCE = "v1.HostPathVolumeSource" { 1 "path" str!, 2 "type" str!, }
    EMPTY_DIR_VOLUME_SOURCE = "v1.EmptyDirVolumeSource" { 1 "medium" str, 2 "sizeLimit" qty, }
    GIT_REPO_VOLUME_SOURCE = "v1.GitRepoVolumeSource" {
        1 "repository" str!, 2 "revision" str, 3 "directory" str,
    }
    SECRET_VOLUME_SOURCE = "v1.SecretVolumeSource" {
        1 "secretName" str, 2 "items" [KEY_TO_PATH], 3 "defaultMode" i32!, 4 "optional" bool!,
    }
    KEY_TO_PATH = "v1.KeyToPath" { 1 "key" str!, 2 "path" str!, 3 "mode" i32!, }
    NFS_VOLUME_SOURCE = "v1.NFSVolumeSource" { 1 "server" str!, 2 "path" str!, 3 "readOnly" bool, }
    PVC_VOLUME_SOURCE = "v1.PersistentVolumeClaimVolumeSource" {
        1 "claimName" str!, 2 "readOnly" bool,
    }
    DOWNWARD_API_VOLUME_SOURCE = "v1.DownwardAPIVolumeSource" {
        1 "items" [DOWNWARD_API_VOLUME_FILE], 2 "defaultMode" i32!,
    }
    DOWNWARD_API_VOLUME_FILE = "v1.DownwardAPIVolumeFile" {
        1 "path" str!, 2 "fieldRef" OBJECT_FIELD_SELECTOR,
        3 "resourceFieldRef" RESOURCE_FIELD_SELECTOR, 4 "mode" i32!,
    }
    CONFIG_MAP_VOLUME_SOURCE = "v1.ConfigMapVolumeSource" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "items" [KEY_TO_PATH], 3 "defaultMode" i32!,
        4 "optional" bool!,
    }
    PROJECTED_VOLUME_SOURCE = "v1.ProjectedVolumeSource" {
        1 "sources" [VOLUME_PROJECTION], 2 "defaultMode" i32!,
    }
    VOLUME_PROJECTION = "v1.VolumeProjection" {
        1 "secret" SECRET_PROJECTION, 2 "downwardAPI" DOWNWARD_API_PROJECTION,
        3 "configMap" CONFIG_MAP_PROJECTION,
        4 "serviceAccountToken" SERVICE_ACCOUNT_TOKEN_PROJECTION,
        5 "clusterTrustBundle" CLUSTER_TRUST_BUNDLE_PROJECTION,
    }
    SECRET_PROJECTION = "v1.SecretProjection" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "items" [KEY_TO_PATH], 4 "optional" bool!,
    }
    CONFIG_MAP_PROJECTION = "v1.ConfigMapProjection" {
        1 ..LOCAL_OBJECT_REFERENCE, 2 "items" [KEY_TO_PATH], 4 "optional" bool!,
    }
    DOWNWARD_API_PROJECTION = "v1.DownwardAPIProjection" {
        1 "items" [DOWNWARD_API_VOLUME_FILE],
    }
    SERVICE_ACCOUNT_TOKEN_PROJECTION = "v1.ServiceAccountTokenProjection" {
        1 "audience" str, 2 "expirationSeconds" i64!, 3 "path" str!,
    }
    CLUSTER_TRUST_BUNDLE_PROJECTION = "v1.ClusterTrustBundleProjection" {
        1 "name" str!, 2 "signerName" str!, 3 "labelSelector" LABEL_SELECTOR, 5 "optional" bool!,
        4 "path" str!,
    }
    CSI_VOLUME_SOURCE = "v1.CSIVolumeSource" {
        1 "driver" str!, 2 "readOnly" bool!, 3 "fsType" str!, 4 "volumeAttributes" {str},
        5 "nodePublishSecretRef" LOCAL_OBJECT_REFERENCE,
    }
    EPHEMERAL_VOLUME_SOURCE = "v1.EphemeralVolumeSource" {
        1 "volumeClaimTemplate" PERSISTENT_VOLUME_CLAIM_TEMPLATE,
    }
    PERSISTENT_VOLUME_CLAIM_TEMPLATE = "v1.PersistentVolumeClaimTemplate" {
        1 "metadata" OBJECT_META, 2 "spec" PERSISTENT_VOLUME_CLAIM_SPEC,
    }
    IMAGE_VOLUME_SOURCE = "v1.ImageVolumeSource" { 1 "reference" str, 2 "pullPolicy" str, }
    PERSISTENT_VOLUME_CLAIM_SPEC = "v1.PersistentVolumeClaimSpec" {
        1 "accessModes" [str], 4 "selector" LABEL_SELECTOR,
        2 "resources" VOLUME_RESOURCE_REQUIREMENTS, 3 "volumeName" str,
        5 "storageClassName" str!, 6 "volumeMode" str!,
        7 "dataSource" TYPED_LOCAL_OBJECT_REFERENCE, 8 "dataSourceRef" TYPED_OBJECT_REFERENCE,
        9 "volumeAttributesClassName" str!,
    }
    VOLUME_RESOURCE_REQUIREMENTS = "v1.VolumeResourceRequirements" {
        1 "limits" {qty}, 2 "requests" {qty},
    }
    PERSISTENT_VOLUME_CLAIM_STATUS = "v1.PersistentVolumeClaimStatus" {
        1 "phase" str, 2 "accessModes" [str], 3 "capacity" {qty},
        4 "conditions" [PERSISTENT_VOLUME_CLAIM_CONDITION], 5 "allocatedResources" {qty},
        7 "allocatedResourceStatuses" {str}, 8 "currentVolumeAttributesClassName" str!,
    }
    PERSISTENT_VOLUME_CLAIM_CONDITION = "v1.PersistentVolumeClaimCondition" {
        1 "type" str!, 2 "status" str!, 3 "lastProbeTime" time, 4 "lastTransitionTime" time,
        5 "reason" str, 6 "message" str,
    }
}

// k8s.io/api/core/v1: pod status, which clients rarely send but which round-trips through
// create when an object is copied from another cluster.
messages! {
    POD_STATUS = "v1.PodStatus" {
        17 "observedGeneration" i64, 1 "phase" str, 2 "conditions" [POD_CONDITION],
        3 "message" str, 4 "reason" str, 11 "nominatedNodeName" str, 5 "hostIP" str,
        16 "hostIPs" [HOST_IP], 6 "podIP" str, 12 "podIPs" [POD_IP], 7 "startTime" time,
        10 "initContainerStatuses" [CONTAINER_STATUS], 8 "containerStatuses" [CONTAINER_STATUS],
        9 "qosClass" str, 13 "ephemeralContainerStatuses" [CONTAINER_STATUS], 14 "resize" str,
        15 "resourceClaimStatuses" [POD_RESOURCE_CLAIM_STATUS], 19 "allocatedResources" {qty},
        20 "resources" RESOURCE_REQUIREMENTS,
    }
    POD_CONDITION = "v1.PodCondition" {
        1 "type" str!, 7 "observedGeneration" i64, 2 "status" str!, 3 "lastProbeTime" time,
        4 "lastTransitionTime" time, 5 "reason" str, 6 "message" str,
    }
    HOST_IP = "v1.HostIP" { 1 "ip" str!, }
    POD_IP = "v1.PodIP" { 1 "ip" str!, }
    POD_RESOURCE_CLAIM_STATUS = "v1.PodResourceClaimStatus" {
        1 "name" str!, 2 "resourceClaimName" str!,
    }
    CONTAINER_STATUS = "v1.ContainerStatus" {
        1 "name" str!, 2 "state" CONTAINER_STATE, 3 "lastState" CONTAINER_STATE,
        4 "ready" bool!, 5 "restartCount" i32!, 6 "image" str!, 7 "imageID" str!,
        8 "containerID" str, 9 "started" bool!, 10 "allocatedResources" {qty},
        11 "resources" RESOURCE_REQUIREMENTS, 12 "volumeMounts" [VOLUME_MOUNT_STATUS],
        15 "stopSignal" str!,
    }
    VOLUME_MOUNT_STATUS = "v1.VolumeMountStatus" {
        1 "name" str!, 2 "mountPath" str!, 3 "readOnly" bool, 4 "recursiveReadOnly" str!,
    }
    CONTAINER_STATE = "v1.ContainerState" {
        1 "waiting" CONTAINER_STATE_WAITING, 2 "running" CONTAINER_STATE_RUNNING,
        3 "terminated" CONTAINER_STATE_TERMINATED,
    }
    CONTAINER_STATE_WAITING = "v1.ContainerStateWaiting" { 1 "reason" str, 2 "message" str, }
    CONTAINER_STATE_RUNNING = "v1.ContainerStateRunning" { 1 "startedAt" time, }
    CONTAINER_STATE_TERMINATED = "v1.ContainerStateTerminated" {
        1 "exitCode" i32!, 2 "signal" i32, 3 "reason" str, 4 "message" str, 5 "startedAt" time,
        6 "finishedAt" time, 7 "containerID" str,
    }
}

// k8s.io/api/apps/v1.
messages! {
    DEPLOYMENT = "apps/v1.Deployment" {
        1 "metadata" OBJECT_META, 2 "spec" DEPLOYMENT_SPEC, 3 "status" DEPLOYMENT_STATUS,
    }
    DEPLOYMENT_SPEC = "apps/v1.DeploymentSpec" {
        1 "replicas" i32!, 2 "selector" LABEL_SELECTOR, 3 "template" POD_TEMPLATE_SPEC,
        4 "strategy" DEPLOYMENT_STRATEGY, 5 "minReadySeconds" i32, 6 "revisionHistoryLimit" i32!,
        7 "paused" bool, 9 "progressDeadlineSeconds" i32!, 10 "podReplacementPolicy" str!,
    }
    DEPLOYMENT_STRATEGY = "apps/v1.DeploymentStrategy" {
        1 "type" str, 2 "rollingUpdate" ROLLING_UPDATE_DEPLOYMENT,
    }
    ROLLING_UPDATE_DEPLOYMENT = "apps/v1.RollingUpdateDeployment" {
        1 "maxUnavailable" ios, 2 "maxSurge" ios,
    }
    DEPLOYMENT_STATUS = "apps/v1.DeploymentStatus" {
        1 "observedGeneration" i64, 2 "replicas" i32, 3 "updatedReplicas" i32,
        7 "readyReplicas" i32, 4 "availableReplicas" i32, 5 "unavailableReplicas" i32,
        9 "terminatingReplicas" i32!, 6 "conditions" [DEPLOYMENT_CONDITION],
        8 "collisionCount" i32!,
    }
    DEPLOYMENT_CONDITION = "apps/v1.DeploymentCondition" {
        1 "type" str!, 2 "status" str!, 6 "lastUpdateTime" time, 7 "lastTransitionTime" time,
        4 "reason" str, 5 "message" str,
    }
    REPLICA_SET = "apps/v1.ReplicaSet" {
        1 "metadata" OBJECT_META, 2 "spec" REPLICA_SET_SPEC, 3 "status" REPLICA_SET_STATUS,
    }
    REPLICA_SET_SPEC = "apps/v1.ReplicaSetSpec" {
        1 "replicas" i32!, 4 "minReadySeconds" i32, 2 "selector" LABEL_SELECTOR,
        3 "template" POD_TEMPLATE_SPEC,
    }
    REPLICA_SET_STATUS = "apps/v1.ReplicaSetStatus" {
        1 "replicas" i32!, 2 "fullyLabeledReplicas" i32, 4 "readyReplicas" i32,
        5 "availableReplicas" i32, 7 "terminatingReplicas" i32!, 3 "observedGeneration" i64,
        6 "conditions" [APPS_CONDITION],
    }
    // ReplicaSetCondition, StatefulSetCondition and DaemonSetCondition share one layout.
    APPS_CONDITION = "apps/v1.Condition" {
        1 "type" str!, 2 "status" str!, 3 "lastTransitionTime" time, 4 "reason" str,
        5 "message" str,
    }
    STATEFUL_SET = "apps/v1.StatefulSet" {
        1 "metadata" OBJECT_META, 2 "spec" STATEFUL_SET_SPEC, 3 "status" STATEFUL_SET_STATUS,
    }
    STATEFUL_SET_SPEC = "apps/v1.StatefulSetSpec" {
        1 "replicas" i32!, 2 "selector" LABEL_SELECTOR, 3 "template" POD_TEMPLATE_SPEC,
        4 "volumeClaimTemplates" [PERSISTENT_VOLUME_CLAIM], 5 "serviceName" str,
        6 "podManagementPolicy" str, 7 "updateStrategy" STATEFUL_SET_UPDATE_STRATEGY,
        8 "revisionHistoryLimit" i32!, 9 "minReadySeconds" i32,
        10 "persistentVolumeClaimRetentionPolicy" STATEFUL_SET_PVC_RETENTION_POLICY,
        11 "ordinals" STATEFUL_SET_ORDINALS,
    }
    STATEFUL_SET_UPDATE_STRATEGY = "apps/v1.StatefulSetUpdateStrategy" {
        1 "type" str, 2 "rollingUpdate" ROLLING_UPDATE_STATEFUL_SET_STRATEGY,
    }
    ROLLING_UPDATE_STATEFUL_SET_STRATEGY = "apps/v1.RollingUpdateStatefulSetStrategy" {
        1 "partition" i32!, 2 "maxUnavailable" ios,
    }
    STATEFUL_SET_PVC_RETENTION_POLICY = "apps/v1.StatefulSetPersistentVolumeClaimRetentionPolicy" {
        1 "whenDeleted" str, 2 "whenScaled" str,
    }
    STATEFUL_SET_ORDINALS = "apps/v1.StatefulSetOrdinals" { 1 "start" i32, }
    STATEFUL_SET_STATUS = "apps/v1.StatefulSetStatus" {
        1 "observedGeneration" i64, 2 "replicas" i32!, 3 "readyReplicas" i32,
        4 "currentReplicas" i32, 5 "updatedReplicas" i32, 6 "currentRevision" str,
        7 "updateRevision" str, 9 "collisionCount" i32!, 10 "conditions" [APPS_CONDITION],
        11 "availableReplicas" i32,
    }
    DAEMON_SET = "apps/v1.DaemonSet" {
        1 "metadata" OBJECT_META, 2 "spec" DAEMON_SET_SPEC, 3 "status" DAEMON_SET_STATUS,
    }
    DAEMON_SET_SPEC = "apps/v1.DaemonSetSpec" {
        1 "selector" LABEL_SELECTOR, 2 "template" POD_TEMPLATE_SPEC,
        3 "updateStrategy" DAEMON_SET_UPDATE_STRATEGY, 4 "minReadySeconds" i32,
        6 "revisionHistoryLimit" i32!,
    }
    DAEMON_SET_UPDATE_STRATEGY = "apps/v1.DaemonSetUpdateStrategy" {
        1 "type" str, 2 "rollingUpdate" ROLLING_UPDATE_DAEMON_SET,
    }
    ROLLING_UPDATE_DAEMON_SET = "apps/v1.RollingUpdateDaemonSet" {
        1 "maxUnavailable" ios, 2 "maxSurge" ios,
    }
    DAEMON_SET_STATUS = "apps/v1.DaemonSetStatus" {
        1 "currentNumberScheduled" i32!, 2 "numberMisscheduled" i32!,
        3 "desiredNumberScheduled" i32!, 4 "numberReady" i32!, 5 "observedGeneration" i64,
        6 "updatedNumberScheduled" i32, 7 "numberAvailable" i32, 8 "numberUnavailable" i32,
        9 "collisionCount" i32!, 10 "conditions" [APPS_CONDITION],
    }
    CONTROLLER_REVISION = "apps/v1.ControllerRevision" {
        1 "metadata" OBJECT_META, 2 "data" raw, 3 "revision" i64!,
    }
}

// k8s.io/api/batch/v1.
messages! {
    JOB = "batch/v1.Job" { 1 "metadata" OBJECT_META, 2 "spec" JOB_SPEC, 3 "status" JOB_STATUS, }
    JOB_SPEC = "batch/v1.JobSpec" {
        1 "parallelism" i32!, 2 "completions" i32!, 3 "activeDeadlineSeconds" i64!,
        11 "podFailurePolicy" POD_FAILURE_POLICY, 16 "successPolicy" SUCCESS_POLICY,
        7 "backoffLimit" i32!, 12 "backoffLimitPerIndex" i32!, 13 "maxFailedIndexes" i32!,
        4 "selector" LABEL_SELECTOR, 5 "manualSelector" bool!, 6 "template" POD_TEMPLATE_SPEC,
        8 "ttlSecondsAfterFinished" i32!, 9 "completionMode" str!, 10 "suspend" bool!,
        14 "podReplacementPolicy" str!, 15 "managedBy" str!,
    }
    JOB_STATUS = "batch/v1.JobStatus" {
        1 "conditions" [JOB_CONDITION], 2 "startTime" time, 3 "completionTime" time,
        4 "active" i32, 5 "succeeded" i32, 6 "failed" i32, 11 "terminating" i32!,
        7 "completedIndexes" str, 10 "failedIndexes" str!,
        8 "uncountedTerminatedPods" UNCOUNTED_TERMINATED_PODS, 9 "ready" i32!,
    }
    JOB_CONDITION = "batch/v1.JobCondition" {
        1 "type" str!, 2 "status" str!, 3 "lastProbeTime" time, 4 "lastTransitionTime" time,
        5 "reason" str, 6 "message" str,
    }
    UNCOUNTED_TERMINATED_PODS = "batch/v1.UncountedTerminatedPods" {
        1 "succeeded" [str], 2 "failed" [str],
    }
    POD_FAILURE_POLICY = "batch/v1.PodFailurePolicy" { 1 "rules" [POD_FAILURE_POLICY_RULE], }
    POD_FAILURE_POLICY_RULE = "batch/v1.PodFailurePolicyRule" {
        1 "action" str!, 2 "onExitCodes" POD_FAILURE_POLICY_ON_EXIT_CODES,
        3 "onPodConditions" [POD_FAILURE_POLICY_ON_POD_CONDITIONS],
    }
    POD_FAILURE_POLICY_ON_EXIT_CODES = "batch/v1.PodFailurePolicyOnExitCodesRequirement" {
        1 "containerName" str!, 2 "operator" str!, 3 "values" [i32],
    }
    POD_FAILURE_POLICY_ON_POD_CONDITIONS = "batch/v1.PodFailurePolicyOnPodConditionsPattern" {
        1 "type" str!, 2 "status" str,
    }
    SUCCESS_POLICY = "batch/v1.SuccessPolicy" { 1 "rules" [SUCCESS_POLICY_RULE], }
    SUCCESS_POLICY_RULE = "batch/v1.SuccessPolicyRule" {
        1 "succeededIndexes" str!, 2 "succeededCount" i32!,
    }
    JOB_TEMPLATE_SPEC = "batch/v1.JobTemplateSpec" { 1 "metadata" OBJECT_META, 2 "spec" JOB_SPEC, }
    CRON_JOB = "batch/v1.CronJob" {
        1 "metadata" OBJECT_META, 2 "spec" CRON_JOB_SPEC, 3 "status" CRON_JOB_STATUS,
    }
    CRON_JOB_SPEC = "batch/v1.CronJobSpec" {
        1 "schedule" str!, 8 "timeZone" str!, 2 "startingDeadlineSeconds" i64!,
        3 "concurrencyPolicy" str, 4 "suspend" bool!, 5 "jobTemplate" JOB_TEMPLATE_SPEC,
        6 "successfulJobsHistoryLimit" i32!, 7 "failedJobsHistoryLimit" i32!,
    }
    CRON_JOB_STATUS = "batch/v1.CronJobStatus" {
        1 "active" [OBJECT_REFERENCE], 4 "lastScheduleTime" time, 5 "lastSuccessfulTime" time,
    }
}

// k8s.io/api/networking/v1.
messages! {
    INGRESS = "networking/v1.Ingress" {
        1 "metadata" OBJECT_META, 2 "spec" INGRESS_SPEC, 3 "status" INGRESS_STATUS,
    }
    INGRESS_SPEC = "networking/v1.IngressSpec" {
        4 "ingressClassName" str!, 1 "defaultBackend" INGRESS_BACKEND, 2 "tls" [INGRESS_TLS],
        3 "rules" [INGRESS_RULE],
    }
    INGRESS_BACKEND = "networking/v1.IngressBackend" {
        4 "service" INGRESS_SERVICE_BACKEND, 3 "resource" TYPED_LOCAL_OBJECT_REFERENCE,
    }
    INGRESS_SERVICE_BACKEND = "networking/v1.IngressServiceBackend" {
        1 "name" str!, 2 "port" SERVICE_BACKEND_PORT,
    }
    SERVICE_BACKEND_PORT = "networking/v1.ServiceBackendPort" { 1 "name" str, 2 "number" i32, }
    INGRESS_TLS = "networking/v1.IngressTLS" { 1 "hosts" [str], 2 "secretName" str, }
    INGRESS_RULE = "networking/v1.IngressRule" { 1 "host" str, 2 ..INGRESS_RULE_VALUE, }
    INGRESS_RULE_VALUE = "networking/v1.IngressRuleValue" { 1 "http" HTTP_INGRESS_RULE_VALUE, }
    HTTP_INGRESS_RULE_VALUE = "networking/v1.HTTPIngressRuleValue" {
        1 "paths" [HTTP_INGRESS_PATH],
    }
    HTTP_INGRESS_PATH = "networking/v1.HTTPIngressPath" {
        1 "path" str, 3 "pathType" str!, 2 "backend" INGRESS_BACKEND,
    }
    INGRESS_STATUS = "networking/v1.IngressStatus" {
        1 "loadBalancer" INGRESS_LOAD_BALANCER_STATUS,
    }
    INGRESS_LOAD_BALANCER_STATUS = "networking/v1.IngressLoadBalancerStatus" {
        1 "ingress" [INGRESS_LOAD_BALANCER_INGRESS],
    }
    INGRESS_LOAD_BALANCER_INGRESS = "networking/v1.IngressLoadBalancerIngress" {
        1 "ip" str, 2 "hostname" str, 4 "ports" [INGRESS_PORT_STATUS],
    }
    INGRESS_PORT_STATUS = "networking/v1.IngressPortStatus" {
        1 "port" i32!, 2 "protocol" str!, 3 "error" str!,
    }
    INGRESS_CLASS = "networking/v1.IngressClass" {
        1 "metadata" OBJECT_META, 2 "spec" INGRESS_CLASS_SPEC,
    }
    INGRESS_CLASS_SPEC = "networking/v1.IngressClassSpec" {
        1 "controller" str, 2 "parameters" INGRESS_CLASS_PARAMETERS_REFERENCE,
    }
    // The proto field is spelled `aPIGroup`, but the Go JSON tag is `apiGroup`.
    INGRESS_CLASS_PARAMETERS_REFERENCE = "networking/v1.IngressClassParametersReference" {
        1 "apiGroup" str!, 2 "kind" str!, 3 "name" str!, 4 "scope" str!, 5 "namespace" str!,
    }
    NETWORK_POLICY = "networking/v1.NetworkPolicy" {
        1 "metadata" OBJECT_META, 2 "spec" NETWORK_POLICY_SPEC,
    }
    NETWORK_POLICY_SPEC = "networking/v1.NetworkPolicySpec" {
        1 "podSelector" LABEL_SELECTOR, 2 "ingress" [NETWORK_POLICY_INGRESS_RULE],
        3 "egress" [NETWORK_POLICY_EGRESS_RULE], 4 "policyTypes" [str],
    }
    NETWORK_POLICY_INGRESS_RULE = "networking/v1.NetworkPolicyIngressRule" {
        1 "ports" [NETWORK_POLICY_PORT], 2 "from" [NETWORK_POLICY_PEER],
    }
    NETWORK_POLICY_EGRESS_RULE = "networking/v1.NetworkPolicyEgressRule" {
        1 "ports" [NETWORK_POLICY_PORT], 2 "to" [NETWORK_POLICY_PEER],
    }
    NETWORK_POLICY_PEER = "networking/v1.NetworkPolicyPeer" {
        1 "podSelector" LABEL_SELECTOR, 2 "namespaceSelector" LABEL_SELECTOR,
        3 "ipBlock" IP_BLOCK,
    }
    NETWORK_POLICY_PORT = "networking/v1.NetworkPolicyPort" {
        1 "protocol" str!, 2 "port" ios, 3 "endPort" i32!,
    }
    IP_BLOCK = "networking/v1.IPBlock" { 1 "cidr" str!, 2 "except" [str], }
}

// k8s.io/api/rbac/v1.
messages! {
    ROLE = "rbac/v1.Role" { 1 "metadata" OBJECT_META, 2 "rules" [POLICY_RULE], }
    CLUSTER_ROLE = "rbac/v1.ClusterRole" {
        1 "metadata" OBJECT_META, 2 "rules" [POLICY_RULE], 3 "aggregationRule" AGGREGATION_RULE,
    }
    AGGREGATION_RULE = "rbac/v1.AggregationRule" { 1 "clusterRoleSelectors" [LABEL_SELECTOR], }
    POLICY_RULE = "rbac/v1.PolicyRule" {
        1 "verbs" [str], 2 "apiGroups" [str], 3 "resources" [str], 4 "resourceNames" [str],
        5 "nonResourceURLs" [str],
    }
    ROLE_BINDING = "rbac/v1.RoleBinding" {
        1 "metadata" OBJECT_META, 2 "subjects" [SUBJECT], 3 "roleRef" ROLE_REF,
    }
    CLUSTER_ROLE_BINDING = "rbac/v1.ClusterRoleBinding" {
        1 "metadata" OBJECT_META, 2 "subjects" [SUBJECT], 3 "roleRef" ROLE_REF,
    }
    ROLE_REF = "rbac/v1.RoleRef" { 1 "apiGroup" str!, 2 "kind" str!, 3 "name" str!, }
    SUBJECT = "rbac/v1.Subject" {
        1 "kind" str!, 2 "apiGroup" str, 3 "name" str!, 4 "namespace" str,
    }
}

// k8s.io/api/scheduling/v1, policy/v1, coordination/v1 and discovery/v1.
messages! {
    PRIORITY_CLASS = "scheduling/v1.PriorityClass" {
        1 "metadata" OBJECT_META, 2 "value" i32!, 3 "globalDefault" bool, 4 "description" str,
        5 "preemptionPolicy" str!,
    }
    POD_DISRUPTION_BUDGET = "policy/v1.PodDisruptionBudget" {
        1 "metadata" OBJECT_META, 2 "spec" POD_DISRUPTION_BUDGET_SPEC,
        3 "status" POD_DISRUPTION_BUDGET_STATUS,
    }
    POD_DISRUPTION_BUDGET_SPEC = "policy/v1.PodDisruptionBudgetSpec" {
        1 "minAvailable" ios, 2 "selector" LABEL_SELECTOR, 3 "maxUnavailable" ios,
        4 "unhealthyPodEvictionPolicy" str!,
    }
    POD_DISRUPTION_BUDGET_STATUS = "policy/v1.PodDisruptionBudgetStatus" {
        1 "observedGeneration" i64, 2 "disruptedPods" {time}, 3 "disruptionsAllowed" i32!,
        4 "currentHealthy" i32!, 5 "desiredHealthy" i32!, 6 "expectedPods" i32!,
        7 "conditions" [CONDITION],
    }
    LEASE = "coordination/v1.Lease" { 1 "metadata" OBJECT_META, 2 "spec" LEASE_SPEC, }
    LEASE_SPEC = "coordination/v1.LeaseSpec" {
        1 "holderIdentity" str!, 2 "leaseDurationSeconds" i32!, 3 "acquireTime" mtime,
        4 "renewTime" mtime, 5 "leaseTransitions" i32!, 6 "strategy" str!,
        7 "preferredHolder" str!,
    }
    ENDPOINT_SLICE = "discovery/v1.EndpointSlice" {
        1 "metadata" OBJECT_META, 4 "addressType" str!, 2 "endpoints" [ENDPOINT],
        3 "ports" [DISCOVERY_ENDPOINT_PORT],
    }
    ENDPOINT = "discovery/v1.Endpoint" {
        1 "addresses" [str], 2 "conditions" ENDPOINT_CONDITIONS, 3 "hostname" str!,
        4 "targetRef" OBJECT_REFERENCE, 5 "deprecatedTopology" {str}, 6 "nodeName" str!,
        7 "zone" str!, 8 "hints" ENDPOINT_HINTS,
    }
    ENDPOINT_CONDITIONS = "discovery/v1.EndpointConditions" {
        1 "ready" bool!, 2 "serving" bool!, 3 "terminating" bool!,
    }
    ENDPOINT_HINTS = "discovery/v1.EndpointHints" { 1 "forZones" [FOR_ZONE], }
    FOR_ZONE = "discovery/v1.ForZone" { 1 "name" str!, }
    DISCOVERY_ENDPOINT_PORT = "discovery/v1.EndpointPort" {
        1 "name" str!, 2 "protocol" str!, 3 "port" i32!, 4 "appProtocol" str!,
    }
}
