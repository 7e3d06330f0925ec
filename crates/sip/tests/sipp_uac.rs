//! The facade's UAC side (outbound calls) against SIPp (Debian package
//! `sip-tester`) playing the callee on 127.0.0.1.
//!
//! These tests need `sipp` on the PATH; they fail (never skip) with a clear
//! message when it is missing. Every SIPp process is killed by PID when its
//! guard is dropped, and every test is bounded by `common::TEST_BOUND`.

mod common;

use std::net::Ipv4Addr;

use common::{SIPP_ONE_AT_A_TIME, STEP_BOUND, Sipp, bounded, free_udp_port, start_endpoint};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use warbler_sip::{Credentials, OutboundEvent, OutboundLeg, OutboundRequest, SipEndpoint};

/// What our side does once the call is set up or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Wait for the answer, then hang up with BYE.
    HangUpWhenAnswered,
    /// Wait for a final response without doing anything.
    AwaitFinal,
    /// Cancel once the callee rings.
    CancelWhenRinging,
}

/// What SIPp's exit status must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SippVerdict {
    /// Exit 0: every check of the scenario passed.
    Success,
    /// Exit 1: the scenario failed the call on purpose (e.g. bad credentials).
    FailedCall,
}

struct Scenario {
    name: &'static str,
    file: &'static str,
    extra_arguments: Vec<String>,
    credentials: Option<Credentials>,
    caller: Caller,
    /// What `next_event` must return, in order; an answer's SDP is checked
    /// for an audio line and left out here.
    expected_events: Vec<Option<OutboundEvent>>,
    verdict: SippVerdict,
}

fn user_and_password(password: &str) -> Option<Credentials> {
    Some(Credentials {
        username: "user".to_owned(),
        password: password.to_owned(),
    })
}

fn answered() -> Option<OutboundEvent> {
    Some(OutboundEvent::Answered { sdp: Vec::new() })
}

fn ringing() -> Option<OutboundEvent> {
    Some(OutboundEvent::Ringing { early_sdp: None })
}

#[tokio::test]
async fn callee_rings_answers_and_is_hung_up() {
    bounded(run_scenario(Scenario {
        name: "uac-answered",
        file: "uas_answer_wait_bye.xml",
        extra_arguments: vec!["-set".to_owned(), "ring_ms".to_owned(), "300".to_owned()],
        credentials: None,
        caller: Caller::HangUpWhenAnswered,
        expected_events: vec![Some(OutboundEvent::Trying), ringing(), answered(), None],
        verdict: SippVerdict::Success,
    }))
    .await;
}

#[tokio::test]
async fn busy_callee_rejects_with_486() {
    bounded(run_scenario(Scenario {
        name: "uac-busy",
        file: "uas_busy_486.xml",
        extra_arguments: Vec::new(),
        credentials: None,
        caller: Caller::AwaitFinal,
        expected_events: vec![
            Some(OutboundEvent::Trying),
            Some(OutboundEvent::Rejected { status: 486 }),
            None,
        ],
        verdict: SippVerdict::Success,
    }))
    .await;
}

#[tokio::test]
async fn proxy_challenge_407_is_answered_with_proxy_authorization() {
    bounded(run_scenario(Scenario {
        name: "uac-auth-407",
        file: "uas_proxy_auth_407.xml",
        extra_arguments: Vec::new(),
        credentials: user_and_password("secret"),
        caller: Caller::HangUpWhenAnswered,
        expected_events: vec![Some(OutboundEvent::Trying), ringing(), answered(), None],
        verdict: SippVerdict::Success,
    }))
    .await;
}

#[tokio::test]
async fn challenge_401_is_answered_with_a_digest_sipp_verifies() {
    bounded(run_scenario(Scenario {
        name: "uac-auth-401",
        file: "uas_auth_401.xml",
        extra_arguments: Vec::new(),
        credentials: user_and_password("secret"),
        caller: Caller::HangUpWhenAnswered,
        expected_events: vec![ringing(), answered(), None],
        verdict: SippVerdict::Success,
    }))
    .await;
}

#[tokio::test]
async fn wrong_password_is_refused_by_sipps_digest_check() {
    bounded(run_scenario(Scenario {
        name: "uac-auth-401-wrong",
        file: "uas_auth_401.xml",
        extra_arguments: Vec::new(),
        credentials: user_and_password("not-the-secret"),
        caller: Caller::AwaitFinal,
        expected_events: vec![Some(OutboundEvent::Rejected { status: 403 }), None],
        verdict: SippVerdict::FailedCall,
    }))
    .await;
}

