//! SIPp (Debian package `sip-tester`) calls the facade's UAS side on 127.0.0.1.
//!
//! These tests need `sipp` on the PATH and Debian's pcaps in
//! `/usr/share/sip-tester/`; they fail (never skip) with a clear message when
//! either is missing. SIPp's pcap playback uses a raw socket: run as root.
//! Every SIPp process is killed by PID when its guard is dropped, and every
//! test is bounded by `common::TEST_BOUND`.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use common::{SIPP_ONE_AT_A_TIME, STEP_BOUND, Sipp, bounded, free_udp_port, start_endpoint};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use warbler_sip::{IncomingCall, LegEvent, SipError, Transport};

/// How long the callee keeps a call up before it hangs up (the call's length,
/// not a wait for something).
const HOLD: Duration = Duration::from_secs(1);

const AUDIO_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
const DTMF_PCAP: &str = "/usr/share/sip-tester/dtmf_2833_1.pcap";

/// What the callee does with the call.
#[derive(Debug, Clone, Copy)]
enum Callee {
    /// 180, 200 with SDP, wait for the ACK, keep the call for `HOLD`, BYE.
    HangUpAfterHold,
    /// 180, 200 with SDP, wait for the ACK, then for the caller's BYE;
    /// answers a re-offer that puts the call on hold with `a=recvonly`.
    AwaitRemoteHangup,
    /// 180 only, until the caller cancels.
    RingUntilCancelled,
}

#[tokio::test]
async fn server_hangs_up_over_udp() {
    bounded(run_scenario(Scenario {
        name: "server-hangs-up-udp",
        file: "uac_audio_dtmf_wait_bye.xml",
        sipp_transport: SippTransport::Udp,
        extra_arguments: audio_arguments(&[("dtmf_after_ms", "100")]),
        callee: Callee::HangUpAfterHold,
        expected_events: vec![Some(LegEvent::Acknowledged), None],
    }))
    .await;
}

#[tokio::test]
async fn server_hangs_up_over_tcp() {
    bounded(run_scenario(Scenario {
        name: "server-hangs-up-tcp",
        file: "uac_audio_dtmf_wait_bye.xml",
        sipp_transport: SippTransport::Tcp,
        extra_arguments: audio_arguments(&[("dtmf_after_ms", "100")]),
        callee: Callee::HangUpAfterHold,
        expected_events: vec![Some(LegEvent::Acknowledged), None],
    }))
    .await;
}

#[tokio::test]
async fn caller_hangs_up_over_udp() {
    bounded(run_scenario(Scenario {
        name: "caller-hangs-up-udp",
        file: "uac_audio_dtmf_hangup.xml",
        sipp_transport: SippTransport::Udp,
        extra_arguments: audio_arguments(&[("dtmf_after_ms", "100"), ("hangup_after_ms", "500")]),
        callee: Callee::AwaitRemoteHangup,
        expected_events: vec![
            Some(LegEvent::Acknowledged),
            Some(LegEvent::RemoteHangup),
            None,
        ],
    }))
    .await;
}

#[tokio::test]
async fn caller_cancels_while_ringing_over_udp() {
    bounded(run_scenario(Scenario {
        name: "caller-cancels-udp",
        file: "uac_cancel_while_ringing.xml",
        sipp_transport: SippTransport::Udp,
        extra_arguments: Vec::new(),
        callee: Callee::RingUntilCancelled,
        expected_events: vec![Some(LegEvent::Cancelled), None],
    }))
    .await;
}

#[tokio::test]
async fn caller_puts_the_call_on_hold_with_a_reinvite() {
    bounded(run_scenario(Scenario {
        name: "caller-holds-udp",
        file: "uac_reinvite_hold.xml",
        sipp_transport: SippTransport::Udp,
        extra_arguments: Vec::new(),
        callee: Callee::AwaitRemoteHangup,
        expected_events: vec![
            Some(LegEvent::Acknowledged),
            // The hold offer, checked and answered by the callee.
            Some(LegEvent::Reoffer { sdp: Vec::new() }),
            Some(LegEvent::RemoteHangup),
            None,
        ],
    }))
    .await;
}

#[tokio::test]
async fn caller_sends_a_digit_as_info_dtmf_relay() {
    bounded(run_scenario(Scenario {
        name: "caller-info-dtmf-udp",
        file: "uac_info_dtmf.xml",
        sipp_transport: SippTransport::Udp,
        extra_arguments: Vec::new(),
        callee: Callee::AwaitRemoteHangup,
        expected_events: vec![
            Some(LegEvent::Acknowledged),
            Some(LegEvent::Dtmf {
                digit: '5',
                duration_ms: 160,
            }),
            Some(LegEvent::RemoteHangup),
            None,
        ],
    }))
    .await;
}

