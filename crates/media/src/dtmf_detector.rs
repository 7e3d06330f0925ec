//! In-band DTMF: a Goertzel detector over 8 kHz PCM (ITU-T Q.23 tones,
//! Q.24 acceptance checks) and the matching tone generator.
//!
//! The detector analyses blocks of 160 samples (20 ms, the session's
//! frame). For each block it measures the energy at the eight DTMF
//! frequencies with the Goertzel algorithm and accepts a digit only when:
//!
//! - the strongest row and column tones are both above an absolute
//!   threshold (about −38 dBFS per tone);
//! - the twist is within limits (ITU-T Q.24 §4: the high-group tone may be
//!   up to 8 dB stronger than the low-group tone, and up to 4 dB weaker);
//! - each of the two tones is at least 8 dB above the other tones of its
//!   group (relative peak);
//! - the two tones carry most of the block's energy, which rejects
//!   speech, noise and single tones such as a 1 kHz test tone.
//!
//! A key press is the same digit in at least two consecutive blocks
//! (≥ 40 ms, ITU-T Q.24 minimum tone duration); it is reported once, when
//! the tone stops, with its measured duration.

use std::f32::consts::PI;

/// Samples analysed per decision: 20 ms at 8 kHz.
pub const DETECTOR_BLOCK_SIZE: usize = 160;

/// Low-group (row) frequencies, hertz (ITU-T Q.23).
const ROW_FREQUENCIES: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies, hertz (ITU-T Q.23).
const COLUMN_FREQUENCIES: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Digits by row and column (ITU-T Q.23 figure 1).
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Minimum Goertzel energy of each tone, samples scaled to ±1: a sine of
/// amplitude 0.0125 (−38 dBFS) over 160 samples gives (0.0125 × 80)² = 1.
const TONE_ENERGY_THRESHOLD: f32 = 1.0;
/// High group may exceed the low group by 8 dB (energy ratio).
const NORMAL_TWIST: f32 = 6.31;
/// Low group may exceed the high group by 4 dB (energy ratio).
const REVERSE_TWIST: f32 = 2.51;
/// The peak tone must exceed the others of its group by 8 dB.
const RELATIVE_PEAK: f32 = 6.31;
/// Two pure tones give (row + column energy) / total energy = N / 2 = 80;
/// accept from half of that.
const TONE_TO_TOTAL_ENERGY: f32 = 40.0;
/// Consecutive blocks for a key press: 2 × 20 ms = 40 ms.
const MINIMUM_BLOCKS: u32 = 2;

/// A key press found by [`DtmfDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// Measured tone duration, a multiple of 20 ms.
    pub duration_ms: u32,
}

/// The tone the detector is following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracking {
    /// No digit in the last block.
    Quiet,
    /// `digit` was found in the last `blocks` consecutive blocks.
    Tone { digit: char, blocks: u32 },
}

