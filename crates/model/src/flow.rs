//! Call flows (spec §4.3, §4.4, §6): the commands a call executes, and how the API shows them.

use serde::{Deserialize, Serialize};

use crate::{BridgeOptions, CallFlowId, CallId, CommandId, GatherOptions, RecordOptions};

/// A parsed call flow: the commands in order (at most 20).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CallFlow {
    /// The commands, in execution order.
    pub steps: Vec<FlowStep>,
}

/// One command of a flow with the conditions that gate it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStep {
    /// What to do.
    pub command: Command,
    /// All must hold for the command to run; otherwise it is `skipped` (spec §6, rule 3).
    pub conditions: Vec<Condition>,
}

/// A command with its options (spec §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Answer an inbound call (200 OK).
    Answer,
    /// Signal ringing to an inbound caller (180).
    Ringing,
    /// Wait.
    Pause(PauseOptions),
    /// Play audio files.
    Playback(PlaybackOptions),
    /// Speak text.
    Say(SayOptions),
    /// End the call.
    Hangup(HangupOptions),
    /// Collect DTMF keys, optionally while playing a prompt.
    Gather(GatherOptions),
    /// Record what the caller says (a voicemail-style message).
    Record(RecordOptions),
    /// Call another party and connect both calls.
    Bridge(Box<BridgeOptions>),
}

impl Command {
    /// The command's Bird name.
    pub const fn name(&self) -> CommandName {
        match self {
            Self::Answer => CommandName::Answer,
            Self::Ringing => CommandName::Ringing,
            Self::Pause(_) => CommandName::Pause,
            Self::Playback(_) => CommandName::Playback,
            Self::Say(_) => CommandName::Say,
            Self::Hangup(_) => CommandName::Hangup,
            Self::Gather(_) => CommandName::Gather,
            Self::Record(_) => CommandName::Record,
            Self::Bridge(_) => CommandName::Bridge,
        }
    }
}

/// Every command name Bird defines (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandName {
    /// `answer`
    Answer,
    /// `hangup`
    Hangup,
    /// `playback`
    Playback,
    /// `say`
    Say,
    /// `gather`
    Gather,
    /// `record`
    Record,
    /// `bridge`
    Bridge,
    /// `pause`
    Pause,
    /// `ringing`
    Ringing,
}

impl CommandName {
    /// Bird's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Hangup => "hangup",
            Self::Playback => "playback",
            Self::Say => "say",
            Self::Gather => "gather",
            Self::Record => "record",
            Self::Bridge => "bridge",
            Self::Pause => "pause",
            Self::Ringing => "ringing",
        }
    }
}

/// `pause` options. Bird does not document them (spec §6.9); Warbler takes `length` in seconds,
/// as MessageBird's older API did (see docs/bird-compat.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseOptions {
    /// Seconds to wait, 1 to 3600.
    pub length: u32,
}

/// `playback` options (spec §6.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlaybackOptions {
    /// URLs of WAV or MP3 files, played in order (1 to 80).
    pub media: Vec<String>,
    /// How many times to play the whole list (default 1, at most 100).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_count: Option<u32>,
    /// Upper bound in seconds on how long the command plays (absent or 0: no bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Silence between items, 0 to 30000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_milliseconds: Option<u32>,
}

/// Voice nature for `say`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Voice {
    /// A female voice (Bird's default in its examples).
    Female,
    /// A male voice.
    Male,
}

/// `say` options (spec §6.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SayOptions {
    /// The text to speak (1 to 5000 characters).
    pub text: String,
    /// BCP 47 locale from Bird's TTS list (default `en-US`).
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Voice nature (default female).
    #[serde(default = "default_voice")]
    pub voice: Voice,
    /// How many times to say it (default 1, at most 100).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_count: Option<u32>,
    /// Upper bound in seconds on how long the command speaks (absent or 0: no bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

fn default_locale() -> String {
    "en-US".to_owned()
}

const fn default_voice() -> Voice {
    Voice::Female
}

/// Why a call is hung up (spec §5.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HangupCause {
    /// Reject (SIP 603 Decline before answer).
    Rejected,
    /// Busy (SIP 486 Busy Here before answer).
    Busy,
}

/// `hangup` options (spec §6.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupOptions {
    /// Why; matters when rejecting a call that is not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<HangupCause>,
}

/// A condition on a command (spec §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// What is compared.
    pub variable: ConditionVariable,
    /// How.
    pub operator: ConditionOperator,
    /// With what.
    pub value: String,
}

/// The variables a condition can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionVariable {
    /// Digits collected by the latest `gather`.
    Keys,
    /// Speech recognised by the latest `gather`.
    Speech,
}