#[tokio::test]
async fn ringing_call_is_cancelled() {
    bounded(run_scenario(Scenario {
        name: "uac-cancel",
        file: "uas_ring_until_cancel.xml",
        extra_arguments: Vec::new(),
        credentials: None,
        caller: Caller::CancelWhenRinging,
        expected_events: vec![
            Some(OutboundEvent::Trying),
            ringing(),
            Some(OutboundEvent::Rejected { status: 487 }),
            None,
        ],
        verdict: SippVerdict::Success,
    }))
    .await;
}

async fn run_scenario(scenario: Scenario) {
    let _one_at_a_time = SIPP_ONE_AT_A_TIME.lock().await;
    let cancel = CancellationToken::new();
    let (endpoint, _calls) = start_endpoint(&cancel).await;
    // Our RTP address in the offer; nothing is sent to it here.
    let rtp_sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind the RTP sink");
    let rtp_port = rtp_sink.local_addr().expect("RTP sink address").port();

    let mut sipp = Sipp::spawn(
        scenario.name,
        scenario.file,
        free_udp_port(),
        &scenario.extra_arguments,
    );
    sipp.wait_until_listening().await;

    let leg = dial(&endpoint, &sipp, scenario.credentials.clone(), rtp_port).await;
    let events = match play_caller(leg, scenario.caller).await {
        Ok(events) => events,
        Err(failure) => panic!("caller failed: {failure}\n{}", sipp.diagnostics()),
    };
    assert_eq!(
        events,
        scenario.expected_events,
        "outbound events of {}\n{}",
        scenario.name,
        sipp.diagnostics()
    );

    match scenario.verdict {
        SippVerdict::Success => sipp.expect_success(scenario.name).await,
        SippVerdict::FailedCall => {
            let status = sipp.wait(STEP_BOUND).await;
            assert_eq!(
                status.code(),
                Some(1),
                "SIPp ({}) should count a failed call\n{}",
                scenario.name,
                sipp.diagnostics()
            );
        }
    }
    cancel.cancel();
}

async fn dial(
    endpoint: &SipEndpoint,
    sipp: &Sipp,
    credentials: Option<Credentials>,
    rtp_port: u16,
) -> OutboundLeg {
    let request = OutboundRequest {
        target: format!("sip:service@{}", sipp.sip_addr()),
        from_user: "warbler".to_owned(),
        trunk: sipp.sip_addr(),
        credentials,
        offer_sdp: pcmu_offer(rtp_port),
        headers: vec![("X-Warbler-Call-Id".to_owned(), "sipp-test".to_owned())],
    };
    match endpoint.dial(request).await {
        Ok(leg) => leg,
        Err(error) => panic!("dial failed: {error}\n{}", sipp.diagnostics()),
    }
}

/// A minimal PCMU offer (RFC 3264 §5, RFC 3551 payload type 0).
fn pcmu_offer(rtp_port: u16) -> Vec<u8> {
    format!(
        "v=0\r\n\
         o=warbler 1 1 IN IP4 127.0.0.1\r\n\
         s=warbler\r\n\
         c=IN IP4 127.0.0.1\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    )
    .into_bytes()
}

/// Plays our part; returns what `next_event` said, an answer's SDP left out.
async fn play_caller(
    mut leg: OutboundLeg,
    caller: Caller,
) -> Result<Vec<Option<OutboundEvent>>, String> {
    let mut events = Vec::new();
    loop {
        let event = tokio::time::timeout(STEP_BOUND, leg.next_event())
            .await
            .map_err(|_| format!("no outbound event within {STEP_BOUND:?}"))?;
        match event {
            Some(OutboundEvent::Answered { sdp }) => {
                let answer = String::from_utf8_lossy(&sdp);
                if !answer.contains("m=audio") {
                    return Err(format!("answer without audio: {answer}"));
                }
                events.push(Some(OutboundEvent::Answered { sdp: Vec::new() }));
                if caller == Caller::HangUpWhenAnswered {
                    leg.hangup()
                        .await
                        .map_err(|error| format!("hangup failed: {error}"))?;
                }
            }
            Some(OutboundEvent::Ringing { early_sdp }) => {
                events.push(Some(OutboundEvent::Ringing { early_sdp }));
                if caller == Caller::CancelWhenRinging {
                    leg.cancel()
                        .await
                        .map_err(|error| format!("cancel failed: {error}"))?;
                }
            }
            None => {
                events.push(None);
                return Ok(events);
            }
            other => events.push(other),
        }
    }
}
