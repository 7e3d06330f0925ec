//! Feature tests of `MediaSession` and `Bridge` through the public API, in
//! virtual time (`start + Duration`).

use std::f64::consts::PI;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warbler_media::rtp;
use warbler_media::{
    Bridge, BridgeMode, Codec, DtmfError, G722Decoder, MAXIMUM_PACKET_SIZE,
    MAXIMUM_RELAYED_PACKET_SIZE, MAXIMUM_RTCP_PACKET_SIZE, MediaEvent, MediaSession, PlayoutId,
    ReceivedFrameKind, RecordingChannels, RtpHeader, SessionConfig, SessionOptions,
};

fn milliseconds(count: u64) -> Duration {
    Duration::from_millis(count)
}

fn config(codec: Codec, telephone_event_pt: Option<u8>, ssrc: u32) -> SessionConfig {
    SessionConfig {
        codec,
        payload_type: codec.payload_type(),
        telephone_event_pt,
        ssrc,
        initial_sequence: (ssrc >> 8) as u16,
        initial_timestamp: ssrc.rotate_left(7),
    }
}

fn packet(
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut bytes = vec![0u8; 12 + payload.len()];
    RtpHeader {
        payload_type,
        marker,
        sequence,
        timestamp,
        ssrc,
    }
    .write_into(&mut bytes);
    bytes[12..].copy_from_slice(payload);
    bytes
}

/// RFC 4733 §2.3 payload.
fn event_payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let duration = duration.to_be_bytes();
    [event, (u8::from(end) << 7) | 10, duration[0], duration[1]]
}

