//! [`AudioLibrary`]: the service the call runtime uses for `say` and `playback`.
//!
//! Both return 8 kHz mono samples ready for G.711, produced once and then served from cache:
//!
//! 1. memory: bounded by [`AudioLibraryConfig::max_memory_samples`], least recently used evicted;
//! 2. disk: `<cache directory>/<key>.s16le`, raw 8 kHz signed 16-bit little-endian, written
//!    atomically (temporary file + rename), never evicted by this crate;
//! 3. otherwise produced: synthesised (`say`) or downloaded and decoded (`playback`), then
//!    resampled to 8 kHz.
//!
//! The key is the SHA-256 hex of the kind and its parameters. For `say` that is the resolved
//! program and voice plus the exact text, so locales sharing a voice share entries and installing
//! `flite` later does not serve stale espeak-ng audio. For `playback` it is the URL alone: a URL's
//! audio is assumed not to change (revalidating with ETag / Last-Modified is left for later), so
//! a changed prompt needs a new URL or a cleared cache directory.
//!
//! Concurrent requests for the same key share one production: the first starts it in a
//! background task (which finishes even if that caller goes away) and everyone waits on a
//! `watch` channel for its outcome. Failures are shared with the waiters but not cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use reqwest::Url;
use tokio::sync::watch;

use crate::cache::{DiskCache, MemoryCache, cache_key};
use crate::decode::{DecodeError, DecodeLimits, decode_with_limits};
use crate::fetch::{FetchError, FetchLimits, checked_url, fetch};
use crate::resample::resample;
use crate::tts::{SpeechEngine, SpeechRequest, Tts, TtsError};

/// The sample rate of everything [`AudioLibrary`] returns: G.711's 8 kHz.
pub const TELEPHONY_SAMPLE_RATE: u32 = 8000;

/// Bumped whenever the cached audio format or its production changes, to invalidate old entries.
const CACHE_FORMAT_VERSION: &str = "v1";

/// Settings of an [`AudioLibrary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioLibraryConfig {
    /// Where cached audio files go (e.g. `DATA_DIR/cache`); created on first write.
    pub cache_directory: PathBuf,
    /// The most samples kept in memory across all entries (default 32 Mi samples = 64 MiB).
    pub max_memory_samples: usize,
    /// Bounds on playback downloads.
    pub fetch: FetchLimits,
    /// Bounds on decoding playback audio.
    pub decode: DecodeLimits,
}

impl AudioLibraryConfig {
    /// Default limits with cached files in `cache_directory`.
    pub fn new(cache_directory: impl Into<PathBuf>) -> Self {
        Self {
            cache_directory: cache_directory.into(),
            max_memory_samples: 32 * 1024 * 1024,
            fetch: FetchLimits::default(),
            decode: DecodeLimits::default(),
        }
    }
}

/// Why audio for `say` or `playback` could not be prepared.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AudioError {
    /// Speech synthesis failed (see [`TtsError`] for whose fault).
    #[error(transparent)]
    Tts(#[from] TtsError),
    /// The playback URL could not be downloaded (see [`FetchError`] for whose fault).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The playback URL's content is not usable audio (the content's fault).
    #[error("the playback audio cannot be used")]
    Decode(#[from] DecodeError),
    /// The background task preparing the audio ended without an outcome (a bug in this crate).
    #[error("audio preparation stopped unexpectedly")]
    WorkerLost,
}

/// What has to be produced for a key.
#[derive(Clone, Debug)]
enum Job {
    /// Synthesise `text` with `engine`.
    Say { engine: SpeechEngine, text: String },
    /// Download and decode `url`.
    Playback { url: Url },
}

/// The outcome of one production, shared with every waiter.
type Outcome = Result<Arc<[i16]>, AudioError>;

/// Text-to-speech and URL playback as cached 8 kHz mono PCM. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct AudioLibrary {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    tts: Tts,
    config: AudioLibraryConfig,
    memory: Mutex<MemoryCache>,
    disk: DiskCache,
    /// Productions under way, by key. Lock order: `in_flight` before `memory`.
    in_flight: Mutex<HashMap<String, watch::Receiver<Option<Outcome>>>>,
}

