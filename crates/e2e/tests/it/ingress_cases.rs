//! The ingress behaviour catalogue (`shared/reference/ingress.md`, sections A–N), case by case,
//! through the real `curl` and `kubectl`. Every backend is a Deployment of `knet echo` pods of
//! its own, so the echo's `pod` field names the backend that answered.
//!
//! Where the catalogue assumes ingress-nginx's environment, these tests use knet's: plain HTTP
//! is on `k.http` and HTTPS on `k.https` (so redirects and `X-Forwarded-Port` carry those
//! ports), knet's IngressClass `knet` is the cluster's default class, and the controller
//! settings are knet flags (`--use-forwarded-headers`, `--default-backend-service`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::{Knet, eventually};

use crate::ingress::{apply, echo_app, field, headers_and_body, self_signed};

/// How long configuration and pods get to take effect.
const WAIT: Duration = Duration::from_secs(60);

/// The issuer of knet's fallback certificate (ingress-nginx's name for it).
const FAKE_CERT: &str = "Kubernetes Ingress Controller Fake Certificate";

/// Echo apps `names`, one pod each.
fn apps(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| echo_app(n, 1))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// An Ingress backend: Service `svc` port 80, or `svc:NAME` for the port named NAME.
fn backend(svc: &str) -> String {
    match svc.split_once(':') {
        Some((name, port)) => format!("{{service: {{name: {name}, port: {{name: {port}}}}}}}"),
        None => format!("{{service: {{name: {svc}, port: {{number: 80}}}}}}"),
    }
}

/// A rule for `host` ("" for none) with `paths` as (path, pathType, backend as in
/// [`backend`]); it goes under `spec.rules`.
fn rule(host: &str, paths: &[(&str, &str, &str)]) -> String {
    let mut s = if host.is_empty() {
        "  - http:\n".to_owned()
    } else {
        format!("  - host: '{host}'\n    http:\n")
    };
    s.push_str("      paths:\n");
    for (path, ty, svc) in paths {
        s.push_str(&format!(
            "      - {{path: '{path}', pathType: {ty}, backend: {}}}\n",
            backend(svc)
        ));
    }
    s
}

/// An Ingress `name` with `annotations` (a key without `/` gets ingress-nginx's prefix) and
/// `spec` (lines indented under `spec:`), followed by a document separator.
fn ingress(name: &str, annotations: &[(&str, &str)], spec: &str) -> String {
    let mut meta = format!("  name: {name}\n");
    if !annotations.is_empty() {
        meta.push_str("  annotations:\n");
        for (key, value) in annotations {
            let key = if key.contains('/') {
                key.to_string()
            } else {
                format!("nginx.ingress.kubernetes.io/{key}")
            };
            meta.push_str(&format!("    {key}: '{value}'\n"));
        }
    }
    format!("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n{meta}spec:\n{spec}---\n")
}

/// An Ingress `name` with `annotations` and `rules` (from [`rule`]).
fn ing(name: &str, annotations: &[(&str, &str)], rules: &[String]) -> String {
    ingress(name, annotations, &format!("  rules:\n{}", rules.concat()))
}

/// `spec.tls` lines: one entry per (host, secret).
fn tls(entries: &[(&str, &str)]) -> String {
    let mut s = "  tls:\n".to_owned();
    for (host, secret) in entries {
        s.push_str(&format!(
            "  - {{hosts: ['{host}'], secretName: {secret}}}\n"
        ));
    }
    s
}

/// A response as curl saw it.
struct Answer {
    code: u16,
    /// `1.1`, `2`, ...
    version: String,
    /// The last header block, names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The echo's field `key` (`headers.x-y` for a request header).
    fn echo(&self, key: &str) -> Option<String> {
        field(&self.body, key)
    }

    /// The Deployment whose pod answered: the echo's `pod` without its two hash suffixes.
    fn app(&self) -> Option<String> {
        let pod = self.echo("pod")?;
        let mut parts = pod.rsplitn(3, '-');
        let (_, _, name) = (parts.next()?, parts.next()?, parts.next()?);
        Some(name.to_owned())
    }
}

/// The port of `addr`.
fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

/// `curl` to the ingress with `args`: plain HTTP with `Host: host`, or (`tls`) HTTPS to
/// `host` resolved to the ingress, so `host` is both the SNI name and (unless `args` set
/// one) the Host header. An empty `host` sends to the bare address. Without `--cacert` in
/// `args` the certificate is not checked.
fn send(k: &Knet, tls: bool, host: &str, path: &str, args: &[&str]) -> anyhow::Result<Answer> {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sS",
        "-m",
        "10",
        "-D",
        "-",
        "-w",
        "\n%{http_code} %{http_version}",
    ]);
    let own_host = args
        .iter()
        .any(|a| a.to_ascii_lowercase().starts_with("host:"));
    if !host.is_empty() && !own_host {
        cmd.args(["-H", &format!("Host: {host}")]);
    }
    let url = if !tls {
        format!("http://{}{path}", k.http)
    } else if host.is_empty() {
        format!("https://{}{path}", k.https)
    } else {
        let p = port(&k.https);
        cmd.args(["--resolve", &format!("{host}:{p}:127.0.0.1")]);
        format!("https://{host}:{p}{path}")
    };
    if tls && !args.contains(&"--cacert") {
        cmd.arg("-k");
    }
    let out = e2e::run_ok(cmd.args(args).arg(url))?;
    let (rest, status) = out.rsplit_once('\n').unwrap_or((&out, "0 0"));
    let (code, version) = status.trim().split_once(' ').unwrap_or((status, ""));
    let (headers, body) = headers_and_body(rest);
    Ok(Answer {
        code: code.parse()?,
        version: version.to_owned(),
        headers,
        body,
    })
}

/// A TLS Secret `secret` for `host` (the tutorial's `openssl req`), and Ingress `name` sending
/// `host/` to `svc` over it; the certificate's path.
fn tls_host(k: &Knet, name: &str, host: &str, secret: &str, svc: &str) -> anyhow::Result<String> {
    let crt = tls_secret(k, k.dir.path(), host, secret)?;
    apply(
        k,
        "ing.yaml",
        &ingress(
            name,
            &[],
            &format!(
                "{}  rules:\n{}",
                tls(&[(host, secret)]),
                rule(host, &[("/", "Prefix", svc)])
            ),
        ),
    )?;
    Ok(crt)
}

/// Plain HTTP `GET path` with `Host: host`.
fn get(k: &Knet, host: &str, path: &str) -> anyhow::Result<Answer> {
    send(k, false, host, path, &[])
}

/// Waits until plain HTTP `GET host path` answers `code`.
fn wait_code(k: &Knet, host: &str, path: &str, code: u16) -> anyhow::Result<Answer> {
    eventually(WAIT, || {
        let r = get(k, host, path)?;
        Ok((r.code == code).then_some(r))
    })
    .map_err(|e| e.context(format!("waiting for {code} from {host}{path}")))
}

/// Waits until plain HTTP `GET host path` is answered by Deployment `app`.
fn wait_app(k: &Knet, host: &str, path: &str, app: &str) -> anyhow::Result<Answer> {
    eventually(WAIT, || {
        let r = get(k, host, path)?;
        Ok((r.app().as_deref() == Some(app)).then_some(r))
    })
    .map_err(|e| e.context(format!("waiting for {app} to answer {host}{path}")))
}

