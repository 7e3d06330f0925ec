//! One RTP leg: paced sending of queued audio clips, DTMF or silence;
//! reception through a jitter buffer; telephone-events and in-band DTMF;
//! RTCP reports; a media-inactivity timer; a recording tap; and the hooks
//! [`Bridge`](crate::bridge::Bridge) uses to join two legs.
//!
//! See the crate documentation for the driving loop.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::bridge::BridgeMode;
use crate::codec::{Codec, FrameEncoder};
use crate::dtmf_detector::{DtmfDetector, write_tone_frame};
use crate::frames::FrameRing;
use crate::jitter::{
    JitterBuffer, JitterStatistics, ReceivedFrameKind, arrival_units, units_to_duration,
};
use crate::rtcp::{self, MAXIMUM_RTCP_PACKET_SIZE, ReportBlock, RtcpError, RtcpPacket, SenderInfo};
use crate::rtp::{self, RTP_HEADER_SIZE, RtpError, RtpHeader};
use crate::sdp::Negotiated;
use crate::telephone_event::{
    self, DtmfError, DtmfOutput, DtmfSender, KeyPress, TELEPHONE_EVENT_PAYLOAD_SIZE,
    TelephoneEventReceiver, event_to_digit,
};

/// Samples per packet: 20 ms at 8 kHz (RFC 3551 §4.5: G.711 default ptime).
pub const SAMPLES_PER_FRAME: usize = 160;

/// Time between two packets.
pub const FRAME_DURATION: Duration = Duration::from_millis(FRAME_MILLISECONDS);

/// Bytes of an outgoing packet: 12-byte header plus one byte per sample.
/// Buffers passed to [`MediaSession::handle_timeout`] must be at least
/// this long. (A 20 ms G.722 frame is also 160 bytes.)
pub const MAXIMUM_PACKET_SIZE: usize = RTP_HEADER_SIZE + SAMPLES_PER_FRAME;

/// How many clips [`MediaSession::push_playout`] accepts before refusing.
pub const PLAYOUT_QUEUE_CAPACITY: usize = 16;

/// Most ticks [`MediaSession::handle_timeout`] sends back to back when the
/// caller is late; beyond this it skips ahead instead (200 ms).
pub const MAXIMUM_CATCH_UP_TICKS: u64 = 10;

/// Received frames kept for [`MediaSession::poll_received_frame`]; older
/// ones are overwritten (320 ms).
pub const RECEIVED_FRAME_CAPACITY: usize = 16;

/// Recorded frames kept for [`MediaSession::poll_recorded_frame`]; older
/// ones are overwritten (320 ms).
pub const RECORDED_FRAME_CAPACITY: usize = 16;

/// Default interval between two RTCP reports (RFC 3550 §6.2 suggests 5 s
/// as the minimum).
pub const DEFAULT_RTCP_INTERVAL: Duration = Duration::from_secs(5);

const FRAME_MILLISECONDS: u64 = 20;
/// Bridged frames waiting to be sent, at most (80 ms of latency).
const BRIDGED_FRAME_CAPACITY: usize = 4;

/// Identifies a clip given to [`MediaSession::push_playout`]; chosen by
/// the caller and echoed in [`MediaEvent`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayoutId(pub u64);

impl fmt::Display for PlayoutId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "playout {}", self.0)
    }
}

/// Something the caller should know about, from [`MediaSession::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaEvent {
    /// The clip's first frame was sent.
    PlayoutStarted(PlayoutId),
    /// The clip's last frame was sent.
    PlayoutFinished(PlayoutId),
    /// The clip was dropped by [`MediaSession::cancel_playout`], before or
    /// during playback.
    PlayoutCancelled(PlayoutId),
    /// The caller pressed a key: reported once per key press, from RFC 4733
    /// telephone-events when negotiated, else from in-band tones.
    Dtmf {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How long the key was held, as reported by the sender (RFC 4733)
        /// or measured (in-band, a multiple of 20 ms).
        duration_ms: u32,
    },
    /// No RTP arrived for the configured media timeout
    /// ([`SessionOptions::media_timeout`]). Emitted once.
    RtpTimeout,
}

/// Why a clip was not queued. The caller's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PlayoutError {
    /// [`PLAYOUT_QUEUE_CAPACITY`] clips are already queued; wait for a
    /// [`MediaEvent::PlayoutFinished`] or cancel.
    #[error("caller queued {id} while {PLAYOUT_QUEUE_CAPACITY} clips were already waiting")]
    QueueFull {
        /// The refused clip.
        id: PlayoutId,
    },
}

/// Parameters of the sending side of one RTP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Codec used to encode outgoing audio.
    pub codec: Codec,
    /// Payload type of outgoing packets, and of incoming audio.
    pub payload_type: u8,
    /// Payload type of RFC 4733 `telephone-event` packets in both
    /// directions, if negotiated. When `None`, DTMF is detected in and
    /// sent as in-band tones.
    pub telephone_event_pt: Option<u8>,
    /// Our synchronisation source; should be random (RFC 3550 §8.1).
    pub ssrc: u32,
    /// First sequence number; should be random (RFC 3550 §5.1).
    pub initial_sequence: u16,
    /// First timestamp; should be random (RFC 3550 §5.1).
    pub initial_timestamp: u32,
}

impl SessionConfig {
    /// Configuration for a negotiated stream, with caller-supplied random
    /// values.
    pub fn from_negotiated(
        negotiated: &Negotiated,
        ssrc: u32,
        initial_sequence: u16,
        initial_timestamp: u32,
    ) -> Self {
        Self {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event_pt: negotiated.telephone_event,
            ssrc,
            initial_sequence,
            initial_timestamp,
        }
    }
}

/// Optional behaviour of a [`MediaSession`], for
/// [`MediaSession::with_options`]. (Separate from [`SessionConfig`] so
/// that code building a `SessionConfig` literal keeps compiling.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Emit [`MediaEvent::RtpTimeout`] when no RTP arrived for this long
    /// (counted from the session's creation, which is the answer, or from
    /// the latest packet). `None`: never.
    pub media_timeout: Option<Duration>,
    /// Time between RTCP reports from [`MediaSession::poll_rtcp`]; the
    /// first is due one interval after creation.
    pub rtcp_interval: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            media_timeout: None,
            rtcp_interval: DEFAULT_RTCP_INTERVAL,
        }
    }
}

impl SessionOptions {
    /// These options with a media timeout.
    pub fn with_media_timeout(self, timeout: Duration) -> Self {
        Self {
            media_timeout: Some(timeout),
            ..self
        }
    }

    /// These options with another RTCP interval.
    pub fn with_rtcp_interval(self, interval: Duration) -> Self {
        Self {
            rtcp_interval: interval,
            ..self
        }
    }
}

/// Counters of a [`MediaSession`]. Byte counts are payload octets, without
/// header and padding, as in RTCP sender reports (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStatistics {
    /// RTP packets built by [`MediaSession::handle_timeout`] (and relayed
    /// by a [`Bridge`](crate::bridge::Bridge)).
    pub packets_sent: u64,
    /// Payload bytes of those packets.
    pub payload_bytes_sent: u64,
    /// When the first packet was built.
    pub first_sent_at: Option<Instant>,
    /// When the latest packet was built.
    pub last_sent_at: Option<Instant>,
    /// Ticks skipped because the caller was more than
    /// [`MAXIMUM_CATCH_UP_TICKS`] late.
    pub skipped_ticks: u64,
    /// Received packets carrying the negotiated audio payload type.
    pub packets_received: u64,
    /// Payload bytes of those packets.
    pub payload_bytes_received: u64,
    /// Received packets carrying the telephone-event payload type.
    pub telephone_event_packets_received: u64,
    /// Received valid RTP packets with any other payload type (ignored).
    pub unexpected_payload_type_packets: u64,
    /// Received datagrams that were not valid RTP.
    pub malformed_packets: u64,
    /// When the first audio or telephone-event packet arrived.
    pub first_received_at: Option<Instant>,
    /// When the latest audio or telephone-event packet arrived.
    pub last_received_at: Option<Instant>,
}

