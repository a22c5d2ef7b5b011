//! The ingress-nginx annotations knet implements, read from an Ingress into a [`Policy`] with
//! ingress-nginx's defaults. A value that does not parse is reported (an Event names it) and
//! the default applies, as ingress-nginx ignores it.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;

/// The annotation prefix of ingress-nginx.
pub const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// ingress-nginx's default `proxy-body-size`.
pub const DEFAULT_BODY_LIMIT: u64 = 1 << 20;

/// An address range of `whitelist-source-range` / `allowlist-source-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/64`, or one address.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (net, bits) = match s.split_once('/') {
            Some((n, b)) => (n.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
            None => {
                let ip = s.parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if net.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net, bits })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 client counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `enable-cors` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `cors-allow-origin`: `*`, or the origins allowed (the request's own is echoed back).
    pub origins: Vec<String>,
    /// `cors-allow-methods`.
    pub methods: String,
    /// `cors-allow-headers`.
    pub headers: String,
    /// `cors-expose-headers`.
    pub expose: Option<String>,
    /// `cors-allow-credentials`.
    pub credentials: bool,
    /// `cors-max-age`, seconds.
    pub max_age: u64,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` for a request from `origin`, if it is allowed.
    pub fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        if self.origins.iter().any(|o| o == "*") {
            return Some("*".to_owned());
        }
        let origin = origin?;
        self.origins
            .iter()
            .any(|o| origin_matches(o, origin))
            .then(|| origin.to_owned())
    }
}

/// An allowed origin against a request's: exact, or `https://*.example.com` for one more
/// label or more.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    if allowed.eq_ignore_ascii_case(origin) {
        return true;
    }
    match allowed.split_once("://*.") {
        Some((scheme, suffix)) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
            .is_some_and(|host| host.ends_with(&format!(".{suffix}"))),
        None => false,
    }
}

/// `affinity: cookie` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affinity {
    /// `session-cookie-name` (default `INGRESSCOOKIE`).
    pub name: String,
    /// `session-cookie-path` (default: the matched Ingress path).
    pub path: Option<String>,
    /// `session-cookie-max-age`, seconds (also written as `Expires`).
    pub max_age: Option<u64>,
    /// `session-cookie-expires`, seconds, when no max-age is given.
    pub expires: Option<u64>,
    /// `session-cookie-samesite`.
    pub samesite: Option<String>,
    /// `session-cookie-secure`.
    pub secure: bool,
    /// `session-cookie-domain`.
    pub domain: Option<String>,
}

/// A regex of an annotation, compiled when the Ingress is read; equal when written alike.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

/// `canary: "true"` and its rules: this Ingress's backend takes a share of the traffic of the
/// route with the same host and path in another (mainline) Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// `canary-by-header`: `always` / `never` (or `canary-by-header-value`) decide.
    pub by_header: Option<String>,
    /// `canary-by-header-value`: this value (instead of `always`) sends to the canary.
    pub header_value: Option<String>,
    /// `canary-by-header-pattern`: a regex the header's value must match (compiled once).
    pub header_pattern: Option<Pattern>,
    /// `canary-by-cookie`: `always` / `never` decide.
    pub by_cookie: Option<String>,
    /// `canary-weight` out of `canary-weight-total` (default 100).
    pub weight: u32,
    /// `canary-weight-total`.
    pub weight_total: u32,
}

/// The upstream protocol of `backend-protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendProtocol {
    /// HTTP/1.1 (the default).
    #[default]
    Http,
    /// HTTP/2 without TLS (h2c), also for `GRPC`.
    H2c,
    /// HTTP/1.1 over TLS (`HTTPS`); the upstream's certificate is not verified, as
    /// ingress-nginx's `proxy-ssl-verify` is off by default.
    Https,
    /// HTTP/2 over TLS (`GRPCS`).
    Grpcs,
}

impl BackendProtocol {
    /// Whether the upstream speaks TLS.
    pub fn tls(self) -> bool {
        matches!(self, BackendProtocol::Https | BackendProtocol::Grpcs)
    }

    /// Whether the upstream speaks HTTP/2 only.
    pub fn h2(self) -> bool {
        matches!(self, BackendProtocol::H2c | BackendProtocol::Grpcs)
    }
}

