//! Errors returned by the store.

use crate::Revision;

/// Everything that can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested watch start lies before the retained history window; the caller must
    /// re-list (Kubernetes answers `410 Gone`, reason `Expired`).
    #[error("too old resource version: {requested} ({compacted})")]
    Expired {
        /// The revision the caller asked to resume after.
        requested: Revision,
        /// The newest revision whose events have been dropped.
        compacted: Revision,
    },
    /// The database failed; the write was not applied.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be decoded; the database was changed behind our back.
    #[error("corrupt value for key {key}: {source}")]
    Corrupt {
        /// The key whose value is unreadable.
        key: String,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// An earlier commit failed on disk; the store refuses writes from then on rather than
    /// risk acknowledging what it cannot keep.
    #[error("the store stopped taking writes after a failed commit: {0}")]
    Failed(String),
    /// A value handed to the store was not a JSON object, so it cannot carry a revision.
    #[error("value for key {0} is not a JSON object")]
    NotAnObject(String),
}
