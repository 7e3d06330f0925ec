//! Adaptive jitter buffer: received audio packets in, 20 ms frames of
//! decoded 8 kHz PCM out on the playout clock.
//!
//! # Model
//!
//! Packets are stored by extended sequence number (RFC 3550 §A.1) in a
//! fixed ring of [`JITTER_BUFFER_SLOTS`] slots, so reordered packets take
//! their place and duplicates are recognised. Playout is driven by RTP
//! timestamps: a cursor (an extended timestamp) advances by 160 units per
//! [`pull`](JitterBuffer::pull), and each pull decodes whatever stored
//! payload covers the next 160 units. Every codec of this crate carries one
//! payload byte per timestamp unit at an RTP clock of 8000 Hz, and the
//! decoder turns each byte into one 8 kHz sample, so packets of any
//! duration (10, 20, 30 ms …) are handled alike.
//!
//! The buffer targets a delay of `20 ms + 3 J` (clamped to 20–200 ms), J
//! being the RFC 3550 §6.4.1 interarrival jitter estimate. On each packet
//! it measures the lead of the packet over the cursor and keeps a smoothed
//! average; every 100 ms of playout it drops 20 ms of audio when the lead
//! is more than 30 ms above the target and inserts 20 ms (concealment)
//! when it is more than 20 ms below. A packet that arrives after its last
//! sample was due is dropped and counted as late.
//!
//! Missing audio is concealed by repeating the last 20 ms of received
//! audio with a gain fading from 1 to 0 over 40 ms; after that, silence.
//! A timestamp jump of more than a second (or eight late packets in a row)
//! resynchronises the cursor to the new stream position.

use std::fmt;
use std::time::{Duration, Instant};

use crate::codec::{Codec, FrameDecoder};

/// Packets the buffer can hold.
pub const JITTER_BUFFER_SLOTS: usize = 64;
/// Largest payload stored: 60 ms at one byte per 8 kHz timestamp unit.
/// Longer packets are dropped.
pub const MAXIMUM_BUFFERED_PAYLOAD: usize = 480;
/// Smallest target delay.
pub const MINIMUM_TARGET_DELAY: Duration = Duration::from_millis(20);
/// Largest target delay.
pub const MAXIMUM_TARGET_DELAY: Duration = Duration::from_millis(200);
/// Target delay before any jitter has been measured.
pub const INITIAL_TARGET_DELAY: Duration = Duration::from_millis(60);
/// Samples (and timestamp units) per pulled frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

const UNITS_PER_MILLISECOND: i64 = 8;
const FRAME_UNITS: i64 = FRAME_SAMPLES as i64;
/// A packet more than this far from the cursor (1 s) restarts playout.
const RESYNCHRONISE_DISTANCE: i64 = 8000;
/// This many late packets in a row restart playout.
const RESYNCHRONISE_LATE_PACKETS: u32 = 8;
/// Pulls between two delay adjustments: 100 ms.
const ADJUSTMENT_INTERVAL: u32 = 5;
/// Fade applied per concealed sample: from 1 to 0 in 40 ms.
const FADE_STEP: f32 = 1.0 / 320.0;

/// What a pulled frame contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceivedFrameKind {
    /// Only received audio.
    Audio,
    /// At least partly concealed (repeated, fading audio).
    Concealed,
    /// Silence: nothing received yet, or concealment has faded out.
    Silence,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertOutcome {
    /// Stored for playout.
    Buffered,
    /// Arrived after its audio was due; dropped.
    Late,
    /// Already stored; dropped.
    Duplicate,
    /// Empty or longer than [`MAXIMUM_BUFFERED_PAYLOAD`]; dropped.
    Unusable,
}

/// Counters of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStatistics {
    /// Packets stored for playout.
    pub packets_buffered: u64,
    /// Packets dropped because they arrived too late.
    pub late_packets: u64,
    /// Packets dropped as duplicates.
    pub duplicate_packets: u64,
    /// Packets dropped because they were empty or too long.
    pub unusable_packets: u64,
    /// Stored packets overwritten before being played (the ring was full).
    pub overwritten_packets: u64,
    /// Times playout restarted after a timestamp jump or a source change.
    pub resynchronisations: u64,
    /// Frames made only of received audio.
    pub frames_played: u64,
    /// Frames that needed concealment.
    pub frames_concealed: u64,
    /// Frames of silence (nothing received yet, or faded out).
    pub frames_silent: u64,
    /// 20 ms steps of audio dropped to shrink the delay.
    pub frames_dropped: u64,
    /// 20 ms steps of concealment inserted to grow the delay.
    pub frames_inserted: u64,
    /// Current target delay.
    pub target_delay: Duration,
    /// RFC 3550 §6.4.1 interarrival jitter estimate.
    pub jitter: Duration,
}

