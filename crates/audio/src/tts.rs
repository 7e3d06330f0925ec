//! Text-to-speech through programs found at run time.
//!
//! No speech synthesiser is linked into Warbler (the good free ones are GPL); instead two programs
//! are run as subprocesses when present on `PATH`:
//!
//! - `flite` (CMU Flite) for English: voices `slt` (female) and `rms` (male);
//! - `espeak-ng` for every other language it knows (and for English when `flite` is absent), with
//!   the `+f3` (female) or `+m3` (male) variant.
//!
//! The text is written to a private scratch file and passed with `-f`, never on a command line
//! or through a shell, so text such as `-o /etc/passwd` is spoken, not obeyed. Each run has a
//! timeout, a bound on the size of the WAV file it may produce, and is killed if its future is
//! dropped. The number of concurrent runs is bounded as well.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::decode::{DecodeError, DecodeLimits, decode_with_limits};
use crate::pcm::Pcm;
use crate::scratch::ScratchDirectory;

/// How much of a failing program's standard error is kept for the error report.
const MAX_STDERR_BYTES: usize = 2048;

/// The nature of the voice to speak with (Bird's `voice`: `female` or `male`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Voice {
    /// A female voice (Bird's default).
    #[default]
    Female,
    /// A male voice.
    Male,
}

/// What to say, in which language, with which voice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpeechRequest {
    /// The text to speak (plain text, not SSML).
    pub text: String,
    /// A Bird TTS locale such as `en-US` or `de-DE` (matched case-insensitively).
    pub locale: String,
    /// The voice nature.
    pub voice: Voice,
}

/// A text-to-speech program this crate can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtsProgram {
    /// CMU Flite, used for English.
    Flite,
    /// eSpeak NG, used for the other languages.
    EspeakNg,
}

impl TtsProgram {
    /// The executable's file name.
    pub fn executable_name(self) -> &'static str {
        match self {
            Self::Flite => "flite",
            Self::EspeakNg => "espeak-ng",
        }
    }
}

impl std::fmt::Display for TtsProgram {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.executable_name())
    }
}

/// Where the TTS programs are; `None` for a program that is not installed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TtsPrograms {
    /// Path of the `flite` executable.
    pub flite: Option<PathBuf>,
    /// Path of the `espeak-ng` executable.
    pub espeak_ng: Option<PathBuf>,
}

impl TtsPrograms {
    /// Looks both programs up on `PATH`.
    pub fn discover() -> Self {
        Self {
            flite: find_on_path(TtsProgram::Flite.executable_name()),
            espeak_ng: find_on_path(TtsProgram::EspeakNg.executable_name()),
        }
    }

    /// The path of `program`, if present.
    pub fn path(&self, program: TtsProgram) -> Option<&Path> {
        match program {
            TtsProgram::Flite => self.flite.as_deref(),
            TtsProgram::EspeakNg => self.espeak_ng.as_deref(),
        }
    }
}

/// Bounds on each synthesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtsLimits {
    /// How long a program may run before it is killed (default 30 s).
    pub timeout: Duration,
    /// The largest WAV file a program may produce (default 64 MiB).
    pub max_output_bytes: u64,
    /// The longest text accepted, in characters (default 5000, several minutes of speech).
    pub max_text_chars: usize,
    /// How many programs may run at once (default: the number of CPUs).
    pub max_concurrent: usize,
    /// The longest speech accepted when decoding the program's output.
    pub decode: DecodeLimits,
}

impl Default for TtsLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_output_bytes: 64 * 1024 * 1024,
            max_text_chars: 5000,
            max_concurrent: std::thread::available_parallelism().map_or(2, usize::from),
            decode: DecodeLimits::default(),
        }
    }
}

