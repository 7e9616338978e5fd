//! Discrete latents summed out of the tape (LANGUAGE.md §6 rule 5) against independent answers:
//! brute-force enumeration of the discrete states, closed forms (the conjugate change point),
//! finite differences for gradients, and NUTS on the marginal density with MCSE-based
//! tolerances.

use std::path::Path;

use ppl_infer::diagnostics::{mcse_mean, mean_sd};
use ppl_infer::mcmc::RunControl;
use ppl_infer::{LogDensity, SamplerSettings, sample_chains};
use ppl_model::marginal::{Decision, Structure, analyse};
use ppl_model::posterior::Posterior;
use rand::SeedableRng;

/// How many Monte Carlo standard errors an estimate may be from the exact value.
const TOLERANCE_MCSE: f64 = 4.0;

fn checked(source: &str) -> ppl_ir::Model {
    let (program, diagnostics) = ppl_syntax::parse(source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "parse errors: {errors:#?}");
    let (model, diagnostics) =
        ppl_ir::check(&program, source, &ppl_ir::check::CheckOptions::default());
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "check errors: {errors:#?}");
    model
}

/// A model and its data (JSON text) → the posterior with its discrete latents summed out.
fn posterior_json(source: &str, data_json: &str) -> (ppl_ir::Model, Posterior) {
    let model = checked(source);
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json"))
        .expect("the test's data parses");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("the test's data binds");
    let posterior = Posterior::new(&model, &bound, source).expect("the tape builds");
    (model, posterior)
}

/// An example file with its data file.
fn example(name: &str, data: &str) -> (ppl_ir::Model, ppl_model::BoundData, Posterior) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("examples").join(name)).expect("example");
    let model = checked(&source);
    let data = ppl_data::DataSet::load(&root.join("examples/data").join(data)).expect("data loads");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("data binds");
    let posterior = Posterior::new(&model, &bound, &source).expect("the tape builds");
    (model, bound, posterior)
}

/// Central differences of the tape's log density, against its reverse-mode gradient.
fn assert_gradient_matches_differences(posterior: &Posterior, position: &[f64]) {
    let mut tape = posterior.tape.clone();
    let mut gradient = vec![0.0; position.len()];
    tape.log_density_and_gradient(position, &mut gradient)
        .expect("finite at the test point");
    for i in 0..position.len() {
        let step = 1e-5;
        let mut up = position.to_vec();
        up[i] += step;
        let mut down = position.to_vec();
        down[i] -= step;
        let difference = (tape.log_density(&up).expect("finite")
            - tape.log_density(&down).expect("finite"))
            / (2.0 * step);
        assert!(
            (difference - gradient[i]).abs() < 1e-5 * (1.0 + difference.abs()),
            "coordinate {i}: reverse mode {} but differences {difference}",
            gradient[i]
        );
    }
}

#[test]
fn the_examples_are_summed_out_with_the_expected_structure() {
    for (file, data, name, structure) in [
        (
            "coal_changepoint.model",
            "coal_disasters.csv",
            "s",
            Structure::Scalar,
        ),
        ("bayes_mixture.model", "gmm.csv", "z", Structure::Plate),
        ("zip.model", "zip.csv", "structural", Structure::Plate),
        ("hmm.model", "hmm.csv", "z", Structure::Chain),
    ] {
        let (model, bound, posterior) = example(file, data);
        let decisions = analyse(&model, &bound.dims);
        assert_eq!(decisions.len(), 1, "{file}");
        let Decision::Summed(latent) = &decisions[0] else {
            panic!("{file}: {:?}", decisions[0]);
        };
        assert_eq!(
            (latent.name.as_str(), latent.structure),
            (name, structure),
            "{file}"
        );
        let dim = posterior.tape.layout().dim;
        let position: Vec<f64> = (0..dim).map(|i| 0.1 * (i as f64 % 3.0) - 0.1).collect();
        assert_gradient_matches_differences(&posterior, &position);
        assert!(
            posterior
                .columns
                .iter()
                .any(|c| c.display.starts_with(name)),
            "{file}: no `{name}` column in {:?}",
            posterior.columns
        );
    }
}
