//! Call recordings: written to disk while the call runs, finalised as WAV, encoded to MP3.
//!
//! A [`RecordingWriter`] streams 8 kHz 16-bit PCM (mono, or stereo with the caller on channel 0
//! and what we sent on channel 1) into `DIR/<id>.wav.part`. The header's sizes are placeholders
//! until [`RecordingWriter::finish`] fixes them, syncs the file and renames it to `DIR/<id>.wav`.
//! Samples are buffered in memory for at most one second of audio before being written, so a
//! crash of the server loses at most the last second; [`recover_partial_recordings`], run at
//! start-up, turns every `.wav.part` left behind into a valid `.wav` (a power cut may lose more:
//! the writer leaves durability to the operating system until `finish`).
//!
//! [`encode_mp3`] runs the `lame` program found at run time (no MP3 encoder is linked into the
//! binary). When it is missing or fails, the server serves the WAV file only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::library::TELEPHONY_SAMPLE_RATE;

mod mp3;

pub use mp3::{Mp3Error, Mp3Limits, Mp3Operation, encode_mp3, mp3_encoder_available};

/// The extension of a finished recording.
const FINISHED_EXTENSION: &str = ".wav";
/// The extension of a recording still being written (or left behind by a crash).
const PARTIAL_EXTENSION: &str = ".wav.part";
/// Bytes per sample: recordings are 16-bit.
const BYTES_PER_SAMPLE: usize = 2;
/// Size of the canonical header the writer produces; the samples start right after it.
const HEADER_BYTES: u64 = 44;
/// The longest recording identifier accepted, in bytes.
const MAX_ID_BYTES: usize = 200;
/// How many chunks are examined before a WAV file without a `data` chunk is given up on.
const MAX_HEADER_CHUNKS: usize = 64;
/// WAVE_FORMAT_PCM.
const FORMAT_PCM: u16 = 1;

/// The channel layout of a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecordingLayout {
    /// One channel: both directions mixed.
    #[default]
    Mono,
    /// Two interleaved channels: channel 0 is the caller (what we received), channel 1 is what
    /// we sent.
    Stereo,
}

impl RecordingLayout {
    /// The number of channels: 1 or 2.
    pub const fn channels(self) -> u16 {
        match self {
            Self::Mono => 1,
            Self::Stereo => 2,
        }
    }

    /// The layout with `channels` channels, if recordings have one.
    pub const fn from_channels(channels: u16) -> Option<Self> {
        match channels {
            1 => Some(Self::Mono),
            2 => Some(Self::Stereo),
            _ => None,
        }
    }

    /// Bytes per frame (one sample of every channel).
    const fn frame_bytes(self) -> usize {
        self.channels() as usize * BYTES_PER_SAMPLE
    }
}

/// A recording that has been finalised as a WAV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedRecording {
    /// The recording identifier (the file name without `.wav`).
    pub id: String,
    /// Where the WAV file is.
    pub path: PathBuf,
    /// Mono or stereo (1 or 2 channels).
    pub layout: RecordingLayout,
    /// The number of frames (samples per channel) in the file.
    pub frames: u64,
    /// How long the recording plays.
    pub duration: Duration,
}

/// What [`wav_info`] found in a WAV file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavInfo {
    /// The number of interleaved channels.
    pub channels: u16,
    /// Frames per second.
    pub sample_rate: u32,
    /// The number of whole frames present in the file.
    pub frames: u64,
    /// How long the audio plays.
    pub duration: Duration,
}

