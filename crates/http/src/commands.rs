//! The per-command endpoints of a live call (spec §5.7–§5.14):
//! `POST /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/{command}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};
use warbler_model::CommandName;
use warbler_model::request::parse_command;

use crate::control::{CallControl, CommandAccepted};
use crate::error::ApiError;
use crate::extract::{AppState, CallScope, OptionalJsonBody};

/// The `POST` route of the endpoint running `name`.
pub(crate) fn route<C: CallControl>(name: CommandName) -> MethodRouter<AppState<C>> {
    post(
        move |state: State<AppState<C>>, scope: CallScope, body: OptionalJsonBody| {
            run(state, scope, body, name)
        },
    )
}

/// Parses the body as `name`'s options (absent or empty: none; error paths have no `options.`
/// prefix), hands the command to the runtime: 202 and what it accepted.
async fn run<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: CallScope,
    OptionalJsonBody(body): OptionalJsonBody,
    name: CommandName,
) -> Result<(StatusCode, Json<CommandAccepted>), ApiError> {
    let command = parse_command(name, body)?;
    let accepted = state
        .control
        .command(scope.workspace, scope.channel, scope.call, command)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
