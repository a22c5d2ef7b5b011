//! The on-disk half of the store: one SQLite database with the current objects, the event
//! history window and the revision counters.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::{Error, EventType, Revision};

/// A row of the history table, as loaded at start.
pub(crate) struct HistoryRow {
    pub rev: Revision,
    pub key: String,
    pub kind: EventType,
    pub value: Value,
}

/// Everything read from disk at open.
pub(crate) struct Loaded {
    pub objects: Vec<(String, Value)>,
    pub history: Vec<HistoryRow>,
    pub rev: Revision,
    pub compacted: Revision,
}

/// The single write connection. All writes are serialised by the caller.
pub(crate) struct Db {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, rev INTEGER NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, kind INTEGER NOT NULL, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
";

fn decode(key: &str, bytes: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Corrupt {
        key: key.to_owned(),
        source,
    })
}

impl Db {
    /// Opens (creating if needed) the database at `path` and reads it whole.
    pub fn open(path: &Path) -> Result<(Db, Loaded), Error> {
        let conn = Connection::open(path)?;
        // WAL keeps readers off the writer's back; FULL syncs the WAL on every commit, which
        // is what makes an acknowledged write survive a crash or power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;

        let meta = |name: &str| -> Result<Revision, Error> {
            let v: Option<i64> = conn
                .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(v.unwrap_or(0) as Revision)
        };
        let mut rev = meta("rev")?;
        let compacted = meta("compacted")?;

        let mut objects = Vec::new();
        {
            let mut stmt = conn.prepare("SELECT key, value FROM objects")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let key: String = row.get(0)?;
                let bytes: Vec<u8> = row.get(1)?;
                let value = decode(&key, &bytes)?;
                objects.push((key, value));
            }
        }
        let mut history = Vec::new();
        {
            let mut stmt =
                conn.prepare("SELECT rev, key, kind, value FROM history ORDER BY rev")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let r: i64 = row.get(0)?;
                let key: String = row.get(1)?;
                let code: i64 = row.get(2)?;
                let bytes: Vec<u8> = row.get(3)?;
                let value = decode(&key, &bytes)?;
                let kind = EventType::from_code(code).unwrap_or(EventType::Modified);
                rev = rev.max(r as Revision);
                history.push(HistoryRow {
                    rev: r as Revision,
                    key,
                    kind,
                    value,
                });
            }
        }
        Ok((
            Db { conn },
            Loaded {
                objects,
                history,
                rev,
                compacted,
            },
        ))
    }

    /// Commits a batch of writes (in revision order) in one transaction: for each, the new
    /// current value (or its removal) and the history row; then the revision counter. One
    /// transaction means one fsync for the whole batch.
    pub fn commit(&mut self, batch: &[(Revision, &str, EventType, &[u8])]) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO objects (key, rev, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET rev = excluded.rev, value = excluded.value",
            )?;
            let mut remove = tx.prepare_cached("DELETE FROM objects WHERE key = ?1")?;
            let mut history = tx.prepare_cached(
                "INSERT INTO history (rev, key, kind, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (rev, key, kind, bytes) in batch {
                match kind {
                    EventType::Deleted => {
                        remove.execute([key])?;
                    }
                    EventType::Added | EventType::Modified => {
                        upsert.execute(params![key, *rev as i64, bytes])?;
                    }
                }
                history.execute(params![*rev as i64, key, kind.code(), bytes])?;
            }
        }
        if let Some((last, ..)) = batch.last() {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('rev', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [*last as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops history up to and including `upto`.
    pub fn compact(&mut self, upto: Revision) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM history WHERE rev <= ?1", [upto as i64])?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('compacted', ?1)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [upto as i64],
        )?;
        tx.commit()?;
        Ok(())
    }
}
