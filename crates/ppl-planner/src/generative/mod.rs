//! Trained generative models saved in a run's output directory as `generator.json` (serde JSON
//! tagged by `"kind"`) and new samples drawn from them for `ppl sample`.

pub mod gan;

/// New samples from a trained generative model, with the data's column names, and the image
/// shape when a row is a picture.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedSamples {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    pub image: Option<(usize, usize)>,
}
