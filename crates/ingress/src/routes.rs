//! The route table: Ingress rules compiled into an immutable structure that answers "which
//! backend serves this host and path", per the Ingress spec and ingress-nginx's reading of it.
//!
//! - Hosts: an exact host first, then a wildcard (`*.foo.com` covers exactly one more label),
//!   then the rules without a host. The port in the Host header is ignored.
//! - Paths within a host, merged from every Ingress that names it: longest path first, Exact
//!   before Prefix at equal length; for the same path and type the oldest Ingress wins.
//! - Prefix matches element-wise (`/aaa` matches `/aaa` and `/aaa/x`, not `/aaaccc`), a
//!   trailing slash in the rule is ignored; Exact is literal and case-sensitive.
//!   ImplementationSpecific is Prefix, or a case-insensitive regex anchored at the start of
//!   the path when the host uses regexes (`use-regex`, or a `rewrite-target`).
//! - No match in a host: that host's default (the `spec.defaultBackend` of the oldest Ingress
//!   naming it), then the table's default (the oldest `spec.defaultBackend`, else the
//!   controller's `--default-backend-service`), else none (the caller's built-in 404).

use std::collections::HashMap;
use std::sync::Arc;

/// An Ingress, by namespace and name, with its creation order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// Creation timestamp (seconds), then namespace/name: the oldest wins conflicts.
    pub created: i64,
    /// The Ingress's namespace.
    pub namespace: String,
    /// The Ingress's name.
    pub name: String,
}

/// A Service port, by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// `port.number`.
    Number(u16),
    /// `port.name`.
    Name(String),
    /// The Service's first port (`--default-backend-service`).
    First,
}

/// Where matched requests go, and how they are changed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The Service's namespace (the Ingress's).
    pub namespace: String,
    /// The Service's name; `None` for a non-Service (`resource`) backend, which serves 404.
    pub service: Option<String>,
    /// The Service port.
    pub port: PortRef,
    /// The Ingress it came from.
    pub source: Source,
    /// What the Ingress's annotations ask for (shared by all its backends).
    pub policy: Arc<crate::annotations::Policy>,
    /// The `default-backend` annotation's Service: serves (with `X-Code: 503` and the other
    /// custom-error headers) when this backend has no endpoints.
    pub fallback: Option<Arc<Backend>>,
}

/// How a route's path matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this path.
    Exact(String),
    /// This path or anything below it, element-wise (stored without a trailing slash, `/`
    /// for the root).
    Prefix(String),
    /// A case-insensitive regex anchored at the start of the path.
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => {
                p == "/"
                    || path == p
                    || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'/'))
            }
            Matcher::Regex(r) => r.is_match(path),
        }
    }

    /// Exact ranks before Prefix and regex at equal length.
    fn rank(&self) -> u8 {
        match self {
            Matcher::Exact(_) => 0,
            Matcher::Prefix(_) | Matcher::Regex(_) => 1,
        }
    }
}

/// One path of one host.
#[derive(Debug, Clone)]
pub struct Route {
    /// The path as written in the Ingress.
    pub path: String,
    /// How it matches.
    pub matcher: Matcher,
    /// Where it goes.
    pub backend: Arc<Backend>,
    /// The canary Ingress's backend for the same host and path, if there is one.
    pub canary: Option<Arc<Backend>>,
}

/// The routes of one host, in precedence order, and its default.
#[derive(Debug, Clone, Default)]
pub struct HostRoutes {
    /// In the order they are tried.
    pub routes: Vec<Route>,
    /// For requests no route matches.
    pub default: Option<Arc<Backend>>,
}

impl HostRoutes {
    fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matcher.matches(path))
    }
}

/// The whole table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    exact: HashMap<String, HostRoutes>,
    /// By the suffix after `*.`.
    wildcard: HashMap<String, HostRoutes>,
    /// Rules without a host.
    any: Option<HostRoutes>,
    /// The last resort before the built-in 404.
    pub default: Option<Arc<Backend>>,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// The backend.
    pub backend: &'a Arc<Backend>,
    /// The route, unless it was a default.
    pub route: Option<&'a Route>,
}

