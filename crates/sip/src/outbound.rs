//! Outbound calls (UAC, RFC 3261 §13.2): what the application asks for, the
//! leg it drives, and what happens on that leg.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Auth, Header, HostWithPort, Param, Response, Scheme, StatusCodeKind, Uri};
use rsipstack::transport::SipAddr;
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tracing::{debug, warn};

use crate::endpoint::EndpointShared;
use crate::error::SipError;
use crate::in_dialog::{DialogContext, InDialogEvent, ReofferSlot, answer_request};
use crate::inbound::{TerminationReason, Transport};
use crate::invite::has_media_type;

/// How long after our CANCEL the leg waits for the INVITE's final response
/// before it considers the INVITE cancelled anyway: 64*T1 with the default
/// T1 of 500 ms (RFC 3261 §9.1).
const CANCEL_WAIT: Duration = Duration::from_secs(32);

/// Headers the facade writes itself (RFC 3261 §8.1.1, §20), in long and
/// compact form, lower case; an application may not add them.
const RESERVED_HEADERS: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "contact",
    "m",
    "max-forwards",
    "content-type",
    "c",
    "content-length",
    "l",
    "route",
    "record-route",
    "authorization",
    "proxy-authorization",
    "require",
    "proxy-require",
];

/// An outbound call to place with [`SipEndpoint::dial`](crate::SipEndpoint::dial).
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The Request-URI and To URI (RFC 3261 §8.1.1.1-2), e.g.
    /// `sip:+15551234567@127.0.0.1:5070`; `user@host` and `host:port` get
    /// `sip:` prepended. Only `sip:` over UDP is supported.
    pub target: String,
    /// User part of our From URI, the caller id (RFC 3261 §8.1.1.3); the host
    /// is our listen address. May be empty.
    pub from_user: String,
    /// Where the INVITE is sent (the next hop, e.g. the carrier's SBC). When
    /// the target does not name this address, the INVITE carries a
    /// `Route: <sip:trunk;lr>` (an outbound proxy, RFC 3261 §8.1.2) so that a
    /// CANCEL follows the INVITE (RFC 3261 §9.1).
    pub trunk: SocketAddr,
    /// Digest credentials for a 401 or 407 challenge (RFC 3261 §22.2-3,
    /// RFC 2617 / RFC 8760 MD5 with `qop=auth`); `None` makes a challenge final.
    pub credentials: Option<Credentials>,
    /// Our SDP offer, sent as the INVITE's `application/sdp` body (RFC 3264 §5).
    pub offer_sdp: Vec<u8>,
    /// Extra headers, e.g. `("X-Warbler-Call-Id", "...")`. Names must be
    /// header tokens and not one of the headers the facade writes itself
    /// (Via, From, To, Call-ID, CSeq, Contact, Max-Forwards, Content-Type,
    /// Content-Length, Route, Record-Route, Authorization,
    /// Proxy-Authorization, Require, Proxy-Require); values must not contain
    /// line breaks.
    pub headers: Vec<(String, String)>,
}

/// A user name and password for digest authentication (RFC 3261 §22).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The digest user name.
    pub username: String,
    /// The password; never printed by `Debug`.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What happened on an outbound leg, as told by [`OutboundLeg::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundEvent {
    /// `100 Trying` arrived (RFC 3261 §21.1.1); reported once.
    Trying,
    /// A provisional response other than 100 arrived: `180 Ringing`,
    /// `183 Session Progress`, `181`, `182` (RFC 3261 §21.1).
    Ringing {
        /// The SDP answer of a provisional response with an `application/sdp`
        /// body (early media, typically 183).
        early_sdp: Option<Vec<u8>>,
    },
    /// A 2xx arrived; the facade sent the ACK (RFC 3261 §13.2.2.4).
    Answered {
        /// The callee's SDP answer (empty if the 2xx had no body).
        sdp: Vec<u8>,
    },
    /// The call failed with a final non-2xx status, after at most one
    /// authenticated retry: e.g. 486 busy, 404, 600/603 declined, 401/407
    /// when the credentials were missing or refused, 487 after our
    /// [`cancel`](OutboundLeg::cancel) (also when a 2xx crossed the CANCEL:
    /// the facade ACKs and hangs up that session, RFC 3261 §9.1, §15), 408
    /// when nothing answered (Timer B, RFC 3261 §17.1.1.2), 503 when the
    /// INVITE could not be sent (RFC 3261 §8.1.3.1). Redirects (3xx) are not
    /// followed. The leg is over.
    Rejected {
        /// The final status code.
        status: u16,
    },
    /// The callee sent a new SDP offer (re-INVITE or UPDATE) after the
    /// answer; answer it with [`OutboundLeg::answer_reoffer`] within 5
    /// seconds, see [`LegEvent::Reoffer`](crate::LegEvent::Reoffer).
    Reoffer {
        /// The callee's SDP offer.
        sdp: Vec<u8>,
    },
    /// The callee relayed a DTMF digit in an INFO (`application/dtmf-relay`);
    /// the facade answered it 200.
    Dtmf {
        /// `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
        /// How long the key was pressed, in milliseconds; 0 when not said.
        duration_ms: u32,
    },
    /// The callee sent BYE after the answer; the stack answered 200
    /// (RFC 3261 §15.1.2). The leg is over.
    RemoteHangup,
    /// The dialog ended for another reason. The leg is over.
    Terminated(TerminationReason),
}

/// The state of an outbound call, named in [`SipError::InvalidOutboundState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundState {
    /// The INVITE was sent; no response or only `100 Trying` came back.
    Calling,
    /// A provisional response other than 100 came back.
    Ringing,
    /// A 2xx came back: the call is up.
    Answered,
}

impl fmt::Display for OutboundState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Calling => "calling",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
        })
    }
}

/// An operation on an [`OutboundLeg`], named in [`SipError::InvalidOutboundState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOperation {
    /// [`OutboundLeg::cancel`].
    Cancel,
    /// [`OutboundLeg::hangup`].
    Hangup,
}

impl fmt::Display for OutboundOperation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Cancel => "cancel",
            Self::Hangup => "hang up",
        })
    }
}

