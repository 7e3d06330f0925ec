//! The live calls: call id → the actor's control channel. A lock around this map only (never
//! around protocol state), held for a lookup or an insert.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;
use warbler_model::{CallId, ChannelId, WorkspaceId};

use crate::call_actor::Control;

/// How to reach one live call.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) workspace: WorkspaceId,
    pub(crate) channel: ChannelId,
    pub(crate) controls: mpsc::Sender<Control>,
}

/// The live calls.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    calls: Mutex<HashMap<CallId, Entry>>,
}

impl Registry {
    pub(crate) fn insert(&self, call: CallId, entry: Entry) {
        self.lock().insert(call, entry);
    }

    pub(crate) fn remove(&self, call: CallId) {
        self.lock().remove(&call);
    }

    pub(crate) fn get(&self, call: CallId) -> Option<Entry> {
        self.lock().get(&call).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Entry>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
