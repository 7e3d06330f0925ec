//! RTCP (RFC 3550 §6): sender and receiver reports, CNAME and BYE
//! writing, validating parsing of compound packets, and the receive-side
//! statistics that feed report blocks (RFC 3550 §A.1, §A.3, §A.8).
//!
//! [`parse_compound`] accepts any byte slice and never panics. It is
//! lenient where peers differ (a compound packet need not start with a
//! report; unknown packet types are skipped) and strict about lengths.

use thiserror::Error;

use crate::jitter::InterarrivalJitter;

/// Sender report packet type (RFC 3550 §6.4.1).
pub const SENDER_REPORT: u8 = 200;
/// Receiver report packet type (RFC 3550 §6.4.2).
pub const RECEIVER_REPORT: u8 = 201;
/// Source description packet type (RFC 3550 §6.5).
pub const SOURCE_DESCRIPTION: u8 = 202;
/// Goodbye packet type (RFC 3550 §6.6).
pub const GOODBYE: u8 = 203;
/// Size of one report block (RFC 3550 §6.4.1).
pub const REPORT_BLOCK_SIZE: usize = 24;
/// Buffer size that always holds what
/// [`MediaSession::poll_rtcp`](crate::MediaSession::poll_rtcp) and
/// [`MediaSession::write_rtcp_goodbye`](crate::MediaSession::write_rtcp_goodbye)
/// write.
pub const MAXIMUM_RTCP_PACKET_SIZE: usize = 128;

const RTCP_VERSION: u8 = 2;
const HEADER_SIZE: usize = 4;
/// SDES item type of the canonical name (RFC 3550 §6.5.1).
const CNAME_ITEM: u8 = 1;

/// The sender information section of a sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SenderInfo {
    /// Wallclock time of the report, NTP format (seconds since 1900 in the
    /// high 32 bits, fraction in the low 32 bits).
    pub ntp_timestamp: u64,
    /// The same instant in the sender's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost since the beginning of reception (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last sender report
    /// received from the source (`LSR`), 0 if none.
    pub last_sender_report: u32,
    /// Delay since that sender report, in 1/65536 s (`DLSR`).
    pub delay_since_last_sender_report: u32,
}

impl ReportBlock {
    /// Writes the block to the start of `buffer`; returns 24.
    fn write_into(&self, buffer: &mut [u8]) -> usize {
        buffer[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        // 24-bit two's complement, clamped (RFC 3550 §6.4.1).
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32;
        buffer[4] = self.fraction_lost;
        buffer[5..8].copy_from_slice(&lost.to_be_bytes()[1..]);
        buffer[8..12].copy_from_slice(&self.extended_highest_sequence.to_be_bytes());
        buffer[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        buffer[16..20].copy_from_slice(&self.last_sender_report.to_be_bytes());
        buffer[20..24].copy_from_slice(&self.delay_since_last_sender_report.to_be_bytes());
        REPORT_BLOCK_SIZE
    }

    fn parse(bytes: &[u8; REPORT_BLOCK_SIZE]) -> Self {
        let word = |offset: usize| {
            u32::from_be_bytes([
                bytes[offset],
                bytes[offset + 1],
                bytes[offset + 2],
                bytes[offset + 3],
            ])
        };
        // Sign-extend the 24-bit count.
        let lost = (word(4) << 8) as i32 >> 8;
        Self {
            ssrc: word(0),
            fraction_lost: bytes[4],
            cumulative_lost: lost,
            extended_highest_sequence: word(8),
            jitter: word(12),
            last_sender_report: word(16),
            delay_since_last_sender_report: word(20),
        }
    }
}

/// The report blocks of a parsed report, read lazily from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'packet> {
    bytes: &'packet [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.bytes.split_first_chunk::<REPORT_BLOCK_SIZE>()?;
        self.bytes = rest;
        Some(ReportBlock::parse(block))
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'packet> {
    /// SR (RFC 3550 §6.4.1).
    SenderReport {
        /// The sender's SSRC.
        ssrc: u32,
        /// Its sender information.
        sender: SenderInfo,
        /// Its reception report blocks.
        blocks: ReportBlocks<'packet>,
    },
    /// RR (RFC 3550 §6.4.2).
    ReceiverReport {
        /// The reporter's SSRC.
        ssrc: u32,
        /// Its reception report blocks.
        blocks: ReportBlocks<'packet>,
    },
    /// SDES (RFC 3550 §6.5), not interpreted.
    SourceDescription {
        /// Number of chunks announced.
        chunk_count: u8,
    },
    /// BYE (RFC 3550 §6.6).
    Goodbye {
        /// The first SSRC leaving, if any.
        ssrc: Option<u32>,
    },
    /// Any other packet type (APP, feedback, XR, …), skipped.
    Other {
        /// Its packet type.
        packet_type: u8,
    },
}

/// Why an RTCP datagram is invalid. Always the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Shorter than the 4-byte common header, or empty.
    #[error("remote sent an RTCP packet of {length} bytes, too short for a header")]
    TooShort {
        /// Bytes left where a packet should start.
        length: usize,
    },
    /// The version field is not 2 (RFC 3550 §6.4.1).
    #[error("remote sent an RTCP packet with version {version}, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The length field points past the end of the datagram.
    #[error("remote sent an RTCP packet declaring {declared} bytes with only {available} left")]
    BadLength {
        /// Bytes declared by the length field.
        declared: usize,
        /// Bytes available.
        available: usize,
    },
    /// The report count does not fit in the packet (RFC 3550 §6.4.1).
    #[error("remote sent an RTCP report with {count} blocks that do not fit in it")]
    TruncatedReport {
        /// The report count from the header.
        count: u8,
    },
    /// Padding count zero or larger than the packet (RFC 3550 §6.4.1 `P`).
    #[error("remote sent an RTCP packet with invalid padding")]
    BadPadding,
}

