//! One task per call: owns the SIP leg, the RTP socket, the media session and the flow
//! executor, and pumps events between them (the run loop of ARCHITECTURE.md). It makes no
//! protocol decision itself: the flow executor, `warbler-call` and `warbler-media` do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use warbler_call::{Ending, HangupSignal, mark_answered, mark_ended, mark_ringing, mark_starting};
use warbler_flow::{Action, Executor, Outcome, Output, StepId};
use warbler_media::{
    AnswerParams, MAXIMUM_PACKET_SIZE, MediaEvent, MediaSession, Negotiated, PlayoutId,
    SessionConfig, SessionOptions, negotiate, parse_offer, render_answer,
};
use warbler_model::{
    Call, CallFlow, CallFlowId, Command, CommandId, CommandRecord, Direction, DtmfKey, EventKind,
    FlowStart, FlowStep, PlaybackOptions, SayOptions, WorkspaceId,
};
use warbler_sip::{OutboundRequest, SipEndpoint};

use crate::leg::{Leg, Signal};

use crate::media_source::{MediaSource, PreparedAudio};
use crate::registry::Registry;
use crate::webhook::now_timestamp;

/// A request from the API to a live call.
#[derive(Debug)]
pub(crate) enum Control {
    /// Apply a PATCH: replace the flow and/or hang up; reply with the call as it is then.
    Patch {
        patch: warbler_model::request::PatchCall,
        reply: oneshot::Sender<Call>,
    },
    /// Run one command now (the per-command endpoints, spec §5.7–5.14), replacing what is left
    /// of the flow; reply with the command as the API shows it, once stored.
    Command {
        command: Command,
        reply: oneshot::Sender<Result<CommandRecord, CommandRefused>>,
    },
}

/// Why a call refused a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandRefused {
    /// The command does not fit the call (e.g. `answer` on an outgoing call).
    #[error("{0}")]
    WrongState(&'static str),
}

/// A call state change for the persister (one task, so changes are stored in order).
#[derive(Debug)]
pub(crate) struct PersistRequest {
    pub(crate) workspace: WorkspaceId,
    pub(crate) call: Call,
    pub(crate) event: Option<EventKind>,
    /// Told the stored call once this and every earlier change of the call are stored, so that a
    /// PATCH's 202 is followed by GETs that see it.
    pub(crate) stored: Option<oneshot::Sender<Call>>,
}

/// Everything a new call actor starts with.
pub(crate) struct CallSetup {
    pub(crate) workspace: WorkspaceId,
    pub(crate) call: Call,
    pub(crate) leg: Leg,
    pub(crate) socket: UdpSocket,
    /// Incoming: the negotiation of the caller's offer. Outgoing: none until the answer.
    pub(crate) negotiated: Option<Negotiated>,
    /// Incoming: our SDP answer. Outgoing: our SDP offer.
    pub(crate) answer_sdp: Vec<u8>,
    /// Outgoing only: how to dial and when the flow starts.
    pub(crate) dialing: Option<Dialing>,
    /// The `o=` session id of our SDP (its version grows with every re-answer, RFC 3264 §8).
    pub(crate) session_id: u64,
    pub(crate) initial_flow: Option<CallFlow>,
    pub(crate) controls: mpsc::Receiver<Control>,
}

/// How an outgoing call is placed (spec §5.1).
pub(crate) struct Dialing {
    /// The INVITE to send; taken when dialling.
    pub(crate) request: Option<OutboundRequest>,
    pub(crate) ring_timeout: Duration,
    pub(crate) max_duration: Duration,
    pub(crate) flow_start: FlowStart,
    pub(crate) send_keys: String,
}

/// Services shared by every call actor.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) persist: mpsc::Sender<PersistRequest>,
    pub(crate) media: Arc<MediaSource>,
    pub(crate) registry: Arc<Registry>,
    /// Wakes the webhook dispatcher after an event was stored.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// RTP inactivity after which an answered call is hung up.
    pub(crate) media_timeout: Option<Duration>,
    /// The SIP endpoint, for dialling.
    pub(crate) endpoint: SipEndpoint,
    /// Hang up this long after a flow runs out of commands (`None`: the call stays up).
    pub(crate) flow_idle_timeout: Option<Duration>,
}