fn events(session: &mut MediaSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn digits(events: &[MediaEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            MediaEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

/// Runs `session`'s timers and ticks up to `now`, returning the packets.
fn drain(session: &mut MediaSession, now: Instant) -> Vec<Vec<u8>> {
    let mut buffer = [0u8; MAXIMUM_PACKET_SIZE];
    let mut packets = Vec::new();
    while let Some(length) = session.handle_timeout(now, &mut buffer) {
        packets.push(buffer[..length].to_vec());
    }
    packets
}

fn sine(frequency: f64, amplitude: f64, count: usize) -> Vec<i16> {
    (0..count)
        .map(|index| (amplitude * (2.0 * PI * frequency * index as f64 / 8000.0).sin()) as i16)
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples
        .iter()
        .map(|sample| f64::from(*sample).powi(2))
        .sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Frequency estimated from zero crossings, in hertz at 8 kHz.
fn frequency(samples: &[i16]) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 8000.0)
}

mod telephone_events {
    use super::*;

    const AUDIO_SSRC: u32 = 0x4242_0001;

    /// A clean RFC 4733 key press: start (marker), updates, 3 end packets,
    /// all with the event's timestamp, consecutive sequence numbers.
    fn key_press(event: u8, first_sequence: u16, timestamp: u32) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        let durations = [160u16, 320, 480, 640, 800, 800, 800];
        for (index, duration) in durations.into_iter().enumerate() {
            packets.push(packet(
                101,
                index == 0,
                first_sequence.wrapping_add(index as u16),
                timestamp,
                AUDIO_SSRC,
                &event_payload(event, index >= 4, duration),
            ));
        }
        packets
    }

    #[test]
    fn one_key_press_trace_gives_exactly_one_event() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(101), 1), start);
        for (index, bytes) in key_press(5, 100, 8000).iter().enumerate() {
            let now = start + milliseconds(20 * index as u64);
            session.handle_rtp(now, bytes).expect("valid");
            drain(&mut session, now);
        }
        // Long after: no late report.
        drain(&mut session, start + milliseconds(3000));
        assert_eq!(
            events(&mut session),
            [MediaEvent::Dtmf {
                digit: '5',
                duration_ms: 100
            }]
        );
        assert_eq!(session.stats().telephone_event_packets_received, 7);
    }

    #[test]
    fn lost_end_packets_still_give_one_event_after_a_timeout() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(101), 1), start);
        for (index, bytes) in key_press(3, 100, 8000).iter().take(4).enumerate() {
            session
                .handle_rtp(start + milliseconds(20 * index as u64), bytes)
                .expect("valid");
        }
        assert!(events(&mut session).is_empty());
        // The shell sleeps until poll_timeout; the tone timer is part of it.
        let mut now = start;
        let mut found = Vec::new();
        while now < start + milliseconds(2000) {
            now = session.poll_timeout();
            drain(&mut session, now);
            found.extend(events(&mut session));
        }
        assert_eq!(
            found,
            [MediaEvent::Dtmf {
                digit: '3',
                duration_ms: 80
            }]
        );
    }

    #[test]
    fn lost_end_packets_are_reported_when_the_next_event_starts() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(101), 1), start);
        let mut packets: Vec<Vec<u8>> = key_press(7, 100, 8000).into_iter().take(3).collect();
        packets.extend(key_press(8, 110, 9600));
        for (index, bytes) in packets.iter().enumerate() {
            session
                .handle_rtp(start + milliseconds(20 * index as u64), bytes)
                .expect("valid");
        }
        assert_eq!(digits(&events(&mut session)), "78");
    }

    #[test]
    fn two_identical_digits_back_to_back_are_two_events() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(101), 1), start);
        let mut packets = key_press(1, 100, 8000);
        packets.extend(key_press(1, 107, 8000 + 1280));
        for (index, bytes) in packets.iter().enumerate() {
            session
                .handle_rtp(start + milliseconds(20 * index as u64), bytes)
                .expect("valid");
        }
        assert_eq!(digits(&events(&mut session)), "11");
    }

    #[test]
    fn debian_sipp_pcap_with_own_ssrc_and_shared_end_sequence_is_one_event() {
        // /usr/share/sip-tester/dtmf_2833_N.pcap: SSRC 0x0e05384e, timestamp
        // 13280, 10 packets, the 3 end packets share one sequence number.
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcma, Some(101), 1), start);
        // Audio from the caller first, on its own SSRC.
        for index in 0..5u16 {
            session
                .handle_rtp(
                    start + milliseconds(20 * u64::from(index)),
                    &packet(
                        8,
                        false,
                        500 + index,
                        160 * u32::from(index),
                        AUDIO_SSRC,
                        &[0xD5; 160],
                    ),
                )
                .expect("valid");
        }
        let mut durations: Vec<(u16, bool, u16)> = (1..=7u16)
            .map(|step| (3 + step, false, 160 * step))
            .collect();
        durations.extend([(11, true, 1120), (11, true, 1120), (11, true, 1120)]);
        for (index, (sequence, end, duration)) in durations.into_iter().enumerate() {
            session
                .handle_rtp(
                    start + milliseconds(100 + 20 * index as u64),
                    &packet(
                        101,
                        index == 0,
                        sequence,
                        13280,
                        0x0E05_384E,
                        &event_payload(9, end, duration),
                    ),
                )
                .expect("valid");
        }
        assert_eq!(
            events(&mut session),
            [MediaEvent::Dtmf {
                digit: '9',
                duration_ms: 140
            }]
        );
        // The foreign SSRC did not disturb the audio source's statistics.
        let quality = session.quality();
        assert_eq!(quality.remote_ssrc, Some(AUDIO_SSRC));
        assert_eq!(quality.packets_lost, 0);
    }

    #[test]
    fn sipp_play_dtmf_with_pt_96_after_pt_97_no_ops() {
        let start = Instant::now();
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(96), 1), start);
        let mut now = start;
        // 400 ms of PT 97 "no-op" packets (4 zero bytes) on a new SSRC.
        for index in 0..20u16 {
            session
                .handle_rtp(
                    now,
                    &packet(97, false, index, 160 * u32::from(index), 0x5151, &[0; 4]),
                )
                .expect("valid");
            now += milliseconds(20);
        }
        let mut sequence = 20u16;
        for (key, event) in [(0u32, 1u8), (1, 2)] {
            let timestamp = 10_000 + key * 3200;
            for step in 1..=10u16 {
                let end = step >= 8;
                let duration = 160 * step.min(8);
                session
                    .handle_rtp(
                        now,
                        &packet(
                            96,
                            step == 1,
                            sequence,
                            timestamp,
                            0x5151,
                            &event_payload(event, end, duration),
                        ),
                    )
                    .expect("valid");
                sequence += 1;
                now += milliseconds(20);
            }
        }
        assert_eq!(digits(&events(&mut session)), "12");
        assert_eq!(session.stats().unexpected_payload_type_packets, 20);
    }

    #[test]
    fn sent_digits_round_trip_between_two_sessions() {
        let start = Instant::now();
        let mut sender = MediaSession::new(config(Codec::Pcmu, Some(101), 0xA), start);
        let mut receiver = MediaSession::new(config(Codec::Pcmu, Some(101), 0xB), start);
        sender.send_dtmf("1#9").expect("valid digits");
        sender
            .push_playout(PlayoutId(1), Arc::from(vec![1000i16; 320]))
            .expect("room");
        let mut trace = Vec::new();
        let mut found = Vec::new();
        let mut now = start;
        while now <= start + milliseconds(1500) {
            for bytes in drain(&mut sender, now) {
                receiver
                    .handle_rtp(now + milliseconds(5), &bytes)
                    .expect("valid");
                trace.push(bytes);
            }
            drain(&mut receiver, now + milliseconds(5));
            found.extend(events(&mut receiver));
            now += milliseconds(20);
        }
        assert_eq!(
            found,
            ['1', '#', '9'].map(|digit| MediaEvent::Dtmf {
                digit,
                duration_ms: 100
            })
        );
        // Sender's trace: one SSRC, one gap-free sequence space; each event
        // is 7 packets (5 growing, 2 retransmitted ends) with the marker
        // on its first packet, then audio resumes.
        let parsed: Vec<_> = trace
            .iter()
            .map(|bytes| rtp::parse(bytes).expect("valid").header)
            .collect();
        assert!(parsed.iter().all(|header| header.ssrc == 0xA));
        assert!(
            parsed
                .windows(2)
                .all(|pair| pair[1].sequence == pair[0].sequence.wrapping_add(1))
        );
        let event_packets: Vec<_> = parsed
            .iter()
            .zip(&trace)
            .filter(|(header, _)| header.payload_type == 101)
            .collect();
        assert_eq!(event_packets.len(), 21);
        for digit in event_packets.chunks(7) {
            assert!(digit[0].0.marker);
            assert!(digit[1..].iter().all(|(header, _)| !header.marker));
            assert!(
                digit
                    .iter()
                    .all(|(header, _)| header.timestamp == digit[0].0.timestamp)
            );
            let ends = digit
                .iter()
                .filter(|(_, bytes)| bytes[13] & 0x80 != 0)
                .count();
            assert_eq!(ends, 3);
        }
        // The clip was held back until the digits were done.
        let first_audio = parsed.iter().position(|header| {
            header.payload_type == 0 && header.marker && header.sequence != parsed[0].sequence
        });
        let last_event = parsed.iter().rposition(|header| header.payload_type == 101);
        assert!(first_audio > last_event, "{first_audio:?} {last_event:?}");
        assert_eq!(
            events(&mut sender)[..1],
            [MediaEvent::PlayoutStarted(PlayoutId(1))]
        );
    }

    #[test]
    fn invalid_digit_strings_are_refused() {
        let mut session = MediaSession::new(config(Codec::Pcmu, Some(101), 1), Instant::now());
        assert_eq!(
            session.send_dtmf("12e"),
            Err(DtmfError::InvalidDigit {
                digit: 'e',
                position: 2
            })
        );
        assert!(session.send_dtmf(&"1".repeat(21)).is_err());
        assert_eq!(session.queued_dtmf_digits(), 0);
    }
}

