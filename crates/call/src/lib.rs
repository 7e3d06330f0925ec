//! Bird call semantics for one call leg: which status, timestamps and hangup fields a call gets
//! as it rings, is answered and ends, and which SIP signal ends it.
//!
//! Pure functions over [`warbler_model::Call`]; time comes in as a [`Timestamp`]. The runtime's
//! call actor calls them and carries out the returned [`HangupSignal`].

use warbler_model::{Call, CallStatus, Direction, HangupCause, HangupSource, Timestamp, q850};

/// Why a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The remote party sent BYE (RFC 3261 §15.1.2): the caller on an incoming call, the callee
    /// on an outgoing one.
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
    /// An outgoing call rang for its `ringTimeout` without an answer.
    RingTimeout,
    /// The call reached its `maxDuration`.
    MaxDuration,
    /// The callee (or the trunk) refused an outgoing call with this final status.
    Rejected(u16),
}

/// What must be sent on the wire to end the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupSignal {
    /// Nothing: the remote side already ended the dialog.
    None,
    /// Send BYE (the call was answered).
    Bye,
    /// Answer the pending (incoming) INVITE with this final non-2xx status.
    Reject(u16),
    /// CANCEL our pending (outgoing) INVITE (RFC 3261 §9.1).
    Cancel,
}

