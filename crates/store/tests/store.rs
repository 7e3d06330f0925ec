//! Behaviour of the store through its public API, on in-memory databases (and one file).

use std::collections::HashSet;
use std::path::PathBuf;

use warbler_model::{
    AccessKeyId, Call, CallFlowId, CallId, CallNotification, CallStatus, CallType, ChannelId,
    CommandId, CommandName, CommandRecord, CommandStatus, Condition, ConditionOperator,
    ConditionVariable, Direction, EventFilter, EventId, EventKind, FlowRecord, HangupSource,
    NumberIdentifier, OrganizationId, PartyIdentifier, SubscriptionId, Timestamp, WebhookEnvelope,
    WebhookService, WebhookSubscription, WorkspaceId, q850,
};
use warbler_store::{
    AccessKeyInfo, ChannelSpec, DeliveryRecord, DeliveryState, NewWorkspace, Store, StoreError,
    WorkspaceAccess,
};

const START: i64 = 1_732_212_155_550;

fn at(offset: i64) -> Timestamp {
    Timestamp::from_unix_millis(START + offset)
}

/// Distinct, deterministic id randomness.
fn bytes(seed: u32) -> [u8; 10] {
    let mut random = [0xa5; 10];
    random[6..].copy_from_slice(&seed.to_be_bytes());
    random
}

fn unix(offset: i64) -> u64 {
    u64::try_from(START + offset).expect("positive")
}

fn new_workspace(seed: u32, secret: &str) -> NewWorkspace {
    NewWorkspace {
        organization_id: OrganizationId::from_parts(unix(0), bytes(seed)),
        workspace_id: WorkspaceId::from_parts(unix(0), bytes(seed)),
        access_key_id: AccessKeyId::from_parts(unix(0), bytes(seed)),
        access_key_secret: secret.to_owned(),
        created_at: at(i64::from(seed)),
    }
}

/// A workspace with one configured channel.
struct Tenant {
    access: WorkspaceAccess,
    channel: ChannelId,
}

async fn tenant(store: &Store, seed: u32) -> Tenant {
    let new = new_workspace(seed, &format!("secret-{seed}"));
    store
        .create_workspace(&new)
        .await
        .expect("creates workspace");
    let channel = store
        .upsert_config_channel(new.workspace_id, 0, &spec("+3120000000"), at(0))
        .await
        .expect("creates channel");
    Tenant {
        access: WorkspaceAccess {
            organization_id: new.organization_id,
            workspace_id: new.workspace_id,
        },
        channel,
    }
}

fn spec(number: &str) -> ChannelSpec {
    ChannelSpec {
        numbers: vec![number.to_owned()],
        trunk: Some("sip:trunk.example.com".to_owned()),
        trunk_username: Some("user".to_owned()),
        trunk_password: Some("trunk-pass-1234".to_owned()),
        call_flow: Some(serde_json::json!([{"command": "say", "options": {"text": "hi"}}])),
    }
}

fn incoming(channel: ChannelId, seed: u32, created_at: Timestamp) -> Call {
    let millis = u64::try_from(created_at.unix_millis()).expect("positive");
    Call::incoming(
        CallId::from_parts(millis, bytes(seed)),
        channel,
        "alice".to_owned(),
        "1000".to_owned(),
        created_at,
    )
}

/// A call with every optional field set.
fn full_call(channel: ChannelId) -> Call {
    let id = CallId::from_parts(unix(0), bytes(1));
    let flow = CallFlowId::from_parts(unix(1), bytes(2));
    Call {
        id,
        channel_id: channel,
        from: "+31612345678".to_owned(),
        to: "+31201234567".to_owned(),
        originator: PartyIdentifier {
            number: NumberIdentifier {
                kind: CallType::Pstn,
                number: "+31612345678".to_owned(),
            },
        },
        receiver: PartyIdentifier {
            number: NumberIdentifier {
                kind: CallType::Webrtc,
                number: "+31201234567".to_owned(),
            },
        },
        parent_id: Some(CallId::from_parts(unix(-5), bytes(3))),
        direction: Direction::Outgoing,
        status: CallStatus::Completed,
        reason: Some("the far end hung up".to_owned()),
        kind: CallType::Sip,
        duration: Some(42),
        hangup_cause_code: Some(q850::NORMAL_CLEARING),
        hangup_source: Some(HangupSource::MediaTimeout),
        hangup_sip_code: Some("200".to_owned()),
        created_at: at(0),
        updated_at: at(50_123),
        ringing_at: Some(at(1_001)),
        answered_at: Some(at(7_999)),
        ended_at: Some(at(50_123)),
        scheduled_for: Some(at(-1_000)),
        notification: Some(CallNotification {
            url: "https://example.com/call-hook".to_owned(),
        }),
        tags: vec!["vip".to_owned(), "support".to_owned()],
        call_flow: Some(FlowRecord {
            id: flow,
            commands: vec![
                CommandRecord {
                    id: CommandId::from_parts(unix(1), bytes(4)),
                    call_id: id,
                    call_flow_id: Some(flow),
                    status: CommandStatus::Skipped,
                    command: CommandName::Say,
                    conditions: vec![Condition {
                        variable: ConditionVariable::Keys,
                        operator: ConditionOperator::NotEqualSymbol,
                        value: "1".to_owned(),
                    }],
                    reason: Some("condition did not hold".to_owned()),
                    gather: None,
                },
                CommandRecord {
                    id: CommandId::from_parts(unix(1), bytes(5)),
                    call_id: id,
                    call_flow_id: Some(flow),
                    status: CommandStatus::Failed,
                    command: CommandName::Playback,
                    conditions: vec![Condition {
                        variable: ConditionVariable::Speech,
                        operator: ConditionOperator::Contains,
                        value: "yes".to_owned(),
                    }],
                    reason: Some("media could not be fetched".to_owned()),
                    gather: None,
                },
            ],
        }),
    }
}

fn subscription(
    tenant: &Tenant,
    seed: u32,
    event: EventKind,
    filters: &[(&str, &str)],
) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::from_parts(unix(i64::from(seed)), bytes(seed)),
        organization_id: tenant.access.organization_id,
        workspace_id: tenant.access.workspace_id,
        service: WebhookService::Channels,
        event,
        url: format!("http://127.0.0.1:9/hook/{seed}"),
        event_filters: filters
            .iter()
            .map(|(key, value)| EventFilter {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
        template: Some(format!("template-{seed}")),
        status: "active",
        created_at: at(i64::from(seed)),
        updated_at: at(i64::from(seed) + 1),
        signing_key: format!("signing-key-{seed}"),
    }
}

fn envelope(event: EventKind, call: &Call) -> String {
    serde_json::to_string(&WebhookEnvelope {
        service: WebhookService::Channels,
        event,
        payload: call,
    })
    .expect("serializes")
}

