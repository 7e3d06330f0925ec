//! The API end to end through the router (no socket): authentication, workspace isolation,
//! Bird's error bodies, pagination, PATCH through a fake call runtime, webhook subscriptions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use warbler_http::{
    ApiConfig, CallControl, Clock, CommandAccepted, ControlError, REQUEST_ID_HEADER, router,
};
use warbler_model::request::{CreateCall, PatchCall};
use warbler_model::{
    AccessKeyId, Call, CallId, CallStatus, ChannelId, Command, EventKind, HangupSource,
    OrganizationId, Timestamp, ValidationError, WorkspaceId,
};
use warbler_store::{ChannelSpec, NewWorkspace, Store};

/// 2024-11-21T18:09:15.550Z
const NOW_MILLIS: i64 = 1_732_212_555_550;
const BODY_LIMIT: usize = 4096;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(NOW_MILLIS)
    }
}

/// What the fake runtime answers for one call.
#[derive(Clone)]
enum Outcome {
    Accept,
    Ended,
    CannotSpeak,
    ShuttingDown,
}

/// A call runtime that knows a fixed set of calls and records every patch it is given. Creating
/// calls and running commands are tested in `tests/calls.rs`; here they are only counted (and
/// refused as unavailable).
#[derive(Default)]
struct FakeControl {
    calls: Mutex<HashMap<CallId, (WorkspaceId, Call, Outcome)>>,
    patches: Mutex<Vec<(WorkspaceId, ChannelId, CallId, PatchCall)>>,
    other_requests: Mutex<usize>,
}

impl FakeControl {
    fn know(&self, workspace: WorkspaceId, call: &Call, outcome: Outcome) {
        self.calls
            .lock()
            .expect("lock")
            .insert(call.id, (workspace, call.clone(), outcome));
    }

    fn patches(&self) -> Vec<(WorkspaceId, ChannelId, CallId, PatchCall)> {
        self.patches.lock().expect("lock").clone()
    }

    /// How many creates and commands reached the fake.
    fn other_requests(&self) -> usize {
        *self.other_requests.lock().expect("lock")
    }

    fn count_other_request(&self) {
        *self.other_requests.lock().expect("lock") += 1;
    }

    /// The call as the fake returns it after accepting `patch`.
    fn patched(call: &Call, patch: &PatchCall) -> Call {
        let mut call = call.clone();
        call.reason = Some("patched by the fake runtime".to_owned());
        if patch.hang_up {
            call.status = CallStatus::Completed;
            call.hangup_source = Some(HangupSource::Api);
        }
        call
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
        let known = self.calls.lock().expect("lock").get(&call).cloned();
        let Some((known_workspace, known_call, outcome)) = known else {
            return Err(ControlError::NotFound);
        };
        if known_workspace != workspace || known_call.channel_id != channel {
            return Err(ControlError::NotFound);
        }
        self.patches
            .lock()
            .expect("lock")
            .push((workspace, channel, call, patch.clone()));
        match outcome {
            Outcome::Accept => Ok(Self::patched(&known_call, &patch)),
            Outcome::Ended => Err(ControlError::CallNotActive),
            Outcome::CannotSpeak => Err(ControlError::Invalid(ValidationError::invalid(
                "callFlow[0].options.locale",
                "this server cannot speak that locale",
            ))),
            Outcome::ShuttingDown => Err(ControlError::Unavailable),
        }
    }

    async fn create_call(
        &self,
        _workspace: WorkspaceId,
        _channel: ChannelId,
        _request: CreateCall,
    ) -> Result<Call, ControlError> {
        self.count_other_request();
        Err(ControlError::Unavailable)
    }

    async fn command(
        &self,
        _workspace: WorkspaceId,
        _channel: ChannelId,
        _call: CallId,
        _command: Command,
    ) -> Result<CommandAccepted, ControlError> {
        self.count_other_request();
        Err(ControlError::Unavailable)
    }
}

/// One workspace with its key, a channel holding `calls` (newest last) and a second channel.
struct Tenant {
    organization: OrganizationId,
    workspace: WorkspaceId,
    key: String,
    channel: ChannelId,
    other_channel: ChannelId,
    calls: Vec<Call>,
    other_channel_call: Call,
}

