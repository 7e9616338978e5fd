//! Gradients against central finite differences, Glorot bounds, determinism, Adam.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::{Activation, Adam, Mlp};

/// A smooth scalar loss of the output whose gradient is easy: L = Σ c_ij y_ij + ½ Σ y_ij².
fn loss(output: &DMatrix<f64>, weights: &DMatrix<f64>) -> f64 {
    output.component_mul(weights).sum() + 0.5 * output.norm_squared()
}

fn loss_gradient(output: &DMatrix<f64>, weights: &DMatrix<f64>) -> DMatrix<f64> {
    weights + output
}

fn test_input(rows: usize, cols: usize) -> DMatrix<f64> {
    // Away from relu's kink at zero after the first layer is not guaranteed, so the inputs are
    // generic reals and the finite-difference step is small enough not to cross a kink.
    DMatrix::from_fn(rows, cols, |i, j| {
        ((i * 7 + j * 3) as f64 * 0.37).sin() * 1.3
    })
}

fn check_gradients(sizes: &[usize], activation: Activation, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Mlp::<f64>::new(sizes, activation, &mut rng).unwrap();
    // Non-zero biases so that every parameter matters and pre-activations are generic.
    for (k, p) in net.parameters_mut().iter_mut().enumerate() {
        *p += 0.05 * ((k as f64) * 1.7).cos();
    }
    let batch = 5;
    let input = test_input(batch, sizes[0]);
    let out = *sizes.last().unwrap();
    let loss_weights = DMatrix::from_fn(batch, out, |i, j| ((i + 2 * j) as f64).cos());
    let forward = net.forward(&input).unwrap();
    let mut gradient = vec![0.0; net.parameters().len()];
    let input_gradient = net
        .backward(
            &forward,
            &loss_gradient(forward.output(), &loss_weights),
            &mut gradient,
            true,
        )
        .unwrap()
        .unwrap();
    let h = 1e-6;
    let evaluate = |net: &Mlp<f64>, input: &DMatrix<f64>| {
        loss(net.forward(input).unwrap().output(), &loss_weights)
    };
    for (k, &analytic) in gradient.iter().enumerate() {
        let original = net.parameters()[k];
        net.parameters_mut()[k] = original + h;
        let up = evaluate(&net, &input);
        net.parameters_mut()[k] = original - h;
        let down = evaluate(&net, &input);
        net.parameters_mut()[k] = original;
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() <= 1e-6 * (1.0 + numeric.abs()),
            "{activation:?} {sizes:?} parameter {k}: analytic {analytic} numeric {numeric}"
        );
    }
    for i in 0..batch {
        for j in 0..sizes[0] {
            let mut shifted = input.clone();
            shifted[(i, j)] += h;
            let up = evaluate(&net, &shifted);
            shifted[(i, j)] -= 2.0 * h;
            let down = evaluate(&net, &shifted);
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (numeric - input_gradient[(i, j)]).abs() <= 1e-6 * (1.0 + numeric.abs()),
                "{activation:?} {sizes:?} input ({i},{j}): analytic {} numeric {numeric}",
                input_gradient[(i, j)]
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences_for_every_activation_and_size() {
    // Sizes both below and above nalgebra's threshold (all sides > 5) for handing the product
    // to matrixmultiply, so both code paths are checked.
    let shapes: [&[usize]; 4] = [&[3, 1], &[2, 4, 3], &[7, 9, 8, 6], &[8, 12, 2]];
    for activation in Activation::ALL
        .into_iter()
        .chain([Activation::LeakyReluSlope(0.2)])
    {
        for (s, sizes) in shapes.iter().enumerate() {
            check_gradients(sizes, activation, 10 + s as u64);
        }
    }
}

#[test]
fn backward_accumulates_into_the_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let net = Mlp::<f64>::new(&[4, 6, 2], Activation::Tanh, &mut rng).unwrap();
    let input = test_input(3, 4);
    let forward = net.forward(&input).unwrap();
    let upstream = DMatrix::from_element(3, 2, 1.0);
    let mut once = vec![0.0; net.parameters().len()];
    net.backward(&forward, &upstream, &mut once, false).unwrap();
    let mut twice = vec![0.0; net.parameters().len()];
    net.backward(&forward, &upstream, &mut twice, false)
        .unwrap();
    net.backward(&forward, &upstream, &mut twice, false)
        .unwrap();
    for (a, b) in once.iter().zip(&twice) {
        assert!((2.0 * a - b).abs() < 1e-12);
    }
}

#[test]
fn glorot_weights_lie_in_their_bounds_with_the_right_spread_and_zero_biases() {
    let sizes = [64, 128, 4];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let net = Mlp::<f64>::new(&sizes, Activation::Relu, &mut rng).unwrap();
    assert_eq!(net.parameters().len(), 64 * 128 + 128 + 128 * 4 + 4);
    for layer in 0..2 {
        let (weights, bias) = net.layer(layer).unwrap();
        let limit = (6.0 / (sizes[layer] + sizes[layer + 1]) as f64).sqrt();
        assert!(weights.iter().all(|w| w.abs() <= limit));
        assert!(bias.iter().all(|&b| b == 0.0));
        // Uniform on ±limit has variance limit²/3; the sample variance of n draws has
        // standard error ≈ limit² sqrt(4/45 / n); allow four of them.
        let n = weights.len() as f64;
        let variance = weights.iter().map(|w| w * w).sum::<f64>() / n;
        let expected = limit * limit / 3.0;
        let standard_error = limit * limit * (4.0 / 45.0 / n).sqrt();
        assert!(
            (variance - expected).abs() < 4.0 * standard_error,
            "layer {layer}: variance {variance}, expected {expected} ± {standard_error}"
        );
    }
    assert!(net.layer(2).is_none());
}

#[test]
fn the_same_seed_gives_the_same_net_and_outputs() {
    let build = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mlp::<f32>::new(&[5, 16, 3], Activation::LeakyRelu, &mut rng).unwrap()
    };
    let (a, b, c) = (build(1), build(1), build(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let input = DMatrix::from_fn(9, 5, |i, j| (i as f32 - j as f32) * 0.3);
    assert_eq!(
        a.forward(&input).unwrap().output(),
        b.forward(&input).unwrap().output()
    );
}

#[test]
fn activations_are_their_definitions() {
    let x = -0.7_f64;
    assert_eq!(Activation::Relu.apply(x), 0.0);
    assert!((Activation::LeakyRelu.apply(x) - 0.01 * x).abs() < 1e-15);
    assert!((Activation::LeakyReluSlope(0.2).apply(x) - 0.2 * x).abs() < 1e-15);
    assert_eq!(Activation::LeakyReluSlope(0.2).derivative(x), 0.2);
    assert_eq!(Activation::LeakyReluSlope(0.2).leaky_slope(), Some(0.2));
    assert!((Activation::Sigmoid.apply(x) - 1.0 / (1.0 + 0.7_f64.exp())).abs() < 1e-15);
    assert!((Activation::Softplus.apply(x) - (1.0 + x.exp()).ln()).abs() < 1e-15);
    assert_eq!(Activation::Softplus.apply(800.0_f64), 800.0);
    assert!(Activation::Softplus.apply(-800.0_f64) >= 0.0);
    for a in Activation::ALL {
        assert_eq!(Activation::from_name(a.name()), Some(a));
    }
}

#[test]
fn shape_errors_are_values() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert!(Mlp::<f64>::new(&[3], Activation::Relu, &mut rng).is_err());
    assert!(Mlp::<f64>::new(&[3, 0, 1], Activation::Relu, &mut rng).is_err());
    assert!(Mlp::<f64>::from_parameters(&[2, 1], Activation::Relu, vec![0.0; 2]).is_err());
    let net = Mlp::<f64>::new(&[3, 2], Activation::Relu, &mut rng).unwrap();
    assert!(net.forward(&DMatrix::zeros(4, 2)).is_err());
    let forward = net.forward(&DMatrix::zeros(4, 3)).unwrap();
    let mut gradient = vec![0.0; net.parameters().len()];
    assert!(
        net.backward(&forward, &DMatrix::zeros(4, 3), &mut gradient, false)
            .is_err()
    );
    assert!(
        net.backward(&forward, &DMatrix::zeros(4, 2), &mut [0.0; 3], false)
            .is_err()
    );
}

#[test]
fn adam_fits_a_small_regression() {
    // y = sin(3x) on [-1, 1] with a tanh net: the mean squared error must fall by 100×.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut net = Mlp::<f64>::new(&[1, 16, 1], Activation::Tanh, &mut rng).unwrap();
    let input = DMatrix::from_fn(40, 1, |i, _| -1.0 + 2.0 * i as f64 / 39.0);
    let target = input.map(|x| (3.0 * x).sin());
    let mse =
        |net: &Mlp<f64>| (net.forward(&input).unwrap().output() - &target).norm_squared() / 40.0;
    let initial = mse(&net);
    let mut adam = Adam::new(1e-2, net.parameters().len());
    let mut gradient = vec![0.0; net.parameters().len()];
    for _ in 0..3000 {
        let forward = net.forward(&input).unwrap();
        let residual = (forward.output() - &target) / 40.0;
        gradient.iter_mut().for_each(|g| *g = 0.0);
        net.backward(&forward, &residual, &mut gradient, false)
            .unwrap();
        adam.descend(net.parameters_mut(), &gradient);
    }
    assert_eq!(adam.steps(), 3000);
    assert!(mse(&net) < initial / 100.0, "{} -> {}", initial, mse(&net));
}
