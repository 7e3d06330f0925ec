//! The seed's "Update a call" example end to end, against the real binary: a SIP phone calls in,
//! a webhook receiver verifies Bird's signature and PATCHes the flow (ringing, pause 2 s,
//! answer, say, playback, hangup), and the caller hears it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const SIGNING_KEY: &str = "receiver-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_over_sipp() {
    let server = Server::start("seed-sipp", None);
    let receiver = Receiver::start(&server, SIGNING_KEY, seed_flow).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;

    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let pid = sipp.pid();
    let exit = tokio::task::spawn_blocking(move || {
        let code = sipp.wait_for_exit(Duration::from_secs(60));
        drop(sipp);
        code
    })
    .await
    .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "SIPp (pid {pid}) must get the server's BYE; server log:\n{}",
        server.logs()
    );

    let ringing = sipp_received_at(&server.dir.0, "SIP/2.0 180").expect("SIPp saw 180");
    let answered = sipp_received_at(&server.dir.0, "SIP/2.0 200").expect("SIPp saw 200");
    let gap = answered - ringing;
    assert!(
        (1.8..=2.6).contains(&gap),
        "180 came {gap:.3} s before 200, expected about 2 s"
    );

    let call_id = wait_for_final_event(&receiver).await;
    let call = server.get_call(&call_id).await;
    assert_seed_call_completed(&call);
    let events = receiver.events();
    assert!(
        events.iter().all(|event| event.verified),
        "every webhook must verify: {events:#?}"
    );
    assert_eq!(
        statuses_of(&events, &call_id),
        ["starting", "ringing", "ongoing", "completed"]
    );
    let mut ids: Vec<&str> = events
        .iter()
        .map(|event| event.request_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        events.len(),
        "each event has its own messagebird-request-id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_over_baresip() {
    let server = Server::start("seed-baresip", None);
    let receiver = Receiver::start(&server, SIGNING_KEY, seed_flow).await;
    server.subscribe(&receiver.hook_url(), SIGNING_KEY).await;

    let baresip = Baresip::start(&server.dir.0);
    let mut control = baresip.control().await;
    control
        .command("dial", &format!("sip:1000@{}", server.sip))
        .await;
    let events = control
        .events_until("CALL_CLOSED", Duration::from_secs(40))
        .await;
    let at = |kind: &str| {
        events
            .iter()
            .find(|(event, _)| event == kind)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| {
                panic!(
                    "baresip never reported {kind}: {events:?}\n{}",
                    server.logs()
                )
            })
    };
    let gap = at("CALL_ESTABLISHED")
        .duration_since(at("CALL_RINGING"))
        .as_secs_f64();
    assert!(
        (1.8..=2.6).contains(&gap),
        "180 came {gap:.3} s before 200, expected about 2 s"
    );

    let call_id = wait_for_final_event(&receiver).await;
    let call = server.get_call(&call_id).await;
    assert_seed_call_completed(&call);
    assert!(receiver.events().iter().all(|event| event.verified));

    // What baresip heard: the spoken sentence (about 3 to 4 s) and the 1.5 s tone, then the BYE.
    let recording = poll_async(Duration::from_secs(5), || baresip.received_recording())
        .await
        .expect("baresip recording");
    let (rate, channels, samples) = read_wav(&recording);
    assert_eq!((rate, channels), (8000, 1));
    let seconds = samples.len() as f64 / 8000.0;
    let loudness = rms(&samples);
    assert!(
        loudness > 0.02,
        "the recording is silence (RMS {loudness:.4})"
    );
    assert!(
        (4.0..=9.0).contains(&seconds),
        "recorded {seconds:.2} s, expected speech plus the 1.5 s tone"
    );
    let speech = &samples[..(8000 * 2).min(samples.len())];
    assert!(rms(speech) > 0.01, "the first two seconds hold the speech");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_channel_flow_runs_without_an_app() {
    let config = r#"
        [[channels]]
        numbers = ["2000"]
        call_flow = [
          { command = "say", options = { text = "Thank you for calling.", locale = "en-GB", voice = "male" } },
          { command = "hangup" },
        ]
    "#;
    let server = Server::start("static-ivr", Some(config));
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "2000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the configured flow must answer, speak and hang up:\n{}",
        server.logs()
    );
    // The BYE went out before the final state was stored: poll (bounded) for it.
    let list_url = server.url(&format!(
        "/workspaces/{}/channels/{}/calls",
        server.workspace(),
        server.channel()
    ));
    let mut list = serde_json::Value::Null;
    for _ in 0..100 {
        list = server
            .client
            .get(&list_url)
            .header("authorization", format!("AccessKey {}", server.key()))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if list["results"][0]["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = &list["results"][0];
    assert_eq!(call["status"], "completed", "{list:#}");
    assert_eq!(call["to"], "2000");
    assert_eq!(call["hangupSource"], "api");
    assert!(call.get("ringingAt").is_none(), "the flow never rang");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_numbers_are_refused_with_404() {
    let config = r#"
        [[channels]]
        numbers = ["3000"]
    "#;
    let server = Server::start("no-route", Some(config));
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "9999",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(exit, Some(1), "SIPp counts the 404 as a failed call");
    let errors = sipp_errors(&server.dir.0);
    assert!(
        errors.contains("404"),
        "expected a 404 in SIPp's error log: {errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_from_the_binary() {
    let server = Server::start("api-errors", None);
    let client = &server.client;
    let key = format!("AccessKey {}", server.key());
    let calls = server.url(&format!(
        "/workspaces/{}/channels/{}/calls",
        server.workspace(),
        server.channel()
    ));

    let response = client.get(&calls).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let response = client
        .get(&calls)
        .header("authorization", "AccessKey wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);

    let other_workspace = server.url(&format!(
        "/workspaces/3fa85f64-5717-4562-b3fc-2c963f66afa6/channels/{}/calls",
        server.channel()
    ));
    let response = client
        .get(&other_workspace)
        .header("authorization", &key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let missing = server.call_url("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    let response = client
        .get(&missing)
        .header("authorization", &key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);

    let response = client
        .patch(&missing)
        .header("authorization", &key)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let response = client
        .patch(&missing)
        .header("authorization", &key)
        .json(&json!({"callFlow": [{"command": "answer"}, {"command": "ringing"}, {"command": "dance"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["details"]["field"], "callFlow[2].command", "{body}");
    assert!(body["code"].is_string() && body["message"].is_string());
}

/// Waits until the receiver got the final (`completed`) event and returns the call id.
async fn wait_for_final_event(receiver: &Receiver) -> String {
    poll_async(Duration::from_secs(20), || {
        receiver
            .events()
            .iter()
            .find(|event| event.body["payload"]["status"] == "completed")
            .and_then(|event| event.body["payload"]["id"].as_str().map(str::to_owned))
    })
    .await
    .unwrap_or_else(|| panic!("no completed event: {:#?}", receiver.events()))
}
