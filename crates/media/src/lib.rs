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
//! and counts them; [`MediaSession::stats`] reports the counters.
//!
//! # Modules
//!
//! - [`codec`]: G.711 μ-law and A-law (ITU-T G.711).
//! - [`rtp`]: RTP fixed header writing and parsing (RFC 3550 §5.1).
//! - [`sdp`]: SDP offer parsing, codec negotiation and answer rendering
//!   (RFC 4566, RFC 3264).
//! - [`session`]: the paced sender, [`MediaSession`].

pub mod codec;
pub mod rtp;
pub mod sdp;
pub mod session;

pub use codec::Codec;
pub use rtp::{RTP_HEADER_SIZE, RtpError, RtpHeader, RtpPacket};
pub use sdp::{
    AnswerParams, AudioDescription, Direction, FormatParameters, Negotiated, RtpMap, SdpError,
    SessionOffer, TransportProtocol, negotiate, parse_offer, render_answer,
};
pub use session::{
    FRAME_DURATION, MAXIMUM_CATCH_UP_TICKS, MAXIMUM_PACKET_SIZE, MediaEvent, MediaSession,
    PLAYOUT_QUEUE_CAPACITY, PlayoutError, PlayoutId, SAMPLES_PER_FRAME, SessionConfig,
    SessionStatistics,
};
