//! The port this crate needs from the call runtime, owned here so that the HTTP layer never
//! depends on the runtime (the runtime implements it; tests use a fake).

use std::future::Future;

use serde::Serialize;
use uuid::Uuid;
use warbler_model::request::{CreateCall, PatchCall};
use warbler_model::{
    Call, CallId, ChannelId, Command, CommandRecord, ValidationError, WorkspaceId,
};

/// What the HTTP layer asks of the call runtime.
///
/// Before any of these is called, the HTTP layer has checked that the caller's key belongs to
/// `workspace` and that `channel` is a channel of `workspace`, and has parsed and validated the
/// request.
pub trait CallControl: Send + Sync + 'static {
    /// PATCH a live call: hang up and/or replace its flow. Returns the call as it is after the
    /// change was accepted.
    ///
    /// The implementation must answer [`ControlError::NotFound`] when `call` is not a call of
    /// `channel`.
    fn update_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    ) -> impl Future<Output = Result<Call, ControlError>> + Send;

    /// Places an outbound call on `channel` (`POST …/calls`, spec §5.1). Returns the new call,
    /// stored, as the API shows it (`accepted`, or `scheduled` with `scheduledFor`).
    ///
    /// [`ControlError::NoTrunk`] when the channel has no trunk to place it through.
    fn create_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        request: CreateCall,
    ) -> impl Future<Output = Result<Call, ControlError>> + Send;

    /// Runs one command on a live call (`POST …/calls/{callId}/{command}`, spec §5.7–5.14),
    /// outside any call flow. Returns what the endpoint shows: the command's record (status
    /// `accepted`), with the recording's id for `record` and the new leg for `bridge`.
    ///
    /// The implementation must answer [`ControlError::NotFound`] when `call` is not a call of
    /// `channel`, [`ControlError::CallNotActive`] or [`ControlError::WrongState`] when the call
    /// cannot take the command.
    fn command(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        command: Command,
    ) -> impl Future<Output = Result<CommandAccepted, ControlError>> + Send;
}

/// A command accepted by [`CallControl::command`], serialized as the endpoint's 202 body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per request, moved once into its response: boxing the call gains nothing"
)]
pub enum CommandAccepted {
    /// `answer`, `ringing`, `hangup`, `playback`, `say`, `gather` (and `pause`): the command's
    /// record alone, `{"id", "callId", "command", "status": "accepted", …}`
    /// (`CallCommandResponse`, spec §4.4).
    Command(CommandRecord),
    /// `record`: `{"command": {…}, "recordingId": "<uuid>"}` (spec §5.13).
    Record {
        /// The command's record.
        command: CommandRecord,
        /// The id the recording will have.
        #[serde(rename = "recordingId")]
        recording_id: Uuid,
    },
    /// `bridge`: `{"command": {…}, "bridgedCall": <Call>}` (spec §5.14).
    Bridge {
        /// The command's record.
        command: CommandRecord,
        /// The new leg, as just created (`parentId` is the bridged call).
        #[serde(rename = "bridgedCall")]
        bridged_call: Call,
    },
}

/// Why the call runtime refused a request.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No such call in that channel: 404.
    #[error("no such call")]
    NotFound,
    /// The call already ended: 422 with code `CallNotActive`.
    #[error("the call has already ended")]
    CallNotActive,
    /// The call is live but cannot take this command now (an `answer` on an outgoing or
    /// answered call, a `ringing` after answer, a media command on a call not yet connected,
    /// ...): 422 with code `InvalidCallState` and `message` shown to the client.
    #[error("{message}")]
    WrongState {
        /// Why, for the client (`the call is outgoing: only incoming calls can be answered`).
        message: String,
    },
    /// The channel has no SIP trunk, so no call can be placed through it: 422 with code
    /// `NoTrunk`.
    #[error("this channel has no trunk to place calls through")]
    NoTrunk,
    /// The request is well-formed but this server cannot act on it (e.g. a TTS locale it cannot
    /// speak): 422 naming the field.
    #[error("{0}")]
    Invalid(ValidationError),
    /// The runtime cannot take requests now (shutting down, overloaded): 503.
    #[error("the call runtime is unavailable")]
    Unavailable,
}
