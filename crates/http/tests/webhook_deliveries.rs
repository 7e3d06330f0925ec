//! `GET …/webhook-deliveries` and `POST …/webhook-deliveries/{deliveryId}/replay`: dead letters
//! are listed and replayed through the API (a Warbler extension).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;
use warbler_model::{EventId, Timestamp};
use warbler_store::DeliveryState;

use common::{
    BODY_LIMIT, NOW_MILLIS, NOW_TEXT, ago, call_with_delivery, fixture, send, send_request,
};

fn text(time: Timestamp) -> String {
    time.to_string()
}

fn result_ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|record| record["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn dead_deliveries_are_listed_by_default_without_body_or_signing_key() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let reply = send(
        &fixture.app,
        Method::GET,
        &first.deliveries_path(),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"results": [{
            "id": first.dead.to_string(),
            "subscriptionId": first.subscription.to_string(),
            "callId": first.call.id.to_string(),
            "state": "dead",
            "attempts": 2,
            "createdAt": text(ago(50_000)),
            "deadAt": text(ago(40_000)),
            "lastError": "HTTP 500",
        }]})
    );
    assert!(!reply.body.to_string().contains("signing-key"));
    let explicit = send(
        &fixture.app,
        Method::GET,
        &format!("{}?state=dead", first.deliveries_path()),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(explicit.body, reply.body);
}

#[tokio::test]
async fn pending_and_delivered_deliveries_are_listed_by_state() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let pending = send(
        &fixture.app,
        Method::GET,
        &format!("{}?state=pending", first.deliveries_path()),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    let record = &pending.body["results"][0];
    assert_eq!(result_ids(&pending.body), vec![first.pending.to_string()]);
    assert_eq!(record["state"], "pending");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["createdAt"], text(ago(20_000)));
    assert_eq!(record["nextAttemptAt"], text(ago(-10_000)));
    assert_eq!(record["lastError"], "timeout");
    assert!(record.get("deadAt").is_none() && record.get("deliveredAt").is_none());

    let delivered = send(
        &fixture.app,
        Method::GET,
        &format!("{}?state=delivered", first.deliveries_path()),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    let record = &delivered.body["results"][0];
    assert_eq!(
        result_ids(&delivered.body),
        vec![first.delivered.to_string()]
    );
    assert_eq!(record["state"], "delivered");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["deliveredAt"], text(ago(29_000)));
    for absent in ["nextAttemptAt", "deadAt", "lastError"] {
        assert!(record.get(absent).is_none(), "{absent} in {record}");
    }
}

