//! ITU-T G.722 sub-band ADPCM at 64 kbit/s: 16 kHz 16-bit PCM in, one
//! byte per pair of samples out.
//!
//! A port of the public-domain `g722_encode.c` / `g722_decode.c` by Steve
//! Underwood (SpanDSP), itself based on the unrestricted Carnegie Mellon
//! University G.722 codec (Chengxiang Lu and Alex Hauptmann, 1993). Block
//! names in comments (`Block 4, UPPOL2`, …) are those of ITU-T G.722 §3 and
//! §4. Only the 64 kbit/s mode (8 bits per code: 6 low-band, 2 high-band)
//! used on RTP payload type 9 (RFC 3551 §4.5.2) is implemented.
//!
//! Both directions are stateful and allocation-free; feed consecutive
//! audio through one encoder or decoder per stream.

/// Saturates to the 16-bit range.
fn saturate(value: i32) -> i32 {
    value.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// QMF coefficients (ITU-T G.722 §3.1, table 11), one half of the
/// symmetric 24-tap filter.
const QMF_COEFFICIENTS: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Low-band quantiser decision levels (G.722 table 6, `Q6`).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Low-band code for a negative difference, by quantiser interval.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
/// Low-band code for a positive difference, by quantiser interval.
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Low-band log scale factor multipliers (G.722 table 12, `WL`).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// 4-bit code to `WL` index (`RIL4` → `IL4`).
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log table for the scale factors (G.722 table 14, `ILB`).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit inverse quantiser outputs (G.722 table 7, `QQ4`, signed and
/// scaled).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit inverse quantiser outputs (G.722 table 6, `QQ6`, signed and
/// scaled).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// 2-bit inverse quantiser outputs (G.722 table 8, `QQ2`).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// High-band code for a negative difference.
const IHN: [i32; 3] = [0, 1, 0];
/// High-band code for a positive difference.
const IHP: [i32; 3] = [0, 3, 2];
/// High-band log scale factor multipliers (G.722 table 13, `WH`).
const WH: [i32; 3] = [0, -214, 798];
/// 2-bit code to `WH` index.
const RH2: [i32; 4] = [2, 1, 2, 1];

/// Adaptive predictor state of one sub-band (G.722 §3.6, blocks 4L/4H).
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    s: i32,
    sp: i32,
    sz: i32,
    r: [i32; 3],
    a: [i32; 3],
    ap: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    b: [i32; 7],
    bp: [i32; 7],
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Self {
            det,
            ..Self::default()
        }
    }

    /// Block 4: reconstruction, pole and zero predictor adaptation and the
    /// next prediction, from the quantised difference `d`.
    fn update(&mut self, d: i32) {
        // Block 4, RECONS
        self.d[0] = d;
        self.r[0] = saturate(self.s + d);
        // Block 4, PARREC
        self.p[0] = saturate(self.sz + d);

        // Block 4, UPPOL2
        let sign = |value: i32| value >> 15;
        let mut sg = [sign(self.p[0]), sign(self.p[1]), sign(self.p[2])];
        let wd1 = saturate(self.a[1] << 2);
        let wd2 = if sg[0] == sg[1] { -wd1 } else { wd1 }.min(32767);
        let mut ap2 = (wd2 >> 7) + if sg[0] == sg[2] { 128 } else { -128 };
        ap2 += (self.a[2] * 32512) >> 15;
        self.ap[2] = ap2.clamp(-12288, 12288);

        // Block 4, UPPOL1
        sg[0] = sign(self.p[0]);
        sg[1] = sign(self.p[1]);
        let wd1 = if sg[0] == sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let ap1 = saturate(wd1 + wd2);
        let wd3 = saturate(15360 - self.ap[2]);
        self.ap[1] = ap1.clamp(-wd3, wd3);

        // Block 4, UPZERO
        let wd1 = if d == 0 { 0 } else { 128 };
        let sg0 = sign(d);
        for index in 1..7 {
            let wd2 = if sign(self.d[index]) == sg0 {
                wd1
            } else {
                -wd1
            };
            let wd3 = (self.b[index] * 32640) >> 15;
            self.bp[index] = saturate(wd2 + wd3);
        }

        // Block 4, DELAYA and FILTEZ
        let mut sz = 0;
        for index in (1..7).rev() {
            self.d[index] = self.d[index - 1];
            self.b[index] = self.bp[index];
            let wd1 = saturate(self.d[index] + self.d[index]);
            sz += (self.b[index] * wd1) >> 15;
        }
        self.sz = sz;
        for index in (1..3).rev() {
            self.r[index] = self.r[index - 1];
            self.p[index] = self.p[index - 1];
            self.a[index] = self.ap[index];
        }

        // Block 4, FILTEP
        let wd1 = saturate(self.r[1] + self.r[1]);
        let wd1 = (self.a[1] * wd1) >> 15;
        let wd2 = saturate(self.r[2] + self.r[2]);
        let wd2 = (self.a[2] * wd2) >> 15;
        self.sp = saturate(wd1 + wd2);

        // Block 4, PREDIC
        self.s = saturate(self.sp + self.sz);
    }

    /// Blocks 3L LOGSCL and SCALEL: adapts the low-band scale factor.
    fn scale_low(&mut self, il4: i32) {
        let wd = (self.nb * 127) >> 7;
        self.nb = (wd + WL[il4 as usize]).clamp(0, 18432);
        self.det = scale(self.nb, 8);
    }

    /// Blocks 3H LOGSCH and SCALEH: adapts the high-band scale factor.
    fn scale_high(&mut self, ih2: i32) {
        let wd = (self.nb * 127) >> 7;
        self.nb = (wd + WH[ih2 as usize]).clamp(0, 22528);
        self.det = scale(self.nb, 10);
    }
}

