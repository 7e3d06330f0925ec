//! Behaviour of the store through its public API, on in-memory databases (and one file).

use std::collections::HashSet;
use std::path::PathBuf;

use warbler_model::{
    AccessKeyId, Call, CallFlowId, CallId, CallStatus, CallType, ChannelId, CommandId, CommandName,
    CommandRecord, CommandStatus, Condition, ConditionOperator, ConditionVariable, Direction,
    EventFilter, EventKind, FlowRecord, HangupSource, NumberIdentifier, OrganizationId,
    PartyIdentifier, SubscriptionId, Timestamp, WebhookEnvelope, WebhookService,
    WebhookSubscription, WorkspaceId, q850,
};
use warbler_store::{ChannelSpec, NewWorkspace, Store, StoreError, WorkspaceAccess};

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
