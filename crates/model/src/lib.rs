//! Bird's Voice API vocabulary for Warbler: identifiers, the `Call` resource, call flows and their
//! commands, webhook subscriptions and events, and the parsing of Bird's JSON request bodies into
//! these types.
//!
//! Everything here is plain data: no I/O, no clock. Request bodies are parsed once at the edge
//! ([`request`]) into typed values; a body that is valid JSON but not a valid request yields a
//! [`ValidationError`] naming the field path (`callFlow[2].command`), which the HTTP layer turns
//! into Bird's `422 {code, message, details}`.

mod call;
mod error;
mod flow;
mod id;
mod options;
pub mod request;
mod time;
mod webhook;

pub use call::{
    Call, CallNotification, CallStatus, CallType, Direction, HangupSource, NumberIdentifier,
    PartyIdentifier, q850,
};
pub use error::ValidationError;
pub use flow::{
    CallFlow, Command, CommandName, CommandRecord, CommandStatus, Condition, ConditionOperator,
    ConditionVariable, FlowRecord, FlowStep, GatherResult, HangupCause, HangupOptions,
    PauseOptions, PlaybackOptions, SayOptions, Voice,
};
pub use id::{
    AccessKeyId, CallFlowId, CallId, ChannelId, CommandId, EventId, OrganizationId, SubscriptionId,
    WorkspaceId,
};
pub use options::{
    AmdSettings, BridgeOptions, DtmfKey, FlowStart, GatherInput, GatherOptions, GatherPrompt,
    RecordOptions, RecordStart, RingTone,
};
pub use time::Timestamp;
pub use webhook::{EventFilter, EventKind, WebhookEnvelope, WebhookService, WebhookSubscription};
