//! Server-side apply (`application/apply-patch+yaml`) and `metadata.managedFields` bookkeeping.
//!
//! This follows `sigs.k8s.io/structured-merge-diff` and the field manager of
//! `k8s.io/apiserver`: every writer of an object is recorded in `metadata.managedFields` with
//! the set of fields it owns (encoded as `FieldsV1`). An apply merges the user's partial object
//! into the live one, makes the fields it names the applier's set, removes fields the applier
//! stopped naming when nobody else owns them, and refuses to change fields other managers own
//! unless forced. Other writes ([`record_update`]) take ownership of the fields they change.
//!
//! Instead of OpenAPI schemas, list semantics come from the strategic merge patch table in
//! [`crate::patch`] (list-map keys and set-like primitive lists; every other list is atomic)
//! and a small table of atomic maps such as label selectors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde_json::{Map, Value};

use crate::patch::{is_merging_primitive_list, list_map_keys};
use crate::validation::go_quote;

#[cfg(test)]
mod tests;

/// One field owned by another manager that the applier tried to change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Name of the manager owning the field.
    pub manager: String,
    /// How the owner wrote the field: `"Apply"` or `"Update"`.
    pub operation: String,
    /// API version the owner used, as recorded in its managedFields entry.
    pub api_version: String,
    /// When the owner last changed the object, if its entry records it.
    pub time: Option<String>,
    /// The field as upstream prints paths, e.g. `.spec.replicas` or
    /// `.spec.ports[port=80,protocol="TCP"].targetPort`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The applied configuration changes fields that other managers own; kube-apiserver answers
    /// 409 Conflict with [`ApplyError::message`] and one cause per conflict. Applying again with
    /// `force` takes the fields over.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The live object's `metadata.managedFields` cannot be decoded.
    #[error("failed to decode managed fields: {0}")]
    InvalidManagedFields(String),
    /// The applied configuration is not a valid partial object (400 Bad Request).
    #[error("{0}")]
    InvalidBody(String),
}