impl Tenant {
    fn calls_path(&self) -> String {
        format!(
            "/workspaces/{}/channels/{}/calls",
            self.workspace, self.channel
        )
    }

    fn call_path(&self, index: usize) -> String {
        format!("{}/{}", self.calls_path(), self.calls[index].id)
    }

    fn subscriptions_path(&self) -> String {
        format!(
            "/organizations/{}/workspaces/{}/webhook-subscriptions",
            self.organization, self.workspace
        )
    }
}

struct Fixture {
    app: Router,
    control: Arc<FakeControl>,
    first: Tenant,
    second: Tenant,
}

fn id_bytes(seed: u8) -> [u8; 10] {
    [seed; 10]
}

async fn tenant(store: &Store, control: &FakeControl, seed: u8, call_count: usize) -> Tenant {
    let created_at = Timestamp::from_unix_millis(NOW_MILLIS - 60_000);
    let organization = OrganizationId::from_parts(1, id_bytes(seed));
    let workspace = WorkspaceId::from_parts(2, id_bytes(seed));
    let key = format!("test-key-{seed}-{}", Uuid::new_v4().simple());
    store
        .create_workspace(&NewWorkspace {
            organization_id: organization,
            workspace_id: workspace,
            access_key_id: AccessKeyId::from_parts(3, id_bytes(seed)),
            access_key_secret: key.clone(),
            created_at,
        })
        .await
        .expect("workspace");
    let spec = |number: String| ChannelSpec {
        numbers: vec![number],
        ..ChannelSpec::default()
    };
    let channel = store
        .upsert_config_channel(workspace, 0, &spec(format!("+3110000{seed}0")), created_at)
        .await
        .expect("channel");
    let other_channel = store
        .upsert_config_channel(workspace, 1, &spec(format!("+3110000{seed}1")), created_at)
        .await
        .expect("other channel");
    let mut calls = Vec::new();
    for index in 0..call_count {
        let offset = i64::try_from(index).expect("small");
        let call = Call::incoming(
            CallId::from_parts(10 + offset as u64, id_bytes(seed)),
            channel,
            format!("caller-{index}"),
            "1000".to_owned(),
            Timestamp::from_unix_millis(NOW_MILLIS - 50_000 + offset * 1000),
        );
        store
            .insert_call(workspace, &call, EventKind::VoiceInbound, call.created_at)
            .await
            .expect("call");
        control.know(workspace, &call, Outcome::Accept);
        calls.push(call);
    }
    let other_channel_call = Call::incoming(
        CallId::from_parts(99, id_bytes(seed)),
        other_channel,
        "elsewhere".to_owned(),
        "2000".to_owned(),
        created_at,
    );
    store
        .insert_call(
            workspace,
            &other_channel_call,
            EventKind::VoiceInbound,
            created_at,
        )
        .await
        .expect("call in the other channel");
    control.know(workspace, &other_channel_call, Outcome::Accept);
    Tenant {
        organization,
        workspace,
        key,
        channel,
        other_channel,
        calls,
        other_channel_call,
    }
}

async fn fixture() -> Fixture {
    let store = Store::open_in_memory().await.expect("store");
    let control = Arc::new(FakeControl::default());
    let first = tenant(&store, &control, 1, 3).await;
    let second = tenant(&store, &control, 2, 1).await;
    let config = ApiConfig {
        max_body_bytes: BODY_LIMIT,
        clock: Arc::new(FixedClock),
    };
    Fixture {
        app: router(store, Arc::clone(&control), config),
        control,
        first,
        second,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<no code>")
    }
}

