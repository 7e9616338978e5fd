//! A trained GAN's `generator.json` and new samples from it.
//!
//! The file holds both nets (sizes, hidden activation and its leaky slope if any, flat `f32`
//! parameters in `ppl_nn::Mlp`'s layout), the noise width, the data's column names and up to
//! [`OVERLAY_ROWS`] evenly spaced data rows for drawing samples over the data:
//! `{"kind": "gan", "noise": 8, "columns": ["x.1", "x.2"], "image": null, "generator":
//! {"sizes": [...], "activation": "relu", "parameters": [...]}, "critic": {...}, "data":
//! [[...], ...]}`. Sampling needs only the generator; the critic is kept so that training can
//! be inspected.

use ppl_infer::adversarial;
use ppl_nn::{Activation, Mlp};
use ppl_syntax::codes;
use rand::SeedableRng;
use serde_json::{Value, json};

use super::GeneratedSamples;
use crate::error::{FailureKind, FitError};

/// At most this many data rows are kept in the file, to draw samples over.
pub const OVERLAY_ROWS: usize = 2000;

/// The JSON of a trained GAN; `data` is the training data, row-major with a row per
/// `columns.len()` values.
pub fn saved_json(
    generator: &Mlp<f32>,
    critic: &Mlp<f32>,
    columns: &[String],
    data: &[f64],
) -> Value {
    let width = columns.len().max(1);
    let rows = data.len() / width;
    let stride = rows.div_ceil(OVERLAY_ROWS).max(1);
    let overlay: Vec<&[f64]> = data.chunks_exact(width).step_by(stride).collect();
    json!({
        "kind": "gan",
        "noise": generator.input_size(),
        "columns": columns,
        "image": Value::Null,
        "generator": net_json(generator),
        "critic": net_json(critic),
        "data": overlay,
    })
}

fn net_json(net: &Mlp<f32>) -> Value {
    json!({
        "sizes": net.sizes(),
        "activation": net.activation().name(),
        // Only a slope given in the model is written: a bare `leaky_relu` keeps its default.
        "slope": match net.activation() {
            Activation::LeakyReluSlope(slope) => Some(slope),
            _ => None,
        },
        "parameters": net.parameters(),
    })
}

/// The data rows saved with the generator (to draw samples over them); empty if there are none.
pub fn saved_data(saved: &Value) -> Vec<Vec<f64>> {
    saved
        .get("data")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    row.as_array()
                        .map(|values| values.iter().filter_map(Value::as_f64).collect())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `n` new samples from the generator saved in `saved`, from noise drawn with `seed`.
pub fn sample_gan(saved: &Value, n: usize, seed: u64) -> Result<GeneratedSamples, FitError> {
    if saved.get("kind").and_then(Value::as_str) != Some("gan") {
        return Err(malformed("its `kind` is not \"gan\""));
    }
    let generator = read_net(saved.get("generator"), "generator")?;
    let columns: Vec<String> = saved
        .get("columns")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if columns.len() != generator.output_size() {
        return Err(malformed(&format!(
            "it names {} columns for a generator of {} outputs",
            columns.len(),
            generator.output_size()
        )));
    }
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let output = adversarial::generate(&generator, n, &mut rng)
        .map_err(|error| malformed(&error.to_string()))?;
    let rows = (0..n)
        .map(|row| {
            (0..output.ncols())
                .map(|column| f64::from(output[(row, column)]))
                .collect()
        })
        .collect();
    Ok(GeneratedSamples {
        columns,
        rows,
        image: None,
    })
}

fn read_net(value: Option<&Value>, which: &str) -> Result<Mlp<f32>, FitError> {
    let value = value.ok_or_else(|| malformed(&format!("it has no `{which}`")))?;
    let sizes: Option<Vec<usize>> = value
        .get("sizes")
        .and_then(Value::as_array)
        .map(|sizes| {
            sizes
                .iter()
                .map(|s| s.as_u64().and_then(|s| usize::try_from(s).ok()))
                .collect()
        })
        .unwrap_or(None);
    let sizes = sizes.ok_or_else(|| malformed(&format!("the {which}'s `sizes` are not sizes")))?;
    let activation = value
        .get("activation")
        .and_then(Value::as_str)
        .and_then(Activation::from_name)
        .ok_or_else(|| malformed(&format!("the {which}'s `activation` is not one ppl knows")))?;
    let activation = match (activation, value.get("slope").and_then(Value::as_f64)) {
        (Activation::LeakyRelu, Some(slope)) => Activation::LeakyReluSlope(slope),
        (activation, _) => activation,
    };
    let parameters: Option<Vec<f32>> = value
        .get("parameters")
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .map(|v| v.as_f64().map(|v| v as f32))
                .collect()
        })
        .unwrap_or(None);
    let parameters = parameters
        .ok_or_else(|| malformed(&format!("the {which}'s `parameters` are not numbers")))?;
    Mlp::from_parameters(&sizes, activation, parameters)
        .map_err(|error| malformed(&format!("the {which}: {error}")))
}

fn malformed(why: &str) -> FitError {
    FitError::message(
        codes::GENERATOR_MALFORMED,
        format!("this generator.json is not a trained GAN: {why}"),
        FailureKind::ModelOrData,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> (Mlp<f32>, Mlp<f32>) {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(2);
        (
            Mlp::new(&[3, 5, 2], Activation::Relu, &mut rng).unwrap(),
            Mlp::new(&[2, 5, 1], Activation::LeakyRelu, &mut rng).unwrap(),
        )
    }

    #[test]
    fn saved_nets_read_back_exactly_and_sample() {
        let (generator, critic) = nets();
        let columns = vec!["x.1".to_string(), "x.2".to_string()];
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let saved = saved_json(&generator, &critic, &columns, &data);
        assert_eq!(
            saved_data(&saved),
            vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]
        );
        // Through text, as `ppl sample` reads it.
        let text = serde_json::to_string(&saved).unwrap();
        let reread: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            read_net(reread.get("generator"), "generator").unwrap(),
            generator
        );
        assert_eq!(read_net(reread.get("critic"), "critic").unwrap(), critic);
        let samples = sample_gan(&reread, 5, 7).unwrap();
        assert_eq!(samples.columns, columns);
        assert_eq!(samples.rows.len(), 5);
        // The same seed gives the rows the generator makes from the same noise.
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        let expected = adversarial::generate(&generator, 5, &mut rng).unwrap();
        assert_eq!(samples.rows[4][1], f64::from(expected[(4, 1)]));
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let (generator, critic) = nets();
        let columns = vec!["x.1".to_string(), "x.2".to_string()];
        let mut saved = saved_json(&generator, &critic, &columns, &[]);
        saved["generator"]["sizes"] = json!([3, 5, 3]);
        let error = sample_gan(&saved, 2, 1).unwrap_err();
        assert_eq!(error.diagnostics[0].code, codes::GENERATOR_MALFORMED);
        for damaged in [json!({"kind": "vae"}), json!({"kind": "gan"}), json!(3)] {
            assert!(sample_gan(&damaged, 2, 1).is_err());
        }
    }
}