mod in_band {
    use super::*;

    #[test]
    fn in_band_digits_round_trip_when_no_telephone_event_is_negotiated() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let start = Instant::now();
            let mut sender = MediaSession::new(config(codec, None, 0xA), start);
            let mut receiver = MediaSession::new(config(codec, None, 0xB), start);
            sender.send_dtmf("0123456789*#").expect("valid");
            let mut found = Vec::new();
            let mut now = start;
            while now <= start + milliseconds(3000) {
                for bytes in drain(&mut sender, now) {
                    receiver
                        .handle_rtp(now + milliseconds(3), &bytes)
                        .expect("valid");
                }
                drain(&mut receiver, now + milliseconds(3));
                found.extend(events(&mut receiver));
                now += milliseconds(20);
            }
            assert_eq!(digits(&found), "0123456789*#", "{codec:?}");
        }
    }

    #[test]
    fn telephone_event_sessions_do_not_run_the_detector() {
        let start = Instant::now();
        let mut sender = MediaSession::new(config(Codec::Pcmu, None, 0xA), start);
        let mut receiver = MediaSession::new(config(Codec::Pcmu, Some(101), 0xB), start);
        sender.send_dtmf("5").expect("valid");
        let mut now = start;
        while now <= start + milliseconds(1000) {
            for bytes in drain(&mut sender, now) {
                receiver.handle_rtp(now, &bytes).expect("valid");
            }
            drain(&mut receiver, now);
            now += milliseconds(20);
        }
        assert!(digits(&events(&mut receiver)).is_empty());
    }
}

