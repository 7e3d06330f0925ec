//! Which channel takes an inbound call: the channels of every workspace, read from the store and
//! refreshed at most once a second, so channels added while the server runs (by the CLI or a
//! restart of another node) take effect without a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warbler_model::request::{FlowContext, parse_call_flow};
use warbler_model::{CallFlow, ChannelId, WorkspaceId};
use warbler_store::{Channel, Store, StoreError};

/// How long a read of the channels is trusted.
const REFRESH_AFTER: Duration = Duration::from_secs(1);

/// Where inbound calls for one channel go.
#[derive(Clone, Debug)]
pub struct ChannelRoute {
    /// The workspace owning the channel.
    pub workspace: WorkspaceId,
    /// The channel.
    pub channel: ChannelId,
    /// Request-URI users this channel answers; empty = every user.
    pub numbers: Vec<String>,
    /// A flow run at once on every inbound call, until a PATCH replaces it.
    pub call_flow: Option<CallFlow>,
}

impl ChannelRoute {
    /// The route of a stored channel, its flow parsed as a PATCH body would be.
    pub fn from_channel(channel: &Channel) -> Result<Self, warbler_model::ValidationError> {
        let call_flow = match &channel.call_flow {
            Some(serde_json::Value::Array(commands)) => Some(parse_call_flow(
                "call_flow",
                commands.clone(),
                FlowContext::UpdateCall,
            )?),
            Some(_) => {
                return Err(warbler_model::ValidationError::invalid(
                    "call_flow",
                    "call_flow must be an array of commands",
                ));
            }
            None => None,
        };
        Ok(Self {
            workspace: channel.workspace_id,
            channel: channel.id,
            numbers: channel.numbers.clone(),
            call_flow,
        })
    }
}

/// The routing table, cached.
pub(crate) struct RouteTable {
    store: Store,
    cache: Mutex<Option<(Instant, Arc<Vec<ChannelRoute>>)>>,
}

impl RouteTable {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            cache: Mutex::new(None),
        }
    }

    /// The channel for a Request-URI user: the first channel listing it (a leading `+` is
    /// ignored), else the first catch-all channel (no numbers), oldest first.
    pub(crate) async fn route(&self, user: &str) -> Result<Option<ChannelRoute>, StoreError> {
        let routes = self.current().await?;
        let normalized = user.trim_start_matches('+');
        Ok(routes
            .iter()
            .find(|route| {
                route
                    .numbers
                    .iter()
                    .any(|number| number.trim_start_matches('+') == normalized)
            })
            .or_else(|| routes.iter().find(|route| route.numbers.is_empty()))
            .cloned())
    }

    async fn current(&self) -> Result<Arc<Vec<ChannelRoute>>, StoreError> {
        if let Some((read_at, routes)) = self.lock().as_ref()
            && read_at.elapsed() < REFRESH_AFTER
        {
            return Ok(Arc::clone(routes));
        }
        let mut routes = Vec::new();
        for channel in self.store.all_channels().await? {
            match ChannelRoute::from_channel(&channel) {
                Ok(route) => routes.push(route),
                Err(error) => {
                    tracing::error!(channel = %channel.id, %error, "a stored channel flow is invalid; the channel takes no calls");
                }
            }
        }
        let routes = Arc::new(routes);
        *self.lock() = Some((Instant::now(), Arc::clone(&routes)));
        Ok(routes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<Vec<ChannelRoute>>)>> {
        // A poisoned lock only means a panic elsewhere mid-assignment; the cache is still valid.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
