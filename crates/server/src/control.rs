//! The adapter from the runtime's handle to the HTTP layer's `CallControl` port.

use warbler_http::{CallControl, ControlError};
use warbler_model::request::PatchCall;
use warbler_model::{Call, CallId, ChannelId, WorkspaceId};
use warbler_runtime::{RuntimeHandle, UpdateError};

/// `CallControl` backed by the running runtime.
pub(crate) struct RuntimeControl {
    handle: RuntimeHandle,
}

impl RuntimeControl {
    pub(crate) fn new(handle: RuntimeHandle) -> Self {
        Self { handle }
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
            .map_err(|error| match error {
                UpdateError::NotFound => ControlError::NotFound,
                UpdateError::CallNotActive => ControlError::CallNotActive,
                UpdateError::Invalid(validation) => ControlError::Invalid(validation),
                UpdateError::Unavailable => ControlError::Unavailable,
                UpdateError::Store(error) => {
                    tracing::error!(%error, "store failure while updating a call");
                    ControlError::Unavailable
                }
            })
    }
}