mod reception {
    use super::*;

    /// xorshift64 for deterministic network behaviour.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn jitter_buffer_survives_loss_reordering_and_jitter() {
        let start = Instant::now();
        let mut sender = MediaSession::new(config(Codec::Pcmu, Some(101), 0xA), start);
        let mut receiver = MediaSession::new(config(Codec::Pcmu, Some(101), 0xB), start);
        sender
            .push_playout(PlayoutId(1), Arc::from(sine(400.0, 8000.0, 8000 * 30)))
            .expect("room");
        let mut random = Random(0xDEAD_BEEF_CAFE);
        let mut in_flight: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut frames = Vec::new();
        let mut now = start;
        let end = start + Duration::from_secs(30);
        let mut sent = 0u64;
        while now < end {
            for bytes in drain(&mut sender, now) {
                sent += 1;
                if random.next().is_multiple_of(10) {
                    continue; // 10 % loss
                }
                // 40 ms ± 30 ms; every 9th packet 25 ms extra (reordering).
                let mut delay = 10 + random.next() % 61;
                if sent.is_multiple_of(9) {
                    delay += 25;
                }
                in_flight.push((now + milliseconds(delay), bytes));
            }
            in_flight.sort_by_key(|(at, _)| *at);
            let due = in_flight.partition_point(|(at, _)| *at <= now);
            for (at, bytes) in in_flight.drain(..due) {
                receiver.handle_rtp(at, &bytes).expect("valid");
            }
            drain(&mut receiver, now);
            while let Some(frame) = receiver.poll_received_frame(now) {
                frames.push((frame.played_at, frame.kind, rms(frame.samples)));
            }
            now += milliseconds(20);
        }
        // One frame per 20 ms tick, on the playout clock.
        assert_eq!(frames.len(), 1500);
        assert!(
            frames
                .windows(2)
                .all(|pair| pair[1].0 - pair[0].0 == milliseconds(20))
        );
        let quality = receiver.quality();
        let loss = quality.packets_lost as f64 / quality.packets_expected as f64;
        assert!((0.07..0.13).contains(&loss), "{quality:?}");
        let jitter = receiver.jitter_statistics();
        assert!(jitter.frames_concealed >= 100, "{jitter:?}");
        assert!(jitter.late_packets < 30, "{jitter:?}");
        assert!(jitter.target_delay >= milliseconds(40), "{jitter:?}");
        // Most frames carry the tone at its level (5657 RMS).
        let audible = frames
            .iter()
            .filter(|(_, kind, level)| {
                *kind == ReceivedFrameKind::Audio && (*level - 5657.0).abs() < 600.0
            })
            .count();
        assert!(audible > 1200, "{audible}");
    }

    #[test]
    fn rtp_timeout_fires_once_after_the_last_packet() {
        let start = Instant::now();
        let options = SessionOptions::default().with_media_timeout(Duration::from_secs(2));
        let mut session =
            MediaSession::with_options(config(Codec::Pcmu, Some(101), 1), options, start);
        let mut fired_at = Vec::new();
        let mut now = start;
        while now < start + Duration::from_secs(10) {
            if now < start + Duration::from_secs(1) {
                let tick = (now - start).as_millis() as u32 / 20;
                session
                    .handle_rtp(
                        now,
                        &packet(0, false, tick as u16, tick * 160, 9, &[0xFF; 160]),
                    )
                    .expect("valid");
            }
            drain(&mut session, now);
            for event in events(&mut session) {
                if event == MediaEvent::RtpTimeout {
                    fired_at.push(now - start);
                }
            }
            now = session.poll_timeout();
        }
        assert_eq!(fired_at.len(), 1);
        assert!(
            (milliseconds(2980)..=milliseconds(3000)).contains(&fired_at[0]),
            "{fired_at:?}"
        );
    }

    #[test]
    fn rtp_timeout_counts_from_the_answer_when_nothing_arrives() {
        let start = Instant::now();
        let mut session = MediaSession::with_options(
            config(Codec::Pcma, None, 1),
            SessionOptions::default().with_media_timeout(milliseconds(500)),
            start,
        );
        drain(&mut session, start + milliseconds(490));
        assert!(events(&mut session).is_empty());
        drain(&mut session, start + milliseconds(500));
        assert_eq!(events(&mut session), [MediaEvent::RtpTimeout]);
        drain(&mut session, start + milliseconds(5000));
        assert!(events(&mut session).is_empty());
        // Without a timeout, nothing.
        let mut quiet = MediaSession::new(config(Codec::Pcma, None, 1), start);
        drain(&mut quiet, start + Duration::from_secs(60));
        assert!(!events(&mut quiet).contains(&MediaEvent::RtpTimeout));
    }

    #[test]
    fn recording_puts_the_caller_left_and_us_right() {
        let start = Instant::now();
        let mut caller = MediaSession::new(config(Codec::Pcmu, Some(101), 0xA), start);
        let mut ours = MediaSession::new(config(Codec::Pcmu, Some(101), 0xB), start);
        caller
            .push_playout(PlayoutId(1), Arc::from(sine(1000.0, 8000.0, 16000)))
            .expect("room");
        ours.push_playout(PlayoutId(2), Arc::from(sine(500.0, 4000.0, 16000)))
            .expect("room");
        ours.set_recording(Some(RecordingChannels::Stereo));
        let mut left = Vec::new();
        let mut right = Vec::new();
        let mut mono = Vec::new();
        let mut now = start;
        while now < start + milliseconds(1500) {
            for bytes in drain(&mut caller, now) {
                ours.handle_rtp(now, &bytes).expect("valid");
            }
            if now == start + milliseconds(1000) {
                ours.set_recording(Some(RecordingChannels::Mono));
            }
            drain(&mut ours, now);
            while let Some(frame) = ours.poll_recorded_frame() {
                match frame.channels {
                    RecordingChannels::Stereo => {
                        assert_eq!(frame.samples.len(), 320);
                        for pair in frame.samples.chunks(2) {
                            left.push(pair[0]);
                            right.push(pair[1]);
                        }
                    }
                    RecordingChannels::Mono => {
                        assert_eq!(frame.samples.len(), 160);
                        mono.extend_from_slice(frame.samples);
                    }
                }
            }
            now += milliseconds(20);
        }
        assert_eq!(left.len(), 50 * 160);
        // Skip the jitter buffer's start-up delay on the received side.
        let received = &left[1600..];
        assert!(
            (frequency(received) - 1000.0).abs() < 20.0,
            "{}",
            frequency(received)
        );
        assert!((rms(received) - 5657.0).abs() < 300.0, "{}", rms(received));
        assert!(
            (frequency(&right) - 500.0).abs() < 10.0,
            "{}",
            frequency(&right)
        );
        assert!((rms(&right) - 2828.0).abs() < 30.0, "{}", rms(&right));
        // Mono: both directions summed.
        assert_eq!(mono.len(), 25 * 160);
        let level = rms(&mono);
        assert!(
            (level - (5657.0f64.powi(2) + 2828.0f64.powi(2)).sqrt()).abs() < 400.0,
            "{level}"
        );
    }
}

