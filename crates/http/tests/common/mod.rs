//! What the webhook delivery and isolation tests share: two tenants, each with a channel, calls,
//! a subscription and a delivery in every state, behind a router with a fixed clock and a fake
//! call runtime; and a request helper that checks what every response must carry.

#![allow(dead_code, reason = "each test file uses its own part of this module")]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;
use warbler_http::{
    ApiConfig, CallControl, Clock, CommandAccepted, ControlError, REQUEST_ID_HEADER, router,
};
use warbler_model::request::{CreateCall, PatchCall};
use warbler_model::{
    AccessKeyId, Call, CallId, CallStatus, ChannelId, Command, CommandId, CommandRecord,
    CommandStatus, EventId, EventKind, OrganizationId, SubscriptionId, Timestamp, WebhookService,
    WebhookSubscription, WorkspaceId,
};
use warbler_store::{ChannelSpec, NewWorkspace, Store};

/// 2024-11-21T18:09:15.550Z, what the router's clock says.
pub(crate) const NOW_MILLIS: i64 = 1_732_212_555_550;
/// `NOW_MILLIS` as the API prints it.
pub(crate) const NOW_TEXT: &str = "2024-11-21T18:09:15.550Z";
/// The router's body limit.
pub(crate) const BODY_LIMIT: usize = 4096;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(NOW_MILLIS)
    }
}

/// What the fake call runtime was asked, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ControlRequest {
    /// `update_call`.
    Update {
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    },
    /// `create_call`.
    Create {
        workspace: WorkspaceId,
        channel: ChannelId,
        request: CreateCall,
    },
    /// `command`.
    Command {
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        command: Command,
    },
}

/// The id the fake gives a created call or a bridged leg.
pub(crate) fn created_call_id() -> CallId {
    CallId::from_parts(1, [0xcc; 10])
}

/// The id the fake gives an accepted command.
pub(crate) fn command_id() -> CommandId {
    CommandId::from_parts(1, [0xdd; 10])
}

/// The recording id the fake gives an accepted `record`.
pub(crate) const RECORDING_ID: &str = "0193500b-5a3e-7c4d-9f1a-2b3c4d5e6f70";

/// A call runtime that records every request it gets, then accepts it for the calls it knows
/// (or refuses it with the error given to [`FakeControl::refuse_next`]).
#[derive(Default)]
pub(crate) struct FakeControl {
    calls: Mutex<Vec<(WorkspaceId, Call)>>,
    requests: Mutex<Vec<ControlRequest>>,
    refusal: Mutex<Option<ControlError>>,
}

impl FakeControl {
    /// Makes the fake know `call` of `workspace` (and accept requests about it).
    pub(crate) fn know(&self, workspace: WorkspaceId, call: &Call) {
        self.calls
            .lock()
            .expect("lock")
            .push((workspace, call.clone()));
    }

    /// Every request so far, in order.
    pub(crate) fn requests(&self) -> Vec<ControlRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// The calls patched so far.
    pub(crate) fn patches(&self) -> Vec<CallId> {
        self.requests()
            .into_iter()
            .filter_map(|request| match request {
                ControlRequest::Update { call, .. } => Some(call),
                _ => None,
            })
            .collect()
    }

    /// The next request is refused with `error`.
    pub(crate) fn refuse_next(&self, error: ControlError) {
        *self.refusal.lock().expect("lock") = Some(error);
    }

    /// Records `request`, then answers the pending refusal, if any.
    fn record(&self, request: ControlRequest) -> Result<(), ControlError> {
        self.requests.lock().expect("lock").push(request);
        match self.refusal.lock().expect("lock").take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn known(&self, workspace: WorkspaceId, channel: ChannelId, call: CallId) -> Option<Call> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .find(|(known_workspace, known)| {
                *known_workspace == workspace && known.channel_id == channel && known.id == call
            })
            .map(|(_, known)| known.clone())
    }

    /// The record the fake shows for `command` accepted on `call`.
    pub(crate) fn record_of(call: CallId, command: &Command) -> CommandRecord {
        CommandRecord {
            id: command_id(),
            call_id: call,
            call_flow_id: None,
            status: CommandStatus::Accepted,
            command: command.name(),
            conditions: Vec::new(),
            reason: None,
            gather: None,
        }
    }
}

