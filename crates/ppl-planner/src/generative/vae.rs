//! The VAE's saved form (`generator.json`, `"kind": "vae"`): both nets' sizes, activations and
//! weights, the likelihood, the data's column names, and a few rows for reconstructions; and
//! drawing from it: new rows decoded from the prior, and reconstructions of held-out rows.

use nalgebra::DMatrix;
use ppl_infer::vae::{VaeFit, VaeLikelihood};
use ppl_model::generative::vae::VaeSpec;
use ppl_nn::{Activation, Mlp};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{GeneratedSamples, malformed, square_image};
use crate::error::FitError;

/// How many rows the saved file keeps for reconstructions.
pub const RECONSTRUCTION_ROWS: usize = 32;

/// One saved net.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedNet {
    pub sizes: Vec<usize>,
    pub activation: String,
    /// Weights and biases in `ppl_nn::Mlp`'s layout.
    pub parameters: Vec<f32>,
}

/// `generator.json` of a VAE run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedVae {
    /// Always `"vae"`.
    pub kind: String,
    pub columns: Vec<String>,
    pub image: Option<(usize, usize)>,
    pub latent: usize,
    /// `"bernoulli_logit"` or `"normal"`.
    pub likelihood: String,
    /// The Normal likelihood's sd.
    pub sigma: Option<f64>,
    /// `c` in the guide's scale `exp(c · h[.., L+1:2L])`.
    pub log_scale_factor: f64,
    pub encoder: SavedNet,
    pub decoder: SavedNet,
    /// Up to [`RECONSTRUCTION_ROWS`] rows to reconstruct: held-out rows when there are some.
    pub reconstruct: Vec<Vec<f64>>,
}

impl SavedVae {
    /// What a fit saves.
    pub fn new(spec: &VaeSpec, fit: &VaeFit, holdout: usize) -> SavedVae {
        let net = |mlp: &Mlp<f32>| SavedNet {
            sizes: mlp.sizes().to_vec(),
            activation: mlp.activation().name().to_string(),
            parameters: mlp.parameters().to_vec(),
        };
        let first = if holdout > 0 { spec.rows - holdout } else { 0 };
        let reconstruct = (first..spec.rows)
            .take(RECONSTRUCTION_ROWS)
            .map(|row| spec.values[row * spec.width..(row + 1) * spec.width].to_vec())
            .collect();
        let (likelihood, sigma) = match spec.likelihood {
            VaeLikelihood::BernoulliLogit => ("bernoulli_logit", None),
            VaeLikelihood::Normal { sigma } => ("normal", Some(sigma)),
            VaeLikelihood::LearnedNormal { .. } => ("normal", fit.sigma),
        };
        SavedVae {
            kind: "vae".into(),
            columns: (1..=spec.width)
                .map(|j| format!("{}.{j}", spec.data_name))
                .collect(),
            image: square_image(spec.width),
            latent: spec.latent,
            likelihood: likelihood.into(),
            sigma,
            log_scale_factor: spec.log_scale_factor,
            encoder: net(&fit.encoder),
            decoder: net(&fit.decoder),
            reconstruct,
        }
    }

    /// Reads and checks a saved VAE.
    pub fn from_json(saved: &serde_json::Value) -> Result<SavedVae, FitError> {
        let vae: SavedVae = serde_json::from_value(saved.clone()).map_err(|error| {
            malformed(format!("generator.json does not describe a VAE: {error}"))
        })?;
        if vae.kind != "vae" {
            return Err(malformed(format!(
                "generator.json is of kind `{}`, not `vae`",
                vae.kind
            )));
        }
        Ok(vae)
    }

    fn nets(&self) -> Result<(Mlp<f32>, Mlp<f32>), FitError> {
        let build = |net: &SavedNet, what: &str| {
            let activation = Activation::from_name(&net.activation).ok_or_else(|| {
                malformed(format!(
                    "the {what}'s activation `{}` is unknown",
                    net.activation
                ))
            })?;
            Mlp::from_parameters(&net.sizes, activation, net.parameters.clone())
                .map_err(|error| malformed(format!("the saved {what}: {error}")))
        };
        let encoder = build(&self.encoder, "encoder")?;
        let decoder = build(&self.decoder, "decoder")?;
        let width = self.columns.len();
        if encoder.input_size() != width
            || encoder.output_size() != 2 * self.latent
            || decoder.input_size() != self.latent
            || decoder.output_size() != width
            || self.reconstruct.iter().any(|row| row.len() != width)
        {
            return Err(malformed(
                "the saved nets do not fit the saved columns and latent size",
            ));
        }
        Ok((encoder, decoder))
    }

    /// The likelihood's mean for decoder outputs: probabilities for Bernoulli, means for Normal.
    fn mean_rows(&self, decoded: &DMatrix<f32>) -> Vec<Vec<f64>> {
        let bernoulli = self.likelihood == "bernoulli_logit";
        decoded
            .row_iter()
            .map(|row| {
                row.iter()
                    .map(|&v| {
                        let v = f64::from(v);
                        if bernoulli {
                            1.0 / (1.0 + (-v).exp())
                        } else {
                            v
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn samples(&self, rows: Vec<Vec<f64>>) -> GeneratedSamples {
        GeneratedSamples {
            columns: self.columns.clone(),
            rows,
            image: self.image,
        }
    }
}

/// `n` new rows: `z ~ N(0, I)` decoded to the likelihood's mean (pixel probabilities for a
/// Bernoulli VAE), the usual picture of what a VAE has learned.
pub fn sample_vae(
    saved: &serde_json::Value,
    n: usize,
    seed: u64,
) -> Result<GeneratedSamples, FitError> {
    let vae = SavedVae::from_json(saved)?;
    let (_, decoder) = vae.nets()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z = DMatrix::from_fn(n, vae.latent, |_, _| {
        let e: f64 = StandardNormal.sample(&mut rng);
        e as f32
    });
    let decoded = decoder
        .forward(&z)
        .map_err(|error| malformed(format!("the saved decoder: {error}")))?;
    Ok(vae.samples(vae.mean_rows(decoded.output())))
}

/// The saved rows and their reconstructions: each row encoded to its guide mean and decoded to
/// the likelihood's mean.
pub fn reconstruct_vae(
    saved: &serde_json::Value,
) -> Result<(GeneratedSamples, GeneratedSamples), FitError> {
    let vae = SavedVae::from_json(saved)?;
    let (encoder, decoder) = vae.nets()?;
    let width = vae.columns.len();
    let rows = vae.reconstruct.len();
    let input = DMatrix::from_fn(rows, width, |i, j| vae.reconstruct[i][j] as f32);
    let fail = |error: ppl_nn::NnError| malformed(format!("the saved nets: {error}"));
    let encoded = encoder.forward(&input).map_err(fail)?;
    let means = encoded.output().columns(0, vae.latent).into_owned();
    let decoded = decoder.forward(&means).map_err(fail)?;
    Ok((
        vae.samples(vae.reconstruct.clone()),
        vae.samples(vae.mean_rows(decoded.output())),
    ))
}