/// Why a recording could not be written, finished, recovered or inspected.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RecordingError {
    /// The identifier is not usable as a file name (the caller's fault): it must be 1 to 200
    /// ASCII letters, digits, `-`, `_` or `.`, not starting with `.`.
    #[error("invalid recording identifier {id:?}")]
    InvalidId {
        /// The refused identifier.
        id: String,
    },
    /// A recording with this identifier already exists in the directory (the caller's fault).
    #[error("the recording {} already exists", path.display())]
    AlreadyExists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// A stereo append did not hold whole frames (the caller's fault).
    #[error("{samples} samples do not make whole frames of {channels} channels")]
    IncompleteFrame {
        /// How many samples were passed.
        samples: usize,
        /// The recording's channel count.
        channels: u16,
    },
    /// The recording reached the 4 GiB size limit of the WAV format (about 37 hours in
    /// stereo); nothing more is appended (the caller's choice of length).
    #[error("the recording is longer than the WAV format allows ({max_duration:?})")]
    TooLong {
        /// The longest recording possible in this layout.
        max_duration: Duration,
    },
    /// An earlier write failed, so this writer no longer records; [`RecordingWriter::finish`]
    /// still keeps what reached the disk (this server's environment).
    #[error("the recording stopped after an earlier write error")]
    WriterFailed,
    /// The file is not a WAV file this crate can read or repair (damaged, or not written by
    /// whoever was expected to write it).
    #[error("{} is not a usable WAV file: {reason}", path.display())]
    InvalidWav {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Local file-system I/O failed (this server's environment: disk full, permissions).
    #[error("recording I/O failed while {operation} {}", path.display())]
    Io {
        /// What was being done.
        operation: RecordingOperation,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// The step during which recording I/O failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingOperation {
    /// Creating the directory or the `.wav.part` file.
    Creating,
    /// Writing samples.
    Writing,
    /// Fixing the header, truncating and syncing the file.
    Finalizing,
    /// Renaming `.wav.part` to `.wav`.
    Renaming,
    /// Listing the directory for partial recordings.
    ListingDirectory,
    /// Opening or reading a WAV file.
    Reading,
}

impl std::fmt::Display for RecordingOperation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Creating => "creating",
            Self::Writing => "writing",
            Self::Finalizing => "finalising",
            Self::Renaming => "renaming",
            Self::ListingDirectory => "listing",
            Self::Reading => "reading",
        })
    }
}

/// Builds the `map_err` closure for an I/O failure during `operation` on `path`.
fn io_error(
    operation: RecordingOperation,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        operation,
        path: path.to_path_buf(),
        source: Arc::new(source),
    }
}

/// Writes one recording to disk as the call runs.
///
/// One writer per recording, owned by one task. Samples go to a reusable in-memory buffer that
/// is written to the file whenever it holds one second of audio, by [`RecordingWriter::flush`],
/// and when the writer is dropped; writing is blocking file I/O of at most 32 KiB per second of
/// audio, cheap enough for an async task. Dropping the writer without
/// [`finish`](RecordingWriter::finish) leaves the `.wav.part` file for
/// [`recover_partial_recordings`].
pub struct RecordingWriter {
    id: String,
    layout: RecordingLayout,
    partial_path: PathBuf,
    finished_path: PathBuf,
    file: File,
    /// Little-endian sample bytes not yet written; never grows past `flush_threshold`.
    buffer: Vec<u8>,
    /// One second of audio, in bytes: the buffer is written when it holds this much.
    flush_threshold: usize,
    /// Frames appended (written or buffered).
    frames: u64,
    /// The most frames a WAV file can hold in this layout.
    max_frames: u64,
    paused: bool,
    /// A write failed: the buffer was discarded and nothing more is recorded.
    failed: bool,
}