#[tokio::test]
async fn deliveries_are_listed_page_by_page_newest_first() {
    let fixture = fixture().await;
    let first = &fixture.first;
    // Four more dead deliveries, newer than the fixture's.
    let mut expected = vec![first.dead];
    for seed in 10..14_u8 {
        let (_, id) = call_with_delivery(
            &fixture.store,
            first.workspace,
            first.channel,
            seed,
            ago(10_000 - i64::from(seed)),
        )
        .await;
        fixture
            .store
            .mark_dead(id, ago(1_000), "HTTP 502")
            .await
            .expect("gives up");
        expected.push(id);
    }
    expected.reverse();
    let expected: Vec<String> = expected.iter().map(EventId::to_string).collect();

    let mut listed = Vec::new();
    let mut uri = format!("{}?state=dead&limit=2", first.deliveries_path());
    let mut pages = 0;
    loop {
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
        listed.extend(result_ids(&reply.body));
        pages += 1;
        match reply.body["nextPageToken"].as_str() {
            Some(token) => {
                uri = format!(
                    "{}?state=dead&limit=2&pageToken={token}",
                    first.deliveries_path()
                );
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn bad_delivery_list_parameters_are_422_naming_the_parameter() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let long_token = "A".repeat(8001);
    let cases = [
        ("limit=0".to_owned(), "limit"),
        ("limit=101".to_owned(), "limit"),
        ("limit=1000".to_owned(), "limit"),
        ("limit=-1".to_owned(), "limit"),
        ("limit=ten".to_owned(), "limit"),
        ("state=gone".to_owned(), "state"),
        ("state=DEAD".to_owned(), "state"),
        ("state=".to_owned(), "state"),
        ("pageToken=garbage!!".to_owned(), "pageToken"),
        (format!("pageToken={long_token}"), "pageToken"),
    ];
    for (query, field) in cases {
        let uri = format!("{}?{query}", first.deliveries_path());
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.body["details"]["field"], field, "{query}");
    }
    for query in [
        "limit=1",
        "limit=100",
        "state=pending&limit=100",
        "pageToken=",
    ] {
        let uri = format!("{}?{query}", first.deliveries_path());
        let reply = send(&fixture.app, Method::GET, &uri, Some(&first.key), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_replayed_delivery_is_pending_and_due_now_for_the_dispatcher() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let reply = send(
        &fixture.app,
        Method::POST,
        &first.replay_path(first.dead),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "id": first.dead.to_string(),
            "subscriptionId": first.subscription.to_string(),
            "callId": first.call.id.to_string(),
            "state": "pending",
            "attempts": 0,
            "createdAt": NOW_TEXT,
            "nextAttemptAt": NOW_TEXT,
            "lastError": "HTTP 500",
        })
    );

    // The dispatcher finds it on its next poll, under the same id.
    let now = Timestamp::from_unix_millis(NOW_MILLIS);
    let due = fixture.store.due_deliveries(now, 100).await.expect("reads");
    assert!(
        due.iter()
            .any(|delivery| delivery.id == first.dead && delivery.attempts == 0),
        "{due:?}"
    );
    let dead = fixture
        .store
        .deliveries(first.workspace, DeliveryState::Dead, 10, None)
        .await
        .expect("lists");
    assert!(dead.results.is_empty());
    let listed = send(
        &fixture.app,
        Method::GET,
        &format!("{}?state=pending", first.deliveries_path()),
        Some(&first.key),
        None,
    )
    .await;
    assert!(result_ids(&listed.body).contains(&first.dead.to_string()));
}

#[tokio::test]
async fn only_a_dead_delivery_can_be_replayed() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let not_a_uuid = format!("{}/nope/replay", first.deliveries_path());
    let paths = [
        ("pending", first.replay_path(first.pending)),
        ("delivered", first.replay_path(first.delivered)),
        (
            "unknown",
            first.replay_path(EventId::from_uuid(Uuid::new_v4())),
        ),
        ("not a UUID", not_a_uuid),
    ];
    for (name, path) in paths {
        let reply = send(&fixture.app, Method::POST, &path, Some(&first.key), None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "NotFound", "{name}");
    }
    let replay = first.replay_path(first.dead);
    let once = send(&fixture.app, Method::POST, &replay, Some(&first.key), None).await;
    assert_eq!(once.status, StatusCode::ACCEPTED);
    let twice = send(&fixture.app, Method::POST, &replay, Some(&first.key), None).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND, "no longer dead");
}

#[tokio::test]
async fn replay_ignores_a_small_body_and_refuses_one_over_the_limit() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let replay = first.replay_path(first.dead);
    let oversized = "x".repeat(BODY_LIMIT + 1);
    for declared in [true, false] {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&replay)
            .header(header::AUTHORIZATION, format!("AccessKey {}", first.key));
        if declared {
            request = request.header(header::CONTENT_LENGTH, oversized.len());
        }
        let reply = send_request(
            &fixture.app,
            request
                .body(Body::from(oversized.clone()))
                .expect("request"),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared: {declared}"
        );
        assert_eq!(reply.code(), "PayloadTooLarge");
    }
    // Still dead: the refused requests replayed nothing.
    let dead = fixture
        .store
        .deliveries(first.workspace, DeliveryState::Dead, 10, None)
        .await
        .expect("lists");
    assert_eq!(dead.results.len(), 1);

    let reply = send(
        &fixture.app,
        Method::POST,
        &replay,
        Some(&first.key),
        Some(r#"{"anything": "at all"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.body["state"], "pending");
}

#[tokio::test]
async fn delivery_routes_need_a_valid_key() {
    let fixture = fixture().await;
    let first = &fixture.first;
    let routes = [
        (Method::GET, first.deliveries_path()),
        (Method::POST, first.replay_path(first.dead)),
    ];
    for (method, path) in routes {
        for key in [None, Some("not-a-key")] {
            let reply = send(&fixture.app, method.clone(), &path, key, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {key:?}"
            );
            assert_eq!(reply.code(), "Unauthorized");
        }
    }
    // A revoked key is refused too, and the delivery stays dead.
    fixture
        .store
        .revoke_access_key(first.workspace, first.access_key, ago(0))
        .await
        .expect("revokes");
    let reply = send(
        &fixture.app,
        Method::POST,
        &first.replay_path(first.dead),
        Some(&first.key),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let dead = fixture
        .store
        .deliveries(first.workspace, DeliveryState::Dead, 10, None)
        .await
        .expect("lists");
    assert_eq!(dead.results.len(), 1);
}
