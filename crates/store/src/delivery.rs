//! The outbox as a workspace sees it: its deliveries listed by state, and dead ones replayed.

use std::fmt;

use warbler_model::{CallId, EventId, SubscriptionId, Timestamp, WorkspaceId};

use crate::error::{CorruptRow, decode_id};
use crate::page::Cursor;
use crate::{Page, Store, StoreError, millis, timestamp};

const TABLE: &str = "webhook_deliveries";

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not delivered yet: due at its `next_attempt_at` (after the deliveries ahead of it in its
    /// subscription and call's queue).
    Pending,
    /// Accepted by its receiver (a 2xx answer).
    Delivered,
    /// Given up on after failing for too long; [`Store::replay_delivery`] makes it pending
    /// again.
    Dead,
}

impl DeliveryState {
    /// Every state.
    pub const ALL: [DeliveryState; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    /// The state's name, as stored and as the API shows it: `pending`, `delivered`, `dead`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The state named `text` ([`DeliveryState::as_str`]), if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One outbox delivery as it can be shown: its progress, never its body nor the signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The event id, sent as `messagebird-request-id` on every attempt (replays included).
    pub id: EventId,
    /// The subscription it goes to.
    pub subscription_id: SubscriptionId,
    /// The call it is about.
    pub call_id: CallId,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far (since its last replay).
    pub attempts: u32,
    /// When it was enqueued, or last replayed.
    pub created_at: Timestamp,
    /// When it is next due; only for a pending delivery.
    pub next_attempt_at: Option<Timestamp>,
    /// When its receiver accepted it; only for a delivered one.
    pub delivered_at: Option<Timestamp>,
    /// When it was given up on; only for a dead one.
    pub dead_at: Option<Timestamp>,
    /// Why its latest failed attempt failed (`HTTP 503`, `timeout`, ...), if any failed.
    pub last_error: Option<String>,
}

/// A `webhook_deliveries` row without its body.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    subscription_id: String,
    call_id: String,
    state: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    dead_at: Option<i64>,
    last_error: Option<String>,
}

/// The columns [`DeliveryRow`] reads.
macro_rules! delivery_columns {
    () => {
        "id, subscription_id, call_id, state, attempts, created_at, next_attempt_at, \
         delivered_at, dead_at, last_error"
    };
}

impl DeliveryRow {
    fn decode(self) -> Result<DeliveryRecord, CorruptRow> {
        let state = DeliveryState::parse(&self.state).ok_or_else(|| {
            CorruptRow::new(TABLE, "state", format!("unknown state {:?}", self.state))
        })?;
        Ok(DeliveryRecord {
            id: decode_id(TABLE, "id", &self.id)?,
            subscription_id: decode_id(TABLE, "subscription_id", &self.subscription_id)?,
            call_id: decode_id(TABLE, "call_id", &self.call_id)?,
            state,
            attempts: u32::try_from(self.attempts)
                .map_err(|error| CorruptRow::new(TABLE, "attempts", error))?,
            created_at: timestamp(self.created_at),
            next_attempt_at: (state == DeliveryState::Pending)
                .then(|| timestamp(self.next_attempt_at)),
            delivered_at: self.delivered_at.map(timestamp),
            dead_at: self.dead_at.map(timestamp),
            last_error: self.last_error,
        })
    }
}

impl Store {
    /// A page of the workspace's deliveries in `state`, newest first (`created_at`, then id,
    /// descending).
    ///
    /// `limit` (validated by the caller) bounds the page; `page_token` is the previous page's
    /// `next_page_token`, in the format of [`Store::list_calls`]'s. A token this store did not
    /// issue is [`StoreError::InvalidPageToken`]. An unknown workspace has no deliveries.
    pub async fn deliveries(
        &self,
        workspace: WorkspaceId,
        state: DeliveryState,
        limit: u32,
        page_token: Option<&str>,
    ) -> Result<Page<DeliveryRecord>, StoreError> {
        let cursor = page_token.map(Cursor::decode).transpose()?;
        // One more than asked, to learn whether another page follows.
        let fetch = i64::from(limit) + 1;
        let rows: Vec<DeliveryRow> = match &cursor {
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM webhook_deliveries WHERE workspace_id = $1 AND state = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(workspace.to_string())
                .bind(state.as_str())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            Some(cursor) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM webhook_deliveries WHERE workspace_id = $1 AND state = $2 \
                         AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
                     ORDER BY created_at DESC, id DESC LIMIT $5"
                ))
                .bind(workspace.to_string())
                .bind(state.as_str())
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
        let last = rows.last().map(|row| Cursor {
            created_at: row.created_at,
            id: row.id.clone(),
        });
        let results = rows
            .into_iter()
            .map(DeliveryRow::decode)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            results,
            next_page_token: last.filter(|_| more).map(|cursor| cursor.encode()),
        })
    }

    /// Makes the dead delivery `id` of `workspace` pending again, due at `now`, and returns it
    /// as it now stands.
    ///
    /// It keeps its id (so `messagebird-request-id` stays the same and receivers can still
    /// de-duplicate), its body and its `last_error`; its attempts restart from 0 and its
    /// `created_at` becomes `now`, so the dispatcher, which gives up on a delivery by its age,
    /// grants it a full retry window. It goes back to its place in its (subscription, call)
    /// queue: later events of the same call still pending wait for it again.
    ///
    /// [`StoreError::NotFound`] when `workspace` has no dead delivery with this id (unknown,
    /// another workspace's, pending or delivered).
    pub async fn replay_delivery(
        &self,
        workspace: WorkspaceId,
        id: EventId,
        now: Timestamp,
    ) -> Result<DeliveryRecord, StoreError> {
        let row: Option<DeliveryRow> = sqlx::query_as(concat!(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, \
                 next_attempt_at = $1, created_at = $1, dead_at = NULL \
             WHERE id = $2 AND workspace_id = $3 AND state = 'dead' \
             RETURNING ",
            delivery_columns!()
        ))
        .bind(millis(now))
        .bind(id.to_string())
        .bind(workspace.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.ok_or(StoreError::NotFound)?.decode()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
            assert_eq!(state.to_string(), state.as_str());
        }
        assert_eq!(DeliveryState::parse("Dead"), None);
        assert_eq!(DeliveryState::parse(""), None);
    }

    #[test]
    fn the_state_names_are_the_ones_the_schema_allows() {
        let schema = include_str!("../migrations/0001_initial.sql");
        let names: Vec<String> = DeliveryState::ALL
            .into_iter()
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        assert!(
            schema.contains(&format!("state IN ({})", names.join(", "))),
            "{names:?}"
        );
    }
}