/// Reception quality and RTCP counters, from [`MediaSession::quality`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QualityStatistics {
    /// SSRC of the audio source being received.
    pub remote_ssrc: Option<u32>,
    /// Packets expected from it (RFC 3550 §A.3).
    pub packets_expected: u64,
    /// Packets lost so far (RFC 3550 §A.3; negative with duplicates).
    pub packets_lost: i64,
    /// Fraction lost over the last report interval, out of 256.
    pub fraction_lost: u8,
    /// Our interarrival jitter estimate (RFC 3550 §6.4.1).
    pub jitter: Duration,
    /// Fraction lost the peer reported about our stream, out of 256.
    pub remote_fraction_lost: Option<u8>,
    /// Cumulative loss the peer reported about our stream.
    pub remote_packets_lost: Option<i32>,
    /// Jitter the peer reported about our stream.
    pub remote_jitter: Option<Duration>,
    /// Round-trip time from the peer's report blocks (RFC 3550 §6.4.1),
    /// once it has echoed one of our sender reports.
    pub round_trip_time: Option<Duration>,
    /// RTCP compound packets built by [`MediaSession::poll_rtcp`].
    pub rtcp_packets_sent: u64,
    /// Valid RTCP datagrams handled.
    pub rtcp_packets_received: u64,
    /// RTCP datagrams rejected as malformed.
    pub rtcp_malformed_packets: u64,
}

/// Channel layout of the recording tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordingChannels {
    /// One channel: both directions mixed (summed, saturating).
    #[default]
    Mono,
    /// Two interleaved channels: the caller's audio (received) first/left,
    /// ours (sent) second/right.
    Stereo,
}

impl RecordingChannels {
    /// Number of channels.
    pub const fn count(self) -> usize {
        match self {
            Self::Mono => 1,
            Self::Stereo => 2,
        }
    }
}

/// 20 ms of recorded audio, 8 kHz, from [`MediaSession::poll_recorded_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFrame<'session> {
    /// Layout of `samples`.
    pub channels: RecordingChannels,
    /// 160 samples (mono) or 160 interleaved pairs (stereo).
    pub samples: &'session [i16],
    /// The tick this frame belongs to.
    pub recorded_at: Instant,
}

/// 20 ms of decoded received audio, 8 kHz, from
/// [`MediaSession::poll_received_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedFrame<'session> {
    /// The samples.
    pub samples: &'session [i16; SAMPLES_PER_FRAME],
    /// Received audio, concealment or silence.
    pub kind: ReceivedFrameKind,
    /// The playout tick this frame belongs to.
    pub played_at: Instant,
}

/// Where the sender is relative to talkspurts (RFC 3551 §4.1), deciding
/// the marker bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Talkspurt {
    /// Nothing sent yet: the next packet is marked.
    NotStarted,
    /// The last packet was silence: the next audio packet is marked.
    Idle,
    /// The last packet was audio.
    Talking,
    /// Ticks were skipped, leaving a gap in the stream: the next packet is
    /// marked.
    Interrupted,
}

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameContent {
    Audio,
    Silence,
}

/// How far a queued clip has been played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClipProgress {
    /// No frame sent yet.
    Queued,
    /// Samples before `position` have been sent.
    Playing { position: usize },
}

#[derive(Debug)]
struct Clip {
    id: PlayoutId,
    samples: Arc<[i16]>,
    progress: ClipProgress,
}

/// State of the media-inactivity timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InactivityTimer {
    Disabled,
    Armed { timeout: Duration },
    Fired,
}

/// How a [`Bridge`](crate::bridge::Bridge) uses this session's send path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attachment {
    /// Not bridged: ticks send our own audio or silence.
    Alone,
    /// Packets of the other leg are relayed; ticks send only our own
    /// clips or DTMF. `segment` maps the other leg's numbering to ours.
    Relay { segment: Option<RelaySegment> },
    /// Ticks send the other leg's decoded frames, re-encoded.
    Transcode,
}

/// Offsets from a relayed source's sequence and timestamp space to ours,
/// fixed from the first packet relayed after our own media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RelaySegment {
    source_ssrc: u32,
    sequence_offset: u16,
    timestamp_offset: u32,
    first_sequence: u16,
}

/// Tag of a received frame in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReceivedTag {
    kind: ReceivedFrameKind,
    tick: u64,
}

impl Default for ReceivedTag {
    fn default() -> Self {
        Self {
            kind: ReceivedFrameKind::Silence,
            tick: 0,
        }
    }
}

/// Tag of a recorded frame in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct RecordedTag {
    channels: RecordingChannels,
    tick: u64,
}

/// What the peer last told us in RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct RemoteRtcp {
    /// Middle of the NTP timestamp of its last SR, and when it arrived.
    last_sender_report: Option<(u32, Instant)>,
    /// Its last report block about us.
    report: Option<ReportBlock>,
    round_trip_time: Option<Duration>,
}

/// One RTP leg as a sans-IO state machine: the paced send side, the
/// receive side (jitter buffer, DTMF), RTCP and the recording tap.
///
/// # Sending
///
/// Packets are sent on an absolute 20 ms schedule: tick `n` is due at
/// `start + n × 20 ms`, so lateness never accumulates as drift. Tick `n`
/// carries RTP timestamp `initial_timestamp + 160 n`; sequence numbers
/// increase by one per packet actually sent.
///
/// Each tick sends, in order of precedence: the current DTMF digit
/// ([`send_dtmf`](Self::send_dtmf): RFC 4733 packets, or in-band tones
/// when no telephone-event was negotiated; queued clips pause meanwhile),
/// the next frame of the first queued clip, bridged audio (see
/// [`Bridge`](crate::bridge::Bridge)), or encoded silence. Sending
/// silence rather than nothing keeps NAT bindings and the peer's jitter
/// buffer alive and lets receivers detect a dead leg by absence of
/// packets.
///
/// If the caller is more than [`MAXIMUM_CATCH_UP_TICKS`] ticks late, the
/// missed ticks are skipped rather than sent in a burst: the schedule and
/// the RTP timestamp jump to the current tick, the sequence number does
/// not (there is no loss, just a gap in time), the next packet carries
/// the marker bit, and queued audio is not consumed by the skipped ticks
/// (the clip resumes where it stopped).
///
/// # Receiving
///
/// [`handle_rtp`](Self::handle_rtp) counts packets, reports RFC 4733
/// telephone-events as [`MediaEvent::Dtmf`] and stores audio in a
/// [`JitterBuffer`]. On every tick (whether reached through
/// [`handle_timeout`](Self::handle_timeout) or
/// [`poll_received_frame`](Self::poll_received_frame)) one 20 ms frame is
/// pulled from it: it is scanned for in-band DTMF when no
/// telephone-event was negotiated, fed to the recording tap, and kept for
/// [`poll_received_frame`](Self::poll_received_frame) (the last
/// [`RECEIVED_FRAME_CAPACITY`] frames; callers that do not need them may
/// ignore them).
pub struct MediaSession {
    config: SessionConfig,
    options: SessionOptions,
    start: Instant,
    next_tick: u64,
    next_sequence: u16,
    talkspurt: Talkspurt,
    playout: VecDeque<Clip>,
    events: VecDeque<MediaEvent>,
    statistics: SessionStatistics,
    encoder: FrameEncoder,
    dtmf_sender: DtmfSender,
    telephone_events: TelephoneEventReceiver,
    in_band_detector: Option<DtmfDetector>,
    jitter_buffer: JitterBuffer,
    next_receive_tick: u64,
    received: FrameRing<SAMPLES_PER_FRAME, ReceivedTag>,
    latest_received: [i16; SAMPLES_PER_FRAME],
    latest_received_tick: Option<u64>,
    reception: rtcp::ReceptionStatistics,
    next_rtcp_at: Instant,
    ntp_reference: Option<(Instant, u64)>,
    remote_rtcp: RemoteRtcp,
    quality: QualityStatistics,
    inactivity: InactivityTimer,
    recording: Option<RecordingChannels>,
    recorded: FrameRing<{ 2 * SAMPLES_PER_FRAME }, RecordedTag>,
    attachment: Attachment,
    bridged: FrameRing<SAMPLES_PER_FRAME, ()>,
}

