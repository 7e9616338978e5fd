//! The fused GLM node against the unfused lowering of the same density (the predictor written so
//! that it is not recognised), the generic evaluator, and central finite differences.

use ppl_infer::LogDensity;

use super::super::density::Tape;
use super::super::graph::Op;

const ROWS: usize = 40;
const COLUMNS: usize = 5;

/// A design matrix with columns on different scales and a non-zero mean, and outcomes of each
/// family, as Stan-JSON.
fn data_json(outcome: &str) -> String {
    data_json_rows(outcome, ROWS)
}

/// `data_json` with `rows` rows.
fn data_json_rows(outcome: &str, rows: usize) -> String {
    let design: Vec<Vec<f64>> = (0..rows)
        .map(|i| {
            (0..COLUMNS)
                .map(|j| ((i * 7 + j * 13) as f64 * 0.37).sin() * (1.0 + j as f64) + 0.5 * j as f64)
                .collect()
        })
        .collect();
    let outcomes: Vec<f64> = (0..rows)
        .map(|i| {
            let wave = ((i * 5) as f64 * 0.61).cos();
            match outcome {
                "real" => 1.5 + 2.0 * wave,
                "binary" => f64::from(u8::from(wave > 0.1)),
                _ => (3.0 * (wave + 1.0)).floor(),
            }
        })
        .collect();
    let list = |values: &[f64]| {
        let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
        format!("[{}]", items.join(", "))
    };
    let rows: Vec<String> = design.iter().map(|row| list(row)).collect();
    format!(
        "{{\"X\": [{}], \"y\": {}}}",
        rows.join(", "),
        list(&outcomes)
    )
}

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

fn fused_nodes(tape: &Tape) -> usize {
    tape.program
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Glm(_)))
        .count()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()))
}

/// The fused model against the unfused one at a few positions: values to 1e-12, gradients to
/// 1e-10, and the fused gradient against central differences of the fused value.
fn assert_fused_matches(fused_source: &str, unfused_source: &str, outcome: &str) {
    assert_fused_matches_on(fused_source, unfused_source, &data_json(outcome));
}

fn assert_fused_matches_on(fused_source: &str, unfused_source: &str, data: &str) {
    let mut fused = tape_of(fused_source, data);
    let mut unfused = tape_of(unfused_source, data);
    assert_eq!(fused_nodes(&fused), 1, "the likelihood is fused");
    assert_eq!(fused_nodes(&unfused), 0, "the reference is not");
    assert!(fused.node_count() < unfused.node_count());
    let dim = fused.dim();
    assert_eq!(dim, unfused.dim());
    for seed in [0.0, 1.3, -2.1] {
        let position: Vec<f64> = (0..dim)
            .map(|i| ((i as f64 + 1.0) * 0.9 + seed).sin() * 0.3)
            .collect();
        let mut gradient = vec![0.0; dim];
        let mut reference = vec![0.0; dim];
        // A pass elsewhere first: the stored sums must not leak from one pass to the next.
        let elsewhere: Vec<f64> = position.iter().map(|x| 0.5 * x + 0.1).collect();
        let _ = fused.log_density_and_gradient(&elsewhere, &mut gradient);
        let value = fused
            .log_density_and_gradient(&position, &mut gradient)
            .expect("finite");
        let expected = unfused
            .log_density_and_gradient(&position, &mut reference)
            .expect("finite");
        assert!(close(value, expected, 1e-12), "value {value} vs {expected}");
        let value_only = fused.log_density(&position).expect("finite");
        assert!(close(value, value_only, 1e-12), "{value} vs {value_only}");
        for (i, (g, r)) in gradient.iter().zip(&reference).enumerate() {
            assert!(
                close(*g, *r, 1e-10),
                "coordinate {i}: fused {g}, unfused {r}"
            );
        }
        for i in 0..dim {
            let step = 1e-6 * (1.0 + position[i].abs());
            let mut shifted = position.clone();
            shifted[i] += step;
            let up = fused.log_density(&shifted).expect("finite");
            shifted[i] -= 2.0 * step;
            let down = fused.log_density(&shifted).expect("finite");
            let difference = (up - down) / (2.0 * step);
            assert!(
                close(gradient[i], difference, 1e-6),
                "coordinate {i}: fused {}, finite difference {difference}",
                gradient[i]
            );
        }
    }
}

const DECLARATIONS: &str = "observed X: real[N, D]\nlatent a: real\nlatent b: real[D]\n\
                            a ~ Normal(0, 2)\nb ~ Normal(0, 1)\n";

#[test]
fn normal_identity_link_matches_the_unfused_density() {
    let head = format!("{DECLARATIONS}observed y: real[N]\nlatent s: real in (0, inf)\n");
    assert_fused_matches(
        &format!("{head}y ~ Normal(a + X @ b, s)\n"),
        &format!("{head}y ~ Normal(a + X @ b + 0.0, s)\n"),
        "real",
    );
}