impl RecordingWriter {
    /// Creates `directory/<id>.wav.part` (and `directory` if needed) with a WAV header
    /// (8 kHz, 16-bit, 1 or 2 channels) whose sizes are placeholders.
    ///
    /// Fails with [`RecordingError::InvalidId`] for an identifier that is not a plain file name
    /// and [`RecordingError::AlreadyExists`] if `<id>.wav` or `<id>.wav.part` exists.
    pub fn create(
        directory: &Path,
        id: &str,
        layout: RecordingLayout,
    ) -> Result<Self, RecordingError> {
        if !is_valid_id(id) {
            return Err(RecordingError::InvalidId { id: id.to_owned() });
        }
        std::fs::create_dir_all(directory)
            .map_err(io_error(RecordingOperation::Creating, directory))?;
        let partial_path = directory.join(format!("{id}{PARTIAL_EXTENSION}"));
        let finished_path = directory.join(format!("{id}{FINISHED_EXTENSION}"));
        if finished_path.exists() {
            return Err(RecordingError::AlreadyExists {
                path: finished_path,
            });
        }
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial_path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RecordingError::AlreadyExists { path: partial_path });
            }
            Err(error) => return Err(io_error(RecordingOperation::Creating, &partial_path)(error)),
        };
        let header = wav_header(layout.channels(), TELEPHONY_SAMPLE_RATE, 0);
        if let Err(error) = file.write_all(&header) {
            drop(file);
            // Nothing was recorded yet; a header-less file would only confuse recovery.
            let _ = std::fs::remove_file(&partial_path);
            return Err(io_error(RecordingOperation::Creating, &partial_path)(error));
        }
        let flush_threshold = TELEPHONY_SAMPLE_RATE as usize * layout.frame_bytes();
        tracing::debug!(path = %partial_path.display(), ?layout, "recording started");
        Ok(Self {
            id: id.to_owned(),
            layout,
            partial_path,
            finished_path,
            file,
            buffer: Vec::with_capacity(flush_threshold),
            flush_threshold,
            frames: 0,
            max_frames: max_data_bytes(HEADER_BYTES, layout.frame_bytes())
                / layout.frame_bytes() as u64,
            paused: false,
            failed: false,
        })
    }

    /// The recording identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Mono or stereo.
    pub fn layout(&self) -> RecordingLayout {
        self.layout
    }

    /// Where the recording is being written (`<id>.wav.part`).
    pub fn partial_path(&self) -> &Path {
        &self.partial_path
    }

    /// Appends 8 kHz samples (interleaved, caller first, for stereo).
    ///
    /// Ignored while paused. The samples are buffered and written to the file whenever a second
    /// of audio has accumulated, so a crash loses at most the last second. Allocates nothing.
    ///
    /// Fails, appending nothing, with [`RecordingError::IncompleteFrame`] if a stereo append
    /// has an odd number of samples and [`RecordingError::TooLong`] past the WAV size limit. An
    /// I/O error stops the recording: later appends fail with [`RecordingError::WriterFailed`].
    pub fn append(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        let channels = usize::from(self.layout.channels());
        if !samples.len().is_multiple_of(channels) {
            return Err(RecordingError::IncompleteFrame {
                samples: samples.len(),
                channels: self.layout.channels(),
            });
        }
        if self.failed {
            return Err(RecordingError::WriterFailed);
        }
        if self.paused || samples.is_empty() {
            return Ok(());
        }
        let new_frames = (samples.len() / channels) as u64;
        if self.frames + new_frames > self.max_frames {
            return Err(RecordingError::TooLong {
                max_duration: frames_to_duration(self.max_frames, TELEPHONY_SAMPLE_RATE),
            });
        }
        let mut remaining = samples;
        while !remaining.is_empty() {
            // The buffer always holds whole frames and the threshold is a whole number of
            // frames, so `room` is a whole number of frames too.
            let room = (self.flush_threshold - self.buffer.len()) / BYTES_PER_SAMPLE;
            let (now, later) = remaining.split_at(room.min(remaining.len()));
            self.buffer
                .extend(now.iter().flat_map(|sample| sample.to_le_bytes()));
            self.frames += (now.len() / channels) as u64;
            remaining = later;
            if self.buffer.len() >= self.flush_threshold {
                self.write_buffer()?;
            }
        }
        Ok(())
    }

    /// Writes the buffered samples to the file now (without syncing it to the device).
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        if self.failed {
            return Err(RecordingError::WriterFailed);
        }
        self.write_buffer()
    }

    /// How long the recording is so far (paused time excluded).
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.frames, TELEPHONY_SAMPLE_RATE)
    }

    /// Pauses or resumes the recording: while paused, [`append`](Self::append) ignores samples
    /// (Bird's recording status `paused` / `ongoing`).
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused != paused {
            tracing::debug!(id = %self.id, paused, "recording pause state changed");
        }
        self.paused = paused;
    }

    /// Whether the recording is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Writes the remaining samples, fixes the header sizes, syncs the file to the device and
    /// renames `<id>.wav.part` to `<id>.wav`.
    ///
    /// This blocks on `fsync`; call it from a blocking-friendly context (e.g.
    /// `tokio::task::spawn_blocking`) in a busy server. After an earlier write error it keeps
    /// what reached the disk. If it fails, the `.wav.part` file stays for
    /// [`recover_partial_recordings`].
    pub fn finish(mut self) -> Result<FinishedRecording, RecordingError> {
        if !self.failed {
            self.write_buffer()?;
        }
        let frames = finalize_file(
            &mut self.file,
            &self.partial_path,
            HEADER_BYTES,
            self.layout.frame_bytes(),
        )?;
        std::fs::rename(&self.partial_path, &self.finished_path)
            .map_err(io_error(RecordingOperation::Renaming, &self.partial_path))?;
        sync_directory_of(&self.finished_path);
        let finished = FinishedRecording {
            id: std::mem::take(&mut self.id),
            path: std::mem::take(&mut self.finished_path),
            layout: self.layout,
            frames,
            duration: frames_to_duration(frames, TELEPHONY_SAMPLE_RATE),
        };
        tracing::debug!(path = %finished.path.display(), frames, "recording finished");
        Ok(finished)
    }

    /// Writes the buffer to the file; on failure, discards it and stops the recording.
    fn write_buffer(&mut self) -> Result<(), RecordingError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.buffer);
        self.buffer.clear();
        if let Err(error) = result {
            self.failed = true;
            tracing::warn!(path = %self.partial_path.display(), %error, "recording write failed; the recording stops here");
            return Err(io_error(RecordingOperation::Writing, &self.partial_path)(
                error,
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for RecordingWriter {
    /// Everything but the buffered samples themselves.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RecordingWriter")
            .field("id", &self.id)
            .field("layout", &self.layout)
            .field("partial_path", &self.partial_path)
            .field("frames", &self.frames)
            .field("buffered_bytes", &self.buffer.len())
            .field("paused", &self.paused)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Drop for RecordingWriter {
    /// Writes what is buffered, leaving the `.wav.part` file for recovery unless
    /// [`RecordingWriter::finish`] already renamed it.
    fn drop(&mut self) {
        if !self.failed {
            // Errors are logged by `write_buffer`; there is no one to return them to.
            let _ = self.write_buffer();
        }
    }
}

/// Repairs every `*.wav.part` file in `directory` left behind by a crash and renames it to
/// `.wav`: the header sizes are recomputed from the file length, truncated to whole frames, and
/// the file is synced. Returns what was finalised, sorted by identifier.
///
/// Run it at start-up, before any [`RecordingWriter`] writes to `directory`. A missing
/// directory holds nothing to recover. A file that cannot be repaired (its header is damaged, or
/// `<id>.wav` already exists) is left in place and logged; only failing to list the directory
/// is an error.
pub fn recover_partial_recordings(
    directory: &Path,
) -> Result<Vec<FinishedRecording>, RecordingError> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(io_error(RecordingOperation::ListingDirectory, directory)(
                error,
            ));
        }
    };
    let mut recovered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(RecordingOperation::ListingDirectory, directory))?;
        let file_name = entry.file_name();
        let Some(id) = file_name
            .to_str()
            .and_then(|name| name.strip_suffix(PARTIAL_EXTENSION))
        else {
            continue;
        };
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        match recover_one(directory, id, &entry.path()) {
            Ok(recording) => {
                tracing::info!(
                    path = %recording.path.display(),
                    duration_ms = recording.duration.as_millis() as u64,
                    "recovered a partial recording"
                );
                recovered.push(recording);
            }
            Err(error) => {
                tracing::warn!(path = %entry.path().display(), %error, "could not recover a partial recording; left in place");
            }
        }
    }
    recovered.sort_by(|left, right| left.id.cmp(&right.id));
    Ok(recovered)
}