#[tokio::test]
async fn invite_requiring_100rel_is_refused_with_420() {
    bounded(run_refused_scenario(
        "require-100rel",
        "uac_require_100rel.xml",
        Drain::No,
    ))
    .await;
}

#[tokio::test]
async fn draining_endpoint_refuses_invites_with_503() {
    bounded(run_refused_scenario(
        "draining-503",
        "uac_refused_503.xml",
        Drain::Yes,
    ))
    .await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SippTransport {
    Udp,
    Tcp,
}

struct Scenario {
    name: &'static str,
    file: &'static str,
    sipp_transport: SippTransport,
    extra_arguments: Vec<String>,
    callee: Callee,
    /// What `next_event` must return, in order, after the callee's actions
    /// (a re-offer's SDP is checked by the callee and left out here).
    expected_events: Vec<Option<LegEvent>>,
}

/// Whether the endpoint drains before SIPp calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    Yes,
    No,
}

fn audio_arguments(settings: &[(&str, &str)]) -> Vec<String> {
    for pcap in [AUDIO_PCAP, DTMF_PCAP] {
        assert!(
            Path::new(pcap).exists(),
            "{pcap} is missing: install the Debian package sip-tester (apt-get install -y sip-tester)"
        );
    }
    let mut arguments: Vec<String> = [
        "-key",
        "audio_pcap",
        AUDIO_PCAP,
        "-key",
        "dtmf_pcap",
        DTMF_PCAP,
    ]
    .map(str::to_owned)
    .to_vec();
    for (name, value) in settings {
        arguments.extend(["-set".to_owned(), (*name).to_owned(), (*value).to_owned()]);
    }
    arguments
}

async fn run_scenario(scenario: Scenario) {
    let _one_at_a_time = SIPP_ONE_AT_A_TIME.lock().await;
    let cancel = CancellationToken::new();
    let (endpoint, mut calls) = start_endpoint(&cancel).await;
    // Absorbs the RTP SIPp plays towards the address in our answer.
    let rtp_sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind the RTP sink");
    let rtp_port = rtp_sink.local_addr().expect("RTP sink address").port();

    let transport = match scenario.sipp_transport {
        SippTransport::Udp => "u1",
        SippTransport::Tcp => "t1",
    };
    let mut arguments = vec![
        endpoint.local_addr().to_string(),
        "-t".to_owned(),
        transport.to_owned(),
    ];
    arguments.extend(scenario.extra_arguments.iter().cloned());
    let mut sipp = Sipp::spawn(scenario.name, scenario.file, free_udp_port(), &arguments);

    let call = match tokio::time::timeout(STEP_BOUND, calls.recv()).await {
        Ok(Some(call)) => call,
        Ok(None) => panic!("the endpoint stopped before SIPp's INVITE arrived"),
        Err(_) => panic!(
            "no INVITE from SIPp within {STEP_BOUND:?}\n{}",
            sipp.diagnostics()
        ),
    };
    check_call_fields(&call, &scenario, &sipp);

    let events = match play_callee(call, scenario.callee, rtp_port).await {
        Ok(events) => events,
        Err(failure) => panic!("callee failed: {failure}\n{}", sipp.diagnostics()),
    };
    assert_eq!(
        events,
        scenario.expected_events,
        "leg events of {}\n{}",
        scenario.name,
        sipp.diagnostics()
    );

    sipp.expect_success(scenario.name).await;
    cancel.cancel();
}

/// SIPp's INVITE must be refused by the facade itself: no call reaches the
/// application, and SIPp (which checks the response) exits 0.
async fn run_refused_scenario(name: &str, file: &str, drain: Drain) {
    let _one_at_a_time = SIPP_ONE_AT_A_TIME.lock().await;
    let cancel = CancellationToken::new();
    let (endpoint, mut calls) = start_endpoint(&cancel).await;
    if drain == Drain::Yes {
        endpoint.drain();
    }
    let arguments = [
        endpoint.local_addr().to_string(),
        "-t".to_owned(),
        "u1".to_owned(),
    ];
    let mut sipp = Sipp::spawn(name, file, free_udp_port(), &arguments);
    let reached = tokio::select! {
        call = calls.recv() => call,
        () = sipp.expect_success(name) => None,
    };
    if let Some(call) = reached {
        panic!(
            "the INVITE reached the application: {call:?}\n{}",
            sipp.diagnostics()
        );
    }
    cancel.cancel();
}

