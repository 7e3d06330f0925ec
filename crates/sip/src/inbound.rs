//! Inbound calls: what the application receives and the leg it drives.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode};
use tracing::debug;

use crate::endpoint::EndpointShared;
use crate::error::SipError;

/// How long a hangup waits for the ACK of our 2xx before sending the BYE
/// anyway: 64*T1 with the default T1 of 500 ms (RFC 3261 §13.3.1.4, §17.1.1.1),
/// plus a margin for the stack's own Timer L to fire first.
const ACK_WAIT: Duration = Duration::from_secs(33);

/// The transport an inbound INVITE arrived on (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// A new inbound INVITE (RFC 3261 §13.3), parsed into Warbler's own types.
///
/// The stack has already answered `100 Trying`. The application must end the
/// INVITE through [`IncomingCall::leg`]: answer or reject it, or drop the leg
/// (which rejects it, see [`InboundLeg`]).
#[derive(Debug)]
pub struct IncomingCall {
    /// The SIP Call-ID (RFC 3261 §8.1.1.4).
    pub call_id: String,
    /// User part of the Request-URI (the dialled number or name), `""` if none.
    pub request_user: String,
    /// User part of the From URI (the caller), `""` if none.
    pub from_user: String,
    /// The From URI, without display name and tag.
    pub from_uri: String,
    /// The To URI, without display name and tag.
    pub to_uri: String,
    /// Where the INVITE came from (source address of the datagram or connection).
    pub remote_addr: SocketAddr,
    /// The transport the INVITE came on.
    pub transport: Transport,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
    /// The SDP offer: the body when Content-Type is `application/sdp` and the
    /// body is not empty (RFC 3264 §5). `None` means the caller expects the
    /// offer in our 2xx (RFC 3261 §13.2.1); answering it is not supported yet.
    pub offer_sdp: Option<Vec<u8>>,
    /// The leg that answers or rejects this call; owned by one call task.
    pub leg: InboundLeg,
}

/// What happened on an inbound leg, as told by [`InboundLeg::next_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegEvent {
    /// The ACK for our 2xx arrived: the dialog is confirmed (RFC 3261 §13.3.1.4).
    Acknowledged,
    /// The caller sent CANCEL before we answered; the stack answered the CANCEL
    /// 200 and the INVITE 487 (RFC 3261 §9.2). The leg is over.
    Cancelled,
    /// The peer sent BYE; the stack answered 200 (RFC 3261 §15.1.2). The leg is over.
    RemoteHangup,
    /// The dialog ended for another reason. The leg is over.
    Terminated(TerminationReason),
}

/// Why a leg ended when it was neither cancelled nor hung up by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminationReason {
    /// No ACK arrived for our 2xx within 64*T1 (RFC 3261 §13.3.1.4); the stack
    /// sent a BYE to end the session. Usually the peer's or the network's fault.
    AckTimeout,
    /// The endpoint's cancellation token fired: Warbler is shutting down.
    EndpointShutdown,
    /// The SIP stack ended the dialog for a reason an inbound leg does not
    /// expect; `status` is the SIP status it reported, if any.
    Unexpected {
        /// The SIP status code the stack attached to the termination.
        status: Option<u16>,
    },
}

/// The state of a live inbound leg, named in [`SipError::InvalidState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// The INVITE was received; only `100 Trying` went out.
    Offered,
    /// `180 Ringing` was sent.
    Ringing,
    /// `200 OK` was sent; the ACK has not arrived yet.
    Answered,
    /// The ACK arrived: the dialog is confirmed.
    Established,
}

impl fmt::Display for LegState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Offered => "offered",
            Self::Ringing => "ringing",
            Self::Answered => "answered (waiting for the ACK)",
            Self::Established => "established",
        })
    }
}

/// An operation on an [`InboundLeg`], named in [`SipError::InvalidState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegOperation {
    /// [`InboundLeg::trying`].
    Trying,
    /// [`InboundLeg::ringing`].
    Ringing,
    /// [`InboundLeg::answer`].
    Answer,
    /// [`InboundLeg::reject`].
    Reject,
    /// [`InboundLeg::hangup`].
    Hangup,
}

