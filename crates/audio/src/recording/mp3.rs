//! MP3 encoding through the `lame` program found at run time.
//!
//! No MP3 encoder is linked into Warbler (LAME is LGPL); the `lame` program (Debian package
//! `lame`) is run as a subprocess instead: `lame --quiet -b 32 IN.wav OUT.mp3.part` for mono,
//! `-b 64` for stereo. Paths are passed as arguments, never through a shell; the run has a
//! timeout and is killed if its future is dropped. The output appears under its final name only
//! once complete.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;

use super::{RecordingError, wav_info};
use crate::tts::{find_on_path, read_bounded};

/// The encoder's executable name, looked up on `PATH`.
const LAME: &str = "lame";

/// How to run the MP3 encoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp3Limits {
    /// The `lame` executable; `None` (the default) looks `lame` up on `PATH` at each run.
    pub program: Option<PathBuf>,
    /// How long one encoding may run before it is killed (default 5 minutes, far more than
    /// the few seconds an hour of 8 kHz audio takes).
    pub timeout: Duration,
}

impl Default for Mp3Limits {
    fn default() -> Self {
        Self {
            program: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Why a recording could not be encoded to MP3. In every case the WAV file is untouched and
/// can be served instead.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Mp3Error {
    /// `lame` is not installed, or not at the configured path (this server's setup).
    #[error("the MP3 encoder {} is missing", program.display())]
    ProgramMissing {
        /// The program that was looked for.
        program: PathBuf,
    },
    /// The encoder did not finish in time and was killed.
    #[error("the MP3 encoder did not finish within {after:?}")]
    Timeout {
        /// The time limit.
        after: Duration,
    },
    /// The encoder exited unsuccessfully (its fault, or the input's).
    #[error("the MP3 encoder failed ({status}): {stderr}")]
    Failed {
        /// How it exited.
        status: ExitStatus,
        /// The start of what it wrote to standard error.
        stderr: String,
    },
    /// The input is not a mono or stereo WAV file that could be read.
    #[error("the recording to encode is unusable")]
    InvalidInput {
        /// What was wrong with it.
        #[source]
        source: RecordingError,
    },
    /// Local I/O around the encoder failed (this server's environment).
    #[error("MP3 encoding I/O failed while {operation}")]
    Io {
        /// What was being done.
        operation: Mp3Operation,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// The step of an encoding during which local I/O failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mp3Operation {
    /// Starting or waiting for the encoder.
    RunningProgram,
    /// Syncing the output and renaming `.mp3.part` to its final name.
    StoringOutput,
}

impl std::fmt::Display for Mp3Operation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::RunningProgram => "running the encoder",
            Self::StoringOutput => "storing the output",
        })
    }
}

/// Whether `lame` is on `PATH` (for [`Mp3Limits::program`] `None`).
pub fn mp3_encoder_available() -> bool {
    find_on_path(LAME).is_some()
}

/// Encodes the WAV file `wav` (mono or stereo) to `mp3` with `lame`: 32 kbit/s for mono,
/// 64 kbit/s for stereo.
///
/// The encoder writes `<mp3>.part`, which is synced and renamed to `mp3` on success and removed
/// on failure. Concurrency is the caller's to bound.
pub async fn encode_mp3(wav: &Path, mp3: &Path, limits: &Mp3Limits) -> Result<(), Mp3Error> {
    let program = match &limits.program {
        Some(program) => program.clone(),
        None => find_on_path(LAME).ok_or_else(|| Mp3Error::ProgramMissing {
            program: PathBuf::from(LAME),
        })?,
    };
    let wav_owned = wav.to_path_buf();
    let info = tokio::task::spawn_blocking(move || wav_info(&wav_owned))
        .await
        .map_err(|join_error| Mp3Error::Io {
            operation: Mp3Operation::RunningProgram,
            source: Arc::new(std::io::Error::other(join_error)),
        })?
        .map_err(|source| Mp3Error::InvalidInput { source })?;
    let bitrate = match info.channels {
        1 => "32",
        2 => "64",
        _ => {
            return Err(Mp3Error::InvalidInput {
                source: RecordingError::InvalidWav {
                    path: wav.to_path_buf(),
                    reason: "neither mono nor stereo",
                },
            });
        }
    };

    let mut partial = mp3.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let result = run_lame(&program, bitrate, wav, &partial, limits.timeout).await;
    let result = match result {
        Ok(()) => store_output(&partial, mp3).await,
        Err(error) => Err(error),
    };
    if result.is_err() {
        // Whatever half-written output there is must not be mistaken for an MP3.
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

/// Runs the encoder from `wav` to `output`.
async fn run_lame(
    program: &Path,
    bitrate: &str,
    wav: &Path,
    output: &Path,
    timeout: Duration,
) -> Result<(), Mp3Error> {
    let started = std::time::Instant::now();
    let mut child = Command::new(program)
        .arg("--quiet")
        .arg("-b")
        .arg(bitrate)
        .arg(path_argument(wav))
        .arg(path_argument(output))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Mp3Error::ProgramMissing {
                program: program.to_path_buf(),
            },
            _ => Mp3Error::Io {
                operation: Mp3Operation::RunningProgram,
                source: Arc::new(source),
            },
        })?;
    let stderr = child.stderr.take();
    let finished = tokio::time::timeout(timeout, async {
        tokio::join!(child.wait(), read_bounded(stderr))
    })
    .await;
    let Ok((status, stderr)) = finished else {
        if let Err(error) = child.kill().await {
            tracing::warn!(%error, "could not kill a timed-out MP3 encoder");
        }
        return Err(Mp3Error::Timeout { after: timeout });
    };
    let status = status.map_err(|source| Mp3Error::Io {
        operation: Mp3Operation::RunningProgram,
        source: Arc::new(source),
    })?;
    if !status.success() {
        return Err(Mp3Error::Failed { status, stderr });
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        output = %output.display(),
        "recording encoded to MP3"
    );
    Ok(())
}

/// Syncs the encoder's output and gives it its final name.
async fn store_output(partial: &Path, mp3: &Path) -> Result<(), Mp3Error> {
    let io_error = |source| Mp3Error::Io {
        operation: Mp3Operation::StoringOutput,
        source: Arc::new(source),
    };
    tokio::fs::File::open(partial)
        .await
        .map_err(io_error)?
        .sync_all()
        .await
        .map_err(io_error)?;
    tokio::fs::rename(partial, mp3).await.map_err(io_error)
}

/// `path` as a command-line argument the encoder cannot take for an option or for standard
/// input/output: a relative path starting with `-` gets a `./` prefix.
pub(super) fn path_argument(path: &Path) -> OsString {
    if path.is_relative() && path.as_os_str().as_encoded_bytes().starts_with(b"-") {
        Path::new(".").join(path).into_os_string()
    } else {
        path.as_os_str().to_owned()
    }
}
