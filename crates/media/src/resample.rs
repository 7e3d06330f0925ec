//! 8 kHz ↔ 16 kHz conversion for G.722 with a 19-tap half-band FIR
//! (Blackman-windowed sinc, cut-off 4 kHz).
//!
//! A half-band filter has zero taps at every even offset except the
//! centre, so upsampling copies the input to every other output sample
//! and interpolates the samples between them, and downsampling needs five
//! multiplications per output sample. Both are stateful, streaming and
//! allocation-free. Delay: 5 input samples up, 9 input samples (at 16 kHz)
//! down.

/// Odd taps `h[1], h[3], …, h[9]` of the half-band filter; `h[0] = 0.5`
/// and the filter is symmetric. The taps sum to 1 (unity DC gain).
const ODD_TAPS: [f32; 5] = [
    0.307_836_5,
    -0.078_100_9,
    0.026_382_8,
    -0.007_271_7,
    0.001_153_3,
];

fn clamp_to_i16(value: f32) -> i16 {
    value
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// Doubles the sample rate: each input sample yields two output samples.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upsampler {
    /// The last 10 input samples, newest first.
    history: [f32; 10],
}

impl Upsampler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Upsamples `input` into `output` (twice as long) and returns the
    /// number of samples written.
    pub(crate) fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let mut written = 0;
        for (sample, pair) in input.iter().zip(output.chunks_exact_mut(2)) {
            self.history.copy_within(..9, 1);
            self.history[0] = f32::from(*sample);
            // Centre at history[5]: the original sample, then the one
            // interpolated halfway to history[4]. Gain 2 restores the
            // level lost by inserting zeros.
            let mut between = 0.0;
            for (index, tap) in ODD_TAPS.iter().enumerate() {
                between += tap * (self.history[5 + index] + self.history[4 - index]);
            }
            pair[0] = clamp_to_i16(self.history[5]);
            pair[1] = clamp_to_i16(2.0 * between);
            written += 2;
        }
        written
    }
}

/// Halves the sample rate: each pair of input samples yields one output
/// sample, low-pass filtered below 4 kHz first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Downsampler {
    /// The last 19 input samples, newest first.
    history: [f32; 19],
}

impl Downsampler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Filters one pair of 16 kHz samples into one 8 kHz sample.
    pub(crate) fn process_pair(&mut self, first: i16, second: i16) -> i16 {
        self.history.copy_within(..17, 2);
        self.history[1] = f32::from(first);
        self.history[0] = f32::from(second);
        let mut value = 0.5 * self.history[9];
        for (index, tap) in ODD_TAPS.iter().enumerate() {
            let offset = 2 * index + 1;
            value += tap * (self.history[9 - offset] + self.history[9 + offset]);
        }
        clamp_to_i16(value)
    }

    /// Downsamples `input` (pairs) into `output` and returns the number of
    /// samples written.
    #[cfg(test)]
    pub(crate) fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let mut written = 0;
        for (pair, sample) in input.chunks_exact(2).zip(output.iter_mut()) {
            *sample = self.process_pair(pair[0], pair[1]);
            written += 1;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use std::f32::consts::PI;

    use super::*;

    fn sine(frequency: f32, rate: f32, count: usize) -> Vec<i16> {
        (0..count)
            .map(|index| (10000.0 * (2.0 * PI * frequency * index as f32 / rate).sin()) as i16)
            .collect()
    }

    fn rms(samples: &[i16]) -> f32 {
        let sum: f32 = samples.iter().map(|s| f32::from(*s).powi(2)).sum();
        (sum / samples.len() as f32).sqrt()
    }

    #[test]
    fn taps_have_unity_dc_gain() {
        let sum: f32 = 0.5 + 2.0 * ODD_TAPS.iter().sum::<f32>();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    }

    #[test]
    fn up_then_down_keeps_a_1_khz_tone() {
        let input = sine(1000.0, 8000.0, 1600);
        let mut wide = vec![0i16; 3200];
        assert_eq!(Upsampler::new().process(&input, &mut wide), 3200);
        // The 16 kHz signal is the same tone.
        let reference = sine(1000.0, 16000.0, 3200);
        assert!((rms(&wide[200..]) - rms(&reference[200..])).abs() < 150.0);
        let mut narrow = vec![0i16; 1600];
        assert_eq!(Downsampler::new().process(&wide, &mut narrow), 1600);
        // Total delay: 5 samples up (10 at 16 kHz), then 8 at 16 kHz down: 9.
        let error: f32 = (100..1500)
            .map(|index| (f32::from(narrow[index]) - f32::from(input[index - 9])).abs())
            .fold(0.0, f32::max);
        assert!(error < 600.0, "max error {error}");
    }

    #[test]
    fn downsampling_rejects_content_above_4_khz() {
        let input = sine(6000.0, 16000.0, 3200);
        let mut narrow = vec![0i16; 1600];
        Downsampler::new().process(&input, &mut narrow);
        assert!(
            rms(&narrow[100..]) < 0.05 * rms(&input),
            "{}",
            rms(&narrow[100..])
        );
    }
}