/// Condition operators (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionOperator {
    /// `eq`: equal.
    #[serde(rename = "eq")]
    Equal,
    /// `==`: equal.
    #[serde(rename = "==")]
    EqualSymbol,
    /// `ne`: not equal.
    #[serde(rename = "ne")]
    NotEqual,
    /// `!=`: not equal.
    #[serde(rename = "!=")]
    NotEqualSymbol,
    /// `contains`: substring.
    #[serde(rename = "contains")]
    Contains,
}

impl Condition {
    /// Whether the condition holds for the given variable values.
    pub fn holds(&self, keys: &str, speech: &str) -> bool {
        let actual = match self.variable {
            ConditionVariable::Keys => keys,
            ConditionVariable::Speech => speech,
        };
        match self.operator {
            ConditionOperator::Equal | ConditionOperator::EqualSymbol => actual == self.value,
            ConditionOperator::NotEqual | ConditionOperator::NotEqualSymbol => actual != self.value,
            ConditionOperator::Contains => actual.contains(self.value.as_str()),
        }
    }
}

/// A command's lifecycle (spec §4.4 shows only `accepted`; the rest is Warbler's, see
/// docs/bird-compat.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Queued, not started.
    Accepted,
    /// Running.
    Ongoing,
    /// Finished normally.
    Completed,
    /// Not run because its conditions did not hold.
    Skipped,
    /// Could not be carried out (`reason` says why).
    Failed,
    /// Stopped before it finished: replaced by a PATCH, or the call ended.
    Cancelled,
}

impl CommandStatus {
    /// True once the command will not change again.
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Accepted | Self::Ongoing)
    }
}

/// The call flow as the API shows it on a Call (`callFlow`, spec §4.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// The flow's id.
    pub id: CallFlowId,
    /// Each command and its status.
    pub commands: Vec<CommandRecord>,
}

/// One command as the API shows it (`CallCommandResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRecord {
    /// The command's id.
    pub id: CommandId,
    /// The call it belongs to.
    pub call_id: CallId,
    /// The flow it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_flow_id: Option<CallFlowId>,
    /// Lifecycle status.
    pub status: CommandStatus,
    /// The command's name.
    pub command: CommandName,
    /// Echo of its conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a completed `gather` collected (a Warbler extension: Bird has no field for it, see
    /// docs/bird-compat.md). Absent on every other command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather: Option<GatherResult>,
}

/// The result of a completed `gather`, shown on its command as `"gather": {"keys": "12"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatherResult {
    /// The keys collected, without the end key; empty when none came.
    pub keys: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(operator: ConditionOperator, value: &str) -> Condition {
        Condition {
            variable: ConditionVariable::Keys,
            operator,
            value: value.into(),
        }
    }

    #[test]
    fn conditions_compare_keys() {
        assert!(condition(ConditionOperator::Equal, "12").holds("12", ""));
        assert!(condition(ConditionOperator::EqualSymbol, "12").holds("12", ""));
        assert!(!condition(ConditionOperator::NotEqual, "12").holds("12", ""));
        assert!(condition(ConditionOperator::NotEqualSymbol, "1").holds("12", ""));
        assert!(condition(ConditionOperator::Contains, "2").holds("123", ""));
        assert!(!condition(ConditionOperator::Contains, "9").holds("123", ""));
    }

    #[test]
    fn gather_results_show_as_an_extra_object_and_old_records_still_load() {
        let record = CommandRecord {
            id: CommandId::from_parts(1, [1; 10]),
            call_id: CallId::from_parts(1, [2; 10]),
            call_flow_id: None,
            status: CommandStatus::Completed,
            command: CommandName::Gather,
            conditions: vec![],
            reason: None,
            gather: Some(GatherResult { keys: "12".into() }),
        };
        let json = serde_json::to_value(&record).expect("serializes");
        assert_eq!(json["gather"], serde_json::json!({"keys": "12"}));
        let mut old = json.clone();
        old.as_object_mut().expect("object").remove("gather");
        let loaded: CommandRecord = serde_json::from_value(old).expect("loads");
        assert_eq!(loaded.gather, None);
        let without = CommandRecord {
            gather: None,
            ..record
        };
        let json = serde_json::to_value(&without).expect("serializes");
        assert!(json.get("gather").is_none());
    }

    #[test]
    fn operators_use_birds_symbols() {
        let json = serde_json::to_string(&condition(ConditionOperator::NotEqualSymbol, "x"))
            .expect("serializes");
        assert_eq!(json, r#"{"variable":"keys","operator":"!=","value":"x"}"#);
    }
}
