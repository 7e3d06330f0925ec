//! Who ends the call, and what the Call then says: the caller's BYE in the middle of a flow, and
//! PATCH `status: completed` on a call that is not answered (a final error response, no BYE).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const SIGNING_KEY: &str = "hangup-secret";

/// The caller answers nothing and hangs up 1.5 s into a long `say`: `completed` by the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_bye_during_say_completes_the_call() {
    let server = Server::start("caller-bye", None);
    let receiver = Receiver::start(&server, SIGNING_KEY, |_| {
        json!([
            {"command": "answer"},
            {"command": "say", "options": {"text": "This sentence is long enough that the caller hangs up while it is still being spoken by the server."}},
            {"command": "hangup"}
        ])
    })
    .await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;
    let mut sipp = start_sipp_uac_with(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_hangup.xml",
        &["-set", "hangup_after_ms", "1500"],
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "SIPp must hang up cleanly:\n{}",
        server.logs()
    );

    let call_id = wait_for_status(&receiver, "completed").await;
    let call = server.get_call(&call_id).await;
    assert_eq!(call["status"], "completed");
    assert_eq!(call["hangupSource"], "caller", "{call:#}");
    assert_eq!(call["hangupCauseCode"], 16);
    assert_eq!(call["hangupSipCode"], "200");
    let commands = call["callFlow"]["commands"].as_array().expect("commands");
    assert_eq!(commands[0]["status"], "completed");
    assert_eq!(
        commands[1]["status"], "cancelled",
        "the say was cut off: {call:#}"
    );
    assert_eq!(commands[2]["status"], "cancelled");
    assert_eq!(
        statuses_of(&receiver.events(), &call_id),
        ["starting", "ongoing", "completed"]
    );
}

/// PATCH `status: completed` while the call rings: the caller gets 603, no BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_completed_rejects_a_ringing_call() {
    let server = Server::start("patch-reject", None);
    let receiver = Receiver::start(&server, SIGNING_KEY, |_| json!([{"command": "ringing"}])).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );

    let call_id = wait_for_status(&receiver, "ringing").await;
    let response = server
        .client
        .patch(server.call_url(&call_id))
        .header("authorization", format!("AccessKey {}", server.key()))
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 202);
    let patched: serde_json::Value = response.json().await.expect("json");
    assert_eq!(patched["status"], "no-answer", "{patched:#}");

    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(exit, Some(1), "SIPp counts the rejected call as failed");
    let errors = sipp_errors(&server.dir.0);
    assert!(
        errors.contains("603"),
        "SIPp must have received 603 Decline: {errors}"
    );

    let call = server.get_call(&call_id).await;
    assert_eq!(call["status"], "no-answer");
    assert_eq!(call["hangupSource"], "api");
    assert_eq!(call["hangupSipCode"], "603");
    assert_eq!(call["hangupCauseCode"], 21);
    assert_eq!(call["duration"], 0);
    assert!(call.get("answeredAt").is_none());

    // The call is over: another PATCH is refused.
    let response = server
        .client
        .patch(server.call_url(&call_id))
        .header("authorization", format!("AccessKey {}", server.key()))
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "CallNotActive");
}

async fn wait_for_status(receiver: &Receiver, status: &str) -> String {
    poll_async(Duration::from_secs(20), || {
        receiver
            .events()
            .iter()
            .find(|event| event.body["payload"]["status"] == status && event.verified)
            .and_then(|event| event.body["payload"]["id"].as_str().map(str::to_owned))
    })
    .await
    .unwrap_or_else(|| panic!("no verified {status} event: {:#?}", receiver.events()))
}

/// The caller cancels while the call rings: `no-answer` by the caller, 487.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancel_while_ringing_is_no_answer() {
    let server = Server::start("caller-cancel", None);
    let receiver = Receiver::start(&server, SIGNING_KEY, |_| json!([{"command": "ringing"}])).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_cancel_while_ringing.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "SIPp must see 200 for its CANCEL and 487 for its INVITE:\n{}",
        server.logs()
    );

    let call_id = wait_for_status(&receiver, "no-answer").await;
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSource"], "caller", "{call:#}");
    assert_eq!(call["hangupSipCode"], "487");
    assert!(call.get("ringingAt").is_some() && call.get("answeredAt").is_none());
    assert_eq!(
        statuses_of(&receiver.events(), &call_id),
        ["starting", "ringing", "no-answer"]
    );
}

/// The caller stops sending RTP (SIPp's scenario goes quiet after its digit): after the media
/// timeout the server hangs up with `hangupSource: media-timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_silence_past_the_media_timeout_hangs_up() {
    let config = r#"
        media_timeout = 2
        [[channels]]
        call_flow = [ { command = "answer" }, { command = "pause", options = { length = 60 } } ]
    "#;
    let server = Server::start("media-timeout", Some(config));
    let receiver = Receiver::start(&server, SIGNING_KEY, |_| serde_json::Value::Null).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the server must hang up with a BYE:\n{}",
        server.logs()
    );
    let call_id = wait_for_status(&receiver, "completed").await;
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSource"], "media-timeout", "{call:#}");
    assert_eq!(call["reason"], "no RTP from the peer");
    let duration = call["duration"].as_u64().expect("duration");
    assert!((2..=4).contains(&duration), "hung up after {duration} s");
}

/// With `flow_idle_timeout`, a call whose flow ran out of commands is hung up after that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_call_is_hung_up_after_the_flow_idle_timeout() {
    let config = r#"
        flow_idle_timeout = 1
        [[channels]]
        call_flow = [ { command = "answer" } ]
    "#;
    let server = Server::start("flow-idle", Some(config));
    let receiver = Receiver::start(&server, SIGNING_KEY, |_| serde_json::Value::Null).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the server must hang up with a BYE:\n{}",
        server.logs()
    );
    let call_id = wait_for_status(&receiver, "completed").await;
    let call = server.get_call(&call_id).await;
    assert_eq!(call["hangupSource"], "api", "{call:#}");
    let answered = chrono_millis(call["answeredAt"].as_str().expect("answeredAt"));
    let ended = chrono_millis(call["endedAt"].as_str().expect("endedAt"));
    assert!(
        (900..=2_500).contains(&(ended - answered)),
        "idle for {} ms",
        ended - answered
    );
}
