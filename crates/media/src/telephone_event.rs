//! RFC 4733 telephone-events (DTMF over RTP): payload format, a receiver
//! that reports each key press exactly once, and a sender that turns
//! queued digits into event packets on the session's 20 ms clock.
//!
//! # Receiving
//!
//! An event is identified by its RTP timestamp and SSRC (RFC 4733 §2.5.2):
//! every packet of one key press (start, updates, the three end packets)
//! carries the same timestamp. The receiver reports the digit when the
//! first end packet arrives, or — when every end packet was lost — when a
//! packet with another timestamp arrives or no packet arrived for
//! [`TONE_END_TIMEOUT`]. Events already reported are remembered, so their
//! retransmitted end packets and late duplicates are ignored.
//!
//! This copes with the peers described in `shared/peers/README.md` §1.2:
//! Debian's `dtmf_2833_N.pcap` (own SSRC, the three end packets share one
//! sequence number: sequence numbers are not used here at all) and SIPp's
//! `play_dtmf` (payload type 96, preceded by payload type 97 no-op packets,
//! which are simply not the negotiated telephone-event type).

use std::time::{Duration, Instant};

use thiserror::Error;

/// Size of a telephone-event payload (RFC 4733 §2.3).
pub const TELEPHONE_EVENT_PAYLOAD_SIZE: usize = 4;

/// Volume written in sent events: −10 dBm0 (RFC 4733 §2.3.4; 0 to 63).
pub const SENT_VOLUME: u8 = 10;

/// Most digits [`MediaSession::send_dtmf`](crate::MediaSession::send_dtmf)
/// holds at once.
pub const DTMF_QUEUE_CAPACITY: usize = 20;

/// Time without any packet of an unfinished event after which the
/// receiver considers its end packets lost and reports it.
pub const TONE_END_TIMEOUT: Duration = Duration::from_millis(500);

/// Length of a sent tone, in 20 ms packets: 100 ms.
pub(crate) const TONE_PACKETS: u32 = 5;
/// How many times the final packet of an event is sent (RFC 4733
/// §2.5.1.4: three in total).
pub(crate) const END_PACKET_TRANSMISSIONS: u32 = 3;
/// Pause after each digit, in 20 ms ticks: 60 ms.
pub(crate) const GAP_TICKS: u32 = 3;
/// Samples of the RTP clock (8000 Hz) per 20 ms tick.
const TICK_UNITS: u32 = 160;

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event code (RFC 4733 §3.2: 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D`).
    pub event: u8,
    /// `E` bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level of the tone, in −dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units (8000 Hz).
    pub duration: u16,
}

/// Why a telephone-event payload is invalid. Always the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TelephoneEventError {
    /// Fewer than the four bytes of RFC 4733 §2.3.
    #[error("remote sent a {length}-byte telephone-event payload, shorter than 4 bytes")]
    TooShort {
        /// Length of the payload received.
        length: usize,
    },
}

/// Why [`MediaSession::send_dtmf`](crate::MediaSession::send_dtmf) refused
/// digits. The caller's fault; nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// A character that is not a DTMF digit (`0`–`9`, `*`, `#`, `A`–`D`).
    #[error("caller asked to send {digit:?} (position {position}), which is not a DTMF digit")]
    InvalidDigit {
        /// The offending character.
        digit: char,
        /// Its index, in characters.
        position: usize,
    },
    /// The digits would not fit in the queue of [`DTMF_QUEUE_CAPACITY`].
    #[error(
        "caller asked to send {requested} digits while {queued} are queued; at most {DTMF_QUEUE_CAPACITY} fit"
    )]
    TooManyDigits {
        /// Digits already waiting.
        queued: usize,
        /// Digits in the refused request.
        requested: usize,
    },
}

impl TelephoneEvent {
    /// The DTMF digit of this event, if it is one (RFC 4733 §3.2).
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }

    /// Writes the 4-byte payload to the start of `buffer` and returns 4.
    ///
    /// # Panics
    ///
    /// Panics if `buffer` is shorter than 4 bytes (a local programming
    /// error).
    pub fn write_into(&self, buffer: &mut [u8]) -> usize {
        // RFC 4733 §2.3: event (8) | E (1) R (1) volume (6) | duration (16).
        buffer[0] = self.event;
        buffer[1] = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        buffer[2..4].copy_from_slice(&self.duration.to_be_bytes());
        TELEPHONE_EVENT_PAYLOAD_SIZE
    }
}

