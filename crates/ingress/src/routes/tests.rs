//! Cases A–D of reference/ingress.md (path matching, precedence, hosts, defaults), on the
//! table alone; the e2e tests repeat them through the server.

use super::*;

fn src(name: &str, created: i64) -> Source {
    Source {
        created,
        namespace: "default".into(),
        name: name.into(),
    }
}

fn backend(svc: &str, ingress: &str, created: i64) -> Arc<Backend> {
    Arc::new(Backend {
        namespace: "default".into(),
        service: Some(svc.into()),
        port: PortRef::Number(8080),
        source: src(ingress, created),
        policy: Default::default(),
        fallback: None,
    })
}

fn rule(host: &str, path: &str, t: &str, svc: &str) -> RuleInput {
    RuleInput {
        host: host.into(),
        path: path.into(),
        path_type: t.into(),
        backend: backend(svc, "p", 0),
        regex: false,
    }
}

fn svc(t: &Table, host: &str, path: &str) -> Option<String> {
    t.lookup(host, path).and_then(|f| f.backend.service.clone())
}

/// Setup P of the reference.
fn setup_p() -> Table {
    Table::build(
        vec![
            rule("exact-path-rules", "/foo", "Exact", "foo-exact"),
            rule("prefix-path-rules", "/foo", "Prefix", "foo-prefix"),
            rule("prefix-path-rules", "/aaa", "Prefix", "aaa-prefix"),
            rule(
                "prefix-path-rules",
                "/aaa/bbb",
                "Prefix",
                "aaa-slash-bbb-prefix",
            ),
            rule("mixed-path-rules", "/foo", "Prefix", "foo-prefix"),
            rule("mixed-path-rules", "/foo", "Exact", "foo-exact"),
            rule(
                "trailing-slash-path-rules",
                "/aaa/bbb/",
                "Prefix",
                "aaa-slash-bbb-slash-prefix",
            ),
            rule(
                "trailing-slash-path-rules",
                "/foo/",
                "Exact",
                "foo-slash-exact",
            ),
        ],
        vec![],
        None,
    )
    .0
}

#[test]
fn a_path_matching() {
    let t = setup_p();
    let cases = [
        ("exact-path-rules", "/foo", Some("foo-exact")),
        ("exact-path-rules", "/foo/", None),
        ("exact-path-rules", "/FOO", None),
        ("exact-path-rules", "/bar", None),
        ("prefix-path-rules", "/foo", Some("foo-prefix")),
        ("prefix-path-rules", "/foo/", Some("foo-prefix")),
        ("prefix-path-rules", "/FOO", None),
        (
            "prefix-path-rules",
            "/aaa/bbb",
            Some("aaa-slash-bbb-prefix"),
        ),
        ("prefix-path-rules", "/aaa/ccc", Some("aaa-prefix")),
        ("prefix-path-rules", "/aaaccc", None),
        ("mixed-path-rules", "/foo", Some("foo-exact")),
        ("mixed-path-rules", "/foo/", Some("foo-prefix")),
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
        (
            "trailing-slash-path-rules",
            "/foo/",
            Some("foo-slash-exact"),
        ),
        ("trailing-slash-path-rules", "/foo", None),
    ];
    for (host, path, want) in cases {
        assert_eq!(svc(&t, host, path).as_deref(), want, "{host}{path}");
    }
    // 13: the last element must match whole.
    let (t, _) = Table::build(
        vec![
            rule("h", "/aaa/bb", "Prefix", "svc-1"),
            rule("h2", "/aaa/bbb", "Prefix", "svc-2"),
        ],
        vec![],
        None,
    );
    assert_eq!(svc(&t, "h", "/aaa/bbb"), None);
    assert_eq!(svc(&t, "h2", "/aaa/bbbxyz"), None);
    // 14: nested prefixes.
    let (t, _) = Table::build(
        vec![
            rule("h", "/", "Prefix", "root"),
            rule("h", "/aaa", "Prefix", "aaa"),
            rule("h", "/aaa/bbb", "Prefix", "bbb"),
        ],
        vec![],
        None,
    );
    for (path, want) in [
        ("/ccc", "root"),
        ("/aaa/ccc", "aaa"),
        ("/aaa/bbb", "bbb"),
        ("/x/y/z", "root"),
    ] {
        assert_eq!(svc(&t, "h", path).as_deref(), Some(want), "{path}");
    }
}

