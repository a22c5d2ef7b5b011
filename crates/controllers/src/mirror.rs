//! A controller's in-memory copy of one watched kind, and the small facts about Pods that
//! several controllers ask.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;

/// `(namespace, name)`; ordered, so one namespace is a range.
pub type Key = (String, String);

/// The key of an object.
pub fn key_of(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Whether a non-empty equality selector selects `pod` (an empty one selects nothing, as for
/// Services and ReplicaSets).
pub fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Whether the pod's `Ready` condition is true.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What a watch event changed in a [`Mirror`].
#[derive(Debug)]
pub enum Seen<T> {
    /// Nothing visible yet (an initial list in progress).
    Nothing,
    /// The initial list is complete; everything may have changed.
    Synced,
    /// An object was added or changed; `old` is its previous value.
    Applied {
        /// The value before, if the object was known.
        old: Option<T>,
        /// The value now.
        new: T,
    },
    /// An object was deleted.
    Deleted(T),
}

/// Every object of one kind, kept from a watch, with its initial-list bookkeeping.
#[derive(Debug)]
pub struct Mirror<T> {
    /// The objects, by key.
    pub items: BTreeMap<Key, T>,
    listing: Vec<T>,
    synced: bool,
}

impl<T> Default for Mirror<T> {
    fn default() -> Self {
        Mirror {
            items: BTreeMap::new(),
            listing: Vec::new(),
            synced: false,
        }
    }
}

impl<T: kube::Resource + Clone> Mirror<T> {
    /// Whether the first complete list has arrived.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Applies one watch event.
    pub fn handle(&mut self, event: watcher::Event<T>) -> Seen<T> {
        match event {
            watcher::Event::Init => {
                self.listing.clear();
                Seen::Nothing
            }
            watcher::Event::InitApply(obj) => {
                self.listing.push(obj);
                Seen::Nothing
            }
            watcher::Event::InitDone => {
                self.items = self
                    .listing
                    .drain(..)
                    .map(|o| (key_of(o.meta()), o))
                    .collect();
                self.synced = true;
                Seen::Synced
            }
            watcher::Event::Apply(obj) => {
                let old = self.items.insert(key_of(obj.meta()), obj.clone());
                Seen::Applied { old, new: obj }
            }
            watcher::Event::Delete(obj) => {
                self.items.remove(&key_of(obj.meta()));
                Seen::Deleted(obj)
            }
        }
    }

    /// The objects in one namespace.
    pub fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = (&'a Key, &'a T)> + 'a {
        self.items
            .range((ns.to_owned(), String::new())..)
            .take_while(move |(k, _)| k.0 == ns)
    }
}
