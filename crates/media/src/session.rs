//! One RTP leg: paced sending of queued audio clips (or silence) and
//! receive counters.
//!
//! See the crate documentation for the driving loop.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::codec::Codec;
use crate::rtp::{self, RTP_HEADER_SIZE, RtpError, RtpHeader};
use crate::sdp::Negotiated;

/// Samples per packet: 20 ms at 8 kHz (RFC 3551 §4.5: G.711 default ptime).
pub const SAMPLES_PER_FRAME: usize = 160;

/// Time between two packets.
pub const FRAME_DURATION: Duration = Duration::from_millis(FRAME_MILLISECONDS);

/// Bytes of an outgoing packet: 12-byte header plus one byte per sample.
/// Buffers passed to [`MediaSession::handle_timeout`] must be at least
/// this long.
pub const MAXIMUM_PACKET_SIZE: usize = RTP_HEADER_SIZE + SAMPLES_PER_FRAME;

/// How many clips [`MediaSession::push_playout`] accepts before refusing.
pub const PLAYOUT_QUEUE_CAPACITY: usize = 16;

/// Most ticks [`MediaSession::handle_timeout`] sends back to back when the
/// caller is late; beyond this it skips ahead instead (200 ms).
pub const MAXIMUM_CATCH_UP_TICKS: u64 = 10;

const FRAME_MILLISECONDS: u64 = 20;

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
    /// Payload type of incoming RFC 4733 `telephone-event` packets, if
    /// negotiated.
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

/// Counters of a [`MediaSession`]. Byte counts are payload octets, without
/// header and padding, as in RTCP sender reports (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStatistics {
    /// RTP packets built by [`MediaSession::handle_timeout`].
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

/// The send side of one RTP leg plus receive counters, as a sans-IO state
/// machine.
///
/// Packets are sent on an absolute 20 ms schedule: tick `n` is due at
/// `start + n × 20 ms`, so lateness never accumulates as drift. Tick `n`
/// carries RTP timestamp `initial_timestamp + 160 n`; sequence numbers
/// increase by one per packet actually sent.
///
/// Each tick sends the next frame of the first queued clip, or encoded
/// silence when nothing is queued. Sending silence rather than nothing
/// keeps NAT bindings and the peer's jitter buffer alive and lets
/// receivers detect a dead leg by absence of packets.
///
/// If the caller is more than [`MAXIMUM_CATCH_UP_TICKS`] ticks late, the
/// missed ticks are skipped rather than sent in a burst: the schedule and
/// the RTP timestamp jump to the current tick, the sequence number does
/// not (there is no loss, just a gap in time), the next packet carries
/// the marker bit, and queued audio is not consumed by the skipped ticks
/// (the clip resumes where it stopped).
#[derive(Debug)]
pub struct MediaSession {
    config: SessionConfig,
    start: Instant,
    next_tick: u64,
    next_sequence: u16,
    talkspurt: Talkspurt,
    playout: VecDeque<Clip>,
    events: VecDeque<MediaEvent>,
    statistics: SessionStatistics,
}

impl MediaSession {
    /// Creates a session whose first tick is due at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            config,
            start: now,
            next_tick: 0,
            next_sequence: config.initial_sequence,
            talkspurt: Talkspurt::NotStarted,
            playout: VecDeque::with_capacity(PLAYOUT_QUEUE_CAPACITY),
            // Each clip yields at most two events; room for a full queue
            // twice over avoids reallocation in normal use.
            events: VecDeque::with_capacity(4 * PLAYOUT_QUEUE_CAPACITY),
            statistics: SessionStatistics::default(),
        }
    }

    /// The configuration the session was created with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// When the next packet is due. Call [`handle_timeout`] at or after
    /// this instant.
    ///
    /// [`handle_timeout`]: Self::handle_timeout
    pub fn poll_timeout(&self) -> Instant {
        self.tick_instant(self.next_tick)
    }

    /// Builds the next due packet into `buffer` and returns its length, or
    /// returns `None` when no tick is due at `now`.
    ///
    /// Call repeatedly until it returns `None`: a late caller gets one
    /// packet per missed tick, up to [`MAXIMUM_CATCH_UP_TICKS`]; beyond
    /// that the missed ticks are skipped (see [`MediaSession`]).
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
        Some(self.build_packet(tick, now, buffer))
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

    /// The next pending event, oldest first. Drain after every input.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Accounts for one datagram received on the RTP socket.
    ///
    /// Packets with the negotiated audio or telephone-event payload type
    /// are counted; valid packets with another payload type are counted
    /// as unexpected and otherwise ignored. Invalid datagrams are counted
    /// and their [`RtpError`] returned.
    pub fn handle_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), RtpError> {
        let parsed = rtp::parse(packet).inspect_err(|_| self.statistics.malformed_packets += 1)?;
        let payload_type = parsed.header.payload_type;
        if payload_type == self.config.payload_type {
            self.statistics.packets_received += 1;
            self.statistics.payload_bytes_received += parsed.payload.len() as u64;
        } else if Some(payload_type) == self.config.telephone_event_pt {
            self.statistics.telephone_event_packets_received += 1;
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

    fn tick_instant(&self, tick: u64) -> Instant {
        self.start + Duration::from_millis(FRAME_MILLISECONDS.saturating_mul(tick))
    }

    /// Index of the latest tick due at `now`, or `None` before the start.
    fn ticks_elapsed(&self, now: Instant) -> Option<u64> {
        let elapsed = now.checked_duration_since(self.start)?;
        let ticks = elapsed.as_nanos() / FRAME_DURATION.as_nanos();
        Some(u64::try_from(ticks).unwrap_or(u64::MAX))
    }

    fn build_packet(&mut self, tick: u64, now: Instant, buffer: &mut [u8]) -> usize {
        let content = self.fill_frame(&mut buffer[RTP_HEADER_SIZE..MAXIMUM_PACKET_SIZE]);
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
        // RFC 3550 §5.1: the timestamp follows the sampling clock, so it is
        // derived from the tick, not from the packets sent; truncating the
        // tick to 32 bits is exact modulo 2^32.
        let timestamp = self
            .config
            .initial_timestamp
            .wrapping_add((tick as u32).wrapping_mul(SAMPLES_PER_FRAME as u32));
        RtpHeader {
            payload_type: self.config.payload_type,
            marker,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.config.ssrc,
        }
        .write_into(buffer);
        self.next_sequence = self.next_sequence.wrapping_add(1);

        self.statistics.packets_sent += 1;
        self.statistics.payload_bytes_sent += SAMPLES_PER_FRAME as u64;
        self.statistics.first_sent_at.get_or_insert(now);
        self.statistics.last_sent_at = Some(now);
        MAXIMUM_PACKET_SIZE
    }

    /// Encodes the next frame of queued audio, or silence, into `payload`
    /// (exactly [`SAMPLES_PER_FRAME`] bytes), emitting playout events.
    fn fill_frame(&mut self, payload: &mut [u8]) -> FrameContent {
        let codec = self.config.codec;
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
            codec.encode_into(&remaining[..count], payload);
            payload[count..].fill(codec.silence());
            if count == remaining.len() {
                self.events.push_back(MediaEvent::PlayoutFinished(clip.id));
                self.playout.pop_front();
            } else {
                clip.progress = ClipProgress::Playing {
                    position: position + count,
                };
            }
            return FrameContent::Audio;
        }
        payload.fill(codec.silence());
        FrameContent::Silence
    }
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
