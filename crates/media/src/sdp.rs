//! Minimal SDP (RFC 4566) offer parsing and RFC 3264 offer/answer for one
//! audio stream.
//!
//! [`parse_offer`] reads the parts of a remote offer that matter for a
//! G.711 audio call: connection addresses, the first `m=audio` line and its
//! `a=rtpmap`, `a=fmtp`, `a=ptime`, `a=maxptime` and direction attributes.
//! Unknown lines and attributes, and every media section after the first
//! audio one, are skipped. [`negotiate`] picks a codec; [`render_answer`]
//! writes the answer.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::codec::Codec;

/// Packetisation time, in milliseconds, this crate always sends
/// (RFC 3551 §4.5: 20 ms default for G.711).
pub const SENT_PTIME_MS: u32 = 20;

/// Events advertised for `telephone-event` in answers: DTMF 0–9, *, #,
/// A–D and flash (RFC 4733 §3.2).
const TELEPHONE_EVENTS: &str = "0-16";

/// Media direction attribute (RFC 4566 §6, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: both sides send (the default when absent).
    #[default]
    SendReceive,
    /// `a=sendonly`: the side describing itself only sends.
    SendOnly,
    /// `a=recvonly`: the side describing itself only receives.
    ReceiveOnly,
    /// `a=inactive`: nobody sends.
    Inactive,
}

impl Direction {
    /// The direction an answerer uses for an offer with this direction
    /// (RFC 3264 §6.1): send-only and receive-only swap.
    pub const fn mirrored(self) -> Self {
        match self {
            Self::SendReceive => Self::SendReceive,
            Self::SendOnly => Self::ReceiveOnly,
            Self::ReceiveOnly => Self::SendOnly,
            Self::Inactive => Self::Inactive,
        }
    }

    /// The SDP attribute name (`sendrecv`, `sendonly`, `recvonly`,
    /// `inactive`).
    pub const fn attribute(self) -> &'static str {
        match self {
            Self::SendReceive => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::ReceiveOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Whether the side with this direction sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Self::SendReceive | Self::SendOnly)
    }

    /// Whether the side with this direction receives media.
    pub const fn receives(self) -> bool {
        matches!(self, Self::SendReceive | Self::ReceiveOnly)
    }

    fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendReceive),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::ReceiveOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// The transport protocol of an `m=` line (RFC 4566 §5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// `RTP/AVP`: plain RTP (RFC 3551), the only one this crate answers.
    RtpAvp,
    /// `RTP/AVPF`: RTP with RTCP feedback (RFC 4585).
    RtpAvpf,
    /// `RTP/SAVP`: SRTP (RFC 3711).
    RtpSavp,
    /// `RTP/SAVPF` or `UDP/TLS/RTP/SAVPF`: SRTP with feedback (RFC 5124,
    /// RFC 5764).
    RtpSavpf,
    /// Anything else.
    Other,
}

impl TransportProtocol {
    fn parse(token: &str) -> Self {
        match token {
            "RTP/AVP" => Self::RtpAvp,
            "RTP/AVPF" => Self::RtpAvpf,
            "RTP/SAVP" => Self::RtpSavp,
            "RTP/SAVPF" | "UDP/TLS/RTP/SAVPF" => Self::RtpSavpf,
            _ => Self::Other,
        }
    }
}

/// An `a=rtpmap` attribute (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type being described.
    pub payload_type: u8,
    /// Encoding name as written by the offerer (compare case-insensitively).
    pub encoding_name: String,
    /// Clock rate in hertz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio, when given.
    pub channels: Option<u8>,
}

/// An `a=fmtp` attribute (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatParameters {
    /// The payload type the parameters apply to.
    pub payload_type: u8,
    /// The format-specific parameters, verbatim.
    pub parameters: String,
}

/// The first audio media description of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDescription {
    /// RTP port; 0 means the offerer disabled the stream (RFC 3264 §5.1).
    pub port: u16,
    /// Transport protocol of the `m=` line.
    pub protocol: TransportProtocol,
    /// Payload types in the offerer's order of preference.
    pub formats: Vec<u8>,
    /// `a=rtpmap` attributes of this media section.
    pub rtp_maps: Vec<RtpMap>,
    /// `a=fmtp` attributes of this media section.
    pub format_parameters: Vec<FormatParameters>,
    /// `a=ptime`, in milliseconds.
    pub ptime_ms: Option<u32>,
    /// `a=maxptime`, in milliseconds.
    pub max_ptime_ms: Option<u32>,
    /// Media-level `c=` address, overriding the session-level one.
    pub connection: Option<IpAddr>,
    /// Media-level direction attribute, overriding the session-level one.
    pub direction: Option<Direction>,
}

impl AudioDescription {
    /// The `a=rtpmap` for `payload_type`, if present.
    pub fn rtp_map(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtp_maps
            .iter()
            .find(|map| map.payload_type == payload_type)
    }
}