/// Locks `mutex`, ignoring poisoning: every critical section leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AudioLibrary {
    /// A library downloading with `client` (whose TLS set-up is the caller's) and speaking
    /// with `tts`.
    pub fn new(client: reqwest::Client, tts: Tts, config: AudioLibraryConfig) -> Self {
        let max_disk_samples = u64::from(
            config
                .decode
                .max_seconds
                .max(tts.limits().decode.max_seconds),
        ) * u64::from(TELEPHONY_SAMPLE_RATE)
            + 1;
        let inner = Inner {
            client,
            memory: Mutex::new(MemoryCache::new(config.max_memory_samples)),
            disk: DiskCache::new(config.cache_directory.clone(), max_disk_samples),
            tts,
            config,
            in_flight: Mutex::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The text-to-speech service, e.g. to validate locales before a call flow runs.
    pub fn tts(&self) -> &Tts {
        &self.inner.tts
    }

    /// The settings in use.
    pub fn config(&self) -> &AudioLibraryConfig {
        &self.inner.config
    }

    /// Speech for `request`, 8 kHz mono.
    pub async fn say(&self, request: &SpeechRequest) -> Result<Arc<[i16]>, AudioError> {
        let engine = self.inner.tts.plan(request)?;
        let key = cache_key(&[
            "say",
            CACHE_FORMAT_VERSION,
            &engine.identity(),
            &request.text,
        ]);
        self.get_or_produce(key, || Job::Say {
            engine,
            text: request.text.clone(),
        })
        .await
    }

    /// The audio at `url` (WAV or MP3), 8 kHz mono.
    pub async fn playback(&self, url: &str) -> Result<Arc<[i16]>, AudioError> {
        let url = checked_url(url, &self.inner.config.fetch)?;
        let key = cache_key(&["playback", CACHE_FORMAT_VERSION, url.as_str()]);
        self.get_or_produce(key, || Job::Playback { url }).await
    }

    async fn get_or_produce(&self, key: String, job: impl FnOnce() -> Job) -> Outcome {
        if let Some(samples) = lock(&self.inner.memory).get(&key) {
            return Ok(samples);
        }
        let mut receiver = {
            let mut in_flight = lock(&self.inner.in_flight);
            match in_flight.get(&key) {
                Some(receiver) => receiver.clone(),
                None => {
                    // A production may have finished since the first look.
                    if let Some(samples) = lock(&self.inner.memory).get(&key) {
                        return Ok(samples);
                    }
                    let (sender, receiver) = watch::channel(None);
                    in_flight.insert(key.clone(), receiver.clone());
                    let inner = Arc::clone(&self.inner);
                    tokio::spawn(inner.produce_and_publish(key, job(), sender));
                    receiver
                }
            }
        };
        match receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(AudioError::WorkerLost)),
            Err(_sender_dropped) => Err(AudioError::WorkerLost),
        }
    }
}

/// Removes a key from the in-flight map when dropped, even if production panics.
struct InFlightEntry {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.key);
    }
}

impl Inner {
    async fn produce_and_publish(
        self: Arc<Self>,
        key: String,
        job: Job,
        sender: watch::Sender<Option<Outcome>>,
    ) {
        let entry = InFlightEntry {
            inner: Arc::clone(&self),
            key,
        };
        let outcome = self.produce(&entry.key, job).await;
        if let Ok(samples) = &outcome {
            lock(&self.memory).insert(entry.key.clone(), Arc::clone(samples));
        }
        // Leave the in-flight map only once the memory cache has the audio.
        drop(entry);
        sender.send_replace(Some(outcome));
    }

