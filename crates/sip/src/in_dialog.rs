//! In-dialog requests both leg kinds answer (RFC 3261 §12.2.2): offers in a
//! re-INVITE (RFC 3261 §14.2) or an UPDATE (RFC 3311), INFO carrying DTMF as
//! `application/dtmf-relay`, OPTIONS (RFC 3261 §11.2), and the methods the
//! facade does not implement.
//!
//! The stack reports each in-dialog request as a dialog state carrying a
//! handle that must be answered; this module answers it or turns it into an
//! [`InDialogEvent`] for the application.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rsipstack::dialog::dialog::{DialogState, TransactionHandle};
use rsipstack::sip::{Header, Method, Request, StatusCode};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::error::SipError;
use crate::invite::{has_media_type, has_sdp_body};

/// How long the application has to answer a re-offer before the facade
/// answers it `500 Server Internal Error` with a Retry-After (RFC 3261 §14.2,
/// §21.5.1): the session stays as it was and the peer may try again.
pub(crate) const REOFFER_ANSWER_WAIT: Duration = Duration::from_secs(5);

/// The media type of DTMF relayed in INFO bodies (a de-facto format: lines
/// `Signal=5` and `Duration=160`, no RFC).
const DTMF_RELAY: &str = "application/dtmf-relay";

/// Methods a dialog of ours answers, for Allow headers (RFC 3261 §20.5).
pub(crate) const ALLOWED_METHODS: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

/// What an in-dialog request means for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InDialogEvent {
    /// A new SDP offer (re-INVITE or UPDATE) waiting for
    /// [`ReofferSlot::answer`] or [`ReofferSlot::reject`].
    Reoffer {
        /// The peer's offer.
        sdp: Vec<u8>,
    },
    /// A DTMF digit relayed in an INFO; already answered 200.
    Dtmf {
        /// `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
        /// How long the key was pressed, 0 when the INFO says nothing.
        duration_ms: u32,
    },
}

/// The application's reply to a re-offer.
#[derive(Debug)]
enum ReofferReply {
    /// 200 OK with this SDP answer.
    Answer(Vec<u8>),
    /// This final non-2xx status; the session stays as it was (RFC 3261 §14.2).
    Reject(u16),
}

/// The re-offer of a leg that waits for the application's answer, if any.
#[derive(Debug, Default)]
pub(crate) struct ReofferSlot {
    reply: Option<oneshot::Sender<ReofferReply>>,
}

impl ReofferSlot {
    /// Whether a re-offer still waits for its answer (not answered, not timed out).
    fn is_pending(&self) -> bool {
        self.reply.as_ref().is_some_and(|reply| !reply.is_closed())
    }

    /// Answers the pending re-offer 200 OK with `sdp`.
    pub(crate) fn answer(&mut self, sdp: Vec<u8>) -> Result<(), SipError> {
        self.send(ReofferReply::Answer(sdp))
    }

    /// Rejects the pending re-offer with a final non-2xx `status`.
    pub(crate) fn reject(&mut self, status: u16) -> Result<(), SipError> {
        if !(300..=699).contains(&status) {
            return Err(SipError::InvalidRejectStatus { status });
        }
        self.send(ReofferReply::Reject(status))
    }

    fn send(&mut self, reply: ReofferReply) -> Result<(), SipError> {
        let sender = self.reply.take().ok_or(SipError::NoPendingReoffer)?;
        sender.send(reply).map_err(|_| SipError::NoPendingReoffer)
    }
}

/// What the leg knows that answering an in-dialog request needs.
pub(crate) struct DialogContext<'leg> {
    /// For logs.
    pub(crate) call_id: &'leg str,
    /// Our current session description: our answer, our offer, or the last
    /// answer to a re-offer.
    pub(crate) local_sdp: Option<&'leg [u8]>,
    /// The endpoint's shutdown token.
    pub(crate) cancel: &'leg CancellationToken,
}

/// Answers an in-dialog request the dialog reported as `state`, or hands it
/// to the application as an event. States that are not in-dialog requests
/// give `None`.
pub(crate) fn answer_request(
    state: DialogState,
    slot: &mut ReofferSlot,
    context: &DialogContext<'_>,
) -> Option<InDialogEvent> {
    match state {
        DialogState::Updated(_, request, handle) => on_offer(request, handle, slot, context),
        DialogState::Info(_, request, handle) => on_info(&request, handle, context),
        DialogState::Options(_, _, handle) => {
            // RFC 3261 §11.2: an OPTIONS inside the dialog (often a keepalive).
            respond(handle, StatusCode::OK, vec![allow()], None);
            None
        }
        DialogState::Refer(_, request, handle)
        | DialogState::Message(_, request, handle)
        | DialogState::Notify(_, request, handle)
        | DialogState::Publish(_, request, handle) => {
            // RFC 3261 §21.5.2: a method we recognise but do not implement.
            debug!(call_id = context.call_id, method = %request.method, "answering in-dialog request 501");
            respond(handle, StatusCode::NotImplemented, vec![allow()], None);
            None
        }
        _ => None,
    }
}