/// Goertzel DTMF detector over 8 kHz 16-bit PCM. Allocation-free; feed it
/// any number of samples at a time.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    block: [f32; DETECTOR_BLOCK_SIZE],
    filled: usize,
    tracking: Tracking,
    coefficients: [f32; 8],
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        let mut coefficients = [0.0; 8];
        for (coefficient, frequency) in coefficients
            .iter_mut()
            .zip(ROW_FREQUENCIES.iter().chain(COLUMN_FREQUENCIES.iter()))
        {
            *coefficient = 2.0 * (2.0 * PI * frequency / 8000.0).cos();
        }
        Self {
            block: [0.0; DETECTOR_BLOCK_SIZE],
            filled: 0,
            tracking: Tracking::Quiet,
            coefficients,
        }
    }

    /// Analyses `samples`; calls `report` for each key press that ended
    /// within them.
    pub fn process(&mut self, samples: &[i16], mut report: impl FnMut(DetectedDigit)) {
        for &sample in samples {
            self.block[self.filled] = f32::from(sample) / 32768.0;
            self.filled += 1;
            if self.filled == DETECTOR_BLOCK_SIZE {
                self.filled = 0;
                let digit = self.classify_block();
                if let Some(detected) = self.track(digit) {
                    report(detected);
                }
            }
        }
    }

    /// Reports a tone still in progress (for example at the end of a
    /// stream) and forgets it.
    pub fn flush(&mut self) -> Option<DetectedDigit> {
        self.track(None)
    }

    fn track(&mut self, digit: Option<char>) -> Option<DetectedDigit> {
        let previous = self.tracking;
        let (next, continued) = match (previous, digit) {
            (
                Tracking::Tone {
                    digit: held,
                    blocks,
                },
                Some(found),
            ) if held == found => (
                Tracking::Tone {
                    digit: held,
                    blocks: blocks.saturating_add(1),
                },
                true,
            ),
            (_, Some(found)) => (
                Tracking::Tone {
                    digit: found,
                    blocks: 1,
                },
                false,
            ),
            (_, None) => (Tracking::Quiet, false),
        };
        self.tracking = next;
        match previous {
            // The tone changed or stopped: the key press is over.
            Tracking::Tone { digit, blocks } if !continued && blocks >= MINIMUM_BLOCKS => {
                Some(DetectedDigit {
                    digit,
                    duration_ms: blocks.saturating_mul(20),
                })
            }
            _ => None,
        }
    }

    /// The digit present in the current block, if every check passes.
    fn classify_block(&self) -> Option<char> {
        let mut energies = [0.0f32; 8];
        for (energy, coefficient) in energies.iter_mut().zip(self.coefficients) {
            *energy = goertzel(&self.block, coefficient);
        }
        let total: f32 = self.block.iter().map(|sample| sample * sample).sum();
        let (rows, columns) = energies.split_at(4);
        let best_row = strongest(rows);
        let best_column = strongest(columns);
        let row = rows[best_row];
        let column = columns[best_column];
        if row < TONE_ENERGY_THRESHOLD || column < TONE_ENERGY_THRESHOLD {
            return None;
        }
        // ITU-T Q.24 §4: twist limits.
        if column > row * NORMAL_TWIST || row > column * REVERSE_TWIST {
            return None;
        }
        let dominates = |group: &[f32], best: usize| {
            group
                .iter()
                .enumerate()
                .all(|(index, energy)| index == best || energy * RELATIVE_PEAK < group[best])
        };
        if !dominates(rows, best_row) || !dominates(columns, best_column) {
            return None;
        }
        if row + column < TONE_TO_TOTAL_ENERGY * total {
            return None;
        }
        Some(KEYPAD[best_row][best_column])
    }
}

/// Index of the largest value.
fn strongest(values: &[f32]) -> usize {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best
}

/// Squared magnitude of the DTFT of `block` at the frequency whose
/// coefficient is `2 cos(2πf/fs)` (Goertzel 1958).
fn goertzel(block: &[f32], coefficient: f32) -> f32 {
    let mut previous = 0.0f32;
    let mut before_previous = 0.0f32;
    for sample in block {
        let current = sample + coefficient * previous - before_previous;
        before_previous = previous;
        previous = current;
    }
    previous * previous + before_previous * before_previous
        - coefficient * previous * before_previous
}

/// The row and column frequencies of a digit (ITU-T Q.23), hertz.
pub fn dtmf_frequencies(digit: char) -> Option<(f32, f32)> {
    let digit = digit.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(row, keys)| {
        keys.iter()
            .position(|key| *key == digit)
            .map(|column| (ROW_FREQUENCIES[row], COLUMN_FREQUENCIES[column]))
    })
}

/// Amplitude of each generated tone: −10 dBFS peak.
const GENERATED_AMPLITUDE: f32 = 0.316 * 32767.0;

