//! RTCP compound parsing and a session's RTCP input on arbitrary
//! datagrams.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use warbler_media::rtcp::{self, RtcpPacket};
use warbler_media::{Codec, MAXIMUM_RTCP_PACKET_SIZE, MediaSession, SessionConfig};

fuzz_target!(|data: &[u8]| {
    for packet in rtcp::parse_compound(data).flatten() {
        if let RtcpPacket::SenderReport { blocks, .. } | RtcpPacket::ReceiverReport { blocks, .. } =
            packet
        {
            assert!(blocks.count() <= 31);
        }
    }
    let start = Instant::now();
    let config = SessionConfig {
        codec: Codec::Pcma,
        payload_type: 8,
        telephone_event_pt: None,
        // Let report blocks in the input match our SSRC sometimes.
        ssrc: data.get(8..12).map_or(1, |bytes| {
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        }),
        initial_sequence: 0,
        initial_timestamp: 0,
    };
    let mut session = MediaSession::new(config, start);
    let mut buffer = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
    let _ = session.write_rtcp_goodbye(start, 0xE000_0000_0000_0000, &mut buffer);
    let _ = session.handle_rtcp(start, data);
    let _ = session.quality();
});