async fn memory() -> Store {
    Store::open_in_memory().await.expect("opens")
}

// Workspaces and access keys.

#[tokio::test]
async fn bootstrap_round_trips() {
    let store = memory().await;
    assert!(store.is_empty().await.expect("reads"));
    assert_eq!(store.first_workspace().await.expect("reads"), None);

    let new = new_workspace(1, "bootstrap-secret");
    store.create_workspace(&new).await.expect("creates");
    let access = WorkspaceAccess {
        organization_id: new.organization_id,
        workspace_id: new.workspace_id,
    };
    assert!(!store.is_empty().await.expect("reads"));
    assert_eq!(store.first_workspace().await.expect("reads"), Some(access));
    assert_eq!(
        store.workspace(new.workspace_id).await.expect("reads"),
        access
    );

    store
        .create_workspace(&new_workspace(2, "later-secret"))
        .await
        .expect("creates");
    assert_eq!(store.first_workspace().await.expect("reads"), Some(access));
}

#[tokio::test]
async fn authenticate_accepts_only_the_right_secret() {
    let store = memory().await;
    let new = new_workspace(1, "right-secret");
    store.create_workspace(&new).await.expect("creates");
    assert_eq!(
        store.authenticate("right-secret").await.expect("reads"),
        Some(WorkspaceAccess {
            organization_id: new.organization_id,
            workspace_id: new.workspace_id,
        })
    );
    for wrong in ["wrong-secret", "", "right-secret ", "RIGHT-SECRET"] {
        assert_eq!(store.authenticate(wrong).await.expect("reads"), None);
    }
}

#[tokio::test]
async fn creating_an_existing_workspace_is_a_conflict() {
    let store = memory().await;
    store
        .create_workspace(&new_workspace(1, "one"))
        .await
        .expect("creates");
    let again = NewWorkspace {
        access_key_id: AccessKeyId::from_parts(unix(0), bytes(99)),
        ..new_workspace(1, "two")
    };
    assert!(matches!(
        store.create_workspace(&again).await,
        Err(StoreError::Conflict)
    ));
    // The failed transaction left nothing behind.
    assert_eq!(store.authenticate("two").await.expect("reads"), None);
}

#[tokio::test]
async fn unknown_workspace_is_not_found() {
    let store = memory().await;
    let missing = WorkspaceId::from_parts(unix(0), bytes(7));
    assert!(matches!(
        store.workspace(missing).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .upsert_config_channel(missing, 0, &spec("1"), at(0))
            .await,
        Err(StoreError::NotFound)
    ));
}

// Channels.

#[tokio::test]
async fn config_channel_upsert_keeps_its_id_and_updates_fields() {
    let store = memory().await;
    let new = new_workspace(1, "secret");
    store.create_workspace(&new).await.expect("creates");
    let workspace = new.workspace_id;

    let first = spec("+3120000000");
    let id = store
        .upsert_config_channel(workspace, 0, &first, at(10))
        .await
        .expect("creates");
    let channel = store.channel(workspace, id).await.expect("reads");
    assert_eq!(channel.id, id);
    assert_eq!(channel.workspace_id, workspace);
    assert_eq!(channel.numbers, first.numbers);
    assert_eq!(channel.trunk, first.trunk);
    assert_eq!(channel.trunk_username, first.trunk_username);
    assert_eq!(channel.trunk_password, first.trunk_password);
    assert_eq!(channel.call_flow, first.call_flow);
    assert_eq!((channel.created_at, channel.updated_at), (at(10), at(10)));

    // Same specification: same id, nothing changes.
    let again = store
        .upsert_config_channel(workspace, 0, &first, at(20))
        .await
        .expect("upserts");
    assert_eq!(again, id);
    assert_eq!(store.channel(workspace, id).await.expect("reads"), channel);

    // Changed specification: same id, new fields.
    let second = ChannelSpec {
        numbers: vec!["+3130000000".to_owned(), "+3140000000".to_owned()],
        trunk: Some("sip:other.example.com:5080".to_owned()),
        trunk_username: None,
        trunk_password: None,
        call_flow: None,
    };
    let updated_id = store
        .upsert_config_channel(workspace, 0, &second, at(30))
        .await
        .expect("upserts");
    assert_eq!(updated_id, id);
    let updated = store.channel(workspace, id).await.expect("reads");
    assert_eq!(updated.numbers, second.numbers);
    assert_eq!(updated.trunk, second.trunk);
    assert_eq!(updated.trunk_username, None);
    assert_eq!(updated.trunk_password, None);
    assert_eq!(updated.call_flow, None);
    assert_eq!((updated.created_at, updated.updated_at), (at(10), at(30)));

    // Another position is another channel.
    let other = store
        .upsert_config_channel(workspace, 1, &first, at(40))
        .await
        .expect("creates");
    assert_ne!(other, id);
    let all: Vec<ChannelId> = store
        .all_channels()
        .await
        .expect("reads")
        .into_iter()
        .map(|channel| channel.id)
        .collect();
    assert_eq!(all, vec![id, other]);
}

#[tokio::test]
async fn channel_debug_output_hides_the_trunk_password() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let channel = store
        .channel(tenant.access.workspace_id, tenant.channel)
        .await
        .expect("reads");
    assert_eq!(channel.trunk_password.as_deref(), Some("trunk-pass-1234"));
    assert!(!format!("{channel:?}").contains("trunk-pass-1234"));
}

// Calls.

#[tokio::test]
async fn calls_round_trip_every_field() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let call = full_call(tenant.channel);

    store
        .insert_call(workspace, &call, EventKind::VoiceOutbound, at(0))
        .await
        .expect("inserts");
    let stored = store
        .call(workspace, tenant.channel, call.id)
        .await
        .expect("reads");
    assert_eq!(stored, call);
    assert_eq!(
        serde_json::to_string(&stored).expect("serializes"),
        serde_json::to_string(&call).expect("serializes")
    );

    let mut changed = call.clone();
    changed.status = CallStatus::Failed;
    changed.reason = Some("trunk unreachable".to_owned());
    changed.hangup_source = Some(HangupSource::Api);
    changed.hangup_cause_code = Some(q850::TEMPORARY_FAILURE);
    changed.updated_at = at(60_000);
    changed.call_flow = None;
    store
        .update_call(workspace, &changed, None, at(60_000))
        .await
        .expect("updates");
    assert_eq!(
        store
            .call(workspace, tenant.channel, call.id)
            .await
            .expect("reads"),
        changed
    );

    // A minimal call (every optional field absent) round-trips too.
    let minimal = incoming(tenant.channel, 9, at(5));
    store
        .insert_call(workspace, &minimal, EventKind::VoiceInbound, at(5))
        .await
        .expect("inserts");
    assert_eq!(
        store
            .call(workspace, tenant.channel, minimal.id)
            .await
            .expect("reads"),
        minimal
    );
}

