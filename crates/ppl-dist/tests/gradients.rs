//! Gradients of every kind's log density (`event_log_density_gradient`: first-order duals for the
//! scalar kinds, hand-written for the others) against central finite differences.

use ppl_dist::{DistKind, event_log_density, event_log_density_gradient};

struct Case {
    kind: DistKind,
    variate: Vec<f64>,
    params: Vec<Vec<f64>>,
}

fn case(kind: DistKind, variate: &[f64], params: &[&[f64]]) -> Case {
    Case {
        kind,
        variate: variate.to_vec(),
        params: params.iter().map(|p| p.to_vec()).collect(),
    }
}

fn correlation_cholesky(rows: &[&[f64]]) -> Vec<f64> {
    // Normalise each lower-triangular row to unit length.
    let n = rows.len();
    let mut out = vec![0.0; n * n];
    for (i, row) in rows.iter().enumerate() {
        let norm: f64 = row[..=i].iter().map(|v| v * v).sum::<f64>().sqrt();
        for j in 0..=i {
            out[i * n + j] = row[j] / norm;
        }
    }
    out
}

fn cases() -> Vec<Case> {
    use DistKind::*;
    let mut cases = vec![
        case(Normal, &[0.3], &[&[-0.4], &[1.7]]),
        case(Normal, &[-5.0], &[&[2.0], &[0.3]]),
        case(HalfNormal, &[0.8], &[&[1.3]]),
        case(LogNormal, &[2.1], &[&[0.2], &[0.6]]),
        case(StudentT, &[1.4], &[&[3.5], &[0.2], &[1.1]]),
        case(StudentT, &[-7.0], &[&[0.8], &[1.0], &[2.0]]),
        case(Cauchy, &[1.9], &[&[-0.5], &[0.7]]),
        case(HalfCauchy, &[2.5], &[&[1.5]]),
        case(Laplace, &[0.6], &[&[-0.2], &[1.3]]),
        case(Exponential, &[0.4], &[&[2.2]]),
        case(Gamma, &[1.7], &[&[2.5], &[1.3]]),
        case(Gamma, &[0.05], &[&[0.4], &[3.0]]),
        case(InvGamma, &[0.9], &[&[3.0], &[2.0]]),
        case(Beta, &[0.35], &[&[2.0], &[5.0]]),
        case(Beta, &[0.9], &[&[0.5], &[0.7]]),
        case(Uniform, &[0.3], &[&[-1.0], &[2.0]]),
        case(Weibull, &[1.2], &[&[1.7], &[2.3]]),
        case(Bernoulli, &[1.0], &[&[0.3]]),
        case(Bernoulli, &[0.0], &[&[0.8]]),
        case(BernoulliLogit, &[1.0], &[&[-0.7]]),
        case(BernoulliLogit, &[0.0], &[&[2.0]]),
        case(Binomial, &[3.0], &[&[10.0], &[0.4]]),
        case(BinomialLogit, &[7.0], &[&[9.0], &[0.6]]),
        case(Poisson, &[4.0], &[&[2.7]]),
        case(PoissonLog, &[2.0], &[&[0.3]]),
        case(NegBinomial, &[5.0], &[&[3.2], &[1.7]]),
        case(Categorical, &[2.0], &[&[0.2, 0.5, 0.3]]),
        case(CategoricalLogits, &[3.0], &[&[0.1, -1.2, 0.7, 2.0]]),
        case(Dirichlet, &[0.2, 0.3, 0.5], &[&[1.5, 0.7, 3.0]]),
        case(Dirichlet, &[0.6, 0.4], &[&[2.0, 2.0]]),
        case(Multinomial, &[2.0, 0.0, 5.0], &[&[0.3, 0.3, 0.4]]),
    ];
    let cov = [2.0, 0.3, -0.4, 0.3, 1.5, 0.2, -0.4, 0.2, 1.1];
    cases.push(case(
        MvNormalCov,
        &[0.4, -1.0, 0.8],
        &[&[0.1, 0.2, -0.3], &cov],
    ));
    cases.push(case(MvNormalCov, &[2.0], &[&[0.5], &[0.7]]));
    let lower = [1.3, 0.0, 0.0, 0.4, 0.9, 0.0, -0.2, 0.5, 1.1];
    cases.push(case(
        MvNormalCholesky,
        &[0.4, -1.0, 0.8],
        &[&[0.1, 0.2, -0.3], &lower],
    ));
    let lkj = correlation_cholesky(&[
        &[1.0],
        &[0.3, 0.9],
        &[-0.2, 0.4, 0.8],
        &[0.1, 0.2, -0.3, 0.7],
    ]);
    cases.push(case(LkjCholesky, &lkj, &[&[2.5]]));
    cases.push(case(LkjCholesky, &lkj, &[&[0.6]]));
    let lkj2 = correlation_cholesky(&[&[1.0], &[-0.5, 0.6]]);
    cases.push(case(LkjCholesky, &lkj2, &[&[1.0]]));
    cases
}

fn log_density(kind: DistKind, variate: &[f64], params: &[Vec<f64>]) -> f64 {
    let slices: Vec<&[f64]> = params.iter().map(|p| p.as_slice()).collect();
    event_log_density(kind, variate, &slices).unwrap()
}