/// Repairs and renames one partial recording.
fn recover_one(
    directory: &Path,
    id: &str,
    partial_path: &Path,
) -> Result<FinishedRecording, RecordingError> {
    let finished_path = directory.join(format!("{id}{FINISHED_EXTENSION}"));
    if finished_path.exists() {
        return Err(RecordingError::AlreadyExists {
            path: finished_path,
        });
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial_path)
        .map_err(io_error(RecordingOperation::Reading, partial_path))?;
    let header = read_wav_header(&mut file, partial_path)?;
    let invalid = |reason| RecordingError::InvalidWav {
        path: partial_path.to_path_buf(),
        reason,
    };
    if header.format_tag != FORMAT_PCM || header.bits_per_sample != 16 {
        return Err(invalid("not 16-bit PCM"));
    }
    let layout = RecordingLayout::from_channels(header.channels)
        .ok_or_else(|| invalid("neither mono nor stereo"))?;
    if usize::from(header.block_align) != layout.frame_bytes() {
        return Err(invalid("inconsistent block alignment"));
    }
    let frames = finalize_file(
        &mut file,
        partial_path,
        header.data_offset,
        layout.frame_bytes(),
    )?;
    drop(file);
    std::fs::rename(partial_path, &finished_path)
        .map_err(io_error(RecordingOperation::Renaming, partial_path))?;
    sync_directory_of(&finished_path);
    Ok(FinishedRecording {
        id: id.to_owned(),
        path: finished_path,
        layout,
        frames,
        duration: frames_to_duration(frames, header.sample_rate),
    })
}

