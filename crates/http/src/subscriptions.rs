//! Webhook subscriptions of a workspace (spec §10.2).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use uuid::Uuid;
use warbler_model::request::parse_create_subscription;
use warbler_model::{SubscriptionId, WebhookSubscription};

use crate::control::CallControl;
use crate::error::ApiError;
use crate::extract::{AppState, JsonBody, OrganizationScope, SubscriptionScope};

/// The list of a workspace's subscriptions: `{"results": [...]}` (never paginated).
#[derive(Serialize)]
pub(crate) struct SubscriptionList {
    results: Vec<WebhookSubscription>,
}

/// `POST /organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions`: 201.
pub(crate) async fn create<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: OrganizationScope,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<WebhookSubscription>), ApiError> {
    let request = parse_create_subscription(body)?;
    let now = state.clock.now();
    let subscription = WebhookSubscription {
        id: new_subscription_id(now.unix_millis()),
        organization_id: scope.organization,
        workspace_id: scope.workspace,
        service: request.service,
        event: request.event,
        url: request.url,
        event_filters: request.event_filters,
        template: request.template,
        status: "active",
        created_at: now,
        updated_at: now,
        signing_key: request.signing_key,
    };
    state.store.insert_subscription(&subscription).await?;
    Ok((StatusCode::CREATED, Json(subscription)))
}

/// `GET …/webhook-subscriptions`.
pub(crate) async fn list<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: OrganizationScope,
) -> Result<Json<SubscriptionList>, ApiError> {
    let results = state.store.subscriptions(scope.workspace).await?;
    Ok(Json(SubscriptionList { results }))
}

/// `GET …/webhook-subscriptions/{subscriptionId}`.
pub(crate) async fn get<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: SubscriptionScope,
) -> Result<Json<WebhookSubscription>, ApiError> {
    let subscription = state
        .store
        .subscription(scope.workspace, scope.subscription)
        .await?;
    if subscription.workspace_id != scope.workspace {
        return Err(ApiError::NotFound);
    }
    Ok(Json(subscription))
}

/// `DELETE …/webhook-subscriptions/{subscriptionId}`: 204.
pub(crate) async fn delete<C: CallControl>(
    State(state): State<AppState<C>>,
    scope: SubscriptionScope,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_subscription(scope.workspace, scope.subscription)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new time-ordered id; the 10 random bytes come from the fully random bytes of a UUID v4
/// (bytes 6 and 8 carry its version and variant bits, so they are skipped).
fn new_subscription_id(unix_millis: i64) -> SubscriptionId {
    let bytes = Uuid::new_v4().into_bytes();
    let mut random = [0_u8; 10];
    random[..6].copy_from_slice(&bytes[..6]);
    random[6..].copy_from_slice(&bytes[12..]);
    SubscriptionId::from_parts(u64::try_from(unix_millis).unwrap_or(0), random)
}
