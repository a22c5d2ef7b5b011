//! The REST verbs over stored resources: get, list, create, update, patch, delete and
//! deletecollection, plus the `status` and `scale` subresources. Every write goes through
//! [`commit`], which runs the store's serialised read-modify-write on a blocking thread and
//! then settles allocations.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::admission::{self, Reserved};
use crate::convert;
use crate::error::ApiError;
use crate::object::{self, meta_mut};
use crate::patch;
use crate::resource::Resource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::server::State;
use crate::table::{self, IncludeObject, TableOptions};
use crate::validation;

/// Decoded query parameters.
#[derive(Debug, Default, Clone)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether a boolean parameter is true.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }

    /// Whether `dryRun=All` was asked for.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun").is_some_and(|v| v == "All")
    }
}

/// What the client asked for, resolved against the registry.
#[derive(Debug)]
pub struct Target {
    /// The served resource.
    pub res: &'static Resource,
    /// The namespace in the URL, if any.
    pub namespace: Option<String>,
    /// The object name in the URL, if any.
    pub name: Option<String>,
    /// The subresource, if any.
    pub sub: Option<String>,
}

/// A JSON answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub code: u16,
    /// The body.
    pub body: Value,
    /// `Warning` headers to send.
    pub warnings: Vec<String>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            code: 200,
            body,
            warnings: Vec::new(),
        }
    }
}

/// How the client wants objects rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// Plain JSON objects and lists.
    Json,
    /// `meta.k8s.io/v1` Tables.
    Table(IncludeObject),
}

impl Rendering {
    /// Reads the `Accept` header and `includeObject` parameter.
    pub fn from_request(accept: &str, query: &Query) -> Self {
        let wants_table = accept.split(',').any(|part| {
            let part = part.trim();
            part.starts_with("application/json") && part.contains("as=Table")
        });
        if !wants_table {
            return Rendering::Json;
        }
        Rendering::Table(match query.get("includeObject") {
            Some("Object") => IncludeObject::Object,
            Some("None") => IncludeObject::None,
            _ => IncludeObject::Metadata,
        })
    }
}

fn table_of(res: &Resource, objects: &[&Value], include: IncludeObject, rv: String) -> Value {
    table::table(
        res.kind,
        objects,
        &TableOptions {
            now: jiff::Timestamp::now(),
            include_object: include,
            no_headers: false,
            resource_version: rv,
        },
    )
}

fn key_of(t: &Target, name: &str) -> String {
    t.res.key(t.namespace.as_deref(), name)
}

fn require_name(t: &Target) -> Result<&str, ApiError> {
    t.name.as_deref().ok_or_else(ApiError::no_route)
}

/// GET of one object (also of its `status` subresource).
pub fn get(state: &State, t: &Target, rendering: Rendering) -> Result<Reply, ApiError> {
    let name = require_name(t)?;
    let stored = state
        .store
        .get(&key_of(t, name))
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    if t.sub.as_deref() == Some("scale") {
        return Ok(Reply::ok(scale_of(t.res, &stored)));
    }
    let served = convert::from_storage(t.res, &stored);
    Ok(Reply::ok(match rendering {
        Rendering::Json => served,
        Rendering::Table(include) => {
            let rv = object::resource_version(&served).to_owned();
            table_of(t.res, &[&served], include, rv)
        }
    }))
}

/// Parsed list filters.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
    kind: &'static str,
}

impl Filter {
    /// Reads `labelSelector` and `fieldSelector`.
    pub fn from_query(res: &Resource, query: &Query) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
        fields
            .check(res.kind)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Filter {
            labels,
            fields,
            kind: res.kind,
        })
    }

    /// Whether a stored object passes.
    pub fn matches(&self, obj: &Value) -> bool {
        (self.labels.is_empty()
            || self
                .labels
                .matches(obj.pointer("/metadata/labels").and_then(Value::as_object)))
            && (self.fields.is_empty() || self.fields.matches(self.kind, obj))
    }

    /// The one name the field selector pins, if any: such a list reads one key.
    pub fn single_name(&self) -> Option<&str> {
        self.fields.name()
    }
}

