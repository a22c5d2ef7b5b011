//! The tutorial's manifests through the real kubectl: apply, apply again, server-side apply,
//! get, describe, scale, delete.

use std::time::Duration;

use e2e::{Knet, eventually, workspace};

fn seed() -> String {
    workspace().join("examples/seed").display().to_string()
}

/// Splits `kubectl get` output into rows of cells (on runs of two or more spaces).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn row<'a>(table: &'a [Vec<String>], name: &str) -> &'a [String] {
    table
        .iter()
        .find(|r| r.first().map(String::as_str) == Some(name))
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no row {name} in {table:?}"))
}

#[test]
fn seed_applies_like_a_real_cluster() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let out = k.kubectl_output(&["apply", "-f", &seed()])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "apply failed: {stdout}{stderr}");
    for obj in [
        "service/clusterip-service created",
        "service/nodeport-service created",
        "service/loadbalancer-service created",
        "service/externalname-service created",
        "service/headless-service created",
        "deployment.apps/nginx-for-svc created",
        "ingress.extensions/test created",
        "deployment.extensions/websample created",
    ] {
        assert!(stdout.contains(obj), "missing {obj:?} in:\n{stdout}");
    }
    assert!(
        stderr.contains("Warning: extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"),
        "no deprecation warning in:\n{stderr}"
    );

    // Applying the same files again changes nothing.
    let again = k.kubectl(&["apply", "-f", &seed()])?;
    assert_eq!(again.lines().count(), 8, "{again}");
    for line in again.lines() {
        assert!(line.ends_with(" unchanged"), "not unchanged: {line}");
    }

    // `kubectl get svc`: the tutorial's columns and cell formats.
    let table = k.kubectl(&["get", "svc"])?;
    let t = rows(&table);
    assert_eq!(
        t[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let np = row(&t, "nodeport-service");
    assert_eq!(
        (np[1].as_str(), np[3].as_str(), np[4].as_str()),
        ("NodePort", "<none>", "80:30080/TCP")
    );
    let svc_prefix = k.service_cidr.trim_end_matches("0/26");
    assert!(np[2].starts_with(svc_prefix), "cluster IP {}", np[2]);
    let en = row(&t, "externalname-service");
    assert_eq!(
        &en[1..5],
        ["ExternalName", "<none>", "google.com", "<none>"]
    );
    let hl = row(&t, "headless-service");
    assert_eq!(&hl[1..5], ["ClusterIP", "None", "<none>", "80/TCP"]);
    let kube = row(&t, "kubernetes");
    assert_eq!(
        &kube[1..5],
        [
            "ClusterIP",
            format!("{svc_prefix}1").as_str(),
            "<none>",
            "443/TCP"
        ]
    );
    let lb = row(&t, "loadbalancer-service");
    assert_eq!(lb[1], "LoadBalancer");
    assert!(
        lb[4].starts_with("80:3") && lb[4].ends_with("/TCP"),
        "{}",
        lb[4]
    );

    // The load-balancer controller hands out the first pool address.
    let lb_first = k.lb_pool.replace(".128/25", ".129");
    eventually(Duration::from_secs(10), || {
        let t = rows(&k.kubectl(&["get", "svc", "loadbalancer-service"])?);
        Ok((row(&t, "loadbalancer-service")[3] == lb_first).then_some(()))
    })?;

    let events = k.kubectl(&["describe", "svc", "loadbalancer-service"])?;
    assert!(
        events.contains("IPAllocated") && events.contains(&format!("Assigned IP [\"{lb_first}\"]")),
        "{events}"
    );

    let wide = rows(&k.kubectl(&["get", "svc", "-o", "wide"])?);
    assert_eq!(wide[0].last().map(String::as_str), Some("SELECTOR"));
    assert_eq!(
        row(&wide, "clusterip-service").last().map(String::as_str),
        Some("app=nginx-for-svc")
    );
    assert_eq!(
        row(&wide, "kubernetes").last().map(String::as_str),
        Some("<none>")
    );

    // kubectl pads the labels to the longest one, which depends on the fields present; compare
    // with the padding collapsed.
    let describe = k.kubectl(&["describe", "service", "clusterip-service"])?;
    let describe: String = describe
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k, v)) => format!("{k}: {}\n", v.trim()),
            None => format!("{l}\n"),
        })
        .collect();
    for line in [
        "Name: clusterip-service",
        "Namespace: default",
        "Selector: app=nginx-for-svc",
        "Type: ClusterIP",
        "Port: <unset>  80/TCP",
        "TargetPort: 80/TCP",
        "Session Affinity: None",
        "Internal Traffic Policy: Cluster",
    ] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }

    // Server-side apply over the client-side applied objects.
    let ssa = k.kubectl(&["apply", "--server-side", "-f", &seed()])?;
    assert_eq!(ssa.matches("serverside-applied").count(), 8, "{ssa}");

    // Scale through the scale subresource.
    let scaled = k.kubectl(&["scale", "deployment", "nginx-for-svc", "--replicas", "3"])?;
    assert_eq!(scaled.trim(), "deployment.apps/nginx-for-svc scaled");
    let replicas = k.kubectl(&[
        "get",
        "deploy",
        "nginx-for-svc",
        "-o",
        "jsonpath={.spec.replicas}",
    ])?;
    assert_eq!(replicas, "3");

    let deleted = k.kubectl(&["delete", "-f", &seed()])?;
    assert_eq!(deleted.matches(" deleted").count(), 8, "{deleted}");
    let left = rows(&k.kubectl(&["get", "svc"])?);
    assert_eq!(
        left.len(),
        2,
        "only the header and kubernetes remain: {left:?}"
    );
    Ok(())
}