/// Iterator over the packets of a compound RTCP datagram; stops after
/// the first error.
#[derive(Debug, Clone)]
pub struct CompoundPacket<'packet> {
    rest: &'packet [u8],
    failed: bool,
}

/// Parses a (compound) RTCP datagram (RFC 3550 §6.1). Never panics.
pub fn parse_compound(datagram: &[u8]) -> CompoundPacket<'_> {
    CompoundPacket {
        rest: datagram,
        failed: datagram.is_empty(),
    }
}

impl<'packet> Iterator for CompoundPacket<'packet> {
    type Item = Result<RtcpPacket<'packet>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.rest.is_empty() {
            return None;
        }
        let result = self.parse_next();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'packet> CompoundPacket<'packet> {
    fn parse_next(&mut self) -> Result<RtcpPacket<'packet>, RtcpError> {
        let Some(header) = self.rest.first_chunk::<HEADER_SIZE>() else {
            return Err(RtcpError::TooShort {
                length: self.rest.len(),
            });
        };
        // RFC 3550 §6.4.1: V (2) P (1) count (5) | PT (8) | length (16),
        // the length in 32-bit words minus one.
        let version = header[0] >> 6;
        if version != RTCP_VERSION {
            return Err(RtcpError::BadVersion { version });
        }
        let padded = header[0] & 0x20 != 0;
        let count = header[0] & 0x1F;
        let packet_type = header[1];
        let declared = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
        let Some(packet) = self.rest.get(..declared) else {
            return Err(RtcpError::BadLength {
                declared,
                available: self.rest.len(),
            });
        };
        self.rest = &self.rest[declared..];
        let mut body = &packet[HEADER_SIZE..];
        if padded {
            let padding = usize::from(*packet.last().unwrap_or(&0));
            if padding == 0 || padding > body.len() {
                return Err(RtcpError::BadPadding);
            }
            body = &body[..body.len() - padding];
        }
        let word = |bytes: &[u8], offset: usize| {
            bytes
                .get(offset..offset + 4)
                .map(|word| u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
        };
        let blocks_after = |offset: usize| {
            let length = usize::from(count) * REPORT_BLOCK_SIZE;
            body.get(offset..offset + length)
                .map(|bytes| ReportBlocks { bytes })
                .ok_or(RtcpError::TruncatedReport { count })
        };
        match packet_type {
            SENDER_REPORT => {
                let truncated = RtcpError::TruncatedReport { count };
                let ssrc = word(body, 0).ok_or(truncated)?;
                let ntp_high = word(body, 4).ok_or(truncated)?;
                let ntp_low = word(body, 8).ok_or(truncated)?;
                let sender = SenderInfo {
                    ntp_timestamp: (u64::from(ntp_high) << 32) | u64::from(ntp_low),
                    rtp_timestamp: word(body, 12).ok_or(truncated)?,
                    packet_count: word(body, 16).ok_or(truncated)?,
                    octet_count: word(body, 20).ok_or(truncated)?,
                };
                Ok(RtcpPacket::SenderReport {
                    ssrc,
                    sender,
                    blocks: blocks_after(24)?,
                })
            }
            RECEIVER_REPORT => Ok(RtcpPacket::ReceiverReport {
                ssrc: word(body, 0).ok_or(RtcpError::TruncatedReport { count })?,
                blocks: blocks_after(4)?,
            }),
            SOURCE_DESCRIPTION => Ok(RtcpPacket::SourceDescription { chunk_count: count }),
            GOODBYE => Ok(RtcpPacket::Goodbye {
                ssrc: word(body, 0).filter(|_| count > 0),
            }),
            packet_type => Ok(RtcpPacket::Other { packet_type }),
        }
    }
}