impl ApplyError {
    /// The error message kube-apiserver would send, e.g. `Apply failed with 1 conflict: conflict
    /// with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
    ///
    /// Update managers are printed with their API version only: upstream's printer could add
    /// ` at <time>`, but the manager identifiers it prints never carry a time, so real servers
    /// never show one.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Server-side apply of `applied` (the user's partial object, already in the storage version, with apiVersion/kind/metadata.name/namespace) by `manager` onto `live` (None = create).
/// Returns the new full object, including updated `metadata.managedFields`.
///
/// `now` is the RFC 3339 time recorded for the applier; like upstream it is only recorded when
/// the object itself changes, so re-applying the same configuration returns `live` unchanged
/// (kubectl's annotation aside). `status` and the
/// server-owned metadata (uid, resourceVersion, creationTimestamp, generation) of `applied` are
/// ignored. Applying as `kubectl` keeps kubectl's `last-applied-configuration` annotation in
/// step and lets kubectl take over fields it had applied client-side, as upstream does.
pub fn apply(
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    let schema = Schema::new(kind);
    if !applied.is_object() {
        return Err(ApplyError::InvalidBody(
            "the applied configuration must be a JSON object".to_owned(),
        ));
    }
    if metadata_field(applied, "managedFields").is_some_and(|fields| !fields.is_null()) {
        return Err(ApplyError::InvalidBody(
            "metadata.managedFields must be nil".to_owned(),
        ));
    }
    let config = config_object(applied);
    let config_set = schema.field_set(&config).map_err(|error| {
        ApplyError::InvalidBody(format!(
            "failed to create typed patch object ({}): {error}",
            describe_object(kind, api_version, applied)
        ))
    })?;

    let empty = Value::Object(Map::new());
    let live_object = live.unwrap_or(&empty);
    let mut managers = match live {
        Some(live) => decode_managed_fields(live).map_err(ApplyError::InvalidManagedFields)?,
        None => Managers::new(),
    };
    // Objects written before field management was switched on have no entries at all; upstream
    // then attributes everything already there to a pseudo manager, so the first apply cannot
    // silently overwrite values someone else set.
    if live.is_some() && managers.is_empty() {
        let existing = schema.changed_fields(&zero_object(kind), &strip_object(live_object));
        if !existing.set.is_empty() {
            let entry = Entry::new(
                BEFORE_FIRST_APPLY,
                false,
                api_version,
                Some(now),
                existing.set,
            );
            managers.insert(entry.identifier(), entry);
        }
    }

    let applier = identifier(manager, true, "", "");
    let previous = managers.remove(&applier);
    let mut result = schema
        .merge(Some(live_object), &config, &mut Vec::new())
        .unwrap_or_else(|| Value::Object(Map::new()));

    // Fields the applier named last time but not now are dropped from the object unless some
    // manager (the applier's new configuration included) still owns them. Named fields count
    // as owned when anything below them is, which keeps their parents alive.
    if let Some(last) = previous
        .as_ref()
        .map(|entry| &entry.set)
        .filter(|set| !set.is_empty())
    {
        let owned = managers
            .values()
            .fold(config_set.clone(), |owned, entry| owned.union(&entry.set));
        let doomed = strip_set(
            last.with_named_fields()
                .difference(&owned.with_named_fields()),
        );
        schema.remove(&mut result, &doomed, &mut Vec::new());
    }

    let comparison = schema.compare(&strip_object(live_object), &strip_object(&result));
    let changes = comparison.added.union(&comparison.modified);
    let conflicts: Vec<(String, FieldSet)> = managers
        .iter()
        .filter_map(|(id, entry)| {
            let conflicting = entry.set.intersection(&changes);
            (!conflicting.is_empty()).then(|| (id.clone(), conflicting))
        })
        .collect();
    if !conflicts.is_empty() && !force {
        // kubectl switching from client-side to server-side apply may take over the fields it
        // applied before, as long as the live values still match its last-applied annotation.
        let allowed = match live {
            Some(live) if manager == KUBECTL => schema.last_applied_fields(live),
            _ => None,
        };
        let remaining: Vec<(String, FieldSet)> = match allowed {
            Some(allowed) => conflicts
                .iter()
                .map(|(id, set)| (id.clone(), set.difference(&allowed)))
                .filter(|(_, set)| !set.is_empty())
                .collect(),
            None => conflicts.clone(),
        };
        if !remaining.is_empty() {
            return Err(ApplyError::Conflicts(describe_conflicts(
                &managers, &remaining,
            )));
        }
    }
    for (id, taken) in &conflicts {
        if let Some(entry) = managers.get_mut(id) {
            entry.set = entry.set.difference(taken);
        }
    }
    if !comparison.removed.is_empty() {
        for entry in managers.values_mut() {
            entry.set = entry.set.difference(&comparison.removed);
        }
    }

    let changed = live.is_none()
        || !values_equal(
            &without_managed_fields(live_object),
            &without_managed_fields(&result),
        );
    let time = if changed {
        Some(now.to_owned())
    } else {
        previous.and_then(|entry| entry.time)
    };
    let mut entry = Entry::new(manager, true, api_version, None, strip_set(config_set));
    entry.time = time;
    managers.insert(applier, entry);
    managers.retain(|_, entry| !entry.set.is_empty());

    if manager == KUBECTL {
        sync_last_applied(&mut result, applied);
    }
    encode_managed_fields(&mut result, &managers);
    Ok(result)
}

/// Records a non-apply write (create/update/patch with operation "Update") by `manager`: the fields whose values changed from `old` to `new` (all set fields on create) become owned by `manager` with operation Update, and are removed from other managers' sets. Returns `new` with managedFields updated.
///
/// As upstream: managedFields sent in `new` replace the stored ones when they decode and are
/// not empty (`[]` or `[{}]` clears them), an update of an existing object without any
/// managedFields is not tracked, a write that changes nothing leaves the entries (and their
/// times) alone, and at most ten Update entries are kept by folding the oldest into
/// `ancient-changes`.
pub fn record_update(
    kind: &str,
    api_version: &str,
    old: Option<&Value>,
    mut new: Value,
    manager: &str,
    now: &str,
) -> Value {
    let schema = Schema::new(kind);
    let starting = starting_managers(old, &new);
    remove_managed_fields(&mut new);
    let Some(mut managers) = starting else {
        return new;
    };
    if managers.is_empty() && old.is_some_and(has_uid) {
        return new;
    }

    let before = old.map_or_else(|| zero_object(kind), strip_object);
    let comparison = schema.changed_fields(&before, &strip_object(&new));
    for entry in managers.values_mut() {
        entry.set = entry
            .set
            .difference(&comparison.set)
            .difference(&comparison.removed);
    }
    if !comparison.set.is_empty() {
        let id = identifier(manager, false, api_version, "");
        let set = match managers.remove(&id) {
            Some(previous) => comparison.set.union(&previous.set),
            None => comparison.set,
        };
        managers.insert(id, Entry::new(manager, false, api_version, Some(now), set));
    }
    managers.retain(|_, entry| !entry.set.is_empty());
    cap_update_managers(&mut managers);
    encode_managed_fields(&mut new, &managers);
    new
}

/// Operation name of entries written by server-side apply.
const APPLY: &str = "Apply";
/// Operation name of entries written by every other kind of write.
const UPDATE: &str = "Update";
/// The only `fieldsType` there is.
const FIELDS_V1: &str = "FieldsV1";
/// Pseudo manager owning what an object held before its first tracked apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// Pseudo manager the oldest Update entries are folded into.
const ANCIENT_CHANGES: &str = "ancient-changes";
/// How many Update entries an object keeps before the oldest get folded.
const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager name kubectl uses for server-side apply.
const KUBECTL: &str = "kubectl";
/// The annotation kubectl's client-side apply keeps its last configuration in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upper bound of all annotation keys and values together, from ObjectMeta validation.
const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;
/// Metadata fields the server owns; they are never recorded and never taken from an apply.
const SYSTEM_METADATA: &[&str] = &[
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];
/// Metadata fields identifying the object; applied, but never recorded as owned.
const IDENTITY_METADATA: &[&str] = &["name", "namespace"];

/// Built-in kinds, for which the atomic maps of [`ATOMIC_MAPS`] apply.
const BUILT_IN_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "ControllerRevision",
    "CronJob",
    "CustomResourceDefinition",
    "DaemonSet",
    "Deployment",
    "EndpointSlice",
    "Endpoints",
    "Event",
    "FlowSchema",
    "HorizontalPodAutoscaler",
    "Ingress",
    "IngressClass",
    "Job",
    "Lease",
    "LimitRange",
    "MutatingWebhookConfiguration",
    "Namespace",
    "NetworkPolicy",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "PodTemplate",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "ReplicaSet",
    "ReplicationController",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "RuntimeClass",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Fields of built-in kinds whose object value is atomic (`+structType=atomic` or
/// `+mapType=atomic` upstream): label and node selectors and the key/field references.
const ATOMIC_MAPS: &[&str] = &[
    "claimRef",
    "configMapKeyRef",
    "fieldRef",
    "labelSelector",
    "namespaceSelector",
    "nodeSelector",
    "objectSelector",
    "podSelector",
    "resourceFieldRef",
    "scopeSelector",
    "secretKeyRef",
    "selector",
];

// ---- field sets -------------------------------------------------------------------------

/// A set of field paths, shaped like upstream's `fieldpath.Set`.
///
/// Path elements are kept in their FieldsV1 spelling (`f:name`, `k:{"name":"app"}`, `v:"x"`,
/// `i:0`), canonicalized, so they compare and serialize directly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldSet {
    /// Path elements that are themselves in the set.
    members: BTreeSet<String>,
    /// Path elements with members further down.
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// Whether the set holds no path at all; empty children are never kept, so this is exact.
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path`; the empty path (the object itself) is never a member.
    fn insert(&mut self, path: &[String]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Paths in either set.
    fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(own) => own.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// Paths in both sets.
    fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: self
                .children
                .iter()
                .filter_map(|(element, child)| {
                    let common = child.intersection(other.children.get(element)?);
                    (!common.is_empty()).then(|| (element.clone(), common))
                })
                .collect(),
        }
    }

    /// Paths in this set but not in `other`; a removed path does not take its descendants along.
    fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: self
                .children
                .iter()
                .filter_map(|(element, child)| {
                    let rest = match other.children.get(element) {
                        Some(theirs) => child.difference(theirs),
                        None => child.clone(),
                    };
                    (!rest.is_empty()).then(|| (element.clone(), rest))
                })
                .collect(),
        }
    }

    /// This set plus every named field above one of its paths, which upstream uses so that
    /// pruning can drop a whole struct once nothing in it is owned any more.
    ///
    /// Without a schema every `f:` element counts as named, which only differs from upstream
    /// for maps of maps (no built-in kind has one that apply could prune).
    fn with_named_fields(&self) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.clone(),
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if element.starts_with("f:") {
                out.members.insert(element.clone());
            }
            out.children
                .insert(element.clone(), child.with_named_fields());
        }
        out
    }

    /// Every path, in upstream's iteration order: members of a level before its children.
    fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for member in &self.members {
            prefix.push(member.clone());
            out.push(prefix.clone());
            prefix.pop();
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 encoding: `{}` for a member without children and `".": {}` for a member
    /// that also has children.
    fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_v1_map())
    }

    fn fields_v1_map(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for member in &self.members {
            if !self.children.contains_key(member) {
                out.insert(member.clone(), Value::Object(Map::new()));
            }
        }
        for (element, child) in &self.children {
            let mut inner = child.fields_v1_map();
            if self.members.contains(element) {
                inner.insert(".".to_owned(), Value::Object(Map::new()));
            }
            out.insert(element.clone(), Value::Object(inner));
        }
        out
    }

    /// Decodes FieldsV1; path elements of unknown types are dropped, as upstream does, so
    /// entries written by newer servers still load.
    fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        parse_fields_v1(value).map(|(set, _)| set)
    }
}

/// Decodes one FieldsV1 level and tells whether it marks its parent element as a member.
fn parse_fields_v1(value: &Value) -> Result<(FieldSet, bool), String> {
    let Value::Object(map) = value else {
        return Err(format!("expected an object, found {value}"));
    };
    let mut set = FieldSet::default();
    let mut member = false;
    for (key, child) in map {
        if key == "." {
            member = true;
            continue;
        }
        let Some(element) = canonical_element(key)? else {
            continue;
        };
        let (grandchildren, child_is_member) = parse_fields_v1(child)?;
        if child_is_member {
            set.members.insert(element.clone());
        }
        if !grandchildren.is_empty() {
            let merged = match set.children.remove(&element) {
                Some(existing) => existing.union(&grandchildren),
                None => grandchildren,
            };
            set.children.insert(element, merged);
        }
    }
    // A level with nothing below it is a leaf, which is always a member.
    let member = member || set.is_empty();
    Ok((set, member))
}

/// Validates a serialized path element and rewrites it in canonical form; `None` for element
/// types this version does not know.
fn canonical_element(key: &str) -> Result<Option<String>, String> {
    let bytes = key.as_bytes();
    if bytes.len() < 2 {
        return Err(format!("path element {key:?} is too short"));
    }
    if bytes[1] != b':' {
        return Err(format!("missing colon: {key}"));
    }
    let body = &key[2..];
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|error| format!("invalid path element {key:?}: {error}"))
    };
    match bytes[0] {
        b'f' => Ok(Some(key.to_owned())),
        b'v' => Ok(Some(format!("v:{}", go_json(&parse(body)?)))),
        b'k' => match parse(body)? {
            Value::Object(fields) => Ok(Some(key_element(
                fields.iter().map(|(name, value)| (name.as_str(), value)),
            ))),
            _ => Err(format!(
                "invalid path element {key:?}: keys must be an object"
            )),
        },
        b'i' => body
            .parse::<i64>()
            .map(|index| Some(format!("i:{index}")))
            .map_err(|error| format!("invalid path element {key:?}: {error}")),
        _ => Ok(None),
    }
}

/// The `k:` element for a list-map item with these key fields (sorted by name, as upstream).
fn key_element<'a>(fields: impl Iterator<Item = (&'a str, &'a Value)>) -> String {
    let mut fields: Vec<(&str, &Value)> = fields.collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}:{}", go_json_string(name), go_json(value)))
        .collect();
    format!("k:{{{}}}", body.join(","))
}

/// A path the way upstream prints it: `.spec.ports[port=80,protocol="TCP"].targetPort`.
fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        let body = element.get(2..).unwrap_or_default();
        match element.as_bytes().first() {
            Some(b'f') => {
                out.push('.');
                out.push_str(body);
            }
            Some(b'k') => {
                let fields = match serde_json::from_str::<Value>(body) {
                    Ok(Value::Object(fields)) => fields
                        .iter()
                        .map(|(name, value)| format!("{name}={}", go_value_string(value)))
                        .collect::<Vec<_>>(),
                    _ => vec![body.to_owned()],
                };
                out.push('[');
                out.push_str(&fields.join(","));
                out.push(']');
            }
            Some(b'v') => {
                let value = serde_json::from_str::<Value>(body)
                    .map_or_else(|_| body.to_owned(), |value| go_value_string(&value));
                out.push_str(&format!("[={value}]"));
            }
            Some(b'i') => out.push_str(&format!("[{body}]")),
            _ => out.push_str(element),
        }
    }
    out
}

// ---- schema -----------------------------------------------------------------------------

/// How a list merges, from the strategic merge patch table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListType {
    /// Replaced whole and owned as a single leaf.
    Atomic,
    /// A set of primitive values; items are `v:` elements.
    Set,
    /// Items are maps identified by these key fields; items are `k:` elements.
    Map(&'static [&'static str]),
}

/// What apply needs to know about the type of an object, derived from its kind.
///
/// Paths passed to its methods are field names from the object root with list positions left
/// out, the form [`list_map_keys`] takes.
struct Schema<'k> {
    /// The object's kind.
    kind: &'k str,
    /// Whether the kind is built in, so that the atomic-map table applies.
    built_in: bool,
}

/// Field changes between two versions of an object.
#[derive(Debug, Default)]
struct Comparison {
    /// Paths only the newer version has.
    added: FieldSet,
    /// Leaves whose values differ.
    modified: FieldSet,
    /// Paths only the older version has.
    removed: FieldSet,
}

/// What a write changed: the fields it sets (added or modified, minus never-owned ones) and
/// the fields it dropped.
struct Changes {
    /// Fields the write becomes the owner of.
    set: FieldSet,
    /// Fields that no longer exist.
    removed: FieldSet,
}

impl<'k> Schema<'k> {
    fn new(kind: &'k str) -> Self {
        Schema {
            kind,
            built_in: BUILT_IN_KINDS.contains(&kind),
        }
    }

    fn list_type(&self, path: &[String]) -> ListType {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if let Some(keys) = list_map_keys(self.kind, &path) {
            ListType::Map(keys)
        } else if is_merging_primitive_list(self.kind, &path) {
            ListType::Set
        } else {
            ListType::Atomic
        }
    }

    /// Whether the map at `path` is replaced and owned as a whole.
    fn is_atomic_map(&self, path: &[String]) -> bool {
        if !self.built_in {
            return false;
        }
        match path {
            [.., parent, last] if parent == "nodeAffinity" => {
                last == "requiredDuringSchedulingIgnoredDuringExecution" || last == "required"
            }
            [.., last] => ATOMIC_MAPS.contains(&last.as_str()),
            [] => false,
        }
    }

    /// Whether the items of the list-map at `path` are atomic structs: owner references, the
    /// `LocalObjectReference`s of `imagePullSecrets` and a service account's secret references.
    fn has_atomic_items(&self, path: &[String]) -> bool {
        match path.last().map(String::as_str) {
            Some("ownerReferences" | "imagePullSecrets") => true,
            Some("secrets") => self.kind == "ServiceAccount" && path.len() == 1,
            _ => false,
        }
    }

    /// The path element of list item `index`, or why the item cannot be identified.
    fn item_element(&self, list: ListType, item: &Value, index: usize) -> Result<String, String> {
        match list {
            ListType::Atomic => Ok(format!("i:{index}")),
            ListType::Set => Ok(format!("v:{}", go_json(item))),
            ListType::Map(keys) => {
                let Value::Object(fields) = item else {
                    return Err(format!(
                        "element {index}: associative list with keys has an element that is not a map"
                    ));
                };
                // Ports are keyed with their defaulted protocol, as upstream's schema declares
                // `TCP` as the default of the `protocol` key.
                let tcp = Value::String("TCP".to_owned());
                let mut pairs = Vec::with_capacity(keys.len());
                for key in keys {
                    let value = match fields.get(*key) {
                        Some(value) => value,
                        None if *key == "protocol" => &tcp,
                        None => {
                            return Err(format!(
                                "element {index}: associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                            ));
                        }
                    };
                    pairs.push((*key, value));
                }
                Ok(key_element(pairs.into_iter()))
            }
        }
    }

    /// Like [`Schema::item_element`], but identifies broken items of stored objects by position
    /// so they are carried along instead of failing the request.
    fn lenient_element(&self, list: ListType, item: &Value, index: usize) -> String {
        self.item_element(list, item, index)
            .unwrap_or_else(|_| format!("i:{index}"))
    }

    /// Each distinct item of a list with its path element; later duplicates are skipped.
    fn index_items<'v>(
        &self,
        list: ListType,
        items: &'v [Value],
    ) -> (Vec<String>, HashMap<String, &'v Value>) {
        let mut order = Vec::with_capacity(items.len());
        let mut by_element = HashMap::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let element = self.lenient_element(list, item, index);
            if !by_element.contains_key(&element) {
                by_element.insert(element.clone(), item);
                order.push(element);
            }
        }
        (order, by_element)
    }

    // ---- the set an applied configuration names -----------------------------------------

    /// Every leaf, atomic value and list item `config` names (upstream's `ToFieldSet`).
    fn field_set(&self, config: &Value) -> Result<FieldSet, String> {
        let mut out = FieldSet::default();
        self.collect(config, &mut Vec::new(), &mut Vec::new(), &mut out)?;
        Ok(out)
    }

    fn collect(
        &self,
        value: &Value,
        path: &mut Vec<String>,
        set_path: &mut Vec<String>,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        match value {
            Value::Object(fields) if !self.is_atomic_map(path) => {
                for (name, child) in fields {
                    path.push(name.clone());
                    set_path.push(format!("f:{name}"));
                    let collected = self.collect(child, path, set_path, out);
                    path.pop();
                    set_path.pop();
                    collected?;
                }
            }
            Value::Array(items) => {
                let list = self.list_type(path);
                if list == ListType::Atomic {
                    out.insert(set_path);
                    return Ok(());
                }
                let atomic_items = self.has_atomic_items(path);
                let mut seen = HashSet::new();
                for (index, item) in items.iter().enumerate() {
                    let element = self
                        .item_element(list, item, index)
                        .map_err(|error| format!("{}: {error}", display_path(set_path)))?;
                    set_path.push(element.clone());
                    if !seen.insert(element) {
                        let message = format!(
                            "{}: duplicate entries for key {}",
                            display_path(&set_path[..set_path.len() - 1]),
                            display_path(&set_path[set_path.len() - 1..])
                        );
                        set_path.pop();
                        return Err(message);
                    }
                    let collected = if list == ListType::Set || atomic_items || !item.is_object() {
                        Ok(())
                    } else {
                        self.collect(item, path, set_path, out)
                    };
                    out.insert(set_path);
                    set_path.pop();
                    collected?;
                }
            }
            // A null granular list is no list at all, so there is nothing in it to own.
            Value::Null if self.list_type(path) != ListType::Atomic => {}
            _ => out.insert(set_path),
        }
        Ok(())
    }

    // ---- merging ------------------------------------------------------------------------

    /// Merges `config` into `live` (upstream's `Merge`): maps recursively, keyed and set lists
    /// item by item, everything else replaced by the configuration. `None` means the field
    /// ends up unset (an explicit null in the configuration).
    fn merge(&self, live: Option<&Value>, config: &Value, path: &mut Vec<String>) -> Option<Value> {
        match config {
            // A null keeps a granular container (upstream merges "nothing" into it) and unsets
            // anything else.
            Value::Null => match live {
                Some(kept @ Value::Object(fields))
                    if !fields.is_empty() && !self.is_atomic_map(path) =>
                {
                    Some(kept.clone())
                }
                Some(kept @ Value::Array(items))
                    if !items.is_empty() && self.list_type(path) != ListType::Atomic =>
                {
                    Some(kept.clone())
                }
                _ => None,
            },
            Value::Object(fields) if !self.is_atomic_map(path) => {
                let mut out = match live {
                    Some(Value::Object(live)) => live.clone(),
                    _ => Map::new(),
                };
                for (name, value) in fields {
                    path.push(name.clone());
                    let merged = self.merge(out.get(name), value, path);
                    path.pop();
                    match merged {
                        Some(merged) => {
                            out.insert(name.clone(), merged);
                        }
                        None => {
                            out.remove(name);
                        }
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(items) => match self.list_type(path) {
                ListType::Atomic => Some(config.clone()),
                list => {
                    let live = match live {
                        Some(Value::Array(live)) => live.as_slice(),
                        _ => &[],
                    };
                    Some(Value::Array(self.merge_list(list, live, items, path)))
                }
            },
            _ => Some(config.clone()),
        }
    }

    /// Merges two granular lists, ordering the result the way upstream does: items only the
    /// live list has keep their place, and items the configuration names follow its order.
    fn merge_list(
        &self,
        list: ListType,
        live: &[Value],
        config: &[Value],
        path: &mut Vec<String>,
    ) -> Vec<Value> {
        let atomic_items = self.has_atomic_items(path);
        let (live_order, live_items) = self.index_items(list, live);
        let (config_order, config_items) = self.index_items(list, config);
        let mut shared: VecDeque<&str> = config_order
            .iter()
            .filter(|element| live_items.contains_key(*element))
            .map(String::as_str)
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_config: HashSet<&str> = HashSet::new();
        let mut out = Vec::with_capacity(live_order.len().max(config_order.len()));
        let (mut l, mut c) = (0, 0);
        while l < live_order.len() || c < config_order.len() {
            if l < live_order.len() && c < config_order.len() {
                let element = live_order[l].as_str();
                if element == config_order[c] {
                    merged_config.insert(element);
                    out.extend(self.merge_item(
                        list,
                        atomic_items,
                        live_items.get(element).copied(),
                        config_items[element],
                        path,
                    ));
                    l += 1;
                    c += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                // A live item the configuration moves further down waits for its turn there.
                if config_items.contains_key(element)
                    && next_shared.is_some_and(|next| next != element)
                {
                    l += 1;
                    continue;
                }
            }
            if l < live_order.len() {
                let element = live_order[l].as_str();
                if !config_items.contains_key(element) {
                    out.push(live_items[element].clone());
                    l += 1;
                    continue;
                }
                if merged_config.contains(element) {
                    l += 1;
                    continue;
                }
            }
            if c < config_order.len() {
                let element = config_order[c].as_str();
                merged_config.insert(element);
                out.extend(self.merge_item(
                    list,
                    atomic_items,
                    live_items.get(element).copied(),
                    config_items[element],
                    path,
                ));
                c += 1;
                if next_shared == Some(element) {
                    next_shared = shared.pop_front();
                }
                continue;
            }
            // Only live items the configuration also names are left, and those were merged.
            l += 1;
        }
        out
    }

    fn merge_item(
        &self,
        list: ListType,
        atomic_items: bool,
        live: Option<&Value>,
        config: &Value,
        path: &mut Vec<String>,
    ) -> Option<Value> {
        match list {
            ListType::Map(_) if !atomic_items => self.merge(live, config, path),
            _ => (!config.is_null()).then(|| config.clone()),
        }
    }

    // ---- removing -----------------------------------------------------------------------

    /// Removes every member of `set` (with everything below it) from `value`; containers
    /// emptied by the removal go too, as upstream leaves them null.
    fn remove(&self, value: &mut Value, set: &FieldSet, path: &mut Vec<String>) {
        match value {
            Value::Object(fields) if !self.is_atomic_map(path) => {
                let names: Vec<String> = fields.keys().cloned().collect();
                for name in names {
                    let element = format!("f:{name}");
                    if set.members.contains(&element) {
                        fields.remove(&name);
                        continue;
                    }
                    let (Some(below), Some(child)) =
                        (set.children.get(&element), fields.get_mut(&name))
                    else {
                        continue;
                    };
                    let was_empty = is_empty_container(child);
                    path.push(name.clone());
                    self.remove(child, below, path);
                    path.pop();
                    if !was_empty && is_empty_container(child) {
                        fields.remove(&name);
                    }
                }
            }
            Value::Array(items) => {
                let list = self.list_type(path);
                if list == ListType::Atomic {
                    return;
                }
                let descend = matches!(list, ListType::Map(_)) && !self.has_atomic_items(path);
                let mut kept = Vec::with_capacity(items.len());
                for (index, mut item) in std::mem::take(items).into_iter().enumerate() {
                    let element = self.lenient_element(list, &item, index);
                    if set.members.contains(&element) {
                        continue;
                    }
                    if descend && let Some(below) = set.children.get(&element) {
                        self.remove(&mut item, below, path);
                    }
                    kept.push(item);
                }
                *items = kept;
            }
            _ => {}
        }
    }

    // ---- comparing ----------------------------------------------------------------------

    /// What changed from `old` to `new` (upstream's `Compare`): leaves that appear, change or
    /// disappear, plus maps and list items that appear or disappear as a whole.
    fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut out = Comparison::default();
        self.compare_into(
            Some(old),
            Some(new),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut out,
        );
        out
    }

    /// The fields a write from `old` to `new` takes ownership of, and those it removed.
    fn changed_fields(&self, old: &Value, new: &Value) -> Changes {
        let comparison = self.compare(old, new);
        Changes {
            set: strip_set(comparison.added.union(&comparison.modified)),
            removed: comparison.removed,
        }
    }

    fn compare_into(
        &self,
        old: Option<&Value>,
        new: Option<&Value>,
        path: &mut Vec<String>,
        set_path: &mut Vec<String>,
        out: &mut Comparison,
    ) {
        if old.is_none() && new.is_none() {
            return;
        }
        // Null stands in for an empty container of whatever shape the other side has, the way
        // upstream treats a null map or list.
        let map_like = |value: Option<&Value>| {
            matches!(value, None | Some(Value::Object(_)) | Some(Value::Null))
        };
        let list_like = |value: Option<&Value>| {
            matches!(value, None | Some(Value::Array(_)) | Some(Value::Null))
        };
        let any_map =
            matches!(old, Some(Value::Object(_))) || matches!(new, Some(Value::Object(_)));
        let any_list = matches!(old, Some(Value::Array(_))) || matches!(new, Some(Value::Array(_)));

        if any_map && map_like(old) && map_like(new) && !self.is_atomic_map(path) {
            let old_fields = old.and_then(Value::as_object);
            let new_fields = new.and_then(Value::as_object);
            if old_fields.is_none_or(Map::is_empty) && new_fields.is_none_or(Map::is_empty) {
                compare_leaf(old, new, set_path, out);
                return;
            }
            let names: BTreeSet<&String> = old_fields
                .into_iter()
                .chain(new_fields)
                .flat_map(Map::keys)
                .collect();
            for name in names {
                path.push(name.clone());
                set_path.push(format!("f:{name}"));
                self.compare_into(
                    old_fields.and_then(|fields| fields.get(name)),
                    new_fields.and_then(|fields| fields.get(name)),
                    path,
                    set_path,
                    out,
                );
                path.pop();
                set_path.pop();
            }
            compare_container(old, new, set_path, out);
            return;
        }

        let list = self.list_type(path);
        if any_list && list_like(old) && list_like(new) && list != ListType::Atomic {
            let old_items = old.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            let new_items = new.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            if old_items.is_empty() && new_items.is_empty() {
                compare_leaf(old, new, set_path, out);
                return;
            }
            let items_are_leaves = list == ListType::Set || self.has_atomic_items(path);
            let (old_order, old_by) = self.index_items(list, old_items);
            let (new_order, new_by) = self.index_items(list, new_items);
            let only_new = new_order
                .iter()
                .filter(|element| !old_by.contains_key(*element));
            for element in old_order.iter().chain(only_new) {
                let (before, after) = (old_by.get(element).copied(), new_by.get(element).copied());
                set_path.push(element.clone());
                if items_are_leaves {
                    compare_leaf(before, after, set_path, out);
                } else {
                    self.compare_into(before, after, path, set_path, out);
                }
                set_path.pop();
            }
            compare_container(old, new, set_path, out);
            return;
        }

        compare_leaf(old, new, set_path, out);
    }

    /// The fields kubectl's `last-applied-configuration` annotation on `live` still describes
    /// truthfully, which kubectl may take over without forcing.
    fn last_applied_fields(&self, live: &Value) -> Option<FieldSet> {
        let text = metadata_field(live, "annotations")?
            .get(LAST_APPLIED)?
            .as_str()?;
        let last: Value = serde_json::from_str(text).ok()?;
        if !last.is_object() {
            return None;
        }
        let last = strip_object(&last);
        let set = self.field_set(&last).ok()?;
        let comparison = self.compare(&last, &strip_object(live));
        Some(
            set.difference(&comparison.modified)
                .difference(&comparison.added)
                .difference(&comparison.removed),
        )
    }
}

/// Records a leaf (scalar, atomic value or empty container) that appeared, changed or vanished.
fn compare_leaf(old: Option<&Value>, new: Option<&Value>, path: &[String], out: &mut Comparison) {
    if path.is_empty() {
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(old), Some(new)) if !values_equal(old, new) => out.modified.insert(path),
        _ => {}
    }
}

/// Records a granular map or list item that appeared or vanished as a whole.
fn compare_container(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &[String],
    out: &mut Comparison,
) {
    if path.is_empty() {
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

// ---- objects ----------------------------------------------------------------------------

fn metadata_field<'v>(object: &'v Value, field: &str) -> Option<&'v Value> {
    object.get("metadata")?.get(field)
}

fn has_uid(object: &Value) -> bool {
    metadata_field(object, "uid")
        .and_then(Value::as_str)
        .is_some_and(|uid| !uid.is_empty())
}

/// `object` without the given top-level fields and metadata fields.
fn without(object: &Value, top: &[&str], metadata: &[&[&str]]) -> Value {
    let mut out = object.clone();
    if let Value::Object(fields) = &mut out {
        for name in top {
            fields.remove(*name);
        }
        if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
            for name in metadata.iter().flat_map(|names| names.iter()) {
                meta.remove(*name);
            }
        }
    }
    out
}

/// The applied configuration as it is merged: status and server-owned metadata are dropped,
/// because the server keeps its own values for them.
fn config_object(applied: &Value) -> Value {
    without(applied, &["status"], &[SYSTEM_METADATA])
}

/// `object` reduced to the fields a manager may own, for comparisons.
fn strip_object(object: &Value) -> Value {
    without(
        object,
        &["apiVersion", "kind", "status"],
        &[SYSTEM_METADATA, IDENTITY_METADATA],
    )
}

fn without_managed_fields(object: &Value) -> Value {
    without(object, &[], &[&["managedFields"]])
}

fn remove_managed_fields(object: &mut Value) {
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
    }
}

/// `set` without the fields no manager may own: the type and identity of the object, the
/// server-owned metadata and the status, which only the status subresource writes.
fn strip_set(mut set: FieldSet) -> FieldSet {
    for name in ["apiVersion", "kind", "metadata", "status"] {
        set.members.remove(&format!("f:{name}"));
    }
    for name in ["apiVersion", "kind", "status"] {
        set.children.remove(&format!("f:{name}"));
    }
    if let Some(meta) = set.children.get_mut("f:metadata") {
        for name in IDENTITY_METADATA.iter().chain(SYSTEM_METADATA) {
            let element = format!("f:{name}");
            meta.members.remove(&element);
            meta.children.remove(&element);
        }
        if meta.is_empty() {
            set.children.remove("f:metadata");
        }
    }
    set
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The structs a freshly created object of `kind` already has before the request's values
/// are filled in (upstream compares a create against the zero value of the Go type).
///
/// Maps present here do not become owned as a whole (`".": {}`) by the creator, exactly the
/// non-pointer structs of the built-in types; `containers` is there as `null` because the Go
/// field is not `omitempty`.
fn zero_object(kind: &str) -> Value {
    let template = || serde_json::json!({"metadata": {}, "spec": {"containers": null}});
    let spec = match kind {
        "Deployment" => serde_json::json!({"template": template(), "strategy": {}}),
        "StatefulSet" | "DaemonSet" => {
            serde_json::json!({"template": template(), "updateStrategy": {}})
        }
        "ReplicaSet" | "Job" => serde_json::json!({"template": template()}),
        "CronJob" => {
            serde_json::json!({"jobTemplate": {"metadata": {}, "spec": {"template": template()}}})
        }
        "Pod" => serde_json::json!({"containers": null}),
        "PodTemplate" => return serde_json::json!({"metadata": {}, "template": template()}),
        "ReplicationController"
        | "Service"
        | "Namespace"
        | "Node"
        | "PersistentVolume"
        | "PersistentVolumeClaim"
        | "ResourceQuota"
        | "LimitRange"
        | "Ingress"
        | "NetworkPolicy"
        | "PodDisruptionBudget"
        | "HorizontalPodAutoscaler" => serde_json::json!({}),
        _ => return serde_json::json!({"metadata": {}}),
    };
    serde_json::json!({"metadata": {}, "spec": spec})
}

/// `namespace/name; group/version, Kind=kind`, the way upstream names an object in errors.
fn describe_object(kind: &str, api_version: &str, object: &Value) -> String {
    let text = |field| {
        metadata_field(object, field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let group_version = if api_version.contains('/') {
        api_version.to_owned()
    } else {
        format!("/{api_version}")
    };
    format!(
        "{}/{}; {group_version}, Kind={kind}",
        text("namespace"),
        text("name")
    )
}

/// Points kubectl's `last-applied-configuration` annotation at the configuration just applied,
/// if the object has one, so a later client-side apply computes its patch from the truth.
fn sync_last_applied(object: &mut Value, applied: &Value) {
    let Some(Value::Object(annotations)) = object
        .get_mut("metadata")
        .and_then(|meta| meta.get_mut("annotations"))
    else {
        return;
    };
    if annotations
        .get(LAST_APPLIED)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return;
    }
    let mut config = applied.clone();
    if let Some(Value::Object(own)) = config
        .get_mut("metadata")
        .and_then(|meta| meta.get_mut("annotations"))
    {
        own.remove(LAST_APPLIED);
    }
    // Go's JSON encoder ends its output with a newline, and kubectl's own annotations do too.
    annotations.insert(
        LAST_APPLIED.to_owned(),
        Value::String(format!("{}\n", go_json(&config))),
    );
    let size: usize = annotations
        .iter()
        .map(|(key, value)| key.len() + value.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_SIZE_LIMIT {
        annotations.remove(LAST_APPLIED);
    }
}

// ---- managedFields ----------------------------------------------------------------------

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    /// Whether the entry records an apply rather than an update.
    applied: bool,
    api_version: String,
    subresource: String,
    time: Option<String>,
    set: FieldSet,
}

/// Entries keyed by upstream's manager identifier.
type Managers = BTreeMap<String, Entry>;

impl Entry {
    fn new(
        manager: &str,
        applied: bool,
        api_version: &str,
        time: Option<&str>,
        set: FieldSet,
    ) -> Self {
        Entry {
            manager: manager.to_owned(),
            applied,
            api_version: api_version.to_owned(),
            subresource: String::new(),
            time: time.map(str::to_owned),
            set,
        }
    }

    fn operation(&self) -> &'static str {
        if self.applied { APPLY } else { UPDATE }
    }

    fn identifier(&self) -> String {
        identifier(
            &self.manager,
            self.applied,
            &self.api_version,
            &self.subresource,
        )
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if !self.manager.is_empty() {
            out.insert("manager".to_owned(), Value::String(self.manager.clone()));
        }
        out.insert(
            "operation".to_owned(),
            Value::String(self.operation().to_owned()),
        );
        out.insert(
            "apiVersion".to_owned(),
            Value::String(self.api_version.clone()),
        );
        if let Some(time) = &self.time {
            out.insert("time".to_owned(), Value::String(time.clone()));
        }
        out.insert("fieldsType".to_owned(), Value::String(FIELDS_V1.to_owned()));
        out.insert("fieldsV1".to_owned(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            out.insert(
                "subresource".to_owned(),
                Value::String(self.subresource.clone()),
            );
        }
        Value::Object(out)
    }
}

/// Upstream's manager identifier, the JSON of a managedFields entry reduced to who wrote it.
///
/// The API version is left out for appliers, so re-applying in another version replaces the
/// entry instead of adding one. Sorting by it is how upstream orders conflict messages.
fn identifier(manager: &str, applied: bool, api_version: &str, subresource: &str) -> String {
    let mut fields = Vec::with_capacity(4);
    if !manager.is_empty() {
        fields.push(format!("\"manager\":{}", go_json_string(manager)));
    }
    let operation = if applied { APPLY } else { UPDATE };
    fields.push(format!("\"operation\":\"{operation}\""));
    if !applied && !api_version.is_empty() {
        fields.push(format!("\"apiVersion\":{}", go_json_string(api_version)));
    }
    if !subresource.is_empty() {
        fields.push(format!("\"subresource\":{}", go_json_string(subresource)));
    }
    format!("{{{}}}", fields.join(","))
}

/// Reads `metadata.managedFields`, with upstream's validation of each entry.
fn decode_managed_fields(object: &Value) -> Result<Managers, String> {
    let entries = match metadata_field(object, "managedFields") {
        None | Some(Value::Null) => return Ok(Managers::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(format!("managedFields must be a list, found {other}")),
    };
    let mut managers = Managers::new();
    for (index, raw) in entries.iter().enumerate() {
        let Value::Object(raw) = raw else {
            return Err(format!("managed fields entry {index} is not an object"));
        };
        let text = |name: &str| raw.get(name).and_then(Value::as_str).unwrap_or_default();
        let applied = match text("operation") {
            APPLY => true,
            UPDATE => false,
            _ => return Err("operation must be `Apply` or `Update`".to_owned()),
        };
        if text("apiVersion").is_empty() {
            return Err("apiVersion must not be empty".to_owned());
        }
        match text("fieldsType") {
            FIELDS_V1 => {}
            "" => {
                return Err(format!(
                    "missing fieldsType in managed fields entry {index}"
                ));
            }
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {index}"
                ));
            }
        }
        let set = match raw.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(fields) => FieldSet::from_fields_v1(fields).map_err(|error| {
                format!("error decoding set of managed fields entry {index}: {error}")
            })?,
        };
        let entry = Entry {
            manager: text("manager").to_owned(),
            applied,
            api_version: text("apiVersion").to_owned(),
            subresource: text("subresource").to_owned(),
            time: raw.get("time").and_then(Value::as_str).map(str::to_owned),
            set,
        };
        managers.insert(entry.identifier(), entry);
    }
    Ok(managers)
}

/// Writes the entries to `metadata.managedFields` in upstream's order (appliers first, then
/// oldest first), or removes the field when there are none.
fn encode_managed_fields(object: &mut Value, managers: &Managers) {
    let mut entries: Vec<&Entry> = managers.values().collect();
    entries.sort_by(|a, b| {
        a.operation()
            .cmp(b.operation())
            .then_with(|| {
                a.time
                    .as_deref()
                    .unwrap_or_default()
                    .cmp(b.time.as_deref().unwrap_or_default())
            })
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let Value::Object(fields) = object else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(
            "managedFields".to_owned(),
            Value::Array(entries.iter().map(|entry| entry.to_json()).collect()),
        );
    }
}

/// The entries an update starts from: those sent with the new object when it carries any
/// (`[]` or `[{}]` asks for a reset), else the stored ones. `None` when nothing decodes.
fn starting_managers(old: Option<&Value>, new: &Value) -> Option<Managers> {
    if let Some(Value::Array(sent)) = metadata_field(new, "managedFields") {
        let blank = |entry: &Value| {
            entry.as_object().is_some_and(|fields| {
                fields
                    .values()
                    .all(|value| value.is_null() || value.as_str() == Some(""))
            })
        };
        if sent.is_empty() || (sent.len() == 1 && blank(&sent[0])) {
            return Some(Managers::new());
        }
    }
    if let Ok(sent) = decode_managed_fields(new)
        && !sent.is_empty()
    {
        return Some(sent);
    }
    match old {
        Some(old) => decode_managed_fields(old).ok(),
        None => Some(Managers::new()),
    }
}

/// Folds the oldest Update entries into per-version `ancient-changes` entries until at most
/// [`MAX_UPDATE_MANAGERS`] remain, so objects written by many clients stay small.
fn cap_update_managers(managers: &mut Managers) {
    let mut updaters: Vec<(String, String)> = managers
        .iter()
        .filter(|(_, entry)| !entry.applied)
        .map(|(id, entry)| (entry.time.clone().unwrap_or_default(), id.clone()))
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut first_of_version: HashMap<String, String> = HashMap::new();
    let mut remaining = updaters.len();
    for (_, id) in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(version) = managers.get(&id).map(|entry| entry.api_version.clone()) else {
            continue;
        };
        let bucket = identifier(ANCIENT_CHANGES, false, &version, "");
        let Some(first) = first_of_version.get(&version) else {
            first_of_version.insert(version, id);
            continue;
        };
        if id == bucket {
            continue;
        }
        // The first entry of a version turns into the bucket once a second one joins it.
        if !managers.contains_key(&bucket)
            && let Some(mut moved) = managers.remove(first)
        {
            moved.manager = ANCIENT_CHANGES.to_owned();
            moved.subresource.clear();
            managers.insert(bucket.clone(), moved);
        }
        if let Some(folded) = managers.remove(&id) {
            let target = managers.entry(bucket).or_insert_with(|| {
                Entry::new(ANCIENT_CHANGES, false, &version, None, FieldSet::default())
            });
            target.set = folded.set.union(&target.set);
            // The folded entry is the newer one, so its time describes the bucket.
            target.time = folded.time;
            remaining -= 1;
        }
    }
}

// ---- conflicts --------------------------------------------------------------------------

/// Turns per-manager conflicting sets into [`Conflict`]s, managers in identifier order.
fn describe_conflicts(managers: &Managers, conflicts: &[(String, FieldSet)]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (id, set) in conflicts {
        let Some(entry) = managers.get(id) else {
            continue;
        };
        for path in set.paths() {
            out.push(Conflict {
                manager: entry.manager.clone(),
                operation: entry.operation().to_owned(),
                api_version: entry.api_version.clone(),
                time: entry.time.clone(),
                field: display_path(&path),
            });
        }
    }
    out
}

/// How upstream names a conflicting manager: `"name"` for appliers and
/// `"name" using <apiVersion>` for updaters.
fn describe_manager(conflict: &Conflict) -> String {
    if conflict.operation == UPDATE {
        format!(
            "{} using {}",
            go_quote(&conflict.manager),
            conflict.api_version
        )
    } else {
        go_quote(&conflict.manager)
    }
}

/// kube-apiserver's message for a failed apply.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [conflict] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe_manager(conflict),
            conflict.field
        );
    }
    let mut by_manager: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for conflict in conflicts {
        let id = identifier(
            &conflict.manager,
            conflict.operation == APPLY,
            &conflict.api_version,
            "",
        );
        by_manager
            .entry(id)
            .or_insert_with(|| (describe_manager(conflict), Vec::new()))
            .1
            .push(&conflict.field);
    }
    let mut lines = Vec::new();
    for (who, fields) in by_manager.values() {
        lines.push(format!("conflicts with {who}:"));
        lines.extend(fields.iter().map(|field| format!("- {field}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

// ---- values -----------------------------------------------------------------------------

/// Deep equality where `1` and `1.0` are equal, as decoded JSON compares in Go.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| values_equal(x, y)))
        }
        _ => a == b,
    }
}

/// JSON the way Go's `encoding/json` writes decoded values: object keys sorted, HTML
/// characters escaped, and whole-number floats written as integers.
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, value);
    out
}

fn write_go_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number_text(number)),
        Value::String(text) => out.push_str(&go_json_string(text)),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            out.push('{');
            for (index, name) in names.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&go_json_string(name));
                out.push(':');
                if let Some(field) = fields.get(name) {
                    write_go_json(out, field);
                }
            }
            out.push('}');
        }
    }
}

/// A number as Go prints a decoded one; Kubernetes decodes whole numbers to integers.
fn number_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if number.is_f64() && float.fract() == 0.0 && float.abs() < 1e15 => {
            format!("{float:.0}")
        }
        _ => number.to_string(),
    }
}

/// A JSON string literal escaped like Go's `encoding/json`.
fn go_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value the way upstream prints path keys: strings quoted, everything else bare.
fn go_value_string(value: &Value) -> String {
    match value {
        Value::String(text) => go_quote(text),
        Value::Number(number) => number_text(number),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(go_value_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(name, value)| format!("{name}={}", go_value_string(value)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}
