//! Gibbs sampling (`--method gibbs`, and rule 5's fallback) against independent answers: the
//! change point's exact posterior summed over the years, NUTS with the discrete latents summed
//! out, forward-filtering backward-sampling's state probabilities for the HMM, closed-form
//! conjugate posteriors, and brute-force enumeration with quadrature for a model whose discrete
//! latents cannot be summed out. Tolerances are 4 Monte Carlo standard errors.

mod common;

use std::path::Path;

use ppl_infer::diagnostics::{mcse_mean, mean_sd};
use ppl_infer::mcmc::RunControl;
use ppl_infer::{
    ConditionalModel, ConjugatePosterior, GibbsSettings, SamplerSettings, sample_chains,
    sample_chains_gibbs,
};
use ppl_model::gibbs::GibbsModel;
use ppl_model::posterior::Posterior;
use rand::SeedableRng;

const TOLERANCE_MCSE: f64 = 4.0;

fn checked(source: &str) -> ppl_ir::Model {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}"
    );
    let (model, diagnostics) =
        ppl_ir::check(&program, source, &ppl_ir::check::CheckOptions::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}"
    );
    model
}

struct Example {
    model: ppl_ir::Model,
    bound: ppl_model::BoundData,
    source: String,
}

fn example(name: &str, data: &str) -> Example {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("examples").join(name)).expect("example");
    let model = checked(&source);
    let data = ppl_data::DataSet::load(&root.join("examples/data").join(data)).expect("data");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("data binds");
    Example {
        model,
        bound,
        source,
    }
}

fn inline(source: &str, data_json: &str) -> Example {
    let model = checked(source);
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json")).expect("json");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("data binds");
    Example {
        model,
        bound,
        source: source.to_string(),
    }
}

/// Gibbs draws as output rows (column names, then per chain a list of rows).
fn gibbs_rows(example: &Example, seed: u64, warmup: usize, draws: usize) -> Rows {
    let gibbs = GibbsModel::new(&example.model, &example.bound, &example.source).expect("gibbs");
    let settings = SamplerSettings {
        seed,
        num_warmup: warmup,
        num_draws: draws,
        ..SamplerSettings::default()
    };
    let chains = sample_chains_gibbs(
        &gibbs,
        &settings,
        &GibbsSettings::default(),
        &RunControl::default(),
    )
    .expect("gibbs runs");
    Rows {
        columns: gibbs.columns.iter().map(|c| c.display.clone()).collect(),
        chains: chains
            .iter()
            .map(|c| {
                (0..c.output.num_draws())
                    .map(|i| gibbs.row(c.output.draw(i)).expect("row"))
                    .collect()
            })
            .collect(),
        probabilities: Vec::new(),
    }
}

/// NUTS on the summed-out tape, each draw completed, with the first summed latent's
/// Rao–Blackwellised state probabilities.
fn nuts_rows(example: &Example, seed: u64) -> Rows {
    let posterior = Posterior::new(&example.model, &example.bound, &example.source).expect("tape");
    let settings = SamplerSettings {
        seed,
        ..SamplerSettings::default()
    };
    let outputs =
        sample_chains(&posterior.tape, &settings, &RunControl::default()).expect("nuts runs");
    let mut chains = Vec::new();
    let mut probabilities = Vec::new();
    for (index, output) in outputs.iter().enumerate() {
        let mut own = posterior.clone();
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed ^ (index as u64 + 7));
        let mut rows = Vec::new();
        let mut chain_probabilities = Vec::new();
        for draw in 0..output.num_draws() {
            let position = output.draw(draw);
            rows.push(own.complete_draw(position, &mut rng).expect("draw"));
            chain_probabilities.push(
                own.state_probabilities(position).expect("p")[0]
                    .probabilities
                    .clone(),
            );
        }
        chains.push(rows);
        probabilities.push(chain_probabilities);
    }
    Rows {
        columns: posterior
            .columns
            .iter()
            .map(|c| c.display.clone())
            .collect(),
        chains,
        probabilities,
    }
}

struct Rows {
    columns: Vec<String>,
    chains: Vec<Vec<Vec<f64>>>,
    /// NUTS only: per chain, per draw, the first summed latent's elements × states.
    probabilities: Vec<Vec<Vec<f64>>>,
}