#[test]
fn centred_columns_in_a_let_and_the_intercept_on_the_right() {
    // brms centres the design's columns in transformed data; here a `let` of data.
    let head = format!(
        "{DECLARATIONS}observed y: real[N]\nlatent s: real in (0, inf)\n\
         let Xc = X - colsum(X) / N\nlet mu = Xc @ b + a\n"
    );
    assert_fused_matches(
        &format!("{head}y ~ Normal(mu, s)\n"),
        &format!("{head}y ~ Normal(mu * 1.0, s)\n"),
        "real",
    );
}

#[test]
fn bernoulli_logit_link_matches_the_unfused_density() {
    let head = format!("{DECLARATIONS}observed y: int[N]\n");
    assert_fused_matches(
        &format!("{head}y ~ Bernoulli(logit = a + X @ b)\n"),
        &format!("{head}y ~ Bernoulli(logit = a + X @ b + 0.0)\n"),
        "binary",
    );
}

#[test]
fn poisson_log_link_with_and_without_intercept_matches_the_unfused_density() {
    let head = format!("{DECLARATIONS}observed y: int[N]\n");
    assert_fused_matches(
        &format!("{head}y ~ Poisson(log_rate = a + X @ b)\n"),
        &format!("{head}y ~ Poisson(log_rate = a + X @ b + 0.0)\n"),
        "count",
    );
    assert_fused_matches(
        &format!("{head}y ~ Poisson(log_rate = X @ b)\n"),
        &format!("{head}y ~ Poisson(log_rate = X @ b * 1.0)\n"),
        "count",
    );
}

#[test]
fn shapes_outside_the_kernel_keep_the_unfused_lowering() {
    // A per-row scale, and an intercept per row: not the fused shapes.
    let head = format!("{DECLARATIONS}observed y: real[N]\nlatent s: real[N] in (0, inf)\n");
    let tape = tape_of(
        &format!("{head}y ~ Normal(a + X @ b, s)\n"),
        &data_json("real"),
    );
    assert_eq!(fused_nodes(&tape), 0);
    let head = format!("{DECLARATIONS}observed y: real[N]\nlatent c: real[N]\n");
    let tape = tape_of(
        &format!("{head}y ~ Normal(c + X @ b, 1)\n"),
        &data_json("real"),
    );
    assert_eq!(fused_nodes(&tape), 0);
}

/// Rows enough for 18 blocks of `BLOCK_ROWS` (the last one short) and for the pool: 9,000 × 5
/// cells, above the parallel threshold.
const MANY_ROWS: usize = 9_000;

#[test]
fn blocks_of_rows_match_the_unfused_density() {
    const { assert!(MANY_ROWS > 17 * super::BLOCK_ROWS && !MANY_ROWS.is_multiple_of(super::BLOCK_ROWS)) };
    let data = data_json_rows("binary", MANY_ROWS);
    let head = format!("{DECLARATIONS}observed y: int[N]\n");
    assert_fused_matches_on(
        &format!("{head}y ~ Bernoulli(logit = a + X @ b)\n"),
        &format!("{head}y ~ Bernoulli(logit = a + X @ b + 0.0)\n"),
        &data,
    );
    let data = data_json_rows("real", MANY_ROWS);
    let head = format!("{DECLARATIONS}observed y: real[N]\nlatent s: real in (0, inf)\n");
    assert_fused_matches_on(
        &format!("{head}y ~ Normal(a + X @ b, s)\n"),
        &format!("{head}y ~ Normal(a + X @ b + 0.0, s)\n"),
        &data,
    );
}

/// The value and gradient bits of `source` on `data` at a fixed point, evaluated inside a pool
/// of `threads` threads.
fn bits_on_threads(source: &str, data: &str, threads: usize) -> Vec<u64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a test pool");
    let mut tape = tape_of(source, data);
    let dim = tape.dim();
    let position: Vec<f64> = (0..dim).map(|i| 0.1 * (i as f64 - 2.0)).collect();
    let mut gradient = vec![0.0; dim];
    let value = pool.install(|| tape.log_density_and_gradient(&position, &mut gradient));
    let value = value.expect("finite");
    std::iter::once(value)
        .chain(gradient)
        .map(f64::to_bits)
        .collect()
}

#[test]
fn the_thread_count_does_not_change_a_bit() {
    for (outcome, likelihood) in [
        (
            "binary",
            "observed y: int[N]\ny ~ Bernoulli(logit = a + X @ b)\n",
        ),
        (
            "count",
            "observed y: int[N]\ny ~ Poisson(log_rate = a + X @ b)\n",
        ),
        (
            "real",
            "observed y: real[N]\nlatent s: real in (0, inf)\ny ~ Normal(a + X @ b, s)\n",
        ),
    ] {
        let source = format!("{DECLARATIONS}{likelihood}");
        let data = data_json_rows(outcome, MANY_ROWS);
        let one = bits_on_threads(&source, &data, 1);
        for threads in [2, 3] {
            assert_eq!(one, bits_on_threads(&source, &data, threads), "{outcome}");
        }
    }
}

