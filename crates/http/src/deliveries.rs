//! Webhook deliveries of a workspace, to find dead ones and replay them (a Warbler extension;
//! Bird has no such routes).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use warbler_model::{CallId, EventId, SubscriptionId, Timestamp};
use warbler_store::DeliveryRecord;

use crate::calls::PageBody;
use crate::control::CallControl;
use crate::error::ApiError;
use crate::extract::{
    AppState, DeliveryScope, DeliveryStateQuery, IgnoredBody, MAX_DELIVERY_PAGE_LIMIT,
    OrganizationScope, PageQuery,
};

/// A delivery as the API shows it: absent fields are omitted; never the body nor the signing
/// key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryBody {
    id: EventId,
    subscription_id: SubscriptionId,
    call_id: CallId,
    state: &'static str,
    attempts: u32,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

impl From<DeliveryRecord> for DeliveryBody {
    fn from(record: DeliveryRecord) -> Self {
        Self {
            id: record.id,
            subscription_id: record.subscription_id,
            call_id: record.call_id,
            state: record.state.as_str(),
            attempts: record.attempts,
            created_at: record.created_at,
            next_attempt_at: record.next_attempt_at,
            delivered_at: record.delivered_at,
            dead_at: record.dead_at,
            last_error: record.last_error,
        }
    }
}

/// `GET /organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries`
/// `?state=&limit=&pageToken=`: newest first.
pub(crate) async fn list<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: OrganizationScope,
    DeliveryStateQuery(delivery_state): DeliveryStateQuery,
    query: PageQuery<MAX_DELIVERY_PAGE_LIMIT>,
) -> Result<Json<PageBody<DeliveryBody>>, ApiError> {
    let page = state
        .store
        .deliveries(
            scope.workspace,
            delivery_state,
            query.limit,
            query.page_token.as_deref(),
        )
        .await?;
    Ok(Json(PageBody {
        results: page.results.into_iter().map(DeliveryBody::from).collect(),
        next_page_token: page.next_page_token,
    }))
}

/// `POST …/webhook-deliveries/{deliveryId}/replay`: 202 and the delivery, pending again and due
/// now (the dispatcher picks it up on its next poll).
pub(crate) async fn replay<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: DeliveryScope,
    _body: IgnoredBody,
) -> Result<(StatusCode, Json<DeliveryBody>), ApiError> {
    let record = state
        .store
        .replay_delivery(scope.workspace, scope.delivery, state.clock.now())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryBody::from(record))))
}
