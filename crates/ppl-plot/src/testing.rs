//! Helpers for the unit tests: synthetic chains with known divergences, a scratch directory, and
//! checks that a written picture is a real PNG or SVG of the asked size.

use std::path::{Path, PathBuf};

use crate::{Chain, RunOutput};

/// A fixed stream of standard normal draws (Box–Muller on a 64-bit LCG), so tests need no random
/// number crate and always see the same numbers.
pub fn normal_draws(seed: u64, count: usize) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

/// Four chains of 400 draws of `mu`, `tau`, `theta[1]`, `theta[2]` after the seven sampler
/// columns; a draw is marked divergent exactly when its `tau` is below 0.5. Chain 4 sits a little
/// apart, as an unconverged chain would.
pub fn synthetic_run() -> RunOutput {
    let draws = 400;
    let mut columns: Vec<String> = ppl_planner::draws::SAMPLER_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .collect();
    columns.extend(["mu", "tau", "theta[1]", "theta[2]"].map(String::from));
    let chains = (0..4u64)
        .map(|chain| {
            let noise = normal_draws(chain + 1, 4 * draws);
            let shift = if chain == 3 { 1.0 } else { 0.0 };
            let mut mu = Vec::with_capacity(draws);
            let mut state = 0.0;
            for e in &noise[..draws] {
                state = 0.7 * state + 0.71 * e;
                mu.push(state + shift);
            }
            let tau: Vec<f64> = noise[draws..2 * draws]
                .iter()
                .map(|e| (0.6 * e).exp())
                .collect();
            let theta = |offset: usize| -> Vec<f64> {
                noise[offset * draws..(offset + 1) * draws]
                    .iter()
                    .zip(&mu)
                    .zip(&tau)
                    .map(|((e, m), t)| m + t * e)
                    .collect()
            };
            let divergent: Vec<f64> = tau
                .iter()
                .map(|&t| if t < 0.5 { 1.0 } else { 0.0 })
                .collect();
            let mut values = vec![vec![0.0; draws]; 7];
            values[0] = mu.iter().map(|m| -0.5 * m * m).collect();
            values[5] = divergent;
            values.extend([mu.clone(), tau.clone(), theta(2), theta(3)]);
            Chain {
                label: format!("chain {}", chain + 1),
                values,
            }
        })
        .collect();
    RunOutput {
        path: PathBuf::from("synthetic"),
        columns,
        chains,
        method: Some("nuts".into()),
        objective: Vec::new(),
    }
}

/// A fresh directory under the system's temporary directory, one per test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ppl-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The file is a PNG (signature, then an IHDR chunk) of this width and height, and of a size a
/// picture with text and lines has (neither empty nor raw pixels).
pub fn check_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let read =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert_eq!((read(16), read(20)), (width, height), "{}", path.display());
    let raw = (width * height * 3) as usize;
    assert!(
        bytes.len() > 5_000 && bytes.len() < raw / 2,
        "{} bytes",
        bytes.len()
    );
}

/// The file is an SVG of this size that holds each of `texts`.
pub fn check_svg(path: &Path, width: u32, height: u32, texts: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(80)]);
    assert!(text.contains(&format!("width=\"{width}\"")));
    assert!(text.contains(&format!("height=\"{height}\"")));
    for wanted in texts {
        assert!(text.contains(wanted), "no `{wanted}` in {}", path.display());
    }
}
