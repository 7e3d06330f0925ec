//! Audio codecs: G.711 μ-law (PCMU) and A-law (PCMA) sample codecs, and
//! G.722 (see [`crate::g722`]) for wideband peers.
//!
//! The G.711 conversions follow ITU-T G.711 and are bit-exact with the
//! classic Sun Microsystems `g711.c` reference code (also used by Python's
//! `audioop`): μ-law encodes the top 14 bits of a 16-bit sample, A-law the
//! top 13 bits. Decoding goes through 256-entry tables built at compile time.
//!
//! # G.722 and the 8 kHz session
//!
//! Everything else in this crate works on 8 kHz PCM (playout clips,
//! received frames, DTMF detection, recording, bridging). For G.722 the
//! session upsamples each 160-sample frame to 320 samples at 16 kHz with
//! a half-band interpolating filter before encoding (160 bytes per 20 ms),
//! and decodes received G.722 to 16 kHz then low-pass filters and
//! decimates it back to 8 kHz. Every codec here therefore carries one
//! byte per RTP timestamp unit, at an RTP clock of 8000 Hz.

use crate::g722::{G722Decoder, G722Encoder};
use crate::resample::{Downsampler, Upsampler};

/// An audio codec this crate can encode and decode.
///
/// The G.711 codecs carry 8 kHz mono audio with one byte per sample
/// (RFC 3551 §4.5.14); G.722 carries 16 kHz audio in one byte per pair of
/// samples, with an RTP clock of 8000 Hz (RFC 3551 §4.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, RTP static payload type 0 (RFC 3551 §6, table 4).
    Pcmu,
    /// G.711 A-law, RTP static payload type 8 (RFC 3551 §6, table 4).
    Pcma,
    /// ITU-T G.722 at 64 kbit/s, RTP static payload type 9 (RFC 3551 §6,
    /// table 4).
    G722,
}

impl Codec {
    /// The static RTP payload type assigned to this codec (RFC 3551 §6).
    pub const fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
            Self::G722 => 9,
        }
    }

    /// The RTP clock rate in hertz: 8000 for G.711 (RFC 3551 §4.5.14) and
    /// also 8000 for G.722, although it samples at 16 kHz: an error in
    /// RFC 1890 kept for compatibility (RFC 3551 §4.5.2).
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// The audio sampling rate in hertz: 8000 for G.711, 16000 for G.722.
    pub const fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16000,
        }
    }

    /// The encoding name used in SDP `a=rtpmap` lines (RFC 3551 §6).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
        }
    }

    /// The codec statically bound to `payload_type` by RFC 3551 §6, if it is
    /// one this crate supports.
    pub const fn from_static_payload_type(payload_type: u8) -> Option<Self> {
        match payload_type {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            9 => Some(Self::G722),
            _ => None,
        }
    }

    /// The codec whose SDP encoding name is `name`, compared
    /// case-insensitively as RFC 4566 §6 requires for `a=rtpmap`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pcmu, Self::Pcma, Self::G722]
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
    }

    /// The encoded form of a zero (silent) sample: `0xFF` for μ-law, `0xD5`
    /// for A-law, and for G.722 the code a fresh encoder emits for silence,
    /// `0xFA` (an adaptive encoder's later codes for silence vary).
    pub const fn silence(self) -> u8 {
        match self {
            Self::Pcmu => 0xFF,
            Self::Pcma => 0xD5,
            Self::G722 => G722_SILENCE,
        }
    }

    /// Whether the per-sample helpers ([`encode_sample`](Self::encode_sample),
    /// [`decode_sample`](Self::decode_sample) and the slice versions) apply:
    /// true for G.711. G.722 is adaptive (each code depends on the past),
    /// so it has its own stateful [`G722Encoder`] and [`G722Decoder`].
    pub const fn is_stateless(self) -> bool {
        matches!(self, Self::Pcmu | Self::Pcma)
    }

    /// Encodes one 16-bit linear sample (G.711 only: for G.722, which is
    /// stateful, this returns [`silence`](Self::silence)).
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
            Self::G722 => G722_SILENCE,
        }
    }

    /// Decodes one encoded byte to a 16-bit linear sample (G.711 only: for
    /// G.722, which is stateful, this returns 0).
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Pcmu => ULAW_TO_LINEAR[usize::from(code)],
            Self::Pcma => ALAW_TO_LINEAR[usize::from(code)],
            Self::G722 => 0,
        }
    }

    /// Encodes `samples` into `output`, one byte per sample.
    ///
    /// Converts `min(samples.len(), output.len())` samples and returns that
    /// count; the rest of the longer slice is left untouched.
    pub fn encode_into(self, samples: &[i16], output: &mut [u8]) -> usize {
        let count = samples.len().min(output.len());
        for (sample, code) in samples.iter().zip(output.iter_mut()) {
            *code = self.encode_sample(*sample);
        }
        count
    }

    /// Decodes `encoded` into `output`, one sample per byte.
    ///
    /// Converts `min(encoded.len(), output.len())` bytes and returns that
    /// count; the rest of the longer slice is left untouched.
    pub fn decode_into(self, encoded: &[u8], output: &mut [i16]) -> usize {
        let count = encoded.len().min(output.len());
        for (code, sample) in encoded.iter().zip(output.iter_mut()) {
            *sample = self.decode_sample(*code);
        }
        count
    }
}

