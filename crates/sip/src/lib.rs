//! Warbler's SIP signalling: a small facade over the `rsipstack` stack.
//!
//! The facade listens for SIP on UDP and TCP on one address and port
//! (RFC 3261 §18), turns each new INVITE into an [`IncomingCall`] made of plain
//! Warbler types, and lets one call task drive the call through an
//! [`InboundLeg`]. No rsipstack type appears in this API.
//!
//! # Driving the facade
//!
//! 1. [`SipEndpoint::start`] binds the sockets, spawns the stack's tasks (they
//!    stop when the given cancellation token fires) and returns a bounded
//!    receiver of [`IncomingCall`]s.
//! 2. For each call, look at its fields (`request_user` is the dialled number,
//!    `offer_sdp` the caller's SDP offer) and hand the call to its own task.
//! 3. In that task: optionally [`ringing`](InboundLeg::ringing), then either
//!    [`answer`](InboundLeg::answer) with an SDP answer or
//!    [`reject`](InboundLeg::reject) with a final status (404, 486, 488, 603...).
//! 4. Loop on [`next_event`](InboundLeg::next_event), typically in a
//!    `tokio::select!` next to the media work: [`LegEvent::Acknowledged`]
//!    confirms the answer; [`LegEvent::Cancelled`], [`LegEvent::RemoteHangup`]
//!    and [`LegEvent::Terminated`] end the leg; `None` means the leg is over.
//! 5. To end the call yourself, [`hangup`](InboundLeg::hangup) (BYE).
//!
//! ```no_run
//! use tokio_util::sync::CancellationToken;
//! use warbler_sip::{LegEvent, SipConfig, SipEndpoint};
//!
//! # async fn run(answer_sdp: Vec<u8>) -> Result<(), warbler_sip::SipError> {
//! let cancel = CancellationToken::new();
//! let config = SipConfig {
//!     listen: "0.0.0.0:5060".parse().expect("a socket address"),
//!     user_agent: "Warbler".to_owned(),
//! };
//! let (_endpoint, mut calls) = SipEndpoint::start(config, cancel.clone()).await?;
//! while let Some(mut call) = calls.recv().await {
//!     let answer_sdp = answer_sdp.clone();
//!     tokio::spawn(async move {
//!         if call.request_user != "1000" {
//!             call.leg.reject(404).await.ok();
//!             return;
//!         }
//!         call.leg.ringing().await.ok();
//!         if call.leg.answer(answer_sdp).await.is_err() {
//!             return; // cancelled meanwhile
//!         }
//!         while let Some(event) = call.leg.next_event().await {
//!             match event {
//!                 LegEvent::Acknowledged => { /* start the media */ }
//!                 LegEvent::RemoteHangup | LegEvent::Cancelled | LegEvent::Terminated(_) => {}
//!             }
//!         }
//!     });
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What the stack does on its own
//!
//! * `100 Trying` for every new INVITE (RFC 3261 §8.2.6.1).
//! * CANCEL of an unanswered INVITE: 200 to the CANCEL, 487 to the INVITE
//!   (RFC 3261 §9.2), reported as [`LegEvent::Cancelled`].
//! * BYE from the peer: 200 (RFC 3261 §15.1.2), reported as
//!   [`LegEvent::RemoteHangup`].
//! * Retransmissions and transaction timers (RFC 3261 §17); a 2xx never
//!   acknowledged ends the dialog with a BYE (RFC 3261 §13.3.1.4), reported as
//!   [`TerminationReason::AckTimeout`].
//! * OPTIONS outside a dialog and inside one: 200 (RFC 3261 §11.2).
//! * Any other request outside a dialog (a stray BYE, REGISTER, MESSAGE...):
//!   481 (RFC 3261 §12.2.2).
//! * In-dialog re-INVITE, UPDATE, INFO, REFER, MESSAGE, NOTIFY: 501 Not
//!   Implemented, for now.
//! * More than 256 calls waiting in the receiver: 503 (RFC 3261 §21.5.4),
//!   logged and counted ([`SipEndpoint::overload_rejections`]).
//! * A dropped [`InboundLeg`] is rejected with 500 (503 during shutdown) when
//!   unanswered, or hung up with a BYE when answered.
//!
//! Malformed network input is dropped or answered with an error status; it
//! never panics.

mod endpoint;
mod error;
mod inbound;
mod invite;
#[cfg(test)]
mod test_support;

pub use endpoint::{SipConfig, SipEndpoint};
pub use error::SipError;
pub use inbound::{
    InboundLeg, IncomingCall, LegEvent, LegOperation, LegState, TerminationReason, Transport,
};