/// Whether a datagram on a multiplexed RTP/RTCP port is RTCP
/// (RFC 5761 §4: second byte 192–223).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram
        .get(1)
        .is_some_and(|packet_type| (192..=223).contains(packet_type))
}

/// Writes the common header (RFC 3550 §6.4.1) for a packet of `length`
/// bytes (a multiple of 4).
fn write_header(buffer: &mut [u8], count: u8, packet_type: u8, length: usize) {
    buffer[0] = (RTCP_VERSION << 6) | (count & 0x1F);
    buffer[1] = packet_type;
    let words = (length / 4 - 1) as u16;
    buffer[2..4].copy_from_slice(&words.to_be_bytes());
}

/// Writes a sender report (RFC 3550 §6.4.1) with up to 31 blocks; returns
/// its length.
///
/// # Panics
///
/// Panics if `buffer` is shorter than `28 + 24 × blocks` bytes (a local
/// programming error).
pub fn write_sender_report(
    buffer: &mut [u8],
    ssrc: u32,
    sender: &SenderInfo,
    blocks: &[ReportBlock],
) -> usize {
    let blocks = &blocks[..blocks.len().min(31)];
    let length = 28 + REPORT_BLOCK_SIZE * blocks.len();
    write_header(buffer, blocks.len() as u8, SENDER_REPORT, length);
    buffer[4..8].copy_from_slice(&ssrc.to_be_bytes());
    buffer[8..16].copy_from_slice(&sender.ntp_timestamp.to_be_bytes());
    buffer[16..20].copy_from_slice(&sender.rtp_timestamp.to_be_bytes());
    buffer[20..24].copy_from_slice(&sender.packet_count.to_be_bytes());
    buffer[24..28].copy_from_slice(&sender.octet_count.to_be_bytes());
    let mut offset = 28;
    for block in blocks {
        offset += block.write_into(&mut buffer[offset..]);
    }
    length
}