/// What one Ingress's annotations ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `rewrite-target`.
    pub rewrite_target: Option<String>,
    /// `use-regex`.
    pub use_regex: bool,
    /// `ssl-redirect` (default true): plain HTTP to a host with TLS gets 308.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect`: 308 to HTTPS even without TLS for the host.
    pub force_ssl_redirect: bool,
    /// `preserve-trailing-slash`: keep a trailing `/` in the HTTPS redirect.
    pub preserve_trailing_slash: bool,
    /// `permanent-redirect` (with `permanent-redirect-code`, default 301) or
    /// `temporal-redirect` (302, or `temporal-redirect-code`): (code, location).
    pub redirect: Option<(u16, String)>,
    /// `app-root`: `/` is redirected (302) here.
    pub app_root: Option<String>,
    /// `allowlist-source-range` / `whitelist-source-range`: others get 403.
    pub allow: Option<Vec<Cidr>>,
    /// `proxy-body-size` (default 1 MiB; `0`: no limit): a bigger body gets 413.
    pub body_limit: Option<u64>,
    /// `enable-cors`.
    pub cors: Option<Cors>,
    /// `upstream-vhost`: the Host header sent upstream.
    pub upstream_vhost: Option<String>,
    /// `x-forwarded-prefix`: sent upstream as `X-Forwarded-Prefix`.
    pub x_forwarded_prefix: Option<String>,
    /// `proxy-connect-timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// `proxy-read-timeout` (default 60 s): the wait for the upstream's response head.
    pub read_timeout: Duration,
    /// `affinity: cookie`.
    pub affinity: Option<Affinity>,
    /// `limit-rps`: requests per second per client address (burst: 5 times as many).
    pub limit_rps: Option<u32>,
    /// `limit-connections`: concurrent requests per client address.
    pub limit_connections: Option<u32>,
    /// `load-balance: ewma` (else round robin).
    pub ewma: bool,
    /// `backend-protocol`.
    pub backend_protocol: BackendProtocol,
    /// `canary`.
    pub canary: Option<Canary>,
    /// `default-backend`: a Service of the Ingress's namespace (its first port) that serves
    /// when the backend has no endpoints.
    pub default_backend: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rewrite_target: None,
            use_regex: false,
            ssl_redirect: true,
            force_ssl_redirect: false,
            preserve_trailing_slash: false,
            redirect: None,
            app_root: None,
            allow: None,
            body_limit: Some(DEFAULT_BODY_LIMIT),
            cors: None,
            upstream_vhost: None,
            x_forwarded_prefix: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            affinity: None,
            limit_rps: None,
            limit_connections: None,
            ewma: false,
            backend_protocol: BackendProtocol::Http,
            canary: None,
            default_backend: None,
        }
    }
}

/// The annotations [`Policy::of`] reads (after the prefix).
pub const SUPPORTED: &[&str] = &[
    "rewrite-target",
    "use-regex",
    "ssl-redirect",
    "force-ssl-redirect",
    "preserve-trailing-slash",
    "permanent-redirect",
    "permanent-redirect-code",
    "temporal-redirect",
    "temporal-redirect-code",
    "app-root",
    "whitelist-source-range",
    "allowlist-source-range",
    "proxy-body-size",
    "enable-cors",
    "cors-allow-origin",
    "cors-allow-methods",
    "cors-allow-headers",
    "cors-expose-headers",
    "cors-allow-credentials",
    "cors-max-age",
    "upstream-vhost",
    "x-forwarded-prefix",
    "proxy-connect-timeout",
    "proxy-read-timeout",
    "affinity",
    "session-cookie-name",
    "session-cookie-path",
    "session-cookie-max-age",
    "session-cookie-expires",
    "session-cookie-samesite",
    "session-cookie-secure",
    "session-cookie-domain",
    "limit-rps",
    "limit-connections",
    "load-balance",
    "backend-protocol",
    "default-backend",
    "canary",
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
    "canary-weight",
    "canary-weight-total",
];

/// nginx's size syntax: `1m`, `512k`, `1g`, `100` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// A value of an annotation that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The full annotation key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// Reads one Ingress's annotations, noting the values it cannot use.
struct Reader<'a> {
    ing: &'a Ingress,
    bad: Vec<Invalid>,
}

