//! The few statistics the pictures draw, written out here so that each is checked against its
//! definition: quantiles, a Gaussian kernel density estimate with Silverman's bandwidth, the
//! autocorrelation function of a chain, and ranks pooled over chains.

/// The `p` quantile of sorted, finite values by linear interpolation between order statistics
/// (Hyndman and Fan's type 7, R's and NumPy's default). `None` for no values.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = p.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let weight = position - below as f64;
    Some(sorted[below] * (1.0 - weight) + sorted[above] * weight)
}

/// The finite values, sorted.
pub fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, variance.sqrt())
}

/// Silverman's rule of thumb, h = 0.9 · min(sd, IQR / 1.34) · n^(−1/5) (Silverman 1986, eq. 3.31).
/// When the spread is zero by one measure the other is used; when it is zero by both (a constant
/// chain) a small width relative to the value keeps the spike visible.
pub fn silverman_bandwidth(sorted: &[f64]) -> f64 {
    if sorted.len() < 2 {
        return 1.0;
    }
    let (mean, sd) = mean_and_sd(sorted);
    let iqr = quantile(sorted, 0.75).unwrap_or(0.0) - quantile(sorted, 0.25).unwrap_or(0.0);
    let spread = match (sd > 0.0, iqr > 0.0) {
        (true, true) => sd.min(iqr / 1.34),
        (true, false) => sd,
        (false, true) => iqr / 1.34,
        (false, false) => return 1e-3 * (mean.abs() + 1.0),
    };
    0.9 * spread * (sorted.len() as f64).powf(-0.2)
}

/// A Gaussian kernel density estimate of the finite `values` at each point of `grid`.
pub fn kernel_density(values: &[f64], bandwidth: f64, grid: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() || bandwidth <= 0.0 {
        return vec![0.0; grid.len()];
    }
    let normaliser = 1.0 / (finite.len() as f64 * bandwidth * (2.0 * std::f64::consts::PI).sqrt());
    grid.iter()
        .map(|x| {
            finite
                .iter()
                .map(|v| (-0.5 * ((x - v) / bandwidth).powi(2)).exp())
                .sum::<f64>()
                * normaliser
        })
        .collect()
}

/// `count` evenly spaced points from `low` to `high` inclusive.
pub fn linspace(low: f64, high: f64, count: usize) -> Vec<f64> {
    if count < 2 {
        return vec![low];
    }
    let step = (high - low) / (count - 1) as f64;
    (0..count).map(|i| low + step * i as f64).collect()
}

