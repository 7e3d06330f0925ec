//! Options of the `gather`, `record` and `bridge` commands (spec §6.5–§6.7) and the small
//! enumerations they share with create-call (spec §3, §4.6, §5.1).
//!
//! These types hold **validated** values with Warbler's defaults filled in (docs/bird-compat.md
//! lists each default); [`crate::request`] builds them from Bird's JSON.

use serde::{Deserialize, Serialize};

use crate::{CallFlow, CallNotification, PlaybackOptions, SayOptions};

/// A DTMF key (Bird's `Key` enum: `0`–`9`, `*`, `#`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DtmfKey {
    /// `0`
    #[serde(rename = "0")]
    Zero,
    /// `1`
    #[serde(rename = "1")]
    One,
    /// `2`
    #[serde(rename = "2")]
    Two,
    /// `3`
    #[serde(rename = "3")]
    Three,
    /// `4`
    #[serde(rename = "4")]
    Four,
    /// `5`
    #[serde(rename = "5")]
    Five,
    /// `6`
    #[serde(rename = "6")]
    Six,
    /// `7`
    #[serde(rename = "7")]
    Seven,
    /// `8`
    #[serde(rename = "8")]
    Eight,
    /// `9`
    #[serde(rename = "9")]
    Nine,
    /// `*`
    #[serde(rename = "*")]
    Star,
    /// `#`
    #[serde(rename = "#")]
    Pound,
}

impl DtmfKey {
    /// Every key, in keypad order of their characters (`0`–`9`, `*`, `#`).
    pub const ALL: [DtmfKey; 12] = [
        Self::Zero,
        Self::One,
        Self::Two,
        Self::Three,
        Self::Four,
        Self::Five,
        Self::Six,
        Self::Seven,
        Self::Eight,
        Self::Nine,
        Self::Star,
        Self::Pound,
    ];

    /// The key's character (`'0'`–`'9'`, `'*'`, `'#'`).
    pub const fn as_char(self) -> char {
        match self {
            Self::Zero => '0',
            Self::One => '1',
            Self::Two => '2',
            Self::Three => '3',
            Self::Four => '4',
            Self::Five => '5',
            Self::Six => '6',
            Self::Seven => '7',
            Self::Eight => '8',
            Self::Nine => '9',
            Self::Star => '*',
            Self::Pound => '#',
        }
    }

    /// The key for a character, if it is one.
    pub fn from_char(character: char) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.as_char() == character)
    }
}

/// `gather.input` (spec §3): which input ends a gather. Only [`GatherInput::Dtmf`] passes
/// validation on this server (no speech recognition); the others exist to name Bird's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GatherInput {
    /// `dtmf`: keypad digits (the default).
    #[serde(rename = "dtmf")]
    Dtmf,
    /// `speech`: recognised speech.
    #[serde(rename = "speech")]
    Speech,
    /// `dtmf speech`: either.
    #[serde(rename = "dtmf speech")]
    DtmfSpeech,
}

/// The prompt a `gather` plays while it waits for keys (its nested `playback` or `say`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatherPrompt {
    /// Play media files.
    Playback(PlaybackOptions),
    /// Speak text.
    Say(SayOptions),
}

/// `gather` options (spec §6.5), validated, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherOptions {
    /// Stop after this many keys (`maxNumKeys`, 1–100; default 100).
    pub max_keys: u32,
    /// The key that ends input; it is not part of the keys (`endKey`; default none).
    pub end_key: Option<DtmfKey>,
    /// Seconds to wait for the first key after the prompt ends, and between keys (`timeout`,
    /// 1–120; default 5).
    pub timeout: u32,
    /// How many more times the prompt is played when no key came (`retries`, 0–10; default 0).
    pub retries: u32,
    /// Accepted input (always [`GatherInput::Dtmf`] here).
    pub input: GatherInput,
    /// `speechLocale`, one of [`crate::request::SPEECH_LOCALES`] (default `en-US`); kept for
    /// the record, unused without speech input.
    pub speech_locale: String,
    /// The prompt, if any (`playback` or `say`, not both).
    pub prompt: Option<GatherPrompt>,
}

/// `record` options (spec §6.6), validated, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// The key that stops the recording (`endKey`; default none: keys do not stop it).
    pub end_key: Option<DtmfKey>,
    /// Longest recording in seconds (`maxLength`, 1–14400; default 3600).
    pub max_length: u32,
    /// Stop after this many seconds of silence (Bird's `timeout`, 1–120; default none: silence
    /// does not stop it).
    pub silence_timeout: Option<u32>,
    /// Play a beep before recording (default false).
    pub beep: bool,
    /// `transcribeLocale`, one of [`crate::request::TRANSCRIBE_LOCALES`] (default `en-US`);
    /// kept for the record (`transcribe: true` is refused on this server).
    pub transcribe_locale: String,
}

/// When a call recording starts (`recordStart`, spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordStart {
    /// `record-from-answer` (the default).
    #[default]
    RecordFromAnswer,
    /// `record-from-ringing`.
    RecordFromRinging,
}