mod rtcp_exchange {
    use super::*;

    const NTP_BASE: u64 = 0xE8A0_0000_0000_0000;

    fn ntp(start: Instant, now: Instant) -> u64 {
        let elapsed = now - start;
        NTP_BASE
            + (elapsed.as_secs() << 32)
            + ((u64::from(elapsed.subsec_nanos()) << 32) / 1_000_000_000)
    }

    #[test]
    fn two_sessions_report_loss_jitter_and_round_trip_time() {
        let start = Instant::now();
        let mut alice = MediaSession::new(config(Codec::Pcmu, Some(101), 0xA11CE), start);
        let mut bob = MediaSession::new(config(Codec::Pcmu, Some(101), 0xB0B), start);
        let mut to_bob: Vec<(Instant, Vec<u8>, bool)> = Vec::new();
        let mut to_alice: Vec<(Instant, Vec<u8>, bool)> = Vec::new();
        let mut rtcp_buffer = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
        let mut sent = 0u64;
        let mut now = start;
        while now < start + Duration::from_secs(21) {
            for bytes in drain(&mut alice, now) {
                sent += 1;
                // Every 10th packet lost; delay alternates 5 and 15 ms, so
                // |D| = 10 ms for every pair: RFC 3550 jitter → 10 ms.
                if sent.is_multiple_of(10) {
                    continue;
                }
                let delay = if sent.is_multiple_of(2) { 5 } else { 15 };
                to_bob.push((now + milliseconds(delay), bytes, false));
            }
            for bytes in drain(&mut bob, now) {
                to_alice.push((now + milliseconds(5), bytes, false));
            }
            if let Some(length) = alice.poll_rtcp(now, ntp(start, now), &mut rtcp_buffer) {
                to_bob.push((now + milliseconds(5), rtcp_buffer[..length].to_vec(), true));
            }
            if let Some(length) = bob.poll_rtcp(now, ntp(start, now), &mut rtcp_buffer) {
                to_alice.push((now + milliseconds(5), rtcp_buffer[..length].to_vec(), true));
            }
            now += milliseconds(5);
            for (queue, session) in [(&mut to_bob, &mut bob), (&mut to_alice, &mut alice)] {
                queue.sort_by_key(|(at, _, _)| *at);
                let due = queue.partition_point(|(at, _, _)| *at <= now);
                for (at, bytes, is_rtcp) in queue.drain(..due) {
                    if is_rtcp {
                        session.handle_rtcp(at, &bytes).expect("valid RTCP");
                    } else {
                        session.handle_rtp(at, &bytes).expect("valid RTP");
                    }
                }
            }
        }
        let bob_view = bob.quality();
        assert_eq!(bob_view.remote_ssrc, Some(0xA11CE));
        // 10 % → 25.6/256; per-interval rounding gives 25 or 26.
        assert!((25..=26).contains(&bob_view.fraction_lost), "{bob_view:?}");
        let loss = bob_view.packets_lost as f64 / bob_view.packets_expected as f64;
        assert!((loss - 0.1).abs() < 0.005, "{bob_view:?}");
        assert!(
            (milliseconds(9)..=milliseconds(11)).contains(&bob_view.jitter),
            "{bob_view:?}"
        );
        assert_eq!(bob_view.remote_fraction_lost, Some(0), "{bob_view:?}");
        assert!(bob_view.rtcp_packets_received >= 3);

        let alice_view = alice.quality();
        assert!(
            (25..=26).contains(&alice_view.remote_fraction_lost.expect("report")),
            "{alice_view:?}"
        );
        let remote_jitter = alice_view.remote_jitter.expect("report");
        assert!(
            (milliseconds(9)..=milliseconds(11)).contains(&remote_jitter),
            "{alice_view:?}"
        );
        // RTCP takes 5 ms each way, plus up to 5 ms of polling delay.
        let round_trip = alice_view.round_trip_time.expect("computable");
        assert!(
            (milliseconds(9)..=milliseconds(16)).contains(&round_trip),
            "{alice_view:?}"
        );
        assert_eq!(alice_view.jitter, Duration::ZERO);
        assert!(alice.stats().packets_sent > 1000);
    }