/// The sample autocorrelation ρ̂ₖ = Σₜ (xₜ − x̄)(xₜ₊ₖ − x̄) / Σₜ (xₜ − x̄)² for lags 0..=max_lag
/// (the biased estimator, as ArviZ and bayesplot draw it). `None` for a constant chain, whose
/// autocorrelation is undefined, or one with a non-finite value.
pub fn autocorrelation(values: &[f64], max_lag: usize) -> Option<Vec<f64>> {
    if values.len() < 2 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let (mean, _) = mean_and_sd(values);
    let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let total: f64 = centred.iter().map(|c| c * c).sum();
    if total <= 0.0 {
        return None;
    }
    let max_lag = max_lag.min(values.len() - 1);
    Some(
        (0..=max_lag)
            .map(|lag| {
                centred
                    .iter()
                    .zip(&centred[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / total
            })
            .collect(),
    )
}

/// Ranks of all draws pooled over chains, 1 for the smallest, ties given their average rank (as
/// in Vehtari et al. 2021's rank plots); returned per chain in the chains' shape. Non-finite draws
/// rank by `f64::total_cmp`, so NaN ranks last rather than failing.
pub fn pooled_ranks(chains: &[&[f64]]) -> Vec<Vec<f64>> {
    let mut all: Vec<(f64, usize, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(c, chain)| chain.iter().enumerate().map(move |(i, v)| (*v, c, i)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut start = 0;
    while start < all.len() {
        let mut end = start + 1;
        while end < all.len() && all[end].0.total_cmp(&all[start].0).is_eq() {
            end += 1;
        }
        // Positions start..end hold equal values: each gets the mean of ranks start+1..=end.
        let rank = (start + end + 1) as f64 / 2.0;
        for &(_, chain, draw) in &all[start..end] {
            ranks[chain][draw] = rank;
        }
        start = end;
    }
    ranks
}

/// Counts of `ranks` (in 1..=total) in `bins` equal-width bins over [1, total].
pub fn rank_histogram(ranks: &[f64], total: usize, bins: usize) -> Vec<usize> {
    let mut counts = vec![0usize; bins.max(1)];
    let width = total.max(1) as f64 / counts.len() as f64;
    for rank in ranks {
        let bin = (((rank - 1.0) / width).floor().max(0.0) as usize).min(counts.len() - 1);
        counts[bin] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::normal_draws;

    #[test]
    fn quantiles_interpolate_like_type_7() {
        let sorted = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&sorted, 0.0), Some(1.0));
        assert_eq!(quantile(&sorted, 1.0), Some(8.0));
        // position 0.5 * 3 = 1.5: halfway between 2 and 4.
        assert_eq!(quantile(&sorted, 0.5), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn silverman_bandwidth_by_hand() {
        // 1..=5: sd = sqrt(2.5) = 1.5811, IQR = 4 - 2 = 2, IQR/1.34 = 1.4925 is the smaller.
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let expected = 0.9 * (2.0 / 1.34) * 5f64.powf(-0.2);
        assert!((silverman_bandwidth(&values) - expected).abs() < 1e-12);
        assert!(silverman_bandwidth(&[2.0, 2.0, 2.0]) > 0.0);
    }

    #[test]
    fn density_integrates_to_one_and_matches_the_normal() {
        let draws = normal_draws(7, 4000);
        let sorted = sorted_finite(&draws);
        let bandwidth = silverman_bandwidth(&sorted);
        let grid = linspace(-8.0, 8.0, 1601);
        let density = kernel_density(&draws, bandwidth, &grid);
        let step = grid[1] - grid[0];
        let area: f64 = density.iter().sum::<f64>() * step;
        assert!((area - 1.0).abs() < 1e-6, "area {area}");
        // At 0 the estimate is the N(0, 1 + h²) density at 0, up to sampling error: the KDE of
        // n = 4000 draws has standard deviation about sqrt(f(0) / (2 sqrt(pi) n h)) ≈ 0.008 there.
        let at_zero = density[800];
        let smoothed = 1.0 / (2.0 * std::f64::consts::PI * (1.0 + bandwidth * bandwidth)).sqrt();
        assert!(
            (at_zero - smoothed).abs() < 4.0 * 0.008,
            "{at_zero} vs {smoothed}"
        );
    }

    #[test]
    fn autocorrelation_of_an_ar1_chain_decays_as_rho_to_the_lag() {
        let rho: f64 = 0.8;
        let noise = normal_draws(11, 20_000);
        let mut chain = Vec::with_capacity(noise.len());
        let mut x = 0.0;
        for e in noise {
            x = rho * x + (1.0 - rho * rho).sqrt() * e;
            chain.push(x);
        }
        let acf = autocorrelation(&chain, 5).unwrap();
        assert_eq!(acf[0], 1.0);
        // Bartlett: the standard error of ρ̂ₖ is about sqrt((1 + ρ²)/(1 − ρ²) / n) ≈ 0.016 here.
        for (lag, value) in acf.iter().enumerate() {
            assert!(
                (value - rho.powi(lag as i32)).abs() < 4.0 * 0.016,
                "lag {lag}: {value}"
            );
        }
        assert_eq!(autocorrelation(&[3.0, 3.0, 3.0], 2), None);
    }

    #[test]
    fn pooled_ranks_average_ties() {
        let ranks = pooled_ranks(&[&[10.0, 30.0], &[20.0, 10.0]]);
        assert_eq!(ranks, vec![vec![1.5, 4.0], vec![3.0, 1.5]]);
        assert_eq!(rank_histogram(&[1.0, 1.5, 2.0, 4.0], 4, 2), vec![3, 1]);
    }
}
