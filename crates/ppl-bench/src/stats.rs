//! Small numeric helpers for reports: medians over repeated runs and rounding for display.

/// The median of the finite values (the mean of the middle two for an even count); `None` if
/// there are none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    finite.sort_by(f64::total_cmp);
    let middle = finite.len() / 2;
    Some(if finite.len() % 2 == 1 {
        finite[middle]
    } else {
        (finite[middle - 1] + finite[middle]) / 2.0
    })
}

/// Rounds to four decimals (seconds to 0.1 ms) so reports stay readable.
pub fn round(value: f64) -> f64 {
    (value * 1e4).round() / 1e4
}

/// `numerator / denominator` rounded, when both are known and the denominator is positive.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 && n.is_finite() => Some(round(n / d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn ratios_need_a_positive_denominator() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }
}
