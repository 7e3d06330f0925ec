//! Two-leg media for bridged calls: audio received on one
//! [`MediaSession`] goes out on the other.
//!
//! The call actor owns both sessions and both sockets; the [`Bridge`]
//! owns only the little state that joins them, and every method borrows
//! the sessions it needs, so nothing is shared and nothing allocates.
//!
//! # Modes
//!
//! - [`BridgeMode::Relay`] (both legs negotiated the same codec): each
//!   audio packet received on one leg is re-sent at once on the other by
//!   [`Bridge::relay_rtp`], payload unchanged, header rewritten into the
//!   outgoing leg's SSRC, sequence and timestamp space (offsets fixed when
//!   relaying starts, so loss and reordering stay visible to the far end).
//!   The outgoing leg then sends no silence of its own; a clip or DTMF
//!   queued on it takes the floor, and relaying resumes after it with new
//!   offsets and the marker bit.
//! - [`BridgeMode::Transcode`] (different codecs): [`Bridge::transfer_frames`]
//!   moves each leg's decoded 20 ms frames (8 kHz, after its jitter
//!   buffer) into the other leg's send path, which encodes them on its own
//!   tick (upsampling for G.722).
//!
//! Telephone-events are not relayed: the receiving leg reports
//! [`MediaEvent::Dtmf`](crate::MediaEvent::Dtmf) and the caller forwards
//! the digit with [`MediaSession::send_dtmf`] on the other leg.
//!
//! # Driving
//!
//! ```text
//! on a datagram from leg A:  a.handle_rtp(now, packet)?;
//!                            if let Some(n) = bridge.relay_rtp(now, &a, &mut b, packet, &mut out) {
//!                                socket_b.send_to(&out[..n], remote_b) }
//! on a timer:                bridge.transfer_frames(now, &mut a, &mut b);   // first
//!                            a.handle_timeout(…) / b.handle_timeout(…) as usual
//! ```
//!
//! `transfer_frames` is needed in both modes (in relay mode the moved
//! frames feed the recording tap as "what we sent").

use std::time::Instant;

use crate::rtp;
use crate::session::MediaSession;

/// Largest packet [`Bridge::relay_rtp`] writes: an RTP header and a payload
/// from a full Ethernet datagram.
pub const MAXIMUM_RELAYED_PACKET_SIZE: usize = 1500;

/// How audio crosses a [`Bridge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeMode {
    /// Same codec on both legs: packets are relayed unchanged.
    Relay,
    /// Different codecs: decoded and re-encoded.
    Transcode,
}

/// Counters of a [`Bridge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgeStatistics {
    /// Packets relayed (relay mode).
    pub packets_relayed: u64,
    /// Valid packets not relayed: not audio, or the outgoing leg was
    /// playing its own media.
    pub packets_not_relayed: u64,
    /// Decoded frames moved from one leg to the other.
    pub frames_transferred: u64,
}

/// Joins two [`MediaSession`]s (legs `a` and `b`). See the module
/// documentation.
#[derive(Debug)]
pub struct Bridge {
    mode: BridgeMode,
    statistics: BridgeStatistics,
}

impl Bridge {
    /// Bridges `a` and `b`: relaying when they use the same codec,
    /// transcoding otherwise.
    pub fn new(a: &mut MediaSession, b: &mut MediaSession) -> Self {
        let mode = if a.config().codec == b.config().codec {
            BridgeMode::Relay
        } else {
            BridgeMode::Transcode
        };
        Self::with_mode(a, b, mode)
    }

    /// Bridges `a` and `b` in `mode`; [`BridgeMode::Relay`] falls back to
    /// transcoding when the codecs differ.
    pub fn with_mode(a: &mut MediaSession, b: &mut MediaSession, mode: BridgeMode) -> Self {
        let mode = if a.config().codec == b.config().codec {
            mode
        } else {
            BridgeMode::Transcode
        };
        a.set_bridge_mode(Some(mode));
        b.set_bridge_mode(Some(mode));
        Self {
            mode,
            statistics: BridgeStatistics::default(),
        }
    }

    /// The mode chosen.
    pub fn mode(&self) -> BridgeMode {
        self.mode
    }

    /// The counters.
    pub fn statistics(&self) -> BridgeStatistics {
        self.statistics
    }

    /// Ends the bridge: both legs go back to sending their own audio or
    /// silence.
    pub fn release(self, a: &mut MediaSession, b: &mut MediaSession) {
        a.set_bridge_mode(None);
        b.set_bridge_mode(None);
    }

    /// In relay mode, rewrites an RTP datagram received on leg `from`
    /// (already given to `from.handle_rtp`) into a packet of leg `to` in
    /// `output`, and returns its length for the caller to send on `to`'s
    /// socket. Returns `None` in transcode mode, for invalid or non-audio
    /// packets, while `to` plays its own media, or when `output` is too
    /// small (use [`MAXIMUM_RELAYED_PACKET_SIZE`]).
    pub fn relay_rtp(
        &mut self,
        now: Instant,
        from: &MediaSession,
        to: &mut MediaSession,
        packet: &[u8],
        output: &mut [u8],
    ) -> Option<usize> {
        if self.mode != BridgeMode::Relay {
            return None;
        }
        let parsed = rtp::parse(packet).ok()?;
        if parsed.header.payload_type != from.config().payload_type {
            self.statistics.packets_not_relayed += 1;
            return None;
        }
        let relayed = to.relay_packet(now, &parsed.header, parsed.payload, output);
        match relayed {
            Some(_) => self.statistics.packets_relayed += 1,
            None => self.statistics.packets_not_relayed += 1,
        }
        relayed
    }

    /// Moves the decoded frames due at `now` from each leg into the other
    /// leg's send path. Call before the legs' `handle_timeout`.
    pub fn transfer_frames(&mut self, now: Instant, a: &mut MediaSession, b: &mut MediaSession) {
        while let Some(frame) = a.poll_received_frame(now) {
            b.push_bridged_frame(frame.samples);
            self.statistics.frames_transferred += 1;
        }
        while let Some(frame) = b.poll_received_frame(now) {
            a.push_bridged_frame(frame.samples);
            self.statistics.frames_transferred += 1;
        }
    }
}