/// When an outbound call's flow starts (`flowStart`, spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowStart {
    /// `from-answer` (the default).
    #[default]
    FromAnswer,
    /// `from-ringing`: the flow runs while the callee's phone rings (early media).
    FromRinging,
}

/// The ringback tone played to the original caller while a bridged leg rings (`ringTone`,
/// spec §3: country codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RingTone {
    /// `be`
    #[serde(rename = "be")]
    Belgium,
    /// `ca`
    #[serde(rename = "ca")]
    Canada,
    /// `cn`
    #[serde(rename = "cn")]
    China,
    /// `cy`
    #[serde(rename = "cy")]
    Cyprus,
    /// `cz`
    #[serde(rename = "cz")]
    Czechia,
    /// `de`
    #[serde(rename = "de")]
    Germany,
    /// `dk`
    #[serde(rename = "dk")]
    Denmark,
    /// `dz`
    #[serde(rename = "dz")]
    Algeria,
    /// `eg`
    #[serde(rename = "eg")]
    Egypt,
    /// `fi`
    #[serde(rename = "fi")]
    Finland,
    /// `fr`
    #[serde(rename = "fr")]
    France,
    /// `hk`
    #[serde(rename = "hk")]
    HongKong,
    /// `hu`
    #[serde(rename = "hu")]
    Hungary,
    /// `il`
    #[serde(rename = "il")]
    Israel,
    /// `in`
    #[serde(rename = "in")]
    India,
    /// `jp`
    #[serde(rename = "jp")]
    Japan,
    /// `ko` (Korea)
    #[serde(rename = "ko")]
    Korea,
    /// `pk`
    #[serde(rename = "pk")]
    Pakistan,
    /// `pl`
    #[serde(rename = "pl")]
    Poland,
    /// `ro`
    #[serde(rename = "ro")]
    Romania,
    /// `rs`
    #[serde(rename = "rs")]
    Serbia,
    /// `ru`
    #[serde(rename = "ru")]
    Russia,
    /// `sa`
    #[serde(rename = "sa")]
    SaudiArabia,
    /// `tr`
    #[serde(rename = "tr")]
    Turkey,
    /// `uk`
    #[serde(rename = "uk")]
    UnitedKingdom,
    /// `us`
    #[serde(rename = "us")]
    UnitedStates,
}

/// Answering-machine detection settings (`amdSettings`, spec §4.6). Bird documents only the
/// field names and types, so Warbler checks the types, stores the object as given and does not
/// act on it yet.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AmdSettings {
    /// Whether detection runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Greeting words above which the answerer is taken for a machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_count: Option<u32>,
    /// Seconds of silence that end the greeting analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_timeout: Option<u32>,
    /// Seconds to wait for a voicemail beep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beep_timeout: Option<u32>,
    /// Recognition language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_locale: Option<String>,
    /// When a machine result is reported (`wordCount` is the only value Bird shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_machine_notify_after: Option<String>,
}

/// `bridge` options (spec §6.7), validated, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeOptions {
    /// Caller id of the new leg (a number or SIP URI); absent: the channel's choice.
    pub from: Option<String>,
    /// Where to call: an E.164-style number (`+` optional, 1–15 digits) or a `sip:`/`sips:` URI.
    pub to: String,
    /// Seconds the new leg may ring (`ringTimeout`, 3–120; default 30).
    pub ring_timeout: u32,
    /// Longest the bridged call may last, in seconds (`maxDuration`, 1–86400; default 28800).
    pub max_duration: u32,
    /// Ringback tone for the original caller while the new leg rings.
    pub ring_tone: Option<RingTone>,
    /// End the original call when the bridged call (once answered) ends (default false: the
    /// original call's flow goes on).
    pub hangup_after_bridge: bool,
    /// Record the bridged call (default false).
    pub record: bool,
    /// When that recording starts.
    pub record_start: RecordStart,
    /// Record one party per stereo channel (default false).
    pub record_stereo: bool,
    /// The flow the new leg runs once it answers (create-call command set, at most 20).
    pub call_flow: CallFlow,
    /// Per-call webhook URL of the new leg.
    pub notification: Option<CallNotification>,
    /// Answering-machine detection for the new leg, as given.
    pub amd_settings: Option<AmdSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_keys_round_trip_through_characters_and_json() {
        for key in DtmfKey::ALL {
            assert_eq!(DtmfKey::from_char(key.as_char()), Some(key));
            let json = serde_json::to_string(&key).expect("serializes");
            assert_eq!(json, format!("\"{}\"", key.as_char()));
        }
        assert_eq!(DtmfKey::from_char('A'), None);
    }

    #[test]
    fn enums_use_birds_names() {
        let json = serde_json::to_string(&(
            RingTone::UnitedKingdom,
            RecordStart::RecordFromRinging,
            FlowStart::FromAnswer,
            GatherInput::DtmfSpeech,
        ))
        .expect("serializes");
        assert_eq!(
            json,
            r#"["uk","record-from-ringing","from-answer","dtmf speech"]"#
        );
    }
}