impl fmt::Display for LegOperation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Trying => "send 100 Trying",
            Self::Ringing => "send 180 Ringing",
            Self::Answer => "answer",
            Self::Reject => "reject",
            Self::Hangup => "hang up",
        })
    }
}

/// Where the leg is in its life.
enum Stage {
    /// The leg owns its dialog and reads the dialog's state changes.
    Live {
        state: LegState,
        states: DialogStateReceiver,
    },
    /// The dialog ended, or ending it was handed to a background task.
    Ended,
}

/// The server side (UAS) of one inbound call, owned by one call task.
///
/// All methods are async and return once the message was handed to the
/// transaction layer, which owns retransmissions (RFC 3261 §17.2).
///
/// Dropping a leg ends the call: an unanswered leg is rejected with
/// `500 Server Internal Error` (`503 Service Unavailable` while the endpoint
/// shuts down), an answered one is hung up with a BYE in the background.
pub struct InboundLeg {
    shared: Arc<EndpointShared>,
    dialog: InviteDialog,
    call_id: String,
    stage: Stage,
}

impl fmt::Debug for InboundLeg {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.stage {
            Stage::Live { state, .. } => Some(*state),
            Stage::Ended => None,
        };
        formatter
            .debug_struct("InboundLeg")
            .field("call_id", &self.call_id)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl InboundLeg {
    pub(crate) fn new(
        shared: Arc<EndpointShared>,
        dialog: InviteDialog,
        states: DialogStateReceiver,
        call_id: String,
    ) -> Self {
        Self {
            shared,
            dialog,
            call_id,
            stage: Stage::Live {
                state: LegState::Offered,
                states,
            },
        }
    }

    /// `100 Trying` (RFC 3261 §8.2.6.1). The stack already sends it as soon as
    /// the INVITE arrives, so this only checks that the leg is still unanswered.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidState`] once answered, [`SipError::LegGone`] once over.
    pub async fn trying(&mut self) -> Result<(), SipError> {
        self.unanswered_state(LegOperation::Trying)?;
        Ok(())
    }

    /// `180 Ringing`, without SDP (RFC 3261 §13.3.1.1). May be repeated.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidState`] once answered, [`SipError::LegGone`] once over
    /// (e.g. cancelled by the caller).
    pub async fn ringing(&mut self) -> Result<(), SipError> {
        self.unanswered_state(LegOperation::Ringing)?;
        self.dialog
            .ringing(None, None)
            .map_err(|_| SipError::LegGone)?;
        self.set_state(LegState::Ringing);
        Ok(())
    }

    /// `200 OK` with `sdp` as its `application/sdp` body and our Contact
    /// (RFC 3261 §13.3.1.4, §12.1.1). The stack retransmits it until the ACK
    /// arrives, reported by [`LegEvent::Acknowledged`].
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidState`] if already answered, [`SipError::LegGone`]
    /// once over (e.g. cancelled by the caller).
    pub async fn answer(&mut self, sdp: Vec<u8>) -> Result<(), SipError> {
        self.unanswered_state(LegOperation::Answer)?;
        let content_type = Header::ContentType("application/sdp".into());
        self.dialog
            .accept(Some(vec![content_type]), Some(sdp))
            .map_err(|_| SipError::LegGone)?;
        self.set_state(LegState::Answered);
        Ok(())
    }

    /// A final non-2xx response, e.g. 404, 486, 488, 503 or 603
    /// (RFC 3261 §13.3.1.3). The stack retransmits it until the ACK arrives
    /// (RFC 3261 §17.2.1). The leg is over afterwards.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidRejectStatus`] unless `status` is 300-699,
    /// [`SipError::InvalidState`] once answered (use [`hangup`](Self::hangup)),
    /// [`SipError::LegGone`] once over.
    pub async fn reject(&mut self, status: u16) -> Result<(), SipError> {
        if !(300..=699).contains(&status) {
            return Err(SipError::InvalidRejectStatus { status });
        }
        self.unanswered_state(LegOperation::Reject)?;
        self.dialog
            .reject(Some(StatusCode::from(status)), None)
            .map_err(|_| SipError::LegGone)?;
        self.end();
        Ok(())
    }