/// The parts of a remote SDP offer relevant to an audio call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOffer {
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// The first `m=audio` section.
    pub audio: AudioDescription,
}

impl SessionOffer {
    /// The effective connection address of the audio stream: media level,
    /// else session level (RFC 4566 §5.7).
    pub fn audio_connection(&self) -> Option<IpAddr> {
        self.audio.connection.or(self.connection)
    }

    /// The effective direction of the audio stream as the offerer states
    /// it: media level, else session level, else `sendrecv`
    /// (RFC 4566 §6, RFC 3264 §5.1).
    pub fn audio_direction(&self) -> Direction {
        self.audio
            .direction
            .or(self.direction)
            .unwrap_or(Direction::SendReceive)
    }
}

/// Why an SDP offer could not be parsed or answered. Line numbers are
/// 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body does not start with a `v=` line (RFC 4566 §5).
    #[error("remote SDP does not start with a v= line")]
    MissingVersion,
    /// The `v=` line is not `v=0` (RFC 4566 §5.1).
    #[error("remote SDP line {line}: unsupported protocol version")]
    UnsupportedVersion {
        /// Line number.
        line: usize,
    },
    /// A line is not of the form `<letter>=<value>` (RFC 4566 §5).
    #[error("remote SDP line {line} is not of the form <type>=<value>")]
    MalformedLine {
        /// Line number.
        line: usize,
    },
    /// A `c=` line that matters could not be parsed (RFC 4566 §5.7).
    #[error("remote SDP line {line}: malformed or unsupported c= connection data")]
    InvalidConnection {
        /// Line number.
        line: usize,
    },
    /// The audio `m=` line could not be parsed (RFC 4566 §5.14).
    #[error("remote SDP line {line}: malformed m=audio line")]
    InvalidMedia {
        /// Line number.
        line: usize,
    },
    /// An `a=rtpmap`, `a=fmtp`, `a=ptime` or `a=maxptime` of the audio
    /// stream could not be parsed (RFC 4566 §6).
    #[error("remote SDP line {line}: malformed attribute")]
    InvalidAttribute {
        /// Line number.
        line: usize,
    },
    /// The offer has no `m=audio` line.
    #[error("remote SDP offers no audio stream")]
    NoAudioMedia,
    /// The audio stream uses a transport other than `RTP/AVP`.
    #[error("remote SDP offers audio over {protocol:?}; only RTP/AVP is supported")]
    UnsupportedTransport {
        /// The offered transport.
        protocol: TransportProtocol,
    },
    /// None of the offered codecs is among ours; answer 488 Not Acceptable
    /// Here (RFC 3261 §13.3.1.1).
    #[error("remote SDP offers no codec we support")]
    NoCommonCodec,
}

/// Which part of the SDP body the parser is in.
enum Section {
    /// Before the first `m=` line.
    Session,
    /// Inside the first `m=audio` section.
    Audio(AudioDescription),
    /// After the first audio section has been completed, or inside any
    /// other media section before it.
    Ignored,
}

/// Parses a remote SDP offer (RFC 4566), keeping the first audio stream.
///
/// Accepts CRLF or bare LF line endings, blank lines and trailing
/// whitespace; skips unknown line types and attributes, and every media
/// section other than the first `m=audio`.
pub fn parse_offer(text: &str) -> Result<SessionOffer, SdpError> {
    let mut lines = text
        .split('\n')
        .map(str::trim_end)
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.is_empty());

    // RFC 4566 §5: the body starts with v=0.
    match lines.next() {
        Some((line_number, line)) => match split_line(line) {
            Some(('v', "0")) => {}
            Some(('v', _)) => {
                return Err(SdpError::UnsupportedVersion { line: line_number });
            }
            _ => return Err(SdpError::MissingVersion),
        },
        None => return Err(SdpError::MissingVersion),
    }

    let mut session_connection = None;
    let mut session_direction = None;
    let mut audio = None;
    let mut section = Section::Session;

    for (line_number, line) in lines {
        let (kind, value) =
            split_line(line).ok_or(SdpError::MalformedLine { line: line_number })?;
        match (&mut section, kind) {
            (_, 'm') => {
                // A new media section ends the current one.
                if let Section::Audio(finished) = std::mem::replace(&mut section, Section::Ignored)
                {
                    audio = Some(finished);
                }
                if audio.is_none() && value.split(' ').next() == Some("audio") {
                    section = Section::Audio(parse_media(value, line_number)?);
                }
            }
            (Section::Session, 'c') => {
                session_connection = Some(parse_connection(value, line_number)?);
            }
            (Section::Session, 'a') => {
                if let Some(direction) = Direction::from_attribute(value) {
                    session_direction = Some(direction);
                }
            }
            (Section::Audio(description), 'c') => {
                description.connection = Some(parse_connection(value, line_number)?);
            }
            (Section::Audio(description), 'a') => {
                parse_audio_attribute(description, value, line_number)?;
            }
            _ => {}
        }
    }
    if let Section::Audio(finished) = section {
        audio = Some(finished);
    }

    Ok(SessionOffer {
        connection: session_connection,
        direction: session_direction,
        audio: audio.ok_or(SdpError::NoAudioMedia)?,
    })
}

