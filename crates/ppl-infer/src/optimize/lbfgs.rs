//! The limited-memory BFGS inverse-Hessian approximation: the last `m` step/gradient-change pairs
//! and the two-loop recursion that applies the approximation to a gradient (Nocedal & Wright,
//! Algorithms 7.4 and 7.5).

use std::collections::VecDeque;

/// One curvature pair: the step `s = x_{k+1} - x_k`, the gradient change `y = g_{k+1} - g_k`
/// and `1 / (s · y)`.
#[derive(Clone, Debug)]
struct CurvaturePair {
    step: Vec<f64>,
    gradient_change: Vec<f64>,
    inverse_curvature: f64,
}

/// The stored pairs, oldest first, of a minimisation.
#[derive(Clone, Debug)]
pub(crate) struct LbfgsHistory {
    capacity: usize,
    pairs: VecDeque<CurvaturePair>,
    /// Scratch for the two-loop recursion's `alpha_i`.
    alphas: Vec<f64>,
}

impl LbfgsHistory {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        LbfgsHistory {
            capacity,
            pairs: VecDeque::with_capacity(capacity),
            alphas: vec![0.0; capacity],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Stores a pair, dropping the oldest when full. A pair whose curvature `s · y` is not
    /// clearly positive would make the approximation indefinite, so it is skipped (returns
    /// false); a strong-Wolfe step guarantees positive curvature in exact arithmetic, so this
    /// only happens through rounding.
    pub(crate) fn push(&mut self, step: Vec<f64>, gradient_change: Vec<f64>) -> bool {
        let curvature = dot(&step, &gradient_change);
        let change_squared = dot(&gradient_change, &gradient_change);
        // NaN fails both comparisons and is skipped too.
        let clearly_positive = curvature > f64::EPSILON * change_squared && curvature.is_finite();
        if !clearly_positive {
            return false;
        }
        if self.pairs.len() == self.capacity {
            self.pairs.pop_front();
        }
        self.pairs.push_back(CurvaturePair {
            step,
            gradient_change,
            inverse_curvature: 1.0 / curvature,
        });
        true
    }

    /// Writes `-H g` into `direction`, where `H` is the L-BFGS inverse-Hessian approximation
    /// whose initial matrix is `gamma I` with `gamma = s·y / y·y` of the newest pair (N&W 7.20).
    /// With no pairs this is steepest descent.
    pub(crate) fn descent_direction(&mut self, gradient: &[f64], direction: &mut [f64]) {
        direction.copy_from_slice(gradient);
        for (pair, alpha) in self.pairs.iter().zip(self.alphas.iter_mut()).rev() {
            *alpha = pair.inverse_curvature * dot(&pair.step, direction);
            axpy(-*alpha, &pair.gradient_change, direction);
        }
        if let Some(newest) = self.pairs.back() {
            let change_squared = dot(&newest.gradient_change, &newest.gradient_change);
            let gamma = 1.0 / (newest.inverse_curvature * change_squared);
            for d in direction.iter_mut() {
                *d *= gamma;
            }
        }
        for (pair, alpha) in self.pairs.iter().zip(self.alphas.iter()) {
            let beta = pair.inverse_curvature * dot(&pair.gradient_change, direction);
            axpy(alpha - beta, &pair.step, direction);
        }
        for d in direction.iter_mut() {
            *d = -*d;
        }
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `target += scale * source`.
fn axpy(scale: f64, source: &[f64], target: &mut [f64]) {
    for (t, s) in target.iter_mut().zip(source) {
        *t += scale * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BFGS update always satisfies the newest secant equation `H y = s`, and with
    /// A-conjugate steps on a quadratic it satisfies all of them, so `H = A^{-1}` after `dim`
    /// pairs (N&W Theorem 6.4's hereditary property).
    #[test]
    fn satisfies_the_secant_equations_of_a_quadratic() {
        let hessian = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let apply = |v: &[f64]| -> Vec<f64> { (0..3).map(|i| dot(&hessian[i], v)).collect() };

        let mut history = LbfgsHistory::new(10);
        let arbitrary_steps = [[1.0, 0.0, 0.0], [0.3, 1.0, 0.0], [0.1, -0.4, 1.0]];
        for step in arbitrary_steps {
            assert!(history.push(step.to_vec(), apply(&step)));
        }
        let newest = arbitrary_steps[2];
        let mut direction = [0.0; 3];
        history.descent_direction(&apply(&newest), &mut direction);
        for (d, s) in direction.iter().zip(&newest) {
            assert!((d + s).abs() < 1e-12, "{direction:?} vs {newest:?}");
        }

        // A-conjugate steps by Gram-Schmidt in the A inner product.
        let mut conjugate: Vec<Vec<f64>> = Vec::new();
        for step in arbitrary_steps {
            let mut v = step.to_vec();
            for previous in &conjugate {
                let a_previous = apply(previous);
                let coefficient = dot(&v, &a_previous) / dot(previous, &a_previous);
                axpy(-coefficient, previous, &mut v);
            }
            conjugate.push(v);
        }
        history.clear();
        for step in &conjugate {
            assert!(history.push(step.clone(), apply(step)));
        }
        let gradient = [0.7, -1.3, 2.1];
        history.descent_direction(&gradient, &mut direction);
        let back = apply(&direction);
        for (b, g) in back.iter().zip(&gradient) {
            assert!((b + g).abs() < 1e-10, "A d = {back:?}, g = {gradient:?}");
        }
    }

    #[test]
    fn skips_pairs_without_positive_curvature_and_forgets_the_oldest() {
        let mut history = LbfgsHistory::new(2);
        assert!(!history.push(vec![1.0, 0.0], vec![-1.0, 0.0]));
        assert!(history.is_empty());
        assert!(history.push(vec![1.0, 0.0], vec![2.0, 0.0]));
        assert!(history.push(vec![0.0, 1.0], vec![0.0, 5.0]));
        assert!(history.push(vec![1.0, 1.0], vec![2.0, 5.0]));
        assert_eq!(history.pairs.len(), 2);
        assert_eq!(history.pairs[0].step, vec![0.0, 1.0]);
        let mut direction = [0.0; 2];
        history.descent_direction(&[2.0, 5.0], &mut direction);
        assert!((direction[0] + 1.0).abs() < 1e-12 && (direction[1] + 1.0).abs() < 1e-12);
    }
}