    /// Ends an answered call with a BYE (RFC 3261 §15.1.1). The leg is over
    /// afterwards: [`next_event`](Self::next_event) returns `None`.
    ///
    /// The BYE transaction runs in the background. Before the ACK arrived the
    /// BYE waits for it (or for 64*T1), as RFC 3261 §15 forbids the callee to
    /// send BYE earlier.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidState`] before the answer (use [`reject`](Self::reject)),
    /// [`SipError::LegGone`] once over (e.g. the peer hung up first).
    pub async fn hangup(&mut self) -> Result<(), SipError> {
        let state = match &self.stage {
            Stage::Ended => return Err(SipError::LegGone),
            Stage::Live { state, .. } => *state,
        };
        match state {
            LegState::Answered | LegState::Established => {}
            LegState::Offered | LegState::Ringing => {
                return Err(SipError::InvalidState {
                    operation: LegOperation::Hangup,
                    state,
                });
            }
        }
        if self.dialog.state().is_terminated() {
            // The peer ended it first; next_event tells how.
            return Err(SipError::LegGone);
        }
        if let Stage::Live { state, states } = std::mem::replace(&mut self.stage, Stage::Ended) {
            tokio::spawn(hang_up(
                self.shared.clone(),
                self.dialog.clone(),
                states,
                state,
            ));
        }
        Ok(())
    }

    /// The next event of this leg; `None` once the leg is over (after an event
    /// that ends it, after [`reject`](Self::reject) or [`hangup`](Self::hangup)).
    ///
    /// Cancel-safe: it can be used as a branch of `tokio::select!`; an event is
    /// never lost when the future is dropped before it completes.
    pub async fn next_event(&mut self) -> Option<LegEvent> {
        loop {
            let Stage::Live { states, .. } = &mut self.stage else {
                return None;
            };
            // Both branches are cancel-safe: `recv` keeps unread states in the
            // channel and `cancelled` has no side effect.
            let state = tokio::select! {
                biased;
                state = states.recv() => state,
                () = self.shared.cancel.cancelled() => {
                    self.end();
                    return Some(LegEvent::Terminated(TerminationReason::EndpointShutdown));
                }
            };
            let Some(state) = state else {
                // The dialog dropped its sender: nothing more can happen.
                self.end();
                return None;
            };
            if let Some(event) = self.observe(state) {
                return Some(event);
            }
        }
    }

    /// Maps one dialog state change to a leg event, if it is one.
    fn observe(&mut self, state: DialogState) -> Option<LegEvent> {
        match state {
            DialogState::Confirmed(..) => match &mut self.stage {
                Stage::Live { state, .. } if *state == LegState::Answered => {
                    *state = LegState::Established;
                    Some(LegEvent::Acknowledged)
                }
                // The dialog goes back to Confirmed after each in-dialog request.
                _ => None,
            },
            DialogState::Options(_, _, handle) => {
                // RFC 3261 §11.2: an OPTIONS inside the dialog (often a keepalive).
                tokio::spawn(async move {
                    if handle.reply(StatusCode::OK).await.is_err() {
                        debug!("in-dialog OPTIONS transaction ended before our 200");
                    }
                });
                None
            }
            DialogState::Terminated(_, reason) => {
                self.end();
                termination_event(reason)
            }
            // Echoes of our own responses (Early, WaitAck), and in-dialog
            // requests the facade does not handle yet (re-INVITE, UPDATE,
            // INFO, REFER, MESSAGE, NOTIFY): dropping their handle makes the
            // stack answer 501 Not Implemented.
            other => {
                debug!(call_id = %self.call_id, state = %other, "dialog state not reported to the leg");
                None
            }
        }
    }