    async fn produce(&self, key: &str, job: Job) -> Outcome {
        if let Some(samples) = self.disk.read(key).await {
            return Ok(samples);
        }
        let started = std::time::Instant::now();
        let samples: Arc<[i16]> = match &job {
            Job::Say { engine, text } => {
                let pcm = self.tts.run(*engine, text).await?;
                tokio::task::spawn_blocking(move || resample(&pcm, TELEPHONY_SAMPLE_RATE))
                    .await
                    .map_err(|_join_error| AudioError::WorkerLost)?
                    .into()
            }
            Job::Playback { url } => {
                let fetched = fetch(&self.client, url.as_str(), &self.config.fetch).await?;
                let hint = playback_hint(url, fetched.content_type.as_deref());
                let limits = self.config.decode;
                tokio::task::spawn_blocking(move || {
                    decode_with_limits(&fetched.bytes, hint.as_deref(), &limits)
                        .map(|pcm| resample(&pcm, TELEPHONY_SAMPLE_RATE))
                })
                .await
                .map_err(|_join_error| AudioError::WorkerLost)??
                .into()
            }
        };
        tracing::debug!(
            kind = match job {
                Job::Say { .. } => "say",
                Job::Playback { .. } => "playback",
            },
            elapsed_ms = started.elapsed().as_millis() as u64,
            samples = samples.len(),
            "audio prepared"
        );
        self.disk.write(key, &samples).await;
        Ok(samples)
    }
}

