//! The crate's error type.

use std::net::SocketAddr;

use crate::inbound::{LegOperation, LegState, Transport};
use crate::outbound::{OutboundOperation, OutboundState};

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
    /// [`InboundLeg::next_event`](crate::InboundLeg::next_event) (or
    /// [`OutboundLeg::next_event`](crate::OutboundLeg::next_event)) to learn why.
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
    /// [`InboundLeg::reject`](crate::InboundLeg::reject) (or a
    /// `reject_reoffer`) was given a status that is not a final non-2xx
    /// response (RFC 3261 §21: 300-699); the caller's fault.
    #[error("{status} is not a final non-2xx SIP status (300-699)")]
    InvalidRejectStatus {
        /// The status that was given.
        status: u16,
    },
    /// The operation is not allowed in the outbound leg's current state (the
    /// caller's fault), e.g. cancelling an answered call or hanging up one
    /// that was not answered yet.
    #[error("cannot {operation} while the outbound leg is {state}")]
    InvalidOutboundState {
        /// What was attempted.
        operation: OutboundOperation,
        /// The state the leg was in.
        state: OutboundState,
    },
    /// There is no re-offer waiting for an answer: none arrived, it was
    /// answered already, or the facade answered it itself because the
    /// application took too long (the caller's fault, or a late call).
    #[error("no re-offer is waiting for an answer")]
    NoPendingReoffer,
    /// [`OutboundRequest::target`](crate::OutboundRequest::target) is not a
    /// usable SIP URI (the caller's fault).
    #[error("cannot dial {target:?}: {reason}")]
    InvalidTarget {
        /// The target that was given.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`OutboundRequest::from_user`](crate::OutboundRequest::from_user) is
    /// not a valid user part of a SIP URI (RFC 3261 §25.1; the caller's fault).
    #[error("{from_user:?} is not a valid SIP user part")]
    InvalidFromUser {
        /// The user part that was given.
        from_user: String,
    },
    /// One of [`OutboundRequest::headers`](crate::OutboundRequest::headers)
    /// cannot be sent (the caller's fault).
    #[error("cannot send header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name that was given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`OutboundRequest::offer_sdp`](crate::OutboundRequest::offer_sdp) is
    /// empty: the facade only makes calls with an SDP offer in the INVITE
    /// (RFC 3261 §13.2.1; the caller's fault).
    #[error("an outbound call needs an SDP offer")]
    EmptyOffer,
    /// The endpoint is draining (see
    /// [`SipEndpoint::drain`](crate::SipEndpoint::drain)) or shutting down
    /// and starts no new call; the caller's fault, or a race with shutdown.
    #[error("the SIP endpoint is draining and starts no new calls")]
    Draining,
    /// The SIP stack could not build or start the outbound INVITE (the
    /// stack's fault, or an address the stack cannot use).
    #[error("cannot start the outbound call: {reason}")]
    DialFailed {
        /// What the stack said.
        reason: String,
    },
}