/// The media state of the leg.
enum MediaState {
    /// Not answered: no RTP is sent.
    NotAnswered,
    /// Answered: paced RTP flows.
    Answered(Box<MediaSession>),
}

/// The media command whose audio is being prepared or played.
struct ActiveMedia {
    step: StepId,
    preparation: Option<AbortHandle>,
    /// Clips not yet handed to the media session.
    waiting: std::collections::VecDeque<Arc<[i16]>>,
    /// Clips handed to the session and not finished.
    in_flight: usize,
    /// The last clip of the command, once handed over: its end is the command's end.
    last: Option<PlayoutId>,
}

/// How many clips of one command the media session holds at once (its queue is bounded).
const CLIPS_AHEAD: usize = 4;

struct Actor {
    workspace: WorkspaceId,
    call: Call,
    leg: Leg,
    socket: UdpSocket,
    remote_media: Option<SocketAddr>,
    negotiated: Option<Negotiated>,
    answer_sdp: Vec<u8>,
    session_id: u64,
    answer_version: u64,
    media: MediaState,
    executor: Executor,
    controls: mpsc::Receiver<Control>,
    preparations: JoinSet<(StepId, Result<PreparedAudio, String>)>,
    /// Audio of a new flow's later commands, prepared ahead into the cache (dropped with the call).
    warmups: JoinSet<()>,
    active_media: Option<ActiveMedia>,
    next_playout: u64,
    acknowledged_at: Option<Instant>,
    first_audio_at: Option<Instant>,
    /// Outgoing: the flow waiting for the answer (or the ringing, with `from-ringing`).
    waiting_flow: Option<CallFlow>,
    /// Outgoing: a flow's `answer` waits for the callee to answer.
    pending_answer: Option<StepId>,
    /// Outgoing: ring timeout, then the maximum duration once answered.
    timers: Option<OutgoingTimers>,
    dialing: Option<Dialing>,
    shared: Shared,
    cancel: CancellationToken,
}

/// The deadlines of an outgoing call.
struct OutgoingTimers {
    ring_until: Instant,
    max_duration: Duration,
    end_at: Option<Instant>,
}

/// Runs a call until it ends.
pub(crate) async fn run(setup: CallSetup, shared: Shared, cancel: CancellationToken) {
    let call_id = setup.call.id;
    let mut actor = Actor {
        workspace: setup.workspace,
        remote_media: setup
            .negotiated
            .as_ref()
            .and_then(|negotiated| negotiated.remote),
        call: setup.call,
        leg: setup.leg,
        socket: setup.socket,
        negotiated: setup.negotiated,
        answer_sdp: setup.answer_sdp,
        session_id: setup.session_id,
        answer_version: 1,
        media: MediaState::NotAnswered,
        executor: match shared.flow_idle_timeout {
            Some(timeout) => Executor::new().with_idle_timeout(timeout),
            None => Executor::new(),
        },
        controls: setup.controls,
        preparations: JoinSet::new(),
        warmups: JoinSet::new(),
        active_media: None,
        next_playout: 0,
        acknowledged_at: None,
        first_audio_at: None,
        waiting_flow: None,
        pending_answer: None,
        timers: None,
        dialing: setup.dialing,
        shared,
        cancel,
    };
    match (setup.initial_flow, actor.call.direction) {
        (Some(flow), Direction::Incoming) => actor.install_flow(flow),
        (flow, Direction::Outgoing) => actor.waiting_flow = flow,
        (None, Direction::Incoming) => {}
    }
    actor.dial().await;
    actor.run_loop().await;
    actor.shared.registry.remove(call_id);
    tracing::info!(call = %call_id, status = actor.call.status.as_str(), "call ended");
}