    /// The live state if an unanswered-leg operation is allowed now.
    fn unanswered_state(&self, operation: LegOperation) -> Result<LegState, SipError> {
        let state = match &self.stage {
            Stage::Ended => return Err(SipError::LegGone),
            Stage::Live { state, .. } => *state,
        };
        match state {
            LegState::Offered | LegState::Ringing => {}
            LegState::Answered | LegState::Established => {
                return Err(SipError::InvalidState { operation, state });
            }
        }
        if self.dialog.state().is_terminated() {
            // CANCEL (or BYE) won the race; next_event tells which.
            return Err(SipError::LegGone);
        }
        Ok(state)
    }

    fn set_state(&mut self, new_state: LegState) {
        if let Stage::Live { state, .. } = &mut self.stage {
            *state = new_state;
        }
    }

    /// Marks the leg over and forgets its dialog.
    fn end(&mut self) {
        self.stage = Stage::Ended;
        self.shared.dialog_layer.remove_dialog(&self.dialog.id());
    }
}

impl Drop for InboundLeg {
    fn drop(&mut self) {
        let Stage::Live { state, states } = std::mem::replace(&mut self.stage, Stage::Ended) else {
            return;
        };
        match state {
            LegState::Offered | LegState::Ringing => {
                // RFC 3261 §13.3.1: every INVITE gets a final response.
                let status = if self.shared.cancel.is_cancelled() {
                    StatusCode::ServiceUnavailable
                } else {
                    StatusCode::ServerInternalError
                };
                if self.dialog.reject(Some(status), None).is_err() {
                    debug!(call_id = %self.call_id, "INVITE transaction gone before the leg was dropped");
                }
                self.shared.dialog_layer.remove_dialog(&self.dialog.id());
            }
            LegState::Answered | LegState::Established => {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(hang_up(
                            self.shared.clone(),
                            self.dialog.clone(),
                            states,
                            state,
                        ));
                    }
                    // No runtime left: the process is going down, nothing can be sent.
                    Err(_) => self.shared.dialog_layer.remove_dialog(&self.dialog.id()),
                }
            }
        }
    }
}

/// The event for a dialog that ended without our doing.
fn termination_event(reason: TerminatedReason) -> Option<LegEvent> {
    match reason {
        TerminatedReason::UacCancel => Some(LegEvent::Cancelled),
        TerminatedReason::UacBye => Some(LegEvent::RemoteHangup),
        TerminatedReason::Timeout => Some(LegEvent::Terminated(TerminationReason::AckTimeout)),
        // Our own reject or BYE: the leg ended when we asked for it.
        TerminatedReason::UasBye | TerminatedReason::UasDecline => None,
        TerminatedReason::UacBusy
        | TerminatedReason::UasBusy
        | TerminatedReason::ProxyAuthRequired => {
            Some(LegEvent::Terminated(TerminationReason::Unexpected {
                status: None,
            }))
        }
        TerminatedReason::ProxyError(status)
        | TerminatedReason::UacOther(status)
        | TerminatedReason::UasOther(status) => {
            Some(LegEvent::Terminated(TerminationReason::Unexpected {
                status: Some(u16::from(status)),
            }))
        }
    }
}