/// LIST, with selectors and `limit`/`continue` paging.
pub fn list(
    state: &State,
    t: &Target,
    query: &Query,
    rendering: Rendering,
) -> Result<Reply, ApiError> {
    let filter = Filter::from_query(t.res, query)?;
    let snapshot = match (
        filter.single_name(),
        t.namespace.as_deref(),
        t.res.namespaced,
    ) {
        // `fieldSelector=metadata.name=x` (rollout status, delete --wait) reads one key.
        (Some(name), ns, namespaced) if ns.is_some() || !namespaced => {
            let key = t.res.key(t.namespace.as_deref(), name);
            let rev = state.store.revision();
            let items = state
                .store
                .get(&key)
                .map(|v| vec![(std::sync::Arc::<str>::from(key), v)])
                .unwrap_or_default();
            store::Snapshot { rev, items }
        }
        _ => state.store.list(&t.res.prefix(t.namespace.as_deref())),
    };
    let start_after = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token)?),
        None => None,
    };
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0usize;
    for (key, obj) in &snapshot.items {
        if start_after.as_deref().is_some_and(|s| &**key <= s) {
            continue;
        }
        if !filter.matches(obj) {
            continue;
        }
        if items.len() >= limit {
            remaining += 1;
            continue;
        }
        items.push(convert::from_storage(t.res, obj));
        last_key = Some(key.clone());
    }
    let rv = snapshot.rev.to_string();
    let mut metadata = json!({ "resourceVersion": rv });
    if remaining > 0
        && let Some(k) = last_key
    {
        metadata["continue"] = json!(encode_continue(&k));
        metadata["remainingItemCount"] = json!(remaining);
    }
    let body = match rendering {
        Rendering::Json => json!({
            "kind": t.res.list_kind(),
            "apiVersion": t.res.api_version(),
            "metadata": metadata,
            "items": items,
        }),
        Rendering::Table(include) => {
            let refs: Vec<&Value> = items.iter().collect();
            let mut table = table_of(t.res, &refs, include, rv);
            if let Some(c) = metadata.get("continue") {
                table["metadata"]["continue"] = c.clone();
            }
            table
        }
    };
    Ok(Reply::ok(body))
}

fn encode_continue(key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_continue(token: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_request("continue key is not valid"))
}

/// Field validation mode (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    fn from_query(query: &Query) -> Self {
        match query.get("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

/// Paths present (and not null) in `input` but absent from `typed`: fields the type does not
/// know.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, tv)) in a.iter().zip(b).enumerate() {
                unknown_fields(v, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Decodes `obj` into the storage type and back. Unknown fields are refused, warned about or
/// dropped according to `fieldValidation`.
fn normalize(
    res: &Resource,
    obj: &Value,
    mode: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let mut typed = (res.normalize)(obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
            kind = res.kind,
            v = res.version
        ))
    })?;
    // ObjectMeta's lists and maps are `omitempty`: an empty one is not stored.
    if let Some(meta) = typed.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        });
    }
    if mode != FieldValidation::Ignore {
        let mut unknown = Vec::new();
        unknown_fields(obj, &typed, "", &mut unknown);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            if mode == FieldValidation::Strict {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = res.kind,
                    v = res.version
                )));
            }
            warnings.extend(list);
        }
    }
    Ok(typed)
}

fn check_type(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    let Some(o) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let want = res.api_version();
    match o.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != want => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )));
        }
        _ => {}
    }
    match o.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != res.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
        _ => {}
    }
    o.insert("apiVersion".into(), json!(want));
    o.insert("kind".into(), json!(res.kind));
    Ok(())
}