/// Inputs constrained to a simplex or unit rows only tolerate perturbations below the 1e-8
/// constraint tolerance, so their finite differences use a tiny step and a looser comparison.
fn constrained_input(kind: DistKind, which: usize) -> bool {
    matches!(
        (kind, which),
        (DistKind::Categorical, 1)
            | (DistKind::Multinomial, 1)
            | (DistKind::Dirichlet, 0)
            | (DistKind::LkjCholesky, 0)
    )
}

fn integer_input(kind: DistKind, which: usize) -> bool {
    if which == 0 {
        return kind.family().support.is_discrete();
    }
    kind.parameterisation().params[which - 1].integer
}

#[test]
fn gradients_agree_with_central_differences() {
    let mut failures = Vec::new();
    let mut checked = std::collections::HashSet::new();
    for case in cases() {
        let kind = case.kind;
        let slices: Vec<&[f64]> = case.params.iter().map(|p| p.as_slice()).collect();
        let mut variate_gradient = vec![0.0; case.variate.len()];
        let mut param_buffers: Vec<Vec<f64>> =
            case.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut param_gradients: Vec<&mut [f64]> =
            param_buffers.iter_mut().map(|b| b.as_mut_slice()).collect();
        let value = event_log_density_gradient(
            kind,
            &case.variate,
            &slices,
            &mut variate_gradient,
            &mut param_gradients,
        )
        .unwrap();
        assert!(
            value.is_finite(),
            "{kind:?} test point has a finite density"
        );
        let plain = log_density(kind, &case.variate, &case.params);
        assert!(
            (value - plain).abs() <= 1e-14 * plain.abs().max(1.0),
            "{kind:?}: {value} vs {plain}"
        );
        checked.insert(kind);

        // Input 0 is the variate, input k the k-th parameter.
        let inputs: Vec<Vec<f64>> = std::iter::once(case.variate.clone())
            .chain(case.params.iter().cloned())
            .collect();
        let analytic: Vec<Vec<f64>> = std::iter::once(variate_gradient)
            .chain(param_buffers)
            .collect();
        for which in 0..inputs.len() {
            if integer_input(kind, which) {
                continue;
            }
            let side = (inputs[which].len() as f64).sqrt() as usize;
            for index in 0..inputs[which].len() {
                let symmetric_pair =
                    kind == DistKind::MvNormalCov && which == 2 && index / side != index % side;
                let constrained = constrained_input(kind, which);
                let step = if constrained {
                    2e-9
                } else {
                    1e-6 * inputs[which][index].abs().max(1.0)
                };
                let evaluate = |delta: f64| {
                    let mut perturbed = inputs.clone();
                    perturbed[which][index] += delta;
                    if symmetric_pair {
                        let (row, col) = (index / side, index % side);
                        perturbed[which][col * side + row] += delta;
                    }
                    log_density(kind, &perturbed[0], &perturbed[1..])
                };
                let numeric = (evaluate(step) - evaluate(-step)) / (2.0 * step);
                let mut expected = analytic[which][index];
                if symmetric_pair {
                    let (row, col) = (index / side, index % side);
                    expected += analytic[which][col * side + row];
                }
                let tolerance = if constrained {
                    1e-5 + 1e-5 * expected.abs()
                } else {
                    1e-6 + 1e-6 * expected.abs()
                };
                let agrees = (numeric - expected).abs() <= tolerance; // false for NaN too
                if !agrees {
                    failures.push(format!(
                        "{kind:?} input {which}[{index}]: analytic {expected}, numeric {numeric}"
                    ));
                }
            }
        }
    }
    for kind in DistKind::ALL {
        assert!(checked.contains(&kind), "no gradient case for {kind:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gradients_accumulate_and_skip_impossible_points() {
    let mut grad_x = [1.0];
    let mut grad_mu = [10.0];
    let mut grad_sigma = [100.0];
    let mut params: Vec<&mut [f64]> = vec![&mut grad_mu, &mut grad_sigma];
    event_log_density_gradient(
        DistKind::Normal,
        &[1.0],
        &[&[0.0], &[1.0]],
        &mut grad_x,
        &mut params,
    )
    .unwrap();
    // d/dx = -(x-mu)/sigma² = -1, d/dmu = 1, d/dsigma = z²/sigma - 1/sigma = 0.
    assert!((grad_x[0] - 0.0).abs() < 1e-15);
    assert!((grad_mu[0] - 11.0).abs() < 1e-15);
    assert!((grad_sigma[0] - 100.0).abs() < 1e-15);
    let mut params: Vec<&mut [f64]> = vec![&mut grad_mu, &mut grad_sigma];
    let value = event_log_density_gradient(
        DistKind::Normal,
        &[1.0],
        &[&[0.0], &[-1.0]],
        &mut grad_x,
        &mut params,
    )
    .unwrap();
    assert_eq!(value, f64::NEG_INFINITY);
    assert_eq!((grad_x[0], grad_mu[0], grad_sigma[0]), (0.0, 11.0, 100.0));
}