/// Checks where plain HTTP `GET`s go: each (host, path, want) is a 200 from Deployment `want`,
/// or a 404 for `None`. Waits first until every request meant to succeed gets a 200 (from
/// anyone), then reports every mismatch at once.
fn routes(k: &Knet, cases: &[(&str, &str, Option<&str>)]) -> anyhow::Result<()> {
    for (host, path, want) in cases {
        if want.is_some() {
            wait_code(k, host, path, 200)?;
        }
    }
    let mut wrong = Vec::new();
    for (host, path, want) in cases {
        let r = get(k, host, path)?;
        let got = (r.code, r.app());
        let expected = match want {
            Some(app) => (200, Some(app.to_string())),
            None => (404, None),
        };
        if got != expected {
            wrong.push(format!("{host}{path}: got {got:?}, want {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    Ok(())
}

/// Makes a self-signed certificate for `cn` in `dir` and a TLS Secret `secret` of it; returns
/// the certificate's path (to trust it with `--cacert`).
fn tls_secret(k: &Knet, dir: &std::path::Path, cn: &str, secret: &str) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let (crt, key) = self_signed(dir, cn)?;
    let out = k.kubectl(&[
        "create",
        "secret",
        "tls",
        secret,
        "--key",
        &key,
        "--cert",
        &crt,
        "--dry-run=client",
        "-o",
        "yaml",
    ])?;
    apply(k, &format!("secret-{secret}-{cn}.yaml"), &out)?;
    Ok(crt)
}

/// What `curl -v` says about the certificate presented for SNI `host` (subject and issuer
/// lines), not checking it.
fn certificate(k: &Knet, host: &str) -> anyhow::Result<String> {
    let p = port(&k.https);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-k",
            "-v",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "--resolve",
        ])
        .arg(format!("{host}:{p}:127.0.0.1"))
        .arg(format!("https://{host}:{p}/"))
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    Ok(err
        .lines()
        .filter(|l| l.contains("subject:") || l.contains("issuer:"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Whether HTTPS to SNI `host` presents a certificate that `ca` verifies.
fn verifies(k: &Knet, host: &str, ca: &str) -> bool {
    send(k, true, host, "/", &["--cacert", ca]).is_ok()
}

/// The address in Ingress `name`'s status ("" when none).
fn address(k: &Knet, name: &str) -> anyhow::Result<String> {
    k.kubectl(&[
        "get",
        "ingress",
        name,
        "-o",
        "jsonpath={.status.loadBalancer.ingress[*].ip}",
    ])
}

/// Waits until the clock is past the second Ingress `name` was created in, so that the next
/// object is strictly younger (creation timestamps have whole seconds).
fn after_creation_of(k: &Knet, name: &str) -> anyhow::Result<()> {
    let created = k.kubectl(&[
        "get",
        "ingress",
        name,
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ])?;
    anyhow::ensure!(created.ends_with('Z'), "creationTimestamp {created:?}");
    eventually(Duration::from_secs(5), || {
        let now =
            e2e::run_ok(std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))?;
        Ok((now.trim() > created.as_str()).then_some(()))
    })
}

// ---------------------------------------------------------------------------------------------
// A. Path matching

/// Cases 1-3, 5-7, 9-11 and 17 (A): the conformance suite's path rules. Exact is literal and
/// case-sensitive and ignores the query string; Prefix matches whole path elements, is
/// case-sensitive, and the longest prefix wins; a trailing slash in a Prefix rule is ignored.
#[test]
fn conformance_path_rules_exact_prefix_longest_and_trailing_slash() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &apps(&[
            "foo-exact",
            "foo-prefix",
            "aaa-slash-bbb-prefix",
            "aaa-prefix",
            "aaa-slash-bbb-slash-prefix",
            "foo-slash-exact",
        ]),
    )?;
    apply(
        &k,
        "ing.yaml",
        &ing(
            "path-rules",
            &[],
            &[
                rule("exact-path-rules", &[("/foo", "Exact", "foo-exact")]),
                rule(
                    "prefix-path-rules",
                    &[
                        ("/foo", "Prefix", "foo-prefix"),
                        ("/aaa/bbb", "Prefix", "aaa-slash-bbb-prefix"),
                        ("/aaa", "Prefix", "aaa-prefix"),
                    ],
                ),
                rule(
                    "mixed-path-rules",
                    &[
                        ("/foo", "Prefix", "foo-prefix"),
                        ("/foo", "Exact", "foo-exact"),
                    ],
                ),
                rule(
                    "trailing-slash-path-rules",
                    &[
                        ("/aaa/bbb/", "Prefix", "aaa-slash-bbb-slash-prefix"),
                        ("/foo/", "Exact", "foo-slash-exact"),
                    ],
                ),
            ],
        ),
    )?;
    routes(
        &k,
        &[
            // 1
            ("exact-path-rules", "/foo", Some("foo-exact")),
            // 2
            ("exact-path-rules", "/foo/", None),
            // 3
            ("exact-path-rules", "/FOO", None),
            ("exact-path-rules", "/bar", None),
            // 5
            ("prefix-path-rules", "/foo", Some("foo-prefix")),
            ("prefix-path-rules", "/foo/", Some("foo-prefix")),
            // 6
            ("prefix-path-rules", "/FOO", None),
            // 7
            (
                "prefix-path-rules",
                "/aaa/bbb",
                Some("aaa-slash-bbb-prefix"),
            ),
            // 9
            ("prefix-path-rules", "/aaa/ccc", Some("aaa-prefix")),
            // 10
            ("prefix-path-rules", "/aaaccc", None),
            // 11
            (
                "trailing-slash-path-rules",
                "/aaa/bbb",
                Some("aaa-slash-bbb-slash-prefix"),
            ),
            (
                "trailing-slash-path-rules",
                "/aaa/bbb/",
                Some("aaa-slash-bbb-slash-prefix"),
            ),
            // 17
            ("exact-path-rules", "/foo?x=1", Some("foo-exact")),
        ],
    )?;
    // 17: the upstream gets the query string.
    let r = get(&k, "exact-path-rules", "/foo?x=1")?;
    assert_eq!(r.echo("path").as_deref(), Some("/foo?x=1"), "{}", r.body);
    Ok(())
}

/// Cases 13-15 (A): the spec's path table. A Prefix's last element must match whole in both
/// directions; nested prefixes `/`, `/aaa`, `/aaa/bbb` each take their own sub-paths; a path
/// no rule matches gets the built-in 404.
#[test]
fn prefixes_match_whole_elements_nest_and_fall_through_to_404() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["svc-1", "svc-2", "svc-3"]))?;
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}",
            ing(
                "element-bb",
                &[],
                &[rule("element-a", &[("/aaa/bb", "Prefix", "svc-1")])]
            ),
            ing(
                "element-bbb",
                &[],
                &[rule("element-b", &[("/aaa/bbb", "Prefix", "svc-2")])]
            ),
            ing(
                "nested",
                &[],
                &[
                    rule(
                        "nested",
                        &[
                            ("/", "Prefix", "svc-1"),
                            ("/aaa", "Prefix", "svc-2"),
                            ("/aaa/bbb", "Prefix", "svc-3"),
                        ],
                    ),
                    rule("root-only", &[("/", "Prefix", "svc-1")]),
                    rule("no-match", &[("/aaa", "Prefix", "svc-1")]),
                ]
            ),
        ),
    )?;
    routes(
        &k,
        &[
            // 13
            ("element-a", "/aaa/bb", Some("svc-1")),
            ("element-a", "/aaa/bb/c", Some("svc-1")),
            ("element-a", "/aaa/bbb", None),
            ("element-b", "/aaa/bbb", Some("svc-2")),
            ("element-b", "/aaa/bbbxyz", None),
            // 14
            ("nested", "/ccc", Some("svc-1")),
            ("nested", "/aaa/ccc", Some("svc-2")),
            ("nested", "/aaa/bbb", Some("svc-3")),
            ("root-only", "/x/y/z", Some("svc-1")),
            // 15
            ("no-match", "/aaa", Some("svc-1")),
            ("no-match", "/ccc", None),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// B. Precedence

/// Cases 18, 19 and 21 (B): the longest path wins whatever the declaration order; the paths
/// of several Ingresses for one host are ranked together (Exact before Prefix at equal
/// length); for the same host and path, and for two TLS sections of one host, the oldest
/// Ingress wins.
#[test]
fn precedence_by_length_across_ingresses_and_oldest_wins_conflicts() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &apps(&[
            "aaa-slash-bbb-prefix",
            "aaa-prefix",
            "exact-root",
            "prefix-root",
            "exact-foo",
            "prefix-foo",
            "oldest",
            "newest",
        ]),
    )?;
    let one = |name: &str, path: &str, ty: &str, svc: &str| {
        ing(name, &[], &[rule("mixed.path", &[(path, ty, svc)])])
    };
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}{}{}",
            ing(
                "reversed",
                &[],
                &[rule(
                    "prefix-path-rules",
                    &[
                        ("/aaa", "Prefix", "aaa-prefix"),
                        ("/aaa/bbb", "Prefix", "aaa-slash-bbb-prefix"),
                    ],
                )]
            ),
            one("mixed-a", "/", "Exact", "exact-root"),
            one("mixed-b", "/", "Prefix", "prefix-root"),
            one("mixed-c", "/foo", "Exact", "exact-foo"),
            one("mixed-d", "/foo", "Prefix", "prefix-foo"),
        ),
    )?;
    routes(
        &k,
        &[
            // 18
            (
                "prefix-path-rules",
                "/aaa/bbb/x",
                Some("aaa-slash-bbb-prefix"),
            ),
            ("prefix-path-rules", "/aaa/x", Some("aaa-prefix")),
            // 19
            ("mixed.path", "/", Some("exact-root")),
            ("mixed.path", "/bar", Some("prefix-root")),
            ("mixed.path", "/foo", Some("exact-foo")),
            ("mixed.path", "/foo/bar", Some("prefix-foo")),
            ("mixed.path", "/foobar", Some("prefix-root")),
        ],
    )?;

    // 21: the older Ingress is named so that name order alone would pick the younger one.
    let dir = k.dir.path().to_owned();
    let old_crt = tls_secret(&k, &dir.join("old"), "conflict.example", "conflict-old")?;
    let new_crt = tls_secret(&k, &dir.join("new"), "conflict.example", "conflict-new")?;
    let conflict = |name: &str, svc: &str, secret: &str| {
        ingress(
            name,
            &[],
            &format!(
                "{}  rules:\n{}",
                tls(&[("conflict.example", secret)]),
                rule("conflict.example", &[("/", "Prefix", svc)])
            ),
        )
    };
    apply(
        &k,
        "old.yaml",
        &conflict("zz-oldest", "oldest", "conflict-old"),
    )?;
    eventually(WAIT, || {
        let r = send(&k, true, "conflict.example", "/", &[])?;
        Ok((r.app().as_deref() == Some("oldest")).then_some(()))
    })?;
    after_creation_of(&k, "zz-oldest")?;
    apply(
        &k,
        "new.yaml",
        &conflict("aa-newest", "newest", "conflict-new"),
    )?;
    eventually(WAIT, || {
        Ok((!address(&k, "aa-newest")?.is_empty()).then_some(()))
    })?;
    // Once the younger one is in the table: the route and the certificate stay the oldest's.
    for _ in 0..5 {
        let r = send(&k, true, "conflict.example", "/", &[])?;
        assert_eq!(r.app().as_deref(), Some("oldest"), "{}", r.body);
    }
    assert!(verifies(&k, "conflict.example", &old_crt));
    assert!(!verifies(&k, "conflict.example", &new_crt));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// C. Host matching

