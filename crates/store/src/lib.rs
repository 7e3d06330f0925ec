//! Warbler's storage: workspaces and their access keys, channels, calls, webhook subscriptions
//! and the webhook outbox, on SQLite through sqlx.
//!
//! The SQL is kept portable where that is cheap (PostgreSQL is planned): ids are hyphenated
//! UUIDs stored as `TEXT`, timestamps are [`Timestamp`]s passed in by the caller and stored as
//! `INTEGER` milliseconds (the database clock is never used), JSON documents are `TEXT`.
//!
//! Every query that takes a workspace is scoped by it: an id that belongs to another workspace
//! behaves exactly like an id that does not exist ([`StoreError::NotFound`]).
//!
//! Calls are stored as the JSON the API shows (plus indexed columns), so what is read back is
//! exactly what was written. Webhook events are written to an outbox in the same transaction as
//! the call change that causes them ([`Store::insert_call`], [`Store::update_call`]); a
//! dispatcher drains it with [`Store::due_deliveries`] and reports each attempt's outcome;
//! [`Store::deliveries`] shows a workspace its deliveries and [`Store::replay_delivery`] sends a
//! dead one again.

mod access_key;
mod call;
mod channel;
mod delivery;
mod error;
mod outbox;
mod page;
mod subscription;
mod workspace;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use warbler_model::Timestamp;

pub use access_key::AccessKeyInfo;
pub use channel::{Channel, ChannelSpec};
pub use delivery::{DeliveryRecord, DeliveryState};
pub use error::{CorruptRow, StoreError};
pub use outbox::Delivery;
pub use page::Page;
pub use workspace::{NewWorkspace, WorkspaceAccess};

/// The database file inside the data directory.
const DATABASE_FILE_NAME: &str = "warbler.db";

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema migrations, embedded from `crates/store/migrations`.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A handle on the database. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating it when missing) the database file `warbler.db` in `data_dir`, which
    /// must exist, and brings its schema up to date.
    ///
    /// The database runs in WAL mode with foreign keys enforced and a 5 second busy timeout.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DATABASE_FILE_NAME))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().connect_with(options).await?;
        Self::migrated(pool).await
    }

    /// Opens a fresh, empty in-memory database (for tests). The pool holds exactly one
    /// connection, kept open for the life of the pool, so every clone sees the same data.
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Store, StoreError> {
        MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Store { pool })
    }

    /// The connection pool, for this crate's tests.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A timestamp as stored (milliseconds since the Unix epoch).
pub(crate) const fn millis(time: Timestamp) -> i64 {
    time.unix_millis()
}

/// A stored timestamp.
pub(crate) const fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

/// The arguments of a new time-ordered id (`XxxId::from_parts`) created at `now`: its
/// milliseconds and 10 random bytes.
pub(crate) fn id_parts(now: Timestamp) -> (u64, [u8; 10]) {
    let unix_millis = u64::try_from(now.unix_millis()).unwrap_or(0);
    // Bytes 6..16 of a v4 UUID: the bits fixed by its version and variant land exactly on the
    // bits a v7 UUID overwrites with its own, so no randomness is lost.
    let source = uuid::Uuid::new_v4();
    let mut random = [0_u8; 10];
    random.copy_from_slice(&source.as_bytes()[6..]);
    (unix_millis, random)
}
