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
use crate::in_dialog::{DialogContext, InDialogEvent, ReofferSlot, answer_request};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The ACK for our 2xx arrived: the dialog is confirmed (RFC 3261 §13.3.1.4).
    Acknowledged,
    /// The peer sent a new SDP offer in a re-INVITE (RFC 3261 §14.2) or an
    /// UPDATE (RFC 3311), e.g. to put the call on hold (`a=sendonly` or
    /// `a=inactive`, RFC 3264 §8.4) or to resume it. Answer it with
    /// [`InboundLeg::answer_reoffer`] (or refuse it with
    /// [`InboundLeg::reject_reoffer`]) within 5 seconds; after that the facade
    /// answers `500` with a Retry-After itself and the session stays as it was.
    Reoffer {
        /// The peer's SDP offer.
        sdp: Vec<u8>,
    },
    /// The peer relayed a DTMF digit in an INFO with `Content-Type:
    /// application/dtmf-relay`; the facade answered it 200.
    Dtmf {
        /// `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
        /// How long the key was pressed, in milliseconds; 0 when the INFO
        /// does not say.
        duration_ms: u32,
    },
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
    /// A re-offer waiting for the application's answer.
    reoffer: ReofferSlot,
    /// Our current SDP: the answer, then each answer to a re-offer.
    local_sdp: Option<Vec<u8>>,
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
            reoffer: ReofferSlot::default(),
            local_sdp: None,
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
            .accept(Some(vec![content_type]), Some(sdp.clone()))
            .map_err(|_| SipError::LegGone)?;
        self.local_sdp = Some(sdp);
        self.set_state(LegState::Answered);
        Ok(())
    }

    /// Answers the pending [`LegEvent::Reoffer`] `200 OK` with `sdp` as its
    /// `application/sdp` body (RFC 3264 §8, e.g. `a=recvonly` to a
    /// `a=sendonly` hold offer). The stack retransmits the 200 until the
    /// peer's ACK (RFC 3261 §14.2). `sdp` becomes our current SDP, which the
    /// facade offers again if the peer sends a re-INVITE without SDP.
    ///
    /// # Errors
    ///
    /// [`SipError::NoPendingReoffer`] when no re-offer waits for an answer
    /// (none came, it was answered already, or 5 seconds passed and the
    /// facade answered it 500), [`SipError::LegGone`] once over.
    pub async fn answer_reoffer(&mut self, sdp: Vec<u8>) -> Result<(), SipError> {
        if matches!(self.stage, Stage::Ended) {
            return Err(SipError::LegGone);
        }
        self.reoffer.answer(sdp.clone())?;
        self.local_sdp = Some(sdp);
        Ok(())
    }

    /// Refuses the pending [`LegEvent::Reoffer`] with a final non-2xx
    /// `status`, typically `488 Not Acceptable Here` (RFC 3261 §14.2): the
    /// session stays as it was.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidRejectStatus`] unless `status` is 300-699,
    /// [`SipError::NoPendingReoffer`] when no re-offer waits for an answer,
    /// [`SipError::LegGone`] once over.
    pub async fn reject_reoffer(&mut self, status: u16) -> Result<(), SipError> {
        if matches!(self.stage, Stage::Ended) {
            return Err(SipError::LegGone);
        }
        self.reoffer.reject(status)
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
        self.reoffer = ReofferSlot::default();
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
            request @ (DialogState::Updated(..)
            | DialogState::Info(..)
            | DialogState::Options(..)
            | DialogState::Refer(..)
            | DialogState::Message(..)
            | DialogState::Notify(..)
            | DialogState::Publish(..)) => {
                let context = DialogContext {
                    call_id: &self.call_id,
                    local_sdp: self.local_sdp.as_deref(),
                    cancel: &self.shared.cancel,
                };
                answer_request(request, &mut self.reoffer, &context).map(|event| match event {
                    InDialogEvent::Reoffer { sdp } => LegEvent::Reoffer { sdp },
                    InDialogEvent::Dtmf { digit, duration_ms } => {
                        LegEvent::Dtmf { digit, duration_ms }
                    }
                })
            }
            DialogState::Terminated(_, reason) => {
                self.end();
                termination_event(reason)
            }
            // Echoes of our own responses (Calling, Early, WaitAck).
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
        // A re-offer still waiting is answered 500 at once.
        self.reoffer = ReofferSlot::default();
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
    use crate::in_dialog::REOFFER_ANSWER_WAIT;
    use crate::test_support::{
        RawPeer, free_port_endpoint, header_line, next_call, ok_for, status_of,
    };

    const WAIT: Duration = Duration::from_secs(5);
    /// How long we watch for something that must not happen.
    const QUIET: Duration = Duration::from_millis(300);
    const ANSWER_SDP: &[u8] =
        b"v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    const HOLD_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n";
    const HOLD_ANSWER: &[u8] =
        b"v=0\r\no=- 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";
    const RESUME_OFFER: &str = "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 0\r\na=sendrecv\r\n";

    async fn event_within(leg: &mut InboundLeg) -> Option<LegEvent> {
        tokio::time::timeout(WAIT, leg.next_event())
            .await
            .expect("a leg event within the wait")
    }

    /// An answered and acknowledged call from `peer`; returns the leg and
    /// the To header line of the dialog.
    async fn established(
        peer: &mut RawPeer,
        calls: &mut tokio::sync::mpsc::Receiver<IncomingCall>,
        call_id: &str,
    ) -> (InboundLeg, String) {
        peer.send(&peer.invite(call_id, true)).await;
        let mut leg = next_call(calls, WAIT).await.leg;
        leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        let ok = peer.final_response_with(200, WAIT).await;
        let to_line = header_line(&ok, "To").to_owned();
        peer.send(&peer.in_dialog("ACK", call_id, &to_line, 1))
            .await;
        assert_eq!(event_within(&mut leg).await, Some(LegEvent::Acknowledged));
        (leg, to_line)
    }

    /// The next final response while the leg is polled, which must report
    /// nothing meanwhile.
    async fn response_without_event(peer: &mut RawPeer, leg: &mut InboundLeg) -> String {
        let (response, event) = tokio::join!(
            peer.final_response(WAIT),
            tokio::time::timeout(QUIET, leg.next_event())
        );
        assert!(event.is_err(), "unexpected leg event {event:?}");
        response
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

    #[tokio::test]
    async fn reinvite_and_update_offers_are_answered_with_the_application_sdp() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let (mut leg, to_line) = established(&mut peer, &mut calls, "hold").await;

        // Hold: re-INVITE with a=sendonly (RFC 3264 §8.4).
        peer.send(&peer.in_dialog_with_body(
            "INVITE",
            "hold",
            &to_line,
            2,
            "application/sdp",
            HOLD_OFFER,
        ))
        .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(LegEvent::Reoffer {
                sdp: HOLD_OFFER.as_bytes().to_vec()
            })
        );
        leg.answer_reoffer(HOLD_ANSWER.to_vec())
            .await
            .expect("answer the re-offer");
        let ok = peer.final_response_with(200, WAIT).await;
        assert!(ok.contains("CSeq: 2 INVITE"), "{ok}");
        assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
        assert!(ok.ends_with("a=recvonly\r\n"), "{ok}");
        peer.send(&peer.in_dialog("ACK", "hold", &to_line, 2)).await;
        assert!(matches!(
            leg.answer_reoffer(HOLD_ANSWER.to_vec()).await,
            Err(SipError::NoPendingReoffer)
        ));

        // Resume with UPDATE (RFC 3311).
        peer.send(&peer.in_dialog_with_body(
            "UPDATE",
            "hold",
            &to_line,
            3,
            "application/sdp",
            RESUME_OFFER,
        ))
        .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(LegEvent::Reoffer {
                sdp: RESUME_OFFER.as_bytes().to_vec()
            })
        );
        leg.answer_reoffer(ANSWER_SDP.to_vec())
            .await
            .expect("answer the UPDATE");
        let ok = peer.final_response(WAIT).await;
        assert_eq!(status_of(&ok), 200, "{ok}");
        assert!(ok.contains("CSeq: 3 UPDATE"), "{ok}");
        assert!(ok.ends_with("m=audio 4000 RTP/AVP 0\r\n"), "{ok}");

        // A re-INVITE without SDP gets our current SDP as the offer (RFC 3261 §14.2).
        peer.send(&peer.in_dialog("INVITE", "hold", &to_line, 4))
            .await;
        let ok = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&ok), 200, "{ok}");
        assert!(ok.ends_with("m=audio 4000 RTP/AVP 0\r\n"), "{ok}");
        peer.send(&peer.in_dialog("ACK", "hold", &to_line, 4)).await;

        // A re-offer the application refuses: 488, the session stays.
        peer.send(&peer.in_dialog_with_body(
            "INVITE",
            "hold",
            &to_line,
            5,
            "application/sdp",
            HOLD_OFFER,
        ))
        .await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(LegEvent::Reoffer { .. })
        ));
        assert!(matches!(
            leg.reject_reoffer(200).await,
            Err(SipError::InvalidRejectStatus { status: 200 })
        ));
        leg.reject_reoffer(488).await.expect("reject the re-offer");
        assert_eq!(status_of(&peer.final_response(WAIT).await), 488);
        peer.send(&peer.in_dialog("ACK", "hold", &to_line, 5)).await;

        // An UPDATE without SDP only refreshes the dialog.
        peer.send(&peer.in_dialog("UPDATE", "hold", &to_line, 6))
            .await;
        let ok = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&ok), 200, "{ok}");
        assert!(ok.contains("CSeq: 6 UPDATE"), "{ok}");
    }

    #[tokio::test]
    async fn unanswered_and_crossing_reoffers_get_500_with_retry_after() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let (mut leg, to_line) = established(&mut peer, &mut calls, "slow").await;
        peer.send(&peer.in_dialog_with_body(
            "INVITE",
            "slow",
            &to_line,
            2,
            "application/sdp",
            HOLD_OFFER,
        ))
        .await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(LegEvent::Reoffer { .. })
        ));
        // RFC 3261 §17.2.1: 100 Trying while the application thinks.
        assert_eq!(status_of(&peer.response(WAIT).await), 100);

        // A second offer before the first is answered (RFC 3261 §14.2).
        peer.send(&peer.in_dialog_with_body(
            "UPDATE",
            "slow",
            &to_line,
            3,
            "application/sdp",
            RESUME_OFFER,
        ))
        .await;
        let crossing = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&crossing), 500, "{crossing}");
        assert!(crossing.contains("CSeq: 3 UPDATE"), "{crossing}");
        assert!(crossing.contains("Retry-After: "), "{crossing}");

        // Nobody answers the first one in time.
        let late = tokio::time::timeout(REOFFER_ANSWER_WAIT + WAIT, peer.final_response(WAIT))
            .await
            .expect("the facade answers the re-offer itself");
        assert_eq!(status_of(&late), 500, "{late}");
        assert!(late.contains("CSeq: 2 INVITE"), "{late}");
        assert!(late.contains("Retry-After: "), "{late}");
        assert!(matches!(
            leg.answer_reoffer(HOLD_ANSWER.to_vec()).await,
            Err(SipError::NoPendingReoffer)
        ));
    }

    #[tokio::test]
    async fn info_dtmf_relay_is_reported_and_other_info_and_options_answered() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let (mut leg, to_line) = established(&mut peer, &mut calls, "info").await;

        peer.send(&peer.in_dialog_with_body(
            "INFO",
            "info",
            &to_line,
            2,
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
        ))
        .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(LegEvent::Dtmf {
                digit: '5',
                duration_ms: 160
            })
        );
        let ok = peer.final_response(WAIT).await;
        assert_eq!(status_of(&ok), 200, "{ok}");
        assert!(ok.contains("CSeq: 2 INFO"), "{ok}");

        peer.send(&peer.in_dialog_with_body("INFO", "info", &to_line, 3, "text/plain", "hello"))
            .await;
        let refused = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&refused), 415, "{refused}");
        assert!(
            refused.contains("Accept: application/dtmf-relay"),
            "{refused}"
        );

        peer.send(&peer.in_dialog_with_body(
            "INFO",
            "info",
            &to_line,
            4,
            "application/dtmf-relay",
            "Signal=X\r\n",
        ))
        .await;
        assert_eq!(
            status_of(&response_without_event(&mut peer, &mut leg).await),
            400
        );

        peer.send(&peer.in_dialog("OPTIONS", "info", &to_line, 5))
            .await;
        let options = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&options), 200, "{options}");
        assert!(options.contains("Allow: INVITE"), "{options}");

        peer.send(&peer.in_dialog("MESSAGE", "info", &to_line, 6))
            .await;
        assert_eq!(
            status_of(&response_without_event(&mut peer, &mut leg).await),
            501
        );
    }

    #[tokio::test]
    async fn invite_requiring_an_extension_gets_420_and_never_reaches_the_application() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite_with("needs-100rel", "Require: 100rel, timer\r\n"))
            .await;
        let refused = peer.final_response(WAIT).await;
        assert_eq!(status_of(&refused), 420, "{refused}");
        assert!(refused.contains("Unsupported: 100rel, timer"), "{refused}");
        assert!(
            tokio::time::timeout(QUIET, calls.recv()).await.is_err(),
            "the INVITE reached the application"
        );
        // Supported: 100rel alone is fine (RFC 3262 §3: only Require forces it).
        peer.send(&peer.invite_with("supports-100rel", "Supported: 100rel\r\n"))
            .await;
        assert_eq!(next_call(&mut calls, WAIT).await.call_id, "supports-100rel");
    }

    #[tokio::test]
    async fn draining_refuses_new_invites_but_keeps_live_dialogs() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let (mut leg, _to_line) = established(&mut peer, &mut calls, "before-drain").await;

        endpoint.drain();
        assert!(endpoint.is_draining());
        let mut late_peer = RawPeer::udp(endpoint.local_addr()).await;
        late_peer.send(&late_peer.invite("after-drain", true)).await;
        let refused = late_peer.final_response(WAIT).await;
        assert_eq!(status_of(&refused), 503, "{refused}");
        assert!(refused.contains("Retry-After: 30"), "{refused}");
        assert!(
            tokio::time::timeout(QUIET, calls.recv()).await.is_err(),
            "the INVITE reached the application"
        );

        // The live call still ends cleanly.
        leg.hangup().await.expect("hangup while draining");
        let bye = peer.request_with_method("BYE", WAIT).await;
        peer.send(&ok_for(&bye)).await;
        assert_eq!(event_within(&mut leg).await, None);
    }

    #[tokio::test]
    async fn bye_follows_the_record_route_of_the_invite() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let mut proxy = RawPeer::udp(endpoint.local_addr()).await;
        let proxy_addr = proxy.local_addr();
        let record_route = format!("Record-Route: <sip:{proxy_addr};lr>\r\n");
        peer.send(&peer.invite_with("routed", &record_route)).await;
        let mut leg = next_call(&mut calls, WAIT).await.leg;
        leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        let ok = peer.final_response_with(200, WAIT).await;
        // RFC 3261 §12.1.1: the 2xx echoes the Record-Route.
        assert!(
            ok.contains(&format!("Record-Route: <sip:{proxy_addr};lr>")),
            "{ok}"
        );
        let to_line = header_line(&ok, "To").to_owned();
        peer.send(&peer.in_dialog("ACK", "routed", &to_line, 1))
            .await;
        assert_eq!(event_within(&mut leg).await, Some(LegEvent::Acknowledged));

        // A re-INVITE relayed by the proxy (its Via on top of the caller's):
        // the answer goes back to the proxy (RFC 3261 §18.2.2) with both Vias.
        let peer_addr = peer.local_addr();
        let caller_uri = format!("<sip:alice@{peer_addr}>");
        let as_caller =
            |request: String| request.replace(&format!("<sip:alice@{proxy_addr}>"), &caller_uri);
        let relayed = as_caller(proxy.in_dialog_with_body(
            "INVITE",
            "routed",
            &to_line,
            2,
            "application/sdp",
            HOLD_OFFER,
        ))
        .replacen(
            "\r\nFrom:",
            &format!("\r\nVia: SIP/2.0/UDP {peer_addr};branch=z9hG4bK-caller-2\r\nFrom:"),
            1,
        );
        proxy.send(&relayed).await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(LegEvent::Reoffer { .. })
        ));
        leg.answer_reoffer(HOLD_ANSWER.to_vec())
            .await
            .expect("answer the re-offer");
        let held = proxy.final_response_with(200, WAIT).await;
        let proxy_via = format!("Via: SIP/2.0/UDP {proxy_addr};branch=z9hG4bK-routed-INVITE-2");
        let caller_via = format!("Via: SIP/2.0/UDP {peer_addr};branch=z9hG4bK-caller-2");
        assert!(held.contains(&proxy_via), "{held}");
        assert!(held.contains(&caller_via), "{held}");
        proxy
            .send(&as_caller(proxy.in_dialog("ACK", "routed", &to_line, 2)))
            .await;

        leg.hangup().await.expect("hangup");
        // RFC 3261 §12.2.1.1: the BYE goes to the first route (the proxy)
        // with a Route header, the Request-URI being the remote target.
        let bye = proxy.request_with_method("BYE", WAIT).await;
        assert!(
            bye.starts_with(&format!("BYE sip:alice@{peer_addr} SIP/2.0")),
            "{bye}"
        );
        assert!(
            bye.contains(&format!("Route: <sip:{proxy_addr};lr>")),
            "{bye}"
        );
        proxy.send(&ok_for(&bye)).await;
        peer.assert_silent(QUIET).await;
    }

    #[tokio::test]
    async fn requests_in_an_early_dialog_are_answered_by_the_facade() {
        let (endpoint, mut calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("early", true)).await;
        let mut leg = next_call(&mut calls, WAIT).await.leg;
        leg.ringing().await.expect("ringing");
        let ringing = peer.final_response_with(180, WAIT).await;
        let to_line = header_line(&ringing, "To").to_owned();

        peer.send(&peer.in_dialog_with_body(
            "UPDATE",
            "early",
            &to_line,
            2,
            "application/sdp",
            HOLD_OFFER,
        ))
        .await;
        let update = response_without_event(&mut peer, &mut leg).await;
        assert_eq!(status_of(&update), 500, "{update}");
        assert!(update.contains("Retry-After: 2"), "{update}");

        peer.send(&peer.in_dialog("OPTIONS", "early", &to_line, 3))
            .await;
        assert_eq!(
            status_of(&response_without_event(&mut peer, &mut leg).await),
            200
        );
        peer.send(&peer.in_dialog("INFO", "early", &to_line, 4))
            .await;
        assert_eq!(
            status_of(&response_without_event(&mut peer, &mut leg).await),
            501
        );

        // The call goes on.
        leg.answer(ANSWER_SDP.to_vec()).await.expect("answer");
        peer.final_response_with(200, WAIT).await;
    }
}