/// A re-INVITE (RFC 3261 §14.2) or UPDATE (RFC 3311 §5.2).
fn on_offer(
    request: Request,
    handle: TransactionHandle,
    slot: &mut ReofferSlot,
    context: &DialogContext<'_>,
) -> Option<InDialogEvent> {
    let is_invite = request.method == Method::Invite;
    if slot.is_pending() {
        // RFC 3261 §14.2, RFC 3311 §5.2: an offer while we still owe the
        // answer to the previous one gets 500 with a random Retry-After.
        debug!(call_id = context.call_id, method = %request.method, "offer while another one is pending");
        respond(
            handle,
            StatusCode::ServerInternalError,
            vec![retry_after()],
            None,
        );
        return None;
    }
    if request.body.is_empty() {
        if !is_invite {
            // RFC 3311 §5.2: an UPDATE without offer only refreshes the dialog
            // (e.g. a session timer, RFC 4028).
            respond(handle, StatusCode::OK, Vec::new(), None);
            return None;
        }
        // RFC 3261 §14.2: a re-INVITE without offer asks for one in our 2xx;
        // we offer the current session unchanged (RFC 3264 §8), and the
        // answer the ACK carries changes nothing.
        match context.local_sdp {
            Some(sdp) => respond(handle, StatusCode::OK, vec![sdp_type()], Some(sdp.to_vec())),
            None => respond(
                handle,
                StatusCode::ServerInternalError,
                vec![retry_after()],
                None,
            ),
        }
        return None;
    }
    if !has_sdp_body(&request) {
        // RFC 3261 §21.4.13: a body we cannot read.
        let accept = Header::Accept("application/sdp".into());
        respond(handle, StatusCode::UnsupportedMediaType, vec![accept], None);
        return None;
    }
    let (sender, receiver) = oneshot::channel();
    slot.reply = Some(sender);
    tokio::spawn(await_answer(
        handle,
        is_invite,
        receiver,
        context.cancel.clone(),
    ));
    Some(InDialogEvent::Reoffer { sdp: request.body })
}

/// INFO (RFC 6086 §4.2.2, legacy use without Info-Package).
fn on_info(
    request: &Request,
    handle: TransactionHandle,
    context: &DialogContext<'_>,
) -> Option<InDialogEvent> {
    if request.body.is_empty() {
        // An empty INFO is used as a keepalive by some peers.
        respond(handle, StatusCode::OK, Vec::new(), None);
        return None;
    }
    if !has_media_type(&request.headers, DTMF_RELAY) {
        debug!(
            call_id = context.call_id,
            "answering INFO with an unknown body 415"
        );
        let accept = Header::Accept(DTMF_RELAY.into());
        respond(handle, StatusCode::UnsupportedMediaType, vec![accept], None);
        return None;
    }
    match parse_dtmf_relay(&request.body) {
        Some((digit, duration_ms)) => {
            respond(handle, StatusCode::OK, Vec::new(), None);
            Some(InDialogEvent::Dtmf { digit, duration_ms })
        }
        None => {
            debug!(
                call_id = context.call_id,
                "answering malformed dtmf-relay INFO 400"
            );
            respond(handle, StatusCode::BadRequest, Vec::new(), None);
            None
        }
    }
}

/// Waits for the application's answer to a re-offer, then answers the request.
async fn await_answer(
    handle: TransactionHandle,
    is_invite: bool,
    reply: oneshot::Receiver<ReofferReply>,
    cancel: CancellationToken,
) {
    if is_invite {
        // RFC 3261 §17.2.1: the answer may take longer than 200 ms.
        if handle
            .respond(StatusCode::Trying, None, None)
            .await
            .is_err()
        {
            return;
        }
    }
    let reply = tokio::select! {
        () = cancel.cancelled() => return,
        reply = reply => reply.ok(),
        () = tokio::time::sleep(REOFFER_ANSWER_WAIT) => None,
    };
    let (status, headers, body) = match reply {
        Some(ReofferReply::Answer(sdp)) => (StatusCode::OK, vec![sdp_type()], Some(sdp)),
        Some(ReofferReply::Reject(status)) => (StatusCode::from(status), Vec::new(), None),
        None => {
            debug!("re-offer not answered in time (or the leg is gone): answering 500");
            (StatusCode::ServerInternalError, vec![retry_after()], None)
        }
    };
    respond_now(handle, status, headers, body).await;
}

