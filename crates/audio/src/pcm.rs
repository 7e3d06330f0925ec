//! Decoded audio as plain 16-bit samples.

use std::time::Duration;

/// Mono 16-bit linear PCM at a known sample rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pcm {
    /// Samples per second.
    pub sample_rate: u32,
    /// One sample per frame (mono), in playback order.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// The playback length of these samples (zero for a zero sample rate).
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate))
    }
}

/// Root-mean-square level of `samples`, in sample units (0 for silence or no samples).
#[cfg(test)]
pub(crate) fn root_mean_square(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&sample| f64::from(sample).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_follows_sample_count_and_rate() {
        let pcm = Pcm {
            sample_rate: 8000,
            samples: vec![0; 4000],
        };
        assert_eq!(pcm.duration(), Duration::from_millis(500));
        assert_eq!(Pcm::default().duration(), Duration::ZERO);
    }

    #[test]
    fn root_mean_square_of_a_square_wave_is_its_amplitude() {
        let samples: Vec<i16> = (0..100)
            .map(|index| if index % 2 == 0 { 1000 } else { -1000 })
            .collect();
        assert!((root_mean_square(&samples) - 1000.0).abs() < 1e-9);
        assert_eq!(root_mean_square(&[]), 0.0);
    }
}