/// Sends the BYE of an answered leg, then forgets the dialog.
async fn hang_up(
    shared: Arc<EndpointShared>,
    dialog: InviteDialog,
    mut states: DialogStateReceiver,
    state: LegState,
) {
    let work = async {
        if state == LegState::Answered {
            // RFC 3261 §15: the callee must not send BYE before the ACK for its
            // 2xx arrived or the server transaction gave up.
            let acknowledged = tokio::time::timeout(ACK_WAIT, async {
                while let Some(state) = states.recv().await {
                    match state {
                        DialogState::Confirmed(..) => return true,
                        DialogState::Terminated(..) => return false,
                        _ => {}
                    }
                }
                false
            })
            .await;
            if acknowledged == Ok(false) {
                // Ended meanwhile (remote BYE, or Timer L and the stack's own BYE).
                return;
            }
        }
        // RFC 3261 §15.1.1: the session is over once the BYE is handed over,
        // whatever its response.
        if let Err(error) = dialog.bye().await {
            debug!(id = %dialog.id(), %error, "BYE did not complete");
        }
    };
    tokio::select! {
        () = shared.cancel.cancelled() => {}
        () = work => {}
    }
    shared.dialog_layer.remove_dialog(&dialog.id());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_support::{
        RawPeer, free_port_endpoint, header_line, next_call, ok_for, status_of,
    };

    const WAIT: Duration = Duration::from_secs(5);
    const ANSWER_SDP: &[u8] =
        b"v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    async fn event_within(leg: &mut InboundLeg) -> Option<LegEvent> {
        tokio::time::timeout(WAIT, leg.next_event())
            .await
            .expect("a leg event within the wait")
    }

    #[tokio::test]
    async fn answered_leg_reports_the_ack_and_hangs_up_with_bye() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("answered", true)).await;
        let mut call = next_call(&mut calls, WAIT).await;
        assert_eq!(call.call_id, "answered");
        assert_eq!(call.request_user, "1000");
        assert_eq!(call.from_user, "alice");
        assert_eq!(call.transport, Transport::Udp);
        assert_eq!(call.user_agent.as_deref(), Some("raw-peer"));
        assert!(call.offer_sdp.is_some());

        call.leg.ringing().await.expect("ringing");
        call.leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        peer.final_response_with(180, WAIT).await;
        let ok = peer.final_response_with(200, WAIT).await;
        assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
        assert!(ok.contains("User-Agent: warbler-sip-test"), "{ok}");
        assert!(ok.contains("Contact: <sip:127.0.0.1:"), "{ok}");
        assert!(ok.ends_with("m=audio 4000 RTP/AVP 0\r\n"), "{ok}");

        let to_line = header_line(&ok, "To").to_owned();
        peer.send(&peer.in_dialog("ACK", "answered", &to_line, 1))
            .await;
        assert_eq!(
            event_within(&mut call.leg).await,
            Some(LegEvent::Acknowledged)
        );

        call.leg.hangup().await.expect("hangup");
        assert_eq!(event_within(&mut call.leg).await, None);
        let bye = peer.request_from_endpoint(WAIT).await;
        assert!(bye.starts_with("BYE sip:alice@127.0.0.1:"), "{bye}");
        peer.send(&ok_for(&bye)).await;
        assert!(matches!(call.leg.hangup().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn remote_bye_reports_remote_hangup_and_in_dialog_options_get_200() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("remote-bye", true)).await;
        let mut call = next_call(&mut calls, WAIT).await;
        call.leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        let ok = peer.final_response_with(200, WAIT).await;
        let to_line = header_line(&ok, "To").to_owned();
        peer.send(&peer.in_dialog("ACK", "remote-bye", &to_line, 1))
            .await;
        assert_eq!(
            event_within(&mut call.leg).await,
            Some(LegEvent::Acknowledged)
        );

        peer.send(&peer.in_dialog("OPTIONS", "remote-bye", &to_line, 2))
            .await;
        // The leg answers in-dialog OPTIONS while it waits for events.
        let leg_events = tokio::spawn(async move {
            let first = event_within(&mut call.leg).await;
            let second = event_within(&mut call.leg).await;
            (call, first, second)
        });
        let options_ok = peer.final_response(WAIT).await;
        assert_eq!(status_of(&options_ok), 200, "{options_ok}");
        assert!(options_ok.contains("CSeq: 2 OPTIONS"), "{options_ok}");

        peer.send(&peer.in_dialog("BYE", "remote-bye", &to_line, 3))
            .await;
        let bye_ok = peer.final_response(WAIT).await;
        assert_eq!(status_of(&bye_ok), 200, "{bye_ok}");
        assert!(bye_ok.contains("CSeq: 3 BYE"), "{bye_ok}");

        let (mut call, first, second) = leg_events.await.expect("leg task");
        assert_eq!(first, Some(LegEvent::RemoteHangup));
        assert_eq!(second, None);
        assert!(matches!(call.leg.hangup().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn cancel_before_answer_reports_cancelled() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("cancelled", true)).await;
        let mut call = next_call(&mut calls, WAIT).await;
        call.leg.ringing().await.expect("ringing");
        peer.final_response_with(180, WAIT).await;
        peer.send(&peer.cancel("cancelled")).await;
        let cancel_ok = peer.final_response(WAIT).await;
        assert_eq!(status_of(&cancel_ok), 200, "{cancel_ok}");
        assert!(cancel_ok.contains("CSeq: 1 CANCEL"), "{cancel_ok}");
        peer.final_response_with(487, WAIT).await;

        assert_eq!(event_within(&mut call.leg).await, Some(LegEvent::Cancelled));
        assert_eq!(event_within(&mut call.leg).await, None);
        assert!(matches!(
            call.leg.answer(ANSWER_SDP.to_vec()).await,
            Err(SipError::LegGone)
        ));
    }

    #[tokio::test]
    async fn operations_out_of_order_are_the_callers_fault() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("misuse", true)).await;
        let mut leg = next_call(&mut calls, WAIT).await.leg;

        assert!(matches!(
            leg.hangup().await,
            Err(SipError::InvalidState {
                operation: LegOperation::Hangup,
                state: LegState::Offered
            })
        ));
        assert!(matches!(
            leg.reject(200).await,
            Err(SipError::InvalidRejectStatus { status: 200 })
        ));
        leg.trying().await.expect("trying while offered");
        leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        assert!(matches!(
            leg.answer(ANSWER_SDP.to_vec()).await,
            Err(SipError::InvalidState {
                operation: LegOperation::Answer,
                state: LegState::Answered
            })
        ));
        assert!(matches!(
            leg.reject(486).await,
            Err(SipError::InvalidState {
                operation: LegOperation::Reject,
                state: LegState::Answered
            })
        ));
        assert!(matches!(
            leg.ringing().await,
            Err(SipError::InvalidState {
                operation: LegOperation::Ringing,
                state: LegState::Answered
            })
        ));
    }

    #[tokio::test]
    async fn rejected_leg_sends_the_status_and_is_over() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("busy", true)).await;
        let mut leg = next_call(&mut calls, WAIT).await.leg;
        leg.reject(486).await.expect("reject");
        peer.final_response_with(486, WAIT).await;
        assert_eq!(event_within(&mut leg).await, None);
        assert!(matches!(leg.ringing().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn dropping_an_answered_leg_sends_bye_only_after_the_ack() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("dropped", true)).await;
        let mut call = next_call(&mut calls, WAIT).await;
        call.leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        drop(call);
        let ok = peer.final_response_with(200, WAIT).await;
        // Without ACK the next message is the 2xx retransmission (RFC 3261
        // §13.3.1.4), not a BYE (§15).
        let retransmission = peer.response(WAIT).await;
        assert_eq!(status_of(&retransmission), 200, "{retransmission}");
        let to_line = header_line(&ok, "To").to_owned();
        peer.send(&peer.in_dialog("ACK", "dropped", &to_line, 1))
            .await;
        let bye = peer.request_from_endpoint(WAIT).await;
        assert!(bye.starts_with("BYE "), "{bye}");
        peer.send(&ok_for(&bye)).await;
    }

    #[tokio::test]
    async fn endpoint_shutdown_ends_live_legs() {
        let (endpoint, mut calls, cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("shutdown", true)).await;
        let mut leg = next_call(&mut calls, WAIT).await.leg;
        cancel.cancel();
        assert_eq!(
            event_within(&mut leg).await,
            Some(LegEvent::Terminated(TerminationReason::EndpointShutdown))
        );
        assert_eq!(event_within(&mut leg).await, None);
    }
}