/// Splits `x=value` into its type letter and value (RFC 4566 §5).
fn split_line(line: &str) -> Option<(char, &str)> {
    let mut characters = line.chars();
    let kind = characters.next().filter(char::is_ascii_lowercase)?;
    let value = characters.as_str().strip_prefix('=')?;
    Some((kind, value))
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 4566 §5.7).
fn parse_connection(value: &str, line_number: usize) -> Result<IpAddr, SdpError> {
    let invalid = SdpError::InvalidConnection { line: line_number };
    let mut fields = value.split_ascii_whitespace();
    let (Some("IN"), Some(address_type), Some(address), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(invalid);
    };
    // Multicast addresses may carry /ttl and /count suffixes.
    let address = address.split('/').next().unwrap_or(address);
    let address: IpAddr = address.parse().map_err(|_| invalid)?;
    match (address_type, address) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(address),
        _ => Err(invalid),
    }
}

/// `m=audio <port>[/<count>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn parse_media(value: &str, line_number: usize) -> Result<AudioDescription, SdpError> {
    let invalid = SdpError::InvalidMedia { line: line_number };
    let mut fields = value.split_ascii_whitespace().skip(1);
    let port = fields.next().ok_or(invalid)?;
    let port = port.split('/').next().unwrap_or(port);
    let port: u16 = port.parse().map_err(|_| invalid)?;
    let protocol = TransportProtocol::parse(fields.next().ok_or(invalid)?);
    let formats = fields
        .map(|format| match format.parse::<u8>() {
            // RFC 3550 §5.1: payload types are 7 bits.
            Ok(payload_type) if payload_type <= 127 => Ok(payload_type),
            _ => Err(invalid),
        })
        .collect::<Result<Vec<u8>, SdpError>>()?;
    if formats.is_empty() {
        return Err(invalid);
    }
    Ok(AudioDescription {
        port,
        protocol,
        formats,
        rtp_maps: Vec::new(),
        format_parameters: Vec::new(),
        ptime_ms: None,
        max_ptime_ms: None,
        connection: None,
        direction: None,
    })
}