fn check_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let body_ns = object::namespace(obj).to_owned();
    match (t.res.namespaced, t.namespace.as_deref()) {
        (true, Some(url_ns)) => {
            if body_ns.is_empty() {
                meta_mut(obj).insert("namespace".into(), json!(url_ns));
            } else if body_ns != url_ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        (true, None) => return Err(ApiError::no_route()),
        (false, _) => {
            meta_mut(obj).remove("namespace");
        }
    }
    Ok(())
}

/// Status a new object starts with, as each kind's registry strategy resets it.
fn initial_status(kind: &str, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    match kind {
        "Pod" => {
            o.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        "Service" | "Ingress" => {
            o.insert("status".into(), json!({"loadBalancer": {}}));
        }
        "Namespace" => {
            o.insert("status".into(), json!({"phase": "Active"}));
        }
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "CronJob"
        | "ReplicationController"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => {
            o.remove("status");
        }
        _ => {}
    }
}

fn has_generation(obj: &Value) -> bool {
    obj.get("spec").is_some()
}

/// Runs kind-specific admission, returning what it reserved.
fn admit(
    state: &State,
    kind: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Reserved, ApiError> {
    match kind {
        "Service" => admission::service(state, obj, old),
        "Secret" => {
            admission::secret_string_data(obj);
            Ok(Reserved::default())
        }
        "Ingress" if old.is_none() => {
            admission::ingress_class(state, obj)?;
            Ok(Reserved::default())
        }
        _ => Ok(Reserved::default()),
    }
}

fn validate(res: &Resource, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let errors = validation::validate(res.kind, obj, old);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            res.kind,
            res.group,
            object::name(obj),
            &errors,
        ))
    }
}

