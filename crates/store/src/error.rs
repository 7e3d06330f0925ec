//! The store's error type.

use std::error::Error;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row in that workspace (an id belonging to another workspace is reported the
    /// same way, never with its data).
    #[error("not found")]
    NotFound,
    /// The row would violate a uniqueness rule (an id or secret that is already stored).
    #[error("already exists")]
    Conflict,
    /// The client's page token is not one this store issued (garbled, truncated, edited).
    #[error("invalid page token")]
    InvalidPageToken,
    /// A stored row could not be decoded (a bug or a damaged database, never the client's fault).
    #[error("stored data could not be decoded")]
    Corrupt(#[from] CorruptRow),
    /// The database failed (unavailable, locked for too long, full, ...).
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Which stored value could not be decoded (or, for a value about to be stored, encoded), and
/// why.
#[derive(Debug, thiserror::Error)]
#[error("column {table}.{column} could not be decoded")]
pub struct CorruptRow {
    table: &'static str,
    column: &'static str,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

impl CorruptRow {
    /// Describes a bad value of `table.column`.
    pub(crate) fn new(
        table: &'static str,
        column: &'static str,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            table,
            column,
            source: source.into(),
        }
    }

    /// The table of the bad value.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The column of the bad value.
    pub fn column(&self) -> &'static str {
        self.column
    }
}

/// Classifies a failed write: a unique violation is a [`StoreError::Conflict`], a foreign key
/// violation means a referenced row (workspace, channel, ...) does not exist
/// ([`StoreError::NotFound`]), anything else is a [`StoreError::Database`].
pub(crate) fn write_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(database) = &error {
        if database.is_unique_violation() {
            return StoreError::Conflict;
        }
        if database.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    StoreError::Database(error)
}

/// `Ok` when an update touched a row, [`StoreError::NotFound`] otherwise.
pub(crate) fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Decodes a stored id.
pub(crate) fn decode_id<T>(
    table: &'static str,
    column: &'static str,
    text: &str,
) -> Result<T, CorruptRow>
where
    T: std::str::FromStr<Err = uuid::Error>,
{
    text.parse()
        .map_err(|error| CorruptRow::new(table, column, error))
}

/// Decodes a stored JSON document.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    column: &'static str,
    text: &str,
) -> Result<T, CorruptRow> {
    serde_json::from_str(text).map_err(|error| CorruptRow::new(table, column, error))
}

/// Encodes a value to be stored as JSON. Serializing the model's types cannot fail in practice;
/// should it, the value is reported as a corrupt `table.column`.
pub(crate) fn encode_json<T: serde::Serialize + ?Sized>(
    table: &'static str,
    column: &'static str,
    value: &T,
) -> Result<String, CorruptRow> {
    serde_json::to_string(value).map_err(|error| CorruptRow::new(table, column, error))
}
