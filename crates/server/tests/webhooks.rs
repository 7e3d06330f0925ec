//! At-least-once webhooks: a receiver that fails the first deliveries still gets every event,
//! each verified, each with a stable request id across retries, in order for the call.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_the_same_request_id_in_order() {
    let config = r#"
        [webhooks]
        initial_backoff_ms = 50
        [[channels]]
        call_flow = [
          { command = "answer" },
          { command = "say", options = { text = "Retries." } },
          { command = "hangup" },
        ]
    "#;
    let server = Server::start("webhook-retries", Some(config));
    let receiver = Receiver::start_failing(&server, "retry-key", |_| Value::Null, 3).await;
    server.subscribe(&receiver.hook_url(), "retry-key").await;
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let exit = tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(60)))
        .await
        .expect("join");
    assert_eq!(exit, Some(0), "{}", server.logs());

    let accepted = poll_async(Duration::from_secs(30), || {
        let accepted: Vec<Received> = receiver
            .events()
            .into_iter()
            .filter(|event| event.accepted)
            .collect();
        (accepted.len() >= 3).then_some(accepted)
    })
    .await
    .unwrap_or_else(|| panic!("not every event arrived: {:#?}", receiver.events()));
    let all = receiver.events();
    assert!(
        all.iter().all(|event| event.verified),
        "every delivery is signed: {all:#?}"
    );
    assert_eq!(all.iter().filter(|event| !event.accepted).count(), 3);

    // De-duplicated by request id, the receiver saw each status once, in order.
    let mut seen = Vec::new();
    let mut statuses = Vec::new();
    for event in &accepted {
        if !seen.contains(&event.request_id) {
            seen.push(event.request_id.clone());
            statuses.push(
                event.body["payload"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(statuses, ["starting", "ongoing", "completed"]);
    // Every failed attempt was retried under the same id.
    for failed in all.iter().filter(|event| !event.accepted) {
        assert!(
            seen.contains(&failed.request_id),
            "a failed delivery {} was never retried",
            failed.request_id
        );
    }
}