/// Why speech could not be synthesised.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TtsError {
    /// The text is empty or only whitespace (the caller's fault).
    #[error("nothing to say: the text is empty")]
    EmptyText,
    /// The text is longer than [`TtsLimits::max_text_chars`] (the caller's fault).
    #[error("the text is longer than {max_chars} characters")]
    TextTooLong {
        /// The limit, in characters.
        max_chars: usize,
    },
    /// No installed program speaks this locale (the caller's choice, or this server's setup).
    #[error("locale {locale:?} is not supported here; supported: {}", supported.join(", "))]
    UnsupportedLocale {
        /// The locale asked for.
        locale: String,
        /// The locales this server can speak with the programs it has.
        supported: Vec<&'static str>,
    },
    /// The program was found at start-up but cannot be run now (this server's setup).
    #[error("the text-to-speech program {program} is missing")]
    ProgramMissing {
        /// The missing program.
        program: TtsProgram,
    },
    /// The program did not finish in time and was killed.
    #[error("{program} did not finish within {after:?}")]
    Timeout {
        /// The program that was killed.
        program: TtsProgram,
        /// The time limit.
        after: Duration,
    },
    /// The program exited unsuccessfully.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// The failing program.
        program: TtsProgram,
        /// How it exited.
        status: ExitStatus,
        /// The start of what it wrote to standard error.
        stderr: String,
    },
    /// The program produced more audio than [`TtsLimits::max_output_bytes`].
    #[error("{program} produced more than {max_bytes} bytes of audio")]
    OutputTooLarge {
        /// The program.
        program: TtsProgram,
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// The program's output is not audio this crate can read.
    #[error("could not decode the audio produced by {program}")]
    Decode {
        /// The program.
        program: TtsProgram,
        /// Why decoding failed.
        #[source]
        source: DecodeError,
    },
    /// Local I/O around the program failed: scratch files, starting the process (this
    /// server's environment).
    #[error("text-to-speech I/O failed while {operation}")]
    Io {
        /// What was being done.
        operation: TtsOperation,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// The step of a synthesis during which local I/O failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtsOperation {
    /// Creating the scratch directory or writing the text file.
    PreparingInput,
    /// Starting or waiting for the program.
    RunningProgram,
    /// Reading the program's WAV output.
    ReadingOutput,
}

impl std::fmt::Display for TtsOperation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::PreparingInput => "preparing the input",
            Self::RunningProgram => "running the program",
            Self::ReadingOutput => "reading the output",
        })
    }
}

/// How a locale can be spoken: by flite (English only) and/or by an espeak-ng voice.
#[derive(Clone, Copy, Debug)]
struct LocaleVoices {
    /// The Bird locale.
    locale: &'static str,
    /// Whether flite (US English voices) may speak it.
    flite: bool,
    /// The espeak-ng voice for it, if espeak-ng has the language.
    espeak_ng: Option<&'static str>,
}

const fn english(locale: &'static str, espeak_voice: &'static str) -> LocaleVoices {
    LocaleVoices {
        locale,
        flite: true,
        espeak_ng: Some(espeak_voice),
    }
}

const fn espeak(locale: &'static str, espeak_voice: &'static str) -> LocaleVoices {
    LocaleVoices {
        locale,
        flite: false,
        espeak_ng: Some(espeak_voice),
    }
}

const fn voiceless(locale: &'static str) -> LocaleVoices {
    LocaleVoices {
        locale,
        flite: false,
        espeak_ng: None,
    }
}

