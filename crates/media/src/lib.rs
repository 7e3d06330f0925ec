//! Sans-IO media core of Warbler: G.711 codecs, RTP packets, SDP
//! offer/answer and a paced RTP sender.
//!
//! Nothing here performs I/O, reads a clock or draws random numbers. The
//! caller (the "shell") owns the UDP socket and the timer, passes the
//! current time in as `now: Instant`, and supplies random values such as
//! the SSRC and the initial sequence number and timestamp. This keeps the
//! logic synchronous, deterministic and testable in virtual time.
//!
//! # Driving a [`MediaSession`]
//!
//! After any input (creation, a timer firing, a received datagram, a clip
//! pushed or cancelled):
//!
//! 1. call [`MediaSession::handle_timeout`] with the current time until it
//!    returns `None`, sending each packet it builds;
//! 2. drain [`MediaSession::poll_event`] until it returns `None`;
//! 3. call [`MediaSession::poll_timeout`] and sleep until that instant, then
//!    start over.
//!
//! The schedule is absolute (tick `n` is due at `start + n × 20 ms`), so a
//! shell that wakes late simply gets several packets from step 1 and the
//! stream does not drift. A shell more than 200 ms late gets one packet and
//! the missed ticks are skipped (see [`MediaSession`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//!
//! use warbler_media::{
//!     Codec, MAXIMUM_PACKET_SIZE, MediaEvent, MediaSession, PlayoutId, SessionConfig,
//! };
//!
//! let start = Instant::now();
//! let config = SessionConfig {
//!     codec: Codec::Pcmu,
//!     payload_type: 0,
//!     telephone_event_pt: Some(101),
//!     ssrc: 0x5EED_0001,        // random in real use
//!     initial_sequence: 4242,   // random in real use
//!     initial_timestamp: 1_000, // random in real use
//! };
//! let mut session = MediaSession::new(config, start);
//! session.push_playout(PlayoutId(1), Arc::from(vec![0i16; 800]))?;
//!
//! let mut buffer = [0u8; MAXIMUM_PACKET_SIZE];
//! let mut sent = 0;
//! let mut finished = false;
//! // A real shell sleeps until `session.poll_timeout()` and reads
//! // `Instant::now()`; here time is simulated.
//! let mut now = start;
//! while now < start + Duration::from_millis(200) {
//!     while let Some(length) = session.handle_timeout(now, &mut buffer) {
//!         let _packet = &buffer[..length]; // socket.send_to(_packet, remote)
//!         sent += 1;
//!     }
//!     while let Some(event) = session.poll_event() {
//!         finished |= event == MediaEvent::PlayoutFinished(PlayoutId(1));
//!     }
//!     now = session.poll_timeout();
//! }
//! assert_eq!(sent, 10);
//! assert!(finished);
//! # Ok::<(), warbler_media::PlayoutError>(())
//! ```
//!
//! Received datagrams go to [`MediaSession::handle_rtp`], which validates
//! and counts them, reports DTMF ([`MediaEvent::Dtmf`]) and feeds the
//! jitter buffer; [`MediaSession::stats`] reports the counters.
//!
//! The full loop of a shell that uses everything:
//!
//! 1. on an RTP datagram: [`MediaSession::handle_rtp`] (and, when
//!    bridged, [`Bridge::relay_rtp`]); on an RTCP datagram:
//!    [`MediaSession::handle_rtcp`];
//! 2. on the timer: [`Bridge::transfer_frames`] if bridged, then
//!    [`MediaSession::handle_timeout`] until `None`, then
//!    [`MediaSession::poll_rtcp`] (with the NTP wallclock);
//! 3. drain [`MediaSession::poll_event`], and if used
//!    [`MediaSession::poll_received_frame`] and
//!    [`MediaSession::poll_recorded_frame`];
//! 4. sleep until [`MediaSession::poll_timeout`].
//!
//! # Modules
//!
//! - [`codec`]: G.711 μ-law and A-law (ITU-T G.711), and the [`Codec`]
//!   enumeration including G.722.
//! - [`g722`]: ITU-T G.722 64 kbit/s encoder and decoder.
//! - [`rtp`]: RTP fixed header writing and parsing (RFC 3550 §5.1).
//! - [`rtcp`]: RTCP reports, parsing and writing (RFC 3550 §6).
//! - [`sdp`]: SDP offer parsing, codec negotiation and answer rendering
//!   (RFC 4566, RFC 3264).
//! - [`telephone_event`]: RFC 4733 DTMF events.
//! - [`dtmf_detector`]: in-band DTMF detection (Goertzel, ITU-T Q.24).
//! - [`jitter`]: the adaptive jitter buffer.
//! - [`session`]: one RTP leg, [`MediaSession`].
//! - [`bridge`]: two legs of a bridged call, [`Bridge`].

pub mod bridge;
pub mod codec;
pub mod dtmf_detector;
pub(crate) mod frames;
pub mod g722;
pub mod jitter;
pub(crate) mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod telephone_event;

pub use bridge::{Bridge, BridgeMode, BridgeStatistics, MAXIMUM_RELAYED_PACKET_SIZE};
pub use codec::Codec;
pub use dtmf_detector::{DetectedDigit, DtmfDetector};
pub use g722::{G722Decoder, G722Encoder};
pub use jitter::{InsertOutcome, JitterBuffer, JitterStatistics, ReceivedFrameKind};
pub use rtcp::{MAXIMUM_RTCP_PACKET_SIZE, ReportBlock, RtcpError, RtcpPacket, SenderInfo};
pub use rtp::{RTP_HEADER_SIZE, RtpError, RtpHeader, RtpPacket};
pub use sdp::{
    AnswerParams, AudioDescription, Direction, FormatParameters, Negotiated, OfferParams, RtpMap,
    SdpError, SessionOffer, TransportProtocol, negotiate, parse_offer, render_answer, render_offer,
};
pub use session::{
    DEFAULT_RTCP_INTERVAL, FRAME_DURATION, MAXIMUM_CATCH_UP_TICKS, MAXIMUM_PACKET_SIZE, MediaEvent,
    MediaSession, PLAYOUT_QUEUE_CAPACITY, PlayoutError, PlayoutId, QualityStatistics,
    RECEIVED_FRAME_CAPACITY, RECORDED_FRAME_CAPACITY, ReceivedFrame, RecordedFrame,
    RecordingChannels, SAMPLES_PER_FRAME, SessionConfig, SessionOptions, SessionStatistics,
};
pub use telephone_event::{DtmfError, TelephoneEvent, TelephoneEventError};