impl Rows {
    fn column(&self, name: &str) -> Vec<Vec<f64>> {
        let index = self
            .columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.columns));
        self.chains
            .iter()
            .map(|chain| chain.iter().map(|row| row[index]).collect())
            .collect()
    }

    fn indicator(&self, name: &str, value: f64) -> Vec<Vec<f64>> {
        self.column(name)
            .iter()
            .map(|c| c.iter().map(|&v| f64::from(u8::from(v == value))).collect())
            .collect()
    }

    fn probability(&self, element_state: usize) -> Vec<Vec<f64>> {
        self.probabilities
            .iter()
            .map(|chain| chain.iter().map(|p| p[element_state]).collect())
            .collect()
    }
}

fn estimate(chains: &[Vec<f64>]) -> (f64, f64) {
    let slices: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    (mean_sd(&slices).0, mcse_mean(&slices))
}

fn assert_within_mcse(what: &str, chains: &[Vec<f64>], exact: f64) {
    let (mean, mcse) = estimate(chains);
    assert!(
        (mean - exact).abs() < TOLERANCE_MCSE * mcse.max(1e-12),
        "{what}: estimate {mean} ± {mcse} (MCSE) but exact {exact}"
    );
}

/// Two Monte Carlo estimates of the same quantity agree within 4 combined standard errors.
fn assert_agree(what: &str, first: &[Vec<f64>], second: &[Vec<f64>]) {
    let (a, se_a) = estimate(first);
    let (b, se_b) = estimate(second);
    let se = (se_a * se_a + se_b * se_b).sqrt();
    assert!(
        (a - b).abs() < TOLERANCE_MCSE * se.max(1e-12),
        "{what}: {a} ± {se_a} vs {b} ± {se_b}"
    );
}

fn ln_factorial(n: u64) -> f64 {
    (1..=n).map(|k| (k as f64).ln()).sum()
}

fn coal_counts() -> (Vec<u64>, Vec<u64>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/data/coal_disasters.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let (year, count) = line.split_once(',').unwrap();
            (
                year.trim().parse::<u64>().unwrap(),
                count.trim().parse::<u64>().unwrap(),
            )
        })
        .unzip()
}

/// The change point with Gamma(1, 1) priors: p(s | y) exactly by summing over the years, each
/// rate integrated in closed form; Gibbs (conjugate rates, s from its exact conditional) must
/// match it, and agree with NUTS on the summed-out density.
#[test]
fn the_change_point_by_gibbs_matches_the_exact_posterior_and_nuts() {
    let example = example("coal_changepoint.model", "coal_disasters.csv");
    let (_, counts) = coal_counts();
    let years = counts.len();
    let segment =
        |sum: u64, n: usize| ln_factorial(sum) - (sum as f64 + 1.0) * (n as f64 + 1.0).ln();
    let mut log_weights = Vec::new();
    let mut early_means = Vec::new();
    let mut late_means = Vec::new();
    for s in 1..=years {
        let before: u64 = counts[..s - 1].iter().sum();
        let after: u64 = counts[s - 1..].iter().sum();
        log_weights.push(segment(before, s - 1) + segment(after, years - s + 1));
        early_means.push((before as f64 + 1.0) / s as f64);
        late_means.push((after as f64 + 1.0) / ((years - s + 1) as f64 + 1.0));
    }
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_weights.iter().map(|w| (w - top).exp()).sum();
    let exact: Vec<f64> = log_weights
        .iter()
        .map(|w| (w - top).exp() / total)
        .collect();
    let expect = |values: &[f64]| exact.iter().zip(values).map(|(p, v)| p * v).sum::<f64>();

    let gibbs = gibbs_rows(&example, 20261127, 500, 2000);
    for (s, &p) in exact.iter().enumerate() {
        if p > 0.005 {
            assert_within_mcse(
                &format!("P(s = {})", s + 1),
                &gibbs.indicator("s", (s + 1) as f64),
                p,
            );
        }
    }
    assert_within_mcse("E[early]", &gibbs.column("early"), expect(&early_means));
    assert_within_mcse("E[late]", &gibbs.column("late"), expect(&late_means));

    let nuts = nuts_rows(&example, 7);
    for name in ["early", "late", "s"] {
        assert_agree(name, &gibbs.column(name), &nuts.column(name));
    }
}