/// Blocks SCALEL/SCALEH: the linear scale factor from the log one.
fn scale(nb: i32, offset: i32) -> i32 {
    let wd1 = (nb >> 6) & 31;
    let wd2 = offset - (nb >> 11);
    let wd3 = if wd2 < 0 {
        ILB[wd1 as usize] << -wd2
    } else {
        ILB[wd1 as usize] >> wd2
    };
    wd3 << 2
}

/// G.722 encoder state (64 kbit/s).
#[derive(Debug, Clone)]
pub struct G722Encoder {
    low: Band,
    high: Band,
    qmf: [i32; 24],
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// A fresh encoder (G.722 §3.1 reset state).
    pub fn new() -> Self {
        Self {
            low: Band::new(32),
            high: Band::new(8),
            qmf: [0; 24],
        }
    }

    /// Encodes 16 kHz samples, two per output byte, and returns the number
    /// of bytes written: `min(samples.len() / 2, output.len())`. An odd
    /// last sample is ignored.
    pub fn encode(&mut self, samples: &[i16], output: &mut [u8]) -> usize {
        let mut written = 0;
        for (pair, code) in samples.chunks_exact(2).zip(output.iter_mut()) {
            *code = self.encode_pair(pair[0], pair[1]);
            written += 1;
        }
        written
    }

    /// Encodes two consecutive 16 kHz samples into one code.
    pub fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        // Transmit QMF (G.722 §3.2): shift in two samples, keep one output
        // per band.
        self.qmf.copy_within(2.., 0);
        self.qmf[22] = i32::from(first);
        self.qmf[23] = i32::from(second);
        let mut sum_even = 0;
        let mut sum_odd = 0;
        for index in 0..12 {
            sum_odd += self.qmf[2 * index] * QMF_COEFFICIENTS[index];
            sum_even += self.qmf[2 * index + 1] * QMF_COEFFICIENTS[11 - index];
        }
        // DC gain 4096, two filters summed, 15-bit codec input: shift 14.
        let x_low = (sum_even + sum_odd) >> 14;
        let x_high = (sum_even - sum_odd) >> 14;

        // Block 1L, SUBTRA
        let el = saturate(x_low - self.low.s);
        // Block 1L, QUANTL
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut interval = 1;
        while interval < 30 {
            if wd < (Q6[interval] * self.low.det) >> 12 {
                break;
            }
            interval += 1;
        }
        let low_code = if el < 0 { ILN[interval] } else { ILP[interval] };
        // Block 2L, INVQAL
        let ril = (low_code >> 2) as usize;
        let d_low = (self.low.det * QM4[ril]) >> 15;
        // Blocks 3L, then 4L
        self.low.scale_low(RL42[ril]);
        self.low.update(d_low);

        // Block 1H, SUBTRA
        let eh = saturate(x_high - self.high.s);
        // Block 1H, QUANTH
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let magnitude = if wd >= (564 * self.high.det) >> 12 {
            2
        } else {
            1
        };
        let high_code = if eh < 0 {
            IHN[magnitude]
        } else {
            IHP[magnitude]
        };
        // Block 2H, INVQAH
        let d_high = (self.high.det * QM2[high_code as usize]) >> 15;
        // Blocks 3H, then 4H
        self.high.scale_high(RH2[high_code as usize]);
        self.high.update(d_high);

        ((high_code << 6) | low_code) as u8
    }
}

/// G.722 decoder state (64 kbit/s).
#[derive(Debug, Clone)]
pub struct G722Decoder {
    low: Band,
    high: Band,
    qmf: [i32; 24],
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A fresh decoder (G.722 §3.1 reset state).
    pub fn new() -> Self {
        Self {
            low: Band::new(32),
            high: Band::new(8),
            qmf: [0; 24],
        }
    }