/// Everything a create does before the store: returns the object to store and reservations.
pub fn prepare_create(
    state: &State,
    t: &Target,
    mut obj: Value,
    query: &Query,
    warnings: &mut Vec<String>,
    record: bool,
) -> Result<(Value, Reserved), ApiError> {
    check_type(t.res, &mut obj)?;
    check_namespace(t, &mut obj)?;
    if !object::resource_version(&obj).is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if object::name(&obj).is_empty() {
        let generate = object::meta_str(&obj, "generateName").to_owned();
        if generate.is_empty() {
            return Err(ApiError::invalid(
                t.res.kind,
                t.res.group,
                "",
                &[validation::FieldError::required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        let name = format!("{generate}{}", object::name_suffix());
        meta_mut(&mut obj).insert("name".into(), json!(name));
    }
    if t.res.namespaced {
        let ns = object::namespace(&obj).to_owned();
        admission::namespace_open(state, &ns)?;
    }
    convert::to_storage(t.res, &mut obj);
    let kind = t.res.kind;
    {
        let meta = meta_mut(&mut obj);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            meta.remove(f);
        }
        meta.insert("uid".into(), json!(object::uid()));
        meta.insert("creationTimestamp".into(), json!(object::now()));
    }
    if has_generation(&obj) {
        meta_mut(&mut obj).insert("generation".into(), json!(1));
    }
    initial_status(kind, &mut obj);
    validation::default(kind, &mut obj);
    let storage = crate::resource::storage(t.res.storage_group, t.res.plural).unwrap_or(t.res);
    let mut obj = normalize(storage, &obj, FieldValidation::from_query(query), warnings)?;
    // As in kube-apiserver, allocation comes before validation, so allocator errors win and
    // validation sees the allocated fields.
    let reserved = admit(state, kind, &mut obj, None)?;
    if let Err(err) = validate(t.res, &obj, None) {
        reserved.release(state);
        return Err(err);
    }
    if record {
        obj = crate::apply::record_update(
            kind,
            &storage.storage_api_version(),
            None,
            obj,
            field_manager(query),
            &object::now(),
        );
    }
    Ok((obj, reserved))
}

/// The `fieldManager` of a write, as recorded in managedFields.
pub fn field_manager(query: &Query) -> &str {
    query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
}

/// Runs a store write on a blocking thread, settles allocations afterwards, and returns the
/// stored result (or the current value when nothing changed).
pub async fn commit<F>(state: &Arc<State>, key: String, decide: F) -> Result<Committed, ApiError>
where
    F: FnOnce(&State, Option<&Arc<Value>>) -> Result<(store::Write, Reserved), ApiError>
        + Send
        + 'static,
{
    let st = state.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut reserved = None;
        let mut current = None;
        let result = st.store.write::<ApiError, _>(&key, |cur| {
            current = cur.cloned();
            let (write, res) = decide(&st, cur)?;
            reserved = Some(res);
            Ok(write)
        });
        match result {
            Ok(event) => {
                if let Some(event) = &event {
                    st.after_commit(event);
                }
                Ok(Committed { event, current })
            }
            Err(err) => {
                if let Some(res) = reserved {
                    res.release(&st);
                }
                Err(err)
            }
        }
    })
    .await;
    joined.map_err(ApiError::internal)?
}

/// The result of [`commit`].
#[derive(Debug)]
pub struct Committed {
    /// The committed change, or `None` when the write decided to keep the object.
    pub event: Option<Arc<store::Event>>,
    /// The value before the write.
    pub current: Option<Arc<Value>>,
}

impl Committed {
    /// The object as it is now (the new value, or the unchanged one).
    pub fn object(&self) -> Option<Value> {
        match &self.event {
            Some(e) => Some(Value::clone(&e.value)),
            None => self.current.as_deref().cloned(),
        }
    }
}

/// POST: create.
pub async fn create(
    state: &Arc<State>,
    t: &Target,
    body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    let mut warnings = Vec::new();
    let (obj, reserved) = prepare_create(state, t, body, query, &mut warnings, true)?;
    let name = object::name(&obj).to_owned();
    if query.dry_run() {
        reserved.release(state);
        return Ok(Reply {
            code: 201,
            body: convert::from_storage(t.res, &obj),
            warnings,
        });
    }
    let res = t.res;
    let mut reserved = Some(reserved);
    let committed = commit(state, key_of(t, &name), move |st, cur| {
        if cur.is_some() {
            if let Some(r) = reserved.take() {
                r.release(st);
            }
            return Err(ApiError::already_exists(res, &name));
        }
        Ok((store::Write::Put(obj), reserved.take().unwrap_or_default()))
    })
    .await?;
    let stored = committed
        .object()
        .ok_or_else(|| ApiError::internal("create stored nothing"))?;
    Ok(Reply {
        code: 201,
        body: convert::from_storage(t.res, &stored),
        warnings,
    })
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but status (when a status subresource exists).
    Main,
    /// The status subresource: only status.
    Status,
    /// A Namespace's `finalize` subresource: only `spec.finalizers`.
    Finalize,
}

/// The request-level inputs of [`prepare_update`].
pub struct UpdateCtx<'a> {
    /// The request's parameters, for `fieldValidation` (`None`: internal write, no checks).
    pub query: Option<&'a Query>,
    /// The field manager to record the write for (`None`: not recorded, as for apply).
    pub manager: Option<&'a str>,
    /// Where warnings for the client go.
    pub warnings: &'a mut Vec<String>,
}