/// Cases 22, 23, 25, 26 and 29 (C): the conformance suite's host rules (setup H). An exact
/// host matches and reaches the backend unchanged (its port given by name); other hosts get
/// 404; `*.foo.com` covers exactly one more label; the port in the Host header is ignored.
/// The Ingress turns `ssl-redirect` off: the catalogue sends these requests over plain HTTP,
/// which for a TLS host would otherwise be redirected (case 53).
#[test]
fn host_rules_exact_wildcard_of_one_label_and_port_ignored() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["wildcard-foo-com", "foo-bar-com"]))?;
    tls_secret(&k, k.dir.path(), "foo.bar.com", "foo-bar-com-tls")?;
    apply(
        &k,
        "ing.yaml",
        &ingress(
            "host-rules",
            &[("ssl-redirect", "false")],
            &format!(
                "{}  rules:\n{}{}",
                tls(&[("foo.bar.com", "foo-bar-com-tls")]),
                rule("*.foo.com", &[("/", "Prefix", "wildcard-foo-com")]),
                rule("foo.bar.com", &[("/", "Prefix", "foo-bar-com:http")]),
            ),
        ),
    )?;
    routes(
        &k,
        &[
            // 22
            ("foo.bar.com", "/", Some("foo-bar-com")),
            // The wildcard itself works.
            ("bar.foo.com", "/", Some("wildcard-foo-com")),
            // 23
            ("subdomain.bar.com", "/", None),
            // 25
            ("baz.bar.foo.com", "/", None),
            // 26
            ("foo.com", "/", None),
            // 29
            ("foo.bar.com:80", "/", Some("foo-bar-com")),
            ("bar.foo.com:8080", "/", Some("wildcard-foo-com")),
        ],
    )?;
    // 22: the Host header reaches the backend unchanged.
    let r = get(&k, "foo.bar.com", "/")?;
    assert_eq!(r.echo("host").as_deref(), Some("foo.bar.com"), "{}", r.body);
    Ok(())
}

/// Case 27 (C): a rule without a host catches every host the other rules do not name,
/// including a request to the bare address.
#[test]
fn a_rule_without_host_catches_every_other_host() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &apps(&["service1", "service2", "service3"]),
    )?;
    apply(
        &k,
        "ing.yaml",
        &ing(
            "name-virtual-host-ingress-no-third-host",
            &[],
            &[
                rule("first.bar.com", &[("/", "Prefix", "service1")]),
                rule("second.bar.com", &[("/", "Prefix", "service2")]),
                rule("", &[("/", "Prefix", "service3")]),
            ],
        ),
    )?;
    let bare = k.http.clone();
    routes(
        &k,
        &[
            ("first.bar.com", "/", Some("service1")),
            ("second.bar.com", "/", Some("service2")),
            ("other.example", "/", Some("service3")),
            (bare.as_str(), "/", Some("service3")),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// D. Default backend and unmatched requests

/// Case 30 (D): an Ingress with only `spec.defaultBackend` takes every request, whatever the
/// host, path and method; the answer is HTTP/1.1 with Content-Length, Content-Type and Date
/// (Server: `answers_name_their_server`); the upstream sees the same method, path, protocol
/// and User-Agent.
#[test]
fn an_ingress_with_only_a_default_backend_takes_every_request_unchanged() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["echo-service"]))?;
    apply(
        &k,
        "ing.yaml",
        &ingress(
            "default-backend",
            &[],
            &format!("  defaultBackend: {}\n", backend("echo-service")),
        ),
    )?;
    wait_app(&k, "my-host", "/", "echo-service")?;
    let bare = k.http.clone();
    let agent = "knet-conformance/1.0";
    for (method, host, path) in [
        ("GET", "my-host", "/"),
        ("GET", "my-host", "/sub-path"),
        ("POST", "some-host", "/"),
        ("PUT", bare.as_str(), "/resource"),
        ("DELETE", "some-host", "/resource"),
        ("PATCH", "my-host", "/resource"),
    ] {
        let r = send(&k, false, host, path, &["-X", method, "-A", agent])?;
        let what = format!("{method} {host}{path}: {:?} {}", r.headers, r.body);
        assert_eq!(r.code, 200, "{what}");
        assert_eq!(r.app().as_deref(), Some("echo-service"), "{what}");
        assert_eq!(r.version, "1.1", "{what}");
        // The Server header: see `answers_name_their_server`.
        for h in ["content-length", "content-type", "date"] {
            assert!(r.header(h).is_some(), "no {h}: {what}");
        }
        assert_eq!(r.echo("method").as_deref(), Some(method), "{what}");
        assert_eq!(r.echo("path").as_deref(), Some(path), "{what}");
        assert_eq!(r.echo("proto").as_deref(), Some("HTTP/1.1"), "{what}");
        assert_eq!(
            r.echo("headers.user-agent").as_deref(),
            Some(agent),
            "{what}"
        );
    }
    Ok(())
}

/// Case 30 (D): answers carry a `Server` header, as the conformance suite requires.
#[test]
fn answers_name_their_server() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["echo-service"]))?;
    apply(
        &k,
        "ing.yaml",
        &ingress(
            "default-backend",
            &[],
            &format!("  defaultBackend: {}\n", backend("echo-service")),
        ),
    )?;
    let r = wait_app(&k, "my-host", "/", "echo-service")?;
    assert!(r.header("server").is_some(), "{:?}", r.headers);
    Ok(())
}

/// Cases 31, 33 and 34 (D): with no Ingress and no default service, every request is a 404
/// (GET and POST, HTTP and HTTPS, with and without a Host, `/` and `/demo`); an Ingress's own
/// `defaultBackend` takes its host's unmatched paths; a non-Service (`resource`) backend
/// answers 404 while the other Ingresses serve.
#[test]
fn nothing_matching_is_404_an_ingress_default_takes_the_rest_and_resource_backends_404()
-> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    // 31
    let mut wrong = Vec::new();
    for method in ["GET", "POST"] {
        for tls in [false, true] {
            for host in ["", "foo.bar.com"] {
                for path in ["/", "/demo"] {
                    let r = send(&k, tls, host, path, &["-X", method])?;
                    if r.code != 404 {
                        wrong.push(format!("{method} tls={tls} {host:?}{path}: {}", r.code));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");

    apply(&k, "apps.yaml", &apps(&["svc-a", "svc-d", "svc-v"]))?;
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}",
            // 33
            ingress(
                "with-default",
                &[],
                &format!(
                    "  defaultBackend: {}\n  rules:\n{}",
                    backend("svc-d"),
                    rule("h.example", &[("/a", "Prefix", "svc-a")])
                ),
            ),
            // 34
            ingress(
                "nil-backend",
                &[],
                "  rules:\n  - host: nilbackend.svc.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: static-assets}}}\n",
            ),
            ing(
                "valid",
                &[],
                &[rule("valid.svc.com", &[("/", "Prefix", "svc-v")])]
            ),
        ),
    )?;
    routes(
        &k,
        &[
            ("h.example", "/a", Some("svc-a")),
            ("h.example", "/a/b", Some("svc-a")),
            ("h.example", "/zzz", Some("svc-d")),
            ("valid.svc.com", "/", Some("svc-v")),
            ("nilbackend.svc.com", "/", None),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// E. Missing services and endpoints

/// Cases 35 and 37 (E): a backend Service that does not exist gives 503; a Deployment scaled
/// 0 → 2 → 0 behind an Ingress gives 503, then 200 from both pods, then 503 again, without
/// touching the Ingress.
#[test]
fn missing_services_give_503_and_endpoint_changes_apply_live() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "scaling.yaml", &echo_app("scaling", 0))?;
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}",
            ing(
                "nonexistent",
                &[],
                &[rule(
                    "nonexistent.svc.com",
                    &[("/", "Prefix", "nonexistent-svc")]
                )]
            ),
            ing(
                "scaling",
                &[],
                &[rule("scaling.foo.com", &[("/", "Prefix", "scaling")])]
            ),
        ),
    )?;
    // 35
    wait_code(&k, "nonexistent.svc.com", "/", 503)?;
    // 37
    wait_code(&k, "scaling.foo.com", "/", 503)?;
    k.kubectl(&["scale", "deploy", "scaling", "--replicas", "2"])?;
    wait_code(&k, "scaling.foo.com", "/", 200)?;
    let pods = eventually(WAIT, || {
        let mut pods = BTreeSet::new();
        for _ in 0..6 {
            let r = get(&k, "scaling.foo.com", "/")?;
            anyhow::ensure!(r.code == 200, "{} {}", r.code, r.body);
            pods.insert(r.echo("pod").unwrap_or_default());
        }
        Ok((pods.len() == 2).then_some(pods))
    })?;
    assert!(pods.iter().all(|p| p.starts_with("scaling-")), "{pods:?}");
    k.kubectl(&["scale", "deploy", "scaling", "--replicas", "0"])?;
    wait_code(&k, "scaling.foo.com", "/", 503)?;
    Ok(())
}

