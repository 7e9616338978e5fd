//! Nets on the tape: the node's gradient (through `ppl_nn`'s backward pass) against central
//! finite differences and against whole-model forward mode through the evaluator's own plain-loop
//! net (`net::forward_generic`), for the weights and for an input that is itself an unknown.

use ppl_infer::LogDensity;

use super::*;
use crate::BoundData;
use crate::posterior::Posterior;

fn posterior(source: &str) -> (Posterior, BoundData) {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(!diagnostics.iter().any(|d| d.is_error()), "{diagnostics:?}");
    let bound = crate::bind(&model, None, &[]).expect("binds the inline data");
    let posterior = Posterior::new(&model, &bound, source).expect("builds the tape");
    (posterior, bound)
}

/// A position with every coordinate in (-1.5, 1.5), from a fixed sequence.
fn position(dim: usize) -> Vec<f64> {
    (0..dim)
        .map(|i| 1.5 * ((i as f64 * 0.754_877_666 + 0.1).fract() * 2.0 - 1.0))
        .collect()
}

/// Checks the tape's gradient against the oracle (forward mode through the plain-loop net) and
/// central differences of the tape's own value.
fn gradient_matches(source: &str) {
    let (mut posterior, _) = posterior(source);
    assert!(
        posterior.tape.fallback_terms().is_empty(),
        "every term is on the tape"
    );
    let dim = posterior.tape.dim();
    let at = position(dim);
    let mut gradient = vec![0.0; dim];
    let value = posterior
        .tape
        .log_density_and_gradient(&at, &mut gradient)
        .expect("finite");
    let tape = &posterior.tape;
    let (oracle_value, oracle) =
        oracle_gradient(&tape.model, &tape.bindings, tape.layout(), &at).expect("oracle");
    assert!(
        (value - oracle_value).abs() < 1e-9 * value.abs().max(1.0),
        "value {value} vs oracle {oracle_value}"
    );
    let step = 1e-6;
    let mut shifted = posterior.tape.clone();
    for k in 0..dim {
        assert!(
            (gradient[k] - oracle[k]).abs() < 1e-8 * oracle[k].abs().max(1.0),
            "coordinate {k}: tape {} vs oracle {}",
            gradient[k],
            oracle[k]
        );
        let mut up = at.clone();
        up[k] += step;
        let mut down = at.clone();
        down[k] -= step;
        let difference = (shifted.log_density(&up).expect("finite")
            - shifted.log_density(&down).expect("finite"))
            / (2.0 * step);
        assert!(
            (gradient[k] - difference).abs() < 1e-5 * difference.abs().max(1.0),
            "coordinate {k}: tape {} vs central difference {difference}",
            gradient[k]
        );
    }
}

const DATA: &str = "observed x: real[5, 2] = [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0], [0.0, 0.1], [-1.2, -0.4]]\nobserved y: real[5] = [0.3, -0.2, 1.1, 0.4, -0.9]\n";

#[test]
fn a_net_of_data_differentiates_like_the_oracle_for_every_smooth_activation() {
    for act in ["tanh", "sigmoid", "softplus", "identity", "leaky_relu(0.2)"] {
        gradient_matches(&format!(
            "{DATA}param s: positive\nnet f = mlp(2, 4, 3, 1, act = {act})\ny ~ Normal(f(x)[.., 1], s)\n"
        ));
    }
}

#[test]
fn a_net_of_an_unknown_passes_its_gradient_to_the_input() {
    gradient_matches(&format!(
        "{DATA}latent z: real[5, 2]\nz ~ Normal(0, 1)\nnet g = mlp(2, 6, 2, act = tanh)\nlet h = g(z + x)\ny ~ Normal(h[.., 1] * h[.., 2], 0.5)\n"
    ));
}

#[test]
fn two_nets_and_a_net_of_a_net() {
    gradient_matches(&format!(
        "{DATA}param s: positive\nnet a = mlp(2, 3, 2, act = softplus)\nnet b = mlp(2, 5, 1, act = tanh)\ny ~ Normal(b(a(x))[.., 1], s)\n"
    ));
}

#[test]
fn the_weights_start_glorot_uniform_and_are_no_output_column() {
    let (posterior, _) = posterior(&format!(
        "{DATA}param s: positive\nnet f = mlp(2, 8, 1, act = tanh)\ny ~ Normal(f(x)[.., 1], s)\n"
    ));
    let layout = posterior.tape.layout();
    assert_eq!(layout.nets.len(), 1);
    let net = &layout.nets[0];
    assert_eq!(net.len, 2 * 8 + 8 + 8 + 1);
    assert_eq!(layout.dim, 1 + net.len);
    assert_eq!(net.offset, 1);
    // uniform(-2, 2) coordinates are weights uniform on ±sqrt(6 / (in + out)).
    let first_layer = (6.0f64 / 10.0).sqrt();
    assert!((net.scales[0] * 2.0 - first_layer).abs() < 1e-15);
    let second_layer = (6.0f64 / 9.0).sqrt();
    assert!((net.scales[2 * 8 + 8] * 2.0 - second_layer).abs() < 1e-15);
    let names: Vec<&str> = posterior
        .columns
        .iter()
        .map(|c| c.display.as_str())
        .collect();
    assert_eq!(names, ["s"]);
}

#[test]
fn a_net_of_the_wrong_width_is_a_shape_error_with_its_span() {
    let source = format!(
        "{DATA}param s: positive\nnet f = mlp(3, 4, 1, act = tanh)\ny ~ Normal(f(x)[.., 1], s)\n"
    );
    let (program, _) = ppl_syntax::parse(&source);
    let (model, _) = ppl_ir::check(&program, &source, &Default::default());
    let bound = crate::bind(&model, None, &[]).expect("binds");
    let error = match Posterior::new(&model, &bound, &source) {
        Err(diagnostic) => diagnostic,
        Ok(_) => panic!("a net taking 3 values cannot read rows of 2"),
    };
    assert!(
        error.message.contains("takes rows of 3"),
        "{}",
        error.message
    );
}
