//! Probe: trains the GAN engine on examples/data/ring.csv and scores 10,000 samples.
use ppl_infer::adversarial::{self, AdversarialSettings, NetDesign};
use ppl_nn::Activation;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let text = std::fs::read_to_string("examples/data/ring.csv").unwrap();
    let data: Vec<f64> = text
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let g = NetDesign {
        sizes: vec![8, 64, 64, 2],
        activation: Activation::Relu,
    };
    let d = NetDesign {
        sizes: vec![2, 64, 64, 1],
        activation: Activation::LeakyRelu,
    };
    let settings = AdversarialSettings {
        steps,
        steps_per_epoch: 40,
        batch_size: 256,
        seed,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let fit = adversarial::train_gan(&data, 2, &g, &d, &settings, None).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(12345);
    let out = adversarial::generate(&fit.generator, 10_000, &mut rng).unwrap();
    let mut per = [0usize; 8];
    let mut hq = 0;
    for r in 0..10_000 {
        let (x, y) = (out[(r, 0)] as f64, out[(r, 1)] as f64);
        let mut best = f64::INFINITY;
        for k in 0..8 {
            let a = 2.0 * std::f64::consts::PI * k as f64 / 8.0;
            let dist = ((x - 2.0 * a.cos()).powi(2) + (y - 2.0 * a.sin()).powi(2)).sqrt();
            if dist < 0.06 {
                per[k] += 1;
            }
            best = best.min(dist);
        }
        if best < 0.06 {
            hq += 1;
        }
    }
    let modes = per.iter().filter(|&&c| c >= 20).count();
    println!(
        "seed {seed} modes {modes} hq {:.4} per {:?} secs {secs:.2} last {:?}",
        hq as f64 / 1e4,
        per,
        fit.trace.last()
    );
}
