//! `warbler workspaces …` and `warbler keys …` against a running server's data directory.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn warbler(server: &Server, arguments: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_warbler"))
        .args(arguments)
        .arg("--data-dir")
        .arg(server.dir.0.join("data"))
        .output()
        .expect("run warbler");
    assert!(
        output.status.success(),
        "warbler {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or_default();
    serde_json::from_str(first).unwrap_or(Value::Null)
}

async fn list_status(server: &Server, key: &str, workspace: &str, channel: &str) -> (u16, Value) {
    let response = server
        .client
        .get(server.url(&format!("/workspaces/{workspace}/channels/{channel}/calls")))
        .header("authorization", format!("AccessKey {key}"))
        .send()
        .await
        .expect("list");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_created_while_running_takes_its_calls_and_its_keys_rotate() {
    let config = r#"
        [[channels]]
        numbers = ["1000"]
    "#;
    let server = Server::start("admin-cli", Some(config));
    let created = warbler(&server, &["workspaces", "create", "--numbers", "4000"]);
    let (workspace, channel) = (
        created["workspaceId"].as_str().expect("id"),
        created["channelId"].as_str().expect("id"),
    );
    let key = created["accessKey"].as_str().expect("key").to_owned();
    assert_eq!(created["organizationId"], server.organization());

    // The new key works on its own workspace only.
    assert_eq!(list_status(&server, &key, workspace, channel).await.0, 200);
    assert_eq!(
        list_status(&server, &key, &server.workspace(), &server.channel())
            .await
            .0,
        404
    );

    // A call to 4000 lands in the new workspace (routes follow the store within a second).
    let sipp = start_sipp_uac(
        &server.dir.0,
        server.sip,
        "4000",
        "uac_audio_dtmf_wait_bye.xml",
    );
    let mut calls = Value::Null;
    for _ in 0..200 {
        calls = list_status(&server, &key, workspace, channel).await.1;
        if calls["results"]
            .as_array()
            .is_some_and(|results| !results.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sipp);
    assert_eq!(
        calls["results"].as_array().map(Vec::len),
        Some(1),
        "{calls:#}"
    );
    assert_eq!(calls["results"][0]["to"], "4000");
    let (_, first_calls) = list_status(
        &server,
        &server.key(),
        &server.workspace(),
        &server.channel(),
    )
    .await;
    assert_eq!(first_calls["results"].as_array().map(Vec::len), Some(0));

    // Rotation: a new key works, the old one is refused at once.
    let rotated = warbler(&server, &["keys", "rotate", "--workspace", workspace]);
    let new_key = rotated["accessKey"].as_str().expect("key");
    assert_eq!(
        list_status(&server, new_key, workspace, channel).await.0,
        200
    );
    assert_eq!(list_status(&server, &key, workspace, channel).await.0, 401);

    // Listing shows ids and dates, never secrets; revoking the new key locks the workspace.
    let output = Command::new(env!("CARGO_BIN_EXE_warbler"))
        .args(["keys", "list", "--workspace", workspace, "--data-dir"])
        .arg(server.dir.0.join("data"))
        .output()
        .expect("run");
    let listing = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(!listing.contains(new_key) && !listing.contains(&key));
    let key_id = rotated["accessKeyId"].as_str().expect("id");
    warbler(
        &server,
        &["keys", "revoke", "--workspace", workspace, key_id],
    );
    assert_eq!(
        list_status(&server, new_key, workspace, channel).await.0,
        401
    );
}
