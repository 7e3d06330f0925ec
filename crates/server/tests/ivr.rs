//! An IVR: `gather` with a spoken prompt, the caller presses a key (RFC 4733 from SIPp), and
//! `conditions` on the keys pick the branch.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_collects_a_key_and_conditions_pick_the_branch() {
    let server = Server::start("ivr", None);
    let receiver = Receiver::start(&server, "ivr-key", |_| {
        json!([
            {"command": "answer"},
            {"command": "gather", "options": {"maxNumKeys": 1, "timeout": 10,
                "say": {"text": "Press one for sales, or two for support. Please press a key now."}}},
            {"command": "say", "options": {"text": "Sales."}, "conditions": [{"variable": "keys", "operator": "eq", "value": "1"}]},
            {"command": "say", "options": {"text": "Support."}, "conditions": [{"variable": "keys", "operator": "==", "value": "2"}]},
            {"command": "hangup"}
        ])
    })
    .await;
    server.subscribe(&receiver.hook_url(), "ivr-key").await;
    // SIPp plays speech, then (100 ms after the ACK) Debian's RFC 4733 capture of the digit 1.
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(
        exit,
        Some(0),
        "the flow must end with our BYE:\n{}",
        server.logs()
    );

    let call_id = poll_async(Duration::from_secs(20), || {
        receiver
            .events()
            .iter()
            .find(|event| event.body["payload"]["status"] == "completed")
            .and_then(|event| event.body["payload"]["id"].as_str().map(str::to_owned))
    })
    .await
    .expect("completed event");
    let call = server.get_call(&call_id).await;
    let commands = call["callFlow"]["commands"].as_array().expect("commands");
    assert_eq!(commands[1]["command"], "gather");
    assert_eq!(commands[1]["status"], "completed", "{call:#}");
    assert_eq!(commands[1]["gather"]["keys"], "1", "{call:#}");
    assert_eq!(commands[2]["status"], "completed", "the sales branch ran");
    assert_eq!(
        commands[3]["status"], "skipped",
        "the support branch did not"
    );
    assert_eq!(commands[4]["status"], "completed");
}
