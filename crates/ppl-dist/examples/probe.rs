use ppl_dist::{DistKind, event_log_density, sample};
use rand::SeedableRng;
use rand::rngs::StdRng;
fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (mu, phi) = (args[0], args[1]);
    let n = 200_000usize;
    for seed in 0..5u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts = vec![0f64; 400];
        let mut mean = 0.0;
        for _ in 0..n {
            let mut out = [0.0];
            sample(DistKind::NegBinomial, &[&[mu], &[phi]], &mut rng, &mut out).unwrap();
            counts[(out[0] as usize).min(399)] += 1.0;
            mean += out[0];
        }
        let mut chi = 0.0;
        let mut df = 0;
        for k in 0..399 {
            let e = n as f64
                * event_log_density(DistKind::NegBinomial, &[k as f64], &[&[mu], &[phi]])
                    .unwrap()
                    .exp();
            if e >= 5.0 {
                chi += (counts[k] - e).powi(2) / e;
                df += 1;
            }
        }
        println!(
            "seed {seed}: mean {} chi2 {chi:.1} bins {df}",
            mean / n as f64
        );
    }
}