/// Parses a telephone-event payload (RFC 4733 §2.3). Extra bytes (several
/// events in one packet, RFC 4733 §2.5.1.5) are ignored: only the first
/// event is read. Never panics.
pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, TelephoneEventError> {
    let Some(bytes) = payload.first_chunk::<TELEPHONE_EVENT_PAYLOAD_SIZE>() else {
        return Err(TelephoneEventError::TooShort {
            length: payload.len(),
        });
    };
    Ok(TelephoneEvent {
        event: bytes[0],
        end: bytes[1] & 0x80 != 0,
        volume: bytes[1] & 0x3F,
        duration: u16::from_be_bytes([bytes[2], bytes[3]]),
    })
}

/// The DTMF digit of an event code (RFC 4733 §3.2), `None` for other
/// events (flash, tones).
pub const fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The event code of a DTMF digit (RFC 4733 §3.2); letters are accepted
/// in either case.
pub const fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// A key press to report: digit and duration in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyPress {
    pub(crate) digit: char,
    pub(crate) duration_ms: u32,
}

/// Identity of one event: SSRC and RTP timestamp (RFC 4733 §2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventKey {
    ssrc: u32,
    timestamp: u32,
}

/// The receiver's view of the current event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToneState {
    /// No unfinished event.
    Idle,
    /// An event whose end has not been seen yet.
    Active {
        key: EventKey,
        digit: char,
        /// Longest duration seen, in 8 kHz units.
        duration: u32,
        last_packet_at: Instant,
    },
}

/// How many reported events are remembered to ignore their late packets.
const REMEMBERED_EVENTS: usize = 4;

/// RFC 4733 §2.5.2 receiver: turns event packets into one key press each.
#[derive(Debug)]
pub(crate) struct TelephoneEventReceiver {
    state: ToneState,
    reported: [Option<EventKey>; REMEMBERED_EVENTS],
    next_reported: usize,
}

impl TelephoneEventReceiver {
    pub(crate) fn new() -> Self {
        Self {
            state: ToneState::Idle,
            reported: [None; REMEMBERED_EVENTS],
            next_reported: 0,
        }
    }

    /// Handles one telephone-event packet. Returns up to two key presses:
    /// an unfinished earlier event superseded by this packet, and this
    /// event if the packet ends it.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        ssrc: u32,
        timestamp: u32,
        event: &TelephoneEvent,
    ) -> [Option<KeyPress>; 2] {
        let mut reports = [None, None];
        let Some(digit) = event.digit() else {
            return reports;
        };
        let key = EventKey { ssrc, timestamp };
        if self.reported.contains(&Some(key)) {
            // RFC 4733 §2.5.1.4: retransmitted end packets, or a late
            // update of an event already reported.
            return reports;
        }
        if let ToneState::Active {
            key: active_key, ..
        } = self.state
            && active_key != key
        {
            if active_key.ssrc == ssrc && is_older(timestamp, active_key.timestamp) {
                // A reordered packet of an event before the current one.
                return reports;
            }
            // A new event began while the previous one had no end packet:
            // its end packets were lost (RFC 4733 §2.5.2.2).
            reports[0] = self.finish();
        }
        let duration = match self.state {
            ToneState::Active {
                duration: previous, ..
            } => previous.max(u32::from(event.duration)),
            ToneState::Idle => u32::from(event.duration),
        };
        self.state = ToneState::Active {
            key,
            digit,
            duration,
            last_packet_at: now,
        };
        if event.end {
            reports[1] = self.finish();
        }
        reports
    }

    /// When the current event will be given up as ended, if one is open.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            ToneState::Active { last_packet_at, .. } => Some(last_packet_at + TONE_END_TIMEOUT),
            ToneState::Idle => None,
        }
    }

    /// Reports the current event if no packet of it came for
    /// [`TONE_END_TIMEOUT`].
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<KeyPress> {
        match self.deadline() {
            Some(deadline) if now >= deadline => self.finish(),
            _ => None,
        }
    }

    fn finish(&mut self) -> Option<KeyPress> {
        let ToneState::Active {
            key,
            digit,
            duration,
            ..
        } = std::mem::replace(&mut self.state, ToneState::Idle)
        else {
            return None;
        };
        self.reported[self.next_reported] = Some(key);
        self.next_reported = (self.next_reported + 1) % REMEMBERED_EVENTS;
        Some(KeyPress {
            digit,
            duration_ms: duration / 8,
        })
    }
}