impl Actor {
    async fn run_loop(&mut self) {
        let mut send_buffer = [0u8; MAXIMUM_PACKET_SIZE];
        let mut receive_buffer = [0u8; 2048];
        self.pump().await;
        while !self.call.status.is_terminal() {
            let media_deadline = match &self.media {
                MediaState::Answered(session) => Some(session.poll_timeout()),
                MediaState::NotAnswered => None,
            };
            let flow_deadline = self.executor.poll_timeout();
            let call_deadline = self.call_deadline();
            tokio::select! {
                () = self.cancel.cancelled() => self.end(Ending::Shutdown).await,
                () = sleep_until(media_deadline) => {
                    if self.send_media(&mut send_buffer) == MediaOutcome::RtpTimedOut {
                        self.end(Ending::MediaTimeout).await;
                    }
                }
                signal = self.leg.next_signal() => self.on_signal(signal).await,
                () = sleep_until(call_deadline) => {
                    let ending = if self.call.status == warbler_model::CallStatus::Ongoing {
                        Ending::MaxDuration
                    } else {
                        Ending::RingTimeout
                    };
                    self.end(ending).await;
                }
                Some(control) = self.controls.recv() => self.on_control(control).await,
                Some(joined) = self.preparations.join_next(), if !self.preparations.is_empty() => {
                    if let Ok((step, result)) = joined {
                        self.on_prepared(step, result);
                    }
                }
                received = self.socket.recv_from(&mut receive_buffer) => {
                    if let Ok((length, source)) = received {
                        self.on_rtp(&receive_buffer[..length], source);
                    }
                }
                () = sleep_until(flow_deadline) => self.executor.handle_timeout(Instant::now()),
            }
            self.pump().await;
        }
    }

    fn install_flow(&mut self, flow: CallFlow) {
        self.warm_up(&flow);
        let now_millis = u64::try_from(now_timestamp().unix_millis()).unwrap_or(0);
        let flow_id = CallFlowId::from_parts(now_millis, random_bytes());
        let ids = flow
            .steps
            .iter()
            .map(|_| CommandId::from_parts(now_millis, random_bytes()))
            .collect();
        self.executor.replace(Instant::now(), flow_id, flow, ids);
    }

    /// Starts preparing the audio of every `say` and `playback` of a new flow, so that a command
    /// that comes after `ringing` and `pause` finds its audio cached when it runs. The audio
    /// library synthesizes or fetches each item once, however many callers ask.
    fn warm_up(&mut self, flow: &CallFlow) {
        self.warmups = JoinSet::new(); // Dropping the old set aborts what it still prepares.
        for step in &flow.steps {
            let source = Arc::clone(&self.shared.media);
            match &step.command {
                Command::Say(options) => {
                    let options = options.clone();
                    self.warmups.spawn(async move {
                        let _ = source.say(&options).await;
                    });
                }
                Command::Playback(options) => {
                    let options = options.clone();
                    self.warmups.spawn(async move {
                        let _ = source.playback(&options).await;
                    });
                }
                _ => {}
            }
        }
    }

    /// Carries out everything the executor asks for, until it has nothing more to say.
    async fn pump(&mut self) {
        let mut flow_changed = false;
        while let Some(output) = self.executor.poll_output() {
            match output {
                Output::CommandChanged { .. } | Output::Gathered { .. } => flow_changed = true,
                Output::FlowFinished => tracing::debug!("flow finished; the call stays up"),
                Output::Action(action) => {
                    if self.call.status.is_terminal() {
                        continue;
                    }
                    self.act(action).await;
                }
            }
        }
        if flow_changed && !self.call.status.is_terminal() {
            self.persist(None).await;
        }
    }

