//! The SIP side of a call actor: an incoming leg (we answer) or an outgoing one (we dialled),
//! behind one set of signals so the actor's loop does not care which.

use warbler_sip::{
    InboundLeg, LegEvent, OutboundEvent, OutboundLeg, OutboundRequest, SipEndpoint, SipError,
};

/// What the leg reports.
#[derive(Debug)]
pub(crate) enum Signal {
    /// The ACK for our 2xx (incoming).
    Acknowledged,
    /// 180/183 (outgoing), with early media's SDP if any.
    Ringing { early_sdp: Option<Vec<u8>> },
    /// 2xx with the callee's SDP answer (outgoing).
    Answered { sdp: Vec<u8> },
    /// A final non-2xx to our INVITE (outgoing).
    Rejected { status: u16 },
    /// The caller cancelled (incoming).
    Cancelled,
    /// The peer sent BYE.
    RemoteHangup,
    /// A new offer in the dialog (re-INVITE/UPDATE).
    Reoffer { sdp: Vec<u8> },
    /// A key by SIP INFO.
    Dtmf { digit: char },
    /// Nothing worth reporting (100 Trying).
    Nothing,
    /// The dialog broke, or the leg is gone.
    Ended,
}

/// One call's SIP leg.
pub(crate) enum Leg {
    /// A call that reached us.
    Inbound(InboundLeg),
    /// A call we are placing; `None` until the INVITE is sent.
    Outbound(Option<OutboundLeg>),
}

impl Leg {
    /// Sends the INVITE of an outgoing leg.
    pub(crate) async fn dial(
        &mut self,
        endpoint: &SipEndpoint,
        request: OutboundRequest,
    ) -> Result<(), SipError> {
        let leg = endpoint.dial(request).await?;
        *self = Leg::Outbound(Some(leg));
        Ok(())
    }

    /// The next signal. Cancel-safe (both facades' `next_event` are).
    pub(crate) async fn next_signal(&mut self) -> Signal {
        match self {
            Leg::Inbound(leg) => match leg.next_event().await {
                Some(LegEvent::Acknowledged) => Signal::Acknowledged,
                Some(LegEvent::Cancelled) => Signal::Cancelled,
                Some(LegEvent::RemoteHangup) => Signal::RemoteHangup,
                Some(LegEvent::Reoffer { sdp }) => Signal::Reoffer { sdp },
                Some(LegEvent::Dtmf { digit, .. }) => Signal::Dtmf { digit },
                Some(LegEvent::Terminated(reason)) => {
                    tracing::warn!(?reason, "the SIP dialog ended");
                    Signal::Ended
                }
                None => Signal::Ended,
            },
            Leg::Outbound(Some(leg)) => match leg.next_event().await {
                Some(OutboundEvent::Trying) => Signal::Nothing,
                Some(OutboundEvent::Ringing { early_sdp }) => Signal::Ringing { early_sdp },
                Some(OutboundEvent::Answered { sdp }) => Signal::Answered { sdp },
                Some(OutboundEvent::Rejected { status }) => Signal::Rejected { status },
                Some(OutboundEvent::RemoteHangup) => Signal::RemoteHangup,
                Some(OutboundEvent::Reoffer { sdp }) => Signal::Reoffer { sdp },
                Some(OutboundEvent::Dtmf { digit, .. }) => Signal::Dtmf { digit },
                Some(OutboundEvent::Terminated(reason)) => {
                    tracing::warn!(?reason, "the SIP dialog ended");
                    Signal::Ended
                }
                None => Signal::Ended,
            },
            Leg::Outbound(None) => std::future::pending().await,
        }
    }

    pub(crate) async fn ringing(&mut self) -> Result<(), LegMisuse> {
        match self {
            Leg::Inbound(leg) => leg.ringing().await.map_err(LegMisuse::Sip),
            Leg::Outbound(_) => Err(LegMisuse::IncomingOnly),
        }
    }

    pub(crate) async fn answer(&mut self, sdp: Vec<u8>) -> Result<(), LegMisuse> {
        match self {
            Leg::Inbound(leg) => leg.answer(sdp).await.map_err(LegMisuse::Sip),
            Leg::Outbound(_) => Err(LegMisuse::IncomingOnly),
        }
    }

    pub(crate) async fn hangup(&mut self) -> Result<(), SipError> {
        match self {
            Leg::Inbound(leg) => leg.hangup().await,
            Leg::Outbound(Some(leg)) => leg.hangup().await,
            Leg::Outbound(None) => Ok(()),
        }
    }

    pub(crate) async fn reject(&mut self, status: u16) -> Result<(), SipError> {
        match self {
            Leg::Inbound(leg) => leg.reject(status).await,
            Leg::Outbound(Some(leg)) => leg.cancel().await,
            Leg::Outbound(None) => Ok(()),
        }
    }

    pub(crate) async fn cancel(&mut self) -> Result<(), SipError> {
        match self {
            Leg::Outbound(Some(leg)) => leg.cancel().await,
            Leg::Inbound(leg) => leg.reject(487).await,
            Leg::Outbound(None) => Ok(()),
        }
    }

    pub(crate) async fn answer_reoffer(&mut self, sdp: Vec<u8>) -> Result<(), SipError> {
        match self {
            Leg::Inbound(leg) => leg.answer_reoffer(sdp).await,
            Leg::Outbound(Some(leg)) => leg.answer_reoffer(sdp).await,
            Leg::Outbound(None) => Ok(()),
        }
    }

    pub(crate) async fn reject_reoffer(&mut self, status: u16) -> Result<(), SipError> {
        match self {
            Leg::Inbound(leg) => leg.reject_reoffer(status).await,
            Leg::Outbound(Some(leg)) => leg.reject_reoffer(status).await,
            Leg::Outbound(None) => Ok(()),
        }
    }
}

/// An operation the leg cannot do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LegMisuse {
    /// The SIP facade refused it.
    #[error(transparent)]
    Sip(SipError),
    /// `ringing`/`answer` only apply to a call that reached us.
    #[error("this command applies to incoming calls only")]
    IncomingOnly,
}