/// Marks an outgoing call `starting`: its INVITE is on its way. Returns whether it changed.
pub fn mark_starting(call: &mut Call, now: Timestamp) -> bool {
    if !matches!(call.status, CallStatus::Accepted | CallStatus::Scheduled) {
        return false;
    }
    call.status = CallStatus::Starting;
    call.updated_at = now;
    true
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

/// The fields an ending sets.
struct Outcome {
    status: CallStatus,
    source: HangupSource,
    cause: u16,
    sip_code: u16,
    signal: HangupSignal,
    reason: Option<&'static str>,
}

impl Outcome {
    const fn new(
        status: CallStatus,
        source: HangupSource,
        cause: u16,
        sip_code: u16,
        signal: HangupSignal,
    ) -> Self {
        Self {
            status,
            source,
            cause,
            sip_code,
            signal,
            reason: None,
        }
    }

    const fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// Ends the call: sets status, `endedAt`, `duration` and the hangup fields, and says what to
/// send. A call that already ended is left alone (returns `None`).
pub fn mark_ended(call: &mut Call, now: Timestamp, ending: Ending) -> Option<HangupSignal> {
    if call.status.is_terminal() {
        return None;
    }
    let outcome = outcome(call.direction, call.status == CallStatus::Ongoing, ending);
    call.status = outcome.status;
    call.hangup_source = Some(outcome.source);
    call.hangup_cause_code = Some(outcome.cause);
    call.hangup_sip_code = Some(outcome.sip_code.to_string());
    call.ended_at = Some(now);
    call.updated_at = now;
    call.duration = Some(
        call.answered_at
            .map_or(0, |answered_at| now.seconds_since(answered_at)),
    );
    if let Some(reason) = outcome.reason {
        call.reason = Some(reason.to_owned());
    }
    Some(outcome.signal)
}

fn outcome(direction: Direction, answered: bool, ending: Ending) -> Outcome {
    use CallStatus::{Busy, Cancelled, Completed, Failed, NoAnswer};
    use HangupSignal::{Bye, Cancel, Reject};
    let remote = match direction {
        Direction::Incoming => HangupSource::Caller,
        Direction::Outgoing => HangupSource::Callee,
    };
    let incoming = direction == Direction::Incoming;
    match (ending, answered) {
        (Ending::RemoteBye, true) => Outcome::new(
            Completed,
            remote,
            q850::NORMAL_CLEARING,
            200,
            HangupSignal::None,
        ),
        // A BYE before the answer cannot happen in a valid dialog; treat it as the peer leaving.
        (Ending::RemoteBye, false) | (Ending::RemoteCancel, _) => {
            Outcome::new(NoAnswer, remote, q850::NO_ANSWER, 487, HangupSignal::None)
        }
        (Ending::Api(_), true) => Outcome::new(
            Completed,
            HangupSource::Api,
            q850::NORMAL_CLEARING,
            200,
            Bye,
        ),
        (Ending::Shutdown, true) => Outcome::new(
            Completed,
            HangupSource::None,
            q850::NORMAL_CLEARING,
            200,
            Bye,
        )
        .because("server shutdown"),
        (Ending::Api(Some(HangupCause::Busy)), false) if incoming => {
            Outcome::new(Busy, HangupSource::Api, q850::USER_BUSY, 486, Reject(486))
        }
        (Ending::Api(_), false) if incoming => Outcome::new(
            NoAnswer,
            HangupSource::Api,
            q850::CALL_REJECTED,
            603,
            Reject(603),
        ),
        // The API gave up on an outgoing call before it was answered: CANCEL it.
        (Ending::Api(_), false) => Outcome::new(
            Cancelled,
            HangupSource::Api,
            q850::NORMAL_CLEARING,
            487,
            Cancel,
        ),
        (Ending::Shutdown, false) => {
            let signal = if incoming { Reject(503) } else { Cancel };
            Outcome::new(
                Failed,
                HangupSource::None,
                q850::TEMPORARY_FAILURE,
                503,
                signal,
            )
            .because("server shutdown")
        }
        (Ending::MediaTimeout, true) => Outcome::new(
            Completed,
            HangupSource::MediaTimeout,
            q850::NORMAL_CLEARING,
            200,
            Bye,
        )
        .because("no RTP from the peer"),
        // Media only flows after the answer; kept total for completeness.
        (Ending::MediaTimeout, false) => {
            let signal = if incoming { Reject(408) } else { Cancel };
            Outcome::new(
                Failed,
                HangupSource::MediaTimeout,
                q850::TEMPORARY_FAILURE,
                408,
                signal,
            )
            .because("no RTP from the peer")
        }
        (Ending::SignallingFailure, _) => Outcome::new(
            Failed,
            HangupSource::None,
            q850::TEMPORARY_FAILURE,
            408,
            HangupSignal::None,
        )
        .because("signalling failure"),
        (Ending::RingTimeout, _) => {
            let signal = if incoming { Reject(480) } else { Cancel };
            Outcome::new(
                NoAnswer,
                HangupSource::Timeout,
                q850::NO_ANSWER,
                487,
                signal,
            )
        }
        (Ending::MaxDuration, true) => Outcome::new(
            Completed,
            HangupSource::Timeout,
            q850::NORMAL_CLEARING,
            200,
            Bye,
        ),
        (Ending::MaxDuration, false) => {
            let signal = if incoming { Reject(480) } else { Cancel };
            Outcome::new(
                NoAnswer,
                HangupSource::Timeout,
                q850::NO_ANSWER,
                487,
                signal,
            )
        }
        (Ending::Rejected(status), _) => {
            let (call_status, cause) = match status {
                486 | 600 => (Busy, q850::USER_BUSY),
                603 => (Busy, q850::CALL_REJECTED),
                408 | 480 | 487 => (NoAnswer, q850::NO_ANSWER),
                404 | 484 | 604 => (Failed, q850::UNALLOCATED_NUMBER),
                488 | 606 => (Failed, q850::INCOMPATIBLE_DESTINATION),
                _ => (Failed, q850::INTERWORKING),
            };
            Outcome::new(call_status, remote, cause, status, HangupSignal::None)
        }
    }
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

    fn outgoing() -> Call {
        Call::outgoing(
            CallId::from_parts(1, [3; 10]),
            ChannelId::from_parts(1, [2; 10]),
            "warbler".into(),
            "+15551234567".into(),
            Timestamp::from_unix_millis(1_000),
        )
    }

    #[test]
    fn outgoing_call_lifecycle_and_callee_bye() {
        let mut call = outgoing();
        assert_eq!(call.status, CallStatus::Accepted);
        assert!(mark_starting(&mut call, at(0)));
        assert!(mark_ringing(&mut call, at(1)));
        assert!(mark_answered(&mut call, at(2)));
        assert_eq!(
            mark_ended(&mut call, at(7), Ending::RemoteBye),
            Some(HangupSignal::None)
        );
        assert_eq!(call.hangup_source, Some(HangupSource::Callee));
        assert_eq!(call.duration, Some(5));
    }

    #[test]
    fn outgoing_rejections_map_to_birds_statuses() {
        let cases = [
            (486, CallStatus::Busy, 17),
            (600, CallStatus::Busy, 17),
            (480, CallStatus::NoAnswer, 19),
            (404, CallStatus::Failed, 1),
            (500, CallStatus::Failed, 127),
        ];
        for (code, status, cause) in cases {
            let mut call = outgoing();
            mark_starting(&mut call, at(0));
            assert_eq!(
                mark_ended(&mut call, at(1), Ending::Rejected(code)),
                Some(HangupSignal::None)
            );
            assert_eq!(call.status, status, "{code}");
            assert_eq!(call.hangup_cause_code, Some(cause), "{code}");
            assert_eq!(
                call.hangup_sip_code.as_deref(),
                Some(code.to_string().as_str())
            );
        }
    }

    #[test]
    fn ring_timeout_cancels_an_outgoing_call() {
        let mut call = outgoing();
        mark_starting(&mut call, at(0));
        mark_ringing(&mut call, at(1));
        assert_eq!(
            mark_ended(&mut call, at(31), Ending::RingTimeout),
            Some(HangupSignal::Cancel)
        );
        assert_eq!(call.status, CallStatus::NoAnswer);
        assert_eq!(call.hangup_source, Some(HangupSource::Timeout));
        let mut answered = outgoing();
        mark_starting(&mut answered, at(0));
        mark_answered(&mut answered, at(1));
        assert_eq!(
            mark_ended(&mut answered, at(61), Ending::MaxDuration),
            Some(HangupSignal::Bye)
        );
        assert_eq!(answered.hangup_source, Some(HangupSource::Timeout));
        assert_eq!(answered.status, CallStatus::Completed);
    }

    #[test]
    fn api_hangup_of_ringing_outgoing_call_cancels_it() {
        let mut call = outgoing();
        mark_starting(&mut call, at(0));
        assert_eq!(
            mark_ended(&mut call, at(1), Ending::Api(None)),
            Some(HangupSignal::Cancel)
        );
        assert_eq!(call.status, CallStatus::Cancelled);
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