#[test]
fn ln_1p_from_one_ln_is_within_a_few_ulps_of_the_library_log1p() {
    for k in 0..=20_000 {
        let t = if k <= 10_000 {
            f64::from(k) / 10_000.0
        } else {
            (-f64::from(k - 10_000) * 0.07).exp()
        };
        let (ours, reference) = (super::ln_1p_unit(t), t.ln_1p());
        assert!(
            (ours - reference).abs() <= 4.0 * f64::EPSILON * reference.abs(),
            "t = {t:e}: {ours:e} vs {reference:e}"
        );
    }
}

/// The sums of one block as the kernel defines them, row by row with `dot` and `axpy` and no
/// grouping: the reference the four-row loop must reproduce bit for bit.
fn block_row_by_row(
    inputs: &super::Inputs,
    count: usize,
    with_partials: bool,
) -> (f64, f64, Vec<f64>) {
    let columns = inputs.columns;
    let mut gradient = vec![0.0; columns];
    let (mut total, mut slope_sum) = (0.0, 0.0);
    for i in 0..if columns == 0 { 0 } else { count } {
        let row = &inputs.design[i * columns..(i + 1) * columns];
        let (y_i, eta) = (
            inputs.outcome[i],
            inputs.intercept + super::dot(row, inputs.coefficients),
        );
        let (term, slope) = match inputs.family {
            super::GlmFamily::NormalIdentity => {
                let residual = y_i - eta;
                (residual * residual, residual)
            }
            super::GlmFamily::BernoulliLogit => {
                let (softplus, sigmoid) = super::softplus_and_sigmoid(eta);
                (y_i * eta - softplus, y_i - sigmoid)
            }
            super::GlmFamily::PoissonLog => (y_i * eta - eta.exp(), y_i - eta.exp()),
        };
        total += term;
        slope_sum += slope;
        if with_partials {
            super::axpy(&mut gradient, slope, row);
        }
    }
    (total, slope_sum, gradient)
}

/// Every row count up to 13 (whole groups of four and each remainder) and column count up to 9
/// (whole lanes of four and each tail), each family, with and without partials: the grouped
/// kernel, on this processor's fastest path and on the portable one, gives the reference's bits.
#[test]
fn four_rows_at_a_time_give_the_bits_of_row_by_row() {
    use super::{BlockSums, GlmFamily, Inputs};
    for family in [
        GlmFamily::NormalIdentity,
        GlmFamily::BernoulliLogit,
        GlmFamily::PoissonLog,
    ] {
        for columns in 0..=9 {
            for rows in 0..=13 {
                let design: Vec<f64> = (0..rows * columns)
                    .map(|k| ((k * 7 + 3) as f64 * 0.37).sin() * (1.0 + (k % 5) as f64))
                    .collect();
                let outcome: Vec<f64> = (0..rows)
                    .map(|i| match family {
                        GlmFamily::NormalIdentity => ((i * 5) as f64 * 0.61).cos() * 3.0,
                        _ => (i % 3 % 2) as f64,
                    })
                    .collect();
                let coefficients: Vec<f64> = (0..columns).map(|j| 0.3 - 0.11 * j as f64).collect();
                let inputs = Inputs {
                    family,
                    design: &design,
                    outcome: &outcome,
                    coefficients: &coefficients,
                    intercept: 0.25,
                    columns,
                };
                for with_partials in [true, false] {
                    let (total, slope_sum, gradient) =
                        block_row_by_row(&inputs, rows, with_partials);
                    let expected: Vec<u64> = [total, slope_sum]
                        .into_iter()
                        .chain(if with_partials { gradient } else { vec![] })
                        .map(f64::to_bits)
                        .collect();
                    let mut sums = BlockSums {
                        coefficient_gradient: vec![f64::NAN; columns],
                        ..BlockSums::default()
                    };
                    let mut run = |fastest: bool| {
                        if fastest {
                            inputs.block(0, rows, with_partials, &mut sums);
                        } else {
                            inputs.block_rows(0, rows, with_partials, &mut sums);
                        }
                        let gradient = if with_partials {
                            sums.coefficient_gradient.clone()
                        } else {
                            vec![]
                        };
                        [sums.total, sums.slope_sum]
                            .into_iter()
                            .chain(gradient)
                            .map(f64::to_bits)
                            .collect::<Vec<u64>>()
                    };
                    for fastest in [true, false] {
                        assert_eq!(
                            run(fastest),
                            expected,
                            "{family:?}, {rows} × {columns}, partials {with_partials}, fastest {fastest}"
                        );
                    }
                }
            }
        }
    }
}