/// Where the leg is in its life, as far as its events go.
enum Stage {
    /// The INVITE transaction runs: provisional responses and the final one.
    Setup {
        states: DialogStateReceiver,
        /// Armed by our CANCEL (RFC 3261 §9.1).
        cancel_deadline: Option<Pin<Box<Sleep>>>,
    },
    /// A second (or unanswerable) challenge ended the INVITE; the INVITE
    /// task's result carries the challenge's status.
    Challenged,
    /// A 2xx came back: in-dialog requests and the end of the call.
    Answered { states: DialogStateReceiver },
    /// The call is over, or ending it was handed to a background task.
    Ended,
}

/// One thing that woke [`OutboundLeg::next_event`].
enum Step {
    State(Option<DialogState>),
    Outcome(InviteOutcome),
    CancelExpired,
    Shutdown,
}

/// How the INVITE transaction ended, without stack types past this module.
enum InviteOutcome {
    /// A final response.
    Final(Response),
    /// The transaction ended without a final response.
    NoFinal,
    /// The stack failed to send the INVITE or to process a response.
    Failed(String),
}

/// What a background task does with the dialog of a leg that is let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Farewell {
    /// CANCEL the unanswered INVITE (RFC 3261 §9.1).
    Cancel,
    /// BYE the answered call (RFC 3261 §15.1.1).
    Bye,
    /// Nothing to send: only forget the dialog.
    Forget,
}

/// The client side (UAC) of one outbound call, owned by one call task.
///
/// Dropping a leg ends the call: an unanswered INVITE is cancelled, an
/// answered call is hung up with a BYE, both in the background.
pub struct OutboundLeg {
    shared: Arc<EndpointShared>,
    dialog: InviteDialog,
    call_id: String,
    stage: Stage,
    /// The stack's task that drives the INVITE transaction; `None` once its
    /// result was read or handed to a background task.
    invite_task: Option<JoinHandle<InviteAsyncResult>>,
    /// `100 Trying` was reported already.
    trying_reported: bool,
    /// [`OutboundLeg::cancel`] was called.
    cancel_requested: bool,
    reoffer: ReofferSlot,
    /// Our current SDP: the offer, then each answer to a re-offer.
    local_sdp: Vec<u8>,
}

impl fmt::Debug for OutboundLeg {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Setup { .. } => "setup",
            Stage::Challenged => "challenged",
            Stage::Answered { .. } => "answered",
            Stage::Ended => "ended",
        };
        formatter
            .debug_struct("OutboundLeg")
            .field("call_id", &self.call_id)
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

impl OutboundLeg {
    /// Sends the INVITE of `request` and returns its leg.
    pub(crate) fn dial(
        shared: Arc<EndpointShared>,
        request: OutboundRequest,
    ) -> Result<Self, SipError> {
        let offer = request.offer_sdp.clone();
        let option = invite_option(&shared, request)?;
        let (state_sender, states) = shared.dialog_layer.new_dialog_state_channel();
        let (dialog, invite_task) = shared
            .dialog_layer
            .do_invite_async(option, state_sender)
            .map_err(|error| SipError::DialFailed {
                reason: error.to_string(),
            })?;
        let call_id = dialog.id().call_id;
        Ok(Self {
            shared,
            dialog,
            call_id,
            stage: Stage::Setup {
                states,
                cancel_deadline: None,
            },
            invite_task: Some(invite_task),
            trying_reported: false,
            cancel_requested: false,
            reoffer: ReofferSlot::default(),
            local_sdp: offer,
        })
    }