impl CallControl for FakeControl {
    async fn update_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    ) -> Result<Call, ControlError> {
        self.record(ControlRequest::Update {
            workspace,
            channel,
            call,
            patch: patch.clone(),
        })?;
        let mut known = self
            .known(workspace, channel, call)
            .ok_or(ControlError::NotFound)?;
        if patch.hang_up {
            known.status = CallStatus::Completed;
        }
        Ok(known)
    }

    async fn create_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        request: CreateCall,
    ) -> Result<Call, ControlError> {
        self.record(ControlRequest::Create {
            workspace,
            channel,
            request: request.clone(),
        })?;
        let from = request
            .from
            .clone()
            .unwrap_or_else(|| "+31100000000".to_owned());
        Ok(Call::from_create_call(
            created_call_id(),
            channel,
            from,
            &request,
            Timestamp::from_unix_millis(NOW_MILLIS),
        ))
    }

    async fn command(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        command: Command,
    ) -> Result<CommandAccepted, ControlError> {
        self.record(ControlRequest::Command {
            workspace,
            channel,
            call,
            command: command.clone(),
        })?;
        let known = self
            .known(workspace, channel, call)
            .ok_or(ControlError::NotFound)?;
        let record = Self::record_of(call, &command);
        Ok(match command {
            Command::Record(_) => CommandAccepted::Record {
                command: record,
                recording_id: RECORDING_ID.parse().expect("uuid"),
            },
            Command::Bridge(options) => {
                let mut leg = Call::outgoing(
                    created_call_id(),
                    channel,
                    options.from.clone().unwrap_or(known.to),
                    options.to.clone(),
                    Timestamp::from_unix_millis(NOW_MILLIS),
                );
                leg.parent_id = Some(call);
                CommandAccepted::Bridge {
                    command: record,
                    bridged_call: leg,
                }
            }
            _ => CommandAccepted::Command(record),
        })
    }
}

/// One workspace and everything in it.
pub(crate) struct Tenant {
    pub(crate) organization: OrganizationId,
    pub(crate) workspace: WorkspaceId,
    pub(crate) access_key: AccessKeyId,
    pub(crate) key: String,
    pub(crate) channel: ChannelId,
    /// The call whose delivery is dead.
    pub(crate) call: Call,
    pub(crate) subscription: SubscriptionId,
    pub(crate) dead: EventId,
    pub(crate) delivered: EventId,
    pub(crate) pending: EventId,
    /// Every call of the tenant.
    pub(crate) calls: Vec<CallId>,
}

impl Tenant {
    /// `/organizations/{organizationId}/workspaces/{workspaceId}/webhook-deliveries`.
    pub(crate) fn deliveries_path(&self) -> String {
        format!(
            "/organizations/{}/workspaces/{}/webhook-deliveries",
            self.organization, self.workspace
        )
    }

    /// `…/webhook-deliveries/{delivery}/replay`.
    pub(crate) fn replay_path(&self, delivery: EventId) -> String {
        format!("{}/{delivery}/replay", self.deliveries_path())
    }

    /// Every id of the tenant, as text, to look for in responses to another tenant.
    pub(crate) fn ids(&self) -> Vec<String> {
        let mut ids = vec![
            self.organization.to_string(),
            self.workspace.to_string(),
            self.access_key.to_string(),
            self.key.clone(),
            self.channel.to_string(),
            self.subscription.to_string(),
            self.dead.to_string(),
            self.delivered.to_string(),
            self.pending.to_string(),
        ];
        ids.extend(self.calls.iter().map(CallId::to_string));
        ids
    }
}

/// The router over two tenants, with the store behind it.
pub(crate) struct Fixture {
    pub(crate) app: Router,
    pub(crate) store: Store,
    pub(crate) control: Arc<FakeControl>,
    pub(crate) first: Tenant,
    pub(crate) second: Tenant,
}

/// Milliseconds before now.
pub(crate) fn ago(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(NOW_MILLIS - millis)
}

/// Inserts a new incoming call on `channel` at `created_at` and returns it with the one
/// delivery it enqueued (the workspace must have exactly one matching subscription).
pub(crate) async fn call_with_delivery(
    store: &Store,
    workspace: WorkspaceId,
    channel: ChannelId,
    seed: u8,
    created_at: Timestamp,
) -> (Call, EventId) {
    let millis = u64::try_from(created_at.unix_millis()).expect("positive");
    let call = Call::incoming(
        CallId::from_parts(millis, [seed; 10]),
        channel,
        format!("caller-{seed}"),
        "1000".to_owned(),
        created_at,
    );
    store
        .insert_call(workspace, &call, EventKind::VoiceInbound, created_at)
        .await
        .expect("call");
    let delivery = store
        .due_deliveries(created_at, 1000)
        .await
        .expect("due")
        .into_iter()
        .find(|due| due.call_id == call.id)
        .expect("the call's delivery")
        .id;
    (call, delivery)
}

