//! Constraint transforms: round trips, the log-Jacobian against a finite-difference Jacobian onto
//! the free coordinates, and the reverse rule against finite differences and forward duals.

use nalgebra::DMatrix;
use num_dual::Dual64;
use ppl_dist::{Constraint, DistKind, event_log_density};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn all_constraints() -> Vec<(Constraint, Vec<usize>)> {
    vec![
        (Constraint::Real, vec![1, 3]),
        (Constraint::POSITIVE, vec![1, 3]),
        (Constraint::LowerBound(-2.5), vec![2]),
        (Constraint::UpperBound(4.0), vec![2]),
        (Constraint::UNIT, vec![3]),
        (Constraint::Interval(-3.0, 7.0), vec![2]),
        (Constraint::Ordered, vec![1, 4]),
        (Constraint::PositiveOrdered, vec![1, 4]),
        (Constraint::Simplex, vec![1, 2, 5]),
        (Constraint::CorrCholesky, vec![1, 2, 3, 4]),
        (Constraint::Cov, vec![1, 2, 3]),
    ]
}

/// The coordinates the Stan manual's Jacobian is taken onto.
fn free_coordinates(constraint: Constraint, n: usize, x: &[f64]) -> Vec<f64> {
    match constraint {
        Constraint::Simplex => x[..n - 1].to_vec(),
        Constraint::CorrCholesky => (0..n)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .map(|(i, j)| x[i * n + j])
            .collect(),
        Constraint::Cov => (0..n)
            .flat_map(|i| (0..=i).map(move |j| (i, j)))
            .map(|(i, j)| x[i * n + j])
            .collect(),
        _ => x.to_vec(),
    }
}

fn random_unconstrained(rng: &mut StdRng, len: usize) -> Vec<f64> {
    (0..len)
        .map(|_| 2.0 * rng.random::<f64>() - 1.0)
        .map(|v| 1.5 * v)
        .collect()
}

fn constrain(constraint: Constraint, n: usize, u: &[f64]) -> (Vec<f64>, f64) {
    let mut x = vec![0.0; constraint.constrained_len(n)];
    let log_jacobian = constraint.constrain(n, u, &mut x).unwrap();
    (x, log_jacobian)
}

