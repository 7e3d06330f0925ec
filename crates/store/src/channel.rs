//! Voice channels: numbers, SIP trunk and default call flow.

use std::fmt;

use warbler_model::{ChannelId, Timestamp, WorkspaceId};

use crate::error::{CorruptRow, decode_id, decode_json, encode_json, write_error};
use crate::{Store, StoreError, id_parts, millis, timestamp};

/// A stored channel.
#[derive(Clone, PartialEq)]
pub struct Channel {
    /// Its stable id.
    pub id: ChannelId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The numbers (or SIP users) that reach it.
    pub numbers: Vec<String>,
    /// The SIP trunk (URI or host) its calls go through.
    pub trunk: Option<String>,
    /// Username to authenticate with on the trunk.
    pub trunk_username: Option<String>,
    /// Password to authenticate with on the trunk.
    pub trunk_password: Option<String>,
    /// The call flow for incoming calls, raw JSON as configured.
    pub call_flow: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its configuration last changed.
    pub updated_at: Timestamp,
}

impl fmt::Debug for Channel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Channel")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("numbers", &self.numbers)
            .field("trunk", &self.trunk)
            .field("trunk_username", &self.trunk_username)
            .field(
                "trunk_password",
                &self.trunk_password.as_ref().map(|_| "<redacted>"),
            )
            .field("call_flow", &self.call_flow)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A channel's configurable part, as declared in the configuration file (or given to
/// [`Store::create_channel`]).
#[derive(Clone, Default, PartialEq)]
pub struct ChannelSpec {
    /// The numbers (or SIP users) that reach it.
    pub numbers: Vec<String>,
    /// The SIP trunk (URI or host) its calls go through.
    pub trunk: Option<String>,
    /// Username to authenticate with on the trunk.
    pub trunk_username: Option<String>,
    /// Password to authenticate with on the trunk.
    pub trunk_password: Option<String>,
    /// The call flow for incoming calls, raw JSON as configured.
    pub call_flow: Option<serde_json::Value>,
}

impl fmt::Debug for ChannelSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ChannelSpec")
            .field("numbers", &self.numbers)
            .field("trunk", &self.trunk)
            .field("trunk_username", &self.trunk_username)
            .field(
                "trunk_password",
                &self.trunk_password.as_ref().map(|_| "<redacted>"),
            )
            .field("call_flow", &self.call_flow)
            .finish()
    }
}

/// A `channels` row.
#[derive(sqlx::FromRow)]
struct ChannelRecord {
    id: String,
    workspace_id: String,
    numbers: String,
    trunk: Option<String>,
    trunk_username: Option<String>,
    trunk_password: Option<String>,
    call_flow: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const TABLE: &str = "channels";

/// The columns [`ChannelRecord`] reads.
macro_rules! channel_columns {
    () => {
        "id, workspace_id, numbers, trunk, trunk_username, trunk_password, call_flow, \
         created_at, updated_at"
    };
}

impl ChannelRecord {
    fn decode(self) -> Result<Channel, CorruptRow> {
        Ok(Channel {
            id: decode_id(TABLE, "id", &self.id)?,
            workspace_id: decode_id(TABLE, "workspace_id", &self.workspace_id)?,
            numbers: decode_json(TABLE, "numbers", &self.numbers)?,
            trunk: self.trunk,
            trunk_username: self.trunk_username,
            trunk_password: self.trunk_password,
            call_flow: self
                .call_flow
                .map(|text| decode_json(TABLE, "call_flow", &text))
                .transpose()?,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.updated_at),
        })
    }
}

