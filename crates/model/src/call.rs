//! The Call resource (Bird spec §4.1) and its enumerations (§3, §7).

use serde::{Deserialize, Serialize};

use crate::request::CreateCall;
use crate::{CallId, ChannelId, FlowRecord, Timestamp};

/// Call status (spec §3, §7). Terminal: `completed`, `no-answer`, `busy`, `failed`, `cancelled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    /// An outgoing call accepted by the API, not yet dialled.
    Accepted,
    /// The call has been initiated (inbound: the INVITE arrived).
    Starting,
    /// The destination is ringing (inbound: we sent 180).
    Ringing,
    /// The call is answered and in progress.
    Ongoing,
    /// The call ended normally after being answered.
    Completed,
    /// The call ended without being answered.
    NoAnswer,
    /// The destination was busy (or the call was rejected as busy).
    Busy,
    /// The call failed.
    Failed,
    /// The call was cancelled before it started.
    Cancelled,
    /// A call waiting for its `scheduledFor` time.
    Scheduled,
}

impl CallStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [CallStatus; 10] = [
        Self::Scheduled,
        Self::Accepted,
        Self::Starting,
        Self::Ringing,
        Self::Ongoing,
        Self::Completed,
        Self::NoAnswer,
        Self::Busy,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Bird's wire name (`no-answer`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Starting => "starting",
            Self::Ringing => "ringing",
            Self::Ongoing => "ongoing",
            Self::Completed => "completed",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Scheduled => "scheduled",
        }
    }

    /// Parses Bird's wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// True once the call has ended; a terminal status never changes again.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::NoAnswer | Self::Busy | Self::Failed | Self::Cancelled
        )
    }
}

/// Which way the call goes, seen from Warbler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A call that reached Warbler (an inbound INVITE).
    Incoming,
    /// A call Warbler placed.
    Outgoing,
}

impl Direction {
    /// Bird's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::Outgoing => "outgoing",
        }
    }

    /// Parses Bird's wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Incoming, Self::Outgoing]
            .into_iter()
            .find(|direction| direction.as_str() == text)
    }
}

/// The kind of leg (spec §3). Every call Warbler handles over SIP is `sip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallType {
    /// A phone-network call (through a carrier).
    Pstn,
    /// A SIP call.
    Sip,
    /// A browser call.
    Webrtc,
}

impl CallType {
    /// Bird's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pstn => "pstn",
            Self::Sip => "sip",
            Self::Webrtc => "webrtc",
        }
    }

    /// Parses Bird's wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pstn, Self::Sip, Self::Webrtc]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Who ended the call (spec §3, §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HangupSource {
    /// The calling party (for an inbound call: the remote phone).
    Caller,
    /// The called party.
    Callee,
    /// The API: a `hangup` command, a PATCH with `status: completed`, or the end of a flow.
    Api,
    /// A ring timeout or the maximum duration.
    Timeout,
    /// RTP stopped arriving.
    MediaTimeout,
    /// Not known.
    None,
}

impl HangupSource {
    /// Bird's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
            Self::Api => "api",
            Self::Timeout => "timeout",
            Self::MediaTimeout => "media-timeout",
            Self::None => "none",
        }
    }

    /// Parses Bird's wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Caller,
            Self::Callee,
            Self::Api,
            Self::Timeout,
            Self::MediaTimeout,
            Self::None,
        ]
        .into_iter()
        .find(|source| source.as_str() == text)
    }
}

/// ITU-T Q.850 cause values used in `hangupCauseCode`.
pub mod q850 {
    /// 1: unallocated (unassigned) number.
    pub const UNALLOCATED_NUMBER: u16 = 1;
    /// 16: normal call clearing.
    pub const NORMAL_CLEARING: u16 = 16;
    /// 17: user busy.
    pub const USER_BUSY: u16 = 17;
    /// 19: no answer from user (user alerted).
    pub const NO_ANSWER: u16 = 19;
    /// 21: call rejected.
    pub const CALL_REJECTED: u16 = 21;
    /// 31: normal, unspecified.
    pub const NORMAL_UNSPECIFIED: u16 = 31;
    /// 41: temporary failure.
    pub const TEMPORARY_FAILURE: u16 = 41;
    /// 47: resource unavailable, unspecified.
    pub const RESOURCE_UNAVAILABLE: u16 = 47;
    /// 88: incompatible destination (no common codec).
    pub const INCOMPATIBLE_DESTINATION: u16 = 88;
    /// 127: interworking, unspecified.
    pub const INTERWORKING: u16 = 127;
}

/// `originator` / `receiver` (spec §4.2): the structured party.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyIdentifier {
    /// The number (or SIP user) of the party.
    pub number: NumberIdentifier,
}

/// `number` inside a [`PartyIdentifier`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberIdentifier {
    /// The leg type.
    #[serde(rename = "type")]
    pub kind: CallType,
    /// The number or SIP user as signalled.
    pub number: String,
}

/// `notification` (spec §4.7): a per-call webhook URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallNotification {
    /// Where this call's events are POSTed (`http` or `https`).
    pub url: String,
}

