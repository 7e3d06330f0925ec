//! Calls, stored as the JSON the API shows plus indexed columns.

use serde::Deserialize;
use sqlx::{QueryBuilder, Sqlite};
use warbler_model::request::CallListQuery;
use warbler_model::{
    Call, CallId, CallNotification, CallStatus, CallType, ChannelId, Direction, EventKind,
    FlowRecord, HangupSource, PartyIdentifier, Timestamp, WorkspaceId,
};

use crate::error::{CorruptRow, decode_id, decode_json, encode_json, write_error};
use crate::page::Cursor;
use crate::{Page, Store, StoreError, millis};

const TABLE: &str = "calls";

/// The statuses after which a call never changes ([`CallStatus::is_terminal`]), as stored, as an
/// SQL list (a macro, to be `concat!`ed into a static query).
macro_rules! terminal_statuses {
    () => {
        "('completed', 'no-answer', 'busy', 'failed', 'cancelled')"
    };
}

/// A call as stored in `calls.body`: mirrors [`Call`]'s JSON (the model only serializes it).
/// Every field of `Call` appears here, so a field added to the model breaks this conversion at
/// compile time rather than being silently dropped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallRow {
    id: CallId,
    channel_id: ChannelId,
    from: String,
    to: String,
    originator: PartyIdentifier,
    receiver: PartyIdentifier,
    parent_id: Option<CallId>,
    direction: Direction,
    status: CallStatus,
    reason: Option<String>,
    #[serde(rename = "type")]
    kind: CallType,
    duration: Option<u64>,
    hangup_cause_code: Option<u16>,
    hangup_source: Option<HangupSource>,
    hangup_sip_code: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    ringing_at: Option<Timestamp>,
    answered_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    scheduled_for: Option<Timestamp>,
    call_flow: Option<FlowRecord>,
    notification: Option<CallNotification>,
    /// Omitted from the JSON when empty.
    #[serde(default)]
    tags: Vec<String>,
}

impl CallRow {
    fn into_call(self) -> Call {
        Call {
            id: self.id,
            channel_id: self.channel_id,
            from: self.from,
            to: self.to,
            originator: self.originator,
            receiver: self.receiver,
            parent_id: self.parent_id,
            direction: self.direction,
            status: self.status,
            reason: self.reason,
            kind: self.kind,
            duration: self.duration,
            hangup_cause_code: self.hangup_cause_code,
            hangup_source: self.hangup_source,
            hangup_sip_code: self.hangup_sip_code,
            created_at: self.created_at,
            updated_at: self.updated_at,
            ringing_at: self.ringing_at,
            answered_at: self.answered_at,
            ended_at: self.ended_at,
            scheduled_for: self.scheduled_for,
            call_flow: self.call_flow,
            notification: self.notification,
            tags: self.tags,
        }
    }
}

/// Decodes a stored `calls.body`.
pub(crate) fn decode_call(body: &str) -> Result<Call, CorruptRow> {
    decode_json::<CallRow>(TABLE, "body", body).map(CallRow::into_call)
}

/// What is stored of a call: its body and the columns the list filters read (migration 0003).
struct CallColumns<'a> {
    body: String,
    to_address: &'a str,
    from_address: &'a str,
    call_type: &'static str,
    duration: Option<i64>,
    /// JSON array of the call's tags.
    tags: String,
}

impl<'a> CallColumns<'a> {
    fn of(call: &'a Call) -> Result<Self, CorruptRow> {
        Ok(Self {
            body: encode_json(TABLE, "body", call)?,
            to_address: &call.to,
            from_address: &call.from,
            call_type: call.kind.as_str(),
            duration: call.duration.map(stored_seconds),
            tags: encode_json(TABLE, "tags", &call.tags)?,
        })
    }
}

