//! RFC 4733 payload parsing, and the session's telephone-event receiver
//! fed a trace decoded from the input.
//!
//! Input: the whole input as one payload, then records of 12 bytes:
//! sequence (2), timestamp (4), SSRC selector (1), milliseconds since the
//! previous packet (1), payload (4).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use warbler_media::{
    Codec, MAXIMUM_PACKET_SIZE, MediaEvent, MediaSession, RtpHeader, SessionConfig, telephone_event,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = telephone_event::parse(data) {
        let mut buffer = [0u8; 4];
        event.write_into(&mut buffer);
        assert_eq!(telephone_event::parse(&buffer), Ok(event));
    }
    let start = Instant::now();
    let config = SessionConfig {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event_pt: Some(101),
        ssrc: 1,
        initial_sequence: 0,
        initial_timestamp: 0,
    };
    let mut session = MediaSession::new(config, start);
    let mut now = start;
    let mut packet = [0u8; 16];
    let mut reported = 0usize;
    let mut buffer = [0u8; MAXIMUM_PACKET_SIZE];
    for record in data.chunks_exact(12) {
        now += Duration::from_millis(u64::from(record[7]));
        RtpHeader {
            payload_type: 101,
            marker: false,
            sequence: u16::from_be_bytes([record[0], record[1]]),
            timestamp: u32::from_be_bytes([record[2], record[3], record[4], record[5]]),
            ssrc: u32::from(record[6] & 3),
        }
        .write_into(&mut packet);
        packet[12..].copy_from_slice(&record[8..12]);
        let _ = session.handle_rtp(now, &packet);
        while session.handle_timeout(now, &mut buffer).is_some() {}
        while let Some(event) = session.poll_event() {
            if matches!(event, MediaEvent::Dtmf { .. }) {
                reported += 1;
            }
        }
    }
    // At most one report per distinct event packet.
    assert!(reported <= data.len() / 12);
});
