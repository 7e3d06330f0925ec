//! Turns `say` and `playback` options into one clip of 8 kHz PCM for the media session, through
//! the audio library (TTS, fetching, decoding, resampling and caching live there).

use std::sync::Arc;

use warbler_audio::{AudioLibrary, SpeechRequest, Voice};
use warbler_model::{PlaybackOptions, SayOptions};

/// Audio ready to play: clips in order. Loops and repeated items are the same shared clip (an
/// `Arc` clone), never a copy, so a looped prompt costs no memory per call.
#[derive(Debug)]
pub(crate) struct PreparedAudio {
    /// 8 kHz mono PCM clips, played back to back.
    pub(crate) clips: std::collections::VecDeque<Arc<[i16]>>,
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
        lay_out(&[clip], repeats, 0)
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
        let pause = options.pause_milliseconds.unwrap_or(0) as usize * SAMPLE_RATE / 1000;
        lay_out(&clips, repeats, pause)
    }
}

/// `items` in order, `repeats` times, with `pause` samples of silence between consecutive clips
/// (one silence clip shared by every gap).
fn lay_out(
    items: &[Arc<[i16]>],
    repeats: usize,
    pause: usize,
) -> Result<PreparedAudio, PrepareError> {
    let count = items.len() * repeats;
    let total: usize = items.iter().map(|item| item.len()).sum::<usize>() * repeats
        + pause * count.saturating_sub(1);
    if total > MAXIMUM_SECONDS * SAMPLE_RATE {
        return Err(PrepareError::TooLong);
    }
    let silence: Option<Arc<[i16]>> = (pause > 0).then(|| vec![0i16; pause].into());
    let mut clips = std::collections::VecDeque::with_capacity(count * 2);
    for index in 0..count {
        if index > 0
            && let Some(silence) = &silence
        {
            clips.push_back(Arc::clone(silence));
        }
        clips.push_back(Arc::clone(&items[index % items.len()]));
    }
    Ok(PreparedAudio { clips })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_repeat_as_shared_clips_with_silence_between() {
        let first: Arc<[i16]> = vec![1, 1].into();
        let second: Arc<[i16]> = vec![2].into();
        let audio = lay_out(&[Arc::clone(&first), second], 2, 3).expect("short");
        let lengths: Vec<usize> = audio.clips.iter().map(|clip| clip.len()).collect();
        assert_eq!(lengths, vec![2, 3, 1, 3, 2, 3, 1]);
        assert!(
            Arc::ptr_eq(&audio.clips[0], &audio.clips[4]),
            "a loop shares the clip"
        );
        assert!(
            Arc::ptr_eq(&audio.clips[1], &audio.clips[3]),
            "gaps share one silence"
        );
    }

    #[test]
    fn hours_of_audio_are_refused() {
        let long: Arc<[i16]> = vec![0; MAXIMUM_SECONDS * SAMPLE_RATE].into();
        assert!(matches!(lay_out(&[long], 2, 0), Err(PrepareError::TooLong)));
    }
}