    #[test]
    fn goodbye_packet_is_accepted_and_garbage_rejected() {
        let start = Instant::now();
        let mut alice = MediaSession::new(config(Codec::Pcmu, None, 1), start);
        let mut bob = MediaSession::new(config(Codec::Pcmu, None, 2), start);
        let mut buffer = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
        let length = alice.write_rtcp_goodbye(start, NTP_BASE, &mut buffer);
        bob.handle_rtcp(start, &buffer[..length]).expect("valid");
        assert!(bob.handle_rtcp(start, &buffer[..length - 1]).is_err());
        assert!(bob.handle_rtcp(start, &[]).is_err());
        assert_eq!(bob.quality().rtcp_malformed_packets, 2);
    }
}

mod wideband {
    use super::*;

    #[test]
    fn g722_sessions_exchange_a_tone() {
        let start = Instant::now();
        let mut sender = MediaSession::new(config(Codec::G722, Some(101), 0xA), start);
        let mut receiver = MediaSession::new(config(Codec::G722, Some(101), 0xB), start);
        sender
            .push_playout(PlayoutId(1), Arc::from(sine(1000.0, 8000.0, 8000)))
            .expect("room");
        let mut received = Vec::new();
        let mut timestamps = Vec::new();
        let mut now = start;
        while now < start + milliseconds(1000) {
            for bytes in drain(&mut sender, now) {
                let parsed = rtp::parse(&bytes).expect("valid");
                assert_eq!(parsed.header.payload_type, 9);
                assert_eq!(parsed.payload.len(), 160);
                timestamps.push(parsed.header.timestamp);
                receiver.handle_rtp(now, &bytes).expect("valid");
            }
            drain(&mut receiver, now);
            while let Some(frame) = receiver.poll_received_frame(now) {
                received.extend_from_slice(frame.samples);
            }
            now += milliseconds(20);
        }
        // RFC 3551 §4.5.2: 8000 Hz RTP clock, 160 units per 20 ms.
        assert!(
            timestamps
                .windows(2)
                .all(|pair| pair[1].wrapping_sub(pair[0]) == 160)
        );
        let steady = &received[2400..7200];
        assert!(
            (frequency(steady) - 1000.0).abs() < 20.0,
            "{}",
            frequency(steady)
        );
        assert!((rms(steady) - 5657.0).abs() < 600.0, "{}", rms(steady));
    }
}

