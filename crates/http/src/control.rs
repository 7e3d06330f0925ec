//! The port this crate needs from the call runtime, owned here so that the HTTP layer never
//! depends on the runtime (the runtime implements it; tests use a fake).

use std::future::Future;

use warbler_model::request::PatchCall;
use warbler_model::{Call, CallId, ChannelId, ValidationError, WorkspaceId};

/// What the HTTP layer asks of the call runtime.
pub trait CallControl: Send + Sync + 'static {
    /// PATCH a live call: hang up and/or replace its flow. Returns the call as it is after the
    /// change was accepted.
    ///
    /// The HTTP layer has already checked that the caller's key belongs to `workspace` and that
    /// `channel` is a channel of `workspace`; the implementation must answer
    /// [`ControlError::NotFound`] when `call` is not a call of `channel`.
    fn update_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    ) -> impl Future<Output = Result<Call, ControlError>> + Send;
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
    /// The request is well-formed but this server cannot act on it (e.g. a TTS locale it cannot
    /// speak): 422 naming the field.
    #[error("{0}")]
    Invalid(ValidationError),
    /// The runtime cannot take requests now (shutting down, overloaded): 503.
    #[error("the call runtime is unavailable")]
    Unavailable,
}