/// Sends one request and checks what every response must have: a UUID v4 request id, and a
/// JSON content type whenever there is a body.
async fn send(
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

async fn send_request(app: &Router, request: Request<Body>) -> Reply {
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
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn health_needs_no_key() {
    let fixture = fixture().await;
    let reply = send(&fixture.app, Method::GET, "/health", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_401() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let mut routes = vec![
        (Method::GET, first.calls_path()),
        (Method::POST, first.calls_path()),
        (
            Method::GET,
            format!("/workspaces/{}/channels/calls", first.workspace),
        ),
        (Method::GET, first.call_path(0)),
        (Method::PATCH, first.call_path(0)),
        (Method::GET, format!("{}/insights", first.call_path(0))),
        (Method::GET, first.subscriptions_path()),
        (Method::POST, first.subscriptions_path()),
        (
            Method::DELETE,
            format!("{}/{}", first.subscriptions_path(), Uuid::new_v4()),
        ),
        (
            Method::GET,
            format!(
                "/organizations/{}/workspaces/{}/webhook-deliveries",
                first.organization, first.workspace
            ),
        ),
        (
            Method::POST,
            format!(
                "/organizations/{}/workspaces/{}/webhook-deliveries/{}/replay",
                first.organization,
                first.workspace,
                Uuid::new_v4()
            ),
        ),
        // Not even a well-formed path reveals anything before the key is checked.
        (
            Method::GET,
            "/workspaces/not-a-uuid/channels/x/calls".to_owned(),
        ),
    ];
    for command in [
        "answer", "ringing", "hangup", "playback", "say", "gather", "record", "bridge",
    ] {
        routes.push((Method::POST, format!("{}/{command}", first.call_path(0))));
    }
    let authorizations = [
        None,
        Some("AccessKey not-a-key".to_owned()),
        Some("AccessKey ".to_owned()),
        Some(format!("Basic {}", first.key)),
        Some(first.key.clone()),
    ];
    for (method, path) in &routes {
        for authorization in &authorizations {
            let mut request = Request::builder().method(method.clone()).uri(path);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let body = if *method == Method::GET || *method == Method::DELETE {
                Body::empty()
            } else {
                Body::from(r#"{"status":"completed"}"#)
            };
            let reply = send_request(&fixture.app, request.body(body).expect("request")).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}"
            );
            assert_eq!(reply.code(), "Unauthorized");
            assert!(reply.body["message"].is_string());
            assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
        }
    }
}

#[tokio::test]
async fn bearer_is_accepted_like_access_key() {
    let fixture = fixture().await;
    let request = Request::builder()
        .uri(fixture.first.calls_path())
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", fixture.first.key),
        )
        .body(Body::empty())
        .expect("request");
    let reply = send_request(&fixture.app, request).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn other_workspaces_resources_look_missing() {
    let fixture = fixture().await;
    let (first, second) = (&fixture.first, &fixture.second);
    let patch = Some(r#"{"status":"completed"}"#);
    let cases: Vec<(&str, Method, String, Option<&str>)> = vec![
        (
            "another workspace's calls",
            Method::GET,
            second.calls_path(),
            None,
        ),
        (
            "another workspace's channel under my workspace",
            Method::GET,
            format!(
                "/workspaces/{}/channels/{}/calls",
                first.workspace, second.channel
            ),
            None,
        ),
        (
            "a channel that does not exist",
            Method::GET,
            format!(
                "/workspaces/{}/channels/{}/calls",
                first.workspace,
                Uuid::new_v4()
            ),
            None,
        ),
        (
            "another workspace's call under my channel",
            Method::GET,
            format!("{}/{}", first.calls_path(), second.calls[0].id),
            None,
        ),
        (
            "my call under my other channel",
            Method::GET,
            format!(
                "/workspaces/{}/channels/{}/calls/{}",
                first.workspace, first.other_channel, first.calls[0].id
            ),
            None,
        ),
        (
            "my other channel's call under my channel",
            Method::GET,
            format!("{}/{}", first.calls_path(), first.other_channel_call.id),
            None,
        ),
        (
            "another workspace's call, patched",
            Method::PATCH,
            format!("{}/{}", first.calls_path(), second.calls[0].id),
            patch,
        ),
        (
            "another workspace's call, patched through its own path",
            Method::PATCH,
            second.call_path(0),
            patch,
        ),
        (
            "my call, patched under my other channel",
            Method::PATCH,
            format!(
                "/workspaces/{}/channels/{}/calls/{}",
                first.workspace, first.other_channel, first.calls[0].id
            ),
            patch,
        ),
        (
            "a workspace id that is not a UUID",
            Method::GET,
            format!("/workspaces/nope/channels/{}/calls", first.channel),
            None,
        ),
        (
            "a channel id that is not a UUID",
            Method::GET,
            format!("/workspaces/{}/channels/nope/calls", first.workspace),
            None,
        ),
        (
            "a call id that is not a UUID",
            Method::GET,
            format!("{}/nope", first.calls_path()),
            None,
        ),
        (
            "subscriptions: another workspace",
            Method::GET,
            second.subscriptions_path(),
            None,
        ),
        (
            "subscriptions: my workspace under another organization",
            Method::GET,
            format!(
                "/organizations/{}/workspaces/{}/webhook-subscriptions",
                second.organization, first.workspace
            ),
            None,
        ),
        (
            "subscriptions: my workspace under an unknown organization",
            Method::POST,
            format!(
                "/organizations/{}/workspaces/{}/webhook-subscriptions",
                Uuid::new_v4(),
                first.workspace
            ),
            Some(
                r#"{"service":"channels","event":"voice.inbound","url":"https://example.com/hook"}"#,
            ),
        ),
        (
            "subscriptions: another workspace under my organization",
            Method::GET,
            format!(
                "/organizations/{}/workspaces/{}/webhook-subscriptions",
                first.organization, second.workspace
            ),
            None,
        ),
        (
            "subscriptions: an organization id that is not a UUID",
            Method::GET,
            format!(
                "/organizations/acme/workspaces/{}/webhook-subscriptions",
                first.workspace
            ),
            None,
        ),
        (
            "a route that does not exist",
            Method::GET,
            format!("/workspaces/{}/nothing-here", first.workspace),
            None,
        ),
    ];
    for (name, method, path, body) in cases {
        let reply = send(&fixture.app, method, &path, Some(&first.key), body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "NotFound", "{name}");
    }
    assert!(fixture.control.patches().is_empty());
    assert_eq!(fixture.control.other_requests(), 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_400() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let bodies = [r#"{"status":"#, "status=completed", "", "{} {}"];
    for body in bodies {
        for path in [first.call_path(0), first.subscriptions_path()] {
            let method = if path.ends_with("subscriptions") {
                Method::POST
            } else {
                Method::PATCH
            };
            let reply = send(&fixture.app, method, &path, Some(&first.key), Some(body)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {body:?}");
            assert_eq!(reply.code(), "InvalidJson");
            assert!(reply.body.get("details").is_none());
        }
    }
    assert!(fixture.control.patches().is_empty());
}

#[tokio::test]
async fn invalid_patch_bodies_are_422_naming_the_field() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let cases = [
        (
            json!({"callFlow": [{"command": "answer"}, {"command": "say", "options": {"text": "hi"}}, {"command": "dance"}]}),
            "callFlow[2].command",
            "InvalidValue",
        ),
        (
            json!({"callFlow": [{"command": "pause", "options": {"length": 0}}]}),
            "callFlow[0].options.length",
            "InvalidValue",
        ),
        (
            json!({"callFlow": [{"command": "say", "options": {"text": "hi", "locale": "xx-XX"}}]}),
            "callFlow[0].options.locale",
            "InvalidValue",
        ),
        (
            json!({"callFlow": [{"command": "answer", "colour": "red"}]}),
            "callFlow[0].colour",
            "UnknownField",
        ),
        (
            json!({"callFlow": [{"command": "gather", "options": {"input": "speech"}}]}),
            "callFlow[0].options.input",
            "Unsupported",
        ),
        (json!({"status": "ongoing"}), "status", "InvalidValue"),
        (json!({"extra": true}), "extra", "UnknownField"),
    ];
    for (body, field, code) in cases {
        let text = body.to_string();
        let reply = send(
            &fixture.app,
            Method::PATCH,
            &first.call_path(0),
            Some(&first.key),
            Some(&text),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert_eq!(
            reply.body["details"]["field"], field,
            "{text}: {}",
            reply.body
        );
        assert_eq!(reply.code(), code, "{text}");
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty())
        );
    }
    // A body with nothing to do is about the body as a whole: no field to name.
    let reply = send(
        &fixture.app,
        Method::PATCH,
        &first.call_path(0),
        Some(&first.key),
        Some("{}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.get("details").is_none(), "{}", reply.body);
    assert!(fixture.control.patches().is_empty());
}

#[tokio::test]
async fn a_valid_patch_goes_to_the_runtime_and_returns_202() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let body = json!({"status": "completed", "callFlow": [
        {"command": "say", "options": {"text": "Goodbye", "locale": "en-GB"}},
        {"command": "hangup"}
    ]});
    let reply = send(
        &fixture.app,
        Method::PATCH,
        &first.call_path(1),
        Some(&first.key),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let patches = fixture.control.patches();
    assert_eq!(patches.len(), 1);
    let (workspace, channel, call, patch) = &patches[0];
    assert_eq!(
        (*workspace, *channel, *call),
        (first.workspace, first.channel, first.calls[1].id)
    );
    assert!(patch.hang_up);
    assert_eq!(
        patch.call_flow.as_ref().map(|flow| flow.steps.len()),
        Some(2)
    );
    let expected = FakeControl::patched(&first.calls[1], patch);
    assert_eq!(reply.body, serde_json::to_value(&expected).expect("json"));
    assert_eq!(reply.body["status"], "completed");
    assert_eq!(reply.body["reason"], "patched by the fake runtime");
}

#[tokio::test]
async fn runtime_refusals_are_mapped() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let cases = [
        (
            Outcome::Ended,
            StatusCode::UNPROCESSABLE_ENTITY,
            "CallNotActive",
            None,
        ),
        (
            Outcome::CannotSpeak,
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidValue",
            Some("callFlow[0].options.locale"),
        ),
        (
            Outcome::ShuttingDown,
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            None,
        ),
    ];
    for (outcome, status, code, field) in cases {
        fixture
            .control
            .know(first.workspace, &first.calls[0], outcome);
        let reply = send(
            &fixture.app,
            Method::PATCH,
            &first.call_path(0),
            Some(&first.key),
            Some(r#"{"callFlow":[{"command":"say","options":{"text":"hi","locale":"cy-GB"}}]}"#),
        )
        .await;
        assert_eq!(reply.status, status, "{code}");
        assert_eq!(reply.code(), code);
        assert_eq!(reply.body["details"]["field"].as_str(), field);
    }
}

#[tokio::test]
async fn calls_are_listed_page_by_page() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let key = Some(first.key.as_str());
    let reply = send(
        &fixture.app,
        Method::GET,
        &format!("{}?limit=2", first.calls_path()),
        key,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let token = reply.body["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let uri = format!(
        "{}?limit=2&pageToken={token}&unknown=ignored",
        first.calls_path()
    );
    let second_page = send(&fixture.app, Method::GET, &uri, key, None).await;
    assert_eq!(second_page.status, StatusCode::OK, "{}", second_page.body);
    let more = second_page.body["results"].as_array().expect("results");
    assert_eq!(more.len(), 1);
    assert!(
        second_page.body.get("nextPageToken").is_none(),
        "{}",
        second_page.body
    );
    let mut seen: Vec<String> = results
        .iter()
        .chain(more)
        .map(|call| call["id"].as_str().expect("id").to_owned())
        .collect();
    seen.sort();
    let mut expected: Vec<String> = first.calls.iter().map(|call| call.id.to_string()).collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "every call of the channel, once, and only those"
    );

    let everything = send(&fixture.app, Method::GET, &first.calls_path(), key, None).await;
    assert_eq!(everything.body["results"].as_array().map(Vec::len), Some(3));
    assert!(everything.body.get("nextPageToken").is_none());
}

#[tokio::test]
async fn bad_pagination_parameters_are_422() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let long_token = "A".repeat(8001);
    let cases = [
        ("limit=0".to_owned(), "limit"),
        ("limit=1001".to_owned(), "limit"),
        ("limit=-1".to_owned(), "limit"),
        ("limit=ten".to_owned(), "limit"),
        ("pageToken=garbage!!".to_owned(), "pageToken"),
        ("pageToken=bm90IGEgY3Vyc29y".to_owned(), "pageToken"),
        (format!("pageToken={long_token}"), "pageToken"),
    ];
    for (query, field) in cases {
        let uri = format!("{}?{query}", first.calls_path());
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.body["details"]["field"], field, "{query}");
    }
    for query in ["limit=1", "limit=1000", "pageToken="] {
        let uri = format!("{}?{query}", first.calls_path());
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_call_is_shown_without_absent_fields() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let reply = send(
        &fixture.app,
        Method::GET,
        &first.call_path(0),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        serde_json::to_value(&first.calls[0]).expect("json")
    );
    assert_eq!(reply.body["id"], first.calls[0].id.to_string());
    assert_eq!(reply.body["status"], "starting");
    for absent in [
        "endedAt",
        "hangupSource",
        "duration",
        "parentId",
        "reason",
        "callFlow",
    ] {
        assert!(
            reply.body.get(absent).is_none(),
            "{absent} in {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn subscriptions_are_created_listed_read_and_deleted_per_workspace() {
    let fixture = fixture().await;
    let (first, second) = (&fixture.first, &fixture.second);
    let body = json!({
        "service": "channels", "event": "voice.inbound", "url": "https://example.com/hook",
        "signingKey": "mysecretkey",
        "eventFilters": [{"key": "channelId", "value": first.channel.to_string()}, {"key": "status", "value": "completed"}]
    });
    let created = send(
        &fixture.app,
        Method::POST,
        &first.subscriptions_path(),
        Some(&first.key),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let subscription = created.body.clone();
    let id = subscription["id"].as_str().expect("id").to_owned();
    assert!(Uuid::parse_str(&id).is_ok());
    assert_eq!(
        subscription["organizationId"],
        first.organization.to_string()
    );
    assert_eq!(subscription["workspaceId"], first.workspace.to_string());
    assert_eq!(subscription["service"], "channels");
    assert_eq!(subscription["event"], "voice.inbound");
    assert_eq!(subscription["url"], "https://example.com/hook");
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["createdAt"], "2024-11-21T18:09:15.550Z");
    assert_eq!(subscription["updatedAt"], "2024-11-21T18:09:15.550Z");
    assert_eq!(subscription["eventFilters"], body["eventFilters"]);
    assert!(!created.body.to_string().contains("mysecretkey"));
    assert!(subscription.get("signingKey").is_none());

    let item_path = format!("{}/{id}", first.subscriptions_path());
    let listed = send(
        &fixture.app,
        Method::GET,
        &first.subscriptions_path(),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!({"results": [subscription.clone()]}));
    let read = send(
        &fixture.app,
        Method::GET,
        &item_path,
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, subscription);

    // The other workspace sees none of it, by any path.
    let other_list = send(
        &fixture.app,
        Method::GET,
        &second.subscriptions_path(),
        Some(&second.key),
        None,
    )
    .await;
    assert_eq!(other_list.status, StatusCode::OK);
    assert_eq!(other_list.body, json!({"results": []}));
    let through_own_path = format!("{}/{id}", second.subscriptions_path());
    for method in [Method::GET, Method::DELETE] {
        let reply = send(
            &fixture.app,
            method.clone(),
            &through_own_path,
            Some(&second.key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(reply.code(), "NotFound");
        let reply = send(
            &fixture.app,
            method.clone(),
            &item_path,
            Some(&second.key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
    }

    let invalid = send(
        &fixture.app,
        Method::POST,
        &first.subscriptions_path(),
        Some(&first.key),
        Some(r#"{"service":"channels","event":"voice.inbound","url":"ftp://example.com"}"#),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.body["details"]["field"], "url");

    let deleted = send(
        &fixture.app,
        Method::DELETE,
        &item_path,
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    let gone = send(
        &fixture.app,
        Method::GET,
        &item_path,
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let deleted_again = send(
        &fixture.app,
        Method::DELETE,
        &item_path,
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(deleted_again.status, StatusCode::NOT_FOUND);
    let listed = send(
        &fixture.app,
        Method::GET,
        &first.subscriptions_path(),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(listed.body, json!({"results": []}));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let padding = "x".repeat(BODY_LIMIT);
    let body = json!({"status": "completed", "padding": padding}).to_string();
    for declared in [true, false] {
        let mut request = Request::builder()
            .method(Method::PATCH)
            .uri(first.call_path(0))
            .header(header::AUTHORIZATION, format!("AccessKey {}", first.key));
        if declared {
            request = request.header(header::CONTENT_LENGTH, body.len());
        }
        let reply = send_request(
            &fixture.app,
            request.body(Body::from(body.clone())).expect("request"),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared: {declared}"
        );
        assert_eq!(reply.code(), "PayloadTooLarge");
    }
    assert!(fixture.control.patches().is_empty());
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let fixture = fixture().await;
    let reply = send(
        &fixture.app,
        Method::DELETE,
        &fixture.first.calls_path(),
        Some(&fixture.first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.code(), "MethodNotAllowed");
}