/// Every Bird TTS locale and how it is spoken. espeak-ng (1.51) has no Filipino and no Galician.
/// Regional variants without their own espeak-ng voice use the nearest one (de-AT → de,
/// fr-CA → fr-fr, nl-BE → nl, es-MX/es-US → es-419, non-US English → en-gb).
const LOCALES: &[LocaleVoices] = &[
    espeak("arb", "ar"),
    espeak("ar-AE", "ar"),
    espeak("bg-BG", "bg"),
    espeak("bn-IN", "bn"),
    espeak("ca-ES", "ca"),
    espeak("cs-CZ", "cs"),
    espeak("cy-GB", "cy"),
    espeak("cmn-CN", "cmn"),
    espeak("da-DK", "da"),
    espeak("de-CH", "de"),
    espeak("de-DE", "de"),
    espeak("de-AT", "de"),
    espeak("el-GR", "el"),
    english("en-AU", "en-gb"),
    english("en-GB", "en-gb"),
    english("en-IN", "en-gb"),
    english("en-NZ", "en-gb"),
    english("en-ZA", "en-gb"),
    english("en-US", "en-us"),
    english("en-GB-WLS", "en-gb"),
    espeak("es-ES", "es"),
    espeak("es-MX", "es-419"),
    espeak("es-US", "es-419"),
    espeak("eu-ES", "eu"),
    espeak("fi-FI", "fi"),
    voiceless("fil-PH"),
    espeak("fr-FR", "fr-fr"),
    espeak("fr-BE", "fr-be"),
    espeak("fr-CA", "fr-fr"),
    voiceless("gl-ES"),
    espeak("gu-IN", "gu"),
    espeak("he-IL", "he"),
    espeak("hi-IN", "hi"),
    espeak("hu-HU", "hu"),
    espeak("id-ID", "id"),
    espeak("is-IS", "is"),
    espeak("it-IT", "it"),
    espeak("ja-JP", "ja"),
    espeak("ko-KR", "ko"),
    espeak("lt-LT", "lt"),
    espeak("lv-LV", "lv"),
    espeak("ms-MY", "ms"),
    espeak("nl-BE", "nl"),
    espeak("nl-NL", "nl"),
    espeak("nb-NO", "nb"),
    espeak("pa-IN", "pa"),
    espeak("pl-PL", "pl"),
    espeak("pt-BR", "pt-br"),
    espeak("pt-PT", "pt"),
    espeak("ro-RO", "ro"),
    espeak("ru-RU", "ru"),
    espeak("sk-SK", "sk"),
    espeak("sr-RS", "sr"),
    espeak("sv-SE", "sv"),
    espeak("ta-IN", "ta"),
    espeak("te-IN", "te"),
    espeak("tr-TR", "tr"),
    espeak("th-TH", "th"),
    espeak("uk-UA", "uk"),
    espeak("vi-VN", "vi"),
    espeak("yue-CN", "yue"),
];

/// The resolved way to speak one request: which program, with which voice arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpeechEngine {
    /// flite with one of its built-in voices.
    Flite {
        /// `slt` or `rms`.
        voice: &'static str,
    },
    /// espeak-ng with a voice and variant, e.g. `de` and `f3`.
    EspeakNg {
        /// The espeak-ng voice (language) name.
        voice: &'static str,
        /// The voice variant, `f3` or `m3`.
        variant: &'static str,
    },
}

impl SpeechEngine {
    fn program(self) -> TtsProgram {
        match self {
            Self::Flite { .. } => TtsProgram::Flite,
            Self::EspeakNg { .. } => TtsProgram::EspeakNg,
        }
    }

    /// A stable description of the engine and voice, part of cache keys.
    pub(crate) fn identity(self) -> String {
        match self {
            Self::Flite { voice } => format!("flite/{voice}"),
            Self::EspeakNg { voice, variant } => format!("espeak-ng/{voice}+{variant}"),
        }
    }

    /// The program's arguments: read `text_file`, write WAV to `output_file`.
    fn arguments(self, text_file: &Path, output_file: &Path) -> Vec<std::ffi::OsString> {
        match self {
            Self::Flite { voice } => vec![
                "-voice".into(),
                voice.into(),
                "-f".into(),
                text_file.into(),
                "-o".into(),
                output_file.into(),
            ],
            Self::EspeakNg { voice, variant } => vec![
                "-v".into(),
                format!("{voice}+{variant}").into(),
                "-b".into(),
                "1".into(), // the text file is UTF-8
                "-f".into(),
                text_file.into(),
                "-w".into(),
                output_file.into(),
            ],
        }
    }
}

/// The text-to-speech service: knows which programs exist and runs them.
#[derive(Debug)]
pub struct Tts {
    programs: TtsPrograms,
    limits: TtsLimits,
    permits: Semaphore,
}