#[test]
fn round_trips_land_inside_the_constraint() {
    let mut rng = StdRng::seed_from_u64(11);
    for (constraint, sizes) in all_constraints() {
        for n in sizes {
            for _ in 0..5 {
                let u = random_unconstrained(&mut rng, constraint.unconstrained_len(n));
                let (x, log_jacobian) = constrain(constraint, n, &u);
                assert!(log_jacobian.is_finite());
                let mut back = vec![0.0; u.len()];
                constraint
                    .unconstrain(n, &x, &mut back)
                    .unwrap_or_else(|e| panic!("{constraint:?} {n}: {e}"));
                for (a, b) in u.iter().zip(&back) {
                    assert!(
                        (a - b).abs() < 1e-9,
                        "{constraint:?} n={n}: {u:?} -> {back:?}"
                    );
                }
                match constraint {
                    Constraint::Simplex => assert!((x.iter().sum::<f64>() - 1.0).abs() < 1e-14),
                    Constraint::CorrCholesky => {
                        assert!(
                            event_log_density(DistKind::LkjCholesky, &x, &[&[1.0]])
                                .unwrap()
                                .is_finite()
                        );
                    }
                    Constraint::Cov => {
                        let zeros = vec![0.0; n];
                        assert!(
                            event_log_density(DistKind::MvNormalCov, &zeros, &[&zeros, &x])
                                .unwrap()
                                .is_finite()
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn log_jacobian_matches_a_finite_difference_determinant() {
    let mut rng = StdRng::seed_from_u64(12);
    for (constraint, sizes) in all_constraints() {
        for n in sizes {
            for _ in 0..3 {
                let u = random_unconstrained(&mut rng, constraint.unconstrained_len(n));
                let (x, log_jacobian) = constrain(constraint, n, &u);
                let m = u.len();
                assert_eq!(
                    free_coordinates(constraint, n, &x).len(),
                    m,
                    "{constraint:?}: a square map onto the free coordinates"
                );
                let mut jacobian = DMatrix::zeros(m, m);
                for col in 0..m {
                    let step = 1e-6;
                    let mut plus = u.clone();
                    plus[col] += step;
                    let mut minus = u.clone();
                    minus[col] -= step;
                    let high = free_coordinates(constraint, n, &constrain(constraint, n, &plus).0);
                    let low = free_coordinates(constraint, n, &constrain(constraint, n, &minus).0);
                    for row in 0..m {
                        jacobian[(row, col)] = (high[row] - low[row]) / (2.0 * step);
                    }
                }
                let numeric = if m == 0 {
                    0.0
                } else {
                    jacobian.determinant().abs().ln()
                };
                assert!(
                    (numeric - log_jacobian).abs() < 1e-6,
                    "{constraint:?} n={n}: log|J| {log_jacobian}, numeric {numeric}"
                );
            }
        }
    }
}

#[test]
fn reverse_rule_matches_finite_differences_and_duals() {
    let mut rng = StdRng::seed_from_u64(13);
    for (constraint, sizes) in all_constraints() {
        for n in sizes {
            let u = random_unconstrained(&mut rng, constraint.unconstrained_len(n));
            let weights: Vec<f64> = (0..constraint.constrained_len(n))
                .map(|_| rng.random::<f64>() - 0.5)
                .collect();
            // h(u) = weights · constrain(u) + log|J(u)|, so dg/dx = weights.
            let objective = |u: &[f64]| {
                let (x, log_jacobian) = constrain(constraint, n, u);
                x.iter().zip(&weights).map(|(a, b)| a * b).sum::<f64>() + log_jacobian
            };
            let mut gradient = vec![0.5; u.len()]; // the rule adds: start from a non-zero buffer
            let log_jacobian = constraint
                .constrain_gradient(n, &u, &weights, &mut gradient)
                .unwrap();
            assert!((log_jacobian - constrain(constraint, n, &u).1).abs() < 1e-15);
            for k in 0..u.len() {
                let analytic = gradient[k] - 0.5;
                let step = 1e-6;
                let mut plus = u.clone();
                plus[k] += step;
                let mut minus = u.clone();
                minus[k] -= step;
                let numeric = (objective(&plus) - objective(&minus)) / (2.0 * step);
                assert!(
                    (analytic - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                    "{constraint:?} n={n} u[{k}]: {analytic} vs {numeric}"
                );
                let dual_u: Vec<Dual64> = u
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        if i == k {
                            Dual64::from(v).derivative()
                        } else {
                            Dual64::from(v)
                        }
                    })
                    .collect();
                let mut dual_x = vec![Dual64::from(0.0); constraint.constrained_len(n)];
                let dual_log_jacobian = constraint
                    .constrain_generic(n, &dual_u, &mut dual_x)
                    .unwrap();
                let forward = dual_x
                    .iter()
                    .zip(&weights)
                    .map(|(a, b)| a.eps * b)
                    .sum::<f64>()
                    + dual_log_jacobian.eps;
                assert!(
                    (analytic - forward).abs() < 1e-10 * (1.0 + forward.abs()),
                    "{constraint:?} n={n} u[{k}]: {analytic} vs dual {forward}"
                );
            }
        }
    }
}

#[test]
fn values_outside_the_constraint_are_rejected() {
    let mut out = [0.0; 4];
    assert!(
        Constraint::POSITIVE
            .unconstrain(2, &[1.0, 0.0], &mut out[..2])
            .is_err()
    );
    assert!(
        Constraint::UNIT
            .unconstrain(1, &[1.0], &mut out[..1])
            .is_err()
    );
    assert!(
        Constraint::Ordered
            .unconstrain(3, &[1.0, 1.0, 2.0], &mut out[..3])
            .is_err()
    );
    assert!(
        Constraint::PositiveOrdered
            .unconstrain(2, &[-1.0, 2.0], &mut out[..2])
            .is_err()
    );
    assert!(
        Constraint::Simplex
            .unconstrain(3, &[0.5, 0.5, 0.1], &mut out[..2])
            .is_err()
    );
    assert!(
        Constraint::CorrCholesky
            .unconstrain(2, &[1.0, 0.0, 0.5, 0.5], &mut out[..1])
            .is_err()
    );
    assert!(
        Constraint::Cov
            .unconstrain(2, &[1.0, 2.0, 2.0, 1.0], &mut out[..3])
            .is_err()
    );
    assert!(
        Constraint::Cov
            .unconstrain(2, &[1.0, 0.5, 0.4, 1.0], &mut out[..3])
            .is_err()
    );
    // Wrong lengths and bounds are errors too.
    assert!(
        Constraint::Real
            .constrain(2, &[1.0], &mut out[..2])
            .is_err()
    );
    assert!(
        Constraint::Interval(1.0, 1.0)
            .constrain(1, &[0.0], &mut out[..1])
            .is_err()
    );
    assert!(Constraint::Simplex.constrain(0, &[], &mut []).is_err());
}

#[test]
fn extreme_unconstrained_values_stay_finite() {
    let mut x = [0.0; 4];
    let log_jacobian = Constraint::UNIT
        .constrain(1, &[800.0], &mut x[..1])
        .unwrap();
    assert!(log_jacobian.is_finite() && x[0] <= 1.0);
    let log_jacobian = Constraint::CorrCholesky
        .constrain(2, &[400.0], &mut x)
        .unwrap();
    assert!(log_jacobian.is_finite() && x.iter().all(|v| v.is_finite()));
    let log_jacobian = Constraint::Simplex
        .constrain(3, &[700.0, -700.0], &mut x[..3])
        .unwrap();
    assert!(log_jacobian.is_finite() || log_jacobian == f64::NEG_INFINITY);
    assert!(x[..3].iter().all(|v| v.is_finite()));
}