/// Turns a client's full new object into what gets stored on update: server-owned metadata
/// kept, status or spec protected, generation bumped, defaults, validation and admission.
pub fn prepare_update(
    state: &State,
    res: &Resource,
    part: Part,
    cur: &Value,
    mut new: Value,
    ctx: UpdateCtx<'_>,
) -> Result<(store::Write, Reserved), ApiError> {
    let UpdateCtx {
        query: mode_strict,
        manager: record,
        warnings,
    } = ctx;
    let name = object::name(cur).to_owned();
    if object::name(&new) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&new)
        )));
    }
    let want_rv = object::resource_version(&new);
    if !want_rv.is_empty() && want_rv != object::resource_version(cur) {
        return Err(ApiError::stale(res, &name));
    }
    if let Some(o) = new.as_object_mut() {
        o.insert("apiVersion".into(), json!(res.storage_api_version()));
        o.insert("kind".into(), json!(res.kind));
    }
    match part {
        Part::Main if res.status => match cur.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        },
        Part::Main => {}
        Part::Finalize => {
            let finalizers = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            new = cur.clone();
            new["spec"]["finalizers"] = finalizers;
        }
        Part::Status => {
            let status = new.get("status").cloned();
            new = cur.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
    }
    {
        let cur_meta = cur.get("metadata").cloned().unwrap_or_default();
        let meta = meta_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
        ] {
            match cur_meta.get(f) {
                Some(v) => meta.insert(f.into(), v.clone()),
                None => meta.remove(f),
            };
        }
        meta.remove("selfLink");
    }
    if object::is_terminating(cur) {
        // Once deletion started, finalizers may only be removed, never added.
        let before = object::finalizers(cur);
        if object::finalizers(&new).iter().any(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                res.kind,
                res.group,
                &name,
                &[validation::FieldError::forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted",
                )],
            ));
        }
    }
    // A Namespace's finalizers are defaulted on create only; defaulting them again would undo
    // the namespace controller's `finalize`.
    if res.kind != "Namespace" {
        validation::default(res.kind, &mut new);
    }
    let mode = match mode_strict {
        Some(q) => FieldValidation::from_query(q),
        None => FieldValidation::Ignore,
    };
    let mut new = normalize(res, &new, mode, warnings)?;
    if object::spec_part(&new) != object::spec_part(cur) {
        let generation = cur
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if has_generation(&new) {
            meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
    }
    let reserved = admit(state, res.kind, &mut new, Some(cur))?;
    if let Err(err) = validate(res, &new, Some(cur)) {
        reserved.release(state);
        return Err(err);
    }
    if let (Some(manager), Part::Main) = (record, part) {
        new = crate::apply::record_update(
            res.kind,
            &res.storage_api_version(),
            Some(cur),
            new,
            manager,
            &object::now(),
        );
    }
    if object::is_terminating(&new)
        && object::finalizers(&new).is_empty()
        && !is_graceful_pending(&new)
        && !has_spec_finalizers(&new)
    {
        return Ok((store::Write::Delete, reserved));
    }
    if object::same_content(&new, cur) {
        reserved.release(state);
        return Ok((store::Write::Keep, Reserved::default()));
    }
    Ok((store::Write::Put(new), reserved))
}

/// A Namespace whose content is still being removed (`spec.finalizers` not empty).
fn has_spec_finalizers(obj: &Value) -> bool {
    obj["kind"] == "Namespace"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// A pod whose graceful deletion is still counting down: the node agent deletes it.
fn is_graceful_pending(obj: &Value) -> bool {
    obj["kind"] == "Pod"
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|g| g > 0)
}

fn part_of(t: &Target) -> Result<Part, ApiError> {
    match t.sub.as_deref() {
        None => Ok(Part::Main),
        Some("status") if t.res.status => Ok(Part::Status),
        Some("finalize") if t.res.kind == "Namespace" => Ok(Part::Finalize),
        _ => Err(ApiError::no_route()),
    }
}

fn storage_res(t: &Target) -> &'static Resource {
    crate::resource::storage(t.res.storage_group, t.res.plural).unwrap_or(t.res)
}

/// PUT: update (also of `status` and `scale`).
pub async fn update(
    state: &Arc<State>,
    t: &Target,
    mut body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    require_name(t)?;
    if t.sub.as_deref() == Some("scale") {
        return scale(state, t, &body).await;
    }
    let part = part_of(t)?;
    check_type(t.res, &mut body)?;
    check_namespace(t, &mut body)?;
    convert::to_storage(t.res, &mut body);
    rewrite(state, t, part, query, move |_cur| Ok(body)).await
}