/// Applies one `a=` line of the audio section (RFC 4566 §6).
fn parse_audio_attribute(
    description: &mut AudioDescription,
    value: &str,
    line_number: usize,
) -> Result<(), SdpError> {
    let invalid = SdpError::InvalidAttribute { line: line_number };
    let (name, argument) = match value.split_once(':') {
        Some((name, argument)) => (name, Some(argument.trim())),
        None => (value, None),
    };
    match (name, argument) {
        ("rtpmap", Some(argument)) => {
            description
                .rtp_maps
                .push(parse_rtp_map(argument).ok_or(invalid)?);
        }
        ("fmtp", Some(argument)) => {
            let (payload_type, parameters) = argument.split_once(' ').unwrap_or((argument, ""));
            description.format_parameters.push(FormatParameters {
                payload_type: payload_type.parse().map_err(|_| invalid)?,
                parameters: parameters.trim().to_owned(),
            });
        }
        ("ptime", Some(argument)) => {
            description.ptime_ms = Some(parse_milliseconds(argument).ok_or(invalid)?);
        }
        ("maxptime", Some(argument)) => {
            description.max_ptime_ms = Some(parse_milliseconds(argument).ok_or(invalid)?);
        }
        (name, None) => {
            if let Some(direction) = Direction::from_attribute(name) {
                description.direction = Some(direction);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
fn parse_rtp_map(argument: &str) -> Option<RtpMap> {
    let (payload_type, encoding) = argument.split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    let encoding_name = parts.next().filter(|name| !name.is_empty())?;
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = parts.next().map(str::parse).transpose().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type: payload_type.parse().ok()?,
        encoding_name: encoding_name.to_owned(),
        clock_rate,
        channels,
    })
}

/// A whole number of milliseconds; a fractional part (`20.0`, seen in the
/// wild) is truncated.
fn parse_milliseconds(argument: &str) -> Option<u32> {
    let (whole, fraction) = argument.split_once('.').unwrap_or((argument, "0"));
    if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    whole.parse().ok()
}

/// The outcome of RFC 3264 negotiation for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen codec.
    pub codec: Codec,
    /// The payload type the offer uses for it; the answer and both RTP
    /// directions use the same number (RFC 3264 §6.1).
    pub payload_type: u8,
    /// The offer's `telephone-event/8000` payload type (RFC 4733), if any.
    pub telephone_event: Option<u8>,
    /// Where to send RTP; `None` when the offer's address is unspecified
    /// (`0.0.0.0`, the RFC 2543 hold idiom), missing, or its port is 0.
    pub remote: Option<SocketAddr>,
    /// The packetisation time the offerer wants to receive (`a=ptime`),
    /// 20 ms when absent. Advisory: [`MediaSession`](crate::MediaSession)
    /// always sends 20 ms frames.
    pub ptime_ms: u32,
    /// Our direction for the answer: the offer's, mirrored (RFC 3264 §6.1).
    pub direction: Direction,
}

/// Chooses the audio codec for an answer (RFC 3264 §6.1).
///
/// Walks the offer's payload types in the offer's order and takes the first
/// codec that is in `preferences` (which therefore only says what we
/// accept). Payload types 0, 8 and 9 (G.722) are recognised without
/// `a=rtpmap` (RFC 3551 §6); any payload type with an `a=rtpmap` is matched
/// by encoding name (case-insensitively) and an 8000 Hz mono clock
/// (`G722/8000`, RFC 3551 §4.5.2; `G722/16000` is tolerated).
///
/// Returns [`SdpError::NoCommonCodec`] when nothing matches (the caller
/// answers 488), and [`SdpError::UnsupportedTransport`] for anything but
/// `RTP/AVP`.
pub fn negotiate(offer: &SessionOffer, preferences: &[Codec]) -> Result<Negotiated, SdpError> {
    let audio = &offer.audio;
    if audio.protocol != TransportProtocol::RtpAvp {
        return Err(SdpError::UnsupportedTransport {
            protocol: audio.protocol,
        });
    }
    let (codec, payload_type) = audio
        .formats
        .iter()
        .find_map(|&payload_type| {
            let codec = match audio.rtp_map(payload_type) {
                Some(map) if is_mono_8000(map) => Codec::from_name(&map.encoding_name),
                // RFC 3551 §4.5.2: G.722's RTP clock is 8000 although it
                // samples at 16 kHz; some peers write the sampling rate.
                Some(map)
                    if map.clock_rate == 16000
                        && Codec::from_name(&map.encoding_name) == Some(Codec::G722) =>
                {
                    Some(Codec::G722)
                }
                Some(_) => None,
                None => Codec::from_static_payload_type(payload_type),
            }?;
            preferences
                .contains(&codec)
                .then_some((codec, payload_type))
        })
        .ok_or(SdpError::NoCommonCodec)?;

    let telephone_event = audio.formats.iter().copied().find(|&payload_type| {
        audio.rtp_map(payload_type).is_some_and(|map| {
            map.encoding_name.eq_ignore_ascii_case("telephone-event") && map.clock_rate == 8000
        })
    });

    let remote = offer
        .audio_connection()
        .filter(|address| !address.is_unspecified() && audio.port != 0)
        .map(|address| SocketAddr::new(address, audio.port));

    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        remote,
        ptime_ms: audio.ptime_ms.unwrap_or(SENT_PTIME_MS),
        direction: offer.audio_direction().mirrored(),
    })
}

fn is_mono_8000(map: &RtpMap) -> bool {
    map.clock_rate == 8000 && matches!(map.channels, None | Some(1))
}

/// Everything [`render_answer`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerParams {
    /// `o=` session id (RFC 4566 §5.2); chosen by the caller, stable for
    /// the dialog.
    pub session_id: u64,
    /// `o=` session version; increment for every new SDP in the dialog.
    pub session_version: u64,
    /// Our RTP address, written to `o=` and `c=`.
    pub local_address: IpAddr,
    /// Our RTP port, written to `m=`.
    pub local_port: u16,
    /// The chosen codec.
    pub codec: Codec,
    /// The chosen codec's payload type (from [`Negotiated::payload_type`]).
    pub payload_type: u8,
    /// The `telephone-event` payload type, if the offer had one.
    pub telephone_event: Option<u8>,
    /// Our direction (from [`Negotiated::direction`]).
    pub direction: Direction,
}

impl AnswerParams {
    /// Answer parameters for a negotiation result and our RTP socket
    /// address.
    pub fn for_negotiated(
        negotiated: &Negotiated,
        local: SocketAddr,
        session_id: u64,
        session_version: u64,
    ) -> Self {
        Self {
            session_id,
            session_version,
            local_address: local.ip(),
            local_port: local.port(),
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
            direction: negotiated.direction,
        }
    }
}

