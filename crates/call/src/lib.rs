//! Bird call semantics for one call leg: which status, timestamps and hangup fields a call gets
//! as it rings, is answered and ends, and which SIP signal ends it.
//!
//! Pure functions over [`warbler_model::Call`]; time comes in as a [`Timestamp`]. The runtime's
//! call actor calls them and carries out the returned [`HangupSignal`].

use warbler_model::{Call, CallStatus, HangupCause, HangupSource, Timestamp, q850};

/// Why a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The remote party sent BYE (RFC 3261 §15.1.2).
    RemoteBye,
    /// The caller sent CANCEL before the call was answered (RFC 3261 §9.2).
    RemoteCancel,
    /// The API ended it: a `hangup` command or PATCH `status: completed`, with Bird's cause.
    Api(Option<HangupCause>),
    /// The server is shutting down.
    Shutdown,
    /// No RTP arrived for the configured time (the peer vanished).
    MediaTimeout,
    /// The dialog broke (transaction timeout, transport failure).
    SignallingFailure,
}

/// What must be sent on the wire to end the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupSignal {
    /// Nothing: the remote side already ended the dialog.
    None,
    /// Send BYE (the call was answered).
    Bye,
    /// Answer the pending INVITE with this final non-2xx status.
    Reject(u16),
}

/// Marks the call ringing (first time only). Returns whether the status changed.
pub fn mark_ringing(call: &mut Call, now: Timestamp) -> bool {
    if call.status != CallStatus::Starting {
        return false;
    }
    call.status = CallStatus::Ringing;
    call.ringing_at = Some(now);
    call.updated_at = now;
    true
}

/// Marks the call answered. Returns whether the status changed.
pub fn mark_answered(call: &mut Call, now: Timestamp) -> bool {
    if !matches!(call.status, CallStatus::Starting | CallStatus::Ringing) {
        return false;
    }
    call.status = CallStatus::Ongoing;
    call.answered_at = Some(now);
    call.updated_at = now;
    true
}

/// Ends the call: sets status, `endedAt`, `duration` and the hangup fields, and says what to
/// send. A call that already ended is left alone (returns `None`).
pub fn mark_ended(call: &mut Call, now: Timestamp, ending: Ending) -> Option<HangupSignal> {
    if call.status.is_terminal() {
        return None;
    }
    let answered = call.status == CallStatus::Ongoing;
    let (status, source, cause, sip_code, signal) = match (ending, answered) {
        (Ending::RemoteBye, true) => (
            CallStatus::Completed,
            HangupSource::Caller,
            q850::NORMAL_CLEARING,
            200,
            HangupSignal::None,
        ),
        (Ending::MediaTimeout, true) => (
            CallStatus::Completed,
            HangupSource::MediaTimeout,
            q850::NORMAL_CLEARING,
            200,
            HangupSignal::Bye,
        ),
        // Media only flows after the answer; kept total for completeness.
        (Ending::MediaTimeout, false) => (
            CallStatus::Failed,
            HangupSource::MediaTimeout,
            q850::TEMPORARY_FAILURE,
            408,
            HangupSignal::Reject(408),
        ),
        // A BYE before our 200 cannot happen in a valid dialog; treat it as the caller leaving.
        (Ending::RemoteBye, false) | (Ending::RemoteCancel, _) => (
            CallStatus::NoAnswer,
            HangupSource::Caller,
            q850::NO_ANSWER,
            487,
            HangupSignal::None,
        ),
        (Ending::Api(_) | Ending::Shutdown, true) => {
            let source = if ending == Ending::Shutdown {
                HangupSource::None
            } else {
                HangupSource::Api
            };
            (
                CallStatus::Completed,
                source,
                q850::NORMAL_CLEARING,
                200,
                HangupSignal::Bye,
            )
        }
        (Ending::Api(Some(HangupCause::Busy)), false) => (
            CallStatus::Busy,
            HangupSource::Api,
            q850::USER_BUSY,
            486,
            HangupSignal::Reject(486),
        ),
        (Ending::Api(_), false) => (
            CallStatus::NoAnswer,
            HangupSource::Api,
            q850::CALL_REJECTED,
            603,
            HangupSignal::Reject(603),
        ),
        (Ending::Shutdown, false) => (
            CallStatus::Failed,
            HangupSource::None,
            q850::TEMPORARY_FAILURE,
            503,
            HangupSignal::Reject(503),
        ),
        (Ending::SignallingFailure, _) => (
            CallStatus::Failed,
            HangupSource::None,
            q850::TEMPORARY_FAILURE,
            408,
            HangupSignal::None,
        ),
    };
    call.status = status;
    call.hangup_source = Some(source);
    call.hangup_cause_code = Some(cause);
    call.hangup_sip_code = Some(sip_code.to_string());
    call.ended_at = Some(now);
    call.updated_at = now;
    call.duration = Some(
        call.answered_at
            .map_or(0, |answered_at| now.seconds_since(answered_at)),
    );
    if ending == Ending::Shutdown {
        call.reason = Some("server shutdown".to_owned());
    }
    if ending == Ending::SignallingFailure {
        call.reason = Some("signalling failure".to_owned());
    }
    if ending == Ending::MediaTimeout {
        call.reason = Some("no RTP from the peer".to_owned());
    }
    Some(signal)
}

