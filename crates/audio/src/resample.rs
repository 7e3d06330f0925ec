//! Band-limited sample-rate conversion.
//!
//! A windowed-sinc interpolator: each output sample is the input convolved with a low-pass sinc
//! kernel centred on the output instant, tapered by a Kaiser window (β = 8, about 80 dB of
//! stop-band rejection). The cut-off sits at 90 % of the lower of the two Nyquist frequencies so
//! that the transition band ends before that Nyquist frequency and nothing aliases into the
//! telephone band. The kernel spans 32 zero crossings of the lower rate on each side (stretched
//! accordingly, in input samples, when decimating). Each set of weights is normalised to a sum of
//! one, so a constant signal passes unchanged.
//!
//! When the rate ratio reduces to few phases (16 kHz, 22.05 kHz, 44.1 kHz, 48 kHz → 8 kHz all do)
//! the weights are computed once per phase; otherwise they are computed per output sample.

/// Kernel half-width, in zero crossings (periods) of the lower of the two sample rates.
const ZERO_CROSSINGS_PER_SIDE: f64 = 32.0;

/// Kaiser window shape parameter.
const KAISER_BETA: f64 = 8.0;

/// Cut-off as a fraction of the lower Nyquist frequency.
const CUTOFF_FRACTION: f64 = 0.9;

/// The largest precomputed weight table (in coefficients) before falling back to computing
/// weights per output sample.
const MAX_TABLE_COEFFICIENTS: usize = 1 << 18;

use crate::pcm::Pcm;

/// Converts `input` to `target_rate` samples per second. The result has
/// `round(input.samples.len() * target_rate / input.sample_rate)` samples; it is a copy when the
/// rates are equal, and empty when either rate is zero.
pub fn resample(input: &Pcm, target_rate: u32) -> Vec<i16> {
    let source_rate = input.sample_rate;
    if source_rate == 0 || target_rate == 0 {
        return Vec::new();
    }
    if source_rate == target_rate {
        return input.samples.clone();
    }
    let kernel = Kernel::new(source_rate, target_rate);
    let output_len = output_length(input.samples.len(), source_rate, target_rate);
    let divisor = greatest_common_divisor(source_rate, target_rate);
    let phases = (target_rate / divisor) as usize;
    let source_step = u64::from(source_rate);
    let target = u64::from(target_rate);

    let table: Option<Vec<Vec<f64>>> =
        (phases.saturating_mul(kernel.taps()) <= MAX_TABLE_COEFFICIENTS).then(|| {
            (0..phases)
                .map(|phase| {
                    kernel.weights(phase as f64 * f64::from(divisor) / f64::from(target_rate))
                })
                .collect()
        });

    let mut scratch = Vec::new();
    (0..output_len as u64)
        .map(|index| {
            let position = index * source_step;
            let whole = position / target;
            let remainder = position % target;
            let weights: &[f64] = match &table {
                Some(table) => &table[(remainder / u64::from(divisor)) as usize],
                None => {
                    scratch = kernel.weights(remainder as f64 / target as f64);
                    &scratch
                }
            };
            let first = whole as i64 - kernel.span as i64 + 1;
            to_sample(convolve(&input.samples, first, weights))
        })
        .collect()
}

/// `round(length * target / source)` without overflow.
fn output_length(length: usize, source_rate: u32, target_rate: u32) -> usize {
    let numerator = length as u128 * u128::from(target_rate) + u128::from(source_rate / 2);
    usize::try_from(numerator / u128::from(source_rate)).unwrap_or(usize::MAX)
}

fn greatest_common_divisor(mut first: u32, mut second: u32) -> u32 {
    while second != 0 {
        (first, second) = (second, first % second);
    }
    first
}

