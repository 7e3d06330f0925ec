//! SIGTERM: live calls are hung up cleanly (BYE), their final state is stored, the process exits
//! 0; after a restart the call reads back as it ended.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hangs_up_live_calls_and_exits_zero() {
    let config = r#"
        [[channels]]
        call_flow = [ { command = "answer" }, { command = "pause", options = { length = 60 } } ]
    "#;
    let mut server = Server::start("sigterm", Some(config));
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let list_url = server.url(&format!(
        "/workspaces/{}/channels/{}/calls",
        server.workspace(),
        server.channel()
    ));
    let mut call_id = None;
    for _ in 0..200 {
        let list: serde_json::Value = server
            .client
            .get(&list_url)
            .header("authorization", format!("AccessKey {}", server.key()))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if list["results"][0]["status"] == "ongoing" {
            call_id = list["results"][0]["id"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call_id = call_id.expect("the call was answered");
    // SIPp's scenario takes a BYE only once it has sent its digit, 100 ms after the ACK; nothing
    // observable marks that moment, so give it a fixed head start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let exit = server.terminate(Duration::from_secs(20));
    assert_eq!(
        exit,
        Some(0),
        "warbler must exit 0 on SIGTERM:\n{}",
        server.logs()
    );
    let sipp_exit =
        tokio::task::spawn_blocking(move || sipp.wait_for_exit(Duration::from_secs(30)))
            .await
            .expect("join");
    assert_eq!(sipp_exit, Some(0), "the caller must get a BYE");

    let config = config.to_owned();
    let restarted = Server::start_in(server.into_dir(), Some(&config));
    let call = restarted.get_call(&call_id).await;
    assert_eq!(call["status"], "completed", "{call:#}");
    assert_eq!(call["reason"], "server shutdown");
    assert!(call.get("endedAt").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_ends_interrupted_calls_at_restart() {
    let config = r#"
        [[channels]]
        call_flow = [ { command = "answer" }, { command = "pause", options = { length = 60 } } ]
    "#;
    let server = Server::start("kill9", Some(config));
    let mut sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "1000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let list_url = server.url(&format!(
        "/workspaces/{}/channels/{}/calls",
        server.workspace(),
        server.channel()
    ));
    let mut call_id = None;
    for _ in 0..200 {
        let list: serde_json::Value = server
            .client
            .get(&list_url)
            .header("authorization", format!("AccessKey {}", server.key()))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if list["results"][0]["status"] == "ongoing" {
            call_id = list["results"][0]["id"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call_id = call_id.expect("the call was answered");
    let dir = server.into_dir(); // SIGKILL: no chance to clean up
    drop(sipp.child.kill());
    let restarted = Server::start_in(dir, Some(config));
    let call = restarted.get_call(&call_id).await;
    assert_eq!(call["status"], "failed", "{call:#}");
    assert_eq!(call["reason"], "server restart");
    assert!(call.get("endedAt").is_some() && call.get("duration").is_some());
}