#[cfg(test)]
mod tests {
    use warbler_model::{CallId, ChannelId};

    use super::*;

    fn call() -> Call {
        Call::incoming(
            CallId::from_parts(1, [1; 10]),
            ChannelId::from_parts(1, [2; 10]),
            "alice".into(),
            "1000".into(),
            Timestamp::from_unix_millis(1_000),
        )
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_000 + seconds * 1000)
    }

    #[test]
    fn caller_bye_after_answer_completes_the_call() {
        let mut call = call();
        assert!(mark_ringing(&mut call, at(1)));
        assert!(!mark_ringing(&mut call, at(2)), "ringing is set once");
        assert!(mark_answered(&mut call, at(3)));
        assert_eq!(
            mark_ended(&mut call, at(9), Ending::RemoteBye),
            Some(HangupSignal::None)
        );
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.hangup_source, Some(HangupSource::Caller));
        assert_eq!(call.hangup_cause_code, Some(16));
        assert_eq!(call.hangup_sip_code.as_deref(), Some("200"));
        assert_eq!(call.duration, Some(6));
        assert_eq!(call.ringing_at, Some(at(1)));
        assert_eq!(call.answered_at, Some(at(3)));
        assert_eq!(call.ended_at, Some(at(9)));
        assert_eq!(
            mark_ended(&mut call, at(10), Ending::RemoteBye),
            None,
            "ends once"
        );
    }

    #[test]
    fn api_hangup_of_answered_call_sends_bye() {
        let mut call = call();
        mark_answered(&mut call, at(1));
        assert_eq!(
            mark_ended(&mut call, at(2), Ending::Api(None)),
            Some(HangupSignal::Bye)
        );
        assert_eq!(call.hangup_source, Some(HangupSource::Api));
        assert_eq!(call.status, CallStatus::Completed);
    }

    #[test]
    fn api_hangup_before_answer_rejects() {
        let mut busy = call();
        assert_eq!(
            mark_ended(&mut busy, at(1), Ending::Api(Some(HangupCause::Busy))),
            Some(HangupSignal::Reject(486))
        );
        assert_eq!(busy.status, CallStatus::Busy);
        assert_eq!(busy.duration, Some(0));
        let mut rejected = call();
        assert_eq!(
            mark_ended(&mut rejected, at(1), Ending::Api(None)),
            Some(HangupSignal::Reject(603))
        );
        assert_eq!(rejected.status, CallStatus::NoAnswer);
        assert_eq!(rejected.hangup_cause_code, Some(21));
    }

    #[test]
    fn media_timeout_hangs_up_with_its_own_source() {
        let mut call = call();
        mark_answered(&mut call, at(1));
        assert_eq!(
            mark_ended(&mut call, at(40), Ending::MediaTimeout),
            Some(HangupSignal::Bye)
        );
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.hangup_source, Some(HangupSource::MediaTimeout));
        assert_eq!(call.reason.as_deref(), Some("no RTP from the peer"));
    }

    #[test]
    fn cancel_before_answer_is_no_answer_by_the_caller() {
        let mut call = call();
        mark_ringing(&mut call, at(1));
        assert_eq!(
            mark_ended(&mut call, at(4), Ending::RemoteCancel),
            Some(HangupSignal::None)
        );
        assert_eq!(call.status, CallStatus::NoAnswer);
        assert_eq!(call.hangup_source, Some(HangupSource::Caller));
        assert_eq!(call.hangup_sip_code.as_deref(), Some("487"));
    }
}
