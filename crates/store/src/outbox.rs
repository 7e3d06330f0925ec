//! The webhook outbox: one row per (event, subscription), written in the same transaction as
//! the call change that causes it, drained by the dispatcher.
//!
//! Deliveries of one (subscription, call) pair form a queue: only its head (the oldest pending
//! one) is ever due, so a receiver sees one call's events in order, even across retries.

use std::fmt;

use sqlx::SqliteConnection;
use warbler_model::{
    Call, CallId, EventId, EventKind, SubscriptionId, Timestamp, WebhookEnvelope, WebhookService,
    WorkspaceId,
};

use crate::error::{CorruptRow, decode_id, encode_json, found};
use crate::subscription::workspace_subscriptions;
use crate::{Store, StoreError, id_parts, millis, timestamp};

const TABLE: &str = "webhook_deliveries";

/// A delivery to enqueue.
pub(crate) struct NewDelivery<'a> {
    /// The event id (`messagebird-request-id`).
    pub(crate) id: EventId,
    /// The subscription it goes to.
    pub(crate) subscription_id: SubscriptionId,
    /// The call it is about.
    pub(crate) call_id: CallId,
    /// The workspace of both.
    pub(crate) workspace_id: WorkspaceId,
    /// The JSON to POST.
    pub(crate) body: &'a str,
    /// When it was enqueued (and first due).
    pub(crate) created_at: Timestamp,
}

/// A delivery due to be attempted.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event id, sent as `messagebird-request-id`; the same on every attempt.
    pub id: EventId,
    /// The subscription it goes to.
    pub subscription_id: SubscriptionId,
    /// The call it is about.
    pub call_id: CallId,
    /// The subscription's receiver URL.
    pub url: String,
    /// The subscription's HMAC signing key.
    pub signing_key: String,
    /// The exact JSON bytes to POST.
    pub body: String,
    /// Attempts made so far (0 for the first).
    pub attempts: u32,
    /// When the event was enqueued.
    pub created_at: Timestamp,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Delivery")
            .field("id", &self.id)
            .field("subscription_id", &self.subscription_id)
            .field("call_id", &self.call_id)
            .field("url", &self.url)
            .field("signing_key", &"<redacted>")
            .field("body", &self.body)
            .field("attempts", &self.attempts)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A due delivery, joined with its subscription.
#[derive(sqlx::FromRow)]
struct DueDeliveryRow {
    id: String,
    subscription_id: String,
    call_id: String,
    url: String,
    signing_key: String,
    body: String,
    attempts: i64,
    created_at: i64,
}

impl DueDeliveryRow {
    fn decode(self) -> Result<Delivery, CorruptRow> {
        Ok(Delivery {
            id: decode_id(TABLE, "id", &self.id)?,
            subscription_id: decode_id(TABLE, "subscription_id", &self.subscription_id)?,
            call_id: decode_id(TABLE, "call_id", &self.call_id)?,
            url: self.url,
            signing_key: self.signing_key,
            body: self.body,
            attempts: u32::try_from(self.attempts)
                .map_err(|error| CorruptRow::new(TABLE, "attempts", error))?,
            created_at: timestamp(self.created_at),
        })
    }
}

/// Enqueues, on `connection` (inside the caller's transaction), one delivery of `event` about
/// `call` per subscription of `workspace` that matches it.
pub(crate) async fn enqueue(
    connection: &mut SqliteConnection,
    workspace: WorkspaceId,
    call: &Call,
    event: EventKind,
    now: Timestamp,
) -> Result<(), StoreError> {
    let subscriptions = workspace_subscriptions(&mut *connection, workspace).await?;
    // Collected before any await: an iterator adapter held across an await makes the future
    // not `Send` for every lifetime (a rustc limitation), which callers that spawn need.
    let matching: Vec<SubscriptionId> = subscriptions
        .iter()
        .filter(|subscription| subscription.matches(event, call))
        .map(|subscription| subscription.id)
        .collect();
    if matching.is_empty() {
        return Ok(());
    }
    let envelope = WebhookEnvelope {
        service: WebhookService::Channels,
        event,
        payload: call,
    };
    let body = encode_json(TABLE, "body", &envelope)?;
    for subscription_id in matching {
        let (unix_millis, random) = id_parts(now);
        let delivery = NewDelivery {
            id: EventId::from_parts(unix_millis, random),
            subscription_id,
            call_id: call.id,
            workspace_id: workspace,
            body: &body,
            created_at: now,
        };
        insert(&mut *connection, &delivery).await?;
    }
    Ok(())
}