    /// Decodes codes into 16 kHz samples, two per byte, and returns the
    /// number of samples written: `2 × min(codes.len(), output.len() / 2)`.
    pub fn decode(&mut self, codes: &[u8], output: &mut [i16]) -> usize {
        let mut written = 0;
        for (code, pair) in codes.iter().zip(output.chunks_exact_mut(2)) {
            let (first, second) = self.decode_code(*code);
            pair[0] = first;
            pair[1] = second;
            written += 2;
        }
        written
    }

    /// Decodes one code into two consecutive 16 kHz samples.
    pub fn decode_code(&mut self, code: u8) -> (i16, i16) {
        let code = i32::from(code);
        let low_code = code & 0x3F;
        let high_code = (code >> 6) & 0x03;

        // Block 5L, LOW BAND INVQBL
        let wd2 = (self.low.det * QM6[low_code as usize]) >> 15;
        // Block 5L, RECONS; Block 6L, LIMIT
        let r_low = (self.low.s + wd2).clamp(-16384, 16383);
        // Block 2L, INVQAL
        let ril = (low_code >> 2) as usize;
        let d_low = (self.low.det * QM4[ril]) >> 15;
        // Blocks 3L, then 4L
        self.low.scale_low(RL42[ril]);
        self.low.update(d_low);

        // Block 2H, INVQAH
        let d_high = (self.high.det * QM2[high_code as usize]) >> 15;
        // Block 5H, RECONS; Block 6H, LIMIT
        let r_high = (d_high + self.high.s).clamp(-16384, 16383);
        // Blocks 3H, then 4H
        self.high.scale_high(RH2[high_code as usize]);
        self.high.update(d_high);

        // Receive QMF (G.722 §4.4).
        self.qmf.copy_within(2.., 0);
        self.qmf[22] = r_low + r_high;
        self.qmf[23] = r_low - r_high;
        let mut out_first = 0;
        let mut out_second = 0;
        for index in 0..12 {
            out_second += self.qmf[2 * index] * QMF_COEFFICIENTS[index];
            out_first += self.qmf[2 * index + 1] * QMF_COEFFICIENTS[11 - index];
        }
        (
            saturate(out_first >> 11) as i16,
            saturate(out_second >> 11) as i16,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;

    fn sine(frequency: f64, amplitude: f64, count: usize) -> Vec<i16> {
        (0..count)
            .map(|index| (amplitude * (2.0 * PI * frequency * index as f64 / 16000.0).sin()) as i16)
            .collect()
    }

    /// SNR in dB of `decoded` against `original` delayed by `delay`.
    fn snr(original: &[i16], decoded: &[i16], delay: usize) -> f64 {
        let mut signal = 0.0;
        let mut noise = 0.0;
        for (index, sample) in decoded.iter().enumerate().skip(delay + 400) {
            let reference = f64::from(original[index - delay]);
            signal += reference * reference;
            let error = f64::from(*sample) - reference;
            noise += error * error;
        }
        10.0 * (signal / noise).log10()
    }

    fn round_trip(input: &[i16]) -> Vec<i16> {
        let mut encoder = G722Encoder::new();
        let mut decoder = G722Decoder::new();
        let mut codes = vec![0u8; input.len() / 2];
        assert_eq!(encoder.encode(input, &mut codes), input.len() / 2);
        let mut output = vec![0i16; input.len()];
        assert_eq!(decoder.decode(&codes, &mut output), input.len());
        output
    }

    /// The best SNR over a small range of delays (the QMF pair delays the
    /// signal by 22 samples).
    fn best_snr(input: &[i16], output: &[i16]) -> (f64, usize) {
        (0..40)
            .map(|delay| (snr(input, output, delay), delay))
            .fold((f64::MIN, 0), |best, candidate| {
                if candidate.0 > best.0 {
                    candidate
                } else {
                    best
                }
            })
    }

    #[test]
    fn a_1_khz_tone_round_trips_above_20_db_snr() {
        let input = sine(1000.0, 10000.0, 16000);
        let output = round_trip(&input);
        let (snr, delay) = best_snr(&input, &output);
        assert!(snr > 20.0, "SNR {snr:.1} dB at delay {delay}");
    }

    #[test]
    fn high_band_content_is_carried() {
        // 6 kHz lies in the upper sub-band (4–8 kHz).
        let input = sine(6000.0, 8000.0, 16000);
        let output = round_trip(&input);
        let (snr, _) = best_snr(&input, &output);
        assert!(snr > 10.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn silence_stays_silent() {
        let output = round_trip(&[0i16; 3200]);
        assert!(output.iter().all(|sample| sample.abs() < 16));
    }

    #[test]
    fn full_scale_and_garbage_never_panic() {
        let mut encoder = G722Encoder::new();
        let mut decoder = G722Decoder::new();
        let mut state = 0x2545_F491u32;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let sample = state as i16;
            let code =
                encoder.encode_pair(sample, if state & 1 == 0 { i16::MAX } else { i16::MIN });
            decoder.decode_code(code);
            decoder.decode_code(state as u8);
        }
    }
}