impl<'a> Reader<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        // A scan without building the full key: Ingresses carry few annotations, and this runs
        // for every Ingress at every rebuild.
        self.ing
            .metadata
            .annotations
            .as_ref()?
            .iter()
            .find(|(k, _)| k.strip_prefix(NGINX) == Some(key))
            .map(|(_, v)| v.trim())
    }

    /// A non-empty value.
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn invalid(&mut self, key: &str, reason: String) {
        self.bad.push(Invalid {
            key: format!("{NGINX}{key}"),
            reason,
        });
    }

    fn boolean(&mut self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(v) => {
                self.invalid(key, format!("{v:?} is not true or false"));
                default
            }
        }
    }

    fn number(&mut self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(key, format!("{v:?} is not a whole number"));
                None
            }
        }
    }

    fn seconds(&mut self, key: &str, default: u64) -> Duration {
        Duration::from_secs(self.number(key).unwrap_or(default))
    }

    /// A positive count that fits in 32 bits.
    fn count(&mut self, key: &str) -> Option<u32> {
        self.number(key)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
    }

    fn redirect_code(&mut self, key: &str, default: u16) -> u16 {
        match self.number(key) {
            None => default,
            Some(c @ 300..=308) => c as u16,
            Some(c) => {
                self.invalid(key, format!("{c} is not a redirect code (300-308)"));
                default
            }
        }
    }

    fn redirect(&mut self) -> Option<(u16, String)> {
        if let Some(to) = self.text("permanent-redirect") {
            return Some((self.redirect_code("permanent-redirect-code", 301), to));
        }
        let to = self.text("temporal-redirect")?;
        Some((self.redirect_code("temporal-redirect-code", 302), to))
    }

    fn allow(&mut self) -> Option<Vec<Cidr>> {
        let key = if self.get("allowlist-source-range").is_some() {
            "allowlist-source-range"
        } else {
            "whitelist-source-range"
        };
        let list = self.get(key)?;
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Cidr::parse(item) {
                Some(c) => out.push(c),
                None => self.invalid(key, format!("{item:?} is not an address or CIDR")),
            }
        }
        Some(out)
    }

    fn body_limit(&mut self) -> Option<u64> {
        let Some(v) = self.get("proxy-body-size") else {
            return Some(DEFAULT_BODY_LIMIT);
        };
        match parse_size(v) {
            Some(0) => None,
            Some(n) => Some(n),
            None => {
                self.invalid(
                    "proxy-body-size",
                    format!("{v:?} is not a size (like 1m, 512k, 8m)"),
                );
                Some(DEFAULT_BODY_LIMIT)
            }
        }
    }

    fn cors(&mut self) -> Option<Cors> {
        if !self.boolean("enable-cors", false) {
            return None;
        }
        Some(Cors {
            origins: self
                .get("cors-allow-origin")
                .unwrap_or("*")
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            methods: self
                .text("cors-allow-methods")
                .unwrap_or_else(|| "GET, PUT, POST, DELETE, PATCH, OPTIONS".to_owned()),
            headers: self.text("cors-allow-headers").unwrap_or_else(|| {
                "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization".to_owned()
            }),
            expose: self.text("cors-expose-headers"),
            credentials: self.boolean("cors-allow-credentials", true),
            max_age: self.number("cors-max-age").unwrap_or(1_728_000),
        })
    }

    fn affinity(&mut self) -> Option<Affinity> {
        match self.get("affinity")? {
            "cookie" => Some(Affinity {
                name: self
                    .text("session-cookie-name")
                    .unwrap_or_else(|| "INGRESSCOOKIE".to_owned()),
                path: self.text("session-cookie-path"),
                max_age: self.number("session-cookie-max-age"),
                expires: self.number("session-cookie-expires"),
                samesite: self.text("session-cookie-samesite"),
                secure: self.boolean("session-cookie-secure", false),
                domain: self.text("session-cookie-domain"),
            }),
            v => {
                self.invalid(
                    "affinity",
                    format!("{v:?} is not a supported affinity (cookie)"),
                );
                None
            }
        }
    }

    fn ewma(&mut self) -> bool {
        match self.get("load-balance") {
            None | Some("round_robin") => false,
            Some("ewma") => true,
            Some(v) => {
                self.invalid("load-balance", format!("{v:?} is not round_robin or ewma"));
                false
            }
        }
    }

    fn backend_protocol(&mut self) -> BackendProtocol {
        match self.get("backend-protocol").map(str::to_ascii_uppercase) {
            None => BackendProtocol::Http,
            Some(p) if p == "HTTP" => BackendProtocol::Http,
            Some(p) if p == "H2C" || p == "GRPC" => BackendProtocol::H2c,
            Some(p) if p == "HTTPS" => BackendProtocol::Https,
            Some(p) if p == "GRPCS" => BackendProtocol::Grpcs,
            Some(p) => {
                self.invalid(
                    "backend-protocol",
                    format!("{p} is not supported (HTTP, HTTPS, GRPC, GRPCS and H2C are)"),
                );
                BackendProtocol::Http
            }
        }
    }

    fn pattern(&mut self, key: &str) -> Option<Pattern> {
        let text = self.text(key)?;
        match regex::Regex::new(&text) {
            Ok(re) => Some(Pattern(re)),
            Err(e) => {
                self.invalid(key, format!("{text:?} is not a regex: {e}"));
                None
            }
        }
    }

    fn canary(&mut self) -> Option<Canary> {
        if !self.boolean("canary", false) {
            return None;
        }
        let total = self.number("canary-weight-total").unwrap_or(100).max(1);
        let weight = self.number("canary-weight").unwrap_or(0).min(total);
        Some(Canary {
            by_header: self.text("canary-by-header"),
            header_value: self.text("canary-by-header-value"),
            header_pattern: self.pattern("canary-by-header-pattern"),
            by_cookie: self.text("canary-by-cookie"),
            weight: u32::try_from(weight).unwrap_or(0),
            weight_total: u32::try_from(total).unwrap_or(100),
        })
    }
}