    async fn act(&mut self, action: Action) {
        let now = Instant::now();
        match action {
            Action::Ringing { step } => {
                let outcome = match self.leg.ringing().await {
                    Ok(()) => {
                        if mark_ringing(&mut self.call, now_timestamp()) {
                            self.persist(Some(self.event_kind())).await;
                        }
                        Outcome::Completed
                    }
                    Err(error) => Outcome::Failed(error.to_string()),
                };
                self.executor.handle_done(now, step, outcome);
            }
            Action::Answer { step } if self.call.direction == Direction::Outgoing => {
                // An outgoing call is answered by the callee: the command waits for that (or
                // for early media, which lets a `from-ringing` flow play).
                if matches!(self.media, MediaState::Answered(_)) {
                    self.executor.handle_answered();
                    self.executor.handle_done(now, step, Outcome::Completed);
                } else {
                    self.pending_answer = Some(step);
                }
            }
            Action::Answer { step } => {
                let outcome = self.answer().await;
                self.executor.handle_done(now, step, outcome);
            }
            Action::Say { step, options } => self.prepare(step, Preparation::Say(options)),
            Action::Playback { step, options } => {
                self.prepare(step, Preparation::Playback(options))
            }
            Action::StopMedia { step } => self.stop_media(step),
            Action::Hangup { cause, .. } => self.end(Ending::Api(cause)).await,
            Action::IdleHangup => self.end(Ending::Api(None)).await,
            // Refused at the API (`check_flow`) until the runtime carries them out; a flow that
            // still holds one fails that command and goes on.
            Action::Record { step, .. } | Action::Bridge { step, .. } => {
                let reason = "not available on this server yet".to_owned();
                self.executor
                    .handle_done(now, step, Outcome::Failed(reason));
            }
            Action::StopRecording { .. } | Action::EndBridge { .. } => {}
        }
    }

    async fn answer(&mut self) -> Outcome {
        if matches!(self.media, MediaState::Answered(_)) {
            return Outcome::Completed;
        }
        if let Err(error) = self.leg.answer(self.answer_sdp.clone()).await {
            return Outcome::Failed(error.to_string());
        }
        self.start_media();
        self.executor.handle_answered();
        if mark_answered(&mut self.call, now_timestamp()) {
            self.persist(Some(self.event_kind())).await;
        }
        Outcome::Completed
    }

    /// Starts the media session for the negotiated codec (once).
    fn start_media(&mut self) {
        let Some(negotiated) = &self.negotiated else {
            return;
        };
        if matches!(self.media, MediaState::Answered(_)) {
            return;
        }
        let random = random_bytes();
        let config = SessionConfig {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event_pt: negotiated.telephone_event,
            ssrc: u32::from_be_bytes([random[0], random[1], random[2], random[3]]),
            initial_sequence: u16::from_be_bytes([random[4], random[5]]),
            initial_timestamp: u32::from_be_bytes([random[6], random[7], random[8], random[9]]),
        };
        let mut options = SessionOptions::default();
        if let Some(timeout) = self.shared.media_timeout {
            options = options.with_media_timeout(timeout);
        }
        self.media = MediaState::Answered(Box::new(MediaSession::with_options(
            config,
            options,
            Instant::now(),
        )));
    }

    fn prepare(&mut self, step: StepId, preparation: Preparation) {
        self.stop_active_media();
        let source = Arc::clone(&self.shared.media);
        let handle = self.preparations.spawn(async move {
            let result = match preparation {
                Preparation::Say(options) => source.say(&options).await,
                Preparation::Playback(options) => source.playback(&options).await,
            };
            (step, result.map_err(|error| error.to_string()))
        });
        self.active_media = Some(ActiveMedia {
            step,
            preparation: Some(handle),
            waiting: std::collections::VecDeque::new(),
            in_flight: 0,
            last: None,
        });
    }

