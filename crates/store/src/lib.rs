//! Durable, revisioned object store with watch-from-revision, on SQLite.
//!
//! The store owns three things: the current value of every key, a global revision counter
//! that increases by one on every write (the Kubernetes `resourceVersion`), and a window of
//! recent change events from which a watch can resume. It knows that values are JSON objects
//! with a `metadata.resourceVersion` field, and nothing else about Kubernetes: no HTTP, no
//! kinds, no validation.
//!
//! Start reading at [`Store`]: [`Store::open`], [`Store::write`] (every mutation goes through
//! it), and [`Store::watch`]. Reads and watches are served from memory; SQLite is there only
//! for durability, so a read never waits on a disk.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a write returns only
//! after its commit is on disk. A process killed at any point loses no acknowledged write, and
//! never leaves half a write behind, because each write is one SQLite transaction.

mod error;
mod event;
mod sqlite;
mod store;

pub use error::Error;
pub use event::{Event, EventType};
pub use store::{Config, Snapshot, Store, Watch, Write};

/// A global store revision. Revision 0 means "no write yet".
pub type Revision = u64;

#[cfg(test)]
mod tests;