/// RFC 3550 §6.4.1 / §A.8 interarrival jitter, in timestamp units, kept
/// scaled by 16 as in the reference code.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InterarrivalJitter {
    previous_transit: Option<u32>,
    scaled: u32,
}

impl InterarrivalJitter {
    /// Accounts for a packet with RTP timestamp `timestamp` that arrived
    /// at `arrival` (same units, arbitrary origin).
    pub(crate) fn update(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.previous_transit {
            // RFC 3550 §A.8: J += (|D| - J) / 16, in fixed point.
            let difference = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            // Ignore absurd steps (a timestamp jump) rather than poison J.
            if difference < 8000 * 10 {
                self.scaled = self
                    .scaled
                    .wrapping_add(difference)
                    .wrapping_sub((self.scaled + 8) >> 4);
            }
        }
        self.previous_transit = Some(transit);
    }

    /// The estimate in timestamp units (RFC 3550 §6.4.1 report field).
    pub(crate) fn units(&self) -> u32 {
        self.scaled >> 4
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Time since `epoch` in 8 kHz units, modulo 2^32.
pub(crate) fn arrival_units(epoch: Instant, now: Instant) -> u32 {
    let nanoseconds = now.saturating_duration_since(epoch).as_nanos();
    (nanoseconds * 8000 / 1_000_000_000) as u32
}

/// Converts 8 kHz units to a duration.
pub(crate) fn units_to_duration(units: u64) -> Duration {
    Duration::from_micros(units.saturating_mul(125))
}

#[derive(Clone)]
struct Slot {
    occupied: bool,
    extended_sequence: i64,
    extended_timestamp: i64,
    length: usize,
    payload: [u8; MAXIMUM_BUFFERED_PAYLOAD],
}

impl Slot {
    fn empty() -> Self {
        Self {
            occupied: false,
            extended_sequence: 0,
            extended_timestamp: 0,
            length: 0,
            payload: [0; MAXIMUM_BUFFERED_PAYLOAD],
        }
    }

    fn end(&self) -> i64 {
        self.extended_timestamp + self.length as i64
    }
}

/// Where the buffer is relative to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Playout {
    /// Nothing received from the current source yet.
    Waiting,
    /// Playing: `cursor` is the extended timestamp of the next sample;
    /// samples before `first_timestamp` are silence, not loss.
    Playing { cursor: i64, first_timestamp: i64 },
}

/// Adaptive jitter buffer for one received stream. See the module
/// documentation. Allocates its slots once, at creation.
pub struct JitterBuffer {
    slots: Box<[Slot]>,
    decoder: FrameDecoder,
    codec: Codec,
    source: Option<u32>,
    epoch: Option<Instant>,
    highest_sequence: i64,
    highest_timestamp: i64,
    playout: Playout,
    jitter: InterarrivalJitter,
    target: i64,
    smoothed_lead: f32,
    pulls_since_adjustment: u32,
    consecutive_late: u32,
    history: [i16; FRAME_SAMPLES],
    history_write: usize,
    conceal_read: usize,
    fade: f32,
    statistics: JitterStatistics,
}

impl fmt::Debug for JitterBuffer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("JitterBuffer")
            .field("codec", &self.codec)
            .field("source", &self.source)
            .field("playout", &self.playout)
            .field("statistics", &self.statistics)
            .finish_non_exhaustive()
    }
}

impl JitterBuffer {
    /// An empty buffer decoding `codec`.
    pub fn new(codec: Codec) -> Self {
        let initial = INITIAL_TARGET_DELAY.as_millis() as i64 * UNITS_PER_MILLISECOND;
        Self {
            slots: vec![Slot::empty(); JITTER_BUFFER_SLOTS].into_boxed_slice(),
            decoder: FrameDecoder::new(codec),
            codec,
            source: None,
            epoch: None,
            highest_sequence: 0,
            highest_timestamp: 0,
            playout: Playout::Waiting,
            jitter: InterarrivalJitter::default(),
            target: initial,
            smoothed_lead: initial as f32,
            pulls_since_adjustment: 0,
            consecutive_late: 0,
            history: [0; FRAME_SAMPLES],
            history_write: 0,
            conceal_read: 0,
            fade: 0.0,
            statistics: JitterStatistics {
                target_delay: INITIAL_TARGET_DELAY,
                ..JitterStatistics::default()
            },
        }
    }

