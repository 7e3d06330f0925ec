//! Access keys of a workspace: creating, listing and revoking them.

use sqlx::SqliteExecutor;
use warbler_model::{AccessKeyId, Timestamp, WorkspaceId};

use crate::error::{CorruptRow, decode_id, found, write_error};
use crate::workspace::secret_sha256;
use crate::{Store, StoreError, millis, timestamp};

const TABLE: &str = "access_keys";

/// An access key as it can be shown: never its secret nor the secret's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccessKeyInfo {
    /// The key's id.
    pub id: AccessKeyId,
    /// The workspace the key opens.
    pub workspace_id: WorkspaceId,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When the key was revoked; `None` while it still authenticates.
    pub revoked_at: Option<Timestamp>,
}

/// An `access_keys` row, without the hash.
#[derive(sqlx::FromRow)]
struct AccessKeyRecord {
    id: String,
    workspace_id: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl AccessKeyRecord {
    fn decode(self) -> Result<AccessKeyInfo, CorruptRow> {
        Ok(AccessKeyInfo {
            id: decode_id(TABLE, "id", &self.id)?,
            workspace_id: decode_id(TABLE, "workspace_id", &self.workspace_id)?,
            created_at: timestamp(self.created_at),
            revoked_at: self.revoked_at.map(timestamp),
        })
    }
}

/// Inserts an access key of `workspace` (on the caller's connection or transaction): only the
/// secret's SHA-256 is stored. An existing key id or secret is a [`StoreError::Conflict`], an
/// unknown workspace [`StoreError::NotFound`].
pub(crate) async fn insert_access_key<'e>(
    executor: impl SqliteExecutor<'e>,
    workspace: WorkspaceId,
    id: AccessKeyId,
    secret: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_keys (id, workspace_id, secret_sha256, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(id.to_string())
    .bind(workspace.to_string())
    .bind(secret_sha256(secret))
    .bind(millis(now))
    .execute(executor)
    .await
    .map_err(write_error)?;
    Ok(())
}

impl Store {
    /// Adds an access key to `workspace`. Only the secret's SHA-256 is stored, so the secret
    /// must be a high-entropy random string (the hash is unsalted, to be looked up directly).
    /// An existing key id or secret is a [`StoreError::Conflict`]; an unknown workspace is
    /// [`StoreError::NotFound`].
    pub async fn create_access_key(
        &self,
        workspace: WorkspaceId,
        id: AccessKeyId,
        secret: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        insert_access_key(&self.pool, workspace, id, secret, now).await
    }

    /// The access keys of `workspace`, revoked ones included, oldest first (empty for an
    /// unknown workspace).
    pub async fn access_keys(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<AccessKeyInfo>, StoreError> {
        let records: Vec<AccessKeyRecord> = sqlx::query_as(
            "SELECT id, workspace_id, created_at, revoked_at FROM access_keys \
             WHERE workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(workspace.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(records
            .into_iter()
            .map(AccessKeyRecord::decode)
            .collect::<Result<_, _>>()?)
    }

    /// Revokes the access key `id` of `workspace`: from now on it no longer authenticates.
    /// Revoking a revoked key changes nothing (it keeps its first `revoked_at`). A key that is
    /// not in `workspace` is [`StoreError::NotFound`].
    pub async fn revoke_access_key(
        &self,
        workspace: WorkspaceId,
        id: AccessKeyId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE access_keys SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE id = $2 AND workspace_id = $3",
        )
        .bind(millis(now))
        .bind(id.to_string())
        .bind(workspace.to_string())
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected())
    }
}
