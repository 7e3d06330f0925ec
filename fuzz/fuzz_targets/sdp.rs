//! SDP offer parsing, negotiation and answer rendering on arbitrary text.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use warbler_media::{AnswerParams, Codec, negotiate, parse_offer, render_answer};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = parse_offer(&text) else {
        return;
    };
    let _ = offer.audio_connection();
    let _ = offer.audio_direction();
    for preferences in [
        &[Codec::Pcmu, Codec::Pcma][..],
        &[Codec::G722, Codec::Pcmu, Codec::Pcma][..],
    ] {
        if let Ok(negotiated) = negotiate(&offer, preferences) {
            let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);
            let answer = render_answer(&AnswerParams::for_negotiated(&negotiated, local, 1, 1));
            assert!(parse_offer(&answer).is_ok());
        }
    }
});
