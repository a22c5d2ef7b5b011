//! Change events, as delivered to watchers.

use std::sync::Arc;

use serde_json::Value;

use crate::Revision;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The key did not exist before this write.
    Added,
    /// The key existed and now has a new value.
    Modified,
    /// The key was removed; the event carries its last value, stamped with the delete's revision.
    Deleted,
}

impl EventType {
    pub(crate) fn code(self) -> i64 {
        match self {
            EventType::Added => 0,
            EventType::Modified => 1,
            EventType::Deleted => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(EventType::Added),
            1 => Some(EventType::Modified),
            2 => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Event {
    /// The revision this write created.
    pub rev: Revision,
    /// The key written.
    pub key: Arc<str>,
    /// What kind of change.
    pub kind: EventType,
    /// The value after the change (for `Deleted`, the last value).
    pub value: Arc<Value>,
    /// The value before the change, when known. Filtered watches need it to turn a change
    /// that leaves a selector into a `Deleted` event. It is `None` for `Added`, and for the
    /// first event of a key in a history reloaded after a restart.
    pub prev: Option<Arc<Value>>,
}
