//! The adapter from the runtime's handle to the HTTP layer's `CallControl` port.

use warbler_http::{CallControl, CommandAccepted, ControlError};
use warbler_model::request::{CreateCall, PatchCall};
use warbler_model::{Call, CallId, ChannelId, Command, WorkspaceId};
use warbler_runtime::{CreateError, RuntimeHandle, UpdateError};

/// `CallControl` backed by the running runtime.
pub(crate) struct RuntimeControl {
    handle: RuntimeHandle,
}

impl RuntimeControl {
    pub(crate) fn new(handle: RuntimeHandle) -> Self {
        Self { handle }
    }
}

fn from_update(error: UpdateError) -> ControlError {
    match error {
        UpdateError::NotFound => ControlError::NotFound,
        UpdateError::CallNotActive => ControlError::CallNotActive,
        UpdateError::Invalid(validation) => ControlError::Invalid(validation),
        UpdateError::WrongState(message) => ControlError::WrongState {
            message: message.to_owned(),
        },
        UpdateError::Unavailable => ControlError::Unavailable,
        UpdateError::Store(error) => {
            tracing::error!(%error, "store failure while updating a call");
            ControlError::Unavailable
        }
    }
}

impl CallControl for RuntimeControl {
    async fn update_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    ) -> Result<Call, ControlError> {
        self.handle
            .update_call(workspace, channel, call, patch)
            .await
            .map_err(from_update)
    }

    async fn create_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        request: CreateCall,
    ) -> Result<Call, ControlError> {
        self.handle
            .create_call(workspace, channel, request)
            .await
            .map_err(|error| match error {
                CreateError::NotFound => ControlError::NotFound,
                CreateError::NoTrunk(reason) => {
                    tracing::info!(%reason, "outbound call refused");
                    ControlError::NoTrunk
                }
                CreateError::Invalid(validation) => ControlError::Invalid(validation),
                CreateError::Unavailable => ControlError::Unavailable,
                CreateError::Store(error) => {
                    tracing::error!(%error, "store failure while creating a call");
                    ControlError::Unavailable
                }
            })
    }

    async fn command(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        command: Command,
    ) -> Result<CommandAccepted, ControlError> {
        self.handle
            .command(workspace, channel, call, command)
            .await
            .map(CommandAccepted::Command)
            .map_err(from_update)
    }
}