/// The shared tail of PUT and PATCH: reads the current object under the store's write
/// serialisation, lets `build` produce the new one, and runs it through [`prepare_update`].
async fn rewrite<F>(
    state: &Arc<State>,
    t: &Target,
    part: Part,
    query: &Query,
    build: F,
) -> Result<Reply, ApiError>
where
    F: FnOnce(&Value) -> Result<Value, ApiError> + Send + 'static,
{
    let name = require_name(t)?.to_owned();
    let res = storage_res(t);
    let served = t.res;
    let query = query.clone();
    let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let w2 = warnings.clone();
    let committed = commit(state, key_of(t, &name), move |st, cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(served, &name));
        };
        let new = build(cur)?;
        let mut w = w2.lock().unwrap_or_else(|p| p.into_inner());
        let ctx = UpdateCtx {
            query: Some(&query),
            manager: Some(field_manager(&query)),
            warnings: &mut w,
        };
        let (write, reserved) = prepare_update(st, res, part, cur, new, ctx)?;
        if query.dry_run() {
            reserved.release(st);
            return Ok((store::Write::Keep, Reserved::default()));
        }
        Ok((write, reserved))
    })
    .await?;
    finish_write(t, committed, warnings)
}

fn finish_write(
    t: &Target,
    committed: Committed,
    warnings: Arc<std::sync::Mutex<Vec<String>>>,
) -> Result<Reply, ApiError> {
    let obj = committed
        .object()
        .ok_or_else(|| ApiError::internal("write lost the object"))?;
    let warnings = std::mem::take(&mut *warnings.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Reply {
        code: 200,
        body: convert::from_storage(t.res, &obj),
        warnings,
    })
}

/// The patch formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// From the request's Content-Type.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// PATCH, in any of the four formats, on the main resource or a subresource.
pub async fn patch(
    state: &Arc<State>,
    t: &Target,
    kind: PatchType,
    body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    let name = require_name(t)?.to_owned();
    if t.sub.as_deref() == Some("scale") {
        let cur = state
            .store
            .get(&key_of(t, &name))
            .ok_or_else(|| ApiError::not_found(t.res, &name))?;
        let view = scale_of(t.res, &cur);
        let mut patched = apply_patch(t.res.kind, kind, &view, &body)?;
        // As for other patches: without a resourceVersion in the patch, it applies to whatever
        // is current when it commits (a status write in between is no conflict).
        if body.pointer("/metadata/resourceVersion").is_none() {
            patched["metadata"]["resourceVersion"] = json!("");
        }
        return scale(state, t, &patched).await;
    }
    let part = part_of(t)?;
    if kind == PatchType::Apply {
        return crate::apply_handler::apply(state, t, part, body, query).await;
    }
    let kind_name = storage_res(t).kind;
    let served_res = t.res;
    rewrite(state, t, part, query, move |cur| {
        let served = convert::from_storage(served_res, cur);
        let mut patched = apply_patch(kind_name, kind, &served, &body)?;
        convert::to_storage(served_res, &mut patched);
        // A patch that does not name a resourceVersion applies to whatever is current.
        if body.pointer("/metadata/resourceVersion").is_none() {
            meta_mut(&mut patched).insert(
                "resourceVersion".into(),
                json!(object::resource_version(cur)),
            );
        }
        Ok(patched)
    })
    .await
}

