//! Extractors: who is calling and which resource the path names (authentication and workspace
//! isolation happen here, before any handler runs), the JSON body and the pagination query.
//!
//! Order of checks, so that responses leak nothing: the key first (401), then the path ids
//! against the key's workspace (404, never 403: another workspace's resources are
//! indistinguishable from missing ones), then the query and the body (400, 413, 422).

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;
use warbler_model::{CallId, ChannelId, EventId, OrganizationId, SubscriptionId, WorkspaceId};
use warbler_store::{DeliveryState, Store, WorkspaceAccess};

use crate::config::Clock;
use crate::control::CallControl;
use crate::error::ApiError;

/// Largest `limit` of a call list (spec §5.2).
pub(crate) const MAX_PAGE_LIMIT: u32 = 1000;
/// Largest `limit` of a webhook delivery list (a Warbler extension).
pub(crate) const MAX_DELIVERY_PAGE_LIMIT: u32 = 100;
/// `limit` when none is given (spec §5.2).
pub(crate) const DEFAULT_PAGE_LIMIT: u32 = 10;
/// Longest `pageToken` accepted, in characters (spec §5.2).
pub(crate) const MAX_PAGE_TOKEN_CHARACTERS: usize = 8000;

/// What every handler can reach: the store, the call runtime, the clock.
pub(crate) struct AppState<C> {
    pub(crate) store: Store,
    pub(crate) control: Arc<C>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_body_bytes: usize,
}

impl<C> Clone for AppState<C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            control: Arc::clone(&self.control),
            clock: Arc::clone(&self.clock),
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// Checks `Authorization: AccessKey <key>` (or `Bearer <key>`) against the store.
async fn authenticate(parts: &Parts, store: &Store) -> Result<WorkspaceAccess, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let (scheme, key) = value.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
    let known_scheme =
        scheme.eq_ignore_ascii_case("AccessKey") || scheme.eq_ignore_ascii_case("Bearer");
    let key = key.trim();
    if !known_scheme || key.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    store.authenticate(key).await?.ok_or(ApiError::Unauthorized)
}

/// The path parameters of the matched route.
struct PathIds(RawPathParams);

impl PathIds {
    async fn from_parts(parts: &mut Parts) -> Result<Self, ApiError> {
        RawPathParams::from_request_parts(parts, &())
            .await
            .map(Self)
            .map_err(|_| ApiError::NotFound)
    }

    /// The id named `name`; one that is not a UUID names nothing: 404.
    fn id<T: FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse().ok())
            .ok_or(ApiError::NotFound)
    }

    /// `{workspaceId}`, which must be the caller's own workspace.
    fn workspace(&self, access: &WorkspaceAccess) -> Result<WorkspaceId, ApiError> {
        let workspace: WorkspaceId = self.id("workspaceId")?;
        if workspace == access.workspace_id {
            Ok(workspace)
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// `{organizationId}`, which must be the organization of the caller's workspace.
    fn organization(&self, access: &WorkspaceAccess) -> Result<OrganizationId, ApiError> {
        let organization: OrganizationId = self.id("organizationId")?;
        if organization == access.organization_id {
            Ok(organization)
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// `{channelId}`, which must be a channel of `workspace`.
    async fn channel(&self, store: &Store, workspace: WorkspaceId) -> Result<ChannelId, ApiError> {
        let channel: ChannelId = self.id("channelId")?;
        store.channel(workspace, channel).await?;
        Ok(channel)
    }
}

/// `/workspaces/{workspaceId}/…`: the caller's own workspace.
pub(crate) struct WorkspaceScope {
    pub(crate) workspace: WorkspaceId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for WorkspaceScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let access = authenticate(parts, &state.store).await?;
        let path = PathIds::from_parts(parts).await?;
        let workspace = path.workspace(&access)?;
        Ok(Self { workspace })
    }
}

/// `/workspaces/{workspaceId}/channels/{channelId}/…`: the caller's workspace and one of its
/// channels.
pub(crate) struct ChannelScope {
    pub(crate) workspace: WorkspaceId,
    pub(crate) channel: ChannelId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for ChannelScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let access = authenticate(parts, &state.store).await?;
        let path = PathIds::from_parts(parts).await?;
        let workspace = path.workspace(&access)?;
        let channel = path.channel(&state.store, workspace).await?;
        Ok(Self { workspace, channel })
    }
}

/// `/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`: [`ChannelScope`] plus a
/// call id (whose existence is for the store or the runtime to tell).
pub(crate) struct CallScope {
    pub(crate) workspace: WorkspaceId,
    pub(crate) channel: ChannelId,
    pub(crate) call: CallId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for CallScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let access = authenticate(parts, &state.store).await?;
        let path = PathIds::from_parts(parts).await?;
        let workspace = path.workspace(&access)?;
        let call = path.id("callId")?;
        let channel = path.channel(&state.store, workspace).await?;
        Ok(Self {
            workspace,
            channel,
            call,
        })
    }
}

/// `/organizations/{organizationId}/workspaces/{workspaceId}/…`: the caller's workspace,
/// named with its organization.
pub(crate) struct OrganizationScope {
    pub(crate) organization: OrganizationId,
    pub(crate) workspace: WorkspaceId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for OrganizationScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let access = authenticate(parts, &state.store).await?;
        let path = PathIds::from_parts(parts).await?;
        let organization = path.organization(&access)?;
        let workspace = path.workspace(&access)?;
        Ok(Self {
            organization,
            workspace,
        })
    }
}

