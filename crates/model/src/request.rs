//! Parsing of Bird request bodies into domain types, with Bird's validation rules.
//!
//! The HTTP layer turns bytes into a `serde_json::Value` (a syntax error is the client's fault:
//! 400); these functions turn the value into a typed request or a [`ValidationError`] (422)
//! naming the field path.

use serde::Deserialize;
use serde_json::Value;

use crate::error::join_path;
use crate::webhook::{EventFilter, EventKind, WebhookService};
use crate::{
    CallFlow, Command, CommandName, Condition, FlowStep, HangupOptions, PauseOptions,
    PlaybackOptions, SayOptions, ValidationError,
};

mod commands;
mod create_call;
mod list;

pub use commands::{
    MAX_ADDRESS_LENGTH, MAX_BRIDGE_DURATION_SECONDS, MAX_GATHER_KEYS, MAX_GATHER_RETRIES,
    MAX_GATHER_TIMEOUT_SECONDS, MAX_RECORD_LENGTH_SECONDS, MAX_RECORD_SILENCE_SECONDS,
    MAX_RING_TIMEOUT_SECONDS, MIN_RING_TIMEOUT_SECONDS, SPEECH_LOCALES, TRANSCRIBE_LOCALES,
    parse_command, validate_address,
};
pub use create_call::{CreateCall, MAX_TAG_CHARACTERS, MAX_TAGS, parse_create_call};
pub use list::{
    CallListQuery, DEFAULT_LIST_LIMIT, MAX_FILTER_CHARACTERS, MAX_LIST_LIMIT,
    MAX_PAGE_TOKEN_CHARACTERS, parse_call_list_query,
};

/// At most this many commands in a `callFlow` (spec §4.3: `maxItems: 20`).
pub const MAX_FLOW_COMMANDS: usize = 20;
/// At most this many media URLs in one `playback` (spec §6.3).
pub const MAX_PLAYBACK_MEDIA: usize = 80;
/// Longest `say` text accepted, in characters.
pub const MAX_SAY_TEXT: usize = 5000;
/// Longest URL accepted anywhere.
pub const MAX_URL_LENGTH: usize = 2048;
/// Largest `loop` accepted.
pub const MAX_LOOP: u32 = 100;
/// Longest `pause` in seconds.
pub const MAX_PAUSE_SECONDS: u32 = 3600;

/// Bird's TTS locales (spec §3.1, newest list of 61).
pub const TTS_LOCALES: [&str; 61] = [
    "arb",
    "ar-AE",
    "bg-BG",
    "bn-IN",
    "ca-ES",
    "cs-CZ",
    "cy-GB",
    "cmn-CN",
    "da-DK",
    "de-CH",
    "de-DE",
    "de-AT",
    "el-GR",
    "en-AU",
    "en-GB",
    "en-IN",
    "en-NZ",
    "en-ZA",
    "en-US",
    "en-GB-WLS",
    "es-ES",
    "es-MX",
    "es-US",
    "eu-ES",
    "fi-FI",
    "fil-PH",
    "fr-FR",
    "fr-BE",
    "fr-CA",
    "gl-ES",
    "gu-IN",
    "he-IL",
    "hi-IN",
    "hu-HU",
    "id-ID",
    "is-IS",
    "it-IT",
    "ja-JP",
    "ko-KR",
    "lt-LT",
    "lv-LV",
    "ms-MY",
    "nl-BE",
    "nl-NL",
    "nb-NO",
    "pa-IN",
    "pl-PL",
    "pt-BR",
    "pt-PT",
    "ro-RO",
    "ru-RU",
    "sk-SK",
    "sr-RS",
    "sv-SE",
    "ta-IN",
    "te-IN",
    "tr-TR",
    "th-TH",
    "uk-UA",
    "vi-VN",
    "yue-CN",
];

/// Which command set a flow may use (spec §3: create-call flows cannot `answer` or `ring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowContext {
    /// `PATCH …/calls/{id}` and channel flows from the configuration: all commands.
    UpdateCall,
    /// `POST …/calls`: no `answer`, no `ringing`.
    CreateCall,
    /// `bridge.callFlow`, run on the new leg: the create-call set (Bird does not document the
    /// set; see docs/bird-compat.md).
    BridgeCall,
}

