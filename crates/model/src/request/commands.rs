//! Options of `gather`, `record` and `bridge` (spec §6.5–§6.7), and the bodies of the
//! per-command endpoints (spec §5.7–§5.14).

use serde::Deserialize;
use serde_json::Value;

use super::{
    FlowContext, deserialize, join_path, parse_call_flow, parse_options, parse_playback, parse_say,
    validate_http_url,
};
use crate::{
    AmdSettings, BridgeOptions, CallFlow, CallNotification, Command, CommandName, DtmfKey,
    GatherInput, GatherOptions, GatherPrompt, RecordOptions, RecordStart, RingTone,
    ValidationError,
};

/// Largest `gather.maxNumKeys` (and the limit when it is absent).
pub const MAX_GATHER_KEYS: u32 = 100;
/// `gather.timeout` when absent, in seconds.
const DEFAULT_GATHER_TIMEOUT_SECONDS: u32 = 5;
/// Largest `gather.timeout`, in seconds.
pub const MAX_GATHER_TIMEOUT_SECONDS: u32 = 120;
/// Largest `gather.retries`.
pub const MAX_GATHER_RETRIES: u32 = 10;
/// `record.maxLength` when absent, in seconds (one hour).
const DEFAULT_RECORD_LENGTH_SECONDS: u32 = 3600;
/// Largest `record.maxLength`, in seconds (four hours, create-call's default `maxDuration`).
pub const MAX_RECORD_LENGTH_SECONDS: u32 = 14_400;
/// Largest `record.timeout` (silence), in seconds.
pub const MAX_RECORD_SILENCE_SECONDS: u32 = 120;
/// Smallest `ringTimeout` (spec §5.1, §6.7).
pub const MIN_RING_TIMEOUT_SECONDS: u32 = 3;
/// Largest `ringTimeout` (spec §5.1, §6.7).
pub const MAX_RING_TIMEOUT_SECONDS: u32 = 120;
/// `ringTimeout` when absent (spec §5.1, §6.7).
pub(super) const DEFAULT_RING_TIMEOUT_SECONDS: u32 = 30;
/// Largest `maxDuration` of a created or bridged call, in seconds (24 hours; Bird gives no
/// upper bound).
pub const MAX_BRIDGE_DURATION_SECONDS: u32 = 86_400;
/// `bridge.maxDuration` when absent (spec §6.7: 8 hours).
const DEFAULT_BRIDGE_DURATION_SECONDS: u32 = 28_800;
/// Longest `to`/`from` address accepted, in characters.
pub const MAX_ADDRESS_LENGTH: usize = 256;
/// Longest E.164 number, in digits.
const MAX_NUMBER_DIGITS: usize = 15;

/// Bird's `gather.speechLocale` values (spec §3).
pub const SPEECH_LOCALES: [&str; 11] = [
    "de-DE", "en-AU", "en-GB", "en-US", "es-US", "it-IT", "ja-JP", "ko-KR", "pt-BR", "th-TH",
    "zh-CN",
];

/// Bird's `record.transcribeLocale` values (spec §3.1).
pub const TRANSCRIBE_LOCALES: [&str; 38] = [
    "ar-AE", "ar-SA", "zh-CN", "zh-TW", "da-DK", "nl-NL", "en-AU", "en-GB", "en-IN", "en-IE",
    "en-NZ", "en-AB", "en-ZA", "en-US", "en-WL", "fr-FR", "fr-CA", "fa-IR", "de-DE", "de-CH",
    "he-IL", "hi-IN", "id-ID", "it-IT", "ja-JP", "ko-KR", "ms-MY", "pt-PT", "pt-BR", "ru-RU",
    "es-ES", "es-US", "sv-SE", "ta-IN", "te-IN", "th-TH", "tr-TR", "vi-VN",
];

const DEFAULT_LOCALE: &str = "en-US";