/// Case 38 (E): the `default-backend` annotation names a Service that serves when the rule's
/// backend has no endpoints, and it learns why through ingress-nginx's custom-error headers.
#[test]
fn default_backend_annotation_serves_for_a_dead_backend_with_custom_error_headers()
-> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &format!(
            "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: invalid}}\nspec:\n  selector: {{app: nothing-has-this}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n",
            echo_app("echo-svc", 1)
        ),
    )?;
    apply(
        &k,
        "ing.yaml",
        &ing(
            "with-fallback",
            &[("default-backend", "echo-svc")],
            &[rule(
                "default-backend.example",
                &[("/", "Prefix", "invalid")],
            )],
        ),
    )?;
    let r = eventually(WAIT, || {
        let r = send(
            &k,
            false,
            "default-backend.example",
            "/alma/armud",
            &["-H", "X-Request-ID: something-unique"],
        )?;
        Ok((r.code == 200).then_some(r))
    })?;
    assert_eq!(r.app().as_deref(), Some("echo-svc"), "{}", r.body);
    let h = |n: &str| r.echo(&format!("headers.{n}"));
    assert_eq!(h("x-code").as_deref(), Some("503"), "{}", r.body);
    assert_eq!(h("x-ingress-name").as_deref(), Some("with-fallback"));
    assert_eq!(h("x-service-name").as_deref(), Some("invalid"));
    assert_eq!(h("x-request-id").as_deref(), Some("something-unique"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// F. IngressClass selection

/// Cases 39, 41, 42 and 43 (F): an unknown class is neither served nor given a status; a
/// class-less Ingress gets the default class `knet` from the API server and is served; with
/// no default class of ours a class-less Ingress is ignored, and it is served again once
/// `knet` is the default (knet's counterpart of `--watch-ingress-without-class`); with two
/// default classes a class-less Ingress is refused; the legacy class annotation is honoured
/// for our class and ignored for another.
#[test]
fn ingress_class_by_field_annotation_and_default_class() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    let on = |host: &str| vec![rule(host, &[("/", "Prefix", "s1")])];
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}{}",
            ingress(
                "invalid-class",
                &[],
                &format!(
                    "  ingressClassName: some-invalid-class-name\n  rules:\n{}",
                    on("ingress-class").concat()
                ),
            ),
            ing(
                "annotated-ours",
                &[("kubernetes.io/ingress.class", "knet")],
                &on("annotated.example")
            ),
            ing(
                "annotated-other",
                &[("kubernetes.io/ingress.class", "testclass")],
                &on("testclass.example")
            ),
            ing("classless", &[], &on("classless.example")),
        ),
    )?;
    // 43, 42
    wait_app(&k, "annotated.example", "/", "s1")?;
    wait_app(&k, "classless.example", "/", "s1")?;
    let class = |name: &str| {
        k.kubectl(&[
            "get",
            "ingress",
            name,
            "-o",
            "jsonpath={.spec.ingressClassName}",
        ])
    };
    assert_eq!(class("classless")?, "knet");
    eventually(WAIT, || {
        Ok(
            (address(&k, "annotated-ours")? == "127.0.0.1"
                && !address(&k, "classless")?.is_empty())
            .then_some(()),
        )
    })?;
    // 43: another class's annotation; 39: an unknown class name.
    assert_eq!(get(&k, "testclass.example", "/")?.code, 404);
    assert_eq!(get(&k, "ingress-class", "/")?.code, 404);
    assert_eq!(address(&k, "invalid-class")?, "");
    assert_eq!(address(&k, "annotated-other")?, "");

    // 41: no default class of ours: a class-less Ingress stays class-less and is ignored
    // (checked once a later Ingress of the same apply is served).
    k.kubectl(&[
        "annotate",
        "ingressclass",
        "knet",
        "ingressclass.kubernetes.io/is-default-class=false",
        "--overwrite",
    ])?;
    apply(
        &k,
        "classless2.yaml",
        &format!(
            "{}{}",
            ing("classless2", &[], &on("classless2.example")),
            ingress(
                "marker",
                &[],
                &format!(
                    "  ingressClassName: knet\n  rules:\n{}",
                    on("marker.example").concat()
                ),
            ),
        ),
    )?;
    assert_eq!(class("classless2")?, "");
    wait_app(&k, "marker.example", "/", "s1")?;
    assert_eq!(get(&k, "classless2.example", "/")?.code, 404);
    assert_eq!(address(&k, "classless2")?, "");
    // knet the default again: class-less Ingresses are its own.
    k.kubectl(&[
        "annotate",
        "ingressclass",
        "knet",
        "ingressclass.kubernetes.io/is-default-class=true",
        "--overwrite",
    ])?;
    wait_app(&k, "classless2.example", "/", "s1")?;

    // 42: two default classes: a class-less Ingress is refused.
    apply(
        &k,
        "second-default.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: second-default\n  annotations: {ingressclass.kubernetes.io/is-default-class: 'true'}\nspec: {controller: example.com/other}\n",
    )?;
    let path = k.dir.path().join("classless3.yaml");
    std::fs::write(&path, ing("classless3", &[], &on("classless3.example")))?;
    let err = k.kubectl_fails(&["apply", "-f", &path.display().to_string()])?;
    assert!(err.contains("IngressClass"), "{err}");
    k.kubectl_fails(&["get", "ingress", "classless3"])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// G. TLS and SNI

/// Cases 45, 46, 47 and 51 (G): a TLS host's certificate verifies and routes (setup H);
/// several TLS hosts share the port by SNI; SNI picks the certificate while Host picks the
/// route; HTTPS answers carry HSTS, plain ones do not.
#[test]
fn tls_hosts_share_the_port_by_sni_host_picks_the_route_and_hsts() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &apps(&["wildcard-foo-com", "foo-bar-com", "svc-a", "svc-b"]),
    )?;
    let dir = k.dir.path().to_owned();
    let foo_crt = tls_secret(&k, &dir, "foo.bar.com", "foo-bar-com-tls")?;
    let a_crt = tls_secret(&k, &dir, "a.example", "secret-a")?;
    let b_crt = tls_secret(&k, &dir, "b.example", "secret-b")?;
    let with_tls = |name: &str, entries: &[(&str, &str)], rules: &[String]| {
        ingress(
            name,
            &[],
            &format!("{}  rules:\n{}", tls(entries), rules.concat()),
        )
    };
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}",
            with_tls(
                "host-rules",
                &[("foo.bar.com", "foo-bar-com-tls")],
                &[
                    rule("*.foo.com", &[("/", "Prefix", "wildcard-foo-com")]),
                    rule("foo.bar.com", &[("/", "Prefix", "foo-bar-com:http")]),
                ]
            ),
            with_tls(
                "tls-a",
                &[("a.example", "secret-a")],
                &[
                    rule("a.example", &[("/", "Prefix", "svc-a")]),
                    rule("b.example", &[("/", "Prefix", "svc-b")]),
                ]
            ),
            with_tls(
                "tls-b",
                &[("b.example", "secret-b")],
                &[rule("b.example", &[("/b-only", "Prefix", "svc-b")])]
            ),
        ),
    )?;
    // 45, over HTTP/1.1 (HTTP/2: `http2_clients_keep_the_requested_host_upstream`).
    let r = eventually(WAIT, || {
        Ok(send(
            &k,
            true,
            "foo.bar.com",
            "/",
            &["--cacert", &foo_crt, "--http1.1"],
        )
        .ok()
        .filter(|r| r.code == 200))
    })?;
    assert_eq!(r.app().as_deref(), Some("foo-bar-com"), "{}", r.body);
    assert_eq!(r.echo("host").as_deref(), Some("foo.bar.com"), "{}", r.body);
    // 46
    for (host, crt, other, app) in [
        ("a.example", a_crt.as_str(), b_crt.as_str(), "svc-a"),
        ("b.example", b_crt.as_str(), a_crt.as_str(), "svc-b"),
    ] {
        let r = eventually(WAIT, || {
            Ok(send(&k, true, host, "/", &["--cacert", crt])
                .ok()
                .filter(|r| r.code == 200))
        })?;
        assert_eq!(r.app().as_deref(), Some(app), "{host}: {}", r.body);
        assert!(
            !verifies(&k, host, other),
            "{host} verified with the other cert"
        );
    }
    // 47: SNI a.example (its certificate verifies), Host b.example (its route).
    let r = send(
        &k,
        true,
        "a.example",
        "/",
        &["--cacert", &a_crt, "-H", "Host: b.example"],
    )?;
    assert_eq!(r.app().as_deref(), Some("svc-b"), "{}", r.body);
    // 51
    let r = send(&k, true, "foo.bar.com", "/", &["--cacert", &foo_crt])?;
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    let r = wait_app(&k, "bar.foo.com", "/", "wildcard-foo-com")?;
    assert_eq!(r.header("strict-transport-security"), None);
    Ok(())
}

/// Case 49 (G): a Secret whose certificate does not cover the Ingress's TLS host gives way to
/// the fallback certificate; the host is still routed.
#[test]
fn a_secret_not_covering_its_host_gives_way_to_the_fallback_certificate() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["svc-a"]))?;
    tls_secret(&k, k.dir.path(), "not.foo", "not-foo")?;
    apply(
        &k,
        "ing.yaml",
        &ingress(
            "mismatch",
            &[],
            &format!(
                "{}  rules:\n{}",
                tls(&[("foo", "not-foo")]),
                rule("foo", &[("/", "Prefix", "svc-a")])
            ),
        ),
    )?;
    let r = eventually(WAIT, || {
        let r = send(&k, true, "foo", "/", &[])?;
        Ok((r.code == 200).then_some(r))
    })?;
    assert_eq!(r.app().as_deref(), Some("svc-a"), "{}", r.body);
    let seen = certificate(&k, "foo")?;
    assert!(seen.contains(FAKE_CERT), "{seen}");
    Ok(())
}

