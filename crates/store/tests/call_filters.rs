//! The filtered call lists (`Store::list_calls_filtered`): each filter alone and combined, on one
//! channel's list and on the workspace calls log, page by page, scoped by workspace.

use warbler_model::request::CallListQuery;
use warbler_model::{
    AccessKeyId, Call, CallId, CallStatus, CallType, ChannelId, Direction, EventKind,
    OrganizationId, Timestamp, WorkspaceId,
};
use warbler_store::{ChannelSpec, NewWorkspace, Page, Store, StoreError};

const START: i64 = 1_732_212_155_550;

fn at(offset: i64) -> Timestamp {
    Timestamp::from_unix_millis(START + offset)
}

fn bytes(workspace_seed: u8, seed: u32) -> [u8; 10] {
    let mut random = [workspace_seed; 10];
    random[6..].copy_from_slice(&seed.to_be_bytes());
    random
}

/// A workspace with two channels and twelve calls spread over them with every filtered field
/// varied.
struct Tenant {
    workspace: WorkspaceId,
    first_channel: ChannelId,
    second_channel: ChannelId,
    calls: Vec<Call>,
}

/// The `seed`th call: its fields cycle with different periods so that filters combine in
/// every way.
fn varied_call(workspace_seed: u8, seed: u32, first: ChannelId, second: ChannelId) -> Call {
    // Pairs share a creation time, so the id breaks ties.
    let created_at = at(i64::from(seed / 2) * 1000);
    let channel = if seed % 3 == 2 { second } else { first };
    let millis = u64::try_from(created_at.unix_millis()).expect("positive");
    let mut call = Call::incoming(
        CallId::from_parts(millis, bytes(workspace_seed, seed)),
        channel,
        if seed.is_multiple_of(5) {
            "bob"
        } else {
            "alice"
        }
        .to_owned(),
        format!("100{}", seed % 4),
        created_at,
    );
    call.direction = if seed.is_multiple_of(2) {
        Direction::Incoming
    } else {
        Direction::Outgoing
    };
    call.status = [
        CallStatus::Completed,
        CallStatus::Ongoing,
        CallStatus::NoAnswer,
        CallStatus::Busy,
    ][usize::try_from(seed % 4).expect("small")];
    call.kind = [CallType::Sip, CallType::Pstn, CallType::Webrtc]
        [usize::try_from((seed / 2) % 3).expect("small")];
    call.tags = match seed % 4 {
        0 => vec!["vip".to_owned()],
        1 => vec!["vip".to_owned(), "eu".to_owned()],
        2 => vec!["eu".to_owned()],
        _ => Vec::new(),
    };
    if call.status.is_terminal() {
        call.duration = Some(u64::from(seed % 3) * 10);
    }
    call
}

async fn tenant(store: &Store, seed: u8) -> Tenant {
    let workspace = WorkspaceId::from_parts(1, [seed; 10]);
    store
        .create_workspace(&NewWorkspace {
            organization_id: OrganizationId::from_parts(1, [seed; 10]),
            workspace_id: workspace,
            access_key_id: AccessKeyId::from_parts(1, [seed; 10]),
            access_key_secret: format!("secret-{seed}"),
            created_at: at(0),
        })
        .await
        .expect("workspace");
    let mut channels = Vec::new();
    for position in 0..2 {
        channels.push(
            store
                .upsert_config_channel(workspace, position, &ChannelSpec::default(), at(0))
                .await
                .expect("channel"),
        );
    }
    let (first_channel, second_channel) = (channels[0], channels[1]);
    let mut calls = Vec::new();
    for call_seed in 0..12 {
        let call = varied_call(seed, call_seed, first_channel, second_channel);
        store
            .insert_call(workspace, &call, EventKind::VoiceInbound, call.created_at)
            .await
            .expect("call");
        calls.push(call);
    }
    Tenant {
        workspace,
        first_channel,
        second_channel,
        calls,
    }
}

/// Every page of a listing, followed to the end.
async fn every_page(
    store: &Store,
    workspace: WorkspaceId,
    channel: Option<ChannelId>,
    query: &CallListQuery,
) -> Vec<Page<Call>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = store
            .list_calls_filtered(workspace, channel, &query)
            .await
            .expect("lists");
        let next = page.next_page_token.clone();
        pages.push(page);
        match next {
            Some(token) => query.page_token = Some(token),
            None => return pages,
        }
    }
}