/// The two-state HMM: Gibbs (the path by FFBS given the parameters, the transition rows and
/// the initial distribution by their Dirichlet conditionals, the emissions by the random walk)
/// against NUTS on the forward algorithm with FFBS smoothing probabilities.
#[test]
fn the_hmm_by_gibbs_agrees_with_ffbs_state_probabilities() {
    let example = example("hmm.model", "hmm.csv");
    let gibbs = gibbs_rows(&example, 11, 500, 1000);
    let nuts = nuts_rows(&example, 12);
    for t in [0usize, 57, 150, 299] {
        // Gibbs' indicator draws against NUTS' smoothing probabilities. When a state is nearly
        // certain the draws may show no exception at all and an MCSE of 0; the indicator's
        // error is then at least the binomial standard error at the smoothed probability.
        let drawn = gibbs.indicator(&format!("z[{}]", t + 1), 1.0);
        let (p_drawn, mcse_drawn) = estimate(&drawn);
        let (p_smoothed, mcse_smoothed) = estimate(&nuts.probability(2 * t));
        let count = drawn.iter().map(Vec::len).sum::<usize>() as f64;
        let binomial = (p_smoothed * (1.0 - p_smoothed) / count).sqrt();
        let se = (mcse_drawn.max(binomial).powi(2) + mcse_smoothed.powi(2)).sqrt();
        assert!(
            (p_drawn - p_smoothed).abs() < TOLERANCE_MCSE * se,
            "P(z[{}] = 1): Gibbs {p_drawn} vs FFBS {p_smoothed} (se {se})",
            t + 1
        );
    }
    for name in ["mu[1]", "mu[2]", "sigma", "theta[1,1]", "theta[2,2]"] {
        assert_agree(name, &gibbs.column(name), &nuts.column(name));
    }
}

