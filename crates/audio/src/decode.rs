//! Decoding WAV and MP3 bytes into mono [`Pcm`], with a bound on duration.
//!
//! Decoding is done by symphonia (pure Rust). Any channel count is averaged down to mono and the
//! source sample rate is kept (see [`crate::resample`] to convert it). The input is untrusted: a
//! stream that is not audio, is truncated, or is longer than [`DecodeLimits::max_seconds`] yields a
//! typed [`DecodeError`], never a panic. As a last line of defence a panic inside the decoder
//! library is caught and reported as [`DecodeError::DecoderPanicked`].

use std::io::{Cursor, ErrorKind};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::pcm::Pcm;

/// The highest source sample rate accepted (higher rates are refused as implausible).
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// How many packets in a row may fail to decode before the stream is declared malformed.
const MAX_CONSECUTIVE_PACKET_ERRORS: u32 = 64;

/// Bounds applied while decoding untrusted audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The longest audio accepted, in seconds of playback; longer streams are refused with
    /// [`DecodeError::TooLong`].
    pub max_seconds: u32,
}

impl Default for DecodeLimits {
    /// Ten minutes.
    fn default() -> Self {
        Self { max_seconds: 600 }
    }
}

/// Why some bytes could not be turned into audio. Unless noted, the fault lies with whoever
/// supplied the bytes (a playback URL's server, or a TTS program's output).
#[derive(Clone, Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not in any container format this server reads (WAV, MP3).
    #[error("unrecognised audio format")]
    UnrecognizedFormat {
        /// What the format probe reported.
        #[source]
        source: Arc<SymphoniaError>,
    },
    /// The container holds no audio track.
    #[error("the stream contains no audio track")]
    NoAudioTrack,
    /// The audio track uses a codec (or a codec feature) this server cannot decode.
    #[error("unsupported audio codec")]
    UnsupportedCodec {
        /// What the decoder reported.
        #[source]
        source: Arc<SymphoniaError>,
    },
    /// The stream is damaged beyond what can be skipped over.
    #[error("malformed audio stream")]
    Malformed {
        /// What the demuxer or decoder reported.
        #[source]
        source: Arc<SymphoniaError>,
    },
    /// The stream's sample rate is zero or above [`MAX_SAMPLE_RATE`].
    #[error("unsupported sample rate {sample_rate} Hz")]
    UnsupportedSampleRate {
        /// The rate the stream declared, in Hz.
        sample_rate: u32,
    },
    /// The stream declares audio frames without any channel.
    #[error("the audio has no channels")]
    NoChannels,
    /// The stream decoded to no samples at all.
    #[error("the stream contains no audio samples")]
    Empty,
    /// The audio is longer than the configured limit.
    #[error("the audio is longer than the {max_seconds} s limit")]
    TooLong {
        /// The limit that was exceeded, in seconds.
        max_seconds: u32,
    },
    /// The decoder library panicked on this input (a decoder bug, triggered by bad input).
    #[error("the audio decoder failed unexpectedly on this input")]
    DecoderPanicked,
}

/// Decodes WAV or MP3 `bytes` to mono PCM at the stream's own sample rate, with the default
/// [`DecodeLimits`].
///
/// `hint` is a file extension (`"wav"`, `".mp3"`) or a MIME type (`"audio/mpeg"`); it only
/// orders the format probe, the content decides.
pub fn decode(bytes: &[u8], hint: Option<&str>) -> Result<Pcm, DecodeError> {
    decode_with_limits(bytes, hint, &DecodeLimits::default())
}

/// Decodes like [`decode`], refusing audio longer than `limits.max_seconds`.
pub fn decode_with_limits(
    bytes: &[u8],
    hint: Option<&str>,
    limits: &DecodeLimits,
) -> Result<Pcm, DecodeError> {
    // The closure only reads `bytes` and builds fresh state; nothing observable is left
    // half-updated if it unwinds.
    catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes, hint, limits)))
        .unwrap_or(Err(DecodeError::DecoderPanicked))
}

/// Turns a caller's hint into symphonia's: MIME types contain a slash, anything else is taken
/// as an extension.
fn probe_hint(hint: Option<&str>) -> Hint {
    let mut probe_hint = Hint::new();
    if let Some(text) = hint.map(str::trim).filter(|text| !text.is_empty()) {
        if text.contains('/') {
            let mime_type = text
                .split(';')
                .next()
                .unwrap_or(text)
                .trim()
                .to_ascii_lowercase();
            probe_hint.mime_type(&mime_type);
        } else {
            probe_hint.with_extension(&text.trim_start_matches('.').to_ascii_lowercase());
        }
    }
    probe_hint
}