fn apply_patch(
    kind: &str,
    ty: PatchType,
    original: &Value,
    body: &Value,
) -> Result<Value, ApiError> {
    let result = match ty {
        PatchType::Json => patch::json_patch(original, body),
        PatchType::Merge => Ok(patch::merge_patch(original, body)),
        PatchType::Strategic => patch::strategic_merge(kind, original, body),
        PatchType::Apply => Ok(patch::merge_patch(original, body)),
    };
    result.map_err(|e| match ty {
        PatchType::Json => ApiError::invalid_patch(e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    })
}

/// The `autoscaling/v1` Scale view of a scalable object.
fn scale_of(_res: &Resource, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| table::label_selector(Some(s)))
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// Writes the replicas of a `Scale` object (as PUT, or as the result of a PATCH) through to
/// the scaled object, honouring its resourceVersion precondition.
async fn scale(state: &Arc<State>, t: &Target, scale: &Value) -> Result<Reply, ApiError> {
    let name = require_name(t)?.to_owned();
    let res = storage_res(t);
    let served = t.res;
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let rv = object::resource_version(scale).to_owned();
    let committed = commit(state, key_of(t, &name), move |st, cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(served, &name));
        };
        if !rv.is_empty() && rv != object::resource_version(cur) {
            return Err(ApiError::stale(served, &name));
        }
        if replicas < 0 {
            return Err(ApiError::invalid(
                "Scale",
                "autoscaling",
                &name,
                &[validation::FieldError::invalid(
                    "spec.replicas",
                    json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut new = Value::clone(cur);
        new["spec"]["replicas"] = json!(replicas);
        let mut w = Vec::new();
        let ctx = UpdateCtx {
            query: None,
            manager: None,
            warnings: &mut w,
        };
        prepare_update(st, res, Part::Main, cur, new, ctx)
    })
    .await?;
    let obj = committed
        .object()
        .ok_or_else(|| ApiError::internal("scale lost the object"))?;
    Ok(Reply::ok(scale_of(t.res, &obj)))
}

/// Reads DeleteOptions from the body or the query.
fn delete_options(
    body: &Value,
    query: &Query,
) -> (Option<i64>, String, Option<String>, Option<String>) {
    let grace = body
        .get("gracePeriodSeconds")
        .and_then(Value::as_i64)
        .or_else(|| query.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let propagation = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or(query.get("propagationPolicy"))
        .unwrap_or("Background")
        .to_owned();
    let uid = body
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let rv = body
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (grace, propagation, uid, rv)
}

/// Decides what a delete does to `cur`: remove it now, or mark it terminating (finalizers,
/// graceful pod deletion).
pub fn decide_delete(
    res: &Resource,
    cur: &Value,
    body: &Value,
    query: &Query,
) -> Result<store::Write, ApiError> {
    let name = object::name(cur);
    let (grace, propagation, uid, rv) = delete_options(body, query);
    if uid
        .as_deref()
        .is_some_and(|u| u != object::meta_str(cur, "uid"))
    {
        return Err(ApiError::conflict(
            res,
            name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                uid.unwrap_or_default(),
                object::meta_str(cur, "uid")
            ),
        ));
    }
    if rv
        .as_deref()
        .is_some_and(|r| r != object::resource_version(cur))
    {
        return Err(ApiError::stale(res, name));
    }
    let mut finalizers = object::finalizers(cur);
    match propagation.as_str() {
        "Foreground" if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
            finalizers.push("foregroundDeletion".into())
        }
        "Orphan" if !finalizers.iter().any(|f| f == "orphan") => finalizers.push("orphan".into()),
        "Background" | "Foreground" | "Orphan" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\""
            )));
        }
    }
    // A pod on a node is deleted gracefully: the node agent stops it and then removes it.
    let pod_grace = if res.kind == "Pod"
        && cur
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    {
        let g = grace.unwrap_or_else(|| {
            cur.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        (g > 0).then_some(g)
    } else {
        None
    };
    if object::is_terminating(cur) {
        // Deleting again may shorten a pod's grace period, nothing else.
        if let (Some(g), Some(old)) = (
            pod_grace,
            cur.pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64),
        ) && g < old
        {
            let mut new = cur.clone();
            meta_mut(&mut new).insert("deletionGracePeriodSeconds".into(), json!(g));
            return Ok(store::Write::Put(new));
        }
        if grace == Some(0) && res.kind == "Pod" && finalizers.is_empty() {
            return Ok(store::Write::Delete);
        }
        return Ok(store::Write::Keep);
    }
    if finalizers.is_empty() && pod_grace.is_none() && !has_spec_finalizers(cur) {
        return Ok(store::Write::Delete);
    }
    let mut new = cur.clone();
    let meta = meta_mut(&mut new);
    let deadline = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(pod_grace.unwrap_or(0));
    meta.insert(
        "deletionTimestamp".into(),
        json!(object::timestamp(deadline)),
    );
    meta.insert(
        "deletionGracePeriodSeconds".into(),
        json!(pod_grace.unwrap_or(0)),
    );
    meta.insert("finalizers".into(), json!(finalizers));
    if meta
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        meta.remove("finalizers");
    }
    if res.kind == "Namespace" {
        new["status"]["phase"] = json!("Terminating");
    }
    Ok(store::Write::Put(new))
}

