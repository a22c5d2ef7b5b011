use serde_json::{Value, json};

use crate::{Config, Error, EventType, Store, Write};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(Config::new(dir.path().join("store.db"))).expect("open store")
}

fn put(store: &Store, key: &str, value: Value) -> u64 {
    store
        .write::<Error, _>(key, |_| Ok(Write::Put(value)))
        .expect("write")
        .expect("event")
        .rev
}

fn rv(value: &Value) -> &str {
    value["metadata"]["resourceVersion"].as_str().unwrap_or("")
}

#[test]
fn revisions_increase_and_are_stamped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    assert_eq!(store.revision(), 0);
    let a = put(&store, "svc/default/a", json!({"metadata": {"name": "a"}}));
    let b = put(&store, "svc/default/b", json!({"metadata": {"name": "b"}}));
    assert_eq!((a, b), (1, 2));
    let got = store.get("svc/default/a").expect("a exists");
    assert_eq!(rv(&got), "1");
    assert_eq!(store.revision(), 2);
}

#[test]
fn keep_and_deleting_a_missing_key_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, "k/a", json!({}));
    let kept = store
        .write::<Error, _>("k/a", |_| Ok(Write::Keep))
        .expect("keep");
    assert!(kept.is_none());
    let gone = store
        .write::<Error, _>("k/b", |_| Ok(Write::Delete))
        .expect("delete");
    assert!(gone.is_none());
    assert_eq!(store.revision(), 1);
}

#[test]
fn write_closure_errors_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let res = store.write::<Error, _>("k/a", |_| Err(Error::NotAnObject("k/a".into())));
    assert!(res.is_err());
    assert!(store.get("k/a").is_none());
    assert_eq!(store.revision(), 0);
    // A non-object value is refused before anything is committed.
    let res = store.write::<Error, _>("k/a", |_| Ok(Write::Put(json!([1]))));
    assert!(matches!(res, Err(Error::NotAnObject(_))));
    assert_eq!(store.revision(), 0);
}

#[test]
fn list_is_by_prefix_in_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for key in ["s/ns1/b", "s/ns1/a", "s/ns2/a", "t/ns1/a"] {
        put(&store, key, json!({}));
    }
    let keys = |prefix: &str| -> Vec<String> {
        store
            .list(prefix)
            .items
            .iter()
            .map(|(k, _)| k.to_string())
            .collect()
    };
    assert_eq!(keys("s/ns1/"), ["s/ns1/a", "s/ns1/b"]);
    assert_eq!(keys("s/"), ["s/ns1/a", "s/ns1/b", "s/ns2/a"]);
    assert_eq!(keys("u/"), Vec::<String>::new());
    assert_eq!(store.count("s/"), 3);
}

#[tokio::test]
async fn watch_replays_backlog_then_follows_live_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, "s/a", json!({"v": 1}));
    put(&store, "t/x", json!({}));
    put(&store, "s/a", json!({"v": 2}));
    let mut watch = store.watch("s/", 1).expect("watch");
    let e = watch.next().await.expect("event");
    assert_eq!((e.rev, e.kind), (3, EventType::Modified));
    assert_eq!(e.prev.as_deref().map(|v| v["v"].clone()), Some(json!(1)));
    store
        .write::<Error, _>("s/a", |_| Ok(Write::Delete))
        .expect("delete");
    let e = watch.next().await.expect("event");
    assert_eq!((e.rev, e.kind), (4, EventType::Deleted));
    assert_eq!(rv(&e.value), "4", "a deletion carries its own revision");
}

#[tokio::test]
async fn list_and_watch_have_no_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    put(&store, "s/a", json!({}));
    let (snap, mut watch) = store.list_and_watch("s/");
    assert_eq!((snap.rev, snap.items.len()), (1, 1));
    put(&store, "s/b", json!({}));
    let e = watch.next().await.expect("event");
    assert_eq!((e.rev, e.kind, &*e.key), (2, EventType::Added, "s/b"));
}