fn conjugate(
    gibbs: &mut GibbsModel,
    name: &str,
    continuous: &[f64],
    discrete: &[i64],
) -> Option<ConjugatePosterior> {
    let block = gibbs
        .conjugate
        .iter()
        .position(|b| b.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not recognised as conjugate"));
    gibbs
        .conjugate_posterior(block, continuous, discrete)
        .expect("evaluates")
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-9 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

/// Each recognised pattern's conditional against its closed form, at arbitrary values of the
/// other unknowns.
#[test]
fn conjugate_conditionals_match_their_closed_forms() {
    // Gamma–Poisson through `if t < s then early else late`: the years before s feed `early`.
    let coal = example("coal_changepoint.model", "coal_disasters.csv");
    let mut gibbs = GibbsModel::new(&coal.model, &coal.bound, &coal.source).unwrap();
    let (_, counts) = coal_counts();
    let continuous = vec![0.3, -0.2];
    for s in [1usize, 40, 112] {
        let before: u64 = counts[..s - 1].iter().sum();
        let after: u64 = counts[s - 1..].iter().sum();
        let Some(ConjugatePosterior::Gamma { shape, rate }) =
            conjugate(&mut gibbs, "early", &continuous, &[s as i64])
        else {
            panic!("gamma expected");
        };
        close(
            &[shape[0], rate[0]],
            &[1.0 + before as f64, 1.0 + (s - 1) as f64],
        );
        let Some(ConjugatePosterior::Gamma { shape, rate }) =
            conjugate(&mut gibbs, "late", &continuous, &[s as i64])
        else {
            panic!("gamma expected");
        };
        close(
            &[shape[0], rate[0]],
            &[1.0 + after as f64, 1.0 + (counts.len() - s + 1) as f64],
        );
    }

    // Normal–normal with a slope: y ~ Normal(2 m + x, 0.5).
    let normal = inline(
        "observed x: real[N]\nobserved y: real[N]\nlatent m: real\nm ~ Normal(1, 2)\ny ~ Normal(2 * m + x, 0.5)\n",
        r#"{"x": [0.5, -1.0, 2.0], "y": [3.0, 0.2, 5.1]}"#,
    );
    let mut gibbs = GibbsModel::new(&normal.model, &normal.bound, &normal.source).unwrap();
    let (x, y) = ([0.5, -1.0, 2.0], [3.0, 0.2, 5.1]);
    let precision = 1.0 / 4.0 + 3.0 * 4.0 / 0.25;
    let weighted = 1.0 / 4.0 + (0..3).map(|i| 2.0 * (y[i] - x[i]) / 0.25).sum::<f64>();
    let Some(ConjugatePosterior::Normal { mean, sd }) = conjugate(&mut gibbs, "m", &[0.7], &[])
    else {
        panic!("normal expected");
    };
    close(
        &[mean[0], sd[0]],
        &[weighted / precision, precision.sqrt().recip()],
    );

    // Beta–binomial and beta–Bernoulli on one probability.
    let beta = inline(
        "observed n: int[N]\nobserved k: int[N]\nobserved flip: bool[M]\nlatent p: unit\np ~ Beta(2, 3)\nk ~ Binomial(n, p)\nflip ~ Bernoulli(p)\n",
        r#"{"n": [10, 4], "k": [7, 1], "flip": [1, 0, 1]}"#,
    );
    let mut gibbs = GibbsModel::new(&beta.model, &beta.bound, &beta.source).unwrap();
    let Some(ConjugatePosterior::Beta { a, b }) = conjugate(&mut gibbs, "p", &[0.1], &[]) else {
        panic!("beta expected");
    };
    close(&[a[0], b[0]], &[2.0 + 8.0 + 2.0, 3.0 + 6.0 + 1.0]);

    // Dirichlet–categorical.
    let dirichlet = inline(
        "observed c: int[N] in 1..3\nlatent w: simplex[3]\nw ~ Dirichlet([1.0, 2.0, 3.0])\nc ~ Categorical(w)\n",
        r#"{"c": [1, 3, 3, 2, 3]}"#,
    );
    let mut gibbs = GibbsModel::new(&dirichlet.model, &dirichlet.bound, &dirichlet.source).unwrap();
    let Some(ConjugatePosterior::Dirichlet {
        concentrations,
        categories,
    }) = conjugate(&mut gibbs, "w", &[0.2, -0.4], &[])
    else {
        panic!("dirichlet expected");
    };
    assert_eq!(categories, 3);
    close(&concentrations, &[2.0, 3.0, 6.0]);

    // The HMM's transition rows (no prior: Dirichlet(1, 1)) count the path's transitions.
    let hmm = example("hmm.model", "hmm.csv");
    let mut gibbs = GibbsModel::new(&hmm.model, &hmm.bound, &hmm.source).unwrap();
    let steps = 300;
    let path: Vec<i64> = (0..steps)
        .map(|t| if (t / 7) % 3 == 0 { 2 } else { 1 })
        .collect();
    let mut counts = [1.0; 4];
    for t in 1..steps {
        counts[((path[t - 1] - 1) * 2 + (path[t] - 1)) as usize] += 1.0;
    }
    let continuous = vec![0.1; gibbs.continuous_dim()];
    let Some(ConjugatePosterior::Dirichlet {
        concentrations,
        categories,
    }) = conjugate(&mut gibbs, "theta", &continuous, &path)
    else {
        panic!("dirichlet expected");
    };
    assert_eq!(categories, 2);
    close(&concentrations, &counts);
    let Some(ConjugatePosterior::Dirichlet { concentrations, .. }) =
        conjugate(&mut gibbs, "initial", &continuous, &path)
    else {
        panic!("dirichlet expected");
    };
    close(&concentrations, &[1.0, 2.0]);

    // Not of the form at any value: p enters as p².
    let squared = inline(
        "observed flip: bool[M]\nlatent p: unit\np ~ Beta(2, 3)\nflip ~ Bernoulli(p * p)\n",
        r#"{"flip": [1, 0, 1]}"#,
    );
    let mut gibbs = GibbsModel::new(&squared.model, &squared.bound, &squared.source).unwrap();
    assert_eq!(conjugate(&mut gibbs, "p", &[0.1], &[]), None);
}

/// Two discrete latents in one statement cannot be summed out: `auto` falls back to Gibbs
/// (single-site enumeration, `mu` normal–normal), against enumeration of (a, b) with `mu`
/// integrated on a fine grid.
#[test]
fn coupled_discrete_latents_fall_back_to_gibbs_and_match_enumeration() {
    let output = common::ppl(&[
        "run",
        "tests/kernels/coupled_discrete.model",
        "--format",
        "json",
        "--draws",
        "4000",
        "--seed",
        "3",
    ]);
    let json = common::json_report(&output, "coupled discrete latents");
    assert_eq!(json["method"], "gibbs");
    let reason = json["reason"].as_str().unwrap();
    assert!(reason.contains("cannot be summed out"), "{reason}");

    let y = [3.4, 2.1, 4.0];
    let (mut total, mut a_sum, mut b_sum, mut mu_sum) = (0.0, 0.0, 0.0, 0.0);
    let step = 1e-3;
    for a in 1..=3 {
        for b in 1..=2 {
            let shift = f64::from(a * b);
            for i in 0..16_000 {
                let mu = -8.0 + step * (i as f64 + 0.5);
                let log =
                    -0.5 * mu * mu - 0.5 * y.iter().map(|v| (v - mu - shift).powi(2)).sum::<f64>();
                let weight = log.exp() * step;
                total += weight;
                a_sum += weight * f64::from(a);
                b_sum += weight * f64::from(b);
                mu_sum += weight * mu;
            }
        }
    }
    for (name, exact) in [
        ("a", a_sum / total),
        ("b", b_sum / total),
        ("mu", mu_sum / total),
    ] {
        let row = &json["summary"][name];
        let mean = row["mean"].as_f64().unwrap();
        let mcse = row["mcse_mean"].as_f64().unwrap();
        assert!(
            (mean - exact).abs() < TOLERANCE_MCSE * mcse,
            "{name}: {mean} ± {mcse} vs exact {exact}"
        );
    }
}

/// The joint log density Gibbs reports (`lp__`) from the summed tape, `log p(θ, y) +
/// log p(z | θ, y)`, against the whole model evaluated with the discrete values bound, for a
/// scalar, a plate and a chain.
#[test]
fn the_joint_density_from_the_summed_tape_matches_the_model() {
    use ppl_model::tape::{Bindings, ParameterLayout, log_density_oracle};
    use rand::RngExt;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
    for (name, data) in [
        ("coal_changepoint.model", "coal_disasters.csv"),
        ("bayes_mixture.model", "gmm.csv"),
        ("hmm.model", "hmm.csv"),
    ] {
        let example = example(name, data);
        let mut gibbs = GibbsModel::new(&example.model, &example.bound, &example.source).unwrap();
        let continuous: Vec<f64> = (0..gibbs.continuous_dim())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut discrete = gibbs.default_discrete();
        gibbs
            .draw_discrete_block(0, &continuous, &mut discrete, &mut rng)
            .expect("draws");
        let from_tape = gibbs.log_density(&continuous, &discrete).expect("finite");
        let mut bindings = Bindings::new(&example.model, example.bound.dims.clone());
        for (index, values) in example.bound.observed.iter().enumerate() {
            if let Some(values) = values {
                bindings.set(ppl_ir::VarId(index), values.clone());
            }
        }
        for unknown in &gibbs.discrete {
            let values = discrete[unknown.offset..unknown.offset + unknown.elements]
                .iter()
                .map(|&v| v as f64)
                .collect();
            bindings.set(unknown.var, values);
        }
        let sampled: Vec<ppl_ir::VarId> = gibbs.layout().entries.iter().map(|e| e.var).collect();
        let layout = ParameterLayout::new(&example.model, &bindings, &sampled).unwrap();
        let whole = log_density_oracle(&example.model, &bindings, &layout, &continuous).unwrap();
        assert!(
            (from_tape - whole).abs() < 1e-8 * whole.abs().max(1.0),
            "{name}: {from_tape} vs {whole}"
        );
    }
}

/// The normal–inverse-gamma model with the conjugate prior `mu | v ~ Normal(m0, sqrt(v / k))`:
/// `v` is drawn from its inverse-gamma conditional (its likelihood includes `mu`'s prior), and
/// `mu`, whose prior scale depends on `v`, is moved by NUTS-within-Gibbs. Against the closed
/// form: `v | y ~ InvGamma(a + n/2, b + S/2 + k n (ȳ - m0)² / (2 (k + n)))` and
/// `E[mu | y] = (k m0 + n ȳ) / (k + n)`; also the conditionals of `v` and of a precision
/// against their closed forms.
#[test]
fn normal_inverse_gamma_by_conjugate_and_nuts_within_gibbs_matches_the_closed_form() {
    let y = [2.3, 1.1, 3.4, 2.9, 0.7, 2.2];
    let data = r#"{"y": [2.3, 1.1, 3.4, 2.9, 0.7, 2.2]}"#;
    let (m0, k, a, b) = (1.0, 0.5, 3.0, 2.0);
    let nig = inline(
        "observed y: real[N]\nlatent v: positive\nlatent mu: real\nv ~ InvGamma(3, 2)\nmu ~ Normal(1, sqrt(v / 0.5))\ny ~ Normal(mu, sqrt(v))\n",
        data,
    );
    let mut gibbs = GibbsModel::new(&nig.model, &nig.bound, &nig.source).unwrap();
    assert!(gibbs.is_differentiable());
    assert!(ppl_infer::uses_nuts(&gibbs, &GibbsSettings::default()));
    // The conditional of v at mu = 0.7 (v's own coordinate does not matter).
    let mu = 0.7;
    let Some(ConjugatePosterior::InverseGamma { shape, scale }) =
        conjugate(&mut gibbs, "v", &[0.3, mu], &[])
    else {
        panic!("inverse gamma expected");
    };
    let squares: f64 = y.iter().map(|v| (v - mu) * (v - mu)).sum();
    close(
        &[shape[0], scale[0]],
        &[
            a + (y.len() as f64 + 1.0) / 2.0,
            b + 0.5 * squares + 0.5 * k * (mu - m0) * (mu - m0),
        ],
    );

    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let spread: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
    let shape_n = a + n / 2.0;
    let scale_n = b + 0.5 * spread + k * n * (mean - m0).powi(2) / (2.0 * (k + n));
    let rows = gibbs_rows(&nig, 17, 300, 1000);
    assert_within_mcse("E[v]", &rows.column("v"), scale_n / (shape_n - 1.0));
    assert_within_mcse("E[mu]", &rows.column("mu"), (k * m0 + n * mean) / (k + n));

    // A precision: tau ~ Gamma(2, 3), y ~ Normal(mu, 1 / sqrt(tau)).
    let precision = inline(
        "observed y: real[N]\nlatent tau: positive\nlatent mu: real\ntau ~ Gamma(2, 3)\nmu ~ Normal(0, 5)\ny ~ Normal(mu, 1 / sqrt(tau))\n",
        data,
    );
    let mut gibbs = GibbsModel::new(&precision.model, &precision.bound, &precision.source).unwrap();
    let Some(ConjugatePosterior::Gamma { shape, rate }) =
        conjugate(&mut gibbs, "tau", &[0.3, mu], &[])
    else {
        panic!("gamma expected");
    };
    close(&[shape[0], rate[0]], &[2.0 + n / 2.0, 3.0 + 0.5 * squares]);
}

/// A density with a step in a continuous unknown (`if mu > 0`) is not differentiable: the
/// random walk moves it, not NUTS.
#[test]
fn a_step_in_a_continuous_unknown_keeps_the_random_walk() {
    let stepped = inline(
        "observed y: real[N]\nlatent mu: real\nlatent s: positive\nmu ~ Normal(0, 1)\ns ~ LogNormal(0, 1)\ny ~ Normal(if mu > 0 then mu else 0, s)\n",
        r#"{"y": [0.5, 1.0]}"#,
    );
    let gibbs = GibbsModel::new(&stepped.model, &stepped.bound, &stepped.source).unwrap();
    assert!(!gibbs.is_differentiable());
    assert!(!ppl_infer::uses_nuts(&gibbs, &GibbsSettings::default()));
}

/// Runs `ppl run MODEL ARGS --format json` and parses the report.
fn run_json(model: &Path, args: &[&str]) -> serde_json::Value {
    let output = common::ppl_command()
        .arg("run")
        .arg(model)
        .args(args)
        .args(["--format", "json"])
        .current_dir(common::root())
        .output()
        .expect("ppl runs");
    common::json_report(&output, &model.display().to_string())
}

fn ln_binomial(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// `examples/unknown_trials.model`: `n ~ Poisson(40)` an int with unbounded support, `p ~
/// Beta(2, 2)`, `y ~ Binomial(n, p)`. The exact posterior sums over n (from max y to 400, where
/// the last term's weight is below 1e-200 of the total) with p integrated in closed form:
/// `p(n | y) ∝ Poisson(n; 40) Π C(n, y_i) B(2 + S, 2 + 5n − S)` and
/// `E[p | n, y] = (2 + S) / (4 + 5n)`. Rule 7 picks random-walk Metropolis with integer steps;
/// Gibbs moves n by its integer random walk and draws p from its beta conditional. Both within
/// 4 MCSE of the exact means.
#[test]
fn an_unbounded_count_by_metropolis_and_gibbs_matches_enumeration() {
    let y: [u64; 5] = [17, 21, 19, 24, 16];
    let sum: u64 = y.iter().sum();
    // B(a, b) for whole a, b: (a - 1)! (b - 1)! / (a + b - 1)!.
    let ln_beta =
        |a: u64, b: u64| ln_factorial(a - 1) + ln_factorial(b - 1) - ln_factorial(a + b - 1);
    let range = 24u64..400;
    let log_weights: Vec<f64> = range
        .clone()
        .map(|n| {
            n as f64 * 40f64.ln() - ln_factorial(n)
                + y.iter().map(|&k| ln_binomial(n, k)).sum::<f64>()
                + ln_beta(2 + sum, 2 + 5 * n - sum)
        })
        .collect();
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_weights.iter().map(|w| (w - top).exp()).sum();
    let weights: Vec<f64> = log_weights
        .iter()
        .map(|w| (w - top).exp() / total)
        .collect();
    assert!(
        *weights.last().unwrap() < 1e-200,
        "the range holds the mass"
    );
    let mean_n: f64 = range.clone().zip(&weights).map(|(n, w)| n as f64 * w).sum();
    let mean_p: f64 = range
        .zip(&weights)
        .map(|(n, w)| w * (2.0 + sum as f64) / (4.0 + 5.0 * n as f64))
        .sum();

    let model = Path::new("examples/unknown_trials.model");
    let metropolis = run_json(model, &["--draws", "4000", "--seed", "5"]);
    assert_eq!(metropolis["method"], "metropolis");
    let gibbs = run_json(
        model,
        &["--method", "gibbs", "--draws", "4000", "--seed", "6"],
    );
    for (json, what) in [(&metropolis, "Metropolis"), (&gibbs, "Gibbs")] {
        for (name, exact) in [("n", mean_n), ("p", mean_p)] {
            let row = &json["summary"][name];
            let mean = row["mean"].as_f64().unwrap();
            let mcse = row["mcse_mean"].as_f64().unwrap();
            assert!(
                (mean - exact).abs() < TOLERANCE_MCSE * mcse,
                "{what} E[{name}]: {mean} ± {mcse} vs exact {exact}"
            );
        }
    }
}

/// Gibbs with `--log-lik --predict`: `log_lik[i]` is the binomial log-probability of `y[i]` at
/// each draw's `n` and `p` (computed here from the draw), and each `y_rep[i]` an integer in
/// `0..=n` of its draw.
#[test]
fn gibbs_writes_pointwise_log_likelihood_and_replicates() {
    let out = std::env::temp_dir().join(format!("ppl-gibbs-workflow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let json = run_json(
        Path::new("examples/unknown_trials.model"),
        &[
            "--method",
            "gibbs",
            "--log-lik",
            "--predict",
            "--draws",
            "200",
            "--warmup",
            "200",
            "--chains",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(json["method"], "gibbs");
    let y = [17u64, 21, 19, 24, 16];
    let text = std::fs::read_to_string(out.join("chain-1.csv")).expect("draws");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut rows = 0;
    for line in lines {
        let row: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let (n, p) = (row[at("n")], row[at("p")]);
        for (i, &k) in y.iter().enumerate() {
            let exact =
                ln_binomial(n as u64, k) + k as f64 * p.ln() + (n - k as f64) * (1.0 - p).ln();
            let written = row[at(&format!("log_lik.{}", i + 1))];
            assert!(
                (written - exact).abs() < 1e-9,
                "log_lik[{}]: {written} vs {exact}",
                i + 1
            );
            let replicate = row[at(&format!("y_rep.{}", i + 1))];
            assert!(replicate.fract() == 0.0 && (0.0..=n).contains(&replicate));
        }
        rows += 1;
    }
    assert_eq!(rows, 200);
    let _ = std::fs::remove_dir_all(&out);
}

/// A two-component mixture with symmetric priors, sampled by NUTS (the labels summed out and
/// recovered): seeded so that the chains settle on different labellings. The summary warns
/// (W0014) and names `--relabel`; with `--relabel mu` every chain orders `mu`, and the summary
/// finds the simulated truth (component means −2 and 2, the data's two halves, equal weights),
/// with each point's label following its component.
#[test]
fn switched_labels_are_detected_and_relabelled() {
    let dir = std::env::temp_dir().join(format!("ppl-relabel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Each half is the normal quantiles around its centre, so the halves' means are exactly ∓2.
    let quantiles: Vec<f64> = (0..40)
        .map(|i| ppl_infer::diagnostics::standard_normal_quantile((i as f64 + 0.5) / 40.0))
        .collect();
    let y: Vec<String> = quantiles
        .iter()
        .map(|q| format!("{}", -2.0 + q))
        .chain(quantiles.iter().map(|q| format!("{}", 2.0 + q)))
        .collect();
    std::fs::write(
        dir.join("mix.json"),
        format!("{{\"y\": [{}]}}", y.join(", ")),
    )
    .unwrap();
    std::fs::write(
        dir.join("mix.model"),
        "observed y: real[N]\nlatent w: simplex[2]\nlatent mu: real[2]\nlatent z: int[N] in 1..2\nmu ~ Normal(0, 5)\nz ~ Categorical(w)\ny ~ Normal(mu[z], 1)\n",
    )
    .unwrap();
    let model = dir.join("mix.model");
    let data = dir.join("mix.json");
    let common = [
        "--data",
        data.to_str().unwrap(),
        "--seed",
        "4",
        "--draws",
        "500",
        "--warmup",
        "300",
    ];
    let switched = run_json(&model, &common);
    let warnings = switched["diagnostics"]["warnings"].to_string();
    assert!(
        warnings.contains("W0014") && warnings.contains("--relabel mu"),
        "{warnings}"
    );
    let mut relabelled_args = common.to_vec();
    relabelled_args.extend(["--relabel", "mu"]);
    let relabelled = run_json(&model, &relabelled_args);
    let warnings = relabelled["diagnostics"]["warnings"].to_string();
    assert!(!warnings.contains("W0014"), "{warnings}");
    let summary = &relabelled["summary"];
    for (name, truth) in [
        ("mu[1]", -2.0),
        ("mu[2]", 2.0),
        ("w[1]", 0.5),
        ("w[2]", 0.5),
    ] {
        let mean = summary[name]["mean"].as_f64().unwrap();
        let sd = summary[name]["sd"].as_f64().unwrap();
        let rhat = summary[name]["rhat"].as_f64().unwrap();
        assert!(
            (mean - truth).abs() < 1.5 * sd,
            "{name}: {mean} (sd {sd}) vs {truth}"
        );
        assert!(rhat < 1.05, "{name}: R-hat {rhat} after relabelling");
    }
    // The leftmost point belongs to the low component, the rightmost to the high one.
    assert!(summary["z[1]"]["mean"].as_f64().unwrap() < 1.05);
    assert!(summary["z[80]"]["mean"].as_f64().unwrap() > 1.95);
    let _ = std::fs::remove_dir_all(&dir);
}