/// Whether RTP timestamp `a` is before `b`, modulo 2^32 (RFC 3550 §5.1).
fn is_older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// What the sender puts in the packet of one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtmfOutput {
    /// No digit in progress: normal audio.
    Idle,
    /// A telephone-event packet: `marker` on the first packet of the
    /// event, `timestamp_tick` is the tick whose timestamp the event
    /// carries (RFC 4733 §2.5.1.2: the event's start).
    Event {
        event: TelephoneEvent,
        marker: bool,
        timestamp_tick: u64,
    },
    /// In-band mode: this tick carries the tone of `event`; `tone_tick`
    /// counts ticks since the tone started (for the oscillator phase).
    Tone { event: u8, tone_tick: u32 },
    /// Between two digits: silence, queued audio stays paused.
    Gap,
}

/// The sender's progress through the current digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderState {
    Idle,
    /// Sending the event: `sent` packets so far, started at `start_tick`.
    Sending {
        event: u8,
        start_tick: u64,
        sent: u32,
    },
    /// Silence after a digit, `remaining` ticks left.
    Gap {
        remaining: u32,
    },
}

/// RFC 4733 §2.5.1 sender of queued digits, one packet per 20 ms tick.
///
/// Each digit is a 100 ms event: five packets with growing duration,
/// marker on the first (RFC 4733 §2.5.1.2), the last one with the `E` bit
/// sent three times (RFC 4733 §2.5.1.4), then 60 ms of silence. In
/// in-band mode (no telephone-event negotiated) the same timing carries
/// the two-tone signal as audio instead.
#[derive(Debug)]
pub(crate) struct DtmfSender {
    queue: [u8; DTMF_QUEUE_CAPACITY],
    head: usize,
    length: usize,
    state: SenderState,
    in_band: bool,
}

impl DtmfSender {
    pub(crate) fn new(in_band: bool) -> Self {
        Self {
            queue: [0; DTMF_QUEUE_CAPACITY],
            head: 0,
            length: 0,
            state: SenderState::Idle,
            in_band,
        }
    }

    /// Queues every digit of `digits`, or none.
    pub(crate) fn enqueue(&mut self, digits: &str) -> Result<(), DtmfError> {
        let mut requested = 0;
        for (position, digit) in digits.chars().enumerate() {
            if digit_to_event(digit).is_none() {
                return Err(DtmfError::InvalidDigit { digit, position });
            }
            requested += 1;
        }
        if self.length + requested > DTMF_QUEUE_CAPACITY {
            return Err(DtmfError::TooManyDigits {
                queued: self.length,
                requested,
            });
        }
        for event in digits.chars().filter_map(digit_to_event) {
            self.queue[(self.head + self.length) % DTMF_QUEUE_CAPACITY] = event;
            self.length += 1;
        }
        Ok(())
    }

    /// Digits waiting, not counting the one being sent.
    pub(crate) fn queued(&self) -> usize {
        self.length
    }

    /// Whether a digit or gap is in progress or digits are waiting.
    pub(crate) fn is_busy(&self) -> bool {
        self.length > 0 || self.state != SenderState::Idle
    }

    /// Drops every queued digit; an event in progress still ends
    /// properly.
    pub(crate) fn clear(&mut self) {
        self.length = 0;
    }

    /// What tick `tick` carries; advances the sender by one tick.
    pub(crate) fn next_tick(&mut self, tick: u64) -> DtmfOutput {
        if self.state == SenderState::Idle {
            let Some(event) = self.pop() else {
                return DtmfOutput::Idle;
            };
            self.state = SenderState::Sending {
                event,
                start_tick: tick,
                sent: 0,
            };
        }
        match self.state {
            SenderState::Idle => DtmfOutput::Idle,
            SenderState::Gap { remaining } => {
                self.state = if remaining <= 1 {
                    SenderState::Idle
                } else {
                    SenderState::Gap {
                        remaining: remaining - 1,
                    }
                };
                DtmfOutput::Gap
            }
            SenderState::Sending {
                event,
                start_tick,
                sent,
            } => {
                let total = if self.in_band {
                    TONE_PACKETS
                } else {
                    TONE_PACKETS + END_PACKET_TRANSMISSIONS - 1
                };
                self.state = if sent + 1 >= total {
                    SenderState::Gap {
                        remaining: GAP_TICKS,
                    }
                } else {
                    SenderState::Sending {
                        event,
                        start_tick,
                        sent: sent + 1,
                    }
                };
                if self.in_band {
                    return DtmfOutput::Tone {
                        event,
                        tone_tick: sent,
                    };
                }
                // RFC 4733 §2.5.1.3: the duration grows with each update;
                // the end packet and its retransmissions keep the last one.
                let packets = (sent + 1).min(TONE_PACKETS);
                DtmfOutput::Event {
                    event: TelephoneEvent {
                        event,
                        end: sent + 1 >= TONE_PACKETS,
                        volume: SENT_VOLUME,
                        duration: (packets * TICK_UNITS) as u16,
                    },
                    marker: sent == 0,
                    timestamp_tick: start_tick,
                }
            }
        }
    }

