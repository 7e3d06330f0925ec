//! The crate's error type.

use std::net::SocketAddr;

use crate::inbound::{LegOperation, LegState, Transport};

/// Everything that can go wrong when driving the SIP facade.
///
/// Each variant says whose fault it is; none carries rsipstack types.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SipError {
    /// A listen socket could not be bound (the environment's or the
    /// configuration's fault: port taken, no permission, address not local).
    #[error("cannot bind SIP over {transport} on {addr}")]
    Bind {
        /// The transport whose socket failed.
        transport: Transport,
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The leg's dialog is over (cancelled or hung up by the peer, rejected or
    /// hung up by us, timed out, or the endpoint shut down). Nobody's fault: a
    /// race with the peer or a late call; poll
    /// [`InboundLeg::next_event`](crate::InboundLeg::next_event) to learn why.
    #[error("the SIP leg is gone")]
    LegGone,
    /// The operation is not allowed in the leg's current state (the caller's
    /// fault), e.g. answering twice or hanging up before answering.
    #[error("cannot {operation} while the leg is {state}")]
    InvalidState {
        /// What was attempted.
        operation: LegOperation,
        /// The state the leg was in.
        state: LegState,
    },
    /// [`InboundLeg::reject`](crate::InboundLeg::reject) was given a status
    /// that is not a final non-2xx response (RFC 3261 §21: 300-699); the
    /// caller's fault.
    #[error("{status} is not a final non-2xx SIP status (300-699)")]
    InvalidRejectStatus {
        /// The status that was given.
        status: u16,
    },
}
