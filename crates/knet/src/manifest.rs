//! Applying manifest files (`knet up -f`) through the API with server-side apply, exactly as
//! `kubectl apply --server-side` would: every document is resolved through discovery and sent
//! as an apply patch owned by the field manager `knet`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};

/// Every manifest file under `path` (a file, or a directory searched one level deep), sorted.
pub fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let p = entry?.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if p.is_file() && matches!(ext, "yaml" | "yml" | "json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Splits a file into its documents, as JSON values; empty documents are skipped.
pub fn documents(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok(vec![v]);
    }
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Applies every document under each path; returns one `kind/name result` line per object.
pub async fn apply_all(client: kube::Client, paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .context("API discovery")?;
    let mut lines = Vec::new();
    for path in paths {
        for file in files(path)? {
            for doc in documents(&file)? {
                let line = apply_one(&client, &discovery, doc)
                    .await
                    .with_context(|| format!("applying {}", file.display()))?;
                lines.push(line);
            }
        }
    }
    Ok(lines)
}

async fn apply_one(
    client: &kube::Client,
    discovery: &Discovery,
    doc: serde_json::Value,
) -> anyhow::Result<String> {
    let obj: DynamicObject = serde_json::from_value(doc).context("not a Kubernetes object")?;
    let Some(types) = obj.types.clone() else {
        bail!("object has no apiVersion/kind");
    };
    let gvk = GroupVersionKind::try_from(&types).context("bad apiVersion")?;
    let Some((ar, caps)) = discovery.resolve_gvk(&gvk) else {
        bail!(
            "no matches for kind {:?} in version {:?}",
            gvk.kind,
            types.api_version
        );
    };
    let name = obj
        .metadata
        .name
        .clone()
        .context("object has no metadata.name")?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            let ns = obj
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned());
            Api::namespaced_with(client.clone(), &ns, &ar)
        }
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    let params = PatchParams::apply("knet").force();
    api.patch(&name, &params, &Patch::Apply(&obj)).await?;
    let group = if ar.group.is_empty() {
        String::new()
    } else {
        format!(".{}", ar.group)
    };
    Ok(format!(
        "{}{group}/{name} serverside-applied",
        ar.kind.to_lowercase()
    ))
}