fn checked_sample_rate(sample_rate: u32) -> Result<u32, DecodeError> {
    if sample_rate == 0 || sample_rate > MAX_SAMPLE_RATE {
        return Err(DecodeError::UnsupportedSampleRate { sample_rate });
    }
    Ok(sample_rate)
}

/// The most mono frames `limits` allows at `sample_rate`.
fn max_frames(limits: &DecodeLimits, sample_rate: u32) -> u64 {
    u64::from(limits.max_seconds) * u64::from(sample_rate)
}

fn decode_unguarded(
    bytes: &[u8],
    hint: Option<&str>,
    limits: &DecodeLimits,
) -> Result<Pcm, DecodeError> {
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut format = symphonia::default::get_probe()
        .probe(
            &probe_hint(hint),
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|source| DecodeError::UnrecognizedFormat {
            source: Arc::new(source),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .ok_or(DecodeError::NoAudioTrack)?;
    let track_id = track.id;
    let parameters: AudioCodecParameters = track
        .codec_params
        .as_ref()
        .and_then(|parameters| parameters.audio())
        .ok_or(DecodeError::NoAudioTrack)?
        .clone();
    if let Some(sample_rate) = parameters.sample_rate {
        let sample_rate = checked_sample_rate(sample_rate)?;
        if track
            .num_frames
            .is_some_and(|frames| frames > max_frames(limits, sample_rate))
        {
            return Err(DecodeError::TooLong {
                max_seconds: limits.max_seconds,
            });
        }
    }

    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&parameters, &AudioDecoderOptions::default())
        .map_err(|source| DecodeError::UnsupportedCodec {
            source: Arc::new(source),
        })?;

    let mut stream_rate: Option<u32> = None;
    let mut samples: Vec<i16> = Vec::new();
    let mut interleaved: Vec<i16> = Vec::new();
    let mut consecutive_errors = 0_u32;

    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A truncated file: keep what was decoded so far.
            Err(SymphoniaError::IoError(error)) if error.kind() == ErrorKind::UnexpectedEof => {
                break;
            }
            // A chained stream changed its tracks: play the first one only.
            Err(SymphoniaError::ResetRequired) => break,
            Err(error) if !samples.is_empty() => {
                tracing::debug!(%error, "audio stream ends in damaged data; keeping the decoded part");
                break;
            }
            Err(error) => {
                return Err(DecodeError::Malformed {
                    source: Arc::new(error),
                });
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            Err(error @ (SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_))) => {
                consecutive_errors += 1;
                if consecutive_errors > MAX_CONSECUTIVE_PACKET_ERRORS {
                    return Err(DecodeError::Malformed {
                        source: Arc::new(error),
                    });
                }
                continue;
            }
            Err(error @ SymphoniaError::Unsupported(_)) => {
                return Err(DecodeError::UnsupportedCodec {
                    source: Arc::new(error),
                });
            }
            Err(error) => {
                return Err(DecodeError::Malformed {
                    source: Arc::new(error),
                });
            }
        };
        consecutive_errors = 0;
        if buffer.frames() == 0 {
            continue;
        }

        let buffer_rate = checked_sample_rate(buffer.spec().rate())?;
        match stream_rate {
            None => stream_rate = Some(buffer_rate),
            Some(rate) if rate != buffer_rate => {
                tracing::debug!(
                    rate,
                    buffer_rate,
                    "sample rate changes mid-stream; keeping the first part"
                );
                break;
            }
            Some(_) => {}
        }
        let channels = buffer.spec().channels().count();
        if channels == 0 {
            return Err(DecodeError::NoChannels);
        }
        let frames_so_far = samples.len() as u64 + buffer.frames() as u64;
        if frames_so_far > max_frames(limits, buffer_rate) {
            return Err(DecodeError::TooLong {
                max_seconds: limits.max_seconds,
            });
        }

        buffer.copy_to_vec_interleaved(&mut interleaved);
        append_downmixed(&mut samples, &interleaved, channels);
    }

    match stream_rate {
        Some(sample_rate) if !samples.is_empty() => Ok(Pcm {
            sample_rate,
            samples,
        }),
        _ => Err(DecodeError::Empty),
    }
}

