//! Calls of a channel and of a workspace (spec §5.1–§5.6).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use warbler_model::request::{parse_call_list_query, parse_create_call, parse_patch_call};
use warbler_model::{
    Call, CallId, CallStatus, CallType, ChannelId, Direction, HangupSource, Timestamp,
};

use crate::control::CallControl;
use crate::error::ApiError;
use crate::extract::{AppState, CallScope, ChannelScope, JsonBody, QueryPairs, WorkspaceScope};

/// A page of a list (spec §2.5): `nextPageToken` is omitted on the last page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageBody<T> {
    pub(crate) results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

/// `GET /workspaces/{workspaceId}/channels/{channelId}/calls` with the filters of spec §5.2.
pub(crate) async fn list<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: ChannelScope,
    QueryPairs(pairs): QueryPairs,
) -> Result<Json<PageBody<Call>>, ApiError> {
    let query = parse_call_list_query(&pairs, false)?;
    let page = state
        .store
        .list_calls_filtered(scope.workspace, Some(scope.channel), &query)
        .await?;
    Ok(Json(PageBody {
        results: page.results,
        next_page_token: page.next_page_token,
    }))
}

/// `GET /workspaces/{workspaceId}/channels/calls`: the workspace calls log, every channel's
/// calls with the filters of spec §5.3 (those of §5.2 plus `channelId`).
pub(crate) async fn log<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: WorkspaceScope,
    QueryPairs(pairs): QueryPairs,
) -> Result<Json<PageBody<Call>>, ApiError> {
    let query = parse_call_list_query(&pairs, true)?;
    let page = state
        .store
        .list_calls_filtered(scope.workspace, None, &query)
        .await?;
    Ok(Json(PageBody {
        results: page.results,
        next_page_token: page.next_page_token,
    }))
}

/// `POST /workspaces/{workspaceId}/channels/{channelId}/calls`: 202 and the new call.
pub(crate) async fn create<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: ChannelScope,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let request = parse_create_call(body, state.clock.now())?;
    let call = state
        .control
        .create_call(scope.workspace, scope.channel, request)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(call)))
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

/// `GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/insights`.
pub(crate) async fn insights<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: CallScope,
) -> Result<Json<InsightsBody>, ApiError> {
    let call = state
        .store
        .call(scope.workspace, scope.channel, scope.call)
        .await?;
    if call.channel_id != scope.channel {
        return Err(ApiError::NotFound);
    }
    Ok(Json(InsightsBody::from(call)))
}

/// A call's insights (spec §4.5): the call's base fields. Bird adds `signallingMetrics` and
/// `mediaMetrics`; Warbler does not record them yet, so they are omitted (absent fields are
/// never `null`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InsightsBody {
    id: CallId,
    channel_id: ChannelId,
    from: String,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<CallId>,
    direction: Direction,
    status: CallStatus,
    #[serde(rename = "type")]
    kind: CallType,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hangup_cause_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hangup_source: Option<HangupSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hangup_sip_code: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    ringing_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answered_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<Timestamp>,
}

impl From<Call> for InsightsBody {
    fn from(call: Call) -> Self {
        Self {
            id: call.id,
            channel_id: call.channel_id,
            from: call.from,
            to: call.to,
            parent_id: call.parent_id,
            direction: call.direction,
            status: call.status,
            kind: call.kind,
            duration: call.duration,
            hangup_cause_code: call.hangup_cause_code,
            hangup_source: call.hangup_source,
            hangup_sip_code: call.hangup_sip_code,
            created_at: call.created_at,
            updated_at: call.updated_at,
            ringing_at: call.ringing_at,
            answered_at: call.answered_at,
            ended_at: call.ended_at,
        }
    }
}