/// Parses the body of `POST …/calls/{callId}/{command}` (spec §5.7–§5.14) into the command it
/// runs. `body` is `None` when the request has no body. `answer` and `ringing` take no body or
/// `{}`; `hangup` takes `{cause}` or nothing; the others take their options object (field paths
/// have no `options.` prefix: `media[0]`, `maxNumKeys`). Bird has no `pause` endpoint; its body
/// would parse like its options.
pub fn parse_command(name: CommandName, body: Option<Value>) -> Result<Command, ValidationError> {
    let options = match body {
        None | Some(Value::Null) => None,
        Some(options @ Value::Object(_)) => Some(options),
        Some(_) => {
            return Err(ValidationError::invalid(
                "",
                "the body must be a JSON object",
            ));
        }
    };
    parse_options("", name, options)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatherWire {
    #[serde(default)]
    max_num_keys: Option<u32>,
    #[serde(default)]
    end_key: Option<DtmfKey>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    input: Option<GatherInput>,
    #[serde(default)]
    speech_locale: Option<String>,
    #[serde(default)]
    playback: Option<Value>,
    #[serde(default)]
    say: Option<Value>,
}

/// Parses `gather` options (all optional).
pub(super) fn parse_gather(
    path: &str,
    options: Option<Value>,
) -> Result<GatherOptions, ValidationError> {
    let wire: GatherWire = match options {
        Some(value) => deserialize(path, value)?,
        None => deserialize(path, Value::Object(serde_json::Map::new()))?,
    };
    let max_keys = check_range(
        path,
        "maxNumKeys",
        wire.max_num_keys,
        1,
        MAX_GATHER_KEYS,
        MAX_GATHER_KEYS,
    )?;
    let timeout = check_range(
        path,
        "timeout",
        wire.timeout,
        1,
        MAX_GATHER_TIMEOUT_SECONDS,
        DEFAULT_GATHER_TIMEOUT_SECONDS,
    )?;
    let retries = check_range(path, "retries", wire.retries, 0, MAX_GATHER_RETRIES, 0)?;
    let input = wire.input.unwrap_or(GatherInput::Dtmf);
    if input != GatherInput::Dtmf {
        return Err(ValidationError::unsupported(
            join_path(path, "input"),
            "speech input is not available on this server",
        ));
    }
    let speech_locale = check_locale(
        path,
        "speechLocale",
        wire.speech_locale,
        &SPEECH_LOCALES,
        "gather speech locales",
    )?;
    let prompt = match (wire.playback, wire.say) {
        (Some(_), Some(_)) => {
            return Err(ValidationError::invalid(
                join_path(path, "say"),
                "give either `playback` or `say` as the prompt, not both",
            ));
        }
        (Some(playback), None) => Some(GatherPrompt::Playback(parse_playback(
            &join_path(path, "playback"),
            Some(playback),
        )?)),
        (None, Some(say)) => Some(GatherPrompt::Say(parse_say(
            &join_path(path, "say"),
            Some(say),
        )?)),
        (None, None) => None,
    };
    Ok(GatherOptions {
        max_keys,
        end_key: wire.end_key,
        timeout,
        retries,
        input,
        speech_locale,
        prompt,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RecordWire {
    #[serde(default)]
    end_key: Option<DtmfKey>,
    #[serde(default)]
    max_length: Option<u32>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    beep: Option<bool>,
    #[serde(default)]
    transcribe: Option<bool>,
    #[serde(default)]
    transcribe_locale: Option<String>,
}

/// Parses `record` options (all optional).
pub(super) fn parse_record(
    path: &str,
    options: Option<Value>,
) -> Result<RecordOptions, ValidationError> {
    let wire: RecordWire = match options {
        Some(value) => deserialize(path, value)?,
        None => deserialize(path, Value::Object(serde_json::Map::new()))?,
    };
    let max_length = check_range(
        path,
        "maxLength",
        wire.max_length,
        1,
        MAX_RECORD_LENGTH_SECONDS,
        DEFAULT_RECORD_LENGTH_SECONDS,
    )?;
    let silence_timeout = match wire.timeout {
        Some(seconds) => Some(check_range(
            path,
            "timeout",
            Some(seconds),
            1,
            MAX_RECORD_SILENCE_SECONDS,
            seconds,
        )?),
        None => None,
    };
    if wire.transcribe == Some(true) {
        return Err(ValidationError::unsupported(
            join_path(path, "transcribe"),
            "transcription is not available on this server",
        ));
    }
    let transcribe_locale = check_locale(
        path,
        "transcribeLocale",
        wire.transcribe_locale,
        &TRANSCRIBE_LOCALES,
        "transcription locales",
    )?;
    Ok(RecordOptions {
        end_key: wire.end_key,
        max_length,
        silence_timeout,
        beep: wire.beep.unwrap_or(false),
        transcribe_locale,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BridgeWire {
    #[serde(default)]
    from: Option<String>,
    to: String,
    #[serde(default)]
    ring_timeout: Option<u32>,
    #[serde(default)]
    max_duration: Option<u32>,
    #[serde(default)]
    ring_tone: Option<RingTone>,
    #[serde(default)]
    hangup_after_bridge: Option<bool>,
    #[serde(default)]
    record: Option<bool>,
    #[serde(default)]
    record_start: Option<RecordStart>,
    #[serde(default)]
    record_stereo: Option<bool>,
    #[serde(default)]
    call_flow: Option<Vec<Value>>,
    #[serde(default)]
    notification: Option<CallNotification>,
    #[serde(default)]
    amd_settings: Option<AmdSettings>,
}

/// Parses `bridge` options (`to` required).
pub(super) fn parse_bridge(
    path: &str,
    options: Option<Value>,
) -> Result<BridgeOptions, ValidationError> {
    let wire: BridgeWire = deserialize(path, super::required(path, options)?)?;
    validate_address(&join_path(path, "to"), &wire.to)?;
    if let Some(from) = &wire.from {
        validate_address(&join_path(path, "from"), from)?;
    }
    let ring_timeout = check_range(
        path,
        "ringTimeout",
        wire.ring_timeout,
        MIN_RING_TIMEOUT_SECONDS,
        MAX_RING_TIMEOUT_SECONDS,
        DEFAULT_RING_TIMEOUT_SECONDS,
    )?;
    let max_duration = check_range(
        path,
        "maxDuration",
        wire.max_duration,
        1,
        MAX_BRIDGE_DURATION_SECONDS,
        DEFAULT_BRIDGE_DURATION_SECONDS,
    )?;
    let call_flow = match wire.call_flow {
        Some(commands) => parse_call_flow(
            &join_path(path, "callFlow"),
            commands,
            FlowContext::BridgeCall,
        )?,
        None => CallFlow::default(),
    };
    if let Some(notification) = &wire.notification {
        validate_notification(&join_path(path, "notification"), notification)?;
    }
    Ok(BridgeOptions {
        from: wire.from,
        to: wire.to,
        ring_timeout,
        max_duration,
        ring_tone: wire.ring_tone,
        hangup_after_bridge: wire.hangup_after_bridge.unwrap_or(false),
        record: wire.record.unwrap_or(false),
        record_start: wire.record_start.unwrap_or_default(),
        record_stereo: wire.record_stereo.unwrap_or(false),
        call_flow,
        notification: wire.notification,
        amd_settings: wire.amd_settings,
    })
}

/// Checks a `notification` object found at `path`: its `url` must be `http` or `https`.
pub(super) fn validate_notification(
    path: &str,
    notification: &CallNotification,
) -> Result<(), ValidationError> {
    validate_http_url(&notification.url)
        .map_err(|message| ValidationError::invalid(join_path(path, "url"), message))
}

/// Checks a call address (`to`, `from`): an E.164-style number (an optional `+`, then 1 to 15
/// digits, no separators) or a `sip:`/`sips:` URI with a host and no whitespace, at most
/// [`MAX_ADDRESS_LENGTH`] characters.
pub fn validate_address(path: &str, address: &str) -> Result<(), ValidationError> {
    let invalid = |message: &str| Err(ValidationError::invalid(path, message));
    if address.chars().count() > MAX_ADDRESS_LENGTH {
        return invalid("the address is longer than 256 characters");
    }
    let lower = address.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"))
    {
        if rest
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
            || rest.contains(['<', '>', '"'])
        {
            return invalid("the SIP URI contains whitespace or a character not allowed in it");
        }
        let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = host_part.split([':', ';', '?']).next().unwrap_or_default();
        if host.is_empty() {
            return invalid("the SIP URI has no host");
        }
        return Ok(());
    }
    let digits = address.strip_prefix('+').unwrap_or(address);
    if digits.is_empty()
        || digits.len() > MAX_NUMBER_DIGITS
        || !digits.chars().all(|character| character.is_ascii_digit())
    {
        return invalid(
            "the address must be a phone number (an optional `+` and 1 to 15 digits) or a \
             `sip:` or `sips:` URI",
        );
    }
    Ok(())
}

/// Checks an optional integer at `path.field` against `minimum..=maximum`; absent gives
/// `default`.
pub(super) fn check_range(
    path: &str,
    field: &str,
    value: Option<u32>,
    minimum: u32,
    maximum: u32,
    default: u32,
) -> Result<u32, ValidationError> {
    match value {
        None => Ok(default),
        Some(value) if (minimum..=maximum).contains(&value) => Ok(value),
        Some(_) => Err(ValidationError::invalid(
            join_path(path, field),
            format!("{field} must be {minimum} to {maximum}"),
        )),
    }
}

fn check_locale(
    path: &str,
    field: &str,
    value: Option<String>,
    allowed: &[&str],
    list_name: &str,
) -> Result<String, ValidationError> {
    let locale = value.unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
    if allowed.contains(&locale.as_str()) {
        Ok(locale)
    } else {
        Err(ValidationError::invalid(
            join_path(path, field),
            format!("`{locale}` is not one of Bird's {list_name}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Voice;
    use crate::request::{FlowContext, parse_call_flow};

    fn command(name: &str, options: Value) -> Result<Command, ValidationError> {
        parse_call_flow(
            "callFlow",
            vec![json!({"command": name, "options": options})],
            FlowContext::UpdateCall,
        )
        .map(|mut flow| flow.steps.remove(0).command)
    }

    #[test]
    fn gather_defaults() {
        let Command::Gather(gather) = command("gather", json!({})).expect("valid") else {
            panic!("gather expected")
        };
        assert_eq!(
            gather,
            GatherOptions {
                max_keys: 100,
                end_key: None,
                timeout: 5,
                retries: 0,
                input: GatherInput::Dtmf,
                speech_locale: "en-US".into(),
                prompt: None,
            }
        );
        let flow = parse_call_flow(
            "callFlow",
            vec![json!({"command": "gather"})],
            FlowContext::CreateCall,
        )
        .expect("options are optional");
        assert!(matches!(flow.steps[0].command, Command::Gather(_)));
    }

    #[test]
    fn gather_parses_birds_sample_with_one_prompt() {
        let Command::Gather(gather) = command(
            "gather",
            json!({"maxNumKeys": 1, "endKey": "#", "timeout": 10, "retries": 2, "input": "dtmf",
                   "speechLocale": "en-GB",
                   "say": {"text": "Press 1", "locale": "en-US", "voice": "male", "loop": 2}}),
        )
        .expect("valid") else {
            panic!("gather expected")
        };
        assert_eq!(gather.max_keys, 1);
        assert_eq!(gather.end_key, Some(DtmfKey::Pound));
        assert_eq!(gather.timeout, 10);
        assert_eq!(gather.retries, 2);
        assert_eq!(gather.speech_locale, "en-GB");
        match gather.prompt {
            Some(GatherPrompt::Say(say)) => {
                assert_eq!(say.text, "Press 1");
                assert_eq!(say.voice, Voice::Male);
                assert_eq!(say.loop_count, Some(2));
            }
            other => panic!("say prompt expected, got {other:?}"),
        }
    }

    #[test]
    fn record_defaults_and_options() {
        let Command::Record(record) = command("record", json!({})).expect("valid") else {
            panic!("record expected")
        };
        assert_eq!(
            record,
            RecordOptions {
                end_key: None,
                max_length: 3600,
                silence_timeout: None,
                beep: false,
                transcribe_locale: "en-US".into(),
            }
        );
        let Command::Record(record) = command(
            "record",
            json!({"endKey": "0", "maxLength": 60, "timeout": 3, "beep": true,
                   "transcribe": false, "transcribeLocale": "nl-NL"}),
        )
        .expect("valid") else {
            panic!("record expected")
        };
        assert_eq!(record.end_key, Some(DtmfKey::Zero));
        assert_eq!(record.max_length, 60);
        assert_eq!(record.silence_timeout, Some(3));
        assert!(record.beep);
        assert_eq!(record.transcribe_locale, "nl-NL");
    }

    #[test]
    fn bridge_defaults_and_birds_example() {
        let Command::Bridge(bridge) =
            command("bridge", json!({"to": "+351910648517"})).expect("valid")
        else {
            panic!("bridge expected")
        };
        assert_eq!(bridge.ring_timeout, 30);
        assert_eq!(bridge.max_duration, 28_800);
        assert!(!bridge.hangup_after_bridge);
        assert_eq!(bridge.record_start, RecordStart::RecordFromAnswer);
        assert!(bridge.call_flow.steps.is_empty());

        let Command::Bridge(bridge) = command(
            "bridge",
            json!({"from": "+3197058016589", "to": "sip:alice@example.com:5060;transport=tcp",
                   "ringTimeout": 20, "maxDuration": 600, "ringTone": "uk",
                   "hangupAfterBridge": true, "record": true, "recordStart": "record-from-ringing",
                   "recordStereo": true,
                   "callFlow": [{"command": "say", "options": {"text": "Call from the website"}}],
                   "notification": {"url": "https://example.com/hook"},
                   "amdSettings": {"enabled": false, "wordCount": 5, "speechTimeout": 3,
                                   "speechLocale": "en-US", "beepTimeout": 30,
                                   "ifMachineNotifyAfter": "wordCount"}}),
        )
        .expect("valid") else {
            panic!("bridge expected")
        };
        assert_eq!(bridge.from.as_deref(), Some("+3197058016589"));
        assert_eq!(bridge.ring_timeout, 20);
        assert_eq!(bridge.max_duration, 600);
        assert_eq!(bridge.ring_tone, Some(RingTone::UnitedKingdom));
        assert!(bridge.hangup_after_bridge && bridge.record && bridge.record_stereo);
        assert_eq!(bridge.record_start, RecordStart::RecordFromRinging);
        assert_eq!(bridge.call_flow.steps.len(), 1);
        let amd = bridge.amd_settings.expect("stored");
        assert_eq!(amd.word_count, Some(5));
        assert_eq!(
            serde_json::to_value(&amd).expect("serializes")["ifMachineNotifyAfter"],
            "wordCount"
        );
    }

    #[test]
    fn addresses() {
        for valid in [
            "+31612345678",
            "31612345678",
            "1000",
            "sip:alice@example.com",
            "SIP:example.com",
            "sips:bob@10.0.0.1:5061;transport=tls",
        ] {
            assert!(validate_address("to", valid).is_ok(), "{valid}");
        }
        for invalid in [
            "",
            "+",
            "+31 6 1234",
            "0031-612",
            "1234567890123456",
            "alice",
            "tel:+3161234",
            "sip:",
            "sip:alice@",
            "sip:alice @example.com",
            "sip:<alice@example.com>",
        ] {
            assert!(validate_address("to", invalid).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn invalid_options_name_the_field_path() {
        let long = "x".repeat(300);
        let cases = [
            (
                "gather",
                json!({"maxNumKeys": 0}),
                "maxNumKeys",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"maxNumKeys": 101}),
                "maxNumKeys",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"maxNumKeys": -1}),
                "maxNumKeys",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"maxNumKeys": "3"}),
                "maxNumKeys",
                "InvalidValue",
            ),
            ("gather", json!({"endKey": "A"}), "endKey", "InvalidValue"),
            ("gather", json!({"endKey": 1}), "endKey", "InvalidValue"),
            ("gather", json!({"timeout": 0}), "timeout", "InvalidValue"),
            ("gather", json!({"timeout": 121}), "timeout", "InvalidValue"),
            ("gather", json!({"retries": 11}), "retries", "InvalidValue"),
            ("gather", json!({"input": "speech"}), "input", "Unsupported"),
            (
                "gather",
                json!({"input": "dtmf speech"}),
                "input",
                "Unsupported",
            ),
            ("gather", json!({"input": "voice"}), "input", "InvalidValue"),
            (
                "gather",
                json!({"speechLocale": "fr-FR"}),
                "speechLocale",
                "InvalidValue",
            ),
            ("gather", json!({"colour": 1}), "colour", "UnknownField"),
            (
                "gather",
                json!({"playback": {"media": []}}),
                "playback.media",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"playback": {"media": ["ftp://a/b.wav"]}}),
                "playback.media[0]",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"playback": "x"}),
                "playback",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"say": {"text": ""}}),
                "say.text",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"say": {"text": "hi", "voice": "text"}}),
                "say.voice",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"say": {"text": "hi", "locale": ["en-US"]}}),
                "say.locale",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"say": {"text": "hi", "loop": 0}}),
                "say.loop",
                "InvalidValue",
            ),
            (
                "gather",
                json!({"say": {"text": "hi", "pitch": 2}}),
                "say.pitch",
                "UnknownField",
            ),
            (
                "gather",
                json!({"say": {"text": "hi"}, "playback": {"media": ["http://a/b.wav"]}}),
                "say",
                "InvalidValue",
            ),
            ("record", json!({"endKey": "x"}), "endKey", "InvalidValue"),
            (
                "record",
                json!({"maxLength": 0}),
                "maxLength",
                "InvalidValue",
            ),
            (
                "record",
                json!({"maxLength": 14401}),
                "maxLength",
                "InvalidValue",
            ),
            ("record", json!({"timeout": 0}), "timeout", "InvalidValue"),
            ("record", json!({"timeout": 121}), "timeout", "InvalidValue"),
            ("record", json!({"beep": "yes"}), "beep", "InvalidValue"),
            (
                "record",
                json!({"transcribe": true}),
                "transcribe",
                "Unsupported",
            ),
            (
                "record",
                json!({"transcribeLocale": "xx-XX"}),
                "transcribeLocale",
                "InvalidValue",
            ),
            ("record", json!({"format": "mp3"}), "format", "UnknownField"),
            ("bridge", json!({}), "to", "MissingField"),
            ("bridge", json!({"to": "alice"}), "to", "InvalidValue"),
            ("bridge", json!({"to": long}), "to", "InvalidValue"),
            (
                "bridge",
                json!({"to": 31612345678_u64}),
                "to",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "from": "x y"}),
                "from",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "ringTimeout": 2}),
                "ringTimeout",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "ringTimeout": 121}),
                "ringTimeout",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "maxDuration": 0}),
                "maxDuration",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "maxDuration": 86401}),
                "maxDuration",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "ringTone": "nl"}),
                "ringTone",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "hangupAfterBridge": 1}),
                "hangupAfterBridge",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "record": "true"}),
                "record",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "recordStart": "now"}),
                "recordStart",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "recordStereo": 0}),
                "recordStereo",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "callFlow": [{"command": "answer"}]}),
                "callFlow[0].command",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "callFlow": [{"command": "gather", "options": {"timeout": 0}}]}),
                "callFlow[0].options.timeout",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "notification": {"url": "ftp://x"}}),
                "notification.url",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "notification": {"href": "http://x"}}),
                "notification.href",
                "UnknownField",
            ),
            (
                "bridge",
                json!({"to": "1000", "amdSettings": {"wordCount": "five"}}),
                "amdSettings.wordCount",
                "InvalidValue",
            ),
            (
                "bridge",
                json!({"to": "1000", "amdSettings": {"sensitivity": 1}}),
                "amdSettings.sensitivity",
                "UnknownField",
            ),
        ];
        for (name, options, field, code) in cases {
            let error = command(name, options.clone()).expect_err("must be invalid");
            assert_eq!(
                error.path,
                format!("callFlow[0].options.{field}"),
                "{name} {options}: {error:?}"
            );
            assert_eq!(error.code, code, "{name} {options}: {error:?}");
        }
    }

    #[test]
    fn unsupported_inputs_say_why() {
        let error = command("gather", json!({"input": "speech"})).expect_err("invalid");
        assert_eq!(
            error.message,
            "speech input is not available on this server"
        );
        let error = command("record", json!({"transcribe": true})).expect_err("invalid");
        assert_eq!(
            error.message,
            "transcription is not available on this server"
        );
    }

    #[test]
    fn bridge_flows_use_the_create_call_set() {
        for (name, allowed) in [
            ("hangup", true),
            ("pause", true),
            ("gather", true),
            ("record", true),
            ("answer", false),
            ("ringing", false),
        ] {
            let options = if name == "pause" {
                json!({"length": 1})
            } else {
                json!({})
            };
            let result = command(
                "bridge",
                json!({"to": "1000", "callFlow": [{"command": name, "options": options}]}),
            );
            assert_eq!(result.is_ok(), allowed, "{name}: {result:?}");
        }
        let commands: Vec<Value> = (0..21).map(|_| json!({"command": "hangup"})).collect();
        let error =
            command("bridge", json!({"to": "1000", "callFlow": commands})).expect_err("too many");
        assert_eq!(error.path, "callFlow[0].options.callFlow");
    }

    #[test]
    fn endpoint_bodies_parse_into_commands() {
        assert_eq!(
            parse_command(CommandName::Answer, None),
            Ok(Command::Answer)
        );
        assert_eq!(
            parse_command(CommandName::Answer, Some(json!({}))),
            Ok(Command::Answer)
        );
        assert_eq!(
            parse_command(CommandName::Ringing, Some(Value::Null)),
            Ok(Command::Ringing)
        );
        assert_eq!(
            parse_command(CommandName::Hangup, Some(json!({"cause": "rejected"}))),
            Ok(Command::Hangup(crate::HangupOptions {
                cause: Some(crate::HangupCause::Rejected)
            }))
        );
        assert_eq!(
            parse_command(CommandName::Hangup, None),
            Ok(Command::Hangup(crate::HangupOptions::default()))
        );
        assert!(matches!(
            parse_command(
                CommandName::Say,
                Some(
                    json!({"text": "Hi there my name is earl", "locale": "en-US", "voice": "female"})
                )
            ),
            Ok(Command::Say(_))
        ));
        assert!(matches!(
            parse_command(
                CommandName::Playback,
                Some(
                    json!({"media": ["https://a/b.wav"], "loop": 1, "timeout": 1, "pauseMilliseconds": 1})
                )
            ),
            Ok(Command::Playback(_))
        ));
        assert!(matches!(
            parse_command(CommandName::Gather, None),
            Ok(Command::Gather(_))
        ));
        assert!(matches!(
            parse_command(
                CommandName::Record,
                Some(
                    json!({"endKey": "0", "maxLength": 1, "timeout": 1, "beep": true, "transcribe": false, "transcribeLocale": "en-US"})
                )
            ),
            Ok(Command::Record(_))
        ));
        assert!(matches!(
            parse_command(
                CommandName::Bridge,
                Some(
                    json!({"from": "+3197058016589", "to": "+351910648517", "ringTimeout": 30, "maxDuration": 28800, "record": true, "recordStart": "record-from-answer", "recordStereo": true})
                )
            ),
            Ok(Command::Bridge(_))
        ));
    }

    #[test]
    fn invalid_endpoint_bodies_name_the_field_without_prefix() {
        let cases = [
            (CommandName::Answer, Some(json!({"x": 1})), "x"),
            (CommandName::Answer, Some(json!([])), ""),
            (CommandName::Ringing, Some(json!("now")), ""),
            (
                CommandName::Hangup,
                Some(json!({"cause": "angry"})),
                "cause",
            ),
            (CommandName::Hangup, Some(json!({"reason": "x"})), "reason"),
            (CommandName::Say, None, ""),
            (
                CommandName::Say,
                Some(json!({"text": "hi", "locale": "xx"})),
                "locale",
            ),
            (
                CommandName::Playback,
                Some(json!({"media": ["file:///etc/passwd"]})),
                "media[0]",
            ),
            (
                CommandName::Gather,
                Some(json!({"maxNumKeys": 0})),
                "maxNumKeys",
            ),
            (
                CommandName::Gather,
                Some(json!({"say": {"text": ""}})),
                "say.text",
            ),
            (
                CommandName::Record,
                Some(json!({"maxLength": 0})),
                "maxLength",
            ),
            (CommandName::Bridge, None, ""),
            (CommandName::Bridge, Some(json!({})), "to"),
            (
                CommandName::Bridge,
                Some(json!({"to": "1000", "callFlow": [{"command": "ringing"}]})),
                "callFlow[0].command",
            ),
        ];
        for (name, body, path) in cases {
            let error = parse_command(name, body.clone()).expect_err("must be invalid");
            assert_eq!(error.path, path, "{name:?} {body:?}: {error:?}");
        }
    }
}
