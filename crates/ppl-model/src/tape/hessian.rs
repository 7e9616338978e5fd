//! The exact Hessian of a tape's log density, for the Laplace approximation and MAP standard
//! errors.
//!
//! Second derivatives come from num-dual's hyper-dual numbers pushed through the generic
//! evaluator (the same semantics the tape is tested against): a number carrying first-order
//! parts in two blocks of directions and their mixed second-order part gives one `B × B` block of
//! the Hessian per evaluation, so the whole matrix costs `nb (nb + 1) / 2` evaluations with
//! `nb = ⌈dim / B⌉`. No step size, so no truncation or cancellation error: the curvature at a
//! sharp mode (a scale near its boundary) is as exact as at a flat one, where central differences
//! of the gradient lose half their digits.
//!
//! This is forward-over-forward on the generic evaluator rather than forward-over-reverse on
//! the tape that LANGUAGE.md §7 describes: the tape's reverse rules are hand-written on `f64`,
//! and lifting every one of them to dual numbers is the "one place per builtin" work (issue 10)
//! still to do. The answer is the same exact Hessian; the cost grows as `dim²` evaluations of the
//! slower evaluator, which is why [`EXACT_HESSIAN_MAX_DIM`] bounds where it is used.
//!
//! What it does not cover, so the caller falls back to finite differences and says why: discrete
//! latents summed out on the tape (the generic evaluator evaluates a model with them fixed), and
//! dimensions above the cap.

use num_dual::{Derivative, HyperDualSVec64};

use super::density::Tape;
use super::error::TapeError;
use super::layout::bound_evaluator;

/// Directions per block of the hyper-dual evaluation: 4 × 4 second-order parts per number keep
/// the per-operation cost small while cutting the evaluations sixteen-fold against pairs.
const BLOCK: usize = 4;

/// Above this many coordinates the exact Hessian (`dim²/32` evaluations of the generic
/// evaluator) costs more than it is worth beside `2 dim` reverse-mode gradients.
pub const EXACT_HESSIAN_MAX_DIM: usize = 120;

/// Why a tape's Hessian cannot be computed exactly (the caller then uses finite differences).
#[derive(Clone, Debug, PartialEq)]
pub enum ExactHessianUnavailable {
    /// Discrete latents are summed out on the tape only.
    SummedLatents,
    /// More coordinates than [`EXACT_HESSIAN_MAX_DIM`].
    TooManyDimensions(usize),
    /// The generic evaluator failed (a value outside a support, a non-finite density).
    Evaluation(String),
}

impl std::fmt::Display for ExactHessianUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExactHessianUnavailable::SummedLatents => {
                write!(f, "the model sums out a discrete latent")
            }
            ExactHessianUnavailable::TooManyDimensions(dim) => write!(
                f,
                "{dim} coordinates is more than the {EXACT_HESSIAN_MAX_DIM} the exact Hessian is used for"
            ),
            ExactHessianUnavailable::Evaluation(reason) => write!(f, "{reason}"),
        }
    }
}

type BlockDual = HyperDualSVec64<BLOCK, BLOCK>;

impl Tape {
    /// Whether [`Tape::exact_hessian`] applies to this tape at all.
    pub fn exact_hessian_applies(&self) -> Result<(), ExactHessianUnavailable> {
        if self.sums_latents() {
            return Err(ExactHessianUnavailable::SummedLatents);
        }
        let dim = self.layout.dim;
        if dim > EXACT_HESSIAN_MAX_DIM {
            return Err(ExactHessianUnavailable::TooManyDimensions(dim));
        }
        Ok(())
    }

    /// The Hessian of the log density at the unconstrained `position` (with the constraints'
    /// log-Jacobians exactly when the tape includes them), row-major `dim × dim`, symmetric.
    pub fn exact_hessian(&self, position: &[f64]) -> Result<Vec<f64>, ExactHessianUnavailable> {
        self.exact_hessian_applies()?;
        let dim = self.layout.dim;
        if position.len() != dim {
            return Err(ExactHessianUnavailable::Evaluation(format!(
                "a position of length {} where {dim} is needed",
                position.len()
            )));
        }
        let blocks = dim.div_ceil(BLOCK);
        let mut hessian = vec![0.0; dim * dim];
        for row_block in 0..blocks {
            for column_block in row_block..blocks {
                let seeded: Vec<BlockDual> = position
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| seed(p, i, row_block, column_block))
                    .collect();
                let value = self
                    .hyper_dual_log_density(&seeded)
                    .map_err(|e| ExactHessianUnavailable::Evaluation(e.to_string()))?;
                let mixed = value
                    .eps1eps2
                    .unwrap_generic(nalgebra::Const::<BLOCK>, nalgebra::Const::<BLOCK>);
                for a in 0..BLOCK {
                    let i = row_block * BLOCK + a;
                    if i >= dim {
                        break;
                    }
                    for b in 0..BLOCK {
                        let j = column_block * BLOCK + b;
                        if j >= dim {
                            break;
                        }
                        let entry = mixed[(a, b)];
                        if !entry.is_finite() {
                            return Err(ExactHessianUnavailable::Evaluation(format!(
                                "a non-finite second derivative at coordinates {} and {}",
                                i + 1,
                                j + 1
                            )));
                        }
                        hessian[i * dim + j] = entry;
                        hessian[j * dim + i] = entry;
                    }
                }
            }
        }
        Ok(hessian)
    }

    fn hyper_dual_log_density(&self, position: &[BlockDual]) -> Result<BlockDual, TapeError> {
        let (mut evaluator, log_jacobian) =
            bound_evaluator(&self.model, &self.bindings, &self.layout, position)?;
        let density = evaluator.log_density()?;
        Ok(if self.include_jacobian {
            density + log_jacobian
        } else {
            density
        })
    }
}