#[test]
fn compacted_history_answers_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for i in 0..10 {
        put(&store, "s/a", json!({ "i": i }));
    }
    store.compact(5).expect("compact");
    assert!(matches!(
        store.watch("s/", 4),
        Err(Error::Expired {
            requested: 4,
            compacted: 5
        })
    ));
    assert!(store.watch("s/", 5).is_ok());
}

#[test]
fn the_window_trims_history_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("store.db"));
    config.history_window = 10;
    let store = Store::open(config).expect("open");
    for i in 0..30 {
        put(&store, "s/a", json!({ "i": i }));
    }
    assert!(store.compacted() >= 10, "compacted {}", store.compacted());
    assert!(store.watch("s/", 1).is_err());
    assert!(store.watch("s/", 25).is_ok());
}

#[tokio::test]
async fn restart_keeps_objects_revision_and_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        put(&store, "s/a", json!({"v": 1}));
        put(&store, "s/b", json!({"v": 1}));
        put(&store, "s/a", json!({"v": 2}));
        store
            .write::<Error, _>("s/b", |_| Ok(Write::Delete))
            .expect("delete");
        store.compact(1).expect("compact");
    }
    let store = open(&dir);
    assert_eq!(store.revision(), 4);
    assert_eq!(store.compacted(), 1);
    assert_eq!(store.get("s/a").expect("a")["v"], 2);
    assert!(store.get("s/b").is_none());
    // A watcher that had seen revision 2 resumes without a re-list.
    let mut watch = store.watch("s/", 2).expect("resume");
    let e = watch.next().await.expect("event");
    assert_eq!((e.rev, e.kind), (3, EventType::Modified));
    assert_eq!(e.prev.as_deref().map(|v| v["v"].clone()), None);
    let e = watch.next().await.expect("event");
    assert_eq!((e.rev, e.kind), (4, EventType::Deleted));
    // New writes continue the sequence.
    assert_eq!(put(&store, "s/c", json!({})), 5);
}

#[test]
fn concurrent_writers_get_distinct_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| put(&store, &format!("s/{t}-{i}"), json!({})))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut revs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    revs.sort_unstable();
    assert_eq!(revs, (1..=100).collect::<Vec<_>>());
    assert_eq!(store.count("s/"), 100);
}

#[tokio::test]
async fn a_lagging_watcher_catches_up_from_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("store.db"));
    config.watch_buffer = 16;
    let store = Store::open(config).expect("open");
    let mut watch = store.watch("s/", 0).expect("watch");
    for i in 0..100 {
        put(&store, "s/a", json!({ "i": i }));
    }
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.push(watch.next().await.expect("event").rev);
    }
    assert_eq!(seen, (1..=100).collect::<Vec<_>>());
}

#[test]
fn reopening_with_a_smaller_window_compacts_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        for i in 0..20 {
            put(&store, "s/a", json!({ "i": i }));
        }
    }
    let mut config = Config::new(dir.path().join("store.db"));
    config.history_window = 5;
    let store = Store::open(config).expect("reopen");
    assert_eq!(store.compacted(), 15);
    assert!(matches!(store.watch("s/", 10), Err(Error::Expired { .. })));
    assert!(store.watch("s/", 15).is_ok());
}

#[test]
fn concurrent_read_modify_writes_see_staged_values() {
    // Each writer increments a counter it reads through `decide`; with group commit the value
    // a decider sees may still be on its way to disk, and no increment may be lost.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    store
                        .write::<Error, _>("c/counter", |cur| {
                            let n = cur.and_then(|v| v["n"].as_i64()).unwrap_or(0);
                            Ok(Write::Put(json!({ "n": n + 1 })))
                        })
                        .expect("write");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(store.get("c/counter").expect("counter")["n"], 200);
    assert_eq!(store.revision(), 200);
}

#[tokio::test]
async fn group_committed_writes_reach_watchers_in_order_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut watch = store.watch("g/", 0).expect("watch");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    put(&store, &format!("g/{t}-{i}"), json!({ "t": t }));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    for want in 1..=200 {
        assert_eq!(watch.next().await.expect("event").rev, want);
    }
    drop(watch);
    drop(store);
    let store = open(&dir);
    assert_eq!((store.revision(), store.count("g/")), (200, 200));
}