fn to_sample(value: f64) -> i16 {
    value
        .round()
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// Σ samples[first + k] · weights[k], treating samples outside the input as silence.
fn convolve(samples: &[i16], first: i64, weights: &[f64]) -> f64 {
    let end = first + weights.len() as i64;
    if first >= 0 && end <= samples.len() as i64 {
        let window = &samples[first as usize..end as usize];
        return window
            .iter()
            .zip(weights)
            .map(|(&sample, &weight)| f64::from(sample) * weight)
            .sum();
    }
    weights
        .iter()
        .enumerate()
        .filter_map(|(offset, &weight)| {
            let index = usize::try_from(first + offset as i64).ok()?;
            samples.get(index).map(|&sample| f64::from(sample) * weight)
        })
        .sum()
}

/// The low-pass interpolation kernel for one rate pair, in units of input samples.
#[derive(Debug)]
struct Kernel {
    /// Cut-off frequency, in cycles per input sample.
    cutoff: f64,
    /// Half-width of the window, in input samples.
    half_width: f64,
    /// Input samples on each side of the output instant that can carry weight.
    span: usize,
    /// I0(β), the window's normalisation.
    window_scale: f64,
}

impl Kernel {
    fn new(source_rate: u32, target_rate: u32) -> Self {
        let lower_over_source = f64::from(source_rate.min(target_rate)) / f64::from(source_rate);
        let half_width = ZERO_CROSSINGS_PER_SIDE / lower_over_source;
        Self {
            cutoff: CUTOFF_FRACTION * 0.5 * lower_over_source,
            half_width,
            span: half_width.ceil() as usize,
            window_scale: bessel_i0(KAISER_BETA),
        }
    }

    /// Number of weights per output sample.
    fn taps(&self) -> usize {
        2 * self.span
    }

    /// Normalised weights for an output instant `fraction` (0 ≤ fraction < 1) of an input sample
    /// after input sample `whole`; weight k applies to input sample `whole - span + 1 + k`.
    fn weights(&self, fraction: f64) -> Vec<f64> {
        let mut weights: Vec<f64> = (0..self.taps())
            .map(|tap| {
                let distance = fraction + self.span as f64 - 1.0 - tap as f64;
                self.value(distance)
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        if sum.abs() > f64::EPSILON {
            weights.iter_mut().for_each(|weight| *weight /= sum);
        }
        weights
    }

    /// Windowed-sinc value at `distance` input samples from the output instant.
    fn value(&self, distance: f64) -> f64 {
        let relative = distance / self.half_width;
        if relative.abs() >= 1.0 {
            return 0.0;
        }
        let window =
            bessel_i0(KAISER_BETA * (1.0 - relative * relative).sqrt()) / self.window_scale;
        2.0 * self.cutoff * normalized_sinc(2.0 * self.cutoff * distance) * window
    }
}

/// sin(πx)/(πx), 1 at 0.
fn normalized_sinc(value: f64) -> f64 {
    if value.abs() < 1e-12 {
        return 1.0;
    }
    let angle = std::f64::consts::PI * value;
    angle.sin() / angle
}

/// The modified Bessel function of the first kind, order zero (power series).
fn bessel_i0(value: f64) -> f64 {
    let quarter_square = value * value / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for index in 1..64 {
        term *= quarter_square / f64::from(index * index);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
pub(crate) mod tests {
    use std::f64::consts::TAU;

    use super::*;
    use crate::decode::tests::{sine, to_i16};
    use crate::pcm::root_mean_square;

    /// Amplitude of the `frequency` component of `samples` (Goertzel algorithm), in sample units.
    pub(crate) fn goertzel_amplitude(samples: &[i16], sample_rate: u32, frequency: f64) -> f64 {
        let coefficient = 2.0 * (TAU * frequency / f64::from(sample_rate)).cos();
        let (mut previous, mut before_previous) = (0.0_f64, 0.0_f64);
        for &sample in samples {
            let current = f64::from(sample) + coefficient * previous - before_previous;
            before_previous = previous;
            previous = current;
        }
        let power = previous * previous + before_previous * before_previous
            - coefficient * previous * before_previous;
        2.0 * power.max(0.0).sqrt() / samples.len() as f64
    }

    fn zero_crossings(samples: &[i16]) -> usize {
        samples
            .windows(2)
            .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
            .count()
    }

    /// The middle of `samples`, away from the edges where the kernel runs off the input.
    fn middle(samples: &[i16]) -> &[i16] {
        &samples[samples.len() / 8..samples.len() * 7 / 8]
    }

    fn decibels(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    #[test]
    fn keeps_frequency_and_amplitude_of_a_1_khz_tone() {
        for source_rate in [16_000, 22_050, 44_100, 48_000, 11_025] {
            let input = Pcm {
                sample_rate: source_rate,
                samples: to_i16(&sine(1000.0, source_rate, 1.0, 0.5)),
            };
            let output = resample(&input, 8000);
            let core = middle(&output);
            let seconds = core.len() as f64 / 8000.0;
            let expected_crossings = 2.0 * 1000.0 * seconds;
            assert!(
                (zero_crossings(core) as f64 - expected_crossings).abs() <= 2.0,
                "{source_rate} Hz: {} zero crossings, expected {expected_crossings}",
                zero_crossings(core)
            );
            let input_amplitude = goertzel_amplitude(middle(&input.samples), source_rate, 1000.0);
            let output_amplitude = goertzel_amplitude(core, 8000, 1000.0);
            let gain = decibels(output_amplitude / input_amplitude);
            assert!(gain.abs() < 1.0, "{source_rate} Hz: gain {gain:.3} dB");
            let rms_gain =
                decibels(root_mean_square(core) / root_mean_square(middle(&input.samples)));
            assert!(
                rms_gain.abs() < 1.0,
                "{source_rate} Hz: rms gain {rms_gain:.3} dB"
            );
            // Nothing but the tone: a neighbouring frequency carries almost no energy.
            let leak = goertzel_amplitude(core, 8000, 1500.0);
            assert!(
                decibels(leak / output_amplitude) < -40.0,
                "{source_rate} Hz: leak {leak}"
            );
        }
    }

    #[test]
    fn attenuates_tones_above_the_target_nyquist_frequency() {
        let input = Pcm {
            sample_rate: 16_000,
            samples: to_i16(&sine(6000.0, 16_000, 1.0, 0.5)),
        };
        let output = resample(&input, 8000);
        let attenuation =
            decibels(root_mean_square(middle(&output)) / root_mean_square(middle(&input.samples)));
        assert!(
            attenuation < -30.0,
            "6 kHz only attenuated {attenuation:.1} dB"
        );
        // Specifically, no alias at 8 kHz − 6 kHz = 2 kHz.
        let alias = goertzel_amplitude(middle(&output), 8000, 2000.0);
        assert!(
            decibels(alias / (0.5 * 32767.0)) < -30.0,
            "alias amplitude {alias}"
        );

        let input = Pcm {
            sample_rate: 22_050,
            samples: to_i16(&sine(5000.0, 22_050, 1.0, 0.5)),
        };
        let output = resample(&input, 8000);
        let attenuation =
            decibels(root_mean_square(middle(&output)) / root_mean_square(middle(&input.samples)));
        assert!(
            attenuation < -30.0,
            "5 kHz from 22.05 kHz only attenuated {attenuation:.1} dB"
        );
    }

    #[test]
    fn output_length_is_the_rounded_ratio() {
        for (length, source_rate, target_rate) in [
            (16_000, 16_000, 8000),
            (16_001, 16_000, 8000),
            (22_050, 22_050, 8000),
            (12_345, 22_050, 8000),
            (1, 44_100, 8000),
            (3, 48_000, 8000),
            (1000, 8000, 16_000),
            (999, 8001, 8000),
            (0, 16_000, 8000),
        ] {
            let input = Pcm {
                sample_rate: source_rate,
                samples: vec![0; length],
            };
            let expected =
                (length as f64 * f64::from(target_rate) / f64::from(source_rate)).round() as usize;
            assert_eq!(
                resample(&input, target_rate).len(),
                expected,
                "{length} at {source_rate} → {target_rate}"
            );
        }
    }

    #[test]
    fn equal_rates_copy_and_zero_rates_give_nothing() {
        let input = Pcm {
            sample_rate: 8000,
            samples: vec![1, -2, 3],
        };
        assert_eq!(resample(&input, 8000), vec![1, -2, 3]);
        assert!(resample(&input, 0).is_empty());
        assert!(
            resample(
                &Pcm {
                    sample_rate: 0,
                    samples: vec![1]
                },
                8000
            )
            .is_empty()
        );
    }

    #[test]
    fn constant_signal_passes_unchanged_away_from_the_edges() {
        let input = Pcm {
            sample_rate: 22_050,
            samples: vec![1000; 22_050],
        };
        let output = resample(&input, 8000);
        assert!(
            middle(&output)
                .iter()
                .all(|&sample| (sample - 1000).abs() <= 1)
        );
    }

    #[test]
    fn rates_with_many_phases_use_per_sample_weights() {
        // 8001 → 8000 has 8000 phases: too many to tabulate with this kernel.
        let kernel = Kernel::new(8001, 8000);
        assert!(8000 * kernel.taps() > MAX_TABLE_COEFFICIENTS);
        let input = Pcm {
            sample_rate: 8001,
            samples: to_i16(&sine(1000.0, 8001, 0.5, 0.5)),
        };
        let output = resample(&input, 8000);
        let gain = decibels(goertzel_amplitude(middle(&output), 8000, 1000.0) / (0.5 * 32767.0));
        assert!(gain.abs() < 1.0, "gain {gain:.3} dB");
    }

    #[test]
    fn upsampling_keeps_the_tone() {
        let input = Pcm {
            sample_rate: 8000,
            samples: to_i16(&sine(1000.0, 8000, 0.5, 0.5)),
        };
        let output = resample(&input, 16_000);
        let gain = decibels(goertzel_amplitude(middle(&output), 16_000, 1000.0) / (0.5 * 32767.0));
        assert!(gain.abs() < 1.0, "gain {gain:.3} dB");
    }

    #[test]
    fn bessel_i0_matches_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-12);
        assert!((bessel_i0(8.0) - 427.564_115_721_804_7).abs() < 1e-9);
    }
}
