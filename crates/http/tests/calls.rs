//! The call routes end to end through the router: the filtered channel list and the workspace
//! calls log, creating a call, the per-command endpoints and insights, with a fake call runtime
//! that records every request.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use warbler_http::ControlError;
use warbler_model::request::CallListQuery;
use warbler_model::{
    Call, CallId, CallStatus, CallType, ChannelId, Command, DtmfKey, EventKind, GatherInput,
    GatherOptions, HangupCause, HangupOptions, HangupSource, PlaybackOptions, RecordOptions,
    SayOptions, ValidationError, Voice, q850,
};
use warbler_model::{Direction, Timestamp};
use warbler_store::ChannelSpec;

use common::{
    ControlRequest, FakeControl, Fixture, NOW_TEXT, RECORDING_ID, ago, created_call_id, fixture,
    send,
};

/// `/workspaces/{workspaceId}/channels/calls` of the first tenant.
fn log_path(fixture: &Fixture) -> String {
    format!("/workspaces/{}/channels/calls", fixture.first.workspace)
}

/// `/workspaces/{workspaceId}/channels/{channelId}/calls`.
fn calls_path(fixture: &Fixture, channel: ChannelId) -> String {
    format!(
        "/workspaces/{}/channels/{channel}/calls",
        fixture.first.workspace
    )
}

/// `…/calls/{callId}/{action}` of the first tenant's call with a dead delivery.
fn call_action_path(fixture: &Fixture, action: &str) -> String {
    format!(
        "{}/{}/{action}",
        calls_path(fixture, fixture.first.channel),
        fixture.first.call.id
    )
}

/// The first tenant's second channel and every call of its workspace, newest first.
struct Seeded {
    second_channel: ChannelId,
    calls: Vec<Call>,
}

/// Adds a second channel to the first tenant and ten calls spread over both channels, every
/// filtered field varied (the tenant's three calls stay too).
async fn seed(fixture: &Fixture) -> Seeded {
    let first = &fixture.first;
    let store = &fixture.store;
    let second_channel = store
        .upsert_config_channel(
            first.workspace,
            1,
            &ChannelSpec {
                numbers: vec!["+31200000009".to_owned()],
                ..ChannelSpec::default()
            },
            ago(600_000),
        )
        .await
        .expect("channel");
    for seed in 0..10_u32 {
        // Pairs share a creation time, so the id breaks ties.
        let created_at = ago(15_000 - i64::from(seed / 2) * 1000);
        let channel = if seed % 3 == 2 {
            second_channel
        } else {
            first.channel
        };
        let millis = u64::try_from(created_at.unix_millis()).expect("positive");
        let mut call = Call::incoming(
            CallId::from_parts(millis, [u8::try_from(seed).expect("small") + 50; 10]),
            channel,
            if seed.is_multiple_of(5) {
                "bob"
            } else {
                "alice"
            }
            .to_owned(),
            format!("+3161000000{}", seed % 3),
            created_at,
        );
        if seed % 2 == 1 {
            call.direction = Direction::Outgoing;
        }
        call.status = [
            CallStatus::Completed,
            CallStatus::Ongoing,
            CallStatus::NoAnswer,
            CallStatus::Busy,
        ][usize::try_from(seed % 4).expect("small")];
        call.kind = [CallType::Sip, CallType::Pstn, CallType::Webrtc]
            [usize::try_from((seed / 2) % 3).expect("small")];
        call.tags = match seed % 4 {
            0 => vec!["vip".to_owned()],
            1 => vec!["vip".to_owned(), "eu".to_owned()],
            2 => vec!["eu".to_owned()],
            _ => Vec::new(),
        };
        if call.status.is_terminal() {
            call.duration = Some(u64::from(seed % 3) * 10);
        }
        store
            .insert_call(first.workspace, &call, EventKind::VoiceInbound, created_at)
            .await
            .expect("call");
    }
    let calls = store
        .list_calls_filtered(
            first.workspace,
            None,
            &CallListQuery {
                limit: 1000,
                ..CallListQuery::default()
            },
        )
        .await
        .expect("lists")
        .results;
    assert_eq!(calls.len(), 13);
    Seeded {
        second_channel,
        calls,
    }
}

