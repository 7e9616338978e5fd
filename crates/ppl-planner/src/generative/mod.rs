//! What the generative engines (VAE, RBM, GAN) save after training and how `ppl sample DIR`
//! draws from it: each engine writes `DIR/generator.json` (`{"kind": "vae" | "rbm" | "gan", ...}`)
//! and provides a `sample_<kind>` function here that turns it into [`GeneratedSamples`].

pub mod gan;
pub mod rbm;
pub mod vae;

use std::path::Path;

use ppl_syntax::codes;

use crate::error::{FailureKind, FitError};

/// The file a generative run saves its trained model in, inside the output directory.
pub const GENERATOR_FILE: &str = "generator.json";

/// New data drawn from a trained generative model: one row per draw, in the data's columns.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedSamples {
    /// The data's column names (`x.1`, `x.2`, ...).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    /// `(height, width)` when a row is an image (row-major pixels), for the picture.
    pub image: Option<(usize, usize)>,
}

/// Reads `DIR/generator.json`.
pub fn read_generator(dir: &Path) -> Result<serde_json::Value, FitError> {
    let path = dir.join(GENERATOR_FILE);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        malformed(format!(
            "cannot read `{}`: {error} (only a generative run — `--method vae`, `cd` or `gan` — saves one)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|error| malformed(format!("`{}` is not valid JSON: {error}", path.display())))
}

/// The `kind` field of a saved generator.
pub fn kind(saved: &serde_json::Value) -> Option<&str> {
    saved.get("kind").and_then(|k| k.as_str())
}

pub(crate) fn malformed(message: impl Into<String>) -> FitError {
    FitError::message(codes::GENERATOR_MALFORMED, message, FailureKind::Usage)
}

/// The image shape of rows of `width` values: a square of at least 4 × 4 (8 × 8 digits).
pub fn square_image(width: usize) -> Option<(usize, usize)> {
    let side = (width as f64).sqrt().round() as usize;
    (side >= 4 && side * side == width).then_some((side, side))
}