#[tokio::test]
async fn call_writes_report_conflicts_and_missing_rows() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let call = incoming(tenant.channel, 1, at(0));
    store
        .insert_call(workspace, &call, EventKind::VoiceInbound, at(0))
        .await
        .expect("inserts");

    assert!(matches!(
        store
            .insert_call(workspace, &call, EventKind::VoiceInbound, at(1))
            .await,
        Err(StoreError::Conflict)
    ));
    let unknown = incoming(tenant.channel, 2, at(0));
    assert!(matches!(
        store.update_call(workspace, &unknown, None, at(1)).await,
        Err(StoreError::NotFound)
    ));
    let elsewhere = incoming(ChannelId::from_parts(unix(0), bytes(77)), 3, at(0));
    assert!(matches!(
        store
            .insert_call(workspace, &elsewhere, EventKind::VoiceInbound, at(1))
            .await,
        Err(StoreError::NotFound)
    ));
    let moved = Call {
        channel_id: elsewhere.channel_id,
        ..call.clone()
    };
    assert!(matches!(
        store.update_call(workspace, &moved, None, at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.call(workspace, elsewhere.channel_id, call.id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn live_calls_are_the_calls_not_yet_ended() {
    let store = memory().await;
    let first = tenant(&store, 1).await;
    let second = tenant(&store, 2).await;
    let mut expected = Vec::new();
    for (index, status) in CallStatus::ALL.into_iter().enumerate() {
        let seed = u32::try_from(index).expect("small");
        let tenant = if index % 2 == 0 { &first } else { &second };
        let mut call = incoming(tenant.channel, seed, at(i64::from(seed)));
        call.status = status;
        store
            .insert_call(
                tenant.access.workspace_id,
                &call,
                EventKind::VoiceInbound,
                at(0),
            )
            .await
            .expect("inserts");
        if !status.is_terminal() {
            expected.push((tenant.access.workspace_id, call));
        }
    }
    assert_eq!(store.live_calls().await.expect("reads"), expected);
}

#[tokio::test]
async fn list_calls_pages_newest_first_without_duplicates() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let mut calls = Vec::new();
    for seed in 0..25_u32 {
        // Pairs share a creation time, so the id breaks ties.
        let call = incoming(tenant.channel, seed, at(i64::from(seed / 2)));
        store
            .insert_call(workspace, &call, EventKind::VoiceInbound, at(0))
            .await
            .expect("inserts");
        calls.push(call);
    }
    calls.sort_by_key(|call| std::cmp::Reverse((call.created_at, call.id)));

    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .list_calls(workspace, tenant.channel, 10, token.as_deref())
            .await
            .expect("lists");
        sizes.push(page.results.len());
        listed.extend(page.results);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(listed, calls);
    let distinct: HashSet<CallId> = listed.iter().map(|call| call.id).collect();
    assert_eq!(distinct.len(), 25);

    // Exactly `limit` calls: one page, no token.
    let whole = store
        .list_calls(workspace, tenant.channel, 25, None)
        .await
        .expect("lists");
    assert_eq!(whole.results.len(), 25);
    assert_eq!(whole.next_page_token, None);

    // No calls: an empty last page.
    let other_channel = store
        .upsert_config_channel(workspace, 1, &spec("+3199"), at(0))
        .await
        .expect("creates");
    let empty = store
        .list_calls(workspace, other_channel, 10, None)
        .await
        .expect("lists");
    assert!(empty.results.is_empty());
    assert_eq!(empty.next_page_token, None);
}

#[tokio::test]
async fn garbage_page_tokens_are_invalid() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    for token in [
        "",
        "not a token",
        "%%%",
        "W10",                    // []
        "WzEsMl0",                // [1,2]
        "eyJhIjoxfQ",             // {"a":1}
        "WzEsIm5vdC1hLXV1aWQiXQ", // [1,"not-a-uuid"]
    ] {
        let result = store
            .list_calls(tenant.access.workspace_id, tenant.channel, 10, Some(token))
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "{token:?}: {result:?}"
        );
    }
}

// Isolation.

#[tokio::test]
async fn another_workspace_sees_nothing() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let intruder = tenant(&store, 2).await;
    let own = owner.access.workspace_id;
    let foreign = intruder.access.workspace_id;

    assert_eq!(
        store.authenticate("secret-2").await.expect("reads"),
        Some(intruder.access)
    );

    let hook = subscription(&owner, 1, EventKind::VoiceInbound, &[]);
    store.insert_subscription(&hook).await.expect("inserts");
    let call = incoming(owner.channel, 1, at(0));
    store
        .insert_call(own, &call, EventKind::VoiceInbound, at(0))
        .await
        .expect("inserts");

    assert!(matches!(
        store.channel(foreign, owner.channel).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.call(foreign, owner.channel, call.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.call(foreign, intruder.channel, call.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_calls(foreign, owner.channel, 10, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_call(foreign, &call, None, at(1)).await,
        Err(StoreError::NotFound)
    ));
    // Inserting a call into another workspace's channel is refused.
    let smuggled = incoming(owner.channel, 2, at(0));
    assert!(matches!(
        store
            .insert_call(foreign, &smuggled, EventKind::VoiceInbound, at(1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.subscription(foreign, hook.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .subscriptions(foreign)
            .await
            .expect("reads")
            .is_empty()
    );
    assert!(matches!(
        store.delete_subscription(foreign, hook.id).await,
        Err(StoreError::NotFound)
    ));
    // A subscription claiming a workspace of another organization is refused.
    let mismatched = WebhookSubscription {
        organization_id: intruder.access.organization_id,
        ..subscription(&owner, 2, EventKind::VoiceInbound, &[])
    };
    assert!(matches!(
        store.insert_subscription(&mismatched).await,
        Err(StoreError::NotFound)
    ));

    // The owner still has everything, untouched.
    assert_eq!(
        store
            .call(own, owner.channel, call.id)
            .await
            .expect("reads"),
        call
    );
    assert_eq!(store.subscription(own, hook.id).await.expect("reads"), hook);
    assert_eq!(
        store.due_deliveries(at(0), 10).await.expect("reads").len(),
        1
    );
}

// Subscriptions and the outbox.

#[tokio::test]
async fn subscriptions_round_trip_and_delete() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let first = subscription(
        &tenant,
        1,
        EventKind::VoiceInbound,
        &[("status", "ongoing")],
    );
    let second = WebhookSubscription {
        template: None,
        event_filters: Vec::new(),
        ..subscription(&tenant, 2, EventKind::VoiceOutbound, &[])
    };
    store.insert_subscription(&first).await.expect("inserts");
    store.insert_subscription(&second).await.expect("inserts");
    assert!(matches!(
        store.insert_subscription(&first).await,
        Err(StoreError::Conflict)
    ));

    assert_eq!(
        store
            .subscription(workspace, first.id)
            .await
            .expect("reads"),
        first
    );
    assert_eq!(
        store.subscriptions(workspace).await.expect("reads"),
        vec![first.clone(), second.clone()]
    );

    store
        .delete_subscription(workspace, first.id)
        .await
        .expect("deletes");
    assert!(matches!(
        store.subscription(workspace, first.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_subscription(workspace, first.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.subscriptions(workspace).await.expect("reads"),
        vec![second]
    );
}

#[tokio::test]
async fn call_changes_enqueue_the_envelope_for_matching_subscriptions_only() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let other = tenant_with_subscription(&store).await;
    let workspace = tenant.access.workspace_id;
    let channel = tenant.channel.to_string();

    let everything = subscription(&tenant, 1, EventKind::VoiceInbound, &[]);
    let completed_here = subscription(
        &tenant,
        2,
        EventKind::VoiceInbound,
        &[("channelId", &channel), ("status", "completed")],
    );
    let outbound = subscription(&tenant, 3, EventKind::VoiceOutbound, &[]);
    let other_channel = subscription(
        &tenant,
        4,
        EventKind::VoiceInbound,
        &[("channelId", &other.channel.to_string())],
    );
    for hook in [&everything, &completed_here, &outbound, &other_channel] {
        store.insert_subscription(hook).await.expect("inserts");
    }

    let mut call = incoming(tenant.channel, 1, at(0));
    store
        .insert_call(workspace, &call, EventKind::VoiceInbound, at(100))
        .await
        .expect("inserts");
    let due = store.due_deliveries(at(100), 100).await.expect("reads");
    assert_eq!(due.len(), 1);
    let delivery = &due[0];
    assert_eq!(delivery.subscription_id, everything.id);
    assert_eq!(delivery.call_id, call.id);
    assert_eq!(delivery.url, everything.url);
    assert_eq!(delivery.signing_key, everything.signing_key);
    assert_eq!(delivery.attempts, 0);
    assert_eq!(delivery.created_at, at(100));
    assert_eq!(delivery.body, envelope(EventKind::VoiceInbound, &call));
    assert!(
        delivery.body.starts_with(&format!(
            r#"{{"service":"channels","event":"voice.inbound","payload":{{"id":"{}","#,
            call.id
        )),
        "{}",
        delivery.body
    );
    assert!(!format!("{delivery:?}").contains(&everything.signing_key));
    store
        .mark_delivered(delivery.id, at(101))
        .await
        .expect("delivers");

    // An update without an event enqueues nothing.
    call.status = CallStatus::Ongoing;
    store
        .update_call(workspace, &call, None, at(200))
        .await
        .expect("updates");
    assert_eq!(store.next_delivery_due().await.expect("reads"), None);

    // Completion matches the unfiltered and the completed-on-this-channel subscriptions.
    call.status = CallStatus::Completed;
    call.ended_at = Some(at(300));
    store
        .update_call(workspace, &call, Some(EventKind::VoiceInbound), at(300))
        .await
        .expect("updates");
    let due = store.due_deliveries(at(300), 100).await.expect("reads");
    let targets: Vec<SubscriptionId> = due.iter().map(|due| due.subscription_id).collect();
    assert_eq!(targets, vec![everything.id, completed_here.id]);
    let body = envelope(EventKind::VoiceInbound, &call);
    assert!(due.iter().all(|due| due.body == body));
    assert_ne!(due[0].id, due[1].id);

    // The other workspace's subscription never saw any of it.
    assert!(due.iter().all(|due| due.subscription_id != other.hook));
}

/// A second workspace with a catch-all inbound subscription.
struct OtherTenant {
    channel: ChannelId,
    hook: SubscriptionId,
}

async fn tenant_with_subscription(store: &Store) -> OtherTenant {
    let other = tenant(store, 50).await;
    let hook = subscription(&other, 50, EventKind::VoiceInbound, &[]);
    store.insert_subscription(&hook).await.expect("inserts");
    OtherTenant {
        channel: other.channel,
        hook: hook.id,
    }
}

#[tokio::test]
async fn only_the_head_of_each_queue_is_due() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let hook = subscription(&tenant, 1, EventKind::VoiceInbound, &[]);
    store.insert_subscription(&hook).await.expect("inserts");
    assert_eq!(store.next_delivery_due().await.expect("reads"), None);

    // Call one: two events (ringing, ongoing); call two: one event, enqueued in between.
    let mut first = incoming(tenant.channel, 1, at(0));
    store
        .insert_call(workspace, &first, EventKind::VoiceInbound, at(10))
        .await
        .expect("inserts");
    let second = incoming(tenant.channel, 2, at(0));
    store
        .insert_call(workspace, &second, EventKind::VoiceInbound, at(20))
        .await
        .expect("inserts");
    first.status = CallStatus::Ongoing;
    store
        .update_call(workspace, &first, Some(EventKind::VoiceInbound), at(30))
        .await
        .expect("updates");

    // Not yet due before it was enqueued.
    assert!(
        store
            .due_deliveries(at(9), 10)
            .await
            .expect("reads")
            .is_empty()
    );
    assert_eq!(
        store.next_delivery_due().await.expect("reads"),
        Some(at(10))
    );

    let due = store.due_deliveries(at(30), 10).await.expect("reads");
    let calls: Vec<CallId> = due.iter().map(|due| due.call_id).collect();
    assert_eq!(calls, vec![first.id, second.id]);
    let (first_starting, second_starting) = (due[0].clone(), due[1].clone());
    assert!(first_starting.body.contains(r#""status":"starting""#));

    // The limit takes the oldest.
    let limited = store.due_deliveries(at(30), 1).await.expect("reads");
    assert_eq!(limited, vec![first_starting.clone()]);

    // A rescheduled head holds back the event behind it.
    store
        .reschedule_delivery(first_starting.id, at(1_000), "HTTP 503")
        .await
        .expect("reschedules");
    assert_eq!(
        store.due_deliveries(at(999), 10).await.expect("reads"),
        vec![second_starting.clone()]
    );
    store
        .mark_delivered(second_starting.id, at(40))
        .await
        .expect("delivers");
    // The held-back event (enqueued at 30) does not count: the head is due at 1000.
    assert_eq!(
        store.next_delivery_due().await.expect("reads"),
        Some(at(1_000))
    );
    assert!(
        store
            .due_deliveries(at(999), 10)
            .await
            .expect("reads")
            .is_empty()
    );

    let retried = store.due_deliveries(at(1_000), 10).await.expect("reads");
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, first_starting.id);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].body, first_starting.body);

    // Dead: the next event of the queue goes.
    store
        .mark_dead(first_starting.id, at(1_000), "HTTP 410")
        .await
        .expect("gives up");
    let next = store.due_deliveries(at(1_000), 10).await.expect("reads");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].call_id, first.id);
    assert_eq!(next[0].attempts, 0);
    assert!(next[0].body.contains(r#""status":"ongoing""#));
    store
        .mark_delivered(next[0].id, at(1_001))
        .await
        .expect("delivers");
    assert_eq!(store.next_delivery_due().await.expect("reads"), None);
    assert!(
        store
            .due_deliveries(at(9_999), 10)
            .await
            .expect("reads")
            .is_empty()
    );

    // Finished deliveries do not change state any more.
    assert!(matches!(
        store.mark_delivered(first_starting.id, at(2_000)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .reschedule_delivery(second_starting.id, at(2_000), "late")
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_dead(next[0].id, at(2_000), "late").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_subscription_drops_its_pending_deliveries() {
    let store = memory().await;
    let tenant = tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let doomed = subscription(&tenant, 1, EventKind::VoiceInbound, &[]);
    let kept = subscription(&tenant, 2, EventKind::VoiceInbound, &[]);
    store.insert_subscription(&doomed).await.expect("inserts");
    store.insert_subscription(&kept).await.expect("inserts");
    let call = incoming(tenant.channel, 1, at(0));
    store
        .insert_call(workspace, &call, EventKind::VoiceInbound, at(0))
        .await
        .expect("inserts");
    let due = store.due_deliveries(at(0), 10).await.expect("reads");
    assert_eq!(due.len(), 2);

    store
        .delete_subscription(workspace, doomed.id)
        .await
        .expect("deletes");
    let remaining = store.due_deliveries(at(0), 10).await.expect("reads");
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].subscription_id, kept.id);
    // The dispatcher may still hold the deleted one: reporting on it is NotFound.
    let gone = due
        .iter()
        .find(|due| due.subscription_id == doomed.id)
        .expect("was due");
    assert!(matches!(
        store.mark_delivered(gone.id, at(1)).await,
        Err(StoreError::NotFound)
    ));
}

// Access keys and workspaces beyond the bootstrap.

fn key_id(seed: u32) -> AccessKeyId {
    AccessKeyId::from_parts(unix(i64::from(seed)), bytes(seed))
}

#[tokio::test]
async fn access_keys_are_listed_oldest_first_and_all_authenticate() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let other = tenant(&store, 2).await;
    let workspace = owner.access.workspace_id;
    let first_key = new_workspace(1, "secret-1").access_key_id;

    // Created out of age order: the listing still goes by creation time.
    store
        .create_access_key(workspace, key_id(30), "third-secret", at(30))
        .await
        .expect("creates");
    store
        .create_access_key(workspace, key_id(20), "second-secret", at(20))
        .await
        .expect("creates");

    let keys = store.access_keys(workspace).await.expect("reads");
    let expected = |id, created_at| AccessKeyInfo {
        id,
        workspace_id: workspace,
        created_at,
        revoked_at: None,
    };
    assert_eq!(
        keys,
        vec![
            expected(first_key, at(1)),
            expected(key_id(20), at(20)),
            expected(key_id(30), at(30)),
        ]
    );
    for secret in ["secret-1", "second-secret", "third-secret"] {
        assert_eq!(
            store.authenticate(secret).await.expect("reads"),
            Some(owner.access),
            "{secret}"
        );
    }
    // Another workspace lists only its own key; an unknown one lists none.
    let other_keys = store
        .access_keys(other.access.workspace_id)
        .await
        .expect("reads");
    assert_eq!(other_keys.len(), 1);
    assert_eq!(other_keys[0].workspace_id, other.access.workspace_id);
    let unknown = WorkspaceId::from_parts(unix(0), bytes(404));
    assert!(store.access_keys(unknown).await.expect("reads").is_empty());
}

#[tokio::test]
async fn creating_an_access_key_refuses_reused_ids_and_secrets_and_unknown_workspaces() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let workspace = owner.access.workspace_id;
    store
        .create_access_key(workspace, key_id(10), "fresh-secret", at(10))
        .await
        .expect("creates");

    assert!(matches!(
        store
            .create_access_key(workspace, key_id(10), "another-secret", at(11))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .create_access_key(workspace, key_id(11), "fresh-secret", at(11))
            .await,
        Err(StoreError::Conflict)
    ));
    let unknown = WorkspaceId::from_parts(unix(0), bytes(404));
    assert!(matches!(
        store
            .create_access_key(unknown, key_id(12), "orphan-secret", at(12))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.authenticate("another-secret").await.expect("reads"),
        None
    );
    assert_eq!(
        store.authenticate("orphan-secret").await.expect("reads"),
        None
    );
    assert_eq!(store.access_keys(workspace).await.expect("reads").len(), 2);
}

#[tokio::test]
async fn a_revoked_key_stops_authenticating_and_revoking_again_changes_nothing() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let workspace = owner.access.workspace_id;
    store
        .create_access_key(workspace, key_id(10), "second-secret", at(10))
        .await
        .expect("creates");

    store
        .revoke_access_key(workspace, key_id(10), at(100))
        .await
        .expect("revokes");
    assert_eq!(
        store.authenticate("second-secret").await.expect("reads"),
        None
    );
    assert_eq!(
        store.authenticate("secret-1").await.expect("reads"),
        Some(owner.access)
    );

    store
        .revoke_access_key(workspace, key_id(10), at(200))
        .await
        .expect("revoking again is fine");
    let keys = store.access_keys(workspace).await.expect("reads");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].revoked_at, None);
    assert_eq!(keys[1].id, key_id(10));
    assert_eq!(
        keys[1].revoked_at,
        Some(at(100)),
        "the first revocation stands"
    );

    let unknown_key = key_id(99);
    assert!(matches!(
        store
            .revoke_access_key(workspace, unknown_key, at(300))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_key_cannot_be_revoked_through_another_workspace() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let intruder = tenant(&store, 2).await;
    let owner_key = new_workspace(1, "secret-1").access_key_id;

    assert!(matches!(
        store
            .revoke_access_key(intruder.access.workspace_id, owner_key, at(100))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.authenticate("secret-1").await.expect("reads"),
        Some(owner.access)
    );
    let keys = store
        .access_keys(owner.access.workspace_id)
        .await
        .expect("reads");
    assert_eq!(keys[0].revoked_at, None);
}

#[tokio::test]
async fn workspaces_are_listed_oldest_first() {
    let store = memory().await;
    assert!(store.workspaces().await.expect("reads").is_empty());
    // Created out of age order (seeds are their creation offsets).
    for seed in [3, 1, 2] {
        store
            .create_workspace(&new_workspace(seed, &format!("secret-{seed}")))
            .await
            .expect("creates");
    }
    let listed: Vec<WorkspaceId> = store
        .workspaces()
        .await
        .expect("reads")
        .into_iter()
        .map(|access| access.workspace_id)
        .collect();
    let expected: Vec<WorkspaceId> = [1, 2, 3]
        .into_iter()
        .map(|seed| new_workspace(seed, "").workspace_id)
        .collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_workspace_can_be_created_in_an_existing_organization() {
    let store = memory().await;
    let first = tenant(&store, 1).await;
    let organization = first.access.organization_id;
    let workspace = WorkspaceId::from_parts(unix(50), bytes(50));

    store
        .create_workspace_in(organization, workspace, key_id(50), "joiner-secret", at(50))
        .await
        .expect("creates");
    let access = WorkspaceAccess {
        organization_id: organization,
        workspace_id: workspace,
    };
    assert_eq!(
        store.authenticate("joiner-secret").await.expect("reads"),
        Some(access)
    );
    assert_eq!(store.workspace(workspace).await.expect("reads"), access);
    assert_eq!(
        store.workspaces().await.expect("reads"),
        vec![first.access, access]
    );
    assert_eq!(
        store.access_keys(workspace).await.expect("reads"),
        vec![AccessKeyInfo {
            id: key_id(50),
            workspace_id: workspace,
            created_at: at(50),
            revoked_at: None,
        }]
    );
}

#[tokio::test]
async fn a_workspace_in_an_unknown_organization_is_not_found_and_nothing_is_created() {
    let store = memory().await;
    tenant(&store, 1).await;
    let unknown = OrganizationId::from_parts(unix(0), bytes(404));
    let workspace = WorkspaceId::from_parts(unix(50), bytes(50));

    assert!(matches!(
        store
            .create_workspace_in(unknown, workspace, key_id(50), "orphan-secret", at(50))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.workspace(workspace).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.authenticate("orphan-secret").await.expect("reads"),
        None
    );
    assert_eq!(store.workspaces().await.expect("reads").len(), 1);
}

#[tokio::test]
async fn a_workspace_in_an_organization_refuses_reused_ids_and_secrets_atomically() {
    let store = memory().await;
    let first = tenant(&store, 1).await;
    let organization = first.access.organization_id;

    // The workspace id is taken.
    assert!(matches!(
        store
            .create_workspace_in(
                organization,
                first.access.workspace_id,
                key_id(50),
                "new-secret",
                at(50)
            )
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.authenticate("new-secret").await.expect("reads"), None);

    // The secret is taken: the workspace inserted before the key is rolled back.
    let workspace = WorkspaceId::from_parts(unix(50), bytes(50));
    assert!(matches!(
        store
            .create_workspace_in(organization, workspace, key_id(51), "secret-1", at(50))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.workspace(workspace).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.workspaces().await.expect("reads"), vec![first.access]);
}

// Channels not declared in the configuration file.

#[tokio::test]
async fn created_channels_round_trip_and_are_listed_with_configured_ones() {
    let store = memory().await;
    let owner = tenant(&store, 1).await;
    let other = tenant(&store, 2).await;
    let workspace = owner.access.workspace_id;

    let full = spec("+3150000000");
    let bare = ChannelSpec {
        numbers: vec!["alice".to_owned()],
        ..ChannelSpec::default()
    };
    let first = store
        .create_channel(workspace, &full, at(100))
        .await
        .expect("creates");
    let second = store
        .create_channel(workspace, &bare, at(200))
        .await
        .expect("creates");
    assert_ne!(first, second);

    let stored = store.channel(workspace, first).await.expect("reads");
    assert_eq!(stored.id, first);
    assert_eq!(stored.workspace_id, workspace);
    assert_eq!(stored.numbers, full.numbers);
    assert_eq!(stored.trunk, full.trunk);
    assert_eq!(stored.trunk_username, full.trunk_username);
    assert_eq!(stored.trunk_password, full.trunk_password);
    assert_eq!(stored.call_flow, full.call_flow);
    assert_eq!((stored.created_at, stored.updated_at), (at(100), at(100)));
    let stored_bare = store.channel(workspace, second).await.expect("reads");
    assert_eq!(stored_bare.numbers, bare.numbers);
    assert_eq!(stored_bare.trunk, None);
    assert_eq!(stored_bare.call_flow, None);

    // Re-applying the configuration (position 0) touches neither created channel.
    store
        .upsert_config_channel(workspace, 0, &spec("+3160000000"), at(300))
        .await
        .expect("upserts");
    assert_eq!(
        store.channel(workspace, first).await.expect("reads"),
        stored
    );

    let listed: Vec<ChannelId> = store
        .channels(workspace)
        .await
        .expect("reads")
        .into_iter()
        .map(|channel| channel.id)
        .collect();
    assert_eq!(listed, vec![owner.channel, first, second]);
    let others: Vec<ChannelId> = store
        .channels(other.access.workspace_id)
        .await
        .expect("reads")
        .into_iter()
        .map(|channel| channel.id)
        .collect();
    assert_eq!(others, vec![other.channel]);
    assert_eq!(store.all_channels().await.expect("reads").len(), 4);

    // Calls work on a created channel like on a configured one.
    let call = incoming(first, 1, at(400));
    store
        .insert_call(workspace, &call, EventKind::VoiceInbound, at(400))
        .await
        .expect("inserts");
    assert_eq!(
        store.call(workspace, first, call.id).await.expect("reads"),
        call
    );
}

#[tokio::test]
async fn creating_a_channel_in_an_unknown_workspace_is_not_found() {
    let store = memory().await;
    let unknown = WorkspaceId::from_parts(unix(0), bytes(404));
    assert!(matches!(
        store.create_channel(unknown, &spec("+31"), at(0)).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.channels(unknown).await.expect("reads").is_empty());
    assert!(store.all_channels().await.expect("reads").is_empty());
}

// Dead letters and replay.

/// A tenant with one catch-all inbound subscription.
async fn subscribed_tenant(store: &Store, seed: u32) -> (Tenant, WebhookSubscription) {
    let tenant = tenant(store, seed).await;
    let hook = subscription(&tenant, seed, EventKind::VoiceInbound, &[]);
    store.insert_subscription(&hook).await.expect("inserts");
    (tenant, hook)
}

/// Inserts a new incoming call at `now` (enqueuing its one delivery) and returns the call and
/// that delivery's id.
async fn call_with_delivery(
    store: &Store,
    tenant: &Tenant,
    seed: u32,
    now: Timestamp,
) -> (Call, EventId) {
    let call = incoming(tenant.channel, seed, now);
    store
        .insert_call(
            tenant.access.workspace_id,
            &call,
            EventKind::VoiceInbound,
            now,
        )
        .await
        .expect("inserts");
    let due = store.due_deliveries(now, 1000).await.expect("reads");
    let delivery = due
        .iter()
        .find(|due| due.call_id == call.id)
        .expect("its delivery is due");
    (call, delivery.id)
}

fn ids(page: &[DeliveryRecord]) -> Vec<EventId> {
    page.iter().map(|record| record.id).collect()
}

#[tokio::test]
async fn deliveries_are_listed_by_state_with_their_progress() {
    let store = memory().await;
    let (tenant, hook) = subscribed_tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let (delivered_call, delivered) = call_with_delivery(&store, &tenant, 1, at(10)).await;
    let (dead_call, dead) = call_with_delivery(&store, &tenant, 2, at(20)).await;
    let (retried_call, retried) = call_with_delivery(&store, &tenant, 3, at(30)).await;
    let (_, fresh) = call_with_delivery(&store, &tenant, 4, at(40)).await;

    store
        .mark_delivered(delivered, at(11))
        .await
        .expect("delivers");
    store
        .reschedule_delivery(dead, at(25), "HTTP 503")
        .await
        .expect("reschedules");
    store
        .mark_dead(dead, at(26), "HTTP 410")
        .await
        .expect("gives up");
    store
        .reschedule_delivery(retried, at(1_000), "timeout")
        .await
        .expect("reschedules");

    let list = |state| {
        let store = store.clone();
        async move {
            store
                .deliveries(workspace, state, 100, None)
                .await
                .expect("lists")
        }
    };

    let delivered_page = list(DeliveryState::Delivered).await;
    assert_eq!(delivered_page.next_page_token, None);
    assert_eq!(
        delivered_page.results,
        vec![DeliveryRecord {
            id: delivered,
            subscription_id: hook.id,
            call_id: delivered_call.id,
            state: DeliveryState::Delivered,
            attempts: 1,
            created_at: at(10),
            next_attempt_at: None,
            delivered_at: Some(at(11)),
            dead_at: None,
            last_error: None,
        }]
    );

    let dead_page = list(DeliveryState::Dead).await;
    assert_eq!(
        dead_page.results,
        vec![DeliveryRecord {
            id: dead,
            subscription_id: hook.id,
            call_id: dead_call.id,
            state: DeliveryState::Dead,
            attempts: 2,
            created_at: at(20),
            next_attempt_at: None,
            delivered_at: None,
            dead_at: Some(at(26)),
            last_error: Some("HTTP 410".to_owned()),
        }]
    );

    // Pending: newest first, each with when it is due.
    let pending_page = list(DeliveryState::Pending).await;
    assert_eq!(ids(&pending_page.results), vec![fresh, retried]);
    assert_eq!(
        pending_page.results[1],
        DeliveryRecord {
            id: retried,
            subscription_id: hook.id,
            call_id: retried_call.id,
            state: DeliveryState::Pending,
            attempts: 1,
            created_at: at(30),
            next_attempt_at: Some(at(1_000)),
            delivered_at: None,
            dead_at: None,
            last_error: Some("timeout".to_owned()),
        }
    );
    assert_eq!(pending_page.results[0].next_attempt_at, Some(at(40)));
    assert_eq!(pending_page.results[0].attempts, 0);
    assert_eq!(pending_page.results[0].last_error, None);
}

#[tokio::test]
async fn deliveries_page_newest_first_without_duplicates() {
    let store = memory().await;
    let (tenant, _) = subscribed_tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let mut expected = Vec::new();
    for seed in 0..25_u32 {
        // Pairs share an enqueue time, so the id breaks ties.
        let enqueued_at = at(i64::from(seed / 2));
        let (_, id) = call_with_delivery(&store, &tenant, seed, enqueued_at).await;
        store
            .mark_dead(id, at(5_000), "HTTP 500")
            .await
            .expect("gives up");
        expected.push((enqueued_at, id));
    }
    expected.sort_by_key(|&(enqueued_at, id)| std::cmp::Reverse((enqueued_at, id)));
    let expected: Vec<EventId> = expected.into_iter().map(|(_, id)| id).collect();

    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .deliveries(workspace, DeliveryState::Dead, 10, token.as_deref())
            .await
            .expect("lists");
        sizes.push(page.results.len());
        listed.extend(ids(&page.results));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(listed, expected);
    let distinct: HashSet<EventId> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), 25);

    // Exactly `limit` deliveries: one page, no token. None in a state: an empty last page.
    let whole = store
        .deliveries(workspace, DeliveryState::Dead, 25, None)
        .await
        .expect("lists");
    assert_eq!(whole.results.len(), 25);
    assert_eq!(whole.next_page_token, None);
    let none = store
        .deliveries(workspace, DeliveryState::Delivered, 10, None)
        .await
        .expect("lists");
    assert!(none.results.is_empty());
    assert_eq!(none.next_page_token, None);
}

#[tokio::test]
async fn garbage_delivery_page_tokens_are_invalid() {
    let store = memory().await;
    let (tenant, _) = subscribed_tenant(&store, 1).await;
    for token in ["", "not a token", "W10", "WzEsIm5vdC1hLXV1aWQiXQ"] {
        let result = store
            .deliveries(
                tenant.access.workspace_id,
                DeliveryState::Dead,
                10,
                Some(token),
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "{token:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_replayed_delivery_is_pending_and_due_now_under_the_same_id() {
    let store = memory().await;
    let (tenant, hook) = subscribed_tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let (call, id) = call_with_delivery(&store, &tenant, 1, at(10)).await;
    let body = store.due_deliveries(at(10), 10).await.expect("reads")[0]
        .body
        .clone();
    store
        .reschedule_delivery(id, at(20), "HTTP 503")
        .await
        .expect("reschedules");
    store
        .mark_dead(id, at(30), "connection failed")
        .await
        .expect("gives up");
    assert!(
        store
            .due_deliveries(at(1_000_000), 10)
            .await
            .expect("reads")
            .is_empty()
    );

    let replayed = store
        .replay_delivery(workspace, id, at(50_000))
        .await
        .expect("replays");
    let expected = DeliveryRecord {
        id,
        subscription_id: hook.id,
        call_id: call.id,
        state: DeliveryState::Pending,
        attempts: 0,
        created_at: at(50_000),
        next_attempt_at: Some(at(50_000)),
        delivered_at: None,
        dead_at: None,
        last_error: Some("connection failed".to_owned()),
    };
    assert_eq!(replayed, expected);

    // The dispatcher sees it again: same id and body, a fresh retry window.
    assert!(
        store
            .due_deliveries(at(49_999), 10)
            .await
            .expect("reads")
            .is_empty()
    );
    assert_eq!(
        store.next_delivery_due().await.expect("reads"),
        Some(at(50_000))
    );
    let due = store.due_deliveries(at(50_000), 10).await.expect("reads");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, id);
    assert_eq!(due[0].body, body);
    assert_eq!(due[0].url, hook.url);
    assert_eq!(due[0].attempts, 0);
    assert_eq!(due[0].created_at, at(50_000));

    // It moved from the dead list to the pending one.
    let dead = store
        .deliveries(workspace, DeliveryState::Dead, 10, None)
        .await
        .expect("lists");
    assert!(dead.results.is_empty());
    let pending = store
        .deliveries(workspace, DeliveryState::Pending, 10, None)
        .await
        .expect("lists");
    assert_eq!(pending.results, vec![expected]);

    // And it can be delivered like any other.
    store
        .mark_delivered(id, at(50_001))
        .await
        .expect("delivers");
    let delivered = store
        .deliveries(workspace, DeliveryState::Delivered, 10, None)
        .await
        .expect("lists");
    assert_eq!(delivered.results[0].attempts, 1);
    assert_eq!(delivered.results[0].delivered_at, Some(at(50_001)));
}

#[tokio::test]
async fn only_a_dead_delivery_of_the_workspace_can_be_replayed() {
    let store = memory().await;
    let (owner, _) = subscribed_tenant(&store, 1).await;
    let (intruder, _) = subscribed_tenant(&store, 2).await;
    let workspace = owner.access.workspace_id;
    let (_, pending) = call_with_delivery(&store, &owner, 1, at(10)).await;
    let (_, delivered) = call_with_delivery(&store, &owner, 2, at(20)).await;
    let (_, dead) = call_with_delivery(&store, &owner, 3, at(30)).await;
    store
        .mark_delivered(delivered, at(21))
        .await
        .expect("delivers");
    store
        .mark_dead(dead, at(31), "HTTP 404")
        .await
        .expect("gives up");

    let unknown = EventId::from_parts(unix(0), bytes(404));
    for (name, workspace, id) in [
        ("pending", workspace, pending),
        ("delivered", workspace, delivered),
        ("unknown", workspace, unknown),
        ("another workspace's", intruder.access.workspace_id, dead),
    ] {
        assert!(
            matches!(
                store.replay_delivery(workspace, id, at(100)).await,
                Err(StoreError::NotFound)
            ),
            "{name}"
        );
    }
    // The intruder's attempt changed nothing.
    let still_dead = store
        .deliveries(workspace, DeliveryState::Dead, 10, None)
        .await
        .expect("lists");
    assert_eq!(ids(&still_dead.results), vec![dead]);
    assert_eq!(still_dead.results[0].dead_at, Some(at(31)));

    store
        .replay_delivery(workspace, dead, at(100))
        .await
        .expect("replays");
    assert!(matches!(
        store.replay_delivery(workspace, dead, at(101)).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_replayed_delivery_takes_back_its_place_in_its_queue() {
    let store = memory().await;
    let (tenant, _) = subscribed_tenant(&store, 1).await;
    let workspace = tenant.access.workspace_id;
    let (mut call, first_event) = call_with_delivery(&store, &tenant, 1, at(10)).await;
    call.status = CallStatus::Ongoing;
    store
        .update_call(workspace, &call, Some(EventKind::VoiceInbound), at(20))
        .await
        .expect("updates");
    store
        .mark_dead(first_event, at(30), "HTTP 500")
        .await
        .expect("gives up");
    let second_event = store.due_deliveries(at(30), 10).await.expect("reads")[0].id;
    assert_ne!(second_event, first_event);

    // Replayed while the later event is still pending: the replayed one goes first.
    store
        .replay_delivery(workspace, first_event, at(40))
        .await
        .expect("replays");
    assert_eq!(
        store
            .due_deliveries(at(40), 10)
            .await
            .expect("reads")
            .iter()
            .map(|due| due.id)
            .collect::<Vec<_>>(),
        vec![first_event]
    );
    store
        .mark_delivered(first_event, at(41))
        .await
        .expect("delivers");
    assert_eq!(
        store.due_deliveries(at(41), 10).await.expect("reads")[0].id,
        second_event
    );
}

#[tokio::test]
async fn another_workspace_sees_none_of_the_keys_channels_and_deliveries() {
    let store = memory().await;
    let (owner, _) = subscribed_tenant(&store, 1).await;
    let (intruder, _) = subscribed_tenant(&store, 2).await;
    let own = owner.access.workspace_id;
    let foreign = intruder.access.workspace_id;
    store
        .create_channel(own, &spec("+3170000000"), at(5))
        .await
        .expect("creates");
    let (_, dead) = call_with_delivery(&store, &owner, 1, at(10)).await;
    store
        .mark_dead(dead, at(11), "HTTP 500")
        .await
        .expect("gives up");
    let (_, pending) = call_with_delivery(&store, &owner, 2, at(20)).await;
    let (_, intruders_own) = call_with_delivery(&store, &intruder, 3, at(30)).await;

    let foreign_channels: Vec<WorkspaceId> = store
        .channels(foreign)
        .await
        .expect("reads")
        .into_iter()
        .map(|channel| channel.workspace_id)
        .collect();
    assert_eq!(foreign_channels, vec![foreign]);
    assert!(
        store
            .access_keys(foreign)
            .await
            .expect("reads")
            .iter()
            .all(|key| key.workspace_id == foreign)
    );
    let mut seen = Vec::new();
    for state in DeliveryState::ALL {
        let page = store
            .deliveries(foreign, state, 100, None)
            .await
            .expect("lists");
        seen.extend(ids(&page.results));
    }
    assert_eq!(seen, vec![intruders_own]);
    assert!(!seen.contains(&dead) && !seen.contains(&pending));
    // The owner's own view is intact.
    let dead_page = store
        .deliveries(own, DeliveryState::Dead, 100, None)
        .await
        .expect("lists");
    assert_eq!(ids(&dead_page.results), vec![dead]);
    assert_eq!(store.channels(own).await.expect("reads").len(), 2);
}

// A database file.

/// A fresh directory under the system temp dir, removed on drop.
struct TempDirectory(PathBuf);

impl TempDirectory {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "warbler-store-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&path).expect("creates temp dir");
        Self(path)
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_database_file_keeps_its_data_across_opens() {
    let directory = TempDirectory::new();
    let tenant_access;
    let call;
    {
        let store = Store::open(&directory.0).await.expect("opens");
        assert!(store.is_empty().await.expect("reads"));
        let tenant = tenant(&store, 1).await;
        call = full_call(tenant.channel);
        store
            .insert_call(
                tenant.access.workspace_id,
                &call,
                EventKind::VoiceOutbound,
                at(0),
            )
            .await
            .expect("inserts");
        tenant_access = (tenant.access, tenant.channel);
    }
    assert!(directory.0.join("warbler.db").is_file());

    // Reopening runs the (already applied) migrations again and finds everything.
    let store = Store::open(&directory.0).await.expect("reopens");
    assert!(!store.is_empty().await.expect("reads"));
    let (access, channel) = tenant_access;
    assert_eq!(
        store.authenticate("secret-1").await.expect("reads"),
        Some(access)
    );
    assert_eq!(
        store
            .call(access.workspace_id, channel, call.id)
            .await
            .expect("reads"),
        call
    );
    // WAL mode shows up as the -wal file next to the database while it is open.
    assert!(directory.0.join("warbler.db-wal").is_file());
}
