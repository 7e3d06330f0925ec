//! Configuration of the API router and the clock it reads "now" from.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use warbler_model::Timestamp;

/// Where the handlers read the current time (for `createdAt`/`updatedAt` of new resources).
/// Inject a fixed clock in tests; use [`SystemClock`] in production.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_unix_millis(millis)
    }
}

/// Settings of [`router`](crate::router). `ApiConfig::default()` is the production setting:
/// a 1 MiB body limit and the [`SystemClock`].
#[derive(Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes; longer bodies get 413.
    pub max_body_bytes: usize,
    /// The clock new resources are timestamped with.
    pub clock: Arc<dyn Clock>,
}

impl ApiConfig {
    /// The default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ApiConfig")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}
