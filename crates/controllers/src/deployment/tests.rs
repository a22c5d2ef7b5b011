use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::json;

use super::{resolve, scale_plan, template_hash};

fn deploy(replicas: i32, surge: serde_json::Value, unavailable: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "d", "uid": "d-uid"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}},
    }))
    .expect("deployment")
}

fn rs(name: &str, revision: i64, replicas: i32, available: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": replicas, "availableReplicas": available},
    }))
    .expect("replicaset")
}

#[test]
fn rounding_follows_upstream() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let pct = |s: &str| IntOrString::String(s.into());
    // 25% of 10 is 2.5: surge rounds up, unavailable rounds down.
    assert_eq!(resolve(Some(&pct("25%")), 10, true, "25%"), 3);
    assert_eq!(resolve(Some(&pct("25%")), 10, false, "25%"), 2);
    assert_eq!(resolve(Some(&IntOrString::Int(2)), 10, true, "25%"), 2);
    assert_eq!(resolve(None, 4, false, "25%"), 1);
}

#[test]
fn a_fresh_deployment_starts_at_its_size() {
    let d = deploy(4, json!("25%"), json!("25%"));
    let (new, old) = scale_plan(&d, None, &[]);
    assert_eq!((new, old.len()), (4, 0));
}

#[test]
fn a_rollout_surges_first_then_shrinks_old_within_unavailability() {
    let d = deploy(4, json!(1), json!(1));
    let old = rs("web-old", 1, 4, 4);
    // No new pods yet: surge by one, leave the old set alone this pass.
    let (new, targets) = scale_plan(&d, None, &[&old]);
    assert_eq!((new, targets["web-old"]), (1, 4));
    // The surged pod is not available yet: the old set may lose only one (4 + 1 - 3 - 1).
    let fresh = rs("web-new", 2, 1, 0);
    let (new, targets) = scale_plan(&d, Some(&fresh), &[&old]);
    assert_eq!((new, targets["web-old"]), (1, 3));
    // Once it is available, two may go: 5 pods, 3 must stay available.
    let fresh = rs("web-new", 2, 1, 1);
    let (new, targets) = scale_plan(&d, Some(&fresh), &[&old]);
    assert_eq!((new, targets["web-old"]), (1, 2));
}

#[test]
fn zero_surge_and_zero_unavailable_still_progress() {
    let d = deploy(2, json!(0), json!(0));
    let old = rs("web-old", 1, 2, 2);
    let fresh = rs("web-new", 2, 0, 0);
    let (new, targets) = scale_plan(&d, Some(&fresh), &[&old]);
    // maxUnavailable becomes 1, so one old pod may go before any new one exists.
    assert_eq!((new, targets["web-old"]), (0, 1));
}

#[test]
fn template_hashes_are_stable_label_values() {
    let a = template_hash(&json!({"spec": {"containers": [{"name": "c", "image": "v1"}]}}));
    let b = template_hash(&json!({"spec": {"containers": [{"name": "c", "image": "v2"}]}}));
    assert_ne!(a, b);
    assert_eq!(
        a,
        template_hash(&json!({"spec": {"containers": [{"name": "c", "image": "v1"}]}}))
    );
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()) && !a.is_empty());
}
