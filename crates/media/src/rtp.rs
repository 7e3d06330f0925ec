//! RTP fixed header (RFC 3550 §5.1): writing and validating parsing.
//!
//! [`parse`] accepts any byte slice and never panics; everything that does
//! not form a well-formed RTP packet is reported as an [`RtpError`].

use thiserror::Error;

/// Size in bytes of the fixed RTP header without CSRCs (RFC 3550 §5.1).
pub const RTP_HEADER_SIZE: usize = 12;

/// The only RTP version in use (RFC 3550 §5.1, field `V`).
const RTP_VERSION: u8 = 2;

/// The fields of an RTP header this crate reads and writes.
///
/// CSRC lists, header extensions and padding are skipped when parsing and
/// never written (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpHeader {
    /// Payload type, 7 bits (RFC 3550 §5.1 `PT`); higher bits are dropped
    /// when writing.
    pub payload_type: u8,
    /// Marker bit (RFC 3550 §5.1 `M`); for audio it flags the first packet
    /// of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Sequence number, incremented by one per packet sent.
    pub sequence: u16,
    /// Sampling instant of the first payload octet, in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source identifier.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte fixed header (version 2, no padding, no
    /// extension, no CSRC) to the start of `buffer` and returns
    /// [`RTP_HEADER_SIZE`].
    ///
    /// # Panics
    ///
    /// Panics if `buffer` is shorter than [`RTP_HEADER_SIZE`]; the buffer is
    /// supplied by the local caller, so this is a programming error.
    pub fn write_into(&self, buffer: &mut [u8]) -> usize {
        assert!(
            buffer.len() >= RTP_HEADER_SIZE,
            "RTP header needs {RTP_HEADER_SIZE} bytes, buffer has {}",
            buffer.len()
        );
        // RFC 3550 §5.1: V=2, P=0, X=0, CC=0.
        buffer[0] = RTP_VERSION << 6;
        buffer[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        buffer[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        buffer[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buffer[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        RTP_HEADER_SIZE
    }
}

/// A parsed RTP packet borrowing its payload from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'packet> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// The payload, after CSRCs and header extension, without padding.
    pub payload: &'packet [u8],
}

/// Why a datagram is not a valid RTP packet. Always the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header (RFC 3550 §5.1).
    #[error("remote sent a {length}-byte datagram, shorter than the 12-byte RTP header")]
    TooShort {
        /// Length of the datagram received.
        length: usize,
    },
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("remote sent an RTP packet with version {version}, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The CSRC count promises more identifiers than the packet holds
    /// (RFC 3550 §5.1 `CC`).
    #[error("remote sent an RTP packet announcing {count} CSRCs that do not fit in it")]
    TruncatedCsrcList {
        /// The CSRC count from the header.
        count: u8,
    },
    /// The X bit is set but the header extension does not fit in the packet
    /// (RFC 3550 §5.3.1).
    #[error("remote sent an RTP packet whose header extension runs past its end")]
    TruncatedExtension,
    /// The P bit is set but the padding count is zero or longer than the
    /// payload (RFC 3550 §5.1 `P`).
    #[error(
        "remote sent an RTP packet with {padding} padding bytes, but only {available} follow the header"
    )]
    BadPadding {
        /// The padding count from the last byte.
        padding: u8,
        /// Bytes available after the header and extension.
        available: usize,
    },
}

