//! The store itself: an in-memory mirror of the database for reads and watches, and a single
//! serialised write path that commits to SQLite before it publishes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::sqlite::Db;
use crate::{Error, Event, EventType, Revision};

/// How to open a store.
#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file. Its directory must exist.
    pub path: PathBuf,
    /// How many revisions of history to keep for watches. A watch that asks to resume from an
    /// older revision gets [`Error::Expired`] and must re-list, exactly as against etcd after a
    /// compaction.
    pub history_window: u64,
    /// Events buffered per watcher before it has to catch up from the history window.
    pub watch_buffer: usize,
}

impl Config {
    /// A configuration with the default window (50,000 revisions) for the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Config {
            path: path.into(),
            history_window: 50_000,
            watch_buffer: 4096,
        }
    }
}

/// What a write closure decides to do with a key.
#[derive(Debug)]
pub enum Write {
    /// Store this value (it must be a JSON object; its `metadata.resourceVersion` is set).
    Put(Value),
    /// Remove the key.
    Delete,
    /// Leave the key as it is: no new revision, no event.
    Keep,
}

/// A consistent read of many keys.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The store revision the read reflects.
    pub rev: Revision,
    /// Matching keys and values, in key order.
    pub items: Vec<(Arc<str>, Arc<Value>)>,
}

struct State {
    rev: Revision,
    /// The newest revision whose history has been dropped.
    compacted: Revision,
    objects: BTreeMap<Arc<str>, Arc<Value>>,
    history: VecDeque<Arc<Event>>,
}

/// A write decided but not yet on disk.
struct Staged {
    event: Arc<Event>,
    bytes: Vec<u8>,
    /// Filled by whoever commits the batch holding this write.
    slot: Arc<OnceLock<Result<Arc<Event>, String>>>,
}

/// Writes between their decision and their commit.
#[derive(Default)]
struct Stage {
    /// The last revision handed out.
    next_rev: Revision,
    /// The newest staged value of each key with a staged write (`None`: deleted).
    overlay: HashMap<Arc<str>, (Revision, Option<Arc<Value>>)>,
    /// Staged writes in revision order, waiting for the next commit.
    batch: Vec<Staged>,
    /// Set when a commit failed: from then on every write is refused.
    failed: Option<String>,
}

struct Shared {
    /// Deciders run under this lock, one at a time.
    stage: Mutex<Stage>,
    /// The committer's lock: whoever holds it commits all staged writes.
    db: Mutex<Db>,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Event>>,
    config: Config,
}

/// The durable store. Cloning is cheap; all clones share one database.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.config.path)
            .field("rev", &self.revision())
            .finish()
    }
}

fn stamp(value: &mut Value, key: &str, rev: Revision) -> Result<(), Error> {
    let obj = value
        .as_object_mut()
        .ok_or_else(|| Error::NotAnObject(key.to_owned()))?;
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let meta = meta
        .as_object_mut()
        .ok_or_else(|| Error::NotAnObject(key.to_owned()))?;
    meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    Ok(())
}