/// DELETE of one object.
pub async fn delete(
    state: &Arc<State>,
    t: &Target,
    body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    let name = require_name(t)?.to_owned();
    if t.sub.is_some() {
        return Err(ApiError::method_not_allowed("delete", t.res));
    }
    let res = storage_res(t);
    let served = t.res;
    let q = query.clone();
    let dry = query.dry_run();
    let committed = commit(state, key_of(t, &name), move |_st, cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(served, &name));
        };
        let write = decide_delete(res, cur, &body, &q)?;
        Ok((
            if dry { store::Write::Keep } else { write },
            Reserved::default(),
        ))
    })
    .await?;
    let obj = committed
        .object()
        .ok_or_else(|| ApiError::internal("delete lost the object"))?;
    Ok(Reply::ok(convert::from_storage(t.res, &obj)))
}

/// DELETE of a collection.
pub async fn delete_collection(
    state: &Arc<State>,
    t: &Target,
    body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    let filter = Filter::from_query(t.res, query)?;
    let snapshot = state.store.list(&t.res.prefix(t.namespace.as_deref()));
    let mut items = Vec::new();
    for (key, obj) in snapshot.items {
        if !filter.matches(&obj) {
            continue;
        }
        let res = storage_res(t);
        let body = body.clone();
        let q = query.clone();
        let committed = commit(state, key.to_string(), move |_st, cur| {
            let Some(cur) = cur else {
                return Ok((store::Write::Keep, Reserved::default()));
            };
            Ok((decide_delete(res, cur, &body, &q)?, Reserved::default()))
        })
        .await?;
        if let Some(obj) = committed.object() {
            items.push(convert::from_storage(t.res, &obj));
        }
    }
    Ok(Reply::ok(json!({
        "kind": t.res.list_kind(), "apiVersion": t.res.api_version(),
        "metadata": {"resourceVersion": state.store.revision().to_string()}, "items": items,
    })))
}

/// POST `pods/{name}/binding`: assigns a pending pod to a node, once, as the scheduler does.
pub async fn bind(state: &Arc<State>, t: &Target, body: Value) -> Result<Reply, ApiError> {
    let name = require_name(t)?.to_owned();
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("a Binding needs target.name"))?
        .to_owned();
    let res = t.res;
    commit(state, key_of(t, &name), move |_st, cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(res, &name));
        };
        match cur.pointer("/spec/nodeName").and_then(Value::as_str) {
            Some(bound) if !bound.is_empty() => {
                return Err(ApiError::conflict(
                    res,
                    &name,
                    &format!("pod {name} is already assigned to node \"{bound}\""),
                ));
            }
            _ => {}
        }
        if object::is_terminating(cur) {
            return Err(ApiError::conflict(
                res,
                &name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        let mut new = Value::clone(cur);
        new["spec"]["nodeName"] = json!(node);
        let conditions = new["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conditions: Vec<Value> = conditions
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(json!({"type": "PodScheduled", "status": "True",
                               "lastTransitionTime": object::now()}));
        new["status"]["conditions"] = json!(conditions);
        Ok((store::Write::Put(new), Reserved::default()))
    })
    .await?;
    Ok(Reply {
        code: 201,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        warnings: Vec::new(),
    })
}
