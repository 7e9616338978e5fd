//! The tape's reverse-mode gradient of every sampled example model agrees with whole-model forward
//! mode (the oracle, dual numbers through the reference evaluator) and with central finite
//! differences, at several random points of the unconstrained space.

use std::path::Path;

use ppl_infer::LogDensity;
use ppl_ir::{ElemType, VarId};
use ppl_model::tape::{Bindings, Tape, log_density_oracle, oracle_gradient};
use rand::{RngExt, SeedableRng};

fn load(example: &str) -> (ppl_ir::Model, Bindings, Vec<VarId>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let source = std::fs::read_to_string(root.join(example)).unwrap();
    let (program, diagnostics) = ppl_syntax::parse(&source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{example}: {diagnostics:?}"
    );
    let (model, diagnostics) = ppl_ir::check(&program, &source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{example}: {diagnostics:?}"
    );
    let data_file = &model
        .data_file
        .as_ref()
        .expect("examples name their data")
        .0;
    let data = ppl_data::DataSet::load(&root.join(data_file)).unwrap();
    let bound = ppl_model::bind(&model, Some(&data), &[]).unwrap();
    let mut bindings = Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(VarId(index), values.clone());
        }
    }
    let sampled = model
        .unknowns()
        .filter(|v| v.ty.elem == ElemType::Real)
        .map(|v| v.id)
        .collect();
    (model, bindings, sampled)
}

#[test]
fn every_sampled_example_has_the_oracle_gradient() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(2024);
    for example in [
        "eight_schools_noncentered.model",
        "eight_schools_centered.model",
        "linear_regression.model",
        "logistic_regression.model",
        "gp_regression.model",
    ] {
        let (model, bindings, sampled) = load(example);
        let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
        let layout = tape.layout().clone();
        let dim = tape.dim();
        for _ in 0..3 {
            let position: Vec<f64> = (0..dim).map(|_| rng.random_range(-1.5..1.5)).collect();
            let mut gradient = vec![0.0; dim];
            let value = tape
                .log_density_and_gradient(&position, &mut gradient)
                .unwrap();
            let (oracle_value, oracle) =
                oracle_gradient(&model, &bindings, &layout, &position).unwrap();
            assert!(
                (value - oracle_value).abs() <= 1e-10 * oracle_value.abs().max(1.0),
                "{example}: value {value} vs {oracle_value}"
            );
            for i in 0..dim {
                let scale = oracle[i].abs().max(1.0);
                assert!(
                    (gradient[i] - oracle[i]).abs() <= 1e-8 * scale,
                    "{example}: d/du[{i}] tape {} vs oracle {}",
                    gradient[i],
                    oracle[i]
                );
                let h = 1e-5;
                let mut up = position.clone();
                let mut down = position.clone();
                up[i] += h;
                down[i] -= h;
                let f =
                    |p: &[f64]| log_density_oracle::<f64>(&model, &bindings, &layout, p).unwrap();
                let difference = (f(&up) - f(&down)) / (2.0 * h);
                assert!(
                    (gradient[i] - difference).abs() <= 1e-5 * scale,
                    "{example}: d/du[{i}] tape {} vs finite difference {difference}",
                    gradient[i]
                );
            }
        }
    }
}