    /// The counters.
    pub fn statistics(&self) -> JitterStatistics {
        self.statistics
    }

    /// Stores one received audio packet. A packet from a new SSRC
    /// restarts the buffer.
    pub fn insert(
        &mut self,
        now: Instant,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> InsertOutcome {
        if payload.is_empty() || payload.len() > MAXIMUM_BUFFERED_PAYLOAD {
            self.statistics.unusable_packets += 1;
            return InsertOutcome::Unusable;
        }
        let epoch = *self.epoch.get_or_insert(now);
        if self.source != Some(ssrc) {
            self.restart(ssrc, sequence, timestamp);
        }
        // RFC 3550 §A.1: extend to more than 16 (32) bits relative to the
        // highest value seen.
        let extended_sequence = self.highest_sequence
            + i64::from(sequence.wrapping_sub(self.highest_sequence as u16) as i16);
        let extended_timestamp = self.highest_timestamp
            + i64::from(timestamp.wrapping_sub(self.highest_timestamp as u32) as i32);
        self.highest_sequence = self.highest_sequence.max(extended_sequence);
        self.highest_timestamp = self.highest_timestamp.max(extended_timestamp);

        self.jitter.update(arrival_units(epoch, now), timestamp);
        let jitter = i64::from(self.jitter.units());
        self.target = (FRAME_UNITS + 3 * jitter).clamp(
            MINIMUM_TARGET_DELAY.as_millis() as i64 * UNITS_PER_MILLISECOND,
            MAXIMUM_TARGET_DELAY.as_millis() as i64 * UNITS_PER_MILLISECOND,
        );
        self.statistics.jitter = units_to_duration(jitter as u64);
        self.statistics.target_delay = units_to_duration(self.target as u64);

        let cursor = match self.playout {
            Playout::Waiting => {
                let cursor = extended_timestamp - self.target;
                self.playout = Playout::Playing {
                    cursor,
                    first_timestamp: extended_timestamp,
                };
                self.smoothed_lead = self.target as f32;
                cursor
            }
            Playout::Playing { cursor, .. } => cursor,
        };
        let end = extended_timestamp + payload.len() as i64;
        let lead = extended_timestamp - cursor;
        if end <= cursor {
            self.consecutive_late += 1;
            if self.consecutive_late < RESYNCHRONISE_LATE_PACKETS && lead > -RESYNCHRONISE_DISTANCE
            {
                self.statistics.late_packets += 1;
                return InsertOutcome::Late;
            }
            self.resynchronise(extended_timestamp);
        } else if lead > RESYNCHRONISE_DISTANCE {
            self.resynchronise(extended_timestamp);
        }
        self.consecutive_late = 0;

        let index = extended_sequence.rem_euclid(JITTER_BUFFER_SLOTS as i64) as usize;
        let slot = &mut self.slots[index];
        if slot.occupied {
            if slot.extended_sequence == extended_sequence {
                self.statistics.duplicate_packets += 1;
                return InsertOutcome::Duplicate;
            }
            self.statistics.overwritten_packets += 1;
        }
        slot.occupied = true;
        slot.extended_sequence = extended_sequence;
        slot.extended_timestamp = extended_timestamp;
        slot.length = payload.len();
        slot.payload[..payload.len()].copy_from_slice(payload);
        self.statistics.packets_buffered += 1;

        let lead = match self.playout {
            Playout::Playing { cursor, .. } => extended_timestamp - cursor,
            Playout::Waiting => self.target,
        };
        self.smoothed_lead += (lead as f32 - self.smoothed_lead) / 16.0;
        InsertOutcome::Buffered
    }

    /// Produces the next 20 ms frame into `output` and advances the
    /// playout cursor. Call once per 20 ms of the playout clock.
    pub fn pull(&mut self, output: &mut [i16; FRAME_SAMPLES]) -> ReceivedFrameKind {
        let Playout::Playing {
            mut cursor,
            first_timestamp,
        } = self.playout
        else {
            output.fill(0);
            self.statistics.frames_silent += 1;
            return ReceivedFrameKind::Silence;
        };
        cursor = self.adapt(cursor);

        let frame_end = cursor + FRAME_UNITS;
        let mut position = cursor;
        let mut received = 0usize;
        let mut concealed = 0usize;
        while position < frame_end {
            let offset = (position - cursor) as usize;
            if position < first_timestamp {
                // Before the stream's first sample: silence, not loss.
                let until = first_timestamp.min(frame_end);
                output[offset..(until - cursor) as usize].fill(0);
                position = until;
                continue;
            }
            match self.covering_slot(position) {
                Some(index) => {
                    let slot = &self.slots[index];
                    let until = slot.end().min(frame_end);
                    let start = (position - slot.extended_timestamp) as usize;
                    let count = (until - position) as usize;
                    for (code, sample) in slot.payload[start..start + count]
                        .iter()
                        .zip(output[offset..offset + count].iter_mut())
                    {
                        *sample = self.decoder.decode_byte(*code);
                        self.history[self.history_write] = *sample;
                        self.history_write = (self.history_write + 1) % FRAME_SAMPLES;
                    }
                    received += count;
                    self.conceal_read = self.history_write;
                    self.fade = 1.0;
                    if until == slot.end() {
                        self.slots[index].occupied = false;
                    }
                    position = until;
                }
                None => {
                    let until = self
                        .next_start(position)
                        .unwrap_or(frame_end)
                        .min(frame_end);
                    for sample in &mut output[offset..(until - cursor) as usize] {
                        if self.fade > 0.0 {
                            *sample =
                                (f32::from(self.history[self.conceal_read]) * self.fade) as i16;
                            self.conceal_read = (self.conceal_read + 1) % FRAME_SAMPLES;
                            self.fade = (self.fade - FADE_STEP).max(0.0);
                            concealed += 1;
                        } else {
                            *sample = 0;
                        }
                    }
                    position = until;
                }
            }
        }
        self.playout = Playout::Playing {
            cursor: frame_end,
            first_timestamp,
        };
        // Free what can no longer be played.
        for slot in self.slots.iter_mut() {
            if slot.occupied && slot.end() <= frame_end {
                slot.occupied = false;
            }
        }
        if received == FRAME_SAMPLES {
            self.statistics.frames_played += 1;
            ReceivedFrameKind::Audio
        } else if received == 0 && concealed == 0 {
            self.statistics.frames_silent += 1;
            ReceivedFrameKind::Silence
        } else {
            self.statistics.frames_concealed += 1;
            ReceivedFrameKind::Concealed
        }
    }

    /// Skips `frames` frames of playout (the playout clock jumped).
    pub fn skip(&mut self, frames: u64) {
        if let Playout::Playing {
            cursor,
            first_timestamp,
        } = self.playout
        {
            let frames = i64::try_from(frames).unwrap_or(i64::MAX / FRAME_UNITS);
            self.playout = Playout::Playing {
                cursor: cursor.saturating_add(frames.saturating_mul(FRAME_UNITS)),
                first_timestamp,
            };
        }
    }

    /// Moves the cursor by one frame when the smoothed lead is far from
    /// the target (see the module documentation).
    fn adapt(&mut self, cursor: i64) -> i64 {
        self.pulls_since_adjustment += 1;
        if self.pulls_since_adjustment < ADJUSTMENT_INTERVAL {
            return cursor;
        }
        let target = self.target as f32;
        let frame = FRAME_UNITS as f32;
        if self.smoothed_lead > target + 1.5 * frame {
            self.pulls_since_adjustment = 0;
            self.smoothed_lead -= frame;
            self.statistics.frames_dropped += 1;
            cursor + FRAME_UNITS
        } else if self.smoothed_lead < target - frame {
            self.pulls_since_adjustment = 0;
            self.smoothed_lead += frame;
            self.statistics.frames_inserted += 1;
            cursor - FRAME_UNITS
        } else {
            cursor
        }
    }

    fn covering_slot(&self, position: i64) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.occupied && slot.extended_timestamp <= position && position < slot.end()
        })
    }

    fn next_start(&self, position: i64) -> Option<i64> {
        self.slots
            .iter()
            .filter(|slot| slot.occupied && slot.extended_timestamp > position)
            .map(|slot| slot.extended_timestamp)
            .min()
    }

    /// A new source: forget everything about the previous one.
    fn restart(&mut self, ssrc: u32, sequence: u16, timestamp: u32) {
        if self.source.is_some() {
            self.statistics.resynchronisations += 1;
        }
        self.source = Some(ssrc);
        self.highest_sequence = i64::from(sequence);
        self.highest_timestamp = i64::from(timestamp);
        self.playout = Playout::Waiting;
        self.jitter.reset();
        self.consecutive_late = 0;
        self.decoder = FrameDecoder::new(self.codec);
        for slot in self.slots.iter_mut() {
            slot.occupied = false;
        }
    }

    /// The stream jumped: drop what is stored and play from `timestamp`
    /// after the target delay.
    fn resynchronise(&mut self, extended_timestamp: i64) {
        self.statistics.resynchronisations += 1;
        for slot in self.slots.iter_mut() {
            slot.occupied = false;
        }
        self.playout = Playout::Playing {
            cursor: extended_timestamp - self.target,
            first_timestamp: extended_timestamp,
        };
        self.smoothed_lead = self.target as f32;
        self.consecutive_late = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::f32::consts::PI;

    use super::*;

    fn milliseconds(count: u64) -> Duration {
        Duration::from_millis(count)
    }

    /// Payload of packet `index` of a 400 Hz tone, PCMU, 20 ms.
    fn tone_payload(index: u64) -> [u8; 160] {
        let mut payload = [0u8; 160];
        for (offset, code) in payload.iter_mut().enumerate() {
            let sample = (index * 160 + offset as u64) as f32;
            *code = Codec::Pcmu
                .encode_sample((8000.0 * (2.0 * PI * 400.0 * sample / 8000.0).sin()) as i16);
        }
        payload
    }

    /// A deterministic network: every packet's delay and fate.
    struct Network {
        state: u64,
    }

    impl Network {
        fn next(&mut self) -> u64 {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state
        }
    }

    struct Outcome {
        kinds: Vec<ReceivedFrameKind>,
        pull_times: Vec<Instant>,
        statistics: JitterStatistics,
    }

    /// Sends `count` packets every 20 ms through a network with the given
    /// loss percentage and uniform delay spread; pulls every 20 ms.
    fn simulate(count: u64, loss_percent: u64, spread_ms: u64, reorder: bool) -> Outcome {
        let start = Instant::now();
        let mut network = Network {
            state: 0x1234_5678_9ABC_DEF1,
        };
        let mut arrivals: Vec<(Instant, u64)> = Vec::new();
        for index in 0..count {
            if network.next() % 100 < loss_percent {
                continue;
            }
            let mut delay = 40 + network.next() % (2 * spread_ms + 1);
            if reorder && index % 7 == 3 {
                delay += 30; // arrives after its successor
            }
            arrivals.push((start + milliseconds(20 * index + delay), index));
        }
        arrivals.sort();
        let mut buffer = JitterBuffer::new(Codec::Pcmu);
        let mut kinds = Vec::new();
        let mut pull_times = Vec::new();
        let mut next_arrival = 0;
        let mut frame = [0i16; FRAME_SAMPLES];
        for tick in 0..count + 20 {
            let now = start + milliseconds(20 * tick);
            while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= now {
                let (at, index) = arrivals[next_arrival];
                buffer.insert(
                    at,
                    0xABCD,
                    (1000 + index) as u16,
                    (5000 + 160 * index) as u32,
                    &tone_payload(index),
                );
                next_arrival += 1;
            }
            kinds.push(buffer.pull(&mut frame));
            pull_times.push(now);
        }
        Outcome {
            kinds,
            pull_times,
            statistics: buffer.statistics(),
        }
    }

    #[test]
    fn clean_stream_plays_every_frame() {
        let outcome = simulate(500, 0, 0, false);
        let statistics = outcome.statistics;
        assert_eq!(statistics.packets_buffered, 500);
        assert_eq!(statistics.late_packets, 0);
        assert_eq!(statistics.frames_played, 500);
        // Only the end of the stream fades out.
        assert_eq!(statistics.frames_concealed, 2);
    }

    #[test]
    fn loss_reordering_and_jitter_are_absorbed() {
        let outcome = simulate(1500, 10, 30, true);
        let statistics = outcome.statistics;
        // Frames come out every 20 ms, one per pull.
        assert!(
            outcome
                .pull_times
                .windows(2)
                .all(|pair| pair[1] - pair[0] == milliseconds(20))
        );
        assert_eq!(outcome.kinds.len(), 1520);
        // About 10 % of 1500 packets lost: concealed frames, not late ones.
        assert!(
            (100..=200).contains(&statistics.frames_concealed),
            "{statistics:?}"
        );
        assert!(statistics.late_packets < 20, "{statistics:?}");
        // ±30 ms uniform delay: RFC 3550 jitter of about 20 ms, and a
        // target delay that covers it.
        assert!(
            (milliseconds(15)..=milliseconds(35)).contains(&statistics.jitter),
            "{statistics:?}"
        );
        assert!(
            statistics.target_delay >= milliseconds(50),
            "{statistics:?}"
        );
        assert!(statistics.target_delay <= MAXIMUM_TARGET_DELAY);
    }

    #[test]
    fn reordered_packets_play_in_order() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Pcmu);
        let mut frames = Vec::new();
        // Packets 0..6 arrive as 0, 2, 1, 4, 3, 5 within 100 ms.
        for (arrival, index) in [(0u64, 0u64), (5, 2), (6, 1), (30, 4), (31, 3), (50, 5)] {
            buffer.insert(
                start + milliseconds(arrival),
                7,
                index as u16,
                (160 * index) as u32,
                &[index as u8 + 1; 160],
            );
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..10 {
            let kind = buffer.pull(&mut frame);
            if kind == ReceivedFrameKind::Audio {
                frames.push(frame[0]);
            }
        }
        let expected: Vec<i16> = (1..=6u8)
            .map(|code| Codec::Pcmu.decode_sample(code))
            .collect();
        assert_eq!(frames, expected);
    }

    #[test]
    fn duplicates_and_late_packets_are_counted() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Pcma);
        let payload = [0xD5u8; 160];
        assert_eq!(
            buffer.insert(start, 1, 10, 0, &payload),
            InsertOutcome::Buffered
        );
        assert_eq!(
            buffer.insert(start, 1, 10, 0, &payload),
            InsertOutcome::Duplicate
        );
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..10 {
            buffer.pull(&mut frame);
        }
        // Packet 11 (timestamp 160) was due long ago.
        assert_eq!(
            buffer.insert(start + milliseconds(200), 1, 11, 160, &payload),
            InsertOutcome::Late
        );
        assert_eq!(
            buffer.insert(start, 1, 12, 320, &[]),
            InsertOutcome::Unusable
        );
        let statistics = buffer.statistics();
        assert_eq!(statistics.duplicate_packets, 1);
        assert_eq!(statistics.late_packets, 1);
        assert_eq!(statistics.unusable_packets, 1);
    }

    #[test]
    fn concealment_fades_to_silence() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Pcmu);
        for index in 0..5u64 {
            buffer.insert(
                start + milliseconds(20 * index),
                1,
                index as u16,
                (160 * index) as u32,
                &tone_payload(index),
            );
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let kinds: Vec<ReceivedFrameKind> = (0..12).map(|_| buffer.pull(&mut frame)).collect();
        let audio = kinds
            .iter()
            .filter(|kind| **kind == ReceivedFrameKind::Audio)
            .count();
        assert_eq!(audio, 5);
        let first_audio = kinds
            .iter()
            .position(|kind| *kind == ReceivedFrameKind::Audio)
            .expect("audio");
        assert_eq!(
            kinds[first_audio + 5..first_audio + 7],
            [ReceivedFrameKind::Concealed; 2]
        );
        assert_eq!(kinds[first_audio + 7], ReceivedFrameKind::Silence);
        assert!(frame.iter().all(|sample| *sample == 0));
    }

    #[test]
    fn long_packets_and_a_new_source_are_handled() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Pcmu);
        // 30 ms packets (SIPp's g711a.pcap uses them).
        for index in 0..20u64 {
            buffer.insert(
                start + milliseconds(30 * index),
                1,
                index as u16,
                (240 * index) as u32,
                &[0x80; 240],
            );
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let played = (0..25)
            .filter(|_| buffer.pull(&mut frame) == ReceivedFrameKind::Audio)
            .count();
        assert!(played >= 20, "{played}");
        buffer.insert(
            start + milliseconds(600),
            2,
            50_000,
            1_000_000,
            &[0x80; 160],
        );
        assert_eq!(buffer.statistics().resynchronisations, 1);
    }

    #[test]
    fn arbitrary_packets_never_panic() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::G722);
        let mut network = Network { state: 99 };
        let mut frame = [0i16; FRAME_SAMPLES];
        let payload = [0x55u8; MAXIMUM_BUFFERED_PAYLOAD];
        for round in 0..20_000u64 {
            let value = network.next();
            let length = (value >> 40) as usize % (MAXIMUM_BUFFERED_PAYLOAD + 2);
            let length = length.min(MAXIMUM_BUFFERED_PAYLOAD);
            buffer.insert(
                start + milliseconds(round),
                (value >> 62) as u32,
                value as u16,
                (value >> 16) as u32,
                &payload[..length],
            );
            if round % 3 == 0 {
                buffer.pull(&mut frame);
            }
        }
    }
}