    fn on_prepared(&mut self, step: StepId, result: Result<PreparedAudio, String>) {
        let Some(active) = self
            .active_media
            .as_mut()
            .filter(|active| active.step == step)
        else {
            return; // Audio for a command that was stopped or replaced meanwhile.
        };
        active.preparation = None;
        let audio = match result {
            Ok(audio) => audio,
            Err(reason) => {
                self.active_media = None;
                self.executor
                    .handle_done(Instant::now(), step, Outcome::Failed(reason));
                return;
            }
        };
        let MediaState::Answered(session) = &mut self.media else {
            self.active_media = None;
            self.executor.handle_done(
                Instant::now(),
                step,
                Outcome::Failed("the call is not answered".into()),
            );
            return;
        };
        active.waiting = audio.clips;
        if let Err(reason) = feed(active, session, &mut self.next_playout) {
            self.active_media = None;
            self.executor
                .handle_done(Instant::now(), step, Outcome::Failed(reason));
        }
    }

    fn stop_media(&mut self, step: StepId) {
        if self
            .active_media
            .as_ref()
            .is_some_and(|active| active.step == step)
        {
            self.stop_active_media();
        }
    }

    fn stop_active_media(&mut self) {
        if let Some(active) = self.active_media.take() {
            if let Some(preparation) = active.preparation {
                preparation.abort();
            }
            if active.in_flight > 0
                && let MediaState::Answered(session) = &mut self.media
            {
                session.cancel_playout();
            }
        }
    }

    /// Sends the RTP packets that are due, then handles what the media session reports.
    fn send_media(&mut self, buffer: &mut [u8; MAXIMUM_PACKET_SIZE]) -> MediaOutcome {
        let MediaState::Answered(session) = &mut self.media else {
            return MediaOutcome::Running;
        };
        let mut outcome = MediaOutcome::Running;
        let now = Instant::now();
        while let Some(length) = session.handle_timeout(now, buffer) {
            if let Some(remote) = self.remote_media
                && self
                    .negotiated
                    .as_ref()
                    .is_none_or(|negotiated| negotiated.direction.sends())
            {
                // Non-blocking send: a full socket buffer drops this packet (counted by the
                // kernel); RTP is loss-tolerant and pacing must not stall.
                let _ = self.socket.try_send_to(&buffer[..length], remote);
            }
        }
        let mut first_audio = false;
        while let Some(event) = session.poll_event() {
            match event {
                MediaEvent::PlayoutStarted(id) => {
                    if self.first_audio_at.is_none() {
                        self.first_audio_at = Some(now);
                        first_audio = true;
                    }
                    tracing::debug!(playout = id.0, "playout started");
                }
                MediaEvent::PlayoutFinished(id) => {
                    let Some(active) = self.active_media.as_mut() else {
                        continue;
                    };
                    active.in_flight = active.in_flight.saturating_sub(1);
                    if active.last == Some(id) {
                        let step = active.step;
                        self.active_media = None;
                        self.executor.handle_done(now, step, Outcome::Completed);
                    } else if let Err(reason) = feed(active, session, &mut self.next_playout) {
                        let step = active.step;
                        self.active_media = None;
                        self.executor
                            .handle_done(now, step, Outcome::Failed(reason));
                    }
                }
                MediaEvent::PlayoutCancelled(_) => {}
                MediaEvent::Dtmf { digit, .. } => {
                    if let Some(key) = DtmfKey::from_char(digit) {
                        tracing::debug!(%digit, "DTMF");
                        self.executor.handle_dtmf(now, key);
                    }
                }
                MediaEvent::RtpTimeout => outcome = MediaOutcome::RtpTimedOut,
            }
        }
        if first_audio {
            self.log_first_audio();
        }
        outcome
    }

    fn on_rtp(&mut self, packet: &[u8], source: SocketAddr) {
        let MediaState::Answered(session) = &mut self.media else {
            return;
        };
        if session.handle_rtp(Instant::now(), packet).is_ok() && self.remote_media != Some(source) {
            // Symmetric RTP (RFC 4961): send to where the peer's packets come from.
            tracing::debug!(%source, "latching RTP to the peer's source address");
            self.remote_media = Some(source);
        }
    }

