//! Times forward + backward of the digits-VAE nets in f32 and f64 (the choice of scalar for the
//! VAE engine): `cargo run --release -p ppl-nn --example throughput`.

use nalgebra::DMatrix;
use ppl_nn::{Activation, Mlp, Scalar};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use std::time::Instant;

fn time<T: Scalar>(label: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let encoder = Mlp::<T>::new(&[64, 128, 4], Activation::Relu, &mut rng).unwrap();
    let decoder = Mlp::<T>::new(&[2, 128, 64], Activation::Relu, &mut rng).unwrap();
    let x = DMatrix::<T>::from_fn(100, 64, |i, j| nalgebra::convert(((i * j) % 2) as f64));
    let z = DMatrix::<T>::from_fn(100, 2, |i, j| {
        nalgebra::convert((i as f64 - j as f64) / 50.0)
    });
    let mut ge = vec![T::zero(); encoder.parameters().len()];
    let mut gd = vec![T::zero(); decoder.parameters().len()];
    let steps = 3000;
    let start = Instant::now();
    for _ in 0..steps {
        let fe = encoder.forward(&x).unwrap();
        let fd = decoder.forward(&z).unwrap();
        decoder.backward(&fd, fd.output(), &mut gd, true).unwrap();
        encoder.backward(&fe, fe.output(), &mut ge, false).unwrap();
    }
    println!(
        "{label}: {steps} VAE-sized steps in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    time::<f32>("f32");
    time::<f64>("f64");
}