/// Bit 7 of an encoded byte: the sign (G.711 §2 / `g711.c` `SIGN_BIT`).
const SIGN_BIT: u8 = 0x80;
/// Bits 4–6: the segment (exponent).
const SEGMENT_MASK: u8 = 0x70;
/// Shift of the segment bits.
const SEGMENT_SHIFT: u8 = 4;
/// Bits 0–3: the quantisation step (mantissa) within the segment.
const QUANTISATION_MASK: u8 = 0x0F;

/// μ-law bias added before segment search (`g711.c` `BIAS`).
const ULAW_BIAS: i16 = 0x84;
/// Largest 14-bit magnitude μ-law can represent (`g711.c` `CLIP`).
const ULAW_CLIP: i16 = 8159;

/// Upper bound (inclusive) of each μ-law segment, in biased 14-bit units.
const ULAW_SEGMENT_ENDS: [i16; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Upper bound (inclusive) of each A-law segment, in 13-bit units.
const ALAW_SEGMENT_ENDS: [i16; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Index of the first segment whose end is `>= value`, or 8 when above all.
fn segment_of(value: i16, ends: &[i16; 8]) -> u8 {
    let mut segment = 0u8;
    for end in ends {
        if value <= *end {
            return segment;
        }
        segment += 1;
    }
    segment
}

/// G.711 μ-law compression of a 16-bit sample (`g711.c` `linear2ulaw`).
fn linear_to_ulaw(sample: i16) -> u8 {
    // Work on 14 bits; the arithmetic shift keeps the sign.
    let mut value = sample >> 2;
    // μ-law inverts all bits; the sign bit is set for non-negative samples.
    let mask: u8 = if value < 0 {
        // Magnitude of a 14-bit value is at most 8192, which fits in i16.
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let segment = segment_of(value, &ULAW_SEGMENT_ENDS);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    // `value` is positive and below 0x2000 here, so the mantissa fits in 4 bits.
    let mantissa = ((value >> (segment + 1)) & 0x0F) as u8;
    ((segment << SEGMENT_SHIFT) | mantissa) ^ mask
}

/// G.711 A-law compression of a 16-bit sample (`g711.c` `linear2alaw`).
fn linear_to_alaw(sample: i16) -> u8 {
    // Work on 13 bits; the arithmetic shift keeps the sign.
    let mut value = sample >> 3;
    // A-law inverts the even bits; the sign bit is set for non-negative samples.
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        // One's complement magnitude, as in the reference code.
        value = -value - 1;
        0x55
    };
    let segment = segment_of(value, &ALAW_SEGMENT_ENDS);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if segment < 2 { 1 } else { segment };
    // `value` is non-negative and at most 0xFFF, so the mantissa fits in 4 bits.
    let mantissa = ((value >> shift) & 0x0F) as u8;
    ((segment << SEGMENT_SHIFT) | mantissa) ^ mask
}

/// G.711 μ-law expansion (`g711.c` `ulaw2linear`).
const fn ulaw_to_linear(code: u8) -> i16 {
    let code = !code;
    let mantissa = (code & QUANTISATION_MASK) as i16;
    let segment = (code & SEGMENT_MASK) >> SEGMENT_SHIFT;
    // At most (15 * 8 + 132) << 7 = 32256, which fits in i16.
    let magnitude = ((mantissa << 3) + ULAW_BIAS) << segment;
    if code & SIGN_BIT != 0 {
        ULAW_BIAS - magnitude
    } else {
        magnitude - ULAW_BIAS
    }
}

/// G.711 A-law expansion (`g711.c` `alaw2linear`).
const fn alaw_to_linear(code: u8) -> i16 {
    let code = code ^ 0x55;
    let mantissa = ((code & QUANTISATION_MASK) as i16) << 4;
    let segment = (code & SEGMENT_MASK) >> SEGMENT_SHIFT;
    // At most (0xF0 + 0x108) << 6 = 32256, which fits in i16.
    let magnitude = match segment {
        0 => mantissa + 8,
        1 => mantissa + 0x108,
        _ => (mantissa + 0x108) << (segment - 1),
    };
    if code & SIGN_BIT != 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// Builds a 256-entry decode table at compile time.
const fn build_table(codec: Codec) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0usize;
    while code < 256 {
        table[code] = match codec {
            Codec::Pcmu => ulaw_to_linear(code as u8),
            Codec::Pcma => alaw_to_linear(code as u8),
            Codec::G722 => 0,
        };
        code += 1;
    }
    table
}

/// μ-law code → linear sample.
static ULAW_TO_LINEAR: [i16; 256] = build_table(Codec::Pcmu);
/// A-law code → linear sample.
static ALAW_TO_LINEAR: [i16; 256] = build_table(Codec::Pcma);

/// What a fresh G.722 encoder emits for digital silence.
const G722_SILENCE: u8 = 0xFA;

/// Samples of one 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;

/// Encodes 20 ms frames of 8 kHz PCM for one stream; G.722 keeps its
/// adaptive state and upsamples to 16 kHz first.
#[derive(Debug, Clone)]
pub(crate) enum FrameEncoder {
    G711(Codec),
    G722 {
        encoder: Box<G722Encoder>,
        upsampler: Upsampler,
    },
}

impl FrameEncoder {
    pub(crate) fn new(codec: Codec) -> Self {
        match codec {
            Codec::Pcmu | Codec::Pcma => Self::G711(codec),
            Codec::G722 => Self::G722 {
                encoder: Box::new(G722Encoder::new()),
                upsampler: Upsampler::new(),
            },
        }
    }

    /// Encodes 160 samples at 8 kHz into 160 bytes.
    pub(crate) fn encode_frame(&mut self, samples: &[i16; FRAME_SAMPLES], output: &mut [u8]) {
        match self {
            Self::G711(codec) => {
                codec.encode_into(samples, output);
            }
            Self::G722 { encoder, upsampler } => {
                let mut wide = [0i16; 2 * FRAME_SAMPLES];
                upsampler.process(samples, &mut wide);
                encoder.encode(&wide, output);
            }
        }
    }
}

/// Decodes a stream to 8 kHz PCM, one sample per payload byte (one RTP
/// timestamp unit); G.722 is decoded at 16 kHz and decimated.
#[derive(Debug, Clone)]
pub(crate) enum FrameDecoder {
    G711(Codec),
    G722 {
        decoder: Box<G722Decoder>,
        downsampler: Downsampler,
    },
}

impl FrameDecoder {
    pub(crate) fn new(codec: Codec) -> Self {
        match codec {
            Codec::Pcmu | Codec::Pcma => Self::G711(codec),
            Codec::G722 => Self::G722 {
                decoder: Box::new(G722Decoder::new()),
                downsampler: Downsampler::new(),
            },
        }
    }

    /// Decodes the next payload byte of the stream into one 8 kHz sample.
    pub(crate) fn decode_byte(&mut self, code: u8) -> i16 {
        match self {
            Self::G711(codec) => codec.decode_sample(code),
            Self::G722 {
                decoder,
                downsampler,
            } => {
                let (first, second) = decoder.decode_code(code);
                downsampler.process_pair(first, second)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64-bit FNV-1a, used to compare whole tables against reference hashes.
    fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    fn encode_all(codec: Codec) -> u64 {
        fnv1a((i16::MIN..=i16::MAX).map(|sample| codec.encode_sample(sample)))
    }

    fn decode_all(codec: Codec) -> u64 {
        fnv1a((0..=255u8).flat_map(|code| codec.decode_sample(code).to_le_bytes()))
    }

    #[test]
    fn ulaw_encoding_of_every_sample_matches_audioop() {
        // Reference: FNV-1a of `audioop.lin2ulaw(all 65536 samples, 2)`.
        assert_eq!(encode_all(Codec::Pcmu), 0xd5ee_23f7_d0ff_ae91);
    }

    #[test]
    fn alaw_encoding_of_every_sample_matches_audioop() {
        // Reference: FNV-1a of `audioop.lin2alaw(all 65536 samples, 2)`.
        assert_eq!(encode_all(Codec::Pcma), 0xf030_666e_b780_cf25);
    }

    #[test]
    fn ulaw_decoding_of_every_code_matches_audioop() {
        // Reference: FNV-1a of `audioop.ulaw2lin(bytes(range(256)), 2)`.
        assert_eq!(decode_all(Codec::Pcmu), 0xb91e_65d6_8481_a1a8);
    }

    #[test]
    fn alaw_decoding_of_every_code_matches_audioop() {
        // Reference: FNV-1a of `audioop.alaw2lin(bytes(range(256)), 2)`.
        assert_eq!(decode_all(Codec::Pcma), 0x693a_40ca_62a3_d2a5);
    }

    #[test]
    fn known_encoding_vectors() {
        let vectors: [(i16, u8, u8); 12] = [
            (0, 0xFF, 0xD5),
            (-1, 0x7E, 0x55),
            (4, 0xFE, 0xD5),
            (100, 0xF2, 0xD3),
            (-100, 0x72, 0x53),
            (1000, 0xCE, 0xFA),
            (-1000, 0x4E, 0x7A),
            (8000, 0xA0, 0x8A),
            (-8000, 0x20, 0x0A),
            (32124, 0x80, 0xAA),
            (i16::MAX, 0x80, 0xAA),
            (i16::MIN, 0x00, 0x2A),
        ];
        for (sample, ulaw, alaw) in vectors {
            assert_eq!(Codec::Pcmu.encode_sample(sample), ulaw, "μ-law of {sample}");
            assert_eq!(Codec::Pcma.encode_sample(sample), alaw, "A-law of {sample}");
        }
    }

    #[test]
    fn known_decoding_vectors() {
        let vectors: [(u8, i16, i16); 8] = [
            (0x00, -32124, -5504),
            (0x80, 32124, 5504),
            (0xFF, 0, 848),
            (0x7F, 0, -848),
            (0xD5, 716, 8),
            (0x55, -716, -8),
            (0x2A, -5372, -32256),
            (0xAA, 5372, 32256),
        ];
        for (code, ulaw, alaw) in vectors {
            assert_eq!(Codec::Pcmu.decode_sample(code), ulaw, "μ-law {code:#04x}");
            assert_eq!(Codec::Pcma.decode_sample(code), alaw, "A-law {code:#04x}");
        }
    }

    #[test]
    fn silence_encodes_zero() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(codec.silence(), codec.encode_sample(0));
        }
        let mut encoder = G722Encoder::new();
        let mut codes = [0u8; 100];
        encoder.encode(&[0i16; 200], &mut codes);
        assert_eq!(codes[0], Codec::G722.silence());
    }

    #[test]
    fn g722_frames_round_trip_through_the_8_khz_session_path() {
        let mut encoder = FrameEncoder::new(Codec::G722);
        let mut decoder = FrameDecoder::new(Codec::G722);
        let mut energy_in = 0.0f64;
        let mut energy_error = 0.0f64;
        let mut decoded = Vec::new();
        let mut original = Vec::new();
        for frame_index in 0..50 {
            let mut frame = [0i16; FRAME_SAMPLES];
            for (offset, sample) in frame.iter_mut().enumerate() {
                let index = (frame_index * FRAME_SAMPLES + offset) as f64;
                *sample =
                    (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * index / 8000.0).sin()) as i16;
            }
            let mut payload = [0u8; FRAME_SAMPLES];
            encoder.encode_frame(&frame, &mut payload);
            original.extend_from_slice(&frame);
            decoded.extend(payload.iter().map(|code| decoder.decode_byte(*code)));
        }
        // Delay: upsampler 10 + codec 22 + downsampler 8, at 16 kHz → 20.
        for index in 1000..original.len() {
            energy_in += f64::from(original[index - 20]).powi(2);
            energy_error += (f64::from(decoded[index]) - f64::from(original[index - 20])).powi(2);
        }
        let snr = 10.0 * (energy_in / energy_error).log10();
        assert!(snr > 15.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn decoded_codes_stay_within_g711_range() {
        for code in 0..=255u8 {
            let ulaw = Codec::Pcmu.decode_sample(code);
            let alaw = Codec::Pcma.decode_sample(code);
            assert!(
                (-32124..=32124).contains(&ulaw),
                "μ-law {code:#04x} → {ulaw}"
            );
            assert!(
                (-32256..=32256).contains(&alaw),
                "A-law {code:#04x} → {alaw}"
            );
        }
    }

    #[test]
    fn decoding_then_encoding_is_identity_except_negative_zero() {
        for code in 0..=255u8 {
            let alaw = Codec::Pcma.decode_sample(code);
            assert_eq!(Codec::Pcma.encode_sample(alaw), code);
            let ulaw = Codec::Pcmu.decode_sample(code);
            // μ-law has two zeros (0xFF and 0x7F); zero re-encodes as 0xFF.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(Codec::Pcmu.encode_sample(ulaw), expected);
        }
    }

    #[test]
    fn round_trip_error_is_bounded_by_segment_step() {
        for sample in i16::MIN..=i16::MAX {
            let magnitude = i32::from(sample).abs();
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let decoded = codec.decode_sample(codec.encode_sample(sample));
                let error = (i32::from(decoded) - i32::from(sample)).abs();
                // Quantisation error is at most half a step plus the
                // truncated low bits; the step doubles every segment, so
                // it stays below 1/16 of the magnitude once past the
                // linear region, and below 16 (μ) / 16 (A) near zero.
                let bound = match codec {
                    Codec::Pcmu if magnitude > 32124 => magnitude - 32124 + 1024,
                    Codec::Pcmu => (magnitude / 16).max(8) + 4,
                    Codec::Pcma if magnitude > 32256 => magnitude - 32256 + 1024,
                    Codec::Pcma => (magnitude / 16).max(16) + 8,
                    Codec::G722 => unreachable!("G.722 has no per-sample helpers"),
                };
                assert!(
                    error <= bound,
                    "{codec:?}: {sample} → {decoded}, error {error} > {bound}"
                );
            }
        }
    }

    #[test]
    fn slices_are_converted_up_to_the_shorter_length() {
        let samples = [0i16, 1000, -1000, 8000];
        let mut encoded = [0u8; 3];
        assert_eq!(Codec::Pcmu.encode_into(&samples, &mut encoded), 3);
        assert_eq!(encoded, [0xFF, 0xCE, 0x4E]);
        let mut decoded = [7i16; 5];
        assert_eq!(Codec::Pcmu.decode_into(&encoded, &mut decoded), 3);
        assert_eq!(decoded[3..], [7, 7]);
        assert!((i32::from(decoded[1]) - 1000).abs() < 64);
    }

    #[test]
    fn metadata_matches_rfc_3551() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_static_payload_type(9), Some(Codec::G722));
        assert_eq!(Codec::from_static_payload_type(18), None);
        assert_eq!(Codec::G722.clock_rate(), 8000);
        assert_eq!(Codec::G722.sample_rate(), 16000);
        assert_eq!(Codec::from_name("g722"), Some(Codec::G722));
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("G729"), None);
    }
}