mod bridging {
    use super::*;

    #[test]
    fn same_codec_legs_relay_payloads_unchanged() {
        let start = Instant::now();
        let mut leg_a = MediaSession::new(config(Codec::Pcmu, Some(101), 0xAAAA), start);
        let mut leg_b = MediaSession::new(
            SessionConfig {
                payload_type: 0,
                ..config(Codec::Pcmu, Some(96), 0xBBBB)
            },
            start,
        );
        let mut bridge = Bridge::new(&mut leg_a, &mut leg_b);
        assert_eq!(bridge.mode(), BridgeMode::Relay);
        let mut output = [0u8; MAXIMUM_RELAYED_PACKET_SIZE];
        let mut relayed = Vec::new();
        let mut own_packets_of_b = 0;
        for index in 0..50u16 {
            let now = start + milliseconds(20 * u64::from(index));
            let payload: Vec<u8> = (0..160).map(|byte| (byte as u16 + index) as u8).collect();
            let incoming = packet(
                0,
                index == 0,
                9000 + index,
                777_000 + 160 * u32::from(index),
                0x1234,
                &payload,
            );
            leg_a.handle_rtp(now, &incoming).expect("valid");
            if let Some(length) = bridge.relay_rtp(now, &leg_a, &mut leg_b, &incoming, &mut output)
            {
                let parsed = rtp::parse(&output[..length]).expect("valid");
                assert_eq!(parsed.payload, payload.as_slice());
                relayed.push(parsed.header);
            }
            bridge.transfer_frames(now, &mut leg_a, &mut leg_b);
            own_packets_of_b += drain(&mut leg_b, now).len();
        }
        assert_eq!(relayed.len(), 50);
        assert_eq!(
            own_packets_of_b, 0,
            "a relaying leg sends no silence of its own"
        );
        assert!(
            relayed
                .iter()
                .all(|header| header.ssrc == 0xBBBB && header.payload_type == 0)
        );
        assert!(relayed[0].marker);
        assert!(
            relayed
                .windows(2)
                .all(|pair| pair[1].sequence == pair[0].sequence.wrapping_add(1)
                    && pair[1].timestamp == pair[0].timestamp.wrapping_add(160))
        );
        assert_eq!(bridge.statistics().packets_relayed, 50);
        // A telephone-event is not relayed.
        let event = packet(101, true, 9100, 1, 0x1234, &event_payload(1, false, 160));
        assert_eq!(
            bridge.relay_rtp(start, &leg_a, &mut leg_b, &event, &mut output),
            None
        );
        // After release, leg B sends its own silence again.
        bridge.release(&mut leg_a, &mut leg_b);
        assert_eq!(drain(&mut leg_b, start + milliseconds(1000)).len(), 1);
    }

    #[test]
    fn different_codec_legs_transcode_a_tone() {
        let start = Instant::now();
        let mut caller = MediaSession::new(config(Codec::Pcmu, Some(101), 0xC), start);
        let mut leg_a = MediaSession::new(config(Codec::Pcmu, Some(101), 0xA), start);
        let mut leg_b =
            MediaSession::new(config(Codec::Pcma, Some(101), 0xB), start + milliseconds(7));
        let mut bridge = Bridge::new(&mut leg_a, &mut leg_b);
        assert_eq!(bridge.mode(), BridgeMode::Transcode);
        // The caller plays a 1 kHz tone at −10 dBFS (peak 10362).
        caller
            .push_playout(PlayoutId(1), Arc::from(sine(1000.0, 10362.0, 16000)))
            .expect("room");
        let mut decoded = Vec::new();
        let mut now = start;
        while now < start + milliseconds(2000) {
            for bytes in drain(&mut caller, now) {
                leg_a
                    .handle_rtp(now + milliseconds(10), &bytes)
                    .expect("valid");
            }
            bridge.transfer_frames(now, &mut leg_a, &mut leg_b);
            drain(&mut leg_a, now);
            for bytes in drain(&mut leg_b, now) {
                let parsed = rtp::parse(&bytes).expect("valid");
                assert_eq!(parsed.header.payload_type, 8);
                decoded.extend(
                    parsed
                        .payload
                        .iter()
                        .map(|code| Codec::Pcma.decode_sample(*code)),
                );
            }
            now += milliseconds(1);
        }
        let steady = &decoded[4000..14000];
        let input_level = rms(&sine(1000.0, 10362.0, 8000));
        assert!(
            (frequency(steady) - 1000.0).abs() < 10.0,
            "{}",
            frequency(steady)
        );
        let level_db = 20.0 * (rms(steady) / input_level).log10();
        assert!(level_db.abs() < 0.5, "{level_db} dB");
        assert!(bridge.statistics().frames_transferred >= 190);
    }