    fn pop(&mut self) -> Option<u8> {
        if self.length == 0 {
            return None;
        }
        let event = self.queue[self.head];
        self.head = (self.head + 1) % DTMF_QUEUE_CAPACITY;
        self.length -= 1;
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(code: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event: code,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn payload_round_trips_with_rfc_4733_layout() {
        let mut buffer = [0u8; 4];
        event(11, true, 800).write_into(&mut buffer);
        assert_eq!(buffer, [11, 0x8A, 0x03, 0x20]);
        assert_eq!(parse(&buffer), Ok(event(11, true, 800)));
        assert_eq!(
            parse(&buffer[..3]),
            Err(TelephoneEventError::TooShort { length: 3 })
        );
    }

    #[test]
    fn digits_map_to_rfc_4733_event_codes() {
        let digits = "0123456789*#ABCD";
        for (code, digit) in digits.chars().enumerate() {
            assert_eq!(digit_to_event(digit), Some(code as u8));
            assert_eq!(event_to_digit(code as u8), Some(digit));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn receiver_reports_once_per_event() {
        let start = Instant::now();
        let mut receiver = TelephoneEventReceiver::new();
        let mut reports = Vec::new();
        for (index, (end, duration)) in [
            (false, 160),
            (false, 160),
            (false, 480),
            (true, 800),
            (true, 800),
            (true, 800),
        ]
        .into_iter()
        .enumerate()
        {
            let now = start + Duration::from_millis(20 * index as u64);
            reports.extend(
                receiver
                    .handle_packet(now, 1, 5000, &event(5, end, duration))
                    .into_iter()
                    .flatten(),
            );
        }
        assert_eq!(
            reports,
            [KeyPress {
                digit: '5',
                duration_ms: 100
            }]
        );
        assert_eq!(receiver.deadline(), None);
    }

    #[test]
    fn stale_packets_of_an_older_event_are_ignored() {
        let start = Instant::now();
        let mut receiver = TelephoneEventReceiver::new();
        receiver.handle_packet(start, 1, 5000, &event(1, false, 160));
        let reports = receiver.handle_packet(start, 1, 4000, &event(1, false, 160));
        assert_eq!(reports, [None, None]);
    }

    #[test]
    fn sender_emits_five_updates_two_retransmissions_and_a_gap() {
        let mut sender = DtmfSender::new(false);
        sender.enqueue("7").expect("valid");
        let outputs: Vec<DtmfOutput> = (10..21).map(|tick| sender.next_tick(tick)).collect();
        let mut durations = Vec::new();
        for output in &outputs[..7] {
            let DtmfOutput::Event {
                event,
                timestamp_tick,
                ..
            } = output
            else {
                panic!("expected an event, got {output:?}");
            };
            assert_eq!(*timestamp_tick, 10);
            durations.push((event.duration, event.end));
        }
        assert_eq!(
            durations,
            [
                (160, false),
                (320, false),
                (480, false),
                (640, false),
                (800, true),
                (800, true),
                (800, true)
            ]
        );
        assert_eq!(outputs[7..10], [DtmfOutput::Gap; 3]);
        assert_eq!(outputs[10], DtmfOutput::Idle);
        assert!(!sender.is_busy());
    }

    #[test]
    fn enqueue_is_all_or_nothing() {
        let mut sender = DtmfSender::new(false);
        assert_eq!(
            sender.enqueue("12x"),
            Err(DtmfError::InvalidDigit {
                digit: 'x',
                position: 2
            })
        );
        assert_eq!(sender.queued(), 0);
        sender.enqueue("0123456789").expect("fits");
        assert_eq!(
            sender.enqueue("0123456789*"),
            Err(DtmfError::TooManyDigits {
                queued: 10,
                requested: 11
            })
        );
        sender.enqueue("0123456789").expect("fits exactly");
        assert_eq!(sender.queued(), 20);
    }
}
