//! Organizations, workspaces and access keys.

use std::fmt;

use sha2::{Digest, Sha256};
use warbler_model::{AccessKeyId, OrganizationId, Timestamp, WorkspaceId};

use crate::access_key::insert_access_key;
use crate::error::{CorruptRow, decode_id, write_error};
use crate::{Store, StoreError, millis};

/// The workspace an access key (or the bootstrap) gives access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceAccess {
    /// The workspace's organization.
    pub organization_id: OrganizationId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
}

/// A workspace to create, with its organization (created when new) and first access key.
#[derive(Clone, PartialEq, Eq)]
pub struct NewWorkspace {
    /// The organization; created unless it exists.
    pub organization_id: OrganizationId,
    /// The new workspace.
    pub workspace_id: WorkspaceId,
    /// The id of its first access key.
    pub access_key_id: AccessKeyId,
    /// The key's secret. Only its SHA-256 is stored, so it must be a high-entropy random
    /// string (the hash is unsalted, to be looked up directly).
    pub access_key_secret: String,
    /// When all of it is created.
    pub created_at: Timestamp,
}

impl fmt::Debug for NewWorkspace {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NewWorkspace")
            .field("organization_id", &self.organization_id)
            .field("workspace_id", &self.workspace_id)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Lower-case hex SHA-256 of an access key secret, as stored in `access_keys.secret_sha256`.
pub(crate) fn secret_sha256(secret: &str) -> String {
    use std::fmt::Write as _;

    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Decodes `(organization_id, workspace_id)` columns.
fn access(organization_id: &str, workspace_id: &str) -> Result<WorkspaceAccess, CorruptRow> {
    Ok(WorkspaceAccess {
        organization_id: decode_id("workspaces", "organization_id", organization_id)?,
        workspace_id: decode_id("workspaces", "id", workspace_id)?,
    })
}

impl Store {
    /// True while no workspace exists (before the bootstrap).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces)")
            .fetch_one(&self.pool)
            .await?;
        Ok(!exists)
    }

    /// Creates the organization (unless it exists), the workspace and its access key in one
    /// transaction. An existing workspace id, access key id or secret is a
    /// [`StoreError::Conflict`].
    pub async fn create_workspace(&self, new: &NewWorkspace) -> Result<(), StoreError> {
        let created_at = millis(new.created_at);
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO organizations (id, created_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(new.organization_id.to_string())
        .bind(created_at)
        .execute(&mut *transaction)
        .await
        .map_err(write_error)?;
        sqlx::query("INSERT INTO workspaces (id, organization_id, created_at) VALUES ($1, $2, $3)")
            .bind(new.workspace_id.to_string())
            .bind(new.organization_id.to_string())
            .bind(created_at)
            .execute(&mut *transaction)
            .await
            .map_err(write_error)?;
        insert_access_key(
            &mut *transaction,
            new.workspace_id,
            new.access_key_id,
            &new.access_key_secret,
            new.created_at,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Creates a workspace with its first access key in the existing `organization`, in one
    /// transaction. An unknown organization is [`StoreError::NotFound`] (and nothing is
    /// created); an existing workspace id, access key id or secret is a
    /// [`StoreError::Conflict`]. Only the secret's SHA-256 is stored (see
    /// [`NewWorkspace::access_key_secret`]).
    pub async fn create_workspace_in(
        &self,
        organization: OrganizationId,
        workspace: WorkspaceId,
        access_key: AccessKeyId,
        secret: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        // The foreign key on `workspaces.organization_id` refuses an unknown organization.
        sqlx::query("INSERT INTO workspaces (id, organization_id, created_at) VALUES ($1, $2, $3)")
            .bind(workspace.to_string())
            .bind(organization.to_string())
            .bind(millis(now))
            .execute(&mut *transaction)
            .await
            .map_err(write_error)?;
        insert_access_key(&mut *transaction, workspace, access_key, secret, now).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Every workspace, oldest first.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceAccess>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT organization_id, id FROM workspaces ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|(organization_id, workspace_id)| access(organization_id, workspace_id))
            .collect::<Result<_, _>>()?)
    }

    /// The oldest workspace (the one the bootstrap created), if any.
    pub async fn first_workspace(&self) -> Result<Option<WorkspaceAccess>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT organization_id, id FROM workspaces ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((organization_id, workspace_id)) => {
                Ok(Some(access(&organization_id, &workspace_id)?))
            }
            None => Ok(None),
        }
    }

