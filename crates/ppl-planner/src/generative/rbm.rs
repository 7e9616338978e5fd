//! The RBM's `generator.json` (written by the CD driver) and `sample_rbm`, which runs block-Gibbs
//! chains from uniformly random visible states for `ppl sample`.
//!
//! The file: `{"kind": "rbm", "visible": D, "hidden": H, "columns": [...], "image": [r, c] |
//! null, "weights": [D·H, row-major, visible i × hidden j], "visible_bias": [D],
//! "hidden_bias": [H], "sweeps": S}`, the parameters in the engine's orientation (energy
//! −(vWh + v·b + h·c)).

use ppl_infer::energy::Rbm;
use ppl_syntax::codes;
use serde_json::{Value, json};

use super::GeneratedSamples;
use crate::error::{FailureKind, FitError};

/// Gibbs sweeps per chain before its state is reported: far beyond the few hundred after which
/// the mean image of a digits RBM's chains stops changing.
pub const SWEEPS: usize = 1000;

/// The saved form of a trained RBM.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRbm {
    pub rbm: Rbm,
    pub columns: Vec<String>,
    pub image: Option<(usize, usize)>,
}

impl SavedRbm {
    pub fn to_json(&self) -> Value {
        json!({
            "kind": "rbm",
            "visible": self.rbm.visible,
            "hidden": self.rbm.hidden,
            "columns": self.columns,
            "image": self.image.map(|(r, c)| vec![r, c]),
            "weights": self.rbm.weights,
            "visible_bias": self.rbm.visible_bias,
            "hidden_bias": self.rbm.hidden_bias,
            "sweeps": SWEEPS,
        })
    }

    pub fn from_json(saved: &Value) -> Result<SavedRbm, FitError> {
        let bad = |what: &str| {
            FitError::message(
                codes::BAD_SETTING,
                format!("generator.json is not a saved RBM: {what}"),
                FailureKind::Usage,
            )
        };
        if saved["kind"].as_str() != Some("rbm") {
            return Err(bad("its `kind` is not \"rbm\""));
        }
        let size = |key: &str| {
            saved[key]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0 && n <= 1 << 20)
                .ok_or_else(|| bad(&format!("`{key}` is not a positive size")))
        };
        let numbers = |key: &str, len: usize| -> Result<Vec<f64>, FitError> {
            let values: Option<Vec<f64>> = saved[key]
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .unwrap_or(None);
            match values {
                Some(v) if v.len() == len && v.iter().all(|x| x.is_finite()) => Ok(v),
                _ => Err(bad(&format!("`{key}` is not {len} finite numbers"))),
            }
        };
        let visible = size("visible")?;
        let hidden = size("hidden")?;
        let weights = numbers("weights", visible.saturating_mul(hidden))?;
        let visible_bias = numbers("visible_bias", visible)?;
        let hidden_bias = numbers("hidden_bias", hidden)?;
        let columns = match saved["columns"].as_array() {
            Some(names) if names.len() == visible => names
                .iter()
                .map(|n| n.as_str().map(String::from))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("`columns` are not names"))?,
            _ => (1..=visible).map(|i| format!("v.{i}")).collect(),
        };
        let image = saved["image"]
            .as_array()
            .and_then(|shape| match shape.as_slice() {
                [r, c] => {
                    let (r, c) = (r.as_u64()? as usize, c.as_u64()? as usize);
                    (r.checked_mul(c)? == visible).then_some((r, c))
                }
                _ => None,
            });
        Ok(SavedRbm {
            rbm: Rbm {
                visible,
                hidden,
                weights,
                visible_bias,
                hidden_bias,
            },
            columns,
            image,
        })
    }
}

/// The image shape of `visible` units, when they are a square picture of at least 4 × 4 (the
/// data columns carry no shape; the 8 × 8 digits are the case this serves).
pub fn square_image(visible: usize) -> Option<(usize, usize)> {
    let side = (visible as f64).sqrt().round() as usize;
    (side >= 4 && side * side == visible).then_some((side, side))
}

/// `n` samples from a saved RBM: each row is p(v = 1 | h) at the end of an independent chain
/// of [`SWEEPS`] block-Gibbs sweeps from a uniformly random start (the chain's final hidden
/// state shown as pixel probabilities).
pub fn sample_rbm(saved: &Value, n: usize, seed: u64) -> Result<GeneratedSamples, FitError> {
    let saved = SavedRbm::from_json(saved)?;
    let values = saved.rbm.sample_visible_probabilities(n, SWEEPS, seed);
    Ok(GeneratedSamples {
        columns: saved.columns,
        rows: values
            .chunks_exact(saved.rbm.visible)
            .map(<[f64]>::to_vec)
            .collect(),
        image: saved.image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_rbms_round_trip_and_bad_files_are_errors() {
        let saved = SavedRbm {
            rbm: Rbm {
                visible: 16,
                hidden: 2,
                weights: (0..32).map(|i| f64::from(i) / 10.0 - 1.5).collect(),
                visible_bias: vec![0.5; 16],
                hidden_bias: vec![-0.5, 0.25],
            },
            columns: (1..=16).map(|i| format!("x.{i}")).collect(),
            image: square_image(16),
        };
        let json = saved.to_json();
        assert_eq!(SavedRbm::from_json(&json).expect("reads back"), saved);
        let samples = sample_rbm(&json, 3, 7).expect("samples");
        assert_eq!(samples.rows.len(), 3);
        assert_eq!(samples.image, Some((4, 4)));
        assert!(
            samples
                .rows
                .iter()
                .flatten()
                .all(|p| (0.0..=1.0).contains(p))
        );
        let mut broken = json.clone();
        broken["weights"] = json!([1.0, 2.0]);
        assert!(sample_rbm(&broken, 3, 7).is_err());
        assert!(sample_rbm(&json!({"kind": "vae"}), 3, 7).is_err());
    }
}