/// Writes a receiver report (RFC 3550 §6.4.2) with up to 31 blocks;
/// returns its length.
///
/// # Panics
///
/// Panics if `buffer` is shorter than `8 + 24 × blocks` bytes.
pub fn write_receiver_report(buffer: &mut [u8], ssrc: u32, blocks: &[ReportBlock]) -> usize {
    let blocks = &blocks[..blocks.len().min(31)];
    let length = 8 + REPORT_BLOCK_SIZE * blocks.len();
    write_header(buffer, blocks.len() as u8, RECEIVER_REPORT, length);
    buffer[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let mut offset = 8;
    for block in blocks {
        offset += block.write_into(&mut buffer[offset..]);
    }
    length
}

/// Writes an SDES packet with one chunk carrying a CNAME item
/// (RFC 3550 §6.5.1); returns its length. Names longer than 255 bytes are
/// cut.
///
/// # Panics
///
/// Panics if `buffer` is shorter than `12 + name length` bytes, rounded up
/// to a multiple of 4.
pub fn write_source_description(buffer: &mut [u8], ssrc: u32, cname: &[u8]) -> usize {
    let cname = &cname[..cname.len().min(255)];
    // Header, SSRC, item type and length, text, at least one null octet
    // ending the item list, padded to 32 bits (RFC 3550 §6.5).
    let length = (HEADER_SIZE + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    write_header(buffer, 1, SOURCE_DESCRIPTION, length);
    buffer[4..8].copy_from_slice(&ssrc.to_be_bytes());
    buffer[8] = CNAME_ITEM;
    buffer[9] = cname.len() as u8;
    buffer[10..10 + cname.len()].copy_from_slice(cname);
    buffer[10 + cname.len()..length].fill(0);
    length
}

/// Writes a BYE packet for one source (RFC 3550 §6.6); returns 8.
///
/// # Panics
///
/// Panics if `buffer` is shorter than 8 bytes.
pub fn write_goodbye(buffer: &mut [u8], ssrc: u32) -> usize {
    write_header(buffer, 1, GOODBYE, 8);
    buffer[4..8].copy_from_slice(&ssrc.to_be_bytes());
    8
}

/// The middle 32 bits of an NTP timestamp, the `LSR` format
/// (RFC 3550 §6.4.1).
pub const fn ntp_middle(ntp_timestamp: u64) -> u32 {
    (ntp_timestamp >> 16) as u32
}

const SEQUENCE_MODULO: u32 = 1 << 16;
/// RFC 3550 §A.1 `MAX_DROPOUT`.
const MAXIMUM_DROPOUT: u16 = 3000;
/// RFC 3550 §A.1 `MAX_MISORDER`.
const MAXIMUM_MISORDER: u16 = 100;

/// Receive statistics of one source for report blocks (RFC 3550 §A.1,
/// §A.3, §A.8).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReceptionStatistics {
    source: Option<u32>,
    maximum_sequence: u16,
    cycles: u32,
    base_sequence: u32,
    bad_sequence: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    fraction_lost: u8,
    pub(crate) jitter: InterarrivalJitter,
}

impl ReceptionStatistics {
    pub(crate) fn source(&self) -> Option<u32> {
        self.source
    }

    /// Accounts for one packet (RFC 3550 §A.1 `update_seq`); `timing`, the
    /// RTP timestamp and arrival time in timestamp units, feeds the jitter
    /// estimate (§A.8) when given.
    pub(crate) fn update(&mut self, ssrc: u32, sequence: u16, timing: Option<(u32, u32)>) {
        if self.source != Some(ssrc) {
            self.restart(ssrc, sequence);
        } else {
            let delta = sequence.wrapping_sub(self.maximum_sequence);
            if delta < MAXIMUM_DROPOUT {
                // In order, with a permissible gap.
                if sequence < self.maximum_sequence {
                    self.cycles += SEQUENCE_MODULO;
                }
                self.maximum_sequence = sequence;
            } else if delta <= u16::MAX - MAXIMUM_MISORDER {
                // A very large jump: accept it only if the next packet
                // confirms it (the peer restarted its sequence).
                if self.bad_sequence == Some(sequence) {
                    self.restart(ssrc, sequence);
                } else {
                    self.bad_sequence = Some(sequence.wrapping_add(1));
                    return;
                }
            }
            // Otherwise a duplicate or reordered packet: counted below.
        }
        self.received += 1;
        if let Some((timestamp, arrival)) = timing {
            self.jitter.update(arrival, timestamp);
        }
    }

    fn restart(&mut self, ssrc: u32, sequence: u16) {
        *self = Self {
            source: Some(ssrc),
            maximum_sequence: sequence,
            base_sequence: u32::from(sequence),
            ..Self::default()
        };
    }

    pub(crate) fn extended_maximum(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.maximum_sequence))
    }

    /// Packets expected so far (RFC 3550 §A.3).
    pub(crate) fn expected(&self) -> u64 {
        if self.source.is_none() {
            return 0;
        }
        u64::from(self.extended_maximum().wrapping_sub(self.base_sequence)) + 1
    }

    /// Packets lost so far; negative with duplicates (RFC 3550 §A.3).
    pub(crate) fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Fraction lost in the interval before the last report block.
    pub(crate) fn fraction_lost(&self) -> u8 {
        self.fraction_lost
    }

    /// A report block for the source, starting a new interval
    /// (RFC 3550 §A.3).
    pub(crate) fn report_block(
        &mut self,
        last_sender_report: u32,
        delay_since_last_sender_report: u32,
    ) -> Option<ReportBlock> {
        let ssrc = self.source?;
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        self.fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost: self.fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_sequence: self.extended_maximum(),
            jitter: self.jitter.units(),
            last_sender_report,
            delay_since_last_sender_report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x0102_0304,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_sequence: 0x0001_0005,
            jitter: 80,
            last_sender_report: 0xAABB_CCDD,
            delay_since_last_sender_report: 65536,
        }
    }

    #[test]
    fn sender_report_with_cname_round_trips() {
        let mut buffer = [0u8; MAXIMUM_RTCP_PACKET_SIZE];
        let sender = SenderInfo {
            ntp_timestamp: 0xE000_0000_8000_0000,
            rtp_timestamp: 1234,
            packet_count: 50,
            octet_count: 8000,
        };
        let mut length = write_sender_report(&mut buffer, 42, &sender, &[block()]);
        assert_eq!(length, 52);
        assert_eq!(buffer[..4], [0x81, 200, 0, 12]);
        length += write_source_description(&mut buffer[length..], 42, b"warbler");
        let packets: Vec<_> = parse_compound(&buffer[..length]).collect();
        assert_eq!(packets.len(), 2);
        let Ok(RtcpPacket::SenderReport {
            ssrc,
            sender: parsed,
            blocks,
        }) = packets[0]
        else {
            panic!("{:?}", packets[0]);
        };
        assert_eq!(ssrc, 42);
        assert_eq!(parsed, sender);
        assert_eq!(blocks.collect::<Vec<_>>(), [block()]);
        assert_eq!(
            packets[1],
            Ok(RtcpPacket::SourceDescription { chunk_count: 1 })
        );
        assert_eq!(length % 4, 0);
    }

    #[test]
    fn receiver_report_and_goodbye_round_trip() {
        let mut buffer = [0u8; 64];
        let mut length = write_receiver_report(&mut buffer, 7, &[block()]);
        length += write_goodbye(&mut buffer[length..], 7);
        let packets: Vec<_> = parse_compound(&buffer[..length])
            .map(|packet| packet.expect("valid"))
            .collect();
        assert!(matches!(
            packets[0],
            RtcpPacket::ReceiverReport { ssrc: 7, .. }
        ));
        assert_eq!(packets[1], RtcpPacket::Goodbye { ssrc: Some(7) });
        assert!(is_rtcp(&buffer));
        assert!(!is_rtcp(&[0x80, 0x00]));
    }

    #[test]
    fn malformed_packets_are_rejected() {
        assert_eq!(parse_compound(&[]).count(), 0);
        assert_eq!(
            parse_compound(&[0x81, 201]).next(),
            Some(Err(RtcpError::TooShort { length: 2 }))
        );
        assert_eq!(
            parse_compound(&[0x41, 201, 0, 1, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::BadVersion { version: 1 }))
        );
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 7, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::BadLength {
                declared: 32,
                available: 8
            }))
        );
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::TruncatedReport { count: 1 }))
        );
        // An error ends the iteration.
        let mut iterator = parse_compound(&[0x40, 0, 0, 0, 0x80, 201, 0, 1, 0, 0, 0, 0]);
        assert!(matches!(iterator.next(), Some(Err(_))));
        assert_eq!(iterator.next(), None);
    }

    #[test]
    fn reception_statistics_follow_rfc_3550_appendix_a() {
        let mut statistics = ReceptionStatistics::default();
        // 65530..=65535, 0..=13 with 2 and 7 missing: wraps once.
        for sequence in (65530u16..=65535)
            .chain(0..14)
            .filter(|s| *s != 2 && *s != 7)
        {
            let timestamp = u32::from(sequence) * 160;
            statistics.update(9, sequence, Some((timestamp, timestamp)));
        }
        assert_eq!(statistics.expected(), 20);
        assert_eq!(statistics.cumulative_lost(), 2);
        let block = statistics.report_block(0, 0).expect("source known");
        assert_eq!(block.extended_highest_sequence, 65536 + 13);
        assert_eq!(u32::from(block.fraction_lost), 2 * 256 / 20);
        assert_eq!(block.jitter, 0);
        // Next interval: no loss.
        statistics.update(9, 14, Some((14 * 160, 14 * 160)));
        assert_eq!(
            statistics.report_block(0, 0).expect("known").fraction_lost,
            0
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buffer = [0u8; 80];
        for round in 0..100_000u32 {
            for byte in buffer.iter_mut() {
                *byte = next() as u8;
            }
            if round % 2 == 0 {
                buffer[0] = (buffer[0] & 0x3F) | 0x80;
                buffer[1] = 200 + (buffer[1] % 5);
                buffer[2] = 0;
                buffer[3] %= 20;
            }
            let length = (next() % (buffer.len() as u64 + 1)) as usize;
            for packet in parse_compound(&buffer[..length]).flatten() {
                if let RtcpPacket::SenderReport { blocks, .. }
                | RtcpPacket::ReceiverReport { blocks, .. } = packet
                {
                    assert!(blocks.count() <= 31);
                }
            }
        }
    }
}