type Case = (
    &'static str,
    CallListQuery,
    Box<dyn Fn(&Call, &Tenant) -> bool>,
);

fn cases(tenant: &Tenant) -> Vec<Case> {
    let query = CallListQuery::default;
    let picked = tenant.calls[5].id;
    let second = tenant.second_channel;
    vec![
        ("no filter", query(), Box::new(|_, _| true)),
        (
            "one status",
            CallListQuery {
                statuses: vec![CallStatus::Completed],
                ..query()
            },
            Box::new(|call, _| call.status == CallStatus::Completed),
        ),
        (
            "two statuses",
            CallListQuery {
                statuses: vec![CallStatus::Completed, CallStatus::Busy, CallStatus::Busy],
                ..query()
            },
            Box::new(|call, _| matches!(call.status, CallStatus::Completed | CallStatus::Busy)),
        ),
        (
            "one type",
            CallListQuery {
                types: vec![CallType::Pstn],
                ..query()
            },
            Box::new(|call, _| call.kind == CallType::Pstn),
        ),
        (
            "two types",
            CallListQuery {
                types: vec![CallType::Sip, CallType::Webrtc],
                ..query()
            },
            Box::new(|call, _| call.kind != CallType::Pstn),
        ),
        (
            "direction",
            CallListQuery {
                directions: vec![Direction::Outgoing],
                ..query()
            },
            Box::new(|call, _| call.direction == Direction::Outgoing),
        ),
        (
            "to",
            CallListQuery {
                to: Some("1002".to_owned()),
                ..query()
            },
            Box::new(|call, _| call.to == "1002"),
        ),
        (
            "from",
            CallListQuery {
                from: Some("bob".to_owned()),
                ..query()
            },
            Box::new(|call, _| call.from == "bob"),
        ),
        (
            "startAt (inclusive)",
            CallListQuery {
                start_at: Some(at(2000)),
                ..query()
            },
            Box::new(|call, _| call.created_at >= at(2000)),
        ),
        (
            "endAt (inclusive)",
            CallListQuery {
                end_at: Some(at(3000)),
                ..query()
            },
            Box::new(|call, _| call.created_at <= at(3000)),
        ),
        (
            "startAt and endAt",
            CallListQuery {
                start_at: Some(at(1000)),
                end_at: Some(at(3000)),
                ..query()
            },
            Box::new(|call, _| (at(1000)..=at(3000)).contains(&call.created_at)),
        ),
        (
            "one tag",
            CallListQuery {
                tags: vec!["eu".to_owned()],
                ..query()
            },
            Box::new(|call, _| call.tags.contains(&"eu".to_owned())),
        ),
        (
            "any of two tags",
            CallListQuery {
                tags: vec!["vip".to_owned(), "nothing".to_owned()],
                ..query()
            },
            Box::new(|call, _| call.tags.contains(&"vip".to_owned())),
        ),
        (
            "a tag no call has",
            CallListQuery {
                tags: vec!["nothing".to_owned()],
                ..query()
            },
            Box::new(|_, _| false),
        ),
        (
            "one channel id",
            CallListQuery {
                channel_ids: vec![second],
                ..query()
            },
            Box::new(|call, tenant| call.channel_id == tenant.second_channel),
        ),
        (
            "two channel ids",
            CallListQuery {
                channel_ids: vec![tenant.first_channel, second],
                ..query()
            },
            Box::new(|_, _| true),
        ),
        (
            "id",
            CallListQuery {
                id: Some(picked),
                ..query()
            },
            Box::new(move |call, _| call.id == picked),
        ),
        (
            "duration",
            CallListQuery {
                duration: Some(10),
                ..query()
            },
            Box::new(|call, _| call.duration == Some(10)),
        ),
        (
            "duration zero (never matches a live call)",
            CallListQuery {
                duration: Some(0),
                ..query()
            },
            Box::new(|call, _| call.duration == Some(0)),
        ),
        (
            "statuses, direction and tag",
            CallListQuery {
                statuses: vec![CallStatus::Completed, CallStatus::NoAnswer],
                directions: vec![Direction::Incoming],
                tags: vec!["vip".to_owned()],
                ..query()
            },
            Box::new(|call, _| {
                matches!(call.status, CallStatus::Completed | CallStatus::NoAnswer)
                    && call.direction == Direction::Incoming
                    && call.tags.contains(&"vip".to_owned())
            }),
        ),
        (
            "type, to, startAt and channel id",
            CallListQuery {
                types: vec![CallType::Sip, CallType::Pstn],
                to: Some("1000".to_owned()),
                start_at: Some(at(1000)),
                channel_ids: vec![tenant.first_channel],
                ..query()
            },
            Box::new(|call, tenant| {
                call.kind != CallType::Webrtc
                    && call.to == "1000"
                    && call.created_at >= at(1000)
                    && call.channel_id == tenant.first_channel
            }),
        ),
        (
            "from and duration",
            CallListQuery {
                from: Some("alice".to_owned()),
                duration: Some(20),
                ..query()
            },
            Box::new(|call, _| call.from == "alice" && call.duration == Some(20)),
        ),
    ]
}

