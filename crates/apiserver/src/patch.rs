//! Kubernetes patch semantics: JSON merge patch, JSON patch and strategic merge patch.
//!
//! Strategic merge patch follows `k8s.io/apimachinery/pkg/util/strategicpatch` for the
//! built-in types. Instead of reading struct tags or OpenAPI, the few lists that are merged
//! (rather than replaced) are described by a small hand-written table, see [`list_map_keys`]
//! and [`is_merging_primitive_list`].

use serde_json::{Map, Value};

#[cfg(test)]
mod tests;

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The object being patched is not a JSON object, so there is nothing to merge into.
    #[error("the object to patch is not a JSON object")]
    OriginalNotObject,
    /// The patch body, or a part of it, does not have the shape the patch type requires.
    #[error("invalid patch: {0}")]
    InvalidPatch(String),
    /// The body of a JSON patch is not an array of valid RFC 6902 operations.
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(#[source] serde_json::Error),
    /// A JSON patch `test` operation found a value other than the expected one.
    #[error("JSON patch operation {operation} (test) failed at path '{path}'")]
    JsonPatchTestFailed {
        /// Zero-based index of the failing operation.
        operation: usize,
        /// JSON pointer the operation tested.
        path: String,
    },
    /// A JSON patch operation could not be applied, for example because its path does not exist.
    #[error("JSON patch failed: {0}")]
    JsonPatchFailed(#[source] json_patch::PatchError),
    /// An element of a list that is merged by key does not carry the merge key.
    #[error("{path}: list element {element} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// Dotted field path of the list.
        path: String,
        /// The merge key the element lacks.
        key: &'static str,
        /// The offending element, serialized.
        element: String,
    },
    /// A `$patch` directive has a value other than `replace` or `delete` (or `delete` for list elements).
    #[error("{path}: unknown patch directive {value}")]
    UnknownDirective {
        /// Dotted field path of the map or list holding the directive.
        path: String,
        /// The directive value, serialized.
        value: String,
    },
    /// A `$setElementOrder`, `$retainKeys` or `$deleteFromPrimitiveList` directive is malformed
    /// or contradicts the rest of the patch.
    #[error("{path}: invalid {directive} directive: {reason}")]
    InvalidDirective {
        /// Dotted field path where the directive applies.
        path: String,
        /// The directive key as written in the patch.
        directive: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Key of the per-map and per-element directive (`replace`, `delete`).
const DIRECTIVE: &str = "$patch";
/// Key of the directive listing which fields of a map survive the patch.
const RETAIN_KEYS: &str = "$retainKeys";
/// Prefix (without the slash) of the parallel list giving the final order of a list.
const SET_ORDER: &str = "$setElementOrder";
/// Prefix (without the slash) of the parallel list naming values to drop from a primitive list.
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList";

/// Apply an RFC 7386 JSON merge patch.
///
/// Objects merge recursively and `null` removes a key; any other patch value (including an
/// array) replaces the target wholesale.
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    let mut document = original.clone();
    json_patch::merge(&mut document, patch);
    document
}

/// Apply an RFC 6902 JSON patch (the body is a JSON array of operations).
///
/// The operations are applied in order to a copy of `original`; on failure nothing is returned,
/// so the caller never sees a half-applied document.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(PatchError::InvalidJsonPatch)?;
    let mut document = original.clone();
    json_patch::patch(&mut document, &operations.0).map_err(|error| {
        // A failed `test` is a precondition failure rather than a broken patch, so callers
        // get a dedicated variant to report it distinctly.
        if matches!(error.kind, json_patch::PatchErrorKind::TestFailed) {
            PatchError::JsonPatchTestFailed {
                operation: error.operation,
                path: error.path.to_string(),
            }
        } else {
            PatchError::JsonPatchFailed(error)
        }
    })?;
    Ok(document)
}