impl fmt::Debug for MediaSession {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("MediaSession")
            .field("config", &self.config)
            .field("options", &self.options)
            .field("next_tick", &self.next_tick)
            .field("queued_clips", &self.playout.len())
            .field("queued_digits", &self.dtmf_sender.queued())
            .field("statistics", &self.statistics)
            .field("quality", &self.quality)
            .field("jitter_buffer", &self.jitter_buffer)
            .field("recording", &self.recording)
            .field("attachment", &self.attachment)
            .finish_non_exhaustive()
    }
}

impl MediaSession {
    /// Creates a session whose first tick is due at `now`, with default
    /// [`SessionOptions`].
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self::with_options(config, SessionOptions::default(), now)
    }

    /// Creates a session whose first tick is due at `now`. Allocates all
    /// its buffers here; the per-packet paths then allocate nothing.
    pub fn with_options(config: SessionConfig, options: SessionOptions, now: Instant) -> Self {
        let in_band = config.telephone_event_pt.is_none();
        Self {
            config,
            options,
            start: now,
            next_tick: 0,
            next_sequence: config.initial_sequence,
            talkspurt: Talkspurt::NotStarted,
            playout: VecDeque::with_capacity(PLAYOUT_QUEUE_CAPACITY),
            // Each clip yields at most two events; room for a full queue
            // twice over avoids reallocation in normal use.
            events: VecDeque::with_capacity(4 * PLAYOUT_QUEUE_CAPACITY),
            statistics: SessionStatistics::default(),
            encoder: FrameEncoder::new(config.codec),
            dtmf_sender: DtmfSender::new(in_band),
            telephone_events: TelephoneEventReceiver::new(),
            in_band_detector: in_band.then(DtmfDetector::new),
            jitter_buffer: JitterBuffer::new(config.codec),
            next_receive_tick: 0,
            received: FrameRing::new(RECEIVED_FRAME_CAPACITY),
            latest_received: [0; SAMPLES_PER_FRAME],
            latest_received_tick: None,
            reception: rtcp::ReceptionStatistics::default(),
            next_rtcp_at: now + options.rtcp_interval,
            ntp_reference: None,
            remote_rtcp: RemoteRtcp::default(),
            quality: QualityStatistics::default(),
            inactivity: match options.media_timeout {
                Some(timeout) => InactivityTimer::Armed { timeout },
                None => InactivityTimer::Disabled,
            },
            recording: None,
            recorded: FrameRing::new(RECORDED_FRAME_CAPACITY),
            attachment: Attachment::Alone,
            bridged: FrameRing::new(BRIDGED_FRAME_CAPACITY),
        }
    }

    /// The configuration the session was created with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The options the session was created with (and changed since).
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// When [`handle_timeout`] should next be called: the next packet, or
    /// an earlier timer (telephone-event end, media timeout).
    ///
    /// [`handle_timeout`]: Self::handle_timeout
    pub fn poll_timeout(&self) -> Instant {
        let mut deadline = self.tick_instant(self.next_tick);
        if let Some(tone_end) = self.telephone_events.deadline() {
            deadline = deadline.min(tone_end);
        }
        if let Some(inactivity) = self.inactivity_deadline() {
            deadline = deadline.min(inactivity);
        }
        deadline
    }

    /// Builds the next due packet into `buffer` and returns its length, or
    /// returns `None` when no tick is due at `now`. Also runs the timers
    /// (telephone-event end, media timeout), whose events then wait in
    /// [`poll_event`](Self::poll_event).
    ///
    /// Call repeatedly until it returns `None`: a late caller gets one
    /// packet per missed tick, up to [`MAXIMUM_CATCH_UP_TICKS`]; beyond
    /// that the missed ticks are skipped (see [`MediaSession`]). A tick
    /// that has nothing to send (a relaying bridge and no local media)
    /// builds no packet.
    ///
    /// # Panics
    ///
    /// Panics if `buffer` is shorter than [`MAXIMUM_PACKET_SIZE`]; the
    /// buffer comes from the local caller, so this is a programming error.
    pub fn handle_timeout(&mut self, now: Instant, buffer: &mut [u8]) -> Option<usize> {
        assert!(
            buffer.len() >= MAXIMUM_PACKET_SIZE,
            "packet buffer needs {MAXIMUM_PACKET_SIZE} bytes, got {}",
            buffer.len()
        );
        self.run_timers(now);
        loop {
            let current_tick = self.ticks_elapsed(now)?;
            if current_tick < self.next_tick {
                return None;
            }
            let overdue = current_tick - self.next_tick + 1;
            if overdue > MAXIMUM_CATCH_UP_TICKS {
                self.statistics.skipped_ticks += current_tick - self.next_tick;
                self.next_tick = current_tick;
                self.talkspurt = Talkspurt::Interrupted;
            }
            let tick = self.next_tick;
            self.next_tick += 1;
            if let Some(length) = self.process_tick(tick, now, buffer) {
                return Some(length);
            }
        }
    }

    /// Queues a clip of 8 kHz mono PCM to play after those already queued.
    ///
    /// Every accepted clip later produces exactly one
    /// [`MediaEvent::PlayoutFinished`] or [`MediaEvent::PlayoutCancelled`].
    /// A last frame shorter than 20 ms is padded with silence; the next
    /// clip starts on a fresh frame.
    pub fn push_playout(&mut self, id: PlayoutId, samples: Arc<[i16]>) -> Result<(), PlayoutError> {
        if self.playout.len() >= PLAYOUT_QUEUE_CAPACITY {
            return Err(PlayoutError::QueueFull { id });
        }
        self.playout.push_back(Clip {
            id,
            samples,
            progress: ClipProgress::Queued,
        });
        Ok(())
    }

    /// Drops every queued clip, including the one playing, emitting
    /// [`MediaEvent::PlayoutCancelled`] for each in queue order. The next
    /// tick sends silence.
    pub fn cancel_playout(&mut self) {
        for clip in self.playout.drain(..) {
            self.events.push_back(MediaEvent::PlayoutCancelled(clip.id));
        }
    }

    /// Number of clips queued, including the one playing.
    pub fn queued_clips(&self) -> usize {
        self.playout.len()
    }

    /// Queues DTMF digits (`0`–`9`, `*`, `#`, and `A`–`D`), at most
    /// [`DTMF_QUEUE_CAPACITY`](crate::telephone_event::DTMF_QUEUE_CAPACITY)
    /// waiting at once; all or none are queued.
    ///
    /// Each digit is sent on the 20 ms clock as a 100 ms RFC 4733 event
    /// (five packets with growing duration, marker on the first, the end
    /// packet sent three times, all with the event's start timestamp) on
    /// our SSRC and sequence space, followed by 60 ms of silence. When no
    /// telephone-event payload type was negotiated, the digit is sent as
    /// 100 ms of in-band two-tone audio instead. Queued clips pause (are not
    /// consumed) until the last digit is done.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<(), DtmfError> {
        self.dtmf_sender.enqueue(digits)
    }

    /// Digits waiting to be sent, not counting the one being sent.
    pub fn queued_dtmf_digits(&self) -> usize {
        self.dtmf_sender.queued()
    }

    /// Drops the digits not yet started; the digit being sent ends
    /// normally.
    pub fn cancel_dtmf(&mut self) {
        self.dtmf_sender.clear();
    }

    /// The next pending event, oldest first. Drain after every input.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Handles one datagram received on the RTP socket.
    ///
    /// Packets with the negotiated audio payload type are counted and
    /// stored in the jitter buffer; telephone-event packets are decoded
    /// (RFC 4733) and may produce a [`MediaEvent::Dtmf`]; valid packets
    /// with another payload type are counted as unexpected and otherwise
    /// ignored. Invalid datagrams are counted and their [`RtpError`]
    /// returned.
    pub fn handle_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), RtpError> {
        let parsed = rtp::parse(packet).inspect_err(|_| self.statistics.malformed_packets += 1)?;
        let header = parsed.header;
        let arrival = arrival_units(self.start, now);
        if header.payload_type == self.config.payload_type {
            self.statistics.packets_received += 1;
            self.statistics.payload_bytes_received += parsed.payload.len() as u64;
            self.reception.update(
                header.ssrc,
                header.sequence,
                Some((header.timestamp, arrival)),
            );
            self.jitter_buffer.insert(
                now,
                header.ssrc,
                header.sequence,
                header.timestamp,
                parsed.payload,
            );
        } else if Some(header.payload_type) == self.config.telephone_event_pt {
            self.statistics.telephone_event_packets_received += 1;
            // Telephone-events share the audio stream's sequence space when
            // they come from the same source; their timestamp is the
            // event's start, so they do not feed the jitter estimate.
            if self.reception.source() == Some(header.ssrc) {
                self.reception.update(header.ssrc, header.sequence, None);
            }
            if let Ok(event) = telephone_event::parse(parsed.payload) {
                let presses =
                    self.telephone_events
                        .handle_packet(now, header.ssrc, header.timestamp, &event);
                for press in presses.into_iter().flatten() {
                    self.report_key(press);
                }
            }
        } else {
            self.statistics.unexpected_payload_type_packets += 1;
            return Ok(());
        }
        self.statistics.first_received_at.get_or_insert(now);
        self.statistics.last_received_at = Some(now);
        Ok(())
    }

    /// A copy of the counters.
    pub fn stats(&self) -> SessionStatistics {
        self.statistics
    }

    /// The jitter buffer's counters.
    pub fn jitter_statistics(&self) -> JitterStatistics {
        self.jitter_buffer.statistics()
    }

    /// Reception quality: loss and jitter as we measure them and as the
    /// peer reports them, and the round-trip time.
    pub fn quality(&self) -> QualityStatistics {
        let mut quality = self.quality;
        quality.remote_ssrc = self.reception.source();
        quality.packets_expected = self.reception.expected();
        quality.packets_lost = self.reception.cumulative_lost();
        quality.fraction_lost = self.reception.fraction_lost();
        quality.jitter = units_to_duration(u64::from(self.reception.jitter.units()));
        if let Some(report) = self.remote_rtcp.report {
            quality.remote_fraction_lost = Some(report.fraction_lost);
            quality.remote_packets_lost = Some(report.cumulative_lost);
            quality.remote_jitter = Some(units_to_duration(u64::from(report.jitter)));
        }
        quality.round_trip_time = self.remote_rtcp.round_trip_time;
        quality
    }

    /// Changes the media timeout; `Some` re-arms it even if it fired.
    pub fn set_media_timeout(&mut self, timeout: Option<Duration>) {
        self.options.media_timeout = timeout;
        self.inactivity = match timeout {
            Some(timeout) => InactivityTimer::Armed { timeout },
            None => InactivityTimer::Disabled,
        };
    }

    /// The oldest decoded 20 ms frame of received audio not yet taken,
    /// processing the receive ticks due at `now` first.
    ///
    /// Frames come out on the playout clock, one per 20 ms tick, from the
    /// jitter buffer (reordered, concealed, delay-adapted); the
    /// [`RECEIVED_FRAME_CAPACITY`] newest are kept. For G.722 the audio has
    /// been decimated to 8 kHz.
    pub fn poll_received_frame(&mut self, now: Instant) -> Option<ReceivedFrame<'_>> {
        if let Some(tick) = self.ticks_elapsed(now) {
            self.advance_receive(tick);
        }
        let start = self.start;
        let (samples, tag) = self.received.pop()?;
        Some(ReceivedFrame {
            samples,
            kind: tag.kind,
            played_at: instant_of_tick(start, tag.tick),
        })
    }

    /// Turns the recording tap on (with the given layout) or off. While
    /// on, every tick records 20 ms: the received frame and the audio we
    /// sent (clips, in-band tones, bridged audio; silence during
    /// telephone-events), 8 kHz, for
    /// [`poll_recorded_frame`](Self::poll_recorded_frame).
    pub fn set_recording(&mut self, channels: Option<RecordingChannels>) {
        self.recording = channels;
        if channels.is_none() {
            self.recorded.clear();
        }
    }

    /// The oldest recorded frame not yet taken; the
    /// [`RECORDED_FRAME_CAPACITY`] newest are kept. Drain after
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn poll_recorded_frame(&mut self) -> Option<RecordedFrame<'_>> {
        let start = self.start;
        let (samples, tag) = self.recorded.pop()?;
        let length = SAMPLES_PER_FRAME * tag.channels.count();
        Some(RecordedFrame {
            channels: tag.channels,
            samples: &samples[..length],
            recorded_at: instant_of_tick(start, tag.tick),
        })
    }

    /// Builds an RTCP compound packet (SR when we have sent RTP, else RR;
    /// then SDES CNAME) into `buffer` when a report is due at `now`, and
    /// returns its length (RFC 3550 §6.1, §6.4). `ntp` is the wallclock
    /// at `now` in NTP format, read by the caller (the core reads no
    /// clock); it also anchors round-trip-time measurement.
    ///
    /// Reports are due every [`SessionOptions::rtcp_interval`]; call this
    /// whenever [`handle_timeout`](Self::handle_timeout) runs.
    ///
    /// # Panics
    ///
    /// Panics if `buffer` is shorter than [`MAXIMUM_RTCP_PACKET_SIZE`].
    pub fn poll_rtcp(&mut self, now: Instant, ntp: u64, buffer: &mut [u8]) -> Option<usize> {
        assert!(
            buffer.len() >= MAXIMUM_RTCP_PACKET_SIZE,
            "RTCP buffer needs {MAXIMUM_RTCP_PACKET_SIZE} bytes, got {}",
            buffer.len()
        );
        self.ntp_reference = Some((now, ntp));
        if now < self.next_rtcp_at {
            return None;
        }
        self.next_rtcp_at += self.options.rtcp_interval;
        if self.next_rtcp_at <= now {
            self.next_rtcp_at = now + self.options.rtcp_interval;
        }
        Some(self.write_report(now, ntp, buffer))
    }

    /// Builds a final RTCP compound packet ending with BYE (RFC 3550 §6.6)
    /// into `buffer`, for when the call ends; returns its length.
    ///
    /// # Panics
    ///
    /// Panics if `buffer` is shorter than [`MAXIMUM_RTCP_PACKET_SIZE`].
    pub fn write_rtcp_goodbye(&mut self, now: Instant, ntp: u64, buffer: &mut [u8]) -> usize {
        assert!(
            buffer.len() >= MAXIMUM_RTCP_PACKET_SIZE,
            "RTCP buffer needs {MAXIMUM_RTCP_PACKET_SIZE} bytes, got {}",
            buffer.len()
        );
        self.ntp_reference = Some((now, ntp));
        let length = self.write_report(now, ntp, buffer);
        length + rtcp::write_goodbye(&mut buffer[length..], self.config.ssrc)
    }

    /// Handles one datagram received on the RTCP socket: remembers the
    /// peer's sender reports (for LSR/DLSR) and its report blocks about
    /// our stream (loss, jitter, round-trip time). SDES, BYE and other
    /// packet types are accepted and ignored. Packets before a malformed
    /// one in a compound are still used.
    pub fn handle_rtcp(&mut self, now: Instant, packet: &[u8]) -> Result<(), RtcpError> {
        if packet.is_empty() {
            self.quality.rtcp_malformed_packets += 1;
            return Err(RtcpError::TooShort { length: 0 });
        }
        for item in rtcp::parse_compound(packet) {
            let item = item.inspect_err(|_| self.quality.rtcp_malformed_packets += 1)?;
            match item {
                RtcpPacket::SenderReport { sender, blocks, .. } => {
                    self.remote_rtcp.last_sender_report =
                        Some((rtcp::ntp_middle(sender.ntp_timestamp), now));
                    for block in blocks {
                        self.apply_report_block(now, &block);
                    }
                }
                RtcpPacket::ReceiverReport { blocks, .. } => {
                    for block in blocks {
                        self.apply_report_block(now, &block);
                    }
                }
                RtcpPacket::SourceDescription { .. }
                | RtcpPacket::Goodbye { .. }
                | RtcpPacket::Other { .. } => {}
            }
        }
        self.quality.rtcp_packets_received += 1;
        Ok(())
    }

    fn apply_report_block(&mut self, now: Instant, block: &ReportBlock) {
        if block.ssrc != self.config.ssrc {
            return;
        }
        self.remote_rtcp.report = Some(*block);
        // RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s, where A is
        // the arrival time in the same middle-32-bit NTP format.
        if block.last_sender_report == 0 {
            return;
        }
        let Some((reference, reference_ntp)) = self.ntp_reference else {
            return;
        };
        let arrival_ntp = if now >= reference {
            reference_ntp.wrapping_add(duration_to_ntp(now - reference))
        } else {
            reference_ntp.wrapping_sub(duration_to_ntp(reference - now))
        };
        let round_trip = rtcp::ntp_middle(arrival_ntp)
            .wrapping_sub(block.last_sender_report)
            .wrapping_sub(block.delay_since_last_sender_report);
        // A "negative" result means clocks or reports are inconsistent.
        if round_trip < 1 << 31 {
            let microseconds = u64::from(round_trip) * 1_000_000 / 65536;
            self.remote_rtcp.round_trip_time = Some(Duration::from_micros(microseconds));
        }
    }

    fn write_report(&mut self, now: Instant, ntp: u64, buffer: &mut [u8]) -> usize {
        let (last_sender_report, delay) = match self.remote_rtcp.last_sender_report {
            Some((middle, arrived)) => {
                let waited = now.saturating_duration_since(arrived);
                (middle, rtcp::ntp_middle(duration_to_ntp(waited)))
            }
            None => (0, 0),
        };
        let block = self.reception.report_block(last_sender_report, delay);
        let blocks = block.as_slice();
        let mut length = if self.statistics.packets_sent > 0 {
            let elapsed = arrival_units(self.start, now);
            let sender = SenderInfo {
                ntp_timestamp: ntp,
                rtp_timestamp: self.config.initial_timestamp.wrapping_add(elapsed),
                packet_count: self.statistics.packets_sent as u32,
                octet_count: self.statistics.payload_bytes_sent as u32,
            };
            rtcp::write_sender_report(buffer, self.config.ssrc, &sender, blocks)
        } else {
            rtcp::write_receiver_report(buffer, self.config.ssrc, blocks)
        };
        length += rtcp::write_source_description(
            &mut buffer[length..],
            self.config.ssrc,
            &canonical_name(self.config.ssrc),
        );
        self.quality.rtcp_packets_sent += 1;
        length
    }

    fn report_key(&mut self, press: KeyPress) {
        self.events.push_back(MediaEvent::Dtmf {
            digit: press.digit,
            duration_ms: press.duration_ms,
        });
    }

    fn inactivity_deadline(&self) -> Option<Instant> {
        match self.inactivity {
            InactivityTimer::Armed { timeout } => {
                let since = self.statistics.last_received_at.unwrap_or(self.start);
                Some(since.max(self.start) + timeout)
            }
            InactivityTimer::Disabled | InactivityTimer::Fired => None,
        }
    }

    fn run_timers(&mut self, now: Instant) {
        if let Some(press) = self.telephone_events.handle_timeout(now) {
            self.report_key(press);
        }
        if self
            .inactivity_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            self.inactivity = InactivityTimer::Fired;
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    fn tick_instant(&self, tick: u64) -> Instant {
        instant_of_tick(self.start, tick)
    }

    /// Index of the latest tick due at `now`, or `None` before the start.
    fn ticks_elapsed(&self, now: Instant) -> Option<u64> {
        let elapsed = now.checked_duration_since(self.start)?;
        let ticks = elapsed.as_nanos() / FRAME_DURATION.as_nanos();
        Some(u64::try_from(ticks).unwrap_or(u64::MAX))
    }

    /// Pulls received frames from the jitter buffer for every receive tick
    /// up to `tick`, skipping ahead like the send side when far behind.
    fn advance_receive(&mut self, tick: u64) {
        if tick < self.next_receive_tick {
            return;
        }
        let overdue = tick - self.next_receive_tick + 1;
        if overdue > MAXIMUM_CATCH_UP_TICKS {
            self.jitter_buffer.skip(tick - self.next_receive_tick);
            self.next_receive_tick = tick;
        }
        while self.next_receive_tick <= tick {
            let receive_tick = self.next_receive_tick;
            self.next_receive_tick += 1;
            let mut samples = [0i16; SAMPLES_PER_FRAME];
            let kind = self.jitter_buffer.pull(&mut samples);
            if let Some(detector) = &mut self.in_band_detector {
                let events = &mut self.events;
                detector.process(&samples, |found| {
                    events.push_back(MediaEvent::Dtmf {
                        digit: found.digit,
                        duration_ms: found.duration_ms,
                    });
                });
            }
            *self.received.push(ReceivedTag {
                kind,
                tick: receive_tick,
            }) = samples;
            self.latest_received = samples;
            self.latest_received_tick = Some(receive_tick);
        }
    }

    /// Everything one tick does: receive side, then the packet to send,
    /// then the recording tap.
    fn process_tick(&mut self, tick: u64, now: Instant, buffer: &mut [u8]) -> Option<usize> {
        self.advance_receive(tick);
        let mut sent = [0i16; SAMPLES_PER_FRAME];
        let bridged = match self.bridged.pop() {
            Some((frame, ())) => {
                sent = *frame;
                true
            }
            None => false,
        };
        let timestamp = self.tick_timestamp(tick);
        let length = match self.dtmf_sender.next_tick(tick) {
            DtmfOutput::Event {
                event,
                marker,
                timestamp_tick,
            } => {
                sent = [0; SAMPLES_PER_FRAME];
                self.leave_relay_segment();
                RtpHeader {
                    payload_type: self.config.telephone_event_pt.unwrap_or_default(),
                    marker,
                    sequence: self.next_sequence,
                    timestamp: self.tick_timestamp(timestamp_tick),
                    ssrc: self.config.ssrc,
                }
                .write_into(buffer);
                event.write_into(&mut buffer[RTP_HEADER_SIZE..]);
                // Audio after the event starts a new talkspurt.
                self.talkspurt = Talkspurt::Idle;
                Some(self.finish_packet(now, TELEPHONE_EVENT_PAYLOAD_SIZE))
            }
            DtmfOutput::Tone { event, tone_tick } => {
                self.leave_relay_segment();
                let digit = event_to_digit(event).unwrap_or_default();
                write_tone_frame(digit, tone_tick, &mut sent);
                Some(self.write_audio(now, timestamp, &sent, FrameContent::Audio, buffer))
            }
            DtmfOutput::Gap => {
                self.leave_relay_segment();
                sent = [0; SAMPLES_PER_FRAME];
                Some(self.write_audio(now, timestamp, &sent, FrameContent::Silence, buffer))
            }
            DtmfOutput::Idle => {
                if self.next_clip_frame(&mut sent) {
                    self.leave_relay_segment();
                    Some(self.write_audio(now, timestamp, &sent, FrameContent::Audio, buffer))
                } else {
                    match self.attachment {
                        // The other leg's packets are relayed as they come.
                        Attachment::Relay { .. } => None,
                        Attachment::Transcode if bridged => Some(self.write_audio(
                            now,
                            timestamp,
                            &sent,
                            FrameContent::Audio,
                            buffer,
                        )),
                        Attachment::Alone | Attachment::Transcode => {
                            sent = [0; SAMPLES_PER_FRAME];
                            Some(self.write_audio(
                                now,
                                timestamp,
                                &sent,
                                FrameContent::Silence,
                                buffer,
                            ))
                        }
                    }
                }
            }
        };
        self.record(tick, &sent);
        length
    }

    /// RFC 3550 §5.1: the timestamp follows the sampling clock, so it is
    /// derived from the tick, not from the packets sent; truncating the
    /// tick to 32 bits is exact modulo 2^32.
    fn tick_timestamp(&self, tick: u64) -> u32 {
        self.config
            .initial_timestamp
            .wrapping_add((tick as u32).wrapping_mul(SAMPLES_PER_FRAME as u32))
    }

    /// Encodes one audio frame as the next packet.
    fn write_audio(
        &mut self,
        now: Instant,
        timestamp: u32,
        samples: &[i16; SAMPLES_PER_FRAME],
        content: FrameContent,
        buffer: &mut [u8],
    ) -> usize {
        // RFC 3551 §4.1: mark the first packet of a talkspurt.
        let marker = match (self.talkspurt, content) {
            (Talkspurt::NotStarted | Talkspurt::Interrupted, _) => true,
            (Talkspurt::Idle, FrameContent::Audio) => true,
            (Talkspurt::Idle | Talkspurt::Talking, FrameContent::Silence) => false,
            (Talkspurt::Talking, FrameContent::Audio) => false,
        };
        self.talkspurt = match content {
            FrameContent::Audio => Talkspurt::Talking,
            FrameContent::Silence => Talkspurt::Idle,
        };
        self.encoder
            .encode_frame(samples, &mut buffer[RTP_HEADER_SIZE..MAXIMUM_PACKET_SIZE]);
        RtpHeader {
            payload_type: self.config.payload_type,
            marker,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.config.ssrc,
        }
        .write_into(buffer);
        self.finish_packet(now, SAMPLES_PER_FRAME)
    }

    /// Counts a packet written with `next_sequence` and advances it.
    fn finish_packet(&mut self, now: Instant, payload_length: usize) -> usize {
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.statistics.packets_sent += 1;
        self.statistics.payload_bytes_sent += payload_length as u64;
        self.statistics.first_sent_at.get_or_insert(now);
        self.statistics.last_sent_at = Some(now);
        RTP_HEADER_SIZE + payload_length
    }

    /// Copies the next frame of queued audio into `samples` (zero-padded),
    /// emitting playout events; `false` when nothing is queued.
    fn next_clip_frame(&mut self, samples: &mut [i16; SAMPLES_PER_FRAME]) -> bool {
        while let Some(clip) = self.playout.front_mut() {
            let position = match clip.progress {
                ClipProgress::Queued => {
                    self.events.push_back(MediaEvent::PlayoutStarted(clip.id));
                    0
                }
                ClipProgress::Playing { position } => position,
            };
            let remaining = clip.samples.get(position..).unwrap_or_default();
            let count = remaining.len().min(SAMPLES_PER_FRAME);
            if count == 0 {
                // Empty clip: nothing to send, move on to the next one.
                self.events.push_back(MediaEvent::PlayoutFinished(clip.id));
                self.playout.pop_front();
                continue;
            }
            samples[..count].copy_from_slice(&remaining[..count]);
            samples[count..].fill(0);
            if count == remaining.len() {
                self.events.push_back(MediaEvent::PlayoutFinished(clip.id));
                self.playout.pop_front();
            } else {
                clip.progress = ClipProgress::Playing {
                    position: position + count,
                };
            }
            return true;
        }
        false
    }

    /// Feeds the recording tap with tick `tick`.
    fn record(&mut self, tick: u64, sent: &[i16; SAMPLES_PER_FRAME]) {
        let Some(channels) = self.recording else {
            return;
        };
        let received = if self.latest_received_tick == Some(tick) {
            self.latest_received
        } else {
            [0; SAMPLES_PER_FRAME]
        };
        let frame = self.recorded.push(RecordedTag { channels, tick });
        match channels {
            RecordingChannels::Mono => {
                for ((output, caller), ours) in frame.iter_mut().zip(received).zip(sent) {
                    *output = caller.saturating_add(*ours);
                }
            }
            RecordingChannels::Stereo => {
                for ((pair, caller), ours) in frame.chunks_exact_mut(2).zip(received).zip(sent) {
                    pair[0] = caller;
                    pair[1] = *ours;
                }
            }
        }
    }

    /// Our own media interrupts relaying: the next relayed packet starts
    /// a new segment (new offsets, marker bit).
    fn leave_relay_segment(&mut self) {
        if let Attachment::Relay { segment } = &mut self.attachment {
            *segment = None;
        }
    }

    /// Joins or leaves a bridge.
    pub(crate) fn set_bridge_mode(&mut self, mode: Option<BridgeMode>) {
        self.attachment = match mode {
            None => Attachment::Alone,
            Some(BridgeMode::Relay) => Attachment::Relay { segment: None },
            Some(BridgeMode::Transcode) => Attachment::Transcode,
        };
        self.bridged.clear();
    }

    /// Queues a decoded frame of the other leg: sent on the next tick in
    /// transcode mode, and in any mode recorded as the audio we sent.
    pub(crate) fn push_bridged_frame(&mut self, samples: &[i16; SAMPLES_PER_FRAME]) {
        *self.bridged.push(()) = *samples;
    }

    /// Relays an audio packet of the other leg (same codec) as ours:
    /// payload unchanged, header rewritten into our SSRC, sequence and
    /// timestamp space (RFC 3550 §7.1 translator behaviour, but with our
    /// SSRC). Returns the packet length in `output`, or `None` when the
    /// packet is not relayed (our own clip or DTMF has the floor, it is
    /// older than the current segment, or `output` is too small).
    pub(crate) fn relay_packet(
        &mut self,
        now: Instant,
        header: &RtpHeader,
        payload: &[u8],
        output: &mut [u8],
    ) -> Option<usize> {
        let Attachment::Relay { segment } = self.attachment else {
            return None;
        };
        if !self.playout.is_empty() || self.dtmf_sender.is_busy() {
            return None;
        }
        let length = RTP_HEADER_SIZE + payload.len();
        if output.len() < length {
            return None;
        }
        let (segment, starts) = match segment {
            Some(segment) if segment.source_ssrc == header.ssrc => (segment, false),
            _ => {
                let clock = self
                    .config
                    .initial_timestamp
                    .wrapping_add(arrival_units(self.start, now));
                let segment = RelaySegment {
                    source_ssrc: header.ssrc,
                    sequence_offset: self.next_sequence.wrapping_sub(header.sequence),
                    timestamp_offset: clock.wrapping_sub(header.timestamp),
                    first_sequence: self.next_sequence,
                };
                (segment, true)
            }
        };
        let sequence = header.sequence.wrapping_add(segment.sequence_offset);
        if (sequence.wrapping_sub(segment.first_sequence) as i16) < 0 {
            return None;
        }
        self.attachment = Attachment::Relay {
            segment: Some(segment),
        };
        RtpHeader {
            payload_type: self.config.payload_type,
            marker: header.marker || starts,
            sequence,
            timestamp: header.timestamp.wrapping_add(segment.timestamp_offset),
            ssrc: self.config.ssrc,
        }
        .write_into(output);
        output[RTP_HEADER_SIZE..length].copy_from_slice(payload);
        let following = sequence.wrapping_add(1);
        if (following.wrapping_sub(self.next_sequence) as i16) > 0 {
            self.next_sequence = following;
        }
        // Our own next packet follows a gap in timing: mark it.
        self.talkspurt = Talkspurt::Interrupted;
        self.statistics.packets_sent += 1;
        self.statistics.payload_bytes_sent += payload.len() as u64;
        self.statistics.first_sent_at.get_or_insert(now);
        self.statistics.last_sent_at = Some(now);
        Some(length)
    }
}