/// The ids of a page's results, in order.
fn result_ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|call| call["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Every page of `path?query`, `limit` at a time, followed to the end: the ids in order.
async fn every_page(fixture: &Fixture, path: &str, query: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut uri = format!("{path}?{query}&limit={limit}");
        if let Some(token) = &token {
            uri.push_str(&format!("&pageToken={token}"));
        }
        let reply = send(
            &fixture.app,
            Method::GET,
            &uri,
            Some(&fixture.first.key),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        let page = result_ids(&reply.body);
        assert!(
            page.len() <= usize::try_from(limit).expect("small"),
            "{uri}"
        );
        ids.extend(page);
        match reply.body["nextPageToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("{path}?{query}: more than 100 pages")
}

type Keep = Box<dyn Fn(&Call) -> bool>;

#[tokio::test]
async fn both_lists_apply_every_filter_alone_and_combined_page_by_page() {
    let fixture = fixture().await;
    let seeded = seed(&fixture).await;
    let first_channel = fixture.first.channel;
    let second_channel = seeded.second_channel;
    let picked = seeded.calls[4].id;
    let start = ago(14_000);
    let end = ago(12_000);
    let cases: Vec<(String, Keep)> = vec![
        (String::new(), Box::new(|_| true)),
        (
            "status=completed".to_owned(),
            Box::new(|call| call.status == CallStatus::Completed),
        ),
        (
            "status=completed&status=busy".to_owned(),
            Box::new(|call| matches!(call.status, CallStatus::Completed | CallStatus::Busy)),
        ),
        (
            "status=starting".to_owned(),
            Box::new(|call| call.status == CallStatus::Starting),
        ),
        (
            "type=pstn".to_owned(),
            Box::new(|call| call.kind == CallType::Pstn),
        ),
        (
            "type=sip&type=webrtc".to_owned(),
            Box::new(|call| call.kind != CallType::Pstn),
        ),
        (
            "direction=outgoing".to_owned(),
            Box::new(|call| call.direction == Direction::Outgoing),
        ),
        (
            "direction=incoming&direction=outgoing".to_owned(),
            Box::new(|_| true),
        ),
        (
            "to=%2B31610000001".to_owned(),
            Box::new(|call| call.to == "+31610000001"),
        ),
        ("from=bob".to_owned(), Box::new(|call| call.from == "bob")),
        (
            format!("startAt={start}"),
            Box::new(move |call| call.created_at >= start),
        ),
        (
            format!("endAt={end}"),
            Box::new(move |call| call.created_at <= end),
        ),
        (
            format!("startAt={start}&endAt={end}"),
            Box::new(move |call| (start..=end).contains(&call.created_at)),
        ),
        (
            "tag=VIP".to_owned(),
            Box::new(|call| call.tags.contains(&"vip".to_owned())),
        ),
        (
            "tag=eu&tag=nothing".to_owned(),
            Box::new(|call| call.tags.contains(&"eu".to_owned())),
        ),
        (
            format!("id={picked}"),
            Box::new(move |call| call.id == picked),
        ),
        (
            "duration=10".to_owned(),
            Box::new(|call| call.duration == Some(10)),
        ),
        (
            "duration=0".to_owned(),
            Box::new(|call| call.duration == Some(0)),
        ),
        (
            "status=completed&status=no-answer&direction=incoming&tag=vip".to_owned(),
            Box::new(|call| {
                matches!(call.status, CallStatus::Completed | CallStatus::NoAnswer)
                    && call.direction == Direction::Incoming
                    && call.tags.contains(&"vip".to_owned())
            }),
        ),
        (
            format!("type=sip&type=pstn&from=alice&startAt={start}&unknown=ignored"),
            Box::new(move |call| {
                call.kind != CallType::Webrtc && call.from == "alice" && call.created_at >= start
            }),
        ),
    ];
    for (query, keeps) in &cases {
        for (path, channel) in [
            (log_path(&fixture), None),
            (calls_path(&fixture, first_channel), Some(first_channel)),
            (calls_path(&fixture, second_channel), Some(second_channel)),
        ] {
            let expected: Vec<String> = seeded
                .calls
                .iter()
                .filter(|call| channel.is_none_or(|channel| call.channel_id == channel))
                .filter(|call| keeps(call))
                .map(|call| call.id.to_string())
                .collect();
            assert_eq!(
                every_page(&fixture, &path, query, 1000).await,
                expected,
                "{path}?{query}"
            );
            assert_eq!(
                every_page(&fixture, &path, query, 2).await,
                expected,
                "{path}?{query}, two per page"
            );
        }
    }

    // `channelId` filters the log only.
    let log = log_path(&fixture);
    for (query, channels) in [
        (format!("channelId={second_channel}"), vec![second_channel]),
        (
            format!("channelId={first_channel}&channelId={second_channel}"),
            vec![first_channel, second_channel],
        ),
        (
            format!("channelId={second_channel}&status=busy&status=no-answer"),
            vec![second_channel],
        ),
        (format!("channelId={}", fixture.second.channel), Vec::new()),
    ] {
        let busy_only = query.contains("status=");
        let expected: Vec<String> = seeded
            .calls
            .iter()
            .filter(|call| channels.contains(&call.channel_id))
            .filter(|call| {
                !busy_only || matches!(call.status, CallStatus::Busy | CallStatus::NoAnswer)
            })
            .map(|call| call.id.to_string())
            .collect();
        assert_eq!(
            every_page(&fixture, &log, &query, 3).await,
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_workspace_log_is_not_taken_for_a_channel() {
    let fixture = fixture().await;
    let seeded = seed(&fixture).await;
    let key = Some(fixture.first.key.as_str());
    let log = log_path(&fixture);

    let reply = send(&fixture.app, Method::GET, &log, key, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let channels: Vec<&str> = reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|call| call["channelId"].as_str().expect("channel"))
        .collect();
    let first_channel = fixture.first.channel.to_string();
    let second_channel = seeded.second_channel.to_string();
    assert!(channels.contains(&first_channel.as_str()), "{channels:?}");
    assert!(channels.contains(&second_channel.as_str()), "{channels:?}");

    // Only GET is served there: the static route matched, not a `{channelId}` one.
    let reply = send(
        &fixture.app,
        Method::POST,
        &log,
        key,
        Some(r#"{"to":"1000"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    // `calls` as a channel id names nothing.
    for path in [
        format!("{log}/calls"),
        format!("{log}/{}", seeded.calls[0].id),
    ] {
        let reply = send(&fixture.app, Method::GET, &path, key, None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "NotFound");
    }
    // One channel's list is only that channel's.
    let reply = send(
        &fixture.app,
        Method::GET,
        &format!("{}?limit=1000", calls_path(&fixture, seeded.second_channel)),
        key,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|call| call["channelId"] == second_channel.as_str())
    );
    assert!(fixture.control.requests().is_empty());
}

#[tokio::test]
async fn invalid_list_queries_are_422_naming_the_parameter() {
    let fixture = fixture().await;
    let key = Some(fixture.first.key.as_str());
    let channel = fixture.first.channel;
    let long_token = "A".repeat(8001);
    let common_cases = [
        ("limit=0".to_owned(), "limit"),
        ("limit=1001".to_owned(), "limit"),
        ("limit=1&limit=2".to_owned(), "limit"),
        ("pageToken=garbage!!".to_owned(), "pageToken"),
        (format!("pageToken={long_token}"), "pageToken"),
        ("status=done".to_owned(), "status"),
        ("type=SIP".to_owned(), "type"),
        ("direction=inbound".to_owned(), "direction"),
        ("to=".to_owned(), "to"),
        ("from=a&from=b".to_owned(), "from"),
        ("startAt=yesterday".to_owned(), "startAt"),
        (
            "startAt=2024-11-21T00:00:00Z&endAt=2024-11-20T00:00:00Z".to_owned(),
            "endAt",
        ),
        ("tag=".to_owned(), "tag"),
        ("id=42".to_owned(), "id"),
        ("duration=-1".to_owned(), "duration"),
    ];
    for path in [log_path(&fixture), calls_path(&fixture, channel)] {
        for (query, field) in &common_cases {
            let uri = format!("{path}?{query}");
            let reply = send(&fixture.app, Method::GET, &uri, key, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{uri}: {}",
                reply.body
            );
            assert_eq!(reply.body["details"]["field"], *field, "{uri}");
        }
    }
    let cases = [
        (
            format!("{}?channelId={channel}", calls_path(&fixture, channel)),
            "channelId",
        ),
        (
            format!("{}?channelId=nope", log_path(&fixture)),
            "channelId",
        ),
    ];
    for (uri, field) in cases {
        let reply = send(&fixture.app, Method::GET, &uri, key, None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(reply.body["details"]["field"], field, "{uri}");
    }
    // A path that names nothing is 404 before the query is judged.
    let uri = format!(
        "/workspaces/{}/channels/{}/calls?status=done",
        fixture.first.workspace,
        Uuid::new_v4()
    );
    let reply = send(&fixture.app, Method::GET, &uri, key, None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_created_call_is_handed_to_the_runtime_and_returned_with_202() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let body = json!({
        "to": "+31612345678",
        "from": "+31201234567",
        "ringTimeout": 20,
        "sendKeys": "12#",
        "tags": ["VIP", "vip", "EU"],
        "notification": {"url": "https://example.com/hook"},
        "callFlow": [{"command": "say", "options": {"text": "Hello", "locale": "en-GB"}},
                     {"command": "hangup"}]
    });
    let reply = send(
        &fixture.app,
        Method::POST,
        &calls_path(&fixture, first.channel),
        Some(&first.key),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);

    let requests = fixture.control.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let ControlRequest::Create {
        workspace,
        channel,
        request,
    } = &requests[0]
    else {
        panic!("expected a create, got {requests:?}")
    };
    assert_eq!((*workspace, *channel), (first.workspace, first.channel));
    assert_eq!(request.to, "+31612345678");
    assert_eq!(request.from.as_deref(), Some("+31201234567"));
    assert_eq!(request.ring_timeout, 20);
    assert_eq!(request.max_duration, 14_400);
    assert_eq!(
        request.send_keys,
        vec![DtmfKey::One, DtmfKey::Two, DtmfKey::Pound]
    );
    assert_eq!(request.tags, vec!["vip".to_owned(), "eu".to_owned()]);
    assert_eq!(request.call_flow.steps.len(), 2);
    assert_eq!(request.scheduled_for, None);

    assert_eq!(reply.body["id"], created_call_id().to_string());
    assert_eq!(reply.body["channelId"], first.channel.to_string());
    assert_eq!(reply.body["status"], "accepted");
    assert_eq!(reply.body["direction"], "outgoing");
    assert_eq!(reply.body["to"], "+31612345678");
    assert_eq!(reply.body["from"], "+31201234567");
    assert_eq!(reply.body["tags"], json!(["vip", "eu"]));
    assert_eq!(reply.body["createdAt"], NOW_TEXT);

    // A call scheduled for later is `scheduled`.
    let reply = send(
        &fixture.app,
        Method::POST,
        &calls_path(&fixture, first.channel),
        Some(&first.key),
        Some(r#"{"to":"1000","scheduledFor":"2030-01-01T00:00:00Z"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.body["status"], "scheduled");
    assert_eq!(reply.body["scheduledFor"], "2030-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn invalid_create_call_bodies_are_422_naming_the_field() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let path = calls_path(&fixture, first.channel);
    let eleven: Vec<String> = (0..11).map(|index| format!("tag{index}")).collect();
    let cases = [
        (json!({}), "to", "MissingField"),
        (json!({"to": "alice"}), "to", "InvalidValue"),
        (json!({"to": "+31 6 1234"}), "to", "InvalidValue"),
        (json!({"to": "1000", "from": "x y"}), "from", "InvalidValue"),
        (
            json!({"to": "1000", "ringTimeout": 2}),
            "ringTimeout",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "ringTimeout": 121}),
            "ringTimeout",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "maxDuration": 0}),
            "maxDuration",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "sendKeys": "12a"}),
            "sendKeys",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "sendKeys": ""}),
            "sendKeys",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "callFlow": [{"command": "answer"}]}),
            "callFlow[0].command",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "callFlow": [{"command": "hangup"}, {"command": "ringing"}]}),
            "callFlow[1].command",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "callFlow": [{"command": "say", "options": {"text": "hi", "locale": "xx"}}]}),
            "callFlow[0].options.locale",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "tags": [""]}),
            "tags[0]",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "tags": ["ok", "x".repeat(51)]}),
            "tags[1]",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "tags": eleven}),
            "tags",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "scheduledFor": "2020-01-01T00:00:00Z"}),
            "scheduledFor",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "scheduledFor": NOW_TEXT}),
            "scheduledFor",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "notification": {"url": "ftp://x"}}),
            "notification.url",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "recordStart": "now"}),
            "recordStart",
            "InvalidValue",
        ),
        (
            json!({"to": "1000", "colour": "red"}),
            "colour",
            "UnknownField",
        ),
    ];
    for (body, field, code) in cases {
        let text = body.to_string();
        let reply = send(
            &fixture.app,
            Method::POST,
            &path,
            Some(&first.key),
            Some(&text),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{text}: {}",
            reply.body
        );
        assert_eq!(reply.body["details"]["field"], field, "{text}");
        assert_eq!(reply.code(), code, "{text}");
    }
    let reply = send(
        &fixture.app,
        Method::POST,
        &path,
        Some(&first.key),
        Some(r#"["to"]"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.get("details").is_none());
    for body in [None, Some(""), Some("{\"to\":")] {
        let reply = send(&fixture.app, Method::POST, &path, Some(&first.key), body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(reply.code(), "InvalidJson");
    }
    assert!(fixture.control.requests().is_empty());
}

/// The expected outcome of one per-command request.
enum Shape {
    /// The command's record alone.
    Record,
    /// `{command, recordingId}`.
    WithRecording,
    /// `{command, bridgedCall}`.
    WithBridgedCall,
}

#[tokio::test]
async fn each_command_endpoint_hands_its_command_to_the_runtime_and_returns_202() {
    let say = |text: &str, locale: &str, voice| {
        Command::Say(SayOptions {
            text: text.to_owned(),
            locale: locale.to_owned(),
            voice,
            loop_count: None,
            timeout: None,
        })
    };
    let gather = GatherOptions {
        max_keys: 1,
        end_key: Some(DtmfKey::Pound),
        timeout: 5,
        retries: 0,
        input: GatherInput::Dtmf,
        speech_locale: "en-US".to_owned(),
        prompt: None,
    };
    let record = RecordOptions {
        end_key: None,
        max_length: 3600,
        silence_timeout: None,
        beep: false,
        transcribe_locale: "en-US".to_owned(),
    };
    let cases: Vec<(&str, Option<&str>, Option<Command>, Shape)> = vec![
        ("answer", None, Some(Command::Answer), Shape::Record),
        ("answer", Some(""), Some(Command::Answer), Shape::Record),
        ("answer", Some("{}"), Some(Command::Answer), Shape::Record),
        ("answer", Some("null"), Some(Command::Answer), Shape::Record),
        ("ringing", None, Some(Command::Ringing), Shape::Record),
        (
            "hangup",
            None,
            Some(Command::Hangup(HangupOptions::default())),
            Shape::Record,
        ),
        (
            "hangup",
            Some(r#"{"cause":"busy"}"#),
            Some(Command::Hangup(HangupOptions {
                cause: Some(HangupCause::Busy),
            })),
            Shape::Record,
        ),
        (
            "playback",
            Some(r#"{"media":["https://example.com/a.wav"],"loop":2}"#),
            Some(Command::Playback(PlaybackOptions {
                media: vec!["https://example.com/a.wav".to_owned()],
                loop_count: Some(2),
                timeout: None,
                pause_milliseconds: None,
            })),
            Shape::Record,
        ),
        (
            "say",
            Some(r#"{"text":"Hi there my name is earl","locale":"en-GB","voice":"male"}"#),
            Some(say("Hi there my name is earl", "en-GB", Voice::Male)),
            Shape::Record,
        ),
        (
            "say",
            Some(r#"{"text":"hi"}"#),
            Some(say("hi", "en-US", Voice::Female)),
            Shape::Record,
        ),
        (
            "gather",
            Some(r##"{"maxNumKeys":1,"endKey":"#"}"##),
            Some(Command::Gather(gather)),
            Shape::Record,
        ),
        (
            "record",
            None,
            Some(Command::Record(record)),
            Shape::WithRecording,
        ),
        (
            "bridge",
            Some(r#"{"to":"+31612345678","hangupAfterBridge":true}"#),
            None,
            Shape::WithBridgedCall,
        ),
    ];
    for (action, body, expected, shape) in cases {
        let fixture = fixture().await;
        let first = &fixture.first;
        let path = call_action_path(&fixture, action);
        let reply = send(&fixture.app, Method::POST, &path, Some(&first.key), body).await;
        let context = format!("{action} {body:?}");
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{context}: {}",
            reply.body
        );

        let requests = fixture.control.requests();
        assert_eq!(requests.len(), 1, "{context}: {requests:?}");
        let ControlRequest::Command {
            workspace,
            channel,
            call,
            command,
        } = &requests[0]
        else {
            panic!("{context}: expected a command, got {requests:?}")
        };
        assert_eq!(
            (*workspace, *channel, *call),
            (first.workspace, first.channel, first.call.id),
            "{context}"
        );
        assert_eq!(command.name().as_str(), action, "{context}");
        match &expected {
            Some(expected) => assert_eq!(command, expected, "{context}"),
            None => {
                let Command::Bridge(options) = command else {
                    panic!("{context}: {command:?}")
                };
                assert_eq!(options.to, "+31612345678");
                assert!(options.hangup_after_bridge);
                assert_eq!(options.ring_timeout, 30);
            }
        }

        let record =
            serde_json::to_value(FakeControl::record_of(first.call.id, command)).expect("json");
        assert_eq!(record["status"], "accepted");
        assert_eq!(record["command"], action);
        assert_eq!(record["callId"], first.call.id.to_string());
        match shape {
            Shape::Record => assert_eq!(reply.body, record, "{context}"),
            Shape::WithRecording => assert_eq!(
                reply.body,
                json!({"command": record, "recordingId": RECORDING_ID}),
                "{context}"
            ),
            Shape::WithBridgedCall => {
                assert_eq!(reply.body["command"], record, "{context}");
                let leg = &reply.body["bridgedCall"];
                assert_eq!(leg["id"], created_call_id().to_string());
                assert_eq!(leg["parentId"], first.call.id.to_string());
                assert_eq!(leg["to"], "+31612345678");
                assert_eq!(leg["direction"], "outgoing");
                assert_eq!(
                    reply.body.as_object().map(|body| body.len()),
                    Some(2),
                    "{context}"
                );
            }
        }
    }
}

#[tokio::test]
async fn invalid_command_bodies_are_422_naming_the_field_without_the_options_prefix() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let cases = [
        ("answer", Some(r#"{"x":1}"#), "x", "UnknownField"),
        ("answer", Some("[]"), "", "InvalidValue"),
        ("ringing", Some(r#""now""#), "", "InvalidValue"),
        (
            "hangup",
            Some(r#"{"cause":"angry"}"#),
            "cause",
            "InvalidValue",
        ),
        (
            "hangup",
            Some(r#"{"reason":"x"}"#),
            "reason",
            "UnknownField",
        ),
        ("say", None, "", "MissingField"),
        ("say", Some("{}"), "text", "MissingField"),
        (
            "say",
            Some(r#"{"text":"hi","locale":"xx"}"#),
            "locale",
            "InvalidValue",
        ),
        (
            "playback",
            Some(r#"{"media":["file:///etc/passwd"]}"#),
            "media[0]",
            "InvalidValue",
        ),
        ("playback", Some(r#"{"media":[]}"#), "media", "InvalidValue"),
        (
            "gather",
            Some(r#"{"maxNumKeys":0}"#),
            "maxNumKeys",
            "InvalidValue",
        ),
        (
            "gather",
            Some(r#"{"input":"speech"}"#),
            "input",
            "Unsupported",
        ),
        (
            "gather",
            Some(r#"{"say":{"text":""}}"#),
            "say.text",
            "InvalidValue",
        ),
        (
            "record",
            Some(r#"{"maxLength":0}"#),
            "maxLength",
            "InvalidValue",
        ),
        (
            "record",
            Some(r#"{"transcribe":true}"#),
            "transcribe",
            "Unsupported",
        ),
        ("bridge", None, "", "MissingField"),
        ("bridge", Some("{}"), "to", "MissingField"),
        ("bridge", Some(r#"{"to":"alice"}"#), "to", "InvalidValue"),
        (
            "bridge",
            Some(r#"{"to":"1000","callFlow":[{"command":"ringing"}]}"#),
            "callFlow[0].command",
            "InvalidValue",
        ),
    ];
    for (action, body, field, code) in cases {
        let path = call_action_path(&fixture, action);
        let reply = send(&fixture.app, Method::POST, &path, Some(&first.key), body).await;
        let context = format!("{action} {body:?}");
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{context}: {}",
            reply.body
        );
        assert_eq!(reply.code(), code, "{context}: {}", reply.body);
        if field.is_empty() {
            assert!(reply.body.get("details").is_none(), "{context}");
        } else {
            assert_eq!(reply.body["details"]["field"], field, "{context}");
        }
    }
    for body in ["{", "say hi"] {
        let path = call_action_path(&fixture, "say");
        let reply = send(
            &fixture.app,
            Method::POST,
            &path,
            Some(&first.key),
            Some(body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.code(), "InvalidJson");
    }
    assert!(fixture.control.requests().is_empty());
    // Only POST: the command paths are not readable.
    let reply = send(
        &fixture.app,
        Method::GET,
        &call_action_path(&fixture, "answer"),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn runtime_refusals_are_mapped_on_creates_and_commands() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let refusals = || {
        vec![
            (
                ControlError::NotFound,
                StatusCode::NOT_FOUND,
                "NotFound",
                None,
            ),
            (
                ControlError::CallNotActive,
                StatusCode::UNPROCESSABLE_ENTITY,
                "CallNotActive",
                None,
            ),
            (
                ControlError::WrongState {
                    message: "the call is outgoing: only incoming calls can be answered".to_owned(),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidCallState",
                None,
            ),
            (
                ControlError::NoTrunk,
                StatusCode::UNPROCESSABLE_ENTITY,
                "NoTrunk",
                None,
            ),
            (
                ControlError::Invalid(ValidationError::invalid(
                    "locale",
                    "this server cannot speak that locale",
                )),
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidValue",
                Some("locale"),
            ),
            (
                ControlError::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                None,
            ),
        ]
    };
    let requests = [
        (calls_path(&fixture, first.channel), r#"{"to":"1000"}"#),
        (call_action_path(&fixture, "say"), r#"{"text":"hi"}"#),
        (call_action_path(&fixture, "answer"), "{}"),
    ];
    for (path, body) in &requests {
        for (error, status, code, field) in refusals() {
            let message = error.to_string();
            fixture.control.refuse_next(error);
            let reply = send(
                &fixture.app,
                Method::POST,
                path,
                Some(&first.key),
                Some(body),
            )
            .await;
            assert_eq!(reply.status, status, "{path} {code}: {}", reply.body);
            assert_eq!(reply.code(), code, "{path}");
            assert_eq!(reply.body["details"]["field"].as_str(), field, "{path}");
            if code == "InvalidCallState" || code == "NoTrunk" {
                assert_eq!(reply.body["message"], message.as_str());
            }
        }
    }
    assert_eq!(fixture.control.requests().len(), requests.len() * 6);

    // A call the runtime does not know in the caller's own channel: 404 from the runtime.
    let path = format!(
        "{}/{}/hangup",
        calls_path(&fixture, first.channel),
        Uuid::new_v4()
    );
    let reply = send(&fixture.app, Method::POST, &path, Some(&first.key), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "NotFound");
}

#[tokio::test]
async fn insights_show_the_calls_base_fields_without_metrics() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let mut call = first.call.clone();
    call.status = CallStatus::Completed;
    call.parent_id = Some(first.calls[1]);
    call.duration = Some(30);
    call.hangup_cause_code = Some(q850::NORMAL_CLEARING);
    call.hangup_source = Some(HangupSource::Caller);
    call.hangup_sip_code = Some("200".to_owned());
    call.ringing_at = Some(ago(49_000));
    call.answered_at = Some(ago(48_000));
    call.ended_at = Some(ago(18_000));
    call.updated_at = ago(18_000);
    call.reason = Some("the caller hung up".to_owned());
    call.tags = vec!["vip".to_owned()];
    fixture
        .store
        .update_call(first.workspace, &call, None, ago(18_000))
        .await
        .expect("updates");

    let reply = send(
        &fixture.app,
        Method::GET,
        &call_action_path(&fixture, "insights"),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let text = |time: Timestamp| time.to_string();
    assert_eq!(
        reply.body,
        json!({
            "id": call.id.to_string(),
            "channelId": first.channel.to_string(),
            "from": call.from,
            "to": call.to,
            "parentId": first.calls[1].to_string(),
            "direction": "incoming",
            "status": "completed",
            "type": "sip",
            "duration": 30,
            "hangupCauseCode": 16,
            "hangupSource": "caller",
            "hangupSipCode": "200",
            "createdAt": text(call.created_at),
            "updatedAt": text(call.updated_at),
            "ringingAt": text(ago(49_000)),
            "answeredAt": text(ago(48_000)),
            "endedAt": text(ago(18_000)),
        })
    );

    // A call still starting: only what is known.
    let path = format!(
        "{}/{}/insights",
        calls_path(&fixture, first.channel),
        first.calls[2]
    );
    let reply = send(&fixture.app, Method::GET, &path, Some(&first.key), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    for absent in [
        "signallingMetrics",
        "mediaMetrics",
        "duration",
        "endedAt",
        "parentId",
        "originator",
        "callFlow",
    ] {
        assert!(reply.body.get(absent).is_none(), "{absent}: {}", reply.body);
    }
    assert_eq!(reply.body["status"], "starting");

    let missing = format!(
        "{}/{}/insights",
        calls_path(&fixture, first.channel),
        Uuid::new_v4()
    );
    let reply = send(&fixture.app, Method::GET, &missing, Some(&first.key), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(fixture.control.requests().is_empty());
}