/// Apply a Kubernetes strategic merge patch to an object of the given kind
/// (kind is the Kubernetes Kind, e.g. "Service", "Deployment", "Pod", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Ingress", "Secret", "ConfigMap", "EndpointSlice", "Endpoints", "Node", ...).
///
/// Maps merge recursively and `null` deletes a key. Lists listed by [`list_map_keys`] merge
/// element by element, lists named by [`is_merging_primitive_list`] merge as ordered sets, and
/// every other list is replaced. The directives `$patch`, `$retainKeys`,
/// `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` are honoured and never
/// appear in the result. Kinds without entries in the table (for example custom resources)
/// get the generic behaviour, which is what a JSON merge patch would do apart from directives.
pub fn strategic_merge(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(original) = original else {
        return Err(PatchError::OriginalNotObject);
    };
    let Value::Object(patch) = patch else {
        return Err(PatchError::InvalidPatch(
            "a strategic merge patch must be a JSON object".to_owned(),
        ));
    };
    let mut merger = Merger {
        kind,
        path: Vec::new(),
    };
    let merged = merger.merge_object(Some(original.clone()), patch)?;
    // The original exists, so `merge_object` only yields `None` for a map that did not exist;
    // an empty object is the faithful answer should that ever change.
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// The merge key(s) of the list found at `path` in an object of `kind`, if that list is merged by key
/// (path = field names from the object root, list positions omitted, e.g. ["spec","template","spec","containers","ports"]).
/// Used by strategic merge patch (first key) and by server-side apply (all keys, as +listMapKeys).
pub fn list_map_keys(kind: &str, path: &[&str]) -> Option<&'static [&'static str]> {
    match list_strategy(kind, path) {
        ListStrategy::MergeByKey(keys) => Some(keys),
        ListStrategy::Replace | ListStrategy::MergePrimitive => None,
    }
}

/// Whether the primitive list at `path` uses strategic "merge" (set union) rather than replace (e.g. metadata.finalizers).
pub fn is_merging_primitive_list(kind: &str, path: &[&str]) -> bool {
    list_strategy(kind, path) == ListStrategy::MergePrimitive
}

/// How strategic merge patch treats one list field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListStrategy {
    /// The patch value replaces the list wholesale.
    Replace,
    /// The list is an ordered set of primitive values and patch values are added to it.
    MergePrimitive,
    /// Elements are objects identified by these keys; strategic merge patch uses the first.
    MergeByKey(&'static [&'static str]),
}

const NAME: &[&str] = &["name"];
const UID: &[&str] = &["uid"];
const TYPE: &[&str] = &["type"];
const IP: &[&str] = &["ip"];
const MOUNT_PATH: &[&str] = &["mountPath"];
const DEVICE_PATH: &[&str] = &["devicePath"];
const CONTAINER_PORT: &[&str] = &["containerPort", "protocol"];
const SERVICE_PORT: &[&str] = &["port", "protocol"];
const TOPOLOGY_SPREAD: &[&str] = &["topologyKey", "whenUnsatisfiable"];

/// Look up the strategy of the list at `path` in an object of `kind`.
fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::{MergeByKey, MergePrimitive, Replace};

    // ObjectMeta is embedded the same way at the root, in pod templates and in claim
    // templates, so its lists are recognised wherever a `metadata` field holds them.
    if let [.., "metadata", field] = path {
        match *field {
            "ownerReferences" => return MergeByKey(UID),
            "finalizers" => return MergePrimitive,
            _ => {}
        }
    }
    // Every built-in status with conditions merges them by type, so no per-kind list is needed.
    if path == ["status", "conditions"] {
        return MergeByKey(TYPE);
    }
    if let Some(rest) = pod_spec_prefix(kind).and_then(|prefix| path.strip_prefix(prefix))
        && let Some(strategy) = pod_spec_list(rest)
    {
        return strategy;
    }
    match (kind, path) {
        ("Service", ["spec", "ports"]) => MergeByKey(SERVICE_PORT),
        ("Node", ["status", "addresses"]) => MergeByKey(TYPE),
        ("Node", ["spec", "podCIDRs"]) => MergePrimitive,
        ("Pod", ["status", "podIPs" | "hostIPs"]) => MergeByKey(IP),
        ("ServiceAccount", ["secrets"]) => MergeByKey(NAME),
        _ => Replace,
    }
}