/// When tick `tick` of a session started at `start` is due.
fn instant_of_tick(start: Instant, tick: u64) -> Instant {
    start + Duration::from_millis(FRAME_MILLISECONDS.saturating_mul(tick))
}

/// Converts a duration to 32.32 fixed-point NTP units.
fn duration_to_ntp(duration: Duration) -> u64 {
    let seconds = duration.as_secs() << 32;
    let fraction = (u64::from(duration.subsec_nanos()) << 32) / 1_000_000_000;
    seconds.wrapping_add(fraction)
}

/// Our RTCP CNAME (RFC 3550 §6.5.1): derived from the SSRC, since the
/// core knows no host name; unique per session as the SSRC is random.
fn canonical_name(ssrc: u32) -> [u8; 16] {
    let mut name = *b"warbler-00000000";
    for (index, byte) in name[8..].iter_mut().enumerate() {
        let nibble = (ssrc >> (28 - 4 * index)) & 0xF;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    const SSRC: u32 = 0x1234_5678;

    fn config(codec: Codec, initial_sequence: u16, initial_timestamp: u32) -> SessionConfig {
        SessionConfig {
            codec,
            payload_type: codec.payload_type(),
            telephone_event_pt: Some(101),
            ssrc: SSRC,
            initial_sequence,
            initial_timestamp,
        }
    }

    fn milliseconds(count: u64) -> Duration {
        Duration::from_millis(count)
    }

    /// One packet as seen by a receiver.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Sent {
        header: RtpHeader,
        payload: Vec<u8>,
    }

    /// Collects every packet due at `now`.
    fn drain(session: &mut MediaSession, now: Instant) -> Vec<Sent> {
        let mut buffer = [0u8; 256];
        let mut sent = Vec::new();
        while let Some(length) = session.handle_timeout(now, &mut buffer) {
            let RtpPacket { header, payload } = rtp::parse(&buffer[..length]).expect("valid RTP");
            sent.push(Sent {
                header,
                payload: payload.to_vec(),
            });
        }
        sent
    }

    /// Drives the session the intended way: sleep until poll_timeout,
    /// handle_timeout until None, until `end`.
    fn run_until(session: &mut MediaSession, end: Instant) -> Vec<Sent> {
        let mut sent = Vec::new();
        while session.poll_timeout() <= end {
            let now = session.poll_timeout();
            sent.extend(drain(session, now));
        }
        sent
    }

    fn events(session: &mut MediaSession) -> Vec<MediaEvent> {
        std::iter::from_fn(|| session.poll_event()).collect()
    }

    fn tone(length: usize) -> Arc<[i16]> {
        (0..length)
            .map(|index| if index % 2 == 0 { 8000 } else { -8000 })
            .collect()
    }

    fn is_silence(sent: &Sent, codec: Codec) -> bool {
        sent.payload.iter().all(|byte| *byte == codec.silence())
    }

    #[test]
    fn first_tick_is_due_at_creation() {
        let start = Instant::now();
        let session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        assert_eq!(session.poll_timeout(), start);
    }

    #[test]
    fn pacing_yields_fifty_packets_per_second() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 1000, 5000), start);
        let sent = run_until(&mut session, start + milliseconds(999));
        assert_eq!(sent.len(), 50);
        for (index, packet) in sent.iter().enumerate() {
            assert_eq!(packet.header.sequence, 1000 + index as u16);
            assert_eq!(packet.header.timestamp, 5000 + 160 * index as u32);
            assert_eq!(packet.header.ssrc, SSRC);
            assert_eq!(packet.header.payload_type, 0);
            assert_eq!(packet.payload.len(), SAMPLES_PER_FRAME);
        }
        assert_eq!(session.poll_timeout(), start + milliseconds(1000));
        let statistics = session.stats();
        assert_eq!(statistics.packets_sent, 50);
        assert_eq!(statistics.payload_bytes_sent, 50 * 160);
        assert_eq!(statistics.first_sent_at, Some(start));
        assert_eq!(statistics.last_sent_at, Some(start + milliseconds(980)));
    }

    #[test]
    fn nothing_is_sent_before_the_tick_is_due() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        assert_eq!(drain(&mut session, start).len(), 1);
        assert!(drain(&mut session, start + milliseconds(19)).is_empty());
        assert_eq!(drain(&mut session, start + milliseconds(20)).len(), 1);
    }

    #[test]
    fn late_shell_catches_up_one_packet_per_missed_tick() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        assert_eq!(drain(&mut session, start).len(), 1);
        // The shell oversleeps: wakes 60 ms after the last send instead of 20.
        let late = drain(&mut session, start + milliseconds(60));
        assert_eq!(late.len(), 3);
        let timestamps: Vec<u32> = late.iter().map(|sent| sent.header.timestamp).collect();
        assert_eq!(timestamps, [160, 320, 480]);
        // The schedule did not drift.
        assert_eq!(session.poll_timeout(), start + milliseconds(80));
        assert_eq!(session.stats().skipped_ticks, 0);
    }

    #[test]
    fn very_late_shell_skips_ahead_instead_of_bursting() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 7, 0), start);
        assert_eq!(drain(&mut session, start).len(), 1);
        // 500 ms stall: ticks 1..=25 are due, far more than the catch-up limit.
        let late = drain(&mut session, start + milliseconds(505));
        assert_eq!(late.len(), 1);
        assert_eq!(
            late[0].header.sequence, 8,
            "sequence continues without a gap"
        );
        assert_eq!(late[0].header.timestamp, 25 * 160, "timestamp follows time");
        assert!(late[0].header.marker, "the gap starts a new talkspurt");
        assert_eq!(session.stats().skipped_ticks, 24);
        assert_eq!(session.poll_timeout(), start + milliseconds(520));
    }

    #[test]
    fn catch_up_limit_is_inclusive() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        // Ticks 0..=9 due: exactly the limit, sent as a burst.
        assert_eq!(drain(&mut session, start + milliseconds(180)).len(), 10);
        // Ticks 10..=20 due: one more than the limit, skipped.
        assert_eq!(drain(&mut session, start + milliseconds(400)).len(), 1);
    }

    #[test]
    fn half_second_clip_plays_in_twenty_five_packets_then_silence() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcma, 0, 0), start);
        session
            .push_playout(PlayoutId(1), tone(4000))
            .expect("queue has room");
        let mut audio_packets = 0;
        for tick in 0..30u64 {
            let now = start + milliseconds(20 * tick);
            let sent = drain(&mut session, now);
            assert_eq!(sent.len(), 1);
            let emitted = events(&mut session);
            match tick {
                0 => assert_eq!(emitted, [MediaEvent::PlayoutStarted(PlayoutId(1))]),
                24 => assert_eq!(emitted, [MediaEvent::PlayoutFinished(PlayoutId(1))]),
                _ => assert!(emitted.is_empty(), "tick {tick}: {emitted:?}"),
            }
            if tick < 25 {
                assert!(!is_silence(&sent[0], Codec::Pcma), "tick {tick}");
                assert_eq!(sent[0].payload[0], Codec::Pcma.encode_sample(8000));
                audio_packets += 1;
            } else {
                assert!(is_silence(&sent[0], Codec::Pcma), "tick {tick}");
            }
        }
        assert_eq!(audio_packets, 25);
        assert_eq!(session.queued_clips(), 0);
    }

    #[test]
    fn partial_last_frame_is_padded_with_silence() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        session
            .push_playout(PlayoutId(1), tone(200))
            .expect("queue has room");
        session
            .push_playout(PlayoutId(2), tone(160))
            .expect("queue has room");
        let sent = run_until(&mut session, start + milliseconds(60));
        let audio = Codec::Pcmu.encode_sample(8000);
        assert!(sent[0].payload.iter().step_by(2).all(|byte| *byte == audio));
        assert!(
            sent[1].payload[..40]
                .iter()
                .step_by(2)
                .all(|byte| *byte == audio)
        );
        assert!(sent[1].payload[40..].iter().all(|byte| *byte == 0xFF));
        // The second clip starts on a fresh frame.
        assert_eq!(sent[2].payload[0], audio);
        assert!(is_silence(&sent[3], Codec::Pcmu));
        assert_eq!(
            events(&mut session),
            [
                MediaEvent::PlayoutStarted(PlayoutId(1)),
                MediaEvent::PlayoutFinished(PlayoutId(1)),
                MediaEvent::PlayoutStarted(PlayoutId(2)),
                MediaEvent::PlayoutFinished(PlayoutId(2)),
            ]
        );
    }

    #[test]
    fn empty_clip_starts_and_finishes_without_a_frame() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        session
            .push_playout(PlayoutId(1), Arc::from([]))
            .expect("queue has room");
        session
            .push_playout(PlayoutId(2), tone(160))
            .expect("queue has room");
        let sent = drain(&mut session, start);
        assert!(!is_silence(&sent[0], Codec::Pcmu));
        assert_eq!(
            events(&mut session),
            [
                MediaEvent::PlayoutStarted(PlayoutId(1)),
                MediaEvent::PlayoutFinished(PlayoutId(1)),
                MediaEvent::PlayoutStarted(PlayoutId(2)),
                MediaEvent::PlayoutFinished(PlayoutId(2)),
            ]
        );
    }

    #[test]
    fn cancel_drops_all_queued_audio_immediately() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        session
            .push_playout(PlayoutId(1), tone(8000))
            .expect("queue has room");
        session
            .push_playout(PlayoutId(2), tone(8000))
            .expect("queue has room");
        let sent = run_until(&mut session, start + milliseconds(40));
        assert!(sent.iter().all(|packet| !is_silence(packet, Codec::Pcmu)));
        assert_eq!(
            events(&mut session),
            [MediaEvent::PlayoutStarted(PlayoutId(1))]
        );

        session.cancel_playout();
        assert_eq!(
            events(&mut session),
            [
                MediaEvent::PlayoutCancelled(PlayoutId(1)),
                MediaEvent::PlayoutCancelled(PlayoutId(2)),
            ]
        );
        assert_eq!(session.queued_clips(), 0);
        let next = drain(&mut session, start + milliseconds(60));
        assert!(is_silence(&next[0], Codec::Pcmu));
        assert!(events(&mut session).is_empty());
    }

    #[test]
    fn full_queue_refuses_clips() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        let clip = tone(160);
        for id in 0..PLAYOUT_QUEUE_CAPACITY as u64 {
            session
                .push_playout(PlayoutId(id), Arc::clone(&clip))
                .expect("queue has room");
        }
        assert_eq!(
            session.push_playout(PlayoutId(99), clip),
            Err(PlayoutError::QueueFull { id: PlayoutId(99) })
        );
    }

    #[test]
    fn marker_flags_first_packet_and_each_talkspurt() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        let mut markers = Vec::new();
        let mut record = |session: &mut MediaSession, tick: u64| {
            let sent = drain(session, start + milliseconds(20 * tick));
            markers.push(sent[0].header.marker);
        };
        record(&mut session, 0); // first packet ever (silence)
        record(&mut session, 1); // silence
        session
            .push_playout(PlayoutId(1), tone(320))
            .expect("queue has room");
        record(&mut session, 2); // talkspurt starts
        record(&mut session, 3); // talkspurt continues
        record(&mut session, 4); // silence
        session
            .push_playout(PlayoutId(2), tone(160))
            .expect("queue has room");
        record(&mut session, 5); // new talkspurt
        assert_eq!(markers, [true, false, true, false, false, true]);
    }

    #[test]
    fn first_packet_of_an_immediate_clip_is_marked_once() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        session
            .push_playout(PlayoutId(1), tone(480))
            .expect("queue has room");
        let sent = run_until(&mut session, start + milliseconds(60));
        let markers: Vec<bool> = sent.iter().map(|packet| packet.header.marker).collect();
        assert_eq!(markers, [true, false, false, false]);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 65534, u32::MAX - 159), start);
        let sent = run_until(&mut session, start + milliseconds(60));
        let sequences: Vec<u16> = sent.iter().map(|packet| packet.header.sequence).collect();
        assert_eq!(sequences, [65534, 65535, 0, 1]);
        let timestamps: Vec<u32> = sent.iter().map(|packet| packet.header.timestamp).collect();
        assert_eq!(timestamps, [u32::MAX - 159, 0, 160, 320]);
    }

    #[test]
    fn received_packets_are_counted_by_payload_type() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        let mut packet = [0u8; 12 + 160];
        let mut header = RtpHeader {
            payload_type: 0,
            marker: false,
            sequence: 1,
            timestamp: 0,
            ssrc: 99,
        };
        header.write_into(&mut packet);
        session
            .handle_rtp(start + milliseconds(5), &packet)
            .expect("valid");
        session
            .handle_rtp(start + milliseconds(25), &packet)
            .expect("valid");
        header.payload_type = 101;
        header.write_into(&mut packet);
        session
            .handle_rtp(start + milliseconds(30), &packet[..16])
            .expect("valid");
        header.payload_type = 8;
        header.write_into(&mut packet);
        session
            .handle_rtp(start + milliseconds(35), &packet)
            .expect("valid but ignored");
        assert_eq!(
            session.handle_rtp(start + milliseconds(40), &packet[..5]),
            Err(RtpError::TooShort { length: 5 })
        );

        let statistics = session.stats();
        assert_eq!(statistics.packets_received, 2);
        assert_eq!(statistics.payload_bytes_received, 320);
        assert_eq!(statistics.telephone_event_packets_received, 1);
        assert_eq!(statistics.unexpected_payload_type_packets, 1);
        assert_eq!(statistics.malformed_packets, 1);
        assert_eq!(statistics.first_received_at, Some(start + milliseconds(5)));
        assert_eq!(statistics.last_received_at, Some(start + milliseconds(30)));
        assert_eq!(statistics.packets_sent, 0);
    }

    #[test]
    fn time_before_start_sends_nothing() {
        let start = Instant::now() + milliseconds(100);
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        assert!(drain(&mut session, start - milliseconds(50)).is_empty());
    }

    #[test]
    #[should_panic(expected = "packet buffer needs 172 bytes")]
    fn short_buffer_is_a_programming_error() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, 0, 0), start);
        let mut buffer = [0u8; 100];
        session.handle_timeout(start, &mut buffer);
    }
}
