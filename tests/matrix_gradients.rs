//! Every builtin's reverse-mode gradient (the cases its definition lists, generated from the table
//! of builtins; a builtin with no case must be one whose value never depends on an unknown), and
//! the matrix forms of `@`, MvNormal and the distribution functions, through model text, on random
//! matrices of several sizes that depend on unknowns: checked against central finite differences of the reference
//! evaluator and against whole-model forward mode, at several points evaluated one after another
//! on the same tape (as a sampler does: a reverse rule that leaves stale scratch behind shows up on
//! the second point, which is how the `cholesky` fault of issue 10 escaped a single-point test).
//! Then the model itself, `factor sum(cholesky(a * M))`, is sampled and checked against
//! the posterior mean by quadrature.

mod common;

use nalgebra::DMatrix;
use ppl_infer::LogDensity;
use ppl_ir::{Builtin, ElemType, Model, VarId};
use ppl_model::tape::{Bindings, Tape, gradient_cases, log_density_oracle, oracle_gradient};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

type Rng = rand::rngs::ChaCha8Rng;

fn check_model(source: &str) -> Model {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{source}: {diagnostics:?}"
    );
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{source}: {diagnostics:?}"
    );
    model
}

fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A random symmetric positive-definite n × n matrix B Bᵀ / n + I (row-major).
fn random_spd(n: usize, rng: &mut Rng) -> Vec<f64> {
    let b = DMatrix::from_fn(n, n, |_, _| normal(rng));
    let m = &b * b.transpose() / n as f64 + DMatrix::identity(n, n);
    (0..n * n).map(|k| m[(k / n, k % n)]).collect()
}