/// The decoder hint for a download: the URL's file extension if it has one, else the declared
/// content type.
fn playback_hint(url: &Url, content_type: Option<&str>) -> Option<String> {
    let file_name = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or("");
    match file_name.rsplit_once('.') {
        Some((_, extension)) if !extension.is_empty() && extension.len() <= 5 => {
            Some(extension.to_owned())
        }
        _ => content_type.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use tokio::task::JoinSet;

    use super::*;
    use crate::decode::tests::{Garbage, mp3_bytes_with_lame, sine, wav_bytes};
    use crate::fetch::tests::{Reply, TestServer, test_client};
    use crate::pcm::{Pcm, root_mean_square};
    use crate::resample::tests::goertzel_amplitude;
    use crate::scratch::ScratchDirectory;
    use crate::tts::tests::{assert_speech, installed_programs, request};
    use crate::tts::{TtsLimits, TtsPrograms, Voice};

    fn library(cache_directory: &Path, programs: TtsPrograms) -> AudioLibrary {
        AudioLibrary::new(
            test_client(),
            Tts::new(programs, TtsLimits::default()),
            AudioLibraryConfig::new(cache_directory),
        )
    }

    fn cached_files(directory: &Path) -> Vec<PathBuf> {
        match std::fs::read_dir(directory) {
            Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A fake `flite` that counts its runs in `runs` and writes `wav` as its output.
    fn counting_flite(directory: &Path, wav: &[u8]) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let source = directory.join("source.wav");
        std::fs::write(&source, wav).unwrap();
        let runs = directory.join("runs");
        let program = directory.join("flite");
        let script = format!(
            "#!/bin/sh\necho run >> '{}'\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then cp '{}' \"$2\"; fi; shift; done\n",
            runs.display(),
            source.display()
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        (program, runs)
    }

    fn run_count(runs: &Path) -> usize {
        std::fs::read_to_string(runs).map_or(0, |text| text.lines().count())
    }

    #[tokio::test]
    async fn say_returns_8_khz_speech_and_serves_repeats_from_memory() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let library = library(&scratch.path().join("cache"), installed_programs());
        let speech = request(
            "Thank you for calling. Please hold the line.",
            "en-US",
            Voice::Female,
        );

        let started = Instant::now();
        let cold = library.say(&speech).await.unwrap();
        let cold_time = started.elapsed();
        let pcm = Pcm {
            sample_rate: TELEPHONY_SAMPLE_RATE,
            samples: cold.to_vec(),
        };
        assert_speech(&pcm, Duration::from_millis(1500), Duration::from_secs(8));

        let mut fastest = Duration::MAX;
        for _ in 0..20 {
            let started = Instant::now();
            let cached = library.say(&speech).await.unwrap();
            fastest = fastest.min(started.elapsed());
            assert!(Arc::ptr_eq(&cached, &cold));
        }
        println!("say: cold {cold_time:?}, cached {fastest:?}");
        assert!(
            fastest < Duration::from_millis(1),
            "cached say took {fastest:?}"
        );
        assert_eq!(cached_files(&scratch.path().join("cache")).len(), 1);

        let german = library
            .say(&request("Bitte warten.", "de-DE", Voice::Male))
            .await
            .unwrap();
        let pcm = Pcm {
            sample_rate: TELEPHONY_SAMPLE_RATE,
            samples: german.to_vec(),
        };
        assert_speech(&pcm, Duration::from_millis(500), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn concurrent_says_synthesise_once_and_the_disk_cache_survives_a_restart() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let wav = wav_bytes(&sine(1000.0, 16_000, 0.5, 0.5), 16_000, 1, 16, false);
        let (flite, runs) = counting_flite(scratch.path(), &wav);
        let programs = TtsPrograms {
            flite: Some(flite),
            espeak_ng: None,
        };
        let cache = scratch.path().join("cache");
        let first = library(&cache, programs.clone());

        let mut tasks = JoinSet::new();
        for _ in 0..10 {
            let library = first.clone();
            tasks.spawn(async move {
                library
                    .say(&request("Same words", "en-US", Voice::Female))
                    .await
            });
        }
        let results = tasks.join_all().await;
        assert_eq!(run_count(&runs), 1);
        let samples = results[0].as_ref().unwrap();
        assert_eq!(samples.len(), 4000);
        assert!(
            results
                .iter()
                .all(|result| result.as_ref().unwrap() == samples)
        );

        // The same text in another English locale uses the same voice, hence the same entry.
        first
            .say(&request("Same words", "en-AU", Voice::Female))
            .await
            .unwrap();
        assert_eq!(run_count(&runs), 1);
        first
            .say(&request("Same words", "en-US", Voice::Male))
            .await
            .unwrap();
        assert_eq!(run_count(&runs), 2);

        let files = cached_files(&cache);
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.iter().all(|file| {
            file.extension()
                .is_some_and(|extension| extension == "s16le")
        }));

        let restarted = library(&cache, programs);
        let again = restarted
            .say(&request("Same words", "en-US", Voice::Female))
            .await
            .unwrap();
        assert_eq!(run_count(&runs), 2);
        assert_eq!(&again, samples);
    }

    #[tokio::test]
    async fn failures_reach_every_waiter_and_are_not_cached() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let flite = scratch.path().join("flite");
        std::fs::write(&flite, "#!/bin/sh\necho broken >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&flite, std::fs::Permissions::from_mode(0o755)).unwrap();
        let library = library(
            &scratch.path().join("cache"),
            TtsPrograms {
                flite: Some(flite),
                espeak_ng: None,
            },
        );

        let mut tasks = JoinSet::new();
        for _ in 0..5 {
            let library = library.clone();
            tasks
                .spawn(async move { library.say(&request("Hello", "en-US", Voice::Female)).await });
        }
        for result in tasks.join_all().await {
            assert!(
                matches!(result, Err(AudioError::Tts(TtsError::Failed { .. }))),
                "{result:?}"
            );
        }
        assert!(lock(&library.inner.in_flight).is_empty());
        assert!(cached_files(&scratch.path().join("cache")).is_empty());
        assert!(matches!(
            library
                .say(&request("Hello", "fil-PH", Voice::Female))
                .await,
            Err(AudioError::Tts(TtsError::UnsupportedLocale { .. }))
        ));
    }

    #[tokio::test]
    async fn playback_decodes_wav_and_mp3_to_8_khz_and_downloads_once() {
        let signal = sine(1000.0, 16_000, 1.0, 0.5);
        let wav = wav_bytes(&signal, 22_050, 2, 16, false);
        let mp3 = mp3_bytes_with_lame(&wav_bytes(&signal, 16_000, 1, 16, false));
        let server = TestServer::start(vec![
            (
                "/prompt.wav",
                Reply::Complete {
                    status: 200,
                    content_type: Some("audio/wav"),
                    body: wav,
                },
            ),
            (
                "/prompt",
                Reply::Complete {
                    status: 200,
                    content_type: Some("audio/mpeg"),
                    body: mp3,
                },
            ),
        ])
        .await;
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let library = library(&scratch.path().join("cache"), TtsPrograms::default());

        let wav_audio = library.playback(&server.url("/prompt.wav")).await.unwrap();
        // 16 000 samples declared as 22.05 kHz: 0.7256 s, i.e. 5805 samples at 8 kHz.
        assert_eq!(wav_audio.len(), 5805);
        let mp3_audio = library.playback(&server.url("/prompt")).await.unwrap();
        assert!(
            mp3_audio.len().abs_diff(8000) <= 600,
            "{} samples",
            mp3_audio.len()
        );
        let middle = &mp3_audio[1000..mp3_audio.len() - 1000];
        let amplitude = goertzel_amplitude(middle, 8000, 1000.0);
        assert!(
            (amplitude / (0.5 * 32767.0) - 1.0).abs() < 0.12,
            "1 kHz amplitude {amplitude}"
        );
        assert!(root_mean_square(middle) > 10_000.0);

        let hits = server.hits();
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            let library = library.clone();
            let url = server.url("/prompt");
            tasks.spawn(async move { library.playback(&url).await });
        }
        for result in tasks.join_all().await {
            assert!(Arc::ptr_eq(&result.unwrap(), &mp3_audio));
        }
        assert_eq!(server.hits(), hits);
    }

    #[tokio::test]
    async fn concurrent_playbacks_of_a_new_url_download_once() {
        let wav = wav_bytes(&sine(440.0, 8000, 0.5, 0.5), 8000, 1, 16, false);
        let server = TestServer::start(vec![(
            "/a.wav",
            Reply::Complete {
                status: 200,
                content_type: None,
                body: wav,
            },
        )])
        .await;
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let library = library(&scratch.path().join("cache"), TtsPrograms::default());
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            let library = library.clone();
            let url = server.url("/a.wav");
            tasks.spawn(async move { library.playback(&url).await });
        }
        for result in tasks.join_all().await {
            assert_eq!(result.unwrap().len(), 4000);
        }
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn playback_errors_are_typed() {
        let mut garbage = Garbage::new(3);
        let server = TestServer::start(vec![
            (
                "/noise.mp3",
                Reply::Complete {
                    status: 200,
                    content_type: Some("audio/mpeg"),
                    body: garbage.bytes(3000),
                },
            ),
            (
                "/page",
                Reply::Complete {
                    status: 200,
                    content_type: Some("text/html"),
                    body: b"<html></html>".to_vec(),
                },
            ),
        ])
        .await;
        let scratch = ScratchDirectory::in_temporary_directory("warbler-library-test").unwrap();
        let library = library(&scratch.path().join("cache"), TtsPrograms::default());
        assert!(matches!(
            library.playback(&server.url("/missing.wav")).await,
            Err(AudioError::Fetch(FetchError::Status { status })) if status.as_u16() == 404
        ));
        assert!(matches!(
            library.playback(&server.url("/page")).await,
            Err(AudioError::Decode(_))
        ));
        assert!(matches!(
            library.playback("file:///etc/passwd").await,
            Err(AudioError::Fetch(FetchError::SchemeNotAllowed { .. }))
        ));
        // Random bytes either decode to some noise or are refused, but never crash anything.
        let _noise = library.playback(&server.url("/noise.mp3")).await;
    }

    #[test]
    fn playback_hint_prefers_the_url_extension() {
        let url = Url::parse("http://example.com/prompts/welcome.mp3?version=2").unwrap();
        assert_eq!(
            playback_hint(&url, Some("audio/wav")).as_deref(),
            Some("mp3")
        );
        let url = Url::parse("http://example.com/prompts/welcome").unwrap();
        assert_eq!(
            playback_hint(&url, Some("audio/wav")).as_deref(),
            Some("audio/wav")
        );
        assert_eq!(playback_hint(&url, None), None);
    }
}