/// Case 45 (G) over HTTP/2, which curl negotiates by ALPN: the upstream still gets the
/// requested host as its Host header.
#[test]
fn http2_clients_keep_the_requested_host_upstream() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["foo-bar-com"]))?;
    let crt = tls_host(
        &k,
        "h2",
        "foo.bar.com",
        "foo-bar-com-tls",
        "foo-bar-com:http",
    )?;
    let r = eventually(WAIT, || {
        Ok(send(
            &k,
            true,
            "foo.bar.com",
            "/x",
            &["--cacert", &crt, "--http2"],
        )
        .ok()
        .filter(|r| r.code == 200))
    })?;
    assert_eq!(r.version, "2");
    assert_eq!(r.app().as_deref(), Some("foo-bar-com"), "{}", r.body);
    assert_eq!(r.echo("host").as_deref(), Some("foo.bar.com"), "{}", r.body);
    assert_eq!(r.echo("path").as_deref(), Some("/x"), "{}", r.body);
    Ok(())
}

/// Case 50 (G): certificates follow the objects without a restart: `tls` added to a served
/// Ingress brings its certificate, an updated Secret brings the new one, and removing `tls`
/// removes the host's HTTPS configuration (fallback certificate, no more redirect).
#[test]
fn certificates_follow_tls_and_secret_changes_without_restart() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    let plain = ing(
        "lifecycle",
        &[],
        &[rule("lifecycle.example", &[("/", "Prefix", "s1")])],
    );
    apply(&k, "ing.yaml", &plain)?;
    wait_app(&k, "lifecycle.example", "/", "s1")?;
    let seen = certificate(&k, "lifecycle.example")?;
    assert!(seen.contains(FAKE_CERT), "{seen}");
    let dir = k.dir.path().to_owned();
    let first = tls_secret(&k, &dir.join("1"), "lifecycle.example", "lifecycle")?;
    let with_tls = ingress(
        "lifecycle",
        &[],
        &format!(
            "{}  rules:\n{}",
            tls(&[("lifecycle.example", "lifecycle")]),
            rule("lifecycle.example", &[("/", "Prefix", "s1")])
        ),
    );
    apply(&k, "ing.yaml", &with_tls)?;
    eventually(WAIT, || {
        Ok(verifies(&k, "lifecycle.example", &first).then_some(()))
    })?;
    wait_code(&k, "lifecycle.example", "/", 308)?;
    // The Secret updated in place.
    let second = tls_secret(&k, &dir.join("2"), "lifecycle.example", "lifecycle")?;
    eventually(WAIT, || {
        Ok(verifies(&k, "lifecycle.example", &second).then_some(()))
    })?;
    assert!(!verifies(&k, "lifecycle.example", &first));
    // `tls` removed.
    apply(&k, "ing.yaml", &plain)?;
    let seen = eventually(WAIT, || {
        let seen = certificate(&k, "lifecycle.example")?;
        Ok(seen.contains(FAKE_CERT).then_some(seen))
    })?;
    assert!(!seen.contains("CN=lifecycle.example"), "{seen}");
    wait_app(&k, "lifecycle.example", "/", "s1")?;
    Ok(())
}

/// Case 50 (G): a deleted TLS Secret takes its certificate with it; the host gets the
/// fallback certificate.
#[test]
fn a_deleted_tls_secret_gives_way_to_the_fallback_certificate() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    let crt = tls_host(&k, "deleted", "deleted.example", "deleted", "s1")?;
    eventually(WAIT, || {
        Ok(verifies(&k, "deleted.example", &crt).then_some(()))
    })?;
    k.kubectl(&["delete", "secret", "deleted"])?;
    let seen = eventually(WAIT, || {
        let seen = certificate(&k, "deleted.example")?;
        Ok(seen.contains(FAKE_CERT).then_some(seen))
    })?;
    assert!(!seen.contains("CN=deleted.example"), "{seen}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// H. HTTP→HTTPS redirect

/// Cases 53, 54 and 55 (H): plain HTTP to a TLS host is redirected with 308 to HTTPS (knet's
/// HTTPS port in the Location; path and query kept, one trailing `/` dropped unless
/// `preserve-trailing-slash`); `ssl-redirect: "false"` opts out; `force-ssl-redirect`
/// redirects a host without TLS.
#[test]
fn plain_http_to_tls_hosts_is_redirected_with_308_unless_opted_out() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    let dir = k.dir.path().to_owned();
    let redirect_crt = tls_secret(&k, &dir, "redirect.com", "redirect")?;
    tls_secret(&k, &dir, "preserve.com", "preserve")?;
    tls_secret(&k, &dir, "optout.com", "optout")?;
    let with_tls = |name: &str, host: &str, secret: &str, annotations: &[(&str, &str)]| {
        ingress(
            name,
            annotations,
            &format!(
                "{}  rules:\n{}",
                tls(&[(host, secret)]),
                rule(host, &[("/", "Prefix", "s1")])
            ),
        )
    };
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}{}",
            with_tls("redirect", "redirect.com", "redirect", &[]),
            with_tls(
                "preserve",
                "preserve.com",
                "preserve",
                &[("preserve-trailing-slash", "true")]
            ),
            with_tls(
                "optout",
                "optout.com",
                "optout",
                &[("ssl-redirect", "false")]
            ),
            ing(
                "force",
                &[("force-ssl-redirect", "true")],
                &[rule("forcesslredirect.bar.com", &[("/", "Prefix", "s1")])]
            ),
        ),
    )?;
    let https = format!("https://{{}}:{}", port(&k.https));
    let at = |host: &str| https.replace("{}", host);
    // 53
    let r = wait_code(&k, "redirect.com", "/", 308)?;
    assert_eq!(r.header("location"), Some(at("redirect.com").as_str()));
    let r = get(&k, "redirect.com", "/x/y?z=1")?;
    assert_eq!(r.code, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/x/y?z=1", at("redirect.com")).as_str())
    );
    let r = send(&k, false, "redirect.com", "/form", &["-d", "a=1"])?;
    assert_eq!(r.code, 308, "a POST is redirected too");
    let r = wait_code(&k, "preserve.com", "/", 308)?;
    assert_eq!(
        r.header("location"),
        Some(format!("{}/", at("preserve.com")).as_str())
    );
    // The HTTPS side serves.
    let r = send(&k, true, "redirect.com", "/", &["--cacert", &redirect_crt])?;
    assert_eq!(r.app().as_deref(), Some("s1"), "{}", r.body);
    // 54
    wait_app(&k, "optout.com", "/", "s1")?;
    // 55
    let r = wait_code(&k, "forcesslredirect.bar.com", "/", 308)?;
    assert_eq!(
        r.header("location"),
        Some(at("forcesslredirect.bar.com").as_str())
    );
    Ok(())
}