/// The matrix-builtin models, each over an observed SPD `M: real[n, n]`, an observed `x: real[n]`
/// and `w: real[n + 1]`, and unknowns a scalar `a`, a vector `v` and (for the GP) `alpha`, `rho`.
fn models(n: usize) -> Vec<(&'static str, String)> {
    let head = format!(
        "observed M: real[{n}, {n}]\nobserved x: real[{n}]\nobserved w: real[{m}]\n\
         latent a: positive\nlatent v: real[{n}]\na ~ Normal(1, 0.3)\nv ~ Normal(0, 1)\n",
        m = n + 1
    );
    let gp_head = format!(
        "{head}latent alpha: positive\nlatent rho: positive\nalpha ~ Normal(0, 2)\n\
         rho ~ Gamma(5, 4)\n"
    );
    let bodies: Vec<(&'static str, String)> = vec![
        ("matrix @ vector", "factor sum((a * M) @ v)".into()),
        (
            "matrix @ matrix",
            "factor sum(sin((a * M) @ (M + diag(v))))".into(),
        ),
        // Not matrix builtins, but elementwise nodes with their own reverse rules (issue 10).
        (
            "logpdf of continuous and discrete kinds",
            "factor sum(logpdf(Normal(v, a), x)) + sum(logpdf(Gamma(a + 1, exp(v)), exp(x)))\n\
             factor sum(logpdf(Bernoulli(sigmoid(v)), x > 0))"
                .into(),
        ),
        (
            "logcdf and logccdf",
            "factor sum(logcdf(Normal(v, a), x)) + sum(logccdf(Normal(v, a), x))\n\
             factor sum(logcdf(Weibull(a + 0.5, exp(v)), exp(x)) + logccdf(Cauchy(v, a), x))\n\
             factor sum(logccdf(LogNormal(v, a), exp(x)) + logcdf(Laplace(v, a), x))\n\
             factor sum(logcdf(HalfNormal(a), exp(v)) + logccdf(Exponential(a), exp(x) * a))\n\
             factor sum(logcdf(Gamma(2.5, a), exp(v)) + logccdf(Beta(2, 3), sigmoid(v)))\n\
             factor sum(logcdf(StudentT(4, v, a), x) + logccdf(InvGamma(3, a), exp(v)))\n\
             factor logcdf(Poisson(a * exp(v[1])), 3) + logccdf(NegBinomial(exp(v[1]), 2), 4)\n\
             factor logcdf(Binomial(10, sigmoid(v[1])), 3) + logccdf(Bernoulli(logit = v[1]), 0)"
                .into(),
        ),
    ];
    let mut all: Vec<(&'static str, String)> = bodies
        .into_iter()
        .map(|(name, body)| (name, format!("{head}{body}\n")))
        .collect();
    // Every builtin's own cases, from its definition (`ppl_model::tape::gradient_cases`), each
    // summed through `tanh` so that every output element gets its own weight (bounded: the
    // cases that grow fast, `exp(a * x)`, stay within reach of finite differences).
    for &builtin in Builtin::ALL {
        for case in gradient_cases(builtin) {
            all.push((builtin.name(), format!("{head}factor sum(tanh({case}))\n")));
        }
    }
    all.push((
        "gp_exp_quad_cov under cholesky",
        format!(
            "{gp_head}factor sum(cholesky(gp_exp_quad_cov(x, alpha, rho) + diag(fill({n}, 0.01))) @ v)\n"
        ),
    ));
    all.push((
        "gp_exp_quad_cov under MvNormal",
        format!("{gp_head}x ~ MvNormal(v, cov = gp_exp_quad_cov(x, alpha, rho) + diag(fill({n}, 0.1)))\n"),
    ));
    all
}

fn bind(model: &Model, n: usize, rng: &mut Rng) -> Bindings {
    let mut bindings = Bindings::new(model, Vec::new());
    let set = |bindings: &mut Bindings, name: &str, values: Vec<f64>| {
        let var = model.variable(name).unwrap_or_else(|| panic!("`{name}`"));
        bindings.set(var.id, values);
    };
    set(&mut bindings, "M", random_spd(n, rng));
    set(&mut bindings, "x", (0..n).map(|_| normal(rng)).collect());
    set(&mut bindings, "w", (0..=n).map(|_| normal(rng)).collect());
    bindings
}

fn sampled(model: &Model) -> Vec<VarId> {
    model
        .unknowns()
        .filter(|v| v.ty.elem == ElemType::Real)
        .map(|v| v.id)
        .collect()
}

#[test]
fn every_matrix_builtin_matches_finite_differences_pass_after_pass() {
    let mut rng = Rng::seed_from_u64(10);
    for n in [1, 2, 4, 8, 11] {
        for (name, source) in models(n) {
            let model = check_model(&source);
            let bindings = bind(&model, n, &mut rng);
            let mut tape = Tape::new(&model, &bindings, &sampled(&model), Vec::new())
                .unwrap_or_else(|e| panic!("{name}, n = {n}: {e}"));
            assert!(
                tape.fallback_terms().is_empty(),
                "{name}, n = {n}: fell back"
            );
            let layout = tape.layout().clone();
            let dim = tape.dim();
            for point in 0..4 {
                let position: Vec<f64> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
                let mut gradient = vec![0.0; dim];
                let value = tape
                    .log_density_and_gradient(&position, &mut gradient)
                    .unwrap_or_else(|e| panic!("{name}, n = {n}: {e}"));
                let (oracle_value, oracle) =
                    oracle_gradient(&model, &bindings, &layout, &position).unwrap();
                let f =
                    |p: &[f64]| log_density_oracle::<f64>(&model, &bindings, &layout, p).unwrap();
                assert!(
                    (value - oracle_value).abs() <= 1e-10 * oracle_value.abs().max(1.0),
                    "{name}, n = {n}, point {point}: value {value} vs {oracle_value}"
                );
                for i in 0..dim {
                    let scale = oracle[i].abs().max(1.0);
                    assert!(
                        (gradient[i] - oracle[i]).abs() <= 1e-8 * scale,
                        "{name}, n = {n}, point {point}: d/du[{i}] tape {} vs forward mode {}",
                        gradient[i],
                        oracle[i]
                    );
                    // The five-point stencil: its O(h⁴) truncation error stays small where the
                    // generated cases curve hard (`sin(exp(a x))`).
                    let h = 1e-4;
                    let at = |step: f64| {
                        let mut moved = position.clone();
                        moved[i] += step;
                        f(&moved)
                    };
                    let difference =
                        (at(-2.0 * h) - 8.0 * at(-h) + 8.0 * at(h) - at(2.0 * h)) / (12.0 * h);
                    assert!(
                        (gradient[i] - difference).abs() <= 1e-5 * scale,
                        "{name}, n = {n}, point {point}: d/du[{i}] tape {} vs finite difference \
                         {difference}",
                        gradient[i]
                    );
                }
                if point == 0 {
                    check_exact_hessian(&mut tape, &position, name, n);
                }
            }
        }
    }
}

/// The exact Hessian (hyper-dual numbers through each builtin's generic value: its second-order
/// rule) against central differences of the tape's reverse gradient, where it applies.
fn check_exact_hessian(tape: &mut Tape, position: &[f64], name: &str, n: usize) {
    let Ok(hessian) = tape.exact_hessian(position) else {
        return;
    };
    let dim = position.len();
    let h = 1e-5;
    for j in 0..dim {
        let (mut up, mut down) = (position.to_vec(), position.to_vec());
        up[j] += h;
        down[j] -= h;
        let (mut g_up, mut g_down) = (vec![0.0; dim], vec![0.0; dim]);
        tape.log_density_and_gradient(&up, &mut g_up).unwrap();
        tape.log_density_and_gradient(&down, &mut g_down).unwrap();
        for i in 0..dim {
            let difference = (g_up[i] - g_down[i]) / (2.0 * h);
            let exact = hessian[i * dim + j];
            assert!(
                (exact - difference).abs() <= 1e-5 * exact.abs().max(1.0),
                "{name}, n = {n}: Hessian [{i}, {j}] exact {exact} vs differences {difference}"
            );
        }
    }
}

/// Every row of the table of builtins has gradient cases that call it, unless its value can
/// never depend on an unknown.
#[test]
fn every_builtin_has_gradient_cases() {
    for &builtin in Builtin::ALL {
        let cases = gradient_cases(builtin);
        if matches!(builtin, Builtin::Ones | Builtin::Zeros) {
            assert!(cases.is_empty(), "{}", builtin.name());
            continue;
        }
        assert!(
            !cases.is_empty(),
            "`{}` has no gradient case",
            builtin.name()
        );
        for case in cases {
            assert!(
                case.contains(&format!("{}(", builtin.name())),
                "`{}`: the case `{case}` does not call it",
                builtin.name()
            );
        }
    }
}

/// sum(cholesky(a M)) = √a · sum(cholesky(M)): the model and the same density written the
/// long way give the same value and gradient at every point of a sequence.
#[test]
fn cholesky_of_a_scaled_matrix_is_the_scaled_factor() {
    let mut rng = Rng::seed_from_u64(11);
    for n in [2, 4, 8, 11] {
        let short = check_model(&format!(
            "observed M: real[{n}, {n}]\nlatent a: positive\na ~ Normal(1, 0.3)\n\
             factor sum(cholesky(a * M))\n"
        ));
        let long = check_model(&format!(
            "observed M: real[{n}, {n}]\nlatent a: positive\na ~ Normal(1, 0.3)\n\
             factor sqrt(a) * sum(cholesky(M))\n"
        ));
        let m = random_spd(n, &mut rng);
        let tape_of = |model: &Model| {
            let mut bindings = Bindings::new(model, Vec::new());
            bindings.set(model.variable("M").unwrap().id, m.clone());
            Tape::new(model, &bindings, &sampled(model), Vec::new()).unwrap()
        };
        let (mut short_tape, mut long_tape) = (tape_of(&short), tape_of(&long));
        for _ in 0..6 {
            let u = [rng.random_range(-1.5..1.5)];
            let (mut g_short, mut g_long) = ([0.0], [0.0]);
            let v_short = short_tape
                .log_density_and_gradient(&u, &mut g_short)
                .unwrap();
            let v_long = long_tape.log_density_and_gradient(&u, &mut g_long).unwrap();
            assert!((v_short - v_long).abs() < 1e-10 * v_long.abs().max(1.0));
            assert!(
                (g_short[0] - g_long[0]).abs() < 1e-9 * g_long[0].abs().max(1.0),
                "n = {n}, u = {}: {} vs {}",
                u[0],
                g_short[0],
                g_long[0]
            );
        }
    }
}

/// The reproduction: a random 4×4 SPD matrix, `factor sum(cholesky(a * M))`, sampled by
/// NUTS through the binary. The posterior of `a` is one-dimensional, ∝ N(a; 1, 0.3) e^{√a c} on
/// a > 0 with c = sum(chol(M)) (nalgebra's factor), so its mean comes from quadrature.
#[test]
fn the_cholesky_model_samples_to_the_quadrature_mean() {
    let mut rng = Rng::seed_from_u64(3);
    let n = 4;
    let m = random_spd(n, &mut rng);
    let matrix = DMatrix::from_row_slice(n, n, &m);
    let c: f64 = matrix.cholesky().unwrap().l().iter().sum();
    let log_density = |a: f64| -0.5 * ((a - 1.0) / 0.3).powi(2) + a.sqrt() * c;
    let (steps, top) = (200_000, 4.0);
    let peak = (1..=steps)
        .map(|k| log_density(top * k as f64 / steps as f64))
        .fold(f64::NEG_INFINITY, f64::max);
    let (mut mass, mut first) = (0.0, 0.0);
    for k in 1..=steps {
        let a = top * (k as f64 - 0.5) / steps as f64;
        let weight = (log_density(a) - peak).exp();
        mass += weight;
        first += weight * a;
    }
    let exact_mean = first / mass;

    let dir = std::env::temp_dir().join(format!("ppl-cholesky-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: Vec<serde_json::Value> = m.chunks(n).map(|row| serde_json::json!(row)).collect();
    std::fs::write(
        dir.join("m.json"),
        serde_json::json!({ "M": rows }).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("chol.model"),
        "observed M: real[N, N]\nlatent a: positive\na ~ Normal(1, 0.3)\nfactor sum(cholesky(a * M))\n",
    )
    .unwrap();
    let output = common::ppl_command()
        .current_dir(common::root())
        .arg("run")
        .arg(dir.join("chol.model"))
        .arg("--data")
        .arg(dir.join("m.json"))
        .args(["--format", "json", "--seed", "1"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let json = common::json_report(&output, "the Cholesky model");
    let diagnostics = &json["diagnostics"];
    assert_eq!(diagnostics["divergences"], 0, "{diagnostics}");
    let rhat = json["summary"]["a"]["rhat"].as_f64().unwrap();
    assert!(rhat < 1.01, "R-hat {rhat}");
    let mean = json["summary"]["a"]["mean"].as_f64().unwrap();
    let mcse = json["summary"]["a"]["mcse_mean"].as_f64().unwrap();
    assert!(
        (mean - exact_mean).abs() < 4.0 * mcse,
        "mean {mean} vs quadrature {exact_mean} (MCSE {mcse})"
    );
}