/// A rule as read from an Ingress, before compiling.
#[derive(Debug, Clone)]
pub struct RuleInput {
    /// The host (empty: any).
    pub host: String,
    /// The path (empty: `/`).
    pub path: String,
    /// `Exact`, `Prefix` or `ImplementationSpecific`.
    pub path_type: String,
    /// Where it goes.
    pub backend: Arc<Backend>,
    /// Whether the Ingress asks for regex paths (`use-regex`, or a `rewrite-target`).
    pub regex: bool,
}

/// Why a rule was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The Ingress.
    pub source: Source,
    /// What was wrong.
    pub reason: String,
}

/// Host part of a Host header: lowercase, without the port.
pub fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    let h = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    let h = h.trim_end_matches('.');
    // Most hosts arrive in lower case already; only the others are copied.
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(h.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(h)
    }
}

impl Table {
    /// Compiles `rules` (from every Ingress this controller serves), the per-Ingress defaults
    /// `defaults` (`spec.defaultBackend`) and the controller's `fallback`. Rules with an
    /// invalid regex are left out and reported.
    pub fn build(
        rules: Vec<RuleInput>,
        defaults: Vec<Arc<Backend>>,
        fallback: Option<Arc<Backend>>,
    ) -> (Table, Vec<Rejected>) {
        Table::build_with_canaries(rules, Vec::new(), defaults, fallback)
    }

    /// [`Table::build`], with the rules of canary Ingresses: each joins the route of the same
    /// host and path (the oldest canary, one per route); a canary without one is dropped, so
    /// its requests get what the host would give without it.
    pub fn build_with_canaries(
        rules: Vec<RuleInput>,
        canaries: Vec<RuleInput>,
        defaults: Vec<Arc<Backend>>,
        fallback: Option<Arc<Backend>>,
    ) -> (Table, Vec<Rejected>) {
        let mut rejected = Vec::new();
        // Hosts that use regexes (ingress-nginx applies use-regex to every path of a host).
        let regex_hosts: std::collections::HashSet<String> = rules
            .iter()
            .filter(|r| r.regex)
            .map(|r| r.host.to_ascii_lowercase())
            .collect();
        let mut by_host: HashMap<String, Vec<(Route, Source)>> = HashMap::new();
        for r in rules {
            let host = r.host.to_ascii_lowercase();
            let path = if r.path.is_empty() {
                "/".to_owned()
            } else {
                r.path.clone()
            };
            let matcher = match r.path_type.as_str() {
                "Exact" => Matcher::Exact(path.clone()),
                "ImplementationSpecific" | "Prefix" if regex_hosts.contains(&host) => {
                    match regex::RegexBuilder::new(&format!("^(?:{path})"))
                        .case_insensitive(true)
                        .build()
                    {
                        Ok(re) => Matcher::Regex(re),
                        Err(e) => {
                            rejected.push(Rejected {
                                source: r.backend.source.clone(),
                                reason: format!("invalid regex path {path:?}: {e}"),
                            });
                            continue;
                        }
                    }
                }
                _ => {
                    let trimmed = path.trim_end_matches('/');
                    Matcher::Prefix(if trimmed.is_empty() {
                        "/".to_owned()
                    } else {
                        trimmed.to_owned()
                    })
                }
            };
            let source = r.backend.source.clone();
            by_host.entry(host).or_default().push((
                Route {
                    path,
                    matcher,
                    backend: r.backend,
                    canary: None,
                },
                source,
            ));
        }
        let mut table = Table::default();
        let mut host_defaults: HashMap<String, Arc<Backend>> = HashMap::new();
        let mut defaults = defaults;
        defaults.sort_by(|a, b| a.source.cmp(&b.source));
        for (host, mut routes) in by_host {
            // Longest first, Exact first, then oldest; drop later duplicates of a path+type.
            routes.sort_by(|(a, sa), (b, sb)| {
                b.path
                    .len()
                    .cmp(&a.path.len())
                    .then(a.matcher.rank().cmp(&b.matcher.rank()))
                    .then(sa.cmp(sb))
            });
            let mut seen = std::collections::HashSet::new();
            routes.retain(|(r, _)| seen.insert((r.path.clone(), r.matcher.rank())));
            // Canaries, oldest first: each joins the route with its host and path.
            let mut mine: Vec<&RuleInput> = canaries
                .iter()
                .filter(|c| c.host.eq_ignore_ascii_case(&host))
                .collect();
            mine.sort_by(|a, b| a.backend.source.cmp(&b.backend.source));
            for c in mine {
                let path = if c.path.is_empty() { "/" } else { &c.path };
                if let Some((route, _)) = routes
                    .iter_mut()
                    .find(|(r, _)| r.path == path && r.canary.is_none())
                {
                    route.canary = Some(c.backend.clone());
                }
            }
            // The host's default: the oldest defaultBackend among the Ingresses naming it.
            let owners: std::collections::HashSet<(&str, &str)> = routes
                .iter()
                .map(|(_, s)| (s.namespace.as_str(), s.name.as_str()))
                .collect();
            let default = defaults
                .iter()
                .find(|d| owners.contains(&(d.source.namespace.as_str(), d.source.name.as_str())))
                .cloned();
            if let Some(d) = &default {
                host_defaults.insert(host.clone(), d.clone());
            }
            let hr = HostRoutes {
                routes: routes.into_iter().map(|(r, _)| r).collect(),
                default,
            };
            if host.is_empty() {
                table.any = Some(hr);
            } else if let Some(suffix) = host.strip_prefix("*.") {
                table.wildcard.insert(suffix.to_owned(), hr);
            } else {
                table.exact.insert(host, hr);
            }
        }
        table.default = defaults.into_iter().next().or(fallback);
        (table, rejected)
    }

