//! RTP parsing and a session's receive path (jitter buffer, counters) on
//! arbitrary datagrams.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use warbler_media::{Codec, MAXIMUM_PACKET_SIZE, MediaSession, SessionConfig, rtp};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = rtp::parse(data) {
        assert!(packet.payload.len() <= data.len());
    }
    let start = Instant::now();
    for codec in [Codec::Pcmu, Codec::G722] {
        let config = SessionConfig {
            codec,
            payload_type: data.get(1).map_or(0, |byte| byte & 0x7F),
            telephone_event_pt: Some(101),
            ssrc: 1,
            initial_sequence: 0,
            initial_timestamp: 0,
        };
        let mut session = MediaSession::new(config, start);
        let _ = session.handle_rtp(start, data);
        let _ = session.handle_rtp(start + Duration::from_millis(20), data);
        let mut buffer = [0u8; MAXIMUM_PACKET_SIZE];
        while session
            .handle_timeout(start + Duration::from_millis(100), &mut buffer)
            .is_some()
        {}
        while session
            .poll_received_frame(start + Duration::from_millis(100))
            .is_some()
        {}
    }
});
