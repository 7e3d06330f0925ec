//! Webhook subscriptions and the events they deliver (spec §10).

use serde::{Deserialize, Serialize};

use crate::{Call, OrganizationId, SubscriptionId, Timestamp, WorkspaceId};

/// The Notifications-API service of a subscription (spec §10.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookService {
    /// Channels (voice events belong here).
    Channels,
    /// Numbers.
    Numbers,
    /// Payments.
    Payments,
    /// Conversations.
    Conversations,
}

/// A voice event type (spec §10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `voice.inbound`: status changes of incoming calls.
    VoiceInbound,
    /// `voice.outbound`: status changes of outgoing calls.
    VoiceOutbound,
}

impl EventKind {
    /// Bird's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VoiceInbound => "voice.inbound",
            Self::VoiceOutbound => "voice.outbound",
        }
    }

    /// Parses Bird's name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::VoiceInbound, Self::VoiceOutbound]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One `{key, value}` filter of a subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// `channelId` or `status`.
    pub key: String,
    /// The value to match.
    pub value: String,
}

/// A stored webhook subscription, as the API shows it (the signing key is never shown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The service (`channels`).
    pub service: WebhookService,
    /// The event type.
    pub event: EventKind,
    /// The receiver.
    pub url: String,
    /// Filters (ANDed across keys, ORed within a key).
    pub event_filters: Vec<EventFilter>,
    /// Bird's `template`, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Always `active` here.
    pub status: &'static str,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// HMAC key; never serialized.
    #[serde(skip)]
    pub signing_key: String,
}

impl WebhookSubscription {
    /// Whether an event about `call` passes this subscription's filters: keys are ANDed,
    /// values of one key ORed (spec §10.2).
    pub fn matches(&self, event: EventKind, call: &Call) -> bool {
        if self.event != event {
            return false;
        }
        let channel = call.channel_id.to_string();
        let mut channel_filter = None::<bool>;
        let mut status_filter = None::<bool>;
        for filter in &self.event_filters {
            match filter.key.as_str() {
                "channelId" => {
                    let matched = filter.value.eq_ignore_ascii_case(&channel);
                    channel_filter = Some(channel_filter.unwrap_or(false) || matched);
                }
                "status" => {
                    let matched = filter.value == call.status.as_str();
                    status_filter = Some(status_filter.unwrap_or(false) || matched);
                }
                _ => {}
            }
        }
        channel_filter.unwrap_or(true) && status_filter.unwrap_or(true)
    }
}

/// The body of a delivery: `{"service":"channels","event":"voice.inbound","payload":<Call>}`.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookEnvelope<'a> {
    /// Always `channels`.
    pub service: WebhookService,
    /// The event type.
    pub event: EventKind,
    /// The call in its new status.
    pub payload: &'a Call,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallId, CallStatus, ChannelId};

    fn subscription(filters: Vec<(&str, &str)>) -> WebhookSubscription {
        WebhookSubscription {
            id: SubscriptionId::from_parts(1, [0; 10]),
            organization_id: OrganizationId::from_parts(1, [1; 10]),
            workspace_id: WorkspaceId::from_parts(1, [2; 10]),
            service: WebhookService::Channels,
            event: EventKind::VoiceInbound,
            url: "http://127.0.0.1/hook".into(),
            event_filters: filters
                .into_iter()
                .map(|(key, value)| EventFilter {
                    key: key.into(),
                    value: value.into(),
                })
                .collect(),
            template: None,
            status: "active",
            created_at: Timestamp::from_unix_millis(0),
            updated_at: Timestamp::from_unix_millis(0),
            signing_key: String::new(),
        }
    }

    fn call(status: CallStatus) -> Call {
        let mut call = Call::incoming(
            CallId::from_parts(1, [3; 10]),
            ChannelId::from_parts(1, [4; 10]),
            "a".into(),
            "b".into(),
            Timestamp::from_unix_millis(0),
        );
        call.status = status;
        call
    }

    #[test]
    fn filters_and_across_keys_and_or_within_a_key() {
        let channel = call(CallStatus::Ongoing).channel_id.to_string();
        let both = subscription(vec![
            ("channelId", &channel),
            ("status", "ongoing"),
            ("status", "completed"),
        ]);
        assert!(both.matches(EventKind::VoiceInbound, &call(CallStatus::Ongoing)));
        assert!(both.matches(EventKind::VoiceInbound, &call(CallStatus::Completed)));
        assert!(!both.matches(EventKind::VoiceInbound, &call(CallStatus::Ringing)));
        assert!(!both.matches(EventKind::VoiceOutbound, &call(CallStatus::Ongoing)));
        let other_channel =
            subscription(vec![("channelId", "b827924e-9789-4c2f-a4d5-b352175354f6")]);
        assert!(!other_channel.matches(EventKind::VoiceInbound, &call(CallStatus::Ongoing)));
        assert!(subscription(vec![]).matches(EventKind::VoiceInbound, &call(CallStatus::Ringing)));
    }
}
