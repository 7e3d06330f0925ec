//! Turns `say` and `playback` options into one clip of 8 kHz PCM for the media session, through
//! the audio library (TTS, fetching, decoding, resampling and caching live there).

use std::sync::Arc;

use warbler_audio::{AudioLibrary, SpeechRequest, Voice};
use warbler_model::{PlaybackOptions, SayOptions};

/// Audio ready to play.
#[derive(Debug)]
pub(crate) struct PreparedAudio {
    /// 8 kHz mono PCM.
    pub(crate) samples: Arc<[i16]>,
}

/// Why audio could not be prepared (shown as the command's failure reason).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrepareError {
    /// The audio library failed (fetch, decode or TTS).
    #[error(transparent)]
    Audio(#[from] warbler_audio::AudioError),
    /// Loops and items add up to more audio than one command may play.
    #[error("the command would play more than {seconds} seconds of audio", seconds = MAXIMUM_SECONDS)]
    TooLong,
}

/// The longest audio one command may play (loops included).
const MAXIMUM_SECONDS: usize = 3600;
const SAMPLE_RATE: usize = 8000;

/// The runtime's access to audio.
pub(crate) struct MediaSource {
    library: AudioLibrary,
}

impl MediaSource {
    pub(crate) fn new(library: AudioLibrary) -> Self {
        Self { library }
    }

    /// The audio library (for locale checks).
    pub(crate) fn library(&self) -> &AudioLibrary {
        &self.library
    }

    /// Synthesizes `say` (cached), repeated `loop` times.
    pub(crate) async fn say(&self, options: &SayOptions) -> Result<PreparedAudio, PrepareError> {
        let request = SpeechRequest {
            text: options.text.clone(),
            locale: options.locale.clone(),
            voice: match options.voice {
                warbler_model::Voice::Female => Voice::Female,
                warbler_model::Voice::Male => Voice::Male,
            },
        };
        let clip = self.library.say(&request).await?;
        let repeats = options.loop_count.unwrap_or(1).max(1) as usize;
        if repeats == 1 {
            return Ok(PreparedAudio { samples: clip });
        }
        let mut items = Vec::with_capacity(repeats);
        items.resize(repeats, clip);
        join(&items, 0)
    }

    /// Fetches (cached) and decodes every media URL, then lays out the items in order, with
    /// `pauseMilliseconds` of silence between them, `loop` times.
    pub(crate) async fn playback(
        &self,
        options: &PlaybackOptions,
    ) -> Result<PreparedAudio, PrepareError> {
        let mut clips = Vec::with_capacity(options.media.len());
        for url in &options.media {
            clips.push(self.library.playback(url).await?);
        }
        let repeats = options.loop_count.unwrap_or(1).max(1) as usize;
        let mut items = Vec::with_capacity(clips.len() * repeats);
        for _ in 0..repeats {
            items.extend(clips.iter().cloned());
        }
        let pause = options.pause_milliseconds.unwrap_or(0) as usize * SAMPLE_RATE / 1000;
        join(&items, pause)
    }
}

/// Concatenates clips with `pause` samples of silence between them.
fn join(items: &[Arc<[i16]>], pause: usize) -> Result<PreparedAudio, PrepareError> {
    if let [only] = items {
        return Ok(PreparedAudio {
            samples: Arc::clone(only),
        });
    }
    let total: usize =
        items.iter().map(|item| item.len()).sum::<usize>() + pause * items.len().saturating_sub(1);
    if total > MAXIMUM_SECONDS * SAMPLE_RATE {
        return Err(PrepareError::TooLong);
    }
    let mut samples = Vec::with_capacity(total);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            samples.resize(samples.len() + pause, 0);
        }
        samples.extend_from_slice(item);
    }
    Ok(PreparedAudio {
        samples: samples.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_puts_silence_between_items() {
        let first: Arc<[i16]> = vec![1, 1].into();
        let second: Arc<[i16]> = vec![2].into();
        let joined = join(&[first, second], 3).expect("short");
        assert_eq!(&*joined.samples, &[1, 1, 0, 0, 0, 2]);
    }

    #[test]
    fn join_refuses_hours_of_audio() {
        let long: Arc<[i16]> = vec![0; MAXIMUM_SECONDS * SAMPLE_RATE].into();
        assert!(matches!(
            join(&[Arc::clone(&long), long], 0),
            Err(PrepareError::TooLong)
        ));
    }
}