/// A call (spec §4.1), exactly as the API shows it. Absent fields are omitted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The call's id.
    pub id: CallId,
    /// The channel it belongs to.
    pub channel_id: ChannelId,
    /// Caller address as signalled.
    pub from: String,
    /// Callee address as signalled.
    pub to: String,
    /// Structured caller.
    pub originator: PartyIdentifier,
    /// Structured callee.
    pub receiver: PartyIdentifier,
    /// For a bridged leg: the original call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<CallId>,
    /// Which way the call goes.
    pub direction: Direction,
    /// Current status.
    pub status: CallStatus,
    /// Free-text reason for the last status (e.g. why it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Leg type.
    #[serde(rename = "type")]
    pub kind: CallType,
    /// Seconds from answer to end (0 when never answered); set when the call ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// Q.850 cause of the ending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_cause_code: Option<u16>,
    /// Who ended the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_source: Option<HangupSource>,
    /// The SIP status code that ended the call, as a string (`"200"` for a BYE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_sip_code: Option<String>,
    /// When the call was created.
    pub created_at: Timestamp,
    /// When the call last changed.
    pub updated_at: Timestamp,
    /// When it started ringing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ringing_at: Option<Timestamp>,
    /// When it was answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Timestamp>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// For an outbound call created with `scheduledFor`: when it is to be placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<Timestamp>,
    /// The current call flow and each command's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_flow: Option<FlowRecord>,
    /// The per-call webhook URL given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<CallNotification>,
    /// Lower-case tags given at creation (at most 10); omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Call {
    /// A new inbound call in status `starting`.
    pub fn incoming(
        id: CallId,
        channel_id: ChannelId,
        from: String,
        to: String,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            channel_id,
            originator: PartyIdentifier {
                number: NumberIdentifier {
                    kind: CallType::Sip,
                    number: from.clone(),
                },
            },
            receiver: PartyIdentifier {
                number: NumberIdentifier {
                    kind: CallType::Sip,
                    number: to.clone(),
                },
            },
            from,
            to,
            parent_id: None,
            direction: Direction::Incoming,
            status: CallStatus::Starting,
            reason: None,
            kind: CallType::Sip,
            duration: None,
            hangup_cause_code: None,
            hangup_source: None,
            hangup_sip_code: None,
            created_at: now,
            updated_at: now,
            ringing_at: None,
            answered_at: None,
            ended_at: None,
            scheduled_for: None,
            call_flow: None,
            notification: None,
            tags: Vec::new(),
        }
    }

    /// A new outbound call in status `accepted` (not yet dialled).
    pub fn outgoing(
        id: CallId,
        channel_id: ChannelId,
        from: String,
        to: String,
        now: Timestamp,
    ) -> Self {
        Self {
            direction: Direction::Outgoing,
            status: CallStatus::Accepted,
            ..Self::incoming(id, channel_id, from, to, now)
        }
    }

    /// The call a `POST …/calls` creates: outbound, with the request's `scheduledFor`,
    /// `notification` and `tags`; status `scheduled` when `scheduledFor` is given, else
    /// `accepted`. `from` is the caller id chosen (the request's, or the channel's number).
    pub fn from_create_call(
        id: CallId,
        channel_id: ChannelId,
        from: String,
        request: &CreateCall,
        now: Timestamp,
    ) -> Self {
        let mut call = Self::outgoing(id, channel_id, from, request.to.clone(), now);
        if request.scheduled_for.is_some() {
            call.status = CallStatus::Scheduled;
        }
        call.scheduled_for = request.scheduled_for;
        call.notification = request.notification.clone();
        call.tags = request.tags.clone();
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_birds_kebab_case() {
        for status in CallStatus::ALL {
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(CallStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(CallStatus::NoAnswer.as_str(), "no-answer");
        assert_eq!(HangupSource::MediaTimeout.as_str(), "media-timeout");
    }

    #[test]
    fn new_incoming_call_omits_absent_fields() {
        let call = Call::incoming(
            CallId::from_parts(1, [1; 10]),
            ChannelId::from_parts(1, [2; 10]),
            "alice".into(),
            "1000".into(),
            Timestamp::from_unix_millis(1_698_334_006_543),
        );
        let json = serde_json::to_value(&call).expect("serializes");
        assert_eq!(json["status"], "starting");
        assert_eq!(json["direction"], "incoming");
        assert_eq!(json["type"], "sip");
        assert_eq!(json["createdAt"], "2023-10-26T15:26:46.543Z");
        assert!(json.get("endedAt").is_none());
        assert!(json.get("hangupSource").is_none());
        assert_eq!(json["originator"]["number"]["number"], "alice");
        assert!(json.get("tags").is_none());
        assert!(json.get("scheduledFor").is_none());
        assert!(json.get("notification").is_none());
    }

    #[test]
    fn outgoing_calls_start_accepted_or_scheduled() {
        let now = Timestamp::from_unix_millis(1_698_334_006_543);
        let id = CallId::from_parts(1, [1; 10]);
        let channel = ChannelId::from_parts(1, [2; 10]);
        let call = Call::outgoing(
            id,
            channel,
            "+31201234567".into(),
            "+31612345678".into(),
            now,
        );
        assert_eq!(call.status, CallStatus::Accepted);
        assert_eq!(call.direction, Direction::Outgoing);

        let request = crate::request::parse_create_call(
            serde_json::json!({
                "to": "+31612345678",
                "scheduledFor": "2023-10-27T00:00:00Z",
                "notification": {"url": "https://example.com/hook"},
                "tags": ["VIP"]
            }),
            now,
        )
        .expect("valid");
        let call = Call::from_create_call(id, channel, "+31201234567".into(), &request, now);
        let json = serde_json::to_value(&call).expect("serializes");
        assert_eq!(json["status"], "scheduled");
        assert_eq!(json["direction"], "outgoing");
        assert_eq!(json["scheduledFor"], "2023-10-27T00:00:00.000Z");
        assert_eq!(json["notification"]["url"], "https://example.com/hook");
        assert_eq!(json["tags"], serde_json::json!(["vip"]));
        assert_eq!(json["to"], "+31612345678");
    }
}