impl Policy {
    /// The policy of `ing`, and the annotations whose values were ignored.
    pub fn of(ing: &Ingress) -> (Policy, Vec<Invalid>) {
        let annotated = ing
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.keys().any(|k| k.starts_with(NGINX)));
        if !annotated {
            return (Policy::default(), Vec::new());
        }
        let mut r = Reader {
            ing,
            bad: Vec::new(),
        };
        let policy = Policy {
            rewrite_target: r.get("rewrite-target").map(str::to_owned),
            use_regex: r.boolean("use-regex", false),
            ssl_redirect: r.boolean("ssl-redirect", true),
            force_ssl_redirect: r.boolean("force-ssl-redirect", false),
            preserve_trailing_slash: r.boolean("preserve-trailing-slash", false),
            redirect: r.redirect(),
            app_root: r.text("app-root"),
            allow: r.allow(),
            body_limit: r.body_limit(),
            cors: r.cors(),
            upstream_vhost: r.text("upstream-vhost"),
            x_forwarded_prefix: r.text("x-forwarded-prefix"),
            connect_timeout: r.seconds("proxy-connect-timeout", 5),
            read_timeout: r.seconds("proxy-read-timeout", 60),
            affinity: r.affinity(),
            limit_rps: r.count("limit-rps"),
            limit_connections: r.count("limit-connections"),
            ewma: r.ewma(),
            backend_protocol: r.backend_protocol(),
            canary: r.canary(),
            default_backend: r.text("default-backend"),
        };
        (policy, r.bad)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ingress(annotations: &[(&str, &str)]) -> Ingress {
        let mut ing = Ingress::default();
        ing.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (format!("{NGINX}{k}"), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        );
        ing
    }

    #[test]
    fn defaults_are_ingress_nginxs() {
        let (p, bad) = Policy::of(&Ingress::default());
        assert_eq!(p, Policy::default());
        assert!(bad.is_empty());
        assert_eq!(p.body_limit, Some(1 << 20));
        assert_eq!(p.read_timeout, Duration::from_secs(60));
        assert!(p.ssl_redirect);
    }

    #[test]
    fn sizes_redirects_ranges_and_invalid_values() {
        assert_eq!(parse_size("8m"), Some(8 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("15r"), None);
        let (p, bad) = Policy::of(&ingress(&[
            ("proxy-body-size", "15r"),
            ("permanent-redirect", "https://www.google.com"),
            ("permanent-redirect-code", "308"),
            ("whitelist-source-range", "10.0.0.0/8, 192.0.2.7,nonsense"),
            ("ssl-redirect", "maybe"),
        ]));
        assert_eq!(p.body_limit, Some(DEFAULT_BODY_LIMIT));
        assert_eq!(p.redirect, Some((308, "https://www.google.com".into())));
        let allow = p.allow.expect("ranges");
        assert_eq!(allow.len(), 2);
        assert!(allow[0].contains("10.1.2.3".parse().expect("ip")));
        assert!(allow[1].contains("192.0.2.7".parse().expect("ip")));
        assert!(!allow[1].contains("192.0.2.8".parse().expect("ip")));
        assert!(allow[0].contains("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(p.ssl_redirect);
        let keys: Vec<&str> = bad.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "nginx.ingress.kubernetes.io/ssl-redirect",
                "nginx.ingress.kubernetes.io/whitelist-source-range",
                "nginx.ingress.kubernetes.io/proxy-body-size",
            ]
        );
        let (p, _) = Policy::of(&ingress(&[("proxy-body-size", "0")]));
        assert_eq!(p.body_limit, None);
    }

    #[test]
    fn cors_origins() {
        let (p, _) = Policy::of(&ingress(&[
            ("enable-cors", "true"),
            (
                "cors-allow-origin",
                "https://origin-site.com:4443, https://*.example.com",
            ),
        ]));
        let cors = p.cors.expect("cors");
        assert_eq!(
            cors.allow_origin(Some("https://origin-site.com:4443")),
            Some("https://origin-site.com:4443".into())
        );
        assert_eq!(
            cors.allow_origin(Some("https://a.b.example.com")),
            Some("https://a.b.example.com".into())
        );
        assert_eq!(cors.allow_origin(Some("https://example.com")), None);
        assert_eq!(cors.allow_origin(None), None);
        assert!(cors.credentials);
        let (p, _) = Policy::of(&ingress(&[("enable-cors", "true")]));
        assert_eq!(
            p.cors.expect("cors").allow_origin(Some("http://x")),
            Some("*".into())
        );
    }
}