impl FlowContext {
    /// Whether `answer` and `ringing` may appear (only on an inbound call being updated).
    const fn allows_answer(self) -> bool {
        matches!(self, Self::UpdateCall)
    }

    /// How error messages name the flow.
    const fn description(self) -> &'static str {
        match self {
            Self::UpdateCall => "an update-call flow",
            Self::CreateCall => "a create-call flow",
            Self::BridgeCall => "a bridge flow",
        }
    }
}

/// A parsed `PATCH /workspaces/{ws}/channels/{ch}/calls/{id}` body (spec §5.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchCall {
    /// `status: "completed"`: hang up.
    pub hang_up: bool,
    /// A new flow replacing what is left of the current one.
    pub call_flow: Option<CallFlow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchCallWire {
    #[serde(default)]
    status: Option<PatchStatusWire>,
    #[serde(default)]
    call_flow: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum PatchStatusWire {
    Completed,
}

/// Parses a PATCH call body.
pub fn parse_patch_call(body: Value) -> Result<PatchCall, ValidationError> {
    if !body.is_object() {
        return Err(ValidationError::invalid(
            "",
            "the body must be a JSON object",
        ));
    }
    let wire: PatchCallWire = deserialize("", body)?;
    let call_flow = match wire.call_flow {
        Some(commands) => Some(parse_call_flow(
            "callFlow",
            commands,
            FlowContext::UpdateCall,
        )?),
        None => None,
    };
    let hang_up = matches!(wire.status, Some(PatchStatusWire::Completed));
    if !hang_up && call_flow.is_none() {
        return Err(ValidationError::invalid(
            "",
            "nothing to update: give `status: \"completed\"` or a `callFlow`",
        ));
    }
    Ok(PatchCall { hang_up, call_flow })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandWire {
    command: CommandName,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    conditions: Option<Vec<Condition>>,
}

/// Parses a `callFlow` array found at `path`.
pub fn parse_call_flow(
    path: &str,
    commands: Vec<Value>,
    context: FlowContext,
) -> Result<CallFlow, ValidationError> {
    if commands.len() > MAX_FLOW_COMMANDS {
        return Err(ValidationError::invalid(
            path,
            format!(
                "at most {MAX_FLOW_COMMANDS} commands are allowed, got {}",
                commands.len()
            ),
        ));
    }
    let mut steps = Vec::with_capacity(commands.len());
    for (index, value) in commands.into_iter().enumerate() {
        let command_path = format!("{path}[{index}]");
        steps.push(parse_step(&command_path, value, context)?);
    }
    Ok(CallFlow { steps })
}

fn parse_step(path: &str, value: Value, context: FlowContext) -> Result<FlowStep, ValidationError> {
    if !value.is_object() {
        return Err(ValidationError::invalid(
            path,
            "a command must be a JSON object",
        ));
    }
    let wire: CommandWire = deserialize(path, value)?;
    let options_path = join_path(path, "options");
    let options = match wire.options {
        None | Some(Value::Null) => None,
        Some(options @ Value::Object(_)) => Some(options),
        Some(_) => {
            return Err(ValidationError::invalid(
                options_path,
                "options must be an object",
            ));
        }
    };
    if matches!(wire.command, CommandName::Answer | CommandName::Ringing)
        && !context.allows_answer()
    {
        return Err(ValidationError::invalid(
            join_path(path, "command"),
            format!(
                "`{}` is not allowed in {}",
                wire.command.as_str(),
                context.description()
            ),
        ));
    }
    let command = parse_options(&options_path, wire.command, options)?;
    Ok(FlowStep {
        command,
        conditions: wire.conditions.unwrap_or_default(),
    })
}

/// Parses the options of command `name` found at `path` (absent options are `None`).
fn parse_options(
    path: &str,
    name: CommandName,
    options: Option<Value>,
) -> Result<Command, ValidationError> {
    let command = match name {
        CommandName::Answer => {
            expect_empty(path, options)?;
            Command::Answer
        }
        CommandName::Ringing => {
            expect_empty(path, options)?;
            Command::Ringing
        }
        CommandName::Pause => Command::Pause(parse_pause(path, options)?),
        CommandName::Playback => Command::Playback(parse_playback(path, options)?),
        CommandName::Say => Command::Say(parse_say(path, options)?),
        CommandName::Hangup => {
            let options: HangupOptions = match options {
                Some(value) => deserialize(path, value)?,
                None => HangupOptions::default(),
            };
            Command::Hangup(options)
        }
        CommandName::Gather => Command::Gather(commands::parse_gather(path, options)?),
        CommandName::Record => Command::Record(commands::parse_record(path, options)?),
        CommandName::Bridge => Command::Bridge(Box::new(commands::parse_bridge(path, options)?)),
    };
    Ok(command)
}

fn expect_empty(path: &str, options: Option<Value>) -> Result<(), ValidationError> {
    match options {
        Some(Value::Object(map)) if !map.is_empty() => {
            let first = map.keys().next().map(String::as_str).unwrap_or_default();
            Err(ValidationError {
                path: join_path(path, first),
                message: format!("unknown field `{first}`: this command takes no options"),
                code: "UnknownField",
            })
        }
        _ => Ok(()),
    }
}

fn required(path: &str, options: Option<Value>) -> Result<Value, ValidationError> {
    options.ok_or_else(|| ValidationError {
        path: path.to_owned(),
        message: "options are required for this command".to_owned(),
        code: "MissingField",
    })
}

fn parse_pause(path: &str, options: Option<Value>) -> Result<PauseOptions, ValidationError> {
    let options: PauseOptions = deserialize(path, required(path, options)?)?;
    if options.length == 0 || options.length > MAX_PAUSE_SECONDS {
        return Err(ValidationError::invalid(
            join_path(path, "length"),
            format!("length must be 1 to {MAX_PAUSE_SECONDS} seconds"),
        ));
    }
    Ok(options)
}

fn parse_playback(path: &str, options: Option<Value>) -> Result<PlaybackOptions, ValidationError> {
    let options: PlaybackOptions = deserialize(path, required(path, options)?)?;
    if options.media.is_empty() || options.media.len() > MAX_PLAYBACK_MEDIA {
        return Err(ValidationError::invalid(
            join_path(path, "media"),
            format!("media must hold 1 to {MAX_PLAYBACK_MEDIA} URLs"),
        ));
    }
    for (index, url) in options.media.iter().enumerate() {
        validate_media_url(&format!("{}[{index}]", join_path(path, "media")), url)?;
    }
    check_loop(path, options.loop_count)?;
    if let Some(pause) = options.pause_milliseconds
        && pause > 30_000
    {
        return Err(ValidationError::invalid(
            join_path(path, "pauseMilliseconds"),
            "pauseMilliseconds must be 0 to 30000",
        ));
    }
    Ok(options)
}

fn parse_say(path: &str, options: Option<Value>) -> Result<SayOptions, ValidationError> {
    let options: SayOptions = deserialize(path, required(path, options)?)?;
    let characters = options.text.chars().count();
    if options.text.trim().is_empty() || characters > MAX_SAY_TEXT {
        return Err(ValidationError::invalid(
            join_path(path, "text"),
            format!("text must be 1 to {MAX_SAY_TEXT} characters and not blank"),
        ));
    }
    if !TTS_LOCALES.contains(&options.locale.as_str()) {
        return Err(ValidationError::invalid(
            join_path(path, "locale"),
            format!("`{}` is not one of Bird's TTS locales", options.locale),
        ));
    }
    check_loop(path, options.loop_count)?;
    Ok(options)
}

fn check_loop(path: &str, loop_count: Option<u32>) -> Result<(), ValidationError> {
    match loop_count {
        Some(count) if count == 0 || count > MAX_LOOP => Err(ValidationError::invalid(
            join_path(path, "loop"),
            format!("loop must be 1 to {MAX_LOOP}"),
        )),
        _ => Ok(()),
    }
}

/// Checks a media URL: `http` or `https`, a host, no whitespace, bounded length.
pub fn validate_media_url(path: &str, url: &str) -> Result<(), ValidationError> {
    validate_http_url(url).map_err(|message| ValidationError::invalid(path, message))
}

pub(crate) fn validate_http_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LENGTH {
        return Err(format!(
            "the URL is longer than {MAX_URL_LENGTH} characters"
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err("the URL contains whitespace".to_owned());
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| "only http and https URLs are allowed".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("the URL has no host".to_owned());
    }
    Ok(())
}

/// A parsed `POST /organizations/{org}/workspaces/{ws}/webhook-subscriptions` body (spec §10.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSubscription {
    /// Always `channels` for voice events.
    pub service: WebhookService,
    /// `voice.inbound` or `voice.outbound`.
    pub event: EventKind,
    /// Where deliveries are POSTed.
    pub url: String,
    /// HMAC key for the signature; empty when none was given.
    pub signing_key: String,
    /// Filters (`channelId` at most once, `status` repeatable).
    pub event_filters: Vec<EventFilter>,
    /// Bird's `template`, stored and echoed.
    pub template: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateSubscriptionWire {
    service: WebhookService,
    event: String,
    url: String,
    #[serde(default)]
    signing_key: Option<String>,
    #[serde(default)]
    event_filters: Option<Vec<EventFilter>>,
    #[serde(default)]
    template: Option<String>,
}

/// Parses a webhook subscription body. Unlike Bird, plain `http` URLs are accepted (a
/// self-hosted server's receivers are often on a private network).
pub fn parse_create_subscription(body: Value) -> Result<CreateSubscription, ValidationError> {
    if !body.is_object() {
        return Err(ValidationError::invalid(
            "",
            "the body must be a JSON object",
        ));
    }
    let wire: CreateSubscriptionWire = deserialize("", body)?;
    if wire.service != WebhookService::Channels {
        return Err(ValidationError::unsupported(
            "service",
            "only the `channels` service is available on this server",
        ));
    }
    let event = EventKind::parse(&wire.event).ok_or_else(|| {
        ValidationError::invalid("event", "event must be `voice.inbound` or `voice.outbound`")
    })?;
    validate_http_url(&wire.url).map_err(|message| ValidationError::invalid("url", message))?;
    let signing_key = wire.signing_key.unwrap_or_default();
    if signing_key.len() > 256 {
        return Err(ValidationError::invalid(
            "signingKey",
            "signingKey is longer than 256 bytes",
        ));
    }
    let event_filters = wire.event_filters.unwrap_or_default();
    if event_filters.len() > 20 {
        return Err(ValidationError::invalid(
            "eventFilters",
            "at most 20 filters are allowed",
        ));
    }
    let mut channel_filters = 0;
    for (index, filter) in event_filters.iter().enumerate() {
        let path = format!("eventFilters[{index}]");
        match filter.key.as_str() {
            "channelId" => {
                channel_filters += 1;
                if channel_filters > 1 {
                    return Err(ValidationError::invalid(
                        format!("{path}.key"),
                        "at most one channelId filter is allowed",
                    ));
                }
                if filter.value.parse::<crate::ChannelId>().is_err() {
                    return Err(ValidationError::invalid(
                        format!("{path}.value"),
                        "channelId must be a UUID",
                    ));
                }
            }
            "status" => {
                if crate::CallStatus::parse(&filter.value).is_none() {
                    return Err(ValidationError::invalid(
                        format!("{path}.value"),
                        format!("`{}` is not a call status", filter.value),
                    ));
                }
            }
            _ => {
                return Err(ValidationError::invalid(
                    format!("{path}.key"),
                    "filter keys for voice events are `channelId` and `status`",
                ));
            }
        }
    }
    Ok(CreateSubscription {
        service: wire.service,
        event,
        url: wire.url,
        signing_key,
        event_filters,
        template: wire.template,
    })
}

fn deserialize<T: serde::de::DeserializeOwned>(
    path: &str,
    value: Value,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value)
        .map_err(|error| ValidationError::from_serde(path, error))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{ConditionOperator, HangupCause, Voice};

    fn patch_error(body: Value) -> ValidationError {
        parse_patch_call(body).expect_err("must be invalid")
    }

    #[test]
    fn parses_the_seed_example() {
        let patch = parse_patch_call(json!({"callFlow": [
            {"command": "ringing"},
            {"command": "pause", "options": {"length": 2}},
            {"command": "answer", "options": {}},
            {"command": "say", "options": {"text": "Welcome", "locale": "en-GB", "voice": "male"}},
            {"command": "playback", "options": {"media": ["https://example.com/welcome.wav"]}},
            {"command": "hangup", "conditions": [{"variable": "keys", "operator": "!=", "value": "1"}]}
        ]}))
        .expect("valid");
        assert!(!patch.hang_up);
        let flow = patch.call_flow.expect("flow");
        assert_eq!(flow.steps.len(), 6);
        assert_eq!(flow.steps[0].command, Command::Ringing);
        assert_eq!(
            flow.steps[1].command,
            Command::Pause(PauseOptions { length: 2 })
        );
        match &flow.steps[3].command {
            Command::Say(say) => {
                assert_eq!(say.locale, "en-GB");
                assert_eq!(say.voice, Voice::Male);
            }
            other => panic!("expected say, got {other:?}"),
        }
        assert_eq!(
            flow.steps[5].conditions[0].operator,
            ConditionOperator::NotEqualSymbol
        );
    }

    #[test]
    fn status_completed_alone_hangs_up() {
        let patch = parse_patch_call(json!({"status": "completed"})).expect("valid");
        assert!(patch.hang_up);
        assert!(patch.call_flow.is_none());
    }

    #[test]
    fn say_defaults_to_en_us_female() {
        let patch =
            parse_patch_call(json!({"callFlow": [{"command": "say", "options": {"text": "hi"}}]}))
                .expect("valid");
        let flow = patch.call_flow.expect("flow");
        let Command::Say(say) = &flow.steps[0].command else {
            panic!("say expected")
        };
        assert_eq!(say.locale, "en-US");
        assert_eq!(say.voice, Voice::Female);
    }

    #[test]
    fn hangup_cause_is_parsed() {
        let patch = parse_patch_call(
            json!({"callFlow": [{"command": "hangup", "options": {"cause": "busy"}}]}),
        )
        .expect("valid");
        let flow = patch.call_flow.expect("flow");
        assert_eq!(
            flow.steps[0].command,
            Command::Hangup(HangupOptions {
                cause: Some(HangupCause::Busy)
            })
        );
    }

    #[test]
    fn invalid_bodies_name_the_field_path() {
        let cases = [
            (
                json!({"callFlow": [{"command": "answer"}, {"command": "dance"}]}),
                "callFlow[1].command",
            ),
            (
                json!({"callFlow": [{"command": "answer", "colour": 1}]}),
                "callFlow[0].colour",
            ),
            (
                json!({"callFlow": [{"command": "pause", "options": {"length": 0}}]}),
                "callFlow[0].options.length",
            ),
            (
                json!({"callFlow": [{"command": "pause", "options": {"seconds": 2}}]}),
                "callFlow[0].options.seconds",
            ),
            (
                json!({"callFlow": [{"command": "pause"}]}),
                "callFlow[0].options",
            ),
            (
                json!({"callFlow": [{"command": "say", "options": {"text": "hi", "locale": "xx-XX"}}]}),
                "callFlow[0].options.locale",
            ),
            (
                json!({"callFlow": [{"command": "say", "options": {"text": "hi", "voice": "robot"}}]}),
                "callFlow[0].options.voice",
            ),
            (
                json!({"callFlow": [{"command": "say", "options": {"text": "  "}}]}),
                "callFlow[0].options.text",
            ),
            (
                json!({"callFlow": [{"command": "say", "options": {}}]}),
                "callFlow[0].options.text",
            ),
            (
                json!({"callFlow": [{"command": "playback", "options": {"media": ["file:///etc/passwd"]}}]}),
                "callFlow[0].options.media[0]",
            ),
            (
                json!({"callFlow": [{"command": "playback", "options": {"media": []}}]}),
                "callFlow[0].options.media",
            ),
            (
                json!({"callFlow": [{"command": "playback", "options": {"media": ["http://a/b.wav"], "pauseMilliseconds": 40000}}]}),
                "callFlow[0].options.pauseMilliseconds",
            ),
            (
                json!({"callFlow": [{"command": "playback", "options": {"media": ["http://a/b.wav"], "loop": 0}}]}),
                "callFlow[0].options.loop",
            ),
            (
                json!({"callFlow": [{"command": "answer", "options": {"x": 1}}]}),
                "callFlow[0].options.x",
            ),
            (
                json!({"callFlow": [{"command": "hangup", "options": {"cause": "angry"}}]}),
                "callFlow[0].options.cause",
            ),
            (
                json!({"callFlow": [{"command": "answer", "conditions": [{"variable": "mood", "operator": "eq", "value": "1"}]}]}),
                "callFlow[0].conditions[0].variable",
            ),
            (json!({"callFlow": "answer"}), "callFlow"),
            (json!({"status": "ongoing"}), "status"),
            (json!({"extra": true}), "extra"),
            (json!({}), ""),
            (json!([1, 2]), ""),
        ];
        for (body, path) in cases {
            let error = patch_error(body.clone());
            assert_eq!(error.path, path, "body {body}: {error:?}");
        }
    }

    #[test]
    fn unknown_fields_have_their_own_code() {
        let error = patch_error(json!({"callFlow": [{"command": "answer", "colour": 1}]}));
        assert_eq!(error.code, "UnknownField");
    }

    #[test]
    fn more_than_twenty_commands_are_refused() {
        let commands: Vec<Value> = (0..21).map(|_| json!({"command": "answer"})).collect();
        let error = patch_error(json!({ "callFlow": commands }));
        assert_eq!(error.path, "callFlow");
    }

    #[test]
    fn gather_record_and_bridge_are_accepted_in_a_patch() {
        let patch = parse_patch_call(json!({"callFlow": [
            {"command": "gather", "options": {"maxNumKeys": 1, "say": {"text": "Press 1"}}},
            {"command": "record", "conditions": [{"variable": "keys", "operator": "eq", "value": "1"}]},
            {"command": "bridge", "options": {"to": "+31612345678", "hangupAfterBridge": true}}
        ]}))
        .expect("valid");
        let flow = patch.call_flow.expect("flow");
        assert!(matches!(flow.steps[0].command, Command::Gather(_)));
        assert!(matches!(flow.steps[1].command, Command::Record(_)));
        assert!(matches!(flow.steps[2].command, Command::Bridge(_)));
        assert_eq!(flow.steps[1].conditions.len(), 1);
    }

    #[test]
    fn create_call_flows_cannot_answer() {
        let error = parse_call_flow(
            "callFlow",
            vec![json!({"command": "answer"})],
            FlowContext::CreateCall,
        )
        .expect_err("invalid");
        assert_eq!(error.path, "callFlow[0].command");
    }

    #[test]
    fn parses_birds_subscription_example() {
        let subscription = parse_create_subscription(json!({
            "service": "channels", "event": "voice.inbound", "url": "http://127.0.0.1:9000/hook",
            "signingKey": "mysecretkey",
            "eventFilters": [
                {"key": "channelId", "value": "b827924e-9789-4c2f-a4d5-b352175354f6"},
                {"key": "status", "value": "completed"},
                {"key": "status", "value": "starting"}
            ]
        }))
        .expect("valid");
        assert_eq!(subscription.event, EventKind::VoiceInbound);
        assert_eq!(subscription.event_filters.len(), 3);
    }

    #[test]
    fn invalid_subscriptions_name_the_field() {
        let base = json!({"service": "channels", "event": "voice.inbound", "url": "https://example.com/hook"});
        let mut cases = Vec::new();
        let mut body = base.clone();
        body["event"] = json!("sms.inbound");
        cases.push((body, "event"));
        let mut body = base.clone();
        body["url"] = json!("ftp://example.com");
        cases.push((body, "url"));
        let mut body = base.clone();
        body["service"] = json!("numbers");
        cases.push((body, "service"));
        let mut body = base.clone();
        body["eventFilters"] = json!([{"key": "status", "value": "happy"}]);
        cases.push((body, "eventFilters[0].value"));
        let mut body = base.clone();
        body["eventFilters"] = json!([
            {"key": "channelId", "value": "b827924e-9789-4c2f-a4d5-b352175354f6"},
            {"key": "channelId", "value": "b827924e-9789-4c2f-a4d5-b352175354f6"}
        ]);
        cases.push((body, "eventFilters[1].key"));
        let mut body = base.clone();
        body["colour"] = json!("red");
        cases.push((body, "colour"));
        let body = json!({"service": "channels", "event": "voice.inbound"});
        cases.push((body, "url"));
        for (body, path) in cases {
            let error = parse_create_subscription(body.clone()).expect_err("invalid");
            assert_eq!(error.path, path, "body {body}: {error:?}");
        }
    }
}
