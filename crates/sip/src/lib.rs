//! Warbler's SIP signalling: a small facade over the `rsipstack` stack.
//!
//! The facade listens for SIP on UDP and TCP on one address and port
//! (RFC 3261 §18), turns each new INVITE into an [`IncomingCall`] made of plain
//! Warbler types, and lets one call task drive the call through an
//! [`InboundLeg`]. Outbound calls start with [`SipEndpoint::dial`] and are
//! driven through an [`OutboundLeg`]. No rsipstack type appears in this API.
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
//!    confirms the answer; [`LegEvent::Reoffer`] asks for an SDP answer
//!    ([`answer_reoffer`](InboundLeg::answer_reoffer)) within 5 s;
//!    [`LegEvent::Dtmf`] is a digit relayed in an INFO;
//!    [`LegEvent::Cancelled`], [`LegEvent::RemoteHangup`] and
//!    [`LegEvent::Terminated`] end the leg; `None` means the leg is over.
//! 5. To end the call yourself, [`hangup`](InboundLeg::hangup) (BYE).
//! 6. For a graceful shutdown, [`SipEndpoint::drain`] first (new INVITEs get
//!    503), hang up the live calls, then fire the cancellation token.
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
//!                 LegEvent::Reoffer { sdp } => {
//!                     let answer = sdp; // negotiate for real (RFC 3264)
//!                     call.leg.answer_reoffer(answer).await.ok();
//!                 }
//!                 LegEvent::Dtmf { digit, .. } => { /* the caller pressed `digit` */ }
//!                 LegEvent::RemoteHangup | LegEvent::Cancelled | LegEvent::Terminated(_) => {}
//!             }
//!         }
//!     });
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Outbound calls
//!
//! [`SipEndpoint::dial`] sends an INVITE with the application's SDP offer to
//! the trunk over UDP and returns an [`OutboundLeg`];
//! [`OutboundLeg::next_event`] then reports [`OutboundEvent::Trying`],
//! [`OutboundEvent::Ringing`] (with early SDP from a 183), and finally
//! [`OutboundEvent::Answered`] (the facade ACKs the 2xx) or
//! [`OutboundEvent::Rejected`]. A 401 or 407 is answered once with the
//! request's [`Credentials`] (RFC 2617 digest, MD5, `qop=auth`).
//! [`OutboundLeg::cancel`] cancels before the answer, [`OutboundLeg::hangup`]
//! sends BYE after it.
//!
//! ```no_run
//! use warbler_sip::{OutboundEvent, OutboundRequest, SipEndpoint};
//!
//! # async fn run(endpoint: SipEndpoint, offer: Vec<u8>) -> Result<(), warbler_sip::SipError> {
//! let mut leg = endpoint
//!     .dial(OutboundRequest {
//!         target: "sip:+15551234567@192.0.2.10".to_owned(),
//!         from_user: "+15550001111".to_owned(),
//!         trunk: "192.0.2.10:5060".parse().expect("a socket address"),
//!         credentials: None,
//!         offer_sdp: offer,
//!         headers: vec![("X-Warbler-Call-Id".to_owned(), "call-1".to_owned())],
//!     })
//!     .await?;
//! while let Some(event) = leg.next_event().await {
//!     match event {
//!         OutboundEvent::Answered { sdp: _ } => { /* start the media */ }
//!         OutboundEvent::Rejected { status } => println!("failed with {status}"),
//!         _ => {}
//!     }
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
//! * A request with a `Require` header: 420 Bad Extension listing the option
//!   tags in `Unsupported` (RFC 3261 §8.2.2.3); the facade supports no
//!   extension (not even 100rel). Such an INVITE never reaches the application.
//! * After [`SipEndpoint::drain`]: new INVITEs get 503 with `Retry-After: 30`
//!   (RFC 3261 §21.5.4); existing dialogs keep working.
//! * In-dialog re-INVITE and UPDATE with SDP: handed over as
//!   [`LegEvent::Reoffer`] / [`OutboundEvent::Reoffer`]; a re-INVITE gets
//!   100 Trying when the event is reported, and without the application's
//!   answer within 5 s
//!   the facade answers 500 with `Retry-After` (the session stays as it was,
//!   RFC 3261 §14.2). An offer while another is pending: 500 with
//!   `Retry-After` (RFC 3261 §14.2, RFC 3311 §5.2). A re-INVITE without SDP:
//!   200 offering our current SDP unchanged; an UPDATE without SDP: 200. A
//!   body that is not SDP: 415.
//! * In-dialog INFO: `application/dtmf-relay` gives 200 and a
//!   [`LegEvent::Dtmf`] / [`OutboundEvent::Dtmf`] (400 if malformed); an
//!   empty INFO gives 200; any other body 415 with `Accept:
//!   application/dtmf-relay`.
//! * In-dialog REFER, MESSAGE, NOTIFY, PUBLISH: 501 Not Implemented.
//! * Before the dialog is confirmed (early dialog): OPTIONS 200, UPDATE 500
//!   with `Retry-After` (our answer to the INVITE's offer is still owed,
//!   RFC 3311 §5.2), INFO and the others 501.
//! * In-dialog requests are answered only while the application polls
//!   `next_event`; one left unanswered 32 s gets 501 from the stack.
//! * In-dialog requests we send (BYE, the ACK of an outbound 2xx) follow the
//!   dialog's route set from Record-Route (RFC 3261 §12.1.1, §12.1.2,
//!   §12.2.1.1); responses follow the Via (RFC 3261 §18.2.2).
//! * More than 256 calls waiting in the receiver: 503 (RFC 3261 §21.5.4),
//!   logged and counted ([`SipEndpoint::overload_rejections`]).
//! * A dropped [`InboundLeg`] is rejected with 500 (503 during shutdown) when
//!   unanswered, or hung up with a BYE when answered. A dropped
//!   [`OutboundLeg`] is cancelled when unanswered, hung up when answered.
//!
//! Malformed network input is dropped or answered with an error status; it
//! never panics.

mod endpoint;
mod error;
mod in_dialog;
mod inbound;
mod invite;
mod outbound;
#[cfg(test)]
mod test_support;

pub use endpoint::{SipConfig, SipEndpoint};
pub use error::SipError;
pub use inbound::{
    InboundLeg, IncomingCall, LegEvent, LegOperation, LegState, TerminationReason, Transport,
};
pub use outbound::{
    Credentials, OutboundEvent, OutboundLeg, OutboundOperation, OutboundRequest, OutboundState,
};
