//! From Ingress and IngressClass objects to the rules and defaults of a [`Table`]: which
//! Ingresses this controller serves, and what each contributes.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};

use crate::annotations::{NGINX, Policy};
use crate::routes::{Backend, PortRef, RuleInput, Source, Table};

/// The controller name in IngressClass `spec.controller`.
pub const CONTROLLER: &str = "knet.dev/ingress";

/// Which Ingresses are this controller's.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    /// IngressClass names whose controller is ours.
    pub ours: Vec<String>,
    /// Whether one of ours is the default class (`is-default-class`).
    pub default_is_ours: bool,
}

impl Classes {
    /// From the IngressClasses in the cluster.
    pub fn from_objects<'a>(classes: impl IntoIterator<Item = &'a IngressClass>) -> Classes {
        let mut c = Classes::default();
        for class in classes {
            let ours =
                class.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER);
            if !ours {
                continue;
            }
            if let Some(name) = &class.metadata.name {
                c.ours.push(name.clone());
            }
            let default = class
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("ingressclass.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true");
            c.default_is_ours |= default;
        }
        c
    }

    /// Whether `ing` is ours: its `ingressClassName`, else the legacy
    /// `kubernetes.io/ingress.class` annotation, else (no class at all) whether the default
    /// class is ours.
    pub fn serves(&self, ing: &Ingress) -> bool {
        if let Some(name) = ing
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_ref())
        {
            return self.ours.iter().any(|o| o == name);
        }
        if let Some(a) = ing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/ingress.class"))
        {
            return self.ours.iter().any(|o| o == a) || a == CONTROLLER;
        }
        self.default_is_ours
    }
}

fn source(ing: &Ingress) -> Source {
    Source {
        created: ing
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second()),
        namespace: ing.metadata.namespace.clone().unwrap_or_default(),
        name: ing.metadata.name.clone().unwrap_or_default(),
    }
}

fn backend(ing: &Ingress, policy: &Arc<Policy>, b: &IngressBackend) -> Backend {
    let (service, port) = match &b.service {
        Some(s) => (
            Some(s.name.clone()),
            match &s.port {
                Some(p) => match (&p.name, p.number) {
                    (Some(name), _) if !name.is_empty() => PortRef::Name(name.clone()),
                    (_, Some(n)) => PortRef::Number(u16::try_from(n).unwrap_or(0)),
                    _ => PortRef::Number(80),
                },
                None => PortRef::Number(80),
            },
        ),
        None => (None, PortRef::Number(0)),
    };
    Backend {
        namespace: ing.metadata.namespace.clone().unwrap_or_default(),
        service,
        port,
        source: source(ing),
        policy: policy.clone(),
        fallback: policy.default_backend.as_ref().map(|svc| {
            Arc::new(Backend {
                namespace: ing.metadata.namespace.clone().unwrap_or_default(),
                service: Some(svc.clone()),
                port: PortRef::First,
                source: source(ing),
                policy: Arc::default(),
                fallback: None,
            })
        }),
    }
}

/// The table for the Ingresses this controller serves, and the rules it refused.
pub fn table<'a>(
    ingresses: impl IntoIterator<Item = &'a Ingress>,
    classes: &Classes,
    fallback: Option<Arc<Backend>>,
) -> (Table, Vec<crate::routes::Rejected>) {
    let mut rules = Vec::new();
    let mut canaries = Vec::new();
    let mut defaults = Vec::new();
    for ing in ingresses {
        if !classes.serves(ing) || ing.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(spec) = &ing.spec else { continue };
        let policy = Arc::new(Policy::of(ing).0);
        // A canary Ingress adds no routes of its own: its paths join the mainline's.
        let canary = policy.canary.is_some();
        // ingress-nginx turns regex paths on with use-regex, and with a rewrite-target (for
        // every path of the host: see routes.rs).
        let regex = policy.use_regex || policy.rewrite_target.is_some();
        if let Some(d) = spec.default_backend.as_ref().filter(|_| !canary) {
            defaults.push(Arc::new(backend(ing, &policy, d)));
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.clone().unwrap_or_default();
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                let input = RuleInput {
                    host: host.clone(),
                    path: path.path.clone().unwrap_or_default(),
                    path_type: path.path_type.clone(),
                    backend: Arc::new(backend(ing, &policy, &path.backend)),
                    regex,
                };
                if canary {
                    canaries.push(input);
                } else {
                    rules.push(input);
                }
            }
        }
    }
    Table::build_with_canaries(rules, canaries, defaults, fallback)
}

/// What to warn about in an Ingress's annotations: (reason, message) for each snippet
/// annotation (refused: arbitrary configuration is how ingress-nginx was exploited,
/// IngressNightmare), each other ingress-nginx annotation knet does not implement, and each
/// value knet ignores because it does not parse.
pub fn annotation_warnings(ing: &Ingress) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Policy::of(ing)
        .1
        .into_iter()
        .map(|bad| {
            (
                "InvalidAnnotation",
                format!("annotation {} is ignored: {}", bad.key, bad.reason),
            )
        })
        .collect();
    for key in ing.metadata.annotations.iter().flat_map(|a| a.keys()) {
        let Some(name) = key.strip_prefix(NGINX) else {
            continue;
        };
        if name.ends_with("snippet") {
            out.push((
                "SnippetRefused",
                format!("annotation {key} is refused: knet does not run configuration snippets"),
            ));
        } else if !crate::annotations::SUPPORTED.contains(&name) {
            out.push((
                "UnsupportedAnnotation",
                format!("annotation {key} is not supported by knet and has no effect"),
            ));
        }
    }
    out.sort();
    out
}