    #[test]
    fn narrowband_to_g722_transcoding_resamples_a_tone() {
        let start = Instant::now();
        let mut caller = MediaSession::new(config(Codec::Pcmu, None, 0xC), start);
        let mut leg_a = MediaSession::new(config(Codec::Pcmu, None, 0xA), start);
        let mut leg_b = MediaSession::new(config(Codec::G722, None, 0xB), start);
        let mut bridge = Bridge::new(&mut leg_a, &mut leg_b);
        assert_eq!(bridge.mode(), BridgeMode::Transcode);
        caller
            .push_playout(PlayoutId(1), Arc::from(sine(700.0, 10362.0, 16000)))
            .expect("room");
        let mut decoder = G722Decoder::new();
        let mut wide = Vec::new();
        let mut now = start;
        while now < start + milliseconds(2000) {
            for bytes in drain(&mut caller, now) {
                leg_a.handle_rtp(now, &bytes).expect("valid");
            }
            bridge.transfer_frames(now, &mut leg_a, &mut leg_b);
            drain(&mut leg_a, now);
            for bytes in drain(&mut leg_b, now) {
                let parsed = rtp::parse(&bytes).expect("valid");
                assert_eq!(parsed.header.payload_type, 9);
                let mut samples = [0i16; 320];
                decoder.decode(parsed.payload, &mut samples);
                wide.extend_from_slice(&samples);
            }
            now += milliseconds(20);
        }
        // 16 kHz output: the zero-crossing estimate counts at 8 kHz, so
        // halve it.
        let steady = &wide[8000..28000];
        let measured = frequency(steady) * 2.0;
        assert!((measured - 700.0).abs() < 10.0, "{measured}");
        let level_db = 20.0 * (rms(steady) / rms(&sine(700.0, 10362.0, 8000))).log10();
        assert!(level_db.abs() < 1.0, "{level_db} dB");
    }
}

mod robustness {
    use super::*;

    #[test]
    fn random_datagrams_never_panic_a_session() {
        let start = Instant::now();
        let mut state = 0x0123_4567_89AB_CDEFu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for codec in [Codec::Pcmu, Codec::G722] {
            let mut session = MediaSession::with_options(
                config(codec, Some(101), 1),
                SessionOptions::default().with_media_timeout(milliseconds(300)),
                start,
            );
            session.set_recording(Some(RecordingChannels::Stereo));
            let mut datagram = [0u8; 600];
            let mut rtcp_buffer = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
            let mut now = start;
            for round in 0..20_000u32 {
                for byte in datagram.iter_mut() {
                    *byte = next() as u8;
                }
                datagram[0] = (datagram[0] & 0x3F) | 0x80;
                datagram[1] = match round % 4 {
                    0 => codec.payload_type(),
                    1 => 101,
                    2 => 200 + (datagram[1] % 5),
                    _ => datagram[1],
                };
                let length = (next() % 600) as usize;
                now += Duration::from_micros(next() % 40_000);
                let _ = session.handle_rtp(now, &datagram[..length]);
                let _ = session.handle_rtcp(now, &datagram[..length]);
                if round % 8 == 0 {
                    let _ = session.send_dtmf("1");
                }
                drain(&mut session, now);
                while session.poll_received_frame(now).is_some() {}
                while session.poll_recorded_frame().is_some() {}
                let _ = session.poll_rtcp(now, u64::from(round) << 32, &mut rtcp_buffer);
                events(&mut session);
            }
        }
    }
}