    /// Logs, once both are known, how long after the ACK the first audio packet left (negative
    /// when audio started before the ACK arrived). The benchmark `bench/say-latency.sh` reads it.
    fn log_first_audio(&self) {
        if let (Some(acknowledged), Some(first_audio)) = (self.acknowledged_at, self.first_audio_at)
        {
            let milliseconds = if first_audio >= acknowledged {
                i64::try_from(first_audio.duration_since(acknowledged).as_millis())
                    .unwrap_or(i64::MAX)
            } else {
                -i64::try_from(acknowledged.duration_since(first_audio).as_millis())
                    .unwrap_or(i64::MAX)
            };
            tracing::info!(to = %self.call.to, milliseconds, "first audio packet after the ACK");
        }
    }

    async fn on_signal(&mut self, signal: Signal) {
        let now = Instant::now();
        match signal {
            Signal::Nothing => {}
            Signal::Acknowledged => {
                self.acknowledged_at = Some(now);
                self.log_first_audio();
            }
            Signal::Cancelled => self.end(Ending::RemoteCancel).await,
            Signal::RemoteHangup => self.end(Ending::RemoteBye).await,
            Signal::Ended => self.end(Ending::SignallingFailure).await,
            Signal::Rejected { status } => self.end(Ending::Rejected(status)).await,
            Signal::Dtmf { digit } => {
                // SIP INFO application/dtmf-relay (a non-standard but common carrier method).
                if let Some(key) = DtmfKey::from_char(digit) {
                    self.executor.handle_dtmf(now, key);
                }
            }
            Signal::Reoffer { sdp } => self.on_reoffer(&sdp).await,
            Signal::Ringing { early_sdp } => {
                if mark_ringing(&mut self.call, now_timestamp()) {
                    self.persist(Some(self.event_kind())).await;
                }
                if let Some(sdp) = early_sdp {
                    // RFC 3960: early media; the flow may play into it (`flowStart: from-ringing`).
                    self.take_answer_sdp(&sdp);
                    self.start_media();
                }
                if self
                    .dialing
                    .as_ref()
                    .is_some_and(|dialing| dialing.flow_start == FlowStart::FromRinging)
                    && let Some(flow) = self.waiting_flow.take()
                {
                    self.install_flow(flow);
                }
            }
            Signal::Answered { sdp } => {
                if !self.take_answer_sdp(&sdp) {
                    tracing::warn!("the callee's answer has no codec we offered: hanging up");
                    self.end(Ending::Rejected(488)).await;
                    return;
                }
                self.start_media();
                self.executor.handle_answered();
                if mark_answered(&mut self.call, now_timestamp()) {
                    self.persist(Some(self.event_kind())).await;
                }
                if let Some(timers) = &mut self.timers {
                    timers.end_at = Some(now + timers.max_duration);
                }
                let keys = self
                    .dialing
                    .as_ref()
                    .map(|dialing| dialing.send_keys.clone())
                    .unwrap_or_default();
                if !keys.is_empty()
                    && let MediaState::Answered(session) = &mut self.media
                    && let Err(error) = session.send_dtmf(&keys)
                {
                    tracing::warn!(%error, "could not send the sendKeys digits");
                }
                if let Some(step) = self.pending_answer.take() {
                    self.executor.handle_done(now, step, Outcome::Completed);
                }
                if let Some(flow) = self.waiting_flow.take() {
                    self.install_flow(flow);
                }
            }
        }
    }

    /// Reads the callee's SDP (early or final answer): codec, telephone-event, address.
    /// Returns false when it names no codec we offered.
    fn take_answer_sdp(&mut self, sdp: &[u8]) -> bool {
        let text = String::from_utf8_lossy(sdp);
        let Some(negotiated) = parse_offer(&text)
            .ok()
            .and_then(|answer| negotiate(&answer, &OFFERED_CODECS).ok())
        else {
            return false;
        };
        if let Some(remote) = negotiated.remote {
            self.remote_media = Some(remote);
        }
        if self.negotiated.is_none() {
            self.negotiated = Some(negotiated);
        }
        true
    }