/// Appends the average of each frame's `channels` samples to `mono`.
fn append_downmixed(mono: &mut Vec<i16>, interleaved: &[i16], channels: usize) {
    if channels == 1 {
        mono.extend_from_slice(interleaved);
        return;
    }
    let divisor = channels as i64;
    mono.extend(interleaved.chunks_exact(channels).map(|frame| {
        let sum: i64 = frame.iter().map(|&sample| i64::from(sample)).sum();
        // The mean of i16 values always fits an i16.
        i16::try_from(sum / divisor).unwrap_or(0)
    }));
}

#[cfg(test)]
pub(crate) mod tests {
    use std::f64::consts::TAU;
    use std::process::Command;

    use super::*;
    use crate::pcm::root_mean_square;
    use crate::scratch::ScratchDirectory;

    /// `seconds` of a sine at `frequency` Hz with peak `amplitude` (0..=1 of full scale).
    pub(crate) fn sine(frequency: f64, sample_rate: u32, seconds: f64, amplitude: f64) -> Vec<f64> {
        let count = (seconds * f64::from(sample_rate)).round() as usize;
        (0..count)
            .map(|index| {
                amplitude * (TAU * frequency * index as f64 / f64::from(sample_rate)).sin()
            })
            .collect()
    }

    pub(crate) fn to_i16(signal: &[f64]) -> Vec<i16> {
        signal
            .iter()
            .map(|&value| (value * 32767.0).round() as i16)
            .collect()
    }