/// Parses and validates an RTP packet (RFC 3550 §5.1, §5.3.1).
///
/// Checks the version, skips the CSRC list and any header extension, and
/// strips padding. Never panics, whatever the input.
pub fn parse(packet: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let Some((fixed, rest)) = packet.split_first_chunk::<RTP_HEADER_SIZE>() else {
        return Err(RtpError::TooShort {
            length: packet.len(),
        });
    };
    // RFC 3550 §5.1: V (2 bits), P, X, CC (4 bits) | M, PT (7 bits).
    let version = fixed[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion { version });
    }
    let has_padding = fixed[0] & 0x20 != 0;
    let has_extension = fixed[0] & 0x10 != 0;
    let csrc_count = fixed[0] & 0x0F;
    let header = RtpHeader {
        marker: fixed[1] & 0x80 != 0,
        payload_type: fixed[1] & 0x7F,
        sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
        timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    };

    // RFC 3550 §5.1: CSRC list, 0 to 15 items of 32 bits.
    let rest = rest
        .get(usize::from(csrc_count) * 4..)
        .ok_or(RtpError::TruncatedCsrcList { count: csrc_count })?;

    // RFC 3550 §5.3.1: 16-bit profile-defined field, 16-bit length in
    // 32-bit words excluding the 4-byte extension header itself.
    let rest = if has_extension {
        let (extension_header, after) = rest
            .split_first_chunk::<4>()
            .ok_or(RtpError::TruncatedExtension)?;
        let words = u16::from_be_bytes([extension_header[2], extension_header[3]]);
        after
            .get(usize::from(words) * 4..)
            .ok_or(RtpError::TruncatedExtension)?
    } else {
        rest
    };

    // RFC 3550 §5.1: the last octet of the padding counts how many padding
    // octets, itself included, to ignore.
    let payload = if has_padding {
        let padding = rest.last().copied().unwrap_or(0);
        let payload_length = rest
            .len()
            .checked_sub(usize::from(padding))
            .filter(|_| padding != 0)
            .ok_or(RtpError::BadPadding {
                padding,
                available: rest.len(),
            })?;
        &rest[..payload_length]
    } else {
        rest
    };

    Ok(RtpPacket { header, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> RtpHeader {
        RtpHeader {
            payload_type: 8,
            marker: true,
            sequence: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
        }
    }

    #[test]
    fn written_header_has_rfc_3550_layout() {
        let mut buffer = [0u8; 16];
        assert_eq!(sample_header().write_into(&mut buffer), 12);
        assert_eq!(
            buffer[..12],
            [
                0x80, 0x88, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0xDE, 0xAD, 0xBE, 0xEF
            ]
        );
    }

    #[test]
    fn written_header_parses_back() {
        let mut buffer = [0u8; 15];
        sample_header().write_into(&mut buffer);
        buffer[12..].copy_from_slice(&[1, 2, 3]);
        let packet = parse(&buffer).expect("valid packet");
        assert_eq!(packet.header, sample_header());
        assert_eq!(packet.payload, [1, 2, 3]);
    }

    #[test]
    fn payload_type_is_masked_to_seven_bits() {
        let mut buffer = [0u8; 12];
        let header = RtpHeader {
            payload_type: 0xFF,
            marker: false,
            ..sample_header()
        };
        header.write_into(&mut buffer);
        assert_eq!(buffer[1], 0x7F);
    }

    #[test]
    fn short_packets_are_rejected() {
        assert_eq!(parse(&[]), Err(RtpError::TooShort { length: 0 }));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { length: 11 }));
    }

    #[test]
    fn wrong_version_is_rejected() {
        let mut buffer = [0u8; 12];
        sample_header().write_into(&mut buffer);
        buffer[0] = 0x40;
        assert_eq!(parse(&buffer), Err(RtpError::BadVersion { version: 1 }));
    }

    #[test]
    fn csrcs_are_skipped() {
        let mut buffer = vec![0u8; 12];
        sample_header().write_into(&mut buffer);
        buffer[0] |= 2; // CC = 2
        buffer.extend_from_slice(&[0xAA; 8]);
        buffer.extend_from_slice(&[9, 9]);
        assert_eq!(parse(&buffer).expect("valid packet").payload, [9, 9]);
        assert_eq!(
            parse(&buffer[..19]),
            Err(RtpError::TruncatedCsrcList { count: 2 })
        );
    }

    #[test]
    fn header_extension_is_skipped() {
        let mut buffer = vec![0u8; 12];
        sample_header().write_into(&mut buffer);
        buffer[0] |= 0x10; // X
        buffer.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4]);
        buffer.extend_from_slice(&[7]);
        assert_eq!(parse(&buffer).expect("valid packet").payload, [7]);
        assert_eq!(parse(&buffer[..19]), Err(RtpError::TruncatedExtension));
        assert_eq!(parse(&buffer[..14]), Err(RtpError::TruncatedExtension));
    }

    #[test]
    fn padding_is_stripped() {
        let mut buffer = vec![0u8; 12];
        sample_header().write_into(&mut buffer);
        buffer[0] |= 0x20; // P
        buffer.extend_from_slice(&[5, 6, 0, 0, 3]);
        assert_eq!(parse(&buffer).expect("valid packet").payload, [5, 6]);
    }

    #[test]
    fn bad_padding_is_rejected() {
        let mut buffer = vec![0u8; 12];
        sample_header().write_into(&mut buffer);
        buffer[0] |= 0x20; // P
        buffer.extend_from_slice(&[5, 6, 0]);
        assert_eq!(
            parse(&buffer),
            Err(RtpError::BadPadding {
                padding: 0,
                available: 3
            })
        );
        *buffer.last_mut().expect("non-empty") = 4;
        assert_eq!(
            parse(&buffer),
            Err(RtpError::BadPadding {
                padding: 4,
                available: 3
            })
        );
        // Padding flag with no bytes after the header at all.
        assert_eq!(
            parse(&buffer[..12]),
            Err(RtpError::BadPadding {
                padding: 0,
                available: 0
            })
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // xorshift64 (Marsaglia 2003); deterministic, no external crate.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buffer = [0u8; 96];
        let mut accepted = 0usize;
        for round in 0..200_000u32 {
            for byte in buffer.iter_mut() {
                *byte = next() as u8;
            }
            // Bias half the rounds towards version 2 so the deeper checks run.
            if round % 2 == 0 {
                buffer[0] = (buffer[0] & 0x3F) | 0x80;
            }
            let length = (next() % (buffer.len() as u64 + 1)) as usize;
            if let Ok(packet) = parse(&buffer[..length]) {
                accepted += 1;
                assert!(packet.payload.len() <= length - RTP_HEADER_SIZE);
            }
        }
        assert!(accepted > 0, "the fuzzer should also reach valid packets");
    }
}
