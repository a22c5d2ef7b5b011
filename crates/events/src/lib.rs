//! Writing core/v1 Events about objects, so `kubectl describe` shows what a controller or the
//! proxy did. Shared by `controllers` and `proxy`, which must not depend on each other.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};

/// Normal or Warning, as in `Event.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something worked.
    Normal,
    /// Something needs attention.
    Warning,
}

/// Records one Event about `regarding`, written by `component`. Failures are logged, never
/// returned: an event is a courtesy, not part of the reconcile.
pub async fn record(
    client: &kube::Client,
    regarding: ObjectReference,
    kind: EventType,
    reason: &str,
    message: &str,
    component: &str,
) {
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let now = jiff::Timestamp::now();
    let name = format!(
        "{}.{:x}",
        regarding.name.as_deref().unwrap_or("object"),
        now.as_nanosecond()
    );
    let event = Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: regarding,
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some(match kind {
            EventType::Normal => "Normal".to_owned(),
            EventType::Warning => "Warning".to_owned(),
        }),
        source: Some(EventSource {
            component: Some(component.to_owned()),
            host: None,
        }),
        reporting_component: Some(component.to_owned()),
        reporting_instance: Some(component.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(reason.to_owned()),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(err) = api.create(&PostParams::default(), &event).await {
        tracing::debug!(%err, reason, "recording an event failed");
    }
}