/// Renders a complete SDP answer (RFC 4566 §5, RFC 3264 §6.1) with CRLF
/// line endings.
pub fn render_answer(params: &AnswerParams) -> String {
    let address_type = match params.local_address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let address = params.local_address;
    let mut sdp = String::with_capacity(320);
    // Writing to a String cannot fail; the results are discarded.
    let _ = write!(
        sdp,
        "v=0\r\n\
         o=warbler {} {} IN {address_type} {address}\r\n\
         s=-\r\n\
         c=IN {address_type} {address}\r\n\
         t=0 0\r\n\
         m=audio {} RTP/AVP {}",
        params.session_id, params.session_version, params.local_port, params.payload_type,
    );
    if let Some(event) = params.telephone_event {
        let _ = write!(sdp, " {event}");
    }
    let _ = write!(
        sdp,
        "\r\na=rtpmap:{} {}/{}\r\n",
        params.payload_type,
        params.codec.name(),
        params.codec.clock_rate()
    );
    if let Some(event) = params.telephone_event {
        let _ = write!(
            sdp,
            "a=rtpmap:{event} telephone-event/8000\r\na=fmtp:{event} {TELEPHONE_EVENTS}\r\n"
        );
    }
    let _ = write!(
        sdp,
        "a=ptime:{SENT_PTIME_MS}\r\na={}\r\n",
        params.direction.attribute()
    );
    sdp
}

/// What to put in an SDP offer of ours (an outbound call, RFC 3264 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferParams<'codecs> {
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version.
    pub session_version: u64,
    /// Our RTP address (`c=` and `m=` port).
    pub local: SocketAddr,
    /// The codecs we offer, most preferred first (static payload types).
    pub codecs: &'codecs [Codec],
    /// The dynamic payload type we offer `telephone-event/8000` on (RFC 4733 §7.1.1).
    pub telephone_event: u8,
}