    /// The backend for `host` (a Host header) and `path` (without the query).
    pub fn lookup(&self, host: &str, path: &str) -> Option<Found<'_>> {
        let host = normalize_host(host);
        let routes = self.exact.get(host.as_ref()).or_else(|| {
            host.split_once('.')
                .and_then(|(_, suffix)| self.wildcard.get(suffix))
        });
        let routes = routes.or(self.any.as_ref());
        if let Some(hr) = routes {
            if let Some(r) = hr.find(path) {
                return Some(Found {
                    backend: &r.backend,
                    route: Some(r),
                });
            }
            if let Some(d) = &hr.default {
                return Some(Found {
                    backend: d,
                    route: None,
                });
            }
        }
        self.default.as_ref().map(|d| Found {
            backend: d,
            route: None,
        })
    }

    /// Every backend the table can return, with their `default-backend` fallbacks.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.routed()
            .flat_map(|b| std::iter::once(b).chain(b.fallback.iter()))
    }

    fn routed(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.exact
            .values()
            .chain(self.wildcard.values())
            .chain(self.any.iter())
            .flat_map(|h| {
                h.routes
                    .iter()
                    .flat_map(|r| std::iter::once(&r.backend).chain(r.canary.iter()))
                    .chain(h.default.iter())
            })
            .chain(self.default.iter())
    }

    /// Every host with rules (for the TLS and status code).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.exact
            .keys()
            .map(String::as_str)
            .chain(self.wildcard.keys().map(String::as_str))
    }
}

/// The upstream path after `rewrite-target`: nginx's `rewrite` replaces the whole path with
/// the target (capture groups `$1`… from the route's regex) when the regex matches; the query
/// string is kept.
pub fn rewrite(route: &Route, target: &str, path: &str) -> String {
    match &route.matcher {
        Matcher::Regex(re) => match re.captures(path) {
            Some(caps) => {
                let mut out = String::new();
                caps.expand(&braced(target), &mut out);
                out
            }
            None => path.to_owned(),
        },
        _ => target.to_owned(),
    }
}

/// nginx's `$1` as the regex crate's `${1}` (which would read `$1abc` as a group named
/// `1abc`).
fn braced(target: &str) -> String {
    let mut out = String::with_capacity(target.len() + 4);
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