/// Case 57 (H): with `--use-forwarded-headers`, the redirect goes to the host the client's
/// `X-Forwarded-Host` names, its port dropped (knet's HTTPS port is added as for every
/// redirect).
#[test]
fn trusted_forwarded_host_names_the_redirect_target() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&["--use-forwarded-headers"])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    tls_host(&k, "h", "h.example", "h", "s1")?;
    wait_code(&k, "h.example", "/", 308)?;
    let r = send(
        &k,
        false,
        "h.example",
        "/",
        &["-H", "X-Forwarded-Host: example.com:80"],
    )?;
    assert_eq!(r.code, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://example.com:{}", port(&k.https)).as_str())
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// I. rewrite-target, use-regex

/// Cases 58, 59, 61, 62 and 63 (I): capture-group rewrites; a regex path outranks a shorter
/// literal one it matches; regex mode is host-wide and case-insensitive; paths of other
/// Ingresses of a rewriting host keep their URI.
#[test]
fn rewrite_target_and_regex_paths() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1", "svc-a", "svc-b"]))?;
    let regex = |target: &'static str| [("use-regex", "true"), ("rewrite-target", target)];
    apply(
        &k,
        "ing.yaml",
        &[
            // 58
            ing(
                "rewrite",
                &regex("/$2"),
                &[rule(
                    "rewrite.bar.com",
                    &[("/something(/|$)(.*)", "ImplementationSpecific", "s1")],
                )],
            ),
            // 59
            ing(
                "custom",
                &regex("/new/backend/$1"),
                &[rule(
                    "custom.example",
                    &[("/foo/bar/(.+)", "ImplementationSpecific", "s1")],
                )],
            ),
            // 61
            ing(
                "gotcha-literal",
                &[],
                &[rule(
                    "gotcha.example",
                    &[("/foo/bar/bar", "Prefix", "svc-a")],
                )],
            ),
            ing(
                "gotcha-regex",
                &regex("/new/backend"),
                &[rule(
                    "gotcha.example",
                    &[("/foo/bar/[a-z]{3}", "ImplementationSpecific", "svc-b")],
                )],
            ),
            // 62
            ing(
                "mode-literal",
                &[],
                &[rule("regex-mode.example", &[("/foo", "Prefix", "svc-a")])],
            ),
            ing(
                "mode-regex",
                &regex("/new/backend"),
                &[rule(
                    "regex-mode.example",
                    &[("/foo.+", "ImplementationSpecific", "svc-b")],
                )],
            ),
            // 63
            ing(
                "acme",
                &[],
                &[rule(
                    "acme.example",
                    &[("/.well-known/acme/challenge", "Prefix", "svc-a")],
                )],
            ),
            ing(
                "acme-rest",
                &[("rewrite-target", "/new/backend")],
                &[rule("acme.example", &[("/", "Prefix", "svc-b")])],
            ),
        ]
        .concat(),
    )?;
    let mut wrong = Vec::new();
    for (host, path, app, upstream) in [
        ("rewrite.bar.com", "/something", "s1", "/"),
        ("rewrite.bar.com", "/something/", "s1", "/"),
        ("rewrite.bar.com", "/something/new", "s1", "/new"),
        ("custom.example", "/foo/bar/bar", "s1", "/new/backend/bar"),
        ("gotcha.example", "/foo/bar/bar", "svc-b", "/new/backend"),
        ("regex-mode.example", "/foo", "svc-a", "/foo"),
        ("regex-mode.example", "/foo/bar", "svc-b", "/new/backend"),
        ("regex-mode.example", "/FOO", "svc-a", "/FOO"),
        (
            "acme.example",
            "/.well-known/acme/challenge",
            "svc-a",
            "/.well-known/acme/challenge",
        ),
        ("acme.example", "/x", "svc-b", "/new/backend"),
    ] {
        wait_code(&k, host, path, 200)?;
        let r = get(&k, host, path)?;
        let got = (r.app(), r.echo("path"));
        if got != (Some(app.to_owned()), Some(upstream.to_owned())) {
            wrong.push(format!("{host}{path}: got {got:?}, want {app} {upstream}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// J. Forwarded headers

/// The client's forwarded headers of cases 65 and 66.
const CLIENT_FORWARDED: [&str; 10] = [
    "-H",
    "X-Forwarded-Port: 1234",
    "-H",
    "X-Forwarded-Proto: myproto",
    "-H",
    "X-Forwarded-Scheme: myproto",
    "-H",
    "X-Forwarded-For: 1.2.3.4",
    "-H",
    "X-Forwarded-Host: myhost",
];

/// Cases 65 and 67 (J): by default the client's X-Forwarded-* are replaced by what the
/// ingress saw (the originals kept as X-Original-Forwarded-*), and X-Forwarded-Proto and
/// -Port name the scheme and port the client used.
#[test]
fn client_forwarded_headers_are_replaced_by_default() -> anyhow::Result<()> {
    e2e::require("openssl")?;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    tls_secret(&k, k.dir.path(), "tls67.example", "tls67")?;
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}",
            ing(
                "forwarded-headers",
                &[],
                &[rule("forwarded-headers", &[("/", "Prefix", "s1")])]
            ),
            ingress(
                "tls67",
                &[],
                &format!(
                    "{}  rules:\n{}",
                    tls(&[("tls67.example", "tls67")]),
                    rule("tls67.example", &[("/", "Prefix", "s1")])
                ),
            ),
        ),
    )?;
    wait_app(&k, "forwarded-headers", "/", "s1")?;
    // 65
    let r = send(&k, false, "forwarded-headers", "/", &CLIENT_FORWARDED)?;
    let h = |n: &str| r.echo(&format!("headers.{n}"));
    assert_eq!(
        r.echo("host").as_deref(),
        Some("forwarded-headers"),
        "{}",
        r.body
    );
    assert_eq!(h("x-forwarded-port").as_deref(), Some(port(&k.http)));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("x-forwarded-scheme").as_deref(), Some("http"));
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-original-forwarded-for").as_deref(), Some("1.2.3.4"));
    assert_eq!(h("x-original-forwarded-host").as_deref(), Some("myhost"));
    // 67
    let r = eventually(WAIT, || {
        let r = send(&k, true, "tls67.example", "/", &[])?;
        Ok((r.code == 200).then_some(r))
    })?;
    let h = |n: &str| r.echo(&format!("headers.{n}"));
    assert_eq!(
        h("x-forwarded-proto").as_deref(),
        Some("https"),
        "{}",
        r.body
    );
    assert_eq!(h("x-forwarded-port").as_deref(), Some(port(&k.https)));
    Ok(())
}

/// Case 66 (J): with `--use-forwarded-headers` the client's X-Forwarded-* are passed on and
/// X-Forwarded-Host becomes the upstream Host (the first entry of a list). The peer is
/// appended to X-Forwarded-For, as `compute-full-forwarded-for` does: issue 6 asks for that
/// in trusted mode.
#[test]
fn trusted_forwarded_headers_pass_through_and_set_the_host() -> anyhow::Result<()> {
    let k = Knet::up(&["--use-forwarded-headers"])?;
    apply(&k, "apps.yaml", &apps(&["s1"]))?;
    apply(
        &k,
        "ing.yaml",
        &ing(
            "forwarded-headers",
            &[],
            &[rule("forwarded-headers", &[("/", "Prefix", "s1")])],
        ),
    )?;
    wait_app(&k, "forwarded-headers", "/", "s1")?;
    let r = send(&k, false, "forwarded-headers", "/", &CLIENT_FORWARDED)?;
    let h = |n: &str| r.echo(&format!("headers.{n}"));
    let mut wrong = Vec::new();
    for (what, got, want) in [
        ("host", r.echo("host"), "myhost"),
        ("x-forwarded-host", h("x-forwarded-host"), "myhost"),
        ("x-forwarded-proto", h("x-forwarded-proto"), "myproto"),
        ("x-forwarded-scheme", h("x-forwarded-scheme"), "myproto"),
        ("x-forwarded-port", h("x-forwarded-port"), "1234"),
        (
            "x-forwarded-for",
            h("x-forwarded-for"),
            "1.2.3.4, 127.0.0.1",
        ),
    ] {
        if got.as_deref() != Some(want) {
            wrong.push(format!("{what}: got {got:?}, want {want}"));
        }
    }
    let r = send(
        &k,
        false,
        "forwarded-headers",
        "/",
        &[
            "-H",
            "X-Forwarded-Host: myhost.com, another.host,example.net",
        ],
    )?;
    if r.echo("host").as_deref() != Some("myhost.com") {
        wrong.push(format!(
            "host from a list: got {:?}, want myhost.com",
            r.echo("host")
        ));
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// K. WebSocket

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to `/ws` through the ingress with `Host: host`, and the handshake's status.
async fn websocket(k: &Knet, host: &str) -> anyhow::Result<(WebSocket, u16)> {
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/ws", k.http),
    )?;
    req.headers_mut().insert("host", host.parse()?);
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    Ok((ws, resp.status().as_u16()))
}

/// Sends `msg` and returns the next message.
async fn round_trip(
    ws: &mut WebSocket,
    msg: tokio_tungstenite::tungstenite::Message,
) -> anyhow::Result<tokio_tungstenite::tungstenite::Message> {
    use futures::{SinkExt as _, StreamExt as _};
    ws.send(msg).await?;
    Ok(ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Case 69 (K): a WebSocket upgrade through a plain Ingress is switched (101) and text and
/// binary frames come back unchanged.
#[test]
fn websocket_upgrade_is_proxied_with_text_and_binary_frames() -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::Message;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["ws-echo"]))?;
    apply(
        &k,
        "ing.yaml",
        &ing(
            "ws",
            &[],
            &[rule("ws.example", &[("/", "Prefix", "ws-echo")])],
        ),
    )?;
    wait_app(&k, "ws.example", "/", "ws-echo")?;
    runtime()?.block_on(async {
        let (mut ws, status) = websocket(&k, "ws.example").await?;
        assert_eq!(status, 101);
        let reply = round_trip(&mut ws, Message::text("hello")).await?;
        assert_eq!(reply, Message::text("hello"));
        let bytes = vec![0u8, 1, 2, 254, 255];
        let reply = round_trip(&mut ws, Message::binary(bytes.clone())).await?;
        assert_eq!(reply, Message::binary(bytes));
        Ok(())
    })
}

/// Case 70 (K): an idle WebSocket is closed after the read timeout: 60 s by default, the
/// `proxy-read-timeout` annotation's seconds otherwise (2 closes it soon, 3600 keeps it).
/// Takes about 75 s.
#[test]
fn idle_websockets_close_after_the_proxy_read_timeout() -> anyhow::Result<()> {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["ws-echo"]))?;
    let ws_ing = |name: &str, annotations: &[(&str, &str)]| {
        ing(
            name,
            annotations,
            &[rule(
                &format!("{name}.example"),
                &[("/", "Prefix", "ws-echo")],
            )],
        )
    };
    apply(
        &k,
        "ing.yaml",
        &format!(
            "{}{}{}",
            ws_ing("ws-default", &[]),
            ws_ing("ws-short", &[("proxy-read-timeout", "2")]),
            ws_ing("ws-long", &[("proxy-read-timeout", "3600")]),
        ),
    )?;
    for host in ["ws-default.example", "ws-short.example", "ws-long.example"] {
        wait_app(&k, host, "/", "ws-echo")?;
    }
    runtime()?.block_on(async {
        let start = Instant::now();
        let (mut default, _) = websocket(&k, "ws-default.example").await?;
        let (mut short, _) = websocket(&k, "ws-short.example").await?;
        let (mut long, _) = websocket(&k, "ws-long.example").await?;
        // How long each stays open while idle (None: still open at the end).
        let limit = Duration::from_secs(75);
        async fn idle(ws: &mut WebSocket, start: Instant, limit: Duration) -> Option<Duration> {
            tokio::time::timeout(limit, ws.next())
                .await
                .ok()
                .map(|_| start.elapsed())
        }
        let (d, s, l) = tokio::join!(
            idle(&mut default, start, limit),
            idle(&mut short, start, limit),
            idle(&mut long, start, limit)
        );
        let s = s.ok_or_else(|| anyhow::anyhow!("ws-short still open after {limit:?}"))?;
        assert!(
            s >= Duration::from_millis(1500) && s < Duration::from_secs(10),
            "ws-short closed after {s:?}"
        );
        let d = d.ok_or_else(|| anyhow::anyhow!("ws-default still open after {limit:?}"))?;
        assert!(
            d >= Duration::from_secs(55) && d < limit,
            "ws-default closed after {d:?}"
        );
        assert_eq!(l, None, "ws-long closed");
        let reply = round_trip(&mut long, Message::text("still here")).await?;
        assert_eq!(reply, Message::text("still here"));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// L. Other ingress-nginx annotations

/// Ingresses for case 71: `body.example` (no annotation), `big.example` (`8m`) and
/// `bad.example` (`15r`, invalid), all to `s1`; returns `--data-binary` arguments for bodies
/// of 1, 2 and 9 MiB.
fn body_size_setup(k: &Knet) -> anyhow::Result<[String; 3]> {
    apply(k, "apps.yaml", &apps(&["s1"]))?;
    apply(
        k,
        "ing.yaml",
        &[
            ing(
                "body",
                &[],
                &[rule("body.example", &[("/", "Prefix", "s1")])],
            ),
            ing(
                "big",
                &[("proxy-body-size", "8m")],
                &[rule("big.example", &[("/", "Prefix", "s1")])],
            ),
            ing(
                "bad",
                &[("proxy-body-size", "15r")],
                &[rule("bad.example", &[("/", "Prefix", "s1")])],
            ),
        ]
        .concat(),
    )?;
    for host in ["body.example", "big.example", "bad.example"] {
        wait_app(k, host, "/", "s1")?;
    }
    let body = |name: &str, size: usize| -> anyhow::Result<String> {
        let path = k.dir.path().join(name);
        std::fs::write(&path, vec![b'x'; size])?;
        Ok(format!("@{}", path.display()))
    };
    Ok([
        body("1m.bin", 1 << 20)?,
        body("2m.bin", 2 << 20)?,
        body("9m.bin", 9 << 20)?,
    ])
}

/// `POST /` to `host` with `--data-binary data`: the status.
fn post(k: &Knet, host: &str, data: &str) -> anyhow::Result<u16> {
    Ok(send(k, false, host, "/", &["--data-binary", data])?.code)
}

/// Case 71 (L): a body over the limit is refused with 413: over 1 MiB by default, over 8 MiB
/// with `proxy-body-size: 8m`, over the default with an invalid value (ignored); small bodies
/// pass.
#[test]
fn proxy_body_size_refuses_bodies_over_the_limit_with_413() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let [_, two, nine] = body_size_setup(&k)?;
    for host in ["body.example", "big.example", "bad.example"] {
        assert_eq!(post(&k, host, "small")?, 200, "{host}");
    }
    assert_eq!(post(&k, "body.example", &two)?, 413);
    assert_eq!(post(&k, "big.example", &nine)?, 413);
    assert_eq!(post(&k, "bad.example", &two)?, 413);
    Ok(())
}

/// Case 71 (L): a body up to the limit is passed on: 1 MiB by default and with an invalid
/// value, 2 MiB with `proxy-body-size: 8m` (each five times).
#[test]
fn proxy_body_size_admits_bodies_up_to_the_limit() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    let [one, two, _] = body_size_setup(&k)?;
    let mut wrong = Vec::new();
    for (host, data) in [
        ("body.example", &one),
        ("big.example", &two),
        ("bad.example", &one),
    ] {
        for _ in 0..5 {
            match post(&k, host, data) {
                Ok(200) => {}
                Ok(code) => wrong.push(format!("{host} {data}: {code}")),
                Err(e) => wrong.push(format!("{host} {data}: {e}")),
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    Ok(())
}

/// Cases 73 and 74 (L): canaries by header (`always`/`never`, or a custom value or pattern),
/// by cookie, and by weight (0, 100, 1000 of 1000; an even split is
/// `canary_weight_50_splits_requests`), tried in that order; a canary without a mainline
/// Ingress is not served; one canary per rule.
#[test]
fn canary_by_header_cookie_and_weight() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(
        &k,
        "apps.yaml",
        &apps(&["mainline", "canary", "second-canary"]),
    )?;
    let main = |host: &str| {
        ing(
            &format!("main-{}", host.replace('.', "-")),
            &[],
            &[rule(host, &[("/info", "Prefix", "mainline")])],
        )
    };
    let canary = |name: &str, host: &str, svc: &str, annotations: &[(&str, &str)]| {
        let mut a = vec![("canary", "true")];
        a.extend_from_slice(annotations);
        ing(name, &a, &[rule(host, &[("/info", "Prefix", svc)])])
    };
    let header = [("canary-by-header", "CanaryByHeader")];
    apply(
        &k,
        "ing.yaml",
        &[
            main("header.example"),
            canary("c-header", "header.example", "canary", &header),
            main("value.example"),
            canary(
                "c-value",
                "value.example",
                "canary",
                &[
                    ("canary-by-header", "CanaryByHeader"),
                    ("canary-by-header-value", "DoCanary"),
                ],
            ),
            main("pattern.example"),
            canary(
                "c-pattern",
                "pattern.example",
                "canary",
                &[
                    ("canary-by-header", "CanaryByHeader"),
                    ("canary-by-header-pattern", "^(yes|ja)$"),
                ],
            ),
            main("cookie.example"),
            canary(
                "c-cookie",
                "cookie.example",
                "canary",
                &[("canary-by-cookie", "Canary-By-Cookie")],
            ),
            main("order.example"),
            canary(
                "c-order",
                "order.example",
                "canary",
                &[
                    ("canary-by-header", "CanaryByHeader"),
                    ("canary-by-cookie", "Canary-By-Cookie"),
                    ("canary-weight", "100"),
                ],
            ),
            main("weight0.example"),
            canary(
                "c-weight0",
                "weight0.example",
                "canary",
                &[("canary-weight", "0")],
            ),
            main("weight100.example"),
            canary(
                "c-weight100",
                "weight100.example",
                "canary",
                &[("canary-weight", "100")],
            ),
            main("total.example"),
            canary(
                "c-total",
                "total.example",
                "canary",
                &[("canary-weight", "1000"), ("canary-weight-total", "1000")],
            ),
            canary("c-orphan", "orphan.example", "canary", &header),
            main("twice.example"),
            canary("c-twice-1", "twice.example", "canary", &header),
            canary("c-twice-2", "twice.example", "second-canary", &header),
        ]
        .concat(),
    )?;
    let app = |host: &str, args: &[&str]| -> anyhow::Result<Option<String>> {
        let r = send(&k, false, host, "/info", args)?;
        Ok(if r.code == 200 { r.app() } else { None })
    };
    // Everything is in place once the last canaries answer.
    for host in ["header.example", "twice.example"] {
        eventually(WAIT, || {
            let got = app(host, &["-H", "CanaryByHeader: always"])?;
            Ok(got.is_some_and(|a| a != "mainline").then_some(()))
        })?;
    }
    let always = "CanaryByHeader: always";
    let never = "CanaryByHeader: never";
    let mut wrong = Vec::new();
    for (host, args, want, times) in [
        // 73
        ("header.example", vec![], "mainline", 5),
        ("header.example", vec!["-H", always], "canary", 5),
        ("header.example", vec!["-H", never], "mainline", 5),
        (
            "header.example",
            vec!["-H", "CanaryByHeader: other"],
            "mainline",
            5,
        ),
        (
            "value.example",
            vec!["-H", "CanaryByHeader: DoCanary"],
            "canary",
            5,
        ),
        (
            "value.example",
            vec!["-H", "CanaryByHeader: other"],
            "mainline",
            5,
        ),
        (
            "pattern.example",
            vec!["-H", "CanaryByHeader: ja"],
            "canary",
            5,
        ),
        (
            "pattern.example",
            vec!["-H", "CanaryByHeader: nein"],
            "mainline",
            5,
        ),
        // 74
        (
            "cookie.example",
            vec!["-b", "Canary-By-Cookie=always"],
            "canary",
            50,
        ),
        (
            "cookie.example",
            vec!["-b", "Canary-By-Cookie=never"],
            "mainline",
            5,
        ),
        (
            "cookie.example",
            vec!["-b", "Canary-By-Cookie=other"],
            "mainline",
            5,
        ),
        // Header, then cookie, then weight.
        (
            "order.example",
            vec!["-H", never, "-b", "Canary-By-Cookie=always"],
            "mainline",
            5,
        ),
        (
            "order.example",
            vec!["-H", always, "-b", "Canary-By-Cookie=never"],
            "canary",
            5,
        ),
        (
            "order.example",
            vec!["-b", "Canary-By-Cookie=never"],
            "mainline",
            5,
        ),
        ("order.example", vec![], "canary", 5),
        ("weight0.example", vec![], "mainline", 20),
        ("weight100.example", vec![], "canary", 20),
        ("total.example", vec![], "canary", 20),
    ] {
        for _ in 0..times {
            let got = app(host, &args)?;
            if got.as_deref() != Some(want) {
                wrong.push(format!("{host} {args:?}: got {got:?}, want {want}"));
                break;
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // A canary alone is not served.
    let r = send(&k, false, "orphan.example", "/info", &["-H", always])?;
    assert_eq!(r.code, 404, "{}", r.body);
    // One canary per rule: every request the canary takes goes to the same one.
    let seen: BTreeSet<Option<String>> = (0..10)
        .map(|_| app("twice.example", &["-H", always]))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(!seen.contains(&Some("mainline".to_owned())), "{seen:?}");
    Ok(())
}

/// Case 74 (L): `canary-weight: "50"` splits requests between mainline and canary (here one
/// pod each).
#[test]
fn canary_weight_50_splits_requests() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["mainline", "canary"]))?;
    apply(
        &k,
        "ing.yaml",
        &[
            ing(
                "main",
                &[],
                &[
                    rule("half.example", &[("/info", "Prefix", "mainline")]),
                    rule("main-only.example", &[("/info", "Prefix", "mainline")]),
                ],
            ),
            ing(
                "half",
                &[("canary", "true"), ("canary-weight", "50")],
                &[rule("half.example", &[("/info", "Prefix", "canary")])],
            ),
        ]
        .concat(),
    )?;
    wait_app(&k, "main-only.example", "/info", "mainline")?;
    wait_app(&k, "half.example", "/info", "canary")?;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let r = get(&k, "half.example", "/info")?;
        *counts.entry(r.app()).or_insert(0) += 1;
    }
    let canary = counts.get(&Some("canary".to_owned())).copied().unwrap_or(0);
    let mainline = counts
        .get(&Some("mainline".to_owned()))
        .copied()
        .unwrap_or(0);
    assert_eq!(canary + mainline, 40, "{counts:?}");
    assert!((10..=30).contains(&canary), "{counts:?}");
    Ok(())
}

/// Case 75 (L): cookie affinity: `INGRESSCOOKIE` by default (renamed by
/// `session-cookie-name`, and again when the annotation changes), with `Path=` the matched
/// Ingress path and `HttpOnly`, and the optional attributes from annotations; a client that
/// sends the cookie stays on its pod, an unknown value gets a new cookie; other Ingresses'
/// paths to the same Service have no affinity.
#[test]
fn cookie_affinity_names_paths_attributes_and_pins_the_pod() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &echo_app("sticky", 2))?;
    let sticky = |name: &str, host: &str, path: &str, annotations: &[(&str, &str)]| {
        ing(
            name,
            annotations,
            &[rule(host, &[(path, "Prefix", "sticky")])],
        )
    };
    let named = |cookie: &str| {
        sticky(
            "named",
            "named.example",
            "/",
            &[("affinity", "cookie"), ("session-cookie-name", cookie)],
        )
    };
    apply(
        &k,
        "ing.yaml",
        &[
            sticky(
                "affinity",
                "affinity.example",
                "/something",
                &[("affinity", "cookie")],
            ),
            sticky("no-affinity", "affinity.example", "/other", &[]),
            named("SERVERID"),
            sticky(
                "attributes",
                "attributes.example",
                "/",
                &[
                    ("affinity", "cookie"),
                    ("session-cookie-max-age", "172800"),
                    ("session-cookie-expires", "172800"),
                    ("session-cookie-samesite", "Strict"),
                    ("session-cookie-secure", "true"),
                    ("session-cookie-domain", "attributes.example"),
                ],
            ),
        ]
        .concat(),
    )?;
    // Both pods serve first.
    eventually(WAIT, || {
        let pods: BTreeSet<Option<String>> = (0..6)
            .map(|_| get(&k, "affinity.example", "/other").map(|r| r.echo("pod")))
            .collect::<anyhow::Result<_>>()?;
        Ok((pods.len() == 2 && !pods.contains(&None)).then_some(()))
    })?;
    let r = wait_code(&k, "affinity.example", "/something", 200)?;
    let set_cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(set_cookie.starts_with("INGRESSCOOKIE="), "{set_cookie}");
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"Path=/something"), "{set_cookie}");
    assert!(attributes.contains(&"HttpOnly"), "{set_cookie}");
    let cookie = attributes[0].to_owned();
    let pod = r.echo("pod");
    for _ in 0..10 {
        let r = send(
            &k,
            false,
            "affinity.example",
            "/something",
            &["-b", &cookie],
        )?;
        assert_eq!(r.echo("pod"), pod, "{cookie}");
    }
    let r = send(
        &k,
        false,
        "affinity.example",
        "/something",
        &["-b", "INGRESSCOOKIE=unknown"],
    )?;
    assert_eq!(r.code, 200);
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("INGRESSCOOKIE=") && !c.contains("=unknown")),
        "{:?}",
        r.header("set-cookie")
    );
    // The other Ingress's path on the same host and Service: no cookie, both pods.
    let mut pods = BTreeSet::new();
    for _ in 0..6 {
        let r = get(&k, "affinity.example", "/other")?;
        assert_eq!(r.header("set-cookie"), None);
        pods.insert(r.echo("pod"));
    }
    assert_eq!(pods.len(), 2, "{pods:?}");
    // The name, and a new name.
    let r = wait_code(&k, "named.example", "/", 200)?;
    let c = r.header("set-cookie").unwrap_or_default();
    assert!(c.starts_with("SERVERID="), "{c}");
    apply(&k, "named.yaml", &named("SERVERID2"))?;
    eventually(WAIT, || {
        let r = get(&k, "named.example", "/")?;
        Ok(r.header("set-cookie")
            .is_some_and(|c| c.starts_with("SERVERID2="))
            .then_some(()))
    })?;
    // The attributes.
    let r = wait_code(&k, "attributes.example", "/", 200)?;
    let c = r.header("set-cookie").unwrap_or_default();
    let attributes: Vec<&str> = c.split(';').map(str::trim).collect();
    for want in [
        "Max-Age=172800",
        "SameSite=Strict",
        "Secure",
        "Domain=attributes.example",
    ] {
        assert!(attributes.contains(&want), "{want} missing: {c}");
    }
    assert!(attributes.iter().any(|a| a.starts_with("Expires=")), "{c}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// N. Legacy extensions/v1beta1

/// Cases 77 and 78 (N): an `extensions/v1beta1` Ingress (`spec.backend`, `serviceName`,
/// `servicePort` as a number or a name, no `pathType`, a path left out) reads back as its v1
/// form and routes exactly like the v1 manifest: no pathType is Prefix, element-wise; a
/// missing path matches everything.
#[test]
fn legacy_extensions_v1beta1_ingress_routes_like_its_v1_form() -> anyhow::Result<()> {
    let k = Knet::up(&[])?;
    apply(&k, "apps.yaml", &apps(&["test", "foo-app", "bar-app"]))?;
    apply(
        &k,
        "legacy.yaml",
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: legacy}\nspec:\n  backend: {serviceName: test, servicePort: 80}\n  rules:\n  - host: legacy.example\n    http:\n      paths:\n      - path: /foo\n        backend: {serviceName: foo-app, servicePort: 80}\n      - path: /bar\n        backend: {serviceName: bar-app, servicePort: http}\n  - host: legacy-nopath.example\n    http:\n      paths:\n      - backend: {serviceName: foo-app, servicePort: 80}\n",
    )?;
    apply(
        &k,
        "v1.yaml",
        &ingress(
            "modern",
            &[],
            &format!(
                "  defaultBackend: {}\n  rules:\n{}",
                backend("test"),
                rule(
                    "modern.example",
                    &[
                        ("/foo", "ImplementationSpecific", "foo-app"),
                        ("/bar", "ImplementationSpecific", "bar-app:http"),
                    ],
                )
            ),
        ),
    )?;
    // 77: the v1 view of the legacy object.
    let v1 = k.kubectl(&[
        "get",
        "ingresses.v1.networking.k8s.io",
        "legacy",
        "-o",
        "json",
    ])?;
    let v1: serde_json::Value = serde_json::from_str(&v1)?;
    let spec = &v1["spec"];
    assert_eq!(spec["defaultBackend"]["service"]["name"], "test", "{v1}");
    assert_eq!(spec["defaultBackend"]["service"]["port"]["number"], 80);
    let paths = &spec["rules"][0]["http"]["paths"];
    assert_eq!(paths[0]["pathType"], "ImplementationSpecific", "{v1}");
    assert_eq!(paths[0]["backend"]["service"]["name"], "foo-app");
    assert_eq!(paths[0]["backend"]["service"]["port"]["number"], 80);
    assert_eq!(paths[1]["backend"]["service"]["port"]["name"], "http");
    // The same routing for both forms.
    let expected = [
        ("/foo", "foo-app"),
        ("/foo/bar", "foo-app"),
        ("/foobar", "test"),
        ("/bar", "bar-app"),
        ("/bar/x", "bar-app"),
        ("/zzz", "test"),
        ("/", "test"),
    ];
    for host in ["legacy.example", "modern.example"] {
        let cases: Vec<(&str, &str, Option<&str>)> = expected
            .iter()
            .map(|(path, app)| (host, *path, Some(*app)))
            .collect();
        routes(&k, &cases)?;
    }
    // 78: a rule without a path takes every path.
    routes(
        &k,
        &[
            ("legacy-nopath.example", "/", Some("foo-app")),
            ("legacy-nopath.example", "/any/thing", Some("foo-app")),
        ],
    )
}
