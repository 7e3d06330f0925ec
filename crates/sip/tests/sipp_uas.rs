//! SIPp (Debian package `sip-tester`) calls the facade's UAS side on 127.0.0.1.
//!
//! These tests need `sipp` on the PATH and Debian's pcaps in
//! `/usr/share/sip-tester/`; they fail (never skip) with a clear message when
//! either is missing. SIPp's pcap playback uses a raw socket: run as root.
//! Every SIPp process is killed by PID when its guard is dropped, and every
//! test is bounded by [`TEST_BOUND`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warbler_sip::{IncomingCall, LegEvent, SipConfig, SipEndpoint, SipError, Transport};

/// Upper bound of one whole test.
const TEST_BOUND: Duration = Duration::from_secs(60);
/// Upper bound for any single step we wait for (a call, an event, SIPp's exit).
const STEP_BOUND: Duration = Duration::from_secs(20);
/// How long the callee keeps a call up before it hangs up (the call's length,
/// not a wait for something).
const HOLD: Duration = Duration::from_secs(1);

const AUDIO_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
const DTMF_PCAP: &str = "/usr/share/sip-tester/dtmf_2833_1.pcap";

/// SIPp runs one at a time: each plays pcaps with its own threads and the
/// machine is small.
static SIPP_ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the callee does with the call.
#[derive(Debug, Clone, Copy)]
enum Callee {
    /// 180, 200 with SDP, wait for the ACK, keep the call for `HOLD`, BYE.
    HangUpAfterHold,
    /// 180, 200 with SDP, wait for the ACK, then for the caller's BYE.
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
        expected_events: &[Some(LegEvent::Acknowledged), None],
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
        expected_events: &[Some(LegEvent::Acknowledged), None],
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
        expected_events: &[
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
        expected_events: &[Some(LegEvent::Cancelled), None],
    }))
    .await;
}

async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {TEST_BOUND:?}"));
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
    /// What `next_event` must return, in order, after the callee's actions.
    expected_events: &'static [Option<LegEvent>],
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

    let mut sipp = Sipp::spawn(&scenario, endpoint.local_addr());

    let call = match tokio::time::timeout(STEP_BOUND, calls.recv()).await {
        Ok(Some(call)) => call,
        Ok(None) => panic!("the endpoint stopped before SIPp's INVITE arrived"),
        Err(_) => panic!(
            "no INVITE from SIPp within {STEP_BOUND:?}\n{}",
            sipp.diagnostics()
        ),
    };
    check_call_fields(&call, &scenario, &sipp);

    let events = match play_callee(call, scenario.callee, pcmu_answer(rtp_port)).await {
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

    let status = sipp.wait(STEP_BOUND).await;
    assert!(
        status.success(),
        "SIPp ({}) exited with {status}\n{}",
        scenario.name,
        sipp.diagnostics()
    );
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

/// A minimal PCMU answer (RFC 3264 §6, RFC 3551 payload type 0).
fn pcmu_answer(rtp_port: u16) -> Vec<u8> {
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

/// Plays the callee's part; returns what `next_event` said after its actions.
async fn play_callee(
    mut call: IncomingCall,
    callee: Callee,
    answer: Vec<u8>,
) -> Result<Vec<Option<LegEvent>>, String> {
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
        Callee::AwaitRemoteHangup | Callee::RingUntilCancelled => {
            events.push(next_event(leg).await?);
            let late_hangup = leg.hangup().await;
            if !matches!(late_hangup, Err(SipError::LegGone)) {
                return Err(format!(
                    "hangup after the caller's BYE gave {late_hangup:?}"
                ));
            }
            events.push(next_event(leg).await?);
        }
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

/// Starts the endpoint on 127.0.0.1 on a port free for both UDP and TCP.
async fn start_endpoint(cancel: &CancellationToken) -> (SipEndpoint, mpsc::Receiver<IncomingCall>) {
    for _ in 0..10 {
        let config = SipConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp_port())),
            user_agent: "warbler-sip-test".to_owned(),
        };
        match SipEndpoint::start(config, cancel.child_token()).await {
            Ok(started) => return started,
            // Someone else holds TCP (or UDP) on that port: try another one.
            Err(SipError::Bind { .. }) => continue,
            Err(error) => panic!("cannot start the endpoint: {error}"),
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1 after 10 tries");
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|socket| socket.local_addr())
        .expect("an ephemeral UDP port on 127.0.0.1")
        .port()
}

/// A UDP port `p` with `p + 2` free as well (SIPp binds its media port and
/// media port + 2).
fn free_media_port() -> u16 {
    for _ in 0..20 {
        let port = free_udp_port();
        if port < u16::MAX - 2 && std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 2)).is_ok()
        {
            return port;
        }
    }
    panic!("no pair of free UDP ports for SIPp's media");
}

/// A running SIPp; killed by PID when dropped.
struct Sipp {
    child: Child,
    directory: PathBuf,
}

impl Sipp {
    fn spawn(scenario: &Scenario, target: SocketAddr) -> Self {
        let scenario_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(scenario.file);
        let directory = std::env::temp_dir().join(format!(
            "warbler-sip-{}-{}",
            scenario.name,
            std::process::id()
        ));
        std::fs::create_dir_all(&directory).expect("create SIPp's working directory");
        let log = |name: &str| {
            std::fs::File::create(directory.join(name)).expect("create a SIPp log file")
        };
        let transport = match scenario.sipp_transport {
            SippTransport::Udp => "u1",
            SippTransport::Tcp => "t1",
        };
        let mut command = Command::new("sipp");
        command
            .arg(target.to_string())
            .arg("-sf")
            .arg(&scenario_file)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-ci", "127.0.0.1"])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error", "-m", "1"])
            .args(["-t", transport, "-trace_err"])
            .arg("-p")
            .arg(free_udp_port().to_string())
            .arg("-mp")
            .arg(free_media_port().to_string())
            .arg("-cp")
            .arg(free_udp_port().to_string())
            .args(&scenario.extra_arguments)
            .current_dir(&directory)
            .stdin(Stdio::null())
            .stdout(log("sipp.stdout"))
            .stderr(log("sipp.stderr"));
        let spawned = command.spawn();
        if spawned.is_err() {
            std::fs::remove_dir_all(&directory).ok();
        }
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "`sipp` is not on the PATH: install the Debian package sip-tester \
                 (apt-get install -y sip-tester)"
            ),
            Err(error) => panic!("cannot start sipp: {error}"),
        };
        Self { child, directory }
    }

    async fn wait(&mut self, bound: Duration) -> ExitStatus {
        match tokio::time::timeout(bound, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => panic!("cannot wait for sipp: {error}"),
            Err(_) => panic!("sipp still running after {bound:?}\n{}", self.diagnostics()),
        }
    }

    /// The end of SIPp's output and error logs, for failure messages.
    fn diagnostics(&self) -> String {
        let mut report = String::new();
        let Ok(entries) = std::fs::read_dir(&self.directory) else {
            return report;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: String = text
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            report.push_str(&format!(
                "----- {} -----\n{tail}\n",
                entry.file_name().to_string_lossy()
            ));
        }
        report
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGKILL to this child's PID.
            if let Err(error) = self.child.start_kill() {
                eprintln!("cannot kill sipp (pid {:?}): {error}", self.child.id());
            }
        }
        std::fs::remove_dir_all(&self.directory).ok();
    }
}