/// Seconds as stored (an `INTEGER`); a duration beyond `i64` (never a real one) saturates.
fn stored_seconds(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Appends ` AND column IN (values...)` unless `values` is empty (no filter).
fn push_any_of(builder: &mut QueryBuilder<Sqlite>, column: &str, values: Vec<String>) {
    if values.is_empty() {
        return;
    }
    builder.push(format_args!(" AND {column} IN "));
    push_list(builder, values);
}

/// Appends `(values...)` as bound parameters, each distinct value once (`values` not empty).
fn push_list(builder: &mut QueryBuilder<Sqlite>, values: Vec<String>) {
    let mut distinct: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !distinct.contains(&value) {
            distinct.push(value);
        }
    }
    builder.push("(");
    let mut list = builder.separated(", ");
    for value in distinct {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

/// What [`Store::list_calls_filtered`] selects.
const SELECT_PAGE: &str = "SELECT created_at, id, body FROM calls";

/// `head` (a `SELECT … FROM calls`) followed by the conditions of a filtered call list, its
/// order and its limit (one more than the page, to learn whether another page follows).
fn calls_query(
    head: &str,
    workspace: WorkspaceId,
    channel: Option<ChannelId>,
    query: &CallListQuery,
    cursor: Option<Cursor>,
) -> QueryBuilder<Sqlite> {
    let mut builder = QueryBuilder::<Sqlite>::new(head);
    builder.push(" WHERE workspace_id = ");
    builder.push_bind(workspace.to_string());
    if let Some(channel) = channel {
        builder
            .push(" AND channel_id = ")
            .push_bind(channel.to_string());
    }
    push_any_of(
        &mut builder,
        "channel_id",
        query.channel_ids.iter().map(ChannelId::to_string).collect(),
    );
    push_any_of(
        &mut builder,
        "status",
        query
            .statuses
            .iter()
            .map(|status| status.as_str().to_owned())
            .collect(),
    );
    push_any_of(
        &mut builder,
        "call_type",
        query
            .types
            .iter()
            .map(|kind| kind.as_str().to_owned())
            .collect(),
    );
    push_any_of(
        &mut builder,
        "direction",
        query
            .directions
            .iter()
            .map(|direction| direction.as_str().to_owned())
            .collect(),
    );
    if let Some(to) = &query.to {
        builder.push(" AND to_address = ").push_bind(to.clone());
    }
    if let Some(from) = &query.from {
        builder.push(" AND from_address = ").push_bind(from.clone());
    }
    if let Some(start_at) = query.start_at {
        builder
            .push(" AND created_at >= ")
            .push_bind(millis(start_at));
    }
    if let Some(end_at) = query.end_at {
        builder
            .push(" AND created_at <= ")
            .push_bind(millis(end_at));
    }
    if !query.tags.is_empty() {
        // SQLite's json_each walks the stored JSON array (see migration 0003).
        builder.push(" AND EXISTS (SELECT 1 FROM json_each(calls.tags) WHERE json_each.value IN ");
        push_list(&mut builder, query.tags.clone());
        builder.push(")");
    }
    if let Some(id) = query.id {
        builder.push(" AND id = ").push_bind(id.to_string());
    }
    if let Some(duration) = query.duration {
        builder
            .push(" AND duration = ")
            .push_bind(stored_seconds(duration));
    }
    if let Some(cursor) = cursor {
        builder
            .push(" AND (created_at < ")
            .push_bind(cursor.created_at)
            .push(" OR (created_at = ")
            .push_bind(cursor.created_at)
            .push(" AND id < ")
            .push_bind(cursor.id)
            .push("))");
    }
    builder
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    builder
}

/// Builds a page from rows fetched `limit + 1` at a time: the extra row only tells that another
/// page follows.
fn page_of(mut rows: Vec<(i64, String, String)>, limit: u32) -> Result<Page<Call>, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut results = Vec::with_capacity(rows.len());
    let mut last = None;
    for (created_at, id, body) in rows {
        results.push(decode_call(&body)?);
        last = Some(Cursor { created_at, id });
    }
    Ok(Page {
        results,
        next_page_token: last.filter(|_| more).map(|cursor| cursor.encode()),
    })
}

impl Store {
    /// Inserts a new call of `workspace` and, in the same transaction, one outbox delivery of
    /// `event` per subscription of the workspace that matches it
    /// ([`warbler_model::WebhookSubscription::matches`]).
    ///
    /// An existing call id is a [`StoreError::Conflict`]; a channel that is not in the
    /// workspace is [`StoreError::NotFound`].
    pub async fn insert_call(
        &self,
        workspace: WorkspaceId,
        call: &Call,
        event: EventKind,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let columns = CallColumns::of(call)?;
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO calls (id, workspace_id, channel_id, direction, status, created_at, \
                 updated_at, body, to_address, from_address, call_type, duration, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(call.id.to_string())
        .bind(workspace.to_string())
        .bind(call.channel_id.to_string())
        .bind(call.direction.as_str())
        .bind(call.status.as_str())
        .bind(millis(call.created_at))
        .bind(millis(call.updated_at))
        .bind(columns.body)
        .bind(columns.to_address)
        .bind(columns.from_address)
        .bind(columns.call_type)
        .bind(columns.duration)
        .bind(columns.tags)
        .execute(&mut *transaction)
        .await
        .map_err(write_error)?;
        crate::outbox::enqueue(&mut transaction, workspace, call, event, now).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Replaces the stored call with the same id, workspace and channel
    /// ([`StoreError::NotFound`] when there is none) and, when `event` is given, enqueues its
    /// deliveries as [`Store::insert_call`] does, in the same transaction.
    pub async fn update_call(
        &self,
        workspace: WorkspaceId,
        call: &Call,
        event: Option<EventKind>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let columns = CallColumns::of(call)?;
        let mut transaction = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE calls SET direction = $1, status = $2, created_at = $3, updated_at = $4, \
                 body = $5, to_address = $6, from_address = $7, call_type = $8, duration = $9, \
                 tags = $10 \
             WHERE id = $11 AND workspace_id = $12 AND channel_id = $13",
        )
        .bind(call.direction.as_str())
        .bind(call.status.as_str())
        .bind(millis(call.created_at))
        .bind(millis(call.updated_at))
        .bind(columns.body)
        .bind(columns.to_address)
        .bind(columns.from_address)
        .bind(columns.call_type)
        .bind(columns.duration)
        .bind(columns.tags)
        .bind(call.id.to_string())
        .bind(workspace.to_string())
        .bind(call.channel_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(write_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(event) = event {
            crate::outbox::enqueue(&mut transaction, workspace, call, event, now).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The call with this id on this channel of this workspace.
    pub async fn call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
    ) -> Result<Call, StoreError> {
        let body: Option<String> = sqlx::query_scalar(
            "SELECT body FROM calls WHERE id = $1 AND workspace_id = $2 AND channel_id = $3",
        )
        .bind(call.to_string())
        .bind(workspace.to_string())
        .bind(channel.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(decode_call(&body.ok_or(StoreError::NotFound)?)?)
    }

    /// A page of the channel's calls, newest first (`created_at`, then id, descending).
    ///
    /// `limit` (1 to 1000, validated by the caller) bounds the page; `page_token` is the
    /// previous page's `next_page_token`, opaque to clients: base64url (unpadded) of the JSON
    /// `[createdAtMillis,"uuid"]` of the last call of that page. A token this store did not
    /// issue is [`StoreError::InvalidPageToken`]; a channel that is not in the workspace is
    /// [`StoreError::NotFound`]. The same as [`Store::list_calls_filtered`] without filters.
    pub async fn list_calls(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        limit: u32,
        page_token: Option<&str>,
    ) -> Result<Page<Call>, StoreError> {
        let query = CallListQuery {
            limit,
            page_token: page_token.map(str::to_owned),
            ..CallListQuery::default()
        };
        self.list_calls_filtered(workspace, Some(channel), &query)
            .await
    }

    /// A page of the calls of `workspace` that match `query`, newest first (`created_at`, then
    /// id, descending): one channel's calls (`channel: Some`; [`StoreError::NotFound`] when the
    /// channel is not in the workspace) or the workspace calls log (`None`).
    ///
    /// Filters (spec §5.2, §5.3): `statuses`, `types`, `directions` and `channel_ids` match any
    /// of their values (empty: no filter); `to`, `from`, `id` and `duration` (seconds) are exact;
    /// `start_at` and `end_at` bound `created_at`, both inclusive; `tags` keeps a call carrying
    /// any of them (compared exactly: the caller lower-cases them like stored tags). Different
    /// filters must all hold. `channel_ids` also applies to one channel's list.
    ///
    /// `query.limit` (1 to 1000, validated by the caller) bounds the page; `query.page_token` is
    /// the previous page's `next_page_token` (see [`Store::list_calls`]), which keeps working
    /// as long as the filters stay the same. A token this store did not issue is
    /// [`StoreError::InvalidPageToken`].
    pub async fn list_calls_filtered(
        &self,
        workspace: WorkspaceId,
        channel: Option<ChannelId>,
        query: &CallListQuery,
    ) -> Result<Page<Call>, StoreError> {
        let cursor = query
            .page_token
            .as_deref()
            .map(Cursor::decode)
            .transpose()?;
        if let Some(channel) = channel {
            let channel_exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM channels WHERE workspace_id = $1 AND id = $2)",
            )
            .bind(workspace.to_string())
            .bind(channel.to_string())
            .fetch_one(&self.pool)
            .await?;
            if !channel_exists {
                return Err(StoreError::NotFound);
            }
        }
        let mut builder = calls_query(SELECT_PAGE, workspace, channel, query, cursor);
        let rows: Vec<(i64, String, String)> =
            builder.build_query_as().fetch_all(&self.pool).await?;
        page_of(rows, query.limit)
    }

    /// Every call, of any workspace, whose status is not terminal (to recover after a crash),
    /// oldest first.
    pub async fn live_calls(&self) -> Result<Vec<(WorkspaceId, Call)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(concat!(
            "SELECT workspace_id, body FROM calls WHERE status NOT IN ",
            terminal_statuses!(),
            " ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(workspace, body)| {
                Ok((
                    decode_id(TABLE, "workspace_id", &workspace)?,
                    decode_call(&body)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_status_list_matches_the_model() {
        let expected: Vec<String> = CallStatus::ALL
            .into_iter()
            .filter(|status| status.is_terminal())
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(terminal_statuses!(), format!("({})", expected.join(", ")));
    }

    #[tokio::test]
    async fn a_damaged_stored_call_is_reported_as_corrupt() {
        use warbler_model::{AccessKeyId, OrganizationId};

        let store = Store::open_in_memory().await.expect("opens");
        let workspace = WorkspaceId::from_parts(1, [1; 10]);
        store
            .create_workspace(&crate::NewWorkspace {
                organization_id: OrganizationId::from_parts(1, [1; 10]),
                workspace_id: workspace,
                access_key_id: AccessKeyId::from_parts(1, [1; 10]),
                access_key_secret: "secret".to_owned(),
                created_at: Timestamp::from_unix_millis(1),
            })
            .await
            .expect("creates");
        let channel = store
            .upsert_config_channel(
                workspace,
                0,
                &crate::ChannelSpec::default(),
                Timestamp::from_unix_millis(1),
            )
            .await
            .expect("creates");
        let call = Call::incoming(
            CallId::from_parts(2, [2; 10]),
            channel,
            "a".to_owned(),
            "b".to_owned(),
            Timestamp::from_unix_millis(2),
        );
        store
            .insert_call(
                workspace,
                &call,
                EventKind::VoiceInbound,
                Timestamp::from_unix_millis(2),
            )
            .await
            .expect("inserts");
        sqlx::query("UPDATE calls SET body = '{\"truncated\": ' WHERE id = $1")
            .bind(call.id.to_string())
            .execute(store.pool())
            .await
            .expect("damages");
        let error = store
            .call(workspace, channel, call.id)
            .await
            .expect_err("fails");
        assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
        assert!(matches!(
            store.live_calls().await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn migration_0003_backfills_the_filter_columns_of_existing_calls() {
        use std::str::FromStr;

        use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
        use warbler_model::{AccessKeyId, OrganizationId};

        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .expect("parses")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .expect("opens");
        crate::MIGRATOR
            .run_to(2, &pool)
            .await
            .expect("migrates to 0002");
        let store = Store { pool };
        let workspace = WorkspaceId::from_parts(1, [1; 10]);
        store
            .create_workspace(&crate::NewWorkspace {
                organization_id: OrganizationId::from_parts(1, [1; 10]),
                workspace_id: workspace,
                access_key_id: AccessKeyId::from_parts(1, [1; 10]),
                access_key_secret: "secret".to_owned(),
                created_at: Timestamp::from_unix_millis(1),
            })
            .await
            .expect("creates");
        let channel = store
            .upsert_config_channel(
                workspace,
                0,
                &crate::ChannelSpec::default(),
                Timestamp::from_unix_millis(1),
            )
            .await
            .expect("creates");
        let mut call = Call::outgoing(
            CallId::from_parts(2, [2; 10]),
            channel,
            "+31201234567".to_owned(),
            "+31612345678".to_owned(),
            Timestamp::from_unix_millis(2),
        );
        call.kind = CallType::Pstn;
        call.status = CallStatus::Completed;
        call.duration = Some(42);
        call.tags = vec!["vip".to_owned(), "eu".to_owned()];
        let damaged = CallId::from_parts(3, [3; 10]);
        // Rows as schema 0002 stored them: no filter columns; one of them damaged.
        for (id, body) in [
            (call.id, serde_json::to_string(&call).expect("encodes")),
            (damaged, "{\"truncated\": ".to_owned()),
        ] {
            sqlx::query(
                "INSERT INTO calls (id, workspace_id, channel_id, direction, status, \
                     created_at, updated_at, body) \
                 VALUES ($1, $2, $3, 'outgoing', 'completed', 2, 2, $4)",
            )
            .bind(id.to_string())
            .bind(workspace.to_string())
            .bind(channel.to_string())
            .bind(body)
            .execute(store.pool())
            .await
            .expect("inserts");
        }

        crate::MIGRATOR
            .run(store.pool())
            .await
            .expect("migrates to the latest schema");

        let query = CallListQuery {
            to: Some("+31612345678".to_owned()),
            from: Some("+31201234567".to_owned()),
            types: vec![CallType::Pstn],
            duration: Some(42),
            tags: vec!["eu".to_owned()],
            ..CallListQuery::default()
        };
        let page = store
            .list_calls_filtered(workspace, Some(channel), &query)
            .await
            .expect("lists");
        assert_eq!(page.results, vec![call]);
        // The damaged row keeps the defaults (and is still reported as corrupt when read).
        let columns: (String, String, String, Option<i64>, String) = sqlx::query_as(
            "SELECT to_address, from_address, call_type, duration, tags FROM calls \
             WHERE id = $1",
        )
        .bind(damaged.to_string())
        .fetch_one(store.pool())
        .await
        .expect("reads");
        assert_eq!(
            columns,
            (
                String::new(),
                String::new(),
                "sip".to_owned(),
                None,
                "[]".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn filtered_lists_walk_an_index_in_order() {
        let store = Store::open_in_memory().await.expect("opens");
        let workspace = WorkspaceId::from_parts(1, [1; 10]);
        let channel = ChannelId::from_parts(1, [2; 10]);
        let filtered = CallListQuery {
            statuses: vec![CallStatus::Completed],
            tags: vec!["vip".to_owned()],
            duration: Some(3),
            ..CallListQuery::default()
        };
        let cursor = Cursor {
            created_at: 5,
            id: CallId::from_parts(1, [3; 10]).to_string(),
        };
        for (name, channel, query, index) in [
            (
                "workspace log",
                None,
                filtered.clone(),
                "calls_by_workspace",
            ),
            (
                "channel list",
                Some(channel),
                filtered.clone(),
                "calls_by_channel",
            ),
            (
                "to",
                None,
                CallListQuery {
                    to: Some("1000".to_owned()),
                    ..filtered.clone()
                },
                "calls_by_to",
            ),
            (
                "from",
                None,
                CallListQuery {
                    from: Some("alice".to_owned()),
                    ..filtered.clone()
                },
                "calls_by_from",
            ),
        ] {
            let mut builder = calls_query(
                "EXPLAIN QUERY PLAN SELECT created_at, id, body FROM calls",
                workspace,
                channel,
                &query,
                Some(cursor.clone()),
            );
            let plan: Vec<(i64, i64, i64, String)> = builder
                .build_query_as()
                .fetch_all(store.pool())
                .await
                .expect("explains");
            let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
            assert!(
                details.iter().any(|detail| detail.contains(index)),
                "{name}: {details:?}"
            );
            assert!(
                !details.iter().any(|detail| detail.contains("TEMP B-TREE")),
                "{name}: sorts instead of walking the index: {details:?}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_a_call_is_corrupt() {
        let error = decode_call(r#"{"id":"nope"}"#).expect_err("rejects");
        assert_eq!((error.table(), error.column()), ("calls", "body"));
    }
}