    /// The workspace an access key secret opens: `None` for an unknown or revoked key.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<WorkspaceAccess>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT workspaces.organization_id, workspaces.id \
             FROM access_keys JOIN workspaces ON workspaces.id = access_keys.workspace_id \
             WHERE access_keys.secret_sha256 = $1 AND access_keys.revoked_at IS NULL",
        )
        .bind(secret_sha256(secret))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((organization_id, workspace_id)) => {
                Ok(Some(access(&organization_id, &workspace_id)?))
            }
            None => Ok(None),
        }
    }

    /// The workspace with this id.
    pub async fn workspace(&self, workspace: WorkspaceId) -> Result<WorkspaceAccess, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT organization_id, id FROM workspaces WHERE id = $1")
                .bind(workspace.to_string())
                .fetch_optional(&self.pool)
                .await?;
        let (organization_id, workspace_id) = row.ok_or(StoreError::NotFound)?;
        Ok(access(&organization_id, &workspace_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_workspace(seed: u8, secret: &str) -> NewWorkspace {
        NewWorkspace {
            organization_id: OrganizationId::from_parts(1, [seed; 10]),
            workspace_id: WorkspaceId::from_parts(2, [seed; 10]),
            access_key_id: AccessKeyId::from_parts(3, [seed; 10]),
            access_key_secret: secret.to_owned(),
            created_at: Timestamp::from_unix_millis(1_700_000_000_000 + i64::from(seed)),
        }
    }

    #[test]
    fn secrets_are_hashed_to_lower_case_hex_sha256() {
        assert_eq!(
            secret_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let text = format!("{:?}", new_workspace(1, "very-secret"));
        assert!(!text.contains("very-secret"));
    }

    #[tokio::test]
    async fn the_secret_itself_is_never_stored() {
        let store = Store::open_in_memory().await.expect("opens");
        store
            .create_workspace(&new_workspace(1, "very-secret"))
            .await
            .expect("creates");
        let stored: String = sqlx::query_scalar("SELECT secret_sha256 FROM access_keys")
            .fetch_one(store.pool())
            .await
            .expect("reads");
        assert_eq!(stored, secret_sha256("very-secret"));
    }

    #[tokio::test]
    async fn revoked_keys_no_longer_authenticate() {
        let store = Store::open_in_memory().await.expect("opens");
        let new = new_workspace(1, "key-one");
        store.create_workspace(&new).await.expect("creates");
        assert!(
            store
                .authenticate("key-one")
                .await
                .expect("reads")
                .is_some()
        );

        sqlx::query("UPDATE access_keys SET revoked_at = $1 WHERE id = $2")
            .bind(1_800_000_000_000_i64)
            .bind(new.access_key_id.to_string())
            .execute(store.pool())
            .await
            .expect("revokes");
        assert_eq!(store.authenticate("key-one").await.expect("reads"), None);
    }

    #[tokio::test]
    async fn a_second_workspace_can_join_an_existing_organization() {
        let store = Store::open_in_memory().await.expect("opens");
        let first = new_workspace(1, "key-one");
        store.create_workspace(&first).await.expect("creates");
        let second = NewWorkspace {
            organization_id: first.organization_id,
            ..new_workspace(2, "key-two")
        };
        store.create_workspace(&second).await.expect("creates");
        let access = store.authenticate("key-two").await.expect("reads");
        assert_eq!(
            access,
            Some(WorkspaceAccess {
                organization_id: first.organization_id,
                workspace_id: second.workspace_id,
            })
        );
        assert_eq!(
            store.first_workspace().await.expect("reads"),
            Some(WorkspaceAccess {
                organization_id: first.organization_id,
                workspace_id: first.workspace_id,
            })
        );
    }

    #[tokio::test]
    async fn reusing_a_secret_is_a_conflict_and_creates_nothing() {
        let store = Store::open_in_memory().await.expect("opens");
        store
            .create_workspace(&new_workspace(1, "same"))
            .await
            .expect("creates");
        let error = store
            .create_workspace(&new_workspace(2, "same"))
            .await
            .expect_err("conflicts");
        assert!(matches!(error, StoreError::Conflict), "{error:?}");
        let second = new_workspace(2, "same").workspace_id;
        assert!(matches!(
            store.workspace(second).await,
            Err(StoreError::NotFound)
        ));
    }
}