    /// Outgoing: sends the INVITE (`starting`), arms the ring timeout.
    async fn dial(&mut self) {
        let Some(dialing) = &mut self.dialing else {
            return;
        };
        let Some(request) = dialing.request.take() else {
            return;
        };
        let ring_timeout = dialing.ring_timeout;
        let max_duration = dialing.max_duration;
        if mark_starting(&mut self.call, now_timestamp()) {
            self.persist(Some(self.event_kind())).await;
        }
        let endpoint = self.shared.endpoint.clone();
        match self.leg.dial(&endpoint, request).await {
            Ok(()) => {
                self.timers = Some(OutgoingTimers {
                    ring_until: Instant::now() + ring_timeout,
                    max_duration,
                    end_at: None,
                });
            }
            Err(error) => {
                tracing::warn!(%error, "dialling failed");
                self.call.reason = Some(format!("dialling failed: {error}"));
                self.end(Ending::Rejected(503)).await;
            }
        }
    }

    /// The next call-level deadline: the ring timeout before the answer, the maximum duration
    /// after it.
    fn call_deadline(&self) -> Option<Instant> {
        let timers = self.timers.as_ref()?;
        match self.call.status {
            warbler_model::CallStatus::Ongoing => timers.end_at,
            _ => Some(timers.ring_until),
        }
    }

    /// `voice.inbound` or `voice.outbound`, by the call's direction.
    fn event_kind(&self) -> EventKind {
        match self.call.direction {
            Direction::Incoming => EventKind::VoiceInbound,
            Direction::Outgoing => EventKind::VoiceOutbound,
        }
    }

    /// A re-INVITE or UPDATE with a new offer (hold, resume, new address; RFC 3264 §8): answer
    /// with the same port and codec if the offer still allows it, mirrored direction; else 488.
    async fn on_reoffer(&mut self, sdp: &[u8]) {
        let text = String::from_utf8_lossy(sdp);
        let negotiated = parse_offer(&text).ok().and_then(|offer| {
            let codec = self.negotiated.as_ref()?.codec;
            negotiate(&offer, &[codec]).ok()
        });
        let Some(negotiated) = negotiated else {
            tracing::info!("re-offer without our codec: 488");
            if let Err(error) = self.leg.reject_reoffer(488).await {
                tracing::warn!(%error, "could not refuse the re-offer");
            }
            return;
        };
        let local = self.socket.local_addr().ok();
        let Some(local) = local else { return };
        self.answer_version += 1;
        let answer = render_answer(&AnswerParams::for_negotiated(
            &negotiated,
            local,
            self.session_id,
            self.answer_version,
        ));
        if let Err(error) = self.leg.answer_reoffer(answer.into_bytes()).await {
            tracing::warn!(%error, "could not answer the re-offer");
            return;
        }
        tracing::info!(direction = ?negotiated.direction, "re-offer answered");
        if let Some(remote) = negotiated.remote {
            self.remote_media = Some(remote);
        }
        self.negotiated = Some(negotiated);
    }

    async fn on_control(&mut self, control: Control) {
        match control {
            Control::Command { command, reply } => {
                let refusal = match (&command, self.call.direction) {
                    (Command::Answer | Command::Ringing, Direction::Outgoing) => {
                        Some("answer and ringing apply to incoming calls only")
                    }
                    (Command::Answer, Direction::Incoming)
                        if matches!(self.media, MediaState::Answered(_)) =>
                    {
                        Some("the call is already answered")
                    }
                    (Command::Ringing, Direction::Incoming)
                        if self.call.status != warbler_model::CallStatus::Starting =>
                    {
                        Some("ringing applies to a call that is starting")
                    }
                    _ => None,
                };
                if let Some(reason) = refusal {
                    let _ = reply.send(Err(CommandRefused::WrongState(reason)));
                    return;
                }
                self.install_flow(CallFlow {
                    steps: vec![FlowStep {
                        command,
                        conditions: Vec::new(),
                    }],
                });
                let record = self
                    .executor
                    .record(self.call.id)
                    .and_then(|flow| flow.commands.into_iter().next());
                self.pump().await;
                let (stored, stored_answer) = oneshot::channel();
                self.persist_then(stored).await;
                // Reply once stored, without holding up this call's loop.
                tokio::spawn(async move {
                    let _ = stored_answer.await;
                    if let Some(mut record) = record {
                        // An ad-hoc command belongs to no flow the app sent (spec §4.4).
                        record.call_flow_id = None;
                        let _ = reply.send(Ok(record));
                    }
                });
            }
            Control::Patch { patch, reply } => {
                if let Some(flow) = patch.call_flow
                    && !patch.hang_up
                {
                    self.install_flow(flow);
                }
                if patch.hang_up {
                    self.end(Ending::Api(None)).await;
                } else {
                    self.pump().await;
                }
                self.persist_then(reply).await;
            }
        }
    }