    /// The SIP Call-ID of the call (RFC 3261 §8.1.1.4).
    #[must_use]
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The next event of this leg; `None` once the leg is over (after an
    /// event that ends it, or after [`hangup`](Self::hangup)).
    ///
    /// Cancel-safe: it can be used as a branch of `tokio::select!`; an event
    /// is never lost when the future is dropped before it completes.
    pub async fn next_event(&mut self) -> Option<OutboundEvent> {
        loop {
            let step = match &mut self.stage {
                Stage::Ended => return None,
                // Every branch is cancel-safe: `recv` keeps unread states in
                // the channel, a `JoinHandle` and a `Sleep` polled by
                // reference survive being dropped, `cancelled` has no side
                // effect. States come first: those the INVITE task sent
                // before it finished are read before its result.
                Stage::Setup {
                    states,
                    cancel_deadline,
                } => tokio::select! {
                    biased;
                    state = states.recv() => Step::State(state),
                    outcome = invite_outcome(&mut self.invite_task) => Step::Outcome(outcome),
                    () = deadline(cancel_deadline) => Step::CancelExpired,
                    () = self.shared.cancel.cancelled() => Step::Shutdown,
                },
                Stage::Challenged => tokio::select! {
                    biased;
                    outcome = invite_outcome(&mut self.invite_task) => Step::Outcome(outcome),
                    () = self.shared.cancel.cancelled() => Step::Shutdown,
                },
                Stage::Answered { states } => tokio::select! {
                    biased;
                    state = states.recv() => Step::State(state),
                    () = self.shared.cancel.cancelled() => Step::Shutdown,
                },
            };
            if let Some(event) = self.apply(step) {
                return Some(event);
            }
        }
    }

    /// Cancels the unanswered call with a CANCEL (RFC 3261 §9.1). The leg
    /// goes on: [`next_event`](Self::next_event) reports the INVITE's final
    /// response, normally [`OutboundEvent::Rejected`] with 487. Before any
    /// provisional response the CANCEL waits for one, as RFC 3261 §9.1
    /// requires. Without a final response 32 s (64*T1) after the CANCEL the
    /// leg reports `Rejected { status: 487 }` anyway. Calling it again does
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidOutboundState`] once a 2xx arrived (even if
    /// [`OutboundEvent::Answered`] was not read yet: read it and
    /// [`hangup`](Self::hangup)), [`SipError::LegGone`] once over.
    pub async fn cancel(&mut self) -> Result<(), SipError> {
        if matches!(self.stage, Stage::Ended) {
            return Err(SipError::LegGone);
        }
        match self.dialog.state() {
            DialogState::Calling(_) | DialogState::Trying(_) | DialogState::Early(..) => {}
            DialogState::Terminated(..) => return Err(SipError::LegGone),
            other => {
                return Err(SipError::InvalidOutboundState {
                    operation: OutboundOperation::Cancel,
                    state: outbound_state(&other),
                });
            }
        }
        if self.cancel_requested {
            return Ok(());
        }
        self.cancel_requested = true;
        let dialog = self.dialog.clone();
        let cancel = self.shared.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                sent = dialog.cancel() => {
                    if let Err(error) = sent {
                        debug!(%error, "CANCEL did not complete");
                    }
                }
            }
        });
        if let Stage::Setup {
            cancel_deadline, ..
        } = &mut self.stage
        {
            *cancel_deadline = Some(Box::pin(tokio::time::sleep(CANCEL_WAIT)));
        }
        Ok(())
    }

    /// Ends the answered call with a BYE (RFC 3261 §15.1.1), sent in the
    /// background along the dialog's route set. The leg is over afterwards:
    /// [`next_event`](Self::next_event) returns `None`.
    ///
    /// # Errors
    ///
    /// [`SipError::InvalidOutboundState`] before a 2xx (use
    /// [`cancel`](Self::cancel)), [`SipError::LegGone`] once over (e.g. the
    /// callee hung up first).
    pub async fn hangup(&mut self) -> Result<(), SipError> {
        if matches!(self.stage, Stage::Ended) {
            return Err(SipError::LegGone);
        }
        match self.dialog.state() {
            DialogState::Terminated(..) => return Err(SipError::LegGone),
            state @ (DialogState::Calling(_) | DialogState::Trying(_) | DialogState::Early(..)) => {
                return Err(SipError::InvalidOutboundState {
                    operation: OutboundOperation::Hangup,
                    state: outbound_state(&state),
                });
            }
            _ => {}
        }
        self.let_go(Farewell::Bye);
        Ok(())
    }

    /// Answers the pending [`OutboundEvent::Reoffer`] `200 OK` with `sdp`;
    /// see [`InboundLeg::answer_reoffer`](crate::InboundLeg::answer_reoffer).
    ///
    /// # Errors
    ///
    /// [`SipError::NoPendingReoffer`] when no re-offer waits for an answer,
    /// [`SipError::LegGone`] once over.
    pub async fn answer_reoffer(&mut self, sdp: Vec<u8>) -> Result<(), SipError> {
        if matches!(self.stage, Stage::Ended) {
            return Err(SipError::LegGone);
        }
        self.reoffer.answer(sdp.clone())?;
        self.local_sdp = sdp;
        Ok(())
    }

    /// Refuses the pending [`OutboundEvent::Reoffer`] with a final non-2xx
    /// `status` (typically 488); the session stays as it was.
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

    /// Turns what woke `next_event` into an event, if it is one.
    fn apply(&mut self, step: Step) -> Option<OutboundEvent> {
        match step {
            Step::Shutdown => {
                self.let_go(Farewell::Forget);
                Some(OutboundEvent::Terminated(
                    TerminationReason::EndpointShutdown,
                ))
            }
            Step::CancelExpired => {
                debug!(call_id = %self.call_id, "no final response 64*T1 after our CANCEL");
                self.let_go(Farewell::Forget);
                Some(OutboundEvent::Rejected { status: 487 })
            }
            // The dialog dropped its sender: nothing more can happen.
            Step::State(None) => {
                self.let_go(Farewell::Forget);
                None
            }
            Step::State(Some(state)) => match self.stage {
                Stage::Setup { .. } => self.observe_setup(state),
                Stage::Answered { .. } => self.observe_answered(state),
                Stage::Challenged | Stage::Ended => None,
            },
            Step::Outcome(outcome) => self.conclude(outcome),
        }
    }

    /// A dialog state while the INVITE transaction runs.
    fn observe_setup(&mut self, state: DialogState) -> Option<OutboundEvent> {
        match state {
            DialogState::Trying(_) => {
                let first = !self.trying_reported;
                self.trying_reported = true;
                first.then_some(OutboundEvent::Trying)
            }
            DialogState::Early(_, response) => Some(OutboundEvent::Ringing {
                early_sdp: sdp_of(&response),
            }),
            DialogState::Confirmed(_, response) => {
                if self.cancel_requested {
                    // The 2xx crossed our CANCEL before the stack saw it: the
                    // session must end (RFC 3261 §9.1, §15).
                    debug!(call_id = %self.call_id, "2xx after our CANCEL: hanging up");
                    self.let_go(Farewell::Bye);
                    return Some(OutboundEvent::Rejected { status: 487 });
                }
                if let Stage::Setup { states, .. } =
                    std::mem::replace(&mut self.stage, Stage::Ended)
                {
                    self.stage = Stage::Answered { states };
                }
                Some(OutboundEvent::Answered { sdp: response.body })
            }
            DialogState::Terminated(_, reason) => match reason {
                // The challenge's status is in the INVITE task's result.
                TerminatedReason::ProxyAuthRequired => {
                    self.stage = Stage::Challenged;
                    None
                }
                reason => {
                    self.let_go(Farewell::Forget);
                    Some(setup_failure(reason))
                }
            },
            request @ (DialogState::Updated(..)
            | DialogState::Info(..)
            | DialogState::Options(..)
            | DialogState::Refer(..)
            | DialogState::Message(..)
            | DialogState::Notify(..)
            | DialogState::Publish(..)) => self.answer_in_dialog(request),
            DialogState::Calling(_) | DialogState::WaitAck(..) => None,
        }
    }

    /// A dialog state once the call is up.
    fn observe_answered(&mut self, state: DialogState) -> Option<OutboundEvent> {
        match state {
            DialogState::Terminated(_, reason) => {
                self.let_go(Farewell::Forget);
                match reason {
                    TerminatedReason::UasBye => Some(OutboundEvent::RemoteHangup),
                    // Our own BYE: the leg ended when we asked for it.
                    TerminatedReason::UacBye => None,
                    TerminatedReason::Timeout => {
                        Some(OutboundEvent::Terminated(TerminationReason::AckTimeout))
                    }
                    other => Some(OutboundEvent::Terminated(TerminationReason::Unexpected {
                        status: terminated_status(&other),
                    })),
                }
            }
            request @ (DialogState::Updated(..)
            | DialogState::Info(..)
            | DialogState::Options(..)
            | DialogState::Refer(..)
            | DialogState::Message(..)
            | DialogState::Notify(..)
            | DialogState::Publish(..)) => self.answer_in_dialog(request),
            // Confirmed again after each in-dialog request; provisional
            // responses to our own in-dialog requests.
            _ => None,
        }
    }

    fn answer_in_dialog(&mut self, request: DialogState) -> Option<OutboundEvent> {
        let context = DialogContext {
            call_id: &self.call_id,
            local_sdp: Some(&self.local_sdp),
            cancel: &self.shared.cancel,
        };
        answer_request(request, &mut self.reoffer, &context).map(|event| match event {
            InDialogEvent::Reoffer { sdp } => OutboundEvent::Reoffer { sdp },
            InDialogEvent::Dtmf { digit, duration_ms } => {
                OutboundEvent::Dtmf { digit, duration_ms }
            }
        })
    }

    /// The INVITE task's result, read after every state it sent.
    fn conclude(&mut self, outcome: InviteOutcome) -> Option<OutboundEvent> {
        let challenged = matches!(self.stage, Stage::Challenged);
        let event = match outcome {
            InviteOutcome::Final(response)
                if response.status_code.kind() == StatusCodeKind::Successful && !challenged =>
            {
                // Not seen as a state: should not happen, but a 2xx is an answer.
                if let Stage::Setup { states, .. } =
                    std::mem::replace(&mut self.stage, Stage::Ended)
                {
                    self.stage = Stage::Answered { states };
                }
                return Some(OutboundEvent::Answered { sdp: response.body });
            }
            InviteOutcome::Final(response) => OutboundEvent::Rejected {
                status: u16::from(response.status_code),
            },
            // RFC 3261 §22.3: a challenge we could not answer.
            InviteOutcome::NoFinal | InviteOutcome::Failed(_) if challenged => {
                OutboundEvent::Rejected { status: 407 }
            }
            // RFC 3261 §8.1.3.1: no final response counts as 408.
            InviteOutcome::NoFinal => OutboundEvent::Rejected { status: 408 },
            // RFC 3261 §8.1.3.1: a transport failure counts as 503.
            InviteOutcome::Failed(reason) => {
                warn!(call_id = %self.call_id, %reason, "outbound INVITE failed");
                let farewell = if self.dialog.state().can_cancel() {
                    Farewell::Cancel
                } else {
                    Farewell::Forget
                };
                self.let_go(farewell);
                return Some(OutboundEvent::Rejected { status: 503 });
            }
        };
        self.let_go(Farewell::Forget);
        Some(event)
    }

    /// Ends the leg and hands what is left to do to a background task.
    fn let_go(&mut self, farewell: Farewell) {
        self.stage = Stage::Ended;
        // A re-offer still waiting is answered 500 at once.
        self.reoffer = ReofferSlot::default();
        let task = release(
            self.shared.clone(),
            self.dialog.clone(),
            self.invite_task.take(),
            farewell,
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task);
            }
            // No runtime left: the process is going down, nothing can be sent.
            Err(_) => self.shared.dialog_layer.remove_dialog(&self.dialog.id()),
        }
    }
}

impl Drop for OutboundLeg {
    fn drop(&mut self) {
        if matches!(self.stage, Stage::Ended) {
            return;
        }
        let farewell = match self.dialog.state() {
            DialogState::Calling(_) | DialogState::Trying(_) | DialogState::Early(..) => {
                Farewell::Cancel
            }
            DialogState::Terminated(..) => Farewell::Forget,
            _ => Farewell::Bye,
        };
        self.let_go(farewell);
    }
}

/// Sends the CANCEL or BYE of a leg that is let go, waits for the INVITE
/// task (which registers an answered dialog), then forgets the dialog.
async fn release(
    shared: Arc<EndpointShared>,
    dialog: InviteDialog,
    invite_task: Option<JoinHandle<InviteAsyncResult>>,
    farewell: Farewell,
) {
    let work = async {
        let sent = match farewell {
            Farewell::Cancel => dialog.cancel().await,
            Farewell::Bye => dialog.bye().await,
            Farewell::Forget => Ok(()),
        };
        if let Err(error) = sent {
            debug!(id = %dialog.id(), %error, ?farewell, "request did not complete");
        }
        if let Some(invite_task) = invite_task {
            // Ends with the INVITE transaction's final response, Timer B or
            // Timer C (RFC 3261 §17.1.1.2, §16.6).
            invite_task.await.ok();
        }
    };
    tokio::select! {
        () = shared.cancel.cancelled() => {}
        () = work => {}
    }
    shared.dialog_layer.remove_dialog(&dialog.id());
}

/// The INVITE task's result; pending forever once it was read.
async fn invite_outcome(task: &mut Option<JoinHandle<InviteAsyncResult>>) -> InviteOutcome {
    let Some(running) = task.as_mut() else {
        return std::future::pending().await;
    };
    let result = running.await;
    *task = None;
    match result {
        Ok(Ok((_, Some(response)))) => InviteOutcome::Final(response),
        Ok(Ok((_, None))) => InviteOutcome::NoFinal,
        Ok(Err(error)) => InviteOutcome::Failed(error.to_string()),
        Err(error) => InviteOutcome::Failed(error.to_string()),
    }
}

/// Completes when the CANCEL deadline passes; never without one.
async fn deadline(cancel_deadline: &mut Option<Pin<Box<Sleep>>>) {
    match cancel_deadline {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The event of an INVITE that ended without a 2xx.
fn setup_failure(reason: TerminatedReason) -> OutboundEvent {
    match reason {
        TerminatedReason::UasOther(status) | TerminatedReason::ProxyError(status) => {
            OutboundEvent::Rejected {
                status: u16::from(status),
            }
        }
        // The stack ended the INVITE after our CANCEL (RFC 3261 §9.1).
        TerminatedReason::UacCancel => OutboundEvent::Rejected { status: 487 },
        TerminatedReason::UasBusy | TerminatedReason::UacBusy => {
            OutboundEvent::Rejected { status: 486 }
        }
        TerminatedReason::UasDecline => OutboundEvent::Rejected { status: 603 },
        TerminatedReason::Timeout => OutboundEvent::Rejected { status: 408 },
        other => OutboundEvent::Terminated(TerminationReason::Unexpected {
            status: terminated_status(&other),
        }),
    }
}

fn terminated_status(reason: &TerminatedReason) -> Option<u16> {
    match reason {
        TerminatedReason::ProxyError(status)
        | TerminatedReason::UacOther(status)
        | TerminatedReason::UasOther(status) => Some(u16::from(status.clone())),
        _ => None,
    }
}

/// The leg's state as the application sees it, from the dialog's.
fn outbound_state(state: &DialogState) -> OutboundState {
    match state {
        DialogState::Calling(_) | DialogState::Trying(_) => OutboundState::Calling,
        DialogState::Early(..) => OutboundState::Ringing,
        _ => OutboundState::Answered,
    }
}

/// The SDP body of a response, if it has one (RFC 3264 §5).
fn sdp_of(response: &Response) -> Option<Vec<u8>> {
    (!response.body.is_empty() && has_media_type(&response.headers, "application/sdp"))
        .then(|| response.body.clone())
}

/// Turns the application's request into the stack's INVITE options.
fn invite_option(
    shared: &EndpointShared,
    request: OutboundRequest,
) -> Result<InviteOption, SipError> {
    if request.offer_sdp.is_empty() {
        return Err(SipError::EmptyOffer);
    }
    let callee = parse_target(&request.target)?;
    let caller = caller_uri(&request.from_user, shared.advertised().clone())?;
    let mut headers = request
        .headers
        .iter()
        .map(|(name, value)| extra_header(name, value))
        .collect::<Result<Vec<_>, _>>()?;
    let trunk = HostWithPort::from(request.trunk);
    let target_is_trunk = SipAddr::try_from(&callee)
        .ok()
        .and_then(|addr| addr.get_socketaddr().ok())
        == Some(request.trunk);
    if !target_is_trunk {
        // RFC 3261 §8.1.2: the trunk is our outbound proxy; the Route makes
        // the CANCEL take the INVITE's path (RFC 3261 §9.1).
        headers.insert(0, Header::Route(format!("<sip:{trunk};lr>").into()));
    }
    Ok(InviteOption {
        caller,
        callee,
        destination: Some(SipAddr {
            r#type: Some(rsipstack::sip::Transport::Udp),
            addr: trunk,
        }),
        content_type: Some("application/sdp".to_owned()),
        offer: Some(request.offer_sdp),
        contact: shared.contact(Transport::Udp),
        credential: request.credentials.map(|credentials| Credential {
            username: credentials.username,
            password: credentials.password,
            realm: None,
            auth_username: None,
        }),
        headers: Some(headers),
        // RFC 3261 §8.1.1.4: globally unique, with our host.
        call_id: Some(format!(
            "{}@{}",
            rsipstack::transaction::make_uuid_v4(),
            shared.advertised().host
        )),
        ..InviteOption::default()
    })
}

/// Parses the target into a `sip:` URI; `sip:` is prepended when missing.
fn parse_target(target: &str) -> Result<Uri, SipError> {
    let invalid = |reason| SipError::InvalidTarget {
        target: target.to_owned(),
        reason,
    };
    let trimmed = target.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
        || trimmed.contains(['<', '>', '"'])
    {
        return Err(invalid(
            "it contains spaces, control characters, quotes or angle brackets",
        ));
    }
    let lower = trimmed.to_ascii_lowercase();
    let text = if lower.starts_with("sip:") {
        trimmed.to_owned()
    } else if lower.starts_with("sips:") || lower.starts_with("tel:") {
        return Err(invalid("only sip: URIs are supported"));
    } else {
        format!("sip:{trimmed}")
    };
    let uri = Uri::try_from(text.as_str()).map_err(|_| invalid("it is not a SIP URI"))?;
    if uri.host_with_port.host.to_string().is_empty() {
        return Err(invalid("it has no host"));
    }
    let other_transport = uri.params.iter().any(|param| {
        matches!(param, Param::Transport(transport) if *transport != rsipstack::sip::Transport::Udp)
    });
    if other_transport {
        return Err(invalid("outbound calls go over UDP only"));
    }
    Ok(uri)
}

/// Our From URI: `sip:<from_user>@<our address>` (RFC 3261 §8.1.1.3).
fn caller_uri(from_user: &str, host_with_port: HostWithPort) -> Result<Uri, SipError> {
    if !is_user_part(from_user) {
        return Err(SipError::InvalidFromUser {
            from_user: from_user.to_owned(),
        });
    }
    Ok(Uri {
        scheme: Some(Scheme::Sip),
        auth: (!from_user.is_empty()).then(|| Auth {
            user: from_user.to_owned(),
            password: None,
        }),
        host_with_port,
        params: Vec::new(),
        headers: Vec::new(),
    })
}

/// RFC 3261 §25.1: `user = 1*( unreserved / escaped / user-unreserved )`
/// (the empty string stands for "no user part").
fn is_user_part(user: &str) -> bool {
    let bytes = user.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let escaped = bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            if !escaped {
                return false;
            }
            index += 3;
            continue;
        }
        let allowed = byte.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&byte);
        if !allowed {
            return false;
        }
        index += 1;
    }
    true
}

/// One of the application's extra headers, checked (RFC 3261 §25.1 token
/// names, no line breaks in values: no header injection).
fn extra_header(name: &str, value: &str) -> Result<Header, SipError> {
    let invalid = |reason| SipError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&byte));
    if !is_token {
        return Err(invalid("the name is not a header token"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid("the facade writes this header itself"));
    }
    if value
        .chars()
        .any(|character| character.is_control() && character != '\t')
    {
        return Err(invalid(
            "the value contains line breaks or control characters",
        ));
    }
    Ok(rsipstack::sip::headers::make_header(
        name,
        value.trim().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SipEndpoint;
    use crate::test_support::{
        RawPeer, free_port_endpoint, header_line, header_value, ok_for, response_to, status_of,
    };

    const WAIT: Duration = Duration::from_secs(5);
    const OFFER: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\n";
    const ANSWER: &str = "v=0\r\no=- 8 8 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 0\r\n";
    const HOLD_OFFER: &str = "v=0\r\no=- 8 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n";
    const HOLD_ANSWER: &str = "v=0\r\no=- 7 8 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";

    fn request_to(trunk: SocketAddr, target: String) -> OutboundRequest {
        OutboundRequest {
            target,
            from_user: "+15550001111".to_owned(),
            trunk,
            credentials: None,
            offer_sdp: OFFER.as_bytes().to_vec(),
            headers: vec![("X-Warbler-Call-Id".to_owned(), "call-42".to_owned())],
        }
    }

    async fn dial(endpoint: &SipEndpoint, request: OutboundRequest) -> OutboundLeg {
        endpoint.dial(request).await.expect("dial")
    }

    async fn event_within(leg: &mut OutboundLeg) -> Option<OutboundEvent> {
        tokio::time::timeout(WAIT, leg.next_event())
            .await
            .expect("an outbound event within the wait")
    }

    fn sdp_response(request: &str, status: &str, contact: SocketAddr, extra: &str) -> String {
        response_to(
            request,
            status,
            Some("callee-tag"),
            &format!("Contact: <sip:callee@{contact}>\r\n{extra}Content-Type: application/sdp\r\n"),
            ANSWER,
        )
    }

    #[tokio::test]
    async fn answered_call_reports_progress_acks_and_hangs_up() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(trunk_addr, format!("sip:+15551234567@{trunk_addr}")),
        )
        .await;

        let invite = trunk.request_with_method("INVITE", WAIT).await;
        let local = endpoint.local_addr();
        assert!(
            invite.starts_with(&format!("INVITE sip:+15551234567@{trunk_addr} SIP/2.0")),
            "{invite}"
        );
        assert!(
            header_value(&invite, "From").contains(&format!("<sip:+15550001111@{local}>;tag=")),
            "{invite}"
        );
        assert!(invite.contains("X-Warbler-Call-Id: call-42"), "{invite}");
        assert!(invite.contains("Content-Type: application/sdp"), "{invite}");
        assert!(!invite.contains("Route:"), "{invite}");
        assert!(invite.ends_with(OFFER), "{invite}");
        assert_eq!(header_value(&invite, "Call-ID").trim(), leg.call_id());
        assert!(leg.call_id().ends_with("@127.0.0.1"), "{invite}");

        trunk
            .send(&response_to(&invite, "100 Trying", None, "", ""))
            .await;
        assert_eq!(event_within(&mut leg).await, Some(OutboundEvent::Trying));
        trunk
            .send(&sdp_response(
                &invite,
                "183 Session Progress",
                trunk_addr,
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Ringing {
                early_sdp: Some(ANSWER.as_bytes().to_vec())
            })
        );
        trunk
            .send(&response_to(
                &invite,
                "180 Ringing",
                Some("callee-tag"),
                "",
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Ringing { early_sdp: None })
        );
        assert!(matches!(
            leg.hangup().await,
            Err(SipError::InvalidOutboundState {
                operation: OutboundOperation::Hangup,
                state: OutboundState::Ringing
            })
        ));

        trunk
            .send(&sdp_response(&invite, "200 OK", trunk_addr, ""))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Answered {
                sdp: ANSWER.as_bytes().to_vec()
            })
        );
        // RFC 3261 §13.2.2.4: the ACK goes to the 2xx's Contact.
        let ack = trunk.request_with_method("ACK", WAIT).await;
        assert!(
            ack.starts_with(&format!("ACK sip:callee@{trunk_addr} SIP/2.0")),
            "{ack}"
        );
        assert!(matches!(
            leg.cancel().await,
            Err(SipError::InvalidOutboundState {
                operation: OutboundOperation::Cancel,
                state: OutboundState::Answered
            })
        ));

        leg.hangup().await.expect("hangup");
        assert_eq!(event_within(&mut leg).await, None);
        let bye = trunk.request_with_method("BYE", WAIT).await;
        assert!(
            bye.starts_with(&format!("BYE sip:callee@{trunk_addr} SIP/2.0")),
            "{bye}"
        );
        trunk.send(&ok_for(&bye)).await;
        assert!(matches!(leg.hangup().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn cancel_takes_the_invites_route_and_reports_487() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        // The target names another host: the trunk is an outbound proxy.
        let mut leg = dial(
            &endpoint,
            request_to(trunk_addr, "+15551234567@carrier.invalid".to_owned()),
        )
        .await;
        let invite = trunk.request_with_method("INVITE", WAIT).await;
        assert!(
            invite.starts_with("INVITE sip:+15551234567@carrier.invalid SIP/2.0"),
            "{invite}"
        );
        assert!(
            invite.contains(&format!("Route: <sip:{trunk_addr};lr>")),
            "{invite}"
        );
        trunk
            .send(&response_to(
                &invite,
                "180 Ringing",
                Some("callee-tag"),
                "",
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Ringing { early_sdp: None })
        );

        leg.cancel().await.expect("cancel");
        leg.cancel().await.expect("a second cancel does nothing");
        // RFC 3261 §9.1: same Request-URI, Call-ID, From, CSeq number and
        // branch as the INVITE, sent where the INVITE went.
        let cancel = trunk.request_with_method("CANCEL", WAIT).await;
        assert!(
            cancel.starts_with("CANCEL sip:+15551234567@carrier.invalid SIP/2.0"),
            "{cancel}"
        );
        assert_eq!(header_value(&cancel, "CSeq").trim(), "1 CANCEL");
        assert_eq!(header_line(&cancel, "Via"), header_line(&invite, "Via"));
        trunk.send(&ok_for(&cancel)).await;
        trunk
            .send(&response_to(
                &invite,
                "487 Request Terminated",
                Some("callee-tag"),
                "",
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Rejected { status: 487 })
        );
        // RFC 3261 §17.1.1.3: the non-2xx is ACKed on the INVITE's branch.
        let ack = trunk.request_with_method("ACK", WAIT).await;
        assert_eq!(header_line(&ack, "Via"), header_line(&invite, "Via"));
        assert_eq!(event_within(&mut leg).await, None);
        assert!(matches!(leg.cancel().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn cancel_before_any_response_waits_for_a_provisional_one() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(trunk_addr, format!("sip:bob@{trunk_addr}")),
        )
        .await;
        let invite = trunk.request_with_method("INVITE", WAIT).await;
        leg.cancel().await.expect("cancel while calling");
        // RFC 3261 §9.1: no CANCEL before a provisional response (the INVITE
        // retransmissions stop being interesting here).
        let early = tokio::time::timeout(
            Duration::from_millis(300),
            trunk.request_with_method("CANCEL", WAIT),
        )
        .await;
        assert!(early.is_err(), "CANCEL before any response: {early:?}");
        trunk
            .send(&response_to(&invite, "100 Trying", None, "", ""))
            .await;
        let cancel = trunk.request_with_method("CANCEL", WAIT).await;
        trunk.send(&ok_for(&cancel)).await;
        trunk
            .send(&response_to(
                &invite,
                "487 Request Terminated",
                Some("t"),
                "",
                "",
            ))
            .await;
        let mut events = Vec::new();
        while let Some(event) = event_within(&mut leg).await {
            events.push(event);
        }
        assert_eq!(
            events,
            vec![
                OutboundEvent::Trying,
                OutboundEvent::Rejected { status: 487 }
            ]
        );
    }

    #[tokio::test]
    async fn a_challenge_is_answered_once_then_rejected() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut request = request_to(trunk_addr, format!("sip:+15551234567@{trunk_addr}"));
        request.credentials = Some(Credentials {
            username: "user".to_owned(),
            password: "secret".to_owned(),
        });
        let mut leg = dial(&endpoint, request).await;
        let challenge =
            "WWW-Authenticate: Digest realm=\"warbler.test\", nonce=\"n0nce\", qop=\"auth\"\r\n";

        let invite = trunk.request_with_method("INVITE", WAIT).await;
        trunk
            .send(&response_to(
                &invite,
                "401 Unauthorized",
                Some("auth-tag"),
                challenge,
                "",
            ))
            .await;
        let retry = trunk.request_with_method("INVITE", WAIT).await;
        // RFC 3261 §22.2: same Call-ID and From tag, next CSeq, new branch.
        assert_eq!(header_value(&retry, "CSeq").trim(), "2 INVITE");
        assert_eq!(
            header_line(&retry, "Call-ID"),
            header_line(&invite, "Call-ID")
        );
        assert_eq!(header_line(&retry, "From"), header_line(&invite, "From"));
        assert_ne!(header_line(&retry, "Via"), header_line(&invite, "Via"));
        let authorization = header_value(&retry, "Authorization");
        for part in [
            "Digest ",
            "username=\"user\"",
            "realm=\"warbler.test\"",
            "nonce=\"n0nce\"",
            "qop=auth",
            "nc=00000001",
            "cnonce=",
            "response=",
        ] {
            assert!(authorization.contains(part), "{part} missing in {retry}");
        }
        assert!(retry.ends_with(OFFER), "{retry}");

        trunk
            .send(&response_to(
                &retry,
                "401 Unauthorized",
                Some("auth-tag"),
                challenge,
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Rejected { status: 401 })
        );
        assert_eq!(event_within(&mut leg).await, None);
    }

    #[tokio::test]
    async fn a_challenge_without_credentials_is_final() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(trunk_addr, format!("sip:bob@{trunk_addr}")),
        )
        .await;
        let invite = trunk.request_with_method("INVITE", WAIT).await;
        trunk
            .send(&response_to(
                &invite,
                "407 Proxy Authentication Required",
                Some("auth-tag"),
                "Proxy-Authenticate: Digest realm=\"warbler.test\", nonce=\"n0nce\"\r\n",
                "",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Rejected { status: 407 })
        );
        assert_eq!(event_within(&mut leg).await, None);
    }

    #[tokio::test]
    async fn busy_callee_is_rejected_with_its_status() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut leg = dial(&endpoint, request_to(trunk_addr, format!("{trunk_addr}"))).await;
        let invite = trunk.request_with_method("INVITE", WAIT).await;
        assert!(
            invite.starts_with(&format!("INVITE sip:{trunk_addr} SIP/2.0")),
            "{invite}"
        );
        trunk
            .send(&response_to(&invite, "486 Busy Here", Some("busy"), "", ""))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Rejected { status: 486 })
        );
        trunk.request_with_method("ACK", WAIT).await;
    }

    #[tokio::test]
    async fn in_dialog_requests_follow_the_record_route_and_reach_the_leg() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut callee = RawPeer::udp(endpoint.local_addr()).await;
        let callee_addr = callee.local_addr();
        let mut proxy = RawPeer::udp(endpoint.local_addr()).await;
        let proxy_addr = proxy.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(callee_addr, format!("sip:bob@{callee_addr}")),
        )
        .await;
        let invite = callee.request_with_method("INVITE", WAIT).await;
        let record_route = format!("Record-Route: <sip:{proxy_addr};lr>\r\n");
        let ok = sdp_response(&invite, "200 OK", callee_addr, &record_route);
        callee.send(&ok).await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Answered { .. })
        ));
        // RFC 3261 §12.2.1.1: ACK and BYE go to the proxy with a Route.
        let ack = proxy.request_with_method("ACK", WAIT).await;
        assert!(
            ack.starts_with(&format!("ACK sip:callee@{callee_addr} SIP/2.0")),
            "{ack}"
        );
        assert!(
            ack.contains(&format!("Route: <sip:{proxy_addr};lr>")),
            "{ack}"
        );

        // The callee puts us on hold.
        callee
            .send(&callee.callee_request(
                "INVITE",
                &invite,
                &ok,
                1,
                Some("application/sdp"),
                HOLD_OFFER,
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Reoffer {
                sdp: HOLD_OFFER.as_bytes().to_vec()
            })
        );
        leg.answer_reoffer(HOLD_ANSWER.as_bytes().to_vec())
            .await
            .expect("answer the re-offer");
        let held = callee.final_response_with(200, WAIT).await;
        assert!(held.ends_with(HOLD_ANSWER), "{held}");
        callee
            .send(&callee.callee_request("ACK", &invite, &ok, 1, None, ""))
            .await;

        callee
            .send(&callee.callee_request(
                "INFO",
                &invite,
                &ok,
                2,
                Some("application/dtmf-relay"),
                "Signal=#\r\nDuration=100\r\n",
            ))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Dtmf {
                digit: '#',
                duration_ms: 100
            })
        );
        let info_ok = callee.final_response(WAIT).await;
        assert_eq!(status_of(&info_ok), 200, "{info_ok}");

        leg.hangup().await.expect("hangup");
        let bye = proxy.request_with_method("BYE", WAIT).await;
        assert!(
            bye.starts_with(&format!("BYE sip:callee@{callee_addr} SIP/2.0")),
            "{bye}"
        );
        assert!(
            bye.contains(&format!("Route: <sip:{proxy_addr};lr>")),
            "{bye}"
        );
        proxy.send(&ok_for(&bye)).await;
    }

    #[tokio::test]
    async fn remote_bye_ends_the_call() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut callee = RawPeer::udp(endpoint.local_addr()).await;
        let callee_addr = callee.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(callee_addr, format!("sip:bob@{callee_addr}")),
        )
        .await;
        let invite = callee.request_with_method("INVITE", WAIT).await;
        let ok = sdp_response(&invite, "200 OK", callee_addr, "");
        callee.send(&ok).await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Answered { .. })
        ));
        callee.request_with_method("ACK", WAIT).await;
        callee
            .send(&callee.callee_request("BYE", &invite, &ok, 1, None, ""))
            .await;
        assert_eq!(
            event_within(&mut leg).await,
            Some(OutboundEvent::RemoteHangup)
        );
        assert_eq!(status_of(&callee.final_response(WAIT).await), 200);
        assert_eq!(event_within(&mut leg).await, None);
        assert!(matches!(leg.hangup().await, Err(SipError::LegGone)));
    }

    #[tokio::test]
    async fn dropping_a_ringing_leg_cancels_the_invite() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut trunk = RawPeer::udp(endpoint.local_addr()).await;
        let trunk_addr = trunk.local_addr();
        let mut leg = dial(
            &endpoint,
            request_to(trunk_addr, format!("sip:bob@{trunk_addr}")),
        )
        .await;
        let invite = trunk.request_with_method("INVITE", WAIT).await;
        trunk
            .send(&response_to(
                &invite,
                "180 Ringing",
                Some("callee-tag"),
                "",
                "",
            ))
            .await;
        assert!(matches!(
            event_within(&mut leg).await,
            Some(OutboundEvent::Ringing { .. })
        ));
        drop(leg);
        let cancel = trunk.request_with_method("CANCEL", WAIT).await;
        trunk.send(&ok_for(&cancel)).await;
        trunk
            .send(&response_to(
                &invite,
                "487 Request Terminated",
                Some("callee-tag"),
                "",
                "",
            ))
            .await;
        trunk.request_with_method("ACK", WAIT).await;
    }

    #[tokio::test]
    async fn bad_requests_and_draining_are_refused_before_sending() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let trunk: SocketAddr = "127.0.0.1:9".parse().expect("an address");
        let mut empty_offer = request_to(trunk, "sip:bob@127.0.0.1:9".to_owned());
        empty_offer.offer_sdp.clear();
        assert!(matches!(
            endpoint.dial(empty_offer).await,
            Err(SipError::EmptyOffer)
        ));
        let bad_target = request_to(trunk, "tel:+15551234567".to_owned());
        assert!(matches!(
            endpoint.dial(bad_target).await,
            Err(SipError::InvalidTarget { .. })
        ));
        let mut bad_user = request_to(trunk, "sip:bob@127.0.0.1:9".to_owned());
        bad_user.from_user = "bad user".to_owned();
        assert!(matches!(
            endpoint.dial(bad_user).await,
            Err(SipError::InvalidFromUser { .. })
        ));
        let mut bad_header = request_to(trunk, "sip:bob@127.0.0.1:9".to_owned());
        bad_header.headers = vec![("Call-ID".to_owned(), "forged".to_owned())];
        assert!(matches!(
            endpoint.dial(bad_header).await,
            Err(SipError::InvalidHeader { .. })
        ));
        endpoint.drain();
        let fine = request_to(trunk, "sip:bob@127.0.0.1:9".to_owned());
        assert!(matches!(endpoint.dial(fine).await, Err(SipError::Draining)));
    }

    #[test]
    fn targets_get_a_sip_scheme_and_must_be_udp() {
        let uri = parse_target("sip:+15551234567@127.0.0.1:5070").expect("a SIP URI");
        assert_eq!(uri.to_string(), "sip:+15551234567@127.0.0.1:5070");
        let uri = parse_target("alice@example.com").expect("user@host");
        assert_eq!(uri.to_string(), "sip:alice@example.com");
        let uri = parse_target("127.0.0.1:5070").expect("host:port");
        assert_eq!(uri.to_string(), "sip:127.0.0.1:5070");
        for bad in [
            "",
            "   ",
            "tel:+15551234567",
            "sips:bob@example.com",
            "sip:bob@example.com;transport=tcp",
            "sip:bob@exa mple.com",
            "sip:bob@example.com\r\nX-Injected: 1",
            "<sip:bob@example.com>",
        ] {
            assert!(
                matches!(parse_target(bad), Err(SipError::InvalidTarget { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn from_users_follow_the_user_part_grammar() {
        for good in ["", "+15551234567", "alice", "a.b-c_d", "%41lice", "x;y=z"] {
            assert!(is_user_part(good), "{good:?} was refused");
        }
        for bad in ["al ice", "a@b", "a<b", "%4", "%zz", "é", "a:b", "a\r\n"] {
            assert!(!is_user_part(bad), "{bad:?} was accepted");
        }
    }

    #[test]
    fn extra_headers_cannot_inject_or_override() {
        let header = extra_header("X-Warbler-Call-Id", " abc ").expect("a custom header");
        assert_eq!(header.to_string(), "X-Warbler-Call-Id: abc");
        for (name, value) in [
            ("", "x"),
            ("X Space", "x"),
            ("X:Colon", "x"),
            ("Via", "SIP/2.0/UDP 10.0.0.1"),
            ("call-id", "x"),
            ("m", "<sip:a@b>"),
            ("Route", "<sip:a@b>"),
            ("X-Ok", "line\r\nX-Injected: 1"),
            ("X-Ok", "nul\0"),
        ] {
            assert!(
                matches!(
                    extra_header(name, value),
                    Err(SipError::InvalidHeader { .. })
                ),
                "{name:?}: {value:?} was accepted"
            );
        }
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let credentials = Credentials {
            username: "user".to_owned(),
            password: "secret".to_owned(),
        };
        let printed = format!("{credentials:?}");
        assert!(printed.contains("user"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