impl Store {
    /// Creates or updates the channel declared at `position` (0-based) of the configuration
    /// file for `workspace` and returns its id, which stays the same across restarts and
    /// changes. `updated_at` moves only when the specification actually changes. An unknown
    /// workspace is [`StoreError::NotFound`].
    pub async fn upsert_config_channel(
        &self,
        workspace: WorkspaceId,
        position: u32,
        spec: &ChannelSpec,
        now: Timestamp,
    ) -> Result<ChannelId, StoreError> {
        let (unix_millis, random) = id_parts(now);
        let new_id = ChannelId::from_parts(unix_millis, random);
        let numbers = encode_json(TABLE, "numbers", &spec.numbers)?;
        let call_flow = spec
            .call_flow
            .as_ref()
            .map(|flow| encode_json(TABLE, "call_flow", flow))
            .transpose()?;
        // Inserts, or updates when something differs; RETURNING yields a row in both cases and
        // none when the stored channel is already up to date.
        let upserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO channels (id, workspace_id, config_position, numbers, trunk, \
                 trunk_username, trunk_password, call_flow, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (workspace_id, config_position) DO UPDATE SET \
                 numbers = excluded.numbers, trunk = excluded.trunk, \
                 trunk_username = excluded.trunk_username, \
                 trunk_password = excluded.trunk_password, \
                 call_flow = excluded.call_flow, updated_at = excluded.updated_at \
             WHERE channels.numbers IS DISTINCT FROM excluded.numbers \
                 OR channels.trunk IS DISTINCT FROM excluded.trunk \
                 OR channels.trunk_username IS DISTINCT FROM excluded.trunk_username \
                 OR channels.trunk_password IS DISTINCT FROM excluded.trunk_password \
                 OR channels.call_flow IS DISTINCT FROM excluded.call_flow \
             RETURNING id",
        )
        .bind(new_id.to_string())
        .bind(workspace.to_string())
        .bind(i64::from(position))
        .bind(numbers)
        .bind(spec.trunk.as_deref())
        .bind(spec.trunk_username.as_deref())
        .bind(spec.trunk_password.as_deref())
        .bind(call_flow)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(write_error)?;
        let id = match upserted {
            Some(id) => id,
            None => sqlx::query_scalar(
                "SELECT id FROM channels WHERE workspace_id = $1 AND config_position = $2",
            )
            .bind(workspace.to_string())
            .bind(i64::from(position))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?,
        };
        Ok(decode_id(TABLE, "id", &id)?)
    }

    /// Creates a channel of `workspace` that is not declared in the configuration file (so
    /// [`Store::upsert_config_channel`] never touches it) and returns its new id. An unknown
    /// workspace is [`StoreError::NotFound`].
    pub async fn create_channel(
        &self,
        workspace: WorkspaceId,
        spec: &ChannelSpec,
        now: Timestamp,
    ) -> Result<ChannelId, StoreError> {
        let (unix_millis, random) = id_parts(now);
        let id = ChannelId::from_parts(unix_millis, random);
        let numbers = encode_json(TABLE, "numbers", &spec.numbers)?;
        let call_flow = spec
            .call_flow
            .as_ref()
            .map(|flow| encode_json(TABLE, "call_flow", flow))
            .transpose()?;
        sqlx::query(
            "INSERT INTO channels (id, workspace_id, config_position, numbers, trunk, \
                 trunk_username, trunk_password, call_flow, created_at, updated_at) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.to_string())
        .bind(workspace.to_string())
        .bind(numbers)
        .bind(spec.trunk.as_deref())
        .bind(spec.trunk_username.as_deref())
        .bind(spec.trunk_password.as_deref())
        .bind(call_flow)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(write_error)?;
        Ok(id)
    }

    /// The channels of `workspace`, from the configuration file or not, oldest first (empty
    /// for an unknown workspace).
    pub async fn channels(&self, workspace: WorkspaceId) -> Result<Vec<Channel>, StoreError> {
        let records: Vec<ChannelRecord> = sqlx::query_as(concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE workspace_id = $1 ORDER BY created_at, id"
        ))
        .bind(workspace.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(records
            .into_iter()
            .map(ChannelRecord::decode)
            .collect::<Result<_, _>>()?)
    }

    /// The channel with this id in this workspace.
    pub async fn channel(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
    ) -> Result<Channel, StoreError> {
        let record: Option<ChannelRecord> = sqlx::query_as(concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace.to_string())
        .bind(channel.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(record.ok_or(StoreError::NotFound)?.decode()?)
    }

    /// Every channel of every workspace, oldest first (to route incoming SIP calls).
    pub async fn all_channels(&self) -> Result<Vec<Channel>, StoreError> {
        let records: Vec<ChannelRecord> = sqlx::query_as(concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(records
            .into_iter()
            .map(ChannelRecord::decode)
            .collect::<Result<_, _>>()?)
    }
}