/// Writes frame `frame_index` (160 samples each) of the two-tone signal of
/// `digit` into `output`; other characters give silence.
pub(crate) fn write_tone_frame(digit: char, frame_index: u32, output: &mut [i16]) {
    let Some((row, column)) = dtmf_frequencies(digit) else {
        output.fill(0);
        return;
    };
    let first = u64::from(frame_index) * output.len() as u64;
    for (offset, sample) in output.iter_mut().enumerate() {
        // Phase modulo one period of 8000 samples keeps f32 precise.
        let index = ((first + offset as u64) % 8000) as f32;
        let value = GENERATED_AMPLITUDE
            * ((2.0 * PI * row * index / 8000.0).sin()
                + (2.0 * PI * column * index / 8000.0).sin());
        *sample = value as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    /// 100 ms tones with 50 ms gaps, both sines at −10 dBFS.
    fn tones(digits: &str) -> Vec<i16> {
        let mut samples = Vec::new();
        for digit in digits.chars() {
            let mut tone = vec![0i16; 800];
            for (frame, chunk) in tone.chunks_mut(160).enumerate() {
                write_tone_frame(digit, frame as u32, chunk);
            }
            samples.extend(tone);
            samples.extend(std::iter::repeat_n(0i16, 400));
        }
        samples
    }

    fn detect(samples: &[i16]) -> (String, Vec<u32>) {
        let mut detector = DtmfDetector::new();
        let mut digits = String::new();
        let mut durations = Vec::new();
        // Odd chunk sizes: the detector buffers internally.
        for chunk in samples.chunks(97) {
            detector.process(chunk, |found| {
                digits.push(found.digit);
                durations.push(found.duration_ms);
            });
        }
        if let Some(found) = detector.flush() {
            digits.push(found.digit);
        }
        (digits, durations)
    }

    #[test]
    fn every_key_is_detected_exactly_once() {
        let keys = "123A456B789C*0#D";
        let (digits, durations) = detect(&tones(keys));
        assert_eq!(digits, keys);
        assert!(
            durations
                .iter()
                .all(|duration| (80..=120).contains(duration))
        );
    }

    #[test]
    fn tones_survive_a_g711_round_trip() {
        let keys = "0123456789*#ABCD";
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let decoded: Vec<i16> = tones(keys)
                .into_iter()
                .map(|sample| codec.decode_sample(codec.encode_sample(sample)))
                .collect();
            assert_eq!(detect(&decoded).0, keys, "{codec:?}");
        }
    }

    #[test]
    fn same_digit_twice_is_two_key_presses() {
        assert_eq!(detect(&tones("55")).0, "55");
    }

    #[test]
    fn speech_like_noise_gives_no_digit() {
        // xorshift32 white noise, shaped by a one-pole low-pass and an
        // envelope that rises and falls like syllables.
        let mut state = 0x1234_5678u32;
        let mut filtered = 0.0f32;
        let samples: Vec<i16> = (0..8000 * 5)
            .map(|index| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let white = (state as i32 as f32) / i32::MAX as f32;
                filtered = 0.8 * filtered + 0.2 * white;
                let envelope = 0.5 + 0.5 * (2.0 * PI * 4.0 * index as f32 / 8000.0).sin();
                (filtered * envelope * 20000.0) as i16
            })
            .collect();
        assert_eq!(detect(&samples).0, "");
    }

    #[test]
    fn a_1_khz_tone_gives_no_digit() {
        let samples: Vec<i16> = (0..8000 * 2)
            .map(|index| (16000.0 * (2.0 * PI * 1000.0 * index as f32 / 8000.0).sin()) as i16)
            .collect();
        assert_eq!(detect(&samples).0, "");
    }

    #[test]
    fn a_single_dtmf_frequency_gives_no_digit() {
        let samples: Vec<i16> = (0..8000)
            .map(|index| (10000.0 * (2.0 * PI * 770.0 * index as f32 / 8000.0).sin()) as i16)
            .collect();
        assert_eq!(detect(&samples).0, "");
    }

    #[test]
    fn a_20_ms_blip_is_too_short() {
        let mut samples = vec![0i16; 1600];
        write_tone_frame('5', 0, &mut samples[160..320]);
        assert_eq!(detect(&samples).0, "");
    }
}
