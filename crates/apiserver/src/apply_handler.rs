//! The server-side apply endpoint (`PATCH` with `application/apply-patch+yaml`): creates or
//! updates through [`crate::apply`], and turns field-manager conflicts into kube's 409.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::admission::Reserved;
use crate::apply::{self, ApplyError};
use crate::convert;
use crate::error::ApiError;
use crate::object;
use crate::rest::{self, Part, Query, Reply, Target};
use crate::server::State;

fn conflict_error(t: &Target, name: &str, err: ApplyError) -> ApiError {
    match &err {
        ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| {
                    let who = if c.operation == "Apply" {
                        format!("conflict with \"{}\"", c.manager)
                    } else {
                        format!("conflict with \"{}\" using {}", c.manager, c.api_version)
                    };
                    json!({"reason": "FieldManagerConflict", "message": who, "field": c.field})
                })
                .collect();
            let mut details = json!({"name": name, "kind": t.res.plural, "causes": causes});
            if !t.res.group.is_empty() {
                details["group"] = json!(t.res.group);
            }
            ApiError {
                code: 409,
                reason: "Conflict",
                message: err.message(),
                details: Some(details),
            }
        }
        _ => ApiError::bad_request(err.message()),
    }
}

/// Server-side apply of `body` by the `fieldManager` in `query`.
pub async fn apply(
    state: &Arc<State>,
    t: &Target,
    part: Part,
    mut body: Value,
    query: &Query,
) -> Result<Reply, ApiError> {
    let name = t.name.clone().ok_or_else(ApiError::no_route)?;
    let manager = query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set",
            )
        })?
        .to_owned();
    let force = query.flag("force");
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    if object::name(&body) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&body)
        )));
    }
    convert::to_storage(t.res, &mut body);
    let res = crate::resource::storage(t.res.storage_group, t.res.plural).unwrap_or(t.res);
    let served = t.res;
    let target = Target {
        res: t.res,
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        sub: t.sub.clone(),
    };
    let q = query.clone();
    let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let w2 = warnings.clone();
    let dry = query.dry_run();
    let key = t.res.key(t.namespace.as_deref(), &name);
    let committed = rest::commit(state, key, move |st, cur| {
        let now = object::now();
        let av = res.storage_api_version();
        let mut w = w2.lock().unwrap_or_else(|p| p.into_inner());
        let (write, reserved) = match cur {
            None => {
                let merged = apply::apply(res.kind, &av, None, &body, &manager, force, &now)
                    .map_err(|e| conflict_error(&target, &name, e))?;
                // The create path works on the served version.
                let served_obj = convert::from_storage(served, &merged);
                let (obj, reserved) =
                    rest::prepare_create(st, &target, served_obj, &q, &mut w, false)?;
                (store::Write::Put(obj), reserved)
            }
            Some(cur) => {
                let mut merged =
                    apply::apply(res.kind, &av, Some(cur), &body, &manager, force, &now)
                        .map_err(|e| conflict_error(&target, &name, e))?;
                object::meta_mut(&mut merged).insert(
                    "resourceVersion".into(),
                    json!(object::resource_version(cur)),
                );
                {
                    let ctx = rest::UpdateCtx {
                        query: Some(&q),
                        manager: None,
                        warnings: &mut w,
                    };
                    rest::prepare_update(st, res, part, cur, merged, ctx)?
                }
            }
        };
        if dry {
            reserved.release(st);
            return Ok((store::Write::Keep, Reserved::default()));
        }
        Ok((write, reserved))
    })
    .await?;
    let created = committed.current.is_none();
    let obj = committed
        .object()
        .ok_or_else(|| ApiError::internal("apply lost the object"))?;
    let warnings = std::mem::take(&mut *warnings.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Reply {
        code: if created { 201 } else { 200 },
        body: convert::from_storage(t.res, &obj),
        warnings,
    })
}