/// Coordinate `i` at value `p`, with a unit first-order part in the row block's direction if `i`
/// lies in it, and likewise for the column block.
fn seed(p: f64, i: usize, row_block: usize, column_block: usize) -> BlockDual {
    let mut dual = BlockDual::from_re(p);
    if i / BLOCK == row_block {
        dual.eps1 =
            Derivative::derivative_generic(nalgebra::Const::<BLOCK>, nalgebra::U1, i % BLOCK);
    }
    if i / BLOCK == column_block {
        dual.eps2 =
            Derivative::derivative_generic(nalgebra::U1, nalgebra::Const::<BLOCK>, i % BLOCK);
    }
    dual
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppl_infer::{LogDensity, hessian_by_differences};

    fn tape_of(source: &str, data_json: &str) -> Tape {
        let (program, diagnostics) = ppl_syntax::parse(source);
        assert!(
            diagnostics.iter().all(|d| !d.is_error()),
            "{diagnostics:#?}"
        );
        let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
        assert!(
            diagnostics.iter().all(|d| !d.is_error()),
            "{diagnostics:#?}"
        );
        let data = ppl_data::DataSet::from_json_str(data_json, std::path::Path::new("test.json"))
            .expect("test data parses");
        let bound = crate::bind(&model, Some(&data), &[]).expect("test data binds");
        crate::posterior::Posterior::new(&model, &bound, source)
            .expect("the tape builds")
            .tape
    }

    fn assert_close_to_differences(mut tape: Tape, position: &[f64]) {
        let exact = tape.exact_hessian(position).expect("an exact Hessian");
        let differences = hessian_by_differences(&mut tape, position, 1e-5).expect("differences");
        let dim = tape.dim();
        for i in 0..dim {
            for j in 0..dim {
                let (e, d) = (exact[i * dim + j], differences[i * dim + j]);
                assert!(
                    (e - d).abs() <= 1e-5 * (1.0 + e.abs()),
                    "H[{i},{j}]: exact {e}, differences {d}"
                );
            }
        }
    }

    #[test]
    fn a_gaussian_has_its_precision_as_curvature() {
        // y ~ Normal(mu, 2) with a flat prior: d²/dmu² log p = -n / 4, exactly.
        let tape = tape_of(
            "observed y: real[N]\nlatent mu: real\ny ~ Normal(mu, 2)\n",
            r#"{"y": [0.3, -1.2, 2.5, 0.8, 1.1]}"#,
        );
        let hessian = tape.exact_hessian(&[0.7]).unwrap();
        assert_eq!(hessian, vec![-5.0 / 4.0]);
    }

    #[test]
    fn constrained_hierarchical_curvature_matches_differences_of_the_gradient() {
        let source = "observed y: real[J]\nobserved sigma: positive[J]\nlatent mu: real\nlatent tau: positive\nlatent theta: real[J]\nmu ~ Normal(0, 5)\ntau ~ Cauchy(0, 5)\ntheta ~ Normal(mu, tau)\ny ~ Normal(theta, sigma)\n";
        let tape = tape_of(
            source,
            r#"{"y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#,
        );
        let position: Vec<f64> = (0..10).map(|i| 0.3 * (i as f64) - 1.0).collect();
        assert_close_to_differences(tape.clone(), &position);
        assert_close_to_differences(tape.without_jacobian(), &position);
    }

    #[test]
    fn summed_latents_and_large_dimensions_are_refused_with_a_reason() {
        let tape = tape_of(
            "observed y: real[N]\nlatent z: int in 1..2\nlatent mu: real[2]\nmu ~ Normal(0, 3)\ny ~ Normal(mu[z], 1)\n",
            r#"{"y": [0.3, -1.2, 2.5]}"#,
        );
        assert_eq!(
            tape.exact_hessian(&[0.0, 1.0]),
            Err(ExactHessianUnavailable::SummedLatents)
        );
        assert_eq!(
            ExactHessianUnavailable::TooManyDimensions(500).to_string(),
            "500 coordinates is more than the 120 the exact Hessian is used for"
        );
    }
}
