//! Calls, stored as the JSON the API shows plus indexed columns.

use serde::Deserialize;
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
        let body = encode_json(TABLE, "body", call)?;
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO calls (id, workspace_id, channel_id, direction, status, created_at, \
                 updated_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(call.id.to_string())
        .bind(workspace.to_string())
        .bind(call.channel_id.to_string())
        .bind(call.direction.as_str())
        .bind(call.status.as_str())
        .bind(millis(call.created_at))
        .bind(millis(call.updated_at))
        .bind(body)
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
        let body = encode_json(TABLE, "body", call)?;
        let mut transaction = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE calls SET direction = $1, status = $2, created_at = $3, updated_at = $4, \
                 body = $5 \
             WHERE id = $6 AND workspace_id = $7 AND channel_id = $8",
        )
        .bind(call.direction.as_str())
        .bind(call.status.as_str())
        .bind(millis(call.created_at))
        .bind(millis(call.updated_at))
        .bind(body)
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
    /// [`StoreError::NotFound`].
    pub async fn list_calls(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        limit: u32,
        page_token: Option<&str>,
    ) -> Result<Page<Call>, StoreError> {
        let cursor = page_token.map(Cursor::decode).transpose()?;
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
        // One more than asked, to learn whether another page follows.
        let fetch = i64::from(limit) + 1;
        let rows: Vec<(i64, String, String)> = match &cursor {
            None => {
                sqlx::query_as(
                    "SELECT created_at, id, body FROM calls \
                     WHERE workspace_id = $1 AND channel_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(workspace.to_string())
                .bind(channel.to_string())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            Some(cursor) => {
                sqlx::query_as(
                    "SELECT created_at, id, body FROM calls \
                     WHERE workspace_id = $1 AND channel_id = $2 \
                         AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                )
                .bind(workspace.to_string())
                .bind(channel.to_string())
                .bind(cursor.created_at)
                .bind(cursor.id.as_str())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut rows = rows;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let mut results = Vec::with_capacity(rows.len());
        let mut last = None;
        for (created_at, id, body) in rows {
            results.push(decode_call(&body)?);
            last = Some(Cursor { created_at, id });
        }
        let next_page_token = if more {
            last.map(|cursor| cursor.encode())
        } else {
            None
        };
        Ok(Page {
            results,
            next_page_token,
        })
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

    #[test]
    fn a_body_that_is_not_a_call_is_corrupt() {
        let error = decode_call(r#"{"id":"nope"}"#).expect_err("rejects");
        assert_eq!((error.table(), error.column()), ("calls", "body"));
    }
}