/// Reads the header of the WAV file at `path`: channels, sample rate and the number of whole
/// frames actually present (a header claiming more data than the file holds is not believed).
pub fn wav_info(path: &Path) -> Result<WavInfo, RecordingError> {
    let mut file = File::open(path).map_err(io_error(RecordingOperation::Reading, path))?;
    let header = read_wav_header(&mut file, path)?;
    let length = file
        .metadata()
        .map_err(io_error(RecordingOperation::Reading, path))?
        .len();
    let present = length.saturating_sub(header.data_offset);
    let declared = u64::from(header.declared_data_bytes);
    // Writers that stream leave 0 or 0xFFFFFFFF as the size; the file length is the truth then.
    let data_bytes = if declared == 0 || declared == u64::from(u32::MAX) {
        present
    } else {
        declared.min(present)
    };
    let frames = data_bytes / u64::from(header.block_align);
    Ok(WavInfo {
        channels: header.channels,
        sample_rate: header.sample_rate,
        frames,
        duration: frames_to_duration(frames, header.sample_rate),
    })
}

/// Whether `id` is safe as a file name: ASCII letters, digits, `-`, `_`, `.`; not starting
/// with `.`; at most [`MAX_ID_BYTES`].
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// The playing time of `frames` at `sample_rate` (zero for a zero rate), exact to the
/// nanosecond.
pub(crate) fn frames_to_duration(frames: u64, sample_rate: u32) -> Duration {
    if sample_rate == 0 {
        return Duration::ZERO;
    }
    let rate = u64::from(sample_rate);
    let nanos = (frames % rate) * 1_000_000_000 / rate;
    Duration::from_secs(frames / rate) + Duration::from_nanos(nanos)
}

/// The largest `data` chunk (a whole number of frames) that keeps the RIFF size within 32 bits,
/// for samples starting at `data_offset`.
fn max_data_bytes(data_offset: u64, frame_bytes: usize) -> u64 {
    let limit = u64::from(u32::MAX).saturating_sub(data_offset - 8);
    limit - limit % frame_bytes as u64
}

/// The canonical 44-byte header of 16-bit PCM with `data_bytes` of samples.
fn wav_header(channels: u16, sample_rate: u32, data_bytes: u32) -> [u8; HEADER_BYTES as usize] {
    let block_align = channels * BYTES_PER_SAMPLE as u16;
    let byte_rate = sample_rate * u32::from(block_align);
    let mut header = [0_u8; HEADER_BYTES as usize];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &(data_bytes.saturating_add(36)).to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16_u32.to_le_bytes(),
        &FORMAT_PCM.to_le_bytes(),
        &channels.to_le_bytes(),
        &sample_rate.to_le_bytes(),
        &byte_rate.to_le_bytes(),
        &block_align.to_le_bytes(),
        &16_u16.to_le_bytes(),
        b"data",
        &data_bytes.to_le_bytes(),
    ];
    let mut offset = 0;
    for field in fields {
        header[offset..offset + field.len()].copy_from_slice(field);
        offset += field.len();
    }
    header
}

/// What the parser found in a WAV header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WavHeader {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    bits_per_sample: u16,
    /// Where the samples start.
    data_offset: u64,
    /// What the `data` chunk header claims (a placeholder in a partial recording).
    declared_data_bytes: u32,
}

