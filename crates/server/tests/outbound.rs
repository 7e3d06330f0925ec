//! Outbound calls through a channel's trunk (SIPp as the trunk): `POST …/calls` dials, the
//! create-call flow runs on answer, statuses and `voice.outbound` webhooks follow, and busy or
//! unanswered calls end as Bird says.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn config_with_trunk(port: u16) -> String {
    format!(
        r#"
        [[channels]]
        numbers = ["+3197004499437"]
        trunk = "sip:127.0.0.1:{port}"
        "#
    )
}

async fn subscribe_outbound(server: &Server, receiver: &Receiver) {
    let response = server
        .client
        .post(server.url(&format!(
            "/organizations/{}/workspaces/{}/webhook-subscriptions",
            server.organization(),
            server.workspace()
        )))
        .header("authorization", format!("AccessKey {}", server.key()))
        .json(&json!({"service": "channels", "event": "voice.outbound", "url": receiver.hook_url(), "signingKey": "out"}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 201);
}

async fn create_call(server: &Server, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(&format!(
            "/workspaces/{}/channels/{}/calls",
            server.workspace(),
            server.channel()
        )))
        .header("authorization", format!("AccessKey {}", server.key()))
        .json(&body)
        .send()
        .await
        .expect("create call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn final_status(receiver: &Receiver, call: &str) -> Vec<String> {
    poll_async(Duration::from_secs(30), || {
        let statuses = statuses_of(&receiver.events(), call);
        statuses
            .last()
            .is_some_and(|status| {
                ["completed", "busy", "no-answer", "failed", "cancelled"].contains(&status.as_str())
            })
            .then_some(statuses)
    })
    .await
    .unwrap_or_else(|| panic!("the call never ended: {:#?}", receiver.events()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_rings_answers_plays_and_hangs_up() {
    let dir = TempDir::new("outbound-trunk");
    let (mut trunk, port) = start_sipp_uas(
        &dir.0,
        "uas_answer_wait_bye.xml",
        &["-set", "ring_ms", "1000", "-rtp_echo"],
    );
    let server = Server::start("outbound", Some(&config_with_trunk(port)));
    let receiver = Receiver::start(&server, "out", |_| Value::Null).await;
    subscribe_outbound(&server, &receiver).await;

    let (status, call) = create_call(
        &server,
        json!({"to": "+15551234567", "callFlow": [
            {"command": "say", "options": {"text": "This is an outbound call from Warbler."}},
            {"command": "hangup"}
        ]}),
    )
    .await;
    assert_eq!(status, 202, "{call:#}");
    assert_eq!(call["status"], "accepted");
    assert_eq!(call["direction"], "outgoing");
    assert_eq!(
        call["from"], "+3197004499437",
        "the channel's number is the default caller id"
    );
    let call_id = call["id"].as_str().expect("id").to_owned();

    let exit = tokio::task::spawn_blocking(move || trunk.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the trunk must see INVITE, answer, audio and our BYE:\n{}",
        server.logs()
    );
    assert_eq!(
        final_status(&receiver, &call_id).await,
        ["accepted", "starting", "ringing", "ongoing", "completed"]
    );
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSource"], "api", "{call:#}");
    assert_eq!(call["hangupSipCode"], "200");
    assert!(
        receiver
            .events()
            .iter()
            .all(|event| event.verified && event.body["event"] == "voice.outbound")
    );
    let commands = call["callFlow"]["commands"].as_array().expect("commands");
    assert!(
        commands
            .iter()
            .all(|command| command["status"] == "completed"),
        "{call:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_trunk_makes_a_busy_call() {
    let dir = TempDir::new("outbound-busy");
    let (mut trunk, port) = start_sipp_uas(&dir.0, "uas_busy_486.xml", &[]);
    let server = Server::start("outbound-busy", Some(&config_with_trunk(port)));
    let receiver = Receiver::start(&server, "out", |_| Value::Null).await;
    subscribe_outbound(&server, &receiver).await;
    let (status, call) = create_call(&server, json!({"to": "+15551234567"})).await;
    assert_eq!(status, 202, "{call:#}");
    let call_id = call["id"].as_str().expect("id").to_owned();
    let exit = tokio::task::spawn_blocking(move || trunk.wait_for_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert_eq!(exit, Some(0), "the trunk must get our ACK for its 486");
    assert_eq!(
        final_status(&receiver, &call_id)
            .await
            .last()
            .map(String::as_str),
        Some("busy")
    );
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSipCode"], "486");
    assert_eq!(call["hangupCauseCode"], 17);
    assert_eq!(call["hangupSource"], "callee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_call_is_cancelled_at_the_ring_timeout() {
    let dir = TempDir::new("outbound-ring");
    let (mut trunk, port) = start_sipp_uas(&dir.0, "uas_ring_until_cancel.xml", &[]);
    let server = Server::start("outbound-ring", Some(&config_with_trunk(port)));
    let receiver = Receiver::start(&server, "out", |_| Value::Null).await;
    subscribe_outbound(&server, &receiver).await;
    let (status, call) =
        create_call(&server, json!({"to": "+15551234567", "ringTimeout": 3})).await;
    assert_eq!(status, 202, "{call:#}");
    let call_id = call["id"].as_str().expect("id").to_owned();
    let exit = tokio::task::spawn_blocking(move || trunk.wait_for_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the trunk must get our CANCEL:\n{}",
        server.logs()
    );
    assert_eq!(
        final_status(&receiver, &call_id)
            .await
            .last()
            .map(String::as_str),
        Some("no-answer")
    );
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSource"], "timeout", "{call:#}");
    let ringing = chrono_millis(call["ringingAt"].as_str().expect("ringingAt"));
    let ended = chrono_millis(call["endedAt"].as_str().expect("endedAt"));
    assert!(
        (2_500..=4_500).contains(&(ended - ringing)),
        "rang for {} ms",
        ended - ringing
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_without_trunk_refuses_outbound_calls() {
    let server = Server::start("no-trunk", None);
    let (status, body) = create_call(&server, json!({"to": "+15551234567"})).await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["code"], "NoTrunk");
}