impl Tts {
    /// Finds `flite` and `espeak-ng` on `PATH`, with default [`TtsLimits`].
    pub fn discover() -> Tts {
        let tts = Self::new(TtsPrograms::discover(), TtsLimits::default());
        tracing::info!(
            flite = ?tts.programs.flite,
            espeak_ng = ?tts.programs.espeak_ng,
            locales = tts.supported_locales().len(),
            "text-to-speech programs discovered"
        );
        tts
    }

    /// Uses the given programs and limits.
    pub fn new(programs: TtsPrograms, limits: TtsLimits) -> Tts {
        let permits = Semaphore::new(limits.max_concurrent.max(1));
        Self {
            programs,
            limits,
            permits,
        }
    }

    /// The programs in use.
    pub fn programs(&self) -> &TtsPrograms {
        &self.programs
    }

    /// The limits in force.
    pub fn limits(&self) -> &TtsLimits {
        &self.limits
    }

    /// The Bird locales this server can speak with the programs present, in Bird's order.
    pub fn supported_locales(&self) -> Vec<&'static str> {
        LOCALES
            .iter()
            .filter(|entry| self.engine_for(entry, Voice::Female).is_some())
            .map(|entry| entry.locale)
            .collect()
    }

    /// `Ok` if `locale` can be spoken here, otherwise [`TtsError::UnsupportedLocale`] listing
    /// what can.
    pub fn supports(&self, locale: &str) -> Result<(), TtsError> {
        self.engine(locale, Voice::Female).map(|_| ())
    }

    /// Resolves a locale and voice to the program and voice that will speak them.
    pub(crate) fn engine(&self, locale: &str, voice: Voice) -> Result<SpeechEngine, TtsError> {
        LOCALES
            .iter()
            .find(|entry| entry.locale.eq_ignore_ascii_case(locale.trim()))
            .and_then(|entry| self.engine_for(entry, voice))
            .ok_or_else(|| TtsError::UnsupportedLocale {
                locale: locale.to_owned(),
                supported: self.supported_locales(),
            })
    }

    fn engine_for(&self, entry: &LocaleVoices, voice: Voice) -> Option<SpeechEngine> {
        if entry.flite && self.programs.flite.is_some() {
            let voice = match voice {
                Voice::Female => "slt",
                Voice::Male => "rms",
            };
            return Some(SpeechEngine::Flite { voice });
        }
        match (entry.espeak_ng, &self.programs.espeak_ng) {
            (Some(espeak_voice), Some(_)) => Some(SpeechEngine::EspeakNg {
                voice: espeak_voice,
                variant: match voice {
                    Voice::Female => "f3",
                    Voice::Male => "m3",
                },
            }),
            _ => None,
        }
    }

    /// Checks the text of `request` and resolves its engine, without running anything.
    pub(crate) fn plan(&self, request: &SpeechRequest) -> Result<SpeechEngine, TtsError> {
        if request.text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        if request.text.chars().count() > self.limits.max_text_chars {
            return Err(TtsError::TextTooLong {
                max_chars: self.limits.max_text_chars,
            });
        }
        self.engine(&request.locale, request.voice)
    }

    /// Speaks `request`, returning the program's audio at its own sample rate (16 kHz for flite,
    /// 22.05 kHz for espeak-ng).
    pub async fn synthesize(&self, request: &SpeechRequest) -> Result<Pcm, TtsError> {
        let engine = self.plan(request)?;
        self.run(engine, &request.text).await
    }

    /// Runs `engine` on `text` (already checked by [`Tts::plan`]).
    pub(crate) async fn run(&self, engine: SpeechEngine, text: &str) -> Result<Pcm, TtsError> {
        let program = engine.program();
        let executable = self
            .programs
            .path(program)
            .ok_or(TtsError::ProgramMissing { program })?
            .to_path_buf();
        // The semaphore is never closed, so acquiring only waits.
        let permit = self.permits.acquire().await;

        let io_error = |operation: TtsOperation| {
            move |source: std::io::Error| TtsError::Io {
                operation,
                source: Arc::new(source),
            }
        };
        let scratch = ScratchDirectory::in_temporary_directory("warbler-tts")
            .map_err(io_error(TtsOperation::PreparingInput))?;
        let text_file = scratch.path().join("text.txt");
        let output_file = scratch.path().join("speech.wav");
        tokio::fs::write(&text_file, plain_text(text))
            .await
            .map_err(io_error(TtsOperation::PreparingInput))?;

        let started = std::time::Instant::now();
        let mut child = Command::new(&executable)
            .args(engine.arguments(&text_file, &output_file))
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => TtsError::ProgramMissing { program },
                _ => io_error(TtsOperation::RunningProgram)(source),
            })?;
        let stderr = child.stderr.take();
        let finished = tokio::time::timeout(self.limits.timeout, async {
            let (status, stderr) = tokio::join!(child.wait(), read_bounded(stderr));
            (status, stderr)
        })
        .await;
        let (status, stderr) = match finished {
            Ok(finished) => finished,
            Err(_elapsed) => {
                if let Err(error) = child.kill().await {
                    tracing::warn!(%program, %error, "could not kill a timed-out TTS program");
                }
                return Err(TtsError::Timeout {
                    program,
                    after: self.limits.timeout,
                });
            }
        };
        let status = status.map_err(io_error(TtsOperation::RunningProgram))?;
        if !status.success() {
            return Err(TtsError::Failed {
                program,
                status,
                stderr,
            });
        }

        let size = tokio::fs::metadata(&output_file)
            .await
            .map_err(io_error(TtsOperation::ReadingOutput))?
            .len();
        if size > self.limits.max_output_bytes {
            return Err(TtsError::OutputTooLarge {
                program,
                max_bytes: self.limits.max_output_bytes,
            });
        }
        let wav = tokio::fs::read(&output_file)
            .await
            .map_err(io_error(TtsOperation::ReadingOutput))?;
        drop(scratch);
        drop(permit);

        let limits = self.limits.decode;
        let pcm =
            tokio::task::spawn_blocking(move || decode_with_limits(&wav, Some("wav"), &limits))
                .await
                .unwrap_or(Err(DecodeError::DecoderPanicked))
                .map_err(|source| TtsError::Decode { program, source })?;
        tracing::debug!(
            %program,
            elapsed_ms = started.elapsed().as_millis() as u64,
            audio_ms = pcm.duration().as_millis() as u64,
            "speech synthesised"
        );
        Ok(pcm)
    }
}