/// Answers an in-dialog request in the background.
fn respond(
    handle: TransactionHandle,
    status: StatusCode,
    headers: Vec<Header>,
    body: Option<Vec<u8>>,
) {
    tokio::spawn(respond_now(handle, status, headers, body));
}

async fn respond_now(
    handle: TransactionHandle,
    status: StatusCode,
    headers: Vec<Header>,
    body: Option<Vec<u8>>,
) {
    let headers = (!headers.is_empty()).then_some(headers);
    if handle.respond(status, headers, body).await.is_err() {
        debug!("in-dialog transaction ended before our response");
    }
}

fn sdp_type() -> Header {
    Header::ContentType("application/sdp".into())
}

fn allow() -> Header {
    Header::Allow(ALLOWED_METHODS.into())
}

/// `Retry-After` with a value between 0 and 10 seconds, as RFC 3261 §14.2
/// asks for offers that cross.
fn retry_after() -> Header {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    Header::RetryAfter((nanos % 11).to_string().into())
}

/// Parses an `application/dtmf-relay` body: `Signal=<digit>` and an optional
/// `Duration=<ms>` line, keys case-insensitive, in any order.
pub(crate) fn parse_dtmf_relay(body: &[u8]) -> Option<(char, u32)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut signal = None;
    let mut duration = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("signal") {
            signal = Some(value.trim());
        } else if key.eq_ignore_ascii_case("duration") {
            duration = Some(value.trim());
        }
    }
    let digit = dtmf_digit(signal?)?;
    let duration_ms = match duration {
        Some(value) => value.parse().ok()?,
        None => 0,
    };
    Some((digit, duration_ms))
}

/// A DTMF signal as a digit: the character itself, or an RFC 4733 §3.2 event
/// code 10-15 (`*`, `#`, `A`-`D`) that some gateways send instead.
fn dtmf_digit(signal: &str) -> Option<char> {
    let mut characters = signal.chars();
    let first = characters.next()?;
    if characters.next().is_none() {
        let digit = first.to_ascii_uppercase();
        return matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D').then_some(digit);
    }
    match signal {
        "10" => Some('*'),
        "11" => Some('#'),
        "12" => Some('A'),
        "13" => Some('B'),
        "14" => Some('C'),
        "15" => Some('D'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies_parse() {
        assert_eq!(
            parse_dtmf_relay(b"Signal=5\r\nDuration=160"),
            Some(('5', 160))
        );
        assert_eq!(
            parse_dtmf_relay(b"duration = 80\nSIGNAL = #\n"),
            Some(('#', 80))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=b\r\n"), Some(('B', 0)));
        assert_eq!(
            parse_dtmf_relay(b"Signal=10\r\nDuration=100"),
            Some(('*', 100))
        );
        assert_eq!(parse_dtmf_relay(b"Signal=11"), Some(('#', 0)));
    }

    #[test]
    fn malformed_dtmf_relay_bodies_are_refused() {
        assert_eq!(parse_dtmf_relay(b""), None);
        assert_eq!(parse_dtmf_relay(b"Duration=160"), None);
        assert_eq!(parse_dtmf_relay(b"Signal=E\r\nDuration=160"), None);
        assert_eq!(parse_dtmf_relay(b"Signal=16"), None);
        assert_eq!(parse_dtmf_relay(b"Signal=5\r\nDuration=-1"), None);
        assert_eq!(parse_dtmf_relay(b"Signal=5\r\nDuration=x"), None);
        assert_eq!(parse_dtmf_relay(b"\xff\xfe"), None);
    }

    #[test]
    fn an_answer_without_pending_reoffer_is_the_callers_fault() {
        let mut slot = ReofferSlot::default();
        assert!(matches!(
            slot.answer(b"v=0".to_vec()),
            Err(SipError::NoPendingReoffer)
        ));
        assert!(matches!(
            slot.reject(200),
            Err(SipError::InvalidRejectStatus { status: 200 })
        ));
        let (sender, receiver) = oneshot::channel();
        slot.reply = Some(sender);
        assert!(slot.is_pending());
        drop(receiver);
        assert!(!slot.is_pending());
        assert!(matches!(slot.reject(488), Err(SipError::NoPendingReoffer)));
    }
}
