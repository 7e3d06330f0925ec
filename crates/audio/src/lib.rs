//! Audio preparation for Warbler's `say` and `playback` commands: text and URLs in, 8 kHz mono
//! 16-bit PCM out, ready for G.711 RTP.
//!
//! - [`decode`](crate::decode()): WAV (PCM 8/16/24/32-bit, float, μ-law, A-law, ADPCM) and MP3 bytes
//!   to mono [`Pcm`], bounded in duration ([`DecodeLimits`]).
//! - [`resample`](crate::resample()): band-limited (Kaiser-windowed sinc) sample-rate conversion.
//! - [`Tts`]: speech through the `flite` (English) and `espeak-ng` (other languages) programs,
//!   found on `PATH` at run time and run as bounded subprocesses; no GPL code is linked.
//! - [`fetch`](crate::fetch()): bounded HTTP(S) downloads.
//! - [`AudioLibrary`]: the service combining them, with memory and disk caches and one
//!   production per key however many calls ask at once.
//! - [`RecordingWriter`]: call recordings written to disk as the call runs (mono or stereo WAV,
//!   at most a second lost in a crash, [`recover_partial_recordings`] after one), and
//!   [`encode_mp3`] through the `lame` program found at run time.

#![warn(missing_docs)]

mod cache;
mod decode;
mod fetch;
mod library;
mod pcm;
mod recording;
mod resample;
mod scratch;
mod tts;

pub use decode::{DecodeError, DecodeLimits, MAX_SAMPLE_RATE, decode, decode_with_limits};
pub use fetch::{FetchError, FetchLimits, Fetched, UrlScheme, fetch};
pub use library::{AudioError, AudioLibrary, AudioLibraryConfig, TELEPHONY_SAMPLE_RATE};
pub use pcm::Pcm;
pub use recording::{
    FinishedRecording, Mp3Error, Mp3Limits, Mp3Operation, RecordingError, RecordingLayout,
    RecordingOperation, RecordingWriter, WavInfo, encode_mp3, mp3_encoder_available,
    recover_partial_recordings, wav_info,
};
pub use resample::resample;
pub use tts::{
    SpeechRequest, Tts, TtsError, TtsLimits, TtsOperation, TtsProgram, TtsPrograms, Voice,
};