#[tokio::test]
async fn every_filter_alone_and_combined_on_both_lists_page_by_page() {
    let store = Store::open_in_memory().await.expect("opens");
    // Another workspace with calls of the very same shapes: listing one of them would break
    // the equalities below.
    tenant(&store, 2).await;
    let tenant = tenant(&store, 1).await;
    let mut newest_first = tenant.calls.clone();
    newest_first.sort_by_key(|call| std::cmp::Reverse((call.created_at, call.id)));

    for (name, query, keeps) in cases(&tenant) {
        for channel in [
            None,
            Some(tenant.first_channel),
            Some(tenant.second_channel),
        ] {
            let expected: Vec<Call> = newest_first
                .iter()
                .filter(|call| channel.is_none_or(|channel| call.channel_id == channel))
                .filter(|call| keeps(call, &tenant))
                .cloned()
                .collect();
            let context = format!("{name}, channel {channel:?}");

            let whole = store
                .list_calls_filtered(
                    tenant.workspace,
                    channel,
                    &CallListQuery {
                        limit: 1000,
                        ..query.clone()
                    },
                )
                .await
                .expect("lists");
            assert_eq!(whole.results, expected, "{context}");
            assert_eq!(whole.next_page_token, None, "{context}");

            // Two at a time: the same calls, in the same order, the token keeping the filters.
            let pages = every_page(
                &store,
                tenant.workspace,
                channel,
                &CallListQuery {
                    limit: 2,
                    ..query.clone()
                },
            )
            .await;
            let listed: Vec<Call> = pages.iter().flat_map(|page| page.results.clone()).collect();
            assert_eq!(listed, expected, "{context}, two per page");
            assert_eq!(
                pages.len(),
                expected.len().div_ceil(2).max(1),
                "{context}: pages"
            );
            assert!(
                pages.iter().all(|page| page.results.len() <= 2),
                "{context}"
            );
        }
    }
}

#[tokio::test]
async fn the_workspace_log_and_channel_ids_stay_in_their_workspace() {
    let store = Store::open_in_memory().await.expect("opens");
    let owner = tenant(&store, 1).await;
    let intruder = tenant(&store, 2).await;

    let log = store
        .list_calls_filtered(
            intruder.workspace,
            None,
            &CallListQuery {
                limit: 1000,
                ..CallListQuery::default()
            },
        )
        .await
        .expect("lists");
    assert_eq!(log.results.len(), intruder.calls.len());
    assert!(log.results.iter().all(|call| intruder.calls.contains(call)));

    // Naming the owner's channels or call in the intruder's log finds nothing.
    for query in [
        CallListQuery {
            channel_ids: vec![owner.first_channel, owner.second_channel],
            ..CallListQuery::default()
        },
        CallListQuery {
            id: Some(owner.calls[0].id),
            ..CallListQuery::default()
        },
    ] {
        let page = store
            .list_calls_filtered(intruder.workspace, None, &query)
            .await
            .expect("lists");
        assert!(page.results.is_empty(), "{query:?}");
    }
    // The owner's channel under the intruder's workspace is not found, whatever the filters.
    for query in [
        CallListQuery::default(),
        CallListQuery {
            statuses: vec![CallStatus::Completed],
            ..CallListQuery::default()
        },
    ] {
        assert!(matches!(
            store
                .list_calls_filtered(intruder.workspace, Some(owner.first_channel), &query)
                .await,
            Err(StoreError::NotFound)
        ));
    }
    // A page token of one workspace's list reveals nothing in another's.
    let first_page = store
        .list_calls_filtered(
            owner.workspace,
            None,
            &CallListQuery {
                limit: 1,
                ..CallListQuery::default()
            },
        )
        .await
        .expect("lists");
    let token = first_page.next_page_token.expect("more pages");
    let page = store
        .list_calls_filtered(
            intruder.workspace,
            None,
            &CallListQuery {
                limit: 1000,
                page_token: Some(token),
                ..CallListQuery::default()
            },
        )
        .await
        .expect("lists");
    assert!(
        page.results
            .iter()
            .all(|call| intruder.calls.contains(call))
    );
}