#[test]
fn b_precedence_across_rules_and_ingresses() {
    // 18: declaration order does not matter.
    let (t, _) = Table::build(
        vec![
            rule("h", "/aaa", "Prefix", "aaa"),
            rule("h", "/aaa/bbb", "Prefix", "bbb"),
        ],
        vec![],
        None,
    );
    assert_eq!(svc(&t, "h", "/aaa/bbb/x").as_deref(), Some("bbb"));
    // 19: four Ingresses on one host, merged.
    let mk = |path: &str, t: &str, s: &str, i: &str, c: i64| RuleInput {
        host: "mixed.path".into(),
        path: path.into(),
        path_type: t.into(),
        backend: backend(s, i, c),
        regex: false,
    };
    let (t, _) = Table::build(
        vec![
            mk("/", "Exact", "A", "a", 1),
            mk("/", "Prefix", "B", "b", 2),
            mk("/foo", "Exact", "C", "c", 3),
            mk("/foo", "Prefix", "D", "d", 4),
        ],
        vec![],
        None,
    );
    for (path, want) in [
        ("/", "A"),
        ("/bar", "B"),
        ("/foo", "C"),
        ("/foo/bar", "D"),
        ("/foobar", "B"),
    ] {
        assert_eq!(svc(&t, "mixed.path", path).as_deref(), Some(want), "{path}");
    }
    // 21: the oldest Ingress wins a conflict, whatever the order given.
    let (t, _) = Table::build(
        vec![
            mk("/", "Prefix", "young", "y", 20),
            mk("/", "Prefix", "old", "x", 10),
        ],
        vec![],
        None,
    );
    assert_eq!(svc(&t, "mixed.path", "/").as_deref(), Some("old"));
}

#[test]
fn c_hosts() {
    let (t, _) = Table::build(
        vec![
            rule("*.foo.com", "/", "Prefix", "wildcard-foo-com"),
            rule("foo.bar.com", "/", "Prefix", "foo-bar-com"),
        ],
        vec![],
        None,
    );
    assert_eq!(svc(&t, "foo.bar.com", "/").as_deref(), Some("foo-bar-com"));
    assert_eq!(
        svc(&t, "FOO.bar.com:80", "/").as_deref(),
        Some("foo-bar-com")
    );
    assert_eq!(svc(&t, "subdomain.bar.com", "/"), None);
    assert_eq!(
        svc(&t, "bar.foo.com", "/").as_deref(),
        Some("wildcard-foo-com")
    );
    assert_eq!(svc(&t, "baz.bar.foo.com", "/"), None);
    assert_eq!(svc(&t, "foo.com", "/"), None);
    // 27: rules without a host catch the other hosts.
    let (t, _) = Table::build(
        vec![
            rule("first.bar.com", "/", "Prefix", "service1"),
            rule("second.bar.com", "/", "Prefix", "service2"),
            rule("", "/", "Prefix", "service3"),
        ],
        vec![],
        None,
    );
    assert_eq!(svc(&t, "first.bar.com", "/").as_deref(), Some("service1"));
    assert_eq!(svc(&t, "second.bar.com", "/").as_deref(), Some("service2"));
    assert_eq!(svc(&t, "other.example", "/").as_deref(), Some("service3"));
    assert_eq!(svc(&t, "127.0.0.1:8080", "/").as_deref(), Some("service3"));
}

#[test]
fn d_defaults() {
    // 30: only a defaultBackend: everything.
    let (t, _) = Table::build(vec![], vec![backend("echo-service", "d", 1)], None);
    for (h, p) in [
        ("my-host", "/"),
        ("my-host", "/sub-path"),
        ("", "/resource"),
    ] {
        assert_eq!(svc(&t, h, p).as_deref(), Some("echo-service"));
    }
    // 31: nothing at all: no backend (the server's 404).
    let (t, _) = Table::build(vec![], vec![], None);
    assert!(t.lookup("foo.bar.com", "/demo").is_none());
    // 33: an Ingress's own defaultBackend for its host's misses.
    let mut r = rule("h", "/a", "Prefix", "svc-a");
    r.backend = backend("svc-a", "x", 5);
    let (t, _) = Table::build(vec![r], vec![backend("svc-d", "x", 5)], None);
    assert_eq!(svc(&t, "h", "/zzz").as_deref(), Some("svc-d"));
    // The controller's fallback comes last.
    let (t, _) = Table::build(
        vec![rule("h", "/a", "Prefix", "svc-a")],
        vec![],
        Some(backend("fallback", "-", 0)),
    );
    assert_eq!(svc(&t, "other", "/").as_deref(), Some("fallback"));
}

#[test]
fn regex_paths_and_rewrite_targets() {
    let mut r = rule("h", "/something(/|$)(.*)", "ImplementationSpecific", "s");
    r.regex = true;
    let mut bad = rule("h2", "/(unclosed", "ImplementationSpecific", "s");
    bad.regex = true;
    let (t, rejected) = Table::build(vec![r, bad], vec![], None);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let found = t.lookup("h", "/something/new").expect("match");
    let route = found.route.expect("route");
    assert_eq!(rewrite(route, "/$2", "/something/new"), "/new");
    assert_eq!(rewrite(route, "/$2", "/something"), "/");
    assert_eq!(rewrite(route, "/x/$2y", "/something/new"), "/x/newy");
    // Case-insensitive, as ingress-nginx's `~*` locations.
    assert!(t.lookup("h", "/SOMETHING/x").is_some());
    // Without a regex the target replaces the whole path.
    let (t, _) = Table::build(
        vec![rule("foo.bar.com", "/foos1", "Prefix", "s1")],
        vec![],
        None,
    );
    let route = t
        .lookup("foo.bar.com", "/foos1/a")
        .and_then(|f| f.route)
        .expect("route");
    assert_eq!(rewrite(route, "/", "/foos1/a"), "/");
}