    /// Ends the call (once): sends what ending requires and persists the final state.
    async fn end(&mut self, ending: Ending) {
        let Some(signal) = mark_ended(&mut self.call, now_timestamp(), ending) else {
            return;
        };
        self.stop_active_media();
        self.executor.handle_call_ended();
        while self.executor.poll_output().is_some() {}
        let result = match signal {
            HangupSignal::None => Ok(()),
            HangupSignal::Bye => self.leg.hangup().await,
            HangupSignal::Reject(status) => self.leg.reject(status).await,
            HangupSignal::Cancel => self.leg.cancel().await,
        };
        if let Err(error) = result {
            tracing::warn!(%error, ?signal, "could not signal the end of the call");
        }
        self.persist(Some(self.event_kind())).await;
    }

    async fn persist(&mut self, event: Option<EventKind>) {
        self.send_to_persister(event, None).await;
    }

    /// Stores the call as it is now and hands it to `reply` once stored.
    async fn persist_then(&mut self, reply: oneshot::Sender<Call>) {
        self.send_to_persister(None, Some(reply)).await;
    }

    async fn send_to_persister(
        &mut self,
        event: Option<EventKind>,
        stored: Option<oneshot::Sender<Call>>,
    ) {
        self.call.call_flow = self.executor.record(self.call.id);
        self.call.updated_at = now_timestamp();
        let request = PersistRequest {
            workspace: self.workspace,
            call: self.call.clone(),
            event,
            stored,
        };
        if self.shared.persist.send(request).await.is_err() {
            tracing::error!("the persister is gone; a call update was not stored");
        }
    }
}

/// Hands the session the command's next clips, keeping at most [`CLIPS_AHEAD`] queued.
fn feed(
    active: &mut ActiveMedia,
    session: &mut MediaSession,
    next_playout: &mut u64,
) -> Result<(), String> {
    while active.in_flight < CLIPS_AHEAD
        && let Some(clip) = active.waiting.pop_front()
    {
        let id = PlayoutId(*next_playout);
        *next_playout += 1;
        session
            .push_playout(id, clip)
            .map_err(|error| error.to_string())?;
        active.in_flight += 1;
        if active.waiting.is_empty() {
            active.last = Some(id);
        }
    }
    Ok(())
}

/// The codecs an outgoing call offers, most preferred first.
pub(crate) const OFFERED_CODECS: [warbler_media::Codec; 2] =
    [warbler_media::Codec::Pcmu, warbler_media::Codec::Pcma];

/// What a media tick found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaOutcome {
    /// Media flows (or the call is not answered).
    Running,
    /// No RTP arrived for the media timeout.
    RtpTimedOut,
}

enum Preparation {
    Say(SayOptions),
    Playback(PlaybackOptions),
}

/// Sleeps until `deadline`, or forever when there is none. Cancel-safe.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Ten random bytes for ids, SSRCs and initial sequence numbers.
pub(crate) fn random_bytes() -> [u8; 10] {
    let uuid = uuid::Uuid::new_v4();
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&uuid.as_bytes()[..10]);
    bytes
}