impl Store {
    /// Opens the store, loading every current object and the retained history into memory.
    pub fn open(config: Config) -> Result<Store, Error> {
        let (db, loaded) = Db::open(&config.path)?;
        let mut objects = BTreeMap::new();
        for (key, value) in loaded.objects {
            objects.insert(Arc::<str>::from(key), Arc::new(value));
        }
        // Rebuild `prev` for each event from the event before it on the same key.
        let mut last: HashMap<Arc<str>, Arc<Value>> = HashMap::new();
        let mut history = VecDeque::with_capacity(loaded.history.len());
        for row in loaded.history {
            let key: Arc<str> = Arc::from(row.key);
            let value = Arc::new(row.value);
            let prev = match row.kind {
                EventType::Added => None,
                _ => last.get(&key).cloned(),
            };
            if row.kind == EventType::Deleted {
                last.remove(&key);
            } else {
                last.insert(key.clone(), value.clone());
            }
            history.push_back(Arc::new(Event {
                rev: row.rev,
                key,
                kind: row.kind,
                value,
                prev,
            }));
        }
        let (events, _) = broadcast::channel(config.watch_buffer.max(16));
        // A smaller window than last time takes effect at once.
        let window = config.history_window.max(1);
        let mut compacted = loaded.compacted;
        if history.len() as u64 > window {
            let floor = loaded.rev.saturating_sub(window);
            while history.front().is_some_and(|e: &Arc<Event>| e.rev <= floor) {
                history.pop_front();
            }
            compacted = compacted.max(floor);
        }
        let mut db = db;
        if compacted > loaded.compacted {
            db.compact(compacted)?;
        }
        Ok(Store {
            shared: Arc::new(Shared {
                stage: Mutex::new(Stage {
                    next_rev: loaded.rev,
                    ..Stage::default()
                }),
                db: Mutex::new(db),
                state: RwLock::new(State {
                    rev: loaded.rev,
                    compacted,
                    objects,
                    history,
                }),
                events,
                config,
            }),
        })
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The newest committed revision.
    pub fn revision(&self) -> Revision {
        self.state().rev
    }

    /// The newest revision whose events are no longer retained.
    pub fn compacted(&self) -> Revision {
        self.state().compacted
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.state().objects.get(key).cloned()
    }

    /// Every key that starts with `prefix`, with the revision the read reflects.
    pub fn list(&self, prefix: &str) -> Snapshot {
        let state = self.state();
        Snapshot {
            rev: state.rev,
            items: range(&state.objects, prefix)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// How many keys start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        range(&self.state().objects, prefix).count()
    }

    /// The one write path. `decide` sees the current value of `key` (if any, including writes
    /// staged by others but not yet on disk) and says what to do; deciders run one at a time,
    /// so a read-modify-write through it is atomic. The write is on disk before this returns.
    /// Returns the committed event, or `None` for [`Write::Keep`].
    ///
    /// Writers that arrive while a commit is in flight are committed together in the next
    /// transaction (group commit): one fsync serves them all, and none of them is acknowledged
    /// before it. Readers and watchers see a write only once it is durable.
    ///
    /// This blocks on disk I/O; async callers should run it on a blocking thread.
    pub fn write<E, F>(&self, key: &str, decide: F) -> Result<Option<Arc<Event>>, E>
    where
        F: FnOnce(Option<&Arc<Value>>) -> Result<Write, E>,
        E: From<Error>,
    {
        let slot = {
            let mut stage = self.stage();
            if let Some(why) = &stage.failed {
                return Err(Error::Failed(why.clone()).into());
            }
            let current = match stage.overlay.get(key) {
                Some((_, staged)) => staged.clone(),
                None => self.state().objects.get(key).cloned(),
            };
            let rev = stage.next_rev + 1;
            let (kind, value) = match decide(current.as_ref())? {
                Write::Keep => return Ok(None),
                Write::Put(mut value) => {
                    stamp(&mut value, key, rev)?;
                    let kind = if current.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (kind, value)
                }
                Write::Delete => {
                    let Some(current) = current.as_ref() else {
                        return Ok(None);
                    };
                    let mut value = Value::clone(current);
                    stamp(&mut value, key, rev)?;
                    (EventType::Deleted, value)
                }
            };
            let bytes = serde_json::to_vec(&value).map_err(|source| Error::Corrupt {
                key: key.to_owned(),
                source,
            })?;
            let key: Arc<str> = Arc::from(key);
            let value = Arc::new(value);
            stage.next_rev = rev;
            let now = (kind != EventType::Deleted).then(|| value.clone());
            stage.overlay.insert(key.clone(), (rev, now));
            let slot = Arc::new(OnceLock::new());
            stage.batch.push(Staged {
                event: Arc::new(Event {
                    rev,
                    key,
                    kind,
                    value,
                    prev: current,
                }),
                bytes,
                slot: slot.clone(),
            });
            slot
        };
        // Whoever holds the database lock commits everything staged so far; by the time this
        // writer gets the lock, its write has either been committed by someone else (the slot
        // is filled) or is still staged and is committed now, by this writer.
        let mut db = self
            .shared
            .db
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if slot.get().is_none() {
            self.commit_staged(&mut db);
        }
        match slot.get() {
            Some(Ok(event)) => Ok(Some(event.clone())),
            Some(Err(why)) => Err(Error::Failed(why.clone()).into()),
            None => Err(Error::Failed("write was not committed".into()).into()),
        }
    }

    fn stage(&self) -> std::sync::MutexGuard<'_, Stage> {
        self.shared
            .stage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Commits every staged write in one transaction, then publishes them in order. Runs with
    /// the database lock held.
    fn commit_staged(&self, db: &mut Db) {
        let batch = std::mem::take(&mut self.stage().batch);
        if batch.is_empty() {
            return;
        }
        let rows: Vec<(Revision, &str, EventType, &[u8])> = batch
            .iter()
            .map(|s| (s.event.rev, &*s.event.key, s.event.kind, s.bytes.as_slice()))
            .collect();
        if let Err(err) = db.commit(&rows) {
            // Nothing of the batch is on disk. Later writes were decided on top of it, so the
            // store stops taking writes instead of guessing.
            let why = err.to_string();
            tracing::error!(%why, "commit failed; the store is now read-only");
            let mut stage = self.stage();
            stage.failed = Some(why.clone());
            for s in &batch {
                stage.overlay.remove(&s.event.key);
                let _ = s.slot.set(Err(why.clone()));
            }
            return;
        }
        let compact_upto = {
            let mut state = self
                .shared
                .state
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            for s in &batch {
                let event = &s.event;
                state.rev = event.rev;
                match event.kind {
                    EventType::Deleted => {
                        state.objects.remove(&event.key);
                    }
                    _ => {
                        state.objects.insert(event.key.clone(), event.value.clone());
                    }
                }
                state.history.push_back(event.clone());
                // Publishing under the state lock keeps a new watcher's backlog and its live
                // subscription free of gaps and duplicates.
                let _ = self.shared.events.send(event.clone());
            }
            self.trim(&mut state)
        };
        {
            // The committed values are now visible in `state`; drop their overlay entries
            // unless a newer staged write to the same key replaced them.
            let mut stage = self.stage();
            for s in &batch {
                if stage
                    .overlay
                    .get(&s.event.key)
                    .is_some_and(|(rev, _)| *rev == s.event.rev)
                {
                    stage.overlay.remove(&s.event.key);
                }
            }
        }
        for s in &batch {
            let _ = s.slot.set(Ok(s.event.clone()));
        }
        if let Some(upto) = compact_upto {
            // History trimming in memory already happened; losing this delete on a crash only
            // means a little more history is reloaded next start.
            if let Err(err) = db.compact(upto) {
                tracing::warn!(%err, upto, "compacting history on disk failed");
            }
        }
    }

    /// Drops in-memory history beyond the window, in batches of a tenth of the window so the
    /// disk delete is amortised. Returns the new compaction point, if it moved.
    fn trim(&self, state: &mut State) -> Option<Revision> {
        let window = self.shared.config.history_window.max(1);
        let slack = (window / 10).max(1);
        if (state.history.len() as u64) < window + slack {
            return None;
        }
        let floor = state.rev.saturating_sub(window);
        while state.history.front().is_some_and(|e| e.rev <= floor) {
            state.history.pop_front();
        }
        state.compacted = floor;
        Some(floor)
    }

    /// Drops all history up to and including `upto` now (for tests and operators).
    pub fn compact(&self, upto: Revision) -> Result<(), Error> {
        let mut db = self
            .shared
            .db
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let upto = {
            let mut state = self
                .shared
                .state
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            let upto = upto.min(state.rev);
            while state.history.front().is_some_and(|e| e.rev <= upto) {
                state.history.pop_front();
            }
            state.compacted = state.compacted.max(upto);
            state.compacted
        };
        db.compact(upto)
    }

    /// Watches keys under `prefix` for changes after revision `after`. Fails with
    /// [`Error::Expired`] when that revision's successors are no longer retained.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, Error> {
        let state = self.state();
        let (backlog, rx) = self.subscribe(&state, prefix, after)?;
        Ok(Watch {
            store: self.clone(),
            prefix: prefix.into(),
            last: after,
            backlog,
            rx,
        })
    }

    /// A list and a watch that starts exactly where the list ends.
    pub fn list_and_watch(&self, prefix: &str) -> (Snapshot, Watch) {
        let state = self.state();
        let snapshot = Snapshot {
            rev: state.rev,
            items: range(&state.objects, prefix)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let rx = self.shared.events.subscribe();
        let watch = Watch {
            store: self.clone(),
            prefix: prefix.into(),
            last: state.rev,
            backlog: VecDeque::new(),
            rx,
        };
        (snapshot, watch)
    }

    fn subscribe(
        &self,
        state: &State,
        prefix: &str,
        after: Revision,
    ) -> Result<(VecDeque<Arc<Event>>, Subscription), Error> {
        if after < state.compacted {
            return Err(Error::Expired {
                requested: after,
                compacted: state.compacted,
            });
        }
        let start = state.history.partition_point(|e| e.rev <= after);
        let backlog = state
            .history
            .range(start..)
            .filter(|e| e.key.starts_with(prefix))
            .cloned()
            .collect();
        Ok((backlog, self.shared.events.subscribe()))
    }
}

/// The live half of a watch.
type Subscription = broadcast::Receiver<Arc<Event>>;

fn range<'a>(
    objects: &'a BTreeMap<Arc<str>, Arc<Value>>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<Value>)> + 'a {
    objects
        .range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(move |(k, _)| k.starts_with(prefix))
}

/// A stream of events under one key prefix, in revision order, without gaps.
pub struct Watch {
    store: Store,
    prefix: Box<str>,
    /// The revision of the last event delivered (or the start point).
    last: Revision,
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("prefix", &self.prefix)
            .field("last", &self.last)
            .finish()
    }
}

impl Watch {
    /// The revision of the last event delivered, or the start point.
    pub fn last_revision(&self) -> Revision {
        self.last
    }

    /// The next event. Returns `Err(Expired)` when this watcher fell so far behind that the
    /// history window no longer holds what it missed; the caller must re-list.
    pub async fn next(&mut self) -> Result<Arc<Event>, Error> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.rev;
                return Ok(event);
            }
            match self.rx.recv().await {
                Ok(event) => {
                    if event.rev <= self.last || !event.key.starts_with(&*self.prefix) {
                        continue;
                    }
                    self.last = event.rev;
                    return Ok(event);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the history window.
                    let state = self.store.state();
                    let (backlog, rx) = self.store.subscribe(&state, &self.prefix, self.last)?;
                    self.backlog = backlog;
                    self.rx = rx;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    // The store lives as long as this watch holds a clone of it, so the
                    // sender cannot be gone; park rather than spin if it ever is.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