/// Parses the RIFF/WAVE header of `file` up to the start of the `data` chunk.
fn read_wav_header(file: &mut File, path: &Path) -> Result<WavHeader, RecordingError> {
    let invalid = |reason| RecordingError::InvalidWav {
        path: path.to_path_buf(),
        reason,
    };
    let read_error = |error: std::io::Error| {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid("the header is truncated or has no data chunk")
        } else {
            io_error(RecordingOperation::Reading, path)(error)
        }
    };
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut riff = [0_u8; 12];
    file.read_exact(&mut riff).map_err(read_error)?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(invalid("not a RIFF/WAVE file"));
    }
    let mut format: Option<(u16, u16, u32, u16, u16)> = None;
    let mut position: u64 = 12;
    for _ in 0..MAX_HEADER_CHUNKS {
        let mut chunk = [0_u8; 8];
        file.read_exact(&mut chunk).map_err(read_error)?;
        position += 8;
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        match &chunk[0..4] {
            b"data" => {
                let (format_tag, channels, sample_rate, block_align, bits_per_sample) =
                    format.ok_or_else(|| invalid("the data chunk comes before the format"))?;
                return Ok(WavHeader {
                    format_tag,
                    channels,
                    sample_rate,
                    block_align,
                    bits_per_sample,
                    data_offset: position,
                    declared_data_bytes: size,
                });
            }
            b"fmt " => {
                if size < 16 {
                    return Err(invalid("the format chunk is too short"));
                }
                let mut fields = [0_u8; 16];
                file.read_exact(&mut fields).map_err(read_error)?;
                let u16_at = |at: usize| u16::from_le_bytes([fields[at], fields[at + 1]]);
                let sample_rate = u32::from_le_bytes([fields[4], fields[5], fields[6], fields[7]]);
                let (channels, block_align) = (u16_at(2), u16_at(12));
                if channels == 0 || sample_rate == 0 || block_align == 0 {
                    return Err(invalid("zero channels, sample rate or block size"));
                }
                format = Some((u16_at(0), channels, sample_rate, block_align, u16_at(14)));
                let rest = u64::from(size) - 16 + u64::from(size & 1);
                position = file
                    .seek(SeekFrom::Current(rest as i64))
                    .map_err(read_error)?;
            }
            _ => {
                let skip = u64::from(size) + u64::from(size & 1);
                position = file
                    .seek(SeekFrom::Current(skip as i64))
                    .map_err(read_error)?;
            }
        }
    }
    Err(invalid("no data chunk among the first chunks"))
}

/// Makes the file a valid WAV file: truncates the samples after `data_offset` to whole frames
/// (and to the format's size limit), writes the RIFF and data sizes, and syncs. Returns the
/// number of frames.
fn finalize_file(
    file: &mut File,
    path: &Path,
    data_offset: u64,
    frame_bytes: usize,
) -> Result<u64, RecordingError> {
    let finalize_error = io_error(RecordingOperation::Finalizing, path);
    let result = (|| {
        let length = file.metadata()?.len();
        let present = length.saturating_sub(data_offset);
        let data_bytes =
            (present - present % frame_bytes as u64).min(max_data_bytes(data_offset, frame_bytes));
        if data_offset + data_bytes != length {
            file.set_len(data_offset + data_bytes)?;
        }
        // Both fit: `max_data_bytes` keeps the RIFF size within 32 bits.
        let riff_size = u32::try_from(data_offset - 8 + data_bytes).unwrap_or(u32::MAX);
        let data_size = u32::try_from(data_bytes).unwrap_or(u32::MAX);
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&riff_size.to_le_bytes())?;
        file.seek(SeekFrom::Start(data_offset - 4))?;
        file.write_all(&data_size.to_le_bytes())?;
        file.seek(SeekFrom::End(0))?;
        file.sync_all()?;
        Ok(data_bytes / frame_bytes as u64)
    })();
    result.map_err(finalize_error)
}

/// Syncs the directory holding `path` so a rename survives a power cut (best effort).
fn sync_directory_of(path: &Path) {
    let Some(directory) = path.parent() else {
        return;
    };
    if let Err(error) = File::open(directory).and_then(|directory| directory.sync_all()) {
        tracing::debug!(directory = %directory.display(), %error, "could not sync the recordings directory");
    }
}

#[cfg(test)]
pub(crate) mod tests;