/// `…/webhook-subscriptions/{subscriptionId}`: [`OrganizationScope`] plus a subscription id.
pub(crate) struct SubscriptionScope {
    pub(crate) workspace: WorkspaceId,
    pub(crate) subscription: SubscriptionId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for SubscriptionScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let scope = OrganizationScope::from_request_parts(parts, state).await?;
        let path = PathIds::from_parts(parts).await?;
        let subscription = path.id("subscriptionId")?;
        Ok(Self {
            workspace: scope.workspace,
            subscription,
        })
    }
}

/// `…/webhook-deliveries/{deliveryId}/…`: [`OrganizationScope`] plus a delivery (event) id.
pub(crate) struct DeliveryScope {
    pub(crate) workspace: WorkspaceId,
    pub(crate) delivery: EventId,
}

impl<C: CallControl> FromRequestParts<AppState<C>> for DeliveryScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<C>,
    ) -> Result<Self, Self::Rejection> {
        let scope = OrganizationScope::from_request_parts(parts, state).await?;
        let path = PathIds::from_parts(parts).await?;
        let delivery = path.id("deliveryId")?;
        Ok(Self {
            workspace: scope.workspace,
            delivery,
        })
    }
}

/// Reads the whole body, refusing one longer than the configured limit (413), whether its
/// `Content-Length` says so up front or it turns out so while streaming.
async fn read_body<C: CallControl>(
    request: Request,
    state: &AppState<C>,
) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::UnreadableBody
            }
        })
}

/// A request body parsed as JSON (any JSON value; the `warbler_model::request` parsers judge
/// its shape). The `Content-Type` is not checked: the bytes must be JSON, whatever the label.
pub(crate) struct JsonBody(pub(crate) Value);

impl<C: CallControl> FromRequest<AppState<C>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState<C>) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state).await?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|error| ApiError::InvalidJson(error.to_string()))
    }
}

/// The body of a request whose body is optional: `None` when it is empty (or only whitespace),
/// otherwise parsed as JSON like [`JsonBody`] (400 when it is not JSON).
pub(crate) struct OptionalJsonBody(pub(crate) Option<Value>);

impl<C: CallControl> FromRequest<AppState<C>> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState<C>) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        serde_json::from_slice(&bytes)
            .map(|value| Self(Some(value)))
            .map_err(|error| ApiError::InvalidJson(error.to_string()))
    }
}

/// The body of a request that takes none: whatever it holds is ignored, but it is still read
/// within the body limit (413 beyond), like every other body.
pub(crate) struct IgnoredBody;

impl<C: CallControl> FromRequest<AppState<C>> for IgnoredBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState<C>) -> Result<Self, Self::Rejection> {
        read_body(request, state).await?;
        Ok(Self)
    }
}

/// The query's `(name, value)` pairs, in order.
fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::invalid_field("", "the query string is malformed"))
}

/// The query's decoded `(name, value)` pairs, in order, for the `warbler_model::request`
/// parsers to judge.
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        query_pairs(parts).map(Self)
    }
}

/// `?limit=&pageToken=` of a list (spec §2.5, §5.2), `limit` at most `MAX`. Other query
/// parameters are ignored.
pub(crate) struct PageQuery<const MAX: u32 = MAX_PAGE_LIMIT> {
    pub(crate) limit: u32,
    pub(crate) page_token: Option<String>,
}

impl<S: Send + Sync, const MAX: u32> FromRequestParts<S> for PageQuery<MAX> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut query = Self {
            limit: DEFAULT_PAGE_LIMIT.min(MAX),
            page_token: None,
        };
        for (key, value) in query_pairs(parts)? {
            match key.as_str() {
                "limit" => query.limit = parse_limit(&value, MAX)?,
                "pageToken" if value.is_empty() => query.page_token = None,
                "pageToken" if value.chars().count() > MAX_PAGE_TOKEN_CHARACTERS => {
                    return Err(ApiError::invalid_field(
                        "pageToken",
                        format!("pageToken is longer than {MAX_PAGE_TOKEN_CHARACTERS} characters"),
                    ));
                }
                "pageToken" => query.page_token = Some(value),
                _ => {}
            }
        }
        Ok(query)
    }
}

fn parse_limit(value: &str, max: u32) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            ApiError::invalid_field("limit", format!("limit must be an integer from 1 to {max}"))
        })
}

/// `?state=` of a webhook delivery list: `pending`, `delivered` or `dead` (the default).
/// Other query parameters are ignored.
pub(crate) struct DeliveryStateQuery(pub(crate) DeliveryState);

impl<S: Send + Sync> FromRequestParts<S> for DeliveryStateQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut state = DeliveryState::Dead;
        for (key, value) in query_pairs(parts)? {
            if key == "state" {
                state = DeliveryState::parse(&value).ok_or_else(|| {
                    ApiError::invalid_field(
                        "state",
                        "state must be one of `pending`, `delivered`, `dead`",
                    )
                })?;
            }
        }
        Ok(Self(state))
    }
}
