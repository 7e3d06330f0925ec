//! Webhook subscriptions.

use serde_json::Value;
use sqlx::SqliteExecutor;
use warbler_model::{
    EventFilter, EventKind, SubscriptionId, WebhookService, WebhookSubscription, WorkspaceId,
};

use crate::error::{CorruptRow, decode_id, decode_json, encode_json, write_error};
use crate::{Store, StoreError, millis, timestamp};

const TABLE: &str = "webhook_subscriptions";

/// The only status a stored subscription has.
const ACTIVE: &str = "active";

/// A `webhook_subscriptions` row.
#[derive(sqlx::FromRow)]
struct SubscriptionRecord {
    id: String,
    organization_id: String,
    workspace_id: String,
    service: String,
    event: String,
    url: String,
    signing_key: String,
    event_filters: String,
    template: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl SubscriptionRecord {
    fn decode(self) -> Result<WebhookSubscription, CorruptRow> {
        let service: WebhookService = serde_json::from_value(Value::String(self.service))
            .map_err(|error| CorruptRow::new(TABLE, "service", error))?;
        let event = EventKind::parse(&self.event).ok_or_else(|| {
            CorruptRow::new(TABLE, "event", format!("unknown event {:?}", self.event))
        })?;
        let event_filters: Vec<EventFilter> =
            decode_json(TABLE, "event_filters", &self.event_filters)?;
        Ok(WebhookSubscription {
            id: decode_id(TABLE, "id", &self.id)?,
            organization_id: decode_id(TABLE, "organization_id", &self.organization_id)?,
            workspace_id: decode_id(TABLE, "workspace_id", &self.workspace_id)?,
            service,
            event,
            url: self.url,
            event_filters,
            template: self.template,
            status: ACTIVE,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.updated_at),
            signing_key: self.signing_key,
        })
    }
}

/// Bird's name of a service (`channels`), as stored.
fn service_name(service: WebhookService) -> Result<String, CorruptRow> {
    match serde_json::to_value(service) {
        Ok(Value::String(name)) => Ok(name),
        Ok(other) => Err(CorruptRow::new(
            TABLE,
            "service",
            format!("service serialized as {other}"),
        )),
        Err(error) => Err(CorruptRow::new(TABLE, "service", error)),
    }
}

/// The subscriptions of a workspace, oldest first.
pub(crate) async fn workspace_subscriptions<'e>(
    executor: impl SqliteExecutor<'e>,
    workspace: WorkspaceId,
) -> Result<Vec<WebhookSubscription>, StoreError> {
    let records: Vec<SubscriptionRecord> = sqlx::query_as(
        "SELECT id, organization_id, workspace_id, service, event, url, signing_key, \
             event_filters, template, created_at, updated_at \
         FROM webhook_subscriptions WHERE workspace_id = $1 ORDER BY created_at, id",
    )
    .bind(workspace.to_string())
    .fetch_all(executor)
    .await?;
    Ok(records
        .into_iter()
        .map(SubscriptionRecord::decode)
        .collect::<Result<_, _>>()?)
}

impl Store {
    /// Stores a new subscription. An existing id is a [`StoreError::Conflict`]; a workspace
    /// that does not exist in the subscription's organization is [`StoreError::NotFound`].
    /// Its `status` is not stored (always `active`).
    pub async fn insert_subscription(
        &self,
        subscription: &WebhookSubscription,
    ) -> Result<(), StoreError> {
        let event_filters = encode_json(TABLE, "event_filters", &subscription.event_filters)?;
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, organization_id, workspace_id, service, \
                 event, url, signing_key, event_filters, template, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(subscription.id.to_string())
        .bind(subscription.organization_id.to_string())
        .bind(subscription.workspace_id.to_string())
        .bind(service_name(subscription.service)?)
        .bind(subscription.event.as_str())
        .bind(subscription.url.as_str())
        .bind(subscription.signing_key.as_str())
        .bind(event_filters)
        .bind(subscription.template.as_deref())
        .bind(millis(subscription.created_at))
        .bind(millis(subscription.updated_at))
        .execute(&self.pool)
        .await
        .map_err(write_error)?;
        Ok(())
    }

    /// The workspace's subscriptions, oldest first.
    pub async fn subscriptions(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<WebhookSubscription>, StoreError> {
        workspace_subscriptions(&self.pool, workspace).await
    }

    /// The subscription with this id in this workspace.
    pub async fn subscription(
        &self,
        workspace: WorkspaceId,
        id: SubscriptionId,
    ) -> Result<WebhookSubscription, StoreError> {
        let record: Option<SubscriptionRecord> = sqlx::query_as(
            "SELECT id, organization_id, workspace_id, service, event, url, signing_key, \
                 event_filters, template, created_at, updated_at \
             FROM webhook_subscriptions WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id.to_string())
        .bind(workspace.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(record.ok_or(StoreError::NotFound)?.decode()?)
    }

    /// Deletes the subscription with this id in this workspace together with all its outbox
    /// deliveries, in one transaction: pending ones are never sent, and the history of
    /// delivered and dead ones goes with it.
    pub async fn delete_subscription(
        &self,
        workspace: WorkspaceId,
        id: SubscriptionId,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        // A delivery's workspace is its subscription's, so this matches nothing when the
        // subscription belongs to another workspace.
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1 AND workspace_id = $2",
        )
        .bind(id.to_string())
        .bind(workspace.to_string())
        .execute(&mut *transaction)
        .await?;
        let deleted =
            sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1 AND workspace_id = $2")
                .bind(id.to_string())
                .bind(workspace.to_string())
                .execute(&mut *transaction)
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        transaction.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_stored_by_birds_name() {
        assert_eq!(
            service_name(WebhookService::Channels).expect("encodes"),
            "channels"
        );
    }
}