#[tokio::test]
async fn garbage_tokens_are_invalid_with_filters_too() {
    let store = Store::open_in_memory().await.expect("opens");
    let tenant = tenant(&store, 1).await;
    for channel in [None, Some(tenant.first_channel)] {
        let result = store
            .list_calls_filtered(
                tenant.workspace,
                channel,
                &CallListQuery {
                    page_token: Some("not a token".to_owned()),
                    statuses: vec![CallStatus::Completed],
                    ..CallListQuery::default()
                },
            )
            .await;
        assert!(matches!(result, Err(StoreError::InvalidPageToken)));
    }
}

#[tokio::test]
async fn an_updated_call_is_filtered_by_its_new_values() {
    let store = Store::open_in_memory().await.expect("opens");
    let tenant = tenant(&store, 1).await;
    // Call 1 is ongoing: no duration yet, tags vip and eu.
    let mut call = tenant.calls[1].clone();
    assert_eq!(call.duration, None);
    let by_duration = CallListQuery {
        duration: Some(42),
        ..CallListQuery::default()
    };
    let by_tag = CallListQuery {
        tags: vec!["vip".to_owned()],
        to: Some(call.to.clone()),
        id: Some(call.id),
        ..CallListQuery::default()
    };
    let list = |query: CallListQuery| {
        let store = store.clone();
        let workspace = tenant.workspace;
        async move {
            store
                .list_calls_filtered(workspace, None, &query)
                .await
                .expect("lists")
                .results
        }
    };
    assert!(list(by_duration.clone()).await.is_empty());
    assert_eq!(list(by_tag.clone()).await, vec![call.clone()]);

    call.status = CallStatus::Completed;
    call.duration = Some(42);
    call.tags = vec!["support".to_owned()];
    call.to = "2000".to_owned();
    call.from = "carol".to_owned();
    call.kind = CallType::Webrtc;
    store
        .update_call(tenant.workspace, &call, None, at(50_000))
        .await
        .expect("updates");

    assert_eq!(list(by_duration).await, vec![call.clone()]);
    assert!(list(by_tag).await.is_empty());
    let by_new_values = CallListQuery {
        tags: vec!["support".to_owned()],
        to: Some("2000".to_owned()),
        from: Some("carol".to_owned()),
        types: vec![CallType::Webrtc],
        statuses: vec![CallStatus::Completed],
        ..CallListQuery::default()
    };
    assert_eq!(list(by_new_values).await, vec![call]);
}

#[tokio::test]
async fn list_calls_is_the_unfiltered_channel_list() {
    let store = Store::open_in_memory().await.expect("opens");
    let tenant = tenant(&store, 1).await;
    let query = CallListQuery {
        limit: 3,
        ..CallListQuery::default()
    };
    let filtered = store
        .list_calls_filtered(tenant.workspace, Some(tenant.first_channel), &query)
        .await
        .expect("lists");
    let plain = store
        .list_calls(tenant.workspace, tenant.first_channel, 3, None)
        .await
        .expect("lists");
    assert_eq!(plain, filtered);
    let token = plain.next_page_token.expect("more pages");
    let next_plain = store
        .list_calls(tenant.workspace, tenant.first_channel, 3, Some(&token))
        .await
        .expect("lists");
    let next_filtered = store
        .list_calls_filtered(
            tenant.workspace,
            Some(tenant.first_channel),
            &CallListQuery {
                page_token: Some(token),
                ..query
            },
        )
        .await
        .expect("lists");
    assert_eq!(next_plain, next_filtered);
}