    /// A WAV file holding `channels` copies of `signal` written with `bits` bits per sample
    /// (`float` selects 32-bit IEEE float).
    pub(crate) fn wav_bytes(
        signal: &[f64],
        sample_rate: u32,
        channels: u16,
        bits: u16,
        float: bool,
    ) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut bytes = Vec::new();
        {
            let mut writer = hound::WavWriter::new(Cursor::new(&mut bytes), spec).unwrap();
            for &value in signal {
                for _ in 0..channels {
                    if float {
                        writer.write_sample(value as f32).unwrap();
                    } else {
                        let full_scale = ((1_i64 << (bits - 1)) - 1) as f64;
                        writer
                            .write_sample((value * full_scale).round() as i32)
                            .unwrap();
                    }
                }
            }
            writer.finalize().unwrap();
        }
        bytes
    }

    /// G.711 μ-law encoding of one sample (the reference algorithm).
    fn mu_law(sample: i16) -> u8 {
        const BIAS: i32 = 0x84;
        const CLIP: i32 = 32635;
        let mut value = i32::from(sample);
        let sign = if value < 0 { 0x80 } else { 0 };
        if value < 0 {
            value = -value;
        }
        value = value.min(CLIP) + BIAS;
        let mut exponent = 7;
        let mut mask = 0x4000;
        while exponent > 0 && value & mask == 0 {
            exponent -= 1;
            mask >>= 1;
        }
        let mantissa = (value >> (exponent + 3)) & 0x0F;
        !(sign | (exponent << 4) | mantissa) as u8
    }

    /// G.711 A-law encoding of one sample (the reference algorithm).
    fn a_law(sample: i16) -> u8 {
        const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut value = i32::from(sample) >> 3;
        let mask = if value >= 0 {
            0xD5
        } else {
            value = -value - 1;
            0x55
        };
        let Some(segment) = SEGMENT_ENDS.iter().position(|&end| value <= end) else {
            return (0x7F ^ mask) as u8;
        };
        let shift = if segment < 2 { 1 } else { segment };
        ((((segment as i32) << 4) | ((value >> shift) & 0x0F)) ^ mask) as u8
    }

    /// A WAV file of G.711 samples: `format_tag` 6 (A-law) or 7 (μ-law).
    fn g711_wav_bytes(samples: &[i16], sample_rate: u32, format_tag: u16) -> Vec<u8> {
        let encode = if format_tag == 6 { a_law } else { mu_law };
        let mut bytes = Vec::new();
        let data_len = samples.len() as u32;
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(4 + 8 + 18 + 8 + data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&18_u32.to_le_bytes());
        bytes.extend_from_slice(&format_tag.to_le_bytes());
        bytes.extend_from_slice(&1_u16.to_le_bytes()); // channels
        bytes.extend_from_slice(&sample_rate.to_le_bytes());
        bytes.extend_from_slice(&sample_rate.to_le_bytes()); // bytes per second
        bytes.extend_from_slice(&1_u16.to_le_bytes()); // block align
        bytes.extend_from_slice(&8_u16.to_le_bytes()); // bits per sample
        bytes.extend_from_slice(&0_u16.to_le_bytes()); // extra size
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        bytes.extend(samples.iter().map(|&sample| encode(sample)));
        bytes
    }

    /// Encodes `wav` to MP3 with the `lame` program, which the test machine must have.
    pub(crate) fn mp3_bytes_with_lame(wav: &[u8]) -> Vec<u8> {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-mp3-test").unwrap();
        let input = scratch.path().join("input.wav");
        let output = scratch.path().join("output.mp3");
        std::fs::write(&input, wav).unwrap();
        let status = Command::new("lame")
            .arg("--quiet")
            .arg("-b")
            .arg("64")
            .arg(&input)
            .arg(&output)
            .status()
            .unwrap_or_else(|error| {
                panic!("this test needs the `lame` MP3 encoder (apt-get install lame): {error}")
            });
        assert!(status.success(), "lame failed: {status}");
        std::fs::read(&output).unwrap()
    }

    /// A small deterministic pseudo-random generator (xorshift64*) for garbage inputs.
    pub(crate) struct Garbage(u64);

    impl Garbage {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        pub(crate) fn bytes(&mut self, count: usize) -> Vec<u8> {
            (0..count).map(|_| self.next_u64() as u8).collect()
        }
    }

    fn assert_close_to_sine(pcm: &Pcm, expected_rate: u32, expected_frames: usize, amplitude: f64) {
        assert_eq!(pcm.sample_rate, expected_rate);
        assert_eq!(pcm.samples.len(), expected_frames);
        let expected_rms = amplitude * 32767.0 / 2_f64.sqrt();
        let rms = root_mean_square(&pcm.samples);
        assert!(
            (rms / expected_rms - 1.0).abs() < 0.02,
            "rms {rms}, expected {expected_rms}"
        );
    }

    #[test]
    fn decodes_integer_wav_of_every_common_width() {
        let signal = sine(440.0, 16_000, 0.25, 0.5);
        for bits in [8, 16, 24, 32] {
            let pcm = decode(&wav_bytes(&signal, 16_000, 1, bits, false), Some("wav")).unwrap();
            assert_close_to_sine(&pcm, 16_000, signal.len(), 0.5);
        }
    }

    #[test]
    fn decodes_float_wav() {
        let signal = sine(440.0, 22_050, 0.25, 0.5);
        let pcm = decode(&wav_bytes(&signal, 22_050, 1, 32, true), None).unwrap();
        assert_close_to_sine(&pcm, 22_050, signal.len(), 0.5);
    }

    #[test]
    fn decodes_mu_law_and_a_law_wav() {
        let signal = to_i16(&sine(1000.0, 8000, 0.5, 0.5));
        for format_tag in [6, 7] {
            let pcm = decode(
                &g711_wav_bytes(&signal, 8000, format_tag),
                Some("audio/wav"),
            )
            .unwrap();
            assert_close_to_sine(&pcm, 8000, signal.len(), 0.5);
            let worst = pcm
                .samples
                .iter()
                .zip(&signal)
                .map(|(&got, &sent)| got.abs_diff(sent))
                .max();
            assert!(
                worst.is_some_and(|error| error < 600),
                "format {format_tag}: error {worst:?}"
            );
        }
    }

    #[test]
    fn averages_channels_down_to_mono() {
        let signal = sine(440.0, 44_100, 0.1, 0.5);
        let pcm = decode(&wav_bytes(&signal, 44_100, 2, 16, false), Some(".WAV")).unwrap();
        assert_close_to_sine(&pcm, 44_100, signal.len(), 0.5);

        let six = decode(&wav_bytes(&signal, 48_000, 6, 16, false), None).unwrap();
        assert_eq!(six.samples.len(), signal.len());
        assert_eq!(six.samples, to_i16(&signal));
    }

    #[test]
    fn averaging_opposite_channels_cancels_out() {
        let mut interleaved = Vec::new();
        for value in to_i16(&sine(300.0, 8000, 0.05, 0.9)) {
            interleaved.extend_from_slice(&[value, value.saturating_neg()]);
        }
        let mut mono = Vec::new();
        append_downmixed(&mut mono, &interleaved, 2);
        assert_eq!(mono.len(), interleaved.len() / 2);
        assert!(mono.iter().all(|&sample| sample.abs() <= 1));
    }

    #[test]
    fn decodes_mp3_made_by_lame() {
        let signal = sine(1000.0, 16_000, 1.0, 0.5);
        let mp3 = mp3_bytes_with_lame(&wav_bytes(&signal, 16_000, 1, 16, false));
        let pcm = decode(&mp3, Some("audio/mpeg")).unwrap();
        assert_eq!(pcm.sample_rate, 16_000);
        // Gapless decoding trims the encoder delay; allow one frame of slack either way.
        assert!(
            pcm.samples.len().abs_diff(signal.len()) <= 1152,
            "{} samples",
            pcm.samples.len()
        );
        let rms = root_mean_square(&pcm.samples);
        let expected_rms = 0.5 * 32767.0 / 2_f64.sqrt();
        assert!(
            (rms / expected_rms - 1.0).abs() < 0.1,
            "rms {rms}, expected {expected_rms}"
        );
    }

    #[test]
    fn refuses_audio_longer_than_the_limit() {
        let signal = sine(440.0, 8000, 3.0, 0.5);
        let wav = wav_bytes(&signal, 8000, 1, 16, false);
        let limits = DecodeLimits { max_seconds: 2 };
        assert!(matches!(
            decode_with_limits(&wav, None, &limits),
            Err(DecodeError::TooLong { max_seconds: 2 })
        ));
        assert!(decode_with_limits(&wav, None, &DecodeLimits { max_seconds: 3 }).is_ok());
        assert_eq!(DecodeLimits::default().max_seconds, 600);
    }

    #[test]
    fn refuses_long_mp3_while_decoding() {
        let signal = sine(440.0, 8000, 3.0, 0.5);
        let mp3 = mp3_bytes_with_lame(&wav_bytes(&signal, 8000, 1, 16, false));
        assert!(matches!(
            decode_with_limits(&mp3, Some("mp3"), &DecodeLimits { max_seconds: 1 }),
            Err(DecodeError::TooLong { max_seconds: 1 })
        ));
    }

    #[test]
    fn refuses_non_audio_with_a_typed_error() {
        assert!(matches!(
            decode(b"", None),
            Err(DecodeError::UnrecognizedFormat { .. })
        ));
        assert!(matches!(
            decode(b"<html><body>Not found</body></html>", Some("text/html")),
            Err(DecodeError::UnrecognizedFormat { .. })
        ));
    }

    #[test]
    fn keeps_the_decoded_part_of_a_truncated_wav() {
        let signal = sine(440.0, 8000, 1.0, 0.5);
        let wav = wav_bytes(&signal, 8000, 1, 16, false);
        let pcm = decode(&wav[..wav.len() / 2], None).unwrap();
        assert!(
            pcm.samples.len() > 3000 && pcm.samples.len() < 4000,
            "{}",
            pcm.samples.len()
        );
    }

    #[test]
    fn never_panics_on_garbage_or_truncation() {
        let signal = sine(440.0, 8000, 0.3, 0.5);
        let wav = wav_bytes(&signal, 8000, 2, 16, false);
        let mp3 = mp3_bytes_with_lame(&wav);
        let mut garbage = Garbage::new(7);
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for length in [1, 2, 3, 4, 11, 12, 36, 44, 45, 100, 1000, 4096, 65_536] {
            inputs.push(garbage.bytes(length));
        }
        for prefix in [&wav[..12], &wav[..44], &mp3[..4]] {
            for _ in 0..20 {
                let mut input = prefix.to_vec();
                let length = (garbage.next_u64() % 5000) as usize;
                input.extend(garbage.bytes(length));
                inputs.push(input);
            }
        }
        for source in [&wav, &mp3] {
            for cut in (0..source.len()).step_by(97) {
                inputs.push(source[..cut].to_vec());
            }
            for _ in 0..50 {
                let mut corrupted = source.clone();
                for _ in 0..8 {
                    let index = (garbage.next_u64() as usize) % corrupted.len();
                    corrupted[index] = garbage.next_u64() as u8;
                }
                inputs.push(corrupted);
            }
        }
        for (index, input) in inputs.iter().enumerate() {
            for hint in [None, Some("wav"), Some("audio/mpeg")] {
                let result = decode(input, hint);
                assert!(
                    !matches!(result, Err(DecodeError::DecoderPanicked)),
                    "decoder panicked on input {index} ({} bytes)",
                    input.len()
                );
            }
        }
    }

    #[test]
    fn hints_accept_extensions_and_mime_types() {
        // The hint only orders probing: a misleading hint still decodes the real format.
        let signal = sine(440.0, 8000, 0.1, 0.5);
        let wav = wav_bytes(&signal, 8000, 1, 16, false);
        for hint in [
            "mp3",
            "audio/mpeg; charset=binary",
            "",
            " .wav ",
            "application/octet-stream",
        ] {
            assert_eq!(
                decode(&wav, Some(hint)).unwrap().samples.len(),
                signal.len(),
                "{hint:?}"
            );
        }
    }
}
