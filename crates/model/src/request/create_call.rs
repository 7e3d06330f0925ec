//! `POST /workspaces/{workspaceId}/channels/{channelId}/calls` (spec §5.1).

use serde::Deserialize;
use serde_json::Value;

use super::commands::{
    DEFAULT_RING_TIMEOUT_SECONDS, MAX_BRIDGE_DURATION_SECONDS, MAX_RING_TIMEOUT_SECONDS,
    MIN_RING_TIMEOUT_SECONDS, check_range, validate_address, validate_notification,
};
use super::{FlowContext, deserialize, parse_call_flow};
use crate::{
    AmdSettings, CallFlow, CallNotification, DtmfKey, FlowStart, RecordStart, Timestamp,
    ValidationError,
};

/// At most this many `tags` (spec §4.1).
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters (spec §4.1).
pub const MAX_TAG_CHARACTERS: usize = 50;
/// `maxDuration` of a created call when absent (spec §5.1: 4 hours).
const DEFAULT_CALL_DURATION_SECONDS: u32 = 14_400;
/// Longest `sendKeys` (spec §3).
const MAX_SEND_KEYS: usize = 20;

/// A parsed create-call body (spec §5.1), validated, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateCall {
    /// Caller id (a number or SIP URI); absent: the channel's number.
    pub from: Option<String>,
    /// Destination: an E.164-style number or a `sip:`/`sips:` URI.
    pub to: String,
    /// Seconds to ring before giving up (3–120; default 30).
    pub ring_timeout: u32,
    /// Longest the call may last, in seconds (1–86400; default 14400).
    pub max_duration: u32,
    /// DTMF keys sent when the call connects (`sendKeys`; empty when none).
    pub send_keys: Vec<DtmfKey>,
    /// Record the whole call (default false).
    pub record: bool,
    /// When that recording starts.
    pub record_start: RecordStart,
    /// Record one party per stereo channel (default false).
    pub stereo: bool,
    /// When the flow starts.
    pub flow_start: FlowStart,
    /// The flow (create-call command set; empty when absent).
    pub call_flow: CallFlow,
    /// When to place the call; always later than the `now` it was parsed at.
    pub scheduled_for: Option<Timestamp>,
    /// Per-call webhook URL.
    pub notification: Option<CallNotification>,
    /// Answering-machine detection settings, as given.
    pub amd_settings: Option<AmdSettings>,
    /// Tags, lower-cased, duplicates removed (first occurrence kept).
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateCallWire {
    #[serde(default)]
    from: Option<String>,
    to: String,
    #[serde(default)]
    ring_timeout: Option<u32>,
    #[serde(default)]
    max_duration: Option<u32>,
    #[serde(default)]
    send_keys: Option<String>,
    #[serde(default)]
    record: Option<bool>,
    #[serde(default)]
    record_start: Option<RecordStart>,
    #[serde(default)]
    flow_start: Option<FlowStart>,
    #[serde(default)]
    stereo: Option<bool>,
    #[serde(default)]
    call_flow: Option<Vec<Value>>,
    #[serde(default)]
    scheduled_for: Option<String>,
    #[serde(default)]
    notification: Option<CallNotification>,
    #[serde(default)]
    amd_settings: Option<AmdSettings>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Parses a create-call body. `now` is the request's time: `scheduledFor` must be after it.
pub fn parse_create_call(body: Value, now: Timestamp) -> Result<CreateCall, ValidationError> {
    if !body.is_object() {
        return Err(ValidationError::invalid(
            "",
            "the body must be a JSON object",
        ));
    }
    let wire: CreateCallWire = deserialize("", body)?;
    validate_address("to", &wire.to)?;
    if let Some(from) = &wire.from {
        validate_address("from", from)?;
    }
    let ring_timeout = check_range(
        "",
        "ringTimeout",
        wire.ring_timeout,
        MIN_RING_TIMEOUT_SECONDS,
        MAX_RING_TIMEOUT_SECONDS,
        DEFAULT_RING_TIMEOUT_SECONDS,
    )?;
    let max_duration = check_range(
        "",
        "maxDuration",
        wire.max_duration,
        1,
        MAX_BRIDGE_DURATION_SECONDS,
        DEFAULT_CALL_DURATION_SECONDS,
    )?;
    let send_keys = match wire.send_keys {
        Some(keys) => parse_send_keys(&keys)?,
        None => Vec::new(),
    };
    let call_flow = match wire.call_flow {
        Some(commands) => parse_call_flow("callFlow", commands, FlowContext::CreateCall)?,
        None => CallFlow::default(),
    };
    let scheduled_for = match wire.scheduled_for {
        Some(text) => Some(parse_schedule(&text, now)?),
        None => None,
    };
    if let Some(notification) = &wire.notification {
        validate_notification("notification", notification)?;
    }
    let tags = parse_tags(wire.tags.unwrap_or_default())?;
    Ok(CreateCall {
        from: wire.from,
        to: wire.to,
        ring_timeout,
        max_duration,
        send_keys,
        record: wire.record.unwrap_or(false),
        record_start: wire.record_start.unwrap_or_default(),
        stereo: wire.stereo.unwrap_or(false),
        flow_start: wire.flow_start.unwrap_or_default(),
        call_flow,
        scheduled_for,
        notification: wire.notification,
        amd_settings: wire.amd_settings,
        tags,
    })
}

fn parse_send_keys(text: &str) -> Result<Vec<DtmfKey>, ValidationError> {
    let keys: Option<Vec<DtmfKey>> = text.chars().map(DtmfKey::from_char).collect();
    match keys {
        Some(keys) if (1..=MAX_SEND_KEYS).contains(&keys.len()) => Ok(keys),
        _ => Err(ValidationError::invalid(
            "sendKeys",
            format!("sendKeys must be 1 to {MAX_SEND_KEYS} of the keys 0-9, * and #"),
        )),
    }
}

fn parse_schedule(text: &str, now: Timestamp) -> Result<Timestamp, ValidationError> {
    let time = Timestamp::parse_rfc3339(text).ok_or_else(|| {
        ValidationError::invalid("scheduledFor", "scheduledFor must be an RFC 3339 date-time")
    })?;
    if time <= now {
        return Err(ValidationError::invalid(
            "scheduledFor",
            "scheduledFor must be in the future",
        ));
    }
    Ok(time)
}

/// Checks and normalizes tags: at most 10, each 1–50 characters and not blank, lower-cased,
/// duplicates dropped.
fn parse_tags(given: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if given.len() > MAX_TAGS {
        return Err(ValidationError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags are allowed, got {}", given.len()),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(given.len());
    for (index, tag) in given.into_iter().enumerate() {
        let tag = check_tag(&format!("tags[{index}]"), &tag)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// Checks one tag found at `path` and lower-cases it (also used by the `tag` list filter).
pub(super) fn check_tag(path: &str, tag: &str) -> Result<String, ValidationError> {
    let characters = tag.chars().count();
    if tag.trim().is_empty() || characters > MAX_TAG_CHARACTERS {
        return Err(ValidationError::invalid(
            path,
            format!("a tag must be 1 to {MAX_TAG_CHARACTERS} characters and not blank"),
        ));
    }
    if tag.chars().any(char::is_control) {
        return Err(ValidationError::invalid(
            path,
            "a tag must not contain control characters",
        ));
    }
    Ok(tag.to_lowercase())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Command;

    /// 2023-10-26T15:26:46.543Z
    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_698_334_006_543)
    }

    #[test]
    fn minimal_body_gets_the_defaults() {
        let call = parse_create_call(json!({"to": "+351000000000"}), now()).expect("valid");
        assert_eq!(
            call,
            CreateCall {
                from: None,
                to: "+351000000000".into(),
                ring_timeout: 30,
                max_duration: 14_400,
                send_keys: vec![],
                record: false,
                record_start: RecordStart::RecordFromAnswer,
                stereo: false,
                flow_start: FlowStart::FromAnswer,
                call_flow: CallFlow::default(),
                scheduled_for: None,
                notification: None,
                amd_settings: None,
                tags: vec![],
            }
        );
    }

    #[test]
    fn parses_birds_example_and_every_field() {
        let call = parse_create_call(
            json!({
                "to": "+351000000000",
                "callFlow": [
                    {"command": "playback", "options": {
                        "media": ["https://www.media.com.com/audio/code1.wav",
                                  "https://www.media.com.com/audio/code2.wav"],
                        "pauseMilliseconds": 100}},
                    {"command": "hangup"}
                ]
            }),
            now(),
        )
        .expect("Bird's example 1");
        assert_eq!(call.call_flow.steps.len(), 2);

        let call = parse_create_call(
            json!({
                "from": "+31201234567", "to": "sip:bob@example.com", "ringTimeout": 3,
                "maxDuration": 1, "sendKeys": "12*#0", "record": true,
                "recordStart": "record-from-ringing", "flowStart": "from-ringing", "stereo": true,
                "callFlow": [{"command": "gather", "options": {"maxNumKeys": 1}},
                             {"command": "record"},
                             {"command": "bridge", "options": {"to": "1000"}},
                             {"command": "pause", "options": {"length": 1}}],
                "scheduledFor": "2023-10-26T17:26:47+02:00",
                "notification": {"url": "http://127.0.0.1:9000/hook"},
                "amdSettings": {"enabled": true},
                "tags": ["Sales", "EU", "sales"]
            }),
            now(),
        )
        .expect("valid");
        assert_eq!(call.from.as_deref(), Some("+31201234567"));
        assert_eq!(call.ring_timeout, 3);
        assert_eq!(call.max_duration, 1);
        assert_eq!(
            call.send_keys,
            vec![
                DtmfKey::One,
                DtmfKey::Two,
                DtmfKey::Star,
                DtmfKey::Pound,
                DtmfKey::Zero
            ]
        );
        assert!(call.record && call.stereo);
        assert_eq!(call.record_start, RecordStart::RecordFromRinging);
        assert_eq!(call.flow_start, FlowStart::FromRinging);
        assert!(matches!(
            call.call_flow.steps[2].command,
            Command::Bridge(_)
        ));
        assert_eq!(
            call.scheduled_for,
            Some(Timestamp::from_unix_millis(1_698_334_007_000))
        );
        assert_eq!(call.tags, vec!["sales".to_owned(), "eu".to_owned()]);
        assert_eq!(call.amd_settings.and_then(|amd| amd.enabled), Some(true));
    }

    #[test]
    fn invalid_bodies_name_the_field_path() {
        let long_tag = "t".repeat(51);
        let eleven: Vec<String> = (0..11).map(|index| format!("tag{index}")).collect();
        let cases = [
            (json!({}), "to", "MissingField"),
            (json!({"to": ""}), "to", "InvalidValue"),
            (json!({"to": "alice"}), "to", "InvalidValue"),
            (json!({"to": 31}), "to", "InvalidValue"),
            (
                json!({"to": "1000", "from": "+31 20"}),
                "from",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "ringTimeout": 2}),
                "ringTimeout",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "ringTimeout": 121}),
                "ringTimeout",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "maxDuration": 0}),
                "maxDuration",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "maxDuration": 86401}),
                "maxDuration",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "sendKeys": ""}),
                "sendKeys",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "sendKeys": "12a"}),
                "sendKeys",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "sendKeys": "1".repeat(21)}),
                "sendKeys",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "sendKeys": 12}),
                "sendKeys",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "record": "yes"}),
                "record",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "recordStart": "record-from-start"}),
                "recordStart",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "flowStart": "from-start"}),
                "flowStart",
                "InvalidValue",
            ),
            (json!({"to": "1000", "stereo": 1}), "stereo", "InvalidValue"),
            (
                json!({"to": "1000", "callFlow": [{"command": "answer"}]}),
                "callFlow[0].command",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "callFlow": [{"command": "ringing"}]}),
                "callFlow[0].command",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "callFlow": [{"command": "say", "options": {"text": "hi", "locale": "xx"}}]}),
                "callFlow[0].options.locale",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "scheduledFor": "tomorrow"}),
                "scheduledFor",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "scheduledFor": "2023-10-26T15:26:46.543Z"}),
                "scheduledFor",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "scheduledFor": "2020-01-01T00:00:00Z"}),
                "scheduledFor",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "notification": {"url": "mailto:a@b"}}),
                "notification.url",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "notification": "http://x"}),
                "notification",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "amdSettings": {"enabled": "yes"}}),
                "amdSettings.enabled",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "amdSettings": {"mode": 1}}),
                "amdSettings.mode",
                "UnknownField",
            ),
            (
                json!({"to": "1000", "tags": eleven}),
                "tags",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "tags": ["ok", ""]}),
                "tags[1]",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "tags": ["   "]}),
                "tags[0]",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "tags": [long_tag]}),
                "tags[0]",
                "InvalidValue",
            ),
            (
                json!({"to": "1000", "tags": ["a\u{7}"]}),
                "tags[0]",
                "InvalidValue",
            ),
            (json!({"to": "1000", "tags": "vip"}), "tags", "InvalidValue"),
            (
                json!({"to": "1000", "colour": "red"}),
                "colour",
                "UnknownField",
            ),
            (json!(["to"]), "", "InvalidValue"),
        ];
        for (body, path, code) in cases {
            let error = parse_create_call(body.clone(), now()).expect_err("must be invalid");
            assert_eq!(error.path, path, "body {body}: {error:?}");
            assert_eq!(error.code, code, "body {body}: {error:?}");
        }
    }

    #[test]
    fn a_fifty_character_tag_is_kept_and_lower_cased() {
        let tag = "É".repeat(50);
        let call = parse_create_call(json!({"to": "1000", "tags": [tag]}), now()).expect("valid");
        assert_eq!(call.tags, vec!["é".repeat(50)]);
    }
}
