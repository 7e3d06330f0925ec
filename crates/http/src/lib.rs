//! Warbler's HTTP API: Bird's Voice API routes over axum.
//!
//! This layer only translates. Each handler extracts and parses the request (authentication and
//! workspace isolation happen in the extractors), makes one call on the store
//! ([`warbler_store::Store`]) or on the [`CallControl`] port, and maps the result to
//! Bird's JSON. Every failure is one error type rendered as Bird's error body
//! `{"code", "message", "details"}` (spec §2.4).
//!
//! Routes ([`router`]):
//!
//! | Method | Path | Success |
//! |---|---|---|
//! | GET | `/health` (no authentication) | 200 `{"status":"ok"}` |
//! | GET | `/workspaces/{workspaceId}/channels/calls` (workspace calls log) | 200 page of calls |
//! | GET | `/workspaces/{workspaceId}/channels/{channelId}/calls` | 200 page of calls |
//! | POST | `/workspaces/{workspaceId}/channels/{channelId}/calls` | 202 call |
//! | GET | `/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}` | 200 call |
//! | PATCH | `/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}` | 202 call |
//! | GET | `…/calls/{callId}/insights` | 200 insights |
//! | POST | `…/calls/{callId}/{answer,ringing,hangup,playback,say,gather}` | 202 command |
//! | POST | `…/calls/{callId}/record` | 202 `{command, recordingId}` |
//! | POST | `…/calls/{callId}/bridge` | 202 `{command, bridgedCall}` |
//! | POST, GET | `/organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions` | 201 subscription, 200 list |
//! | GET, DELETE | `…/webhook-subscriptions/{subscriptionId}` | 200 subscription, 204 |
//! | GET | `/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries` | 200 page of deliveries |
//! | POST | `…/webhook-deliveries/{deliveryId}/replay` | 202 delivery |
//!
//! The workspace calls log's static `calls` segment is never taken for a `{channelId}` (axum
//! prefers static segments, and the two paths differ in length anyway).
//!
//! Routes added later must name their path parameters the same way (`{workspaceId}`,
//! `{channelId}`, ...): the extractors look them up by these names. Every path is a string
//! literal of this file, and every route must be added to the isolation matrix of
//! `tests/isolation.rs` (which checks both).
//!
//! Every route but `/health` needs `Authorization: AccessKey <key>` (or `Bearer <key>`); a
//! missing or unknown key is 401. A path naming another workspace, another organization, a
//! channel or call outside the key's workspace, or an id that is not a UUID is 404, exactly
//! like a missing resource. Every response carries a fresh `Messagebird-Request-Id` (spec §2.3),
//! which is also recorded on the request's tracing span.

mod calls;
mod commands;
mod config;
mod control;
mod deliveries;
mod error;
mod extract;
mod subscriptions;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;
use tracing::Instrument;
use uuid::Uuid;
use warbler_model::CommandName;
use warbler_store::Store;

pub use config::{ApiConfig, Clock, SystemClock};
pub use control::{CallControl, CommandAccepted, ControlError};

use crate::error::ApiError;
use crate::extract::AppState;

/// The response header carrying a request's id (spec §2.3).
pub const REQUEST_ID_HEADER: &str = "messagebird-request-id";

const WORKSPACE_CALLS_PATH: &str = "/workspaces/{workspaceId}/channels/calls";
const CALLS_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls";
const CALL_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}";
const INSIGHTS_PATH: &str =
    "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/insights";
const ANSWER_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/answer";
const RINGING_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/ringing";
const HANGUP_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/hangup";
const PLAYBACK_PATH: &str =
    "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/playback";
const SAY_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/say";
const GATHER_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/gather";
const RECORD_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/record";
const BRIDGE_PATH: &str = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/bridge";
const SUBSCRIPTIONS_PATH: &str =
    "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions";
const SUBSCRIPTION_PATH: &str = "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-subscriptions/{subscriptionId}";
const DELIVERIES_PATH: &str =
    "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries";
const DELIVERY_REPLAY_PATH: &str = "/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries/{deliveryId}/replay";

/// Builds the API: every route of this crate over `store`, with new calls, PATCHes and commands
/// of live calls going to `control`.
pub fn router<C: CallControl>(store: Store, control: Arc<C>, config: ApiConfig) -> Router {
    let state = AppState {
        store,
        control,
        clock: config.clock,
        max_body_bytes: config.max_body_bytes,
    };
    Router::new()
        .route("/health", get(health))
        .route(WORKSPACE_CALLS_PATH, get(calls::log::<C>))
        .route(CALLS_PATH, get(calls::list::<C>).post(calls::create::<C>))
        .route(CALL_PATH, get(calls::get::<C>).patch(calls::update::<C>))
        .route(INSIGHTS_PATH, get(calls::insights::<C>))
        .route(ANSWER_PATH, commands::route::<C>(CommandName::Answer))
        .route(RINGING_PATH, commands::route::<C>(CommandName::Ringing))
        .route(HANGUP_PATH, commands::route::<C>(CommandName::Hangup))
        .route(PLAYBACK_PATH, commands::route::<C>(CommandName::Playback))
        .route(SAY_PATH, commands::route::<C>(CommandName::Say))
        .route(GATHER_PATH, commands::route::<C>(CommandName::Gather))
        .route(RECORD_PATH, commands::route::<C>(CommandName::Record))
        .route(BRIDGE_PATH, commands::route::<C>(CommandName::Bridge))
        .route(
            SUBSCRIPTIONS_PATH,
            get(subscriptions::list::<C>).post(subscriptions::create::<C>),
        )
        .route(
            SUBSCRIPTION_PATH,
            get(subscriptions::get::<C>).delete(subscriptions::delete::<C>),
        )
        .route(DELIVERIES_PATH, get(deliveries::list::<C>))
        .route(DELIVERY_REPLAY_PATH, post(deliveries::replay::<C>))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// `GET /health`.
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn route_not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Gives the request a fresh id: recorded on its tracing span and sent back in
/// `Messagebird-Request-Id`.
async fn request_id(request: Request, next: Next) -> Response {
    let id = Uuid::new_v4().hyphenated().to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    response
}