fn check_call_fields(call: &IncomingCall, scenario: &Scenario, sipp: &Sipp) {
    let context = || format!("{call:?}\n{}", sipp.diagnostics());
    let transport = match scenario.sipp_transport {
        SippTransport::Udp => Transport::Udp,
        SippTransport::Tcp => Transport::Tcp,
    };
    assert_eq!(call.transport, transport, "{}", context());
    assert_eq!(call.request_user, "service", "{}", context());
    assert_eq!(call.from_user, "sipp", "{}", context());
    assert_eq!(call.user_agent.as_deref(), Some("SIPp"), "{}", context());
    assert_eq!(call.remote_addr.ip(), Ipv4Addr::LOCALHOST, "{}", context());
    assert!(
        call.from_uri.starts_with("sip:sipp@127.0.0.1"),
        "{}",
        context()
    );
    assert!(
        call.to_uri.starts_with("sip:service@127.0.0.1"),
        "{}",
        context()
    );
    assert!(!call.call_id.is_empty(), "{}", context());
    let offer = call.offer_sdp.as_deref().unwrap_or_default();
    assert!(
        String::from_utf8_lossy(offer).contains("m=audio"),
        "{}",
        context()
    );
}

/// A minimal PCMU answer (RFC 3264 §6, RFC 3551 payload type 0) with the
/// given direction attribute (RFC 3264 §5.1).
fn pcmu_answer(rtp_port: u16, direction: &str) -> Vec<u8> {
    // RFC 3264 §8: a changed description has a higher o= version.
    let version = if direction == "sendrecv" { 1 } else { 2 };
    format!(
        "v=0\r\n\
         o=warbler 1 {version} IN IP4 127.0.0.1\r\n\
         s=warbler\r\n\
         c=IN IP4 127.0.0.1\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a={direction}\r\n"
    )
    .into_bytes()
}

/// Plays the callee's part; returns what `next_event` said after its actions.
async fn play_callee(
    mut call: IncomingCall,
    callee: Callee,
    rtp_port: u16,
) -> Result<Vec<Option<LegEvent>>, String> {
    let answer = pcmu_answer(rtp_port, "sendrecv");
    let leg = &mut call.leg;
    let mut events = Vec::new();
    leg.trying()
        .await
        .map_err(|error| failure("trying", error))?;
    leg.ringing()
        .await
        .map_err(|error| failure("ringing", error))?;
    if let Callee::RingUntilCancelled = callee {
        events.push(next_event(leg).await?);
        let late_answer = leg.answer(answer).await;
        if !matches!(late_answer, Err(SipError::LegGone)) {
            return Err(format!("answer after CANCEL gave {late_answer:?}"));
        }
        events.push(next_event(leg).await?);
        return Ok(events);
    }

    leg.answer(answer)
        .await
        .map_err(|error| failure("answer", error))?;
    events.push(next_event(leg).await?);
    match callee {
        Callee::HangUpAfterHold => {
            tokio::select! {
                event = leg.next_event() => {
                    return Err(format!("event {event:?} during the call, before our hangup"));
                }
                () = tokio::time::sleep(HOLD) => {}
            }
            leg.hangup()
                .await
                .map_err(|error| failure("hangup", error))?;
            events.push(next_event(leg).await?);
        }
        Callee::AwaitRemoteHangup | Callee::RingUntilCancelled => loop {
            let event = next_event(leg).await?;
            match event {
                Some(LegEvent::Reoffer { sdp }) => {
                    // RFC 3264 §8.4: a sendonly offer is answered recvonly.
                    let offer = String::from_utf8_lossy(&sdp);
                    if !offer.contains("a=sendonly") {
                        return Err(format!("unexpected re-offer {offer}"));
                    }
                    leg.answer_reoffer(pcmu_answer(rtp_port, "recvonly"))
                        .await
                        .map_err(|error| failure("answer_reoffer", error))?;
                    events.push(Some(LegEvent::Reoffer { sdp: Vec::new() }));
                }
                Some(LegEvent::RemoteHangup) => {
                    events.push(Some(LegEvent::RemoteHangup));
                    let late_hangup = leg.hangup().await;
                    if !matches!(late_hangup, Err(SipError::LegGone)) {
                        return Err(format!(
                            "hangup after the caller's BYE gave {late_hangup:?}"
                        ));
                    }
                    events.push(next_event(leg).await?);
                    break;
                }
                None => {
                    events.push(None);
                    break;
                }
                other => events.push(other),
            }
        },
    }
    Ok(events)
}

async fn next_event(leg: &mut warbler_sip::InboundLeg) -> Result<Option<LegEvent>, String> {
    tokio::time::timeout(STEP_BOUND, leg.next_event())
        .await
        .map_err(|_| format!("no leg event within {STEP_BOUND:?}"))
}

fn failure(action: &str, error: SipError) -> String {
    format!("{action} failed: {error}")
}