/// Where the PodSpec sits inside an object of `kind`, if it has one.
fn pod_spec_prefix(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "PodTemplate" => Some(&["template", "spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The strategy of a merged list at `rest`, a path relative to a PodSpec.
fn pod_spec_list(rest: &[&str]) -> Option<ListStrategy> {
    let keys = match rest {
        ["containers" | "initContainers" | "ephemeralContainers"] => NAME,
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "env" => NAME,
            "ports" => CONTAINER_PORT,
            "volumeMounts" => MOUNT_PATH,
            "volumeDevices" => DEVICE_PATH,
            _ => return None,
        },
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => NAME,
        ["hostAliases"] => IP,
        ["topologySpreadConstraints"] => TOPOLOGY_SPREAD,
        _ => return None,
    };
    Some(ListStrategy::MergeByKey(keys))
}

/// Compare two JSON values the way Go compares decoded JSON, where `80` and `80.0` are equal.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y)
        }
        _ => a == b,
    }
}

/// Whether `element` is an object whose `key` field equals `value`.
fn has_key_value(element: &Value, key: &str, value: &Value) -> bool {
    element.get(key).is_some_and(|own| json_eq(own, value))
}

/// Put merged list items in their final order, the way upstream does.
///
/// Items whose identity appears in `wanted` (the `$setElementOrder` list, or else the patch
/// list) are sorted by it; the remaining items keep their order from the original list. The
/// two runs are then interleaved: an unlisted item goes first only when both it and the next
/// listed item come from the original and it was earlier there. This is why an element new to
/// the list lands before the untouched original elements unless `$setElementOrder` says
/// otherwise, exactly as the API server behaves.
fn arrange(items: Vec<(Value, Option<usize>)>, wanted: &[&Value], key: Option<&str>) -> Vec<Value> {
    let rank = |item: &Value| {
        let identity = match key {
            Some(key) => item.get(key)?,
            None => item,
        };
        wanted.iter().position(|w| json_eq(w, identity))
    };
    let mut listed = Vec::new();
    let mut unlisted = Vec::new();
    for (item, position) in items {
        match rank(&item) {
            Some(rank) => listed.push((rank, item, position)),
            None => unlisted.push((item, position)),
        }
    }
    // Both sorts are stable, so ties keep the order in which the merge produced them.
    listed.sort_by_key(|(rank, _, _)| *rank);
    unlisted.sort_by_key(|(_, position)| position.unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(listed.len() + unlisted.len());
    let mut listed = listed.into_iter().peekable();
    let mut unlisted = unlisted.into_iter().peekable();
    loop {
        let take_unlisted = match (unlisted.peek(), listed.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((_, server)), Some((_, _, patched))) => {
                matches!((server, patched), (Some(s), Some(p)) if s < p)
            }
        };
        let next = if take_unlisted {
            unlisted.next().map(|(item, _)| item)
        } else {
            listed.next().map(|(_, item, _)| item)
        };
        out.extend(next);
    }
    out
}

/// Walks an original object and a strategic merge patch together, tracking the field path so
/// that list strategies can be looked up and errors can say where they happened.
struct Merger<'a> {
    kind: &'a str,
    path: Vec<String>,
}

