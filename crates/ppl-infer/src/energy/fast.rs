//! Branch-free `f32` exp, sigmoid and softplus for the training loop and the per-epoch
//! pseudo-likelihood: written so that the compiler vectorises loops over slices, which `f32::exp`
//! (a libm call per element) prevents. Relative error about 2e-7 (tested against `f64`).

/// eˣ: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (error below
/// r⁷/7! ≈ 1.2e-7 relative), 2ⁿ by building the float's exponent bits.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest, so that x − n·ln2 loses nothing.
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer without a branch.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // The integer n sits in the low mantissa bits of `shifted`: reading it from there, rather
    // than by a float-to-int cast, keeps the loop vectorisable.
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUNDER.to_bits())
        .wrapping_add(127);
    let scale = f32::from_bits(exponent << 23);
    p * scale
}

/// 1 / (1 + e⁻ˣ).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// log(1 + eˣ) = max(x, 0) + log(1 + e^{−|x|}), the last term by
/// log(1 + t) = 2·atanh(t / (2 + t)) with its odd series to z¹¹ (z ≤ 1/3, error below 1e-7).
#[inline(always)]
pub(crate) fn softplus(x: f32) -> f32 {
    let t = exp(-x.abs());
    let z = t / (2.0 + t);
    let z2 = z * z;
    let series = z
        * (2.0
            + z2 * (2.0 / 3.0
                + z2 * (2.0 / 5.0 + z2 * (2.0 / 7.0 + z2 * (2.0 / 9.0 + z2 * (2.0 / 11.0))))));
    x.max(0.0) + series
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_sigmoid_softplus_match_f64_to_single_precision() {
        let mut worst = [0.0f64; 3];
        for step in -40_000..=40_000 {
            let x = step as f32 * 0.002;
            let xd = f64::from(x);
            let exp_rel = (f64::from(super::exp(x)) - xd.exp()).abs() / xd.exp();
            let sig = (f64::from(super::sigmoid(x)) - super::super::sigmoid(xd)).abs();
            let soft = (f64::from(super::softplus(x)) - super::super::softplus(xd)).abs()
                / super::super::softplus(xd).max(1.0);
            worst[0] = worst[0].max(exp_rel);
            worst[1] = worst[1].max(sig);
            worst[2] = worst[2].max(soft);
        }
        assert!(worst[0] < 5e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 3e-7, "sigmoid absolute error {}", worst[1]);
        assert!(worst[2] < 5e-7, "softplus error {}", worst[2]);
    }
}