/// Renders a complete SDP offer (RFC 4566 §5, RFC 3264 §5) with CRLF line endings. The answer
/// is read back with [`parse_offer`] and [`negotiate`] (the answer names the chosen codec).
pub fn render_offer(params: &OfferParams<'_>) -> String {
    let address_type = match params.local.ip() {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let address = params.local.ip();
    let mut sdp = String::with_capacity(400);
    // Writing to a String cannot fail; the results are discarded.
    let _ = write!(
        sdp,
        "v=0\r\n\
         o=warbler {} {} IN {address_type} {address}\r\n\
         s=-\r\n\
         c=IN {address_type} {address}\r\n\
         t=0 0\r\n\
         m=audio {} RTP/AVP",
        params.session_id,
        params.session_version,
        params.local.port(),
    );
    for codec in params.codecs {
        let _ = write!(sdp, " {}", codec.payload_type());
    }
    let _ = write!(sdp, " {}\r\n", params.telephone_event);
    for codec in params.codecs {
        let _ = write!(
            sdp,
            "a=rtpmap:{} {}/{}\r\n",
            codec.payload_type(),
            codec.name(),
            codec.clock_rate()
        );
    }
    let event = params.telephone_event;
    let _ = write!(
        sdp,
        "a=rtpmap:{event} telephone-event/8000\r\na=fmtp:{event} {TELEPHONE_EVENTS}\r\n\
         a=ptime:{SENT_PTIME_MS}\r\na=sendrecv\r\n"
    );
    sdp
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn our_offer_parses_and_an_answer_to_it_negotiates() {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 20_000));
        let offer = render_offer(&OfferParams {
            session_id: 7,
            session_version: 1,
            local,
            codecs: &[Codec::Pcmu, Codec::Pcma],
            telephone_event: 101,
        });
        assert!(
            offer.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        let parsed = parse_offer(&offer).expect("our offer parses");
        let negotiated = negotiate(&parsed, &[Codec::Pcma, Codec::Pcmu]).expect("negotiates");
        assert_eq!(negotiated.codec, Codec::Pcmu, "the offer's order wins");
        assert_eq!(negotiated.telephone_event, Some(101));
        assert_eq!(negotiated.remote, Some(local));
    }

    const BARESIP_OFFER: &str = "v=0\r\n\
        o=- 1993739234 3398466364 IN IP4 192.168.1.20\r\n\
        s=-\r\n\
        c=IN IP4 192.168.1.20\r\n\
        t=0 0\r\n\
        a=tool:baresip 3.10.1\r\n\
        m=audio 10626 RTP/AVP 0 8 101\r\n\
        b=AS:64\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=sendrecv\r\n\
        a=label:1\r\n\
        a=rtcp-rsize\r\n\
        a=ssrc:3116542346 cname:7f3c1e2a-1b0e-4b8a-9a2c-1d2e3f4a5b6c\r\n\
        a=ptime:20\r\n";

    /// SIPp's `uac_pcap` scenario offer (LF endings, as in the XML file).
    const SIPP_PCMU_OFFER: &str = "v=0\n\
        o=user1 53655765 2353687637 IN IP4 127.0.0.1\n\
        s=-\n\
        c=IN IP4 127.0.0.1\n\
        t=0 0\n\
        m=audio 6000 RTP/AVP 0 101\n\
        a=rtpmap:0 PCMU/8000\n\
        a=rtpmap:101 telephone-event/8000\n\
        a=fmtp:101 0-11,16\n";

    const SIPP_PCMA_OFFER: &str = "v=0\r\n\
        o=user1 53655765 2353687637 IN IP4 10.0.0.5\r\n\
        s=-\r\n\
        c=IN IP4 10.0.0.5\r\n\
        t=0 0\r\n\
        m=audio 6002 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-11,16\r\n";

    const CARRIER_OFFER: &str = "v=0\r\n\
        o=Sonus_UAC 245118 807054 IN IP4 203.0.113.10\r\n\
        s=SIP Media Capabilities\r\n\
        c=IN IP4 203.0.113.20\r\n\
        t=0 0\r\n\
        m=audio 4000 RTP/AVP 8 0 9 101\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:9 G722/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=sendrecv\r\n\
        a=maxptime:40\r\n";

    const G729_ONLY_OFFER: &str = "v=0\r\n\
        o=- 1 1 IN IP4 198.51.100.7\r\n\
        s=-\r\n\
        c=IN IP4 198.51.100.7\r\n\
        t=0 0\r\n\
        m=audio 20000 RTP/AVP 18\r\n\
        a=rtpmap:18 G729/8000\r\n\
        a=fmtp:18 annexb=no\r\n";

    const BOTH: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    #[test]
    fn baresip_offer_negotiates_pcmu_with_telephone_events() {
        let offer = parse_offer(BARESIP_OFFER).expect("parses");
        assert_eq!(offer.audio.formats, [0, 8, 101]);
        assert_eq!(offer.audio.ptime_ms, Some(20));
        assert_eq!(
            offer.audio.format_parameters,
            [FormatParameters {
                payload_type: 101,
                parameters: "0-15".to_owned()
            }]
        );
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(
            negotiated,
            Negotiated {
                codec: Codec::Pcmu,
                payload_type: 0,
                telephone_event: Some(101),
                remote: Some("192.168.1.20:10626".parse().expect("literal")),
                ptime_ms: 20,
                direction: Direction::SendReceive,
            }
        );
    }

    #[test]
    fn offer_order_wins_over_preference_order() {
        let offer = parse_offer(BARESIP_OFFER).expect("parses");
        let negotiated = negotiate(&offer, &[Codec::Pcma, Codec::Pcmu]).expect("negotiates");
        assert_eq!(negotiated.codec, Codec::Pcmu);
        let negotiated = negotiate(&offer, &[Codec::Pcma]).expect("negotiates");
        assert_eq!(
            (negotiated.codec, negotiated.payload_type),
            (Codec::Pcma, 8)
        );
    }

    #[test]
    fn sipp_offers_negotiate_with_lf_and_crlf_endings() {
        let pcmu =
            negotiate(&parse_offer(SIPP_PCMU_OFFER).expect("parses"), &BOTH).expect("negotiates");
        assert_eq!(pcmu.codec, Codec::Pcmu);
        assert_eq!(pcmu.telephone_event, Some(101));
        assert_eq!(
            pcmu.remote,
            Some("127.0.0.1:6000".parse().expect("literal"))
        );

        let pcma =
            negotiate(&parse_offer(SIPP_PCMA_OFFER).expect("parses"), &BOTH).expect("negotiates");
        assert_eq!((pcma.codec, pcma.payload_type), (Codec::Pcma, 8));
        assert_eq!(pcma.remote, Some("10.0.0.5:6002".parse().expect("literal")));
        assert_eq!(
            negotiate(
                &parse_offer(SIPP_PCMA_OFFER).expect("parses"),
                &[Codec::Pcmu]
            ),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn carrier_offer_uses_session_level_connection() {
        let offer = parse_offer(CARRIER_OFFER).expect("parses");
        assert_eq!(offer.audio.connection, None);
        assert_eq!(offer.audio.max_ptime_ms, Some(40));
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(negotiated.codec, Codec::Pcma);
        assert_eq!(negotiated.payload_type, 8);
        assert_eq!(negotiated.telephone_event, Some(101));
        assert_eq!(
            negotiated.remote,
            Some("203.0.113.20:4000".parse().expect("literal"))
        );
        assert_eq!(negotiated.ptime_ms, 20);
    }

    #[test]
    fn g722_is_chosen_when_offered_first_and_preferred() {
        let offer = parse_offer(
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 9 0 8 101\r\n\
             a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .expect("parses");
        let preferred = [Codec::G722, Codec::Pcmu, Codec::Pcma];
        let negotiated = negotiate(&offer, &preferred).expect("negotiates");
        assert_eq!(
            (negotiated.codec, negotiated.payload_type),
            (Codec::G722, 9)
        );
        // Without G.722 among ours, the next offered codec wins.
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(negotiated.codec, Codec::Pcmu);
        // The carrier offers PCMA first: offer order wins.
        let carrier = parse_offer(CARRIER_OFFER).expect("parses");
        assert_eq!(
            negotiate(&carrier, &preferred).expect("negotiates").codec,
            Codec::Pcma
        );
        // Static payload type 9 needs no rtpmap; G722/16000 is tolerated.
        for text in [
            "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 9\n",
            "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 9\na=rtpmap:9 G722/16000\n",
        ] {
            let offer = parse_offer(text).expect("parses");
            assert_eq!(
                negotiate(&offer, &preferred).expect("negotiates").codec,
                Codec::G722
            );
        }
        let params = AnswerParams::for_negotiated(
            &negotiate(&offer, &preferred).expect("negotiates"),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 4002),
            1,
            1,
        );
        let answer = render_answer(&params);
        assert!(answer.contains("\r\nm=audio 4002 RTP/AVP 9 101\r\n"));
        assert!(answer.contains("\r\na=rtpmap:9 G722/8000\r\n"));
    }

    #[test]
    fn g729_only_offer_has_no_common_codec() {
        let offer = parse_offer(G729_ONLY_OFFER).expect("parses");
        assert_eq!(negotiate(&offer, &BOTH), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let offer =
            parse_offer("v=0\nc=IN IP4 10.1.1.1\nm=audio 5004 RTP/AVP 18 8 0\n").expect("parses");
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(
            (negotiated.codec, negotiated.payload_type),
            (Codec::Pcma, 8)
        );
        assert_eq!(negotiated.telephone_event, None);
    }

    #[test]
    fn dynamic_payload_types_match_by_name_case_insensitively() {
        let offer = parse_offer(
            "v=0\nc=IN IP4 10.1.1.1\nm=audio 5004 RTP/AVP 96 97 98\n\
             a=rtpmap:96 opus/48000/2\na=rtpmap:97 pcma/8000/1\n\
             a=rtpmap:98 Telephone-Event/8000\n",
        )
        .expect("parses");
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(
            (negotiated.codec, negotiated.payload_type),
            (Codec::Pcma, 97)
        );
        assert_eq!(negotiated.telephone_event, Some(98));
    }

    #[test]
    fn media_level_connection_and_direction_override_session_level() {
        let offer = parse_offer(
            "v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\nt=0 0\r\n\
             m=audio 7000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\na=recvonly\r\n",
        )
        .expect("parses");
        assert_eq!(offer.audio_direction(), Direction::ReceiveOnly);
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(
            negotiated.remote,
            Some("10.0.0.2:7000".parse().expect("literal"))
        );
        assert_eq!(negotiated.direction, Direction::SendOnly);
    }

    #[test]
    fn session_level_direction_applies_and_is_mirrored() {
        let offer = parse_offer("v=0\nc=IN IP4 10.0.0.1\na=sendonly\nm=audio 7000 RTP/AVP 0\n")
            .expect("parses");
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        assert_eq!(negotiated.direction, Direction::ReceiveOnly);
    }

    #[test]
    fn hold_address_and_port_zero_give_no_remote() {
        let hold = parse_offer("v=0\nc=IN IP4 0.0.0.0\nm=audio 7000 RTP/AVP 0\n").expect("parses");
        assert_eq!(negotiate(&hold, &BOTH).expect("negotiates").remote, None);
        let disabled =
            parse_offer("v=0\nc=IN IP4 10.0.0.1\nm=audio 0 RTP/AVP 0\n").expect("parses");
        assert_eq!(
            negotiate(&disabled, &BOTH).expect("negotiates").remote,
            None
        );
    }

    #[test]
    fn only_the_first_audio_section_counts() {
        let offer = parse_offer(
            "v=0\nc=IN IP4 10.0.0.1\n\
             m=video 9000 RTP/AVP 96\na=rtpmap:96 H264/90000\nc=IN IP4 junk\n\
             m=audio 7000 RTP/AVP 8\na=ptime:30\n\
             m=audio 7002 RTP/AVP 0\na=ptime:garbage\n",
        )
        .expect("parses");
        assert_eq!(offer.audio.port, 7000);
        assert_eq!(offer.audio.formats, [8]);
        assert_eq!(offer.audio.ptime_ms, Some(30));
    }

    #[test]
    fn secure_transport_is_refused() {
        let offer =
            parse_offer("v=0\nc=IN IP4 10.0.0.1\nm=audio 7000 RTP/SAVP 0\n").expect("parses");
        assert_eq!(
            negotiate(&offer, &BOTH),
            Err(SdpError::UnsupportedTransport {
                protocol: TransportProtocol::RtpSavp
            })
        );
    }

    #[test]
    fn garbage_is_rejected_with_typed_errors() {
        assert_eq!(parse_offer(""), Err(SdpError::MissingVersion));
        assert_eq!(parse_offer("\r\n\r\n"), Err(SdpError::MissingVersion));
        assert_eq!(parse_offer("hello world"), Err(SdpError::MissingVersion));
        assert_eq!(
            parse_offer("v=1\n"),
            Err(SdpError::UnsupportedVersion { line: 1 })
        );
        assert_eq!(
            parse_offer("v=0\nthis is not sdp\n"),
            Err(SdpError::MalformedLine { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nc=IN IP4 not-an-address\nm=audio 1 RTP/AVP 0\n"),
            Err(SdpError::InvalidConnection { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nc=IN IP4 ::1\nm=audio 1 RTP/AVP 0\n"),
            Err(SdpError::InvalidConnection { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nm=audio 70000 RTP/AVP 0\n"),
            Err(SdpError::InvalidMedia { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nm=audio 7000 RTP/AVP\n"),
            Err(SdpError::InvalidMedia { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nm=audio 7000 RTP/AVP 0 200\n"),
            Err(SdpError::InvalidMedia { line: 2 })
        );
        assert_eq!(
            parse_offer("v=0\nm=audio 7000 RTP/AVP 0\na=rtpmap:0 PCMU\n"),
            Err(SdpError::InvalidAttribute { line: 3 })
        );
        assert_eq!(
            parse_offer("v=0\nm=audio 7000 RTP/AVP 0\na=ptime:soon\n"),
            Err(SdpError::InvalidAttribute { line: 3 })
        );
        assert_eq!(
            parse_offer("v=0\nm=video 7000 RTP/AVP 96\n"),
            Err(SdpError::NoAudioMedia)
        );
    }

    #[test]
    fn unknown_lines_and_fractional_ptime_are_tolerated() {
        let offer = parse_offer(
            "v=0\no=- 0 0 IN IP4 10.0.0.1\ns=x\ni=info\nu=http://x\nz=0 0\nk=clear:x\n\
             b=CT:64\nc=IN IP4 224.2.1.1/127/3\na=group:BUNDLE 0\nm=audio 7000/2 RTP/AVP 0\n\
             i=audio\nb=AS:64\nk=prompt\na=ptime:20.0\na=x-custom\na=rtcp:7001\n",
        )
        .expect("parses");
        assert_eq!(
            offer.connection,
            Some("224.2.1.1".parse().expect("literal"))
        );
        assert_eq!(offer.audio.port, 7000);
        assert_eq!(offer.audio.ptime_ms, Some(20));
    }

    #[test]
    fn mutated_offers_never_panic() {
        // xorshift64 (Marsaglia 2003); deterministic, no external crate.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"v=0mac IN IP4 1.2/:RTP/AVP 0 8 101 rtpmap ptime \r\n\xC3\xA9";
        for seed in [
            BARESIP_OFFER,
            SIPP_PCMU_OFFER,
            CARRIER_OFFER,
            G729_ONLY_OFFER,
        ] {
            for _ in 0..5_000 {
                let mut bytes = seed.as_bytes().to_vec();
                for _ in 0..(next() % 8 + 1) {
                    let position = (next() % bytes.len() as u64) as usize;
                    match next() % 3 {
                        0 => bytes[position] = alphabet[(next() % alphabet.len() as u64) as usize],
                        1 => bytes.truncate(position),
                        _ => {
                            bytes.remove(position);
                        }
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                let text = String::from_utf8_lossy(&bytes);
                if let Ok(offer) = parse_offer(&text) {
                    let _ = negotiate(&offer, &BOTH);
                }
            }
        }
    }

    #[test]
    fn answer_to_baresip_offer_is_complete() {
        let offer = parse_offer(BARESIP_OFFER).expect("parses");
        let negotiated = negotiate(&offer, &BOTH).expect("negotiates");
        let params = AnswerParams::for_negotiated(
            &negotiated,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)), 30000),
            42,
            1,
        );
        assert_eq!(
            render_answer(&params),
            "v=0\r\n\
             o=warbler 42 1 IN IP4 192.168.1.5\r\n\
             s=-\r\n\
             c=IN IP4 192.168.1.5\r\n\
             t=0 0\r\n\
             m=audio 30000 RTP/AVP 0 101\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn answer_without_telephone_event_mirrors_direction() {
        let params = AnswerParams {
            session_id: 7,
            session_version: 8,
            local_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
            local_port: 4002,
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event: None,
            direction: Direction::SendOnly.mirrored(),
        };
        let answer = render_answer(&params);
        assert!(answer.contains("\r\nm=audio 4002 RTP/AVP 8\r\n"));
        assert!(answer.contains("\r\na=rtpmap:8 PCMA/8000\r\n"));
        assert!(!answer.contains("telephone-event"));
        assert!(answer.ends_with("\r\na=recvonly\r\n"));
    }

    #[test]
    fn rendered_answer_parses_as_an_offer() {
        let params = AnswerParams {
            session_id: 1,
            session_version: 2,
            local_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
            local_port: 4002,
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            direction: Direction::Inactive,
        };
        let reparsed = parse_offer(&render_answer(&params)).expect("parses");
        let negotiated = negotiate(&reparsed, &BOTH).expect("negotiates");
        assert_eq!(negotiated.codec, Codec::Pcmu);
        assert_eq!(negotiated.telephone_event, Some(101));
        assert_eq!(negotiated.direction, Direction::Inactive);
        assert_eq!(
            negotiated.remote,
            Some("10.0.0.9:4002".parse().expect("literal"))
        );
    }
}
