//! The dependency rules of ARCHITECTURE.md, checked against the crates' manifests.

use std::collections::BTreeMap;

use e2e::workspace;

/// Each crate's normal (non-dev) dependency names, from its Cargo.toml.
fn dependencies() -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(workspace().join("crates"))? {
        let dir = entry?.path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line == "[dependencies]";
                continue;
            }
            if in_deps && let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_end_matches(".workspace").to_owned();
                if !name.is_empty() && !name.starts_with('#') {
                    deps.push(name);
                }
            }
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.insert(name, deps);
    }
    Ok(out)
}

#[test]
fn dependency_rules_hold() -> anyhow::Result<()> {
    let deps = dependencies()?;
    assert!(deps.len() >= 5, "found crates: {:?}", deps.keys());
    for (krate, list) in &deps {
        let has = |d: &str| list.iter().any(|x| x == d);
        // Only the API server talks to the store.
        if krate != "apiserver" {
            assert!(!has("store"), "{krate} depends on store");
        }
        // Clients of the API server reach it through kube-rs, never in-process.
        if !matches!(krate.as_str(), "knet" | "e2e") {
            assert!(!has("apiserver"), "{krate} depends on apiserver");
        }
        // The shared proxy never names a mode; modes build on it, never on each other;
        // controllers and the proxy share only the events crate.
        if krate == "proxy" {
            for d in [
                "proxy-userspace",
                "proxy-nftables",
                "proxy-iptables",
                "controllers",
            ] {
                assert!(!has(d), "proxy depends on {d}");
            }
        }
        if let Some(mode) = krate.strip_prefix("proxy-") {
            assert!(has("proxy"), "{krate} does not build on proxy");
            for other in ["proxy-userspace", "proxy-nftables", "proxy-iptables"] {
                assert!(
                    other.ends_with(mode) || !has(other),
                    "{krate} depends on {other}"
                );
            }
            assert!(!has("controllers"), "{krate} depends on controllers");
        }
        // Binaries and tests own error reporting and logging setup.
        if !matches!(krate.as_str(), "knet" | "e2e") {
            for d in ["anyhow", "clap", "tracing-subscriber"] {
                assert!(!has(d), "{krate} depends on {d}");
            }
        }
    }
    assert!(
        deps["controllers"].iter().any(|d| d == "kube"),
        "controllers use kube-rs"
    );
    Ok(())
}
