//! The registry of served resources: every group, version and kind the API server knows,
//! with its discovery facts, its storage location and how a body is checked against the
//! k8s-openapi type.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How a served version maps onto the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The served version is the storage version.
    None,
    /// `extensions/v1beta1`, `apps/v1beta1` or `apps/v1beta2` Deployment, stored as apps/v1.
    LegacyDeployment,
    /// `extensions/v1beta1` or `networking.k8s.io/v1beta1` Ingress, stored as networking.k8s.io/v1.
    LegacyIngress,
}

/// One served resource (a group, version and plural name).
#[derive(Debug)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Served version.
    pub version: &'static str,
    /// Plural resource name, as in URLs.
    pub plural: &'static str,
    /// Singular resource name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl (`svc`, `deploy`, ...).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Whether the `status` subresource exists (and so the main resource ignores status).
    pub status: bool,
    /// Whether the `scale` subresource exists.
    pub scale: bool,
    /// How this version relates to storage.
    pub conversion: Conversion,
    /// The group the object is stored under (differs from `group` only for legacy versions).
    pub storage_group: &'static str,
    /// The version the object is stored as.
    pub storage_version: &'static str,
    /// Decodes a storage-version body into the k8s-openapi type and back, which drops nothing
    /// the type knows and reports a type mismatch as an error.
    pub normalize: fn(&Value) -> Result<Value, String>,
    /// The `Warning` header text for deprecated versions.
    pub deprecation: Option<&'static str>,
    /// Adds the storage type's JSON schema (and everything it refers to) to a generator and
    /// returns its name.
    pub schema: fn(&mut schemars::SchemaGenerator) -> String,
}

fn schema<T: schemars::JsonSchema>(generator: &mut schemars::SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

fn normalize<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// The storage `apiVersion`.
    pub fn storage_api_version(&self) -> String {
        api_version(self.storage_group, self.storage_version)
    }

    /// The resource as kube names it in messages: `services`, `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The store key prefix for a namespace (or every namespace with `None`).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        let group = if self.storage_group.is_empty() {
            "core"
        } else {
            self.storage_group
        };
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{group}/{}/{ns}/", self.plural),
            _ => format!("{group}/{}/", self.plural),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(namespace))
    }

    /// The List kind.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// `group/version`, or `version` for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

macro_rules! resources {
    ($( $group:literal $version:literal $plural:literal $singular:literal $kind:literal
        ns=$ns:literal short=[$($short:literal),*] cat=[$($cat:literal),*]
        status=$status:literal scale=$scale:literal ty=$ty:ty
        $(, legacy($conv:ident, $sg:literal, $sv:literal, $dep:literal))? ;)* ) => {
        /// Every served resource, in discovery order.
        pub static RESOURCES: &[Resource] = &[
            $(Resource {
                group: $group,
                version: $version,
                plural: $plural,
                singular: $singular,
                kind: $kind,
                namespaced: $ns,
                short_names: &[$($short),*],
                categories: &[$($cat),*],
                status: $status,
                scale: $scale,
                conversion: resources!(@conv $($conv)?),
                storage_group: resources!(@or $group $(, $sg)?),
                storage_version: resources!(@or $version $(, $sv)?),
                normalize: normalize::<$ty>,
                deprecation: resources!(@dep $($dep)?),
                schema: schema::<$ty>,
            },)*
        ];
    };
    (@conv) => { Conversion::None };
    (@conv $c:ident) => { Conversion::$c };
    (@or $a:literal) => { $a };
    (@or $a:literal, $b:literal) => { $b };
    (@dep) => { None };
    (@dep $d:literal) => { Some($d) };
}

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};