/// Inserts a pending delivery, due at once.
async fn insert(
    connection: &mut SqliteConnection,
    delivery: &NewDelivery<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, subscription_id, call_id, workspace_id, body, \
             state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(delivery.id.to_string())
    .bind(delivery.subscription_id.to_string())
    .bind(delivery.call_id.to_string())
    .bind(delivery.workspace_id.to_string())
    .bind(delivery.body)
    .bind(millis(delivery.created_at))
    .execute(connection)
    .await
    .map_err(crate::error::write_error)?;
    Ok(())
}

/// SQL condition: the delivery aliased `delivery` is the head of its (subscription, call)
/// queue, i.e. no older pending delivery shares its pair.
macro_rules! queue_head {
    () => {
        "NOT EXISTS (SELECT 1 FROM webhook_deliveries AS earlier \
             WHERE earlier.subscription_id = delivery.subscription_id \
                 AND earlier.call_id = delivery.call_id \
                 AND earlier.state = 'pending' \
                 AND earlier.sequence < delivery.sequence)"
    };
}

impl Store {
    /// At most `limit` pending deliveries due at `now` (`next_attempt_at <= now`), oldest
    /// first, and only the head of each (subscription, call) queue: a later event of the same
    /// call waits until the earlier one is delivered or dead, even when the earlier one is
    /// rescheduled into the future.
    pub async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let records: Vec<DueDeliveryRow> = sqlx::query_as(concat!(
            "SELECT delivery.id, delivery.subscription_id, delivery.call_id, subscription.url, \
                 subscription.signing_key, delivery.body, delivery.attempts, delivery.created_at \
             FROM webhook_deliveries AS delivery \
             JOIN webhook_subscriptions AS subscription \
                 ON subscription.id = delivery.subscription_id \
             WHERE delivery.state = 'pending' AND delivery.next_attempt_at <= $1 AND ",
            queue_head!(),
            " ORDER BY delivery.sequence LIMIT $2"
        ))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(records
            .into_iter()
            .map(DueDeliveryRow::decode)
            .collect::<Result<_, _>>()?)
    }

    /// When the next delivery falls due: the earliest `next_attempt_at` among queue heads
    /// (a delivery waiting behind another is not counted, so the dispatcher never wakes for
    /// one it may not send yet); `None` when nothing is pending.
    pub async fn next_delivery_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let earliest: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT MIN(delivery.next_attempt_at) FROM webhook_deliveries AS delivery \
             WHERE delivery.state = 'pending' AND ",
            queue_head!()
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(earliest.map(timestamp))
    }

    /// Records that the pending delivery `id` was accepted by its receiver.
    /// [`StoreError::NotFound`] when no pending delivery has this id (for instance because
    /// its subscription was deleted meanwhile).
    pub async fn mark_delivered(&self, id: EventId, now: Timestamp) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1, \
                 attempts = attempts + 1 \
             WHERE id = $2 AND state = 'pending'",
        )
        .bind(millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }

    /// Records a failed attempt of the pending delivery `id` and when to try again.
    /// [`StoreError::NotFound`] as for [`Store::mark_delivered`].
    pub async fn reschedule_delivery(
        &self,
        id: EventId,
        next_attempt_at: Timestamp,
        last_error: &str,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, \
                 last_error = $2 \
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(millis(next_attempt_at))
        .bind(last_error)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }

    /// Records a last failed attempt of the pending delivery `id` and gives up on it, which
    /// lets the next event of the same (subscription, call) queue go.
    /// [`StoreError::NotFound`] as for [`Store::mark_delivered`].
    pub async fn mark_dead(
        &self,
        id: EventId,
        now: Timestamp,
        last_error: &str,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'dead', attempts = attempts + 1, \
                 dead_at = $1, last_error = $2 \
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(millis(now))
        .bind(last_error)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }
}
