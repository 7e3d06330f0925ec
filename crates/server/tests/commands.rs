//! The per-command endpoints (`POST …/calls/{id}/ringing|answer|say|hangup`) drive a live call.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn post_command(
    server: &Server,
    call: &str,
    command: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}/{command}", server.call_url(call)))
        .header("authorization", format!("AccessKey {}", server.key()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("command");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_endpoints_ring_answer_speak_and_hang_up() {
    let server = Server::start("commands", None);
    let receiver = Receiver::start(&server, "commands", |_| Value::Null).await;
    server.subscribe(&receiver.hook_url(), "commands").await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let call = poll_async(Duration::from_secs(10), || {
        receiver
            .events()
            .first()
            .and_then(|event| event.body["payload"]["id"].as_str().map(str::to_owned))
    })
    .await
    .expect("the call started");

    let (status, body) = post_command(&server, &call, "ringing", None).await;
    assert_eq!(status, 202, "{body:#}");
    assert_eq!(body["command"], "ringing");
    assert_eq!(body["callId"], call.as_str());
    assert!(
        body.get("callFlowId").is_none(),
        "an ad-hoc command belongs to no flow: {body:#}"
    );
    let (status, _) = post_command(&server, &call, "answer", Some(json!({}))).await;
    assert_eq!(status, 202);
    // Answering twice is refused.
    let (status, body) = post_command(&server, &call, "answer", None).await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["code"], "InvalidCallState");
    let (status, body) = post_command(
        &server,
        &call,
        "say",
        Some(json!({"text": "Commands work.", "locale": "en-US"})),
    )
    .await;
    assert_eq!(status, 202, "{body:#}");
    assert_eq!(body["command"], "say");
    let (status, body) = post_command(
        &server,
        &call,
        "say",
        Some(json!({"text": "x", "locale": "xx-XX"})),
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["details"]["field"], "locale");
    // The say plays for real: wait (bounded) until its command completed.
    let said = poll_async_value(Duration::from_secs(10), || async {
        let current = server.get_call(&call).await;
        let done = current["callFlow"]["commands"][0]["status"] == "completed";
        done.then_some(current)
    })
    .await;
    assert!(said.is_some(), "the say never completed");
    let (status, _) = post_command(&server, &call, "hangup", None).await;
    assert_eq!(status, 202);

    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert_eq!(exit, Some(0), "SIPp gets our BYE:\n{}", server.logs());
    let final_call = poll_async(Duration::from_secs(10), || {
        receiver
            .events()
            .into_iter()
            .find(|event| event.body["payload"]["status"] == "completed")
            .map(|event| event.body["payload"].clone())
    })
    .await
    .expect("completed");
    assert_eq!(final_call["hangupSource"], "api");
    assert_eq!(
        statuses_of(&receiver.events(), &call),
        ["starting", "ringing", "ongoing", "completed"]
    );
    let (status, body) =
        post_command(&server, &call, "say", Some(json!({"text": "too late"}))).await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "CallNotActive");
}
