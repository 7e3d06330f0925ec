//! Replays every file of the fuzz corpus (`fuzz/corpus/<target>/*`, seeds
//! plus whatever `cargo fuzz` added) through every parser and the session's
//! input paths: nothing may panic. Runs on stable as a normal test.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use warbler_media::rtcp;
use warbler_media::{
    Codec, MAXIMUM_PACKET_SIZE, MAXIMUM_RTCP_PACKET_SIZE, MediaSession, RtpHeader, SessionConfig,
    negotiate, parse_offer, rtp, telephone_event,
};

fn corpus_files() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut files = Vec::new();
    for target in fs::read_dir(&root).expect("fuzz/corpus exists") {
        let target = target.expect("readable directory").path();
        if !target.is_dir() {
            continue;
        }
        let name = target
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        for file in fs::read_dir(&target).expect("readable corpus directory") {
            files.push((name.clone(), file.expect("readable entry").path()));
        }
    }
    files.sort();
    files
}

fn session(payload_type: u8) -> MediaSession {
    MediaSession::new(
        SessionConfig {
            codec: Codec::Pcmu,
            payload_type,
            telephone_event_pt: Some(101),
            ssrc: 0xA11CE,
            initial_sequence: 0,
            initial_timestamp: 0,
        },
        Instant::now(),
    )
}

fn replay(data: &[u8]) {
    let start = Instant::now();
    let _ = rtp::parse(data);
    let _ = telephone_event::parse(data);
    let _ = rtcp::parse_compound(data).count();
    if let Ok(offer) = parse_offer(&String::from_utf8_lossy(data)) {
        let _ = negotiate(&offer, &[Codec::G722, Codec::Pcmu, Codec::Pcma]);
    }
    let mut receiver = session(data.get(1).map_or(0, |byte| byte & 0x7F));
    let _ = receiver.handle_rtp(start, data);
    let _ = receiver.handle_rtcp(start, data);
    // The telephone_event target's record format: 12-byte records.
    let mut packet = [0u8; 16];
    let mut now = start;
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
        let _ = receiver.handle_rtp(now, &packet);
    }
    let mut buffer = [0u8; MAXIMUM_PACKET_SIZE];
    while receiver
        .handle_timeout(now + Duration::from_secs(1), &mut buffer)
        .is_some()
    {}
    while receiver.poll_event().is_some() {}
    let mut report = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
    let _ = receiver.poll_rtcp(now + Duration::from_secs(10), 1 << 63, &mut report);
}

#[test]
fn every_corpus_file_replays_without_panicking() {
    let files = corpus_files();
    let targets: Vec<&str> = files.iter().map(|(target, _)| target.as_str()).collect();
    for expected in ["rtp", "rtcp", "sdp", "telephone_event"] {
        assert!(targets.contains(&expected), "no seeds for {expected}");
    }
    for (_, path) in &files {
        let data = fs::read(path).expect("readable seed");
        replay(&data);
    }
}

#[test]
fn seeds_are_real_protocol_data() {
    let read = |target: &str, name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target)
            .join(name);
        fs::read(path).expect("seed exists")
    };
    let packet = read("rtp", "pcmu_tone_marker");
    let parsed = rtp::parse(&packet).expect("valid RTP");
    assert!(parsed.header.marker);
    assert_eq!(parsed.payload.len(), 160);
    assert!(rtcp::parse_compound(&read("rtcp", "sender_report_sdes")).all(|packet| packet.is_ok()));
    let offer =
        parse_offer(&String::from_utf8_lossy(&read("sdp", "g722_first_offer"))).expect("valid SDP");
    assert_eq!(
        negotiate(&offer, &[Codec::G722, Codec::Pcmu])
            .expect("negotiates")
            .codec,
        Codec::G722
    );
    assert_eq!(
        telephone_event::parse(&read("telephone_event", "end_payload"))
            .expect("valid")
            .digit(),
        Some('#')
    );
}