resources! {
    "" "v1" "pods" "pod" "Pod" ns=true short=["po"] cat=["all"] status=true scale=false ty=core::Pod;
    "" "v1" "services" "service" "Service" ns=true short=["svc"] cat=["all"] status=true scale=false ty=core::Service;
    "" "v1" "endpoints" "endpoints" "Endpoints" ns=true short=["ep"] cat=[] status=false scale=false ty=core::Endpoints;
    "" "v1" "namespaces" "namespace" "Namespace" ns=false short=["ns"] cat=[] status=true scale=false ty=core::Namespace;
    "" "v1" "nodes" "node" "Node" ns=false short=["no"] cat=[] status=true scale=false ty=core::Node;
    "" "v1" "events" "event" "Event" ns=true short=["ev"] cat=[] status=false scale=false ty=core::Event;
    "" "v1" "secrets" "secret" "Secret" ns=true short=[] cat=[] status=false scale=false ty=core::Secret;
    "" "v1" "configmaps" "configmap" "ConfigMap" ns=true short=["cm"] cat=[] status=false scale=false ty=core::ConfigMap;
    "" "v1" "serviceaccounts" "serviceaccount" "ServiceAccount" ns=true short=["sa"] cat=[] status=false scale=false ty=core::ServiceAccount;
    "" "v1" "persistentvolumeclaims" "persistentvolumeclaim" "PersistentVolumeClaim" ns=true short=["pvc"] cat=[] status=true scale=false ty=core::PersistentVolumeClaim;
    "" "v1" "persistentvolumes" "persistentvolume" "PersistentVolume" ns=false short=["pv"] cat=[] status=true scale=false ty=core::PersistentVolume;
    "" "v1" "replicationcontrollers" "replicationcontroller" "ReplicationController" ns=true short=["rc"] cat=["all"] status=true scale=true ty=core::ReplicationController;
    "" "v1" "limitranges" "limitrange" "LimitRange" ns=true short=["limits"] cat=[] status=false scale=false ty=core::LimitRange;
    "" "v1" "resourcequotas" "resourcequota" "ResourceQuota" ns=true short=["quota"] cat=[] status=true scale=false ty=core::ResourceQuota;
    "apps" "v1" "deployments" "deployment" "Deployment" ns=true short=["deploy"] cat=["all"] status=true scale=true ty=apps::Deployment;
    "apps" "v1" "replicasets" "replicaset" "ReplicaSet" ns=true short=["rs"] cat=["all"] status=true scale=true ty=apps::ReplicaSet;
    "apps" "v1" "statefulsets" "statefulset" "StatefulSet" ns=true short=["sts"] cat=["all"] status=true scale=true ty=apps::StatefulSet;
    "apps" "v1" "daemonsets" "daemonset" "DaemonSet" ns=true short=["ds"] cat=["all"] status=true scale=false ty=apps::DaemonSet;
    "apps" "v1" "controllerrevisions" "controllerrevision" "ControllerRevision" ns=true short=[] cat=[] status=false scale=false ty=apps::ControllerRevision;
    "discovery.k8s.io" "v1" "endpointslices" "endpointslice" "EndpointSlice" ns=true short=[] cat=[] status=false scale=false ty=discovery::EndpointSlice;
    "networking.k8s.io" "v1" "ingresses" "ingress" "Ingress" ns=true short=["ing"] cat=[] status=true scale=false ty=networking::Ingress;
    "networking.k8s.io" "v1" "ingressclasses" "ingressclass" "IngressClass" ns=false short=[] cat=[] status=false scale=false ty=networking::IngressClass;
    "networking.k8s.io" "v1" "networkpolicies" "networkpolicy" "NetworkPolicy" ns=true short=["netpol"] cat=[] status=false scale=false ty=networking::NetworkPolicy;
    "coordination.k8s.io" "v1" "leases" "lease" "Lease" ns=true short=[] cat=[] status=false scale=false ty=coordination::Lease;
    "batch" "v1" "jobs" "job" "Job" ns=true short=[] cat=["all"] status=true scale=false ty=batch::Job;
    "batch" "v1" "cronjobs" "cronjob" "CronJob" ns=true short=["cj"] cat=["all"] status=true scale=false ty=batch::CronJob;
    "rbac.authorization.k8s.io" "v1" "roles" "role" "Role" ns=true short=[] cat=[] status=false scale=false ty=rbac::Role;
    "rbac.authorization.k8s.io" "v1" "rolebindings" "rolebinding" "RoleBinding" ns=true short=[] cat=[] status=false scale=false ty=rbac::RoleBinding;
    "rbac.authorization.k8s.io" "v1" "clusterroles" "clusterrole" "ClusterRole" ns=false short=[] cat=[] status=false scale=false ty=rbac::ClusterRole;
    "rbac.authorization.k8s.io" "v1" "clusterrolebindings" "clusterrolebinding" "ClusterRoleBinding" ns=false short=[] cat=[] status=false scale=false ty=rbac::ClusterRoleBinding;
    "policy" "v1" "poddisruptionbudgets" "poddisruptionbudget" "PodDisruptionBudget" ns=true short=["pdb"] cat=[] status=true scale=false ty=policy::PodDisruptionBudget;
    "autoscaling" "v2" "horizontalpodautoscalers" "horizontalpodautoscaler" "HorizontalPodAutoscaler" ns=true short=["hpa"] cat=["all"] status=true scale=false ty=autoscaling::HorizontalPodAutoscaler;
    "scheduling.k8s.io" "v1" "priorityclasses" "priorityclass" "PriorityClass" ns=false short=["pc"] cat=[] status=false scale=false ty=scheduling::PriorityClass;
    "storage.k8s.io" "v1" "storageclasses" "storageclass" "StorageClass" ns=false short=["sc"] cat=[] status=false scale=false ty=storage::StorageClass;
    "apps" "v1beta2" "deployments" "deployment" "Deployment" ns=true short=[] cat=[] status=true scale=true ty=apps::Deployment,
        legacy(LegacyDeployment, "apps", "v1", "apps/v1beta2 Deployment is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 Deployment");
    "apps" "v1beta1" "deployments" "deployment" "Deployment" ns=true short=[] cat=[] status=true scale=true ty=apps::Deployment,
        legacy(LegacyDeployment, "apps", "v1", "apps/v1beta1 Deployment is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 Deployment");
    "networking.k8s.io" "v1beta1" "ingresses" "ingress" "Ingress" ns=true short=[] cat=[] status=true scale=false ty=networking::Ingress,
        legacy(LegacyIngress, "networking.k8s.io", "v1", "networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress");
    "extensions" "v1beta1" "deployments" "deployment" "Deployment" ns=true short=[] cat=[] status=true scale=true ty=apps::Deployment,
        legacy(LegacyDeployment, "apps", "v1", "extensions/v1beta1 Deployment is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 Deployment");
    "extensions" "v1beta1" "ingresses" "ingress" "Ingress" ns=true short=[] cat=[] status=true scale=false ty=networking::Ingress,
        legacy(LegacyIngress, "networking.k8s.io", "v1", "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress");
}

/// Finds the served resource for a group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds the storage-version resource for a stored group and plural.
pub fn storage(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural && r.conversion == Conversion::None)
}

/// The groups in discovery order, each with its versions in preference order.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}
