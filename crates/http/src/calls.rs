//! Calls of a channel (spec §5.2, §5.4, §5.5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use warbler_model::Call;
use warbler_model::request::parse_patch_call;

use crate::control::CallControl;
use crate::error::ApiError;
use crate::extract::{AppState, CallScope, ChannelScope, JsonBody, PageQuery};

/// A page of a list (spec §2.5): `nextPageToken` is omitted on the last page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageBody<T> {
    pub(crate) results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

/// `GET /workspaces/{workspaceId}/channels/{channelId}/calls`.
pub(crate) async fn list<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: ChannelScope,
    query: PageQuery,
) -> Result<Json<PageBody<Call>>, ApiError> {
    let page = state
        .store
        .list_calls(
            scope.workspace,
            scope.channel,
            query.limit,
            query.page_token.as_deref(),
        )
        .await?;
    Ok(Json(PageBody {
        results: page.results,
        next_page_token: page.next_page_token,
    }))
}

/// `GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`.
pub(crate) async fn get<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: CallScope,
) -> Result<Json<Call>, ApiError> {
    let call = state
        .store
        .call(scope.workspace, scope.channel, scope.call)
        .await?;
    if call.channel_id != scope.channel {
        return Err(ApiError::NotFound);
    }
    Ok(Json(call))
}

/// `PATCH /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`: 202 and the call.
pub(crate) async fn update<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: CallScope,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let patch = parse_patch_call(body)?;
    let call = state
        .control
        .update_call(scope.workspace, scope.channel, scope.call, patch)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(call)))
}
