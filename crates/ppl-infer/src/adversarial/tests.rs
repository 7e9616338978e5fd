//! The adversarial engine's gradients against central finite differences of its own losses
//! (in f64), and its determinism.

use super::*;

fn nets(seed: u64) -> (Mlp<f64>, Mlp<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let generator = Mlp::<f64>::new(&[3, 5, 2], Activation::Tanh, &mut rng).unwrap();
    let critic = Mlp::<f64>::new(&[2, 4, 1], Activation::Tanh, &mut rng).unwrap();
    (generator, critic)
}

/// Compares an analytic gradient with central differences of `loss` at every parameter.
fn check_gradient(parameters: &[f64], analytic: &[f64], mut loss: impl FnMut(&[f64]) -> f64) {
    let step = 1e-6;
    for index in 0..parameters.len() {
        let mut shifted = parameters.to_vec();
        shifted[index] += step;
        let up = loss(&shifted);
        shifted[index] -= 2.0 * step;
        let down = loss(&shifted);
        let numeric = (up - down) / (2.0 * step);
        assert!(
            (numeric - analytic[index]).abs() < 1e-7 * (1.0 + numeric.abs()),
            "parameter {index}: analytic {} numeric {numeric}",
            analytic[index]
        );
    }
}

#[test]
fn critic_gradient_matches_finite_differences() {
    let (_, critic) = nets(3);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // Three real rows and two generated ones: the two means have different weights.
    let scored: DMatrix<f64> = standard_normal(5, 2, &mut rng);
    let mut gradient = vec![0.0; critic.parameters().len()];
    critic_step(&critic, &scored, 3, &mut gradient).unwrap();
    check_gradient(critic.parameters(), &gradient, |p| {
        let shifted =
            Mlp::from_parameters(critic.sizes(), critic.activation(), p.to_vec()).unwrap();
        let mut scratch = vec![0.0; p.len()];
        critic_step(&shifted, &scored, 3, &mut scratch).unwrap()
    });
}

#[test]
fn generator_gradient_matches_finite_differences() {
    let (generator, critic) = nets(5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let noise: DMatrix<f64> = standard_normal(4, 3, &mut rng);
    let mut gradient = vec![0.0; generator.parameters().len()];
    let mut scratch = vec![0.0; critic.parameters().len()];
    generator_step(&generator, &critic, &noise, &mut gradient, &mut scratch).unwrap();
    check_gradient(generator.parameters(), &gradient, |p| {
        let shifted =
            Mlp::from_parameters(generator.sizes(), generator.activation(), p.to_vec()).unwrap();
        let mut unused = vec![0.0; p.len()];
        let mut scratch = vec![0.0; critic.parameters().len()];
        generator_step(&shifted, &critic, &noise, &mut unused, &mut scratch).unwrap()
    });
}

#[test]
fn losses_match_their_closed_form_at_a_constant_critic() {
    // A critic whose weights are all zero outputs its bias b everywhere: the critic loss is
    // softplus(-b) + softplus(b) and the generator's softplus(-b).
    let sizes = [2, 3, 1];
    let count = Mlp::<f64>::parameter_count(&sizes);
    let mut parameters = vec![0.0; count];
    parameters[count - 1] = 0.7;
    let critic = Mlp::from_parameters(&sizes, Activation::Relu, parameters).unwrap();
    let scored = DMatrix::from_fn(6, 2, |i, j| (i * 2 + j) as f64 / 3.0);
    let mut gradient = vec![0.0; count];
    let loss = critic_step(&critic, &scored, 4, &mut gradient).unwrap();
    let expected = (1.0 + (-0.7f64).exp()).ln() + (1.0 + 0.7f64.exp()).ln();
    assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
}

#[test]
fn same_seed_same_nets_and_trace() {
    let data: Vec<f64> = (0..200)
        .flat_map(|i| {
            let angle = i as f64 * 0.1;
            [angle.cos(), angle.sin()]
        })
        .collect();
    let generator = NetDesign {
        sizes: vec![2, 8, 2],
        activation: Activation::Relu,
    };
    let critic = NetDesign {
        sizes: vec![2, 8, 1],
        activation: Activation::LeakyRelu,
    };
    let settings = AdversarialSettings {
        steps: 30,
        steps_per_epoch: 7,
        batch_size: 16,
        seed: 9,
        ..AdversarialSettings::default()
    };
    let first = train_gan(&data, 2, &generator, &critic, &settings, None).unwrap();
    let second = train_gan(&data, 2, &generator, &critic, &settings, None).unwrap();
    assert_eq!(first.generator, second.generator);
    assert_eq!(first.trace, second.trace);
    // 30 steps of 7 per epoch: four whole epochs and one of two steps.
    assert_eq!(first.trace.len(), 5);
    assert_eq!(first.steps, 30);
    let other = train_gan(
        &data,
        2,
        &generator,
        &critic,
        &AdversarialSettings {
            seed: 10,
            ..settings
        },
        None,
    )
    .unwrap();
    assert_ne!(first.generator, other.generator);
}

#[test]
fn mismatched_designs_are_errors() {
    let design = NetDesign {
        sizes: vec![2, 4, 3],
        activation: Activation::Relu,
    };
    let critic = NetDesign {
        sizes: vec![2, 4, 1],
        activation: Activation::Relu,
    };
    let error = train_gan(
        &[0.0; 8],
        2,
        &design,
        &critic,
        &AdversarialSettings::default(),
        None,
    );
    assert!(matches!(error, Err(AdversarialError::Design(_))));
}