impl Merger<'_> {
    /// The current field path, as the table and error messages expect it.
    fn location(&self) -> String {
        if self.path.is_empty() {
            "<root>".to_owned()
        } else {
            self.path.join(".")
        }
    }

    fn strategy(&self) -> ListStrategy {
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        list_strategy(self.kind, &path)
    }

    fn unknown_directive(&self, value: &Value) -> PatchError {
        PatchError::UnknownDirective {
            path: self.location(),
            value: value.to_string(),
        }
    }

    fn invalid_directive(&self, directive: &str, reason: impl Into<String>) -> PatchError {
        PatchError::InvalidDirective {
            path: self.location(),
            directive: directive.to_owned(),
            reason: reason.into(),
        }
    }

    /// The `$setElementOrder/<field>` key of the list being merged, for error messages.
    fn order_directive(&self) -> String {
        let field = self.path.last().map_or("", String::as_str);
        format!("{SET_ORDER}/{field}")
    }

    /// The merge key value of a list element, which every non-deleting element must carry.
    fn merge_key_of<'v>(
        &self,
        element: &'v Map<String, Value>,
        key: &'static str,
    ) -> Result<&'v Value, PatchError> {
        element.get(key).ok_or_else(|| PatchError::MissingMergeKey {
            path: self.location(),
            key,
            element: Value::Object(element.clone()).to_string(),
        })
    }

    /// Merge `patch` into `original` (absent when the field did not exist or was not a map).
    ///
    /// Returns `None` when the map must not exist afterwards, which only happens for a
    /// `$patch: delete` of a map that was not there.
    fn merge_object(
        &mut self,
        original: Option<Map<String, Value>>,
        patch: &Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    // The rest of the map becomes the new value; merging it into nothing
                    // strips nulls and nested directives the same way a new field would.
                    let mut rest = patch.clone();
                    rest.remove(DIRECTIVE);
                    self.merge_object(None, &rest)
                }
                // Upstream empties an existing map rather than removing the field.
                Some("delete") => Ok(original.map(|_| Map::new())),
                _ => Err(self.unknown_directive(directive)),
            };
        }

        let mut merged = original.unwrap_or_default();
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            self.apply_retain_keys(&mut merged, patch, retain)?;
        }

        // Parallel lists are gathered first because they modify how their sibling field is
        // merged, and the map gives no guarantee that they come before it.
        let mut orders: Vec<(&str, &[Value])> = Vec::new();
        let mut deletions: Vec<(&str, &[Value])> = Vec::new();
        for (key, value) in patch {
            let (target, field) = if let Some(rest) = key.strip_prefix(SET_ORDER) {
                (&mut orders, rest)
            } else if let Some(rest) = key.strip_prefix(DELETE_FROM_PRIMITIVE) {
                (&mut deletions, rest)
            } else {
                continue;
            };
            let Some(field) = field.strip_prefix('/').filter(|f| !f.is_empty()) else {
                return Err(self.invalid_directive(key, "expected '<directive>/<field>'"));
            };
            let Value::Array(list) = value else {
                return Err(self.invalid_directive(key, "the value must be a list"));
            };
            target.push((field, list.as_slice()));
        }

        for (key, value) in patch {
            if key == RETAIN_KEYS
                || key.starts_with(SET_ORDER)
                || key.starts_with(DELETE_FROM_PRIMITIVE)
            {
                continue;
            }
            let order = orders
                .iter()
                .find(|(field, _)| field == key)
                .map(|(_, order)| *order);
            self.path.push(key.clone());
            let result = self.merge_field(merged.remove(key), value, order);
            self.path.pop();
            if let Some(value) = result? {
                merged.insert(key.clone(), value);
            }
        }

        // An order directive may come without its list when only the order changed.
        for (field, order) in &orders {
            if patch.contains_key(*field) {
                continue;
            }
            self.path.push((*field).to_owned());
            let result = self.reorder_existing(&mut merged, field, order);
            self.path.pop();
            result?;
        }

        // Deletions run last so that they also win over values the same patch adds, which
        // matches upstream whenever the patch carries an order directive (as kubectl's do).
        for (field, values) in deletions {
            if let Some(Value::Array(list)) = merged.get_mut(field) {
                list.retain(|item| !values.iter().any(|value| json_eq(value, item)));
            }
        }
        Ok(Some(merged))
    }

    /// Clear the fields of `merged` that `$retainKeys` does not list, after checking that the
    /// patch itself only sets listed fields.
    fn apply_retain_keys(
        &self,
        merged: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        retain: &Value,
    ) -> Result<(), PatchError> {
        let names = retain
            .as_array()
            .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                self.invalid_directive(RETAIN_KEYS, "the value must be a list of field names")
            })?;
        for (key, value) in patch {
            let is_directive = key == RETAIN_KEYS
                || key.starts_with(SET_ORDER)
                || key.starts_with(DELETE_FROM_PRIMITIVE);
            if !value.is_null() && !is_directive && !names.contains(&key.as_str()) {
                return Err(self.invalid_directive(
                    RETAIN_KEYS,
                    format!("the patch sets field {key:?} which the list does not retain"),
                ));
            }
        }
        merged.retain(|key, _| names.contains(&key.as_str()));
        Ok(())
    }

    /// Merge one field; `None` means the field must be absent afterwards.
    fn merge_field(
        &mut self,
        original: Option<Value>,
        patch: &Value,
        order: Option<&[Value]>,
    ) -> Result<Option<Value>, PatchError> {
        match patch {
            Value::Null => Ok(None),
            Value::Object(patch) => {
                let original = match original {
                    Some(Value::Object(map)) => Some(map),
                    _ => None,
                };
                Ok(self.merge_object(original, patch)?.map(Value::Object))
            }
            Value::Array(patch) => {
                let original = match original {
                    Some(Value::Array(list)) => Some(list),
                    _ => None,
                };
                Ok(Some(Value::Array(self.merge_list(original, patch, order)?)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// Apply an order directive to a list the patch does not otherwise touch.
    fn reorder_existing(
        &mut self,
        merged: &mut Map<String, Value>,
        field: &str,
        order: &[Value],
    ) -> Result<(), PatchError> {
        // Replaced lists have no identity per element, so there is nothing to order by.
        if self.strategy() == ListStrategy::Replace {
            return Ok(());
        }
        if let Some(Value::Array(list)) = merged.get_mut(field) {
            let original = std::mem::take(list);
            *list = self.merge_list(Some(original), &[], Some(order))?;
        }
        Ok(())
    }

    /// Merge a list field according to its strategy.
    fn merge_list(
        &mut self,
        original: Option<Vec<Value>>,
        patch: &[Value],
        order: Option<&[Value]>,
    ) -> Result<Vec<Value>, PatchError> {
        match self.strategy() {
            ListStrategy::MergeByKey(&[key, ..]) => {
                self.merge_keyed_list(original.unwrap_or_default(), patch, key, order)
            }
            ListStrategy::MergePrimitive => {
                self.merge_primitive_list(original.unwrap_or_default(), patch, order)
            }
            ListStrategy::Replace | ListStrategy::MergeByKey(&[]) => self.replace_list(patch),
        }
    }

    /// The new value of a list that is replaced whole, cleaned of nulls and directives.
    fn replace_list(&mut self, patch: &[Value]) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::with_capacity(patch.len());
        for item in patch {
            match item {
                // A directive element means nothing in a list without a merge key (a
                // `replace` marker is redundant), so it is dropped as upstream drops
                // directive maps from copied values.
                Value::Object(map) if map.contains_key(DIRECTIVE) => {}
                Value::Object(map) => {
                    let cleaned = self.merge_object(None, map)?.unwrap_or_default();
                    out.push(Value::Object(cleaned));
                }
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    /// Set union of a primitive list and the patch values.
    fn merge_primitive_list(
        &mut self,
        original: Vec<Value>,
        patch: &[Value],
        order: Option<&[Value]>,
    ) -> Result<Vec<Value>, PatchError> {
        if let Some(bad) = original
            .iter()
            .chain(patch)
            .find(|item| item.is_object() || item.is_array())
        {
            return Err(PatchError::InvalidPatch(format!(
                "{}: list of primitive values contains {bad}",
                self.location()
            )));
        }
        let patch_keys: Vec<&Value> = patch.iter().collect();
        if let Some(order) = order {
            let order_keys: Vec<&Value> = order.iter().collect();
            self.check_order(&patch_keys, &order_keys)?;
        }

        let mut items: Vec<(Value, Option<usize>)> = Vec::new();
        for (position, item) in original.into_iter().enumerate() {
            if !items.iter().any(|(seen, _)| json_eq(seen, &item)) {
                items.push((item, Some(position)));
            }
        }
        for item in patch {
            if !items.iter().any(|(seen, _)| json_eq(seen, item)) {
                items.push((item.clone(), None));
            }
        }
        let wanted: Vec<&Value> = order.map_or(patch_keys, |order| order.iter().collect());
        Ok(arrange(items, &wanted, None))
    }

    /// Merge a list of objects element by element, identified by `key`.
    fn merge_keyed_list(
        &mut self,
        original: Vec<Value>,
        patch: &[Value],
        key: &'static str,
        order: Option<&[Value]>,
    ) -> Result<Vec<Value>, PatchError> {
        let mut base = original;
        let mut replace = false;
        let mut updates: Vec<(&Value, &Map<String, Value>)> = Vec::new();
        for item in patch {
            let Value::Object(element) = item else {
                return Err(PatchError::InvalidPatch(format!(
                    "{}: element {item} of a list merged by key {key} is not an object",
                    self.location()
                )));
            };
            let Some(directive) = element.get(DIRECTIVE) else {
                updates.push((self.merge_key_of(element, key)?, element));
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let value = self.merge_key_of(element, key)?;
                    base.retain(|existing| !has_key_value(existing, key, value));
                }
                Some("replace") => replace = true,
                _ => return Err(self.unknown_directive(directive)),
            }
        }

        let patch_keys: Vec<&Value> = updates.iter().map(|(value, _)| *value).collect();
        let order_keys = match order {
            Some(order) => {
                let keys = order
                    .iter()
                    .map(|entry| match entry {
                        Value::Object(entry) => self.merge_key_of(entry, key),
                        other => Err(self.invalid_directive(
                            &self.order_directive(),
                            format!("entry {other} is not an object"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_order(&patch_keys, &keys)?;
                Some(keys)
            }
            None => None,
        };

        // A replace marker discards the original, leaving only the patch's own elements.
        if replace {
            base.clear();
        }
        let mut items: Vec<(Value, Option<usize>)> = base
            .into_iter()
            .enumerate()
            .map(|(position, item)| (item, Some(position)))
            .collect();
        for (value, update) in updates {
            match items
                .iter_mut()
                .find(|(existing, _)| has_key_value(existing, key, value))
            {
                Some((existing, _)) => {
                    let previous = match std::mem::take(existing) {
                        Value::Object(map) => Some(map),
                        _ => None,
                    };
                    let merged = self.merge_object(previous, update)?.unwrap_or_default();
                    *existing = Value::Object(merged);
                }
                None => {
                    let fresh = self.merge_object(None, update)?.unwrap_or_default();
                    items.push((Value::Object(fresh), None));
                }
            }
        }
        let wanted = order_keys.unwrap_or(patch_keys);
        Ok(arrange(items, &wanted, Some(key)))
    }

    /// Check that the patch list names its elements in the order `$setElementOrder` gives,
    /// which upstream requires so that the two can never disagree.
    fn check_order(&self, patch_keys: &[&Value], order_keys: &[&Value]) -> Result<(), PatchError> {
        if patch_keys.is_empty() || order_keys.is_empty() {
            return Ok(());
        }
        let mut next = 0;
        for key in patch_keys {
            let found = order_keys
                .get(next..)
                .and_then(|rest| rest.iter().position(|candidate| json_eq(candidate, key)));
            match found {
                Some(offset) => next += offset + 1,
                None => {
                    return Err(self.invalid_directive(
                        &self.order_directive(),
                        format!(
                            "element {key} of the patch list is missing from the order or out of order"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