/// The text as the programs should read it: control characters (other than line breaks and
/// tabs) become spaces.
fn plain_text(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '\n' | '\t' => character,
            _ if character.is_control() => ' ',
            _ => character,
        })
        .collect()
}

/// Reads all of `stream`, keeping the first [`MAX_STDERR_BYTES`] as (lossy) text.
pub(crate) async fn read_bounded(stream: Option<tokio::process::ChildStderr>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buffer = [0_u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(count) => {
                let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..count.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// The first executable file called `name` in a `PATH` directory.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;
    use std::time::Instant;

    use super::*;
    use crate::pcm::root_mean_square;

    /// Bird's TTS locales, as documented.
    const BIRD_LOCALES: &str = "arb, ar-AE, bg-BG, bn-IN, ca-ES, cs-CZ, cy-GB, cmn-CN, da-DK, de-CH, \
        de-DE, de-AT, el-GR, en-AU, en-GB, en-IN, en-NZ, en-ZA, en-US, en-GB-WLS, es-ES, es-MX, \
        es-US, eu-ES, fi-FI, fil-PH, fr-FR, fr-BE, fr-CA, gl-ES, gu-IN, he-IL, hi-IN, hu-HU, id-ID, \
        is-IS, it-IT, ja-JP, ko-KR, lt-LT, lv-LV, ms-MY, nl-BE, nl-NL, nb-NO, pa-IN, pl-PL, pt-BR, \
        pt-PT, ro-RO, ru-RU, sk-SK, sr-RS, sv-SE, ta-IN, te-IN, tr-TR, th-TH, uk-UA, vi-VN, yue-CN";

    /// The installed programs, failing the test with a clear message if one is missing.
    pub(crate) fn installed_programs() -> TtsPrograms {
        let programs = TtsPrograms::discover();
        assert!(
            programs.flite.is_some(),
            "this test needs `flite` on PATH (apt-get install flite)"
        );
        assert!(
            programs.espeak_ng.is_some(),
            "this test needs `espeak-ng` on PATH (apt-get install espeak-ng)"
        );
        programs
    }

    pub(crate) fn request(text: &str, locale: &str, voice: Voice) -> SpeechRequest {
        SpeechRequest {
            text: text.to_owned(),
            locale: locale.to_owned(),
            voice,
        }
    }

    /// Real speech: loud enough and about as long as the text takes to say.
    pub(crate) fn assert_speech(pcm: &Pcm, minimum: Duration, maximum: Duration) {
        let duration = pcm.duration();
        assert!(
            duration >= minimum && duration <= maximum,
            "speech lasts {duration:?}, expected {minimum:?}..{maximum:?}"
        );
        let rms = root_mean_square(&pcm.samples);
        assert!(
            rms > 500.0,
            "speech is too quiet to be speech: rms {rms:.0}"
        );
    }

    fn fake_program(directory: &Path, name: &str, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = directory.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn every_bird_locale_is_listed_exactly_once() {
        let bird: Vec<&str> = BIRD_LOCALES.split(',').map(str::trim).collect();
        let ours: Vec<&str> = LOCALES.iter().map(|entry| entry.locale).collect();
        assert_eq!(ours, bird);
        assert_eq!(ours.iter().collect::<HashSet<_>>().len(), ours.len());
    }

    #[test]
    fn every_mapped_espeak_voice_exists_in_the_installed_espeak_ng() {
        let programs = installed_programs();
        let output = std::process::Command::new(programs.espeak_ng.unwrap())
            .arg("--voices")
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&output.stdout);
        let languages: HashSet<&str> = listing
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        for entry in LOCALES {
            if let Some(voice) = entry.espeak_ng {
                assert!(
                    languages.contains(voice),
                    "{}: espeak-ng has no voice {voice}",
                    entry.locale
                );
            }
        }
    }

    #[test]
    fn english_goes_to_flite_and_the_rest_to_espeak_ng() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        assert_eq!(
            tts.engine("en-US", Voice::Female).unwrap(),
            SpeechEngine::Flite { voice: "slt" }
        );
        assert_eq!(
            tts.engine("en-gb-wls", Voice::Male).unwrap(),
            SpeechEngine::Flite { voice: "rms" }
        );
        assert_eq!(
            tts.engine("de-AT", Voice::Female).unwrap(),
            SpeechEngine::EspeakNg {
                voice: "de",
                variant: "f3"
            }
        );
        assert_eq!(
            tts.engine("pt-BR", Voice::Male).unwrap(),
            SpeechEngine::EspeakNg {
                voice: "pt-br",
                variant: "m3"
            }
        );
        assert_eq!(tts.supported_locales().len(), 59);
        assert!(tts.supports("EN-us").is_ok());
    }

    #[test]
    fn english_falls_back_to_espeak_ng_without_flite() {
        let programs = TtsPrograms {
            flite: None,
            ..installed_programs()
        };
        let tts = Tts::new(programs, TtsLimits::default());
        assert_eq!(
            tts.engine("en-US", Voice::Female).unwrap(),
            SpeechEngine::EspeakNg {
                voice: "en-us",
                variant: "f3"
            }
        );
        assert_eq!(
            tts.engine("en-AU", Voice::Male).unwrap(),
            SpeechEngine::EspeakNg {
                voice: "en-gb",
                variant: "m3"
            }
        );
    }

    #[test]
    fn locales_without_a_voice_are_unsupported_with_the_list_of_supported_ones() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        for locale in ["fil-PH", "gl-ES", "xx-XX", "", "en"] {
            match tts.supports(locale) {
                Err(TtsError::UnsupportedLocale {
                    locale: refused,
                    supported,
                }) => {
                    assert_eq!(refused, locale);
                    assert!(supported.contains(&"en-US") && supported.contains(&"yue-CN"));
                    assert!(!supported.contains(&"fil-PH"));
                }
                other => panic!("{locale:?}: {other:?}"),
            }
        }

        let only_flite = Tts::new(
            TtsPrograms {
                espeak_ng: None,
                ..installed_programs()
            },
            TtsLimits::default(),
        );
        assert_eq!(
            only_flite.supported_locales(),
            [
                "en-AU",
                "en-GB",
                "en-IN",
                "en-NZ",
                "en-ZA",
                "en-US",
                "en-GB-WLS"
            ]
        );
        let nothing = Tts::new(TtsPrograms::default(), TtsLimits::default());
        assert!(nothing.supported_locales().is_empty());
        assert!(matches!(
            nothing.supports("en-US"),
            Err(TtsError::UnsupportedLocale { .. })
        ));
    }

    #[tokio::test]
    async fn refuses_empty_and_overlong_text_before_running_anything() {
        let limits = TtsLimits {
            max_text_chars: 10,
            ..TtsLimits::default()
        };
        let tts = Tts::new(TtsPrograms::default(), limits);
        assert!(matches!(
            tts.synthesize(&request("  \n", "en-US", Voice::Female))
                .await,
            Err(TtsError::EmptyText)
        ));
        assert!(matches!(
            tts.synthesize(&request("this is too long", "en-US", Voice::Female))
                .await,
            Err(TtsError::TextTooLong { max_chars: 10 })
        ));
        assert!(matches!(
            tts.synthesize(&request("short", "en-US", Voice::Female))
                .await,
            Err(TtsError::UnsupportedLocale { .. })
        ));
    }

    #[tokio::test]
    async fn flite_speaks_an_english_sentence_in_both_voices() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        let text = "Hello, this is a test of the Warbler voice server.";
        let started = Instant::now();
        let female = tts
            .synthesize(&request(text, "en-US", Voice::Female))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        println!(
            "flite sentence: {elapsed:?} for {:?} of speech",
            female.duration()
        );
        assert_eq!(female.sample_rate, 16_000);
        assert_speech(&female, Duration::from_millis(1500), Duration::from_secs(8));
        let male = tts
            .synthesize(&request(text, "en-GB", Voice::Male))
            .await
            .unwrap();
        assert_speech(&male, Duration::from_millis(1500), Duration::from_secs(8));
        assert_ne!(female.samples, male.samples);
    }

    #[tokio::test]
    async fn text_that_looks_like_options_is_spoken_not_obeyed() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        let scratch = ScratchDirectory::in_temporary_directory("warbler-tts-test").unwrap();
        let trap = scratch.path().join("trap.wav");
        let text = format!("-o {} -voice kal --help", trap.display());
        for locale in ["en-US", "de-DE"] {
            let pcm = tts
                .synthesize(&request(&text, locale, Voice::Female))
                .await
                .unwrap();
            assert_speech(&pcm, Duration::from_millis(1500), Duration::from_secs(20));
            assert!(!trap.exists(), "{locale}: the text was taken as an option");
        }
        let quotes = tts
            .synthesize(&request(
                "'; rm -rf / ; echo \"$HOME\" `id`",
                "en-US",
                Voice::Male,
            ))
            .await;
        assert_speech(
            &quotes.unwrap(),
            Duration::from_millis(500),
            Duration::from_secs(20),
        );
    }

    #[tokio::test]
    async fn espeak_ng_speaks_german_in_both_voices() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        let text = "Guten Tag, willkommen beim Sprachserver.";
        let female = tts
            .synthesize(&request(text, "de-DE", Voice::Female))
            .await
            .unwrap();
        assert_eq!(female.sample_rate, 22_050);
        assert_speech(&female, Duration::from_millis(1200), Duration::from_secs(8));
        let male = tts
            .synthesize(&request(text, "de-DE", Voice::Male))
            .await
            .unwrap();
        assert_speech(&male, Duration::from_millis(1200), Duration::from_secs(8));
        assert_ne!(female.samples, male.samples);
    }

    #[tokio::test]
    async fn every_supported_locale_speaks() {
        let tts = Tts::new(installed_programs(), TtsLimits::default());
        for locale in tts.supported_locales() {
            // Digits are read out in every language espeak-ng knows except Hebrew.
            let text = if locale == "he-IL" {
                "שלום, מה שלומך?"
            } else {
                "12 345"
            };
            let pcm = tts
                .synthesize(&request(text, locale, Voice::Female))
                .await
                .unwrap_or_else(|error| panic!("{locale}: {error}"));
            let duration = pcm.duration();
            assert!(
                duration > Duration::from_millis(500),
                "{locale}: only {duration:?}"
            );
            let rms = root_mean_square(&pcm.samples);
            assert!(rms > 300.0, "{locale}: too quiet, rms {rms:.0}");
        }
    }

    #[tokio::test]
    async fn a_hanging_program_is_killed_at_the_timeout() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-tts-test").unwrap();
        let pid_file = scratch.path().join("pid");
        let script = format!("echo $$ > '{}'\nexec sleep 60", pid_file.display());
        let programs = TtsPrograms {
            flite: Some(fake_program(scratch.path(), "flite", &script)),
            espeak_ng: None,
        };
        let limits = TtsLimits {
            timeout: Duration::from_millis(300),
            ..TtsLimits::default()
        };
        let tts = Tts::new(programs, limits);
        let started = Instant::now();
        let result = tts
            .synthesize(&request("hello", "en-US", Voice::Female))
            .await;
        assert!(
            matches!(
                result,
                Err(TtsError::Timeout {
                    program: TtsProgram::Flite,
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // No pid file means the program was killed before its first line ran.
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let still_running = Path::new("/proc").join(pid.trim()).exists();
            assert!(
                !still_running,
                "the timed-out program {} is still running",
                pid.trim()
            );
        }
    }

    #[tokio::test]
    async fn failures_and_oversized_output_are_typed() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-tts-test").unwrap();
        let failing = fake_program(
            scratch.path(),
            "flite",
            "echo 'voice not found' >&2\nexit 3",
        );
        // Writes 4 KiB to the file named after `-w`.
        let verbose = fake_program(
            scratch.path(),
            "espeak-ng",
            "while [ $# -gt 0 ]; do if [ \"$1\" = -w ]; then head -c 4096 /dev/zero > \"$2\"; fi; shift; done",
        );
        let limits = TtsLimits {
            max_output_bytes: 1024,
            ..TtsLimits::default()
        };
        let tts = Tts::new(
            TtsPrograms {
                flite: Some(failing),
                espeak_ng: Some(verbose),
            },
            limits,
        );

        match tts
            .synthesize(&request("hello", "en-US", Voice::Female))
            .await
        {
            Err(TtsError::Failed {
                program: TtsProgram::Flite,
                status,
                stderr,
            }) => {
                assert_eq!(status.code(), Some(3));
                assert_eq!(stderr, "voice not found");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            tts.synthesize(&request("hallo", "de-DE", Voice::Female))
                .await,
            Err(TtsError::OutputTooLarge {
                program: TtsProgram::EspeakNg,
                max_bytes: 1024
            })
        ));

        let tts = Tts::new(tts.programs().clone(), TtsLimits::default());
        assert!(matches!(
            tts.synthesize(&request("hallo", "de-DE", Voice::Female))
                .await,
            Err(TtsError::Decode {
                program: TtsProgram::EspeakNg,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_vanished_program_is_reported_missing() {
        let programs = TtsPrograms {
            flite: Some(PathBuf::from("/nonexistent/flite")),
            espeak_ng: None,
        };
        let tts = Tts::new(programs, TtsLimits::default());
        assert!(matches!(
            tts.synthesize(&request("hello", "en-US", Voice::Female))
                .await,
            Err(TtsError::ProgramMissing {
                program: TtsProgram::Flite
            })
        ));
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(plain_text("a\u{0}b\u{1b}[31mc\nd\te"), "a b [31mc\nd\te");
    }
}