async fn tenant(store: &Store, control: &FakeControl, seed: u8) -> Tenant {
    let created_at = ago(600_000);
    let organization = OrganizationId::from_parts(1, [seed; 10]);
    let workspace = WorkspaceId::from_parts(2, [seed; 10]);
    let access_key = AccessKeyId::from_parts(3, [seed; 10]);
    let key = format!("test-key-{seed}-{}", Uuid::new_v4().simple());
    store
        .create_workspace(&NewWorkspace {
            organization_id: organization,
            workspace_id: workspace,
            access_key_id: access_key,
            access_key_secret: key.clone(),
            created_at,
        })
        .await
        .expect("workspace");
    let channel = store
        .upsert_config_channel(
            workspace,
            0,
            &ChannelSpec {
                numbers: vec![format!("+311000000{seed}")],
                ..ChannelSpec::default()
            },
            created_at,
        )
        .await
        .expect("channel");
    let subscription = WebhookSubscription {
        id: SubscriptionId::from_parts(4, [seed; 10]),
        organization_id: organization,
        workspace_id: workspace,
        service: WebhookService::Channels,
        event: EventKind::VoiceInbound,
        url: format!("http://127.0.0.1:9/hook/{seed}"),
        event_filters: Vec::new(),
        template: None,
        status: "active",
        created_at,
        updated_at: created_at,
        signing_key: format!("signing-key-{seed}"),
    };
    store
        .insert_subscription(&subscription)
        .await
        .expect("subscription");

    let (call, dead) = call_with_delivery(store, workspace, channel, seed, ago(50_000)).await;
    store
        .reschedule_delivery(dead, ago(49_000), "HTTP 503")
        .await
        .expect("reschedules");
    store
        .mark_dead(dead, ago(40_000), "HTTP 500")
        .await
        .expect("gives up");
    let (delivered_call, delivered) =
        call_with_delivery(store, workspace, channel, seed + 100, ago(30_000)).await;
    store
        .mark_delivered(delivered, ago(29_000))
        .await
        .expect("delivers");
    let (pending_call, pending) =
        call_with_delivery(store, workspace, channel, seed + 200, ago(20_000)).await;
    store
        .reschedule_delivery(pending, ago(-10_000), "timeout")
        .await
        .expect("reschedules");
    for known in [&call, &delivered_call, &pending_call] {
        control.know(workspace, known);
    }
    Tenant {
        organization,
        workspace,
        access_key,
        key,
        channel,
        calls: vec![call.id, delivered_call.id, pending_call.id],
        call,
        subscription: subscription.id,
        dead,
        delivered,
        pending,
    }
}

/// A fresh database with two tenants (`first` seeded 1, `second` seeded 2) and its router.
pub(crate) async fn fixture() -> Fixture {
    let store = Store::open_in_memory().await.expect("store");
    let control = Arc::new(FakeControl::default());
    let first = tenant(&store, &control, 1).await;
    let second = tenant(&store, &control, 2).await;
    let config = ApiConfig {
        max_body_bytes: BODY_LIMIT,
        clock: Arc::new(FixedClock),
    };
    Fixture {
        app: router(store.clone(), Arc::clone(&control), config),
        store,
        control,
        first,
        second,
    }
}

/// A response, its body parsed as JSON (`Null` when empty).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Reply {
    /// Bird's error `code`.
    pub(crate) fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<no code>")
    }
}

/// Sends one request with `AccessKey <key>` (when given) and a JSON body (when given).
pub(crate) async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("AccessKey {key}"));
    }
    let body = match body {
        Some(text) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(text.to_owned())
        }
        None => Body::empty(),
    };
    send_request(app, request.body(body).expect("request")).await
}

/// Sends a request and checks what every response must have: a UUID v4 request id, and a
/// JSON content type whenever there is a body.
pub(crate) async fn send_request(app: &Router, request: Request<Body>) -> Reply {
    let description = format!("{} {}", request.method(), request.uri());
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Uuid::parse_str(value).ok())
        .unwrap_or_else(|| panic!("{description}: no Messagebird-Request-Id"));
    assert_eq!(request_id.get_version_num(), 4, "{description}");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        assert_eq!(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok()),
            Some("application/json"),
            "{description}"
        );
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|error| panic!("{description}: body is not JSON: {error}"))
    };
    Reply { status, body }
}
